/*
 * route_bench: compile time and lookup cost at 10, 1 000 and 100 000 rules, side by side in
 * one run. Rules are spread like a real multi-tenant edge: one host per 10 rules, each host with
 * Prefix paths of 1–3 segments and some Exact paths. Lookups replay a fixed mix of hits (deep
 * prefix, exact, root) and misses over hosts chosen at random from the table, so the 100 000-rule
 * table is probed across its whole memory, not one hot line.
 * Usage: route_bench [lookups]   (default 2 000 000 per size)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include "control/control.h"
#include "route/route.h"

struct req {
	char host[64];
	char path[96];
	size_t hl, pl;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct route_table *build(unsigned rules, double *secs)
{
	double t0 = now_s();
	struct route_builder *b = route_builder_new();
	struct lb_endpoint ep = {.addr = 0x0b0013c6, .port = 8080, .ready = true};
	unsigned hosts = rules / 10 ? rules / 10 : 1;
	for (unsigned h = 0; h < hosts; h++)
		route_builder_add_pool(b, "default", "svc", "80", &ep, 1);
	char host[64], path[96];
	for (unsigned r = 0; r < rules; r++) {
		unsigned h = r % hosts, k = r / hosts;
		snprintf(host, sizeof(host), "tenant%u.example.com", h);
		if (k % 4 == 3)
			snprintf(path, sizeof(path), "/exact/e%u", k);
		else if (k == 0)
			snprintf(path, sizeof(path), "/");
		else
			snprintf(path, sizeof(path), "/api/v%u/items%u", k % 3, k);
		route_builder_add_rule(b, host, path, k % 4 == 3 ? ROUTE_EXACT : ROUTE_PREFIX, h,
				       "default", "bench");
	}
	struct route_table *t = route_builder_finish(b);
	*secs = now_s() - t0;
	return t;
}

/* The full path from Kubernetes objects: rules/10 Ingresses of 10 paths each, one Service and
 * one EndpointSlice per Ingress, compiled by control_compile. Returns seconds. */
static double compile_from_model(unsigned rules)
{
	struct control_model *m = control_model_new();
	struct control_errors errs = {0};
	unsigned n = rules / 10 ? rules / 10 : 1;
	char buf[2048];
	for (unsigned i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf),
			 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
			 "\"s%u\",\"namespace\":\"t\"},\"spec\":{\"ports\":[{\"name\":\"http\","
			 "\"port\":80}]}}",
			 i);
		json_t *j = json_loads(buf, 0, NULL);
		control_add_object(m, j, "bench", &errs);
		json_decref(j);
		snprintf(buf, sizeof(buf),
			 "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
			 "\"metadata\":{\"name\":\"s%u-1\",\"namespace\":\"t\",\"labels\":{"
			 "\"kubernetes.io/service-name\":\"s%u\"}},\"addressType\":\"IPv4\","
			 "\"ports\":[{\"name\":\"http\",\"port\":8080}],\"endpoints\":[{"
			 "\"addresses\":[\"198.19.%u.%u\"]}]}",
			 i, i, (i >> 8) & 255, i & 255);
		j = json_loads(buf, 0, NULL);
		control_add_object(m, j, "bench", &errs);
		json_decref(j);
		json_t *paths = json_array();
		for (unsigned k = 0; k < 10; k++) {
			char path[64];
			snprintf(path, sizeof(path), k ? "/api/v%u/items" : "/", k);
			json_array_append_new(paths, json_pack("{s:s,s:s,s:{s:{s:s,s:{s:i}}}}",
							       "path", path, "pathType",
							       k % 4 == 3 ? "Exact" : "Prefix",
							       "backend", "service", "name", "",
							       "port", "number", 80));
			json_t *svc = json_object_get(
				json_object_get(
					json_object_get(json_array_get(paths, k), "backend"),
					"service"),
				"name");
			char sn[32];
			snprintf(sn, sizeof(sn), "s%u", i);
			json_string_set(svc, sn);
		}
		char host[64], name[32];
		snprintf(host, sizeof(host), "tenant%u.example.com", i);
		snprintf(name, sizeof(name), "ing%u", i);
		j = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:[{s:s,s:{s:o}}]}}", "apiVersion",
			      "networking.k8s.io/v1", "kind", "Ingress", "metadata", "name", name,
			      "namespace", "t", "spec", "ingressClassName", "sluice", "rules",
			      "host", host, "http", "paths", paths);
		control_add_object(m, j, "bench", &errs);
		json_decref(j);
	}
	struct control_class c = {"sluice", "sluice.dev/ingress-controller", NULL};
	double t0 = now_s();
	struct route_table *t = control_compile(m, &c, &errs);
	double secs = now_s() - t0;
	if (t == NULL || route_rule_count(t) != n * 10 || errs.n) {
		fprintf(stderr, "model compile: %u rules, %zu errors\n",
			t ? route_rule_count(t) : 0, errs.n);
		exit(1);
	}
	route_table_free(t);
	control_errors_free(&errs);
	control_model_free(m);
	return secs;
}

