/*
 * splice.c: the spliced connection (step 7) — every packet rewritten in place.
 *
 * Once the pod has accepted, the gateway keeps no payload: each packet's MACs, addresses and
 * ports are swapped to the other leg, and the fields that differ between the two sequence
 * spaces are translated (D = cookie ISN − pod ISN, T = timestamp offset):
 *
 *   field             client → pod                     pod → client
 *   sequence          unchanged (pod SYN had x)        + D
 *   acknowledgement   − D                              unchanged
 *   window            rescaled if the pod declined WS  pod scale → ours, clamped to 65535
 *   SACK blocks       − D                              —
 *   TSval             + P                              + T
 *   TSecr             − T                              − P
 *
 * T maps the pod's clock to the one the client has seen from the gateway; P maps the client's
 * clock to the gateway's own clock for its SNAT address (the SYN to the pod carries that
 * clock, monotonic across connections, so a pod holding an old connection's 4-tuple in
 * TIME-WAIT accepts the new SYN: RFC 7323 PAWS).
 *
 * Checksums are updated incrementally (RFC 1624) on ports without offload — a few adds per
 * field, the same for a 60-byte ACK and a 9000-byte segment — or left to the NIC. A spliced
 * packet touches the first cache line of the connection only (tcp-t.h asserts it).
 *
 * Per-request routing (rebind.c) gets a look at client data segments of tracked connections
 * first; FIN and RST are tracked here to close the connection.
 */
#include "tcp/tcp-int.h"

#include <string.h>

#include <rte_ip.h>

/* What one direction rewrites. */
struct splice_fix {
	const struct rte_ether_addr *dmac, *smac;
	uint32_t sip, dip;
	uint16_t sport, dport;
	bool fix_ack;	/* client → pod: ack − D (else pod → client: seq + D) */
	uint32_t delta; /* D */
	uint8_t win_in, win_out;
	uint32_t tsval_add, tsecr_sub; /* TSval + tsval_add, TSecr − tsecr_sub */
	bool ts;
	bool sack; /* SACK edges − D (client → pod) */
};

static inline uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* Rewrite m in place per x; no connection state is read or written. */
static inline void tcpl_rewrite(struct rte_mbuf *m, const struct net_pkt *p, unsigned offloads,
				const struct splice_fix *x)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, p->l2_len);
	struct rte_tcp_hdr *th =
		rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, p->l2_len + p->l3_len);
	uint8_t *tb = (uint8_t *)th;
	bool sw = !(offloads & (NET_OFFLOAD_IPV4_CKSUM | NET_OFFLOAD_TCP_CKSUM));
	uint16_t ipc = ip->hdr_checksum, tc = th->cksum;
	eh->dst_addr = *x->dmac;
	eh->src_addr = *x->smac;

	/* Sequence or acknowledgement. */
	uint32_t old = x->fix_ack ? th->recv_ack : th->sent_seq;
	uint32_t nw = old;
	if (!x->fix_ack)
		nw = rte_cpu_to_be_32(rte_be_to_cpu_32(old) + x->delta);
	else if (th->tcp_flags & RTE_TCP_ACK_FLAG)
		nw = rte_cpu_to_be_32(rte_be_to_cpu_32(old) - x->delta);
	if (sw)
		tc = net_cksum_adjust32(tc, old, nw);
	if (x->fix_ack)
		th->recv_ack = nw;
	else
		th->sent_seq = nw;

	/* Urgent data never reaches a pod: a receiver without SO_OOBINLINE takes the urgent byte
	 * out of the stream, so the pod would read other bytes than the framing checked
	 * ("Content-L[e]ngth"). The flag and pointer are cleared towards pods. */
	if (unlikely(x->fix_ack && (th->tcp_flags & RTE_TCP_URG_FLAG))) {
		uint16_t old_fl, new_fl;
		memcpy(&old_fl, tb + 12, 2);
		th->tcp_flags = (uint8_t)(th->tcp_flags & ~RTE_TCP_URG_FLAG);
		memcpy(&new_fl, tb + 12, 2);
		if (sw) {
			tc = net_cksum_adjust16(tc, old_fl, new_fl);
			tc = net_cksum_adjust16(tc, th->tcp_urp, 0);
		}
		th->tcp_urp = 0;
	}
	/* Window, across differing scales, clamped. */
	if (x->win_in != x->win_out) {
		uint32_t w = ((uint32_t)rte_be_to_cpu_16(th->rx_win) << x->win_in) >> x->win_out;
		uint16_t nwin = rte_cpu_to_be_16((uint16_t)(w > 65535 ? 65535 : w));
		if (sw)
			tc = net_cksum_adjust16(tc, th->rx_win, nwin);
		th->rx_win = nwin;
	}
	/* Timestamps: both fields, each by its own offset. */
	if (x->ts && p->tcp_ts_off) {
		uint8_t *at = tb + p->tcp_ts_off;
		uint32_t ov = rd32(at), oe = rd32(at + 4);
		uint32_t v = rte_cpu_to_be_32(rte_be_to_cpu_32(ov) + x->tsval_add);
		uint32_t e = rte_cpu_to_be_32(rte_be_to_cpu_32(oe) - x->tsecr_sub);
		if (sw) {
			tc = net_cksum_adjust32(tc, ov, v);
			tc = net_cksum_adjust32(tc, oe, e);
		}
		wr32(at, v);
		wr32(at + 4, e);
	}
	/* SACK blocks from the client name pod→client bytes in the client's (cookie) space. */
	if (x->sack && p->tcp_sack_blocks) {
		for (unsigned b = 0; b < 2u * p->tcp_sack_blocks; b++) {
			uint8_t *at = tb + p->tcp_sack_off + 4 * b;
			uint32_t o = rd32(at);
			uint32_t v = rte_cpu_to_be_32(rte_be_to_cpu_32(o) - x->delta);
			if (sw)
				tc = net_cksum_adjust32(tc, o, v);
			wr32(at, v);
		}
	}
	if (sw) {
		ipc = net_cksum_adjust32(ipc, ip->src_addr, x->sip);
		ipc = net_cksum_adjust32(ipc, ip->dst_addr, x->dip);
		tc = net_cksum_adjust32(tc, ip->src_addr, x->sip);
		tc = net_cksum_adjust32(tc, ip->dst_addr, x->dip);
		tc = net_cksum_adjust16(tc, th->src_port, x->sport);
		tc = net_cksum_adjust16(tc, th->dst_port, x->dport);
	}
	ip->src_addr = x->sip;
	ip->dst_addr = x->dip;
	th->src_port = x->sport;
	th->dst_port = x->dport;
	if (sw) {
		ip->hdr_checksum = ipc;
		th->cksum = tc;
	} else {
		net_ipv4_tcp_cksum_finish(m, p, offloads);
	}
}

