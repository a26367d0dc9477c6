"""Incoming calls through the SIP API with sipp as the caller.

The daemon identifies 127.0.0.1 as the trunk endpoint `asterisk`, so an
INVITE to sip:<user>@127.0.0.1:<port> reaches the guest handle registered
as sip:<user>@example.com.  Each test runs sipp in the background with a
scenario from sipp/api_in_*.xml, drives the API meanwhile, then waits for
sipp (bounded) and wants exit 0: the scenarios check on the wire, with
ereg check_it, every body the daemon sends (the application's SDP exactly,
the DTMF INFO, the hold/unhold re-offers) and the final response codes.

Where the test must wait for the SIP side (the ACK has arrived, a re-INVITE
transaction is over) the scenario sends a cue the API reports: an INFO
"up" or a MESSAGE, so nothing here sleeps."""
import socket
import time

import chatsip
import sbtest
from sbtest import bounded



def sdp(*lines):
    return "".join(line + "\r\n" for line in lines)


# What the sipp scenarios send (they carry the same text literally).
CALLER_OFFER = sdp("v=0", "o=sipp 100 100 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1",
                   "t=0 0", "m=audio 40000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000",
                   "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=sendrecv")
CALLER_REOFFER = sdp("v=0", "o=sipp 100 101 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1",
                     "t=0 0", "m=audio 40002 RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=sendrecv")
CALLER_ACK_ANSWER = sdp("v=0", "o=sipp 200 200 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1",
                        "t=0 0", "m=audio 40010 RTP/AVP 0", "a=rtpmap:0 PCMU/8000",
                        "a=sendrecv")
# What the application gives (the scenarios check these exactly).
ANSWER = sdp("v=0", "o=carol 7 7 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
             "m=audio 31000 RTP/AVP 0", "a=sendrecv")
NEW_ANSWER = sdp("v=0", "o=carol 7 8 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
                 "m=audio 31002 RTP/AVP 0", "a=sendrecv")
APP_OFFER = sdp("v=0", "o=carol 9 9 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
                "m=audio 31010 RTP/AVP 0 8", "a=sendrecv")


