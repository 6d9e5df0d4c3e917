/*
 * conf: the gateway's configuration, loaded from one libconfig file and validated.
 *
 * One file describes a deployment: EAL arguments, lcores (management + workers), ports (each
 * @including a NIC profile from drivers-config/), the gateway's own addresses (VIPs, SNAT),
 * on-link subnets and next hops, limits, timeouts, and the metrics listener. Loading fills a
 * plain struct with fixed-size arrays: nothing in it points into libconfig, so the struct can be
 * copied, kept for the life of the process and read by any lcore.
 *
 * Validation is strict and exhaustive: every field is checked for type and range, unknown
 * fields are refused (a misspelt knob silently ignored is an outage waiting to happen), and every
 * problem found is reported, not just the first, each as one line:
 *
 *     FILE:LINE: PATH: what is wrong; what is expected
 *
 * where PATH names the field as written (`ports.[1].profile.rx_desc`). The docs/configuration.md
 * reference lists the same fields with the same ranges; tests/unit/conf keeps the two in step.
 */
#ifndef SLUICE_CONF_H
#define SLUICE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_MAX_PORTS	      8
#define CONF_MAX_WORKERS      64
#define CONF_MAX_ADDRS	      16 /* VIPs or SNAT addresses per port */
#define CONF_MAX_ROUTES	      16 /* next-hop routes per port */
#define CONF_MAX_EAL_ARGS     32
#define CONF_NAME_LEN	      32
#define CONF_STR_LEN	      256
#define CONF_RSS_KEY_MAX      52
#define CONF_ERRBUF_SUGGESTED 4096

/* How replies from pods reach the worker that owns the flow (docs/tcp.md, return steering). */
enum conf_steering {
	CONF_STEER_SOFTWARE, /* hand off through per-pair rte_rings: works on every port */
	CONF_STEER_THASH,    /* choose SNAT ports so the NIC's Toeplitz hash lands on the owner */
};

/* Offload bits we ask a port for, independent of DPDK's flag values. */
#define CONF_OFFLOAD_IPV4_CKSUM 0x1u
#define CONF_OFFLOAD_TCP_CKSUM	0x2u
#define CONF_OFFLOAD_TCP_TSO	0x4u
#define CONF_OFFLOAD_SCATTER	0x8u

/* RSS hash field bits, mapped to RTE_ETH_RSS_* at port setup. */
#define CONF_RSS_IPV4	  0x1u
#define CONF_RSS_IPV4_TCP 0x2u
#define CONF_RSS_IPV6	  0x4u
#define CONF_RSS_IPV6_TCP 0x8u

struct conf_prefix {
	uint32_t addr; /* network byte order */
	uint8_t len;
};

struct conf_route {
	struct conf_prefix dst;
	uint32_t via; /* next hop, network byte order; 0 = on-link */
};

/* A NIC profile: what the driver can do and how we use it (drivers-config/). */
struct conf_profile {
	char driver[CONF_NAME_LEN]; /* PMD name as DPDK reports it, e.g. "net_af_packet" */
	uint16_t rx_queues;	    /* 0 = one per worker */
	uint16_t rx_desc;
	uint16_t tx_desc;
	bool rss;
	uint32_t rss_fields; /* CONF_RSS_* */
	uint8_t rss_key[CONF_RSS_KEY_MAX];
	uint8_t rss_key_len;  /* 0 = driver default */
	uint32_t rx_offloads; /* CONF_OFFLOAD_* wanted; dropped with a notice if unsupported */
	uint32_t tx_offloads;
	enum conf_steering steering;
	uint16_t mtu;
	bool promiscuous;
	char queue_devarg[CONF_NAME_LEN]; /* devarg that sets the queue count ("qpairs"), or "" */
};

