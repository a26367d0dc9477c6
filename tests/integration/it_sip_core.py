"""SIP core: OPTIONS answered 200, requests for no owner 404, unknown
methods 501 with Allow, over UDP and TCP, on the real daemon."""
import sbtest


class SipCore(sbtest.DaemonCase):
    def run_scenario(self, name, transport):
        r = self.d.sipp(name, transport=transport)
        self.assertEqual(r.returncode, 0, "%s over %s failed:\n%s\n%s\n%s"
                         % (name, transport, r.stdout[-2000:], r.stderr[-2000:], self.d.log()[-3000:]))

    def test_options_udp(self):
        self.run_scenario("options.xml", "u1")

    def test_options_tcp(self):
        self.run_scenario("options.xml", "t1")

    def test_invite_unknown_user_404_udp(self):
        self.run_scenario("invite_404.xml", "u1")

    def test_invite_unknown_user_404_tcp(self):
        self.run_scenario("invite_404.xml", "t1")

    def test_message_unknown_user_404(self):
        self.run_scenario("message_404.xml", "u1")

    def test_unknown_method_501_with_allow(self):
        self.run_scenario("unknown_method.xml", "u1")

    def test_counters_count_requests(self):
        before = self.d.status()["counters"]["sip"]
        self.run_scenario("options.xml", "u1")
        self.run_scenario("message_404.xml", "u1")
        after = self.d.status()["counters"]["sip"]
        self.assertEqual(after["options"], before["options"] + 1)
        self.assertEqual(after["not_found"], before["not_found"] + 1)


if __name__ == "__main__":
    sbtest.main()
