"""sipbridgectl mwi status|notify|show subscription|watch (docs/cli.md,
docs/control-protocol.md "MWI").

Against a fake socket: the exact requests, usage errors (exit 64, before
connecting), a daemon's error reply (exit 1), no daemon (exit 2), and the
human output of canned replies, text from phones escaped.  Against the real
daemon without a type=mwi section: `mwi status` says disabled, `mwi notify`
and `mwi show subscription` are its error 447, `mwi watch` subscribes to the
"mwi" topic.  The path with a database is tested elsewhere.
"""
import json
import os
import select
import subprocess
import time

import sbtest

EX_USAGE = 64
NOT_CONFIGURED = "MWI is not configured (no type=mwi section)"

# Expiry times print as local time: make that UTC for the canned replies.
os.environ["TZ"] = "UTC"
time.tzset()

ctl_at = sbtest.ctl_at




STATUS = {
    "enabled": True, "name": "mwi", "database": "pg1", "table": "active_watchers",
    "database_connected": True, "flavour": "kamailio", "ready": True, "pending": 2,
    "lookups_in_flight": 1, "notifies_in_flight": 0,
    "counters": {"triggers": 5, "coalesced": 1, "dropped": 0, "unmapped": 0, "lookups": 4,
                 "lookup_errors": 0, "watchers": 3, "sent": 3, "ok": 2, "gone": 1,
                 "deleted": 1, "timeouts": 0, "retries": 0, "failed": 0,
                 "listen_payloads": 0, "listen_bad": 0},
    "proxy": "sip:127.0.0.1:5060",
    "database_status": {"name": "pg1", "state": "connected", "queued": 0, "max_queue": 1000,
                        "sent": 12, "last_error": None},
}

STATUS_TEXT = (
    "mwi mwi: enabled, ready\n"
    "database pg1: connected (queued 0, max_queue 1000, sent 12)\n"
    "table: active_watchers (flavour kamailio)\n"
    "proxy: sip:127.0.0.1:5060\n"
    "pending: 2\n"
    "lookups_in_flight: 1\n"
    "notifies_in_flight: 0\n"
    "counters:\n"
    "  triggers: 5\n"
    "  coalesced: 1\n"
    "  dropped: 0\n"
    "  unmapped: 0\n"
    "  lookups: 4\n"
    "  lookup_errors: 0\n"
    "  watchers: 3\n"
    "  sent: 3\n"
    "  ok: 2\n"
    "  gone: 1\n"
    "  deleted: 1\n"
    "  timeouts: 0\n"
    "  retries: 0\n"
    "  failed: 0\n"
    "  listen_payloads: 0\n"
    "  listen_bad: 0\n")

WATCHERS = {"presentity": "sip:1000@example.com", "watchers": [
    {"id": "3", "callid": "a84b4c76e66710@192.0.2.10", "to_tag": "kam-1a2b",
     "from_tag": "1928301774", "subscriber": "1000", "subscriber_domain": "example.com",
     "contact": "sip:1000@192.0.2.10:5062;ob", "record_route": "<sip:192.0.2.1;lr>",
     "local_contact": "sip:192.0.2.1:5060;transport=udp", "event_id": "",
     "expires": 1714568400, "expires_in": 3541, "cseq": 7, "next_cseq": 8, "status": 1,
     "live": True},
    {"id": "4", "callid": "x\x1b[2Jy", "to_tag": "t2", "from_tag": "f2",
     "subscriber": "1000", "subscriber_domain": "example.com",
     "contact": "sip:1000@192.0.2.11\x9b", "record_route": "",
     "local_contact": "sip:192.0.2.1:5060", "event_id": "7",
     "expires": 1714564800, "expires_in": -12, "cseq": 1, "next_cseq": 2, "status": 3,
     "live": False, "user_agent": "Phone/1.0"}]}

