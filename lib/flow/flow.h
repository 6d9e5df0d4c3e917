/*
 * flow: per-lcore flow tables for the TCP-lite engine.
 *
 * A flow is one client connection proxied to one pod. It is found two ways: by the client-side
 * 4-tuple (client → VIP) and, once a pod is chosen, by the pod-side 4-tuple (pod → SNAT). Both
 * are rte_hash tables holding the index of one record in a fixed array; the records are the
 * worker's own (one writer, no locks: the tables are created without multi-writer flags).
 * Capacity is fixed at start; a full table refuses a new flow with -ENOSPC (the caller answers
 * RST and counts it) and never touches established ones.
 *
 * Keys are 12 bytes (IPv4 and ports, network order): remote address, local address, remote
 * port, local port. IPv6 will get its own tables with 36-byte keys rather than widening every
 * IPv4 probe.
 */
#ifndef SLUICE_FLOW_H
#define SLUICE_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_ether.h>

#include "http/http.h"

struct flow_key {
	uint32_t remote_ip, local_ip;
	uint16_t remote_port, local_port;
	uint32_t zero; /* always 0: keys are 16 bytes, which rte_hash compares with one SSE op */
} __attribute__((aligned(16)));

#define FLOW_KEY_LEN 16

enum flow_state {
	FLOW_FREE,
	FLOW_HEAD,	 /* handshake done, reading the request head */
	FLOW_NEIGH,	 /* pod chosen, waiting for its MAC */
	FLOW_CONNECT,	 /* SYN sent to the pod */
	FLOW_SPLICED,	 /* bytes flow end to end, rewritten in place */
	FLOW_DRAIN,	 /* keep-alive: the next request goes elsewhere; it is held while the
			  * previous pod's connection closes */
	FLOW_LOCAL_RESP, /* the gateway answered itself (404, 503, 400...) and closes */
	FLOW_CLOSED,	 /* both FINs or a RST seen: lingering for strays */
};

#define FLOW_FIN_CLIENT 0x1
#define FLOW_FIN_POD	0x2
#define FLOW_NONE	UINT32_MAX

/*
 * One proxied connection: 192 bytes. The first cache line is all a spliced packet reads and
 * writes (state, both tuples, sequence and timestamp deltas, window shifts, MACs, last seen);
 * the other two serve the handshake phase and the gateway's own segments.
 */
struct flow {
	/* --- line 1: everything a spliced packet reads or writes --- */
	uint8_t state;
	uint8_t fins;	   /* FLOW_FIN_* seen */
	uint8_t client_pi; /* port index the client uses */
	uint8_t pod_pi;	   /* port index towards pods */
	uint8_t opts;	   /* FLOW_OPT_* negotiated with the client, FLOW_OPT_BUFFERED */
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
	uint32_t buf;	   /* request buffer index, FLOW_NONE when none */
	uint32_t pool;	   /* route pool */
	uint32_t endpoint; /* index of the chosen endpoint in the pool */
	uint16_t mss;	   /* client's MSS (from the cookie) */
	uint8_t resp_status_idx;
	uint8_t method;	    /* enum http_method of the request */
	uint16_t resp_len;  /* bytes of the gateway's own response */
	uint32_t ts_client; /* the client's latest TSval, echoed by our own segments */
	struct http_request_parser hp;
	uint32_t next_free;
	/* --- line 3 --- */
	uint32_t ts_ours0;  /* our TSval in the SYN-ACK (echoed by the cookie ACK) */
	uint32_t ts_ms0;    /* our millisecond clock when the flow was created */
	const void *routes; /* the route table f->pool indexes (kept alive while flows may
			     * retry; see the daemon's retirement of old tables) */
	uint32_t affinity;  /* Maglev key: hash of the client address or the named header */
	uint32_t next_req;  /* with FLOW_OPT_TRACK: client sequence where the next request starts */
	uint32_t pool_id;   /* which Service port the pod serves (route_pool.id) */
	uint32_t pod_fin;   /* FLOW_DRAIN: the old pod's FIN, in its sequence space */
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct flow, last_seen) + sizeof(uint64_t) <= 64,
	       "the splice path must touch one cache line of the flow");

#define FLOW_OPT_TS	  0x1  /* timestamps on both sides */
#define FLOW_OPT_SACK	  0x2  /* SACK permitted by the client */
#define FLOW_OPT_WS	  0x4  /* window scaling with the client */
#define FLOW_OPT_BUFFERED 0x8  /* holds a request buffer (flow->buf), not yet all acked */
#define FLOW_OPT_COUNTED  0x10 /* counted in the worker's least-request loads */
#define FLOW_OPT_TRACK	  0x20 /* keep-alive: request boundaries followed (per-request routing) */
#define FLOW_OPT_POD_RST  0x40 /* FLOW_DRAIN: the old pod's side was reset */
#define FLOW_OPT_PROXIED  0x80 /* the buffer starts with a PROXY v2 header for this pod stream */

_Static_assert(sizeof(struct flow) == 192, "struct flow: keep to three cache lines");

struct flow_table;

struct flow_table *flow_table_create(const char *name, uint32_t capacity, int socket);
void flow_table_free(struct flow_table *t);

/* Look up n keys in the client-side (pod_side false) or pod-side table; idx[i] = record index
 * or FLOW_NONE. One rte_hash bulk lookup per call (n ≤ 64). */
void flow_lookup_burst(struct flow_table *t, bool pod_side, const struct flow_key *keys, uint16_t n,
		       uint32_t *idx);

/* A new record for key (client side). Returns its index, or FLOW_NONE when the table is full
 * or the key is already present. */
uint32_t flow_insert(struct flow_table *t, const struct flow_key *client_key);

/* Bind (or re-bind after a retry) the pod-side key; the old pod key, if any, is removed.
 * Returns 0, or -ENOSPC/-EEXIST. */
int flow_bind_pod(struct flow_table *t, uint32_t idx, const struct flow_key *pod_key);

/* Which client-side bucket a key falls in (tests drive full buckets with it). */
uint32_t flow_client_bucket(const struct flow_table *t, const struct flow_key *k);

/* Remove a record and both its keys. */
void flow_remove(struct flow_table *t, uint32_t idx);

struct flow *flow_get(struct flow_table *t, uint32_t idx);
uint32_t flow_count(const struct flow_table *t);
uint32_t flow_capacity(const struct flow_table *t);

/* The keys of a record, as stored. */
void flow_client_key(const struct flow *f, struct flow_key *k);
void flow_pod_key(const struct flow *f, struct flow_key *k);

/*
 * Age a slice: look at up to `budget` records from where the last call stopped and call
 * expire(idx, arg) for those the predicate says are dead; the callback removes them.
 */
typedef bool (*flow_dead_fn)(struct flow *f, uint64_t now, void *arg);
unsigned flow_age(struct flow_table *t, uint64_t now, unsigned budget, flow_dead_fn dead,
		  void *arg);

#endif
