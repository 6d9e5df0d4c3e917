#!/usr/bin/env bash
# End to end, foundation: the gateway on af_packet veth ports in a namespace topology.
# The client resolves the VIP by ARP and pings it; the gateway keeps its pod-side next hop
# resolved; a malformed frame is dropped and counted by reason; the metrics endpoint and the
# telemetry socket show the counters moving; SIGTERM exits 0; nothing is left behind.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/topology.sh"

SLUICE=${SLUICE:?path to the sluice binary}
P="slf$$-"
work=$(mktemp -d)
gw_pid=
cleanup() {
	[ -n "$gw_pid" ] && kill -9 "$gw_pid" 2>/dev/null || true
	topo_down "$P"
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	echo "--- gateway log" >&2
	cat "$work/gw.log" >&2 || true
	exit 1
}

topo_up "$P"
mport=$((20000 + $$ % 20000))
topo_write_config "$work/sluice.conf" "$P" "$mport"
"$SLUICE" --check-config "$work/sluice.conf" || fail "generated config does not validate"

ip netns exec "${P}gw" "$SLUICE" -c "$work/sluice.conf" >"$work/gw.log" 2>&1 &
gw_pid=$!
metrics() { ip netns exec "${P}gw" curl -sf --max-time 2 "http://127.0.0.1:$mport/$1"; }
wait_for 60 metrics healthz || fail "gateway did not come up"
echo "ok: gateway up"

# ARP + ICMP echo for the VIP from a real Linux client.
ip netns exec "${P}client" ping -c 3 -i 0.2 -W 2 "$TOPO_VIP" >"$work/ping.log" ||
	{ cat "$work/ping.log"; fail "ping to the VIP failed"; }
gw_mac=$(ip netns exec "${P}gw" cat /sys/class/net/gw-c/address)
ip -n "${P}client" neigh show "$TOPO_VIP" | grep -qi "lladdr $gw_mac" ||
	fail "client did not resolve the VIP to the gateway's MAC $gw_mac"
echo "ok: VIP resolved by ARP and answers ping"

# The gateway resolves its next hop (the pod-network router) by itself; the router learns the
# SNAT address from the request.
wait_for 10 sh -c "ip -n ${P}pods neigh show $TOPO_SNAT | grep -q lladdr" ||
	fail "the pod network never saw the gateway's ARP request from the SNAT address"
echo "ok: next hop resolved from the SNAT address"

# A frame with a bad IPv4 header checksum, sent raw from the client, is dropped and counted.
client_mac=$(ip netns exec "${P}client" cat /sys/class/net/c0/address)
ip netns exec "${P}client" python3 - "$gw_mac" "$client_mac" <<'PY'
import socket, struct, sys
dst = bytes.fromhex(sys.argv[1].replace(":", ""))
src = bytes.fromhex(sys.argv[2].replace(":", ""))
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 1, 0, 64, 1, 0xdead,
                 socket.inet_aton("198.18.0.2"), socket.inet_aton("198.18.0.10"))
icmp = struct.pack("!BBHHH", 8, 0, 0, 1, 1)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("c0", 0))
for _ in range(3):
    s.send(dst + src + b"\x08\x00" + ip + icmp)
PY

page=$(metrics metrics) || fail "metrics endpoint did not answer"
value() { # metric line prefix → summed value
	printf '%s\n' "$page" | awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { printf "%.0f\n", s }'
}
wait_for 5 sh -c "ip netns exec ${P}gw curl -sf http://127.0.0.1:$mport/metrics | grep -q 'reason=\"ipv4_bad_checksum\"} [1-9]'" ||
	fail "bad-checksum frames were not counted"
page=$(metrics metrics)
for m in sluice_rx_packets_total sluice_arp_replies_total sluice_icmp_echo_replies_total \
	sluice_arp_requests_total sluice_tx_packets_total sluice_busy_cycles_total \
	sluice_idle_cycles_total; do
	v=$(value "$m")
	[ "$v" -gt 0 ] || fail "$m is $v"
	echo "ok: $m = $v"
done
[ "$(value sluice_icmp_echo_replies_total)" -ge 3 ] || fail "fewer than 3 echo replies counted"
printf '%s\n' "$page" | grep -q '^sluice_port_rx_packets_total{port="client"}' ||
	fail "per-port metrics missing"
metrics readyz >/dev/null || fail "readyz not 200"
echo "ok: metrics"

# Telemetry: the DPDK telemetry client reads /sluice/stats.
tel=$(echo /sluice/stats | dpdk-telemetry.py -f "${P}sluice" 2>&1) || true
printf '%s\n' "$tel" | grep -q '"icmp_echo_replies": [1-9]' ||
	{ printf '%s\n' "$tel"; fail "telemetry /sluice/stats did not show the counters"; }
echo "ok: telemetry /sluice/stats"

# SIGTERM: clean exit 0.
kill -TERM "$gw_pid"
rc=0
for _ in $(seq 1 100); do
	kill -0 "$gw_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$gw_pid" 2>/dev/null && fail "gateway still running 10 s after SIGTERM"
wait "$gw_pid" || rc=$?
gw_pid=
[ "$rc" -eq 0 ] || fail "gateway exited $rc after SIGTERM"
grep -q "stopped cleanly" "$work/gw.log" || fail "no clean-stop message"
echo "ok: SIGTERM exits 0"

topo_down "$P"
if ip netns list | grep -q "^$P"; then fail "namespaces left behind"; fi
echo "ok: nothing left behind"
