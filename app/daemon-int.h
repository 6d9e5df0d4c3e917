/*
 * daemon-int.h: what the files of the gateway process share, and nothing else.
 *
 * The daemon is split along its seams: daemon.c holds the bring-up and shutdown order,
 * eal_args.c turns the configuration into EAL arguments, ports.c sets up the NIC ports,
 * workers.c builds the worker contexts, routing.c compiles and publishes the route tables (and
 * drives the Kubernetes sync), mgmt_loop.c is the management lcore's event loop. They share
 * one struct daemon, owned by daemon.c; everything in it is touched by the management lcore
 * only, except what the workers were handed at start.
 */
#ifndef SLUICE_APP_DAEMON_INT_H
#define SLUICE_APP_DAEMON_INT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <rte_ethdev.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "conf/conf.h"
#include "control/control.h"
#include "control/publish.h"
#include "control/sources.h"
#include "crypto/crypto.h"
#include "kube/kube.h"
#include "net/net.h"
#include "stats/stats.h"
#include "tls/term.h"
#include "tls/tls.h"
#include "worker/worker.h"

#define DEFAULT_CONFIG "/etc/sluice/sluice.conf"

/* ---- log lines (log.c) -------------------------------------------------------------------- */

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_NOTICE,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* The level of a name ("error" ... "debug"), or -1. */
int log_level_parse(const char *name);
/* Print lines of this level and more severe ones (info until the configuration is read). */
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...)	 log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...)	 log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	 log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
/* An error line, the exit hook (once), then exit status 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* What die() runs before exiting: the daemon's teardown, so DPDK memory is given back. */
void log_set_exit_hook(void (*hook)(void));

/* ---- EAL arguments (eal_args.c) ----------------------------------------------------------- */

struct argv_builder {
	char *v[256];
	int n;
};

/* Whether devargs name a virtual device (net_..., eth_...) rather than a PCI address. */
bool eal_is_vdev(const char *devargs);
/* The device name DPDK gives a port: a vdev's name (before the first comma) or a PCI address. */
void eal_device_name(const char *devargs, char *out, size_t len);
/* Whether `name` is among the configured eal.args or the command line's extra arguments. */
bool eal_has_arg(const struct sluice_conf *c, int extra_argc, char **extra, const char *name);
void eal_build_args(const struct sluice_conf *c, int extra_argc, char **extra,
		    struct argv_builder *a);
/* Free hugepages, from /proc/meminfo; -1 if unknown. */
long eal_free_hugepages(void);
/* Note the hugetlbfs files of the pages still mapped (just before rte_eal_cleanup), then
 * remove them (after it). */
void eal_note_hugepage_files(void);
void eal_remove_hugepage_files(void);
void eal_remove_runtime_dir_at_exit(void); /* before rte_eal_init */

/* ---- ports (ports.c) ---------------------------------------------------------------------- */

struct port_state {
	uint16_t port_id;
	unsigned tx_offloads; /* NET_OFFLOAD_* granted */
	struct net_local local;
	/* Toeplitz steering ("thash" profiles with RSS on): the port's key and RETA, read back
	 * from the device so the software hash matches the NIC's. */
	bool thash;
	uint8_t rss_key[CONF_RSS_KEY_MAX];
	uint16_t reta[RTE_ETH_RSS_RETA_SIZE_512];
	uint16_t reta_size;
	bool started; /* rte_eth_dev_start succeeded: stop it before closing */
};

/* ---- the process -------------------------------------------------------------------------- */

