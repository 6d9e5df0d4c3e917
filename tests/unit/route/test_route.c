/*
 * Routing semantics, table-driven: every row of the Kubernetes documentation's path-matching
 * examples, wildcard hosts, precedence across Ingresses, default backends, named and numbered
 * ports, class selection, and bad manifests (each message asserted, the good ones still load).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "control/control.h"
#include "route/route.h"
#include "lb/lb.h"

#ifndef SOURCE_ROOT
#error "SOURCE_ROOT must point at the repository"
#endif

static struct control_model *model;
static struct control_errors errs;
static struct route_table *table;
static const struct control_class klass = {"sluice", "sluice.dev/ingress-controller", NULL};

static void setup(void)
{
	model = control_model_new();
	memset(&errs, 0, sizeof(errs));
	table = NULL;
}

static void teardown(void)
{
	route_table_free(table);
	control_model_free(model);
	control_errors_free(&errs);
}

TestSuite(route, .init = setup, .fini = teardown);

/* Add an object written as JSON (single quotes stand for double quotes, for readability). */
static void add(const char *fmt, ...)
{
	char buf[16384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (char *c = buf; *c; c++)
		if (*c == '\'')
			*c = '"';
	json_error_t je;
	json_t *j = json_loads(buf, 0, &je);
	cr_assert_not_null(j, "bad test JSON: %s: %s", je.text, buf);
	control_add_object(model, j, "test", &errs);
	json_decref(j);
}

/* A Service with ports http/80→8080 and metrics/9090, and one endpoint per given address. */
static void service(const char *ns, const char *name, const char *addr)
{
	add("{'apiVersion':'v1','kind':'Service','metadata':{'name':'%s','namespace':'%s'},"
	    "'spec':{'ports':[{'name':'http','port':80,'targetPort':8080},"
	    "{'name':'metrics','port':9090}]}}",
	    name, ns);
	add("{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':'%s-1',"
	    "'namespace':'%s','labels':{'kubernetes.io/service-name':'%s'}},'addressType':'IPv4',"
	    "'ports':[{'name':'http','port':8080},{'name':'metrics','port':9090}],"
	    "'endpoints':[{'addresses':['%s'],'conditions':{'ready':true}}]}",
	    name, ns, name, addr);
}

static void compile(void)
{
	route_table_free(table);
	table = control_compile(model, &klass, &errs);
	cr_assert_not_null(table);
}

/* Which service serves host+path ("-" for 404). */
static const char *where(const char *host, const char *path)
{
	const struct route_target *t = route_lookup(table, host, strlen(host), path, strlen(path));
	if (t == NULL)
		return "-";
	return route_pool(table, t->pool)->service;
}

static bool has_error(const char *needle)
{
	for (size_t i = 0; i < errs.n; i++)
		if (strstr(errs.msgs[i], needle))
			return true;
	return false;
}

static void dump_errors(void)
{
	for (size_t i = 0; i < errs.n; i++)
		cr_log_info("%s", errs.msgs[i]);
}

/* One Ingress with one rule per (path, type, service) triple, host h. */
static void ingress(const char *name, const char *ts, const char *host, const char *paths_json)
{
	add("{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'%s',"
	    "'namespace':'default','creationTimestamp':'%s'},'spec':{'ingressClassName':'sluice',"
	    "'rules':[{%s%s%s'http':{'paths':[%s]}}]}}",
	    name, ts, host ? "'host':'" : "", host ? host : "", host ? "'," : "", paths_json);
}

#define P(path, type, svc)                                                                         \
	"{'path':'" path "','pathType':'" type "','backend':{'service':{'name':'" svc              \
	"','port':{'number':80}}}}"

/* ---- the Kubernetes documentation's examples table ---------------------------------------- */

struct example {
	const char *paths; /* rule set */
	const char *request;
	const char *want; /* service or "-" */
};

Test(route, kubernetes_path_matching_examples)
{
	static const struct example rows[] = {
		{P("/", "Prefix", "a"), "/anything/at/all", "a"},
		{P("/foo", "Exact", "a"), "/foo", "a"},
		{P("/foo", "Exact", "a"), "/bar", "-"},
		{P("/foo", "Exact", "a"), "/foo/", "-"},
		{P("/foo/", "Exact", "a"), "/foo", "-"},
		{P("/foo", "Prefix", "a"), "/foo", "a"},
		{P("/foo", "Prefix", "a"), "/foo/", "a"},
		{P("/foo/", "Prefix", "a"), "/foo", "a"},
		{P("/foo/", "Prefix", "a"), "/foo/", "a"},
		{P("/aaa/bb", "Prefix", "a"), "/aaa/bbb", "-"},
		{P("/aaa/bbb", "Prefix", "a"), "/aaa/bbb", "a"},
		{P("/aaa/bbb/", "Prefix", "a"), "/aaa/bbb", "a"},
		{P("/aaa/bbb", "Prefix", "a"), "/aaa/bbb/", "a"},
		{P("/aaa/bbb", "Prefix", "a"), "/aaa/bbb/ccc", "a"},
		{P("/aaa/bbb", "Prefix", "a"), "/aaa/bbbxyz", "-"},
		{P("/", "Prefix", "a") "," P("/aaa", "Prefix", "b"), "/aaa/ccc", "b"},
		{P("/", "Prefix", "a") "," P("/aaa", "Prefix", "b") "," P("/aaa/bbb", "Prefix",
									  "c"),
		 "/aaa/bbb", "c"},
		{P("/", "Prefix", "a") "," P("/aaa", "Prefix", "b") "," P("/aaa/bbb", "Prefix",
									  "c"),
		 "/ccc", "a"},
		{P("/aaa", "Prefix", "a"), "/ccc", "-"},
		{P("/foo", "Prefix", "a") "," P("/foo", "Exact", "b"), "/foo", "b"},
		{P("/foo", "ImplementationSpecific", "a"), "/foo/bar", "a"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		teardown();
		setup();
		service("default", "a", "198.19.0.11");
		service("default", "b", "198.19.0.12");
		service("default", "c", "198.19.0.13");
		ingress("ex", "2026-01-01T00:00:00Z", "foo.example", rows[i].paths);
		compile();
		cr_assert_str_eq(where("foo.example", rows[i].request), rows[i].want,
				 "row %zu: %s on %s", i, rows[i].request, rows[i].paths);
	}
}

/* ---- hosts -------------------------------------------------------------------------------- */

Test(route, wildcard_matches_exactly_one_label)
{
	service("default", "a", "198.19.0.11");
	ingress("w", "2026-01-01T00:00:00Z", "*.foo.com", P("/", "Prefix", "a"));
	compile();
	cr_assert_str_eq(where("bar.foo.com", "/"), "a");
	cr_assert_str_eq(where("BAR.Foo.COM:8443", "/x"), "a");
	cr_assert_str_eq(where("foo.com", "/"), "-");
	cr_assert_str_eq(where("baz.bar.foo.com", "/"), "-");
}

Test(route, exact_host_beats_wildcard)
{
	service("default", "a", "198.19.0.11");
	service("default", "b", "198.19.0.12");
	ingress("w", "2026-01-01T00:00:00Z", "*.foo.com", P("/", "Prefix", "a"));
	ingress("e", "2026-01-02T00:00:00Z", "bar.foo.com", P("/", "Prefix", "b"));
	compile();
	cr_assert_str_eq(where("bar.foo.com", "/"), "b");
	cr_assert_str_eq(where("qux.foo.com", "/"), "a");
}

Test(route, host_is_case_insensitive_and_port_and_trailing_dot_are_ignored)
{
	service("default", "a", "198.19.0.11");
	ingress("h", "2026-01-01T00:00:00Z", "Shop.Example.com", P("/", "Prefix", "a"));
	compile();
	cr_assert_str_eq(where("shop.example.com", "/"), "a");
	cr_assert_str_eq(where("SHOP.EXAMPLE.COM:80", "/"), "a");
	cr_assert_str_eq(where("shop.example.com.", "/"), "a");
}

Test(route, rule_without_host_serves_any_host)
{
	service("default", "a", "198.19.0.11");
	ingress("any", "2026-01-01T00:00:00Z", NULL, P("/api", "Prefix", "a"));
	compile();
	cr_assert_str_eq(where("whatever.example", "/api/v1"), "a");
	cr_assert_str_eq(where("198.18.0.10", "/api"), "a");
	cr_assert_str_eq(where("whatever.example", "/web"), "-");
}

Test(route, ip_literal_host_rule)
{
	service("default", "a", "198.19.0.11");
	ingress("ip", "2026-01-01T00:00:00Z", "198.18.0.10", P("/", "Prefix", "a"));
	compile();
	cr_assert_str_eq(where("198.18.0.10:80", "/"), "a");
}

/* ---- precedence across Ingresses ---------------------------------------------------------- */

Test(route, oldest_ingress_wins_a_conflict_and_the_other_is_reported)
{
	service("default", "a", "198.19.0.11");
	service("default", "b", "198.19.0.12");
	ingress("newer", "2026-02-01T00:00:00Z", "foo.example", P("/x", "Prefix", "b"));
	ingress("older", "2026-01-01T00:00:00Z", "foo.example", P("/x", "Prefix", "a"));
	compile();
	cr_assert_str_eq(where("foo.example", "/x"), "a");
	cr_assert(has_error("Ingress default/newer: host \"foo.example\" path \"/x\" (Prefix) is "
			    "already routed by an older Ingress"));
}

Test(route, same_timestamp_resolves_by_namespace_then_name)
{
	service("default", "a", "198.19.0.11");
	service("default", "b", "198.19.0.12");
	ingress("zeta", "2026-01-01T00:00:00Z", "foo.example", P("/x", "Prefix", "b"));
	ingress("alpha", "2026-01-01T00:00:00Z", "foo.example", P("/x", "Prefix", "a"));
	compile();
	cr_assert_str_eq(where("foo.example", "/x"), "a");
}

Test(route, rules_merge_across_ingresses_of_one_host)
{
	service("default", "a", "198.19.0.11");
	service("default", "b", "198.19.0.12");
	ingress("one", "2026-01-01T00:00:00Z", "foo.example", P("/a", "Prefix", "a"));
	ingress("two", "2026-01-02T00:00:00Z", "foo.example", P("/b", "Prefix", "b"));
	compile();
	cr_assert_str_eq(where("foo.example", "/a/1"), "a");
	cr_assert_str_eq(where("foo.example", "/b/1"), "b");
}

/* ---- default backends --------------------------------------------------------------------- */

Test(route, ingress_default_backend_takes_its_hosts_unmatched_paths)
{
	service("default", "a", "198.19.0.11");
	service("default", "d", "198.19.0.14");
	add("{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'i',"
	    "'namespace':'default'},'spec':{'ingressClassName':'sluice','defaultBackend':"
	    "{'service':{'name':'d','port':{'number':80}}},'rules':[{'host':'foo.example','http':"
	    "{'paths':[" P("/api", "Prefix", "a") "]}}]}}");
	compile();
	cr_assert_str_eq(where("foo.example", "/api"), "a");
	cr_assert_str_eq(where("foo.example", "/other"), "d");
	const struct route_target *t = route_lookup(table, "foo.example", 11, "/other", 6);
	cr_assert(t->default_backend);
	cr_assert_str_eq(where("bar.example", "/other"), "-");
}

Test(route, ingress_without_rules_catches_every_host)
{
	service("default", "d", "198.19.0.14");
	service("default", "a", "198.19.0.11");
	add("{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'catch',"
	    "'namespace':'default'},'spec':{'ingressClassName':'sluice','defaultBackend':"
	    "{'service':{'name':'d','port':{'name':'http'}}}}}");
	ingress("foo", "2026-01-01T00:00:00Z", "foo.example", P("/a", "Exact", "a"));
	compile();
	cr_assert_str_eq(where("anything.example", "/x"), "d");
	cr_assert_str_eq(where("foo.example", "/a"), "a");
	cr_assert_str_eq(where("foo.example", "/b"), "d");
}

Test(route, class_default_backend_takes_the_rest)
{
	service("default", "a", "198.19.0.11");
	service("fallback", "d", "198.19.0.14");
	ingress("foo", "2026-01-01T00:00:00Z", "foo.example", P("/a", "Exact", "a"));
	struct control_class c = klass;
	c.default_backend = "fallback/d:http";
	table = control_compile(model, &c, &errs);
	cr_assert_str_eq(where("nothing.example", "/"), "d");
	cr_assert_str_eq(where("foo.example", "/a"), "a");
}

Test(route, class_default_backend_to_missing_service_is_reported)
{
	struct control_class c = klass;
	c.default_backend = "fallback/nope:80";
	table = control_compile(model, &c, &errs);
	cr_assert(has_error("class default backend fallback/nope:80: Service fallback/nope does "
			    "not exist; not used"));
	cr_assert_str_eq(where("x", "/"), "-");
}

/* ---- ports and endpoints ------------------------------------------------------------------ */

Test(route, port_by_name_and_number_resolve_to_the_target_port)
{
	service("default", "a", "198.19.0.11");
	ingress("n", "2026-01-01T00:00:00Z", "foo.example",
		"{'path':'/byname','pathType':'Prefix','backend':{'service':{'name':'a','port':"
		"{'name':'metrics'}}}}," P("/bynumber", "Prefix", "a"));
	compile();
	const struct route_target *t = route_lookup(table, "foo.example", 11, "/byname", 7);
	const struct route_pool *p = route_pool(table, t->pool);
	cr_assert_eq(p->lb.n_endpoints, 1);
	cr_assert_eq(p->lb.endpoints[0].port, 9090);
	cr_assert_str_eq(p->port, "metrics");
	t = route_lookup(table, "foo.example", 11, "/bynumber", 9);
	p = route_pool(table, t->pool);
	cr_assert_eq(p->lb.endpoints[0].port, 8080, "service port 80 resolves to target port 8080");
}

Test(route, endpoint_slices_merge_dedupe_and_prefer_ready)
{
	add("{'apiVersion':'v1','kind':'Service','metadata':{'name':'s','namespace':'default'},"
	    "'spec':{'ports':[{'name':'http','port':80}]}}");
	add("{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':'s-1',"
	    "'namespace':'default','labels':{'kubernetes.io/service-name':'s'}},'addressType':"
	    "'IPv4','ports':[{'name':'http','port':8080}],'endpoints':["
	    "{'addresses':['198.19.0.1']},"
	    "{'addresses':['198.19.0.2'],'conditions':{'ready':false,'serving':true,"
	    "'terminating':true}}]}");
	add("{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':'s-2',"
	    "'namespace':'default','labels':{'kubernetes.io/service-name':'s'}},'addressType':"
	    "'IPv4','ports':[{'name':'http','port':8080}],'endpoints':["
	    "{'addresses':['198.19.0.1'],'conditions':{'ready':true}},"
	    "{'addresses':['198.19.0.3'],'conditions':{'ready':true}}]}");
	add("{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':'other',"
	    "'namespace':'default','labels':{'kubernetes.io/service-name':'t'}},'addressType':"
	    "'IPv4','ports':[{'name':'http','port':8080}],'endpoints':[{'addresses':"
	    "['198.19.0.9']}]}");
	ingress("i", "2026-01-01T00:00:00Z", "foo.example", P("/", "Prefix", "s"));
	compile();
	const struct route_target *t = route_lookup(table, "foo.example", 11, "/", 1);
	const struct route_pool *p = route_pool(table, t->pool);
	cr_assert_eq(p->lb.n_endpoints, 2,
		     "ready .1 (missing condition = ready, deduplicated) and .3");
	for (uint32_t i = 0; i < p->lb.n_endpoints; i++)
		cr_assert(p->lb.endpoints[i].ready);
}

Test(route, serving_terminating_endpoints_are_used_when_none_is_ready)
{
	add("{'apiVersion':'v1','kind':'Service','metadata':{'name':'s','namespace':'default'},"
	    "'spec':{'ports':[{'port':80}]}}");
	add("{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':'s-1',"
	    "'namespace':'default','labels':{'kubernetes.io/service-name':'s'}},'addressType':"
	    "'IPv4','ports':[{'port':8080}],'endpoints':["
	    "{'addresses':['198.19.0.2'],'conditions':{'ready':false,'serving':true,"
	    "'terminating':true}},"
	    "{'addresses':['198.19.0.4'],'conditions':{'ready':false,'serving':false}}]}");
	ingress("i", "2026-01-01T00:00:00Z", "foo.example", P("/", "Prefix", "s"));
	compile();
	const struct route_pool *p =
		route_pool(table, route_lookup(table, "foo.example", 11, "/", 1)->pool);
	cr_assert_eq(p->lb.n_endpoints, 1);
	cr_assert(p->lb.endpoints[0].terminating);
}

/* ---- class selection ---------------------------------------------------------------------- */

static void class_obj(const char *name, const char *controller, bool is_default)
{
	add("{'apiVersion':'networking.k8s.io/v1','kind':'IngressClass','metadata':{'name':'%s'%s},"
	    "'spec':{'controller':'%s'}}",
	    name,
	    is_default ? ",'annotations':{'ingressclass.kubernetes.io/is-default-class':'true'}"
		       : "",
	    controller);
}

static bool ours(const char *spec_class, const char *annotation)
{
	char buf[1024];
	snprintf(buf, sizeof(buf),
		 "{'apiVersion':'networking.k8s.io/"
		 "v1','kind':'Ingress','metadata':{'name':'i'%s%s%s},"
		 "'spec':{%s%s%s}}",
		 annotation ? ",'annotations':{'kubernetes.io/ingress.class':'" : "",
		 annotation ? annotation : "", annotation ? "'}" : "",
		 spec_class ? "'ingressClassName':'" : "", spec_class ? spec_class : "",
		 spec_class ? "'" : "");
	for (char *c = buf; *c; c++)
		if (*c == '\'')
			*c = '"';
	json_t *j = json_loads(buf, 0, NULL);
	cr_assert_not_null(j, "%s", buf);
	bool r = control_ingress_is_ours(model, &klass, j);
	json_decref(j);
	return r;
}

Test(route, class_by_ingress_class_name_and_controller)
{
	class_obj("edge", "sluice.dev/ingress-controller", false);
	class_obj("nginx", "k8s.io/ingress-nginx", false);
	cr_assert(ours("edge", NULL), "a class of ours by another name");
	cr_assert_not(ours("nginx", NULL));
	cr_assert(ours("sluice", NULL), "no IngressClass object: the configured name");
	cr_assert_not(ours("unknown", NULL));
}

Test(route, legacy_annotation_is_honoured)
{
	cr_assert(ours(NULL, "sluice"));
	cr_assert_not(ours(NULL, "nginx"));
	cr_assert(ours("sluice", "nginx"), "spec.ingressClassName wins over the annotation");
}

Test(route, default_class_takes_unclassed_ingresses)
{
	cr_assert_not(ours(NULL, NULL), "no default class: ignored");
	class_obj("edge", "sluice.dev/ingress-controller", true);
	cr_assert(ours(NULL, NULL));
	teardown();
	setup();
	class_obj("nginx", "k8s.io/ingress-nginx", true);
	cr_assert_not(ours(NULL, NULL), "another controller's default class");
}

Test(route, ingresses_of_other_classes_are_not_routed)
{
	service("default", "a", "198.19.0.11");
	add("{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'n',"
	    "'namespace':'default'},'spec':{'ingressClassName':'nginx','rules':[{'host':"
	    "'foo.example','http':{'paths':[" P("/", "Prefix", "a") "]}}]}}");
	compile();
	cr_assert_str_eq(where("foo.example", "/"), "-");
	cr_assert_eq(errs.n, 0);
}

/* ---- bad manifests ------------------------------------------------------------------------ */

Test(route, ingress_with_missing_service_is_skipped_and_reported)
{
	service("default", "a", "198.19.0.11");
	ingress("bad", "2026-01-01T00:00:00Z", "bad.example",
		P("/ok", "Prefix", "a") "," P("/gone", "Prefix", "nope"));
	ingress("good", "2026-01-02T00:00:00Z", "good.example", P("/", "Prefix", "a"));
	compile();
	cr_assert(has_error("Ingress default/bad: spec.rules[0].http.paths[1].backend: Service "
			    "default/nope does not exist; Ingress skipped"));
	cr_assert_str_eq(where("bad.example", "/ok"), "-", "the whole Ingress is skipped");
	cr_assert_str_eq(where("good.example", "/"), "a");
}

Test(route, service_port_that_does_not_exist_is_reported_with_the_ports_it_has)
{
	service("default", "a", "198.19.0.11");
	ingress("bad", "2026-01-01T00:00:00Z", "bad.example",
		"{'path':'/','pathType':'Prefix','backend':{'service':{'name':'a','port':"
		"{'number':8443}}}}");
	compile();
	cr_assert(has_error("Service default/a has no port 8443 (it has: 80/http, 9090/metrics)"));
}

Test(route, invalid_path_type_and_path_are_reported)
{
	service("default", "a", "198.19.0.11");
	ingress("t", "2026-01-01T00:00:00Z", "x.example", P("/", "Regex", "a"));
	ingress("p", "2026-01-01T00:00:00Z", "y.example", P("nope", "Prefix", "a"));
	ingress("h", "2026-01-01T00:00:00Z", "bad_host!.example", P("/", "Prefix", "a"));
	compile();
	dump_errors();
	cr_assert(has_error("Ingress default/t: spec.rules[0].http.paths[0].pathType: expected "
			    "Exact, Prefix or ImplementationSpecific"));
	cr_assert(has_error("Ingress default/p: spec.rules[0].http.paths[0].path: \"nope\" must "
			    "start with '/'"));
	cr_assert(has_error("Ingress default/h: spec.rules[0].host: \"bad_host!.example\" is not "
			    "a valid host"));
}

Test(route, wrong_types_and_missing_fields_in_objects_are_reported)
{
	json_t *j =
		json_loads("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{}}", 0, NULL);
	cr_assert_eq(control_add_object(model, j, "f.yaml:1: document 1", &errs), -1);
	json_decref(j);
	cr_assert(has_error("f.yaml:1: document 1: Service: metadata.name: missing; skipped"));
	j = json_loads("{\"apiVersion\":\"extensions/v1beta1\",\"kind\":\"Ingress\","
		       "\"metadata\":{\"name\":\"old\"}}",
		       0, NULL);
	cr_assert_eq(control_add_object(model, j, "g.yaml:1: document 1", &errs), -1);
	json_decref(j);
	cr_assert(has_error("Ingress: apiVersion \"extensions/v1beta1\" is not supported; use "
			    "networking.k8s.io/v1; skipped"));
	j = json_loads("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":"
		       "{\"name\":\"d\"}}",
		       0, NULL);
	cr_assert_eq(control_add_object(model, j, "h", &errs), 0, "other kinds are ignored");
	json_decref(j);
}

Test(route, manifest_directory_loads_good_documents_past_bad_ones)
{
	int n = control_load_dir(model, SOURCE_ROOT "/tests/manifests/mixed", &errs);
	dump_errors();
	cr_assert_eq(n, 7, "objects stored");
	cr_assert(has_error("broken.yaml:4: document 1: YAML syntax:"));
	cr_assert(has_error("bad.json:2: JSON syntax:"));
	cr_assert(has_error("types.yaml:1: document 1: kind: missing or not a string; skipped"));
	compile();
	cr_assert(has_error("Ingress shop/strport: spec.rules[0].http.paths[0].backend: "
			    "service.port: expected number (integer) or name; Ingress skipped"));
	cr_assert_str_eq(where("shop.example", "/"), "web");
	cr_assert_str_eq(where("shop.example", "/cart/items"), "cart");
	cr_assert_str_eq(where("json.example", "/"), "web");
}

Test(route, missing_directory_is_reported)
{
	cr_assert_eq(control_load_dir(model, "/nonexistent/manifests", &errs), -1);
	cr_assert(has_error("/nonexistent/manifests: cannot read the manifest directory"));
}

Test(route, lookup_cost_does_not_depend_on_rule_order_or_unrelated_hosts)
{
	service("default", "a", "198.19.0.11");
	char paths[8192] = "";
	for (int i = 0; i < 50; i++) {
		char one[256];
		snprintf(one, sizeof(one),
			 "%s{'path':'/p%d','pathType':'Prefix','backend':{'service':{'name':'a',"
			 "'port':{'number':80}}}}",
			 i ? "," : "", i);
		strcat(paths, one);
	}
	ingress("many", "2026-01-01T00:00:00Z", "foo.example", paths);
	compile();
	cr_assert_eq(route_rule_count(table), 50);
	cr_assert_str_eq(where("foo.example", "/p49/x"), "a");
	cr_assert_str_eq(where("foo.example", "/p50"), "-");
}

Test(route, objects_are_replaced_by_key_and_deleted)
{
	service("default", "a", "198.19.0.11");
	service("default", "b", "198.19.0.12");
	service("other", "a", "198.19.0.13");
	cr_assert_eq(control_object_count(model), 6);
	service("default", "a", "198.19.0.21"); /* same keys: replaced, not added */
	cr_assert_eq(control_object_count(model), 6);
	cr_assert_eq(control_delete_object(model, "Service", "default", "a"), 1);
	cr_assert_eq(control_delete_object(model, "Service", "default", "a"), 0);
	/* The object moved into the hole is still found by its key. */
	cr_assert_eq(control_delete_object(model, "EndpointSlice", "other", "a-1"), 1);
	cr_assert_eq(control_delete_object(model, "Service", "other", "a"), 1);
	cr_assert_eq(control_object_count(model), 3);
	ingress("i", "2026-01-01T00:00:00Z", "foo.example", P("/", "Prefix", "b"));
	compile();
	const struct route_pool *p =
		route_pool(table, route_lookup(table, "foo.example", 11, "/", 1)->pool);
	cr_assert_eq(p->lb.n_endpoints, 1);
	cr_assert_str_eq(where("foo.example", "/"), "b");
}

Test(route, static_routes_from_the_configuration_route_and_win_conflicts)
{
	service("default", "a", "198.19.0.11");
	ingress("cluster", "2026-01-01T00:00:00Z", "status.example", P("/", "Prefix", "a"));
	uint32_t addrs[2] = {inet_addr("198.19.0.21"), inet_addr("198.19.0.22")};
	uint16_t ports[2] = {8080, 9090};
	cr_assert_eq(control_add_static_route(model, 0, "sluice", "status.example", "/", "Prefix",
					      addrs, ports, 2, &errs),
		     0);
	cr_assert_eq(control_add_static_route(model, 1, "sluice", "", "/health", "Exact", addrs,
					      ports, 1, &errs),
		     0);
	compile();
	dump_errors();
	const struct route_target *t = route_lookup(table, "status.example", 14, "/x", 2);
	cr_assert_not_null(t);
	const struct route_pool *p = route_pool(table, t->pool);
	cr_assert_str_eq(p->namespace_, "sluice-static", "the configuration wins the conflict");
	cr_assert_eq(p->lb.n_endpoints, 2);
	cr_assert_eq(p->lb.endpoints[1].port, 9090);
	cr_assert_str_eq(where("anything.example", "/health"), "route-1");
	cr_assert(
		has_error("Ingress default/cluster: host \"status.example\" path \"/\" (Prefix) is "
			  "already routed by an older Ingress"));
}

Test(route, load_balance_annotation_selects_maglev_and_bad_values_are_reported)
{
	service("default", "a", "198.19.0.11");
	add("{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'m',"
	    "'namespace':'default','annotations':{'sluice.dev/load-balance':'maglev'}},'spec':{"
	    "'ingressClassName':'sluice','rules':[{'host':'m.example','http':{'paths':[" P(
		    "/", "Prefix", "a") "]}}]}}");
	add("{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'x',"
	    "'namespace':'default','annotations':{'sluice.dev/load-balance':'random'}},'spec':{"
	    "'ingressClassName':'sluice','rules':[{'host':'x.example','http':{'paths':[" P(
		    "/", "Prefix", "a") "]}}]}}");
	compile();
	const struct route_pool *m =
		route_pool(table, route_lookup(table, "m.example", 9, "/", 1)->pool);
	const struct route_pool *x =
		route_pool(table, route_lookup(table, "x.example", 9, "/", 1)->pool);
	cr_assert_eq(m->lb.algorithm, LB_MAGLEV);
	cr_assert_not_null(m->lb.maglev);
	cr_assert_eq(x->lb.algorithm, LB_ROUND_ROBIN, "an unknown value falls back to round robin");
	cr_assert_neq(m, x, "one Service port balanced two ways is two pools");
	cr_assert(has_error("Ingress default/x: annotation sluice.dev/load-balance: \"random\" is "
			    "not known"));
}

/* An Ingress for host with one Prefix "/" rule to svc, with extra annotations (JSON members). */
static void ingress_ann(const char *name, const char *host, const char *svc, const char *ann,
			const char *ts)
{
	add("{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'%s',"
	    "'namespace':'default','creationTimestamp':'%s','annotations':{%s}},'spec':{"
	    "'ingressClassName':'sluice','rules':[{'host':'%s','http':{'paths':[" P("/", "Prefix",
										    "%s") "]}}]}}",
	    name, ts, ann, host, svc);
}

Test(route, every_algorithm_can_be_chosen_and_hash_header_needs_maglev)
{
	service("default", "a", "198.19.0.11");
	ingress_ann("w", "w.example", "a", "'sluice.dev/load-balance':'weighted'",
		    "2026-01-01T00:00:00Z");
	ingress_ann("l", "l.example", "a", "'sluice.dev/load-balance':'least-request'",
		    "2026-01-01T00:00:00Z");
	ingress_ann("h", "h.example", "a",
		    "'sluice.dev/load-balance':'maglev','sluice.dev/hash-header':'X-User'",
		    "2026-01-01T00:00:00Z");
	ingress_ann("bad", "bad.example", "a", "'sluice.dev/hash-header':'X-User'",
		    "2026-01-01T00:00:00Z");
	compile();
	const struct route_pool *w =
		route_pool(table, route_lookup(table, "w.example", 9, "/", 1)->pool);
	const struct route_pool *l =
		route_pool(table, route_lookup(table, "l.example", 9, "/", 1)->pool);
	const struct route_pool *h =
		route_pool(table, route_lookup(table, "h.example", 9, "/", 1)->pool);
	const struct route_pool *b =
		route_pool(table, route_lookup(table, "bad.example", 11, "/", 1)->pool);
	cr_assert_eq(w->lb.algorithm, LB_WEIGHTED);
	cr_assert_not_null(w->lb.cum);
	cr_assert_eq(w->lb.cum[0], 1, "an endpoint without a weight counts as 1");
	cr_assert_eq(l->lb.algorithm, LB_LEAST_REQUEST);
	cr_assert_eq(h->lb.algorithm, LB_MAGLEV);
	cr_assert_str_eq(h->hash_header, "X-User");
	cr_assert_eq(b->lb.algorithm, LB_ROUND_ROBIN);
	cr_assert_str_eq(b->hash_header, "");
	cr_assert(has_error("Ingress default/bad: annotation sluice.dev/hash-header needs "
			    "sluice.dev/load-balance: maglev; ignored"));
}

Test(route, class_wide_algorithm_applies_when_an_ingress_names_none)
{
	service("default", "a", "198.19.0.11");
	ingress_ann("d", "d.example", "a", "'x':'y'", "2026-01-01T00:00:00Z");
	route_table_free(table);
	struct control_class k = {"sluice", "sluice.dev/ingress-controller", NULL, "least-request"};
	table = control_compile(model, &k, &errs);
	cr_assert_not_null(table);
	cr_assert_eq(
		route_pool(table, route_lookup(table, "d.example", 9, "/", 1)->pool)->lb.algorithm,
		LB_LEAST_REQUEST);
}

/* Two endpoints for a, three for b: a 20 % canary on b must get 20 % of the weight. */
Test(route, canary_weight_splits_a_rule_between_two_services)
{
	add("{'apiVersion':'v1','kind':'Service','metadata':{'name':'a','namespace':'default'},"
	    "'spec':{'ports':[{'name':'http','port':80}]}}");
	add("{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':'a-1',"
	    "'namespace':'default','labels':{'kubernetes.io/"
	    "service-name':'a'}},'addressType':'IPv4',"
	    "'ports':[{'name':'http','port':8080}],'endpoints':[{'addresses':['198.19.0.1']},"
	    "{'addresses':['198.19.0.2']}]}");
	add("{'apiVersion':'v1','kind':'Service','metadata':{'name':'b','namespace':'default'},"
	    "'spec':{'ports':[{'name':'http','port':80}]}}");
	add("{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':'b-1',"
	    "'namespace':'default','labels':{'kubernetes.io/"
	    "service-name':'b'}},'addressType':'IPv4',"
	    "'ports':[{'name':'http','port':8080}],'endpoints':[{'addresses':['198.19.0.3']},"
	    "{'addresses':['198.19.0.4']},{'addresses':['198.19.0.5']}]}");
	ingress_ann("main", "shop.example", "a", "'x':'y'", "2026-01-01T00:00:00Z");
	ingress_ann("canary", "shop.example", "b", "'sluice.dev/canary-weight':'20'",
		    "2026-02-01T00:00:00Z");
	ingress_ann("orphan", "none.example", "b", "'sluice.dev/canary-weight':'5'",
		    "2026-02-01T00:00:00Z");
	ingress_ann("badw", "bad.example", "b", "'sluice.dev/canary-weight':'120'",
		    "2026-02-01T00:00:00Z");
	compile();
	const struct route_target *t = route_lookup(table, "shop.example", 12, "/x", 2);
	cr_assert_not_null(t);
	cr_assert_str_eq(t->ingress, "main", "the rule stays the primary's");
	const struct route_pool *p = route_pool(table, t->pool);
	cr_assert_eq(p->lb.algorithm, LB_WEIGHTED);
	cr_assert_eq(p->lb.n_endpoints, 5);
	cr_assert_str_eq(p->split, "a=80,b=20");
	uint32_t wa = 0, wb = 0;
	for (uint32_t i = 0; i < 5; i++) {
		uint32_t w = p->lb.cum[i] - (i ? p->lb.cum[i - 1] : 0);
		if (i < 2)
			wa += w;
		else
			wb += w;
	}
	cr_assert_eq(wa * 20, wb * 80, "service shares %u:%u are not 80:20", wa, wb);
	cr_assert_null(route_lookup(table, "none.example", 12, "/", 1),
		       "a canary alone does not route");
	cr_assert(has_error("Ingress default/orphan: canary for host \"none.example\" path \"/\" "
			    "(Prefix) matches no rule of a non-canary Ingress; ignored"));
	cr_assert(has_error("Ingress default/badw: annotation sluice.dev/canary-weight: \"120\": "
			    "expected an integer from 0 to 100"));
}

Test(route, proxy_protocol_annotation_marks_the_pool)
{
	service("default", "a", "198.19.0.11");
	ingress_ann("p", "p.example", "a", "'sluice.dev/proxy-protocol':'v2'",
		    "2026-01-01T00:00:00Z");
	ingress_ann("q", "q.example", "a", "'sluice.dev/proxy-protocol':'v1'",
		    "2026-01-01T00:00:00Z");
	compile();
	const struct route_pool *p =
		route_pool(table, route_lookup(table, "p.example", 9, "/", 1)->pool);
	const struct route_pool *q =
		route_pool(table, route_lookup(table, "q.example", 9, "/", 1)->pool);
	cr_assert(p->proxy_v2);
	cr_assert_not(q->proxy_v2, "only v2 is spoken");
	cr_assert_neq(p, q, "with and without the header are two pools");
	cr_assert(has_error("Ingress default/q: annotation sluice.dev/proxy-protocol: \"v1\": "
			    "expected \"v2\"; no PROXY header sent"));
}

/* ---- SNI passthrough ---------------------------------------------------------------------- */

/* Which service a TLS server name is passed through to ("-" for none). */
static const char *sni_where(const char *name)
{
	const struct route_target *t = route_lookup_sni(table, name, strlen(name));
	if (t == NULL)
		return "-";
	cr_assert(t->passthrough);
	return route_pool(table, t->pool)->service;
}

Test(route, ssl_passthrough_routes_hosts_by_server_name)
{
	service("default", "a", "198.19.0.11");
	service("default", "b", "198.19.0.12");
	service("default", "c", "198.19.0.13");
	const char *on = "'sluice.dev/ssl-passthrough':'true'";
	ingress_ann("p", "tls.example", "a", on, "2026-01-01T00:00:00Z");
	ingress_ann("w", "*.wild.example", "b", on, "2026-01-01T00:00:00Z");
	ingress_ann("plain", "plain.example", "c", "'x':'y'", "2026-01-01T00:00:00Z");
	ingress_ann("off", "off.example", "c", "'sluice.dev/ssl-passthrough':'false'",
		    "2026-01-01T00:00:00Z");
	compile();
	dump_errors();
	cr_assert_eq(errs.n, 0);
	cr_assert_str_eq(sni_where("tls.example"), "a");
	cr_assert_str_eq(sni_where("TLS.Example"), "a", "names are matched in any case");
	cr_assert_str_eq(sni_where("x.wild.example"), "b");
	cr_assert_str_eq(sni_where("y.x.wild.example"), "-", "a wildcard is one label");
	cr_assert_str_eq(sni_where("wild.example"), "-");
	cr_assert_str_eq(sni_where("plain.example"), "-", "HTTP rules are not passed through");
	cr_assert_str_eq(sni_where("off.example"), "-");
	cr_assert_str_eq(where("tls.example", "/"), "a", "plain HTTP still routes the rules");
	cr_assert_eq(route_passthrough_count(table), 2);
}

Test(route, ssl_passthrough_takes_the_root_path_or_the_default_backend)
{
	service("default", "a", "198.19.0.11");
	service("default", "b", "198.19.0.12");
	add("{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'m',"
	    "'namespace':'default','annotations':{'sluice.dev/ssl-passthrough':'true'}},"
	    "'spec':{'ingressClassName':'sluice','defaultBackend':{'service':{'name':'b','port':"
	    "{'number':80}}},'rules':["
	    "{'host':'root.example','http':{'paths':[" P("/api", "Prefix", "b") "," P(
		    "/", "Prefix", "a") "]}},"
					"{'host':'noroot.example','http':{'paths':[" P(
						"/api", "Prefix", "a") "]}}]}}");
	add("{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'n',"
	    "'namespace':'default','annotations':{'sluice.dev/ssl-passthrough':'true'}},"
	    "'spec':{'ingressClassName':'sluice','rules':["
	    "{'host':'none.example','http':{'paths':[" P(
		    "/api", "Prefix", "a") "]}},"
					   "{'http':{'paths':[" P("/", "Prefix", "a") "]}}]}}");
	ingress_ann("bad", "bad.example", "a", "'sluice.dev/ssl-passthrough':'yes'",
		    "2026-01-01T00:00:00Z");
	compile();
	cr_assert_str_eq(sni_where("root.example"), "a");
	cr_assert_str_eq(sni_where("noroot.example"), "b", "the Ingress's defaultBackend");
	cr_assert_str_eq(sni_where("none.example"), "-");
	cr_assert(has_error("Ingress default/n: host \"none.example\": ssl-passthrough needs a "
			    "path \"/\" (Prefix) or a defaultBackend; not passed through"));
	cr_assert(has_error("Ingress default/n: spec.rules[1]: ssl-passthrough routes by TLS "
			    "server name and needs a host"));
	cr_assert(has_error("Ingress default/bad: annotation sluice.dev/ssl-passthrough: "
			    "\"yes\": expected \"true\" or \"false\"; no passthrough"));
	cr_assert_str_eq(sni_where("bad.example"), "-");
}

Test(route, ssl_passthrough_conflicts_go_to_the_oldest_ingress)
{
	service("default", "a", "198.19.0.11");
	service("default", "b", "198.19.0.12");
	const char *on = "'sluice.dev/ssl-passthrough':'true'";
	ingress_ann("new", "dup.example", "b", on, "2026-02-01T00:00:00Z");
	ingress_ann("old", "dup.example", "a", on, "2026-01-01T00:00:00Z");
	compile();
	cr_assert_str_eq(sni_where("dup.example"), "a");
	cr_assert(has_error("Ingress default/new: host \"dup.example\" is already passed through "
			    "by an older Ingress; ignored here"));
}

/* ---- HTTP→HTTPS redirect ------------------------------------------------------------------ */

static bool redirects(const char *host)
{
	return route_host_redirects(table, host, strlen(host));
}

Test(route, spec_tls_hosts_redirect_unless_the_ingress_says_false)
{
	service("default", "a", "198.19.0.11");
	add("{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'s',"
	    "'namespace':'default'},'spec':{'ingressClassName':'sluice','tls':["
	    "{'hosts':['shop.example','*.wild.example'],'secretName':'x'}],"
	    "'rules':[{'host':'shop.example','http':{'paths':[" P("/", "Prefix", "a") "]}}]}}");
	add("{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'r',"
	    "'namespace':'default'},'spec':{'ingressClassName':'sluice','tls':["
	    "{'secretName':'y'}],"
	    "'rules':[{'host':'rules.example','http':{'paths':[" P("/", "Prefix", "a") "]}}]}}");
	add("{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'o',"
	    "'namespace':'default','annotations':{'sluice.dev/ssl-redirect':'false'}},"
	    "'spec':{'ingressClassName':'sluice','tls':[{'hosts':['open.example'],"
	    "'secretName':'x'}],"
	    "'rules':[{'host':'open.example','http':{'paths':[" P("/", "Prefix", "a") "]}}]}}");
	add("{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'b',"
	    "'namespace':'default','annotations':{'sluice.dev/ssl-redirect':'yes'}},"
	    "'spec':{'ingressClassName':'sluice','tls':[{'hosts':['odd.example'],"
	    "'secretName':'x'}],"
	    "'rules':[{'host':'odd.example','http':{'paths':[" P("/", "Prefix", "a") "]}}]}}");
	ingress_ann("plain", "plain.example", "a", "'x':'y'", "2026-01-01T00:00:00Z");
	compile();
	cr_assert(redirects("shop.example"));
	cr_assert(redirects("SHOP.Example:80"), "any case, with a port");
	cr_assert(redirects("shop.example."), "a trailing dot is the same name");
	cr_assert(redirects("a.wild.example"));
	cr_assert_not(redirects("a.b.wild.example"), "a wildcard is one label");
	cr_assert(redirects("rules.example"), "an entry without hosts: the rule hosts");
	cr_assert_not(redirects("open.example"), "ssl-redirect \"false\"");
	cr_assert_not(redirects("plain.example"), "no spec.tls");
	cr_assert_not(redirects("[::1]:80"));
	cr_assert_not(redirects(""));
	cr_assert(redirects("odd.example"), "an unknown value keeps the redirect");
	cr_assert(has_error("Ingress default/b: annotation sluice.dev/ssl-redirect: \"yes\": "
			    "expected \"true\" or \"false\"; redirecting"));
}
