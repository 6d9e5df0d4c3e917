/*
 * Differential stream fuzzer for per-request routing (libFuzzer).
 *
 * One fuzz input is one client connection through the real TCP-lite engine, driven with crafted
 * packets: a client byte stream (a generated sequence of requests — hosts and paths across
 * three Services and unrouted ones, methods, Content-Length and chunked bodies with extensions
 * and trailers, pipelining, Connection: close, upgrades, some malformed — or raw bytes), cut into
 * random segments, sent with random duplicates, reordering and resends, interleaved with pods
 * that accept, acknowledge, answer every request they see, close, and with time passing.
 *
 * The oracle parses the client's whole byte stream at once with the same strict parser and the
 * same route table, and checks the invariant (docs/tcp.md) on every run:
 *   - every pod connection's in-order bytes are a contiguous range of the client's stream that
 *     starts at a request boundary;
 *   - every request head a pod sees is whole, valid, and routed by the table to that pod's
 *     Service; a body never goes past a framing fault; nothing follows a request that asked to
 *     close;
 *   - no client byte reaches two pod connections.
 * Any violation aborts (a crash for libFuzzer), and ASan/UBSan watch the engine throughout.
 *
 * One input in eight drives a TLS listener instead (SNI passthrough, docs/tls.md): the stream is
 * a generated ClientHello — a server name that is passed through, one that is not, or none;
 * padding extensions; cut into records of random sizes; sometimes one byte flipped — followed by
 * opaque bytes. The oracle reads the whole stream with the same ClientHello reader and route
 * table: if it routes, the only pod connection with bytes is the routed Service's and starts at
 * the stream's first byte; if not, no client byte reaches any pod. Whatever the client sent, a
 * pod's own bytes must open with a whole, valid ClientHello routed to that pod.
 *
 * Run: tests/fuzz/run.sh (bounded, in the suite); for an hour:
 *   FUZZ_SECONDS=3600 FUZZ_ONLY=stream tests/fuzz/run.sh
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "http/http.h"
#include "route/route.h"
#include "tcp/tcp.h"
#include "tcp_frame.h"
#include "tls/tls.h"

#define STREAM_MAX 6000
#define MAX_PODS   16

static struct rte_mempool *pool;
static struct net_neigh *neigh;
static struct net_local cside, pside;
static struct conf_port pconf;
static struct route_table *routes;
static struct crypto_keys keys;
static struct crypto_ctx *crypto;
static const struct http_limits limits = {1024, 2048, 32, true};

static const struct rte_ether_addr gw_c = {{2, 0, 0, 0, 0, 1}}, gw_p = {{2, 0, 0, 0, 0, 2}};
static const struct rte_ether_addr cli = {{2, 0, 0, 0, 0, 3}}, podmac = {{2, 0, 0, 0, 0, 4}};
static const char *const pod_ips[3] = {"198.19.0.11", "198.19.0.12", "198.19.0.13"};
static bool tls_mode; /* this input drives the TLS listener on 443 */
#define REQUEST_BUFFER 4096

static void die(const char *why)
{
	fprintf(stderr, "invariant violated: %s\n", why);
	abort();
}

/* ---- the world ------------------------------------------------------------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char *eal[] = {"fuzz", "--no-huge", "--no-shconf",	 "--no-pci",
		       "-m",   "512",	    "--log-level=error", "--file-prefix=sluice-fuzz-stream",
		       NULL};
	if (rte_eal_init(8, eal) < 0)
		die("EAL");
	pool = rte_pktmbuf_pool_create("fz", 8191, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	cside = (struct net_local){.mac = gw_c, .n_vips = 1};
	cside.vips[0] = inet_addr("198.18.0.10");
	pside = (struct net_local){.mac = gw_p, .n_snat = 1};
	pside.snat[0] = inet_addr("198.19.0.1");
	conf_parse_prefix("198.19.0.0/24", &pconf.subnets[0]);
	pconf.n_subnets = 1;
	neigh = net_neigh_create("fzn", 64, SOCKET_ID_ANY, rte_get_tsc_hz() * 100000,
				 rte_get_tsc_hz());
	for (int i = 0; i < 3; i++)
		net_neigh_learn(neigh, inet_addr(pod_ips[i]), &podmac, 0, true);
	/* a.example: / → A, /b → B; c.example → C; anything else: 404. */
	struct route_builder *b = route_builder_new();
	for (int i = 0; i < 3; i++) {
		struct lb_endpoint ep = {inet_addr(pod_ips[i]), 8080, true, true, false, 1};
		const char *svc[] = {"a", "b", "c"};
		route_builder_add_pool(b, "fz", svc[i], "80", &ep, 1);
	}
	route_builder_add_rule(b, "a.example", "/", ROUTE_PREFIX, 0, "fz", "i");
	route_builder_add_rule(b, "a.example", "/b", ROUTE_PREFIX, 1, "fz", "i");
	route_builder_add_rule(b, "c.example", "/", ROUTE_PREFIX, 2, "fz", "i");
	/* TLS names passed through: a.example → A, *.w.example → C. */
	route_builder_add_passthrough(b, "a.example", 0, "fz", "p");
	route_builder_add_passthrough(b, "*.w.example", 2, "fz", "p");
	routes = route_builder_finish(b);
	crypto = crypto_ctx_create();
	crypto_keys_rotate(crypto, &keys, NULL, crypto_cookie_count(1000));
	return 0;
}

/* ---- a byte reader over the fuzz input --------------------------------------------------------
 */

struct rd {
	const uint8_t *p;
	size_t n, i;
};

static uint32_t take(struct rd *r, uint32_t bound)
{
	if (bound <= 1)
		return 0;
	uint32_t v = 0;
	for (int k = 0; k < 2; k++)
		v = (v << 8) | (r->i < r->n ? r->p[r->i++] : 0);
	return v % bound;
}

