/*
 * test_hello.c: the ClientHello reader against real ClientHellos (OpenSSL's client writes them
 * into a memory BIO), cut into records and segments every way, and against hand-made hellos
 * that break one rule each.
 */
#include <criterion/criterion.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls.h"

/* ---- real hellos ---------------------------------------------------------------------------- */

struct hello_opts {
	const char *sni;    /* NULL: none */
	const char *groups; /* NULL: OpenSSL's default */
	int max_version;    /* 0: TLS 1.3 */
	size_t alpn_extra;  /* padding protocols in ALPN, to grow the hello */
};

/* The first flight OpenSSL's client sends, as it would go on the wire. */
static size_t openssl_hello(const struct hello_opts *o, uint8_t *out, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	cr_assert_not_null(ctx);
	if (o->max_version)
		SSL_CTX_set_max_proto_version(ctx, o->max_version);
	SSL *ssl = SSL_new(ctx);
	if (o->sni)
		cr_assert_eq(SSL_set_tlsext_host_name(ssl, o->sni), 1);
	if (o->groups)
		cr_assert_eq(SSL_set1_groups_list(ssl, o->groups), 1);
	uint8_t alpn[4096];
	size_t al = 0;
	alpn[al++] = 8;
	memcpy(alpn + al, "http/1.1", 8);
	al += 8;
	for (size_t i = 0; i < o->alpn_extra; i++) {
		alpn[al++] = 10;
		memcpy(alpn + al, "padding-xx", 10);
		alpn[al + 8] = (uint8_t)('a' + i % 26);
		alpn[al + 9] = (uint8_t)('a' + i / 26);
		al += 10;
	}
	cr_assert_eq(SSL_set_alpn_protos(ssl, alpn, (unsigned)al), 0);
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	SSL_set_bio(ssl, rb, wb);
	cr_assert_leq(SSL_connect(ssl), 0);
	char *p;
	long n = BIO_get_mem_data(wb, &p);
	cr_assert_gt(n, 0);
	cr_assert_leq((size_t)n, cap);
	memcpy(out, p, (size_t)n);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return (size_t)n;
}

/* Re-cut a single-record hello into records of the given payload sizes (the last takes the
 * rest). Returns the new length. */
static size_t rerecord(const uint8_t *in, size_t in_len, const size_t *sizes, size_t n_sizes,
		       uint8_t *out)
{
	cr_assert_eq(in[0], 22);
	size_t rl = (size_t)in[3] << 8 | in[4];
	cr_assert_eq(rl + 5, in_len, "one record in");
	const uint8_t *msg = in + 5;
	size_t at = 0, o = 0;
	for (size_t k = 0; at < rl; k++) {
		size_t take = k < n_sizes && sizes[k] < rl - at ? sizes[k] : rl - at;
		out[o++] = 22, out[o++] = 3, out[o++] = 1;
		out[o++] = (uint8_t)(take >> 8), out[o++] = (uint8_t)take;
		memcpy(out + o, msg + at, take);
		o += take, at += take;
	}
	return o;
}

/* Feed buf to a fresh scan in the given cuts (cut[i] = bytes delivered after step i), like
 * segments arriving, and parse when the scan says the hello is in. Returns what the last call
 * returned; *h filled on success. */
static int feed(const uint8_t *buf, size_t len, const size_t *cuts, size_t n_cuts,
		struct tls_hello *h, enum tls_hello_error *err)
{
	struct tls_hello_scan s;
	tls_hello_scan_init(&s);
	int rc = TLS_HELLO_MORE;
	size_t have = 0;
	for (size_t i = 0; i <= n_cuts && rc == TLS_HELLO_MORE; i++) {
		have = i < n_cuts ? cuts[i] : len;
		rc = tls_hello_scan(&s, buf, (uint32_t)have, 0, err);
	}
	if (rc <= 0)
		return rc;
	static uint8_t scratch[TLS_HELLO_MAX];
	return tls_hello_parse(&s, buf, (uint32_t)rc, scratch, sizeof(scratch), h, err);
}

static int parse_all(const uint8_t *buf, size_t len, struct tls_hello *h, enum tls_hello_error *e)
{
	return feed(buf, len, NULL, 0, h, e);
}

Test(hello, openssl_client_hello_with_sni_and_alpn)
{
	uint8_t b[8192];
	size_t n = openssl_hello(&(struct hello_opts){.sni = "shop.example.com"}, b, sizeof(b));
	struct tls_hello h;
	enum tls_hello_error e;
	cr_assert_eq(parse_all(b, n, &h, &e), 1, "error %s", tls_hello_error_name(e));
	cr_assert_str_eq(h.sni, "shop.example.com");
	cr_assert_eq(h.sni_len, 16);
	cr_assert(h.tls13);
	cr_assert(h.alpn_http11);
	cr_assert_not(h.alpn_h2);
	cr_assert_eq(h.version, 0x0303);
	cr_assert_eq(h.wire_len, n);
	cr_assert_eq(h.msg_len, n - 5);
}

