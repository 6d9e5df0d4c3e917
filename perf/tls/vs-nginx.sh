#!/usr/bin/env bash
# TLS handshakes: Sluice's termination engine beside nginx on the same machine, certificate
# kind and key exchange (ECDSA P-256, X25519, TLS 1.3), full and resumed, and both against
# the floor (the public-key operations alone). Prints a JSON object and a table.
#
#   perf/tls/vs-nginx.sh [BUILD_DIR]     default build-perf/ (tls_bench built there)
#
# nginx (one worker) listens at 198.18.9.1 in a namespace of its own; `openssl s_time` makes
# new (-new) or resumed (-reuse) connections for a few seconds; nginx's CPU per handshake is
# its worker's user + system time over the run divided by the handshakes s_time counted (the
# kernel's TCP work for the connection included: it is what nginx pays per handshake). Sluice's
# figure is tls_bench's server-side CPU per handshake over an in-memory pipe (its TCP runs in
# the same poll loop; lib/stream's cost per connection is not included).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build-perf}
bench=$build/perf/tls/tls_bench
[ -x "$bench" ] || { echo "vs-nginx.sh: $bench is not built" >&2; exit 2; }
command -v nginx >/dev/null || { echo "vs-nginx.sh: nginx is not installed" >&2; exit 2; }
ns="tlsb$$"
work=$(mktemp -d)
cleanup() {
	[ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
	sleep 0.2
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" ip addr add 198.18.9.1/32 dev lo
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
	-out "$work/cert.pem" -subj "/CN=bench.example" -days 2 2>/dev/null
mkdir -p "$work/logs"
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work;
	uwsgi_temp_path $work; scgi_temp_path $work;
	server {
		listen 198.18.9.1:8443 ssl;
		ssl_certificate $work/cert.pem;
		ssl_certificate_key $work/key.pem;
		ssl_protocols TLSv1.3;
		ssl_ecdh_curve X25519;
		ssl_session_tickets on;
		location / { return 200 "ok\n"; }
	}
}
EOF
ip netns exec "$ns" nginx -c "$work/nginx.conf" -p "$work"
for _ in $(seq 50); do [ -s "$work/nginx.pid" ] && break; sleep 0.1; done
master=$(cat "$work/nginx.pid")
worker=""
for _ in $(seq 50); do worker=$(pgrep -P "$master" | head -n1) && [ -n "$worker" ] && break; sleep 0.1; done
cpu() { awk '{print $14 + $15}' "/proc/$worker/stat"; }
tck=$(getconf CLK_TCK)

# s_time MODE: handshakes counted and nginx CPU microseconds per handshake.
s_time() {
	local before after out n
	before=$(cpu)
	out=$(ip netns exec "$ns" openssl s_time -connect 198.18.9.1:8443 "$1" -time 4 2>&1)
	after=$(cpu)
	n=$(grep -oE '^[0-9]+ connections in' <<<"$out" | head -n1 | cut -d' ' -f1)
	[ -n "$n" ] && [ "$n" -gt 0 ] || { echo "vs-nginx.sh: s_time $1: $out" >&2; exit 1; }
	echo "$n $(((after - before) * 1000000 / tck))"
}
read -r n_full cpu_full < <(s_time -new)
# Resumed: `openssl s_time -reuse` does not take TLS 1.3 tickets (every handshake is full), so a
# Python client resumes with the ticket of its first connection, for 4 seconds. It requests
# "/" on each connection, as s_time does not; nginx's CPU for that request is counted too.
resumed() {
	local before after n
	before=$(cpu)
	n=$(ip netns exec "$ns" python3 - <<'PY'
import socket, ssl, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
def once(sess):
    s = ctx.wrap_socket(socket.create_connection(("198.18.9.1", 8443)), session=sess)
    s.sendall(b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
    while s.recv(4096):
        pass
    r = s.session_reused
    sess = s.session
    s.close()
    return sess, r
sess, _ = once(None)
n = 0
end = time.monotonic() + 4
while time.monotonic() < end:
    sess2, r = once(sess)
    if not r:
        raise SystemExit("not resumed")
    n += 1
print(n)
PY
)
	after=$(cpu)
	echo "$n $(((after - before) * 1000000 / tck))"
}
read -r n_res cpu_res < <(resumed)
ours=$("$bench" --seconds 3)
python3 - "$ours" "$n_full" "$cpu_full" "$n_res" "$cpu_res" <<'PY'
import json, sys
ours = json.loads(sys.argv[1])
n_full, cpu_full, n_res, cpu_res = map(int, sys.argv[2:])
hz = ours["tsc_hz"]
floor_full = ours["full"]["floor_cycles"] / hz * 1e6
floor_res = ours["resumed"]["floor_cycles"] / hz * 1e6
ng_full, ng_res = cpu_full / n_full, cpu_res / n_res
out = {
    "full": {"sluice_us": ours["full"]["server_us"], "nginx_us": round(ng_full, 1),
             "floor_us": round(floor_full, 1), "nginx_handshakes": n_full},
    "resumed": {"sluice_us": ours["resumed"]["server_us"], "nginx_us": round(ng_res, 1),
                "floor_us": round(floor_res, 1), "nginx_handshakes": n_res},
    "bulk_cycles_per_byte": ours["bulk"],
}
print(json.dumps(out))
print("| TLS 1.3, ECDSA P-256, X25519 | Sluice CPU µs | nginx CPU µs | nginx / Sluice | floor µs | Sluice / floor |")
print("|---|---|---|---|---|---|")
for k in ("full", "resumed"):
    o = out[k]
    print("| %s | %.1f | %.1f | %.2f | %.1f | %.2f |" % (k, o["sluice_us"], o["nginx_us"],
          o["nginx_us"] / o["sluice_us"], o["floor_us"], o["sluice_us"] / o["floor_us"]))
b = ours["bulk"]
print("| bulk (16 KiB writes, AES-128-GCM) | %.2f cycles/byte | | | %.2f | %.2f |"
      % (b["cycles_per_byte"], b["aes128gcm_cycles_per_byte"], b["vs_floor"]))
PY
