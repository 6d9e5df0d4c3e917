/*
 * route: the compiled, immutable route table and its lookup (Kubernetes Ingress semantics).
 *
 * A table answers one question on the data path: for this Host and this (normalised) path,
 * which backend pool serves the request? It is built off the data path by a builder (usually
 * lib/control's compile step) and never changes afterwards, so workers read it without locks
 * and the management lcore swaps whole tables.
 *
 * Structure (docs/routing.md): an exact-host hash, a wildcard-suffix hash ("*.foo.com" is stored
 * under "foo.com" and matches exactly one extra label), a host-less entry for rules without a
 * host; per host entry an exact-path hash and a prefix hash keyed on whole path segments. A
 * lookup hashes the path once, incrementally, recording the hash at each '/' boundary, then
 * probes the exact map once and the prefix map from the longest boundary down. Its cost grows
 * with the path's length and never with the number of rules. Lookup does not allocate.
 *
 * Matching rules (Kubernetes networking.k8s.io/v1):
 *   - Exact matches the path exactly (case-sensitive); Prefix matches element-wise on '/',
 *     ignoring a trailing '/' on either side; ImplementationSpecific is treated as Prefix.
 *   - The longest match wins; at equal length Exact beats Prefix (an exact hit is never
 *     shorter than a prefix hit, so an exact hit always wins).
 *   - A host entry whose paths do not match falls to that entry's default backend (the
 *     defaultBackend of the oldest Ingress declaring the host), then to the catch-all (an
 *     Ingress with no rules), then to the class-wide default; otherwise no route (404).
 */
#ifndef SLUICE_ROUTE_H
#define SLUICE_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lb/lb.h"

enum route_path_type {
	ROUTE_EXACT,
	ROUTE_PREFIX,
	ROUTE_IMPL_SPECIFIC, /* matched as Prefix */
};

const char *route_path_type_name(enum route_path_type t);

/* A Service port's endpoints: what lb picks from, plus what the request path needs. */
struct route_pool {
	struct lb_pool lb; /* endpoints, algorithm and its tables */
	const char *namespace_;
	const char *service;
	const char *port;	 /* the Service port as the Ingress named it: a name or a number */
	const char *hash_header; /* Maglev key: this request header; "" = the client address */
	const char *split;	 /* "svc=90,canary=10" for a canary split, else "" */
	bool proxy_v2;		 /* a PROXY protocol v2 header precedes each connection's bytes */
	uint32_t id; /* the Service port it stands for (ns/service:port), equal across tables */
};

/* Where a request goes, and why (for the route checker and access logs). */
struct route_target {
	uint32_t pool; /* index into the table's pools */
	enum route_path_type path_type;
	bool default_backend; /* chosen because no path matched */
	bool passthrough;     /* a TLS name routed without termination (route_lookup_sni) */
	const char *namespace_;
	const char *ingress;
	const char *rule_host; /* "" for host-less rules and default backends */
	const char *rule_path; /* as written in the Ingress; "" for default backends */
	uint32_t series;       /* its metrics series (route_table_set_series); 0 until set */
};

struct route_table;

/*
 * Find the target for host and path. host may carry a port (":8080", "[v6]:443") and any case;
 * path must be normalised (lib/http) and carry no query. Returns NULL for no route (404).
 */
const struct route_target *route_lookup(const struct route_table *t, const char *host,
					size_t host_len, const char *path, size_t path_len);

/*
 * SNI passthrough: the target for a TLS server name (exact, then a "*." wildcard of one label;
 * any case; no port, no trailing dot). NULL when no passthrough Ingress names it.
 */
const struct route_target *route_lookup_sni(const struct route_table *t, const char *name,
					    size_t len);

const struct route_pool *route_pool(const struct route_table *t, uint32_t index);

/* Number every target's metrics series: series(target, its pool, arg). Called once by whoever
 * built the table, before it is published; the table is immutable afterwards. */
typedef uint32_t (*route_series_fn)(const struct route_target *t, const struct route_pool *p,
				    void *arg);
