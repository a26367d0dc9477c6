"""The daemon's publish clients on the wire, against a scripted PUBLISH
server: Asterisk's bodies and headers, one Call-ID per client, ETag kept,
refresh before expiry, 412 / 423 / 401 / 503 handled, start-up dump and
refresh requests, outbound proxy."""
import hashlib
import re
import time
import unittest

from pubpair import publish_status, set_device, set_mailbox
from pubpeer import Peer, body, outbound_conf, tag_of, wait_until
from sbtest import Daemon, main

EID = "02:00:5e:00:53:01"


class Case(unittest.TestCase):
    def start(self, extra):
        self.peer = Peer()
        self.addCleanup(self.peer.close)
        conf = extra.replace("PEERPORT", str(self.peer.port))
        self.d = Daemon(start=False)
        self.addCleanup(self.d.cleanup)
        text = self.d.config_text(conf).replace("type=global\n",
                                                "type=global\nentity_id=%s\n" % EID, 1)
        self.d.write_config(text)
        self.d.start()
        return self.d

    def stop(self):
        self.d.stop()

    def target(self, name="peer"):
        return {t["name"]: t for t in publish_status(self.d)["targets"]}[name]


class WireTest(Case):
    def test_bodies_and_headers_as_asterisk(self):
        self.start(outbound_conf("PEERPORT"))
        set_device(self.d, "PJSIP/6001", "inuse")
        m = self.peer.next()
        self.assertEqual(m.uri, "sip:sipbridge@127.0.0.1:%d" % self.peer.port)
        self.assertEqual(m.hdr("event"), "asterisk-devicestate")
        self.assertEqual(m.hdr("expires"), "3600")
        self.assertEqual(m.hdr("content-type"), "application/json")
        self.assertIsNone(m.hdr("sip-if-match"))
        self.assertEqual(m.body.decode(),
                         '{"type":"devicestate","device":"PJSIP/6001","state":"INUSE",'
                         '"cachable":1,"eid":"%s"}' % EID)
        self.assertIn("<sip:sipbridge@127.0.0.1:%d>" % self.peer.port, m.hdr("from"))
        set_device(self.d, "PJSIP/6001", "BUSY")
        m2 = self.peer.next()
        self.assertEqual(m2.hdr("sip-if-match"), str(self.peer.etag - 1))
        self.assertEqual(body(m2)["state"], "BUSY")
        # One Call-ID and From tag per client, no To tag, CSeq goes up.
        self.assertEqual(m2.hdr("call-id"), m.hdr("call-id"))
        self.assertEqual(tag_of(m2.hdr("from")), tag_of(m.hdr("from")))
        self.assertIsNone(tag_of(m2.hdr("to")))
        self.assertGreater(int(m2.hdr("cseq").split()[0]), int(m.hdr("cseq").split()[0]))
        self.stop()

    def test_mailbox_body(self):
        self.start(outbound_conf("PEERPORT", event="asterisk-mwi"))
        set_mailbox(self.d, "6001@default", 1, 3)
        m = self.peer.next()
        self.assertEqual(m.hdr("event"), "asterisk-mwi")
        self.assertEqual(m.body.decode(),
                         '{"type":"mailboxstate","uniqueid":"6001@default","old":3,'
                         '"new":1,"eid":"%s"}' % EID)
        self.stop()

    def test_refresh_before_expiry_without_body(self):
        # A grant of 6 s: the refresh goes out at 3 s, before it ends.
        self.start(outbound_conf("PEERPORT"))
        self.peer.policy = lambda m: self.peer.accept(m, expires=6)
        set_device(self.d, "PJSIP/6001", "INUSE")
        first = self.peer.next()
        t0 = time.monotonic()
        r = self.peer.next(timeout=8)
        waited = time.monotonic() - t0
        self.assertLess(waited, 6.0)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.hdr("sip-if-match"), str(self.peer.etag - 1))
        self.assertEqual(r.hdr("call-id"), first.hdr("call-id"))
        self.assertEqual(r.hdr("expires"), "3600")
        self.stop()

    def test_outbound_proxy_becomes_route(self):
        # The peer plays the proxy; the Request-URI stays the server's.
        # Asterisk needs "\;lr" written out (';' starts a comment); without
        # it the route would be strict and replace the Request-URI.  We add
        # lr ourselves: the proxy is always a loose router here.
        self.start(outbound_conf("PEERPORT", extra="outbound_proxy=sip:127.0.0.1:PEERPORT\n"))
        set_device(self.d, "PJSIP/6001", "INUSE")
        m = self.peer.next()
        self.assertRegex(m.hdr("route") or "", r"<sip:127\.0\.0\.1:%d;lr>" % self.peer.port)
        self.assertEqual(m.uri, "sip:sipbridge@127.0.0.1:%d" % self.peer.port)
        self.stop()


