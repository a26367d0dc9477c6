"""Conference chat: big bodies and HTML.  A 20 KiB body is relayed intact
between participants on TCP (sofia sends requests over 1300 bytes on TCP,
so these participants are on TCP explicitly); a body of exactly max_body
(64 KiB by default) goes through, one byte more gets 413.  With
sanitize_html=yes a text/html body arrives without attributes and
without <script>; other types and other conferences are left alone."""
import random

import chatsip
import sbtest

CONFIG = chatsip.conf_section() + chatsip.conf_section("conf-html", sanitize_html="yes")

HTML = (b'<p class="x" onclick="evil()">Hi <b style="color:red">there</b>'
        b'<script type="text/javascript">alert(1)</script>'
        b'<a href="javascript:steal()">link</a><img src=x onerror=alert(1)>'
        b'<br/><SCRIPT>document.cookie</SCRIPT></p>')
# What the rules of chat_text.h leave of it.
HTML_CLEAN = b"<p>Hi <b>there</b>link<br></p>"


class Large(chatsip.ChatCase):
    CONFIG = CONFIG

    def ua(self, user, conf="conf-100", transport="tcp"):
        ua = chatsip.UA(self.d.port, user=user, display='"%s"' % user.capitalize(),
                        transport=transport)
        self.uas.append(ua)
        self.assertEqual(ua.invite(conf).status, 200, ua.trace())
        return ua

    def test_20k_body_over_tcp_sipp(self):
        alice = chatsip.member(self.d, "alice", transport="t1")
        bob = chatsip.member(self.d, "bob", transport="t1")
        chatsip.wait_participants(self.d, 2)
        rnd = random.Random(20)
        text = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789 .,;:!?") for _ in range(20480))
        carol = chatsip.member(self.d, "carol", transport="t1", scenario="chat_speaker.xml",
                               ctype="text/plain;charset=UTF-8", text=text)
        try:
            for s in (alice, bob):
                m = s.wait_answered(1)[0]
                sent = carol.sent("MESSAGE")[0].body
                self.assertGreaterEqual(len(sent), 20480)
                self.assertEqual(len(m.body), len(sent), s.report()[:3000])
                self.assertEqual(m.body, sent, "20 KiB body changed on the way")
                self.assertEqual(m.hdr("content-type"), "text/plain;charset=UTF-8")
            self.assertEqual(carol.received(status=202)[0].status, 202)
            chatsip.finish(self.d, [alice, bob, carol])
        finally:
            for s in (alice, bob, carol):
                s.kill()

    def test_20k_binary_body_over_tcp(self):
        a = self.ua("a")
        b = self.ua("b")
        c = self.ua("c")
        chatsip.wait_participants(self.d, 3)
        body = bytes(random.Random(7).randrange(256) for _ in range(20 * 1024))
        r = a.message(body, "application/octet-stream")
        self.assertEqual(r.status, 202, a.trace(2))
        for ua in (b, c):
            m = ua.wait_messages(1)[0]
            self.assertEqual(len(m.body), len(body))
            self.assertEqual(m.body, body, "binary body changed")
        self.assertEqual(a.requests(), [])

    def test_max_body_boundary_64k_over_tcp(self):
        a = self.ua("a")
        b = self.ua("b")
        chatsip.wait_participants(self.d, 2)
        body = b"x" * (64 * 1024)
        r = a.message(body, timeout=15)
        self.assertEqual(r.status, 202, "a body of exactly max_body (64K)")
        self.assertEqual(b.wait_messages(1, timeout=15)[0].body, body)
        r = a.message(body + b"y", timeout=15)
        self.assertEqual(r.status, 413)
        r = a.message(b"after", timeout=15)
        self.assertEqual(r.status, 202)
        self.assertEqual([len(m.body) for m in b.wait_messages(2)], [65536, 5])

    def test_sanitize_html(self):
        a = self.ua("a", "conf-html", transport="udp")
        b = self.ua("b", "conf-html", transport="udp")
        chatsip.wait_participants(self.d, 2, "conf-html")
        self.assertEqual(a.message(HTML, "text/html").status, 202)
        m = b.wait_messages(1)[0]
        self.assertEqual(m.body, HTML_CLEAN, b.trace(2))
        self.assertEqual(m.hdr("content-type"), "text/html")
        # With parameters, and in upper case.
        self.assertEqual(a.message(b'<I onmouseover="x()">it</I>',
                                   "TEXT/HTML; charset=UTF-8").status, 202)
        m = b.wait_messages(2)[1]
        self.assertEqual(m.body, b"<i>it</i>", b.trace(2))
        # Only HTML is touched.
        self.assertEqual(a.message(b"<script>x</script>", "text/plain").status, 202)
        self.assertEqual(b.wait_messages(3)[2].body, b"<script>x</script>")
        # Page mode goes through the same filter.
        self.assertEqual(a.page(b'<b onclick="x">paged</b>', "text/html",
                                conf_user="conf-html").status, 202)
        self.assertEqual(b.wait_messages(4)[3].body, b"<b>paged</b>")
        self.assertEqual(a.requests(), [])

    def test_no_sanitize_by_default(self):
        a = self.ua("a", transport="udp")
        b = self.ua("b", transport="udp")
        chatsip.wait_participants(self.d, 2)
        self.assertEqual(a.message(HTML, "text/html").status, 202)
        self.assertEqual(b.wait_messages(1)[0].body, HTML)


if __name__ == "__main__":
    sbtest.main()
