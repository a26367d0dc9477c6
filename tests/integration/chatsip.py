"""chatsip - a tiny SIP user agent over UDP or TCP for the chat integration
tests, plus helpers to drive sipp participants and read their traces.

It speaks real SIP over real sockets to the real daemon, for the cases
where sipp is awkward: exact bytes (a NUL in a body), answering relayed
MESSAGEs with a chosen status or not at all, page mode from the same From
URI, several dialogs coordinated step by step.  One UA = one user = at
most one dialog.  Python standard library only; every wait is bounded
(sbtest.bounded).

    ua = chatsip.UA(d.port, user="alice", display="Alice")
    r = ua.invite("conf-100", sdp=chatsip.PLAIN_SDP)   # 200, ACKed
    r = ua.message(b"hi", "text/plain")                  # 202
    m = ua.wait_messages(1)[0]                           # relayed to us
    ua.bye(); ua.close()
"""
import os
import random
import re
import select
import socket
import subprocess
import sys
import threading
import time

import sbtest

COMPACT = {"i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact",
           "l": "content-length", "c": "content-type", "k": "supported",
           "s": "subject", "e": "content-encoding", "o": "event"}

PLAIN_SDP = (
    "v=0\r\n"
    "o=phone 1000 1000 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=sendrecv\r\n")

# What Chromium/JsSIP offer (browser-clients.md section 1), trimmed of
# candidates.
WEBRTC_SDP = (
    "v=0\r\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=msid-semantic: WMS\r\n"
    "m=audio 50684 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:Vx7q\r\n"
    "a=ice-pwd:3qK9m1nJxH2cYv0cO4sBpLkT\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:"
    "DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=sendrecv\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:63 red/48000/2\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:13 CN/8000\r\n"
    "a=rtpmap:110 telephone-event/48000\r\n"
    "a=rtpmap:126 telephone-event/8000\r\n")


def token(n=10):
    return "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


def split_list(value):
    """Split a header value on commas outside <> and quotes."""
    out, cur, depth, quoted, esc = [], "", 0, False, False
    for ch in value:
        if esc:
            cur += ch
            esc = False
            continue
        if quoted and ch == "\\":
            esc = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth -= 1
        elif not quoted and depth == 0 and ch == ",":
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def tag_of(value):
    m = re.search(r";\s*tag=([^;>\s]+)", value.split(">")[-1] if ">" in value else value)
    return m.group(1) if m else None


def uri_of(value):
    """The URI inside a name-addr, or the addr-spec before any parameter."""
    m = re.search(r"<([^>]*)>", value)
    if m:
        return m.group(1)
    return value.split(";")[0].strip()


def display_of(value):
    """The display name of a From/To value as written (quotes kept)."""
    if "<" not in value:
        return ""
    return value.split("<", 1)[0].strip()


class Msg:
    """One SIP message: start line, headers (in order), body bytes."""

    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        self.start = lines[0]
        self.headers = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                n, v = self.headers[-1]
                self.headers[-1] = (n, v + " " + line.strip())
                continue
            n, _, v = line.partition(":")
            n = n.strip().lower()
            self.headers.append((COMPACT.get(n, n), v.strip()))
        parts = self.start.split(" ", 2)
        if parts[0].startswith("SIP/"):
            self.method = None
            self.status = int(parts[1])
            self.reason = parts[2] if len(parts) > 2 else ""
            self.uri = None
        else:
            self.method = parts[0]
            self.uri = parts[1]
            self.status = None
        cl = self.hdr("content-length")
        if cl is not None:
            self.body = self.body[:int(cl)]

    def hdr(self, name):
        name = name.lower()
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def hdrs(self, name):
        """Every value of a header, comma-separated lists split."""
        name = name.lower()
        out = []
        for n, v in self.headers:
            if n == name:
                out.extend(split_list(v))
        return out

    @property
    def cseq_method(self):
        return self.hdr("cseq").split()[1]

    @property
    def branch(self):
        m = re.search(r"branch=([^;,\s]+)", self.hdr("via") or "")
        return m.group(1) if m else None

    def text(self):
        return self.raw.decode("utf-8", "replace")

    def __repr__(self):
        return "<Msg %s>" % self.start


