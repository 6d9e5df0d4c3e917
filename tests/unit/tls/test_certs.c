/*
 * test_certs.c: certificates from PEM (what is accepted and each refusal's reason) and the
 * store's choice by server name — exact, one-label wildcard, default, and an ECDSA and an RSA
 * certificate for one name chosen by what the client can verify.
 */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_pem.h"
#include "tls/tls.h"

#define pem test_pem

static void make(const char *alg, const char *san, struct pem *out)
{
	test_pem_make(alg, san, 1, out);
}

static struct tls_cert *load(const struct pem *p, char *why)
{
	return tls_cert_from_pem(p->crt, p->crt_len, p->key, p->key_len, why, 256);
}

Test(certs, ecdsa_and_rsa_certificates_load_with_their_kind_and_expiry)
{
	struct pem ec, rsa;
	make("P-256", "DNS:a.example", &ec);
	make("RSA:2048", "DNS:a.example", &rsa);
	char why[256];
	struct tls_cert *c = load(&ec, why), *r = load(&rsa, why);
	cr_assert_not_null(c, "%s", why);
	cr_assert_not_null(r, "%s", why);
	cr_assert_eq(tls_cert_kind(c), TLS_KEY_ECDSA);
	cr_assert_eq(tls_cert_kind(r), TLS_KEY_RSA);
	int64_t now = (int64_t)time(NULL);
	cr_assert(tls_cert_not_after(c) > now + 86000 && tls_cert_not_after(c) <= now + 86401);
	cr_assert(tls_cert_covers(c, "a.example"));
	cr_assert_not(tls_cert_covers(c, "b.example"));
	tls_cert_unref(c);
	tls_cert_unref(r);
}

Test(certs, each_refusal_says_why)
{
	struct pem a, b, weak, p521;
	make("P-256", "DNS:a.example", &a);
	make("P-256", "DNS:b.example", &b);
	make("RSA:1024", "DNS:a.example", &weak);
	make("P-521", "DNS:a.example", &p521);
	char why[256];
	struct pem mix = a;
	memcpy(mix.key, b.key, b.key_len + 1);
	mix.key_len = b.key_len;
	cr_assert_null(load(&mix, why));
	cr_assert_str_eq(why, "tls.key does not match the certificate in tls.crt");
	cr_assert_null(load(&weak, why));
	cr_assert(strstr(why, "neither ECDSA on P-256 or P-384 nor RSA of 2048 bits") != NULL);
	cr_assert_null(load(&p521, why));
	struct pem junk = a;
	strcpy(junk.crt, "not a certificate");
	junk.crt_len = strlen(junk.crt);
	cr_assert_null(load(&junk, why));
	cr_assert(strncmp(why, "tls.crt holds no PEM certificate", 32) == 0, "%s", why);
	struct pem nokey = a;
	nokey.key_len = 0;
	cr_assert_null(load(&nokey, why));
	cr_assert(strncmp(why, "tls.key holds no PEM private key", 32) == 0, "%s", why);
}

/* The key in the forms issuers write: PKCS#8, PKCS#1 / SEC1 ("traditional", cert-manager's
 * default), and SEC1 after an EC PARAMETERS block (openssl ecparam -genkey). */
Test(certs, every_common_key_encoding_loads)
{
	const char *algs[] = {"P-256", "RSA:2048"};
	for (int a = 0; a < 2; a++) {
		struct pem p;
		make(algs[a], "DNS:a.example", &p);
		BIO *in = BIO_new_mem_buf(p.key, (int)p.key_len);
		EVP_PKEY *k = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
		BIO_free(in);
		BIO *out = BIO_new(BIO_s_mem());
		if (a == 0)
			BIO_puts(out, "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n"
				      "-----END EC PARAMETERS-----\n");
		PEM_write_bio_PrivateKey_traditional(out, k, NULL, NULL, 0, NULL, NULL);
		char *d;
		long n = BIO_get_mem_data(out, &d);
		struct pem t = p;
		memcpy(t.key, d, (size_t)n);
		t.key[n] = '\0';
		t.key_len = (size_t)n;
		BIO_free(out);
		EVP_PKEY_free(k);
		cr_assert(strstr(t.key, a == 0 ? "BEGIN EC PRIVATE KEY" : "BEGIN RSA PRIVATE KEY"));
		char why[256];
		struct tls_cert *c = load(&t, why);
		cr_assert_not_null(c, "%s: %s", algs[a], why);
		tls_cert_unref(c);
		c = load(&p, why); /* and PKCS#8 again after it: the shared decoder is reusable */
		cr_assert_not_null(c, "%s", why);
		tls_cert_unref(c);
	}
}