struct conf_port {
	char name[CONF_NAME_LEN];
	char devargs[CONF_STR_LEN]; /* vdev spec ("net_af_packet0,iface=eth1") or PCI address */
	struct conf_profile profile;
	uint32_t vips[CONF_MAX_ADDRS];
	uint16_t n_vips;
	uint32_t snat[CONF_MAX_ADDRS];
	uint16_t n_snat;
	struct conf_prefix subnets[CONF_MAX_ADDRS]; /* on-link networks (resolved by ARP) */
	uint16_t n_subnets;
	struct conf_route routes[CONF_MAX_ROUTES];
	uint16_t n_routes;
	uint16_t listen[8]; /* TCP ports served on the VIPs (host order); default 80 */
	uint16_t n_listen;
	uint16_t tls[8]; /* which of them speak TLS (a ClientHello first); default 443 */
	uint16_t n_tls;
	char file[CONF_STR_LEN]; /* where the port was defined, for run-time messages */
	int line;
};

struct conf_limits {
	uint32_t max_flows;	   /* per worker */
	uint32_t mbufs;		   /* per worker mempool size */
	uint32_t neighbours;	   /* neighbour table entries per worker */
	uint32_t request_buffer;   /* bytes buffered per connection before the head is complete */
	uint32_t request_buffers;  /* request buffers per worker */
	uint32_t heads_per_client; /* buffers one client address may hold for heads in progress */
	uint32_t terminated_connections; /* TLS connections the gateway terminates, per worker */
	uint32_t terminated_per_client;	 /* of those, what one client address may hold */
	uint32_t max_header_bytes;	 /* request head limit → 431 */
	uint32_t max_request_line;	 /* → 414 */
	uint32_t max_headers;		 /* header field count → 431 */
	bool reject_bare_lf;
};

struct conf_timeouts {
	uint32_t header_ms;
	uint32_t connect_ms;
	uint32_t idle_ms;
	uint32_t linger_ms;
	uint32_t neighbour_reachable_ms;
	uint32_t neighbour_retry_ms;
};

struct conf_metrics {
	bool enabled;
	uint32_t addr;	       /* network byte order */
	uint16_t port;	       /* host order */
	uint32_t route_series; /* per-route label sets kept (Ingress, host, Service) */
};

struct conf_access_log {
	bool enabled;
	char path[CONF_STR_LEN]; /* "" or "-": standard output */
	uint32_t sample;	 /* one request in N */
	uint32_t ring;		 /* records between a worker and the writer */
};

struct conf_tls {
	char default_certificate[CONF_STR_LEN]; /* PEM chain file, "" = none */
	char default_key[CONF_STR_LEN];		/* its PEM key file */
	char default_secret[CONF_STR_LEN];	/* "namespace/name" of a kubernetes.io/tls Secret */
	bool terminate; /* TLS listeners terminate names no passthrough Ingress takes */
	char ticket_key_file[CONF_STR_LEN]; /* session ticket keys shared by a fleet, "" = own */
	uint32_t ticket_rotation_s;	    /* a new ticket key this often */
};

struct conf_routing {
	char manifests[CONF_STR_LEN]; /* directory of Kubernetes manifests, "" = none */
	char ingress_class[CONF_NAME_LEN * 2];
	char controller[CONF_STR_LEN];
	char default_backend[CONF_STR_LEN]; /* "namespace/service:port", "" = none */
	char load_balance[CONF_NAME_LEN];   /* algorithm when an Ingress names none */
};

#define CONF_MAX_STATUS_ADDRS 8

/* The Kubernetes API as the rule source (lib/kube). */
struct conf_kubernetes {
	bool enabled;			 /* the group is present */
	bool in_cluster;		 /* the pod's service account */
	char kubeconfig[CONF_STR_LEN];	 /* or this file */
	char context[CONF_NAME_LEN * 2]; /* "" = the kubeconfig's current-context */
	/* status.loadBalancer.ingress of our Ingresses; none = the ports' VIPs */
	char status_addresses[CONF_MAX_STATUS_ADDRS][CONF_NAME_LEN * 4];
	uint16_t n_status_addresses;
	bool write_status;
	uint32_t debounce_ms;	 /* coalesce changes this long before compiling */
	uint32_t backoff_max_ms; /* cap of the retry back-off */
};

#define CONF_MAX_STATIC_ROUTES 64
#define CONF_MAX_STATIC_EPS    16

