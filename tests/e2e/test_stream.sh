#!/usr/bin/env bash
# Per-request routing with real clients: every request on a connection reaches the Service its
# own host and path route to, whatever the client does with the connection.
#   - wrk pipelining 8 requests at a time, alternating two Services, on 8 connections: every
#     response comes from the right pod (the pods echo their address and the request's path);
#   - curl uploads a chunked body to one Service and then asks another on the same connection;
#   - Python sends two pipelined requests for different Services in one write, a request cut
#     inside its head across writes, and a malformed second request (400 after the first
#     response, then close);
#   - wrk with a new connection per request (Connection: close), 200 connections for 10 s:
#     zero errors. This failed before the gateway gave pods its own timestamp clock and reset
#     their TIME-WAIT on a bare ACK.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/topology.sh"
SLUICE=${SLUICE:?path to the sluice binary}
e2e_init "slst$$-"

topo_up "$P"
# Port 8083 on each pod answers with its own address and the request's path (and reads bodies).
nginx_pods 'server { listen 8083; keepalive_requests 100000; client_max_body_size 10m;
	location / { return 200 "$server_addr $request_uri\n"; } }'
mkdir -p "$work/manifests"
cp "$here/manifests/"*.yaml "$work/manifests/"
cat >"$work/manifests/50-echo.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: echo1, namespace: e2e}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo1-1, namespace: e2e, labels: {kubernetes.io/service-name: echo1}}
addressType: IPv4
ports: [{name: http, port: 8083}]
endpoints: [{addresses: ["198.19.0.11"]}]
---
apiVersion: v1
kind: Service
metadata: {name: echo2, namespace: e2e}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo2-1, namespace: e2e, labels: {kubernetes.io/service-name: echo2}}
addressType: IPv4
ports: [{name: http, port: 8083}]
endpoints: [{addresses: ["198.19.0.12"]}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: echo, namespace: e2e}
spec:
  ingressClassName: sluice
  rules:
    - host: echo.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: echo1, port: {number: 80}}}}
          - {path: /api, pathType: Prefix, backend: {service: {name: echo2, port: {number: 80}}}}
YAML
mport=$((20000 + $$ % 20000))
topo_write_config "$work/sluice.conf" "$P" "$mport" "[1]" "$work/manifests"
gw_start "$work/sluice.conf" "$mport"
metric() {
	ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics" |
		awk -v m="$1" '$1 ~ "^"m"(\\{|$)" { s += $2 } END { printf "%.0f\n", s }'
}

