"""Who may join a conference: endpoint=, source addresses, digest.

  * test_only_listed_endpoints_join: a conference with endpoint=pbx takes
    calls from the pbx's address (identify by ip) and answers 403 to the
    same INVITE from another address; a conference without endpoint= takes
    both.
  * test_endpoint_with_auth_is_challenged: the caller identified as an
    endpoint with an auth gets 401 with a digest challenge, 401 again with
    a wrong password, and joins with the right one.
  * test_unknown_endpoint_is_a_config_error
"""
import hashlib
import re
import subprocess
import unittest

import chatsip
import sbtest

PASSWORD = "J0in-Secret-41"

CONF = """
[pbx]
type=endpoint
identify_by=ip
[pbx-ip]
type=identify
endpoint=pbx
match=127.0.0.2
[secure]
type=endpoint
identify_by=username
auth=secure-auth
[secure-auth]
type=auth
username=secure
password=%s
[closed]
type=conference
user=closed
endpoint=pbx, secure
[open]
type=conference
user=open
""" % PASSWORD


def authorization(chal, user, password, method, uri):
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', chal[7:]))
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()
    ha1 = md5("%s:%s:%s" % (user, params["realm"], password))
    ha2 = md5("%s:%s" % (method, uri))
    resp = md5("%s:%s:00000001:c0ffee:auth:%s" % (ha1, params["nonce"], ha2))
    return ('Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", '
            'response="%s", algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee"'
            % (user, params["realm"], params["nonce"], uri, resp))


class ChatAccess(sbtest.DaemonCase):
    EXTRA = CONF

    def test_only_listed_endpoints_join(self):
        pbx = chatsip.UA(self.d.port, host="127.0.0.2")
        pbx.daemon = ("127.0.0.1", self.d.port)     # from .2, to the daemon
        other = chatsip.UA(self.d.port)
        try:
            self.assertEqual(other.invite("closed").status, 403)
            self.assertEqual(pbx.invite("closed").status, 200)
            self.assertEqual(pbx.bye().status, 200)
            other.call_id = other.local_tag = None
            self.assertEqual(other.invite("open").status, 200)
            self.assertEqual(other.bye().status, 200)
        finally:
            pbx.close()
            other.close()
        self.assertIn("only pbx, secure may join: 403", self.d.log())

    def test_endpoint_with_auth_is_challenged(self):
        ua = chatsip.UA(self.d.port, user="secure")
        try:
            r = ua.invite("closed")
            self.assertEqual(r.status, 401)
            chal = r.hdr("www-authenticate")
            self.assertTrue(chal.startswith("Digest "), chal)
            uri = ua.remote_uri
            ua.call_id = ua.local_tag = None
            r = ua.invite("closed", extra=(authorization(chal, "secure", "wrong", "INVITE",
                                                         uri),))
            self.assertEqual(r.status, 401)
            ua.call_id = ua.local_tag = None
            r = ua.invite("closed", extra=(authorization(r.hdr("www-authenticate"), "secure",
                                                         PASSWORD, "INVITE", uri),))
            self.assertEqual(r.status, 200)
            self.assertEqual(ua.message("in").status, 202)
            self.assertEqual(ua.bye().status, 200)
        finally:
            ua.close()

    def test_unknown_endpoint_is_a_config_error(self):
        d = sbtest.Daemon("[c]\ntype=conference\nuser=c\nendpoint=nobody\n", start=False)
        try:
            r = subprocess.run([sbtest.DAEMON, "--check-config", "-c", d.conf],
                               capture_output=True, text=True, timeout=sbtest.bounded(10))
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("[c] endpoint 'nobody': no type=endpoint section", r.stderr)
        finally:
            d.cleanup()


if __name__ == "__main__":
    sbtest.main()
