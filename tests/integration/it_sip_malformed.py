"""Hostile and malformed SIP at the real daemon, while a well-behaved client
keeps calling.

The messages are hand-made files in tests/integration/malformed/ (NAME.sip,
byte-exact, CRLF where SIP wants it), listed in malformed/index.tsv with the
transports each is sent over and the outcome expected per transport.  Each
is sent REPS times over each of its transports, every time on a new socket
(UDP) or a new connection (TCP), with a fresh Call-ID, tag and branch.  The
daemon runs a conference (INVITE, MESSAGE, SUBSCRIBE targets), an
inbound-publication whose endpoint is identified by 127.0.0.1 (PUBLISH
targets) and nothing else (unknown users).

Placeholders in the files, replaced before each send:
  @PORT@ the daemon's port; @CONF@ the conference's user part; @PUB@ the
  inbound-publication's; @CALLID@ @TAG@ @BRANCH@ unique per send;
  @LOCALPORT@ the port of the socket it is sent from (the top Via points
  there, and carries rport, so responses come back to that socket or
  connection); @TRANSPORT@ UDP or TCP, as sent; @OTHERTRANSPORT@ the other
  one; @CL@ the real length of the body after substitution;
  @PAD:N@ N bytes "a"; @ESC:N@ N times "%41"; @HDRS:N@ N header lines
  "X-Filler-i: ..."; @VIAS:N@ N further Via lines.

Expected outcomes (index.tsv columns udp and tcp; "-" means not sent over
that transport), alternatives separated by "|":
  NNN   the final response has this status (provisional ones are ignored);
  4xx   a final response 400..499;
  drop  no response within the wait, and (TCP) the connection still open;
  close TCP: no response, and the daemon closed the connection.
On TCP a close after a final response is allowed (e.g. a framing error).

A response is attributed to the send whose socket or connection it came
back on, and must carry that send's Call-ID when the message has a
well-formed one.  A non-2xx final response to an INVITE is ACKed (from the
same socket or on the same connection), so retransmissions stop; a 2xx
(which no row expects) is ACKed and the call ended with BYE.

Waits (all scaled by SB_TIMEOUT_MULT): a response that may come is awaited
RESP_WAIT; silence is confirmed over DROP_WAIT; a TCP close is awaited
CLOSE_WAIT (it must exceed any incomplete-message or idle timeout the
daemon gives its TCP connections, if that is how it closes them).  The
first pass is sequential: each message gets its answer (or SETTLE of
silence) before the next is sent, the daemon must be alive after every
single one, and the log lines each one caused are counted for the table;
the silent ones are then watched together to the end of their wait.  The
further passes send every message at once (one burst per pass).

Meanwhile sipp (malformed/caller.xml over UDP, one call at a time, 10
calls/s, fewer when SB_TIMEOUT_MULT > 1) joins another conference, says
something in the dialog and leaves, over and over.  When the hostile
traffic is over, sipp is told to finish (SIGUSR1) and must report no
failed call.  Then OPTIONS over UDP and TCP gets 200, `status` answers,
SIGTERM exits 0, and the log lines the hostile traffic caused (every line
except those about sipp's conference) must be at most one per distinct
(message, transport) over all REPS passes: the daemon may log a kind of
malformed input, but not every time it arrives.

The table of outcomes and the log lines, grouped, are printed on every run.

    SB_BUILD_DIR=build python3 tests/integration/it_sip_malformed.py -v
"""
import csv
import math
import os
import re
import select
import signal
import socket
import subprocess
import time
import uuid

import sbtest

