"""Fault: sipbridged itself is killed with SIGKILL (no shutdown at all) and
started again by the test on the same state_dir and config.

What must survive (docs/publish.md, docs/conference.md, docs/config.md):
- the generated entity id, kept in state_dir/entity_id (same id, source
  "file" after the restart);
- the persisted chat history (store=yes, PostgreSQL): replayed, in order,
  byte for byte, to a participant joining after the restart;
- the control socket path: the crash leaves a stale socket file behind,
  which the next start replaces.
What cannot survive (in memory by design) is checked to fail cleanly: a
MESSAGE in a dialog of the dead process gets 481, and the caller can
simply join again.
"""
import os
import socket
import unittest

import chatsip
import faultrig
import pgfixture
import sbtest
from pubpair import publish_status
from sbtest import bounded, wait_for

MESSAGES = [(b"first", "text/plain"), ("second \u00e9".encode(), "text/plain;charset=UTF-8"),
            (b"third \x00 nul", "application/octet-stream")]


def connected(d):
    return faultrig.db_state(d, "pg")["state"] == "connected"


def stored_count(pg):
    if not pg.psql("SELECT to_regclass('chat_messages') IS NOT NULL").strip() == "t":
        return 0
    return int(pg.psql("SELECT count(*) FROM chat_messages").strip())


class DaemonKilled(unittest.TestCase):
    def database(self):
        pg = pgfixture.PgServer()
        pg.start()
        self.addCleanup(pg.stop)
        faultrig.sync_commit(pg)
        return pg

    def sigkill(self, d):
        d.proc.kill()
        self.assertEqual(d.proc.wait(timeout=bounded(5)), -9)

    def test_sigkill_and_restart_keeps_entity_id_history_and_socket(self):
        pg = self.database()
        conf = ("[pg]\ntype=database\nconninfo=%s\nretry_min=100\nretry_max=500\n"
                % pg.conninfo + chatsip.conf_section(history=10, store="yes", database="pg"))
        d = sbtest.Daemon(extra=conf)
        self.addCleanup(d.cleanup)
        wait_for(lambda: connected(d), 10, "pg connected")
        st = publish_status(d)
        eid = st["entity_id"]
        self.assertEqual(st["entity_id_source"], "generated", st)
        with open(os.path.join(d.dir, "state", "entity_id")) as f:
            self.assertEqual(f.read().strip(), eid)
        alice = chatsip.UA(d.port, user="alice", display='"Alice"')
        self.addCleanup(alice.close)
        bob = chatsip.UA(d.port, user="bob")
        self.addCleanup(bob.close)
        self.assertEqual(alice.invite("conf-100").status, 200)
        self.assertEqual(bob.invite("conf-100").status, 200)
        chatsip.wait_participants(d, 2)
        for i, (body, ctype) in enumerate(MESSAGES):
            self.assertEqual(alice.message(body, ctype).status, 202)
            bob.wait_messages(i + 1)
        # 202 comes before the write: the history is what was written.
        wait_for(lambda: stored_count(pg) == 3, 10, "3 messages in chat_messages")

        # -- SIGKILL --
        self.sigkill(d)
        self.assertTrue(os.path.exists(d.sock_path), "the crash leaves the socket file")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with self.assertRaises(ConnectionRefusedError):
            s.connect(d.sock_path)
        s.close()

        # -- restart on the same config and state_dir --
        d.start()
        st = publish_status(d)
        self.assertEqual((st["entity_id"], st["entity_id_source"]), (eid, "file"), st)
        self.assertEqual(sorted(os.listdir(os.path.join(d.dir, "state"))), ["entity_id"],
                         "no temporary files left in state_dir")
        wait_for(lambda: connected(d), 10, "pg connected again")
        wait_for(lambda: chatsip.conf_info(d)["history"] == 3, 10, "stored history loaded")
        # The old dialogs died with the process: 481, and a clean re-join.
        r = alice.message(b"into the void")
        self.assertEqual(r.status, 481, alice.trace())
        carol = chatsip.UA(d.port, user="carol", transport="tcp")
        self.addCleanup(carol.close)
        self.assertEqual(carol.invite("conf-100").status, 200)
        got = carol.wait_messages(3, what="history replay after the crash")
        self.assertEqual([(m.body, m.hdr("content-type")) for m in got], MESSAGES,
                         carol.trace())
        self.assertEqual({chatsip.display_of(m.hdr("from")) for m in got}, {'"Alice"'})
        # Live again, and stored after the old ones.
        dave = chatsip.UA(d.port, user="dave")
        self.addCleanup(dave.close)
        self.assertEqual(dave.invite("conf-100").status, 200)
        dave.wait_messages(3)
        self.assertEqual(carol.message(b"fourth").status, 202)
        self.assertEqual(dave.wait_messages(4)[-1].body, b"fourth")
        wait_for(lambda: stored_count(pg) == 4, 10, "the fourth message stored")

        # -- a second SIGKILL, right after a start: nothing gets worse --
        self.sigkill(d)
        d.start()
        self.assertEqual(publish_status(d)["entity_id"], eid)
        wait_for(lambda: connected(d) and chatsip.conf_info(d)["history"] == 4, 10,
                 "history of 4 loaded")
        erin = chatsip.UA(d.port, user="erin")
        self.addCleanup(erin.close)
        self.assertEqual(erin.invite("conf-100").status, 200)
        self.assertEqual([m.body for m in erin.wait_messages(4)],
                         [m[0] for m in MESSAGES] + [b"fourth"], erin.trace())
        self.assertEqual(erin.bye().status, 200)
        self.assertEqual(int(pg.psql("SELECT count(*) FROM chat_messages").strip()), 4)
        d.stop()

    def test_sigkill_with_a_connected_client_and_configured_entity_id(self):
        """A configured entity_id wins after a crash too, and the control
        socket is replaced even when a client was connected at the crash."""
        d = sbtest.Daemon(global_extra="entity_id=02:00:5e:00:53:42\n")
        self.addCleanup(d.cleanup)
        c = d.client()
        self.addCleanup(c.close)
        self.assertEqual(c.request({"request": "watch", "topics": ["daemon"]})["response"],
                         "success")
        self.sigkill(d)
        self.assertIsNone(c.read_line(), "the control connection is closed by the crash")
        d.start()
        st = publish_status(d)
        self.assertEqual((st["entity_id"], st["entity_id_source"]),
                         ("02:00:5e:00:53:42", "config"), st)
        self.assertEqual(d.status()["pid"], d.proc.pid)
        d.stop()


if __name__ == "__main__":
    sbtest.main()