Test(hello, tls12_only_client_and_no_sni)
{
	uint8_t b[8192];
	size_t n = openssl_hello(&(struct hello_opts){.max_version = TLS1_2_VERSION}, b, sizeof(b));
	struct tls_hello h;
	enum tls_hello_error e;
	cr_assert_eq(parse_all(b, n, &h, &e), 1, "error %s", tls_hello_error_name(e));
	cr_assert_eq(h.sni_len, 0);
	cr_assert_str_eq(h.sni, "");
	cr_assert_not(h.tls13);
}

Test(hello, byte_at_a_time_says_more_until_the_last_byte)
{
	uint8_t b[8192];
	size_t n = openssl_hello(&(struct hello_opts){.sni = "a.example"}, b, sizeof(b));
	struct tls_hello_scan s;
	tls_hello_scan_init(&s);
	enum tls_hello_error e;
	for (size_t have = 0; have < n; have++)
		cr_assert_eq(tls_hello_scan(&s, b, (uint32_t)have, 0, &e), TLS_HELLO_MORE, "at %zu",
			     have);
	cr_assert_eq(tls_hello_scan(&s, b, (uint32_t)n, 0, &e), (int)n);
}

Test(hello, two_records_split_at_every_point)
{
	uint8_t b[8192], r[8192];
	size_t n = openssl_hello(&(struct hello_opts){.sni = "split.example.org"}, b, sizeof(b));
	for (size_t cut = 1; cut < n - 5; cut++) {
		size_t m = rerecord(b, n, &cut, 1, r);
		cr_assert_eq(m, n + 5);
		struct tls_hello h;
		enum tls_hello_error e;
		/* and the two records arrive as two segments cut inside the second header */
		size_t seg = cut + 5 + 2;
		cr_assert_eq(feed(r, m, &seg, 1, &h, &e), 1, "cut %zu: %s", cut,
			     tls_hello_error_name(e));
		cr_assert_str_eq(h.sni, "split.example.org");
		cr_assert_eq(h.wire_len, m);
	}
}

Test(hello, one_byte_records)
{
	uint8_t b[8192];
	static uint8_t r[8192 * 6];
	size_t n = openssl_hello(&(struct hello_opts){.sni = "tiny.example"}, b, sizeof(b));
	size_t ones[8192];
	for (size_t i = 0; i < n; i++)
		ones[i] = 1;
	size_t m = rerecord(b, n, ones, n, r);
	cr_assert_eq(m, (n - 5) * 6);
	struct tls_hello h;
	enum tls_hello_error e;
	cr_assert_eq(parse_all(r, m, &h, &e), 1, "%s", tls_hello_error_name(e));
	cr_assert_str_eq(h.sni, "tiny.example");
}

Test(hello, large_hello_over_two_segments)
{
	/* An ffdhe8192 key share and a long ALPN list: a hello beyond 2 KB, like a hybrid
	 * post-quantum one, arriving as two 1448-byte segments. */
	uint8_t b[8192];
	size_t n = openssl_hello(&(struct hello_opts){.sni = "pq.example.net",
						      .groups = "ffdhe8192:x25519",
						      .alpn_extra = 150},
				 b, sizeof(b));
	cr_assert_gt(n, 2048);
	size_t seg = 1448;
	struct tls_hello h;
	enum tls_hello_error e;
	cr_assert_eq(feed(b, n, &seg, 1, &h, &e), 1, "%s", tls_hello_error_name(e));
	cr_assert_str_eq(h.sni, "pq.example.net");
}

Test(hello, records_after_the_hello_are_not_read)
{
	uint8_t b[8192];
	size_t n = openssl_hello(&(struct hello_opts){.sni = "ccs.example"}, b, sizeof(b));
	/* a ChangeCipherSpec record follows (middlebox compatibility) */
	const uint8_t ccs[] = {20, 3, 3, 0, 1, 1};
	memcpy(b + n, ccs, sizeof(ccs));
	struct tls_hello_scan s;
	tls_hello_scan_init(&s);
	enum tls_hello_error e;
	cr_assert_eq(tls_hello_scan(&s, b, (uint32_t)(n + sizeof(ccs)), 0, &e), (int)n);
}