DIR = os.path.join(sbtest.HERE, "malformed")
CALLER = os.path.join(DIR, "caller.xml")
CONF, PUB, SIPP_CONF = "mfconf", "mfpub", "mfsipp"
REPS = 3
RESP_WAIT = sbtest.bounded(2.0)     # for a final response that is expected
DROP_WAIT = sbtest.bounded(0.5)     # to be sure nothing comes back
CLOSE_WAIT = sbtest.bounded(4.0)    # for the daemon to close a TCP connection
SETTLE = sbtest.bounded(0.1)        # pass 1: per message, before the next one
# sipp: 10 calls/s, fewer when SB_TIMEOUT_MULT says the daemon is slowed
# down (sanitizers, valgrind); its retransmissions (500 ms, doubling) give
# up after about 3.5 s at MULT 1, later when slowed down.
SIPP_RATE = max(1, int(10 / sbtest.MULT))
SIPP_RETRANS = 3 + int(math.log2(max(1.0, sbtest.MULT)))
SIPP_MAX = 900                      # calls, a bound only: sipp is stopped earlier
# The harness's usual level.  What the hostile traffic logs at info today:
# one line per request for an unknown user (404), per malformed SDP (488),
# and (notice) per refused PUBLISH body (400); the limit below counts them all.
LOG_LEVEL = "info"

EXTRA = """
[%(conf)s]
type=conference
user=%(conf)s

[%(sipp)s]
type=conference
user=%(sipp)s

[mfpeer]
type=endpoint
identify_by=ip

[mfpeer-ip]
type=identify
endpoint=mfpeer
match=127.0.0.1

[%(pub)s]
type=inbound-publication
endpoint=mfpeer
event_asterisk-devicestate=%(pub)s
event_asterisk-mwi=%(pub)s

[%(pub)s]
type=asterisk-publication
device_state=yes
mailbox_state=yes
""" % {"conf": CONF, "sipp": SIPP_CONF, "pub": PUB}

# ---- just enough SIP to match and ACK responses (as it_sip_rfc4475 does) ----

def split_head(data):
    """(header lines unfolded, body) of a message."""
    i = data.find(b"\r\n\r\n")
    head, body = (data[:i], data[i + 4:]) if i >= 0 else (data, b"")
    head = re.sub(rb"\r\n[ \t]+", b" ", head)
    return head.split(b"\r\n"), body


def headers(lines, *names):
    """Values of the headers called any of names (lower case), in order."""
    out = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower().decode("latin-1") in names:
            out.append(value.strip())
    return out


def parse_response(data):
    """(status, Call-ID or None, header lines) of a response, or None."""
    lines, _ = split_head(data)
    m = re.match(rb"SIP/2\.0 ([0-9]{3}) ", lines[0] + b" ")
    if not m:
        return None
    cid = headers(lines, "call-id", "i")
    return int(m.group(1)), cid[0] if cid else None, lines


def split_stream(buf):
    """Complete messages at the front of a TCP byte stream, and the rest."""
    out = []
    while True:
        while buf.startswith(b"\r\n"):
            buf = buf[2:]
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


def ack_for(request_line, resp_lines):
    """The hop-by-hop ACK for a non-2xx final response to an INVITE."""
    uri = request_line.split(b" ")[1]
    hdr = lambda *n: headers(resp_lines, *n)
    out = [b"ACK " + uri + b" SIP/2.0", b"Via: " + hdr("via", "v")[0]]
    for name, keys in ((b"From", ("from", "f")), (b"To", ("to", "t")),
                       (b"Call-ID", ("call-id", "i"))):
        for v in hdr(*keys)[:1]:
            out.append(name + b": " + v)
    out += [b"CSeq: " + hdr("cseq")[0].split()[0] + b" ACK", b"Max-Forwards: 70",
            b"Content-Length: 0"]
    return b"\r\n".join(out) + b"\r\n\r\n"


# Name prefixes in index.tsv and what they cover.
CATEGORIES = {
    "ctl": "controls: well-formed requests to each owner, so the harness is known to work",
    "sl": "bad start lines (and non-SIP on the SIP port)",
    "cl": "bad, duplicate, negative, lying Content-Length",
    "tr": "truncated or broken header lines",
    "hh": "huge headers",
    "um": "unknown methods",
    "cs": "wrong CSeq",
    "via": "bad Via",
    "mh": "missing mandatory headers",
    "bl": "bodies that lie about their type",
    "nul": "NUL bytes",
    "lu": "over-long URIs",
    "ev": "unknown Event packages",
    "js": "broken JSON in PUBLISH",
    "sdp": "broken SDP in INVITE",
    "mp": "multipart: boundary longer than the body (CVE-2026-110658), oversized, missing",
}

