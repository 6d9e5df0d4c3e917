/*
 * rebind.c: moving a kept-alive connection to another pod (CONN_DRAIN).
 *
 * When the request at the frame point cannot go to the current pod — another Service, no
 * route, malformed, an upgrade that needs a pod connection of its own — or the connection must
 * fail closed, the current pod gets a FIN after the frame point (every byte before it was
 * routed to it). It finishes its responses: its data still reaches the client, its FIN does not
 * (the client's connection goes on), and the client's acknowledgements are passed on. Bytes
 * the client resends from before the frame point still go to it where that is safe
 * (frame.c's rule). Once the pod has closed, has acknowledged everything before our FIN, and
 * the client has acknowledged everything the pod sent, the connection is rewound to the head
 * state with both sequence bases moved to where the two sides stand — the held request starts
 * the next pod's stream, our next byte to the client continues after the old pod's last — and
 * steps 3–7 run again: route, choose a pod, connect, deliver, splice. Or, when the gateway is
 * to answer (400 for a malformed request, 404, 408) or to close, it does so then, after the
 * responses before it.
 *
 * A pod that does not close within the drain budget (the larger of the header and connect
 * timeouts) is reset; if the client then still lacks some of its data, the client is reset
 * too (those bytes cannot be recovered).
 */
#include "tcp/tcp-int.h"

#include <string.h>

/* The client's window as the draining pod reads it (scales may differ). */
static uint16_t drain_window(const struct conn *f, uint16_t raw_be)
{
	uint32_t w = ((uint32_t)rte_be_to_cpu_16(raw_be) << f->c2p_in) >> f->c2p_out;
	return (uint16_t)(w > 65535 ? 65535 : w);
}

static uint64_t drain_budget(const struct tcpl_ctx *c)
{
	return c->cfg.header_tsc > c->cfg.connect_tsc ? c->cfg.header_tsc : c->cfg.connect_tsc;
}

enum conn_state drain_begin(struct tcpl_ctx *c, uint32_t idx, struct conn *f, int answer,
			    uint64_t now, struct tcpl_tx *tx)
{
	if (answer < 0) {
		stats_add(c->st, STATS_http_rebinds, 1);
		f->fr &= (uint8_t)~CONN_FR_FAIL_CLOSED;
	} else {
		f->fr |= CONN_FR_FAIL_CLOSED;
		f->resp_status_idx = (uint8_t)answer;
	}
	http_request_parser_init(&f->hp);
	/* Our next byte to the client: what it has acknowledged of the pod's data so far. */
	f->cookie_isn = f->peer_ack + f->delta - 1;
	emit(tx, pod_segment(c, f, f->frame, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, NULL, 0),
	     c->pod_pi, c->st);
	f->fr |= CONN_FR_FIN_SENT;
	f->fins = 0;
	f->opts &= (uint8_t)~CONN_OPT_POD_RST;
	f->tries = 0;
	f->pod_fin = (uint32_t)(now >> CONN_SEEN_SHIFT); /* when the drain began, until the
							  * pod's FIN */
	timer_arm(c, idx, f, now + c->cfg.rto_tsc);
	return CONN_DRAIN;
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
	f->peer_ack = cack - f->delta;
	if (!(f->opts & CONN_OPT_POD_RST))
		emit(tx,
		     to_pod(c, f, seq_add(f->frame, 1), cack - f->delta, RTE_TCP_ACK_FLAG,
			    drain_window(f, th->rx_win)),
		     c->pod_pi, c->st);
}

