/*
 * ports.c: the NIC ports: configure, queues, offloads, RSS, start; and their counters.
 *
 * Every port gets one RX and one TX queue per worker. What the profile asks for and the device
 * lacks (offloads, RSS fields, steering) is said once at start and replaced by software, never
 * a failure; what cannot work (no device, too few queues) is a one-line error.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_telemetry.h>
#include <rte_version.h>

#include "daemon-int.h"

/* Read the key and redirection table back for thash steering; false (with a notice) when the
 * device cannot tell us, and replies then go through the software hand-off. */
static bool read_rss_state(const char *name, struct port_state *ps, uint16_t reta_size)
{
	struct rte_eth_rss_conf rc = {.rss_key = ps->rss_key, .rss_key_len = CONF_RSS_KEY_MAX};
	if (rte_eth_dev_rss_hash_conf_get(ps->port_id, &rc) != 0 || rc.rss_key_len != 40 ||
	    reta_size == 0 || reta_size > RTE_ETH_RSS_RETA_SIZE_512) {
		log_warning(
			"port '%s': cannot read the RSS key or table; thash steering off, replies "
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
		log_warning("port '%s': cannot read the RSS redirection table; thash steering off",
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

/* The port's device did not come up: say which and what to check, in one line. A vdev that
 * names a kernel interface (iface=) almost always means the interface is missing from this
 * network namespace; a PCI address, that the device is absent or not bound to a DPDK driver. */
static void die_missing_device(const struct conf_port *cp, const char *dev)
	__attribute__((noreturn));
static void die_missing_device(const struct conf_port *cp, const char *dev)
{
	if (eal_is_vdev(cp->devargs)) {
		const char *iface = strstr(cp->devargs, "iface=");
		if (iface) {
			char name[64];
			snprintf(name, sizeof(name), "%s", iface + 6);
			name[strcspn(name, ",")] = '\0';
			die("port '%s' (%s:%d): device '%s' not found: interface '%s' does not "
			    "exist in this network namespace (ip link show %s)",
			    cp->name, cp->file, cp->line, dev, name, name);
		}
		die("port '%s' (%s:%d): device '%s' not found: its driver refused the devargs "
		    "\"%s\" (the EAL lines above say why)",
		    cp->name, cp->file, cp->line, dev, cp->devargs);
	}
	die("port '%s' (%s:%d): device '%s' not found: no such PCI device, or it is not bound "
	    "to a DPDK driver (dpdk-devbind.py --status; Intel NICs need vfio-pci, mlx5 stays "
	    "on mlx5_core)",
	    cp->name, cp->file, cp->line, dev);
}

void ports_setup(const struct sluice_conf *c, unsigned idx, struct rte_mempool **pools,
		 struct port_state *ps)
{
	const struct conf_port *cp = &c->ports[idx];
	char dev[CONF_STR_LEN];
	eal_device_name(cp->devargs, dev, sizeof(dev));
	if (rte_eth_dev_get_port_by_name(dev, &ps->port_id) != 0)
		die_missing_device(cp, dev);

	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(ps->port_id, &info);
	if (rc != 0)
		die("port '%s': cannot read device info: %s", cp->name, rte_strerror(-rc));
	if (strcmp(info.driver_name, cp->profile.driver) != 0)
		log_warning("port '%s': driver is %s but its profile is for %s; check the @include",
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
		log_warning(
			"port '%s': the device lacks some offloads the profile asks for (rx 0x%lx "
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
			log_warning(
				"port '%s': the device hashes none of the profile's RSS fields; "
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
		log_warning("port '%s': MTU %u refused (%s); keeping the device's", cp->name,
			    cp->profile.mtu, rte_strerror(-rc));
	rc = rte_eth_dev_start(ps->port_id);
	if (rc != 0)
		die("port '%s': start failed: %s", cp->name, rte_strerror(-rc));
	ps->started = true;
	if (cp->profile.promiscuous)
		rte_eth_promiscuous_enable(ps->port_id);
	ps->thash = false;
	if (cp->profile.steering == CONF_STEER_THASH && ec.rxmode.mq_mode == RTE_ETH_MQ_RX_RSS)
		ps->thash = read_rss_state(cp->name, ps, info.reta_size);
	else if (cp->profile.steering != CONF_STEER_SOFTWARE && nq > 1)
		log_warning("port '%s': steering \"%s\" is not available here; replies use the "
			    "hand-off "
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
	log_info("port '%s': %s on %s, %u queue(s), mac %s, %u VIP(s), %u SNAT address(es)",
		 cp->name, dev, info.driver_name, nq, mac, ps->local.n_vips, ps->local.n_snat);
}

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
	stats_text_printf(t,
			  "# HELP sluice_build_info The gateway's version and the DPDK it runs on "
			  "(always 1).\n# TYPE sluice_build_info gauge\n"
			  "sluice_build_info{version=\"%s\",dpdk=\"%s\"} 1\n",
			  SLUICE_VERSION, rte_version());
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

void ports_register_metrics(struct daemon *d)
{
	tel_daemon = d;
	rte_telemetry_register_cmd("/sluice/ports", tel_ports,
				   "Gateway ports: name to DPDK port id. No parameters");
	stats_register_section(port_section, d);
}
