/*
 * routing.c: desired state to route tables, on the management lcore.
 *
 * Rules come from the manifest directory or the Kubernetes sync, plus the configuration's
 * static routes; each change is compiled into a new immutable table and published to the
 * workers by pointer, the old table freed once no worker and no handshake can use it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>

#include "control/sources.h"
#include "daemon-int.h"

/* With the cluster as the source, a message about one object ("Ingress ns/name: ...",
 * "Secret ns/name ...", control.h's convention) also becomes a Warning Event on that object. */
static void post_event(struct daemon *d, const char *msg)
{
	if (d->kube == NULL)
		return;
	const char *at = msg;
	if (strncmp(at, "default certificate ", 20) == 0)
		at += 20;
	char kind[16], ns[254], name[254];
	if (sscanf(at, "%15s %253[^/ ]/%253[^ :(;]", kind, ns, name) != 3)
		return;
	const char *of = strstr(msg, " of Ingress ");
	if (strcmp(kind, "Secret") == 0 && strstr(msg, ": not found") && of &&
	    sscanf(of + 12, "%253[^/ ]/%253[^ :();]", ns, name) == 2)
		/* A missing Secret is no object to describe: the Ingress naming it is. */
		kube_sync_event(d->kube, "Ingress", ns, name, "CertificateProblem", msg);
	else if (strcmp(kind, "Ingress") == 0)
		kube_sync_event(d->kube, kind, ns, name, "IngressProblem", msg);
	else if (strcmp(kind, "Secret") == 0)
		kube_sync_event(d->kube, kind, ns, name, "CertificateProblem", msg);
}

/* Print the compile's messages that were not in the previous compile's: a missing Service is
 * reported when it starts being missing, not at every recompile. */
static void report_errors(struct daemon *d, const struct control_errors *errs)
{
	json_t *now = json_object();
	for (size_t i = 0; i < errs->n; i++) {
		if (d->last_errors == NULL ||
		    json_object_get(d->last_errors, errs->msgs[i]) == NULL) {
			log_warning("routing: %s", errs->msgs[i]);
			post_event(d, errs->msgs[i]);
		}
		json_object_set_new(now, errs->msgs[i], json_true());
	}
	json_decref(d->last_errors);
	d->last_errors = now;
}

/* The configuration's static routes, added to a model once per compile (files) or once at
 * start (Kubernetes, whose model persists). */
static void add_static(const struct sluice_conf *c, struct control_model *m,
		       struct control_errors *errs)
{
	struct control_static_route r[CONF_MAX_STATIC_ROUTES];
	for (unsigned i = 0; i < c->n_static_routes; i++) {
		const struct conf_static_route *sr = &c->static_routes[i];
		r[i] = (struct control_static_route){sr->host,	  sr->path,    sr->path_type,
						     sr->ep_addr, sr->ep_port, sr->n_eps};
	}
	control_add_static_routes(m, c->routing.ingress_class, r, c->n_static_routes, errs);
}

static void start_kube(struct daemon *d);

void routing_init(struct daemon *d)
{
	const struct sluice_conf *c = &d->conf;
	d->inotify_fd = -1;
	d->cls = control_class_of(c->routing.ingress_class, c->routing.controller,
				  c->routing.default_backend, c->routing.load_balance);
	if (c->n_static_routes)
		log_info("routing: %u static route(s) from the configuration", c->n_static_routes);
	if (c->kubernetes.enabled) {
		d->model = control_model_new();
		if (d->model == NULL)
			die("out of memory for the Kubernetes model");
		struct control_errors errs = {0};
		add_static(c, d->model, &errs);
		report_errors(d, &errs);
		control_errors_free(&errs);
		start_kube(d);
		return;
	}
	if (c->routing.manifests[0] == '\0') {
		log_notice("routing: no routing.manifests configured; every request gets 404 "
			   "until rules arrive");
		return;
	}
	d->manifest_files = UINT_MAX; /* nothing loaded yet: an empty directory is news */
	d->manifests = control_manifests_new(c->routing.manifests);
	if (d->manifests == NULL)
		die("out of memory for the manifest source");
	d->inotify_fd = control_manifests_watch(d->manifests);
	if (d->inotify_fd < 0)
		log_warning("routing: cannot watch %s (%s); changes need SIGHUP",
			    c->routing.manifests, strerror(errno));
	else
		log_info("routing: watching %s for changes", c->routing.manifests);
}

