/*
 * checks.c: the rules a schema row cannot state.
 *
 * Two kinds. Field checks (conf_check_*, named in a row of schema.c) look at one value before
 * it is stored: EAL arguments that would fight lcores { } and ports ( ), vdev driver names,
 * offloads named for the wrong direction, worker lcores against the management lcore, ...
 * Relations (conf_check_relations) run once the whole file is read: an address is a VIP or an
 * SNAT address, a next hop lies on a subnet, a fixed queue count covers the workers, one rule
 * source, a manifest directory that exists.
 *
 * Type, range, default and destination are the table's business; nothing here restates them.
 */
#include "conf/conf_int.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>
#include <unistd.h>

/* ---- eal ---------------------------------------------------------------------------------- */

/* EAL options Sluice derives from lcores { } and ports ( ) (DPDK 22.11 names): letting eal.args
 * set them too would make the two disagree. */
static const char *const eal_owned_long[] = {"lcores", "main-lcore", "vdev",
					     "allow",  "block",	     NULL};
static const char eal_owned_short[] = "lcab"; /* -l corelist, -c coremask, -a, -b */

bool conf_check_eal_arg(struct conf_reader *r, const config_setting_t *s, const char *path,
			const void *rec)
{
	(void)rec;
	const char *v = config_setting_get_string(s);
	char owned[32] = "";
	if (v[0] == '-' && v[1] == '-') {
		/* "--vdev", "--vdev=...", and the abbreviations getopt_long accepts ("--lco"). */
		const char *name = v + 2;
		size_t n = strcspn(name, "=");
		for (const char *const *o = eal_owned_long; *o && !owned[0]; o++)
			if (n > 0 && n <= strlen(*o) && strncmp(name, *o, n) == 0 &&
			    (n == strlen(*o) || n >= 3))
				snprintf(owned, sizeof(owned), "--%s", *o);
	} else if (v[0] == '-') {
		/* "-l", "-l1", and behind EAL's flags without an argument ("-vl1"). Any other
		 * letter takes the rest of the word as its argument ("-m512"), or is not EAL's. */
		for (const char *p = v + 1; *p && !owned[0]; p++) {
			if (strchr(eal_owned_short, *p))
				snprintf(owned, sizeof(owned), "-%c", *p);
			else if (*p != 'h' && *p != 'v')
				break;
		}
	}
	if (owned[0] == '\0')
		return true;
	conf_report(r, s, path, "\"%s\" is set by Sluice from lcores { } and ports ( ); remove it",
		    owned);
	return false;
}

/* ---- lcores ------------------------------------------------------------------------------- */

bool conf_check_worker(struct conf_reader *r, const config_setting_t *s, const char *path,
		       const void *rec)
{
	const struct sluice_conf *c = rec;
	long long id = config_setting_get_int64(s);
	if (id == c->management_lcore) {
		conf_report(r, s, path,
			    "lcore %lld is the management lcore; workers need lcores of their own",
			    id);
		return false;
	}
	for (unsigned j = 0; j < c->n_workers; j++) {
		if (c->workers[j] == id) {
			conf_report(r, s, path, "lcore %lld is listed twice", id);
			return false;
		}
	}
	return true;
}

/* ---- ports -------------------------------------------------------------------------------- */

bool conf_check_port_name(struct conf_reader *r, const config_setting_t *s, const char *path,
			  const void *rec)
{
	(void)rec;
	const char *v = config_setting_get_string(s);
	for (const char *ch = v; *ch; ch++) {
		if (!((*ch >= 'a' && *ch <= 'z') || (*ch >= '0' && *ch <= '9') || *ch == '-' ||
		      *ch == '_')) {
			conf_report(r, s, path,
				    "\"%s\": use lower-case letters, digits, '-' and '_' only", v);
			return false;
		}
	}
	return true;
}

/*
 * The DPDK 22.11 ethdev drivers that are virtual devices, by the names (and aliases) a vdev
 * spec may start with. DPDK picks a vdev's driver by this prefix ("net_af_packet0" is an
 * instance of net_af_packet); a name matching none fails only at start, after hugepages and
 * EAL, so it is refused here. Anything else is passed to EAL's allow list (PCI addresses).
 */
static const char *const vdev_drivers[] = {
	"net_af_packet",
	"net_af_xdp",
	"net_bonding",
	"net_failsafe",
	"net_memif",
	"net_null",
	"net_pcap",
	"net_ring",
	"net_softnic",
	"net_tap",
	"net_tun",
	"net_vhost",
	"net_virtio_user",
	"net_vdev_netvsc",
	"eth_af_packet",
	"eth_bond",
	"eth_null",
	"eth_pcap",
	"eth_ring",
	"eth_tap",
	"eth_vhost",
	"eth_vdev_netvsc",
	NULL,
};

