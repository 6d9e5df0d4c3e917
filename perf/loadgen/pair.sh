#!/usr/bin/env bash
# Run the gateway and the load generator against each other over memif, and print one JSON
# object: the generator's report and the gateway's own counters over the run (busy and idle
# cycles, packets, requests), so cycles per request, connection and packet follow.
#
#   perf/loadgen/pair.sh [--build DIR] [--flows N] [--worker L --mgmt L --gen L]
#                        [--fixed-cookies] -- LOADGEN ARGS
#
# --fixed-cookies runs the gateway with bench.fixed_cookies (captured handshakes replay).
#
# The generator plays clients 198.18.1.x and pods 198.19.0.11-13 (the gateway SNATs from
# 198.19.0.201-216) behind the routes in
# perf/loadgen/manifests (a.example/ -> web on .11 and .12; a.example/api -> api on .13).
# Everything runs without hugepages in a temporary directory, removed on exit.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build-perf
flows=65536
worker=1 mgmt=0 gen=0
bench=
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--flows) flows=$2; shift 2 ;;
	--worker) worker=$2; shift 2 ;;
	--mgmt) mgmt=$2; shift 2 ;;
	--gen) gen=$2; shift 2 ;;
	--fixed-cookies) bench="bench = { fixed_cookies = true; };"; shift ;;
	--) shift; break ;;
	*) echo "pair.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
sluice=${SLUICE:-$build/app/sluice}
loadgen=${LOADGEN:-$build/perf/loadgen/loadgen}
for b in "$sluice" "$loadgen"; do
	[ -x "$b" ] || { echo "pair.sh: $b is not built" >&2; exit 2; }
done

work=$(mktemp -d)
prefix="lgp$$"
gw_pid= lg_pid=
cleanup() {
	[ -n "$lg_pid" ] && kill "$lg_pid" 2>/dev/null || true
	[ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null || true
	[ -n "$gw_pid" ] && wait "$gw_pid" 2>/dev/null || true
	rm -rf "$work" "/var/run/dpdk/$prefix-gw" "/var/run/dpdk/$prefix-lg"
}
trap cleanup EXIT
ln -s "$root/drivers-config" "$work/drivers-config"
cp -r "$here/manifests" "$work/manifests"
mport=$((20000 + $$ % 20000))
sed -e "s|@WORK@|$work|g" -e "s|@PREFIX@|$prefix|g" -e "s|@MGMT@|$mgmt|" \
	-e "s|@WORKER@|$worker|" -e "s|@FLOWS@|$flows|" -e "s|@MEM@|$((1024 + flows / 2048))|" -e "s|@MPORT@|$mport|" \
	-e "s|@SNAT@|$(seq -s, -f '\"198.19.0.%g\"' 201 216)|" \
	"$here/gateway.conf.in" >"$work/gw.conf"
echo "$bench" >>"$work/gw.conf"

"$loadgen" --client-sock "$work/client.sock" --pod-sock "$work/pods.sock" \
	--vip 198.18.0.10 $(for i in $(seq 201 216); do printf -- "--snat 198.19.0.%s " "$i"; done) \
	--pod 198.19.0.11 --pod 198.19.0.12 --pod 198.19.0.13 \
	--route a.example,/,198.19.0.11+198.19.0.12 --route a.example,/api/items,198.19.0.13 \
	--go-file "$work/go" --mark-file "$work/mark" "$@" -- -l "$gen" --file-prefix="$prefix-lg" --log-level=lib.eal:error \
	>"$work/lg.json" 2>"${LG_STDERR:-$work/lg.err}" &
lg_pid=$!
for _ in $(seq 50); do [ -S "$work/client.sock" ] && [ -S "$work/pods.sock" ] && break; sleep 0.1; done
"$sluice" -c "$work/gw.conf" >"$work/gw.log" 2>&1 &
gw_pid=$!
metrics() { curl -sf --max-time 2 "http://127.0.0.1:$mport/metrics"; }
for _ in $(seq 600); do metrics >/dev/null && break; sleep 0.1; done # large tables take a while
metrics >"$work/before.txt" || { cat "$work/gw.log" >&2; echo "pair.sh: gateway did not start" >&2; exit 1; }
touch "$work/go" # the generator starts its load now
# snapshot NAME: the gateway's counters now; a failed read fails the run, never a silent zero.
snapshot() {
	metrics >"$work/$1.tmp" && mv "$work/$1.tmp" "$work/$1.txt" ||
		{ echo "pair.sh: could not read the gateway's counters ($1)" >&2; exit 1; }
}
# With a --warmup, the measured window starts when the generator says so; it waits for our
# acknowledgement (mark.ack) before it starts the window's load.
case " $* " in
*" --warmup "*)
	while [ ! -e "$work/mark" ] && kill -0 "$lg_pid" 2>/dev/null; do sleep 0.01; done
	snapshot before
	touch "$work/mark.ack"
	;;
