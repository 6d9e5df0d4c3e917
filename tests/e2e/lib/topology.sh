# Network-namespace topology shared by the demo and the end-to-end tests. Source it, then
# call topo_up PREFIX / topo_down PREFIX. Every name carries PREFIX so concurrent runs (the demo
# and a test, or two tests) never collide, and topo_down removes exactly what topo_up made.
#
#   ${P}client  c0 198.18.0.2/24 ──veth── gw-c ┐
#                                              ${P}gw  (no addresses: the gateway owns gw-c, gw-p)
#   ${P}pods    br0 198.19.0.254/24 ─ p-gw ──veth── gw-p ┘
#                 ├─ p-pod1 ──veth── ${P}pod1 eth0 198.19.0.11/24
#                 └─ p-pod2 ──veth── ${P}pod2 eth0 198.19.0.12/24
#
# Only 198.18.0.0/15 addresses. Offloads are off on every namespace-side interface that faces
# the gateway: the af_packet PMD must see real frames with full checksums.

TOPO_VIP=198.18.0.10
TOPO_CLIENT_IP=198.18.0.2
TOPO_SNAT=198.19.0.1
TOPO_ROUTER=198.19.0.254
TOPO_POD1=198.19.0.11
TOPO_POD2=198.19.0.12

_topo_quiet_if() { # ns ifname: no IPv6 chatter, no offloads
	ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1" 2>/dev/null || true
	ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true
}

topo_up() {
	local P=$1
	local ns
	for ns in client gw pods pod1 pod2; do
		ip netns add "${P}$ns"
		ip -n "${P}$ns" link set lo up
		ip netns exec "${P}$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
		ip netns exec "${P}$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	done
	# client <-> gateway
	ip link add c0 netns "${P}client" type veth peer name gw-c netns "${P}gw"
	# gateway <-> pod network bridge
	ip link add gw-p netns "${P}gw" type veth peer name p-gw netns "${P}pods"
	ip -n "${P}pods" link add br0 type bridge
	ip -n "${P}pods" link set p-gw master br0
	local i
	for i in 1 2; do
		ip link add eth0 netns "${P}pod$i" type veth peer name "p-pod$i" netns "${P}pods"
		ip -n "${P}pods" link set "p-pod$i" master br0
	done

	ip -n "${P}client" addr add "$TOPO_CLIENT_IP/24" dev c0
	ip -n "${P}pods" addr add "$TOPO_ROUTER/24" dev br0
	ip -n "${P}pod1" addr add "$TOPO_POD1/24" dev eth0
	ip -n "${P}pod2" addr add "$TOPO_POD2/24" dev eth0

	_topo_quiet_if "${P}client" c0
	_topo_quiet_if "${P}gw" gw-c
	_topo_quiet_if "${P}gw" gw-p
	_topo_quiet_if "${P}pods" p-gw
	_topo_quiet_if "${P}pods" br0
	for i in 1 2; do
		_topo_quiet_if "${P}pods" "p-pod$i"
		_topo_quiet_if "${P}pod$i" eth0
	done

	ip -n "${P}client" link set c0 up
	ip -n "${P}gw" link set gw-c up
	ip -n "${P}gw" link set gw-p up
	ip -n "${P}pods" link set br0 up
	ip -n "${P}pods" link set p-gw up
	for i in 1 2; do
		ip -n "${P}pods" link set "p-pod$i" up
		ip -n "${P}pod$i" link set eth0 up
	done
	# Pods reach SNAT addresses on-link; anything else via the pod-network router.
	ip -n "${P}pod1" route add default via "$TOPO_ROUTER"
	ip -n "${P}pod2" route add default via "$TOPO_ROUTER"
}

