"""sipbridgectl state devices|mailboxes|set-device|set-mailbox|watch and
publish status (docs/cli.md, docs/control-protocol.md "State exchange").

Against the real daemon with one outbound-publish target pointing at a
closed loopback port (sip:peer@127.0.0.1:9), so that it ends up in backoff:
every sub-command's output and exit status, regex filtering (case-
insensitive, unanchored), a bad regex and a bad state (daemon errors, exit
1), bad counts (usage errors, exit 64, before connecting; out of range is
the daemon's 444), and the "state" topic seen by a control client and by
`state watch`.  Against a fake socket: the exact requests, and the human
tables with several entity ids and text a peer chose escaped.
"""
import json
import re
import select
import subprocess

import sbtest

EX_USAGE = 64
PEER = ("[peer]\ntype=outbound-publish\nserver_uri=sip:peer@127.0.0.1:9\n"
        "event=asterisk-devicestate\n")
EID = r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}"


ctl_at = sbtest.ctl_at


def cols(line):
    """A table line split on runs of two or more blanks."""
    return re.split(r"  +", line.strip())


class CliStateDaemon(sbtest.DaemonCase):
    EXTRA = PEER

    def ctl(self, *args):
        return self.d.ctl(*args)

    def ok(self, *args):
        r = self.ctl(*args)
        self.assertEqual(r.returncode, 0, r)
        return r.stdout

    def json_data(self, *args):
        reply = json.loads(self.ok("--json", *args))
        self.assertEqual(reply["response"], "success", reply)
        return reply["data"]

    def daemon_error(self, code, *args):
        r = self.ctl(*args)
        self.assertEqual((r.returncode, r.stdout), (1, ""), r)
        self.assertTrue(r.stderr.startswith("error %d: " % code), r.stderr)
        r = self.ctl("--json", *args)
        self.assertEqual(r.returncode, 1, r)
        reply = json.loads(r.stdout)
        self.assertEqual((reply["response"], reply["error_code"]), ("error", code))
        return reply

    def entity_id(self):
        return self.json_data("publish", "status")["entity_id"]

    # -- devices --

    def test_devices_none_match(self):
        self.assertEqual(self.ok("state", "devices", "^nosuch$"), "no devices\n")
        self.assertEqual(self.json_data("state", "devices", "^nosuch$"), {"devices": []})

    def test_set_device(self):
        out = self.ok("state", "set-device", "PJSIP/7001", "inuse")
        self.assertEqual(out, "device PJSIP/7001 set to INUSE, aggregate INUSE\n")
        out = self.ok("state", "set-device", "PJSIP/7001", "INUSE")
        self.assertEqual(out, "device PJSIP/7001 already INUSE, aggregate INUSE\n")
        data = self.json_data("state", "set-device", "PJSIP/7001", "BUSY")
        self.assertEqual(data, {"device": "PJSIP/7001", "state": "BUSY",
                                "aggregate": "BUSY", "changed": True})

    def test_devices_table_and_filter(self):
        self.ok("state", "set-device", "PJSIP/7201", "RINGING")
        self.ok("state", "set-device", "PJSIP/7202", "NOT_INUSE")
        self.ok("state", "set-device", "Custom:lamp72", "ONHOLD")
        eid = self.entity_id()
        # Unanchored and case-insensitive: "pjsip/720" matches PJSIP/720x.
        lines = self.ok("state", "devices", "pjsip/720").splitlines()
        self.assertEqual(cols(lines[0]), ["DEVICE", "STATE", "EID", "EID STATE", "ORIGIN",
                                          "CACHABLE"])
        self.assertEqual([cols(l) for l in lines[1:]], [
            ["PJSIP/7201", "RINGING", eid, "RINGING", "local", "yes"],
            ["PJSIP/7202", "NOT_INUSE", eid, "NOT_INUSE", "local", "yes"]])
        self.assertEqual(lines[1].index(eid), lines[0].index("EID"))
        data = self.json_data("state", "devices", "LAMP7")
        self.assertEqual(data, {"devices": [
            {"device": "Custom:lamp72", "state": "ONHOLD",
             "eids": [{"eid": eid, "state": "ONHOLD", "cachable": True, "local": True}]}]})
        # ERE: alternation and anchors.
        names = [d["device"] for d in
                 self.json_data("state", "devices", "^(pjsip/7201|custom:lamp72)$")["devices"]]
        self.assertEqual(sorted(names), ["Custom:lamp72", "PJSIP/7201"])
        # No filter: everything, ours included.
        names = [d["device"] for d in self.json_data("state", "devices")["devices"]]
        self.assertTrue({"PJSIP/7201", "PJSIP/7202", "Custom:lamp72"} <= set(names), names)

    def test_bad_regex(self):
        reply = self.daemon_error(444, "state", "devices", "(")
        self.assertIn("filter", reply["error"])
        self.daemon_error(444, "state", "mailboxes", "[a-")

    def test_bad_state(self):
        reply = self.daemon_error(444, "state", "set-device", "PJSIP/7002", "bogus")
        self.assertIn("bogus", reply["error"])
        self.assertEqual(self.ok("state", "devices", "^PJSIP/7002$"), "no devices\n")

    def test_empty_device_is_daemon_error(self):
        self.daemon_error(444, "state", "set-device", "", "INUSE")

    # -- mailboxes --

    def test_set_mailbox_and_list(self):
        out = self.ok("state", "set-mailbox", "7301@default", "1", "3")
        self.assertEqual(out, "mailbox 7301@default set to 1 new, 3 old\n")
        out = self.ok("state", "set-mailbox", "7301@default", "1", "3")
        self.assertEqual(out, "mailbox 7301@default already 1 new, 3 old\n")
        self.ok("state", "set-mailbox", "7302@sales", "0", "0")
        eid = self.entity_id()
        lines = self.ok("state", "mailboxes", "^730.@DEFAULT").splitlines()
        self.assertEqual(cols(lines[0]), ["MAILBOX", "NEW", "OLD", "EID", "EID NEW",
                                          "EID OLD", "ORIGIN"])
        self.assertEqual([cols(l) for l in lines[1:]],
                         [["7301@default", "1", "3", eid, "1", "3", "local"]])
        data = self.json_data("state", "mailboxes", "sales")
        self.assertEqual(data, {"mailboxes": [
            {"mailbox": "7302@sales", "new": 0, "old": 0,
             "eids": [{"eid": eid, "new": 0, "old": 0, "local": True}]}]})
        self.assertEqual(self.ok("state", "mailboxes", "nosuch"), "no mailboxes\n")

    def test_set_mailbox_counts(self):
        data = self.json_data("state", "set-mailbox", "7401@default", "2147483647", "0")
        self.assertEqual(data, {"mailbox": "7401@default", "new": 2147483647, "old": 0,
                                "changed": True})
        # Integers, but out of the protocol's range: the daemon says no.
        reply = self.daemon_error(444, "state", "set-mailbox", "7401@default", "1",
                                  "2147483648")
        self.assertIn("old", reply["error"])
        self.daemon_error(444, "state", "set-mailbox", "7401@default", "9223372036854775807",
                          "0")
        # Not integers: usage errors, exit 64, nothing sent.
        for new, old in (("x", "1"), ("1", "1.5"), ("+1", "0"), ("", "0"), (" 1", "0"),
                         ("1", "0x10"), ("1", "9223372036854775808")):
            with self.subTest(new=new, old=old):
                r = self.ctl("state", "set-mailbox", "7401@default", new, old)
                self.assertEqual((r.returncode, r.stdout), (EX_USAGE, ""), r)
                self.assertIn("must be a non-negative integer", r.stderr)
        r = self.ctl("state", "set-mailbox", "7401@default", "1", "--", "-3")
        self.assertEqual(r.returncode, EX_USAGE, r)
        self.assertIn("OLD must be a non-negative integer, got '-3'", r.stderr)
        self.assertEqual(self.json_data("state", "mailboxes", "^7401@")["mailboxes"][0]["new"],
                         2147483647)

    # -- publish status --

    def test_publish_status(self):
        # Something to publish: the target tries, port 9 is closed, backoff.
        self.ok("state", "set-device", "PJSIP/7501", "INUSE")
        target = sbtest.wait_for(self.backoff_target, 10, "the target to back off")
        self.assertEqual((target["name"], target["event"], target["server_uri"]),
                         ("peer", "asterisk-devicestate", "sip:peer@127.0.0.1:9"))
        self.assertIsNone(target["next_refresh"])
        self.assertIsNone(target["etag"])
        self.assertIsInstance(target["retry_in"], (int, float))
        self.assertGreaterEqual(target["failed"], 1)
        self.assertGreaterEqual(target["failures_in_row"], 1)
        self.assertIsInstance(target["last_response"]["code"], int)

        data = self.json_data("publish", "status")
        self.assertRegex(data["entity_id"], "^%s$" % EID)
        self.assertIn(data["entity_id_source"], ("config", "file", "generated"))
        self.assertGreaterEqual(data["devices"], 1)
        for key in ("mailboxes", "publications", "publish_received", "publish_ok",
                    "publish_rejected", "own_eid_rejected", "states_applied"):
            self.assertIsInstance(data[key], int, key)

        out = self.ok("publish", "status")
        lines = out.splitlines()
        self.assertEqual(lines[0], "entity id %s (%s)" % (data["entity_id"],
                                                         data["entity_id_source"]))
        self.assertRegex(out, r"(?m)^devices: \d+$")
        self.assertRegex(out, r"(?m)^publish_rejected: 0$")
        self.assertNotRegex(out, r"(?m)^targets:")
        head = [l for l in lines if l.startswith("NAME ")]
        self.assertEqual(len(head), 1, out)
        self.assertEqual(cols(head[0]), ["NAME", "EVENT", "SERVER URI", "STATE",
                                         "LAST RESPONSE", "NEXT", "QUEUED", "SENT", "OK",
                                         "FAILED"])
        self.assertEqual(lines[lines.index(head[0]) - 1], "")
        row = cols(lines[lines.index(head[0]) + 1])
        self.assertEqual(row[:4], ["peer", "asterisk-devicestate", "sip:peer@127.0.0.1:9",
                                   "backoff"])
        self.assertRegex(row[4], r"^\d{3} \S")
        self.assertRegex(row[5], r"^retry in (\d+m)?\d+s$")
        self.assertEqual(row[8], "0")

    def backoff_target(self):
        targets = self.json_data("publish", "status")["targets"]
        self.assertEqual(len(targets), 1, targets)
        return targets[0] if targets[0]["state"] == "backoff" else None

    # -- the "state" topic --

    def test_watcher_sees_set_device(self):
        eid = self.entity_id()
        watcher = self.d.client()
        try:
            reply = watcher.request({"request": "watch", "topics": ["state"]})
            self.assertEqual(reply["response"], "success", reply)
            self.ok("state", "set-device", "PJSIP/7601", "ringinuse")
            ev = watcher.event(lambda m: m.get("topic") == "state"
                               and m["result"].get("device") == "PJSIP/7601")
            self.assertEqual(ev["sipbridge"], "event")
            self.assertEqual(ev["result"], {"event": "device_state", "device": "PJSIP/7601",
                                            "eid": eid, "state": "RINGINUSE",
                                            "aggregate": "RINGINUSE", "local": True})
            self.ok("state", "set-mailbox", "7601@default", "4", "5")
            ev = watcher.event(lambda m: m.get("topic") == "state"
                               and m["result"].get("mailbox") == "7601@default")
            self.assertEqual(ev["result"], {"event": "mailbox_state",
                                            "mailbox": "7601@default", "eid": eid,
                                            "new": 4, "old": 5, "local": True})
        finally:
            watcher.close()

    def test_state_watch_human(self):
        eid = self.entity_id()
        proc = subprocess.Popen([sbtest.CTL, "-s", self.d.sock_path, "state", "watch"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # The human stream prints nothing for the watch's reply, so
            # there is no telling when it is in place: change the state
            # until a line comes.
            line = None
            for i in range(int(50 * sbtest.MULT)):
                self.ok("state", "set-device", "PJSIP/7701", ("ONHOLD", "BUSY")[i % 2])
                ready, _, _ = select.select([proc.stdout], [], [], 0.2)
                if ready:
                    line = proc.stdout.readline().decode()
                    break
            self.assertIsNotNone(line, "no event from 'state watch'")
            self.assertRegex(line, r"^state device_state device=PJSIP/7701 eid=%s "
                             r"state=(ONHOLD|BUSY) aggregate=\1 local=true\n$" % eid)
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=sbtest.bounded(5)), 0)
            proc.stdout.close()
            self.assertEqual(proc.stderr.read(), b"")
            proc.stderr.close()

    def test_state_watch_json(self):
        proc = subprocess.Popen([sbtest.CTL, "-s", self.d.sock_path, "--json", "state",
                                 "watch"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            reply = json.loads(self.read_line(proc))
            self.assertEqual((reply["response"], reply["data"]["topics"]),
                             ("success", ["state"]))
            self.ok("state", "set-mailbox", "7801@default", "7", "0")
            ev = json.loads(self.read_line(proc))
            self.assertEqual((ev["topic"], ev["result"]["event"], ev["result"]["mailbox"],
                              ev["result"]["new"]), ("state", "mailbox_state",
                                                     "7801@default", 7))
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(timeout=sbtest.bounded(5)), 0)
            proc.stdout.close()

    @staticmethod
    def read_line(proc, timeout=10):
        ready, _, _ = select.select([proc.stdout], [], [], sbtest.bounded(timeout))
        if not ready:
            raise AssertionError("no line from %s within %ss" % (proc.args, timeout))
        return proc.stdout.readline()


FakeDaemon = sbtest.FakeDaemon


class CliStateFake(sbtest.unittest.TestCase):
    """What goes on the wire, what is refused before it, and how replies
    print, against a fake daemon."""

    def setUp(self):
        self.fake = FakeDaemon()

    def tearDown(self):
        self.fake.close()

    def run_ok(self, *args):
        r = ctl_at(self.fake.path, *args)
        self.assertEqual(r.returncode, 0, r)
        return r.stdout.decode()

    def sent(self, *args):
        self.run_ok(*args)
        req = self.fake.requests[-1]
        req.pop("transaction")
        return req

    def test_requests(self):
        self.assertEqual(self.sent("state", "devices"), {"request": "state_devices"})
        self.assertEqual(self.sent("state", "devices", "^PJSIP/6"),
                         {"request": "state_devices", "filter": "^PJSIP/6"})
        self.assertEqual(self.sent("state", "mailboxes"), {"request": "state_mailboxes"})
        self.assertEqual(self.sent("state", "mailboxes", "--", "-x"),
                         {"request": "state_mailboxes", "filter": "-x"})
        # The state goes as typed: the daemon knows the names.
        self.assertEqual(self.sent("state", "set-device", "PJSIP/6001", "inUse"),
                         {"request": "state_set_device", "device": "PJSIP/6001",
                          "state": "inUse"})
        req = self.sent("state", "set-mailbox", "6001@default", "1", "03")
        self.assertEqual(req, {"request": "state_set_mailbox", "mailbox": "6001@default",
                               "new": 1, "old": 3})
        self.assertIsInstance(req["new"], int)
        self.assertEqual(self.sent("publish", "status"), {"request": "publish_status"})
        # The fake closes after its reply: the stream ends, status 0.
        self.assertEqual(self.sent("state", "watch"),
                         {"request": "watch", "topics": ["state"]})

    def test_usage_errors_before_connecting(self):
        cases = [
            ["state"],
            ["state", "bogus"],
            ["state", "devices", "a", "b"],
            ["state", "mailboxes", "a", "b"],
            ["state", "set-device", "PJSIP/1"],
            ["state", "set-device", "PJSIP/1", "INUSE", "x"],
            ["state", "set-mailbox", "1@d", "1"],
            ["state", "set-mailbox", "1@d", "1", "2", "3"],
            ["state", "set-mailbox", "1@d", "one", "2"],
            ["state", "set-mailbox", "1@d", "1", "2.0"],
            ["state", "set-mailbox", "1@d", "1", "-2"],
            ["state", "set-mailbox", "1@d", "1", "--", "-2"],
            ["state", "set-mailbox", "1@d", "", "2"],
            ["state", "watch", "x"],
            ["state", "devices", "--follow"],
            ["publish"],
            ["publish", "status", "x"],
            ["publish", "bogus"],
            [b"state", b"devices", b"\xff"],
            [b"state", b"set-device", b"PJSIP/\xc3", b"INUSE"],
            [b"state", b"set-mailbox", b"\xe2\x82@x", b"1", b"2"],
        ]
        for args in cases:
            with self.subTest(args=args):
                r = ctl_at("/nonexistent/x.sock", *args)
                self.assertEqual(r.returncode, EX_USAGE, r)
                self.assertEqual(r.stdout, b"")
                self.assertTrue(r.stderr.startswith(b"sipbridgectl: "), r.stderr)
        self.assertEqual(self.fake.requests, [])
        r = ctl_at("/nonexistent/x.sock", "state", "set-mailbox", "1@d", "x", "2")
        self.assertIn(b"state set-mailbox: NEW must be a non-negative integer, got 'x'",
                      r.stderr)
        r = ctl_at("/nonexistent/x.sock", "state", "set-device", "PJSIP/1")
        self.assertIn(b"usage: sipbridgectl state set-device DEV STATE", r.stderr)

    def test_unreachable(self):
        r = ctl_at("/nonexistent/x.sock", "publish", "status")
        self.assertEqual(r.returncode, 2, r)
        self.assertIn(b"cannot connect to /nonexistent/x.sock", r.stderr)

    def test_help_lists_subcommands(self):
        r = subprocess.run([sbtest.CTL, "--help"], capture_output=True, text=True,
                           timeout=sbtest.bounded(10))
        self.assertEqual(r.returncode, 0)
        for word in ("state devices [RE]", "state mailboxes [RE]",
                     "state set-device DEV STATE", "state set-mailbox MBOX@CTX NEW OLD",
                     "state watch", "publish status"):
            self.assertIn(word, r.stdout)

    def test_devices_several_eids_escaped(self):
        self.fake.data = {"devices": [
            {"device": "PJSIP/6001\x1b[2J", "state": "INUSE", "eids": [
                {"eid": "02:00:00:00:00:01", "state": "INUSE", "cachable": True,
                 "local": True},
                {"eid": "02:00:00:00:00:02", "state": "NOT_INUSE", "cachable": False,
                 "local": False}]},
            {"device": "Custom:x", "state": "UNKNOWN", "eids": []}]}
        self.assertEqual(self.run_ok("state", "devices"), (
            "DEVICE             STATE    EID                EID STATE  ORIGIN  CACHABLE\n"
            "PJSIP/6001\\x1b[2J  INUSE    02:00:00:00:00:01  INUSE      local   yes\n"
            "                            02:00:00:00:00:02  NOT_INUSE  remote  no\n"
            "Custom:x           UNKNOWN  -                  -          -       -\n"))

    def test_mailboxes_several_eids(self):
        self.fake.data = {"mailboxes": [
            {"mailbox": "6001@default", "new": 3, "old": 10, "eids": [
                {"eid": "02:00:00:00:00:01", "new": 1, "old": 0, "local": True},
                {"eid": "02:00:00:00:00:02", "new": 2, "old": 10, "local": False}]}]}
        self.assertEqual(self.run_ok("state", "mailboxes"), (
            "MAILBOX       NEW  OLD  EID                EID NEW  EID OLD  ORIGIN\n"
            "6001@default  3    10   02:00:00:00:00:01  1        0        local\n"
            "                        02:00:00:00:00:02  2        10       remote\n"))

    def test_publish_status_output(self):
        self.fake.data = {
            "entity_id": "02:00:00:00:00:01", "entity_id_source": "config",
            "devices": 2, "mailboxes": 1, "publications": 1, "publish_received": 5,
            "publish_ok": 4, "publish_rejected": 1, "own_eid_rejected": 0,
            "states_applied": 3,
            "targets": [
                {"name": "pbx1", "event": "asterisk-devicestate",
                 "server_uri": "sip:pbx1@192.0.2.1", "state": "publishing",
                 "last_response": {"code": 200, "reason": "OK"}, "etag": "x1",
                 "expires": 3600, "queued": 0, "next_refresh": 3541.2, "retry_in": None,
                 "sent": 7, "ok": 7, "failed": 0, "coalesced": 2, "failures_in_row": 0},
                {"name": "pbx2", "event": "asterisk-mwi", "server_uri": "sip:pbx2@192.0.2.2",
                 "state": "backoff", "last_response": {"code": 403, "reason": "No\x1bpe"},
                 "etag": None, "expires": 0, "queued": 4, "next_refresh": None,
                 "retry_in": 0.2, "sent": 3, "ok": 0, "failed": 3, "coalesced": 0,
                 "failures_in_row": 3},
                {"name": "pbx3", "event": "asterisk-mwi", "server_uri": "sip:pbx3@192.0.2.3",
                 "state": "idle", "last_response": None, "etag": None, "expires": 0,
                 "queued": 0, "next_refresh": None, "retry_in": None, "sent": 0, "ok": 0,
                 "failed": 0, "coalesced": 0, "failures_in_row": 0}]}
        self.assertEqual(self.run_ok("publish", "status"), (
            "entity id 02:00:00:00:00:01 (config)\n"
            "devices: 2\n"
            "mailboxes: 1\n"
            "publications: 1\n"
            "publish_received: 5\n"
            "publish_ok: 4\n"
            "publish_rejected: 1\n"
            "own_eid_rejected: 0\n"
            "states_applied: 3\n"
            "\n"
            "NAME  EVENT                 SERVER URI          STATE       LAST RESPONSE  "
            "NEXT               QUEUED  SENT  OK  FAILED\n"
            "pbx1  asterisk-devicestate  sip:pbx1@192.0.2.1  publishing  200 OK         "
            "refresh in 59m02s  0       7     7   0\n"
            "pbx2  asterisk-mwi          sip:pbx2@192.0.2.2  backoff     403 No\\x1bpe   "
            "retry in 1s        4       3     0   3\n"
            "pbx3  asterisk-mwi          sip:pbx3@192.0.2.3  idle        -              "
            "-                  0       0     0   0\n"))

    def test_publish_status_no_targets(self):
        self.fake.data = {"entity_id": "02:00:00:00:00:01", "entity_id_source": "file",
                          "devices": 0, "targets": []}
        self.assertEqual(self.run_ok("publish", "status"),
                         "entity id 02:00:00:00:00:01 (file)\ndevices: 0\n\n"
                         "no publish targets\n")

    def test_set_outputs(self):
        self.fake.data = {"device": "PJSIP/1", "state": "BUSY", "aggregate": "INUSE",
                          "changed": False}
        self.assertEqual(self.run_ok("state", "set-device", "PJSIP/1", "busy"),
                         "device PJSIP/1 already BUSY, aggregate INUSE\n")
        self.fake.data = {"mailbox": "1@d", "new": 0, "old": 2, "changed": True}
        self.assertEqual(self.run_ok("state", "set-mailbox", "1@d", "0", "2"),
                         "mailbox 1@d set to 0 new, 2 old\n")
        r = ctl_at(self.fake.path, "--json", "state", "set-mailbox", "1@d", "0", "2")
        self.assertEqual(json.loads(r.stdout)["data"], self.fake.data)


if __name__ == "__main__":
    sbtest.main()
