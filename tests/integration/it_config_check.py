"""sipbridged --check-config: exit 0 for a good file, exit 1 naming
FILE:LINE and the key for every problem in a bad one."""
import os
import subprocess
import sbtest


def check(path):
    return subprocess.run([sbtest.DAEMON, "--check-config", "-c", path], capture_output=True,
                          text=True, timeout=sbtest.bounded(10))


class CheckConfig(sbtest.unittest.TestCase):
    def setUp(self):
        self.dir = sbtest.tempfile.mkdtemp(prefix="sbcheck-")
        self.base = ("[global]\ntype=global\nstate_dir=%s\n"
                     "[udp]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n"
                     "[control]\ntype=control\nsocket=%s/c.sock\n" % (self.dir, self.dir))

    def tearDown(self):
        sbtest.shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, text, name="sipbridge.conf"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def assert_error(self, text, *needles):
        path = self.write(text)
        r = check(path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        for n in needles:
            self.assertIn(n % {"f": path}, r.stderr)

    def test_shipped_config_is_valid(self):
        r = check(os.path.join(sbtest.SOURCE, "etc", "sipbridge.conf"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)

    def test_generated_config_is_valid(self):
        self.assertEqual(check(self.write(self.base)).returncode, 0)

    def test_unknown_key(self):
        # line 8 is the bogus key inside [udp]
        self.assert_error(self.base.replace("bind=127.0.0.1:5060\n", "bind=127.0.0.1:5060\nbnd=1\n"),
                          "%(f)s:8: [udp] key 'bnd': unknown key for type=transport")

    def test_bad_port(self):
        self.assert_error(self.base.replace("5060", "99999"),
                          "%(f)s:7: [udp] bind '127.0.0.1:99999': port out of range")

    def test_control_group_must_exist(self):
        """A missing group would fail only at start (chgrp of the socket)."""
        self.assert_error(self.base + "group=no-such-group-sbtest\n",
                          "%(f)s:11: [control] group: no group 'no-such-group-sbtest' on "
                          "this host")
        self.assertEqual(check(self.write(self.base + "group=root\n")).returncode, 0)
        self.assertEqual(check(self.write(self.base + "group=0\n")).returncode, 0)
        self.assert_error(self.base + "group=root,0\n",
                          "%(f)s:11: [control] group: one group, not a list")

    def test_missing_required_key(self):
        self.assert_error(self.base + "[pg]\ntype=database\nmax_queue=10\n",
                          "%(f)s:11: [pg] type=database: missing required key 'conninfo'")

    def test_every_error_reported_at_once(self):
        text = (self.base.replace("5060", "0").replace("type=global\n", "type=global\nfoo=1\n")
                + "[pg]\ntype=database\n")
        path = self.write(text)
        r = check(path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:3: [global] key 'foo'" % path, r.stderr)
        self.assertIn("port", r.stderr)
        self.assertIn("missing required key 'conninfo'", r.stderr)

    def test_error_in_included_file_names_that_file(self):
        inc = self.write("[extra]\ntype=database\nconninfo=hostaddr=127.0.0.1\nretry_min=abc\n",
                         "extra.conf")
        self.assert_error(self.base + "#include extra.conf\n",
                          "%s:4: [extra] retry_min" % inc)

    def test_two_binds_of_one_address(self):
        self.assert_error(self.base + "[udp2]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:5060\n",
                          "%(f)s:14: [udp2] bind '127.0.0.1:5060': already bound by [udp]")

    def test_transports_nua_cannot_bind_together(self):
        # UDP and TCP on different addresses: sofia-sip's nua binds one SIP URL.
        self.assert_error(self.base + "[tcp]\ntype=transport\nprotocol=tcp\nbind=127.0.0.2:5070\n",
                          "%(f)s:11: [tcp] type=transport: sofia-sip binds UDP and TCP on one address")

    def test_two_objects_owning_one_user_part(self):
        text = (self.base + "[conf-a]\ntype=conference\nuser=100\n"
                "[conf-b]\ntype=conference\nuser=100\n")
        path = self.write(text)
        r = check(path)
        self.assertEqual(r.returncode, 1, r.stderr)
        # Both objects are named, each with its FILE:LINE.
        self.assertIn("%s:16: [conf-b] type=conference: user part '100' is already owned by "
                      "[conf-a] (type=conference) at %s:13" % (path, path), r.stderr)

    def test_conference_database_must_exist(self):
        self.assert_error(self.base + "[c]\ntype=conference\nuser=c\nstore=yes\ndatabase=nope\n",
                          "%(f)s:15: [c] database 'nope': no type=database section")

    def test_conference_store_needs_database(self):
        self.assert_error(self.base + "[c]\ntype=conference\nuser=c\nstore=yes\n",
                          "%(f)s:14: [c] store=yes needs database=NAME")

    def test_conference_bad_content_type(self):
        self.assert_error(self.base + "[c]\ntype=conference\nuser=c\ncontent_types=text/*, bogus\n",
                          "%(f)s:14: [c] content_types: 'bogus' is not")

    def test_tls_files_must_be_readable(self):
        self.assert_error(self.base + "[tls]\ntype=transport\nprotocol=tls\nbind=127.0.0.1:5061\n"
                          "cert_file=/nonexistent/x.pem\npriv_key_file=/x.key\n",
                          "%(f)s:15: [tls] cert_file '/nonexistent/x.pem': No such file")

    def test_tls_keys_only_with_tls(self):
        self.assert_error(self.base + "[tcp2]\ntype=transport\nprotocol=tcp\nbind=127.0.0.1:5062\n"
                          "verify_client=yes\n",
                          "%(f)s:15: [tcp2] key 'verify_client': only allowed with protocol=tls")

    def test_missing_file(self):
        r = check(os.path.join(self.dir, "nope.conf"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("nope.conf", r.stderr)


if __name__ == "__main__":
    sbtest.main()
