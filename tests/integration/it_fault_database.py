"""Fault: PostgreSQL crashes (SIGKILL of the postmaster, no shutdown) and is
started again on the same port and data directory while sipbridged runs.

Nothing is lost as docs/mwi.md and docs/conference.md define it:
- MWI: while the database is down mwi_notify and local mailbox state keep
  answering (queued, coalesced); after the reconnect the LATEST counts of
  each mailbox go out, one NOTIFY per live watcher, each row's local_cseq
  advanced by exactly 1; the LISTEN channel is listened on again.
- Chat (store=yes): live relay never waits for the database; messages
  relayed during the outage are written to chat_messages on recovery, in
  order, each once; store_dropped stays 0.
- A daemon started while the database is down catches up when it comes:
  the table is created, stored history loaded, queued writes done.
- The connection breaks after the server committed a message's INSERT but
  before the answer came back (faultrig.PgRelay swallows it): the message
  is still stored once (the db core re-sends such a query, db.h).

One throwaway PostgreSQL (pgfixture) per test, with synchronous_commit on
so that a committed row survives the crash; a UDP proxy (faultrig) takes
the NOTIFYs; chatsip UAs are the conference participants.
"""
import os
import re
import time
import unittest

import chatsip
import faultrig
import kamrig
import pgfixture
import sbtest
from faultrig import mwi_body, sql_lit, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
KAM_SQL = os.path.join(HERE, "sql", "kamailio-active_watchers.sql")
DOMAIN = "example.com"


def config(pg, proxy_port):
    return ("[pg]\ntype=database\nconninfo=%s\nretry_min=100\nretry_max=500\n\n"
            "[mwi]\ntype=mwi\ndatabase=pg\nproxy=sip:127.0.0.1:%d\nvmexten=*97\n"
            "context_domain=default:%s\nlisten_channel=mwi\n\n"
            % (pg.conninfo, proxy_port, DOMAIN)
            + chatsip.conf_section(history=10, store="yes", database="pg"))


def insert(pg, row):
    cols = ", ".join(row)
    vals = ", ".join(sql_lit(v) for v in row.values())
    return kamrig.query(pg, "INSERT INTO active_watchers (%s) VALUES (%s) RETURNING *"
                        % (cols, vals))[0]


def cseq_of(pg, rid):
    return kamrig.query(pg, "SELECT local_cseq FROM active_watchers WHERE id = %d"
                        % rid)[0]["local_cseq"]


def mwi_status(d):
    r = d.request({"request": "mwi_status"})
    assert r["response"] == "success", r
    return r["data"]


def stored(pg):
    """[(conference, display_name, body)] of chat_messages in id order
    ([] before the daemon created the table)."""
    if not kamrig.query(pg, "SELECT to_regclass('chat_messages') AS t")[0]["t"]:
        return []
    rows = kamrig.query(pg, "SELECT conference, display_name, convert_from(body, 'UTF8') AS b "
                            "FROM chat_messages ORDER BY id")
    return [(r["conference"], r["display_name"], r["b"]) for r in rows]


def ok(r):
    assert r.get("response") == "success", r
    return r["data"]


