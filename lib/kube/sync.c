/*
 * sync.c: list and watch four kinds into the control model.
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
 *
 * This file keeps the state machine, the loop and the object's life; the curl transfers are in
 * xfer.c and the Ingress status writer in status.c, so each can be read without the others.
 */
#include "kube/sync-int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static const struct {
	const char *kind, *api_version, *path;
	const char *select; /* a selector the list and the watch carry, or "" */
} kinds[KUBE_KIND__COUNT] = {
	[KUBE_INGRESS] = {"Ingress", "networking.k8s.io/v1",
			  "/apis/networking.k8s.io/v1/ingresses"},
	[KUBE_INGRESSCLASS] = {"IngressClass", "networking.k8s.io/v1",
			       "/apis/networking.k8s.io/v1/ingressclasses"},
	[KUBE_SERVICE] = {"Service", "v1", "/api/v1/services"},
	[KUBE_ENDPOINTSLICE] = {"EndpointSlice", "discovery.k8s.io/v1",
				"/apis/discovery.k8s.io/v1/endpointslices"},
	[KUBE_SECRET] = {"Secret", "v1", "/api/v1/secrets",
			 "&fieldSelector=type%3Dkubernetes.io%2Ftls"},
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

void kube__logf(struct kube_sync *s, const char *fmt, ...)
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
uint64_t kube__backoff_ns(struct kube_sync *s, unsigned failures)
{
	uint64_t d = s->o.backoff_min_ms;
	for (unsigned i = 1; i < failures && d < s->o.backoff_max_ms; i++)
		d *= 2;
	if (d > s->o.backoff_max_ms)
		d = s->o.backoff_max_ms;
	uint64_t half = d / 2;
	return (half + (half ? rnd(s) % (half + 1) : 0)) * 1000000ull;
}

void kube__bump(struct kube_sync *s)
{
	s->generation++;
	if (s->pending_since == 0)
		s->pending_since = kube_now_ns();
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

bool kube__obj_key(json_t *obj, enum kube_kind k, char *key, size_t len, const char **ns,
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

/* Add or replace; returns whether routing may have changed. */
bool kube__apply(struct kube_sync *s, enum kube_kind k, json_t *obj, const char *where)
{
	if (json_object_get(obj, "kind") == NULL)
		json_object_set_new(obj, "kind", json_string(kinds[k].kind));
	if (json_object_get(obj, "apiVersion") == NULL)
		json_object_set_new(obj, "apiVersion", json_string(kinds[k].api_version));
	slim(obj);
	char key[600];
	const char *ns, *name;
	if (!kube__obj_key(obj, k, key, sizeof(key), &ns, &name)) {
		kube__logf(s, "kubernetes: %s %s: object without metadata.name; ignored", where,
			   kinds[k].kind);
		return false;
	}
	json_t *old = control_find_object(s->o.model, kinds[k].kind, ns, name);
	bool changed = routing_change(k, old, obj);
	struct control_errors errs = {0};
	int r = control_add_object(s->o.model, obj, where, &errs);
	for (size_t i = 0; i < errs.n; i++)
		kube__logf(s, "kubernetes: %s", errs.msgs[i]);
	control_errors_free(&errs);
	if (r <= 0)
		return false;
	json_object_set_new(s->k[k].held, key, json_true());
	if (k == KUBE_INGRESS)
		kube__status_check_one(s, obj);
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
		kube__status_forget(s, key);
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

/* Hand the kind's new transfer to curl; if it cannot even start, retry after a back-off. */
static void start_or_back_off(struct kube_sync *s, struct kind_state *ks)
{
	if (ks->x && kube__xfer_start(ks->x))
		return;
	kube__xfer_free(ks->x);
	ks->x = NULL;
	ks->failures++;
	ks->st.state = KUBE_STATE_BACKOFF;
	ks->retry_at = kube_now_ns() + kube__backoff_ns(s, ks->failures);
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
	snprintf(url, sizeof(url), "%s%s?limit=%u%s", s->o.client->server, kinds[k].path,
		 s->o.page_size, kinds[k].select ? kinds[k].select : "");
	if (ks->cont) {
		strncat(url, "&continue=", sizeof(url) - strlen(url) - 1);
		kube__url_escape_append(url, sizeof(url), ks->cont);
	}
	ks->x = kube__xfer_new(s, X_LIST, k, url, 120);
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
		 "%s%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u%s",
		 s->o.client->server, kinds[k].path, ks->st.resource_version, t,
		 kinds[k].select ? kinds[k].select : "");
	ks->x = kube__xfer_new(s, X_WATCH, k, url, (long)t + 30);
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
bool kube__watch_event(struct xfer *x, const char *line, size_t len)
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
		if (kube__apply(s, x->kind, obj, "watch"))
			kube__bump(s);
		set_rv(ks, rv_of(obj));
		ks->st.events++;
		x->events++;
	} else if (strcmp(type, "DELETED") == 0) {
		char key[600];
		const char *ns, *name;
		if (kube__obj_key(obj, x->kind, key, sizeof(key), &ns, &name) &&
		    remove_obj(s, x->kind, key))
			kube__bump(s);
		set_rv(ks, rv_of(obj));
		ks->st.events++;
		x->events++;
	} else {
		kube__logf(s, "kubernetes: %s watch: unknown event type \"%s\"; ignored",
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

static void kind_failed(struct kube_sync *s, enum kube_kind k, const char *what)
{
	struct kind_state *ks = &s->k[k];
	ks->st.errors++;
	ks->failures++;
	uint64_t d = kube__backoff_ns(s, ks->failures);
	ks->st.state = KUBE_STATE_BACKOFF;
	ks->retry_at = kube_now_ns() + d;
	kube__logf(s, "kubernetes: %s %s; retrying in %.1f s", kinds[k].kind, what,
		   (double)d * 1e-9);
}

static void list_done(struct kube_sync *s, struct xfer *x, CURLcode rc)
{
	enum kube_kind k = x->kind;
	struct kind_state *ks = &s->k[k];
	long code = kube__response_code(x);
	char what[1024], msg[512];
	if (rc != CURLE_OK || code != 200 || x->bad) {
		if (code == 410 && ks->cont) { /* the continue token expired: list again */
			free(ks->cont);
			ks->cont = NULL;
			kube__logf(s, "kubernetes: %s list: continue token expired; listing again",
				   kinds[k].kind);
			start_list(s, k);
			return;
		}
		kube__status_message(x, msg, sizeof(msg));
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
		kube__apply(s, k, it, "list");
		char key[600];
		const char *ns, *name;
		if (kube__obj_key(it, k, key, sizeof(key), &ns, &name))
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
	kube__bump(s);
	if (first)
		kube__logf(s,
			   "kubernetes: %s: %zu object(s) listed at resourceVersion %s; watching",
			   kinds[k].kind, json_object_size(ks->held), ks->st.resource_version);
	if ((k == KUBE_INGRESS || k == KUBE_INGRESSCLASS) && kube_sync_synced(s))
		kube_sync_reconcile_status(s);
	start_watch(s, k);
}

static void watch_done(struct kube_sync *s, struct xfer *x, CURLcode rc)
{
	enum kube_kind k = x->kind;
	struct kind_state *ks = &s->k[k];
	long code = kube__response_code(x);
	char what[1024], msg[512];
	if (x->gone || code == 410) {
		ks->st.relists_gone++;
		kube__logf(s,
			   "kubernetes: %s watch: resourceVersion %s is too old (410 Gone); "
			   "listing again",
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
			ks->retry_at = kube_now_ns() + kube__backoff_ns(s, ks->failures);
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
	kube__status_message(x, msg, sizeof(msg));
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
		if (x->type != X_STATUS && x->type != X_EVENT)
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
			kube__status_done(s, x, rc);
			break;
		case X_EVENT:
			kube__events_done(s, x, rc);
			break;
		}
		kube__xfer_free(x);
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
	kube__status_start(s);
	kube__events_start(s);
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
	if (json_array_size(s->event_queue) && s->events_in_flight < MAX_EVENTS_IN_FLIGHT)
		next = now;
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
	curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, kube__on_socket);
	curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
	curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, kube__on_timer);
	curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
	s->status_queue = json_object();
	s->status_busy = json_object();
	s->event_queue = json_array();
	if (o->n_status_addrs)
		s->desired_lb = kube__lb_entries(o->status_addrs, o->n_status_addrs);
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
		kube__xfer_free(s->k[k].x);
		free(s->k[k].cont);
		json_decref(s->k[k].seen);
		json_decref(s->k[k].held);
	}
	for (unsigned i = 0; i < MAX_STATUS_IN_FLIGHT; i++)
		kube__xfer_free(s->status_x[i]);
	json_decref(s->status_queue);
	json_decref(s->status_busy);
	for (unsigned i = 0; i < MAX_EVENTS_IN_FLIGHT; i++)
		kube__xfer_free(s->event_x[i]);
	json_decref(s->event_queue);
	json_decref(s->desired_lb);
	free(s->token);
	if (s->multi)
		curl_multi_cleanup(s->multi);
	if (s->ep >= 0)
		close(s->ep);
	free(s);
}
