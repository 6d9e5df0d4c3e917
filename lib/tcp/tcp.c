/*
 * tcp.c: the burst entry and the dispatcher (the engine is described in tcp.h; types: tcp-t.h).
 *
 * A burst goes through three passes:
 *   1. key every packet (client side: client → VIP; pod side: pod → SNAT) and look the keys up
 *      in the flow tables, one bulk call per side;
 *   2. gather the SYNs that need a cookie and the bare ACKs of unknown flows that carry one,
 *      and MAC each group in one call (cookie.c);
 *   3. act on each packet in arrival order: the connection's state picks the handler, and the
 *      handler returns the state the connection moves to, which conn_set() assigns — the only
 *      place a connection's state changes.
 *
 * The files, by concern: cookie.c (handshake without state), head.c (request head: buffer,
 * parse, route), connect.c (pod choice through lib/lb, SNAT port, SYN, retries), splice.c
 * (in-place rewriting), rebind.c (per-request routing on kept-alive connections), proxy_v2.c,
 * segment.c (segments and answers the gateway builds), timer.c (timers and aging).
 *
 * Sequence spaces. The client's ISN is x, our cookie is c, the pod's ISN is y. The SYN to the
 * pod carries seq x, so client→pod sequence numbers pass unchanged; pod→client sequence numbers
 * get + D and client→pod acknowledgements − D, with D = c − y (mod 2^32; unsigned arithmetic
 * wraps exactly as TCP sequence numbers do).
 */
#include "tcp/tcp-int.h"

#include <stdio.h>
#include <string.h>

#include <rte_ip.h>
#include <rte_malloc.h>

/* ---- per-client count of buffers held for heads in progress (slowloris cap) ----------------- */

/* Keyed per engine, so clients cannot choose addresses that crowd another's slots. */
static inline uint32_t held_home(const struct tcpl_ctx *c, uint32_t addr)
{
	return (uint32_t)lb_hash32(addr ^ c->hash_key) & (HELD_SLOTS - 1);
}

bool held_inc_in(struct tcpl_ctx *c, struct held_slot *tab, uint32_t cap, uint32_t addr)
{
	uint32_t h = held_home(c, addr);
	struct held_slot *free_slot = NULL;
	for (uint32_t k = 0; k < HELD_PROBE; k++) {
		struct held_slot *s = &tab[(h + k) & (HELD_SLOTS - 1)];
		if (s->n && s->addr == addr) {
			if (s->n >= cap)
				return false;
			s->n++;
			return true;
		}
		if (s->n == 0 && free_slot == NULL)
			free_slot = s;
	}
	if (free_slot == NULL || cap == 0)
		return false; /* a crowded window counts as over the cap: refuse, never lose count
			       */
	*free_slot = (struct held_slot){addr, 1};
	return true;
}

void held_dec_in(struct tcpl_ctx *c, struct held_slot *tab, uint32_t addr)
{
	uint32_t h = held_home(c, addr);
	for (uint32_t k = 0; k < HELD_PROBE; k++) {
		struct held_slot *s = &tab[(h + k) & (HELD_SLOTS - 1)];
		if (s->n && s->addr == addr) {
			s->n--;
			return;
		}
	}
}

bool held_inc(struct tcpl_ctx *c, uint32_t addr)
{
	return held_inc_in(c, c->held, c->cfg.heads_per_client, addr);
}

void held_dec(struct tcpl_ctx *c, uint32_t addr)
{
	held_dec_in(c, c->held, addr);
}

bool buf_take(struct tcpl_ctx *c, struct conn *f)
{
	if (c->n_buf_free == 0) {
		stats_add(c->st, STATS_tcp_buffers_full, 1);
		return false;
	}
	if (!held_inc(c, f->client_ip)) {
		stats_add(c->st, STATS_tcp_heads_over_cap, 1);
		return false;
	}
	f->fr |= CONN_FR_HELD;
	f->buf = c->buf_free[--c->n_buf_free];
	stats_add(c->st, STATS_tcp_buffers_taken, 1);
	f->opts |= CONN_OPT_BUFFERED;
	f->req_len = 0;
	return true;
}

