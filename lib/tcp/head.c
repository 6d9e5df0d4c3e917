/*
 * head.c: the request head (steps 3 and 4) — buffering, parsing, routing.
 *
 * Until a pod is spliced in, the gateway is the client's TCP peer: it takes the client's bytes
 * in order into a bounded request buffer, acknowledges them itself, and advertises the space
 * left as its window. Out-of-order segments are re-acknowledged and dropped (the client
 * resends); overlaps keep their new part. The head is parsed incrementally by lib/http as it
 * grows; once complete it is routed with the current table and the pod connection starts
 * (connect.c). A malformed head gets the parser's status, a head that outgrows the buffer 431,
 * no route 404, all from the gateway with FIN (segment.c).
 */
#include "tcp/tcp-int.h"

#include <string.h>

#define HEAD_SCRATCH 4096 /* normalised path */

const struct route_target *lookup_head(struct tcpl_ctx *c, const struct conn *f, const uint8_t *b,
				       const struct http_request *r,
				       const struct route_table **routes, bool *bad, bool *redirect)
{
	char path[HEAD_SCRATCH];
	int pl = http_normalize_path(b + r->path.off, r->path.len, path, sizeof(path));
	*bad = pl < 0;
	*redirect = false;
	*routes = __atomic_load_n(&c->routes, __ATOMIC_ACQUIRE);
	if (pl < 0 || *routes == NULL)
		return NULL;
	if (unlikely(c->ports[f->client_pi].n_tls > 0) &&
	    route_host_redirects(*routes, (const char *)b + r->host.off, r->host.len)) {
		*redirect = true;
		return NULL;
	}
	return route_lookup(*routes, (const char *)b + r->host.off, r->host.len, path, (size_t)pl);
}

/* The head is complete: route it and start the pod connection. */
static enum conn_state route_request(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				     const struct http_request *r, uint64_t now, struct tcpl_tx *tx)
{
	const uint8_t *b = buf_of(c, f);
	stats_add(c->st, STATS_http_requests, 1);
	f->method = (uint8_t)r->method;
	f->series = STATS_SERIES_NONE;
	uint32_t head_us = ALOG_NONE;
	if (f->state == CONN_HEAD && buf_start(f) == seq_add(f->syn_isn, 1)) {
		/* A first request: from the handshake to here. */
		uint64_t t = conn_elapsed(f, now);
		stats_observe(&c->st->head, t);
		head_us = c->alog ? alog_us(c, t) : ALOG_NONE;
	}
	if (unlikely(c->alog != NULL))
		access_begin(c, f, b, r, head_us, now);
	const struct route_table *routes;
	bool bad, redirect;
	const struct route_target *t = lookup_head(c, f, b, r, &routes, &bad, &redirect);
	if (bad)
		return local_response(c, idx, f, RESP_400, now, tx);
	if (redirect)
		return redirect_response(c, idx, f, r, now, tx);
	if (t == NULL)
		return local_response(c, idx, f, RESP_404, now, tx);
	f->series = (uint16_t)t->series;
	stats_series_add(c->st, t->series, STATS_ROUTED);
	f->pool = t->pool;
	f->routes = routes;
	f->tries = 0;
	const struct route_pool *pool = route_pool(routes, t->pool);
	f->pool_id = pool->id;
	frame_runs_clear(c, f); /* a new pod stream */
	frame_accept(c, f, b, r, buf_start(f));
	size_t hoff, hlen;
	if (pool->lb.algorithm == LB_MAGLEV && pool->hash_header[0] &&
	    http_find_header(b, r->head_len, pool->hash_header, &hoff, &hlen))
		f->affinity = (uint32_t)lb_hash_bytes(b + hoff, hlen);
	else
		f->affinity = f->client_ip;
	return connect_bind(c, idx, f, now, UINT32_MAX, tx);
}

