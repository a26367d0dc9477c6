"""Conference chat: a browser participant behind a double-record-routing
WebSocket proxy (browser-clients.md sections 4 and 5), the proxy played by
sipp.  The 200 OK copies both Record-Route entries in order; relayed
MESSAGEs (and the BYE of a kick) go to the first Route's address (the
sipp) with both Route headers in received order and the Request-URI = the
browser's Contact verbatim (.invalid host, ;alias, transport=ws, ;ob); the
session-refresh UPDATE without a body gets 200 without a body."""
import chatsip
import sbtest

CONTACT = "sip:f6h6lckn@x7f.invalid;alias=127.0.0.1~50684~5;transport=ws;ob"


class Proxy(sbtest.unittest.TestCase):
    def test_relay_through_the_record_route(self):
        with sbtest.Daemon(extra=chatsip.conf_section()) as d:
            alice = chatsip.UA(d.port, user="alice", display='"Alice"')
            self.assertEqual(alice.invite("conf-100").status, 200, alice.trace())
            chatsip.wait_participants(d, 1)
            web = chatsip.member(d, "webuser", dn="Web User", scenario="chat_proxy_member.xml")
            try:
                chatsip.wait_participants(d, 2)
                # The browser's chat reaches the others.
                m = alice.wait_messages(1)[0]
                self.assertEqual(m.body, b'{"msg":"hello from the browser","from":"Web User"}\r\n')
                self.assertEqual(chatsip.display_of(m.hdr("from")), '"Web User"')
                self.assertEqual(m.hdr("content-type"),
                                 "application/x-myphone-confbridge-chat+json")
                web.wait_for(lambda s: s.received(status=202), 5, "202 to the browser's chat")
                trace = web.report()
                invite = web.sent("INVITE")[0]
                rr = invite.hdrs("record-route")
                self.assertEqual(len(rr), 2)
                self.assertIn(":%d;" % web.port, rr[0], "the first entry is the sipp itself")
                ok = [r for r in web.received(status=200) if r.cseq_method == "INVITE"][0]
                self.assertEqual(ok.hdrs("record-route"), rr, "Record-Route copied in order\n"
                                 + trace)
                self.assertEqual(chatsip.uri_of(ok.hdr("contact")).split(";")[0]
                                 .replace("sip:", "").split("@")[-1], "127.0.0.1:%d" % d.port,
                                 "a Contact the proxy reaches over UDP\n" + trace)
                upd = [r for r in web.received() if r.status and r.cseq_method == "UPDATE"]
                self.assertEqual([(r.status, r.body) for r in upd], [(200, b"")], trace)

                body = b'{"msg":"hello from the phone","from":"My Name"}'
                ctype = "application/x-myphone-confbridge-chat+json"
                self.assertEqual(alice.message(body, ctype, display='"My Name"').status, 202)
                m = web.wait_answered(1)[0]
                trace = web.report()
                self.assertEqual(m.uri, CONTACT, "Request-URI = the Contact verbatim\n" + trace)
                self.assertEqual(m.hdrs("route"), rr, "both Routes, in order\n" + trace)
                self.assertEqual(chatsip.display_of(m.hdr("from")), '"My Name"', trace)
                self.assertEqual(m.hdr("content-type"), ctype, trace)
                self.assertEqual(m.body, body, trace)
                call_id, our_tag, daemon_tag = web.dialog()
                self.assertEqual(m.hdr("call-id"), call_id, trace)
                self.assertEqual(chatsip.tag_of(m.hdr("from")), daemon_tag, trace)

                # A kick's BYE takes the same route.
                info = chatsip.conf_info(d)
                web_id = [p["id"] for p in info["participant_list"]
                          if p["display_name"] == "Web User"][0]
                r = d.request({"request": "conference_kick", "name": "conf-100", "id": web_id})
                self.assertEqual(r["response"], "success", r)
                self.assertEqual(web.wait(10), 0, web.report())
                bye = web.received("BYE")
                self.assertEqual(len(bye), 1, web.report())
                self.assertEqual(bye[0].uri, CONTACT, web.report())
                self.assertEqual(bye[0].hdrs("route"), rr, web.report())
                chatsip.wait_participants(d, 1)
                self.assertEqual(len(alice.requests()), 1, alice.trace())
                self.assertEqual(alice.bye().status, 200)
            finally:
                web.kill()
                alice.close()


if __name__ == "__main__":
    sbtest.main()
