"""RFC 4475 torture messages replayed at the real daemon, each outcome asserted.

The 50 files of the RFC 4475 archive (tests/integration/rfc4475/, byte-exact,
checked against SHA256SUMS) are sent in index.tsv order, each over the
transport its top Via names, to one sipbridged, followed by a few variants
(rows named `FILE~what`: the same bytes over the transport the RFC text is
about, see below).  What this test asserts:

  * for every row of rfc4475/expected.tsv, the outcome RFC 4475 wants from
    a UAS endpoint in sipbridge's role (not a registrar, not a proxy): a
    status or a set of statuses, `drop` (no response at all), and headers
    the response must carry (`415:Accept=application/sdp`: a 415 carries
    an Accept that contains application/sdp).  The table's last column
    cites the RFC section; rows that only the SIP library decides, before
    the daemon sees the message, say `lib:` and why (docs/robustness.md
    lists them as library limitations);
  * an INVITE answered 2xx gets our ACK and BYE, and the BYE gets 200:
    the accepted call was a real dialog and ends cleanly;
  * dblreq's trailing INVITE is never answered;
  * the daemon is still running after every single message;
  * afterwards it still answers OPTIONS 200 over UDP and over TCP, its
    control socket still answers `status`, and SIGTERM makes it exit 0
    (under ASan/UBSan with abort_on_error=1 a report is a crash or a
    non-zero exit, so it fails here too).

The config owns every Request-URI user part the messages use (CONF below:
one chat conference each), so that a 404 for an unknown user never hides
the 415, 406, 420 or 400 the RFC asks for.  The daemon routes on the user
part only; the hosts (example.com, ...) do not matter.  REGISTERs name no
user (sip:example.com) and sipbridge is not a registrar: 405.

How responses are observed (RFC 3261 18.2.2, sofia's nta):
  * After each message, an OPTIONS probe over UDP, answered by the stack
    itself: once its 200 is back, the daemon has sent all it was going to
    send for the message, so `drop` and `+close` verdicts do not depend on
    the machine's speed (a message that holds the event loop shows as
    "loop held N s" in the printed table; printed, never asserted).
  * TCP: on the connection that carried the request, read until the
    final response or a bounded time (ACK and BYE of an accepted INVITE go
    on it too), then, after the probe, what is left and whether the daemon
    closed it; then we close it.
  * UDP: to the source IP with the port of the top Via's sent-by (5060
    when absent, 5050 for quotbal), or to the source port when the Via has
    `rport` (mpart01).  The test binds 127.0.0.1:5060 and :5050 when it
    can and then sends the files byte-exact.  When it cannot (5060 is often
    taken on a dev box), it inserts or replaces the port of the top Via's
    sent-by in its copy of each message that needs that port, with the
    port of the socket it sends from, so that every row stays observable
    and the run stays deterministic.  This does not change what is
    tested: the sent-by port only says where the response goes (RFC 3261
    18.2.2); no RFC 4475 message is about it, none of those rewritten has
    a Via whose grammar depends on it (badinv01's separators stay as they
    are, after the port), and the message is otherwise the same bytes.
    The table printed on stdout says "via port -> N" on those rows.
  * Responses are matched by Call-ID (a non-2xx to an INVITE is
    retransmitted until ACK and would otherwise look like the answer to a
    later message), else by the socket or the top Via branch; non-2xx
    finals to INVITE are ACKed like a real UAC would, so retransmissions
    stop.

The variants:
  * bext01~tcpvia: bext01's Via names TLS; the daemon has no TLS listener
    yet, and nta refuses a TLS Via on a TCP connection, so the byte-exact
    file cannot reach the Require check.  The variant says TCP.
  * ncl~tcp, mcl01~tcp: the framing errors over TCP, where RFC 4475
    3.1.2.3 and 3.3.9 want the connection closed (`+close`).
"""
import hashlib
import os
import re
import select
import socket
import time

import sbtest

