/*
 * control: desired state from every source, compiled into route tables.
 *
 * The model holds Kubernetes objects — Ingress, IngressClass, Service, EndpointSlice, and
 * Secrets of type kubernetes.io/tls (only their certificate and key) — as parsed
 * JSON (jansson), keyed by kind, namespace and name. Every source fills the same model: the
 * manifest directory (YAML or JSON files, converted to JSON first), and later the Kubernetes API
 * watch. Compiling reads the model and produces an immutable struct route_table plus its pools,
 * applying the Ingress specification's rules (see lib/route/route.h) and the controller's
 * choices (which IngressClass is ours, how conflicts resolve, what is skipped).
 *
 * Nothing here stops on a bad object. Each problem becomes one message in a struct
 * control_errors — with the file and document, or the object's namespace/name, the field, what
 * is wrong and what happens — and the rest goes on.
 */
#ifndef SLUICE_CONTROL_H
#define SLUICE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "route/route.h"

/* Messages about one object start with its kind and namespace/name ("Ingress ns/name: ...",
 * "Secret ns/name (...)"); the gateway turns those into Kubernetes Events on the object. */
struct control_errors {
	char **msgs;
	size_t n, cap;
};

void control_errors_add(struct control_errors *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void control_errors_free(struct control_errors *e);
/* Print every message, one per line, with a prefix. */
void control_errors_print(const struct control_errors *e, FILE *out, const char *prefix);

struct control_model;

struct control_model *control_model_new(void);
void control_model_free(struct control_model *m);

/*
 * Add or replace one Kubernetes object. `where` names its origin for messages ("a.yaml
 * document 2", "watch"). Objects of other kinds are ignored (debug note only when verbose).
 * Returns 1 if stored, 0 if ignored, -1 if refused (reported in errs).
 * The model takes its own reference to obj.
 */
int control_add_object(struct control_model *m, json_t *obj, const char *where,
		       struct control_errors *errs);

/* Remove an object; returns 1 if it was there. */
int control_delete_object(struct control_model *m, const char *kind, const char *ns,
			  const char *name);

/* Load one YAML (multi-document) or JSON file; `kind: List` is unpacked. Returns objects
 * stored. */
int control_load_file(struct control_model *m, const char *path, struct control_errors *errs);

/*
 * The two halves of control_load_file, for a source that keeps what a file held: parse a file
 * into a JSON array of {"where": "FILE:LINE: document N", "doc": {...}} (never NULL unless out
 * of memory; problems reported), *complete false when the file could not be read or a syntax
 * error cut it short (the documents before the error are in the array); then add an array's
 * documents to a model (Lists unpacked), returning objects stored.
 */
json_t *control_parse_file(const char *path, bool *complete, struct control_errors *errs);
int control_add_documents(struct control_model *m, json_t *docs, struct control_errors *errs);

/* Load every *.yaml, *.yml and *.json under dir, recursively, in name order, once (the
 * watched, per-file source is in control/sources.h). Returns objects stored, or -1 if dir
 * cannot be read (reported). */
int control_load_dir(struct control_model *m, const char *dir, struct control_errors *errs);

size_t control_object_count(const struct control_model *m);

/* The object at index i (0 ≤ i < control_object_count), borrowed; indices change on delete. */
json_t *control_object_at(const struct control_model *m, size_t i);

/* Look up an object (ns "" for cluster-scoped kinds); borrowed, or NULL. */
json_t *control_find_object(const struct control_model *m, const char *kind, const char *ns,
			    const char *name);

/* The first document of a YAML (or JSON) file as JSON; NULL with a reason in err. Used for
 * files that are not manifests, such as a kubeconfig. */
json_t *control_yaml_load_first(const char *path, char *err, size_t errlen);

/*
 * A route from the gateway's own configuration: added to the model as the Kubernetes objects
 * it stands for (a Service, an EndpointSlice and an Ingress in namespace "sluice-static", of
 * our class, older than anything in a cluster so they win conflicts), so it is compiled and
 * checked exactly like rules from manifests. index numbers the objects. Returns 0 or -1.
 */
int control_add_static_route(struct control_model *m, unsigned index, const char *class_name,
			     const char *host, const char *path, const char *path_type,
			     const uint32_t *addrs, const uint16_t *ports, unsigned n,
			     struct control_errors *errs);

struct control_class {
	const char *name;	     /* our IngressClass name, e.g. "sluice" */
	const char *controller;	     /* spec.controller that marks our classes */
	const char *default_backend; /* "ns/service:port" or NULL */
	const char *load_balance;    /* algorithm when an Ingress names none; NULL = round-robin */
};

/*
 * Compile the model into a route table. Ingresses of other classes are left out silently;
 * Ingresses of ours with a problem (missing Service, unknown port, invalid host or path) are
 * skipped whole and reported. Precedence among Ingresses: oldest creationTimestamp, then
 * namespace/name. Returns NULL only if memory runs out; the previous table, if any, is the
 * caller's and is untouched.
 */
struct route_table *control_compile(const struct control_model *m, const struct control_class *c,
				    struct control_errors *errs);

/* ---- certificates (certs.c) ------------------------------------------------------------- */

struct tls_cert;
struct tls_certs;

/* Parsed Secrets kept across compiles (only what the last compile used). */
struct control_cert_cache;
struct control_cert_cache *control_cert_cache_new(void);
void control_cert_cache_free(struct control_cert_cache *c);
uint64_t control_cert_cache_parses(const struct control_cert_cache *c); /* Secrets parsed */

struct control_tls_defaults {
	const char *secret;	   /* "ns/name" of a Secret for the default certificate, or NULL */
	struct tls_cert *fallback; /* the configured or self-signed default (borrowed) */
};

struct control_cert_stats {
	uint32_t certificates;	    /* distinct certificates in use */
	uint32_t names;		    /* host names (exact and wildcard) with a certificate */
	uint32_t secret_errors;	    /* Secrets that could not serve (each reported) */
	bool default_self_signed;   /* the default certificate is the generated one */
	int64_t earliest_not_after; /* of the certificates in use; 0 when none */
};

/*
 * The certificate store for the Ingresses of class cls: each spec.tls entry's Secret (same
 * namespace, type kubernetes.io/tls) serves its hosts (or the Ingress's rule hosts when it lists
 * none); the oldest Ingress wins a host, per key kind. Broken or missing Secrets are reported in
 * errs and their hosts get the default. Never NULL unless memory runs out.
 */
struct tls_certs *control_compile_certs(const struct control_model *m,
					const struct control_class *cls,
					struct control_cert_cache *cache,
					const struct control_tls_defaults *defs,
					struct control_errors *errs, struct control_cert_stats *st);

/* The Ingresses of class c in precedence order (oldest creationTimestamp, then namespace/name):
 * a malloc'd array of borrowed objects, *n of them; NULL only when memory runs out. */
json_t **control_ingresses_of_class(const struct control_model *m, const struct control_class *c,
				    size_t *n);

/* Whether an Ingress (its JSON) belongs to class c given the model's IngressClasses. */
bool control_ingress_is_ours(const struct control_model *m, const struct control_class *c,
			     json_t *ingress);

#endif
