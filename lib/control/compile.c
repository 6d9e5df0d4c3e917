/*
 * compile.c: model → route table, with the Ingress controller's rules.
 *
 * Order of work: pick our Ingresses (classes.c), sort them oldest first (then by
 * namespace/name) so that adding rules in that order makes the oldest win every conflict,
 * validate each Ingress whole — hosts, paths, path types, every backend resolvable to a Service
 * port — and only then add its rules. An Ingress with any problem is skipped whole and
 * reported: half an Ingress routing is harder to reason about than none.
 *
 * Class selection and precedence order: classes.c.
 *
 * Pools: each distinct (namespace, Service, port) referenced becomes one pool. Its endpoints
 * come from the EndpointSlices labelled kubernetes.io/service-name, merged and de-duplicated by
 * address and port. The slice port that serves a Service port is the one with the same name
 * (RFC-free Kubernetes convention: the slice port name is the Service port's name), and its
 * number is the resolved target port. A missing ready or serving condition counts as true, a
 * missing terminating as false. Ready endpoints are used; when none is ready, serving ones
 * (terminating pods still finishing their work) are, so a rollout never serves 503s it could
 * have avoided.
 */
#include "control/control.h"
#include "lb/lb.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/control-int.h"

/* ---- indexes: Services by namespace/name, EndpointSlices by namespace/service ------------- */

struct idx_ent {
	const char *ns;
	const char *name;
	json_t *j;
};

struct index {
	struct idx_ent *svc, *slices;
	size_t n_svc, n_slices;
};

static int cmp_ent(const void *a, const void *b)
{
	const struct idx_ent *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);
	return c ? c : strcmp(x->name, y->name);
}

static void index_build(const struct control_model *m, struct index *ix)
{
	size_t n = control_object_count(m);
	ix->svc = calloc(n + 1, sizeof(*ix->svc));
	ix->slices = calloc(n + 1, sizeof(*ix->slices));
	ix->n_svc = ix->n_slices = 0;
	if (ix->svc == NULL || ix->slices == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		json_t *o = control_object_at(m, i);
		if (strcmp(control__kind(m, i), "Service") == 0) {
			ix->svc[ix->n_svc++] =
				(struct idx_ent){control__ns(o), control__meta(o, "name"), o};
		} else if (strcmp(control__kind(m, i), "EndpointSlice") == 0) {
			const char *owner = control__str(
				json_object_get(json_object_get(o, "metadata"), "labels"),
				"kubernetes.io/service-name");
			if (owner)
				ix->slices[ix->n_slices++] =
					(struct idx_ent){control__ns(o), owner, o};
		}
	}
	qsort(ix->svc, ix->n_svc, sizeof(*ix->svc), cmp_ent);
	qsort(ix->slices, ix->n_slices, sizeof(*ix->slices), cmp_ent);
}

static void index_free(struct index *ix)
{
	free(ix->svc);
	free(ix->slices);
}