bool conf_check_devargs(struct conf_reader *r, const config_setting_t *s, const char *path,
			const void *rec)
{
	(void)rec;
	const char *v = config_setting_get_string(s);
	/* The same test the daemon uses to tell a vdev from a device on a bus. */
	if (strncmp(v, "net_", 4) != 0 && strncmp(v, "eth_", 4) != 0)
		return true;
	for (const char *const *d = vdev_drivers; *d; d++)
		if (strncmp(v, *d, strlen(*d)) == 0)
			return true;
	char list[512] = "";
	size_t used = 0;
	for (const char *const *d = vdev_drivers; *d && strncmp(*d, "eth_", 4) != 0; d++) {
		int w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", *d);
		if (w > 0 && (size_t)w < sizeof(list) - used)
			used += (size_t)w;
	}
	size_t name_len = strcspn(v, ",");
	conf_report(r, s, path,
		    "\"%.*s\" is not a DPDK virtual device; expected a PCI address or a vdev of "
		    "one of: %s (with an instance number, e.g. net_af_packet0)",
		    (int)name_len, v, list);
	return false;
}

bool conf_check_steering(struct conf_reader *r, const config_setting_t *s, const char *path,
			 const void *rec)
{
	(void)rec;
	if (strcmp(config_setting_get_string(s), "flow") != 0)
		return true;
	conf_report(r, s, path,
		    "\"flow\" (rte_flow rules per SNAT port range) is not built; use \"thash\" on "
		    "NICs with Toeplitz RSS and a readable redirection table, else \"software\"");
	return false;
}

