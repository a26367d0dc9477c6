"""MWI NOTIFYs from active_watchers (type=mwi): the daemon finds a mailbox's
live watchers in PostgreSQL (Kamailio's or OpenSIPS's table), advances each
row's local_cseq in the same statement and sends one in-dialog
message-summary NOTIFY per row, physically to the configured proxy, built
from the row as Kamailio's presence module builds it
(docs/mwi.md, "What is sent").

The proxy is a sipp UAS (sipp/mwi_proxy_uas.xml) for the acceptance case
and a Python UDP proxy (class Proxy: answers each NOTIFY as the test says,
retransmissions with the same answer) for the rest.  One throwaway
PostgreSQL (pgfixture) for the whole file: the Kamailio DDL in schema
public, the OpenSIPS DDL in schema ops; every test empties both tables and
inserts its own rows.  Everything on 127.0.0.1, free ports, bounded waits.
Route entries and contacts in the rows name loopback ports nobody listens
on: a NOTIFY sent there instead of to the proxy never arrives.
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import kamrig
import pgfixture
import sbtest
from chatsip import Msg
from sbtest import bounded, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
KAM_SQL = os.path.join(HERE, "sql", "kamailio-active_watchers.sql")
OPS_SQL = os.path.join(HERE, "sql", "opensips-active_watchers.sql")
DOMAIN = "example.com"
CTYPE = "application/simple-message-summary"
EID = "00:0c:29:ab:cd:ef"
OWN_EID = "02:00:00:00:00:01"
REASONS = {200: "OK", 404: "Not Found", 408: "Request Timeout",
           481: "Call/Transaction Does Not Exist", 503: "Service Unavailable"}


# -- SQL ----------------------------------------------------------------------

def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def psql_file(pg, path, schema=None, sql=None):
    """psql -f PATH (or -c SQL), into SCHEMA via search_path when given."""
    env = dict(os.environ)
    if schema:
        env["PGOPTIONS"] = "-c search_path=%s" % schema
    p = subprocess.run([os.path.join(pg.bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        pg.conninfo] + (["-c", sql] if sql else ["-f", path]),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=bounded(30), env=env)
    if p.returncode != 0:
        raise pgfixture.PgError("psql %s failed: %s" % (sql or path, p.stderr))


class OtherDb:
    """Another database of the same PgServer, for kamrig.query/psql_file."""

    def __init__(self, pg, dbname):
        self.bindir = pg.bindir
        self.conninfo = "hostaddr=127.0.0.1 port=%d dbname=%s user=%s" % (pg.port, dbname,
                                                                         pg.user)


def unused_port():
    return sbtest.free_port()


def kam_row(user="1000", domain=DOMAIN, **kw):
    """An active_watchers row as Kamailio stores a live message-summary
    subscription; KW overrides columns."""
    tag = uuid.uuid4().hex[:10]
    row = {
        "presentity_uri": "sip:%s@%s" % (user, domain),
        "watcher_username": user, "watcher_domain": domain,
        "to_user": user, "to_domain": domain,
        "event": "message-summary", "event_id": None,
        "to_tag": "kt-" + tag, "from_tag": "ft-" + tag,
        "callid": "cid-%s@127.0.0.1" % tag,
        "local_cseq": 1, "remote_cseq": 1,
        "contact": "sip:%s@127.0.0.1:%d" % (user, unused_port()),
        "record_route": "", "expires": int(time.time()) + 3600,
        "status": 1, "reason": "", "version": 0,
        "socket_info": "udp:127.0.0.1:5070", "local_contact": "sip:127.0.0.1:5070",
        "from_user": user, "from_domain": domain,
        "updated": 0, "updated_winfo": 0,
    }
    row.update(kw)
    return row


def ops_row(user="1000", domain=DOMAIN, **kw):
    """The same for OpenSIPS's table: no from_user/from_domain/updated*."""
    row = kam_row(user, domain, **kw)
    for k in ("from_user", "from_domain", "updated", "updated_winfo"):
        row.pop(k, None)
    return row


def insert(pg, row, table="active_watchers"):
    cols = ", ".join(row)
    vals = ", ".join(lit(v) for v in row.values())
    return kamrig.query(pg, "INSERT INTO %s (%s) VALUES (%s) RETURNING *" % (table, cols, vals))[0]


def row_by_id(pg, rid, table="active_watchers"):
    rows = kamrig.query(pg, "SELECT * FROM %s WHERE id = %d" % (table, rid))
    return rows[0] if rows else None


# -- what a NOTIFY must look like -----------------------------------------------

def body(new, old, un=0, uo=0, domain=DOMAIN, vmexten="*97"):
    acct = "Message-Account: sip:%s@%s\r\n" % (vmexten, domain) if vmexten else ""
    return "Messages-Waiting: %s\r\n%sVoice-Message: %d/%d (%d/%d)\r\n" % (
        "yes" if new else "no", acct, new, old, un, uo)


def cseq_num(m):
    return int(m.hdr("cseq").split()[0])


def routes_of(rr):
    return [r.strip() for r in rr.split(",") if r.strip()] if rr else []


# -- the proxies ----------------------------------------------------------------