/* /readyz follows the rule sources: from files, once the directory has been read and one of
 * its manifests parsed (or it holds none); from a cluster, once every kind is listed
 * (routing_reload). Said in the log when it changes. */
static void files_ready(struct daemon *d)
{
	bool ready = true;
	const struct control_manifests_stats *st = NULL;
	if (d->manifests) {
		st = control_manifests_stats(d->manifests);
		ready = st->ready;
	}
	if (ready && st && st->present && st->files == 0 && d->manifest_files != 0)
		log_notice("routing: %s holds no manifest files; serving no Ingress rules (every "
			   "request gets 404 until some arrive)",
			   d->conf.routing.manifests);
	if (st && st->present)
		d->manifest_files = st->files;
	if (ready == d->ready && d->ready_said)
		return;
	if (ready)
		log_notice("routing: ready");
	else
		log_warning("routing: not ready (/readyz answers 503) until %s can be read and a "
			    "manifest in it parses",
			    d->conf.routing.manifests);
	d->ready = ready;
	d->ready_said = true;
	if (d->http)
		stats_http_set_ready(d->http, ready);
}

/* Read a whole file into a NUL-terminated buffer; NULL with errno set. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			if (nb == NULL || cap > (64u << 20)) {
				free(nb ? nb : buf);
				fclose(f);
				errno = nb ? EFBIG : ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Free the retired stores no worker can still be reading (wait: until every one can). */
static void certs_reap(struct daemon *d, bool wait)
{
	unsigned k = 0;
	for (unsigned i = 0; i < d->n_certs_retired; i++) {
		if (d->qsbr == NULL ||
		    rte_rcu_qsbr_check(d->qsbr, d->certs_retired[i].token, wait) == 1)
			tls_certs_free(d->certs_retired[i].certs);
		else
			d->certs_retired[k++] = d->certs_retired[i];
	}
	d->n_certs_retired = k;
}

void routing_serve_certs(struct daemon *d, struct tls_certs *s)
{
	struct tls_certs *old = d->certs;
	d->certs = s;
	if (d->tls == NULL) {
		tls_certs_free(old);
		return;
	}
	tls_server_set_certs(d->tls, s);
	if (old == NULL)
		return;
	if (d->qsbr == NULL || !d->workers_launched) {
		tls_certs_free(old); /* no worker has run a handshake yet */
		return;
	}
	if (d->n_certs_retired == sizeof(d->certs_retired) / sizeof(d->certs_retired[0]))
		certs_reap(d, true); /* workers pass a quiescent state every poll: brief */
	d->certs_retired[d->n_certs_retired].certs = old;
	d->certs_retired[d->n_certs_retired].token = rte_rcu_qsbr_start(d->qsbr);
	d->n_certs_retired++;
}

void routing_rotate_tickets(struct daemon *d)
{
	if (d->tls == NULL)
		return;
	char why[256];
	const char *file = d->conf.tls.ticket_key_file[0] ? d->conf.tls.ticket_key_file : NULL;
	if (tls_server_rotate_tickets(d->tls, file, why, sizeof(why)) != 0)
		log_warning("tls: session ticket keys: %s; keeping the current keys", why);
	d->next_ticket_rotation = rte_rdtsc() / rte_get_tsc_hz() + d->conf.tls.ticket_rotation_s;
}

