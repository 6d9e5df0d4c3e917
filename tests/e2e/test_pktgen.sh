#!/usr/bin/env bash
# The Pktgen material in perf/pktgen, checked without Pktgen (not a Debian package): the Lua
# scripts parse (luac -p), and the captures they send do what their README says when the load
# generator replays them at the gateway over memif in Pktgen's place:
#   - syn-flood.pcap: every SYN is counted and answered (a SYN-ACK each);
#   - malformed.pcap: every frame is dropped under the reason make-pcaps.py wrote for it, and
#     none is answered;
#   - a capture of whole HTTP flows (http-flows.sh, bench.fixed_cookies) replays at a fresh
#     gateway with the same setting: every captured handshake's cookie checks and every
#     captured request is routed (one cookie and one request per flow, no 4xx/5xx).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${SLUICE:?path to the sluice binary}" "${LOADGEN:?path to the load generator}"
export SLUICE LOADGEN
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for f in "$root"/perf/pktgen/*.lua; do
	luac5.4 -p "$f" || { echo "FAIL: $f does not parse" >&2; exit 1; }
done
echo "ok: the Pktgen scripts parse"

python3 "$root/perf/pktgen/make-pcaps.py" --out "$work" --syns 4096 --malformed-rounds 16
pair() { bash "$root/perf/loadgen/pair.sh" "$@"; }

out=$(pair -- --replay "$work/syn-flood.pcap" --reqs 1 --rate 200000)
python3 - "$out" "$work/syn-flood.json" <<'PY'
import json, sys
r, want = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))
lg, run = r["loadgen"], r["gateway"]["run"]
n = want["frames"]
assert lg["errors"] == 0 and lg["replay_sent"] == n, lg
assert run["tcp_syn_in"] == n, (run, n)
assert lg["replay_rx"] == n, ("every SYN answered once", lg["replay_rx"], n)
assert not r["gateway"]["drops"], r["gateway"]["drops"]
print(f"ok: syn-flood.pcap: {n} SYNs counted and answered")
PY

out=$(pair -- --replay "$work/malformed.pcap" --reqs 1 --rate 100000)
python3 - "$out" "$work/malformed.json" <<'PY'
import json, sys
r, want = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))
lg, gw = r["loadgen"], r["gateway"]
assert lg["errors"] == 0 and lg["replay_sent"] == want["frames"], lg
assert gw["drops"] == want["expect"]["drops"], (gw["drops"], want["expect"]["drops"])
assert lg["replay_rx"] == 0, ("a malformed frame was answered", lg["replay_rx"])
print(f"ok: malformed.pcap: {want['frames']} frames, each dropped under its reason "
      f"({len(gw['drops'])} reasons), none answered")
PY

bash "$root/perf/pktgen/http-flows.sh" "$work/flows.pcap" --flows 1000 >/dev/null
out=$(pair --fixed-cookies -- --replay "$work/flows.pcap" --reqs 1 --rate 20000)
python3 - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
lg, run = r["loadgen"], r["gateway"]["run"]
assert lg["errors"] == 0, lg
flows = run["tcp_syn_in"]
assert flows >= 1000, run
assert run["tcp_cookie_ok"] == flows and run.get("tcp_cookie_bad", 0) == 0, run
assert run["http_requests"] == flows, ("one request routed per flow", run)
assert run.get("gateway_answers", 0) == 0, ("no 4xx/5xx from the gateway", run)
assert run["route_requests"] == flows, run
print(f"ok: captured HTTP flows replay: {flows} handshakes checked, {flows} requests routed")
PY
