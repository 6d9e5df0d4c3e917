#!/usr/bin/env bash
# What an operator reads after a known mix of requests: the per-route series (requests by
# Ingress, rule host and Service; the gateway's own answers by status code and route), the
# head and connect latency histograms, and build information — exact counts, and a page that
# Prometheus' own checker accepts when it is installed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/topology.sh"
SLUICE=${SLUICE:?path to the sluice binary}
e2e_init "slob$$-"

topo_up "$P"
nginx_pods
mkdir -p "$work/manifests"
cp "$here/manifests/"*.yaml "$work/manifests/"
mport=$((20000 + $$ % 20000))
topo_write_config "$work/sluice.conf" "$P" "$mport" "[1]" "$work/manifests"
gw_start "$work/sluice.conf" "$mport"
wait_for 20 ip netns exec "${P}client" curl -sf --max-time 2 -H 'Host: shop.example' \
	"http://$TOPO_VIP/" || fail "no route to shop.example"

page() { ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics"; }
# The value of one exact series line, 0 when absent.
value() { printf '%s\n' "$1" | awk -v s="$2" 'substr($0, 1, length(s) + 1) == s " " { print $NF; f = 1 } END { if (!f) print 0 }'; }
before=$(page)

# The mix: 5 × shop.example/ (web), 3 × shop.example/api/ (api), 2 × an unknown host (404),
# 1 malformed head (400), 1 × empty.example (a Service with no endpoints: 503). One connection
# each (curl without reuse between invocations).
get() { ip netns exec "${P}client" curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Host: $1" "http://$TOPO_VIP$2"; }
for _ in 1 2 3 4 5; do [ "$(get shop.example /)" = 200 ] || fail "shop.example/ failed"; done
for _ in 1 2 3; do [ "$(get shop.example /api/)" = 200 ] || fail "shop.example/api/ failed"; done
for _ in 1 2; do [ "$(get nope.example /)" = 404 ] || fail "no 404 for an unknown host"; done
[ "$(get empty.example /)" = 503 ] || fail "no 503 for a Service without endpoints"
bad=$(ip netns exec "${P}client" python3 - "$TOPO_VIP" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], 80), timeout=5)
s.sendall(b"GET / HTTP/1.1\r\nHost: shop.example\r\nHost: other\r\n\r\n")
print(s.recv(100).split(b"\r\n")[0].decode())
PY
)
[ "$bad" = "HTTP/1.1 400 Bad Request" ] || fail "malformed head: $bad"
echo "ok: the mix answered as expected"

after=$(page)
delta() { echo $(($(value "$after" "$1") - $(value "$before" "$1"))); }
web='ingress="e2e/e2e",host="shop.example",service="e2e/web:http"'
api='ingress="e2e/e2e",host="shop.example",service="e2e/api:80"'
empty='ingress="e2e/e2e",host="empty.example",service="e2e/empty:80"'
none='ingress="",host="",service=""'
check() { # series expected
	local got
	got=$(delta "$1")
	[ "$got" -eq "$2" ] || fail "$1: expected +$2, saw +$got"
	echo "ok: $1 +$got"
}
check "sluice_route_requests_total{$web}" 5
check "sluice_route_requests_total{$api}" 3
check "sluice_route_requests_total{$empty}" 1
check "sluice_gateway_answers_total{code=\"404\",$none}" 2
check "sluice_gateway_answers_total{code=\"400\",$none}" 1
check "sluice_gateway_answers_total{code=\"503\",$empty}" 1
# Heads routed or unroutable (the malformed one is neither); pods connected for 8 of them.
check "sluice_head_seconds_count" 11
check "sluice_connect_seconds_count" 8
check 'sluice_head_seconds_bucket{le="+Inf"}' 11
printf '%s\n' "$after" | grep -q '^sluice_build_info{version="[^"]*",dpdk="DPDK [^"]*"} 1$' ||
	fail "no build information"
printf '%s\n' "$after" | grep -q '^sluice_http_local_' && fail "per-code families are gone"
echo "ok: build information"

if command -v promtool >/dev/null; then
	printf '%s\n' "$after" | promtool check metrics >"$work/promtool.out" 2>&1 ||
		{ cat "$work/promtool.out"; fail "promtool refuses the page"; }
	echo "ok: promtool check metrics"
fi

gw_stop
