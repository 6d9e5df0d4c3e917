/*
 * worker.c: the burst function and the poll loop.
 *
 * Shape of one loop iteration, per port: rx_burst(32) → net_parse_burst (prefetching ahead) →
 * dispatch by class → queue replies → tx_burst. Housekeeping (neighbour aging, next-hop
 * resolution) is rate-limited by TSC and bounded per call, so a loop iteration's cost never
 * depends on table sizes.
 */
#include "worker/worker.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_arp.h>
#include <rte_prefetch.h>

static volatile bool stop_flag;

void worker_request_stop(void)
{
	__atomic_store_n(&stop_flag, true, __ATOMIC_RELEASE);
}

bool worker_stop_requested(void)
{
	return __atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE);
}

/* Is ip one of the gateway's own addresses on this port (VIP or SNAT)? */
static inline bool is_local(const struct net_local *l, uint32_t ip)
{
	return net_local_is_vip(l, ip) || net_local_is_snat(l, ip);
}

/* The worker that owns SNAT port `port_be` (network order), or this one if unpartitioned. */
static inline uint16_t owner_of(const struct worker_ctx *ctx, uint16_t port_be)
{
	uint16_t port = rte_be_to_cpu_16(port_be);
	if (ctx->n_workers <= 1 || ctx->snat_span == 0 || port < ctx->snat_first)
		return ctx->worker_index;
	uint32_t w = (uint32_t)(port - ctx->snat_first) / ctx->snat_span;
	return w < ctx->n_workers ? (uint16_t)w : ctx->worker_index;
}

static inline void hand_off(struct worker_ctx *ctx, uint16_t to, struct rte_mbuf *m)
{
	if (rte_ring_enqueue(ctx->peers[to], m) != 0) {
		rte_pktmbuf_free(m);
		stats_add(ctx->stats, STATS_handoff_dropped, 1);
		return;
	}
	stats_add(ctx->stats, STATS_handoff_out, 1);
}

/* Copy an ARP packet to every other worker so their neighbour tables learn it too. */
static void share_arp(struct worker_ctx *ctx, struct rte_mbuf *m)
{
	for (uint16_t w = 0; w < ctx->n_workers; w++) {
		if (w == ctx->worker_index)
			continue;
		struct rte_mbuf *c = rte_pktmbuf_copy(m, ctx->pool, 0, UINT32_MAX);
		if (c)
			hand_off(ctx, w, c);
	}
}

uint16_t worker_process_handoff(struct worker_ctx *ctx, struct rte_mbuf **pkts, uint16_t n,
				uint64_t now)
{
	struct net_pkt info[WORKER_BURST];
	enum net_class cls[WORKER_BURST];
	enum net_drop_reason why[WORKER_BURST];
	struct rte_mbuf *tcp_pkts[WORKER_BURST];
	struct net_pkt tcp_info[WORKER_BURST];
	uint16_t n_tcp = 0, queued = 0;
	if (n > WORKER_BURST)
		n = WORKER_BURST;
	stats_add(ctx->stats, STATS_handoff_in, n);
	net_parse_burst(pkts, n, info, cls, why);
	for (uint16_t i = 0; i < n; i++) {
		if (cls[i] == NET_CLASS_ARP) {
			/* Learn the sender if it is already known or talks to us; never reply. */
			const struct net_local *l = ctx->ports[ctx->pod_pi].local;
			const uint8_t *d = rte_pktmbuf_mtod(pkts[i], const uint8_t *);
			const struct rte_arp_hdr *a = (const void *)(d + info[i].l2_len);
			bool for_us = net_local_is_vip(l, info[i].dst_ip) ||
				      net_local_is_snat(l, info[i].dst_ip);
			if (info[i].src_ip && rte_is_unicast_ether_addr(&a->arp_data.arp_sha))
				net_neigh_learn(ctx->neigh, info[i].src_ip, &a->arp_data.arp_sha,
						now, for_us);
			rte_pktmbuf_free(pkts[i]);
		} else if (cls[i] == NET_CLASS_TCP && ctx->tcp) {
			tcp_pkts[n_tcp] = pkts[i];
			tcp_info[n_tcp++] = info[i];
		} else {
			rte_pktmbuf_free(pkts[i]);
		}
	}
	if (n_tcp) {
		struct tcpl_out out[4 * WORKER_BURST];
		uint16_t no = tcpl_input_burst(ctx->tcp, ctx->pod_pi, tcp_pkts, tcp_info, n_tcp,
					       now, out, 4 * WORKER_BURST);
		for (uint16_t o = 0; o < no; o++)
			queued += worker_tx_enqueue(ctx, out[o].port, out[o].m);
	}
	return queued;
}

