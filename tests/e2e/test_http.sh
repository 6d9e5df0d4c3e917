#!/usr/bin/env bash
# End to end, data path: real Linux TCP clients (curl, Python) reach real HTTP servers in pod
# namespaces through the gateway, routed by host and path; the gateway's own answers (404, 503,
# 408, 431, 400) and a dead pod retried on a live one; bodies byte-exact both ways.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/topology.sh"

SLUICE=${SLUICE:?path to the sluice binary}
e2e_init "slh$$-"
fail() {
	echo "FAIL: $*" >&2
	echo "--- gateway log" >&2
	tail -20 "$work/gw.log" >&2 || true
	ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics" 2>/dev/null |
		grep -E '^sluice_(tcp|pod|http|spliced|drops)' | grep -v ' 0$' >&2 || true
	exit 1
}

topo_up "$P"
# Pods: Python HTTP servers with a known file tree (and an upload echo for POST).
for i in 1 2; do
	mkdir -p "$work/pod$i/api"
	echo "hello from pod$i" >"$work/pod$i/index.html"
	echo "api on pod$i" >"$work/pod$i/api/index.html"
done
head -c 100000000 /dev/urandom >"$work/pod1/big.bin"
cat >"$work/server.py" <<'PY'
import hashlib, http.server, sys, os
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline(); break
                body += self.rfile.read(size); self.rfile.readline()
        else:
            body = self.rfile.read(n)
        out = (hashlib.sha256(body).hexdigest() + " " + str(len(body)) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
os.chdir(sys.argv[1])
http.server.ThreadingHTTPServer.request_queue_size = 1024
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
PY
for i in 1 2; do
	ip netns exec "${P}pod$i" python3 "$work/server.py" "$work/pod$i" >"$work/pod$i.log" 2>&1 &
done
ip -n "${P}pods" addr add 198.19.0.13/24 dev br0 # a live host with nothing on 8080: refuses
# nginx as a pod too (port 8081 in pod2's namespace), serving pod1's files.
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGX
daemon off;
user root;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server { listen 8081; root $work/pod1; keepalive_requests 100000; }
}
NGX
ip netns exec "${P}pod2" nginx -c "$work/nginx/nginx.conf" >/dev/null 2>&1 &

mport=$((20000 + $$ % 20000))
topo_write_config "$work/sluice.conf" "$P" "$mport" "[1]" "$here/manifests"
ip netns exec "${P}gw" "$SLUICE" -c "$work/sluice.conf" >"$work/gw.log" 2>&1 &
gw_pid=$!
wait_for 60 ip netns exec "${P}gw" curl -sf --max-time 2 "http://127.0.0.1:$mport/healthz" ||
	fail "gateway did not come up"
wait_for 10 ip netns exec "${P}pod1" curl -sf --max-time 1 http://127.0.0.1:8080/ ||
	fail "pod1 server did not start"
wait_for 10 ip netns exec "${P}pod2" curl -sf --max-time 1 http://127.0.0.1:8081/index.html ||
	{ cat "$work/nginx/error.log" >&2; fail "nginx pod did not start"; }

get() { # host path → body (status checked by caller with -w)
	ip netns exec "${P}client" curl -s --max-time 10 -H "Host: $1" "http://$TOPO_VIP$2"
}
code() {
	ip netns exec "${P}client" curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
		-H "Host: $1" "http://$TOPO_VIP$2"
}

[ "$(get shop.example /)" = "hello from pod1" ] || fail "GET shop.example/ not served by pod1"
[ "$(get shop.example /api/)" = "api on pod2" ] || fail "GET shop.example/api/ not routed to pod2"
[ "$(get SHOP.EXAMPLE:80 '/x/../api/?q=1')" = "api on pod2" ] ||
	fail "normalised path or host case not routed"
echo "ok: GET by host and by path to the right pod"

[ "$(code nope.example /)" = 404 ] || fail "unknown host did not get 404"
[ "$(code empty.example /)" = 503 ] || fail "service without endpoints did not get 503"
echo "ok: 404 for no route, 503 for no ready pod"

for k in 1 2 3 4 5 6; do
	[ "$(get flaky.example /)" = "hello from pod1" ] || fail "request $k to flaky not served"
done
echo "ok: a refusing pod and one that never answers are retried on a live one"

# Slow head → 408; oversized head → 431; garbage → 400. Python raw sockets as the client.
ip netns exec "${P}client" python3 - "$TOPO_VIP" <<'PY' || fail "gateway's own responses"
import socket, sys, time
vip = sys.argv[1]
def talk(data, wait_close=5.0, delay=None):
    s = socket.create_connection((vip, 80), timeout=wait_close)
    if delay is not None:
        s.sendall(data); time.sleep(delay)
    else:
        s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b: break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out
