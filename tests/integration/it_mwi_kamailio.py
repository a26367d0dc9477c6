"""MWI through a real Kamailio 5.6: a third-party message-summary NOTIFY
built from Kamailio's active_watchers row reaches a phone that subscribed
through Kamailio, and Kamailio's own later NOTIFY continues above its CSeq.

The rig (tests/integration/kamrig.py): PostgreSQL (pgfixture) with the
presence tables from the kamailio package; Kamailio edge proxy (record_route)
in front of a Kamailio presence server (presence + presence_mwi,
subs_db_mode=3); a sipp phone (sipp/mwi_phone.xml) subscribing to
sip:1000@example.com through the edge.

    test_acceptance_sipbridged_mwi_notify   THE ACCEPTANCE TEST: sipbridged's
        type=mwi capability sends the NOTIFY (control request mwi_notify).
    test_rig_crafted_notify                 the rig itself: the same NOTIFY,
        built here in Python from the row per mwi.md §2 and sent to the edge.

CSeq invariant (mwi.md §2, Kamailio DB-only mode): stored local_cseq = CSeq
of the last NOTIFY sent - 1.  A third party does UPDATE local_cseq+1
RETURNING and sends returned+1; so after Kamailio's initial NOTIFY (CSeq 1,
stored 0) the third-party NOTIFY carries CSeq stored+2 = 2, the row says 1,
and Kamailio's NOTIFY for the un-SUBSCRIBE carries 3.

Needs kamailio, kamailio-presence-modules, kamailio-postgres-modules and
postgresql (scripts/deps.sh test).  Everything on 127.0.0.1, free ports.
"""
import os
import re
import socket
import subprocess
import time
import uuid

import sbtest
import pgfixture
import kamrig
from sbtest import bounded, wait_for

USER, DOMAIN = "1000", "example.com"
PRESENTITY = "sip:%s@%s" % (USER, DOMAIN)
NEW, OLD = 2, 5
ROW_SQL = ("SELECT * FROM active_watchers WHERE presentity_uri = '%s' "
           "AND event = 'message-summary'" % PRESENTITY)


class Phone:
    """sipp/mwi_phone.xml in the background against the edge proxy."""

    def __init__(self, edge_port, workdir):
        self.dir = workdir
        self.msg_file = os.path.join(workdir, "phone_messages.log")
        self.log_file = os.path.join(workdir, "phone_logs.log")
        self.err_file = os.path.join(workdir, "phone_errors.log")
        self.out_path = os.path.join(workdir, "phone.out")
        self.port = sbtest.free_port()
        cmd = ["sipp", "-sf", os.path.join(sbtest.SIPP_DIR, "mwi_phone.xml"),
               "127.0.0.1:%d" % edge_port, "-i", "127.0.0.1", "-p", str(self.port),
               "-t", "u1", "-s", USER, "-m", "1", "-l", "1", "-nostdin",
               "-timeout", "%ds" % bounded(50), "-timeout_error",
               "-default_behaviors", "-bye",
               "-trace_msg", "-message_file", self.msg_file,
               "-trace_logs", "-log_file", self.log_file,
               "-trace_err", "-error_file", self.err_file]
        self.out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, cwd=workdir)

    @staticmethod
    def _read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def messages(self):
        """[(direction, text)] from sipp's -trace_msg file, in order."""
        out = []
        for block in re.split(r"\n-{20,}[^\n]*\n", "\n" + self._read(self.msg_file)):
            m = re.match(r"\s*(?:UDP )?message (received|sent)[^\n]*\n\n?(.*)", block, re.S)
            if m:
                out.append((m.group(1), m.group(2).strip("\n").replace("\r\n", "\n")))
        return out

    def received(self, method):
        return [t for d, t in self.messages() if d == "received" and t.startswith(method + " ")]

    def logs(self):
        return self._read(self.log_file)

    def logged_cseq(self, n):
        m = re.search(r"NOTIFY%d CSeq=(\d+)" % n, self.logs())
        return int(m.group(1)) if m else None

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=bounded(timeout))
        except subprocess.TimeoutExpired:
            raise AssertionError("the sipp phone did not finish within %ds" % bounded(timeout))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=bounded(5))
        self.out.close()

    def dump(self):
        return ("---- sipp phone: exit %s ----\n%s\n---- logs ----\n%s\n---- errors ----\n%s\n"
                "---- messages ----\n%s\n" % (self.proc.returncode, self._read(self.out_path),
                                              self.logs(), self._read(self.err_file),
                                              self._read(self.msg_file)))


def header(msg, name):
    m = re.search(r"^%s\s*:\s*(.*)$" % re.escape(name), msg, re.M | re.I)
    return m.group(1).strip() if m else None


def cseq_of(msg):
    return int(header(msg, "CSeq").split()[0])


def mwi_body(new, old):
    return ("Messages-Waiting: %s\r\nMessage-Account: %s\r\nVoice-Message: %d/%d\r\n"
            % ("yes" if new else "no", PRESENTITY, new, old))