uint16_t worker_process_burst(struct worker_ctx *ctx, uint16_t pi, struct rte_mbuf **pkts,
			      uint16_t n, uint64_t now)
{
	struct worker_port *port = &ctx->ports[pi];
	const struct net_local *local = port->local;
	struct stats_lcore *st = ctx->stats;
	struct net_pkt info[WORKER_BURST];
	enum net_class cls[WORKER_BURST];
	enum net_drop_reason why[WORKER_BURST];
	struct rte_mbuf *tcp_pkts[WORKER_BURST];
	struct net_pkt tcp_info[WORKER_BURST];
	uint16_t queued = 0;

	while (n > 0) {
		uint16_t k = n > WORKER_BURST ? WORKER_BURST : n;
		uint64_t bytes = 0;
		for (uint16_t i = 0; i < k; i++)
			bytes += rte_pktmbuf_pkt_len(pkts[i]);
		stats_add(st, STATS_rx_packets, k);
		stats_add(st, STATS_rx_bytes, bytes);

		net_parse_burst(pkts, k, info, cls, why);
		uint16_t n_tcp = 0;

		for (uint16_t i = 0; i < k; i++) {
			struct rte_mbuf *m = pkts[i];
			const struct net_pkt *p = &info[i];
			switch (cls[i]) {
			case NET_CLASS_DROP:
				stats_drop(st, why[i]);
				rte_pktmbuf_free(m);
				break;
			case NET_CLASS_ARP: {
				stats_add(st, STATS_arp_in, 1);
				if (ctx->n_workers > 1)
					share_arp(ctx, m);
				enum net_drop_reason arp_why = NET_DROP__COUNT;
				enum net_arp_result r =
					net_arp_input(m, p, local, ctx->neigh, now, &arp_why);
				if (r == NET_ARP_REPLY) {
					stats_add(st, STATS_arp_replies, 1);
					queued += worker_tx_enqueue(ctx, pi, m);
				} else {
					if (r == NET_ARP_LEARNED)
						stats_add(st, STATS_arp_learned, 1);
					else if (r == NET_ARP_DROP)
						stats_drop(st, arp_why);
					rte_pktmbuf_free(m);
				}
				break;
			}
			case NET_CLASS_ICMP:
				if (!is_local(local, p->dst_ip)) {
					stats_add(st, STATS_not_local, 1);
					rte_pktmbuf_free(m);
				} else if (net_local_is_vip(local, p->dst_ip) &&
					   net_icmp_echo_reply(m, p, local)) {
					stats_add(st, STATS_icmp_echo_in, 1);
					stats_add(st, STATS_icmp_echo_replies, 1);
					queued += worker_tx_enqueue(ctx, pi, m);
				} else {
					/* Other ICMP to us (errors, echo to SNAT): the TCP-lite
					 * engine will read errors for its flows; counted for now.
					 */
					stats_add(st, STATS_unhandled, 1);
					rte_pktmbuf_free(m);
				}
				break;
			case NET_CLASS_TCP:
				if (ctx->tcp && tcpl_wants(ctx->tcp, pi, p)) {
					if (ctx->n_workers > 1 &&
					    net_local_is_snat(local, p->dst_ip)) {
						uint16_t w = owner_of(ctx, p->dst_port);
						if (w != ctx->worker_index) {
							hand_off(ctx, w, m);
							break;
						}
					}
					tcp_pkts[n_tcp] = m;
					tcp_info[n_tcp++] = *p;
					break;
				}
				/* fall through */
			case NET_CLASS_UDP:
			case NET_CLASS_IPV6:
			case NET_CLASS_OTHER:
			default:
				if (cls[i] != NET_CLASS_IPV6 && !is_local(local, p->dst_ip))
					stats_add(st, STATS_not_local, 1);
				else
					stats_add(st, STATS_unhandled, 1);
				rte_pktmbuf_free(m);
				break;
			}
		}
		if (n_tcp) {
			/* The TCP-lite engine takes the burst's TCP at once (cookies and flow
			 * lookups are done per burst) and says what to send where. */
			struct tcpl_out out[4 * WORKER_BURST];
			uint16_t no = tcpl_input_burst(ctx->tcp, pi, tcp_pkts, tcp_info, n_tcp, now,
						       out, 4 * WORKER_BURST);
			for (uint16_t o = 0; o < no; o++)
				queued += worker_tx_enqueue(ctx, out[o].port, out[o].m);
		}
		pkts += k;
		n -= k;
	}
	return queued;
}

static void send_arp_request(struct worker_ctx *ctx, uint16_t pi, uint32_t target)
{
	const struct net_local *l = ctx->ports[pi].local;
	/* Ask from an address of ours on that port: SNAT first (the pod side), else a VIP. */
	uint32_t src = l->n_snat ? l->snat[0] : (l->n_vips ? l->vips[0] : 0);
	if (src == 0)
		return;
	struct rte_mbuf *m = rte_pktmbuf_alloc(ctx->pool);
	if (m == NULL)
		return;
	if (net_arp_request_build(m, l, src, target) != 0) {
		rte_pktmbuf_free(m);
		return;
	}
	stats_add(ctx->stats, STATS_arp_requests, 1);
	worker_tx_enqueue(ctx, pi, m);
}

