/*
 * libFuzzer harness: the request-head parser over arbitrary bytes, fed whole and in two pieces
 * at a split chosen by the first input byte. Checks what must hold for any input: the verdict
 * does not depend on the split, a complete head's length is within the input, every span lies
 * inside the buffer, and normalising the path never writes out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

static const struct http_limits lim = {.max_request_line = 4096,
				       .max_head_bytes = 8192,
				       .max_headers = 64,
				       .reject_bare_lf = true};

static void check_span(struct http_span s, size_t len)
{
	if ((size_t)s.off + s.len > len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t cut = data[0] % (size + 1);
	const uint8_t *buf = data + 1;
	size_t len = size - 1;
	if (cut > len)
		cut = len;

	struct http_request whole, split;
	struct http_request_parser ps;
	http_request_parser_init(&ps);
	int a = http_request_parse(&ps, &lim, buf, len, &whole);
	http_request_parser_init(&ps);
	int b = http_request_parse(&ps, &lim, buf, cut, &split);
	if (b == HTTP_NEED_MORE)
		b = http_request_parse(&ps, &lim, buf, len, &split);
	if (a != b)
		abort();
	if (a == HTTP_ERROR && whole.error != split.error)
		abort();
	if (a > 0) {
		if ((size_t)a > len || whole.head_len != (uint32_t)a)
			abort();
		check_span(whole.target, len);
		check_span(whole.path, len);
		check_span(whole.query, len);
		check_span(whole.host, len);
		check_span(whole.host_port, len);
		char out[256];
		int n = http_normalize_path(buf + whole.path.off, whole.path.len, out, sizeof(out));
		if (n >= (int)sizeof(out) || (n >= 0 && out[0] != '/'))
			abort();
	}
	return 0;
}