def craft_notify(row, cseq, via_port, body):
    """A third-party NOTIFY from an active_watchers row, as Kamailio's
    ps_build_dlg_t() builds it (mwi.md §2)."""
    rr = row["record_route"] or ""
    ruri = row["contact"] or "sip:%s@%s" % (row["from_user"], row["from_domain"])
    lines = [
        "NOTIFY %s SIP/2.0" % ruri,
        "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport" % (via_port, uuid.uuid4().hex[:16]),
    ]
    if rr:
        lines.append("Route: %s" % rr)
    event = "message-summary" + (";id=%s" % row["event_id"] if row["event_id"] else "")
    lines += [
        "Max-Forwards: 70",
        "From: <sip:%s@%s>;tag=%s" % (row["to_user"], row["to_domain"], row["to_tag"]),
        "To: <sip:%s@%s>;tag=%s" % (row["from_user"], row["from_domain"], row["from_tag"]),
        "Call-ID: %s" % row["callid"],
        "CSeq: %d NOTIFY" % cseq,
        "Contact: <%s>" % row["local_contact"],
        "Event: %s" % event,
        "Subscription-State: active;expires=%d" % max(row["expires"] - int(time.time()), 0),
        "User-Agent: it_mwi_kamailio",
        "Content-Type: application/simple-message-summary",
        "Content-Length: %d" % len(body.encode()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


class UdpUac:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def transaction(self, data, port, timeout=8):
        """Send, retransmit per timer E (0.5 s doubling, 4 s cap) until a
        final response; return (final response text, provisionals)."""
        deadline = time.monotonic() + bounded(timeout)
        interval, provisional = 0.5, []
        self.sock.sendto(data, ("127.0.0.1", port))
        next_tx = time.monotonic() + interval
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, min(next_tx, deadline) - time.monotonic()))
            try:
                reply, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                if not provisional:
                    self.sock.sendto(data, ("127.0.0.1", port))
                interval = min(interval * 2, 4)
                next_tx = time.monotonic() + interval
                continue
            text = reply.decode(errors="replace")
            code = int(text.split(" ", 2)[1])
            if code >= 200:
                return text, provisional
            provisional.append(text)
        raise AssertionError("no final response to the NOTIFY within %ds" % bounded(timeout))

    def close(self):
        self.sock.close()


