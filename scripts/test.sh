#!/usr/bin/env bash
# Set up everything (packages, hugepages) and run the whole test suite: unit tests, packet
# tests, end-to-end tests in network namespaces, and bounded fuzzing — all on a build with the
# address and undefined-behaviour sanitizers and -Werror. Run as root on Debian 12.
#
#   scripts/test.sh [meson test args...]     e.g. scripts/test.sh --suite unit
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
build=build-test
"$here/scripts/setup.sh" "$build" -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true

# promtool checks the alert rules and the metrics page. It comes from Debian's prometheus
# package, unpacked into the build directory rather than installed, so no server starts.
tools="$here/$build/tools"
if ! command -v promtool >/dev/null && [ ! -x "$tools/usr/bin/promtool" ]; then
	(mkdir -p "$tools/deb" && cd "$tools/deb" && apt-get download -qq prometheus 2>/dev/null &&
		dpkg-deb -x prometheus_*.deb "$tools") ||
		echo "test: promtool unavailable; the rules get structure checks only" >&2
fi
if [ -x "$tools/usr/bin/promtool" ]; then
	export PROMTOOL="$tools/usr/bin/promtool"
fi

# Leaks are checked by the unit tests; DPDK's EAL keeps allocations until exit by design.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

rc=0
meson test -C "$build" --print-errorlogs --num-processes 2 "$@" || rc=$?

# One closing line any reader can count: N passed, N failed.
python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit "$rc"
