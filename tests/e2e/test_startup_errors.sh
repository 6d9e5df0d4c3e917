#!/usr/bin/env bash
# The daemon's start-up failures are one clear line and exit status 1: bad configuration,
# a port whose interface does not exist, more workers than the port has queues.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/topology.sh"
SLUICE=${SLUICE:?path to the sluice binary}
P="sle$$-"
work=$(mktemp -d)
cleanup() { topo_down "$P"; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

expect_error() { # name pattern cmd...
	local name=$1 pattern=$2
	shift 2
	local rc=0
	timeout 60 "$@" >"$work/out" 2>&1 || rc=$?
	[ "$rc" -eq 1 ] || { cat "$work/out"; fail "$name: exit status $rc, expected 1"; }
	grep -q -- "$pattern" "$work/out" || { cat "$work/out"; fail "$name: no '$pattern'"; }
	echo "ok: $name"
}

printf 'lcores = { workers = [1]; };\nports = 7;\n' >"$work/bad.conf"
expect_error "bad config names file and line" "bad.conf:2: ports: expected a list" \
	"$SLUICE" -c "$work/bad.conf"
expect_error "check-config reports the same" "bad.conf:2: ports: expected a list" \
	"$SLUICE" --check-config "$work/bad.conf"
expect_error "missing config file" "cannot read the file" "$SLUICE" -c "$work/nope.conf"

topo_up "$P"
topo_write_config "$work/noif.conf" "$P" 1
sed -i 's/iface=gw-c/iface=does-not-exist/' "$work/noif.conf"
expect_error "port whose interface does not exist" "sluice: error: .*not found" \
	ip netns exec "${P}gw" "$SLUICE" -c "$work/noif.conf"

topo_write_config "$work/queues.conf" "$P" 1 "[1, 2]"
sed -i 's/iface=gw-c/iface=gw-c,qpairs=1/' "$work/queues.conf"
expect_error "more workers than queues" "2 workers need 2 RX and TX queues, the device offers 1" \
	ip netns exec "${P}gw" "$SLUICE" -c "$work/queues.conf"
