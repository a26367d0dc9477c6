"""pubstate inbound: the daemon as the PUBLISH server (RFC 3903) of
Asterisk's res_pjsip_publish_asterisk (Event asterisk-devicestate and
asterisk-mwi), configured with Asterisk's endpoint / inbound-publication /
asterisk-publication / identify / auth objects.

sipp plays Asterisk's exact publish flow (initial, refresh, modify, remove,
refresh request, 412 and the bare re-send, MWI; digest auth).  Raw UDP
requests from Python cover the status codes and headers one by one: 404,
489, 403, 401, 412, 400 with a Warning for each kind of bad body, and the
state each accepted body leaves (control requests state_devices and
state_mailboxes)."""
import hashlib
import re
import socket
import time
import uuid

import sbtest

EID = "00:0c:29:ab:cd:ef"
OWN_EID = "02:00:00:00:00:01"
ID_PORT = sbtest.free_port()   # a source port identify maps to instance2

EXTRA = """
[instance2]
type=endpoint

[instance2]
type=inbound-publication
endpoint=instance2
event_asterisk-devicestate=instance2
event_asterisk-mwi=instance2

[instance2]
type=asterisk-publication
device_state=yes
mailbox_state=yes
device_state_filter=^PJSIP/

; device state only, and open to any sender
[devonly]
type=inbound-publication
event_asterisk-devicestate=instance2

; an endpoint that is not instance2
[other]
type=endpoint

; device_state=no: devicestate bodies are accepted and ignored
[nodev]
type=inbound-publication
endpoint=instance2
event_asterisk-devicestate=nodev
event_asterisk-mwi=nodev

[nodev]
type=asterisk-publication
device_state=no
mailbox_state=yes

; an endpoint with digest auth
[instance3]
type=auth
username=u
password=p
realm=sipbridge

[instance4]
type=endpoint
auth=instance3

[instance4]
type=inbound-publication
endpoint=instance4
event_asterisk-devicestate=instance2

; identified by source address and port, whatever the From user
[byport]
type=identify
endpoint=instance2
match=127.0.0.1:%d
""" % ID_PORT


def dev_body(device, state="INUSE", eid=EID):
    return ('{"type":"devicestate","device":"%s","state":"%s","cachable":1,"eid":"%s"}'
            % (device, state, eid))


def mwi_body(uniqueid, new=1, old=3, eid=EID):
    return ('{"type":"mailboxstate","uniqueid":"%s","old":%d,"new":%d,"eid":"%s"}'
            % (uniqueid, old, new, eid))


def refresh_body(eid=EID):
    return '{"type":"refresh","eid":"%s"}' % eid


class Response:
    def __init__(self, data):
        text = data.decode("utf-8", errors="replace")
        head = text.split("\r\n\r\n", 1)[0]
        lines = head.split("\r\n")
        m = re.match(r"SIP/2\.0 (\d{3}) (.*)$", lines[0])
        if not m:
            raise AssertionError("not a SIP response: %r" % text[:200])
        self.status = int(m.group(1))
        self.reason = m.group(2)
        self.raw = text
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.setdefault(name.strip().lower(), []).append(value.strip())

    def get(self, name):
        v = self.headers.get(name.lower())
        return v[0] if v else None

    def __repr__(self):
        return "<%d %s>\n%s" % (self.status, self.reason, self.raw)