/* First entry >= (ns, name). */
static size_t lower_bound(const struct idx_ent *v, size_t n, const char *ns, const char *name)
{
	struct idx_ent key = {ns, name, NULL};
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_ent(&v[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static json_t *index_service(const struct index *ix, const char *ns, const char *name)
{
	size_t i = lower_bound(ix->svc, ix->n_svc, ns, name);
	if (i < ix->n_svc && strcmp(ix->svc[i].ns, ns) == 0 && strcmp(ix->svc[i].name, name) == 0)
		return ix->svc[i].j;
	return NULL;
}

/* ---- pools -------------------------------------------------------------------------------- */

struct compile {
	const struct control_model *m;
	struct index ix;
	struct route_builder *b;
	struct control_errors *errs;
	json_t *pool_index;    /* "ns/svc:port" → pool index (jansson's object is a hash table) */
	enum lb_algorithm alg; /* of the Ingress being compiled */
	const char *hash_header; /* of the Ingress being compiled ("" = client address) */
	bool proxy_v2;		 /* of the Ingress being compiled */
	enum lb_algorithm default_alg;
};

static int cond_true(json_t *conds, const char *key, bool missing)
{
	json_t *v = json_object_get(conds, key);
	if (v == NULL || json_is_null(v))
		return missing;
	return json_is_true(v);
}

/* Collect the endpoints of Service ns/svc for the Service port named port_name. */
static uint32_t collect_endpoints(const struct index *ix, const char *ns, const char *svc,
				  const char *port_name, struct lb_endpoint **out)
{
	struct lb_endpoint *eps = NULL;
	uint32_t n = 0, cap = 0;
	for (size_t i = lower_bound(ix->slices, ix->n_slices, ns, svc);
	     i < ix->n_slices && strcmp(ix->slices[i].ns, ns) == 0 &&
	     strcmp(ix->slices[i].name, svc) == 0;
	     i++) {
		json_t *sl = ix->slices[i].j;
		const char *at = control__str(sl, "addressType");
		if (at == NULL || strcmp(at, "IPv4") != 0)
			continue; /* IPv6 pools come with the IPv6 data path */
		int64_t port = -1;
		size_t k;
		json_t *p;
		json_array_foreach(json_object_get(sl, "ports"), k, p)
		{
			const char *pn = control__str(p, "name");
			if (strcmp(pn ? pn : "", port_name) == 0 &&
			    json_is_integer(json_object_get(p, "port")))
				port = json_integer_value(json_object_get(p, "port"));
		}
		if (port < 1 || port > 65535)
			continue;
		json_t *ep;
		json_array_foreach(json_object_get(sl, "endpoints"), k, ep)
		{
			json_t *conds = json_object_get(ep, "conditions");
			size_t a;
			json_t *addr;
			json_array_foreach(json_object_get(ep, "addresses"), a, addr)
			{
				struct in_addr ia;
				if (!json_is_string(addr) ||
				    inet_pton(AF_INET, json_string_value(addr), &ia) != 1)
					continue;
				bool dup = false;
				for (uint32_t d = 0; d < n; d++)
					dup |= eps[d].addr == ia.s_addr && eps[d].port == port;
				if (dup)
					continue;
				if (n == cap) {
					cap = cap ? cap * 2 : 8;
					struct lb_endpoint *ne = realloc(eps, cap * sizeof(*ne));
					if (ne == NULL)
						break;
					eps = ne;
				}
				eps[n++] = (struct lb_endpoint){
					.addr = ia.s_addr,
					.port = (uint16_t)port,
					.ready = cond_true(conds, "ready", true),
					.serving = cond_true(conds, "serving", true),
					.terminating = cond_true(conds, "terminating", false),
				};
			}
		}
	}
	/* Ready ones; if none, serving ones (terminating included). */
	uint32_t ready = 0;
	for (uint32_t i = 0; i < n; i++)
		ready += eps[i].ready;
	uint32_t kept = 0;
	for (uint32_t i = 0; i < n; i++)
		if (ready ? eps[i].ready : eps[i].serving)
			eps[kept++] = eps[i];
	*out = eps;
	return kept;
}

/*
 * Resolve a backend {service: {name, port: {number|name}}} of an object in namespace ns.
 * Returns the pool index, or -1 with *why set (a static or malloc'd message written to buf).
 */
static int64_t resolve_backend(struct compile *cc, const char *ns, json_t *backend, char *why,
			       size_t whylen)
{
	if (json_object_get(backend, "resource")) {
		snprintf(why, whylen, "resource backends are not supported; use a Service");
		return -1;
	}
	json_t *svc = json_object_get(backend, "service");
	const char *name = control__str(svc, "name");
	json_t *port = json_object_get(svc, "port");
	if (name == NULL) {
		snprintf(why, whylen, "service.name: missing");
		return -1;
	}
	json_t *pnum = json_object_get(port, "number");
	const char *pname = control__str(port, "name");
	if (!(json_is_integer(pnum) || pname) || (pnum && !json_is_integer(pnum))) {
		snprintf(why, whylen, "service.port: expected number (integer) or name");
		return -1;
	}
	char key[512];
	if (pname)
		snprintf(key, sizeof(key), "%s/%s:%s", ns, name, pname);
	else
		snprintf(key, sizeof(key), "%s/%s:%lld", ns, name,
			 (long long)json_integer_value(pnum));
	char portstr[64];
	snprintf(portstr, sizeof(portstr), "%s", strrchr(key, ':') + 1);
	/* The same Service port balanced two ways is two pools. */
	size_t kl = strlen(key);
	snprintf(key + kl, sizeof(key) - kl, "#%d%s%s", (int)cc->alg, cc->proxy_v2 ? "#pp2" : "",
		 cc->hash_header);
	json_t *known = json_object_get(cc->pool_index, key);
	if (known)
		return json_integer_value(known);

	json_t *service = index_service(&cc->ix, ns, name);
	if (service == NULL) {
		snprintf(why, whylen, "Service %s/%s does not exist", ns, name);
		return -1;
	}
	json_t *sp = NULL, *p;
	size_t k;
	char ports[256] = "";
	size_t used = 0;
	json_array_foreach(json_object_get(json_object_get(service, "spec"), "ports"), k, p)
	{
		const char *n = control__str(p, "name");
		json_int_t num = json_integer_value(json_object_get(p, "port"));
		int w = snprintf(ports + used, sizeof(ports) - used, "%s%lld%s%s", used ? ", " : "",
				 (long long)num, n ? "/" : "", n ? n : "");
		if (w > 0 && (size_t)w < sizeof(ports) - used)
			used += (size_t)w;
		if ((pname && n && strcmp(n, pname) == 0) ||
		    (!pname && num == json_integer_value(pnum)))
			sp = p;
	}
	if (sp == NULL) {
		snprintf(why, whylen, "Service %s/%s has no port %s (it has: %s)", ns, name,
			 portstr, used ? ports : "none");
		return -1;
	}
	const char *sp_name = control__str(sp, "name");
	struct lb_endpoint *eps = NULL;
	uint32_t n = collect_endpoints(&cc->ix, ns, name, sp_name ? sp_name : "", &eps);
	*strrchr(key, '#') = '\0';
	uint32_t idx = route_builder_add_pool(cc->b, ns, name, strrchr(key, ':') + 1, eps, n);
	route_builder_set_pool_algorithm(cc->b, idx, (uint8_t)cc->alg);
	if (cc->alg == LB_MAGLEV && cc->hash_header[0])
		route_builder_set_pool_hash_header(cc->b, idx, cc->hash_header);
	route_builder_set_pool_proxy_v2(cc->b, idx, cc->proxy_v2);
	snprintf(key + strlen(key), sizeof(key) - strlen(key), "#%d%s%s", (int)cc->alg,
		 cc->proxy_v2 ? "#pp2" : "", cc->hash_header);
	free(eps);
	json_object_set_new(cc->pool_index, key, json_integer(idx));
	return idx;
}

/*
 * The pool for a rule with a canary: the primary's endpoints and the canary's, weighted so the
 * canary Service gets weight % of requests whatever the two pod counts. When one side has no
 * endpoints the other takes everything (availability first). Under Maglev the split is sticky
 * per key.
 */
static uint32_t split_pool(struct compile *cc, uint32_t primary, uint32_t canary, int weight)
{
	char key[128];
	snprintf(key, sizeof(key), "split:%u:%u:%d:%d:%d%s", primary, canary, weight, (int)cc->alg,
		 (int)cc->proxy_v2, cc->hash_header);
	json_t *known = json_object_get(cc->pool_index, key);
	if (known)
		return (uint32_t)json_integer_value(known);
	uint32_t n1, n2;
	const struct lb_endpoint *e1 = route_builder_pool_endpoints(cc->b, primary, &n1);
	const struct lb_endpoint *e2 = route_builder_pool_endpoints(cc->b, canary, &n2);
	struct lb_endpoint *eps = calloc((size_t)n1 + n2 + 1, sizeof(*eps));
	uint32_t n = 0;
	/* A 0 % canary takes nothing, a 100 % one everything (weights 0 mean 1 in the table). */
	if (weight == 0 && n1)
		n2 = 0;
	if (weight == 100 && n2)
		n1 = 0;
	for (uint32_t i = 0; eps && i < n1; i++) {
		eps[n] = e1[i];
		eps[n++].weight = n2 ? (uint32_t)(100 - weight) * n2 : 1;
	}
	for (uint32_t i = 0; eps && i < n2; i++) {
		eps[n] = e2[i];
		eps[n++].weight = n1 ? (uint32_t)weight * n1 : 1;
	}
	char ns[256] = "", svc[256] = "", port[256] = "", cns[256] = "", csvc[256] = "", cport[256];
	route_builder_pool_names(cc->b, primary, ns, svc, port, sizeof(ns));
	route_builder_pool_names(cc->b, canary, cns, csvc, cport, sizeof(cns));
	char desc[600];
	snprintf(desc, sizeof(desc), "%s=%d,%s=%d", svc, 100 - weight, csvc, weight);
	uint32_t idx = route_builder_add_pool(cc->b, ns, svc, port, eps, eps ? n : 0);
	free(eps);
	route_builder_set_pool_algorithm(cc->b, idx,
					 (uint8_t)(cc->alg == LB_MAGLEV ? LB_MAGLEV : LB_WEIGHTED));
	if (cc->alg == LB_MAGLEV && cc->hash_header[0])
		route_builder_set_pool_hash_header(cc->b, idx, cc->hash_header);
	route_builder_set_pool_split(cc->b, idx, desc);
	route_builder_set_pool_proxy_v2(cc->b, idx, cc->proxy_v2);
	json_object_set_new(cc->pool_index, key, json_integer(idx));
	return idx;
}

/* sluice.dev/canary-weight: -1 when absent, -2 when invalid (reported), else 0–100. */
static int canary_weight(struct compile *cc, json_t *ing, const char *ns, const char *name)
{
	const char *v = control__annotation(ing, "sluice.dev/canary-weight");
	if (v == NULL)
		return -1;
	char *end;
	long w = strtol(v, &end, 10);
	if (end == v || *end != '\0' || w < 0 || w > 100) {
		control_errors_add(cc->errs,
				   "Ingress %s/%s: annotation sluice.dev/canary-weight: \"%s\": "
				   "expected an integer from 0 to 100; Ingress skipped",
				   ns, name, v);
		return -2;
	}
	return (int)w;
}

static void rule_key(char *key, size_t len, const char *host, const char *path,
		     enum route_path_type t)
{
	snprintf(key, len, "%s\x1f%s\x1f%d", host, path, (int)t);
}

/* ---- ingresses ---------------------------------------------------------------------------- */

struct ing {
	json_t *j;
	const char *ns;
	const char *name;
	bool canary;
};

struct rule {
	const char *host;
	const char *path;
	enum route_path_type type;
	uint32_t pool;
};

static bool path_type_of(const char *s, enum route_path_type *t)
{
	if (s == NULL)
		return false;
	if (strcmp(s, "Exact") == 0)
		*t = ROUTE_EXACT;
	else if (strcmp(s, "Prefix") == 0)
		*t = ROUTE_PREFIX;
	else if (strcmp(s, "ImplementationSpecific") == 0)
		*t = ROUTE_IMPL_SPECIFIC;
	else
		return false;
	return true;
}

/* An HTTP field name (RFC 9110 token), at most 64 bytes. */
static bool header_name_valid(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') ||
		      (h[i] >= '0' && h[i] <= '9') || strchr("!#$%&'*+-.^_`|~", h[i])))
			return false;
	return true;
}

/* Validate one Ingress whole; on success fill rules (caller frees) and return their count. */
static int ingress_rules(struct compile *cc, const struct ing *in, struct rule **out,
			 int64_t *def_pool)
{
	json_t *spec = json_object_get(in->j, "spec");
	char why[512];
	struct rule *rules = NULL;
	size_t n = 0, cap = 0;
	*def_pool = -1;
#define FAIL(...)                                                                                  \
	do {                                                                                       \
		char msg_[768];                                                                    \
		snprintf(msg_, sizeof(msg_), __VA_ARGS__);                                         \
		control_errors_add(cc->errs, "Ingress %s/%s: %s; Ingress skipped", in->ns,         \
				   in->name, msg_);                                                \
		free(rules);                                                                       \
		return -1;                                                                         \
	} while (0)

	cc->alg = cc->default_alg;
	cc->hash_header = "";
	const char *lbv = control__annotation(in->j, "sluice.dev/load-balance");
	if (lbv && !lb_algorithm_parse(lbv, &cc->alg)) {
		control_errors_add(
			cc->errs,
			"Ingress %s/%s: annotation sluice.dev/load-balance: \"%s\" is not "
			"known; use round-robin, weighted, least-request or maglev; %s "
			"used",
			in->ns, in->name, lbv, lb_algorithm_name(cc->default_alg));
		cc->alg = cc->default_alg;
	}
	cc->proxy_v2 = false;
	const char *pp = control__annotation(in->j, "sluice.dev/proxy-protocol");
	if (pp && strcmp(pp, "v2") == 0)
		cc->proxy_v2 = true;
	else if (pp)
		control_errors_add(cc->errs,
				   "Ingress %s/%s: annotation sluice.dev/proxy-protocol: \"%s\": "
				   "expected \"v2\"; no PROXY header sent",
				   in->ns, in->name, pp);
	const char *hh = control__annotation(in->j, "sluice.dev/hash-header");
	if (hh && !header_name_valid(hh)) {
		control_errors_add(
			cc->errs,
			"Ingress %s/%s: annotation sluice.dev/hash-header: \"%s\" is not "
			"a header name; hashing on the client address",
			in->ns, in->name, hh);
	} else if (hh && cc->alg != LB_MAGLEV) {
		control_errors_add(cc->errs,
				   "Ingress %s/%s: annotation sluice.dev/hash-header needs "
				   "sluice.dev/load-balance: maglev; ignored",
				   in->ns, in->name);
	} else if (hh) {
		cc->hash_header = hh;
	}
	json_t *db = json_object_get(spec, "defaultBackend");
	if (db) {
		*def_pool = resolve_backend(cc, in->ns, db, why, sizeof(why));
		if (*def_pool < 0)
			FAIL("spec.defaultBackend: %s", why);
	}
	json_t *rl = json_object_get(spec, "rules");
	if (rl && !json_is_array(rl))
		FAIL("spec.rules: expected a list");
	size_t ri;
	json_t *r;
	json_array_foreach(rl, ri, r)
	{
		json_t *hv = json_object_get(r, "host");
		if (hv && !json_is_string(hv))
			FAIL("spec.rules[%zu].host: expected a string", ri);
		const char *host = hv ? json_string_value(hv) : "";
		if (!route_host_valid(host))
			FAIL("spec.rules[%zu].host: \"%s\" is not a valid host (a DNS name, or "
			     "\"*.\" and a DNS name)",
			     ri, host);
		json_t *paths = json_object_get(json_object_get(r, "http"), "paths");
		if (json_object_get(r, "http") && !json_is_array(paths))
			FAIL("spec.rules[%zu].http.paths: expected a list", ri);
		size_t pi;
		json_t *p;
		json_array_foreach(paths, pi, p)
		{
			const char *path = control__str(p, "path");
			enum route_path_type t;
			if (!path_type_of(control__str(p, "pathType"), &t))
				FAIL("spec.rules[%zu].http.paths[%zu].pathType: expected Exact, "
				     "Prefix or ImplementationSpecific",
				     ri, pi);
			if (path == NULL && t != ROUTE_IMPL_SPECIFIC)
				FAIL("spec.rules[%zu].http.paths[%zu].path: missing", ri, pi);
			if (path == NULL)
				path = "/";
			if (!route_path_valid(path, t))
				FAIL("spec.rules[%zu].http.paths[%zu].path: \"%s\" must start with "
				     "'/' and hold no spaces, '?' or '#'",
				     ri, pi, path);
			int64_t pool = resolve_backend(cc, in->ns, json_object_get(p, "backend"),
						       why, sizeof(why));
			if (pool < 0)
				FAIL("spec.rules[%zu].http.paths[%zu].backend: %s", ri, pi, why);
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				struct rule *nr = realloc(rules, cap * sizeof(*nr));
				if (nr == NULL)
					FAIL("out of memory");
				rules = nr;
			}
			rules[n++] = (struct rule){host, path, t, (uint32_t)pool};
		}
	}
#undef FAIL
	*out = rules;
	return (int)n;
}

