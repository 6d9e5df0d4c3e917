/*
 * status.c: write the gateway's addresses into status.loadBalancer of the Ingresses of our class,
 * and clear them when an Ingress leaves the class.
 *
 * A writer beside the sync rather than inside it: it has its own queue, its own retries and at
 * most MAX_STATUS_IN_FLIGHT PATCHes in flight, and the sync only tells it which Ingresses
 * changed (kube__status_check_one, kube__status_forget) and hands it finished transfers.
 */
#include "kube/sync-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

static json_t *lb_ingress_of(json_t *ing)
{
	return json_object_get(json_object_get(json_object_get(ing, "status"), "loadBalancer"),
			       "ingress");
}

void kube__status_forget(struct kube_sync *s, const char *key)
{
	json_object_del(s->status_queue, key);
}

/* Decide what one Ingress's status should be and queue a PATCH if it differs. */
void kube__status_check_one(struct kube_sync *s, json_t *ing)
{
	if (s->desired_lb == NULL || !kube_sync_synced(s))
		return;
	char key[600];
	const char *ns, *name;
	if (!kube__obj_key(ing, KUBE_INGRESS, key, sizeof(key), &ns, &name))
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
			if (kube__obj_key(o, KUBE_INGRESS, key, sizeof(key), &ns, &name) &&
			    json_object_get(s->k[KUBE_INGRESS].held, key))
				kube__status_check_one(s, o);
		}
	}
}

void kube__status_start(struct kube_sync *s)
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
		kube__url_escape_append(url, sizeof(url), slash + 1);
		strncat(url, "/status", sizeof(url) - strlen(url) - 1);
		struct xfer *x = kube__xfer_new(s, X_STATUS, KUBE_INGRESS, url, 30);
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
		if (!kube__xfer_start(x)) {
			kube__xfer_free(x);
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

void kube__status_done(struct kube_sync *s, struct xfer *x, CURLcode rc)
{
	long code = kube__response_code(x);
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
		    kube__obj_key(obj, KUBE_INGRESS, key, sizeof(key), &ns, &name) &&
		    json_object_get(s->k[KUBE_INGRESS].held, key) &&
		    kube__apply(s, KUBE_INGRESS, obj, "status"))
			kube__bump(s); /* it may carry a spec change the watch has not shown yet */
		json_decref(obj);
		return;
	}
	if (code == 404) /* the Ingress went away meanwhile */
		return;
	char msg[512];
	kube__status_message(x, msg, sizeof(msg));
	s->sst.failed++;
	s->status_failures++;
	uint64_t d = kube__backoff_ns(s, s->status_failures);
	s->status_retry_at = kube_now_ns() + d;
	kube__logf(s, "kubernetes: writing status of Ingress %s: %s; retrying in %.1f s", x->key,
		   rc != CURLE_OK ? (x->err[0] ? x->err : curl_easy_strerror(rc)) : msg,
		   (double)d * 1e-9);
	/* Decide again from the Ingress as it is now. */
	const char *slash = strchr(x->key, '/');
	char ns[300];
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - x->key), x->key);
	json_t *ing = control_find_object(s->o.model, "Ingress", ns, slash + 1);
	if (ing)
		kube__status_check_one(s, ing);
}

json_t *kube__lb_entries(const char *const *addrs, unsigned n)
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
