/*
 * daemon.c: the gateway process's bring-up and shutdown order, and nothing else. It reads the
 * configuration, starts EAL (eal_args.c), creates the mempools and sets up the ports
 * (ports.c), sets up the rule sources and the first route table (routing.c), builds and
 * launches one worker per configured lcore (workers.c), and runs the management loop on the
 * main lcore (mgmt_loop.c) until SIGINT or SIGTERM.
 *
 * Failure at start is always one line on stderr that says what and what to do, and exit status
 * 1 (2 for usage errors); a clean stop exits 0 after the workers drained and the ports closed.
 * Both go through teardown(), which undoes whatever bring-up reached, in reverse: a failed
 * start after rte_eal_init must not leave hugepage files behind (with a file prefix they stay
 * in /dev/hugepages, held, until someone deletes them).
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_pdump.h>

#include "commands.h"
#include "daemon-int.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: sluice [run] [-c FILE] [-- EAL-ARGS...]\n"
		   "       sluice --check-config FILE\n"
		   "\n"
		   "  -c, --config FILE       configuration (default " DEFAULT_CONFIG ")\n"
		   "      --check-config FILE validate FILE and exit (0 = valid)\n"
		   "  -h, --help              this text\n"
		   "      --version           print the version\n"
		   "EAL arguments after -- are appended to those the configuration implies.\n");
}

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
	if (conf_missing_paths(&c, err, sizeof(err))) {
		fputs(err, stderr);
		fprintf(stderr, "%s: 1 problem\n", file);
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

/* Undo what bring-up reached, latest first; safe at any point after the configuration
 * loaded (every step checks what exists). Runs on the main lcore only. */
static void teardown(struct daemon *d)
{
	if (d->workers_launched) {
		worker_request_stop();
		rte_eal_mp_wait_lcore();
	}
	access_log_stop(d);
	if (d->eal_up) {
		/* Every probed port, set up or not: a vdev probed for a port we never reached
		 * holds memory too. */
		uint16_t pid;
		RTE_ETH_FOREACH_DEV(pid)
		{
			for (unsigned p = 0; p < d->conf.n_ports; p++)
				if (d->ports[p].started && d->ports[p].port_id == pid)
					rte_eth_dev_stop(pid);
			rte_eth_dev_close(pid);
		}
	}
	if (d->pdump_up)
		rte_pdump_uninit();
	stats_http_close(d->http);
	kube_sync_free(d->kube);
	kube_config_release(&d->kc);
	control_model_free(d->model);
	tls_certs_free(d->certs);
	for (unsigned i = 0; i < d->n_certs_retired; i++)
		tls_certs_free(d->certs_retired[i].certs);
	d->n_certs_retired = 0;
	control_cert_cache_free(d->cert_cache);
	tls_cert_unref(d->default_cert);
	json_decref(d->last_errors);
	control_publisher_free(d->publisher);
	rte_free(d->qsbr);
	control_manifests_free(d->manifests);
	crypto_ctx_free(d->crypto);
	for (unsigned i = 0; i < d->conf.n_workers; i++) {
		if (d->workers[i] == NULL)
			continue;
		tcpl_free(d->workers[i]->tcp);
		net_neigh_free(d->workers[i]->neigh);
		rte_free(d->workers[i]);
	}
	tls_server_free(d->tls); /* after the workers' connections */
	d->tls = NULL;
	for (unsigned i = 0; i < d->conf.n_workers; i++) {
		if (d->rings[i]) {
			struct rte_mbuf *m;
			while (rte_ring_dequeue(d->rings[i], (void **)&m) == 0)
				rte_pktmbuf_free(m);
			rte_ring_free(d->rings[i]);
		}
	}
	for (unsigned i = 0; i < d->conf.n_workers; i++)
		rte_mempool_free(d->pools[i]);
	if (d->eal_up)
		stats_series_fini();
	if (d->eal_up) {
		/* EAL unmaps but keeps the files of pages never freed (eal_args.c). */
		eal_note_hugepage_files();
		rte_eal_cleanup();
		eal_remove_hugepage_files();
	}
	conf_release(&d->conf);
	for (int i = 0; i < d->eal.n; i++)
		free(d->eal.v[i]);
	free(d->eal_argv);
	memset(d, 0, sizeof(*d));
}

static struct daemon daemon_state;

/* die() after the configuration loaded: give back what bring-up took before exiting. */
static void teardown_on_die(void)
{
	teardown(&daemon_state);
}

