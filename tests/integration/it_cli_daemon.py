"""sipbridgectl against the real daemon: every command, human and --json
output, exit codes 0 (success) and 1 (error reply)."""
import json
import subprocess
import time
import sbtest


class CliDaemon(sbtest.DaemonCase):
    def test_status_human(self):
        r = self.d.ctl("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sipbridged 0.1.0", r.stdout)
        self.assertIn("udp 127.0.0.1:%d" % self.d.port, r.stdout)
        self.assertIn("tcp 127.0.0.1:%d" % self.d.port, r.stdout)

    def test_status_json(self):
        r = self.d.ctl("--json", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        reply = json.loads(r.stdout)
        self.assertEqual(reply["response"], "success")
        self.assertEqual(reply["data"]["pid"], self.d.proc.pid)

    def test_version(self):
        r = self.d.ctl("version")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "sipbridged 0.1.0"))

    def test_debug_on_off(self):
        self.assertEqual(self.d.ctl("debug", "on").returncode, 0)
        self.assertTrue(self.d.status()["debug"])
        self.assertEqual(self.d.sipp("options.xml").returncode, 0)
        self.d.wait_log("OPTIONS sip:127.0.0.1")    # the trace shows the request
        self.assertEqual(self.d.ctl("debug", "off").returncode, 0)
        self.assertFalse(self.d.status()["debug"])

    def test_debug_bad_argument_is_usage_error(self):
        self.assertEqual(self.d.ctl("debug", "maybe").returncode, 64)

    def test_reload_success_and_failure(self):
        self.assertEqual(self.d.ctl("reload").returncode, 0)
        with open(self.d.conf) as f:
            good = f.read()
        try:
            self.d.write_config(good + "\n[broken]\ntype=nonsense\n")
            r = self.d.ctl("reload")
            self.assertEqual(r.returncode, 1)
            self.assertIn("461", r.stderr)
            self.assertIn("nonsense", r.stderr)
        finally:
            self.d.write_config(good)

    def test_raw_error_reply_exit_1(self):
        r = self.d.ctl("raw", '{"request":"nope"}')
        self.assertEqual(r.returncode, 1)
        self.assertEqual(json.loads(r.stdout.strip().splitlines()[-1])["error_code"], 442)

    def test_raw_success(self):
        r = self.d.ctl("raw", '{"request":"version","transaction":"mine"}')
        self.assertEqual(r.returncode, 0)
        reply = json.loads(r.stdout)
        self.assertEqual((reply["response"], reply["transaction"]), ("success", "mine"))

    def test_events_stream_reload_event(self):
        p = subprocess.Popen([sbtest.CTL, "-s", self.d.sock_path, "--json", "events", "daemon"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # The watch reply comes first; then trigger an event.
            sbtest.wait_for(lambda: self.d.status()["control"]["clients"] >= 2, 5, "events client")
            time.sleep(0.2)
            self.assertEqual(self.d.ctl("reload").returncode, 0)
            deadline = time.monotonic() + sbtest.bounded(5)
            seen = None
            while time.monotonic() < deadline and seen is None:
                line = p.stdout.readline()
                if not line:
                    break
                m = json.loads(line)
                if m.get("sipbridge") == "event":
                    seen = m
            self.assertIsNotNone(seen, "no event streamed")
            self.assertEqual(seen["topic"], "daemon")
            self.assertEqual(seen["result"]["event"], "reloaded")
        finally:
            p.terminate()
            self.assertEqual(p.wait(timeout=sbtest.bounded(5)), 0)
            p.stdout.close()
            p.stderr.close()

    def test_raw_follow_prints_events(self):
        p = subprocess.Popen([sbtest.CTL, "-s", self.d.sock_path, "raw", "--follow",
                              '{"request":"watch","topics":["daemon"]}'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = json.loads(p.stdout.readline())
            self.assertEqual(first["response"], "success")
            self.assertEqual(self.d.ctl("reload").returncode, 0)
            ev = json.loads(p.stdout.readline())
            self.assertEqual(ev["result"]["event"], "reloaded")
        finally:
            p.terminate()
            p.wait(timeout=sbtest.bounded(5))
            p.stdout.close()
            p.stderr.close()


if __name__ == "__main__":
    sbtest.main()
