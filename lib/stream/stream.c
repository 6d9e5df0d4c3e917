/*
 * stream.c: a leg's life — opening (passive and active), the owner's reads, writes and closes,
 * and the timers (retransmission, delayed ACK, zero-window probe, TIME-WAIT and FIN-WAIT-2).
 */
#include <string.h>

#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "stream/stream-int.h"

bool stream_cfg_defaults(struct stream_cfg *cfg)
{
	if (cfg->rcv_buf == 0)
		cfg->rcv_buf = 64 * 1024;
	if (cfg->snd_buf == 0)
		cfg->snd_buf = 64 * 1024;
	if (cfg->mss == 0)
		cfg->mss = 1460;
	if (cfg->rto_min_ms == 0)
		cfg->rto_min_ms = 200;
	if (cfg->rto_init_ms == 0)
		cfg->rto_init_ms = 1000;
	if (cfg->rto_max_ms == 0)
		cfg->rto_max_ms = 60000;
	if (cfg->delack_ms == 0)
		cfg->delack_ms = 40;
	if (cfg->time_wait_ms == 0)
		cfg->time_wait_ms = 4000;
	if (cfg->fin_wait_ms == 0)
		cfg->fin_wait_ms = 30000;
	if (cfg->max_retries == 0)
		cfg->max_retries = 8;
	/* A segment (IPv4, TCP with 40 bytes of options, data) is built in one slot-sized mbuf. */
	if (cfg->mss > STREAM_SLOT - 80)
		cfg->mss = STREAM_SLOT - 80;
	uint32_t most = (STREAM_RING_SLOTS - 1) * STREAM_SLOT;
	cfg->rcv_buf = u32_min(cfg->rcv_buf, most);
	cfg->snd_buf = u32_min(cfg->snd_buf, most);
	return cfg->pool != NULL &&
	       rte_pktmbuf_data_room_size(cfg->pool) >= RTE_PKTMBUF_HEADROOM + STREAM_SLOT;
}

/* The window scale that lets the receive ring's capacity be advertised. */
static uint8_t scale_for(uint32_t cap)
{
	uint8_t ws = 0;
	while ((cap >> ws) > 65535 && ws < 14)
		ws++;
	return ws;
}

/* What a ring of `bytes` really holds (ring_init's rounding and cap). */
static uint32_t ring_cap(uint32_t bytes)
{
	struct stream_ring r;
	ring_init(&r, bytes, 0);
	return r.cap;
}

/* RFC 6928's initial window. */
static uint32_t initial_window(uint16_t mss)
{
	return u32_min(10u * mss, u32_max(2u * mss, 14600));
}

static void leg_init(struct stream_leg *l, const struct stream_cfg *cfg, uint32_t local_ip,
		     uint16_t local_port, uint32_t remote_ip, uint16_t remote_port, uint32_t iss)
{
	memset(l, 0, sizeof(*l));
	l->cfg = cfg;
	l->local_ip = local_ip, l->remote_ip = remote_ip;
	l->local_port = local_port, l->remote_port = remote_port;
	l->iss = iss;
	l->snd_una = l->snd_nxt = l->snd_max = iss;
	l->ts_off = iss * 2654435761u; /* per-connection offset, RFC 7323 §5.4 */
	l->rexmit_ts = l->ts_off;
	l->rto = cfg->rto_init_ms;
	l->ssthresh = UINT32_MAX / 2;
	l->recover = iss; /* RFC 6582 §3.2 */
	l->mss = cfg->mss;
	l->cwnd = initial_window(l->mss);
	ring_init(&l->snd, cfg->snd_buf, iss + 1);
}

/* The payload of a full segment: the peer's MSS (RFC 9293 §3.7.1: 536 when it sent none),
 * capped by ours, less the timestamps option every segment then carries (RFC 6691: the MSS
 * counts data only, so options come out of it). */