void routing_tls_init(struct daemon *d)
{
	const struct conf_tls *t = &d->conf.tls;
	char why[256];
	if (t->terminate) {
		d->tls = tls_server_new(why, sizeof(why));
		if (d->tls == NULL)
			die("tls: %s", why);
		const char *file = t->ticket_key_file[0] ? t->ticket_key_file : NULL;
		if (tls_server_rotate_tickets(d->tls, file, why, sizeof(why)) != 0)
			die("tls.ticket_key_file %s: %s", file ? file : "", why);
		d->next_ticket_rotation = rte_rdtsc() / rte_get_tsc_hz() + t->ticket_rotation_s;
	}
	d->cert_cache = control_cert_cache_new();
	if (d->cert_cache == NULL)
		die("tls: out of memory");
	if (t->default_certificate[0]) {
		size_t cl = 0, kl = 0;
		char *crt = slurp(t->default_certificate, &cl);
		if (crt == NULL)
			die("tls.default_certificate: %s: %s", t->default_certificate,
			    strerror(errno));
		char *key = slurp(t->default_key, &kl);
		if (key == NULL) {
			free(crt);
			die("tls.default_key: %s: %s", t->default_key, strerror(errno));
		}
		d->default_cert = tls_cert_from_pem(crt, cl, key, kl, why, sizeof(why));
		memset(key, 0, kl);
		free(key);
		free(crt);
		if (d->default_cert == NULL)
			die("tls.default_certificate %s with tls.default_key %s: %s",
			    t->default_certificate, t->default_key, why);
		tls_cert_set_source(d->default_cert, t->default_certificate);
		log_info("tls: default certificate from %s", t->default_certificate);
		return;
	}
	d->default_cert = tls_cert_self_signed("Sluice default certificate", why, sizeof(why));
	if (d->default_cert == NULL)
		die("tls: %s", why);
	log_notice("tls: no default certificate configured (tls.default_certificate); names "
		   "without one of their own would be served a self-signed certificate");
}

/* The certificates for the Ingresses' spec.tls, from the same model as the routes. Unchanged
 * Secrets come from the cache; the store is replaced whole. */
static void compile_certs(struct daemon *d, const struct control_model *m,
			  struct control_errors *errs)
{
	uint64_t t0 = rte_rdtsc();
	struct control_tls_defaults defs = {d->conf.tls.default_secret, d->default_cert};
	struct control_cert_stats st;
	struct tls_certs *s = control_compile_certs(m, &d->cls, d->cert_cache, &defs, errs, &st);
	if (s == NULL) {
		log_warning("tls: out of memory compiling certificates; keeping the current ones");
		return;
	}
	routing_serve_certs(d, s);
	d->cert_stats = st;
	d->last_cert_compile_s = (double)(rte_rdtsc() - t0) / (double)rte_get_tsc_hz();
}

/* Compile the routes (management lcore): from the Kubernetes model when the cluster is the
 * source, else from the manifest directory (re-read) and the static routes. */
struct route_table *routing_load(struct daemon *d)
{
	const struct sluice_conf *c = &d->conf;
	struct control_errors errs = {0};
	struct control_model *m = d->model;
	if (m == NULL) {
		m = control_model_new();
		if (m == NULL) {
			log_warning(
				"routing: out of memory for the model; keeping the current table");
			return NULL;
		}
		if (d->manifests) {
			control_manifests_load(d->manifests, &errs);
			int n = control_manifests_fill(d->manifests, m, &errs);
			const struct control_manifests_stats *st =
				control_manifests_stats(d->manifests);
			if (st->present)
				log_info("routing: %d object(s) from %s (%u file(s), %u failing)",
					 n, c->routing.manifests, st->files, st->files_failing);
		}
		add_static(c, m, &errs);
	}
	struct route_table *t = control_compile(m, &d->cls, &errs);
	if (t)
		route_table_set_series(t, tcpl_series_of, NULL);
	compile_certs(d, m, &errs);
	report_errors(d, &errs);
	control_errors_free(&errs);
	if (m != d->model)
		control_model_free(m);
	if (t == NULL)
		log_warning("routing: out of memory compiling the route table; keeping the current "
			    "one");
	else if (d->publisher == NULL) /* later tables are logged as they are published */
		log_info("routing: %u rule(s), %u pool(s)", route_rule_count(t),
			 route_pool_count(t));
	if (t && d->model == NULL)
		files_ready(d);
	return t;
}

/* Free the retired tables the lifetime rule (lib/control/publish.h) allows to free. */
void routing_reap(struct daemon *d, uint64_t now)
{
	control_publisher_reap(d->publisher, now);
	certs_reap(d, false);
}