void splice_to_pod(struct tcpl_ctx *c, struct conn *f, struct rte_mbuf *m, const struct net_pkt *p)
{
	struct splice_fix x = {.dmac = &f->pod_mac,
			       .smac = &c->ports[c->pod_pi].local->mac,
			       .sip = f->snat_ip,
			       .dip = f->pod_ip,
			       .sport = f->snat_port,
			       .dport = f->pod_port,
			       .fix_ack = true,
			       .delta = f->delta,
			       .win_in = f->c2p_in,
			       .win_out = f->c2p_out,
			       .tsval_add = f->ts_pod,
			       .tsecr_sub = f->ts_delta,
			       .ts = (f->opts & CONN_OPT_TS) != 0,
			       .sack = (f->opts & CONN_OPT_SACK) != 0};
	tcpl_rewrite(m, p, c->ports[c->pod_pi].offloads, &x);
}

void splice_to_client(struct tcpl_ctx *c, struct conn *f, struct rte_mbuf *m,
		      const struct net_pkt *p)
{
	struct splice_fix x = {.dmac = &f->client_mac,
			       .smac = &c->ports[f->client_pi].local->mac,
			       .sip = f->vip,
			       .dip = f->client_ip,
			       .sport = f->vip_port,
			       .dport = f->client_port,
			       .fix_ack = false,
			       .delta = f->delta,
			       .win_in = f->p2c_in,
			       .win_out = f->p2c_out,
			       .tsval_add = f->ts_delta,
			       .tsecr_sub = f->ts_pod,
			       .ts = (f->opts & CONN_OPT_TS) != 0,
			       .sack = false};
	tcpl_rewrite(m, p, c->ports[f->client_pi].offloads, &x);
}

/* FIN and RST seen from one side: the state they lead to. */
static enum conn_state track_close(const struct conn *f, uint8_t flags, uint8_t side, uint8_t *fins)
{
	if (flags & RTE_TCP_RST_FLAG)
		return CONN_CLOSED;
	if (flags & RTE_TCP_FIN_FLAG)
		*fins |= side;
	if ((*fins & (CONN_FIN_CLIENT | CONN_FIN_POD)) == (CONN_FIN_CLIENT | CONN_FIN_POD))
		return CONN_CLOSED;
	return (enum conn_state)f->state;
}

