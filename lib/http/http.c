/*
 * http.c: request and response heads (RFC 9112 §2–§6, RFC 9110 §5, §7.2, §8.6, §9).
 *
 * Two phases per head. While bytes arrive, a cheap scan (memchr for '\n') finds line ends,
 * remembering where it stopped so no byte is scanned twice; the first line is validated the
 * moment it is complete (so a client sending garbage is refused at once, not after the header
 * timeout), and the limits are checked against what has arrived. When the empty line ending the
 * head is found, the header fields are parsed once, in order, with every rule applied.
 *
 * Field values are checked for forbidden bytes with SSE4.2 (16 bytes per instruction, the
 * picohttpparser technique) where available; the byte-at-a-time loop gives identical answers and
 * is kept for the benchmark and for CPUs without it.
 */
#include "http/http-int.h"

#include <string.h>

#ifdef __SSE4_2__
#include <nmmintrin.h>
#endif

static const char *const error_names[] = {
#define HTTP_ERR_NAME(e, n, s) #n,
	HTTP_ERRORS(HTTP_ERR_NAME)
#undef HTTP_ERR_NAME
};

static const uint16_t error_status[] = {
#define HTTP_ERR_STATUS(e, n, s) s,
	HTTP_ERRORS(HTTP_ERR_STATUS)
#undef HTTP_ERR_STATUS
};

const char *http_error_name(enum http_error e)
{
	return (unsigned)e < HTTP_ERR__COUNT ? error_names[e] : "unknown";
}

uint16_t http_error_status(enum http_error e)
{
	return (unsigned)e < HTTP_ERR__COUNT ? error_status[e] : 400;
}

bool http_method_idempotent(enum http_method m)
{
	switch (m) {
	case HTTP_GET:
	case HTTP_HEAD:
	case HTTP_PUT:
	case HTTP_DELETE:
	case HTTP_OPTIONS:
	case HTTP_TRACE:
		return true;
	default:
		return false;
	}
}

#ifdef __SSE4_2__
static bool use_simd = true;
#else
static bool use_simd = false;
#endif

void http_set_simd(bool on)
{
#ifdef __SSE4_2__
	use_simd = on;
#else
	(void)on;
#endif
}

/* Index of the first forbidden byte in p[0..n), or n. */
static size_t scan_value_scalar(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (value_byte_bad(p[i]))
			return i;
	return n;
}

#ifdef __SSE4_2__
static size_t scan_value_simd(const uint8_t *p, size_t n)
{
	/* Ranges of forbidden bytes: 0x00–0x08, 0x0a–0x1f, 0x7f. */
	static const char ranges[16] = "\x00\x08\x0a\x1f\x7f\x7f";
	const __m128i r = _mm_loadu_si128((const __m128i *)ranges);
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m128i b = _mm_loadu_si128((const __m128i *)(p + i));
		int idx = _mm_cmpestri(
			r, 6, b, 16, _SIDD_UBYTE_OPS | _SIDD_CMP_RANGES | _SIDD_LEAST_SIGNIFICANT);
		if (idx != 16)
			return i + (size_t)idx;
	}
	return i + scan_value_scalar(p + i, n - i);
}
#endif

static inline size_t scan_value(const uint8_t *p, size_t n)
{
#ifdef __SSE4_2__
	if (use_simd)
		return scan_value_simd(p, n);
#endif
	return scan_value_scalar(p, n);
}

/* The next '\n' in p[0..n), or NULL: glibc's vectorised memchr, or a plain loop for the
 * byte-at-a-time baseline. */
static inline const uint8_t *find_nl(const uint8_t *p, size_t n)
{
	if (use_simd)
		return memchr(p, '\n', n);
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\n')
			return p + i;
	return NULL;
}

/* ---- request line ------------------------------------------------------------------------- */

struct method_name {
	const char *name;
	enum http_method m;
};

static const struct method_name methods[] = {
	{"GET", HTTP_GET},     {"HEAD", HTTP_HEAD},	{"POST", HTTP_POST},
	{"PUT", HTTP_PUT},     {"DELETE", HTTP_DELETE}, {"OPTIONS", HTTP_OPTIONS},
	{"PATCH", HTTP_PATCH}, {"TRACE", HTTP_TRACE},	{"CONNECT", HTTP_CONNECT},
};

