"""Fault: a control client is SIGKILLed in the middle of a call.

docs/control-protocol.md ("Handles"): a handle outlives its connection for
handle_grace seconds; meanwhile its registration goes on and its events are
kept for the owner; a `claim` with the token takes it back with those
events.  Without a claim the handle is destroyed as by `destroy`: its
account unregistered, its call ended with BYE (log: "handle N not claimed
within S s: destroyed").

The client is a python3 child process (faultrig.ChildClient) that creates a
handle, registers it at a sipp registrar (sipp/api_registrar.xml), calls a
sipp far end (scenario written here) and, once the call is accepted, is
killed with SIGKILL: no goodbye on the control socket.
"""
import time
import unittest

import chatsip
import faultrig
import sbtest
from it_api_register import Registrar
from sbtest import wait_for

SDP = ("v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       "t=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

# The far end: 200 with an answer, then in-dialog MESSAGEs answered 200
# until a BYE (answered 200).
FAR_END = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="fault: far end of an API call">
  <recv request="INVITE" />
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:bob@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=bob 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 40000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK" />
  <label id="loop"/>
  <recv request="MESSAGE" optional="true" next="message"/>
  <recv request="BYE" />
  <send next="end"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <label id="message"/>
  <send next="loop"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <label id="end"/>
</scenario>
"""


def ok(r):
    assert r.get("response") == "success", r
    return r["data"]


def handles(d):
    return {x["handle_id"]: x for x in ok(d.request({"request": "list_handles"}))["handles"]}


class ClientKilled(unittest.TestCase):
    def start(self, grace):
        self.d = sbtest.Daemon(extra="[api]\ntype=api\nhandle_grace=%d\n" % grace)
        self.addCleanup(self.finish)
        self.reg = Registrar(self.d.dir)
        self.addCleanup(self.reg.stop)

    def finish(self):
        res = getattr(self._outcome, "result", None)
        failed = res is not None and any(t is self for t, _ in res.failures + res.errors)
        try:
            if failed:
                sbtest.sys.stderr.write("---- daemon log ----\n%s\n---- registrar ----\n%s\n"
                                        % (self.d.log(), self.reg.dump()))
            if self.d.alive():
                self.d.stop()
        finally:
            self.d.cleanup()

    def far_end(self, timeout):
        path = faultrig.write_scenario(self.d, "far_end.xml", FAR_END)
        p = chatsip.Sipp(self.d, path, timeout=timeout, name="far")
        self.addCleanup(p.kill)
        p.wait_listening()
        return p

    def child_in_call(self, far_port, call_id, far_end=None):
        """The child client: handle, registered, call accepted.  Returns
        (child, handle id, token)."""
        steps = [{"request": {"request": "create"}},
                 {"request": {"request": "register",
                              "username": "sip:alice@127.0.0.1:%d" % self.reg.port,
                              "secret": "s3cret"}, "events": ["registered"]},
                 {"request": {"request": "call", "uri": "sip:bob@127.0.0.1:%d" % far_port,
                              "jsep": {"type": "offer", "sdp": SDP}, "call_id": call_id},
                  "events": ["accepted"]}]
        child = faultrig.ChildClient(self.d, steps)
        self.addCleanup(child.close)
        lines = child.until_ready()
        h, token = lines[0]["handle_id"], lines[0]["token"]
        self.assertEqual([m.get("event") for m in lines[1:]], ["registered", "accepted"], lines)
        return child, h, token

    def killed(self, child, h):
        """SIGKILL; wait until the daemon has seen the connection go."""
        child.sigkill()
        t0 = time.monotonic()
        hs = wait_for(lambda: (lambda x: x if h in x and not x[h]["client_connected"] else None)(
            handles(self.d)), 5, "handle %d without its client" % h)
        return t0, hs

    def test_call_survives_and_is_claimed_within_grace(self):
        self.start(grace=30)
        far = self.far_end(timeout=40)
        child, h, token = self.child_in_call(far.port, "fault-claim-1")
        self.killed(child, h)
        hs = handles(self.d)
        self.assertEqual(hs[h]["registration"], "registered", hs)
        # The call is still up at the far end: no BYE, no CANCEL; the
        # account is not unregistered.
        time.sleep(0.5)
        self.assertIsNone(far.proc.poll(), far.report())
        self.assertEqual(far.received("BYE"), [], far.report())
        self.assertEqual(self.reg.unregisters(), [], self.reg.dump())
        # A new client claims the handle and drives the call.
        c = self.d.client()
        self.addCleanup(c.close)
        data = ok(c.request({"request": "claim", "handle_id": h, "token": token}))
        self.assertEqual(data["handle_id"], h, data)
        self.assertIs(data["client_connected"], True, data)
        self.assertEqual(data["registration"], "registered", data)
        r = ok(c.request({"request": "message", "handle_id": h, "content": "after the crash"}))
        self.assertEqual(r["result"], {"event": "messagesent", "call_id": "fault-claim-1"}, r)
        ev = sbtest.handle_event(c, h, "messagedelivery")
        self.assertEqual((ev["result"]["code"], ev["call_id"]), (200, "fault-claim-1"), ev)
        r = ok(c.request({"request": "hangup", "handle_id": h}))
        self.assertEqual(r["result"], {"event": "hangingup"}, r)
        ev = sbtest.handle_event(c, h, "hangup")
        self.assertEqual(ev["call_id"], "fault-claim-1", ev)
        far.check()
        byes = far.received("BYE")
        self.assertEqual(len(byes), 1, far.report())
        self.assertEqual(byes[0].hdr("call-id"), "fault-claim-1")
        self.assertEqual([m.body for m in far.received("MESSAGE")], [b"after the crash"])
        # Still registered, now with its new owner.
        hs = handles(self.d)
        self.assertEqual((hs[h]["registration"], hs[h]["client_connected"]),
                         ("registered", True), hs)
        self.assertEqual(self.reg.unregisters(), [], self.reg.dump())

    def test_grace_runs_out_bye_and_unregister(self):
        self.start(grace=2)
        far = self.far_end(timeout=20)
        child, h, token = self.child_in_call(far.port, "fault-grace-1")
        t0, _ = self.killed(child, h)
        # Nobody claims: the call ends with BYE, the account is unregistered.
        far.check(timeout=15)
        t_bye = time.monotonic()
        byes = far.received("BYE")
        self.assertEqual(len(byes), 1, far.report())
        self.assertEqual(byes[0].hdr("call-id"), "fault-grace-1")
        self.assertGreaterEqual(t_bye - t0, 1.0, "BYE before handle_grace=2 ran out")
        self.reg.wait_registers(lambda m: m.expires == 0, timeout=5,
                                what="the un-REGISTER (Expires: 0)")
        wait_for(lambda: h not in handles(self.d), 5, "handle %d destroyed" % h)
        self.d.wait_log("handle %d not claimed within 2 s: destroyed" % h)
        r = self.d.request({"request": "claim", "handle_id": h, "token": token})
        self.assertEqual((r["response"], r.get("error_code")), ("error", 459), r)
        self.assertEqual(self.d.status()["capabilities"]["api"]["handles"], 0)

    def test_far_end_hangs_up_while_away_event_kept_for_the_claim(self):
        """The far end hangs up while nobody owns the handle: the BYE is
        answered 200 and the hangup event is kept, then delivered to the
        claiming client, in order, with nothing else lost."""
        self.start(grace=30)
        far = faultrig.Uas()
        self.addCleanup(far.close)
        child, h, token = self.child_in_call(far.port, "fault-away-1")
        far.wait("ACK")
        self.killed(child, h)
        r = far.bye()
        self.assertEqual(r.status, 200, r.text())
        c = self.d.client()
        self.addCleanup(c.close)
        data = ok(c.request({"request": "claim", "handle_id": h, "token": token}))
        self.assertEqual(data["handle_id"], h, data)
        ev = sbtest.handle_event(c, h, "hangup", timeout=5)
        self.assertEqual(ev["call_id"], "fault-away-1", ev)
        # The handle is usable: a new call on it, hung up by us.
        far2 = faultrig.Uas()
        self.addCleanup(far2.close)
        r = ok(c.request({"request": "call", "handle_id": h,
                          "uri": "sip:bob@127.0.0.1:%d" % far2.port,
                          "jsep": {"type": "offer", "sdp": SDP}, "call_id": "fault-away-2"}))
        sbtest.handle_event(c, h, "accepted")
        ok(c.request({"request": "hangup", "handle_id": h}))
        sbtest.handle_event(c, h, "hangup")
        far2.wait("BYE")
        self.assertEqual(far.got("BYE"), [], "our side never sent BYE for the first call")


if __name__ == "__main__":
    sbtest.main()
