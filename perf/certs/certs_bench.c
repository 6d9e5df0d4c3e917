/*
 * certs_bench: certificates at fleet scale — 10 000 Ingresses, each with a spec.tls Secret of its
 * own (ECDSA P-256, then RSA 2048, as cert-manager issues by default), compiled the way the
 * gateway compiles them. Reports, side by side in one run:
 *   - the first compile (every Secret parsed): time per certificate, and its ratio to the floor,
 *     OpenSSL alone reading the same PEM and checking the key (PEM_read_bio_X509,
 *     PEM_read_bio_PrivateKey, X509_check_private_key) in a loop;
 *   - memory: the model's Secrets (only tls.crt and tls.key kept) and the parsed certificates
 *     with the store, per certificate (heap growth, mallinfo2; OpenSSL allocates with malloc);
 *   - a rotation: one Secret changed, recompiled — against the first compile (the cache parses
 *     one Secret) and against a compile with an empty cache (what a controller without one pays).
 * The keys are generated once per algorithm and the certificates signed with them: key
 * generation is not what a gateway pays, and parsing cost does not depend on key uniqueness.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "control/control.h"
#include "tls/tls.h"

#define N 10000

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static size_t heap(void)
{
	struct mallinfo2 m = mallinfo2();
	return m.uordblks + m.hblkhd;
}

static char *pem_of(void (*write)(BIO *, const void *), const void *obj)
{
	BIO *b = BIO_new(BIO_s_mem());
	write(b, obj);
	char *p;
	long n = BIO_get_mem_data(b, &p);
	char *out = strndup(p, (size_t)n);
	BIO_free(b);
	return out;
}
static void w_x509(BIO *b, const void *x)
{
	PEM_write_bio_X509(b, (X509 *)x);
}
static void w_key(BIO *b, const void *k)
{
	PEM_write_bio_PrivateKey(b, (EVP_PKEY *)k, NULL, NULL, 0, NULL, NULL);
}

static char *b64(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return out;
}

/* A certificate for host-i.example signed with k, as PEM. */
static char *cert_pem(EVP_PKEY *k, int i)
{
	X509 *x = X509_new();
	ASN1_INTEGER_set(X509_get_serialNumber(x), i + 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 90L * 86400);
	char cn[64], san[80];
	snprintf(cn, sizeof(cn), "host-%d.example", i);
	snprintf(san, sizeof(san), "DNS:%s", cn);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	X509_sign(x, k, EVP_sha256());
	char *p = pem_of(w_x509, x);
	X509_free(x);
	return p;
}

static void add_secret(struct control_model *m, int i, const char *crt64, const char *key64)
{
	char name[64];
	snprintf(name, sizeof(name), "tls-%d", i);
	json_t *j = json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:{s:s,s:s}}", "apiVersion", "v1", "kind",
			      "Secret", "type", "kubernetes.io/tls", "metadata", "name", name,
			      "namespace", "bench", "data", "tls.crt", crt64, "tls.key", key64);
	struct control_errors errs = {0};
	control_add_object(m, j, "bench", &errs);
	control_errors_free(&errs);
	json_decref(j);
}