class Proxy:
    """A UDP 'outbound proxy' on loopback: records each NOTIFY (once per
    branch) and answers it with policy(msg) -> status, retransmissions with
    the same answer."""

    def __init__(self, policy=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.policy = policy or (lambda m: 200)
        self.requests = []          # unique requests, in arrival order
        self.answered = {}          # branch -> status
        self.lock = threading.Lock()
        self.stopped = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def close(self):
        self.stopped = True
        self.sock.close()

    def _run(self):
        while not self.stopped:
            try:
                raw, addr = self.sock.recvfrom(65535)
            except OSError:
                return
            m = Msg(raw)
            if m.method is None:
                continue
            m.addr, m.t = addr, time.monotonic()
            with self.lock:
                status = self.answered.get(m.branch)
                if status is None:
                    status = self.policy(m) if m.method == "NOTIFY" else 200
                    self.answered[m.branch] = status
                    if m.method == "NOTIFY":
                        self.requests.append(m)
            self.respond(m, status)

    def respond(self, m, status):
        lines = ["SIP/2.0 %d %s" % (status, REASONS.get(status, "Whatever"))]
        for n, v in m.headers:
            if n in ("via", "from", "to", "call-id", "cseq"):
                lines.append("%s: %s" % (n.title(), v))
        lines.append("Content-Length: 0")
        try:
            self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), m.addr)
        except OSError:
            pass

    def notifies(self):
        with self.lock:
            return list(self.requests)

    def wait(self, n, timeout=5):
        """At least N NOTIFYs; returns them all."""
        wait_for(lambda: len(self.notifies()) >= n, timeout, "%d NOTIFY(s) at the proxy" % n)
        return self.notifies()

    def settle(self, n, timeout=5, quiet=0.7):
        """Exactly N NOTIFYs: wait for N, then nothing more for QUIET s."""
        got = self.wait(n, timeout)
        time.sleep(quiet)
        got = self.notifies()
        assert len(got) == n, "expected %d NOTIFYs, got %d:\n%s" % (
            n, len(got), "\n---\n".join(m.text() for m in got))
        return got


class SippProxy:
    """sipp/mwi_proxy_uas.xml as the proxy, in the background: -m COUNT."""

    def __init__(self, workdir, count):
        self.port = sbtest.free_port()
        self.msg_file = os.path.join(workdir, "proxy_messages.log")
        self.out_path = os.path.join(workdir, "proxy.out")
        self.out = open(self.out_path, "wb")
        cmd = ["sipp", "-sf", os.path.join(sbtest.SIPP_DIR, "mwi_proxy_uas.xml"),
               "-i", "127.0.0.1", "-p", str(self.port), "-t", "u1", "-m", str(count),
               "-nostdin", "-timeout", "%ds" % bounded(20), "-timeout_error",
               "-trace_msg", "-message_file", self.msg_file,
               "-trace_err", "-error_file", os.path.join(workdir, "proxy_errors.log")]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, cwd=workdir)
        wait_for(self._listening, 10, "sipp to bind 127.0.0.1:%d" % self.port)

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError("sipp exited early: %s" % self.dump())
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", self.port))
            return False
        except OSError:
            return True
        finally:
            s.close()

    def wait(self, timeout=20):
        try:
            return self.proc.wait(timeout=bounded(timeout))
        except subprocess.TimeoutExpired:
            raise AssertionError("sipp proxy did not finish: %s" % self.dump())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=bounded(5))
        self.out.close()

    def dump(self):
        def read(p):
            try:
                with open(p, "rb") as f:
                    return f.read().decode(errors="replace")
            except OSError:
                return ""
        return "exit %s\n%s\n---- messages ----\n%s" % (
            self.proc.returncode, read(self.out_path), read(self.msg_file))

    def received(self):
        """The NOTIFYs sipp received, as Msg (from the -trace_msg file)."""
        with open(self.msg_file, "rb") as f:
            text = f.read().decode(errors="replace")
        out = []
        for block in re.split(r"\n-{20,}[^\n]*\n", "\n" + text):
            m = re.match(r"\s*(?:UDP )?message received[^\n]*\n\n?(.*)", block, re.S)
            if not m:
                continue
            msg = m.group(1)
            head, sep, rest = msg.partition("\r\n\r\n")
            if not sep:
                continue
            mm = Msg((head + "\r\n\r\n").encode())
            n = int(mm.hdr("content-length") or 0)
            out.append(Msg((head + "\r\n\r\n").encode() + rest.encode()[:n]))
        return [m for m in out if m.method == "NOTIFY"]


# -- the daemon ---------------------------------------------------------------------

def mwi_conf(pg, proxy_port, extra="", db_extra="", table=None):
    return ("[pg]\ntype=database\nconninfo=%s\nretry_min=100\nretry_max=500\n%s\n"
            "[mwi]\ntype=mwi\ndatabase=pg\nproxy=sip:127.0.0.1:%d\nvmexten=*97\n"
            "context_domain=default:%s\n%s%s"
            % (pg.conninfo, db_extra, proxy_port, DOMAIN,
               "table=%s\n" % table if table else "", extra))


def mwi_status(d):
    r = d.request({"request": "mwi_status"})
    assert r["response"] == "success", r
    return r["data"]


def wait_ready(d, timeout=10):
    return wait_for(lambda: mwi_status(d)["ready"] and mwi_status(d), timeout,
                    "the mwi table's flavour")


def wait_idle(d, timeout=10):
    """Nothing pending, no lookup, no NOTIFY in flight."""
    def idle():
        s = mwi_status(d)
        return (s["pending"] == 0 and s["lookups_in_flight"] == 0
                and s["notifies_in_flight"] == 0) and s
    return wait_for(idle, timeout, "mwi to go idle")


