/*
 * segment.c: the segments the gateway builds itself — SYN-ACKs, SYNs to pods, ACKs, RSTs, the
 * buffered request handed to a pod, and the gateway's own HTTP answers (404, 503, 408...).
 *
 * Every one is a fresh mbuf from the worker's pool with Ethernet, IPv4 and TCP headers written
 * whole, options encoded per RFC 9293 §3.1, RFC 7323 §2–3 and RFC 2018 §2, and checksums done
 * by the port's offload or in software. A spliced packet never comes through here: it is
 * rewritten in place (splice.c).
 */
#include "tcp/tcp-int.h"

#include <stdio.h>
#include <string.h>

#include <rte_ip.h>

/* The gateway's answers; those about a Service (502, 503, 504) count under the route the
 * request took, the rest under none (they come before routing, or instead of it). */
static const struct {
	uint16_t code;
	const char *reason;
	enum stats_series_kind kind;
	bool routed;
} responses[RESP__COUNT] = {
	[RESP_308] = {308, "Permanent Redirect", STATS_ANSWER_308, false},
	[RESP_400] = {400, "Bad Request", STATS_ANSWER_400, false},
	[RESP_404] = {404, "Not Found", STATS_ANSWER_404, false},
	[RESP_408] = {408, "Request Timeout", STATS_ANSWER_408, false},
	[RESP_414] = {414, "URI Too Long", STATS_ANSWER_414, false},
	[RESP_431] = {431, "Request Header Fields Too Large", STATS_ANSWER_431, false},
	[RESP_501] = {501, "Not Implemented", STATS_ANSWER_501, false},
	[RESP_502] = {502, "Bad Gateway", STATS_ANSWER_502, true},
	[RESP_503] = {503, "Service Unavailable", STATS_ANSWER_503, true},
	[RESP_504] = {504, "Gateway Timeout", STATS_ANSWER_504, true},
	[RESP_505] = {505, "HTTP Version Not Supported", STATS_ANSWER_505, false},
	[RESP_CLOSE] = {0, "", STATS_ROUTED, false}, /* no answer: counted as http_fail_closed */
};

/* Encode options, 4-byte aligned. */
static uint16_t opts_encode(const struct seg_opts *o, uint8_t *b)
{
	uint16_t n = 0;
	if (o == NULL)
		return 0;
	if (o->mss) {
		b[n++] = 2, b[n++] = 4, b[n++] = (uint8_t)(o->mss >> 8), b[n++] = (uint8_t)o->mss;
	}
	if (o->ts) {
		if (o->sack_ok) {
			b[n++] = 4, b[n++] = 2;
		} else {
			b[n++] = 1, b[n++] = 1;
		}
		b[n++] = 8, b[n++] = 10;
		uint32_t v = rte_cpu_to_be_32(o->tsval), e = rte_cpu_to_be_32(o->tsecr);
		memcpy(b + n, &v, 4);
		memcpy(b + n + 4, &e, 4);
		n += 8;
	} else if (o->sack_ok) {
		b[n++] = 1, b[n++] = 1, b[n++] = 4, b[n++] = 2;
	}
	if (o->ws >= 0) {
		b[n++] = 1, b[n++] = 3, b[n++] = 3, b[n++] = (uint8_t)o->ws;
	}
	return n;
}

struct rte_mbuf *segment(struct tcpl_ctx *c, uint8_t pi, const struct rte_ether_addr *dst,
			 uint32_t sip, uint32_t dip, uint16_t sport, uint16_t dport, uint32_t seq,
			 uint32_t ack, uint8_t flags, uint16_t win, const struct seg_opts *o,
			 const uint8_t *payload, uint16_t plen)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(c->pool);
	if (m == NULL)
		return NULL;
	uint8_t ob[40];
	uint16_t optlen = opts_encode(o, ob);
	uint16_t l4 = (uint16_t)(sizeof(struct rte_tcp_hdr) + optlen);
	uint16_t len =
		(uint16_t)(sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + l4 + plen);
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, len);
	if (d == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)d;
	eh->dst_addr = *dst;
	eh->src_addr = c->ports[pi].local->mac;
	eh->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eh + 1);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + l4 + plen));
	ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = sip;
	ip->dst_addr = dip;
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);
	th->src_port = sport;
	th->dst_port = dport;
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32(ack);
	th->data_off = (uint8_t)((l4 / 4) << 4);
	th->tcp_flags = flags;
	th->rx_win = rte_cpu_to_be_16(win);
	th->cksum = 0;
	th->tcp_urp = 0;
	if (optlen)
		memcpy(th + 1, ob, optlen);
	if (plen)
		memcpy((uint8_t *)th + l4, payload, plen);
	struct net_pkt p = {.l2_len = sizeof(*eh), .l3_len = sizeof(*ip), .l4_len = l4};
	net_ipv4_tcp_cksum_finish(m, &p, c->ports[pi].offloads);
	return m;
}

