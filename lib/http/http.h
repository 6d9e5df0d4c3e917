/*
 * http: a strict, incremental HTTP/1.1 parser for the edge (RFC 9110, RFC 9112).
 *
 * Three pieces:
 *   - the request-head parser, which the TCP-lite engine runs over the bytes a client has sent
 *     so far, before it picks a pod;
 *   - the response-head parser and the body framing tracker, which follow message boundaries
 *     on spliced flows in both directions (per-request routing, docs/tcp.md);
 *   - path normalisation, which turns the request target into what the router matches.
 *
 * In the manner of picohttpparser: the caller owns every buffer; results are offsets into the
 * caller's bytes, never copies; nothing allocates; each call says "complete, N bytes",
 * "need more" or "error, with the status to answer". The parser state a connection keeps between
 * calls is one small struct (struct http_request_parser, 12 bytes) so it fits in a flow record.
 *
 * Strictness is the point: whatever two implementations could read differently is refused
 * (conflicting Content-Length, Transfer-Encoding with Content-Length, obs-fold, bare CR, bare LF
 * by default, whitespace before the colon, control characters, several Host headers). A gateway
 * that is lenient where the pod behind it is strict — or the reverse — is how requests get
 * smuggled. Each refusal is a named error (enum http_error) with its own counter.
 */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Named errors and the status sent for each. */
#define HTTP_ERRORS(X)                                                                             \
	X(NONE, none, 0)                                                                           \
	X(BAD_METHOD, bad_method, 400)                                                             \
	X(BAD_TARGET, bad_target, 400)                                                             \
	X(BAD_PERCENT, bad_percent_encoding, 400)                                                  \
	X(BAD_VERSION, bad_version, 400)                                                           \
	X(VERSION_UNSUPPORTED, version_unsupported, 505)                                           \
	X(BAD_REQUEST_LINE, bad_request_line, 400)                                                 \
	X(REQUEST_LINE_TOO_LONG, request_line_too_long, 414)                                       \
	X(HEAD_TOO_LARGE, head_too_large, 431)                                                     \
	X(TOO_MANY_HEADERS, too_many_headers, 431)                                                 \
	X(BARE_CR, bare_cr, 400)                                                                   \
	X(BARE_LF, bare_lf, 400)                                                                   \
	X(OBS_FOLD, obs_fold, 400)                                                                 \
	X(SPACE_BEFORE_COLON, space_before_colon, 400)                                             \
	X(BAD_FIELD_NAME, bad_field_name, 400)                                                     \
	X(BAD_FIELD_VALUE, bad_field_value, 400)                                                   \
	X(MISSING_HOST, missing_host, 400)                                                         \
	X(MULTIPLE_HOST, multiple_host, 400)                                                       \
	X(BAD_HOST, bad_host, 400)                                                                 \
	X(HOST_MISMATCH, host_mismatch, 400)                                                       \
	X(BAD_CONTENT_LENGTH, bad_content_length, 400)                                             \
	X(CONFLICTING_CONTENT_LENGTH, conflicting_content_length, 400)                             \
	X(TE_WITH_CONTENT_LENGTH, te_with_content_length, 400)                                     \
	X(TE_NOT_CHUNKED_LAST, te_not_chunked_last, 400)                                           \
	X(TE_UNKNOWN, te_unknown_coding, 501)                                                      \
	X(TE_IN_HTTP10, te_in_http10, 400)                                                         \
	X(TE_EMPTY_ELEMENT, te_empty_element, 400)                                                 \
	X(CONNECT_REFUSED, connect_refused, 501)                                                   \
	X(BAD_STATUS_LINE, bad_status_line, 502)                                                   \
	X(BAD_CHUNK, bad_chunk, 400)

enum http_error {
#define HTTP_ERR_ENUM(e, n, s) HTTP_ERR_##e,
	HTTP_ERRORS(HTTP_ERR_ENUM)
#undef HTTP_ERR_ENUM
	HTTP_ERR__COUNT
};

const char *http_error_name(enum http_error e);
uint16_t http_error_status(enum http_error e);

enum http_method {
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_DELETE,
	HTTP_OPTIONS,
	HTTP_PATCH,
	HTTP_TRACE,
	HTTP_CONNECT,
	HTTP_OTHER, /* a valid token we do not know: forwarded as is */
};

/* RFC 9110 §9.2.2: may a failed request be sent again to another pod? */
bool http_method_idempotent(enum http_method m);

/* A piece of the caller's buffer. */
struct http_span {
	uint32_t off;
	uint32_t len;
};

struct http_limits {
	uint32_t max_request_line; /* bytes before the first line ends → 414 */
	uint32_t max_head_bytes;   /* bytes before the head ends → 431 */
	uint16_t max_headers;	   /* header fields → 431 */
	bool reject_bare_lf;	   /* RFC 9112 §2.2 permits accepting a bare LF; we refuse it */
};

enum http_body_mode {
	HTTP_BODY_NONE,
	HTTP_BODY_LENGTH,  /* Content-Length */
	HTTP_BODY_CHUNKED, /* Transfer-Encoding: ..., chunked */
	HTTP_BODY_CLOSE,   /* responses only: until the connection closes */
};