esac
# ... and ends when it says so; it closes its connections only after mark.end.ack.
while [ ! -e "$work/mark.end" ] && kill -0 "$lg_pid" 2>/dev/null; do sleep 0.01; done
snapshot after
touch "$work/mark.end.ack"
rc=0
# The generator reports, then keeps its ports up until the gateway has stopped: the memif
# driver may fault in a receive burst when its peer disappears under it.
while [ ! -e "$work/mark.done" ] && kill -0 "$lg_pid" 2>/dev/null; do sleep 0.01; done
snapshot final # the whole run, closing included: for the checks
[ -n "${PAIR_KEEP:-}" ] && cp "$work/before.txt" "$work/after.txt" "$PAIR_KEEP/" || true # debugging
kill -TERM "$gw_pid"
gw_rc=0
wait "$gw_pid" || gw_rc=$?
if [ "$gw_rc" != 0 ]; then # what it said on the way out, for the reason
	tail -n 30 "$work/gw.log" >&2
	echo "pair.sh: the gateway did not stop cleanly (exit status $gw_rc)" >&2
	rc=1
fi
gw_pid=
touch "$work/mark.done.ack"
wait "$lg_pid" || rc=$?
lg_pid=
if [ ! -s "$work/lg.json" ]; then
	cat "$work/lg.err" "$work/gw.log" >&2
	exit 1
fi
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def counters(name):
    out = {}
    for line in open(f"{work}/{name}"):
        if line.startswith("sluice_") and "_total" in line:
            key = line.split("{")[0].split(" ")[0]
            out[key] = out.get(key, 0) + float(line.rsplit(" ", 1)[1])
    return out
b, a = counters("before.txt"), counters("after.txt")
d = {k[len("sluice_"):-len("_total")]: a[k] - b.get(k, 0) for k in a}
lg = json.load(open(f"{work}/lg.json"))
gw = {k: int(d.get(k, 0)) for k in ("busy_cycles", "idle_cycles", "driver_cycles", "rx_packets", "tx_packets",
      "http_requests", "tcp_cookie_ok", "tcp_flows_full", "tcp_rst_sent", "dropped",
      "tx_dropped", "spliced_to_pod", "spliced_to_client", "tcp_buffers_full",
      "tcp_heads_over_cap", "pod_timeouts", "pod_refused", "http_fail_closed", "pod_snat_busy",
      "tcp_buffers_taken", "tcp_buffers_released")}
f = counters("final.txt")
gw["run"] = {k[len("sluice_"):-len("_total")]: int(f[k] - b.get(k, 0)) for k in f
             if any(w in k for w in ("http_requests", "flows_full", "buffers_full", "dropped",
                                     "rst_sent", "fail_closed", "gateway_answers", "syn_in",
                                     "cookie", "route_requests", "pod_connects"))}
gw["drops"] = {}
for name, sign in (("final.txt", 1), ("before.txt", -1)):
    for line in open(f"{work}/{name}"):
        if line.startswith("sluice_drops_total{"):
            why = line.split('reason="')[1].split('"')[0]
            gw["drops"][why] = gw["drops"].get(why, 0) + sign * int(float(line.rsplit(" ", 1)[1]))
gw["drops"] = {k: v for k, v in gw["drops"].items() if v}
gw["answers"] = {}
for line in open(f"{work}/after.txt"):
    if line.startswith("sluice_gateway_answers_total{"):
        code = line.split('code="')[1].split('"')[0]
        gw["answers"][code] = gw["answers"].get(code, 0) + int(float(line.rsplit(" ", 1)[1]))
for line in open(f"{work}/before.txt"):
    if line.startswith("sluice_gateway_answers_total{"):
        code = line.split('code="')[1].split('"')[0]
        gw["answers"][code] = gw["answers"].get(code, 0) - int(float(line.rsplit(" ", 1)[1]))
busy = gw["busy_cycles"]
per = lambda n: round(busy / n, 1) if n else None
gw["cycles_per_request"] = per(lg.get("requests"))
gw["cycles_per_connection"] = per(lg.get("connections"))
gw["cycles_per_packet"] = per(gw["rx_packets"])
own = busy - gw["driver_cycles"]
gw["own_cycles_per_request"] = round(own / lg["requests"], 1) if lg.get("requests") else None
gw["own_cycles_per_connection"] = round(own / lg["connections"], 1) if lg.get("connections") else None
gw["own_cycles_per_packet"] = round(own / gw["rx_packets"], 1) if gw["rx_packets"] else None
gw["busy_share"] = round(busy / (busy + gw["idle_cycles"]), 3) if busy + gw["idle_cycles"] else None
print(json.dumps({"loadgen": lg, "gateway": gw}))
PY
exit "$rc"