void rebind_client_gone(struct tcpl_ctx *c, struct conn *f, struct tcpl_tx *tx)
{
	if (f->opts & CONN_OPT_POD_RST)
		return;
	emit(tx, to_pod(c, f, seq_add(f->frame, 1), 0, RTE_TCP_RST_FLAG, 0), c->pod_pi, c->st);
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
	bool reset = f->opts & CONN_OPT_POD_RST;
	if (!reset && seq_lt(f->pod_ack, f->frame))
		return CONN_DRAIN; /* the pod has not had everything routed to it yet */
	if (!reset) {
		/* Acknowledge the pod's FIN (with ours, if the pod closed first). */
		bool fin = !(f->fr & CONN_FR_FIN_SENT);
		emit(tx,
		     to_pod(c, f, fin ? f->frame : seq_add(f->frame, 1), seq_add(f->pod_fin, 1),
			    (uint8_t)(RTE_TCP_ACK_FLAG | (fin ? RTE_TCP_FIN_FLAG : 0)),
			    (uint16_t)(65535u >> f->c2p_out)),
		     c->pod_pi, c->st);
	}
	/* Rewind: the buffer from the frame point on starts the next pod's stream. */
	if (f->opts & CONN_OPT_BUFFERED) {
		uint32_t drop = seq_lt(buf_start(f), f->frame) ? f->frame - buf_start(f) : 0;
		if (drop > f->req_len)
			drop = f->req_len;
		memmove(buf_of(c, f), buf_of(c, f) + drop, f->req_len - drop);
		f->req_len -= drop;
	}
	f->client_isn = f->frame - 1;
	f->cookie_isn = s - 1;
	f->fins = 0;
	f->opts &= (uint8_t) ~(CONN_OPT_PROXIED | CONN_OPT_TRACK | CONN_OPT_POD_RST);
	f->fr &= (uint8_t) ~(CONN_FR_FIN_SENT | CONN_FR_UPGRADE | CONN_FR_CLOSING);
	f->fr |= CONN_FR_ACKED; /* the gateway is the client's peer again */
	timer_cancel(c, idx, f);
	if (f->fr & CONN_FR_FAIL_CLOSED) {
		f->fr &= (uint8_t)~CONN_FR_FAIL_CLOSED;
		return local_response(c, idx, f, (enum local_status)f->resp_status_idx, now, tx);
	}
	if (!(f->opts & CONN_OPT_BUFFERED) && !buf_take(c, f))
		return local_response(c, idx, f, RESP_CLOSE, now, tx);
	http_request_parser_init(&f->hp);
	f->t0 = (uint32_t)(now >> CONN_T0_SHIFT); /* pod_fin is spent: t0 times what follows */
	enum conn_state next = head_parse(c, idx, f, now, tx);
	if (next == CONN_HEAD) {
		if (f->fr & CONN_FR_CLIENT_FIN)
			return local_response(c, idx, f, RESP_CLOSE, now, tx);
		timer_arm(c, idx, f, now + c->cfg.header_tsc);
	}
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
	if ((flags & RTE_TCP_ACK_FLAG) && !(flags & RTE_TCP_RST_FLAG) &&
	    seq_lt(f->pod_ack, rte_be_to_cpu_32(th->recv_ack)))
		f->pod_ack = rte_be_to_cpu_32(th->recv_ack);
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
		/* Now the client has the budget to take the pod's last bytes. */
		timer_arm(c, idx, f, now + drain_budget(c));
	}
	uint32_t our_end = seq_add(seq, p->payload_len) + f->delta;
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
	if (!(f->fr & CONN_FR_ACKED) && (f->opts & CONN_OPT_BUFFERED) &&
	    !seq_lt(f->pod_ack, buf_start(f))) {
		f->fr |= CONN_FR_ACKED;
		hold_ack_client(c, f, our_end, tx);
	}
	return rebind_check(c, idx, f, now, tx);
}

enum conn_state rebind_timer(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			     struct tcpl_tx *tx)
{
	/* pod_fin holds when the drain began (coarse clock) until the pod's FIN arrives. */
	uint64_t spent = (uint64_t)((uint32_t)(now >> CONN_SEEN_SHIFT) - f->pod_fin)
			 << CONN_SEEN_SHIFT;
	if (!(f->fins & CONN_FIN_POD) && spent < drain_budget(c)) {
		/* Our FIN, or checked bytes before it, may have been lost: send them again. */
		if (seq_lt(f->pod_ack, seq_add(f->frame, 1))) {
			if ((f->opts & CONN_OPT_BUFFERED) && seq_lt(f->pod_ack, f->frame))
				deliver(c, f,
					seq_lt(buf_start(f), f->pod_ack) ? f->pod_ack
									 : buf_start(f),
					seq_min(f->frame, client_next(f)), tx);
			emit(tx,
			     pod_segment(c, f, f->frame, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, NULL,
					 0),
			     c->pod_pi, c->st);
			stats_add(c->st, STATS_tcp_retransmits, 1);
		}
		if (f->tries < 5)
			f->tries++;
		uint64_t next = now + (c->cfg.rto_tsc << f->tries);
		uint64_t end = now + (drain_budget(c) - spent);
		timer_arm(c, idx, f, next < end ? next : end);
		return CONN_DRAIN;
	}
	/* The old pod did not finish in time: reset it; the client has what it acknowledged,
	 * and if it still misses some of the pod's data the connection cannot go on. */
	if (!(f->opts & CONN_OPT_POD_RST))
		emit(tx, to_pod(c, f, seq_add(f->frame, 1), 0, RTE_TCP_RST_FLAG, 0), c->pod_pi,
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
	return conn_dead_end(f);
}
