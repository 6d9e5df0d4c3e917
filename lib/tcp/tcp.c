/*
 * tcp.c: the TCP-lite state machine (DESIGN §4 steps 1–8).
 *
 * A burst goes through three passes:
 *   1. key every packet (client side: client → VIP; pod side: pod → SNAT) and look the keys up
 *      with one rte_hash bulk call per side;
 *   2. gather the SYNs that need a cookie and the bare ACKs of unknown flows that carry one,
 *      and MAC each group with one ipsec-mb burst;
 *   3. act on each packet in arrival order.
 *
 * Sequence spaces. The client's ISN is x, our cookie is c, the pod's ISN is y. The SYN to the
 * pod carries seq x, so client→pod sequence numbers pass unchanged; pod→client sequence numbers
 * get + D and client→pod acknowledgements − D, with D = c − y (mod 2^32; unsigned arithmetic
 * wraps exactly as TCP sequence numbers do).
 *
 * Timers live in a bounded list of flows in timed states (head, neighbour wait, connect,
 * unacknowledged request, the gateway's own response), walked by tcpl_tick(); idle and closed
 * flows are aged by lib/flow a slice at a time.
 */
#include "tcp/tcp.h"
#include "lb/lb.h"

#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_tcp.h>
#include <rte_thash.h>

#define TIMER_LIST_MAX 8192
#define EJECT_SLOTS    64
#define MAX_RETRANSMIT 6
#define HEAD_SCRATCH   4096 /* normalised path */

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

static const struct {
	uint16_t code;
	const char *reason;
	enum stats_counter counter;
} responses[RESP__COUNT] = {
	[RESP_400] = {400, "Bad Request", STATS_http_local_400},
	[RESP_404] = {404, "Not Found", STATS_http_local_404},
	[RESP_408] = {408, "Request Timeout", STATS_http_local_408},
	[RESP_414] = {414, "URI Too Long", STATS_http_local_431},
	[RESP_431] = {431, "Request Header Fields Too Large", STATS_http_local_431},
	[RESP_501] = {501, "Not Implemented", STATS_http_local_501},
	[RESP_502] = {502, "Bad Gateway", STATS_http_local_502},
	[RESP_503] = {503, "Service Unavailable", STATS_http_local_503},
	[RESP_504] = {504, "Gateway Timeout", STATS_http_local_504},
	[RESP_505] = {505, "HTTP Version Not Supported", STATS_http_local_501},
};

struct ejected {
	uint32_t addr;
	uint16_t port;
	uint8_t strikes; /* ejections in a row without a success in between */
	uint64_t until;
};

struct tcpl_ctx {
	struct tcpl_config cfg;
	struct tcpl_port ports[TCPL_MAX_PORTS];
	uint8_t n_ports;
	uint8_t pod_pi; /* the port that holds SNAT addresses */
	struct rte_mempool *pool;
	struct net_neigh *neigh;
	struct stats_lcore *st;
	struct flow_table *ft;
	struct crypto_ctx *crypto;
	const struct crypto_keys *keys;
	const struct route_table *routes;
	uint64_t seconds;
	uint64_t now; /* tsc of the burst being processed */
	uint8_t *bufs;
	uint32_t *buf_free;
	uint32_t n_buf_free;
	uint16_t next_snat;
	uint32_t rr;
	uint32_t *timers;
	uint32_t n_timers;
	uint64_t next_tick;
	struct ejected eject[EJECT_SLOTS];
	uint32_t ejections;	/* pods in the eject slots (0: nothing to forget) */
	struct lb_loads *loads; /* least-request: connections per endpoint on this worker */
	uint64_t rng;
	char resp[RESP__COUNT][160];
	uint16_t resp_len[RESP__COUNT];
};

/* ---- small helpers ------------------------------------------------------------------------ */

static inline uint32_t seq_add(uint32_t a, uint32_t b)
{
	return a + b;
}

/* a < b in sequence space (RFC 9293 §3.4). */
static inline bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline uint8_t *buf_of(struct tcpl_ctx *c, const struct flow *f)
{
	return c->bufs + (size_t)f->buf * c->cfg.request_buffer;
}

static void buf_release(struct tcpl_ctx *c, struct flow *f)
{
	if (f->buf != FLOW_NONE) {
		c->buf_free[c->n_buf_free++] = f->buf;
		f->buf = FLOW_NONE;
	}
	f->opts &= (uint8_t)~FLOW_OPT_BUFFERED;
}

static void timer_arm(struct tcpl_ctx *c, uint32_t idx, struct flow *f, uint64_t deadline)
{
	f->deadline = deadline;
	if (!f->timer_listed && c->n_timers < TIMER_LIST_MAX) {
		c->timers[c->n_timers++] = idx;
		f->timer_listed = 1;
	}
}

/* Least-request accounting: the flow stops counting against its endpoint. */
static void load_release(struct tcpl_ctx *c, struct flow *f)
{
	if (!(f->opts & FLOW_OPT_COUNTED))
		return;
	f->opts &= (uint8_t)~FLOW_OPT_COUNTED;
	lb_load_add(c->loads, f->pod_ip, rte_be_to_cpu_16(f->pod_port), -1);
}

static void flow_drop(struct tcpl_ctx *c, uint32_t idx)
{
	struct flow *f = flow_get(c->ft, idx);
	load_release(c, f);
	buf_release(c, f);
	f->deadline = 0;
	flow_remove(c->ft, idx);
	stats_add(c->st, STATS_tcp_flows_closed, 1);
}

static inline bool emit(struct tcpl_out *out, uint16_t *n, uint16_t cap, struct rte_mbuf *m,
			uint8_t port, struct stats_lcore *st)
{
	if (m == NULL)
		return false;
	if (*n >= cap) {
		rte_pktmbuf_free(m);
		stats_add(st, STATS_tx_dropped, 1);
		return false;
	}
	out[*n].m = m;
	out[*n].port = port;
	(*n)++;
	return true;
}

/* Options the gateway puts on a segment it builds. */
struct seg_opts {
	uint16_t mss; /* 0: none */
	int8_t ws;    /* window scale shift, -1: none */
	bool sack_ok; /* SACK-permitted */
	bool ts;      /* timestamps */
	uint32_t tsval, tsecr;
};

/* Encode options, 4-byte aligned (RFC 9293 §3.1, RFC 7323 §2–3, RFC 2018 §2). */
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

/* Build a TCP/IPv4 segment from scratch. */
static struct rte_mbuf *segment(struct tcpl_ctx *c, uint8_t pi, const struct rte_ether_addr *dst,
				uint32_t sip, uint32_t dip, uint16_t sport, uint16_t dport,
				uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win,
				const struct seg_opts *o, const uint8_t *payload, uint16_t plen)
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

/* Our millisecond clock, the unit of the gateway's TSvals. */
static inline uint32_t ms_of(const struct tcpl_ctx *c, uint64_t now)
{
	return (uint32_t)(now / (c->cfg.tsc_hz / 1000 ? c->cfg.tsc_hz / 1000 : 1));
}

/* The TSval the gateway sends the client of f now: continues from the SYN-ACK's. */
static inline uint32_t our_tsval(const struct tcpl_ctx *c, const struct flow *f, uint64_t now)
{
	return f->ts_ours0 + (ms_of(c, now) - f->ts_ms0);
}

/* A segment to the client of flow f (from the VIP); win in bytes, scaled here. */
static struct rte_mbuf *to_client(struct tcpl_ctx *c, const struct flow *f, uint32_t seq,
				  uint32_t ack, uint8_t flags, uint32_t win, const uint8_t *payload,
				  uint16_t plen)
{
	struct seg_opts o = {.ws = -1};
	if (f->opts & FLOW_OPT_TS) {
		o.ts = true;
		o.tsval = our_tsval(c, f, c->now);
		o.tsecr = f->ts_client;
	}
	win >>= f->p2c_out;
	return segment(c, f->client_pi, &f->client_mac, f->vip, f->client_ip, f->vip_port,
		       f->client_port, seq, ack, flags, (uint16_t)(win > 65535 ? 65535 : win),
		       (f->opts & FLOW_OPT_TS) ? &o : NULL, payload, plen);
}

/* Next byte we expect from the client. */
static inline uint32_t client_next(const struct flow *f)
{
	return seq_add(f->client_isn, 1 + f->req_len);
}

/* Buffer space left, in bytes (to_client scales it). */
static uint32_t head_window(const struct tcpl_ctx *c, const struct flow *f)
{
	return c->cfg.request_buffer - f->req_len;
}

/* ---- the gateway's own responses ---------------------------------------------------------- */

static void local_response(struct tcpl_ctx *c, uint32_t idx, struct flow *f, enum local_status s,
			   uint64_t now, struct tcpl_out *out, uint16_t *n, uint16_t cap)
{
	stats_add(c->st, responses[s].counter, 1);
	f->state = FLOW_LOCAL_RESP;
	f->resp_status_idx = (uint8_t)s;
	f->resp_len = c->resp_len[s];
	f->tries = 0;
	buf_release(c, f);
	/* Response and FIN together; the client's data beyond this point is not read. */
	emit(out, n, cap,
	     to_client(c, f, seq_add(f->cookie_isn, 1), client_next(f),
		       RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG | RTE_TCP_FIN_FLAG, 0,
		       (const uint8_t *)c->resp[s], f->resp_len),
	     f->client_pi, c->st);
	timer_arm(c, idx, f, now + c->cfg.rto_tsc);
}

