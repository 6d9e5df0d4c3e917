/*
 * sync.c: list and watch four kinds into the control model, and write Ingress status.
 *
 * Per kind, a small state machine:
 *
 *   LISTING ──(last page)──▶ WATCHING ──(stream ends normally)──▶ WATCHING (resumed from the
 *      ▲                        │                                  last resourceVersion)
 *      │                        ├──(410 Gone, in-stream or HTTP)──▶ LISTING
 *      │                        └──(error, drop)──▶ BACKOFF ──▶ WATCHING from the last rv
 *      └──(error while listing)──── BACKOFF ◀──┘
 *
 * A relist replaces the kind's objects: what the list did not return is deleted. Lists come in
 * pages (limit/continue); an expired continue token (410) restarts the list.
 *
 * All transfers share one curl multi handle driven by curl_multi_socket_action; curl's sockets
 * live in our own epoll set, whose descriptor the caller polls. Timers are curl's next timeout,
 * each kind's retry time and the status writer's retry time.
 */
#include "kube/kube.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>

char *kube__token(const struct kube_client_config *c, char *err, size_t errlen);

static const struct {
	const char *kind, *api_version, *path;
} kinds[KUBE_KIND__COUNT] = {
	[KUBE_INGRESS] = {"Ingress", "networking.k8s.io/v1",
			  "/apis/networking.k8s.io/v1/ingresses"},
	[KUBE_INGRESSCLASS] = {"IngressClass", "networking.k8s.io/v1",
			       "/apis/networking.k8s.io/v1/ingressclasses"},
	[KUBE_SERVICE] = {"Service", "v1", "/api/v1/services"},
	[KUBE_ENDPOINTSLICE] = {"EndpointSlice", "discovery.k8s.io/v1",
				"/apis/discovery.k8s.io/v1/endpointslices"},
};

const char *kube_kind_name(enum kube_kind k)
{
	return k < KUBE_KIND__COUNT ? kinds[k].kind : "?";
}

const char *kube_sync_state_name(enum kube_sync_state s)
{
	switch (s) {
	case KUBE_STATE_LISTING:
		return "listing";
	case KUBE_STATE_WATCHING:
		return "watching";
	case KUBE_STATE_BACKOFF:
		return "backoff";
	}
	return "?";
}

uint64_t kube_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double unix_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define MAX_BODY	     (512u << 20) /* a list page or one watch event larger than this is refused */
#define MAX_STATUS_IN_FLIGHT 8

enum xfer_type {
	X_LIST,
	X_WATCH,
	X_STATUS
};

struct kube_sync;

struct xfer {
	struct kube_sync *s;
	CURL *easy;
	enum xfer_type type;
	enum kube_kind kind;
	char *buf;
	size_t len, cap;
	struct curl_slist *hdrs;
	char *body;	  /* request body (status PATCH) */
	char *key;	  /* status: "ns/name" */
	bool clear;	  /* status: a clear rather than a set */
	bool gone;	  /* watch: ERROR 410 seen in the stream */
	bool bad;	  /* the response could not be used; message in err */
	uint64_t started; /* ns */
	uint64_t events;  /* watch: events applied in this stream */
	char err[CURL_ERROR_SIZE + 256];
};

struct kind_state {
	struct xfer *x;
	char *cont;   /* list continue token; NULL = first page */
	json_t *seen; /* while listing: "ns/name" set */
	json_t *held; /* "ns/name" set of what the model holds from us */
	bool synced_once;
	unsigned failures;
	uint64_t retry_at; /* ns; when state is BACKOFF */
	struct kube_kind_stats st;
};

struct kube_sync {
	struct kube_sync_opts o;
	CURLM *multi;
	int ep;
	uint64_t curl_deadline; /* ns, 0 = none */
	struct kind_state k[KUBE_KIND__COUNT];
	uint64_t generation;
	uint64_t pending_since;
	uint64_t rng;
	/* token cache (token files are re-read once a minute) */
	char *token;
	uint64_t token_at;
	/* status writer */
	json_t *desired_lb;   /* array for status.loadBalancer.ingress */
	json_t *status_queue; /* "ns/name" → desired (array, or null to clear) */
	json_t *status_busy;  /* "ns/name" in flight */
	unsigned status_in_flight;
	struct xfer *status_x[MAX_STATUS_IN_FLIGHT];
	unsigned status_failures;
	uint64_t status_retry_at;
	bool status_waiting; /* what is queued waits for writes in flight: no timer needed */
	struct kube_status_stats sst;
};

static void logf_(struct kube_sync *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct kube_sync *s, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->o.log)
		s->o.log(s->o.log_arg, msg);
}

static uint32_t rnd(struct kube_sync *s)
{
	uint64_t x = s->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->rng = x;
	return (uint32_t)(x >> 32);
}

