/*
 * connect.c: reaching a pod (steps 5 and 6).
 *
 * lb picks the pod; this file picks the SNAT address and a port from the worker's own
 * partition (on `thash` profiles one whose reply the NIC hashes to this worker's queue),
 * resolves the pod's MAC (or its next hop's), and sends a SYN carrying the client's ISN and
 * options, so client→pod sequence numbers need no translation. SYNs are retransmitted with
 * back-off within the connect budget; a RST or the budget running out ejects the pod (lb) and
 * the request moves to another (bounded tries), then 502 or 504. The pod's SYN-ACK starts the
 * splice: the buffered request goes to the pod and stays buffered until acknowledged.
 */
#include "tcp/tcp-int.h"

#include <rte_thash.h>

void load_release(struct tcpl_ctx *c, struct conn *f)
{
	if (!(f->opts & CONN_OPT_COUNTED))
		return;
	f->opts &= (uint8_t)~CONN_OPT_COUNTED;
	lb_load_add(&c->lb->loads, f->pod_ip, rte_be_to_cpu_16(f->pod_port), -1);
}

uint32_t next_hop(const struct tcpl_ctx *c, uint32_t pod_ip)
{
	const struct conf_port *cp = c->ports[c->pod_pi].conf;
	if (cp == NULL)
		return pod_ip;
	for (unsigned i = 0; i < cp->n_subnets; i++)
		if (conf_prefix_contains(&cp->subnets[i], pod_ip))
			return pod_ip;
	const struct conf_route *best = NULL;
	for (unsigned i = 0; i < cp->n_routes; i++)
		if (conf_prefix_contains(&cp->routes[i].dst, pod_ip) &&
		    (best == NULL || cp->routes[i].dst.len > best->dst.len))
			best = &cp->routes[i];
	return best ? best->via : pod_ip;
}

/* SYN retransmission intervals: rto, 2·rto, 4·rto... (RFC 6298 §5.5 back-off) within the
 * connect budget; the budget used after k retransmissions is rto·(2^k − 1). */
static inline uint64_t syn_interval(const struct tcpl_ctx *c, unsigned k)
{
	return c->cfg.rto_tsc << k;
}

/* The SYN to the pod: the client's ISN and the client's own options, so that everything the
 * client sends later means the same to the pod — except its timestamp clock: the pod sees the
 * gateway's clock for the SNAT address (snat_clock), which only moves forward across
 * connections. A client's own TSvals are random per client; a pod still holding a 4-tuple of an
 * earlier connection in TIME-WAIT would refuse a SYN whose TSval went backwards (RFC 7323
 * PAWS) and answer with a bare ACK. */
static struct rte_mbuf *syn_to_pod(struct tcpl_ctx *c, const struct conn *f)
{
	uint16_t mss = f->mss < c->ports[c->pod_pi].mss ? f->mss : c->ports[c->pod_pi].mss;
	struct seg_opts o = {
		.mss = mss,
		.ws = (f->opts & CONN_OPT_WS) ? (int8_t)f->c2p_in : -1,
		.sack_ok = (f->opts & CONN_OPT_SACK) != 0,
		.ts = (f->opts & CONN_OPT_TS) != 0,
		.tsval = f->ts_client + f->ts_pod,
		.tsecr = 0,
	};
	return segment(c, c->pod_pi, &f->pod_mac, f->snat_ip, f->pod_ip, f->snat_port, f->pod_port,
		       f->client_isn, 0, RTE_TCP_SYN_FLAG, 65535, &o, NULL, 0);
}

/* The gateway's timestamp clock towards pods from one SNAT address: milliseconds, offset per
 * address so the clock says nothing about the machine's uptime. */
static inline uint32_t snat_clock(const struct tcpl_ctx *c, uint32_t snat_ip, uint64_t now)
{
	return ms_of(c, now) + (uint32_t)lb_hash32(snat_ip);
}

static enum conn_state send_syn(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
				struct tcpl_tx *tx)
{
	f->ts_pod = snat_clock(c, f->snat_ip, now) - f->ts_client;
	emit(tx, syn_to_pod(c, f), c->pod_pi, c->st);
	stats_add(c->st, STATS_pod_connects, 1);
	f->syn_tx = 0;
	timer_arm(c, idx, f, now + syn_interval(c, 0));
	return CONN_CONNECT;
}

enum conn_state connect_try(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			    struct tcpl_tx *tx)
{
	bool ask = false;
	uint32_t hop = next_hop(c, f->pod_ip);
	int rc = net_neigh_lookup(c->neigh, hop, now, &f->pod_mac, &ask);
	if (ask) {
		const struct net_local *l = c->ports[c->pod_pi].local;
		struct rte_mbuf *m = rte_pktmbuf_alloc(c->pool);
		if (m && net_arp_request_build(m, l, f->snat_ip, hop) == 0) {
			stats_add(c->st, STATS_arp_requests, 1);
			emit(tx, m, c->pod_pi, c->st);
		} else if (m) {
			rte_pktmbuf_free(m);
		}
	}
	if (rc == 0)
		return send_syn(c, idx, f, now, tx);
	if (f->state != CONN_NEIGH)
		f->syn_tx = 0; /* counts neighbour polls here; tries counts pods */
	/* Poll again soon; give up after the connect timeout. */
	timer_arm(c, idx, f, now + c->cfg.rto_tsc / 20 + 1);
	return CONN_NEIGH;
}

