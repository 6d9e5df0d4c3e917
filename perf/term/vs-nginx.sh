#!/usr/bin/env bash
# HTTPS keep-alive requests proxied to a pod: the CPU per request of Sluice's terminated
# connection (lib/term: TLS, strict parsing, routing, X-Forwarded-*, both TCP legs) beside
# nginx doing the same job (TLS 1.3 with an ECDSA P-256 certificate, proxy_pass to a backend
# over kept-alive upstream connections, the same X-Forwarded-* headers set). Prints JSON and a
# table.
#
#   perf/term/vs-nginx.sh [BUILD_DIR]     default build-perf/ (term_bench built there)
#
# nginx: the proxy (one worker) at 198.18.9.1:8443 and a backend nginx at 198.18.9.1:8080
# answering 100 bytes, in a namespace of their own; wrk (8 connections, 4 s) is the client.
# nginx's figure is its proxy worker's user + system CPU over the run divided by the requests
# wrk counted (the kernel's TCP for both of its connections included: what nginx pays).
# Sluice's is term_bench's: cycles in the gateway's calls per request over an in-memory link
# (no NIC, no kernel: a DPDK worker's driver cost comes on top; see docs/performance.md).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build-perf}
bench=$build/perf/term/term_bench
[ -x "$bench" ] || { echo "vs-nginx.sh: $bench is not built" >&2; exit 2; }
for t in nginx wrk; do command -v $t >/dev/null || { echo "vs-nginx.sh: no $t" >&2; exit 2; }; done
ns="termb$$"
work=$(mktemp -d)
cleanup() {
	for p in "$work"/proxy.pid "$work"/backend.pid; do
		[ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
	done
	sleep 0.2
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" ip addr add 198.18.9.1/32 dev lo
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
	-out "$work/cert.pem" -subj "/CN=a.example" -days 2 2>/dev/null
common="events { worker_connections 1024; }
http { access_log off; client_body_temp_path $work; proxy_temp_path $work;
fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;"
body=$(head -c 100 /dev/zero | tr '\0' x)
cat >"$work/backend.conf" <<EOF
worker_processes 1; pid $work/backend.pid; error_log $work/backend.err;
$common
server { listen 198.18.9.1:8080; keepalive_requests 1000000;
	location / { default_type text/plain; return 200 "$body"; } } }
EOF
cat >"$work/proxy.conf" <<EOF
worker_processes 1; pid $work/proxy.pid; error_log $work/proxy.err;
$common
upstream pod { server 198.18.9.1:8080; keepalive 16; }
server { listen 198.18.9.1:8443 ssl; keepalive_requests 1000000;
	ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
	ssl_protocols TLSv1.3; ssl_ecdh_curve X25519;
	location / {
		proxy_pass http://pod; proxy_http_version 1.1; proxy_set_header Connection "";
		proxy_set_header Host \$host;
		proxy_set_header X-Forwarded-For \$remote_addr;
		proxy_set_header X-Forwarded-Proto https;
		proxy_set_header X-Forwarded-Host \$http_host;
		proxy_set_header X-Forwarded-Port 8443;
	} } }
EOF
ip netns exec "$ns" nginx -c "$work/backend.conf" -p "$work"
ip netns exec "$ns" nginx -c "$work/proxy.conf" -p "$work"
for _ in $(seq 50); do [ -s "$work/proxy.pid" ] && break; sleep 0.1; done
worker=""
for _ in $(seq 50); do worker=$(pgrep -P "$(cat "$work/proxy.pid")" | head -n1) && [ -n "$worker" ] && break; sleep 0.1; done
cpu() { awk '{print $14 + $15}' "/proc/$worker/stat"; }
tck=$(getconf CLK_TCK)
before=$(cpu)
out=$(ip netns exec "$ns" wrk -t1 -c8 -d4s https://198.18.9.1:8443/bench 2>&1)
after=$(cpu)
n=$(awk '/requests in/ {print $1}' <<<"$out")
errors=$(grep -cE 'Non-2xx|Socket errors' <<<"$out" || true)
[ -n "$n" ] && [ "$n" -gt 0 ] && [ "$errors" = 0 ] || { echo "vs-nginx.sh: wrk: $out" >&2; exit 1; }
ours=$("$bench" --requests 50000 --body 100)
python3 - "$ours" "$n" "$(((after - before) * 1000000 / tck))" <<'PY'
import json, sys
ours, n, cpu_us = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ng = cpu_us / n
hz = ours["tsc_hz"]
res = {"sluice_us_per_request": ours["gateway_us_per_request"],
       "sluice_cycles_per_request": ours["gateway_cycles_per_request"],
       "nginx_us_per_request": round(ng, 2), "nginx_cycles_per_request": round(ng * hz / 1e6),
       "nginx_requests": n, "ratio": round(ng / ours["gateway_us_per_request"], 2)}
print(json.dumps(res))
print("| HTTPS keep-alive, proxied, 100-byte body | Sluice | nginx | nginx / Sluice |")
print("|---|---|---|---|")
print("| CPU per request | %.2f µs (%d cycles) | %.2f µs (%d cycles) | %.2f |" % (
    res["sluice_us_per_request"], res["sluice_cycles_per_request"], res["nginx_us_per_request"],
    res["nginx_cycles_per_request"], res["ratio"]))
PY
