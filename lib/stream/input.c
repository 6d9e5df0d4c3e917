/*
 * input.c: a segment arrives (RFC 9293 §3.10.7). The checks run in the RFC's order — PAWS
 * (RFC 7323 §5), acceptability, RST (RFC 5961 §3), SYN (§4), ACK (§5) — and a segment that
 * fails one is answered as the RFCs say (an ACK, a challenge ACK, or nothing) and otherwise
 * ignored. Then the ACK moves the send side (RTT, congestion window, recovery, SACK
 * scoreboard, window), the data and FIN move the receive side.
 */
#include <string.h>

#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "stream/stream-int.h"

/* What input needs of a segment, read once. */
struct seg {
	uint32_t seq, ack, win; /* win: the raw field */
	uint32_t len;		/* payload bytes */
	uint8_t flags;
	const uint8_t *data;
	const uint8_t *sack; /* p->tcp_sack_blocks blocks, 8 bytes each */
};

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* RFC 5961 §7: answers to segments that fail a check are rate limited (one per 10 ms per
 * leg), so a flood of forged segments cannot turn the gateway into an ACK cannon. */
static bool limited_ack(struct stream_leg *l, uint32_t now, struct stream_out *out)
{
	if (l->last_challenge != 0 && (int32_t)(now - l->last_challenge) < 10)
		return false;
	l->last_challenge = at(now, 0);
	send_ack(l, now, out);
	return true;
}

static void challenge_ack(struct stream_leg *l, uint32_t now, struct stream_out *out)
{
	if (limited_ack(l, now, out))
		l->n.challenge_acks++;
}

/* ---- the send side ------------------------------------------------------------------------- */

static void take_sack(struct stream_leg *l, const struct net_pkt *p, const struct seg *s)
{
	if (!l->sack_ok)
		return;
	for (uint8_t i = 0; i < p->tcp_sack_blocks; i++) {
		uint32_t lo = get32(s->sack + 8 * i), hi = get32(s->sack + 8 * i + 4);
		/* Only blocks within what is outstanding; D-SACKs and lies are ignored. */
		if (!sq_lt(lo, hi) || !sq_lt(l->snd_una, hi) || sq_lt(l->snd_max, hi))
			continue;
		ranges_add(&l->sack, sq_max(lo, l->snd_una), hi, false);
	}
}

/* Bytes from seq that may go again: one MSS at most, of what was sent already. */
static uint32_t resend_len(const struct stream_leg *l, uint32_t seq)
{
	uint32_t end = sq_min(l->snd_max, data_end(l));
	return sq_lt(seq, end) ? u32_min(l->mss, end - seq) : 0;
}

static void enter_recovery(struct stream_leg *l, uint32_t now, struct stream_out *out)
{
	uint32_t flight = l->snd_max - l->snd_una;
	l->ssthresh = u32_max(flight / 2, 2u * l->mss);
	l->recover = l->snd_max - 1; /* the highest sequence sent (RFC 6582 §3.2 (2)) */
	l->in_recovery = 1;
	l->rexmit_nxt = l->snd_una;
	l->n.fast_retransmits++;
	l->rtt_timing = false;
	/* RFC 6675 §5 (4.2): cwnd = ssthresh; RFC 6582 (2): ssthresh + 3 MSS without SACK. */
	l->cwnd = l->sack_ok ? l->ssthresh : l->ssthresh + 3u * l->mss;
	/* The first unacknowledged segment goes at once, whatever the window: only bytes that
	 * were sent before (never past snd_max, which may lie beyond the peer's window). */
	uint32_t len = resend_len(l, l->snd_una);
	uint8_t flags = TH_ACK;
	if (l->fin_queued && l->snd_una + len == data_end(l) && sq_lt(data_end(l), l->snd_max))
		flags |= TH_FIN;
	if (send_segment(l, l->snd_una, flags, len, now, out))
		l->n.retransmits++;
	l->rexmit_nxt = l->snd_una + len + ((flags & TH_FIN) ? 1 : 0);
	rto_restart(l, now);
}