static enum local_status status_of(uint16_t code)
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

/* ---- choosing and reaching a pod ---------------------------------------------------------- */

static bool ejected(struct tcpl_ctx *c, uint32_t addr, uint16_t port, uint64_t now)
{
	for (unsigned i = 0; i < EJECT_SLOTS; i++)
		if (c->eject[i].addr == addr && c->eject[i].port == port && c->eject[i].until > now)
			return true;
	return false;
}

/*
 * Passive ejection with back-off: a pod that refused or timed out is skipped for 10× the
 * connect timeout, doubled for each further failure without a success in between (up to 32×
 * that). A successful connect forgets the pod's record.
 */
static void eject(struct tcpl_ctx *c, uint32_t addr, uint16_t port, uint64_t now)
{
	unsigned slot = 0;
	uint8_t strikes = 0;
	for (unsigned i = 0; i < EJECT_SLOTS; i++) {
		if (c->eject[i].addr == addr && c->eject[i].port == port) {
			slot = i;
			strikes = (uint8_t)(c->eject[i].strikes < 5 ? c->eject[i].strikes + 1 : 5);
			break;
		}
		if (c->eject[i].until < c->eject[slot].until)
			slot = i;
	}
	if (c->eject[slot].addr == 0)
		c->ejections++;
	c->eject[slot] =
		(struct ejected){addr, port, strikes, now + (10 * c->cfg.connect_tsc << strikes)};
}

static void eject_forget(struct tcpl_ctx *c, uint32_t addr, uint16_t port)
{
	for (unsigned i = 0; i < EJECT_SLOTS; i++)
		if (c->eject[i].addr == addr && c->eject[i].port == port) {
			c->eject[i] = (struct ejected){0};
			c->ejections--;
			return;
		}
}

static inline bool usable(struct tcpl_ctx *c, const struct route_pool *p, uint32_t i,
			  uint32_t avoid, uint64_t now)
{
	return i != avoid && !ejected(c, p->endpoints[i].addr, p->endpoints[i].port, now);
}

/*
 * Pick an endpoint by the pool's algorithm, skipping ejected pods and the one that just failed
 * (avoid). When the algorithm's choice is not usable, round robin over the rest; when nothing
 * is, try anyway rather than fail a request that might succeed.
 */
static int pick_endpoint(struct tcpl_ctx *c, const struct route_pool *p, uint32_t avoid,
			 uint64_t now, uint32_t affinity)
{
	uint32_t n = p->n_endpoints;
	if (n == 0)
		return -1;
	switch (p->algorithm) {
	case LB_MAGLEV:
		if (p->maglev) {
			/* Affinity: the key's pod, unless it is ejected or just failed. */
			uint32_t i = lb_maglev_pick(p->maglev, lb_hash32(affinity));
			if (i < n && usable(c, p, i, avoid, now))
				return (int)i;
		}
		break;
	case LB_WEIGHTED:
		if (p->cum) {
			for (unsigned k = 0; k < 4; k++) {
				uint32_t r =
					(uint32_t)(((uint64_t)lb_rand(&c->rng) * p->cum[n - 1]) >>
						   32);
				uint32_t i = lb_weighted_pick(p->cum, n, r);
				if (i < n && usable(c, p, i, avoid, now))
					return (int)i;
			}
		}
		break;
	case LB_LEAST_REQUEST: {
		uint32_t a = lb_rand(&c->rng) % n, b = lb_rand(&c->rng) % n;
		if (a == b && n > 1)
			b = (b + 1) % n;
		bool ua = usable(c, p, a, avoid, now), ub = usable(c, p, b, avoid, now);
		if (ua && ub) {
			uint32_t la =
				lb_load_get(c->loads, p->endpoints[a].addr, p->endpoints[a].port);
			uint32_t lbb =
				lb_load_get(c->loads, p->endpoints[b].addr, p->endpoints[b].port);
			return (int)(lbb < la ? b : a);
		}
		if (ua || ub)
			return (int)(ua ? a : b);
		break;
	}
	default:
		break;
	}
	uint32_t start = c->rr++;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (start + k) % n;
		if (i == avoid && n > 1)
			continue;
		if (!ejected(c, p->endpoints[i].addr, p->endpoints[i].port, now))
			return (int)i;
	}
	uint32_t i = start % n;
	if (i == avoid && n > 1)
		i = (i + 1) % n;
	return (int)i;
}

/* The address to resolve for pod_ip: itself when on-link, else the route's next hop. */
static uint32_t next_hop(const struct tcpl_ctx *c, uint32_t pod_ip)
{
	const struct conf_port *cp = c->ports[c->pod_pi].conf;
	if (cp == NULL)
		return pod_ip;
	for (unsigned i = 0; i < cp->n_subnets; i++)
		if (conf_prefix_contains(&cp->subnets[i], pod_ip))
			return pod_ip;
	const struct conf_route *best = NULL;
	for (unsigned i = 0; i < cp->n_routes; i++)
		if (conf_prefix_contains(&cp->routes[i].dst, pod_ip) &&
		    (best == NULL || cp->routes[i].dst.len > best->dst.len))
			best = &cp->routes[i];
	return best ? best->via : pod_ip;
}

/* SYN retransmission intervals: rto, 2·rto, 4·rto... (RFC 6298 §5.5 back-off) within the
 * connect budget; the budget used after k retransmissions is rto·(2^k − 1). */
static inline uint64_t syn_interval(const struct tcpl_ctx *c, unsigned k)
{
	return c->cfg.rto_tsc << k;
}

/* The SYN to the pod: the client's ISN and the client's own options, so that everything the
 * client sends later means the same to the pod (DESIGN §4 step 5). */
static struct rte_mbuf *syn_to_pod(struct tcpl_ctx *c, const struct flow *f)
{
	uint16_t mss = f->mss < c->ports[c->pod_pi].mss ? f->mss : c->ports[c->pod_pi].mss;
	struct seg_opts o = {
		.mss = mss,
		.ws = (f->opts & FLOW_OPT_WS) ? (int8_t)f->c2p_in : -1,
		.sack_ok = (f->opts & FLOW_OPT_SACK) != 0,
		.ts = (f->opts & FLOW_OPT_TS) != 0,
		.tsval = f->ts_client,
		.tsecr = 0,
	};
	return segment(c, c->pod_pi, &f->pod_mac, f->snat_ip, f->pod_ip, f->snat_port, f->pod_port,
		       f->client_isn, 0, RTE_TCP_SYN_FLAG, 65535, &o, NULL, 0);
}

static void send_syn(struct tcpl_ctx *c, uint32_t idx, struct flow *f, uint64_t now,
		     struct tcpl_out *out, uint16_t *n, uint16_t cap)
{
	emit(out, n, cap, syn_to_pod(c, f), c->pod_pi, c->st);
	stats_add(c->st, STATS_pod_connects, 1);
	f->state = FLOW_CONNECT;
	f->syn_tx = 0;
	timer_arm(c, idx, f, now + syn_interval(c, 0));
}

/* Resolve the pod's MAC; send the SYN now or wait for ARP (the timer retries). */
static void try_connect(struct tcpl_ctx *c, uint32_t idx, struct flow *f, uint64_t now,
			struct tcpl_out *out, uint16_t *n, uint16_t cap)
{
	bool ask = false;
	uint32_t hop = next_hop(c, f->pod_ip);
	int rc = net_neigh_lookup(c->neigh, hop, now, &f->pod_mac, &ask);
	if (ask) {
		const struct net_local *l = c->ports[c->pod_pi].local;
		struct rte_mbuf *m = rte_pktmbuf_alloc(c->pool);
		if (m && net_arp_request_build(m, l, f->snat_ip, hop) == 0) {
			stats_add(c->st, STATS_arp_requests, 1);
			emit(out, n, cap, m, c->pod_pi, c->st);
		} else if (m) {
			rte_pktmbuf_free(m);
		}
	}
	if (rc == 0) {
		send_syn(c, idx, f, now, out, n, cap);
		return;
	}
	if (f->state != FLOW_NEIGH) {
		f->state = FLOW_NEIGH;
		f->syn_tx = 0; /* counts neighbour polls here; tries counts pods */
	}
	/* Poll again soon; give up after the connect timeout. */
	timer_arm(c, idx, f, now + c->cfg.rto_tsc / 20 + 1);
}

/* The RX queue the NIC will pick for the pod's reply (pod → SNAT), by Toeplitz hash and the
 * redirection table, as the port computes it (rte_softrss). */
static inline uint16_t reply_queue(const struct tcpl_port *tp, uint32_t pod_ip, uint32_t snat_ip,
				   uint16_t pod_port_be, uint16_t snat_port)
{
	struct rte_ipv4_tuple t = {.src_addr = rte_be_to_cpu_32(pod_ip),
				   .dst_addr = rte_be_to_cpu_32(snat_ip)};
	t.sport = rte_be_to_cpu_16(pod_port_be);
	t.dport = snat_port;
	uint32_t h = rte_softrss((uint32_t *)&t, RTE_THASH_V4_L4_LEN, tp->rss_key);
	return tp->reta[h % tp->reta_size];
}

#define PROXY_V2_LEN 28 /* signature, version/command, family, length, IPv4 addresses, ports */

