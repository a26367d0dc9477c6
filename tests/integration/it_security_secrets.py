"""No password or ha1 in the daemon's log or in what it tells clients.

Every daemon the suite starts is already checked at stop (sbtest keeps every
password and secret given to a daemon, from config files and control
requests, and fails a test whose daemon log or `status` shows one).  This
test is the focused case: distinctive secrets in every place one can be
given, with the SIP trace on and the log at debug, so that every line the
daemon can write about them is written.

  * test_configured_and_api_secrets_never_shown: type=auth passwords (an
    inbound endpoint challenged by digest, an outbound-publish's
    outbound_auth), an API account registering with a secret against a
    challenging registrar, another with ha1_secret; then status (daemon and
    CLI, text and JSON), publish status and the handle list; none of their
    output, and none of the log, holds a secret.
  * test_the_check_can_fail: the suite-wide check finds a planted secret.
"""
import json
import os
import subprocess
import unittest

import sbtest
from it_api_register import PASS, Registrar, wait_event

AUTH_PW = "Inb0und-Pw-7c1e"
OUT_PW = "0utb0und-Pw-93ad"
API_PW = PASS          # what sipp/api_registrar.xml checks
API_HA1 = "a3f1c0de5b2f4e6d8c7b9a0f1e2d3c4b"

CONF = """
[trunk]
type=endpoint
auth=trunk-auth
identify_by=username
[trunk-auth]
type=auth
username=trunk
password=%s
[peer-auth]
type=auth
username=me
password=%s
[out]
type=outbound-publish
server_uri=sip:peer@127.0.0.1:9
event=asterisk-devicestate
outbound_auth=peer-auth
""" % (AUTH_PW, OUT_PW)


class SecretsTest(unittest.TestCase):
    def test_configured_and_api_secrets_never_shown(self):
        with sbtest.Daemon(CONF, log_level="debug", global_extra="debug=yes\n") as d:
            for s in (AUTH_PW, OUT_PW):
                self.assertIn(s, sbtest.SECRETS)
            reg = Registrar(d.dir)
            try:
                c = d.client()
                h = c.request({"request": "create"})["data"]["handle_id"]
                r = c.request({"request": "register", "handle_id": h, "secret": API_PW,
                               "username": "sip:alice@127.0.0.1:%d" % reg.port})
                self.assertEqual(r["response"], "success", r)
                wait_event(c, "registered", h)
                h2 = c.request({"request": "create"})["data"]["handle_id"]
                c.request({"request": "register", "handle_id": h2, "ha1_secret": API_HA1,
                           "username": "sip:bob@127.0.0.1:%d" % reg.port})
                self.assertIn(API_PW, sbtest.SECRETS)
                self.assertIn(API_HA1, sbtest.SECRETS)
                d.sipp("options.xml")
                outputs = [json.dumps(d.status())]
                for req in ({"request": "list_handles"}, {"request": "publish_status"},
                            {"request": "mwi_status"}):
                    r = c.request(req)
                    self.assertEqual(r["response"], "success", r)
                    outputs.append(json.dumps(r))
                for args in (["status"], ["--json", "status"], ["publish", "status"]):
                    r = d.ctl(*args)
                    outputs.append(r.stdout + r.stderr)
                c.close()
            finally:
                reg.stop()
            for i, out in enumerate(outputs):
                sbtest.check_no_secrets(out, "output %d" % i)
            d.stop()
            log = d.log()
            self.assertIn("REGISTER", log)          # the trace was on
            self.assertIn("Authorization: Digest", log)
            for s in (AUTH_PW, OUT_PW, API_PW, API_HA1):
                self.assertNotIn(s, log)

    def test_the_check_can_fail(self):
        sbtest.note_secret("planted-Secret-1")
        with self.assertRaises(AssertionError):
            sbtest.check_no_secrets("a line with planted-Secret-1 in it", "text")
        sbtest.SECRETS.discard("planted-Secret-1")


if __name__ == "__main__":
    sbtest.main()