PLACEHOLDER = re.compile(rb"@([A-Z]+)(?::([0-9]+))?@")


def expand(template, values):
    """The bytes to send: placeholders replaced, then @CL@."""
    def one(m):
        name, n = m.group(1).decode(), m.group(2)
        if n is not None:
            n = int(n)
            if name == "PAD":
                return b"a" * n
            if name == "ESC":
                return b"%41" * n
            if name == "HDRS":
                return b"\r\n".join(b"X-Filler-%d: %s" % (i, b"f" * 12) for i in range(n))
            if name == "VIAS":
                return b"\r\n".join(b"Via: SIP/2.0/UDP 192.0.2.%d:5060;branch=z9hG4bKfill%d"
                                    % (i % 250 + 1, i) for i in range(n))
        if name == "CL":
            return m.group(0)
        if name in values:
            return values[name]
        raise KeyError("unknown placeholder %r" % m.group(0))
    data = PLACEHOLDER.sub(one, template)
    i = data.find(b"\r\n\r\n")
    if i >= 0 and b"@CL@" in data[:i]:
        body_len = len(data) - (i + 4)
        data = data[:i].replace(b"@CL@", str(body_len).encode()) + data[i:]
    return data


class Row:
    def __init__(self, name, transports, exp_udp, exp_tcp, desc):
        self.name, self.desc = name, desc
        self.transports = transports.split(",")
        self.expected = {"udp": exp_udp, "tcp": exp_tcp}
        with open(os.path.join(DIR, name + ".sip"), "rb") as f:
            self.template = f.read()
        first = self.template.split(b"\r\n", 1)[0]
        self.method = first.split(b" ", 1)[0]
        self.is_request = not first.startswith(b"SIP/")
        # Responses must carry our Call-ID when we sent a well-formed one.
        self.has_call_id = re.search(rb"\r\nCall-ID: @CALLID@\r\n", self.template) is not None
        self.seen = {}          # transport -> [outcome string per pass]
        self.log_lines = {}     # transport -> lines logged in the sequential pass


def load_index():
    rows = []
    with open(os.path.join(DIR, "index.tsv"), encoding="utf-8") as f:
        r = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        head = next(r)
        assert head == ["name", "transports", "udp", "tcp", "description"], head
        for fields in r:
            rows.append(Row(*fields))
    return rows


def allows(expected, outcome_status, closed):
    """Does the outcome (final status or None, TCP closed) match?"""
    for alt in expected.split("|"):
        if alt == "drop" and outcome_status is None and not closed:
            return True
        if alt == "close" and outcome_status is None and closed:
            return True
        if alt == "4xx" and outcome_status is not None and 400 <= outcome_status < 500:
            return True
        if alt.isdigit() and outcome_status == int(alt):
            return True
    return False


def expects_response(expected):
    return any(a not in ("drop", "close") for a in expected.split("|"))


