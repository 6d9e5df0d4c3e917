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
 *   TSval / TSecr     TSecr − T                        TSval + T
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
	uint32_t ts_delta; /* added to TSval (pod → client) or taken from TSecr (client → pod) */
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

	/* Window, across differing scales, clamped. */
	if (x->win_in != x->win_out) {
		uint32_t w = ((uint32_t)rte_be_to_cpu_16(th->rx_win) << x->win_in) >> x->win_out;
		uint16_t nwin = rte_cpu_to_be_16((uint16_t)(w > 65535 ? 65535 : w));
		if (sw)
			tc = net_cksum_adjust16(tc, th->rx_win, nwin);
		th->rx_win = nwin;
	}
	/* Timestamps: TSval + T towards the client, TSecr − T towards the pod. */
	if (x->ts && p->tcp_ts_off) {
		uint8_t *at = tb + p->tcp_ts_off + (x->fix_ack ? 4 : 0);
		uint32_t o = rd32(at);
		uint32_t v = rte_cpu_to_be_32(x->fix_ack ? rte_be_to_cpu_32(o) - x->ts_delta
							 : rte_be_to_cpu_32(o) + x->ts_delta);
		if (sw)
			tc = net_cksum_adjust32(tc, o, v);
		wr32(at, v);
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
			       .ts_delta = f->ts_delta,
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
			       .ts_delta = f->ts_delta,
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
	if (unlikely((f->opts & CONN_OPT_TRACK) && p->payload_len) && f->state == CONN_SPLICED) {
		enum conn_state next;
		uint32_t seq = rte_be_to_cpu_32(tcp_hdr_of(m, p)->sent_seq);
		if (rebind_track(c, idx, f, m, p, seq, now, tx, &next))
			return next;
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
	(void)idx;
	(void)now;
	const struct rte_tcp_hdr *th = tcp_hdr_of(m, p);
	uint8_t flags = p->tcp_flags;
	if ((flags & RTE_TCP_SYN_FLAG) && (flags & RTE_TCP_ACK_FLAG)) {
		/* Our ACK or the request was lost: the pod repeats its SYN-ACK. */
		if (f->opts & CONN_OPT_BUFFERED) {
			send_request(c, f, tx, true);
			stats_add(c->st, STATS_tcp_retransmits, 1);
		}
		rte_pktmbuf_free(m);
		return (enum conn_state)f->state;
	}
	if ((f->opts & CONN_OPT_BUFFERED) && (flags & RTE_TCP_ACK_FLAG) &&
	    !seq_lt(rte_be_to_cpu_32(th->recv_ack), client_next(f))) {
		buf_release(c, f); /* the pod has the whole buffered request */
		f->deadline = 0;
	}
	enum conn_state next = track_close(f, flags, CONN_FIN_POD, &f->fins);
	splice_to_client(c, f, m, p);
	stats_add(c->st, STATS_spliced_to_client, 1);
	emit(tx, m, f->client_pi, c->st);
	return next;
}

enum conn_state splice_timer(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			     struct tcpl_tx *tx)
{
	if (f->buf == CONN_NONE) {
		f->deadline = 0;
		return CONN_SPLICED;
	}
	if (++f->tries > MAX_RETRANSMIT) {
		/* The pod never took the request: give up on the connection. */
		buf_release(c, f);
		f->deadline = 0;
		return CONN_CLOSED;
	}
	send_request(c, f, tx, false);
	stats_add(c->st, STATS_tcp_retransmits, 1);
	timer_arm(c, idx, f, now + (c->cfg.rto_tsc << f->tries));
	return CONN_SPLICED;
}