class FailureTest(Case):
    def test_412_sends_current_state_afresh(self):
        self.start(outbound_conf("PEERPORT"))
        set_device(self.d, "PJSIP/6001", "INUSE")
        first = self.peer.next()
        held = []
        self.peer.policy = lambda m: held.append(m) or None
        set_device(self.d, "PJSIP/6001", "BUSY")
        m = self.peer.next()
        self.assertIsNotNone(m.hdr("sip-if-match"))
        # Changes while the request is out: the re-send carries the newest.
        set_device(self.d, "PJSIP/6001", "RINGING")
        self.peer.policy = self.peer.accept
        self.peer.respond(held[0], 412, "Conditional Request Failed")
        again = self.peer.next()
        self.assertIsNone(again.hdr("sip-if-match"))
        self.assertEqual(body(again)["state"], "RINGING")
        self.assertNotEqual(again.hdr("call-id"), first.hdr("call-id"))
        self.peer.expect_none(0.5)   # RINGING went once: nothing left queued
        self.stop()

    def test_412_on_refresh_sends_last_item(self):
        self.start(outbound_conf("PEERPORT"))
        self.peer.policy = lambda m: self.peer.accept(m, expires=4)
        set_device(self.d, "PJSIP/6001", "ONHOLD")
        self.peer.next()
        self.peer.policy = lambda m: ((412, "Conditional Request Failed")
                                      if m.hdr("sip-if-match") else self.peer.accept(m))
        refresh = self.peer.next(timeout=6)
        self.assertEqual(refresh.body, b"")
        again = self.peer.next()
        self.assertIsNone(again.hdr("sip-if-match"))
        self.assertEqual(body(again)["device"], "PJSIP/6001")
        self.assertEqual(body(again)["state"], "ONHOLD")
        self.stop()

    def test_423_obeys_min_expires(self):
        self.start(outbound_conf("PEERPORT", extra="expiration=60\n"))
        self.peer.policy = lambda m: ((423, "Interval Too Brief", ["Min-Expires: 120"])
                                      if int(m.hdr("expires")) < 120 else self.peer.accept(m))
        set_device(self.d, "PJSIP/6001", "INUSE")
        a = self.peer.next()
        self.assertEqual(a.hdr("expires"), "60")
        b = self.peer.next()
        self.assertEqual(b.hdr("expires"), "120")
        self.assertEqual(body(b)["state"], "INUSE")
        wait_until(lambda: self.target()["last_response"]["code"] == 200, 3, "200")
        set_device(self.d, "PJSIP/6001", "BUSY")
        c = self.peer.next()
        self.assertEqual(c.hdr("expires"), "120")   # remembered
        self.stop()

    def test_401_answered_with_outbound_auth(self):
        self.start(outbound_conf("PEERPORT", extra="outbound_auth=creds\n") +
                   "\n[creds]\ntype=auth\nusername=alice\npassword=s3cret\n")
        nonce = "abcdef0123456789"

        def challenge(m):
            if m.hdr("authorization") is None:
                return 401, "Unauthorized", [
                    'WWW-Authenticate: Digest realm="peerrealm", nonce="%s", '
                    'algorithm=MD5, qop="auth"' % nonce]
            return self.peer.accept(m)
        self.peer.policy = challenge
        set_device(self.d, "PJSIP/6001", "INUSE")
        self.peer.next()
        m = self.peer.next()
        auth = m.hdr("authorization")
        p = dict(re.findall(r'(\w+)="?([^",]*)"?', auth))
        self.assertEqual(p["username"], "alice")
        self.assertEqual(p["realm"], "peerrealm")
        md5 = lambda s: hashlib.md5(s.encode()).hexdigest()
        ha1 = md5("alice:peerrealm:s3cret")
        ha2 = md5("PUBLISH:" + p["uri"])
        want = md5(":".join([ha1, nonce, p["nc"], p["cnonce"], p["qop"], ha2]))
        self.assertEqual(p["response"], want)
        self.assertEqual(body(m)["state"], "INUSE")
        wait_until(lambda: self.target()["last_response"]["code"] == 200, 3, "200")
        self.stop()

    def test_wrong_credentials_stop_at_max_auth_attempts(self):
        self.start(outbound_conf("PEERPORT", extra="outbound_auth=creds\n"
                                 "max_auth_attempts=2\n",
                                 retry="retry_min=5000\n") +
                   "\n[creds]\ntype=auth\nusername=alice\npassword=wrong\n")
        self.peer.policy = lambda m: (401, "Unauthorized", [
            'WWW-Authenticate: Digest realm="r", nonce="n%d", algorithm=MD5'
            % len(self.peer.all)])
        set_device(self.d, "PJSIP/6001", "INUSE")
        wait_until(lambda: self.target()["state"] == "backoff", 5, "backoff")
        got = self.peer.drain(0.3)
        # Each refused answer is asked again on a new handle (nua drops the
        # challenge with the refused credentials): no, yes, no, yes.
        self.assertEqual([bool(m.hdr("authorization")) for m in got],
                         [False, True, False, True])
        self.assertIn("rejected our credentials 2 times", self.d.log())
        self.stop()

    def test_401_without_credentials_backs_off(self):
        self.start(outbound_conf("PEERPORT"))
        self.peer.policy = lambda m: (401, "Unauthorized", [
            'WWW-Authenticate: Digest realm="r", nonce="n", algorithm=MD5'])
        set_device(self.d, "PJSIP/6001", "INUSE")
        first = self.peer.next()
        self.assertIsNone(first.hdr("authorization"))
        wait_until(lambda: self.target()["state"] == "backoff", 3, "backoff")
        self.assertIn("no outbound_auth", self.d.log())
        self.stop()

    def test_5xx_backoff_coalesces_and_recovers(self):
        self.start(outbound_conf("PEERPORT"))
        self.peer.policy = lambda m: (503, "Service Unavailable")
        set_device(self.d, "PJSIP/6001", "INUSE")
        self.peer.next()
        for i in range(20):
            set_device(self.d, "PJSIP/60%02d" % (i % 4), ["BUSY", "RINGING"][i % 2])
        st = self.target()
        self.assertEqual(st["state"], "backoff")
        self.assertLessEqual(st["queued"], 4)
        self.assertIsNotNone(st["retry_in"])
        self.peer.policy = self.peer.accept
        got = {}
        end = time.monotonic() + 5
        while len(got) < 4 and time.monotonic() < end:
            m = self.peer.next(timeout=3)
            if m.body:
                got[body(m)["device"]] = body(m)["state"]
        want = {"PJSIP/60%02d" % d: ["BUSY", "RINGING"][(16 + d) % 2] for d in range(4)}
        self.assertEqual(got, want)
        self.peer.expect_none(0.5)
        self.assertEqual(self.target()["failures_in_row"], 0)
        self.stop()


