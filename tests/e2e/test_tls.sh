#!/usr/bin/env bash
# End to end, a TLS listener with SNI passthrough (docs/tls.md): real TLS clients (curl with
# TLS 1.3 and 1.2, openssl s_client, Python's ssl, wrk over https) reach TLS servers in pod
# namespaces through the gateway on port 443, routed by the server name in the ClientHello —
# also when the ClientHello spans two segments and when it is cut into several records. Names
# the gateway does not pass through, a ClientHello without a name and plain HTTP on 443 get
# TLS alerts and are counted.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/topology.sh"
SLUICE=${SLUICE:?path to the sluice binary}
e2e_init "sltls$$-"
hosts_dir=/etc/netns/${P}client
cleanup_tls() {
	rm -rf "$hosts_dir"
	e2e_cleanup
}
trap cleanup_tls EXIT

topo_up "$P"

# A test CA and one certificate per pod: pod1 serves tls.example, pod2 *.wild.example.
cd "$work"
. "$here/lib/certs.sh"
certs_ca
certs_leaf tls DNS:tls.example
certs_leaf wild 'DNS:*.wild.example'
for i in 1 2; do
	cert=$([ "$i" = 1 ] && echo tls || echo wild)
	mkdir -p "$work/pod$i"
	echo "tls pod$i" >"$work/pod$i/index.html"
	cat >"$work/nginx$i.conf" <<NGX
daemon off;
user root;
worker_processes 1;
pid $work/nginx-$i.pid;
error_log $work/nginx-$i.err;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/tmp;
    proxy_temp_path $work/tmp;
    fastcgi_temp_path $work/tmp;
    uwsgi_temp_path $work/tmp;
    scgi_temp_path $work/tmp;
    server {
        listen 8443 ssl;
        ssl_certificate $work/$cert.pem;
        ssl_certificate_key $work/$cert.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $work/pod$i;
        keepalive_requests 100000;
    }
    server { listen 8080; root $work/pod$i; }
}
NGX
	ip netns exec "${P}pod$i" nginx -c "$work/nginx$i.conf" >/dev/null 2>&1 &
done
wait_for 10 ip netns exec "${P}pod2" curl -sfk --max-time 1 https://127.0.0.1:8443/ ||
	fail "TLS pods did not start"

mkdir -p "$work/manifests"
cp "$here/manifests/"*.yaml "$work/manifests/"
cat >"$work/manifests/50-tls.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: tls-a, namespace: e2e}
spec: {ports: [{name: https, port: 443, targetPort: 8443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: tls-a-1, namespace: e2e, labels: {kubernetes.io/service-name: tls-a}}
addressType: IPv4
ports: [{name: https, port: 8443}]
endpoints:
  - addresses: ["198.19.0.11"]
---
apiVersion: v1
kind: Service
metadata: {name: tls-b, namespace: e2e}
spec: {ports: [{name: https, port: 443, targetPort: 8443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: tls-b-1, namespace: e2e, labels: {kubernetes.io/service-name: tls-b}}
addressType: IPv4
ports: [{name: https, port: 8443}]
endpoints:
  - addresses: ["198.19.0.12"]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: passthrough
  namespace: e2e
  annotations: {sluice.dev/ssl-passthrough: "true"}
spec:
  ingressClassName: sluice
  rules:
    - host: tls.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: tls-a, port: {name: https}}}}
    - host: "*.wild.example"
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: tls-b, port: {name: https}}}}
YAML

# Certificates from spec.tls (compiled beside the routes; served once a listener terminates):
# a good Secret, one whose key does not match, one that is missing.
certs_leaf site DNS:site.example
{
	certs_secret site-tls site.pem site.key
	echo ---
	certs_secret broken-tls tls.pem wild.key
	echo ---
	cat <<'YAML'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: terminate, namespace: e2e}
spec:
  ingressClassName: sluice
  tls:
    - {hosts: [site.example], secretName: site-tls}
    - {hosts: [broken.example], secretName: broken-tls}
    - {hosts: [missing.example], secretName: no-such-secret}
  rules:
    - host: site.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
YAML
} >"$work/manifests/60-certs.yaml"

mport=$((20000 + $$ % 20000))
TOPO_LISTEN="[80, 443]" topo_write_config "$work/sluice.conf" "$P" "$mport" "[1]" \
	"$work/manifests"
