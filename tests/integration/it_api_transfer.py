"""Call transfers through the SIP API, with sipp as every far end.

Transferor: `transfer` sends a REFER in the call's dialog (blind: Refer-To
the uri; attended: with Replaces built from the other call's dialog) and the
transferee's sipfrag NOTIFYs come back as `notify` events.  Transferee: a
REFER in a call becomes a `transfer` event; a `call` with its refer_id
carries Replaces and Referred-By, and its progress goes back to the
transferor as sipfrag NOTIFYs; `decline` with the refer_id refuses it."""
import re

import chatsip
import sbtest

SDP = ("v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       "t=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
ANSWER = ("v=0\r\no=carol 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
          "t=0 0\r\nm=audio 31000 RTP/AVP 0\r\na=sendrecv\r\n")

event = sbtest.handle_event


def trace(p):
    return p.read(p.trace_path).decode("utf-8", "replace")


class Transfer(sbtest.DaemonCase):
    EXTRA = sbtest.API_TRUNK_CONF

    def setUp(self):
        self.c = self.d.client()
        self.addCleanup(self.c.close)
        self.h = self.handle("sip:alice%d@127.0.0.1" % id(self))

    def handle(self, user):
        h = self.c.request({"request": "create"})["data"]["handle_id"]
        r = self.c.request({"request": "register", "handle_id": h, "type": "guest",
                            "username": user})
        self.assertEqual(r["response"], "success", r)
        return h

    def helper(self, master):
        r = self.c.request({"request": "list_handles"})
        mid = [x for x in r["data"]["handles"] if x["handle_id"] == master][0]["master_id"]
        h = self.c.request({"request": "create"})["data"]["handle_id"]
        r = self.c.request({"request": "register", "handle_id": h, "type": "helper",
                            "master_id": mid, "username": "sip:ignored@example.com"})
        self.assertEqual(r["data"]["result"]["event"], "registered", r)
        return h

    def sipp(self, scenario, keys=None, uas=True):
        """sipp running SCENARIO in the background (a far end: once it
        listens)."""
        p = chatsip.Sipp(self.d, scenario, keys=keys, timeout=30)
        self.addCleanup(p.kill)
        if uas:
            p.wait_listening()
        return p

    def call(self, h, port, call_id):
        r = self.c.request({"request": "call", "handle_id": h,
                            "uri": "sip:bob@127.0.0.1:%d" % port, "call_id": call_id,
                            "jsep": {"type": "offer", "sdp": SDP}})
        self.assertEqual(r["data"]["result"]["event"], "calling", r)
        event(self.c, h, "accepted")

    def notifies(self, h, n):
        out = []
        for _ in range(n):
            ev = event(self.c, h, "notify")
            res = ev["result"]
            out.append((res["notify"], res["substate"], res["content-type"],
                        res["content"].strip()))
        return out

    def test_blind_transfer_as_transferor(self):
        c, h = self.c, self.h
        p = self.sipp("api_xfer_transferee.xml")
        self.call(h, p.port, "blind-1")
        r = c.request({"request": "transfer", "handle_id": h, "uri": "sip:carol@example.com"})
        self.assertEqual(r["data"]["result"], {"event": "transferring"}, r)
        self.assertEqual(self.notifies(h, 2), [
            ("refer", "active", "message/sipfrag", "SIP/2.0 100 Trying"),
            ("refer", "terminated", "message/sipfrag", "SIP/2.0 200 OK")])
        # The call survives its transfer until the application ends it.
        self.assertEqual(c.request({"request": "hangup", "handle_id": h})
                         ["data"]["result"]["event"], "hangingup")
        event(c, h, "hangup")
        p.check()
        log = trace(p)
        self.assertRegex(log, r"REFER sip:[^\n]*\n(?:[^\n]+\n)*Call-ID: blind-1")
        self.assertRegex(log, r"Refer-To: <sip:carol@example\.com>\r?\n")
        self.assertRegex(log, r"Referred-By: <sip:alice\d+@127\.0\.0\.1>")

    def test_attended_transfer_as_transferor(self):
        c, h = self.c, self.h
        h2 = self.helper(h)
        p1 = self.sipp("api_xfer_transferee.xml")
        p2 = self.sipp("api_xfer_plain.xml")
        self.call(h, p1.port, "attended-1")
        self.call(h2, p2.port, "attended-2")
        # An unknown Call-ID to replace: 454, and the handle stays usable.
        r = c.request({"request": "transfer", "handle_id": h, "uri": "sip:carol@example.com",
                       "replace": "no-such-call"})
        self.assertEqual(r["error_code"], 454, r)
        r = c.request({"request": "transfer", "handle_id": h, "uri": "sip:carol@example.com",
                       "replace": "attended-2"})
        self.assertEqual(r["data"]["result"], {"event": "transferring"}, r)
        self.assertEqual([n[1] for n in self.notifies(h, 2)], ["active", "terminated"])
        for hh in (h, h2):
            c.request({"request": "hangup", "handle_id": hh})
            event(c, hh, "hangup")
        p1.check()
        p2.check()
        # Replaces names the second call's dialog: its Call-ID, the far
        # end's tag as to-tag and ours as from-tag (RFC 3891 section 3).
        trace2 = trace(p2)
        ours = re.search(r"INVITE sip:.*?\nFrom: [^\n]*;tag=([^;\s>]+)", trace2, re.S).group(1)
        theirs = re.search(r"SIP/2.0 200 OK.*?\nTo: [^\n]*;tag=([^;\s>]+)", trace2, re.S).group(1)
        # URI header names are case-insensitive (sofia writes "replaces").
        m = re.search(r"Refer-To: <sip:carol@example\.com\?replaces=([^>]*)>",
                      trace(p1), re.I)
        self.assertIsNotNone(m, trace(p1))
        parts = dict(x.split("%3D", 1) if "%3D" in x else ("call-id", x)
                     for x in m.group(1).split("%3B"))
        self.assertEqual(parts, {"call-id": "attended-2", "to-tag": theirs,
                                 "from-tag": ours}, m.group(0))

    def incoming(self, scenario, target):
        """sipp calls the handle and transfers the call to TARGET; the
        application accepts; returns sipp and the transfer event."""
        c, h = self.c, self.h
        p = self.sipp(scenario, uas=False, keys={
            "callee": "alice%d" % id(self), "caller": "tom", "dn": "Tom", "target": target})
        event(c, h, "incomingcall")
        r = c.request({"request": "accept", "handle_id": h,
                       "jsep": {"type": "answer", "sdp": ANSWER}})
        self.assertEqual(r["data"]["result"]["event"], "accepted", r)
        return p, event(c, h, "transfer")

    def test_transferee_follows_refer_with_progress(self):
        c, h = self.c, self.h
        tp = self.sipp("api_xfer_plain.xml")
        target = "sip:target@127.0.0.1:%d" % tp.port
        p, ev = self.incoming("api_xfer_transferor.xml", target)
        res = ev["result"]
        self.assertIsInstance(res["refer_id"], int)
        self.assertEqual(res["refer_to"], target)
        self.assertEqual(res["referred_by"], "<sip:tom@127.0.0.1>")
        self.assertEqual(res["replaces"], "held-call@3.3.3.3")
        self.assertNotIn("call_id", ev)
        # The master is in the transferred call: a helper follows the REFER.
        h2 = self.helper(h)
        r = c.request({"request": "call", "handle_id": h2, "uri": res["refer_to"],
                       "refer_id": res["refer_id"], "jsep": {"type": "offer", "sdp": SDP}})
        self.assertEqual(r["data"]["result"]["event"], "calling", r)
        event(c, h2, "accepted")
        event(c, h, "hangup")           # the transferor's BYE after the 200
        p.check()
        c.request({"request": "hangup", "handle_id": h2})
        event(c, h2, "hangup")
        tp.check()
        invite = re.search(r"INVITE sip:.*?\n\n", trace(tp), re.S).group(0)
        self.assertRegex(invite, r"Replaces: held-call@3\.3\.3\.3;to-tag=t1;from-tag=f1")
        self.assertRegex(invite, r"Referred-By: <sip:tom@127\.0\.0\.1>")
        # The transfer is over: its refer_id is unknown now.
        r = c.request({"request": "decline", "handle_id": h, "refer_id": res["refer_id"]})
        self.assertEqual(r["error_code"], 447, r)

    def test_transferee_declines_refer(self):
        c, h = self.c, self.h
        p, ev = self.incoming("api_xfer_declined.xml", "sip:x@127.0.0.1")
        r = c.request({"request": "decline", "handle_id": h, "refer_id": ev["result"]["refer_id"]})
        self.assertEqual(r["data"]["result"], {"event": "declining", "code": 603,
                                               "refer_id": ev["result"]["refer_id"]}, r)
        event(c, h, "hangup")
        p.check()

    def test_transfer_needs_a_call_and_a_uri(self):
        c, h = self.c, self.h
        r = c.request({"request": "transfer", "handle_id": h, "uri": "sip:carol@example.com"})
        self.assertEqual(r["error_code"], 447, r)
        self.assertEqual(c.request({"request": "transfer", "handle_id": h})["error_code"], 443)
        self.assertEqual(c.request({"request": "transfer", "handle_id": h, "uri": "carol"})
                         ["error_code"], 446)
        self.assertEqual(c.request({"request": "decline", "handle_id": h, "refer_id": 12345})
                         ["error_code"], 447)
        # The handle stays usable.
        self.assertEqual(c.request({"request": "reset", "handle_id": h})["data"]["result"],
                         {"event": "reset"})


if __name__ == "__main__":
    sbtest.main()
