/*
 * body.c: message body framing (RFC 9112 §6–§7) — Content-Length in O(1) per piece, chunked
 * through a byte-at-a-time state machine outside chunk data that follows the grammar exactly
 * and bounds every framing line, close-delimited for responses. The state is 16 bytes so a
 * connection record holds one; a caller forwarding bytes as they are checked learns exactly
 * where a fault is and forwards nothing past it.
 */
#include "http/http-int.h"

/* ---- body framing ------------------------------------------------------------------------- */

enum chunk_state {
	CH_SIZE,	 /* hex digits of the chunk size */
	CH_EXT_BWS,	 /* BWS after the size or an extension, before ';' */
	CH_EXT_NAME0,	 /* after ';': BWS, then the extension name */
	CH_EXT_NAME,	 /* inside the name */
	CH_EXT_POSTNAME, /* BWS after the name: '=', ';' or more BWS */
	CH_EXT_VAL0,	 /* after '=': BWS, then a token or a quoted string */
	CH_EXT_TOKEN,	 /* inside a token value */
	CH_EXT_QUOTED,	 /* inside a quoted value */
	CH_EXT_QESC,	 /* after a backslash in a quoted value */
	CH_EXT_AFTERQ,	 /* after the closing quote */
	CH_SIZE_LF,	 /* LF after the size line's CR */
	CH_DATA,	 /* chunk data */
	CH_DATA_CR,	 /* CR after data */
	CH_DATA_LF,	 /* LF after data */
	CH_TRAILER,	 /* start of a trailer line, or of the final CRLF */
	CH_TR_NAME,	 /* inside a trailer field name */
	CH_TR_VALUE,	 /* inside a trailer field value */
	CH_TRAILER_LF,	 /* LF ending a trailer line */
	CH_FINAL_LF,	 /* LF of the final empty line */
	CH_BAD,		 /* the framing broke: nothing more is accepted */
};

/* Bounds on what a chunked body may spend on framing: a size line with its extensions, a
 * trailer line, and the number of trailer lines. */
#define CHUNK_LINE_MAX	  4096
#define TRAILER_LINE_MAX  8192
#define TRAILER_LINES_MAX 100

void http_body_init(struct http_body *b, enum http_body_mode mode, uint64_t length)
{
	memset(b, 0, sizeof(*b));
	b->mode = (uint8_t)mode;
	b->remaining = length;
	b->state = CH_SIZE;
	b->done = mode == HTTP_BODY_NONE || (mode == HTTP_BODY_LENGTH && length == 0);
}

uint64_t http_body_opaque(const struct http_body *b)
{
	if (b->done)
		return 0;
	if (b->mode == HTTP_BODY_LENGTH)
		return b->remaining;
	if (b->mode == HTTP_BODY_CHUNKED && b->state == CH_DATA)
		return b->remaining;
	return 0;
}

void http_body_skip(struct http_body *b, uint64_t n)
{
	if (n > http_body_opaque(b))
		n = http_body_opaque(b);
	b->remaining -= n;
	if (b->remaining == 0) {
		if (b->mode == HTTP_BODY_LENGTH)
			b->done = 1;
		else
			b->state = CH_DATA_CR;
	}
}

