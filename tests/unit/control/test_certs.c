/*
 * test_certs.c: spec.tls and kubernetes.io/tls Secrets into the certificate store — which host
 * gets which certificate, what a broken or missing Secret costs (its hosts only, reported),
 * and that unchanged Secrets are not parsed again.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "control/control.h"
#include "test_pem.h"
#include "tls/tls.h"

static struct control_model *model;
static struct control_errors errs;
static struct control_cert_cache *cache;
static struct tls_certs *store;
static struct tls_cert *fallback;
static struct control_cert_stats st;
static const struct control_class klass = {"sluice", "sluice.dev/ingress-controller", NULL, NULL};

static void setup(void)
{
	model = control_model_new();
	memset(&errs, 0, sizeof(errs));
	cache = control_cert_cache_new();
	char why[256];
	fallback = tls_cert_self_signed("fallback", why, sizeof(why));
	cr_assert_not_null(fallback);
	store = NULL;
}

static void teardown(void)
{
	tls_certs_free(store);
	control_cert_cache_free(cache);
	tls_cert_unref(fallback);
	control_model_free(model);
	control_errors_free(&errs);
}

TestSuite(certs, .init = setup, .fini = teardown);

static void add_json(json_t *j)
{
	control_add_object(model, j, "test", &errs);
	json_decref(j);
}

/* A TLS Secret in namespace t: certificate for san, key alg; `string` puts it in stringData. */
static void secret(const char *name, const char *alg, const char *san, bool string)
{
	struct test_pem p;
	test_pem_make(alg, san, 30, &p);
	if (string) {
		add_json(json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:{s:s,s:s}}", "apiVersion", "v1",
				   "kind", "Secret", "type", "kubernetes.io/tls", "metadata",
				   "name", name, "namespace", "t", "stringData", "tls.crt", p.crt,
				   "tls.key", p.key));
		return;
	}
	char *c = test_pem_b64(p.crt, p.crt_len), *k = test_pem_b64(p.key, p.key_len);
	add_json(json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:{s:s,s:s}}", "apiVersion", "v1", "kind",
			   "Secret", "type", "kubernetes.io/tls", "metadata", "name", name,
			   "namespace", "t", "data", "tls.crt", c, "tls.key", k));
	free(c);
	free(k);
}

/* An Ingress of our class in t with one rule host and spec.tls (a JSON list, ' for "). */
static void ingress(const char *name, const char *ts, const char *rule_host, const char *tls)
{
	char buf[2048];
	snprintf(buf, sizeof(buf),
		 "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'%s',"
		 "'namespace':'t','creationTimestamp':'%s'},'spec':{'ingressClassName':'sluice',"
		 "'tls':%s,'rules':[{'host':'%s'}]}}",
		 name, ts, tls, rule_host);
	for (char *c = buf; *c; c++)
		if (*c == '\'')
			*c = '"';
	json_t *j = json_loads(buf, 0, NULL);
	cr_assert_not_null(j, "%s", buf);
	add_json(j);
}

static void compile(void)
{
	tls_certs_free(store);
	control_errors_free(&errs);
	memset(&errs, 0, sizeof(errs));
	struct control_tls_defaults d = {NULL, fallback};
	store = control_compile_certs(model, &klass, cache, &d, &errs, &st);
	cr_assert_not_null(store);
	for (size_t i = 0; i < errs.n; i++)
		cr_log_info("%s", errs.msgs[i]);
}

/* "ns/name" of the Secret serving name, "default" for the default. */
static const char *who(const char *name)
{
	enum tls_match how;
	const struct tls_cert *c =
		tls_certs_select(store, name, strlen(name), 1u << TLS_KEY_ECDSA, &how);
	cr_assert_not_null(c);
	return how == TLS_MATCH_DEFAULT ? "default" : tls_cert_source(c);
}

static bool has_error(const char *needle)
{
	for (size_t i = 0; i < errs.n; i++)
		if (strstr(errs.msgs[i], needle))
			return true;
	return false;
}

Test(certs, hosts_exact_wildcard_and_rule_hosts_get_their_secret)
{
	secret("a", "P-256", "DNS:a.example", false);
	secret("w", "P-256", "DNS:*.w.example", true);
	secret("r", "P-256", "DNS:rule.example", false);
	ingress("i1", "2026-01-01T00:00:00Z", "a.example",
		"[{'hosts':['a.example'],'secretName':'a'},{'hosts':['*.w.example'],"
		"'secretName':'w'}]");
	ingress("i2", "2026-01-01T00:00:00Z", "rule.example", "[{'secretName':'r'}]");
	compile();
	cr_assert_eq(errs.n, 0);
	cr_assert_str_eq(who("a.example"), "t/a");
	cr_assert_str_eq(who("x.w.example"), "t/w", "stringData works like data");
	cr_assert_str_eq(who("rule.example"), "t/r", "no hosts: the Ingress's rule hosts");
	cr_assert_str_eq(who("other.example"), "default");
	cr_assert_eq(st.certificates, 3);
	cr_assert_eq(st.names, 3);
	cr_assert(st.default_self_signed);
	cr_assert(st.earliest_not_after > 0);
}

