/*
 * sync-int.h: what sync.c, xfer.c and status.c share (config.c takes kube__token's prototype
 * from here too). Nothing outside lib/kube includes it.
 *
 * The sync is one object split over three files (the core, the curl transfers, the Ingress
 * status writer); they all reach into struct kube_sync and struct xfer, so those live here
 * rather than in kube.h, which stays the module's whole public face. Functions that cross
 * files carry the kube__ prefix so they cannot be mistaken for the API.
 */
#ifndef SLUICE_KUBE_SYNC_INT_H
#define SLUICE_KUBE_SYNC_INT_H

#include "kube/kube.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#define MAX_BODY	     (512u << 20) /* a list page or one watch event larger than this is refused */
#define MAX_STATUS_IN_FLIGHT 8
#define MAX_EVENTS_QUEUED    256
#define MAX_EVENTS_IN_FLIGHT 4

enum xfer_type {
	X_LIST,
	X_WATCH,
	X_STATUS,
	X_EVENT,
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
	/* Events (events.c) */
	json_t *event_queue; /* [{ns, body}], oldest first */
	struct xfer *event_x[MAX_EVENTS_IN_FLIGHT];
	unsigned events_in_flight;
	struct kube_event_stats est;
};

/* config.c: the bearer token for the next request (NULL = none). */
char *kube__token(const struct kube_client_config *c, char *err, size_t errlen);

/* sync.c */
void kube__logf(struct kube_sync *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t kube__backoff_ns(struct kube_sync *s, unsigned failures);
void kube__bump(struct kube_sync *s);
bool kube__obj_key(json_t *obj, enum kube_kind k, char *key, size_t len, const char **ns,
		   const char **name);
bool kube__apply(struct kube_sync *s, enum kube_kind k, json_t *obj, const char *where);
bool kube__watch_event(struct xfer *x, const char *line, size_t len);

/* xfer.c */
int kube__on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp);
int kube__on_timer(CURLM *m, long timeout_ms, void *userp);
struct xfer *kube__xfer_new(struct kube_sync *s, enum xfer_type type, enum kube_kind kind,
			    const char *url, long timeout_s);
bool kube__xfer_start(struct xfer *x);
void kube__xfer_free(struct xfer *x);
long kube__response_code(const struct xfer *x);
void kube__url_escape_append(char *out, size_t len, const char *v);
void kube__status_message(const struct xfer *x, char *out, size_t len);

/* events.c */
void kube__events_start(struct kube_sync *s);
void kube__events_done(struct kube_sync *s, struct xfer *x, CURLcode rc);

/* status.c */
json_t *kube__lb_entries(const char *const *addrs, unsigned n);
void kube__status_check_one(struct kube_sync *s, json_t *ing);
void kube__status_forget(struct kube_sync *s, const char *key);
void kube__status_start(struct kube_sync *s);
void kube__status_done(struct kube_sync *s, struct xfer *x, CURLcode rc);

#endif
