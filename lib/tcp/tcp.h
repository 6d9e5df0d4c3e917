/*
 * tcp: TCP-lite — delayed binding and splice (docs/tcp.md).
 *
 * The gateway answers a client's SYN with a SYN cookie and keeps no state until the handshake
 * completes; then it buffers the request head (acknowledging it itself), parses it with
 * lib/http, routes it with lib/route, picks a pod, connects to it from an SNAT address with the
 * client's own ISN, hands over the buffered bytes, and from then on rewrites every packet in
 * place in both directions. The pod's TCP does retransmission and congestion control end to end.
 *
 * Options, as Linux does with syncookies: when the client sends timestamps, the SYN-ACK offers
 * timestamps, SACK and window scaling, and carries the client's scale and SACK-permitted in the
 * low bits of its TSval, which the client echoes in the cookie ACK. The SYN to the pod offers
 * the client's own options, so the splice translates, per the table in docs/tcp.md, the sequence
 * delta, windows across differing scales, SACK edges and timestamps. A client without timestamps
 * gets MSS only (and 64 KiB windows).
 *
 * Like lib/net, this module never touches a NIC: tcpl_input_burst() takes parsed packets and
 * returns the packets to send, each with the port index to send it on.
 */
#ifndef SLUICE_TCP_H
#define SLUICE_TCP_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "conf/conf.h"
#include "crypto/crypto.h"
#include "flow/flow.h"
#include "http/http.h"
#include "net/net.h"
#include "route/route.h"
#include "stats/stats.h"

struct tls_server;

#define TCPL_MAX_PORTS	8
#define TCPL_MAX_LISTEN 8

struct tcpl_port {
	const struct net_local *local;
	const struct conf_port *conf; /* subnets and routes, for next-hop choice */
	unsigned offloads;	      /* NET_OFFLOAD_* */
	uint16_t mss;		      /* MTU - 40 */
	/* Toeplitz steering (profile steering = "thash"): SNAT ports are chosen so the NIC's RSS
	 * puts the pod's reply on this worker's queue. NULL key: not used on this port. */
	const uint8_t *rss_key; /* 40 or 52 bytes */
	const uint16_t *reta;	/* redirection table: hash % reta_size → queue */
	uint16_t reta_size;
	uint16_t queue; /* this worker's RX queue on the port */
	/* Which of the listen ports are TLS listeners on this port (sni.c), host order. */
	uint16_t tls_ports[TCPL_MAX_LISTEN];
	uint8_t n_tls;
};

struct tcpl_config {
	uint16_t listen_ports[TCPL_MAX_LISTEN]; /* host order */
	uint8_t n_listen;
	struct http_limits limits;
	uint32_t request_buffer; /* bytes per connection while the head arrives */
	uint32_t buffers;	 /* request buffers per worker */
	uint32_t max_flows;
	uint64_t header_tsc, connect_tsc, idle_tsc, linger_tsc, rto_tsc;
	uint16_t snat_port_first, snat_port_count; /* this worker's SNAT port partition */
	uint8_t connect_tries;
	uint8_t wscale;		   /* window scale the gateway offers clients (RFC 7323), e.g. 7 */
	uint32_t heads_per_client; /* buffers one client address may hold for heads in
				    * progress (slowloris cap) */
	uint32_t challenge_acks_per_sec; /* RFC 5961 §7 rate limit, per worker */
	uint64_t seed;			 /* random choices (SNAT ports, pods); 0 = from the TSC */
	uint64_t tsc_hz;		 /* for the millisecond timestamp clock */
	bool fixed_cookies; /* benchmark replay: the cookie counter held at 0 (with fixed keys) */
	/* TLS termination (terminate.c): a TLS listener's connection whose server name no
	 * passthrough Ingress names is terminated by the gateway, up to `terminated` at once per
	 * worker. tls NULL or terminated 0: such connections are refused (unrecognized_name). */
	struct tls_server *tls;
	uint32_t terminated;
	uint32_t terminated_per_client; /* records one client address may hold (0: terminated/8) */
	uint32_t term_mbufs;	  /* mbufs of the legs' rings, per worker (0: 32 per record) */
	uint32_t term_handshakes; /* handshake steps per burst (0: 4) */
};

struct tcpl_out {
	struct rte_mbuf *m;
	uint8_t port;
};

struct tcpl_ctx;

/* A configuration with the engine's defaults (the daemon's defaults of the same knobs; tests
 * and benchmarks start from it and change what they test). */
struct tcpl_config tcpl_config_default(uint64_t tsc_hz);

/* Create a worker's engine. pool: mbufs for packets the gateway builds. Returns NULL and a
 * message in err on failure. */
