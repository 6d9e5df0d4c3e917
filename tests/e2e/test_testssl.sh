#!/usr/bin/env bash
# End to end, a testssl.sh scan (Debian's package) of the gateway's terminating TLS listener:
# only TLS 1.2 and 1.3 offered, every vulnerability check (Heartbleed, ROBOT, renegotiation,
# CRIME, POODLE, SWEET32, ...) rated OK, no finding HIGH or CRITICAL, forward secrecy, and the
# certificate chain served whole (the leaf and the intermediate from the Secret, in order,
# trusted from the test root alone).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib/topology.sh"
SLUICE=${SLUICE:?path to the sluice binary}
e2e_init "sltssl$$-"
topo_up "$P"
cd "$work"
# A root, an intermediate, and a leaf for shop.example signed by the intermediate: the Secret's
# tls.crt holds the leaf then the intermediate, as cert-manager writes it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key \
	-out root.pem -days 120 -subj /CN=sluice-e2e-root 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout int.key -out int.csr \
	-subj /CN=sluice-e2e-intermediate 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >int.ext
openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -CAcreateserial -days 100 \
	-extfile int.ext -out int.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout shop.key -out shop.csr \
	-subj /CN=shop.example 2>/dev/null
# A revocation URI (testssl rates a certificate without one HIGH; nothing fetches it: no
# --phone-out) and 90 days of validity (it rates under 30 days HIGH).
printf 'subjectAltName=DNS:shop.example\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\ncrlDistributionPoints=URI:http://198.18.0.99/int.crl\n' >shop.ext
openssl x509 -req -in shop.csr -CA int.pem -CAkey int.key -CAcreateserial -days 90 \
	-extfile shop.ext -out shop.pem 2>/dev/null
cat shop.pem int.pem >chain.pem

nginx_pods
mkdir -p "$work/manifests"
cp "$here/manifests/"*.yaml "$work/manifests/"
cat >"$work/manifests/60-tls.yaml" <<YAML
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: {name: shop-tls, namespace: e2e}
data:
  tls.crt: $(base64 -w0 chain.pem)
  tls.key: $(base64 -w0 shop.key)
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: secure, namespace: e2e}
spec:
  ingressClassName: sluice
  tls:
    - {hosts: [shop.example], secretName: shop-tls}
  rules: []
YAML
mport=$((20000 + $$ % 20000))
TOPO_LISTEN="[80, 443]" topo_write_config "$work/sluice.conf" "$P" "$mport" "[1]" \
	"$work/manifests"
gw_start "$work/sluice.conf" "$mport"
V=$TOPO_VIP
in_client() { ip netns exec "${P}client" "$@"; }

[ "$(in_client curl -s --max-time 10 --cacert root.pem --resolve "shop.example:443:$V" https://shop.example/)" = pod1 ] ||
	fail "https://shop.example/ through the gateway"

# The scan: protocols, server defaults (the chain), forward secrecy, the vulnerability checks.
# --ip: no DNS; --sneaky/--warnings batch: no prompts. Bounded by timeout.
in_client timeout 600 testssl --ip "$V" --quiet --color 0 --warnings batch --sneaky \
	--protocols --server-defaults --fs --vulnerable --jsonfile "$work/scan.json" \
	--openssl-timeout 10 --add-ca "$work/root.pem" https://shop.example:443 >"$work/scan.txt" 2>&1 || true
[ -s "$work/scan.json" ] || { tail -30 "$work/scan.txt" >&2; fail "testssl produced no results"; }
python3 - "$work/scan.json" <<'PY' || { tail -40 "$work/scan.txt" >&2; fail "testssl findings"; }
import json, sys
rows = json.load(open(sys.argv[1]))
by = {r["id"]: r for r in rows}
bad = [r for r in rows if r.get("severity") in ("HIGH", "CRITICAL")]
assert not bad, "findings rated HIGH or worse: %s" % [(r["id"], r["finding"]) for r in bad]
for p in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
    assert by[p]["finding"].startswith("not offered"), (p, by[p]["finding"])
for p in ("TLS1_2", "TLS1_3"):
    assert by[p]["finding"].startswith("offered"), (p, by[p]["finding"])
assert by["certs_countServer"]["finding"] == "2", by["certs_countServer"]  # leaf + intermediate
assert by["certs_list_ordering_problem"]["finding"] == "no", by["certs_list_ordering_problem"]
assert by["cert_chain_of_trust"]["finding"].startswith("passed"), by["cert_chain_of_trust"]
assert by["cert_caIssuers"]["finding"] == "sluice-e2e-intermediate", by["cert_caIssuers"]
assert by["PFS"]["finding"].startswith("offered"), by["PFS"]
vulns = ["heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego",
         "CRIME_TLS", "BREACH", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN",
         "LOGJAM", "BEAST", "LUCKY13", "RC4"]
for v in vulns:
    assert by[v]["severity"] == "OK", (v, by[v])
errors = [r for r in rows if r.get("severity") == "WARN" and "scanProblem" in r["id"]]
assert not errors, errors
print("testssl: %d checks; TLS 1.2 and 1.3 only; %d vulnerability checks OK; no HIGH or "
      "CRITICAL; chain served" % (len(rows), len(vulns)))
PY
# The chain verifies from the root alone (the intermediate comes from the gateway).
echo | in_client openssl s_client -connect "$V:443" -servername shop.example -CAfile root.pem \
	-verify_return_error 2>&1 | grep -q "Verify return code: 0 (ok)" || fail "the chain does not verify from the root"
echo "ok: testssl.sh finds only TLS 1.2/1.3, nothing rated HIGH or CRITICAL, and the whole chain"
gw_stop
