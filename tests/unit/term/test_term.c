/*
 * lib/term: the X-Forwarded-* rewrite. Every rewritten head must parse again with the strict
 * parser, name the same method, target and host, and carry exactly one of each X-Forwarded-*
 * field, ours, whatever the client sent under those names (any case, any number).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "term/term.h"

static const struct http_limits lim = {.max_request_line = 8192,
				       .max_head_bytes = 8192,
				       .max_headers = 100,
				       .reject_bare_lf = true};

static int parse(const char *head, size_t len, struct http_request *r)
{
	struct http_request_parser ps;
	http_request_parser_init(&ps);
	return http_request_parse(&ps, &lim, (const uint8_t *)head, len, r);
}

/* How many header lines named name (case-insensitive), and the value of the last. */
static int count(const char *head, const char *name, char *value, size_t cap)
{
	int n = 0;
	size_t nl = strlen(name);
	for (const char *l = strstr(head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
		const char *s = l + 2;
		if (strncasecmp(s, name, nl) == 0 && s[nl] == ':') {
			n++;
			const char *v = s + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = (size_t)(strstr(v, "\r\n") - v);
			snprintf(value, cap, "%.*s", (int)vl, v);
		}
	}
	return n;
}

static void check(const char *in, const char *want_host)
{
	struct http_request a, b;
	cr_assert_gt(parse(in, strlen(in), &a), 0, "input must parse: %s", in);
	uint8_t out[4096];
	uint32_t ip = inet_addr("198.18.0.7");
	int n = term_rewrite_head((const uint8_t *)in, a.head_len, ip, 443, out, sizeof(out));
	cr_assert_gt(n, 0);
	char txt[4097];
	memcpy(txt, out, (size_t)n);
	txt[n] = 0;
	cr_assert_eq(parse(txt, (size_t)n, &b), n, "the rewrite must parse whole: %s", txt);
	cr_assert_eq(a.method, b.method);
	cr_assert_eq(a.target.len, b.target.len);
	cr_assert_eq(memcmp(in + a.target.off, txt + b.target.off, a.target.len), 0);
	char v[256];
	cr_assert_eq(count(txt, "x-forwarded-for", v, sizeof(v)), 1, "%s", txt);
	cr_assert_str_eq(v, "198.18.0.7");
	cr_assert_eq(count(txt, "x-forwarded-proto", v, sizeof(v)), 1);
	cr_assert_str_eq(v, "https");
	cr_assert_eq(count(txt, "x-forwarded-host", v, sizeof(v)), 1);
	cr_assert_str_eq(v, want_host);
	cr_assert_eq(count(txt, "x-forwarded-port", v, sizeof(v)), 1);
	cr_assert_str_eq(v, "443");
}

Test(term, rewrite_sets_ours_and_removes_the_clients)
{
	check("GET /a?b=c HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-For: 6.6.6.6\r\n"
	      "x-forwarded-proto: http\r\nX-FORWARDED-HOST: evil\r\nX-Forwarded-Port: 1\r\n"
	      "X-Forwarded-For: 7.7.7.7\r\nAccept: */*\r\n\r\n",
	      "a.example");
	check("POST /x HTTP/1.1\r\nHost: b.example:8443\r\nContent-Length: 0\r\n\r\n",
	      "b.example:8443");
	/* Underscore twins, Forwarded, and fields a Connection option names: all gone; the
	 * fields that frame and route the request stay even when Connection names them. */
	const char *in2 = "POST /y HTTP/1.1\r\nHost: a.example\r\nX-Forwarded_For: 6.6.6.6\r\n"
			  "x_forwarded_host: evil\r\nForwarded: for=6.6.6.6;host=evil\r\n"
			  "Connection: close, X-Forwarded-For, X-Secret, Content-Length, host\r\n"
			  "X-Secret: s\r\nExpect: 100-continue\r\nKeep-Alive: 5\r\n"
			  "Content_Length: 9\r\nContent-Length: 0\r\n\r\n";
	check(in2, "a.example");
	struct http_request r2;
	cr_assert_gt(parse(in2, strlen(in2), &r2), 0);
	uint8_t o2[2048];
	int n2 = term_rewrite_head((const uint8_t *)in2, r2.head_len, 0, 443, o2, sizeof(o2));
	cr_assert_gt(n2, 0);
	static const char *const gone[] = {
		"Forwarded_", "x_forwarded", "Forwarded:", "Connection",
		"X-Secret",   "Expect",	     "Keep-Alive", "Content_Length"};
	for (unsigned k = 0; k < sizeof(gone) / sizeof(gone[0]); k++)
		cr_assert_null(memmem(o2, (size_t)n2, gone[k], strlen(gone[k])), "%s kept: %.*s",
			       gone[k], n2, o2);
	cr_assert_not_null(memmem(o2, (size_t)n2, "Content-Length: 0\r\n", 19));
	cr_assert_not_null(memmem(o2, (size_t)n2, "Host: a.example\r\n", 17));
	/* A field whose name only starts like ours is kept. */
	struct http_request r;
	const char *in = "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Forward: keep\r\n\r\n";
	cr_assert_gt(parse(in, strlen(in), &r), 0);
	uint8_t out[1024];
	int n = term_rewrite_head((const uint8_t *)in, r.head_len, 0, 443, out, sizeof(out));
	cr_assert_gt(n, 0);
	cr_assert_not_null(memmem(out, (size_t)n, "X-Forwarded-Forward: keep\r\n", 27));
}

Test(term, rewrite_refuses_a_small_buffer)
{
	const char *in = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
	struct http_request r;
	cr_assert_gt(parse(in, strlen(in), &r), 0);
	uint8_t out[64];
	for (uint32_t cap = 0; cap < sizeof(out); cap++)
		cr_assert_eq(term_rewrite_head((const uint8_t *)in, r.head_len, 0, 443, out, cap),
			     -1);
}

/* Random heads built from pieces: whatever the client adds, the rewrite holds. */
Test(term, rewrite_fuzz)
{
	static const char *const fields[] = {
		"X-Forwarded-For: 1.2.3.4",
		"x-forwarded-for: a, b",
		"X-Forwarded-Proto: http",
		"X-Forwarded-Host: x",
		"X-Forwarded-Port: 80",
		"Accept: */*",
		"User-Agent: t",
		"X-Forwarded-Prefix: /p",
		"Cookie: a=b",
		"Content-Length: 0",
		"X-Forwarded-Forx: 1",
	};
	uint64_t s = 88172645463325252ull;
	for (int i = 0; i < 2000; i++) {
		char head[2048];
		int o = snprintf(head, sizeof(head), "GET /p%d HTTP/1.1\r\n", i);
		int host_at = (int)(s % 5);
		int nf = 1 + (int)(s % 9);
		for (int k = 0; k < nf; k++) {
			if (k == host_at)
				o += snprintf(head + o, sizeof(head) - (size_t)o,
					      "Host: h%d.example\r\n", i);
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			const char *f = fields[s % (sizeof(fields) / sizeof(fields[0]))];
			if (strncmp(f, "Content-Length", 14) == 0 && strstr(head, "Content-Length"))
				continue;
			o += snprintf(head + o, sizeof(head) - (size_t)o, "%s\r\n", f);
		}
		if (host_at >= nf)
			o += snprintf(head + o, sizeof(head) - (size_t)o, "Host: h%d.example\r\n",
				      i);
		snprintf(head + o, sizeof(head) - (size_t)o, "\r\n");
		char want[64];
		snprintf(want, sizeof(want), "h%d.example", i);
		check(head, want);
	}
}

/* The record's size is the per-connection figure in docs/tls.md. */
Test(term, record_size)
{
	cr_log_info("struct term_conn: %zu bytes", sizeof(struct term_conn));
	cr_assert_leq(sizeof(struct term_conn), 72 * 1024);
}