/* A route from the configuration file itself, for use without a cluster. */
struct conf_static_route {
	char host[CONF_STR_LEN]; /* "" = any host */
	char path[CONF_STR_LEN];
	char path_type[24];		       /* Exact, Prefix, ImplementationSpecific */
	uint32_t ep_addr[CONF_MAX_STATIC_EPS]; /* network order */
	uint16_t ep_port[CONF_MAX_STATIC_EPS]; /* host order */
	uint16_t n_eps;
};

struct conf_bench {
	bool fixed_cookies; /* SYN cookies from a fixed key and clock: benchmark replay only */
};

struct sluice_conf {
	char path[CONF_STR_LEN];
	char *eal_args[CONF_MAX_EAL_ARGS]; /* extra EAL arguments, owned by the struct */
	uint16_t n_eal_args;
	uint16_t management_lcore;
	uint16_t workers[CONF_MAX_WORKERS];
	uint16_t n_workers;
	struct conf_port ports[CONF_MAX_PORTS];
	uint16_t n_ports;
	struct conf_limits limits;
	struct conf_timeouts timeouts;
	struct conf_metrics metrics;
	struct conf_access_log access_log;
	struct conf_routing routing;
	struct conf_tls tls;
	struct conf_kubernetes kubernetes;
	struct conf_bench bench;
	struct conf_static_route static_routes[CONF_MAX_STATIC_ROUTES];
	uint16_t n_static_routes;
	char log_level[CONF_NAME_LEN];
};

/*
 * Load and validate FILE into *out. @includes resolve relative to FILE's directory.
 * Returns the number of problems found (0 = usable). Each problem is one line appended to
 * errbuf (NUL-terminated, truncated with "..." if it does not fit). On a non-zero return *out
 * is left in an unspecified but freeable state. Call conf_release() when done either way.
 */
int conf_load(const char *file, struct sluice_conf *out, char *errbuf, size_t errlen);

/* Same, from a string (tests, embedded defaults); include_dir resolves @include. */
int conf_load_string(const char *text, const char *include_dir, struct sluice_conf *out,
		     char *errbuf, size_t errlen);

/* Paths a loaded configuration names that do not exist (yet): the manifest directory, which
 * the gateway waits for, and default certificate files it cannot read (it would not start).
 * One line per path into buf; returns how many. `--check-config`
 * reports them; the daemon starts anyway, not ready until they appear. */
int conf_missing_paths(const struct sluice_conf *c, char *buf, size_t len);

/* Frees what conf_load allocated (EAL argument strings). Idempotent. */
void conf_release(struct sluice_conf *c);

/* Defaults applied to fields a file leaves out. */
void conf_defaults(struct sluice_conf *c);

/* Helpers shared with the CLI and tests. */
const char *conf_steering_name(enum conf_steering s);
/* "198.18.0.1" → network order; returns 0 on success, -1 if not a dotted quad. */
int conf_parse_ipv4(const char *s, uint32_t *out);
/* "198.18.0.0/24" (or a bare address = /32) → prefix; 0 on success, -1 otherwise. */
int conf_parse_prefix(const char *s, struct conf_prefix *out);
bool conf_prefix_contains(const struct conf_prefix *p, uint32_t addr);
/* Every field the validator accepts, as dotted paths without list indexes ("ports.name"),
 * NULL-terminated. The reference docs must name each one. */
const char *const *conf_schema(void);

/* How a field is written, for tools and tests that write configurations. */
enum conf_shape {
	CONF_SHAPE_UNKNOWN, /* not a field */
	CONF_SHAPE_GROUP,   /* name = { ... }; */
	CONF_SHAPE_LIST,    /* name = ( { ... }, ... ); */
	CONF_SHAPE_VALUE,   /* name = VALUE; */
};
/* The shape of the field at PATH (as conf_schema() names it). For a value, buf receives one the
 * validator accepts on its own, written as in a file ("[80]", "\"round-robin\"", "1024"): the
 * field's example, else its default, else its type's least value. */
enum conf_shape conf_schema_sample(const char *path, char *buf, size_t len);
/* Index of the named port, or -1. */
int conf_port_index(const struct sluice_conf *c, const char *name);

#endif
