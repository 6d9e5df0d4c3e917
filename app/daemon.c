/*
 * daemon.c: the gateway process. Thin by design: it reads the configuration, turns it into EAL
 * arguments, sets up ports, queues and mempools, starts one worker per configured lcore, and runs
 * the management loop on the main lcore until SIGINT or SIGTERM.
 *
 * Failure at start is always one line on stderr that says what and what to do, and exit status
 * 1 (2 for usage errors); a clean stop exits 0 after the workers drained and the ports closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <dirent.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_pdump.h>
#include <rte_rcu_qsbr.h>
#include <rte_telemetry.h>

#include "commands.h"
#include "conf/conf.h"
#include "control/control.h"
#include "crypto/crypto.h"
#include "kube/kube.h"
#include "net/net.h"
#include "stats/stats.h"
#include "worker/worker.h"

#define DEFAULT_CONFIG "/etc/sluice/sluice.conf"

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "sluice: error: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notice(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "sluice: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sluice [run] [-c FILE] [-- EAL-ARGS...]\n"
		   "       sluice --check-config FILE\n"
		   "\n"
		   "  -c, --config FILE       configuration (default " DEFAULT_CONFIG ")\n"
		   "      --check-config FILE validate FILE and exit (0 = valid)\n"
		   "  -h, --help              this text\n"
		   "EAL arguments after -- are appended to those the configuration implies.\n");
}

/* ---- EAL arguments ------------------------------------------------------------------------ */

struct argv_builder {
	char *v[256];
	int n;
};

static void arg_add(struct argv_builder *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void arg_add(struct argv_builder *a, const char *fmt, ...)
{
	if (a->n >= (int)RTE_DIM(a->v) - 1)
		die("too many EAL arguments");
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&a->v[a->n], fmt, ap) < 0)
		die("out of memory");
	va_end(ap);
	a->n++;
	a->v[a->n] = NULL;
}

static bool is_vdev(const char *devargs)
{
	return strncmp(devargs, "net_", 4) == 0 || strncmp(devargs, "eth_", 4) == 0;
}

/* The device name DPDK gives a port: a vdev's name (before the first comma) or a PCI address. */
static void device_name(const char *devargs, char *out, size_t len)
{
	snprintf(out, len, "%s", devargs);
	char *comma = strchr(out, ',');
	if (comma)
		*comma = '\0';
}

static bool has_arg(const struct sluice_conf *c, int extra_argc, char **extra, const char *name)
{
	for (unsigned i = 0; i < c->n_eal_args; i++)
		if (strcmp(c->eal_args[i], name) == 0)
			return true;
	for (int i = 0; i < extra_argc; i++)
		if (strcmp(extra[i], name) == 0)
			return true;
	return false;
}

static void build_eal_args(const struct sluice_conf *c, int extra_argc, char **extra,
			   struct argv_builder *a)
{
	arg_add(a, "sluice");
	/* Map lcore ids to CPUs. An lcore id past the machine's CPUs shares a CPU (a polling
	 * worker then competes for it): allowed, for tests on small machines, with a notice. */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	char lcores[1024];
	int used = snprintf(lcores, sizeof(lcores), "%u@%ld", c->management_lcore,
			    (long)c->management_lcore % ncpu);
	bool shared = c->management_lcore >= ncpu;
	for (unsigned i = 0; i < c->n_workers; i++) {
		used += snprintf(lcores + used, sizeof(lcores) - (size_t)used, ",%u@%ld",
				 c->workers[i], (long)c->workers[i] % ncpu);
		shared |= c->workers[i] >= ncpu;
	}
	if (shared)
		notice("lcores: this machine has %ld CPUs; some lcores share a CPU (fine for "
		       "tests, "
		       "slow in production)",
		       ncpu);
	arg_add(a, "--lcores=%s", lcores);
	arg_add(a, "--main-lcore=%u", c->management_lcore);
	for (unsigned i = 0; i < c->n_ports; i++) {
		const struct conf_port *p = &c->ports[i];
		if (is_vdev(p->devargs)) {
			char dev[CONF_STR_LEN + 64];
			snprintf(dev, sizeof(dev), "%s", p->devargs);
			/* Drivers whose queue count is a devarg get one queue per worker. */
			const char *qa = p->profile.queue_devarg;
			if (qa[0] && strstr(p->devargs, qa) == NULL) {
				unsigned q =
					p->profile.rx_queues ? p->profile.rx_queues : c->n_workers;
				size_t l = strlen(dev);
				snprintf(dev + l, sizeof(dev) - l, ",%s=%u", qa, q);
			}
			arg_add(a, "--vdev=%s", dev);
		} else {
			arg_add(a, "--allow=%s", p->devargs);
		}
	}
	if (!has_arg(c, extra_argc, extra, "--no-pci")) {
		bool any_pci = false;
		for (unsigned i = 0; i < c->n_ports; i++)
			any_pci |= !is_vdev(c->ports[i].devargs);
		if (!any_pci)
			arg_add(a, "--no-pci");
	}
	for (unsigned i = 0; i < c->n_eal_args; i++)
		arg_add(a, "%s", c->eal_args[i]);
	for (int i = 0; i < extra_argc; i++)
		arg_add(a, "%s", extra[i]);
}

/* Free hugepages, from /proc/meminfo; -1 if unknown. */
static long free_hugepages(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	if (f == NULL)
		return -1;
	char line[256];
	long v = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* ---- ports -------------------------------------------------------------------------------- */

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
};

/* Read the key and redirection table back for thash steering; false (with a notice) when the
 * device cannot tell us, and replies then go through the software hand-off. */