static enum http_method method_of(const uint8_t *p, size_t n)
{
	/* Methods are case-sensitive (RFC 9110 §9.1). */
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i].name) == n && memcmp(p, methods[i].name, n) == 0)
			return methods[i].m;
	return HTTP_OTHER;
}

/* Host (RFC 9110 §7.2, RFC 3986 §3.2.2): reg-name or IP literal, optional ":port". Sets the
 * host and port spans (offsets relative to buf). */
static bool parse_host(const uint8_t *buf, uint32_t off, uint32_t len, struct http_span *host,
		       struct http_span *port)
{
	const uint8_t *p = buf + off;
	uint32_t i = 0;
	if (len == 0)
		return false;
	if (p[0] == '[') {
		while (i < len && p[i] != ']') {
			uint8_t c = p[i];
			if (i > 0 && !(hexval(c) >= 0 || c == ':' || c == '.'))
				return false;
			i++;
		}
		if (i == len)
			return false;
		i++; /* past ']' */
	} else {
		while (i < len && p[i] != ':') {
			uint8_t c = p[i];
			bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				  (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
				  c == '~' || c == '!' || c == '$' || c == '&' || c == '\'' ||
				  c == '(' || c == ')' || c == '*' || c == '+' || c == ',' ||
				  c == ';' || c == '=' || c == '%';
			if (!ok)
				return false;
			i++;
		}
		if (i == 0)
			return false;
	}
	host->off = off;
	host->len = i;
	port->off = off + i;
	port->len = 0;
	if (i == len)
		return true;
	if (p[i] != ':')
		return false;
	uint32_t digits = 0, value = 0;
	for (uint32_t j = i + 1; j < len; j++) {
		if (p[j] < '0' || p[j] > '9' || ++digits > 5)
			return false;
		value = value * 10 + (uint32_t)(p[j] - '0');
	}
	if (value > 65535)
		return false;
	port->off = off + i + 1;
	port->len = digits;
	return true;
}

/* Bytes a request target may not hold (RFC 9112 §3.2, RFC 3986 §2): controls, space, DEL,
 * non-ASCII, '#', and the characters RFC 3986 leaves out of URIs — '"' '<' '>' '\\' '^' '`'
 * '{' '|' '}'. Backends that read '\\' as '/' would otherwise reach paths a Prefix rule
 * never allowed. */
static const uint8_t target_byte_bad[256] = {
	[0 ... 0x20] = 1, [0x7f ... 0xff] = 1, ['#'] = 1, ['"'] = 1, ['<'] = 1, ['>'] = 1,
	['\\'] = 1,	  ['^'] = 1,	       ['`'] = 1, ['{'] = 1, ['|'] = 1, ['}'] = 1,
};

/* Request target (RFC 9112 §3.2). Fills target, path, query and, for absolute-form, host. */
static enum http_error parse_target(const uint8_t *buf, uint32_t off, uint32_t len,
				    enum http_method m, struct http_request *r)
{
	const uint8_t *p = buf + off;
	for (uint32_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		if (target_byte_bad[c])
			return HTTP_ERR_BAD_TARGET;
		if (c == '%') {
			if (i + 2 >= len || hexval(p[i + 1]) < 0 || hexval(p[i + 2]) < 0)
				return HTTP_ERR_BAD_PERCENT;
			if (hexval(p[i + 1]) == 0 && hexval(p[i + 2]) == 0)
				return HTTP_ERR_BAD_PERCENT; /* %00: NUL smuggled into the path */
		}
	}
	r->target = (struct http_span){off, len};
	uint32_t path_start;
	if (m == HTTP_CONNECT)
		return HTTP_ERR_CONNECT_REFUSED; /* authority-form: tunnels are not offered */
	if (p[0] == '/') {
		path_start = 0;
	} else if (len == 1 && p[0] == '*') {
		if (m != HTTP_OPTIONS)
			return HTTP_ERR_BAD_TARGET;
		r->asterisk_form = true;
		r->path = (struct http_span){off, 1};
		return HTTP_ERR_NONE;
	} else {
		/* absolute-form: http://authority/path or https://... */
		uint32_t s = 0;
		if (len > 7 && ieq(p, 7, "http://"))
			s = 7;
		else if (len > 8 && ieq(p, 8, "https://"))
			s = 8;
		else
			return HTTP_ERR_BAD_TARGET;
		uint32_t a = s;
		while (a < len && p[a] != '/' && p[a] != '?')
			a++;
		for (uint32_t k = s; k < a; k++)
			if (p[k] == '@')
				return HTTP_ERR_BAD_TARGET; /* userinfo: RFC 9110 §4.2.4 */
		struct http_span host, port;
		if (!parse_host(buf, off + s, a - s, &host, &port))
			return HTTP_ERR_BAD_HOST;
		r->host = host;
		r->host_port = port;
		r->absolute_form = true;
		path_start = a;
	}
	uint32_t q = path_start;
	while (q < len && p[q] != '?')
		q++;
	r->path = (struct http_span){off + path_start, q - path_start};
	if (q < len)
		r->query = (struct http_span){off + q + 1, len - q - 1};
	return HTTP_ERR_NONE;
}

/* "HTTP/1.1" etc. Returns NONE and the minor version, or an error. */
static enum http_error parse_version(const uint8_t *p, uint32_t len, uint8_t *minor)
{
	if (len != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' || p[5] > '9' ||
	    p[7] < '0' || p[7] > '9')
		return HTTP_ERR_BAD_VERSION;
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return HTTP_ERR_VERSION_UNSUPPORTED;
	*minor = (uint8_t)(p[7] - '0');
	return HTTP_ERR_NONE;
}

/* The request line buf[0..end) without its line ending. */
static enum http_error parse_request_line(const uint8_t *buf, uint32_t end, struct http_request *r)
{
	uint32_t i = 0;
	while (i < end && tchar[buf[i]])
		i++;
	if (i == 0 || i == end || buf[i] != ' ')
		return i < end && buf[i] == '\r' ? HTTP_ERR_BARE_CR : HTTP_ERR_BAD_METHOD;
	r->method_span = (struct http_span){0, i};
	r->method = method_of(buf, i);
	uint32_t t = ++i;
	while (i < end && buf[i] != ' ') {
		if (buf[i] == '\r')
			return HTTP_ERR_BARE_CR;
		i++;
	}
	if (i == t || i == end)
		return HTTP_ERR_BAD_REQUEST_LINE;
	uint32_t tlen = i - t;
	/* The version first: an unsupported version is 505 whatever the target. */
	for (uint32_t k = i + 1; k < end; k++)
		if (buf[k] == '\r')
			return HTTP_ERR_BARE_CR;
	enum http_error e = parse_version(buf + i + 1, end - i - 1, &r->version_minor);
	if (e != HTTP_ERR_NONE)
		return e;
	return parse_target(buf, t, tlen, r->method, r);
}

/* ---- header fields ------------------------------------------------------------------------ */

/* Split a comma-separated list value (RFC 9110 §5.6.1) and call fn on each element, trimmed
 * of OWS. Empty elements are skipped, as the RFC asks of a recipient, unless `strict`: then an
 * empty element makes the call fail (*empty is set). Framing fields are read strictly, because
 * the splice forwards them unchanged and every reader behind the gateway must see one meaning.
 * Returns false if fn does or an empty element was refused. */
typedef bool (*list_fn)(const uint8_t *e, uint32_t n, void *arg);

static bool for_each_element(const uint8_t *v, uint32_t n, list_fn fn, void *arg, bool strict,
			     bool *empty)
{
	uint32_t i = 0;
	while (i <= n) {
		uint32_t s = i;
		while (i < n && v[i] != ',')
			i++;
		uint32_t e = i;
		while (s < e && (v[s] == ' ' || v[s] == '\t'))
			s++;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e == s && strict) {
			*empty = true;
			return false;
		}
		if (e > s && !fn(v + s, e - s, arg))
			return false;
		i++;
	}
	return true;
}