/* Recompile and publish: the hitless update. */
void routing_reload(struct daemon *d, uint64_t now)
{
	const uint64_t hz = rte_get_tsc_hz();
	uint64_t t0 = rte_rdtsc();
	uint64_t change_at = d->last_change_tsc;
	if (d->kube) {
		/* The sync's clock is CLOCK_MONOTONIC: the oldest change, as a TSC value. */
		uint64_t since = kube_sync_pending_since_ns(d->kube);
		uint64_t ago = since ? kube_now_ns() - since : 0;
		change_at = since ? t0 - ago * hz / 1000000000ull : 0;
		d->kube_compiled_gen = kube_sync_take_changes(d->kube);
	}
	struct route_table *t = routing_load(d);
	d->last_compile_s = (double)(rte_rdtsc() - t0) / (double)hz;
	if (t == NULL) {
		d->publish_failures++;
		d->reload_at = now + hz; /* memory may come back: try again */
		return;
	}
	control_publisher_reap(d->publisher, rte_rdtsc());
	if (control_publisher_publish(d->publisher, t, rte_rdtsc(), change_at) != 0) {
		route_table_free(t);
		d->reload_at = now + hz / 5; /* too many in flight: try shortly */
		return;
	}
	d->last_change_tsc = 0;
	d->reload_at = 0;
	if (d->kube) {
		/* Time the change to the moment every worker has passed a quiescent state after
		 * the swap (they poll in microseconds; wait a little for them here). */
		if (change_at)
			control_publisher_wait_workers(d->publisher, hz / 100);
		if (!d->ready && kube_sync_synced(d->kube)) {
			d->ready = true;
			log_notice("routing: ready (every kind listed, first table published)");
			if (d->http)
				stats_http_set_ready(d->http, true);
		}
		kube_sync_reconcile_status(d->kube);
	}
	log_info("routing: published table %lu: %u rule(s), %u pool(s) (compile %.1f ms)",
		 (unsigned long)control_publisher_stats(d->publisher)->publishes,
		 route_rule_count(t), route_pool_count(t), d->last_compile_s * 1e3);
}

/* The sync reports failures (each with its retry) and, once per kind, its first complete
 * list; the latter is progress, not trouble. */
static void kube_log(void *arg, const char *msg)
{
	(void)arg;
	size_t n = strlen(msg);
	bool listed = n >= 10 && strcmp(msg + n - 10, "; watching") == 0;
	log_msg(listed ? LOG_LEVEL_INFO : LOG_LEVEL_WARNING, "%s", msg);
}

/* Start the Kubernetes sync (management lcore, before the loop). */
static void start_kube(struct daemon *d)
{
	const struct conf_kubernetes *k = &d->conf.kubernetes;
	char err[1024];
	int rc = k->in_cluster
			 ? kube_config_in_cluster(KUBE_SERVICEACCOUNT_DIR, &d->kc, err, sizeof(err))
			 : kube_config_from_kubeconfig(k->kubeconfig,
						       k->context[0] ? k->context : NULL, &d->kc,
						       err, sizeof(err));
	if (rc != 0)
		die("kubernetes: %s", err);
	if (k->write_status) {
		for (unsigned i = 0; i < k->n_status_addresses; i++)
			snprintf(d->status_addrs[d->n_status++], sizeof(d->status_addrs[0]), "%s",
				 k->status_addresses[i]);
		for (unsigned p = 0; p < d->conf.n_ports && k->n_status_addresses == 0; p++)
			for (unsigned v = 0;
			     v < d->conf.ports[p].n_vips && d->n_status < RTE_DIM(d->status_addrs);
			     v++) {
				struct in_addr a = {.s_addr = d->conf.ports[p].vips[v]};
				inet_ntop(AF_INET, &a, d->status_addrs[d->n_status],
					  sizeof(d->status_addrs[0]));
				d->n_status++;
			}
		for (unsigned i = 0; i < d->n_status; i++)
			d->status_ptrs[i] = d->status_addrs[i];
	}
	struct kube_sync_opts so = {.client = &d->kc,
				    .model = d->model,
				    .cls = &d->cls,
				    .status_addrs = d->status_ptrs,
				    .n_status_addrs = d->n_status,
				    .backoff_max_ms = k->backoff_max_ms,
				    .log = kube_log};
	d->kube = kube_sync_new(&so, err, sizeof(err));
	if (d->kube == NULL)
		die("kubernetes: %s", err);
	log_info("kubernetes: syncing from %s (%s); ready once Ingress, IngressClass, Service and "
		 "EndpointSlice are listed",
		 d->kc.server, d->kc.source ? d->kc.source : "");
}

