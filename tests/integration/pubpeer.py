"""A PUBLISH server on loopback UDP that the daemon's publish clients talk
to: it records every request and answers as the test says (an Asterisk, a
failing peer, a challenging one), so the tests can check what goes on the
wire."""
import json
import queue
import socket
import threading
import time

from chatsip import Msg
from sbtest import bounded


class Peer:
    """Answers each PUBLISH with policy(msg) -> (status, reason, [headers])
    or None to hold the answer (respond() later)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests = queue.Queue()
        self.all = []
        self.etag = 100
        self.policy = self.accept
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
            msg = Msg(raw)
            if msg.method is None:
                continue
            msg.addr = addr
            if msg.method != "PUBLISH":
                self.respond(msg, 200, "OK")
                continue
            self.all.append(msg)
            ans = self.policy(msg)
            if ans is not None:
                self.respond(msg, *ans)
            self.requests.put(msg)

    def accept(self, msg, expires=None):
        """As Asterisk: 200, a new integer ETag, the requested Expires."""
        self.etag += 1
        exp = expires if expires is not None else (msg.hdr("expires") or "3600")
        return 200, "OK", ["SIP-ETag: %d" % self.etag, "Expires: %s" % exp]

    def respond(self, msg, status, reason, headers=()):
        keep = ("via", "from", "to", "call-id", "cseq")
        lines = ["SIP/2.0 %d %s" % (status, reason)]
        for n, v in msg.headers:
            if n in keep:
                if n == "to" and "tag=" not in v:
                    v += ";tag=peer%d" % (hash(msg.hdr("call-id")) & 0xffff)
                lines.append("%s: %s" % (n.title(), v))
        lines.extend(headers)
        lines.append("Content-Length: 0")
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), msg.addr)

    def next(self, timeout=5):
        try:
            return self.requests.get(timeout=bounded(timeout))
        except queue.Empty:
            raise AssertionError("no PUBLISH within %ss" % timeout)

    def expect_none(self, seconds):
        try:
            m = self.requests.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError("unexpected PUBLISH: %s" % m.text())

    def drain(self, until_quiet=0.3):
        out = []
        while True:
            try:
                out.append(self.requests.get(timeout=until_quiet))
            except queue.Empty:
                return out


def body(msg):
    return json.loads(msg.body.decode()) if msg.body else None


def tag_of(value):
    for part in value.split(";")[1:]:
        k, _, v = part.strip().partition("=")
        if k.lower() == "tag":
            return v
    return None


def outbound_conf(peer_port, name="peer", event="asterisk-devicestate", extra="",
                  user="sipbridge", retry="retry_min=200\nretry_max=1000\n"):
    return """
[{name}]
type=outbound-publish
server_uri=sip:{user}@127.0.0.1:{port}
event={event}
{retry}{extra}
""".format(name=name, port=peer_port, event=event, extra=extra, user=user, retry=retry)


def wait_until(pred, timeout, what):
    end = time.monotonic() + bounded(timeout)
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)