struct framing {
	bool has_cl;
	uint64_t cl;
	bool bad_cl;
	bool conflict_cl;
	bool has_te;
	bool chunked_last;
	bool chunked_not_last;
	bool te_unknown;
	bool conn_close, conn_keep_alive, conn_upgrade;
	bool has_upgrade;
	bool expect_continue;
	uint16_t hosts;
	struct http_span host_value;
	struct http_span request_id;
};

/*
 * Content-Length: one field line, one value, digits only. RFC 9110 §8.6 lets a recipient accept
 * a list of equal values or repeated equal lines only if it replaces them with one value before
 * forwarding; a splice forwards the head unchanged, so a list ("5,5", ",5", ","), a repeated
 * line or anything but digits is refused.
 */
static bool cl_value(const uint8_t *e, uint32_t n, struct framing *f)
{
	uint64_t v = 0;
	if (f->has_cl) {
		f->conflict_cl = true;
		return false;
	}
	if (n == 0 || n > 18) { /* more than 10^18 bytes: nobody sends that in earnest */
		f->bad_cl = true;
		return false;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (e[i] < '0' || e[i] > '9') {
			f->bad_cl = true;
			return false;
		}
		v = v * 10 + (uint64_t)(e[i] - '0');
	}
	f->has_cl = true;
	f->cl = v;
	return true;
}