static void kube_section(struct stats_text *t, void *arg)
{
	struct daemon *d = arg;
	if (d->kube == NULL)
		return;
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} f[] = {
		{"kube_objects", "gauge", "Objects of the kind held from the API server",
		 offsetof(struct kube_kind_stats, objects)},
		{"kube_lists_total", "counter", "Complete lists of the kind",
		 offsetof(struct kube_kind_stats, lists)},
		{"kube_relists_gone_total", "counter", "Lists forced by 410 Gone",
		 offsetof(struct kube_kind_stats, relists_gone)},
		{"kube_watches_total", "counter", "Watch requests started",
		 offsetof(struct kube_kind_stats, watches)},
		{"kube_watch_resumes_total", "counter",
		 "Watches restarted from the last resourceVersion",
		 offsetof(struct kube_kind_stats, watch_resumes)},
		{"kube_events_total", "counter", "Watch events applied (ADDED, MODIFIED, DELETED)",
		 offsetof(struct kube_kind_stats, events)},
		{"kube_bookmarks_total", "counter", "Watch bookmarks received",
		 offsetof(struct kube_kind_stats, bookmarks)},
		{"kube_errors_total", "counter", "Failed list or watch requests",
		 offsetof(struct kube_kind_stats, errors)},
	};
	for (unsigned i = 0; i < RTE_DIM(f); i++) {
		stats_text_printf(t, "# HELP sluice_%s %s.\n# TYPE sluice_%s %s\n", f[i].name,
				  f[i].help, f[i].name, f[i].type);
		for (unsigned k = 0; k < KUBE_KIND__COUNT; k++) {
			const struct kube_kind_stats *st = kube_sync_stats(d->kube, k);
			stats_text_printf(
				t, "sluice_%s{kind=\"%s\"} %lu\n", f[i].name, kube_kind_name(k),
				(unsigned long)*(const uint64_t *)((const char *)st + f[i].off));
		}
	}
	stats_text_printf(t,
			  "# HELP sluice_kube_sync_state 1 for the kind's current state "
			  "(listing, watching, backoff).\n# TYPE sluice_kube_sync_state gauge\n");
	for (unsigned k = 0; k < KUBE_KIND__COUNT; k++)
		for (unsigned s = KUBE_STATE_LISTING; s <= KUBE_STATE_BACKOFF; s++)
			stats_text_printf(t,
					  "sluice_kube_sync_state{kind=\"%s\",state=\"%s\"} %d\n",
					  kube_kind_name(k), kube_sync_state_name(s),
					  kube_sync_stats(d->kube, k)->state == s);
	stats_text_printf(t, "# HELP sluice_kube_last_sync_timestamp_seconds Unix time of the "
			     "kind's last complete list or watch event.\n"
			     "# TYPE sluice_kube_last_sync_timestamp_seconds gauge\n");
	for (unsigned k = 0; k < KUBE_KIND__COUNT; k++)
		stats_text_printf(t, "sluice_kube_last_sync_timestamp_seconds{kind=\"%s\"} %.3f\n",
				  kube_kind_name(k), kube_sync_stats(d->kube, k)->last_sync_unix);
	const struct kube_status_stats *ss = kube_sync_status_stats(d->kube);
	stats_text_printf(
		t,
		"# HELP sluice_kube_synced 1 once every kind has been listed.\n"
		"# TYPE sluice_kube_synced gauge\nsluice_kube_synced %d\n"
		"# HELP sluice_kube_status_writes_total Ingress status PATCHes that succeeded.\n"
		"# TYPE sluice_kube_status_writes_total counter\n"
		"sluice_kube_status_writes_total{op=\"set\"} %lu\n"
		"sluice_kube_status_writes_total{op=\"clear\"} %lu\n"
		"# HELP sluice_kube_status_failures_total Ingress status PATCHes that failed.\n"
		"# TYPE sluice_kube_status_failures_total counter\n"
		"sluice_kube_status_failures_total %lu\n"
		"# HELP sluice_kube_change_to_workers_seconds From a watch event arriving to "
		"every worker having passed the swap to the table that includes it (last "
		"publish).\n# TYPE sluice_kube_change_to_workers_seconds gauge\n"
		"sluice_kube_change_to_workers_seconds %.6f\n",
		kube_sync_synced(d->kube), (unsigned long)(ss->written - ss->cleared),
		(unsigned long)ss->cleared, (unsigned long)ss->failed,
		control_publisher_stats(d->publisher)->change_to_workers_s);
	const struct kube_event_stats *es = kube_sync_event_stats(d->kube);
	stats_text_printf(t,
			  "# HELP sluice_kube_events_posted_total Warning Events posted about "
			  "Ingresses and Secrets with a problem.\n"
			  "# TYPE sluice_kube_events_posted_total counter\n"
			  "sluice_kube_events_posted_total %lu\n"
			  "# HELP sluice_kube_events_failed_total Events the API server refused or "
			  "that were not delivered.\n"
			  "# TYPE sluice_kube_events_failed_total counter\n"
			  "sluice_kube_events_failed_total %lu\n"
			  "# HELP sluice_kube_events_dropped_total Events dropped because too many "
			  "were queued.\n"
			  "# TYPE sluice_kube_events_dropped_total counter\n"
			  "sluice_kube_events_dropped_total %lu\n",
			  (unsigned long)es->posted, (unsigned long)es->failed,
			  (unsigned long)es->dropped);
}