class UdpPeer:
    """A raw SIP UDP client: one request at a time, retransmitted (timer E
    style) until a final response with its branch arrives."""

    def __init__(self, port, lport=0):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", lport))
        self.lport = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()

    def publish(self, user="instance2", frm="instance2", event="asterisk-devicestate",
                body=None, ctype="application/json", expires=3600, if_match=None,
                extra=()):
        branch = "z9hG4bK" + uuid.uuid4().hex
        uri = "sip:%s@127.0.0.1:%d" % (user, self.port)
        hdrs = ["PUBLISH %s SIP/2.0" % uri,
                "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport" % (self.lport, branch),
                "From: <sip:%s@127.0.0.1:%d>;tag=%s" % (frm, self.port, uuid.uuid4().hex[:10]),
                "To: <%s>" % uri,
                "Call-ID: %s@127.0.0.1" % uuid.uuid4().hex,
                "CSeq: 1 PUBLISH",
                "Max-Forwards: 70"]
        if event is not None:
            hdrs.append("Event: %s" % event)
        if expires is not None:
            hdrs.append("Expires: %d" % expires)
        if if_match is not None:
            hdrs.append("SIP-If-Match: %s" % if_match)
        hdrs.extend(extra)
        payload = (body or "").encode()
        if body is not None and ctype is not None:
            hdrs.append("Content-Type: %s" % ctype)
        hdrs.append("Content-Length: %d" % len(payload))
        msg = ("\r\n".join(hdrs) + "\r\n\r\n").encode() + payload
        return self.transact(msg, branch)

    def transact(self, msg, branch):
        deadline = time.monotonic() + sbtest.bounded(5)
        interval = 0.5
        self.sock.sendto(msg, ("127.0.0.1", self.port))
        next_send = time.monotonic() + interval
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise AssertionError("no final response to:\n%s" % msg.decode(errors="replace"))
            if now >= next_send:
                self.sock.sendto(msg, ("127.0.0.1", self.port))
                interval = min(interval * 2, 4)
                next_send = now + interval
            self.sock.settimeout(max(0.01, min(next_send, deadline) - now))
            try:
                data = self.sock.recv(65535)
            except socket.timeout:
                continue
            r = Response(data)
            via = r.get("via") or ""
            if branch not in via or r.status < 200:
                continue
            return r