def frame(buf):
    """Split one SIP message off a stream buffer: (raw, rest) or (None, buf)."""
    while buf.startswith(b"\r\n"):
        buf = buf[2:]
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None, buf
    head = buf[:end].decode("utf-8", "replace")
    m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
    n = int(m.group(1)) if m else 0
    total = end + 4 + n
    if len(buf) < total:
        return None, buf
    return buf[:total], buf[total:]


class UA:
    """A SIP user agent with at most one dialog, on its own loopback port.

    answer: the status to answer relayed MESSAGEs with (int), None for no
    answer at all, or a callable(msg) -> status, None, or a list of
    (status, reason) sent one after the other.
    """

    def __init__(self, daemon_port, transport="udp", user=None, display=None,
                 host="127.0.0.1", answer=200, from_uri=None, port=None):
        self.daemon = (host, daemon_port)
        self.transport = transport
        self.user = user or "u" + token(6)
        self.display = display
        self.host = host
        self.answer = answer
        self.port = port or sbtest.free_port()
        self.from_uri = from_uri or "sip:%s@%s" % (self.user, host)
        self.lock = threading.Condition()
        self.log = []           # (direction, time, raw) for failure reports
        self.received = []      # requests received (Msg), retransmissions excluded
        self.answered = {}      # branch -> raw response, to answer retransmissions
        self.transactions = {}  # branch -> list of responses
        self.closed = False
        self.cseq = random.randint(1, 1000)
        self.call_id = None
        self.local_tag = None
        self.remote_tag = None
        self.remote_uri = None
        self.remote_target = None
        self.route = []
        self.dialog_ended = False
        self.threads = []
        self.out_conn = None
        self.conns = []
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((host, self.port))
            self._spawn(self._udp_reader)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, self.port))
            self.sock.listen(8)
            self._spawn(self._tcp_acceptor)

    # -- plumbing ------------------------------------------------------

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self.threads.append(t)

    def _udp_reader(self):
        while not self.closed:
            try:
                r, _, _ = select.select([self.sock], [], [], 0.1)
                if not r:
                    continue
                data, addr = self.sock.recvfrom(70000)
            except OSError:
                return
            if data.strip():
                self._incoming(data, lambda raw, a=addr: self.sock.sendto(raw, a))

    def _tcp_acceptor(self):
        while not self.closed:
            try:
                r, _, _ = select.select([self.sock], [], [], 0.1)
                if not r:
                    continue
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            self._spawn(self._tcp_reader, c)

    def _tcp_reader(self, c):
        buf = b""
        while not self.closed:
            try:
                r, _, _ = select.select([c], [], [], 0.1)
                if not r:
                    continue
                chunk = c.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while True:
                raw, buf = frame(buf)
                if raw is None:
                    break
                self._incoming(raw, lambda data, c=c: c.sendall(data))

    def _send(self, raw):
        with self.lock:
            self.log.append((">>", time.time(), raw))
        if self.transport == "udp":
            self.sock.sendto(raw, self.daemon)
            return
        if self.out_conn is None:
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # From our listening port, as a SIP UA on TCP usually does not,
            # but harmless: the daemon reaches us through Contact anyway.
            c.connect(self.daemon)
            self.out_conn = c
            self.conns.append(c)
            self._spawn(self._tcp_reader, c)
        self.out_conn.sendall(raw)

    def _incoming(self, raw, reply):
        msg = Msg(raw)
        with self.lock:
            self.log.append(("<<", time.time(), raw))
        if msg.status is not None:
            with self.lock:
                self.transactions.setdefault(msg.branch, []).append(msg)
                self.lock.notify_all()
            return
        key = (msg.branch, msg.method)
        with self.lock:
            if key in self.answered:
                prev = self.answered[key]
                if prev is not None:
                    self._reply_raw(prev, reply)
                return
            self.answered[key] = None
            self.received.append(msg)
            self.lock.notify_all()
        if msg.method == "ACK":
            return
        status = self._decide(msg)
        if status is None:
            return
        if isinstance(status, list):
            # Several final responses to one request, as a proxy may send
            # (e.g. 500 from its stateless layer, then from its transaction
            # layer): [(status, reason), ...].
            resps = [self.response_for(msg, st, rs) for st, rs in status]
        else:
            resps = [self.response_for(msg, status)]
        with self.lock:
            self.answered[key] = resps[-1]
        for resp in resps:
            self._reply_raw(resp, reply)
        status = status[-1][0] if isinstance(status, list) else status
        if msg.method == "BYE" and status == 200:
            with self.lock:
                self.dialog_ended = True
                self.lock.notify_all()

    def _reply_raw(self, raw, reply):
        with self.lock:
            self.log.append((">>", time.time(), raw))
        try:
            reply(raw)
        except OSError:
            pass

    def _decide(self, msg):
        if msg.method == "BYE":
            return 200
        if msg.method in ("OPTIONS", "INFO", "UPDATE"):
            return 200
        if msg.method != "MESSAGE":
            return 501
        a = self.answer
        return a(msg) if callable(a) else a

    def response_for(self, req, status, reason=None, extra=""):
        reasons = {200: "OK", 202: "Accepted", 404: "Not Found", 481: "Call Does Not Exist",
                   500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable",
                   486: "Busy Here", 403: "Forbidden"}
        lines = ["SIP/2.0 %d %s" % (status, reason or reasons.get(status, "Whatever"))]
        for n, v in req.headers:
            if n == "via":
                lines.append("Via: " + v)
        to = req.hdr("to")
        if tag_of(to) is None:
            to += ";tag=" + (self.local_tag or token())
        lines += ["From: " + req.hdr("from"), "To: " + to, "Call-ID: " + req.hdr("call-id"),
                  "CSeq: " + req.hdr("cseq")]
        if extra:
            lines.append(extra.rstrip("\r\n"))
        lines.append("Content-Length: 0")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    # -- building requests ---------------------------------------------

    @property
    def contact(self):
        t = ";transport=tcp" if self.transport == "tcp" else ""
        return "<sip:%s@%s:%d%s>" % (self.user, self.host, self.port, t)

    def from_header(self, display=None, tag=None):
        d = self.display if display is None else display
        s = ('%s <%s>' % (d, self.from_uri)) if d else "<%s>" % self.from_uri
        return s + ";tag=" + (tag or self.local_tag)

    def build(self, method, uri, to, from_, call_id, cseq, body=b"", ctype=None,
              extra=(), branch=None, route=(), contact=True):
        branch = branch or "z9hG4bK" + token(12)
        via = "SIP/2.0/%s %s:%d;branch=%s;rport" % (self.transport.upper(), self.host,
                                                   self.port, branch)
        lines = ["%s %s SIP/2.0" % (method, uri), "Via: " + via, "Max-Forwards: 70",
                 "From: " + from_, "To: " + to, "Call-ID: " + call_id,
                 "CSeq: %d %s" % (cseq, method)]
        for r in route:
            lines.append("Route: " + r)
        if contact:
            lines.append("Contact: " + self.contact)
        lines += list(extra)
        if ctype:
            lines.append("Content-Type: " + ctype)
        if isinstance(body, str):
            body = body.encode()
        lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body, branch

    def transact(self, raw, branch, method, timeout=10):
        """Send a request; return its final response (None on timeout)."""
        deadline = time.monotonic() + sbtest.bounded(timeout)
        interval = 0.5
        next_retrans = time.monotonic() + interval
        self._send(raw)
        provisional = False
        with self.lock:
            while True:
                rs = [r for r in self.transactions.get(branch, []) if r.cseq_method == method]
                final = [r for r in rs if r.status >= 200]
                if final:
                    return final[0]
                provisional = provisional or bool(rs)
                now = time.monotonic()
                if now >= deadline:
                    return None
                if self.transport == "udp" and not provisional and now >= next_retrans:
                    self.lock.release()
                    try:
                        self._send(raw)
                    finally:
                        self.lock.acquire()
                    interval = min(interval * 2, 4)
                    next_retrans = now + interval
                self.lock.wait(min(0.05, max(0, deadline - now)))

    def responses(self, branch):
        with self.lock:
            return list(self.transactions.get(branch, []))

    # -- dialog --------------------------------------------------------

    def invite(self, conf_user, sdp=PLAIN_SDP, extra=(), ctype="application/sdp",
               ack_sdp=None, uri=None, timeout=10):
        """INVITE conf_user; on 2xx sets up the dialog and ACKs (with
        ack_sdp as the answer if the INVITE had no offer).  Returns the
        final response."""
        self.call_id = self.call_id or token(16) + "@chatsip"
        self.local_tag = self.local_tag or token(8)
        self.remote_uri = uri or "sip:%s@%s:%d" % (conf_user, self.daemon[0], self.daemon[1])
        self.cseq += 1
        body = sdp or b""
        raw, branch = self.build("INVITE", self.remote_uri, "<%s>" % self.remote_uri,
                                 self.from_header(), self.call_id, self.cseq, body,
                                 ctype if sdp else None, extra)
        self.invite_branch = branch
        r = self.transact(raw, branch, "INVITE", timeout)
        if r is None:
            return None
        if 200 <= r.status < 300:
            self.remote_tag = tag_of(r.hdr("to"))
            self.remote_to = r.hdr("to")
            self.remote_target = uri_of(r.hdr("contact")) if r.hdr("contact") else self.remote_uri
            self.route = list(reversed(r.hdrs("record-route")))
            self.ack(r, ack_sdp)
        else:
            self.ack(r)
        return r

    def ack(self, resp, sdp=None):
        cseq = int(resp.hdr("cseq").split()[0])
        body = sdp or b""
        if 200 <= resp.status < 300:
            raw, _ = self.build("ACK", self.remote_target, resp.hdr("to"), self.from_header(),
                                self.call_id, cseq, body, "application/sdp" if sdp else None,
                                route=self.route)
        else:
            # Same branch as the INVITE for a non-2xx ACK.
            raw, _ = self.build("ACK", self.remote_uri, resp.hdr("to"), self.from_header(),
                                self.call_id, cseq, branch=self.invite_branch, contact=False)
        self._send(raw)

    def in_dialog(self, method, body=b"", ctype=None, display=None, extra=(), timeout=10,
                  call_id=None, remote_tag=None, wait=True):
        """An in-dialog request; returns its final response (or the branch
        when wait is False)."""
        self.cseq += 1
        to = "<%s>;tag=%s" % (self.remote_uri, remote_tag or self.remote_tag)
        raw, branch = self.build(method, self.remote_target, to, self.from_header(display),
                                 call_id or self.call_id, self.cseq, body, ctype, extra,
                                 route=self.route, contact=method in ("INVITE", "UPDATE"))
        if not wait:
            self._send(raw)
            return branch
        return self.transact(raw, branch, method, timeout)

    def message(self, body, ctype="text/plain", display=None, **kw):
        return self.in_dialog("MESSAGE", body, ctype, display, **kw)

    def reinvite(self, sdp, ack_sdp=None, timeout=10):
        r = self.in_dialog("INVITE", sdp or b"", "application/sdp" if sdp else None,
                           timeout=timeout)
        if r is not None:
            cseq = int(r.hdr("cseq").split()[0])
            body = ack_sdp or b""
            raw, _ = self.build("ACK", self.remote_target, r.hdr("to"), self.from_header(),
                                self.call_id, cseq, body, "application/sdp" if ack_sdp else None,
                                route=self.route)
            self._send(raw)
        return r

    def bye(self, timeout=10):
        r = self.in_dialog("BYE", timeout=timeout)
        with self.lock:
            self.dialog_ended = True
        return r

    def page(self, body, ctype="text/plain", conf_user="conf-100", display=None, timeout=10,
             from_uri=None):
        """An out-of-dialog MESSAGE from this UA's From URI."""
        uri = "sip:%s@%s:%d" % (conf_user, self.daemon[0], self.daemon[1])
        d = self.display if display is None else display
        fu = from_uri or self.from_uri
        from_ = (("%s <%s>" % (d, fu)) if d else "<%s>" % fu) + ";tag=" + token(8)
        self.cseq += 1
        raw, branch = self.build("MESSAGE", uri, "<%s>" % uri, from_, token(16) + "@page",
                                 self.cseq, body, ctype, contact=False)
        return self.transact(raw, branch, "MESSAGE", timeout)

    # -- what we received ----------------------------------------------

    def requests(self, method="MESSAGE"):
        with self.lock:
            return [m for m in self.received if m.method == method]

    def wait_requests(self, n, method="MESSAGE", timeout=10, what=None):
        deadline = time.monotonic() + sbtest.bounded(timeout)
        with self.lock:
            while True:
                got = [m for m in self.received if m.method == method]
                if len(got) >= n:
                    return got
                now = time.monotonic()
                if now >= deadline:
                    raise AssertionError("%s: %d %s received, %d expected in %.1fs%s\n%s"
                                         % (self.user, len(got), method, n,
                                            sbtest.bounded(timeout),
                                            " (%s)" % what if what else "", self.trace()))
                self.lock.wait(min(0.05, deadline - now))

    def wait_messages(self, n, timeout=10, what=None):
        return self.wait_requests(n, "MESSAGE", timeout, what)

    def wait_ended(self, timeout=10):
        deadline = time.monotonic() + sbtest.bounded(timeout)
        with self.lock:
            while not self.dialog_ended:
                now = time.monotonic()
                if now >= deadline:
                    raise AssertionError("%s: no BYE in %.1fs\n%s" % (self.user,
                                         sbtest.bounded(timeout), self.trace()))
                self.lock.wait(min(0.05, deadline - now))

    def trace(self, last=30):
        with self.lock:
            entries = self.log[-last:]
        return "\n".join("%s %.3f\n%s" % (d, t, raw.decode("utf-8", "replace"))
                         for d, t, raw in entries)

    def close(self):
        self.closed = True
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(1)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---- sipp participants ---------------------------------------------------

