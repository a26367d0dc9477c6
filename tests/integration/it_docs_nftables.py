"""The nftables recipe of docs/robustness.md (etc/sipbridge.nft) loads and
limits: in a network namespace of its own (unshare -n, so the host's
firewall is untouched), the file is loaded with nft, and a UDP flood from
an untrusted loopback address to port 5060 is cut to about its burst,
while the trusted address (127.0.0.1) passes whole.  Needs root (CI and
the README's test command run as root) and nft (scripts/deps.sh).
"""
import os
import subprocess
import sys
import unittest

import sbtest

RECIPE = os.path.join(sbtest.SOURCE, "etc", "sipbridge.nft")

# Runs inside the namespace: count what a flood of N datagrams delivers.
FLOOD = r"""
import socket, sys, time
n = int(sys.argv[1])
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
rx.bind(("127.0.0.1", 5060))
rx.settimeout(0.5)
out = []
for src in sys.argv[2:]:
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind((src, 0))
    for i in range(n):
        tx.sendto(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\r\n", ("127.0.0.1", 5060))
    got = 0
    try:
        while True:
            rx.recv(2048)
            got += 1
    except socket.timeout:
        pass
    out.append("%s=%d" % (src, got))
print(" ".join(out))
"""


class NftRecipe(unittest.TestCase):
    def test_recipe_loads_and_limits_a_udp_flood(self):
        self.assertEqual(os.geteuid(), 0, "needs root for a network namespace")
        script = "ip link set lo up && nft -f %s && %s -c '%s' 3000 127.0.0.3 127.0.0.1" % (
            RECIPE, sys.executable, FLOOD.replace("'", "'\\''"))
        r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True,
                           text=True, timeout=sbtest.bounded(60))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        got = dict(kv.split("=") for kv in r.stdout.split())
        print("flood of 3000 datagrams: untrusted got %s, trusted got %s"
              % (got["127.0.0.3"], got["127.0.0.1"]))
        # The burst (800) and a little refill pass; the rest is dropped.
        self.assertGreaterEqual(int(got["127.0.0.3"]), 800)
        self.assertLess(int(got["127.0.0.3"]), 1600)
        self.assertEqual(int(got["127.0.0.1"]), 3000)


if __name__ == "__main__":
    sbtest.main()
