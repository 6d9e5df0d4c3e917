/*
 * hold.c: a request held on a spliced connection (CONN_HOLD) until it can be decided.
 *
 * frame.c cuts a client segment at the first head it cannot accept yet and hands the rest to
 * a request buffer here: the buffer holds client bytes [start, end), of which [start, F) are
 * checked and are being delivered to the pod by the gateway itself (retransmitted until the pod
 * acknowledges them) and [F, end) wait. hold_decide() walks the waiting bytes with the same
 * framing as the in-place path:
 *
 *   - everything accepted (a held head completed and routes to the same Service): delivered,
 *     and the connection is spliced again once the pod has it all;
 *   - a head still incomplete: keep holding (a header timer runs);
 *   - a head for elsewhere, malformed, or an upgrade not first on its pod connection: the
 *     connection drains and moves (rebind.c);
 *   - broken body framing, the client closing with a head half sent, or no buffer: the
 *     connection fails closed — the pod finishes what was routed, then the client gets a FIN.
 *
 * The gateway acknowledges held bytes to the client only once the pod has acknowledged every
 * byte before the buffer (CONN_FR_ACKED), so the client keeps resending anything the pod may
 * still need; a held FIN is never acknowledged (the client resends it once the bytes before it
 * have a home).
 *
 * Upgrades: a request asking to upgrade is only accepted as the first on its pod connection
 * (frame.c moves a later one to a connection of its own), so the pod's first response answers
 * it. Bytes after it wait here until that response's status line arrives: 101 makes the
 * connection opaque (the held bytes are the new protocol's and go through as they are); another
 * final status keeps framing; an interim 1xx first fails closed, since which final answer
 * belongs to the upgrade could only be told by reading the responses.
 */
#include "tcp/tcp-int.h"

#include <string.h>

bool hold_begin(struct tcpl_ctx *c, struct conn *f, const uint8_t *data, uint32_t len)
{
	if (f->opts & CONN_OPT_BUFFERED) {
		if (client_next(f) != f->frame)
			return false; /* spliced bytes lie between: not one buffer */
	} else {
		if (!buf_take(c, f))
			return false;
		f->client_isn = f->frame - 1;
	}
	uint32_t space = c->cfg.request_buffer - f->req_len;
	uint32_t take = len < space ? len : space;
	memcpy(buf_of(c, f) + f->req_len, data, take);
	f->req_len += take;
	if (take < len)
		http_request_parser_init(&f->hp); /* it had scanned bytes the buffer lacks */
	if (!seq_lt(f->pod_ack, buf_start(f)))
		f->fr |= CONN_FR_ACKED;
	else
		f->fr &= (uint8_t)~CONN_FR_ACKED;
	stats_add(c->st, STATS_http_held, 1);
	return true;
}

void hold_ack_client(struct tcpl_ctx *c, struct conn *f, uint32_t our_seq, struct tcpl_tx *tx)
{
	emit(tx,
	     to_client(c, f, our_seq, client_next(f), RTE_TCP_ACK_FLAG,
		       c->cfg.request_buffer - f->req_len, NULL, 0),
	     f->client_pi, c->st);
}

/* Drop the buffer's bytes from F on (they will never be sent). */
static void truncate_at_frame(struct tcpl_ctx *c, uint32_t idx, struct conn *f)
{
	if (!(f->opts & CONN_OPT_BUFFERED))
		return;
	if (seq_lt(f->frame, client_next(f)))
		f->req_len = seq_lt(f->frame, buf_start(f)) ? 0 : f->frame - buf_start(f);
	buf_acked(c, idx, f);
}

/* Checked bytes the pod has not acknowledged yet. */
static bool delivery_pending(const struct conn *f)
{
	if (!(f->opts & CONN_OPT_BUFFERED))
		return false;
	uint32_t checked_end = seq_min(f->frame, client_next(f));
	/* Only checked bytes in the buffer are the gateway's to deliver; bytes before the buffer
	 * were spliced and are the client's to resend. */
	return seq_lt(buf_start(f), checked_end) && seq_lt(f->pod_ack, checked_end);
}

