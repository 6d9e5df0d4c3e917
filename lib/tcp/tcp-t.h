/*
 * tcp-t.h: the engine's types — the connection record, its states, the per-worker context and
 * the transmit list. Read this before any .c file of lib/tcp; tcp-int.h holds the functions
 * the files share.
 *
 * A connection record lives in lib/flow's record array (flow only stores it and finds it by
 * its keys). Its state is set in one place: the dispatcher in tcp.c assigns what a handler
 * returns (enum conn_state), so a reader can follow every transition from one switch.
 */
#ifndef SLUICE_TCP_T_H
#define SLUICE_TCP_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_ether.h>

#include "alog/alog.h"
#include "http/http.h"
#include "lb/lb.h"
#include "tcp/tcp.h"
#include "term/term.h"
#include "tls/tls.h"

_Static_assert(sizeof(struct http_request_parser) == sizeof(struct tls_hello_scan),
	       "both start zeroed: a new connection's parser state serves either listener");

enum conn_state {
	CONN_FREE,	 /* not a connection (the record is free, or being dropped) */
	CONN_HEAD,	 /* handshake done, reading the request head */
	CONN_NEIGH,	 /* pod chosen, waiting for its MAC */
	CONN_CONNECT,	 /* SYN sent to the pod */
	CONN_SPLICED,	 /* bytes flow end to end, rewritten in place */
	CONN_HOLD,	 /* spliced, but the client's next request is held in a buffer until it
			  * can be routed (its head is incomplete, or an upgrade awaits its answer) */
	CONN_DRAIN,	 /* the next request goes elsewhere (or is answered, or the connection
			  * fails closed): it is held while the current pod's connection closes */
	CONN_LOCAL_RESP, /* the gateway answered itself (404, 503, 400...) and closes */
	CONN_TERM,	 /* a TLS connection the gateway terminates: its record (term) owns both
			  * TCP legs; terminate.c */
	CONN_CLOSED,	 /* both FINs or a RST seen: lingering for strays */
};

#define CONN_FIN_CLIENT 0x1
#define CONN_FIN_POD	0x2
#define CONN_FIN_DEAD	0x4 /* CONN_CLOSED without a pod stream to pass strays to: dropped */
#define CONN_NONE	UINT32_MAX

/*
 * One proxied connection: 192 bytes. The first cache line is all a spliced packet reads and
 * writes (state, both tuples, sequence and timestamp offsets, window shifts, MACs, last seen,
 * the pod's acknowledgement); the second serves the handshake and the gateway's own segments;
 * the third follows the client's byte stream request by request (lib/tcp/frame.c) and links
 * the connection into the timer wheel.
 */
struct conn {
	/* --- line 1: everything a spliced packet reads or writes --- */
	uint8_t state;
	uint8_t fins;				  /* CONN_FIN_* seen */
	uint8_t client_pi;			  /* port index the client uses */
	uint8_t opts;				  /* CONN_OPT_* */
	uint8_t c2p_in, c2p_out, p2c_in, p2c_out; /* window shifts: raw << in >> out */
	uint32_t client_ip, vip;
	uint16_t client_port, vip_port;
	uint32_t snat_ip, pod_ip;
	uint16_t snat_port, pod_port;
	uint32_t delta; /* D = cookie ISN - pod ISN: pod→client seq + D, client→pod ack - D */
	uint32_t ts_delta; /* T: pod TSval + T is what the client sees (its echo − T to the pod) */
	uint32_t ts_pod; /* P: client TSval + P is what the pod sees (its echo − P to the client),
			  * so the pod reads the gateway's clock, monotonic per SNAT address */
	struct rte_ether_addr client_mac;
	struct rte_ether_addr pod_mac;
	uint32_t last_seen; /* tsc >> CONN_SEEN_SHIFT */
	uint32_t pod_ack;   /* the highest client byte the pod has acknowledged (client space) */
	/* --- line 2: the handshake and the gateway's own segments --- */
	uint32_t client_isn; /* client sequence just before the buffer's first byte; while
			      * connecting, the ISN of the pod stream */
	uint32_t cookie_isn;
	uint32_t pod_isn;
	uint32_t req_len;  /* bytes in the buffer */
	uint32_t deadline; /* next timer action (tsc >> CONN_SEEN_SHIFT) when CONN_FR_TIMER */
	uint32_t peer_ack; /* what our own segments to the pod acknowledge (pod space): the
			    * client's latest acknowledgement the gateway has seen */
	uint32_t buf;	   /* request buffer index, CONN_NONE when none */
	uint32_t pool;	   /* route pool */
	uint32_t endpoint; /* index of the chosen endpoint in the pool */
	uint16_t mss;	   /* client's MSS (from the cookie) */
	uint8_t resp_status_idx;
	uint8_t method;	    /* enum http_method of the request */
	uint16_t series;    /* metrics series of the request routed last (STATS_SERIES_NONE:
			     * none yet, or its head failed) */
	uint8_t syn_tx;	    /* SYN retransmissions to the current pod / neighbour polls */
	uint8_t tries;	    /* pod attempts, or retransmissions of our own segments */
	uint32_t ts_client; /* the client's latest TSval, echoed by our own segments */
	union {
		struct http_request_parser hp; /* an HTTP listener's heads */
		struct tls_hello_scan th;      /* a TLS listener's ClientHello (sni.c) */
	};
	uint32_t syn_isn; /* the ISN of the SYN that opened the connection */
	/* --- line 3: the client's stream, request by request; timers --- */
	uint32_t ts_ours0;  /* our TSval in the SYN-ACK (echoed by the cookie ACK) */
	uint32_t ts_ms0;    /* our millisecond clock when the flow was created */
	const void *routes; /* the route table `pool` indexes (kept alive while flows may retry;
			     * see lib/control's publisher) */
	uint32_t affinity;  /* Maglev key: hash of the client address or the named header */
	uint32_t frame;	    /* F: client bytes before it are checked and routed to this pod */
	uint32_t frame_lo;  /* [frame_lo, F) is body content framing never read */
	union {
		uint32_t pool_id; /* which Service port the pod serves (route_pool.id) */
		uint32_t term;	  /* CONN_TERM: its record in tcpl_ctx.terms */
	};
	struct http_body body; /* the body F is in, if any */
	union {
		uint32_t pod_fin; /* CONN_DRAIN: the old pod's FIN, in its sequence space */
		uint32_t t0;	  /* CONN_HEAD, _NEIGH, _CONNECT: when the phase began, for the
				   * latency histograms (tsc >> CONN_T0_SHIFT) */
	};
	uint32_t timer_prev, timer_next; /* timer wheel links (CONN_NONE: end) */
	uint8_t fr;			 /* CONN_FR_* */
	uint8_t up_match;		 /* upgrade: bytes of the pod's status line seen */
	union {
		uint16_t up_status; /* upgrade: its status digits so far */
		uint16_t resp_len;  /* CONN_LOCAL_RESP with RESP_308: the answer's length */
	};
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct conn, pod_ack) + sizeof(uint32_t) <= 64,
	       "the splice path must touch one cache line of the connection");
