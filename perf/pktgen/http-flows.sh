#!/usr/bin/env bash
# Capture whole HTTP flows for the Pktgen replay (http-replay.lua): the load generator plays
# clients against the gateway over memif (perf/loadgen/pair.sh) with bench.fixed_cookies, and
# writes every frame its clients send to a capture. Replayed at a gateway that also runs with
# bench.fixed_cookies, each captured ACK carries the very cookie the gateway hands out again.
#
#   perf/pktgen/http-flows.sh OUT.pcap [--flows N] [--dst-mac MAC --src-mac MAC] [-- LOADGEN ARGS]
#
# Flows: N connections of one request each (default 10000) to a.example (/ and /api/items),
# clients 198.18.1.x, VIP 198.18.0.10, no TCP timestamps. --dst-mac/--src-mac rewrite the
# frames' MACs for the NIC they will be sent from (the gateway's port MAC as destination).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
out=$1
shift
flows=10000 dst= src=
while [ $# -gt 0 ]; do
	case $1 in
	--flows) flows=$2; shift 2 ;;
	--dst-mac) dst=$2; shift 2 ;;
	--src-mac) src=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "http-flows.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash "$root/perf/loadgen/pair.sh" --fixed-cookies -- --conns 16 --reqs 1 \
	--max-requests "$flows" --rate 20000 --duration 60 --pcap-out "$tmp/flows.pcap" "$@" \
	>"$tmp/report.json"
python3 - "$tmp/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lg = r["loadgen"]
if lg["errors"]:
    sys.exit(f"http-flows.sh: the capture run had errors: {lg['error_kinds']}")
print(f"captured {lg['requests']} requests on {lg['connections']} connections")
PY
if [ -n "$dst" ] || [ -n "$src" ]; then
	python3 "$here/make-pcaps.py" --rewrite-macs "$tmp/flows.pcap" "$out" \
		--dst-mac "${dst:-02:00:00:00:00:01}" --src-mac "${src:-02:00:00:00:00:02}"
else
	cp "$tmp/flows.pcap" "$out"
fi
echo "written: $out"
