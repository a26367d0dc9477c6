"""Conference chat: failure policy.  A participant whose relayed MESSAGEs
get error answers is removed after max_failures failures in a row (BYE sent
to it; conference_info shows its failures meanwhile), at once on 481; a
participant answering 404 (nua then ends the dialog by itself) is removed
cleanly and reported.  Meanwhile every other participant keeps receiving
every message.  Error answers only: the one timeout test is it_chat_timeout."""
import chatsip
import sbtest

CONFIG = chatsip.conf_section(max_failures=2)


def part(info, uri):
    for p in info["participant_list"]:
        if p["uri"] == uri:
            return p
    return None


class Failures(chatsip.ChatCase):
    CONFIG = CONFIG

    def setUp(self):
        super().setUp()
        self.watch = self.d.client()
        r = self.watch.request({"request": "watch", "topics": ["conference"]})
        self.assertEqual(r["response"], "success", r)

    def tearDown(self):
        self.watch.close()
        super().tearDown()

    def ua(self, user, answer=200, transport="udp"):
        ua = chatsip.UA(self.d.port, user=user, display='"%s"' % user.capitalize(),
                        answer=answer, transport=transport)
        self.uas.append(ua)
        self.assertEqual(ua.invite("conf-100").status, 200, ua.trace())
        return ua

    def left_event(self, uri):
        ev = self.watch.event(lambda m: m.get("topic") == "conference"
                              and m["result"].get("event") == "left"
                              and m["result"].get("uri") == uri)
        return ev["result"]

    # -- tests -----------------------------------------------------------

    def test_500_answers_remove_after_max_failures(self):
        good = chatsip.member(self.d, "good", transport="t1")
        bad = chatsip.member(self.d, "bad", scenario="chat_refuser.xml")
        self.sipps += [good, bad]
        alice = self.ua("alice")
        chatsip.wait_participants(self.d, 3)
        before = self.d.status()["capabilities"]["chat"]
        self.assertEqual(alice.message(b"one").status, 202)
        good.wait_answered(1)
        bad.wait_answered(1)
        p = sbtest.wait_for(lambda: (part(chatsip.conf_info(self.d), "sip:bad@127.0.0.1") or {})
                            .get("failures") == 1 and part(chatsip.conf_info(self.d),
                                                           "sip:bad@127.0.0.1"),
                            5, "the failure shown in conference_info")
        self.assertEqual(p["consecutive_failures"], 1, p)
        self.assertEqual(p["state"], "active", "removed after ONE failure of max_failures=2")
        self.assertEqual(alice.message(b"two").status, 202)
        good.wait_answered(2)
        # The second failure in a row ends its call: BYE to it.
        self.assertEqual(bad.wait(), 0, bad.report())
        self.assertEqual(len(bad.received("BYE")), 1, "no BYE to the failing participant\n"
                         + bad.report())
        self.assertEqual(len(bad.received("MESSAGE")), 2, bad.report())
        ev = self.left_event("sip:bad@127.0.0.1")
        self.assertIn("fail", ev.get("reason", ""), ev)
        info = chatsip.wait_participants(self.d, 2)
        self.assertIsNone(part(info, "sip:bad@127.0.0.1"), info)
        self.assertGreaterEqual(info["failures"], 2, info)
        self.assertGreaterEqual(info["removed"], 1, info)
        after = self.d.status()["capabilities"]["chat"]
        self.assertEqual(after["failures"], before["failures"] + 2, after)
        self.assertEqual(after["removed"], before["removed"] + 1, after)
        # The others were not held up and keep receiving.
        self.assertEqual(alice.message(b"three").status, 202)
        good.wait_answered(3)
        chatsip.finish(self.d, [good])
        self.assertEqual([m.body for m in good.received("MESSAGE")],
                         [b"one", b"two", b"three", b"CHAT-LEAVE"], good.report())

    def test_success_resets_the_failure_count(self):
        answers = iter([500, 200, 500, 200, 500])
        flaky = self.ua("flaky", answer=lambda m: next(answers, 200))
        other = self.ua("other")
        alice = self.ua("alice")
        chatsip.wait_participants(self.d, 3)
        for i in range(5):
            self.assertEqual(alice.message(b"m%d" % i).status, 202)
            flaky.wait_messages(i + 1)
            other.wait_messages(i + 1)
        p = sbtest.wait_for(lambda: (part(chatsip.conf_info(self.d), flaky.from_uri) or {})
                            .get("failures") == 3 and part(chatsip.conf_info(self.d),
                                                           flaky.from_uri),
                            5, "three failures counted")
        self.assertEqual(p["state"], "active", p)
        self.assertEqual(p["consecutive_failures"], 1, p)
        self.assertEqual(flaky.requests("BYE"), [], flaky.trace())

    def test_481_answer_removes_at_once(self):
        gone = self.ua("gone", answer=481)
        other = self.ua("other", transport="tcp")
        alice = self.ua("alice")
        chatsip.wait_participants(self.d, 3)
        self.assertEqual(alice.message(b"first").status, 202)
        other.wait_messages(1)
        gone.wait_messages(1)
        ev = self.left_event(gone.from_uri)
        self.assertIn("481", ev.get("reason", ""), ev)
        info = chatsip.wait_participants(self.d, 2)
        self.assertIsNone(part(info, gone.from_uri), info)
        self.assertEqual(alice.message(b"second").status, 202)
        self.assertEqual([m.body for m in other.wait_messages(2)], [b"first", b"second"])
        self.assertEqual(len(gone.requests("MESSAGE")), 1, gone.trace())

    def test_404_answer_ends_the_dialog_cleanly(self):
        gone = self.ua("gone", answer=404)
        other = self.ua("other")
        alice = self.ua("alice")
        chatsip.wait_participants(self.d, 3)
        self.assertEqual(alice.message(b"first").status, 202)
        other.wait_messages(1)
        gone.wait_messages(1)
        ev = self.left_event(gone.from_uri)
        self.assertEqual(ev["conference"], "conf-100", ev)
        # docs/conference.md: "reported with that response as the reason"
        self.assertIn("404", ev.get("reason", ""), ev)
        info = chatsip.wait_participants(self.d, 2)
        self.assertIsNone(part(info, gone.from_uri), info)
        self.assertEqual(alice.message(b"second").status, 202)
        self.assertEqual([m.body for m in other.wait_messages(2)], [b"first", b"second"])
        self.assertEqual(len(gone.requests("MESSAGE")), 1, gone.trace())
        # Its dialog is gone on the daemon's side too.
        r = gone.message(b"am I still here?")
        self.assertEqual(r.status, 481, gone.trace())
        gone.dialog_ended = True
        self.assertTrue(self.d.alive())

    def test_proxy_double_500_counts_once(self):
        """A proxy answering 500 twice for a browser whose WebSocket is gone
        (browser-clients.md section 4: "500 (2/SL)" then "500 (2/TM)")
        is one failure per relayed message, not two."""
        twice = [(500, "Server Internal Error (2/SL)"), (500, "Server Internal Error (2/TM)")]
        ws = self.ua("ws", answer=lambda m: twice)
        alice = self.ua("alice")
        chatsip.wait_participants(self.d, 2)
        self.assertEqual(alice.message(b"one").status, 202)
        ws.wait_messages(1)
        p = sbtest.wait_for(lambda: (part(chatsip.conf_info(self.d), ws.from_uri) or {})
                            .get("failures") and part(chatsip.conf_info(self.d), ws.from_uri),
                            5, "the failure counted")
        self.assertEqual((p["failures"], p["consecutive_failures"], p["state"]),
                         (1, 1, "active"), p)
        self.assertEqual(ws.requests("BYE"), [], ws.trace())
        self.assertEqual(alice.message(b"two").status, 202)
        ws.wait_messages(2)
        ev = self.left_event(ws.from_uri)
        self.assertIn("500", ev.get("reason", ""), ev)
        ws.wait_ended()

    def test_alternating_503_answers_never_remove(self):
        """503 then 200, over and over: never max_failures=2 in a row, so the
        participant must stay and get every message.  (More than
        CHAT_MAX_PENDING=32 rounds: a relay's pending count must drop on a
        503 answer as on any other.)"""
        n = [0]

        def answer(m):
            n[0] += 1
            return 503 if n[0] % 2 else 200
        flaky = self.ua("flaky", answer=answer)
        alice = self.ua("alice")
        chatsip.wait_participants(self.d, 2)
        for i in range(70):
            self.assertEqual(alice.message(b"m%d" % i).status, 202)
            flaky.wait_messages(i + 1, timeout=5, what="message %d of 70" % (i + 1))
        p = part(chatsip.conf_info(self.d), flaky.from_uri)
        self.assertIsNotNone(p, "removed although never 2 failures in a row:\n"
                             + self.d.log()[-1500:])
        self.assertEqual(p["failures"], 35, p)
        self.assertEqual(flaky.requests("BYE"), [])


if __name__ == "__main__":
    sbtest.main()
