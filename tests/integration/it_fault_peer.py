"""Fault: an outbound PUBLISH peer goes away and comes back.

docs/publish.md ("Sending"): a failed PUBLISH is retried after retry_min,
doubling up to retry_max; meanwhile changes queue as names (each device or
mailbox once); on recovery the latest state of each goes out, once.  A
failing peer is logged once at warning when it starts failing and once at
notice when it works again; publish_status shows the backoff.

1. A scripted peer (faultrig.PortPeer) has its socket closed, state changes
   meanwhile, a new peer on the same port that, like a restarted Asterisk,
   answers 412 to ETags it never issued.
2. A real sipbridged peer (pubpair) is SIGKILLed and started again on the
   same config and port.
"""
import time
import unittest

import faultrig
from pubpair import Pair, devices, mailboxes, poll, publish_status, set_device, set_mailbox
from pubpeer import body, outbound_conf
from sbtest import Daemon, bounded, main

EID = "02:00:5e:00:53:77"
STATES = ["INUSE", "BUSY", "RINGING", "ONHOLD", "NOT_INUSE", "UNAVAILABLE"]


def targets(d):
    return {t["name"]: t for t in publish_status(d)["targets"]}


class ScriptedPeerDown(unittest.TestCase):
    def setUp(self):
        self.peer = faultrig.PortPeer(fresh_etags=True)
        self.addCleanup(lambda: self.peer.close())
        conf = (outbound_conf(self.peer.port, name="peer-dev")
                + outbound_conf(self.peer.port, name="peer-mwi", event="asterisk-mwi"))
        self.d = Daemon(start=False)
        self.addCleanup(self.d.cleanup)
        self.d.write_config(self.d.config_text(conf).replace(
            "type=global\n", "type=global\nentity_id=%s\n" % EID, 1))
        self.d.start()

    def latest(self, msgs):
        """{device or mailbox: last body} of bodies in MSGS."""
        out = {}
        for m in msgs:
            b = body(m)
            if b and b.get("type") == "devicestate":
                out[b["device"]] = b["state"]
            elif b and b.get("type") == "mailboxstate":
                out[b["uniqueid"]] = (b["new"], b["old"])
        return out

    def test_peer_socket_closed_then_back_on_the_same_port(self):
        d, port = self.d, self.peer.port
        set_device(d, "PJSIP/7000", "INUSE")
        set_mailbox(d, "7000@default", 1, 0)
        poll(lambda: len(self.latest(self.peer.accepted)) == 2, 5, "both first states")
        log0 = d.log()
        # -- the peer goes away: its port is closed --
        self.peer.close()
        final = {}
        for i in range(60):
            dev = "PJSIP/70%02d" % (i % 6)
            final[dev] = STATES[(i * 5 + i // 6) % len(STATES)]
            set_device(d, dev, final[dev])
            if i % 4 == 0:
                mb = "70%02d@default" % (i % 3)
                final[mb] = (i, 60 - i)
                set_mailbox(d, mb, i, 60 - i)
        # Backoff, visible in publish_status: still failing, retry scheduled.
        t = poll(lambda: (lambda ts: ts if all(
            x["state"] == "backoff" and x["failures_in_row"] >= 2 for x in ts.values())
            else None)(targets(d)), 10, "both targets in backoff after two failures")
        for name, x in t.items():
            self.assertIsNotNone(x["retry_in"], x)
            self.assertLessEqual(x["retry_in"], 1.0, x)      # retry_max=1000 ms
            self.assertIsNotNone(x["last_response"], x)
            self.assertGreaterEqual(x["last_response"]["code"], 400, x)
        self.assertLessEqual(t["peer-dev"]["queued"], 6, t)      # one per device
        self.assertLessEqual(t["peer-mwi"]["queued"], 3, t)      # one per mailbox
        log = d.log()[len(log0):]
        for name in ("peer-dev", "peer-mwi"):
            self.assertEqual(log.count("[%s] PUBLISH to sip:sipbridge@127.0.0.1:%d failed"
                                       % (name, port)), 1, log)
        self.assertTrue(d.alive())
        # -- a new peer on the same port, knowing none of the old ETags --
        self.peer = faultrig.PortPeer(port, fresh_etags=True)
        poll(lambda: self.latest(self.peer.accepted) == final, 10,
             "the latest state of every device and mailbox at the new peer")
        poll(lambda: all(x["state"] == "idle" and x["queued"] == 0
                         for x in targets(d).values()), 5, "both targets idle")
        time.sleep(0.5)
        got = self.latest(self.peer.accepted)
        self.assertEqual(got, final)
        # Each went out once after the recovery (a 412 re-send carries the
        # current state, not a stale one).
        names = [body(m).get("device") or body(m).get("uniqueid")
                 for m in self.peer.accepted if m.body and body(m).get("type") != "refresh"]
        self.assertEqual(sorted(names), sorted(final), names)
        for x in targets(d).values():
            self.assertEqual(x["failures_in_row"], 0, x)
        log = d.log()[len(log0):]
        for name in ("peer-dev", "peer-mwi"):
            self.assertRegex(log, r"\[%s\] PUBLISH to \S+ works again after \d+ failures" % name)
        d.stop()


class DaemonPeerKilled(unittest.TestCase):
    def test_peer_daemon_sigkilled_and_restarted(self):
        # b asks for no refresh at start: only a's retries can bring b up to date.
        p = Pair(b_kw={"refresh": False})
        self.addCleanup(p.close, False)
        a, b = p.a, p.b
        eid_b = publish_status(b)["entity_id"]
        set_device(a, "PJSIP/8000", "INUSE")
        set_mailbox(a, "8000@default", 2, 1)
        poll(lambda: "PJSIP/8000" in devices(b) and "8000@default" in mailboxes(b), 5,
             "first states on b")
        b.proc.kill()
        b.proc.wait(timeout=bounded(5))
        final_dev, final_mb = {}, {}
        for i in range(40):
            dev = "PJSIP/80%02d" % (i % 8)
            final_dev[dev] = STATES[(i * 3 + i // 8) % len(STATES)]
            set_device(a, dev, final_dev[dev])
        for i in range(9):
            mb = "80%02d@default" % (i % 3)
            final_mb[mb] = (i + 1, i)
            set_mailbox(a, mb, i + 1, i)
        poll(lambda: all(t["state"] == "backoff" and t["failures_in_row"] >= 1
                         for t in publish_status(a)["targets"]), 10, "a's targets in backoff")
        self.assertIn("retrying with backoff, changes are kept", a.log())
        b.start()
        self.assertEqual(publish_status(b)["entity_id"], eid_b)

        def caught_up():
            dv, mbx = devices(b), mailboxes(b)
            return (all(dv.get(k, {}).get("state") == v for k, v in final_dev.items())
                    and all((mbx.get(k, {}).get("new"), mbx.get(k, {}).get("old")) == v
                            for k, v in final_mb.items()))
        poll(caught_up, 10, "b has a's latest device and mailbox states")
        poll(lambda: all(t["state"] == "idle" and t["failures_in_row"] == 0
                         for t in publish_status(a)["targets"]), 5, "a's targets idle")
        self.assertRegex(a.log(), r"PUBLISH to \S+ works again after \d+ failures")
        p.close()


if __name__ == "__main__":
    main()