/* Exponential back-off with jitter: the n-th failure waits a random time in [d/2, d], where d
 * doubles from backoff_min to backoff_max. */
static uint64_t backoff_ns(struct kube_sync *s, unsigned failures)
{
	uint64_t d = s->o.backoff_min_ms;
	for (unsigned i = 1; i < failures && d < s->o.backoff_max_ms; i++)
		d *= 2;
	if (d > s->o.backoff_max_ms)
		d = s->o.backoff_max_ms;
	uint64_t half = d / 2;
	return (half + (half ? rnd(s) % (half + 1) : 0)) * 1000000ull;
}

static void bump(struct kube_sync *s)
{
	s->generation++;
	if (s->pending_since == 0)
		s->pending_since = kube_now_ns();
}

/* ---- curl plumbing ------------------------------------------------------------------------ */

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
	(void)e;
	struct kube_sync *s = userp;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(s->ep, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	struct epoll_event ev = {.data.fd = fd};
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	int rc;
	if (sockp == NULL) {
		rc = epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev);
		if (rc != 0 && errno == EEXIST)
			rc = epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev);
		curl_multi_assign(s->multi, fd, s);
	} else {
		rc = epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev);
		if (rc != 0 && errno == ENOENT)
			rc = epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev);
	}
	if (rc != 0) {
		/* Unwatched, the transfer would stall until its timeout: fail it now. */
		logf_(s, "kubernetes: cannot watch socket %d: %s", (int)fd, strerror(errno));
		return -1;
	}
	return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
	(void)m;
	struct kube_sync *s = userp;
	s->curl_deadline = timeout_ms < 0 ? 0 : kube_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	return 0;
}

static bool buf_append(struct xfer *x, const char *p, size_t n)
{
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 16384;
		while (cap < x->len + n + 1)
			cap *= 2;
		if (cap > MAX_BODY)
			return false;
		char *nb = realloc(x->buf, cap);
		if (nb == NULL)
			return false;
		x->buf = nb;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, p, n);
	x->len += n;
	x->buf[x->len] = '\0';
	return true;
}

static void xfer_free(struct xfer *x)
{
	if (x == NULL)
		return;
	if (x->easy) {
		curl_multi_remove_handle(x->s->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->hdrs);
	free(x->buf);
	free(x->body);
	free(x->key);
	free(x);
}

static const char *current_token(struct kube_sync *s)
{
	const struct kube_client_config *c = s->o.client;
	uint64_t now = kube_now_ns();
	if (s->token && (c->token || now - s->token_at < 60ull * 1000000000ull))
		return s->token;
	char err[512] = "out of memory";
	char *t = kube__token(c, err, sizeof(err));
	if (t == NULL && (c->token || c->token_file)) {
		logf_(s, "kubernetes: %s; keeping the previous token", err);
		s->token_at = now; /* try the file again in a minute, not on every request */
		return s->token;
	}
	free(s->token);
	s->token = t;
	s->token_at = now;
	return s->token;
}

static size_t on_data(char *p, size_t sz, size_t nm, void *arg);

static struct xfer *xfer_new(struct kube_sync *s, enum xfer_type type, enum kube_kind kind,
			     const char *url, long timeout_s)
{
	struct xfer *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->s = s;
	x->type = type;
	x->kind = kind;
	x->started = kube_now_ns();
	x->easy = curl_easy_init();
	if (x->easy == NULL) {
		free(x);
		return NULL;
	}
	const struct kube_client_config *c = s->o.client;
	CURL *e = x->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->err);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "sluice/0.1 (ingress controller)");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	if (c->ca_data) {
		struct curl_blob b = {c->ca_data, c->ca_len, CURL_BLOB_COPY};
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	} else if (c->ca_file) {
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	}
	if (c->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->cert_data) {
		struct curl_blob cb = {c->cert_data, c->cert_len, CURL_BLOB_COPY};
		struct curl_blob kb = {c->key_data, c->key_len, CURL_BLOB_COPY};
		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cb);
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &kb);
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (c->cert_file) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
	}
	x->hdrs = curl_slist_append(x->hdrs, "Accept: application/json");
	const char *tok = current_token(s);
	if (tok) {
		char *h = NULL;
		if (asprintf(&h, "Authorization: Bearer %s", tok) >= 0) {
			x->hdrs = curl_slist_append(x->hdrs, h);
			free(h);
		}
	}
	return x;
}

static bool xfer_start(struct xfer *x)
{
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
	return curl_multi_add_handle(x->s->multi, x->easy) == CURLM_OK;
}

