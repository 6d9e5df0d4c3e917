/*
 * route.c: builder, frozen table and lookup.
 *
 * One hash map type serves every map in the table: open addressing over (hash, scope, key)
 * where scope is the host entry's index (0 for the host maps) and key is a string in the
 * table's arena. Keeping every path of every host in two global maps (exact, prefix) instead of
 * a map per host keeps 100 000 hosts cheap and a lookup at two cache misses per probe.
 *
 * Hashing is FNV-1a 64, chosen because it is sequential: the lookup hashes the path once and
 * remembers the state at each '/' boundary, so probing every prefix of the path costs one pass
 * over its bytes. The scope is folded in last, so a boundary state can be finished for any host
 * entry.
 *
 * Prefix keys are stored without a trailing '/' ("/foo/" and "/foo" are the same Prefix rule,
 * and "/" is stored as the empty string), which makes "ignores trailing slash" and "matches
 * element-wise" fall out of probing at segment boundaries.
 */
#include "route/route-int.h"
#include "lb/lb.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- table -------------------------------------------------------------------------------- */

struct host_entry {
	uint32_t name;		 /* arena offset: "foo.com", "*.foo.com" or "" */
	int32_t default_tgt;	 /* target index or -1 */
	int32_t max_prefix_segs; /* deepest Prefix rule of the host, in segments; -1: none.
				  * Lookups skip deeper probes, which at scale are cache misses. */
};

struct target_rec {
	uint32_t pool;
	enum route_path_type type;
	bool default_backend;
	bool passthrough;
	uint32_t ns, ingress, rule_host, rule_path; /* arena offsets */
};

struct pool_rec {
	uint32_t ns, service, port, hash_header, split;
	uint32_t first_ep, n_eps;
	uint8_t algorithm;
	bool proxy_v2;
};

struct route_builder {
	struct arena arena;
	struct map hosts;    /* scope 0: exact host → entry */
	struct map wild;     /* scope 0: wildcard suffix → entry */
	struct map exact;    /* scope entry: path → target */
	struct map prefix;   /* scope entry: path without trailing '/' → target */
	struct map sni;	     /* scope 0: exact host → passthrough target */
	struct map sni_wild; /* scope 0: wildcard suffix → passthrough target */
	uint32_t n_passthrough;
	struct map tls;	     /* scope 0: exact host with TLS → 1 (HTTP→HTTPS redirect) */
	struct map tls_wild; /* scope 0: wildcard suffix with TLS → 1 */
	uint32_t n_tls_hosts;
	int32_t any_host;  /* host-less entry or -1 */
	int32_t catch_all; /* target or -1 */
	int32_t class_default;
	struct host_entry *entries;
	uint32_t n_entries, cap_entries;
	struct target_rec *targets;
	uint32_t n_targets, cap_targets;
	struct pool_rec *pools;
	uint32_t n_pools, cap_pools;
	struct lb_endpoint *eps;
	uint32_t n_eps, cap_eps;
	uint32_t n_rules;
	bool failed;
};

/* The frozen table: the builder's arrays plus resolved public views. */
struct route_table {
	struct route_builder b;
	struct route_target *targets; /* public view, strings resolved */
	struct route_pool *pools;
};

#define GROW(arr, n, cap)                                                                          \
	({                                                                                         \
		bool ok_ = true;                                                                   \
		if ((n) == (cap)) {                                                                \
			uint32_t nc_ = (cap) ? (cap)*2 : 64;                                       \
			void *np_ = realloc((arr), (size_t)nc_ * sizeof(*(arr)));                  \
			if (np_) {                                                                 \
				(arr) = np_;                                                       \
				(cap) = nc_;                                                       \
			} else {                                                                   \
				ok_ = false;                                                       \
			}                                                                          \
		}                                                                                  \
		ok_;                                                                               \
	})

const char *route_path_type_name(enum route_path_type t)
{
	switch (t) {
	case ROUTE_EXACT:
		return "Exact";
	case ROUTE_PREFIX:
		return "Prefix";
	case ROUTE_IMPL_SPECIFIC:
		return "ImplementationSpecific";
	}
	return "?";
}

struct route_builder *route_builder_new(void)
{
	struct route_builder *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	if (map_init(&b->hosts, 64) || map_init(&b->wild, 64) || map_init(&b->exact, 64) ||
	    map_init(&b->prefix, 64) || map_init(&b->sni, 16) || map_init(&b->sni_wild, 16) ||
	    map_init(&b->tls, 16) || map_init(&b->tls_wild, 16)) {
		route_builder_free(b);
		return NULL;
	}
	b->any_host = b->catch_all = b->class_default = -1;
	/* Offset 0 is the empty string. */
	arena_add(&b->arena, "", 0);
	return b;
}

