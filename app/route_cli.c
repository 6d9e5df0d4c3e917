/*
 * sluice route: "where would this request go?", answered by the same parser, normaliser and
 * route table the data path uses, with no NIC and no EAL.
 *
 *   sluice route (--manifests DIR | --kubeconfig FILE [--context NAME] | --in-cluster)
 *                [--watch] [--timeout SECONDS] [--class NAME] [--controller C]
 *                [--default-backend NS/SVC:PORT] [--load-balance ALG] [--dump]
 *                [--config FILE] [--raw FILE...] [--certs]
 *
 * Line mode reads "HOST PATH" lines on stdin and writes one JSON object per line. Raw mode
 * reads each FILE as the whole byte stream a client sent on one connection and runs the data
 * path's own stream logic on it (tcpl_explain): one line per request — its route and whether
 * it starts a new pod connection, or the gateway's answer — and a line where the stream stops
 * (waiting, failed closed, dropped after a close). Limits come from --config (the gateway's
 * configuration file) or the defaults. Problems in the manifests go to stderr and do not
 * change the exit status; only unusable input does (no readable manifest directory, bad
 * arguments, an unreadable raw file, an API server that cannot be listed).
 *
 * --certs adds to each line's answer the certificate a TLS listener would serve the host: the
 * Secret (from spec.tls), whether the name matched exactly, by wildcard or fell to the default
 * (a self-signed one here), its key type and expiry. Broken Secrets are reported on stderr.
 *
 * With a live source the objects are listed from the API server with the gateway's own client
 * (lib/kube). --watch keeps watching while answering: every line is answered from the objects
 * as they are when it arrives.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <poll.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>

#include "commands.h"
#include "control/control.h"
#include "control/sources.h"
#include "http/http.h"
#include "kube/kube.h"
#include "lb/lb.h"
#include "conf/conf.h"
#include "route/route.h"
#include "tcp/tcp.h"
#include "tls/tls.h"

#define PATH_MAX_NORM 8192

static void usage(FILE *f)
{
	fprintf(f, "usage: sluice route (--manifests DIR | --kubeconfig FILE [--context NAME] |\n"
		   "                     --in-cluster) [--watch] [--timeout S] [--class NAME]\n"
		   "                    [--controller NAME]\n"
		   "                    [--default-backend NS/SVC:PORT] [--load-balance ALG]\n"
		   "                    [--dump] [--config FILE] [--raw FILE...] [--certs]\n"
		   "Reads \"HOST PATH\" lines on stdin; writes one JSON object per line.\n");
}

/* Route fields shared by line and raw mode. */
static void add_route_fields(json_t *o, const struct route_table *t, const char *host,
			     size_t host_len, const char *path, size_t path_len)
{
	char norm[PATH_MAX_NORM];
	int nl = http_normalize_path((const uint8_t *)path, path_len, norm, sizeof(norm));
	if (nl < 0) {
		json_object_set_new(o, "status", json_integer(400));
		json_object_set_new(o, "error", json_string("path cannot be normalised"));
		return;
	}
	json_object_set_new(o, "normalized_path", json_string(norm));
	const struct route_target *tg = route_lookup(t, host, host_len, norm, (size_t)nl);
	if (tg == NULL) {
		json_object_set_new(o, "status", json_integer(404));
		return;
	}
	const struct route_pool *p = route_pool(t, tg->pool);
	json_object_set_new(o, "status", json_integer(200));
	json_object_set_new(o, "namespace", json_string(p->namespace_));
	json_object_set_new(o, "ingress", json_string(tg->ingress));
	json_object_set_new(o, "service", json_string(p->service));
	json_t *port;
	char *end;
	long num = strtol(p->port, &end, 10);
	if (*end == '\0' && end != p->port)
		port = json_integer(num);
	else
		port = json_string(p->port);
	json_object_set_new(o, "port", port);
	json_object_set_new(
		o, "pathType",
		json_string(tg->default_backend ? "" : route_path_type_name(tg->path_type)));
	json_object_set_new(o, "rule_host", json_string(tg->rule_host));
	json_object_set_new(o, "rule_path", json_string(tg->rule_path));
	json_object_set_new(o, "default_backend", json_boolean(tg->default_backend));
	json_object_set_new(o, "algorithm",
			    json_string(lb_algorithm_name((enum lb_algorithm)p->lb.algorithm)));
	if (p->hash_header[0])
		json_object_set_new(o, "hash_header", json_string(p->hash_header));
	if (p->split[0])
		json_object_set_new(o, "split", json_string(p->split));
	if (p->proxy_v2)
		json_object_set_new(o, "proxy_protocol", json_string("v2"));
	json_t *eps = json_array();
	for (uint32_t i = 0; i < p->lb.n_endpoints; i++) {
		char a[INET_ADDRSTRLEN], s[INET_ADDRSTRLEN + 8];
		struct in_addr ia = {.s_addr = p->lb.endpoints[i].addr};
		inet_ntop(AF_INET, &ia, a, sizeof(a));
		snprintf(s, sizeof(s), "%s:%u", a, p->lb.endpoints[i].port);
		json_array_append_new(eps, json_string(s));
	}
	json_object_set_new(o, "endpoints", eps);
}