def notify(d, user="1000", domain=DOMAIN, new=2, old=5, **kw):
    req = {"request": "mwi_notify", "user": user, "domain": domain, "new": new, "old": old}
    req.update(kw)
    return d.request(req)


class MwiNotify(sbtest.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pgfixture.PgServer()
        cls.pg.start()
        try:
            psql_file(cls.pg, KAM_SQL)
            cls.pg.psql("CREATE SCHEMA ops")
            psql_file(cls.pg, OPS_SQL, schema="ops")
        except BaseException:
            cls.pg.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()

    def setUp(self):
        self.t0 = time.time()
        self.pg.start()     # a test that killed it and failed midway
        kamrig.query(self.pg, "DELETE FROM active_watchers RETURNING id")
        kamrig.query(self.pg, "DELETE FROM ops.active_watchers RETURNING id")

    # -- helpers --

    def proxy(self, policy=None):
        p = Proxy(policy)
        self.addCleanup(p.close)
        return p

    def daemon(self, proxy_port, extra="", table=None, global_extra=""):
        d = sbtest.Daemon(extra=mwi_conf(self.pg, proxy_port, extra, table=table), start=False)
        if global_extra:
            d.write_config(d.config_text(mwi_conf(self.pg, proxy_port, extra, table=table))
                           .replace("type=global\n", "type=global\n" + global_extra, 1))
        try:
            d.start()
        except BaseException:
            d.cleanup()
            raise
        self.addCleanup(self._finish, d)
        return d

    def _failed(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is not None and hasattr(result, "failures"):
            return any(t is self for t, _ in result.failures + result.errors)
        return not getattr(outcome, "success", True)

    def _finish(self, d):
        failed = self._failed()
        try:
            if failed or os.environ.get("SB_VERBOSE"):
                sbtest.sys.stderr.write("---- daemon log (%s) ----\n%s\n" % (d.log_path, d.log()))
            rc = d.stop(check=False)
            self.assertEqual(rc, 0, "sipbridged exited %s on SIGTERM\n%s" % (rc, d.log()))
        finally:
            d.cleanup()

    def ok(self, r):
        self.assertEqual(r.get("response"), "success", r)
        return r["data"]

    def check_notify(self, m, row, cseq, text, ruri=None, to=None, contact=None, routes=None,
                     event=None):
        """Every header of NOTIFY M against ROW (mwi.md section 2)."""
        info = m.text()
        self.assertEqual(m.method, "NOTIFY", info)
        self.assertEqual(m.uri, ruri or row["contact"], info)
        self.assertEqual(m.hdrs("route"), routes_of(row["record_route"]) if routes is None
                         else routes, info)
        self.assertEqual(m.hdr("from"), "<sip:%s@%s>;tag=%s"
                         % (row["to_user"], row["to_domain"], row["to_tag"]), info)
        self.assertEqual(m.hdr("to"), to or "<sip:%s@%s>;tag=%s"
                         % (row["from_user"], row["from_domain"], row["from_tag"]), info)
        self.assertEqual(m.hdr("call-id"), row["callid"], info)
        self.assertEqual(m.hdr("cseq"), "%d NOTIFY" % cseq, info)
        self.assertEqual(m.hdr("contact"), contact or "<%s>" % row["local_contact"], info)
        self.assertEqual(m.hdr("event"), event or (
            "message-summary;id=%s" % row["event_id"] if row["event_id"] else "message-summary"),
            info)
        ss = re.match(r"^active;expires=(\d+)$", m.hdr("subscription-state") or "")
        self.assertTrue(ss, info)
        # expires - now at the daemon, sometime between setUp and this check.
        lo, hi = row["expires"] - time.time() - 1, row["expires"] - self.t0 + 1
        self.assertTrue(lo <= int(ss.group(1)) <= hi, (ss.group(1), lo, hi, info))
        self.assertEqual(m.hdr("max-forwards"), "70", info)
        self.assertEqual(m.hdr("content-type"), CTYPE, info)
        self.assertEqual(m.hdr("content-length"), str(len(text.encode())), info)
        self.assertEqual(m.body.decode(), text, info)
        self.assertEqual(len(m.hdrs("via")), 1, info)

    def events(self, d):
        """A control client watching topic mwi."""
        c = d.client()
        self.addCleanup(c.close)
        self.ok(c.request({"request": "watch", "topics": ["mwi"]}))
        return c

    def next_event(self, c, callid=None):
        m = c.event(lambda m: m.get("topic") == "mwi" and
                    (callid is None or m["result"].get("callid") == callid))
        return m["result"]

    # -- 1 -------------------------------------------------------------------------

    def test_acceptance_one_notify_per_live_watcher(self):
        """ACCEPTANCE: two live rows, an expired one, a terminated one: a sipp
        UAS (the proxy) gets exactly two NOTIFYs, every header from its row,
        the exact body; CSeq = old local_cseq + 2; only the live rows'
        local_cseq advanced, by exactly 1."""
        now = int(time.time())
        rr = "<sip:127.0.0.1:%d;lr;ftag=kt-a>,<sip:127.0.0.1:%d;lr>" % (unused_port(),
                                                                        unused_port())
        # from_user differs from watcher_username: the To must come from from_*.
        a = insert(self.pg, kam_row(local_cseq=7, record_route=rr, event_id=None,
                                    from_user="alice", from_domain="phones.example.net",
                                    watcher_username="w-alice", watcher_domain="w.example"))
        b = insert(self.pg, kam_row(local_cseq=12, record_route="", event_id="x1",
                                    socket_info="tcp:127.0.0.1:5070",
                                    local_contact="sip:127.0.0.1:5070", expires=now + 1800))
        expired = insert(self.pg, kam_row(local_cseq=5, expires=now - 10))
        term = insert(self.pg, kam_row(local_cseq=9, status=3, reason="timeout"))
        other = insert(self.pg, kam_row(user="1001", local_cseq=4))       # another mailbox
        sipp = SippProxy(tempfile_dir(self), 2)
        self.addCleanup(sipp.stop)
        d = self.daemon(sipp.port)
        wait_ready(d)
        r = self.ok(notify(d, new=2, old=5, urgent_new=1, urgent_old=0))
        self.assertEqual((r["user"], r["domain"], r["queued"]), ("1000", DOMAIN, True), r)
        self.assertIsInstance(r["pending"], int, r)
        rc = sipp.wait(20)
        self.assertEqual(rc, 0, sipp.dump())
        got = {m.hdr("call-id"): m for m in sipp.received()}
        self.assertEqual(sorted(got), sorted([a["callid"], b["callid"]]), sipp.dump())
        text = body(2, 5, 1, 0)
        self.check_notify(got[a["callid"]], a, 9, text,
                          to="<sip:alice@phones.example.net>;tag=%s" % a["from_tag"],
                          routes=routes_of(rr), contact="<sip:127.0.0.1:5070>")
        self.check_notify(got[b["callid"]], b, 14, text, routes=[],
                          contact="<sip:127.0.0.1:5070;transport=tcp>",
                          event="message-summary;id=x1")
        self.assertEqual(row_by_id(self.pg, a["id"])["local_cseq"], 8)
        self.assertEqual(row_by_id(self.pg, b["id"])["local_cseq"], 13)
        self.assertEqual(row_by_id(self.pg, expired["id"])["local_cseq"], 5)
        self.assertEqual(row_by_id(self.pg, term["id"])["local_cseq"], 9)
        self.assertEqual(row_by_id(self.pg, other["id"])["local_cseq"], 4)
        s = wait_idle(d)
        self.assertEqual(s["counters"]["watchers"], 2, s)
        self.assertEqual(s["counters"]["sent"], 2, s)
        wait_for(lambda: mwi_status(d)["counters"]["ok"] == 2, 5, "2 ok")
        if os.environ.get("SB_VERBOSE"):
            print(got[a["callid"]].text(), file=sbtest.sys.stderr)

    # -- 2 -------------------------------------------------------------------------

    def test_481_and_404_remove_the_row_on_gone_keep_keeps(self):
        codes = {}
        p = self.proxy(lambda m: codes.get(m.hdr("call-id"), 200))
        d = self.daemon(p.port)
        wait_ready(d)
        ev = self.events(d)
        r481 = insert(self.pg, kam_row(user="2001"))
        r404 = insert(self.pg, kam_row(user="2002"))
        codes[r481["callid"]], codes[r404["callid"]] = 481, 404
        self.ok(notify(d, user="2001"))
        self.ok(notify(d, user="2002"))
        e = {}
        for _ in range(2):
            x = self.next_event(ev)
            e[x["callid"]] = x
        self.assertEqual((e[r481["callid"]]["status"], e[r481["callid"]]["action"]),
                         (481, "deleted"), e)
        self.assertEqual((e[r404["callid"]]["status"], e[r404["callid"]]["action"]),
                         (404, "deleted"), e)
        self.assertEqual(e[r481["callid"]]["cseq"], "%d NOTIFY" % (r481["local_cseq"] + 2), e)
        self.assertEqual((e[r404["callid"]]["user"], e[r404["callid"]]["domain"]),
                         ("2002", DOMAIN), e)
        wait_for(lambda: row_by_id(self.pg, r481["id"]) is None, 5, "the 481 row to go")
        wait_for(lambda: row_by_id(self.pg, r404["id"]) is None, 5, "the 404 row to go")
        wait_for(lambda: mwi_status(d)["counters"]["deleted"] == 2, 5, "deleted == 2")
        self.assertEqual(mwi_status(d)["counters"]["gone"], 2)

        # on_gone=keep, by a reload of the same daemon.
        with open(d.conf) as f:
            conf = f.read()
        d.write_config(conf.replace("[mwi]\ntype=mwi\n", "[mwi]\ntype=mwi\non_gone=keep\n", 1))
        self.ok(d.request({"request": "reload"}))
        k481 = insert(self.pg, kam_row(user="2003"))
        k404 = insert(self.pg, kam_row(user="2003"))
        codes[k481["callid"]], codes[k404["callid"]] = 481, 404
        self.ok(notify(d, user="2003"))
        e = {}
        for _ in range(2):
            x = self.next_event(ev)
            e[x["callid"]] = x
        self.assertEqual(e[k481["callid"]]["action"], "kept", e)
        self.assertEqual(e[k404["callid"]]["action"], "kept", e)
        wait_idle(d)
        time.sleep(0.3)
        self.assertEqual(row_by_id(self.pg, k481["id"])["local_cseq"], k481["local_cseq"] + 1)
        self.assertEqual(row_by_id(self.pg, k404["id"])["local_cseq"], k404["local_cseq"] + 1)
        s = mwi_status(d)["counters"]
        self.assertEqual((s["gone"], s["deleted"]), (4, 2), s)
        self.assertEqual(len(p.notifies()), 4)

    # -- 3 -------------------------------------------------------------------------

    def test_408_removes_with_timeout_removes_yes(self):
        p = self.proxy(lambda m: 408)
        d = self.daemon(p.port)         # timeout_removes defaults to yes
        wait_ready(d)
        ev = self.events(d)
        r = insert(self.pg, kam_row(user="3001"))
        self.ok(notify(d, user="3001"))
        x = self.next_event(ev)
        self.assertEqual((x["status"], x["action"]), (408, "deleted"), x)
        wait_for(lambda: row_by_id(self.pg, r["id"]) is None, 5, "the 408 row to go")
        p.settle(1, quiet=0.5)          # no retry
        s = mwi_status(d)["counters"]
        self.assertEqual((s["timeouts"], s["deleted"], s["retries"]), (1, 1, 0), s)

    def test_408_kept_and_retried_with_timeout_removes_no(self):
        p = self.proxy(lambda m: 408 if len(p.requests) == 0 else 200)
        d = self.daemon(p.port, "timeout_removes=no\nretry_min=100\nretry_max=400\n")
        wait_ready(d)
        ev = self.events(d)
        r = insert(self.pg, kam_row(user="3002", local_cseq=20))
        self.ok(notify(d, user="3002", new=1, old=0))
        x1 = self.next_event(ev)
        self.assertEqual((x1["status"], x1["action"], x1["cseq"]), (408, "retry", "22 NOTIFY"), x1)
        x2 = self.next_event(ev)
        self.assertEqual((x2["status"], x2["action"], x2["cseq"]), (200, "ok", "23 NOTIFY"), x2)
        got = p.settle(2, quiet=0.3)
        self.assertEqual([cseq_num(m) for m in got], [22, 23])
        self.assertGreaterEqual(got[1].t - got[0].t, 0.09)
        for m in got:
            self.assertEqual(m.body.decode(), body(1, 0))
            self.assertEqual(m.hdr("call-id"), r["callid"])
        self.assertEqual(row_by_id(self.pg, r["id"])["local_cseq"], 22)
        s = mwi_status(d)["counters"]
        self.assertEqual((s["timeouts"], s["deleted"], s["retries"], s["ok"]), (1, 0, 1, 1), s)

    # -- 4 -------------------------------------------------------------------------

    def test_503_retried_with_new_cseq_then_given_up(self):
        p = self.proxy(lambda m: 503)
        d = self.daemon(p.port, "max_retries=3\nretry_min=100\nretry_max=400\n")
        wait_ready(d)
        r = insert(self.pg, kam_row(user="4001", local_cseq=30))
        self.ok(notify(d, user="4001"))
        got = p.settle(4, timeout=8, quiet=1.0)
        self.assertEqual([cseq_num(m) for m in got], [32, 33, 34, 35],
                         "\n".join(m.text() for m in got))
        gaps = [b.t - a.t for a, b in zip(got, got[1:])]
        for gap, least in zip(gaps, (0.1, 0.2, 0.4)):     # retry_min doubling, retry_max cap
            self.assertGreaterEqual(gap, least * 0.9, gaps)
        self.assertEqual(len({m.branch for m in got}), 4)   # new transactions
        d.wait_log("given up", 5)
        line = [l for l in d.log().splitlines() if "given up" in l]
        self.assertEqual(len(line), 1, line)
        self.assertIn(r["callid"], line[0])
        self.assertIn("503", line[0])
        wait_idle(d)
        self.assertEqual(row_by_id(self.pg, r["id"])["local_cseq"], 34)   # last sent - 1
        s = mwi_status(d)["counters"]
        self.assertEqual((s["retries"], s["failed"], s["sent"], s["deleted"]), (3, 1, 4, 0), s)

    def test_503_then_200_ok_after_one_retry(self):
        p = self.proxy(lambda m: 503 if len(p.requests) == 0 else 200)
        d = self.daemon(p.port, "max_retries=3\nretry_min=100\nretry_max=400\n")
        wait_ready(d)
        ev = self.events(d)
        r = insert(self.pg, kam_row(user="4002", local_cseq=0))
        self.ok(notify(d, user="4002", new=0, old=3))
        x1, x2 = self.next_event(ev), self.next_event(ev)
        self.assertEqual((x1["status"], x1["action"]), (503, "retry"), x1)
        self.assertEqual((x2["status"], x2["action"]), (200, "ok"), x2)
        got = p.settle(2, quiet=0.5)
        self.assertEqual([cseq_num(m) for m in got], [2, 3])
        self.assertEqual(got[1].body.decode(), body(0, 3))
        self.assertEqual(row_by_id(self.pg, r["id"])["local_cseq"], 2)
        s = mwi_status(d)["counters"]
        self.assertEqual((s["retries"], s["ok"], s["failed"]), (1, 1, 0), s)
        self.assertNotIn("given up", d.log())

    # -- 5 -------------------------------------------------------------------------

    def test_flavour_auto_kamailio_and_opensips(self):
        p = self.proxy()
        kam = self.daemon(p.port)
        ops = self.daemon(p.port, table="ops.active_watchers")
        sk, so = wait_ready(kam), wait_ready(ops)
        self.assertEqual((sk["flavour"], sk["table"]), ("kamailio", "active_watchers"), sk)
        self.assertEqual((so["flavour"], so["table"]), ("opensips", "ops.active_watchers"), so)
        self.assertTrue(so["database_connected"], so)

        # OpenSIPS: To = watcher_username@watcher_domain.
        orow = insert(self.pg, ops_row(user="5001", watcher_username="opsw",
                                       watcher_domain="ops.example", local_cseq=3),
                      table="ops.active_watchers")
        self.ok(notify(ops, user="5001", new=4, old=0))
        m = p.settle(1)[0]
        self.check_notify(m, orow, 5, body(4, 0),
                          to="<sip:opsw@ops.example>;tag=%s" % orow["from_tag"])
        self.assertEqual(row_by_id(self.pg, orow["id"], "ops.active_watchers")["local_cseq"], 4)

        # Kamailio with empty from_user/from_domain: falls back to watcher_*.
        krow = insert(self.pg, kam_row(user="5002", from_user="", from_domain="",
                                       watcher_username="kamw", watcher_domain="kam.example"))
        self.ok(notify(kam, user="5002", new=0, old=0))
        m = p.settle(2)[1]
        self.check_notify(m, krow, krow["local_cseq"] + 2, body(0, 0),
                          to="<sip:kamw@kam.example>;tag=%s" % krow["from_tag"])

    def test_flavour_auto_unqualified_table_is_the_one_in_search_path(self):
        """table=active_watchers means the one the search_path finds
        (public): OpenSIPS's there, a Kamailio copy in another schema must
        not make it 'kamailio'."""
        self.pg.psql("DROP DATABASE IF EXISTS flav")
        self.pg.psql("CREATE DATABASE flav")
        flav = OtherDb(self.pg, "flav")
        psql_file(flav, OPS_SQL)
        psql_file(flav, None, sql="CREATE SCHEMA kamcopy")
        psql_file(flav, KAM_SQL, schema="kamcopy")
        p = self.proxy()
        d = sbtest.Daemon(extra=mwi_conf(flav, p.port))
        self.addCleanup(self._finish, d)
        s = wait_for(lambda: mwi_status(d)["ready"] and mwi_status(d), 10, "ready")
        self.assertEqual(s["flavour"], "opensips", s)
        row = insert(flav, ops_row(user="5003"))
        self.ok(notify(d, user="5003"))
        p.settle(1)
        self.assertEqual(mwi_status(d)["counters"]["lookup_errors"], 0)
        self.assertEqual(row_by_id(flav, row["id"])["local_cseq"], row["local_cseq"] + 1)

    # -- 6 -------------------------------------------------------------------------

    def test_listen_channel(self):
        p = self.proxy()
        d = self.daemon(p.port, "listen_channel=mwi_events\n")
        wait_ready(d)
        r1 = insert(self.pg, kam_row(local_cseq=1))
        r2 = insert(self.pg, kam_row(local_cseq=40, event_id="v1"))
        self.pg.psql("NOTIFY mwi_events, '1000@example.com 3 1'")
        got = {m.hdr("call-id"): m for m in p.settle(2)}
        self.check_notify(got[r1["callid"]], r1, 3, body(3, 1))
        self.check_notify(got[r2["callid"]], r2, 42, body(3, 1))
        # With urgent counts.
        self.pg.psql("NOTIFY mwi_events, '1000@example.com 0 4 0 2'")
        got = p.settle(4)[2:]
        self.assertEqual([m.body.decode() for m in got], [body(0, 4, 0, 2)] * 2)
        # Malformed payloads: counted, nothing sent.
        for bad in ("garbage", "1000@example.com 3", "1000@example.com x y", "@ 1 2"):
            self.pg.psql("NOTIFY mwi_events, '%s'" % bad)
        wait_for(lambda: mwi_status(d)["counters"]["listen_bad"] == 4, 5, "listen_bad == 4")
        p.settle(4, quiet=0.3)
        s = mwi_status(d)["counters"]
        self.assertEqual((s["listen_payloads"], s["listen_bad"]), (6, 4), s)
        self.assertTrue(d.alive())

    def test_debug_on_logs_each_notify_whole(self):
        p = self.proxy()
        d = self.daemon(p.port)
        wait_ready(d)
        r1 = insert(self.pg, kam_row(local_cseq=1))
        self.assertEqual(d.ctl("debug", "on").returncode, 0)
        self.ok(notify(d, new=4, old=0))
        p.settle(1)
        log = d.log()
        self.assertIn("NOTIFY %s SIP/2.0" % r1["contact"], log)
        self.assertIn("Call-ID: %s" % r1["callid"], log)
        self.assertIn("Voice-Message: 4/0 (0/0)", log)
        self.assertEqual(d.ctl("debug", "off").returncode, 0)
        before = log.count("Voice-Message:")
        self.ok(notify(d, new=5, old=0))
        p.settle(2)
        self.assertEqual(d.log().count("Voice-Message:"), before)

    # -- 7 -------------------------------------------------------------------------

    def test_mwi_show_prints_every_field(self):
        p = self.proxy()
        d = self.daemon(p.port)
        wait_ready(d)
        now = int(time.time())
        rr = "<sip:127.0.0.1:%d;lr>" % unused_port()
        a = insert(self.pg, kam_row(user="7001", local_cseq=10, record_route=rr, event_id="e7",
                                    from_user="bob", from_domain="b.example",
                                    local_contact="sip:127.0.0.1:5071;transport=tcp"))
        b = insert(self.pg, kam_row(user="7001", local_cseq=3, status=3, expires=now - 5))
        insert(self.pg, kam_row(user="7001", event="presence"))    # not message-summary
        r = self.ok(d.request({"request": "mwi_show", "user": "7001", "domain": DOMAIN}))
        self.assertEqual(r["presentity"], "sip:7001@%s" % DOMAIN, r)
        w = {x["callid"]: x for x in r["watchers"]}
        self.assertEqual(sorted(w), sorted([a["callid"], b["callid"]]), r)
        wa, wb = w[a["callid"]], w[b["callid"]]
        self.assertEqual(
            {k: wa[k] for k in ("id", "to_tag", "from_tag", "subscriber", "subscriber_domain",
                                "contact", "record_route", "local_contact", "event_id",
                                "expires", "cseq", "next_cseq", "status", "live")},
            {"id": str(a["id"]), "to_tag": a["to_tag"], "from_tag": a["from_tag"],
             "subscriber": "bob", "subscriber_domain": "b.example", "contact": a["contact"],
             "record_route": rr, "local_contact": a["local_contact"], "event_id": "e7",
             "expires": a["expires"], "cseq": 11, "next_cseq": 12, "status": 1, "live": True},
            r)
        self.assertTrue(a["expires"] - now - 5 <= wa["expires_in"] <= a["expires"] - now, wa)
        self.assertEqual((wb["status"], wb["live"], wb["event_id"], wb["cseq"]),
                         (3, False, "", 4), wb)
        self.assertLess(wb["expires_in"], 0, wb)
        # Read-only: nothing sent, nothing advanced.
        self.assertEqual(row_by_id(self.pg, a["id"])["local_cseq"], 10)
        self.assertEqual(p.notifies(), [])
        # An unknown mailbox: no watchers.
        r = self.ok(d.request({"request": "mwi_show", "user": "7999", "domain": DOMAIN}))
        self.assertEqual(r["watchers"], [], r)
        # After a NOTIFY, cseq is the one sent.
        self.ok(notify(d, user="7001"))
        m = p.settle(1)[0]
        r = self.ok(d.request({"request": "mwi_show", "user": "7001", "domain": DOMAIN}))
        w = {x["callid"]: x for x in r["watchers"]}
        self.assertEqual(w[a["callid"]]["cseq"], cseq_num(m), r)
        self.assertEqual(w[a["callid"]]["next_cseq"], cseq_num(m) + 1, r)

    # -- 8 -------------------------------------------------------------------------

    def test_database_down_coalesces_and_sends_latest(self):
        """The database dies: mwi_notify still answers queued; when it is
        back the mailbox's LATEST counts go out, exactly one NOTIFY per live
        watcher, each live row's local_cseq advanced by exactly 1 (the
        triggers made meanwhile coalesce into one lookup)."""
        p = self.proxy()
        d = self.daemon(p.port)
        wait_ready(d)
        a = insert(self.pg, kam_row(user="8001", local_cseq=2))
        b = insert(self.pg, kam_row(user="8001", local_cseq=50))
        gone = insert(self.pg, kam_row(user="8001", local_cseq=7, expires=int(time.time()) - 1))
        # pgfixture runs with synchronous_commit=off: without a checkpoint the
        # immediate shutdown can lose the rows just inserted.
        self.pg.psql("CHECKPOINT")
        self.pg.kill()
        wait_for(lambda: not mwi_status(d)["database_connected"], 5, "database_connected false")
        for new, old in ((1, 0), (2, 0), (5, 1), (3, 2)):
            r = notify(d, user="8001", new=new, old=old)
            self.assertEqual(r["response"], "success", r)
            self.assertTrue(r["data"]["queued"], r)
        s = mwi_status(d)
        self.assertFalse(s["database_connected"], s)
        self.assertTrue(d.alive())
        self.assertEqual(s["counters"]["triggers"], 4, s)
        self.assertEqual(p.notifies(), [])
        time.sleep(0.3)
        self.assertEqual(p.notifies(), [])
        self.pg.start()
        got = p.settle(2, timeout=10, quiet=1.0)
        self.assertEqual(sorted(m.hdr("call-id") for m in got), sorted([a["callid"], b["callid"]]))
        for m in got:
            self.assertEqual(m.body.decode(), body(3, 2), m.text())
        by = {m.hdr("call-id"): m for m in got}
        self.assertEqual(cseq_num(by[a["callid"]]), 4)
        self.assertEqual(cseq_num(by[b["callid"]]), 52)
        s = wait_idle(d)
        self.assertTrue(s["database_connected"], s)
        self.assertEqual(row_by_id(self.pg, a["id"])["local_cseq"], 3)
        self.assertEqual(row_by_id(self.pg, b["id"])["local_cseq"], 51)
        self.assertEqual(row_by_id(self.pg, gone["id"])["local_cseq"], 7)

    # -- 9 -------------------------------------------------------------------------

    def test_asterisk_mwi_publish_triggers_notifies(self):
        p = self.proxy()
        d = self.daemon(p.port, PUBLISH_CONF, global_extra="entity_id=%s\n" % OWN_EID)
        wait_ready(d)
        r1 = insert(self.pg, kam_row(user="1000", local_cseq=5))
        r2 = insert(self.pg, kam_row(user="1000", local_cseq=6, record_route=(
            "<sip:127.0.0.1:%d;lr>" % unused_port())))
        exact = ('{"type":"mailboxstate","uniqueid":"1000@default","old":3,"new":1,'
                 '"eid":"00:0c:29:ab:cd:ef"}')
        st = publish(d.port, exact)
        self.assertEqual(st, 200)
        got = {m.hdr("call-id"): m for m in p.settle(2)}
        self.check_notify(got[r1["callid"]], r1, 7, body(1, 3))
        self.check_notify(got[r2["callid"]], r2, 8, body(1, 3))
        # A context without a context_domain: counted, nothing sent.
        st = publish(d.port, exact.replace("1000@default", "1000@other"))
        self.assertEqual(st, 200)
        wait_for(lambda: mwi_status(d)["counters"]["unmapped"] == 1, 5, "unmapped == 1")
        p.settle(2, quiet=0.3)

    # -- 10 ------------------------------------------------------------------------

    def test_bad_control_input(self):
        p = self.proxy()
        d = self.daemon(p.port)
        wait_ready(d)
        insert(self.pg, kam_row(user="1000"))
        cases = [
            ({"domain": DOMAIN, "new": 1, "old": 0}, 443),                    # no user
            ({"user": "1000", "new": 1, "old": 0}, 443),                      # no domain
            ({"user": "1000", "domain": DOMAIN, "old": 0}, 443),              # no new
            ({"user": "1000@x", "domain": DOMAIN, "new": 1, "old": 0}, 444),  # '@'
            ({"user": "", "domain": DOMAIN, "new": 1, "old": 0}, 444),
            ({"user": 1000, "domain": DOMAIN, "new": 1, "old": 0}, 444),
            ({"user": "1000", "domain": "a b", "new": 1, "old": 0}, 444),
            ({"user": "1000", "domain": DOMAIN, "new": -1, "old": 0}, 444),   # negative
            ({"user": "1000", "domain": DOMAIN, "new": 1, "old": 0,
              "urgent_new": "1"}, 444),                                       # string
            ({"user": "1000", "domain": DOMAIN, "new": 1.5, "old": 0}, 444),
            ({"user": "1000", "domain": DOMAIN, "new": 1, "old": 2 ** 40}, 444),
        ]
        for req, code in cases:
            r = d.request(dict(req, request="mwi_notify"))
            self.assertEqual((r.get("response"), r.get("error_code")), ("error", code), (req, r))
        self.assertEqual(d.request({"request": "mwi_show", "domain": DOMAIN}).get("error_code"),
                         443)
        self.assertEqual(d.request({"request": "mwi_show", "user": "a@b", "domain": DOMAIN})
                         .get("error_code"), 444)
        s = mwi_status(d)
        self.assertEqual(s["counters"]["triggers"], 0, s)
        self.assertTrue(d.alive())
        self.ok(d.request({"request": "status"}))
        # Still works.
        self.ok(notify(d, user="1000"))
        p.settle(1)

    def test_no_mwi_section_answers_447(self):
        with sbtest.Daemon() as d:
            r = notify(d)
            self.assertEqual((r.get("response"), r.get("error_code")), ("error", 447), r)
            r = d.request({"request": "mwi_show", "user": "1000", "domain": DOMAIN})
            self.assertEqual(r.get("error_code"), 447, r)
            r = self.ok(d.request({"request": "mwi_status"}))
            self.assertEqual(r["enabled"], False, r)


PUBLISH_CONF = """
[instance2]
type=endpoint

[instance2]
type=inbound-publication
endpoint=instance2
event_asterisk-mwi=instance2

[instance2]
type=asterisk-publication
mailbox_state=yes
"""


def publish(port, text):
    """One asterisk-mwi PUBLISH from 'instance2' (as Asterisk's
    res_pjsip_publish_asterisk sends it); returns the final status."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    try:
        lport = s.getsockname()[1]
        branch = "z9hG4bK" + uuid.uuid4().hex
        uri = "sip:instance2@127.0.0.1:%d" % port
        payload = text.encode()
        msg = ("PUBLISH %s SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\n"
               "From: <sip:instance2@127.0.0.1:%d>;tag=%s\r\n"
               "To: <%s>\r\n"
               "Call-ID: %s@127.0.0.1\r\n"
               "CSeq: 1 PUBLISH\r\n"
               "Max-Forwards: 70\r\n"
               "Event: asterisk-mwi\r\n"
               "Expires: 3600\r\n"
               "Content-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n" % (uri, lport, branch, port, uuid.uuid4().hex[:8],
                                               uri, uuid.uuid4().hex, len(payload))).encode()
        msg += payload
        deadline = time.monotonic() + bounded(5)
        s.sendto(msg, ("127.0.0.1", port))
        nxt = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, min(nxt, deadline) - time.monotonic()))
            try:
                data = s.recv(65535)
            except socket.timeout:
                s.sendto(msg, ("127.0.0.1", port))
                nxt = time.monotonic() + 1
                continue
            r = Msg(data)
            if r.status and r.status >= 200 and branch in (r.hdr("via") or ""):
                return r.status
        raise AssertionError("no final response to the PUBLISH")
    finally:
        s.close()


def tempfile_dir(case):
    d = tempfile.mkdtemp(prefix="sbmwi-")
    if not os.environ.get("SB_KEEP"):
        case.addCleanup(shutil.rmtree, d, True)
    return d


if __name__ == "__main__":
    sbtest.main()
