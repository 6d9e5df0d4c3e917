/*
 * worker: the poll loop that ties the data-path modules together.
 *
 * One worker per lcore, run to completion: for every port it receives a burst from its own RX
 * queue, parses it (lib/net), answers what the gateway answers itself (ARP for its addresses,
 * ICMP echo for VIPs), hands TCP to the TCP-lite engine, drops and counts the rest, and sends
 * what it produced in bursts.
 *
 * The packet logic (worker_process_burst) never touches a NIC: it reads mbufs and writes the
 * packets to send into per-port TX arrays in the worker context. Only worker_run() calls
 * rte_eth_rx_burst/rte_eth_tx_burst. Packet tests drive the same function with crafted mbufs,
 * the way l3fwd's lookup files and the GLB director's core stay free of I/O.
 *
 * State a worker reads but does not own (the port's addresses) is immutable after start; state
 * it owns (neighbour table, counters, TX arrays) is touched by it alone.
 */
#ifndef SLUICE_WORKER_H
#define SLUICE_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "conf/conf.h"
#include "net/net.h"
#include "stats/stats.h"
#include "tcp/tcp.h"

#define WORKER_BURST	   32
#define WORKER_TX_CAP	   (4 * WORKER_BURST)
#define WORKER_MAX_PORTS   CONF_MAX_PORTS
#define WORKER_MAX_RESOLVE 64 /* next hops kept resolved proactively */

/* What a worker knows of one port. */
struct worker_port {
	uint16_t port_id;  /* DPDK port */
	uint16_t queue_id; /* this worker's RX and TX queue on it */
	unsigned offloads; /* NET_OFFLOAD_* the port does for us on TX */
	const struct net_local
		*local; /* the gateway's addresses on this port (shared, immutable) */
	uint16_t tx_n;
	struct rte_mbuf *tx[WORKER_TX_CAP];
};

struct worker_ctx {
	unsigned lcore_id;
	uint16_t n_ports;
	struct rte_mempool *pool;  /* this worker's mbufs (RX queues and generated packets) */
	struct net_neigh *neigh;   /* this worker's neighbour table */
	struct stats_lcore *stats; /* this worker's counters */
	struct tcpl_ctx *tcp;	   /* TCP-lite engine; NULL: TCP to our addresses is refused */
	uint64_t tsc_hz;
	uint64_t next_housekeeping; /* tsc of the next neighbour aging / resolve round */
	uint32_t resolve_ip[WORKER_MAX_RESOLVE]; /* next hops to keep resolved, with their port */
	uint8_t resolve_port[WORKER_MAX_RESOLVE];
	uint16_t n_resolve;
	/* Hand-off between workers (docs/tcp.md, return steering): a pod's reply names its owner by
	 * the SNAT port partition; a worker that receives another's packet passes it through the
	 * owner's ring. ARP is copied to every peer so each neighbour table learns what any queue
	 * saw. */
	uint16_t worker_index, n_workers;
	uint16_t snat_first, snat_span; /* partition of worker i: first + i·span ... */
	uint16_t pod_pi;		/* port index holding the SNAT addresses */
	struct rte_ring *inbox;		/* this worker's ring (many producers, one consumer) */
	struct rte_ring *const *peers;	/* every worker's inbox, by worker index */
	struct rte_rcu_qsbr *qsbr;	/* published state: quiescent once per loop */
	struct worker_port ports[WORKER_MAX_PORTS];
};

/*
 * Process n received packets from port index `pi` (index into ctx->ports). Every packet is
 * consumed: queued for TX in ctx->ports[].tx, or freed and counted. Never blocks, never
 * allocates except reply mbufs from ctx->pool. If a TX array is full the packet is dropped and
 * counted as tx_dropped. Returns the number of packets queued for TX.
 */
uint16_t worker_process_burst(struct worker_ctx *ctx, uint16_t pi, struct rte_mbuf **pkts,
			      uint16_t n, uint64_t now);

/*
 * Periodic work, bounded per call: age the neighbour table a slice at a time and send ARP
 * requests for next hops that need resolving. Cheap to call every loop: does nothing until
 * `now` passes ctx->next_housekeeping.
 */
void worker_housekeeping(struct worker_ctx *ctx, uint64_t now);

/*
 * Process packets other workers handed over (from this worker's inbox): TCP for flows this
 * worker owns, and copies of ARP to learn from (never answered here: the receiving worker did).
 */
uint16_t worker_process_handoff(struct worker_ctx *ctx, struct rte_mbuf **pkts, uint16_t n,
				uint64_t now);

/* Send what is queued on every port; what the NIC refuses is freed and counted. Returns the
 * TSC cycles spent inside the transmit bursts. */
uint64_t worker_flush(struct worker_ctx *ctx);

/* Queue one packet for TX on port index pi (used by the burst function and by tests). */
static inline bool worker_tx_enqueue(struct worker_ctx *ctx, uint16_t pi, struct rte_mbuf *m)
{
	struct worker_port *p = &ctx->ports[pi];
	if (unlikely(p->tx_n >= WORKER_TX_CAP)) {
		rte_pktmbuf_free(m);
		stats_add(ctx->stats, STATS_tx_dropped, 1);
		return false;
	}
	p->tx[p->tx_n++] = m;
	return true;
}

/* Set by the management lcore to make every worker leave worker_run(). */
void worker_request_stop(void);
bool worker_stop_requested(void);

/* The lcore entry point (rte_eal_remote_launch); arg is a struct worker_ctx *. Polls until
 * worker_request_stop(), then flushes and returns 0. */
int worker_run(void *arg);

#endif