CORPUS = os.path.join(sbtest.HERE, "rfc4475")
EXPECTED = os.path.join(CORPUS, "expected.tsv")
WAIT = sbtest.bounded(0.3)        # per message, for its final response
DIALOG_WAIT = sbtest.bounded(2)   # for the 200 to our BYE
DRAIN = sbtest.bounded(0.5)       # after the last message, for late ones
BARRIER = sbtest.bounded(30)      # for the OPTIONS probe after each message

# One conference per Request-URI user part in the corpus, as the daemon
# routes it (%-unescaped).  intmeth's user never reaches the daemon (the
# library drops the message), but owning it keeps the row honest: a drop
# there is not a 404 that got lost.  ';' is escaped for the config parser.
USERS = [
    "user",                       # most INVITE/OPTIONS rows
    "vivekg",                     # wsinv
    "sips:user@example.com",      # esc01, escaped in the R-URI
    "user;par=u@example.net",     # semiuri
    "kumiko",                     # mpart01 (MESSAGE)
    "remote-target",              # trws
    "t.watson",                   # baddn, badvers
    "UserB",                      # inv2543
    "alan",                       # test
    "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*",   # intmeth
]
CONF = "".join("[conf-%d]\ntype=conference\nuser=%s\n" % (i, u.replace(";", "\\;"))
               for i, u in enumerate(USERS))


# ---- parsing just enough SIP to route and match ----

def split_head(data):
    """(header lines unfolded, body) of a message as bytes."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = data.find(sep)
        if i >= 0:
            head, body = data[:i], data[i + len(sep):]
            break
    else:
        head, body = data, b""
    head = re.sub(rb"\r?\n[ \t]+", b" ", head)
    return [l.rstrip(b"\r") for l in head.split(b"\n")], body


def headers(lines, *names):
    """Values of the headers called any of names (lower case), in order."""
    out = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower().decode("latin-1") in names:
            out.append(value.strip())
    return out


def top_via(lines):
    """(transport, port or None, rport, branch) of the top Via, or None."""
    vias = headers(lines, "via", "v")
    if not vias:
        return None
    m = re.match(rb"\s*SIP\s*/\s*[0-9.]+\s*/\s*([A-Za-z0-9-]+)\s+"
                 rb"(\[[^\]]*\]|[^;,:\s]+)\s*(?::\s*([0-9]+))?([^,]*)", vias[0])
    if not m:
        return None
    params = m.group(4)
    b = re.search(rb";\s*branch\s*=\s*([^;,\s]+)", params, re.I)
    return (m.group(1).decode().upper(), int(m.group(3)) if m.group(3) else None,
            re.search(rb";\s*rport\s*(?:[;,]|$)", params, re.I) is not None,
            b.group(1) if b else None)


# The top Via's sent-by in the raw bytes (folding allowed), for the rewrite.
SENT_BY = re.compile(rb"(?im)^(?:via|v)[ \t]*:\s*SIP\s*/\s*[0-9.]+\s*/\s*[A-Za-z0-9-]+\s+"
                     rb"(\[[^\]]*\]|[A-Za-z0-9.-]+)(\s*:\s*[0-9]+)?")


def rewrite_via_port(data, port):
    """data with the top Via's sent-by port set to port (added if absent)."""
    m = SENT_BY.search(data)
    if m is None:
        return data
    return data[:m.end(1)] + b":%d" % port + data[m.end():]


def call_id(lines):
    v = headers(lines, "call-id", "i")
    return v[0] if v else None


class Response:
    def __init__(self, data):
        self.lines, _ = split_head(data)
        m = re.match(rb"SIP/2\.0 ([0-9]{3}) ", self.lines[0] + b" ")
        if not m:
            raise ValueError("not a response")
        self.status = int(m.group(1))
        self.call_id = call_id(self.lines)
        via = top_via(self.lines)
        self.branch = via[3] if via else None
        cseq = headers(self.lines, "cseq")
        parts = cseq[0].split() if cseq else []
        self.cseq = parts[0] if parts else b"0"
        self.method = parts[1] if len(parts) > 1 else b""

    def hdr(self, *names):
        return headers(self.lines, *names)


