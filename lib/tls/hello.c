/*
 * hello.c: the ClientHello, read strictly out of records that may be cut anywhere.
 *
 * Two steps, so that a client sending its hello a byte at a time costs a byte's work each time:
 *
 *   scan   walks record headers (RFC 8446 §5.1: type 22, version 3.1–3.3, length 1–2^14) as
 *          they complete, adding up the handshake bytes they carry; from the first four of those
 *          it learns the message's type and length (re-walking at most four records when the
 *          header itself is fragmented). It answers "more", "refused", or "the records up to
 *          here hold the whole message". A record that ends past the message's end carries
 *          something else in the handshake stream, which a client may not send before the
 *          server's reply: refused.
 *
 *   parse  copies the message out of its records into the caller's scratch and checks it as
 *          one piece with a bounds-checked reader: every vector's length nests exactly in its
 *          parent, extensions appear once each, server_name holds exactly one host_name.
 *
 * The checks follow what OpenSSL's own server enforces on the same fields, so a hello the
 * gateway routes is one the pod's TLS stack parses the same way; where OpenSSL is lenient
 * (unknown name types) the gateway is stricter, never looser.
 */
#include "tls/tls.h"

#include <string.h>

#define REC_HANDSHAKE	22
#define REC_ALERT	21
#define REC_HEADER	5
#define REC_MAX		16384u
#define HS_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0
#define EXT_ALPN	16
#define EXT_VERSIONS	43
#define MAX_EXTENSIONS	128u /* real hellos carry about 20 */
#define SNI_HOST_NAME	0

static const char *const error_names[] = {
#define TLS_HELLO_NAME(up, low) #low,
	TLS_HELLO_ERRORS(TLS_HELLO_NAME)
#undef TLS_HELLO_NAME
};

const char *tls_hello_error_name(enum tls_hello_error e)
{
	return (unsigned)e < TLS_HELLO_E__COUNT ? error_names[e] : "?";
}

static inline uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static int refuse(enum tls_hello_error *err, enum tls_hello_error e)
{
	*err = e;
	return TLS_HELLO_ERROR;
}

/* The first four handshake bytes, gathered from the records at the start of buf[0, len) (each
 * record carries at least one, so at most four are walked; the last may be partial). Returns
 * how many were there. */
static uint32_t handshake_header(const uint8_t *buf, uint32_t len, uint8_t out[4])
{
	uint32_t got = 0;
	for (uint32_t at = 0; at + REC_HEADER <= len && got < 4;) {
		uint32_t rl = be16(buf + at + 3);
		for (uint32_t i = 0; i < rl && at + REC_HEADER + i < len && got < 4; i++)
			out[got++] = buf[at + REC_HEADER + i];
		at += REC_HEADER + rl;
	}
	return got;
}