/* --certs: the certificates compiled beside the routes. */
static struct {
	bool on;
	struct control_cert_cache *cache;
	struct tls_certs *store;
	struct tls_cert *fallback;
} certs;

static void add_cert_fields(json_t *o, const char *host)
{
	if (!certs.on || certs.store == NULL)
		return;
	size_t n = strcspn(host, ":");
	enum tls_match how;
	const struct tls_cert *c = tls_certs_select(certs.store, host, n, TLS_KINDS_ANY, &how);
	static const char *const match[] = {"exact", "wildcard", "default"};
	json_object_set_new(o, "certificate",
			    json_pack("{s:s,s:s,s:s,s:I}", "source", c ? tls_cert_source(c) : "",
				      "match", match[how], "key",
				      c && tls_cert_kind(c) == TLS_KEY_RSA ? "RSA" : "ECDSA",
				      "not_after", (json_int_t)(c ? tls_cert_not_after(c) : 0)));
}

static void emit(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s) {
		puts(s);
		free(s);
	}
	fflush(stdout);
	json_decref(o);
}

static void answer_line(const struct route_table *t, char *line, ssize_t n)
{
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	char *host = strtok(line, " \t");
	char *path = host ? strtok(NULL, " \t") : NULL;
	if (host == NULL)
		return; /* blank line */
	json_t *o = json_object();
	json_object_set_new(o, "host", json_string(host));
	if (path == NULL || path[0] != '/') {
		json_object_set_new(o, "error",
				    json_string("expected \"HOST PATH\" with PATH "
						"starting with /"));
		emit(o);
		return;
	}
	json_object_set_new(o, "path", json_string(path));
	size_t plen = strcspn(path, "?"); /* the query does not route */
	add_route_fields(o, t, host, strlen(host), path, plen);
	add_cert_fields(o, host);
	emit(o);
}

static void line_mode(const struct route_table *t)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) > 0)
		answer_line(t, line, n);
	free(line);
}

/* One JSON line per request of a raw file, as tcpl_explain reads the stream. */
struct raw_ctx {
	const char *file;
	int request;
};

static void raw_one(const struct tcpl_explained *e, void *arg)
{
	struct raw_ctx *x = arg;
	json_t *o = json_object();
	json_object_set_new(o, "file", json_string(x->file));
	json_object_set_new(o, "offset", json_integer(e->offset));
	switch (e->outcome) {
	case TCPL_ROUTED: {
		const struct http_request *r = e->r;
		const char *h = (const char *)e->head;
		json_object_set_new(o, "request", json_integer(x->request++));
		json_object_set_new(o, "parse", json_string("ok"));
		json_object_set_new(o, "method",
				    json_stringn(h + r->method_span.off, r->method_span.len));
		json_object_set_new(o, "host", json_stringn(h + r->host.off, r->host.len));
		json_object_set_new(o, "path", json_stringn(h + r->path.off, r->path.len));
		json_object_set_new(o, "keep_alive", json_boolean(r->keep_alive));
		json_object_set_new(o, "pod_connection", json_string(e->move ? "new" : "same"));
		add_route_fields(o, e->table, h + r->host.off, r->host.len, h + r->path.off,
				 r->path.len);
		break;
	}
	case TCPL_ANSWERED:
		json_object_set_new(o, "request", json_integer(x->request++));
		json_object_set_new(o, "parse", json_string("error"));
		json_object_set_new(o, "status", json_integer(e->status));
		json_object_set_new(o, "error", json_string(e->why ? e->why : ""));
		json_object_set_new(o, "then", json_string("close"));
		break;
	case TCPL_INCOMPLETE:
		json_object_set_new(o, "request", json_integer(x->request++));
		json_object_set_new(o, "parse", json_string("error"));
		json_object_set_new(o, "status", json_integer(408));
		json_object_set_new(o, "error", json_string("incomplete_head"));
		break;
	case TCPL_FAILED_CLOSED:
		json_object_set_new(o, "stop", json_string("failed_closed"));
		json_object_set_new(o, "error", json_string(e->why ? e->why : ""));
		break;
	case TCPL_AFTER_CLOSE:
		json_object_set_new(o, "stop", json_string("dropped_after_close"));
		break;
	case TCPL_UPGRADE_WAITS:
		json_object_set_new(o, "stop", json_string("upgrade_waits_for_101"));
		break;
	case TCPL_BODY_CONTINUES:
		json_object_set_new(o, "stop", json_string("body_continues_past_input"));
		break;
	}
	emit(o);
}