/*
 * sluice.dev/ssl-passthrough: "true": each host of the Ingress's rules is also routed by TLS
 * server name on the TLS listeners, without termination, to the backend of its path "/"
 * (Prefix or ImplementationSpecific), else to the Ingress's defaultBackend. Its HTTP rules
 * still serve plain HTTP as usual.
 */
static void passthrough_hosts(struct compile *cc, const struct ing *in, const struct rule *rules,
			      int nr, int64_t def)
{
	const char *v = control__annotation(in->j, "sluice.dev/ssl-passthrough");
	if (v == NULL || strcmp(v, "false") == 0)
		return;
	if (strcmp(v, "true") != 0) {
		control_errors_add(cc->errs,
				   "Ingress %s/%s: annotation sluice.dev/ssl-passthrough: \"%s\": "
				   "expected \"true\" or \"false\"; no passthrough",
				   in->ns, in->name, v);
		return;
	}
	json_t *r;
	size_t ri;
	json_array_foreach(json_object_get(json_object_get(in->j, "spec"), "rules"), ri, r)
	{
		const char *host = control__str(r, "host");
		if (host == NULL || host[0] == '\0') {
			control_errors_add(cc->errs,
					   "Ingress %s/%s: spec.rules[%zu]: ssl-passthrough routes "
					   "by TLS server name and needs a host; rule not passed "
					   "through",
					   in->ns, in->name, ri);
			continue;
		}
		int64_t pool = def;
		for (int k = 0; k < nr; k++)
			if (strcmp(rules[k].host, host) == 0 && strcmp(rules[k].path, "/") == 0 &&
			    rules[k].type != ROUTE_EXACT) {
				pool = rules[k].pool;
				break;
			}
		if (pool < 0) {
			control_errors_add(cc->errs,
					   "Ingress %s/%s: host \"%s\": ssl-passthrough needs a "
					   "path \"/\" (Prefix) or a defaultBackend; not passed "
					   "through",
					   in->ns, in->name, host);
			continue;
		}
		int rc = route_builder_add_passthrough(cc->b, host, (uint32_t)pool, in->ns,
						       in->name);
		if (rc == 0)
			control_errors_add(cc->errs,
					   "Ingress %s/%s: host \"%s\" is already passed through "
					   "by an older Ingress; ignored here",
					   in->ns, in->name, host);
	}
}