Test(hello, every_truncation_wants_more_and_every_flip_is_safe)
{
	uint8_t b[8192], m[8192];
	size_t n = openssl_hello(&(struct hello_opts){.sni = "flip.example"}, b, sizeof(b));
	struct tls_hello h;
	enum tls_hello_error e;
	for (size_t i = 0; i < n; i++) {
		memcpy(m, b, n);
		m[i] ^= (uint8_t)(1u << (i % 8));
		int rc = parse_all(m, n, &h, &e);
		cr_assert(rc == 1 || rc == TLS_HELLO_MORE || rc == TLS_HELLO_ERROR);
		if (rc == 1 && h.sni_len) {
			/* A name that parsed is one the bytes carry, of the same length. */
			cr_assert_eq(h.sni_len, 12, "flip at %zu", i);
			cr_assert_not_null(memmem(m, n, h.sni, h.sni_len));
		}
	}
}

/* ---- hand-made hellos ----------------------------------------------------------------------- */

struct w {
	uint8_t b[4096];
	size_t n;
};

static void put(struct w *w, const void *p, size_t n)
{
	memcpy(w->b + w->n, p, n);
	w->n += n;
}
static void u8(struct w *w, unsigned v)
{
	w->b[w->n++] = (uint8_t)v;
}
static void u16(struct w *w, unsigned v)
{
	u8(w, v >> 8), u8(w, v & 0xff);
}

/* An SNI extension (type 0) carrying the given raw entries. */
static void ext_sni(struct w *x, const char *const *names, size_t n)
{
	size_t list = 0;
	for (size_t i = 0; i < n; i++)
		list += 3 + strlen(names[i]);
	u16(x, 0), u16(x, (unsigned)(list + 2)), u16(x, (unsigned)list);
	for (size_t i = 0; i < n; i++)
		u8(x, 0), u16(x, (unsigned)strlen(names[i])), put(x, names[i], strlen(names[i]));
}

/* A whole record around a ClientHello with the given extension block. */
static size_t make_hello(const struct w *exts, uint8_t *out)
{
	struct w body = {0};
	u16(&body, 0x0303);
	for (int i = 0; i < 32; i++)
		u8(&body, (unsigned)i);
	u8(&body, 0);
	u16(&body, 2), u16(&body, 0x1301);
	u8(&body, 1), u8(&body, 0);
	u16(&body, (unsigned)exts->n), put(&body, exts->b, exts->n);
	size_t o = 0;
	out[o++] = 22, out[o++] = 3, out[o++] = 1;
	out[o++] = (uint8_t)((body.n + 4) >> 8), out[o++] = (uint8_t)(body.n + 4);
	out[o++] = 1, out[o++] = 0, out[o++] = (uint8_t)(body.n >> 8), out[o++] = (uint8_t)body.n;
	memcpy(out + o, body.b, body.n);
	return o + body.n;
}

static enum tls_hello_error refused(const struct w *exts)
{
	uint8_t b[4200];
	size_t n = make_hello(exts, b);
	struct tls_hello h;
	enum tls_hello_error e = TLS_HELLO_E_NONE;
	int rc = parse_all(b, n, &h, &e);
	return rc == 1 ? TLS_HELLO_E_NONE : e;
}

Test(hello, hand_made_hello_parses)
{
	struct w x = {0};
	ext_sni(&x, (const char *[]){"Mixed.Case-1.example"}, 1);
	cr_assert_eq(refused(&x), TLS_HELLO_E_NONE);
}

Test(hello, server_name_rules)
{
	const char *bad[] = {"trailing.dot.",	    ".lead",  "a..b", "-x.example", "x-.example",
			     "under_score.example", "sp ace", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct w x = {0};
		ext_sni(&x, &bad[i], 1);
		cr_assert_eq(refused(&x), TLS_HELLO_E_BAD_SERVER_NAME, "\"%s\"", bad[i]);
	}
	struct w two = {0};
	ext_sni(&two, (const char *[]){"a.example", "b.example"}, 2);
	cr_assert_eq(refused(&two), TLS_HELLO_E_BAD_SERVER_NAME);
	struct w nul = {0};
	u16(&nul, 0), u16(&nul, 2 + 3 + 5), u16(&nul, 3 + 5), u8(&nul, 0), u16(&nul, 5);
	put(&nul, "a\0b.c", 5);
	cr_assert_eq(refused(&nul), TLS_HELLO_E_BAD_SERVER_NAME);
	struct w other_type = {0};
	u16(&other_type, 0), u16(&other_type, 2 + 3 + 3), u16(&other_type, 6), u8(&other_type, 1);
	u16(&other_type, 3), put(&other_type, "a.b", 3);
	cr_assert_eq(refused(&other_type), TLS_HELLO_E_BAD_SERVER_NAME);
	char long_label[80];
	memset(long_label, 'a', 64);
	strcpy(long_label + 64, ".example");
	struct w ll = {0};
	ext_sni(&ll, (const char *[]){long_label}, 1);
	cr_assert_eq(refused(&ll), TLS_HELLO_E_BAD_SERVER_NAME);
}