Test(certs, a_broken_secret_costs_only_its_hosts)
{
	secret("good", "P-256", "DNS:good.example", false);
	struct test_pem p, q;
	test_pem_make("P-256", "DNS:bad.example", 30, &p);
	test_pem_make("P-256", "DNS:bad.example", 30, &q);
	char *c = test_pem_b64(p.crt, p.crt_len), *k = test_pem_b64(q.key, q.key_len);
	add_json(json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:{s:s,s:s}}", "apiVersion", "v1", "kind",
			   "Secret", "type", "kubernetes.io/tls", "metadata", "name", "bad",
			   "namespace", "t", "data", "tls.crt", c, "tls.key", k));
	free(c);
	free(k);
	add_json(json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:{s:s,s:s}}", "apiVersion", "v1", "kind",
			   "Secret", "type", "kubernetes.io/tls", "metadata", "name", "junk",
			   "namespace", "t", "data", "tls.crt", "!!!not base64", "tls.key",
			   "AAAA"));
	add_json(json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:{s:s}}", "apiVersion", "v1", "kind",
			   "Secret", "type", "Opaque", "metadata", "name", "opaque", "namespace",
			   "t", "data", "password", "aHVudGVyMg=="));
	ingress("i", "2026-01-01T00:00:00Z", "good.example",
		"[{'hosts':['good.example'],'secretName':'good'},{'hosts':['bad.example'],"
		"'secretName':'bad'},{'hosts':['junk.example'],'secretName':'junk'},"
		"{'hosts':['gone.example'],'secretName':'gone'},{'hosts':['op.example'],"
		"'secretName':'opaque'}]");
	compile();
	cr_assert_str_eq(who("good.example"), "t/good");
	cr_assert_str_eq(who("bad.example"), "default");
	cr_assert_str_eq(who("junk.example"), "default");
	cr_assert_str_eq(who("gone.example"), "default");
	cr_assert(
		has_error("Secret t/bad (spec.tls[1] of Ingress t/i): tls.key does not match the "
			  "certificate in tls.crt; hosts bad.example get the default certificate"));
	cr_assert(has_error("Secret t/junk (spec.tls[2] of Ingress t/i): data.tls.crt is not "
			    "base64"));
	cr_assert(has_error("Secret t/gone (spec.tls[3] of Ingress t/i): not found (or not of type "
			    "kubernetes.io/tls)"));
	cr_assert(has_error("Secret t/opaque (spec.tls[4] of Ingress t/i): not found"));
	cr_assert_null(control_find_object(model, "Secret", "t", "opaque"),
		       "a Secret of another type never enters the model");
	cr_assert_eq(st.secret_errors, 4);
	cr_assert_eq(st.certificates, 1);
}

Test(certs, unchanged_secrets_are_not_parsed_again_and_a_change_is)
{
	secret("a", "P-256", "DNS:a.example", false);
	secret("b", "P-256", "DNS:b.example", false);
	ingress("i", "2026-01-01T00:00:00Z", "a.example",
		"[{'hosts':['a.example'],'secretName':'a'},{'hosts':['b.example'],"
		"'secretName':'b'}]");
	compile();
	cr_assert_eq(control_cert_cache_parses(cache), 2);
	enum tls_match how;
	const struct tls_cert *before = tls_certs_select(store, "b.example", 9, 1, &how);
	compile();
	cr_assert_eq(control_cert_cache_parses(cache), 2, "nothing changed: nothing parsed");
	cr_assert_eq(tls_certs_select(store, "b.example", 9, 1, &how), before);
	secret("b", "P-256", "DNS:b.example", false); /* rotated */
	compile();
	cr_assert_eq(control_cert_cache_parses(cache), 3, "the rotated Secret alone");
	cr_assert_neq(tls_certs_select(store, "b.example", 9, 1, &how), before);
	cr_assert_str_eq(who("b.example"), "t/b");
	control_delete_object(model, "Ingress", "t", "i");
	compile();
	cr_assert_eq(st.certificates, 0, "Secrets no Ingress names are dropped");
	cr_assert_str_eq(who("a.example"), "default");
}

Test(certs, oldest_ingress_wins_a_host_and_both_key_kinds_serve)
{
	secret("old", "P-256", "DNS:h.example", false);
	secret("new", "P-256", "DNS:h.example", false);
	secret("rsa", "RSA:2048", "DNS:h.example", false);
	ingress("new", "2026-02-01T00:00:00Z", "h.example",
		"[{'hosts':['h.example'],'secretName':'new'}]");
	ingress("old", "2026-01-01T00:00:00Z", "h.example",
		"[{'hosts':['h.example'],'secretName':'old'},{'hosts':['h.example'],"
		"'secretName':'rsa'}]");
	compile();
	cr_assert_str_eq(who("h.example"), "t/old");
	enum tls_match how;
	cr_assert_str_eq(
		tls_cert_source(tls_certs_select(store, "h.example", 9, 1u << TLS_KEY_RSA, &how)),
		"t/rsa");
	cr_assert(has_error("Ingress t/new: host h.example has a certificate of this key type from "
			    "an older Ingress already; Secret t/new not used for it"));
}

Test(certs, names_the_certificate_does_not_cover_are_reported_and_served)
{
	secret("a", "P-256", "DNS:a.example", false);
	ingress("i", "2026-01-01T00:00:00Z", "b.example",
		"[{'hosts':['b.example'],'secretName':'a'}]");
	compile();
	cr_assert_str_eq(who("b.example"), "t/a");
	cr_assert(has_error("Secret t/a: its certificate does not name host b.example (Ingress "
			    "t/i); served for it anyway"));
}

Test(certs, default_certificate_from_a_secret)
{
	secret("def", "P-256", "DNS:default.example", false);
	tls_certs_free(store);
	struct control_tls_defaults d = {"t/def", fallback};
	store = control_compile_certs(model, &klass, cache, &d, &errs, &st);
	cr_assert_str_eq(tls_cert_source(tls_certs_default(store)), "t/def");
	cr_assert_not(st.default_self_signed);
	tls_certs_free(store);
	d.secret = "t/missing";
	store = control_compile_certs(model, &klass, cache, &d, &errs, &st);
	cr_assert_eq(tls_certs_default(store), fallback);
	cr_assert(has_error("default certificate Secret t/missing: not found (or not of type "
			    "kubernetes.io/tls); using the self-signed default certificate"));
}