static bool read_rss_state(const char *name, struct port_state *ps, uint16_t reta_size)
{
	struct rte_eth_rss_conf rc = {.rss_key = ps->rss_key, .rss_key_len = CONF_RSS_KEY_MAX};
	if (rte_eth_dev_rss_hash_conf_get(ps->port_id, &rc) != 0 || rc.rss_key_len != 40 ||
	    reta_size == 0 || reta_size > RTE_ETH_RSS_RETA_SIZE_512) {
		notice("port '%s': cannot read the RSS key or table; thash steering off, replies "
		       "use "
		       "the hand-off ring",
		       name);
		return false;
	}
	struct rte_eth_rss_reta_entry64 conf[RTE_ETH_RSS_RETA_SIZE_512 / RTE_ETH_RETA_GROUP_SIZE];
	memset(conf, 0, sizeof(conf));
	for (unsigned i = 0; i < reta_size / RTE_ETH_RETA_GROUP_SIZE; i++)
		conf[i].mask = ~0ull;
	if (rte_eth_dev_rss_reta_query(ps->port_id, conf, reta_size) != 0) {
		notice("port '%s': cannot read the RSS redirection table; thash steering off",
		       name);
		return false;
	}
	for (unsigned i = 0; i < reta_size; i++)
		ps->reta[i] = conf[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
	ps->reta_size = reta_size;
	return true;
}

static uint64_t rss_hf_of(uint32_t fields)
{
	uint64_t hf = 0;
	if (fields & CONF_RSS_IPV4)
		hf |= RTE_ETH_RSS_IPV4;
	if (fields & CONF_RSS_IPV4_TCP)
		hf |= RTE_ETH_RSS_NONFRAG_IPV4_TCP;
	if (fields & CONF_RSS_IPV6)
		hf |= RTE_ETH_RSS_IPV6;
	if (fields & CONF_RSS_IPV6_TCP)
		hf |= RTE_ETH_RSS_NONFRAG_IPV6_TCP;
	return hf;
}

static void setup_port(const struct sluice_conf *c, unsigned idx, struct rte_mempool **pools,
		       struct port_state *ps)
{
	const struct conf_port *cp = &c->ports[idx];
	char dev[CONF_STR_LEN];
	device_name(cp->devargs, dev, sizeof(dev));
	if (rte_eth_dev_get_port_by_name(dev, &ps->port_id) != 0)
		die("port '%s' (%s:%d): device '%s' not found; check devargs and that the "
		    "interface or PCI device exists and is bound to a DPDK-capable driver",
		    cp->name, cp->file, cp->line, dev);

	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(ps->port_id, &info);
	if (rc != 0)
		die("port '%s': cannot read device info: %s", cp->name, rte_strerror(-rc));
	if (strcmp(info.driver_name, cp->profile.driver) != 0)
		notice("port '%s': driver is %s but its profile is for %s; check the @include",
		       cp->name, info.driver_name, cp->profile.driver);

	uint16_t nq = c->n_workers;
	if (info.max_rx_queues < nq || info.max_tx_queues < nq)
		die("port '%s': %u workers need %u RX and TX queues, the device offers %u/%u; use "
		    "fewer workers or raise the queue count (profile.queue_devarg or the NIC's "
		    "channels)",
		    cp->name, c->n_workers, nq, info.max_rx_queues, info.max_tx_queues);

	struct rte_eth_conf ec;
	memset(&ec, 0, sizeof(ec));

	/* Offloads: ask for what the profile wants and the device has; say what is missing. */
	uint64_t rx_want = 0, tx_want = 0;
	if (cp->profile.rx_offloads & CONF_OFFLOAD_IPV4_CKSUM)
		rx_want |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
	if (cp->profile.rx_offloads & CONF_OFFLOAD_TCP_CKSUM)
		rx_want |= RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
	if (cp->profile.rx_offloads & CONF_OFFLOAD_SCATTER)
		rx_want |= RTE_ETH_RX_OFFLOAD_SCATTER;
	if (cp->profile.tx_offloads & CONF_OFFLOAD_IPV4_CKSUM)
		tx_want |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
	if (cp->profile.tx_offloads & CONF_OFFLOAD_TCP_CKSUM)
		tx_want |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
	if (cp->profile.tx_offloads & CONF_OFFLOAD_TCP_TSO)
		tx_want |= RTE_ETH_TX_OFFLOAD_TCP_TSO;
	ec.rxmode.offloads = rx_want & info.rx_offload_capa;
	ec.txmode.offloads = tx_want & info.tx_offload_capa;
	if (ec.rxmode.offloads != rx_want || ec.txmode.offloads != tx_want)
		notice("port '%s': the device lacks some offloads the profile asks for (rx 0x%lx "
		       "of 0x%lx, tx 0x%lx of 0x%lx); checksums fall back to software",
		       cp->name, (unsigned long)ec.rxmode.offloads, (unsigned long)rx_want,
		       (unsigned long)ec.txmode.offloads, (unsigned long)tx_want);
	ps->tx_offloads = 0;
	if (ec.txmode.offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)
		ps->tx_offloads |= NET_OFFLOAD_IPV4_CKSUM;
	if (ec.txmode.offloads & RTE_ETH_TX_OFFLOAD_TCP_CKSUM)
		ps->tx_offloads |= NET_OFFLOAD_TCP_CKSUM;

	if (cp->profile.rss && nq > 1) {
		uint64_t hf = rss_hf_of(cp->profile.rss_fields) & info.flow_type_rss_offloads;
		if (hf == 0) {
			notice("port '%s': the device hashes none of the profile's RSS fields; "
			       "flows "
			       "are spread in software",
			       cp->name);
		} else {
			ec.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
			ec.rx_adv_conf.rss_conf.rss_hf = hf;
			if (cp->profile.rss_key_len &&
			    cp->profile.rss_key_len == info.hash_key_size) {
				ec.rx_adv_conf.rss_conf.rss_key = (uint8_t *)cp->profile.rss_key;
				ec.rx_adv_conf.rss_conf.rss_key_len = cp->profile.rss_key_len;
			}
		}
	}

	rc = rte_eth_dev_configure(ps->port_id, nq, nq, &ec);
	if (rc != 0)
		die("port '%s': configure failed: %s", cp->name, rte_strerror(-rc));
	uint16_t rxd = cp->profile.rx_desc, txd = cp->profile.tx_desc;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(ps->port_id, &rxd, &txd);
	if (rc != 0)
		die("port '%s': descriptor counts refused: %s", cp->name, rte_strerror(-rc));
	/* SOCKET_ID_ANY (-1) passes through as the unsigned "any socket" the API expects. */
	int socket = rte_eth_dev_socket_id(ps->port_id);
	for (uint16_t q = 0; q < nq; q++) {
		struct rte_eth_rxconf rxc = info.default_rxconf;
		rxc.offloads = ec.rxmode.offloads;
		rc = rte_eth_rx_queue_setup(ps->port_id, q, rxd, (unsigned)socket, &rxc, pools[q]);
		if (rc != 0)
			die("port '%s': RX queue %u setup failed: %s", cp->name, q,
			    rte_strerror(-rc));
		struct rte_eth_txconf txc = info.default_txconf;
		txc.offloads = ec.txmode.offloads;
		rc = rte_eth_tx_queue_setup(ps->port_id, q, txd, (unsigned)socket, &txc);
		if (rc != 0)
			die("port '%s': TX queue %u setup failed: %s", cp->name, q,
			    rte_strerror(-rc));
	}
	rc = rte_eth_dev_set_mtu(ps->port_id, cp->profile.mtu);
	if (rc != 0 && rc != -ENOTSUP)
		notice("port '%s': MTU %u refused (%s); keeping the device's", cp->name,
		       cp->profile.mtu, rte_strerror(-rc));
	rc = rte_eth_dev_start(ps->port_id);
	if (rc != 0)
		die("port '%s': start failed: %s", cp->name, rte_strerror(-rc));
	if (cp->profile.promiscuous)
		rte_eth_promiscuous_enable(ps->port_id);
	ps->thash = false;
	if (cp->profile.steering == CONF_STEER_THASH && ec.rxmode.mq_mode == RTE_ETH_MQ_RX_RSS)
		ps->thash = read_rss_state(cp->name, ps, info.reta_size);
	else if (cp->profile.steering != CONF_STEER_SOFTWARE && nq > 1)
		notice("port '%s': steering \"%s\" is not available here; replies use the hand-off "
		       "ring",
		       cp->name, conf_steering_name(cp->profile.steering));

	/* The gateway's addresses on this port. */
	memset(&ps->local, 0, sizeof(ps->local));
	rte_eth_macaddr_get(ps->port_id, &ps->local.mac);
	for (unsigned i = 0; i < cp->n_vips && i < NET_MAX_LOCAL_ADDRS; i++)
		ps->local.vips[ps->local.n_vips++] = cp->vips[i];
	for (unsigned i = 0; i < cp->n_snat && i < NET_MAX_LOCAL_ADDRS; i++)
		ps->local.snat[ps->local.n_snat++] = cp->snat[i];
	char mac[RTE_ETHER_ADDR_FMT_SIZE];
	rte_ether_format_addr(mac, sizeof(mac), &ps->local.mac);
	notice("port '%s': %s on %s, %u queue(s), mac %s, %u VIP(s), %u SNAT address(es)", cp->name,
	       dev, info.driver_name, nq, mac, ps->local.n_vips, ps->local.n_snat);
}

/* ---- metrics sections --------------------------------------------------------------------- */

struct daemon {
	struct sluice_conf conf;
	struct route_table *routes;
	struct crypto_ctx *crypto;
	struct crypto_keys keys[3]; /* published round-robin: a worker's pointer outlives a
				     * rotation by a whole period */
	unsigned key_slot;
	uint64_t next_rotation;
	struct port_state ports[CONF_MAX_PORTS];
	struct worker_ctx *workers[CONF_MAX_WORKERS];
	struct rte_ring *rings[CONF_MAX_WORKERS]; /* hand-off inboxes, by worker index */
	/* Hitless rule updates: a new table is published by pointer, the old one retired and
	 * freed once every worker has passed a quiescent state and no flow can still be in its
	 * handshake with a pool index from it. */
	struct rte_rcu_qsbr *qsbr;
	struct {
		struct route_table *t;
		uint64_t token;
		uint64_t at;
	} retired[128];
	unsigned n_retired;
	uint64_t retire_hold; /* tsc */
	int inotify_fd;
	uint64_t reload_at; /* tsc; 0 = none pending */
	uint64_t publishes;
	double last_compile_s;
	uint64_t last_change_tsc;
	double last_publish_latency_s;
	struct stats_http *http;
	uint64_t started_tsc;
	/* Kubernetes as the rule source: the sync fills model; model also holds the static
	 * routes, added once. */
	struct kube_client_config kc;
	struct kube_sync *kube;
	struct control_model *model;
	uint64_t kube_compiled_gen;
	uint64_t kube_change_ns;     /* oldest change in the table being published */
	uint64_t kube_publish_token; /* RCU token of the last publish, to time workers */
	bool kube_publish_pending;   /* workers not yet seen passing the last publish */
	double kube_change_to_workers_s;
	uint64_t publish_failures;
	json_t *last_errors; /* compile messages already logged */
	char status_addrs[CONF_MAX_ADDRS * CONF_MAX_PORTS][CONF_NAME_LEN * 4];
	const char *status_ptrs[CONF_MAX_ADDRS * CONF_MAX_PORTS];
	unsigned n_status;
};

static void port_section(struct stats_text *t, void *arg)
{
	struct daemon *d = arg;
	static const struct {
		const char *name, *help;
		size_t off;
	} f[] = {
		{"port_rx_packets", "Packets the NIC received",
		 offsetof(struct rte_eth_stats, ipackets)},
		{"port_tx_packets", "Packets the NIC sent",
		 offsetof(struct rte_eth_stats, opackets)},
		{"port_rx_bytes", "Bytes the NIC received", offsetof(struct rte_eth_stats, ibytes)},
		{"port_tx_bytes", "Bytes the NIC sent", offsetof(struct rte_eth_stats, obytes)},
		{"port_rx_missed", "Packets the NIC dropped for lack of RX descriptors",
		 offsetof(struct rte_eth_stats, imissed)},
		{"port_rx_errors", "Erroneous packets received",
		 offsetof(struct rte_eth_stats, ierrors)},
		{"port_tx_errors", "Failed transmissions", offsetof(struct rte_eth_stats, oerrors)},
		{"port_rx_nombuf", "RX mbuf allocation failures",
		 offsetof(struct rte_eth_stats, rx_nombuf)},
	};
	struct rte_eth_stats es[CONF_MAX_PORTS];
	for (unsigned p = 0; p < d->conf.n_ports; p++)
		if (rte_eth_stats_get(d->ports[p].port_id, &es[p]) != 0)
			memset(&es[p], 0, sizeof(es[p]));
	for (unsigned i = 0; i < RTE_DIM(f); i++) {
		stats_text_printf(t, "# HELP sluice_%s_total %s.\n# TYPE sluice_%s_total counter\n",
				  f[i].name, f[i].help, f[i].name);
		for (unsigned p = 0; p < d->conf.n_ports; p++)
			stats_text_printf(t, "sluice_%s_total{port=\"%s\"} %lu\n", f[i].name,
					  d->conf.ports[p].name,
					  (unsigned long)*(const uint64_t *)((const char *)&es[p] +
									     f[i].off));
	}
	stats_text_printf(t, "# HELP sluice_uptime_seconds Seconds since the gateway started.\n"
			     "# TYPE sluice_uptime_seconds gauge\n");
	stats_text_printf(t, "sluice_uptime_seconds %.3f\n",
			  (double)(rte_rdtsc() - d->started_tsc) / (double)rte_get_tsc_hz());
	stats_text_printf(t,
			  "# HELP sluice_workers Worker lcores polling.\n"
			  "# TYPE sluice_workers gauge\nsluice_workers %u\n",
			  d->conf.n_workers);
	stats_text_printf(
		t,
		"# HELP sluice_route_rules Rules in the published route table.\n"
		"# TYPE sluice_route_rules gauge\nsluice_route_rules %u\n"
		"# HELP sluice_route_publishes_total Route tables published to the workers "
		"after the first.\n"
		"# TYPE sluice_route_publishes_total counter\nsluice_route_publishes_total "
		"%lu\n"
		"# HELP sluice_route_compile_seconds Time the last compile took.\n"
		"# TYPE sluice_route_compile_seconds gauge\nsluice_route_compile_seconds "
		"%.6f\n"
		"# HELP sluice_route_change_to_publish_seconds From the last file change seen "
		"to the workers having the new table.\n"
		"# TYPE sluice_route_change_to_publish_seconds gauge\n"
		"sluice_route_change_to_publish_seconds %.6f\n",
		d->routes ? route_rule_count(d->routes) : 0, (unsigned long)d->publishes,
		d->last_compile_s, d->last_publish_latency_s);
}

static struct daemon *tel_daemon;

static int tel_ports(const char *cmd __rte_unused, const char *params __rte_unused,
		     struct rte_tel_data *data)
{
	rte_tel_data_start_dict(data);
	for (unsigned p = 0; p < tel_daemon->conf.n_ports; p++)
		rte_tel_data_add_dict_int(data, tel_daemon->conf.ports[p].name,
					  tel_daemon->ports[p].port_id);
	return 0;
}

/* ---- main --------------------------------------------------------------------------------- */

static int check_config(const char *file)
{
	struct sluice_conf c;
	char err[16384];
	int problems = conf_load(file, &c, err, sizeof(err));
	if (problems) {
		fputs(err, stderr);
		fprintf(stderr, "%s: %d problem%s\n", file, problems, problems == 1 ? "" : "s");
		conf_release(&c);
		return 1;
	}
	unsigned vips = 0;
	for (unsigned i = 0; i < c.n_ports; i++)
		vips += c.ports[i].n_vips;
	printf("%s: ok (%u port%s, %u worker%s, %u VIP%s)\n", file, c.n_ports,
	       c.n_ports == 1 ? "" : "s", c.n_workers, c.n_workers == 1 ? "" : "s", vips,
	       vips == 1 ? "" : "s");
	conf_release(&c);
	return 0;
}

/* Print the compile's messages that were not in the previous compile's: a missing Service is
 * reported when it starts being missing, not at every recompile. */
static void report_compile_errors(struct daemon *d, const struct control_errors *errs)
{
	json_t *now = json_object();
	for (size_t i = 0; i < errs->n; i++) {
		if (d->last_errors == NULL ||
		    json_object_get(d->last_errors, errs->msgs[i]) == NULL)
			fprintf(stderr, "sluice: routing: %s\n", errs->msgs[i]);
		json_object_set_new(now, errs->msgs[i], json_true());
	}
	json_decref(d->last_errors);
	d->last_errors = now;
}

static void add_static_routes(const struct sluice_conf *c, struct control_model *m,
			      struct control_errors *errs)
{
	for (unsigned i = 0; i < c->n_static_routes; i++) {
		const struct conf_static_route *sr = &c->static_routes[i];
		control_add_static_route(m, i, c->routing.ingress_class, sr->host, sr->path,
					 sr->path_type, sr->ep_addr, sr->ep_port, sr->n_eps, errs);
	}
	if (c->n_static_routes)
		notice("routing: %u static route(s) from the configuration", c->n_static_routes);
}

/* Compile the routes (management lcore): from the Kubernetes model when the cluster is the
 * source, else from the manifest directory read afresh. */
static struct route_table *load_routes(struct daemon *d)
{
	const struct sluice_conf *c = &d->conf;
	struct control_errors errs = {0};
	struct control_model *m = d->model;
	if (m == NULL) {
		m = control_model_new();
		if (c->routing.manifests[0]) {
			int n = control_load_dir(m, c->routing.manifests, &errs);
			if (n >= 0)
				notice("routing: %d object(s) from %s", n, c->routing.manifests);
		} else {
			notice("routing: no routing.manifests configured; every request gets 404 "
			       "until rules arrive");
		}
		add_static_routes(c, m, &errs);
	}
	struct control_class cls = {c->routing.ingress_class, c->routing.controller,
				    c->routing.default_backend[0] ? c->routing.default_backend
								  : NULL,
				    c->routing.load_balance};
	struct route_table *t = control_compile(m, &cls, &errs);
	report_compile_errors(d, &errs);
	control_errors_free(&errs);
	if (m != d->model)
		control_model_free(m);
	if (t == NULL)
		notice("routing: out of memory compiling the route table; keeping the current one");
	else if (d->model == NULL || d->publishes == 0)
		notice("routing: %u rule(s), %u pool(s)", route_rule_count(t), route_pool_count(t));
	return t;
}

static struct worker_ctx *make_worker(struct daemon *d, unsigned wi, struct rte_mempool *pool)
{
	const struct sluice_conf *c = &d->conf;
	unsigned lcore = c->workers[wi];
	int socket = (int)rte_lcore_to_socket_id(lcore);
	struct worker_ctx *w =
		rte_zmalloc_socket("worker", sizeof(*w), RTE_CACHE_LINE_SIZE, socket);
	if (w == NULL)
		die("out of memory for worker %u; reserve more hugepages", lcore);
	w->lcore_id = lcore;
	w->pool = pool;
	w->stats = &stats_per_lcore[lcore];
	w->tsc_hz = rte_get_tsc_hz();
	char name[32];
	snprintf(name, sizeof(name), "neigh_%u", lcore);
	w->neigh = net_neigh_create(name, c->limits.neighbours, socket,
				    (uint64_t)c->timeouts.neighbour_reachable_ms * w->tsc_hz / 1000,
				    (uint64_t)c->timeouts.neighbour_retry_ms * w->tsc_hz / 1000);
	if (w->neigh == NULL)
		die("cannot create the neighbour table for worker %u (%u entries); lower "
		    "limits.neighbours or reserve more hugepages",
		    lcore, c->limits.neighbours);
	w->n_ports = c->n_ports;
	for (unsigned p = 0; p < c->n_ports; p++) {
		w->ports[p].port_id = d->ports[p].port_id;
		w->ports[p].queue_id = (uint16_t)wi;
		w->ports[p].offloads = d->ports[p].tx_offloads;
		w->ports[p].local = &d->ports[p].local;
		/* Keep every configured next hop resolved, so the first request to a pod behind
		 * it does not wait for ARP. */
		for (unsigned r = 0; r < c->ports[p].n_routes && w->n_resolve < WORKER_MAX_RESOLVE;
		     r++) {
			w->resolve_ip[w->n_resolve] = c->ports[p].routes[r].via;
			w->resolve_port[w->n_resolve] = (uint8_t)p;
			w->n_resolve++;
		}
	}

	/* The TCP-lite engine, when some port has an SNAT address to reach pods from. */
	bool any_snat = false;
	for (unsigned p = 0; p < c->n_ports; p++)
		any_snat |= c->ports[p].n_snat > 0;
	if (!any_snat)
		return w;
	struct tcpl_config tc = {
		.limits = {.max_request_line = c->limits.max_request_line,
			   .max_head_bytes = c->limits.max_header_bytes,
			   .max_headers = (uint16_t)c->limits.max_headers,
			   .reject_bare_lf = c->limits.reject_bare_lf},
		.request_buffer = c->limits.request_buffer,
		.buffers = c->limits.max_flows < 4096 ? c->limits.max_flows : 4096,
		.max_flows = c->limits.max_flows,
		.header_tsc = (uint64_t)c->timeouts.header_ms * w->tsc_hz / 1000,
		.connect_tsc = (uint64_t)c->timeouts.connect_ms * w->tsc_hz / 1000,
		.idle_tsc = (uint64_t)c->timeouts.idle_ms * w->tsc_hz / 1000,
		.linger_tsc = (uint64_t)c->timeouts.linger_ms * w->tsc_hz / 1000,
		.rto_tsc = w->tsc_hz / 5, /* 200 ms, Linux's minimum RTO */
		.connect_tries = 3,
		.wscale = 7,
		.tsc_hz = rte_get_tsc_hz(),
	};
	/* SNAT source ports 1024–65535, split evenly: a pod's reply names its worker. */
	uint32_t span = (65536 - 1024) / c->n_workers;
	tc.snat_port_first = (uint16_t)(1024 + wi * span);
	tc.snat_port_count = (uint16_t)span;
	for (unsigned p = 0; p < c->n_ports; p++)
		for (unsigned l = 0; l < c->ports[p].n_listen && tc.n_listen < TCPL_MAX_LISTEN; l++)
			if (c->ports[p].n_vips)
				tc.listen_ports[tc.n_listen++] = c->ports[p].listen[l];
	struct tcpl_port tp[TCPL_MAX_PORTS];
	for (unsigned p = 0; p < c->n_ports && p < TCPL_MAX_PORTS; p++)
		tp[p] = (struct tcpl_port){.local = &d->ports[p].local,
					   .conf = &c->ports[p],
					   .offloads = d->ports[p].tx_offloads,
					   .mss = (uint16_t)(c->ports[p].profile.mtu - 40),
					   .rss_key =
						   d->ports[p].thash ? d->ports[p].rss_key : NULL,
					   .reta = d->ports[p].thash ? d->ports[p].reta : NULL,
					   .reta_size = d->ports[p].reta_size,
					   .queue = (uint16_t)wi};
	/* Hand-off: this worker's place among its peers and its SNAT partition. */
	w->worker_index = (uint16_t)wi;
	w->n_workers = c->n_workers;
	w->snat_first = tc.snat_port_first - (uint16_t)(wi * span);
	w->snat_span = (uint16_t)span;
	for (unsigned p = 0; p < c->n_ports; p++)
		if (c->ports[p].n_snat) {
			w->pod_pi = (uint16_t)p;
			break;
		}
	w->inbox = d->rings[wi];
	w->peers = d->rings;
	w->qsbr = d->qsbr;
	rte_rcu_qsbr_thread_register(d->qsbr, wi);
	char err[256];
	snprintf(name, sizeof(name), "flows_%u", lcore);
	w->tcp = tcpl_create(name, &tc, tp, (uint8_t)c->n_ports, pool, w->neigh, w->stats, socket,
			     err, sizeof(err));
	if (w->tcp == NULL)
		die("worker %u: %s", lcore, err);
	tcpl_set_routes(w->tcp, d->routes);
	tcpl_set_keys(w->tcp, &d->keys[d->key_slot]);
	tcpl_set_seconds(w->tcp, rte_rdtsc() / w->tsc_hz);
	return w;
}

/* Rotate the SYN-cookie secret every ten minutes; the previous one stays valid. */
static void rotate_keys(struct daemon *d, bool first)
{
	uint64_t secs = rte_rdtsc() / rte_get_tsc_hz();
	unsigned next = first ? 0 : (d->key_slot + 1) % 3;
	if (crypto_keys_rotate(d->crypto, &d->keys[next], first ? NULL : &d->keys[d->key_slot],
			       crypto_cookie_count(secs)) != 0)
		die("cannot read random bytes for the SYN-cookie secret");
	d->key_slot = next;
	d->next_rotation = secs + 600;
}

/* The signals the management loop reads from a signalfd. They must be blocked before
 * rte_eal_init creates its threads, which inherit the mask; otherwise a SIGTERM can land on an
 * EAL thread and kill the process with the default action. */
static void signal_mask(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGHUP);
}

