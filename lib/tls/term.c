/*
 * term.c: TLS termination over the caller's byte pipe (term.h).
 *
 * One SSL_CTX per listener, configured once; per connection an SSL object whose BIO is the
 * caller's pipe. The certificate is chosen in the ClientHello callback, before OpenSSL picks a
 * cipher suite: the server name and the signature algorithms the client offers select from
 * the store, and the chosen leaf, key and chain are set on that connection only (reference
 * counts, no copies). Session tickets are encrypted under keys of our own (AES-256-CBC with
 * HMAC-SHA256, OpenSSL's ticket format) so they can be rotated, and shared across nodes.
 * Algorithms are fetched once at start, not per handshake (OpenSSL 3.0 loses handshake rate to
 * per-call provider lookups).
 */
#include "tls/term.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>

#include "tls/tls-int.h"

/* Ticket key sets: the current one and the two before it decrypt; four slots so a rotation
 * never writes a slot a handshake may be reading (rotations are hours apart). */
#define KEY_SLOTS 4
struct ticket_keys {
	uint8_t key[3][TLS_TICKET_KEY_LEN];
	unsigned n;
};

struct tls_server {
	SSL_CTX *ctx;
	BIO_METHOD *bio;
	EVP_CIPHER *aes;
	EVP_MAC *hmac;
	const struct tls_certs *_Atomic certs;
	struct ticket_keys keys[KEY_SLOTS];
	_Atomic unsigned key_slot;
	int conn_idx; /* SSL ex_data: the struct tls_conn */
	_Atomic uint64_t handshakes, resumed, failed, no_certificate, alpn_refused, tickets_renewed;
};

struct tls_conn {
	SSL *ssl;
	struct tls_server *srv;
	struct tls_pipe pipe;
	enum tls_match match;
	enum tls_key_kind kind;
	bool established;
	bool counted_failure;
	char why[120];
};

/* ---- the BIO over the pipe ---------------------------------------------------------------------
 */

