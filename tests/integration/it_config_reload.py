"""Reload: a broken file changes nothing; a transport change is refused
with "restart required"; a log level change is applied; control clients
stay connected throughout."""
import signal
import sbtest


class Reload(sbtest.unittest.TestCase):
    def setUp(self):
        self.d = sbtest.Daemon(log_level="info")
        self.watcher = self.d.client()
        self.watcher.request({"request": "watch", "topics": ["daemon"]})

    def tearDown(self):
        try:
            self.d.stop()
        finally:
            self.d.cleanup()

    def test_sighup_broken_config_keeps_running_config(self):
        self.d.write_config(self.d.config_text(log_level="debug").replace(
            "type=global\n", "type=global\nbogus_key=1\n"))
        self.d.signal(signal.SIGHUP)
        ev = self.watcher.event()
        self.assertEqual(ev["result"]["event"], "reload_failed")
        self.assertIn("bogus_key", ev["result"]["error"])
        self.assertIn("sipbridge.conf:", ev["result"]["error"])
        self.d.wait_log("reload of %s rejected" % self.d.conf)
        self.assertIn("bogus_key", self.d.log())
        st = self.d.status()
        self.assertEqual(st["log_level"], "info")
        self.assertEqual(st["counters"]["config"]["reload_failures"], 1)
        self.assertEqual(self.d.sipp("options.xml").returncode, 0)

    def test_reload_request_with_broken_config_is_error_461(self):
        self.d.write_config("[global]\ntype=global\nlog_level=loud\n")
        r = self.d.request({"request": "reload"})
        self.assertEqual(r["response"], "error")
        self.assertEqual(r["error_code"], 461)
        self.assertIn("log_level", r["error"])
        self.assertEqual(self.d.status()["log_level"], "info")

    def test_transport_change_refused_nothing_changed(self):
        other = sbtest.free_port()
        self.d.write_config(self.d.config_text(log_level="debug", port=other))
        r = self.d.request({"request": "reload"})
        self.assertEqual(r["error_code"], 461)
        self.assertIn("restart required", r["error"])
        st = self.d.status()
        # Nothing changed: not the transports and not the log level either.
        self.assertEqual({l["port"] for l in st["listeners"]}, {self.d.port})
        self.assertEqual(st["log_level"], "info")
        self.assertEqual(self.d.sipp("options.xml").returncode, 0)
        self.d.wait_log("restart required")

    def test_log_level_change_applied(self):
        self.d.write_config(self.d.config_text(log_level="debug"))
        self.d.signal(signal.SIGHUP)
        self.assertEqual(self.watcher.event()["result"]["event"], "reloaded")
        st = self.d.status()
        self.assertEqual(st["log_level"], "debug")
        self.assertEqual(st["counters"]["config"]["reloads"], 1)
        # Debug lines now appear in the log; the watcher is still connected.
        self.assertEqual(self.watcher.request({"request": "version"})["response"], "success")
        self.d.wait_log(" debug ")

    def test_reload_request_success(self):
        r = self.d.request({"request": "reload"})
        self.assertEqual(r["response"], "success")
        self.assertEqual(self.watcher.event()["result"]["event"], "reloaded")


if __name__ == "__main__":
    sbtest.main()
