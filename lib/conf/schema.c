/*
 * schema.c: every field the configuration file may contain, one row each.
 *
 * A row says where the field is (its dotted path, list indexes left out), how it is written
 * (type; range or allowed words; entry counts for arrays), what it is when absent (default,
 * or required), and where its value goes (offsetof into the record it belongs to: the top-level
 * struct sluice_conf, or one struct conf_port / conf_route / conf_static_route of a list).
 * load.c reads, checks and stores every field from these rows alone; conf_defaults() is these
 * rows' defaults; conf_schema() is their paths, which the documentation test holds against
 * docs/configuration.md in both directions. A field therefore exists in exactly one place.
 *
 * Rules no row can state (an address is a VIP or an SNAT address, a next hop lies on a subnet,
 * EAL arguments that would fight lcores { } and ports ( ), ...) live in checks.c, named by the
 * rows they belong to.
 *
 * Order matters in two ways: a group's fields are read in table order (so a check may look at a
 * field above it: workers after lcores.management), and an unknown field is answered with its
 * group's fields listed in table order.
 */
#include "conf/conf_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- allowed words ------------------------------------------------------------------------ */

static const struct conf_name steering_names[] = {
	{"software", CONF_STEER_SOFTWARE},
	{"thash", CONF_STEER_THASH},
	{NULL, 0},
};

static const struct conf_name rss_names[] = {
	{"ipv4", CONF_RSS_IPV4},
	{"ipv4-tcp", CONF_RSS_IPV4_TCP},
	{"ipv6", CONF_RSS_IPV6},
	{"ipv6-tcp", CONF_RSS_IPV6_TCP},
	{NULL, 0},
};

/* What each direction can do in DPDK (RTE_ETH_RX_OFFLOAD_* / RTE_ETH_TX_OFFLOAD_*): TSO exists
 * only on send, scatter (multi-segment receive) only on receive. */
const struct conf_name conf_rx_offload_names[] = {
	{"ipv4-cksum", CONF_OFFLOAD_IPV4_CKSUM},
	{"tcp-cksum", CONF_OFFLOAD_TCP_CKSUM},
	{"scatter", CONF_OFFLOAD_SCATTER},
	{NULL, 0},
};

const struct conf_name conf_tx_offload_names[] = {
	{"ipv4-cksum", CONF_OFFLOAD_IPV4_CKSUM},
	{"tcp-cksum", CONF_OFFLOAD_TCP_CKSUM},
	{"tcp-tso", CONF_OFFLOAD_TCP_TSO},
	{NULL, 0},
};

static const struct conf_name load_balance_names[] = {
	{"round-robin", 0}, {"weighted", 0}, {"least-request", 0}, {"maglev", 0}, {NULL, 0},
};

static const struct conf_name path_type_names[] = {
	{"Exact", 0},
	{"Prefix", 0},
	{"ImplementationSpecific", 0},
	{NULL, 0},
};

static const struct conf_name log_level_names[] = {
	{"error", 0}, {"warning", 0}, {"notice", 0}, {"info", 0}, {"debug", 0}, {NULL, 0},
};

/* ---- the table ---------------------------------------------------------------------------- */

#define OPT(S, m)  (offsetof(S, m) + 1)
#define SIZE(S, m) sizeof(((S *)0)->m)
#define CAP(S, m)  (SIZE(S, m) / SIZE(S, m[0]))

/* Records: the kind and the struct its offsets are taken in. */
#define TOP    CONF_REC_TOP, struct sluice_conf
#define PORT   CONF_REC_PORT, struct conf_port
#define ROUTE  CONF_REC_ROUTE, struct conf_route
#define SROUTE CONF_REC_STATIC_ROUTE, struct conf_static_route

/* A value stored in member m of a record of kind K (struct S). */
#define AT(...)	     AT_(__VA_ARGS__)
#define AT_(K, S, m) .rec = K, .off = offsetof(S, m), .size = SIZE(S, m)
/* An array [ ... ] stored in m[] (at most its capacity), its length in n; at least lo. */
#define ARRAY(...) ARRAY_(__VA_ARGS__)
#define ARRAY_(K, S, m, n, lo)                                                                     \
	.rec = K, .array = true, .off = offsetof(S, m), .size = SIZE(S, m[0]), .count = OPT(S, n), \
	.nmin = lo, .nmax = CAP(S, m)
