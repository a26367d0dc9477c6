"""sbtest - harness for sipbridge integration tests.

Starts the real sipbridged on free loopback ports with a generated config,
talks to its control socket, runs sipp and sipbridgectl against it.  Python
standard library only.  Every wait is bounded; SB_TIMEOUT_MULT scales the
bounds for sanitizer or valgrind runs.  SB_KEEP=1 keeps the temp dirs.
SB_WRAPPER, a command prefix split like a shell would, is put in front of
every sipbridged started here (tests/valgrind sets it to valgrind ...).

    with Daemon() as d:
        assert d.request({"request": "status"})["response"] == "success"
        assert d.sipp("options.xml").returncode == 0
"""
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BUILD = os.environ.get("SB_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
SOURCE = os.environ.get("SB_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
HERE = os.path.dirname(os.path.abspath(__file__))
SIPP_DIR = os.path.join(HERE, "sipp")
MULT = float(os.environ.get("SB_TIMEOUT_MULT", "1"))
DAEMON = os.path.join(BUILD, "sipbridged")
CTL = os.path.join(BUILD, "sipbridgectl")
WRAPPER = shlex.split(os.environ.get("SB_WRAPPER", ""))


# Every password and secret this process handed a daemon (config files and
# control requests): none may ever show in a daemon's log or in `status`.
# Short values ("p", "x") would match ordinary words, so only those of
# SECRET_MIN characters and more are looked for.
SECRETS = set()
SECRET_MIN = 6
SECRET_KEYS = ("secret", "ha1_secret", "password")
_SECRET_CONF = re.compile(r"(?im)^\s*(?:password|md5_cred|ha1)\s*=>?\s*(\S+)\s*$")


def note_secret(value):
    if isinstance(value, str) and len(value) >= SECRET_MIN:
        SECRETS.add(value)


def check_no_secrets(text, where):
    leaked = sorted(s for s in SECRETS if s in text)
    if leaked:
        lines = [l for l in text.splitlines() if any(s in l for s in leaked)][:5]
        raise AssertionError("secret(s) %r in %s:\n%s" % (leaked, where, "\n".join(lines)))


def bounded(seconds):
    return seconds * MULT


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port free for both UDP and TCP on host."""
    for _ in range(50):
        t = socket.socket(family, socket.SOCK_STREAM)
        t.bind((host, 0))
        port = t.getsockname()[1]
        u = socket.socket(family, socket.SOCK_DGRAM)
        try:
            u.bind((host, port))
        except OSError:
            continue
        finally:
            u.close()
            t.close()
        return port
    raise RuntimeError("no free port")


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + bounded(timeout)
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out after %.1fs waiting for %s" % (bounded(timeout), what))


class Client:
    """One control-socket connection speaking JSON lines."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(bounded(timeout))
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.buf = b""
        self.pending = []   # lines read while waiting for something else
        self.n = 0

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, obj):
        if isinstance(obj, dict):
            for k in SECRET_KEYS:
                note_secret(obj.get(k))
        self.send_raw(json.dumps(obj).encode() + b"\n")

    def read_line(self):
        """Next line as a dict, or None on EOF."""
        if self.pending:
            return self.pending.pop(0)
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, obj):
        """Send a request with a fresh transaction; return its reply."""
        self.n += 1
        obj = dict(obj)
        obj.setdefault("transaction", "t%d" % self.n)
        self.send(obj)
        return self.wait(lambda m: m.get("transaction") == obj["transaction"] and "response" in m)

    def wait(self, pred):
        skipped = []
        try:
            while True:
                m = self.read_line()
                if m is None:
                    raise AssertionError("control connection closed")
                if pred(m):
                    return m
                skipped.append(m)
        finally:
            self.pending = skipped + self.pending

    def event(self, pred=lambda m: True):
        return self.wait(lambda m: ("sipbridge" in m or "sip" in m) and pred(m))


