"""Daemon behaviour: the start-up line lists the listeners; without -f it
goes to the background once ready; the idle loop does not spin; the UDP
receive buffer is what the config asks."""
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