/*
 * Put a PROXY protocol v2 header (the client's address and port, the VIP's) in front of the
 * buffered request, once per pod stream. The pod's stream starts that many bytes earlier: the
 * SYN's sequence number moves back by the header's length, so the client's bytes keep their
 * numbers and the splice translates nothing more. Returns false when the buffer has no room.
 */
static bool proxy_v2_insert(struct tcpl_ctx *c, struct flow *f)
{
	if (f->opts & FLOW_OPT_PROXIED)
		return true;
	if (f->buf == FLOW_NONE || f->req_len + PROXY_V2_LEN > c->cfg.request_buffer)
		return false;
	static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
	uint8_t *b = buf_of(c, f);
	memmove(b + PROXY_V2_LEN, b, f->req_len);
	memcpy(b, sig, 12);
	b[12] = 0x21; /* version 2, PROXY */
	b[13] = 0x11; /* IPv4, stream */
	b[14] = 0;
	b[15] = 12;
	memcpy(b + 16, &f->client_ip, 4);
	memcpy(b + 20, &f->vip, 4);
	memcpy(b + 24, &f->client_port, 2);
	memcpy(b + 26, &f->vip_port, 2);
	f->req_len += PROXY_V2_LEN;
	f->client_isn -= PROXY_V2_LEN;
	f->opts |= FLOW_OPT_PROXIED;
	return true;
}

/* Choose a pod (a different one on retry), an SNAT port, and connect. */
static void bind_pod(struct tcpl_ctx *c, uint32_t idx, struct flow *f, uint64_t now, uint32_t avoid,
		     struct tcpl_out *out, uint16_t *n, uint16_t cap)
{
	const struct route_pool *p = f->routes ? route_pool(f->routes, f->pool) : NULL;
	int e = p ? pick_endpoint(c, p, avoid, now, f->affinity) : -1;
	load_release(c, f);
	if (e < 0) {
		local_response(c, idx, f, RESP_503, now, out, n, cap);
		return;
	}
	f->endpoint = (uint32_t)e;
	if (p->proxy_v2 && !proxy_v2_insert(c, f)) {
		local_response(c, idx, f, RESP_431, now, out, n, cap);
		return;
	}
	const struct net_local *l = c->ports[c->pod_pi].local;
	uint32_t snat = l->snat[f->client_port % l->n_snat];
	const struct tcpl_port *tp = &c->ports[c->pod_pi];
	bool thash = tp->rss_key != NULL && tp->reta != NULL && tp->reta_size > 0;
	/* With Toeplitz steering, a port in our partition whose reply hashes to our queue: one in
	 * (queues) candidates matches, so a bounded scan finds one; without it, any port. */
	for (unsigned tries = 0; tries < (thash ? 256u : 16u); tries++) {
		uint16_t port = (uint16_t)(c->cfg.snat_port_first +
					   c->next_snat++ % c->cfg.snat_port_count);
		if (thash && reply_queue(tp, p->endpoints[e].addr, snat,
					 rte_cpu_to_be_16(p->endpoints[e].port), port) != tp->queue)
			continue;
		struct flow_key k = {p->endpoints[e].addr, snat,
				     rte_cpu_to_be_16(p->endpoints[e].port),
				     rte_cpu_to_be_16(port)};
		if (flow_bind_pod(c->ft, idx, &k) == 0) {
			/* Every connection counts (whatever its pool's algorithm), so
			 * least-request sees all of this worker's load on a pod. */
			if (lb_load_add(c->loads, p->endpoints[e].addr, p->endpoints[e].port, 1))
				f->opts |= FLOW_OPT_COUNTED;
			try_connect(c, idx, f, now, out, n, cap);
			return;
		}
	}
	local_response(c, idx, f, RESP_503, now, out, n, cap);
}

static bool pool_has_pod(const struct route_pool *p, uint32_t addr, uint16_t port)
{
	for (uint32_t i = 0; i < p->n_endpoints; i++)
		if (p->endpoints[i].addr == addr && p->endpoints[i].port == port)
			return true;
	return false;
}

/*
 * Look a parsed head up in the current table (one table per request: a publish between here
 * and the pod's answer must not change what f->pool means). NULL for no route; *bad when the
 * path cannot be normalised.
 */
static const struct route_target *lookup_head(struct tcpl_ctx *c, const uint8_t *b,
					      const struct http_request *r,
					      const struct route_table **routes, bool *bad)
{
	char path[HEAD_SCRATCH];
	int pl = http_normalize_path(b + r->path.off, r->path.len, path, sizeof(path));
	*bad = pl < 0;
	*routes = __atomic_load_n(&c->routes, __ATOMIC_ACQUIRE);
	if (pl < 0 || *routes == NULL)
		return NULL;
	return route_lookup(*routes, (const char *)b + r->host.off, r->host.len, path, (size_t)pl);
}

static void untrack(struct tcpl_ctx *c, struct flow *f)
{
	if (f->opts & FLOW_OPT_TRACK) {
		f->opts &= (uint8_t)~FLOW_OPT_TRACK;
		stats_add(c->st, STATS_http_track_lost, 1);
	}
}

/*
 * After a request head starting at client sequence start, of which have bytes were seen:
 * where the next request on a kept-alive connection will start. Followed when the body's end
 * is known from the head (none or Content-Length); a chunked upload, an upgrade or bytes of a
 * pipelined request already here end tracking, and the connection stays on its pod.
 */
static void track_next(struct tcpl_ctx *c, struct flow *f, const struct http_request *r,
		       uint32_t start, uint32_t have)
{
	f->opts |= FLOW_OPT_TRACK;
	uint64_t total = r->head_len + (r->body == HTTP_BODY_LENGTH ? r->content_length : 0);
	if (!r->keep_alive) {
		f->opts &= (uint8_t)~FLOW_OPT_TRACK; /* no next request */
		return;
	}
	if (r->upgrade || r->body == HTTP_BODY_CHUNKED || total < have || total > (1u << 30)) {
		untrack(c, f);
		return;
	}
	f->next_req = seq_add(start, (uint32_t)total);
}

/* The head is complete: route it and start the pod connection. */
static void route_request(struct tcpl_ctx *c, uint32_t idx, struct flow *f,
			  const struct http_request *r, uint64_t now, struct tcpl_out *out,
			  uint16_t *n, uint16_t cap)
{
	const uint8_t *b = buf_of(c, f);
	stats_add(c->st, STATS_http_requests, 1);
	f->method = (uint8_t)r->method;
	const struct route_table *routes;
	bool bad;
	const struct route_target *t = lookup_head(c, b, r, &routes, &bad);
	if (bad) {
		local_response(c, idx, f, RESP_400, now, out, n, cap);
		return;
	}
	if (t == NULL) {
		local_response(c, idx, f, RESP_404, now, out, n, cap);
		return;
	}
	f->pool = t->pool;
	f->routes = routes;
	f->tries = 0;
	const struct route_pool *pool = route_pool(routes, t->pool);
	f->pool_id = pool->id;
	track_next(c, f, r, seq_add(f->client_isn, 1), f->req_len);
	size_t hoff, hlen;
	if (pool && pool->algorithm == LB_MAGLEV && pool->hash_header[0] &&
	    http_find_header(b, r->head_len, pool->hash_header, &hoff, &hlen))
		f->affinity = (uint32_t)lb_hash_bytes(b + hoff, hlen);
	else
		f->affinity = f->client_ip;
	bind_pod(c, idx, f, now, UINT32_MAX, out, n, cap);
}

/* Retry on another pod, or answer 502/504. The request reached no pod, so any method may be
 * retried (DESIGN §4 step 5). */
static void connect_failed(struct tcpl_ctx *c, uint32_t idx, struct flow *f, bool refused,
			   uint64_t now, struct tcpl_out *out, uint16_t *n, uint16_t cap)
{
	const struct route_pool *p = f->routes ? route_pool(f->routes, f->pool) : NULL;
	if (p && f->endpoint < p->n_endpoints)
		eject(c, p->endpoints[f->endpoint].addr, p->endpoints[f->endpoint].port, now);
	stats_add(c->st, refused ? STATS_pod_refused : STATS_pod_timeouts, 1);
	if (++f->tries >= c->cfg.connect_tries || p == NULL) {
		local_response(c, idx, f, refused ? RESP_502 : RESP_504, now, out, n, cap);
		return;
	}
	uint8_t tries = f->tries;
	bind_pod(c, idx, f, now, f->endpoint, out, n, cap);
	f->tries = tries;
}

/* Options of a segment the gateway sends the pod on the client's behalf: the client's TSval,
 * and the pod's TSval echoed. NULL when the flow has no timestamps. */
static const struct seg_opts *pod_side_opts(const struct tcpl_ctx *c, const struct flow *f,
					    struct seg_opts *o)
{
	*o = (struct seg_opts){.ws = -1};
	if (!(f->opts & FLOW_OPT_TS))
		return NULL;
	o->ts = true;
	o->tsval = f->ts_client;
	o->tsecr = our_tsval(c, f, c->now) - f->ts_delta;
	return o;
}