static void start_eal(struct daemon *d, int extra_argc, char **extra)
{
	eal_build_args(&d->conf, extra_argc, extra, &d->eal);
	if (!eal_has_arg(&d->conf, extra_argc, extra, "--no-huge") && eal_free_hugepages() == 0)
		die("no free hugepages: reserve them (scripts/setup.sh, or echo 512 > "
		    "/proc/sys/vm/nr_hugepages and mount hugetlbfs), or add \"--no-huge\" to "
		    "eal.args");

	sigset_t mask;
	mgmt_signal_mask(&mask);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);

	/* EAL may permute its argv: give it a copy and keep ours to free. */
	d->eal_argv = calloc((size_t)d->eal.n + 1, sizeof(char *));
	if (d->eal_argv == NULL)
		die("out of memory");
	memcpy(d->eal_argv, d->eal.v, (size_t)d->eal.n * sizeof(char *));
	eal_remove_runtime_dir_at_exit();
	if (rte_eal_init(d->eal.n, d->eal_argv) < 0)
		die("EAL initialisation failed: %s (arguments:%s%s ...); see the EAL messages "
		    "above",
		    rte_strerror(rte_errno), d->eal.n > 1 ? " " : "",
		    d->eal.n > 1 ? d->eal.v[1] : "");
	d->eal_up = true;
	d->started_tsc = rte_rdtsc();
}

/* Mempools, ports, counters, telemetry, capture, the metrics endpoint. */
static void start_ports(struct daemon *d)
{
	for (unsigned i = 0; i < d->conf.n_workers; i++)
		if (!rte_lcore_is_enabled(d->conf.workers[i]))
			die("worker lcore %u is not enabled", d->conf.workers[i]);

	/* One mempool per worker, on its socket: its RX queues fill it, it frees into it. */
	for (unsigned i = 0; i < d->conf.n_workers; i++) {
		char name[32];
		snprintf(name, sizeof(name), "mbufs_%u", d->conf.workers[i]);
		d->pools[i] = rte_pktmbuf_pool_create(
			name, d->conf.limits.mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
			(int)rte_lcore_to_socket_id(d->conf.workers[i]));
		if (d->pools[i] == NULL)
			die("cannot create %u mbufs for worker %u: %s; reserve more hugepages or "
			    "lower limits.mbufs",
			    d->conf.limits.mbufs, d->conf.workers[i], rte_strerror(rte_errno));
	}
	for (unsigned p = 0; p < d->conf.n_ports; p++)
		ports_setup(&d->conf, p, d->pools, &d->ports[p]);

	static const char *drop_names[NET_DROP__COUNT];
	for (unsigned r = 0; r < NET_DROP__COUNT; r++)
		drop_names[r] = net_drop_reason_name((enum net_drop_reason)r);
	stats_set_drop_reason_names(drop_names, NET_DROP__COUNT);
	unsigned lcores[CONF_MAX_WORKERS];
	for (unsigned i = 0; i < d->conf.n_workers; i++)
		lcores[i] = d->conf.workers[i];
	stats_set_lcores(lcores, d->conf.n_workers);
	if (stats_series_init(d->conf.metrics.route_series) != 0)
		die("out of memory for %u per-route metric series (metrics.route_series)",
		    d->conf.metrics.route_series);
	stats_telemetry_register();
	ports_register_metrics(d);
	/* Live capture with dpdk-dumpcap / dpdk-pdump. Needs the shared runtime directory, so
	 * not with --in-memory. */
	if (rte_pdump_init() == 0) {
		d->pdump_up = true;
		/* dpdk-dumpcap names a port by its DPDK device name (or index), not ours. */
		const char *prefix = "rte";
		for (unsigned a = 0; a < d->conf.n_eal_args; a++)
			if (strncmp(d->conf.eal_args[a], "--file-prefix=", 14) == 0)
				prefix = d->conf.eal_args[a] + 14;
		for (unsigned p = 0; p < d->conf.n_ports; p++) {
			char dev[CONF_STR_LEN];
			eal_device_name(d->conf.ports[p].devargs, dev, sizeof(dev));
			log_info("capture port '%s': dpdk-dumpcap --file-prefix=%s -i %s",
				 d->conf.ports[p].name, prefix, dev);
		}
	}

	if (d->conf.metrics.enabled) {
		char herr[256];
		d->http = stats_http_open(d->conf.metrics.addr, d->conf.metrics.port, herr,
					  sizeof(herr));
		if (d->http == NULL)
			die("%s", herr);
		/* Not ready until the rule sources say so (routing.c). */
		stats_http_set_ready(d->http, false);
		struct in_addr a = {.s_addr = d->conf.metrics.addr};
		log_info("metrics on http://%s:%u/metrics", inet_ntoa(a), d->conf.metrics.port);
	}
}

