#!/usr/bin/env bash
# End to end, TLS terminated by the gateway (docs/tls.md#terminated-connections): on port 443 a
# name that no passthrough Ingress takes is terminated with the certificate from its Ingress's
# spec.tls Secret; every request is routed by its own host and path to nginx pods, with
# X-Forwarded-* set by the gateway. Real clients: curl (TLS 1.3 and 1.2, verified against the
# test CA, keep-alive across Services), openssl s_client (the default certificate, resumption
# from a ticket, ALPN), Python's ssl (a 1 MiB download byte-exact), wrk over https with zero
# errors; a passthrough name on the same port still reaches its pod's own TLS.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/topology.sh"
SLUICE=${SLUICE:?path to the sluice binary}
e2e_init "slhttps$$-"
hosts_dir=/etc/netns/${P}client
cleanup_https() {
	rm -rf "$hosts_dir"
	e2e_cleanup
}
trap cleanup_https EXIT

topo_up "$P"
cd "$work"
. "$here/lib/certs.sh"
certs_ca
certs_leaf shop 'DNS:shop.example,DNS:headers.example,DNS:open.example'
certs_leaf wild 'DNS:*.wild.example'
certs_leaf pass DNS:pass.example

# pod1 and pod2: nginx on 8080 (pod1/pod2 content), pod2 also echoes the X-Forwarded-*
# fields it receives on 8082; pod1 also terminates TLS itself on 8443 (the passthrough name).
nginx_pods "
    server { listen 8082; location / { default_type text/plain;
        return 200 \"xff=\$http_x_forwarded_for proto=\$http_x_forwarded_proto host=\$http_x_forwarded_host port=\$http_x_forwarded_port\n\"; } }
    server { listen 8443 ssl; ssl_certificate $work/pass.pem; ssl_certificate_key $work/pass.key;
        ssl_protocols TLSv1.2 TLSv1.3; root $work/pod1; }"
head -c 1048576 /dev/urandom >"$work/pod1/big.bin"

mkdir -p "$work/manifests"
cp "$here/manifests/"*.yaml "$work/manifests/"
{
	certs_secret shop-tls shop.pem shop.key
	echo ---
	certs_secret wild-tls wild.pem wild.key
	echo ---
	cat <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: headers, namespace: e2e}
spec: {ports: [{name: http, port: 80, targetPort: 8082}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: headers-1, namespace: e2e, labels: {kubernetes.io/service-name: headers}}
addressType: IPv4
ports: [{name: http, port: 8082}]
endpoints:
  - addresses: ["198.19.0.12"]
---
apiVersion: v1
kind: Service
metadata: {name: pass, namespace: e2e}
spec: {ports: [{name: https, port: 443, targetPort: 8443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: pass-1, namespace: e2e, labels: {kubernetes.io/service-name: pass}}
addressType: IPv4
ports: [{name: https, port: 8443}]
endpoints:
  - addresses: ["198.19.0.11"]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: secure, namespace: e2e}
spec:
  ingressClassName: sluice
  tls:
    - {hosts: [shop.example, headers.example], secretName: shop-tls}
    - {hosts: ["*.wild.example"], secretName: wild-tls}
  rules:
    - host: headers.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: headers, port: {number: 80}}}}
    - host: "*.wild.example"
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: pass
  namespace: e2e
  annotations: {sluice.dev/ssl-passthrough: "true"}
spec:
  ingressClassName: sluice
  rules:
    - host: pass.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: pass, port: {name: https}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: open
  namespace: e2e
  annotations: {sluice.dev/ssl-redirect: "false"}
spec:
  ingressClassName: sluice
  tls:
    - {hosts: [open.example], secretName: shop-tls}
  rules:
    - host: open.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
    - host: plain.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
YAML
} >"$work/manifests/60-secure.yaml"

mport=$((20000 + $$ % 20000))
TOPO_LISTEN="[80, 443]" topo_write_config "$work/sluice.conf" "$P" "$mport" "[1]" \
	"$work/manifests"
# One client address may hold 4 terminated connections (the hostile-client checks below).
sed -i 's/^limits = {/limits = { terminated_per_client = 4;/' "$work/sluice.conf"
echo "access_log = { enabled = true; path = \"$work/access.log\"; };" >>"$work/sluice.conf"
gw_start "$work/sluice.conf" "$mport"
gauge() { # full metric name → summed value
	ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics" |
		awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {printf "%.0f\n", s}'
}
metric() { gauge "sluice_$1_total"; }
V=$TOPO_VIP
in_client() { ip netns exec "${P}client" "$@"; }
https() { # name path [curl args...]: the body of https://name/path, verified against the CA
	local name=$1 path=$2
	shift 2
	in_client curl -sS --max-time 10 --cacert "$work/ca.pem" --resolve "$name:443:$V" "$@" \
		"https://$name$path"
}

