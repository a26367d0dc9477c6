"""Conference chat: relaying.  An in-dialog MESSAGE from a participant gets
202 and goes, in-dialog, to every OTHER active participant: same Call-ID as
that participant's own dialog, From tag = the daemon's tag of that dialog,
From display name = the sender's (made safe), Content-Type unchanged with
its parameters, body byte for byte (NUL included); the sender gets nothing.
Page mode: an out-of-dialog MESSAGE from a participant's From URI is
relayed (202), from anyone else refused (403).  sipp and chatsip peers over
UDP and TCP."""
import chatsip
import sbtest

CONFIG = chatsip.conf_section()


class Relay(chatsip.ChatCase):
    CONFIG = CONFIG

    def ua(self, user, display=None, transport="udp", **kw):
        ua = chatsip.UA(self.d.port, transport=transport, user=user,
                        display=display if display is not None else '"%s"' % user.capitalize(),
                        **kw)
        self.uas.append(ua)
        r = ua.invite("conf-100")
        self.assertEqual(r.status, 200, ua.trace())
        return ua

    def member(self, user, **kw):
        s = chatsip.member(self.d, user, **kw)
        self.sipps.append(s)
        return s

    def check_in_dialog(self, m, call_id, our_tag, daemon_tag, trace):
        self.assertEqual(m.hdr("call-id"), call_id, "relayed in the participant's own dialog\n"
                         + trace)
        self.assertEqual(chatsip.tag_of(m.hdr("from")), daemon_tag,
                         "From tag = the daemon's dialog tag\n" + trace)
        self.assertEqual(chatsip.tag_of(m.hdr("to")), our_tag, trace)

    # -- tests -----------------------------------------------------------

    def test_relay_between_sipp_participants_udp_and_tcp(self):
        alice = self.member("alice")
        bob = self.member("bob", transport="t1")
        chatsip.wait_participants(self.d, 2)
        body = '{"msg":"hello from the browser","from":"My Name"}'
        ctype = "application/x-myphone-confbridge-chat+json"
        carol = self.member("carol", dn="My Name", scenario="chat_speaker.xml", ctype=ctype,
                            text=body)
        alice.wait_answered(1)
        bob.wait_answered(1)
        sent = carol.wait_for(lambda s: s.sent("MESSAGE") and s.received(status=202),
                              what="MESSAGE sent and 202 received")
        sent = carol.sent("MESSAGE")[0]
        for s in (alice, bob):
            trace = s.report()
            msgs = s.received("MESSAGE")
            self.assertEqual(len(msgs), 1, trace)
            m = msgs[0]
            call_id, our_tag, daemon_tag = s.dialog()
            self.check_in_dialog(m, call_id, our_tag, daemon_tag, trace)
            self.assertEqual(chatsip.display_of(m.hdr("from")), '"My Name"', trace)
            self.assertEqual(m.hdr("content-type"), ctype, trace)
            self.assertEqual(m.body, sent.body, "body byte for byte\n" + trace)
            # Sent to the Contact it gave.
            self.assertTrue(m.uri.startswith("sip:%s@127.0.0.1:%d" % (s.user, s.port)), trace)
        self.assertEqual(carol.received("MESSAGE"), [], "the sender got its own message back\n"
                         + carol.report())
        info = chatsip.conf_info(self.d)
        by_name = {p["display_name"]: p for p in info["participant_list"]}
        self.assertEqual(by_name["My Name"]["messages_sent"], 1, info)
        chatsip.finish(self.d, [alice, bob, carol])

    def test_content_type_parameters_and_nul_byte_kept(self):
        alice = self.ua("alice")
        bob = self.ua("bob")
        carol = self.ua("carol", transport="tcp")
        chatsip.wait_participants(self.d, 3)
        cases = [
            ("text/plain;charset=ISO-8859-1", b"caf\xe9 au lait \x00 after the NUL\r\nline 2"),
            ("application/x-myphone-confbridge-chat+json", b'{"From":"A","Body":"\\u00e9"}'),
            ("text/plain; charset=UTF-8; format=flowed", "h\u00e9llo\n".encode()),
            ("application/octet-stream", bytes(range(256))),
        ]
        for i, (ctype, body) in enumerate(cases):
            r = alice.message(body, ctype)
            self.assertEqual(r.status, 202, alice.trace())
            for ua in (bob, carol):
                m = ua.wait_messages(i + 1)[i]
                self.assertEqual(m.body, body, "%s: body changed\n%s" % (ctype, ua.trace()))
                got = m.hdr("content-type").replace(" ", "")
                self.assertEqual(got.lower(), ctype.replace(" ", "").lower(),
                                 "Content-Type parameters kept\n" + ua.trace())
                self.check_in_dialog(m, ua.call_id, ua.local_tag, ua.remote_tag, ua.trace())
        self.assertEqual(alice.requests(), [], alice.trace())

    def test_display_name_of_each_message(self):
        alice = self.ua("alice", '"Alice"')
        bob = self.ua("bob")
        chatsip.wait_participants(self.d, 2)
        r = alice.message(b"one", display='"My Name"')
        self.assertEqual(r.status, 202)
        m = bob.wait_messages(1)[0]
        self.assertEqual(chatsip.display_of(m.hdr("from")), '"My Name"', bob.trace())
        # A From without a display name: the one it joined with, never
        # anything of its URI.
        r = alice.message(b"two", display="")
        self.assertEqual(r.status, 202)
        m = bob.wait_messages(2)[1]
        self.assertEqual(chatsip.display_of(m.hdr("from")), '"Alice"', bob.trace())
        self.assertNotIn("alice@", m.hdr("from"), bob.trace())
        # A token display name comes out quoted.
        r = alice.message(b"three", display="Token Name")
        m = bob.wait_messages(3)[2]
        self.assertEqual(chatsip.display_of(m.hdr("from")), '"Token Name"', bob.trace())

    def test_display_name_made_safe(self):
        alice = self.ua("alice")
        bob = self.ua("bob")
        chatsip.wait_participants(self.d, 2)
        cases = [
            # quotes stay escaped, a control char (as a quoted-pair) and a
            # bidi override are dropped, the spaces around them collapse
            ('"Eve \\"the\\" \\\x01 \u202e Admin"', '"Eve \\"the\\" Admin"'),
            ('"tab\there"', '"tabhere"'),
            ('"  spaced   out  "', '"spaced out"'),
            ('"back\\\\slash"', '"back\\\\slash"'),
            # capped at 64 characters
            ('"%s"' % ("\u00e9" * 100), '"%s"' % ("\u00e9" * 64)),
        ]
        for i, (sent, want) in enumerate(cases):
            r = alice.message(b"x%d" % i, display=sent)
            self.assertEqual(r.status, 202, alice.trace())
            m = bob.wait_messages(i + 1)[i]
            self.assertEqual(chatsip.display_of(m.hdr("from")), want, bob.trace())
            raw_from = [l for l in m.raw.split(b"\r\n") if l.lower().startswith(b"from:")][0]
            self.assertFalse(any(c < 0x20 or c == 0x7f for c in raw_from),
                             "control characters in %r" % raw_from)
        info = chatsip.conf_info(self.d)
        for p in info["participant_list"]:
            self.assertNotIn("\x01", p["display_name"])

    def test_page_mode_from_a_participant_relayed(self):
        carol = self.member("carol")
        dave = self.member("dave")
        chatsip.wait_participants(self.d, 2)
        # sipp's From URI is sip:carol@127.0.0.1, as in carol's INVITE.
        page = self.member("carol", scenario="chat_page_202.xml", dn="Carol Paging",
                           ctype="text/plain;charset=UTF-8", text="paged hello")
        self.assertEqual(page.wait(), 0, page.report())
        m = dave.wait_answered(1)[0]
        self.assertEqual(m.body, page.sent("MESSAGE")[0].body, dave.report())
        call_id, our_tag, daemon_tag = dave.dialog()
        self.check_in_dialog(m, call_id, our_tag, daemon_tag, dave.report())
        self.assertEqual(chatsip.display_of(m.hdr("from")), '"Carol Paging"', dave.report())
        self.assertEqual(m.hdr("content-type"), "text/plain;charset=UTF-8", dave.report())
        self.assertEqual(carol.received("MESSAGE"), [], "the sender got its page back\n"
                         + carol.report())
        chatsip.finish(self.d, [carol, dave])

    def test_page_mode_from_a_stranger_403(self):
        dave = self.member("dave")
        chatsip.wait_participants(self.d, 1)
        before = chatsip.conf_info(self.d)["messages"]
        page = self.member("mallory", scenario="chat_page_403.xml", ctype="text/plain",
                           text="let me in")
        self.assertEqual(page.wait(), 0, page.report())
        with chatsip.UA(self.d.port, user="eve", transport="tcp") as eve:
            r = eve.page(b"over tcp too")
            self.assertEqual(r.status, 403, eve.trace())
        self.assertEqual(chatsip.conf_info(self.d)["messages"], before)
        chatsip.finish(self.d, [dave])
        self.assertEqual([m.body for m in dave.received("MESSAGE")], [b"CHAT-LEAVE"],
                         dave.report())

    def test_page_mode_chatsip_same_from_uri(self):
        alice = self.ua("alice", '"Alice"')
        bob = self.ua("bob")
        chatsip.wait_participants(self.d, 2)
        r = alice.page(b"paged", "text/plain")
        self.assertEqual(r.status, 202, alice.trace())
        m = bob.wait_messages(1)[0]
        self.assertEqual(m.body, b"paged")
        self.check_in_dialog(m, bob.call_id, bob.local_tag, bob.remote_tag, bob.trace())
        # Another URI of the same user is someone else.
        r = alice.page(b"x", from_uri="sip:alice@127.0.0.2")
        self.assertEqual(r.status, 403, alice.trace())
        self.assertEqual(alice.requests(), [], alice.trace())


if __name__ == "__main__":
    sbtest.main()