/*
 * HTTP→HTTPS redirect, as ingress-nginx's ssl-redirect: the hosts of the Ingress's spec.tls
 * entries (an entry without hosts: the rule hosts) get the gateway's 308 on plain HTTP, unless
 * the Ingress says sluice.dev/ssl-redirect: "false". Per host: a host some Ingress serves over
 * TLS redirects whichever Ingress routes its paths.
 */
static void tls_redirect_hosts(struct compile *cc, const struct ing *in)
{
	json_t *tls = json_object_get(json_object_get(in->j, "spec"), "tls");
	if (!json_is_array(tls) || json_array_size(tls) == 0)
		return;
	const char *v = control__annotation(in->j, "sluice.dev/ssl-redirect");
	if (v && strcmp(v, "false") == 0)
		return;
	if (v && strcmp(v, "true") != 0)
		control_errors_add(cc->errs,
				   "Ingress %s/%s: annotation sluice.dev/ssl-redirect: \"%s\": "
				   "expected \"true\" or \"false\"; redirecting",
				   in->ns, in->name, v);
	json_t *e, *h;
	size_t ei, hi;
	json_array_foreach(tls, ei, e)
	{
		json_t *hosts = json_object_get(e, "hosts");
		bool own = json_array_size(hosts) > 0;
		if (!own)
			hosts = json_object_get(json_object_get(in->j, "spec"), "rules");
		json_array_foreach(hosts, hi, h)
		{
			const char *host = own ? json_string_value(h) : control__str(h, "host");
			if (host && host[0])
				route_builder_add_tls_host(cc->b,
							   host); /* invalid: spec.tls says */
		}
	}
}