static void run(const char *label, EVP_PKEY *k)
{
	static char *crt[N], *crt64[N];
	char *key = pem_of(w_key, k), *key64 = b64(key);
	for (int i = 0; i < N; i++) {
		crt[i] = cert_pem(k, i);
		crt64[i] = b64(crt[i]);
	}
	/* The floor: OpenSSL reading and checking the same PEM, nothing else, with its key
	 * decoder made once; and the same with PEM_read_bio_PrivateKey, which makes one per key. */
	static EVP_PKEY *out;
	OSSL_DECODER_CTX *dc = OSSL_DECODER_CTX_new_for_pkey(&out, "PEM", NULL, NULL,
							     EVP_PKEY_KEYPAIR, NULL, NULL);
	double t0 = now_s();
	for (int i = 0; i < N; i++) {
		BIO *b = BIO_new_mem_buf(crt[i], -1);
		X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
		const unsigned char *d = (const unsigned char *)key;
		size_t l = strlen(key);
		out = NULL;
		if (x == NULL || OSSL_DECODER_from_data(dc, &d, &l) != 1 || out == NULL ||
		    X509_check_private_key(x, out) != 1)
			abort();
		X509_free(x);
		EVP_PKEY_free(out);
	}
	double floor_s = now_s() - t0;
	OSSL_DECODER_CTX_free(dc);
	t0 = now_s();
	for (int i = 0; i < N / 10; i++) {
		BIO *b = BIO_new_mem_buf(crt[i], -1);
		X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
		b = BIO_new_mem_buf(key, -1);
		EVP_PKEY *pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
		if (x == NULL || pk == NULL || X509_check_private_key(x, pk) != 1)
			abort();
		X509_free(x);
		EVP_PKEY_free(pk);
	}
	double naive_s = (now_s() - t0) * 10;

	size_t h0 = heap();
	struct control_model *m = control_model_new();
	struct control_errors errs = {0};
	for (int i = 0; i < N; i++)
		add_secret(m, i, crt64[i], key64);
	size_t h_secrets = heap();
	for (int i = 0; i < N; i++) {
		char name[64], host[64];
		snprintf(name, sizeof(name), "ing-%d", i);
		snprintf(host, sizeof(host), "host-%d.example", i);
		char sec[64];
		snprintf(sec, sizeof(sec), "tls-%d", i);
		json_t *ing = json_pack(
			"{s:s,s:s,s:{s:s,s:s,s:s},s:{s:s,s:[{s:[s],s:s}],s:[{s:s}]}}", "apiVersion",
			"networking.k8s.io/v1", "kind", "Ingress", "metadata", "name", name,
			"namespace", "bench", "creationTimestamp", "2026-01-01T00:00:00Z", "spec",
			"ingressClassName", "sluice", "tls", "hosts", host, "secretName", sec,
			"rules", "host", host);
		control_add_object(m, ing, "bench", &errs);
		json_decref(ing);
	}
	size_t h_model = heap();
	const struct control_class cls = {"sluice", "sluice.dev/ingress-controller", NULL, NULL};
	char why[256];
	struct tls_cert *fallback = tls_cert_self_signed("bench", why, sizeof(why));
	struct control_tls_defaults d = {NULL, fallback};
	struct control_cert_stats st;
	struct control_cert_cache *cache = control_cert_cache_new();
	size_t h1 = heap();
	t0 = now_s();
	struct tls_certs *s = control_compile_certs(m, &cls, cache, &d, &errs, &st);
	double first_s = now_s() - t0;
	size_t h2 = heap();
	if (st.certificates != N || st.names != N || errs.n != 0) {
		fprintf(stderr, "certs_bench: %u certificates, %u names, %zu errors\n",
			st.certificates, st.names, errs.n);
		exit(1);
	}

	/* One Secret rotated: the cached compile, then the same with an empty cache. */
	char *rot = cert_pem(k, N + 1), *rot64 = b64(rot);
	add_secret(m, 17, rot64, key64);
	t0 = now_s();
	struct tls_certs *s2 = control_compile_certs(m, &cls, cache, &d, &errs, &st);
	double rot_s = now_s() - t0;
	uint64_t parses = control_cert_cache_parses(cache);
	struct control_cert_cache *cold = control_cert_cache_new();
	t0 = now_s();
	struct tls_certs *s3 = control_compile_certs(m, &cls, cold, &d, &errs, &st);
	double cold_s = now_s() - t0;
	enum tls_match how;
	const struct tls_cert *c17 = tls_certs_select(s2, "host-17.example", 15, 1, &how);
	if (c17 == tls_certs_select(s, "host-17.example", 15, 1, &how) || parses != N + 1)
		abort();

	printf("%s, %d certificates (one Secret and one Ingress each):\n", label, N);
	printf("  first compile        %8.1f ms  %6.1f us/cert   %.2fx the OpenSSL floor "
	       "(%.1f us/cert: PEM read + key check alone, one key decoder); "
	       "PEM_read_bio_PrivateKey per key: %.1f us/cert (%.1fx ours)\n",
	       first_s * 1e3, first_s * 1e6 / N, first_s / floor_s, floor_s * 1e6 / N,
	       naive_s * 1e6 / N, naive_s / first_s);
	double tls_b = (double)(h_secrets - h0) + (double)(h2 - h1);
	printf("  memory for TLS       %8.1f MiB  %5.0f B/cert: Secrets in the model %.0f B/cert, "
	       "parsed certificates and store %.0f B/cert (the Ingresses themselves, routing's: "
	       "%.0f B each)\n",
	       tls_b / 1048576.0, tls_b / N, (double)(h_secrets - h0) / N, (double)(h2 - h1) / N,
	       (double)(h_model - h_secrets) / N);
	printf("  one Secret rotated   %8.1f ms  (%.3fx the first compile; an empty cache takes "
	       "%.1f ms: %.0fx longer)\n",
	       rot_s * 1e3, rot_s / first_s, cold_s * 1e3, cold_s / rot_s);

	tls_certs_free(s);
	tls_certs_free(s2);
	tls_certs_free(s3);
	control_cert_cache_free(cache);
	control_cert_cache_free(cold);
	tls_cert_unref(fallback);
	control_model_free(m);
	control_errors_free(&errs);
	for (int i = 0; i < N; i++)
		free(crt[i]), free(crt64[i]);
	free(rot), free(rot64), free(key), free(key64);
}

int main(void)
{
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	run("ECDSA P-256", ec);
	EVP_PKEY_free(ec);
	EVP_PKEY *rsa = EVP_RSA_gen(2048);
	run("RSA 2048", rsa);
	EVP_PKEY_free(rsa);
	return 0;
}