static long response_code(const struct xfer *x)
{
	long code = 0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

/* ---- objects into the model --------------------------------------------------------------- */

/* Drop what routing never reads and what makes objects large. */
static void slim(json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");
	json_object_del(meta, "managedFields");
	json_object_del(json_object_get(meta, "annotations"),
			"kubectl.kubernetes.io/last-applied-configuration");
}

static bool obj_key(json_t *obj, enum kube_kind k, char *key, size_t len, const char **ns,
		    const char **name)
{
	json_t *meta = json_object_get(obj, "metadata");
	*name = json_string_value(json_object_get(meta, "name"));
	*ns = json_string_value(json_object_get(meta, "namespace"));
	if (*ns == NULL)
		*ns = k == KUBE_INGRESSCLASS ? "" : "default";
	if (*name == NULL)
		return false;
	snprintf(key, len, "%s/%s", *ns, *name);
	return true;
}

/* Whether a change from old to new can change routing or class membership. For Ingresses
 * whose only change is their status (our own writes coming back) the answer is no. */
static bool routing_change(enum kube_kind k, json_t *old, json_t *new_)
{
	if (old == NULL || k != KUBE_INGRESS)
		return true;
	json_t *om = json_object_get(old, "metadata"), *nm = json_object_get(new_, "metadata");
	return !json_equal(json_object_get(old, "spec"), json_object_get(new_, "spec")) ||
	       !json_equal(json_object_get(om, "annotations"),
			   json_object_get(nm, "annotations")) ||
	       !json_equal(json_object_get(om, "creationTimestamp"),
			   json_object_get(nm, "creationTimestamp"));
}

static void status_check_one(struct kube_sync *s, json_t *ing);
static void status_forget(struct kube_sync *s, const char *key);

/* Add or replace; returns whether routing may have changed. */
static bool apply(struct kube_sync *s, enum kube_kind k, json_t *obj, const char *where)
{
	if (json_object_get(obj, "kind") == NULL)
		json_object_set_new(obj, "kind", json_string(kinds[k].kind));
	if (json_object_get(obj, "apiVersion") == NULL)
		json_object_set_new(obj, "apiVersion", json_string(kinds[k].api_version));
	slim(obj);
	char key[600];
	const char *ns, *name;
	if (!obj_key(obj, k, key, sizeof(key), &ns, &name)) {
		logf_(s, "kubernetes: %s %s: object without metadata.name; ignored", where,
		      kinds[k].kind);
		return false;
	}
	json_t *old = control_find_object(s->o.model, kinds[k].kind, ns, name);
	bool changed = routing_change(k, old, obj);
	struct control_errors errs = {0};
	int r = control_add_object(s->o.model, obj, where, &errs);
	for (size_t i = 0; i < errs.n; i++)
		logf_(s, "kubernetes: %s", errs.msgs[i]);
	control_errors_free(&errs);
	if (r <= 0)
		return false;
	json_object_set_new(s->k[k].held, key, json_true());
	if (k == KUBE_INGRESS)
		status_check_one(s, obj);
	return changed;
}

static bool remove_obj(struct kube_sync *s, enum kube_kind k, const char *key)
{
	const char *slash = strchr(key, '/');
	if (slash == NULL)
		return false;
	char ns[300];
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
	json_object_del(s->k[k].held, key);
	if (k == KUBE_INGRESS)
		status_forget(s, key);
	return control_delete_object(s->o.model, kinds[k].kind, ns, slash + 1) > 0;
}

static const char *rv_of(json_t *obj)
{
	return json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

static void set_rv(struct kind_state *ks, const char *rv)
{
	if (rv && rv[0])
		snprintf(ks->st.resource_version, sizeof(ks->st.resource_version), "%s", rv);
}

/* ---- list and watch ----------------------------------------------------------------------- */

static void start_list(struct kube_sync *s, enum kube_kind k);
static void start_watch(struct kube_sync *s, enum kube_kind k);

/* Append v, percent-encoded by libcurl, to the URL in out. */
static void url_escape_append(char *out, size_t len, const char *v)
{
	char *e = curl_easy_escape(NULL, v, 0);
	if (e) {
		strncat(out, e, len - strlen(out) - 1);
		curl_free(e);
	}
}

/* Hand the kind's new transfer to curl; if it cannot even start, retry after a back-off. */
static void start_or_back_off(struct kube_sync *s, struct kind_state *ks)
{
	if (ks->x && xfer_start(ks->x))
		return;
	xfer_free(ks->x);
	ks->x = NULL;
	ks->failures++;
	ks->st.state = KUBE_STATE_BACKOFF;
	ks->retry_at = kube_now_ns() + backoff_ns(s, ks->failures);
}

static void start_list(struct kube_sync *s, enum kube_kind k)
{
	struct kind_state *ks = &s->k[k];
	ks->st.state = KUBE_STATE_LISTING;
	if (ks->cont == NULL) {
		json_decref(ks->seen);
		ks->seen = json_object();
	}
	char url[4096];
	snprintf(url, sizeof(url), "%s%s?limit=%u", s->o.client->server, kinds[k].path,
		 s->o.page_size);
	if (ks->cont) {
		strncat(url, "&continue=", sizeof(url) - strlen(url) - 1);
		url_escape_append(url, sizeof(url), ks->cont);
	}
	ks->x = xfer_new(s, X_LIST, k, url, 120);
	start_or_back_off(s, ks);
}

static void start_watch(struct kube_sync *s, enum kube_kind k)
{
	struct kind_state *ks = &s->k[k];
	ks->st.state = KUBE_STATE_WATCHING;
	unsigned t = s->o.watch_timeout_s;
	t += rnd(s) % (t / 4 + 1);
	char url[4096];
	snprintf(url, sizeof(url),
		 "%s%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u",
		 s->o.client->server, kinds[k].path, ks->st.resource_version, t);
	ks->x = xfer_new(s, X_WATCH, k, url, (long)t + 30);
	ks->st.watches++;
	if (ks->x) {
		/* A silently dead connection: the API server sends a bookmark about every minute,
		 * so two minutes without a byte means the watch is gone; resume it. */
		curl_easy_setopt(ks->x->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(ks->x->easy, CURLOPT_LOW_SPEED_TIME, 120L);
	}
	start_or_back_off(s, ks);
}

/* One line of a watch stream. Returns false to end the stream. */
static bool watch_event(struct xfer *x, const char *line, size_t len)
{
	struct kube_sync *s = x->s;
	struct kind_state *ks = &s->k[x->kind];
	json_error_t je;
	json_t *ev = json_loadb(line, len, 0, &je);
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *obj = json_object_get(ev, "object");
	bool go_on = true;
	if (ev == NULL || type == NULL || !json_is_object(obj)) {
		snprintf(x->err, sizeof(x->err),
			 "watch event is not valid JSON with type and object: %s",
			 ev ? "fields missing" : je.text);
		x->bad = true;
		go_on = false;
	} else if (strcmp(type, "ERROR") == 0) {
		json_int_t code = json_integer_value(json_object_get(obj, "code"));
		const char *msg = json_string_value(json_object_get(obj, "message"));
		if (code == 410) {
			x->gone = true;
		} else {
			snprintf(x->err, sizeof(x->err), "watch ERROR %lld: %s", (long long)code,
				 msg ? msg : "");
			x->bad = true;
		}
		go_on = false;
	} else if (strcmp(type, "BOOKMARK") == 0) {
		set_rv(ks, rv_of(obj));
		ks->st.bookmarks++;
	} else if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
		if (apply(s, x->kind, obj, "watch"))
			bump(s);
		set_rv(ks, rv_of(obj));
		ks->st.events++;
		x->events++;
	} else if (strcmp(type, "DELETED") == 0) {
		char key[600];
		const char *ns, *name;
		if (obj_key(obj, x->kind, key, sizeof(key), &ns, &name) &&
		    remove_obj(s, x->kind, key))
			bump(s);
		set_rv(ks, rv_of(obj));
		ks->st.events++;
		x->events++;
	} else {
		logf_(s, "kubernetes: %s watch: unknown event type \"%s\"; ignored",
		      kinds[x->kind].kind, type);
	}
	if (go_on) {
		ks->st.last_sync_unix = unix_now();
		ks->failures = 0; /* the watch works: the next drop starts the back-off afresh */
	}
	ks->st.objects = json_object_size(ks->held);
	json_decref(ev);
	return go_on;
}

static size_t on_data(char *p, size_t sz, size_t nm, void *arg)
{
	struct xfer *x = arg;
	size_t n = sz * nm;
	if (!buf_append(x, p, n)) {
		snprintf(x->err, sizeof(x->err), "response larger than %u MiB", MAX_BODY >> 20);
		x->bad = true;
		return 0;
	}
	if (x->type != X_WATCH || response_code(x) != 200)
		return n; /* whole bodies are handled at the end */
	size_t start = 0;
	for (size_t i = x->len - n; i < x->len; i++) {
		if (x->buf[i] != '\n')
			continue;
		if (i > start && !watch_event(x, x->buf + start, i - start))
			return 0; /* ends the transfer: 410 or an unusable event */
		start = i + 1;
	}
	if (start) {
		memmove(x->buf, x->buf + start, x->len - start);
		x->len -= start;
		x->buf[x->len] = '\0';
	}
	return n;
}

/* The message of a Kubernetes Status body, or the start of whatever came back. */
static void status_message(const struct xfer *x, char *out, size_t len)
{
	json_t *j = x->buf ? json_loadb(x->buf, x->len, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(j, "message"));
	if (m)
		snprintf(out, len, "%s", m);
	else
		snprintf(out, len, "%.120s", x->buf ? x->buf : "");
	json_decref(j);
}

static void kind_failed(struct kube_sync *s, enum kube_kind k, const char *what)
{
	struct kind_state *ks = &s->k[k];
	ks->st.errors++;
	ks->failures++;
	uint64_t d = backoff_ns(s, ks->failures);
	ks->st.state = KUBE_STATE_BACKOFF;
	ks->retry_at = kube_now_ns() + d;
	logf_(s, "kubernetes: %s %s; retrying in %.1f s", kinds[k].kind, what, (double)d * 1e-9);
}

static void list_done(struct kube_sync *s, struct xfer *x, CURLcode rc)
{
	enum kube_kind k = x->kind;
	struct kind_state *ks = &s->k[k];
	long code = response_code(x);
	char what[1024], msg[512];
	if (rc != CURLE_OK || code != 200 || x->bad) {
		if (code == 410 && ks->cont) { /* the continue token expired: list again */
			free(ks->cont);
			ks->cont = NULL;
			logf_(s, "kubernetes: %s list: continue token expired; listing again",
			      kinds[k].kind);
			start_list(s, k);
			return;
		}
		status_message(x, msg, sizeof(msg));
		if (rc != CURLE_OK && !x->bad)
			snprintf(what, sizeof(what), "list from %s: %s", s->o.client->server,
				 x->err[0] ? x->err : curl_easy_strerror(rc));
		else if (x->bad)
			snprintf(what, sizeof(what), "list: %s", x->err);
		else
			snprintf(what, sizeof(what), "list: HTTP %ld: %s", code, msg);
		kind_failed(s, k, what);
		return;
	}
	json_error_t je;
	json_t *j = json_loadb(x->buf ? x->buf : "", x->len, 0, &je);
	json_t *items = json_object_get(j, "items");
	if (!json_is_array(items)) {
		json_decref(j);
		kind_failed(s, k, "list: response is not a list (no items array)");
		return;
	}
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it)
	{
		if (!json_is_object(it))
			continue;
		apply(s, k, it, "list");
		char key[600];
		const char *ns, *name;
		if (obj_key(it, k, key, sizeof(key), &ns, &name))
			json_object_set_new(ks->seen, key, json_true());
	}
	json_t *meta = json_object_get(j, "metadata");
	const char *cont = json_string_value(json_object_get(meta, "continue"));
	free(ks->cont);
	ks->cont = cont && cont[0] ? strdup(cont) : NULL;
	if (ks->cont) {
		json_decref(j);
		start_list(s, k); /* the next page */
		return;
	}
	/* Complete: what the list did not return is gone. */
	const char *key;
	json_t *v;
	void *tmp;
	json_t *held = json_copy(ks->held);
	json_object_foreach_safe(held, tmp, key, v)
	{
		if (json_object_get(ks->seen, key) == NULL)
			remove_obj(s, k, key);
	}
	json_decref(held);
	json_decref(ks->seen);
	ks->seen = NULL;
	set_rv(ks, rv_of(j));
	json_decref(j);
	ks->st.lists++;
	ks->st.objects = json_object_size(ks->held);
	ks->st.last_sync_unix = unix_now();
	ks->failures = 0;
	bool first = !ks->synced_once;
	ks->synced_once = true;
	bump(s);
	if (first)
		logf_(s, "kubernetes: %s: %zu object(s) listed at resourceVersion %s; watching",
		      kinds[k].kind, json_object_size(ks->held), ks->st.resource_version);
	if ((k == KUBE_INGRESS || k == KUBE_INGRESSCLASS) && kube_sync_synced(s))
		kube_sync_reconcile_status(s);
	start_watch(s, k);
}

static void watch_done(struct kube_sync *s, struct xfer *x, CURLcode rc)
{
	enum kube_kind k = x->kind;
	struct kind_state *ks = &s->k[k];
	long code = response_code(x);
	char what[1024], msg[512];
	if (x->gone || code == 410) {
		ks->st.relists_gone++;
		logf_(s,
		      "kubernetes: %s watch: resourceVersion %s is too old (410 Gone); listing "
		      "again",
		      kinds[k].kind, ks->st.resource_version);
		if (x->events == 0 && kube_now_ns() - x->started < 1000000000ull &&
		    ks->st.relists_gone > 1) {
			/* A fresh list's version already too old: do not list in a loop. */
			free(ks->cont);
			ks->cont = NULL;
			json_decref(ks->seen);
			ks->seen = json_object(); /* the retry lists */
			ks->failures++;
			ks->st.state = KUBE_STATE_BACKOFF;
			ks->retry_at = kube_now_ns() + backoff_ns(s, ks->failures);
			return;
		}
		start_list(s, k);
		return;
	}
	if (rc == CURLE_OK && code == 200 && !x->bad) {
		/* The server ended the stream (its timeout): resume from where we are. A stream
		 * that ends at once with nothing in it counts as a failure, so a server that
		 * keeps doing that is not hammered. */
		if (x->events == 0 && kube_now_ns() - x->started < 1000000000ull) {
			kind_failed(s, k, "watch ended at once");
			return;
		}
		ks->failures = 0;
		ks->st.watch_resumes++;
		start_watch(s, k);
		return;
	}
	status_message(x, msg, sizeof(msg));
	if (x->bad)
		snprintf(what, sizeof(what), "watch: %s", x->err);
	else if (rc != CURLE_OK)
		snprintf(what, sizeof(what), "watch dropped (%s); resuming from resourceVersion %s",
			 x->err[0] ? x->err : curl_easy_strerror(rc), ks->st.resource_version);
	else
		snprintf(what, sizeof(what), "watch: HTTP %ld: %s", code, msg);
	kind_failed(s, k, what);
	ks->st.watch_resumes++;
}

/* ---- status ------------------------------------------------------------------------------- */

static json_t *lb_ingress_of(json_t *ing)
{
	return json_object_get(json_object_get(json_object_get(ing, "status"), "loadBalancer"),
			       "ingress");
}

static void status_forget(struct kube_sync *s, const char *key)
{
	json_object_del(s->status_queue, key);
}

/* Decide what one Ingress's status should be and queue a PATCH if it differs. */
static void status_check_one(struct kube_sync *s, json_t *ing)
{
	if (s->desired_lb == NULL || !kube_sync_synced(s))
		return;
	char key[600];
	const char *ns, *name;
	if (!obj_key(ing, KUBE_INGRESS, key, sizeof(key), &ns, &name))
		return;
	json_t *cur = lb_ingress_of(ing);
	bool ours = control_ingress_is_ours(s->o.model, s->o.cls, ing);
	if (ours && !json_equal(cur, s->desired_lb))
		json_object_set(s->status_queue, key, s->desired_lb);
	else if (!ours && json_array_size(cur) > 0 && json_equal(cur, s->desired_lb))
		json_object_set_new(s->status_queue, key, json_null()); /* it left our class */
	else {
		json_object_del(s->status_queue, key);
		return;
	}
	s->status_waiting = false;
}

void kube_sync_reconcile_status(struct kube_sync *s)
{
	if (s->desired_lb == NULL || !kube_sync_synced(s))
		return;
	size_t n = control_object_count(s->o.model);
	for (size_t i = 0; i < n; i++) {
		json_t *o = control_object_at(s->o.model, i);
		const char *kind = json_string_value(json_object_get(o, "kind"));
		if (kind && strcmp(kind, "Ingress") == 0) {
			char key[600];
			const char *ns, *name;
			if (obj_key(o, KUBE_INGRESS, key, sizeof(key), &ns, &name) &&
			    json_object_get(s->k[KUBE_INGRESS].held, key))
				status_check_one(s, o);
		}
	}
}

static void status_start(struct kube_sync *s)
{
	if (s->status_retry_at && kube_now_ns() < s->status_retry_at)
		return;
	s->status_retry_at = 0;
	const char *key;
	json_t *desired;
	void *tmp;
	/* Everything left after this pass waits for a write in flight to the same Ingress. */
	s->status_waiting = true;
	json_object_foreach_safe(s->status_queue, tmp, key, desired)
	{
		if (s->status_in_flight >= MAX_STATUS_IN_FLIGHT) {
			s->status_waiting = false;
			return;
		}
		if (json_object_get(s->status_busy, key))
			continue;
		const char *slash = strchr(key, '/');
		if (slash == NULL) {
			json_object_del(s->status_queue, key);
			continue;
		}
		char url[4096];
		snprintf(url, sizeof(url),
			 "%s/apis/networking.k8s.io/v1/namespaces/%.*s/ingresses/",
			 s->o.client->server, (int)(slash - key), key);
		url_escape_append(url, sizeof(url), slash + 1);
		strncat(url, "/status", sizeof(url) - strlen(url) - 1);
		struct xfer *x = xfer_new(s, X_STATUS, KUBE_INGRESS, url, 30);
		if (x == NULL) {
			s->status_waiting = false;
			s->status_retry_at = kube_now_ns() + 1000000000ull;
			return;
		}
		json_t *patch =
			json_pack("{s:{s:{s:O}}}", "status", "loadBalancer", "ingress", desired);
		x->body = json_dumps(patch, JSON_COMPACT);
		json_decref(patch);
		x->key = strdup(key);
		x->clear = json_is_null(desired);
		x->hdrs = curl_slist_append(x->hdrs, "Content-Type: application/merge-patch+json");
		curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, "PATCH");
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
		if (!xfer_start(x)) {
			xfer_free(x);
			s->status_waiting = false;
			s->status_retry_at = kube_now_ns() + 1000000000ull;
			return;
		}
		json_object_set_new(s->status_busy, key, json_true());
		json_object_del(s->status_queue, key);
		s->status_in_flight++;
		for (unsigned i = 0; i < MAX_STATUS_IN_FLIGHT; i++)
			if (s->status_x[i] == NULL) {
				s->status_x[i] = x;
				break;
			}
	}
}

