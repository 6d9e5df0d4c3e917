#!/usr/bin/env bash
# Hitless rule updates: while wrk keeps 50 connections busy, Ingress files in the manifest
# directory are added, changed and removed. Each change reaches the data path within seconds
# (inotify, 200 ms debounce, compile, pointer swap under RCU), and wrk sees no error and no
# non-2xx answer throughout.
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
gw_stop
