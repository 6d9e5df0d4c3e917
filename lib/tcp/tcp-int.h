/*
 * tcp-int.h: what the files of lib/tcp share — small inline helpers and each file's entry
 * points. Nothing here is exported from the module.
 *
 * Convention: a function that handles a packet or a timer for a connection returns the state
 * the connection moves to (enum conn_state; CONN_FREE = drop it). Only the dispatcher in tcp.c
 * (conn_set) assigns conn->state. Helpers that send take a struct tcpl_tx.
 */
#ifndef SLUICE_TCP_INT_H
#define SLUICE_TCP_INT_H

#include <rte_byteorder.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "tcp/tcp-t.h"

/* ---- sequence arithmetic (RFC 9293 §3.4) ---------------------------------------------------- */

static inline uint32_t seq_add(uint32_t a, uint32_t b)
{
	return a + b;
}

/* a < b in sequence space. */
static inline bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline struct conn *conn_of(const struct tcpl_ctx *c, uint32_t idx)
{
	return &c->conns[idx];
}

static inline const struct rte_tcp_hdr *tcp_hdr_of(const struct rte_mbuf *m,
						   const struct net_pkt *p)
{
	return rte_pktmbuf_mtod_offset(m, const struct rte_tcp_hdr *, p->l2_len + p->l3_len);
}

static inline const uint8_t *payload_of(const struct rte_mbuf *m, const struct net_pkt *p)
{
	return rte_pktmbuf_mtod_offset(m, const uint8_t *, p->l2_len + p->l3_len + p->l4_len);
}

/* Queue m to be sent on port; a full list drops it and counts. */
static inline bool emit(struct tcpl_tx *tx, struct rte_mbuf *m, uint8_t port,
			struct stats_lcore *st)
{
	if (m == NULL)
		return false;
	if (tx->n >= tx->cap) {
		rte_pktmbuf_free(m);
		stats_add(st, STATS_tx_dropped, 1);
		return false;
	}
	tx->out[tx->n].m = m;
	tx->out[tx->n].port = port;
	tx->n++;
	return true;
}

/* ---- request buffers ------------------------------------------------------------------------ */

static inline uint8_t *buf_of(struct tcpl_ctx *c, const struct conn *f)
{
	return c->bufs + (size_t)f->buf * c->cfg.request_buffer;
}

/* Take a request buffer for f, within its client address's share (limits.heads_per_client);
 * false, counted, when none is free or the client holds its share. */
bool buf_take(struct tcpl_ctx *c, struct conn *f);
void buf_release(struct tcpl_ctx *c, struct conn *f);

/* access.c: the access log's hooks (each a no-op while the log is off). The pieces, for
 * terminate.c's records: one request in alog_every; a record's fixed fields; into the ring. */
bool access_sampled(struct tcpl_ctx *c);
void access_rec_start(struct tcpl_ctx *c, struct alog_rec *r, const struct conn *f, uint64_t now);
void access_push(struct tcpl_ctx *c, struct alog_rec *r);
/* A request routed (or refused) from its buffer: its record waits there for the pod. */
void access_begin(struct tcpl_ctx *c, struct conn *f, const uint8_t *b,
		  const struct http_request *r, uint32_t head_us, uint64_t now);
/* Its pod accepted: the record goes out, forwarded. */
void access_forwarded(struct tcpl_ctx *c, struct conn *f, uint64_t now);
/* A later request that stays on the connection's pod: recorded at once. */
void access_same_pod(struct tcpl_ctx *c, struct conn *f, const uint8_t *b,
		     const struct http_request *r, uint64_t now);
/* The gateway answers (status) or fails closed (status 0, bytes 0). */
void access_answer(struct tcpl_ctx *c, struct conn *f, uint16_t status, uint32_t bytes,
		   uint64_t now);
/* The buffer goes: a record still waiting ends, closed. */
void access_release(struct tcpl_ctx *c, struct conn *f);

/* The client sequence number of the buffer's first byte. */
static inline uint32_t buf_start(const struct conn *f)
{
	return seq_add(f->client_isn, 1);
}

/* Next byte we expect from the client into the buffer (the buffer's end). */
static inline uint32_t client_next(const struct conn *f)
{
	return seq_add(f->client_isn, 1 + f->req_len);
}

/* Cycles to microseconds for the access log: a multiply and a shift. */
static inline uint32_t alog_us(const struct tcpl_ctx *c, uint64_t tsc)
{
	uint64_t us = (uint64_t)(((unsigned __int128)tsc * c->alog_us_mul) >> 32);
	return us < ALOG_NONE ? (uint32_t)us : ALOG_NONE - 1;
}