static bool te_element(const uint8_t *e, uint32_t n, void *arg)
{
	struct framing *f = arg;
	/* transfer-coding = token *( OWS ";" OWS transfer-parameter ) */
	uint32_t t = 0;
	while (t < n && tchar[e[t]])
		t++;
	if (t == 0 || (t < n && e[t] != ';' && e[t] != ' ' && e[t] != '\t')) {
		f->te_unknown = true;
		return false;
	}
	if (f->chunked_last) /* chunked was not the last coding (RFC 9112 §6.1) */
		f->chunked_not_last = true;
	f->chunked_last = false;
	if (ieq(e, t, "chunked"))
		f->chunked_last = true;
	else if (!ieq(e, t, "gzip") && !ieq(e, t, "deflate") && !ieq(e, t, "compress") &&
		 !ieq(e, t, "x-gzip") && !ieq(e, t, "x-compress"))
		f->te_unknown = true;
	f->has_te = true;
	return true;
}

static bool conn_element(const uint8_t *e, uint32_t n, void *arg)
{
	struct framing *f = arg;
	if (ieq(e, n, "close"))
		f->conn_close = true;
	else if (ieq(e, n, "keep-alive"))
		f->conn_keep_alive = true;
	else if (ieq(e, n, "upgrade"))
		f->conn_upgrade = true;
	return true;
}

/*
 * Parse the header fields in buf[start..end) (end is the start of the final empty line).
 * Line endings were already checked for bare LF by the scan; bare CR is caught here.
 */
static enum http_error parse_fields(const uint8_t *buf, uint32_t start, uint32_t end,
				    const struct http_limits *lim, struct framing *f,
				    uint16_t *n_headers)
{
	uint32_t i = start;
	uint16_t n = 0;
	while (i < end) {
		const uint8_t *line = buf + i;
		const uint8_t *nl = find_nl(line, end - i);
		uint32_t llen = (uint32_t)(nl - line);
		uint32_t next = i + llen + 1;
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		if (line[0] == ' ' || line[0] == '\t')
			return HTTP_ERR_OBS_FOLD; /* RFC 9112 §5.2 */
		if (++n > lim->max_headers)
			return HTTP_ERR_TOO_MANY_HEADERS;
		uint32_t c = 0;
		while (c < llen && tchar[line[c]])
			c++;
		if (c == llen)
			return HTTP_ERR_BAD_FIELD_NAME;
		if (line[c] != ':') {
			if (line[c] == ' ' || line[c] == '\t')
				return c == 0 ? HTTP_ERR_OBS_FOLD : HTTP_ERR_SPACE_BEFORE_COLON;
			return line[c] == '\r' ? HTTP_ERR_BARE_CR : HTTP_ERR_BAD_FIELD_NAME;
		}
		if (c == 0)
			return HTTP_ERR_BAD_FIELD_NAME;
		uint32_t vs = c + 1, ve = llen;
		size_t bad = scan_value(line + vs, ve - vs);
		if (bad != ve - vs)
			return line[vs + bad] == '\r' ? HTTP_ERR_BARE_CR : HTTP_ERR_BAD_FIELD_VALUE;
		while (vs < ve && (line[vs] == ' ' || line[vs] == '\t'))
			vs++;
		while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t'))
			ve--;
		const uint8_t *v = line + vs;
		uint32_t vlen = ve - vs;

		switch (lower(line[0])) {
		case 'h':
			if (ieq(line, c, "host")) {
				f->hosts++;
				f->host_value = (struct http_span){i + vs, vlen};
			}
			break;
		case 'c':
			if (ieq(line, c, "content-length")) {
				if (!cl_value(v, vlen, f))
					return f->conflict_cl ? HTTP_ERR_CONFLICTING_CONTENT_LENGTH
							      : HTTP_ERR_BAD_CONTENT_LENGTH;
			} else if (ieq(line, c, "connection")) {
				for_each_element(v, vlen, conn_element, f, false, NULL);
			}
			break;
		case 't':
			if (ieq(line, c, "transfer-encoding")) {
				bool empty = false;
				if (vlen == 0)
					return HTTP_ERR_TE_UNKNOWN;
				for_each_element(v, vlen, te_element, f, true, &empty);
				if (empty)
					return HTTP_ERR_TE_EMPTY_ELEMENT;
			}
			break;
		case 'u':
			if (ieq(line, c, "upgrade"))
				f->has_upgrade = true;
			break;
		case 'e':
			if (ieq(line, c, "expect") && ieq(v, vlen, "100-continue"))
				f->expect_continue = true;
			break;
		case 'x':
			if (f->request_id.len == 0 && ieq(line, c, "x-request-id"))
				f->request_id = (struct http_span){i + vs, vlen};
			break;
		default:
			break;
		}
		i = next;
	}
	*n_headers = n;
	return HTTP_ERR_NONE;
}