enum conn_state head_parse(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			   struct tcpl_tx *tx)
{
	if (conn_tls(c, f))
		return sni_route(c, idx, f, now, tx);
	struct http_request r;
	int rc = http_request_parse(&f->hp, &c->cfg.limits, buf_of(c, f), f->req_len, &r);
	if (rc > 0)
		return route_request(c, idx, f, &r, now, tx);
	if (rc == HTTP_ERROR) {
		if (unlikely(c->alog != NULL))
			access_begin(c, f, buf_of(c, f), &r, ALOG_NONE, now);
		return local_response(c, idx, f, status_of(r.status), now, tx);
	}
	if (f->req_len >= c->cfg.request_buffer) {
		if (unlikely(c->alog != NULL))
			access_begin(c, f, buf_of(c, f), NULL, ALOG_NONE, now);
		return local_response(c, idx, f, RESP_431, now, tx);
	}
	return CONN_HEAD;
}

enum conn_state local_resp_from_client(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				       struct rte_mbuf *m, const struct net_pkt *p,
				       struct tcpl_tx *tx)
{
	const struct rte_tcp_hdr *th = tcp_hdr_of(m, p);
	uint8_t flags = p->tcp_flags;
	uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
	uint16_t said;
	local_response_bytes(c, f, &said);
	uint32_t our_end = seq_add(f->cookie_isn, 2 + said); /* after our FIN */
	enum conn_state next = CONN_LOCAL_RESP;
	if (flags & RTE_TCP_RST_FLAG) {
		rte_pktmbuf_free(m);
		return conn_dead_end(f);
	}
	if ((flags & RTE_TCP_ACK_FLAG) && !seq_lt(rte_be_to_cpu_32(th->recv_ack), our_end)) {
		timer_cancel(c, idx, f); /* response delivered */
		buf_release(c, f);	 /* a 308 was sent from it: not needed again */
	}
	if (flags & RTE_TCP_FIN_FLAG) {
		uint32_t fin_ack = seq_add(seq, p->payload_len + 1);
		emit(tx, to_client(c, f, our_end, fin_ack, RTE_TCP_ACK_FLAG, 0, NULL, 0),
		     f->client_pi, c->st);
		f->fins |= CONN_FIN_CLIENT;
		if (!(f->fr & CONN_FR_TIMER))
			next = conn_dead_end(f); /* no pod stream: strays go nowhere */
	}
	rte_pktmbuf_free(m);
	return next;
}