/* Watch the manifest directory and its sub-folders for changes. */
static void watch_tree(struct daemon *d, const char *dir, int depth)
{
	inotify_add_watch(d->inotify_fd, dir,
			  IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
				  IN_DELETE_SELF);
	if (depth >= 8)
		return;
	DIR *dd = opendir(dir);
	if (dd == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(dd)) != NULL) {
		if (e->d_name[0] == '.' && e->d_name[1] != '.' && e->d_name[1] != '\0')
			continue;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
			watch_tree(d, p, depth + 1);
	}
	closedir(dd);
}

/* Free retired tables that no worker can still read and no handshake still indexes. */
static void reap_retired(struct daemon *d, uint64_t now)
{
	unsigned k = 0;
	for (unsigned i = 0; i < d->n_retired; i++) {
		if (now - d->retired[i].at > d->retire_hold &&
		    rte_rcu_qsbr_check(d->qsbr, d->retired[i].token, false) == 1) {
			route_table_free(d->retired[i].t);
			continue;
		}
		d->retired[k++] = d->retired[i];
	}
	d->n_retired = k;
}

/* Recompile and publish: the hitless update (DESIGN §2). */
static void reload_routes(struct daemon *d, uint64_t now)
{
	if (d->n_retired == RTE_DIM(d->retired)) {
		d->reload_at = now + rte_get_tsc_hz() / 5; /* too many in flight: try shortly */
		return;
	}
	uint64_t t0 = rte_rdtsc();
	if (d->kube) {
		d->kube_change_ns = kube_sync_pending_since_ns(d->kube);
		d->kube_compiled_gen = kube_sync_take_changes(d->kube);
	}
	struct route_table *t = load_routes(d);
	d->last_compile_s = (double)(rte_rdtsc() - t0) / (double)rte_get_tsc_hz();
	if (t == NULL) {
		d->publish_failures++;
		d->reload_at = now + rte_get_tsc_hz(); /* memory may come back: try again */
		return;
	}
	for (unsigned i = 0; i < d->conf.n_workers; i++)
		if (d->workers[i]->tcp)
			tcpl_set_routes(d->workers[i]->tcp, t);
	d->retired[d->n_retired].t = d->routes;
	d->retired[d->n_retired].token = rte_rcu_qsbr_start(d->qsbr);
	d->retired[d->n_retired].at = rte_rdtsc();
	d->n_retired++;
	d->routes = t;
	d->publishes++;
	d->last_publish_latency_s =
		(double)(rte_rdtsc() - d->last_change_tsc) / (double)rte_get_tsc_hz();
	d->reload_at = 0;
	if (d->kube) {
		/* Time the change to the moment every worker has passed a quiescent state after
		 * the swap (they poll in microseconds; wait a little for them here). */
		d->kube_publish_token = d->retired[d->n_retired - 1].token;
		d->kube_publish_pending = d->kube_change_ns != 0;
		uint64_t until = rte_rdtsc() + rte_get_tsc_hz() / 100;
		while (d->kube_publish_pending && rte_rdtsc() < until) {
			if (rte_rcu_qsbr_check(d->qsbr, d->kube_publish_token, false) == 1) {
				d->kube_change_to_workers_s =
					(double)(kube_now_ns() - d->kube_change_ns) * 1e-9;
				d->kube_publish_pending = false;
			}
			rte_pause();
		}
		if (d->http && kube_sync_synced(d->kube))
			stats_http_set_ready(d->http, true);
		kube_sync_reconcile_status(d->kube);
	}
	notice("routing: published table %lu: %u rule(s), %u pool(s) (compile %.1f ms)",
	       (unsigned long)d->publishes, route_rule_count(t), route_pool_count(t),
	       d->last_compile_s * 1e3);
}

