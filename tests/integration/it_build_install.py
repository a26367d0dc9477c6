"""cmake --install puts the daemon, the CLI, the config, the systemd unit
and the sysusers file where a system expects them."""
import os
import subprocess
import sbtest


class Install(sbtest.unittest.TestCase):
    def test_install_tree(self):
        dest = sbtest.tempfile.mkdtemp(prefix="sbinstall-")
        try:
            r = subprocess.run(["cmake", "--install", sbtest.BUILD, "--prefix", "/usr"],
                               env=dict(os.environ, DESTDIR=dest), capture_output=True,
                               text=True, timeout=sbtest.bounded(60))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            files = set()
            for root, _, names in os.walk(dest):
                files.update(os.path.relpath(os.path.join(root, n), dest) for n in names)
            for want in ("usr/sbin/sipbridged", "usr/bin/sipbridgectl",
                         "usr/lib/systemd/system/sipbridged.service",
                         "usr/lib/sysusers.d/sipbridge.conf"):
                self.assertIn(want, files)
            conf = [f for f in files if f.endswith("sipbridge/sipbridge.conf")]
            self.assertEqual(len(conf), 1, files)
            for exe in ("usr/sbin/sipbridged", "usr/bin/sipbridgectl"):
                self.assertTrue(os.access(os.path.join(dest, exe), os.X_OK))
            # The installed binary validates the installed config.
            r = subprocess.run([os.path.join(dest, "usr/sbin/sipbridged"), "--check-config",
                                "-c", os.path.join(dest, conf[0])], capture_output=True,
                               text=True, timeout=sbtest.bounded(10))
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            sbtest.shutil.rmtree(dest, ignore_errors=True)


if __name__ == "__main__":
    sbtest.main()
