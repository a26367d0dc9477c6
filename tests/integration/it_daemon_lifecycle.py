"""Daemon behaviour: the start-up line lists the listeners; without -f it
goes to the background once ready; a start-up that fails after the SIP
stack is up exits 1, not abort; a second daemon does not take a live
control socket; the idle loop does not spin; the UDP receive buffer is
what the config asks."""
import os
import re
import signal
import subprocess
import time
import sbtest


class Lifecycle(sbtest.unittest.TestCase):
    def test_startup_line_lists_listeners(self):
        with sbtest.Daemon() as d:
            d.wait_log("listening on udp 127.0.0.1:%d, tcp 127.0.0.1:%d; control socket %s"
                       % (d.port, d.port, d.sock_path))

    def test_background_mode_returns_when_ready(self):
        d = sbtest.Daemon(start=False)
        try:
            r = subprocess.run([sbtest.DAEMON, "-c", d.conf], capture_output=True, text=True,
                               timeout=sbtest.bounded(10))
            # The parent returns only once the child listens: no wait needed.
            self.assertEqual(r.returncode, 0, r.stderr)
            c = d.client()
            st = c.request({"request": "status"})["data"]
            c.close()
            self.assertNotEqual(st["pid"], os.getpid())
            os.kill(st["pid"], signal.SIGTERM)
            sbtest.wait_for(lambda: not os.path.exists("/proc/%d" % st["pid"]), 5,
                            "background daemon to exit")
        finally:
            d.cleanup()

    def test_background_mode_start_failure_exits_1(self):
        d = sbtest.Daemon(start=False)
        try:
            with sbtest.Daemon() as holder:     # holds the port
                d.write_config(d.config_text(port=holder.port))
                r = subprocess.run([sbtest.DAEMON, "-c", d.conf], capture_output=True,
                                   text=True, timeout=sbtest.bounded(10))
                self.assertEqual(r.returncode, 1)
        finally:
            d.cleanup()

    def test_start_failure_after_the_sip_stack_exits_1(self):
        """The control socket is made after the SIP stack: its failure used to
        end in sofia's assertion (nua_destroy before nua_shutdown), SIGABRT."""
        d = sbtest.Daemon(start=False)
        self.addCleanup(d.cleanup)
        bad = os.path.join(d.dir, "no-such-dir", "control.sock")
        d.write_config(d.config_text().replace("socket=%s" % d.sock_path, "socket=%s" % bad))
        r = subprocess.run([sbtest.DAEMON, "-f", "-c", d.conf], capture_output=True, text=True,
                           timeout=sbtest.bounded(10))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot listen on %s: No such file or directory" % bad, r.stderr)
        self.assertIn("start-up failed", r.stderr)
        self.assertNotIn("Assertion", r.stderr)

    def test_live_control_socket_is_not_taken_over(self):
        """A second daemon given the first one's socket (other SIP ports)
        refuses to start; the first keeps its socket."""
        with sbtest.Daemon() as first:
            d = sbtest.Daemon(start=False)
            self.addCleanup(d.cleanup)
            d.write_config(d.config_text().replace("socket=%s" % d.sock_path,
                                                   "socket=%s" % first.sock_path))
            r = subprocess.run([sbtest.DAEMON, "-f", "-c", d.conf], capture_output=True,
                               text=True, timeout=sbtest.bounded(10))
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("control socket %s is in use by a running daemon" % first.sock_path,
                          r.stderr)
            self.assertEqual(first.status()["pid"], first.proc.pid)
        # A socket file left by a crash is still replaced.
        d2 = sbtest.Daemon(start=False)
        self.addCleanup(d2.cleanup)
        stale = sbtest.socket.socket(sbtest.socket.AF_UNIX, sbtest.socket.SOCK_STREAM)
        stale.bind(d2.sock_path)
        stale.close()
        d2.start()
        self.assertTrue(d2.alive())
        d2.stop()

    def test_idle_loop_does_not_spin(self):
        # nua's own 1 s timer is the floor; a 1 ms re-arm bug would give ~1000/s.
        with sbtest.Daemon() as d:
            w0 = d.status()["counters"]["loop"]["wakeups"]
            time.sleep(3)
            w1 = d.status()["counters"]["loop"]["wakeups"]
            self.assertLessEqual(w1 - w0, 3 + 3, "driver woke %d times in 3 s" % (w1 - w0))

    def test_udp_receive_buffer_applied(self):
        d = sbtest.Daemon(start=False)
        try:
            d.write_config(d.config_text().replace("type=global\n",
                                                   "type=global\nudp_recv_buffer=3M\n"))
            d.start()
            out = subprocess.run(["ss", "-u", "-l", "-n", "-m", "-p"], capture_output=True,
                                 text=True, timeout=10).stdout
            # The socket line is followed by its skmem line.
            m = re.search(r"127\.0\.0\.1:%d\b.*?pid=%d.*?\n\s*skmem:\(([^)]*)\)"
                          % (d.port, d.proc.pid), out, re.S)
            self.assertIsNotNone(m, out)
            rb = int(re.search(r"rb(\d+)", m.group(1)).group(1))
            self.assertGreaterEqual(rb, 3 << 20, m.group(0))
            d.stop()
        finally:
            d.cleanup()


if __name__ == "__main__":
    sbtest.main()
