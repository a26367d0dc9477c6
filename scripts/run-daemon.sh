#!/bin/sh
# run-daemon.sh - install what is missing, build, and run sipbridged in the
# foreground with the shipped etc/sipbridge.conf (UDP and TCP on
# 127.0.0.1:5060, control socket /run/sipbridge/control.sock).  Ctrl-C stops.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh run
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIPBRIDGE_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)"
mkdir -p /run/sipbridge /var/lib/sipbridge
echo "run-daemon.sh: starting build/sipbridged; try: build/sipbridgectl status"
exec build/sipbridged -f -c etc/sipbridge.conf