enum conn_state hold_decide(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			    struct tcpl_tx *tx)
{
	uint32_t f0 = f->frame, end = client_next(f);
	enum frame_verdict v = FV_OK;
	if (!(f->opts & CONN_OPT_TRACK))
		f->frame = end; /* an opaque stream (SNI passthrough): every byte goes through */
	if (seq_lt(f->frame, end)) {
		uint32_t at = f->frame - buf_start(f);
		v = frame_walk(c, f, buf_of(c, f) + at, end - f->frame);
	}
	deliver(c, f, f0, seq_min(f->frame, end), tx);
	switch (v) {
	case FV_OK:
		if (delivery_pending(f))
			timer_arm(c, idx, f, now + c->cfg.rto_tsc);
		else
			buf_acked(c, idx, f);
		return CONN_SPLICED;
	case FV_CLOSE:
		stats_add(c->st, STATS_http_after_close, 1);
		truncate_at_frame(c, idx, f);
		return CONN_SPLICED;
	case FV_BODY:
		stats_add(c->st, STATS_http_bad_body, 1);
		truncate_at_frame(c, idx, f);
		return drain_begin(c, idx, f, RESP_CLOSE, now, tx);
	case FV_MOVE:
		return drain_begin(c, idx, f, -1, now, tx);
	case FV_UPGRADE:
		/* Bytes wait for the pod's answer; not forever (hold_timer). */
		timer_arm(c, idx, f,
			  now + (delivery_pending(f) ? c->cfg.rto_tsc : c->cfg.header_tsc));
		return CONN_HOLD;
	case FV_HOLD:
	default:
		if (f->fr & CONN_FR_CLIENT_FIN) {
			/* The client closed with a head half sent: it can never complete. */
			truncate_at_frame(c, idx, f);
			return drain_begin(c, idx, f, RESP_CLOSE, now, tx);
		}
		if (f->frame == buf_start(f) && f->req_len >= c->cfg.request_buffer)
			return drain_begin(c, idx, f, RESP_431, now, tx);
		timer_arm(c, idx, f,
			  now + (delivery_pending(f) ? c->cfg.rto_tsc : c->cfg.header_tsc));
		return CONN_HOLD;
	}
}

enum conn_state hold_from_client(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				 struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				 struct tcpl_tx *tx)
{
	const struct rte_tcp_hdr *th = tcp_hdr_of(m, p);
	uint8_t flags = p->tcp_flags;
	uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
	uint32_t plen = p->payload_len, end = seq_add(seq, plen);
	uint32_t cack = rte_be_to_cpu_32(th->recv_ack);
	if (flags & RTE_TCP_ACK_FLAG)
		f->peer_ack = cack - f->delta;
	if ((f->opts & CONN_OPT_TS) && p->tcp_has_ts)
		f->ts_client = p->tcp_tsval;
	if (plen == 0 && !(flags & RTE_TCP_FIN_FLAG)) {
		/* An acknowledgement of the pod's data: spliced as ever. */
		splice_to_pod(c, f, m, p);
		stats_add(c->st, STATS_spliced_to_pod, 1);
		emit(tx, m, c->pod_pi, c->st);
		return CONN_HOLD;
	}
	uint32_t b0 = buf_start(f), b1 = client_next(f);
	if (far_from(seq, f->pod_ack)) {
		stats_add(c->st, STATS_tcp_out_of_window, 1);
		rte_pktmbuf_free(m);
		return CONN_HOLD;
	}
	if (seq_lt(b1, seq) || m->nb_segs > 1) {
		/* A gap before it: the client resends. */
		stats_add(c->st, STATS_tcp_out_of_order, 1);
		rte_pktmbuf_free(m);
		return CONN_HOLD;
	}
	/* New bytes for the buffer: [b1, end). */
	uint32_t take = 0;
	if (seq_lt(b1, end)) {
		uint32_t space = c->cfg.request_buffer - f->req_len;
		uint32_t want = end - b1;
		take = want < space ? want : space;
		memcpy(buf_of(c, f) + f->req_len, payload_of(m, p) + (b1 - seq), take);
		f->req_len += take;
		if ((flags & RTE_TCP_FIN_FLAG) && take == want)
			f->fr |= CONN_FR_CLIENT_FIN;
	} else if ((flags & RTE_TCP_FIN_FLAG) && end == b1) {
		f->fr |= CONN_FR_CLIENT_FIN;
	}
	/* Resent bytes before the buffer may still go to the pod. */
	if (seq_lt(seq, b0) && frame_resend_ok(c, f, seq, b0))
		forward_prefix(c, f, m, p, (uint16_t)(b0 - seq), tx);
	else
		rte_pktmbuf_free(m);
	if (f->fr & CONN_FR_ACKED)
		hold_ack_client(c, f, cack, tx);
	if (take == 0 && !(f->fr & CONN_FR_CLIENT_FIN))
		return CONN_HOLD;
	return hold_decide(c, idx, f, now, tx);
}