r = talk(b"GET / HTTP/1.1\r\nHost: shop.example\r\n", wait_close=6.0)
assert r.startswith(b"HTTP/1.1 408"), r[:60]
r = talk(b"GET / HTTP/1.1\r\nHost: shop.example\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
assert r.startswith(b"HTTP/1.1 431"), r[:60]
r = talk(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n")
assert r.startswith(b"HTTP/1.1 400"), r[:60]
r = talk(b"POST / HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
assert r.startswith(b"HTTP/1.1 400"), r[:60]
print("ok: 408 slow head, 431 oversized head, 400 garbage and smuggling attempt")
PY

# Request split over many tiny segments (Nagle off, one byte per send).
ip netns exec "${P}client" python3 - "$TOPO_VIP" <<'PY' || fail "byte-by-byte request"
import socket, sys, time
s = socket.create_connection((sys.argv[1], 80), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for b in b"GET /api/ HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n":
    s.send(bytes([b])); time.sleep(0.002)
out = b""
while True:
    d = s.recv(65536)
    if not d: break
    out += d
assert out.startswith(b"HTTP/1.1 200") and out.endswith(b"api on pod2\n"), out[-80:]
print("ok: request fed one byte per segment")
PY

# Bodies: 1 MB POST and a chunked upload, hashed by the pod; a 20 MB download, hashed here.
head -c 1048576 /dev/urandom >"$work/up.bin"
want="$(sha256sum "$work/up.bin" | cut -d' ' -f1) 1048576"
got=$(ip netns exec "${P}client" curl -s --max-time 30 -H 'Host: shop.example' \
	--data-binary @"$work/up.bin" "http://$TOPO_VIP/upload")
[ "$got" = "$want" ] || fail "1 MB POST: pod saw '$got', want '$want'"
got=$(ip netns exec "${P}client" curl -s --max-time 30 -H 'Host: shop.example' \
	-H 'Transfer-Encoding: chunked' --data-binary @"$work/up.bin" "http://$TOPO_VIP/upload")
[ "$got" = "$want" ] || fail "chunked upload: pod saw '$got'"
echo "ok: 1 MB POST and chunked upload byte-exact"
sum=$(ip netns exec "${P}client" curl -s --max-time 120 -H 'Host: nginx.example' \
	"http://$TOPO_VIP/big.bin" | sha256sum | cut -d' ' -f1)
[ "$sum" = "$(sha256sum "$work/pod1/big.bin" | cut -d' ' -f1)" ] || fail "100 MB download checksum"
echo "ok: 100 MB download from nginx byte-exact"

# Load: wrk with 200 connections for 10 s (keep-alive; bounded by time), zero errors.
ip netns exec "${P}client" wrk -t 2 -c 200 -d 10s --timeout 5s -H 'Host: nginx.example' \
	"http://$TOPO_VIP/index.html" >"$work/wrk.txt" 2>&1 || { cat "$work/wrk.txt"; fail "wrk failed"; }
cat "$work/wrk.txt"
grep -q "Socket errors" "$work/wrk.txt" && fail "wrk saw socket errors"
grep -q "Non-2xx" "$work/wrk.txt" && fail "wrk saw non-2xx responses"
reqs=$(awk '/requests in/ { print $1 }' "$work/wrk.txt")
[ "${reqs:-0}" -gt 1000 ] || fail "wrk completed only ${reqs:-0} requests"
echo "ok: wrk -c 200 for 10 s: $reqs requests, no errors"

# A SYN flood (spoofed 198.18.x.y sources, bounded in count and time) while curl keeps working.
gwc_mac=$(ip netns exec "${P}gw" cat /sys/class/net/gw-c/address)
ip netns exec "${P}client" python3 - "$TOPO_VIP" "$gwc_mac" <<'PY' &
# The flood leaves through the client's own link (raw frames on c0), so it shares the
# gateway's client port with the real requests below.
import os, random, socket, struct, sys, time
vip, mac = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("c0", 0))
src_mac = open("/sys/class/net/c0/address").read().strip()
smac = bytes.fromhex(src_mac.replace(":", ""))
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
deadline = time.time() + 8
for i in range(20000):
    if time.time() > deadline: break
    src = socket.inet_aton("198.18.%d.%d" % (random.randint(1, 254), random.randint(1, 254)))
    dst = socket.inet_aton(vip)
    sport = random.randint(1024, 65535)
    tcp = struct.pack("!HHIIBBHHH", sport, 80, random.getrandbits(32), 0, 0x50, 0x02, 65535, 0, 0)
    ph = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i & 0xffff, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.send(mac + smac + b"\x08\x00" + ip + tcp)
PY
flood_pid=$!
ok=0
for k in $(seq 1 20); do
	[ "$(get shop.example /)" = "hello from pod1" ] && ok=$((ok + 1))
done
wait "$flood_pid" || true
[ "$ok" -eq 20 ] || fail "only $ok of 20 requests succeeded during the SYN flood"
echo "ok: 20 of 20 requests served during a SYN flood"

page=$(ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics")
val() { printf '%s\n' "$page" | awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { printf "%.0f\n", s }'; }
[ "$(val sluice_pod_refused_total)" -ge 1 ] || fail "no refused pod counted"
[ "$(val 'sluice_gateway_answers_total{code="404"')" -ge 1 ] || fail "404 not counted"
[ "$(val sluice_spliced_to_client_total)" -gt 1000 ] || fail "spliced packets not counted"
[ "$(val sluice_tcp_syn_in_total)" -gt 5000 ] || fail "the SYN flood was not seen"
[ "$(val sluice_tcp_flows_full_total)" -eq 0 ] || fail "flows refused: the flood took state"
echo "ok: counters"

gw_stop