static void kube_log(void *arg, const char *msg)
{
	(void)arg;
	notice("%s", msg);
}

/* Start the Kubernetes sync (management lcore, before the loop). */
static void start_kube(struct daemon *d)
{
	const struct conf_kubernetes *k = &d->conf.kubernetes;
	char err[1024];
	int rc = k->in_cluster
			 ? kube_config_in_cluster(KUBE_SERVICEACCOUNT_DIR, &d->kc, err, sizeof(err))
			 : kube_config_from_kubeconfig(k->kubeconfig,
						       k->context[0] ? k->context : NULL, &d->kc,
						       err, sizeof(err));
	if (rc != 0)
		die("kubernetes: %s", err);
	if (k->write_status) {
		for (unsigned i = 0; i < k->n_status_addresses; i++)
			snprintf(d->status_addrs[d->n_status++], sizeof(d->status_addrs[0]), "%s",
				 k->status_addresses[i]);
		for (unsigned p = 0; p < d->conf.n_ports && k->n_status_addresses == 0; p++)
			for (unsigned v = 0;
			     v < d->conf.ports[p].n_vips && d->n_status < RTE_DIM(d->status_addrs);
			     v++) {
				struct in_addr a = {.s_addr = d->conf.ports[p].vips[v]};
				inet_ntop(AF_INET, &a, d->status_addrs[d->n_status],
					  sizeof(d->status_addrs[0]));
				d->n_status++;
			}
		for (unsigned i = 0; i < d->n_status; i++)
			d->status_ptrs[i] = d->status_addrs[i];
	}
	static struct control_class cls;
	cls = (struct control_class){
		d->conf.routing.ingress_class, d->conf.routing.controller,
		d->conf.routing.default_backend[0] ? d->conf.routing.default_backend : NULL,
		d->conf.routing.load_balance};
	struct kube_sync_opts so = {.client = &d->kc,
				    .model = d->model,
				    .cls = &cls,
				    .status_addrs = d->status_ptrs,
				    .n_status_addrs = d->n_status,
				    .backoff_max_ms = k->backoff_max_ms,
				    .log = kube_log};
	d->kube = kube_sync_new(&so, err, sizeof(err));
	if (d->kube == NULL)
		die("kubernetes: %s", err);
	notice("kubernetes: syncing from %s (%s); ready once Ingress, IngressClass, Service and "
	       "EndpointSlice are listed",
	       d->kc.server, d->kc.source ? d->kc.source : "");
}

