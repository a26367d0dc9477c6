"""bash completion for sipbridgectl (etc/bash-completion/sipbridgectl).

The script is sourced by a non-interactive bash that calls _sipbridgectl
with COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT set as bash would, PATH
leading to the built sipbridgectl.  Against the real daemon with two
conferences, a device state set with `sipbridgectl state set-device` and
one participant (chatsip.UA): commands, sub-commands, options, debug
on|off, conference names (from -s, --socket=, $SIPBRIDGE_SOCKET),
participant ids, device names (a name with ':' split by COMP_WORDBREAKS
too).  Both parsers: python3 on the --json replies, and awk on the human
tables (PATH without python3).  With the daemon gone: quick, nothing from
the daemon, no stderr.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import chatsip
import sbtest

SCRIPT = os.path.join(sbtest.SOURCE, "etc", "bash-completion", "sipbridgectl")
CONFIG = chatsip.conf_section("conf-100") + chatsip.conf_section("sales-room", user="sales")
COMMANDS = ["status", "debug", "reload", "version", "raw", "events", "handles",
            "conference", "state", "publish", "mwi"]
OPTIONS = ["-s", "--socket", "-t", "--timeout", "--json", "--follow", "--from", "--type",
           "-h", "--help", "-V", "--version"]
BASH = shutil.which("bash") or "/bin/bash"


def wordbreak_split(line):
    """COMP_WORDS as bash splits @line: on blanks, runs of the
    COMP_WORDBREAKS characters ':' and '=' being words of their own, and
    an empty last word after a trailing blank."""
    words = []
    for w in line.split(" "):
        words.extend(re.findall(r"[:=]+|[^:=]+", w))
    if line.endswith(" "):
        words.append("")
    return words


def complete(line, env=None, path=None, timeout=20):
    """(COMPREPLY as a list, stderr, seconds) for the cursor at the end of
    @line."""
    words = wordbreak_split(line)
    arr = " ".join(sbtest_quote(w) for w in words)
    prog = ('source %s || exit 9\nCOMP_WORDS=(%s)\nCOMP_CWORD=%d\nCOMP_LINE=%s\n'
            'COMP_POINT=%d\n_sipbridgectl\nprintf "%%s\\n" "${COMPREPLY[@]}"\n'
            % (sbtest_quote(SCRIPT), arr, len(words) - 1, sbtest_quote(line), len(line)))
    if env is None:
        env = {k: v for k, v in os.environ.items() if k != "SIPBRIDGE_SOCKET"}
    e = dict(env)
    e["PATH"] = path or (os.path.dirname(os.path.abspath(sbtest.CTL)) + os.pathsep
                         + os.environ.get("PATH", "/usr/bin:/bin"))
    t0 = time.monotonic()
    r = subprocess.run([BASH, "--norc", "--noprofile", "-c", prog], capture_output=True,
                       text=True, env=e, timeout=sbtest.bounded(timeout))
    took = time.monotonic() - t0
    if r.returncode != 0:
        raise AssertionError("bash exit %d: %s" % (r.returncode, r.stderr))
    return [l for l in r.stdout.split("\n") if l != ""], r.stderr, took


def sbtest_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


class WordSplit(unittest.TestCase):
    """The helper that mimics bash's COMP_WORDS."""

    def test_split(self):
        self.assertEqual(wordbreak_split("a --socket=/x b"), ["a", "--socket", "=", "/x", "b"])
        self.assertEqual(wordbreak_split("a Custom:la"), ["a", "Custom", ":", "la"])
        self.assertEqual(wordbreak_split("a Custom: "), ["a", "Custom", ":", ""])


