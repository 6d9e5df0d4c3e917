#!/usr/bin/env bash
# meson install into a scratch DESTDIR lays out what docs/install.md promises: the binary in
# bindir, sluice.conf (the example) and every driver profile under <sysconfdir>/sluice, the
# systemd unit naming this build's paths, the documentation under <datadir>/doc/sluice. The
# installed binary accepts the installed configuration (its @include of drivers-config/
# resolves beside it, from any working directory). Installing again keeps an edited sluice.conf
# and puts back a deleted one. Needs no root; everything lives in one temporary directory.
set -euo pipefail
BUILD_ROOT=${BUILD_ROOT:?the build directory}
SOURCE_ROOT=${SOURCE_ROOT:?the source directory}
MESON=${MESON:-meson}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# The build's directories, as meson resolved them (sysconfdir may be outside the prefix).
eval "$("$MESON" introspect --buildoptions "$BUILD_ROOT" | python3 -c '
import json, os, shlex, sys
opts = {o["name"]: o["value"] for o in json.load(sys.stdin)}
p = opts["prefix"]
for k in ("bindir", "sysconfdir", "datadir"):
    print("%s=%s" % (k, shlex.quote(os.path.join(p, opts[k]))))
')"
# shellcheck disable=SC2154 # set by the eval above
{ bin=$bindir/sluice; confdir=$sysconfdir/sluice; docdir=$datadir/doc/sluice; }

dest=$work/root
install_into() {
	"$MESON" install -C "$BUILD_ROOT" --destdir "$dest" --no-rebuild --quiet \
		>"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "meson install"; }
}
install_into

# ---- the layout ------------------------------------------------------------------------------
[ -x "$dest$bin" ] || fail "no executable $bin"
"$dest$bin" version | grep -Eq '^sluice [0-9]+\.[0-9]+\.[0-9]+' || fail "installed sluice version"
ok "binary at $bin"

cmp -s "$SOURCE_ROOT/configs/sluice.example.conf" "$dest$confdir/sluice.conf" ||
	fail "$confdir/sluice.conf is not configs/sluice.example.conf"
ok "example configuration at $confdir/sluice.conf"

n=0
for f in "$SOURCE_ROOT"/drivers-config/*.conf; do
	cmp -s "$f" "$dest$confdir/drivers-config/$(basename "$f")" ||
		fail "driver profile $(basename "$f") not installed in $confdir/drivers-config"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || fail "no driver profiles in the source tree"
ok "$n driver profiles in $confdir/drivers-config"

for f in README.md configs/sluice.example.conf docs/*.md; do
	[ -f "$SOURCE_ROOT/$f" ] || continue
	case $f in
	docs/*) to=$docdir/$f ;;
	*) to=$docdir/$(basename "$f") ;;
	esac
	cmp -s "$SOURCE_ROOT/$f" "$dest$to" || fail "$f not installed as $to"
done
ok "documentation in $docdir"

mapfile -t units < <(cd "$dest" && find . -name sluice.service | sed 's|^\.||')
[ "${#units[@]}" -eq 1 ] || fail "expected one sluice.service, found: ${units[*]:-none}"
unit=${units[0]}
case $unit in
*/lib/systemd/system/sluice.service) ;;
*) fail "the unit went to $unit, not a systemd system unit directory" ;;
esac
grep -qx "ExecStart=$bin -c $confdir/sluice.conf" "$dest$unit" ||
	fail "installed unit's ExecStart does not name $bin and $confdir/sluice.conf:" \
		"$(grep ExecStart= "$dest$unit")"
grep -qx "ExecStartPre=$bin --check-config $confdir/sluice.conf" "$dest$unit" ||
	fail "installed unit's ExecStartPre: $(grep ExecStartPre= "$dest$unit")"
ok "unit at $unit with this build's paths"

# ---- the installed binary takes the installed configuration ------------------------------------
(cd / && "$dest$bin" --check-config "$dest$confdir/sluice.conf") >"$work/check.out" 2>&1 ||
	{ cat "$work/check.out"; fail "installed sluice --check-config on the installed sluice.conf"; }
grep -q ": ok (" "$work/check.out" || { cat "$work/check.out"; fail "no ok line"; }
ok "installed binary accepts the installed configuration ($(cat "$work/check.out"))"

# Without its profiles beside it, the configuration is refused with the file it looked for.
mv "$dest$confdir/drivers-config" "$work/profiles"
if "$dest$bin" --check-config "$dest$confdir/sluice.conf" >"$work/check.out" 2>&1; then
	fail "check-config passed with drivers-config/ missing"
fi
grep -q "cannot open $dest$confdir/drivers-config/" "$work/check.out" ||
	{ cat "$work/check.out"; fail "the error does not name the missing profile's path"; }
mv "$work/profiles" "$dest$confdir/drivers-config"
ok "the @include resolves beside the configuration file"

# ---- installing again keeps the node's configuration --------------------------------------------
echo '# edited on this node' >>"$dest$confdir/sluice.conf"
install_into
tail -n 1 "$dest$confdir/sluice.conf" | grep -qx '# edited on this node' ||
	fail "meson install overwrote an existing sluice.conf"
ok "meson install again keeps an edited sluice.conf"
rm "$dest$confdir/sluice.conf"
install_into
cmp -s "$SOURCE_ROOT/configs/sluice.example.conf" "$dest$confdir/sluice.conf" ||
	fail "meson install did not put back a missing sluice.conf"
ok "meson install puts back a missing sluice.conf"