/* Send the buffered request bytes to the pod (after its SYN-ACK, or on retransmission). */
static void send_request(struct tcpl_ctx *c, struct flow *f, struct tcpl_out *out, uint16_t *n,
			 uint16_t cap, bool with_ack_only)
{
	const uint8_t *b = buf_of(c, f);
	uint16_t mss = f->mss < c->ports[c->pod_pi].mss ? f->mss : c->ports[c->pod_pi].mss;
	uint32_t ack = seq_add(f->pod_isn, 1);
	struct seg_opts o;
	const struct seg_opts *op = pod_side_opts(c, f, &o);
	if (op)
		mss = (uint16_t)(mss - 12); /* RFC 6691: options come out of the segment */
	/* The client's real window is unknown here: advertise 64 KiB until its next ACK. */
	uint16_t win = (uint16_t)(65535u >> f->c2p_out);
	if (with_ack_only)
		emit(out, n, cap,
		     segment(c, c->pod_pi, &f->pod_mac, f->snat_ip, f->pod_ip, f->snat_port,
			     f->pod_port, seq_add(f->client_isn, 1), ack, RTE_TCP_ACK_FLAG, win, op,
			     NULL, 0),
		     c->pod_pi, c->st);
	for (uint32_t off = 0; off < f->req_len; off += mss) {
		uint16_t len = (uint16_t)(f->req_len - off < mss ? f->req_len - off : mss);
		emit(out, n, cap,
		     segment(c, c->pod_pi, &f->pod_mac, f->snat_ip, f->pod_ip, f->snat_port,
			     f->pod_port, seq_add(f->client_isn, 1 + off), ack,
			     RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, win, op, b + off, len),
		     c->pod_pi, c->st);
	}
}

/* ---- splice ------------------------------------------------------------------------------- */

/*
 * Rewrite addresses, ports and one sequence field of a packet in place, fixing checksums.
 * Without offload the sums are updated incrementally (RFC 1624): a few adds per field, the
 * same cost for a 60-byte ACK and a 9000-byte segment.
 */
struct splice_fix {
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

static inline void rewrite(struct rte_mbuf *m, const struct net_pkt *p, unsigned offloads,
			   const struct rte_ether_addr *dmac, const struct rte_ether_addr *smac,
			   uint32_t sip, uint32_t dip, uint16_t sport, uint16_t dport,
			   const struct splice_fix *x)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, p->l2_len);
	struct rte_tcp_hdr *th =
		rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, p->l2_len + p->l3_len);
	uint8_t *tb = (uint8_t *)th;
	bool sw = !(offloads & (NET_OFFLOAD_IPV4_CKSUM | NET_OFFLOAD_TCP_CKSUM));
	uint16_t ipc = ip->hdr_checksum, tc = th->cksum;
	eh->dst_addr = *dmac;
	eh->src_addr = *smac;

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

	/* Window, across differing scales, clamped (DESIGN §4 table). */
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
		ipc = net_cksum_adjust32(ipc, ip->src_addr, sip);
		ipc = net_cksum_adjust32(ipc, ip->dst_addr, dip);
		tc = net_cksum_adjust32(tc, ip->src_addr, sip);
		tc = net_cksum_adjust32(tc, ip->dst_addr, dip);
		tc = net_cksum_adjust16(tc, th->src_port, sport);
		tc = net_cksum_adjust16(tc, th->dst_port, dport);
	}
	ip->src_addr = sip;
	ip->dst_addr = dip;
	th->src_port = sport;
	th->dst_port = dport;
	if (sw) {
		ip->hdr_checksum = ipc;
		th->cksum = tc;
	} else {
		net_ipv4_tcp_cksum_finish(m, p, offloads);
	}
}

/* Client → pod: addresses and ports to SNAT → pod, acknowledgement − D. */
static void splice_to_pod(struct tcpl_ctx *c, struct flow *f, struct rte_mbuf *m,
			  const struct net_pkt *p)
{
	struct splice_fix x = {.fix_ack = true,
			       .delta = f->delta,
			       .win_in = f->c2p_in,
			       .win_out = f->c2p_out,
			       .ts_delta = f->ts_delta,
			       .ts = (f->opts & FLOW_OPT_TS) != 0,
			       .sack = (f->opts & FLOW_OPT_SACK) != 0};
	rewrite(m, p, c->ports[c->pod_pi].offloads, &f->pod_mac, &c->ports[c->pod_pi].local->mac,
		f->snat_ip, f->pod_ip, f->snat_port, f->pod_port, &x);
}

/* Pod → client: addresses and ports to VIP → client, sequence + D. */
static void splice_to_client(struct tcpl_ctx *c, struct flow *f, struct rte_mbuf *m,
			     const struct net_pkt *p)
{
	struct splice_fix x = {.fix_ack = false,
			       .delta = f->delta,
			       .win_in = f->p2c_in,
			       .win_out = f->p2c_out,
			       .ts_delta = f->ts_delta,
			       .ts = (f->opts & FLOW_OPT_TS) != 0,
			       .sack = false};
	rewrite(m, p, c->ports[f->client_pi].offloads, &f->client_mac,
		&c->ports[f->client_pi].local->mac, f->vip, f->client_ip, f->vip_port,
		f->client_port, &x);
}

static void track_close(struct flow *f, uint8_t flags, uint8_t side)
{
	if (flags & RTE_TCP_RST_FLAG) {
		f->state = FLOW_CLOSED;
		return;
	}
	if (flags & RTE_TCP_FIN_FLAG)
		f->fins |= side;
	if ((f->fins & (FLOW_FIN_CLIENT | FLOW_FIN_POD)) == (FLOW_FIN_CLIENT | FLOW_FIN_POD))
		f->state = FLOW_CLOSED;
}

/* ---- per-request routing on kept-alive connections (DESIGN §4) ---------------------------- */

/* A segment to the pod of flow f on the client's behalf, without payload. */
static struct rte_mbuf *to_pod(struct tcpl_ctx *c, const struct flow *f, uint32_t seq, uint32_t ack,
			       uint8_t flags, uint16_t win)
{
	struct seg_opts o;
	const struct seg_opts *op = pod_side_opts(c, f, &o);
	return segment(c, c->pod_pi, &f->pod_mac, f->snat_ip, f->pod_ip, f->snat_port, f->pod_port,
		       seq, ack, flags, win, op, NULL, 0);
}

/*
 * The next request goes elsewhere (or its head is not complete in its first segment): take its
 * bytes into a request buffer and acknowledge them ourselves, and close the current pod's side
 * with a FIN after the bytes it has. The flow drains: the pod's remaining data still reaches the
 * client, its FIN does not, and once the client has all of it the flow is rewound to the
 * request-head state with sequence bases moved to where both sides now stand (steps 3–7
 * again, new deltas). Returns false when no buffer is free: the request then stays on the pod.
 */
static bool hold_request(struct tcpl_ctx *c, uint32_t idx, struct flow *f, struct rte_mbuf *m,
			 const struct net_pkt *p, uint32_t seq, const uint8_t *data, uint16_t plen,
			 uint64_t now, struct tcpl_out *out, uint16_t *n, uint16_t cap)
{
	if (c->n_buf_free == 0 || plen > c->cfg.request_buffer)
		return false;
	const struct rte_tcp_hdr *th =
		rte_pktmbuf_mtod_offset(m, const struct rte_tcp_hdr *, p->l2_len + p->l3_len);
	uint32_t cack = rte_be_to_cpu_32(th->recv_ack);
	f->buf = c->buf_free[--c->n_buf_free];
	f->opts |= FLOW_OPT_BUFFERED;
	f->opts &= (uint8_t)~FLOW_OPT_PROXIED;
	memcpy(buf_of(c, f), data, plen);
	f->req_len = plen;
	http_request_parser_init(&f->hp);
	f->client_isn = seq - 1;  /* the held request starts the new pod's stream */
	f->cookie_isn = cack - 1; /* our next byte to the client: what it acknowledged */
	if ((f->opts & FLOW_OPT_TS) && p->tcp_has_ts)
		f->ts_client = p->tcp_tsval;
	emit(out, n, cap,
	     to_client(c, f, cack, client_next(f), RTE_TCP_ACK_FLAG, head_window(c, f), NULL, 0),
	     f->client_pi, c->st);
	emit(out, n, cap,
	     to_pod(c, f, seq, cack - f->delta, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG,
		    (uint16_t)(65535u >> f->c2p_out)),
	     c->pod_pi, c->st);
	f->fins = 0;
	f->opts &= (uint8_t)~FLOW_OPT_POD_RST;
	f->state = FLOW_DRAIN;
	f->tries = 0;
	timer_arm(c, idx, f, now + c->cfg.connect_tsc);
	rte_pktmbuf_free(m);
	return true;
}

/*
 * A data segment from the client of a tracked spliced flow. Returns true when it was consumed
 * (held for another pod, or dropped), false to splice it to the current pod.
 */