static uint16_t send_mss(const struct stream_cfg *cfg, uint16_t peer_mss, bool ts)
{
	/* A peer's tiny MSS would make us send a segment per few bytes: at least 64 bytes of data
	 * (floored before the options come off, so nothing can wrap). */
	uint32_t mss = u32_max(u32_min(cfg->mss, peer_mss ? peer_mss : 536), ts ? 76u : 64u);
	return (uint16_t)(ts ? mss - 12 : mss);
}

/* The options a SYN from the peer settled (the peer's part; ours follow from cfg). */
static void take_syn_options(struct stream_leg *l, uint16_t mss, uint8_t wscale, bool sack_ok,
			     bool has_ts, uint32_t tsval)
{
	const struct stream_cfg *cfg = l->cfg;
	l->ts_ok = cfg->ts && has_ts;
	l->sack_ok = cfg->sack && sack_ok;
	l->ws_ok = cfg->ws && wscale != NET_WSCALE_NONE;
	l->snd_ws = l->ws_ok ? (wscale > 14 ? 14 : wscale) : 0;
	if (!l->ws_ok)
		l->rcv_ws = 0;
	l->mss = send_mss(cfg, mss, l->ts_ok);
	l->cwnd = initial_window(l->mss);
	if (l->ts_ok)
		l->ts_recent = tsval;
}

void stream_syn_of(const struct rte_mbuf *m, const struct net_pkt *p, struct stream_syn *s)
{
	const struct rte_tcp_hdr *th =
		rte_pktmbuf_mtod_offset(m, const struct rte_tcp_hdr *, p->l2_len + p->l3_len);
	*s = (struct stream_syn){
		.local_ip = p->dst_ip,
		.remote_ip = p->src_ip,
		.local_port = p->dst_port,
		.remote_port = p->src_port,
		.isn = rte_be_to_cpu_32(th->sent_seq),
		.mss = p->tcp_mss,
		.wscale = p->tcp_wscale,
		.sack_ok = p->tcp_sack_ok,
		.has_ts = p->tcp_has_ts,
		.tsval = p->tcp_tsval,
	};
}

bool stream_accept(struct stream_leg *l, const struct stream_cfg *cfg, const struct stream_syn *s,
		   uint32_t iss, uint32_t now, struct stream_out *out)
{
	leg_init(l, cfg, s->local_ip, s->local_port, s->remote_ip, s->remote_port, iss);
	l->rcv_ws = scale_for(ring_cap(cfg->rcv_buf));
	take_syn_options(l, s->mss, s->wscale, s->sack_ok, s->has_ts, s->tsval);
	if (!l->ws_ok && cfg->rcv_buf > 65535)
		l->rcv_ws = 0; /* the ring stays larger than what we can announce: harmless */
	l->irs = s->isn;
	l->rcv_nxt = s->isn + 1;
	ring_init(&l->rcv, cfg->rcv_buf, l->rcv_nxt);
	l->rcv_adv = l->rcv_nxt;
	l->state = STREAM_SYN_RCVD;
	if (!send_segment(l, iss, TH_SYN | TH_ACK, 0, now, out)) {
		l->state = STREAM_CLOSED;
		return false;
	}
	l->snd_nxt = l->snd_max = iss + 1;
	l->rto_at = at(now, l->rto);
	return true;
}

bool stream_connect(struct stream_leg *l, const struct stream_cfg *cfg, uint32_t local_ip,
		    uint16_t local_port, uint32_t remote_ip, uint16_t remote_port, uint32_t iss,
		    uint32_t now, struct stream_out *out)
{
	leg_init(l, cfg, local_ip, local_port, remote_ip, remote_port, iss);
	/* Offer everything configured; the SYN-ACK says what the peer takes. */
	l->ts_ok = cfg->ts, l->sack_ok = cfg->sack, l->ws_ok = cfg->ws;
	l->rcv_ws = cfg->ws ? scale_for(ring_cap(cfg->rcv_buf)) : 0;
	l->state = STREAM_SYN_SENT;
	ring_init(&l->rcv, cfg->rcv_buf, 0); /* the SYN announces the ring; the SYN-ACK places it */
	if (!send_segment(l, iss, TH_SYN, 0, now, out)) {
		l->state = STREAM_CLOSED;
		return false;
	}
	l->snd_nxt = l->snd_max = iss + 1;
	l->rto_at = at(now, l->rto);
	return true;
}