/* ---- the incremental scan ----------------------------------------------------------------- */

enum scan_result {
	SCAN_MORE,
	SCAN_HEAD_END,
	SCAN_LINE_ONE,
	SCAN_ERROR
};

/*
 * Advance the scan over new bytes. Stops at the first line end of the head (SCAN_LINE_ONE, so
 * the caller can check the first line early) or at the end of the head (SCAN_HEAD_END, with
 * *head_end set to the length of the head).
 */
static enum scan_result scan(struct http_request_parser *ps, const struct http_limits *lim,
			     const uint8_t *buf, size_t len, uint32_t *head_end,
			     enum http_error *err)
{
	while (ps->scanned < len) {
		const uint8_t *nl = find_nl(buf + ps->scanned, len - ps->scanned);
		if (nl == NULL) {
			ps->scanned = (uint32_t)len;
			break;
		}
		uint32_t at = (uint32_t)(nl - buf);
		bool crlf = at > ps->line_start && buf[at - 1] == '\r';
		if (!crlf && lim->reject_bare_lf) {
			*err = HTTP_ERR_BARE_LF;
			return SCAN_ERROR;
		}
		uint32_t content = at - ps->line_start - (crlf ? 1 : 0);
		uint32_t start = ps->line_start;
		ps->line_start = at + 1;
		ps->scanned = at + 1;
		if (ps->line_end == 0) {
			if (content == 0) {
				/* RFC 9112 §2.2: a server SHOULD ignore at least one empty line
				 * before the request line. We ignore exactly one. */
				if (start != 0) {
					*err = HTTP_ERR_BAD_REQUEST_LINE;
					return SCAN_ERROR;
				}
				continue;
			}
			ps->line_end = at + 1;
			return SCAN_LINE_ONE;
		}
		if (content == 0) {
			*head_end = at + 1;
			return SCAN_HEAD_END;
		}
	}
	return SCAN_MORE;
}

static void request_reset(struct http_request *r)
{
	memset(r, 0, sizeof(*r));
}

static int request_fail(struct http_request *r, enum http_error e)
{
	r->error = e;
	r->status = http_error_status(e);
	return HTTP_ERROR;
}

/* Leading empty line skipped by scan(): where the request line begins. */
static uint32_t first_line_start(const uint8_t *buf, uint32_t line_end)
{
	(void)line_end;
	if (buf[0] == '\n')
		return 1;
	if (buf[0] == '\r' && buf[1] == '\n')
		return 2;
	return 0;
}

