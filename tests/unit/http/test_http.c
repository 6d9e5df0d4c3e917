/*
 * lib/http: every rejection by name, split-anywhere feeding, limits, response framing, chunked
 * bodies, path normalisation. Each request is also fed in every two-piece split and one byte at
 * a time, which must give the same result as feeding it whole.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http/http.h"

static const struct http_limits lim = {
	.max_request_line = 8192,
	.max_head_bytes = 8192,
	.max_headers = 100,
	.reject_bare_lf = true,
};

static int parse_whole(const char *s, struct http_request *r, const struct http_limits *l)
{
	struct http_request_parser ps;
	http_request_parser_init(&ps);
	return http_request_parse(&ps, l, (const uint8_t *)s, strlen(s), r);
}

/* Feed s growing one byte at a time; returns the final result and fills r. */
static int parse_bytewise(const char *s, struct http_request *r, const struct http_limits *l)
{
	struct http_request_parser ps;
	http_request_parser_init(&ps);
	size_t n = strlen(s);
	int rc = HTTP_NEED_MORE;
	for (size_t k = 1; k <= n; k++) {
		rc = http_request_parse(&ps, l, (const uint8_t *)s, k, r);
		if (rc != HTTP_NEED_MORE)
			return rc;
	}
	return rc;
}

/* Every two-piece split gives the same verdict as the whole. */
static void assert_split_invariant(const char *s, const struct http_limits *l)
{
	struct http_request whole, part;
	int want = parse_whole(s, &whole, l);
	size_t n = strlen(s);
	for (size_t cut = 1; cut < n; cut++) {
		struct http_request_parser ps;
		http_request_parser_init(&ps);
		int rc = http_request_parse(&ps, l, (const uint8_t *)s, cut, &part);
		if (rc == HTTP_NEED_MORE)
			rc = http_request_parse(&ps, l, (const uint8_t *)s, n, &part);
		/* An error may be found early, in the first piece; it must be the same error. */
		cr_assert_eq(rc, want, "split at %zu: %d vs %d", cut, rc, want);
		if (rc == HTTP_ERROR)
			cr_assert_eq(part.error, whole.error, "split at %zu: %s vs %s", cut,
				     http_error_name(part.error), http_error_name(whole.error));
		else
			cr_assert_eq(part.head_len, whole.head_len);
	}
	struct http_request bw;
	int rc = parse_bytewise(s, &bw, l);
	cr_assert_eq(rc, want, "bytewise");
	if (rc == HTTP_ERROR)
		cr_assert_eq(bw.error, whole.error, "bytewise: %s vs %s", http_error_name(bw.error),
			     http_error_name(whole.error));
}

static void expect_error(const char *s, enum http_error e, uint16_t status)
{
	struct http_request r;
	int rc = parse_whole(s, &r, &lim);
	cr_assert_eq(rc, HTTP_ERROR, "accepted: %s", s);
	cr_assert_eq(r.error, e, "expected %s, got %s for: %s", http_error_name(e),
		     http_error_name(r.error), s);
	cr_assert_eq(r.status, status);
	assert_split_invariant(s, &lim);
}

static struct http_request expect_ok(const char *s)
{
	struct http_request r;
	int rc = parse_whole(s, &r, &lim);
	cr_assert_gt(rc, 0, "refused (%s): %s", http_error_name(r.error), s);
	cr_assert_eq((size_t)rc, strlen(s), "head length");
	assert_split_invariant(s, &lim);
	return r;
}

#define SPAN_EQ(buf, span, str)                                                                    \
	cr_assert(strlen(str) == (span).len && memcmp((buf) + (span).off, str, (span).len) == 0,   \
		  "got \"%.*s\", want \"%s\"", (int)(span).len, (buf) + (span).off, str)

/* ---- valid requests ----------------------------------------------------------------------- */

