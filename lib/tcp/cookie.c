/*
 * cookie.c: SYN cookies — the handshake without state (steps 1 and 2).
 *
 * A client's SYN is answered with a SYN-ACK whose ISN is a cookie: 6 bits of a 64-second
 * counter, 3 bits of MSS index and 23 bits of AES-128 MAC over the 4-tuple, counter and MSS
 * (lib/crypto). No state is kept until the client's ACK brings the cookie back; then the
 * connection record is created. The MACs of a whole burst are computed in one ipsec-mb call
 * per direction (SYNs to answer, ACKs to check).
 *
 * Options, as Linux does with syncookies: when the SYN carries timestamps, the SYN-ACK offers
 * timestamps, SACK-permitted (if offered) and window scaling (if offered), and the low 5 bits
 * of its TSval carry the client's window scale (4 bits, 15 = none) and SACK-permitted (1 bit);
 * the client echoes them in the cookie ACK's TSecr. A client without timestamps gets MSS only.
 */
#include "tcp/tcp-int.h"

#include <string.h>

static bool listening(const struct tcpl_ctx *c, uint16_t port_be)
{
	uint16_t port = rte_be_to_cpu_16(port_be);
	for (unsigned i = 0; i < c->cfg.n_listen; i++)
		if (c->cfg.listen_ports[i] == port)
			return true;
	return false;
}

void cookie_prepare(struct tcpl_ctx *c, uint16_t pi, struct rte_mbuf **pkts,
		    const struct net_pkt *info, uint16_t n, const uint32_t *idx,
		    const bool *client_side, struct cookie_burst *cb)
{
	struct crypto_cookie_in syn_in[64], ack_in[64];
	uint16_t syn_ix[64], ack_ix[64], nsyn = 0, nack = 0;
	for (uint16_t i = 0; i < n; i++) {
		const struct net_pkt *p = &info[i];
		if (!client_side[i] || idx[i] != CONN_NONE || !listening(c, p->dst_port))
			continue;
		struct crypto_cookie_in in = {p->src_ip, p->dst_ip, p->src_port, p->dst_port};
		uint8_t f = p->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG | RTE_TCP_RST_FLAG);
		if (f == RTE_TCP_SYN_FLAG) {
			uint16_t want = p->tcp_mss ? p->tcp_mss : 536; /* RFC 9293 §3.7.1 default */
			if (want > c->ports[pi].mss)
				want = c->ports[pi].mss;
			syn_in[nsyn] = in;
			cb->syn_mss[nsyn] = (uint8_t)crypto_mss_index(want);
			syn_ix[nsyn++] = i;
		} else if (f == RTE_TCP_ACK_FLAG) {
			ack_in[nack] = in;
			cb->ack_cookie[nack] =
				rte_be_to_cpu_32(tcp_hdr_of(pkts[i], p)->recv_ack) - 1;
			ack_ix[nack++] = i;
		}
	}
	uint32_t count = c->cfg.fixed_cookies ? 0 : crypto_cookie_count(c->seconds);
	const struct crypto_keys *keys = __atomic_load_n(&c->keys, __ATOMIC_ACQUIRE);
	memset(cb->ack_ok, 0, sizeof(cb->ack_ok));
	if (nsyn && keys)
		crypto_cookie_make_burst(c->crypto, keys, syn_in, cb->syn_mss, nsyn, count,
					 cb->cookies);
	if (nack && keys)
		crypto_cookie_check_burst(c->crypto, keys, ack_in, cb->ack_cookie, nack, count,
					  cb->ack_ok, cb->ack_mss);
	/* A client with timestamps echoes our SYN-ACK's TSval (our millisecond clock) in every
	 * segment until it hears from us again, so a cookie ACK also says how old the SYN-ACK is.
	 * Only a fresh one opens a connection: a resend of a first segment from a connection that
	 * has already ended (and aged out) must not open a new one and replay its request. */
	uint32_t ms = ms_of(c, c->now) & ~0x1fu;
	for (uint16_t k = 0; k < nack; k++) {
		const struct net_pkt *p = &info[ack_ix[k]];
		if (cb->ack_ok[k] && p->tcp_has_ts &&
		    ms - (p->tcp_tsecr & ~0x1fu) > COOKIE_FRESH_MS) {
			cb->ack_ok[k] = false;
			stats_add(c->st, STATS_tcp_cookie_stale, 1);
		}
	}
	memset(cb->syn_of, -1, sizeof(cb->syn_of));
	memset(cb->ack_of, -1, sizeof(cb->ack_of));
	for (uint16_t k = 0; k < nsyn; k++)
		cb->syn_of[syn_ix[k]] = (int16_t)k;
	for (uint16_t k = 0; k < nack; k++)
		cb->ack_of[ack_ix[k]] = (int16_t)k;
}

