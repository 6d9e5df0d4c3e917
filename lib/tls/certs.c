/*
 * certs.c: certificates by server name — parsed once, shared, chosen per ClientHello.
 *
 * A certificate (struct tls_cert) is a leaf, its chain and its private key, parsed from PEM and
 * checked (the key matches the leaf; ECDSA on P-256 or P-384, or RSA of 2048 bits or more),
 * then never changed. It is reference-counted: the management lcore's cache keeps the
 * certificate of each Secret across compiles, so a Secret change re-parses one Secret, not ten
 * thousand, and a store being replaced keeps its certificates alive for handshakes still using
 * them.
 *
 * A store (struct tls_certs) is immutable once built, like a route table: a hash of exact names
 * and a hash of wildcard suffixes ("*.foo.com" stored under "foo.com", one label), each name
 * holding up to one certificate per key kind (an ECDSA and an RSA certificate for the same
 * host; the ClientHello's signature algorithms choose), and the default certificate. Selection
 * is exact name, then wildcard, then default — what ingress-nginx, HAProxy and Envoy do.
 *
 * Memory: a store adds 24 bytes per name plus its name; a certificate is OpenSSL's parsed X509
 * and key (about 3 KB for ECDSA P-256, more for RSA), once however many names share it.
 */
#include "tls/tls-int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* ---- one certificate ------------------------------------------------------------------------ */

static void why_openssl(char *why, size_t len, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[160] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	snprintf(why, len, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

static int64_t asn1_time_unix(const ASN1_TIME *t)
{
	struct tm tm;
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

/* The key's kind, or -1 for one the gateway will not serve. */
static int key_kind(EVP_PKEY *k)
{
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_EC: {
		char group[64] = "";
		size_t gl = 0;
		if (EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof(group), &gl) != 1)
			return -1;
		if (strcmp(group, "prime256v1") != 0 && strcmp(group, "secp384r1") != 0)
			return -1;
		return TLS_KEY_ECDSA;
	}
	case EVP_PKEY_RSA:
		return EVP_PKEY_get_bits(k) >= 2048 ? TLS_KEY_RSA : -1;
	default:
		return -1;
	}
}

static struct tls_cert *cert_new(X509 *leaf, STACK_OF(X509) * chain, EVP_PKEY *key,
				 enum tls_key_kind kind)
{
	struct tls_cert *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->leaf = leaf;
	c->chain = chain;
	c->key = key;
	c->kind = kind;
	c->not_after = asn1_time_unix(X509_get0_notAfter(leaf));
	c->refs = 1;
	return c;
}

/*
 * Private keys through one decoder context made once. OpenSSL 3.0 builds a decoder chain by
 * asking every provider for its decoders on each PEM_read_bio_PrivateKey — about 370 us a key,
 * ten times the decoding itself; reusing the context takes ~40 us (perf/certs). The context
 * writes into `decoded`; management lcore only, like everything here. Anything the fast path
 * cannot read (a PEM with EC PARAMETERS before the key, say) goes the long way.
 */
static OSSL_DECODER_CTX *key_decoder;
static EVP_PKEY *decoded;

static EVP_PKEY *read_private_key(const char *pem, size_t len)
{
	if (key_decoder == NULL)
		key_decoder = OSSL_DECODER_CTX_new_for_pkey(&decoded, "PEM", NULL, NULL,
							    EVP_PKEY_KEYPAIR, NULL, NULL);
	if (key_decoder != NULL) {
		const unsigned char *d = (const unsigned char *)pem;
		size_t l = len;
		decoded = NULL;
		if (OSSL_DECODER_from_data(key_decoder, &d, &l) == 1 && decoded != NULL) {
			EVP_PKEY *k = decoded;
			decoded = NULL;
			return k;
		}
		EVP_PKEY_free(decoded);
		decoded = NULL;
		ERR_clear_error();
	}
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	return k;
}

struct tls_cert *tls_cert_from_pem(const char *crt, size_t crt_len, const char *key, size_t key_len,
				   char *why, size_t why_len)
{
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	EVP_PKEY *pkey = NULL;
	BIO *b = BIO_new_mem_buf(crt, (int)crt_len);
	if (b == NULL || chain == NULL) {
		snprintf(why, why_len, "out of memory");
		goto fail;
	}
	leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (leaf == NULL) {
		why_openssl(why, why_len, "tls.crt holds no PEM certificate");
		goto fail;
	}
	for (;;) {
		X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		if (x == NULL)
			break;
		if (!sk_X509_push(chain, x)) {
			X509_free(x);
			snprintf(why, why_len, "out of memory");
			goto fail;
		}
	}
	ERR_clear_error(); /* the end of the PEM stream reads as an error */
	BIO_free(b);
	b = NULL;
	pkey = key_len ? read_private_key(key, key_len) : NULL;
	if (pkey == NULL) {
		why_openssl(why, why_len, "tls.key holds no PEM private key");
		goto fail;
	}
	int kind = key_kind(pkey);
	if (kind < 0) {
		snprintf(why, why_len,
			 "the key is neither ECDSA on P-256 or P-384 nor RSA of 2048 bits or more");
		goto fail;
	}
	if (X509_check_private_key(leaf, pkey) != 1) {
		ERR_clear_error();
		snprintf(why, why_len, "tls.key does not match the certificate in tls.crt");
		goto fail;
	}
	struct tls_cert *c = cert_new(leaf, chain, pkey, (enum tls_key_kind)kind);
	if (c == NULL) {
		snprintf(why, why_len, "out of memory");
		goto fail;
	}
	return c;
fail:
	BIO_free(b);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(pkey);
	return NULL;
}

struct tls_cert *tls_cert_self_signed(const char *cn, char *why, size_t why_len)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509) *chain = sk_X509_new_null();
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	if (key == NULL || x == NULL || name == NULL || chain == NULL)
		goto fail;
	/* A random serial: browsers refuse two certificates with one issuer and serial. */
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto fail;
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Sluice", -1, -1,
				   0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	X509_set_pubkey(x, key);
	if (X509_sign(x, key, EVP_sha256()) == 0)
		goto fail;
	BN_free(bn);
	X509_NAME_free(name);
	struct tls_cert *c = cert_new(x, chain, key, TLS_KEY_ECDSA);
	if (c == NULL) {
		X509_free(x);
		EVP_PKEY_free(key);
		sk_X509_free(chain);
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	c->self_signed_default = true;
	return c;
fail:
	why_openssl(why, why_len, "cannot make a self-signed certificate");
	BN_free(bn);
	X509_NAME_free(name);
	X509_free(x);
	EVP_PKEY_free(key);
	sk_X509_free(chain);
	return NULL;
}

