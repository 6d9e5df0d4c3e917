#!/usr/bin/env bash
# The gateway as the cluster's Ingress controller: rules and endpoints come from the test API
# server (tests/kube/apiserver.py, HTTPS with its own CA and a bearer token) running in the
# gateway's namespace. While wrk keeps 50 connections busy, Ingresses are added and moved
# between classes, an EndpointSlice scales up and down and the watch is dropped mid-stream;
# each change reaches the data path, wrk sees no failed request, and the gateway writes and
# clears status.loadBalancer on the Ingresses.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/topology.sh"
SLUICE=${SLUICE:?path to the sluice binary}
e2e_init "slk$$-"

topo_up "$P"
nginx_pods

# The API server: its own CA and serving certificate for 127.0.0.1.
(
	cd "$work"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
		-subj /CN=e2e-ca
	openssl req -newkey rsa:2048 -nodes -keyout api.key -out api.csr -subj /CN=apiserver
	echo "subjectAltName=IP:127.0.0.1" >san.cnf
	openssl x509 -req -in api.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out api.crt \
		-days 2 -extfile san.cnf
) >/dev/null 2>&1 || fail "cannot make certificates"
ip netns exec "${P}gw" python3 "$here/../kube/apiserver.py" --port 6443 --control-port 6080 \
	--cert "$work/api.crt" --key "$work/api.key" --token e2e-token \
	>"$work/api.log" 2>&1 &
