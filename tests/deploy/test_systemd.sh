#!/usr/bin/env bash
# The systemd unit: deploy/systemd/sluice.service as shipped and the copy this build installs
# pass `systemd-analyze verify` (with ExecStart pointed at this build's binary, since verify
# wants the command to exist), and say what docs/install.md says: a simple foreground service
# started after a configuration check, HUP to reload, TERM to stop, restarted on failure,
# unlimited locked memory, hugetlbfs mounted first. The daemon takes the options the unit
# gives it. Needs no root and starts nothing.
set -euo pipefail
SLUICE=${SLUICE:?path to the sluice binary}
SOURCE_ROOT=${SOURCE_ROOT:?the source directory}
SLUICE_UNIT=${SLUICE_UNIT:?the unit this build installs}
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

value() { # unit key: the key's value (the last assignment wins, as in systemd)
	sed -n "s/^$2=//p" "$1" | tail -n 1
}

check_unit() { # label unit-file
	local label=$1 unit=$2
	local bin conf
	bin=$(value "$unit" ExecStart | awk '{print $1}')
	conf=$(value "$unit" ExecStart | awk '{print $3}')
	[ "$(value "$unit" ExecStart)" = "$bin -c $conf" ] ||
		fail "$label: ExecStart is not 'SLUICE -c FILE': $(value "$unit" ExecStart)"
	[ "$(value "$unit" ExecStartPre)" = "$bin --check-config $conf" ] ||
		fail "$label: ExecStartPre does not check the same file: $(value "$unit" ExecStartPre)"
	[ "$(value "$unit" Type)" = simple ] || fail "$label: Type is not simple"
	# shellcheck disable=SC2016 # systemd's $MAINPID, literally
	[ "$(value "$unit" ExecReload)" = '/bin/kill -HUP $MAINPID' ] || fail "$label: ExecReload"
	[ "$(value "$unit" KillSignal)" = SIGTERM ] || fail "$label: KillSignal"
	[ "$(value "$unit" Restart)" = on-failure ] || fail "$label: Restart"
	[ "$(value "$unit" LimitMEMLOCK)" = infinity ] || fail "$label: LimitMEMLOCK"
	value "$unit" Requires | grep -qw dev-hugepages.mount || fail "$label: Requires"
	value "$unit" After | grep -qw dev-hugepages.mount || fail "$label: After"
	value "$unit" WantedBy | grep -qw multi-user.target || fail "$label: WantedBy"

	# verify wants the commands to exist: point the copy at this build's binary.
	mkdir -p "$work/$label"
	sed "s|^\(Exec[A-Za-z]*=\)$bin |\1$SLUICE |" "$unit" >"$work/$label/sluice.service"
	grep -q "^ExecStart=$SLUICE -c " "$work/$label/sluice.service" || fail "$label: sed"
	local rc=0
	systemd-analyze verify "$work/$label/sluice.service" >"$work/$label/verify.out" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ] || [ -s "$work/$label/verify.out" ]; then
		cat "$work/$label/verify.out"
		fail "$label: systemd-analyze verify (exit $rc)"
	fi
	ok "$label: systemd-analyze verify is silent; ExecStart $bin -c $conf"
}

check_unit source "$SOURCE_ROOT/deploy/systemd/sluice.service"
check_unit installed "$SLUICE_UNIT"
[ "$(value "$SOURCE_ROOT/deploy/systemd/sluice.service" ExecStart)" = \
	"/usr/local/bin/sluice -c /etc/sluice/sluice.conf" ] || fail "the shipped unit's default paths"

# The daemon takes what the unit passes: --check-config FILE validates and exits 0 ...
cp -r "$SOURCE_ROOT/drivers-config" "$work/"
cp "$SOURCE_ROOT/configs/sluice.example.conf" "$work/sluice.conf"
"$SLUICE" --check-config "$work/sluice.conf" >"$work/out" 2>&1 ||
	{ cat "$work/out"; fail "--check-config"; }
# ... and -c FILE is the configuration to run (a missing file is refused before EAL starts).
rc=0
"$SLUICE" -c "$work/missing.conf" >"$work/out" 2>&1 || rc=$?
if [ "$rc" -ne 1 ] || ! grep -q "missing.conf:0: cannot read the file" "$work/out"; then
	cat "$work/out"
	fail "-c FILE: exit $rc"
fi
ok "the daemon takes --check-config FILE and -c FILE"
