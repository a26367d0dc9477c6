"""Database core inside the daemon: a type=database section connects on
start, shows in status, survives the server's death and comes back by
itself; a conninfo that would block the loop is a config error."""
import sbtest
import pgfixture


def db_state(d, name="pg1"):
    for db in d.status()["databases"]:
        if db["name"] == name:
            return db
    raise AssertionError("no database %s in status" % name)


class DaemonDatabase(sbtest.unittest.TestCase):
    def test_connects_reconnects_and_reports_status(self):
        with pgfixture.PgServer() as pg:
            extra = "[pg1]\ntype=database\nconninfo=%s\nretry_min=100\nretry_max=400\n" % pg.conninfo
            with sbtest.Daemon(extra=extra) as d:
                sbtest.wait_for(lambda: db_state(d)["state"] == "connected", 10, "pg1 connected")
                pg.kill()
                sbtest.wait_for(lambda: db_state(d)["state"] != "connected", 10, "pg1 to notice")
                # The daemon keeps serving everyone else meanwhile.
                self.assertEqual(d.sipp("options.xml").returncode, 0)
                attempts = db_state(d)["attempts"]
                sbtest.wait_for(lambda: db_state(d)["attempts"] > attempts, 10, "retries")
                pg.restart()
                sbtest.wait_for(lambda: db_state(d)["state"] == "connected", 15, "pg1 reconnected")
                d.wait_log("pg1")

    def test_reload_adds_and_removes_databases(self):
        with pgfixture.PgServer() as pg:
            with sbtest.Daemon() as d:
                self.assertEqual(d.status()["databases"], [])
                d.write_config(d.config_text() + "[pg1]\ntype=database\nconninfo=%s\n" % pg.conninfo)
                self.assertEqual(d.request({"request": "reload"})["response"], "success")
                sbtest.wait_for(lambda: db_state(d)["state"] == "connected", 10, "pg1 connected")
                d.write_config(d.config_text())
                self.assertEqual(d.request({"request": "reload"})["response"], "success")
                self.assertEqual(d.status()["databases"], [])

    def test_host_name_conninfo_is_config_error(self):
        with sbtest.Daemon(start=False) as d:
            d.write_config(d.config_text() + "[pg1]\ntype=database\nconninfo=host=db.example dbname=x\n")
            r = sbtest.subprocess.run([sbtest.DAEMON, "--check-config", "-c", d.conf],
                                      capture_output=True, text=True, timeout=sbtest.bounded(10))
            self.assertEqual(r.returncode, 1)
            self.assertIn("%s:" % d.conf, r.stderr)
            self.assertIn("[pg1] conninfo", r.stderr)
            self.assertIn("hostaddr", r.stderr)


if __name__ == "__main__":
    sbtest.main()
