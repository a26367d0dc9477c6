"""Incoming calls through the SIP API: incomingcall with the caller's offer,
accept with the application's answer (passed through), decline, a second
call while busy (486 + missed_call), in-dialog MESSAGE, DTMF by INFO, hold
as a re-INVITE with the direction changed, the caller's BYE; and the
requests that need a call refused without one."""
import threading

import chatsip
import sbtest
from sbtest import bounded

ANSWER = ("v=0\r\no=carol 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
          "t=0 0\r\nm=audio 31000 RTP/AVP 0\r\na=sendrecv\r\n")


class CallerUA(chatsip.UA):
    """The caller, answering re-INVITEs (our hold, update) 200 with an SDP:
    chatsip's UA answers INVITEs 501, after which the daemon's sofia was
    seen to end the dialog under load (noted in the closing note)."""

    def _decide(self, msg):
        if msg.method == "INVITE":
            return 200
        return super()._decide(msg)

    def response_for(self, req, status, reason=None, extra=""):
        raw = super().response_for(req, status, reason, extra)
        if req.method != "INVITE" or status != 200:
            return raw
        body = chatsip.PLAIN_SDP if isinstance(chatsip.PLAIN_SDP, bytes) \
            else chatsip.PLAIN_SDP.encode()
        head = raw.decode().replace("Content-Length: 0\r\n\r\n", "")
        head += "Contact: <sip:%s@127.0.0.1:%d>\r\n" % (self.user, self.port)
        head += "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n" % len(body)
        return head.encode() + body


event = sbtest.handle_event


