"""watch/unwatch: daemon-wide events reach the clients watching their
topic, and only those."""
import signal
import sbtest


class Watch(sbtest.unittest.TestCase):
    def test_watch_receives_topic_events_only_when_watching(self):
        with sbtest.Daemon() as d:
            w = d.client()
            other = d.client()
            r = w.request({"request": "watch", "topics": ["daemon"]})
            self.assertEqual(r["data"]["topics"], ["daemon"])
            other.request({"request": "watch", "topics": ["mwi"]})
            d.signal(signal.SIGHUP)
            ev = w.event()
            self.assertEqual(ev["sipbridge"], "event")
            self.assertEqual(ev["topic"], "daemon")
            self.assertEqual(ev["result"]["event"], "reloaded")
            # The mwi watcher got nothing: its next line is its own reply.
            r = other.request({"request": "version"})
            self.assertEqual(other.pending, [])
            r = w.request({"request": "unwatch", "topics": ["daemon"]})
            self.assertEqual(r["data"]["topics"], [])
            d.signal(signal.SIGHUP)
            d.wait_log("reloaded", 5)
            w.request({"request": "version"})
            self.assertEqual(w.pending, [], "event delivered after unwatch")

    def test_watch_needs_topics(self):
        with sbtest.Daemon() as d:
            c = d.client()
            self.assertEqual(c.request({"request": "watch"})["error_code"], 443)
            self.assertEqual(c.request({"request": "watch", "topics": [""]})["error_code"], 444)

    def test_star_watches_everything(self):
        with sbtest.Daemon() as d:
            w = d.client()
            w.request({"request": "watch", "topics": ["*"]})
            d.signal(signal.SIGHUP)
            self.assertEqual(w.event()["topic"], "daemon")


if __name__ == "__main__":
    sbtest.main()