/* A new cumulative ACK: bytes acknowledged, RTT, congestion window. */
static void new_ack(struct stream_leg *l, const struct net_pkt *p, const struct seg *s,
		    uint32_t now, struct stream_out *out)
{
	uint32_t acked = s->ack - l->snd_una;
	l->last_progress = now;
	/* Bytes of the ring (the SYN and FIN take sequence numbers but no bytes). */
	uint32_t to = sq_min(s->ack, data_end(l));
	if (sq_lt(l->snd.head, to)) {
		ring_consume(&l->snd, to - l->snd.head);
		ring_idle(&l->snd);
	}

	if (l->ts_ok && p->tcp_has_ts && p->tcp_tsecr != 0) {
		/* Only an echo of what was sent after the last retransmission measures the
		 * path: an older one may include the time the loss took to recover. */
		uint32_t rtt = tsval_now(l, now) - p->tcp_tsecr;
		if (rtt < 60000 && sq_le(l->rexmit_ts, p->tcp_tsecr))
			rtt_sample(l, rtt);
	} else if (l->rtt_timing && sq_lt(l->rtt_seq, s->ack)) {
		l->rtt_timing = false;
		rtt_sample(l, now - l->rtt_at);
	}
	l->backoff = 0;

	if (l->in_recovery) {
		if (sq_lt(l->recover, s->ack)) {
			/* Full ACK (RFC 6582 §3.2 (3)): deflate. */
			uint32_t flight = l->snd_max - s->ack;
			l->cwnd = u32_min(l->ssthresh, u32_max(flight, l->mss) + l->mss);
			l->in_recovery = 0;
		} else {
			/* Partial ACK: the next hole goes now; deflate by what was acknowledged. */
			l->snd_una = s->ack;
			if (sq_lt(l->rexmit_nxt, s->ack))
				l->rexmit_nxt = s->ack;
			ranges_trim(&l->sack, s->ack);
			/* Without SACK, or with nothing SACKed to guide the hole walk: the
			 * segment at the new left edge goes now. */
			if (!l->sack_ok || l->sack.n == 0) {
				uint32_t len = resend_len(l, s->ack);
				if (len > 0 && send_segment(l, s->ack, TH_ACK, len, now, out))
					l->n.retransmits++;
				if (len > 0 && sq_lt(l->rexmit_nxt, s->ack + len))
					l->rexmit_nxt = s->ack + len;
			}
			if (!l->sack_ok) {
				l->cwnd = l->cwnd > acked ? l->cwnd - acked : l->mss;
				if (acked >= l->mss)
					l->cwnd += l->mss;
			}
		}
	} else if (l->cwnd < l->ssthresh) {
		l->cwnd += u32_min(acked, 2u * l->mss); /* RFC 3465, L = 2 */
	} else {
		l->ca_acc += acked;
		if (l->ca_acc >= l->cwnd) {
			l->ca_acc -= l->cwnd;
			l->cwnd += l->mss;
		}
	}
	/* Bounded: no point in a window far beyond what the peer or our ring can take. */
	l->cwnd = u32_min(l->cwnd, u32_max(l->max_snd_wnd, l->snd.cap) + 4u * l->mss);

	l->dupacks = 0;
	l->snd_una = s->ack;
	if (sq_lt(l->snd_nxt, l->snd_una))
		l->snd_nxt = l->snd_una;
	ranges_trim(&l->sack, s->ack);
	l->rto_at = 0;
	rto_restart(l, now);
}