/* ---- the client stream ---------------------------------------------------------------------- */

struct stream {
	char b[STREAM_MAX];
	size_t n;
};

static void put(struct stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct stream *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(s->b + s->n, sizeof(s->b) - s->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		s->n += (size_t)k < sizeof(s->b) - s->n ? (size_t)k : sizeof(s->b) - s->n - 1;
}

/* One generated request, sometimes broken on purpose. */
static void gen_request(struct stream *s, struct rd *r)
{
	static const char *hosts[] = {"a.example", "c.example", "A.Example:80", "x.example",
				      "a.example."};
	static const char *paths[] = {"/",    "/b",	 "/bx",	   "/b/x", "//b",
				      "/%62", "/a/../b", "/c?q=1", "/b\\x"};
	static const char *methods[] = {"GET", "POST", "HEAD", "PUT", "DELETE"};
	const char *method = methods[take(r, 5)];
	put(s, "%s %s HTTP/1.%d\r\n", method, paths[take(r, 9)], take(r, 8) ? 1 : 0);
	put(s, "Host: %s\r\n", hosts[take(r, 5)]);
	uint32_t body = take(r, 4), len = take(r, 300);
	uint32_t flavour = take(r, 12);
	switch (flavour) {
	case 0:
		put(s, "Connection: close\r\n");
		break;
	case 1:
		put(s, "Connection: Upgrade\r\nUpgrade: websocket\r\n");
		break;
	case 2:
		put(s, "Content-Length: %u\r\n", len); /* a second framing header below */
		break;
	case 3:
		put(s, "X-Bad : 1\r\n");
		break;
	case 4:
		put(s, "X-Fold: a\r\n b\r\n");
		break;
	case 5:
		put(s, "Bare: lf\n");
		break;
	case 6:
		put(s, "Connection: keep-alive\r\n");
		break;
	default:
		break;
	}
	if (body == 1) {
		put(s, "Content-Length: %u\r\n\r\n", len);
		for (uint32_t k = 0; k < len && s->n < STREAM_MAX - 1; k++)
			s->b[s->n++] = (char)('a' + take(r, 26));
	} else if (body == 2) {
		put(s, "Transfer-Encoding: chunked\r\n\r\n");
		uint32_t chunks = take(r, 4);
		for (uint32_t c = 0; c < chunks; c++) {
			uint32_t sz = 1 + take(r, 40);
			switch (take(r, 10)) {
			case 0:
				put(s, "%x;ext=\"v\"\r\n", sz);
				break;
			case 1:
				put(s, "%x ;a=b\r\n", sz);
				break;
			case 2:
				put(s, "0x%x\r\n", sz); /* broken */
				break;
			case 3:
				put(s, "%x\n", sz); /* broken */
				break;
			default:
				put(s, "%x\r\n", sz);
			}
			for (uint32_t k = 0; k < sz && s->n < STREAM_MAX - 3; k++)
				s->b[s->n++] = (char)('A' + take(r, 26));
			put(s, take(r, 16) ? "\r\n" : "\n");
		}
		put(s, take(r, 4) ? "0\r\n\r\n" : "0\r\nT: 1\r\n\r\n");
	} else {
		put(s, "\r\n");
	}
}

/* A ClientHello (RFC 8446 §4.1.2) with a name from a small set, padding extensions and a
 * random cut into records, then opaque bytes; sometimes one byte flipped. */
static void gen_hello(struct stream *s, struct rd *r)
{
	static const char *names[] = {"a.example", "A.EXAMPLE",	    "x.w.example", "x.example",
				      "c.example", "y.x.w.example", NULL};
	const char *name = names[take(r, 7)];
	uint8_t m[3000];
	size_t n = 4;
	m[n++] = 3, m[n++] = 3;
	for (int i = 0; i < 32; i++)
		m[n++] = (uint8_t)take(r, 256);
	m[n++] = 0;
	m[n++] = 0, m[n++] = 2, m[n++] = 0x13, m[n++] = 0x01;
	m[n++] = 1, m[n++] = 0;
	size_t ext_at = n;
	n += 2;
	uint32_t n_pad = take(r, 4);
	for (uint32_t k = 0; k <= n_pad; k++) {
		if (k == n_pad / 2 && name) {
			size_t l = strlen(name);
			m[n++] = 0, m[n++] = 0;
			m[n++] = (uint8_t)((l + 5) >> 8), m[n++] = (uint8_t)(l + 5);
			m[n++] = (uint8_t)((l + 3) >> 8), m[n++] = (uint8_t)(l + 3);
			m[n++] = 0, m[n++] = (uint8_t)(l >> 8), m[n++] = (uint8_t)l;
			memcpy(m + n, name, l);
			n += l;
		}
		uint32_t pl = take(r, 2) ? take(r, 40) : take(r, 700);
		uint16_t type = (uint16_t)(1000 + k);
		m[n++] = (uint8_t)(type >> 8), m[n++] = (uint8_t)type;
		m[n++] = (uint8_t)(pl >> 8), m[n++] = (uint8_t)pl;
		memset(m + n, 0, pl);
		n += pl;
	}
	size_t el = n - ext_at - 2;
	m[ext_at] = (uint8_t)(el >> 8), m[ext_at + 1] = (uint8_t)el;
	m[0] = 1, m[1] = 0, m[2] = (uint8_t)((n - 4) >> 8), m[3] = (uint8_t)(n - 4);
	/* records */
	uint32_t frag = take(r, 3) == 0 ? 1 + take(r, 16) : 1 + take(r, 2000);
	for (size_t at = 0; at < n && s->n < STREAM_MAX - 2600;) {
		size_t t = n - at < frag ? n - at : frag;
		s->b[s->n++] = 22, s->b[s->n++] = 3, s->b[s->n++] = 1;
		s->b[s->n++] = (char)(t >> 8), s->b[s->n++] = (char)t;
		memcpy(s->b + s->n, m + at, t);
		s->n += t, at += t;
	}
	if (take(r, 6) == 0 && s->n) /* one byte off */
		s->b[take(r, (uint32_t)s->n)] ^= (char)(1 + take(r, 255));
	uint32_t tail = take(r, 600);
	for (uint32_t i = 0; i < tail && s->n < STREAM_MAX - 1; i++)
		s->b[s->n++] = (char)take(r, 256);
}

/* What the whole stream routes to on the TLS listener: a pool, or -1 (no byte to any pod). */
static int tls_oracle(const struct stream *s)
{
	struct tls_hello_scan sc;
	tls_hello_scan_init(&sc);
	enum tls_hello_error e;
	int wire = tls_hello_scan(&sc, (const uint8_t *)s->b, (uint32_t)s->n, REQUEST_BUFFER, &e);
	if (wire == TLS_HELLO_MORE && s->n < REQUEST_BUFFER)
		return -2; /* a valid beginning, not whole */
	if (wire <= 0)
		return -1;
	static uint8_t scratch[TLS_HELLO_MAX];
	struct tls_hello h;
	if (tls_hello_parse(&sc, (const uint8_t *)s->b, (uint32_t)wire, scratch, sizeof(scratch),
			    &h, &e) != 1 ||
	    h.sni_len == 0)
		return -1;
	const struct route_target *t = route_lookup_sni(routes, h.sni, h.sni_len);
	return t ? (int)t->pool : -1;
}

/* ---- the oracle ----------------------------------------------------------------------------- */

enum verdict {
	V_ROUTED,
	V_ANSWERED,
	V_INCOMPLETE
};

struct req {
	size_t start, head_end; /* offsets in the stream */
	size_t end;		/* end of the body, or of the stream if it does not end */
	size_t fault;		/* bytes from here on may never reach a pod */
	enum verdict v;
	uint32_t pool_id; /* when routed */
	bool close_after, upgrade;
};

struct oracle {
	struct req q[256];
	int n;
};

/* Parse the whole stream at once: the requests, where each ends, where each is routed. */
static void oracle_parse(const struct stream *s, struct oracle *o)
{
	size_t at = 0;
	o->n = 0;
	while (at < s->n && o->n < 256) {
		struct req *q = &o->q[o->n++];
		*q = (struct req){.start = at, .fault = SIZE_MAX};
		struct http_request_parser ps;
		http_request_parser_init(&ps);
		struct http_request hr;
		int rc = http_request_parse(&ps, &limits, (const uint8_t *)s->b + at, s->n - at,
					    &hr);
		if (rc == HTTP_NEED_MORE) {
			q->v = V_INCOMPLETE;
			q->head_end = q->end = s->n;
			q->fault = at; /* no byte of an incomplete head may reach a pod */
			return;
		}
		if (rc == HTTP_ERROR) {
			q->v = V_ANSWERED;
			q->head_end = q->end = s->n;
			q->fault = at;
			return;
		}
		q->head_end = at + (size_t)rc;
		char path[4096];
		int pl = http_normalize_path((const uint8_t *)s->b + at + hr.path.off, hr.path.len,
					     path, sizeof(path));
		const struct route_target *t =
			pl < 0 ? NULL
			       : route_lookup(routes, s->b + at + hr.host.off, hr.host.len, path,
					      (size_t)pl);
		q->v = t ? V_ROUTED : V_ANSWERED;
		q->pool_id = t ? route_pool(routes, t->pool)->id : 0;
		q->close_after = !hr.keep_alive;
		q->upgrade = hr.upgrade;
		struct http_body body;
		http_body_init(&body, hr.body, hr.content_length);
		size_t used = 0;
		enum http_body_result br = HTTP_BODY_DONE;
		if (!body.done)
			br = http_body_feed(&body, (const uint8_t *)s->b + q->head_end,
					    s->n - q->head_end, &used);
		q->end = q->head_end + used;
		if (br == HTTP_BODY_BAD) {
			q->fault = q->end;
			return;
		}
		if (br == HTTP_BODY_MORE || q->v != V_ROUTED || q->close_after)
			return; /* nothing after it is a request the gateway would route */
		at = q->end;
	}
}

/* ---- the simulated peers -------------------------------------------------------------------- */

struct podconn {
	uint16_t snat_port;
	int pod;	  /* index of pod_ips */
	uint32_t isn;	  /* the ISN in the gateway's SYN (the pod stream starts at isn + 1) */
	uint32_t rcv_nxt; /* next in-order byte from the gateway */
	uint32_t iss;	  /* our ISN */
	uint32_t snd_nxt; /* our next byte */
	uint32_t ts_echo; /* the gateway's latest TSval */
	bool ts;
	uint8_t got[STREAM_MAX + 64];
	uint8_t ofo[STREAM_MAX + 64], have[STREAM_MAX + 64]; /* out of order, newest wins */
	size_t n_got;
	size_t answered; /* bytes of got[] already answered */
	bool fin_in, fin_out, reset, bad;
};

#define QMAX 1024

struct sim {
	struct tcpl_ctx *tcp;
	uint64_t now;
	uint16_t cport;
	uint32_t c_isn;
	uint32_t c_una;	  /* the highest acknowledgement the client has seen */
	uint32_t c_rcv;	  /* its next expected byte from the gateway */
	uint32_t ts_echo; /* the gateway's latest TSval, as the client echoes it */
	bool ts, dead, fin_sent;
	bool mutated; /* a resend carried other bytes than the stream's */
	const struct stream *s;
	size_t sent; /* stream bytes sent at least once */
	size_t last_off, last_len;
	struct podconn pods[MAX_PODS];
	int n_pods;
	struct rte_mbuf *to_client[QMAX], *to_pod[QMAX];
	int n_to_client, n_to_pod;
};

static struct rte_mbuf *frame(const struct rte_ether_addr *smac, const struct rte_ether_addr *dmac,
			      uint32_t sip, uint32_t dip, uint16_t sport, uint16_t dport,
			      uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t *data,
			      uint16_t len, bool ts, uint32_t tsval, uint32_t tsecr)
{
	const struct tcp_frame f = {
		.src_mac = smac,
		.dst_mac = dmac,
		.src_ip = sip,
		.dst_ip = dip,
		.src_port = sport,
		.dst_port = dport,
		.seq = seq,
		.ack = ack,
		.flags = flags,
		.window = 65535,
		.mss = (flags & RTE_TCP_SYN_FLAG) ? 1460 : 0,
		.ts = ts,
		.tsval = tsval,
		.tsecr = tsecr,
		.payload_len = len,
	};
	struct rte_mbuf *m = tcp_frame_mbuf(pool, &f, data);
	if (m == NULL)
		die("mbufs ran out (a leak in the engine?)");
	return m;
}

/* What the engine sent joins the queue of the side it goes to. */
static void queue_out(struct sim *s, struct tcpl_out *out, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++) {
		if (out[i].port == 0 && s->n_to_client < QMAX)
			s->to_client[s->n_to_client++] = out[i].m;
		else if (out[i].port == 1 && s->n_to_pod < QMAX)
			s->to_pod[s->n_to_pod++] = out[i].m;
		else
			rte_pktmbuf_free(out[i].m);
	}
}

