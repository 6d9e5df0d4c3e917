#!/usr/bin/env bash
# Build the libFuzzer harnesses with clang (address + undefined sanitizers) and run each for a
# bounded time on a copy of its seed corpus. Exit non-zero on any crash; the crashing input is
# printed (hex) so it can become a regression test.
#   FUZZ_SECONDS (default 30) per harness; FUZZ_ONLY="stream" runs just the named harnesses
#   (request, response, stream, hello).
#   For an hour on the stream harness: FUZZ_SECONDS=3600 FUZZ_ONLY=stream tests/fuzz/run.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${FUZZ_SECONDS:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (apt-get install clang)"; exit 1; }
flags=(-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined -I"$root/lib" -I"$root/tests/common")

# The stream harness drives the whole TCP-lite engine: it links the data-path modules (the
# terminating ones too, unused there), DPDK and OpenSSL.
dpdk_cflags=$(pkg-config --cflags libdpdk)
dpdk_libs=$(pkg-config --libs libdpdk)
engine=("$root"/lib/tcp/*.c "$root"/lib/flow/flow.c "$root"/lib/lb/*.c "$root"/lib/route/route.c "$root"/lib/route/map.c
	"$root"/lib/http/*.c "$root"/lib/tls/hello.c "$root"/lib/alog/alog.c "$root"/lib/net/*.c
	"$root"/lib/crypto/crypto.c "$root"/lib/stream/*.c "$root"/lib/term/term.c "$root"/lib/term/rewrite.c
	"$root"/lib/tls/term.c "$root"/lib/tls/certs.c
	"$root"/lib/stats/stats.c "$root"/lib/stats/series.c "$root"/lib/conf/*.c)

build() { # harness
	case $1 in
	stream)
		# shellcheck disable=SC2086
		"$CC" "${flags[@]}" -DALLOW_EXPERIMENTAL_API -march=native \
			-Wno-unknown-warning-option $dpdk_cflags -o "$work/fuzz_$1" \
			"$here/fuzz_$1.c" "${engine[@]}" $dpdk_libs -lIPSec_MB -lconfig -lssl -lcrypto -lm ;;
	hello)
		"$CC" "${flags[@]}" -o "$work/fuzz_$1" "$here/fuzz_$1.c" "$root"/lib/tls/hello.c ;;
	*)
		"$CC" "${flags[@]}" -o "$work/fuzz_$1" "$here/fuzz_$1.c" "$root"/lib/http/*.c ;;
	esac
}

rc=0
# Seeds for the hello harness: real ClientHellos from Python's ssl (OpenSSL), written at run time
# (two bytes of harness parameters first), with and without a name, TLS 1.2 only, with ALPN.
hello_seeds() { # dir
	python3 - "$1" <<'PY'
import ssl, sys
for i, (name, tls12, alpn) in enumerate([("shop.example", False, ["http/1.1"]),
                                         (None, False, None), ("a.b.example", True, ["h2", "http/1.1"])]):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        ctx.set_alpn_protocols(alpn)
    i_, o_ = ssl.MemoryBIO(), ssl.MemoryBIO()
    s = ctx.wrap_bio(i_, o_, server_hostname=name)
    try:
        s.do_handshake()
    except ssl.SSLWantReadError:
        pass
    open(f"{sys.argv[1]}/seed{i}", "wb").write(bytes([i * 37, i * 91]) + o_.read())
PY
}

for h in ${FUZZ_ONLY:-request response stream hello}; do
	build "$h"
	mkdir -p "$work/corpus_$h" "$work/crash_$h"
	cp "$here/corpus/$h"/* "$work/corpus_$h/" 2>/dev/null || true
	[ "$h" = hello ] && hello_seeds "$work/corpus_$h"
	echo "fuzz_$h: ${secs}s"
	if ! (cd "$work/crash_$h" && "$work/fuzz_$h" -max_total_time="$secs" -max_len=4096 \
		-timeout=10 -rss_limit_mb=4096 -print_final_stats=1 "$work/corpus_$h" \
		>"$work/log_$h" 2>&1); then
		rc=1
		tail -40 "$work/log_$h"
		for c in "$work/crash_$h"/*; do
			[ -f "$c" ] && { echo "crashing input $c:"; od -An -tx1 "$c" | head -20; }
		done
	else
		grep -E "stat::number_of_executed_units|cov:" "$work/log_$h" | tail -2
	fi
done
exit $rc