def parse_response(data):
    try:
        return Response(data)
    except ValueError:
        return None


def split_stream(buf):
    """Complete messages at the front of a TCP byte stream, and the rest."""
    out = []
    while True:
        i = buf.find(b"\r\n\r\n")
        if i < 0:
            return out, buf
        lines, _ = split_head(buf[:i + 4])
        cl = headers(lines, "content-length", "l")
        n = i + 4 + (int(cl[0]) if cl and cl[0].isdigit() else 0)
        if len(buf) < n:
            return out, buf
        out.append(buf[:n])
        buf = buf[n:]


def ack_for(request_line, r):
    """A hop-by-hop ACK for a non-2xx final response to an INVITE."""
    uri = request_line.split()[1]
    out = [b"ACK " + uri + b" SIP/2.0", b"Via: " + r.hdr("via", "v")[0]]
    for name, keys in ((b"From", ("from", "f")), (b"To", ("to", "t")),
                       (b"Call-ID", ("call-id", "i"))):
        for v in r.hdr(*keys)[:1]:
            out.append(name + b": " + v)
    out += [b"CSeq: " + r.cseq + b" ACK", b"Max-Forwards: 70", b"Content-Length: 0"]
    return b"\r\n".join(out) + b"\r\n\r\n"


def in_dialog(method, r, cseq, via):
    """ACK or BYE in the dialog a 2xx to our INVITE made (UAC side)."""
    contact = r.hdr("contact", "m")
    m = re.search(rb"<([^>]*)>", contact[0]) if contact else None
    target = m.group(1) if m else (contact[0].split(b";")[0] if contact else b"")
    out = [b"%s %s SIP/2.0" % (method, target), b"Via: " + via]
    for name, keys in ((b"From", ("from", "f")), (b"To", ("to", "t")),
                       (b"Call-ID", ("call-id", "i"))):
        for v in r.hdr(*keys)[:1]:
            out.append(name + b": " + v)
    out += [b"CSeq: %d %s" % (cseq, method), b"Max-Forwards: 70", b"Content-Length: 0"]
    return b"\r\n".join(out) + b"\r\n\r\n"


# ---- the expected outcomes ----

class Expect:
    """One row of expected.tsv."""

    def __init__(self, line):
        self.name, self.transport, outcome, must, self.reason = line.split("\t")
        self.close = outcome.endswith("+close")
        outcome = outcome[:-len("+close")] if self.close else outcome
        self.drop = outcome == "drop"
        self.statuses = set() if self.drop else {int(s) for s in outcome.split("|")}
        self.must = []          # (status, header, substring)
        for item in must.split():
            if item == "-":
                continue
            status, _, rest = item.partition(":")
            header, _, sub = rest.partition("=")
            self.must.append((int(status), header.lower(), sub))

    def check(self, msg):
        """A list of what is wrong with msg's outcome (empty: as expected)."""
        bad = []
        got = msg.outcome()
        if msg.transport != self.transport:
            bad.append("sent over %s, the table says %s" % (msg.transport, self.transport))
        if self.drop and msg.seen:
            bad.append("expected no response, got %s" % got)
        if not self.drop and msg.final() not in self.statuses:
            bad.append("expected %s, got %s" % ("|".join(map(str, sorted(self.statuses))), got))
        if self.close != msg.closed:
            bad.append("expected the connection %s, got %s"
                       % ("closed" if self.close else "kept", got))
        final = msg.final_response()
        for status, header, sub in self.must:
            if final is None or final.status != status:
                continue
            values = b", ".join(final.hdr(header)).decode("latin-1")
            if not values or sub.lower() not in values.lower():
                bad.append("%d lacks %s%s (has %r)" % (status, header, " with " + sub if sub
                                                        else "", values))
        if msg.accepted_invite() and msg.bye_status != 200:
            bad.append("BYE after the accepted INVITE: %s" % (msg.bye_status or "no answer"))
        return ["%s (%s): %s" % (msg.name, self.reason, b) for b in bad]