/* Run one frame through the engine on port pi; what it sends joins the queues. */
static void inject(struct sim *s, uint16_t pi, struct rte_mbuf *m)
{
	struct net_pkt p;
	enum net_drop_reason why;
	if (net_parse(m, &p, &why) != NET_CLASS_TCP)
		die("a crafted frame does not parse");
	struct tcpl_out out[256];
	queue_out(s, out, tcpl_input_burst(s->tcp, pi, &m, &p, 1, s->now, out, 256));
}

static void tick(struct sim *s, uint64_t ms)
{
	s->now += ms * (rte_get_tsc_hz() / 1000);
	struct tcpl_out out[256];
	for (int k = 0; k < 4; k++)
		queue_out(s, out, tcpl_tick(s->tcp, s->now + (uint64_t)k, out, 256));
}

static uint32_t clock_ms(const struct sim *s)
{
	return (uint32_t)(s->now / (rte_get_tsc_hz() / 1000));
}

static void client_send(struct sim *s, uint32_t seq, uint8_t flags, const uint8_t *d, uint16_t len)
{
	if (s->dead)
		return;
	if (getenv("FUZZ_TRACE"))
		fprintf(stderr, "  client sends seq %u len %u flags %02x\n", seq - s->c_isn - 1,
			len, flags);
	inject(s, 0,
	       frame(&cli, &gw_c, inet_addr("198.18.0.2"), inet_addr("198.18.0.10"), s->cport,
		     tls_mode ? 443 : 80, seq, s->c_rcv, flags, d, len, s->ts, clock_ms(s) + 7,
		     s->ts_echo));
}

