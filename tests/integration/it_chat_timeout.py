"""Conference chat: a participant that never answers.  Its relayed MESSAGE
times out (Timer F, 64*T1 = 32 s: the one slow test of the chat suite, kept
short with max_failures=1); it is then removed with BYE at once, and all
along the others receive every message at once: nobody waits for the
silent one."""
import time

import chatsip
import sbtest

CONFIG = chatsip.conf_section(max_failures=1)
TIMER_F = 32.0


class Timeout(sbtest.unittest.TestCase):
    def test_silent_participant_removed_after_timer_f(self):
        with sbtest.Daemon(extra=CONFIG) as d:
            watch = d.client()
            watch.request({"request": "watch", "topics": ["conference"]})
            silent = chatsip.member(d, "silent", scenario="chat_silent.xml", timeout=TIMER_F + 30)
            good = chatsip.member(d, "good", transport="t1")
            alice = chatsip.UA(d.port, user="alice", display='"Alice"')
            try:
                self.assertEqual(alice.invite("conf-100").status, 200, alice.trace())
                chatsip.wait_participants(d, 3)
                t0 = time.monotonic()
                self.assertEqual(alice.message(b"one").status, 202)
                good.wait_answered(1, timeout=2)
                silent.wait_for(lambda s: len(s.received("MESSAGE")) >= 1, 2,
                                "the first relay reaching the silent one")
                # A second message while the first waits for its answer:
                # the others get it at once.
                self.assertEqual(alice.message(b"two").status, 202)
                good.wait_answered(2, timeout=2)
                info = chatsip.conf_info(d)
                self.assertEqual(len(info["participant_list"]), 3, info)
                # Removed when Timer F fires for the first relay: not before,
                # and not a Timer F later either (its BYE must not wait for
                # the second relay to time out too).
                # Timer F is a protocol timer, not slowed by sanitizers: only
                # the margin scales, so that the file stays under 60 s.
                watch.sock.settimeout(TIMER_F + 8 + sbtest.bounded(2))
                try:
                    ev = watch.event(lambda m: m["result"].get("event") == "left")["result"]
                except TimeoutError:
                    self.fail("the silent participant was not removed %.0f s after its first "
                              "relay (Timer F is 32 s)\n%s\n%s"
                              % (time.monotonic() - t0, silent.report(), d.log()[-2000:]))
                elapsed = time.monotonic() - t0
                self.assertEqual(ev["uri"], "sip:silent@127.0.0.1", ev)
                self.assertIn("408", ev.get("reason", ""), ev)
                self.assertGreater(elapsed, TIMER_F - 2, "removed before Timer F: %.1fs" % elapsed)
                self.assertLess(elapsed, TIMER_F + 8 + sbtest.bounded(2),
                                "removed only after %.1fs" % elapsed)
                self.assertEqual(silent.wait(15), 0, silent.report())
                self.assertEqual(len(silent.received("BYE")), 1, silent.report())
                info = chatsip.wait_participants(d, 2)
                self.assertGreaterEqual(info["failures"], 1, info)
                self.assertEqual(info["removed"], 1, info)
                self.assertEqual(alice.message(b"three").status, 202)
                good.wait_answered(3, timeout=2)
                chatsip.finish(d, [good])
                self.assertEqual([m.body for m in good.received("MESSAGE")],
                                 [b"one", b"two", b"three", b"CHAT-LEAVE"], good.report())
                alice.bye()
            finally:
                silent.kill()
                good.kill()
                alice.close()


if __name__ == "__main__":
    sbtest.main()