void cookie_answer_syn(struct tcpl_ctx *c, uint16_t pi, struct rte_mbuf *m, const struct net_pkt *p,
		       const struct cookie_burst *cb, uint16_t k, uint64_t now, struct tcpl_tx *tx)
{
	stats_add(c->st, STATS_tcp_syn_in, 1);
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	struct rte_ether_addr dst = eh->src_addr;
	struct seg_opts o = {.mss = crypto_mss_table[cb->syn_mss[k]], .ws = -1};
	if (p->tcp_has_ts) {
		uint32_t ws = p->tcp_wscale == NET_WSCALE_NONE ? 15u : p->tcp_wscale;
		o.ts = true;
		o.tsval = (ms_of(c, now) & ~0x1fu) | (p->tcp_sack_ok ? 0x10u : 0) | ws;
		o.tsecr = p->tcp_tsval;
		o.sack_ok = p->tcp_sack_ok;
		if (p->tcp_wscale != NET_WSCALE_NONE)
			o.ws = (int8_t)c->cfg.wscale;
	}
	emit(tx,
	     segment(c, (uint8_t)pi, &dst, p->dst_ip, p->src_ip, p->dst_port, p->src_port,
		     cb->cookies[k], rte_be_to_cpu_32(tcp_hdr_of(m, p)->sent_seq) + 1,
		     RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG,
		     (uint16_t)(c->cfg.request_buffer > 65535 ? 65535 : c->cfg.request_buffer), &o,
		     NULL, 0),
	     (uint8_t)pi, c->st);
	rte_pktmbuf_free(m);
}

uint32_t cookie_accept(struct tcpl_ctx *c, uint16_t pi, struct rte_mbuf *m, const struct net_pkt *p,
		       const struct cookie_burst *cb, uint16_t k, uint64_t now, struct tcpl_tx *tx)
{
	stats_add(c->st, STATS_tcp_cookie_ok, 1);
	struct flow_key key = {p->src_ip, p->dst_ip, p->src_port, p->dst_port};
	uint32_t nf = flow_insert(c->ft, &key);
	if (nf == CONN_NONE) {
		stats_add(c->st, STATS_tcp_flows_full, 1);
		reset_for(c, pi, m, p, tx);
		rte_pktmbuf_free(m);
		return CONN_NONE;
	}
	struct conn *f = conn_of(c, nf);
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	f->client_ip = p->src_ip;
	f->vip = p->dst_ip;
	f->client_port = p->src_port;
	f->vip_port = p->dst_port;
	f->client_mac = eh->src_addr;
	f->client_pi = (uint8_t)pi;
	f->client_isn = rte_be_to_cpu_32(tcp_hdr_of(m, p)->sent_seq) - 1;
	f->syn_isn = f->client_isn;
	f->cookie_isn = cb->ack_cookie[k];
	f->mss = cb->ack_mss[k];
	f->buf = CONN_NONE;
	f->timer_prev = f->timer_next = CONN_NONE;
	if (p->tcp_has_ts) {
		/* Options come back in the echo of our SYN-ACK's TSval. */
		uint32_t bits = p->tcp_tsecr & 0x1f;
		f->opts |= CONN_OPT_TS;
		if (bits & 0x10)
			f->opts |= CONN_OPT_SACK;
		if ((bits & 0xf) != 15) {
			f->opts |= CONN_OPT_WS;
			f->c2p_in = (uint8_t)(bits & 0xf);
			f->p2c_out = c->cfg.wscale;
		}
		f->ts_ours0 = p->tcp_tsecr;
		f->ts_ms0 = ms_of(c, now);
		f->ts_client = p->tcp_tsval;
	}
	f->last_seen = (uint32_t)(now >> CONN_SEEN_SHIFT);
	f->t0 = (uint32_t)(now >> CONN_T0_SHIFT); /* the head's time starts */
	f->series = STATS_SERIES_NONE;
	f->frame = f->frame_lo = f->pod_ack = buf_start(f);
	c->runs[nf].n = 0;
	f->fr = CONN_FR_ACKED; /* the gateway is the client's peer */
	http_request_parser_init(&f->hp);
	f->state = CONN_HEAD; /* born here; every later change goes through conn_set */
	/* A request buffer, within the client's share: otherwise 503 at once (no buffer is
	 * needed to say so). */
	if (!buf_take(c, f)) {
		conn_set(c, nf, f, local_response(c, nf, f, RESP_503, now, tx));
		rte_pktmbuf_free(m);
		return CONN_NONE;
	}
	timer_arm(c, nf, f, now + c->cfg.header_tsc);
	return nf;
}
