"""sipbridgectl handles, and the SIP API's events in sipbridgectl events
(docs/cli.md, docs/control-protocol.md "SIP API").

Against a fake socket: the exact requests (`handles` is list_handles,
`events` watches "*", `events sip` only "sip"), usage errors, the handle
table (sorted by id, "-" for what is missing or null, helpers, text a
client chose escaped), and how SIP API events print, whether a client's own
or published on the topic "sip".  Against the real daemon: handles made on
a control connection (one registered as a guest, one as its helper) listed
with their states, "away" once that connection is gone; `events` (all
topics) and `events sip` show a handle event produced after they started,
`events daemon` does not.
"""
import json
import re
import select
import subprocess

import sbtest

EX_USAGE = 64

ctl_at = sbtest.ctl_at


def cols(line):
    """A table line split on runs of two or more blanks."""
    return re.split(r"  +", line.strip())


def rows_by_id(out):
    """The handle table as {handle id: [cells]} (the header left out)."""
    lines = out.splitlines()
    assert cols(lines[0]) == ["HANDLE", "ACCOUNT", "REGISTRATION", "CLIENT", "MASTER ID",
                              "HELPER OF"], lines[0]
    return {int(cols(l)[0]): cols(l) for l in lines[1:]}


def read_line(proc, timeout=10):
    """The next line of @proc's stdout, or fail after @timeout seconds."""
    ready, _, _ = select.select([proc.stdout], [], [], sbtest.bounded(timeout))
    if not ready:
        raise AssertionError("no line from %s within %ss" % (proc.args, timeout))
    return proc.stdout.readline().decode()


def read_until(proc, pred, timeout=10):
    """The first line of @proc's stdout, parsed as JSON, that @pred likes
    (events of other tests' handles may come first)."""
    for _ in range(100):
        msg = json.loads(read_line(proc, timeout))
        if pred(msg):
            return msg
    raise AssertionError("no matching line from %s" % (proc.args,))


def stop(proc):
    proc.terminate()
    rc = proc.wait(timeout=sbtest.bounded(5))
    proc.stdout.close()
    proc.stderr.close()
    return rc




HANDLES = {"handles": [
    {"handle_id": 12, "username": "sip:helper-of-3@example.com", "registration": "disabled",
     "client_connected": True, "master_id": 77, "master_handle": 3},
    {"handle_id": 3, "username": "sip:alice@example.com", "registration": "registered",
     "client_connected": False, "master_id": 77},
    {"handle_id": 5, "username": None, "registration": "unregistered",
     "client_connected": True},
    {"handle_id": 4, "username": "sip:b\x1b[2J@example.com", "registration": "registering",
     "client_connected": True, "master_id": 4000000000}]}


