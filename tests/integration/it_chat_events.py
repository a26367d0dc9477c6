"""Conference chat: ConfBridge event notices (events=yes).  In-dialog
MESSAGEs with Content-Type application/x-asterisk-confbridge-event+json
(exactly, no parameter) and the conference name as From display name: the
joiner gets ConfbridgeWelcome listing everyone (oldest first, itself last),
the others ConfbridgeJoin with the joiner, and when someone leaves the rest
get ConfbridgeLeave.  Bodies as docs/conference-events.md describes them,
read from what the sipp participants received."""
import json
import re

import chatsip
import sbtest

EVENT_TYPE = "application/x-asterisk-confbridge-event+json"
CONFIG = chatsip.conf_section("sales", user="conf-300", events="yes")
TIME_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}\+0000$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CHANNEL_KEYS = ["id", "name", "state", "protocol_id", "caller", "creationtime", "language",
                "admin"]


def ordered(body):
    """The JSON body with key order kept (lists of pairs)."""
    return json.loads(body, object_pairs_hook=lambda pairs: pairs)


class Events(sbtest.unittest.TestCase):
    def check_event(self, m, want_type, trace):
        self.assertEqual(m.hdr("content-type"), EVENT_TYPE, "exact Content-Type\n" + trace)
        self.assertEqual(chatsip.display_of(m.hdr("from")), '"sales"',
                         "From display name = conference name\n" + trace)
        body = m.body.decode()
        self.assertFalse(body.endswith("\n"), "no trailing newline")
        self.assertTrue(body.startswith('{\n  "type": '), "pretty-printed, 2-space indent\n"
                        + body)
        ev = json.loads(body)
        self.assertEqual([k for k, _ in ordered(body)], ["type", "timestamp", "bridge",
                                                          "channels"], body)
        self.assertEqual(ev["type"], want_type, body)
        self.assertRegex(ev["timestamp"], TIME_RE)
        b = ev["bridge"]
        self.assertEqual(list(b), ["id", "name", "creationtime", "video_mode"], body)
        self.assertRegex(b["id"], UUID_RE)
        self.assertEqual(b["name"], "sales")
        self.assertRegex(b["creationtime"], TIME_RE)
        self.assertEqual(b["video_mode"], "none")
        keys = CHANNEL_KEYS + (["muted"] if want_type != "ConfbridgeLeave" else [])
        for ch in ev["channels"]:
            self.assertEqual(list(ch), keys, body)
            self.assertRegex(ch["id"], r"^[0-9]+\.[0-9]+$")
            # Named after its endpoint as chan_pjsip does: the From user.
            self.assertRegex(ch["name"], r"^PJSIP/%s-[0-9a-f]{8}$"
                             % re.escape(ch["caller"]["number"]))
            self.assertEqual(ch["state"], "Up")
            self.assertEqual(list(ch["caller"]), ["name", "number"])
            self.assertRegex(ch["creationtime"], TIME_RE)
            self.assertEqual(ch["language"], "en")
            self.assertIs(ch["admin"], False)
            if "muted" in ch:
                self.assertIs(ch["muted"], False)
        return ev

    def roster(self, ev):
        return [(c["caller"]["name"], c["caller"]["number"]) for c in ev["channels"]]

    def check_welcome_order(self, ev, want):
        """Welcome's channels: everyone, oldest first, the joiner last.  A
        wrong order is noted and the test goes on checking the rest."""
        got = self.roster(ev)
        self.assertEqual(sorted(got), sorted(want), ev)
        if got != want:
            self.problems.append("Welcome lists %s, want oldest first, joiner last: %s"
                                 % (got, want))

    def test_join_welcome_leave(self):
        self.problems = []
        with sbtest.Daemon(extra=CONFIG) as d:
            alice = chatsip.member(d, "alice", conf="conf-300")
            bob = carol = None
            try:
                chatsip.wait_participants(d, 1, "sales")
                m = alice.wait_answered(1)[0]
                ev = self.check_event(m, "ConfbridgeWelcome", alice.report())
                self.assertEqual(self.roster(ev), [("Alice", "alice")], ev)
                a_call_id = alice.dialog()[0]
                self.assertEqual(ev["channels"][0]["protocol_id"], a_call_id,
                                 "protocol_id = the leg's Call-ID")
                alice_ch = ev["channels"][0]

                bob = chatsip.member(d, "bob", conf="conf-300", transport="t1")
                chatsip.wait_participants(d, 2, "sales")
                wb = self.check_event(bob.wait_answered(1)[0], "ConfbridgeWelcome", bob.report())
                self.check_welcome_order(wb, [("Alice", "alice"), ("Bob", "bob")])
                chans = {c["caller"]["number"]: c for c in wb["channels"]}
                self.assertEqual(chans["alice"]["id"], alice_ch["id"],
                                 "a participant's channel id is stable")
                self.assertEqual(chans["bob"]["protocol_id"], bob.dialog()[0])
                self.assertEqual(wb["bridge"]["id"], ev["bridge"]["id"])
                ja = self.check_event(alice.wait_answered(2)[1], "ConfbridgeJoin",
                                      alice.report())
                self.assertEqual(self.roster(ja), [("Bob", "bob")], ja)
                bob_ch = chans["bob"]
                self.assertEqual(ja["channels"][0]["id"], bob_ch["id"])

                # A third one, a chatsip UA, that then leaves with BYE.
                carol = chatsip.UA(d.port, user="1003", display='"Carol"')
                self.assertEqual(carol.invite("conf-300").status, 200, carol.trace())
                wc = self.check_event(carol.wait_messages(1)[0], "ConfbridgeWelcome",
                                      carol.trace())
                self.check_welcome_order(wc, [("Alice", "alice"), ("Bob", "bob"),
                                              ("Carol", "1003")])
                # MESSAGEs so far: alice 2 (Welcome, Join bob), bob 1 (Welcome).
                seen = {alice: 2, bob: 1}
                for s in (alice, bob):
                    seen[s] += 1
                    n = seen[s]
                    j = self.check_event(s.wait_answered(n)[n - 1], "ConfbridgeJoin", s.report())
                    self.assertEqual(self.roster(j), [("Carol", "1003")])
                    self.assertEqual(j["channels"][0]["protocol_id"], carol.call_id)
                carol_id = [c["id"] for c in wc["channels"]
                            if c["caller"]["number"] == "1003"][0]
                self.assertEqual(carol.bye().status, 200)
                for s in (alice, bob):
                    seen[s] += 1
                    n = seen[s]
                    lv = self.check_event(s.wait_answered(n)[n - 1], "ConfbridgeLeave",
                                          s.report())
                    self.assertEqual(self.roster(lv), [("Carol", "1003")])
                    self.assertEqual(lv["channels"][0]["id"], carol_id)
                self.assertEqual(len(carol.requests()), 1, "Carol got only her Welcome\n"
                                 + carol.trace())

                # Chat still relays as usual, and is no event.
                r = d.request({"request": "conference_send", "name": "sales", "body": "hi",
                               "from": "Ops"})
                self.assertEqual(r["response"], "success", r)
                for s in (alice, bob):
                    seen[s] += 1
                    n = seen[s]
                    m = s.wait_answered(n)[n - 1]
                    self.assertEqual((m.hdr("content-type"), m.body),
                                     ("text/plain;charset=UTF-8", b"hi"))

                # A kick is a leave too; the one kicked gets no event.
                info = chatsip.conf_info(d, "sales")
                alice_id = [p["id"] for p in info["participant_list"]
                            if p["display_name"] == "Alice"][0]
                before = len(alice.received("MESSAGE"))
                self.assertEqual(before, seen[alice], alice.report())
                n = seen[bob] + 1
                r = d.request({"request": "conference_kick", "name": "sales", "id": alice_id})
                self.assertEqual(r["response"], "success", r)
                self.assertEqual(alice.wait(10), 0, alice.report())
                lv = self.check_event(bob.wait_answered(n)[n - 1], "ConfbridgeLeave",
                                      bob.report())
                self.assertEqual(self.roster(lv), [("Alice", "alice")])
                self.assertEqual(len(alice.received("MESSAGE")), before, alice.report())
                chatsip.finish(d, [bob], conf="sales")
                self.assertEqual(self.problems, [])
            finally:
                for s in (alice, bob):
                    if s:
                        s.kill()
                if carol:
                    carol.close()

    def test_no_events_by_default(self):
        with sbtest.Daemon(extra=chatsip.conf_section()) as d, \
                chatsip.UA(d.port, user="a") as a, chatsip.UA(d.port, user="b") as b:
            self.assertEqual(a.invite("conf-100").status, 200)
            self.assertEqual(b.invite("conf-100").status, 200)
            chatsip.wait_participants(d, 2)
            self.assertEqual(b.bye().status, 200)
            chatsip.wait_participants(d, 1)
            r = d.request({"request": "conference_send", "name": "conf-100", "body": "only"})
            self.assertEqual(r["response"], "success")
            self.assertEqual([m.body for m in a.wait_messages(1)], [b"only"], a.trace())
            self.assertEqual(a.bye().status, 200)


if __name__ == "__main__":
    sbtest.main()