static int raw_mode(const struct route_table *t, const struct tcpl_config *cfg, char **files, int n)
{
	int rc = 0;
	for (int i = 0; i < n; i++) {
		FILE *f = fopen(files[i], "rb");
		if (f == NULL) {
			fprintf(stderr, "sluice route: %s: %s\n", files[i], strerror(errno));
			rc = 1;
			continue;
		}
		static uint8_t buf[1 << 20];
		size_t len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		struct raw_ctx x = {files[i], 0};
		tcpl_explain(cfg, t, buf, len, raw_one, &x);
	}
	return rc;
}

static void kube_log(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "sluice route: %s\n", msg);
}

static struct route_table *compile_model(const struct control_model *m,
					 const struct control_class *c)
{
	struct control_errors errs = {0};
	struct route_table *t = control_compile(m, c, &errs);
	if (certs.on) {
		struct control_tls_defaults d = {NULL, certs.fallback};
		struct control_cert_stats st;
		struct tls_certs *s = control_compile_certs(m, c, certs.cache, &d, &errs, &st);
		if (s) {
			tls_certs_free(certs.store);
			certs.store = s;
		}
	}
	control_errors_print(&errs, stderr, "sluice route: ");
	control_errors_free(&errs);
	if (t == NULL)
		fprintf(stderr, "sluice route: out of memory compiling the routes\n");
	return t;
}

/* Drive the sync until every kind is listed, or give up after timeout_ms. */
static bool wait_synced(struct kube_sync *s, int timeout_ms)
{
	uint64_t until = kube_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	while (!kube_sync_synced(s)) {
		uint64_t now = kube_now_ns();
		if (now >= until)
			return false;
		long t = kube_sync_timeout_ms(s);
		long left = (long)((until - now) / 1000000ull) + 1;
		if (t < 0 || t > left)
			t = left;
		struct pollfd p = {.fd = kube_sync_fd(s), .events = POLLIN};
		poll(&p, 1, (int)t);
		kube_sync_run(s);
	}
	return true;
}

