/*
 * output.c: what a leg sends — segments built whole (IPv4 + TCP with options), the send loop
 * (new data within the congestion and peer windows, SACK-guided retransmission in recovery,
 * the FIN), ACKs with receiver silly-window avoidance, and the RTT estimator of RFC 6298.
 */
#include <string.h>

#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "stream/stream-int.h"

/* ---- segments -------------------------------------------------------------------------------- */

static uint8_t *put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
	return b + 4;
}

/* Options of a SYN or SYN-ACK: what we offer (a SYN-ACK offers only what the SYN did, which
 * the leg's *_ok bits already say). 24 bytes at most. */
static uint16_t syn_options(const struct stream_leg *l, uint32_t now, uint8_t *b)
{
	uint8_t *p = b;
	*p++ = 2, *p++ = 4, *p++ = (uint8_t)(l->cfg->mss >> 8), *p++ = (uint8_t)l->cfg->mss;
	if (l->ts_ok) {
		if (l->sack_ok)
			*p++ = 4, *p++ = 2;
		else
			*p++ = 1, *p++ = 1;
		*p++ = 8, *p++ = 10;
		p = put32(p, tsval_now(l, now));
		p = put32(p, l->state == STREAM_SYN_SENT ? 0 : l->ts_recent);
	} else if (l->sack_ok) {
		*p++ = 1, *p++ = 1, *p++ = 4, *p++ = 2;
	}
	if (l->ws_ok)
		*p++ = 1, *p++ = 3, *p++ = 3, *p++ = l->rcv_ws;
	return (uint16_t)(p - b);
}

/* Options of any other segment: timestamps, and SACK blocks for the out-of-order data we hold
 * (most recent first, RFC 2018 §4), as many as fit in 40 bytes — and, on a segment carrying len
 * bytes, in what the peer's MSS leaves beside them (l->mss already has the timestamps' 12 bytes
 * taken off: a full segment carries no blocks; the pure ACKs do). */
static uint16_t options(const struct stream_leg *l, uint32_t now, uint8_t flags, uint32_t len,
			uint8_t *b)
{
	uint8_t *p = b;
	if (l->ts_ok) {
		*p++ = 1, *p++ = 1, *p++ = 8, *p++ = 10;
		p = put32(p, tsval_now(l, now));
		p = put32(p, l->ts_recent);
	}
	if (l->sack_ok && l->ooo.n > 0 && !(flags & TH_RST)) {
		uint8_t k = l->ooo.n < (l->ts_ok ? 3 : 4) ? l->ooo.n : (l->ts_ok ? 3 : 4);
		if (len > 0) {
			uint32_t room = l->mss > len ? l->mss - len : 0;
			uint32_t fit = room >= 12 ? (room - 4) / 8 : 0;
			k = k < fit ? k : (uint8_t)fit;
		}
		if (k == 0)
			return (uint16_t)(p - b);
		*p++ = 1, *p++ = 1, *p++ = 5, *p++ = (uint8_t)(2 + 8 * k);
		for (uint8_t i = 0; i < k; i++) {
			p = put32(p, l->ooo.lo[i]);
			p = put32(p, l->ooo.hi[i]);
		}
	}
	return (uint16_t)(p - b);
}

/* The window field of a segment, and what it advertises (RFC 1122 §4.2.3.3: the right edge
 * moves only by min(buffer / 2, MSS) or more; RFC 9293 §3.8.6.2.2: it never moves left). */
static uint16_t window_field(struct stream_leg *l, uint8_t flags)
{
	uint32_t win = rcv_window(l);
	if (flags & TH_SYN) { /* never scaled (RFC 7323 §2.2) */
		win = u32_min(win, 65535);
		if (sq_lt(l->rcv_adv, l->rcv_nxt + win))
			l->rcv_adv = l->rcv_nxt + win;
		return (uint16_t)win;
	}
	uint32_t raw = win >> l->rcv_ws;
	/* Rounding down to the scale must not pull the right edge back. */
	uint32_t least = l->rcv_adv - l->rcv_nxt;
	if (sq_lt(l->rcv_nxt, l->rcv_adv) && (raw << l->rcv_ws) < least)
		raw = (least + (1u << l->rcv_ws) - 1) >> l->rcv_ws;
	if (raw > 65535)
		raw = 65535;
	/* What we hold ourselves to stops at the ring's end: rounding up to the scale may
	 * announce a few bytes more, which are cut (and answered) if they come, but never make the
	 * next announcement larger (no creep past the ring while the reader is stalled). */
	uint32_t edge = l->rcv_nxt + (raw << l->rcv_ws), ring_end = l->rcv.head + l->rcv.cap;
	if (sq_lt(ring_end, edge))
		edge = ring_end;
	if (sq_lt(l->rcv_adv, edge))
		l->rcv_adv = edge;
	return (uint16_t)raw;
}