void worker_housekeeping(struct worker_ctx *ctx, uint64_t now)
{
	if (ctx->tcp) {
		struct tcpl_out out[4 * WORKER_BURST];
		tcpl_set_seconds(ctx->tcp, now / ctx->tsc_hz);
		uint16_t no = tcpl_tick(ctx->tcp, now, out, 4 * WORKER_BURST);
		for (uint16_t o = 0; o < no; o++)
			worker_tx_enqueue(ctx, out[o].port, out[o].m);
	}
	if (now < ctx->next_housekeeping)
		return;
	/* Ten rounds a second: fine-grained enough for ARP retries, cheap enough to ignore. */
	ctx->next_housekeeping = now + ctx->tsc_hz / 10;
	net_neigh_age(ctx->neigh, now, 64);
	for (uint16_t i = 0; i < ctx->n_resolve; i++) {
		struct rte_ether_addr mac;
		bool ask = false;
		int rc = net_neigh_lookup(ctx->neigh, ctx->resolve_ip[i], now, &mac, &ask);
		if (rc != 0 && ask)
			send_arp_request(ctx, ctx->resolve_port[i], ctx->resolve_ip[i]);
	}
}

uint64_t worker_flush(struct worker_ctx *ctx)
{
	uint64_t cycles = 0;
	for (uint16_t pi = 0; pi < ctx->n_ports; pi++) {
		struct worker_port *p = &ctx->ports[pi];
		if (p->tx_n == 0)
			continue;
		uint64_t bytes = 0;
		for (uint16_t i = 0; i < p->tx_n; i++)
			bytes += rte_pktmbuf_pkt_len(p->tx[i]);
		uint64_t t = rte_rdtsc();
		uint16_t sent = rte_eth_tx_burst(p->port_id, p->queue_id, p->tx, p->tx_n);
		cycles += rte_rdtsc() - t;
		for (uint16_t i = sent; i < p->tx_n; i++) {
			bytes -= rte_pktmbuf_pkt_len(p->tx[i]);
			rte_pktmbuf_free(p->tx[i]);
		}
		stats_add(ctx->stats, STATS_tx_packets, sent);
		stats_add(ctx->stats, STATS_tx_bytes, bytes);
		stats_add(ctx->stats, STATS_tx_dropped, (uint64_t)(p->tx_n - sent));
		p->tx_n = 0;
	}
	return cycles;
}

int worker_run(void *arg)
{
	struct worker_ctx *ctx = arg;
	struct rte_mbuf *pkts[WORKER_BURST];
	if (ctx->qsbr)
		rte_rcu_qsbr_thread_online(ctx->qsbr, ctx->worker_index);

	uint64_t last = rte_rdtsc();
	while (!worker_stop_requested()) {
		uint64_t now = rte_rdtsc();
		bool busy = false;
		for (uint16_t pi = 0; pi < ctx->n_ports; pi++) {
			struct worker_port *p = &ctx->ports[pi];
			uint64_t t = rte_rdtsc();
			uint16_t n = rte_eth_rx_burst(p->port_id, p->queue_id, pkts, WORKER_BURST);
			if (n == 0)
				continue;
			stats_add(ctx->stats, STATS_driver_cycles, rte_rdtsc() - t);
			busy = true;
			worker_process_burst(ctx, pi, pkts, n, now);
		}
		if (ctx->inbox) {
			uint16_t n = (uint16_t)rte_ring_dequeue_burst(ctx->inbox, (void **)pkts,
								      WORKER_BURST, NULL);
			if (n) {
				busy = true;
				worker_process_handoff(ctx, pkts, n, now);
			}
		}
		worker_housekeeping(ctx, now);
		uint64_t tx_cycles = worker_flush(ctx);
		/* Driver time belongs to the busy share only: an idle iteration's timer or ARP
		 * sends stay in its idle cycles. */
		if (busy)
			stats_add(ctx->stats, STATS_driver_cycles, tx_cycles);
		/* Nothing from a published snapshot is held across iterations: the management
		 * lcore may free what it retired before this point. */
		if (ctx->qsbr)
			rte_rcu_qsbr_quiescent(ctx->qsbr, ctx->worker_index);
		stats_add(ctx->stats, STATS_polls, 1);
		stats_add(ctx->stats, STATS_busy_polls, busy);
		/* Cycle accounting: what a non-empty iteration cost (RX to TX and housekeeping) is
		 * the gateway's own work, whatever the load generator or the NIC could do. */
		uint64_t end = rte_rdtsc();
		stats_add(ctx->stats, busy ? STATS_busy_cycles : STATS_idle_cycles, end - last);
		last = end;
	}
	worker_flush(ctx);
	if (ctx->qsbr)
		rte_rcu_qsbr_thread_offline(ctx->qsbr, ctx->worker_index);
	return 0;
}