/* Cycles since f->t0 was set (the phase's start). */
static inline uint64_t conn_elapsed(const struct conn *f, uint64_t now)
{
	return (uint64_t)((uint32_t)(now >> CONN_T0_SHIFT) - f->t0) << CONN_T0_SHIFT;
}

static inline uint32_t seq_min(uint32_t a, uint32_t b)
{
	return seq_lt(a, b) ? a : b;
}

/* Client data this far from what the pod has acknowledged is outside any window it could have
 * offered (RFC 9293 §3.10.7.4): dropped, never forwarded. */
#define FAR_WINDOW (1u << 30)

static inline bool far_from(uint32_t seq, uint32_t ref)
{
	return seq - ref + FAR_WINDOW > 2 * FAR_WINDOW;
}

/* Whether the connection came to a TLS listener (its first bytes are a ClientHello): its
 * port is one the client's NIC port names in `tls`. */
static inline bool conn_tls(const struct tcpl_ctx *c, const struct conn *f)
{
	const struct tcpl_port *tp = &c->ports[f->client_pi];
	uint16_t port = rte_be_to_cpu_16(f->vip_port);
	for (unsigned i = 0; i < tp->n_tls; i++)
		if (tp->tls_ports[i] == port)
			return true;
	return false;
}

/* Buffer space left, in bytes (to_client scales it). */
static inline uint32_t head_window(const struct tcpl_ctx *c, const struct conn *f)
{
	return c->cfg.request_buffer - f->req_len;
}

/* ---- clocks --------------------------------------------------------------------------------- */

/* Our millisecond clock, the unit of the gateway's TSvals. */
static inline uint32_t ms_of(const struct tcpl_ctx *c, uint64_t now)
{
	return (uint32_t)(now / (c->cfg.tsc_hz / 1000 ? c->cfg.tsc_hz / 1000 : 1));
}

/* The TSval the gateway sends the client of f now: continues from the SYN-ACK's. */
static inline uint32_t our_tsval(const struct tcpl_ctx *c, const struct conn *f, uint64_t now)
{
	return f->ts_ours0 + (ms_of(c, now) - f->ts_ms0);
}

/* ---- segment.c: segments the gateway builds ------------------------------------------------- */

/* Options the gateway puts on a segment it builds. */
struct seg_opts {
	uint16_t mss; /* 0: none */
	int8_t ws;    /* window scale shift, -1: none */
	bool sack_ok; /* SACK-permitted */
	bool ts;      /* timestamps */
	uint32_t tsval, tsecr;
};

struct rte_mbuf *segment(struct tcpl_ctx *c, uint8_t pi, const struct rte_ether_addr *dst,
			 uint32_t sip, uint32_t dip, uint16_t sport, uint16_t dport, uint32_t seq,
			 uint32_t ack, uint8_t flags, uint16_t win, const struct seg_opts *o,
			 const uint8_t *payload, uint16_t plen);
/* To the client of f (from the VIP); win in bytes, scaled here. */
struct rte_mbuf *to_client(struct tcpl_ctx *c, const struct conn *f, uint32_t seq, uint32_t ack,
			   uint8_t flags, uint32_t win, const uint8_t *payload, uint16_t plen);
/* To the pod of f on the client's behalf (the client's TSval, the pod's echoed), no payload. */
struct rte_mbuf *to_pod(struct tcpl_ctx *c, const struct conn *f, uint32_t seq, uint32_t ack,
			uint8_t flags, uint16_t win);
const struct seg_opts *pod_side_opts(const struct tcpl_ctx *c, const struct conn *f,
				     struct seg_opts *o);
/* RST for a segment that belongs to no connection (RFC 9293 §3.10.7.1). */
void reset_for(struct tcpl_ctx *c, uint16_t pi, struct rte_mbuf *m, const struct net_pkt *p,
	       struct tcpl_tx *tx);
/* Build the gateway's canned responses once. */
void responses_init(struct tcpl_ctx *c);
/* Answer the client ourselves (response, FIN, retransmitted until acknowledged). */
/* The bytes of the connection's local answer (an HTTP response, or a TLS alert on a TLS
 * listener) and their length. */
const uint8_t *local_response_bytes(const struct tcpl_ctx *c, const struct conn *f, uint16_t *len);
enum conn_state local_response(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
			       enum local_status s, uint64_t now, struct tcpl_tx *tx);
enum conn_state local_response_resend(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				      uint64_t now, struct tcpl_tx *tx);
/* HTTP→HTTPS: 308 to https://host[:tls port]/target, built in the connection's request buffer
 * (r parsed from it); a target too long for one segment gets 414. */