struct rte_mbuf *to_client(struct tcpl_ctx *c, const struct conn *f, uint32_t seq, uint32_t ack,
			   uint8_t flags, uint32_t win, const uint8_t *payload, uint16_t plen)
{
	struct seg_opts o = {.ws = -1};
	if (f->opts & CONN_OPT_TS) {
		o.ts = true;
		o.tsval = our_tsval(c, f, c->now);
		o.tsecr = f->ts_client;
	}
	win >>= f->p2c_out;
	return segment(c, f->client_pi, &f->client_mac, f->vip, f->client_ip, f->vip_port,
		       f->client_port, seq, ack, flags, (uint16_t)(win > 65535 ? 65535 : win),
		       (f->opts & CONN_OPT_TS) ? &o : NULL, payload, plen);
}

const struct seg_opts *pod_side_opts(const struct tcpl_ctx *c, const struct conn *f,
				     struct seg_opts *o)
{
	*o = (struct seg_opts){.ws = -1};
	if (!(f->opts & CONN_OPT_TS))
		return NULL;
	o->ts = true;
	o->tsval = f->ts_client + f->ts_pod; /* the client's clock as the pod knows it */
	o->tsecr = our_tsval(c, f, c->now) - f->ts_delta;
	return o;
}

struct rte_mbuf *to_pod(struct tcpl_ctx *c, const struct conn *f, uint32_t seq, uint32_t ack,
			uint8_t flags, uint16_t win)
{
	struct seg_opts o;
	const struct seg_opts *op = pod_side_opts(c, f, &o);
	return segment(c, c->pod_pi, &f->pod_mac, f->snat_ip, f->pod_ip, f->snat_port, f->pod_port,
		       seq, ack, flags, win, op, NULL, 0);
}

void reset_for(struct tcpl_ctx *c, uint16_t pi, struct rte_mbuf *m, const struct net_pkt *p,
	       struct tcpl_tx *tx)
{
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_tcp_hdr *th = tcp_hdr_of(m, p);
	uint32_t seq = 0, ack = 0;
	uint8_t flags = RTE_TCP_RST_FLAG;
	if (p->tcp_flags & RTE_TCP_ACK_FLAG) {
		seq = rte_be_to_cpu_32(th->recv_ack);
	} else {
		ack = rte_be_to_cpu_32(th->sent_seq) + p->payload_len +
		      ((p->tcp_flags & RTE_TCP_SYN_FLAG) ? 1 : 0) +
		      ((p->tcp_flags & RTE_TCP_FIN_FLAG) ? 1 : 0);
		flags |= RTE_TCP_ACK_FLAG;
	}
	struct rte_ether_addr dst = eh->src_addr;
	emit(tx,
	     segment(c, (uint8_t)pi, &dst, p->dst_ip, p->src_ip, p->dst_port, p->src_port, seq, ack,
		     flags, 0, NULL, NULL, 0),
	     (uint8_t)pi, c->st);
	stats_add(c->st, STATS_tcp_rst_sent, 1);
}

/* ---- the gateway's own responses ------------------------------------------------------------ */

/* A TLS client is answered in TLS: a fatal alert (RFC 8446 §6.2) in place of the HTTP
 * answer — unrecognized_name for no route, internal_error when no pod could be reached,
 * decode_error for a ClientHello refused; a timeout just closes. */
static uint8_t alert_for(enum local_status s)
{
	switch (s) {
	case RESP_404:
		return TLS_ALERT_UNRECOGNIZED_NAME;
	case RESP_502:
	case RESP_503:
	case RESP_504:
		return TLS_ALERT_INTERNAL_ERROR;
	case RESP_308: /* never on a TLS listener */
	case RESP_408:
	case RESP_CLOSE:
		return 0;
	default:
		return TLS_ALERT_DECODE_ERROR;
	}
}

void responses_init(struct tcpl_ctx *c)
{
	for (int s = 0; s < RESP__COUNT; s++) {
		uint8_t a = alert_for((enum local_status)s);
		c->alert_len[s] = a ? TLS_ALERT_LEN : 0;
		if (a)
			tls_alert_record(c->alert[s], a);
	}
	for (int s = 0; s < RESP__COUNT; s++) {
		char body[64];
		if (responses[s].code == 0) {
			c->resp_len[s] = 0; /* RESP_CLOSE: a FIN, nothing to say */
			continue;
		}
		int bl = snprintf(body, sizeof(body), "%u %s\n", responses[s].code,
				  responses[s].reason);
		int n = snprintf(c->resp[s], sizeof(c->resp[s]),
				 "HTTP/1.1 %u %s\r\nContent-Type: text/plain\r\nContent-Length: "
				 "%d\r\nConnection: close\r\n\r\n%s",
				 responses[s].code, responses[s].reason, bl, body);
		c->resp_len[s] = (uint16_t)(n < (int)sizeof(c->resp[s]) ? n : 0);
	}
}

