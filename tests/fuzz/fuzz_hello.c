/*
 * libFuzzer harness: the ClientHello reader (lib/tls) over arbitrary bytes, with oracles that
 * do not trust the reader:
 *   - arrival: the bytes fed in pieces (cut points drawn from the first input byte) give the
 *     same verdict, error and length as the bytes fed whole;
 *   - fragmentation: an accepted hello, re-cut into records of another size (the second input
 *     byte), is accepted again with the same server name, versions and ALPN — the name the
 *     gateway routes by cannot depend on how the client cut its records;
 *   - the name: a server name that came out is a valid host name of the length stated, and its
 *     bytes are in the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls.h"

static uint8_t scratch[TLS_HELLO_MAX];

static int read_hello(const uint8_t *b, uint32_t len, const uint32_t *cuts, int n_cuts,
		      struct tls_hello *h, enum tls_hello_error *err)
{
	struct tls_hello_scan s;
	tls_hello_scan_init(&s);
	int rc = TLS_HELLO_MORE;
	for (int i = 0; i <= n_cuts && rc == TLS_HELLO_MORE; i++)
		rc = tls_hello_scan(&s, b, i < n_cuts ? cuts[i] : len, 4096, err);
	if (rc <= 0)
		return rc;
	if ((uint32_t)rc > len)
		abort(); /* the records cannot end beyond the bytes */
	return tls_hello_parse(&s, b, (uint32_t)rc, scratch, sizeof(scratch), h, err);
}

static bool name_ok(const struct tls_hello *h)
{
	if (h->sni_len > 253 || strlen(h->sni) != h->sni_len)
		return false;
	for (uint16_t i = 0; i < h->sni_len; i++) {
		char c = h->sni[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return false;
	}
	return h->sni_len == 0 || (h->sni[0] != '.' && h->sni[h->sni_len - 1] != '.');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 8192)
		return 0;
	uint8_t seed = data[0], frag = data[1];
	const uint8_t *b = data + 2;
	uint32_t len = (uint32_t)(size - 2);

	struct tls_hello whole, pieces;
	enum tls_hello_error ew, ep;
	int rw = read_hello(b, len, NULL, 0, &whole, &ew);
	uint32_t cuts[16];
	int n = 0;
	for (uint32_t at = 0; n < 16 && len;) {
		at += 1 + (uint32_t)(seed * 2654435761u >> (n % 24)) % (len / 4 + 1);
		if (at >= len)
			break;
		cuts[n++] = at;
	}
	int rp = read_hello(b, len, cuts, n, &pieces, &ep);
	if (rw != rp || ew != ep)
		abort();
	if (rw != 1)
		return 0;
	if (memcmp(&whole, &pieces, sizeof(whole)) != 0 || !name_ok(&whole))
		abort();
	if (whole.sni_len && memmem(b, len, whole.sni, whole.sni_len) == NULL)
		abort();

	/* Re-cut the message into records of `size` bytes and read it again. */
	static uint8_t msg[TLS_HELLO_MAX], rec[TLS_HELLO_MAX * 6];
	uint32_t got = 0;
	for (uint32_t at = 0; at + 5 <= whole.wire_len && got < whole.msg_len;) {
		uint32_t rl = (uint32_t)b[at + 3] << 8 | b[at + 4];
		uint32_t take = rl < whole.msg_len - got ? rl : whole.msg_len - got;
		memcpy(msg + got, b + at + 5, take);
		got += take;
		at += 5 + rl;
	}
	uint32_t piece = 1 + frag % 64u * (frag > 128 ? 64u : 1u), o = 0;
	for (uint32_t at = 0; at < got;) {
		uint32_t take = got - at < piece ? got - at : piece;
		rec[o++] = 22, rec[o++] = 3, rec[o++] = 1;
		rec[o++] = (uint8_t)(take >> 8), rec[o++] = (uint8_t)take;
		memcpy(rec + o, msg + at, take);
		o += take, at += take;
	}
	struct tls_hello again;
	enum tls_hello_error ea;
	if (read_hello(rec, o, NULL, 0, &again, &ea) != 1)
		abort();
	if (strcmp(again.sni, whole.sni) != 0 || again.tls13 != whole.tls13 ||
	    again.alpn_http11 != whole.alpn_http11 || again.alpn_h2 != whole.alpn_h2 ||
	    again.version != whole.version || again.msg_len != whole.msg_len)
		abort();
	return 0;
}