class Completion(sbtest.DaemonCase):
    EXTRA = CONFIG

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for dev, state in (("PJSIP/7001", "INUSE"), ("Custom:lamp72", "ONHOLD")):
            r = cls.d.ctl("state", "set-device", dev, state)
            if r.returncode != 0:
                raise AssertionError("set-device %s: %r" % (dev, r))
        cls.ua = chatsip.UA(cls.d.port)
        resp = cls.ua.invite("conf-100")
        if resp.status != 200:
            raise AssertionError("the participant's INVITE got %r" % (resp.status,))
        data = sbtest.ctl_at(cls.d.sock_path, "--json", "conference", "show", "conf-100")
        parts = json.loads(data.stdout)["data"]["participant_list"]
        if len(parts) != 1:
            raise AssertionError("participants: %r" % (parts,))
        cls.pid = str(parts[0]["id"])
        cls.nopy = tempfile.mkdtemp(prefix="sbcomp-")
        for tool in ("awk",):
            os.symlink(shutil.which(tool), os.path.join(cls.nopy, tool))
        os.symlink(os.path.abspath(sbtest.CTL), os.path.join(cls.nopy, "sipbridgectl"))

    @classmethod
    def tearDownClass(cls):
        try:
            try:
                cls.ua.bye()
            finally:
                cls.ua.close()
                shutil.rmtree(cls.nopy, ignore_errors=True)
        finally:
            super().tearDownClass()

    def comp(self, line, **kw):
        words, err, _ = complete(line, **kw)
        self.assertEqual(err, "", line)
        return words

    def at(self, rest, **kw):
        return self.comp("sipbridgectl -s %s %s" % (self.d.sock_path, rest), **kw)

    def names(self, rest, **kw):
        """Words from the daemon, in its order (bash sorts them): sorted."""
        return sorted(self.at(rest, **kw))

    def test_commands(self):
        self.assertEqual(self.comp("sipbridgectl "), COMMANDS)
        self.assertEqual(self.comp("sipbridgectl st"), ["status", "state"])
        self.assertEqual(self.at(""), COMMANDS)
        self.assertEqual(self.comp("sipbridgectl --json -t 3 conf"), ["conference"])

    def test_options(self):
        self.assertEqual(self.comp("sipbridgectl -"), OPTIONS + ["--"])
        self.assertEqual(self.comp("sipbridgectl --j"), ["--json"])
        self.assertEqual(self.comp("sipbridgectl conference send --f"), ["--follow", "--from"])
        # An option's argument is not a command.
        self.assertEqual(self.comp("sipbridgectl -t "), [])
        self.assertEqual(self.comp("sipbridgectl --from "), [])

    def test_socket_is_a_file(self):
        d = os.path.dirname(self.d.sock_path)
        self.assertIn(self.d.sock_path, self.comp("sipbridgectl -s %s/con" % d))
        self.assertEqual(self.comp("sipbridgectl --socket=%s/con" % d), [self.d.sock_path])

    def test_subcommands(self):
        self.assertEqual(self.comp("sipbridgectl debug "), ["on", "off"])
        self.assertEqual(self.comp("sipbridgectl debug o"), ["on", "off"])
        self.assertEqual(self.comp("sipbridgectl debug on "), [])
        self.assertEqual(self.comp("sipbridgectl conference "), ["list", "show", "send", "kick"])
        self.assertEqual(self.comp("sipbridgectl state "),
                         ["devices", "mailboxes", "set-device", "set-mailbox", "watch"])
        self.assertEqual(self.comp("sipbridgectl publish "), ["status"])
        self.assertEqual(self.comp("sipbridgectl mwi "), ["status", "notify", "show", "watch"])
        self.assertEqual(self.comp("sipbridgectl mwi show "), ["subscription"])
        self.assertEqual(self.comp("sipbridgectl events sip "),
                         ["daemon", "sip", "conference", "state", "mwi"])
        self.assertEqual(self.at("state set-device PJSIP/7001 RING"), ["RINGING", "RINGINUSE"])
        self.assertEqual(self.comp("sipbridgectl status "), [])

    def test_help_lists_what_we_complete(self):
        """Every command and sub-command of --help is completed."""
        r = subprocess.run([sbtest.CTL, "--help"], capture_output=True, text=True,
                           timeout=sbtest.bounded(10))
        self.assertEqual(r.returncode, 0)
        lines = r.stdout.split("Commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
        seen = 0
        for l in lines:
            if not l.startswith("  ") or l.startswith("   "):
                continue
            cmd = l.split()
            self.assertIn(cmd[0], COMMANDS, l)
            if len(cmd) > 1 and cmd[1][0].islower() and cmd[0] in ("conference", "state",
                                                                    "publish", "mwi"):
                self.assertIn(cmd[1], self.comp("sipbridgectl %s " % cmd[0]), l)
            seen += 1
        self.assertGreater(seen, 20, r.stdout)

    def test_conference_names(self):
        for sub in ("show", "send", "kick"):
            self.assertEqual(self.names("conference %s " % sub), ["conf-100", "sales-room"])
        self.assertEqual(self.names("conference show sa"), ["sales-room"])
        self.assertEqual(self.names("conference list "), [])
        self.assertEqual(sorted(self.comp("sipbridgectl --socket=%s --json conference show "
                                          % self.d.sock_path)), ["conf-100", "sales-room"])
        self.assertEqual(self.comp("sipbridgectl conference show c",
                                   env=dict(os.environ, SIPBRIDGE_SOCKET=self.d.sock_path)),
                         ["conf-100"])
        # Options after the command (GNU permutation).
        self.assertEqual(sorted(self.comp("sipbridgectl conference -s %s send "
                                          % self.d.sock_path)), ["conf-100", "sales-room"])

    def test_participant_ids(self):
        self.assertEqual(self.names("conference kick conf-100 "), [self.pid])
        self.assertEqual(self.names("conference kick sales-room "), [])
        self.assertEqual(self.names("conference kick nosuch "), [])

    def test_devices(self):
        self.assertEqual(self.names("state set-device "), ["Custom:lamp72", "PJSIP/7001"])
        self.assertEqual(self.names("state set-device PJ"), ["PJSIP/7001"])
        # bash's current word is "la", after the ':'.
        self.assertEqual(self.names("state set-device Custom:la"), ["lamp72"])

    def test_without_python3(self):
        """The awk fallback on the human tables gives the same words."""
        kw = {"path": self.nopy}
        self.assertEqual(self.names("conference show ", **kw), ["conf-100", "sales-room"])
        self.assertEqual(self.names("conference kick conf-100 ", **kw), [self.pid])
        self.assertEqual(self.names("state set-device ", **kw), ["Custom:lamp72", "PJSIP/7001"])
        self.assertEqual(self.names("state set-device Custom:", **kw), ["lamp72"])
        self.assertEqual(self.comp("sipbridgectl debug ", **kw), ["on", "off"])


class DaemonDown(unittest.TestCase):
    """An unreachable socket (none there, and one nobody accepts on):
    nothing from the daemon, no error text, quick."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sbcomp-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def check(self, sock):
        for rest in ("conference show ", "conference kick conf-100 ", "state set-device "):
            words, err, took = complete("sipbridgectl -s %s %s" % (sock, rest))
            self.assertEqual((words, err), ([], ""), rest)
            self.assertLess(took, 5 * sbtest.MULT, rest)
        words, err, _ = complete("sipbridgectl -s %s conference " % sock)
        self.assertEqual((words, err), (["list", "show", "send", "kick"], ""))

    def test_no_socket(self):
        self.check(os.path.join(self.dir, "none.sock"))

    def test_stopped_daemon(self):
        d = sbtest.Daemon(extra=CONFIG)
        try:
            self.assertEqual(sorted(complete("sipbridgectl -s %s conference show "
                                             % d.sock_path)[0]),
                             ["conf-100", "sales-room"])
            d.stop()
            self.check(d.sock_path)
        finally:
            d.cleanup()

    def test_silent_daemon(self):
        """A socket that accepts nothing: the -t 2 bound holds."""
        path = os.path.join(self.dir, "silent.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(path)
            s.listen(8)
            self.check(path)
        finally:
            s.close()


if __name__ == "__main__":
    sbtest.main()