enum conn_state redirect_response(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				  const struct http_request *r, uint64_t now, struct tcpl_tx *tx);
/* The status for a parser error (enum http_error's status). */
enum local_status status_of(uint16_t code);

/* ---- cookie.c: SYN cookies ------------------------------------------------------------------ */

/* The cookie work of one burst: which packets are SYNs to answer and ACKs to check, and the
 * MACs computed for them in one call each. */
struct cookie_burst {
	int16_t syn_of[64], ack_of[64]; /* packet → entry, -1 when none */
	uint32_t cookies[64];
	uint8_t syn_mss[64];
	uint32_t ack_cookie[64];
	bool ack_ok[64];
	uint16_t ack_mss[64];
};

void cookie_prepare(struct tcpl_ctx *c, uint16_t pi, struct rte_mbuf **pkts,
		    const struct net_pkt *info, uint16_t n, const uint32_t *idx,
		    const bool *client_side, struct cookie_burst *cb);
/* Step 1: SYN → SYN-ACK carrying a cookie; no state. */
void cookie_answer_syn(struct tcpl_ctx *c, uint16_t pi, struct rte_mbuf *m, const struct net_pkt *p,
		       const struct cookie_burst *cb, uint16_t k, uint64_t now, struct tcpl_tx *tx);
/* Step 2: a valid cookie ACK → a new connection in CONN_HEAD (CONN_NONE when refused: the
 * caller has been answered with RST). */
uint32_t cookie_accept(struct tcpl_ctx *c, uint16_t pi, struct rte_mbuf *m, const struct net_pkt *p,
		       const struct cookie_burst *cb, uint16_t k, uint64_t now, struct tcpl_tx *tx);

/* ---- head.c: the request head --------------------------------------------------------------- */

/* Client packets while the gateway is the client's peer (head, neighbour, connect, drain). */
enum conn_state head_from_client(struct tcpl_ctx *c, uint16_t pi, uint32_t idx, struct conn *f,
				 struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				 struct tcpl_tx *tx);
/* Client packets after the gateway answered itself. */
enum conn_state local_resp_from_client(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				       struct rte_mbuf *m, const struct net_pkt *p,
				       struct tcpl_tx *tx);
/* Parse what the buffer holds; route a complete head, answer a bad one. */
/* sni.c: a TLS listener's ClientHello read, routed by server name and passed through. */
enum conn_state sni_route(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			  struct tcpl_tx *tx);
enum conn_state head_parse(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			   struct tcpl_tx *tx);
/* Look a parsed head up in the current table; NULL for no route, *bad when the path cannot be
 * normalised, *redirect (with NULL) when its host is served over HTTPS and the client's port
 * has a TLS listener to send it to. */
const struct route_target *lookup_head(struct tcpl_ctx *c, const struct conn *f, const uint8_t *b,
				       const struct http_request *r,
				       const struct route_table **routes, bool *bad,
				       bool *redirect);

/* ---- frame.c: the client's stream, request by request --------------------------------------- */

/* Why a walk of the client's bytes stopped at the frame point F. */
enum frame_verdict {
	FV_OK,	    /* every byte given was checked (F may lie beyond them) */
	FV_HOLD,    /* a head starts at F and is not complete */
	FV_MOVE,    /* the request at F goes elsewhere, or is answered by the gateway */
	FV_BODY,    /* the body's framing broke at F: nothing after it may pass */
	FV_CLOSE,   /* a request before F asked to close: nothing may follow it */
	FV_UPGRADE, /* a request before F asked to upgrade: its answer decides what follows */
};

/* Walk d[0..n), the client's bytes from F on, moving F over what can be accepted for this
 * pod (heads routed to its Service, bodies framed). f->hp is the parser state of the head at F:
 * it carries over when a held head grows. */
enum frame_verdict frame_walk(struct tcpl_ctx *c, struct conn *f, const uint8_t *d, uint32_t n);

/* A head starting at client sequence `at` was routed to this connection's pod: the frame
 * point moves past it (and past what of its body framing never reads). */
void frame_accept(struct tcpl_ctx *c, struct conn *f, const uint8_t *head,
		  const struct http_request *r, uint32_t at);
/* A client data segment of a framed spliced connection: true when consumed (cut, held or
 * dropped), with the next state in *next; false when every byte was checked and the caller
 * splices it as it came. */
bool frame_from_client(struct tcpl_ctx *c, uint32_t idx, struct conn *f, struct rte_mbuf *m,
		       const struct net_pkt *p, uint64_t now, struct tcpl_tx *tx,
		       enum conn_state *next);
