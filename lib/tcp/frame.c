/*
 * frame.c: the client's byte stream, request by request, on a spliced connection.
 *
 * The promise: every byte a pod receives belongs to a request that the route table sent to
 * that pod's Service, whole and in order; every request gets exactly one outcome; nothing
 * depends on how the client cut its bytes into segments. So after the first request, the
 * gateway keeps following the client's stream. Its state is the frame point F (conn->frame):
 * every client byte before F has been checked — heads parsed by the strict parser and routed
 * to this pod's Service, bodies framed by Content-Length or by the strict chunked parser — and
 * may reach the pod; no byte at or after F may until it has been.
 *
 * A client data segment [seq, end):
 *   - bytes before F are resent bytes. They go to the pod again only where that is harmless
 *     (frame_resend_ok): below what the pod has acknowledged (it drops them as duplicates), or
 *     inside body content the framing never reads ([frame_lo, F)). Anything else — a head or a
 *     chunk-size line the pod has not acknowledged — is refused: if the pod had lost or refused
 *     the first copy, a different copy would reach it unchecked. (This fails closed: such a
 *     connection stalls and is reset, which a real loss between gateway and pod can also cause.)
 *   - bytes at F are walked in place, without copying: a body's opaque content is skipped in one
 *     step (F may move past the segment's end: later segments inside that body are checked by
 *     position alone), chunk framing is checked byte by byte, and each head is parsed and routed.
 *     A head for the same Service, while its pod is still in it, is accepted and the walk goes
 *     on — so pipelined requests in one segment cost one parse each;
 *   - the walk stops at the first head it cannot accept yet: incomplete, for another Service,
 *     malformed, an upgrade, or bytes after a request that asked to close. The segment is cut
 *     there: its checked prefix goes to the pod (trimmed, FIN cleared), and the rest is held in a
 *     request buffer (hold.c), which decides: release it to this pod, or move (rebind.c);
 *   - bytes beyond F with a gap before them cannot be checked yet: dropped, the client resends.
 *
 * The pod's acknowledgement (conn->pod_ack, line 1, updated by every pod packet) also tells when
 * the gateway may acknowledge held bytes to the client itself: only once the pod has everything
 * before them, so a client never stops resending a byte the pod may still need.
 */
#include "tcp/tcp-int.h"

#include <string.h>
#include <strings.h>

#include <rte_ip.h>

/* The furthest F moves over opaque body content at once: inside half the sequence space. */
#define FRAME_JUMP (1u << 30)

static bool pool_has_pod(const struct route_pool *p, uint32_t addr, uint16_t port)
{
	for (uint32_t i = 0; i < p->lb.n_endpoints; i++)
		if (p->lb.endpoints[i].addr == addr && p->lb.endpoints[i].port == port)
			return true;
	return false;
}

/* Move F over what the body's framing never reads, never more than FRAME_JUMP beyond what the
 * pod has acknowledged (so every comparison with F stays within half the sequence space). */
static void frame_skip(struct tcpl_ctx *c, struct conn *f)
{
	uint64_t o = http_body_opaque(&f->body);
	if (o == 0)
		return;
	uint32_t ahead = f->frame - f->pod_ack;
	uint64_t room = ahead < FRAME_JUMP ? FRAME_JUMP - ahead : 0;
	if (o > room)
		o = room;
	if (o == 0)
		return;
	http_body_skip(&f->body, o);
	f->frame = seq_add(f->frame, (uint32_t)o);
	/* F moved without a framing read. Older runs that fall FRAME_JUMP behind it are below
	 * the pod's acknowledgement: forget them before sequence numbers wrap onto them. */
	struct frame_runs *r = &c->runs[f - c->conns];
	uint32_t k = 0;
	for (uint32_t i = 0; i < r->n; i++)
		if (f->frame - r->hi[i] < FRAME_JUMP) {
			r->lo[k] = r->lo[i];
			r->hi[k] = r->hi[i];
			k++;
		}
	r->n = k;
	if (f->frame - f->frame_lo > FRAME_JUMP)
		f->frame_lo = f->frame - FRAME_JUMP;
}

/*
 * Only a WebSocket upgrade may make a connection opaque after the pod's 101. Any other protocol
 * (h2c above all: HTTP/2 streams to any path and authority, on the pod of one routed path)
 * stays HTTP/1.1 to the gateway: if a pod switched anyway, the bytes that follow fail framing
 * and the connection fails closed.
 */
