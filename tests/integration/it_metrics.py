"""Prometheus metrics ([metrics] type=metrics, docs/metrics.md).

One daemon with every capability configured (a conference, an inbound
publication, an outbound-publish target on a closed port, MWI on a
throwaway PostgreSQL with a Python proxy, the SIP API) and the endpoint on
a free loopback port.  The tests scrape it over HTTP and check that:
the families are exactly those docs/metrics.md lists, and `promtool check
metrics` (Prometheus's own linter) is clean; each family's values move
with real traffic (sipp OPTIONS, chat participants, PUBLISH in and out,
an MWI NOTIFY, the database killed and back, SIP API handles,
registrations and calls, control clients); the loop lag histogram fills;
HTTP errors; reload starts, moves and stops the endpoint; a non-loopback
or busy address is refused.  And a real Prometheus server scrapes it.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import chatsip
import pgfixture
import sbtest
from it_api_register import PASS, USER, Registrar, create, wait_event
from it_mwi_notify import KAM_SQL, Proxy, insert, kam_row, mwi_conf, notify, psql_file, wait_ready
from it_pubstate_inbound import UdpPeer, dev_body
from sbtest import bounded, free_port, wait_for

DOC = os.path.join(sbtest.SOURCE, "docs", "metrics.md")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

INBOUND = ("[instance2]\ntype=endpoint\n"
           "[instance2]\ntype=inbound-publication\nendpoint=instance2\n"
           "event_asterisk-devicestate=instance2\nevent_asterisk-mwi=instance2\n"
           "[instance2]\ntype=asterisk-publication\ndevice_state=yes\nmailbox_state=yes\n")
OUTBOUND = ("[peer]\ntype=outbound-publish\nserver_uri=sip:peer@127.0.0.1:9\n"
            "event=asterisk-devicestate\n")
SDP = ("v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       "t=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


def documented_families():
    """{name: type} from the table in docs/metrics.md."""
    fams = {}
    with open(DOC) as f:
        for line in f:
            m = re.match(r"\| `(sipbridge_[a-z_]+)` \| (counter|gauge|histogram) \|", line)
            if m:
                fams[m.group(1)] = m.group(2)
    return fams


class Scrape:
    """One exposition, parsed: families {name: type}, samples."""

    def __init__(self, text):
        self.text = text
        self.families = {}
        self.samples = {}
        for line in text.splitlines():
            m = re.match(r"# TYPE (\S+) (\S+)$", line)
            if m:
                self.families[m.group(1)] = m.group(2)
                continue
            if line.startswith("#") or not line:
                continue
            m = SAMPLE.match(line)
            assert m, "not a sample line: %r" % line
            labels = frozenset(LABEL.findall(m.group(2) or ""))
            self.samples[(m.group(1), labels)] = float(m.group(3))

    def value(self, name, default=None, **labels):
        return self.samples.get((name, frozenset((k, str(v)) for k, v in labels.items())),
                                default)


def get(port, path="/metrics", method="GET", data=None):
    """(status, headers, body) of one HTTP request to 127.0.0.1:PORT."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=data)
    try:
        with urllib.request.urlopen(req, timeout=bounded(5)) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def scrape(port):
    status, headers, body = get(port)
    assert status == 200, (status, body)
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8", headers
    return Scrape(body)


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except OSError:
        return True