static bool track_request(struct tcpl_ctx *c, uint32_t idx, struct flow *f, struct rte_mbuf *m,
			  const struct net_pkt *p, uint32_t seq, uint64_t now, struct tcpl_out *out,
			  uint16_t *n, uint16_t cap)
{
	uint16_t plen = p->payload_len;
	if (seq_lt(seq, f->next_req)) {
		if (seq_lt(f->next_req, seq_add(seq, plen)))
			untrack(c, f); /* a body's end and a next request in one segment */
		return false;
	}
	if (seq != f->next_req) {
		/* Beyond the next request's start with its beginning missing: it cannot be routed
		 * yet, and the pod must not see it first. The client sends it again. */
		stats_add(c->st, STATS_tcp_out_of_order, 1);
		rte_pktmbuf_free(m);
		return true;
	}
	if ((f->opts & FLOW_OPT_BUFFERED) || (f->fins & FLOW_FIN_POD) ||
	    (p->tcp_flags & (RTE_TCP_FIN_FLAG | RTE_TCP_RST_FLAG))) {
		/* The first request is still in flight, the pod has already closed (its FIN went
		 * to the client: the connection cannot move), or the client is closing. */
		untrack(c, f);
		return false;
	}
	stats_add(c->st, STATS_http_keepalive_requests, 1);
	const uint8_t *data =
		rte_pktmbuf_mtod_offset(m, const uint8_t *, p->l2_len + p->l3_len + p->l4_len);
	struct http_request_parser ps;
	struct http_request r;
	http_request_parser_init(&ps);
	int rc = http_request_parse(&ps, &c->cfg.limits, data, plen, &r);
	if (rc == HTTP_ERROR) {
		untrack(c, f); /* the pod answers it */
		return false;
	}
	if (rc > 0) {
		const struct route_table *routes;
		bool bad;
		const struct route_target *t = lookup_head(c, data, &r, &routes, &bad);
		const struct route_pool *pool = t ? route_pool(routes, t->pool) : NULL;
		if (pool && pool->id == f->pool_id &&
		    pool_has_pod(pool, f->pod_ip, rte_be_to_cpu_16(f->pod_port))) {
			/* Same Service, pod still in it: stay on this connection. */
			stats_add(c->st, STATS_http_requests, 1);
			f->routes = routes;
			f->pool = t->pool;
			f->method = (uint8_t)r.method;
			track_next(c, f, &r, seq, plen);
			return false;
		}
	}
	if (hold_request(c, idx, f, m, p, seq, data, plen, now, out, n, cap)) {
		stats_add(c->st, STATS_http_rebinds, 1);
		return true;
	}
	untrack(c, f); /* no buffer free: it stays on this pod */
	return false;
}

/* The client's window as the draining pod reads it (scales may differ, DESIGN §4 table). */
static uint16_t drain_window(const struct flow *f, uint16_t raw_be)
{
	uint32_t w = ((uint32_t)rte_be_to_cpu_16(raw_be) << f->c2p_in) >> f->c2p_out;
	return (uint16_t)(w > 65535 ? 65535 : w);
}

/* The draining pod is done and the client has everything it sent: rewind to the head state. */
static void drain_check(struct tcpl_ctx *c, uint32_t idx, struct flow *f, uint64_t now,
			struct tcpl_out *out, uint16_t *n, uint16_t cap)
{
	if (!(f->fins & FLOW_FIN_POD))
		return;
	uint32_t s = f->pod_fin + f->delta; /* the client's next byte from us */
	if (seq_lt(seq_add(f->cookie_isn, 1), s))
		return;
	if (!(f->opts & FLOW_OPT_POD_RST))
		emit(out, n, cap,
		     to_pod(c, f, seq_add(f->next_req, 1), seq_add(f->pod_fin, 1), RTE_TCP_ACK_FLAG,
			    (uint16_t)(65535u >> f->c2p_out)),
		     c->pod_pi, c->st);
	f->cookie_isn = s - 1;
	f->fins = 0;
	f->state = FLOW_HEAD;
	f->deadline = 0;
	struct http_request r;
	int rc = http_request_parse(&f->hp, &c->cfg.limits, buf_of(c, f), f->req_len, &r);
	if (rc > 0)
		route_request(c, idx, f, &r, now, out, n, cap);
	else if (rc == HTTP_ERROR)
		local_response(c, idx, f, status_of(r.status), now, out, n, cap);
	else if (f->req_len >= c->cfg.request_buffer)
		local_response(c, idx, f, RESP_431, now, out, n, cap);
	else
		timer_arm(c, idx, f, now + c->cfg.header_tsc);
}

/* A packet from the draining pod: data goes on to the client, its FIN stays here. */
static void drain_pod(struct tcpl_ctx *c, uint32_t idx, struct flow *f, struct rte_mbuf *m,
		      const struct net_pkt *p, uint64_t now, struct tcpl_out *out, uint16_t *n,
		      uint16_t cap)
{
	struct rte_tcp_hdr *th =
		rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, p->l2_len + p->l3_len);
	uint8_t flags = p->tcp_flags;
	uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
	if (flags & RTE_TCP_RST_FLAG) {
		if (!(f->fins & FLOW_FIN_POD)) {
			/* Gone: what it sent up to here is all there is. */
			f->pod_fin = seq;
			f->fins |= FLOW_FIN_POD;
			f->opts |= FLOW_OPT_POD_RST;
		}
		rte_pktmbuf_free(m);
		drain_check(c, idx, f, now, out, n, cap);
		return;
	}
	if (flags & RTE_TCP_SYN_FLAG) {
		rte_pktmbuf_free(m);
		return;
	}
	if ((flags & RTE_TCP_FIN_FLAG) && !(f->fins & FLOW_FIN_POD)) {
		f->pod_fin = seq_add(seq, p->payload_len);
		f->fins |= FLOW_FIN_POD;
	}
	if (p->payload_len == 0) {
		rte_pktmbuf_free(m);
	} else {
		if (flags & RTE_TCP_FIN_FLAG) {
			/* The data goes on, the FIN does not: the client's connection continues. */
			uint16_t old, new_;
			memcpy(&old, (uint8_t *)th + 12, 2);
			th->tcp_flags = (uint8_t)(flags & ~RTE_TCP_FIN_FLAG);
			memcpy(&new_, (uint8_t *)th + 12, 2);
			th->cksum = net_cksum_adjust16(th->cksum, old, new_);
		}
		splice_to_client(c, f, m, p);
		stats_add(c->st, STATS_spliced_to_client, 1);
		emit(out, n, cap, m, f->client_pi, c->st);
	}
	drain_check(c, idx, f, now, out, n, cap);
}

/* ---- client side -------------------------------------------------------------------------- */

static void client_packet(struct tcpl_ctx *c, uint16_t pi, uint32_t idx, struct rte_mbuf *m,
			  const struct net_pkt *p, uint64_t now, struct tcpl_out *out, uint16_t *n,
			  uint16_t cap)
{
	struct flow *f = flow_get(c->ft, idx);
	const struct rte_tcp_hdr *th =
		rte_pktmbuf_mtod_offset(m, const struct rte_tcp_hdr *, p->l2_len + p->l3_len);
	uint8_t flags = p->tcp_flags;
	uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
	f->last_seen = now;

	switch (f->state) {
	case FLOW_SPLICED:
		if (unlikely((f->opts & FLOW_OPT_TRACK) && p->payload_len) &&
		    track_request(c, idx, f, m, p, seq, now, out, n, cap))
			return;
		/* fall through */
	case FLOW_CLOSED:
		track_close(f, flags, FLOW_FIN_CLIENT);
		splice_to_pod(c, f, m, p);
		stats_add(c->st, STATS_spliced_to_pod, 1);
		emit(out, n, cap, m, c->pod_pi, c->st);
		return;

	case FLOW_LOCAL_RESP: {
		uint32_t our_end = seq_add(f->cookie_isn, 2 + f->resp_len); /* after our FIN */
		if (flags & RTE_TCP_RST_FLAG) {
			rte_pktmbuf_free(m);
			flow_drop(c, idx);
			return;
		}
		if ((flags & RTE_TCP_ACK_FLAG) && !seq_lt(rte_be_to_cpu_32(th->recv_ack), our_end))
			f->deadline = 0; /* response delivered */
		if (flags & RTE_TCP_FIN_FLAG) {
			uint32_t fin_ack = seq_add(seq, p->payload_len + 1);
			emit(out, n, cap,
			     to_client(c, f, our_end, fin_ack, RTE_TCP_ACK_FLAG, 0, NULL, 0),
			     f->client_pi, c->st);
			f->fins |= FLOW_FIN_CLIENT;
			if (f->deadline == 0)
				f->state = FLOW_CLOSED;
		}
		rte_pktmbuf_free(m);
		return;
	}

	case FLOW_HEAD:
	case FLOW_NEIGH:
	case FLOW_CONNECT:
	case FLOW_DRAIN:
	default:
		break;
	}

	/* Before the splice (or between two pods): the gateway is the client's peer. */
	if ((f->opts & FLOW_OPT_TS) && p->tcp_has_ts)
		f->ts_client = p->tcp_tsval;
	if (f->state == FLOW_DRAIN && !(flags & (RTE_TCP_RST_FLAG | RTE_TCP_SYN_FLAG)) &&
	    (flags & RTE_TCP_ACK_FLAG)) {
		/* The client acknowledges the draining pod's data: pass that on, and move our
		 * own sequence base to what it has. */
		uint32_t cack = rte_be_to_cpu_32(th->recv_ack);
		if (seq_lt(seq_add(f->cookie_isn, 1), cack))
			f->cookie_isn = cack - 1;
		if (!(f->opts & FLOW_OPT_POD_RST))
			emit(out, n, cap,
			     to_pod(c, f, seq_add(f->next_req, 1), cack - f->delta,
				    RTE_TCP_ACK_FLAG, drain_window(f, th->rx_win)),
			     c->pod_pi, c->st);
	}
	if (flags & (RTE_TCP_RST_FLAG | RTE_TCP_FIN_FLAG)) {
		if (f->state == FLOW_DRAIN && !(f->opts & FLOW_OPT_POD_RST)) {
			emit(out, n, cap,
			     to_pod(c, f, seq_add(f->next_req, 1), 0, RTE_TCP_RST_FLAG, 0),
			     c->pod_pi, c->st);
			stats_add(c->st, STATS_tcp_rst_sent, 1);
		}
		/* The client gave up before we reached a pod. A FIN gets a reset: there is no
		 * response to wait for. */
		if (flags & RTE_TCP_FIN_FLAG) {
			emit(out, n, cap,
			     to_client(c, f, seq_add(f->cookie_isn, 1),
				       seq_add(seq, p->payload_len + 1),
				       RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG, 0, NULL, 0),
			     pi, c->st);
			stats_add(c->st, STATS_tcp_rst_sent, 1);
		}
		rte_pktmbuf_free(m);
		flow_drop(c, idx);
		return;
	}
	if (flags & RTE_TCP_SYN_FLAG) {
		rte_pktmbuf_free(m); /* a stray SYN retransmission for an established flow */
		return;
	}
	uint16_t plen = p->payload_len;
	if (plen == 0) {
		rte_pktmbuf_free(m);
		if (f->state == FLOW_DRAIN)
			drain_check(c, idx, f, now, out, n, cap);
		return;
	}
	uint32_t expect = client_next(f);
	const uint8_t *data =
		rte_pktmbuf_mtod_offset(m, const uint8_t *, p->l2_len + p->l3_len + p->l4_len);
	if (seq != expect) {
		/* Out of order or overlapping: take the new part of an overlap, otherwise ask
		 * again for what we expect (the client retransmits). */
		uint32_t skip = expect - seq;
		if (seq_lt(seq, expect) && skip < plen) {
			data += skip;
			plen = (uint16_t)(plen - skip);
		} else {
			stats_add(c->st, STATS_tcp_out_of_order, 1);
			emit(out, n, cap,
			     to_client(c, f, seq_add(f->cookie_isn, 1), expect, RTE_TCP_ACK_FLAG,
				       head_window(c, f), NULL, 0),
			     pi, c->st);
			rte_pktmbuf_free(m);
			return;
		}
	}
	uint32_t space = c->cfg.request_buffer - f->req_len;
	uint16_t take = (uint16_t)(plen < space ? plen : space);
	if (f->buf != FLOW_NONE && take) {
		memcpy(buf_of(c, f) + f->req_len, data, take);
		f->req_len += take;
	}
	rte_pktmbuf_free(m);
	emit(out, n, cap,
	     to_client(c, f, seq_add(f->cookie_isn, 1), client_next(f), RTE_TCP_ACK_FLAG,
		       head_window(c, f), NULL, 0),
	     pi, c->st);
	if (f->state == FLOW_DRAIN) {
		drain_check(c, idx, f, now, out, n, cap);
		return;
	}
	if (f->state != FLOW_HEAD)
		return; /* request body arriving while we connect: buffered, sent after */

	struct http_request r;
	int rc = http_request_parse(&f->hp, &c->cfg.limits, buf_of(c, f), f->req_len, &r);
	if (rc > 0) {
		route_request(c, idx, f, &r, now, out, n, cap);
	} else if (rc == HTTP_ERROR) {
		local_response(c, idx, f, status_of(r.status), now, out, n, cap);
	} else if (f->req_len >= c->cfg.request_buffer) {
		local_response(c, idx, f, RESP_431, now, out, n, cap);
	}
}