static volatile uintptr_t sink;

static double bench(const struct route_table *t, unsigned rules, long lookups)
{
	unsigned hosts = rules / 10 ? rules / 10 : 1;
	enum {
		NREQ = 4096
	};
	static struct req reqs[NREQ];
	uint32_t x = 2463534242u;
	for (int i = 0; i < NREQ; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		unsigned h = x % hosts;
		snprintf(reqs[i].host, sizeof(reqs[i].host), "Tenant%u.example.com", h);
		switch (i % 4) {
		case 0:
			snprintf(reqs[i].path, sizeof(reqs[i].path), "/api/v1/items1/detail/42");
			break;
		case 1:
			snprintf(reqs[i].path, sizeof(reqs[i].path), "/exact/e3");
			break;
		case 2:
			snprintf(reqs[i].path, sizeof(reqs[i].path), "/static/css/site.css");
			break;
		default:
			snprintf(reqs[i].host, sizeof(reqs[i].host), "nobody%u.example.org", h);
			snprintf(reqs[i].path, sizeof(reqs[i].path), "/");
		}
		reqs[i].hl = strlen(reqs[i].host);
		reqs[i].pl = strlen(reqs[i].path);
	}
	uint64_t t0 = __rdtsc();
	for (long i = 0; i < lookups; i++) {
		const struct req *q = &reqs[i & (NREQ - 1)];
		sink += (uintptr_t)route_lookup(t, q->host, q->hl, q->path, q->pl);
	}
	return (double)(__rdtsc() - t0) / (double)lookups;
}

int main(int argc, char **argv)
{
	long lookups = argc > 1 ? atol(argv[1]) : 2000000;
	const unsigned sizes[] = {10, 1000, 100000};
	double cyc[3], secs[3], model_secs[3];
	for (int i = 0; i < 3; i++) {
		struct route_table *t = build(sizes[i], &secs[i]);
		bench(t, sizes[i], lookups / 10); /* warm */
		cyc[i] = bench(t, sizes[i], lookups);
		if (route_rule_count(t) != sizes[i]) {
			fprintf(stderr, "expected %u rules, table has %u\n", sizes[i],
				route_rule_count(t));
			return 1;
		}
		route_table_free(t);
		model_secs[i] = compile_from_model(sizes[i]);
	}
	printf("%-10s %14s %22s %16s %8s\n", "rules", "table (ms)", "from manifests (ms)",
	       "cycles/lookup", "vs 10");
	for (int i = 0; i < 3; i++)
		printf("%-10u %14.1f %22.1f %16.1f %7.2fx\n", sizes[i], secs[i] * 1e3,
		       model_secs[i] * 1e3, cyc[i], cyc[i] / cyc[0]);
	return 0;
}