void buf_release(struct tcpl_ctx *c, struct conn *f)
{
	if (f->buf != CONN_NONE) {
		if (unlikely(c->alog != NULL))
			access_release(c, f);
		c->buf_free[c->n_buf_free++] = f->buf;
		f->buf = CONN_NONE;
		stats_add(c->st, STATS_tcp_buffers_released, 1);
	}
	if (f->fr & CONN_FR_HELD) {
		held_dec(c, f->client_ip);
		f->fr &= (uint8_t)~CONN_FR_HELD;
	}
	f->opts &= (uint8_t)~CONN_OPT_BUFFERED;
}

/* ---- the dispatcher ------------------------------------------------------------------------- */

void conn_release(struct tcpl_ctx *c, uint32_t idx, struct conn *f)
{
	if (f->state == CONN_TERM)
		terminate_release(c, f);
	load_release(c, f);
	buf_release(c, f);
	timer_cancel(c, idx, f);
	f->state = CONN_FREE;
	c->dropped = true;
	stats_add(c->st, STATS_tcp_flows_closed, 1);
}

void conn_set(struct tcpl_ctx *c, uint32_t idx, struct conn *f, enum conn_state next)
{
	if (next == CONN_FREE) {
		if (f->state != CONN_FREE) {
			conn_release(c, idx, f);
			flow_remove(c->ft, idx);
		}
		return;
	}
	if (next == CONN_CLOSED && f->state != CONN_CLOSED) {
		/* Lingering: nothing left to deliver or time. */
		buf_release(c, f);
		timer_cancel(c, idx, f);
		load_release(c, f);
	}
	f->state = (uint8_t)next;
}

void challenge_ack(struct tcpl_ctx *c, struct conn *f, uint32_t ack, struct tcpl_tx *tx)
{
	if (c->seconds != c->challenge_sec) {
		/* A limit that varies each second (half to one and a half times the setting):
		 * a fixed one lets an off-path attacker count its own challenge ACKs to learn
		 * whether another connection exists (CVE-2016-5696). */
		uint32_t lim = c->cfg.challenge_acks_per_sec;
		c->challenge_sec = c->seconds;
		c->challenges = 0;
		c->challenge_limit = lim / 2 + (lim ? lb_rand(&c->rng) % (lim + 1) : 0);
	}
	if (c->challenges >= c->challenge_limit) {
		stats_add(c->st, STATS_tcp_challenge_limited, 1);
		return;
	}
	c->challenges++;
	stats_add(c->st, STATS_tcp_challenge_acks, 1);
	emit(tx, to_client(c, f, seq_add(f->cookie_isn, 1), ack, RTE_TCP_ACK_FLAG, 0, NULL, 0),
	     f->client_pi, c->st);
}

/*
 * RFC 5961 §3: a RST from the client resets the connection only at exactly the next sequence
 * number the receiver expects; inside the window it gets a challenge ACK (a client that really
 * reset answers it with an exact RST); elsewhere it is dropped. So an off-path attacker who
 * guesses the 4-tuple cannot tear a connection down. Returns true to act on it.
 */
static bool rst_acceptable(struct tcpl_ctx *c, struct conn *f, uint32_t seq, struct tcpl_tx *tx)
{
	uint32_t expect, wnd;
	switch (f->state) {
	case CONN_CLOSED:
		return true; /* closing anyway */
	case CONN_SPLICED:
	case CONN_HOLD:
		/* The pod is the receiver: what it has acknowledged is its next expected byte. A
		 * RST after buffered bytes the gateway acknowledged itself matches too. */
		if ((f->opts & CONN_OPT_BUFFERED) && (f->fr & CONN_FR_ACKED) &&
		    seq == client_next(f))
			return true;
		expect = f->pod_ack;
		wnd = 65535u << f->p2c_in;
		break;
	default:
		/* The gateway is the receiver. */
		expect = client_next(f);
		wnd = c->cfg.request_buffer;
		break;
	}
	if (seq == expect)
		return true;
	if (!seq_lt(seq, expect) && seq_lt(seq, seq_add(expect, wnd)))
		challenge_ack(c, f, expect, tx);
	else
		stats_add(c->st, STATS_tcp_rst_ignored, 1);
	return false;
}