Test(hello, duplicate_and_too_many_extensions)
{
	struct w x = {0};
	ext_sni(&x, (const char *[]){"a.example"}, 1);
	u16(&x, 23), u16(&x, 0);
	u16(&x, 23), u16(&x, 0);
	cr_assert_eq(refused(&x), TLS_HELLO_E_DUPLICATE_EXTENSION);
	struct w many = {0};
	for (unsigned t = 0; t < 129; t++)
		u16(&many, 1000 + t), u16(&many, 0);
	cr_assert_eq(refused(&many), TLS_HELLO_E_TOO_MANY_EXTENSIONS);
}

Test(hello, lengths_must_nest)
{
	struct w x = {0};
	ext_sni(&x, (const char *[]){"a.example"}, 1);
	x.b[3] += 1; /* the extension claims a byte more than the block holds */
	cr_assert_eq(refused(&x), TLS_HELLO_E_BAD_LENGTH);
	struct w y = {0};
	ext_sni(&y, (const char *[]){"a.example"}, 1);
	y.b[5] -= 1; /* the name list is a byte shorter than its extension */
	cr_assert_eq(refused(&y), TLS_HELLO_E_BAD_SERVER_NAME);
	struct w alpn = {0};
	u16(&alpn, 16), u16(&alpn, 4), u16(&alpn, 2), u8(&alpn, 0), u8(&alpn, 0);
	cr_assert_eq(refused(&alpn), TLS_HELLO_E_BAD_LENGTH, "an empty protocol name");
}

Test(hello, not_a_hello)
{
	struct tls_hello h;
	enum tls_hello_error e;
	const char *get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	cr_assert_eq(parse_all((const uint8_t *)get, strlen(get), &h, &e), TLS_HELLO_ERROR);
	cr_assert_eq(e, TLS_HELLO_E_NOT_HANDSHAKE);
	const uint8_t sslv2[] = {0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15};
	cr_assert_eq(parse_all(sslv2, sizeof(sslv2), &h, &e), TLS_HELLO_ERROR);
	cr_assert_eq(e, TLS_HELLO_E_NOT_HANDSHAKE);
	const uint8_t big_rec[] = {22, 3, 1, 0x40, 0x01, 1};
	cr_assert_eq(parse_all(big_rec, sizeof(big_rec), &h, &e), TLS_HELLO_ERROR);
	cr_assert_eq(e, TLS_HELLO_E_BAD_RECORD);
	const uint8_t empty_rec[] = {22, 3, 1, 0, 0, 22, 3, 1, 0, 1, 1};
	cr_assert_eq(parse_all(empty_rec, sizeof(empty_rec), &h, &e), TLS_HELLO_ERROR);
	cr_assert_eq(e, TLS_HELLO_E_BAD_RECORD);
	const uint8_t server_hello[] = {22, 3, 3, 0, 4, 2, 0, 0, 0};
	cr_assert_eq(parse_all(server_hello, sizeof(server_hello), &h, &e), TLS_HELLO_ERROR);
	cr_assert_eq(e, TLS_HELLO_E_NOT_CLIENT_HELLO);
}

Test(hello, size_limit_and_trailing_bytes)
{
	uint8_t b[8192];
	size_t n = openssl_hello(&(struct hello_opts){.sni = "big.example"}, b, sizeof(b));
	struct tls_hello_scan s;
	tls_hello_scan_init(&s);
	enum tls_hello_error e;
	cr_assert_eq(tls_hello_scan(&s, b, (uint32_t)n, 64, &e), TLS_HELLO_ERROR);
	cr_assert_eq(e, TLS_HELLO_E_TOO_BIG);
	for (uint32_t tiny = 1; tiny < 5; tiny++) { /* no wrap-around below the header's size */
		tls_hello_scan_init(&s);
		cr_assert_eq(tls_hello_scan(&s, b, (uint32_t)n, tiny, &e), TLS_HELLO_ERROR, "%u",
			     tiny);
		cr_assert_eq(e, TLS_HELLO_E_TOO_BIG);
	}
	/* a byte of something else inside the record that ends the hello */
	b[n] = 0x42;
	size_t rl = ((size_t)b[3] << 8 | b[4]) + 1;
	b[3] = (uint8_t)(rl >> 8), b[4] = (uint8_t)rl;
	tls_hello_scan_init(&s);
	cr_assert_eq(tls_hello_scan(&s, b, (uint32_t)n + 1, 0, &e), TLS_HELLO_ERROR);
	cr_assert_eq(e, TLS_HELLO_E_TRAILING_DATA);
}

Test(hello, alert_record)
{
	uint8_t a[TLS_ALERT_LEN];
	tls_alert_record(a, TLS_ALERT_UNRECOGNIZED_NAME);
	const uint8_t want[] = {21, 3, 3, 0, 2, 2, 112};
	cr_assert_arr_eq(a, want, sizeof(want));
}