static int bio_write(BIO *b, const char *data, size_t n, size_t *written)
{
	struct tls_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	uint32_t w = c->pipe.write(c->pipe.ctx, data, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
	if (w == 0) {
		BIO_set_retry_write(b);
		return 0;
	}
	*written = w;
	return 1;
}

static int bio_read(BIO *b, char *data, size_t n, size_t *got)
{
	struct tls_conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	uint32_t r = c->pipe.read(c->pipe.ctx, data, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
	if (r == 0) {
		if (!c->pipe.eof(c->pipe.ctx))
			BIO_set_retry_read(b);
		return 0;
	}
	*got = r;
	return 1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b, (void)num, (void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

/* ---- the ClientHello: certificate by name and signature algorithms ----------------------- */

/* The host_name of a server_name extension (RFC 6066 §3); false when absent or malformed. */
static bool sni_of(SSL *s, const char **name, size_t *len)
{
	const unsigned char *p;
	size_t n;
	if (!SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &p, &n) || n < 5)
		return false;
	size_t list = (size_t)p[0] << 8 | p[1];
	if (list + 2 != n || p[2] != TLSEXT_NAMETYPE_host_name)
		return false;
	size_t hl = (size_t)p[3] << 8 | p[4];
	if (hl == 0 || hl + 5 > n)
		return false;
	*name = (const char *)p + 5;
	*len = hl;
	return true;
}

/* Whether the client accepts an ECDSA P-256 or P-384 signature. */
static bool takes_ecdsa(SSL *s)
{
	const unsigned char *p;
	size_t n;
	if (!SSL_client_hello_get0_ext(s, TLSEXT_TYPE_signature_algorithms, &p, &n) || n < 2)
		return false; /* TLS 1.2 without the extension: SHA-1 pairs; RSA is the safe choice
			       */
	for (size_t i = 2; i + 1 < n; i += 2)
		if ((p[i] == 0x04 || p[i] == 0x05) && p[i + 1] == 0x03)
			return true;
	return false;
}

static int on_client_hello(SSL *s, int *alert, void *arg)
{
	struct tls_server *srv = arg;
	struct tls_conn *c = SSL_get_ex_data(s, srv->conn_idx);
	const struct tls_certs *certs = atomic_load_explicit(&srv->certs, memory_order_acquire);
	const char *name = "";
	size_t len = 0;
	sni_of(s, &name, &len);
	unsigned kinds = takes_ecdsa(s) ? TLS_KINDS_ANY : 1u << TLS_KEY_RSA;
	enum tls_match how = TLS_MATCH_DEFAULT;
	const struct tls_cert *cert =
		certs ? tls_certs_select(certs, name, len, kinds, &how) : NULL;
	if (cert == NULL) {
		atomic_fetch_add_explicit(&srv->no_certificate, 1, memory_order_relaxed);
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_CLIENT_HELLO_ERROR;
	}
	if (SSL_use_certificate(s, cert->leaf) != 1 || SSL_use_PrivateKey(s, cert->key) != 1 ||
	    SSL_set1_chain(s, cert->chain) != 1) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	if (c) {
		c->match = how;
		c->kind = cert->kind;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

static int on_alpn(SSL *s, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned inlen, void *arg)
{
	struct tls_server *srv = arg;
	(void)s;
	for (unsigned i = 0; i < inlen;) {
		unsigned l = in[i];
		if (i + 1 + l > inlen)
			break;
		if (l == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)l;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + l;
	}
	atomic_fetch_add_explicit(&srv->alpn_refused, 1, memory_order_relaxed);
	return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301 §3.2: no_application_protocol */
}

/* ---- session tickets ----------------------------------------------------------------------- */

static int mac_init(struct tls_server *srv, EVP_MAC_CTX *hctx, const uint8_t *key)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	(void)srv;
	return EVP_MAC_init(hctx, key, 32, params);
}

static int on_ticket(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *ctx,
		     EVP_MAC_CTX *hctx, int enc)
{
	struct tls_server *srv = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
	const struct ticket_keys *k =
		&srv->keys[atomic_load_explicit(&srv->key_slot, memory_order_acquire)];
	if (k->n == 0)
		return 0;
	if (enc) {
		const uint8_t *key = k->key[0];
		memcpy(name, key, 16);
		if (RAND_bytes(iv, 16) != 1 ||
		    EVP_EncryptInit_ex(ctx, srv->aes, NULL, key + 16, iv) != 1 ||
		    mac_init(srv, hctx, key + 48) != 1)
			return -1;
		return 1;
	}
	for (unsigned i = 0; i < k->n; i++) {
		const uint8_t *key = k->key[i];
		if (memcmp(name, key, 16) != 0)
			continue;
		if (EVP_DecryptInit_ex(ctx, srv->aes, NULL, key + 16, iv) != 1 ||
		    mac_init(srv, hctx, key + 48) != 1)
			return -1;
		if (i == 0)
			return 1;
		atomic_fetch_add_explicit(&srv->tickets_renewed, 1, memory_order_relaxed);
		return 2; /* good, under an older key: issue a new ticket */
	}
	return 0; /* unknown key: a full handshake */
}

int tls_server_rotate_tickets(struct tls_server *s, const char *key_file, char *why, size_t why_len)
{
	unsigned cur = atomic_load_explicit(&s->key_slot, memory_order_relaxed);
	unsigned next = (cur + 1) % KEY_SLOTS;
	struct ticket_keys *k = &s->keys[next];
	memset(k, 0, sizeof(*k));
	if (key_file != NULL) {
		FILE *f = fopen(key_file, "rb");
		if (f == NULL) {
			snprintf(why, why_len, "ticket key file %s: cannot open", key_file);
			return -1;
		}
		uint8_t buf[3 * TLS_TICKET_KEY_LEN + 1];
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		if (n == 0 || n % TLS_TICKET_KEY_LEN != 0 || n > 3 * TLS_TICKET_KEY_LEN) {
			snprintf(why, why_len,
				 "ticket key file %s: %zu bytes; want 80, 160 or 240 (80 per key, "
				 "newest first)",
				 key_file, n);
			return -1;
		}
		k->n = (unsigned)(n / TLS_TICKET_KEY_LEN);
		memcpy(k->key, buf, n);
	} else {
		const struct ticket_keys *old = &s->keys[cur];
		if (RAND_bytes(k->key[0], TLS_TICKET_KEY_LEN) != 1) {
			snprintf(why, why_len, "no random bytes for a ticket key");
			return -1;
		}
		k->n = 1;
		for (unsigned i = 0; i < old->n && k->n < 3; i++)
			memcpy(k->key[k->n++], old->key[i], TLS_TICKET_KEY_LEN);
	}
	atomic_store_explicit(&s->key_slot, next, memory_order_release);
	return 0;
}

/* ---- the server ---------------------------------------------------------------------------- */

static void why_ssl(char *why, size_t len, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[120] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(why, len, "%s%s%s", what, e ? ": " : "", buf);
	ERR_clear_error();
}

struct tls_server *tls_server_new(char *why, size_t why_len)
{
	struct tls_server *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	s->ctx = SSL_CTX_new(TLS_server_method());
	s->aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	s->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	s->bio = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sluice-stream");
	s->conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (s->ctx == NULL || s->aes == NULL || s->hmac == NULL || s->bio == NULL ||
	    s->conn_idx < 0) {
		why_ssl(why, why_len, "OpenSSL setup");
		tls_server_free(s);
		return NULL;
	}
	BIO_meth_set_write_ex(s->bio, bio_write);
	BIO_meth_set_read_ex(s->bio, bio_read);
	BIO_meth_set_ctrl(s->bio, bio_ctrl);
	BIO_meth_set_create(s->bio, bio_create);

	SSL_CTX *ctx = s->ctx;
	SSL_CTX_set_app_data(ctx, s);
	bool ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
		  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
		  SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:"
					       "ECDHE-RSA-AES128-GCM-SHA256:"
					       "ECDHE-ECDSA-AES256-GCM-SHA384:"
					       "ECDHE-RSA-AES256-GCM-SHA384:"
					       "ECDHE-ECDSA-CHACHA20-POLY1305:"
					       "ECDHE-RSA-CHACHA20-POLY1305") == 1 &&
		  SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
						"TLS_CHACHA20_POLY1305_SHA256") == 1 &&
		  SSL_CTX_set1_groups_list(ctx, "X25519:P-256") == 1;
	if (!ok) {
		why_ssl(why, why_len, "OpenSSL rejected the protocol settings");
		tls_server_free(s);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
					 SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN |
				      SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Stateless tickets only: no per-session memory on the server. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_client_hello_cb(ctx, on_client_hello, s);
	SSL_CTX_set_alpn_select_cb(ctx, on_alpn, s);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket);
	if (tls_server_rotate_tickets(s, NULL, why, why_len) != 0) {
		tls_server_free(s);
		return NULL;
	}
	return s;
}

void tls_server_free(struct tls_server *s)
{
	if (s == NULL)
		return;
	SSL_CTX_free(s->ctx);
	EVP_CIPHER_free(s->aes);
	EVP_MAC_free(s->hmac);
	BIO_meth_free(s->bio);
	OPENSSL_cleanse(s->keys, sizeof(s->keys));
	free(s);
}

void tls_server_set_certs(struct tls_server *s, const struct tls_certs *certs)
{
	atomic_store_explicit(&s->certs, certs, memory_order_release);
}

void tls_server_counts(const struct tls_server *s, struct tls_server_counts *o)
{
	o->handshakes = atomic_load_explicit(&s->handshakes, memory_order_relaxed);
	o->resumed = atomic_load_explicit(&s->resumed, memory_order_relaxed);
	o->failed = atomic_load_explicit(&s->failed, memory_order_relaxed);
	o->no_certificate = atomic_load_explicit(&s->no_certificate, memory_order_relaxed);
	o->alpn_refused = atomic_load_explicit(&s->alpn_refused, memory_order_relaxed);
	o->tickets_renewed = atomic_load_explicit(&s->tickets_renewed, memory_order_relaxed);
}

/* ---- connections --------------------------------------------------------------------------- */

struct tls_conn *tls_conn_new(struct tls_server *s, const struct tls_pipe *pipe)
{
	struct tls_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->srv = s;
	c->pipe = *pipe;
	c->ssl = SSL_new(s->ctx);
	BIO *b = BIO_new(s->bio);
	if (c->ssl == NULL || b == NULL) {
		BIO_free(b);
		SSL_free(c->ssl);
		free(c);
		return NULL;
	}
	BIO_set_data(b, c);
	SSL_set_bio(c->ssl, b, b);
	SSL_set_ex_data(c->ssl, s->conn_idx, c);
	SSL_set_accept_state(c->ssl);
	return c;
}

void tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	SSL_free(c->ssl);
	free(c);
}

/* The status for an SSL call that returned r (failures counted once per connection). */
static enum tls_io status(struct tls_conn *c, int r)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return TLS_IO_WANT;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_IO_CLOSED;
	default:
		if (!c->counted_failure) {
			c->counted_failure = true;
			atomic_fetch_add_explicit(&c->srv->failed, 1, memory_order_relaxed);
		}
		why_ssl(c->why, sizeof(c->why), c->established ? "TLS" : "handshake");
		return TLS_IO_FAILED;
	}
}

