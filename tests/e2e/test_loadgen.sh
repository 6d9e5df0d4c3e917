#!/usr/bin/env bash
# The load generator against the gateway over memif (perf/loadgen/pair.sh), as a functional
# check, not a timing: a few thousand requests kept alive (on connections keeping one Service,
# then alternating Services every request) and a few thousand connections of one request each,
# with zero errors and every response from a pod the route allows.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${SLUICE:?path to the sluice binary}" "${LOADGEN:?path to the load generator}"
export SLUICE LOADGEN
check() { # label json [moves]
	python3 - "$@" <<'PY'
import json, sys
label, r = sys.argv[1], json.loads(sys.argv[2])
moves = len(sys.argv) > 3  # every request for the other Service: one pod connection each
lg, gw = r["loadgen"], r["gateway"]
want = 2000
assert lg["errors"] == 0, (label, lg["error_kinds"])
assert lg["requests"] >= want, (label, lg["requests"])
assert all(x["requests"] > 0 and x["wrong_pod"] == 0 for x in lg["routes"]), lg["routes"]
assert lg["unknown_packets"] == 0 and lg["out_of_order"] == 0, lg
run = gw["run"]  # the gateway's counters over the whole run, closing included
assert run["http_requests"] >= lg["requests"] and run["tcp_flows_full"] == 0, run
assert run["tcp_buffers_full"] == 0 and run["http_fail_closed"] == 0, run
if moves:
    assert run["pod_connects"] >= lg["requests"], ("a pod connection per request", run)
print("ok: %s: %d requests on %d connections, no error, every response from an allowed pod"
      % (label, lg["requests"], lg["connections"]))
PY
}
out=$(bash "$root/perf/loadgen/pair.sh" -- --conns 16 --reqs 50 --max-requests 2000 --duration 20)
check "kept alive" "$out"
# Every request on a connection for the other Service: the gateway moves the connection each time.
out=$(bash "$root/perf/loadgen/pair.sh" -- --conns 16 --reqs 50 --max-requests 2000 --duration 20 \
	--mix-per-request)
check "kept alive, Services alternating" "$out" moves
out=$(bash "$root/perf/loadgen/pair.sh" -- --conns 16 --reqs 1 --max-requests 2000 --rate 4000 \
	--duration 20)
check "a connection per request" "$out"
