/*
 * tls_bench: the TLS termination engine's (lib/tls term.c) server-side cost, against its floor,
 * side by side in one run:
 *   - a full TLS 1.3 handshake, ECDSA P-256 certificate, X25519: CPU per handshake on the
 *     server side only (the client runs in the same thread, outside the timed sections);
 *   - a resumed one (a session ticket: X25519 again, no signature);
 *   - the floor: the public-key operations the server cannot avoid, timed alone with OpenSSL's
 *     EVP API as `openssl speed` does (X25519 key generation and derivation, one ECDSA P-256
 *     signature; for resumption the X25519 pair only);
 *   - bulk: a 16 KiB write encrypted into records (AES-128-GCM, TLS 1.3), cycles per byte,
 *     against EVP AES-128-GCM over the same bytes.
 * Prints one JSON object (perf/tls/vs-nginx.sh adds nginx's CPU per handshake beside it).
 *
 *   tls_bench [--seconds S]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <x86intrin.h>

#include "tls/term.h"

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---- an in-memory pipe --------------------------------------------------------------------- */

struct mem {
	uint8_t *b;
	size_t len, off, cap;
};
struct pair {
	struct mem c2s, s2c;
};
static void put(struct mem *m, const void *p, size_t n)
{
	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2 + 65536;
		m->b = realloc(m->b, m->cap);
	}
	memcpy(m->b + m->len, p, n);
	m->len += n;
}
static void reset(struct mem *m)
{
	m->len = m->off = 0;
}
static uint32_t p_read(void *ctx, void *dst, uint32_t n)
{
	struct pair *p = ctx;
	size_t k = p->c2s.len - p->c2s.off;
	if (k > n)
		k = n;
	memcpy(dst, p->c2s.b + p->c2s.off, k);
	p->c2s.off += k;
	return (uint32_t)k;
}
static uint32_t p_write(void *ctx, const void *src, uint32_t n)
{
	put(&((struct pair *)ctx)->s2c, src, n);
	return n;
}
static bool p_eof(void *ctx)
{
	(void)ctx;
	return false;
}

/* ---- one handshake, the server's share timed --------------------------------------------- */

static uint64_t server_cycles;

static void shuttle(SSL *c, BIO *in, BIO *out, struct pair *p)
{
	char buf[16384];
	int n;
	while ((n = BIO_read(out, buf, sizeof(buf))) > 0)
		put(&p->c2s, buf, (size_t)n);
	if (p->s2c.len > p->s2c.off) {
		BIO_write(in, p->s2c.b + p->s2c.off, (int)(p->s2c.len - p->s2c.off));
		p->s2c.off = p->s2c.len;
	}
	(void)c;
}

static SSL_SESSION *handshake(SSL_CTX *cctx, struct tls_server *srv, SSL_SESSION *sess,
			      bool *resumed)
{
	struct pair p = {0};
	SSL *c = SSL_new(cctx);
	BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
	SSL_set_bio(c, in, out);
	SSL_set_connect_state(c);
	SSL_set_tlsext_host_name(c, "bench.example");
	if (sess)
		SSL_set_session(c, sess);
	struct tls_pipe tp = {&p, p_read, p_write, p_eof};
	uint64_t t0 = __rdtsc();
	struct tls_conn *s = tls_conn_new(srv, &tp);
	server_cycles += __rdtsc() - t0;
	for (int i = 0; i < 50; i++) {
		int r = SSL_do_handshake(c);
		shuttle(c, in, out, &p);
		t0 = __rdtsc();
		enum tls_io st = tls_conn_handshake(s);
		server_cycles += __rdtsc() - t0;
		shuttle(c, in, out, &p);
		if (st == TLS_IO_FAILED) {
			fprintf(stderr, "tls_bench: handshake failed\n");
			exit(1);
		}
		if (r == 1 && st == TLS_IO_OK)
			break;
	}
	/* The client takes its ticket. */
	uint8_t b[1];
	size_t n;
	SSL_read_ex(c, b, 1, &n);
	ERR_clear_error();
	struct tls_conn_info info;
	tls_conn_info(s, &info);
	*resumed = info.resumed;
	SSL_SESSION *got = SSL_get1_session(c);
	SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	t0 = __rdtsc();
	tls_conn_free(s);
	server_cycles += __rdtsc() - t0;
	SSL_free(c);
	free(p.c2s.b);
	free(p.s2c.b);
	return got;
}