# Passthrough only: names no passthrough Ingress takes are refused, not terminated (the
# terminating listener has its own test, test_https.sh).
echo 'tls = { terminate = false; };' >>"$work/sluice.conf"
gw_start "$work/sluice.conf" "$mport"
gauge() { # full metric name → summed value
	ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics" |
		awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {printf "%.0f\n", s}'
}
metric() { gauge "sluice_$1_total"; }
V=$TOPO_VIP
in_client() { ip netns exec "${P}client" "$@"; }
https() { # name [curl args...]: the body of https://name/
	local name=$1
	shift
	in_client curl -sS --max-time 10 --cacert "$work/ca.pem" --resolve "$name:443:$V" "$@" \
		"https://$name/"
}

[ "$(https tls.example --tlsv1.3)" = "tls pod1" ] || fail "TLS 1.3 to tls.example not passed to pod1"
[ "$(https tls.example --tlsv1.2 --tls-max 1.2)" = "tls pod1" ] ||
	fail "TLS 1.2 to tls.example not passed to pod1"
[ "$(https a.wild.example)" = "tls pod2" ] || fail "*.wild.example not passed to pod2"
[ "$(https TLS.Example)" = "tls pod1" ] || fail "a server name in capitals not routed"
echo "ok: curl over TLS 1.3 and 1.2, exact and wildcard names, verified against the pod's certificate"

# A ClientHello beyond one segment (an ffdhe8192 key share, a long ALPN list) and one cut into
# several 512-byte records: both routed, the pod's answer comes back.
alpn=$(python3 -c 'print(",".join("proto-%03d" % i for i in range(120)) + ",http/1.1")')
big=$(printf 'GET / HTTP/1.1\r\nHost: tls.example\r\nConnection: close\r\n\r\n' |
	in_client timeout 10 openssl s_client -connect "$V:443" -servername tls.example \
		-CAfile "$work/ca.pem" -groups ffdhe8192:X25519 -alpn "$alpn" -msg -quiet 2>&1 ||
	true)
echo "$big" | grep -q "tls pod1" || { echo "$big" | tail -5 >&2; fail "a two-segment ClientHello was not routed"; }
# s_client -msg: ">>> TLS 1.3, Handshake [length 0829], ClientHello" (hexadecimal)
hello_len=$(echo "$big" | sed -n 's/^>>> .*Handshake \[length \([0-9a-f]*\)\], ClientHello.*/\1/p' |
	head -1)