class Metrics(sbtest.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pgfixture.PgServer()
        cls.pg.start()
        cls.proxy = None
        cls.d = None
        try:
            psql_file(cls.pg, KAM_SQL)
            cls.proxy = Proxy()
            cls.mport = free_port()
            cls.d = sbtest.Daemon(extra="\n".join([
                "[metrics]\ntype=metrics\nlisten=127.0.0.1:%d\n" % cls.mport,
                chatsip.conf_section(), INBOUND, OUTBOUND,
                mwi_conf(cls.pg, cls.proxy.port), "[api]\ntype=api\n"]))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.d is not None:
                cls.d.stop()
        finally:
            if cls.d is not None:
                cls.d.cleanup()
            if cls.proxy is not None:
                cls.proxy.close()
            cls.pg.stop()

    def setUp(self):
        self.pg.start()     # a test that killed it and failed midway

    def scrape(self):
        return scrape(self.mport)

    def wait_value(self, name, pred, what, timeout=10, **labels):
        def check():
            v = self.scrape().value(name, 0.0, **labels)
            return pred(v) and (v,)
        return wait_for(check, timeout, what)[0]

    # -- the families ---------------------------------------------------------

    def test_every_documented_family_and_promtool_clean(self):
        doc = documented_families()
        self.assertGreaterEqual(len(doc), 45, "the table in docs/metrics.md went missing")
        s = self.scrape()
        self.assertEqual(s.families, doc, "docs/metrics.md and the endpoint disagree")
        for name in doc:
            self.assertIn("# HELP %s " % name, s.text)
        p = subprocess.run(["promtool", "check", "metrics"], input=s.text, capture_output=True,
                           text=True, timeout=bounded(20))
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, "", ""), "promtool: " + s.text)
        self.assertEqual(s.value("sipbridge_build_info", version=self.version()), 1)
        started = s.value("sipbridge_start_time_seconds")
        self.assertLess(abs(started - time.time()), 600)

    def version(self):
        return self.d.request({"request": "version"})["data"]["version"]

    def test_promtool_fails_on_a_broken_exposition(self):
        """The lint above can fail: a counter without _total is reported."""
        bad = "# HELP sipbridge_x x\n# TYPE sipbridge_x counter\nsipbridge_x 1\n"
        p = subprocess.run(["promtool", "check", "metrics"], input=bad, capture_output=True,
                           text=True, timeout=bounded(20))
        self.assertIn("_total", p.stdout + p.stderr)

    # -- SIP --------------------------------------------------------------------

    def test_sip_requests_and_responses_by_method_and_code(self):
        before = self.scrape()
        r = self.d.sipp("options.xml", count=3)
        self.assertEqual(r.returncode, 0, r.stdout)
        with chatsip.UA(self.d.port) as ua:      # a MESSAGE nobody owns: 404
            r = ua.page("x", conf_user="nobody-here")
            self.assertEqual(r.status, 404, ua.trace())
        after = self.scrape()

        def delta(name, **labels):
            return after.value(name, 0.0, **labels) - before.value(name, 0.0, **labels)
        self.assertGreaterEqual(delta("sipbridge_sip_requests_received_total", method="OPTIONS"), 3)
        self.assertGreaterEqual(delta("sipbridge_sip_responses_sent_total", method="OPTIONS",
                                      code=200), 3)
        self.assertGreaterEqual(delta("sipbridge_sip_requests_received_total", method="MESSAGE"), 1)
        self.assertGreaterEqual(delta("sipbridge_sip_responses_sent_total", method="MESSAGE",
                                      code=404), 1)
        self.assertGreaterEqual(delta("sipbridge_sip_requests_refused_total", reason="not_found"), 1)
        self.assertEqual(delta("sipbridge_sip_responses_sent_total", method="OPTIONS", code=404), 0)
        for side in ("server", "client"):
            self.assertIsNotNone(after.value("sipbridge_sip_transactions", side=side))

    # -- conference ---------------------------------------------------------------

    def test_conference_participants_relays_and_dialogs(self):
        conf = "conf-100"
        before = self.scrape()
        with chatsip.UA(self.d.port, user="ann") as a, chatsip.UA(self.d.port, user="bob") as b:
            for ua in (a, b):
                self.assertEqual(ua.invite(conf).status, 200, ua.trace())
            s = self.scrape()
            self.assertEqual(s.value("sipbridge_conference_participants", conference=conf), 2)
            self.assertGreaterEqual(s.value("sipbridge_sip_dialogs"), 2)
            self.assertEqual(s.value("sipbridge_conferences"), 1)
            self.assertEqual(s.value("sipbridge_conference_joins_total", outcome="joined")
                             - before.value("sipbridge_conference_joins_total",
                                            outcome="joined"), 2)
            self.assertEqual(a.message("hello").status, 202, a.trace())
            b.wait_messages(1)
            s = self.scrape()
            for name in ("sipbridge_conference_messages_total",
                         "sipbridge_conference_relays_total"):
                self.assertEqual(s.value(name, conference=conf)
                                 - before.value(name, conference=conf), 1, name)
            for ua in (a, b):
                self.assertEqual(ua.bye().status, 200, ua.trace())
        self.wait_value("sipbridge_conference_participants", lambda v: v == 0,
                        "the participants to leave", conference=conf)

    # -- PUBLISH ------------------------------------------------------------------

    def test_publish_received_by_outcome_and_devices(self):
        before = self.scrape()
        peer = UdpPeer(self.d.port)
        self.addCleanup(peer.close)
        self.assertEqual(peer.publish(body=dev_body("PJSIP/metrics-1")).status, 200)
        self.assertEqual(peer.publish(body='{"type":"devicestate"}').status, 400)
        s = self.scrape()
        for outcome in ("ok", "bad_request"):
            self.assertEqual(s.value("sipbridge_publish_received_total", outcome=outcome)
                             - before.value("sipbridge_publish_received_total",
                                            outcome=outcome), 1, outcome)
        self.assertGreaterEqual(s.value("sipbridge_publish_devices"), 1)
        self.assertGreaterEqual(s.value("sipbridge_publish_publications"), 1)
        self.assertGreater(s.value("sipbridge_publish_states_applied_total"),
                           before.value("sipbridge_publish_states_applied_total"))

    def test_publish_sent_failures_backoff_and_queue_depth(self):
        """The target is a closed port: PUBLISHes fail, the target backs
        off, and state set meanwhile waits in its queue."""
        r = self.d.request({"request": "state_set_device", "device": "Custom:m1",
                            "state": "INUSE"})
        self.assertEqual(r["response"], "success", r)
        self.wait_value("sipbridge_publish_target_backoff", lambda v: v == 1,
                        "the target to back off", timeout=40, target="peer")
        self.assertGreaterEqual(self.scrape().value("sipbridge_publish_sent_total",
                                                    target="peer", outcome="failed"), 1)
        for i in range(3):
            r = self.d.request({"request": "state_set_device", "device": "Custom:q%d" % i,
                                "state": "BUSY"})
            self.assertEqual(r["response"], "success", r)
        self.assertGreaterEqual(self.scrape().value("sipbridge_publish_queue_depth",
                                                    target="peer"), 3)

    # -- MWI and the database -----------------------------------------------------

    def test_mwi_notify_and_database_state(self):
        kam = kam_row(user="2001")
        insert(self.pg, kam)
        wait_ready(self.d)
        before = self.scrape()
        self.assertEqual(before.value("sipbridge_mwi_database_up"), 1)
        self.assertEqual(before.value("sipbridge_database_up", database="pg"), 1)
        self.assertEqual(notify(self.d, user="2001")["response"], "success")
        n = self.wait_value("sipbridge_mwi_notifies_total",
                            lambda v: v > before.value("sipbridge_mwi_notifies_total",
                                                       outcome="ok"),
                            "the NOTIFY to be answered", outcome="ok")
        self.assertEqual(n - before.value("sipbridge_mwi_notifies_total", outcome="ok"), 1)
        s = self.scrape()
        self.assertGreater(s.value("sipbridge_mwi_lookups_total", outcome="ok"),
                           before.value("sipbridge_mwi_lookups_total", outcome="ok"))
        self.assertGreater(s.value("sipbridge_database_queries_completed_total", database="pg"),
                           before.value("sipbridge_database_queries_completed_total",
                                        database="pg"))
        self.assertGreaterEqual(s.value("sipbridge_sip_responses_received_total",
                                        method="NOTIFY", code=200), 1)

        self.pg.psql("CHECKPOINT")     # synchronous_commit=off: keep the row
        self.pg.kill()
        self.wait_value("sipbridge_database_up", lambda v: v == 0, "the database to be down",
                        database="pg")
        self.assertEqual(self.scrape().value("sipbridge_mwi_database_up"), 0)
        self.assertEqual(notify(self.d, user="2001", new=7)["response"], "success")
        self.wait_value("sipbridge_mwi_mailboxes_pending", lambda v: v >= 1,
                        "the mailbox to wait for the database")
        self.pg.start()
        self.wait_value("sipbridge_mwi_database_up", lambda v: v == 1, "the database back",
                        timeout=20)
        self.wait_value("sipbridge_mwi_notifies_total", lambda v: v > n,
                        "the waiting NOTIFY to be sent on recovery", outcome="ok", timeout=20)
        self.assertEqual(self.scrape().value("sipbridge_mwi_notifies_total", outcome="ok"),
                         n + 1, self.d.log()[-3000:])
        s = self.scrape()
        self.assertGreaterEqual(s.value("sipbridge_database_disconnects_total", database="pg"), 1)
        self.assertEqual(s.value("sipbridge_mwi_mailboxes_pending"), 0)

    # -- SIP API and control clients -----------------------------------------------

    def test_api_handles_registrations_calls_and_control_clients(self):
        before = self.scrape()
        c = self.d.client()
        self.addCleanup(c.close)
        s = self.scrape()
        self.assertGreaterEqual(s.value("sipbridge_control_clients"), 1)
        self.assertGreater(s.value("sipbridge_control_connections_total", outcome="accepted"),
                           before.value("sipbridge_control_connections_total",
                                        outcome="accepted"))
        h, _ = create(c)
        reg = Registrar(self.d.dir, name="metrics")
        self.addCleanup(reg.stop)
        r = c.request({"request": "register", "handle_id": h, "secret": PASS,
                       "username": "sip:%s@127.0.0.1:%d" % (USER, reg.port)})
        self.assertEqual(r["response"], "success", r)
        wait_event(c, "registered", h)
        s = self.scrape()
        self.assertEqual(s.value("sipbridge_api_handles") - before.value("sipbridge_api_handles"), 1)
        self.assertEqual(s.value("sipbridge_api_registrations"), 1)
        self.assertGreater(s.value("sipbridge_api_events_total"),
                           before.value("sipbridge_api_events_total"))
        self.assertGreaterEqual(s.value("sipbridge_sip_responses_received_total",
                                        method="REGISTER", code=401), 1)

        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # never answers
        silent.bind(("127.0.0.1", 0))
        self.addCleanup(silent.close)
        r = c.request({"request": "call", "handle_id": h, "jsep": {"type": "offer", "sdp": SDP},
                       "uri": "sip:bob@127.0.0.1:%d" % silent.getsockname()[1]})
        self.assertEqual(r["response"], "success", r)
        self.wait_value("sipbridge_api_calls", lambda v: v == 1, "the call to count")
        self.assertGreaterEqual(self.scrape().value("sipbridge_sip_requests_sent_total",
                                                    method="INVITE"), 1)
        self.assertEqual(c.request({"request": "destroy", "handle_id": h})["response"],
                         "success")
        s = self.wait_value("sipbridge_api_handles",
                            lambda v: v == before.value("sipbridge_api_handles"),
                            "the handle to go")
        s = self.scrape()
        self.assertEqual(s.value("sipbridge_api_calls"), 0)
        self.assertEqual(s.value("sipbridge_api_registrations"), 0)
        self.assertGreater(s.value("sipbridge_control_requests_total"),
                           before.value("sipbridge_control_requests_total"))

    def test_control_errors_counted(self):
        before = self.scrape().value("sipbridge_control_errors_total")
        c = self.d.client()
        self.addCleanup(c.close)
        c.send_raw(b"this is not json\n")
        self.assertEqual(c.read_line()["response"], "error")
        self.assertEqual(self.scrape().value("sipbridge_control_errors_total") - before, 1)

    # -- the loop ------------------------------------------------------------------

    def test_loop_lag_histogram_fills(self):
        n0 = self.scrape().value("sipbridge_loop_lag_seconds_count")
        s = self.wait_value("sipbridge_loop_lag_seconds_count", lambda v: v >= n0 + 2,
                            "two lag probes", timeout=10)
        s = self.scrape()
        count = s.value("sipbridge_loop_lag_seconds_count")
        self.assertEqual(s.value("sipbridge_loop_lag_seconds_bucket", le="+Inf"), count)
        self.assertLessEqual(s.value("sipbridge_loop_lag_seconds_bucket", le="0.001"),
                             s.value("sipbridge_loop_lag_seconds_bucket", le="5"))
        self.assertGreaterEqual(s.value("sipbridge_loop_lag_seconds_sum"), 0)
        self.assertGreater(s.value("sipbridge_sip_stack_wakeups_total"), 0)

    # -- HTTP ----------------------------------------------------------------------

    def test_http_paths_and_methods(self):
        status, _, body = get(self.mport, "/")
        self.assertEqual(status, 404)
        self.assertIn("/metrics", body)
        status, headers, _ = get(self.mport, method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET, HEAD")
        status, _, _ = get(self.mport, method="POST", data=b"x=1")
        self.assertEqual(status, 413)       # no request has a body
        status, headers, body = get(self.mport, method="HEAD")
        self.assertEqual((status, body), (200, ""))
        n = self.scrape().value("sipbridge_metrics_scrapes_total")
        self.assertEqual(self.scrape().value("sipbridge_metrics_scrapes_total"), n + 1)


class MetricsConfig(sbtest.unittest.TestCase):
    def daemon(self, extra, start=True):
        d = sbtest.Daemon(extra=extra, start=start)
        self.addCleanup(d.cleanup)
        return d

    def test_off_by_default(self):
        d = self.daemon("")
        self.assertNotIn("metrics", d.log())
        self.assertNotRegex(d.log(), r"Prometheus")

    def test_reload_starts_moves_and_stops_the_endpoint(self):
        d = self.daemon("")
        p1, p2 = free_port(), free_port()
        section = "[metrics]\ntype=metrics\nlisten=127.0.0.1:%d\n"
        d.write_config(d.config_text(section % p1))
        r = d.ctl("reload")
        self.assertEqual(r.returncode, 0, r)
        s = scrape(p1)
        self.assertEqual(s.value("sipbridge_config_reloads_total", outcome="ok"), 1)
        d.write_config(d.config_text(section % p2))
        d.signal(signal.SIGHUP)
        wait_for(lambda: not refused(p2), 5, "the endpoint on its new port")
        self.assertTrue(refused(p1), "the old port still answers")
        self.assertEqual(scrape(p2).value("sipbridge_config_reloads_total", outcome="ok"), 2)
        # A new address that cannot be bound: the old one keeps serving.
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        d.write_config(d.config_text(section % busy.getsockname()[1]))
        self.assertEqual(d.ctl("reload").returncode, 0)
        d.wait_log("cannot listen on 127.0.0.1:%d" % busy.getsockname()[1])
        self.assertEqual(scrape(p2).value("sipbridge_config_reloads_total", outcome="ok"), 3)
        d.write_config(d.config_text(""))
        self.assertEqual(d.ctl("reload").returncode, 0)
        wait_for(lambda: refused(p2), 5, "the endpoint to stop")
        self.assertIn("metrics endpoint stopped", d.log())
        self.assertEqual(d.stop(), 0)

    def test_ipv6_loopback(self):
        port = free_port(socket.AF_INET6, "::1")
        d = self.daemon("[metrics]\ntype=metrics\nlisten=[::1]:%d\n" % port)
        with urllib.request.urlopen("http://[::1]:%d/metrics" % port, timeout=bounded(5)) as r:
            self.assertIn("sipbridge_build_info", r.read().decode())
        self.assertIn("Prometheus metrics on http://[::1]:%d/metrics" % port, d.log())

    def check_config(self, extra):
        d = self.daemon(extra, start=False)
        return subprocess.run([sbtest.DAEMON, "--check-config", "-c", d.conf],
                              capture_output=True, text=True, timeout=bounded(10))

    def test_bad_config_is_refused(self):
        cases = [("listen=10.0.0.1:9464", "10.0.0.1 is not a loopback address"),
                 ("listen=0.0.0.0:9464", "0.0.0.0 is not a loopback address"),
                 ("listen=[::]:9464", ":: is not a loopback address"),
                 ("", "missing required key 'listen'"),
                 ("listen=127.0.0.1", "listen"),
                 ("listen=127.0.0.1:9464\nport=1", "key 'port': unknown key")]
        for body, why in cases:
            p = self.check_config("[metrics]\ntype=metrics\n%s\n" % body)
            self.assertEqual(p.returncode, 1, (body, p))
            self.assertIn(why, p.stderr, body)
        p = self.check_config("[m1]\ntype=metrics\nlisten=127.0.0.1:1\n"
                              "[m2]\ntype=metrics\nlisten=127.0.0.1:2\n")
        self.assertEqual(p.returncode, 1, p)

    def test_busy_address_at_start_fails_clearly(self):
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        port = busy.getsockname()[1]
        d = self.daemon("[metrics]\ntype=metrics\nlisten=127.0.0.1:%d\n" % port, start=False)
        with open(d.log_path, "wb") as logf:
            p = subprocess.run([sbtest.DAEMON, "-f", "-c", d.conf], stdout=logf,
                               stderr=subprocess.STDOUT, timeout=bounded(10))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("cannot listen on 127.0.0.1:%d: Address already in use" % port, d.log())


class RealPrometheus(sbtest.unittest.TestCase):
    """Prometheus 2 (Debian's package) scrapes the endpoint every second;
    its query API must show the daemon up and a sample of ours."""

    def test_prometheus_scrapes_the_endpoint(self):
        mport, pport = free_port(), free_port()
        d = sbtest.Daemon(extra="[metrics]\ntype=metrics\nlisten=127.0.0.1:%d\n" % mport)
        self.addCleanup(d.cleanup)
        tmp = tempfile.mkdtemp(prefix="sbprom-")
        self.addCleanup(shutil.rmtree, tmp, True)
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: sipbridge\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % mport)
        logf = open(os.path.join(tmp, "prometheus.log"), "wb")
        self.addCleanup(logf.close)
        prom = subprocess.Popen(
            ["prometheus", "--config.file", os.path.join(tmp, "prometheus.yml"),
             "--storage.tsdb.path", os.path.join(tmp, "data"),
             "--web.listen-address", "127.0.0.1:%d" % pport],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def stop():
            if prom.poll() is None:
                prom.terminate()
                try:
                    prom.wait(timeout=bounded(10))
                except subprocess.TimeoutExpired:
                    prom.kill()
                    prom.wait()
        self.addCleanup(stop)

        def query(q):
            if prom.poll() is not None:
                with open(os.path.join(tmp, "prometheus.log")) as f:
                    raise AssertionError("prometheus exited: " + f.read()[-2000:])
            url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (pport, urllib.parse.quote(q))
            try:
                with urllib.request.urlopen(url, timeout=bounded(5)) as r:
                    res = json.loads(r.read())["data"]["result"]
            except (OSError, ValueError):
                return None
            return float(res[0]["value"][1]) if res else None

        wait_for(lambda: query('up{job="sipbridge"}') == 1, 40, "Prometheus to scrape sipbridge")
        wait_for(lambda: query("sipbridge_build_info") == 1, 10, "sipbridge_build_info")
        self.assertEqual(query('sum(sipbridge_sip_requests_received_total)'), 0)
        r = d.sipp("options.xml", count=2)
        self.assertEqual(r.returncode, 0, r.stdout)
        wait_for(lambda: query('sipbridge_sip_requests_received_total{method="OPTIONS"}') == 2,
                 10, "Prometheus to see the two OPTIONS")
        self.assertGreater(query('scrape_samples_scraped{job="sipbridge"}'), 50)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    sbtest.main()