struct route_table *control_compile(const struct control_model *m, const struct control_class *c,
				    struct control_errors *errs)
{
	struct compile cc = {.m = m,
			     .b = route_builder_new(),
			     .errs = errs,
			     .pool_index = json_object(),
			     .hash_header = ""};
	if (cc.b == NULL)
		return NULL;
	if (c->load_balance && c->load_balance[0] &&
	    !lb_algorithm_parse(c->load_balance, &cc.default_alg))
		control_errors_add(errs, "load balancing \"%s\" is not known; round-robin used",
				   c->load_balance);
	index_build(m, &cc.ix);
	size_t n = 0;
	json_t **ours = control_ingresses_of_class(m, c, &n);
	struct ing *ings = calloc(n + 1, sizeof(*ings));
	for (size_t i = 0; ours && ings && i < n; i++)
		ings[i] =
			(struct ing){ours[i], control__ns(ours[i]), control__meta(ours[i], "name")};
	free(ours);
	if (ings == NULL)
		n = 0;

	/* Canaries first: their rules do not route by themselves; each joins the rule of a
	 * primary Ingress with the same host, path and pathType as a weighted share. */
	json_t *canaries = json_object(); /* rule key → {pool, weight, ns, name, used} */
	for (size_t i = 0; i < n; i++) {
		int w = canary_weight(&cc, ings[i].j, ings[i].ns, ings[i].name);
		ings[i].canary = w != -1;
		if (w < 0)
			continue;
		struct rule *rules = NULL;
		int64_t def = -1;
		int nr = ingress_rules(&cc, &ings[i], &rules, &def);
		for (int k = 0; k < nr; k++) {
			char key[1200];
			rule_key(key, sizeof(key), rules[k].host, rules[k].path, rules[k].type);
			json_t *prev = json_object_get(canaries, key);
			if (prev) {
				control_errors_add(
					errs,
					"Ingress %s/%s: canary for host \"%s\" path \"%s\" (%s): "
					"Ingress %s/%s is the canary there already; ignored",
					ings[i].ns, ings[i].name, rules[k].host, rules[k].path,
					route_path_type_name(rules[k].type),
					json_string_value(json_object_get(prev, "ns")),
					json_string_value(json_object_get(prev, "name")));
				continue;
			}
			json_object_set_new(canaries, key,
					    json_pack("{s:I,s:i,s:s,s:s,s:b,s:s,s:s,s:i}", "pool",
						      (json_int_t)rules[k].pool, "weight", w, "ns",
						      ings[i].ns, "name", ings[i].name, "used", 0,
						      "host", rules[k].host, "path", rules[k].path,
						      "type", (int)rules[k].type));
		}
		free(rules);
	}

