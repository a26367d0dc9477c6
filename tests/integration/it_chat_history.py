"""Conference chat: history.  With history=N a participant who joins late
receives the last N messages, oldest first, as they were relayed (display
name, Content-Type, body byte for byte).  With store=yes and a database
(PostgreSQL, table chat_messages) the history survives a restart of the
daemon.  history=0 replays nothing."""
import chatsip
import pgfixture
import sbtest

MESSAGES = [
    ('"Alice"', "text/plain;charset=UTF-8", "h\u00e9llo one".encode()),
    ('"My Name"', "application/x-myphone-confbridge-chat+json", b'{"msg":"two"}'),
    ('"Alice"', "text/plain", b"three \x00 with a NUL"),
    ('"Al \\"the\\" ice"', "text/plain;charset=ISO-8859-1", b"four caf\xe9"),
    ('"Alice"', "application/octet-stream", bytes(range(256))),
]


def check_replay(test, joiner, expected):
    got = joiner.wait_messages(len(expected), what="history replay")
    test.assertEqual(len(got), len(expected), joiner.trace())
    for m, (display, ctype, body) in zip(got, expected):
        test.assertEqual(chatsip.display_of(m.hdr("from")), display, joiner.trace())
        test.assertEqual(m.hdr("content-type"), ctype, joiner.trace())
        test.assertEqual(m.body, body, joiner.trace())
        test.assertEqual(m.hdr("call-id"), joiner.call_id)
        test.assertEqual(chatsip.tag_of(m.hdr("from")), joiner.remote_tag)


def send_all(test, d, sender, receiver, messages, conf="conf-100"):
    for i, (display, ctype, body) in enumerate(messages):
        test.assertEqual(sender.message(body, ctype, display=display).status, 202,
                         sender.trace())
        receiver.wait_messages(i + 1)


def stored_rows(pg):
    """Rows in chat_messages; "" while the daemon has not made the table
    yet (it does so through its queue, after connecting)."""
    try:
        return pg.psql("SELECT count(*) FROM chat_messages").strip()
    except pgfixture.PgError:
        return ""


