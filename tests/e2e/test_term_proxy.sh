#!/usr/bin/env bash
# A terminated HTTPS connection end to end (lib/term over lib/stream and lib/tls): stream_peer
# --mode proxy is the gateway's side at 198.18.7.2 (client leg) and 198.18.7.3 (pod legs)
# behind a TUN device; two Python pods (tests/e2e/term_pod.py) serve a.example and b.example on
# 198.18.7.1:8080 and :8081; curl and Python's ssl are the clients. One connection at a time:
#
#   X-Forwarded-For/-Proto/-Host/-Port set by the gateway, the client's own removed
#   requests kept alive on one TLS connection, routed each on its own (a.example, b.example,
#   a.example again: the pod connection moves, and is reused when it can be)
#   pipelined requests answered in order
#   a 4 MiB POST (Content-Length) and a chunked POST reach the pod byte-exact
#   a 4 MiB download, and a chunked one, byte-exact
#   the gateway's own answers: 404 for a host with no route, 400 for a malformed request
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${STREAM_PEER:?path to the stream_peer binary}"
ns="stx$$"
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
. "$here/lib/tun.sh"
tun_ns "$ns"
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
	-subj "/CN=Sluice test CA" -days 2 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr \
	-subj "/CN=a.example" 2>/dev/null
printf 'subjectAltName=DNS:a.example,DNS:b.example,DNS:nobody.example\n' >leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile leaf.ext \
	-out leaf.pem 2>/dev/null
cat leaf.pem ca.pem >leaf.chain

nsx timeout 150 python3 "$here/term_pod.py" 198.18.7.1 8080 a >/dev/null 2>&1 &
pids+=($!)
nsx timeout 150 python3 "$here/term_pod.py" 198.18.7.1 8081 b >/dev/null 2>&1 &
pids+=($!)
conns=9
nsx timeout 150 "$STREAM_PEER" --addr 198.18.7.2 --tun stun0 --timeout 120 --port 443 \
	--mode proxy --conns $conns --cert default:leaf.chain:leaf.key \
	>"$work/peer.out" 2>"$work/peer.err" &
peer=$!
pids+=($peer)
for _ in $(seq 100); do grep -q ready "$work/peer.out" 2>/dev/null && break; sleep 0.05; done
for port in 8080 8081; do
	for _ in $(seq 100); do nsx bash -c "exec 3<>/dev/tcp/198.18.7.1/$port" 2>/dev/null && break; sleep 0.05; done
done

fail() { echo "FAIL: $*" >&2; cat "$work/peer.out" "$work/peer.err" >&2; exit 1; }
expect() {
	local label=$1 out=$2
	shift 2
	for w in "$@"; do grep -qF -- "$w" <<<"$out" || fail "$label: no '$w' in: $out"; done
	echo "ok: $label"
}
CURL=(nsx curl -sS --max-time 20 --cacert ca.pem --resolve a.example:443:198.18.7.2
	--resolve b.example:443:198.18.7.2 --resolve nobody.example:443:198.18.7.2)

