#!/usr/bin/env bash
# The route checker end to end: the built binary over the demo manifests and raw requests.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
m="$SOURCE_ROOT/demo/manifests"

out=$(printf 'shop.example /api/v1?x=1\nSHOP.EXAMPLE:80 /\nv2.api.example /a/../b\nnope.example /\nbadline\n' |
	"$SLUICE" route --manifests "$m")
echo "$out"
line() { sed -n "${1}p" <<<"$out"; }
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
assert rows[0]["status"] == 200 and rows[0]["service"] == "api" and rows[0]["port"] == 8000, rows[0]
assert rows[0]["rule_path"] == "/api" and rows[0]["pathType"] == "Prefix", rows[0]
assert rows[0]["endpoints"] == ["198.19.0.12:8080"], rows[0]
assert rows[1]["service"] == "web" and rows[1]["port"] == "http", rows[1]
assert rows[1]["default_backend"] is False and rows[1]["namespace"] == "demo", rows[1]
assert rows[2]["service"] == "api" and rows[2]["normalized_path"] == "/b", rows[2]
assert rows[2]["rule_host"] == "*.api.example", rows[2]
assert rows[3]["status"] == 404, rows[3]
assert "error" in rows[4], rows[4]
print("ok: line mode")
PY

# The demo's certificate Secret serves shop.example (demo/manifests/30-tls.yaml), verified
# against the demo CA it ships with.
certs=$(printf 'shop.example /\nv1.api.example /\n' | "$SLUICE" route --manifests "$m" --certs)
python3 - "$certs" <<'PY'
import json, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
c = rows[0]["certificate"]
assert c["source"] == "demo/shop-tls" and c["match"] == "exact" and c["key"] == "ECDSA", c
assert rows[1]["certificate"]["match"] == "default", rows[1]
print("ok: the demo certificate")
PY
crt=$(python3 -c 'import base64,re,sys; t=open(sys.argv[1]).read(); print(base64.b64decode(re.search(r"tls.crt: (\S+)", t).group(1)).decode())' "$m/30-tls.yaml")
openssl verify -CAfile "$SOURCE_ROOT/demo/tls/ca.pem" <(echo "$crt") >/dev/null ||
	fail "the demo certificate does not verify against demo/tls/ca.pem"

printf 'GET /api/items HTTP/1.1\r\nHost: shop.example\r\n\r\n' >"$work/ok.http"
printf 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n' >"$work/twohosts.http"
printf 'POST / HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n' >"$work/smuggle.http"
raw=$("$SLUICE" route --manifests "$m" --raw "$work/ok.http" "$work/twohosts.http" "$work/smuggle.http")
echo "$raw"
python3 - "$raw" <<'PY'
import json, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
assert rows[0]["parse"] == "ok" and rows[0]["method"] == "GET" and rows[0]["service"] == "api", rows[0]
assert rows[0]["keep_alive"] is True and rows[0]["host"] == "shop.example", rows[0]
assert rows[1]["parse"] == "error" and rows[1]["status"] == 400 and rows[1]["error"] == "multiple_host", rows[1]
assert rows[2]["error"] == "te_with_content_length", rows[2]
print("ok: raw mode")
PY

# A whole pipelined stream, read by the data path's own framing.
printf 'GET / HTTP/1.1\r\nHost: shop.example\r\n\r\nGET /about HTTP/1.1\r\nHost: shop.example\r\n\r\nPOST /api/x HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\n\r\nGET /api/y HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx' >"$work/pipe.http"
printf 'POST /api/x HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nGET /admin HTTP/1.1\r\n\r\n' >"$work/chunk.http"
raw=$("$SLUICE" route --manifests "$m" --raw "$work/pipe.http" "$work/chunk.http")
echo "$raw"
python3 - "$raw" <<'PY'
import json, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
assert [r.get("service") for r in rows[:3]] == ["web", "web", "api"], rows
assert [r.get("pod_connection") for r in rows[:3]] == ["new", "same", "new"], rows
assert rows[3]["status"] == 400 and rows[3]["error"] == "conflicting_content_length", rows[3]
assert rows[4]["service"] == "api" and rows[4]["file"].endswith("chunk.http"), rows[4]
assert rows[5]["stop"] == "failed_closed", rows[5]
print("ok: raw streams, request by request")
PY

"$SLUICE" route --manifests "$m" --dump | grep -q "host \*.api.example" || fail "dump"
echo "ok: dump"
if "$SLUICE" route --manifests /nonexistent </dev/null 2>"$work/err"; then fail "missing dir accepted"; fi
grep -q "cannot read the manifest directory" "$work/err" || fail "missing dir message"
echo "ok: unusable input exits non-zero"
