"""Conference chat: the control API.  conference_list, conference_info
(participant_list with id, display_name, uri, joined_at, messages_sent,
failures), conference_send (delivered in-dialog to every participant with
the given display name and content type), conference_kick (BYE), events
joined/left/message on the "conference" topic, the chat counters in
status; the sipbridgectl conference commands when it has them."""
import json
import signal
import time

import chatsip
import sbtest

CONFIG = chatsip.conf_section() + chatsip.conf_section("conf-200", max_participants=5)


class Control(chatsip.ChatCase):
    CONFIG = CONFIG

    def ua(self, user, conf="conf-100", **kw):
        ua = chatsip.UA(self.d.port, user=user, display='"%s"' % user.capitalize(), **kw)
        self.uas.append(ua)
        self.assertEqual(ua.invite(conf).status, 200, ua.trace())
        return ua

    def member(self, user, **kw):
        s = chatsip.member(self.d, user, **kw)
        self.sipps.append(s)
        return s

    def req(self, **obj):
        return self.d.request(obj)

    def ok(self, **obj):
        r = self.req(**obj)
        self.assertEqual(r["response"], "success", r)
        return r["data"]

    def err(self, **obj):
        r = self.req(**obj)
        self.assertEqual(r["response"], "error", r)
        self.assertIn("error_code", r)
        return r

    # -- tests -----------------------------------------------------------

    def test_conference_list(self):
        data = self.ok(request="conference_list")
        confs = {c["name"]: c for c in data["conferences"]}
        self.assertEqual(set(confs), {"conf-100", "conf-200"}, data)
        self.assertEqual(confs["conf-100"]["user"], "conf-100")
        self.assertEqual(confs["conf-100"]["max_participants"], 50, "default 50")
        self.assertEqual(confs["conf-200"]["max_participants"], 5)
        self.assertEqual(confs["conf-200"]["participants"], 0)
        self.ua("alice", "conf-200")
        chatsip.wait_participants(self.d, 1, "conf-200")
        confs = {c["name"]: c for c in self.ok(request="conference_list")["conferences"]}
        self.assertEqual(confs["conf-200"]["participants"], 1)
        self.assertEqual(confs["conf-100"]["participants"], 0)

    def test_conference_info(self):
        t0 = time.time()
        alice = self.ua("alice")
        self.ua("bob", transport="tcp")
        chatsip.wait_participants(self.d, 2)
        self.assertEqual(alice.message(b"hi").status, 202)
        info = sbtest.wait_for(lambda: (lambda i: i if any(p["messages_sent"] == 1 for p in
                                                            i["participant_list"]) else None)
                               (chatsip.conf_info(self.d)), 5, "messages_sent counted")
        self.assertEqual(info["name"], "conf-100")
        self.assertEqual(info["participants"], 2)
        ps = {p["display_name"]: p for p in info["participant_list"]}
        self.assertEqual(set(ps), {"Alice", "Bob"}, info)
        for p in ps.values():
            for key in ("id", "display_name", "uri", "joined_at", "messages_sent", "failures"):
                self.assertIn(key, p, p)
            self.assertIsInstance(p["id"], int)
            self.assertTrue(t0 - 1 <= p["joined_at"] <= time.time() + 1, p)
            self.assertEqual(p["failures"], 0)
        self.assertNotEqual(ps["Alice"]["id"], ps["Bob"]["id"])
        self.assertEqual(ps["Alice"]["uri"], "sip:alice@127.0.0.1")
        self.assertEqual(ps["Alice"]["messages_sent"], 1)
        self.assertEqual(ps["Bob"]["messages_sent"], 0)
        # Errors
        self.err(request="conference_info", name="nope")
        self.err(request="conference_info")
        self.err(request="conference_info", name=42)

    def test_conference_send(self):
        alice = self.member("alice")
        bob = self.member("bob", transport="t1")
        chatsip.wait_participants(self.d, 2)
        data = self.ok(request="conference_send", name="conf-100", body="Server says h\u00e9llo",
                       **{"from": "Operator", "content_type": "text/plain;charset=UTF-8"})
        self.assertEqual(data.get("delivered_to"), 2, data)
        for s in (alice, bob):
            m = s.wait_answered(1)[0]
            call_id, our_tag, daemon_tag = s.dialog()
            self.assertEqual(m.hdr("call-id"), call_id, s.report())
            self.assertEqual(chatsip.tag_of(m.hdr("from")), daemon_tag, s.report())
            self.assertEqual(chatsip.display_of(m.hdr("from")), '"Operator"', s.report())
            self.assertEqual(m.hdr("content-type"), "text/plain;charset=UTF-8", s.report())
            self.assertEqual(m.body, "Server says h\u00e9llo".encode(), s.report())
        # Errors: no body, unknown conference, a content type that would
        # break the header.
        self.err(request="conference_send", name="conf-100")
        self.err(request="conference_send", name="conf-100", body="")
        self.err(request="conference_send", name="nope", body="x")
        self.err(request="conference_send", name="conf-100", body="x",
                 content_type="text/plain\r\nX-Evil: 1")
        self.err(request="conference_send", name="conf-100", body=5)
        chatsip.finish(self.d, [alice, bob])
        for s in (alice, bob):
            self.assertEqual(len(s.received("MESSAGE")), 2, "an erroneous send went out\n"
                             + s.report())

    def test_conference_kick(self):
        watch = self.d.client()
        watch.request({"request": "watch", "topics": ["conference"]})
        alice = self.member("alice")
        bob = self.member("bob")
        info = chatsip.wait_participants(self.d, 2)
        bob_id = [p["id"] for p in info["participant_list"] if p["display_name"] == "Bob"][0]
        data = self.ok(request="conference_kick", name="conf-100", id=bob_id)
        self.assertEqual(bob.wait(10), 0, bob.report())
        self.assertEqual(len(bob.received("BYE")), 1, bob.report())
        ev = watch.event(lambda m: m["result"].get("event") == "left")["result"]
        self.assertEqual(ev["id"], bob_id, ev)
        info = chatsip.wait_participants(self.d, 1)
        self.assertEqual(info["participant_list"][0]["display_name"], "Alice")
        self.err(request="conference_kick", name="conf-100", id=bob_id)
        self.err(request="conference_kick", name="conf-100", id=999999)
        self.err(request="conference_kick", name="conf-100", id="1")
        self.err(request="conference_kick", name="conf-100")
        watch.close()
        chatsip.finish(self.d, [alice])
        self.assertIsNotNone(data)

    def test_kick_while_a_relay_is_unanswered(self):
        """conference_kick takes the participant out of the conference at
        once, even when a relayed MESSAGE to it still waits for its answer.
        Its BYE follows when that one transaction ends: nua (1.12.11) sends a
        handle's non-INVITE requests one at a time, and the daemon hands it
        at most one relay per participant, so the BYE waits for no more.
        (Its own daemon: a failure leaves a participant behind for 32 s.)"""
        with sbtest.Daemon(extra=chatsip.conf_section()) as d, \
                chatsip.UA(d.port, user="mute", display='"Mute"', answer=None) as mute, \
                chatsip.UA(d.port, user="alice") as alice:
            self.assertEqual(mute.invite("conf-100").status, 200, mute.trace())
            self.assertEqual(alice.invite("conf-100").status, 200, alice.trace())
            info = chatsip.wait_participants(d, 2)
            mute_id = [p["id"] for p in info["participant_list"] if p["display_name"] == "Mute"][0]
            self.assertEqual(alice.message(b"are you there?").status, 202)
            mute.wait_messages(1)
            # More relays queue behind the unanswered one...
            for i in range(5):
                self.assertEqual(alice.message(b"more %d" % i).status, 202)
            r = d.request({"request": "conference_kick", "name": "conf-100", "id": mute_id})
            self.assertEqual(r["response"], "success", r)
            # ...out of the roster at once, and none of them is sent.
            info = chatsip.wait_participants(d, 1)
            self.assertNotIn(mute_id, [p["id"] for p in info["participant_list"]])
            # The late answer to the one relay nua holds lets the BYE go:
            # it does not wait for the five queued ones.
            pending = [m for m in mute.received if m.method == "MESSAGE"][0]
            with mute.lock:
                mute.answer = 200
                del mute.answered[(pending.branch, "MESSAGE")]  # answer its retransmission
            try:
                mute.wait_ended(timeout=sbtest.bounded(8))
            except AssertionError:
                self.fail("no BYE within 8 s of the pending relay's answer\n%s\n%s"
                          % (mute.trace(8), d.log()[-1500:]))
            self.assertEqual(len({m.branch for m in mute.received if m.method == "MESSAGE"}), 1,
                             mute.trace())
            self.assertEqual(alice.bye().status, 200)

    def test_watch_conference_events(self):
        watch = self.d.client()
        watch.request({"request": "watch", "topics": ["conference"]})
        alice = self.ua("alice")
        bob = self.ua("bob")
        chatsip.wait_participants(self.d, 2)
        self.assertEqual(alice.message(b'{"x":1}', "application/json").status, 202)
        self.assertEqual(bob.bye().status, 200)

        def next_ev():
            return watch.event(lambda m: m.get("topic") == "conference")["result"]
        evs = [next_ev() for _ in range(4)]
        self.assertEqual([e["event"] for e in evs], ["joined", "joined", "message", "left"], evs)
        for e in evs:
            self.assertEqual(e["conference"], "conf-100", e)
        self.assertEqual([e["display_name"] for e in evs[:2]], ["Alice", "Bob"], evs)
        self.assertEqual(evs[0]["uri"], "sip:alice@127.0.0.1")
        msg = evs[2]
        self.assertEqual(msg.get("body"), '{"x":1}', msg)
        self.assertEqual(msg.get("from"), "Alice", msg)
        self.assertEqual(msg.get("content_type"), "application/json", msg)
        self.assertEqual(msg.get("participant"), evs[0]["id"], msg)
        self.assertEqual(evs[3]["id"], evs[1]["id"], evs[3])
        # conference_send shows up as a message too, with no participant.
        self.ok(request="conference_send", name="conf-100", body="from ctl", **{"from": "Ops"})
        e = next_ev()
        self.assertEqual((e["event"], e.get("from"), e.get("body")), ("message", "Ops", "from ctl"))
        self.assertNotIn("participant", e)
        self.assertEqual(alice.wait_messages(1)[0].body, b"from ctl")
        watch.close()

    def test_status_counters(self):
        before = self.d.status()["capabilities"]["chat"]
        self.assertEqual(before["conferences"], 2, before)
        a = self.ua("alice")
        self.ua("bob")
        chatsip.wait_participants(self.d, 2)
        with chatsip.UA(self.d.port, user="bad") as bad:
            self.assertEqual(bad.invite("conf-100", sdp="v=0\r\nnot sdp\r\n").status, 488)
        self.assertEqual(a.message(b"x").status, 202)
        after = sbtest.wait_for(lambda: (lambda s: s if s["deliveries"] > before["deliveries"]
                                         else None)(self.d.status()["capabilities"]["chat"]),
                                5, "deliveries counted")
        self.assertEqual(after["participants"], 2, after)
        self.assertEqual(after["joins"], before["joins"] + 2, after)
        self.assertEqual(after["rejected"], before["rejected"] + 1, after)
        self.assertEqual(after["messages"], before["messages"] + 1, after)
        self.assertEqual(after["deliveries"], before["deliveries"] + 1, after)

    def test_reload_removing_a_conference_ends_its_calls(self):
        s = self.member("carol", conf="conf-200")
        chatsip.wait_participants(self.d, 1, "conf-200")
        self.d.write_config(self.d.config_text(chatsip.conf_section()))
        try:
            self.d.signal(signal.SIGHUP)
            self.assertEqual(s.wait(10), 0, s.report())
            self.assertEqual(len(s.received("BYE")), 1, s.report())
            names = [c["name"] for c in self.ok(request="conference_list")["conferences"]]
            self.assertEqual(names, ["conf-100"])
            with chatsip.UA(self.d.port, user="late") as late:
                self.assertEqual(late.invite("conf-200").status, 404, late.trace())
        finally:
            self.d.write_config(self.d.config_text(CONFIG))
            self.d.signal(signal.SIGHUP)
            sbtest.wait_for(lambda: len(self.ok(request="conference_list")["conferences"]) == 2,
                            5, "conf-200 back")

    def test_stop_while_a_removed_conference_still_ends_a_call(self):
        """A reload removes a conference; one of its participants has a
        relay unanswered, so its BYE waits (one MESSAGE at most).  Stopping
        the daemon then must end cleanly (exit 0, no crash, no leak)."""
        config = chatsip.conf_section() + chatsip.conf_section("conf-2")
        d = sbtest.Daemon(extra=config)
        mute = chatsip.UA(d.port, user="mute", answer=None)
        alice = chatsip.UA(d.port, user="alice")
        try:
            self.assertEqual(mute.invite("conf-2").status, 200, mute.trace())
            self.assertEqual(alice.invite("conf-2").status, 200, alice.trace())
            chatsip.wait_participants(d, 2, "conf-2")
            self.assertEqual(alice.message(b"anyone?").status, 202)
            mute.wait_messages(1)
            d.write_config(d.config_text(chatsip.conf_section()))
            d.signal(signal.SIGHUP)
            alice.wait_ended()
            sbtest.wait_for(lambda: [c["name"] for c in d.request(
                {"request": "conference_list"})["data"]["conferences"]] == ["conf-100"],
                5, "conf-2 gone from conference_list")
            self.assertFalse(mute.dialog_ended, "the BYE to mute should still wait")
            rc = d.stop(check=False)
            self.assertEqual(rc, 0, "sipbridged exited %s on SIGTERM:\n%s"
                             % (rc, d.log()[-4000:]))
        finally:
            mute.close()
            alice.close()
            d.cleanup()

    def test_cli(self):
        """A cross-check of the CLI over real SIP (it_cli_conference.py
        tests the CLI itself): what `conference send --from --type` sends
        is what a participant receives."""
        r = self.d.ctl("--json", "raw", json.dumps({"request": "conference_list"}))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("conf-100", r.stdout)
        helptext = self.d.ctl("--help").stdout
        if "conference" not in helptext:
            self.skipTest("sipbridgectl has no conference commands yet")
        s = self.member("alice")
        info = chatsip.wait_participants(self.d, 1)
        r = self.d.ctl("conference", "show", "conf-100")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sip:alice@127.0.0.1", r.stdout)
        r = self.d.ctl("conference", "send", "conf-100", "hello from the cli", "--from",
                       "Operator", "--type", "text/plain;charset=ISO-8859-1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("delivered to 1 participant", r.stdout)
        m = s.wait_answered(1)[0]
        self.assertEqual(m.body, b"hello from the cli", s.report())
        self.assertEqual(chatsip.display_of(m.hdr("from")), '"Operator"', s.report())
        self.assertEqual(m.hdr("content-type"), "text/plain;charset=ISO-8859-1", s.report())
        pid = info["participant_list"][0]["id"]
        r = self.d.ctl("conference", "kick", "conf-100", str(pid))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(s.wait(10), 0, s.report())
        self.assertEqual(len(s.received("BYE")), 1, s.report())
        r = self.d.ctl("conference", "kick", "conf-100", str(pid))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)


if __name__ == "__main__":
    sbtest.main()