# 1. X-Forwarded-*: ours, and the client's own gone.
out=$("${CURL[@]}" -H 'X-Forwarded-For: 6.6.6.6' -H 'x-forwarded-proto: http' \
	-H 'X-Forwarded-Host: evil.example' https://a.example/hdr) || fail "curl /hdr"
expect "X-Forwarded-* set by the gateway" "$out" "pod=a" "x-forwarded-for: 198.18.7.1" \
	"x-forwarded-proto: https" "x-forwarded-host: a.example" "x-forwarded-port: 443"
grep -qE '6\.6\.6\.6|evil\.example|proto: http$' <<<"$out" && fail "a client's X-Forwarded-* reached the pod: $out"

# 2. Kept alive, each request routed on its own.
out=$(nsx timeout 30 python3 - "$work/ca.pem" <<'PY'
import http.client, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
s = ctx.wrap_socket(socket.create_connection(("198.18.7.2", 443), timeout=10),
                    server_hostname="a.example")
c = http.client.HTTPConnection("a.example")
c.sock = s
for host, path in (("a.example", "/one"), ("b.example", "/two"), ("b.example", "/three"),
                   ("a.example", "/four")):
    c.request("GET", path, headers={"Host": host})
    r = c.getresponse()
    print(r.status, r.read().decode().strip())
s.close()
PY
) || fail "python keep-alive: $out"
expect "kept alive, routed per request" "$out" "200 pod=a path=/one" "200 pod=b path=/two" \
	"200 pod=b path=/three" "200 pod=a path=/four"

# 3. Pipelined: two requests in one write, answered in order.
out=$(nsx timeout 30 python3 - "$work/ca.pem" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
s = ctx.wrap_socket(socket.create_connection(("198.18.7.2", 443), timeout=10),
                    server_hostname="a.example")
s.sendall(b"GET /p1 HTTP/1.1\r\nHost: b.example\r\n\r\n"
          b"GET /p2 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n")
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
print(data.decode())
PY
) || fail "pipelined: $out"
expect "pipelined, in order" "$out" "pod=b path=/p1" "pod=a path=/p2"
[ "$(grep -n 'pod=b path=/p1' <<<"$out" | cut -d: -f1)" -lt "$(grep -n 'pod=a path=/p2' <<<"$out" | cut -d: -f1)" ] ||
	fail "pipelined answers out of order: $out"

# 4, 5. POSTs: Content-Length and chunked.
head -c $((4 * 1024 * 1024)) /dev/urandom >"$work/body"
want=$(sha256sum "$work/body" | cut -d' ' -f1)
out=$("${CURL[@]}" --data-binary @"$work/body" https://a.example/sum) || fail "POST"
expect "4 MiB POST byte-exact" "$out" "length=4194304 sha256=$want"
out=$("${CURL[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$work/body" \
	https://b.example/sum) || fail "chunked POST"
expect "chunked POST byte-exact" "$out" "pod=b" "length=4194304 sha256=$want"

# 6, 7. Downloads, Content-Length and chunked.
want=$(python3 -c "import sys,hashlib; n=4<<20; sys.stdout.write(hashlib.sha256(bytes(((i*131+(i>>9))&255) for i in range(n))).hexdigest())")
got=$("${CURL[@]}" "https://a.example/big?n=$((4 << 20))" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "download: $got"
echo "ok: 4 MiB download byte-exact"
got=$("${CURL[@]}" "https://b.example/chunked?n=$((4 << 20))" | sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "chunked download: $got"
echo "ok: 4 MiB chunked download byte-exact"

# 8, 9. The gateway's own answers.
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' https://nobody.example/) || true
[ "$code" = 404 ] || fail "no route: $code"
echo "ok: 404 for a host without a route"
out=$(nsx timeout 30 python3 - "$work/ca.pem" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
s = ctx.wrap_socket(socket.create_connection(("198.18.7.2", 443), timeout=10),
                    server_hostname="a.example")
s.sendall(b"GET / HTTP/1.1\r\nHost: a.example\r\nBad Header: x\r\n\r\n")
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
print(data.decode().splitlines()[0])
PY
) || fail "malformed: $out"
expect "400 for a malformed request, never forwarded" "$out" "HTTP/1.1 400"

rc=0
wait "$peer" || rc=$?
[ "$rc" = 0 ] || fail "stream_peer exit status $rc"
python3 - "$work/peer.out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{"proxy"')]
assert len(rows) == 9, len(rows)
keep = rows[1]
assert keep["requests"] == 4 and keep["responses"] == 4, keep
# a, b, b, a: the pod connection moves twice and is reused once
assert keep["pod_connects"] == 3 and keep["pod_reused"] == 1, ("moved and reused", keep)
assert rows[7]["no_route"] == 1 and rows[8]["bad_requests"] == 1, rows[7:]
assert all(r["bad_responses"] == 0 and r["pod_failed"] == 0 for r in rows), rows
print("ok: per-connection counters", [(r["requests"], r["pod_connects"]) for r in rows])
PY
