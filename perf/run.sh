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
# Each benchmark reports on its own: one that fails does not hide the others.
failed=()
for b in "$build"/perf/*/*_bench; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b" || failed+=("$(basename "$b")")
done
if [ "${#failed[@]}" -gt 0 ]; then
	echo "failed: ${failed[*]}"
	exit 1
fi
echo "all benchmarks ran"