# 1. Pipelining across two Services.
cat >"$work/pipe.lua" <<'LUA'
-- 8 requests per write, alternating / and /api/; each answer names the pod and the path.
local reqs = {}
for i = 1, 8 do
  local path = (i % 2 == 0) and ("/api/p" .. i) or ("/p" .. i)
  reqs[#reqs + 1] = wrk.format("GET", path)
end
local batch = table.concat(reqs)
request = function() return batch end
bad, good = 0, 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1; return end
  local addr, path = body:match("^(%S+) (%S+)")
  local api = path and path:sub(1, 5) == "/api/"
  if (api and addr == "198.19.0.12") or (path and not api and addr == "198.19.0.11") then
    good = good + 1
  else
    bad = bad + 1
  end
end
local threads = {}
setup = function(t) threads[#threads + 1] = t end
done = function()
  local b, g = 0, 0
  for _, t in ipairs(threads) do b = b + t:get("bad"); g = g + t:get("good") end
  io.write(string.format("pipelined answers: %d right, %d wrong\n", g, b))
end
LUA
ip netns exec "${P}client" wrk -t 2 -c 8 -d 5s --timeout 5s -s "$work/pipe.lua" \
	-H 'Host: echo.example' "http://$TOPO_VIP/" >"$work/pipe.txt" 2>&1 || fail "wrk failed"
cat "$work/pipe.txt"
grep -q "Socket errors" "$work/pipe.txt" && fail "pipelining: socket errors"
right=$(awk '/pipelined answers:/ { print $3 }' "$work/pipe.txt")
wrong=$(awk '/pipelined answers:/ { print $5 }' "$work/pipe.txt")
[ "${wrong:-1}" -eq 0 ] || fail "pipelining: $wrong answers from the wrong pod"
[ "${right:-0}" -gt 1000 ] || fail "pipelining: too few answers (${right:-0})"
echo "ok: $right pipelined answers, each from the pod its path routes to"

# 2. A chunked upload to one Service, then another Service on the same connection.
head -c 300000 /dev/urandom >"$work/up.bin"
out=$(ip netns exec "${P}client" curl -s --max-time 10 -H 'Host: echo.example' \
	-H 'Transfer-Encoding: chunked' --data-binary @"$work/up.bin" -w ' [%{num_connects}]\n' \
	"http://$TOPO_VIP/upload" --next -H 'Host: echo.example' -w ' [%{num_connects}]\n' \
	"http://$TOPO_VIP/api/after")
echo "$out"
expect=$'198.19.0.11 /upload\n [1]\n198.19.0.12 /api/after\n [0]'
[ "$out" = "$expect" ] || fail "chunked upload then another Service: got $(printf '%q' "$out")"
echo "ok: a chunked upload, then a request for another Service on the same connection"

# 3. Raw clients: pipelined requests in one write, a head cut across writes, a bad request.
ip netns exec "${P}client" python3 - "$TOPO_VIP" <<'PY' || fail "raw clients"
import socket, sys, time
vip = sys.argv[1]
def conv(parts, pause=0.05):
    s = socket.create_connection((vip, 80), timeout=5)
    for p in parts:
        s.sendall(p)
        time.sleep(pause)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out
a = b"GET /one HTTP/1.1\r\nHost: echo.example\r\n\r\n"
b = b"GET /api/two HTTP/1.1\r\nHost: echo.example\r\nConnection: close\r\n\r\n"
r = conv([a + b])
assert b"198.19.0.11 /one" in r and b"198.19.0.12 /api/two" in r, r
assert r.index(b"198.19.0.11 /one") < r.index(b"198.19.0.12 /api/two"), r
r = conv([a, b[:9], b[9:30], b[30:]])
assert b"198.19.0.11 /one" in r and b"198.19.0.12 /api/two" in r, r
bad = b"GET /api/x HTTP/1.1\r\nHost: echo.example\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"
r = conv([a + bad])
assert b"198.19.0.11 /one" in r, r
assert r.count(b"HTTP/1.1 400") == 1 and b"198.19.0.12" not in r, r
assert r.index(b"198.19.0.11 /one") < r.index(b"HTTP/1.1 400"), r
smuggle = b"GET /a HTTP/1.1\r\nHost: echo.example\r\nTransfer-Encoding: chunked\r\n\r\n" \
          b"0x5\r\nGET /api/s HTTP/1.1\r\nHost: echo.example\r\n\r\n\r\n0\r\n\r\n"
r = conv([a + smuggle])
assert b"198.19.0.12" not in r, r
print("raw clients: pipelined, cut heads, 400 after the first answer, a chunk smuggle refused")
PY
echo "ok: pipelined requests in one write, heads cut across writes, a malformed later request"
held=$(metric sluice_http_held_total)
[ "$held" -gt 0 ] || fail "no request was held"
echo "ok: $held requests held before routing"

# 4. A new connection per request under load: zero errors.
ip netns exec "${P}client" wrk -t 2 -c 200 -d 10s --timeout 5s -H 'Connection: close' \
	-H 'Host: shop.example' "http://$TOPO_VIP/" >"$work/close.txt" 2>&1 ||
	fail "wrk (close) failed"
cat "$work/close.txt"
grep -q "Socket errors" "$work/close.txt" && fail "Connection: close load: socket errors"
grep -q "Non-2xx" "$work/close.txt" && fail "Connection: close load: non-2xx responses"
rps=$(awk '/Requests\/sec/ { print $2 }' "$work/close.txt")
echo "ok: Connection: close, 200 connections for 10 s, no error ($rps requests/s)"
echo "pods in TIME-WAIT reset: $(metric sluice_pod_time_wait_total)"
gw_stop