/* RFC 5681 §2's duplicate ACK (SACK blocks that say something new count too, RFC 6675). */
static void dup_ack(struct stream_leg *l, const struct seg *s, uint32_t sacked_before, uint32_t now,
		    struct stream_out *out)
{
	bool outstanding = l->snd_max != l->snd_una;
	bool more_sacked = ranges_bytes(&l->sack) > sacked_before;
	if (!outstanding || s->len != 0 || (s->flags & (TH_SYN | TH_FIN)))
		return;
	if ((s->win << l->snd_ws) != l->snd_wnd && !more_sacked)
		return;
	l->n.dup_acks++;
	if (l->dupacks < 255)
		l->dupacks++;
	if (l->in_recovery) {
		if (!l->sack_ok)
			l->cwnd += l->mss; /* RFC 6582: inflate per duplicate */
		return;
	}
	/* RFC 6582 §3.2 (1): not again for losses of the flight already recovered. */
	bool lost = l->dupacks >= 3 || (l->sack_ok && ranges_bytes(&l->sack) >= 3u * l->mss);
	if (lost && sq_lt(l->recover, s->ack))
		enter_recovery(l, now, out);
}

/* The send window (RFC 9293 §3.10.7.4, fifth check): only from a segment no older than the
 * one that last set it. */
static void update_window(struct stream_leg *l, const struct seg *s)
{
	if (sq_lt(s->ack, l->snd_una))
		return; /* RFC 9293: only SND.UNA =< SEG.ACK */
	if (sq_lt(l->snd_wl1, s->seq) || (l->snd_wl1 == s->seq && sq_le(l->snd_wl2, s->ack))) {
		l->snd_wnd = s->win << l->snd_ws;
		l->snd_wl1 = s->seq;
		l->snd_wl2 = s->ack;
		if (l->snd_wnd > l->max_snd_wnd)
			l->max_snd_wnd = l->snd_wnd;
	}
}

/* ---- the receive side ------------------------------------------------------------------ */

static void fin_in(struct stream_leg *l, uint32_t now)
{
	l->rcv_nxt++;
	l->fin_rcvd = 1;
	l->fin_ahead = false;
	l->ack_now = 1;
	switch (l->state) {
	case STREAM_SYN_RCVD:
	case STREAM_ESTABLISHED:
		l->state = STREAM_CLOSE_WAIT;
		break;
	case STREAM_FIN_WAIT_1:
		l->state = STREAM_CLOSING;
		break;
	case STREAM_FIN_WAIT_2:
		l->state = STREAM_TIME_WAIT;
		l->close_at = at(now, l->cfg->time_wait_ms);
		break;
	default:
		break;
	}
}

/* Take the segment's bytes: in order into the ring (then whatever out-of-order bytes it made
 * contiguous), beyond rcv_nxt as a range. */