Test(http, browser_get_is_parsed)
{
	const char *s = "GET /shop/cart?item=7&x=%20 HTTP/1.1\r\n"
			"Host: Shop.Example.com:8443\r\n"
			"User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
			"Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n"
			"Accept-Language: en-GB,en;q=0.5\r\n"
			"Cookie: a=b; c=d\r\n"
			"\r\n";
	struct http_request r = expect_ok(s);
	cr_assert_eq(r.method, HTTP_GET);
	SPAN_EQ(s, r.path, "/shop/cart");
	SPAN_EQ(s, r.query, "item=7&x=%20");
	SPAN_EQ(s, r.host, "Shop.Example.com");
	SPAN_EQ(s, r.host_port, "8443");
	cr_assert_eq(r.version_minor, 1);
	cr_assert(r.keep_alive);
	cr_assert_eq(r.body, HTTP_BODY_NONE);
	cr_assert_eq(r.n_headers, 5);
}

Test(http, post_with_content_length)
{
	struct http_request r =
		expect_ok("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n");
	cr_assert_eq(r.body, HTTP_BODY_LENGTH);
	cr_assert_eq(r.content_length, 1048576);
	cr_assert_not(http_method_idempotent(r.method));
}

Test(http, chunked_upload)
{
	struct http_request r =
		expect_ok("PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n");
	cr_assert_eq(r.body, HTTP_BODY_CHUNKED);
	cr_assert(http_method_idempotent(r.method));
}

/* RFC 9110 §8.6 lets a recipient accept "5, 5" or a repeated line only if it forwards one
 * value instead; a splice forwards the head unchanged, so both are refused. */
Test(http, content_length_list_or_repeat_is_refused_because_the_head_is_forwarded_unchanged)
{
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
		     HTTP_ERR_BAD_CONTENT_LENGTH, 400);
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,5\r\n\r\n",
		     HTTP_ERR_BAD_CONTENT_LENGTH, 400);
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,\r\n\r\n",
		     HTTP_ERR_BAD_CONTENT_LENGTH, 400);
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
		     HTTP_ERR_CONFLICTING_CONTENT_LENGTH, 400);
	struct http_request r =
		expect_ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  5 \r\n\r\n");
	cr_assert_eq(r.content_length, 5);
}

Test(http, transfer_encoding_with_empty_list_elements_is_refused)
{
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n",
		     HTTP_ERR_TE_EMPTY_ELEMENT, 400);
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n",
		     HTTP_ERR_TE_EMPTY_ELEMENT, 400);
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip,,chunked\r\n\r\n",
		     HTTP_ERR_TE_EMPTY_ELEMENT, 400);
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip , chunked\r\n\r\n");
}

Test(http, target_characters_outside_rfc3986_are_refused)
{
	const char *bad[] = {"\\admin", "/a\\..\\admin", "/\"x", "/<x>", "/^", "/`", "/{", "/|",
			     "/}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char req[128];
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", bad[i]);
		expect_error(req, HTTP_ERR_BAD_TARGET, 400);
	}
	expect_ok("GET /a-b_c.d~e!$&'()*+,;=:@/%41?q=1&r=/x HTTP/1.1\r\nHost: a\r\n\r\n");
}

