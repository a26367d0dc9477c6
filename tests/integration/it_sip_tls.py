"""TLS transport (type=transport protocol=tls) and its verification options.

Certificates come from openssl, made afresh in the test's dir: a CA that
the daemon trusts (ca_file), a server certificate it signed for the
daemon, a client certificate it signed, and a second, untrusted CA with a
client and a server certificate of its own.

  * test_tls_without_client_verification: any TLS client gets OPTIONS 200.
  * test_client_certificate_required: verify_client=yes: no certificate,
    or one from the untrusted CA, is refused in the handshake (nothing of
    SIP is read); one from the trusted CA gets 200.
  * test_server_certificate_verified: the daemon's own outgoing TLS
    connection (a SIP API MESSAGE to a sips: URI) to a server with an
    untrusted certificate fails and nothing reaches that server; to one
    the CA signed, it is delivered; verify_server=no lets the untrusted
    one through.
"""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import sbtest


def openssl(cwd, *args):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True,
                   timeout=sbtest.bounded(30))


def make_certs(d):
    """CA 'ca' signs srv and cli; CA 'bad' signs badsrv and badcli."""
    for ca in ("ca", "bad"):
        openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca + ".key",
                "-out", ca + ".pem", "-days", "2", "-subj", "/CN=sbtest %s CA" % ca)
    for name, ca in (("srv", "ca"), ("cli", "ca"), ("badsrv", "bad"), ("badcli", "bad")):
        openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
                "-out", name + ".csr", "-subj", "/CN=127.0.0.1")
        openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey",
                ca + ".key", "-CAcreateserial", "-out", name + ".pem", "-days", "2")


def tls_conf(port, certs, extra=""):
    p = lambda n: os.path.join(certs, n)
    return ("[tls]\ntype=transport\nprotocol=tls\nbind=127.0.0.1:%d\ncert_file=%s\n"
            "priv_key_file=%s\nca_file=%s\n%s" % (port, p("srv.pem"), p("srv.key"),
                                                   p("ca.pem"), extra))