struct http_request {
	enum http_method method;
	struct http_span method_span;
	struct http_span target; /* the request target as sent */
	struct http_span path;	 /* path part of the target (origin or absolute form), no query */
	struct http_span query;	 /* after '?', without it; len 0 if none */
	struct http_span host;	 /* host name without port: absolute-form authority or Host */
	struct http_span host_port; /* port digits if given, else len 0 */
	struct http_span
		request_id;    /* the first X-Request-ID's value (for access logs), or len 0 */
	uint8_t version_minor; /* 0 or 1 */
	bool keep_alive;
	bool upgrade;	      /* Upgrade header with Connection: upgrade */
	bool expect_continue; /* Expect: 100-continue */
	bool absolute_form;
	bool asterisk_form;
	enum http_body_mode body;
	uint64_t content_length;
	uint16_t n_headers;
	uint32_t head_len; /* bytes of the head, including the final empty line */
	enum http_error error;
	uint16_t status; /* on error: the status to answer */
};

/* Per-connection parser state, kept between calls while the head arrives. */
struct http_request_parser {
	uint32_t scanned;    /* bytes already searched for line ends */
	uint32_t line_start; /* start of the line being received */
	uint32_t line_end;   /* end of the first line once seen (0: not yet) */
};

#define HTTP_NEED_MORE 0
#define HTTP_ERROR     (-1)

static inline void http_request_parser_init(struct http_request_parser *ps)
{
	ps->scanned = 0;
	ps->line_start = 0;
	ps->line_end = 0;
}

/*
 * Parse a request head from buf[0..len), the whole of what the client has sent so far (the
 * caller appends and calls again; work already done is not repeated, so the total cost is
 * linear in the head's size whatever the segmentation). Returns:
 *   > 0             the head is complete and valid; the value is its length (body follows)
 *   HTTP_NEED_MORE  not complete yet, and nothing wrong so far
 *   HTTP_ERROR      out->error and out->status say what to answer
 * The request line is checked as soon as it is complete, so garbage is refused early. Limits
 * are enforced as bytes arrive, not only at the end.
 */
int http_request_parse(struct http_request_parser *ps, const struct http_limits *lim,
		       const uint8_t *buf, size_t len, struct http_request *out);

/*
 * Normalise a request path for routing: percent-encoded unreserved characters are decoded
 * (RFC 3986 §6.2.2.2), other escapes kept with upper-case hex (so %2F never becomes a
 * separator), runs of '/' merged, "." and ".." segments removed (RFC 3986 §5.2.4; ".." never
 * climbs above "/"). An empty path becomes "/". Writes to out (cap bytes) and returns the
 * length, or -1 if it does not fit or an escape is malformed. The client's bytes are untouched;
 * this is only what the router sees.
 */
int http_normalize_path(const uint8_t *in, size_t len, char *out, size_t cap);

/*
 * The value of the first header field named name (case-insensitive) in a complete, parsed head
 * head[0..head_len), without surrounding blanks. Returns true and sets *off, *len; false when
 * absent. Used off the splice path (once per request, for affinity), so a plain scan.
 */
bool http_find_header(const uint8_t *head, size_t head_len, const char *name, size_t *off,
		      size_t *len);

/* ---- responses and bodies ----------------------------------------------------------------- */

struct http_response {
	uint16_t status;
	uint8_t version_minor;
	bool keep_alive;
	enum http_body_mode body;
	uint64_t content_length;
	uint16_t n_headers;
	uint32_t head_len;
	enum http_error error;
};

/*
 * Parse a response head (same contract as http_request_parse). request_method is the method of
 * the request it answers: HEAD responses, 1xx, 204 and 304 have no body (RFC 9112 §6.3).
 */
int http_response_parse(struct http_request_parser *ps, const struct http_limits *lim,
			enum http_method request_method, const uint8_t *buf, size_t len,
			struct http_response *out);

/* Body framing tracker: follows one message body across pieces of a byte stream. 16 bytes, so
 * a connection record can hold one. */
struct http_body {
	uint64_t remaining;  /* LENGTH: bytes left; CHUNKED: the chunk size being read, then bytes
			      * left of the chunk's data */
	uint8_t mode;	     /* enum http_body_mode */
	uint8_t state;	     /* chunked parser state */
	uint8_t size_digits; /* size digits of the line; in trailers, trailer lines so far */
	uint8_t done;
	uint16_t line_len; /* bytes of the current size or trailer line (bounded) */
	uint16_t pad;
};

void http_body_init(struct http_body *b, enum http_body_mode mode, uint64_t length);

enum http_body_result {
	HTTP_BODY_MORE, /* every byte belonged to the body; it goes on */
	HTTP_BODY_DONE, /* the body ended after *used bytes */
	HTTP_BODY_BAD,	/* the framing broke at byte *used (bytes before it were valid) */
};

/*
 * Consume the next piece of the stream. *used is how many bytes of buf belong to the body
 * (and, on HTTP_BODY_BAD, how many were valid before the fault: a caller forwarding bytes as
 * they are checked forwards exactly those). Content-Length bodies cost O(1) per piece; chunked
 * framing is checked byte by byte, chunk data skipped in O(1). After BAD every call is BAD.
 */
enum http_body_result http_body_feed(struct http_body *b, const uint8_t *buf, size_t len,
				     size_t *used);

/* Bytes just ahead whose content framing never reads: what remains of a Content-Length body or
 * of the current chunk's data. A splice may pass that many bytes unexamined (http_body_skip). */
uint64_t http_body_opaque(const struct http_body *b);
void http_body_skip(struct http_body *b, uint64_t n);

/* The older form of http_body_feed: bytes used, -1 for malformed framing; *done at the end. */
long http_body_consume(struct http_body *b, const uint8_t *buf, size_t len, bool *done);

/* Choose SIMD scanning (default where the CPU has SSE4.2) or the byte-at-a-time path. For the
 * benchmark and tests; both give identical results. */
void http_set_simd(bool on);

#endif
