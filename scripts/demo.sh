#!/usr/bin/env bash
# Set up everything (packages, hugepages, build) and run the gateway on its embedded default:
# a demo topology in network namespaces — a client, the gateway on af_packet veth ports, a pod
# network with two backend pods running real HTTP servers — then show it at work: ARP and
# ping of the VIP, HTTP requests routed by host and path, HTTPS terminated with the demo
# Secret's certificate (and plain HTTP redirected to it), and the metrics. On a terminal it keeps running until Ctrl-C; otherwise it stops after the show.
# Everything it creates is removed on exit.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$here/scripts/setup.sh" build
. "$here/tests/e2e/lib/topology.sh"

P="sl-"
SLUICE="$here/build/app/sluice"
work=$(mktemp -d)
gw_pid=
cleanup() {
	[ -n "$gw_pid" ] && kill -TERM "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null || true
	topo_down "$P"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

topo_down "$P" # a previous demo killed hard may have left its namespaces
say "topology: ${P}client -- [${P}gw: sluice] -- ${P}pods bridge -- ${P}pod1, ${P}pod2"
topo_up "$P"

# Real backend servers in the pod namespaces: each names itself in its answer.
for i in 1 2; do
	mkdir -p "$work/pod$i/api"
	echo "hello from pod$i (service web)" >"$work/pod$i/index.html"
	echo "hello from pod$i (service api)" >"$work/pod$i/api/index.html"
	ip netns exec "${P}pod$i" python3 -m http.server 8080 --bind 0.0.0.0 \
		--directory "$work/pod$i" >"$work/pod$i.log" 2>&1 &
done

say "gateway: sluice -c configs/demo.conf (in namespace ${P}gw)"
ip netns exec "${P}gw" "$SLUICE" -c "$here/configs/demo.conf" 2>&1 | sed 's/^/  [gw] /' &
sleep 0.5
gw_pid=$(ip netns pids "${P}gw" | head -1)
metrics() { ip netns exec "${P}gw" curl -sf --max-time 2 "http://127.0.0.1:9180/$1"; }
wait_for 60 metrics healthz || { echo "gateway did not come up"; exit 1; }

say "client: ping the VIP $TOPO_VIP (ARP resolves it to the gateway)"
ip netns exec "${P}client" ping -c 3 -i 0.3 "$TOPO_VIP"
ip -n "${P}client" neigh show "$TOPO_VIP"

say "pod network: the gateway resolved its next hop from SNAT $TOPO_SNAT"
wait_for 5 sh -c "ip -n ${P}pods neigh show $TOPO_SNAT | grep -q lladdr" || true
ip -n "${P}pods" neigh show "$TOPO_SNAT"

req() {
	printf '  $ curl -H "Host: %s" http://%s%s\n  ' "$1" "$TOPO_VIP" "$2"
	ip netns exec "${P}client" curl -s --max-time 5 -H "Host: $1" "http://$TOPO_VIP$2" ||
		echo "(failed)"
}
say "HTTP through the gateway, routed by the Ingress in demo/manifests"
req v1.api.example /api/
req v2.api.example /
req unknown.example /
say "shop.example has spec.tls (demo/manifests/30-tls.yaml): plain HTTP gets the gateway's 308"
printf '  $ curl -i -H "Host: shop.example" http://%s/api/\n' "$TOPO_VIP"
ip netns exec "${P}client" curl -si --max-time 5 -H "Host: shop.example" "http://$TOPO_VIP/api/" |
	tr -d '\r' | sed 's/^/  /' || echo "  (failed)"
say "HTTPS, terminated by the gateway with the Secret's certificate, routed by host and path"
sreq() {
	printf '  $ curl --cacert demo/tls/ca.pem --resolve shop.example:443:%s https://shop.example%s\n  ' \
		"$TOPO_VIP" "$1"
	ip netns exec "${P}client" curl -sS --max-time 5 --cacert "$here/demo/tls/ca.pem" \
		--resolve "shop.example:443:$TOPO_VIP" "https://shop.example$1" || echo "(failed)"
}
sreq /
sreq /api/
printf '  $ curl -L ... http://shop.example/api/   (follows the redirect)\n  '
ip netns exec "${P}client" curl -sSL --max-time 5 --cacert "$here/demo/tls/ca.pem" \
	--resolve "shop.example:443:$TOPO_VIP" --resolve "shop.example:80:$TOPO_VIP" \
	http://shop.example/api/ || echo "(failed)"

say "metrics: curl http://127.0.0.1:9180/metrics (in ${P}gw)"
metrics metrics | grep -E '^sluice_(rx_packets|tx_packets|arp_replies|icmp_echo_replies|tcp_syn_in|http_requests|spliced_to_pod|spliced_to_client|tls_terminated|term_requests|tls_handshakes)_total|^sluice_(route_requests|gateway_answers)_total' | sed 's/^/  /'

say "telemetry: echo /sluice/stats | dpdk-telemetry.py -f sluice-demo"
echo /sluice/stats | dpdk-telemetry.py -f sluice-demo 2>/dev/null | sed 's/^/  /' || true

if [ -t 0 ]; then
	say "the gateway is running; Ctrl-C stops it and removes the topology"
	wait "$gw_pid" 2>/dev/null || while kill -0 "$gw_pid" 2>/dev/null; do sleep 1; done
else
	say "done; stopping"
fi