Test(certs, a_chain_keeps_its_intermediates)
{
	struct pem leaf, inter;
	make("P-256", "DNS:a.example", &leaf);
	make("P-256", "DNS:ca.example", &inter);
	struct pem chain = leaf;
	memcpy(chain.crt + leaf.crt_len, inter.crt, inter.crt_len + 1);
	chain.crt_len += inter.crt_len;
	char why[256];
	struct tls_cert *c = load(&chain, why);
	cr_assert_not_null(c, "%s", why);
	tls_cert_unref(c);
}

Test(certs, selection_exact_then_wildcard_then_default)
{
	struct pem a, w, d;
	make("P-256", "DNS:a.example", &a);
	make("P-256", "DNS:*.w.example", &w);
	make("P-256", "DNS:default", &d);
	char why[256];
	struct tls_cert *ca = load(&a, why), *cw = load(&w, why), *cd = load(&d, why);
	struct tls_certs *s = tls_certs_new();
	cr_assert_eq(tls_certs_add(s, "A.Example", ca), 1);
	cr_assert_eq(tls_certs_add(s, "*.w.example", cw), 1);
	cr_assert_eq(tls_certs_add(s, "x.w.example", ca), 1, "an exact name under a wildcard");
	tls_certs_set_default(s, cd);
	tls_cert_unref(ca), tls_cert_unref(cw), tls_cert_unref(cd); /* the store holds them */
	enum tls_match how;
	cr_assert_eq(tls_certs_select(s, "a.example", 9, TLS_KINDS_ANY, &how), ca);
	cr_assert_eq(how, TLS_MATCH_EXACT);
	cr_assert_eq(tls_certs_select(s, "A.EXAMPLE.", 10, TLS_KINDS_ANY, &how), ca);
	cr_assert_eq(tls_certs_select(s, "y.w.example", 11, TLS_KINDS_ANY, &how), cw);
	cr_assert_eq(how, TLS_MATCH_WILDCARD);
	cr_assert_eq(tls_certs_select(s, "x.w.example", 11, TLS_KINDS_ANY, &how), ca);
	cr_assert_eq(how, TLS_MATCH_EXACT, "exact beats wildcard");
	cr_assert_eq(tls_certs_select(s, "z.y.w.example", 13, TLS_KINDS_ANY, &how), cd);
	cr_assert_eq(how, TLS_MATCH_DEFAULT, "a wildcard is one label");
	cr_assert_eq(tls_certs_select(s, "w.example", 9, TLS_KINDS_ANY, &how), cd);
	cr_assert_eq(tls_certs_select(s, "", 0, TLS_KINDS_ANY, &how), cd, "no name: default");
	cr_assert_eq(tls_certs_names(s), 3);
	cr_assert(tls_certs_earliest_not_after(s) > 0);
	tls_certs_free(s);
}

Test(certs, one_name_with_ecdsa_and_rsa_serves_what_the_client_verifies)
{
	struct pem e, r, e2;
	make("P-256", "DNS:both.example", &e);
	make("RSA:2048", "DNS:both.example", &r);
	make("P-384", "DNS:both.example", &e2);
	char why[256];
	struct tls_cert *ce = load(&e, why), *cr = load(&r, why), *ce2 = load(&e2, why);
	struct tls_certs *s = tls_certs_new();
	cr_assert_eq(tls_certs_add(s, "both.example", ce), 1);
	cr_assert_eq(tls_certs_add(s, "both.example", cr), 1);
	cr_assert_eq(tls_certs_add(s, "both.example", ce2), 0, "one certificate per kind");
	enum tls_match how;
	cr_assert_eq(tls_certs_select(s, "both.example", 12, 1u << TLS_KEY_ECDSA, &how), ce);
	cr_assert_eq(tls_certs_select(s, "both.example", 12, 1u << TLS_KEY_RSA, &how), cr);
	tls_certs_free(s);
	tls_certs_free(tls_certs_new());
	/* only RSA for a name: an ECDSA-only client still gets it (the handshake decides) */
	s = tls_certs_new();
	tls_certs_add(s, "rsa.example", cr);
	cr_assert_eq(tls_certs_select(s, "rsa.example", 11, 1u << TLS_KEY_ECDSA, &how), cr);
	tls_certs_free(s);
	tls_cert_unref(ce), tls_cert_unref(cr), tls_cert_unref(ce2);
}

Test(certs, self_signed_default)
{
	char why[256];
	struct tls_cert *c = tls_cert_self_signed("sluice default", why, sizeof(why));
	cr_assert_not_null(c, "%s", why);
	cr_assert(tls_cert_is_self_signed_default(c));
	cr_assert_eq(tls_cert_kind(c), TLS_KEY_ECDSA);
	char subj[256];
	tls_cert_subject(c, subj, sizeof(subj));
	cr_assert(strstr(subj, "CN=sluice default") != NULL, "%s", subj);
	struct tls_certs *s = tls_certs_new();
	tls_certs_set_default(s, c);
	tls_cert_unref(c);
	enum tls_match how;
	cr_assert_eq(tls_certs_select(s, "any.example", 11, TLS_KINDS_ANY, &how), c);
	tls_certs_free(s);
}
