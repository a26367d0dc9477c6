"""Control protocol: every bad input gets its error code, the connection
stays usable (or is closed, for an over-long line), and a second client is
served throughout."""
import socket
import sbtest


class ControlErrors(sbtest.DaemonCase):
    def setUp(self):
        self.c = self.d.client()
        self.other = self.d.client()

    def tearDown(self):
        # The daemon still serves a second client after every case.
        self.assertEqual(self.other.request({"request": "version"})["response"], "success")
        self.c.close()
        self.other.close()

    def test_bad_json_441_and_connection_stays(self):
        self.c.send_raw(b'{"request": "status", \n')
        r = self.c.read_line()
        self.assertEqual(r["response"], "error")
        self.assertEqual(r["error_code"], 441)
        self.assertIn("invalid JSON", r["error"])
        self.assertEqual(self.c.request({"request": "version"})["response"], "success")

    def test_non_object_441(self):
        self.c.send_raw(b'["status"]\n')
        self.assertEqual(self.c.read_line()["error_code"], 441)

    def test_invalid_utf8_441(self):
        self.c.send_raw(b'{"request": "st\xff\xfeatus"}\n')
        self.assertEqual(self.c.read_line()["error_code"], 441)

    def test_unknown_request_442_keeps_transaction(self):
        r = self.c.request({"request": "frobnicate", "transaction": "abc"})
        self.assertEqual((r["error_code"], r["transaction"]), (442, "abc"))
        self.assertIn("frobnicate", r["error"])

    def test_missing_request_443(self):
        r = self.c.request({"transaction": "x1"})
        self.assertEqual(r["error_code"], 443)
        self.assertIn("request", r["error"])

    def test_missing_field_443(self):
        r = self.c.request({"request": "debug"})
        self.assertEqual(r["error_code"], 443)
        self.assertIn("enable", r["error"])

    def test_wrong_type_444(self):
        self.assertEqual(self.c.request({"request": 7})["error_code"], 444)
        self.assertEqual(self.c.request({"request": "debug", "enable": "yes"})["error_code"], 444)
        self.assertEqual(self.c.request({"request": "watch", "topics": "log"})["error_code"], 444)

    def test_line_over_limit_460_then_closed(self):
        # 2 MiB without a newline: over the 1 MiB default limit.
        try:
            self.c.send_raw(b'{"request":"' + b"x" * (2 << 20))
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = self.c.read_line()
        self.assertIsNotNone(r, "no 460 reply before the close")
        self.assertEqual(r["error_code"], 460)
        try:
            self.assertIsNone(self.c.read_line(), "connection not closed after 460")
        except ConnectionResetError:
            pass

    def test_empty_lines_ignored(self):
        self.c.send_raw(b"\n\r\n\n")
        self.assertEqual(self.c.request({"request": "version"})["response"], "success")

    def test_one_reply_per_request_pipelined(self):
        lines = b"".join(b'{"request":"version","transaction":"p%d"}\n' % i for i in range(200))
        self.c.send_raw(lines)
        got = [self.c.read_line()["transaction"] for _ in range(200)]
        self.assertEqual(got, ["p%d" % i for i in range(200)])

    def test_errors_counted_in_status(self):
        before = self.d.status()["control"]["errors"]
        self.c.request({"request": "nope"})
        self.assertEqual(self.d.status()["control"]["errors"], before + 1)


if __name__ == "__main__":
    sbtest.main()