def load_expected():
    rows = {}
    with open(EXPECTED, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#") or line.startswith("name\t"):
                continue
            e = Expect(line)
            assert e.name not in rows, "duplicate row " + e.name
            rows[e.name] = e
    return rows


# ---- the replay ----

class Msg:
    def __init__(self, name, data):
        self.name = name
        self.data = data
        lines, _ = split_head(self.data)
        self.request_line = lines[0]
        self.is_response = lines[0].startswith(b"SIP/")
        self.is_invite = lines[0].startswith(b"INVITE ")
        via = top_via(lines)
        self.via_transport, self.via_port, self.rport, self.branch = \
            via if via else ("UDP", None, False, None)
        self.has_via = via is not None
        self.call_id = call_id(lines)
        # Call-IDs further down (dblreq's trailing INVITE): the daemon must
        # never act on them.
        self.extra_call_ids = [c for c in re.findall(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)",
                                                     self.data) if c != self.call_id]
        self.transport = {"UDP": "udp", "TCP": "tcp", "TLS": "tcp"}.get(self.via_transport, "udp")
        self.seen = []          # statuses, in order of arrival, retransmissions folded
        self.responses = []     # Response objects, same order
        self.extra_seen = []    # responses carrying an extra Call-ID
        self.closed = False     # TCP: the daemon closed the connection
        self.bye_sent = False   # ACK and BYE sent after a 2xx
        self.bye_status = None  # the answer to our BYE
        self.dialog_done = False
        self.notes = []         # for the printed table

    def final_response(self):
        return next((r for r in self.responses if r.status >= 200), None)

    def final(self):
        r = self.final_response()
        return r.status if r else None

    def accepted_invite(self):
        return self.is_invite and self.final() is not None and self.final() < 300

    def done(self):
        if self.final() is None:
            return False
        return not self.accepted_invite() or self.dialog_done

    def outcome(self):
        if not self.seen:
            return "closed" if self.closed else "none"
        s = ",".join(str(x) for x in self.seen)
        if self.bye_status is not None:
            s += " (BYE %d)" % self.bye_status
        return s + (" +closed" if self.closed else "")