uint32_t rcv_window(const struct stream_leg *l)
{
	/* The ring ends cap bytes after its head: what is free beyond rcv_nxt. */
	uint32_t edge = l->rcv.head + l->rcv.cap;
	uint32_t most = 65535u << l->rcv_ws; /* what the field can say */
	if (sq_lt(l->rcv_nxt + most, edge))
		edge = l->rcv_nxt + most;
	uint32_t win = sq_lt(l->rcv_nxt, edge) ? edge - l->rcv_nxt : 0;
	if (!sq_lt(l->rcv_nxt, l->rcv_adv))
		return win;
	uint32_t grow = edge - l->rcv_adv;
	uint32_t step = u32_min(l->rcv.cap / 2, l->mss);
	if (sq_lt(l->rcv_adv, edge) && grow < step)
		return l->rcv_adv - l->rcv_nxt; /* too small a step: keep the old edge */
	return win;
}

bool send_segment(struct stream_leg *l, uint32_t seq, uint8_t flags, uint32_t len, uint32_t now,
		  struct stream_out *out)
{
	if (out->n >= out->cap) {
		l->n.tx_full++;
		return false;
	}
	struct rte_mbuf *m = rte_pktmbuf_alloc(l->cfg->pool);
	if (m == NULL) {
		l->n.nobufs++;
		return false;
	}
	uint8_t ob[40];
	uint16_t optlen =
		(flags & TH_SYN) ? syn_options(l, now, ob) : options(l, now, flags, len, ob);
	uint16_t l4 = (uint16_t)(sizeof(struct rte_tcp_hdr) + optlen);
	uint32_t whole = (uint32_t)sizeof(struct rte_ipv4_hdr) + l4 + len;
	uint16_t total = (uint16_t)whole;
	/* Never more than the mbuf holds (the MSS is capped to a slot; this is the guard). */
	uint8_t *d =
		whole > rte_pktmbuf_tailroom(m) ? NULL : (uint8_t *)rte_pktmbuf_append(m, total);
	if (d == NULL) {
		rte_pktmbuf_free(m);
		l->n.nobufs++;
		return false;
	}
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)d;
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16(total);
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = l->local_ip;
	ip->dst_addr = l->remote_ip;

	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);
	th->src_port = l->local_port;
	th->dst_port = l->remote_port;
	th->sent_seq = rte_cpu_to_be_32(seq);
	bool ack = (flags & TH_ACK) != 0;
	th->recv_ack = ack ? rte_cpu_to_be_32(l->rcv_nxt) : 0;
	th->data_off = (uint8_t)((l4 / 4) << 4);
	th->tcp_flags = flags;
	th->rx_win = (flags & TH_RST) ? 0 : rte_cpu_to_be_16(window_field(l, flags));
	th->cksum = 0;
	th->tcp_urp = 0;
	memcpy(th + 1, ob, optlen);
	if (len > 0)
		ring_get(&l->snd, seq, (uint8_t *)(th + 1) + optlen, len);

	m->l3_len = sizeof(*ip);
	m->l4_len = l4;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	out->pkts[out->n++] = m;
	l->n.seg_out++;
	if ((len > 0 || (flags & (TH_SYN | TH_FIN))) && sq_lt(seq, l->snd_max))
		l->rexmit_ts = tsval_now(l, now);

	if (ack) {
		l->last_ack_sent = l->rcv_nxt;
		l->ack_now = 0;
		l->dack_at = 0;
		l->delack_segs = 0;
	}
	return true;
}

void send_ack(struct stream_leg *l, uint32_t now, struct stream_out *out)
{
	/* At snd_max, not snd_nxt: after a timeout snd_nxt went back, and an ACK below what the
	 * peer already has would fail its acceptability test (as BSD does). */
	send_segment(l, l->snd_max, TH_ACK, 0, now, out);
}