/* A list ( { ... } ) of records of kind E stored in m[], its length in n; at least lo. */
#define LIST(...) LIST_(__VA_ARGS__)
#define LIST_(K, S, m, n, lo, E)                                                                   \
	.type = CONF_T_LIST, .rec = K, .off = offsetof(S, m), .size = SIZE(S, m[0]),               \
	.count = OPT(S, n), .nmin = lo, .nmax = CAP(S, m), .of = E
#define GROUP(K) .type = CONF_T_GROUP, .rec = K
/* Flags from names[] OR'ed into the uint32_t m; up to 8 entries. */
#define FLAGS(...)	   FLAGS_(__VA_ARGS__)
#define FLAGS_(K, S, m, n) .type = CONF_T_FLAG, AT_(K, S, m), .array = true, .nmax = 8, .names = n

#define RSS_KEY_EXAMPLE                                                                            \
	"6d5a6d5a6d5a6d5a6d5a6d5a6d5a6d5a6d5a6d5a6d5a6d5a6d5a6d5a6d5a6d5a6d5a6d5a6d5a6d5a"

const struct conf_field conf_fields[] = {
	/* eal */
	{.path = "eal", GROUP(CONF_REC_TOP)},
	{.path = "eal.args",
	 .type = CONF_T_ARG,
	 ARRAY(TOP, eal_args, n_eal_args, 0),
	 .check = conf_check_eal_arg,
	 .example = "--no-huge"},

	/* lcores: management is read first, so the worker check can compare with it. */
	{.path = "lcores", GROUP(CONF_REC_TOP), .required = true},
	{.path = "lcores.management",
	 .type = CONF_T_INT,
	 AT(TOP, management_lcore),
	 .min = 0,
	 .max = 1023,
	 .def = "0"},
	{.path = "lcores.workers",
	 .type = CONF_T_INT,
	 ARRAY(TOP, workers, n_workers, 1),
	 .required = true,
	 .min = 0,
	 .max = 1023,
	 .check = conf_check_worker,
	 .example = "1"},

	/* ports */
	{.path = "ports",
	 LIST(TOP, ports, n_ports, 1, CONF_REC_PORT),
	 .required = true,
	 .src_file = OPT(struct conf_port, file),
	 .src_line = OPT(struct conf_port, line)},
	{.path = "ports.name",
	 .type = CONF_T_STRING,
	 AT(PORT, name),
	 .required = true,
	 .check = conf_check_port_name,
	 .example = "client"},
	{.path = "ports.devargs",
	 .type = CONF_T_STRING,
	 AT(PORT, devargs),
	 .required = true,
	 .check = conf_check_devargs,
	 .example = "net_af_packet0,iface=eth1"},
	{.path = "ports.profile", GROUP(CONF_REC_PORT), .required = true},
	{.path = "ports.profile.driver",
	 .type = CONF_T_STRING,
	 AT(PORT, profile.driver),
	 .required = true,
	 .example = "net_af_packet"},
	{.path = "ports.profile.rx_queues",
	 .type = CONF_T_INT,
	 AT(PORT, profile.rx_queues),
	 .min = 0,
	 .max = 1024,
	 .def = "0"},
	{.path = "ports.profile.rx_desc",
	 .type = CONF_T_INT,
	 AT(PORT, profile.rx_desc),
	 .min = 64,
	 .max = 32768,
	 .def = "1024"},
	{.path = "ports.profile.tx_desc",
	 .type = CONF_T_INT,
	 AT(PORT, profile.tx_desc),
	 .min = 64,
	 .max = 32768,
	 .def = "1024"},
	{.path = "ports.profile.mtu",
	 .type = CONF_T_INT,
	 AT(PORT, profile.mtu),
	 .min = 576,
	 .max = 9600,
	 .def = "1500"},
	{.path = "ports.profile.promiscuous",
	 .type = CONF_T_BOOL,
	 AT(PORT, profile.promiscuous),
	 .def = "false"},
	{.path = "ports.profile.queue_devarg",
	 .type = CONF_T_STRING,
	 AT(PORT, profile.queue_devarg),
	 .def = "",
	 .example = "qpairs"},
	{.path = "ports.profile.steering",
	 .type = CONF_T_ENUM,
	 AT(PORT, profile.steering),
	 .names = steering_names,
	 .check = conf_check_steering,
	 .def = "software"},
	{.path = "ports.profile.rss", GROUP(CONF_REC_PORT)},
	{.path = "ports.profile.rss.enabled",
	 .type = CONF_T_BOOL,
	 AT(PORT, profile.rss),
	 .def = "false"},
	{.path = "ports.profile.rss.fields", FLAGS(PORT, profile.rss_fields, rss_names)},
	{.path = "ports.profile.rss.key",
	 .type = CONF_T_HEX,
	 AT(PORT, profile.rss_key),
	 .aux = OPT(struct conf_port, profile.rss_key_len),
	 .check = conf_check_rss_key,
	 .example = RSS_KEY_EXAMPLE},
	{.path = "ports.profile.offloads", GROUP(CONF_REC_PORT)},
	{.path = "ports.profile.offloads.rx",
	 FLAGS(PORT, profile.rx_offloads, conf_rx_offload_names),
	 .check = conf_check_rx_offload},
	{.path = "ports.profile.offloads.tx",
	 FLAGS(PORT, profile.tx_offloads, conf_tx_offload_names),
	 .check = conf_check_tx_offload},
	{.path = "ports.vips",
	 .type = CONF_T_IPV4,
	 ARRAY(PORT, vips, n_vips, 0),
	 .example = "198.18.0.10"},
	{.path = "ports.listen",
	 .type = CONF_T_INT,
	 ARRAY(PORT, listen, n_listen, 1),
	 .min = 1,
	 .max = 65535,
	 .def = "80"},
	{.path = "ports.tls",
	 .type = CONF_T_INT,
	 ARRAY(PORT, tls, n_tls, 0),
	 .min = 1,
	 .max = 65535,
	 .def = "443"},
	{.path = "ports.snat",
	 .type = CONF_T_IPV4,
	 ARRAY(PORT, snat, n_snat, 0),
	 .example = "198.19.0.1"},
	{.path = "ports.subnets",
	 .type = CONF_T_PREFIX,
	 ARRAY(PORT, subnets, n_subnets, 0),
	 .example = "198.19.0.0/24"},
	{.path = "ports.routes", LIST(PORT, routes, n_routes, 0, CONF_REC_ROUTE)},
	{.path = "ports.routes.dst",
	 .type = CONF_T_PREFIX,
	 AT(ROUTE, dst),
	 .required = true,
	 .example = "198.19.128.0/17"},
	{.path = "ports.routes.via",
	 .type = CONF_T_IPV4,
	 AT(ROUTE, via),
	 .required = true,
	 .example = "198.19.0.254"},

	/* limits (the listing order of an unknown-field message starts here) */
	{.path = "limits", GROUP(CONF_REC_TOP)},
	{.path = "limits.max_flows",
	 .type = CONF_T_INT,
	 AT(TOP, limits.max_flows),
	 .min = 1024,
	 .max = 16777216,
	 .def = "65536"},
	{.path = "limits.mbufs",
	 .type = CONF_T_INT,
	 AT(TOP, limits.mbufs),
	 .min = 1023,
	 .max = 4194303,
	 .def = "16383"},
	{.path = "limits.neighbours",
	 .type = CONF_T_INT,
	 AT(TOP, limits.neighbours),
	 .min = 16,
	 .max = 1048576,
	 .def = "1024"},
	{.path = "limits.request_buffer",
	 .type = CONF_T_INT,
	 AT(TOP, limits.request_buffer),
	 .min = 1024,
	 .max = 1048576,
	 .def = "16384"},
	{.path = "limits.request_buffers",
	 .type = CONF_T_INT,
	 AT(TOP, limits.request_buffers),
	 .min = 16,
	 .max = 16777216,
	 .def = "4096"},
	{.path = "limits.heads_per_client",
	 .type = CONF_T_INT,
	 AT(TOP, limits.heads_per_client),
	 .min = 1,
	 .max = 16777216,
	 .def = "256"},
	{.path = "limits.terminated_connections",
	 .type = CONF_T_INT,
	 AT(TOP, limits.terminated_connections),
	 .min = 0,
	 .max = 1048576,
	 .def = "256"},
	{.path = "limits.terminated_per_client",
	 .type = CONF_T_INT,
	 AT(TOP, limits.terminated_per_client),
	 .min = 1,
	 .max = 1048576,
	 .def = "32"},
	{.path = "limits.max_header_bytes",
	 .type = CONF_T_INT,
	 AT(TOP, limits.max_header_bytes),
	 .min = 256,
	 .max = 1048576,
	 .def = "8192"},
	{.path = "limits.max_request_line",
	 .type = CONF_T_INT,
	 AT(TOP, limits.max_request_line),
	 .min = 64,
	 .max = 1048576,
	 .def = "8192"},
	{.path = "limits.max_headers",
	 .type = CONF_T_INT,
	 AT(TOP, limits.max_headers),
	 .min = 1,
	 .max = 1024,
	 .def = "100"},
	{.path = "limits.reject_bare_lf",
	 .type = CONF_T_BOOL,
	 AT(TOP, limits.reject_bare_lf),
	 .def = "true"},

	/* timeouts */
	{.path = "timeouts", GROUP(CONF_REC_TOP)},
	{.path = "timeouts.header_ms",
	 .type = CONF_T_INT,
	 AT(TOP, timeouts.header_ms),
	 .min = 100,
	 .max = 3600000,
	 .def = "10000"},
	{.path = "timeouts.connect_ms",
	 .type = CONF_T_INT,
	 AT(TOP, timeouts.connect_ms),
	 .min = 10,
	 .max = 600000,
	 .def = "2000"},
	{.path = "timeouts.idle_ms",
	 .type = CONF_T_INT,
	 AT(TOP, timeouts.idle_ms),
	 .min = 1000,
	 .max = 86400000,
	 .def = "300000"},
	{.path = "timeouts.linger_ms",
	 .type = CONF_T_INT,
	 AT(TOP, timeouts.linger_ms),
	 .min = 0,
	 .max = 600000,
	 .def = "2000"},
	{.path = "timeouts.neighbour_reachable_ms",
	 .type = CONF_T_INT,
	 AT(TOP, timeouts.neighbour_reachable_ms),
	 .min = 1000,
	 .max = 86400000,
	 .def = "30000"},
	{.path = "timeouts.neighbour_retry_ms",
	 .type = CONF_T_INT,
	 AT(TOP, timeouts.neighbour_retry_ms),
	 .min = 10,
	 .max = 60000,
	 .def = "1000"},

	/* bench */
	{.path = "bench", GROUP(CONF_REC_TOP)},
	{.path = "bench.fixed_cookies",
	 .type = CONF_T_BOOL,
	 AT(TOP, bench.fixed_cookies),
	 .def = "false"},

	/* metrics */
	{.path = "metrics", GROUP(CONF_REC_TOP)},
	{.path = "metrics.enabled", .type = CONF_T_BOOL, AT(TOP, metrics.enabled), .def = "true"},
	{.path = "metrics.listen",
	 .type = CONF_T_HOSTPORT,
	 AT(TOP, metrics.addr),
	 .aux = OPT(struct sluice_conf, metrics.port),
	 .def = "127.0.0.1:9180"},
	{.path = "metrics.route_series",
	 .type = CONF_T_INT,
	 AT(TOP, metrics.route_series),
	 .min = 2,
	 .max = 65535,
	 .def = "1024"},

	/* access log */
	{.path = "access_log", GROUP(CONF_REC_TOP)},
	{.path = "access_log.enabled",
	 .type = CONF_T_BOOL,
	 AT(TOP, access_log.enabled),
	 .def = "false"},
	{.path = "access_log.path", .type = CONF_T_STRING, AT(TOP, access_log.path), .def = ""},
	{.path = "access_log.sample",
	 .type = CONF_T_INT,
	 AT(TOP, access_log.sample),
	 .min = 1,
	 .max = 1000000,
	 .def = "1"},
	{.path = "access_log.ring",
	 .type = CONF_T_INT,
	 AT(TOP, access_log.ring),
	 .min = 64,
	 .max = 1048576,
	 .def = "16384"},

	/* routing */
	{.path = "routing", GROUP(CONF_REC_TOP)},
	{.path = "routing.manifests", .type = CONF_T_STRING, AT(TOP, routing.manifests), .def = ""},
	{.path = "routing.ingress_class",
	 .type = CONF_T_STRING,
	 AT(TOP, routing.ingress_class),
	 .def = "sluice"},
	{.path = "routing.controller",
	 .type = CONF_T_STRING,
	 AT(TOP, routing.controller),
	 .def = "sluice.dev/ingress-controller"},
	{.path = "routing.default_backend",
	 .type = CONF_T_STRING,
	 AT(TOP, routing.default_backend),
	 .check = conf_check_backend,
	 .example = "default/fallback:http"},
	{.path = "routing.load_balance",
	 .type = CONF_T_WORD,
	 AT(TOP, routing.load_balance),
	 .names = load_balance_names,
	 .def = "round-robin"},

	/* tls */
	{.path = "tls", GROUP(CONF_REC_TOP)},
	{.path = "tls.default_certificate",
	 .type = CONF_T_STRING,
	 AT(TOP, tls.default_certificate),
	 .example = "/etc/sluice/tls/default.crt"},
	{.path = "tls.default_key",
	 .type = CONF_T_STRING,
	 AT(TOP, tls.default_key),
	 .example = "/etc/sluice/tls/default.key"},
	{.path = "tls.default_secret",
	 .type = CONF_T_STRING,
	 AT(TOP, tls.default_secret),
	 .check = conf_check_secret_ref,
	 .example = "ingress/default-tls"},
	{.path = "tls.terminate", .type = CONF_T_BOOL, AT(TOP, tls.terminate), .def = "true"},
	{.path = "tls.ticket_key_file",
	 .type = CONF_T_STRING,
	 AT(TOP, tls.ticket_key_file),
	 .example = "/etc/sluice/tls/tickets.key"},
	{.path = "tls.ticket_rotation_s",
	 .type = CONF_T_INT,
	 AT(TOP, tls.ticket_rotation_s),
	 .min = 60,
	 .max = 604800,
	 .def = "3600"},

	/* kubernetes: present = enabled */
	{.path = "kubernetes",
	 GROUP(CONF_REC_TOP),
	 .aux = OPT(struct sluice_conf, kubernetes.enabled)},
	{.path = "kubernetes.in_cluster",
	 .type = CONF_T_BOOL,
	 AT(TOP, kubernetes.in_cluster),
	 .def = "false"},
	{.path = "kubernetes.kubeconfig",
	 .type = CONF_T_STRING,
	 AT(TOP, kubernetes.kubeconfig),
	 .def = "",
	 .example = "kubeconfig"},
	{.path = "kubernetes.context",
	 .type = CONF_T_STRING,
	 AT(TOP, kubernetes.context),
	 .def = "",
	 .example = "edge"},
	{.path = "kubernetes.status_addresses",
	 .type = CONF_T_STRING,
	 ARRAY(TOP, kubernetes.status_addresses, kubernetes.n_status_addresses, 0),
	 .check = conf_check_status_address,
	 .example = "203.0.113.10"},
	{.path = "kubernetes.write_status",
	 .type = CONF_T_BOOL,
	 AT(TOP, kubernetes.write_status),
	 .def = "true"},
	{.path = "kubernetes.debounce_ms",
	 .type = CONF_T_INT,
	 AT(TOP, kubernetes.debounce_ms),
	 .min = 0,
	 .max = 60000,
	 .def = "20"},
	{.path = "kubernetes.backoff_max_ms",
	 .type = CONF_T_INT,
	 AT(TOP, kubernetes.backoff_max_ms),
	 .min = 100,
	 .max = 600000,
	 .def = "30000"},

	/* static routes */
	{.path = "static_routes",
	 LIST(TOP, static_routes, n_static_routes, 0, CONF_REC_STATIC_ROUTE)},
	{.path = "static_routes.host",
	 .type = CONF_T_STRING,
	 AT(SROUTE, host),
	 .def = "",
	 .example = "status.example"},
	{.path = "static_routes.path",
	 .type = CONF_T_STRING,
	 AT(SROUTE, path),
	 .check = conf_check_url_path,
	 .def = "/"},
	{.path = "static_routes.path_type",
	 .type = CONF_T_WORD,
	 AT(SROUTE, path_type),
	 .names = path_type_names,
	 .def = "Prefix"},
	{.path = "static_routes.endpoints",
	 .type = CONF_T_HOSTPORT,
	 ARRAY(SROUTE, ep_addr, n_eps, 1),
	 .aux = OPT(struct conf_static_route, ep_port),
	 .required = true,
	 .example = "198.19.0.11:8080"},

	/* top level */
	{.path = "log_level",
	 .type = CONF_T_WORD,
	 AT(TOP, log_level),
	 .names = log_level_names,
	 .def = "info"},
};

