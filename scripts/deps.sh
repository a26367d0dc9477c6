#!/bin/sh
# deps.sh [run|test] - install the Debian 12 packages sipbridge needs.
#
#   run   what building and running the daemon needs (no PostgreSQL server)
#   test  that plus the test tools: cmocka, sipp, PostgreSQL, systemd-analyze,
#         Kamailio with its presence and PostgreSQL modules (it_mwi_kamailio),
#         openssl (it_sip_tls makes its certificates), clang with libFuzzer
#         (tests/fuzz), valgrind (tests/valgrind) and nftables (the
#         recipe etc/sipbridge.nft is loaded in a test's own namespace),
#         groff and man-db (the man pages must render without warnings),
#         prometheus (promtool lints the metrics endpoint, and a real
#         Prometheus server scrapes it in it_metrics)
#
#   (run includes sipp, for the OPTIONS probe the README shows)
#
# Installs only what is missing, with apt-get when run as root; otherwise it
# names the missing packages and fails.
set -eu

RUN_PKGS="build-essential cmake pkg-config libsofia-sip-ua-dev libevent-dev
libjansson-dev libpq-dev libsystemd-dev sip-tester ca-certificates"
TEST_PKGS="$RUN_PKGS libcmocka-dev python3 postgresql systemd procps iproute2
kamailio kamailio-presence-modules kamailio-postgres-modules openssl
clang libclang-rt-14-dev llvm-14 valgrind nftables groff man-db prometheus"

case "${1:-run}" in
run) pkgs=$RUN_PKGS ;;
test) pkgs=$TEST_PKGS ;;
*) echo "usage: $0 [run|test]" >&2; exit 64 ;;
esac

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages:$missing" >&2
    echo "deps.sh: run as root, or: sudo apt-get install$missing" >&2
    exit 1
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The kamailio package ships kamailio.service, which on a systemd machine may
# be started by the install and then holds port 5060 with the stock config.
# The tests run their own Kamailio on free ports, so stop and disable the
# packaged one when this run installed it.
# The same for prometheus.service (port 9090).
for svc in kamailio prometheus; do
    case " $missing " in
    *" $svc "*)
        echo "deps.sh: disabling the packaged $svc.service (the tests start their own)"
        systemctl disable --now "$svc" >/dev/null 2>&1 || true ;;
    esac
done
