#!/usr/bin/env python3
"""it_db_reconnect - the db module against a real PostgreSQL server.

Acceptance: queries run; the server is killed and restarted; the module
reconnects by itself and the queries queued meanwhile complete, in order,
with the right answers; the loop never blocks (a 20 ms timer in the probe
keeps firing on time); the status counters add up.  Also: the queue is
bounded (-EAGAIN past max_queue) and what it holds is delivered on
recovery, a name in host= is refused, queries pending at shutdown get
their callback (also when the db is destroyed from a callback), a reload
with a new conninfo reconnects, and a peer that never answers the startup
packet is cut by connect_timeout while the loop runs on.

Drives tests/db_probe (see db_probe.c for its line protocol) and
pgfixture.PgServer.  Bounded: every probe answer has a timeout and the
whole test an alarm well under ctest's limit.
"""

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgfixture import PgServer  # noqa: E402

DEADLINE_S = 55
# Worst lateness allowed for the probe's 20 ms timer.  A blocking connect
# (synchronous name lookup, PQconnectdb, or waiting on a refused/killed
# server) stalls the loop for at least one connect round trip and usually
# seconds; normal scheduling jitter, even under ASan, stays well below this.
MAX_LATE_MS = 100


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def expect(probe, line, want, timeout=10):
    """Send a command, fail with what came back if it is not @want."""
    got = probe.cmd(line, timeout)
    check(got == want, "%r: got %r, want %r" % (line, got, want))


def probe_path():
    path = os.environ.get("SB_DB_PROBE")
    if path:
        return path
    build = os.environ.get("SB_BUILD_DIR")
    check(build, "SB_BUILD_DIR is not set (run through ctest)")
    return os.path.join(build, "tests", "db_probe")


class Probe:
    """tests/db_probe as a child process, one command per line."""

    def __init__(self):
        path = probe_path()
        check(os.access(path, os.X_OK), "%s is not built" % path)
        env = dict(os.environ)
        env.setdefault("SB_LOG_LEVEL", "info")
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     bufsize=1, env=env)
        self.lines = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read(self, timeout=10):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TestFailure("db_probe gave no answer within %ss" % timeout)
        check(line is not None,
              "db_probe exited (status %s)" % self.proc.poll())
        return line

    def cmd(self, line, timeout=10):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.read(timeout)

    def status(self):
        return json.loads(self.cmd("status"))

    def wait_done(self, secs):
        """'wait' and parse 'done ok=.. bad=.. errors=.. outstanding=..'."""
        line = self.cmd("wait %s" % secs, timeout=secs + 5)
        words = line.split(" ", 5)
        fields = dict(w.split("=", 1) for w in words[1:])
        check(words[0] == "done",
              "queries still outstanding after %ss: %s" % (secs, line))
        check(fields["bad"] == "0", "wrong answers: %s" % line)
        return {k: (int(v) if v.isdigit() else v) for k, v in fields.items()}

    def lateness(self):
        words = self.cmd("lateness").split()
        return float(words[1]), int(words[3])

    def close(self):
        """Quit (if not yet), wait for a clean exit: LeakSanitizer runs then."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            except OSError:
                pass  # already quitting
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TestFailure("db_probe did not exit on quit")
        check(self.proc.returncode == 0,
              "db_probe exit status %d (sanitizer report above?)"
              % self.proc.returncode)


def wait_status(probe, pred, secs, what):
    """Poll the probe's status until pred(status), at most secs."""
    end = time.monotonic() + secs
    while True:
        st = probe.status()
        if pred(st):
            return st
        if time.monotonic() > end:
            raise TestFailure("%s: not reached in %ss, status %s"
                              % (what, secs, st))
        time.sleep(0.05)


