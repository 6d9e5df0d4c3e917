#!/usr/bin/env bash
# The daemon's start-up failures are one clear line and exit status 1: bad configuration,
# a port whose interface or PCI device does not exist, more workers than the port has queues.
# A failure after EAL took hugepages gives them back: no file with the gateway's prefix stays
# in /dev/hugepages. Unknown subcommands are refused (exit 2) before EAL starts. Every log
# line carries an RFC 3339 UTC time and a level, and log_level drops the lines below it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/topology.sh"
SLUICE=${SLUICE:?path to the sluice binary}
P="sle$$-"
work=$(mktemp -d)
gw_pid=
cleanup() {
	[ -n "$gw_pid" ] && kill -9 "$gw_pid" 2>/dev/null || true
	topo_down "$P"
	rm -rf "$work" "/var/run/dpdk/${P}sluice"
	rm -f "/dev/hugepages/${P}"*
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
TS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'

expect_status() { # status name pattern cmd...
	local want=$1 name=$2 pattern=$3
	shift 3
	local rc=0
	timeout 60 "$@" >"$work/out" 2>&1 || rc=$?
	[ "$rc" -eq "$want" ] || { cat "$work/out"; fail "$name: exit status $rc, expected $want"; }
	grep -Eq -- "$pattern" "$work/out" || { cat "$work/out"; fail "$name: no '$pattern'"; }
	echo "ok: $name"
}
expect_error() { expect_status 1 "$@"; }

# No hugepage file named after this test's gateways may outlive them.
no_hugepage_files() { # name
	local left
	left=$(find /dev/hugepages -maxdepth 1 -name "${P}*" | wc -l)
	[ "$left" -eq 0 ] || { ls -l /dev/hugepages | grep "$P" >&2; fail "$1: $left hugepage file(s) left"; }
	echo "ok: $1: no hugepage file left"
}

# ---- before EAL: configuration, subcommands --------------------------------------------------
printf 'lcores = { workers = [1]; };\nports = 7;\n' >"$work/bad.conf"
expect_error "bad config names file and line" "bad.conf:2: ports: expected a list" \
	"$SLUICE" -c "$work/bad.conf"
expect_error "the final line has a time and a level" "^$TS sluice error: .*1 configuration problem" \
	"$SLUICE" -c "$work/bad.conf"
expect_error "check-config reports the same" "bad.conf:2: ports: expected a list" \
	"$SLUICE" --check-config "$work/bad.conf"
expect_error "missing config file" "cannot read the file" "$SLUICE" -c "$work/nope.conf"

expect_status 2 "unknown subcommand refused" "unknown command 'routes'; did you mean 'route'" \
	"$SLUICE" routes
grep -q "EAL:" "$work/out" && fail "an unknown subcommand started EAL"
expect_status 2 "stray word after the options refused" "unexpected argument 'extra'" \
	"$SLUICE" -c "$work/nope.conf" extra
expect_status 0 "sluice version" "^sluice [0-9]+\.[0-9]+\.[0-9]+ \(DPDK " "$SLUICE" version
expect_status 0 "sluice --version" "^sluice [0-9]+\.[0-9]+\.[0-9]+" "$SLUICE" --version

# ---- after EAL: missing devices, too few queues; hugepages given back ------------------------
topo_up "$P"
# Without --in-memory EAL backs its pages with files in /dev/hugepages: the case to clean up.
with_files() { sed -i 's/"--in-memory", //' "$1"; }

topo_write_config "$work/noif.conf" "$P" 1
with_files "$work/noif.conf"
sed -i 's/iface=gw-c/iface=does-not-exist/' "$work/noif.conf"
expect_error "port whose interface does not exist" \
	"^$TS sluice error: port 'client' .*interface 'does-not-exist' does not exist in this network namespace" \
	ip netns exec "${P}gw" "$SLUICE" -c "$work/noif.conf"
[ "$(grep -c 'sluice error' "$work/out")" -eq 1 ] || fail "more than one error line"
no_hugepage_files "missing interface"

topo_write_config "$work/nopci.conf" "$P" 1
with_files "$work/nopci.conf"
sed -i 's/"net_af_packet0,iface=gw-c"/"0000:7f:1f.7"/' "$work/nopci.conf"
expect_error "port whose PCI device does not exist" \
	"sluice error: port 'client' .*device '0000:7f:1f.7' not found: no such PCI device" \
	ip netns exec "${P}gw" "$SLUICE" -c "$work/nopci.conf"
no_hugepage_files "missing PCI device"

topo_write_config "$work/queues.conf" "$P" 1 "[1, 2]"
with_files "$work/queues.conf"
sed -i 's/iface=gw-c/iface=gw-c,qpairs=1/' "$work/queues.conf"
expect_error "more workers than queues" "2 workers need 2 RX and TX queues, the device offers 1" \
	ip netns exec "${P}gw" "$SLUICE" -c "$work/queues.conf"
no_hugepage_files "too few queues (after the mempools)"

# ---- log lines: time, level, log_level -------------------------------------------------------
mport=$((20000 + $$ % 20000))
mkdir "$work/empty"
run_and_stop() { # config log
	ip netns exec "${P}gw" "$SLUICE" -c "$1" >"$2" 2>&1 &
	gw_pid=$!
	wait_for 60 ip netns exec "${P}gw" curl -sf --max-time 2 "http://127.0.0.1:$mport/healthz" ||
		{ cat "$2"; fail "gateway did not come up"; }
	local code
	code=$(ip netns exec "${P}gw" curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/readyz")
	[ "$code" = 200 ] || { cat "$2"; fail "an empty manifest directory should be ready, /readyz $code"; }
	kill -TERM "$gw_pid"
	local rc=0
	wait "$gw_pid" || rc=$?
	gw_pid=
	[ "$rc" -eq 0 ] || { cat "$2"; fail "gateway exited $rc after SIGTERM"; }
}
topo_write_config "$work/info.conf" "$P" "$mport" "[1]" "$work/empty"
with_files "$work/info.conf"
run_and_stop "$work/info.conf" "$work/info.log"
grep -Eq "^$TS sluice info: port 'client'" "$work/info.log" || { cat "$work/info.log"; fail "no timestamped info line"; }
grep -Eq "^$TS sluice notice: routing: .*holds no manifest files" "$work/info.log" ||
	{ cat "$work/info.log"; fail "no notice for the empty manifest directory"; }
grep -Eq "^$TS sluice notice: stopped cleanly" "$work/info.log" || fail "no clean-stop notice"
# Every line of ours has the time and a level word (EAL's own lines start with their prefix).
if grep "sluice" "$work/info.log" | grep -Ev "^$TS sluice (error|warning|notice|info|debug): " |
	grep -v "^EAL" | grep -q .; then
	cat "$work/info.log"
	fail "a log line without time or level"
fi
echo "ok: log lines carry a time and a level"
no_hugepage_files "clean stop"

cp "$work/info.conf" "$work/quiet.conf"
echo 'log_level = "error";' >>"$work/quiet.conf"
run_and_stop "$work/quiet.conf" "$work/quiet.log"
if grep -Eq "sluice (warning|notice|info|debug):" "$work/quiet.log"; then
	cat "$work/quiet.log"
	fail "log_level \"error\" printed lines below error"
fi
echo "ok: log_level \"error\" hides info and notice lines"