static void builder_release(struct route_builder *b)
{
	free(b->arena.buf);
	free(b->hosts.slots);
	free(b->wild.slots);
	free(b->exact.slots);
	free(b->prefix.slots);
	free(b->sni.slots);
	free(b->sni_wild.slots);
	free(b->tls.slots);
	free(b->tls_wild.slots);
	free(b->entries);
	free(b->targets);
	free(b->pools);
	free(b->eps);
}

void route_builder_free(struct route_builder *b)
{
	if (b == NULL)
		return;
	builder_release(b);
	free(b);
}

static uint32_t str_off(struct route_builder *b, const char *s)
{
	int64_t off = arena_add(&b->arena, s, strlen(s));
	if (off < 0) {
		b->failed = true;
		return 0;
	}
	return (uint32_t)off;
}

uint32_t route_builder_add_pool(struct route_builder *b, const char *ns, const char *service,
				const char *port, const struct lb_endpoint *eps, uint32_t n)
{
	if (!GROW(b->pools, b->n_pools, b->cap_pools)) {
		b->failed = true;
		return 0;
	}
	struct pool_rec *p = &b->pools[b->n_pools];
	p->ns = str_off(b, ns);
	p->service = str_off(b, service);
	p->port = str_off(b, port);
	p->hash_header = str_off(b, "");
	p->split = p->hash_header;
	p->first_ep = b->n_eps;
	p->n_eps = 0;
	p->algorithm = LB_ROUND_ROBIN;
	p->proxy_v2 = false;
	for (uint32_t i = 0; i < n; i++) {
		if (!GROW(b->eps, b->n_eps, b->cap_eps)) {
			b->failed = true;
			break;
		}
		b->eps[b->n_eps++] = eps[i];
		p->n_eps++;
	}
	return b->n_pools++;
}

void route_builder_set_pool_algorithm(struct route_builder *b, uint32_t pool, uint8_t algorithm)
{
	if (pool < b->n_pools)
		b->pools[pool].algorithm = algorithm;
}

void route_builder_set_pool_hash_header(struct route_builder *b, uint32_t pool, const char *header)
{
	if (pool < b->n_pools)
		b->pools[pool].hash_header = str_off(b, header);
}

void route_builder_set_pool_proxy_v2(struct route_builder *b, uint32_t pool, bool on)
{
	if (pool < b->n_pools)
		b->pools[pool].proxy_v2 = on;
}

void route_builder_set_pool_split(struct route_builder *b, uint32_t pool, const char *split)
{
	if (pool < b->n_pools)
		b->pools[pool].split = str_off(b, split);
}

const struct lb_endpoint *route_builder_pool_endpoints(const struct route_builder *b, uint32_t pool,
						       uint32_t *n)
{
	*n = pool < b->n_pools ? b->pools[pool].n_eps : 0;
	return *n ? b->eps + b->pools[pool].first_ep : NULL;
}

bool route_builder_pool_names(const struct route_builder *b, uint32_t pool, char *ns, char *service,
			      char *port, size_t len)
{
	if (pool >= b->n_pools)
		return false;
	const char *A = b->arena.buf;
	snprintf(ns, len, "%s", A + b->pools[pool].ns);
	snprintf(service, len, "%s", A + b->pools[pool].service);
	snprintf(port, len, "%s", A + b->pools[pool].port);
	return true;
}