def test_kill_and_restart(pg):
    probe = Probe()
    started = time.monotonic()
    try:
        expect(probe, "connect 1000 " + pg.conninfo, "ok")
        expect(probe, "prepare", "ok")

        # Queries run; a server-side error is delivered, not retried.
        expect(probe, "query 100", "queued 100 eagain 0")
        expect(probe, "bad", "queued 1 eagain 0")
        done = probe.wait_done(10)
        check(done["ok"] == 100 and done["errors"] == 1, "first batch: %s"
              % done)
        st = probe.status()
        check(st["state"] == "connected" and st["completed"] == 100
              and st["failed"] == 1 and st["sent"] == 101
              and st["connects"] == 1, "status after first batch: %s" % st)

        # A query in flight when the server dies is sent again later.
        expect(probe, "slow 2", "queued 1 eagain 0")
        wait_status(probe, lambda s: s["sent"] == 102, 5, "slow query sent")
        time.sleep(0.3)
        pg.kill()

        # While the server is down, queries wait in the queue and the
        # module keeps trying with backoff (100, 200, 400, 800 ms...).
        expect(probe, "query 50", "queued 50 eagain 0")
        st = wait_status(probe, lambda s: s["attempts"] >= 4, 10,
                         "reconnect attempts while the server is down")
        check(st["state"] in ("backoff", "connecting"),
              "state while down: %s" % st)
        check(st["queued"] == 51 and st["completed"] == 100,
              "queue while down: %s" % st)
        check(st["disconnects"] == 1 and st["retried"] == 1,
              "in-flight query not marked for retry: %s" % st)
        check(st["last_error"], "no last_error while down: %s" % st)

        # Same port: the module finds it again by itself.
        pg.start()
        done = probe.wait_done(20)
        check(done["ok"] == 151 and done["errors"] == 1,
              "after restart: %s" % done)
        st = probe.status()
        check(st["state"] == "connected" and st["queued"] == 0
              and st["connects"] == 2 and st["disconnects"] == 1
              and st["completed"] == 151 and st["failed"] == 1
              and st["retried"] == 1 and st["last_error"] is None,
              "status after recovery: %s" % st)
        check(st["sent"] == st["completed"] + st["failed"] + st["retried"],
              "sent != completed + failed + retried: %s" % st)

        # The server ends our session (not a crash): same recovery.
        expect(probe, "slow 2", "queued 1 eagain 0")
        wait_status(probe, lambda s: s["sent"] == st["sent"] + 1, 5,
                    "slow query sent")
        time.sleep(0.3)
        killed = pg.psql("SELECT count(pg_terminate_backend(pid)) FROM "
                         "pg_stat_activity WHERE query LIKE '%pg_sleep($2)%' "
                         "AND pid <> pg_backend_pid()").strip()
        check(killed == "1", "terminated %s sessions, not 1" % killed)
        done = probe.wait_done(15)
        check(done["ok"] == 152, "after pg_terminate_backend: %s" % done)
        st = probe.status()
        check(st["state"] == "connected" and st["connects"] == 3
              and st["disconnects"] == 2 and st["retried"] == 2
              and st["completed"] == 152,
              "status after pg_terminate_backend: %s" % st)
        check(st["sent"] == st["completed"] + st["failed"] + st["retried"],
              "sent != completed + failed + retried: %s" % st)

        late, ticks = probe.lateness()
        elapsed_ms = (time.monotonic() - started) * 1000
        check(ticks >= elapsed_ms / 20 * 0.5,
              "timer ran %d times in %.0f ms" % (ticks, elapsed_ms))
        check(late < MAX_LATE_MS,
              "event loop blocked: timer %.1f ms late (max %d)"
              % (late, MAX_LATE_MS))
        print("PASS kill/restart: 152 queries, timer worst %.1f ms late, %s"
              % (late, st))
    finally:
        probe.close()