/* Send stream bytes [off, off + len). */
static void client_data(struct sim *s, size_t off, size_t len)
{
	if (off >= s->s->n)
		return;
	if (off + len > s->s->n)
		len = s->s->n - off;
	client_send(s, s->c_isn + 1 + (uint32_t)off, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG,
		    (const uint8_t *)s->s->b + off, (uint16_t)len);
	if (off + len > s->sent)
		s->sent = off + len;
	s->last_off = off;
	s->last_len = len;
}

static void pod_send(struct sim *s, struct podconn *pc, uint8_t flags, const uint8_t *d,
		     uint16_t len)
{
	if (pc->reset)
		return;
	inject(s, 1,
	       frame(&podmac, &gw_p, inet_addr(pod_ips[pc->pod]), inet_addr("198.19.0.1"), 8080,
		     pc->snat_port, pc->snd_nxt, pc->rcv_nxt, flags, d, len, pc->ts,
		     clock_ms(s) + 11, pc->ts_echo));
	pc->snd_nxt += len + ((flags & (RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG)) ? 1 : 0);
}

/* A pod answers each complete request it received, in order; a close request, a malformed
 * one, or the client's FIN ends its side. */
static void pod_answer(struct sim *s, struct podconn *pc)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	while (!tls_mode && !pc->bad && !pc->fin_out && pc->answered < pc->n_got) {
		struct http_request_parser ps;
		http_request_parser_init(&ps);
		struct http_request hr;
		int rc = http_request_parse(&ps, &limits, pc->got + pc->answered,
					    pc->n_got - pc->answered, &hr);
		if (rc == HTTP_NEED_MORE)
			break;
		if (rc == HTTP_ERROR) {
			pc->bad = true; /* the oracle will say why */
			break;
		}
		struct http_body b;
		http_body_init(&b, hr.body, hr.content_length);
		size_t used = 0;
		enum http_body_result br = HTTP_BODY_DONE;
		if (!b.done)
			br = http_body_feed(&b, pc->got + pc->answered + rc,
					    pc->n_got - pc->answered - (size_t)rc, &used);
		if (br != HTTP_BODY_DONE)
			break;
		pc->answered += (size_t)rc + used;
		pod_send(s, pc, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, (const uint8_t *)ok,
			 sizeof(ok) - 1);
		if (!hr.keep_alive) {
			pod_send(s, pc, RTE_TCP_ACK_FLAG | RTE_TCP_FIN_FLAG, NULL, 0);
			pc->fin_out = true;
		}
	}
	if (pc->fin_in && !pc->fin_out) {
		pod_send(s, pc, RTE_TCP_ACK_FLAG | RTE_TCP_FIN_FLAG, NULL, 0);
		pc->fin_out = true;
	}
}