/* The RX queue the NIC will pick for the pod's reply (pod → SNAT), by Toeplitz hash and the
 * redirection table, as the port computes it (rte_softrss). */
static inline uint16_t reply_queue(const struct tcpl_port *tp, uint32_t pod_ip, uint32_t snat_ip,
				   uint16_t pod_port_be, uint16_t snat_port)
{
	struct rte_ipv4_tuple t = {.src_addr = rte_be_to_cpu_32(pod_ip),
				   .dst_addr = rte_be_to_cpu_32(snat_ip)};
	t.sport = rte_be_to_cpu_16(pod_port_be);
	t.dport = snat_port;
	uint32_t h = rte_softrss((uint32_t *)&t, RTE_THASH_V4_L4_LEN, tp->rss_key);
	return tp->reta[h % tp->reta_size];
}

/* SNAT addresses a new pod connection may try, its own first. */
#define SNAT_ADDRESSES_TRIED 4u

bool snat_bind(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint32_t addr, uint16_t port_be)
{
	const struct net_local *l = c->ports[c->pod_pi].local;
	const struct tcpl_port *tp = &c->ports[c->pod_pi];
	bool thash = tp->rss_key != NULL && tp->reta != NULL && tp->reta_size > 0;
	/* The client's port picks the SNAT address; when its ports towards this pod are taken
	 * (lingering closes at a high connection rate), up to three more addresses are tried
	 * before giving up. With Toeplitz steering, a port in our partition whose reply hashes to
	 * our queue: one in (queues) candidates matches, so a bounded scan finds one; without it,
	 * any port. */
	unsigned n_addr = RTE_MIN(l->n_snat, SNAT_ADDRESSES_TRIED);
	for (unsigned a = 0; a < n_addr; a++) {
		uint32_t snat = l->snat[(f->client_port + a) % l->n_snat];
		/* Without steering, the fallback addresses get a quarter of the tries: bounded
		 * work when an attacker keeps every port lingering. With it, most candidates
		 * are skipped before any table work (their reply would reach another queue),
		 * and fewer would often miss a free address altogether. */
		unsigned max_tries = thash ? 256u : (a ? 4u : 16u);
		for (unsigned tries = 0; tries < max_tries; tries++) {
			/* Random within the partition: a port chosen in sequence would come back
			 * with the same pod in step with round robin, into the pod's TIME-WAIT. */
			uint16_t port = (uint16_t)(c->cfg.snat_port_first +
						   lb_rand(&c->rng) % c->cfg.snat_port_count);
			if (thash && reply_queue(tp, addr, snat, port_be, port) != tp->queue)
				continue;
			struct flow_key k = {addr, snat, port_be, rte_cpu_to_be_16(port)};
			if (flow_bind_pod(c->ft, idx, &k) == 0) {
				f->pod_ip = k.remote_ip;
				f->snat_ip = k.local_ip;
				f->pod_port = k.remote_port;
				f->snat_port = k.local_port;
				return true;
			}
		}
	}
	stats_add(c->st, STATS_pod_snat_busy, 1);
	return false;
}

enum conn_state connect_bind(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			     uint32_t avoid, struct tcpl_tx *tx)
{
	const struct route_pool *p = f->routes ? route_pool(f->routes, f->pool) : NULL;
	int e = p ? lb_pick(&p->lb, c->lb, avoid, f->affinity, now) : -1;
	load_release(c, f);
	if (f->tries == 0) /* the request's first pod: its connect time starts */
		f->t0 = (uint32_t)(now >> CONN_T0_SHIFT);
	if (e < 0)
		return local_response(c, idx, f, RESP_503, now, tx);
	f->endpoint = (uint32_t)e;
	if (p->proxy_v2 && !proxy_v2_insert(c, f))
		return local_response(c, idx, f, RESP_431, now, tx);
	const struct lb_endpoint *ep = &p->lb.endpoints[e];
	if (snat_bind(c, idx, f, ep->addr, rte_cpu_to_be_16(ep->port))) {
		/* Every connection counts (whatever its pool's algorithm), so least-request sees
		 * all of this worker's load on a pod. */
		if (lb_load_add(&c->lb->loads, ep->addr, ep->port, 1))
			f->opts |= CONN_OPT_COUNTED;
		return connect_try(c, idx, f, now, tx);
	}
	return local_response(c, idx, f, RESP_503, now, tx);
}