bool stream_adopt(struct stream_leg *l, const struct stream_cfg *cfg,
		  const struct stream_adopted *a, const void *data, uint32_t len, uint32_t now)
{
	leg_init(l, cfg, a->local_ip, a->local_port, a->remote_ip, a->remote_port, a->iss);
	/* What the handshake agreed holds whatever cfg would offer: the peer relies on it. */
	l->ts_ok = a->ts_ok, l->sack_ok = a->sack_ok, l->ws_ok = a->ws_ok;
	l->snd_ws = a->ws_ok ? (a->snd_ws > 14 ? 14 : a->snd_ws) : 0;
	l->rcv_ws = a->ws_ok ? (a->rcv_ws > 14 ? 14 : a->rcv_ws) : 0;
	l->mss = send_mss(cfg, a->mss, a->ts_ok);
	l->cwnd = initial_window(l->mss);
	if (a->ts_ok) {
		l->ts_recent = a->ts_recent;
		l->ts_off = a->tsval - now;
		l->rexmit_ts = a->tsval;
	}
	l->irs = a->irs;
	l->rcv_nxt = a->irs + 1;
	ring_init(&l->rcv, cfg->rcv_buf, l->rcv_nxt);
	l->snd_una = l->snd_nxt = l->snd_max = a->iss + 1;
	l->recover = l->snd_una;
	l->snd_wnd = l->max_snd_wnd = a->snd_wnd;
	l->snd_wl1 = l->rcv_nxt, l->snd_wl2 = l->snd_una;
	if (len > l->rcv.cap || ring_put(&l->rcv, cfg->pool, l->rcv_nxt, data, len) != len) {
		ring_clear(&l->rcv);
		l->state = STREAM_CLOSED;
		return false;
	}
	l->rcv.len = len;
	l->rcv_nxt += len;
	l->last_ack_sent = l->rcv_nxt; /* the owner acknowledged them */
	/* Never pull back an edge the peer was shown; never past the ring. */
	uint32_t ring_end = l->rcv.head + l->rcv.cap;
	l->rcv_adv = sq_lt(ring_end, a->rcv_adv) ? ring_end : a->rcv_adv;
	if (sq_lt(l->rcv_adv, l->rcv_nxt))
		l->rcv_adv = l->rcv_nxt;
	l->last_progress = now;
	l->state = STREAM_ESTABLISHED;
	return true;
}

/* The handshake finished (our SYN was acknowledged). */
void established(struct stream_leg *l)
{
	/* RFC 6298 §5.7: after a lost SYN or SYN-ACK, and with no sample, data starts at 3 s. */
	if (l->backoff > 0 && l->srtt8 == 0)
		l->rto = u32_min(u32_max(l->rto, 3000), l->cfg->rto_max_ms);
	l->state = l->fin_queued ? STREAM_FIN_WAIT_1 : STREAM_ESTABLISHED;
}

/* The peer's SYN-ACK settled the options (active open). */
void syn_ack_options(struct stream_leg *l, const struct net_pkt *p, uint32_t seq)
{
	bool ts = l->ts_ok && p->tcp_has_ts, sack = l->sack_ok && p->tcp_sack_ok;
	bool ws = l->ws_ok && p->tcp_wscale != NET_WSCALE_NONE;
	uint8_t rcv_ws = l->rcv_ws;
	take_syn_options(l, p->tcp_mss, ws ? p->tcp_wscale : NET_WSCALE_NONE, sack, ts,
			 p->tcp_tsval);
	l->rcv_ws = ws ? rcv_ws : 0;
	l->irs = seq;
	l->rcv_nxt = seq + 1;
	ring_init(&l->rcv, l->cfg->rcv_buf, l->rcv_nxt);
	l->rcv_adv = l->rcv_nxt;
}