Test(http, one_empty_line_before_the_request_line_is_ignored)
{
	struct http_request r = expect_ok("\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n");
	cr_assert_eq(r.head_len, strlen("\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n"));
	expect_error("\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_BAD_REQUEST_LINE, 400);
}

Test(http, http10_defaults_to_close_and_keep_alive_opts_in)
{
	struct http_request r = expect_ok("GET / HTTP/1.0\r\n\r\n");
	cr_assert_not(r.keep_alive);
	cr_assert_eq(r.host.len, 0);
	r = expect_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: a\r\n\r\n");
	cr_assert(r.keep_alive);
	r = expect_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	cr_assert_not(r.keep_alive);
}

Test(http, upgrade_needs_connection_upgrade)
{
	struct http_request r = expect_ok("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
					  "Upgrade: websocket\r\n\r\n");
	cr_assert(r.upgrade);
	r = expect_ok("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
	cr_assert_not(r.upgrade);
}

Test(http, expect_100_continue)
{
	struct http_request r = expect_ok("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
					  "Content-Length: 3\r\n\r\n");
	cr_assert(r.expect_continue);
}

Test(http, absolute_form_host_wins_and_must_agree)
{
	const char *s = "GET http://API.example.com/v1?q HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
	struct http_request r = expect_ok(s);
	cr_assert(r.absolute_form);
	SPAN_EQ(s, r.host, "API.example.com");
	SPAN_EQ(s, r.path, "/v1");
	SPAN_EQ(s, r.query, "q");
	expect_error("GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n",
		     HTTP_ERR_HOST_MISMATCH, 400);
}

Test(http, absolute_form_without_path_is_root)
{
	const char *s = "GET https://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n";
	struct http_request r = expect_ok(s);
	cr_assert_eq(r.path.len, 0);
	char out[16];
	cr_assert_eq(http_normalize_path((const uint8_t *)s + r.path.off, r.path.len, out, 16), 1);
	cr_assert_str_eq(out, "/");
}

Test(http, asterisk_form_only_for_options)
{
	struct http_request r = expect_ok("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
	cr_assert(r.asterisk_form);
	expect_error("GET * HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_BAD_TARGET, 400);
}

Test(http, ipv6_literal_host)
{
	const char *s = "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n";
	struct http_request r = expect_ok(s);
	SPAN_EQ(s, r.host, "[2001:db8::1]");
	SPAN_EQ(s, r.host_port, "8080");
}

Test(http, one_leading_empty_line_is_ignored)
{
	struct http_request r = expect_ok("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
	cr_assert_eq(r.method, HTTP_GET);
}

Test(http, unknown_method_token_is_forwarded)
{
	struct http_request r = expect_ok("PROPFIND /dav HTTP/1.1\r\nHost: a\r\n\r\n");
	cr_assert_eq(r.method, HTTP_OTHER);
}

Test(http, obs_text_in_values_is_allowed)
{
	expect_ok("GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\n\r\n");
}

Test(http, body_bytes_after_head_are_not_consumed)
{
	const char *s = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
	struct http_request r;
	int rc = parse_whole(s, &r, &lim);
	cr_assert_eq(rc, (int)strlen(s) - 5);
}

/* ---- every rejection ---------------------------------------------------------------------- */

Test(http, conflicting_content_length_is_refused)
{
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		     HTTP_ERR_CONFLICTING_CONTENT_LENGTH, 400);
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
		     HTTP_ERR_BAD_CONTENT_LENGTH, 400);
}

Test(http, malformed_content_length_is_refused)
{
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
		     HTTP_ERR_BAD_CONTENT_LENGTH, 400);
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
		     HTTP_ERR_BAD_CONTENT_LENGTH, 400);
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
		     HTTP_ERR_BAD_CONTENT_LENGTH, 400);
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n",
		     HTTP_ERR_BAD_CONTENT_LENGTH, 400);
}

Test(http, transfer_encoding_with_content_length_is_refused)
{
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n",
		     HTTP_ERR_TE_WITH_CONTENT_LENGTH, 400);
}

Test(http, transfer_encoding_not_ending_in_chunked_is_refused)
{
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
		     HTTP_ERR_TE_NOT_CHUNKED_LAST, 400);
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
		     HTTP_ERR_TE_NOT_CHUNKED_LAST, 400);
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n",
		     HTTP_ERR_TE_NOT_CHUNKED_LAST, 400);
}

Test(http, unknown_transfer_coding_is_501)
{
	expect_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: magic, chunked\r\n\r\n",
		     HTTP_ERR_TE_UNKNOWN, 501);
}

Test(http, transfer_encoding_in_http10_is_refused)
{
	expect_error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_ERR_TE_IN_HTTP10,
		     400);
}

Test(http, obs_fold_is_refused)
{
	expect_error("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n", HTTP_ERR_OBS_FOLD,
		     400);
	expect_error("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\ttwo\r\n\r\n", HTTP_ERR_OBS_FOLD,
		     400);
}