enum conn_state splice_from_client(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				   struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				   struct tcpl_tx *tx)
{
	if (p->payload_len) {
		uint32_t seq = rte_be_to_cpu_32(tcp_hdr_of(m, p)->sent_seq);
		if (unlikely(far_from(seq, f->pod_ack))) {
			stats_add(c->st, STATS_tcp_out_of_window, 1);
			rte_pktmbuf_free(m);
			return (enum conn_state)f->state;
		}
		if (unlikely(!(f->opts & CONN_OPT_TRACK) && seq_lt(seq, f->frame_lo) &&
			     conn_tls(c, f))) {
			/* The ClientHello was routed on the gateway's own copy, which the gateway
			 * delivered and acknowledged: a client's copy of those bytes (no honest
			 * client resends acknowledged bytes) could say something else. Refused. */
			stats_add(c->st, STATS_tcp_resend_refused, 1);
			rte_pktmbuf_free(m);
			return (enum conn_state)f->state;
		}
		if (unlikely(f->opts & CONN_OPT_TRACK)) {
			enum conn_state next;
			if (f->state == CONN_SPLICED &&
			    frame_from_client(c, idx, f, m, p, now, tx, &next))
				return next;
			/* Closing: only resent bytes the framing already passed may still go. */
			if (f->state == CONN_CLOSED &&
			    (seq_lt(f->frame, seq_add(seq, p->payload_len)) ||
			     !frame_resend_ok(c, f, seq, seq_add(seq, p->payload_len)))) {
				stats_add(c->st, STATS_tcp_resend_refused, 1);
				rte_pktmbuf_free(m);
				return CONN_CLOSED;
			}
		}
	}
	enum conn_state next = track_close(f, p->tcp_flags, CONN_FIN_CLIENT, &f->fins);
	splice_to_pod(c, f, m, p);
	stats_add(c->st, STATS_spliced_to_pod, 1);
	emit(tx, m, c->pod_pi, c->st);
	return next;
}

enum conn_state splice_from_pod(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				struct tcpl_tx *tx)
{
	const struct rte_tcp_hdr *th = tcp_hdr_of(m, p);
	uint8_t flags = p->tcp_flags;
	if ((flags & RTE_TCP_SYN_FLAG) && (flags & RTE_TCP_ACK_FLAG)) {
		/* Our ACK or the request was lost: the pod repeats its SYN-ACK. */
		if (f->opts & CONN_OPT_BUFFERED) {
			emit(tx, pod_segment(c, f, buf_start(f), RTE_TCP_ACK_FLAG, NULL, 0),
			     c->pod_pi, c->st);
			deliver(c, f, buf_start(f), seq_min(f->frame, client_next(f)), tx);
			stats_add(c->st, STATS_tcp_retransmits, 1);
		}
		rte_pktmbuf_free(m);
		return (enum conn_state)f->state;
	}
	if ((flags & RTE_TCP_ACK_FLAG) && !(flags & RTE_TCP_RST_FLAG)) {
		uint32_t ack = rte_be_to_cpu_32(th->recv_ack);
		if (seq_lt(f->pod_ack, ack))
			f->pod_ack = ack;
	}
	enum conn_state next = track_close(f, flags, CONN_FIN_POD, &f->fins);
	if (unlikely(f->fr & CONN_FR_UPGRADE) && p->payload_len && next == CONN_SPLICED)
		next = upgrade_verdict(c, idx, f, p, payload_of(m, p),
				       rte_be_to_cpu_32(th->sent_seq), now, tx);
	if (unlikely(f->opts & CONN_OPT_BUFFERED))
		buf_acked(c, idx, f);
	splice_to_client(c, f, m, p);
	stats_add(c->st, STATS_spliced_to_client, 1);
	emit(tx, m, f->client_pi, c->st);
	return next;
}

enum conn_state splice_timer(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			     struct tcpl_tx *tx)
{
	if (!(f->opts & CONN_OPT_BUFFERED))
		return CONN_SPLICED;
	if (++f->tries > MAX_RETRANSMIT) {
		/* The pod never took the request: give up on the connection, and say so to both. */
		emit(tx, pod_segment(c, f, buf_start(f), RTE_TCP_RST_FLAG, NULL, 0), c->pod_pi,
		     c->st);
		emit(tx,
		     to_client(c, f, seq_add(f->cookie_isn, 1), f->pod_ack,
			       RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG, 0, NULL, 0),
		     f->client_pi, c->st);
		stats_add(c->st, STATS_tcp_rst_sent, 2);
		buf_release(c, f);
		return conn_dead_end(f);
	}
	deliver(c, f, seq_lt(buf_start(f), f->pod_ack) ? f->pod_ack : buf_start(f),
		seq_min(f->frame, client_next(f)), tx);
	stats_add(c->st, STATS_tcp_retransmits, 1);
	timer_arm(c, idx, f, now + (c->cfg.rto_tsc << f->tries));
	return CONN_SPLICED;
}