static void data_in(struct stream_leg *l, const struct seg *s, uint32_t now)
{
	uint32_t seq = s->seq, len = s->len;
	const uint8_t *d = s->data;
	bool fin = (s->flags & TH_FIN) != 0;
	if (sq_lt(seq, l->rcv_nxt)) { /* already have the front */
		uint32_t skip = l->rcv_nxt - seq;
		if (skip >= len) {
			len = 0;
		} else {
			len -= skip;
			d += skip;
		}
		seq = l->rcv_nxt;
		if (len == 0 && sq_lt(s->seq + s->len, l->rcv_nxt))
			fin = false; /* an old FIN we already took */
	}
	uint32_t edge = l->rcv.head + l->rcv.cap;
	if (sq_lt(edge, seq + len)) { /* beyond the ring: cut, and the FIN with it */
		len = sq_lt(seq, edge) ? edge - seq : 0;
		fin = false;
		l->ack_now = 1; /* say where the window is (a zero-window probe gets its answer) */
	}
	if (len > 0) {
		uint32_t put = ring_put(&l->rcv, l->cfg->pool, seq, d, len);
		if (put < len) {
			l->n.nobufs++;
			fin = false;
			len = put;
			l->ack_now = 1;
		}
	}
	if (seq == l->rcv_nxt) {
		if (len > 0) /* only bytes in order are progress: an out-of-order byte resent
			      * forever must not keep an idle connection alive */
			l->last_progress = now;
		bool had_ooo = l->ooo.n > 0;
		l->rcv_nxt += len;
		/* Pull the ranges this made contiguous. */
		for (bool moved = true; moved && l->ooo.n > 0;) {
			moved = false;
			for (uint8_t i = 0; i < l->ooo.n; i++) {
				if (sq_le(l->ooo.lo[i], l->rcv_nxt)) {
					l->rcv_nxt = sq_max(l->rcv_nxt, l->ooo.hi[i]);
					moved = true;
				}
			}
			ranges_trim(&l->ooo, l->rcv_nxt);
		}
		l->rcv.len = l->rcv_nxt - l->rcv.head;
		if (l->fin_ahead && sq_lt(l->fin_seq, l->rcv_nxt))
			l->fin_ahead = false; /* a FIN the bytes went past: a lie, forgotten */
		if (had_ooo) {
			l->ack_now = 1; /* RFC 5681 §4.2: at once when a hole fills */
		} else if (len > 0) {
			if (++l->delack_segs >= 2)
				l->ack_now = 1;
			else if (l->dack_at == 0)
				l->dack_at = at(now, l->cfg->delack_ms);
		}
		if (fin && seq + len == l->rcv_nxt)
			fin_in(l, now);
		else if (fin)
			l->fin_ahead = true, l->fin_seq = s->seq + s->len;
		if (l->fin_ahead && l->fin_seq == l->rcv_nxt)
			fin_in(l, now);
	} else if (len > 0) {
		/* Out of order: keep it, and say so at once with SACK (RFC 5681 §4.2). */
		if (ranges_add(&l->ooo, seq, seq + len, true))
			l->n.ooo_segments++;
		else
			l->n.ooo_dropped++;
		if (fin) {
			l->fin_ahead = true;
			l->fin_seq = seq + len;
		}
		l->ack_now = 1;
	} else if (fin) {
		l->fin_ahead = true;
		l->fin_seq = seq;
		l->ack_now = 1;
	}
}

/* ---- segment arrives ------------------------------------------------------------------- */

static void in_syn_sent(struct stream_leg *l, const struct net_pkt *p, const struct seg *s,
			uint32_t now, struct stream_out *out)
{
	bool ack = (s->flags & TH_ACK) != 0;
	if (ack && (sq_le(s->ack, l->iss) || sq_lt(l->snd_max, s->ack))) {
		if (!(s->flags & TH_RST))
			send_rst(l, s->ack, 0, false, now, out);
		return;
	}
	if (s->flags & TH_RST) {
		if (ack)
			close_leg(l, STREAM_END_REFUSED);
		return;
	}
	if (!(s->flags & TH_SYN) || !ack)
		return; /* simultaneous open is not a thing a pod does to a gateway */
	syn_ack_options(l, p, s->seq);
	l->snd_una = s->ack;
	l->snd_wnd = s->win; /* never scaled in a SYN */
	l->max_snd_wnd = l->snd_wnd;
	l->snd_wl1 = s->seq;
	l->snd_wl2 = s->ack;
	if (l->backoff == 0) {
		if (l->ts_ok && p->tcp_tsecr != 0)
			rtt_sample(l, tsval_now(l, now) - p->tcp_tsecr);
	}
	l->rto_at = 0;
	established(l); /* reads the backoff (RFC 6298 §5.7) */
	l->backoff = 0;
	l->last_progress = now;
	l->ack_now = 1;
}