const size_t conf_n_fields = sizeof(conf_fields) / sizeof(conf_fields[0]);

/* ---- lookups ------------------------------------------------------------------------------ */

const struct conf_field *conf_field_find(const char *path)
{
	for (size_t i = 0; i < conf_n_fields; i++)
		if (strcmp(conf_fields[i].path, path) == 0)
			return &conf_fields[i];
	return NULL;
}

bool conf_field_is_child(const struct conf_field *f, const char *key)
{
	size_t kl = strlen(key);
	if (kl == 0)
		return strchr(f->path, '.') == NULL;
	return strncmp(f->path, key, kl) == 0 && f->path[kl] == '.' &&
	       strchr(f->path + kl + 1, '.') == NULL;
}

const char *conf_field_name(const struct conf_field *f)
{
	const char *dot = strrchr(f->path, '.');
	return dot ? dot + 1 : f->path;
}

void conf_names_list(const struct conf_name *names, const char *last_sep, char *out, size_t len)
{
	size_t used = 0;
	out[0] = '\0';
	for (const struct conf_name *n = names; n->name; n++) {
		const char *sep =
			n == names ? "" : (last_sep && n[1].name == NULL ? last_sep : ", ");
		int w = snprintf(out + used, len - used, "%s%s", sep, n->name);
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
}

/* The paths, in table order, for conf_schema(). Filled before main() runs, so callers on any
 * thread see a finished list. */
static const char *schema_paths[sizeof(conf_fields) / sizeof(conf_fields[0]) + 1];

static void __attribute__((constructor)) schema_paths_init(void)
{
	for (size_t i = 0; i < conf_n_fields; i++)
		schema_paths[i] = conf_fields[i].path;
}

const char *const *conf_schema(void)
{
	return schema_paths;
}

enum conf_shape conf_schema_sample(const char *path, char *buf, size_t len)
{
	const struct conf_field *f = conf_field_find(path);
	if (len)
		buf[0] = '\0';
	if (f == NULL)
		return CONF_SHAPE_UNKNOWN;
	if (f->type == CONF_T_GROUP)
		return CONF_SHAPE_GROUP;
	if (f->type == CONF_T_LIST)
		return CONF_SHAPE_LIST;
	/* The example shows a value best; a default is valid by definition; else the type's
	 * least value. */
	char least[32] = "";
	const char *v = f->example ? f->example : f->def;
	if (v == NULL) {
		if (f->type == CONF_T_INT)
			snprintf(least, sizeof(least), "%lld", f->min);
		else if (f->type == CONF_T_BOOL)
			snprintf(least, sizeof(least), "true");
		else if (f->names)
			snprintf(least, sizeof(least), "%s", f->names[0].name);
		v = least;
	}
	const char *q = f->type == CONF_T_INT || f->type == CONF_T_BOOL ? "" : "\"";
	snprintf(buf, len, "%s%s%s%s%s", f->array ? "[" : "", q, v, q, f->array ? "]" : "");
	return CONF_SHAPE_VALUE;
}

/* ---- self-check --------------------------------------------------------------------------- */

static void selfcheck_row(const struct conf_field *f, char *err, size_t len, size_t *used, int *bad)
{
	char why[160] = "";
	const char *dot = strrchr(f->path, '.');
	const struct conf_field *parent = NULL;
	if (dot) {
		char pp[128];
		snprintf(pp, sizeof(pp), "%.*s", (int)(dot - f->path), f->path);
		parent = conf_field_find(pp);
	}
	enum conf_record want = parent == NULL		      ? CONF_REC_TOP
				: parent->type == CONF_T_LIST ? parent->of
							      : parent->rec;
	bool sized = f->size == 1 || f->size == 2 || f->size == 4;
	if (dot &&
	    (parent == NULL || (parent->type != CONF_T_GROUP && parent->type != CONF_T_LIST)))
		snprintf(why, sizeof(why), "its parent is not a group or list in the table");
	else if (f->rec != want)
		snprintf(why, sizeof(why), "its record is not its parent's");
	else if ((f->type == CONF_T_INT || f->type == CONF_T_ENUM) && !sized)
		snprintf(why, sizeof(why), "integer destination of %zu bytes", f->size);
	else if (f->type == CONF_T_INT && (f->min < 0 || f->min > f->max ||
					   (unsigned long long)f->max >> (8 * f->size) != 0))
		snprintf(why, sizeof(why), "range %lld..%lld does not fit %zu bytes", f->min,
			 f->max, f->size);
	else if ((f->type == CONF_T_ENUM || f->type == CONF_T_WORD || f->type == CONF_T_FLAG) &&
		 f->names == NULL)
		snprintf(why, sizeof(why), "no allowed words");
	else if (f->array && f->type != CONF_T_FLAG && f->count == CONF_OPT_NONE)
		snprintf(why, sizeof(why), "an array without a count");
	else if ((f->type == CONF_T_IPV4 || f->type == CONF_T_PREFIX ||
		  f->type == CONF_T_HOSTPORT || f->type == CONF_T_HEX) &&
		 f->example == NULL && f->def == NULL)
		snprintf(why, sizeof(why), "no example or default to show in messages");
	if (why[0] == '\0')
		return;
	(*bad)++;
	int w = snprintf(err + *used, len - *used, "%s: %s\n", f->path, why);
	if (w > 0 && (size_t)w < len - *used)
		*used += (size_t)w;
}

int conf_schema_selfcheck(char *err, size_t len)
{
	int bad = 0;
	size_t used = 0;
	if (len)
		err[0] = '\0';
	for (size_t i = 0; i < conf_n_fields; i++)
		selfcheck_row(&conf_fields[i], err, len, &used, &bad);

	/* Every default must load through the same path as a file's value. */
	static const size_t rec_size[] = {
		[CONF_REC_TOP] = sizeof(struct sluice_conf),
		[CONF_REC_PORT] = sizeof(struct conf_port),
		[CONF_REC_ROUTE] = sizeof(struct conf_route),
		[CONF_REC_STATIC_ROUTE] = sizeof(struct conf_static_route),
	};
	for (size_t k = 0; k < sizeof(rec_size) / sizeof(rec_size[0]); k++) {
		void *rec = calloc(1, rec_size[k]);
		struct conf_reader r = {
			.err = err + used, .errlen = len - used, .top_file = "<defaults>"};
		bad += conf_apply_defaults((enum conf_record)k, rec, &r);
		used += r.used;
		free(rec);
	}
	return bad;
}