_Static_assert(offsetof(struct conn, syn_isn) + sizeof(uint32_t) <= 128, "line 2");
_Static_assert(sizeof(struct conn) == 192, "struct conn: keep to three cache lines");

#define CONN_SEEN_SHIFT                                                                            \
	20 /* last_seen and deadline resolution: 2^20 cycles (under 1 ms); wraps after days */

/* t0 resolution: 4096 cycles (under 2 us); it wraps after 2^44 cycles (98 minutes at 3 GHz),
 * beyond the longest header or connect timeout. */
#define CONN_T0_SHIFT 12

#define CONN_OPT_TS	  0x1  /* timestamps on both sides */
#define CONN_OPT_SACK	  0x2  /* SACK permitted by the client */
#define CONN_OPT_WS	  0x4  /* window scaling with the client */
#define CONN_OPT_BUFFERED 0x8  /* holds a request buffer (conn->buf) */
#define CONN_OPT_COUNTED  0x10 /* counted in the worker's least-request loads */
#define CONN_OPT_TRACK	  0x20 /* requests are framed: client data goes through frame.c */
#define CONN_OPT_POD_RST  0x40 /* CONN_DRAIN: the old pod's side was reset */
#define CONN_OPT_PROXIED  0x80 /* the buffer starts with a PROXY v2 header for this pod stream */

/* The client's stream (conn->fr). */
#define CONN_FR_CLOSING	    0x1	 /* the last request asked to close: nothing may follow it */
#define CONN_FR_UPGRADE	    0x2	 /* the request before F asked to upgrade; its answer decides */
#define CONN_FR_ACKED	    0x4	 /* the pod has acknowledged every byte before the buffer */
#define CONN_FR_CLIENT_FIN  0x8	 /* the client's FIN came after the held bytes */
#define CONN_FR_FAIL_CLOSED 0x10 /* CONN_DRAIN: no request follows; close when drained */
#define CONN_FR_HELD	    0x20 /* its buffer counts in its client address's share */
#define CONN_FR_FIN_SENT    0x40 /* CONN_DRAIN: our FIN to the old pod went out */
#define CONN_FR_TIMER	    0x80 /* linked in the timer wheel */

/* The gateway's own answers. */
enum local_status {
	RESP_308, /* HTTP→HTTPS: the answer is built per request in the request buffer */
	RESP_400,
	RESP_404,
	RESP_408,
	RESP_414,
	RESP_431,
	RESP_501,
	RESP_502,
	RESP_503,
	RESP_504,
	RESP_505,
	RESP_CLOSE, /* no answer: a FIN (the connection fails closed) */
	RESP__COUNT
};

/* Where a handler puts the packets to send: the caller's array, filled up to cap. */
struct tcpl_tx {
	struct tcpl_out *out;
	uint16_t n, cap;
};

#define MAX_RETRANSMIT 6

/* How old a SYN-ACK's timestamp may be when its cookie comes back (a few client RTOs); closed
 * connections linger at least this long and half a second more. */
#define COOKIE_FRESH_MS 1500u

/* Timer wheel: one slot per tick, a doubly linked list of connections in each. A deadline
 * further than the wheel's span simply comes round again. */