static void pod_receive(struct sim *s, struct rte_mbuf *m, struct rd *r)
{
	struct net_pkt p;
	enum net_drop_reason why;
	if (net_parse(m, &p, &why) != NET_CLASS_TCP) {
		rte_pktmbuf_free(m); /* ARP and the like */
		return;
	}
	const struct rte_tcp_hdr *th =
		rte_pktmbuf_mtod_offset(m, const struct rte_tcp_hdr *, p.l2_len + p.l3_len);
	uint32_t seq = ntohl(th->sent_seq);
	uint16_t sport = ntohs(p.src_port);
	if (getenv("FUZZ_TRACE"))
		fprintf(stderr, "  to pod: port %u flags %02x seq %u len %u %.*s\n", sport,
			p.tcp_flags, seq - s->c_isn, p.payload_len, (int)p.payload_len,
			rte_pktmbuf_mtod_offset(m, const char *, p.l2_len + p.l3_len + p.l4_len));
	int pod = -1;
	for (int i = 0; i < 3; i++)
		if (p.dst_ip == inet_addr(pod_ips[i]))
			pod = i;
	if (pod < 0)
		die("a packet to no pod");
	struct podconn *pc = NULL;
	for (int i = 0; i < s->n_pods; i++)
		if (s->pods[i].snat_port == sport && s->pods[i].pod == pod && !s->pods[i].reset &&
		    !(s->pods[i].fin_in && s->pods[i].fin_out))
			pc = &s->pods[i];
	if (p.tcp_flags & RTE_TCP_SYN_FLAG) {
		if (pc == NULL || pc->isn != seq) {
			if (s->n_pods == MAX_PODS) {
				rte_pktmbuf_free(m);
				return;
			}
			pc = &s->pods[s->n_pods++];
			memset(pc, 0, sizeof(*pc));
			pc->snat_port = sport;
			pc->pod = pod;
			pc->isn = seq;
			pc->rcv_nxt = seq + 1;
			pc->iss = 1000000u * (uint32_t)s->n_pods + take(r, 60000);
			if (getenv("FUZZ_TRACE"))
				fprintf(stderr, "  t=%u ms: SYN to pod %d port %u seq %u\n",
					clock_ms(s), pod, sport, seq - s->c_isn);
			pc->snd_nxt = pc->iss + 1;
			pc->ts = p.tcp_has_ts;
		}
		if (p.tcp_has_ts)
			pc->ts_echo = p.tcp_tsval;
		rte_pktmbuf_free(m);
		if (pc->n_got == 0) /* (re)send our SYN-ACK */
			inject(s, 1,
			       frame(&podmac, &gw_p, inet_addr(pod_ips[pod]),
				     inet_addr("198.19.0.1"), 8080, sport, pc->iss, pc->rcv_nxt,
				     RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, NULL, 0, pc->ts,
				     clock_ms(s) + 11, pc->ts_echo));
		return;
	}
	if (pc == NULL) {
		rte_pktmbuf_free(m);
		return;
	}
	if (p.tcp_has_ts)
		pc->ts_echo = p.tcp_tsval;
	if (p.tcp_flags & RTE_TCP_RST_FLAG) {
		pc->reset = true;
		rte_pktmbuf_free(m);
		return;
	}
	if (p.payload_len && take(r, 6) == 0) {
		/* Lost on the way, or refused by the pod (PAWS, memory pressure). */
		rte_pktmbuf_free(m);
		return;
	}
	const uint8_t *d =
		rte_pktmbuf_mtod_offset(m, const uint8_t *, p.l2_len + p.l3_len + p.l4_len);
	uint32_t end = seq + p.payload_len;
	bool advanced = false;
	if (!pc->fin_in) {
		/* Out-of-order bytes are queued (a newer copy replaces an older one, as Linux does
		 * for a segment that covers queued ones); in-order bytes are taken once. */
		for (uint32_t i = 0; i < p.payload_len; i++) {
			uint32_t rel = seq + i - (pc->isn + 1);
			if ((int32_t)(seq + i - pc->rcv_nxt) < 0)
				continue;
			if (rel >= sizeof(pc->got))
				die("a pod received more than the client sent");
			pc->ofo[rel] = d[i];
			pc->have[rel] = 1;
		}
		while (pc->n_got < sizeof(pc->got) && pc->have[pc->n_got]) {
			pc->got[pc->n_got] = pc->ofo[pc->n_got];
			pc->n_got++;
			pc->rcv_nxt++;
			advanced = true;
		}
	}
	if ((p.tcp_flags & RTE_TCP_FIN_FLAG) && end == pc->rcv_nxt && !pc->fin_in) {
		pc->fin_in = true;
		pc->rcv_nxt++;
		advanced = true;
	}
	rte_pktmbuf_free(m);
	if (advanced || p.payload_len) {
		pod_send(s, pc, RTE_TCP_ACK_FLAG, NULL, 0);
		pod_answer(s, pc);
	}
}

static void client_receive(struct sim *s, struct rte_mbuf *m)
{
	struct net_pkt p;
	enum net_drop_reason why;
	if (net_parse(m, &p, &why) != NET_CLASS_TCP)
		die("the gateway sent the client something that does not parse");
	const struct rte_tcp_hdr *th =
		rte_pktmbuf_mtod_offset(m, const struct rte_tcp_hdr *, p.l2_len + p.l3_len);
	uint32_t seq = ntohl(th->sent_seq), ack = ntohl(th->recv_ack);
	uint8_t flags = p.tcp_flags;
	if (getenv("FUZZ_TRACE"))
		fprintf(stderr, "  to client: flags %02x seq %u (rcv %u) ack %u len %u\n", flags,
			seq, s->c_rcv, ack - s->c_isn, p.payload_len);
	rte_pktmbuf_free(m);
	if (p.tcp_has_ts)
		s->ts_echo = p.tcp_tsval;
	if (flags & RTE_TCP_RST_FLAG) {
		s->dead = true;
		return;
	}
	uint32_t c_nxt = s->c_isn + 1 + (uint32_t)s->sent + (s->fin_sent ? 1 : 0);
	if ((flags & RTE_TCP_ACK_FLAG) && (int32_t)(ack - s->c_una) > 0 &&
	    (int32_t)(ack - c_nxt) <= 0)
		s->c_una = ack;
	if (p.payload_len || (flags & RTE_TCP_FIN_FLAG)) {
		if (seq == s->c_rcv)
			s->c_rcv += p.payload_len + ((flags & RTE_TCP_FIN_FLAG) ? 1 : 0);
		client_send(s, c_nxt, RTE_TCP_ACK_FLAG, NULL, 0);
	}
}