class Sipp:
    """One sipp instance running a chat_*.xml client scenario in the
    background, with its messages traced to a file we can read."""

    def __init__(self, d, scenario, transport="u1", keys=None, extra=(), timeout=30,
                 name=None, target_port=None):
        self.d = d
        self.port = sbtest.free_port()
        self.name = "%s-%d" % (name or os.path.splitext(scenario)[0], self.port)
        self.trace_path = os.path.join(d.dir, "%s.msg.log" % self.name)
        self.err_path = os.path.join(d.dir, "%s.err.log" % self.name)
        self.transport = transport
        cmd = ["sipp", "-sf", os.path.join(sbtest.SIPP_DIR, scenario),
               "127.0.0.1:%d" % (target_port or d.port),
               "-i", "127.0.0.1", "-p", str(self.port), "-t", transport, "-m", "1",
               "-nostdin", "-timeout", "%ds" % sbtest.bounded(timeout), "-timeout_error",
               "-max_retrans", "3", "-trace_msg", "-message_file", self.trace_path,
               "-trace_err", "-error_file", self.err_path]
        for k, v in (keys or {}).items():
            cmd += ["-key", k, str(v)]
        cmd += list(extra)
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=d.dir, text=True)
        self.out = self.err = None
        self.timeout = timeout

    def wait(self, timeout=None):
        """Wait for sipp to end; returns its exit code."""
        t = sbtest.bounded(timeout or self.timeout) + 10
        try:
            self.out, self.err = self.proc.communicate(timeout=t)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.out, self.err = self.proc.communicate()
            raise AssertionError("sipp %s did not end in %ds\n%s" % (self.name, t, self.report()))
        return self.proc.returncode

    def check(self, timeout=None):
        """Wait for sipp to end; it must exit 0."""
        rc = self.wait(timeout)
        if rc != 0:
            raise AssertionError("sipp %s exited %s\n%s" % (self.name, rc, self.report()))

    def wait_listening(self, timeout=5):
        """Until sipp has its UDP port bound (read from /proc/net/udp, so
        that probing cannot steal the port from it)."""
        want = ":%04X" % self.port

        def bound():
            if self.proc.poll() is not None:
                self.wait()
                raise AssertionError("sipp ended early\n" + self.report())
            with open("/proc/net/udp") as f:
                return any(line.split()[1].endswith(want) for line in f.readlines()[1:])
        sbtest.wait_for(bound, timeout, "sipp %s listening" % self.name)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.out, self.err = self.proc.communicate()

    def read(self, path):
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def messages(self):
        """(direction, Msg) for every message in the trace, in order;
        direction is 'sent' or 'received'."""
        return parse_trace(self.read(self.trace_path))

    def received(self, method=None, status=None):
        out = []
        for dirn, m in self.messages():
            if dirn != "received":
                continue
            if method and m.method != method:
                continue
            if status and m.status != status:
                continue
            out.append(m)
        return out

    def sent(self, method=None):
        return [m for dirn, m in self.messages()
                if dirn == "sent" and (method is None or m.method == method)]

    def wait_for(self, pred, timeout=10, what="the sipp trace"):
        """Poll the trace until pred(self) is true."""
        try:
            return sbtest.wait_for(lambda: pred(self), timeout, "%s: %s" % (self.name, what))
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.report()))

    def answered(self, method="MESSAGE"):
        """Requests of @method received and answered (a final response
        with the same CSeq sent after), in order."""
        msgs = self.messages()
        out = []
        for i, (dirn, m) in enumerate(msgs):
            if dirn != "received" or m.method != method:
                continue
            for dirn2, r in msgs[i + 1:]:
                if dirn2 == "sent" and r.status and r.hdr("cseq") == m.hdr("cseq") \
                        and r.hdr("call-id") == m.hdr("call-id"):
                    out.append(m)
                    break
        return out

    def wait_answered(self, n, method="MESSAGE", timeout=10):
        return self.wait_for(lambda s: len(s.answered(method)) >= n and s.answered(method),
                             timeout, "%d %s received and answered" % (n, method))

    def dialog(self):
        """(Call-ID, our tag, the daemon's tag) from the INVITE's 2xx."""
        for dirn, m in self.messages():
            if dirn == "received" and m.status and 200 <= m.status < 300 \
                    and m.cseq_method == "INVITE":
                return m.hdr("call-id"), tag_of(m.hdr("from")), tag_of(m.hdr("to"))
        return None

    def report(self):
        return ("---- sipp %s (rc %s): %s\nstdout: %s\nstderr: %s\nerrors: %s\n"
                "---- trace ----\n%s"
                % (self.name, self.proc.returncode, " ".join(self.cmd),
                   (self.out or "")[-1500:], (self.err or "")[-1500:],
                   self.read(self.err_path).decode("utf-8", "replace")[-3000:],
                   self.read(self.trace_path).decode("utf-8", "replace")[-6000:]))