	for (size_t i = 0; i < n; i++) {
		if (ings[i].canary)
			continue;
		struct rule *rules = NULL;
		int64_t def = -1;
		int nr = ingress_rules(&cc, &ings[i], &rules, &def);
		if (nr < 0)
			continue;
		for (int k = 0; k < nr; k++) {
			char key[1200];
			rule_key(key, sizeof(key), rules[k].host, rules[k].path, rules[k].type);
			json_t *can = json_object_get(canaries, key);
			if (can && !json_is_true(json_object_get(can, "used"))) {
				rules[k].pool = split_pool(
					&cc, rules[k].pool,
					(uint32_t)json_integer_value(json_object_get(can, "pool")),
					(int)json_integer_value(json_object_get(can, "weight")));
				json_object_set_new(can, "used", json_true());
			}
			int rc = route_builder_add_rule(cc.b, rules[k].host, rules[k].path,
							rules[k].type, rules[k].pool, ings[i].ns,
							ings[i].name);
			if (rc == 0)
				control_errors_add(errs,
						   "Ingress %s/%s: host \"%s\" path \"%s\" (%s) is "
						   "already routed by an older Ingress; this rule "
						   "is ignored",
						   ings[i].ns, ings[i].name, rules[k].host,
						   rules[k].path,
						   route_path_type_name(rules[k].type));
		}
		passthrough_hosts(&cc, &ings[i], rules, nr, def);
		tls_redirect_hosts(&cc, &ings[i]);
		if (def >= 0) {
			if (nr == 0 && json_array_size(json_object_get(
					       json_object_get(ings[i].j, "spec"), "rules")) == 0) {
				route_builder_set_catch_all(cc.b, (uint32_t)def, ings[i].ns,
							    ings[i].name);
			} else {
				/* Each host this Ingress declares gets its default backend. */
				json_t *r;
				size_t ri;
				json_array_foreach(
					json_object_get(json_object_get(ings[i].j, "spec"),
							"rules"),
					ri, r)
				{
					const char *h = control__str(r, "host");
					route_builder_set_host_default(cc.b, h ? h : "",
								       (uint32_t)def, ings[i].ns,
								       ings[i].name);
				}
			}
		}
		free(rules);
	}