class Incoming(sbtest.DaemonCase):
    EXTRA = sbtest.API_TRUNK_CONF

    def setUp(self):
        self.c = self.d.client()
        self.addCleanup(self.c.close)
        self.h = self.c.request({"request": "create"})["data"]["handle_id"]
        self.user = "carol%d" % self.h
        r = self.c.request({"request": "register", "handle_id": self.h, "type": "guest",
                            "username": "sip:%s@example.com" % self.user})
        self.assertEqual(r["response"], "success", r)

    def ua(self):
        ua = CallerUA(self.d.port, user="alice", display="Alice A")
        self.addCleanup(ua.close)
        return ua

    def invite(self, ua):
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("r", ua.invite(self.user)))
        t.start()
        self.addCleanup(t.join, bounded(15))
        return t, out

    def test_accept_message_dtmf_hold_and_remote_bye(self):
        c, h = self.c, self.h
        ua = self.ua()
        t, out = self.invite(ua)
        ev = event(c, h, "incomingcall")
        res = ev["result"]
        self.assertEqual(res["displayname"], "Alice A", ev)
        self.assertIn("sip:alice@127.0.0.1", res["username"])
        self.assertEqual(res["callee"], "sip:%s@example.com" % self.user)
        self.assertEqual(ev["jsep"]["type"], "offer")
        self.assertEqual(ev["call_id"], res["call_id"])
        call_id = ev["call_id"]
        r = c.request({"request": "accept", "handle_id": h,
                       "jsep": {"type": "answer", "sdp": ANSWER}})
        self.assertEqual(r["data"]["result"], {"event": "accepted"}, r)
        t.join(bounded(10))
        self.assertEqual(out["r"].status, 200)
        self.assertIn(b"m=audio 31000 RTP/AVP 0", out["r"].body)   # untouched
        # The caller's MESSAGE in the dialog: an event with the call's Call-ID.
        r = ua.message("hi in call")
        self.assertEqual(r.status, 200)
        ev = event(c, h, "message")
        self.assertEqual((ev["result"]["content"], ev["call_id"]), ("hi in call", call_id))
        # DTMF by INFO application/dtmf-relay.
        r = c.request({"request": "dtmf_info", "handle_id": h, "digit": "5", "duration": 200})
        self.assertEqual(r["data"]["result"], {"event": "dtmfsent"}, r)
        info = ua.wait_requests(1, "INFO")[0]
        self.assertEqual(info.hdr("content-type"), "application/dtmf-relay")
        self.assertEqual(info.body, b"Signal=5\r\nDuration=200\r\n")
        # Hold: a re-INVITE with our SDP set to sendonly and a new o= version.
        r = c.request({"request": "hold", "handle_id": h})
        self.assertEqual(r["data"]["result"], {"event": "holding"}, r)
        reinv = ua.wait_requests(1, "INVITE")[0]
        self.assertIn(b"a=sendonly", reinv.body)
        self.assertNotIn(b"a=sendrecv", reinv.body)
        self.assertIn(b"o=carol 7 8 IN IP4", reinv.body)
        ua.wait_requests(1, "ACK")      # the hold is complete (see below)
        # The caller hangs up: hangup event.
        self.assertEqual(ua.bye().status, 200)
        ev = event(c, h, "hangup")
        self.assertEqual((ev["call_id"], ev["result"]["code"]), (call_id, 200), ev)
        self.assertEqual(c.request({"request": "hangup", "handle_id": h})["error_code"], 447)

    def test_reinvite_answered_by_the_application_and_update(self):
        c, h = self.c, self.h
        ua = self.ua()
        t, out = self.invite(ua)
        event(c, h, "incomingcall")
        r = c.request({"request": "accept", "handle_id": h, "autoaccept_reinvites": False,
                       "jsep": {"type": "answer", "sdp": ANSWER}})
        self.assertEqual(r["data"]["result"], {"event": "accepted"}, r)
        t.join(bounded(10))
        # The caller's re-INVITE: updatingcall with its offer; the
        # application's update answers it.
        res = {}
        t2 = threading.Thread(target=lambda: res.setdefault(
            "r", ua.reinvite(chatsip.PLAIN_SDP.replace(b"o=", b"o=") if isinstance(
                chatsip.PLAIN_SDP, bytes) else chatsip.PLAIN_SDP)))
        t2.start()
        ev = event(c, h, "updatingcall")
        self.assertEqual(ev["jsep"]["type"], "offer")
        new_answer = ANSWER.replace("31000", "31002").replace(" 7 7 ", " 7 8 ")
        r = c.request({"request": "update", "handle_id": h,
                       "jsep": {"type": "answer", "sdp": new_answer}})
        self.assertEqual(r["data"]["result"], {"event": "updated"}, r)
        t2.join(bounded(10))
        self.assertEqual(res["r"].status, 200)
        self.assertIn(b"m=audio 31002", res["r"].body)
        self.assertEqual(c.request({"request": "update", "handle_id": h})["error_code"], 448)
        # The application's own new offer: a re-INVITE carrying it.
        offer = ANSWER.replace("31000", "31004").replace(" 7 7 ", " 7 9 ")
        r = c.request({"request": "update", "handle_id": h,
                       "jsep": {"type": "offer", "sdp": offer}})
        self.assertEqual(r["data"]["result"], {"event": "updating"}, r)
        reinv = ua.wait_requests(1, "INVITE")[0]
        self.assertIn(b"m=audio 31004", reinv.body)
        # Its 200 (the caller's answer) comes back as accepted.  Only then
        # the BYE: a BYE crossing our re-INVITE makes sofia leak the
        # re-INVITE (found under ASan; noted).
        ev = event(c, h, "accepted")
        self.assertEqual(ev["jsep"]["type"], "answer")
        ua.bye()
        event(c, h, "hangup")

    def test_decline(self):
        c, h = self.c, self.h
        ua = self.ua()
        t, out = self.invite(ua)
        event(c, h, "incomingcall")
        self.assertEqual(c.request({"request": "hangup", "handle_id": h})["error_code"], 447)
        r = c.request({"request": "decline", "handle_id": h, "code": 486})
        self.assertEqual(r["data"]["result"]["event"], "declining", r)
        self.assertEqual(r["data"]["result"]["code"], 486)
        t.join(bounded(10))
        self.assertEqual(out["r"].status, 486)
        ev = event(c, h, "hangup")
        self.assertEqual(ev["result"]["code"], 486, ev)

    def test_progress_then_accept_and_transfer_headers(self):
        """An INVITE that follows a transfer shows Referred-By and Replaces
        in incomingcall; progress sends 183 with the application's answer
        (early media), send_ringing another 180, and accept without a
        jsep repeats that answer in the 200."""
        c, h = self.c, self.h
        ua = self.ua()
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("r", ua.invite(
            self.user, extra=["Referred-By: <sip:tom@example.com>",
                              "Replaces: abc@host;to-tag=1;from-tag=2"])))
        t.start()
        self.addCleanup(t.join, bounded(15))
        res = event(c, h, "incomingcall")["result"]
        self.assertEqual((res["referred_by"], res["replaces"]),
                         ("<sip:tom@example.com>", "abc@host"), res)
        bad = c.request({"request": "progress", "handle_id": h,
                         "jsep": {"type": "answer", "sdp": "v=0\r\nm=audio x\r\n"}})
        self.assertEqual(bad["error_code"], 448, bad)
        r = c.request({"request": "progress", "handle_id": h,
                       "jsep": {"type": "answer", "sdp": ANSWER}})
        self.assertEqual(r["data"]["result"], {"event": "progressed"}, r)
        r = c.request({"request": "send_ringing", "handle_id": h})
        self.assertEqual(r["data"]["result"], {"event": "ringing_sent"}, r)
        self.assertEqual(c.request({"request": "reset", "handle_id": h})["error_code"], 447)
        r = c.request({"request": "accept", "handle_id": h})
        self.assertEqual(r["data"]["result"], {"event": "accepted"}, r)
        t.join(bounded(10))
        self.assertEqual(out["r"].status, 200)
        got = [(x.status, x.body) for x in ua.responses(ua.invite_branch)]
        self.assertIn((183, ANSWER.encode()), got)
        self.assertEqual([x for x, _ in got].count(180), 2, got)
        self.assertEqual(out["r"].body, ANSWER.encode())
        self.assertEqual(ua.bye().status, 200)
        event(c, h, "hangup")
        self.assertEqual(c.request({"request": "reset", "handle_id": h})["data"]["result"],
                         {"event": "reset"})

    def test_update_refresh_and_reoffer_answered(self):
        """A caller's UPDATE in the call (RFC 3311): without SDP a session
        refresh, 200; with a sendonly offer, 200 with our answer set to
        recvonly (RFC 3264 6.1); the call goes on and ends with its BYE."""
        c, h = self.c, self.h
        ua = self.ua()
        t, out = self.invite(ua)
        event(c, h, "incomingcall")
        c.request({"request": "accept", "handle_id": h,
                   "jsep": {"type": "answer", "sdp": ANSWER}})
        t.join(bounded(10))
        self.assertEqual(out["r"].status, 200)
        r = ua.in_dialog("UPDATE", extra=["Session-Expires: 90;refresher=uac"])
        self.assertEqual(r.status, 200, ua.trace())
        self.assertEqual(r.body, b"")
        offer = chatsip.PLAIN_SDP if isinstance(chatsip.PLAIN_SDP, bytes) \
            else chatsip.PLAIN_SDP.encode()
        offer = offer.replace(b"a=sendrecv\r\n", b"") + b"a=sendonly\r\n"
        r = ua.in_dialog("UPDATE", offer, "application/sdp")
        self.assertEqual(r.status, 200, ua.trace())
        self.assertIn(b"a=recvonly", r.body)
        self.assertIn(b"o=carol 7 8 IN IP4", r.body)
        self.assertEqual(ua.bye().status, 200)
        self.assertEqual(event(c, h, "hangup")["result"]["code"], 200)

    def test_missed_call_when_busy(self):
        c, h = self.c, self.h
        ua1 = self.ua()
        t1, out1 = self.invite(ua1)
        event(c, h, "incomingcall")
        ua2 = chatsip.UA(self.d.port, user="bob")
        self.addCleanup(ua2.close)
        r = ua2.invite(self.user)
        self.assertEqual(r.status, 486)
        ev = event(c, h, "missed_call")
        self.assertIn("sip:bob@127.0.0.1", ev["result"]["caller"])
        c.request({"request": "decline", "handle_id": h})
        t1.join(bounded(10))
        self.assertEqual(out1["r"].status, 603)       # Janus's default decline
        event(c, h, "hangup")

    def test_busy_master_offers_the_call_to_a_helper(self):
        c, h = self.c, self.h
        r = c.request({"request": "list_handles"})
        mid = [x for x in r["data"]["handles"] if x["handle_id"] == h][0]["master_id"]
        h2 = c.request({"request": "create"})["data"]["handle_id"]
        r = c.request({"request": "register", "handle_id": h2, "type": "helper",
                       "master_id": mid, "username": "sip:ignored@example.com"})
        self.assertEqual(r["data"]["result"]["event"], "registered", r)
        ua1 = self.ua()
        t1, out1 = self.invite(ua1)
        event(c, h, "incomingcall")
        c.request({"request": "accept", "handle_id": h,
                   "jsep": {"type": "answer", "sdp": ANSWER}})
        t1.join(bounded(10))
        self.assertEqual(out1["r"].status, 200)
        # The master is in a call: the second call goes to the helper, which
        # can take it: two simultaneous calls on one account.
        ua2 = chatsip.UA(self.d.port, user="bob")
        self.addCleanup(ua2.close)
        out2 = {}
        t2 = threading.Thread(target=lambda: out2.setdefault("r", ua2.invite(self.user)))
        t2.start()
        ev = event(c, h2, "incomingcall")
        self.assertEqual(ev["result"]["callee"], "sip:%s@example.com" % self.user)
        c.request({"request": "accept", "handle_id": h2,
                   "jsep": {"type": "answer", "sdp": ANSWER}})
        t2.join(bounded(10))
        self.assertEqual(out2["r"].status, 200)
        # A third caller finds both busy: 486 and missed_call on the master.
        ua3 = chatsip.UA(self.d.port, user="eve")
        self.addCleanup(ua3.close)
        self.assertEqual(ua3.invite(self.user).status, 486)
        event(c, h, "missed_call")
        for ua, hh in ((ua1, h), (ua2, h2)):
            ua.bye()
            event(c, hh, "hangup")

    def test_no_answer_timeout(self):
        c, h = self.c, self.h
        ua = self.ua()
        t, out = self.invite(ua)
        event(c, h, "incomingcall")
        ev = event(c, h, "hangup", timeout=6)           # no_answer_timeout=2
        self.assertEqual(ev["result"]["code"], 480, ev)
        t.join(bounded(10))
        self.assertEqual(out["r"].status, 480)

    def test_srtp_checks_on_accept(self):
        c, h = self.c, self.h
        ua = self.ua()
        t, out = self.invite(ua)                       # a plain RTP/AVP offer
        ev = event(c, h, "incomingcall")
        self.assertNotIn("srtp", ev["result"])
        base = {"request": "accept", "handle_id": h, "jsep": {"type": "answer", "sdp": ANSWER}}
        self.assertEqual(c.request(dict(base, srtp="sdes_please"))["error_code"], 444)
        self.assertEqual(c.request(dict(base, srtp="sdes_optional"))["error_code"], 444)
        savp = ANSWER.replace("RTP/AVP", "RTP/SAVP") + \
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
        self.assertEqual(c.request(dict(base, srtp="sdes_mandatory",
                                        jsep={"type": "answer", "sdp": savp}))["error_code"],
                         452)                          # the caller offered no SRTP
        c.request({"request": "decline", "handle_id": h})
        t.join(bounded(10))
        # The call is over once its ACK came: wait for it, so that the
        # daemon is not stopped with the 603 transaction still open.
        event(c, h, "hangup")

    def test_requests_without_a_call(self):
        c, h = self.c, self.h
        for req, code in (("accept", 447), ("decline", 447), ("hangup", 447),
                          ("hold", 447), ("unhold", 447), ("recording", 442),
                          ("rtp_forward", 442)):
            r = c.request({"request": req, "handle_id": h,
                           "jsep": {"type": "answer", "sdp": ANSWER}})
            self.assertEqual(r.get("error_code"), code, (req, r))
        # Media requests are refused with a reason; every Janus request name
        # is answered (none is an unknown request, none silently ignored).
        for req in ("recording", "keyframe", "rtp_forward", "stop_rtp_forward",
                    "listforwarders"):
            r = c.request({"request": req, "handle_id": h})
            self.assertEqual(r.get("error_code"), 442, r)
            self.assertIn("sipbridge does not handle media", r.get("error", ""), r)
        for req in ("call", "accept", "decline", "progress", "hold",
                    "unhold", "update", "hangup", "dtmf_info", "info", "message", "transfer",
                    "subscribe", "unsubscribe", "send_ringing", "reset"):
            r = c.request({"request": req, "handle_id": h})
            self.assertIn(r.get("response"), ("success", "error"), (req, r))
            self.assertNotIn("unknown request", r.get("error", "").lower(), (req, r))
        r = c.request({"request": "dtmf_info", "handle_id": h, "digit": "5"})
        self.assertEqual(r["error_code"], 447)
        r = c.request({"request": "dtmf_info", "handle_id": h, "digit": "55"})
        self.assertEqual(r["error_code"], 444)
        # An incoming call accepted without jsep: 448, and the handle goes on.
        ua = self.ua()
        t, out = self.invite(ua)
        event(c, h, "incomingcall")
        self.assertEqual(c.request({"request": "accept", "handle_id": h})["error_code"], 448)
        c.request({"request": "decline", "handle_id": h, "code": 200})
        t.join(bounded(10))
        self.assertEqual(out["r"].status, 486)        # <= 399 becomes 486
        event(c, h, "hangup")


if __name__ == "__main__":
    sbtest.main()