Test(http, bare_cr_is_refused)
{
	expect_error("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\rtwo\r\n\r\n", HTTP_ERR_BARE_CR, 400);
	expect_error("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_BARE_CR, 400);
}

Test(http, bare_lf_is_refused_by_default_and_accepted_when_configured)
{
	expect_error("GET / HTTP/1.1\nHost: a\r\n\r\n", HTTP_ERR_BARE_LF, 400);
	expect_error("GET / HTTP/1.1\r\nHost: a\n\r\n", HTTP_ERR_BARE_LF, 400);
	struct http_limits lenient = lim;
	lenient.reject_bare_lf = false;
	struct http_request r;
	const char *s = "GET /x HTTP/1.1\nHost: a\n\n";
	cr_assert_eq(parse_whole(s, &r, &lenient), (int)strlen(s));
	assert_split_invariant(s, &lenient);
}

Test(http, whitespace_before_colon_is_refused)
{
	expect_error("GET / HTTP/1.1\r\nHost : a\r\n\r\n", HTTP_ERR_SPACE_BEFORE_COLON, 400);
	expect_error("GET / HTTP/1.1\r\nHost: a\r\nContent-Length\t: 5\r\n\r\n",
		     HTTP_ERR_SPACE_BEFORE_COLON, 400);
}

Test(http, invalid_token_characters_are_refused)
{
	expect_error("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_BAD_METHOD, 400);
	expect_error("GET / HTTP/1.1\r\nHost: a\r\nX[1]: b\r\n\r\n", HTTP_ERR_BAD_FIELD_NAME, 400);
	expect_error("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", HTTP_ERR_BAD_FIELD_NAME, 400);
	expect_error("GET / HTTP/1.1\r\nHost: a\r\nno-colon\r\n\r\n", HTTP_ERR_BAD_FIELD_NAME, 400);
}

Test(http, control_characters_and_nul_in_values_are_refused)
{
	const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01x\r\n\r\n";
	expect_error(s, HTTP_ERR_BAD_FIELD_VALUE, 400);
	expect_error("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7f\r\n\r\n", HTTP_ERR_BAD_FIELD_VALUE,
		     400);
	/* NUL: build it by hand, strlen would stop at it. */
	char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX-A: bZc\r\n\r\n";
	*strchr(nul, 'Z') = '\0';
	struct http_request r;
	struct http_request_parser ps;
	http_request_parser_init(&ps);
	cr_assert_eq(http_request_parse(&ps, &lim, (const uint8_t *)nul, sizeof(nul) - 1, &r),
		     HTTP_ERROR);
	cr_assert_eq(r.error, HTTP_ERR_BAD_FIELD_VALUE);
}

Test(http, host_missing_or_repeated_is_refused)
{
	expect_error("GET / HTTP/1.1\r\n\r\n", HTTP_ERR_MISSING_HOST, 400);
	expect_error("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", HTTP_ERR_MULTIPLE_HOST, 400);
	expect_error("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", HTTP_ERR_BAD_HOST, 400);
	expect_error("GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", HTTP_ERR_BAD_HOST, 400);
	expect_error("GET / HTTP/1.1\r\nHost: \r\n\r\n", HTTP_ERR_BAD_HOST, 400);
}

Test(http, bad_percent_encoding_and_nul_in_target_are_refused)
{
	expect_error("GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_BAD_PERCENT, 400);
	expect_error("GET /a% HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_BAD_PERCENT, 400);
	expect_error("GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_BAD_PERCENT, 400);
	expect_error("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_BAD_TARGET, 400);
	expect_error("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_BAD_TARGET, 400);
	expect_error("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_BAD_TARGET, 400);
	expect_error("GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_BAD_TARGET, 400);
}

Test(http, versions_other_than_10_and_11_are_refused)
{
	expect_error("GET / HTTP/2.0\r\nHost: a\r\n\r\n", HTTP_ERR_VERSION_UNSUPPORTED, 505);
	expect_error("GET / HTTP/1.2\r\nHost: a\r\n\r\n", HTTP_ERR_VERSION_UNSUPPORTED, 505);
	expect_error("GET / HTTP/0.9\r\nHost: a\r\n\r\n", HTTP_ERR_VERSION_UNSUPPORTED, 505);
	expect_error("GET / http/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_BAD_VERSION, 400);
	expect_error("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", HTTP_ERR_BAD_VERSION, 400);
}

Test(http, connect_is_refused_with_501)
{
	expect_error("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
		     HTTP_ERR_CONNECT_REFUSED, 501);
}

Test(http, malformed_request_lines_are_refused)
{
	expect_error("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_BAD_REQUEST_LINE, 400);
	expect_error("GET /\r\nHost: a\r\n\r\n", HTTP_ERR_BAD_REQUEST_LINE, 400);
	expect_error(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_BAD_METHOD, 400);
	expect_error("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_ERR_BAD_REQUEST_LINE, 400);
}

Test(http, garbage_is_refused_as_soon_as_the_first_line_ends)
{
	struct http_request r;
	struct http_request_parser ps;
	http_request_parser_init(&ps);
	const char *s = "\x16\x03\x01\x02\x05\x01\x07\x01\xfc\x03\x03\r\n";
	cr_assert_eq(http_request_parse(&ps, &lim, (const uint8_t *)s, strlen(s), &r), HTTP_ERROR);
	cr_assert_eq(r.status, 400);
}

/* ---- limits ------------------------------------------------------------------------------- */

Test(http, long_request_line_is_414_before_it_ends)
{
	struct http_limits l = lim;
	l.max_request_line = 64;
	char s[200];
	memset(s, 'a', sizeof(s));
	memcpy(s, "GET /", 5);
	s[sizeof(s) - 1] = '\0';
	struct http_request r;
	cr_assert_eq(parse_whole(s, &r, &l), HTTP_ERROR);
	cr_assert_eq(r.error, HTTP_ERR_REQUEST_LINE_TOO_LONG);
	cr_assert_eq(r.status, 414);
}

Test(http, large_head_is_431)
{
	struct http_limits l = lim;
	l.max_head_bytes = 256;
	char s[600];
	int n = snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
	memset(s + n, 'b', 400);
	s[n + 400] = '\0';
	struct http_request r;
	cr_assert_eq(parse_whole(s, &r, &l), HTTP_ERROR);
	cr_assert_eq(r.error, HTTP_ERR_HEAD_TOO_LARGE);
	cr_assert_eq(r.status, 431);
}

Test(http, too_many_headers_is_431)
{
	struct http_limits l = lim;
	l.max_headers = 3;
	struct http_request r;
	cr_assert_eq(
		parse_whole("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &r, &l),
		HTTP_ERROR);
	cr_assert_eq(r.error, HTTP_ERR_TOO_MANY_HEADERS);
	cr_assert_eq(r.status, 431);
	cr_assert_gt(parse_whole("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", &r, &l), 0);
}

Test(http, simd_and_scalar_agree)
{
	const char *cases[] = {
		"GET / HTTP/1.1\r\nHost: a\r\nX-Long-Value: 0123456789abcdef0123456789abcdef\x01"
		"end\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-Long-Value: 0123456789abcdef0123456789abcdef0123"
		"\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-V: 0123456789abcdef\x7f\r\n\r\n",
	};
	for (size_t i = 0; i < 3; i++) {
		struct http_request a, b;
		http_set_simd(true);
		int ra = parse_whole(cases[i], &a, &lim);
		http_set_simd(false);
		int rb = parse_whole(cases[i], &b, &lim);
		http_set_simd(true);
		cr_assert_eq(ra, rb, "case %zu", i);
		cr_assert_eq(a.error, b.error, "case %zu", i);
	}
}

/* ---- responses and framing ---------------------------------------------------------------- */

static int parse_resp(const char *s, enum http_method m, struct http_response *r)
{
	struct http_request_parser ps;
	http_request_parser_init(&ps);
	return http_response_parse(&ps, &lim, m, (const uint8_t *)s, strlen(s), r);
}

Test(http, response_with_content_length)
{
	struct http_response r;
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n";
	cr_assert_eq(parse_resp(s, HTTP_GET, &r), (int)strlen(s));
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body, HTTP_BODY_LENGTH);
	cr_assert_eq(r.content_length, 12);
	cr_assert(r.keep_alive);
}

Test(http, head_1xx_204_304_responses_have_no_body)
{
	struct http_response r;
	cr_assert_gt(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", HTTP_HEAD, &r), 0);
	cr_assert_eq(r.body, HTTP_BODY_NONE);
	cr_assert_gt(parse_resp("HTTP/1.1 204 No Content\r\n\r\n", HTTP_GET, &r), 0);
	cr_assert_eq(r.body, HTTP_BODY_NONE);
	cr_assert_gt(
		parse_resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", HTTP_GET, &r),
		0);
	cr_assert_eq(r.body, HTTP_BODY_NONE);
	cr_assert_gt(parse_resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				"Connection: Upgrade\r\n\r\n",
				HTTP_GET, &r),
		     0);
	cr_assert_eq(r.status, 101);
	cr_assert_eq(r.body, HTTP_BODY_NONE);
}

Test(http, response_without_length_is_close_delimited)
{
	struct http_response r;
	cr_assert_gt(parse_resp("HTTP/1.1 200 OK\r\n\r\n", HTTP_GET, &r), 0);
	cr_assert_eq(r.body, HTTP_BODY_CLOSE);
	cr_assert_not(r.keep_alive);
	cr_assert_gt(
		parse_resp("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP_GET, &r),
		0);
	cr_assert_eq(r.body, HTTP_BODY_CHUNKED);
}

Test(http, response_status_line_must_be_well_formed)
{
	struct http_response r;
	cr_assert_eq(parse_resp("HTTP/1.1 2000 OK\r\n\r\n", HTTP_GET, &r), HTTP_ERROR);
	cr_assert_eq(r.error, HTTP_ERR_BAD_STATUS_LINE);
	cr_assert_eq(parse_resp("HTTP/1.1 600 X\r\n\r\n", HTTP_GET, &r), HTTP_ERROR);
	const char *no_reason = "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n";
	cr_assert_eq(parse_resp(no_reason, HTTP_GET, &r), (int)strlen(no_reason));
}

static long feed_body(struct http_body *b, const char *s, size_t piece, bool *done)
{
	size_t n = strlen(s), off = 0;
	*done = false;
	while (off < n && !*done) {
		size_t k = n - off < piece ? n - off : piece;
		long c = http_body_consume(b, (const uint8_t *)s + off, k, done);
		if (c < 0)
			return -1;
		off += (size_t)c;
		if ((size_t)c < k && !*done)
			return -2; /* consumed less without ending: a bug */
	}
	return (long)off;
}

Test(http, chunked_body_ends_exactly_in_any_segmentation)
{
	const char *body = "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
	const char *tail = "GET /next HTTP/1.1\r\n";
	char stream[256];
	snprintf(stream, sizeof(stream), "%s%s", body, tail);
	for (size_t piece = 1; piece <= strlen(stream); piece++) {
		struct http_body b;
		http_body_init(&b, HTTP_BODY_CHUNKED, 0);
		bool done;
		long used = feed_body(&b, stream, piece, &done);
		cr_assert(done, "piece %zu: not done", piece);
		cr_assert_eq(used, (long)strlen(body), "piece %zu: used %ld", piece, used);
	}
}

Test(http, chunked_trailers_and_hex_case)
{
	const char *body = "a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n";
	struct http_body b;
	http_body_init(&b, HTTP_BODY_CHUNKED, 0);
	bool done;
	cr_assert_eq(feed_body(&b, body, 7, &done), (long)strlen(body));
	cr_assert(done);
}

Test(http, malformed_chunks_are_refused)
{
	const char *bad[] = {
		"g\r\n",		       /* not hex */
		"\r\n",			       /* no size */
		"4\r\nWikiX\r\n",	       /* data longer than the size */
		"4\nWiki\r\n",		       /* bare LF after size */
		"1000000000000000\r\n",	       /* size too large */
		"0\r\nbad header\x01\r\n\r\n", /* control character in a trailer */
		" 4\r\nWiki\r\n",	       /* blank before the size */
		"0x4\r\nWiki\r\n",	       /* a prefix */
		"+4\r\nWiki\r\n",	       /* a sign */
		"4 \r\nWiki\r\n",	       /* blank before CRLF */
		"4;\r\nWiki\r\n",	       /* ';' without a name */
		"4;a=\r\nWiki\r\n",	       /* '=' without a value */
		"4;a=\"x\r\nWiki\r\n",	       /* quoted value not closed */
		"4;a=\"x\"y\r\nWiki\r\n",      /* junk after a quoted value */
		"4;a b\r\nWiki\r\n",	       /* two names */
		"4;@\r\nWiki\r\n",	       /* not a token */
		"4\r\nWiki\n0\r\n\r\n",	       /* bare LF after data */
		"0\r\nX : 1\r\n\r\n",	       /* space before a trailer's colon */
		"0\r\n X: 1\r\n\r\n",	       /* obs-fold in trailers */
		"0\r\nX\r\n\r\n",	       /* trailer without a colon */
		"0\r\n\r\r\n",		       /* bare CR in the final line */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct http_body b;
		http_body_init(&b, HTTP_BODY_CHUNKED, 0);
		bool done;
		cr_assert_eq(feed_body(&b, bad[i], 64, &done), -1, "case %zu accepted", i);
	}
}

Test(http, chunk_extensions_follow_the_grammar_and_are_bounded)
{
	const char *ok[] = {
		"4;a\r\nWiki\r\n0\r\n\r\n",
		"4 ; a = b ; c\r\nWiki\r\n0\r\n\r\n",
		"4;a=\"q \\\" ;x\"\r\nWiki\r\n0;z=1\r\n\r\n",
		"4\t;a\r\nWiki\r\n0\r\nA: b\r\nB:\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		for (size_t piece = 1; piece <= 5; piece++) {
			struct http_body b;
			http_body_init(&b, HTTP_BODY_CHUNKED, 0);
			bool done;
			cr_assert_eq(feed_body(&b, ok[i], piece, &done), (long)strlen(ok[i]),
				     "case %zu piece %zu", i, piece);
			cr_assert(done);
		}
	static char big[5000];
	memset(big, 'x', sizeof(big) - 1);
	memcpy(big, "4;a=", 4);
	struct http_body b;
	http_body_init(&b, HTTP_BODY_CHUNKED, 0);
	bool done;
	cr_assert_eq(feed_body(&b, big, 64, &done), -1, "a 5000-byte extension is refused");
}

Test(http, body_feed_says_how_many_bytes_were_valid_before_a_fault)
{
	const char *s = "4\r\nWiki\r\n5 x";
	struct http_body b;
	http_body_init(&b, HTTP_BODY_CHUNKED, 0);
	size_t used;
	cr_assert_eq(http_body_feed(&b, (const uint8_t *)s, strlen(s), &used), HTTP_BODY_BAD);
	cr_assert_eq(used, strlen("4\r\nWiki\r\n5 "), "used %zu", used);
	cr_assert_eq(http_body_feed(&b, (const uint8_t *)"\r\n", 2, &used), HTTP_BODY_BAD);
}

Test(http, opaque_bytes_of_a_chunk_can_be_skipped)
{
	struct http_body b;
	http_body_init(&b, HTTP_BODY_CHUNKED, 0);
	size_t used;
	cr_assert_eq(http_body_feed(&b, (const uint8_t *)"100\r\n", 5, &used), HTTP_BODY_MORE);
	cr_assert_eq(http_body_opaque(&b), 256);
	http_body_skip(&b, 256);
	cr_assert_eq(http_body_opaque(&b), 0);
	cr_assert_eq(http_body_feed(&b, (const uint8_t *)"\r\n0\r\n\r\nGET", 10, &used),
		     HTTP_BODY_DONE);
	cr_assert_eq(used, 7);
	http_body_init(&b, HTTP_BODY_LENGTH, 5000000000ull);
	cr_assert_eq(http_body_opaque(&b), 5000000000ull);
	http_body_skip(&b, 5000000000ull);
	cr_assert(b.done);
}

Test(http, content_length_body_is_skipped_in_one_step)
{
	struct http_body b;
	http_body_init(&b, HTTP_BODY_LENGTH, 100000);
	bool done;
	static uint8_t buf[70000];
	cr_assert_eq(http_body_consume(&b, buf, sizeof(buf), &done), 70000);
	cr_assert_not(done);
	cr_assert_eq(http_body_consume(&b, buf, sizeof(buf), &done), 30000);
	cr_assert(done);
	cr_assert_eq(http_body_consume(&b, buf, 10, &done), 0);
}

Test(http, empty_length_body_is_done_at_once)
{
	struct http_body b;
	http_body_init(&b, HTTP_BODY_LENGTH, 0);
	bool done;
	cr_assert_eq(http_body_consume(&b, (const uint8_t *)"x", 1, &done), 0);
	cr_assert(done);
}

/* ---- path normalisation ------------------------------------------------------------------- */

struct norm_case {
	const char *in, *out;
};

Test(http, path_normalisation_table)
{
	static const struct norm_case cases[] = {
		{"/", "/"},
		{"", "/"},
		{"/foo", "/foo"},
		{"/foo/", "/foo/"},
		{"//foo///bar", "/foo/bar"},
		{"/foo/./bar", "/foo/bar"},
		{"/foo/../bar", "/bar"},
		{"/../../etc/passwd", "/etc/passwd"},
		{"/foo/..", "/"},
		{"/foo/.", "/foo/"},
		{"/a/b/../../..", "/"},
		{"/%2e%2e/admin", "/admin"},
		{"/a%2Fb", "/a%2Fb"},
		{"/a%2fb", "/a%2Fb"},
		{"/%7Euser", "/~user"},
		{"/%41%42c", "/ABc"},
		{"/a%20b", "/a%20b"},
		{"/foo/.bar", "/foo/.bar"},
		{"/foo/..bar", "/foo/..bar"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		int n = http_normalize_path((const uint8_t *)cases[i].in, strlen(cases[i].in), out,
					    sizeof(out));
		cr_assert_geq(n, 0, "%s", cases[i].in);
		cr_assert_str_eq(out, cases[i].out, "%s → %s, want %s", cases[i].in, out,
				 cases[i].out);
		cr_assert_eq((size_t)n, strlen(out));
	}
}

Test(http, path_normalisation_refuses_overflow_and_bad_escapes)
{
	char out[8];
	cr_assert_eq(http_normalize_path((const uint8_t *)"/abcdefghij", 11, out, sizeof(out)), -1);
	cr_assert_eq(http_normalize_path((const uint8_t *)"/a%4", 4, out, sizeof(out)), -1);
}

Test(http, normalisation_leaves_the_clients_bytes_alone)
{
	const char *s = "GET /a/../b%2e HTTP/1.1\r\nHost: a\r\n\r\n";
	char copy[128];
	strcpy(copy, s);
	struct http_request r = expect_ok(copy);
	char out[64];
	cr_assert_geq(http_normalize_path((const uint8_t *)copy + r.path.off, r.path.len, out, 64),
		      0);
	cr_assert_str_eq(out, "/b.");
	cr_assert_str_eq(copy, s);
}

Test(http, error_names_are_unique)
{
	for (int i = 0; i < HTTP_ERR__COUNT; i++)
		for (int j = 0; j < i; j++)
			cr_assert_str_neq(http_error_name((enum http_error)i),
					  http_error_name((enum http_error)j));
}

Test(http, find_header_is_case_insensitive_and_trims_blanks)
{
	const char *h = "GET / HTTP/1.1\r\nHost: a.example\r\nX-User-Id:  alice \t\r\n"
			"X-User: bob\r\nx-user: carol\r\n\r\nX-After: body\r\n";
	size_t off, len;
	cr_assert(http_find_header((const uint8_t *)h, strlen(h), "x-user", &off, &len));
	cr_assert_eq(len, 3);
	cr_assert(strncmp(h + off, "bob", 3) == 0, "the first field of that name");
	cr_assert(http_find_header((const uint8_t *)h, strlen(h), "X-USER-ID", &off, &len));
	cr_assert_eq(len, 5);
	cr_assert(strncmp(h + off, "alice", 5) == 0);
	cr_assert_not(http_find_header((const uint8_t *)h, strlen(h), "X-After", &off, &len),
		      "the head ends at the empty line");
	cr_assert_not(http_find_header((const uint8_t *)h, strlen(h), "X-Use", &off, &len),
		      "a prefix of a name is not the name");
}
