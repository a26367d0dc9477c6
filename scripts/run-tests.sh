#!/bin/sh
# run-tests.sh [--sanitize] [--all] - install what is missing, build, and
# run every test (ctest: unit and integration).
#
#   (default)    normal build in build/
#   --sanitize   ASan+UBSan build in build-asan/, same suite
#   --valgrind   unit tests and a subset of integration tests under valgrind
#                memcheck (tests/valgrind, build-valgrind/)
#   --fuzz       every libFuzzer harness for 30 s, two at a time
#                (tests/fuzz/run, build-fuzz/)
#   --deb        build, lint, install, run and purge the Debian package
#                (packaging/check-deb; needs root and port 5060 free)
#   --all        all five, one after the other (what CI runs)
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh test

jobs=$(nproc)
run_suite() {  # $1 = build dir, rest = cmake options
    dir=$1; shift
    cmake -S . -B "$dir" -DSIPBRIDGE_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j"$jobs"
    (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 300)
}

mode=${1:-normal}
case "$mode" in
normal) run_suite build ;;
--sanitize)
    export SB_TIMEOUT_MULT=3
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    run_suite build-asan -DSIPBRIDGE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug ;;
--valgrind) python3 tests/valgrind --build build-valgrind ;;
--fuzz) python3 tests/fuzz/run --time 30 --jobs 2 --build-dir build-fuzz ;;
--deb) bash packaging/check-deb ;;
--all) sh scripts/run-tests.sh && sh scripts/run-tests.sh --sanitize &&
    sh scripts/run-tests.sh --valgrind && sh scripts/run-tests.sh --fuzz &&
    sh scripts/run-tests.sh --deb ;;
*) echo "usage: $0 [--sanitize|--valgrind|--fuzz|--deb|--all]" >&2; exit 64 ;;
esac
