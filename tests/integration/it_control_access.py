"""Who may use the control socket: file mode and group, peer credentials.

  * test_socket_mode_and_group: the socket file gets the configured mode
    and group, and a reload applies new ones.
  * test_uid_not_allowed_is_refused: with allow_users naming another uid,
    our client gets error 463 and is disconnected, logged with its pid,
    uid and gid; a reload that allows our uid (or our gid through
    allow_groups) lets it in, and status counts the refusal.
  * test_max_clients: the client beyond max_clients gets 464; once one
    leaves, the next gets in.
  * test_unknown_user_or_group_is_a_config_error
"""
import grp
import json
import os
import signal
import socket
import stat
import subprocess
import unittest

import sbtest


def connect_raw(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(sbtest.bounded(5))
    s.connect(path)
    return s


def try_connect(path):
    try:
        return connect_raw(path)
    except OSError:
        return None


def read_all(s):
    """Everything until the daemon closes the connection."""
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def reload(d, control_extra, mode="0600"):
    n = d.log().count("configuration reloaded")
    text = d.config_text(control_extra=control_extra)
    with open(d.conf, "w") as f:
        f.write(text.replace("mode=0600\n", "mode=%s\n" % mode))
    d.signal(signal.SIGHUP)
    sbtest.wait_for(lambda: d.log().count("configuration reloaded") > n, 10, "reload")


class AccessTest(unittest.TestCase):
    def test_socket_mode_and_group(self):
        gid = os.getgid()
        group = grp.getgrgid(gid).gr_name
        with sbtest.Daemon(control_extra="group=%s\n" % group) as d:
            st = os.stat(d.sock_path)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
            self.assertEqual(st.st_gid, gid)
            reload(d, "group=%d\n" % gid, mode="0640")     # a gid works as well
            self.assertEqual(stat.S_IMODE(os.stat(d.sock_path).st_mode), 0o640)
            self.assertNotIn("does not exist", d.log())

    def test_uid_not_allowed_is_refused(self):
        uid, gid = os.getuid(), os.getgid()
        other = uid + 4242
        # Daemon.start() waits for the control socket to answer status,
        # which a refused uid cannot get: start it by hand.
        d = sbtest.Daemon(control_extra="allow_users=%d\n" % other, start=False)
        try:
            d.logf = open(d.log_path, "wb")
            d.proc = subprocess.Popen(sbtest.WRAPPER + [sbtest.DAEMON, "-f", "-c", d.conf],
                                      stdout=d.logf, stderr=subprocess.STDOUT)
            sbtest.wait_for(lambda: os.path.exists(d.sock_path), 10, "control socket")
            # The refusal comes at connect time, before any request.
            s = sbtest.wait_for(lambda: try_connect(d.sock_path), 10, "a connection")
            reply = read_all(s)
            s.close()
            msg = json.loads(reply.decode().splitlines()[0])
            self.assertEqual(msg["response"], "error")
            self.assertNotIn("transaction", msg)
            self.assertEqual(msg["error_code"], 463)
            self.assertIn("uid %d" % uid, msg["error"])
            d.wait_log("client pid %d refused: uid %d gid %d" % (os.getpid(), uid, gid))
            # sipbridgectl says why, whether or not its request got out.
            for _ in range(3):
                r = d.ctl("status")
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn("is not allowed on this control socket", r.stderr + r.stdout)
            # Our gid through allow_groups lets us in.
            reload(d, "allow_users=%d\nallow_groups=%d\n" % (other, gid))
            self.assertEqual(d.status()["control"]["refused"], 4)
            d.wait_log("connected: pid %d, uid %d, gid %d" % (os.getpid(), uid, gid))
            # And our uid through allow_users.
            reload(d, "allow_users=%d, %d\n" % (other, uid))
            self.assertEqual(d.request({"request": "status"})["response"], "success")
        finally:
            d.stop()
            d.cleanup()

    def test_max_clients(self):
        with sbtest.Daemon(control_extra="max_clients=2\n") as d:
            a = sbtest.Client(d.sock_path)
            b = sbtest.Client(d.sock_path)
            self.assertEqual(a.request({"request": "status"})["response"], "success")
            s = connect_raw(d.sock_path)
            msg = json.loads(read_all(s).decode().splitlines()[0])
            s.close()
            self.assertEqual(msg["error_code"], 464)
            self.assertIn("max_clients 2", msg["error"])
            a.close()
            sbtest.wait_for(lambda: b.request({"request": "status"})["data"]["control"]
                            ["clients"] == 1, 5, "one client left")
            c = sbtest.Client(d.sock_path)
            self.assertEqual(c.request({"request": "status"})["response"], "success")
            c.close()
            b.close()

    def test_unknown_user_or_group_is_a_config_error(self):
        for key in ("allow_users", "allow_groups"):
            d = sbtest.Daemon(control_extra="%s=root, no-such-name-sb\n" % key, start=False)
            try:
                r = subprocess.run([sbtest.DAEMON, "--check-config", "-c", d.conf],
                                   capture_output=True, text=True, timeout=sbtest.bounded(10))
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn("[control] %s: no %s 'no-such-name-sb' on this host"
                              % (key, "user" if key == "allow_users" else "group"), r.stderr)
            finally:
                d.cleanup()


if __name__ == "__main__":
    sbtest.main()
