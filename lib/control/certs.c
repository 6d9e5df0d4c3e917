/*
 * certs.c: Ingress spec.tls and kubernetes.io/tls Secrets into a certificate store.
 *
 * Each Ingress of our class may name, per spec.tls entry, a Secret in its own namespace and the
 * hosts it serves (no hosts: the hosts of the Ingress's rules). The store gives each host the
 * certificate of the oldest Ingress that names it (creation time, then namespace and name, as
 * for rules), one per key kind, so an ECDSA and an RSA Secret for one host both serve.
 *
 * Parsing is what costs at scale (ten thousand certificates are seconds of PEM and key checks),
 * so the cache keeps each Secret's parsed certificate keyed by namespace/name and a hash of its
 * two data fields, across compiles: a Secret that did not change is not parsed again, a broken
 * one is not re-reported, and a Secret no Ingress names any more is dropped at the end of the
 * compile. A compile after one Secret changed parses one Secret.
 *
 * A problem costs only the hosts it concerns: a missing Secret, one that does not decode or
 * parse, a key that does not match — those hosts get the default certificate, and the message
 * names the Secret, why, and the hosts.
 */
#include "control/control-int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "tls/tls.h"

struct cache_entry {
	char *key;	       /* "ns/name" */
	uint64_t hash;	       /* of tls.crt and tls.key as stored */
	struct tls_cert *cert; /* NULL: the Secret is broken (why) */
	char why[200];
	uint64_t used; /* the compile generation that last used it */
};

struct control_cert_cache {
	struct cache_entry *v;
	size_t n, cap;
	json_t *index; /* key → position in v */
	uint64_t gen;
	uint64_t parses; /* Secrets parsed since the cache was made (for tests and metrics) */
};

struct control_cert_cache *control_cert_cache_new(void)
{
	struct control_cert_cache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->index = json_object();
	if (c->index == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void control_cert_cache_free(struct control_cert_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].key);
		tls_cert_unref(c->v[i].cert);
	}
	free(c->v);
	json_decref(c->index);
	free(c);
}

uint64_t control_cert_cache_parses(const struct control_cert_cache *c)
{
	return c->parses;
}

/* Drop the entries this compile did not use; rebuild the index. */
static void cache_sweep(struct control_cert_cache *c)
{
	size_t k = 0;
	json_object_clear(c->index);
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].used != c->gen) {
			free(c->v[i].key);
			tls_cert_unref(c->v[i].cert);
			continue;
		}
		c->v[k] = c->v[i];
		json_object_set_new(c->index, c->v[k].key, json_integer((json_int_t)k));
		k++;
	}
	c->n = k;
}

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return (h ^ 0xff) * 1099511628211ull;
}

/* Base64 (RFC 4648, as Kubernetes stores Secret data) into a new buffer; NULL if invalid. */
static char *b64_decode(const char *in, size_t *out_len)
{
	size_t n = strlen(in);
	if (n == 0 || n % 4)
		return NULL;
	char *out = malloc(n / 4 * 3 + 1);
	if (out == NULL)
		return NULL;
	int got = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in, (int)n);
	if (got < 0) {
		free(out);
		return NULL;
	}
	size_t pad = (in[n - 1] == '=') + (in[n - 2] == '=');
	*out_len = (size_t)got - pad;
	out[*out_len] = '\0';
	return out;
}