int http_request_parse(struct http_request_parser *ps, const struct http_limits *lim,
		       const uint8_t *buf, size_t len, struct http_request *out)
{
	request_reset(out);
	if (len > UINT32_MAX / 2)
		len = UINT32_MAX / 2;
	for (;;) {
		uint32_t head_end = 0;
		enum http_error err = HTTP_ERR_NONE;
		enum scan_result s = scan(ps, lim, buf, len, &head_end, &err);
		if (s == SCAN_ERROR)
			return request_fail(out, err);
		if (s == SCAN_LINE_ONE) {
			uint32_t b = first_line_start(buf, ps->line_end);
			uint32_t e = ps->line_end - 1;
			if (e > b && buf[e - 1] == '\r')
				e--;
			if (e - b > lim->max_request_line)
				return request_fail(out, HTTP_ERR_REQUEST_LINE_TOO_LONG);
			struct http_request tmp;
			request_reset(&tmp);
			enum http_error le = parse_request_line(buf + b, e - b, &tmp);
			if (le != HTTP_ERR_NONE)
				return request_fail(out, le);
			continue;
		}
		if (s == SCAN_MORE) {
			if (ps->line_end == 0 && len > lim->max_request_line + 2u)
				return request_fail(out, HTTP_ERR_REQUEST_LINE_TOO_LONG);
			if (len >= lim->max_head_bytes)
				return request_fail(out, HTTP_ERR_HEAD_TOO_LARGE);
			return HTTP_NEED_MORE;
		}
		/* The whole head is here: parse it once, in full. */
		if (head_end > lim->max_head_bytes)
			return request_fail(out, HTTP_ERR_HEAD_TOO_LARGE);
		uint32_t b = first_line_start(buf, ps->line_end);
		uint32_t e = ps->line_end - 1;
		if (e > b && buf[e - 1] == '\r')
			e--;
		enum http_error le = parse_request_line(buf + b, e - b, out);
		if (le != HTTP_ERR_NONE)
			return request_fail(out, le);
		/* parse_request_line saw offsets relative to b. */
		out->method_span.off += b;
		out->target.off += b;
		out->path.off += b;
		if (out->query.len)
			out->query.off += b;
		if (out->absolute_form) {
			out->host.off += b;
			out->host_port.off += b;
		}
		uint32_t fields_end = head_end - 1;
		if (fields_end > 0 && buf[fields_end - 1] == '\r')
			fields_end--;
		struct framing f;
		memset(&f, 0, sizeof(f));
		le = parse_fields(buf, ps->line_end, fields_end, lim, &f, &out->n_headers);
		if (le != HTTP_ERR_NONE)
			return request_fail(out, le);

		out->request_id = f.request_id;
		/* Host (RFC 9112 §3.2): exactly one in HTTP/1.1; absolute-form wins and must
		 * agree with it. */
		if (f.hosts > 1)
			return request_fail(out, HTTP_ERR_MULTIPLE_HOST);
		if (f.hosts == 0 && out->version_minor == 1)
			return request_fail(out, HTTP_ERR_MISSING_HOST);
		if (f.hosts == 1) {
			struct http_span h, p;
			if (!parse_host(buf, f.host_value.off, f.host_value.len, &h, &p))
				return request_fail(out, HTTP_ERR_BAD_HOST);
			if (out->absolute_form) {
				bool same = h.len == out->host.len && p.len == out->host_port.len;
				for (uint32_t k = 0; same && k < h.len; k++)
					same = lower(buf[h.off + k]) ==
					       lower(buf[out->host.off + k]);
				same = same &&
				       memcmp(buf + p.off, buf + out->host_port.off, p.len) == 0;
				if (!same)
					return request_fail(out, HTTP_ERR_HOST_MISMATCH);
			} else {
				out->host = h;
				out->host_port = p;
			}
		}

		/* Framing (RFC 9112 §6.1–6.3). */
		if (f.has_te) {
			if (out->version_minor == 0)
				return request_fail(out, HTTP_ERR_TE_IN_HTTP10);
			if (f.has_cl)
				return request_fail(out, HTTP_ERR_TE_WITH_CONTENT_LENGTH);
			if (f.te_unknown)
				return request_fail(out, HTTP_ERR_TE_UNKNOWN);
			if (!f.chunked_last || f.chunked_not_last)
				return request_fail(out, HTTP_ERR_TE_NOT_CHUNKED_LAST);
			out->body = HTTP_BODY_CHUNKED;
		} else if (f.te_unknown) {
			return request_fail(out, HTTP_ERR_TE_UNKNOWN);
		} else if (f.has_cl) {
			out->body = f.cl ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
			out->content_length = f.cl;
		} else {
			out->body = HTTP_BODY_NONE;
		}
		out->keep_alive = out->version_minor == 1 ? !f.conn_close
							  : (f.conn_keep_alive && !f.conn_close);
		out->upgrade = f.has_upgrade && f.conn_upgrade;
		out->expect_continue = f.expect_continue;
		out->head_len = head_end;
		return (int)head_end;
	}
}