class Replay:
    def __init__(self, d):
        self.d = d
        self.target = ("127.0.0.1", d.port)
        self.listeners = {}     # Via port -> socket (or None if not bindable)
        self.udp_src = {}       # socket -> Msg that sent from it
        self.tcp_conn = None    # (socket, Msg) of the TCP exchange under way
        self.stray = []
        self.by_call_id = {}
        self.current = None
        self.nbranch = 0
        self.probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.probe.bind(("127.0.0.1", 0))
        self.nprobe = 0
        self.probed = set()     # Call-IDs of the probes answered

    def listen(self, port):
        if port in self.listeners:
            return self.listeners[port]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            s = None
        self.listeners[port] = s
        return s

    def close(self):
        for s in self.sockets():
            s.close()
        self.probe.close()
        self.listeners.clear()
        self.udp_src.clear()

    def sockets(self):
        return [s for s in self.listeners.values() if s] + list(self.udp_src)

    def via(self, sock, transport):
        self.nbranch += 1
        return (b"SIP/2.0/%s 127.0.0.1:%d;rport;branch=z9hG4bK-rfc4475-%d"
                % (transport, sock.getsockname()[1], self.nbranch))

    def attribute(self, data, sock, how):
        r = parse_response(data)
        if r is None:
            self.stray.append((how, data[:60]))
            return None
        if sock is self.probe:
            if r.status >= 200:
                self.probed.add(r.call_id)
            return None
        msg = self.by_call_id.get(r.call_id)
        if msg is None and r.call_id is not None:
            for m in self.by_call_id.values():
                if r.call_id in m.extra_call_ids:
                    m.extra_seen.append(r.status)
                    return None
        if msg is None and sock in self.udp_src:
            msg = self.udp_src[sock]
        if msg is None and self.current and r.branch and r.branch == self.current.branch:
            msg = self.current
        if msg is None:
            self.stray.append((how, r.lines[0][:60], r.call_id, r.branch,
                               self.current.name if self.current else None))
            return None
        if r.method == b"BYE":
            if r.status >= 200:
                msg.bye_status = r.status
                msg.dialog_done = True
            return msg
        if not msg.seen or msg.seen[-1] != r.status:
            msg.seen.append(r.status)
            msg.responses.append(r)
        if msg.is_invite and r.method == b"INVITE" and r.status >= 200:
            self.answer_final(msg, r)
        return msg

    def send_back(self, msg, data):
        """Send data the way msg went: its TCP connection or its UDP socket."""
        if self.tcp_conn and self.tcp_conn[1] is msg:
            self.tcp_conn[0].sendall(data)
            return
        src = next((s for s, m in self.udp_src.items() if m is msg), None)
        if src is not None:
            src.sendto(data, self.target)

    def answer_final(self, msg, r):
        """ACK a final response to an INVITE; after a 2xx, hang up too."""
        if r.status >= 300:
            self.send_back(msg, ack_for(msg.request_line, r))
            return
        if msg.bye_sent:
            return             # a retransmitted 2xx: our ACK is on its way
        tcp = self.tcp_conn is not None and self.tcp_conn[1] is msg
        if tcp:
            sock = self.tcp_conn[0]
        else:
            sock = next((s for s, m in self.udp_src.items() if m is msg), None)
            if sock is None:
                return
        transport = b"TCP" if tcp else b"UDP"
        n = int(r.cseq)
        self.send_back(msg, in_dialog(b"ACK", r, n, self.via(sock, transport)))
        self.send_back(msg, in_dialog(b"BYE", r, n + 1, self.via(sock, transport)))
        msg.bye_sent = True

    def pump(self, until, stop=lambda: False):
        """Read UDP datagrams until the monotonic time `until` or stop();
        an `until` already past reads what is there without waiting."""
        while not stop():
            left = max(0.0, until - time.monotonic())
            ready, _, _ = select.select(self.sockets() + [self.probe], [], [], left)
            if not ready and time.monotonic() >= until:
                return
            for s in ready:
                try:
                    data = s.recv(65535)
                except OSError:
                    continue
                port = s.getsockname()[1]
                how = "udp:src" if s in self.udp_src else "udp:%d" % port
                self.attribute(data, s, how)

    def wait_done(self, msg, until):
        """Read until msg is done or `until`; an accepted INVITE gets
        DIALOG_WAIT more for the answer to our BYE."""
        self.pump(until, msg.done)
        if msg.accepted_invite() and not msg.dialog_done:
            self.pump(time.monotonic() + DIALOG_WAIT, msg.done)

    def send_udp(self, msg):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        self.udp_src[s] = msg
        data = msg.data
        if msg.has_via and not msg.rport and not msg.is_response:
            port = msg.via_port or 5060
            if self.listen(port) is None:
                data = rewrite_via_port(data, s.getsockname()[1])
                msg.notes.append("via port -> %d (%d not bindable)" % (s.getsockname()[1], port))
        s.sendto(data, self.target)
        self.wait_done(msg, time.monotonic() + WAIT)

    def send_tcp(self, msg):
        c = socket.create_connection(self.target, timeout=sbtest.bounded(2))
        self.tcp_conn = (c, msg)
        self.tcp_buf = b""
        c.sendall(msg.data)
        self.tcp_read(msg, time.monotonic() + WAIT)
        if msg.accepted_invite() and not msg.dialog_done:
            self.tcp_read(msg, time.monotonic() + DIALOG_WAIT)   # our BYE's answer

    def tcp_read(self, msg, until):
        """Read msg's connection (and any UDP) until msg is done, the daemon
        closes the connection, or `until`."""
        c = self.tcp_conn[0]
        while not msg.closed and not msg.done():
            left = until - time.monotonic()
            if left < 0:
                break
            ready, _, _ = select.select([c] + self.sockets(), [], [], left)
            if c in ready:
                try:
                    chunk = c.recv(65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    msg.closed = True
                self.tcp_buf += chunk
                done, self.tcp_buf = split_stream(self.tcp_buf)
                for m in done:
                    self.attribute(m, c, "tcp")
            self.pump(time.monotonic())      # whatever UDP is pending
            if until <= time.monotonic():
                break

    def tcp_finish(self, msg):
        """After the barrier: whatever is left on the connection, and
        whether the daemon closed it (it closes right after the response
        it closes with, so after the barrier the FIN is here if it was
        sent), then our close."""
        c = self.tcp_conn[0]
        while not msg.closed and select.select([c], [], [], 0)[0]:
            try:
                chunk = c.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                msg.closed = True
            self.tcp_buf += chunk
            done, self.tcp_buf = split_stream(self.tcp_buf)
            for m in done:
                self.attribute(m, c, "tcp")
        self.tcp_conn = None
        c.close()

    def barrier(self, msg):
        """An OPTIONS probe over UDP, answered by the SIP stack itself: once
        its 200 is back, the daemon has read msg and sent whatever it was
        going to send for it (what it sends for a message it sends before it
        reads the next from the same socket), so a `drop` verdict does not
        depend on how fast the machine is.  It also shows a message that
        holds the event loop (the time is printed, never asserted)."""
        self.nprobe += 1
        cid = b"rfc4475-probe-%d" % self.nprobe
        port = self.probe.getsockname()[1]
        self.probe.sendto(b"OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\n"
                          b"Via: SIP/2.0/UDP 127.0.0.1:%d;rport;branch=z9hG4bK-%s\r\n"
                          b"From: <sip:probe@127.0.0.1>;tag=probe\r\n"
                          b"To: <sip:probe@127.0.0.1>\r\nCall-ID: %s\r\n"
                          b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                          b"Content-Length: 0\r\n\r\n" % (port, cid, cid), self.target)
        start = time.monotonic()
        self.pump(start + BARRIER, lambda: cid in self.probed)
        self.pump(time.monotonic())       # what came with it
        msg.probe_time = time.monotonic() - start
        if msg.probe_time > 1:
            msg.notes.append("loop held %.1f s" % msg.probe_time)
        return cid in self.probed

    def run(self, msg, check):
        self.current = msg
        if msg.call_id is not None:
            self.by_call_id[msg.call_id] = msg
        if msg.transport == "tcp":
            if msg.via_transport == "TLS":
                msg.notes.append("TLS Via sent over TCP: no TLS listener here")
            self.send_tcp(msg)
            try:
                answered = self.barrier(msg)
            finally:
                self.tcp_finish(msg)
        else:
            self.send_udp(msg)
            answered = self.barrier(msg)
        check(msg, answered)


def load_index():
    with open(os.path.join(CORPUS, "index.tsv"), encoding="utf-8") as f:
        next(f)
        return [line.split("\t")[0] for line in f if line.strip()]


def corpus_msg(name):
    with open(os.path.join(CORPUS, name + ".dat"), "rb") as f:
        return Msg(name, f.read())


def variants():
    """The rows named FILE~what: the file's bytes with its Via transport
    changed (and its Call-ID, so the answers are told apart)."""
    out = []
    for name, old, new in (("bext01", b"SIP/2.0/TLS", b"SIP/2.0/TCP"),
                           ("ncl", b"SIP/2.0/UDP", b"SIP/2.0/TCP"),
                           ("mcl01", b"SIP/2.0/UDP", b"SIP/2.0/TCP")):
        base = corpus_msg(name)
        tag = "tcpvia" if name == "bext01" else "tcp"
        cid = base.call_id
        data = base.data.replace(old, new, 1).replace(cid, cid + b"-" + tag.encode(), 1)
        out.append(Msg("%s~%s" % (name, tag), data))
    return out


class Rfc4475(sbtest.unittest.TestCase):
    def test_corpus_intact(self):
        sums = {}
        with open(os.path.join(CORPUS, "SHA256SUMS")) as f:
            for line in f:
                digest, name = line.split()
                sums[name] = digest
        index = load_index()
        names = [n + ".dat" for n in index]
        self.assertEqual(len(names), 50)
        self.assertEqual(sorted(names), sorted(sums))
        for name in names:
            with open(os.path.join(CORPUS, name), "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), sums[name], name)
        # One expected row per file, plus the variants, and nothing else.
        self.assertEqual(sorted(load_expected()), sorted(index + [v.name for v in variants()]))

    def test_replay(self):
        expected = load_expected()
        msgs = [corpus_msg(n) for n in load_index()] + variants()
        with sbtest.Daemon(extra=CONF) as d:
            rp = Replay(d)
            self.addCleanup(rp.close)
            # Bind the Via ports up front, so a reply that is late or goes
            # to an unexpected port is still seen.
            for port in (5060, 5050):
                rp.listen(port)

            def alive(msg, answered):
                self.assertTrue(d.alive(), "sipbridged died (exit status %s) after %s (%s):\n%s"
                                % (d.proc.returncode, msg.name, msg.transport, d.log()[-4000:]))
                self.assertTrue(answered, "sipbridged did not answer OPTIONS within %.0f s "
                                "after %s (%s):\n%s" % (BARRIER, msg.name, msg.transport,
                                                        d.log()[-4000:]))

            try:
                for m in msgs:
                    rp.run(m, alive)
                rp.pump(time.monotonic() + DRAIN)
            finally:
                self.print_table(msgs, rp, expected)

            # The daemon still works.
            for transport in ("u1", "t1"):
                r = d.sipp("options.xml", transport=transport)
                self.assertEqual(r.returncode, 0, "OPTIONS over %s after the corpus:\n%s\n%s\n%s"
                                 % (transport, r.stdout[-1500:], r.stderr[-1500:],
                                    d.log()[-3000:]))
            self.assertIn("counters", d.status())
            self.assertTrue(d.alive())

            bad = []
            for m in msgs:
                bad += expected[m.name].check(m)
            dbl = next(m for m in msgs if m.name == "dblreq")
            if dbl.extra_seen:
                bad.append("dblreq: the daemon answered the trailing INVITE: %s" % dbl.extra_seen)
            self.assertEqual(bad, [], "\n" + "\n".join(bad))
            # Leaving the with-block stops the daemon: it must exit 0.

    def print_table(self, msgs, rp, expected):
        ports = ", ".join("%d %s" % (p, "bound" if s else "NOT bindable")
                          for p, s in sorted(rp.listeners.items()))
        print("\nRFC 4475 replay against 127.0.0.1:%d (UDP reply ports: %s)" % (rp.d.port, ports))
        fmt = "%-14s %-4s %-4s %-12s %-4s %s"
        print(fmt % ("name", "sent", "via", "expected", "ok", "observed"))
        for m in msgs:
            e = expected[m.name]
            want = "drop" if e.drop else "|".join(map(str, sorted(e.statuses)))
            obs = m.outcome()
            if m.extra_seen:
                obs += " (trailing msg: %s)" % m.extra_seen
            if m.notes:
                obs += "  [%s]" % "; ".join(m.notes)
            print(fmt % (m.name, m.transport, m.via_transport if m.has_via else "-",
                         want + ("+close" if e.close else ""), "ok" if not e.check(m) else "FAIL",
                         obs))
        if rp.stray:
            print("unattributed datagrams:", rp.stray)


if __name__ == "__main__":
    sbtest.main()
