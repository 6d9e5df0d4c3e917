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

#include "http/http.h"
#include "lb/lb.h"
#include "tcp/tcp.h"

enum conn_state {
	CONN_FREE,	 /* not a connection (the record is free, or being dropped) */
	CONN_HEAD,	 /* handshake done, reading the request head */
	CONN_NEIGH,	 /* pod chosen, waiting for its MAC */
	CONN_CONNECT,	 /* SYN sent to the pod */
	CONN_SPLICED,	 /* bytes flow end to end, rewritten in place */
	CONN_DRAIN,	 /* keep-alive: the next request goes elsewhere; it is held while the
			  * previous pod's connection closes */
	CONN_LOCAL_RESP, /* the gateway answered itself (404, 503, 400...) and closes */
	CONN_CLOSED,	 /* both FINs or a RST seen: lingering for strays */
};

#define CONN_FIN_CLIENT 0x1
#define CONN_FIN_POD	0x2
#define CONN_NONE	UINT32_MAX

/*
 * One proxied connection: 192 bytes. The first cache line is all a spliced packet reads and
 * writes (state, both tuples, sequence and timestamp deltas, window shifts, MACs, last seen);
 * the other two serve the handshake phase and the gateway's own segments.
 */
struct conn {
	/* --- line 1: everything a spliced packet reads or writes --- */
	uint8_t state;
	uint8_t fins;			 /* CONN_FIN_* seen */
	uint8_t client_pi;		 /* port index the client uses */
	uint8_t pod_pi;			 /* port index towards pods */
	uint8_t opts;			 /* CONN_OPT_* */
	uint8_t c2p_in, c2p_out, p2c_in; /* window shifts: raw << in >> out */
	uint8_t p2c_out;
	uint8_t syn_tx; /* SYN retransmissions to the current pod / neighbour polls */
	uint8_t tries;	/* pod attempts, or retransmissions of our own segments */
	uint8_t timer_listed;
	uint32_t client_ip, vip;
	uint16_t client_port, vip_port;
	uint32_t snat_ip, pod_ip;
	uint16_t snat_port, pod_port;
	uint32_t delta; /* D = cookie ISN - pod ISN: pod→client seq + D, client→pod ack - D */
	uint32_t ts_delta; /* T: pod TSval + T is what the client sees */
	struct rte_ether_addr client_mac;
	struct rte_ether_addr pod_mac;
	uint64_t last_seen; /* tsc */
	/* --- line 2: the handshake and the gateway's own segments --- */
	uint32_t client_isn;
	uint32_t cookie_isn;
	uint32_t pod_isn;
	uint32_t req_len;  /* bytes buffered from the client (request head and more) */
	uint64_t deadline; /* tsc of the next timer action, 0 = none */
	uint32_t buf;	   /* request buffer index, CONN_NONE when none */
	uint32_t pool;	   /* route pool */
	uint32_t endpoint; /* index of the chosen endpoint in the pool */
	uint16_t mss;	   /* client's MSS (from the cookie) */
	uint8_t resp_status_idx;
	uint8_t method;	    /* enum http_method of the request */
	uint16_t resp_len;  /* bytes of the gateway's own response */
	uint32_t ts_client; /* the client's latest TSval, echoed by our own segments */
	struct http_request_parser hp;
	uint32_t spare;
	/* --- line 3 --- */
	uint32_t ts_ours0;  /* our TSval in the SYN-ACK (echoed by the cookie ACK) */
	uint32_t ts_ms0;    /* our millisecond clock when the flow was created */
	const void *routes; /* the route table pool indexes (kept alive while flows may retry;
			     * see lib/control's publisher) */
	uint32_t affinity;  /* Maglev key: hash of the client address or the named header */
	uint32_t next_req;  /* with CONN_OPT_TRACK: client sequence where the next request starts */
	uint32_t pool_id;   /* which Service port the pod serves (route_pool.id) */
	uint32_t pod_fin;   /* CONN_DRAIN: the old pod's FIN, in its sequence space */
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct conn, last_seen) + sizeof(uint64_t) <= 64,
	       "the splice path must touch one cache line of the connection");
_Static_assert(sizeof(struct conn) == 192, "struct conn: keep to three cache lines");

#define CONN_OPT_TS	  0x1  /* timestamps on both sides */
#define CONN_OPT_SACK	  0x2  /* SACK permitted by the client */
#define CONN_OPT_WS	  0x4  /* window scaling with the client */
#define CONN_OPT_BUFFERED 0x8  /* holds a request buffer (conn->buf), not yet all acked */
#define CONN_OPT_COUNTED  0x10 /* counted in the worker's least-request loads */
#define CONN_OPT_TRACK	  0x20 /* keep-alive: request boundaries followed (per-request routing) */
#define CONN_OPT_POD_RST  0x40 /* CONN_DRAIN: the old pod's side was reset */
#define CONN_OPT_PROXIED  0x80 /* the buffer starts with a PROXY v2 header for this pod stream */

/* The gateway's own answers. */
enum local_status {
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
	RESP__COUNT
};

/* Where a handler puts the packets to send: the caller's array, filled up to cap. */
struct tcpl_tx {
	struct tcpl_out *out;
	uint16_t n, cap;
};

#define TIMER_LIST_MAX 8192
#define MAX_RETRANSMIT 6

struct tcpl_ctx {
	struct tcpl_config cfg;
	struct tcpl_port ports[TCPL_MAX_PORTS];
	uint8_t n_ports;
	uint8_t pod_pi; /* the port that holds SNAT addresses */
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
	uint16_t next_snat;
	uint32_t *timers;
	uint32_t n_timers;
	uint64_t next_tick;
	struct lb_worker *lb; /* pod choice, passive health, least-request loads */
	char resp[RESP__COUNT][160];
	uint16_t resp_len[RESP__COUNT];
};

#endif
