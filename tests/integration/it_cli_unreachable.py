"""sipbridgectl when the daemon cannot be reached, and its usage handling.

Exit codes under test (docs/cli.md): 2 when the daemon cannot be reached or
does not answer in time, 64 for usage errors, 0 for --help.  The only fake
here is a socket that accepts and then never answers: there is no way to get
the real daemon into that state on purpose.  Tests against the real daemon
live in the other it_cli_*/it_control_* files.
"""
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import unittest

BUILD = os.environ.get("SB_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
CTL = os.path.join(BUILD, "sipbridgectl")
MULT = float(os.environ.get("SB_TIMEOUT_MULT", "1"))

EX_UNREACHABLE = 2
EX_USAGE = 64


def ctl(*args, env=None, timeout=15):
    e = dict(os.environ)
    e.pop("SIPBRIDGE_SOCKET", None)
    e.update(env or {})
    return subprocess.run([CTL] + list(args), capture_output=True, text=True, env=e,
                          timeout=timeout * MULT)


class SilentServer:
    """A listening Unix socket that accepts, reads the request, never replies."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.sock.settimeout(0.1)
        self.lines = []
        self.conns = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(c)
            c.settimeout(0.1)
            buf = b""
            while not self.stopping and b"\n" not in buf:
                try:
                    chunk = c.recv(4096)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                buf += chunk
            if b"\n" in buf:
                self.lines.append(buf.split(b"\n", 1)[0])

    def close(self):
        self.stopping = True
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


class CliUnreachable(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.access(CTL, os.X_OK), "%s not built" % CTL)
        self.tmp = tempfile.TemporaryDirectory(prefix="sbcli-")

    def tearDown(self):
        self.tmp.cleanup()

    def assertUnreachable(self, r, path, text):
        self.assertEqual(r.returncode, EX_UNREACHABLE, r)
        self.assertIn(path, r.stderr)
        self.assertIn(text, r.stderr)
        self.assertEqual(r.stdout, "")

    def test_missing_socket(self):
        r = ctl("-s", "/nonexistent/x.sock", "status")
        self.assertUnreachable(r, "/nonexistent/x.sock", "No such file or directory")
        self.assertIn("sipbridgectl: cannot connect to /nonexistent/x.sock", r.stderr)

    def test_every_command_reports_unreachable(self):
        for args in (["status"], ["debug", "on"], ["reload"], ["version"],
                     ["raw", '{"request":"status"}'], ["events"], ["--json", "status"]):
            with self.subTest(args=args):
                r = ctl("-s", "/nonexistent/x.sock", *args)
                self.assertUnreachable(r, "/nonexistent/x.sock", "No such file or directory")

    def test_socket_from_environment(self):
        r = ctl("status", env={"SIPBRIDGE_SOCKET": "/nonexistent/env.sock"})
        self.assertUnreachable(r, "/nonexistent/env.sock", "No such file or directory")
        # -s wins over the environment.
        r = ctl("-s", "/nonexistent/opt.sock", "status",
                env={"SIPBRIDGE_SOCKET": "/nonexistent/env.sock"})
        self.assertUnreachable(r, "/nonexistent/opt.sock", "No such file or directory")

    def test_connection_refused(self):
        # A socket file nobody listens on any more: what a crashed daemon leaves.
        path = os.path.join(self.tmp.name, "stale.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.close()
        r = ctl("-s", path, "status")
        self.assertUnreachable(r, path, "Connection refused")

    def test_path_too_long(self):
        path = "/tmp/" + "x" * 200 + ".sock"
        r = ctl("-s", path, "status")
        self.assertUnreachable(r, path, "File name too long")

    def test_nobody_answers(self):
        path = os.path.join(self.tmp.name, "silent.sock")
        srv = SilentServer(path)
        try:
            t0 = time.monotonic()
            r = ctl("-s", path, "-t", "1", "status")
            elapsed = time.monotonic() - t0
        finally:
            srv.close()
        self.assertUnreachable(r, path, "timed out waiting for reply")
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 8 * MULT)
        # The request that went unanswered was well formed.
        self.assertEqual(len(srv.lines), 1, srv.lines)
        req = json.loads(srv.lines[0])
        self.assertEqual(req["request"], "status")
        self.assertRegex(req["transaction"], r"^ctl-\d+-\d+$")

    def test_nobody_answers_watch(self):
        # "events" must time out on the watch reply too, and asks for all
        # topics as ["*"] when none are given.
        path = os.path.join(self.tmp.name, "silent.sock")
        srv = SilentServer(path)
        try:
            r = ctl("-s", path, "--timeout", "0.5", "events")
            r2 = ctl("-s", path, "-t", "0.5", "events", "daemon", "mwi")
        finally:
            srv.close()
        self.assertUnreachable(r, path, "timed out waiting for reply")
        self.assertUnreachable(r2, path, "timed out waiting for reply")
        reqs = [json.loads(l) for l in srv.lines]
        self.assertEqual([q["request"] for q in reqs], ["watch", "watch"])
        self.assertEqual(reqs[0]["topics"], ["*"])
        self.assertEqual(reqs[1]["topics"], ["daemon", "mwi"])

    def test_help(self):
        for opt in ("--help", "-h"):
            with self.subTest(opt=opt):
                r = ctl(opt)
                self.assertEqual(r.returncode, 0, r)
                self.assertIn("Usage: sipbridgectl", r.stdout)
                for word in ("status", "debug", "reload", "version", "raw", "events",
                             "--json", "--socket", "--timeout", "--follow",
                             "/run/sipbridge/control.sock", "SIPBRIDGE_SOCKET"):
                    self.assertIn(word, r.stdout)
                self.assertEqual(r.stderr, "")

    def test_version_option(self):
        r = ctl("--version")
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout, r"^sipbridgectl \S+\n$")

    def test_usage_errors(self):
        # Usage errors are found before connecting: with a socket that does
        # not exist, a connect attempt would give 2, not 64.
        cases = [
            ["frobnicate"],
            [],
            ["status", "extra"],
            ["debug"],
            ["debug", "maybe"],
            ["raw"],
            ["raw", "not json"],
            ["raw", "[1, 2]"],
            ["--follow", "status"],
            ["-t", "soon", "status"],
            ["-t", "-1", "status"],
            ["--no-such-option", "status"],
            ["-s"],
        ]
        for args in cases:
            with self.subTest(args=args):
                r = ctl("-s", "/nonexistent/x.sock", *args) if args != ["-s"] else ctl("-s")
                self.assertEqual(r.returncode, EX_USAGE, r)
                self.assertTrue(r.stderr.startswith("sipbridgectl: "), r.stderr)
                self.assertEqual(r.stdout, "")
        r = ctl("-s", "/nonexistent/x.sock", "frobnicate")
        self.assertIn("unknown command 'frobnicate'", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
