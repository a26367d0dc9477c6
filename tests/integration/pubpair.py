"""Two sipbridged instances set up as the two-instance example of Asterisk's
documentation ("Exchanging Device and Mailbox State Using PJSIP"): each has
an endpoint, two outbound-publishes, an inbound-publication and an
asterisk-publication for the other, both events, both ways."""
import time

from sbtest import Daemon, bounded, free_port


def pair_conf(me, peer, peer_port, refresh=True, out_filters="", in_filters="",
              retry="retry_min=200\nretry_max=1000\n", extra=""):
    """The config of instance `me` publishing to `peer` at peer_port."""
    pub = ("devicestate_publish={p}-devicestate\nmailboxstate_publish={p}-mwi\n"
           .format(p=peer) if refresh else "")
    return """
[{p}]
type=endpoint

[{p}-devicestate]
type=outbound-publish
server_uri=sip:{me}@127.0.0.1:{port}
event=asterisk-devicestate
{retry}{out_filters}
[{p}-mwi]
type=outbound-publish
server_uri=sip:{me}@127.0.0.1:{port}
event=asterisk-mwi
{retry}{out_filters}
[{p}]
type=inbound-publication
event_asterisk-devicestate={p}
event_asterisk-mwi={p}

[{p}]
type=asterisk-publication
{pub}device_state=yes
mailbox_state=yes
{in_filters}
{extra}""".format(me=me, p=peer, port=peer_port, pub=pub, retry=retry,
                  out_filters=out_filters, in_filters=in_filters, extra=extra)


class Pair:
    """Instance a ("instance1") and b ("instance2") on free ports."""

    def __init__(self, a_kw=None, b_kw=None, a_global="", b_global="", start=True):
        self.a = Daemon(start=False)
        self.b = Daemon(start=False)
        self.a_text = self.a.config_text(pair_conf("instance1", "instance2", self.b.port,
                                                   **(a_kw or {})))
        self.b_text = self.b.config_text(pair_conf("instance2", "instance1", self.a.port,
                                                   **(b_kw or {})))
        self.a.write_config(self.a_text.replace("type=global\n", "type=global\n" + a_global, 1))
        self.b.write_config(self.b_text.replace("type=global\n", "type=global\n" + b_global, 1))
        if start:
            self.a.start()
            self.b.start()

    def close(self, check=True):
        for d in (self.a, self.b):
            try:
                if check:
                    d.stop()
            finally:
                d.cleanup()


def devices(d, regex=None):
    req = {"request": "state_devices"}
    if regex:
        req["filter"] = regex
    r = d.request(req)
    assert r["response"] == "success", r
    return {x["device"]: x for x in r["data"]["devices"]}


def mailboxes(d):
    r = d.request({"request": "state_mailboxes"})
    assert r["response"] == "success", r
    return {x["mailbox"]: x for x in r["data"]["mailboxes"]}


def publish_status(d):
    r = d.request({"request": "publish_status"})
    assert r["response"] == "success", r
    return r["data"]


def set_device(d, dev, state):
    r = d.request({"request": "state_set_device", "device": dev, "state": state})
    assert r["response"] == "success", r
    return r["data"]


def set_mailbox(d, mbox, new, old):
    r = d.request({"request": "state_set_mailbox", "mailbox": mbox, "new": new, "old": old})
    assert r["response"] == "success", r
    return r["data"]


def poll(pred, timeout, what):
    """Poll pred() until it returns a true value; AssertionError at timeout."""
    end = time.monotonic() + bounded(timeout)
    last = None
    while time.monotonic() < end:
        last = pred()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))