void send_rst(struct stream_leg *l, uint32_t seq, uint32_t ack, bool with_ack, uint32_t now,
	      struct stream_out *out)
{
	uint32_t keep = l->rcv_nxt;
	if (with_ack)
		l->rcv_nxt = ack;
	send_segment(l, seq, (uint8_t)(TH_RST | (with_ack ? TH_ACK : 0)), 0, now, out);
	l->rcv_nxt = keep;
}

/* ---- RTT and the retransmission timer (RFC 6298) ------------------------------------------- */

void rtt_sample(struct stream_leg *l, uint32_t ms)
{
	if (ms >= 60000)
		return; /* an echo of something we never sent, or from another life */
	if (l->srtt8 == 0) {
		l->srtt8 = (ms << 3) | 1; /* never 0 again: 0 means no sample yet */
		l->rttvar4 = ms << 1;
	} else {
		int32_t delta = (int32_t)ms - (int32_t)(l->srtt8 >> 3);
		uint32_t adelta = (uint32_t)(delta < 0 ? -delta : delta);
		/* rttvar = 3/4 rttvar + 1/4 |delta|; srtt = 7/8 srtt + 1/8 sample */
		l->rttvar4 = l->rttvar4 - (l->rttvar4 >> 2) + adelta;
		l->srtt8 = l->srtt8 - (l->srtt8 >> 3) + ms;
		if (l->srtt8 == 0)
			l->srtt8 = 1;
	}
	uint32_t rto = (l->srtt8 >> 3) + u32_max(1, l->rttvar4);
	l->rto = u32_min(u32_max(rto, l->cfg->rto_min_ms), l->cfg->rto_max_ms);
}

void rto_restart(struct stream_leg *l, uint32_t now)
{
	if (l->snd_max == l->snd_una)
		l->rto_at = 0;
	else
		l->rto_at = at(now, backed_off(l->rto, l->backoff, l->cfg->rto_max_ms));
}

/* ---- in flight ---------------------------------------------------------------------------------
 */

/* The highest sequence the peer SACKed (snd_una when none). */
static uint32_t sack_high(const struct stream_leg *l)
{
	return l->sack.n ? l->sack.hi[l->sack.n - 1] : l->snd_una;
}

uint32_t pipe_bytes(const struct stream_leg *l)
{
	uint32_t flight = l->snd_max - l->snd_una;
	uint32_t sacked = ranges_bytes(&l->sack);
	flight = flight > sacked ? flight - sacked : 0;
	if (!l->in_recovery || l->sack.n == 0)
		return flight;
	/* Holes below the highest SACK are lost (RFC 6675 §4 with DupThresh met); those not yet
	 * sent again are not in the network. */
	uint32_t from = sq_max(l->rexmit_nxt, l->snd_una), high = sack_high(l), lost = 0;
	for (uint8_t i = 0; i < l->sack.n && sq_lt(from, high); i++) {
		if (sq_lt(from, l->sack.lo[i]))
			lost += l->sack.lo[i] - from;
		from = sq_max(from, l->sack.hi[i]);
	}
	return flight > lost ? flight - lost : 0;
}

/* The next hole at or after from below the highest SACK: [*lo, *lo + *len). */
static bool next_hole(const struct stream_leg *l, uint32_t from, uint32_t *lo, uint32_t *len)
{
	uint32_t s = sq_max(from, l->snd_una);
	for (uint8_t i = 0; i < l->sack.n; i++) {
		if (sq_lt(s, l->sack.lo[i])) {
			*lo = s;
			*len = l->sack.lo[i] - s;
			return true;
		}
		s = sq_max(s, l->sack.hi[i]);
	}
	return false;
}

/* ---- the send loop ------------------------------------------------------------------------- */

static bool may_send_data(const struct stream_leg *l)
{
	switch (l->state) {
	case STREAM_ESTABLISHED:
	case STREAM_CLOSE_WAIT:
	case STREAM_FIN_WAIT_1:
	case STREAM_CLOSING:
	case STREAM_LAST_ACK:
		return true;
	default:
		return false;
	}
}