static void deliver_client(struct sim *s)
{
	struct rte_mbuf *q[QMAX];
	int n = s->n_to_client;
	memcpy(q, s->to_client, (size_t)n * sizeof(q[0]));
	s->n_to_client = 0;
	for (int i = 0; i < n; i++)
		client_receive(s, q[i]);
}

static void deliver_pods(struct sim *s, struct rd *r)
{
	struct rte_mbuf *q[QMAX];
	int n = s->n_to_pod;
	memcpy(q, s->to_pod, (size_t)n * sizeof(q[0]));
	s->n_to_pod = 0;
	for (int i = 0; i < n; i++)
		pod_receive(s, q[i], r);
}

/* ---- the check ------------------------------------------------------------------------------ */

/* FUZZ_TRACE=1 prints what the check looks at (for turning a crash into a test). */
static void trace(const struct sim *s, const struct oracle *o)
{
	fprintf(stderr, "stream %zu bytes, %d request(s), timestamps %d:\n", s->s->n, o->n, s->ts);
	for (int k = 0; k < o->n; k++)
		fprintf(stderr,
			"  req %d [%zu, head %zu, end %zu) fault %zd verdict %d pool %u%s\n", k,
			o->q[k].start, o->q[k].head_end, o->q[k].end,
			o->q[k].fault == SIZE_MAX ? (ssize_t)-1 : (ssize_t)o->q[k].fault, o->q[k].v,
			o->q[k].pool_id, o->q[k].close_after ? " close" : "");
	for (int i = 0; i < s->n_pods; i++)
		fprintf(stderr, "  pod conn %d: pod %d port %u offset %u, %zu byte(s)%s%s\n", i,
			s->pods[i].pod, s->pods[i].snat_port, s->pods[i].isn - s->c_isn,
			s->pods[i].n_got, s->pods[i].fin_in ? " fin" : "",
			s->pods[i].reset ? " reset" : "");
	fprintf(stderr, "%.*s\n", (int)s->s->n, s->s->b);
}

/* What the pod itself makes of its bytes: whole heads, each routed by the table to the pod's
 * Service, bodies framed, nothing after a close. Independent of what the client meant. */
static void check_pod_view(const struct podconn *pc)
{
	if (getenv("FUZZ_TRACE"))
		fprintf(stderr, "pod %d view:\n%.*s\n--\n", pc->pod, (int)pc->n_got, pc->got);
	uint32_t want = route_pool(routes, (uint32_t)pc->pod)->id;
	size_t at = 0;
	while (at < pc->n_got) {
		struct http_request_parser ps;
		http_request_parser_init(&ps);
		struct http_request hr;
		int rc = http_request_parse(&ps, &limits, pc->got + at, pc->n_got - at, &hr);
		if (rc == HTTP_NEED_MORE)
			die("pod view: part of a head reached a pod");
		if (rc == HTTP_ERROR)
			die("pod view: a pod received a malformed request");
		char path[4096];
		int pl = http_normalize_path(pc->got + at + hr.path.off, hr.path.len, path,
					     sizeof(path));
		const struct route_target *t =
			pl < 0 ? NULL
			       : route_lookup(routes, (const char *)pc->got + at + hr.host.off,
					      hr.host.len, path, (size_t)pl);
		if (t == NULL)
			die("pod view: a pod received a request with no route");
		if (route_pool(routes, t->pool)->id != want)
			die("pod view: a pod received a request for another Service");
		struct http_body b;
		http_body_init(&b, hr.body, hr.content_length);
		size_t used = 0;
		enum http_body_result br = HTTP_BODY_DONE;
		if (!b.done)
			br = http_body_feed(&b, pc->got + at + rc, pc->n_got - at - (size_t)rc,
					    &used);
		if (br == HTTP_BODY_BAD)
			die("pod view: a pod received a broken body");
		if (br == HTTP_BODY_MORE)
			return;
		at += (size_t)rc + used;
		if (!hr.keep_alive && at < pc->n_got)
			die("pod view: bytes after a request that asked to close");
	}
}

/* A pod's own bytes on the TLS listener open with a whole, valid ClientHello routed to it — or,
 * when the connection ended before the pod had all of it, with a valid beginning of one (the
 * gateway had the whole hello before it connected; the rest was in flight). */
static void check_tls_pod_view(const struct podconn *pc)
{
	if (pc->n_got == 0)
		return;
	struct stream view;
	memcpy(view.b, pc->got, pc->n_got < STREAM_MAX ? pc->n_got : STREAM_MAX);
	view.n = pc->n_got < STREAM_MAX ? pc->n_got : STREAM_MAX;
	int r = tls_oracle(&view);
	if (r != -2 && r != pc->pod)
		die("tls: a pod's bytes do not open with a ClientHello routed to it");
}