WATCHERS_TEXT = (
    "sip:1000@example.com: 2 subscriptions\n"
    "\n"
    "subscription 3\n"
    "  To tag:        kam-1a2b\n"
    "  From tag:      1928301774\n"
    "  Call-ID:       a84b4c76e66710@192.0.2.10\n"
    "  Expires:       2024-05-01T13:00:00 (in 3541s)\n"
    "  CSeq:          7 (next 8)\n"
    "  Status:        active (1)\n"
    "  Live:          yes\n"
    "  Subscriber:    1000@example.com\n"
    "  Contact:       sip:1000@192.0.2.10:5062;ob\n"
    "  Record-Route:  <sip:192.0.2.1;lr>\n"
    "  Local contact: sip:192.0.2.1:5060;transport=udp\n"
    "  Event id:      -\n"
    "\n"
    "subscription 4\n"
    "  To tag:        t2\n"
    "  From tag:      f2\n"
    "  Call-ID:       x\\x1b[2Jy\n"
    "  Expires:       2024-05-01T12:00:00 (expired 12s ago)\n"
    "  CSeq:          1 (next 2)\n"
    "  Status:        terminated (3)\n"
    "  Live:          no\n"
    "  Subscriber:    1000@example.com\n"
    "  Contact:       sip:1000@192.0.2.11\\u009b\n"
    "  Record-Route:  -\n"
    "  Local contact: sip:192.0.2.1:5060\n"
    "  Event id:      7\n"
    "  user_agent: Phone/1.0\n")


