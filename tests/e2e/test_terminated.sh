#!/usr/bin/env bash
# The terminated TCP endpoint (lib/stream) against Linux's TCP: the leg runs in stream_peer,
# which is the host 198.18.7.2 behind a TUN device in a namespace of its own; the Linux peer is
# a Python socket in that namespace (tests/e2e/terminated_peer.py). Every case compares SHA-256
# digests of what each side sent and received.
#
#   100 MiB each way at once, byte-exact (echo; the client half-closes and the echo goes on)
#   20 MiB each way through loss, duplication and reordering in both directions
#   a slow reader that stops for a second: the leg probes, its memory stays within its rings
#   half-close the other way: the leg's FIN first, then the client sends 4 MiB
#   RST mid-transfer both ways (the client resets; the leg aborts)
#   active open: the leg connects to a Linux server, sends 16 MiB, reads 4 MiB back
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${STREAM_PEER:?path to the stream_peer binary}"
ns="stp$$"
work=$(mktemp -d)
peer_pid=
cleanup() {
	[ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null && wait "$peer_pid" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
. "$here/lib/tun.sh"
tun_ns "$ns"
py() { nsx timeout 120 python3 "$here/terminated_peer.py" "$@"; }

# start_peer ARGS: the leg, waiting for its first connection (or making it).
start_peer() {
	nsx timeout 150 "$STREAM_PEER" --addr 198.18.7.2 --tun stun0 --timeout 120 "$@" \
		>"$work/peer.out" 2>"$work/peer.err" &
	peer_pid=$!
	for _ in $(seq 100); do
		grep -q ready "$work/peer.out" 2>/dev/null && return 0
		sleep 0.05
	done
	cat "$work/peer.err" >&2
	echo "stream_peer did not start" >&2
	exit 1
}
# finish_peer: its report (the last line) in $p, once the connection is closed. Not in a
# command substitution: the leg is this shell's child.
finish_peer() {
	local rc=0
	wait "$peer_pid" || rc=$?
	peer_pid=
	if [ "$rc" != 0 ]; then
		cat "$work/peer.out" "$work/peer.err" >&2
		echo "stream_peer failed (exit status $rc)" >&2
		exit 1
	fi
	p=$(tail -n 1 "$work/peer.out")
}
# check LABEL PEER_JSON CLIENT_JSON PYTHON_ASSERTIONS
check() {
	python3 - "$@" <<'PY'
import json, sys
label, p, c = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
try:
    exec(sys.argv[4])
except AssertionError as e:
    print("FAIL:", label, e, "\nleg:", json.dumps(p), "\nclient:", json.dumps(c))
    sys.exit(1)
print("ok: %s (%s ms; %d retransmits, %d fast, %d timeouts, %d probes, most held %d bytes)"
      % (label, p["ms"], p["retransmits"], p["fast_retransmits"], p["timeouts"], p["probes"],
         p["max_held"]))
PY
}
MiB=$((1024 * 1024))

# 1. 100 MiB each way at once.
start_peer --port 443 --mode echo
c=$(py echo 198.18.7.2 443 $((100 * MiB)))
finish_peer
check "100 MiB each way, byte-exact" "$p" "$c" '
n = 100 << 20
assert c["error"] is None, c["error"]
assert p["bytes_in"] == n and p["bytes_out"] == n and c["received"] == n, "byte counts"
assert p["sha256_in"] == c["sha256_sent"] == p["sha256_out"] == c["sha256_received"], "digests"
assert p["end"] == "done", "ended " + p["end"]
assert p["ts"] and p["sack"] and p["ws"], "options not negotiated with Linux"
assert p["max_held"] <= 2 * (p["rcv_cap"] + p["snd_cap"]), "held more than its rings"
'

# 2. Impaired both ways: 2 % loss, 1 % duplicates, 3 % reordered.
start_peer --port 443 --mode echo --loss 20 --dup 10 --reorder 30 --seed 7
c=$(py echo 198.18.7.2 443 $((20 * MiB)))
finish_peer
check "20 MiB each way through loss, duplication, reordering" "$p" "$c" '
n = 20 << 20
assert c["error"] is None, c["error"]
assert p["bytes_in"] == n and c["received"] == n, "byte counts"
assert p["sha256_in"] == c["sha256_sent"] == c["sha256_received"], "digests"
assert p["retransmits"] > 0 and p["ooo_segments"] > 0, "the impairment did not bite"
'

# 3. A slow reader with a small receive buffer that stops for a second: the window closes,
# the leg probes it, and holds no more than its rings.
start_peer --port 443 --mode slow --bytes $((4 * MiB)) --buf 32768
c=$(py recv 198.18.7.2 443 --rcvbuf 4096 --pause-after $((1 * MiB)) --pause 1.5 --slow 1)
finish_peer
check "slow reader: bounded, probed" "$p" "$c" '
n = 4 << 20
assert c["received"] == n and p["sha256_out"] == c["sha256_received"], "bytes"
assert p["probes"] > 0, "no zero-window probe"
assert p["max_held"] <= 2 * (32768 + 2 * 2048) + 2 * 2048, "held %d" % p["max_held"]
assert p["end"] == "done", p["end"]
'

# 4. Half-close the other way: the leg sends 2 MiB and its FIN, then the client sends 4 MiB.
start_peer --port 443 --mode source --bytes $((2 * MiB))
c=$(py recv 198.18.7.2 443 --then-send $((4 * MiB)))
finish_peer
check "half-close: data after the leg's FIN" "$p" "$c" '
assert c["received"] == 2 << 20 and c["sha256_received"] == p["sha256_out"], "first direction"
assert p["bytes_in"] == 4 << 20 and p["sha256_in"] == c["sha256_sent"], "after the FIN"
assert p["end"] == "done", p["end"]
'

# 5a. The client resets mid-transfer.
start_peer --port 443 --mode source --bytes $((64 * MiB))
c=$(py reset 198.18.7.2 443 $((1 * MiB)))
finish_peer
check "RST from the client mid-transfer" "$p" "$c" '
assert p["end"] == "reset", p["end"]
assert p["bytes_out"] < 64 << 20, "the transfer was not cut"
'

# 5b. The leg aborts mid-transfer.
start_peer --port 443 --mode abort --after $((1 * MiB))
c=$(py expect-reset 198.18.7.2 443 $((64 * MiB)))
finish_peer
check "RST from the leg mid-transfer" "$p" "$c" '
assert c["reset"], "the client saw no reset"
assert p["end"] == "abort" and p["bytes_in"] >= 1 << 20, p["end"]
'

# 6. Active open towards a Linux server.
nsx timeout 120 python3 "$here/terminated_peer.py" server 198.18.7.1 8080 $((4 * MiB)) \
	>"$work/server.out" &
srv=$!
for _ in $(seq 100); do grep -q listening "$work/server.out" 2>/dev/null && break; sleep 0.05; done
start_peer --connect 198.18.7.1:8080 --mode source --bytes $((16 * MiB))
finish_peer
wait "$srv"
c=$(tail -n 1 "$work/server.out")
check "active open: 16 MiB to a Linux server, 4 MiB back" "$p" "$c" '
assert c["received"] == 16 << 20 and c["sha256_received"] == p["sha256_out"], "to the server"
assert p["bytes_in"] == 4 << 20 and p["sha256_in"] == c["sha256_sent"], "from the server"
assert p["end"] == "done", p["end"]
'