wait_for 10 grep -q ready "$work/api.log" || fail "the test API server did not start"
ctl() { ip netns exec "${P}gw" curl -sf --max-time 5 "$@"; }
apply() { ctl --data-binary "@$1" http://127.0.0.1:6080/_test/apply >/dev/null; }
apply_text() { ctl --data-binary @- http://127.0.0.1:6080/_test/apply >/dev/null; }
for f in "$here"/manifests/*.yaml; do apply "$f" || fail "apply $f"; done

cat >"$work/kubeconfig" <<KC
apiVersion: v1
kind: Config
current-context: e2e
clusters:
- name: e2e
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: ca.crt
contexts:
- name: e2e
  context: {cluster: e2e, user: gw}
users:
- name: gw
  user: {token: e2e-token}
KC
mport=$((20000 + $$ % 20000))
topo_write_config "$work/sluice.conf" "$P" "$mport" "[1]" ""
cat >>"$work/sluice.conf" <<CONF
kubernetes = { kubeconfig = "kubeconfig"; debounce_ms = 20; backoff_max_ms = 2000; };
CONF
gw_start "$work/sluice.conf" "$mport"
wait_for 20 ip netns exec "${P}gw" curl -sf --max-time 2 "http://127.0.0.1:$mport/readyz" ||
	fail "not ready: the first sync did not complete"
get() { ip netns exec "${P}client" curl -s --max-time 5 -H "Host: $1" "http://$TOPO_VIP$2"; }
code() { ip netns exec "${P}client" curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Host: $1" "http://$TOPO_VIP$2"; }
routes_to() { # HOST BODY: wait until HOST/ answers BODY
	wait_for 5 sh -c "[ \"\$(ip netns exec ${P}client curl -s --max-time 2 -H 'Host: $1' http://$TOPO_VIP/)\" = '$2' ]"
}
[ "$(get shop.example /)" = "pod1" ] || fail "initial routing from the API server"
echo "ok: rules listed from the API server route"

status_ip() { # the first status.loadBalancer.ingress ip of Ingress NS/NAME, or "none"
	ctl "http://127.0.0.1:6080/_test/object?kind=Ingress&namespace=$1&name=$2" |
		python3 -c 'import json,sys; o=json.load(sys.stdin); l=o.get("status",{}).get("loadBalancer",{}).get("ingress") or [{}]; print(l[0].get("ip","none"))'
}
wait_for 5 sh -c "[ \"\$(ip netns exec ${P}gw curl -s 'http://127.0.0.1:6080/_test/object?kind=Ingress&namespace=e2e&name=e2e' | grep -o '\"ip\": \"$TOPO_VIP\"')\" ]" ||
	fail "status.loadBalancer was not written: $(status_ip e2e e2e)"
echo "ok: status.loadBalancer.ingress = $TOPO_VIP"

ip netns exec "${P}client" wrk -t 1 -c 50 -d 10s --timeout 5s -H 'Host: shop.example' \
	"http://$TOPO_VIP/" >"$work/wrk.txt" 2>&1 &
wrk_pid=$!
sleep 1

# 1. A new Ingress.
apply_text <<'JSON'
{"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
 "metadata": {"name": "new", "namespace": "e2e"},
 "spec": {"ingressClassName": "sluice", "rules": [{"host": "new.example", "http": {"paths": [
   {"path": "/", "pathType": "Prefix",
    "backend": {"service": {"name": "api", "port": {"number": 80}}}}]}}]}}
JSON
routes_to new.example pod2 || fail "the added Ingress did not reach the data path"
echo "ok: added Ingress routed"

# 2. The web EndpointSlice scales up to both pods, then down to pod2 alone.
slice() {
	printf '{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"web-1","namespace":"e2e","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","ports":[{"name":"http","port":8080}],"endpoints":[%s]}' "$1" | apply_text
}
slice '{"addresses":["198.19.0.11"]},{"addresses":["198.19.0.12"]}'
seen=""
for _ in $(seq 1 40); do
	seen="$seen $(get shop.example /)"
	case "$seen" in *pod1*pod2* | *pod2*pod1*) break ;; esac
	sleep 0.1
done
case "$seen" in *pod1*pod2* | *pod2*pod1*) ;; *) fail "scale up: new connections did not reach both pods ($seen)" ;; esac
echo "ok: scaled up, both pods answer"

# 3. The watch drops mid-stream; the next change still arrives (resumed watch).
ctl -X POST http://127.0.0.1:6080/_test/drop >/dev/null
slice '{"addresses":["198.19.0.12"]}'
wait_for 5 sh -c "for i in 1 2 3 4 5 6; do [ \"\$(ip netns exec ${P}client curl -s --max-time 2 -H 'Host: shop.example' http://$TOPO_VIP/)\" = pod2 ] || exit 1; done" ||
	fail "scale down after a dropped watch did not reach the data path"
echo "ok: dropped watch resumed; scaled down to pod2"

# 4. The new Ingress moves to another controller's class: 404 and its status cleared.
apply_text <<'JSON'
[{"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1", "metadata": {"name": "other"},
  "spec": {"controller": "example.com/other"}},
 {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
 "metadata": {"name": "new", "namespace": "e2e"},
 "spec": {"ingressClassName": "other", "rules": [{"host": "new.example", "http": {"paths": [
   {"path": "/", "pathType": "Prefix",
    "backend": {"service": {"name": "api", "port": {"number": 80}}}}]}}]}}]
JSON
wait_for 5 sh -c "[ \"\$(ip netns exec ${P}client curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Host: new.example' http://$TOPO_VIP/)\" = 404 ]" ||
	fail "the Ingress that left our class still routes"
wait_for 5 sh -c "[ \"\$(ip netns exec ${P}gw curl -s 'http://127.0.0.1:6080/_test/object?kind=Ingress&namespace=e2e&name=new' | grep -c '\"ip\"')\" = 0 ]" ||
	fail "the status of the Ingress that left our class was not cleared"
echo "ok: Ingress moved to another class: 404, status cleared"

wait "$wrk_pid" || fail "wrk failed"
cat "$work/wrk.txt"
grep -q "Socket errors" "$work/wrk.txt" && fail "wrk saw socket errors during the changes"
grep -q "Non-2xx" "$work/wrk.txt" && fail "wrk saw non-2xx responses during the changes"
echo "ok: no failed request while rules and endpoints changed"

page=$(ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics")
metric() { printf '%s\n' "$page" | awk -v m="$1" '$1 == m { print $2 }'; }
[ "$(metric sluice_kube_synced)" = 1 ] || fail "sluice_kube_synced is not 1"
ev=$(metric 'sluice_kube_events_total{kind="EndpointSlice"}')
[ "${ev:-0}" -ge 2 ] || fail "expected EndpointSlice events, saw ${ev:-0}"
res=$(metric 'sluice_kube_watch_resumes_total{kind="EndpointSlice"}')
[ "${res:-0}" -ge 1 ] || fail "expected a resumed EndpointSlice watch"
set_n=$(metric 'sluice_kube_status_writes_total{op="set"}')
clr_n=$(metric 'sluice_kube_status_writes_total{op="clear"}')
[ "${set_n:-0}" -ge 2 ] && [ "${clr_n:-0}" -ge 1 ] || fail "status writes: set ${set_n:-0}, clear ${clr_n:-0}"
lat=$(metric sluice_kube_change_to_workers_seconds)
python3 -c "import sys; sys.exit(0 if 0 < float('$lat') < 1.0 else 1)" ||
	fail "change to workers took ${lat}s"
echo "ok: metrics: $ev EndpointSlice events, $set_n status sets, $clr_n clears, last change→workers ${lat}s"

# Problems become Warning Events on the object: a Secret that does not decode (spec.tls), an
# Ingress whose Service is missing; an Opaque Secret never reaches the gateway.
apply_text <<'YAML' || fail "apply the broken objects"
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: {name: bad-tls, namespace: e2e}
data: {tls.crt: "!!not base64!!", tls.key: "AAAA"}
---
apiVersion: v1
kind: Secret
type: Opaque
metadata: {name: app-password, namespace: e2e}
data: {password: aHVudGVyMg==}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: broken, namespace: e2e}
spec:
  ingressClassName: sluice
  tls: [{hosts: [secure.example], secretName: bad-tls}, {hosts: [gone.example], secretName: gone-tls}]
  rules:
    - host: secure.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: no-such-svc, port: {number: 80}}}}
YAML
events() { ctl http://127.0.0.1:6080/_test/events; }
wait_for 10 sh -c "ip netns exec ${P}gw curl -sf http://127.0.0.1:6080/_test/events | grep -q CertificateProblem" ||
	fail "no Event for the broken Secret: $(events)"
events | python3 -c '
import json, sys
evs = json.load(sys.stdin)
def one(kind, name, reason, text):
    m = [e for e in evs if e["involvedObject"] == {"apiVersion": "networking.k8s.io/v1" if kind == "Ingress" else "v1",
         "kind": kind, "namespace": "e2e", "name": name} and e["reason"] == reason and text in e["message"]]
    assert m, (kind, name, reason, evs)
    e = m[0]
    assert e["type"] == "Warning" and e["metadata"]["namespace"] == "e2e" and e["count"] == 1, e
    assert e["reportingComponent"] == "sluice.dev/ingress-controller", e
one("Secret", "bad-tls", "CertificateProblem", "data.tls.crt is not base64; hosts secure.example get the default certificate")
one("Ingress", "broken", "IngressProblem", "Service e2e/no-such-svc does not exist")
one("Ingress", "broken", "CertificateProblem", "Secret e2e/gone-tls (spec.tls[1] of Ingress e2e/broken): not found")
assert not [e for e in evs if e["involvedObject"]["name"] in ("gone-tls", "app-password")], evs
' || fail "the Events are not right: $(events)"
ctl http://127.0.0.1:6080/_test/requests | grep -q 'GET /api/v1/secrets?.*fieldSelector=type%3Dkubernetes.io%2Ftls' ||
	fail "Secrets were not read with the type selector"
ctl "http://127.0.0.1:6080/_test/requests" | grep -o '"GET /api/v1/secrets[^"]*"' | grep -vq fieldSelector &&
	fail "Secrets were read without the type selector"
posted=$(ip netns exec "${P}gw" curl -s "http://127.0.0.1:$mport/metrics" | awk '$1 == "sluice_kube_events_posted_total" {print $2}')
[ "${posted:-0}" -ge 3 ] || fail "sluice_kube_events_posted_total is ${posted:-0}"
echo "ok: Warning Events on the broken Secret and the Ingress ($posted posted); Secrets read by type only"
gw_stop