static bool upgrade_to_websocket(const uint8_t *head, const struct http_request *r)
{
	size_t off, len;
	if (!r->upgrade || !http_find_header(head, r->head_len, "upgrade", &off, &len))
		return false;
	static const char ws[] = "websocket";
	return len == sizeof(ws) - 1 && strncasecmp((const char *)head + off, ws, len) == 0;
}

/* The framing reads bytes from F on: the opaque run [frame_lo, F) before them joins the older
 * ones, which forget what the pod has and, when full, their oldest. */
static void frame_run_ends(struct tcpl_ctx *c, struct conn *f)
{
	if (!seq_lt(f->frame_lo, f->frame))
		return;
	struct frame_runs *r = &c->runs[f - c->conns];
	uint32_t k = 0;
	for (uint32_t i = 0; i < r->n; i++)
		if (seq_lt(f->pod_ack, r->hi[i])) {
			r->lo[k] = r->lo[i];
			r->hi[k] = r->hi[i];
			k++;
		}
	if (k == FRAME_RUNS) {
		for (uint32_t i = 1; i < FRAME_RUNS; i++) {
			r->lo[i - 1] = r->lo[i];
			r->hi[i - 1] = r->hi[i];
		}
		k--;
	}
	r->lo[k] = f->frame_lo;
	r->hi[k] = f->frame;
	r->n = k + 1;
	f->frame_lo = f->frame;
}

void frame_runs_clear(struct tcpl_ctx *c, struct conn *f)
{
	c->runs[f - c->conns].n = 0;
	f->frame_lo = f->frame;
}

void frame_accept(struct tcpl_ctx *c, struct conn *f, const uint8_t *head,
		  const struct http_request *r, uint32_t at)
{
	if (at == f->frame)
		frame_run_ends(c, f);
	f->frame = seq_add(at, r->head_len);
	f->frame_lo = f->frame;
	http_body_init(&f->body, r->body, r->content_length);
	frame_skip(c, f);
	if (!r->keep_alive)
		f->fr |= CONN_FR_CLOSING;
	if (upgrade_to_websocket(head, r))
		f->fr |= CONN_FR_UPGRADE;
	http_request_parser_init(&f->hp);
	f->opts |= CONN_OPT_TRACK;
}

enum frame_verdict frame_walk(struct tcpl_ctx *c, struct conn *f, const uint8_t *d, uint32_t n)
{
	const uint32_t f0 = f->frame;
	for (;;) {
		uint32_t off = f->frame - f0;
		if (!f->body.done && f->body.mode != HTTP_BODY_NONE) {
			frame_skip(c, f);
			off = f->frame - f0;
			if (off >= n)
				return FV_OK;
			size_t used;
			enum http_body_result br =
				http_body_feed(&f->body, d + off, n - off, &used);
			frame_run_ends(c, f); /* framing bytes follow: not opaque */
			f->frame = seq_add(f->frame, (uint32_t)used);
			f->frame_lo = f->frame;
			if (br == HTTP_BODY_BAD)
				return FV_BODY;
			if (br == HTTP_BODY_MORE) {
				if (http_body_opaque(&f->body))
					continue; /* a chunk's data starts: skip it */
				return FV_OK;
			}
			http_request_parser_init(&f->hp);
			off = f->frame - f0;
		}
		if (off >= n)
			return FV_OK;
		if (f->fr & CONN_FR_CLOSING)
			return FV_CLOSE;
		if (f->fr & CONN_FR_UPGRADE)
			return FV_UPGRADE;
		if (f->fins & CONN_FIN_POD)
			return FV_CLOSE; /* the client saw the pod close: this connection cannot
					    move */
		struct http_request r;
		int rc = http_request_parse(&f->hp, &c->cfg.limits, d + off, n - off, &r);
		if (rc == HTTP_NEED_MORE)
			return FV_HOLD; /* f->hp keeps its progress for when more bytes come */
		http_request_parser_init(&f->hp); /* whatever happens next parses afresh */
		if (rc == HTTP_ERROR)
			return FV_MOVE; /* answered after the requests before it */
		const struct route_table *routes;
		bool bad, redirect;
		const struct route_target *t =
			lookup_head(c, f, d + off, &r, &routes, &bad, &redirect);
		const struct route_pool *pool = t ? route_pool(routes, t->pool) : NULL;
		if (pool == NULL || upgrade_to_websocket(d + off, &r) || pool->id != f->pool_id ||
		    !pool_has_pod(pool, f->pod_ip, rte_be_to_cpu_16(f->pod_port)))
			return FV_MOVE; /* another Service, no route, or an upgrade: a pod
					 * connection of its own */
		/* Same Service, pod still in it: stays on this connection. */
		stats_add(c->st, STATS_http_requests, 1);
		stats_add(c->st, STATS_http_keepalive_requests, 1);
		f->routes = routes;
		f->pool = t->pool;
		f->method = (uint8_t)r.method;
		f->series = (uint16_t)t->series;
		stats_series_add(c->st, t->series, STATS_ROUTED);
		if (unlikely(c->alog != NULL))
			access_same_pod(c, f, d + off, &r, c->now);
		if (unlikely(c->explain != NULL))
			c->explain(c, d + off, &r, seq_add(f0, off), routes, t);
		frame_accept(c, f, d + off, &r, seq_add(f0, off));
	}
}

