#!/usr/bin/env bash
# Run every benchmark built under perf/ on an optimised build (no sanitizers) and print their
# figures. Each benchmark measures its cases side by side in one run and reports ratios.
#   perf/run.sh [BUILD_DIR]      default build-perf/
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build-perf}
cd "$here"
[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=release -Dtests=false >/dev/null
ninja -C "$build" >/dev/null
for b in "$build"/perf/*/*_bench; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b"
done