static void route_section(struct stats_text *t, void *arg)
{
	struct daemon *d = arg;
	if (d->publisher == NULL)
		return; /* not started yet */
	const struct route_table *cur = control_publisher_current(d->publisher);
	const struct control_publisher_stats *st = control_publisher_stats(d->publisher);
	stats_text_printf(
		t,
		"# HELP sluice_route_rules Rules in the published route table.\n"
		"# TYPE sluice_route_rules gauge\nsluice_route_rules %u\n"
		"# HELP sluice_route_publishes_total Route tables published to the workers "
		"after the first.\n"
		"# TYPE sluice_route_publishes_total counter\nsluice_route_publishes_total "
		"%lu\n"
		"# HELP sluice_route_publish_failures_total Compiles that could not produce a "
		"table.\n# TYPE sluice_route_publish_failures_total counter\n"
		"sluice_route_publish_failures_total %lu\n"
		"# HELP sluice_route_compile_seconds Time the last compile took.\n"
		"# TYPE sluice_route_compile_seconds gauge\nsluice_route_compile_seconds "
		"%.6f\n"
		"# HELP sluice_route_change_to_publish_seconds From the last file change seen "
		"to the workers having the new table.\n"
		"# TYPE sluice_route_change_to_publish_seconds gauge\n"
		"sluice_route_change_to_publish_seconds %.6f\n",
		cur ? route_rule_count(cur) : 0, (unsigned long)st->publishes,
		(unsigned long)d->publish_failures, d->last_compile_s, st->change_to_publish_s);
	if (d->manifests == NULL)
		return;
	const struct control_manifests_stats *ms = control_manifests_stats(d->manifests);
	stats_text_printf(
		t,
		"# HELP sluice_manifest_directory_present 1 when the manifest directory could be "
		"read at the last load.\n"
		"# TYPE sluice_manifest_directory_present gauge\n"
		"sluice_manifest_directory_present %d\n"
		"# HELP sluice_manifest_files Manifest files held (as of the last load that could "
		"read the directory).\n"
		"# TYPE sluice_manifest_files gauge\nsluice_manifest_files %u\n"
		"# HELP sluice_manifest_files_failing Manifest files that do not parse (each "
		"keeps the objects of its last good version).\n"
		"# TYPE sluice_manifest_files_failing gauge\nsluice_manifest_files_failing %u\n"
		"# HELP sluice_manifest_errors_total Manifest files found failing to parse, once "
		"per failing version.\n"
		"# TYPE sluice_manifest_errors_total counter\nsluice_manifest_errors_total %lu\n",
		ms->present, ms->files, ms->files_failing, (unsigned long)ms->errors);
}

