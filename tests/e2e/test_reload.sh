#!/usr/bin/env bash
# Hitless rule updates: while wrk keeps 50 connections busy, Ingress files in the manifest
# directory are added, changed and removed. Each change reaches the data path within seconds
# (inotify, 200 ms debounce, compile, pointer swap under RCU), and wrk sees no error and no
# non-2xx answer throughout. Then a typo in a live manifest keeps its routes (reported and
# counted), and a gateway started before its manifest directory exists is not ready until the
# directory appears with a manifest that parses, and loads it without SIGHUP.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/topology.sh"
SLUICE=${SLUICE:?path to the sluice binary}
e2e_init "slr$$-"

topo_up "$P"
nginx_pods
mkdir -p "$work/manifests"
cp "$here/manifests/"*.yaml "$work/manifests/"
mport=$((20000 + $$ % 20000))
topo_write_config "$work/sluice.conf" "$P" "$mport" "[1]" "$work/manifests"
gw_start "$work/sluice.conf" "$mport"
get() { ip netns exec "${P}client" curl -s --max-time 5 -H "Host: $1" "http://$TOPO_VIP$2"; }
[ "$(get shop.example /)" = "pod1" ] || fail "initial routing"

ip netns exec "${P}client" wrk -t 1 -c 50 -d 9s --timeout 5s -H 'Host: shop.example' \
	"http://$TOPO_VIP/" >"$work/wrk.txt" 2>&1 &
wrk_pid=$!
sleep 1

# 1. Add an Ingress for a new host.
cat >"$work/manifests/30-new.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: new, namespace: e2e, creationTimestamp: "2026-02-01T00:00:00Z"}
spec:
  ingressClassName: sluice
  rules:
    - host: new.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
YAML
wait_for 5 sh -c "[ \"\$(ip netns exec ${P}client curl -s --max-time 2 -H 'Host: new.example' http://$TOPO_VIP/)\" = pod2 ]" ||
	fail "the new Ingress did not reach the data path"
echo "ok: added Ingress routed"

# 2. Change where shop.example/ goes (web → api), by rewriting the file atomically.
sed 's/{name: web, port: {name: http}}/{name: api, port: {number: 80}}/' \
	"$work/manifests/20-ingress.yaml" >"$work/manifests/.tmp" &&
	mv "$work/manifests/.tmp" "$work/manifests/20-ingress.yaml"
wait_for 5 sh -c "[ \"\$(ip netns exec ${P}client curl -s --max-time 2 -H 'Host: shop.example' http://$TOPO_VIP/)\" = pod2 ]" ||
	fail "the changed rule did not reach the data path"
echo "ok: changed rule routed"

# 3. Remove the new Ingress.
rm "$work/manifests/30-new.yaml"
wait_for 5 sh -c "[ \"\$(ip netns exec ${P}client curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Host: new.example' http://$TOPO_VIP/)\" = 404 ]" ||
	fail "the removed Ingress still routes"
echo "ok: removed Ingress gone"

wait "$wrk_pid" || fail "wrk failed"
cat "$work/wrk.txt"
grep -q "Socket errors" "$work/wrk.txt" && fail "wrk saw socket errors during the updates"
grep -q "Non-2xx" "$work/wrk.txt" && fail "wrk saw non-2xx responses during the updates"
echo "ok: no failed request while rules changed"

page=$(ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics")
pubs=$(printf '%s\n' "$page" | awk '/^sluice_route_publishes_total/ { print $2 }')
[ "${pubs:-0}" -ge 3 ] || { printf "%s\n" "$page" | grep -i route >&2; fail "expected at least 3 publishes, saw ${pubs:-0}"; }
lat=$(printf '%s\n' "$page" | awk '/^sluice_route_change_to_publish_seconds/ { print $2 }')
echo "ok: $pubs publishes; last change-to-publish ${lat}s"

metric() { ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
failing_is() { [ "$(metric sluice_manifest_files_failing)" = "$1" ]; }
readyz() { ip netns exec "${P}gw" curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/readyz"; }

# 4. A YAML typo in a live manifest: the file keeps its last good version (shop.example/ still
#    goes to api, as changed in step 2), the error is logged and counted; fixing it applies.
printf 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: [oops\n' \
	>"$work/manifests/.tmp" && mv "$work/manifests/.tmp" "$work/manifests/20-ingress.yaml"
wait_for 5 failing_is 1 || fail "the broken manifest is not reported as failing"
[ "$(get shop.example /)" = "pod2" ] || fail "a broken manifest dropped its routes"
[ "$(metric sluice_manifest_errors_total)" = 1 ] || fail "sluice_manifest_errors_total is not 1"
grep -q "20-ingress.yaml:.*YAML syntax" "$work/gw.log" || fail "the YAML error is not logged"
grep -q "20-ingress.yaml: keeping the .* document(s) it held before" "$work/gw.log" ||
	fail "the log does not say the old objects are kept"
[ "$(readyz)" = 200 ] || fail "a broken file made the gateway unready"
cp "$here/manifests/20-ingress.yaml" "$work/manifests/.tmp" &&
	mv "$work/manifests/.tmp" "$work/manifests/20-ingress.yaml"
wait_for 5 failing_is 0 || fail "the fixed manifest still counts as failing"
wait_for 5 sh -c "[ \"\$(ip netns exec ${P}client curl -s --max-time 2 -H 'Host: shop.example' http://$TOPO_VIP/)\" = pod1 ]" ||
	fail "the fixed manifest did not apply"
echo "ok: a broken manifest keeps its routes, is logged and counted; the fix applies"
gw_stop

# 5. Started before its manifest directory exists: not ready, says so, and watches the parent.
late="$work/late/manifests"
topo_write_config "$work/late.conf" "$P" "$mport" "[1]" "$late"
gw_start "$work/late.conf" "$mport"
[ "$(readyz)" = 503 ] || fail "ready without a manifest directory"
grep -q "late/manifests: cannot read the manifest directory" "$work/gw.log" ||
	fail "the missing directory is not logged"
grep -q "watching $work for it to appear" "$work/gw.log" || fail "not watching an ancestor"
echo "ok: missing manifest directory: not ready, watching $work"
# It appears (two levels at once, moved into place) holding only a broken file: still not ready.
mkdir -p "$work/staging/manifests"
printf 'kind: [\n' >"$work/staging/manifests/broken.yaml"
mv "$work/staging" "$work/late"
wait_for 5 failing_is 1 || fail "the new directory was not loaded"
[ "$(readyz)" = 503 ] || fail "ready although every manifest fails to parse"
echo "ok: a directory whose every file fails to parse is not ready"
# Good manifests arrive: ready and routed, without SIGHUP.
cp "$here/manifests/"*.yaml "$late/"
wait_for 5 sh -c "[ \"\$(ip netns exec ${P}gw curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$mport/readyz)\" = 200 ]" ||
	fail "not ready after good manifests arrived"
[ "$(get shop.example /)" = "pod1" ] || fail "the late manifests do not route"
echo "ok: the late directory's manifests loaded without SIGHUP; ready"
gw_stop