/* Send [seq, seq + len) of the ring, with the FIN when it is next. */
static bool send_data(struct stream_leg *l, uint32_t seq, uint32_t len, uint32_t now,
		      struct stream_out *out)
{
	uint32_t end = data_end(l);
	bool fin = l->fin_queued && seq + len == end;
	uint8_t flags = TH_ACK;
	if (fin)
		flags |= TH_FIN;
	if (len > 0 && seq + len == end)
		flags |= TH_PSH;
	if (!send_segment(l, seq, flags, len, now, out))
		return false;
	uint32_t next = seq + len + (fin ? 1 : 0);
	if (sq_lt(seq, l->snd_max))
		l->n.retransmits++;
	else if (!l->ts_ok && !l->rtt_timing && len > 0) {
		l->rtt_timing = true; /* Karn: time only what was sent once */
		l->rtt_seq = seq;
		l->rtt_at = now;
	}
	if (sq_lt(l->snd_max, next))
		l->snd_max = next;
	return true;
}

void stream_output(struct stream_leg *l, uint32_t now, struct stream_out *out)
{
	bool sent = false;
	if (may_send_data(l)) {
		/* Retransmit the holes first when recovering with SACK (RFC 6675 §5). */
		if (l->in_recovery && l->sack_ok) {
			uint32_t lo, len;
			while (pipe_bytes(l) < l->cwnd && next_hole(l, l->rexmit_nxt, &lo, &len)) {
				len = u32_min(len, l->mss);
				if (!send_data(l, lo, u32_min(len, data_end(l) - lo), now, out))
					break;
				l->rexmit_nxt = lo + len;
				sent = true;
			}
		}
		for (;;) {
			uint32_t end = data_end(l);
			bool fin_unsent = l->fin_queued && sq_le(l->snd_nxt, end);
			uint32_t unsent = sq_lt(l->snd_nxt, end) ? end - l->snd_nxt : 0;
			if (unsent == 0 && !fin_unsent)
				break;
			uint32_t flight = l->in_recovery && l->sack_ok ? pipe_bytes(l)
								       : l->snd_nxt - l->snd_una;
			uint32_t wnd = u32_min(l->snd_wnd, l->cwnd);
			uint32_t room = wnd > flight ? wnd - flight : 0;
			/* The peer's window bounds new sequence numbers, not just the bytes out. */
			uint32_t right = l->snd_una + l->snd_wnd;
			uint32_t peer = sq_lt(l->snd_nxt, right) ? right - l->snd_nxt : 0;
			uint32_t len = u32_min(u32_min(unsent, l->mss), u32_min(room, peer));
			if (unsent > 0 && len == 0)
				break;
			/* Sender silly-window avoidance (RFC 9293 §3.8.6.2.1): a short segment goes
			 * only when it ends the queue or nothing is in flight to bring an ACK. */
			if (len < l->mss && len < unsent && flight > 0 && len < l->max_snd_wnd / 2)
				break;
			if (!send_data(l, l->snd_nxt, len, now, out))
				break;
			l->snd_nxt += len + (l->fin_queued && l->snd_nxt + len == end ? 1 : 0);
			sent = true;
		}
		/* Data waits and nothing is in flight to bring a window update: probe (RFC 9293
		 * §3.8.6.1). */
		uint32_t end = data_end(l);
		bool waiting = sq_lt(l->snd_nxt, end) || (l->fin_queued && sq_le(l->snd_nxt, end));
		if (waiting && l->snd_nxt == l->snd_una && l->snd_max == l->snd_una) {
			if (l->persist_at == 0)
				l->persist_at = at(now, backed_off(l->rto, l->persist_backoff,
								   l->cfg->rto_max_ms));
		} else {
			l->persist_at = 0;
			l->persist_backoff = 0;
		}
		if (sent && l->rto_at == 0)
			rto_restart(l, now);
	}
	if (l->ack_now && !sent && l->state >= STREAM_ESTABLISHED && l->state != STREAM_CLOSED)
		send_ack(l, now, out);
	else if ((l->state == STREAM_ESTABLISHED || l->state == STREAM_FIN_WAIT_1 ||
		  l->state == STREAM_FIN_WAIT_2) &&
		 !sent && sq_lt(l->rcv_adv, l->rcv_nxt + rcv_window(l)) &&
		 (l->rcv_nxt + rcv_window(l)) - l->rcv_adv >= u32_min(l->rcv.cap / 2, 2u * l->mss))
		send_ack(l, now, out); /* the reader made room: a window update */
}