/* May client bytes [from, to) below the frame point go to the pod again? Only where the pod
 * already has them or their content cannot move a request boundary. */
bool frame_resend_ok(const struct tcpl_ctx *c, const struct conn *f, uint32_t from, uint32_t to);
/* A new pod stream: no older opaque runs (frame_lo = F). */
void frame_runs_clear(struct tcpl_ctx *c, struct conn *f);
/* Forward the first keep bytes of a client data segment to the pod (the rest is not the
 * pod's), FIN cleared. */
void forward_prefix(struct tcpl_ctx *c, struct conn *f, struct rte_mbuf *m, const struct net_pkt *p,
		    uint16_t keep, struct tcpl_tx *tx);
/* Send the pod buffered client bytes [from, to) on the gateway's own account. */
void deliver(struct tcpl_ctx *c, struct conn *f, uint32_t from, uint32_t to, struct tcpl_tx *tx);
/* The pod acknowledged up to f->pod_ack: drop delivered bytes from the buffer's front, release
 * an empty buffer. */
void buf_acked(struct tcpl_ctx *c, uint32_t idx, struct conn *f);

/* ---- hold.c: a request held on a spliced connection ----------------------------------------- */

/* Decide about the buffer's bytes from the frame point on: release, hold, move or close. */
enum conn_state hold_decide(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			    struct tcpl_tx *tx);
/* Take client bytes [frame, frame+len) into a buffer (appending to a buffer that ends there).
 * false when none is free or the client is over its cap. */
bool hold_begin(struct tcpl_ctx *c, struct conn *f, const uint8_t *data, uint32_t len);
enum conn_state hold_from_client(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				 struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				 struct tcpl_tx *tx);
enum conn_state hold_from_pod(struct tcpl_ctx *c, uint32_t idx, struct conn *f, struct rte_mbuf *m,
			      const struct net_pkt *p, uint64_t now, struct tcpl_tx *tx);
enum conn_state hold_timer(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			   struct tcpl_tx *tx);
/* The pod acknowledged everything before the buffer: acknowledge the buffer to the client,
 * from our sequence number our_seq. */
void hold_ack_client(struct tcpl_ctx *c, struct conn *f, uint32_t our_seq, struct tcpl_tx *tx);
/* The pod's answer to an upgrade request, as its first bytes arrive: the next state. */
enum conn_state upgrade_verdict(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				const struct net_pkt *p, const uint8_t *data, uint32_t seq,
				uint64_t now, struct tcpl_tx *tx);

/* ---- connect.c: reaching a pod -------------------------------------------------------------- */

/* Choose a pod (not `avoid`), an SNAT port, and connect. */
enum conn_state connect_bind(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			     uint32_t avoid, struct tcpl_tx *tx);
/* Resolve the pod's MAC; send the SYN now or wait for ARP. */
enum conn_state connect_try(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			    struct tcpl_tx *tx);
/* Retry on another pod, or answer 502/504. */
enum conn_state connect_failed(struct tcpl_ctx *c, uint32_t idx, struct conn *f, bool refused,
			       uint64_t now, struct tcpl_tx *tx);
/* A pod packet while the SYN is out. */
enum conn_state connect_from_pod(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				 struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				 struct tcpl_tx *tx);
/* Timer of CONN_NEIGH and CONN_CONNECT. */
enum conn_state connect_timer(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			      struct tcpl_tx *tx);
/* Our own segment to the pod on the client's behalf: the client's timestamps, translated. */
struct rte_mbuf *pod_segment(struct tcpl_ctx *c, const struct conn *f, uint32_t seq, uint8_t flags,
			     const uint8_t *payload, uint16_t plen);
/* Least-request accounting: the connection stops counting against its pod. */
void load_release(struct tcpl_ctx *c, struct conn *f);

/* The address to resolve for pod_ip: itself when on-link, else the route's next hop. */
uint32_t next_hop(const struct tcpl_ctx *c, uint32_t pod_ip);
/* An SNAT address and port for a new connection of f to addr:port (network order) from this
 * worker's partition, bound in the flow table (f's pod-side fields set). false when none is
 * free within a bounded search. */
bool snat_bind(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint32_t addr, uint16_t port);

/* ---- terminate.c: TLS connections the gateway terminates (lib/term) ------------------------- */

/* A TLS listener's ClientHello that no passthrough route takes: the connection becomes a
 * terminated one (its buffer's bytes move into the client leg). CONN_TERM, or the gateway's
 * refusal when no record is free. */
enum conn_state terminate_start(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
				struct tcpl_tx *tx);