void route_table_set_series(struct route_table *t, route_series_fn series, void *arg);
uint32_t route_pool_count(const struct route_table *t);
uint32_t route_rule_count(const struct route_table *t);
uint32_t route_passthrough_count(const struct route_table *t);
/* Whether plain HTTP requests for host (as in a Host header: any case, maybe a port) are
 * redirected to HTTPS: the host, or its "*." wildcard, was added with route_builder_add_tls_host.
 */
bool route_host_redirects(const struct route_table *t, const char *host, size_t len);

/* ---- building ----------------------------------------------------------------------------- */

struct route_builder;

struct route_builder *route_builder_new(void);
void route_builder_free(struct route_builder *b);

/* Add a pool; returns its index. Strings and endpoints are copied. */
uint32_t route_builder_add_pool(struct route_builder *b, const char *ns, const char *service,
				const char *port, const struct lb_endpoint *eps, uint32_t n);
/* Choose the pool's algorithm (enum lb_algorithm); tables are built by finish. */
void route_builder_set_pool_algorithm(struct route_builder *b, uint32_t pool, uint8_t algorithm);
/* Maglev on a request header instead of the client address; a canary split's description. */
void route_builder_set_pool_hash_header(struct route_builder *b, uint32_t pool, const char *header);
void route_builder_set_pool_split(struct route_builder *b, uint32_t pool, const char *split);
void route_builder_set_pool_proxy_v2(struct route_builder *b, uint32_t pool, bool on);
/* A pool's endpoints so far (valid until the next add). */
const struct lb_endpoint *route_builder_pool_endpoints(const struct route_builder *b, uint32_t pool,
						       uint32_t *n);
/* A pool's namespace, service and port copied out (each buffer len bytes); false if no pool. */
bool route_builder_pool_names(const struct route_builder *b, uint32_t pool, char *ns, char *service,
			      char *port, size_t len);

/*
 * Add a rule: host ("" = any host; "*.foo.com" = wildcard; case-insensitive), path and type.
 * Rules must be added in precedence order: when the same host, path and type were added
 * before, the new rule is ignored and 0 returned (the caller reports the conflict); 1 when
 * added; -1 for an invalid host or path (the caller validated, so this is a bug guard).
 */
int route_builder_add_rule(struct route_builder *b, const char *host, const char *path,
			   enum route_path_type type, uint32_t pool, const char *ns,
			   const char *ingress);

/* A TLS name routed by SNI to pool without termination (host non-empty: exact or "*."). In
 * precedence order like rules: 1 added, 0 when an earlier call has the name, -1 invalid. */
int route_builder_add_passthrough(struct route_builder *b, const char *host, uint32_t pool,
				  const char *ns, const char *ingress);

/* HTTP→HTTPS redirect: a host (exact or "*.") that an Ingress's spec.tls serves, unless that
 * Ingress turned the redirect off. 1 added, 0 already there, -1 invalid. */
int route_builder_add_tls_host(struct route_builder *b, const char *host);

/* Default backend for a host's unmatched paths (host "" = the host-less entry). The first
 * call for a host wins; returns 0 if one was already set. */
int route_builder_set_host_default(struct route_builder *b, const char *host, uint32_t pool,
				   const char *ns, const char *ingress);

/* The catch-all (an Ingress with no rules) and the class-wide default. First call wins. */
int route_builder_set_catch_all(struct route_builder *b, uint32_t pool, const char *ns,
				const char *ingress);
void route_builder_set_class_default(struct route_builder *b, uint32_t pool);

/* Freeze into an immutable table. The builder is consumed (freed) either way. NULL only if
 * memory runs out. */
struct route_table *route_builder_finish(struct route_builder *b);

void route_table_free(struct route_table *t);

/* Write the table in a human-readable form (sluice route --dump). */
void route_table_dump(const struct route_table *t, FILE *out);

/* Validation helpers shared with the manifest compiler. */
bool route_host_valid(const char *host); /* DNS name, wildcard of one label, or IP */
bool route_path_valid(const char *path, enum route_path_type type);

#endif