enum conn_state upgrade_verdict(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				const struct net_pkt *p, const uint8_t *data, uint32_t seq,
				uint64_t now, struct tcpl_tx *tx)
{
	static const char head[] = "HTTP/1.";
	uint32_t want = seq_add(f->pod_isn, 1 + f->up_match);
	uint32_t len = p->payload_len;
	if (seq_lt(want, seq) || !seq_lt(want, seq_add(seq, len)))
		return (enum conn_state)f->state;
	bool bad = false;
	for (uint32_t i = want - seq; i < len && f->up_match < 12 && !bad; i++, f->up_match++) {
		uint8_t b = data[i], pos = f->up_match;
		if (pos < 7)
			bad = b != (uint8_t)head[pos];
		else if (pos == 7)
			bad = b != '0' && b != '1';
		else if (pos == 8)
			bad = b != ' ';
		else if (b >= '0' && b <= '9')
			f->up_status = (uint16_t)(f->up_status * 10 + (b - '0'));
		else
			bad = true;
	}
	if (!bad && f->up_match < 12)
		return (enum conn_state)f->state;
	f->fr &= (uint8_t)~CONN_FR_UPGRADE;
	if (!bad && f->up_status == 101) {
		/* Switched: from here on the bytes are the new protocol's, opaque to the gateway.
		 * What waited goes through as it is. */
		stats_add(c->st, STATS_http_upgrades, 1);
		f->opts &= (uint8_t)~CONN_OPT_TRACK;
		if (f->opts & CONN_OPT_BUFFERED) {
			uint32_t end = client_next(f);
			deliver(c, f, f->frame, end, tx);
			f->frame = end;
			if (delivery_pending(f))
				timer_arm(c, idx, f, now + c->cfg.rto_tsc);
		}
		return CONN_SPLICED;
	}
	if (bad || f->up_status < 200) {
		/* Not a status line, or an interim answer first: fail closed. */
		stats_add(c->st, STATS_http_bad_body, 1);
		truncate_at_frame(c, idx, f);
		return drain_begin(c, idx, f, RESP_CLOSE, now, tx);
	}
	/* Refused (any other final status): still HTTP, framing goes on. */
	if (f->state == CONN_HOLD)
		return hold_decide(c, idx, f, now, tx);
	return (enum conn_state)f->state;
}

enum conn_state hold_from_pod(struct tcpl_ctx *c, uint32_t idx, struct conn *f, struct rte_mbuf *m,
			      const struct net_pkt *p, uint64_t now, struct tcpl_tx *tx)
{
	uint8_t flags = p->tcp_flags;
	const struct rte_tcp_hdr *th = tcp_hdr_of(m, p);
	uint32_t pseq = rte_be_to_cpu_32(th->sent_seq);
	if (flags & (RTE_TCP_FIN_FLAG | RTE_TCP_RST_FLAG)) {
		/* The pod is closing: the held request will need another pod connection. */
		http_request_parser_init(&f->hp);
		return rebind_from_pod(c, idx, f, m, p, now, tx);
	}
	if ((flags & RTE_TCP_ACK_FLAG) && seq_lt(f->pod_ack, rte_be_to_cpu_32(th->recv_ack)))
		f->pod_ack = rte_be_to_cpu_32(th->recv_ack);
	enum conn_state next = CONN_HOLD;
	if ((f->fr & CONN_FR_UPGRADE) && p->payload_len)
		next = upgrade_verdict(c, idx, f, p, payload_of(m, p), pseq, now, tx);
	uint32_t our_end = seq_add(pseq, p->payload_len) + f->delta;
	splice_to_client(c, f, m, p);
	stats_add(c->st, STATS_spliced_to_client, 1);
	emit(tx, m, f->client_pi, c->st);
	if (next != CONN_HOLD)
		return next;
	if (!(f->fr & CONN_FR_ACKED) && !seq_lt(f->pod_ack, buf_start(f))) {
		f->fr |= CONN_FR_ACKED;
		hold_ack_client(c, f, our_end, tx);
	}
	buf_acked(c, idx, f);
	return CONN_HOLD;
}

enum conn_state hold_timer(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			   struct tcpl_tx *tx)
{
	if (delivery_pending(f)) {
		if (++f->tries > MAX_RETRANSMIT)
			return drain_begin(c, idx, f, RESP_CLOSE, now, tx);
		deliver(c, f, seq_lt(buf_start(f), f->pod_ack) ? f->pod_ack : buf_start(f),
			seq_min(f->frame, client_next(f)), tx);
		stats_add(c->st, STATS_tcp_retransmits, 1);
		timer_arm(c, idx, f, now + (c->cfg.rto_tsc << f->tries));
		return CONN_HOLD;
	}
	if (f->fr & CONN_FR_UPGRADE) {
		/* The pod has not answered the upgrade within the header timeout while the client
		 * had bytes waiting: fail closed. */
		truncate_at_frame(c, idx, f);
		return drain_begin(c, idx, f, RESP_CLOSE, now, tx);
	}
	/* The held head did not complete in time: 408 once the pod has finished. */
	truncate_at_frame(c, idx, f);
	return drain_begin(c, idx, f, RESP_408, now, tx);
}