/* Learn the message's type and length as soon as its first four bytes are in. */
static int learn_length(struct tls_hello_scan *s, const uint8_t *buf, uint32_t len, uint32_t max,
			enum tls_hello_error *err)
{
	uint8_t h[4];
	if (handshake_header(buf, len, h) < 4)
		return TLS_HELLO_MORE;
	if (h[0] != HS_CLIENT_HELLO)
		return refuse(err, TLS_HELLO_E_NOT_CLIENT_HELLO);
	uint32_t body = (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	if (body + 4 > max) /* body < 2^24: no overflow */
		return refuse(err, TLS_HELLO_E_TOO_BIG);
	s->hs_len = 4 + body;
	return TLS_HELLO_MORE;
}

int tls_hello_scan(struct tls_hello_scan *s, const uint8_t *buf, uint32_t len, uint32_t max,
		   enum tls_hello_error *err)
{
	*err = TLS_HELLO_E_NONE;
	if (max == 0 || max > TLS_HELLO_MAX)
		max = TLS_HELLO_MAX;
	while (s->rec_at + REC_HEADER <= len) {
		const uint8_t *r = buf + s->rec_at;
		if (r[0] != REC_HANDSHAKE)
			return refuse(err, TLS_HELLO_E_NOT_HANDSHAKE);
		if (r[1] != 3 || r[2] < 1 || r[2] > 3)
			return refuse(err, TLS_HELLO_E_BAD_RECORD);
		uint32_t rl = be16(r + 3);
		if (rl == 0 || rl > REC_MAX)
			return refuse(err, TLS_HELLO_E_BAD_RECORD);
		uint32_t avail = len - s->rec_at - REC_HEADER;
		if (s->hs_len == 0 && s->hs_have + (avail < rl ? avail : rl) >= 4 &&
		    learn_length(s, buf, len, max, err) < 0)
			return TLS_HELLO_ERROR; /* refused before the record is even whole */
		if (avail < rl)
			break; /* the record is still arriving */
		s->hs_have += rl;
		s->rec_at += REC_HEADER + rl;
		if (s->hs_len != 0 && s->hs_have >= s->hs_len) {
			if (s->hs_have > s->hs_len)
				return refuse(err, TLS_HELLO_E_TRAILING_DATA);
			return (int)s->rec_at;
		}
	}
	return TLS_HELLO_MORE;
}

/* ---- the message ---------------------------------------------------------------------------- */

/* A bounds-checked reader over [p, p + n). Reading past the end sets bad and yields zeros. */
struct rd {
	const uint8_t *p;
	uint32_t n;
	bool bad;
};

static uint32_t rd_int(struct rd *r, uint32_t bytes)
{
	if (r->n < bytes) {
		r->bad = true;
		r->n = 0;
		return 0;
	}
	uint32_t v = 0;
	for (uint32_t i = 0; i < bytes; i++)
		v = v << 8 | r->p[i];
	r->p += bytes;
	r->n -= bytes;
	return v;
}

/* A vector with a length prefix of `bytes`: its contents as a reader of their own. */
static struct rd rd_vec(struct rd *r, uint32_t bytes)
{
	uint32_t len = rd_int(r, bytes);
	struct rd v = {r->p, len, r->bad};
	if (r->bad || r->n < len) {
		r->bad = v.bad = true;
		r->n = 0;
		v.n = 0;
		return v;
	}
	r->p += len;
	r->n -= len;
	return v;
}

/* RFC 6066 §3 host name: LDH labels of 1–63 bytes joined by single dots, at most 253 bytes,
 * no trailing dot (an IP literal passes as digits and dots, and simply routes nowhere). */
static bool host_name_ok(const uint8_t *p, uint32_t n)
{
	if (n == 0 || n > 253)
		return false;
	uint32_t label = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == '.') {
			if (label == 0 || p[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		bool alnum =
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && !(c == '-' && label > 0))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && p[n - 1] != '-';
}

static bool server_name(struct rd ext, struct tls_hello *h)
{
	struct rd list = rd_vec(&ext, 2);
	if (ext.bad || ext.n != 0 || list.n == 0)
		return false;
	/* Exactly one entry, a host_name (RFC 6066: at most one per type; host_name is the
	 * only type defined, and what another type's bytes mean is unknown). */
	if (rd_int(&list, 1) != SNI_HOST_NAME)
		return false;
	struct rd name = rd_vec(&list, 2);
	if (list.bad || list.n != 0 || !host_name_ok(name.p, name.n))
		return false;
	memcpy(h->sni, name.p, name.n);
	h->sni[name.n] = '\0';
	h->sni_len = (uint16_t)name.n;
	return true;
}

static bool alpn(struct rd ext, struct tls_hello *h)
{
	struct rd list = rd_vec(&ext, 2);
	if (ext.bad || ext.n != 0 || list.n == 0)
		return false;
	while (list.n > 0) {
		struct rd proto = rd_vec(&list, 1);
		if (list.bad || proto.n == 0)
			return false;
		if (proto.n == 8 && memcmp(proto.p, "http/1.1", 8) == 0)
			h->alpn_http11 = true;
		if (proto.n == 2 && memcmp(proto.p, "h2", 2) == 0)
			h->alpn_h2 = true;
	}
	return true;
}

static bool versions(struct rd ext, struct tls_hello *h)
{
	struct rd list = rd_vec(&ext, 1);
	if (ext.bad || ext.n != 0 || list.n < 2 || list.n % 2)
		return false;
	while (list.n > 0)
		if (rd_int(&list, 2) == 0x0304)
			h->tls13 = true;
	return true;
}

int tls_hello_parse(const struct tls_hello_scan *s, const uint8_t *buf, uint32_t wire_len,
		    uint8_t *scratch, uint32_t scratch_len, struct tls_hello *h,
		    enum tls_hello_error *err)
{
	memset(h, 0, sizeof(*h));
	*err = TLS_HELLO_E_NONE;
	if (s->hs_len == 0 || s->hs_len > scratch_len || s->hs_have != s->hs_len)
		return refuse(err, TLS_HELLO_E_TOO_BIG);
	/* Gather the message out of its records (scan checked every header up to wire_len). */
	uint32_t got = 0;
	for (uint32_t at = 0; at + REC_HEADER <= wire_len && got < s->hs_len;) {
		uint32_t rl = be16(buf + at + 3);
		uint32_t take = rl < s->hs_len - got ? rl : s->hs_len - got;
		memcpy(scratch + got, buf + at + REC_HEADER, take);
		got += take;
		at += REC_HEADER + rl;
	}
	if (got != s->hs_len)
		return refuse(err, TLS_HELLO_E_BAD_LENGTH);
	h->msg_len = s->hs_len;
	h->wire_len = wire_len;

	struct rd msg = {scratch, s->hs_len, false};
	if (rd_int(&msg, 1) != HS_CLIENT_HELLO)
		return refuse(err, TLS_HELLO_E_NOT_CLIENT_HELLO);
	uint32_t body_len = rd_int(&msg, 3);
	struct rd body = {msg.p, body_len, false};
	if (msg.bad || body.n != msg.n)
		return refuse(err, TLS_HELLO_E_BAD_LENGTH);
	h->version = (uint16_t)rd_int(&body, 2);
	if (h->version < 0x0301 || h->version > 0x0303)
		return refuse(err, TLS_HELLO_E_BAD_VERSION);
	rd_int(&body, 4), rd_int(&body, 4), rd_int(&body, 4), rd_int(&body, 4); /* random: 32 */
	rd_int(&body, 4), rd_int(&body, 4), rd_int(&body, 4), rd_int(&body, 4);
	struct rd session = rd_vec(&body, 1);
	struct rd suites = rd_vec(&body, 2);
	struct rd compression = rd_vec(&body, 1);
	if (body.bad || session.n > 32 || suites.n < 2 || suites.n % 2 || compression.n < 1)
		return refuse(err, TLS_HELLO_E_BAD_LENGTH);
	if (body.n == 0)
		return 1; /* no extensions (TLS 1.2 allows it): no name to route by */
	struct rd exts = rd_vec(&body, 2);
	if (body.bad || body.n != 0)
		return refuse(err, TLS_HELLO_E_BAD_LENGTH);
	uint16_t seen[MAX_EXTENSIONS];
	while (exts.n > 0) {
		uint32_t type = rd_int(&exts, 2);
		struct rd ext = rd_vec(&exts, 2);
		if (exts.bad)
			return refuse(err, TLS_HELLO_E_BAD_LENGTH);
		if (h->n_ext == MAX_EXTENSIONS)
			return refuse(err, TLS_HELLO_E_TOO_MANY_EXTENSIONS);
		for (uint32_t i = 0; i < h->n_ext; i++)
			if (seen[i] == type)
				return refuse(err, TLS_HELLO_E_DUPLICATE_EXTENSION);
		seen[h->n_ext++] = (uint16_t)type;
		switch (type) {
		case EXT_SERVER_NAME:
			if (!server_name(ext, h))
				return refuse(err, TLS_HELLO_E_BAD_SERVER_NAME);
			break;
		case EXT_ALPN:
			if (!alpn(ext, h))
				return refuse(err, TLS_HELLO_E_BAD_LENGTH);
			break;
		case EXT_VERSIONS:
			if (!versions(ext, h))
				return refuse(err, TLS_HELLO_E_BAD_LENGTH);
			break;
		default:
			break;
		}
	}
	return 1;
}

void tls_alert_record(uint8_t out[TLS_ALERT_LEN], uint8_t description)
{
	out[0] = REC_ALERT;
	out[1] = 3;
	out[2] = 3;
	out[3] = 0;
	out[4] = 2;
	out[5] = 2; /* fatal */
	out[6] = description;
}
