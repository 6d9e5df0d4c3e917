/*
 * Access log records: what a head puts in them, and that their JSON line is valid JSON with
 * every field whatever bytes a client sent.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <string.h>

#include "alog/alog.h"

static const struct http_limits lim = {.max_request_line = 8192,
				       .max_head_bytes = 16384,
				       .max_headers = 100,
				       .reject_bare_lf = true};

static struct alog_rec rec_of(const char *head, int *rc)
{
	struct http_request_parser ps;
	http_request_parser_init(&ps);
	struct http_request r;
	*rc = http_request_parse(&ps, &lim, (const uint8_t *)head, strlen(head), &r);
	struct alog_rec a;
	memset(&a, 0, sizeof(a));
	a.client_ip = inet_addr("198.18.0.2");
	a.client_port = htons(40000);
	a.vip = inet_addr("198.18.0.10");
	a.vip_port = htons(80);
	a.head_us = a.connect_us = a.total_us = ALOG_NONE;
	a.bytes_out = ALOG_NONE;
	alog_from_head(&a, (const uint8_t *)head, &r);
	return a;
}

static json_t *line_of(const struct alog_rec *a, const struct alog_route *route)
{
	char line[2048];
	size_t n = alog_json(a, route, 1796083200123000000ull, line, sizeof(line));
	cr_assert_gt(n, 0);
	cr_assert_eq(line[n - 1], '\n', "one line");
	cr_assert_null(memchr(line, '\n', n - 1), "exactly one line");
	json_error_t e;
	json_t *j = json_loadb(line, n, 0, &e);
	cr_assert_not_null(j, "not JSON (%s): %.*s", e.text, (int)n, line);
	return j;
}

Test(alog, a_forwarded_request_has_every_field)
{
	int rc;
	struct alog_rec a = rec_of("POST /cart?x=1 HTTP/1.1\r\nHost: shop.example:8080\r\n"
				   "X-Request-ID: abc-123\r\nContent-Length: 10\r\n\r\n",
				   &rc);
	cr_assert_gt(rc, 0);
	a.outcome = ALOG_FORWARDED;
	a.pod_ip = inet_addr("198.19.0.11");
	a.pod_port = htons(8080);
	a.head_us = 1500;
	a.connect_us = 250;
	a.total_us = 1750;
	a.id = 0x0100000000000007ull;
	struct alog_route route = {"shop/web", "shop/web:80"};
	json_t *j = line_of(&a, &route);
	cr_assert_str_eq(json_string_value(json_object_get(j, "time")), "2026-12-01T00:00:00.123Z");
	cr_assert_str_eq(json_string_value(json_object_get(j, "id")), "0100000000000007");
	cr_assert_str_eq(json_string_value(json_object_get(j, "client")), "198.18.0.2:40000");
	cr_assert_str_eq(json_string_value(json_object_get(j, "method")), "POST");
	cr_assert_str_eq(json_string_value(json_object_get(j, "host")), "shop.example");
	cr_assert_str_eq(json_string_value(json_object_get(j, "target")), "/cart?x=1");
	cr_assert_str_eq(json_string_value(json_object_get(j, "x_request_id")), "abc-123");
	cr_assert_str_eq(json_string_value(json_object_get(j, "ingress")), "shop/web");
	cr_assert_str_eq(json_string_value(json_object_get(j, "pod")), "198.19.0.11:8080");
	cr_assert_str_eq(json_string_value(json_object_get(j, "outcome")), "forwarded");
	cr_assert(json_is_null(json_object_get(j, "status")));
	cr_assert_eq(json_integer_value(json_object_get(j, "bytes_in")),
		     (json_int_t)strlen("POST /cart?x=1 HTTP/1.1\r\nHost: shop.example:8080\r\n"
					"X-Request-ID: abc-123\r\nContent-Length: 10\r\n\r\n") +
			     10);
	cr_assert(json_is_null(json_object_get(j, "bytes_out")));
	cr_assert_float_eq(json_real_value(json_object_get(j, "head_ms")), 1.5, 1e-9);
	cr_assert_float_eq(json_real_value(json_object_get(j, "connect_ms")), 0.25, 1e-9);
	cr_assert(json_is_false(json_object_get(j, "truncated")));
	json_decref(j);
}

Test(alog, a_chunked_body_leaves_bytes_in_unknown)
{
	int rc;
	struct alog_rec a =
		rec_of("PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &rc);
	cr_assert_gt(rc, 0);
	json_t *j = line_of(&a, NULL);
	cr_assert(json_is_null(json_object_get(j, "bytes_in")));
	cr_assert(json_is_null(json_object_get(j, "ingress")));
	json_decref(j);
}

Test(alog, hostile_bytes_stay_valid_json_and_long_fields_are_cut)
{
	/* A malformed head (the parser refuses it) and a record filled by hand with every byte
	 * value, quotes and backslashes. */
	int rc;
	struct alog_rec a = rec_of("GET /\x01\"\\ HTTP/1.1\r\nHost: \xff\r\n\r\n", &rc);
	cr_assert_eq(rc, HTTP_ERROR);
	json_decref(line_of(&a, NULL));
	memset(&a, 0, sizeof(a));
	a.head_us = a.connect_us = a.total_us = ALOG_NONE;
	for (unsigned i = 0; i < ALOG_TARGET_MAX; i++)
		a.target[i] = (char)(i * 2 + 1);
	a.target_len = ALOG_TARGET_MAX;
	memcpy(a.host, "\"\\\n\t", 4);
	a.host_len = 4;
	a.method = 0xff;
	json_t *j = line_of(&a, NULL);
	const char *t = json_string_value(json_object_get(j, "target"));
	cr_assert_not_null(t);
	cr_assert_str_eq(json_string_value(json_object_get(j, "host")), "\"\\\n\t");
	cr_assert(json_is_null(json_object_get(j, "method")));
	json_decref(j);

	char target[400];
	strcpy(target, "GET /");
	for (int i = 0; i < 300; i++)
		strcat(target, "a");
	strcat(target, " HTTP/1.1\r\nHost: b\r\n\r\n");
	a = rec_of(target, &rc);
	cr_assert_gt(rc, 0);
	cr_assert_eq(a.target_len, ALOG_TARGET_MAX);
	cr_assert(a.truncated);
	j = line_of(&a, NULL);
	cr_assert(json_is_true(json_object_get(j, "truncated")));
	cr_assert_eq(strlen(json_string_value(json_object_get(j, "target"))), ALOG_TARGET_MAX);
	json_decref(j);
}

Test(alog, a_line_that_does_not_fit_is_refused_whole)
{
	int rc;
	struct alog_rec a = rec_of("GET / HTTP/1.1\r\nHost: b\r\n\r\n", &rc);
	char small[64];
	cr_assert_eq(alog_json(&a, NULL, 0, small, sizeof(small)), 0);
}
