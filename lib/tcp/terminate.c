/*
 * terminate.c: TLS connections the gateway terminates — the engine's side of lib/term.
 *
 * On a TLS listener, a ClientHello whose server name no passthrough Ingress names (or that
 * names none) is not refused when the engine has termination records: the connection becomes a
 * terminated one. Its SYN-cookie handshake is already done and its ClientHello sits in the
 * request buffer, acknowledged; both move into a client leg (lib/stream) that continues the
 * same sequence numbers, options and timestamp clock, and lib/term takes over: TLS, every
 * request parsed and routed on its own, a pod leg per Service. The flow record stays in the
 * flow table (CONN_TERM), found by the client's 4-tuple as before and, while a pod leg is
 * open, by the pod leg's (pod → SNAT address), bound here like the splice path's.
 *
 * What this file adds to lib/term: the route lookup and pod choice (the published table, lib/lb,
 * the kept-alive pod while it is still one of the Service's endpoints), SNAT addresses from the
 * worker's partition, Ethernet headers (the client's MAC as it came, the pod's from the
 * neighbour table, one segment parked while it resolves), the connection's one timer in the
 * wheel at lib/term's deadline, the handshake budget per burst, and counters.
 *
 * Memory: sizeof(struct term_slot) per record (about 70 KB, mostly lib/term's fixed head and
 * pipe buffers), allocated at start, plus the legs' ring mbufs from a pool of the engine's own,
 * so terminated connections can never empty the pool packets are received into.
 */
#include "tcp/tcp-int.h"

#include <stdio.h>
#include <string.h>

#include <rte_ip.h>
#include <rte_malloc.h>

/* ---- what lib/term asks of the engine ------------------------------------------------------- */

static bool endpoint_in(const struct route_pool *p, uint32_t addr, uint16_t port_be)
{
	for (uint32_t i = 0; i < p->lb.n_endpoints; i++)
		if (p->lb.endpoints[i].addr == addr &&
		    rte_cpu_to_be_16(p->lb.endpoints[i].port) == port_be)
			return true;
	return false;
}

static bool term_route(void *ctx, const char *host, size_t host_len, const char *path,
		       size_t path_len, struct term_pod *pod)
{
	struct tcpl_ctx *c = ctx;
	struct conn *f = conn_of(c, c->term_conn);
	struct term_slot *s = &c->terms[f->term];
	const struct route_table *routes = __atomic_load_n(&c->routes, __ATOMIC_ACQUIRE);
	const struct route_target *t =
		routes ? route_lookup(routes, host, host_len, path, path_len) : NULL;
	if (t == NULL) {
		f->series = STATS_SERIES_NONE;
		return false;
	}
	f->series = (uint16_t)t->series;
	stats_series_add(c->st, t->series, STATS_ROUTED);
	const struct route_pool *p = route_pool(routes, t->pool);
	s->routes = routes;
	s->pool = t->pool;
	s->routed_tsc = c->now;
	s->ejected = (struct term_pod){0, 0, 0};
	/* The same Service as the kept-alive pod connection: the same pod, while it is still one
	 * of the Service's endpoints (lib/term reuses the connection when all three match). */
	if (s->t.pod_open && s->t.cur.id == p->id && endpoint_in(p, s->t.cur.ip, s->t.cur.port)) {
		*pod = s->t.cur;
		return true;
	}
	int e = lb_pick(&p->lb, c->lb, UINT32_MAX, f->client_ip, c->now);
	if (e < 0) {
		/* No endpoint ready: lib/term answers 502 when the connection cannot be made. */
		*pod = (struct term_pod){0, 0, p->id};
		return true;
	}
	const struct lb_endpoint *ep = &p->lb.endpoints[e];
	*pod = (struct term_pod){ep->addr, rte_cpu_to_be_16(ep->port), p->id};
	return true;
}

/* The access log (lib/alog): one record per request, settled by the pod's response head (its
 * status: a terminated connection reads it), the gateway's answer, or the connection's end. */