/* The Secret's certificate, from the cache or parsed now. NULL with why when it cannot serve. */
static struct tls_cert *secret_cert(struct control_cert_cache *cache, const struct control_model *m,
				    const char *ns, const char *name, char *why, size_t why_len)
{
	char key[512];
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	json_t *sec = control_find_object(m, "Secret", ns, name);
	if (sec == NULL) {
		snprintf(why, why_len, "not found (or not of type kubernetes.io/tls)");
		return NULL;
	}
	json_t *data = json_object_get(sec, "data");
	json_t *sdata = json_object_get(sec, "stringData");
	const char *crt64 = json_string_value(json_object_get(data, "tls.crt"));
	const char *key64 = json_string_value(json_object_get(data, "tls.key"));
	const char *crt_s = json_string_value(json_object_get(sdata, "tls.crt"));
	const char *key_s = json_string_value(json_object_get(sdata, "tls.key"));
	uint64_t h = fnv(fnv(fnv(fnv(1469598103934665603ull, crt64), key64), crt_s), key_s);

	json_t *at = json_object_get(cache->index, key);
	struct cache_entry *e = at ? &cache->v[json_integer_value(at)] : NULL;
	if (e && e->hash == h) {
		e->used = cache->gen;
		if (e->cert == NULL)
			snprintf(why, why_len, "%s", e->why);
		return e->cert;
	}
	if (e == NULL) {
		if (cache->n == cache->cap) {
			size_t cap = cache->cap ? cache->cap * 2 : 64;
			struct cache_entry *nv = realloc(cache->v, cap * sizeof(*nv));
			if (nv == NULL) {
				snprintf(why, why_len, "out of memory");
				return NULL;
			}
			cache->v = nv;
			cache->cap = cap;
		}
		e = &cache->v[cache->n];
		*e = (struct cache_entry){.key = strdup(key)};
		json_object_set_new(cache->index, key, json_integer((json_int_t)cache->n));
		cache->n++;
	} else {
		tls_cert_unref(e->cert); /* changed: parse again */
		e->cert = NULL;
	}
	e->hash = h;
	e->used = cache->gen;
	e->why[0] = '\0';
	cache->parses++;

	/* stringData (as written in manifests) wins over data, as the API server merges it. */
	size_t cl = 0, kl = 0;
	char *crt = NULL, *pkey = NULL;
	if (crt_s)
		crt = strdup(crt_s), cl = strlen(crt_s);
	else if (crt64 && (crt = b64_decode(crt64, &cl)) == NULL)
		snprintf(e->why, sizeof(e->why), "data.tls.crt is not base64");
	if (key_s)
		pkey = strdup(key_s), kl = strlen(key_s);
	else if (key64 && (pkey = b64_decode(key64, &kl)) == NULL && !e->why[0])
		snprintf(e->why, sizeof(e->why), "data.tls.key is not base64");
	if (!e->why[0] && (crt == NULL || pkey == NULL))
		snprintf(e->why, sizeof(e->why), "data.%s is missing", crt ? "tls.key" : "tls.crt");
	if (!e->why[0]) {
		e->cert = tls_cert_from_pem(crt, cl, pkey, kl, e->why, sizeof(e->why));
		if (e->cert)
			tls_cert_set_source(e->cert, key);
	}
	if (pkey) {
		memset(pkey, 0, kl); /* no copy of a private key left behind in the heap */
		free(pkey);
	}
	free(crt);
	if (e->cert == NULL)
		snprintf(why, why_len, "%s", e->why);
	return e->cert;
}

struct tls_ing {
	json_t *j;
	const char *ns, *name;
};

/* Append host to a comma-separated list for messages (bounded). */
static void list_add(char *list, size_t len, const char *host)
{
	size_t at = strlen(list);
	if (at + strlen(host) + 3 < len)
		snprintf(list + at, len - at, "%s%s", at ? ", " : "", host);
	else if (at + 4 < len && strcmp(list + at - 3, "...") != 0)
		snprintf(list + at, len - at, "...");
}

/* The hosts a spec.tls entry serves: its own, or the Ingress's rule hosts when it names none. */
static json_t *entry_hosts(json_t *ing, json_t *entry)
{
	json_t *hosts = json_object_get(entry, "hosts");
	if (json_array_size(hosts) > 0)
		return json_incref(hosts);
	json_t *out = json_array();
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(json_object_get(ing, "spec"), "rules"), i, r)
	{
		json_t *h = json_object_get(r, "host");
		if (json_is_string(h) && json_string_length(h) > 0)
			json_array_append(out, h);
	}
	return out;
}

struct tls_certs *control_compile_certs(const struct control_model *m,
					const struct control_class *cls,
					struct control_cert_cache *cache,
					const struct control_tls_defaults *defs,
					struct control_errors *errs, struct control_cert_stats *st)
{
	struct tls_certs *s = tls_certs_new();
	if (s == NULL)
		return NULL;
	memset(st, 0, sizeof(*st));
	cache->gen++;
	char why[256];

