#!/usr/bin/env bash
# The same wrk loads through nginx, HAProxy and Sluice, one after the other, in one
# network-namespace topology (tests/e2e/lib/topology.sh): wrk in the client namespace, the
# gateway in its own, two nginx pods behind a bridge. The gateway is pinned to CPU 1; wrk and
# the pods to CPU 0. Prints one JSON object: per gateway and load, requests/s, latency, errors
# and the CPU the gateway spent per request:
#   nginx, HAProxy: the processes' user + system time plus CPU 1's softirq time (/proc/stat);
#   Sluice: its worker's busy cycles (which include the af_packet syscalls it makes).
#
#   perf/kernel-peers.sh [--build DIR] [--secs S] [--conns N]
#
# Needs root, wrk, nginx and haproxy (Debian packages). Only 198.18.0.0/15 addresses; the
# namespaces, processes and files it makes are removed on exit.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build=$root/build-perf
secs=10
conns=50
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--secs) secs=$2; shift 2 ;;
	--conns) conns=$2; shift 2 ;;
	*) echo "kernel-peers.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
SLUICE=${SLUICE:-$build/app/sluice}
for b in wrk nginx haproxy taskset; do
	command -v "$b" >/dev/null || { echo "kernel-peers.sh: $b is not installed" >&2; exit 2; }
done
[ -x "$SLUICE" ] || { echo "kernel-peers.sh: $SLUICE is not built" >&2; exit 2; }
[ "$(nproc)" -ge 2 ] || { echo "kernel-peers.sh: needs two CPUs" >&2; exit 2; }

. "$root/tests/e2e/lib/topology.sh"
P="kp$$-"
work=$(mktemp -d)
gw_pid=
cleanup() {
	[ -n "$gw_pid" ] && kill -9 "$gw_pid" 2>/dev/null || true
	topo_down "$P" >/dev/null 2>&1 || true
	rm -rf "$work" "/var/run/dpdk/${P}sluice"
}
trap cleanup EXIT
fail() {
	echo "kernel-peers.sh: $*" >&2
	tail -20 "$work/gw.log" >&2 2>/dev/null || true
	exit 1
}

topo_up "$P"
mkdir -p "$work/tmp"
nginx_pods
for ns in pod1 pod2 client pods; do # everything but the gateway on CPU 0
	for pid in $(ip netns pids "${P}$ns"); do taskset -a -cp 0 "$pid" >/dev/null; done
done

mport=$((20000 + $$ % 20000))
gw_addrs() { # up|down: the kernel gateways need addresses; Sluice owns the links bare
	if [ "$1" = up ]; then
		ip -n "${P}gw" addr add "$TOPO_VIP/24" dev gw-c
		ip -n "${P}gw" addr add "$TOPO_SNAT/24" dev gw-p
	else
		ip -n "${P}gw" addr flush dev gw-c
		ip -n "${P}gw" addr flush dev gw-p
	fi
}

# ticks PID...: user + system clock ticks of the processes; softirq1: CPU 1's softirq ticks.
ticks() {
	local t=0 pid
	for pid in "$@"; do
		[ -r "/proc/$pid/stat" ] || continue
		t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
	done
	echo "$t"
}
softirq1() { awk '$1 == "cpu1" {print $8}' /proc/stat; }
metric() { # NAME: a counter summed over lcores, from the gateway's metrics
	ip netns exec "${P}gw" curl -sf --max-time 2 "http://127.0.0.1:$mport/metrics" |
		awk -v n="$1" 'index($0, n) == 1 {s += $NF} END {printf "%.0f\n", s}'
}

# run NAME LOAD PIDS...: one wrk load; appends a JSON line to $work/results.
run() {
	local name=$1 load=$2
	shift 2
	local pids="$*" hdr=()
	[ "$load" = close ] && hdr=(-H 'Connection: close')
	# A short unmeasured run first: connections to the pods open, caches warm.
	taskset -c 0 ip netns exec "${P}client" wrk -t 1 -c "$conns" -d 1s "${hdr[@]}" \
		-H 'Host: bench.example' "http://$TOPO_VIP/" >/dev/null 2>&1 || true
	sleep 0.5
	local t0 s0 b0=0 i0=0 w0
	t0=$(ticks $pids) s0=$(softirq1) w0=$(date +%s.%N)
	if [ "$name" = sluice ]; then b0=$(metric sluice_busy_cycles_total); i0=$(metric sluice_idle_cycles_total); fi
	taskset -c 0 ip netns exec "${P}client" wrk -t 1 -c "$conns" -d "${secs}s" --timeout 5s \
		--latency "${hdr[@]}" -H 'Host: bench.example' "http://$TOPO_VIP/" >"$work/wrk.txt" 2>&1 ||
		fail "wrk through $name failed: $(cat "$work/wrk.txt")"
	local t1 s1 b1=0 i1=0 w1
	t1=$(ticks $pids) s1=$(softirq1) w1=$(date +%s.%N)
	if [ "$name" = sluice ]; then b1=$(metric sluice_busy_cycles_total); i1=$(metric sluice_idle_cycles_total); fi
	python3 - "$name" "$load" "$work/wrk.txt" "$((t1 - t0))" "$((s1 - s0))" "$(getconf CLK_TCK)" \
		"$((b1 - b0))" "$((i1 - i0))" "$w0" "$w1" >>"$work/results" <<'PY'
import json, re, sys
name, load, path = sys.argv[1:4]
proc, soft, hz = (int(x) for x in sys.argv[4:7])
busy, idle = int(sys.argv[7]), int(sys.argv[8])
wall = float(sys.argv[10]) - float(sys.argv[9])
t = open(path).read()
def num(v, unit=""):
    v = float(v)
    return v * {"": 1, "k": 1e3, "M": 1e6, "us": 1, "ms": 1e3, "s": 1e6}[unit]
reqs = int(re.search(r"(\d+) requests in", t).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
lat = {p: num(*re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M).groups())
       for p in ("50", "99")}
errors = 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
if m:
    errors += sum(int(x) for x in m.groups())
m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
if m:
    errors += int(m.group(1))
r = {"gateway": name, "load": load, "requests": reqs, "requests_per_s": round(rps),
     "latency_us": {"p50": round(lat["50"]), "p99": round(lat["99"])}, "errors": errors}
if name == "sluice":
    tsc_hz = (busy + idle) / wall  # the worker polls without pause: its cycles span the wall
    r["cpu_us_per_request"] = round(busy / tsc_hz * 1e6 / reqs, 2)
    r["cycles_per_request"] = round(busy / reqs)
    r["tsc_hz"] = round(tsc_hz)
else:
    r["cpu_us_per_request"] = round((proc + soft) / hz * 1e6 / reqs, 2)
    r["process_cpu_s"] = round(proc / hz, 2)
    r["softirq_cpu1_s"] = round(soft / hz, 2)
print(json.dumps(r))
PY
}