static void term_exchange(void *ctx, const struct term_conn *t, enum term_exchange ev,
			  uint16_t status)
{
	struct tcpl_ctx *c = ctx;
	if (c->alog == NULL)
		return;
	struct conn *f = conn_of(c, c->term_conn);
	struct term_slot *s = &c->terms[f->term];
	if (ev == TERM_EX_HEAD) {
		f->series = STATS_SERIES_NONE; /* until this request is routed */
		s->logging = access_sampled(c);
		if (s->logging) {
			access_rec_start(c, &s->rec, f, c->now);
			alog_from_head(&s->rec, t->head, &t->req);
		}
		return;
	}
	if (!s->logging) {
		/* An answer with no head behind it (408, a head cut off) settles one more request
		 * than there were heads. */
		if (ev != TERM_EX_ANSWER || t->n.requests >= t->n.answered + t->n.responses ||
		    !access_sampled(c))
			return;				 /* sampled out */
		access_rec_start(c, &s->rec, f, c->now); /* an answer with no head (408...) */
	}
	s->logging = false;
	s->rec.status = status;
	s->rec.series = f->series;
	uint64_t us = alog_us(c, c->now - s->rec.tsc);
	s->rec.total_us = us < ALOG_NONE ? (uint32_t)us : ALOG_NONE - 1;
	if (ev == TERM_EX_RESPONSE) {
		s->rec.outcome = ALOG_FORWARDED;
		s->rec.pod_ip = t->cur.ip;
		s->rec.pod_port = t->cur.port;
	} else {
		s->rec.outcome = ALOG_ANSWERED;
		s->rec.bytes_out = t->to_client_len;
	}
	access_push(c, &s->rec);
}

static bool term_repick(void *ctx, const struct term_pod *failed, struct term_pod *pod)
{
	struct tcpl_ctx *c = ctx;
	struct conn *f = conn_of(c, c->term_conn);
	struct term_slot *s = &c->terms[f->term];
	if (failed->ip != 0) {
		lb_eject(c->lb, failed->ip, rte_be_to_cpu_16(failed->port), c->now);
		s->ejected = *failed;
	}
	/* The table the request was routed with lives as long as a flow may be connecting
	 * (lib/control/publish.h): past the connect budget it may be gone, and no other pod is
	 * tried (a client that held the pump up that long gets the failure). */
	uint64_t budget = c->cfg.connect_tsc * (c->cfg.connect_tries ? c->cfg.connect_tries : 1);
	if (s->routes == NULL || c->now - s->routed_tsc > budget)
		return false;
	const struct route_pool *p = route_pool(s->routes, s->pool);
	uint32_t avoid = UINT32_MAX;
	for (uint32_t i = 0; i < p->lb.n_endpoints; i++)
		if (p->lb.endpoints[i].addr == failed->ip &&
		    rte_cpu_to_be_16(p->lb.endpoints[i].port) == failed->port)
			avoid = i;
	int e = lb_pick(&p->lb, c->lb, avoid, f->client_ip, c->now);
	if (e < 0 || (uint32_t)e == avoid)
		return false;
	const struct lb_endpoint *ep = &p->lb.endpoints[e];
	*pod = (struct term_pod){ep->addr, rte_cpu_to_be_16(ep->port), p->id};
	return true;
}

static bool term_source(void *ctx, const struct term_pod *pod, uint32_t *ip, uint16_t *port,
			uint32_t *iss)
{
	struct tcpl_ctx *c = ctx;
	uint32_t idx = c->term_conn;
	struct conn *f = conn_of(c, idx);
	struct term_slot *s = &c->terms[f->term];
	if (pod->ip == 0 || !snat_bind(c, idx, f, pod->ip, pod->port))
		return false;
	*ip = f->snat_ip;
	*port = f->snat_port;
	*iss = (uint32_t)lb_rand(&c->rng);
	if (s->pod_mac_of != pod->ip) {
		s->pod_mac_of = 0; /* resolved when its first segment goes out */
		if (s->parked) {   /* a SYN for the previous pod */
			rte_pktmbuf_free(s->parked);
			s->parked = NULL;
		}
	}
	stats_add(c->st, STATS_pod_connects, 1);
	return true;
}

/* ---- segments out ---------------------------------------------------------------------------- */

static inline bool l2_wrap(const struct tcpl_ctx *c, uint8_t pi, struct rte_mbuf *m,
			   const struct rte_ether_addr *dst)
{
	struct rte_ether_hdr *eh =
		(struct rte_ether_hdr *)rte_pktmbuf_prepend(m, sizeof(struct rte_ether_hdr));
	if (eh == NULL)
		return false;
	eh->dst_addr = *dst;
	eh->src_addr = c->ports[pi].local->mac;
	eh->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	return true;
}