class Shot:
    """One send of one row over one transport, on its own socket."""

    def __init__(self, d, row, transport, rep):
        self.d, self.row, self.transport, self.rep = d, row, transport, rep
        self.target = ("127.0.0.1", d.port)
        self.statuses = []
        self.closed = False
        self.notes = []
        self.buf = b""
        self.call_id = ("mf-%s-%s-%d-%s@127.0.0.1"
                        % (row.name, transport, rep, uuid.uuid4().hex[:12])).encode()
        self.sent_at = None
        self.data = None
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
        else:
            self.sock = socket.create_connection(self.target, timeout=sbtest.bounded(5))

    def values(self):
        other = {"udp": b"TCP", "tcp": b"UDP"}[self.transport]
        return {"PORT": str(self.d.port).encode(), "CONF": CONF.encode(), "PUB": PUB.encode(),
                "CALLID": self.call_id, "TAG": uuid.uuid4().hex[:10].encode(),
                "BRANCH": b"z9hG4bK" + uuid.uuid4().hex.encode(),
                "LOCALPORT": str(self.sock.getsockname()[1]).encode(),
                "TRANSPORT": self.transport.upper().encode(), "OTHERTRANSPORT": other}

    def send(self):
        self.data = expand(self.row.template, self.values())
        self.sent_at = time.monotonic()
        if self.transport == "udp":
            self.sock.sendto(self.data, self.target)
            return
        try:
            self.sock.sendall(self.data)
        except socket.timeout:
            self.notes.append("send stalled")
        except OSError as e:
            self.closed = True
            self.notes.append("send: %s" % e.__class__.__name__)
        self.sock.setblocking(False)

    def final(self):
        finals = [s for s in self.statuses if s >= 200]
        return finals[-1] if finals else None

    def done(self):
        return self.final() is not None or self.closed

    def expected(self):
        return self.row.expected[self.transport]

    def ok(self):
        return allows(self.expected(), self.final(), self.closed)

    def wait_for(self):
        """How long after the send to keep reading at most: a response is
        awaited RESP_WAIT; silence is confirmed over DROP_WAIT; a close
        is awaited CLOSE_WAIT."""
        alts = self.expected().split("|")
        if "close" in alts:
            return max(CLOSE_WAIT, RESP_WAIT)
        if expects_response(self.expected()):
            return RESP_WAIT
        return DROP_WAIT

    def outcome(self):
        if not self.statuses:
            return "close" if self.closed else "drop"
        s = ",".join(str(x) for x in self.statuses)
        return s + ("+close" if self.closed else "")

    def readable(self):
        """Read what is there; attribute responses."""
        try:
            chunk = self.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            if self.transport == "tcp":
                self.closed = True
                self.notes.append("recv: %s" % e.__class__.__name__)
            return
        if self.transport == "udp":
            self.response(chunk)
            return
        if not chunk:
            self.closed = True
            return
        self.buf += chunk
        done, self.buf = split_stream(self.buf)
        for m in done:
            self.response(m)

    def response(self, data):
        r = parse_response(data)
        if r is None:
            self.notes.append("not a response: %r" % data[:40])
            return
        status, cid, lines = r
        if self.row.has_call_id and cid != self.call_id:
            self.notes.append("%d with Call-ID %r" % (status, (cid or b"")[:40]))
            return
        if not self.statuses or self.statuses[-1] != status:
            self.statuses.append(status)
        if self.row.method == b"INVITE" and status >= 200 and self.row.is_request:
            self.ack(status, lines)

    def out(self, data):
        try:
            if self.transport == "udp":
                self.sock.sendto(data, self.target)
            else:
                self.sock.settimeout(sbtest.bounded(5))
                self.sock.sendall(data)
                self.sock.setblocking(False)
        except OSError:
            pass

    def ack(self, status, lines):
        request_line = self.data.split(b"\r\n", 1)[0]
        if status >= 300:
            self.out(ack_for(request_line, lines))
            return
        # A 2xx no row expects: end the call the daemon thinks it has.
        self.notes.append("2xx to INVITE: ACK and BYE sent")
        contact = headers(lines, "contact", "m")
        m = re.search(rb"<([^>]+)>", contact[0]) if contact else None
        uri = m.group(1) if m else request_line.split(b" ")[1]
        via = b"Via: SIP/2.0/%s 127.0.0.1:%d;branch=z9hG4bK%s;rport" % (
            self.transport.upper().encode(), self.sock.getsockname()[1],
            uuid.uuid4().hex.encode())
        common = [b"From: " + headers(lines, "from", "f")[0],
                  b"To: " + headers(lines, "to", "t")[0],
                  b"Call-ID: " + headers(lines, "call-id", "i")[0], b"Max-Forwards: 70",
                  b"Content-Length: 0"]
        for method, cseq in ((b"ACK", b"1"), (b"BYE", b"2")):
            hdrs = [method + b" " + uri + b" SIP/2.0", via.replace(b"z9hG4bK", b"z9hG4bK" + method),
                    b"CSeq: %s %s" % (cseq, method)] + common
            self.out(b"\r\n".join(hdrs) + b"\r\n\r\n")

    def close(self):
        self.sock.close()