TRACE_RE = re.compile(rb"^-{20,} [^\n]*\n(?:UDP|TCP|TLS|SCTP) message (sent|received) "
                      rb"(?:\[(\d+)\] bytes ?|\((\d+) bytes\)):\n\n", re.M)


def parse_trace(data):
    """Parse a sipp -trace_msg file into (direction, Msg)."""
    out = []
    heads = list(TRACE_RE.finditer(data))
    for i, h in enumerate(heads):
        start = h.end()
        n = int(h.group(2) or h.group(3))
        raw = data[start:start + n]
        if raw.strip():
            out.append((h.group(1).decode(), Msg(raw)))
    return out


def sdp_lines(body):
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return [l for l in body.replace("\r\n", "\n").split("\n") if l]


def m_sections(body):
    """[(m-line, [attribute lines])] of an SDP body."""
    out = []
    for l in sdp_lines(body):
        if l.startswith("m="):
            out.append((l, []))
        elif out:
            out[-1][1].append(l)
    return out


def member(d, user, dn=None, transport="u1", scenario="chat_member.xml", conf="conf-100",
           timeout=40, **keys):
    """A sipp participant (chat_member.xml unless told) joining conf."""
    k = {"conf": conf, "user": user, "dn": '"%s"' % (dn or user.capitalize())}
    k.update(keys)
    s = Sipp(d, scenario, transport=transport, keys=k, timeout=timeout, name=user)
    s.user = user
    return s


