"""faultrig - helpers for the fault tests (it_fault_*.py): crash a
PostgreSQL server the hard way, a UDP proxy that takes MWI NOTIFYs, a
PUBLISH peer that can come back on the same port, a sipp scenario written
at run time, a control client in a child process that can be SIGKILLed.

    faultrig.become_subreaper()      # before starting PgServer
    faultrig.pg_sigkill(pg)          # SIGKILL of the postmaster; pg.start() after

Python standard library only; every wait is bounded (sbtest.bounded).
"""
import ctypes
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import sbtest
from chatsip import Msg
from pubpeer import Peer
from sbtest import bounded, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
PR_SET_CHILD_SUBREAPER = 36


# -- PostgreSQL crashed by SIGKILL ------------------------------------------------

def become_subreaper():
    """Make this process the reaper of its orphaned descendants (Linux
    prctl), so that a SIGKILLed postmaster, whose parent pg_ctl has long
    exited, is reaped here: an unreaped zombie keeps its PID alive and the
    next postmaster would refuse the data directory ("another postmaster
    running").  Call before PgServer.start()."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    # comm may hold spaces: the fields after the last ')' are fixed.
    rest = stat.rsplit(")", 1)[1].split()
    return int(rest[1]), rest[0]


def _children(pid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _ppid(int(name))
            if st and st[0] == pid:
                out.append(int(name))
    return out


def _gone(pid):
    """Reaped, or never ours and gone (or a zombie someone else must reap)."""
    try:
        got, _ = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            return True
    except ChildProcessError:
        st = _ppid(pid)
        return st is None or st[1] == "Z"
    return False


def postmaster_pid(pg):
    with open(os.path.join(pg.datadir, "postmaster.pid")) as f:
        return int(f.readline())


def pg_sigkill(pg, timeout=15):
    """SIGKILL the postmaster, as the OOM killer would: no shutdown, no
    checkpoint.  Its children (backends, checkpointer, walwriter...) notice
    the postmaster's death and exit on their own, which closes the
    daemon's connections; wait until all are gone and reaped, then mark the
    server stopped so that pg.start() brings it back on the same port and
    data directory."""
    pm = postmaster_pid(pg)
    kids = _children(pm)
    os.kill(pm, signal.SIGKILL)
    wait_for(lambda: all(_gone(p) for p in [pm] + kids), timeout,
             "the postmaster %d and its %d children to exit" % (pm, len(kids)))
    pg.running = False
    return pm, kids


def sync_commit(pg):
    """pgfixture turns synchronous_commit off (speed); a crash test wants a
    committed row to stay committed, as on a real server."""
    pg.psql("ALTER SYSTEM SET synchronous_commit = on")
    pg.psql("SELECT pg_reload_conf()")
    wait_for(lambda: pg.psql("SHOW synchronous_commit").strip() == "on", 5,
             "synchronous_commit on")


def db_state(d, name):
    for x in d.status()["databases"]:
        if x["name"] == name:
            return x
    raise AssertionError("no database %s in status" % name)


# -- a UDP outbound proxy taking MWI NOTIFYs --------------------------------------

class NotifyProxy:
    """Records each NOTIFY once (by branch) and answers it 200, its
    retransmissions too."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.requests = []
        self.seen = set()
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
            with self.lock:
                if m.branch not in self.seen:
                    self.seen.add(m.branch)
                    if m.method == "NOTIFY":
                        self.requests.append(m)
            lines = ["SIP/2.0 200 OK"]
            for n, v in m.headers:
                if n in ("via", "from", "to", "call-id", "cseq"):
                    lines.append("%s: %s" % (n.title(), v))
            lines.append("Content-Length: 0")
            try:
                self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), addr)
            except OSError:
                pass

    def notifies(self):
        with self.lock:
            return list(self.requests)

    def settle(self, n, timeout=10, quiet=1.0):
        """Exactly N NOTIFYs: at least N within TIMEOUT, then no more for QUIET s."""
        wait_for(lambda: len(self.notifies()) >= n, timeout, "%d NOTIFY(s) at the proxy" % n)
        time.sleep(quiet)
        got = self.notifies()
        assert len(got) == n, "expected %d NOTIFYs, got %d:\n%s" % (
            n, len(got), "\n---\n".join(m.text() for m in got))
        return got


def mwi_body(new, old, domain="example.com", vmexten="*97"):
    """The RFC 3842 body the daemon sends (docs/mwi.md), urgent counts 0."""
    return ("Messages-Waiting: %s\r\nMessage-Account: sip:%s@%s\r\n"
            "Voice-Message: %d/%d (0/0)\r\n" % ("yes" if new else "no", vmexten, domain,
                                                 new, old))


