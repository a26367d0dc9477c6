"""Outgoing calls of the SIP API (src/api/call.c) against sipp as the far
end: early media (180, 183 with SDP, 200), rejections (486, 603) on one
handle, CANCEL after 180, a 407 digest challenge, hold / unhold / update
re-INVITEs, DTMF by INFO both ways, and re-INVITEs from the far end
(answered by the daemon, or by the application with autoaccept_reinvites
false).  Each test checks the API events and what sipp saw on the wire:
sipp's own ereg/verifyauth checks (a failed check fails the sipp run) and
the -trace_msg file (chatsip.Sipp parses it).  The far ends are the
sipp/api_out_*.xml scenarios.  Everything on 127.0.0.1, free ports,
bounded waits.
"""
import hashlib
import re
import time

import chatsip
import sbtest
from chatsip import tag_of
from sbtest import Daemon


def sdp(version=1, port=30000, pt=0, extra=()):
    """The application's SDP (sipbridge passes it through untouched)."""
    codec = {0: "PCMU", 8: "PCMA"}[pt]
    lines = ["v=0", "o=alice 1 %d IN IP4 127.0.0.1" % version, "s=-",
             "c=IN IP4 127.0.0.1", "t=0 0", "m=audio %d RTP/AVP %d" % (port, pt),
             "a=rtpmap:%d %s/8000" % (pt, codec)] + list(extra)
    return "\r\n".join(lines) + "\r\n"


def far_sdp(sess, version, port, pt=0, extra=()):
    """An SDP as the sipp scenarios write it (CRLF after each line)."""
    codec = {0: "PCMU", 8: "PCMA"}[pt]
    lines = ["v=0", "o=bob %d %d IN IP4 127.0.0.1" % (sess, version), "s=-",
             "c=IN IP4 127.0.0.1", "t=0 0", "m=audio %d RTP/AVP %d" % (port, pt),
             "a=rtpmap:%d %s/8000" % (pt, codec)] + list(extra)
    return "\r\n".join(lines) + "\r\n"


OFFER = sdp()

DIRECTIONS = ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive")


def digest_params(value):
    """The parameters of a Digest credentials or challenge header."""
    return {k.lower(): v1 or v2 for k, v1, v2 in
            re.findall(r'([A-Za-z-]+)=(?:"([^"]*)"|([^\s,]+))', value)}


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def cseq_no(m):
    return int(m.hdr("cseq").split()[0])


def directions(body):
    return [l for l in chatsip.sdp_lines(body) if l in DIRECTIONS]


def origin_version(body):
    o = [l for l in chatsip.sdp_lines(body) if l.startswith("o=")]
    return int(o[0].split()[2])