/* ---- the floor ------------------------------------------------------------------------------ */

static EVP_PKEY *keygen(const char *alg, const char *curve)
{
	EVP_PKEY_CTX *k = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
	EVP_PKEY *key = NULL;
	EVP_PKEY_keygen_init(k);
	if (curve)
		EVP_PKEY_CTX_set_group_name(k, curve);
	EVP_PKEY_keygen(k, &key);
	EVP_PKEY_CTX_free(k);
	return key;
}

/* Cycles for one X25519 key generation plus one derivation against a peer key. */
static double x25519_cycles(double secs)
{
	EVP_PKEY *peer = keygen("X25519", NULL);
	uint64_t n = 0, cyc = 0;
	for (double end = now_s() + secs; now_s() < end; n++) {
		uint64_t t0 = __rdtsc();
		EVP_PKEY *k = keygen("X25519", NULL);
		EVP_PKEY_CTX *d = EVP_PKEY_CTX_new(k, NULL);
		uint8_t secret[64];
		size_t sl = sizeof(secret);
		EVP_PKEY_derive_init(d);
		EVP_PKEY_derive_set_peer(d, peer);
		EVP_PKEY_derive(d, secret, &sl);
		EVP_PKEY_CTX_free(d);
		EVP_PKEY_free(k);
		cyc += __rdtsc() - t0;
	}
	EVP_PKEY_free(peer);
	return (double)cyc / (double)n;
}

/* Cycles for one ECDSA P-256 signature over a SHA-256 digest. */
static double ecdsa_cycles(double secs)
{
	EVP_PKEY *key = keygen("EC", "P-256");
	uint8_t msg[32] = {1};
	uint64_t n = 0, cyc = 0;
	for (double end = now_s() + secs; now_s() < end; n++) {
		uint64_t t0 = __rdtsc();
		EVP_MD_CTX *m = EVP_MD_CTX_new();
		uint8_t sig[80];
		size_t sl = sizeof(sig);
		EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, key);
		EVP_DigestSign(m, sig, &sl, msg, sizeof(msg));
		EVP_MD_CTX_free(m);
		cyc += __rdtsc() - t0;
	}
	EVP_PKEY_free(key);
	return (double)cyc / (double)n;
}

/* Cycles per byte of AES-128-GCM over 16 KiB. */
static double gcm_cycles_per_byte(double secs)
{
	static uint8_t buf[16384], out[16384 + 32];
	uint8_t key[16] = {2}, iv[12] = {3}, tag[16];
	EVP_CIPHER *aes = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint64_t n = 0, cyc = 0;
	for (double end = now_s() + secs; now_s() < end; n++) {
		uint64_t t0 = __rdtsc();
		int l;
		EVP_EncryptInit_ex(c, aes, NULL, key, iv);
		EVP_EncryptUpdate(c, out, &l, buf, sizeof(buf));
		EVP_EncryptFinal_ex(c, out + l, &l);
		EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag);
		cyc += __rdtsc() - t0;
	}
	EVP_CIPHER_CTX_free(c);
	EVP_CIPHER_free(aes);
	return (double)cyc / ((double)n * sizeof(buf));
}

/* Cycles per byte of tls_conn_write, 16 KiB at a time, on an established connection. */
static double bulk_cycles_per_byte(SSL_CTX *cctx, struct tls_server *srv, double secs)
{
	struct pair p = {0};
	SSL *c = SSL_new(cctx);
	BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
	SSL_set_bio(c, in, out);
	SSL_set_connect_state(c);
	SSL_set_tlsext_host_name(c, "bench.example");
	struct tls_pipe tp = {&p, p_read, p_write, p_eof};
	struct tls_conn *s = tls_conn_new(srv, &tp);
	for (int i = 0; i < 50; i++) {
		int r = SSL_do_handshake(c);
		shuttle(c, in, out, &p);
		enum tls_io st = tls_conn_handshake(s);
		shuttle(c, in, out, &p);
		if (r == 1 && st == TLS_IO_OK)
			break;
	}
	static uint8_t buf[16384];
	uint64_t n = 0, cyc = 0;
	for (double end = now_s() + secs; now_s() < end; n++) {
		reset(&p.s2c);
		size_t putn;
		uint64_t t0 = __rdtsc();
		tls_conn_write(s, buf, sizeof(buf), &putn);
		cyc += __rdtsc() - t0;
		if (putn != sizeof(buf)) {
			fprintf(stderr, "tls_bench: short write\n");
			exit(1);
		}
	}
	tls_conn_free(s);
	SSL_free(c);
	free(p.c2s.b);
	free(p.s2c.b);
	return (double)cyc / ((double)n * sizeof(buf));
}

