/*
 * test_pem.h: self-signed certificates and keys in PEM for the certificate tests, made with
 * OpenSSL at test time (nothing secret is stored in the repository). Header only.
 */
#ifndef SLUICE_TESTS_TEST_PEM_H
#define SLUICE_TESTS_TEST_PEM_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

struct test_pem {
	char crt[8192], key[8192];
	size_t crt_len, key_len;
};

static inline size_t test_pem_bio(BIO *b, char *out, size_t cap)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);
	if (n <= 0 || (size_t)n >= cap)
		abort();
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	return (size_t)n;
}

/* A self-signed certificate valid for `days` with the given SAN list ("DNS:a,DNS:b"); key alg
 * "P-256", "P-384", "P-521" or "RSA:<bits>". */
static inline void test_pem_make(const char *alg, const char *san, long days, struct test_pem *out)
{
	EVP_PKEY *k = strncmp(alg, "RSA:", 4) == 0 ? EVP_RSA_gen((unsigned)atoi(alg + 4))
						   : EVP_EC_gen(alg);
	X509 *x = X509_new();
	if (k == NULL || x == NULL)
		abort();
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, k);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	if (e == NULL)
		abort();
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (X509_sign(x, k, EVP_sha256()) <= 0)
		abort();
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	out->crt_len = test_pem_bio(b, out->crt, sizeof(out->crt));
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	out->key_len = test_pem_bio(b, out->key, sizeof(out->key));
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* Base64 of n bytes (as Kubernetes stores Secret data), NUL-terminated, malloc'd. */
static inline char *test_pem_b64(const char *in, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)n);
	return out;
}

#endif
