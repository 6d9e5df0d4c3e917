/*
 * daemon.c: the gateway process. Thin by design: it reads the configuration, turns it into EAL
 * arguments, sets up ports, queues and mempools, starts one worker per configured lcore, and runs
 * the management loop on the main lcore until SIGINT or SIGTERM.
 *
 * Failure at start is always one line on stderr that says what and what to do, and exit status
 * 1 (2 for usage errors); a clean stop exits 0 after the workers drained and the ports closed.
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
	unsigned vips = 0;
	for (unsigned i = 0; i < c.n_ports; i++)
		vips += c.ports[i].n_vips;
	printf("%s: ok (%u port%s, %u worker%s, %u VIP%s)\n", file, c.n_ports,
	       c.n_ports == 1 ? "" : "s", c.n_workers, c.n_workers == 1 ? "" : "s", vips,
	       vips == 1 ? "" : "s");
	conf_release(&c);
	return 0;
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

	/* The configuration's level for every later line (the validator took the name). */
	int level = log_level_parse(d.conf.log_level);
	log_set_level(level < 0 ? LOG_LEVEL_INFO : (enum log_level)level);

	struct argv_builder eal = {0};
	eal_build_args(&d.conf, extra_argc, extra, &eal);
	if (!eal_has_arg(&d.conf, extra_argc, extra, "--no-huge") && eal_free_hugepages() == 0)
		die("no free hugepages: reserve them (scripts/setup.sh, or echo 512 > "
		    "/proc/sys/vm/nr_hugepages and mount hugetlbfs), or add \"--no-huge\" to "
		    "eal.args");

	sigset_t mask;
	mgmt_signal_mask(&mask);
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
		ports_setup(&d.conf, p, pools, &d.ports[p]);

	static const char *drop_names[NET_DROP__COUNT];
	for (unsigned r = 0; r < NET_DROP__COUNT; r++)
		drop_names[r] = net_drop_reason_name((enum net_drop_reason)r);
	stats_set_drop_reason_names(drop_names, NET_DROP__COUNT);
	unsigned lcores[CONF_MAX_WORKERS];
	for (unsigned i = 0; i < d.conf.n_workers; i++)
		lcores[i] = d.conf.workers[i];
	stats_set_lcores(lcores, d.conf.n_workers);
	stats_telemetry_register();
	ports_register_metrics(&d);
	/* Live capture with dpdk-dumpcap / dpdk-pdump (DESIGN §7). Needs the shared runtime
	 * directory, so not with --in-memory. */
	if (rte_pdump_init() == 0)
		log_info("capture: dpdk-dumpcap --file-prefix=<prefix> -i <port> works on this "
			 "process");

	if (d.conf.metrics.enabled) {
		char herr[256];
		d.http = stats_http_open(d.conf.metrics.addr, d.conf.metrics.port, herr,
					 sizeof(herr));
		if (d.http == NULL)
			die("%s", herr);
		/* Not ready until the rule sources say so (routing.c). */
		stats_http_set_ready(d.http, false);
		struct in_addr a = {.s_addr = d.conf.metrics.addr};
		log_info("metrics on http://%s:%u/metrics", inet_ntoa(a), d.conf.metrics.port);
	}

	routing_init(&d);
	routing_register_metrics(&d);
	struct route_table *first = routing_load(&d);
	if (first == NULL)
		die("routing: out of memory compiling the route table");
	size_t qsz = rte_rcu_qsbr_get_memsize(d.conf.n_workers);
	d.qsbr = rte_zmalloc("qsbr", qsz, RTE_CACHE_LINE_SIZE);
	if (d.qsbr == NULL || rte_rcu_qsbr_init(d.qsbr, d.conf.n_workers) != 0)
		die("cannot set up RCU for hitless rule updates");
	/* The hold time of a retired table: why, in lib/control/publish.h. */
	struct control_publisher_config pc = {
		.qsbr = d.qsbr,
		.hold_tsc = ((uint64_t)d.conf.timeouts.header_ms +
			     4ull * d.conf.timeouts.connect_ms + 5000) *
			    rte_get_tsc_hz() / 1000,
		.tsc_hz = rte_get_tsc_hz(),
	};
	d.publisher = control_publisher_new(&pc, first);
	if (d.publisher == NULL)
		die("out of memory for the route publisher");
	d.crypto = crypto_ctx_create();
	if (d.crypto == NULL)
		die("cannot initialise Intel ipsec-mb for SYN cookies");
	workers_rotate_keys(&d, true);
	log_info("SYN cookies: AES-128 via ipsec-mb (%s)", crypto_ctx_arch(d.crypto));
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
		d.workers[i] = workers_make(&d, i, pools[i]);
		int rc = rte_eal_remote_launch(worker_run, d.workers[i], d.conf.workers[i]);
		if (rc != 0)
			die("cannot start worker on lcore %u: %s", d.conf.workers[i],
			    rte_strerror(-rc));
	}

	mgmt_loop_run(&d);

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
	control_publisher_free(d.publisher);
	rte_free(d.qsbr);
	control_manifests_free(d.manifests);
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
	log_notice("stopped cleanly");
	return 0;
}