class OutgoingCall(sbtest.unittest.TestCase):
    def setUp(self):
        # min_se=1 lets a far end ask for a 2 s session timer (test below).
        self.d = Daemon(global_extra="min_se=1\n")
        self.addCleanup(self.d.cleanup)
        self.c = self.d.client()
        self.addCleanup(self.c.close)
        r = self.c.request({"request": "create"})
        self.h = r["data"]["handle_id"]

    # ---- helpers ----

    def register(self, **extra):
        r = self.c.request(dict({"request": "register", "handle_id": self.h, "type": "guest",
                                 "username": "sip:alice@127.0.0.1"}, **extra))
        self.assertEqual(r["response"], "success", r)
        return r

    def uas(self, scenario, keys=None):
        """sipp running SCENARIO as the far end, once it listens."""
        p = chatsip.Sipp(self.d, scenario, keys=keys, timeout=20)
        self.addCleanup(self.stop, p)
        p.wait_listening()
        return p

    @staticmethod
    def stop(p):
        """Kill sipp if still running; reap it (its pipes closed) once."""
        if p.out is None:
            if p.proc.poll() is None:
                p.proc.kill()
            p.out, p.err = p.proc.communicate()

    def finished(self, p):
        self.assertEqual(p.wait(), 0, p.report())

    def request(self, req, event):
        """REQ for our handle, which must be answered with result event EVENT."""
        r = self.c.request(dict(req, handle_id=self.h))
        self.assertEqual(r.get("response"), "success", r)
        self.assertEqual(r["data"]["result"]["event"], event, r)
        return r

    def call(self, p, call_id, offer=OFFER, **extra):
        r = self.request(dict({"request": "call", "uri": "sip:bob@127.0.0.1:%d" % p.port,
                               "jsep": {"type": "offer", "sdp": offer},
                               "call_id": call_id}, **extra), "calling")
        self.assertEqual(r["data"]["result"], {"event": "calling", "call_id": call_id}, r)
        return r

    def events_until(self, name, timeout=10):
        """The SIP API events of our handle up to and including the first
        NAME: (names in order, {name: last event of that name})."""
        names, by = [], {}
        end = time.monotonic() + sbtest.bounded(timeout)
        while time.monotonic() < end:
            try:
                m = self.c.read_line()
            except TimeoutError:
                break
            if m is None:
                raise AssertionError("control connection closed after %s" % names)
            if m.get("sipbridge") != "event" or m.get("handle_id") != self.h:
                continue
            ev = (m.get("result") or {}).get("event")
            names.append(ev)
            by[ev] = m
            if ev == name:
                return names, by
            if ev == "hangup":
                raise AssertionError("hangup while waiting for %s: %s" % (name, m))
        raise AssertionError("no %s event; saw %s" % (name, names))

    def wait_trace(self, p, what, pred):
        return p.wait_for(pred, 10, what)

    def hangup(self, p, call_id):
        """hangup of an established call: hangingup, BYE, hangup event."""
        self.request({"request": "hangup"}, "hangingup")
        names, by = self.events_until("hangup")
        self.assertEqual(names, ["hangup"], by)
        ev = by["hangup"]
        self.assertEqual(ev.get("call_id"), call_id, ev)
        self.finished(p)
        byes = p.received("BYE")
        self.assertEqual(len(byes), 1, p.report())
        self.assertEqual(byes[0].hdr("call-id"), call_id)
        # In the dialog: our tags, a CSeq above the INVITE's.
        inv = p.received("INVITE")[0]
        self.assertEqual(tag_of(byes[0].hdr("from")), tag_of(inv.hdr("from")))
        self.assertIsNotNone(tag_of(byes[0].hdr("to")))
        self.assertGreater(cseq_no(byes[0]), cseq_no(inv))
        # Nothing usable any more.
        self.assertEqual(self.c.request({"request": "hangup", "handle_id": self.h})
                         .get("error_code"), 447)
        return ev

    def assert_acked(self, p, response_status, invite):
        """The ACK of INVITE's non-2xx final response: same branch and
        CSeq number (RFC 3261 17.1.1.3), To with the response's tag."""
        resp = [m for m in p.sent() if m.status == response_status]
        acks = p.received("ACK")
        self.assertEqual(len(acks), 1, p.report())
        ack = acks[0]
        self.assertEqual(ack.branch, invite.branch)
        self.assertEqual(cseq_no(ack), cseq_no(invite))
        self.assertEqual(ack.cseq_method, "ACK")
        self.assertEqual(ack.hdr("call-id"), invite.hdr("call-id"))
        self.assertEqual(tag_of(ack.hdr("to")), tag_of(resp[0].hdr("to")))

    # ---- tests ----

    def test_early_media_then_answer_then_hangup(self):
        """180, 183 with SDP, 200 (repeating that SDP): ringing, progress
        with the 183's SDP as the answer, accepted without jsep (Janus: the
        answer came with progress); hangup sends BYE."""
        self.register()
        p = self.uas("api_out_early_media.xml")
        self.call(p, "out-early-1")
        names, by = self.events_until("accepted")
        self.assertEqual(names, ["ringing", "progress", "accepted"], by)
        for n in names:
            self.assertEqual(by[n].get("call_id"), "out-early-1", by[n])
        self.assertNotIn("jsep", by["ringing"])
        answer = far_sdp(7, 1, 40004)
        self.assertEqual(by["progress"].get("jsep"), {"type": "answer", "sdp": answer},
                         by["progress"])
        accepted = by["accepted"]
        ev = self.hangup(p, "out-early-1")
        self.assertEqual(ev["result"]["code"], 200, ev)
        invs = p.received("INVITE")
        self.assertEqual(len(invs), 1, p.report())
        self.assertEqual(invs[0].body.decode(), OFFER)   # passed through untouched
        self.assertEqual(invs[0].hdr("content-type"), "application/sdp")
        acks = p.received("ACK")
        self.assertEqual(len(acks), 1, p.report())
        self.assertEqual(cseq_no(acks[0]), cseq_no(invs[0]))
        self.assertNotEqual(acks[0].branch, invs[0].branch)   # 2xx ACK: new transaction
        # Last, as the daemon does not do this yet: Janus sends the answer
        # once, with progress; accepted then carries no jsep.
        self.assertNotIn("jsep", accepted,
                         "accepted repeats the answer already given with progress: %s"
                         % accepted)

    def test_rejected_486_then_603_on_the_same_handle(self):
        """486 Busy Here, then a second call of the same handle 603
        Decline: hangup events with code and reason, each response ACKed."""
        self.register()
        for code, phrase, call_id in ((486, "Busy Here", "out-busy-1"),
                                      (603, "Decline", "out-decline-2")):
            p = self.uas("api_out_%d.xml" % code)
            self.call(p, call_id)
            names, by = self.events_until("hangup")
            self.assertEqual(names, ["hangup"], by)
            ev = by["hangup"]
            self.assertEqual(ev.get("call_id"), call_id, ev)
            self.assertEqual((ev["result"]["code"], ev["result"]["reason"]), (code, phrase), ev)
            self.finished(p)
            invs = p.received("INVITE")
            self.assertEqual(len(invs), 1, p.report())
            self.assertEqual(invs[0].hdr("call-id"), call_id)
            self.assert_acked(p, code, invs[0])
            # The call is over: nothing to hang up, the handle is idle.
            self.assertEqual(self.c.request({"request": "hangup", "handle_id": self.h})
                             .get("error_code"), 447)
        handles = self.c.request({"request": "list_handles"})["data"]["handles"]
        self.assertEqual([x["handle_id"] for x in handles], [self.h])

    def test_cancel_after_ringing(self):
        """hangup after 180: CANCEL (same branch and CSeq number as the
        INVITE), the 487 ACKed, a hangup event."""
        self.register()
        p = self.uas("api_out_cancel.xml")
        self.call(p, "out-cancel-1")
        names, by = self.events_until("ringing")
        self.assertEqual(names, ["ringing"], by)
        self.request({"request": "hangup"}, "hangingup")
        names, by = self.events_until("hangup")
        self.assertEqual(names, ["hangup"], by)
        ev = by["hangup"]
        self.assertEqual(ev.get("call_id"), "out-cancel-1", ev)
        # The final response to the INVITE is what ended the call.
        self.assertEqual((ev["result"]["code"], ev["result"]["reason"]),
                         (487, "Request Terminated"), ev)
        self.finished(p)
        inv, = p.received("INVITE")
        cancels = p.received("CANCEL")
        self.assertEqual(len(cancels), 1, p.report())
        cancel = cancels[0]
        self.assertEqual(cancel.uri, inv.uri)
        self.assertEqual(cancel.branch, inv.branch)
        self.assertEqual(cseq_no(cancel), cseq_no(inv))
        self.assertEqual(cancel.cseq_method, "CANCEL")
        self.assertEqual(cancel.hdr("call-id"), "out-cancel-1")
        self.assertEqual(tag_of(cancel.hdr("from")), tag_of(inv.hdr("from")))
        self.assertIsNone(tag_of(cancel.hdr("to")))
        self.assert_acked(p, 487, inv)
        self.assertEqual(self.c.request({"request": "hangup", "handle_id": self.h})
                         .get("error_code"), 447)

    def test_invite_challenged_407(self):
        """407 with Proxy-Authenticate: the INVITE is sent again with
        Proxy-Authorization from the call's own authuser and secret (as
        Janus's call takes them), then 200 → accepted."""
        self.register()
        p = self.uas("api_out_auth.xml")
        self.call(p, "out-auth-1", secret="s3cret", authuser="authalice")
        names, by = self.events_until("accepted")
        self.assertEqual(names, ["accepted"], by)
        self.assertEqual(by["accepted"].get("jsep"),
                         {"type": "answer", "sdp": far_sdp(3, 1, 40006)}, by["accepted"])
        self.hangup(p, "out-auth-1")
        invs = p.received("INVITE")
        self.assertEqual(len(invs), 2, p.report())
        first, second = invs
        self.assertIsNone(first.hdr("proxy-authorization"))
        # The 407 is ACKed in its transaction; the 200 in a new one.
        acks = p.received("ACK")
        self.assertEqual(len(acks), 2, p.report())
        self.assertEqual((acks[0].branch, cseq_no(acks[0])), (first.branch, cseq_no(first)))
        self.assertEqual(cseq_no(acks[1]), cseq_no(second))
        self.assertNotEqual(acks[1].branch, second.branch)
        auth = second.hdr("proxy-authorization")
        self.assertIsNotNone(auth, p.report())
        self.assertRegex(auth, r'^Digest ')
        self.assertIn('username="authalice"', auth)
        self.assertIn('realm="calls.test"', auth)
        # sipp's verifyauth reads only Authorization: the response is
        # checked here (RFC 2617 3.2.2, qop auth, password s3cret).
        chal = digest_params([m for m in p.sent() if m.status == 407][0]
                             .hdr("proxy-authenticate"))
        cred = digest_params(auth)
        self.assertEqual((cred["uri"], cred["nonce"], cred["qop"]),
                         (second.uri, chal["nonce"], "auth"), auth)
        ha1 = md5("authalice:calls.test:s3cret")
        ha2 = md5("INVITE:" + cred["uri"])
        self.assertEqual(cred["response"], md5(":".join(
            [ha1, cred["nonce"], cred["nc"], cred["cnonce"], "auth", ha2])), auth)
        self.assertEqual(second.hdr("call-id"), "out-auth-1")
        self.assertEqual(tag_of(second.hdr("from")), tag_of(first.hdr("from")))
        self.assertGreater(cseq_no(second), cseq_no(first))
        self.assertEqual(second.body, first.body)
        self.assertEqual(first.body.decode(), OFFER)

    def test_invite_challenge_nobody_can_answer(self):
        """A guest without a secret is challenged: the call ends with a
        hangup event carrying the 407 (nua would wait for credentials
        forever), and the handle can call again.  ha1_secret in call is
        refused: nua answers challenges from a password only."""
        self.register()
        r = self.c.request({"request": "call", "handle_id": self.h,
                            "uri": "sip:bob@127.0.0.1:9", "ha1_secret": "0" * 32,
                            "jsep": {"type": "offer", "sdp": OFFER}})
        self.assertEqual(r.get("error_code"), 444, r)
        p = self.uas("api_out_407_once.xml")
        self.call(p, "out-auth-2")
        names, by = self.events_until("hangup")
        self.assertEqual(names, ["hangup"], by)
        self.assertEqual((by["hangup"]["result"]["code"], by["hangup"]["call_id"]),
                         (407, "out-auth-2"), by["hangup"])
        self.finished(p)
        self.assertEqual(self.c.request({"request": "hangup", "handle_id": self.h})
                         .get("error_code"), 447)

    def test_failed_info_and_message_keep_the_call(self):
        """The far end refuses an in-dialog MESSAGE with 404 and an INFO
        with 604: each is reported (messagedelivery, infodelivery) and the
        call goes on (Debian's sofia-sip would end the dialog without a
        BYE; sip.c's override stops it): the next INFO gets 200 and the
        hangup is a BYE that gets 200."""
        self.register()
        p = self.uas("api_out_refused.xml")
        self.call(p, "out-refused-1")
        self.events_until("accepted")
        self.request({"request": "message", "content": "hello"}, "messagesent")
        names, by = self.events_until("messagedelivery")
        self.assertEqual(by["messagedelivery"]["result"]["code"], 404, by)
        self.request({"request": "info", "type": "text/plain", "content": "x"}, "infosent")
        names, by = self.events_until("infodelivery")
        self.assertEqual(by["infodelivery"]["result"]["code"], 604, by)
        self.request({"request": "dtmf_info", "digit": "1"}, "dtmfsent")
        self.hangup(p, "out-refused-1")
        self.assertEqual([m.status for m in p.sent() if m.status], [180, 200, 404, 604, 200, 200],
                         p.report())

    def test_session_timer_refreshes_the_call(self):
        """RFC 4028: the INVITE offers session timers; the far end asks for
        a 2 s session refreshed by us, and nua's refresh re-INVITE arrives
        in the dialog with the same SDP, answered 200, and is not reported
        (the next event is the hangup's)."""
        self.register()
        p = self.uas("api_out_session_timer.xml")
        self.call(p, "out-timer-1")
        self.events_until("accepted")
        self.wait_trace(p, "the refresh re-INVITE ACKed",
                        lambda s: len(s.received("INVITE")) >= 2 and len(s.received("ACK")) >= 2)
        first, refresh = p.received("INVITE")[:2]
        self.assertEqual(first.hdr("session-expires").split(";")[0].strip(), "1800")
        self.assertEqual(refresh.hdr("call-id"), "out-timer-1")
        self.assertIsNotNone(tag_of(refresh.hdr("to")))
        self.assertEqual(refresh.body, first.body)
        self.hangup(p, "out-timer-1")

    def test_hold_unhold_and_update(self):
        """hold (sendonly by default), unhold (sendrecv), hold inactive:
        re-INVITEs with our SDP's direction set and its o= version raised,
        not reported; update with a new offer: a re-INVITE with exactly
        that SDP, then accepted with the far end's answer."""
        self.register()
        offer = sdp(extra=["a=sendrecv"])
        p = self.uas("api_out_hold.xml")
        self.call(p, "out-hold-1", offer=offer)
        names, by = self.events_until("accepted")
        self.assertEqual(names, ["accepted"], by)
        steps = [({"request": "hold"}, "holding", "a=sendonly"),
                 ({"request": "unhold"}, "resuming", "a=sendrecv"),
                 ({"request": "hold", "direction": "inactive"}, "holding", "a=inactive")]
        for n, (req, reply, _) in enumerate(steps, start=2):
            self.request(req, reply)
            # The re-INVITE's transaction is over (ACKed) before the next.
            self.wait_trace(p, "re-INVITE %d ACKed" % n,
                            lambda s, n=n: len(s.received("ACK")) >= n)
        new_offer = sdp(version=9, port=30002, pt=8)
        self.request({"request": "update", "jsep": {"type": "offer", "sdp": new_offer}},
                     "updating")
        names, by = self.events_until("accepted")
        # The holds' 200s are not reported (Janus); update's is.
        self.assertEqual(names, ["accepted"], by)
        self.assertEqual(by["accepted"].get("jsep"),
                         {"type": "answer", "sdp": far_sdp(5, 5, 40010, pt=8)}, by["accepted"])
        self.assertEqual(by["accepted"].get("call_id"), "out-hold-1")
        self.hangup(p, "out-hold-1")
        invs = p.received("INVITE")
        self.assertEqual(len(invs), 5, p.report())
        self.assertEqual(invs[0].body.decode(), offer)
        for inv in invs[1:]:
            self.assertEqual(inv.hdr("call-id"), "out-hold-1")
            self.assertEqual(tag_of(inv.hdr("from")), tag_of(invs[0].hdr("from")))
            self.assertIsNotNone(tag_of(inv.hdr("to")))
        self.assertEqual([cseq_no(i) for i in invs], sorted(set(cseq_no(i) for i in invs)))
        for inv, (_, _, direction), version in zip(invs[1:4], steps, (2, 3, 4)):
            body = inv.body.decode()
            self.assertEqual(directions(body), [direction], body)
            self.assertEqual(origin_version(body), version, body)
            # Only the direction and the version change.
            self.assertEqual(body.replace(direction, "a=sendrecv")
                             .replace("o=alice 1 %d " % version, "o=alice 1 1 "), offer)
        self.assertEqual(invs[4].body.decode(), new_offer)
        self.assertEqual(len(p.received("ACK")), 5, p.report())

    def test_dtmf_info_both_ways(self):
        """dtmf_info → INFO application/dtmf-relay Signal=5 Duration=200;
        the far end's INFO application/dtmf-relay → an info event."""
        self.register()
        p = self.uas("api_out_dtmf.xml")
        self.call(p, "out-dtmf-1")
        names, by = self.events_until("accepted")
        self.assertEqual(names, ["accepted"], by)
        self.request({"request": "dtmf_info", "digit": "5", "duration": 200}, "dtmfsent")
        names, by = self.events_until("info")
        self.assertEqual(names, ["info"], by)
        ev = by["info"]
        self.assertEqual(ev.get("call_id"), "out-dtmf-1", ev)
        self.assertEqual(ev["result"]["type"], "application/dtmf-relay", ev)
        self.assertEqual(ev["result"]["content"], "Signal=#\r\nDuration=160\r\n", ev)
        self.assertEqual(ev["result"]["sender"], "sip:bob@127.0.0.1:%d" % p.port, ev)
        self.hangup(p, "out-dtmf-1")
        infos = p.received("INFO")
        self.assertEqual(len(infos), 1, p.report())
        info = infos[0]
        self.assertEqual(info.hdr("content-type"), "application/dtmf-relay")
        self.assertEqual(chatsip.sdp_lines(info.body), ["Signal=5", "Duration=200"])
        self.assertEqual(info.hdr("call-id"), "out-dtmf-1")
        # Our INFO got 200 from the daemon.
        answers = [m for m in p.received() if m.status and m.cseq_method == "INFO"]
        self.assertEqual([m.status for m in answers], [200], p.report())

    def test_remote_reinvite_auto_and_manual(self):
        """A re-INVITE from the far end: answered 200 with the call's
        offer SDP and nothing reported (autoaccept, the default); with
        autoaccept_reinvites false: updatingcall with the offer, and the
        application's update answer goes out in the 200 (updated)."""
        self.register()
        # 1. autoaccept_reinvites (default): the daemon answers.
        p = self.uas("api_out_reinvite_auto.xml")
        self.call(p, "out-reinv-auto")
        names, by = self.events_until("accepted")
        self.assertEqual(names, ["accepted"], by)
        self.wait_trace(p, "the re-INVITE answered and ACKed",
                        lambda s: s.sent("ACK"))
        ev = self.hangup(p, "out-reinv-auto")   # no event before hangup
        reinvs = p.sent("INVITE")
        self.assertEqual(len(reinvs), 1, p.report())
        oks = [m for m in p.received() if m.status and m.cseq_method == "INVITE"]
        self.assertEqual([m.status for m in oks if m.status >= 200], [200], p.report())
        ok = oks[-1]
        self.assertEqual(ok.hdr("content-type"), "application/sdp")
        self.assertEqual(ok.body.decode(), OFFER)
        self.assertEqual(ok.hdr("call-id"), "out-reinv-auto")
        # 2. autoaccept_reinvites false: the application answers.
        p = self.uas("api_out_reinvite_manual.xml")
        self.call(p, "out-reinv-man", autoaccept_reinvites=False)
        names, by = self.events_until("updatingcall")
        self.assertEqual(names, ["accepted", "updatingcall"], by)
        ev = by["updatingcall"]
        self.assertEqual(ev.get("call_id"), "out-reinv-man", ev)
        self.assertEqual(ev.get("jsep"), {"type": "offer", "sdp": far_sdp(8, 2, 40020)}, ev)
        answer = sdp(version=7, port=30020)
        self.request({"request": "update", "jsep": {"type": "answer", "sdp": answer}},
                     "updated")
        self.wait_trace(p, "the re-INVITE answered and ACKed", lambda s: s.sent("ACK"))
        self.hangup(p, "out-reinv-man")
        oks = [m for m in p.received() if m.status and m.status >= 200
               and m.cseq_method == "INVITE"]
        self.assertEqual([m.status for m in oks], [200], p.report())
        self.assertEqual(oks[0].hdr("content-type"), "application/sdp")
        self.assertEqual(oks[0].body.decode(), answer)


if __name__ == "__main__":
    sbtest.main()