class DatabaseCrash(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        faultrig.become_subreaper()

    def setUp(self):
        self.pg = pgfixture.PgServer()
        self.pg.start()
        self.addCleanup(self.pg.stop)
        faultrig.sync_commit(self.pg)
        kamrig.load_sql(self.pg, KAM_SQL)
        self.proxy = faultrig.NotifyProxy()
        self.addCleanup(self.proxy.close)

    def daemon(self, start=True):
        d = sbtest.Daemon(extra=config(self.pg, self.proxy.port), start=start)
        self.addCleanup(self.finish, d)
        return d

    def finish(self, d):
        res = getattr(self._outcome, "result", None)
        failed = res is not None and any(t is self for t, _ in res.failures + res.errors)
        try:
            if failed:
                sys_err = "---- daemon log (%s) ----\n%s\n" % (d.log_path, d.log())
                sbtest.sys.stderr.write(sys_err)
            if d.alive():
                rc = d.stop(check=False)
                self.assertEqual(rc, 0, "sipbridged exited %s on SIGTERM" % rc)
        finally:
            d.cleanup()

    def ua(self, d, user, **kw):
        u = chatsip.UA(d.port, user=user, **kw)
        self.addCleanup(u.close)
        return u

    def wait_connected(self, d, timeout=10):
        wait_for(lambda: faultrig.db_state(d, "pg")["state"] == "connected"
                 and mwi_status(d)["ready"], timeout, "database pg connected, mwi ready")

    def test_postmaster_sigkill_mwi_and_chat_catch_up(self):
        pg, proxy = self.pg, self.proxy
        a = insert(pg, faultrig.watcher_row("8001", cseq=10))
        b = insert(pg, faultrig.watcher_row("8001", cseq=40))
        c = insert(pg, faultrig.watcher_row("8002", cseq=5))
        d = self.daemon()
        self.wait_connected(d)
        alice = self.ua(d, "alice", display='"Alice"')
        bob = self.ua(d, "bob")
        self.assertEqual(alice.invite("conf-100").status, 200, alice.trace())
        self.assertEqual(bob.invite("conf-100").status, 200, bob.trace())
        chatsip.wait_participants(d, 2)
        # Before the crash: one stored message, one NOTIFY round.
        self.assertEqual(alice.message(b"before").status, 202)
        bob.wait_messages(1)
        wait_for(lambda: len(stored(pg)) == 1, 10, "the first message stored")
        ok(d.request({"request": "mwi_notify", "user": "8001", "domain": DOMAIN,
                      "new": 1, "old": 0}))
        proxy.settle(2, quiet=0.3)
        self.assertEqual((cseq_of(pg, a["id"]), cseq_of(pg, b["id"])), (11, 41))
        listening = d.log().count("listening on channel 'mwi'")
        self.assertEqual(listening, 1, d.log())

        # -- the crash --
        pm, kids = faultrig.pg_sigkill(pg)
        wait_for(lambda: faultrig.db_state(d, "pg")["state"] != "connected"
                 and not mwi_status(d)["database_connected"], 10,
                 "the daemon to see the database gone")
        # Meanwhile: MWI triggers (control and local mailbox state, each
        # mailbox several times) and chat messages.
        for new, old in ((2, 0), (5, 1), (3, 2)):
            r = ok(d.request({"request": "mwi_notify", "user": "8001", "domain": DOMAIN,
                              "new": new, "old": old}))
            self.assertTrue(r["queued"], r)
        for new, old in ((4, 1), (0, 6), (7, 1)):
            ok(d.request({"request": "state_set_mailbox", "mailbox": "8002@default",
                          "new": new, "old": old}))
        during = [b"during-1", b"during-2", "during-3 \u00e9".encode()]
        for i, body in enumerate(during):
            r = alice.message(body, "text/plain;charset=UTF-8")
            self.assertEqual(r.status, 202, alice.trace())
            bob.wait_messages(2 + i, what="live relay with the database down")
        self.assertEqual(chatsip.conf_info(d)["store_dropped"], 0)
        st = faultrig.db_state(d, "pg")
        self.assertIn(st["state"], ("backoff", "connecting"), st)
        self.assertGreaterEqual(st["disconnects"], 1, st)
        self.assertIsNotNone(st["last_error"], st)
        # Backoff visible: attempts go on while the server is away.
        attempts = st["attempts"]
        wait_for(lambda: faultrig.db_state(d, "pg")["attempts"] >= attempts + 2, 5,
                 "reconnect attempts while the database is down")
        self.assertRegex(d.log(), r"db: pg: .*queued, retrying in \d+ ms")
        self.assertEqual(len(proxy.notifies()), 2, "nothing can be sent without the table")
        self.assertTrue(d.alive())

        # -- recovery --
        pg.start()
        got = proxy.settle(2 + 3, timeout=15, quiet=1.0)[2:]
        by = {m.hdr("call-id"): m for m in got}
        self.assertEqual(sorted(by), sorted([a["callid"], b["callid"], c["callid"]]),
                         "\n---\n".join(m.text() for m in got))
        self.assertEqual(by[a["callid"]].body.decode(), mwi_body(3, 2))
        self.assertEqual(by[b["callid"]].body.decode(), mwi_body(3, 2))
        self.assertEqual(by[c["callid"]].body.decode(), mwi_body(7, 1))
        # One lookup per mailbox: each live row advanced by exactly one.
        self.assertEqual((cseq_of(pg, a["id"]), cseq_of(pg, b["id"]), cseq_of(pg, c["id"])),
                         (12, 42, 6))
        self.assertEqual(by[a["callid"]].hdr("cseq"), "13 NOTIFY")
        wait_for(lambda: len(stored(pg)) >= 4, 10, "the outage's messages stored")
        rows = stored(pg)
        self.assertEqual(rows, [("conf-100", "Alice", "before")]
                         + [("conf-100", "Alice", x.decode()) for x in during], rows)
        info = chatsip.conf_info(d)
        self.assertEqual(info["store_dropped"], 0, info)
        st = faultrig.db_state(d, "pg")
        self.assertEqual(st["state"], "connected", st)
        self.assertEqual(st["queued"], 0, st)
        self.assertEqual(st["failed"], 0, st)
        # LISTEN again on the new connection: a voicemail system's NOTIFY works.
        wait_for(lambda: d.log().count("listening on channel 'mwi'") == 2, 10,
                 "LISTEN mwi on the new connection")
        pg.psql("NOTIFY mwi, '8002@%s 9 9'" % DOMAIN)
        last = proxy.settle(6, quiet=0.5)[-1]
        self.assertEqual(last.body.decode(), mwi_body(9, 9))
        # A late joiner gets the whole history, nothing missing.
        carol = self.ua(d, "carol")
        self.assertEqual(carol.invite("conf-100").status, 200)
        self.assertEqual([m.body for m in carol.wait_messages(4)], [b"before"] + during)
        for u in (alice, bob, carol):
            self.assertEqual(u.bye().status, 200)

    def test_daemon_started_while_database_down(self):
        """The daemon starts while PostgreSQL is crashed: it starts anyway,
        answers, relays live, queues; when the server comes back the table
        is there, the stored history is loaded and the messages of the
        outage are written after it, once each; a mailbox changed meanwhile
        gets its latest counts."""
        pg, proxy = self.pg, self.proxy
        a = insert(pg, faultrig.watcher_row("8101", cseq=3))
        # An earlier life of the conference, already stored.
        d0 = self.daemon()
        self.wait_connected(d0)
        r = d0.request({"request": "conference_send", "name": "conf-100", "body": "old-1",
                        "from": "Ops"})
        ok(r)
        wait_for(lambda: len(stored(pg)) == 1, 10, "old-1 stored")
        d0.stop()
        faultrig.pg_sigkill(pg)
        d = self.daemon()
        st = faultrig.db_state(d, "pg")
        self.assertNotEqual(st["state"], "connected", st)
        alice = self.ua(d, "alice", display='"Alice"')
        bob = self.ua(d, "bob")
        self.assertEqual(alice.invite("conf-100").status, 200)
        self.assertEqual(bob.invite("conf-100").status, 200)
        chatsip.wait_participants(d, 2)
        self.assertEqual(alice.message(b"while-down").status, 202)
        self.assertEqual(bob.wait_messages(1)[-1].body, b"while-down")
        for new in (1, 2, 6):
            ok(d.request({"request": "mwi_notify", "user": "8101", "domain": DOMAIN,
                          "new": new, "old": 0}))
        self.assertEqual(proxy.notifies(), [])
        pg.start()
        self.wait_connected(d, timeout=15)
        got = proxy.settle(1, timeout=10)
        self.assertEqual(got[0].body.decode(), mwi_body(6, 0))
        self.assertEqual(got[0].hdr("call-id"), a["callid"])
        self.assertEqual(cseq_of(pg, a["id"]), 4)
        wait_for(lambda: len(stored(pg)) == 2, 10, "while-down stored")
        self.assertEqual(stored(pg), [("conf-100", "Ops", "old-1"),
                                      ("conf-100", "Alice", "while-down")])
        # The stored history came before what was relayed since the start.
        wait_for(lambda: chatsip.conf_info(d)["history"] == 2, 10, "history loaded")
        carol = self.ua(d, "carol")
        self.assertEqual(carol.invite("conf-100").status, 200)
        self.assertEqual([m.body for m in carol.wait_messages(2)], [b"old-1", b"while-down"])
        time.sleep(0.3)
        self.assertEqual(len(carol.requests()), 2, carol.trace())
        for u in (alice, bob, carol):
            self.assertEqual(u.bye().status, 200)

    def test_connection_lost_after_commit_stores_the_message_once(self):
        """The connection breaks after the server committed a message's
        INSERT but before its answer reached the daemon (a backend killed
        right after the commit, a reset connection).  docs/conference.md:
        every message is written to chat_messages; the db core re-sends a
        query whose answer was lost (db.h: at-least-once, for idempotent
        statements).  The history must still hold the message once: a
        late joiner and a restarted daemon replay it once."""
        pg = self.pg
        relay = faultrig.PgRelay(pg.port)
        self.addCleanup(relay.close)
        conninfo = "hostaddr=127.0.0.1 port=%d dbname=%s user=%s" % (relay.port, pg.dbname,
                                                                     pg.user)
        conf = ("[pg]\ntype=database\nconninfo=%s\nretry_min=100\nretry_max=500\n"
                % conninfo + chatsip.conf_section(history=10, store="yes", database="pg"))
        d = sbtest.Daemon(extra=conf)
        self.addCleanup(self.finish, d)
        wait_for(lambda: faultrig.db_state(d, "pg")["state"] == "connected", 10, "connected")
        alice = self.ua(d, "alice", display='"Alice"')
        bob = self.ua(d, "bob")
        self.assertEqual(alice.invite("conf-100").status, 200)
        self.assertEqual(bob.invite("conf-100").status, 200)
        chatsip.wait_participants(d, 2)
        self.assertEqual(alice.message(b"one").status, 202)
        wait_for(lambda: len(stored(pg)) == 1, 10, "one stored")
        # The Bind of the next chat_insert: forwarded, its answer swallowed.
        relay.arm(re.compile(rb"B.{4}\x00chat_insert\x00", re.S))
        self.assertEqual(alice.message(b"two").status, 202)
        self.assertTrue(relay.tripped.wait(sbtest.bounded(10)), "the INSERT never went out")
        wait_for(lambda: len(stored(pg)) == 2, 10, "two committed by the server")
        self.assertEqual(relay.cut(), 1)
        wait_for(lambda: faultrig.db_state(d, "pg")["disconnects"] >= 1
                 and faultrig.db_state(d, "pg")["state"] == "connected"
                 and faultrig.db_state(d, "pg")["queued"] == 0, 10,
                 "reconnected, queue empty")
        self.assertEqual(alice.message(b"three").status, 202)
        wait_for(lambda: [r[2] for r in stored(pg)][-1:] == ["three"], 10, "three stored")
        bodies = [r[2] for r in stored(pg)]
        self.assertEqual(bodies, ["one", "two", "three"],
                         "chat_messages after the lost answer (db: %s)"
                         % faultrig.db_state(d, "pg"))
        d.stop()
        d2 = sbtest.Daemon(extra=conf)
        self.addCleanup(self.finish, d2)
        wait_for(lambda: chatsip.conf_info(d2)["history"] >= 3, 10, "history loaded")
        carol = self.ua(d2, "carol")
        self.assertEqual(carol.invite("conf-100").status, 200)
        got = [m.body for m in carol.wait_messages(3)]
        time.sleep(0.3)
        got = [m.body for m in carol.requests()]
        self.assertEqual(got, [b"one", b"two", b"three"], carol.trace())
        self.assertEqual(carol.bye().status, 200)


if __name__ == "__main__":
    sbtest.main()
