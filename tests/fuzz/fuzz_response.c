/*
 * libFuzzer harness: response heads and body framing over random splits. The first byte picks
 * the request method and the piece size; the rest is the stream. Whatever the pieces, the body
 * tracker must end at the same place, never consume more than it is given, and never loop.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

static const struct http_limits lim = {.max_request_line = 4096,
				       .max_head_bytes = 8192,
				       .max_headers = 64,
				       .reject_bare_lf = true};

/* Feed body bytes in pieces of `piece`; returns bytes used, -1 on error, -2 if not ended. */
static long run_body(enum http_body_mode mode, uint64_t cl, const uint8_t *p, size_t n,
		     size_t piece)
{
	struct http_body b;
	http_body_init(&b, mode, cl);
	size_t off = 0;
	bool done = b.done;
	while (off < n && !done) {
		size_t k = n - off < piece ? n - off : piece;
		long c = http_body_consume(&b, p + off, k, &done);
		if (c < 0)
			return -1;
		if ((size_t)c > k)
			abort();
		if ((size_t)c < k && !done)
			abort();
		off += (size_t)c;
	}
	return done ? (long)off : -2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	enum http_method m = data[0] & 1 ? HTTP_HEAD : HTTP_GET;
	size_t piece = (size_t)(data[1] % 17) + 1;
	const uint8_t *buf = data + 2;
	size_t len = size - 2;

	struct http_response r;
	struct http_request_parser ps;
	http_request_parser_init(&ps);
	int h = http_response_parse(&ps, &lim, m, buf, len, &r);
	if (h <= 0)
		return 0;
	if ((size_t)h > len)
		abort();
	const uint8_t *body = buf + h;
	size_t blen = len - (size_t)h;
	if (r.body == HTTP_BODY_CLOSE)
		return 0;
	long whole = run_body(r.body, r.content_length, body, blen, blen ? blen : 1);
	long split = run_body(r.body, r.content_length, body, blen, piece);
	if (whole != split)
		abort();
	return 0;
}
