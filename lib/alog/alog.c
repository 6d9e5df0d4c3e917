/*
 * alog.c: filling a record from a head, and its JSON line.
 */
#include "alog/alog.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const method_names[] = {
	[HTTP_GET] = "GET",	[HTTP_HEAD] = "HEAD",	  [HTTP_POST] = "POST",
	[HTTP_PUT] = "PUT",	[HTTP_DELETE] = "DELETE", [HTTP_OPTIONS] = "OPTIONS",
	[HTTP_PATCH] = "PATCH", [HTTP_TRACE] = "TRACE",	  [HTTP_CONNECT] = "CONNECT",
	[HTTP_OTHER] = NULL,
};

/* Copy up to cap bytes of span s of b into dst; returns the length, and marks a cut. */
static uint8_t copy_span(struct alog_rec *r, char *dst, size_t cap, const uint8_t *b,
			 struct http_span s)
{
	size_t n = s.len;
	if (n > cap) {
		n = cap;
		r->truncated = true;
	}
	memcpy(dst, b + s.off, n);
	return (uint8_t)n;
}

void alog_from_head(struct alog_rec *r, const uint8_t *b, const struct http_request *req)
{
	r->method = 0xff;
	if (req == NULL)
		return;
	if (req->method_span.len) {
		r->method = (uint8_t)req->method;
		r->method_len =
			copy_span(r, r->method_text, sizeof(r->method_text), b, req->method_span);
	}
	r->host_len = copy_span(r, r->host, sizeof(r->host), b, req->host);
	r->target_len = copy_span(r, r->target, sizeof(r->target), b, req->target);
	r->rid_len = copy_span(r, r->rid, sizeof(r->rid), b, req->request_id);
	if (req->head_len) {
		r->bytes_in = req->head_len;
		r->bytes_in_known = req->body != HTTP_BODY_CHUNKED;
		if (req->body == HTTP_BODY_LENGTH)
			r->bytes_in += req->content_length;
	}
}

/* ---- JSON --------------------------------------------------------------------------------- */

struct out {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || o->len + n >= o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
	if (o->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	o->len += (size_t)n;
}

/* A JSON string from bytes a client chose: quotes, backslashes, control characters and every
 * byte outside printable ASCII escaped. */
static void put_str(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	put(o, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			char e[2] = {'\\', (char)ch};
			put(o, e, 2);
		} else if (ch < 0x20 || ch > 0x7e) {
			char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
			put(o, e, 6);
		} else {
			put(o, (const char *)&ch, 1);
		}
	}
	put(o, "\"", 1);
}

static void put_opt_str(struct out *o, const char *key, const char *s, size_t n, bool present)
{
	putf(o, ",\"%s\":", key);
	if (present)
		put_str(o, s, n);
	else
		puts_(o, "null");
}

static void put_addr(struct out *o, const char *key, uint32_t ip, uint16_t port)
{
	char a[INET_ADDRSTRLEN];
	struct in_addr in = {.s_addr = ip};
	inet_ntop(AF_INET, &in, a, sizeof(a));
	putf(o, ",\"%s\":\"%s:%u\"", key, a, ntohs(port));
}

static void put_ms(struct out *o, const char *key, uint32_t us)
{
	if (us == ALOG_NONE)
		putf(o, ",\"%s\":null", key);
	else
		putf(o, ",\"%s\":%u.%03u", key, us / 1000, us % 1000);
}

static const char *const outcomes[] = {
	[ALOG_FORWARDED] = "forwarded",
	[ALOG_ANSWERED] = "answered",
	[ALOG_CLOSED] = "closed",
};

size_t alog_json(const struct alog_rec *r, const struct alog_route *route, uint64_t unix_ns,
		 char *out, size_t cap)
{
	struct out o = {.p = out, .cap = cap};
	time_t secs = (time_t)(unix_ns / 1000000000u);
	struct tm tm;
	gmtime_r(&secs, &tm);
	putf(&o, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03uZ\"", tm.tm_year + 1900,
	     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	     (unsigned)(unix_ns / 1000000u % 1000u));
	putf(&o, ",\"id\":\"%016llx\"", (unsigned long long)r->id);
	put_addr(&o, "client", r->client_ip, r->client_port);
	put_addr(&o, "vip", r->vip, r->vip_port);
	const char *m = r->method <= HTTP_OTHER ? method_names[r->method] : NULL;
	if (m)
		put_opt_str(&o, "method", m, strlen(m), true);
	else
		put_opt_str(&o, "method", r->method_text, r->method_len, r->method_len > 0);
	put_opt_str(&o, "host", r->host, r->host_len, r->host_len > 0);
	put_opt_str(&o, "target", r->target, r->target_len, r->target_len > 0);
	put_opt_str(&o, "x_request_id", r->rid, r->rid_len, r->rid_len > 0);
	put_opt_str(&o, "ingress", route ? route->ingress : "", route ? strlen(route->ingress) : 0,
		    route != NULL);
	put_opt_str(&o, "service", route ? route->service : "", route ? strlen(route->service) : 0,
		    route != NULL);
	if (r->pod_ip)
		put_addr(&o, "pod", r->pod_ip, r->pod_port);
	else
		puts_(&o, ",\"pod\":null");
	putf(&o, ",\"outcome\":\"%s\"", r->outcome <= ALOG_CLOSED ? outcomes[r->outcome] : "?");
	if (r->status)
		putf(&o, ",\"status\":%u", r->status);
	else
		puts_(&o, ",\"status\":null");
	if (r->bytes_in_known)
		putf(&o, ",\"bytes_in\":%llu", (unsigned long long)r->bytes_in);
	else
		puts_(&o, ",\"bytes_in\":null");
	if (r->bytes_out == ALOG_NONE)
		puts_(&o, ",\"bytes_out\":null");
	else
		putf(&o, ",\"bytes_out\":%u", r->bytes_out);
	put_ms(&o, "head_ms", r->head_us);
	put_ms(&o, "connect_ms", r->connect_us);
	put_ms(&o, "total_ms", r->total_us);
	putf(&o, ",\"truncated\":%s}\n", r->truncated ? "true" : "false");
	return o.full ? 0 : o.len;
}