/* ---- responses ---------------------------------------------------------------------------- */

int http_response_parse(struct http_request_parser *ps, const struct http_limits *lim,
			enum http_method request_method, const uint8_t *buf, size_t len,
			struct http_response *out)
{
	memset(out, 0, sizeof(*out));
	if (len > UINT32_MAX / 2)
		len = UINT32_MAX / 2;
	for (;;) {
		uint32_t head_end = 0;
		enum http_error err = HTTP_ERR_NONE;
		enum scan_result s = scan(ps, lim, buf, len, &head_end, &err);
		if (s == SCAN_ERROR) {
			out->error = err;
			return HTTP_ERROR;
		}
		if (s == SCAN_LINE_ONE) {
			/* status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] */
			uint32_t b = first_line_start(buf, ps->line_end);
			uint32_t e = ps->line_end - 1;
			if (e > b && buf[e - 1] == '\r')
				e--;
			const uint8_t *l = buf + b;
			uint32_t n = e - b;
			if (n < 12 || l[8] != ' ' || parse_version(l, 8, &out->version_minor) ||
			    l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' ||
			    l[11] > '9' || (n > 12 && l[12] != ' ')) {
				out->error = HTTP_ERR_BAD_STATUS_LINE;
				return HTTP_ERROR;
			}
			if (scan_value(l + 12, n - 12) != n - 12) {
				out->error = HTTP_ERR_BAD_STATUS_LINE;
				return HTTP_ERROR;
			}
			out->status =
				(uint16_t)((l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0'));
			continue;
		}
		if (s == SCAN_MORE) {
			if (len >= lim->max_head_bytes) {
				out->error = HTTP_ERR_HEAD_TOO_LARGE;
				return HTTP_ERROR;
			}
			return HTTP_NEED_MORE;
		}
		uint16_t status = out->status;
		uint8_t minor = out->version_minor;
		uint32_t fields_end = head_end - 1;
		if (fields_end > 0 && buf[fields_end - 1] == '\r')
			fields_end--;
		struct framing f;
		memset(&f, 0, sizeof(f));
		enum http_error le =
			parse_fields(buf, ps->line_end, fields_end, lim, &f, &out->n_headers);
		if (le != HTTP_ERR_NONE) {
			out->error = le;
			return HTTP_ERROR;
		}
		out->status = status;
		out->version_minor = minor;
		/* RFC 9112 §6.3, in order. */
		if (request_method == HTTP_HEAD || (status >= 100 && status < 200) ||
		    status == 204 || status == 304) {
			out->body = HTTP_BODY_NONE;
		} else if (f.has_te) {
			if (f.has_cl) {
				out->error = HTTP_ERR_TE_WITH_CONTENT_LENGTH;
				return HTTP_ERROR;
			}
			out->body = f.chunked_last && !f.chunked_not_last ? HTTP_BODY_CHUNKED
									  : HTTP_BODY_CLOSE;
		} else if (f.has_cl) {
			out->body = HTTP_BODY_LENGTH;
			out->content_length = f.cl;
		} else if (f.bad_cl || f.conflict_cl) {
			out->error = HTTP_ERR_BAD_CONTENT_LENGTH;
			return HTTP_ERROR;
		} else {
			out->body = HTTP_BODY_CLOSE;
		}
		out->keep_alive = minor == 1 ? !f.conn_close : (f.conn_keep_alive && !f.conn_close);
		if (out->body == HTTP_BODY_CLOSE)
			out->keep_alive = false;
		out->head_len = head_end;
		return (int)head_end;
	}
}
