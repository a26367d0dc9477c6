"""sipbridgectl conference list|show|send|kick (docs/cli.md).

Against the real daemon with one conference, conf-100: the empty
conference, error replies (exit 1), --json, and one real participant (sipp,
tests/integration/sipp/cli_participant.xml) that `show` lists, `send`
reaches and `kick` hangs up, seen on the "conference" event topic too.
Against a fake socket that records what it gets: the exact requests, usage
errors found before connecting (exit 64), and the human tables with text a
SIP peer chose (control characters) escaped.
"""
import json
import os
import re
import select
import subprocess
import time

import sbtest

EX_USAGE = 64
CONF = "[conf-100]\ntype=conference\nuser=conf-100\n"
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"


ctl_at = sbtest.ctl_at
FakeDaemon = sbtest.FakeDaemon


class LineReader:
    """Bounded line reads from a child's stdout pipe."""

    def __init__(self, proc):
        self.proc = proc
        self.buf = b""

    def line(self, timeout):
        deadline = time.monotonic() + sbtest.bounded(timeout)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no line from %s within %.1fs" % (self.proc.args, timeout))
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError("%s closed its output" % (self.proc.args,))
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def event(self, name, timeout=10):
        """The next "conference" event called @name; others are skipped."""
        deadline = time.monotonic() + sbtest.bounded(timeout)
        while True:
            m = self.line(max(0.0, (deadline - time.monotonic()) / sbtest.MULT))
            if m.get("sipbridge") == "event" and m["result"].get("event") == name:
                self.assert_topic(m)
                return m["result"]

    @staticmethod
    def assert_topic(m):
        if m.get("topic") != "conference":
            raise AssertionError("unexpected topic in %r" % m)


