#!/usr/bin/env bash
# Two workers on af_packet queues spread by PACKET_FANOUT (like RSS): client flows land on
# either worker, and a pod's reply may land on the other one. The SNAT port names the owner, so
# the receiving worker hands the packet over through the owner's ring; ARP is shared so both
# neighbour tables learn. Every request must succeed and the hand-off must be seen working.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/topology.sh"
SLUICE=${SLUICE:?path to the sluice binary}
e2e_init "slw$$-"

topo_up "$P"
for i in 1 2; do
	mkdir -p "$work/pod$i/api"
	echo "hello from pod$i" >"$work/pod$i/index.html"
	echo "api on pod$i" >"$work/pod$i/api/index.html"
	ip netns exec "${P}pod$i" python3 -m http.server 8080 --directory "$work/pod$i" \
		>/dev/null 2>&1 &
done
mport=$((20000 + $$ % 20000))
topo_write_config "$work/sluice.conf" "$P" "$mport" "[1, 2]" "$here/manifests"
gw_start "$work/sluice.conf" "$mport"
# Both pods must be serving before the first request: the first one goes to pod2.
for i in 1 2; do
	wait_for 10 ip netns exec "${P}pod$i" curl -sf --max-time 1 http://127.0.0.1:8080/ ||
		fail "pod$i server did not start"
done

ok=0
for k in $(seq 1 40); do
	if [ $((k % 2)) = 0 ]; then want="hello from pod1"; path=/; else want="api on pod2"; path=/api/; fi
	got=$(ip netns exec "${P}client" curl -s --max-time 10 -H 'Host: shop.example' \
		"http://$TOPO_VIP$path" || true)
	if [ "$got" = "$want" ]; then ok=$((ok + 1)); else echo "request $k for $path: got '$got'" >&2; fi
done
[ "$ok" -eq 40 ] || fail "only $ok of 40 requests succeeded with two workers"
echo "ok: 40 of 40 requests with two workers"

page=$(ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics")
sum() { printf '%s\n' "$page" | awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { printf "%.0f\n", s }'; }
[ "$(sum 'sluice_tcp_cookie_ok_total{lcore="1"}')" -gt 0 ] || fail "worker 1 took no connection"
[ "$(sum 'sluice_tcp_cookie_ok_total{lcore="2"}')" -gt 0 ] || fail "worker 2 took no connection"
[ "$(sum sluice_handoff_out_total)" -gt 0 ] || fail "no packet was handed off"
[ "$(sum sluice_handoff_dropped_total)" -eq 0 ] || fail "hand-off ring overflowed"
echo "ok: both workers served connections; $(sum sluice_handoff_out_total) packets handed off"

gw_stop
