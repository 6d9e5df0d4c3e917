#!/usr/bin/env bash
# HTTPS keep-alive requests through the whole gateway: the worker's cycles per request for
# terminated connections (TLS 1.3, ECDSA P-256, a 100-byte answer from an nginx pod), read from
# the gateway's own counters while wrk loads it, beside lib/term alone (term_bench) and nginx
# doing the same job (perf/term/vs-nginx.sh), all in one run. Prints JSON and a table.
#
#   perf/term/gateway.sh [BUILD_DIR]     default build-perf/ (release: meson setup build-perf
#                                         -Dbuildtype=release -Dtests=false)
#
# The gateway runs one worker on af_packet veth ports in network namespaces (the e2e topology,
# addresses from 198.18.0.0/15); wrk (one thread, 8 connections, 5 s) in the client namespace.
# Its figures: busy cycles (iterations that received packets) per request, and the same less
# the cycles inside the NIC driver (driver_cycles): on af_packet the driver is the kernel's
# copy through a socket, which a NIC with DMA does not pay; the second figure is the gateway's
# own work. On a 2-vCPU machine wrk, the pods and the gateway share the CPUs: the figures are
# per request, not requests per second.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build-perf}
SLUICE=$build/app/sluice
[ -x "$SLUICE" ] || { echo "gateway.sh: $SLUICE is not built" >&2; exit 2; }
. "$root/tests/e2e/lib/topology.sh"
. "$root/tests/e2e/lib/certs.sh"
e2e_init "slgwb$$-"
hosts_dir=/etc/netns/${P}client
cleanup_bench() {
	rm -rf "$hosts_dir"
	e2e_cleanup
}
trap cleanup_bench EXIT
topo_up "$P"
cd "$work"
certs_ca
certs_leaf bench DNS:bench.example
nginx_pods
head -c 100 /dev/zero | tr '\0' x >"$work/pod1/bench"
mkdir -p "$work/manifests"
cp "$root/tests/e2e/manifests/"*.yaml "$work/manifests/"
{
	certs_secret bench-tls bench.pem bench.key
	cat <<'YAML'
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bench, namespace: e2e}
spec:
  ingressClassName: sluice
  tls:
    - {hosts: [bench.example], secretName: bench-tls}
  rules:
    - host: bench.example
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
YAML
} >"$work/manifests/60-bench.yaml"
mport=$((20000 + $$ % 20000))
TOPO_LISTEN="[80, 443]" topo_write_config "$work/sluice.conf" "$P" "$mport" "[1]" \
	"$work/manifests"
gw_start "$work/sluice.conf" "$mport"
mkdir -p "$hosts_dir"
printf '%s bench.example\n' "$TOPO_VIP" >"$hosts_dir/hosts"
counters() {
	ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics" | awk '
		/^sluice_busy_cycles_total/ {b += $2} /^sluice_driver_cycles_total/ {d += $2}
		/^sluice_term_requests_total/ {r += $2} /^sluice_tls_handshakes_total/ {h += $2}
		/^sluice_term_pod_connects_total/ {p += $2}
		END {printf "%.0f %.0f %.0f %.0f %.0f\n", b, d, r, h, p}'
}
# Warm up (pod connections, ARP), then measure.
ip netns exec "${P}client" wrk -t1 -c8 -d1s https://bench.example/bench >/dev/null 2>&1
read -r b0 d0 r0 h0 p0 < <(counters)
out=$(ip netns exec "${P}client" wrk -t1 -c8 -d5s https://bench.example/bench 2>&1)
read -r b1 d1 r1 h1 p1 < <(counters)
n=$(awk '/requests in/ {print $1}' <<<"$out")
errors=$(grep -cE 'Non-2xx|Socket errors' <<<"$out" || true)
[ -n "$n" ] && [ "$n" -gt 0 ] && [ "$errors" = 0 ] || { echo "gateway.sh: wrk: $out" >&2; exit 1; }
gw_stop >/dev/null
# lib/term alone and nginx, in the same run (term_bench and nginx on this machine).
vs=$(bash "$here/vs-nginx.sh" "$build" | head -n1)
python3 - "$vs" "$((b1 - b0))" "$((d1 - d0))" "$((r1 - r0))" "$n" "$((h1 - h0))" \
	"$((p1 - p0))" <<'PY'
import json, sys
vs = json.loads(sys.argv[1])
busy, driver, reqs, wrk_n, hs, pods = map(int, sys.argv[2:8])
hz = vs["sluice_cycles_per_request"] / vs["sluice_us_per_request"] * 1e6
per = busy / reqs
own = (busy - driver) / reqs
res = {"requests": reqs, "wrk_requests": wrk_n, "handshakes": hs, "pod_connects": pods,
       "gateway_cycles_per_request": round(per), "gateway_us_per_request": round(per / hz * 1e6, 2),
       "gateway_own_cycles_per_request": round(own),
       "gateway_own_us_per_request": round(own / hz * 1e6, 2),
       "term_bench_cycles_per_request": vs["sluice_cycles_per_request"],
       "nginx_cycles_per_request": vs["nginx_cycles_per_request"],
       "nginx_us_per_request": vs["nginx_us_per_request"],
       "nginx_over_gateway": round(vs["nginx_cycles_per_request"] / per, 2),
       "nginx_over_gateway_own": round(vs["nginx_cycles_per_request"] / own, 2)}
print(json.dumps(res))
print("| HTTPS keep-alive, proxied, 100-byte body | cycles per request | µs | nginx / this |")
print("|---|---|---|---|")
print("| gateway worker, all busy cycles (af_packet driver included) | %d | %.2f | %.2f |" % (
    per, per / hz * 1e6, res["nginx_over_gateway"]))
print("| gateway worker less the driver's cycles | %d | %.2f | %.2f |" % (
    own, own / hz * 1e6, res["nginx_over_gateway_own"]))
print("| lib/term alone (term_bench, in memory) | %d | %.2f | %.2f |" % (
    vs["sluice_cycles_per_request"], vs["sluice_us_per_request"], vs["ratio"]))
print("| nginx (TLS proxy worker, kernel TCP included) | %d | %.2f | 1 |" % (
    vs["nginx_cycles_per_request"], vs["nginx_us_per_request"]))
PY