# Kill every process still running in the topology's namespaces, then delete them.
topo_down() {
	local P=$1
	local ns pids
	for ns in client gw pods pod1 pod2; do
		if ip netns list | grep -qw "${P}$ns"; then
			pids=$(ip netns pids "${P}$ns" 2>/dev/null || true)
			[ -n "$pids" ] && kill $pids 2>/dev/null || true
		fi
	done
	sleep 0.2
	for ns in client gw pods pod1 pod2; do
		if ip netns list | grep -qw "${P}$ns"; then
			pids=$(ip netns pids "${P}$ns" 2>/dev/null || true)
			[ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
			ip netns del "${P}$ns" 2>/dev/null || true
		fi
	done
	# EAL's runtime directory of a gateway that was killed rather than stopped (never the
	# default prefix's: a gateway in service may use it)
	[ -n "$P" ] && rm -rf "/var/run/dpdk/${P}sluice"
	return 0
}

# Poll CMD until it succeeds or SECONDS pass. Bounded: every wait in the tests uses this.
wait_for() {
	local secs=$1
	shift
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# Write a gateway config for this topology. Args: FILE PREFIX METRICS_PORT [WORKERS] [MANIFESTS]
# TOPO_LISTEN, when set, is the client port's listen list (e.g. "[80, 443]").
topo_write_config() {
	local file=$1 P=$2 mport=$3 workers=${4:-"[1]"} manifests=${5:-}
	local root
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
	# @include resolves relative to the config's directory (libconfig 1.5 has no absolute
	# includes): link the profiles next to it.
	ln -sfn "$root/drivers-config" "$(dirname "$file")/drivers-config"
	cat > "$file" <<CONF
eal = {
  args = ["--file-prefix=${P}sluice", "--in-memory", "--log-level=lib.eal:warning",
          "--log-level=pmd.net.af_packet:warning", "--log-level=lib.telemetry:warning"];
};
lcores = { management = 0; workers = $workers; };
ports = (
  {
    name = "client";
    devargs = "net_af_packet0,iface=gw-c";
    @include "drivers-config/af_packet.conf"
    vips = ["$TOPO_VIP"];
    subnets = ["198.18.0.0/24"];${TOPO_LISTEN:+
    listen = $TOPO_LISTEN;}
  },
  {
    name = "pods";
    devargs = "net_af_packet1,iface=gw-p";
    @include "drivers-config/af_packet.conf"
    snat = ["$TOPO_SNAT"];
    subnets = ["198.19.0.0/24"];
    routes = ( { dst = "198.19.0.0/16"; via = "$TOPO_ROUTER"; } );
  }
);
limits = { mbufs = 8191; max_flows = 65536; };
metrics = { listen = "127.0.0.1:$mport"; };
routing = { manifests = "$manifests"; };
timeouts = { header_ms = 2000; connect_ms = 3000; };
CONF
}

# nginx_pods [EXTRA]: nginx on 8080 in the pod1 and pod2 namespaces, serving "podN" at / and
# "podN-api" at /api/, with long keep-alive; EXTRA is more nginx "http" configuration, copied
# as it is (nginx variables need no escaping). Waits until both answer.
nginx_pods() {
	local extra=${1:-} i
	for i in 1 2; do
		mkdir -p "$work/pod$i/api"
		echo "pod$i" >"$work/pod$i/index.html"
		echo "pod$i-api" >"$work/pod$i/api/index.html"
		cat >"$work/nginx$i.conf" <<NGX
daemon off;
user root;
worker_processes 1;
pid $work/nginx-$i.pid;
error_log /dev/null;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/tmp;
    proxy_temp_path $work/tmp;
    fastcgi_temp_path $work/tmp;
    uwsgi_temp_path $work/tmp;
    scgi_temp_path $work/tmp;
    server { listen 8080; root $work/pod$i; keepalive_requests 100000; }
    $extra
}
NGX
		ip netns exec "${P}pod$i" nginx -c "$work/nginx$i.conf" >/dev/null 2>&1 &
	done
	for i in 1 2; do
		wait_for 10 ip netns exec "${P}pod$i" curl -sf --max-time 1 http://127.0.0.1:8080/ ||
			fail "nginx on pod$i did not start"
	done
}

# ---- scaffolding shared by the end-to-end tests -------------------------------------------
# e2e_init PREFIX: sets P, work (a temporary directory) and a trap that kills the gateway,
# removes the topology (plus any extra namespaces listed in E2E_EXTRA_NS) and the directory,
# whatever way the test ends.
e2e_init() {
	P=$1
	work=$(mktemp -d)
	gw_pid=
	E2E_EXTRA_NS=${E2E_EXTRA_NS:-}
	trap e2e_cleanup EXIT
}

e2e_cleanup() {
	[ -n "${gw_pid:-}" ] && kill -9 "$gw_pid" 2>/dev/null || true
	local ns pids
	for ns in $E2E_EXTRA_NS; do
		if ip netns list | grep -qw "$ns"; then
			pids=$(ip netns pids "$ns" || true)
			[ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
			ip netns del "$ns" || true
		fi
	done
	topo_down "$P"
	rm -rf "$work"
}

fail() {
	echo "FAIL: $*" >&2
	echo "--- gateway log" >&2
	tail -20 "$work/gw.log" >&2 || true
	exit 1
}

# gw_start CONFIG METRICS_PORT: run the gateway in the gw namespace and wait for /healthz.
gw_start() {
	ip netns exec "${P}gw" "$SLUICE" -c "$1" >"$work/gw.log" 2>&1 &
	gw_pid=$!
	wait_for 60 ip netns exec "${P}gw" curl -sf --max-time 2 "http://127.0.0.1:$2/healthz" ||
		fail "gateway did not come up"
}

# wrk_clean OUTPUT MIN WHAT: wrk's report must show no socket errors, no non-2xx answers and more
# than MIN requests; prints the request count.
wrk_clean() {
	local res=$1 min=$2 what=$3 reqs
	echo "$res" | grep -q "Socket errors" && { echo "$res" >&2; fail "$what: wrk saw socket errors"; }
	echo "$res" | grep -q "Non-2xx" && { echo "$res" >&2; fail "$what: wrk saw non-2xx answers"; }
	reqs=$(echo "$res" | awk '/requests in/ {print $1}')
	[ "${reqs:-0}" -gt "$min" ] || { echo "$res" >&2; fail "$what: wrk made only ${reqs:-0} requests"; }
	echo "$reqs"
}

# gw_stop: SIGTERM, and the exit status must be 0.
gw_stop() {
	kill -TERM "$gw_pid"
	local rc=0
	wait "$gw_pid" || rc=$?
	gw_pid=
	[ "$rc" -eq 0 ] || fail "gateway exited $rc after SIGTERM"
	echo "ok: SIGTERM exits 0"
}