static void kube_section(struct stats_text *t, void *arg)
{
	struct daemon *d = arg;
	if (d->kube == NULL)
		return;
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} f[] = {
		{"kube_objects", "gauge", "Objects of the kind held from the API server",
		 offsetof(struct kube_kind_stats, objects)},
		{"kube_lists_total", "counter", "Complete lists of the kind",
		 offsetof(struct kube_kind_stats, lists)},
		{"kube_relists_gone_total", "counter", "Lists forced by 410 Gone",
		 offsetof(struct kube_kind_stats, relists_gone)},
		{"kube_watches_total", "counter", "Watch requests started",
		 offsetof(struct kube_kind_stats, watches)},
		{"kube_watch_resumes_total", "counter",
		 "Watches restarted from the last resourceVersion",
		 offsetof(struct kube_kind_stats, watch_resumes)},
		{"kube_events_total", "counter", "Watch events applied (ADDED, MODIFIED, DELETED)",
		 offsetof(struct kube_kind_stats, events)},
		{"kube_bookmarks_total", "counter", "Watch bookmarks received",
		 offsetof(struct kube_kind_stats, bookmarks)},
		{"kube_errors_total", "counter", "Failed list or watch requests",
		 offsetof(struct kube_kind_stats, errors)},
	};
	for (unsigned i = 0; i < RTE_DIM(f); i++) {
		stats_text_printf(t, "# HELP sluice_%s %s.\n# TYPE sluice_%s %s\n", f[i].name,
				  f[i].help, f[i].name, f[i].type);
		for (unsigned k = 0; k < KUBE_KIND__COUNT; k++) {
			const struct kube_kind_stats *st = kube_sync_stats(d->kube, k);
			stats_text_printf(
				t, "sluice_%s{kind=\"%s\"} %lu\n", f[i].name, kube_kind_name(k),
				(unsigned long)*(const uint64_t *)((const char *)st + f[i].off));
		}
	}
	stats_text_printf(t,
			  "# HELP sluice_kube_sync_state 1 for the kind's current state "
			  "(listing, watching, backoff).\n# TYPE sluice_kube_sync_state gauge\n");
	for (unsigned k = 0; k < KUBE_KIND__COUNT; k++)
		for (unsigned s = KUBE_STATE_LISTING; s <= KUBE_STATE_BACKOFF; s++)
			stats_text_printf(t,
					  "sluice_kube_sync_state{kind=\"%s\",state=\"%s\"} %d\n",
					  kube_kind_name(k), kube_sync_state_name(s),
					  kube_sync_stats(d->kube, k)->state == s);
	stats_text_printf(t, "# HELP sluice_kube_last_sync_timestamp_seconds Unix time of the "
			     "kind's last complete list or watch event.\n"
			     "# TYPE sluice_kube_last_sync_timestamp_seconds gauge\n");
	for (unsigned k = 0; k < KUBE_KIND__COUNT; k++)
		stats_text_printf(t, "sluice_kube_last_sync_timestamp_seconds{kind=\"%s\"} %.3f\n",
				  kube_kind_name(k), kube_sync_stats(d->kube, k)->last_sync_unix);
	const struct kube_status_stats *ss = kube_sync_status_stats(d->kube);
	stats_text_printf(
		t,
		"# HELP sluice_kube_synced 1 once every kind has been listed.\n"
		"# TYPE sluice_kube_synced gauge\nsluice_kube_synced %d\n"
		"# HELP sluice_kube_status_writes_total Ingress status PATCHes that succeeded.\n"
		"# TYPE sluice_kube_status_writes_total counter\n"
		"sluice_kube_status_writes_total{op=\"set\"} %lu\n"
		"sluice_kube_status_writes_total{op=\"clear\"} %lu\n"
		"# HELP sluice_kube_status_failures_total Ingress status PATCHes that failed.\n"
		"# TYPE sluice_kube_status_failures_total counter\n"
		"sluice_kube_status_failures_total %lu\n"
		"# HELP sluice_route_publish_failures_total Compiles that could not produce a "
		"table.\n# TYPE sluice_route_publish_failures_total counter\n"
		"sluice_route_publish_failures_total %lu\n"
		"# HELP sluice_kube_change_to_workers_seconds From a watch event arriving to "
		"every worker having passed the swap to the table that includes it (last "
		"publish).\n# TYPE sluice_kube_change_to_workers_seconds gauge\n"
		"sluice_kube_change_to_workers_seconds %.6f\n",
		kube_sync_synced(d->kube), (unsigned long)(ss->written - ss->cleared),
		(unsigned long)ss->cleared, (unsigned long)ss->failed,
		(unsigned long)d->publish_failures, d->kube_change_to_workers_s);
}