static enum conn_state client_packet(struct tcpl_ctx *c, uint16_t pi, uint32_t idx, struct conn *f,
				     struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				     struct tcpl_tx *tx)
{
	f->last_seen = (uint32_t)(now >> CONN_SEEN_SHIFT);
	struct net_pkt bare;
	if (f->state == CONN_TERM) /* its legs check everything themselves (RFC 5961 too) */
		return terminate_from_client(c, idx, f, m, p, now, tx);
	if (unlikely(p->tcp_flags & RTE_TCP_RST_FLAG)) {
		if (!rst_acceptable(c, f, rte_be_to_cpu_32(tcp_hdr_of(m, p)->sent_seq), tx)) {
			rte_pktmbuf_free(m);
			return (enum conn_state)f->state;
		}
		if (p->payload_len) {
			/* A reset's data (RFC 9293 allows it, for diagnostics) is never framed:
			 * it goes on without it. */
			bare = *p;
			bare.payload_len = 0;
			uint32_t keep = (uint32_t)p->l2_len + p->l3_len + p->l4_len;
			rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_pkt_len(m) - keep));
			struct rte_ipv4_hdr *ip =
				rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, p->l2_len);
			ip->total_length = rte_cpu_to_be_16((uint16_t)(p->l3_len + p->l4_len));
			net_ipv4_tcp_cksum_finish(m, &bare, 0);
			p = &bare;
		}
	}
	switch (f->state) {
	case CONN_CLOSED:
		if (f->fins & CONN_FIN_DEAD) {
			rte_pktmbuf_free(m); /* a stray of a connection that has ended */
			return CONN_CLOSED;
		}
		return splice_from_client(c, idx, f, m, p, now, tx);
	case CONN_SPLICED:
		return splice_from_client(c, idx, f, m, p, now, tx);
	case CONN_HOLD:
		if (p->tcp_flags & RTE_TCP_RST_FLAG)
			return splice_from_client(c, idx, f, m, p, now, tx);
		return hold_from_client(c, idx, f, m, p, now, tx);
	case CONN_LOCAL_RESP:
		return local_resp_from_client(c, idx, f, m, p, tx);
	case CONN_HEAD:
	case CONN_NEIGH:
	case CONN_CONNECT:
	case CONN_DRAIN:
	default:
		/* Before the splice (or between two pods): the gateway is the client's peer. */
		return head_from_client(c, pi, idx, f, m, p, now, tx);
	}
}

static enum conn_state pod_packet(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				  struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				  struct tcpl_tx *tx)
{
	f->last_seen = (uint32_t)(now >> CONN_SEEN_SHIFT);
	switch (f->state) {
	case CONN_CONNECT:
		return connect_from_pod(c, idx, f, m, p, now, tx);
	case CONN_TERM:
		return terminate_from_pod(c, idx, f, m, p, now, tx);
	case CONN_DRAIN:
		return rebind_from_pod(c, idx, f, m, p, now, tx);
	case CONN_HOLD:
		return hold_from_pod(c, idx, f, m, p, now, tx);
	case CONN_CLOSED:
		if (f->fins & CONN_FIN_DEAD) {
			rte_pktmbuf_free(m);
			return CONN_CLOSED;
		}
		return splice_from_pod(c, idx, f, m, p, now, tx);
	case CONN_SPLICED:
		return splice_from_pod(c, idx, f, m, p, now, tx);
	default:
		rte_pktmbuf_free(m);
		return (enum conn_state)f->state;
	}
}

/*
 * A SYN on the 4-tuple of a connection we hold (RFC 9293 §3.10.7.4 with RFC 5961 §4): a repeat
 * of the SYN that opened it is ignored; on a connection that is closed (lingering), a new ISN
 * starts a new connection (the client reused its port, TIME-WAIT style); on any other, the SYN
 * gets a challenge ACK — a client that really lost the connection answers it with a RST that
 * closes it, and its next SYN gets through. Returns true when the old connection gave way.
 */
static bool syn_on_existing(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint32_t isn,
			    struct tcpl_tx *tx)
{
	if (isn == f->syn_isn)
		return false;
	bool closing = f->state == CONN_CLOSED ||
		       (f->state == CONN_LOCAL_RESP && (f->fins & CONN_FIN_CLIENT));
	if (closing) {
		conn_set(c, idx, f, CONN_FREE);
		return true;
	}
	uint32_t expect =
		(f->state == CONN_SPLICED || f->state == CONN_HOLD) ? f->pod_ack : client_next(f);
	challenge_ack(c, f, expect, tx);
	return false;
}

