"""Conference chat: joining.  A phone's plain RTP/AVP offer is answered with
every stream a=inactive on a live port, a browser's WebRTC offer with every
m-line rejected (port 0, offered proto, one payload, a=mid echoed), an
INVITE without SDP gets an offer of one inactive audio stream (answer in
the ACK); re-INVITEs are answered the same way and a body-less UPDATE gets
200 without a body.  Unknown conference 404, full conference 486 with a
Warning, malformed SDP 488.  Real sipp peers over UDP and TCP."""
import chatsip
import sbtest

CONFIG = chatsip.conf_section() + chatsip.conf_section("conf-small", max_participants=1)


def offered(sdp_text):
    """[(media, [formats])] of an offer."""
    return [(m.split()[0][2:], m.split()[3:]) for m, _ in chatsip.m_sections(sdp_text)]


class Join(chatsip.ChatCase):
    CONFIG = CONFIG

    def run_sipp(self, scenario, conf="conf-100", transport="u1", user="phone"):
        s = chatsip.member(self.d, user, scenario=scenario, conf=conf, transport=transport,
                           timeout=15)
        rc = s.wait()
        self.assertEqual(rc, 0, "%s over %s failed:\n%s\n---- daemon log ----\n%s"
                         % (scenario, transport, s.report(), self.d.log()[-3000:]))
        return s

    def exchanges(self, s, method="INVITE"):
        """[(request sent, its 2xx)] for every @method the sipp sent."""
        msgs = s.messages()
        out = []
        for i, (dirn, m) in enumerate(msgs):
            if dirn == "sent" and m.method == method:
                for dirn2, r in msgs[i + 1:]:
                    if dirn2 == "received" and r.status and r.status >= 200 \
                            and r.hdr("cseq") == m.hdr("cseq"):
                        out.append((m, r))
                        break
        return out

    def check_session_part(self, sdp, trace):
        lines = chatsip.sdp_lines(sdp)
        self.assertEqual(lines[0], "v=0", trace)
        self.assertTrue(any(l.startswith("o=") for l in lines), trace)
        self.assertTrue(any(l.startswith("s=") for l in lines), trace)
        # A session-level c= (before the first m=): complete even when
        # every m-line is rejected.
        first_m = next(i for i, l in enumerate(lines) if l.startswith("m="))
        self.assertTrue(any(l.startswith("c=IN IP4 ") for l in lines[:first_m]), trace)
        self.assertIn("t=0 0", lines, trace)

    def check_plain_answer(self, offer, answer, trace):
        self.assertEqual(answer.hdr("content-type"), "application/sdp", trace)
        self.check_session_part(answer.body, trace)
        offer_ms = offered(offer.body)
        ans = chatsip.m_sections(answer.body)
        self.assertEqual(len(ans), len(offer_ms), "one answer m-line per offered one\n" + trace)
        session_inactive = "a=inactive" in chatsip.sdp_lines(answer.body)[:5]
        for (media, fmts), (mline, attrs) in zip(offer_ms, ans):
            f = mline.split()
            self.assertEqual(f[0], "m=" + media, trace)
            self.assertNotEqual(f[1], "0", "stream %s rejected\n%s" % (media, trace))
            self.assertEqual(f[2], "RTP/AVP", trace)
            self.assertEqual(len(f), 4, "one payload type per stream: %s\n%s" % (mline, trace))
            self.assertIn(f[3], fmts, "an offered payload type\n" + trace)
            self.assertTrue("a=inactive" in attrs or session_inactive,
                            "%s is not inactive\n%s" % (mline, trace))
            for a in attrs:
                self.assertFalse(a.startswith(("a=sendrecv", "a=sendonly", "a=recvonly")), trace)

    def check_webrtc_answer(self, offer, answer, trace):
        self.check_session_part(answer.body, trace)
        offer_ms = chatsip.m_sections(offer.body)
        ans = chatsip.m_sections(answer.body)
        self.assertEqual(len(ans), len(offer_ms), "one answer m-line per offered one\n" + trace)
        for (omline, oattrs), (mline, attrs) in zip(offer_ms, ans):
            o, f = omline.split(), mline.split()
            self.assertEqual(f[0], o[0], trace)
            self.assertEqual(f[1], "0", "WebRTC m-line not rejected: %s\n%s" % (mline, trace))
            self.assertEqual(f[2], o[2], "offered proto kept\n" + trace)
            self.assertEqual(len(f), 4, "one payload type: %s\n%s" % (mline, trace))
            self.assertIn(f[3], o[3:], trace)
            mid = [a for a in oattrs if a.startswith("a=mid:")]
            self.assertEqual([a for a in attrs if a.startswith("a=mid:")], mid,
                             "a=mid echoed\n" + trace)
        for l in chatsip.sdp_lines(answer.body):
            self.assertFalse(l.startswith(("a=fingerprint", "a=ice-", "a=group:", "a=candidate",
                                           "a=setup")),
                             "no DTLS/ICE/BUNDLE in the answer: %s\n%s" % (l, trace))

    # -- tests -----------------------------------------------------------

    def plain(self, transport):
        s = self.run_sipp("chat_join_plain.xml", transport=transport)
        trace = s.report()
        ex = self.exchanges(s)
        self.assertEqual(len(ex), 2, trace)
        for offer, ok in ex:
            self.assertEqual(ok.status, 200, trace)
            self.check_plain_answer(offer, ok, trace)
        # The re-INVITE's answer is the same session, same streams.
        o1 = [l for l in chatsip.sdp_lines(ex[0][1].body) if l.startswith("o=")][0].split()
        o2 = [l for l in chatsip.sdp_lines(ex[1][1].body) if l.startswith("o=")][0].split()
        self.assertEqual(o1[1], o2[1], "o= sess-id kept over the re-INVITE\n" + trace)
        self.assertEqual(chatsip.m_sections(ex[0][1].body), chatsip.m_sections(ex[1][1].body),
                         trace)
        upd = self.exchanges(s, "UPDATE")
        self.assertEqual(len(upd), 1, trace)
        self.assertEqual(upd[0][1].status, 200, trace)
        self.assertEqual(upd[0][1].body, b"", "200 to a body-less UPDATE has no body\n" + trace)
        self.assertIsNone(upd[0][1].hdr("content-type"), trace)

    def test_plain_offer_inactive_streams_udp(self):
        self.plain("u1")

    def test_plain_offer_inactive_streams_tcp(self):
        self.plain("t1")

    def test_webrtc_offer_every_mline_port_zero(self):
        s = self.run_sipp("chat_join_webrtc.xml")
        trace = s.report()
        ex = self.exchanges(s)
        self.assertEqual(len(ex), 2, trace)
        for offer, ok in ex:
            self.assertEqual(ok.status, 200, trace)
            self.check_webrtc_answer(offer, ok, trace)
        upd = self.exchanges(s, "UPDATE")
        self.assertEqual([r.status for _, r in upd], [200], trace)
        self.assertEqual(upd[0][1].body, b"", trace)

    def test_webrtc_offer_one_mline_as_chromium(self):
        """The exact offer of browser-clients.md section 1, over TCP."""
        with chatsip.UA(self.d.port, transport="tcp", user="webuser",
                        display='"Web User"') as ua:
            r = ua.invite("conf-100", sdp=chatsip.WEBRTC_SDP)
            self.assertEqual(r.status, 200, ua.trace())
            ans = chatsip.m_sections(r.body)
            self.assertEqual(len(ans), 1, ua.trace())
            self.assertEqual(ans[0][0].split()[:3], ["m=audio", "0", "UDP/TLS/RTP/SAVPF"])
            self.assertEqual(len(ans[0][0].split()), 4, ua.trace())
            self.assertIn("a=mid:0", ans[0][1], ua.trace())
            self.assertEqual(ua.bye().status, 200, ua.trace())

    def test_invite_without_sdp_gets_an_offer(self):
        s = self.run_sipp("chat_join_nosdp.xml")
        trace = s.report()
        ex = self.exchanges(s)
        self.assertEqual(len(ex), 2, trace)
        for invite, ok in ex:
            self.assertEqual(invite.body, b"", trace)
            self.assertEqual(ok.status, 200, trace)
            self.assertEqual(ok.hdr("content-type"), "application/sdp", trace)
            self.check_session_part(ok.body, trace)
            ms = chatsip.m_sections(ok.body)
            self.assertEqual(len(ms), 1, "one audio stream offered\n" + trace)
            f = ms[0][0].split()
            self.assertEqual(f[0], "m=audio", trace)
            self.assertNotEqual(f[1], "0", trace)
            self.assertEqual(f[2], "RTP/AVP", trace)
            self.assertIn("a=inactive", ms[0][1], trace)
        acks = s.sent("ACK")
        self.assertEqual(len(acks), 2, trace)
        self.assertTrue(all(b"m=audio" in a.body for a in acks), trace)
        upd = self.exchanges(s, "UPDATE")
        self.assertEqual([(r.status, r.body) for _, r in upd], [(200, b"")], trace)

    def test_joined_participant_listed_then_gone(self):
        with chatsip.UA(self.d.port, user="lister", display='"Lister"') as ua:
            self.assertEqual(ua.invite("conf-100").status, 200, ua.trace())
            info = chatsip.wait_participants(self.d, 1)
            p = info["participant_list"][0]
            self.assertEqual(p["display_name"], "Lister")
            self.assertEqual(p["uri"], "sip:lister@127.0.0.1")
            self.assertEqual(ua.bye().status, 200, ua.trace())
            chatsip.wait_participants(self.d, 0)

    def test_browser_session_expires_90_accepted(self):
        """JsSIP asks for Session-Expires: 90; nua's default Min-SE of 120
        would answer 422.  The 200 carries the interval (RFC 4028)."""
        ua = chatsip.UA(self.d.port, user="web", display='"Web User"')
        try:
            r = ua.invite("conf-100", extra=("Session-Expires: 90", "Supported: timer"))
            self.assertEqual(r.status, 200, ua.trace())
            se = r.hdr("session-expires") or ""
            self.assertTrue(se.startswith("90"), "Session-Expires in the 200: %r" % se)
            self.assertEqual(ua.bye().status, 200)
        finally:
            ua.close()

    def test_unknown_conference_404(self):
        self.run_sipp("chat_join_404.xml", conf="conf-999")
        self.run_sipp("chat_join_404.xml", conf="conf-999", transport="t1")

    def test_full_conference_486_with_warning(self):
        with chatsip.UA(self.d.port, user="first") as ua:
            self.assertEqual(ua.invite("conf-small").status, 200, ua.trace())
            chatsip.wait_participants(self.d, 1, "conf-small")
            s = self.run_sipp("chat_join_486.xml", conf="conf-small")
            r = s.received(status=486)[0]
            self.assertIn("conf-small", r.hdr("warning"), s.report())
            self.assertEqual(len(chatsip.conf_info(self.d, "conf-small")["participant_list"]), 1)
            # Room again once the first one leaves.
            self.assertEqual(ua.bye().status, 200, ua.trace())
        chatsip.wait_participants(self.d, 0, "conf-small")
        with chatsip.UA(self.d.port, user="second") as ua:
            self.assertEqual(ua.invite("conf-small").status, 200, ua.trace())
            self.assertEqual(ua.bye().status, 200, ua.trace())

    def test_malformed_sdp_in_reinvite_488_keeps_the_call(self):
        with chatsip.UA(self.d.port, user="re1") as a, chatsip.UA(self.d.port, user="re2") as b:
            self.assertEqual(a.invite("conf-100").status, 200, a.trace())
            self.assertEqual(b.invite("conf-100").status, 200, b.trace())
            chatsip.wait_participants(self.d, 2)
            r = b.reinvite("v=0\r\nnot a session description\r\n")
            self.assertEqual(r.status, 488, b.trace())
            info = chatsip.wait_participants(self.d, 2)
            self.assertTrue(all(p["state"] == "active" for p in info["participant_list"]), info)
            self.assertEqual(a.message(b"still here?").status, 202)
            self.assertEqual(b.wait_messages(1)[0].body, b"still here?")
            # and a good re-INVITE afterwards is answered as before
            r = b.reinvite(chatsip.PLAIN_SDP)
            self.assertEqual(r.status, 200, b.trace())
            self.assertIn("a=inactive", chatsip.sdp_lines(r.body), b.trace())
            self.assertEqual(a.bye().status, 200)
            self.assertEqual(b.bye().status, 200)
        chatsip.wait_participants(self.d, 0)

    def test_malformed_sdp_488(self):
        self.run_sipp("chat_join_488.xml")
        with chatsip.UA(self.d.port, user="nomline") as ua:
            r = ua.invite("conf-100", sdp="v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
            self.assertEqual(r.status, 488, "an offer without any m-line\n" + ua.trace())
        info = chatsip.conf_info(self.d)
        self.assertEqual(info["participant_list"], [], "a refused INVITE left a participant")


if __name__ == "__main__":
    sbtest.main()