/* The pod's MAC address (or its next hop's): true when known; otherwise a request is due. */
static bool pod_mac(struct tcpl_ctx *c, struct conn *f, struct term_slot *s, uint64_t now)
{
	if (s->pod_mac_of == f->pod_ip && f->pod_ip != 0)
		return true;
	bool ask = false;
	uint32_t hop = next_hop(c, f->pod_ip);
	if (net_neigh_lookup(c->neigh, hop, now, &s->pod_mac, &ask) == 0) {
		s->pod_mac_of = f->pod_ip;
		return true;
	}
	if (ask)
		s->arp_for = hop;
	return false;
}

static void send_leg(struct tcpl_ctx *c, struct conn *f, struct term_slot *s, struct stream_out *oc,
		     struct stream_out *op, uint64_t now, struct tcpl_tx *tx)
{
	for (uint16_t i = 0; i < oc->n; i++) {
		struct rte_mbuf *m = oc->pkts[i];
		if (l2_wrap(c, f->client_pi, m, &f->client_mac))
			emit(tx, m, f->client_pi, c->st);
		else
			rte_pktmbuf_free(m);
	}
	for (uint16_t i = 0; i < op->n; i++) {
		struct rte_mbuf *m = op->pkts[i];
		uint32_t dst = rte_pktmbuf_mtod(m, const struct rte_ipv4_hdr *)->dst_addr;
		if (dst != f->pod_ip) {
			/* The last words to a pod left for another (a RST): its own neighbour. */
			struct rte_ether_addr mac;
			bool ask = false;
			if (net_neigh_lookup(c->neigh, next_hop(c, dst), now, &mac, &ask) == 0 &&
			    l2_wrap(c, c->pod_pi, m, &mac)) {
				emit(tx, m, c->pod_pi, c->st);
			} else {
				stats_add(c->st, STATS_term_pod_unresolved, 1);
				rte_pktmbuf_free(m);
			}
			continue;
		}
		if (!pod_mac(c, f, s, now)) {
			/* Keep the first (the SYN) until the neighbour answers; later ones the leg
			 * sends again. */
			if (s->parked == NULL) {
				s->parked = m;
			} else {
				stats_add(c->st, STATS_term_pod_unresolved, 1);
				rte_pktmbuf_free(m);
			}
			continue;
		}
		if (l2_wrap(c, c->pod_pi, m, &s->pod_mac))
			emit(tx, m, c->pod_pi, c->st);
		else
			rte_pktmbuf_free(m);
	}
	if (s->parked && pod_mac(c, f, s, now)) {
		struct rte_mbuf *m = s->parked;
		s->parked = NULL;
		if (l2_wrap(c, c->pod_pi, m, &s->pod_mac))
			emit(tx, m, c->pod_pi, c->st);
		else
			rte_pktmbuf_free(m);
	}
	if (s->arp_for) {
		const struct net_local *l = c->ports[c->pod_pi].local;
		struct rte_mbuf *m = rte_pktmbuf_alloc(c->pool);
		if (m && net_arp_request_build(m, l, f->snat_ip, s->arp_for) == 0) {
			stats_add(c->st, STATS_arp_requests, 1);
			emit(tx, m, c->pod_pi, c->st);
		} else if (m) {
			rte_pktmbuf_free(m);
		}
		s->arp_for = 0;
	}
	/* An output list that filled up may have left the legs with more to send and nothing
	 * to wake them: come back at the next tick. */
	if (oc->n == oc->cap || op->n == op->cap)
		s->again = true;
}

/* Output lists for one step, within the room left in the burst's transmit list. */
#define TERM_OUT 32
struct term_io {
	struct rte_mbuf *cm[TERM_OUT], *pm[TERM_OUT];
	struct stream_out oc, op;
};

/* Room kept in the transmit list for the rest of the burst's packets (forwards, SYN-ACKs). */
#define TERM_TX_RESERVE 32

static void io_init(struct term_io *io, const struct tcpl_tx *tx)
{
	uint16_t room = (uint16_t)(tx->cap - tx->n);
	uint16_t avail = room > TERM_TX_RESERVE + 8 ? room - TERM_TX_RESERVE : room / 4;
	uint16_t each = avail / 2 > TERM_OUT ? TERM_OUT : avail / 2;
	io->oc = (struct stream_out){io->cm, 0, each};
	io->op = (struct stream_out){io->pm, 0, each};
}

/* ---- counters -------------------------------------------------------------------------------- */

