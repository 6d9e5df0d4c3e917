#!/usr/bin/env bash
# Loss and reordering between client and gateway (1 % each way, from a relay namespace, since
# this kernel has no netem): the handshake, the buffered request head and the spliced transfer
# must all survive, byte-exact, through the end-to-end retransmission of the peers.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/topology.sh"
SLUICE=${SLUICE:?path to the sluice binary}
E2E_EXTRA_NS="sli$$-relay"
e2e_init "sli$$-"

topo_up "$P"
# Re-plumb the client side through a relay: client c0 <-> r0 [relay] r1 <-> gw-c.
ip -n "${P}client" link del c0
ip netns add "${P}relay"
ip -n "${P}relay" link set lo up
ip link add c0 netns "${P}client" type veth peer name r0 netns "${P}relay"
ip link add r1 netns "${P}relay" type veth peer name gw-c netns "${P}gw"
ip -n "${P}client" addr add "$TOPO_CLIENT_IP/24" dev c0
for spec in "${P}client c0" "${P}relay r0" "${P}relay r1" "${P}gw gw-c"; do
	set -- $spec
	ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1" 2>/dev/null || true
	ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true
	ip -n "$1" link set "$2" up
done
ip netns exec "${P}relay" timeout 150 python3 "$here/relay.py" r0 r1 --loss 0.01 \
	--reorder 0.01 --seconds 140 >"$work/relay.log" 2>&1 &

mkdir -p "$work/pod1"
head -c 5000000 /dev/urandom >"$work/pod1/big.bin"
echo "hello from pod1" >"$work/pod1/index.html"
ip netns exec "${P}pod1" python3 -m http.server 8080 --directory "$work/pod1" >/dev/null 2>&1 &
mport=$((20000 + $$ % 20000))
topo_write_config "$work/sluice.conf" "$P" "$mport" "[1]" "$here/manifests"
gw_start "$work/sluice.conf" "$mport"
wait_for 10 ip netns exec "${P}pod1" curl -sf --max-time 1 http://127.0.0.1:8080/ ||
	fail "pod did not start"

want=$(sha256sum "$work/pod1/big.bin" | cut -d' ' -f1)
for k in 1 2 3; do
	got=$(ip netns exec "${P}client" curl -s --max-time 60 --retry 0 -H 'Host: shop.example' \
		"http://$TOPO_VIP/big.bin" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "download $k through 1% loss and reordering not byte-exact"
done
echo "ok: three 5 MB downloads byte-exact through 1% loss and 1% reordering"
ok=0
for k in $(seq 1 30); do
	[ "$(ip netns exec "${P}client" curl -s --max-time 20 -H 'Host: shop.example' \
		"http://$TOPO_VIP/")" = "hello from pod1" ] && ok=$((ok + 1))
done
[ "$ok" -eq 30 ] || fail "only $ok of 30 short requests succeeded through the impairment"
echo "ok: 30 of 30 short requests (handshake and head through loss)"
sleep 1.2
last=$(tail -1 "$work/relay.log")
echo "$last"
python3 - "$last" <<'PY' || fail "the relay did not impair traffic"
import ast, sys
st = ast.literal_eval(sys.argv[1].split(":", 1)[1].strip())
assert st["drop"] >= 20 and st["swap"] >= 20, st
PY
pids=$(ip netns pids "${P}relay" || true)
[ -n "$pids" ] && kill -INT $pids 2>/dev/null || true