bool tcpl_wants(const struct tcpl_ctx *c, uint16_t pi, const struct net_pkt *p)
{
	const struct net_local *l = c->ports[pi].local;
	return net_local_is_vip(l, p->dst_ip) || net_local_is_snat(l, p->dst_ip);
}

static void input_64(struct tcpl_ctx *c, uint16_t pi, struct rte_mbuf **pkts,
		     const struct net_pkt *info, uint16_t n, uint64_t now, struct tcpl_tx *tx)
{
	struct flow_key ck[64], pk[64];
	uint16_t ci[64], pkix[64];
	uint16_t nc = 0, np = 0;
	uint32_t idx[64];
	bool skip[64];
	const struct net_local *l = c->ports[pi].local;

	/* Pass 1: keys and bulk lookups. */
	for (uint16_t i = 0; i < n; i++) {
		const struct net_pkt *p = &info[i];
		struct flow_key k = {p->src_ip, p->dst_ip, p->src_port, p->dst_port};
		skip[i] = false;
		if (net_local_is_vip(l, p->dst_ip)) {
			ck[nc] = k;
			ci[nc++] = i;
		} else {
			pk[np] = k;
			pkix[np++] = i;
		}
	}
	uint32_t cres[64], pres[64];
	if (nc)
		flow_lookup_burst(c->ft, false, ck, nc, cres);
	if (np)
		flow_lookup_burst(c->ft, true, pk, np, pres);
	bool client_side[64];
	for (uint16_t k = 0; k < nc; k++) {
		idx[ci[k]] = cres[k];
		client_side[ci[k]] = true;
	}
	for (uint16_t k = 0; k < np; k++) {
		idx[pkix[k]] = pres[k];
		client_side[pkix[k]] = false;
	}

	/* SYNs on the 4-tuple of a connection we hold. */
	c->dropped = false;
	for (uint16_t i = 0; i < n; i++) {
		const struct net_pkt *p = &info[i];
		if (!client_side[i] || idx[i] == CONN_NONE ||
		    (p->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_RST_FLAG)) != RTE_TCP_SYN_FLAG)
			continue;
		if (c->dropped) {
			/* An earlier SYN of this burst may have freed it. */
			struct flow_key k = {p->src_ip, p->dst_ip, p->src_port, p->dst_port};
			flow_lookup_burst(c->ft, false, &k, 1, &idx[i]);
			if (idx[i] == CONN_NONE)
				continue;
		}
		if (conn_of(c, idx[i])->state == CONN_TERM)
			continue; /* the client leg answers it (RFC 5961 §4) */
		uint32_t isn = rte_be_to_cpu_32(tcp_hdr_of(pkts[i], p)->sent_seq);
		if (syn_on_existing(c, idx[i], conn_of(c, idx[i]), isn, tx)) {
			idx[i] = CONN_NONE;
		} else {
			rte_pktmbuf_free(pkts[i]);
			skip[i] = true;
		}
	}

	/* Pass 2: cookies for SYNs and for ACKs of unknown flows, one burst each. */
	struct cookie_burst cb;
	/* idx and client_side are set for every packet by pass 1, which GCC cannot see. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
	cookie_prepare(c, pi, pkts, info, n, idx, client_side, &cb);
#pragma GCC diagnostic pop

	/* Pass 3: act, in arrival order. */
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		const struct net_pkt *p = &info[i];
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		if (skip[i])
			continue;
		uint32_t fi = idx[i];
		if (unlikely(c->dropped) && fi != CONN_NONE) {
			/* A connection freed earlier in this burst: its record may be another's
			 * now. Look the key up again. */
			struct flow_key k = {p->src_ip, p->dst_ip, p->src_port, p->dst_port};
			flow_lookup_burst(c->ft, !client_side[i], &k, 1, &fi);
		}
		if (!client_side[i]) {
			if (fi == CONN_NONE) {
				/* A pod packet for no flow (an old connection's stray). */
				if (!(p->tcp_flags & RTE_TCP_RST_FLAG))
					reset_for(c, pi, m, p, tx);
				rte_pktmbuf_free(m);
			} else {
				struct conn *f = conn_of(c, fi);
				conn_set(c, fi, f, pod_packet(c, fi, f, m, p, now, tx));
			}
			continue;
		}
		if (fi == CONN_NONE && tx->n < tx->cap) {
			/* An earlier packet of this burst may have created it. */
			struct flow_key k = {p->src_ip, p->dst_ip, p->src_port, p->dst_port};
			flow_lookup_burst(c->ft, false, &k, 1, &fi);
		}
		if (fi != CONN_NONE) {
			struct conn *f = conn_of(c, fi);
			conn_set(c, fi, f, client_packet(c, pi, fi, f, m, p, now, tx));
			continue;
		}
		if (cb.syn_of[i] >= 0) {
			cookie_answer_syn(c, pi, m, p, &cb, (uint16_t)cb.syn_of[i], now, tx);
			continue;
		}
		if (cb.ack_of[i] >= 0 && cb.ack_ok[cb.ack_of[i]]) {
			uint32_t nf =
				cookie_accept(c, pi, m, p, &cb, (uint16_t)cb.ack_of[i], now, tx);
			if (nf != CONN_NONE) {
				struct conn *f = conn_of(c, nf);
				conn_set(c, nf, f, client_packet(c, pi, nf, f, m, p, now, tx));
			}
			continue;
		}
		if (cb.ack_of[i] >= 0) {
			stats_add(c->st, STATS_tcp_cookie_bad, 1);
			reset_for(c, pi, m, p, tx);
		} else if (!(p->tcp_flags & RTE_TCP_RST_FLAG)) {
			/* Not listening on this port, or a segment for no connection. */
			reset_for(c, pi, m, p, tx);
		}
		rte_pktmbuf_free(m);
	}
}