static int management_loop(struct daemon *d)
{
	sigset_t mask;
	signal_mask(&mask);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || tfd < 0 || ep < 0)
		die("management loop: %s", strerror(errno));
	struct itimerspec its = {.it_interval = {0, 100000000}, .it_value = {0, 100000000}};
	timerfd_settime(tfd, 0, &its, NULL);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = sfd};
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.fd = tfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	if (d->http)
		stats_http_epoll_add(d->http, ep);
	if (d->inotify_fd >= 0) {
		ev.data.fd = d->inotify_fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, d->inotify_fd, &ev);
	}
	int kfd = d->kube ? kube_sync_fd(d->kube) : -1;
	if (kfd >= 0) {
		ev.data.fd = kfd;
		epoll_ctl(ep, EPOLL_CTL_ADD, kfd, &ev);
	}
	const uint64_t hz = rte_get_tsc_hz();

	notice("running: %u worker(s); SIGTERM or SIGINT stops", d->conf.n_workers);
	for (;;) {
		struct epoll_event evs[32];
		long wait_ms = d->kube ? kube_sync_timeout_ms(d->kube) : -1;
		if (d->reload_at) {
			uint64_t now = rte_rdtsc();
			long r = now >= d->reload_at ? 0
						     : (long)((d->reload_at - now) * 1000 / hz) + 1;
			if (wait_ms < 0 || r < wait_ms)
				wait_ms = r;
		}
		int n = epoll_wait(ep, evs, 32, wait_ms < 0 ? -1 : (int)wait_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (d->kube) {
			kube_sync_run(d->kube);
			/* Coalesce a burst of changes (a rollout touches many EndpointSlices) for
			 * debounce_ms, then compile once. The first table waits for every kind. */
			if (kube_sync_generation(d->kube) != d->kube_compiled_gen &&
			    d->reload_at == 0 && kube_sync_synced(d->kube))
				d->reload_at =
					rte_rdtsc() + d->conf.kubernetes.debounce_ms * hz / 1000;
		}
		if (d->reload_at && rte_rdtsc() >= d->reload_at)
			reload_routes(d, rte_rdtsc());
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == sfd) {
				struct signalfd_siginfo si;
				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					notice("SIGHUP: reloading the routes (other configuration "
					       "changes need a restart)");
					d->last_change_tsc = rte_rdtsc();
					reload_routes(d, rte_rdtsc());
					continue;
				}
				notice("signal %u: stopping", si.ssi_signo);
				close(ep);
				close(sfd);
				close(tfd);
				return 0;
			} else if (fd == tfd) {
				uint64_t ticks;
				if (read(tfd, &ticks, sizeof(ticks)) < 0)
					continue;
				if (d->http)
					stats_http_tick(d->http, ep);
				uint64_t now = rte_rdtsc();
				reap_retired(d, now);
				if (rte_rdtsc() / rte_get_tsc_hz() >= d->next_rotation) {
					rotate_keys(d, false);
					for (unsigned w = 0; w < d->conf.n_workers; w++)
						if (d->workers[w]->tcp)
							tcpl_set_keys(d->workers[w]->tcp,
								      &d->keys[d->key_slot]);
				}
			} else if (fd == d->inotify_fd) {
				char buf[8192] __attribute__((aligned(8)));
				ssize_t len;
				bool dir_added = false;
				while ((len = read(fd, buf, sizeof(buf))) > 0) {
					for (char *p = buf; p < buf + len;) {
						struct inotify_event *ie =
							(struct inotify_event *)p;
						dir_added |= (ie->mask & IN_CREATE) &&
							     (ie->mask & IN_ISDIR);
						p += sizeof(*ie) + ie->len;
					}
				}
				if (dir_added)
					watch_tree(d, d->conf.routing.manifests, 0);
				/* Coalesce bursts (an editor's save, a ConfigMap swap): publish
				 * 200 ms after the last change. */
				d->last_change_tsc = rte_rdtsc();
				d->reload_at = rte_rdtsc() + rte_get_tsc_hz() / 5;
			} else if (fd == kfd) {
				continue; /* driven above */
			} else if (d->http && stats_http_owns(d->http, fd)) {
				stats_http_on_event(d->http, ep, fd, evs[i].events);
			}
		}
	}
}