/* Rule sources, the first table and its publisher. */
static void start_routing(struct daemon *d)
{
	routing_tls_init(d);
	routing_init(d);
	routing_register_metrics(d);
	struct route_table *first = routing_load(d);
	if (first == NULL)
		die("routing: out of memory compiling the route table");
	size_t qsz = rte_rcu_qsbr_get_memsize(d->conf.n_workers);
	d->qsbr = rte_zmalloc("qsbr", qsz, RTE_CACHE_LINE_SIZE);
	if (d->qsbr == NULL || rte_rcu_qsbr_init(d->qsbr, d->conf.n_workers) != 0) {
		route_table_free(first);
		die("cannot set up RCU for hitless rule updates");
	}
	/* The hold time of a retired table: why, in lib/control/publish.h. */
	struct control_publisher_config pc = {
		.qsbr = d->qsbr,
		.hold_tsc = ((uint64_t)d->conf.timeouts.header_ms +
			     4ull * d->conf.timeouts.connect_ms + 5000) *
			    rte_get_tsc_hz() / 1000,
		.tsc_hz = rte_get_tsc_hz(),
	};
	d->publisher = control_publisher_new(&pc, first);
	if (d->publisher == NULL) {
		route_table_free(first);
		die("out of memory for the route publisher");
	}
}

/* SYN cookies, hand-off rings, worker contexts; then launch them. */
static void start_workers(struct daemon *d)
{
	d->crypto = crypto_ctx_create();
	if (d->crypto == NULL)
		die("cannot initialise Intel ipsec-mb for SYN cookies");
	workers_rotate_keys(d, true);
	log_info("SYN cookies: AES-128 via ipsec-mb (%s)", crypto_ctx_arch(d->crypto));
	if (d->conf.bench.fixed_cookies)
		log_warning("bench.fixed_cookies: SYN cookies use a fixed, public key and clock so "
			    "captured handshakes replay; anyone can forge them. Benchmarks only");
	for (unsigned i = 0; i < d->conf.n_workers && d->conf.n_workers > 1; i++) {
		char rn[32];
		snprintf(rn, sizeof(rn), "handoff_%u", d->conf.workers[i]);
		d->rings[i] = rte_ring_create(
			rn, 4096, (int)rte_lcore_to_socket_id(d->conf.workers[i]), RING_F_SC_DEQ);
		if (d->rings[i] == NULL)
			die("cannot create the hand-off ring for worker %u: %s", d->conf.workers[i],
			    rte_strerror(rte_errno));
	}
	for (unsigned i = 0; i < d->conf.n_workers; i++)
		d->workers[i] = workers_make(d, i, d->pools[i]);
	access_log_start(d);
	for (unsigned i = 0; i < d->conf.n_workers; i++) {
		int rc = rte_eal_remote_launch(worker_run, d->workers[i], d->conf.workers[i]);
		if (rc != 0)
			die("cannot start worker on lcore %u: %s", d->conf.workers[i],
			    rte_strerror(-rc));
		d->workers_launched = true;
	}
}

int sluice_daemon_main(int argc, char **argv)
{
	const char *config = DEFAULT_CONFIG;
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
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
		case 'V':
			printf("sluice %s\n", SLUICE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	/* Words after the options are EAL arguments only behind "--": anything else is a
	 * mistake to refuse before EAL takes hugepages. */
	if (optind < argc && strcmp(argv[optind - 1], "--") != 0) {
		fprintf(stderr, "sluice: unexpected argument '%s' (EAL arguments go after --)\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}

	struct daemon *d = &daemon_state;
	char err[16384];
	int problems = conf_load(config, &d->conf, err, sizeof(err));
	if (problems) {
		fputs(err, stderr);
		die("%s: %d configuration problem%s; fix them (sluice --check-config %s)", config,
		    problems, problems == 1 ? "" : "s", config);
	}
	/* The configuration's level for every later line (the validator took the name). */
	int level = log_level_parse(d->conf.log_level);
	log_set_level(level < 0 ? LOG_LEVEL_INFO : (enum log_level)level);
	log_set_exit_hook(teardown_on_die);

	start_eal(d, argc - optind, argv + optind);
	start_ports(d);
	start_routing(d);
	start_workers(d);

	mgmt_loop_run(d);

	teardown(d);
	log_notice("stopped cleanly");
	return 0;
}