def options_over_tls(port, certs, client=None):
    """Status of OPTIONS over a fresh TLS connection, or the handshake error."""
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    ctx.check_hostname = False
    if client:
        ctx.load_cert_chain(os.path.join(certs, client + ".pem"),
                            os.path.join(certs, client + ".key"))
    raw = socket.create_connection(("127.0.0.1", port), timeout=sbtest.bounded(5))
    t = None
    try:
        t = ctx.wrap_socket(raw)
        local = t.getsockname()[1]
        t.sendall(("OPTIONS sip:probe@127.0.0.1:%d;transport=tls SIP/2.0\r\n"
                   "Via: SIP/2.0/TLS 127.0.0.1:%d;branch=z9hG4bK-tls-%d;alias\r\n"
                   "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:probe@127.0.0.1>\r\n"
                   "Call-ID: tls-%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                   "Content-Length: 0\r\n\r\n" % (port, local, local, local)).encode())
        data = t.recv(65536)
        if not data:
            return "closed"
        return int(data.split()[1])
    except (ssl.SSLError, ConnectionError) as e:
        return "handshake failed: %s" % e
    finally:
        if t is not None:
            t.close()
        raw.close()


class TlsServer:
    """A TLS SIP peer answering 200 to whatever request it reads."""

    def __init__(self, certs, name):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(certs, name + ".pem"),
                            os.path.join(certs, name + ".key"))
        self.ctx = ctx
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            while True:
                conn, _ = self.sock.accept()
                threading.Thread(target=self.talk, args=(conn,), daemon=True).start()
        except OSError:
            return

    def talk(self, conn):
        """Answer each request on one connection until the daemon closes it
        (closing first would make sofia drop the unread 200)."""
        try:
            t = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()
            return
        t.settimeout(sbtest.bounded(40))
        buf = b""
        try:
            while True:
                chunk = t.recv(65536)
                if not chunk:
                    break
                buf += chunk
                head, sep, rest = buf.partition(b"\r\n\r\n")
                if not sep:
                    continue
                lines = head.split(b"\r\n")
                cl = [l.split(b":", 1)[1] for l in lines if l.lower().startswith(b"content-length:")]
                n = int(cl[0]) if cl else 0
                if len(rest) < n:
                    continue
                buf = rest[n:]
                self.requests.append(head + sep + rest[:n])
                keep = [l for l in lines[1:] if l.split(b":")[0].lower() in
                        (b"via", b"from", b"to", b"call-id", b"cseq")]
                t.sendall(b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) +
                          b"\r\nContent-Length: 0\r\n\r\n")
        except (ssl.SSLError, OSError):
            pass
        t.close()

    def close(self):
        self.sock.close()


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.certs = tempfile.mkdtemp(prefix="sbtls-")
        make_certs(cls.certs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.certs, ignore_errors=True)

    def daemon(self, tls_extra=""):
        port = sbtest.free_port()
        return sbtest.Daemon(tls_conf(port, self.certs, tls_extra)), port

    def test_tls_without_client_verification(self):
        d, port = self.daemon()
        with d:
            self.assertEqual(options_over_tls(port, self.certs), 200)
            self.assertEqual(options_over_tls(port, self.certs, "badcli"), 200)
            tls_dir = os.path.join(d.dir, "state", "tls")
            self.assertEqual(os.stat(tls_dir).st_mode & 0o777, 0o700)
            self.assertEqual(os.stat(os.path.join(tls_dir, "agent.pem")).st_mode & 0o777, 0o600)
            self.assertIn("tls 127.0.0.1:%d" % port, d.log())

    def test_client_certificate_required(self):
        d, port = self.daemon("verify_client=yes\n")
        with d:
            self.assertIn("handshake failed", str(options_over_tls(port, self.certs)))
            self.assertIn("handshake failed", str(options_over_tls(port, self.certs, "badcli")))
            self.assertEqual(options_over_tls(port, self.certs, "cli"), 200)
            # Plain SIP on the other transports is not affected.
            self.assertEqual(d.sipp("options.xml").returncode, 0)

    def message_to(self, d, server):
        c = d.client()
        c.sock.settimeout(sbtest.bounded(60))
        r = c.request({"request": "create"})
        self.assertEqual(r["response"], "success", r)
        h = r["data"]["handle_id"]
        r = c.request({"request": "register", "handle_id": h, "type": "guest",
                       "username": "sip:tls@127.0.0.1"})
        self.assertEqual(r["response"], "success", r)
        r = c.request({"request": "message", "handle_id": h, "content": "over tls",
                       "uri": "sips:bob@127.0.0.1:%d;transport=tls" % server.port})
        self.assertIn(r["response"], ("success", "ack"), r)
        t0 = time.monotonic()
        e = sbtest.handle_event(c, h, "messagedelivery", timeout=40)
        print("messagedelivery %s after %.1fs" % (e["result"].get("code"), time.monotonic() - t0))
        c.close()
        return e

    def test_server_certificate_verified(self):
        d, _ = self.daemon()
        bad = TlsServer(self.certs, "badsrv")
        good = TlsServer(self.certs, "srv")
        try:
            with d:
                e = self.message_to(d, bad)
                self.assertGreaterEqual(e["result"]["code"], 400, e)
                # sofia-sip drops the connection once the certificate
                # fails; the transaction ends at timer F (32 s) with 408/503.
                self.assertEqual(bad.requests, [])
                e = self.message_to(d, good)
                self.assertEqual(e["result"]["code"], 200, e)
                self.assertEqual(len(good.requests), 1)
            d, _ = self.daemon("verify_server=no\n")
            with d:
                e = self.message_to(d, bad)
                self.assertEqual(e["result"]["code"], 200, e)
                self.assertEqual(len(bad.requests), 1)
        finally:
            bad.close()
            good.close()


if __name__ == "__main__":
    sbtest.main()