static void status_done(struct kube_sync *s, struct xfer *x, CURLcode rc)
{
	long code = response_code(x);
	s->status_in_flight--;
	s->status_waiting = false;
	for (unsigned i = 0; i < MAX_STATUS_IN_FLIGHT; i++)
		if (s->status_x[i] == x)
			s->status_x[i] = NULL;
	json_object_del(s->status_busy, x->key);
	if (rc == CURLE_OK && code == 200) {
		s->sst.written++;
		s->sst.cleared += x->clear;
		s->status_failures = 0;
		json_t *obj = json_loadb(x->buf ? x->buf : "", x->len, 0, NULL);
		char key[600];
		const char *ns, *name;
		/* The API's answer is the Ingress with its new status: keep it, so the check
		 * below sees the write (the watch event that follows is then no change). */
		if (json_is_object(obj) &&
		    obj_key(obj, KUBE_INGRESS, key, sizeof(key), &ns, &name) &&
		    json_object_get(s->k[KUBE_INGRESS].held, key) &&
		    apply(s, KUBE_INGRESS, obj, "status"))
			bump(s); /* the answer may carry a spec change the watch has not shown yet
				  */
		json_decref(obj);
		return;
	}
	if (code == 404) /* the Ingress went away meanwhile */
		return;
	char msg[512];
	status_message(x, msg, sizeof(msg));
	s->sst.failed++;
	s->status_failures++;
	uint64_t d = backoff_ns(s, s->status_failures);
	s->status_retry_at = kube_now_ns() + d;
	logf_(s, "kubernetes: writing status of Ingress %s: %s; retrying in %.1f s", x->key,
	      rc != CURLE_OK ? (x->err[0] ? x->err : curl_easy_strerror(rc)) : msg,
	      (double)d * 1e-9);
	/* Decide again from the Ingress as it is now. */
	const char *slash = strchr(x->key, '/');
	char ns[300];
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - x->key), x->key);
	json_t *ing = control_find_object(s->o.model, "Ingress", ns, slash + 1);
	if (ing)
		status_check_one(s, ing);
}