# Routed per request, by host and path, over TLS 1.3 and 1.2.
[ "$(https shop.example / --tlsv1.3)" = pod1 ] || fail "TLS 1.3: shop.example/ did not reach pod1"
[ "$(https shop.example /api/ --tlsv1.2 --tls-max 1.2)" = pod2-api ] ||
	fail "TLS 1.2: shop.example/api/ did not reach pod2"
[ "$(https a.wild.example /api/)" = pod2-api ] || fail "a wildcard certificate's host not served"
echo "ok: curl over TLS 1.3 and 1.2 verified against spec.tls certificates, routed by host and path"

# One connection, two Services: each request routed on its own.
out=$(in_client curl -sS --max-time 10 --cacert "$work/ca.pem" --resolve "shop.example:443:$V" \
	-w '%{num_connects}\n' https://shop.example/ https://shop.example/api/ https://shop.example/)
[ "$(echo "$out" | tr '\n' ' ')" = "pod1 1 pod2-api 0 pod1 0 " ] ||
	fail "keep-alive across Services: got $(echo "$out" | tr '\n' ' ')"
echo "ok: three requests on one kept-alive TLS connection, each routed by its own path"

# X-Forwarded-*: set by the gateway, whatever the client claims.
xf=$(https headers.example / -H 'X-Forwarded-For: 6.6.6.6' -H 'X-Forwarded-Proto: http' \
	-H 'X-Forwarded-Host: evil.example' -H 'X-Forwarded-Port: 1')
[ "$xf" = "xff=$TOPO_CLIENT_IP proto=https host=headers.example port=443" ] ||
	fail "X-Forwarded-* at the pod: '$xf'"
echo "ok: X-Forwarded-For/-Proto/-Host/-Port replaced by the gateway's ($xf)"

# The access log: a line per terminated request, with the pod's status (the gateway reads it),
# the pod, the route and the client's X-Request-ID; the gateway's own answers too.
https shop.example /api/ -H 'X-Request-ID: https-rid-1' >/dev/null
in_client curl -sk --max-time 5 --resolve "nolog.example:443:$V" -o /dev/null https://nolog.example/
wait_for 5 grep -q https-rid-1 "$work/access.log" || fail "no access log line for a terminated request"
python3 - "$work/access.log" <<'PY' || fail "access log lines of terminated requests"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
r = [x for x in rows if x["x_request_id"] == "https-rid-1"][0]
assert r["outcome"] == "forwarded" and r["status"] == 200, r
assert r["pod"] == "198.19.0.12:8080" and r["vip"] == "198.18.0.10:443", r
assert r["host"] == "shop.example" and r["target"] == "/api/" and r["method"] == "GET", r
assert r["ingress"] == "e2e/e2e" and r["service"] == "e2e/api:80", r
n = [x for x in rows if x["host"] == "nolog.example"][0]
assert n["outcome"] == "answered" and n["status"] == 404 and n["bytes_out"] > 0, n
PY
echo "ok: access log lines for terminated requests (the pod's status, the gateway's 404)"

# A 1 MiB download through Python's ssl, byte-exact, with ALPN.
in_client python3 - "$V" "$work/ca.pem" "$work/pod1/big.bin" <<'PY' || fail "Python ssl download"
import hashlib, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.set_alpn_protocols(["http/1.1"])
want = hashlib.sha256(open(sys.argv[3], "rb").read()).hexdigest()
with socket.create_connection((sys.argv[1], 443), timeout=20) as s:
    with ctx.wrap_socket(s, server_hostname="shop.example") as t:
        assert t.selected_alpn_protocol() == "http/1.1", t.selected_alpn_protocol()
        t.sendall(b"GET /big.bin HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := t.recv(65536):
            data += chunk
head, _, body = data.partition(b"\r\n\r\n")
assert head.startswith(b"HTTP/1.1 200"), head[:100]
assert hashlib.sha256(body).hexdigest() == want, (len(body), "bytes, digest differs")
PY
echo "ok: Python ssl, ALPN http/1.1, 1 MiB byte-exact"

# A name without a certificate of its own gets the default (self-signed here); no route: 404.
out=$(echo | in_client timeout 10 openssl s_client -connect "$V:443" -servername nowhere.example 2>&1 || true)
echo "$out" | grep -q "Sluice default certificate" || { echo "$out" | tail -5 >&2; fail "no default certificate for an unknown name"; }
code=$(in_client curl -sk --max-time 10 -o /dev/null -w '%{http_code}' --resolve "nowhere.example:443:$V" https://nowhere.example/ || true)
[ "$code" = 404 ] || fail "an unrouted name over TLS got $code, not 404"
echo "ok: an unknown name gets the default certificate and a 404 over TLS"

# Resumption from a session ticket.
printf 'GET / HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n' |
	in_client timeout 10 openssl s_client -connect "$V:443" -servername shop.example \
		-CAfile "$work/ca.pem" -sess_out "$work/sess.pem" -ign_eof >/dev/null 2>&1 || true
[ -s "$work/sess.pem" ] || fail "no session ticket was issued"
out=$(printf 'GET / HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n' |
	in_client timeout 10 openssl s_client -connect "$V:443" -servername shop.example \
		-CAfile "$work/ca.pem" -sess_in "$work/sess.pem" -ign_eof 2>&1 || true)
echo "$out" | grep -q "^Reused, TLSv1.3" || { echo "$out" | grep -E "Reused|New," >&2; fail "the session was not resumed"; }
echo "$out" | grep -q "^pod1" || fail "the resumed session's request was not answered"
echo "ok: a session resumed from its ticket"

# The passthrough name on the same port: the pod's own certificate, not terminated.
[ "$(https pass.example /)" = pod1 ] || fail "a passthrough name beside termination"
out=$(echo | in_client timeout 10 openssl s_client -connect "$V:443" -servername pass.example 2>&1 || true)
echo "$out" | grep -q "subject=CN = pass" || fail "the passthrough name was not served by its pod"
echo "ok: SNI passthrough beside termination on one port"

# wrk over https: kept-alive terminated connections, zero errors.
mkdir -p "$hosts_dir"
printf '%s shop.example\n' "$V" >"$hosts_dir/hosts"
before=$(metric term_requests)
res=$(in_client timeout 30 wrk -t1 -c4 -d3s "https://shop.example/" 2>&1) || {
	echo "$res" >&2
	fail "wrk over https"
}
reqs=$(wrk_clean "$res" 100 "https")
after=$(metric term_requests)
[ $((after - before)) -ge "$reqs" ] || fail "term_requests grew by $((after - before)), wrk made $reqs"
echo "ok: wrk over https: $reqs requests, no errors"

# A Service whose endpoints refuse (.13) or never answer (.99) beside a live one (.11): every
# request over TLS is still served — another endpoint is tried (the request waits in the
# gateway until a pod accepts), and the failed ones are ejected.
for i in 1 2 3 4 5 6; do
	got=$(in_client curl -sk --max-time 15 --resolve "flaky.example:443:$V" https://flaky.example/ || true)
	[ "$got" = pod1 ] || fail "flaky.example over TLS, request $i: '$got'"
done
[ "$(metric term_pod_retries)" -ge 1 ] || fail "term_pod_retries not counted"
echo "ok: refusing and silent endpoints: every request served by another ($(metric term_pod_retries) retries)"

# HTTP→HTTPS: plain HTTP for a host with spec.tls gets the gateway's 308 to the same URL (also
# for a later request on a kept-alive connection); a host without TLS, or whose Ingress says
# ssl-redirect "false", is served over plain HTTP.
loc=$(in_client curl -s --max-time 5 -o /dev/null -w '%{http_code} %{redirect_url}' \
	-H 'Host: headers.example:80' "http://$V/a/b?c=d&e")
[ "$loc" = "308 https://headers.example/a/b?c=d&e" ] || fail "plain HTTP to a TLS host: '$loc'"
long=$(printf 'a%.0s' $(seq 1600))
[ "$(in_client curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H 'Host: headers.example' "http://$V/$long")" = 414 ] ||
	fail "a redirect too long for one segment was not answered 414"
out=$(in_client curl -s --max-time 5 -H 'Host: plain.example' "http://$V/api/" "http://$V/api/")
[ "$(echo $out)" = "pod1-api pod1-api" ] || fail "a host without TLS over plain HTTP: '$out'"
[ "$(in_client curl -s --max-time 5 -H 'Host: open.example' "http://$V/")" = pod1 ] ||
	fail "a TLS host whose Ingress says ssl-redirect \"false\" was not served over HTTP"
[ "$(https open.example /)" = pod1 ] || fail "open.example over HTTPS"
chain=$(in_client curl -sL --max-time 10 --cacert "$work/ca.pem" --resolve "a.wild.example:443:$V" \
	--resolve "a.wild.example:80:$V" http://a.wild.example/api/)
[ "$chain" = pod2-api ] || fail "following the redirect over a wildcard host: '$chain'"
# A kept-alive plain connection: the first request stays on HTTP, the second, for a TLS
# host, is redirected after the first's answer.
two=$(in_client python3 - "$V" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], 80), timeout=10)
s.sendall(b"GET /api/ HTTP/1.1\r\nHost: plain.example\r\n\r\n"
          b"GET /x HTTP/1.1\r\nHost: headers.example\r\n\r\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
print(data.count(b"HTTP/1.1 200"), data.count(b"HTTP/1.1 308"),
      b"Location: https://headers.example/x\r\n" in data)
# An absolute-form target: the Location carries its path and query, not the scheme again.
s = socket.create_connection((sys.argv[1], 80), timeout=10)
s.sendall(b"GET http://headers.example/p/q?r=1 HTTP/1.1\r\nHost: headers.example\r\n\r\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
assert b"Location: https://headers.example/p/q?r=1\r\n" in data, data
PY
)
[ "$two" = "1 1 True" ] || fail "a kept-alive connection's second request, for a TLS host: '$two'"
n308=$(ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics" |
	awk '/^sluice_gateway_answers_total\{code="308"/ {s += $2} END {printf "%.0f\n", s}')
[ "$n308" -ge 3 ] || fail "308s counted: $n308"
echo "ok: plain HTTP for TLS hosts redirected with 308 (also mid-connection); others served"

# Hostile clients. (1) One address cannot hold more than its share of terminated connections:
# the fifth open one is refused with an alert. (2) A client that got its answer and our FIN
# but keeps its side open frees its record within seconds: then a new one is accepted.
# (3) A client that sends one byte of a TLS record and stops is reset within header_ms.
in_client python3 - "$V" "$work/ca.pem" <<'PY' || fail "hostile TLS clients"
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
def tls():
    s = socket.create_connection((sys.argv[1], 443), timeout=5)
    return ctx.wrap_socket(s, server_hostname="shop.example")
held = [tls() for _ in range(4)]
try:
    extra = tls()
    extra.sendall(b"GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n")
    got = extra.recv(100)
    raise SystemExit("a fifth connection from one address was served: %r" % got[:40])
except (ssl.SSLError, ConnectionError, OSError) as e:
    print("fifth refused:", type(e).__name__)
# Each held connection asks to close; the client reads the answer and keeps its socket open.
for t in held:
    t.sendall(b"GET / HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n")
    data = b""
    while b"pod1" not in data:
        data += t.recv(4096)
time.sleep(3.5)  # our FIN acknowledged, the client's never sent: released after 2 s
t = tls()
t.sendall(b"GET / HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n")
data = b""
while b"pod1" not in data and (chunk := t.recv(4096)):
    data += chunk
assert b"pod1" in data, "no record came back after the linger: %r" % data[:80]
t.close()
for h in held:
    h.close()
time.sleep(0.5)
# A partial record after the handshake: reset within header_ms (2 s here), not held idle.
t = tls()
raw = socket.socket(fileno=t.fileno())
raw.send(b"\x17")
t0 = time.monotonic()
raw.settimeout(6)
try:
    while raw.recv(4096):  # a session ticket may come first
        pass
except ConnectionResetError:
    pass
took = time.monotonic() - t0
raw.detach()
assert 1.5 < took < 4.5, "a stalled record held the connection %.1f s" % took
print("partial record reset after %.1f s" % took)
PY
[ "$(metric tls_terminated_over_cap)" -ge 1 ] || fail "tls_terminated_over_cap not counted"
[ "$(metric term_header_timeouts)" -ge 1 ] || fail "term_header_timeouts not counted"
echo "ok: one address limited to its share, lingering closers released, a stalled record reset"

# Counters: connections terminated, requests, kept-alive pod connections reused.
[ "$(metric tls_terminated)" -ge 20 ] || fail "tls_terminated is $(metric tls_terminated)"
[ "$(metric term_pod_reused)" -ge 100 ] || fail "term_pod_reused is $(metric term_pod_reused)"
[ "$(metric term_no_route)" -ge 1 ] || fail "term_no_route not counted"
[ "$(gauge sluice_tls_handshakes_total)" -ge 20 ] || fail "sluice_tls_handshakes_total is $(gauge sluice_tls_handshakes_total)"
[ "$(gauge sluice_tls_resumed_total)" -ge 1 ] || fail "no resumed handshake counted"
echo "ok: terminated connections, requests, reuse and handshakes counted"

gw_stop