bool frame_resend_ok(const struct tcpl_ctx *c, const struct conn *f, uint32_t from, uint32_t to)
{
	/* Refused where [from, to) meets [pod_ack, frame_lo) outside the older opaque runs: bytes
	 * the pod may lack whose content the framing read. */
	uint32_t lo = seq_lt(from, f->pod_ack) ? f->pod_ack : from;
	uint32_t hi = seq_min(to, f->frame_lo);
	const struct frame_runs *r = &c->runs[f - c->conns];
	for (uint32_t i = 0; i < r->n && seq_lt(lo, hi); i++)
		if (!seq_lt(lo, r->lo[i]) && seq_lt(lo, r->hi[i]))
			lo = r->hi[i];
	return !seq_lt(lo, hi);
}

void forward_prefix(struct tcpl_ctx *c, struct conn *f, struct rte_mbuf *m, const struct net_pkt *p,
		    uint16_t keep, struct tcpl_tx *tx)
{
	if (keep > p->payload_len)
		keep = p->payload_len; /* never a length the packet does not have */
	if (keep == 0) {
		rte_pktmbuf_free(m);
		return;
	}
	splice_to_pod(c, f, m, p);
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, p->l2_len);
	struct rte_tcp_hdr *th =
		rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, p->l2_len + p->l3_len);
	uint32_t keep_len = (uint32_t)p->l2_len + p->l3_len + p->l4_len + keep;
	if (rte_pktmbuf_pkt_len(m) > keep_len)
		rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_pkt_len(m) - keep_len));
	ip->total_length = rte_cpu_to_be_16((uint16_t)(p->l3_len + p->l4_len + keep));
	th->tcp_flags = (uint8_t)(th->tcp_flags & ~RTE_TCP_FIN_FLAG);
	net_ipv4_tcp_cksum_finish(m, p, c->ports[c->pod_pi].offloads);
	stats_add(c->st, STATS_spliced_to_pod, 1);
	emit(tx, m, c->pod_pi, c->st);
}

struct rte_mbuf *pod_segment(struct tcpl_ctx *c, const struct conn *f, uint32_t seq, uint8_t flags,
			     const uint8_t *payload, uint16_t plen)
{
	struct seg_opts o;
	const struct seg_opts *op = pod_side_opts(c, f, &o);
	/* The client's window is unknown here: 64 KiB until its next ACK says otherwise. */
	return segment(c, c->pod_pi, &f->pod_mac, f->snat_ip, f->pod_ip, f->snat_port, f->pod_port,
		       seq, f->peer_ack, flags, (uint16_t)(65535u >> f->c2p_out), op, payload,
		       plen);
}

void deliver(struct tcpl_ctx *c, struct conn *f, uint32_t from, uint32_t to, struct tcpl_tx *tx)
{
	if (!(f->opts & CONN_OPT_BUFFERED) || !seq_lt(from, to))
		return;
	const uint8_t *b = buf_of(c, f);
	uint16_t mss = f->mss < c->ports[c->pod_pi].mss ? f->mss : c->ports[c->pod_pi].mss;
	if (f->opts & CONN_OPT_TS)
		mss = (uint16_t)(mss - 12); /* RFC 6691: options come out of the segment */
	for (uint32_t s = from; seq_lt(s, to);) {
		uint32_t len = to - s < mss ? to - s : mss;
		emit(tx,
		     pod_segment(c, f, s, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG,
				 b + (s - buf_start(f)), (uint16_t)len),
		     c->pod_pi, c->st);
		s = seq_add(s, len);
	}
}

