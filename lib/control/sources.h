/*
 * sources: the desired state that does not come from a Kubernetes API server — the watched
 * manifest directory, the static routes of the gateway's configuration, and the class the
 * configuration names. (The API server is lib/kube; both fill the same struct control_model.)
 *
 * The manifest directory is held per file. A file that parses replaces what the source held for
 * it; a file that no longer parses (a YAML typo in a live manifest, a half-written file, a file
 * that cannot be read) keeps the objects of its last good version, and the failure is reported
 * and counted: routes are never removed because of a syntax error. A file that was never good
 * contributes the documents before its error, exactly as control_load_dir (and so `sluice route
 * --manifests`) reads it. Deleting a file removes its objects; a directory that disappears keeps
 * every object until it comes back (a remount or a mistaken `rm -r` must not empty the table).
 *
 * The directory is watched with inotify, sub-folders included. If it does not exist, its
 * nearest existing ancestor is watched instead, so creating it later (or moving it into place)
 * is noticed and loaded without a signal.
 *
 * Everything here runs on the management lcore; nothing blocks except reading the files.
 * This library does not read the configuration (lib/conf): callers pass plain values.
 */
#ifndef SLUICE_CONTROL_SOURCES_H
#define SLUICE_CONTROL_SOURCES_H

#include <stdbool.h>
#include <stdint.h>

#include "control/control.h"

/* The class from the configuration's values; "" or NULL default_backend / load_balance mean
 * none (round-robin). The strings are borrowed: they must outlive the class. */
struct control_class control_class_of(const char *name, const char *controller,
				      const char *default_backend, const char *load_balance);

/* A static route, as the configuration has it (addresses in network order, ports host
 * order). */
struct control_static_route {
	const char *host; /* "" = any host */
	const char *path;
	const char *path_type;
	const uint32_t *addrs;
	const uint16_t *ports;
	unsigned n;
};

/* Add every static route to m as the objects it stands for (control_add_static_route),
 * numbered in order. Returns how many were refused (reported in errs). */
unsigned control_add_static_routes(struct control_model *m, const char *class_name,
				   const struct control_static_route *routes, unsigned n,
				   struct control_errors *errs);

/* ---- the manifest directory --------------------------------------------------------------- */

struct control_manifests;

struct control_manifests_stats {
	bool present;		/* the directory could be read at the last load */
	bool ready;		/* some load succeeded: the directory was read and, if it held
				 * manifest files, at least one of them parsed (sticky) */
	unsigned files;		/* manifest files held (from the last load that read the dir) */
	unsigned files_failing; /* of those, files whose current content does not parse */
	uint64_t loads;		/* loads attempted */
	uint64_t errors;	/* failures to parse, each counted once until the file changes */
};

/* A source for directory dir (copied). NULL if out of memory. Nothing is read yet. */
struct control_manifests *control_manifests_new(const char *dir);
void control_manifests_free(struct control_manifests *s);

/* Start watching (inotify). Returns the descriptor to poll for input, or -1 (errno set); the
 * source owns it. A missing directory is not an error: its nearest ancestor is watched. */
int control_manifests_watch(struct control_manifests *s);

/* Read the pending inotify events; true when something under the directory changed (or the
 * directory appeared or vanished) and a load is due. Watches follow new sub-folders. */
bool control_manifests_drain(struct control_manifests *s);

/*
 * Re-read the directory (recursively, name order; hidden entries skipped; *.yaml, *.yml,
 * *.json). Problems are reported in errs, with what the source does about them. Returns 0 if
 * the directory was read, -1 if not (everything held is kept).
 */
int control_manifests_load(struct control_manifests *s, struct control_errors *errs);

/* Add every object held to m, file by file in name order. Returns objects stored. */
int control_manifests_fill(const struct control_manifests *s, struct control_model *m,
			   struct control_errors *errs);

const struct control_manifests_stats *control_manifests_stats(const struct control_manifests *s);

#endif
