"""Conference chat: bad input.  A MESSAGE with a content type the conference
does not allow gets 415 with Accept, an empty body 400, a body over
max_body 413, one for a dialog the daemon does not know 481; none of them
is relayed.  content_types narrows the allowed list."""
import chatsip
import sbtest

CONFIG = (chatsip.conf_section(max_body=100)
          + chatsip.conf_section("conf-json", content_types="application/json, text/plain"))


class Errors(chatsip.ChatCase):
    CONFIG = CONFIG

    def ua(self, user, conf="conf-100", transport="udp"):
        ua = chatsip.UA(self.d.port, user=user, display='"%s"' % user, transport=transport)
        self.uas.append(ua)
        self.assertEqual(ua.invite(conf).status, 200, ua.trace())
        return ua

    def test_bad_messages_refused_and_not_relayed_sipp(self):
        watcher = chatsip.member(self.d, "watcher")
        self.sipps.append(watcher)
        chatsip.wait_participants(self.d, 1)
        before = chatsip.conf_info(self.d)["messages"]
        s = chatsip.member(self.d, "sender", scenario="chat_bad_input.xml", text="y" * 150,
                           timeout=15)
        self.sipps.append(s)
        rc = s.wait()
        self.assertEqual(rc, 0, s.report() + self.d.log()[-2000:])
        trace = s.report()
        codes = [r.status for r in s.received() if r.status and r.cseq_method == "MESSAGE"]
        self.assertEqual(codes, [415, 415, 400, 413, 202], trace)
        r415 = s.received(status=415)[0]
        accept = r415.hdr("accept")
        self.assertIsNotNone(accept, trace)
        self.assertIn("text/*", accept, trace)
        self.assertIn("application/*", accept, trace)
        # The empty one really was empty, the long one really too long.
        bodies = [len(m.body) for m in s.sent("MESSAGE")]
        self.assertEqual(bodies[2], 0, trace)
        self.assertGreater(bodies[3], 100, trace)
        # Only the good one reached the other participant.
        watcher.wait_answered(1)
        self.assertEqual(chatsip.conf_info(self.d)["messages"], before + 1)
        chatsip.finish(self.d, [watcher])
        self.assertEqual([m.body for m in watcher.received("MESSAGE")],
                         [b"fine\r\n", b"CHAT-LEAVE"], watcher.report())

    def test_max_body_boundary(self):
        a = self.ua("a")
        b = self.ua("b", transport="tcp")
        chatsip.wait_participants(self.d, 2)
        r = a.message(b"z" * 100)
        self.assertEqual(r.status, 202, "a body of exactly max_body\n" + a.trace())
        self.assertEqual(b.wait_messages(1)[0].body, b"z" * 100)
        r = a.message(b"z" * 101)
        self.assertEqual(r.status, 413, a.trace())
        r = a.page(b"z" * 101)
        self.assertEqual(r.status, 413, "page mode checks max_body too\n" + a.trace())
        r = a.page(b"", "text/plain")
        self.assertEqual(r.status, 400, a.trace())
        r = a.page(b"png", "image/png")
        self.assertEqual(r.status, 415, a.trace())
        self.assertIsNotNone(r.hdr("accept"), a.trace())
        r = a.message(b"last")
        self.assertEqual(r.status, 202)
        self.assertEqual([m.body for m in b.wait_messages(2)], [b"z" * 100, b"last"], b.trace())

    def test_content_types_setting(self):
        a = self.ua("a", "conf-json")
        b = self.ua("b", "conf-json")
        chatsip.wait_participants(self.d, 2, "conf-json")
        r = a.message(b"<b>x</b>", "text/html")
        self.assertEqual(r.status, 415, a.trace())
        self.assertEqual(r.hdr("accept").replace(" ", ""), "application/json,text/plain",
                         a.trace())
        r = a.message(b'{"x":1}', "application/x-myphone-confbridge-chat+json")
        self.assertEqual(r.status, 415, "application/* no longer allowed\n" + a.trace())
        r = a.message(b'{"x":1}', "application/json")
        self.assertEqual(r.status, 202, a.trace())
        r = a.message(b"plain", "Text/Plain;charset=UTF-8")
        self.assertEqual(r.status, 202, "types compare case-insensitively, parameters aside\n"
                         + a.trace())
        self.assertEqual([m.body for m in b.wait_messages(2)], [b'{"x":1}', b"plain"])

    def test_unknown_dialog_481(self):
        s = chatsip.member(self.d, "stranger", scenario="chat_unknown_dialog.xml", timeout=10)
        self.assertEqual(s.wait(), 0, s.report())
        s = chatsip.member(self.d, "stranger", scenario="chat_unknown_dialog.xml", timeout=10,
                           transport="t1")
        self.assertEqual(s.wait(), 0, s.report())

    def test_message_after_bye_481(self):
        a = self.ua("a")
        b = self.ua("b")
        chatsip.wait_participants(self.d, 2)
        before = chatsip.conf_info(self.d)["messages"]
        self.assertEqual(a.bye().status, 200, a.trace())
        chatsip.wait_participants(self.d, 1)
        r = a.message(b"too late")
        self.assertEqual(r.status, 481, a.trace())
        # A wrong To tag on a live Call-ID is no dialog either.
        r = b.message(b"wrong tag", remote_tag="notthetag")
        self.assertEqual(r.status, 481, b.trace())
        self.assertEqual(b.requests(), [], b.trace())
        self.assertEqual(chatsip.conf_info(self.d)["messages"], before)


if __name__ == "__main__":
    sbtest.main()