void buf_acked(struct tcpl_ctx *c, uint32_t idx, struct conn *f)
{
	if (!(f->opts & CONN_OPT_BUFFERED))
		return;
	/* Delivered bytes are the buffer's checked front: [start, min(F, end)). */
	uint32_t done = seq_min(seq_min(f->pod_ack, f->frame), client_next(f));
	if (!seq_lt(buf_start(f), done))
		return;
	uint32_t k = done - buf_start(f);
	if (k < f->req_len)
		memmove(buf_of(c, f), buf_of(c, f) + k, f->req_len - k);
	f->req_len -= k;
	f->client_isn = seq_add(f->client_isn, k);
	if (f->req_len == 0) {
		buf_release(c, f);
		if (f->state == CONN_SPLICED)
			timer_cancel(c, idx, f);
	}
}

/* A data segment from seq whose bytes at F have been walked: send what was checked, hold or
 * drop the rest, and decide. */
static enum conn_state frame_cut(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				 struct rte_mbuf *m, const struct net_pkt *p, uint32_t seq,
				 enum frame_verdict v, uint64_t now, struct tcpl_tx *tx)
{
	uint16_t keep = (uint16_t)(f->frame - seq);
	const uint8_t *rest = payload_of(m, p) + keep;
	uint32_t rest_len = p->payload_len - keep;
	if (v == FV_CLOSE) {
		stats_add(c->st, STATS_http_after_close, 1);
		forward_prefix(c, f, m, p, keep, tx);
		return CONN_SPLICED;
	}
	if (v == FV_BODY) {
		stats_add(c->st, STATS_http_bad_body, 1);
		forward_prefix(c, f, m, p, keep, tx);
		return drain_begin(c, idx, f, RESP_CLOSE, now, tx);
	}
	/* Held: copied out before the segment is cut. */
	uint32_t cack = rte_be_to_cpu_32(tcp_hdr_of(m, p)->recv_ack);
	bool held = hold_begin(c, f, rest, rest_len);
	forward_prefix(c, f, m, p, keep, tx);
	if (!held) {
		/* No buffer for it: the connection fails closed after what was routed. */
		return drain_begin(c, idx, f, RESP_CLOSE, now, tx);
	}
	if (f->fr & CONN_FR_ACKED)
		emit(tx,
		     to_client(c, f, cack, client_next(f), RTE_TCP_ACK_FLAG,
			       c->cfg.request_buffer - f->req_len, NULL, 0),
		     f->client_pi, c->st);
	return hold_decide(c, idx, f, now, tx);
}

bool frame_from_client(struct tcpl_ctx *c, uint32_t idx, struct conn *f, struct rte_mbuf *m,
		       const struct net_pkt *p, uint64_t now, struct tcpl_tx *tx,
		       enum conn_state *next)
{
	const struct rte_tcp_hdr *th = tcp_hdr_of(m, p);
	uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
	uint32_t end = seq_add(seq, p->payload_len);
	*next = (enum conn_state)f->state;
	if (p->tcp_flags & RTE_TCP_ACK_FLAG)
		f->peer_ack = rte_be_to_cpu_32(th->recv_ack) - f->delta;
	if (unlikely(m->nb_segs > 1)) {
		/* Framing reads the payload in place; a chained mbuf is not walked. */
		stats_add(c->st, STATS_tcp_resend_refused, 1);
		rte_pktmbuf_free(m);
		return true;
	}
	if (seq_lt(seq, f->frame)) {
		uint32_t upto = seq_min(end, f->frame);
		bool in_buf = (f->opts & CONN_OPT_BUFFERED) && seq_lt(buf_start(f), upto) &&
			      seq_lt(seq, client_next(f));
		if (!frame_resend_ok(c, f, seq, upto) || in_buf) {
			/* Bytes the pod may lack whose content was read, or bytes the gateway
			 * delivers itself: the copy it checked is the only one the pod gets. What
			 * lies before the buffer may still go. */
			stats_add(c->st, STATS_tcp_resend_refused, 1);
			if (in_buf && seq_lt(seq, buf_start(f)) &&
			    frame_resend_ok(c, f, seq, buf_start(f)))
				forward_prefix(c, f, m, p, (uint16_t)(buf_start(f) - seq), tx);
			else
				rte_pktmbuf_free(m);
			return true;
		}
		if (!seq_lt(f->frame, end))
			return false; /* all checked before: spliced as it came */
	} else if (seq != f->frame) {
		/* A gap before it: cannot be checked yet, and the pod must not see it first. */
		stats_add(c->st, STATS_tcp_out_of_order, 1);
		rte_pktmbuf_free(m);
		return true;
	}
	uint32_t off = f->frame - seq;
	enum frame_verdict v = frame_walk(c, f, payload_of(m, p) + off, p->payload_len - off);
	if (v == FV_OK)
		return false;
	*next = frame_cut(c, idx, f, m, p, seq, v, now, tx);
	return true;
}