def pump(shots, deadline):
    """Read responses until every shot is resolved or has waited its
    quiet time (wait_for()), or until the deadline."""
    while True:
        now = time.monotonic()
        open_ = [s for s in shots if not s.done() and now < s.sent_at + s.wait_for()]
        if now >= deadline or not open_:
            return
        until = min(deadline, min(s.sent_at + s.wait_for() for s in open_))
        ready, _, _ = select.select([s.sock for s in open_], [], [], max(0.0, until - now))
        by_sock = {s.sock: s for s in open_}
        for sock in ready:
            by_sock[sock].readable()


class Log:
    """Counts the daemon's log lines that the hostile traffic caused: every
    line but those about the sipp conference."""

    def __init__(self, d):
        self.d = d

    def lines(self):
        return [l for l in self.d.log().splitlines() if SIPP_CONF not in l]


class Malformed(sbtest.unittest.TestCase):
    def test_index(self):
        rows = load_index()
        names = [r.name for r in rows]
        self.assertEqual(len(names), len(set(names)), "duplicate names in index.tsv")
        self.assertGreaterEqual(len(rows), 40)
        # Every category of the issue, several messages each.
        for prefix, what in CATEGORIES.items():
            n = sum(1 for name in names if name.startswith(prefix + "_"))
            self.assertGreaterEqual(n, 2, "fewer than 2 messages for %s (%s_*)" % (what, prefix))
        self.assertEqual([n for n in names if n.split("_")[0] not in CATEGORIES], [],
                         "rows outside the categories")
        files = sorted(f[:-4] for f in os.listdir(DIR) if f.endswith(".sip"))
        self.assertEqual(files, sorted(names), "index.tsv and the .sip files differ")
        for r in rows:
            self.assertTrue(r.transports and set(r.transports) <= {"udp", "tcp"}, r.name)
            for t in ("udp", "tcp"):
                e = r.expected[t]
                if t not in r.transports:
                    self.assertEqual(e, "-", r.name)
                    continue
                for alt in e.split("|"):
                    self.assertTrue(alt in ("drop", "close", "4xx") or
                                    (alt.isdigit() and len(alt) == 3), (r.name, e))
                if t == "udp":
                    self.assertNotIn("close", e.split("|"), r.name)
            # Every placeholder is one the test knows.
            for m in PLACEHOLDER.finditer(r.template):
                self.assertIn(m.group(1).decode(), (
                    "PORT", "CONF", "PUB", "CALLID", "TAG", "BRANCH", "LOCALPORT", "TRANSPORT",
                    "OTHERTRANSPORT", "CL", "PAD", "ESC", "HDRS", "VIAS"), r.name)
            if "udp" in r.transports:
                n = len(expand(r.template, {k: b"x" * 40 for k in (
                    "PORT", "CONF", "PUB", "CALLID", "TAG", "BRANCH", "LOCALPORT", "TRANSPORT",
                    "OTHERTRANSPORT")}))
                self.assertLess(n, 65000, "%s is too big for a UDP datagram" % r.name)

    def test_hostile_traffic_beside_a_good_client(self):
        rows = load_index()
        with sbtest.Daemon(extra=EXTRA, log_level=LOG_LEVEL) as d:
            log = Log(d)
            sipp = self.start_sipp(d)
            try:
                log_before = len(log.lines())
                t0 = time.monotonic()
                self.sequential_pass(d, rows, log)
                times = [time.monotonic() - t0]
                for rep in range(1, REPS):
                    t0 = time.monotonic()
                    self.burst_pass(d, rows, rep)
                    times.append(time.monotonic() - t0)
                print("\npasses took %s s" % ", ".join("%.1f" % t for t in times))
                time.sleep(DROP_WAIT)
                log_after = len(log.lines())
                sipp_ran_throughout = sipp.poll() is None
            finally:
                stats = self.stop_sipp(d, sipp)
            self.print_table(rows)
            hostile_lines = log.lines()[log_before:log_after]
            self.print_log(hostile_lines)

            # sipp: every call completed.
            self.assertTrue(sipp_ran_throughout,
                            "sipp ended before the hostile traffic did\n%s" % stats["text"])
            self.assertEqual(sipp.returncode, 0, stats["text"])
            self.assertEqual(stats["failed"], 0, stats["text"])
            self.assertGreater(stats["successful"], 0, stats["text"])

            # The daemon still serves.
            self.assertTrue(d.alive(), d.log()[-3000:])
            for transport in ("u1", "t1"):
                r = d.sipp("options.xml", transport=transport)
                self.assertEqual(r.returncode, 0, "OPTIONS over %s:\n%s\n%s\n%s" % (
                    transport, r.stdout[-1500:], r.stderr[-1500:], d.log()[-3000:]))
            self.assertIn("counters", d.status())

            # Outcomes, and the log; reported together, after the daemon
            # has been stopped (SIGTERM: exit 0, which under ASan also
            # means no leak or error report).
            bad = []
            for row in rows:
                for t in row.transports:
                    wrong = ["pass %d: %s" % (rep + 1, outcome)
                             for rep, (outcome, ok) in enumerate(row.seen.get(t, [])) if not ok]
                    if wrong:
                        bad.append("%s over %s: expected %s, got %s"
                                   % (row.name, t, row.expected[t], "; ".join(wrong)))
            distinct = sum(len(r.transports) for r in rows)
            if len(hostile_lines) > distinct:
                bad.append("%d log lines for %d sends of %d distinct (message, transport): at "
                           "most %d allowed; the daemon logs malformed input without a rate "
                           "limit" % (len(hostile_lines), distinct * REPS, distinct, distinct))
            d.stop()
            if bad:
                self.fail("\n" + "\n".join(bad))

    # ---- the passes ----

    def sequential_pass(self, d, rows, log):
        """One message at a time: each gets its response (or SETTLE of
        silence) before the next, and the daemon must be alive after each;
        those still silent then are watched together to the end of their
        wait."""
        shots = []
        try:
            for row in rows:
                for t in row.transports:
                    before = len(log.lines())
                    shot = Shot(d, row, t, 0)
                    shots.append(shot)
                    shot.send()
                    # A row that may stay silent is watched with the others
                    # at the end; one that must answer, until it does.
                    silent_ok = {"drop", "close"} & set(shot.expected().split("|"))
                    pump([shot], shot.sent_at + (SETTLE if silent_ok else RESP_WAIT))
                    self.assertTrue(d.alive(), "sipbridged died (exit status %s) after %s over "
                                    "%s:\n%s" % (d.proc.returncode, row.name, t, d.log()[-4000:]))
                    row.log_lines[t] = log.lines()[before:]
            pump(shots, time.monotonic() + max(CLOSE_WAIT, RESP_WAIT, DROP_WAIT))
        finally:
            for s in shots:
                s.close()
        for s in shots:
            self.record(s.row, s.transport, s)
        self.assertTrue(d.alive(), d.log()[-4000:])

    def burst_pass(self, d, rows, rep):
        """Every message at once, each on its own socket."""
        shots = []
        try:
            for row in rows:
                for t in row.transports:
                    shots.append(Shot(d, row, t, rep))
            for s in shots:
                s.send()
            pump(shots, time.monotonic() + max(CLOSE_WAIT, RESP_WAIT, DROP_WAIT))
        finally:
            for s in shots:
                s.close()
        for s in shots:
            self.record(s.row, s.transport, s)
        self.assertTrue(d.alive(), "sipbridged died (exit status %s) in burst %d:\n%s"
                        % (d.proc.returncode, rep + 1, d.log()[-4000:]))

    def record(self, row, t, shot):
        text = shot.outcome()
        if shot.notes:
            text += " [%s]" % "; ".join(shot.notes)
        row.seen.setdefault(t, []).append((text, shot.ok()))

    # ---- sipp ----

    def start_sipp(self, d):
        self.sipp_stat = os.path.join(d.dir, "caller_stat.csv")
        self.sipp_err = os.path.join(d.dir, "caller_err.log")
        cmd = ["sipp", "-sf", CALLER, "127.0.0.1:%d" % d.port, "-i", "127.0.0.1",
               "-p", str(sbtest.free_port()), "-t", "u1", "-key", "conf", SIPP_CONF,
               "-m", str(SIPP_MAX), "-r", str(SIPP_RATE), "-l", "1", "-nostdin",
               "-timeout", "%ds" % sbtest.bounded(SIPP_MAX / SIPP_RATE + 30), "-timeout_error",
               "-max_retrans", str(SIPP_RETRANS), "-trace_stat", "-stf", self.sipp_stat,
               "-fd", "1",
               "-trace_err", "-error_file", self.sipp_err]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=d.dir)
        # Wait for the first call to have completed before the hostile traffic.
        try:
            first = SIPP_CONF + ": participant 1 "
            sbtest.wait_for(lambda: p.poll() is not None or first in d.log(), 10,
                            "sipp's first call")
        except AssertionError:
            p.kill()
            p.communicate()
            raise
        if p.poll() is not None:
            out, err = p.communicate()
            self.fail("sipp ended at once:\n%s\n%s" % (out[-2000:], err[-2000:]))
        return p

    def stop_sipp(self, d, p):
        """SIGUSR1: sipp makes no new call, finishes the current one, exits."""
        if p.poll() is None:
            p.send_signal(signal.SIGUSR1)
        try:
            out, err = p.communicate(timeout=sbtest.bounded(15))
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        stats = {"failed": None, "successful": None}
        try:
            with open(self.sipp_stat) as f:
                table = list(csv.reader(f, delimiter=";"))
            head, last = table[0], table[-1]
            stats["failed"] = int(last[head.index("FailedCall(C)")])
            stats["successful"] = int(last[head.index("SuccessfulCall(C)")])
        except (OSError, ValueError, IndexError) as e:
            stats["error"] = str(e)
        try:
            with open(self.sipp_err, errors="replace") as f:
                errors = f.read()[-2000:]
        except OSError:
            errors = ""
        stats["text"] = "sipp exit %s, %s\n%s\n%s\n%s" % (
            p.returncode, {k: v for k, v in stats.items() if k != "text"}, out[-2500:],
            err[-1000:], errors)
        print("\nwell-behaved sipp client: %s successful, %s failed calls (exit %s)"
              % (stats["successful"], stats["failed"], p.returncode))
        return stats

    # ---- the report ----

    def print_table(self, rows):
        print("\nmalformed SIP against sipbridged (%d messages, %d passes; pass 1 sequential, "
              "then bursts)" % (len(rows), REPS))
        fmt = "%-28s %-4s %-10s %-26s %s"
        print(fmt % ("name", "tr", "expected", "observed (pass 1; others if different)", "log"))
        for row in rows:
            for t in row.transports:
                seen = row.seen.get(t, [])
                first = seen[0][0] if seen else "-"
                others = sorted({o for o, _ in seen[1:] if o != first})
                obs = first + (" / " + " / ".join(others) if others else "")
                if seen and not all(ok for _, ok in seen):
                    obs = "FAIL " + obs
                print(fmt % (row.name, t, row.expected[t], obs, len(row.log_lines.get(t, []))))

    def print_log(self, lines):
        print("\n%d log lines from the hostile traffic; distinct (timestamps cut):" % len(lines))
        counts = {}
        for l in lines:
            key = re.sub(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+ ", "", l)
            key = re.sub(r"mf-[0-9a-f]{10}@", "mf-...@", key)
            key = re.sub(r"participant [0-9]+", "participant N", key)
            key = re.sub(r"127\.0\.0\.1:[0-9]+", "127.0.0.1:PORT", key)
            counts[key] = counts.get(key, 0) + 1
        for key, n in sorted(counts.items(), key=lambda kv: -kv[1])[:40]:
            print("%5d  %s" % (n, key[:160]))


if __name__ == "__main__":
    sbtest.main()