class History(sbtest.unittest.TestCase):
    def test_late_joiner_gets_the_last_n(self):
        config = (chatsip.conf_section(history=3)
                  + chatsip.conf_section("conf-none", history=0))
        with sbtest.Daemon(extra=config) as d, \
                chatsip.UA(d.port, user="alice", display='"Alice"') as alice, \
                chatsip.UA(d.port, user="bob", transport="tcp") as bob, \
                chatsip.UA(d.port, user="carol", transport="tcp") as carol, \
                chatsip.UA(d.port, user="dave") as dave:
            self.assertEqual(alice.invite("conf-100").status, 200)
            self.assertEqual(bob.invite("conf-100").status, 200)
            chatsip.wait_participants(d, 2)
            send_all(self, d, alice, bob, MESSAGES)
            self.assertEqual(chatsip.conf_info(d)["history"], 3)
            self.assertEqual(carol.invite("conf-100").status, 200)
            check_replay(self, carol, MESSAGES[-3:])
            # Exactly those: nothing more comes.
            self.assertEqual(alice.message(b"live").status, 202)
            self.assertEqual([m.body for m in carol.wait_messages(4)][3:], [b"live"])
            self.assertEqual(len(bob.wait_messages(6)), 6)
            # The old participants got nothing replayed.
            self.assertEqual(len(alice.requests()), 0, alice.trace())
            # history=0: nothing for a late joiner.
            self.assertEqual(dave.invite("conf-none").status, 200)
            chatsip.wait_participants(d, 1, "conf-none")
            r = d.request({"request": "conference_send", "name": "conf-none", "body": "marker"})
            self.assertEqual(r["response"], "success", r)
            self.assertEqual([m.body for m in dave.wait_messages(1)], [b"marker"], dave.trace())
            for ua in (alice, bob, carol, dave):
                self.assertEqual(ua.bye().status, 200)

    def test_history_with_conference_send_and_sipp_joiner(self):
        config = chatsip.conf_section(history=1)
        with sbtest.Daemon(extra=config) as d:
            r = d.request({"request": "conference_send", "name": "conf-100", "body": "old",
                           "from": "Ops"})
            self.assertEqual(r["response"], "success", r)
            r = d.request({"request": "conference_send", "name": "conf-100", "body": "newest",
                           "from": "Ops", "content_type": "text/markdown"})
            self.assertEqual(r["response"], "success", r)
            s = chatsip.member(d, "late")
            try:
                m = s.wait_answered(1)[0]
                self.assertEqual(m.body, b"newest", s.report())
                self.assertEqual(m.hdr("content-type"), "text/markdown", s.report())
                self.assertEqual(chatsip.display_of(m.hdr("from")), '"Ops"', s.report())
                chatsip.finish(d, [s])
                self.assertEqual(len(s.received("MESSAGE")), 2, s.report())
            finally:
                s.kill()

    def test_stored_history_survives_restart(self):
        with pgfixture.PgServer() as pg:
            db = "[pg1]\ntype=database\nconninfo=%s\nretry_min=100\nretry_max=400\n" % pg.conninfo
            config = db + chatsip.conf_section(history=4, store="yes", database="pg1")

            def connected(d):
                return any(x["name"] == "pg1" and x["state"] == "connected"
                           for x in d.status()["databases"])

            with sbtest.Daemon(extra=config) as d, \
                    chatsip.UA(d.port, user="alice", display='"Alice"') as alice, \
                    chatsip.UA(d.port, user="bob") as bob:
                sbtest.wait_for(lambda: connected(d), 10, "pg1 connected")
                self.assertEqual(alice.invite("conf-100").status, 200)
                self.assertEqual(bob.invite("conf-100").status, 200)
                chatsip.wait_participants(d, 2)
                send_all(self, d, alice, bob, MESSAGES)
                sbtest.wait_for(lambda: stored_rows(pg) == "5", 10, "5 rows in chat_messages")
                rows = pg.psql("SELECT conference, content_type, length(body) FROM chat_messages "
                               "ORDER BY id").split()
                self.assertEqual(rows[0], "conf-100|text/plain;charset=UTF-8|%d"
                                 % len(MESSAGES[0][2]), rows)
                self.assertEqual(pg.psql("SELECT encode(body, 'hex') FROM chat_messages "
                                         "ORDER BY id OFFSET 2 LIMIT 1").strip(),
                                 MESSAGES[2][2].hex(), "NUL byte kept in the store")
                self.assertEqual(chatsip.conf_info(d)["store_dropped"], 0)
                alice.bye()
                bob.bye()
                chatsip.wait_participants(d, 0)
            # A new daemon process on the same database.
            with sbtest.Daemon(extra=config) as d2, \
                    chatsip.UA(d2.port, user="carol", transport="tcp") as carol:
                sbtest.wait_for(lambda: connected(d2), 10, "pg1 connected again")
                sbtest.wait_for(lambda: chatsip.conf_info(d2)["history"] == 4, 10,
                                "the stored history loaded:\n" + d2.log()[-1500:])
                self.assertEqual(carol.invite("conf-100").status, 200)
                check_replay(self, carol, MESSAGES[-4:])
                self.assertEqual(carol.bye().status, 200)
            # A smaller history loads only the newest.
            config2 = db + chatsip.conf_section(history=2, store="yes", database="pg1")
            with sbtest.Daemon(extra=config2) as d3, \
                    chatsip.UA(d3.port, user="dave") as dave:
                sbtest.wait_for(lambda: chatsip.conf_info(d3)["history"] == 2, 10,
                                "2 stored messages loaded")
                self.assertEqual(dave.invite("conf-100").status, 200)
                check_replay(self, dave, MESSAGES[-2:])
                self.assertEqual(dave.bye().status, 200)


if __name__ == "__main__":
    sbtest.main()
