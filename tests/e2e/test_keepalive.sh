#!/usr/bin/env bash
# Per-request routing on kept-alive connections (docs/tcp.md): one client connection asks for
# shop.example/ (Service web, pod1) and shop.example/api/ (Service api, pod2) in turn; every
# answer comes from the right pod although curl reuses one connection, and wrk alternating the
# two paths on 20 kept-alive connections sees no error.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/topology.sh"
SLUICE=${SLUICE:?path to the sluice binary}
e2e_init "slka$$-"

topo_up "$P"
nginx_pods 'server { listen 8082 proxy_protocol; location / { return 200 "client=$proxy_protocol_addr:$proxy_protocol_port peer=$remote_addr\n"; } }'
mkdir -p "$work/manifests"
cp "$here/manifests/"*.yaml "$work/manifests/"
cat >"$work/manifests/40-proxy.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: pp, namespace: e2e}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: pp-1, namespace: e2e, labels: {kubernetes.io/service-name: pp}}
addressType: IPv4
ports: [{name: http, port: 8082}]
endpoints:
  - addresses: ["198.19.0.11"]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: pp
  namespace: e2e
  annotations: {sluice.dev/proxy-protocol: "v2"}
spec:
  ingressClassName: sluice
  rules:
    - host: pp.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: pp, port: {number: 80}}}}
YAML
mport=$((20000 + $$ % 20000))
topo_write_config "$work/sluice.conf" "$P" "$mport" "[1]" "$work/manifests"
gw_start "$work/sluice.conf" "$mport"

# One curl, four URLs: curl keeps the connection (num_connects 0 after the first).
out=$(ip netns exec "${P}client" curl -s --max-time 10 -H 'Host: shop.example' \
	-w '[%{num_connects}]\n' \
	"http://$TOPO_VIP/" "http://$TOPO_VIP/api/" "http://$TOPO_VIP/" "http://$TOPO_VIP/api/")
echo "$out"
expect=$'pod1\n[1]\npod2-api\n[0]\npod1\n[0]\npod2-api\n[0]'
[ "$out" = "$expect" ] || fail "per-request routing on one connection: got $(printf '%q' "$out")"
echo "ok: one connection, each request routed by its own path"

page=$(ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics")
rebinds=$(printf '%s\n' "$page" | awk '/^sluice_http_rebinds_total/ { print $2 }')
[ "${rebinds:-0}" -eq 3 ] || fail "expected 3 rebinds, saw ${rebinds:-0}"
echo "ok: $rebinds rebinds counted"

# Same path again and again on a connection: it stays with its pod (no rebinding).
ip netns exec "${P}client" curl -s --max-time 10 -H 'Host: shop.example' \
	"http://$TOPO_VIP/api/" "http://$TOPO_VIP/api/" "http://$TOPO_VIP/api/" >/dev/null
page=$(ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics")
rebinds2=$(printf '%s\n' "$page" | awk '/^sluice_http_rebinds_total/ { print $2 }')
[ "$rebinds2" -eq "$rebinds" ] || fail "requests for the same Service moved the connection"
echo "ok: same-Service requests stay on the connection"

# PROXY protocol v2: the pod learns the client's own address although it talks to the SNAT one.
pp=$(ip netns exec "${P}client" curl -s --max-time 5 -H 'Host: pp.example' "http://$TOPO_VIP/")
echo "$pp"
case "$pp" in
"client=$TOPO_CLIENT_IP:"*" peer=$TOPO_SNAT") ;;
*) fail "PROXY v2: the pod saw $pp (client $TOPO_CLIENT_IP, SNAT $TOPO_SNAT)" ;;
esac
echo "ok: PROXY v2 gives the pod the client's address"

cat >"$work/alt.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  if n % 2 == 0 then return wrk.format("GET", "/api/") end
  return wrk.format("GET", "/")
end
LUA
ip netns exec "${P}client" wrk -t 1 -c 20 -d 5s --timeout 5s -s "$work/alt.lua" \
	-H 'Host: shop.example' "http://$TOPO_VIP/" >"$work/wrk.txt" 2>&1 || fail "wrk failed"
cat "$work/wrk.txt"
grep -q "Socket errors" "$work/wrk.txt" && fail "wrk saw socket errors"
grep -q "Non-2xx" "$work/wrk.txt" && fail "wrk saw non-2xx responses"
reqs=$(awk '/requests in/ { print $1 }' "$work/wrk.txt")
[ "${reqs:-0}" -gt 100 ] || fail "too few requests: ${reqs:-0}"
echo "ok: $reqs alternating requests on kept-alive connections, no error"
gw_stop