def watcher_row(user, domain="example.com", cseq=1, tag=None):
    """A live Kamailio active_watchers row for a message-summary watcher."""
    tag = tag or os.urandom(5).hex()
    return {
        "presentity_uri": "sip:%s@%s" % (user, domain),
        "watcher_username": user, "watcher_domain": domain,
        "to_user": user, "to_domain": domain, "event": "message-summary",
        "to_tag": "kt-" + tag, "from_tag": "ft-" + tag, "callid": "cid-%s@127.0.0.1" % tag,
        "local_cseq": cseq, "remote_cseq": 1,
        "contact": "sip:%s@127.0.0.1:%d" % (user, sbtest.free_port()),
        "record_route": "", "expires": int(time.time()) + 3600, "status": 1, "reason": "",
        "version": 0, "socket_info": "udp:127.0.0.1:5070",
        "local_contact": "sip:127.0.0.1:5070", "from_user": user, "from_domain": domain,
        "updated": 0, "updated_winfo": 0,
    }


def sql_lit(v):
    return str(v) if isinstance(v, int) else "'" + str(v).replace("'", "''") + "'"


# -- a PUBLISH peer that comes back on its port ------------------------------------

class PortPeer(Peer):
    """pubpeer.Peer bound to PORT (0: any), so that a peer can be stopped
    and a new one started where the daemon's outbound-publish points.
    fresh_etags=True answers 412 to a SIP-If-Match it never issued, as a
    restarted Asterisk does."""

    def __init__(self, port=0, fresh_etags=False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.requests = queue.Queue()
        self.all = []
        self.etag = 1000 + port % 1000 * 10
        self.issued = set()
        self.accepted = []       # PUBLISHes answered 2xx, in order
        self.policy = self.strict if fresh_etags else self.accept
        self.stopped = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def strict(self, msg):
        m = msg.hdr("sip-if-match")
        if m is not None and m not in self.issued:
            return 412, "Conditional Request Failed", []
        return self.accept(msg)

    def accept(self, msg, expires=None):
        ans = super().accept(msg, expires)
        self.issued.add(str(self.etag))
        self.accepted.append(msg)
        return ans

    def respond(self, *args, **kw):
        try:
            super().respond(*args, **kw)
        except OSError:
            pass             # closed under the thread's feet

    def close(self):
        super().close()
        self.t.join(bounded(2))


# -- sipp scenarios written at run time --------------------------------------------

def write_scenario(d, name, xml):
    path = os.path.join(d.dir, name)
    with open(path, "w") as f:
        f.write(xml)
    return path


# -- a control client in a child process ---------------------------------------------

CHILD = r"""
import json, sys
sys.path.insert(0, %(here)r)
from sbtest import Client
c = Client(%(sock)r, timeout=20)
h = None
for step in json.loads(sys.argv[1]):
    req = dict(step["request"])
    if h is not None:
        req.setdefault("handle_id", h)
    r = c.request(req)
    if r.get("response") != "success":
        print(json.dumps({"failed": req, "reply": r}), flush=True)
        sys.exit(2)
    if req["request"] == "create":
        h = r["data"]["handle_id"]
        print(json.dumps({"handle_id": h, "token": r["data"]["token"]}), flush=True)
    for ev in step.get("events", ()):
        m = c.wait(lambda m: m.get("sipbridge") == "event" and m.get("handle_id") == h
                   and m.get("result", {}).get("event") == ev)
        print(json.dumps({"event": ev, "msg": m}), flush=True)
print(json.dumps({"ready": True}), flush=True)
sys.stdin.read()       # hold the connection until killed
"""


class ChildClient:
    """A python3 child that connects to the control socket, runs STEPS
    ([{"request": {...}, "events": [event names to wait for]}, ...]; a
    "create" step makes the handle the later ones name), prints one JSON
    line per handle and event, then {"ready": true}, and holds its
    connection until killed."""

    def __init__(self, d, steps):
        code = CHILD % {"here": HERE, "sock": d.sock_path}
        self.proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(steps)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def next(self, timeout=15):
        try:
            m = self.lines.get(timeout=bounded(timeout))
        except queue.Empty:
            raise AssertionError("the child control client said nothing in %ss" % timeout)
        if m is None or "failed" in m:
            raise AssertionError("the child control client failed: %r %s"
                                 % (m, self.proc.stderr.read() if m is None else ""))
        return m

    def until_ready(self, timeout=15):
        out = []
        while True:
            m = self.next(timeout)
            if m.get("ready"):
                return out
            out.append(m)

    def sigkill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=bounded(5))
        self.close()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=bounded(5))
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


# -- a TCP relay in front of PostgreSQL that can lose an answer ------------------------