class CliApiFake(sbtest.unittest.TestCase):
    """Requests and output against a fake daemon."""

    def setUp(self):
        self.fake = sbtest.FakeDaemon()

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
        self.assertEqual(self.sent("handles"), {"request": "list_handles"})
        self.assertEqual(self.sent("events"), {"request": "watch", "topics": ["*"]})
        self.assertEqual(self.sent("events", "sip"), {"request": "watch", "topics": ["sip"]})
        self.assertEqual(self.sent("events", "sip", "daemon"),
                         {"request": "watch", "topics": ["sip", "daemon"]})

    def test_usage_errors_before_connecting(self):
        for args in (["handles", "x"], ["handles", "--follow"], ["handles", "--from", "x"]):
            with self.subTest(args=args):
                r = ctl_at("/nonexistent/x.sock", *args)
                self.assertEqual((r.returncode, r.stdout), (EX_USAGE, b""), r)
                self.assertTrue(r.stderr.startswith(b"sipbridgectl: "), r.stderr)
        r = ctl_at("/nonexistent/x.sock", "handles", "x")
        self.assertIn(b"usage: sipbridgectl handles\n", r.stderr)
        self.assertEqual(self.fake.requests, [])

    def test_unreachable(self):
        r = ctl_at("/nonexistent/x.sock", "handles")
        self.assertEqual(r.returncode, 2, r)
        self.assertIn(b"cannot connect to /nonexistent/x.sock", r.stderr)

    def test_help(self):
        r = subprocess.run([sbtest.CTL, "--help"], capture_output=True, text=True,
                           timeout=sbtest.bounded(10))
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"(?m)^  handles +list the SIP API's handles")
        self.assertRegex(r.stdout, r"(?m)^  events \[TOPIC\.\.\.\] +stream events \(all "
                         r"topics, sip included, if none given\)$")

    def test_handles_table(self):
        self.fake.data = HANDLES
        self.assertEqual(self.run_ok("handles"), (
            "HANDLE  ACCOUNT                      REGISTRATION  CLIENT     MASTER ID   "
            "HELPER OF\n"
            "3       sip:alice@example.com        registered    away       77          -\n"
            "4       sip:b\\x1b[2J@example.com     registering   connected  4000000000  -\n"
            "5       -                            unregistered  connected  -           -\n"
            "12      sip:helper-of-3@example.com  disabled      connected  77          3\n"))

    def test_handles_empty_and_extra(self):
        self.fake.data = {"handles": []}
        self.assertEqual(self.run_ok("handles"), "no handles\n")
        # What a newer daemon adds still shows.
        self.fake.data = {"handles": [], "limit": 100}
        self.assertEqual(self.run_ok("handles"), "no handles\nlimit: 100\n")
        # Not a list: printed generically rather than dropped.
        self.fake.data = {"handles": 3}
        self.assertEqual(self.run_ok("handles"), "handles: 3\n")

    def test_handles_json(self):
        self.fake.data = HANDLES
        r = ctl_at(self.fake.path, "--json", "handles")
        self.assertEqual(r.returncode, 0, r)
        reply = json.loads(r.stdout)
        self.assertEqual((reply["response"], reply["data"]), ("success", HANDLES))
        self.assertEqual(r.stdout.count(b"\n"), 1)

    def test_sip_events_human(self):
        delivery = {"sip": "event", "result": {"event": "messagedelivery", "code": 404,
                                               "reason": "Not Found"},
                    "call_id": "c1", "sipbridge": "event", "handle_id": 7}
        self.fake.data = {"topics": ["*"]}
        self.fake.after = [
            # a client's own handle
            delivery,
            # the same on the topic "sip"
            {"sipbridge": "event", "topic": "sip", "result": delivery},
            # no call_id; a field with blanks, a nested object
            {"sipbridge": "event", "topic": "sip", "result": {
                "sipbridge": "event", "handle_id": 8, "sip": "event", "result": {
                    "event": "registration_failed", "code": 503,
                    "reason": "Service Unavailable", "headers": {"X-A": "b"}}}},
            # a call_id in the result repeating the payload's prints once
            {"sipbridge": "event", "handle_id": 7, "sip": "event", "call_id": "c2",
             "result": {"event": "incomingcall", "username": "sip:bob@192.0.2.7",
                        "displayname": None, "callee": "sip:alice@example.com",
                        "call_id": "c2"}},
            {"sip": "event", "handle_id": 7, "call_id": "c3",
             "result": {"event": "x", "call_id": "other"}},
            # the error shape, text from a peer escaped
            {"sipbridge": "event", "topic": "sip", "result": {
                "sip": "event", "handle_id": 9, "error_code": 447, "error": "x\x1by"}},
            # another topic, unchanged
            {"sipbridge": "event", "topic": "daemon",
             "result": {"event": "reloaded", "config": "/etc/x.conf"}},
        ]
        r = ctl_at(self.fake.path, "events")
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout.decode(), (
            'sip messagedelivery handle_id=7 call_id=c1 code=404 reason="Not Found"\n'
            'sip messagedelivery handle_id=7 call_id=c1 code=404 reason="Not Found"\n'
            'sip registration_failed handle_id=8 code=503 reason="Service Unavailable" '
            'headers={"X-A":"b"}\n'
            'sip incomingcall handle_id=7 call_id=c2 username=sip:bob@192.0.2.7 '
            'displayname=null callee=sip:alice@example.com\n'
            'sip x handle_id=7 call_id=c3 call_id=other\n'
            'sip handle_id=9 error_code=447 error=x\\x1by\n'
            'daemon reloaded config=/etc/x.conf\n'))
        self.assertEqual(r.stderr, b"sipbridgectl: connection closed by daemon\n")

    def test_sip_events_json(self):
        ev = {"sipbridge": "event", "topic": "sip", "result": {
            "sip": "event", "handle_id": 7, "result": {"event": "message", "content": "hi"}}}
        self.fake.data = {"topics": ["sip"]}
        self.fake.after = [ev]
        r = ctl_at(self.fake.path, "--json", "events", "sip")
        self.assertEqual(r.returncode, 0, r)
        lines = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(lines[0]["data"], {"topics": ["sip"]})
        self.assertEqual(lines[1:], [ev])