	/* The default certificate: a Secret named in the configuration, else the configured
	 * one, else the self-signed one made at start. */
	struct tls_cert *def = NULL;
	if (defs->secret && defs->secret[0]) {
		const char *slash = strchr(defs->secret, '/');
		char ns[256];
		if (slash && (size_t)(slash - defs->secret) < sizeof(ns)) {
			snprintf(ns, sizeof(ns), "%.*s", (int)(slash - defs->secret), defs->secret);
			def = secret_cert(cache, m, ns, slash + 1, why, sizeof(why));
			if (def == NULL) {
				st->secret_errors++;
				control_errors_add(errs,
						   "default certificate Secret %s: %s; using the "
						   "%s default certificate",
						   defs->secret, why,
						   defs->fallback &&
								   tls_cert_is_self_signed_default(
									   defs->fallback)
							   ? "self-signed"
							   : "configured");
			}
		}
	}
	if (def == NULL)
		def = defs->fallback;
	if (def)
		tls_certs_set_default(s, def);
	st->default_self_signed = def && tls_cert_is_self_signed_default(def);

	size_t n_all = 0, n = 0;
	json_t **all = control_ingresses_of_class(m, cls, &n_all);
	struct tls_ing *ings = calloc(n_all + 1, sizeof(*ings));
	for (size_t i = 0; ings && i < n_all; i++) {
		json_t *j = all[i];
		if (json_object_get(json_object_get(j, "spec"), "tls") == NULL)
			continue;
		ings[n++] = (struct tls_ing){j, control__ns(j), control__meta(j, "name") ?: ""};
	}
	free(all);

	for (size_t i = 0; i < n; i++) {
		json_t *tls = json_object_get(json_object_get(ings[i].j, "spec"), "tls");
		if (!json_is_array(tls)) {
			control_errors_add(errs,
					   "Ingress %s/%s: spec.tls: expected a list; ignored",
					   ings[i].ns, ings[i].name);
			continue;
		}
		size_t ti;
		json_t *entry;
		json_array_foreach(tls, ti, entry)
		{
			const char *secret =
				json_string_value(json_object_get(entry, "secretName"));
			json_t *hosts = entry_hosts(ings[i].j, entry);
			char names[400] = "";
			size_t hi;
			json_t *h;
			json_array_foreach(hosts, hi, h)
			{
				if (json_is_string(h))
					list_add(names, sizeof(names), json_string_value(h));
			}
			if (secret == NULL || secret[0] == '\0') {
				control_errors_add(
					errs,
					"Ingress %s/%s: spec.tls[%zu].secretName: missing; "
					"hosts %s get the default certificate",
					ings[i].ns, ings[i].name, ti, names[0] ? names : "(none)");
				json_decref(hosts);
				continue;
			}
			struct tls_cert *c =
				secret_cert(cache, m, ings[i].ns, secret, why, sizeof(why));
			if (c == NULL) {
				st->secret_errors++;
				control_errors_add(errs,
						   "Secret %s/%s (spec.tls[%zu] of Ingress %s/%s): "
						   "%s; hosts %s get the default certificate",
						   ings[i].ns, secret, ti, ings[i].ns, ings[i].name,
						   why, names[0] ? names : "(none)");
				json_decref(hosts);
				continue;
			}
			json_array_foreach(hosts, hi, h)
			{
				const char *host = json_string_value(h);
				if (host == NULL || !route_host_valid(host) || host[0] == '\0') {
					control_errors_add(
						errs,
						"Ingress %s/%s: spec.tls[%zu].hosts[%zu]: "
						"\"%s\" is not a valid host; ignored",
						ings[i].ns, ings[i].name, ti, hi, host ? host : "");
					continue;
				}
				if (!tls_cert_covers(c, host))
					control_errors_add(
						errs,
						"Secret %s/%s: its certificate does not "
						"name host %s (Ingress %s/%s); served for "
						"it anyway",
						ings[i].ns, secret, host, ings[i].ns, ings[i].name);
				if (tls_certs_add(s, host, c) == 0)
					control_errors_add(
						errs,
						"Ingress %s/%s: host %s has a certificate "
						"of this key type from an older Ingress "
						"already; Secret %s/%s not used for it",
						ings[i].ns, ings[i].name, host, ings[i].ns, secret);
			}
			json_decref(hosts);
		}
	}
	free(ings);
	cache_sweep(cache);
	for (size_t i = 0; i < cache->n; i++)
		st->certificates += cache->v[i].cert != NULL;
	st->names = tls_certs_names(s);
	st->earliest_not_after = tls_certs_earliest_not_after(s);
	return s;
}