/* ---- the owner's side ---------------------------------------------------------------------- */

uint32_t stream_read(struct stream_leg *l, void *dst, uint32_t n)
{
	n = u32_min(n, l->rcv.len);
	if (n == 0)
		return 0;
	ring_get(&l->rcv, l->rcv.head, dst, n);
	ring_consume(&l->rcv, n);
	if (l->ooo.n == 0)
		ring_idle(&l->rcv);
	return n;
}

uint32_t stream_writable(const struct stream_leg *l)
{
	if (l->fin_queued)
		return 0;
	switch (l->state) {
	case STREAM_SYN_SENT:
	case STREAM_SYN_RCVD:
	case STREAM_ESTABLISHED:
	case STREAM_CLOSE_WAIT:
		return l->snd.cap - l->snd.len;
	default:
		return 0;
	}
}

uint32_t stream_write(struct stream_leg *l, const void *src, uint32_t n)
{
	n = u32_min(n, stream_writable(l));
	if (n == 0)
		return 0;
	uint32_t put = ring_put(&l->snd, l->cfg->pool, data_end(l), src, n);
	if (put < n)
		l->n.nobufs++;
	l->snd.len += put;
	return put;
}

void stream_shutdown(struct stream_leg *l)
{
	if (l->fin_queued)
		return;
	switch (l->state) {
	case STREAM_SYN_SENT:
	case STREAM_SYN_RCVD:
		l->fin_queued = 1; /* sent once the handshake is done */
		break;
	case STREAM_ESTABLISHED:
		l->fin_queued = 1;
		l->state = STREAM_FIN_WAIT_1;
		break;
	case STREAM_CLOSE_WAIT:
		l->fin_queued = 1;
		l->state = STREAM_LAST_ACK;
		break;
	default:
		break;
	}
}

void close_leg(struct stream_leg *l, enum stream_end why)
{
	l->state = STREAM_CLOSED;
	l->end = (uint8_t)why;
	l->rto_at = l->dack_at = l->persist_at = l->close_at = 0;
}

void stream_abort(struct stream_leg *l, uint32_t now, struct stream_out *out)
{
	if (l->state == STREAM_CLOSED)
		return;
	if (l->state != STREAM_SYN_SENT && l->state != STREAM_TIME_WAIT)
		send_rst(l, l->snd_max, 0, false, now, out);
	close_leg(l, STREAM_END_ABORT);
}

void stream_release(struct stream_leg *l)
{
	ring_clear(&l->rcv);
	ring_clear(&l->snd);
	l->ooo.n = 0;
	l->sack.n = 0;
}

/* ---- timers -------------------------------------------------------------------------------- */

uint32_t stream_deadline(const struct stream_leg *l)
{
	uint32_t t[4] = {l->rto_at, l->dack_at, l->persist_at, l->close_at}, best = 0;
	for (int i = 0; i < 4; i++)
		if (t[i] != 0 && (best == 0 || sq_lt(t[i], best)))
			best = t[i];
	return best;
}