/* ---- the loop ----------------------------------------------------------------------------- */

static void drain_done(struct kube_sync *s)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(s->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct xfer *x = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		CURLcode rc = m->data.result;
		if (x->type != X_STATUS)
			s->k[x->kind].x = NULL;
		/* A watch we ended ourselves (410 or a bad event) reports a write error. */
		if (rc == CURLE_WRITE_ERROR && (x->gone || x->bad))
			rc = CURLE_OK;
		switch (x->type) {
		case X_LIST:
			list_done(s, x, rc);
			break;
		case X_WATCH:
			watch_done(s, x, rc);
			break;
		case X_STATUS:
			status_done(s, x, rc);
			break;
		}
		xfer_free(x);
	}
}

void kube_sync_run(struct kube_sync *s)
{
	int running;
	struct epoll_event evs[64];
	int n = epoll_wait(s->ep, evs, 64, 0);
	for (int i = 0; i < n; i++) {
		int flags = 0;
		if (evs[i].events & EPOLLIN)
			flags |= CURL_CSELECT_IN;
		if (evs[i].events & EPOLLOUT)
			flags |= CURL_CSELECT_OUT;
		if (evs[i].events & (EPOLLERR | EPOLLHUP))
			flags |= CURL_CSELECT_ERR;
		curl_multi_socket_action(s->multi, evs[i].data.fd, flags, &running);
	}
	uint64_t now = kube_now_ns();
	if (s->curl_deadline && now >= s->curl_deadline) {
		s->curl_deadline = 0;
		curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	drain_done(s);
	now = kube_now_ns();
	for (unsigned k = 0; k < KUBE_KIND__COUNT; k++) {
		struct kind_state *ks = &s->k[k];
		if (ks->st.state != KUBE_STATE_BACKOFF || ks->x || now < ks->retry_at)
			continue;
		/* Resume a watch when we have a resourceVersion from a complete list;
		 * otherwise (or mid-list) list again. */
		if (ks->synced_once && ks->seen == NULL)
			start_watch(s, (enum kube_kind)k);
		else
			start_list(s, (enum kube_kind)k);
	}
	status_start(s);
	/* Transfers added above asked for an immediate timeout: start them now. */
	if (s->curl_deadline && kube_now_ns() >= s->curl_deadline) {
		s->curl_deadline = 0;
		curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		drain_done(s);
	}
}

long kube_sync_timeout_ms(const struct kube_sync *s)
{
	uint64_t now = kube_now_ns(), next = UINT64_MAX;
	if (s->curl_deadline)
		next = s->curl_deadline;
	for (unsigned k = 0; k < KUBE_KIND__COUNT; k++)
		if (s->k[k].st.state == KUBE_STATE_BACKOFF && s->k[k].retry_at < next)
			next = s->k[k].retry_at;
	if (json_object_size(s->status_queue) && s->status_in_flight < MAX_STATUS_IN_FLIGHT &&
	    !s->status_waiting) {
		uint64_t at = s->status_retry_at ? s->status_retry_at : now;
		if (at < next)
			next = at;
	}
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (long)((next - now + 999999) / 1000000);
}

int kube_sync_fd(const struct kube_sync *s)
{
	return s->ep;
}

uint64_t kube_sync_generation(const struct kube_sync *s)
{
	return s->generation;
}

uint64_t kube_sync_pending_since_ns(const struct kube_sync *s)
{
	return s->pending_since;
}

uint64_t kube_sync_take_changes(struct kube_sync *s)
{
	s->pending_since = 0;
	return s->generation;
}

bool kube_sync_synced(const struct kube_sync *s)
{
	for (unsigned k = 0; k < KUBE_KIND__COUNT; k++)
		if (!s->k[k].synced_once)
			return false;
	return true;
}

const struct kube_kind_stats *kube_sync_stats(const struct kube_sync *s, enum kube_kind k)
{
	return &s->k[k].st;
}

const struct kube_status_stats *kube_sync_status_stats(const struct kube_sync *s)
{
	return &s->sst;
}

static json_t *lb_entries(const char *const *addrs, unsigned n)
{
	json_t *a = json_array();
	for (unsigned i = 0; i < n; i++) {
		struct in_addr v4;
		struct in6_addr v6;
		bool ip = inet_pton(AF_INET, addrs[i], &v4) == 1 ||
			  inet_pton(AF_INET6, addrs[i], &v6) == 1;
		json_array_append_new(a, json_pack("{s:s}", ip ? "ip" : "hostname", addrs[i]));
	}
	return a;
}

struct kube_sync *kube_sync_new(const struct kube_sync_opts *o, char *err, size_t errlen)
{
	static bool curl_ready;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
			snprintf(err, errlen, "libcurl cannot be initialised");
			return NULL;
		}
		curl_ready = true;
	}
	struct kube_sync *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->o = *o;
	if (s->o.backoff_min_ms == 0)
		s->o.backoff_min_ms = 250;
	if (s->o.backoff_max_ms == 0)
		s->o.backoff_max_ms = 30000;
	if (s->o.backoff_max_ms < s->o.backoff_min_ms)
		s->o.backoff_max_ms = s->o.backoff_min_ms;
	if (s->o.page_size == 0)
		s->o.page_size = 500;
	if (s->o.watch_timeout_s == 0)
		s->o.watch_timeout_s = 300;
	s->rng = kube_now_ns() | 1;
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->multi = curl_multi_init();
	if (s->ep < 0 || s->multi == NULL) {
		snprintf(err, errlen, "cannot set up the API client: %s", strerror(errno));
		kube_sync_free(s);
		return NULL;
	}
	curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
	curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
	s->status_queue = json_object();
	s->status_busy = json_object();
	if (o->n_status_addrs)
		s->desired_lb = lb_entries(o->status_addrs, o->n_status_addrs);
	for (unsigned k = 0; k < KUBE_KIND__COUNT; k++) {
		s->k[k].held = json_object();
		start_list(s, (enum kube_kind)k);
	}
	return s;
}

void kube_sync_free(struct kube_sync *s)
{
	if (s == NULL)
		return;
	for (unsigned k = 0; k < KUBE_KIND__COUNT; k++) {
		xfer_free(s->k[k].x);
		free(s->k[k].cont);
		json_decref(s->k[k].seen);
		json_decref(s->k[k].held);
	}
	for (unsigned i = 0; i < MAX_STATUS_IN_FLIGHT; i++)
		xfer_free(s->status_x[i]);
	json_decref(s->status_queue);
	json_decref(s->status_busy);
	json_decref(s->desired_lb);
	free(s->token);
	if (s->multi)
		curl_multi_cleanup(s->multi);
	if (s->ep >= 0)
		close(s->ep);
	free(s);
}