/* ---- pod side ----------------------------------------------------------------------------- */

static void pod_packet(struct tcpl_ctx *c, uint32_t idx, struct rte_mbuf *m,
		       const struct net_pkt *p, uint64_t now, struct tcpl_out *out, uint16_t *n,
		       uint16_t cap)
{
	struct flow *f = flow_get(c->ft, idx);
	const struct rte_tcp_hdr *th =
		rte_pktmbuf_mtod_offset(m, const struct rte_tcp_hdr *, p->l2_len + p->l3_len);
	uint8_t flags = p->tcp_flags;
	f->last_seen = now;

	if (f->state == FLOW_CONNECT) {
		if ((flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) ==
			    (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG) &&
		    rte_be_to_cpu_32(th->recv_ack) == seq_add(f->client_isn, 1)) {
			/* Step 6: the pod accepted. The splice starts now. */
			if (unlikely(c->ejections))
				eject_forget(c, f->pod_ip, rte_be_to_cpu_16(f->pod_port));
			f->pod_isn = rte_be_to_cpu_32(th->sent_seq);
			f->delta = f->cookie_isn - f->pod_isn;
			/* Window scaling holds on the pod side only if the pod answered our
			 * offer (the client's own shift); otherwise both directions rescale. */
			if ((f->opts & FLOW_OPT_WS) && p->tcp_wscale != NET_WSCALE_NONE) {
				f->c2p_out = f->c2p_in;
				f->p2c_in = p->tcp_wscale;
			} else {
				f->c2p_out = 0;
				f->p2c_in = 0;
			}
			if ((f->opts & FLOW_OPT_TS) && p->tcp_has_ts)
				f->ts_delta = our_tsval(c, f, now) - p->tcp_tsval;
			f->state = FLOW_SPLICED;
			f->tries = 0;
			send_request(c, f, out, n, cap, true);
			timer_arm(c, idx, f, now + c->cfg.rto_tsc);
		} else if (flags & RTE_TCP_RST_FLAG) {
			connect_failed(c, idx, f, true, now, out, n, cap);
		}
		rte_pktmbuf_free(m);
		return;
	}
	if (f->state == FLOW_DRAIN) {
		drain_pod(c, idx, f, m, p, now, out, n, cap);
		return;
	}
	if (f->state != FLOW_SPLICED && f->state != FLOW_CLOSED) {
		rte_pktmbuf_free(m);
		return;
	}
	if ((flags & RTE_TCP_SYN_FLAG) && (flags & RTE_TCP_ACK_FLAG)) {
		/* Our ACK or the request was lost: the pod repeats its SYN-ACK. */
		if (f->opts & FLOW_OPT_BUFFERED) {
			send_request(c, f, out, n, cap, true);
			stats_add(c->st, STATS_tcp_retransmits, 1);
		}
		rte_pktmbuf_free(m);
		return;
	}
	if ((f->opts & FLOW_OPT_BUFFERED) && (flags & RTE_TCP_ACK_FLAG) &&
	    !seq_lt(rte_be_to_cpu_32(th->recv_ack), client_next(f))) {
		buf_release(c, f); /* the pod has the whole buffered request */
		f->deadline = 0;
	}
	track_close(f, flags, FLOW_FIN_POD);
	splice_to_client(c, f, m, p);
	stats_add(c->st, STATS_spliced_to_client, 1);
	emit(out, n, cap, m, f->client_pi, c->st);
}

/* ---- burst entry -------------------------------------------------------------------------- */

bool tcpl_wants(const struct tcpl_ctx *c, uint16_t pi, const struct net_pkt *p)
{
	const struct net_local *l = c->ports[pi].local;
	return net_local_is_vip(l, p->dst_ip) || net_local_is_snat(l, p->dst_ip);
}

static bool listening(const struct tcpl_ctx *c, uint16_t port_be)
{
	uint16_t port = rte_be_to_cpu_16(port_be);
	for (unsigned i = 0; i < c->cfg.n_listen; i++)
		if (c->cfg.listen_ports[i] == port)
			return true;
	return false;
}

/* RST for a segment that belongs to no connection (RFC 9293 §3.10.7.1). */
static void reset_for(struct tcpl_ctx *c, uint16_t pi, struct rte_mbuf *m, const struct net_pkt *p,
		      struct tcpl_out *out, uint16_t *n, uint16_t cap)
{
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_tcp_hdr *th =
		rte_pktmbuf_mtod_offset(m, const struct rte_tcp_hdr *, p->l2_len + p->l3_len);
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
	emit(out, n, cap,
	     segment(c, (uint8_t)pi, &dst, p->dst_ip, p->src_ip, p->dst_port, p->src_port, seq, ack,
		     flags, 0, NULL, NULL, 0),
	     (uint8_t)pi, c->st);
	stats_add(c->st, STATS_tcp_rst_sent, 1);
}

uint16_t tcpl_input_burst(struct tcpl_ctx *c, uint16_t pi, struct rte_mbuf **pkts,
			  const struct net_pkt *info, uint16_t n, uint64_t now,
			  struct tcpl_out *out, uint16_t out_cap)
{
	uint16_t nout = 0;
	c->now = now;
	struct flow_key ck[64], pk[64];
	uint16_t ci[64], pkix[64];
	uint16_t nc = 0, np = 0;
	uint32_t idx[64];
	const struct net_local *l = c->ports[pi].local;
	if (n > 64)
		n = 64;

	/* Pass 1: keys and bulk lookups. */
	for (uint16_t i = 0; i < n; i++) {
		const struct net_pkt *p = &info[i];
		struct flow_key k = {p->src_ip, p->dst_ip, p->src_port, p->dst_port};
		if (net_local_is_vip(l, p->dst_ip)) {
			ck[nc] = k;
			ci[nc++] = i;
		} else {
			pk[np] = k;
			pkix[np++] = i;
		}
	}
	uint32_t cres[64], pres[64];
	if (nc)
		flow_lookup_burst(c->ft, false, ck, nc, cres);
	if (np)
		flow_lookup_burst(c->ft, true, pk, np, pres);
	bool client_side[64];
	for (uint16_t k = 0; k < nc; k++) {
		idx[ci[k]] = cres[k];
		client_side[ci[k]] = true;
	}
	for (uint16_t k = 0; k < np; k++) {
		idx[pkix[k]] = pres[k];
		client_side[pkix[k]] = false;
	}