static void check_tls(const struct sim *s)
{
	int want = tls_oracle(s->s);
	int with_bytes = 0;
	for (int i = 0; i < s->n_pods; i++) {
		const struct podconn *pc = &s->pods[i];
		check_tls_pod_view(pc);
		if (pc->n_got == 0)
			continue;
		with_bytes++;
		if (s->mutated)
			continue; /* the gateway may have kept another copy: the view is checked */
		if (want < 0)
			die("tls: a client byte reached a pod although the hello does not route");
		if (pc->pod != want)
			die("tls: the hello reached a pod of another Service");
		if (pc->isn != s->c_isn)
			die("tls: a pod stream does not start at the client's first byte");
		if (pc->n_got > s->s->n || memcmp(pc->got, s->s->b, pc->n_got) != 0)
			die("tls: a pod received bytes the client did not send at that place");
	}
	if (with_bytes > 1)
		die("tls: bytes reached two pod connections");
}

static void check(const struct sim *s, const struct oracle *o)
{
	if (getenv("FUZZ_TRACE"))
		trace(s, o);
	if (tls_mode) {
		check_tls(s);
		return;
	}
	for (int i = 0; i < s->n_pods; i++)
		check_pod_view(&s->pods[i]);
	if (s->mutated) {
		/* The stream the gateway saw may differ from st: only positions are checked. */
		static uint8_t seen[STREAM_MAX + 64];
		memset(seen, 0, sizeof(seen));
		for (int i = 0; i < s->n_pods; i++) {
			const struct podconn *pc = &s->pods[i];
			size_t off = (size_t)(uint32_t)(pc->isn - s->c_isn);
			if (pc->n_got && (off > s->s->n || pc->n_got > s->s->n - off))
				die("a pod stream lies outside the client's stream");
			for (size_t b = off; pc->n_got && b < off + pc->n_got; b++) {
				if (seen[b])
					die("a client byte reached two pod connections");
				seen[b] = 1;
			}
		}
		return;
	}
	static uint8_t owner[STREAM_MAX];
	memset(owner, 0, s->s->n);
	for (int i = 0; i < s->n_pods; i++) {
		const struct podconn *pc = &s->pods[i];
		if (pc->n_got == 0)
			continue;
		size_t off = (size_t)(uint32_t)(pc->isn - s->c_isn);
		if (off > s->s->n || pc->n_got > s->s->n - off)
			die("a pod stream lies outside the client's stream");
		if (memcmp(pc->got, s->s->b + off, pc->n_got) != 0)
			die("a pod received bytes the client did not send at that place");
		size_t lo = off, hi = off + pc->n_got;
		uint32_t want = route_pool(routes, (uint32_t)pc->pod)->id;
		bool starts = false;
		for (int k = 0; k < o->n; k++) {
			const struct req *q = &o->q[k];
			if (q->start == lo)
				starts = true;
			if (q->start >= hi || q->end <= lo)
				continue;
			/* This request has bytes in the pod's stream. */
			if (q->v != V_ROUTED)
				die("bytes of an unrouted, malformed or incomplete request reached "
				    "a pod");
			if (q->pool_id != want)
				die("a request reached a pod of another Service");
			if (q->head_end > hi)
				die("part of a head reached a pod");
			if (hi > q->fault)
				die("a pod received bytes past a framing fault");
			if (q->start < lo)
				die("a pod stream starts inside a request");
		}
		if (!starts)
			die("a pod stream does not start at a request boundary");
		/* Every byte lies within a request the oracle knows. */
		size_t covered = 0;
		for (int k = 0; k < o->n; k++)
			if (o->q[k].v == V_ROUTED && o->q[k].end > covered)
				covered = o->q[k].end;
		if (hi > covered)
			die("a pod received bytes after the last request that could be routed");
		for (size_t b = lo; b < hi; b++) {
			if (owner[b])
				die("a client byte reached two pod connections");
			owner[b] = 1;
		}
	}
}

/*
 * resend_sees_replies: a client without timestamps sends only after the replies so far have
 * reached it, resends only bytes not yet acknowledged, and the network does not duplicate
 * segments it has already had acknowledged. Otherwise a copy of its first segment arriving after
 * the connection has ended and aged out carries a valid SYN cookie and opens a new connection that
 * replays the request — which no stateless handshake can tell from a first ACK. With timestamps the
 * gateway refuses cookies whose echoed SYN-ACK clock is stale (and closed connections linger longer
 * than that), and the fuzzer lets the client and the network resend and duplicate blind
 * (docs/tcp.md, "What remains").
 */