class IncomingSipp(sbtest.DaemonCase):
    EXTRA = sbtest.API_TRUNK_CONF

    def setUp(self):
        self.c = self.d.client()
        self.addCleanup(self.c.close)
        self.backlog, self.seen = [], []
        self.h, self.mid = self.guest()

    def guest(self):
        """A handle registered as the guest sip:carol<H>@example.com."""
        h = self.c.request({"request": "create"})["data"]["handle_id"]
        r = self.c.request({"request": "register", "handle_id": h, "type": "guest",
                            "username": "sip:carol%d@example.com" % h})
        self.assertEqual(r["data"]["result"]["event"], "registered", r)
        return h, r["data"]["result"]["master_id"]

    def user(self, h=None):
        return "carol%d" % (h or self.h)

    def req(self, body, expect=None):
        """A request on this client; its result event must be EXPECT."""
        self.c.sock.settimeout(bounded(10))
        r = self.c.request(body)
        if expect is not None:
            self.assertEqual(r.get("response"), "success", r)
            self.assertEqual(r["data"]["result"]["event"], expect, r)
        return r

    def ev(self, h, name, timeout=10):
        """The next event NAME of handle H; other events are kept for later."""
        def match(m):
            return (m.get("sipbridge") == "event" and m.get("handle_id") == h and
                    m.get("result", {}).get("event") == name)
        for i, m in enumerate(self.backlog):
            if match(m):
                return self.backlog.pop(i)
        end = time.monotonic() + bounded(timeout)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            self.c.sock.settimeout(left)
            try:
                m = self.c.read_line()
            except socket.timeout:
                break
            self.assertIsNotNone(m, "control connection closed")
            self.seen.append(m)
            if match(m):
                return m
            self.backlog.append(m)
        raise AssertionError("no %s event for handle %s within %ss; seen: %s"
                             % (name, h, bounded(timeout), self.seen))

    def sipp(self, scenario, h=None, caller="alice", dn="Alice A"):
        """sipp calling the user of handle H with SCENARIO, in the background."""
        p = chatsip.Sipp(self.d, scenario, timeout=15,
                         keys={"callee": self.user(h), "caller": caller, "dn": dn})
        self.addCleanup(p.kill)
        return p

    def incoming(self, h, caller="alice", dn="Alice A", callee_h=None, offer=CALLER_OFFER):
        """incomingcall on H with the caller's fields; returns the event."""
        ev = self.ev(h, "incomingcall")
        res = ev["result"]
        self.assertEqual(res["username"], "sip:%s@127.0.0.1" % caller, ev)
        self.assertEqual(res["displayname"], dn, ev)
        self.assertEqual(res["callee"], "sip:%s@example.com" % self.user(callee_h or h), ev)
        self.assertTrue(res["call_id"], ev)
        self.assertEqual(ev["call_id"], res["call_id"], ev)
        if offer is None:
            self.assertNotIn("jsep", ev)
        else:
            self.assertEqual(ev["jsep"], {"type": "offer", "sdp": offer}, ev)
        return ev

    def accept(self, h, sdp=ANSWER, expect="accepted", **extra):
        self.req(dict({"request": "accept", "handle_id": h,
                       "jsep": {"type": "answer" if expect == "accepted" else "offer",
                                "sdp": sdp}}, **extra), expect)

    def hangup_event(self, h, call_id, code, reason=None):
        ev = self.ev(h, "hangup", timeout=10)
        self.assertEqual(ev.get("call_id"), call_id, ev)
        self.assertEqual(ev["result"]["code"], code, ev)
        if reason is not None:
            self.assertEqual(ev["result"]["reason"], reason, ev)
        return ev

    def up(self, h, call_id, caller="alice"):
        """The scenario's INFO "up" cue: the call is established."""
        ev = self.ev(h, "info")
        self.assertEqual((ev["result"]["type"], ev["result"]["content"], ev["call_id"]),
                         ("text/plain", "up\r\n", call_id), ev)
        self.assertEqual(ev["result"]["sender"], "sip:%s@127.0.0.1" % caller, ev)

    def test_accepted_call_with_info_dtmf_reinvite_hold_unhold_and_caller_bye(self):
        h = self.h
        s = self.sipp("api_in_accept.xml")
        call_id = self.incoming(h)["call_id"]
        self.accept(h)
        # The caller's INFO dtmf-relay, after its ACK: an info event.
        ev = self.ev(h, "info")
        self.assertEqual(ev["result"], {"event": "info", "sender": "sip:alice@127.0.0.1",
                                        "displayname": "Alice A",
                                        "type": "application/dtmf-relay",
                                        "content": "Signal=1\r\nDuration=160\r\n"}, ev)
        self.assertEqual(ev["call_id"], call_id)
        # Ours: INFO Signal=9 (checked by sipp), then its re-INVITE a=sendonly
        # (the caller holds) answered by the daemon with our answer set to
        # a=recvonly, version 8 (RFC 3264 6.1; checked by sipp), unreported.
        self.req({"request": "dtmf_info", "handle_id": h, "digit": "9"}, "dtmfsent")
        ev = self.ev(h, "message")
        self.assertEqual((ev["result"]["content"], ev["call_id"]), ("reinvited\r\n", call_id), ev)
        # hold: re-INVITE a=sendonly, o= version 9; unhold: a=sendrecv, 10.
        self.req({"request": "hold", "handle_id": h}, "holding")
        ev = self.ev(h, "message")
        self.assertEqual(ev["result"]["content"], "held\r\n", ev)
        self.req({"request": "unhold", "handle_id": h}, "resuming")
        self.hangup_event(h, call_id, 200)
        s.check()
        names = [m.get("result", {}).get("event") for m in self.seen]
        self.assertNotIn("updatingcall", names)         # autoaccept_reinvites
        self.assertNotIn("accepted", names)             # hold's 200 unreported

    def test_reinvite_answered_by_update_without_autoaccept(self):
        h = self.h
        s = self.sipp("api_in_reinvite.xml")
        first = self.incoming(h)
        call_id = first["call_id"]
        self.accept(h, autoaccept_reinvites=False)
        ev = self.ev(h, "updatingcall")
        self.assertEqual(ev["jsep"], {"type": "offer", "sdp": CALLER_REOFFER}, ev)
        # Who re-offers, as in incomingcall (Janus).
        for k in ("username", "displayname", "callee"):
            self.assertEqual(ev["result"][k], first["result"][k], (k, ev, first))
        self.assertEqual((ev["call_id"], ev["result"]["call_id"]), (call_id, call_id), ev)
        self.req({"request": "update", "handle_id": h,
                  "jsep": {"type": "answer", "sdp": NEW_ANSWER}}, "updated")
        self.hangup_event(h, call_id, 200)
        s.check()

    def test_declined_603_by_default_486_given_and_486_for_codes_below_400(self):
        h = self.h
        for scenario, code, want in (("api_in_decline_603.xml", None, 603),
                                     ("api_in_decline_486.xml", 486, 486),
                                     ("api_in_decline_486.xml", 200, 486)):
            s = self.sipp(scenario)
            call_id = self.incoming(h)["call_id"]
            body = {"request": "decline", "handle_id": h}
            if code is not None:
                body["code"] = code
            r = self.req(body, "declining")
            self.assertEqual((r["data"]["result"]["code"], r["data"]["result"]["call_id"]),
                             (want, call_id), r)
            self.hangup_event(h, call_id, want)
            s.check()

    def test_busy_account_misses_a_second_call_and_keeps_the_first(self):
        h = self.h
        first = self.sipp("api_in_up.xml")
        call_id = self.incoming(h)["call_id"]
        self.accept(h)
        self.up(h, call_id)
        second = self.sipp("api_in_busy.xml", caller="bob", dn="Bob B")
        ev = self.ev(h, "missed_call")
        self.assertEqual(ev["result"], {"event": "missed_call", "caller": "sip:bob@127.0.0.1",
                                        "displayname": "Bob B",
                                        "callee": "sip:%s@example.com" % self.user()}, ev)
        self.assertNotEqual(ev["call_id"], call_id, ev)
        second.check()                                   # 486 on the wire
        # The first call is still up: our DTMF INFO and MESSAGE reach it,
        # and only then the caller hangs up.
        self.req({"request": "dtmf_info", "handle_id": h, "digit": "3"}, "dtmfsent")
        r = self.req({"request": "message", "handle_id": h, "content": "bye please"},
                     "messagesent")
        self.assertEqual(r["data"]["result"]["call_id"], call_id, r)
        self.hangup_event(h, call_id, 200)
        first.check()
        names = [m.get("result", {}).get("event") for m in self.seen]
        self.assertEqual(names.count("incomingcall"), 1, names)  # the busy one is not offered

    def test_helper_takes_a_second_call_so_two_are_up_at_once(self):
        m = self.h
        hp = self.c.request({"request": "create"})["data"]["handle_id"]
        r = self.req({"request": "register", "handle_id": hp, "type": "helper",
                      "master_id": self.mid, "username": "sip:ignored@example.com"},
                     "registered")
        self.assertTrue(r["data"]["result"]["helper"], r)
        a = self.sipp("api_in_up.xml", m)
        call_a = self.incoming(m)["call_id"]
        self.accept(m)
        self.up(m, call_a)
        # The master is in a call: the second INVITE to the same user goes
        # to the helper, with the master's identity as callee.
        b = self.sipp("api_in_up.xml", m, caller="bob", dn="Bob B")
        call_b = self.incoming(hp, caller="bob", dn="Bob B", callee_h=m)["call_id"]
        self.assertNotEqual(call_a, call_b)
        self.accept(hp)
        self.up(hp, call_b, caller="bob")
        # Both established at once: DTMF INFO on each reaches its caller
        # (neither caller hangs up before our MESSAGE).
        self.req({"request": "dtmf_info", "handle_id": m, "digit": "1"}, "dtmfsent")
        self.req({"request": "dtmf_info", "handle_id": hp, "digit": "2"}, "dtmfsent")
        for h, call_id in ((m, call_a), (hp, call_b)):
            r = self.req({"request": "message", "handle_id": h, "content": "bye please"},
                         "messagesent")
            self.assertEqual(r["data"]["result"]["call_id"], call_id, r)
        self.hangup_event(m, call_a, 200)
        self.hangup_event(hp, call_b, 200)
        a.check()
        b.check()
        self.assertNotIn("missed_call", [x.get("result", {}).get("event") for x in self.seen])

    def test_offerless_invite_accepted_with_our_offer_answer_in_ack(self):
        h = self.h
        s = self.sipp("api_in_offerless.xml")
        call_id = self.incoming(h, offer=None)["call_id"]
        self.accept(h, sdp=APP_OFFER, expect="accepting")
        ev = self.ev(h, "accepted")
        self.assertEqual(ev["jsep"], {"type": "answer", "sdp": CALLER_ACK_ANSWER}, ev)
        self.assertEqual(ev["call_id"], call_id, ev)
        self.hangup_event(h, call_id, 200)
        s.check()

    def test_unanswered_call_gets_480_after_no_answer_timeout(self):
        h = self.h
        s = self.sipp("api_in_noanswer.xml")
        call_id = self.incoming(h)["call_id"]
        self.hangup_event(h, call_id, 480)              # no_answer_timeout=2
        s.check()
        r = self.req({"request": "accept", "handle_id": h,
                      "jsep": {"type": "answer", "sdp": ANSWER}})
        self.assertEqual(r.get("error_code"), 447, r)    # the call is gone


if __name__ == "__main__":
    sbtest.main()