enum conn_state terminate_from_client(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				      struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				      struct tcpl_tx *tx);
enum conn_state terminate_from_pod(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				   struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				   struct tcpl_tx *tx);
enum conn_state terminate_timer(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
				struct tcpl_tx *tx);
/* Give the record back (any state; the flow record is going or lingering). */
void terminate_release(struct tcpl_ctx *c, struct conn *f);
/* Set up the records, the legs' pool and lib/term's environment (tcpl_create); free them. */
bool terminate_init(struct tcpl_ctx *c, const char *name, int socket, char *err, size_t errlen);
void terminate_free(struct tcpl_ctx *c);

/* ---- proxy_v2.c ----------------------------------------------------------------------------- */

bool proxy_v2_insert(struct tcpl_ctx *c, struct conn *f);

/* ---- splice.c: in-place rewriting ----------------------------------------------------------- */

enum conn_state splice_from_client(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				   struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				   struct tcpl_tx *tx);
enum conn_state splice_from_pod(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				struct tcpl_tx *tx);
void splice_to_pod(struct tcpl_ctx *c, struct conn *f, struct rte_mbuf *m, const struct net_pkt *p);
void splice_to_client(struct tcpl_ctx *c, struct conn *f, struct rte_mbuf *m,
		      const struct net_pkt *p);
/* Retransmission of the request the pod has not acknowledged. */
enum conn_state splice_timer(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			     struct tcpl_tx *tx);

/* ---- rebind.c: moving a kept-alive connection to another pod --------------------------------- */

/* Close the current pod's side after the frame point. Once it has drained, the held request is
 * routed (answer < 0) or the gateway answers with enum local_status `answer` (RESP_CLOSE: a FIN
 * only, the connection fails closed). */
enum conn_state drain_begin(struct tcpl_ctx *c, uint32_t idx, struct conn *f, int answer,
			    uint64_t now, struct tcpl_tx *tx);
enum conn_state rebind_from_pod(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				struct rte_mbuf *m, const struct net_pkt *p, uint64_t now,
				struct tcpl_tx *tx);
/* Client packets while draining: its ACKs go on to the old pod, and so do resent bytes the old
 * pod may still lack. */
void rebind_client_ack(struct tcpl_ctx *c, struct conn *f, const struct net_pkt *p,
		       const struct rte_tcp_hdr *th, struct tcpl_tx *tx);
void rebind_client_gone(struct tcpl_ctx *c, struct conn *f, struct tcpl_tx *tx);
enum conn_state rebind_check(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			     struct tcpl_tx *tx);
enum conn_state rebind_timer(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			     struct tcpl_tx *tx);

/* ---- timer.c -------------------------------------------------------------------------------- */

void timer_init(struct tcpl_ctx *c, uint64_t now);
void timer_arm(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t deadline);
void timer_cancel(struct tcpl_ctx *c, uint32_t idx, struct conn *f);
bool timer_due(const struct tcpl_ctx *c, const struct conn *f, uint64_t now);

/* ---- tcp.c: the dispatcher ------------------------------------------------------------------ */

/*
 * A connection that ends before or without a live pod stream: it lingers closed (for
 * timeouts.linger_ms) so that segments still in flight meet it and are dropped. Freed at once,
 * a resent first segment would carry a valid SYN cookie again and open a new connection that
 * replays the request.
 */
static inline enum conn_state conn_dead_end(struct conn *f)
{
	f->fins |= CONN_FIN_DEAD;
	return CONN_CLOSED;
}

/* Give the connection its next state; CONN_FREE drops it and releases what it holds. */
void conn_set(struct tcpl_ctx *c, uint32_t idx, struct conn *f, enum conn_state next);
/* Release what a connection holds (buffer, timer, loads, counts) before its record goes. */
void conn_release(struct tcpl_ctx *c, uint32_t idx, struct conn *f);
/* RFC 5961: answer a RST or SYN we will not act on, at most so many per second. */
void challenge_ack(struct tcpl_ctx *c, struct conn *f, uint32_t ack, struct tcpl_tx *tx);
/* Per-client count of connections holding a buffer for a head in progress. */
bool held_inc(struct tcpl_ctx *c, uint32_t addr);
void held_dec(struct tcpl_ctx *c, uint32_t addr);
/* The same count in another table (terminated connections per client), with its own cap. */
bool held_inc_in(struct tcpl_ctx *c, struct held_slot *tab, uint32_t cap, uint32_t addr);
void held_dec_in(struct tcpl_ctx *c, struct held_slot *tab, uint32_t addr);

#endif