static void report(struct tcpl_ctx *c, struct term_slot *s)
{
	const struct term_counts *n = &s->t.n;
	struct term_counts *o = &s->told;
	/* Passive health, as on the splice path: a pod that failed a request (refused, reset or
	 * silent before answering) is ejected for a back-off; one that answered is well. */
	if (n->pod_failed != o->pod_failed && s->t.cur.ip != 0 &&
	    !(s->ejected.ip == s->t.cur.ip && s->ejected.port == s->t.cur.port))
		lb_eject(c->lb, s->t.cur.ip, rte_be_to_cpu_16(s->t.cur.port), c->now);
	else if (n->responses != o->responses && s->t.cur.ip != 0)
		lb_success(c->lb, s->t.cur.ip, rte_be_to_cpu_16(s->t.cur.port));
#define TOLD(field, counter)                                                                       \
	if (n->field != o->field) {                                                                \
		stats_add(c->st, counter, n->field - o->field);                                    \
		o->field = n->field;                                                               \
	}
	TOLD(requests, STATS_term_requests)
	TOLD(answered, STATS_term_answered)
	TOLD(bad_requests, STATS_term_bad_requests)
	TOLD(no_route, STATS_term_no_route)
	TOLD(pod_connects, STATS_term_pod_connects)
	TOLD(pod_reused, STATS_term_pod_reused)
	TOLD(pod_retries, STATS_term_pod_retries)
	TOLD(pod_failed, STATS_term_pod_failed)
	TOLD(bad_responses, STATS_term_bad_responses)
	TOLD(idle_timeouts, STATS_term_idle_timeouts)
	TOLD(header_timeouts, STATS_term_header_timeouts)
	TOLD(tls_failed, STATS_term_tls_failed)
#undef TOLD
}

/* ---- the connection's life ------------------------------------------------------------------- */

static inline uint64_t tsc_per_ms(const struct tcpl_ctx *c)
{
	return c->cfg.tsc_hz / 1000 ? c->cfg.tsc_hz / 1000 : 1;
}

void terminate_release(struct tcpl_ctx *c, struct conn *f)
{
	struct term_slot *s = &c->terms[f->term];
	report(c, s);
	if (s->logging) { /* the connection ended before the request was settled */
		s->logging = false;
		s->rec.outcome = ALOG_CLOSED;
		s->rec.series = f->series;
		access_push(c, &s->rec);
	}
	s->t.n = (struct term_counts){0};
	s->told = s->t.n;
	stats_add(c->st, STATS_tcp_retransmits,
		  (uint64_t)s->t.client.n.retransmits + s->t.pod.n.retransmits);
	term_release(&s->t);
	if (s->parked) {
		rte_pktmbuf_free(s->parked);
		s->parked = NULL;
	}
	s->conn = CONN_NONE;
	held_dec_in(c, c->term_held, f->client_ip);
	c->term_free[c->n_term_free++] = f->term;
	f->term = CONN_NONE;
}

/* After every step: counters, the end, or the one timer at the earliest deadline. */
static enum conn_state settle(struct tcpl_ctx *c, uint32_t idx, struct conn *f, struct term_slot *s,
			      uint64_t now)
{
	report(c, s);
	if (term_done(&s->t)) {
		terminate_release(c, f);
		timer_cancel(c, idx, f);
		return conn_dead_end(f); /* lingers: strays meet it, not a fresh cookie check */
	}
	uint64_t when;
	uint32_t d = term_deadline(&s->t), ms = ms_of(c, now);
	if (s->again || s->parked)
		when = now + c->tick_tsc;
	else if (d == 0)
		when = now + c->cfg.idle_tsc;
	else if ((int32_t)(d - ms) <= 0)
		when = now;
	else
		when = now + (uint64_t)(d - ms) * tsc_per_ms(c);
	timer_arm(c, idx, f, when);
	return CONN_TERM;
}

/* Whether a step may run lib/term's handshake work now (the per-burst budget). */
static bool may_handshake(struct tcpl_ctx *c, struct term_slot *s)
{
	if (s->t.phase != TERM_TLS)
		return true;
	if (c->handshakes_left == 0) {
		stats_add(c->st, STATS_tls_handshakes_deferred, 1);
		s->again = true;
		return false;
	}
	c->handshakes_left--;
	return true;
}

/* Every step on a terminated connection: output lists within the burst's room, the record the
 * callbacks act for; then what the legs queued goes out and the connection settles. */
static struct term_slot *step_begin(struct tcpl_ctx *c, uint32_t idx, const struct conn *f,
				    struct term_io *io, const struct tcpl_tx *tx)
{
	io_init(io, tx);
	c->term_conn = idx;
	return &c->terms[f->term];
}