enum conn_state head_from_client(struct tcpl_ctx *c, uint16_t pi, uint32_t idx, struct conn *f,
				 struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				 struct tcpl_tx *tx)
{
	const struct rte_tcp_hdr *th = tcp_hdr_of(m, p);
	uint8_t flags = p->tcp_flags;
	uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
	enum conn_state state = (enum conn_state)f->state;

	c->client_win = rte_be_to_cpu_16(th->rx_win); /* a terminated leg starts from it */
	if ((f->opts & CONN_OPT_TS) && p->tcp_has_ts)
		f->ts_client = p->tcp_tsval;
	if (state == CONN_DRAIN && !(flags & (RTE_TCP_RST_FLAG | RTE_TCP_SYN_FLAG)) &&
	    (flags & RTE_TCP_ACK_FLAG))
		rebind_client_ack(c, f, p, th, tx);
	if (flags & (RTE_TCP_RST_FLAG | RTE_TCP_FIN_FLAG)) {
		if (state == CONN_DRAIN)
			rebind_client_gone(c, f, tx);
		/* The client gave up before we reached a pod. A FIN gets a reset: there is no
		 * response to wait for. */
		if (flags & RTE_TCP_FIN_FLAG) {
			emit(tx,
			     to_client(c, f, seq_add(f->cookie_isn, 1),
				       seq_add(seq, p->payload_len + 1),
				       RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG, 0, NULL, 0),
			     (uint8_t)pi, c->st);
			stats_add(c->st, STATS_tcp_rst_sent, 1);
		}
		rte_pktmbuf_free(m);
		return conn_dead_end(f);
	}
	if (flags & RTE_TCP_SYN_FLAG) {
		rte_pktmbuf_free(m); /* a stray SYN retransmission for an established flow */
		return state;
	}
	uint16_t plen = p->payload_len;
	if (plen == 0 || m->nb_segs > 1) {
		rte_pktmbuf_free(m);
		if (state == CONN_DRAIN)
			return rebind_check(c, idx, f, now, tx);
		return state;
	}
	uint32_t expect = client_next(f);
	const uint8_t *data = payload_of(m, p);
	bool ack_ok = (f->fr & CONN_FR_ACKED) != 0;
	if (state == CONN_DRAIN && far_from(seq, f->pod_ack)) {
		stats_add(c->st, STATS_tcp_out_of_window, 1);
		rte_pktmbuf_free(m);
		return state;
	}
	if (state == CONN_DRAIN && (f->opts & CONN_OPT_BUFFERED) && seq_lt(expect, f->frame)) {
		/* Spliced bytes lie between the buffer's end and the frame point: the buffer
		 * holds only the routed request, kept for resending, and takes nothing more (this
		 * drain fails closed; nothing after F will be routed). Resent bytes outside the
		 * buffer may still go to the pod where that is safe. */
		uint32_t end = seq_add(seq, plen);
		bool live = !(f->opts & CONN_OPT_POD_RST);
		if (live && seq_lt(seq, buf_start(f)) && frame_resend_ok(c, f, seq, buf_start(f))) {
			forward_prefix(c, f, m, p, (uint16_t)(buf_start(f) - seq), tx);
		} else if (live && !seq_lt(seq, expect) && seq_lt(seq, f->frame) &&
			   frame_resend_ok(c, f, seq, seq_min(end, f->frame))) {
			forward_prefix(c, f, m, p, (uint16_t)(seq_min(end, f->frame) - seq), tx);
		} else {
			stats_add(c->st, STATS_tcp_resend_refused, 1);
			rte_pktmbuf_free(m);
		}
		return rebind_check(c, idx, f, now, tx);
	}
	if (state == CONN_DRAIN && seq_lt(seq, buf_start(f))) {
		/* Resent bytes from before the held request: the old pod's, where that is safe.
		 * The rest of the segment is taken below from a copy of the payload. */
		uint32_t keep = buf_start(f) - seq;
		uint32_t skip = expect - seq;
		if (seq_lt(seq_add(seq, plen), expect) || skip >= plen) {
			if (!(f->opts & CONN_OPT_POD_RST) &&
			    frame_resend_ok(c, f, seq, buf_start(f)))
				forward_prefix(c, f, m, p, (uint16_t)(keep < plen ? keep : plen),
					       tx);
			else
				rte_pktmbuf_free(m);
			return rebind_check(c, idx, f, now, tx);
		}
	}
	if (seq != expect) {
		/* Out of order or overlapping: take the new part of an overlap, otherwise ask
		 * again for what we expect (the client retransmits). */
		uint32_t skip = expect - seq;
		if (seq_lt(seq, expect) && skip < plen) {
			data += skip;
			plen = (uint16_t)(plen - skip);
		} else {
			stats_add(c->st, STATS_tcp_out_of_order, 1);
			if (ack_ok)
				emit(tx,
				     to_client(c, f, seq_add(f->cookie_isn, 1), expect,
					       RTE_TCP_ACK_FLAG, head_window(c, f), NULL, 0),
				     (uint8_t)pi, c->st);
			rte_pktmbuf_free(m);
			return state;
		}
	}
	uint32_t space = c->cfg.request_buffer - f->req_len;
	uint16_t take = (uint16_t)(plen < space ? plen : space);
	if (f->buf != CONN_NONE && take) {
		memcpy(buf_of(c, f) + f->req_len, data, take);
		f->req_len += take;
	}
	rte_pktmbuf_free(m);
	if (ack_ok)
		emit(tx,
		     to_client(c, f, seq_add(f->cookie_isn, 1), client_next(f), RTE_TCP_ACK_FLAG,
			       head_window(c, f), NULL, 0),
		     (uint8_t)pi, c->st);
	if (state == CONN_DRAIN)
		return rebind_check(c, idx, f, now, tx);
	if (state != CONN_HEAD)
		return state; /* bytes arriving while we connect: framed once the pod is there */
	return head_parse(c, idx, f, now, tx);
}
