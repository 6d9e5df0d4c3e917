/*
 * rebind.c: per-request routing on kept-alive connections — hold, drain, move.
 *
 * Browsers send many paths over one connection and Ingress rules route by path, so every
 * request is routed, not only the first. A tracked spliced connection knows where the client's
 * next request starts (next_req). A client data segment that starts there is parsed in place:
 * a request for the same Service, pod still in it, is spliced as it came; anything else (another
 * Service, no route, a head not complete in its first segment) is held: its bytes go into a
 * request buffer and the gateway acknowledges them itself, the current pod gets a FIN after the
 * bytes it has (CONN_DRAIN). The pod's remaining data still reaches the client, its FIN does
 * not; the client's acknowledgements are passed on. Once the old pod has closed and the client
 * has acknowledged everything it sent, the connection is rewound to the head state with both
 * sequence bases moved to where the two sides stand, and steps 3–7 run again.
 */
#include "tcp/tcp-int.h"

#include <string.h>

static bool pool_has_pod(const struct route_pool *p, uint32_t addr, uint16_t port)
{
	for (uint32_t i = 0; i < p->lb.n_endpoints; i++)
		if (p->lb.endpoints[i].addr == addr && p->lb.endpoints[i].port == port)
			return true;
	return false;
}

/*
 * Take the next request's bytes into a request buffer, acknowledge them ourselves, and close
 * the current pod's side with a FIN after the bytes it has. Returns false when no buffer is
 * free: the request then stays on the pod.
 */
static bool hold_request(struct tcpl_ctx *c, uint32_t idx, struct conn *f, struct rte_mbuf *m,
			 const struct net_pkt *p, uint32_t seq, const uint8_t *data, uint16_t plen,
			 uint64_t now, struct tcpl_tx *tx)
{
	if (c->n_buf_free == 0 || plen > c->cfg.request_buffer)
		return false;
	uint32_t cack = rte_be_to_cpu_32(tcp_hdr_of(m, p)->recv_ack);
	f->buf = c->buf_free[--c->n_buf_free];
	f->opts |= CONN_OPT_BUFFERED;
	f->opts &= (uint8_t)~CONN_OPT_PROXIED;
	memcpy(buf_of(c, f), data, plen);
	f->req_len = plen;
	http_request_parser_init(&f->hp);
	f->client_isn = seq - 1;  /* the held request starts the new pod's stream */
	f->cookie_isn = cack - 1; /* our next byte to the client: what it acknowledged */
	if ((f->opts & CONN_OPT_TS) && p->tcp_has_ts)
		f->ts_client = p->tcp_tsval;
	emit(tx,
	     to_client(c, f, cack, client_next(f), RTE_TCP_ACK_FLAG, head_window(c, f), NULL, 0),
	     f->client_pi, c->st);
	emit(tx,
	     to_pod(c, f, seq, cack - f->delta, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG,
		    (uint16_t)(65535u >> f->c2p_out)),
	     c->pod_pi, c->st);
	f->fins = 0;
	f->opts &= (uint8_t)~CONN_OPT_POD_RST;
	f->tries = 0;
	timer_arm(c, idx, f, now + c->cfg.connect_tsc);
	rte_pktmbuf_free(m);
	return true;
}

bool rebind_track(struct tcpl_ctx *c, uint32_t idx, struct conn *f, struct rte_mbuf *m,
		  const struct net_pkt *p, uint32_t seq, uint64_t now, struct tcpl_tx *tx,
		  enum conn_state *next)
{
	uint16_t plen = p->payload_len;
	*next = CONN_SPLICED;
	if (seq_lt(seq, f->next_req)) {
		if (seq_lt(f->next_req, seq_add(seq, plen)))
			untrack(c, f); /* a body's end and a next request in one segment */
		return false;
	}
	if (seq != f->next_req) {
		/* Beyond the next request's start with its beginning missing: it cannot be routed
		 * yet, and the pod must not see it first. The client sends it again. */
		stats_add(c->st, STATS_tcp_out_of_order, 1);
		rte_pktmbuf_free(m);
		return true;
	}
	if ((f->opts & CONN_OPT_BUFFERED) || (f->fins & CONN_FIN_POD) ||
	    (p->tcp_flags & (RTE_TCP_FIN_FLAG | RTE_TCP_RST_FLAG))) {
		/* The first request is still in flight, the pod has already closed (its FIN went
		 * to the client: the connection cannot move), or the client is closing. */
		untrack(c, f);
		return false;
	}
	stats_add(c->st, STATS_http_keepalive_requests, 1);
	const uint8_t *data = payload_of(m, p);
	struct http_request_parser ps;
	struct http_request r;
	http_request_parser_init(&ps);
	int rc = http_request_parse(&ps, &c->cfg.limits, data, plen, &r);
	if (rc == HTTP_ERROR) {
		untrack(c, f); /* the pod answers it */
		return false;
	}
	if (rc > 0) {
		const struct route_table *routes;
		bool bad;
		const struct route_target *t = lookup_head(c, data, &r, &routes, &bad);
		const struct route_pool *pool = t ? route_pool(routes, t->pool) : NULL;
		if (pool && pool->id == f->pool_id &&
		    pool_has_pod(pool, f->pod_ip, rte_be_to_cpu_16(f->pod_port))) {
			/* Same Service, pod still in it: stay on this connection. */
			stats_add(c->st, STATS_http_requests, 1);
			f->routes = routes;
			f->pool = t->pool;
			f->method = (uint8_t)r.method;
			track_next(c, f, &r, seq, plen);
			return false;
		}
	}
	if (hold_request(c, idx, f, m, p, seq, data, plen, now, tx)) {
		stats_add(c->st, STATS_http_rebinds, 1);
		*next = CONN_DRAIN;
		return true;
	}
	untrack(c, f); /* no buffer free: it stays on this pod */
	return false;
}