class MwiThroughKamailio(sbtest.unittest.TestCase):
    def setUp(self):
        if not kamrig.find_kamailio():
            self.fail("kamailio is not installed: sh scripts/deps.sh test")
        self.t0 = time.monotonic()
        self.pg = pgfixture.PgServer()
        self.addCleanup(self.pg.stop)
        self.pg.start()
        kamrig.load_kamailio_presence_schema(self.pg)
        self.kam = kamrig.Kamailio(self.pg)
        self.addCleanup(self.kam.cleanup)
        self.phone = Phone(self.kam.edge_port, self.kam.dir)
        self.addCleanup(self.phone.stop)

    def tearDown(self):
        # On failure (or SB_VERBOSE=1) show the phone's view and both
        # Kamailio logs; the cleanups stop everything afterwards.
        res = getattr(getattr(self, "_outcome", None), "result", None)
        failed = res is not None and any(t is self for t, _ in res.errors + res.failures)
        if failed or os.environ.get("SB_VERBOSE"):
            self.phone.stop()
            self.kam.stop()
            print(self.phone.dump() + self.kam.log(), file=sbtest.sys.stderr)

    # -- steps shared by both tests -------------------------------------

    def subscribed_row(self):
        """The phone's active_watchers row once Kamailio's initial NOTIFY
        was answered; checks what the rig is meant to produce."""
        def row():
            if self.phone.proc.poll() is not None:
                raise AssertionError("the phone exited early\n" + self.phone.dump())
            rows = kamrig.query(self.pg, ROW_SQL)
            return rows[0] if rows else None
        r = wait_for(row, 10, "the phone's active_watchers row")
        # Kamailio's initial NOTIFY (CSeq 1) answered by the phone: from
        # now on the next NOTIFY the phone gets is the third party's.
        wait_for(lambda: self.phone.logged_cseq(1) is not None, 10, "the initial NOTIFY")
        self.assertEqual(self.phone.logged_cseq(1), 1)
        r = kamrig.query(self.pg, ROW_SQL)[0]
        self.assertEqual(r["status"], 1, r)
        self.assertTrue(r["record_route"], "record_route is empty: %r" % r)
        self.assertIn("127.0.0.1:%d" % self.kam.edge_port, r["record_route"])
        self.assertIn(";lr", r["record_route"])
        self.assertEqual(r["local_cseq"], 0, r)       # the initial NOTIFY does not write it
        self.assertEqual(r["to_user"], USER)
        self.assertEqual(r["from_user"], USER)
        self.assertEqual(r["contact"], "sip:%s@127.0.0.1:%d" % (USER, self.phone.port))
        self.assertEqual(r["local_contact"], "sip:127.0.0.1:%d" % self.kam.pres_port)
        self.assertGreater(r["expires"], time.time())
        return r

    def check_third_party_notify(self, before, new, old):
        """The phone's second NOTIFY is the third party's, relayed by the
        edge: CSeq = local_cseq before + 2, the row now says before + 1."""
        wait_for(lambda: self.phone.logged_cseq(2) is not None, 10,
                 "the phone to receive the third-party NOTIFY")
        notifies = self.phone.received("NOTIFY")
        self.assertGreaterEqual(len(notifies), 2, notifies)
        n = notifies[1]
        self.assertEqual(cseq_of(n), before["local_cseq"] + 2, n)
        self.assertEqual(self.phone.logged_cseq(2), before["local_cseq"] + 2)
        self.assertEqual(header(n, "Call-ID"), before["callid"])
        self.assertIn("tag=%s" % before["to_tag"], header(n, "From"))
        self.assertIn("tag=%s" % before["from_tag"], header(n, "To"))
        self.assertEqual(header(n, "Event"), "message-summary")
        self.assertTrue(header(n, "Subscription-State").startswith("active"), n)
        self.assertEqual(header(n, "Content-Type"), "application/simple-message-summary")
        # The edge removed its own Route entry before relaying to the contact.
        self.assertIsNone(header(n, "Route"), n)
        self.assertTrue(n.startswith("NOTIFY %s SIP/2.0" % before["contact"]), n)
        self.assertIn("Messages-Waiting: yes", n)
        self.assertIn("Voice-Message: %d/%d" % (new, old), n)
        after = kamrig.query(self.pg, ROW_SQL)
        self.assertEqual(len(after), 1, after)
        self.assertEqual(after[0]["local_cseq"], before["local_cseq"] + 1, after)
        return cseq_of(n)

    def check_kamailio_continues(self, ours):
        """The phone un-SUBSCRIBEs; Kamailio's terminated NOTIFY has a CSeq
        above ours (the scenario checks it too) and the row is gone."""
        rc = self.phone.wait(20)
        self.assertEqual(rc, 0, "phone failed\n" + self.phone.dump())
        notifies = self.phone.received("NOTIFY")
        self.assertEqual(len(notifies), 3, notifies)
        last = notifies[2]
        self.assertGreater(cseq_of(last), ours, last)
        self.assertEqual(cseq_of(last), ours + 1, last)
        self.assertEqual(self.phone.logged_cseq(3), cseq_of(last))
        self.assertTrue(header(last, "Subscription-State").startswith("terminated"), last)
        # Kamailio deletes the row for the un-SUBSCRIBE.
        wait_for(lambda: kamrig.query(self.pg, ROW_SQL) == [], 5, "the row to go")
        self.assertLess(time.monotonic() - self.t0, 60)

    # -- the tests ------------------------------------------------------

    def test_rig_crafted_notify(self):
        """The rig on its own: a NOTIFY built here from the row is relayed by
        the edge to the phone, and the phone's 200 comes back to us."""
        row = self.subscribed_row()
        bumped = kamrig.query(self.pg, "UPDATE active_watchers SET local_cseq = local_cseq + 1 "
                                       "WHERE id = %d RETURNING local_cseq" % row["id"])
        cseq = bumped[0]["local_cseq"] + 1
        uac = UdpUac()
        self.addCleanup(uac.close)
        reply, _ = uac.transaction(craft_notify(row, cseq, uac.port, mwi_body(NEW, OLD)),
                                   self.kam.edge_port)
        self.assertTrue(reply.startswith("SIP/2.0 200 "), reply)
        self.assertEqual(cseq_of(reply), cseq)
        self.assertEqual(header(reply, "Call-ID"), row["callid"])
        ours = self.check_third_party_notify(row, NEW, OLD)
        self.assertEqual(ours, cseq)
        self.check_kamailio_continues(ours)

    def test_acceptance_sipbridged_mwi_notify(self):
        """ACCEPTANCE: sipbridged's type=mwi capability finds the row and
        sends the NOTIFY through the edge proxy."""
        row = self.subscribed_row()
        extra = ("[pg]\ntype=database\nconninfo=%s\n"
                 "[mwi]\ntype=mwi\ndatabase=pg\nproxy=sip:127.0.0.1:%d\n"
                 "context_domain=default:example.com\n" % (self.pg.conninfo, self.kam.edge_port))
        with sbtest.Daemon(extra=extra) as d:
            r = d.request({"request": "mwi_notify", "user": USER, "domain": DOMAIN,
                           "new": NEW, "old": OLD})
            self.assertEqual(r.get("response"), "success", r)
            ours = self.check_third_party_notify(row, NEW, OLD)
            self.check_kamailio_continues(ours)


if __name__ == "__main__":
    sbtest.main()
