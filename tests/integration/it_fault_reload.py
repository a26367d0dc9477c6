"""Fault: a reload storm.  100 SIGHUPs, one every 25 ms or so (each sent
once the previous one is reported done, so that the kernel cannot merge
two), while traffic flows:

- two sipp clients, one over UDP into conf-100 and one over TCP into
  conf-101, make calls one after the other: INVITE, ACK, an in-dialog
  MESSAGE (202), BYE; a chatsip UA in each conference receives every
  relayed MESSAGE;
- a SIP API call to a far end (faultrig.Uas) stays up through the storm and
  carries in-dialog MESSAGEs;
- control requests (status, state_set_device published to a PUBLISH peer).

Half-way the config file is replaced (atomically): log_level info ->
notice, conf-100's max_body 64K -> 2000, a new conference conf-200.

docs/config.md ("Reload"): a reload replaces the configuration whole and
applies it live; unchanged objects keep going (calls, participants, the
publish client with its Call-ID and ETag).  Expected: zero failed sipp
calls, every MESSAGE relayed once, the daemon alive and answering, 100
reloads logged and counted, none failed, the mid-storm changes in force at
the end, the API call and the participants still up.
"""
import os
import threading
import time
import unittest

import chatsip
import faultrig
import sbtest
from pubpair import publish_status
from pubpeer import body, outbound_conf
from sbtest import bounded, run_sipp, wait_for

STORM = 100
INTERVAL = 0.025

CALLER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="fault: join [conf], speak once, leave">
  <send retrans="500"><![CDATA[
INVITE sip:[conf]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Storm" <sip:storm[call_number]@[local_ip]>;tag=[pid]SIPpTag[call_number]
To: <sip:[conf]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:storm[call_number]@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=sipp 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=sendrecv
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Storm" <sip:storm[call_number]@[local_ip]>;tag=[pid]SIPpTag[call_number]
To: <sip:[conf]@[remote_ip]:[remote_port]>[peer_tag_param]
[routes]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
MESSAGE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Storm" <sip:storm[call_number]@[local_ip]>;tag=[pid]SIPpTag[call_number]
To: <sip:[conf]@[remote_ip]:[remote_port]>[peer_tag_param]
[routes]
Call-ID: [call_id]
CSeq: 2 MESSAGE
Max-Forwards: 70
Content-Type: text/plain
Content-Length: [len]

storm-[conf]-[batch]-[call_number]
]]></send>
  <recv response="202"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Storm" <sip:storm[call_number]@[local_ip]>;tag=[pid]SIPpTag[call_number]