const uint8_t *local_response_bytes(const struct tcpl_ctx *c, const struct conn *f, uint16_t *len)
{
	if (f->resp_status_idx == RESP_308) {
		*len = f->resp_len; /* built in the request buffer (redirect_response) */
		return f->buf == CONN_NONE ? NULL
					   : c->bufs + (size_t)f->buf * c->cfg.request_buffer;
	}
	if (conn_tls(c, f)) {
		*len = c->alert_len[f->resp_status_idx];
		return c->alert[f->resp_status_idx];
	}
	*len = c->resp_len[f->resp_status_idx];
	return (const uint8_t *)c->resp[f->resp_status_idx];
}

/* Response and FIN together; the client's data beyond this point is not read. */
static void send_local_response(struct tcpl_ctx *c, const struct conn *f, struct tcpl_tx *tx)
{
	uint16_t len;
	const uint8_t *bytes = local_response_bytes(c, f, &len);
	uint8_t flags = RTE_TCP_ACK_FLAG | RTE_TCP_FIN_FLAG | (len ? RTE_TCP_PSH_FLAG : 0);
	emit(tx, to_client(c, f, seq_add(f->cookie_isn, 1), client_next(f), flags, 0, bytes, len),
	     f->client_pi, c->st);
}

enum conn_state local_response(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
			       enum local_status s, uint64_t now, struct tcpl_tx *tx)
{
	if (s == RESP_CLOSE)
		stats_add(c->st, STATS_http_fail_closed, 1);
	else
		stats_series_add(c->st, responses[s].routed ? f->series : STATS_SERIES_NONE,
				 responses[s].kind);
	f->resp_status_idx = (uint8_t)s;
	f->tries = 0;
	if (unlikely(c->alog != NULL)) {
		uint16_t said;
		local_response_bytes(c, f, &said); /* an HTTP answer, or a TLS alert */
		access_answer(c, f, responses[s].code, said, now);
	}
	if (s != RESP_308) /* a redirect is sent from the buffer: it goes when the record does */
		buf_release(c, f);
	send_local_response(c, f, tx);
	timer_arm(c, idx, f, now + c->cfg.rto_tsc);
	return CONN_LOCAL_RESP;
}

enum conn_state redirect_response(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				  const struct http_request *r, uint64_t now, struct tcpl_tx *tx)
{
	uint8_t *b = buf_of(c, f);
	const char *host = (const char *)b + r->host.off;
	size_t hl = r->host.len;
	const char *colon = memchr(host, ':', hl);
	if (colon)
		hl = (size_t)(colon - host); /* the HTTP port is not the HTTPS one */
	const struct tcpl_port *tp = &c->ports[f->client_pi];
	char port[8] = "";
	if (tp->tls_ports[0] != 443)
		snprintf(port, sizeof(port), ":%u", tp->tls_ports[0]);
	/* One segment carries it (the client's MSS, less timestamps): a longer target gets 414. */
	char out[1500];
	size_t most = f->mss > 12 + 64 ? f->mss - 12u : 64u;
	if (most > sizeof(out))
		most = sizeof(out);
	if (most > c->cfg.request_buffer)
		most = c->cfg.request_buffer;
	/* The path and query as sent (absolute-form loses its scheme and authority; "*" and an
	 * empty path become "/"). */
	const char *path = (const char *)b + r->path.off;
	int pl = (int)r->path.len;
	if (pl == 0 || path[0] != '/')
		path = "/", pl = 1;
	int n = snprintf(out, sizeof(out),
			 "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://%.*s%s%.*s%s%.*s\r\n"
			 "Content-Length: 0\r\nConnection: close\r\n\r\n",
			 (int)hl, host, port, pl, path, r->query.len ? "?" : "", (int)r->query.len,
			 (const char *)b + r->query.off);
	if (n < 0 || (size_t)n > most)
		return local_response(c, idx, f, RESP_414, now, tx);
	memcpy(b, out, (size_t)n); /* the request is done with: the buffer holds the answer */
	f->resp_len = (uint16_t)n;
	return local_response(c, idx, f, RESP_308, now, tx);
}

enum conn_state local_response_resend(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				      uint64_t now, struct tcpl_tx *tx)
{
	if (++f->tries > MAX_RETRANSMIT)
		return conn_dead_end(f);
	send_local_response(c, f, tx);
	stats_add(c->st, STATS_tcp_retransmits, 1);
	timer_arm(c, idx, f, now + (c->cfg.rto_tsc << f->tries));
	return CONN_LOCAL_RESP;
}

enum local_status status_of(uint16_t code)
{
	switch (code) {
	case 414:
		return RESP_414;
	case 431:
		return RESP_431;
	case 501:
		return RESP_501;
	case 505:
		return RESP_505;
	default:
		return RESP_400;
	}
}