class Daemon:
    """The real sipbridged on free loopback ports, in a temp dir."""

    def __init__(self, extra="", log_level="info", transports=("udp", "tcp"),
                 env=None, start=True, control_extra="", global_extra=""):
        self.global_extra = global_extra
        self.dir = tempfile.mkdtemp(prefix="sbtest-")
        self.port = free_port()
        self.sock_path = os.path.join(self.dir, "control.sock")
        self.conf = os.path.join(self.dir, "sipbridge.conf")
        self.log_path = os.path.join(self.dir, "daemon.log")
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.write_config(self.config_text(extra, log_level, transports, control_extra))
        if start:
            self.start()

    def config_text(self, extra="", log_level="info", transports=("udp", "tcp"),
                    control_extra="", port=None):
        port = port or self.port
        parts = ["[global]\ntype=global\nlog_level=%s\nstate_dir=%s/state\n%s"
                 % (log_level, self.dir, getattr(self, "global_extra", ""))]
        for proto in transports:
            parts.append("[transport-%s]\ntype=transport\nprotocol=%s\nbind=127.0.0.1:%d\n"
                         % (proto, proto, port))
        parts.append("[control]\ntype=control\nsocket=%s\nmode=0600\n%s" % (self.sock_path, control_extra))
        parts.append(extra)
        return "\n".join(parts)

    def write_config(self, text):
        for v in _SECRET_CONF.findall(text):
            note_secret(v)
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self):
        if getattr(self, "logf", None) is not None:
            self.logf.close()     # a restart
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(WRAPPER + [DAEMON, "-f", "-c", self.conf],
                                     stdout=self.logf, stderr=subprocess.STDOUT, env=self.env)
        wait_for(self._answers, 10, "the daemon's control socket")
        return self

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("sipbridged exited with %s:\n%s" % (self.proc.returncode, self.log()))
        try:
            c = Client(self.sock_path, timeout=2)
        except OSError:
            return False
        try:
            return c.request({"request": "version"}).get("response") == "success"
        finally:
            c.close()

    def client(self):
        return Client(self.sock_path)

    def request(self, obj):
        c = self.client()
        try:
            return c.request(obj)
        finally:
            c.close()

    def status(self):
        r = self.request({"request": "status"})
        assert r["response"] == "success", r
        check_no_secrets(json.dumps(r), "status")
        return r["data"]

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, text, timeout=5):
        return wait_for(lambda: text in self.log(), timeout, "log line %r" % text)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, check=True):
        """SIGTERM; the daemon must exit 0 within 5 s."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=bounded(5))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("sipbridged did not stop within 5 s of SIGTERM")
        if check and rc != 0:
            raise AssertionError("sipbridged exited %d:\n%s" % (rc, self.log()))
        if check:
            check_no_secrets(self.log(), "the daemon log " + self.log_path)
        return rc

    def ctl(self, *args, timeout=15):
        return subprocess.run([CTL, "-s", self.sock_path] + list(args), capture_output=True,
                              text=True, timeout=bounded(timeout))

    def sipp(self, scenario, transport="u1", count=1, extra=(), timeout=20, port=None):
        return run_sipp(scenario, "127.0.0.1:%d" % (port or self.port), transport, count,
                        extra, timeout, self.dir)

    def cleanup(self):
        try:
            if self.alive() and WRAPPER:
                # Under a wrapper (valgrind), SIGTERM first so it can report.
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=bounded(5))
                except subprocess.TimeoutExpired:
                    pass
            if self.alive():
                self.proc.kill()
                self.proc.wait()
            if self.proc is not None:
                self.logf.close()
        finally:
            if os.environ.get("SB_KEEP"):
                print("kept", self.dir, file=sys.stderr)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None and self.proc is not None:
            sys.stderr.write("---- daemon log (%s) ----\n%s\n" % (self.log_path, self.log()))
        try:
            if et is None:
                self.stop()
        finally:
            self.cleanup()


# The SIP API behind a trunk: requests from 127.0.0.1 (endpoint "asterisk")
# reach the handle registered with the Request-URI's user part.
API_TRUNK_CONF = ("[asterisk]\ntype=endpoint\nidentify_by=ip\n"
                  "[asterisk-ip]\ntype=identify\nendpoint=asterisk\nmatch=127.0.0.1\n"
                  "[api]\ntype=api\ntrunk=asterisk\nno_answer_timeout=2\n")


class DaemonCase(unittest.TestCase):
    """A test class sharing one daemon, started with the config text EXTRA
    and stopped (exit 0 within 5 s of SIGTERM) after its last test."""
    EXTRA = ""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(extra=cls.EXTRA)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop()
        finally:
            cls.d.cleanup()


def ctl_at(sock_path, *args, timeout=15):
    return subprocess.run([CTL, "-s", sock_path] + list(args), capture_output=True,
                          timeout=bounded(timeout))


def handle_event(client, handle, name, timeout=10):
    """The next SIP API event NAME of HANDLE on CLIENT (others skipped)."""
    end = time.monotonic() + bounded(timeout)
    while time.monotonic() < end:
        m = client.read_line()
        if m.get("handle_id") == handle and m.get("result", {}).get("event") == name:
            return m
    raise AssertionError("no %s event for handle %s" % (name, handle))


class FakeDaemon:
    """A control socket that records each request line and answers it with
    REPLY ({"response":"success","data":DATA} when None; its transaction
    filled in), then the lines AFTER (events, say), then closes."""
    reply = None
    after = ()

    def __init__(self, data=None):
        self.dir = tempfile.mkdtemp(prefix="sbfake-")
        self.path = os.path.join(self.dir, "control.sock")
        self.data = data if data is not None else {}
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                self._answer(conn)

    def _answer(self, conn):
        conn.settimeout(bounded(5))
        buf = b""
        try:
            while b"\n" not in buf:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
        except OSError:
            return
        req = json.loads(buf.split(b"\n", 1)[0])
        self.requests.append(req)
        reply = dict(self.reply or {"response": "success", "data": self.data})
        reply["transaction"] = req.get("transaction")
        lines = [reply] + list(self.after)
        try:
            conn.sendall(b"".join(json.dumps(m).encode() + b"\n" for m in lines))
        except OSError:
            pass

    def close(self):
        self.stopping = True
        self.thread.join(timeout=bounded(5))
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_sipp(scenario, target, transport="u1", count=1, extra=(), timeout=20, cwd=None):
    """Run a sipp client scenario (tests/integration/sipp/NAME) once per call."""
    path = scenario if os.path.isabs(scenario) else os.path.join(SIPP_DIR, scenario)
    port = free_port()
    cmd = ["sipp", "-sf", path, target, "-i", "127.0.0.1", "-p", str(port), "-t", transport,
           "-m", str(count), "-nostdin", "-timeout", "%ds" % bounded(timeout), "-timeout_error",
           "-max_retrans", "3", "-trace_err"] + list(extra)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=bounded(timeout) + 10,
                          cwd=cwd)


def main():
    unittest.main(verbosity=2)