def finish(d, sipps, conf="conf-100", timeout=15):
    """Tell every chat_member/chat_speaker to leave (a CHAT-LEAVE message)
    and check they all end well."""
    r = d.request({"request": "conference_send", "name": conf, "body": "CHAT-LEAVE",
                   "from": "test"})
    assert r["response"] == "success", r
    for s in sipps:
        rc = s.wait(timeout)
        assert rc == 0, "sipp %s failed:\n%s" % (s.name, s.report())


# ---- the daemon's state ---------------------------------------------------

def conf_info(d, name="conf-100"):
    r = d.request({"request": "conference_info", "name": name})
    assert r["response"] == "success", r
    return r["data"]


def wait_participants(d, n, name="conf-100", timeout=10, state="active"):
    """Wait until conference_info lists n participants, all in @state."""
    def ok():
        info = conf_info(d, name)
        ps = info["participant_list"]
        if len(ps) == n and all(p["state"] == state for p in ps):
            return info
        return None
    try:
        return sbtest.wait_for(ok, timeout, "%d %s participants in %s" % (n, state, name))
    except AssertionError as e:
        raise AssertionError("%s; last conference_info: %s" % (e, conf_info(d, name)))


def settle(cls, config, timeout=3):
    """For a test class sharing cls.d: wait until every conference is empty
    again; if some participant stays (a failed test left it behind), give
    the class a fresh daemon so that the next tests start clean."""
    d = cls.d

    def empty():
        r = d.request({"request": "conference_list"})
        return all(c["participants"] == 0 for c in r["data"]["conferences"])
    try:
        sbtest.wait_for(empty, timeout, "every conference empty")
        return True
    except AssertionError:
        sys.stderr.write("---- participants left behind; restarting the daemon ----\n%s\n"
                         % d.log()[-3000:])
    try:
        d.stop(check=False)
    finally:
        d.cleanup()
    cls.d = sbtest.Daemon(extra=config)
    return False


class ChatCase(sbtest.DaemonCase):
    """A test class sharing one daemon started with CONFIG.  Each test keeps
    its UAs in self.uas and its sipps in self.sipps; afterwards they are hung
    up and every conference must be empty again (else the class gets a
    fresh daemon and the test fails)."""
    CONFIG = ""

    @classmethod
    def setUpClass(cls):
        cls.EXTRA = cls.CONFIG
        super().setUpClass()

    def setUp(self):
        self.uas = []
        self.sipps = []

    def tearDown(self):
        for s in self.sipps:
            s.kill()
        for ua in self.uas:
            if ua.remote_tag and not ua.dialog_ended:
                ua.bye(timeout=3)
            ua.close()
        self.assertTrue(settle(type(self), self.CONFIG), "participants left behind")


def conf_section(name="conf-100", **opts):
    s = "[%s]\ntype=conference\nuser=%s\n" % (name, opts.pop("user", name))
    for k, v in opts.items():
        s += "%s=%s\n" % (k, v)
    return s
