/*
 * kube: the Kubernetes API client of the management lcore.
 *
 * Two parts:
 *   - where the API server is and how to authenticate: a kubeconfig file (server, CA, bearer
 *     token or token file, client certificate) or the in-cluster service account (token and CA
 *     at their standard paths, KUBERNETES_SERVICE_HOST and _PORT);
 *   - the sync: for Ingress, IngressClass, Service, EndpointSlice and Secrets of type
 *     kubernetes.io/tls (by field selector: no other Secret is ever read), list (in pages), then
 * watch from the list's resourceVersion with bookmarks; resume a dropped watch from the last
 *     resourceVersion seen; relist on 410 Gone; back off exponentially with jitter on errors.
 *     Objects go into a struct control_model; a generation counter tells the caller to
 *     recompile. The sync also writes the gateway's addresses into status.loadBalancer of the
 *     Ingresses of our class, and clears them when an Ingress leaves the class.
 *
 * Everything runs on libcurl's multi interface: nothing blocks. The sync owns an epoll file
 * descriptor that becomes readable when one of its sockets needs attention; the caller adds it
 * to its own event loop and calls kube_sync_run when it is readable or when the timeout from
 * kube_sync_timeout_ms has passed.
 */
#ifndef SLUICE_KUBE_H
#define SLUICE_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/control.h"

/* The standard place of the service account's credentials inside a pod. */
#define KUBE_SERVICEACCOUNT_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kube_client_config {
	char *server;  /* "https://host:port", no trailing slash */
	char *ca_file; /* PEM file, or NULL */
	char *ca_data; /* PEM bytes (decoded certificate-authority-data), or NULL */
	size_t ca_len;
	char *token;	  /* bearer token, or NULL */
	char *token_file; /* read again for every request (bound tokens rotate), or NULL */
	char *cert_file, *key_file; /* client certificate, or NULL */
	char *cert_data, *key_data; /* decoded client-certificate-data / client-key-data */
	size_t cert_len, key_len;
	bool insecure; /* insecure-skip-tls-verify */
	char *source;  /* "kubeconfig FILE (context NAME)" or "in-cluster", for messages */
};

/*
 * Read a kubeconfig file. context NULL = its current-context. Relative file names inside are
 * relative to the file's folder, as kubectl reads them. Returns 0, or -1 with a one-line reason
 * in err (the field that is wrong and what was expected).
 */
int kube_config_from_kubeconfig(const char *path, const char *context,
				struct kube_client_config *out, char *err, size_t errlen);

/* The in-cluster configuration from sa_dir (KUBE_SERVICEACCOUNT_DIR) and the environment. */
int kube_config_in_cluster(const char *sa_dir, struct kube_client_config *out, char *err,
			   size_t errlen);

void kube_config_release(struct kube_client_config *c);

/* ---- the sync ----------------------------------------------------------------------------- */

enum kube_kind {
	KUBE_INGRESS,
	KUBE_INGRESSCLASS,
	KUBE_SERVICE,
	KUBE_ENDPOINTSLICE,
	KUBE_SECRET, /* only type kubernetes.io/tls (a field selector): certificates */
	KUBE_KIND__COUNT,
};

const char *kube_kind_name(enum kube_kind k);

enum kube_sync_state {
	KUBE_STATE_LISTING,
	KUBE_STATE_WATCHING,
	KUBE_STATE_BACKOFF,
};

const char *kube_sync_state_name(enum kube_sync_state s);

struct kube_kind_stats {
	enum kube_sync_state state;
	uint64_t objects;	/* held now */
	uint64_t lists;		/* complete lists */
	uint64_t relists_gone;	/* lists forced by 410 Gone */
	uint64_t watches;	/* watch requests started */
	uint64_t watch_resumes; /* watches restarted from the last resourceVersion */
	uint64_t events;	/* ADDED, MODIFIED, DELETED applied */
	uint64_t bookmarks;
	uint64_t errors;	   /* failed requests (connection, HTTP status, bad body) */
	double last_sync_unix;	   /* when the last list completed or an event arrived; 0 never */
	char resource_version[64]; /* the last one seen */
};

struct kube_event_stats {
	uint64_t posted;  /* Events the API server accepted */
	uint64_t failed;  /* refused or not delivered (the first one is logged) */
	uint64_t dropped; /* queued beyond MAX_EVENTS_QUEUED: the oldest dropped */
};

struct kube_status_stats {
	uint64_t written; /* status PATCHes that succeeded (set or cleared) */
	uint64_t cleared; /* of which clears */
	uint64_t failed;
};

struct kube_sync_opts {
	const struct kube_client_config *client;
	struct control_model *model; /* the sync adds and deletes objects here */
	const struct control_class *cls;
	/* Addresses for status.loadBalancer.ingress: IPs become {"ip"}, others {"hostname"}.
	 * n_status_addrs 0 = no status writes. */
	const char *const *status_addrs;
	unsigned n_status_addrs;
	unsigned backoff_min_ms;  /* first retry delay (0 = 250) */
	unsigned backoff_max_ms;  /* cap (0 = 30 000) */
	unsigned page_size;	  /* list page size (0 = 500) */
	unsigned watch_timeout_s; /* timeoutSeconds of a watch (0 = 300, jittered up to +25 %) */
	/* Called for every message worth an operator's attention (errors, relists, status). */
	void (*log)(void *arg, const char *msg);
	void *log_arg;
};

struct kube_sync;

/* NULL with a reason in err if libcurl cannot be set up. Starts listing at once. */
struct kube_sync *kube_sync_new(const struct kube_sync_opts *o, char *err, size_t errlen);
void kube_sync_free(struct kube_sync *s);

/* Poll this descriptor for EPOLLIN; call kube_sync_run when it fires. */
int kube_sync_fd(const struct kube_sync *s);
/* Milliseconds until kube_sync_run must be called even without I/O (-1 = no deadline). */
long kube_sync_timeout_ms(const struct kube_sync *s);
/* Drive every transfer that can make progress. Never blocks. */
void kube_sync_run(struct kube_sync *s);

/* Increases whenever the model changed in a way that can change routing. */
uint64_t kube_sync_generation(const struct kube_sync *s);
/* Monotonic nanoseconds when the oldest change not yet taken by kube_sync_take_changes
 * arrived; 0 if none. */
uint64_t kube_sync_pending_since_ns(const struct kube_sync *s);
/* The caller is about to compile the model as it is now: returns the generation compiled and
 * resets pending_since. */
uint64_t kube_sync_take_changes(struct kube_sync *s);
/* Every kind has completed one full list (the model is whole). */
bool kube_sync_synced(const struct kube_sync *s);

/* Compare every Ingress's status with what it should be and PATCH the differences. Call after
 * publishing a table (the sync also calls it on its own after Ingress changes). */
void kube_sync_reconcile_status(struct kube_sync *s);

const struct kube_kind_stats *kube_sync_stats(const struct kube_sync *s, enum kube_kind k);
const struct kube_status_stats *kube_sync_status_stats(const struct kube_sync *s);

/* Monotonic clock in nanoseconds (the clock pending_since uses). */
uint64_t kube_now_ns(void);

/*
 * Post a Warning Event about an object (kind "Ingress" or "Secret") — reason a CamelCase word,
 * message what the log says. Queued and sent as the sync runs; bounded, never retried, counted
 * (kube_sync_event_stats).
 */
void kube_sync_event(struct kube_sync *s, const char *kind, const char *ns, const char *name,
		     const char *reason, const char *message);
const struct kube_event_stats *kube_sync_event_stats(const struct kube_sync *s);

#endif