uint16_t tcpl_input_burst(struct tcpl_ctx *c, uint16_t pi, struct rte_mbuf **pkts,
			  const struct net_pkt *info, uint16_t n, uint64_t now,
			  struct tcpl_out *out, uint16_t out_cap)
{
	struct tcpl_tx tx = {out, 0, out_cap};
	c->now = now;
	c->handshakes_left = c->cfg.term_handshakes ? c->cfg.term_handshakes : 4;
	for (uint16_t done = 0; done < n;) {
		uint16_t k = n - done > 64 ? 64 : (uint16_t)(n - done);
		input_64(c, pi, pkts + done, info + done, k, now, &tx);
		done = (uint16_t)(done + k);
	}
	return tx.n;
}

/* ---- setup ---------------------------------------------------------------------------------- */

/* Published by the management lcore while the worker runs: one atomic pointer store. */
void tcpl_set_routes(struct tcpl_ctx *c, const struct route_table *t)
{
	__atomic_store_n(&c->routes, t, __ATOMIC_RELEASE);
}

void tcpl_set_keys(struct tcpl_ctx *c, const struct crypto_keys *k)
{
	__atomic_store_n(&c->keys, k, __ATOMIC_RELEASE);
}

void tcpl_set_seconds(struct tcpl_ctx *c, uint64_t seconds)
{
	c->seconds = seconds;
}

uint32_t tcpl_flow_count(const struct tcpl_ctx *c)
{
	return flow_count(c->ft);
}

struct tcpl_config tcpl_config_default(uint64_t tsc_hz)
{
	return (struct tcpl_config){
		.listen_ports = {80},
		.n_listen = 1,
		.limits = {.max_request_line = 8192,
			   .max_head_bytes = 8192,
			   .max_headers = 100,
			   .reject_bare_lf = true},
		.request_buffer = 16384,
		.buffers = 1024,
		.max_flows = 1024,
		.header_tsc = tsc_hz * 10,
		.connect_tsc = tsc_hz,
		.idle_tsc = tsc_hz * 300,
		.linger_tsc = tsc_hz * 2,
		.rto_tsc = tsc_hz / 5, /* 200 ms, Linux's minimum RTO */
		.snat_port_first = 1024,
		.snat_port_count = 64512,
		.connect_tries = 3,
		.wscale = 7,
		.heads_per_client = 256,
		.challenge_acks_per_sec = 1000,
		.tsc_hz = tsc_hz,
	};
}

uint32_t tcpl_series_of(const struct route_target *t, const struct route_pool *p, void *arg)
{
	(void)arg;
	char ingress[320], service[400];
	snprintf(ingress, sizeof(ingress), "%s/%s", t->namespace_, t->ingress);
	snprintf(service, sizeof(service), "%s/%s:%s", p->namespace_, p->service, p->port);
	return stats_series_of(ingress, t->rule_host, service);
}