class CliApiDaemon(sbtest.DaemonCase):
    """`handles` and `events` against the real daemon."""

    def ok(self, *args):
        r = self.d.ctl(*args)
        self.assertEqual(r.returncode, 0, r)
        return r.stdout

    def call(self, client, req):
        reply = client.request(req)
        self.assertEqual(reply["response"], "success", reply)
        return reply["data"]

    def create(self, client):
        data = self.call(client, {"request": "create"})
        self.assertRegex(data["token"], "^[0-9a-f]{32}$")
        return data["handle_id"]

    def guest(self, client, uri):
        """A new handle registered as a guest: (handle id, master_id)."""
        h = self.create(client)
        data = self.call(client, {"request": "register", "handle_id": h, "type": "guest",
                                  "username": uri})
        self.assertEqual((data["handle_id"], data["result"]["event"],
                          data["result"]["register_sent"]), (h, "registered", False))
        return h, data["result"]["master_id"]

    def helpable_guest(self, client, uri):
        """A guest whose master_id a helper can name: the daemon takes
        master_id up to 2^31-1 in register but gives out any uint32."""
        for _ in range(40):
            h, mid = self.guest(client, uri)
            if mid <= 0x7fffffff:
                return h, mid
            self.call(client, {"request": "destroy", "handle_id": h})
        self.fail("no master_id below 2^31 in 40 tries")

    def test_handles_lists_states(self):
        c = self.d.client()
        try:
            bare = self.create(c)
            g, mid = self.helpable_guest(c, "sip:a@example.com")
            helper = self.create(c)
            data = self.call(c, {"request": "register", "handle_id": helper, "type": "helper",
                                 "username": "sip:ignored@example.com", "master_id": mid})
            self.assertEqual(data["result"]["helper"], True)
            rows = rows_by_id(self.ok("handles"))
            self.assertEqual(rows[bare], [str(bare), "-", "unregistered", "connected", "-",
                                          "-"])
            self.assertEqual(rows[g], [str(g), "sip:a@example.com", "disabled", "connected",
                                       str(mid), "-"])
            self.assertEqual(rows[helper], [str(helper), "sip:a@example.com", "disabled",
                                            "connected", str(mid), str(g)])
            ids = list(rows)
            self.assertEqual(ids, sorted(ids))
            # --json: the daemon's reply as it is.
            reply = json.loads(self.ok("--json", "handles"))
            mine = {h["handle_id"]: h for h in reply["data"]["handles"]
                    if h["handle_id"] in (bare, g, helper)}
            self.assertEqual(mine[g], {"handle_id": g, "username": "sip:a@example.com",
                                       "registration": "disabled",
                                       "client_connected": True, "master_id": mid})
            self.assertEqual(mine[helper]["master_handle"], g)
            self.assertIsNone(mine[bare].get("username"))
        finally:
            c.close()
        # The connection is gone: the handles wait handle_grace for a claim.
        sbtest.wait_for(lambda: rows_by_id(self.ok("handles"))[g][3] == "away", 5,
                        "the handles to be away")
        rows = rows_by_id(self.ok("handles"))
        self.assertEqual([rows[h][3] for h in (bare, g, helper)], ["away"] * 3)

    def delivery(self, client, h):
        """Send a MESSAGE for handle @h to a user nobody has (404): its
        messagedelivery is a handle event.  @return its call_id."""
        data = self.call(client, {"request": "message", "handle_id": h, "content": "hi",
                                  "uri": "sip:nobody-here@127.0.0.1:%d" % self.d.port})
        self.assertEqual(data["result"]["event"], "messagesent")
        return data["result"]["call_id"]

    def test_events_json_shows_handle_event(self):
        c = self.d.client()
        proc = subprocess.Popen([sbtest.CTL, "-s", self.d.sock_path, "--json", "events"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            reply = json.loads(read_line(proc))
            self.assertEqual((reply["response"], reply["data"]["topics"]), ("success", ["*"]))
            # The watch is in place: a new handle's event comes after it.
            h, _ = self.guest(c, "sip:ev-json@example.com")
            call_id = self.delivery(c, h)
            ev = read_until(proc, lambda m: m.get("result", {}).get("call_id") == call_id)
            self.assertEqual((ev["sipbridge"], ev["topic"]), ("event", "sip"), ev)
            p = ev["result"]
            self.assertEqual((p["sip"], p["handle_id"], p["call_id"]), ("event", h, call_id))
            self.assertEqual((p["result"]["event"], p["result"]["code"]),
                             ("messagedelivery", 404))
        finally:
            c.close()
            self.assertEqual(stop(proc), 0)

    def test_events_human_all_and_sip(self):
        c = self.d.client()
        procs = [subprocess.Popen([sbtest.CTL, "-s", self.d.sock_path, "events"] + topics,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for topics in ([], ["sip"])]
        try:
            h, _ = self.guest(c, "sip:ev-human@example.com")
            # The human stream prints nothing for the watch's reply, so
            # there is no telling when it is in place: send until a line
            # comes on each.
            lines = [None, None]
            for _ in range(int(50 * sbtest.MULT)):
                self.delivery(c, h)
                for i, p in enumerate(procs):
                    if lines[i] is None and select.select([p.stdout], [], [], 0.2)[0]:
                        lines[i] = p.stdout.readline().decode()
                if None not in lines:
                    break
            for line in lines:
                self.assertIsNotNone(line, "no event from 'events'")
                self.assertRegex(line, r'^sip messagedelivery handle_id=%d call_id=\S+ code=404 '
                                 r'reason="Not Found"\n$' % h)
        finally:
            c.close()
            for p in procs:
                self.assertEqual(stop(p), 0)

    def test_events_daemon_leaves_sip_out(self):
        c = self.d.client()
        watcher = self.d.client()
        proc = subprocess.Popen([sbtest.CTL, "-s", self.d.sock_path, "--json", "events",
                                 "daemon"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.assertEqual(json.loads(read_line(proc))["response"], "success")
            self.call(watcher, {"request": "watch", "topics": ["sip"]})
            h, _ = self.guest(c, "sip:ev-daemon@example.com")
            call_id = self.delivery(c, h)
            watcher.event(lambda m: m.get("topic") == "sip"
                          and m["result"].get("call_id") == call_id)
            # The SIP event has come and gone: the next line is the reload.
            self.ok("reload")
            ev = json.loads(read_line(proc))
            self.assertEqual((ev["topic"], ev["result"]["event"]), ("daemon", "reloaded"), ev)
        finally:
            c.close()
            watcher.close()
            self.assertEqual(stop(proc), 0)


if __name__ == "__main__":
    sbtest.main()
