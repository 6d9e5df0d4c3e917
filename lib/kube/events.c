/*
 * events.c: Kubernetes Events for problems in the objects the gateway reads — an Ingress it
 * skips in part or whole, a Secret that cannot serve — so `kubectl describe` shows them where
 * the owner of the object looks, not only in the gateway's log.
 *
 * Fire and forget, bounded: a queue of at most MAX_EVENTS_QUEUED (the oldest dropped and
 * counted beyond that), at most MAX_EVENTS_IN_FLIGHT POSTs at once, no retry (the problem is in
 * the log and the metrics either way; a failed Event is counted and logged). The caller decides
 * when a problem is new: the gateway posts an Event when a message first appears, not on every
 * recompile.
 */
#include "kube/sync-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void rfc3339_now(char *out, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void kube_sync_event(struct kube_sync *s, const char *kind, const char *ns, const char *name,
		     const char *reason, const char *message)
{
	if (json_array_size(s->event_queue) >= MAX_EVENTS_QUEUED) {
		json_array_remove(s->event_queue, 0);
		s->est.dropped++;
	}
	char now[32], host[128] = "";
	rfc3339_now(now, sizeof(now));
	gethostname(host, sizeof(host) - 1);
	char gen[300];
	snprintf(gen, sizeof(gen), "%.240s.", name);
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", message); /* the API caps a message at 1 KiB */
	const char *api = strcmp(kind, "Ingress") == 0 ? "networking.k8s.io/v1" : "v1";
	json_t *ev = json_pack(
		"{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s,s:s},s:s,s:s,s:s,s:s,"
		"s:i}",
		"apiVersion", "v1", "kind", "Event", "metadata", "generateName", gen, "namespace",
		ns, "involvedObject", "apiVersion", api, "kind", kind, "namespace", ns, "name",
		name, "reason", reason, "message", msg, "type", "Warning", "source", "component",
		"sluice", "host", host, "reportingComponent", s->o.cls->controller,
		"reportingInstance", host, "firstTimestamp", now, "lastTimestamp", now, "count", 1);
	if (ev == NULL)
		return;
	json_array_append_new(s->event_queue, json_pack("{s:s,s:o}", "ns", ns, "body", ev));
}

void kube__events_start(struct kube_sync *s)
{
	while (s->events_in_flight < MAX_EVENTS_IN_FLIGHT && json_array_size(s->event_queue)) {
		json_t *e = json_array_get(s->event_queue, 0);
		char url[2048];
		snprintf(url, sizeof(url), "%s/api/v1/namespaces/", s->o.client->server);
		kube__url_escape_append(url, sizeof(url),
					json_string_value(json_object_get(e, "ns")));
		strncat(url, "/events", sizeof(url) - strlen(url) - 1);
		struct xfer *x = kube__xfer_new(s, X_EVENT, KUBE_INGRESS, url, 30);
		if (x == NULL)
			return;
		x->body = json_dumps(json_object_get(e, "body"), JSON_COMPACT);
		x->hdrs = curl_slist_append(x->hdrs, "Content-Type: application/json");
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
		json_array_remove(s->event_queue, 0);
		if (!kube__xfer_start(x)) {
			kube__xfer_free(x);
			s->est.failed++;
			return;
		}
		for (unsigned i = 0; i < MAX_EVENTS_IN_FLIGHT; i++)
			if (s->event_x[i] == NULL) {
				s->event_x[i] = x;
				break;
			}
		s->events_in_flight++;
	}
}

void kube__events_done(struct kube_sync *s, struct xfer *x, CURLcode rc)
{
	long code = kube__response_code(x);
	s->events_in_flight--;
	for (unsigned i = 0; i < MAX_EVENTS_IN_FLIGHT; i++)
		if (s->event_x[i] == x)
			s->event_x[i] = NULL;
	if (rc == CURLE_OK && (code == 201 || code == 200)) {
		s->est.posted++;
		return;
	}
	char msg[512];
	kube__status_message(x, msg, sizeof(msg));
	if (s->est.failed++ == 0) /* the first failure says why; the metric counts the rest */
		kube__logf(s,
			   "kubernetes: posting an Event: %s (grant create on events; further "
			   "failures are counted in sluice_kube_events_failed_total)",
			   rc != CURLE_OK ? (x->err[0] ? x->err : curl_easy_strerror(rc)) : msg);
}

const struct kube_event_stats *kube_sync_event_stats(const struct kube_sync *s)
{
	return &s->est;
}