static inline bool ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* qdtext and the second byte of a quoted-pair (RFC 9110 §5.6.4). */
static inline bool qdtext(uint8_t c)
{
	return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
	       (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

static inline bool qpair(uint8_t c)
{
	return c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

/*
 * One byte of chunked framing outside chunk data (RFC 9112 §7.1): the next state, or CH_BAD.
 * The grammar is followed exactly: size digits only (no sign, prefix or blank), extensions as
 * BWS ";" BWS token [BWS "=" BWS (token / quoted-string)], CRLF where the RFC puts it, trailer
 * lines as field lines (token, colon, value without CTLs; no obs-fold).
 */
static uint8_t chunk_step(struct http_body *b, uint8_t c)
{
	switch (b->state) {
	case CH_SIZE: {
		int h = hexval(c);
		if (h >= 0) {
			if (++b->size_digits > 15)
				return CH_BAD; /* a size past 2^60: refuse, never wrap */
			b->remaining = b->remaining * 16 + (uint64_t)h;
			return CH_SIZE;
		}
		if (b->size_digits == 0)
			return CH_BAD;
		if (c == ';')
			return CH_EXT_NAME0;
		if (ows(c))
			return CH_EXT_BWS;
		return c == '\r' ? CH_SIZE_LF : CH_BAD;
	}
	case CH_EXT_BWS:
		if (ows(c))
			return CH_EXT_BWS;
		return c == ';' ? CH_EXT_NAME0 : CH_BAD;
	case CH_EXT_NAME0:
		if (ows(c))
			return CH_EXT_NAME0;
		return tchar[c] ? CH_EXT_NAME : CH_BAD;
	case CH_EXT_NAME:
		if (tchar[c])
			return CH_EXT_NAME;
		if (ows(c))
			return CH_EXT_POSTNAME;
		if (c == '=')
			return CH_EXT_VAL0;
		if (c == ';')
			return CH_EXT_NAME0;
		return c == '\r' ? CH_SIZE_LF : CH_BAD;
	case CH_EXT_POSTNAME:
		if (ows(c))
			return CH_EXT_POSTNAME;
		if (c == '=')
			return CH_EXT_VAL0;
		return c == ';' ? CH_EXT_NAME0 : CH_BAD;
	case CH_EXT_VAL0:
		if (ows(c))
			return CH_EXT_VAL0;
		if (c == '"')
			return CH_EXT_QUOTED;
		return tchar[c] ? CH_EXT_TOKEN : CH_BAD;
	case CH_EXT_TOKEN:
		if (tchar[c])
			return CH_EXT_TOKEN;
		if (ows(c))
			return CH_EXT_BWS;
		if (c == ';')
			return CH_EXT_NAME0;
		return c == '\r' ? CH_SIZE_LF : CH_BAD;
	case CH_EXT_QUOTED:
		if (c == '"')
			return CH_EXT_AFTERQ;
		if (c == '\\')
			return CH_EXT_QESC;
		return qdtext(c) ? CH_EXT_QUOTED : CH_BAD;
	case CH_EXT_QESC:
		return qpair(c) ? CH_EXT_QUOTED : CH_BAD;
	case CH_EXT_AFTERQ:
		if (ows(c))
			return CH_EXT_BWS;
		if (c == ';')
			return CH_EXT_NAME0;
		return c == '\r' ? CH_SIZE_LF : CH_BAD;
	case CH_SIZE_LF:
		if (c != '\n')
			return CH_BAD;
		b->size_digits = 0;
		return b->remaining == 0 ? CH_TRAILER : CH_DATA;
	case CH_DATA_CR:
		return c == '\r' ? CH_DATA_LF : CH_BAD;
	case CH_DATA_LF:
		return c == '\n' ? CH_SIZE : CH_BAD;
	case CH_TRAILER:
		if (c == '\r')
			return CH_FINAL_LF;
		if (++b->size_digits > TRAILER_LINES_MAX)
			return CH_BAD;		       /* size_digits counts trailer lines here */
		return tchar[c] ? CH_TR_NAME : CH_BAD; /* SP/HTAB first: obs-fold */
	case CH_TR_NAME:
		if (tchar[c])
			return CH_TR_NAME;
		return c == ':' ? CH_TR_VALUE : CH_BAD; /* whitespace before the colon too */
	case CH_TR_VALUE:
		if (c == '\r')
			return CH_TRAILER_LF;
		return value_byte_bad(c) ? CH_BAD : CH_TR_VALUE;
	case CH_TRAILER_LF:
		return c == '\n' ? CH_TRAILER : CH_BAD;
	default:
		return CH_BAD;
	}
}

enum http_body_result http_body_feed(struct http_body *b, const uint8_t *buf, size_t len,
				     size_t *used)
{
	*used = 0;
	if (b->done)
		return HTTP_BODY_DONE;
	if (b->mode == HTTP_BODY_CLOSE) {
		*used = len;
		return HTTP_BODY_MORE;
	}
	if (b->mode == HTTP_BODY_LENGTH) {
		size_t take = b->remaining < len ? (size_t)b->remaining : len;
		b->remaining -= take;
		*used = take;
		b->done = b->remaining == 0;
		return b->done ? HTTP_BODY_DONE : HTTP_BODY_MORE;
	}
	size_t i = 0;
	while (i < len) {
		if (b->state == CH_DATA) {
			size_t take = b->remaining < len - i ? (size_t)b->remaining : len - i;
			b->remaining -= take;
			i += take;
			if (b->remaining == 0)
				b->state = CH_DATA_CR;
			continue;
		}
		if (b->state == CH_BAD) {
			*used = i;
			return HTTP_BODY_BAD;
		}
		uint8_t c = buf[i];
		uint8_t prev = b->state;
		if (prev == CH_FINAL_LF) {
			if (c != '\n') {
				b->state = CH_BAD;
				continue;
			}
			b->done = 1;
			*used = i + 1;
			return HTTP_BODY_DONE;
		}
		uint8_t next = chunk_step(b, c);
		/* Bound each framing line (a size line with its extensions, a trailer line): the
		 * count restarts at each line's LF. */
		if (prev == CH_SIZE_LF || prev == CH_TRAILER_LF || prev == CH_DATA_LF)
			b->line_len = 0;
		else if (++b->line_len > (prev >= CH_TRAILER ? TRAILER_LINE_MAX : CHUNK_LINE_MAX))
			next = CH_BAD;
		b->state = next;
		if (next == CH_BAD) {
			*used = i;
			return HTTP_BODY_BAD;
		}
		i++;
	}
	*used = i;
	return HTTP_BODY_MORE;
}

long http_body_consume(struct http_body *b, const uint8_t *buf, size_t len, bool *done)
{
	size_t used;
	enum http_body_result r = http_body_feed(b, buf, len, &used);
	*done = r == HTTP_BODY_DONE;
	return r == HTTP_BODY_BAD ? -1 : (long)used;
}