void tls_cert_ref(struct tls_cert *c)
{
	if (c)
		c->refs++;
}

void tls_cert_unref(struct tls_cert *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	X509_free(c->leaf);
	sk_X509_pop_free(c->chain, X509_free);
	EVP_PKEY_free(c->key);
	free(c->source);
	free(c);
}

void tls_cert_set_source(struct tls_cert *c, const char *source)
{
	free(c->source);
	c->source = strdup(source);
}

const char *tls_cert_source(const struct tls_cert *c)
{
	return c->source ? c->source : (c->self_signed_default ? "self-signed" : "");
}

enum tls_key_kind tls_cert_kind(const struct tls_cert *c)
{
	return c->kind;
}

int64_t tls_cert_not_after(const struct tls_cert *c)
{
	return c->not_after;
}

bool tls_cert_is_self_signed_default(const struct tls_cert *c)
{
	return c->self_signed_default;
}

bool tls_cert_covers(const struct tls_cert *c, const char *host)
{
	char probe[300];
	if (host[0] == '*' && host[1] == '.') {
		/* A wildcard host: covered when any one label under it would be. */
		snprintf(probe, sizeof(probe), "sluice-probe%s", host + 1);
		host = probe;
	}
	return X509_check_host(c->leaf, host, strlen(host), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
			       NULL) == 1;
}

void tls_cert_subject(const struct tls_cert *c, char *out, size_t len)
{
	X509_NAME_oneline(X509_get_subject_name(c->leaf), out, (int)len);
}

void *tls_cert_x509(const struct tls_cert *c)
{
	return c->leaf;
}

/* ---- the store ------------------------------------------------------------------------------ */

struct name_slot {
	uint64_t hash; /* 0: empty */
	uint32_t name; /* offset in the names arena */
	uint16_t len;
	uint16_t pad;
	struct tls_cert *cert[TLS_KEY__COUNT];
};

struct name_map {
	struct name_slot *slots;
	uint32_t mask, count;
};

struct tls_certs {
	struct name_map exact, wild;
	char *names;
	size_t names_len, names_cap;
	struct tls_cert *def;
	int64_t earliest_not_after;
};

static uint64_t name_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)tolower((unsigned char)s[i])) * 1099511628211ull;
	h ^= h >> 29;
	return h ? h : 1;
}

static int map_init(struct name_map *m, uint32_t n)
{
	uint32_t cap = 16;
	while (cap < n * 2)
		cap <<= 1;
	m->slots = calloc(cap, sizeof(*m->slots));
	m->mask = cap - 1;
	m->count = 0;
	return m->slots ? 0 : -1;
}

static struct name_slot *map_find(const struct name_map *m, const char *names, const char *s,
				  size_t n, uint64_t h)
{
	for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
		struct name_slot *sl = &m->slots[i];
		if (sl->hash == 0)
			return sl;
		if (sl->hash == h && sl->len == n && strncasecmp(names + sl->name, s, n) == 0)
			return sl;
	}
}