class PubstateInbound(sbtest.DaemonCase):
    EXTRA = EXTRA

    @classmethod
    def setUpClass(cls):
        # DaemonCase's config plus entity_id in [global].
        cls.d = sbtest.Daemon(extra=cls.EXTRA, start=False)
        text = cls.d.config_text(cls.EXTRA)
        cls.d.write_config(text.replace("type=global\n",
                                        "type=global\nentity_id=%s\n" % OWN_EID, 1))
        try:
            cls.d.start()
        except BaseException:
            cls.d.cleanup()
            raise

    def setUp(self):
        self.peer = UdpPeer(self.d.port)

    def tearDown(self):
        self.peer.close()

    # ---- helpers ----

    def fail_info(self, r=None):
        return "%r\n---- daemon log (tail) ----\n%s" % (r, self.d.log()[-3000:])

    def expect(self, r, status):
        self.assertEqual(r.status, status, self.fail_info(r))

    def expect_ok(self, r, expires=3600):
        """200 with a decimal SIP-ETag and Expires; returns the ETag."""
        self.expect(r, 200)
        etag = r.get("sip-etag")
        self.assertIsNotNone(etag, self.fail_info(r))
        self.assertRegex(etag, r"^[0-9]+$", self.fail_info(r))
        self.assertEqual(r.get("expires"), str(expires), self.fail_info(r))
        return etag

    def expect_bad(self, r, why):
        """400 with Warning: 399 <Request-URI host> "<reason containing why>"."""
        self.expect(r, 400)
        w = r.get("warning")
        self.assertIsNotNone(w, self.fail_info(r))
        m = re.match(r'^399 127\.0\.0\.1 "([^"]+)"$', w)
        self.assertTrue(m, "Warning %r not 399 host \"reason\"\n%s" % (w, self.fail_info(r)))
        self.assertIn(why.lower(), m.group(1).lower(), self.fail_info(r))
        return m.group(1)

    def devices(self):
        r = self.d.request({"request": "state_devices"})
        self.assertEqual(r["response"], "success", r)
        return {x["device"]: x for x in r["data"]["devices"]}

    def mailboxes(self):
        r = self.d.request({"request": "state_mailboxes"})
        self.assertEqual(r["response"], "success", r)
        return {x["mailbox"]: x for x in r["data"]["mailboxes"]}

    def assert_device(self, name, state, eid=EID):
        devs = self.devices()
        self.assertIn(name, devs, devs)
        eids = {e["eid"]: e for e in devs[name]["eids"]}
        self.assertIn(eid, eids, devs[name])
        self.assertEqual(eids[eid]["state"], state, devs[name])
        self.assertFalse(eids[eid]["local"], devs[name])

    def run_sipp(self, scenario, keys, extra=()):
        args = []
        for k, v in keys.items():
            args += ["-key", k, v]
        r = self.d.sipp(scenario, extra=args + list(extra))
        self.assertEqual(r.returncode, 0, "%s failed:\n%s\n%s\n%s" % (
            scenario, r.stdout[-2500:], r.stderr[-2500:], self.d.log()[-3000:]))

    # ---- the Asterisk flow, played by sipp ----

    def test_sipp_asterisk_flow(self):
        self.run_sipp("pubstate_asterisk_flow.xml",
                      {"pub": "instance2", "from": "instance2", "eid": EID,
                       "dev": "6001", "mbox": "6001@default"})
        # The modify's state; the remove and the unpublish keep it, as Asterisk.
        self.assert_device("PJSIP/6001", "NOT_INUSE")
        mb = self.mailboxes()
        self.assertIn("6001@default", mb, mb)
        self.assertEqual((mb["6001@default"]["new"], mb["6001@default"]["old"]), (1, 3), mb)
        self.assertEqual(mb["6001@default"]["eids"][0]["eid"], EID, mb)

    def test_sipp_digest_auth(self):
        self.run_sipp("pubstate_auth.xml",
                      {"pub": "instance4", "from": "instance4", "eid": EID, "dev": "6101"},
                      extra=["-au", "u", "-ap", "p"])
        self.assert_device("PJSIP/6101", "BUSY")

    # ---- initial, refresh, modify, remove ----

    def test_initial_etag_and_expires(self):
        e1 = self.expect_ok(self.peer.publish(body=dev_body("PJSIP/7001")))
        self.assert_device("PJSIP/7001", "INUSE")
        e2 = self.expect_ok(self.peer.publish(body=dev_body("PJSIP/7001", "RINGING"),
                                              expires=120), expires=120)
        self.assertNotEqual(e1, e2)
        # No Expires in the request: 3600.
        self.expect_ok(self.peer.publish(body=dev_body("PJSIP/7001", "ONHOLD"), expires=None))
        self.assert_device("PJSIP/7001", "ONHOLD")
        devs = self.devices()
        self.assertEqual(devs["PJSIP/7001"]["state"], "ONHOLD", devs)
        self.assertEqual(len(devs["PJSIP/7001"]["eids"]), 1, devs)

    def test_refresh_modify_remove(self):
        e1 = self.expect_ok(self.peer.publish(body=dev_body("PJSIP/7002", "BUSY")))
        self.assert_device("PJSIP/7002", "BUSY")
        e2 = self.expect_ok(self.peer.publish(if_match=e1))          # refresh
        self.assertNotEqual(e2, e1)
        self.expect(self.peer.publish(if_match=e1), 412)             # old ETag gone
        e3 = self.expect_ok(self.peer.publish(if_match=e2, expires=60,
                                              body=dev_body("PJSIP/7002", "UNAVAILABLE")),
                            expires=60)                                # modify
        self.assertNotIn(e3, (e1, e2))
        self.assert_device("PJSIP/7002", "UNAVAILABLE")
        r = self.peer.publish(if_match=e3, expires=0)                  # remove
        self.expect(r, 200)
        self.assertEqual(r.get("expires"), "0", self.fail_info(r))
        self.expect(self.peer.publish(if_match=e3), 412)
        # Removing a publication keeps the state (as in Asterisk).
        self.assert_device("PJSIP/7002", "UNAVAILABLE")

    def test_refresh_within_grace_after_expires(self):
        # Asterisk refreshes at exactly the Expires it was granted: the
        # publication must outlive it (by 32 s), or the refresh races into
        # a 412.
        e1 = self.expect_ok(self.peer.publish(expires=1, body=dev_body("PJSIP/7009", "BUSY")),
                            expires=1)
        time.sleep(1.5)
        e2 = self.expect_ok(self.peer.publish(if_match=e1, expires=1), expires=1)
        self.assertNotEqual(e1, e2)

    def test_mwi_state(self):
        e1 = self.expect_ok(self.peer.publish(event="asterisk-mwi",
                                              body=mwi_body("7003@default", new=2, old=5)))
        mb = self.mailboxes()
        self.assertIn("7003@default", mb, mb)
        self.assertEqual((mb["7003@default"]["new"], mb["7003@default"]["old"]), (2, 5), mb)
        self.assertEqual(mb["7003@default"]["eids"][0]["eid"], EID, mb)
        e2 = self.expect_ok(self.peer.publish(event="asterisk-mwi", if_match=e1,
                                              body=mwi_body("7003@default", new=0, old=7)))
        self.assertNotEqual(e1, e2)
        mb = self.mailboxes()
        self.assertEqual((mb["7003@default"]["new"], mb["7003@default"]["old"]), (0, 7), mb)
        # A refresh request body on either event: 200.
        self.expect_ok(self.peer.publish(event="asterisk-mwi", body=refresh_body()))
        self.expect_ok(self.peer.publish(event="asterisk-devicestate", body=refresh_body()))

    def test_bodyless_without_if_match_is_200(self):
        # Asterisk's re-send of a refresh after a 412.
        e1 = self.expect_ok(self.peer.publish())
        e2 = self.expect_ok(self.peer.publish(event="asterisk-mwi"))
        self.assertNotEqual(e1, e2)
        # ... and that publication can be refreshed and removed.
        e3 = self.expect_ok(self.peer.publish(if_match=e1))
        self.assertNotEqual(e3, e1)
        r = self.peer.publish(if_match=e3, expires=0)
        self.expect(r, 200)
        self.assertEqual(r.get("expires"), "0", self.fail_info(r))

    # ---- 412 ----

    def test_conditional_unknown_etag_412(self):
        dev_etag = self.expect_ok(self.peer.publish(body=dev_body("PJSIP/7004")))
        # A well-formed ETag that is certainly unknown: one just removed
        # (ETags come from a counter and are not reissued).
        gone = self.expect_ok(self.peer.publish(body=dev_body("PJSIP/7004")))
        self.expect(self.peer.publish(if_match=gone, expires=0), 200)
        cases = [
            ("refresh, unknown ETag", dict(if_match=gone)),
            ("modify, unknown ETag", dict(if_match=gone, body=dev_body("PJSIP/7004", "BUSY"))),
            ("remove, unknown ETag", dict(if_match=gone, expires=0)),
            ("ETag beyond 32 bits", dict(if_match="99999999999")),
            ("non-integer ETag", dict(if_match="abc")),
            ("integer with junk", dict(if_match=dev_etag + "x")),
            ("negative ETag", dict(if_match="-" + dev_etag)),
            ("zero ETag", dict(if_match="0")),
            ("Expires 0 without SIP-If-Match", dict(expires=0)),
            ("device ETag used for mwi", dict(if_match=dev_etag, event="asterisk-mwi")),
        ]
        for what, kw in cases:
            with self.subTest(what):
                self.expect(self.peer.publish(**kw), 412)
        # None of them touched the state or the publication.
        self.assert_device("PJSIP/7004", "INUSE")
        self.expect_ok(self.peer.publish(if_match=dev_etag))

    # ---- who may publish ----

    def test_unknown_user_404(self):
        self.expect(self.peer.publish(user="nosuch", frm="instance2",
                                      body=dev_body("PJSIP/7005")), 404)
        self.assertNotIn("PJSIP/7005", self.devices())

    def test_no_event_line_404(self):
        # [devonly] has event_asterisk-devicestate only.
        self.expect(self.peer.publish(user="devonly", event="asterisk-mwi",
                                      body=mwi_body("7006@default")), 404)
        self.assertNotIn("7006@default", self.mailboxes())
        self.expect_ok(self.peer.publish(user="devonly", frm="anyone",
                                         body=dev_body("PJSIP/7006")))

    def test_bad_event_489(self):
        for what, ev in (("presence", "presence"), ("dialog", "dialog"),
                         ("wrong case", "Asterisk-Devicestate"), ("no Event", None)):
            with self.subTest(what):
                r = self.peer.publish(event=ev, body=dev_body("PJSIP/7007"))
                self.expect(r, 489)
                # RFC 6665 8.2.2: a 489 lists the packages that are understood.
                allow = [x.strip() for x in (r.get("allow-events") or "").split(",")]
                self.assertIn("asterisk-devicestate", allow, self.fail_info(r))
                self.assertIn("asterisk-mwi", allow, self.fail_info(r))
        self.assertNotIn("PJSIP/7007", self.devices())

    def test_wrong_endpoint_403(self):
        for frm in ("stranger", "other", "instance4"):
            with self.subTest(frm):
                self.expect(self.peer.publish(frm=frm, body=dev_body("PJSIP/7008")), 403)
        self.expect(self.peer.publish(user="nodev", frm="other",
                                      event="asterisk-mwi", body=mwi_body("7008@x")), 403)
        self.assertNotIn("PJSIP/7008", self.devices())
        self.assertNotIn("7008@x", self.mailboxes())

    def test_identify_by_source_port(self):
        # From user is no endpoint, but identify maps 127.0.0.1:ID_PORT to instance2.
        peer = UdpPeer(self.d.port, lport=ID_PORT)
        try:
            self.expect_ok(peer.publish(frm="stranger", body=dev_body("PJSIP/7009")))
        finally:
            peer.close()
        self.assert_device("PJSIP/7009", "INUSE")

    def test_endpoint_without_auth_never_challenged(self):
        for user, frm in (("instance2", "instance2"), ("devonly", "stranger"),
                          ("devonly", "other")):
            with self.subTest(user=user, frm=frm):
                r = self.peer.publish(user=user, frm=frm, body=dev_body("PJSIP/7010"))
                self.expect_ok(r)
                self.assertIsNone(r.get("www-authenticate"), self.fail_info(r))

    def test_digest_auth_raw(self):
        body = dev_body("PJSIP/7011", "RINGINUSE")
        r = self.peer.publish(user="instance4", frm="instance4", body=body)
        self.expect(r, 401)
        chal = r.get("www-authenticate")
        self.assertIsNotNone(chal, self.fail_info(r))
        self.assertTrue(chal.startswith("Digest "), chal)
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', chal[7:]))
        self.assertEqual(params.get("realm"), "sipbridge", chal)
        self.assertIn("nonce", params, chal)
        self.assertNotIn("PJSIP/7011", self.devices())

        def authorization(password):
            uri = "sip:instance4@127.0.0.1:%d" % self.d.port
            md5 = lambda s: hashlib.md5(s.encode()).hexdigest()
            ha1 = md5("u:sipbridge:%s" % password)
            ha2 = md5("PUBLISH:%s" % uri)
            resp = md5("%s:%s:00000001:c0ffee:auth:%s" % (ha1, params["nonce"], ha2))
            return ('Authorization: Digest username="u", realm="sipbridge", nonce="%s", '
                    'uri="%s", response="%s", algorithm=MD5, qop=auth, nc=00000001, '
                    'cnonce="c0ffee"' % (params["nonce"], uri, resp))

        r = self.peer.publish(user="instance4", frm="instance4", body=body,
                              extra=[authorization("wrong")])
        self.expect(r, 401)
        self.assertNotIn("PJSIP/7011", self.devices())
        self.expect_ok(self.peer.publish(user="instance4", frm="instance4", body=body,
                                         extra=[authorization("p")]))
        self.assert_device("PJSIP/7011", "RINGINUSE")

    # ---- bodies ----

    def test_bad_bodies_400_with_warning(self):
        e = EID
        cases = [
            # (what, event, content type, body, reason contains)
            ("malformed JSON", "asterisk-devicestate", "application/json",
             '{"type":"devicestate","device":"PJSIP/7012",', "not valid JSON"),
            ("not an object", "asterisk-devicestate", "application/json",
             '["devicestate"]', "not a JSON object"),
            ("missing eid", "asterisk-devicestate", "application/json",
             '{"type":"devicestate","device":"PJSIP/7012","state":"INUSE","cachable":1}',
             "'eid' is missing"),
            ("eid not a string", "asterisk-devicestate", "application/json",
             '{"type":"devicestate","device":"PJSIP/7012","state":"INUSE","cachable":1,'
             '"eid":12}', "'eid' must be a string"),
            ("malformed eid", "asterisk-devicestate", "application/json",
             dev_body("PJSIP/7012", eid="00:0c:29:ab:cd"), "six hex bytes"),
            ("eid with non-hex", "asterisk-devicestate", "application/json",
             dev_body("PJSIP/7012", eid="00:0c:29:ab:cd:zz"), "six hex bytes"),
            ("missing type", "asterisk-devicestate", "application/json",
             '{"device":"PJSIP/7012","state":"INUSE","cachable":1,"eid":"%s"}' % e,
             "'type' is missing"),
            ("unknown type", "asterisk-devicestate", "application/json",
             '{"type":"presencestate","device":"PJSIP/7012","eid":"%s"}' % e,
             "unknown type"),
            ("device is a number", "asterisk-devicestate", "application/json",
             '{"type":"devicestate","device":7012,"state":"INUSE","cachable":1,"eid":"%s"}'
             % e, "'device'"),
            ("empty device", "asterisk-devicestate", "application/json",
             dev_body(""), "'device'"),
            ("missing state", "asterisk-devicestate", "application/json",
             '{"type":"devicestate","device":"PJSIP/7012","cachable":1,"eid":"%s"}' % e,
             "'state'"),
            ("new is a string", "asterisk-mwi", "application/json",
             '{"type":"mailboxstate","uniqueid":"7012@default","old":3,"new":"1","eid":"%s"}'
             % e, "'new'"),
            ("negative new", "asterisk-mwi", "application/json",
             mwi_body("7012@default", new=-1), "'new'"),
            ("mailboxstate on Event asterisk-devicestate", "asterisk-devicestate",
             "application/json", mwi_body("7012@default"), "needs Event asterisk-mwi"),
            ("devicestate on Event asterisk-mwi", "asterisk-mwi", "application/json",
             dev_body("PJSIP/7012"), "needs Event asterisk-devicestate"),
            ("no Content-Type", "asterisk-devicestate", None,
             dev_body("PJSIP/7012"), "Content-Type"),
            ("own entity id", "asterisk-devicestate", "application/json",
             dev_body("PJSIP/7012", eid=OWN_EID), "own entity id"),
            ("own entity id, upper case", "asterisk-mwi", "application/json",
             mwi_body("7012@default", eid=OWN_EID.upper()), "own entity id"),
            ("own entity id in a refresh request", "asterisk-devicestate",
             "application/json", refresh_body(OWN_EID), "own entity id"),
        ]
        for what, ev, ctype, body, why in cases:
            with self.subTest(what):
                self.expect_bad(self.peer.publish(event=ev, ctype=ctype, body=body), why)
        self.assertNotIn("PJSIP/7012", self.devices())
        self.assertNotIn("7012@default", self.mailboxes())

    def test_body_not_json_415_with_accept(self):
        # RFC 3903 6 step 2: a body of a type we do not take is 415.
        r = self.peer.publish(event="asterisk-devicestate", ctype="text/plain",
                              body=dev_body("PJSIP/7012"))
        self.assertEqual(r.status, 415, self.fail_info(r))
        self.assertEqual(r.get("accept"), "application/json")
        self.assertNotIn("PJSIP/7012", self.devices())

    def test_bad_body_on_modify_400(self):
        e1 = self.expect_ok(self.peer.publish(body=dev_body("PJSIP/7013")))
        self.expect_bad(self.peer.publish(if_match=e1, body='{"type":"devicestate"'),
                        "not valid JSON")
        self.assert_device("PJSIP/7013", "INUSE")

    def test_own_entity_id_configured(self):
        r = self.d.request({"request": "publish_status"})
        self.assertEqual(r["response"], "success", r)
        self.assertEqual(r["data"]["entity_id"], OWN_EID, r)

    # ---- filters and device_state=no ----

    def test_device_state_filter(self):
        # ^PJSIP/ (ERE, case-insensitive): others get 200 and are ignored.
        self.expect_ok(self.peer.publish(body=dev_body("SIP/7014")))
        self.expect_ok(self.peer.publish(body=dev_body("Local/PJSIP/7014")))
        self.expect_ok(self.peer.publish(body=dev_body("pjsip/7015")))
        devs = self.devices()
        self.assertNotIn("SIP/7014", devs)
        self.assertNotIn("Local/PJSIP/7014", devs)
        self.assert_device("pjsip/7015", "INUSE")

    def test_device_state_no_ignored(self):
        e1 = self.expect_ok(self.peer.publish(user="nodev", body=dev_body("PJSIP/7016")))
        self.assertNotIn("PJSIP/7016", self.devices())
        self.expect_ok(self.peer.publish(user="nodev", if_match=e1,
                                         body=dev_body("PJSIP/7016", "BUSY")))
        self.assertNotIn("PJSIP/7016", self.devices())
        # mailbox_state=yes there.
        self.expect_ok(self.peer.publish(user="nodev", event="asterisk-mwi",
                                         body=mwi_body("7016@default")))
        self.assertIn("7016@default", self.mailboxes())

    # ---- last: the daemon is unaffected ----

    def test_zz_daemon_unaffected(self):
        for _ in range(3):
            self.peer.publish(body="\x00\xff{{{", ctype="application/json")
            self.peer.publish(if_match="9" * 40)
            self.peer.publish(body=dev_body("PJSIP/7017", eid=OWN_EID))
        e1 = self.expect_ok(self.peer.publish(body=dev_body("PJSIP/7017", "BUSY")))
        self.expect_ok(self.peer.publish(if_match=e1))
        self.assert_device("PJSIP/7017", "BUSY")
        st = self.d.status()
        self.assertTrue(st, st)
        r = self.d.request({"request": "publish_status"})
        self.assertEqual(r["response"], "success", r)
        self.assertGreater(r["data"]["publish_rejected"], 0, r)
        self.assertGreater(r["data"]["own_eid_rejected"], 0, r)
        self.assertTrue(self.d.alive())


if __name__ == "__main__":
    sbtest.main()