class CliMwiFake(sbtest.unittest.TestCase):
    """What goes on the wire, what is refused before it, and how replies
    print, against a fake daemon."""

    def setUp(self):
        self.fake = sbtest.FakeDaemon()

    def tearDown(self):
        self.fake.close()

    def run_ok(self, *args):
        r = ctl_at(self.fake.path, *args)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stderr, b"")
        return r.stdout.decode()

    def sent(self, *args):
        r = ctl_at(self.fake.path, *args)
        self.assertEqual(r.returncode, 0, r)
        req = self.fake.requests[-1]
        req.pop("transaction")
        return req

    def test_requests(self):
        self.assertEqual(self.sent("mwi", "status"), {"request": "mwi_status"})
        req = self.sent("mwi", "notify", "1000", "example.com", "2", "05")
        self.assertEqual(req, {"request": "mwi_notify", "user": "1000",
                               "domain": "example.com", "new": 2, "old": 5})
        self.assertIsInstance(req["new"], int)
        self.assertEqual(self.sent("mwi", "notify", "1000", "example.com", "0", "0", "0",
                                   "2147483648"),
                         {"request": "mwi_notify", "user": "1000", "domain": "example.com",
                          "new": 0, "old": 0, "urgent_new": 0, "urgent_old": 2147483648})
        self.assertEqual(self.sent("mwi", "show", "subscription", "1000", "example.com"),
                         {"request": "mwi_show", "user": "1000", "domain": "example.com"})
        # User and domain go as typed: the daemon judges them (444).
        self.assertEqual(self.sent("mwi", "show", "subscription", "a b", ""),
                         {"request": "mwi_show", "user": "a b", "domain": ""})
        # The fake closes after its reply: the stream ends, status 0.
        self.assertEqual(self.sent("mwi", "watch"), {"request": "watch", "topics": ["mwi"]})

    def test_usage_errors_before_connecting(self):
        cases = [
            ["mwi"],
            ["mwi", "bogus"],
            ["mwi", "status", "x"],
            ["mwi", "notify", "1000", "example.com", "1"],
            ["mwi", "notify", "1000", "example.com", "1", "2", "0"],
            ["mwi", "notify", "1000", "example.com", "1", "2", "0", "0", "0"],
            ["mwi", "notify", "1000", "example.com", "x", "2"],
            ["mwi", "notify", "1000", "example.com", "1", "2.0"],
            ["mwi", "notify", "1000", "example.com", "+1", "2"],
            ["mwi", "notify", "1000", "example.com", "1", "0x2"],
            ["mwi", "notify", "1000", "example.com", "", "2"],
            ["mwi", "notify", "1000", "example.com", "1", "--", "-2"],
            ["mwi", "notify", "1000", "example.com", "1", "2", "1", "y"],
            ["mwi", "notify", "1000", "example.com", "1", "2", "9223372036854775808", "0"],
            ["mwi", "show"],
            ["mwi", "show", "subscription", "1000"],
            ["mwi", "show", "subscription", "1000", "example.com", "x"],
            ["mwi", "show", "subscriptions", "1000", "example.com"],
            ["mwi", "show", "1000", "example.com", "x"],
            ["mwi", "watch", "mwi"],
            ["mwi", "status", "--follow"],
            ["mwi", "notify", "1000", "example.com", "1", "2", "--from", "x"],
            [b"mwi", b"notify", b"\xff", b"example.com", b"1", b"2"],
            [b"mwi", b"show", b"subscription", b"1000", b"ex\xc3"],
        ]
        for args in cases:
            with self.subTest(args=args):
                r = ctl_at(self.fake.path, *args)
                self.assertEqual(r.returncode, EX_USAGE, r)
                self.assertEqual(r.stdout, b"")
                self.assertTrue(r.stderr.startswith(b"sipbridgectl: "), r.stderr)
        self.assertEqual(self.fake.requests, [])

    def test_usage_messages(self):
        def stderr(*args):
            r = ctl_at("/nonexistent/x.sock", *args)
            self.assertEqual(r.returncode, EX_USAGE, r)
            return r.stderr.decode()
        usage = ("sipbridgectl: usage: sipbridgectl mwi notify USER DOMAIN NEW OLD "
                 "[URGENT_NEW URGENT_OLD]\n")
        self.assertEqual(stderr("mwi", "notify", "1000", "example.com", "1"), usage)
        self.assertEqual(stderr("mwi", "notify", "1000", "example.com", "1", "2", "3"), usage)
        self.assertIn("mwi notify: OLD must be a non-negative integer, got '-2'",
                      stderr("mwi", "notify", "1000", "example.com", "1", "--", "-2"))
        self.assertIn("mwi notify: URGENT_OLD must be a non-negative integer, got '1.5'",
                      stderr("mwi", "notify", "1000", "example.com", "1", "2", "0", "1.5"))
        self.assertIn("mwi show: expected 'subscription', got 'sub'",
                      stderr("mwi", "show", "sub", "1000", "example.com"))
        self.assertEqual(stderr("mwi", "show", "subscription", "1000"),
                         "sipbridgectl: usage: sipbridgectl mwi show subscription USER "
                         "DOMAIN\n")
        self.assertIn("mwi: unknown sub-command 'debug' (expected status|notify|show|watch)",
                      stderr("mwi", "debug", "on"))

    def test_unreachable(self):
        for args in (["mwi", "status"], ["mwi", "notify", "1000", "example.com", "1", "2"],
                     ["mwi", "show", "subscription", "1000", "example.com"],
                     ["mwi", "watch"]):
            with self.subTest(args=args):
                r = ctl_at("/nonexistent/x.sock", *args)
                self.assertEqual((r.returncode, r.stdout), (2, b""), r)
                self.assertIn(b"cannot connect to /nonexistent/x.sock", r.stderr)

    def test_daemon_error_exit_1(self):
        cases = [
            (447, NOT_CONFIGURED, ["notify", "1000", "example.com", "1", "2"]),
            (447, "cannot queue: max_pending mailboxes wait already",
             ["notify", "1000", "example.com", "1", "2", "0", "0"]),
            (444, "invalid element: user must be 1 to 200 bytes without '@', blanks, '<', "
                  "'>' or quotes", ["notify", "a@b", "example.com", "1", "2"]),
            (444, "invalid element: domain must be 1 to 200 bytes without '@', blanks, "
                  "'<', '>' or quotes", ["show", "subscription", "1000", "ex ample"]),
            (447, NOT_CONFIGURED, ["show", "subscription", "1000", "example.com"]),
        ]
        for code, text, args in cases:
            with self.subTest(args=args):
                self.fake.reply = {"response": "error", "error_code": code, "error": text}
                r = ctl_at(self.fake.path, "mwi", *args)
                self.assertEqual((r.returncode, r.stdout.decode(), r.stderr.decode()),
                                 (1, "", "error %d: %s\n" % (code, text)))
                r = ctl_at(self.fake.path, "--json", "mwi", *args)
                self.assertEqual((r.returncode, r.stderr), (1, b""), r)
                reply = json.loads(r.stdout)
                self.assertEqual((reply["response"], reply["error_code"], reply["error"]),
                                 ("error", code, text))

    def test_help_lists_subcommands(self):
        r = subprocess.run([sbtest.CTL, "--help"], capture_output=True, text=True,
                           timeout=sbtest.bounded(10))
        self.assertEqual(r.returncode, 0)
        for word in ("mwi status", "mwi notify USER DOMAIN NEW OLD [URGENT_NEW URGENT_OLD]",
                     "mwi show subscription USER DOMAIN", "mwi watch"):
            self.assertIn(word, r.stdout)
        self.assertEqual([l for l in r.stdout.splitlines() if len(l) > 79], [])

    # -- output --

    def test_status_output(self):
        self.fake.data = STATUS
        self.assertEqual(self.run_ok("mwi", "status"), STATUS_TEXT)

    def test_status_json_is_raw(self):
        self.fake.data = STATUS
        reply = json.loads(self.run_ok("--json", "mwi", "status"))
        self.assertEqual((reply["response"], reply["data"]), ("success", STATUS))

    def test_status_disabled(self):
        self.fake.data = {"enabled": False}
        self.assertEqual(self.run_ok("mwi", "status"), "mwi: disabled (no type=mwi section)\n")

    def test_status_not_ready(self):
        # No database status object: the line comes from database_connected.
        self.fake.data = {"enabled": True, "name": "vm", "database": "pg\x1b",
                          "table": "presence.active_watchers",
                          "database_connected": False, "flavour": "unknown", "ready": False,
                          "pending": 0, "proxy": "sip:10.0.0.1;transport=tcp",
                          "counters": {}, "new_thing": [1, 2]}
        self.assertEqual(self.run_ok("mwi", "status"), (
            "mwi vm: enabled, not ready\n"
            "database pg\\x1b: not connected\n"
            "table: presence.active_watchers (flavour unknown)\n"
            "proxy: sip:10.0.0.1;transport=tcp\n"
            "pending: 0\n"
            "counters: none\n"
            "new_thing: 1, 2\n"))

    def test_notify_output(self):
        self.fake.data = {"user": "1000", "domain": "example.com", "queued": True,
                          "pending": 1}
        self.assertEqual(self.run_ok("mwi", "notify", "1000", "example.com", "2", "5"),
                         "queued 1000@example.com: 2 new, 5 old\npending: 1\n")
        self.assertEqual(self.run_ok("mwi", "notify", "1000", "example.com", "2", "5", "1",
                                     "0"),
                         "queued 1000@example.com: 2 new, 5 old (urgent 1 new, 0 old)\n"
                         "pending: 1\n")
        # An older or terser reply: the request names the mailbox.
        self.fake.data = {}
        self.assertEqual(self.run_ok("mwi", "notify", "2000", "example.org", "0", "0"),
                         "queued 2000@example.org: 0 new, 0 old\n")

    def test_show_output(self):
        self.fake.data = WATCHERS
        self.assertEqual(self.run_ok("mwi", "show", "subscription", "1000", "example.com"),
                         WATCHERS_TEXT)
        reply = json.loads(self.run_ok("--json", "mwi", "show", "subscription", "1000",
                                       "example.com"))
        self.assertEqual(reply["data"], WATCHERS)

    def test_show_one_and_none(self):
        self.fake.data = {"presentity": "sip:1000@example.com",
                          "watchers": WATCHERS["watchers"][:1]}
        out = self.run_ok("mwi", "show", "subscription", "1000", "example.com")
        self.assertTrue(out.startswith("sip:1000@example.com: 1 subscription\n\n"
                                       "subscription 3\n"), out)
        self.fake.data = {"presentity": "sip:1000@example.com", "watchers": []}
        self.assertEqual(self.run_ok("mwi", "show", "subscription", "1000", "example.com"),
                         "sip:1000@example.com: no subscriptions\n")

    def test_watch_prints_events(self):
        ev = {"event": "notify", "user": "1000", "domain": "example.com",
              "callid": "a84b4c76e66710@192.0.2.10", "cseq": "8 NOTIFY", "status": 481,
              "reason": "Call/Transaction Does Not Exist", "action": "deleted"}
        self.fake.after = [{"sipbridge": "event", "topic": "mwi", "result": ev}]
        r = ctl_at(self.fake.path, "mwi", "watch")
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout.decode(),
                         'mwi notify user=1000 domain=example.com '
                         'callid=a84b4c76e66710@192.0.2.10 cseq="8 NOTIFY" status=481 '
                         'reason="Call/Transaction Does Not Exist" action=deleted\n')
        self.assertEqual(r.stderr, b"sipbridgectl: connection closed by daemon\n")
        r = ctl_at(self.fake.path, "--json", "mwi", "watch")
        lines = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual((lines[0]["response"], lines[1]["result"]), ("success", ev))


