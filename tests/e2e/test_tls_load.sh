#!/usr/bin/env bash
# End to end, the terminating listener under load (bounded: about 10 s of traffic):
#  - a handshake flood (rounds of 48 connections at once, each sending a ClientHello and going
#    away after the server's flight) while kept-alive HTTPS clients (wrk) keep being served:
#    zero errors for wrk, and its requests keep flowing;
#  - during the same load, the Secret of the host wrk uses is rotated (new handshakes get the
#    new certificate within seconds) and another Secret is broken (its host falls back to the
#    default certificate, one log line); wrk on both the rotated and an unaffected host sees
#    zero errors.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/topology.sh"
. "$here/lib/certs.sh"
SLUICE=${SLUICE:?path to the sluice binary}
e2e_init "sltlsl$$-"
hosts_dir=/etc/netns/${P}client
cleanup_load() {
	rm -rf "$hosts_dir"
	e2e_cleanup
}
trap cleanup_load EXIT
topo_up "$P"
cd "$work"
certs_ca
certs_leaf shop DNS:shop.example
certs_leaf other DNS:other.example
certs_leaf broken DNS:broken.example
nginx_pods

manifest() { # the Secrets and the Ingress; $1: the shop certificate's name, $2: broken's key
	{
		certs_secret shop-tls "$1.pem" "$1.key"
		echo ---
		certs_secret other-tls other.pem other.key
		echo ---
		certs_secret broken-tls broken.pem "$2.key"
		echo ---
		cat <<'YAML'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: secure, namespace: e2e}
spec:
  ingressClassName: sluice
  tls:
    - {hosts: [shop.example], secretName: shop-tls}
    - {hosts: [other.example], secretName: other-tls}
    - {hosts: [broken.example], secretName: broken-tls}
  rules:
    - host: shop.example
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
    - host: other.example
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}]}
    - host: broken.example
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
YAML
	} >"$work/manifests/60-secure.yaml.new"
	mv "$work/manifests/60-secure.yaml.new" "$work/manifests/60-secure.yaml"
}
mkdir -p "$work/manifests"
cp "$here/manifests/"*.yaml "$work/manifests/"
manifest shop broken

mport=$((20000 + $$ % 20000))
TOPO_LISTEN="[80, 443]" topo_write_config "$work/sluice.conf" "$P" "$mport" "[1]" \
	"$work/manifests"
# The flood comes from one address: let it hold many handshakes at once.
sed -i 's/^limits = {/limits = { terminated_per_client = 1024;/' "$work/sluice.conf"
gw_start "$work/sluice.conf" "$mport"
V=$TOPO_VIP
in_client() { ip netns exec "${P}client" "$@"; }
metric() {
	ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics" |
		awk -v m="sluice_$1_total" '$1 ~ "^"m"({|$)" {s += $2} END {printf "%.0f\n", s}'
}
serial() { # name → the serial of the certificate the gateway serves it
	echo | in_client timeout 5 openssl s_client -connect "$V:443" -servername "$1" 2>/dev/null |
		openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
want_shop=$(openssl x509 -in shop.pem -noout -serial | cut -d= -f2)
want_other=$(openssl x509 -in other.pem -noout -serial | cut -d= -f2)
[ "$(serial shop.example)" = "$want_shop" ] || fail "shop.example's certificate before the load"
[ "$(serial broken.example)" = "$(openssl x509 -in broken.pem -noout -serial | cut -d= -f2)" ] ||
	fail "broken.example's certificate before the load"

mkdir -p "$hosts_dir"
printf '%s shop.example\n%s other.example\n' "$V" "$V" >"$hosts_dir/hosts"
cp ca.pem "$work/ca.crt"
# wrk verifies nothing; curl checks below verify against the CA.
in_client timeout 40 wrk -t1 -c2 -d10s https://shop.example/ >"$work/wrk-shop.txt" 2>&1 &
w1=$!
in_client timeout 40 wrk -t1 -c2 -d10s https://other.example/api/ >"$work/wrk-other.txt" 2>&1 &
w2=$!
sleep 1

# The flood: ClientHellos for other.example from a real client (Python's ssl builds it), sent
# on 48 connections at once, each closed once the server's first flight arrives. 7 s.
in_client python3 - "$V" >"$work/flood.txt" 2>&1 <<'PY' &
import asyncio, ssl, sys, time
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def hello():
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    o = ctx.wrap_bio(inc, out, server_hostname="other.example")
    try:
        o.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()
HELLO = hello()
sent = answered = 0
async def one():
    global sent, answered
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(sys.argv[1], 443), 2)
        w.write(HELLO)
        sent += 1
        if await asyncio.wait_for(r.read(100), 3):
            answered += 1
        w.close()
    except Exception:
        pass
async def main():
    end = time.monotonic() + 7
    while time.monotonic() < end:
        await asyncio.gather(*(one() for _ in range(48)))
asyncio.run(main())
print("flood: %d hellos sent, %d answered" % (sent, answered))
PY
flood=$!

# Meanwhile: rotate shop-tls, break broken-tls (its key no longer matches).
sleep 2
certs_leaf shop2 DNS:shop.example
want_shop2=$(openssl x509 -in shop2.pem -noout -serial | cut -d= -f2)
t0=$(date +%s%N)
manifest shop2 other
wait_for 10 sh -c "[ \"\$(echo | ip netns exec ${P}client timeout 5 openssl s_client -connect $V:443 -servername shop.example 2>/dev/null | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2)\" = $want_shop2 ]" ||
	fail "the rotated certificate was not served within 10 s"
rot_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$(in_client curl -s --max-time 5 --cacert ca.pem --resolve "shop.example:443:$V" https://shop.example/)" = pod1 ] ||
	fail "shop.example with the rotated certificate"

wait "$flood" || true
wait "$w1" || fail "wrk on shop.example: $(cat "$work/wrk-shop.txt")"
wait "$w2" || fail "wrk on other.example: $(cat "$work/wrk-other.txt")"
cat "$work/flood.txt"
for h in shop other; do
	res=$(cat "$work/wrk-$h.txt")
	reqs=$(wrk_clean "$res" 200 "$h.example")
	echo "wrk $h.example: $reqs requests, no errors ($(echo "$res" | awk '/Latency/ {print "latency avg " $2 ", max " $4}'))"
done
sent=$(sed -n 's/^flood: \([0-9]*\) hellos sent.*/\1/p' "$work/flood.txt")
[ "${sent:-0}" -ge 200 ] || fail "the flood sent only ${sent:-0} hellos"

# After: the rotated host serves the new certificate, the unaffected host its own, the broken
# Secret's host the default, logged once with its reason.
[ "$(serial shop.example)" = "$want_shop2" ] || fail "shop.example after the rotation"
[ "$(serial other.example)" = "$want_other" ] || fail "other.example changed certificate"
echo | in_client timeout 5 openssl s_client -connect "$V:443" -servername broken.example 2>/dev/null |
	grep -q "Sluice default certificate" || fail "broken.example did not fall back to the default"
grep -q "Secret e2e/broken-tls (spec.tls\[2\] of Ingress e2e/secure): tls.key does not match" "$work/gw.log" ||
	fail "the broken Secret was not logged"
echo "ok: a handshake flood of $sent hellos and two kept-alive wrk loads: zero errors; rotation served in ${rot_ms} ms under load; a broken Secret cost only its host (deferred handshake steps: $(metric tls_handshakes_deferred))"
gw_stop