	/* Pass 2: cookies for SYNs and for ACKs of unknown flows, one burst each. */
	struct crypto_cookie_in syn_in[64], ack_in[64];
	uint8_t syn_mss[64];
	uint16_t syn_ix[64], ack_ix[64], nsyn = 0, nack = 0;
	uint32_t ack_cookie[64];
	for (uint16_t i = 0; i < n; i++) {
		const struct net_pkt *p = &info[i];
		if (client_side[i] && idx[i] != FLOW_NONE &&
		    (p->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG | RTE_TCP_RST_FLAG)) ==
			    RTE_TCP_SYN_FLAG) {
			/* A SYN on the 4-tuple of a flow we still hold: a repeat of the SYN that
			 * opened it (same ISN) is ignored later; otherwise the client reused its
			 * port after the old connection ended (we may still be lingering on it,
			 * RFC 9293 §3.10.7.4's TIME-WAIT case), so the old flow gives way. */
			struct flow *old = flow_get(c->ft, idx[i]);
			const struct rte_tcp_hdr *sth = rte_pktmbuf_mtod_offset(
				pkts[i], const struct rte_tcp_hdr *, p->l2_len + p->l3_len);
			if (old->state == FLOW_CLOSED ||
			    rte_be_to_cpu_32(sth->sent_seq) != old->client_isn) {
				flow_drop(c, idx[i]);
				idx[i] = FLOW_NONE;
			}
		}
		if (!client_side[i] || idx[i] != FLOW_NONE || !listening(c, p->dst_port))
			continue;
		struct crypto_cookie_in in = {p->src_ip, p->dst_ip, p->src_port, p->dst_port};
		uint8_t f = p->tcp_flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG | RTE_TCP_RST_FLAG);
		if (f == RTE_TCP_SYN_FLAG) {
			uint16_t want = p->tcp_mss ? p->tcp_mss : 536; /* RFC 9293 §3.7.1 default */
			if (want > c->ports[pi].mss)
				want = c->ports[pi].mss;
			syn_in[nsyn] = in;
			syn_mss[nsyn] = (uint8_t)crypto_mss_index(want);
			syn_ix[nsyn++] = i;
		} else if (f == RTE_TCP_ACK_FLAG) {
			const struct rte_tcp_hdr *th = rte_pktmbuf_mtod_offset(
				pkts[i], const struct rte_tcp_hdr *, p->l2_len + p->l3_len);
			ack_in[nack] = in;
			ack_cookie[nack] = rte_be_to_cpu_32(th->recv_ack) - 1;
			ack_ix[nack++] = i;
		}
	}
	uint32_t cookies[64];
	bool ack_ok[64] = {false};
	uint16_t ack_mss[64];
	uint32_t count = crypto_cookie_count(c->seconds);
	const struct crypto_keys *keys = __atomic_load_n(&c->keys, __ATOMIC_ACQUIRE);
	if (nsyn && keys)
		crypto_cookie_make_burst(c->crypto, keys, syn_in, syn_mss, nsyn, count, cookies);
	if (nack && keys)
		crypto_cookie_check_burst(c->crypto, keys, ack_in, ack_cookie, nack, count, ack_ok,
					  ack_mss);
	int16_t syn_of[64], ack_of[64];
	memset(syn_of, -1, sizeof(syn_of));
	memset(ack_of, -1, sizeof(ack_of));
	for (uint16_t k = 0; k < nsyn; k++)
		syn_of[syn_ix[k]] = (int16_t)k;
	for (uint16_t k = 0; k < nack; k++)
		ack_of[ack_ix[k]] = (int16_t)k;

	/* Pass 3: act, in arrival order. */
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		const struct net_pkt *p = &info[i];
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		if (!client_side[i]) {
			if (idx[i] == FLOW_NONE) {
				/* A pod packet for no flow (an old connection's stray). */
				if (!(p->tcp_flags & RTE_TCP_RST_FLAG))
					reset_for(c, pi, m, p, out, &nout, out_cap);
				rte_pktmbuf_free(m);
			} else {
				pod_packet(c, idx[i], m, p, now, out, &nout, out_cap);
			}
			continue;
		}
		uint32_t fi = idx[i];
		if (fi == FLOW_NONE && nout < out_cap) {
			/* An earlier packet of this burst may have created it. */
			uint32_t again;
			struct flow_key k = {p->src_ip, p->dst_ip, p->src_port, p->dst_port};
			flow_lookup_burst(c->ft, false, &k, 1, &again);
			fi = again;
		}
		if (fi != FLOW_NONE) {
			client_packet(c, pi, fi, m, p, now, out, &nout, out_cap);
			continue;
		}
		if (syn_of[i] >= 0) {
			/* Step 1: SYN → SYN-ACK with a cookie; no state. */
			stats_add(c->st, STATS_tcp_syn_in, 1);
			const struct rte_ether_hdr *eh =
				rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
			const struct rte_tcp_hdr *th = rte_pktmbuf_mtod_offset(
				m, const struct rte_tcp_hdr *, p->l2_len + p->l3_len);
			struct rte_ether_addr dst = eh->src_addr;
			uint16_t k = (uint16_t)syn_of[i];
			/* Options as Linux does with syncookies: offered only when the client
			 * sends timestamps, whose low bits then carry the client's window scale
			 * and SACK-permitted back to us in its TSecr (no state kept). */
			struct seg_opts o = {.mss = crypto_mss_table[syn_mss[k]], .ws = -1};
			if (p->tcp_has_ts) {
				uint32_t ws =
					p->tcp_wscale == NET_WSCALE_NONE ? 15u : p->tcp_wscale;
				o.ts = true;
				o.tsval = (ms_of(c, now) & ~0x1fu) | (p->tcp_sack_ok ? 0x10u : 0) |
					  ws;
				o.tsecr = p->tcp_tsval;
				o.sack_ok = p->tcp_sack_ok;
				if (p->tcp_wscale != NET_WSCALE_NONE)
					o.ws = (int8_t)c->cfg.wscale;
			}
			emit(out, &nout, out_cap,
			     segment(c, (uint8_t)pi, &dst, p->dst_ip, p->src_ip, p->dst_port,
				     p->src_port, cookies[k], rte_be_to_cpu_32(th->sent_seq) + 1,
				     RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG,
				     (uint16_t)(c->cfg.request_buffer > 65535
							? 65535
							: c->cfg.request_buffer),
				     &o, NULL, 0),
			     (uint8_t)pi, c->st);
			rte_pktmbuf_free(m);
			continue;
		}
		if (ack_of[i] >= 0 && ack_ok[ack_of[i]]) {
			/* Step 2: a valid cookie: the connection exists from now on. */
			stats_add(c->st, STATS_tcp_cookie_ok, 1);
			struct flow_key k = {p->src_ip, p->dst_ip, p->src_port, p->dst_port};
			uint32_t nf = c->n_buf_free ? flow_insert(c->ft, &k) : FLOW_NONE;
			if (nf == FLOW_NONE) {
				stats_add(c->st, STATS_tcp_flows_full, 1);
				reset_for(c, pi, m, p, out, &nout, out_cap);
				rte_pktmbuf_free(m);
				continue;
			}
			struct flow *f = flow_get(c->ft, nf);
			const struct rte_ether_hdr *eh =
				rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
			const struct rte_tcp_hdr *th = rte_pktmbuf_mtod_offset(
				m, const struct rte_tcp_hdr *, p->l2_len + p->l3_len);
			f->client_mac = eh->src_addr;
			f->client_pi = (uint8_t)pi;
			f->pod_pi = c->pod_pi;
			f->client_isn = rte_be_to_cpu_32(th->sent_seq) - 1;
			f->cookie_isn = ack_cookie[ack_of[i]];
			f->mss = ack_mss[ack_of[i]];
			if (p->tcp_has_ts) {
				/* Options come back in the echo of our SYN-ACK's TSval. */
				uint32_t bits = p->tcp_tsecr & 0x1f;
				f->opts |= FLOW_OPT_TS;
				if (bits & 0x10)
					f->opts |= FLOW_OPT_SACK;
				if ((bits & 0xf) != 15) {
					f->opts |= FLOW_OPT_WS;
					f->c2p_in = (uint8_t)(bits & 0xf);
					f->p2c_out = c->cfg.wscale;
				}
				f->ts_ours0 = p->tcp_tsecr;
				f->ts_ms0 = ms_of(c, now);
				f->ts_client = p->tcp_tsval;
			}
			f->buf = c->buf_free[--c->n_buf_free];
			f->opts |= FLOW_OPT_BUFFERED;
			f->last_seen = now;
			http_request_parser_init(&f->hp);
			timer_arm(c, nf, f, now + c->cfg.header_tsc);
			client_packet(c, pi, nf, m, p, now, out, &nout, out_cap);
			continue;
		}
		if (ack_of[i] >= 0) {
			stats_add(c->st, STATS_tcp_cookie_bad, 1);
			reset_for(c, pi, m, p, out, &nout, out_cap);
		} else if (!(p->tcp_flags & RTE_TCP_RST_FLAG)) {
			/* Not listening on this port, or a segment for no connection. */
			reset_for(c, pi, m, p, out, &nout, out_cap);
		}
		rte_pktmbuf_free(m);
	}
	return nout;
}

/* ---- timers and aging --------------------------------------------------------------------- */

