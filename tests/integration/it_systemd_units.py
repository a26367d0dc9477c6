"""systemd/sipbridged.service and systemd/sipbridge.sysusers.conf are valid.

- `systemd-analyze verify` reports nothing about the unit.  It insists that
  ExecStart= exists, so a copy of the unit whose ExecStart points at the
  built daemon is verified.
- `systemd-analyze security --offline=yes` rates the unit OK or SAFE.
- `systemd-sysusers` accepts the sysusers file and creates the user the unit
  runs as, with the unit's StateDirectory as home (into a temp root).

None of this needs a running systemd, so it works as root in a container.
A missing tool is a failure, not a skip: install the `systemd` package.
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

BUILD = os.environ.get("SB_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
SOURCE = os.environ.get("SB_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
UNIT = os.path.abspath(os.path.join(SOURCE, "systemd", "sipbridged.service"))
SYSUSERS = os.path.abspath(os.path.join(SOURCE, "systemd", "sipbridge.sysusers.conf"))
INSTALLED_DAEMON = "/usr/sbin/sipbridged"
ENV = dict(os.environ, SYSTEMD_COLORS="0", SYSTEMD_PAGER="", LC_ALL="C.UTF-8")


def tool(name):
    path = shutil.which(name)
    if path is None:
        raise AssertionError("%s not found: install the `systemd` package "
                             "(apt-get install systemd)" % name)
    return path


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=60, **kw)


def unit_settings(path):
    """{(section, key): [values]} of a unit file, continuation lines joined."""
    settings, section, pending = {}, None, ""
    with open(path) as f:
        for raw in f:
            line = pending + raw.rstrip("\n")
            pending = ""
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            settings.setdefault((section, key.strip()), []).append(value.strip())
    return settings


class SystemdUnits(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="sbunits-")

    def tearDown(self):
        self.tmp.cleanup()

    def daemon_for_verify(self):
        """The built daemon; a stand-in executable if this build has none
        (the unit's syntax, not the daemon, is under test here)."""
        built = os.path.abspath(os.path.join(BUILD, "sipbridged"))
        if os.access(built, os.X_OK):
            return built
        stub = os.path.join(self.tmp.name, "sipbridged")
        with open(stub, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(stub, 0o755)
        print("note: %s not built, verifying with a stand-in" % built)
        return stub

    def test_verify(self):
        analyze = tool("systemd-analyze")
        with open(UNIT) as f:
            text = f.read()
        self.assertIn("ExecStart=%s " % INSTALLED_DAEMON, text)
        copy = os.path.join(self.tmp.name, "sipbridged.service")
        with open(copy, "w") as f:
            f.write(text.replace(INSTALLED_DAEMON, self.daemon_for_verify()))
        r = run([analyze, "verify", "--man=no", "--generators=no", copy])
        out = r.stdout + r.stderr
        ours = [l for l in out.splitlines()
                if "sipbridge" in l or self.tmp.name in l]
        self.assertEqual(ours, [], "systemd-analyze verify complained:\n" + out)
        self.assertEqual(r.returncode, 0, "systemd-analyze verify failed:\n" + out)

    def test_verify_catches_mistakes(self):
        # The check above would be worthless if verify stayed silent on a bad
        # unit in this environment.
        analyze = tool("systemd-analyze")
        copy = os.path.join(self.tmp.name, "sipbridged.service")
        with open(UNIT) as f:
            text = f.read()
        with open(copy, "w") as f:
            f.write(text.replace(INSTALLED_DAEMON, self.daemon_for_verify())
                    .replace("[Service]\n", "[Service]\nNoSuchSetting=1\n"))
        r = run([analyze, "verify", "--man=no", "--generators=no", copy])
        self.assertIn("NoSuchSetting", r.stdout + r.stderr)

    def test_security_rating(self):
        analyze = tool("systemd-analyze")
        r = run([analyze, "security", "--offline=yes", "--no-pager", UNIT])
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", out)
        self.assertIsNotNone(m, "no exposure level in:\n" + out)
        level, rating = float(m.group(1)), m.group(2)
        self.assertIn(rating, ("OK", "SAFE"), "rated %s %s:\n%s" % (level, rating, out))
        self.assertLessEqual(level, 4.9)

    def test_unit_settings(self):
        s = unit_settings(UNIT)

        def one(key):
            v = s.get(("Service", key))
            self.assertIsNotNone(v, "%s= missing" % key)
            return v[-1]

        self.assertEqual(one("Type"), "notify")
        self.assertEqual(one("NotifyAccess"), "main")
        self.assertEqual(one("ExecStart"),
                         "%s -f -c /etc/sipbridge/sipbridge.conf" % INSTALLED_DAEMON)
        self.assertEqual(one("ExecReload"), "/bin/kill -HUP $MAINPID")
        self.assertEqual(one("User"), "sipbridge")
        self.assertEqual(one("Group"), "sipbridge")
        self.assertEqual(one("RuntimeDirectory"), "sipbridge")
        self.assertEqual(one("RuntimeDirectoryMode"), "0750")
        self.assertEqual(one("StateDirectory"), "sipbridge")
        self.assertEqual(one("WatchdogSec"), "30")
        self.assertEqual(one("Restart"), "on-failure")
        self.assertEqual(one("CapabilityBoundingSet"), "")
        self.assertEqual(one("LimitNOFILE"), "65536")
        families = one("RestrictAddressFamilies").split()
        for fam in ("AF_UNIX", "AF_INET", "AF_INET6"):
            self.assertIn(fam, families)
        self.assertNotIn(("Service", "IPAddressDeny"), s)  # a network daemon
        self.assertEqual(s.get(("Install", "WantedBy")), ["multi-user.target"])

    def test_sysusers(self):
        sysusers = tool("systemd-sysusers")
        root = os.path.join(self.tmp.name, "root")
        os.makedirs(os.path.join(root, "etc"))
        r = run([sysusers, "--dry-run", "--root=" + root, SYSUSERS])
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        self.assertIn("Creating group 'sipbridge'", out)
        self.assertIn("Creating user 'sipbridge'", out)

        # For real, into the temp root: the user the unit runs as, at home in
        # its StateDirectory, unable to log in.
        r = run([sysusers, "--root=" + root, SYSUSERS])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(root, "etc", "passwd")) as f:
            users = {l.split(":")[0]: l.rstrip("\n").split(":") for l in f if l.strip()}
        with open(os.path.join(root, "etc", "group")) as f:
            groups = {l.split(":")[0]: l.rstrip("\n").split(":") for l in f if l.strip()}
        s = unit_settings(UNIT)
        user = s[("Service", "User")][-1]
        group = s[("Service", "Group")][-1]
        self.assertIn(user, users)
        self.assertIn(group, groups)
        entry = users[user]
        self.assertLess(int(entry[2]), 1000, "not a system user: %r" % entry)
        self.assertEqual(entry[3], groups[group][2], "primary group is not %s" % group)
        self.assertEqual(entry[5], "/var/lib/" + s[("Service", "StateDirectory")][-1])
        self.assertTrue(entry[6].endswith("nologin"), entry)


if __name__ == "__main__":
    unittest.main(verbosity=2)