# kernel_peer NAME COMMAND...: run a kernel gateway on CPU 1 in the gateway namespace, both
# loads through it, then stop it.
kernel_peer() {
	local name=$1
	shift
	taskset -c 1 ip netns exec "${P}gw" "$@" >"$work/gw.log" 2>&1 &
	gw_pid=$!
	wait_for 10 ip netns exec "${P}client" curl -sf --max-time 1 -H 'Host: bench.example' \
		"http://$TOPO_VIP/" || fail "$name did not start"
	local pids
	pids=$(ip netns pids "${P}gw")
	run "$name" keepalive $pids
	run "$name" close $pids
	kill "$gw_pid" 2>/dev/null || true
	wait "$gw_pid" 2>/dev/null || true
	gw_pid=
}

# ---- nginx ----------------------------------------------------------------------------------
gw_addrs up
cat >"$work/nginx-gw.conf" <<NGX
daemon off;
user root;
worker_processes 1;
pid $work/nginx-gw.pid;
error_log $work/nginx-gw.err;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/tmp;
    proxy_temp_path $work/tmp;
    fastcgi_temp_path $work/tmp;
    uwsgi_temp_path $work/tmp;
    scgi_temp_path $work/tmp;
    keepalive_requests 1000000;
    upstream pods { server $TOPO_POD1:8080; server $TOPO_POD2:8080; keepalive 256; }
    server {
        listen $TOPO_VIP:80 reuseport;
        location / {
            proxy_pass http://pods;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
NGX
kernel_peer nginx nginx -c "$work/nginx-gw.conf"

# ---- HAProxy --------------------------------------------------------------------------------
cat >"$work/haproxy.cfg" <<HAP
global
    nbthread 1
    maxconn 8000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
    http-reuse always
frontend web
    bind $TOPO_VIP:80
    default_backend pods
backend pods
    balance roundrobin
    server pod1 $TOPO_POD1:8080
    server pod2 $TOPO_POD2:8080
HAP
kernel_peer haproxy haproxy -db -f "$work/haproxy.cfg"
gw_addrs down

# ---- Sluice ---------------------------------------------------------------------------------
mkdir -p "$work/manifests"
cp "$root/tests/e2e/manifests/00-class.yaml" "$work/manifests/"
cat >"$work/manifests/10-bench.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: bench, namespace: perf}
spec: {ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: bench-1, namespace: perf, labels: {kubernetes.io/service-name: bench}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: ["198.19.0.11"]}, {addresses: ["198.19.0.12"]}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench, namespace: perf}
spec:
  ingressClassName: sluice
  rules:
    - host: bench.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: bench, port: {number: 80}}}}
YAML
topo_write_config "$work/gw.conf" "$P" "$mport" "[1]" "$work/manifests"
ip netns exec "${P}gw" "$SLUICE" -c "$work/gw.conf" >"$work/gw.log" 2>&1 &
gw_pid=$!
wait_for 60 ip netns exec "${P}gw" curl -sf --max-time 2 "http://127.0.0.1:$mport/healthz" ||
	fail "sluice did not come up"
wait_for 10 ip netns exec "${P}client" curl -sf --max-time 1 -H 'Host: bench.example' \
	"http://$TOPO_VIP/" || fail "sluice does not route"
run sluice keepalive
run sluice close
kill -TERM "$gw_pid"
wait "$gw_pid" 2>/dev/null || true
gw_pid=

python3 - "$work/results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
out = {"runs": rows, "cpu_ratio": {}}
by = {(r["gateway"], r["load"]): r for r in rows}
for load in ("keepalive", "close"):
    s = by.get(("sluice", load))
    for peer in ("nginx", "haproxy"):
        p = by.get((peer, load))
        if s and p and s["cpu_us_per_request"]:
            out["cpu_ratio"][f"{peer}_over_sluice_{load}"] = round(
                p["cpu_us_per_request"] / s["cpu_us_per_request"], 2)
out["errors"] = sum(r["errors"] for r in rows)
print(json.dumps(out))
PY