def test_bounded_queue(pg):
    probe = Probe()
    try:
        # A host name would mean a blocking lookup: refused up front.
        r = probe.cmd("connect 10 host=localhost port=%d dbname=%s"
                      % (pg.port, pg.dbname))
        check(r == "error -22", "host=localhost accepted: %s" % r)

        # Start while the server is down: the queue holds max_queue.
        pg.kill()
        expect(probe, "connect 10 " + pg.conninfo, "ok")
        expect(probe, "prepare", "ok")
        r = probe.cmd("query 15")
        check(r == "queued 10 eagain 5", "bounded queue: %s" % r)
        st = wait_status(probe, lambda s: s["attempts"] >= 2, 5,
                         "connect attempts")
        check(st["queued"] == 10 and st["state"] != "connected",
              "status while down: %s" % st)

        # Delivered on recovery, and the queue takes new work again.
        pg.start()
        done = probe.wait_done(15)
        check(done["ok"] == 10, "queued while down: %s" % done)
        expect(probe, "query 3", "queued 3 eagain 0")
        check(probe.wait_done(10)["ok"] == 13, "after recovery")

        # A new conninfo (reload) reconnects; queued queries follow.
        expect(probe, "reconfigure %s application_name=sbtest" % pg.conninfo,
               "ok")
        expect(probe, "query 5", "queued 5 eagain 0")
        check(probe.wait_done(10)["ok"] == 18, "after reconfigure")
        st = probe.status()
        check(st["state"] == "connected" and st["connects"] == 2,
              "status after reconfigure: %s" % st)

        # db_destroy() from inside a result callback: the other pending
        # queries are answered with the shutdown error, nothing is touched
        # after the free (ASan would tell), a new db can be made.
        expect(probe, "destroyincb 5", "queued 5 eagain 0")
        r = probe.read(10)
        check(r == "destroyed shutdown_errors=4", "destroy in callback: %s" % r)
        expect(probe, "connect 10 " + pg.conninfo, "ok")
        expect(probe, "prepare", "ok")
        expect(probe, "query 2", "queued 2 eagain 0")
        probe.wait_done(10)

        late, _ = probe.lateness()
        check(late < MAX_LATE_MS,
              "event loop blocked: timer %.1f ms late" % late)

        # Pending queries get their callback at shutdown.
        pg.kill()
        expect(probe, "query 4", "queued 4 eagain 0")
        r = probe.cmd("quit")
        check(r == "bye shutdown_errors=4", "shutdown delivery: %s" % r)
        print("PASS bounded queue, delivery on recovery and at shutdown")
    finally:
        probe.close()
        if not pg.running:
            pg.start()


def test_connect_timeout():
    """A peer that accepts TCP but never answers the startup packet: the
    connect must time out on the module's timer, with the loop running."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # never accept()ed, never answered
        port = silent.getsockname()[1]
        probe = Probe()
        try:
            expect(probe, "connect 10 hostaddr=127.0.0.1 port=%d dbname=x "
                   "user=x" % port, "ok")
            expect(probe, "prepare", "ok")
            expect(probe, "query 2", "queued 2 eagain 0")
            # connect_timeout is 2000 ms in the probe.
            st = wait_status(probe, lambda s: "timed out" in
                             (s["last_error"] or ""), 6, "connect timeout")
            check(st["state"] in ("backoff", "connecting")
                  and st["queued"] == 2 and st["connects"] == 0,
                  "status after connect timeout: %s" % st)
            late, _ = probe.lateness()
            check(late < MAX_LATE_MS,
                  "event loop blocked while connecting: timer %.1f ms late"
                  % late)
            r = probe.cmd("quit")
            check(r == "bye shutdown_errors=2", "shutdown: %s" % r)
            print("PASS connect timeout against a silent peer, timer worst "
                  "%.1f ms late" % late)
        finally:
            probe.close()


def on_alarm(signum, frame):
    raise TestFailure("test exceeded %d s" % DEADLINE_S)


def main():
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit("terminated"))
    signal.alarm(DEADLINE_S)
    pg = PgServer()
    try:
        pg.start()
        test_kill_and_restart(pg)
        test_bounded_queue(pg)
        test_connect_timeout()
    except TestFailure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        print(pg.log_tail(), file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        pg.stop()
    print("it_db_reconnect: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