class CliConferenceDaemon(sbtest.DaemonCase):
    EXTRA = CONF

    def ctl(self, *args):
        return self.d.ctl(*args)

    def test_list_human(self):
        r = self.ctl("conference", "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "USER", "PARTICIPANTS", "MESSAGES",
                                            "FAILURES"])
        row = [l for l in lines[1:] if l.startswith("conf-100 ")]
        self.assertEqual(len(row), 1, r.stdout)
        self.assertEqual(row[0].split()[:3], ["conf-100", "conf-100", "0/50"])
        # Aligned: every column starts where its header does.
        self.assertEqual(row[0].index("0/50"), lines[0].index("PARTICIPANTS"))

    def test_list_json(self):
        r = self.ctl("--json", "conference", "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        reply = json.loads(r.stdout)
        self.assertEqual(reply["response"], "success")
        conf = [c for c in reply["data"]["conferences"] if c["name"] == "conf-100"]
        self.assertEqual(len(conf), 1)
        self.assertEqual((conf[0]["user"], conf[0]["participants"]), ("conf-100", 0))

    def test_show_empty(self):
        r = self.ctl("conference", "show", "conf-100")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("conference conf-100 (user conf-100)\n"
                                            "participants: 0 of 50\n"), r.stdout)
        self.assertRegex(r.stdout, r"(?m)^messages: \d+$")
        self.assertRegex(r.stdout, r"(?m)^history: 0$")
        self.assertTrue(r.stdout.endswith("\nno participants\n"), r.stdout)

    def test_show_json(self):
        r = self.ctl("--json", "conference", "show", "conf-100")
        self.assertEqual(r.returncode, 0, r.stderr)
        data = json.loads(r.stdout)["data"]
        self.assertEqual((data["name"], data["participant_list"]), ("conf-100", []))

    def test_show_unknown_conference(self):
        r = self.ctl("conference", "show", "nope")
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertTrue(r.stderr.startswith("error 444: "), r.stderr)
        self.assertIn("nope", r.stderr)
        r = self.ctl("--json", "conference", "show", "nope")
        self.assertEqual(r.returncode, 1)
        reply = json.loads(r.stdout)
        self.assertEqual((reply["response"], reply["error_code"]), ("error", 444))

    def test_show_unknown_name_escaped(self):
        # The daemon's error text quotes the name; the terminal must not
        # see the raw ESC.
        r = self.ctl("conference", "show", "x\x1b[2Jy")
        self.assertEqual(r.returncode, 1)
        self.assertNotIn("\x1b", r.stderr)
        self.assertIn("x\\x1b[2Jy", r.stderr)

    def test_send_without_participants(self):
        r = self.ctl("conference", "send", "conf-100", "hello")
        self.assertEqual((r.returncode, r.stdout), (0, "delivered to 0 participant(s)\n"),
                         r.stderr)
        r = self.ctl("conference", "send", "conf-100", "<b>hi</b>", "--from", "Operator",
                     "--type", "text/html")
        self.assertEqual((r.returncode, r.stdout), (0, "delivered to 0 participant(s)\n"),
                         r.stderr)
        r = self.ctl("--json", "conference", "send", "conf-100", "hello")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["data"], {"delivered_to": 0})

    def test_send_errors(self):
        r = self.ctl("conference", "send", "nope", "hello")
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith("error 444: "), r.stderr)
        r = self.ctl("conference", "send", "conf-100", "hello", "--type", "not a type")
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith("error 444: "), r.stderr)

    def test_kick_unknown_id(self):
        r = self.ctl("conference", "kick", "conf-100", "4242")
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertTrue(r.stderr.startswith("error 444: "), r.stderr)
        self.assertIn("4242", r.stderr)
        r = self.ctl("--json", "conference", "kick", "conf-100", "4242")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stdout)["error_code"], 444)

    def test_participant_show_send_kick(self):
        events = subprocess.Popen([sbtest.CTL, "-s", self.d.sock_path, "--json", "events",
                                   "conference"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        sipp = None
        try:
            stream = LineReader(events)
            self.assertEqual(stream.line(10)["response"], "success")    # the watch
            sipp = self.start_participant()
            joined = stream.event("joined")
            pid = joined["id"]
            self.check_show_participant(pid)

            r = self.ctl("conference", "list")
            self.assertRegex(r.stdout, r"(?m)^conf-100 +conf-100 +1/50 ")

            r = self.ctl("conference", "send", "conf-100", "hello from the CLI", "--from",
                         "Operator")
            self.assertEqual((r.returncode, r.stdout), (0, "delivered to 1 participant(s)\n"),
                             r.stderr)
            msg = stream.event("message")
            self.assertEqual(msg["from"], "Operator")

            r = self.ctl("conference", "kick", "conf-100", str(pid))
            self.assertEqual((r.returncode, r.stdout), (0, "kicked participant %d\n" % pid),
                             r.stderr)
            left = stream.event("left")
            self.assertEqual((left["id"], left["reason"]), (pid, "kicked by control client"))
            # sipp got the BYE, answered it and ends successfully.
            self.assertEqual(sipp.wait(timeout=sbtest.bounded(10)), 0, self.sipp_output())

            sbtest.wait_for(lambda: self.ctl("conference", "show", "conf-100").stdout
                            .endswith("\nno participants\n"), 5, "the participant to go")
            r = self.ctl("conference", "kick", "conf-100", str(pid))
            self.assertEqual(r.returncode, 1)
        finally:
            if sipp is not None and sipp.poll() is None:
                sipp.kill()
                sipp.wait()
            events.terminate()
            self.assertEqual(events.wait(timeout=sbtest.bounded(5)), 0)
            events.stdout.close()

    def start_participant(self):
        """sipp as conf-100's participant, in the background.  The idle
        hold (5 s) is scaled like every other bound."""
        with open(os.path.join(sbtest.SIPP_DIR, "cli_participant.xml")) as f:
            xml = f.read().replace('timeout="5000"', 'timeout="%d"' % sbtest.bounded(5000))
        path = os.path.join(self.d.dir, "cli_participant.xml")
        with open(path, "w") as f:
            f.write(xml)
        cmd = ["sipp", "-sf", path, "127.0.0.1:%d" % self.d.port, "-i", "127.0.0.1",
               "-p", str(sbtest.free_port()), "-t", "u1", "-m", "1", "-nostdin",
               "-timeout", "%ds" % sbtest.bounded(30), "-timeout_error", "-max_retrans", "3",
               "-trace_err"]
        # Output to a file: an unread pipe could fill and stall sipp.
        with open(os.path.join(self.d.dir, "sipp.out"), "wb") as out:
            return subprocess.Popen(cmd, cwd=self.d.dir, stdout=out, stderr=subprocess.STDOUT)

    def sipp_output(self):
        with open(os.path.join(self.d.dir, "sipp.out"), "rb") as f:
            return f.read().decode(errors="replace")[-3000:]

    def check_show_participant(self, pid):
        r = self.ctl("--json", "conference", "show", "conf-100")
        self.assertEqual(r.returncode, 0, r.stderr)
        data = json.loads(r.stdout)["data"]
        self.assertEqual(data["participants"], 1)
        part = data["participant_list"][0]
        self.assertEqual((part["id"], part["display_name"], part["state"]),
                         (pid, "CLI Tester", "active"))
        self.assertIn("clitester@", part["uri"])

        r = self.ctl("conference", "show", "conf-100")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("participants: 1 of 50\n", r.stdout)
        lines = r.stdout.splitlines()
        head = [l for l in lines if l.startswith("ID ")]
        self.assertEqual(len(head), 1, r.stdout)
        self.assertEqual(re.split(r"  +", head[0]), ["ID", "DISPLAY NAME", "URI", "JOINED",
                                                     "STATE", "SENT", "RECEIVED", "FAILURES"])
        row = lines[lines.index(head[0]) + 1]
        self.assertEqual(re.split(r"  +", row)[:5],
                         [str(pid), "CLI Tester", part["uri"],
                          time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(part["joined_at"])),
                          "active"])
        self.assertEqual(row.index("active"), head[0].index("STATE"))


class CliConferenceFake(sbtest.unittest.TestCase):
    """What goes on the wire, what is refused before it, and how replies
    print, against a fake daemon."""

    def setUp(self):
        self.fake = FakeDaemon()

    def tearDown(self):
        self.fake.close()

    def sent(self, *args):
        r = ctl_at(self.fake.path, *args)
        self.assertEqual(r.returncode, 0, r)
        req = self.fake.requests[-1]
        req.pop("transaction")
        return req

    def test_requests(self):
        self.assertEqual(self.sent("conference", "list"), {"request": "conference_list"})
        self.assertEqual(self.sent("conference", "show", "c1"),
                         {"request": "conference_info", "name": "c1"})
        # No --from/--type: the keys stay out and the daemon's defaults apply.
        self.assertEqual(self.sent("conference", "send", "c1", "hi there"),
                         {"request": "conference_send", "name": "c1", "body": "hi there"})
        self.assertEqual(self.sent("conference", "send", "--from", "Op", "c1", "hi",
                                   "--type", "text/html"),
                         {"request": "conference_send", "name": "c1", "body": "hi",
                          "from": "Op", "content_type": "text/html"})
        self.assertEqual(self.sent("conference", "send", "c1", "--", "-starts with a dash"),
                         {"request": "conference_send", "name": "c1",
                          "body": "-starts with a dash"})
        req = self.sent("conference", "kick", "c1", "9007199254740993")
        self.assertEqual(req, {"request": "conference_kick", "name": "c1",
                               "id": 9007199254740993})
        self.assertIsInstance(req["id"], int)

    def test_usage_errors_before_connecting(self):
        cases = [
            ["conference"],
            ["conference", "bogus"],
            ["conference", "list", "extra"],
            ["conference", "show"],
            ["conference", "show", "a", "b"],
            ["conference", "send", "c1"],
            ["conference", "send", "c1", "a", "b"],
            ["conference", "send", "c1", ""],
            ["conference", "send", "c1", "hi", "--type", ""],
            ["conference", "send", "c1", "hi", "--from"],
            ["conference", "kick", "c1"],
            ["conference", "kick", "c1", "0"],
            ["conference", "kick", "c1", "-3"],
            ["conference", "kick", "c1", "+3"],
            ["conference", "kick", "c1", " 3"],
            ["conference", "kick", "c1", "3x"],
            ["conference", "kick", "c1", "1.5"],
            ["conference", "kick", "c1", ""],
            ["conference", "kick", "c1", "9223372036854775808"],
            ["conference", "show", "c1", "--from", "x"],
            ["--type", "text/plain", "status"],
            [b"conference", b"show", b"bad\xffutf8"],
            [b"conference", b"send", b"c1", b"\xc3"],
        ]
        for args in cases:
            with self.subTest(args=args):
                r = ctl_at("/nonexistent/x.sock", *args)
                self.assertEqual(r.returncode, EX_USAGE, r)
                self.assertEqual(r.stdout, b"")
                self.assertTrue(r.stderr.startswith(b"sipbridgectl: "), r.stderr)
        self.assertEqual(self.fake.requests, [])
        r = ctl_at("/nonexistent/x.sock", "conference", "kick", "c1", "x")
        self.assertIn(b"ID must be a positive integer", r.stderr)

    def test_help_lists_subcommands(self):
        r = subprocess.run([sbtest.CTL, "--help"], capture_output=True, text=True,
                           timeout=sbtest.bounded(10))
        self.assertEqual(r.returncode, 0)
        for word in ("conference list", "conference show NAME", "conference send NAME TEXT",
                     "conference kick NAME ID", "--from", "--type"):
            self.assertIn(word, r.stdout)

    def test_list_escapes_and_aligns(self):
        self.fake.data = {"conferences": [
            {"name": "a\x1b[31m", "user": "u\x07", "participants": 2, "max_participants": 10,
             "messages": 12345, "failures": 1},
            {"name": "b", "user": "sales", "participants": 0, "max_participants": 50,
             "messages": 0, "failures": 0}]}
        r = ctl_at(self.fake.path, "conference", "list")
        self.assertEqual(r.returncode, 0, r)
        out = r.stdout.decode()
        self.assertNotIn("\x1b", out)
        self.assertNotIn("\x07", out)
        self.assertEqual(out.splitlines(), [
            "NAME       USER   PARTICIPANTS  MESSAGES  FAILURES",
            "a\\x1b[31m  u\\x07  2/10          12345     1",
            "b          sales  0/50          0         0",
        ])

    def test_list_empty(self):
        self.fake.data = {"conferences": []}
        r = ctl_at(self.fake.path, "conference", "list")
        self.assertEqual((r.returncode, r.stdout), (0, b"no conferences\n"))

    def test_show_participants(self):
        joined = 1700000000.25
        self.fake.data = {
            "name": "c1", "user": "c1", "participants": 2, "max_participants": 50,
            "messages": 3, "deliveries": 5, "failures": 0, "removed": 0,
            "store_dropped": 0, "history": 0,
            "participant_list": [
                {"id": 1, "display_name": "Al\x9bice", "uri": "sip:a@h\r\nX: y",
                 "joined_at": joined, "state": "active", "messages_sent": 2,
                 "messages_received": 1, "failures": 0, "consecutive_failures": 0},
                {"id": 12, "display_name": "", "uri": "sip:b@h", "joined_at": joined,
                 "state": "joining", "messages_sent": 0, "messages_received": 0,
                 "failures": 3, "consecutive_failures": 3}]}
        r = ctl_at(self.fake.path, "conference", "show", "c1")
        self.assertEqual(r.returncode, 0, r)
        out = r.stdout.decode()
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(joined))
        self.assertEqual(out, (
            "conference c1 (user c1)\n"
            "participants: 2 of 50\n"
            "messages: 3\n"
            "deliveries: 5\n"
            "failures: 0\n"
            "removed: 0\n"
            "store_dropped: 0\n"
            "history: 0\n"
            "\n"
            "ID  DISPLAY NAME  URI                  JOINED               STATE    SENT  RECEIVED"
            "  FAILURES\n"
            "1   Al\\u009bice   sip:a@h\\x0d\\x0aX: y  %s  active   2     1         0\n"
            "12  -             sip:b@h              %s  joining  0     0         3\n")
            % (when, when))
        self.assertRegex(when, ISO)

    def test_send_and_kick_output(self):
        self.fake.data = {"delivered_to": 3}
        r = ctl_at(self.fake.path, "conference", "send", "c1", "x")
        self.assertEqual(r.stdout, b"delivered to 3 participant(s)\n")
        self.fake.data = {"kicked": 7}
        r = ctl_at(self.fake.path, "conference", "kick", "c1", "7")
        self.assertEqual(r.stdout, b"kicked participant 7\n")
        r = ctl_at(self.fake.path, "--json", "conference", "kick", "c1", "7")
        self.assertEqual(json.loads(r.stdout)["data"], {"kicked": 7})


if __name__ == "__main__":
    sbtest.main()
