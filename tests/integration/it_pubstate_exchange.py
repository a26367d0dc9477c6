"""Two real sipbridged instances exchange device and mailbox state by PUBLISH,
configured as the two-instance example of Asterisk's documentation: both
ways, both events, filters on both sides, no ping-pong, recovery after the
peer was down, and entity ids that default apart and survive a restart."""
import time
import unittest

from pubpair import (Pair, devices, mailboxes, poll, publish_status, set_device,
                     set_mailbox)
from sbtest import main


def eid_of(d):
    return publish_status(d)["entity_id"]


class ExchangeTest(unittest.TestCase):
    """One pair for the exchange tests; filters:
    a sends only PJSIP/ devices and mailboxes of context 'default';
    b accepts only devices matching 'pjsip/(6|7)' (case-insensitive)
    and mailboxes not of context 'secret'."""

    @classmethod
    def setUpClass(cls):
        cls.p = Pair(
            a_kw={"out_filters": "@device_state_filter=^PJSIP/\n"
                                 "@mailbox_state_filter=@default$\n"},
            b_kw={"in_filters": "device_state_filter=pjsip/(6|7)\n"
                                "mailbox_state_filter=^[^@]*@(default|other)$\n"})
        cls.a, cls.b = cls.p.a, cls.p.b

    @classmethod
    def tearDownClass(cls):
        cls.p.close()

    def test_device_state_both_ways(self):
        set_device(self.a, "PJSIP/6001", "INUSE")
        set_device(self.b, "PJSIP/6101", "ringing")
        got = poll(lambda: devices(self.b).get("PJSIP/6001"), 5, "6001 on b")
        self.assertEqual(got["state"], "INUSE")
        self.assertEqual([e["eid"] for e in got["eids"]], [eid_of(self.a)])
        self.assertFalse(got["eids"][0]["local"])
        got = poll(lambda: devices(self.a).get("PJSIP/6101"), 5, "6101 on a")
        self.assertEqual(got["eids"][0]["state"], "RINGING")
        self.assertEqual(got["eids"][0]["eid"], eid_of(self.b))
        # A change travels too, and the latest state wins.
        set_device(self.a, "PJSIP/6001", "NOT_INUSE")
        poll(lambda: devices(self.b)["PJSIP/6001"]["state"] == "NOT_INUSE", 5,
             "6001 NOT_INUSE on b")

    def test_mailbox_state_both_ways(self):
        set_mailbox(self.a, "6001@default", 2, 5)
        set_mailbox(self.b, "6101@other", 1, 0)
        got = poll(lambda: mailboxes(self.b).get("6001@default"), 5, "mailbox on b")
        self.assertEqual((got["new"], got["old"]), (2, 5))
        self.assertEqual(got["eids"][0]["eid"], eid_of(self.a))
        got = poll(lambda: mailboxes(self.a).get("6101@other"), 5, "mailbox on a")
        self.assertEqual((got["new"], got["old"]), (1, 0))

    def test_filters_drop_what_they_must(self):
        set_device(self.a, "SIP/legacy", "BUSY")        # a's outbound filter drops
        set_device(self.a, "PJSIP/8001", "BUSY")        # b's inbound filter drops
        set_mailbox(self.a, "7001@secret", 9, 9)        # a's outbound filter drops
        set_device(self.a, "PJSIP/7001", "ONHOLD")      # passes both: the marker
        set_mailbox(self.a, "7002@default", 1, 1)       # passes both: the marker
        poll(lambda: "PJSIP/7001" in devices(self.b), 5, "the marker device")
        poll(lambda: "7002@default" in mailboxes(self.b), 5, "the marker mailbox")
        # One client sends in order: what came before the marker has been
        # sent (or dropped by a's filter) by now.
        self.assertNotIn("SIP/legacy", devices(self.b))
        self.assertNotIn("PJSIP/8001", devices(self.b))
        self.assertNotIn("7001@secret", mailboxes(self.b))
        t = {x["name"]: x for x in publish_status(self.a)["targets"]}
        st_b = publish_status(self.b)
        self.assertGreaterEqual(st_b["publish_received"], 1)
        # b did receive PJSIP/8001 (200) and ignored it.
        self.assertIn("instance2-devicestate", t)

    def test_aggregate_across_entity_ids(self):
        # The same device on both: b shows both eids and Asterisk's
        # aggregate (RINGING with INUSE is RINGINUSE).
        set_device(self.a, "PJSIP/6200", "INUSE")
        set_device(self.b, "PJSIP/6200", "RINGING")
        got = poll(lambda: len(devices(self.b).get("PJSIP/6200", {}).get("eids", [])) == 2
                   and devices(self.b)["PJSIP/6200"], 5, "two eids on b")
        self.assertEqual(got["state"], "RINGINUSE")
        per = {e["eid"]: (e["state"], e["local"]) for e in got["eids"]}
        self.assertEqual(per, {eid_of(self.a): ("INUSE", False),
                               eid_of(self.b): ("RINGING", True)})
        r = set_device(self.b, "PJSIP/6200", "NOT_INUSE")
        self.assertEqual(r["aggregate"], "INUSE")

    def test_no_ping_pong(self):
        set_device(self.a, "PJSIP/6555", "INUSE")
        poll(lambda: "PJSIP/6555" in devices(self.b), 5, "6555 on b")
        time.sleep(0.5)
        before_a = publish_status(self.a)
        before_b = publish_status(self.b)
        time.sleep(1.0)
        after_a = publish_status(self.a)
        after_b = publish_status(self.b)
        sent = lambda st: sum(t["sent"] for t in st["targets"])
        # Nothing goes round: no PUBLISH at all while nothing changes.
        self.assertEqual(sent(before_a), sent(after_a))
        self.assertEqual(sent(before_b), sent(after_b))
        # a holds its own state only under its own eid: b never sent it back.
        dev = devices(self.a)["PJSIP/6555"]
        self.assertEqual([e["eid"] for e in dev["eids"]], [eid_of(self.a)])
        # b holds it only under a's eid: it was never re-published as b's.
        dev = devices(self.b)["PJSIP/6555"]
        self.assertEqual([e["eid"] for e in dev["eids"]], [eid_of(self.a)])

    def test_state_events_on_the_control_socket(self):
        c = self.b.client()
        try:
            r = c.request({"request": "watch", "topics": ["state"]})
            self.assertEqual(r["response"], "success", r)
            set_device(self.a, "PJSIP/6777", "BUSY")
            ev = c.event(lambda m: m.get("topic") == "state" and
                         m["result"].get("device") == "PJSIP/6777")
            self.assertEqual(ev["result"]["event"], "device_state")
            self.assertEqual(ev["result"]["state"], "BUSY")
            self.assertEqual(ev["result"]["eid"], eid_of(self.a))
            self.assertFalse(ev["result"]["local"])
        finally:
            c.close()