/* The client's window as the draining pod reads it (scales may differ). */
static uint16_t drain_window(const struct conn *f, uint16_t raw_be)
{
	uint32_t w = ((uint32_t)rte_be_to_cpu_16(raw_be) << f->c2p_in) >> f->c2p_out;
	return (uint16_t)(w > 65535 ? 65535 : w);
}

void rebind_client_ack(struct tcpl_ctx *c, struct conn *f, const struct net_pkt *p,
		       const struct rte_tcp_hdr *th, struct tcpl_tx *tx)
{
	(void)p;
	/* The client acknowledges the draining pod's data: pass that on, and move our own
	 * sequence base to what it has. */
	uint32_t cack = rte_be_to_cpu_32(th->recv_ack);
	if (seq_lt(seq_add(f->cookie_isn, 1), cack))
		f->cookie_isn = cack - 1;
	if (!(f->opts & CONN_OPT_POD_RST))
		emit(tx,
		     to_pod(c, f, seq_add(f->next_req, 1), cack - f->delta, RTE_TCP_ACK_FLAG,
			    drain_window(f, th->rx_win)),
		     c->pod_pi, c->st);
}

void rebind_client_gone(struct tcpl_ctx *c, struct conn *f, struct tcpl_tx *tx)
{
	if (f->opts & CONN_OPT_POD_RST)
		return;
	emit(tx, to_pod(c, f, seq_add(f->next_req, 1), 0, RTE_TCP_RST_FLAG, 0), c->pod_pi, c->st);
	stats_add(c->st, STATS_tcp_rst_sent, 1);
}

enum conn_state rebind_check(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			     struct tcpl_tx *tx)
{
	if (!(f->fins & CONN_FIN_POD))
		return CONN_DRAIN;
	uint32_t s = f->pod_fin + f->delta; /* the client's next byte from us */
	if (seq_lt(seq_add(f->cookie_isn, 1), s))
		return CONN_DRAIN;
	if (!(f->opts & CONN_OPT_POD_RST))
		emit(tx,
		     to_pod(c, f, seq_add(f->next_req, 1), seq_add(f->pod_fin, 1), RTE_TCP_ACK_FLAG,
			    (uint16_t)(65535u >> f->c2p_out)),
		     c->pod_pi, c->st);
	f->cookie_isn = s - 1;
	f->fins = 0;
	f->deadline = 0;
	enum conn_state next = head_parse(c, idx, f, now, tx);
	if (next == CONN_HEAD)
		timer_arm(c, idx, f, now + c->cfg.header_tsc);
	return next;
}

enum conn_state rebind_from_pod(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				struct tcpl_tx *tx)
{
	struct rte_tcp_hdr *th =
		rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, p->l2_len + p->l3_len);
	uint8_t flags = p->tcp_flags;
	uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
	if (flags & RTE_TCP_RST_FLAG) {
		if (!(f->fins & CONN_FIN_POD)) {
			/* Gone: what it sent up to here is all there is. */
			f->pod_fin = seq;
			f->fins |= CONN_FIN_POD;
			f->opts |= CONN_OPT_POD_RST;
		}
		rte_pktmbuf_free(m);
		return rebind_check(c, idx, f, now, tx);
	}
	if (flags & RTE_TCP_SYN_FLAG) {
		rte_pktmbuf_free(m);
		return CONN_DRAIN;
	}
	if ((flags & RTE_TCP_FIN_FLAG) && !(f->fins & CONN_FIN_POD)) {
		f->pod_fin = seq_add(seq, p->payload_len);
		f->fins |= CONN_FIN_POD;
	}
	if (p->payload_len == 0) {
		rte_pktmbuf_free(m);
	} else {
		if (flags & RTE_TCP_FIN_FLAG) {
			/* The data goes on, the FIN does not: the client's connection continues. */
			uint16_t old, new_;
			memcpy(&old, (uint8_t *)th + 12, 2);
			th->tcp_flags = (uint8_t)(flags & ~RTE_TCP_FIN_FLAG);
			memcpy(&new_, (uint8_t *)th + 12, 2);
			th->cksum = net_cksum_adjust16(th->cksum, old, new_);
		}
		splice_to_client(c, f, m, p);
		stats_add(c->st, STATS_spliced_to_client, 1);
		emit(tx, m, f->client_pi, c->st);
	}
	return rebind_check(c, idx, f, now, tx);
}

enum conn_state rebind_timer(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			     struct tcpl_tx *tx)
{
	/* The old pod did not close in time: reset it; the client has what it acknowledged, and
	 * if it still misses some of the pod's data the connection cannot go on. */
	if (!(f->opts & CONN_OPT_POD_RST))
		emit(tx, to_pod(c, f, seq_add(f->next_req, 1), 0, RTE_TCP_RST_FLAG, 0), c->pod_pi,
		     c->st);
	f->opts |= CONN_OPT_POD_RST;
	if (!(f->fins & CONN_FIN_POD)) {
		f->pod_fin = seq_add(f->cookie_isn, 1) - f->delta;
		f->fins |= CONN_FIN_POD;
	}
	enum conn_state next = rebind_check(c, idx, f, now, tx);
	if (next != CONN_DRAIN)
		return next;
	emit(tx,
	     to_client(c, f, seq_add(f->cookie_isn, 1), client_next(f),
		       RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG, 0, NULL, 0),
	     f->client_pi, c->st);
	stats_add(c->st, STATS_tcp_rst_sent, 1);
	return CONN_FREE;
}