static enum conn_state step_end(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				struct term_slot *s, struct term_io *io, uint64_t now,
				struct tcpl_tx *tx)
{
	send_leg(c, f, s, &io->oc, &io->op, now, tx);
	return settle(c, idx, f, s, now);
}

enum conn_state terminate_start(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
				struct tcpl_tx *tx)
{
	if (c->n_term_free == 0) {
		stats_add(c->st, STATS_tls_terminated_full, 1);
		return local_response(c, idx, f, RESP_503, now, tx);
	}
	uint32_t cap = c->cfg.terminated_per_client ? c->cfg.terminated_per_client
						    : (c->cfg.terminated + 7) / 8;
	if (!held_inc_in(c, c->term_held, cap, f->client_ip)) {
		stats_add(c->st, STATS_tls_terminated_over_cap, 1);
		return local_response(c, idx, f, RESP_503, now, tx);
	}
	uint32_t si = c->term_free[c->n_term_free - 1];
	struct term_slot *s = &c->terms[si];
	bool ws = (f->opts & CONN_OPT_WS) != 0;
	uint8_t snd_ws = ws ? f->c2p_in : 0;
	struct stream_adopted a = {
		.local_ip = f->vip,
		.remote_ip = f->client_ip,
		.local_port = f->vip_port,
		.remote_port = f->client_port,
		.iss = f->cookie_isn,
		.irs = f->client_isn,
		.mss = f->mss,
		.ws_ok = ws,
		.sack_ok = (f->opts & CONN_OPT_SACK) != 0,
		.ts_ok = (f->opts & CONN_OPT_TS) != 0,
		.snd_ws = snd_ws,
		.rcv_ws = c->cfg.wscale,
		.snd_wnd = (uint32_t)c->client_win << snd_ws,
		.ts_recent = f->ts_client,
		.tsval = our_tsval(c, f, now),
		.rcv_adv = buf_start(f) + c->cfg.request_buffer,
	};
	uint32_t ms = ms_of(c, now);
	if (!stream_adopt(&s->t.client, &c->client_cfg, &a, buf_of(c, f), f->req_len, ms)) {
		held_dec_in(c, c->term_held, f->client_ip);
		return local_response(c, idx, f, RESP_503, now, tx);
	}
	if (!term_start(&s->t, &c->term_env, rte_be_to_cpu_16(f->vip_port), ms)) {
		stream_release(&s->t.client);
		held_dec_in(c, c->term_held, f->client_ip);
		return local_response(c, idx, f, RESP_503, now, tx);
	}
	c->n_term_free--;
	s->conn = idx;
	s->again = false;
	s->pod_mac_of = 0;
	s->arp_for = 0;
	s->told = s->t.n;
	/* The buffer's bytes are the leg's now; the head timer becomes lib/term's. */
	buf_release(c, f);
	timer_cancel(c, idx, f);
	f->term = si;
	f->series = STATS_SERIES_NONE;
	stats_add(c->st, STATS_tls_terminated, 1);
	struct term_io io;
	step_begin(c, idx, f, &io, tx);
	if (may_handshake(c, s))
		term_pump(&s->t, ms, &io.oc, &io.op);
	return step_end(c, idx, f, s, &io, now, tx);
}

enum conn_state terminate_from_client(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				      struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				      struct tcpl_tx *tx)
{
	struct term_io io;
	struct term_slot *s = step_begin(c, idx, f, &io, tx);
	uint32_t ms = ms_of(c, now);
	if (may_handshake(c, s)) {
		term_client_input(&s->t, m, p, ms, &io.oc, &io.op);
	} else {
		/* Taken and acknowledged now, read when the budget allows. */
		stream_input(&s->t.client, m, p, ms, &io.oc);
		stream_output(&s->t.client, ms, &io.oc);
	}
	rte_pktmbuf_free(m);
	return step_end(c, idx, f, s, &io, now, tx);
}

enum conn_state terminate_from_pod(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				   struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				   struct tcpl_tx *tx)
{
	struct term_io io;
	struct term_slot *s = step_begin(c, idx, f, &io, tx);
	/* The flow table finds the current pod leg only (a new leg rebinds the pod key). */
	term_pod_input(&s->t, m, p, ms_of(c, now), &io.oc, &io.op);
	rte_pktmbuf_free(m);
	return step_end(c, idx, f, s, &io, now, tx);
}