int sluice_daemon_main(int argc, char **argv)
{
	const char *config = DEFAULT_CONFIG;
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	/* "sluice run ..." and "sluice ..." both land here. */
	if (argc > 1 && strcmp(argv[1], "run") == 0) {
		argv++;
		argc--;
	}
	int opt;
	while ((opt = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'C':
			return check_config(optarg);
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	int extra_argc = argc - optind;
	char **extra = argv + optind;

	static struct daemon d;
	char err[16384];
	int problems = conf_load(config, &d.conf, err, sizeof(err));
	if (problems) {
		fputs(err, stderr);
		die("%s: %d configuration problem%s; fix them (sluice --check-config %s)", config,
		    problems, problems == 1 ? "" : "s", config);
	}

	struct argv_builder eal = {0};
	build_eal_args(&d.conf, extra_argc, extra, &eal);
	if (!has_arg(&d.conf, extra_argc, extra, "--no-huge") && free_hugepages() == 0)
		die("no free hugepages: reserve them (scripts/setup.sh, or echo 512 > "
		    "/proc/sys/vm/nr_hugepages and mount hugetlbfs), or add \"--no-huge\" to "
		    "eal.args");

	sigset_t mask;
	signal_mask(&mask);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);

	int eal_argc = eal.n;
	char **eal_argv = calloc((size_t)eal.n + 1, sizeof(char *));
	memcpy(eal_argv, eal.v, (size_t)eal.n * sizeof(char *));
	if (rte_eal_init(eal_argc, eal_argv) < 0)
		die("EAL initialisation failed: %s (arguments:%s%s ...); see the EAL messages "
		    "above",
		    rte_strerror(rte_errno), eal.n > 1 ? " " : "", eal.n > 1 ? eal.v[1] : "");
	d.started_tsc = rte_rdtsc();

	for (unsigned i = 0; i < d.conf.n_workers; i++)
		if (!rte_lcore_is_enabled(d.conf.workers[i]))
			die("worker lcore %u is not enabled", d.conf.workers[i]);

	/* One mempool per worker, on its socket: its RX queues fill it, it frees into it. */
	struct rte_mempool *pools[CONF_MAX_WORKERS];
	for (unsigned i = 0; i < d.conf.n_workers; i++) {
		char name[32];
		snprintf(name, sizeof(name), "mbufs_%u", d.conf.workers[i]);
		pools[i] = rte_pktmbuf_pool_create(name, d.conf.limits.mbufs, 256, 0,
						   RTE_MBUF_DEFAULT_BUF_SIZE,
						   (int)rte_lcore_to_socket_id(d.conf.workers[i]));
		if (pools[i] == NULL)
			die("cannot create %u mbufs for worker %u: %s; reserve more hugepages or "
			    "lower limits.mbufs",
			    d.conf.limits.mbufs, d.conf.workers[i], rte_strerror(rte_errno));
	}

	if (rte_eth_dev_count_avail() == 0)
		die("no ports available: check ports.devargs (for af_packet the interface must "
		    "exist in this network namespace)");
	for (unsigned p = 0; p < d.conf.n_ports; p++)
		setup_port(&d.conf, p, pools, &d.ports[p]);

	static const char *drop_names[NET_DROP__COUNT];
	for (unsigned r = 0; r < NET_DROP__COUNT; r++)
		drop_names[r] = net_drop_reason_name((enum net_drop_reason)r);
	stats_set_drop_reason_names(drop_names, NET_DROP__COUNT);
	unsigned lcores[CONF_MAX_WORKERS];
	for (unsigned i = 0; i < d.conf.n_workers; i++)
		lcores[i] = d.conf.workers[i];
	stats_set_lcores(lcores, d.conf.n_workers);
	stats_telemetry_register();
	tel_daemon = &d;
	rte_telemetry_register_cmd("/sluice/ports", tel_ports,
				   "Gateway ports: name to DPDK port id. No parameters");
	stats_register_section(port_section, &d);
	/* Live capture with dpdk-dumpcap / dpdk-pdump (DESIGN §7). Needs the shared runtime
	 * directory, so not with --in-memory. */
	if (rte_pdump_init() == 0)
		notice("capture: dpdk-dumpcap --file-prefix=<prefix> -i <port> works on this "
		       "process");

	if (d.conf.metrics.enabled) {
		char herr[256];
		d.http = stats_http_open(d.conf.metrics.addr, d.conf.metrics.port, herr,
					 sizeof(herr));
		if (d.http == NULL)
			die("%s", herr);
		/* From files the gateway serves what it serves from the start; from a cluster,
		 * once the first complete table is published. */
		stats_http_set_ready(d.http, !d.conf.kubernetes.enabled);
		struct in_addr a = {.s_addr = d.conf.metrics.addr};
		notice("metrics on http://%s:%u/metrics", inet_ntoa(a), d.conf.metrics.port);
	}

	if (d.conf.kubernetes.enabled) {
		d.model = control_model_new();
		struct control_errors errs = {0};
		add_static_routes(&d.conf, d.model, &errs);
		report_compile_errors(&d, &errs);
		control_errors_free(&errs);
		start_kube(&d);
		stats_register_section(kube_section, &d);
	}
	d.routes = load_routes(&d);
	if (d.routes == NULL)
		die("routing: out of memory compiling the route table");
	size_t qsz = rte_rcu_qsbr_get_memsize(d.conf.n_workers);
	d.qsbr = rte_zmalloc("qsbr", qsz, RTE_CACHE_LINE_SIZE);
	if (d.qsbr == NULL || rte_rcu_qsbr_init(d.qsbr, d.conf.n_workers) != 0)
		die("cannot set up RCU for hitless rule updates");
	d.retire_hold =
		((uint64_t)d.conf.timeouts.header_ms + 4ull * d.conf.timeouts.connect_ms + 5000) *
		rte_get_tsc_hz() / 1000;
	d.inotify_fd = -1;
	if (d.conf.routing.manifests[0]) {
		d.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (d.inotify_fd >= 0)
			watch_tree(&d, d.conf.routing.manifests, 0);
		notice("routing: watching %s for changes", d.conf.routing.manifests);
	}
	d.crypto = crypto_ctx_create();
	if (d.crypto == NULL)
		die("cannot initialise Intel ipsec-mb for SYN cookies");
	rotate_keys(&d, true);
	notice("SYN cookies: AES-128 via ipsec-mb (%s)", crypto_ctx_arch(d.crypto));
	for (unsigned i = 0; i < d.conf.n_workers && d.conf.n_workers > 1; i++) {
		char rn[32];
		snprintf(rn, sizeof(rn), "handoff_%u", d.conf.workers[i]);
		d.rings[i] = rte_ring_create(
			rn, 4096, (int)rte_lcore_to_socket_id(d.conf.workers[i]), RING_F_SC_DEQ);
		if (d.rings[i] == NULL)
			die("cannot create the hand-off ring for worker %u: %s", d.conf.workers[i],
			    rte_strerror(rte_errno));
	}
	for (unsigned i = 0; i < d.conf.n_workers; i++) {
		d.workers[i] = make_worker(&d, i, pools[i]);
		int rc = rte_eal_remote_launch(worker_run, d.workers[i], d.conf.workers[i]);
		if (rc != 0)
			die("cannot start worker on lcore %u: %s", d.conf.workers[i],
			    rte_strerror(-rc));
	}

	management_loop(&d);

	worker_request_stop();
	rte_eal_mp_wait_lcore();
	for (unsigned p = 0; p < d.conf.n_ports; p++) {
		rte_eth_dev_stop(d.ports[p].port_id);
		rte_eth_dev_close(d.ports[p].port_id);
	}
	rte_pdump_uninit();
	stats_http_close(d.http);
	kube_sync_free(d.kube);
	kube_config_release(&d.kc);
	control_model_free(d.model);
	json_decref(d.last_errors);
	for (unsigned i = 0; i < d.n_retired; i++)
		route_table_free(d.retired[i].t);
	route_table_free(d.routes);
	rte_free(d.qsbr);
	if (d.inotify_fd >= 0)
		close(d.inotify_fd);
	crypto_ctx_free(d.crypto);
	for (unsigned i = 0; i < d.conf.n_workers; i++) {
		tcpl_free(d.workers[i]->tcp);
		net_neigh_free(d.workers[i]->neigh);
		rte_free(d.workers[i]);
	}
	for (unsigned i = 0; i < d.conf.n_workers; i++) {
		if (d.rings[i]) {
			struct rte_mbuf *m;
			while (rte_ring_dequeue(d.rings[i], (void **)&m) == 0)
				rte_pktmbuf_free(m);
			rte_ring_free(d.rings[i]);
		}
	}
	for (unsigned i = 0; i < d.conf.n_workers; i++)
		rte_mempool_free(pools[i]);
	rte_eal_cleanup();
	conf_release(&d.conf);
	for (int i = 0; i < eal.n; i++)
		free(eal.v[i]);
	free(eal_argv);
	notice("stopped cleanly");
	return 0;
}