/* Toeplitz keys come in the two sizes NICs use; a short key would hash unlike the NIC. */
bool conf_check_rss_key(struct conf_reader *r, const config_setting_t *s, const char *path,
			const void *rec)
{
	(void)rec;
	const char *v = config_setting_get_string(s);
	size_t n = strlen(v);
	bool ok = n == 80 || n == 104;
	for (size_t i = 0; ok && i < n; i++)
		ok = (v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f') ||
		     (v[i] >= 'A' && v[i] <= 'F');
	if (!ok)
		conf_report(r, s, path,
			    "expected 40 or 52 bytes as hex digits (80 or 104 characters)");
	return ok;
}

/* An offload named in the wrong direction gets a message saying so, not just "unknown". */
static bool check_offload(struct conf_reader *r, const config_setting_t *s, const char *path,
			  const struct conf_name *mine, const struct conf_name *other,
			  const char *dir, const char *other_dir)
{
	const char *v = config_setting_get_string(s);
	for (const struct conf_name *n = mine; n->name; n++)
		if (strcmp(n->name, v) == 0)
			return true;
	for (const struct conf_name *n = other; n->name; n++) {
		if (strcmp(n->name, v) == 0) {
			char words[128];
			conf_names_list(mine, NULL, words, sizeof(words));
			conf_report(r, s, path,
				    "\"%s\" is %s-only offload; expected one of the %s "
				    "offloads: %s",
				    v, other_dir, dir, words);
			return false;
		}
	}
	return true; /* unknown altogether: the generic message lists the words */
}

bool conf_check_rx_offload(struct conf_reader *r, const config_setting_t *s, const char *path,
			   const void *rec)
{
	(void)rec;
	return check_offload(r, s, path, conf_rx_offload_names, conf_tx_offload_names, "RX",
			     "a TX");
}

bool conf_check_tx_offload(struct conf_reader *r, const config_setting_t *s, const char *path,
			   const void *rec)
{
	(void)rec;
	return check_offload(r, s, path, conf_tx_offload_names, conf_rx_offload_names, "TX",
			     "an RX");
}

/* ---- routing, kubernetes, static routes --------------------------------------------------- */

bool conf_check_status_address(struct conf_reader *r, const config_setting_t *s, const char *path,
			       const void *rec)
{
	(void)rec;
	const char *v = config_setting_get_string(s);
	size_t n = strlen(v);
	bool ok = n > 0;
	for (size_t i = 0; ok && i < n; i++)
		ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		     (v[i] >= '0' && v[i] <= '9') || v[i] == '.' || v[i] == '-' || v[i] == ':';
	if (!ok)
		conf_report(r, s, path, "\"%s\": expected an IP address or a DNS name", v);
	return ok;
}

bool conf_check_url_path(struct conf_reader *r, const config_setting_t *s, const char *path,
			 const void *rec)
{
	(void)rec;
	const char *v = config_setting_get_string(s);
	if (v[0] == '/')
		return true;
	conf_report(r, s, path, "\"%s\" must start with '/'", v);
	return false;
}

/* namespace/service:port */
bool conf_check_backend(struct conf_reader *r, const config_setting_t *s, const char *path,
			const void *rec)
{
	(void)rec;
	const char *v = config_setting_get_string(s);
	const char *slash = strchr(v, '/');
	const char *colon = strrchr(v, ':');
	if (slash && colon && colon > slash && slash != v && colon != slash + 1 && colon[1])
		return true;
	conf_report(r, s, path, "\"%s\": expected \"NAMESPACE/SERVICE:PORT\" (port name or number)",
		    v);
	return false;
}

/* namespace/name */
bool conf_check_secret_ref(struct conf_reader *r, const config_setting_t *s, const char *path,
			   const void *rec)
{
	(void)rec;
	const char *v = config_setting_get_string(s);
	const char *slash = strchr(v, '/');
	if (v[0] == '\0' || (slash && slash != v && slash[1] && strchr(slash + 1, '/') == NULL))
		return true;
	conf_report(r, s, path, "\"%s\": expected \"NAMESPACE/NAME\" of a Secret", v);
	return false;
}

/* ---- relations ---------------------------------------------------------------------------- */

/* The default certificate's two files come together (read at start: conf_missing_paths). */
static void check_tls(struct conf_reader *r, const config_t *cfg, const struct sluice_conf *c)
{
	const struct conf_tls *t = &c->tls;
	if (!t->default_certificate[0] && !t->default_key[0])
		return;
	const config_setting_t *g = config_lookup(cfg, "tls");
	if (!t->default_certificate[0] || !t->default_key[0]) {
		conf_report(r, g, t->default_key[0] ? "tls.default_certificate" : "tls.default_key",
			    "missing: tls.default_certificate and tls.default_key come together");
		return;
	}
}

static void check_limits(struct conf_reader *r, const config_t *cfg, const struct sluice_conf *c)
{
	const struct conf_limits *l = &c->limits;
	if (l->max_header_bytes > l->request_buffer)
		conf_report(r, config_lookup(cfg, "limits"), "limits.max_header_bytes",
			    "%u exceeds limits.request_buffer (%u); a head that size could never "
			    "be buffered",
			    l->max_header_bytes, l->request_buffer);
}

static void check_port(struct conf_reader *r, const config_t *cfg, const struct sluice_conf *c,
		       unsigned i)
{
	const struct conf_port *pt = &c->ports[i];
	char p[96];

	snprintf(p, sizeof(p), "ports.[%u]", i);
	for (unsigned j = 0; j < i; j++)
		if (pt->name[0] && strcmp(c->ports[j].name, pt->name) == 0)
			conf_report(r, config_lookup(cfg, p), p, "port name \"%s\" is used twice",
				    pt->name);

	/* A TLS port named other than the default must be one the port listens on. */
	snprintf(p, sizeof(p), "ports.[%u].tls", i);
	for (unsigned k = 0; k < pt->n_tls; k++) {
		bool listed = pt->tls[k] == 443;
		for (unsigned j = 0; j < pt->n_listen; j++)
			listed |= pt->listen[j] == pt->tls[k];
		if (!listed)
			conf_report(r, config_lookup(cfg, p), p,
				    "TLS port %u is not in this port's listen list; add it there",
				    pt->tls[k]);
	}

	snprintf(p, sizeof(p), "ports.[%u].profile.rss", i);
	if (pt->profile.rss && pt->profile.rss_fields == 0)
		conf_report(r, config_lookup(cfg, p), p,
			    "RSS enabled with no fields; list e.g. [\"ipv4-tcp\"]");

	/* Every route's next hop must be on a subnet we can ARP on (0 = a route whose via was
	 * already refused). */
	char rp[64];
	snprintf(rp, sizeof(rp), "ports.[%u].routes", i);
	for (unsigned k = 0; k < pt->n_routes; k++) {
		bool onlink = pt->routes[k].via == 0;
		for (unsigned j = 0; j < pt->n_subnets; j++)
			onlink |= conf_prefix_contains(&pt->subnets[j], pt->routes[k].via);
		if (onlink)
			continue;
		struct in_addr a = {.s_addr = pt->routes[k].via};
		snprintf(p, sizeof(p), "%s.[%u].via", rp, k);
		conf_report(r, config_lookup(cfg, rp), p,
			    "next hop %s is on none of this port's subnets; add its subnet to "
			    "subnets",
			    inet_ntoa(a));
	}

	/* Queues: each worker polls one RX queue per port. */
	if (pt->profile.rx_queues != 0 && pt->profile.rx_queues < c->n_workers) {
		snprintf(p, sizeof(p), "ports.[%u].profile.rx_queues", i);
		conf_report(r, config_lookup(cfg, "lcores"), p,
			    "%u queues for %u workers; each worker needs a queue on every port "
			    "(set rx_queues = 0 for one per worker)",
			    pt->profile.rx_queues, c->n_workers);
	}
}

/* An address belongs to one port and one role; some port must carry a VIP. */
static void check_addresses(struct conf_reader *r, const config_t *cfg, const struct sluice_conf *c)
{
	const config_setting_t *ports = config_lookup(cfg, "ports");
	unsigned n_vips = 0;
	for (unsigned i = 0; i < c->n_ports; i++) {
		n_vips += c->ports[i].n_vips;
		for (unsigned a = 0; a < c->ports[i].n_vips; a++) {
			for (unsigned j = 0; j < c->n_ports; j++) {
				for (unsigned b = 0; b < c->ports[j].n_snat; b++) {
					if (c->ports[i].vips[a] != c->ports[j].snat[b])
						continue;
					struct in_addr ia = {.s_addr = c->ports[i].vips[a]};
					char p[64];
					snprintf(p, sizeof(p), "ports.[%u].vips.[%u]", i, a);
					conf_report(r, ports, p,
						    "%s is also an SNAT address; use it once",
						    inet_ntoa(ia));
				}
			}
		}
	}
	if (n_vips == 0 && c->n_ports > 0)
		conf_report(r, ports, "ports",
			    "no port has a VIP; clients could not reach the gateway");
}

/* Rules come from one source: the cluster, or a manifest directory that exists. */
static void check_rule_source(struct conf_reader *r, const config_t *cfg,
			      const struct sluice_conf *c)
{
	const struct conf_kubernetes *k = &c->kubernetes;
	if (k->enabled) {
		const config_setting_t *kc = config_lookup(cfg, "kubernetes.kubeconfig");
		const config_setting_t *g = config_lookup(cfg, "kubernetes");
		if (k->in_cluster == (k->kubeconfig[0] != '\0'))
			conf_report(r, kc ? kc : g, "kubernetes",
				    "set exactly one of in_cluster = true (running in a pod) or "
				    "kubeconfig = \"FILE\"");
		if (c->routing.manifests[0])
			conf_report(r, g, "kubernetes",
				    "routing.manifests is set too; rules come from one source: "
				    "remove one");
		return; /* the manifests, if any, are refused above; no need to look for them */
	}
	const char *m = c->routing.manifests;
	if (m[0] == '\0')
		return;
	struct stat st;
	const config_setting_t *ms = config_lookup(cfg, "routing.manifests");
	/* A directory that does not exist yet is allowed here: the gateway starts not ready and
	 * watches for it (a volume mounted late). `--check-config` says so (conf_missing_paths). */
	if (stat(m, &st) == 0 && !S_ISDIR(st.st_mode))
		conf_report(r, ms, "routing.manifests",
			    "%s is not a directory; expected a directory of manifests", m);
}

void conf_check_relations(struct conf_reader *r, const config_t *cfg, const struct sluice_conf *c)
{
	check_limits(r, cfg, c);
	for (unsigned i = 0; i < c->n_ports; i++)
		check_port(r, cfg, c, i);
	check_addresses(r, cfg, c);
	check_rule_source(r, cfg, c);
	check_tls(r, cfg, c);
}

int conf_missing_paths(const struct sluice_conf *c, char *buf, size_t len)
{
	struct stat st;
	const char *files[3][2] = {{"tls.default_certificate", c->tls.default_certificate},
				   {"tls.default_key", c->tls.default_key},
				   {"tls.ticket_key_file", c->tls.ticket_key_file}};
	for (int i = 0; i < 3; i++)
		if (files[i][1][0] && access(files[i][1], R_OK) != 0) {
			snprintf(buf, len,
				 "%s: %s: %s: %s; the gateway would not start (a relative path "
				 "starts at the configuration file's directory)\n",
				 c->path, files[i][0], files[i][1], strerror(errno));
			return 1;
		}
	if (c->kubernetes.enabled || c->routing.manifests[0] == '\0' ||
	    stat(c->routing.manifests, &st) == 0)
		return 0;
	snprintf(buf, len,
		 "%s: routing.manifests: directory %s does not exist; the gateway would start "
		 "not ready and wait for it to appear (a relative path starts at the "
		 "configuration file's directory)\n",
		 c->path, c->routing.manifests);
	return 1;
}