enum conn_state terminate_timer(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
				struct tcpl_tx *tx)
{
	struct term_io io;
	struct term_slot *s = step_begin(c, idx, f, &io, tx);
	uint32_t ms = ms_of(c, now);
	s->again = false;
	uint32_t d = term_deadline(&s->t);
	if (d != 0 && (int32_t)(ms - d) >= 0)
		term_timer(&s->t, ms, &io.oc, &io.op);
	else if (may_handshake(c, s))
		term_pump(&s->t, ms, &io.oc, &io.op);
	return step_end(c, idx, f, s, &io, now, tx);
}

/* ---- set-up ---------------------------------------------------------------------------------- */

bool terminate_init(struct tcpl_ctx *c, const char *name, int socket, char *err, size_t errlen)
{
	const struct tcpl_config *cfg = &c->cfg;
	if (cfg->tls == NULL || cfg->terminated == 0)
		return true;
	uint32_t n = cfg->terminated;
	c->terms = rte_zmalloc_socket("terms", (size_t)n * sizeof(struct term_slot), 64, socket);
	c->term_free = rte_malloc_socket("termfree", (size_t)n * sizeof(uint32_t), 64, socket);
	c->term_held =
		rte_zmalloc_socket("termheld", HELD_SLOTS * sizeof(struct held_slot), 64, socket);
	uint32_t mbufs = cfg->term_mbufs ? cfg->term_mbufs : 32 * n;
	char pname[RTE_MEMPOOL_NAMESIZE];
	snprintf(pname, sizeof(pname), "tm_%s", name);
	/* DPDK wants at least 1.5 cached mbufs per pool mbuf: no cache for a small pool. */
	unsigned cache = mbufs >= 3 * 256 ? 256 : 0;
	c->term_pool = rte_pktmbuf_pool_create(pname, mbufs, cache, 0,
					       RTE_PKTMBUF_HEADROOM + STREAM_SLOT, socket);
	if (c->terms == NULL || c->term_free == NULL || c->term_held == NULL ||
	    c->term_pool == NULL) {
		snprintf(err, errlen,
			 "cannot allocate %u terminated connections (%zu bytes each) and %u mbufs "
			 "for their buffers; reserve more hugepages or lower "
			 "limits.terminated_connections",
			 n, sizeof(struct term_slot), mbufs);
		return false;
	}
	for (uint32_t i = 0; i < n; i++) {
		c->term_free[i] = n - 1 - i;
		c->terms[i].conn = CONN_NONE;
	}
	c->n_term_free = n;
	c->client_cfg = (struct stream_cfg){
		.pool = c->term_pool, .mss = c->ports[0].mss, .ts = true, .sack = true, .ws = true};
	c->pod_cfg = (struct stream_cfg){.pool = c->term_pool,
					 .mss = c->ports[c->pod_pi].mss,
					 .ts = true,
					 .sack = true,
					 .ws = true};
	if (!stream_cfg_defaults(&c->client_cfg) || !stream_cfg_defaults(&c->pod_cfg)) {
		snprintf(err, errlen, "the terminated connections' pool has too small mbufs");
		return false;
	}
	uint64_t ms = cfg->tsc_hz / 1000 ? cfg->tsc_hz / 1000 : 1;
	c->term_env = (struct term_env){
		.tls = cfg->tls,
		.client_cfg = &c->client_cfg,
		.pod_cfg = &c->pod_cfg,
		.limits = cfg->limits,
		.idle_ms = (uint32_t)(cfg->idle_tsc / ms),
		.header_ms = (uint32_t)(cfg->header_tsc / ms),
		.route = term_route,
		.source = term_source,
		.repick = term_repick,
		.exchange = term_exchange,
		.connect_ms = (uint32_t)(cfg->connect_tsc / ms),
		.connect_tries = cfg->connect_tries,
		.ctx = c,
	};
	return true;
}

void terminate_free(struct tcpl_ctx *c)
{
	if (c->terms) {
		for (uint32_t i = 0; i < c->cfg.terminated; i++)
			if (c->terms[i].conn != CONN_NONE) {
				term_release(&c->terms[i].t);
				if (c->terms[i].parked)
					rte_pktmbuf_free(c->terms[i].parked);
			}
	}
	rte_free(c->terms);
	rte_free(c->term_free);
	rte_free(c->term_held);
	c->term_held = NULL;
	rte_mempool_free(c->term_pool);
	c->terms = NULL;
	c->term_free = NULL;
	c->term_pool = NULL;
}

uint32_t tcpl_terminated_count(const struct tcpl_ctx *c)
{
	return c->terms ? c->cfg.terminated - c->n_term_free : 0;
}