To: <sip:[conf]@[remote_ip]:[remote_port]>[peer_tag_param]
[routes]
Call-ID: [call_id]
CSeq: 3 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
"""

SDP = ("v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       "t=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
STATES = ["INUSE", "BUSY", "RINGING", "ONHOLD", "NOT_INUSE"]
BATCH = 10


def ok(r):
    assert r.get("response") == "success", r
    return r["data"]


def conf(peer_port, changed=False):
    text = (chatsip.conf_section("conf-100", max_body="2000" if changed else "64K")
            + chatsip.conf_section("conf-101")
            + outbound_conf(peer_port, name="peer")
            + "[api]\ntype=api\nhandle_grace=30\n")
    if changed:
        text += chatsip.conf_section("conf-200", history=5)
    return text


class ReloadStorm(unittest.TestCase):
    def test_100_sighups_while_traffic_flows(self):
        peer = faultrig.PortPeer()
        self.addCleanup(peer.close)
        d = sbtest.Daemon(extra=conf(peer.port), log_level="info")
        self.addCleanup(d.cleanup)
        caller = faultrig.write_scenario(d, "storm_caller.xml", CALLER)

        # -- before the storm: listeners, the API call, a watcher --
        lis = {"conf-100": chatsip.UA(d.port, user="lis100"),
               "conf-101": chatsip.UA(d.port, user="lis101", transport="tcp")}
        for name, ua in lis.items():
            self.addCleanup(ua.close)
            self.assertEqual(ua.invite(name).status, 200, ua.trace())
        far = faultrig.Uas()
        self.addCleanup(far.close)
        api = d.client()
        self.addCleanup(api.close)
        h = ok(api.request({"request": "create"}))["handle_id"]
        ok(api.request({"request": "register", "handle_id": h, "type": "guest",
                        "username": "sip:alice@127.0.0.1"}))
        ok(api.request({"request": "call", "handle_id": h, "call_id": "storm-api-1",
                        "uri": "sip:bob@127.0.0.1:%d" % far.port,
                        "jsep": {"type": "offer", "sdp": SDP}}))
        sbtest.handle_event(api, h, "accepted")
        far.wait("ACK")
        w = d.client()
        self.addCleanup(w.close)
        ok(w.request({"request": "watch", "topics": ["daemon"]}))

        # -- traffic --
        stop = threading.Event()
        results = []            # (conf, batch, returncode, stderr)
        problems = []
        state_sets = []

        def calls(conf_name, transport):
            batch = 0
            while not stop.is_set() and batch < 200:
                batch += 1
                r = run_sipp(caller, "127.0.0.1:%d" % d.port, transport, BATCH,
                             ["-key", "conf", conf_name, "-key", "batch", str(batch),
                              "-l", "1", "-r", "50"], timeout=30, cwd=d.dir)
                results.append((conf_name, batch, r.returncode, r.stdout[-2000:]
                                + r.stderr[-2000:]))

        def control():
            ctl = d.client()
            n = 0
            try:
                while not stop.is_set():
                    n += 1
                    st = ok(ctl.request({"request": "status"}))
                    if st["pid"] != d.proc.pid:
                        problems.append(("status", st))
                    s = STATES[n % len(STATES)]
                    ok(ctl.request({"request": "state_set_device", "device": "PJSIP/500",
                                    "state": s}))
                    state_sets.append(s)
                    if n % 10 == 0:
                        r = ok(api.request({"request": "message", "handle_id": h,
                                            "content": "api-%d" % n}))
                        if r["result"].get("event") != "messagesent":
                            problems.append(("message", r))
                        ev = sbtest.handle_event(api, h, "messagedelivery")
                        if ev["result"].get("code") != 200:
                            problems.append(("messagedelivery", ev))
                    time.sleep(0.01)
            except Exception as e:       # reported below, never lost
                problems.append(("control thread", repr(e)))
            finally:
                ctl.close()

        threads = [threading.Thread(target=calls, args=("conf-100", "u1")),
                   threading.Thread(target=calls, args=("conf-101", "t1")),
                   threading.Thread(target=control)]
        for t in threads:
            t.start()
        try:
            for ua in lis.values():
                ua.wait_messages(1, timeout=15, what="traffic flowing before the storm")

            # -- the storm --
            changed_at = None
            t_last = time.monotonic()
            for i in range(STORM):
                if i == STORM // 2:
                    tmp = d.conf + ".new"
                    with open(tmp, "w") as f:
                        f.write(d.config_text(conf(peer.port, changed=True),
                                              log_level="notice"))
                    os.replace(tmp, d.conf)
                    changed_at = i
                time.sleep(max(0.0, t_last + INTERVAL - time.monotonic()))
                t_last = time.monotonic()
                d.signal(1)          # SIGHUP
                ev = w.event(lambda m: m.get("topic") == "daemon")
                self.assertEqual(ev["result"]["event"], "reloaded",
                                 "reload %d: %s" % (i + 1, ev))
                self.assertTrue(d.alive(), "reload %d killed the daemon" % (i + 1))
            n_during = len(results)
        finally:
            stop.set()
            for t in threads:
                t.join(bounded(60))
        self.assertFalse(any(t.is_alive() for t in threads), "traffic threads hung")

        # -- what must hold --
        if os.environ.get("SB_VERBOSE"):
            sbtest.sys.stderr.write("storm: %d sipp batches (%d during), %d state sets, "
                                    "%d PUBLISHes accepted, %d API MESSAGEs\n"
                                    % (len(results), n_during, len(state_sets),
                                       len(peer.accepted), len(far.got("MESSAGE"))))
        self.assertEqual(problems, [])
        failed = [r for r in results if r[2] != 0]
        self.assertEqual(failed, [], "failed sipp batches:\n%s" % "\n".join(
            "%s batch %d rc %d\n%s" % r for r in failed))
        self.assertGreaterEqual(n_during, 2, "sipp batches finished during the storm")
        for name, ua in lis.items():
            want = {"storm-%s-%d-%d" % (name, b, n) for c, b, _, _ in results if c == name
                    for n in range(1, BATCH + 1)}
            ua.wait_messages(len(want), timeout=10, what="every relayed MESSAGE")
            time.sleep(0.2)
            got = [m.body.decode().strip() for m in ua.requests()]
            self.assertEqual(len(got), len(want), "%s: duplicates or extras" % name)
            self.assertEqual(set(got), want, name)
        st = d.status()
        self.assertEqual(st["counters"]["config"]["reloads"], STORM, st["counters"])
        self.assertEqual(st["counters"]["config"]["reload_failures"], 0, st["counters"])
        log = d.log()
        self.assertEqual(log.count("SIGHUP: reloading"), STORM)
        self.assertEqual(log.count("configuration reloaded from"), STORM)
        # The mid-storm config is the one in force.
        self.assertIsNotNone(changed_at)
        self.assertEqual(st["log_level"], "notice")
        names = {c["name"] for c in ok(d.request({"request": "conference_list"}))["conferences"]}
        self.assertEqual(names, {"conf-100", "conf-101", "conf-200"})
        r = lis["conf-100"].message(b"x" * 3000)
        self.assertEqual(r.status, 413, lis["conf-100"].trace())
        r = lis["conf-101"].message(b"y" * 3000)
        self.assertEqual(r.status, 202, "conf-101 keeps 64K")
        # Participants and the API call went through the storm untouched.
        for name in lis:
            chatsip.wait_participants(d, 1, name)
        self.assertEqual(far.got("BYE"), [])
        api_msgs = [m.body.decode() for m in far.got("MESSAGE")]
        self.assertEqual(api_msgs, ["api-%d" % n for n in range(10, 10 * (len(api_msgs) + 1), 10)])
        ok(api.request({"request": "hangup", "handle_id": h}))
        sbtest.handle_event(api, h, "hangup")
        far.wait("BYE")
        # The publish client kept going: the latest state, one Call-ID.
        self.assertTrue(state_sets)
        wait_for(lambda: peer.accepted and body(peer.accepted[-1]) and
                 body(peer.accepted[-1])["state"] == state_sets[-1]
                 and publish_status(d)["targets"][0]["queued"] == 0, 10,
                 "the last device state at the peer")
        self.assertEqual(len({m.hdr("call-id") for m in peer.accepted}), 1,
                         "the publish client was restarted by a reload")
        for ua in lis.values():
            self.assertEqual(ua.bye().status, 200)
        d.stop()

    def test_sighup_burst_without_pauses(self):
        """100 SIGHUPs back to back (the kernel may merge some: each one
        handled must be a whole reload) with the config changed just
        before: the daemon lives, answers, counts and logs the same number
        of reloads, none failed, and the new config is in force."""
        peer = faultrig.PortPeer()
        self.addCleanup(peer.close)
        d = sbtest.Daemon(extra=conf(peer.port), log_level="info")
        self.addCleanup(d.cleanup)
        ua = chatsip.UA(d.port, user="lis")
        self.addCleanup(ua.close)
        self.assertEqual(ua.invite("conf-100").status, 200)
        tmp = d.conf + ".new"
        with open(tmp, "w") as f:
            f.write(d.config_text(conf(peer.port, changed=True), log_level="notice"))
        os.replace(tmp, d.conf)
        for _ in range(STORM):
            d.signal(1)
        self.assertEqual(d.request({"request": "reload"})["response"], "success")
        st = d.status()
        n = st["counters"]["config"]["reloads"]
        self.assertGreaterEqual(n, 2, st["counters"])
        self.assertLessEqual(n, STORM + 1, st["counters"])
        self.assertEqual(st["counters"]["config"]["reload_failures"], 0, st["counters"])
        wait_for(lambda: d.log().count("configuration reloaded from") == n, 5,
                 "%d reloads logged" % n)
        self.assertEqual(d.log().count("SIGHUP: reloading"), n - 1)
        self.assertEqual(st["log_level"], "notice")
        names = {c["name"] for c in ok(d.request({"request": "conference_list"}))["conferences"]}
        self.assertEqual(names, {"conf-100", "conf-101", "conf-200"})
        self.assertEqual(ua.message(b"x" * 3000).status, 413)
        chatsip.wait_participants(d, 1)
        self.assertEqual(ua.bye().status, 200)
        d.stop()


if __name__ == "__main__":
    sbtest.main()
