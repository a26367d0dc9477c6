"""sd_notify against a test-owned NOTIFY_SOCKET: READY at start, RELOADING
then READY on reload, WATCHDOG pings, STOPPING on SIGTERM, exit 0."""
import os
import signal
import socket
import time
import sbtest


class Notify(sbtest.unittest.TestCase):
    def setUp(self):
        self.tmp = sbtest.tempfile.mkdtemp(prefix="sbnotify-")
        self.path = os.path.join(self.tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(sbtest.bounded(5))
        self.msgs = []

    def tearDown(self):
        self.sock.close()
        sbtest.shutil.rmtree(self.tmp, ignore_errors=True)

    def expect(self, key, timeout=5):
        """Read datagrams until one carries key; return its fields."""
        deadline = time.monotonic() + sbtest.bounded(timeout)
        while time.monotonic() < deadline:
            data = self.sock.recv(4096).decode()
            fields = dict(l.split("=", 1) for l in data.split("\n") if "=" in l)
            self.msgs.append(fields)
            if key in fields:
                return fields
        raise AssertionError("no %s in %r" % (key, self.msgs))

    def test_ready_reload_watchdog_stopping(self):
        env = {"NOTIFY_SOCKET": self.path, "WATCHDOG_USEC": "400000"}
        d = sbtest.Daemon(env=env, start=False)
        try:
            d.start()
            self.assertEqual(self.expect("READY")["READY"], "1")
            # Two pings at half the 400 ms interval.
            self.expect("WATCHDOG")
            self.expect("WATCHDOG")
            d.signal(signal.SIGHUP)
            self.assertEqual(self.expect("RELOADING")["RELOADING"], "1")
            self.assertEqual(self.expect("READY")["READY"], "1")
            # A reload through the control socket notifies the same way.
            self.assertEqual(d.request({"request": "reload"})["response"], "success")
            self.expect("RELOADING")
            self.expect("READY")
            d.signal(signal.SIGTERM)
            self.assertEqual(self.expect("STOPPING")["STOPPING"], "1")
            self.assertEqual(d.proc.wait(timeout=sbtest.bounded(5)), 0)
        finally:
            d.cleanup()

    def test_no_watchdog_pings_without_watchdog_usec(self):
        d = sbtest.Daemon(env={"NOTIFY_SOCKET": self.path}, start=False)
        try:
            d.start()
            self.expect("READY")
            self.sock.settimeout(1.0)
            with self.assertRaises(socket.timeout):
                self.expect("WATCHDOG", timeout=1)
            d.stop()
        finally:
            d.cleanup()


if __name__ == "__main__":
    sbtest.main()