struct tcpl_ctx *tcpl_create(const char *name, const struct tcpl_config *cfg,
			     const struct tcpl_port *ports, uint8_t n_ports,
			     struct rte_mempool *pool, struct net_neigh *neigh,
			     struct stats_lcore *stats, int socket, char *err, size_t errlen);
void tcpl_free(struct tcpl_ctx *c);

/* The published state the engine reads (swapped by the management lcore). */
void tcpl_set_routes(struct tcpl_ctx *c, const struct route_table *t);

/* Access log: from now on the engine puts a record (lib/alog) for one request in `every` into
 * ring (elements of struct alog_rec; single producer: this engine), request ids starting at
 * id_base. NULL turns it off. 0, or -ENOMEM. */
struct rte_ring;
int tcpl_set_access_log(struct tcpl_ctx *c, struct rte_ring *ring, uint32_t every,
			uint64_t id_base);

/* A route target's metrics series (a route_series_fn for route_table_set_series): labels
 * ingress "namespace/name", the rule's host, service "namespace/name:port". Management lcore,
 * before the table is published. */
uint32_t tcpl_series_of(const struct route_target *t, const struct route_pool *p, void *arg);
void tcpl_set_keys(struct tcpl_ctx *c, const struct crypto_keys *k);
/* Seconds clock for cookies (the worker passes its own). */
void tcpl_set_seconds(struct tcpl_ctx *c, uint64_t seconds);

/* Is this packet for the engine (TCP to a VIP or SNAT address of port pi)? */
bool tcpl_wants(const struct tcpl_ctx *c, uint16_t pi, const struct net_pkt *p);

/*
 * Process n TCP packets received on port pi (each one tcpl_wants accepted). Every mbuf is
 * consumed: forwarded (rewritten in place) into out, or freed. Returns the number of out
 * entries written (at most out_cap; beyond that packets are dropped and counted).
 */
uint16_t tcpl_input_burst(struct tcpl_ctx *c, uint16_t pi, struct rte_mbuf **pkts,
			  const struct net_pkt *info, uint16_t n, uint64_t now,
			  struct tcpl_out *out, uint16_t out_cap);

/* Timers and aging, bounded per call; cheap when nothing is due. */
uint16_t tcpl_tick(struct tcpl_ctx *c, uint64_t now, struct tcpl_out *out, uint16_t out_cap);

uint32_t tcpl_flow_count(const struct tcpl_ctx *c);
/* Terminated connections in use. */
uint32_t tcpl_terminated_count(const struct tcpl_ctx *c);

/*
 * What the data path does with a client's byte stream, request by request, without a packet:
 * the same strict parser, limits, route table and framing (lib/tcp/frame.c) the engine runs on
 * a connection, as if every byte had arrived in order. For `sluice route --raw` and tests.
 * fn is called once per request (and once for where the stream stops); returns the number of
 * requests routed.
 */
enum tcpl_outcome {
	TCPL_ROUTED,	     /* forwarded to its Service (move: on a new pod connection) */
	TCPL_ANSWERED,	     /* the gateway answers (status), after the requests before it */
	TCPL_INCOMPLETE,     /* the head is not complete: the gateway waits (408 in time) */
	TCPL_FAILED_CLOSED,  /* broken body framing: nothing after `offset` reaches a pod */
	TCPL_AFTER_CLOSE,    /* bytes after a request that asked to close: dropped */
	TCPL_UPGRADE_WAITS,  /* after an upgrade request: opaque on 101, else framed */
	TCPL_BODY_CONTINUES, /* the last request's body goes on past the end of the input */
};

struct tcpl_explained {
	enum tcpl_outcome outcome;
	uint32_t offset; /* where the request (or the stop) starts in the stream */
	bool move;	 /* ROUTED on a new pod connection (the first, or after another Service) */
	uint16_t status; /* ANSWERED: the gateway's status */
	const char *why; /* ANSWERED, FAILED_CLOSED: the reason */
	const uint8_t *head; /* ROUTED: the head, parsed into r */
	const struct http_request *r;
	const struct route_table *table;
	const struct route_target *target;
};

typedef void (*tcpl_explain_fn)(const struct tcpl_explained *e, void *arg);

int tcpl_explain(const struct tcpl_config *cfg, const struct route_table *t, const uint8_t *buf,
		 size_t len, tcpl_explain_fn fn, void *arg);

/* Where the engine reads its route table (with an acquire load), for a publisher that stores
 * new tables itself (lib/control/publish.h states how long a table must live). */
const struct route_table **tcpl_routes_slot(struct tcpl_ctx *c);

#endif