class CliMwiDaemon(sbtest.DaemonCase):
    """The real daemon, no type=mwi section."""

    def ctl(self, *args):
        return self.d.ctl(*args)

    def test_status_disabled(self):
        r = self.ctl("mwi", "status")
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (0, "mwi: disabled (no type=mwi section)\n", ""))
        r = self.ctl("--json", "mwi", "status")
        self.assertEqual(r.returncode, 0, r)
        reply = json.loads(r.stdout)
        self.assertEqual((reply["response"], reply["data"]), ("success", {"enabled": False}))

    def assert_not_configured(self, *args):
        r = self.ctl(*args)
        self.assertEqual((r.returncode, r.stdout), (1, ""), r)
        self.assertEqual(r.stderr, "error 447: %s\n" % NOT_CONFIGURED)
        r = self.ctl("--json", *args)
        self.assertEqual(r.returncode, 1, r)
        reply = json.loads(r.stdout)
        self.assertEqual((reply["response"], reply["error_code"], reply["error"]),
                         ("error", 447, NOT_CONFIGURED))

    def test_notify_not_configured(self):
        self.assert_not_configured("mwi", "notify", "1000", "example.com", "2", "5")
        self.assert_not_configured("mwi", "notify", "1000", "example.com", "2", "5", "1", "0")

    def test_show_not_configured(self):
        self.assert_not_configured("mwi", "show", "subscription", "1000", "example.com")

    def test_usage_error_never_reaches_daemon(self):
        r = self.ctl("mwi", "notify", "1000", "example.com", "two", "5")
        self.assertEqual((r.returncode, r.stdout), (EX_USAGE, ""), r)

    def test_watch_subscribes_mwi(self):
        proc = subprocess.Popen([sbtest.CTL, "-s", self.d.sock_path, "--json", "mwi",
                                 "watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            ready, _, _ = select.select([proc.stdout], [], [], sbtest.bounded(10))
            self.assertTrue(ready, "no reply from 'mwi watch'")
            reply = json.loads(proc.stdout.readline())
            self.assertEqual((reply["response"], reply["data"]["topics"]),
                             ("success", ["mwi"]))
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=sbtest.bounded(5)), 0)
            proc.stdout.close()
            self.assertEqual(proc.stderr.read(), b"")
            proc.stderr.close()


if __name__ == "__main__":
    sbtest.main()