	if (c->default_backend && c->default_backend[0]) {
		char ns[256], svc[256], port[64];
		const char *slash = strchr(c->default_backend, '/');
		const char *colon = strrchr(c->default_backend, ':');
		if (slash && colon && colon > slash &&
		    (size_t)(slash - c->default_backend) < sizeof(ns) &&
		    (size_t)(colon - slash - 1) < sizeof(svc) && strlen(colon + 1) < sizeof(port)) {
			snprintf(ns, sizeof(ns), "%.*s", (int)(slash - c->default_backend),
				 c->default_backend);
			snprintf(svc, sizeof(svc), "%.*s", (int)(colon - slash - 1), slash + 1);
			snprintf(port, sizeof(port), "%s", colon + 1);
			json_t *backend = json_pack(
				"{s:{s:s,s:o}}", "service", "name", svc, "port",
				port[0] >= '0' && port[0] <= '9'
					? json_pack("{s:I}", "number", (json_int_t)atoll(port))
					: json_pack("{s:s}", "name", port));
			char why[512];
			cc.alg = cc.default_alg;
			cc.hash_header = "";
			cc.proxy_v2 = false;
			int64_t p = resolve_backend(&cc, ns, backend, why, sizeof(why));
			json_decref(backend);
			if (p >= 0)
				route_builder_set_class_default(cc.b, (uint32_t)p);
			else
				control_errors_add(errs, "class default backend %s: %s; not used",
						   c->default_backend, why);
		} else {
			control_errors_add(errs,
					   "class default backend \"%s\": expected "
					   "NAMESPACE/SERVICE:PORT; not used",
					   c->default_backend);
		}
	}

	const char *ck;
	json_t *cv;
	json_object_foreach(canaries, ck, cv)
	{
		if (!json_is_true(json_object_get(cv, "used")))
			control_errors_add(
				errs,
				"Ingress %s/%s: canary for host \"%s\" path \"%s\" (%s) matches no "
				"rule of a non-canary Ingress; ignored",
				json_string_value(json_object_get(cv, "ns")),
				json_string_value(json_object_get(cv, "name")),
				json_string_value(json_object_get(cv, "host")),
				json_string_value(json_object_get(cv, "path")),
				route_path_type_name((enum route_path_type)json_integer_value(
					json_object_get(cv, "type"))));
	}
	json_decref(canaries);
	json_decref(cc.pool_index);
	free(ings);
	index_free(&cc.ix);
	return route_builder_finish(cc.b);
}
