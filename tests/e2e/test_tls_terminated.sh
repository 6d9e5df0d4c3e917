#!/usr/bin/env bash
# TLS termination (lib/tls term.c) over the terminated TCP endpoint (lib/stream), against real
# clients: stream_peer serves https at 198.18.7.2 behind a TUN device in a namespace of its own
# (TLS over the leg's rings, a minimal HTTP/1.1 responder inside that says what the handshake
# settled), and curl, openssl s_client and Python's ssl connect to it, one connection after
# another.
#
#   curl over TLS 1.3 and TLS 1.2 with the CA (chain verified), ALPN http/1.1, X25519
#   the certificate by name: exact (ECDSA), the RSA one for a client without ECDSA, a wildcard,
#   the default for an unknown name
#   resumption with a session ticket (s_client -sess_out / -sess_in)
#   Python ssl: three requests kept alive on one connection
#   refused: ALPN without http/1.1 (no_application_protocol), TLS 1.1 (protocol_version)
#   a 32 MiB download, byte-exact
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${STREAM_PEER:?path to the stream_peer binary}"
ns="stt$$"
work=$(mktemp -d)
peer_pid=
cleanup() {
	[ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null && wait "$peer_pid" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
. "$here/lib/tun.sh"
tun_ns "$ns"

# Certificates: a CA; a.example with ECDSA and RSA leaves, *.w.example; a self-signed default.
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
	-subj "/CN=Sluice test CA" -days 2 2>/dev/null
leaf() { # NAME SAN KEYOPTS...
	local name=$1 san=$2
	shift 2
	openssl req -newkey "$@" -nodes -keyout "$name.key" -out "$name.csr" -subj "/CN=$name" 2>/dev/null
	printf 'subjectAltName=%s\n' "$san" >"$name.ext"
	openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
		-extfile "$name.ext" -out "$name.pem" 2>/dev/null
	cat "$name.pem" ca.pem >"$name.chain" # leaf, then the CA as its chain
}
leaf a-ec DNS:a.example ec -pkeyopt ec_paramgen_curve:P-256
leaf a-rsa DNS:a.example rsa:2048
leaf w 'DNS:*.w.example' ec -pkeyopt ec_paramgen_curve:P-256
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout def.key -out def.pem \
	-subj "/CN=default.invalid" -days 2 2>/dev/null

conns=11
nsx timeout 150 "$STREAM_PEER" --addr 198.18.7.2 --tun stun0 --timeout 120 --port 443 \
	--mode https --conns $conns --bulk $((32 * 1024 * 1024)) \
	--cert a.example:a-ec.chain:a-ec.key --cert a.example:a-rsa.chain:a-rsa.key \
	--cert '*.w.example:w.chain:w.key' --cert default:def.pem:def.key \
	>"$work/peer.out" 2>"$work/peer.err" &
peer_pid=$!
for _ in $(seq 100); do grep -q ready "$work/peer.out" 2>/dev/null && break; sleep 0.05; done
grep -q ready "$work/peer.out" || { cat "$work/peer.err" >&2; exit 1; }

fail() { echo "FAIL: $*" >&2; cat "$work/peer.err" >&2; exit 1; }
# expect LABEL OUTPUT WORD...: every word in the output
expect() {
	local label=$1 out=$2
	shift 2
	for w in "$@"; do
		grep -qF -- "$w" <<<"$out" || fail "$label: no '$w' in: $out"
	done
	echo "ok: $label"
}
CURL=(nsx curl -sS --max-time 20 --cacert ca.pem --resolve a.example:443:198.18.7.2
	--resolve x.w.example:443:198.18.7.2)
SC=(nsx timeout 20 openssl s_client -connect 198.18.7.2:443 -CAfile ca.pem)
req() { printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$1" "$2"; }

# 1, 2. curl, TLS 1.3 and 1.2; the chain verifies against the CA.
out=$("${CURL[@]}" --tlsv1.3 https://a.example/one) || fail "curl TLS 1.3"
expect "curl TLS 1.3, ECDSA by exact name, ALPN http/1.1" "$out" \
	"sni=a.example" "alpn=http/1.1" "version=TLSv1.3" "match=exact" "kind=ecdsa" "path=/one"
out=$("${CURL[@]}" --tlsv1.2 --tls-max 1.2 https://a.example/two) || fail "curl TLS 1.2"
expect "curl TLS 1.2" "$out" "version=TLSv1.2" "kind=ecdsa" "path=/two"

# 3. A client that takes only RSA signatures gets the RSA certificate of the same name.
out=$(req /rsa a.example | "${SC[@]}" -servername a.example -sigalgs "RSA-PSS+SHA256:RSA+SHA256" \
	-verify_return_error -ign_eof 2>&1) || fail "s_client RSA: $out"
expect "RSA certificate for an RSA-only client" "$out" "kind=rsa" "Verify return code: 0"

# 4, 5. A wildcard, and the default certificate for a name with none.
out=$("${CURL[@]}" https://x.w.example/wild) || fail "curl wildcard"
expect "wildcard certificate" "$out" "sni=x.w.example" "match=wildcard"
out=$(req /def nobody.example | "${SC[@]}" -servername nobody.example -ign_eof 2>&1) || true
expect "default certificate for an unknown name" "$out" "match=default" "CN = default.invalid"

# 6, 7. Resumption: the second connection resumes with the first one's ticket.
out=$(req /first a.example | "${SC[@]}" -servername a.example -sess_out "$work/sess" -ign_eof 2>&1) ||
	fail "s_client sess_out: $out"
expect "a full handshake hands out a ticket" "$out" "resumed=0" "Post-Handshake New Session Ticket"
out=$(req /again a.example | "${SC[@]}" -servername a.example -sess_in "$work/sess" -ign_eof 2>&1) ||
	fail "s_client sess_in: $out"
expect "resumed with the ticket" "$out" "Reused, TLSv1.3" "resumed=1"

# 8. Python ssl, three requests kept alive on one connection.
out=$(nsx timeout 30 python3 - "$work/ca.pem" <<'PY'
import http.client, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.set_alpn_protocols(["http/1.1"])
raw = socket.create_connection(("198.18.7.2", 443), timeout=10)
s = ctx.wrap_socket(raw, server_hostname="a.example")
print(s.version(), s.selected_alpn_protocol())
c = http.client.HTTPConnection("a.example")
c.sock = s
for i in range(3):
    c.request("GET", "/keep%d" % i, headers={"Host": "a.example"})
    r = c.getresponse()
    print(r.status, r.read().decode().strip())
c.request("GET", "/last", headers={"Host": "a.example", "Connection": "close"})
r = c.getresponse()
print(r.status, r.read().decode().strip())
s.close()
PY
) || fail "python: $out"
expect "Python ssl: requests kept alive" "$out" "200 sni=a.example" "path=/keep0" "path=/keep2" \
	"path=/last" "TLSv1.3 http/1.1"

# 9, 10. Refusals: ALPN without http/1.1; TLS 1.1.
out=$(req / a.example | "${SC[@]}" -servername a.example -alpn h2 2>&1) || true
expect "ALPN h2 only: refused" "$out" "no application protocol"
out=$(req / a.example | "${SC[@]}" -servername a.example -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' 2>&1) || true
grep -qF "sni=" <<<"$out" && fail "TLS 1.1 was served: $out"
expect "TLS 1.1 refused" "$out" "alert protocol version"

# 11. A 32 MiB download, byte-exact.
sum=$("${CURL[@]}" https://a.example/bulk | sha256sum | cut -d' ' -f1)

rc=0
wait "$peer_pid" || rc=$?
peer_pid=
[ "$rc" = 0 ] || fail "stream_peer exit status $rc"
python3 - "$work/peer.out" "$sum" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
tls = [l for l in lines if l.get("tls")]
srv = [l for l in lines if l.get("tls_server")][0]
assert len(tls) == 11, ("connections served", len(tls))
bulk = tls[-1]
assert bulk["bulk_out"] == 32 << 20 and bulk["sha256_out"] == sys.argv[2], bulk
assert srv["handshakes"] >= 8 and srv["resumed"] >= 1, srv
assert srv["alpn_refused"] == 1 and srv["failed"] >= 2, srv
legs = [l for l in lines if "end" in l]
assert all(l["nobufs"] == 0 for l in legs), legs
print("ok: 32 MiB download byte-exact; server counters", srv)
PY