enum conn_state connect_failed(struct tcpl_ctx *c, uint32_t idx, struct conn *f, bool refused,
			       uint64_t now, struct tcpl_tx *tx)
{
	const struct route_pool *p = f->routes ? route_pool(f->routes, f->pool) : NULL;
	if (p && f->endpoint < p->lb.n_endpoints)
		lb_eject(c->lb, p->lb.endpoints[f->endpoint].addr,
			 p->lb.endpoints[f->endpoint].port, now);
	stats_add(c->st, refused ? STATS_pod_refused : STATS_pod_timeouts, 1);
	if (++f->tries >= c->cfg.connect_tries || p == NULL)
		return local_response(c, idx, f, refused ? RESP_502 : RESP_504, now, tx);
	uint8_t tries = f->tries;
	enum conn_state next = connect_bind(c, idx, f, now, f->endpoint, tx);
	f->tries = tries;
	return next;
}

enum conn_state connect_timer(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			      struct tcpl_tx *tx)
{
	if (f->state == CONN_NEIGH) {
		if (++f->syn_tx > 40) /* 40 polls at rto/20: the neighbour never answered */
			return connect_failed(c, idx, f, false, now, tx);
		return connect_try(c, idx, f, now, tx);
	}
	/* A pod whose accept queue overflowed drops SYNs: retransmit before moving on. */
	unsigned k = f->syn_tx + 1u;
	uint64_t used = c->cfg.rto_tsc * ((1ull << k) - 1);
	if (k > 6 || used + syn_interval(c, k) > c->cfg.connect_tsc)
		return connect_failed(c, idx, f, false, now, tx);
	emit(tx, syn_to_pod(c, f), c->pod_pi, c->st);
	stats_add(c->st, STATS_tcp_retransmits, 1);
	f->syn_tx = (uint8_t)k;
	timer_arm(c, idx, f, now + syn_interval(c, k));
	return CONN_CONNECT;
}

enum conn_state connect_from_pod(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				 struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				 struct tcpl_tx *tx)
{
	const struct rte_tcp_hdr *th = tcp_hdr_of(m, p);
	uint8_t flags = p->tcp_flags;
	uint32_t ack = rte_be_to_cpu_32(th->recv_ack);
	enum conn_state next = CONN_CONNECT;
	if ((flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG | RTE_TCP_RST_FLAG)) ==
		    (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG) &&
	    ack == seq_add(f->client_isn, 1)) {
		/* Step 6: the pod accepted. The splice starts now. */
		lb_success(c->lb, f->pod_ip, rte_be_to_cpu_16(f->pod_port));
		stats_observe(&c->st->connect, conn_elapsed(f, now));
		if (unlikely(c->alog != NULL))
			access_forwarded(c, f, now);
		f->pod_isn = rte_be_to_cpu_32(th->sent_seq);
		f->delta = f->cookie_isn - f->pod_isn;
		f->pod_ack = ack;
		f->peer_ack = seq_add(f->pod_isn, 1);
		f->up_match = 0;
		f->up_status = 0;
		/* Window scaling holds on the pod side only if the pod answered our offer (the
		 * client's own shift); otherwise both directions rescale. */
		if ((f->opts & CONN_OPT_WS) && p->tcp_wscale != NET_WSCALE_NONE) {
			f->c2p_out = f->c2p_in;
			f->p2c_in = p->tcp_wscale;
		} else {
			f->c2p_out = 0;
			f->p2c_in = 0;
		}
		if ((f->opts & CONN_OPT_TS) && p->tcp_has_ts)
			f->ts_delta = our_tsval(c, f, now) - p->tcp_tsval;
		f->tries = 0;
		emit(tx, pod_segment(c, f, buf_start(f), RTE_TCP_ACK_FLAG, NULL, 0), c->pod_pi,
		     c->st);
		/* The buffer: the routed request (and a PROXY header) up to the frame point, then
		 * whatever the client sent while we connected, framed like any later bytes. */
		f->fr |= CONN_FR_ACKED;
		deliver(c, f, buf_start(f), seq_min(f->frame, client_next(f)), tx);
		next = hold_decide(c, idx, f, now, tx);
	} else if (flags & RTE_TCP_RST_FLAG) {
		next = connect_failed(c, idx, f, true, now, tx);
	} else if ((flags & RTE_TCP_ACK_FLAG) && !(flags & RTE_TCP_SYN_FLAG)) {
		/* A bare ACK to our SYN: the pod holds an old connection on this 4-tuple (TIME-WAIT
		 * that refused the SYN). RFC 9293 §3.10.7.3: reset it with the ACK's number, then
		 * send the SYN again at once. */
		emit(tx,
		     segment(c, c->pod_pi, &f->pod_mac, f->snat_ip, f->pod_ip, f->snat_port,
			     f->pod_port, ack, 0, RTE_TCP_RST_FLAG, 0, NULL, NULL, 0),
		     c->pod_pi, c->st);
		stats_add(c->st, STATS_tcp_rst_sent, 1);
		stats_add(c->st, STATS_pod_time_wait, 1);
		emit(tx, syn_to_pod(c, f), c->pod_pi, c->st);
	}
	rte_pktmbuf_free(m);
	return next;
}