/* ---- one run -------------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = {data, size, 0};
	static struct stream st;
	st.n = 0;
	uint32_t mode = take(&r, 8);
	tls_mode = mode == 7;
	if (tls_mode) {
		gen_hello(&st, &r);
	} else if (mode == 0) {
		/* Raw bytes as the client's stream. */
		size_t n = take(&r, 2000);
		for (size_t i = 0; i < n && st.n < STREAM_MAX - 1; i++)
			st.b[st.n++] = (char)take(&r, 256);
	} else {
		uint32_t n = 1 + take(&r, 12);
		for (uint32_t i = 0; i < n && st.n < STREAM_MAX - 600; i++)
			gen_request(&st, &r);
	}
	static struct oracle o;
	oracle_parse(&st, &o);

	static struct sim s;
	memset(&s, 0, sizeof(s));
	struct tcpl_config cfg = tcpl_config_default(rte_get_tsc_hz());
	cfg.limits = limits;
	cfg.request_buffer = REQUEST_BUFFER;
	cfg.listen_ports[cfg.n_listen++] = 443;
	cfg.buffers = 8;
	cfg.max_flows = 64;
	cfg.snat_port_first = 20000;
	cfg.snat_port_count = 64;
	cfg.seed = 12345; /* the same input runs the same way */
	struct tcpl_port ports[2] = {{.local = &cside, .mss = 1460, .tls_ports = {443}, .n_tls = 1},
				     {.local = &pside, .conf = &pconf, .mss = 1460}};
	char err[256];
	s.tcp = tcpl_create("fzs", &cfg, ports, 2, pool, neigh, stats_self(), SOCKET_ID_ANY, err,
			    sizeof(err));
	if (s.tcp == NULL)
		die(err);
	tcpl_set_routes(s.tcp, routes);
	tcpl_set_keys(s.tcp, &keys);
	tcpl_set_seconds(s.tcp, 1000);
	s.now = rte_get_tsc_hz() * 1000;
	s.s = &st;
	s.cport = (uint16_t)(1024 + take(&r, 60000));
	s.c_isn = take(&r, 65536) * 65536u + take(&r, 65536);
	s.ts = take(&r, 2);

	/* Handshake. */
	client_send(&s, s.c_isn, RTE_TCP_SYN_FLAG, NULL, 0);
	if (s.n_to_client != 1)
		die("no SYN-ACK");
	{
		struct net_pkt p;
		enum net_drop_reason why;
		struct rte_mbuf *m = s.to_client[0];
		s.n_to_client = 0;
		net_parse(m, &p, &why);
		const struct rte_tcp_hdr *th =
			rte_pktmbuf_mtod_offset(m, const struct rte_tcp_hdr *, p.l2_len + p.l3_len);
		s.c_rcv = ntohl(th->sent_seq) + 1;
		s.ts_echo = p.tcp_tsval;
		rte_pktmbuf_free(m);
	}
	s.c_una = s.c_isn + 1;
	client_send(&s, s.c_isn + 1, RTE_TCP_ACK_FLAG, NULL, 0);

	/* The conversation. */
	for (int step = 0; step < 400 && r.i < r.n; step++) {
		uint32_t act = take(&r, 10);
		if (getenv("FUZZ_TRACE"))
			fprintf(stderr, "step %d t=%u act %u sent %zu\n", step, clock_ms(&s), act,
				s.sent);
		if (!s.ts && act != 3 && act != 4 && act != 5)
			deliver_client(&s); /* see resend_sees_replies */
		switch (act) {
		case 0:
		case 1:
		case 2: /* the next segment */
			client_data(&s, s.sent, 1 + take(&r, 1400));
			break;
		case 3:
			deliver_client(&s);
			break;
		case 4:
			deliver_pods(&s, &r);
			break;
		case 5:
			tick(&s, 1 + take(&r, 3000));
			break;
		case 6: /* resend from what was acknowledged (a retransmission timeout) */
			client_data(&s, (size_t)(uint32_t)(s.c_una - s.c_isn - 1),
				    1 + take(&r, 1400));
			break;
		case 7: /* a duplicate, or a segment ahead of the last */
			if (!s.ts &&
			    s.last_off + s.last_len <= (size_t)(uint32_t)(s.c_una - s.c_isn - 1))
				break; /* see resend_sees_replies */
			if (take(&r, 2))
				client_data(&s, s.last_off, s.last_len);
			else
				client_data(&s, s.sent + take(&r, 200), 1 + take(&r, 300));
			break;
		case 9: { /* a resend with other bytes (timestamps: blind resends are allowed) */
			size_t una = (size_t)(uint32_t)(s.c_una - s.c_isn - 1);
			size_t lo = s.ts ? 0 : una;
			if (s.sent <= lo)
				break;
			size_t off = lo + take(&r, (uint32_t)(s.sent - lo));
			size_t len = 1 + take(&r, 600);
			if (off + len > s.sent)
				len = s.sent - off;
			static uint8_t mb[STREAM_MAX];
			memcpy(mb, st.b + off, len);
			static const char alphabet[] = "\r\n :0123456789aAxX;GET /bHost.example";
			uint32_t k = 1 + take(&r, 8);
			for (uint32_t j = 0; j < k; j++)
				mb[take(&r, (uint32_t)len)] =
					(uint8_t)alphabet[take(&r, sizeof(alphabet) - 1)];
			if (memcmp(mb, st.b + off, len) != 0)
				s.mutated = true;
			if (getenv("FUZZ_TRACE"))
				fprintf(stderr, "  client resends [%zu, %zu): %.*s\n", off,
					off + len, (int)len, (const char *)mb);
			client_send(&s, s.c_isn + 1 + (uint32_t)off,
				    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, mb, (uint16_t)len);
			break;
		}
		case 8: /* the end of the stream, or a spoofed reset */
			if (take(&r, 4) == 0) {
				/* An off-path reset: never the exact next number (that would be the
				 * client's own reset, after which it sends nothing). In the window
				 * it draws a challenge ACK; far off it is dropped. */
				uint32_t nxt = s.c_isn + 1 + (uint32_t)s.sent;
				client_send(&s,
					    take(&r, 2) ? nxt + 1 + take(&r, 2000)
							: nxt + 0x40000000u + take(&r, 65536),
					    RTE_TCP_RST_FLAG, NULL, 0);
			} else if (s.sent == st.n && !s.fin_sent) {
				client_send(&s, s.c_isn + 1 + (uint32_t)st.n,
					    RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, NULL, 0);
				s.fin_sent = true;
			}
			break;
		}
	}
	/* Let it settle: everything sent, delivered, acknowledged, timers run. */
	for (int round = 0; round < 40; round++) {
		if (!s.ts)
			deliver_client(&s);
		if (s.dead)
			break;
		if (s.sent < st.n)
			client_data(&s, s.sent, 1400);
		else if ((int32_t)(s.c_una - (s.c_isn + 1 + (uint32_t)st.n)) < 0 && round % 4 == 3)
			client_data(&s, (size_t)(uint32_t)(s.c_una - s.c_isn - 1), 1400);
		deliver_pods(&s, &r);
		deliver_client(&s);
		tick(&s, 50);
	}
	check(&s, &o);

	for (int i = 0; i < s.n_to_client; i++)
		rte_pktmbuf_free(s.to_client[i]);
	for (int i = 0; i < s.n_to_pod; i++)
		rte_pktmbuf_free(s.to_pod[i]);
	tcpl_free(s.tcp);
	return 0;
}
