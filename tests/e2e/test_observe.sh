#!/usr/bin/env bash
# What an operator reads after a known mix of requests: the per-route series (requests by
# Ingress, rule host and Service; the gateway's own answers by status code and route), the
# head and connect latency histograms, build information — exact counts, and a page that
# Prometheus' own checker accepts when it is installed — and the access log: one JSON line per
# request with the fields docs/metrics.md lists.
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
echo "access_log = { enabled = true; path = \"$work/access.log\"; };" >>"$work/sluice.conf"
gw_start "$work/sluice.conf" "$mport"
wait_for 20 ip netns exec "${P}client" curl -sf --max-time 2 -H 'Host: shop.example' \
	"http://$TOPO_VIP/" || fail "no route to shop.example"

page() { ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics"; }
# The value of one exact series line, 0 when absent.
value() { printf '%s\n' "$1" | awk -v s="$2" 'substr($0, 1, length(s) + 1) == s " " { print $NF; f = 1 } END { if (!f) print 0 }'; }
before=$(page)
lines() { [ -f "$work/access.log" ] && wc -l <"$work/access.log" || echo 0; }
wait_for 5 test "$(lines)" -ge 1 || fail "no access log line for the first request"
log_before=$(lines)

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
# Two requests on one kept-alive connection to the same Service, the first with the client's
# own request id.
two=$(ip netns exec "${P}client" curl -s --max-time 5 -H 'Host: shop.example' \
	-H 'X-Request-ID: e2e-rid-1' "http://$TOPO_VIP/" --next -H 'Host: shop.example' \
	"http://$TOPO_VIP/?second=1")
[ "$two" = $'pod1\npod1' ] || fail "kept-alive pair: $two"
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
check "sluice_route_requests_total{$web}" 7
check "sluice_route_requests_total{$api}" 3
check "sluice_route_requests_total{$empty}" 1
check "sluice_gateway_answers_total{code=\"404\",$none}" 2
check "sluice_gateway_answers_total{code=\"400\",$none}" 1
check "sluice_gateway_answers_total{code=\"503\",$empty}" 1
# First heads routed or unroutable (the malformed one is neither); pods connected for 9.
check "sluice_head_seconds_count" 12
check "sluice_connect_seconds_count" 9
check 'sluice_head_seconds_bucket{le="+Inf"}' 12
printf '%s\n' "$after" | grep -q '^sluice_build_info{version="[^"]*",dpdk="DPDK [^"]*"} 1$' ||
	fail "no build information"
printf '%s\n' "$after" | grep -q '^sluice_http_local_' && fail "per-code families are gone"
echo "ok: build information"

# Every metric the shipped dashboard and alert rules use is on the page (the Kubernetes sync's
# only with that source).
printf '%s\n' "$after" >"$work/page.txt"
python3 - "$here/../.." "$work/page.txt" <<'PY' || fail "the dashboard or the rules use a metric the page lacks"
import re, sys
page = open(sys.argv[2]).read()
have = {l.split("{")[0].split(" ")[0] for l in page.splitlines() if l.startswith("sluice_")}
root = sys.argv[1]
used = set(re.findall(r"\bsluice_[a-z0-9_]+", open(root + "/deploy/grafana/sluice-dashboard.json").read()
                       + open(root + "/deploy/prometheus/sluice-rules.yaml").read()))
missing = sorted(m for m in used if m not in have and not m.startswith("sluice_kube_"))
print("missing:", missing) if missing else print("ok: %d metrics of the dashboard and rules on the page" % len(used))
sys.exit(1 if missing else 0)
PY
promtool=${PROMTOOL:-$(command -v promtool || true)}
if [ -n "$promtool" ]; then
	printf '%s\n' "$after" | "$promtool" check metrics >"$work/promtool.out" 2>&1 ||
		{ cat "$work/promtool.out"; fail "promtool refuses the page"; }
	echo "ok: promtool check metrics"
fi

# The access log: one line per request of the mix, each a JSON object with every field.
want=$((log_before + 14))
wait_for 5 test "$(lines)" -ge "$want" || fail "access log: $(lines) lines, expected $want"
tail -n 14 "$work/access.log" >"$work/mix.log"
python3 - "$work/mix.log" <<'PY' || fail "access log lines are wrong"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
keys = ["time", "id", "client", "vip", "method", "host", "target", "x_request_id", "ingress",
        "service", "pod", "outcome", "status", "bytes_in", "bytes_out", "head_ms",
        "connect_ms", "total_ms", "truncated"]
for r in recs:
    assert list(r) == keys, r
    assert r["client"].startswith("198.18.0.2:") and r["vip"] == "198.18.0.10:80", r
    assert r["time"].endswith("Z") and len(r["time"]) == 24, r
assert len({r["id"] for r in recs}) == len(recs), "request ids repeat"
def pick(**kw):
    return [r for r in recs if all(r[k] == v for k, v in kw.items())]
web = pick(host="shop.example", target="/", service="e2e/web:http")
assert len(web) == 6, web
for r in web:
    assert r["outcome"] == "forwarded" and r["status"] is None and r["bytes_out"] is None, r
    assert r["ingress"] == "e2e/e2e" and r["pod"] == "198.19.0.11:8080", r
    assert r["method"] == "GET" and r["bytes_in"] > 40, r
fresh = [r for r in web if r["connect_ms"] is not None]
assert len(fresh) == 6 and all(r["head_ms"] >= 0 and r["total_ms"] >= r["connect_ms"] for r in fresh), web
rid = pick(x_request_id="e2e-rid-1")
assert len(rid) == 1 and rid[0]["connect_ms"] is not None, rid
second = pick(target="/?second=1")
assert len(second) == 1 and second[0]["connect_ms"] is None and second[0]["outcome"] == "forwarded", second
assert second[0]["pod"] == "198.19.0.11:8080", second
api = pick(target="/api/", service="e2e/api:80")
assert len(api) == 3 and all(r["pod"] == "198.19.0.12:8080" for r in api), api
nf = pick(host="nope.example")
assert len(nf) == 2 and all(r["status"] == 404 and r["outcome"] == "answered" and
    r["ingress"] is None and r["bytes_out"] > 0 and r["pod"] is None for r in nf), nf
empty = pick(host="empty.example")
assert len(empty) == 1 and empty[0]["status"] == 503 and empty[0]["service"] == "e2e/empty:80", empty
bad = pick(status=400)
assert len(bad) == 1 and bad[0]["outcome"] == "answered" and bad[0]["ingress"] is None, bad
print("ok: %d access log lines, every field as expected" % len(recs))
PY
dropped=$(value "$(page)" 'sluice_access_log_dropped_total{lcore="1"}')
[ "$dropped" -eq 0 ] || fail "access log records dropped: $dropped"

gw_stop