static void tls_section(struct stats_text *t, void *arg)
{
	struct daemon *d = arg;
	const struct control_cert_stats *s = &d->cert_stats;
	stats_text_printf(
		t,
		"# HELP sluice_tls_certificates Certificates in use (distinct Secrets named by "
		"spec.tls that parse).\n"
		"# TYPE sluice_tls_certificates gauge\nsluice_tls_certificates %u\n"
		"# HELP sluice_tls_certificate_names Host names (exact and wildcard) with a "
		"certificate of their own.\n"
		"# TYPE sluice_tls_certificate_names gauge\nsluice_tls_certificate_names %u\n"
		"# HELP sluice_tls_secret_errors Secrets named by spec.tls that cannot serve "
		"(missing, not decodable, key mismatch): their hosts get the default certificate.\n"
		"# TYPE sluice_tls_secret_errors gauge\nsluice_tls_secret_errors %u\n"
		"# HELP sluice_tls_default_certificate_self_signed 1 when the default "
		"certificate is the self-signed one generated at start.\n"
		"# TYPE sluice_tls_default_certificate_self_signed gauge\n"
		"sluice_tls_default_certificate_self_signed %d\n"
		"# HELP sluice_tls_certificate_earliest_expiry_timestamp_seconds When the first "
		"certificate in use expires (0: none in use).\n"
		"# TYPE sluice_tls_certificate_earliest_expiry_timestamp_seconds gauge\n"
		"sluice_tls_certificate_earliest_expiry_timestamp_seconds %lld\n"
		"# HELP sluice_tls_secret_parses_total Secrets parsed (unchanged Secrets are not "
		"parsed again).\n"
		"# TYPE sluice_tls_secret_parses_total counter\nsluice_tls_secret_parses_total "
		"%lu\n"
		"# HELP sluice_tls_certificate_compile_seconds Time the last certificate compile "
		"took.\n"
		"# TYPE sluice_tls_certificate_compile_seconds gauge\n"
		"sluice_tls_certificate_compile_seconds %.6f\n",
		s->certificates, s->names, s->secret_errors, s->default_self_signed ? 1 : 0,
		(long long)s->earliest_not_after,
		(unsigned long)(d->cert_cache ? control_cert_cache_parses(d->cert_cache) : 0),
		d->last_cert_compile_s);
	if (d->tls == NULL)
		return;
	struct tls_server_counts n;
	tls_server_counts(d->tls, &n);
	stats_text_printf(
		t,
		"# HELP sluice_tls_handshakes_total TLS handshakes completed on terminated "
		"connections (full and resumed).\n"
		"# TYPE sluice_tls_handshakes_total counter\nsluice_tls_handshakes_total %lu\n"
		"# HELP sluice_tls_resumed_total Handshakes that resumed a session from a ticket.\n"
		"# TYPE sluice_tls_resumed_total counter\nsluice_tls_resumed_total %lu\n"
		"# HELP sluice_tls_handshake_failures_total Handshakes that failed (protocol, "
		"version or cipher refused, bad record, the client's alert).\n"
		"# TYPE sluice_tls_handshake_failures_total counter\n"
		"sluice_tls_handshake_failures_total %lu\n"
		"# HELP sluice_tls_no_certificate_total Handshakes refused because no certificate "
		"could serve the name (no default either).\n"
		"# TYPE sluice_tls_no_certificate_total counter\nsluice_tls_no_certificate_total "
		"%lu\n"
		"# HELP sluice_tls_alpn_refused_total Handshakes refused because the client's ALPN "
		"list lacks http/1.1 (no_application_protocol).\n"
		"# TYPE sluice_tls_alpn_refused_total counter\nsluice_tls_alpn_refused_total %lu\n"
		"# HELP sluice_tls_tickets_renewed_total Session tickets renewed under a newer "
		"key.\n"
		"# TYPE sluice_tls_tickets_renewed_total counter\n"
		"sluice_tls_tickets_renewed_total %lu\n",
		(unsigned long)n.handshakes, (unsigned long)n.resumed, (unsigned long)n.failed,
		(unsigned long)n.no_certificate, (unsigned long)n.alpn_refused,
		(unsigned long)n.tickets_renewed);
}

void routing_register_metrics(struct daemon *d)
{
	stats_register_section(route_section, d);
	stats_register_section(tls_section, d);
	if (d->kube)
		stats_register_section(kube_section, d);
}