struct tcpl_ctx *tcpl_create(const char *name, const struct tcpl_config *cfg,
			     const struct tcpl_port *ports, uint8_t n_ports,
			     struct rte_mempool *pool, struct net_neigh *neigh,
			     struct stats_lcore *stats, int socket, char *err, size_t errlen)
{
	struct tcpl_ctx *c = rte_zmalloc_socket("tcpl", sizeof(*c), RTE_CACHE_LINE_SIZE, socket);
	if (c == NULL) {
		snprintf(err, errlen, "out of memory for the TCP engine");
		return NULL;
	}
	c->cfg = *cfg;
	c->n_ports = n_ports > TCPL_MAX_PORTS ? TCPL_MAX_PORTS : n_ports;
	memcpy(c->ports, ports, c->n_ports * sizeof(*ports));
	c->pod_pi = 0;
	for (uint8_t i = 0; i < c->n_ports; i++)
		if (ports[i].local->n_snat) {
			c->pod_pi = i;
			break;
		}
	if (ports[c->pod_pi].local->n_snat == 0) {
		snprintf(err, errlen,
			 "no port has an SNAT address: add ports.snat so the gateway "
			 "can reach pods");
		tcpl_free(c);
		return NULL;
	}
	c->pool = pool;
	c->neigh = neigh;
	c->st = stats;
	c->ft = flow_table_create(name, cfg->max_flows, sizeof(struct conn), socket);
	c->crypto = crypto_ctx_create();
	c->bufs = rte_malloc_socket("reqbufs", (size_t)cfg->buffers * cfg->request_buffer, 64,
				    socket);
	c->buf_free = rte_malloc_socket("reqfree", cfg->buffers * sizeof(uint32_t), 64, socket);
	c->wheel = rte_malloc_socket("timers", TIMER_SLOTS * sizeof(uint32_t), 64, socket);
	c->held = rte_zmalloc_socket("held", HELD_SLOTS * sizeof(struct held_slot), 64, socket);
	c->runs = rte_zmalloc_socket("runs", (size_t)cfg->max_flows * sizeof(struct frame_runs), 64,
				     socket);
	c->lb = rte_malloc_socket("lbworker", sizeof(struct lb_worker), 64, socket);
	if (c->ft == NULL || c->crypto == NULL || c->bufs == NULL || c->buf_free == NULL ||
	    c->wheel == NULL || c->held == NULL || c->lb == NULL || c->runs == NULL) {
		snprintf(err, errlen,
			 "cannot allocate the TCP engine (%u flows, %u request buffers of %u "
			 "bytes); reserve more hugepages or lower limits.max_flows, "
			 "limits.request_buffers or limits.request_buffer",
			 cfg->max_flows, cfg->buffers, cfg->request_buffer);
		tcpl_free(c);
		return NULL;
	}
	c->conns = flow_records(c->ft);
	/* Passive ejection lasts ten connect timeouts at first (lib/lb doubles it per strike). */
	uint64_t seed = cfg->seed ? cfg->seed : rte_rdtsc();
	lb_worker_init(c->lb, 10 * cfg->connect_tsc, seed);
	c->rng = (seed * 0x9e3779b97f4a7c15ull) | 1;
	c->hash_key = lb_rand(&c->rng);
	timer_init(c, rte_rdtsc());
	for (uint32_t i = 0; i < cfg->buffers; i++)
		c->buf_free[i] = cfg->buffers - 1 - i;
	c->n_buf_free = cfg->buffers;
	responses_init(c);
	stats_hist_init(rte_get_tsc_hz());
	if (!terminate_init(c, name, socket, err, errlen)) {
		tcpl_free(c);
		return NULL;
	}
	return c;
}

void tcpl_free(struct tcpl_ctx *c)
{
	if (c == NULL)
		return;
	terminate_free(c);
	flow_table_free(c->ft);
	crypto_ctx_free(c->crypto);
	rte_free(c->bufs);
	rte_free(c->buf_free);
	rte_free(c->wheel);
	rte_free(c->held);
	rte_free(c->runs);
	rte_free(c->lb);
	rte_free(c->alog_pend);
	rte_free(c->alog_state);
	rte_free(c);
}

const struct route_table **tcpl_routes_slot(struct tcpl_ctx *c)
{
	return &c->routes;
}
