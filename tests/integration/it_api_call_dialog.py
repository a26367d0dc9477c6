"""In-dialog MESSAGE and INFO of the SIP API ride on the handle's call:
call (INVITE with the application's SDP, passed through), ringing and
accepted with the far end's answer, message without uri and info in the
dialog, hangup with BYE; and the requests that need a call refuse without."""
import socket
import subprocess
import time

import sbtest
from sbtest import Daemon, bounded, free_port

SDP = ("v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       "t=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


event = sbtest.handle_event


class CallDialog(sbtest.unittest.TestCase):
    def setUp(self):
        self.d = Daemon()
        self.addCleanup(self.d.cleanup)
        self.c = self.d.client()
        self.addCleanup(self.c.close)
        r = self.c.request({"request": "create"})
        self.h = r["data"]["handle_id"]
        r = self.c.request({"request": "register", "handle_id": self.h,
                            "type": "guest", "username": "sip:alice@127.0.0.1"})
        self.assertEqual(r["response"], "success", r)

    def test_message_and_info_in_the_call(self):
        port = free_port()
        sipp = subprocess.Popen(
            ["sipp", "-sf", sbtest.SOURCE + "/tests/integration/sipp/api_call_uas.xml",
             "-i", "127.0.0.1", "-p", str(port), "-m", "1", "-nostdin", "-timeout", "20s",
             "-timeout_error", "-trace_msg", "-message_file", self.d.dir + "/uas.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.d.dir)
        self.addCleanup(lambda: sipp.poll() is None and sipp.kill())
        time.sleep(0.3)
        h, c = self.h, self.c
        r = c.request({"request": "call", "handle_id": h, "uri": "sip:bob@127.0.0.1:%d" % port,
                       "jsep": {"type": "offer", "sdp": SDP}, "call_id": "api-call-1"})
        self.assertEqual(r["data"]["result"], {"event": "calling", "call_id": "api-call-1"}, r)
        ev = event(c, h, "ringing")
        self.assertEqual(ev["call_id"], "api-call-1")
        ev = event(c, h, "accepted")
        self.assertEqual(ev["jsep"]["type"], "answer")
        self.assertIn("m=audio 40000 RTP/AVP 0", ev["jsep"]["sdp"])
        r = c.request({"request": "message", "handle_id": h, "content": "in dialog"})
        self.assertEqual(r["data"]["result"], {"event": "messagesent", "call_id": "api-call-1"}, r)
        ev = event(c, h, "messagedelivery")
        self.assertEqual((ev["result"]["code"], ev["call_id"]), (200, "api-call-1"), ev)
        r = c.request({"request": "info", "handle_id": h, "type": "application/x-test",
                       "content": "info body"})
        self.assertEqual(r["data"]["result"], {"event": "infosent"}, r)
        time.sleep(0.3)
        r = c.request({"request": "hangup", "handle_id": h})
        self.assertEqual(r["data"]["result"], {"event": "hangingup"}, r)
        ev = event(c, h, "hangup")
        self.assertEqual(ev["call_id"], "api-call-1")
        self.assertEqual(sipp.wait(timeout=bounded(20)), 0)
        log = open(self.d.dir + "/uas.log").read()
        # The application's SDP went out untouched; the MESSAGE and INFO
        # are in the dialog (the call's Call-ID).
        self.assertIn("m=audio 30000 RTP/AVP 0", log)
        for method in ("MESSAGE", "INFO", "BYE"):
            self.assertRegex(log, r"%s sip:bob@[^\n]*\n(?:[^\n]+\n)*Call-ID: api-call-1" % method)
        self.assertIn("info body", log)
        # No call any more: hangup and info refuse.
        self.assertEqual(c.request({"request": "hangup", "handle_id": h})["error_code"], 447)
        self.assertEqual(c.request({"request": "info", "handle_id": h, "type": "a/b",
                                    "content": "x"})["error_code"], 447)

    def test_call_needs_an_offer_and_one_call_at_a_time(self):
        c, h = self.c, self.h
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # never answers
        silent.bind(("127.0.0.1", 0))
        self.addCleanup(silent.close)
        base = {"request": "call", "handle_id": h,
                "uri": "sip:bob@127.0.0.1:%d" % silent.getsockname()[1]}
        self.assertEqual(c.request(base)["error_code"], 448)
        self.assertEqual(c.request(dict(base, jsep={"type": "answer", "sdp": SDP}))
                         ["error_code"], 448)
        self.assertEqual(c.request(dict(base, uri="bob"))["error_code"], 446)
        # Malformed SDP never goes out: 448 (sdpcheck), the handle stays usable.
        for bad in ("v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n",   # no m= line
                    "v=0\r\nm=x 9 foo @\r\n",                            # bad m= line
                    "hello", SDP.replace("m=audio", "x\r\nm=audio")):
            r = c.request(dict(base, jsep={"type": "offer", "sdp": bad}))
            self.assertEqual(r["error_code"], 448, (bad, r))
            self.assertIn("Invalid SDP", r["error"])
        # srtp is a check of the application's SDP: no a=crypto, 444.
        self.assertEqual(c.request(dict(base, srtp="sdes_optional",
                                        jsep={"type": "offer", "sdp": SDP}))["error_code"], 444)
        self.assertEqual(c.request(dict(base, srtp_profile="ROT13",
                                        jsep={"type": "offer", "sdp": SDP}))["error_code"], 444)
        self.assertEqual(c.request(dict(base, jsep={"type": "offer", "sdp": SDP}))
                         ["response"], "success")
        self.assertEqual(c.request(dict(base, jsep={"type": "offer", "sdp": SDP}))
                         ["error_code"], 447)
        # hangup before an answer: CANCEL (sent once a provisional arrives,
        # RFC 3261 9.1; this far end sends none), and no second hangup.
        self.assertEqual(c.request({"request": "hangup", "handle_id": h})["data"]["result"],
                         {"event": "hangingup"})
        self.assertEqual(c.request({"request": "hangup", "handle_id": h})["error_code"], 447)
        # Destroying the handle ends what it owns; the daemon carries on.
        self.assertEqual(c.request({"request": "destroy", "handle_id": h})["response"],
                         "success")
        self.assertEqual(c.request({"request": "list_handles"})["data"]["handles"], [])


if __name__ == "__main__":
    sbtest.main()
