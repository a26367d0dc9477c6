"""A client that stops reading is dropped once its unsent output passes
max_output, and the daemon keeps answering everyone else meanwhile."""
import socket
import time
import sbtest


class SlowReader(sbtest.unittest.TestCase):
    def test_slow_reader_dropped_daemon_not_stalled(self):
        with sbtest.Daemon(control_extra="max_output=64K\n") as d:
            slow = d.client()
            slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            req = b'{"request":"status"}\n' * 200
            fast = d.client()
            sent = 0
            deadline = time.monotonic() + sbtest.bounded(20)
            dropped = False
            # Pipeline status requests and never read the replies.
            while time.monotonic() < deadline:
                try:
                    slow.sock.settimeout(0.5)
                    slow.send_raw(req)
                    sent += 200
                except (BrokenPipeError, ConnectionResetError):
                    dropped = True
                    break
                except socket.timeout:
                    pass
                # Another client is answered at once while this goes on.
                t0 = time.monotonic()
                self.assertEqual(fast.request({"request": "version"})["response"], "success")
                self.assertLess(time.monotonic() - t0, sbtest.bounded(2))
                if d.status()["control"]["dropped_slow"] >= 1:
                    dropped = True
                    break
            self.assertTrue(dropped, "slow client was never dropped after %d requests" % sent)
            d.wait_log("not reading its output")
            self.assertEqual(fast.request({"request": "status"})["response"], "success")
            fast.close()
            slow.close()


if __name__ == "__main__":
    sbtest.main()