class LifecycleTest(Case):
    CONF = outbound_conf("PEERPORT") + """
[peer]
type=asterisk-publication
devicestate_publish=peer
device_state=yes

[sipbridge-in]
type=inbound-publication
event_asterisk-devicestate=peer
"""

    def test_refresh_request_at_start_and_dump_on_request(self):
        self.start(self.CONF)
        m = self.peer.next()
        self.assertEqual(body(m), {"type": "refresh", "eid": EID})
        self.assertEqual(m.hdr("event"), "asterisk-devicestate")
        set_device(self.d, "PJSIP/6001", "INUSE")
        set_device(self.d, "PJSIP/6002", "BUSY")
        self.peer.drain()
        # The peer asks for our state: every local device comes, once.
        import socket as so
        s = so.socket(so.AF_INET, so.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        req = ("PUBLISH sip:sipbridge-in@127.0.0.1:%d SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKref1\r\n"
               "From: <sip:peer@127.0.0.1>;tag=1\r\nTo: <sip:sipbridge-in@127.0.0.1>\r\n"
               "Call-ID: ref1@test\r\nCSeq: 1 PUBLISH\r\nMax-Forwards: 70\r\n"
               "Event: asterisk-devicestate\r\nExpires: 3600\r\n"
               "Content-Type: application/json\r\n") % (self.d.port, s.getsockname()[1])
        b = '{"type":"refresh","eid":"00:0c:29:ab:cd:ef"}'
        req += "Content-Length: %d\r\n\r\n%s" % (len(b), b)
        s.sendto(req.encode(), ("127.0.0.1", self.d.port))
        s.settimeout(5)
        self.assertTrue(s.recv(4096).startswith(b"SIP/2.0 200"))
        s.close()
        got = self.peer.drain(0.5)
        self.assertEqual(sorted(body(x)["device"] for x in got),
                         ["PJSIP/6001", "PJSIP/6002"])
        self.stop()

    def test_local_state_sent_when_a_publish_is_added_by_reload(self):
        self.start("")
        set_device(self.d, "PJSIP/6001", "INUSE")
        set_device(self.d, "SIP/old", "BUSY")
        with open(self.d.conf, "a") as f:
            f.write(outbound_conf(self.peer.port, extra="@device_state_filter=^pjsip/\n"))
        r = self.d.request({"request": "reload"})
        self.assertEqual(r["response"], "success", r)
        m = self.peer.next()
        self.assertEqual(body(m)["device"], "PJSIP/6001")
        self.peer.expect_none(0.5)          # SIP/old filtered out
        self.stop()


if __name__ == "__main__":
    main()