/* --watch: answer lines as they come, from the objects as they are at that moment. */
static void watch_mode(struct kube_sync *s, struct control_model *m, const struct control_class *c,
		       struct route_table **t)
{
	uint64_t compiled = kube_sync_take_changes(s);
	char buf[65536];
	size_t len = 0;
	for (;;) {
		struct pollfd p[2] = {{.fd = 0, .events = POLLIN},
				      {.fd = kube_sync_fd(s), .events = POLLIN}};
		long to = kube_sync_timeout_ms(s);
		poll(p, 2, to < 0 || to > 1000 ? 1000 : (int)to);
		kube_sync_run(s);
		if (!(p[0].revents & (POLLIN | POLLHUP)))
			continue;
		ssize_t n = read(0, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return;
		len += (size_t)n;
		char *start = buf, *nl;
		while ((nl = memchr(start, '\n', len - (size_t)(start - buf))) != NULL) {
			kube_sync_run(s);
			if (kube_sync_generation(s) != compiled) {
				compiled = kube_sync_take_changes(s);
				struct route_table *nt = compile_model(m, c);
				if (nt) {
					route_table_free(*t);
					*t = nt;
				}
			}
			*nl = '\0';
			answer_line(*t, start, nl - start);
			start = nl + 1;
		}
		len -= (size_t)(start - buf);
		memmove(buf, start, len);
		if (len == sizeof(buf) - 1)
			len = 0; /* an endless line: drop it */
	}
}

int sluice_route_main(int argc, char **argv)
{
	const char *dir = NULL, *default_backend = NULL, *kubeconfig = NULL, *context = NULL;
	const char *cls = "sluice", *controller = "sluice.dev/ingress-controller";
	const char *load_balance = NULL, *config = NULL;
	bool dump = false, raw = false, in_cluster = false, watch = false;
	int timeout_s = 30;
	static const struct option opts[] = {
		{"manifests", required_argument, NULL, 'm'},
		{"kubeconfig", required_argument, NULL, 'k'},
		{"context", required_argument, NULL, 'x'},
		{"in-cluster", no_argument, NULL, 'i'},
		{"watch", no_argument, NULL, 'w'},
		{"timeout", required_argument, NULL, 't'},
		{"class", required_argument, NULL, 'c'},
		{"controller", required_argument, NULL, 'C'},
		{"default-backend", required_argument, NULL, 'd'},
		{"load-balance", required_argument, NULL, 'l'},
		{"dump", no_argument, NULL, 'D'},
		{"raw", no_argument, NULL, 'r'},
		{"config", required_argument, NULL, 'f'},
		{"certs", no_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "m:c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'm':
			dir = optarg;
			break;
		case 'k':
			kubeconfig = optarg;
			break;
		case 'x':
			context = optarg;
			break;
		case 'i':
			in_cluster = true;
			break;
		case 'w':
			watch = true;
			break;
		case 't':
			timeout_s = atoi(optarg);
			if (timeout_s <= 0) {
				fprintf(stderr, "sluice route: --timeout: expected seconds > 0\n");
				return 2;
			}
			break;
		case 'c':
			cls = optarg;
			break;
		case 'C':
			controller = optarg;
			break;
		case 'd':
			default_backend = optarg;
			break;
		case 'l':
			load_balance = optarg;
			break;
		case 'D':
			dump = true;
			break;
		case 'r':
			raw = true;
			break;
		case 'f':
			config = optarg;
			break;
		case 'T':
			certs.on = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if ((dir != NULL) + (kubeconfig != NULL) + in_cluster != 1 || (watch && dir) ||
	    (watch && (dump || raw))) {
		usage(stderr);
		return 2;
	}
	if (certs.on) {
		char why[256];
		certs.cache = control_cert_cache_new();
		certs.fallback =
			tls_cert_self_signed("Sluice default certificate", why, sizeof(why));
		if (certs.cache == NULL || certs.fallback == NULL) {
			fprintf(stderr, "sluice route: --certs: %s\n", why);
			return 1;
		}
	}
	struct control_class c = control_class_of(cls, controller, default_backend, load_balance);
	struct control_model *m = control_model_new();
	struct kube_client_config kc = {0};
	struct kube_sync *ks = NULL;
	if (dir) {
		struct control_errors errs = {0};
		int loaded = control_load_dir(m, dir, &errs);
		control_errors_print(&errs, stderr, "sluice route: ");
		control_errors_free(&errs);
		if (loaded < 0) {
			control_model_free(m);
			return 1;
		}
	} else {
		char err[1024];
		int r = kubeconfig ? kube_config_from_kubeconfig(kubeconfig, context, &kc, err,
								 sizeof(err))
				   : kube_config_in_cluster(KUBE_SERVICEACCOUNT_DIR, &kc, err,
							    sizeof(err));
		struct kube_sync_opts so = {.client = &kc,
					    .model = m,
					    .cls = &c,
					    .backoff_min_ms = 200,
					    .backoff_max_ms = 2000,
					    .log = kube_log};
		if (r == 0)
			ks = kube_sync_new(&so, err, sizeof(err));
		if (ks == NULL) {
			fprintf(stderr, "sluice route: %s\n", err);
			kube_config_release(&kc);
			control_model_free(m);
			return 1;
		}
		if (!wait_synced(ks, timeout_s * 1000)) {
			fprintf(stderr,
				"sluice route: the API server at %s did not answer every list "
				"within %d s (see the messages above)\n",
				kc.server, timeout_s);
			kube_sync_free(ks);
			kube_config_release(&kc);
			control_model_free(m);
			return 1;
		}
	}
	struct route_table *t = compile_model(m, &c);
	int rc = t ? 0 : 1;
	/* Raw mode reads with the gateway's limits: its configuration file's, or the defaults. */
	struct tcpl_config raw_cfg = tcpl_config_default(1000000000ull);
	{
		static struct sluice_conf sc;
		char err[4096] = "";
		conf_defaults(&sc);
		if (config && conf_load(config, &sc, err, sizeof(err)) != 0) {
			fputs(err, stderr);
			fprintf(stderr, "sluice route: --config %s: not usable\n", config);
			conf_release(&sc);
			return 2;
		}
		raw_cfg.limits =
			(struct http_limits){.max_request_line = sc.limits.max_request_line,
					     .max_head_bytes = sc.limits.max_header_bytes,
					     .max_headers = (uint16_t)sc.limits.max_headers,
					     .reject_bare_lf = sc.limits.reject_bare_lf};
		raw_cfg.request_buffer = sc.limits.request_buffer;
		conf_release(&sc);
	}
	if (t && dump)
		route_table_dump(t, stdout);
	else if (t && raw)
		rc = raw_mode(t, &raw_cfg, argv + optind, argc - optind);
	else if (t && watch)
		watch_mode(ks, m, &c, &t);
	else if (t)
		line_mode(t);
	route_table_free(t);
	tls_certs_free(certs.store);
	control_cert_cache_free(certs.cache);
	tls_cert_unref(certs.fallback);
	kube_sync_free(ks);
	kube_config_release(&kc);
	control_model_free(m);
	return rc;
}