struct daemon {
	struct sluice_conf conf;
	/* How far bring-up got, for teardown (daemon.c). */
	struct argv_builder eal;
	char **eal_argv; /* the copy EAL was given */
	bool eal_up, pdump_up, workers_launched;
	struct rte_mempool *pools[CONF_MAX_WORKERS]; /* one per worker, by index */
	struct crypto_ctx *crypto;
	struct crypto_keys keys[3]; /* published round-robin: a worker's pointer outlives a
				     * rotation by a whole period */
	unsigned key_slot;
	uint64_t next_rotation;
	struct port_state ports[CONF_MAX_PORTS];
	struct worker_ctx *workers[CONF_MAX_WORKERS];
	struct rte_ring *rings[CONF_MAX_WORKERS]; /* hand-off inboxes, by worker index */
	/* Hitless rule updates: the publisher owns every route table (the lifetime rule is in
	 * lib/control/publish.h); workers report quiescence on qsbr once per poll loop. */
	struct rte_rcu_qsbr *qsbr;
	struct control_publisher *publisher;
	/* Rule sources: the manifest directory (NULL with Kubernetes or without
	 * routing.manifests), the class of Ingresses we serve, readiness. */
	struct control_manifests *manifests;
	int inotify_fd; /* the manifest source's, or -1 */
	struct control_class cls;
	bool ready, ready_said;
	unsigned manifest_files; /* at the last load that read the directory */
	uint64_t reload_at;	 /* tsc; 0 = none pending */
	double last_compile_s;
	uint64_t last_change_tsc; /* tsc of the last change not yet published; 0 = none */
	struct stats_http *http;
	uint64_t started_tsc;
	/* Kubernetes as the rule source: the sync fills model; model also holds the static
	 * routes, added once. */
	struct kube_client_config kc;
	struct kube_sync *kube;
	struct control_model *model;
	uint64_t kube_compiled_gen;
	uint64_t publish_failures;
	json_t *last_errors; /* compile messages already logged */
	/* Certificates (compiled with the routes; served once a listener terminates TLS). */
	struct tls_cert *default_cert; /* configured, or self-signed at start */
	struct control_cert_cache *cert_cache;
	struct tls_certs *certs;
	struct control_cert_stats cert_stats;
	/* Termination: the listeners' TLS configuration (NULL when tls.terminate is off), the
	 * stores it no longer serves (freed once every worker has passed a quiescent state after
	 * the swap: a handshake reads the store within one poll, and OpenSSL keeps its own
	 * references to the certificate it chose), and the next ticket key rotation. */
	struct tls_server *tls;
	struct {
		struct tls_certs *certs;
		uint64_t token;
	} certs_retired[16];
	unsigned n_certs_retired;
	uint64_t next_ticket_rotation; /* seconds (TSC) */
	double last_cert_compile_s;
	char status_addrs[CONF_MAX_ADDRS * CONF_MAX_PORTS][CONF_NAME_LEN * 4];
	const char *status_ptrs[CONF_MAX_ADDRS * CONF_MAX_PORTS];
	unsigned n_status;
	/* The access log's writer (access_log.c); NULL file when off. */
	FILE *alog_file;
	struct rte_ring *alog_rings[CONF_MAX_WORKERS];
	uint64_t alog_lines;
};

/* access_log.c */
void access_log_start(struct daemon *d);
void access_log_drain(struct daemon *d);
void access_log_reopen(struct daemon *d);
void access_log_stop(struct daemon *d);

/* ports.c */
void ports_setup(const struct sluice_conf *c, unsigned idx, struct rte_mempool **pools,
		 struct port_state *ps);
/* Metrics of the ports and the process; telemetry's /sluice/ports. */
void ports_register_metrics(struct daemon *d);

/* workers.c */
struct worker_ctx *workers_make(struct daemon *d, unsigned wi, struct rte_mempool *pool);
/* Rotate the SYN-cookie secret every ten minutes; the previous one stays valid. */
void workers_rotate_keys(struct daemon *d, bool first);

/* routing.c */
/* Set up the rule sources (class, static routes, manifests or Kubernetes); before the first
 * routing_load. */
void routing_init(struct daemon *d);
/* The default certificate (configured files, or a fresh self-signed one): dies with the reason
 * when configured files do not make a certificate. */
void routing_tls_init(struct daemon *d);
/* Serve s from now on (the daemon owns it); the store it replaces is freed once no worker can
 * be reading it. */
void routing_serve_certs(struct daemon *d, struct tls_certs *s);
/* A new session ticket key (or the key file read again). */
void routing_rotate_tickets(struct daemon *d);
struct route_table *routing_load(struct daemon *d);
void routing_reload(struct daemon *d, uint64_t now);
void routing_reap(struct daemon *d, uint64_t now);
void routing_register_metrics(struct daemon *d);

/* mgmt_loop.c */
/* The signals the management loop reads from a signalfd. They must be blocked before
 * rte_eal_init creates its threads, which inherit the mask; otherwise a SIGTERM can land on an
 * EAL thread and kill the process with the default action. */
void mgmt_signal_mask(sigset_t *mask);
/* Run until SIGINT or SIGTERM. */
int mgmt_loop_run(struct daemon *d);

#endif