static int map_grow(struct name_map *m)
{
	struct name_map bigger;
	if (map_init(&bigger, m->mask + 1) != 0)
		return -1;
	for (uint32_t i = 0; i <= m->mask; i++) {
		struct name_slot *s = &m->slots[i];
		if (s->hash == 0)
			continue;
		for (uint32_t j = (uint32_t)s->hash & bigger.mask;; j = (j + 1) & bigger.mask)
			if (bigger.slots[j].hash == 0) {
				bigger.slots[j] = *s;
				break;
			}
	}
	bigger.count = m->count;
	free(m->slots);
	*m = bigger;
	return 0;
}

struct tls_certs *tls_certs_new(void)
{
	struct tls_certs *s = calloc(1, sizeof(*s));
	if (s == NULL || map_init(&s->exact, 16) || map_init(&s->wild, 16)) {
		tls_certs_free(s);
		return NULL;
	}
	return s;
}

static int name_add(struct tls_certs *s, const char *n, size_t len)
{
	if (s->names_len + len + 1 > s->names_cap) {
		size_t cap = s->names_cap ? s->names_cap * 2 : 4096;
		while (cap < s->names_len + len + 1)
			cap *= 2;
		char *nn = realloc(s->names, cap);
		if (nn == NULL)
			return -1;
		s->names = nn;
		s->names_cap = cap;
	}
	memcpy(s->names + s->names_len, n, len);
	s->names[s->names_len + len] = '\0';
	int off = (int)s->names_len;
	s->names_len += len + 1;
	return off;
}

int tls_certs_add(struct tls_certs *s, const char *host, struct tls_cert *c)
{
	size_t n = strlen(host);
	bool wild = n > 2 && host[0] == '*' && host[1] == '.';
	const char *key = wild ? host + 2 : host;
	size_t kl = wild ? n - 2 : n;
	if (kl == 0 || kl > 253)
		return -1;
	struct name_map *m = wild ? &s->wild : &s->exact;
	if ((m->count + 1) * 2 > m->mask + 1 && map_grow(m) != 0)
		return -1;
	uint64_t h = name_hash(key, kl);
	struct name_slot *sl = map_find(m, s->names, key, kl, h);
	if (sl->hash == 0) {
		int off = name_add(s, key, kl);
		if (off < 0)
			return -1;
		*sl = (struct name_slot){.hash = h, .name = (uint32_t)off, .len = (uint16_t)kl};
		m->count++;
	}
	if (sl->cert[c->kind] != NULL)
		return 0; /* the name has a certificate of this kind already: the first wins */
	tls_cert_ref(c);
	sl->cert[c->kind] = c;
	if (s->earliest_not_after == 0 || c->not_after < s->earliest_not_after)
		s->earliest_not_after = c->not_after;
	return 1;
}

void tls_certs_set_default(struct tls_certs *s, struct tls_cert *c)
{
	tls_cert_ref(c);
	tls_cert_unref(s->def);
	s->def = c;
}

static void map_release(struct name_map *m)
{
	for (uint32_t i = 0; m->slots && i <= m->mask; i++)
		for (int k = 0; k < TLS_KEY__COUNT; k++)
			tls_cert_unref(m->slots[i].cert[k]);
	free(m->slots);
}

void tls_certs_free(struct tls_certs *s)
{
	if (s == NULL)
		return;
	map_release(&s->exact);
	map_release(&s->wild);
	tls_cert_unref(s->def);
	free(s->names);
	free(s);
}

uint32_t tls_certs_names(const struct tls_certs *s)
{
	return s->exact.count + s->wild.count;
}

int64_t tls_certs_earliest_not_after(const struct tls_certs *s)
{
	return s->earliest_not_after;
}

const struct tls_cert *tls_certs_default(const struct tls_certs *s)
{
	return s->def;
}

/* The name's certificate: the kind preferred if it has one, else its other one. */
static const struct tls_cert *pick(const struct name_slot *sl, unsigned kinds)
{
	for (int k = 0; k < TLS_KEY__COUNT; k++)
		if (sl->cert[k] && (kinds & (1u << k)))
			return sl->cert[k];
	for (int k = 0; k < TLS_KEY__COUNT; k++)
		if (sl->cert[k])
			return sl->cert[k];
	return NULL;
}

const struct tls_cert *tls_certs_select(const struct tls_certs *s, const char *name, size_t len,
					unsigned kinds, enum tls_match *how)
{
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len > 0 && len <= 253) {
		uint64_t h = name_hash(name, len);
		const struct name_slot *sl = map_find(&s->exact, s->names, name, len, h);
		if (sl->hash) {
			*how = TLS_MATCH_EXACT;
			return pick(sl, kinds);
		}
		const char *dot = memchr(name, '.', len);
		if (dot && dot > name) {
			size_t sl_len = len - (size_t)(dot + 1 - name);
			sl = map_find(&s->wild, s->names, dot + 1, sl_len,
				      name_hash(dot + 1, sl_len));
			if (sl->hash) {
				*how = TLS_MATCH_WILDCARD;
				return pick(sl, kinds);
			}
		}
	}
	*how = TLS_MATCH_DEFAULT;
	return s->def;
}