static bool flow_dead(struct flow *f, uint64_t now, void *arg)
{
	struct tcpl_ctx *c = arg;
	bool dead = (f->state == FLOW_CLOSED && now - f->last_seen > c->cfg.linger_tsc) ||
		    now - f->last_seen > c->cfg.idle_tsc;
	if (dead) {
		buf_release(c, f);
		f->deadline = 0;
		stats_add(c->st, STATS_tcp_flows_closed, 1);
	}
	return dead;
}

static void timer_fire(struct tcpl_ctx *c, uint32_t idx, struct flow *f, uint64_t now,
		       struct tcpl_out *out, uint16_t *n, uint16_t cap)
{
	switch (f->state) {
	case FLOW_HEAD:
		local_response(c, idx, f, RESP_408, now, out, n, cap);
		break;
	case FLOW_NEIGH:
		if (++f->syn_tx > 40) { /* 40 polls at rto/20: the neighbour never answered */
			connect_failed(c, idx, f, false, now, out, n, cap);
			break;
		}
		try_connect(c, idx, f, now, out, n, cap);
		break;
	case FLOW_CONNECT: {
		/* A pod whose accept queue overflowed drops SYNs: retransmit before moving on. */
		unsigned k = f->syn_tx + 1u;
		uint64_t used = c->cfg.rto_tsc * ((1ull << k) - 1);
		if (k > 6 || used + syn_interval(c, k) > c->cfg.connect_tsc) {
			connect_failed(c, idx, f, false, now, out, n, cap);
			break;
		}
		emit(out, n, cap, syn_to_pod(c, f), c->pod_pi, c->st);
		stats_add(c->st, STATS_tcp_retransmits, 1);
		f->syn_tx = (uint8_t)k;
		timer_arm(c, idx, f, now + syn_interval(c, k));
		break;
	}
	case FLOW_SPLICED:
		if (f->buf == FLOW_NONE) {
			f->deadline = 0;
			break;
		}
		if (++f->tries > MAX_RETRANSMIT) {
			/* The pod never took the request: give up on the connection. */
			f->state = FLOW_CLOSED;
			buf_release(c, f);
			f->deadline = 0;
			break;
		}
		send_request(c, f, out, n, cap, false);
		stats_add(c->st, STATS_tcp_retransmits, 1);
		timer_arm(c, idx, f, now + (c->cfg.rto_tsc << f->tries));
		break;
	case FLOW_DRAIN:
		/* The old pod did not close in time: reset it; the client has what it acknowledged,
		 * and if it still misses some of the pod's data the connection cannot go on. */
		if (!(f->opts & FLOW_OPT_POD_RST))
			emit(out, n, cap,
			     to_pod(c, f, seq_add(f->next_req, 1), 0, RTE_TCP_RST_FLAG, 0),
			     c->pod_pi, c->st);
		f->opts |= FLOW_OPT_POD_RST;
		if (!(f->fins & FLOW_FIN_POD)) {
			f->pod_fin = seq_add(f->cookie_isn, 1) - f->delta;
			f->fins |= FLOW_FIN_POD;
		}
		drain_check(c, idx, f, now, out, n, cap);
		if (f->state == FLOW_DRAIN) {
			emit(out, n, cap,
			     to_client(c, f, seq_add(f->cookie_isn, 1), client_next(f),
				       RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG, 0, NULL, 0),
			     f->client_pi, c->st);
			stats_add(c->st, STATS_tcp_rst_sent, 1);
			flow_drop(c, idx);
		}
		break;
	case FLOW_LOCAL_RESP:
		if (++f->tries > MAX_RETRANSMIT) {
			flow_drop(c, idx);
			break;
		}
		emit(out, n, cap,
		     to_client(c, f, seq_add(f->cookie_isn, 1), client_next(f),
			       RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG | RTE_TCP_FIN_FLAG, 0,
			       (const uint8_t *)c->resp[f->resp_status_idx], f->resp_len),
		     f->client_pi, c->st);
		stats_add(c->st, STATS_tcp_retransmits, 1);
		timer_arm(c, idx, f, now + (c->cfg.rto_tsc << f->tries));
		break;
	default:
		f->deadline = 0;
		break;
	}
}

uint16_t tcpl_tick(struct tcpl_ctx *c, uint64_t now, struct tcpl_out *out, uint16_t out_cap)
{
	uint16_t nout = 0;
	if (now < c->next_tick)
		return 0;
	c->now = now;
	c->next_tick = now + c->cfg.rto_tsc / 50 + 1; /* a few ms */
	for (uint32_t i = 0; i < c->n_timers && nout + 8 < out_cap;) {
		uint32_t idx = c->timers[i];
		struct flow *f = flow_get(c->ft, idx);
		if (f->state == FLOW_FREE || f->deadline == 0) {
			f->timer_listed = 0;
			c->timers[i] = c->timers[--c->n_timers];
			continue;
		}
		if (now >= f->deadline)
			timer_fire(c, idx, f, now, out, &nout, out_cap);
		i++;
	}
	flow_age(c->ft, now, 256, flow_dead, c);
	return nout;
}

/* ---- setup -------------------------------------------------------------------------------- */

/* Published by the management lcore while the worker runs: one atomic pointer store. */
void tcpl_set_routes(struct tcpl_ctx *c, const struct route_table *t)
{
	__atomic_store_n(&c->routes, t, __ATOMIC_RELEASE);
}

void tcpl_set_keys(struct tcpl_ctx *c, const struct crypto_keys *k)
{
	__atomic_store_n(&c->keys, k, __ATOMIC_RELEASE);
}

void tcpl_set_seconds(struct tcpl_ctx *c, uint64_t seconds)
{
	c->seconds = seconds;
}

uint32_t tcpl_flow_count(const struct tcpl_ctx *c)
{
	return flow_count(c->ft);
}

struct tcpl_ctx *tcpl_create(const char *name, const struct tcpl_config *cfg,
			     const struct tcpl_port *ports, uint8_t n_ports,
			     struct rte_mempool *pool, struct net_neigh *neigh,
			     struct stats_lcore *stats, int socket, char *err, size_t errlen)
{
	struct tcpl_ctx *c = rte_zmalloc_socket("tcpl", sizeof(*c), RTE_CACHE_LINE_SIZE, socket);
	if (c == NULL) {
		snprintf(err, errlen, "out of memory for the TCP engine");
		return NULL;
	}
	c->cfg = *cfg;
	c->n_ports = n_ports > TCPL_MAX_PORTS ? TCPL_MAX_PORTS : n_ports;
	memcpy(c->ports, ports, c->n_ports * sizeof(*ports));
	c->pod_pi = 0;
	for (uint8_t i = 0; i < c->n_ports; i++)
		if (ports[i].local->n_snat) {
			c->pod_pi = i;
			break;
		}
	if (ports[c->pod_pi].local->n_snat == 0) {
		snprintf(err, errlen,
			 "no port has an SNAT address: add ports.snat so the gateway "
			 "can reach pods");
		tcpl_free(c);
		return NULL;
	}
	c->pool = pool;
	c->neigh = neigh;
	c->st = stats;
	c->ft = flow_table_create(name, cfg->max_flows, socket);
	c->crypto = crypto_ctx_create();
	c->bufs = rte_malloc_socket("reqbufs", (size_t)cfg->buffers * cfg->request_buffer, 64,
				    socket);
	c->buf_free = rte_malloc_socket("reqfree", cfg->buffers * sizeof(uint32_t), 64, socket);
	c->timers = rte_malloc_socket("timers", TIMER_LIST_MAX * sizeof(uint32_t), 64, socket);
	c->loads = rte_zmalloc_socket("lbloads", sizeof(struct lb_loads), 64, socket);
	c->rng = rte_rdtsc() | 1;
	if (c->ft == NULL || c->crypto == NULL || c->bufs == NULL || c->buf_free == NULL ||
	    c->timers == NULL || c->loads == NULL) {
		snprintf(err, errlen,
			 "cannot allocate the TCP engine (%u flows, %u request buffers of %u "
			 "bytes); reserve more hugepages or lower limits.max_flows / "
			 "limits.request_buffer",
			 cfg->max_flows, cfg->buffers, cfg->request_buffer);
		tcpl_free(c);
		return NULL;
	}
	for (uint32_t i = 0; i < cfg->buffers; i++)
		c->buf_free[i] = cfg->buffers - 1 - i;
	c->n_buf_free = cfg->buffers;
	for (int s = 0; s < RESP__COUNT; s++) {
		char body[64];
		int bl = snprintf(body, sizeof(body), "%u %s\n", responses[s].code,
				  responses[s].reason);
		int n = snprintf(c->resp[s], sizeof(c->resp[s]),
				 "HTTP/1.1 %u %s\r\nContent-Type: text/plain\r\nContent-Length: "
				 "%d\r\nConnection: close\r\n\r\n%s",
				 responses[s].code, responses[s].reason, bl, body);
		c->resp_len[s] = (uint16_t)(n < (int)sizeof(c->resp[s]) ? n : 0);
	}
	return c;
}

void tcpl_free(struct tcpl_ctx *c)
{
	if (c == NULL)
		return;
	flow_table_free(c->ft);
	crypto_ctx_free(c->crypto);
	rte_free(c->bufs);
	rte_free(c->buf_free);
	rte_free(c->timers);
	rte_free(c->loads);
	rte_free(c);
}

const struct route_table **tcpl_routes_slot(struct tcpl_ctx *c)
{
	return &c->routes;
}