class RecoveryTest(unittest.TestCase):
    def test_peer_down_then_latest_state_of_every_device(self):
        # b asks for no refresh: only a's retries can bring b up to date.
        p = Pair(b_kw={"refresh": False})
        try:
            a, b = p.a, p.b
            set_device(a, "PJSIP/9000", "INUSE")
            poll(lambda: "PJSIP/9000" in devices(b), 5, "first state on b")
            b.stop()
            states = ["INUSE", "BUSY", "RINGING", "ONHOLD", "NOT_INUSE", "UNAVAILABLE"]
            final = {}
            for i in range(100):
                dev = "PJSIP/90%02d" % (i % 10)
                final[dev] = states[(i * 7 + i // 10) % len(states)]
                set_device(a, dev, final[dev])
            tgt = [t for t in publish_status(a)["targets"]
                   if t["event"] == "asterisk-devicestate"][0]
            self.assertIn(tgt["state"], ("backoff", "publishing"))
            self.assertLessEqual(tgt["queued"], 10)     # coalesced per device
            b.start()
            # retry_max=1000 ms bounds the wait for the next attempt.
            want = lambda: all(devices(b).get(d, {}).get("state") == s
                               for d, s in final.items())
            poll(want, 5, "the latest state of all 10 devices on b")
            got = devices(b)
            for d, s in final.items():
                self.assertEqual([e["state"] for e in got[d]["eids"]], [s], d)
            # A few retries and one PUBLISH per device, not 100.
            self.assertLess(publish_status(b)["publish_received"], 40)
        finally:
            p.close()


class EntityIdTest(unittest.TestCase):
    def test_default_ids_differ_and_survive_restart(self):
        p = Pair(a_global="entity_id=02:00:5e:00:53:0a\n")
        try:
            st_a, st_b = publish_status(p.a), publish_status(p.b)
            self.assertEqual(st_a["entity_id"], "02:00:5e:00:53:0a")
            self.assertEqual(st_a["entity_id_source"], "config")
            self.assertEqual(st_b["entity_id_source"], "generated")
            # A second instance on the host with no entity_id: another id.
            c = Pair(start=False)
            try:
                c.b.start()
                other = publish_status(c.b)["entity_id"]
            finally:
                c.close()
            self.assertNotEqual(st_b["entity_id"], other)
            self.assertNotEqual(st_b["entity_id"], st_a["entity_id"])
            first = int(st_b["entity_id"][:2], 16)
            self.assertEqual(first & 0x03, 0x02)   # locally administered, unicast
            p.b.stop()
            p.b.start()
            st = publish_status(p.b)
            self.assertEqual(st["entity_id"], st_b["entity_id"])
            self.assertEqual(st["entity_id_source"], "file")
        finally:
            p.close()


if __name__ == "__main__":
    main()