hello_len=$((16#${hello_len:-0}))
[ "${hello_len:-0}" -gt 1460 ] || fail "the ClientHello was ${hello_len:-?} bytes: not past one segment"
frag=$(printf 'GET / HTTP/1.1\r\nHost: x.wild.example\r\nConnection: close\r\n\r\n' |
	in_client timeout 10 openssl s_client -connect "$V:443" -servername x.wild.example \
		-CAfile "$work/ca.pem" -alpn "$alpn" -max_send_frag 512 -msg -quiet 2>&1 || true)
echo "$frag" | grep -q "tls pod2" || { echo "$frag" | tail -5 >&2; fail "a ClientHello in several records was not routed"; }
records=$(echo "$frag" | sed '/ClientHello/q' | grep -c '^>>> .*RecordHeader' || true)
[ "$records" -ge 2 ] || fail "the ClientHello went in $records record(s), not several"
echo "ok: a $hello_len-byte ClientHello over two segments, and one in $records records"

# Python's ssl, verifying, with ALPN.
in_client python3 - "$V" "$work/ca.pem" <<'PY' || fail "Python ssl client"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.set_alpn_protocols(["http/1.1"])
with socket.create_connection((sys.argv[1], 443), timeout=10) as s:
    with ctx.wrap_socket(s, server_hostname="deep.wild.example") as t:
        t.sendall(b"GET / HTTP/1.1\r\nHost: deep.wild.example\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := t.recv(4096):
            data += chunk
assert data.endswith(b"tls pod2\n"), data[-200:]
assert t.selected_alpn_protocol() in (None, "http/1.1")
PY
echo "ok: Python ssl (verified, ALPN)"

# Refusals: a TLS alert each, counted, and nothing reaches a pod.
out=$(echo | in_client timeout 10 openssl s_client -connect "$V:443" -servername nope.example 2>&1 || true)
echo "$out" | grep -q "unrecognized name" || { echo "$out" | tail -5 >&2; fail "an unknown name did not get unrecognized_name"; }
out=$(echo | in_client timeout 10 openssl s_client -connect "$V:443" -noservername 2>&1 || true)
echo "$out" | grep -q "unrecognized name" || fail "a ClientHello without a name did not get unrecognized_name"
plain=$(in_client curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H 'Host: tls.example' "http://$V:443/" || true)
[ "$plain" = "000" ] || fail "plain HTTP on 443 got an HTTP answer ($plain)"
[ "$(metric tls_no_route)" -ge 1 ] || fail "tls_no_route not counted"
[ "$(metric tls_no_server_name)" -ge 1 ] || fail "tls_no_server_name not counted"
[ "$(metric tls_hello_refused)" -ge 1 ] || fail "tls_hello_refused not counted"
echo "ok: unknown name and no name get unrecognized_name, HTTP on 443 decode_error; all counted"

# Plain HTTP on port 80 is untouched beside the TLS listener.
[ "$(in_client curl -s --max-time 5 -H 'Host: shop.example' "http://$V/")" = "tls pod1" ] ||
	fail "HTTP on port 80 not routed"
echo "ok: HTTP on port 80 beside it"

# wrk over https through the passthrough: kept-alive TLS connections, zero errors.
mkdir -p "$hosts_dir"
printf '%s tls.example\n' "$V" >"$hosts_dir/hosts"
before=$(metric tls_passthrough)
res=$(in_client timeout 30 wrk -t1 -c16 -d3s "https://tls.example/" 2>&1) || {
	echo "$res" >&2
	fail "wrk over https"
}
reqs=$(wrk_clean "$res" 100 "https")
after=$(metric tls_passthrough)
[ $((after - before)) -ge 16 ] || fail "wrk's connections were not passed through ($before → $after)"
echo "ok: wrk over https: $reqs requests on $((after - before)) connections, no errors"

# The certificates: one in use, two Secrets reported by name with the reason, the generated
# default in place; rotating the good Secret re-parses that one Secret only.
[ "$(gauge sluice_tls_certificates)" = 1 ] || fail "tls_certificates is $(gauge sluice_tls_certificates), want 1"
[ "$(gauge sluice_tls_secret_errors)" = 2 ] || fail "tls_secret_errors is $(gauge sluice_tls_secret_errors), want 2"
[ "$(gauge sluice_tls_default_certificate_self_signed)" = 1 ] || fail "no self-signed default reported"
grep -q "Secret e2e/broken-tls (spec.tls\[1\] of Ingress e2e/terminate): tls.key does not match the certificate in tls.crt; hosts broken.example get the default certificate" "$work/gw.log" ||
	fail "the broken Secret was not logged with its reason"
grep -q "Secret e2e/no-such-secret (spec.tls\[2\] of Ingress e2e/terminate): not found" "$work/gw.log" ||
	fail "the missing Secret was not logged"
parses=$(metric tls_secret_parses)
certs_leaf site DNS:site.example # a new certificate for the same Secret
{
	certs_secret site-tls site.pem site.key
	echo ---
	certs_secret broken-tls tls.pem wild.key
	sed -n '/^apiVersion: networking/,$p' "$work/manifests/60-certs.yaml" | sed '1i ---'
} >"$work/manifests/60-certs.yaml.new"
mv "$work/manifests/60-certs.yaml.new" "$work/manifests/60-certs.yaml"
wait_for 10 sh -c "[ \$(ip netns exec ${P}gw curl -s http://127.0.0.1:$mport/metrics | awk '/^sluice_tls_secret_parses_total/ {print \$2}') -gt $parses ]" ||
	fail "the rotated Secret was not parsed again"
[ "$(metric tls_secret_parses)" = $((parses + 1)) ] ||
	fail "rotation parsed $(( $(metric tls_secret_parses) - parses )) Secrets, not just the rotated one"
[ "$(gauge sluice_tls_certificates)" = 1 ] || fail "certificates after rotation: $(gauge sluice_tls_certificates)"
echo "ok: certificates from Secrets: one in use, a broken and a missing Secret reported by name; a rotation re-parses one Secret"

gw_stop