class PgRelay:
    """Relays loopback TCP connections to 127.0.0.1:TARGET_PORT.  arm(regex)
    makes the relay, on the next client-to-server chunk matching REGEX,
    forward that chunk and then swallow everything the server answers on
    that connection; cut() then closes it.  So the server has executed (and
    committed) a statement whose result the client never sees, as when a
    backend dies or the network breaks right after the commit."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []          # [client, server, state dict]
        self.armed = None
        self.tripped = threading.Event()
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(self.target, timeout=bounded(5))
                s.settimeout(None)
            except OSError:
                c.close()
                continue
            st = {"swallow": False}
            with self.lock:
                self.conns.append((c, s, st))
            threading.Thread(target=self._pump, args=(c, s, st, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, st, False), daemon=True).start()

    def _pump(self, src, dst, st, upstream):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                for x in (src, dst):
                    try:
                        x.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            if not upstream and st["swallow"]:
                continue
            try:
                dst.sendall(data)
            except OSError:
                return
            if upstream:
                with self.lock:
                    rx = self.armed
                    if rx is not None and rx.search(data):
                        st["swallow"] = True
                        self.armed = None
                        self.tripped.set()

    def arm(self, regex):
        with self.lock:
            self.tripped.clear()
            self.armed = regex

    def cut(self):
        """Close every connection that is swallowing answers."""
        with self.lock:
            victims = [(c, s) for c, s, st in self.conns if st["swallow"]]
            self.conns = [x for x in self.conns if not x[2]["swallow"]]
        for c, s in victims:
            for x in (c, s):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                x.close()
        return len(victims)

    def close(self):
        self.stopped = True
        self.lsock.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for c, s, _ in conns:
            for x in (c, s):
                try:
                    x.close()
                except OSError:
                    pass


# -- a far end that answers a call and can hang up on demand -------------------------

UAS_SDP = ("v=0\r\no=far 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


class Uas:
    """A UDP SIP far end on loopback: answers INVITE 200 with an SDP
    answer, every in-dialog request 200; bye() hangs up from this side.
    Everything received is kept (Msg, in order, retransmissions once)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Condition()
        self.received = []
        self.responses = []
        self.seen = {}
        self.invite = None
        self.tag = "uas%s" % os.urandom(4).hex()
        self.stopped = False
        threading.Thread(target=self._run, daemon=True).start()

    def close(self):
        self.stopped = True
        self.sock.close()

    def _answer(self, m, status, reason, extra=(), body=""):
        lines = ["SIP/2.0 %d %s" % (status, reason)]
        for n, v in m.headers:
            if n == "to" and "tag=" not in v:
                v += ";tag=" + self.tag
            if n in ("via", "from", "to", "call-id", "cseq"):
                lines.append("%s: %s" % (n.title(), v))
        lines += list(extra)
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % len(body.encode()))
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def _run(self):
        while not self.stopped:
            try:
                raw, addr = self.sock.recvfrom(65535)
            except OSError:
                return
            m = Msg(raw)
            if m.status is not None:
                with self.lock:
                    self.responses.append(m)
                    self.lock.notify_all()
                continue
            if m.method is None:
                continue
            key = (m.branch, m.method)
            with self.lock:
                if key in self.seen:
                    resp = self.seen[key]
                else:
                    self.received.append(m)
                    if m.method == "ACK":
                        resp = None
                    elif m.method == "INVITE":
                        self.invite = m
                        resp = self._answer(m, 200, "OK", [
                            "Contact: <sip:far@127.0.0.1:%d>" % self.port], UAS_SDP)
                    else:
                        resp = self._answer(m, 200, "OK")
                    self.seen[key] = resp
                    self.lock.notify_all()
            if resp:
                try:
                    self.sock.sendto(resp, addr)
                except OSError:
                    pass

    def got(self, method):
        with self.lock:
            return [m for m in self.received if m.method == method]

    def wait(self, method, n=1, timeout=10):
        wait_for(lambda: len(self.got(method)) >= n, timeout, "%d %s at the far end" % (n, method))
        return self.got(method)

    def bye(self, timeout=10):
        """BYE in the dialog of the INVITE we answered; the final response."""
        inv = self.invite
        target = re.search(r"sip:(?:[^@>;]*@)?([0-9.]+):(\d+)", inv.hdr("contact"))
        addr = (target.group(1), int(target.group(2)))
        branch = "z9hG4bK" + os.urandom(6).hex()
        to = inv.hdr("to")
        if "tag=" not in to:
            to += ";tag=" + self.tag
        lines = ["BYE %s SIP/2.0" % re.search(r"<([^>]*)>", inv.hdr("contact")).group(1),
                 "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport" % (self.port, branch),
                 "Max-Forwards: 70", "From: " + to, "To: " + inv.hdr("from"),
                 "Call-ID: " + inv.hdr("call-id"), "CSeq: 1 BYE", "Content-Length: 0"]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode()
        end = time.monotonic() + bounded(timeout)
        while time.monotonic() < end:
            self.sock.sendto(raw, addr)
            with self.lock:
                self.lock.wait(0.5)
                final = [r for r in self.responses if r.branch == branch and r.status >= 200]
            if final:
                return final[0]
        raise AssertionError("no answer to our BYE")