enum tls_io tls_conn_handshake(struct tls_conn *c)
{
	if (c->established)
		return TLS_IO_OK;
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r != 1)
		return status(c, r);
	c->established = true;
	atomic_fetch_add_explicit(&c->srv->handshakes, 1, memory_order_relaxed);
	if (SSL_session_reused(c->ssl))
		atomic_fetch_add_explicit(&c->srv->resumed, 1, memory_order_relaxed);
	return TLS_IO_OK;
}

bool tls_conn_established(const struct tls_conn *c)
{
	return c->established;
}

enum tls_io tls_conn_read(struct tls_conn *c, void *dst, size_t n, size_t *got)
{
	*got = 0;
	ERR_clear_error();
	if (SSL_read_ex(c->ssl, dst, n, got) == 1)
		return TLS_IO_OK;
	return status(c, 0);
}

enum tls_io tls_conn_write(struct tls_conn *c, const void *src, size_t n, size_t *put)
{
	*put = 0;
	if (n == 0)
		return TLS_IO_OK;
	ERR_clear_error();
	if (SSL_write_ex(c->ssl, src, n, put) == 1)
		return TLS_IO_OK;
	return status(c, 0);
}

void tls_conn_close(struct tls_conn *c)
{
	ERR_clear_error();
	if (!(SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN))
		SSL_shutdown(c->ssl);
	ERR_clear_error();
}

void tls_conn_info(const struct tls_conn *c, struct tls_conn_info *i)
{
	memset(i, 0, sizeof(*i));
	i->version = i->cipher = i->server_name = i->alpn = i->group = "";
	i->match = c->match;
	i->kind = c->kind;
	i->why = c->why;
	if (!c->established)
		return; /* no session to ask about (OpenSSL may not have one) */
	i->version = SSL_get_version(c->ssl);
	i->cipher = SSL_get_cipher_name(c->ssl);
	const char *sn = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
	i->server_name = sn ? sn : "";
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;
	SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
	i->alpn = alpn_len == 8 ? "http/1.1" : "";
	const char *g = SSL_group_to_name(c->ssl, SSL_get_negotiated_group(c->ssl));
	i->group = g ? g : "";
	i->resumed = SSL_session_reused(c->ssl) != 0;
	i->match = c->match;
	i->kind = c->kind;
	i->why = c->why;
}