static void on_rto(struct stream_leg *l, uint32_t now, struct stream_out *out)
{
	l->rto_at = 0;
	l->n.timeouts++;
	if (++l->backoff > l->cfg->max_retries) {
		if (l->state != STREAM_SYN_SENT)
			send_rst(l, l->snd_max, 0, false, now, out);
		close_leg(l, STREAM_END_TIMEOUT);
		return;
	}
	l->rtt_timing = false;
	if (l->state == STREAM_SYN_SENT || l->state == STREAM_SYN_RCVD) {
		/* RFC 6298 §5.7: after a lost SYN the first data RTO is 3 s; the backoff does it.
		 */
		uint8_t flags = l->state == STREAM_SYN_SENT ? TH_SYN : TH_SYN | TH_ACK;
		if (send_segment(l, l->iss, flags, 0, now, out))
			l->n.retransmits++;
		rto_restart(l, now);
		return;
	}
	/* RFC 5681 §3.1 (7): one segment, half the flight as the threshold; go back to the first
	 * unacknowledged byte; SACK information may be reneged (RFC 2018 §8), so forget it. */
	uint32_t flight = l->snd_max - l->snd_una;
	l->ssthresh = u32_max(flight / 2, 2u * l->mss);
	l->cwnd = l->mss;
	l->ca_acc = 0;
	l->in_recovery = 0;
	l->recover = l->snd_max - 1;
	l->dupacks = 0;
	l->sack.n = 0;
	l->snd_nxt = l->snd_una;
	stream_output(l, now, out);
	rto_restart(l, now);
}

static void on_persist(struct stream_leg *l, uint32_t now, struct stream_out *out)
{
	/* A peer that answers no probe is gone (as Linux counts them): give up like an RTO. */
	if (++l->probes_out > l->cfg->max_retries) {
		send_rst(l, l->snd_max, 0, false, now, out);
		close_leg(l, STREAM_END_TIMEOUT);
		return;
	}
	/* A probe below the window: the peer answers with an ACK carrying its window. */
	if (send_segment(l, l->snd_una - 1, TH_ACK, 0, now, out))
		l->n.probes++;
	if (l->persist_backoff < 16)
		l->persist_backoff++;
	l->persist_at = at(now, backed_off(l->rto, l->persist_backoff, l->cfg->rto_max_ms));
}

void stream_timer(struct stream_leg *l, uint32_t now, struct stream_out *out)
{
	if (l->state == STREAM_CLOSED)
		return;
	if (due(now, l->close_at)) {
		bool tw = l->state == STREAM_TIME_WAIT;
		if (!tw)
			send_rst(l, l->snd_max, 0, false, now, out);
		close_leg(l, tw ? STREAM_END_DONE : STREAM_END_TIMEOUT);
		return;
	}
	if (due(now, l->rto_at)) {
		on_rto(l, now, out);
		if (l->state == STREAM_CLOSED)
			return;
	}
	if (due(now, l->persist_at)) {
		on_persist(l, now, out);
		if (l->state == STREAM_CLOSED)
			return;
	}
	if (due(now, l->dack_at)) {
		l->dack_at = 0;
		send_ack(l, now, out);
	}
}

const char *stream_state_name(enum stream_state s)
{
	static const char *const names[] = {
		[STREAM_CLOSED] = "CLOSED",	    [STREAM_SYN_SENT] = "SYN-SENT",
		[STREAM_SYN_RCVD] = "SYN-RECEIVED", [STREAM_ESTABLISHED] = "ESTABLISHED",
		[STREAM_FIN_WAIT_1] = "FIN-WAIT-1", [STREAM_FIN_WAIT_2] = "FIN-WAIT-2",
		[STREAM_CLOSE_WAIT] = "CLOSE-WAIT", [STREAM_CLOSING] = "CLOSING",
		[STREAM_LAST_ACK] = "LAST-ACK",	    [STREAM_TIME_WAIT] = "TIME-WAIT",
	};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *stream_end_name(enum stream_end e)
{
	static const char *const names[] = {
		[STREAM_END_NONE] = "open",   [STREAM_END_DONE] = "done",
		[STREAM_END_RESET] = "reset", [STREAM_END_TIMEOUT] = "timeout",
		[STREAM_END_ABORT] = "abort", [STREAM_END_REFUSED] = "refused",
	};
	return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "?";
}