#define TIMER_SLOTS 4096u

/* Connections holding a buffer for a head still in progress, per client address (bounded
 * probe; a full window refuses like a client over its cap). */
#define HELD_SLOTS 4096u
#define HELD_PROBE 8u

/* Opaque body runs older than a connection's current one ([frame_lo, F)), oldest first: a resend
 * inside one carries content the framing never read, so it may reach the pod again (frame.c).
 * Beyond FRAME_RUNS the oldest is forgotten, and resends there are refused as framing. */
#define FRAME_RUNS 7
struct frame_runs {
	uint32_t lo[FRAME_RUNS], hi[FRAME_RUNS];
	uint32_t n;
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct frame_runs) == 64, "one cache line per connection");

/* A terminated connection (terminate.c): lib/term's record and what the engine keeps
 * beside it. */
struct term_slot {
	struct term_conn t;
	uint32_t conn;		 /* its flow record */
	struct term_counts told; /* what of t.n is already in the worker's counters */
	struct rte_mbuf *parked; /* a segment for the pod waiting for the pod's MAC address */
	struct rte_ether_addr pod_mac;
	uint32_t pod_mac_of; /* the pod address pod_mac is for (0: not resolved) */
	uint32_t arp_for;    /* a neighbour to ask for (0: none) */
	bool again; /* work left (output cut short, handshake deferred): at the next tick */
	/* The last request's Service, for another endpoint when its pod refuses: the table it
	 * was routed with is kept only while that pod connection is being made (the publisher's
	 * rule for flows that connect, lib/control/publish.h). */
	const struct route_table *routes;
	uint32_t pool;
	uint64_t routed_tsc;	 /* when: repick reads routes only within the connect budget */
	struct term_pod ejected; /* the pod repick ejected last (not ejected twice) */
	bool logging;		 /* rec is the access log record of the request in flight */
	struct alog_rec rec;
};

struct held_slot {
	uint32_t addr;
	uint32_t n;
};

struct tcpl_ctx {
	struct tcpl_config cfg;
	struct tcpl_port ports[TCPL_MAX_PORTS];
	uint8_t n_ports;
	uint8_t pod_pi; /* the port that holds SNAT addresses */
	bool dropped;	/* a connection was freed in this burst: later indexes are looked up
			 * again (the record may have been reused) */
	struct rte_mempool *pool;
	struct net_neigh *neigh;
	struct stats_lcore *st;
	struct flow_table *ft;
	struct conn *conns; /* the flow table's records */
	struct crypto_ctx *crypto;
	const struct crypto_keys *keys;
	const struct route_table *routes;
	uint64_t seconds;
	uint64_t now; /* tsc of the burst being processed */
	uint8_t *bufs;
	uint32_t *buf_free;
	uint32_t n_buf_free;
	uint64_t rng;
	uint32_t *wheel;     /* TIMER_SLOTS list heads */
	uint64_t wheel_tick; /* last tick processed */
	uint64_t tick_tsc;
	uint8_t tick_shift; /* tick_tsc = 1 << tick_shift */
	uint64_t next_tick;
	uint64_t challenge_sec; /* RFC 5961 §7: challenge ACKs rate-limited per second */
	uint32_t challenges, challenge_limit;
	uint32_t hash_key; /* keys the per-client table */
	struct held_slot *held;
	struct frame_runs *runs; /* per connection record, by its index */
	struct lb_worker *lb;	 /* pod choice, passive health, least-request loads */
	/* tcpl_explain only: told of each request the framing accepts (NULL on the data path) */
	void (*explain)(struct tcpl_ctx *c, const uint8_t *head, const struct http_request *r,
			uint32_t at, const struct route_table *t, const struct route_target *tg);
	void *explain_arg;
	char resp[RESP__COUNT][160];
	uint16_t resp_len[RESP__COUNT];
	uint8_t alert[RESP__COUNT][TLS_ALERT_LEN]; /* the same answers to a TLS client */
	uint16_t alert_len[RESP__COUNT];
	/* Access log (access.c): NULL ring when off. A request waiting for its pod keeps its
	 * record beside its request buffer, alog_pend[buf], in state alog_state[buf]. */
	struct rte_ring *alog;
	uint32_t alog_every, alog_count; /* one request in alog_every */
	uint64_t alog_us_mul;		 /* microseconds = cycles * alog_us_mul >> 32 */
	uint64_t alog_id;		 /* the next request id */
	struct alog_rec *alog_pend;
	uint8_t *alog_state;
	/* Terminated connections (terminate.c); terms NULL when the engine terminates none. */
	struct term_slot *terms;
	uint32_t *term_free;
	uint32_t n_term_free;
	struct term_env term_env;
	struct stream_cfg client_cfg, pod_cfg;
	struct rte_mempool *term_pool;
	struct held_slot *term_held; /* terminated records per client address */
	uint32_t term_conn;	     /* the connection lib/term's callbacks act for */
	uint16_t client_win;	     /* the window field of the client segment being handled */
	uint32_t handshakes_left;    /* handshake steps this burst may still run */
};

#endif