int main(int argc, char **argv)
{
	double secs = 2.0;
	if (argc == 3 && strcmp(argv[1], "--seconds") == 0)
		secs = atof(argv[2]);
	char why[200] = "";
	struct tls_cert *cert = tls_cert_self_signed("bench.example", why, sizeof(why));
	struct tls_server *srv = tls_server_new(why, sizeof(why));
	if (cert == NULL || srv == NULL) {
		fprintf(stderr, "tls_bench: %s\n", why);
		return 1;
	}
	struct tls_certs *certs = tls_certs_new();
	tls_certs_set_default(certs, cert);
	tls_cert_unref(cert);
	tls_server_set_certs(srv, certs);
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
	SSL_CTX_set1_groups_list(cctx, "X25519");

	double t_start = now_s();
	uint64_t c0 = __rdtsc();
	bool resumed;
	SSL_SESSION *sess = handshake(cctx, srv, NULL, &resumed); /* warm up */
	double hz = (double)(__rdtsc() - c0) / (now_s() - t_start);

	server_cycles = 0;
	uint64_t full = 0;
	for (double end = now_s() + secs; now_s() < end; full++) {
		SSL_SESSION *s = handshake(cctx, srv, NULL, &resumed);
		SSL_SESSION_free(s);
	}
	double full_cyc = (double)server_cycles / (double)full;

	server_cycles = 0;
	uint64_t res = 0, res_ok = 0;
	for (double end = now_s() + secs; now_s() < end; res++) {
		SSL_SESSION *s = handshake(cctx, srv, sess, &resumed);
		res_ok += resumed;
		SSL_SESSION_free(s);
	}
	double res_cyc = (double)server_cycles / (double)res;
	if (res_ok != res) {
		fprintf(stderr, "tls_bench: %llu of %llu resumptions resumed\n",
			(unsigned long long)res_ok, (unsigned long long)res);
		return 1;
	}

	double x = x25519_cycles(secs / 2), e = ecdsa_cycles(secs / 2);
	double floor_full = x + e, floor_res = x;
	double bulk = bulk_cycles_per_byte(cctx, srv, secs / 2),
	       gcm = gcm_cycles_per_byte(secs / 2);
	/* Rough TSC rate from the run itself (for CPU seconds). */
	hz = hz > 0 ? hz : 1;
	double tsc_hz = (double)(__rdtsc() - c0) / (now_s() - t_start);
	printf("{\"tsc_hz\":%.0f,\"full\":{\"handshakes\":%llu,\"server_cycles\":%.0f,"
	       "\"server_us\":%.1f,\"floor_cycles\":%.0f,\"vs_floor\":%.2f},"
	       "\"resumed\":{\"handshakes\":%llu,\"server_cycles\":%.0f,\"server_us\":%.1f,"
	       "\"floor_cycles\":%.0f,\"vs_floor\":%.2f},"
	       "\"floor\":{\"x25519_cycles\":%.0f,\"ecdsa_p256_sign_cycles\":%.0f},"
	       "\"bulk\":{\"cycles_per_byte\":%.2f,\"aes128gcm_cycles_per_byte\":%.2f,"
	       "\"vs_floor\":%.2f}}\n",
	       tsc_hz, (unsigned long long)full, full_cyc, full_cyc / tsc_hz * 1e6, floor_full,
	       full_cyc / floor_full, (unsigned long long)res, res_cyc, res_cyc / tsc_hz * 1e6,
	       floor_res, res_cyc / floor_res, x, e, bulk, gcm, bulk / gcm);
	SSL_SESSION_free(sess);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
	tls_certs_free(certs);
	return 0;
}