bool route_host_valid(const char *host)
{
	size_t n = strlen(host);
	if (n == 0)
		return true;
	if (n > 253)
		return false;
	const char *h = host;
	if (h[0] == '*') {
		if (h[1] != '.' || n < 3)
			return false;
		h += 2;
	}
	/* labels of [a-z0-9-] (any case), not starting or ending with '-'; IPv4 literals fit */
	size_t label = 0;
	for (const char *c = h; *c; c++) {
		if (*c == '.') {
			if (label == 0 || c[-1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!(isalnum((unsigned char)*c) || *c == '-') || (label == 0 && *c == '-'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && h[strlen(h) - 1] != '-';
}

bool route_path_valid(const char *path, enum route_path_type type)
{
	if (path[0] != '/')
		return false;
	for (const char *c = path; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '?' ||
		    *c == '#')
			return false;
	(void)type;
	return true;
}

static void lower_copy(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[n] = '\0';
}

/* The entry for a host as written in a rule ("" = any host), created on first use. */
static int32_t entry_for(struct route_builder *b, const char *host_in)
{
	char host[256];
	size_t n = strlen(host_in);
	if (n > 253)
		return -1;
	lower_copy(host, host_in, n);
	if (n == 0) {
		if (b->any_host >= 0)
			return b->any_host;
	} else {
		bool wild = host[0] == '*';
		const char *key = wild ? host + 2 : host;
		size_t kl = wild ? n - 2 : n;
		int32_t e = map_get(wild ? &b->wild : &b->hosts, b->arena.buf, hash_str(key, kl, 0),
				    0, key, kl);
		if (e >= 0)
			return e;
	}
	if (!GROW(b->entries, b->n_entries, b->cap_entries))
		return -1;
	int32_t idx = (int32_t)b->n_entries;
	uint32_t name = str_off(b, host);
	b->entries[b->n_entries++] = (struct host_entry){name, -1, -1};
	if (n == 0) {
		b->any_host = idx;
	} else {
		bool wild = host[0] == '*';
		int64_t k = arena_add(&b->arena, wild ? host + 2 : host, wild ? n - 2 : n);
		if (k < 0)
			return -1;
		const char *key = b->arena.buf + k;
		size_t kl = strlen(key);
		if (map_put(wild ? &b->wild : &b->hosts, b->arena.buf, hash_str(key, kl, 0), 0,
			    (uint32_t)k, (uint32_t)kl, idx) < 0)
			return -1;
	}
	return idx;
}

static int32_t add_target(struct route_builder *b, uint32_t pool, enum route_path_type type,
			  bool def, const char *ns, const char *ingress, const char *rule_host,
			  const char *rule_path)
{
	if (!GROW(b->targets, b->n_targets, b->cap_targets))
		return -1;
	struct target_rec *t = &b->targets[b->n_targets];
	t->pool = pool;
	t->type = type;
	t->default_backend = def;
	t->passthrough = false;
	t->ns = str_off(b, ns);
	t->ingress = str_off(b, ingress);
	t->rule_host = str_off(b, rule_host);
	t->rule_path = str_off(b, rule_path);
	return (int32_t)b->n_targets++;
}

int route_builder_add_rule(struct route_builder *b, const char *host, const char *path,
			   enum route_path_type type, uint32_t pool, const char *ns,
			   const char *ingress)
{
	if (!route_host_valid(host) || !route_path_valid(path, type) || pool >= b->n_pools)
		return -1;
	int32_t e = entry_for(b, host);
	if (e < 0) {
		b->failed = true;
		return -1;
	}
	size_t pl = strlen(path);
	bool prefix = type != ROUTE_EXACT;
	if (prefix && pl > 0 && path[pl - 1] == '/')
		pl--; /* "/foo/" ≡ "/foo"; "/" ≡ "" */
	struct map *m = prefix ? &b->prefix : &b->exact;
	if (map_get(m, b->arena.buf, hash_str(path, pl, (uint32_t)e), (uint32_t)e, path, pl) >= 0)
		return 0; /* an earlier (older) rule has it */
	int32_t t = add_target(b, pool, type, false, ns, ingress, host, path);
	int64_t k = arena_add(&b->arena, path, pl);
	if (t < 0 || k < 0) {
		b->failed = true;
		return -1;
	}
	if (map_put(m, b->arena.buf, hash_str(path, pl, (uint32_t)e), (uint32_t)e, (uint32_t)k,
		    (uint32_t)pl, t) < 0) {
		b->failed = true;
		return -1;
	}
	if (prefix) {
		int32_t segs = 0;
		for (size_t i = 0; i < pl; i++)
			segs += path[i] == '/';
		if (segs > b->entries[e].max_prefix_segs)
			b->entries[e].max_prefix_segs = segs;
	}
	b->n_rules++;
	return 1;
}

int route_builder_add_passthrough(struct route_builder *b, const char *host_in, uint32_t pool,
				  const char *ns, const char *ingress)
{
	size_t n = strlen(host_in);
	if (n == 0 || !route_host_valid(host_in) || pool >= b->n_pools)
		return -1;
	char host[256];
	lower_copy(host, host_in, n);
	bool wild = host[0] == '*';
	const char *key = wild ? host + 2 : host;
	size_t kl = wild ? n - 2 : n;
	struct map *m = wild ? &b->sni_wild : &b->sni;
	if (map_get(m, b->arena.buf, hash_str(key, kl, 0), 0, key, kl) >= 0)
		return 0; /* an older Ingress has the name */
	int32_t t = add_target(b, pool, ROUTE_PREFIX, false, ns, ingress, host, "");
	int64_t k = arena_add(&b->arena, key, kl);
	if (t < 0 || k < 0 ||
	    map_put(m, b->arena.buf, hash_str(key, kl, 0), 0, (uint32_t)k, (uint32_t)kl, t) < 0) {
		b->failed = true;
		return -1;
	}
	b->targets[t].passthrough = true;
	b->n_passthrough++;
	return 1;
}

int route_builder_add_tls_host(struct route_builder *b, const char *host_in)
{
	size_t n = strlen(host_in);
	if (n == 0 || !route_host_valid(host_in))
		return -1;
	char host[256];
	lower_copy(host, host_in, n);
	bool wild = host[0] == '*';
	const char *key = wild ? host + 2 : host;
	size_t kl = wild ? n - 2 : n;
	struct map *m = wild ? &b->tls_wild : &b->tls;
	if (map_get(m, b->arena.buf, hash_str(key, kl, 0), 0, key, kl) >= 0)
		return 0;
	int64_t k = arena_add(&b->arena, key, kl);
	if (k < 0 ||
	    map_put(m, b->arena.buf, hash_str(key, kl, 0), 0, (uint32_t)k, (uint32_t)kl, 1) < 0) {
		b->failed = true;
		return -1;
	}
	b->n_tls_hosts++;
	return 1;
}

int route_builder_set_host_default(struct route_builder *b, const char *host, uint32_t pool,
				   const char *ns, const char *ingress)
{
	int32_t e = entry_for(b, host);
	if (e < 0 || pool >= b->n_pools)
		return -1;
	if (b->entries[e].default_tgt >= 0)
		return 0;
	int32_t t = add_target(b, pool, ROUTE_PREFIX, true, ns, ingress, host, "");
	if (t < 0)
		return -1;
	b->entries[e].default_tgt = t;
	return 1;
}

int route_builder_set_catch_all(struct route_builder *b, uint32_t pool, const char *ns,
				const char *ingress)
{
	if (b->catch_all >= 0)
		return 0;
	b->catch_all = add_target(b, pool, ROUTE_PREFIX, true, ns, ingress, "", "");
	return b->catch_all >= 0 ? 1 : -1;
}

void route_builder_set_class_default(struct route_builder *b, uint32_t pool)
{
	b->class_default = add_target(b, pool, ROUTE_PREFIX, true, "", "", "", "");
}

struct route_table *route_builder_finish(struct route_builder *b)
{
	if (b == NULL)
		return NULL;
	if (b->failed) {
		route_builder_free(b);
		return NULL;
	}
	struct route_table *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		route_builder_free(b);
		return NULL;
	}
	t->b = *b;
	free(b);
	const char *A = t->b.arena.buf;
	t->targets = calloc(t->b.n_targets ? t->b.n_targets : 1, sizeof(*t->targets));
	t->pools = calloc(t->b.n_pools ? t->b.n_pools : 1, sizeof(*t->pools));
	if (t->targets == NULL || t->pools == NULL) {
		route_table_free(t);
		return NULL;
	}
	for (uint32_t i = 0; i < t->b.n_targets; i++) {
		const struct target_rec *r = &t->b.targets[i];
		t->targets[i] = (struct route_target){
			.pool = r->pool,
			.path_type = r->type,
			.default_backend = r->default_backend,
			.passthrough = r->passthrough,
			.namespace_ = A + r->ns,
			.ingress = A + r->ingress,
			.rule_host = A + r->rule_host,
			.rule_path = A + r->rule_path,
		};
	}
	for (uint32_t i = 0; i < t->b.n_pools; i++) {
		const struct pool_rec *p = &t->b.pools[i];
		t->pools[i] = (struct route_pool){
			.lb = {.endpoints = t->b.eps + p->first_ep,
			       .n_endpoints = p->n_eps,
			       .algorithm = p->algorithm},
			.namespace_ = A + p->ns,
			.service = A + p->service,
			.port = A + p->port,
			.hash_header = A + p->hash_header,
			.proxy_v2 = p->proxy_v2,
			.id = pool_id(A + p->ns, A + p->service, A + p->port),
			.split = A + p->split,
		};
		lb_pool_build(&t->pools[i].lb);
	}
	return t;
}

void route_table_set_series(struct route_table *t, route_series_fn series, void *arg)
{
	for (uint32_t i = 0; i < t->b.n_targets; i++)
		t->targets[i].series = series(&t->targets[i], &t->pools[t->targets[i].pool], arg);
}

void route_table_free(struct route_table *t)
{
	if (t == NULL)
		return;
	for (uint32_t i = 0; t->pools && i < t->b.n_pools; i++)
		lb_pool_release(&t->pools[i].lb);
	builder_release(&t->b);
	free(t->targets);
	free(t->pools);
	free(t);
}

const struct route_pool *route_pool(const struct route_table *t, uint32_t index)
{
	return index < t->b.n_pools ? &t->pools[index] : NULL;
}

uint32_t route_pool_count(const struct route_table *t)
{
	return t->b.n_pools;
}

uint32_t route_rule_count(const struct route_table *t)
{
	return t->b.n_rules;
}

uint32_t route_passthrough_count(const struct route_table *t)
{
	return t->b.n_passthrough;
}

/* ---- lookup ------------------------------------------------------------------------------- */

#define MAX_BOUNDARIES 64

const struct route_target *route_lookup(const struct route_table *t, const char *host,
					size_t host_len, const char *path, size_t path_len)
{
	const struct route_builder *b = &t->b;
	const char *A = b->arena.buf;

	/* Host: lower-case, port stripped ("[v6]:443" keeps its brackets). */
	char h[256];
	size_t hl = 0;
	if (host_len > 0 && host[0] == '[') {
		while (hl < host_len && hl < 255 && host[hl] != ']') {
			h[hl] = (char)tolower((unsigned char)host[hl]);
			hl++;
		}
		if (hl < host_len && hl < 255)
			h[hl++] = ']';
	} else {
		while (hl < host_len && hl < 255 && host[hl] != ':') {
			h[hl] = (char)tolower((unsigned char)host[hl]);
			hl++;
		}
	}
	if (hl > 0 && h[hl - 1] == '.')
		hl--; /* a fully qualified "foo.com." is "foo.com" */

	int32_t e = -1;
	if (hl > 0) {
		e = map_get(&b->hosts, A, hash_str(h, hl, 0), 0, h, hl);
		if (e < 0) {
			const char *dot = memchr(h, '.', hl);
			if (dot && dot > h) {
				size_t sl = hl - (size_t)(dot + 1 - h);
				e = map_get(&b->wild, A, hash_str(dot + 1, sl, 0), 0, dot + 1, sl);
			}
		}
	}
	if (e < 0)
		e = b->any_host;

	if (e >= 0) {
		/* One pass over the path: FNV state at each '/' (the prefix before it). */
		uint64_t states[MAX_BOUNDARIES];
		uint32_t ends[MAX_BOUNDARIES];
		uint32_t nb = 0;
		uint64_t st = FNV_OFFSET;
		for (size_t i = 0; i < path_len; i++) {
			if (path[i] == '/' && nb < MAX_BOUNDARIES) {
				states[nb] = st;
				ends[nb++] = (uint32_t)i;
			}
			st = fnv_step(st, (uint8_t)path[i]);
		}
		int32_t x = map_get(&b->exact, A, fnv_finish(st, (uint32_t)e), (uint32_t)e, path,
				    path_len);
		if (x >= 0)
			return &t->targets[x];
		/* Prefix: the whole path (a trailing '/' is a boundary already), then each
		 * boundary from the longest down to the root (the empty key). */
		int32_t max = b->entries[e].max_prefix_segs;
		if (path_len > 0 && path[path_len - 1] != '/' && (int32_t)nb <= max) {
			x = map_get(&b->prefix, A, fnv_finish(st, (uint32_t)e), (uint32_t)e, path,
				    path_len);
			if (x >= 0)
				return &t->targets[x];
		}
		/* Boundary k ends a prefix of k segments. */
		uint32_t top = max < 0 ? 0 : ((int32_t)nb < max + 1 ? nb : (uint32_t)max + 1);
		for (uint32_t k = top; k-- > 0;) {
			x = map_get(&b->prefix, A, fnv_finish(states[k], (uint32_t)e), (uint32_t)e,
				    path, ends[k]);
			if (x >= 0)
				return &t->targets[x];
		}
		if (b->entries[e].default_tgt >= 0)
			return &t->targets[b->entries[e].default_tgt];
	}
	if (b->catch_all >= 0)
		return &t->targets[b->catch_all];
	if (b->class_default >= 0)
		return &t->targets[b->class_default];
	return NULL;
}

const struct route_target *route_lookup_sni(const struct route_table *t, const char *name,
					    size_t len)
{
	const struct route_builder *b = &t->b;
	if (b->n_passthrough == 0 || len == 0 || len > 253)
		return NULL;
	char h[256];
	lower_copy(h, name, len);
	int32_t x = map_get(&b->sni, b->arena.buf, hash_str(h, len, 0), 0, h, len);
	if (x < 0) {
		const char *dot = memchr(h, '.', len);
		if (dot && dot > h) {
			size_t sl = len - (size_t)(dot + 1 - h);
			x = map_get(&b->sni_wild, b->arena.buf, hash_str(dot + 1, sl, 0), 0,
				    dot + 1, sl);
		}
	}
	return x >= 0 ? &t->targets[x] : NULL;
}

bool route_host_redirects(const struct route_table *t, const char *host, size_t len)
{
	const struct route_builder *b = &t->b;
	if (b->n_tls_hosts == 0 || len == 0 || host[0] == '[')
		return false;
	const char *colon = memchr(host, ':', len);
	if (colon)
		len = (size_t)(colon - host);
	while (len > 0 && host[len - 1] == '.')
		len--; /* "shop.example." is shop.example */
	if (len == 0 || len > 253)
		return false;
	char h[256];
	lower_copy(h, host, len);
	if (map_get(&b->tls, b->arena.buf, hash_str(h, len, 0), 0, h, len) >= 0)
		return true;
	const char *dot = memchr(h, '.', len);
	if (dot == NULL || dot == h)
		return false;
	size_t sl = len - (size_t)(dot + 1 - h);
	return map_get(&b->tls_wild, b->arena.buf, hash_str(dot + 1, sl, 0), 0, dot + 1, sl) >= 0;
}

/* ---- dump --------------------------------------------------------------------------------- */

void route_table_dump(const struct route_table *t, FILE *out)
{
	const struct route_builder *b = &t->b;
	const char *A = b->arena.buf;
	fprintf(out, "# %u rules, %u hosts, %u pools, %u passthrough hosts\n", b->n_rules,
		b->n_entries, b->n_pools, b->n_passthrough);
	for (uint32_t e = 0; e < b->n_entries; e++) {
		const char *name = A + b->entries[e].name;
		fprintf(out, "host %s\n", name[0] ? name : "*");
		const struct map *maps[2] = {&b->exact, &b->prefix};
		for (int mi = 0; mi < 2; mi++) {
			for (uint32_t i = 0; i <= maps[mi]->mask; i++) {
				const struct slot *s = &maps[mi]->slots[i];
				if (s->hash == 0 || s->scope != e)
					continue;
				const struct route_target *tg = &t->targets[s->value];
				const struct route_pool *p = &t->pools[tg->pool];
				fprintf(out, "  %-22s %-8s -> %s/%s:%s (%u endpoints)  [%s/%s]\n",
					tg->rule_path, mi == 0 ? "Exact" : "Prefix", p->namespace_,
					p->service, p->port, p->lb.n_endpoints, tg->namespace_,
					tg->ingress);
			}
		}
		if (b->entries[e].default_tgt >= 0) {
			const struct route_target *tg = &t->targets[b->entries[e].default_tgt];
			const struct route_pool *p = &t->pools[tg->pool];
			fprintf(out, "  (default)                       -> %s/%s:%s  [%s/%s]\n",
				p->namespace_, p->service, p->port, tg->namespace_, tg->ingress);
		}
	}
	for (uint32_t i = 0; i < b->n_targets; i++) {
		const struct route_target *tg = &t->targets[i];
		if (!tg->passthrough)
			continue;
		const struct route_pool *p = &t->pools[tg->pool];
		fprintf(out, "passthrough %s -> %s/%s:%s (%u endpoints)  [%s/%s]\n", tg->rule_host,
			p->namespace_, p->service, p->port, p->lb.n_endpoints, tg->namespace_,
			tg->ingress);
	}
	const int32_t extra[2] = {b->catch_all, b->class_default};
	const char *label[2] = {"catch-all", "class default"};
	for (int i = 0; i < 2; i++) {
		if (extra[i] < 0)
			continue;
		const struct route_target *tg = &t->targets[extra[i]];
		const struct route_pool *p = &t->pools[tg->pool];
		fprintf(out, "%s -> %s/%s:%s\n", label[i], p->namespace_, p->service, p->port);
	}
}