void stream_input(struct stream_leg *l, const struct rte_mbuf *m, const struct net_pkt *p,
		  uint32_t now, struct stream_out *out)
{
	if (l->state == STREAM_CLOSED)
		return;
	const uint8_t *base = rte_pktmbuf_mtod(m, const uint8_t *);
	const struct rte_tcp_hdr *th = (const struct rte_tcp_hdr *)(base + p->l2_len + p->l3_len);
	struct seg s = {
		.seq = rte_be_to_cpu_32(th->sent_seq),
		.ack = rte_be_to_cpu_32(th->recv_ack),
		.win = rte_be_to_cpu_16(th->rx_win),
		.len = p->payload_len,
		.flags = p->tcp_flags,
		.data = base + p->l2_len + p->l3_len + p->l4_len,
		.sack = (const uint8_t *)th + p->tcp_sack_off,
	};
	l->n.seg_in++;

	if (l->state == STREAM_SYN_SENT) {
		in_syn_sent(l, p, &s, now, out);
		stream_output(l, now, out);
		return;
	}
	bool rst = (s.flags & TH_RST) != 0;

	/* SYN-RECEIVED: the peer sent its SYN again (our SYN-ACK was lost). */
	if (l->state == STREAM_SYN_RCVD && (s.flags & TH_SYN) && !(s.flags & TH_ACK) &&
	    s.seq == l->irs) {
		if (l->last_challenge != 0 && (int32_t)(now - l->last_challenge) < 10)
			return; /* rate limited like every other answer */
		l->last_challenge = at(now, 0);
		if (send_segment(l, l->iss, TH_SYN | TH_ACK, 0, now, out))
			l->n.retransmits++;
		return;
	}

	/* PAWS (RFC 7323 §5.3): an older timestamp than the last in-window one is a duplicate. */
	if (l->ts_ok && p->tcp_has_ts && !rst && sq_lt(p->tcp_tsval, l->ts_recent)) {
		l->n.paws_drops++;
		limited_ack(l, now, out);
		return;
	}

	/* Acceptability (RFC 9293 §3.10.7.4, first check), against what we advertised. */
	uint32_t wnd = sq_lt(l->rcv_nxt, l->rcv_adv) ? l->rcv_adv - l->rcv_nxt : 0;
	uint32_t seglen = s.len + ((s.flags & TH_SYN) ? 1 : 0) + ((s.flags & TH_FIN) ? 1 : 0);
	bool ok;
	if (seglen == 0)
		ok = wnd == 0 ? s.seq == l->rcv_nxt
			      : sq_le(l->rcv_nxt, s.seq) && sq_le(s.seq, l->rcv_nxt + wnd);
	else if (wnd == 0)
		ok = s.seq == l->rcv_nxt && !(s.flags & TH_SYN); /* only its ACK counts */
	else
		ok = (sq_le(l->rcv_nxt, s.seq) && sq_lt(s.seq, l->rcv_nxt + wnd)) ||
		     (sq_le(l->rcv_nxt, s.seq + seglen - 1) &&
		      sq_lt(s.seq + seglen - 1, l->rcv_nxt + wnd));
	if (!ok) {
		if (!rst) {
			l->n.out_of_window++;
			/* The peer's FIN again, exactly (our ACK of it was lost): TIME-WAIT starts
			 * over. Nothing else restarts it, so forged FINs cannot hold it open. */
			if (l->state == STREAM_TIME_WAIT && (s.flags & TH_FIN) &&
			    s.seq + s.len + 1 == l->rcv_nxt)
				l->close_at = at(now, l->cfg->time_wait_ms);
			/* Rate limited like challenge ACKs (a flood of forged segments gets no
			 * flood of answers). */
			limited_ack(l, now, out);
		}
		return;
	}

	/* RST (RFC 5961 §3.2): exact → reset; in the window → challenge. */
	if (rst) {
		if (l->state == STREAM_TIME_WAIT)
			return; /* RFC 1337: no assassination of TIME-WAIT */
		if (s.seq == l->rcv_nxt)
			close_leg(l, STREAM_END_RESET);
		else
			challenge_ack(l, now, out);
		return;
	}
	/* SYN in a synchronized state (RFC 5961 §4.2): challenge, whatever its sequence. */
	if (s.flags & TH_SYN) {
		challenge_ack(l, now, out);
		return;
	}
	if (!(s.flags & TH_ACK))
		return;

	/* ACK (RFC 5961 §5.2): acceptable from snd_una - max window up to what we sent. */
	if (l->state == STREAM_SYN_RCVD) {
		if (!sq_lt(l->snd_una, s.ack) || sq_lt(l->snd_max, s.ack)) {
			send_rst(l, s.ack, 0, false, now, out);
			return;
		}
		l->snd_wnd = s.win << l->snd_ws;
		l->max_snd_wnd = l->snd_wnd;
		l->snd_wl1 = s.seq;
		l->snd_wl2 = s.ack;
		if (l->ts_ok && p->tcp_has_ts && p->tcp_tsecr != 0 && l->backoff == 0)
			rtt_sample(l, tsval_now(l, now) - p->tcp_tsecr);
		l->snd_una = s.ack;
		l->rto_at = 0;
		established(l); /* reads the backoff (RFC 6298 §5.7) */
		l->backoff = 0;
		l->last_progress = now;
	}
	if (sq_lt(l->snd_max, s.ack)) {
		limited_ack(l, now, out); /* acknowledges what we never sent */
		return;
	}
	if (sq_lt(s.ack, l->snd_una - l->max_snd_wnd)) {
		challenge_ack(l, now, out);
		return;
	}

	/* RFC 7323 §4.3: TS.Recent from a segment covering the left edge. */
	if (l->ts_ok && p->tcp_has_ts && sq_le(s.seq, l->last_ack_sent))
		l->ts_recent = p->tcp_tsval;

	l->probes_out = 0; /* the peer answers */
	uint32_t sacked_before = ranges_bytes(&l->sack);
	if (p->tcp_sack_blocks)
		take_sack(l, p, &s);
	uint32_t old_wnd = l->snd_wnd;
	if (sq_lt(l->snd_una, s.ack))
		new_ack(l, p, &s, now, out);
	else if (s.ack == l->snd_una)
		dup_ack(l, &s, sacked_before, now, out);
	update_window(l, &s);
	if (old_wnd == 0 && l->snd_wnd > 0) {
		l->persist_backoff = 0;
		l->last_progress = now;
	}

	/* Our FIN acknowledged? */
	bool fin_acked = l->fin_queued && l->snd_una == data_end(l) + 1;
	if (fin_acked) {
		switch (l->state) {
		case STREAM_FIN_WAIT_1:
			l->state = STREAM_FIN_WAIT_2;
			l->close_at = at(now, l->cfg->fin_wait_ms);
			break;
		case STREAM_CLOSING:
			l->state = STREAM_TIME_WAIT;
			l->close_at = at(now, l->cfg->time_wait_ms);
			break;
		case STREAM_LAST_ACK:
			close_leg(l, STREAM_END_DONE);
			return;
		default:
			break;
		}
	}
	if (l->state == STREAM_TIME_WAIT) {
		if (s.flags & TH_FIN)
			l->ack_now = 1;
		stream_output(l, now, out);
		return;
	}

	/* Data and FIN, where the peer may still send. */
	switch (l->state) {
	case STREAM_ESTABLISHED:
	case STREAM_FIN_WAIT_1:
	case STREAM_FIN_WAIT_2:
		if (s.len > 0 || (s.flags & TH_FIN)) {
			uint8_t st = l->state;
			data_in(l, &s, now);
			if (st == STREAM_FIN_WAIT_2 && l->state == STREAM_FIN_WAIT_2 && s.len > 0)
				l->close_at = at(now, l->cfg->fin_wait_ms); /* still sending */
		}
		break;
	default:
		if (s.len > 0 || (s.flags & TH_FIN))
			l->ack_now = 1; /* after its FIN: only acknowledge (RFC 9293 §3.10.7.4) */
		break;
	}
	stream_output(l, now, out);
}
