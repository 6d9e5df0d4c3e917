/*
 * Packet tests for the TCP-lite engine: crafted segments through tcpl_input_burst(), the
 * gateway's answers read back with the parser. Two ports: 0 faces clients (VIP 198.18.0.10),
 * 1 faces pods (SNAT 198.19.0.1); the route table sends shop.example to 198.19.0.11:8080.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_tcp.h>

#include <openssl/ssl.h>

#include "control/control.h"
#include "alog/alog.h"
#include "tcp/tcp.h"
#include "tcp_frame.h"

static struct rte_mempool *pool;
static struct tcpl_ctx *tcp;
static struct net_neigh *neigh;
static struct net_local client_side, pod_side;
static struct conf_port pod_conf;
static struct route_table *routes;
static struct crypto_keys keys;
static struct crypto_ctx *crypto;

static const struct rte_ether_addr gw_c = {{2, 0, 0, 0, 0, 1}}, gw_p = {{2, 0, 0, 0, 0, 2}};
static const struct rte_ether_addr cli = {{2, 0, 0, 0, 0, 3}}, pod = {{2, 0, 0, 0, 0, 4}};
#define VIP    "198.18.0.10"
#define CLIENT "198.18.0.2"
#define SNAT   "198.19.0.1"
#define POD    "198.19.0.11"

static uint64_t now;

/* Add one object written as JSON ('single quotes' stand for double ones) to a model. */
static void model_add(struct control_model *m, const char *text)
{
	char buf[2048];
	snprintf(buf, sizeof(buf), "%s", text);
	for (char *c = buf; *c; c++)
		if (*c == '\'')
			*c = '"';
	json_t *j = json_loads(buf, 0, NULL);
	cr_assert_not_null(j, "bad test JSON: %s", buf);
	struct control_errors errs = {0};
	control_add_object(m, j, "test", &errs);
	cr_assert_eq(errs.n, 0, "%s", errs.n ? errs.msgs[0] : "");
	control_errors_free(&errs);
	json_decref(j);
}

/* Compile a model of our class; every object must compile cleanly. Frees the model. */
static struct route_table *model_compile(struct control_model *m)
{
	struct control_errors errs = {0};
	struct control_class cls = {"sluice", "sluice.dev/ingress-controller", NULL, NULL};
	struct route_table *t = control_compile(m, &cls, &errs);
	for (size_t i = 0; i < errs.n; i++)
		cr_log_error("%s", errs.msgs[i]);
	cr_assert_eq(errs.n, 0);
	control_model_free(m);
	control_errors_free(&errs);
	return t;
}

/* The engine's defaults, with a small pool of request buffers and SNAT ports 20000–20999. */
static struct tcpl_config test_config(void)
{
	struct tcpl_config cfg = tcpl_config_default(rte_get_tsc_hz());
	cfg.buffers = 64;
	cfg.listen_ports[cfg.n_listen++] = 443; /* a TLS listener beside port 80 */
	cfg.snat_port_first = 20000;
	cfg.snat_port_count = 1000;
	return cfg;
}

static void setup(void)
{
	static bool eal;
	if (!eal) {
		char *argv[] = {
			"test", "--no-huge", "--no-shconf",	  "--no-pci",
			"-m",	"256",	     "--log-level=error", "--file-prefix=sluice-test-tcp",
			NULL};
		cr_assert_geq(rte_eal_init(8, argv), 0);
		eal = true;
	}
	pool = rte_pktmbuf_pool_create("tcptest", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	cr_assert_not_null(pool);
	now = rte_get_tsc_hz() * 1000;
	client_side = (struct net_local){.mac = gw_c, .n_vips = 1};
	client_side.vips[0] = inet_addr(VIP);
	pod_side = (struct net_local){.mac = gw_p, .n_snat = 1};
	pod_side.snat[0] = inet_addr(SNAT);
	memset(&pod_conf, 0, sizeof(pod_conf));
	conf_parse_prefix("198.19.0.0/24", &pod_conf.subnets[0]);
	pod_conf.n_subnets = 1;
	neigh = net_neigh_create("tcptest_neigh", 64, SOCKET_ID_ANY, rte_get_tsc_hz() * 30,
				 rte_get_tsc_hz());
	net_neigh_learn(neigh, inet_addr(POD), &pod, now, true);

	struct control_model *m = control_model_new();
	const char *objs[] = {
		"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
		"\"namespace\":\"t\"},\"spec\":{\"ports\":[{\"name\":\"http\",\"port\":80}]}}",
		"{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":"
		"{\"name\":\"web-1\",\"namespace\":\"t\",\"labels\":{\"kubernetes.io/"
		"service-name\":"
		"\"web\"}},\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"http\",\"port\":8080}],"
		"\"endpoints\":[{\"addresses\":[\"" POD "\"]}]}",
		"{\"apiVersion\":\"networking.k8s.io/"
		"v1\",\"kind\":\"Ingress\",\"metadata\":{\"name\":"
		"\"i\",\"namespace\":\"t\"},\"spec\":{\"ingressClassName\":\"sluice\",\"rules\":[{"
		"\"host\":\"shop.example\",\"http\":{\"paths\":[{\"path\":\"/\",\"pathType\":"
		"\"Prefix\",\"backend\":{\"service\":{\"name\":\"web\",\"port\":{\"number\":80}}}}]"
		"}}]}}",
		/* tls.example is passed through by server name on 443 */
		"{\"apiVersion\":\"networking.k8s.io/"
		"v1\",\"kind\":\"Ingress\",\"metadata\":{\"name\":\"p\",\"namespace\":\"t\","
		"\"annotations\":{\"sluice.dev/ssl-passthrough\":\"true\"}},\"spec\":{"
		"\"ingressClassName\":\"sluice\",\"rules\":[{\"host\":\"tls.example\",\"http\":{"
		"\"paths\":[{\"path\":\"/\",\"pathType\":\"Prefix\",\"backend\":{\"service\":{"
		"\"name\":\"web\",\"port\":{\"number\":80}}}}]}}]}}",
	};
	for (int i = 0; i < 4; i++)
		model_add(m, objs[i]);
	routes = model_compile(m);
	cr_assert_eq(stats_series_init(64), 0);
	route_table_set_series(routes, tcpl_series_of, NULL);

	crypto = crypto_ctx_create();
	crypto_keys_rotate(crypto, &keys, NULL, crypto_cookie_count(1000));

	struct tcpl_config cfg = test_config();
	struct tcpl_port ports[2] = {
		{.local = &client_side,
		 .conf = NULL,
		 .offloads = 0,
		 .mss = 1460,
		 .tls_ports = {443},
		 .n_tls = 1},
		{.local = &pod_side, .conf = &pod_conf, .offloads = 0, .mss = 1460},
	};
	char err[256];
	tcp = tcpl_create("tcptest", &cfg, ports, 2, pool, neigh, stats_self(), SOCKET_ID_ANY, err,
			  sizeof(err));
	cr_assert_not_null(tcp, "%s", err);
	tcpl_set_routes(tcp, routes);
	tcpl_set_keys(tcp, &keys);
	tcpl_set_seconds(tcp, 1000);
	stats_reset();
}

static void teardown(void)
{
	stats_series_fini();
	tcpl_free(tcp);
	route_table_free(routes);
	crypto_ctx_free(crypto);
	net_neigh_free(neigh);
	rte_mempool_free(pool);
}

TestSuite(tcp, .init = setup, .fini = teardown);

/* ---- frames ------------------------------------------------------------------------------- */

static struct rte_mbuf *seg(const struct rte_ether_addr *src_mac,
			    const struct rte_ether_addr *dst_mac, const char *sip, const char *dip,
			    uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
			    uint8_t flags, const char *payload, uint16_t mss)
{
	const struct tcp_frame f = {
		.src_mac = src_mac,
		.dst_mac = dst_mac,
		.src_ip = inet_addr(sip),
		.dst_ip = inet_addr(dip),
		.src_port = sport,
		.dst_port = dport,
		.seq = seq,
		.ack = ack,
		.flags = flags,
		.window = 65535,
		.mss = mss,
		.payload_len = payload ? (uint16_t)strlen(payload) : 0,
	};
	struct rte_mbuf *m = tcp_frame_mbuf(pool, &f, payload);
	cr_assert_not_null(m);
	return m;
}

static struct rte_mbuf *from_client(uint32_t seq, uint32_t ack, uint8_t flags, const char *data)
{
	return seg(&cli, &gw_c, CLIENT, VIP, 40000, 80, seq, ack, flags, data,
		   (flags & RTE_TCP_SYN_FLAG) ? 1460 : 0);
}

/* Run one packet through port pi; outputs land in out[]. */
static struct tcpl_out out[64];
static uint16_t nout;

static void feed(uint16_t pi, struct rte_mbuf *m)
{
	struct net_pkt p;
	enum net_drop_reason why;
	cr_assert_eq(net_parse(m, &p, &why), NET_CLASS_TCP, "crafted frame does not parse: %s",
		     net_drop_reason_name(why));
	for (uint16_t i = 0; i < nout; i++)
		rte_pktmbuf_free(out[i].m);
	nout = tcpl_input_burst(tcp, pi, &m, &p, 1, now, out, 64);
}

/* Parse output k and return its TCP header (checksums verified by the parser). */
static const struct rte_tcp_hdr *out_tcp(uint16_t k, struct net_pkt *p)
{
	cr_assert_lt(k, nout);
	enum net_drop_reason why;
	cr_assert_eq(net_parse(out[k].m, p, &why), NET_CLASS_TCP, "output %u invalid: %s", k,
		     net_drop_reason_name(why));
	return rte_pktmbuf_mtod_offset(out[k].m, const struct rte_tcp_hdr *, p->l2_len + p->l3_len);
}

static uint32_t handshake(uint32_t isn)
{
	feed(0, from_client(isn, 0, RTE_TCP_SYN_FLAG, NULL));
	cr_assert_eq(nout, 1);
	struct net_pkt p;
	const struct rte_tcp_hdr *th = out_tcp(0, &p);
	cr_assert_eq(th->tcp_flags, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG);
	cr_assert_eq(ntohl(th->recv_ack), isn + 1);
	cr_assert_eq(p.tcp_mss, 1460);
	uint32_t cookie = ntohl(th->sent_seq);
	feed(0, from_client(isn + 1, cookie + 1, RTE_TCP_ACK_FLAG, NULL));
	cr_assert_eq(tcpl_flow_count(tcp), 1, "the valid cookie created the flow");
	return cookie;
}

/* ---- tests -------------------------------------------------------------------------------- */

Test(tcp, syn_gets_a_cookie_and_no_state)
{
	feed(0, from_client(1000, 0, RTE_TCP_SYN_FLAG, NULL));
	cr_assert_eq(nout, 1);
	cr_assert_eq(out[0].port, 0);
	cr_assert_eq(tcpl_flow_count(tcp), 0);
	struct net_pkt p;
	out_tcp(0, &p);
	cr_assert_eq(p.src_ip, inet_addr(VIP));
	cr_assert_eq(p.dst_ip, inet_addr(CLIENT));
}

Test(tcp, retransmitted_syn_gets_the_same_cookie)
{
	struct net_pkt p;
	feed(0, from_client(1000, 0, RTE_TCP_SYN_FLAG, NULL));
	uint32_t a = ntohl(out_tcp(0, &p)->sent_seq);
	feed(0, from_client(1000, 0, RTE_TCP_SYN_FLAG, NULL));
	uint32_t b = ntohl(out_tcp(0, &p)->sent_seq);
	cr_assert_eq(a, b);
}

Test(tcp, cookie_round_trip_creates_the_flow)
{
	handshake(5000);
	cr_assert_eq(stats_sum(STATS_tcp_cookie_ok), 1);
}

Test(tcp, bad_cookie_is_reset)
{
	feed(0, from_client(1001, 0x12345678, RTE_TCP_ACK_FLAG, NULL));
	cr_assert_eq(tcpl_flow_count(tcp), 0);
	cr_assert_eq(nout, 1);
	struct net_pkt p;
	const struct rte_tcp_hdr *th = out_tcp(0, &p);
	cr_assert(th->tcp_flags & RTE_TCP_RST_FLAG);
	cr_assert_eq(ntohl(th->sent_seq), 0x12345678, "RST takes the ACK's number as its seq");
	cr_assert_eq(stats_sum(STATS_tcp_cookie_bad), 1);
}

Test(tcp, syn_to_a_port_not_served_is_reset)
{
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, 40000, 22, 7, 0, RTE_TCP_SYN_FLAG, NULL, 1460));
	cr_assert_eq(nout, 1);
	struct net_pkt p;
	const struct rte_tcp_hdr *th = out_tcp(0, &p);
	cr_assert_eq(th->tcp_flags, RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG);
	cr_assert_eq(ntohl(th->recv_ack), 8);
}

/* Drive a request to the point where the SYN to the pod goes out; returns the cookie. */
static uint32_t request_to_connect(uint32_t isn, const char *const *pieces, int n)
{
	uint32_t cookie = handshake(isn);
	uint32_t seq = isn + 1;
	for (int i = 0; i < n; i++) {
		feed(0,
		     from_client(seq, cookie + 1, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, pieces[i]));
		seq += (uint32_t)strlen(pieces[i]);
		struct net_pkt p;
		const struct rte_tcp_hdr *th = out_tcp(0, &p);
		cr_assert_eq(ntohl(th->recv_ack), seq, "piece %d acknowledged", i);
	}
	return cookie;
}

Test(tcp, request_split_over_segments_connects_to_the_pod_with_the_clients_isn)
{
	const char *pieces[] = {"GET / HT", "TP/1.1\r\nHo", "st: shop.example\r", "\n\r\n"};
	request_to_connect(9000, pieces, 4);
	cr_assert_eq(nout, 2, "ACK to the client and SYN to the pod");
	struct net_pkt p;
	const struct rte_tcp_hdr *syn = out_tcp(1, &p);
	cr_assert_eq(out[1].port, 1);
	cr_assert_eq(syn->tcp_flags, RTE_TCP_SYN_FLAG);
	cr_assert_eq(ntohl(syn->sent_seq), 9000, "the pod sees the client's ISN");
	cr_assert_eq(p.dst_ip, inet_addr(POD));
	cr_assert_eq(ntohs(p.dst_port), 8080);
	cr_assert_eq(p.src_ip, inet_addr(SNAT));
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(out[1].m, const struct rte_ether_hdr *);
	cr_assert(rte_is_same_ether_addr(&eh->dst_addr, &pod));
}

Test(tcp, out_of_order_segment_is_reacknowledged_not_buffered)
{
	uint32_t cookie = handshake(100);
	feed(0, from_client(101 + 10, cookie + 1, RTE_TCP_ACK_FLAG, "later bytes"));
	struct net_pkt p;
	cr_assert_eq(ntohl(out_tcp(0, &p)->recv_ack), 101, "still expecting byte 1");
	cr_assert_eq(stats_sum(STATS_tcp_out_of_order), 1);
	/* A duplicate of what we have is re-acknowledged too. */
	feed(0, from_client(101, cookie + 1, RTE_TCP_ACK_FLAG, "GET /"));
	feed(0, from_client(101, cookie + 1, RTE_TCP_ACK_FLAG, "GET /"));
	cr_assert_eq(ntohl(out_tcp(0, &p)->recv_ack), 106);
}

Test(tcp, unknown_host_gets_404_with_fin)
{
	const char *pieces[] = {"GET / HTTP/1.1\r\nHost: nope.example\r\n\r\n"};
	request_to_connect(300, pieces, 1);
	cr_assert_eq(nout, 2);
	struct net_pkt p;
	const struct rte_tcp_hdr *th = out_tcp(1, &p);
	cr_assert(th->tcp_flags & RTE_TCP_FIN_FLAG);
	const char *body =
		rte_pktmbuf_mtod_offset(out[1].m, const char *, p.l2_len + p.l3_len + p.l4_len);
	cr_assert(strncmp(body, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
	cr_assert_eq(stats_answers(404), 1);
}

Test(tcp, malformed_request_gets_400)
{
	const char *pieces[] = {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"};
	request_to_connect(300, pieces, 1);
	struct net_pkt p;
	out_tcp(1, &p);
	const char *body =
		rte_pktmbuf_mtod_offset(out[1].m, const char *, p.l2_len + p.l3_len + p.l4_len);
	cr_assert(strncmp(body, "HTTP/1.1 400", 12) == 0);
}

/* Connect, have the pod accept with ISN pod_isn; returns the cookie. */
static uint32_t spliced(uint32_t client_isn, uint32_t pod_isn, uint16_t *snat_port)
{
	const char *req = "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n";
	const char *pieces[] = {req};
	uint32_t cookie = request_to_connect(client_isn, pieces, 1);
	struct net_pkt p;
	out_tcp(1, &p);
	*snat_port = ntohs(p.src_port);
	feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, *snat_port, pod_isn, client_isn + 1,
		    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, NULL, 1460));
	cr_assert_eq(nout, 2, "ACK and the buffered request to the pod");
	const struct rte_tcp_hdr *th = out_tcp(1, &p);
	cr_assert_eq(ntohl(th->sent_seq), client_isn + 1);
	cr_assert_eq(ntohl(th->recv_ack), pod_isn + 1);
	cr_assert_eq(p.payload_len, strlen(req));
	return cookie;
}

Test(tcp, splice_translates_sequence_numbers_both_ways)
{
	uint16_t sp;
	uint32_t cookie = spliced(7000, 3000000000u, &sp);
	/* pod → client: seq + D */
	feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, sp, 3000000001u, 7000 + 1 + 38,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, "HTTP/1.1 200 OK\r\n", 0));
	cr_assert_eq(nout, 1);
	struct net_pkt p;
	const struct rte_tcp_hdr *th = out_tcp(0, &p);
	cr_assert_eq(out[0].port, 0);
	cr_assert_eq(ntohl(th->sent_seq), cookie + 1, "pod seq y+1 becomes cookie c+1");
	cr_assert_eq(p.src_ip, inet_addr(VIP));
	cr_assert_eq(ntohs(p.src_port), 80);
	cr_assert_eq(p.dst_ip, inet_addr(CLIENT));
	cr_assert_eq(ntohs(p.dst_port), 40000);
	/* client → pod: ack − D */
	feed(0, from_client(7000 + 1 + 38, cookie + 1 + 17, RTE_TCP_ACK_FLAG, NULL));
	th = out_tcp(0, &p);
	cr_assert_eq(out[0].port, 1);
	cr_assert_eq(ntohl(th->recv_ack), 3000000001u + 17);
	cr_assert_eq(p.dst_ip, inet_addr(POD));
	cr_assert_eq(ntohs(p.src_port), sp);
}

Test(tcp, splice_handles_sequence_wrap_around)
{
	uint16_t sp;
	/* Client near the top of the space, pod just below zero: both sides wrap. */
	uint32_t cookie = spliced(0xffffffe0u, 0xfffffff0u, &sp);
	feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, sp, 0xfffffff1u, 0xffffffe0u + 1 + 38,
		    RTE_TCP_ACK_FLAG, "0123456789abcdefXYZ", 0));
	struct net_pkt p;
	cr_assert_eq(ntohl(out_tcp(0, &p)->sent_seq), cookie + 1);
	feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, sp, 0xfffffff1u + 19, 0xffffffe0u + 1 + 38,
		    RTE_TCP_ACK_FLAG, "after the wrap", 0));
	cr_assert_eq(ntohl(out_tcp(0, &p)->sent_seq), cookie + 1 + 19);
	feed(0, from_client(0xffffffe0u + 1 + 38, cookie + 1 + 33, RTE_TCP_ACK_FLAG, NULL));
	cr_assert_eq(ntohl(out_tcp(0, &p)->recv_ack), 0xfffffff1u + 33);
}

Test(tcp, fin_from_either_side_is_forwarded_and_closes)
{
	uint16_t sp;
	uint32_t cookie = spliced(100, 200, &sp);
	feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, sp, 201, 139, RTE_TCP_ACK_FLAG | RTE_TCP_FIN_FLAG,
		    NULL, 0));
	struct net_pkt p;
	cr_assert(out_tcp(0, &p)->tcp_flags & RTE_TCP_FIN_FLAG);
	feed(0, from_client(139, cookie + 2, RTE_TCP_ACK_FLAG | RTE_TCP_FIN_FLAG, NULL));
	cr_assert(out_tcp(0, &p)->tcp_flags & RTE_TCP_FIN_FLAG);
	cr_assert_eq(out[0].port, 1);
	/* Both FINs seen: the flow lingers, then ages out. */
	now += rte_get_tsc_hz() * 3;
	struct tcpl_out o[64];
	for (int i = 0; i < 8; i++) {
		now += rte_get_tsc_hz() / 10;
		uint16_t k = tcpl_tick(tcp, now, o, 64);
		for (uint16_t j = 0; j < k; j++)
			rte_pktmbuf_free(o[j].m);
	}
	cr_assert_eq(tcpl_flow_count(tcp), 0);
}

Test(tcp, rst_from_the_pod_during_connect_retries_then_502)
{
	const char *pieces[] = {"GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n"};
	request_to_connect(400, pieces, 1);
	for (int attempt = 0; attempt < 3; attempt++) {
		struct net_pkt p;
		uint16_t k = nout == 2 ? 1 : 0;
		const struct rte_tcp_hdr *syn = out_tcp(k, &p);
		cr_assert_eq(syn->tcp_flags, RTE_TCP_SYN_FLAG, "attempt %d", attempt);
		feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, ntohs(p.src_port), 0, 401,
			    RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG, NULL, 0));
	}
	struct net_pkt p;
	out_tcp(0, &p);
	const char *body =
		rte_pktmbuf_mtod_offset(out[0].m, const char *, p.l2_len + p.l3_len + p.l4_len);
	cr_assert(strncmp(body, "HTTP/1.1 502", 12) == 0, "%.20s", body);
	cr_assert_eq(stats_sum(STATS_pod_refused), 3);
}

Test(tcp, head_timeout_answers_408)
{
	uint32_t cookie = handshake(500);
	feed(0, from_client(501, cookie + 1, RTE_TCP_ACK_FLAG, "GET / HTTP/1.1\r\n"));
	now += rte_get_tsc_hz() * 11;
	struct tcpl_out o[64];
	uint16_t k = tcpl_tick(tcp, now, o, 64);
	cr_assert_eq(k, 1);
	struct net_pkt p;
	enum net_drop_reason why;
	cr_assert_eq(net_parse(o[0].m, &p, &why), NET_CLASS_TCP);
	const char *body =
		rte_pktmbuf_mtod_offset(o[0].m, const char *, p.l2_len + p.l3_len + p.l4_len);
	cr_assert(strncmp(body, "HTTP/1.1 408", 12) == 0);
	rte_pktmbuf_free(o[0].m);
}

Test(tcp, client_rst_before_splice_closes_and_a_resent_request_cannot_reopen_it)
{
	uint32_t cookie = handshake(600);
	feed(0, from_client(601, cookie + 1, RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG, NULL));
	/* A resend of the first segment still in flight carries a valid cookie: it must meet
	 * the closed connection, not open a new one that would replay the request. */
	feed(0, from_client(601, cookie + 1, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG,
			    "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n"));
	cr_assert_eq(nout, 0, "dropped");
	cr_assert_eq(stats_sum(STATS_tcp_cookie_ok), 1, "no second connection");
	/* It lingers (at least as long as a cookie stays fresh), then is freed. */
	struct tcpl_out o[64];
	for (int i = 0; i < 40; i++) {
		now += rte_get_tsc_hz() / 10;
		uint16_t k = tcpl_tick(tcp, now, o, 64);
		for (uint16_t j = 0; j < k; j++)
			rte_pktmbuf_free(o[j].m);
	}
	cr_assert_eq(tcpl_flow_count(tcp), 0);
}

/* ---- options: window scale pairs, timestamps, SACK ---------------------------------------- */

/* A segment with arbitrary options (already encoded, a multiple of 4 bytes). */
static struct rte_mbuf *seg_opts(int pod_side, uint32_t seq, uint32_t ack, uint8_t flags,
				 uint16_t win, const uint8_t *opts, uint16_t optlen, uint16_t sp,
				 const char *payload)
{
	struct rte_mbuf *m =
		pod_side ? seg(&pod, &gw_p, POD, SNAT, 8080, sp, seq, ack, flags, payload, 0)
			 : seg(&cli, &gw_c, CLIENT, VIP, 40000, 80, seq, ack, flags, payload, 0);
	/* Rebuild with options: shift the payload and fix lengths and checksums. */
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
	uint16_t plen = payload ? (uint16_t)strlen(payload) : 0;
	rte_pktmbuf_append(m, optlen);
	memmove(d + 54 + optlen, d + 54, plen);
	memcpy(d + 54, opts, optlen);
	struct rte_ipv4_hdr *ip = (void *)(d + 14);
	struct rte_tcp_hdr *th = (void *)(d + 34);
	ip->total_length = htons((uint16_t)(40 + optlen + plen));
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	th->data_off = (uint8_t)(((20 + optlen) / 4) << 4);
	th->rx_win = htons(win);
	th->cksum = 0;
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	return m;
}

/* SYN options: MSS 1460, SACK-permitted, TS (tsval, 0), window scale ws (or none if < 0). */
static uint16_t syn_opts(uint8_t *o, int ws, uint32_t tsval, bool sack)
{
	uint16_t n = 0;
	o[n++] = 2, o[n++] = 4, o[n++] = 0x05, o[n++] = 0xb4;
	if (sack)
		o[n++] = 4, o[n++] = 2;
	else
		o[n++] = 1, o[n++] = 1;
	o[n++] = 8, o[n++] = 10;
	uint32_t v = htonl(tsval), z = 0;
	memcpy(o + n, &v, 4), memcpy(o + n + 4, &z, 4);
	n += 8;
	o[n++] = 1, o[n++] = 3, o[n++] = 3, o[n++] = (uint8_t)(ws < 0 ? 0 : ws);
	if (ws < 0)
		o[n - 3] = 1, o[n - 2] = 1, o[n - 1] = 1; /* NOPs instead of the WS option */
	return n;
}

static uint16_t ts_opts(uint8_t *o, uint32_t tsval, uint32_t tsecr)
{
	o[0] = 1, o[1] = 1, o[2] = 8, o[3] = 10;
	uint32_t v = htonl(tsval), e = htonl(tsecr);
	memcpy(o + 4, &v, 4), memcpy(o + 8, &e, 4);
	return 12;
}

struct optflow {
	uint32_t cookie, ours_tsval, pod_tsval;
	uint32_t syn_tsval; /* the gateway's clock in the SYN to the pod */
	uint16_t sp;
	int client_ws, pod_ws;
};

/* Handshake with options on both sides, request, pod accepts with its own options. */
static struct optflow opt_splice(int client_ws, int pod_ws, bool sack)
{
	struct optflow of = {.client_ws = client_ws, .pod_ws = pod_ws};
	uint8_t o[40];
	uint16_t n = syn_opts(o, client_ws, 111, sack);
	feed(0, seg_opts(0, 1000, 0, RTE_TCP_SYN_FLAG, 65535, o, n, 0, NULL));
	struct net_pkt p;
	const struct rte_tcp_hdr *th = out_tcp(0, &p);
	of.cookie = ntohl(th->sent_seq);
	cr_assert(p.tcp_has_ts, "SYN-ACK carries timestamps");
	cr_assert_eq(p.tcp_tsecr, 111);
	cr_assert_eq(p.tcp_sack_ok, sack);
	cr_assert_eq(p.tcp_wscale, client_ws < 0 ? NET_WSCALE_NONE : 7, "we offer 7 iff asked");
	of.ours_tsval = p.tcp_tsval;
	n = ts_opts(o, 112, of.ours_tsval);
	feed(0, seg_opts(0, 1001, of.cookie + 1, RTE_TCP_ACK_FLAG, 100, o, n, 0, NULL));
	cr_assert_eq(tcpl_flow_count(tcp), 1);
	feed(0, seg_opts(0, 1001, of.cookie + 1, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, 100, o, n, 0,
			 "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n"));
	cr_assert_eq(nout, 2);
	const struct rte_tcp_hdr *syn = out_tcp(1, &p);
	of.sp = ntohs(syn->src_port);
	cr_assert(p.tcp_has_ts, "the pod is offered timestamps");
	of.syn_tsval = p.tcp_tsval; /* the gateway's own clock for the SNAT address */
	cr_assert_eq(p.tcp_wscale, client_ws < 0 ? NET_WSCALE_NONE : client_ws,
		     "and the client's own window scale");
	cr_assert_eq(p.tcp_sack_ok, sack);
	of.pod_tsval = 5000000;
	n = syn_opts(o, pod_ws, of.pod_tsval, sack);
	memcpy(o + 12, &(uint32_t){htonl(of.syn_tsval)}, 4); /* the pod echoes it */
	feed(1, seg_opts(1, 777777, 1001, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 65535, o, n, of.sp,
			 NULL));
	cr_assert_eq(nout, 2);
	for (uint16_t k = 0; k < 2; k++) {
		out_tcp(k, &p);
		cr_assert_eq(p.tcp_tsval, of.syn_tsval,
			     "the gateway's own segments to the pod keep the clock of its SYN");
		cr_assert_eq(p.tcp_tsecr, of.pod_tsval);
	}
	return of;
}

Test(tcp, every_pair_of_window_scales_is_translated)
{
	const int scales[] = {-1, 0, 7, 14};
	for (int a = 0; a < 4; a++) {
		for (int b = 0; b < 4; b++) {
			teardown();
			setup();
			struct optflow of = opt_splice(scales[a], scales[b], false);
			int cs = scales[a] < 0 ? 0 : scales[a]; /* client's shift */
			int gs = scales[a] < 0 ? 0 : 7;		/* what we told the client */
			bool pod_scales =
				scales[a] >= 0 && scales[b] >= 0; /* negotiated pod side */
			int ps = pod_scales ? scales[b] : 0;
			int pod_sees = pod_scales ? cs : 0;
			uint8_t o[12];
			/* pod → client: raw window 1000 means 1000 << ps bytes. */
			uint16_t n = ts_opts(o, of.pod_tsval + 1, of.syn_tsval);
			feed(1,
			     seg_opts(1, 777778, 1039, RTE_TCP_ACK_FLAG, 1000, o, n, of.sp, NULL));
			struct net_pkt p;
			const struct rte_tcp_hdr *th = out_tcp(0, &p);
			uint32_t want = ((uint32_t)1000 << ps) >> gs;
			cr_assert_eq(ntohs(th->rx_win), want > 65535 ? 65535 : want,
				     "client ws %d, pod ws %d: pod→client window", scales[a],
				     scales[b]);
			/* client → pod: raw 300 means 300 << cs bytes. */
			n = ts_opts(o, 113, p.tcp_tsval);
			feed(0, seg_opts(0, 1039, of.cookie + 1, RTE_TCP_ACK_FLAG, 300, o, n, 0,
					 NULL));
			th = out_tcp(0, &p);
			want = ((uint32_t)300 << cs) >> pod_sees;
			cr_assert_eq(ntohs(th->rx_win), want > 65535 ? 65535 : want,
				     "client ws %d, pod ws %d: client→pod window", scales[a],
				     scales[b]);
		}
	}
}

Test(tcp, timestamps_continue_the_gateways_clock_and_echo_back_translated)
{
	struct optflow of = opt_splice(7, 7, true);
	uint8_t o[12];
	uint16_t n = ts_opts(o, of.pod_tsval + 40, of.syn_tsval + 3);
	feed(1, seg_opts(1, 777778, 1039, RTE_TCP_ACK_FLAG, 1000, o, n, of.sp, "data"));
	struct net_pkt p;
	out_tcp(0, &p);
	uint32_t seen = p.tcp_tsval;
	cr_assert(seen - of.ours_tsval < 100, "client sees TSvals continuing ours (%u after %u)",
		  seen, of.ours_tsval);
	cr_assert_eq(p.tcp_tsecr, 112 + 3, "the pod's echo of our clock is the client's own TSval");
	n = ts_opts(o, 120, seen);
	feed(0, seg_opts(0, 1039, of.cookie + 5, RTE_TCP_ACK_FLAG, 300, o, n, 0, NULL));
	out_tcp(0, &p);
	cr_assert_eq(p.tcp_tsecr, of.pod_tsval + 40, "the pod gets its own TSval back");
	cr_assert_eq(p.tcp_tsval, of.syn_tsval + 8, "and the client's clock moved to ours");
}

/* A pod that holds an old connection's 4-tuple in TIME-WAIT refuses a SYN whose timestamp went
 * backwards (PAWS). Client TSvals are random per client, so the pod sees the gateway's clock,
 * which only moves forward across connections. */
Test(tcp, syns_to_pods_carry_the_gateways_clock_monotonic_across_clients)
{
	uint32_t prev = 0;
	for (int k = 0; k < 3; k++) {
		teardown();
		setup();
		now += rte_get_tsc_hz() / 100 * (uint64_t)k;
		struct optflow of = opt_splice(7, 7, false);
		if (k)
			cr_assert(of.syn_tsval - prev < 0x80000000u && of.syn_tsval != prev,
				  "TSval %u after %u", of.syn_tsval, prev);
		prev = of.syn_tsval;
	}
}

Test(tcp, sack_blocks_from_the_client_are_translated_into_pod_space)
{
	struct optflow of = opt_splice(7, 7, true);
	uint32_t D = of.cookie - 777777;
	uint8_t o[24] = {1, 1, 5, 18};
	uint32_t edges[4] = {htonl(of.cookie + 1001), htonl(of.cookie + 2001),
			     htonl(of.cookie + 3001), htonl(of.cookie + 4001)};
	memcpy(o + 4, edges, 16);
	o[20] = 1, o[21] = 1, o[22] = 1, o[23] = 1;
	feed(0, seg_opts(0, 1039, of.cookie + 1, RTE_TCP_ACK_FLAG, 300, o, 24, 0, NULL));
	struct net_pkt p;
	const struct rte_tcp_hdr *th = out_tcp(0, &p);
	cr_assert_eq(p.tcp_sack_blocks, 2);
	const uint8_t *b = (const uint8_t *)th + p.tcp_sack_off;
	for (int k = 0; k < 4; k++) {
		uint32_t v;
		memcpy(&v, b + 4 * k, 4);
		cr_assert_eq(ntohl(v), of.cookie + 1001 + 1000u * k - D, "edge %d", k);
	}
	cr_assert_eq(ntohl(th->recv_ack), 777778);
}

/* ---- Toeplitz steering -------------------------------------------------------------------- */

#include <rte_thash.h>

Test(tcp, thash_steering_picks_snat_ports_whose_replies_hash_to_this_workers_queue)
{
	/* Rebuild the engine with a pod port that does RSS over 2 queues; we are queue 1. */
	tcpl_free(tcp);
	static uint8_t key[40];
	for (int i = 0; i < 40; i += 2)
		key[i] = 0x6d, key[i + 1] = 0x5a;
	static uint16_t reta[128];
	for (int i = 0; i < 128; i++)
		reta[i] = (uint16_t)(i % 2);
	struct tcpl_config cfg = test_config();
	struct tcpl_port ports[2] = {
		{.local = &client_side, .offloads = 0, .mss = 1460},
		{.local = &pod_side,
		 .conf = &pod_conf,
		 .offloads = 0,
		 .mss = 1460,
		 .rss_key = key,
		 .reta = reta,
		 .reta_size = 128,
		 .queue = 1},
	};
	char err[128];
	tcp = tcpl_create("tcpthash", &cfg, ports, 2, pool, neigh, stats_self(), SOCKET_ID_ANY, err,
			  sizeof(err));
	cr_assert_not_null(tcp, "%s", err);
	tcpl_set_routes(tcp, routes);
	tcpl_set_keys(tcp, &keys);
	tcpl_set_seconds(tcp, 1000);

	for (uint16_t k = 0; k < 20; k++) {
		uint16_t cport = (uint16_t)(41000 + k);
		feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, 100, 0, RTE_TCP_SYN_FLAG, NULL,
			    1460));
		struct net_pkt p;
		uint32_t cookie = ntohl(out_tcp(0, &p)->sent_seq);
		feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, 101, cookie + 1, RTE_TCP_ACK_FLAG,
			    "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n", 0));
		cr_assert_eq(nout, 2, "connection %u: ACK and SYN to the pod", k);
		out_tcp(1, &p);
		uint16_t snat_port = ntohs(p.src_port);
		cr_assert(snat_port >= 20000 && snat_port < 21000, "within the partition");
		struct rte_ipv4_tuple t = {.src_addr = ntohl(inet_addr(POD)),
					   .dst_addr = ntohl(inet_addr(SNAT))};
		t.sport = 8080;
		t.dport = snat_port;
		uint32_t h = rte_softrss((uint32_t *)&t, RTE_THASH_V4_L4_LEN, key);
		cr_assert_eq(reta[h % 128], 1, "connection %u: reply to port %u lands on queue %u",
			     k, snat_port, reta[h % 128]);
	}
}

Test(tcp, a_new_syn_on_a_lingering_flows_tuple_starts_a_new_connection)
{
	uint16_t sp;
	uint32_t cookie = spliced(100, 200, &sp);
	/* Both FINs: the flow lingers. */
	feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, sp, 201, 139, RTE_TCP_ACK_FLAG | RTE_TCP_FIN_FLAG,
		    NULL, 0));
	feed(0, from_client(139, cookie + 2, RTE_TCP_ACK_FLAG | RTE_TCP_FIN_FLAG, NULL));
	cr_assert_eq(tcpl_flow_count(tcp), 1);
	/* The client reuses its port at once: a SYN with a new ISN gets a fresh SYN-ACK. */
	feed(0, from_client(777000, 0, RTE_TCP_SYN_FLAG, NULL));
	cr_assert_eq(nout, 1);
	struct net_pkt p;
	const struct rte_tcp_hdr *th = out_tcp(0, &p);
	cr_assert_eq(th->tcp_flags, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG);
	cr_assert_eq(ntohl(th->recv_ack), 777001);
	cr_assert_eq(out[0].port, 0, "answered by the gateway, not spliced to the old pod");
	cr_assert_eq(tcpl_flow_count(tcp), 0);
}

Test(tcp, a_repeat_of_the_opening_syn_is_ignored)
{
	uint32_t cookie = handshake(4000);
	(void)cookie;
	feed(0, from_client(4000, 0, RTE_TCP_SYN_FLAG, NULL));
	cr_assert_eq(nout, 0);
	cr_assert_eq(tcpl_flow_count(tcp), 1);
}

Test(tcp, rst_from_the_client_during_the_splice_is_forwarded_and_closes)
{
	uint16_t sp;
	uint32_t cookie = spliced(100, 200, &sp);
	feed(0, from_client(139, cookie + 1, RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG, NULL));
	cr_assert_eq(nout, 1);
	cr_assert_eq(out[0].port, 1);
	struct net_pkt p;
	const struct rte_tcp_hdr *th = out_tcp(0, &p);
	cr_assert(th->tcp_flags & RTE_TCP_RST_FLAG);
	cr_assert_eq(ntohl(th->recv_ack), 201, "acknowledgement translated into pod space");
	cr_assert_eq(p.dst_ip, inet_addr(POD));
}

Test(tcp, rst_from_the_pod_during_the_splice_is_forwarded_and_closes)
{
	uint16_t sp;
	uint32_t cookie = spliced(100, 200, &sp);
	feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, sp, 201, 139, RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG,
		    NULL, 0));
	cr_assert_eq(nout, 1);
	cr_assert_eq(out[0].port, 0);
	struct net_pkt p;
	const struct rte_tcp_hdr *th = out_tcp(0, &p);
	cr_assert(th->tcp_flags & RTE_TCP_RST_FLAG);
	cr_assert_eq(ntohl(th->sent_seq), cookie + 1, "sequence translated into client space");
	/* The flow lingers, then ages out. */
	now += rte_get_tsc_hz() * 3;
	struct tcpl_out o[64];
	for (int i = 0; i < 8; i++) {
		now += rte_get_tsc_hz() / 10;
		uint16_t k = tcpl_tick(tcp, now, o, 64);
		for (uint16_t j = 0; j < k; j++)
			rte_pktmbuf_free(o[j].m);
	}
	cr_assert_eq(tcpl_flow_count(tcp), 0);
}

/* ---- load balancing through the engine ---------------------------------------------------- */

/* A table with one host per algorithm over the pods 198.19.0.11 ... 198.19.0.(10 + n_pods):
 * rr.example (round robin, first pod only), lr.example (least-request, first two), hh.example
 * (Maglev on X-User, all), cn.example (25 % canary: first pod primary, second canary). */
static struct route_table *lb_table(void)
{
	static const char *objs[] = {
		"{'apiVersion':'v1','kind':'Service','metadata':{'name':'one','namespace':'t'},"
		"'spec':{'ports':[{'name':'http','port':80}]}}",
		"{'apiVersion':'discovery.k8s.io/"
		"v1','kind':'EndpointSlice','metadata':{'name':'one-1',"
		"'namespace':'t','labels':{'kubernetes.io/"
		"service-name':'one'}},'addressType':'IPv4',"
		"'ports':[{'name':'http','port':8080}],'endpoints':[{'addresses':['198.19.0.11']}]"
		"}",
		"{'apiVersion':'v1','kind':'Service','metadata':{'name':'two','namespace':'t'},"
		"'spec':{'ports':[{'name':'http','port':80}]}}",
		"{'apiVersion':'discovery.k8s.io/"
		"v1','kind':'EndpointSlice','metadata':{'name':'two-1',"
		"'namespace':'t','labels':{'kubernetes.io/"
		"service-name':'two'}},'addressType':'IPv4',"
		"'ports':[{'name':'http','port':8080}],'endpoints':[{'addresses':['198.19.0.11']},"
		"{'addresses':['198.19.0.12']}]}",
		"{'apiVersion':'v1','kind':'Service','metadata':{'name':'can','namespace':'t'},"
		"'spec':{'ports':[{'name':'http','port':80}]}}",
		"{'apiVersion':'discovery.k8s.io/"
		"v1','kind':'EndpointSlice','metadata':{'name':'can-1',"
		"'namespace':'t','labels':{'kubernetes.io/"
		"service-name':'can'}},'addressType':'IPv4',"
		"'ports':[{'name':'http','port':8080}],'endpoints':[{'addresses':['198.19.0.12']}]"
		"}",
		"{'apiVersion':'v1','kind':'Service','metadata':{'name':'all','namespace':'t'},"
		"'spec':{'ports':[{'name':'http','port':80}]}}",
		"{'apiVersion':'discovery.k8s.io/"
		"v1','kind':'EndpointSlice','metadata':{'name':'all-1',"
		"'namespace':'t','labels':{'kubernetes.io/"
		"service-name':'all'}},'addressType':'IPv4',"
		"'ports':[{'name':'http','port':8080}],'endpoints':[{'addresses':['198.19.0.11']},"
		"{'addresses':['198.19.0.12']},{'addresses':['198.19.0.13']},"
		"{'addresses':['198.19.0.14']}]}",
	};
	struct control_model *m = control_model_new();
	char buf[1024];
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++)
		model_add(m, objs[i]);
	static const struct {
		const char *name, *host, *svc, *ann, *path;
	} ings[] = {
		{"rr", "rr.example", "one", "", "/"},
		{"lr", "lr.example", "two", "\"sluice.dev/load-balance\":\"least-request\"", "/"},
		{"hh", "hh.example", "all",
		 "\"sluice.dev/load-balance\":\"maglev\",\"sluice.dev/hash-header\":\"X-User\"",
		 "/"},
		{"cn", "cn.example", "one", "", "/"},
		{"cn-canary", "cn.example", "can", "\"sluice.dev/canary-weight\":\"25\"", "/"},
		{"kp", "kp.example", "one", "", "/"},
		{"kp-api", "kp.example", "can", "", "/api"},
		{"pp", "pp.example", "one", "\"sluice.dev/proxy-protocol\":\"v2\"", "/"},
	};
	for (size_t i = 0; i < sizeof(ings) / sizeof(ings[0]); i++) {
		snprintf(
			buf, sizeof(buf),
			"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"Ingress\","
			"\"metadata\":{\"name\":\"%s\",\"namespace\":\"t\",\"annotations\":{%s}},"
			"\"spec\":{\"ingressClassName\":\"sluice\",\"rules\":[{\"host\":\"%s\","
			"\"http\":{\"paths\":[{\"path\":\"%s\",\"pathType\":\"Prefix\",\"backend\":"
			"{\"service\":{\"name\":\"%s\",\"port\":{\"number\":80}}}}]}}]}}",
			ings[i].name, ings[i].ann, ings[i].host, ings[i].path, ings[i].svc);
		model_add(m, buf);
	}
	struct route_table *t = model_compile(m);
	static const struct rte_ether_addr pm = {{2, 0, 0, 0, 0, 9}};
	for (int i = 11; i <= 14; i++) {
		char a[32];
		snprintf(a, sizeof(a), "198.19.0.%d", i);
		net_neigh_learn(neigh, inet_addr(a), &pm, now, true);
	}
	return t;
}

/* Open a connection from client port cport with one request; returns the last octet of the pod
 * the SYN went to. With keep, the flow stays (connecting); otherwise the client resets it. */
static int request_pod(uint16_t cport, const char *req, bool keep)
{
	uint32_t isn = 1000u * cport;
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn, 0, RTE_TCP_SYN_FLAG, NULL, 1460));
	cr_assert_eq(nout, 1);
	struct net_pkt p;
	uint32_t cookie = ntohl(out_tcp(0, &p)->sent_seq);
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn + 1, cookie + 1, RTE_TCP_ACK_FLAG,
		    NULL, 0));
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn + 1, cookie + 1,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, req, 0));
	int pod_octet = -1;
	for (uint16_t k = 0; k < nout; k++) {
		if (out[k].port != 1)
			continue;
		const struct rte_tcp_hdr *th = out_tcp(k, &p);
		if (th->tcp_flags == RTE_TCP_SYN_FLAG)
			pod_octet = (int)(ntohl(p.dst_ip) & 0xff);
	}
	cr_assert_geq(pod_octet, 0, "no SYN to a pod for %s", req);
	if (!keep)
		feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn + 1 + (uint32_t)strlen(req),
			    cookie + 1, RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG, NULL, 0));
	return pod_octet;
}

static void close_conn(uint16_t cport, const char *req)
{
	uint32_t isn = 1000u * cport;
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn + 1 + (uint32_t)strlen(req), 0,
		    RTE_TCP_RST_FLAG, NULL, 0));
}

Test(tcp, least_request_sends_new_connections_to_the_less_busy_pod)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	const char *rr = "GET / HTTP/1.1\r\nHost: rr.example\r\n\r\n";
	const char *lr = "GET / HTTP/1.1\r\nHost: lr.example\r\n\r\n";
	/* Four connections held on .11 through another Ingress's pool. */
	for (uint16_t i = 0; i < 4; i++)
		cr_assert_eq(request_pod((uint16_t)(41000 + i), rr, true), 11);
	/* Least-request over {.11, .12}: .12 until the loads meet (round robin would split). */
	for (uint16_t i = 0; i < 4; i++)
		cr_assert_eq(request_pod((uint16_t)(42000 + i), lr, true), 12,
			     "connection %u went to the busier pod", i);
	/* The held connections close: their load is released, .11 is now the idle one. */
	for (uint16_t i = 0; i < 4; i++)
		close_conn((uint16_t)(41000 + i), rr);
	for (uint16_t i = 0; i < 3; i++)
		cr_assert_eq(request_pod((uint16_t)(43000 + i), lr, true), 11);
	tcpl_set_routes(tcp, routes);
	for (uint16_t i = 0; i < 4; i++)
		close_conn((uint16_t)(42000 + i), lr);
	for (uint16_t i = 0; i < 3; i++)
		close_conn((uint16_t)(43000 + i), lr);
	route_table_free(t);
}

Test(tcp, maglev_on_a_header_keeps_a_user_on_one_pod_across_connections)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	char req[128];
	bool seen[256] = {false};
	int distinct = 0;
	for (int u = 0; u < 16; u++) {
		snprintf(req, sizeof(req),
			 "GET / HTTP/1.1\r\nHost: hh.example\r\nX-User: u%d\r\n\r\n", u);
		int first = request_pod((uint16_t)(44000 + u * 8), req, false);
		for (int k = 1; k < 4; k++)
			cr_assert_eq(request_pod((uint16_t)(44000 + u * 8 + k), req, false), first,
				     "user u%d moved between pods", u);
		if (!seen[first]) {
			seen[first] = true;
			distinct++;
		}
	}
	cr_assert_geq(distinct, 3, "16 users should spread over the 4 pods, saw %d", distinct);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, canary_weight_sends_its_share_to_the_canary_service)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	const char *req = "GET / HTTP/1.1\r\nHost: cn.example\r\n\r\n";
	int canary = 0;
	const int N = 400;
	for (int i = 0; i < N; i++)
		canary += request_pod((uint16_t)(45000 + i), req, false) == 12;
	/* 25 % expected; a binomial at N = 400 has σ ≈ 8.7: allow ±4σ. */
	cr_assert(canary > 65 && canary < 135, "canary got %d of %d (expected about 100)", canary,
		  N);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

/* ---- per-request routing on kept-alive connections ---------------------------------------- */

/* The output on port pi with the given flags (ignoring PSH), or -1. */
static int find_out(uint16_t pi, uint8_t flags, struct net_pkt *p)
{
	for (uint16_t k = 0; k < nout; k++) {
		if (out[k].port != pi)
			continue;
		const struct rte_tcp_hdr *th = out_tcp(k, p);
		if ((th->tcp_flags & (uint8_t)~RTE_TCP_PSH_FLAG) == flags)
			return k;
	}
	return -1;
}

struct kp {
	uint16_t cport, snat_port;
	uint32_t isn, cookie, pod_isn, next; /* next: client seq of the next request */
	uint32_t to_client; /* client-facing seq of the next byte the client gets */
	const char *pod_ip;
	const struct rte_ether_addr *pod_mac;
};

/* A kept-alive connection on kp.example with its first request answered by the pod. */
static void kp_first(struct kp *k, const char *r1, const char *resp)
{
	static const struct rte_ether_addr pm = {{2, 0, 0, 0, 0, 9}};
	k->isn = 1000u * k->cport;
	struct net_pkt p;
	feed(0,
	     seg(&cli, &gw_c, CLIENT, VIP, k->cport, 80, k->isn, 0, RTE_TCP_SYN_FLAG, NULL, 1460));
	k->cookie = ntohl(out_tcp(0, &p)->sent_seq);
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k->cport, 80, k->isn + 1, k->cookie + 1,
		    RTE_TCP_ACK_FLAG, NULL, 0));
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k->cport, 80, k->isn + 1, k->cookie + 1,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, r1, 0));
	int syn = find_out(1, RTE_TCP_SYN_FLAG, &p);
	cr_assert_geq(syn, 0, "SYN to the first pod");
	cr_assert_eq(ntohl(p.dst_ip), ntohl(inet_addr(k->pod_ip)));
	k->snat_port = ntohs(p.src_port);
	k->pod_mac = &pm;
	feed(1, seg(&pm, &gw_p, k->pod_ip, SNAT, 8080, k->snat_port, k->pod_isn, k->isn + 1,
		    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, NULL, 1460));
	cr_assert_eq(nout, 2, "ACK and the request to the pod");
	k->next = k->isn + 1 + (uint32_t)strlen(r1);
	feed(1, seg(&pm, &gw_p, k->pod_ip, SNAT, 8080, k->snat_port, k->pod_isn + 1, k->next,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, resp, 0));
	cr_assert_eq(nout, 1);
	cr_assert_eq(out[0].port, 0);
	const struct rte_tcp_hdr *th = out_tcp(0, &p);
	cr_assert_eq(ntohl(th->sent_seq), k->cookie + 1);
	k->to_client = k->cookie + 1 + (uint32_t)strlen(resp);
}

Test(tcp, keepalive_request_for_the_same_service_stays_on_the_pod)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 46001, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	/* The first request has a body in a later segment: it is spliced, and the boundary after
	 * it is where the next request is looked for. */
	const char *r1 = "POST / HTTP/1.1\r\nHost: kp.example\r\nContent-Length: 5\r\n\r\n";
	kp_first(&k, r1, "HTTP/1.1 100 Continue\r\n\r\n");
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next, k.to_client,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, "hello", 0));
	cr_assert_eq(nout, 1);
	cr_assert_eq(out[0].port, 1, "the body goes to the pod");
	const char *r2 = "GET /other HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next + 5, k.to_client,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, r2, 0));
	cr_assert_eq(nout, 1, "spliced as it came");
	cr_assert_eq(out[0].port, 1);
	struct net_pkt p;
	const struct rte_tcp_hdr *th = out_tcp(0, &p);
	cr_assert_eq(ntohl(th->sent_seq), k.next + 5);
	cr_assert_eq(p.payload_len, strlen(r2));
	cr_assert_eq(stats_sum(STATS_http_keepalive_requests), 1);
	cr_assert_eq(stats_sum(STATS_http_rebinds), 0);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, keepalive_request_for_another_service_moves_the_connection_to_its_pod)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 46002, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	const char *r1 = "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	const char *resp1 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	kp_first(&k, r1, resp1);
	uint32_t pod_end = k.pod_isn + 1 + (uint32_t)strlen(resp1);
	struct net_pkt p;

	/* The next request routes to /api (another Service): held, acknowledged by us, and the
	 * first pod is asked to close after the bytes it has. */
	const char *r2 = "GET /api/items HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next, k.to_client,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, r2, 0));
	int ack = find_out(0, RTE_TCP_ACK_FLAG, &p);
	cr_assert_geq(ack, 0, "the held request is acknowledged to the client");
	const struct rte_tcp_hdr *th = out_tcp((uint16_t)ack, &p);
	cr_assert_eq(ntohl(th->recv_ack), k.next + strlen(r2));
	cr_assert_eq(ntohl(th->sent_seq), k.to_client);
	int fin = find_out(1, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p);
	cr_assert_geq(fin, 0, "FIN to the first pod");
	th = out_tcp((uint16_t)fin, &p);
	cr_assert_eq(ntohl(th->sent_seq), k.next, "the FIN follows the bytes the pod has");
	cr_assert_eq(ntohl(th->recv_ack), pod_end);

	/* The first pod closes: its FIN is acknowledged here, not passed on, and the connection
	 * goes to the /api pod with the held request's sequence numbers. */
	feed(1, seg(k.pod_mac, &gw_p, k.pod_ip, SNAT, 8080, k.snat_port, pod_end, k.next + 1,
		    RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, NULL, 0));
	cr_assert_lt(find_out(0, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p), 0,
		     "the client never sees the first pod's FIN");
	int fack = find_out(1, RTE_TCP_ACK_FLAG, &p);
	cr_assert_geq(fack, 0);
	th = out_tcp((uint16_t)fack, &p);
	cr_assert_eq(ntohl(th->recv_ack), pod_end + 1, "the first pod's FIN acknowledged");
	int syn = find_out(1, RTE_TCP_SYN_FLAG, &p);
	cr_assert_geq(syn, 0, "SYN to the /api pod");
	th = out_tcp((uint16_t)syn, &p);
	cr_assert_eq(ntohl(p.dst_ip), ntohl(inet_addr("198.19.0.12")));
	cr_assert_eq(ntohl(th->sent_seq), k.next - 1, "the new stream starts at the held request");
	uint16_t snat2 = ntohs(p.src_port);

	feed(1, seg(k.pod_mac, &gw_p, "198.19.0.12", SNAT, 8080, snat2, 90000, k.next,
		    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, NULL, 1460));
	cr_assert_eq(nout, 2, "ACK and the held request to the new pod");
	th = out_tcp(1, &p);
	cr_assert_eq(ntohl(th->sent_seq), k.next);
	cr_assert_eq(p.payload_len, strlen(r2));
	cr_assert(memcmp(rte_pktmbuf_mtod_offset(out[1].m, const char *,
						 p.l2_len + p.l3_len + p.l4_len),
			 r2, strlen(r2)) == 0);

	/* Its answer continues the client's byte stream where the first pod's ended. */
	const char *resp2 = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\napi";
	feed(1, seg(k.pod_mac, &gw_p, "198.19.0.12", SNAT, 8080, snat2, 90001,
		    k.next + (uint32_t)strlen(r2), RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, resp2, 0));
	cr_assert_eq(nout, 1);
	cr_assert_eq(out[0].port, 0);
	th = out_tcp(0, &p);
	cr_assert_eq(ntohl(th->sent_seq), k.to_client);
	cr_assert_eq(ntohl(th->recv_ack), k.next + strlen(r2));
	cr_assert_eq(ntohl(p.src_ip), ntohl(inet_addr(VIP)));
	cr_assert_eq(stats_sum(STATS_http_rebinds), 1);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, keepalive_head_split_over_segments_is_held_until_complete)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 46003, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	const char *r1 = "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	const char *resp1 = "HTTP/1.1 204 No Content\r\n\r\n";
	kp_first(&k, r1, resp1);
	uint32_t pod_end = k.pod_isn + 1 + (uint32_t)strlen(resp1);
	struct net_pkt p;
	const char *a = "GET /api HTTP/1.1\r\nHo", *b = "st: kp.example\r\n\r\n";
	/* Half a head cannot be routed: held and acknowledged (the pod has everything before
	 * it); the pod connection stays as it is, since the request may yet be its own. */
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next, k.to_client,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, a, 0));
	cr_assert_lt(find_out(1, RTE_TCP_ACK_FLAG, &p), 0, "no byte of it reaches the pod");
	int ack = find_out(0, RTE_TCP_ACK_FLAG, &p);
	cr_assert_geq(ack, 0);
	cr_assert_eq(ntohl(out_tcp((uint16_t)ack, &p)->recv_ack), k.next + strlen(a));
	cr_assert_eq(stats_sum(STATS_http_held), 1);
	/* Complete: it routes to /api, another Service, so the first pod is closed after the
	 * bytes it has. */
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next + (uint32_t)strlen(a),
		    k.to_client, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, b, 0));
	int fin = find_out(1, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p);
	cr_assert_geq(fin, 0, "the first pod is asked to close");
	cr_assert_eq(ntohl(out_tcp((uint16_t)fin, &p)->sent_seq), k.next);
	feed(1, seg(k.pod_mac, &gw_p, k.pod_ip, SNAT, 8080, k.snat_port, pod_end, k.next + 1,
		    RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, NULL, 0));
	int syn = find_out(1, RTE_TCP_SYN_FLAG, &p);
	cr_assert_geq(syn, 0, "connect to the /api pod");
	cr_assert_eq(ntohl(p.dst_ip), ntohl(inet_addr("198.19.0.12")));
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, keepalive_head_split_for_the_same_service_is_delivered_to_the_same_pod)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 46013, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	const char *r1 = "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	kp_first(&k, r1, "HTTP/1.1 204 No Content\r\n\r\n");
	struct net_pkt p;
	const char *a = "GET /other HTTP/1.1\r\nHo", *b = "st: kp.example\r\n\r\n";
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next, k.to_client,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, a, 0));
	cr_assert_lt(find_out(1, RTE_TCP_ACK_FLAG, &p), 0);
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next + (uint32_t)strlen(a),
		    k.to_client, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, b, 0));
	/* Complete and for the same Service: the gateway sends the whole head to the pod
	 * itself, continuing the client's sequence numbers; nothing closes. */
	int d = find_out(1, RTE_TCP_ACK_FLAG, &p);
	cr_assert_geq(d, 0, "the held head goes to the pod");
	const struct rte_tcp_hdr *th = out_tcp((uint16_t)d, &p);
	cr_assert_eq(ntohl(th->sent_seq), k.next);
	cr_assert_eq(p.payload_len, strlen(a) + strlen(b));
	const char *body =
		rte_pktmbuf_mtod_offset(out[d].m, const char *, p.l2_len + p.l3_len + p.l4_len);
	cr_assert(strncmp(body, "GET /other HTTP/1.1\r\nHost: kp.example", 36) == 0);
	cr_assert_lt(find_out(1, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p), 0);
	cr_assert_eq(stats_sum(STATS_http_rebinds), 0);
	/* The pod acknowledges it: the buffer is gone and the next request is spliced. */
	uint32_t after = k.next + (uint32_t)(strlen(a) + strlen(b));
	feed(1, seg(k.pod_mac, &gw_p, k.pod_ip, SNAT, 8080, k.snat_port, k.pod_isn + 100, after,
		    RTE_TCP_ACK_FLAG, NULL, 0));
	const char *r3 = "GET /x HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, after, k.to_client,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, r3, 0));
	cr_assert_eq(nout, 1, "spliced as it came");
	cr_assert_eq(out[0].port, 1);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, keepalive_drain_waits_for_the_client_to_have_the_old_pods_data)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 46004, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	const char *r1 = "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	kp_first(&k, r1, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n");
	uint32_t pod_next = k.pod_isn + 1 + 38;
	struct net_pkt p;
	/* The client sends its next request before the tail of the response reached it. */
	const char *r2 = "GET /api HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next, k.to_client,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, r2, 0));
	/* The old pod sends the tail with its FIN: the data goes on, without the FIN. */
	feed(1, seg(k.pod_mac, &gw_p, k.pod_ip, SNAT, 8080, k.snat_port, pod_next, k.next + 1,
		    RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, "tail", 0));
	int d = find_out(0, RTE_TCP_ACK_FLAG, &p);
	cr_assert_geq(d, 0, "the tail reaches the client");
	cr_assert_eq(p.payload_len, 4);
	cr_assert_eq(ntohl(out_tcp((uint16_t)d, &p)->sent_seq), k.to_client);
	cr_assert_lt(find_out(1, RTE_TCP_SYN_FLAG, &p), 0, "not before the client has it");
	/* The client acknowledges the tail: now the connection moves. */
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next + (uint32_t)strlen(r2),
		    k.to_client + 4, RTE_TCP_ACK_FLAG, NULL, 0));
	int syn = find_out(1, RTE_TCP_SYN_FLAG, &p);
	cr_assert_geq(syn, 0);
	cr_assert_eq(ntohl(p.dst_ip), ntohl(inet_addr("198.19.0.12")));
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, proxy_protocol_v2_header_precedes_the_request_and_the_splice_needs_no_shift)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	static const struct rte_ether_addr pm = {{2, 0, 0, 0, 0, 9}};
	const char *req = "POST / HTTP/1.1\r\nHost: pp.example\r\nContent-Length: 1\r\n\r\n";
	uint16_t cport = 47001;
	uint32_t isn = 1000u * cport;
	struct net_pkt p;
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn, 0, RTE_TCP_SYN_FLAG, NULL, 1460));
	uint32_t cookie = ntohl(out_tcp(0, &p)->sent_seq);
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn + 1, cookie + 1, RTE_TCP_ACK_FLAG,
		    NULL, 0));
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn + 1, cookie + 1,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, req, 0));
	int syn = find_out(1, RTE_TCP_SYN_FLAG, &p);
	cr_assert_geq(syn, 0);
	const struct rte_tcp_hdr *th = out_tcp((uint16_t)syn, &p);
	cr_assert_eq(ntohl(th->sent_seq), isn - 28, "the pod's stream starts 28 bytes earlier");
	uint16_t sp = ntohs(p.src_port);
	feed(1, seg(&pm, &gw_p, "198.19.0.11", SNAT, 8080, sp, 60000, isn - 27,
		    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, NULL, 1460));
	cr_assert_eq(nout, 2);
	th = out_tcp(1, &p);
	cr_assert_eq(ntohl(th->sent_seq), isn - 27);
	cr_assert_eq(p.payload_len, 28 + strlen(req));
	const uint8_t *d =
		rte_pktmbuf_mtod_offset(out[1].m, const uint8_t *, p.l2_len + p.l3_len + p.l4_len);
	static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
	cr_assert(memcmp(d, sig, 12) == 0, "PROXY v2 signature");
	cr_assert_eq(d[12], 0x21);
	cr_assert_eq(d[13], 0x11);
	cr_assert_eq(d[15], 12);
	uint32_t a;
	memcpy(&a, d + 16, 4);
	cr_assert_eq(a, inet_addr(CLIENT), "source: the client");
	memcpy(&a, d + 20, 4);
	cr_assert_eq(a, inet_addr(VIP), "destination: the VIP");
	cr_assert_eq(d[24] << 8 | d[25], cport);
	cr_assert_eq(d[26] << 8 | d[27], 80);
	cr_assert(memcmp(d + 28, req, strlen(req)) == 0, "then the request");
	/* Client bytes keep their numbers on the pod side: the body is spliced as it came. */
	feed(1, seg(&pm, &gw_p, "198.19.0.11", SNAT, 8080, sp, 60001,
		    isn + 1 + (uint32_t)strlen(req), RTE_TCP_ACK_FLAG, NULL, 0));
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn + 1 + (uint32_t)strlen(req),
		    cookie + 1, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, "x", 0));
	cr_assert_eq(nout, 1);
	th = out_tcp(0, &p);
	cr_assert_eq(ntohl(th->sent_seq), isn + 1 + strlen(req));
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, keepalive_request_with_no_route_gets_404_after_the_drain)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 46005, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	const char *resp1 = "HTTP/1.1 204 No Content\r\n\r\n";
	kp_first(&k, "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n", resp1);
	uint32_t pod_end = k.pod_isn + 1 + (uint32_t)strlen(resp1);
	const char *r2 = "GET / HTTP/1.1\r\nHost: nowhere.example\r\n\r\n";
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next, k.to_client,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, r2, 0));
	struct net_pkt p;
	cr_assert_geq(find_out(1, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p), 0, "drain first");
	feed(1, seg(k.pod_mac, &gw_p, k.pod_ip, SNAT, 8080, k.snat_port, pod_end, k.next + 1,
		    RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, NULL, 0));
	int r = find_out(0, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p);
	cr_assert_geq(r, 0, "the gateway answers the client itself");
	const struct rte_tcp_hdr *th = out_tcp((uint16_t)r, &p);
	cr_assert_eq(ntohl(th->sent_seq), k.to_client, "continuing the client's byte stream");
	cr_assert_eq(ntohl(th->recv_ack), k.next + strlen(r2));
	const char *body =
		rte_pktmbuf_mtod_offset(out[r].m, const char *, p.l2_len + p.l3_len + p.l4_len);
	cr_assert(strncmp(body, "HTTP/1.1 404", 12) == 0);
	cr_assert_eq(stats_answers(404), 1);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, keepalive_drain_resets_a_pod_that_never_closes_and_moves_on)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 46006, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k, "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n",
		 "HTTP/1.1 204 No Content\r\n\r\n");
	const char *r2 = "GET /api HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next, k.to_client,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, r2, 0));
	/* The old pod ignores our FIN (sent again with back-off); after the drain budget it is
	 * reset and the request goes to the /api pod (the client had everything it sent). */
	struct tcpl_out o[64];
	bool rst = false, syn = false;
	for (int step = 0; step < 120 && !syn; step++) {
		now += rte_get_tsc_hz() / 10;
		uint16_t n = tcpl_tick(tcp, now, o, 64);
		for (uint16_t i = 0; i < n; i++) {
			struct net_pkt p;
			enum net_drop_reason why;
			cr_assert_eq(net_parse(o[i].m, &p, &why), NET_CLASS_TCP);
			const struct rte_tcp_hdr *th = rte_pktmbuf_mtod_offset(
				o[i].m, const struct rte_tcp_hdr *, p.l2_len + p.l3_len);
			if ((th->tcp_flags & RTE_TCP_RST_FLAG) &&
			    p.dst_ip == inet_addr("198.19.0.11"))
				rst = true;
			if (th->tcp_flags == RTE_TCP_SYN_FLAG &&
			    p.dst_ip == inet_addr("198.19.0.12")) {
				syn = true;
				cr_assert_eq(ntohl(th->sent_seq), k.next - 1);
			}
			rte_pktmbuf_free(o[i].m);
		}
	}
	cr_assert(rst, "the silent pod is reset");
	cr_assert(syn, "the held request goes to the /api pod");
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

/* ---- the invariant, class by class ---------------------------------------------------------- */

/* Payload bytes of every data segment sent to the pods in the last output. */
static uint32_t pod_payload(void)
{
	uint32_t n = 0;
	for (uint16_t k = 0; k < nout; k++) {
		if (out[k].port != 1)
			continue;
		struct net_pkt p;
		out_tcp(k, &p);
		n += p.payload_len;
	}
	return n;
}

static bool client_got(const char *prefix)
{
	for (uint16_t k = 0; k < nout; k++) {
		if (out[k].port != 0)
			continue;
		struct net_pkt p;
		out_tcp(k, &p);
		const char *b = rte_pktmbuf_mtod_offset(out[k].m, const char *,
							p.l2_len + p.l3_len + p.l4_len);
		if (p.payload_len >= strlen(prefix) && strncmp(b, prefix, strlen(prefix)) == 0)
			return true;
	}
	return false;
}

static void kp_pod_fin(struct kp *k, uint32_t pod_seq, uint32_t ack)
{
	feed(1, seg(k->pod_mac, &gw_p, k->pod_ip, SNAT, 8080, k->snat_port, pod_seq, ack,
		    RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, NULL, 0));
}

static void kp_client(struct kp *k, uint32_t seq, const char *data)
{
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k->cport, 80, seq, k->to_client,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, data, 0));
}

Test(tcp, a_later_request_failing_strict_parsing_gets_400_after_the_responses_before_it)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 47001, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	const char *resp = "HTTP/1.1 204 No Content\r\n\r\n";
	kp_first(&k, "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n", resp);
	const char *bad[] = {
		"GET / HTTP/1.1\r\nHost: kp.example\r\nContent-Length: 1\r\nContent-Length: "
		"1\r\n\r\nx",
		"GET / HTTP/1.1\nHost: kp.example\n\n",
		"GET / HTTP/1.1\r\nHost: kp.example\r\nX : y\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: kp.example\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: kp.example\r\nTransfer-Encoding: chunked\r\n"
		"Content-Length: 3\r\n\r\n",
		"GET /\\..\\admin HTTP/1.1\r\nHost: kp.example\r\n\r\n",
		"GET http://other.example/ HTTP/1.1\r\nHost: kp.example\r\n\r\n",
	};
	/* Each on a connection of its own, all the same way. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (i) {
			k = (struct kp){.cport = (uint16_t)(47001 + i),
					.pod_isn = 70000,
					.pod_ip = "198.19.0.11"};
			kp_first(&k, "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n", resp);
		}
		kp_client(&k, k.next, bad[i]);
		cr_assert_eq(pod_payload(), 0, "case %zu: no byte of it reaches the pod", i);
		struct net_pkt p;
		cr_assert_geq(find_out(1, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p), 0,
			      "case %zu: the pod is closed after the first request", i);
		kp_pod_fin(&k, k.pod_isn + 1 + (uint32_t)strlen(resp), k.next + 1);
		cr_assert(client_got("HTTP/1.1 400"), "case %zu: 400 after the first answer", i);
	}
	cr_assert_eq(stats_answers(400), sizeof(bad) / sizeof(bad[0]));
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, two_requests_for_the_same_service_in_one_segment_pass_as_they_came)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 47101, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k, "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n", "HTTP/1.1 204 X\r\n\r\n");
	const char *two = "GET /a HTTP/1.1\r\nHost: kp.example\r\n\r\n"
			  "POST /b HTTP/1.1\r\nHost: kp.example\r\nContent-Length: 3\r\n\r\nabc";
	kp_client(&k, k.next, two);
	cr_assert_eq(nout, 1);
	cr_assert_eq(pod_payload(), strlen(two), "one segment, spliced whole");
	cr_assert_eq(stats_sum(STATS_http_keepalive_requests), 2);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, a_pipelined_request_for_another_service_is_cut_at_its_boundary)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 47201, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k, "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n", "HTTP/1.1 204 X\r\n\r\n");
	const char *r2 = "GET /x HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	const char *r3 = "GET /api/y HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	char both[256];
	snprintf(both, sizeof(both), "%s%s", r2, r3);
	kp_client(&k, k.next, both);
	cr_assert_eq(pod_payload(), strlen(r2), "only the first reaches this pod");
	struct net_pkt p;
	int fin = find_out(1, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p);
	cr_assert_geq(fin, 0);
	cr_assert_eq(ntohl(out_tcp((uint16_t)fin, &p)->sent_seq), k.next + strlen(r2),
		     "and is closed right after it");
	cr_assert_lt(find_out(0, RTE_TCP_ACK_FLAG, &p), 0,
		     "the held request is not acknowledged before the pod has the one before it");
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, a_chunked_body_is_framed_and_the_next_request_still_moves)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 47301, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k, "POST / HTTP/1.1\r\nHost: kp.example\r\nTransfer-Encoding: chunked\r\n\r\n",
		 "HTTP/1.1 100 Continue\r\n\r\n");
	const char *c1 = "5;x=\"y\"\r\nhel", *c2 = "lo\r\n0\r\nT: 1\r\n\r\n";
	kp_client(&k, k.next, c1);
	cr_assert_eq(pod_payload(), strlen(c1));
	kp_client(&k, k.next + (uint32_t)strlen(c1), c2);
	cr_assert_eq(pod_payload(), strlen(c2), "the body, cut anywhere, passes");
	uint32_t after = k.next + (uint32_t)(strlen(c1) + strlen(c2));
	kp_client(&k, after, "GET /api/z HTTP/1.1\r\nHost: kp.example\r\n\r\n");
	cr_assert_eq(pod_payload(), 0);
	struct net_pkt p;
	int fin = find_out(1, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p);
	cr_assert_geq(fin, 0, "the request after the body routes to /api: the pod is closed");
	cr_assert_eq(ntohl(out_tcp((uint16_t)fin, &p)->sent_seq), after);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, a_broken_chunk_never_passes_and_the_connection_fails_closed)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 47311, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k, "POST / HTTP/1.1\r\nHost: kp.example\r\nTransfer-Encoding: chunked\r\n\r\n",
		 "HTTP/1.1 100 Continue\r\n\r\n");
	const char *body = "3\r\nabc\r\n0x5\r\nGET /api/ HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	kp_client(&k, k.next, body);
	cr_assert_eq(pod_payload(), strlen("3\r\nabc\r\n0"), "valid up to the fault, no further");
	cr_assert_eq(stats_sum(STATS_http_bad_body), 1);
	struct net_pkt p;
	cr_assert_geq(find_out(1, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p), 0);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, a_request_sent_while_the_pod_connection_is_set_up_is_routed_on_its_own)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	uint16_t cport = 47401;
	uint32_t isn = 1000u * cport;
	struct net_pkt p;
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn, 0, RTE_TCP_SYN_FLAG, NULL, 1460));
	uint32_t cookie = ntohl(out_tcp(0, &p)->sent_seq);
	const char *r1 = "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	const char *r2 = "GET /api/x HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn + 1, cookie + 1,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, r1, 0));
	int syn = find_out(1, RTE_TCP_SYN_FLAG, &p);
	cr_assert_geq(syn, 0);
	uint16_t sp = ntohs(p.src_port);
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn + 1 + (uint32_t)strlen(r1), cookie + 1,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, r2, 0));
	cr_assert_eq(pod_payload(), 0);
	static const struct rte_ether_addr pm = {{2, 0, 0, 0, 0, 9}};
	feed(1, seg(&pm, &gw_p, "198.19.0.11", SNAT, 8080, sp, 5000, isn + 1,
		    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, NULL, 1460));
	cr_assert_eq(pod_payload(), strlen(r1), "the pod of / gets the first request only");
	int fin = find_out(1, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p);
	cr_assert_geq(fin, 0, "the second routes to /api: this pod is closed after the first");
	cr_assert_eq(ntohl(out_tcp((uint16_t)fin, &p)->sent_seq), isn + 1 + strlen(r1));
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, no_free_request_buffer_answers_503_and_later_requests_fail_closed)
{
	tcpl_free(tcp);
	struct tcpl_config cfg = test_config();
	cfg.buffers = 1;
	struct tcpl_port ports[2] = {{.local = &client_side, .mss = 1460},
				     {.local = &pod_side, .conf = &pod_conf, .mss = 1460}};
	char err[128];
	tcp = tcpl_create("tcpbuf", &cfg, ports, 2, pool, neigh, stats_self(), SOCKET_ID_ANY, err,
			  sizeof(err));
	cr_assert_not_null(tcp, "%s", err);
	tcpl_set_routes(tcp, routes);
	tcpl_set_keys(tcp, &keys);
	tcpl_set_seconds(tcp, 1000);
	handshake(100); /* holds the one buffer */
	struct net_pkt p;
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, 40001, 80, 900, 0, RTE_TCP_SYN_FLAG, NULL, 1460));
	uint32_t cookie = ntohl(out_tcp(0, &p)->sent_seq);
	feed(0,
	     seg(&cli, &gw_c, CLIENT, VIP, 40001, 80, 901, cookie + 1, RTE_TCP_ACK_FLAG, NULL, 0));
	cr_assert(client_got("HTTP/1.1 503"), "a new connection without a buffer gets 503");
	cr_assert_eq(stats_sum(STATS_tcp_buffers_full), 1);
	cr_assert_eq(stats_sum(STATS_tcp_flows_full), 0, "not counted as a full flow table");
}

Test(tcp, a_client_over_its_cap_of_heads_in_progress_gets_503)
{
	tcpl_free(tcp);
	struct tcpl_config cfg = test_config();
	cfg.heads_per_client = 2;
	struct tcpl_port ports[2] = {{.local = &client_side, .mss = 1460},
				     {.local = &pod_side, .conf = &pod_conf, .mss = 1460}};
	char err[128];
	tcp = tcpl_create("tcpcap", &cfg, ports, 2, pool, neigh, stats_self(), SOCKET_ID_ANY, err,
			  sizeof(err));
	cr_assert_not_null(tcp, "%s", err);
	tcpl_set_routes(tcp, routes);
	tcpl_set_keys(tcp, &keys);
	tcpl_set_seconds(tcp, 1000);
	for (uint16_t i = 0; i < 3; i++) {
		struct net_pkt p;
		uint16_t cport = (uint16_t)(41000 + i);
		feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, 7000, 0, RTE_TCP_SYN_FLAG, NULL,
			    1460));
		uint32_t cookie = ntohl(out_tcp(0, &p)->sent_seq);
		feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, 7001, cookie + 1,
			    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, "GET / HT", 0));
		cr_assert_eq(client_got("HTTP/1.1 503"), i == 2, "connection %u", i);
	}
	cr_assert_eq(stats_sum(STATS_tcp_heads_over_cap), 1);
}

Test(tcp, an_upgrade_answered_without_101_keeps_framing_and_101_makes_it_opaque)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	const char *up = "GET / HTTP/1.1\r\nHost: kp.example\r\nConnection: Upgrade\r\n"
			 "Upgrade: websocket\r\n\r\n";
	/* Refused: the next request is framed and routed like any other. */
	struct kp k = {.cport = 47501, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k, up, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	kp_client(&k, k.next, "GET /api/x HTTP/1.1\r\nHost: kp.example\r\n\r\n");
	cr_assert_eq(pod_payload(), 0);
	struct net_pkt p;
	cr_assert_geq(find_out(1, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p), 0);
	/* Switched: bytes after it are the new protocol's, opaque. */
	k = (struct kp){.cport = 47502, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k, up, "HTTP/1.1 101 Switching Protocols\r\n\r\n");
	const char frame[] = "\x81\x05hello GET /api/ HTTP/1.1\r\n\r\n";
	kp_client(&k, k.next, frame);
	cr_assert_eq(pod_payload(), strlen(frame), "spliced as it came");
	cr_assert_eq(stats_sum(STATS_http_upgrades), 1);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, a_body_over_a_gibibyte_and_data_with_a_fin_are_framed)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 47601, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k, "PUT / HTTP/1.1\r\nHost: kp.example\r\nContent-Length: 5000000000\r\n\r\n",
		 "HTTP/1.1 100 Continue\r\n\r\n");
	/* Anywhere inside the body, even ahead of what arrived: passed by position. */
	kp_client(&k, k.next + 3000000, "0123456789");
	cr_assert_eq(pod_payload(), 10);
	/* A request with its FIN: framed like any other (here: same Service, so it passes). */
	struct kp j = {.cport = 47602, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&j, "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n", "HTTP/1.1 204 X\r\n\r\n");
	const char *last = "GET /last HTTP/1.1\r\nHost: kp.example\r\nConnection: close\r\n\r\n";
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, j.cport, 80, j.next, j.to_client,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG | RTE_TCP_FIN_FLAG, last, 0));
	cr_assert_eq(pod_payload(), strlen(last));
	struct net_pkt p_any;
	cr_assert_geq(find_out(1, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p_any), 0, "with its FIN");
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

/* ---- TCP hardening ------------------------------------------------------------------------ */

Test(tcp, a_spoofed_syn_with_another_isn_gets_a_challenge_ack_and_the_flow_stays)
{
	uint16_t sp;
	uint32_t cookie = spliced(100, 200, &sp);
	feed(0, from_client(555555, 0, RTE_TCP_SYN_FLAG, NULL));
	cr_assert_eq(nout, 1);
	struct net_pkt p;
	const struct rte_tcp_hdr *th = out_tcp(0, &p);
	cr_assert_eq(out[0].port, 0);
	cr_assert_eq(th->tcp_flags, RTE_TCP_ACK_FLAG, "a challenge ACK, no SYN-ACK");
	cr_assert_eq(tcpl_flow_count(tcp), 1);
	cr_assert_eq(stats_sum(STATS_tcp_challenge_acks), 1);
	/* The connection goes on. */
	feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, sp, 201, 139, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG,
		    "HTTP/1.1 204 X\r\n\r\n", 0));
	cr_assert_eq(nout, 1);
	cr_assert_eq(ntohl(out_tcp(0, &p)->sent_seq), cookie + 1);
}

Test(tcp, a_reset_not_at_the_expected_number_is_challenged_or_dropped)
{
	uint16_t sp;
	spliced(100, 200, &sp);
	/* The pod has acknowledged 139: that is the only number a RST may carry. */
	feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, sp, 201, 139, RTE_TCP_ACK_FLAG, NULL, 0));
	feed(0, from_client(150, 0, RTE_TCP_RST_FLAG, NULL));
	cr_assert_eq(nout, 1, "in the window: a challenge ACK");
	struct net_pkt p;
	cr_assert_eq(out_tcp(0, &p)->tcp_flags, RTE_TCP_ACK_FLAG);
	cr_assert_eq(ntohl(out_tcp(0, &p)->recv_ack), 139);
	feed(0, from_client(100 + 0x70000000u, 0, RTE_TCP_RST_FLAG, NULL));
	cr_assert_eq(nout, 0, "far off: dropped");
	cr_assert_eq(stats_sum(STATS_tcp_rst_ignored), 1);
	cr_assert_eq(tcpl_flow_count(tcp), 1);
	feed(0, from_client(139, 0, RTE_TCP_RST_FLAG, NULL));
	cr_assert_eq(nout, 1, "exact: forwarded, the connection closes");
	cr_assert(out_tcp(0, &p)->tcp_flags & RTE_TCP_RST_FLAG);
}

Test(tcp, a_repeat_of_the_opening_syn_is_ignored_after_a_proxy_header_moved_the_isn)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	uint16_t cport = 47701;
	uint32_t isn = 5000;
	struct net_pkt p;
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn, 0, RTE_TCP_SYN_FLAG, NULL, 1460));
	uint32_t cookie = ntohl(out_tcp(0, &p)->sent_seq);
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn + 1, cookie + 1,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG,
		    "GET / HTTP/1.1\r\nHost: pp.example\r\n\r\n", 0));
	int syn = find_out(1, RTE_TCP_SYN_FLAG, &p);
	cr_assert_geq(syn, 0);
	uint32_t pod_syn = ntohl(out_tcp((uint16_t)syn, &p)->sent_seq);
	cr_assert_eq(pod_syn, isn - 28, "the pod's stream starts 28 bytes early");
	static const struct rte_ether_addr pm = {{2, 0, 0, 0, 0, 9}};
	feed(1, seg(&pm, &gw_p, "198.19.0.11", SNAT, 8080, ntohs(p.src_port), 9000, pod_syn + 1,
		    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, NULL, 1460));
	cr_assert_eq(pod_payload(), 28 + strlen("GET / HTTP/1.1\r\nHost: pp.example\r\n\r\n"),
		     "the header, then the request");
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn, 0, RTE_TCP_SYN_FLAG, NULL, 1460));
	cr_assert_eq(nout, 0, "the opening SYN again: ignored, not challenged, no new connection");
	cr_assert_eq(tcpl_flow_count(tcp), 1);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, a_connection_freed_inside_a_burst_is_not_used_by_a_later_packet_of_it)
{
	/* A lingering connection, a SYN that replaces it, and its old 4-tuple's stray ACK in the
	 * same burst: the stray must not act on the record the new connection now owns. */
	uint16_t sp;
	uint32_t cookie = spliced(100, 200, &sp);
	feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, sp, 201, 139, RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG,
		    NULL, 0));
	struct rte_mbuf *m[2] = {from_client(90000, 0, RTE_TCP_SYN_FLAG, NULL),
				 from_client(139, cookie + 1, RTE_TCP_ACK_FLAG, NULL)};
	struct net_pkt info[2];
	enum net_drop_reason why;
	for (int i = 0; i < 2; i++)
		cr_assert_eq(net_parse(m[i], &info[i], &why), NET_CLASS_TCP);
	for (uint16_t i = 0; i < nout; i++)
		rte_pktmbuf_free(out[i].m);
	nout = tcpl_input_burst(tcp, 0, m, info, 2, now, out, 64);
	struct net_pkt p;
	int synack = find_out(0, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, &p);
	cr_assert_geq(synack, 0, "the new SYN is answered with a cookie");
	cr_assert_eq(tcpl_flow_count(tcp), 0, "and the stray ACK did not revive anything");
}

Test(tcp, a_bare_ack_to_the_syn_resets_the_pods_old_connection_and_sends_the_syn_again)
{
	const char *pieces[] = {"GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n"};
	request_to_connect(9100, pieces, 1);
	struct net_pkt p;
	out_tcp(1, &p);
	uint16_t sp = ntohs(p.src_port);
	feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, sp, 123456, 777, RTE_TCP_ACK_FLAG, NULL, 0));
	int rst = find_out(1, RTE_TCP_RST_FLAG, &p);
	cr_assert_geq(rst, 0, "RFC 9293 §3.10.7.3: a reset with the ACK's number");
	cr_assert_eq(ntohl(out_tcp((uint16_t)rst, &p)->sent_seq), 777);
	int syn = find_out(1, RTE_TCP_SYN_FLAG, &p);
	cr_assert_geq(syn, 0, "and the SYN again at once");
	cr_assert_eq(ntohl(out_tcp((uint16_t)syn, &p)->sent_seq), 9100);
	cr_assert_eq(stats_sum(STATS_pod_time_wait), 1);
}

Test(tcp, a_burst_of_more_than_64_packets_is_all_answered)
{
	struct rte_mbuf *m[100];
	struct net_pkt info[100];
	enum net_drop_reason why;
	for (int i = 0; i < 100; i++) {
		m[i] = seg(&cli, &gw_c, CLIENT, VIP, (uint16_t)(30000 + i), 80, 5, 0,
			   RTE_TCP_SYN_FLAG, NULL, 1460);
		cr_assert_eq(net_parse(m[i], &info[i], &why), NET_CLASS_TCP);
	}
	static struct tcpl_out big[256];
	unsigned avail = rte_mempool_avail_count(pool);
	uint16_t n = tcpl_input_burst(tcp, 0, m, info, 100, now, big, 256);
	cr_assert_eq(n, 100, "a SYN-ACK for each");
	for (uint16_t i = 0; i < n; i++)
		rte_pktmbuf_free(big[i].m);
	cr_assert_eq(rte_mempool_avail_count(pool), avail + 100, "no mbuf leaked");
}

Test(tcp, every_connection_has_its_timer_past_eight_thousand)
{
	tcpl_free(tcp);
	struct tcpl_config cfg = test_config();
	cfg.max_flows = 10000;
	cfg.buffers = 9000;
	cfg.request_buffer = 1024;
	cfg.limits.max_head_bytes = 1024;
	cfg.limits.max_request_line = 1024;
	cfg.heads_per_client = 10000;
	struct tcpl_port ports[2] = {{.local = &client_side, .mss = 1460},
				     {.local = &pod_side, .conf = &pod_conf, .mss = 1460}};
	char err[128];
	tcp = tcpl_create("tcpmany", &cfg, ports, 2, pool, neigh, stats_self(), SOCKET_ID_ANY, err,
			  sizeof(err));
	cr_assert_not_null(tcp, "%s", err);
	tcpl_set_routes(tcp, routes);
	tcpl_set_keys(tcp, &keys);
	tcpl_set_seconds(tcp, 1000);
	const int N = 9000;
	for (int i = 0; i < N; i++) {
		struct net_pkt p;
		uint16_t cport = (uint16_t)(10000 + i);
		feed(0,
		     seg(&cli, &gw_c, CLIENT, VIP, cport, 80, 1, 0, RTE_TCP_SYN_FLAG, NULL, 1460));
		uint32_t cookie = ntohl(out_tcp(0, &p)->sent_seq);
		feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, 2, cookie + 1,
			    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, "GET / HT", 0));
	}
	cr_assert_eq(tcpl_flow_count(tcp), (uint32_t)N);
	/* Past the header timeout every one of them gets its 408. */
	now += rte_get_tsc_hz() * 11;
	static struct tcpl_out o[256];
	for (int round = 0; round < 400; round++) {
		now += rte_get_tsc_hz() / 100;
		uint16_t k = tcpl_tick(tcp, now, o, 256);
		for (uint16_t j = 0; j < k; j++)
			rte_pktmbuf_free(o[j].m);
	}
	cr_assert_eq(stats_answers(408), (uint64_t)N);
}

/* ---- from an attacker's review ----------------------------------------------------------------
 */

static struct rte_mbuf *with_urgent(struct rte_mbuf *m, uint16_t urp)
{
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);
	th->tcp_flags |= RTE_TCP_URG_FLAG;
	th->tcp_urp = htons(urp);
	th->cksum = 0;
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	return m;
}

/* A pod without SO_OOBINLINE takes the urgent byte out of its stream: "Content-L[e]ngth"
 * would read as no Content-Length, and the body as a request for another Service. */
Test(tcp, urgent_data_never_reaches_a_pod)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 48001, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k, "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n", "HTTP/1.1 204 X\r\n\r\n");
	const char *smug = "GET /api/x HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	char req[256];
	snprintf(req, sizeof(req),
		 "POST / HTTP/1.1\r\nHost: kp.example\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(smug), smug);
	uint16_t urgent = (uint16_t)(strstr(req, "Content-Length") - req + 10);
	feed(0, with_urgent(seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next, k.to_client,
				RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, req, 0),
			    urgent));
	cr_assert_eq(pod_payload(), strlen(req));
	struct net_pkt p;
	const struct rte_tcp_hdr *th = out_tcp(0, &p); /* checksum verified by the parser */
	cr_assert_not(th->tcp_flags & RTE_TCP_URG_FLAG, "URG cleared towards the pod");
	cr_assert_eq(th->tcp_urp, 0);
	/* A bare ACK marking a byte of a held head urgent: cleared too. */
	kp_client(&k, k.next + (uint32_t)strlen(req), "GET /x HTTP/1.1\r\nHo");
	feed(0,
	     with_urgent(seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next + (uint32_t)strlen(req),
			     k.to_client, RTE_TCP_ACK_FLAG, NULL, 0),
			 30));
	for (uint16_t i = 0; i < nout; i++)
		if (out[i].port == 1)
			cr_assert_not(out_tcp(i, &p)->tcp_flags & RTE_TCP_URG_FLAG);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, a_resend_far_below_a_held_buffer_never_leaves_with_a_length_it_lacks)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 48003, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k, "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n", "HTTP/1.1 204 X\r\n\r\n");
	kp_client(&k, k.next, "GET /x HTTP/1.1\r\nHo");
	kp_client(&k, k.next - 40000, "AAAAAAAAAA");
	for (uint16_t i = 0; i < nout; i++) {
		struct net_pkt p;
		out_tcp(i, &p); /* every output parses: lengths and checksums are right */
	}
	kp_client(&k, k.next - 0x60000000u, "AAAAAAAAAA");
	cr_assert_eq(pod_payload(), 0, "far outside the window: dropped");
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, every_request_buffer_counts_in_its_clients_share)
{
	tcpl_free(tcp);
	struct tcpl_config cfg = test_config();
	cfg.heads_per_client = 1;
	struct tcpl_port ports[2] = {{.local = &client_side, .mss = 1460},
				     {.local = &pod_side, .conf = &pod_conf, .mss = 1460}};
	char err[128];
	tcp = tcpl_create("tcpshare", &cfg, ports, 2, pool, neigh, stats_self(), SOCKET_ID_ANY, err,
			  sizeof(err));
	cr_assert_not_null(tcp, "%s", err);
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	tcpl_set_keys(tcp, &keys);
	tcpl_set_seconds(tcp, 1000);
	/* A connects, with a second request waiting in its buffer: one buffer, its share. */
	struct kp a = {.cport = 48101, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	uint32_t isn = 1000u * a.cport;
	struct net_pkt p;
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, a.cport, 80, isn, 0, RTE_TCP_SYN_FLAG, NULL, 1460));
	uint32_t cookie = ntohl(out_tcp(0, &p)->sent_seq);
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, a.cport, 80, isn + 1, cookie + 1,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG,
		    "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\nGET /x HTTP/1.1\r\nHo", 0));
	/* B from the same address, while A holds it: refused, whatever state A is in. */
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, 48102, 80, 5, 0, RTE_TCP_SYN_FLAG, NULL, 1460));
	cookie = ntohl(out_tcp(0, &p)->sent_seq);
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, 48102, 80, 6, cookie + 1,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, "GET / HT", 0));
	cr_assert(client_got("HTTP/1.1 503"));
	cr_assert_eq(stats_sum(STATS_tcp_heads_over_cap), 1);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, an_h2c_upgrade_never_makes_the_connection_opaque)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 48201, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k,
		 "GET / HTTP/1.1\r\nHost: kp.example\r\nConnection: Upgrade, HTTP2-Settings\r\n"
		 "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
		 "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
	/* HTTP/2 after it would reach any path on this pod: it is framed as HTTP/1.1, fails, and
	 * nothing of it reaches the pod. */
	kp_client(&k, k.next, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
	cr_assert_eq(pod_payload(), 0);
	cr_assert_eq(stats_sum(STATS_http_upgrades), 0);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, bytes_waiting_behind_an_unanswered_upgrade_fail_closed_in_time)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 48301, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k,
		 "GET / HTTP/1.1\r\nHost: kp.example\r\nConnection: Upgrade\r\nUpgrade: "
		 "websocket\r\n\r\n",
		 "");
	kp_client(&k, k.next, "GET / HTTP/1.1\r\nHo");
	cr_assert_eq(pod_payload(), 0);
	struct tcpl_out o[64];
	bool fin = false;
	for (int i = 0; i < 150 && !fin; i++) {
		now += rte_get_tsc_hz() / 10;
		uint16_t n = tcpl_tick(tcp, now, o, 64);
		for (uint16_t j = 0; j < n; j++) {
			struct net_pkt p;
			enum net_drop_reason why;
			cr_assert_eq(net_parse(o[j].m, &p, &why), NET_CLASS_TCP);
			const struct rte_tcp_hdr *th = rte_pktmbuf_mtod_offset(
				o[j].m, const struct rte_tcp_hdr *, p.l2_len + p.l3_len);
			if (o[j].port == 1 && (th->tcp_flags & RTE_TCP_FIN_FLAG))
				fin = true;
			rte_pktmbuf_free(o[j].m);
		}
	}
	cr_assert(fin, "the pod is closed after the upgrade request within the header timeout");
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, a_resets_data_never_reaches_a_pod)
{
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 48401, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k, "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n", "HTTP/1.1 204 X\r\n\r\n");
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next, k.to_client,
		    RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG,
		    "GET /api/x HTTP/1.1\r\nHost: kp.example\r\n\r\n", 0));
	cr_assert_eq(nout, 1);
	struct net_pkt p;
	cr_assert(out_tcp(0, &p)->tcp_flags & RTE_TCP_RST_FLAG, "the reset goes on");
	cr_assert_eq(p.payload_len, 0, "without its data");
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, a_second_syn_in_the_burst_that_freed_a_flow_is_answered_with_a_cookie)
{
	uint16_t sp;
	spliced(100, 200, &sp);
	feed(0, from_client(139, 0, RTE_TCP_RST_FLAG, NULL)); /* closed, lingering */
	struct rte_mbuf *m[2] = {from_client(777000, 0, RTE_TCP_SYN_FLAG, NULL),
				 from_client(777000, 0, RTE_TCP_SYN_FLAG, NULL)};
	struct net_pkt info[2];
	enum net_drop_reason why;
	for (int i = 0; i < 2; i++)
		cr_assert_eq(net_parse(m[i], &info[i], &why), NET_CLASS_TCP);
	for (uint16_t i = 0; i < nout; i++)
		rte_pktmbuf_free(out[i].m);
	nout = tcpl_input_burst(tcp, 0, m, info, 2, now, out, 64);
	cr_assert_eq(nout, 2);
	for (uint16_t i = 0; i < 2; i++) {
		struct net_pkt p;
		cr_assert_eq(out_tcp(i, &p)->tcp_flags, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG,
			     "SYN %u gets a SYN-ACK, not a challenge from a freed record", i);
	}
}

/* The page's value for one exact series line ("name{labels}"), or -1 when absent. */
static long long page_value(const char *page, const char *series)
{
	size_t n = strlen(series);
	for (const char *at = page; (at = strstr(at, series)) != NULL; at += n)
		if ((at == page || at[-1] == '\n') && at[n] == ' ')
			return atoll(at + n + 1);
	return -1;
}

/* A connection from client port cport sends req; returns the SNAT port of the SYN it caused
 * (0 when none). */
static uint16_t client_request(uint16_t cport, const char *req)
{
	uint32_t isn = 1000u * cport;
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn, 0, RTE_TCP_SYN_FLAG, NULL, 1460));
	struct net_pkt p;
	uint32_t cookie = ntohl(out_tcp(0, &p)->sent_seq);
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn + 1, cookie + 1,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, req, 0));
	for (uint16_t k = 0; k < nout; k++)
		if (out[k].port == 1 && out_tcp(k, &p)->tcp_flags == RTE_TCP_SYN_FLAG)
			return ntohs(p.src_port);
	return 0;
}

Test(tcp, requests_and_answers_are_counted_by_route_with_the_status_as_a_label)
{
	/* A known mix: two routed and spliced, one routed whose pod refuses every try (502),
	 * one 404, one 400. */
	const char *ok = "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n";
	for (uint16_t cport = 51001; cport <= 51002; cport++) {
		uint16_t sp = client_request(cport, ok);
		cr_assert_neq(sp, 0);
		feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, sp, 1000, 1000u * cport + 1,
			    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, NULL, 1460));
	}
	cr_assert_eq(client_request(51003, "GET / HTTP/1.1\r\nHost: nope.example\r\n\r\n"), 0);
	cr_assert_eq(client_request(51004, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 0);
	uint16_t sp = client_request(51005, ok);
	for (int i = 0; sp != 0 && i < 10; i++) { /* the pod resets every SYN */
		feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, sp, 0, 1000u * 51005 + 1,
			    RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG, NULL, 0));
		sp = 0;
		struct net_pkt p;
		for (uint16_t k = 0; k < nout; k++)
			if (out[k].port == 1 && out_tcp(k, &p)->tcp_flags == RTE_TCP_SYN_FLAG)
				sp = ntohs(p.src_port);
	}
	cr_assert(client_got("HTTP/1.1 502"));

	uint32_t s = stats_series_of("t/i", "shop.example", "t/web:80");
	cr_assert_geq(s, 2u, "the table's route has a series of its own");
	cr_assert_eq(stats_series_sum(s, STATS_ROUTED), 3);
	cr_assert_eq(stats_series_sum(s, STATS_ANSWER_502), 1);
	cr_assert_eq(stats_series_sum(STATS_SERIES_NONE, STATS_ANSWER_404), 1);
	cr_assert_eq(stats_series_sum(STATS_SERIES_NONE, STATS_ANSWER_400), 1);
	cr_assert_eq(stats_answers(502), 1);
	cr_assert_eq(stats_series_sum(STATS_SERIES_NONE, STATS_ROUTED), 0);
	/* Four heads were routed (or found no route); two pods accepted. */
	cr_assert_eq(stats_self()->head.count, 4); /* the malformed head was never routed */
	cr_assert_eq(stats_self()->connect.count, 2);

	struct stats_text t = {0};
	stats_render_prometheus(&t);
	cr_assert(!t.failed);
	cr_assert_eq(page_value(t.buf, "sluice_route_requests_total{ingress=\"t/i\",host=\"shop."
				       "example\",service=\"t/web:80\"}"),
		     3);
	cr_assert_eq(page_value(t.buf, "sluice_gateway_answers_total{code=\"502\",ingress=\"t/"
				       "i\",host=\"shop.example\",service=\"t/web:80\"}"),
		     1);
	cr_assert_eq(page_value(t.buf, "sluice_gateway_answers_total{code=\"404\",ingress=\"\","
				       "host=\"\",service=\"\"}"),
		     1);
	cr_assert_eq(page_value(t.buf, "sluice_head_seconds_count"), 4);
	cr_assert_eq(page_value(t.buf, "sluice_head_seconds_bucket{le=\"+Inf\"}"), 4);
	cr_assert_eq(page_value(t.buf, "sluice_connect_seconds_count"), 2);
	cr_assert_null(strstr(t.buf, "sluice_http_local_"), "one family, not one per code");
	stats_text_free(&t);
}

Test(tcp, routes_beyond_the_series_limit_count_as_other)
{
	cr_assert_eq(stats_series_init(3), 0); /* none, other, and one more */
	uint32_t first = stats_series_of("a/a", "a", "a/a:80");
	cr_assert_eq(first, 2);
	cr_assert_eq(stats_series_of("b/b", "b", "b/b:80"), STATS_SERIES_OTHER);
	cr_assert_eq(stats_series_of("a/a", "a", "a/a:80"), first, "found again, not added");
	route_table_set_series(routes, tcpl_series_of, NULL);
	cr_assert_neq(client_request(52001, "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n"), 0);
	cr_assert_eq(stats_series_sum(STATS_SERIES_OTHER, STATS_ROUTED), 1);
	struct stats_text t = {0};
	stats_render_prometheus(&t);
	cr_assert_eq(page_value(t.buf, "sluice_route_requests_total{ingress=\"_other\",host=\"\","
				       "service=\"\"}"),
		     1);
	cr_assert_eq(page_value(t.buf, "sluice_route_series_max"), 3);
	stats_text_free(&t);
	route_table_set_series(routes, tcpl_series_of, NULL); /* numbers for the next test */
}

/* ---- the access log ------------------------------------------------------------------------ */

static struct rte_ring *alog_ring(unsigned size)
{
	static int n;
	char name[32];
	snprintf(name, sizeof(name), "alog_test_%d", n++);
	struct rte_ring *r =
		rte_ring_create_elem(name, sizeof(struct alog_rec), size, SOCKET_ID_ANY,
				     RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
	cr_assert_not_null(r);
	return r;
}

static unsigned alog_take(struct rte_ring *r, struct alog_rec *recs, unsigned max)
{
	return rte_ring_sc_dequeue_burst_elem(r, recs, sizeof(*recs), max, NULL);
}

static void tick_for(uint64_t tsc)
{
	struct tcpl_out o[64];
	uint64_t end = now + tsc;
	while (now < end) {
		now += rte_get_tsc_hz() / 50;
		uint16_t k = tcpl_tick(tcp, now, o, 64);
		for (uint16_t j = 0; j < k; j++)
			rte_pktmbuf_free(o[j].m);
	}
}

Test(tcp, each_request_leaves_one_access_log_record_whatever_its_fate)
{
	struct rte_ring *r = alog_ring(64);
	cr_assert_eq(tcpl_set_access_log(tcp, r, 1, 0x4200000000000000ull), 0);
	struct alog_rec recs[16];
	const char *ok = "GET /a HTTP/1.1\r\nHost: shop.example\r\nX-Request-ID: r1\r\n\r\n";

	/* Forwarded: one record once the pod accepts, none before. */
	uint16_t sp = client_request(53001, ok);
	cr_assert_eq(rte_ring_count(r), 0, "no record while the pod connects");
	feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, sp, 5000, 1000u * 53001 + 1,
		    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, NULL, 1460));
	cr_assert_eq(alog_take(r, recs, 16), 1);
	cr_assert_eq(recs[0].outcome, ALOG_FORWARDED);
	cr_assert_eq(recs[0].pod_ip, inet_addr(POD));
	cr_assert_eq(recs[0].pod_port, htons(8080));
	cr_assert_eq(recs[0].client_port, htons(53001));
	cr_assert_eq(recs[0].id, 0x4200000000000000ull);
	cr_assert_neq(recs[0].connect_us, ALOG_NONE);
	cr_assert_eq(recs[0].rid_len, 2);
	cr_assert(memcmp(recs[0].target, "/a", 2) == 0 && recs[0].target_len == 2);
	cr_assert_eq(recs[0].series, stats_series_of("t/i", "shop.example", "t/web:80"));

	/* The client leaves while the pod connects: closed, with its route. */
	sp = client_request(53002, ok);
	cr_assert_neq(sp, 0);
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, 53002, 80, 1000u * 53002 + 1 + (uint32_t)strlen(ok),
		    0, RTE_TCP_RST_FLAG, NULL, 0));
	cr_assert_eq(alog_take(r, recs, 16), 1);
	cr_assert_eq(recs[0].outcome, ALOG_CLOSED);
	cr_assert_eq(recs[0].status, 0);
	cr_assert_neq(recs[0].series, STATS_SERIES_NONE);
	cr_assert_eq(recs[0].id, 0x4200000000000001ull);

	/* No route: answered 404 at once, no route in the record. */
	client_request(53003, "GET / HTTP/1.1\r\nHost: nope.example\r\n\r\n");
	cr_assert_eq(alog_take(r, recs, 16), 1);
	cr_assert_eq(recs[0].status, 404);
	cr_assert_eq(recs[0].outcome, ALOG_ANSWERED);
	cr_assert_eq(recs[0].series, STATS_SERIES_NONE);
	cr_assert_gt(recs[0].bytes_out, 0);
	cr_assert_neq(recs[0].bytes_out, ALOG_NONE);

	/* A head that never completes: 408 when the header timeout fires. */
	uint32_t isn = 1000u * 53004;
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, 53004, 80, isn, 0, RTE_TCP_SYN_FLAG, NULL, 1460));
	struct net_pkt p;
	uint32_t cookie = ntohl(out_tcp(0, &p)->sent_seq);
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, 53004, 80, isn + 1, cookie + 1,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, "GET / HT", 0));
	cr_assert_eq(rte_ring_count(r), 0);
	tick_for(rte_get_tsc_hz() * 11); /* the engine's default header timeout: 10 s */
	cr_assert_eq(alog_take(r, recs, 16), 1);
	cr_assert_eq(recs[0].status, 408);
	cr_assert_eq(recs[0].client_port, htons(53004));
	cr_assert_eq(stats_sum(STATS_access_log_records), 4);
	cr_assert_eq(stats_sum(STATS_access_log_dropped), 0);
	tcpl_set_access_log(tcp, NULL, 1, 0);
	rte_ring_free(r);
}

Test(tcp, the_access_log_samples_and_a_full_ring_drops_without_stalling)
{
	struct rte_ring *r = alog_ring(64);
	cr_assert_eq(tcpl_set_access_log(tcp, r, 4, 0), 0);
	for (uint16_t i = 0; i < 16; i++)
		client_request((uint16_t)(54000 + i),
			       "GET / HTTP/1.1\r\nHost: nope.example\r\n\r\n");
	struct alog_rec recs[64];
	cr_assert_eq(alog_take(r, recs, 64), 4, "one request in four");
	/* A ring of 64 and 100 answers nobody drains: 64 kept, 36 dropped and counted, and every
	 * client still gets its answer. */
	tcpl_set_access_log(tcp, r, 1, 0);
	for (uint16_t i = 0; i < 100; i++) {
		client_request((uint16_t)(55000 + i),
			       "GET / HTTP/1.1\r\nHost: nope.example\r\n\r\n");
		cr_assert(client_got("HTTP/1.1 404"), "request %u answered", i);
	}
	cr_assert_eq(rte_ring_count(r), 64);
	cr_assert_eq(stats_sum(STATS_access_log_dropped), 36);
	tcpl_set_access_log(tcp, NULL, 1, 0);
	rte_ring_free(r);
}

Test(tcp, a_lost_piece_of_chunk_data_is_passed_when_resent_after_later_chunks)
{
	/* The client's segment inside the first chunk's data never reaches the gateway; the next
	 * one (the chunk's end and the second chunk line) does, and is forwarded. The resend of
	 * the lost piece is chunk content the framing never reads: it must reach the pod, or the
	 * upload stalls. */
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 47311, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k, "POST / HTTP/1.1\r\nHost: kp.example\r\nTransfer-Encoding: chunked\r\n\r\n",
		 "HTTP/1.1 100 Continue\r\n\r\n");
	const char *s1 = "a\r\nabc", *lost = "defg", *s3 = "hij\r\n5\r\nhello\r\n0\r\n\r\n";
	kp_client(&k, k.next, s1);
	cr_assert_eq(pod_payload(), strlen(s1));
	uint32_t at_lost = k.next + (uint32_t)strlen(s1);
	kp_client(&k, at_lost + (uint32_t)strlen(lost), s3);
	cr_assert_eq(pod_payload(), strlen(s3), "later chunk data and framing pass by position");
	kp_client(&k, at_lost, lost);
	cr_assert_eq(pod_payload(), strlen(lost), "the lost chunk content goes to the pod");
	/* A resend that changes the second chunk's size line is still refused. */
	kp_client(&k, at_lost + (uint32_t)strlen(lost) + 5, "6\r\nhello\r\n");
	cr_assert_eq(pod_payload(), 0, "a changed chunk line never passes");
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

/* ---- review2: holes found in the frame_runs history and the t0/pod_fin union ---------------- */

/* The pod acknowledges client bytes up to ack (an empty segment from pod_seq). */
static void kp_pod_ack(struct kp *k, uint32_t pod_seq, uint32_t ack)
{
	feed(1, seg(k->pod_mac, &gw_p, k->pod_ip, SNAT, 8080, k->snat_port, pod_seq, ack,
		    RTE_TCP_ACK_FLAG, NULL, 0));
}

Test(tcp, a_stale_opaque_run_never_lets_a_changed_chunk_line_through_after_4gib)
{
	/* Chunk 1 ("5", data never read) leaves an opaque run R1 = [S+3, S+8). Chunk 2 is
	 * 0xffffffed bytes long, so that after it the stream is back, modulo 2^32, at R1: chunk 3's
	 * size line sits at [S+3, S+6) again. The framing READ that line; the pod has not
	 * acknowledged it; a resend with other content must be refused. */
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 47411, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	const char *resp = "HTTP/1.1 100 Continue\r\n\r\n";
	kp_first(&k, "POST / HTTP/1.1\r\nHost: kp.example\r\nTransfer-Encoding: chunked\r\n\r\n",
		 resp);
	const uint32_t S = k.next, pseq = k.pod_isn + 1 + (uint32_t)strlen(resp);
	kp_client(&k, S, "5\r\n");
	cr_assert_eq(pod_payload(), 3);
	kp_client(&k, S + 3, "hello");
	cr_assert_eq(pod_payload(), 5);
	kp_client(&k, S + 8, "\r\nffffffed\r\n");
	cr_assert_eq(pod_payload(), 12);
	/* Chunk 2's data: the pod takes it 1 GiB at a time (F moves at most FRAME_JUMP past what
	 * the pod acknowledged); one byte at F moves F over the next stretch. */
	uint32_t F = S + (1u << 30);
	uint64_t left = 0xffffffedull - ((1u << 30) - 20);
	while (left) {
		kp_pod_ack(&k, pseq, F);
		kp_client(&k, F, "x");
		cr_assert_eq(pod_payload(), 1, "chunk data at F passes");
		uint64_t step = left < (1u << 30) ? left : (1u << 30);
		F += (uint32_t)step;
		left -= step;
	}
	cr_assert_eq(F, S + 1, "chunk 2 ends 2^32 - 19 bytes after it began");
	kp_pod_ack(&k, pseq, F);
	kp_client(&k, F, "\r\n"); /* chunk 2's CRLF: read by the framing */
	cr_assert_eq(pod_payload(), 2);
	kp_pod_ack(&k, pseq, F + 2);
	kp_client(&k, F + 2, "3\r\nabc\r\n0\r\n\r\n"); /* chunk 3's line at [S+3, S+6): read */
	cr_assert_eq(pod_payload(), 13);
	/* The pod acknowledged up to S+3 only. A resend of chunk 3's size line with another
	 * size: framing bytes the pod may lack, whose content the framing read. */
	uint64_t refused = stats_sum(STATS_tcp_resend_refused);
	kp_client(&k, F + 2, "9\r\n");
	cr_assert_eq(pod_payload(), 0, "a changed chunk-size line reached the pod (%u bytes)",
		     pod_payload());
	cr_assert_eq(stats_sum(STATS_tcp_resend_refused), refused + 1);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, a_head_completed_after_a_rebind_is_not_timed_from_the_pods_fin)
{
	/* A held head half sent when the pod closes: the connection is rewound to CONN_HEAD with
	 * conn->t0 never set (the union holds the pod's FIN sequence number). When the head
	 * completes, route_request sees CONN_HEAD and observes the head histogram. */
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 47412, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	kp_first(&k, "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n", resp);
	const uint32_t pod_end = k.pod_isn + 1 + (uint32_t)strlen(resp);
	uint64_t count0 = stats_self()->head.count, sum0 = stats_self()->head.sum_tsc;
	cr_assert_eq(count0, 1);
	const char *part1 = "GET /b HTTP/1.1\r\nHo", *part2 = "st: kp.example\r\n\r\n";
	kp_client(&k, k.next, part1); /* held */
	kp_pod_fin(&k, pod_end, k.next);
	/* The client acknowledges the pod's data: the drain completes, the connection is rewound
	 * to the head state with the half head. */
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next + (uint32_t)strlen(part1),
		    k.to_client, RTE_TCP_ACK_FLAG, NULL, 0));
	now += rte_get_tsc_hz() / 1000; /* 1 ms later, the head completes */
	kp_client(&k, k.next + (uint32_t)strlen(part1), part2);
	struct net_pkt p;
	cr_assert_geq(find_out(1, RTE_TCP_SYN_FLAG, &p), 0, "the head was routed: SYN to a pod");
	uint64_t dc = stats_self()->head.count - count0, ds = stats_self()->head.sum_tsc - sum0;
	cr_log_info("head histogram after the rebind: +%lu observation(s), +%.3f s", dc,
		    (double)ds / (double)rte_get_tsc_hz());
	cr_assert(dc == 0 || ds <= rte_get_tsc_hz(),
		  "observed %.3f s for a head that took ~1 ms (t0 was the pod's FIN seq)",
		  (double)ds / (double)rte_get_tsc_hz());
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, a_request_held_for_another_pod_leaves_a_record_when_the_client_leaves)
{
	/* The second request goes to another Service: held (and acknowledged to the client) while
	 * the first pod drains. The client resets: its fate is settled (closed before it), yet no
	 * record was ever started for it. */
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct rte_ring *r = alog_ring(64);
	cr_assert_eq(tcpl_set_access_log(tcp, r, 1, 0), 0);
	struct alog_rec recs[16];
	struct kp k = {.cport = 47413, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k, "GET / HTTP/1.1\r\nHost: kp.example\r\n\r\n",
		 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	cr_assert_eq(alog_take(r, recs, 16), 1, "the first request: forwarded");
	const char *r2 = "GET /api/items HTTP/1.1\r\nHost: kp.example\r\n\r\n";
	kp_client(&k, k.next, r2);
	struct net_pkt p;
	cr_assert_geq(find_out(1, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p), 0, "draining");
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, k.cport, 80, k.next + (uint32_t)strlen(r2), 0,
		    RTE_TCP_RST_FLAG, NULL, 0));
	unsigned n = alog_take(r, recs, 16);
	cr_assert_eq(n, 1, "the held /api request: %u record(s)", n);
	tcpl_set_access_log(tcp, NULL, 1, 0);
	rte_ring_free(r);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, a_skipped_request_does_not_decide_the_sampling_of_a_later_fail_closed)
{
	/* One in two. A 404 elsewhere is taken; this connection's first request is skipped and
	 * leaves alog_state[buf] = SKIPPED (access_forwarded never clears it). Its body's framing
	 * breaks before the pod acknowledged anything: the connection fails closed, a record of its
	 * own by access.c's rules ("at once, with what the gateway knows") and the next in the
	 * sampling count — but access_answer finds the stale SKIPPED and drops it uncounted. */
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct rte_ring *r = alog_ring(64);
	cr_assert_eq(tcpl_set_access_log(tcp, r, 2, 0), 0);
	struct alog_rec recs[16];
	client_request(56001, "GET / HTTP/1.1\r\nHost: nope.example\r\n\r\n");
	cr_assert_eq(alog_take(r, recs, 16), 1, "the first request of all is taken");

	const uint16_t cport = 56002;
	const uint32_t isn = 1000u * cport, pod_isn = 80000;
	const char *head =
		"POST / HTTP/1.1\r\nHost: kp.example\r\nTransfer-Encoding: chunked\r\n\r\n";
	struct net_pkt p;
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn, 0, RTE_TCP_SYN_FLAG, NULL, 1460));
	uint32_t cookie = ntohl(out_tcp(0, &p)->sent_seq);
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, isn + 1, cookie + 1,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, head, 0));
	int syn = find_out(1, RTE_TCP_SYN_FLAG, &p);
	cr_assert_geq(syn, 0);
	uint16_t sp = ntohs(p.src_port);
	static const struct rte_ether_addr pm = {{2, 0, 0, 0, 0, 9}};
	feed(1, seg(&pm, &gw_p, "198.19.0.11", SNAT, 8080, sp, pod_isn, isn + 1,
		    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, NULL, 1460));
	cr_assert_eq(rte_ring_count(r), 0, "the first request here is the skipped one");
	uint32_t F = isn + 1 + (uint32_t)strlen(head);
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, cport, 80, F, cookie + 1,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, "zz\r\n", 0));
	cr_assert_geq(find_out(1, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p), 0, "fails closed");
	/* The pod takes everything and closes: the gateway's FIN to the client follows. */
	feed(1, seg(&pm, &gw_p, "198.19.0.11", SNAT, 8080, sp, pod_isn + 1, F + 1,
		    RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, NULL, 0));
	cr_assert_geq(find_out(0, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, &p), 0, "closed");
	unsigned n = alog_take(r, recs, 16);
	cr_assert_eq(n, 1, "the fail-closed record (next in the one-in-two count): %u", n);
	tcpl_set_access_log(tcp, NULL, 1, 0);
	rte_ring_free(r);
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

Test(tcp, a_lost_piece_of_chunk_data_passes_after_more_than_three_later_chunks)
{
	/* Chunks of 10 bytes, each client segment ending inside a chunk's data: every segment ends
	 * an opaque run. The piece lost in the first chunk is resent after four more chunk
	 * boundaries (less than 80 bytes of window): its run was the oldest of three and is
	 * forgotten, so the resend is refused for ever and the upload stalls (the pod can never
	 * acknowledge past the hole, so nothing else moves). */
	struct route_table *t = lb_table();
	tcpl_set_routes(tcp, t);
	struct kp k = {.cport = 47414, .pod_isn = 70000, .pod_ip = "198.19.0.11"};
	kp_first(&k, "POST / HTTP/1.1\r\nHost: kp.example\r\nTransfer-Encoding: chunked\r\n\r\n",
		 "HTTP/1.1 100 Continue\r\n\r\n");
	const uint32_t S = k.next;
	kp_client(&k, S, "a\r\nab"); /* chunk 1: line and 2 bytes; F skips its other 8 */
	cr_assert_eq(pod_payload(), 5);
	/* [S+5, S+9) "cdef" is lost. */
	uint32_t at = S + 9;
	kp_client(&k, at, "ghij\r\na\r\nab"); /* chunk 1's end, chunk 2 begins */
	cr_assert_eq(pod_payload(), 11);
	at += 11;
	for (int i = 0; i < 3; i++) { /* chunks 3, 4, 5 */
		kp_client(&k, at, "cdefghij\r\na\r\nab");
		cr_assert_eq(pod_payload(), 15, "chunk %d", i + 3);
		at += 15;
	}
	kp_client(&k, S + 5, "cdef"); /* the fast retransmit of chunk 1's lost content */
	cr_assert_eq(pod_payload(), 4, "the resent chunk content was refused: the upload stalls");
	tcpl_set_routes(tcp, routes);
	route_table_free(t);
}

/* ---- SNAT ports taken ------------------------------------------------------------------- */

/* A handshake and a request from client port sport; returns the pod-side SYN's source address
 * (0 if the gateway sent none). */
static uint32_t request_from_port(uint16_t sport)
{
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, sport, 80, 5000, 0, RTE_TCP_SYN_FLAG, NULL, 1460));
	struct net_pkt p;
	uint32_t cookie = ntohl(out_tcp(0, &p)->sent_seq);
	feed(0, seg(&cli, &gw_c, CLIENT, VIP, sport, 80, 5001, cookie + 1,
		    RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG,
		    "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n", 0));
	for (uint16_t k = 0; k < nout; k++) {
		const struct rte_tcp_hdr *th = out_tcp(k, &p);
		if (out[k].port == 1 && th->tcp_flags == RTE_TCP_SYN_FLAG)
			return p.src_ip;
	}
	return 0;
}

Test(tcp, snat_ports_taken_on_one_address_move_to_the_next_then_503)
{
	/* Two SNAT addresses with one port each: the client's port picks the first address. */
	tcpl_free(tcp);
	pod_side.n_snat = 2;
	pod_side.snat[1] = inet_addr("198.19.0.2");
	struct tcpl_config cfg = test_config();
	cfg.snat_port_count = 1;
	struct tcpl_port ports[2] = {
		{.local = &client_side, .conf = NULL, .offloads = 0, .mss = 1460},
		{.local = &pod_side, .conf = &pod_conf, .offloads = 0, .mss = 1460},
	};
	char err[256];
	tcp = tcpl_create("tcpsnat", &cfg, ports, 2, pool, neigh, stats_self(), SOCKET_ID_ANY, err,
			  sizeof(err));
	cr_assert_not_null(tcp, "%s", err);
	tcpl_set_routes(tcp, routes);
	tcpl_set_keys(tcp, &keys);
	tcpl_set_seconds(tcp, 1000);

	cr_assert_eq(request_from_port(40000), inet_addr(SNAT), "its own address first");
	cr_assert_eq(request_from_port(40002), inet_addr("198.19.0.2"),
		     "its address's port is taken: the next address");
	cr_assert_eq(request_from_port(40004), 0, "every address taken: no pod connection");
	bool got_503 = false;
	for (uint16_t k = 0; k < nout; k++) {
		struct net_pkt p;
		const struct rte_tcp_hdr *th = out_tcp(k, &p);
		const char *body = (const char *)th + p.l4_len;
		got_503 |= out[k].port == 0 && p.payload_len > 12 &&
			   strncmp(body, "HTTP/1.1 503", 12) == 0;
	}
	cr_assert(got_503, "the client gets a 503");
	cr_assert_eq(stats_sum(STATS_pod_snat_busy), 1);
}

/* ---- a TLS listener: SNI passthrough ------------------------------------------------------ */

/* A segment from the client to port 443 carrying n bytes of data. */
static struct rte_mbuf *tls_seg(uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t *data,
				uint16_t n)
{
	const struct tcp_frame f = {
		.src_mac = &cli,
		.dst_mac = &gw_c,
		.src_ip = inet_addr(CLIENT),
		.dst_ip = inet_addr(VIP),
		.src_port = 40443,
		.dst_port = 443,
		.seq = seq,
		.ack = ack,
		.flags = flags,
		.window = 65535,
		.mss = (flags & RTE_TCP_SYN_FLAG) ? 1460 : 0,
		.payload_len = n,
	};
	struct rte_mbuf *m = tcp_frame_mbuf(pool, &f, (const char *)data);
	cr_assert_not_null(m);
	return m;
}

static uint32_t tls_handshake(uint32_t isn)
{
	feed(0, tls_seg(isn, 0, RTE_TCP_SYN_FLAG, NULL, 0));
	cr_assert_eq(nout, 1);
	struct net_pkt p;
	uint32_t cookie = ntohl(out_tcp(0, &p)->sent_seq);
	feed(0, tls_seg(isn + 1, cookie + 1, RTE_TCP_ACK_FLAG, NULL, 0));
	cr_assert_eq(tcpl_flow_count(tcp), 1);
	return cookie;
}

/* A real ClientHello from OpenSSL's client: SNI name (NULL: none), grown past one segment with
 * an ffdhe8192 key share and a long ALPN list when big. */
static size_t client_hello(const char *name, bool big, uint8_t *out, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(ctx);
	if (name)
		SSL_set_tlsext_host_name(ssl, name);
	if (big) {
		cr_assert_eq(SSL_set1_groups_list(ssl, "ffdhe8192:x25519"), 1);
		uint8_t alpn[1200];
		for (size_t i = 0; i < sizeof(alpn); i += 12) {
			alpn[i] = 11;
			memcpy(alpn + i + 1, "protocol-xx", 11);
		}
		cr_assert_eq(SSL_set_alpn_protos(ssl, alpn, sizeof(alpn)), 0);
	}
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	SSL_set_bio(ssl, rb, wb);
	SSL_connect(ssl);
	char *p;
	long n = BIO_get_mem_data(wb, &p);
	cr_assert(n > 0 && (size_t)n <= cap);
	memcpy(out, p, (size_t)n);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return (size_t)n;
}

/* The same message re-cut into two records, the first carrying `first` bytes of it. */
static size_t two_records(const uint8_t *in, size_t n, size_t first, uint8_t *out)
{
	size_t body = n - 5, second = body - first;
	memcpy(out, in, 5);
	out[3] = (uint8_t)(first >> 8), out[4] = (uint8_t)first;
	memcpy(out + 5, in + 5, first);
	memcpy(out + 5 + first, in, 5);
	out[5 + first + 3] = (uint8_t)(second >> 8), out[5 + first + 4] = (uint8_t)second;
	memcpy(out + 10 + first, in + 5 + first, second);
	return n + 5;
}

/* Send bytes in the given cuts; returns the client's next sequence number. Every segment is
 * acknowledged; the SYN to the pod goes out only with the last one. */
static uint32_t send_cut(uint32_t isn, uint32_t cookie, const uint8_t *b, size_t n,
			 const size_t *cuts, int n_cuts)
{
	size_t at = 0;
	for (int i = 0; i <= n_cuts; i++) {
		size_t end = i < n_cuts ? cuts[i] : n;
		feed(0, tls_seg(isn + 1 + (uint32_t)at, cookie + 1,
				RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, b + at, (uint16_t)(end - at)));
		struct net_pkt p;
		cr_assert_eq(ntohl(out_tcp(0, &p)->recv_ack), isn + 1 + end, "cut %d acked", i);
		if (i < n_cuts)
			cr_assert_eq(nout, 1, "no pod before the hello is whole (cut %d)", i);
		at = end;
	}
	return isn + 1 + (uint32_t)n;
}

/* The pod accepts; returns the bytes delivered to it, concatenated. */
static size_t pod_accepts(uint32_t isn, uint8_t *got, size_t cap)
{
	cr_assert_eq(nout, 2, "ACK to the client and SYN to the pod");
	struct net_pkt p;
	const struct rte_tcp_hdr *syn = out_tcp(1, &p);
	cr_assert_eq(syn->tcp_flags, RTE_TCP_SYN_FLAG);
	cr_assert_eq(p.dst_ip, inet_addr(POD));
	uint16_t sport = ntohs(p.src_port);
	feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, sport, 777000, isn + 1,
		    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, NULL, 1460));
	size_t n = 0;
	for (uint16_t k = 0; k < nout; k++) {
		const struct rte_tcp_hdr *th = out_tcp(k, &p);
		cr_assert_eq(out[k].port, 1);
		if (p.payload_len == 0)
			continue;
		cr_assert_eq(ntohl(th->sent_seq), isn + 1 + n, "in order from the first byte");
		cr_assert_leq(n + p.payload_len, cap);
		memcpy(got + n,
		       rte_pktmbuf_mtod_offset(out[k].m, const uint8_t *,
					       p.l2_len + p.l3_len + p.l4_len),
		       p.payload_len);
		n += p.payload_len;
	}
	return n;
}

Test(tcp, tls_hello_over_two_segments_is_passed_through_byte_exact)
{
	uint8_t hello[8192], got[8192];
	size_t n = client_hello("tls.example", true, hello, sizeof(hello));
	cr_assert_gt(n, 1460, "a hello that needs two segments");
	uint32_t cookie = tls_handshake(5000);
	size_t cut = 1400;
	send_cut(5000, cookie, hello, n, &cut, 1);
	size_t m = pod_accepts(5000, got, sizeof(got));
	cr_assert_eq(m, n);
	cr_assert_arr_eq(got, hello, n, "the pod gets the client's bytes unchanged");
	cr_assert_eq(stats_sum(STATS_tls_passthrough), 1);
	cr_assert_eq(stats_sum(STATS_http_requests), 0, "no HTTP read on a TLS listener");
}

Test(tcp, tls_hello_over_two_records_cut_inside_the_second_header)
{
	uint8_t hello[8192], rec[8192], got[8192];
	size_t n = client_hello("TLS.example", false, hello, sizeof(hello));
	size_t m = two_records(hello, n, 40, rec); /* the SNI lies in the second record */
	uint32_t cookie = tls_handshake(6000);
	size_t cuts[] = {20, 45 + 2}; /* inside the first record; inside the second's header */
	send_cut(6000, cookie, rec, m, cuts, 2);
	cr_assert_eq(pod_accepts(6000, got, sizeof(got)), m);
	cr_assert_arr_eq(got, rec, m);
}

Test(tcp, bytes_after_the_hello_sent_while_connecting_follow_it)
{
	uint8_t hello[8192], got[8192];
	size_t n = client_hello("tls.example", false, hello, sizeof(hello));
	const uint8_t ccs[] = {20, 3, 3, 0, 1, 1};
	uint32_t cookie = tls_handshake(7000);
	uint32_t next = send_cut(7000, cookie, hello, n, NULL, 0);
	struct net_pkt p;
	uint16_t sport = ntohs((out_tcp(1, &p), p.src_port));
	feed(0, tls_seg(next, cookie + 1, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, ccs, sizeof(ccs)));
	feed(1, seg(&pod, &gw_p, POD, SNAT, 8080, sport, 888000, 7001,
		    RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, NULL, 1460));
	size_t m = 0;
	for (uint16_t k = 0; k < nout; k++) {
		out_tcp(k, &p);
		memcpy(got + m,
		       rte_pktmbuf_mtod_offset(out[k].m, const uint8_t *,
					       p.l2_len + p.l3_len + p.l4_len),
		       p.payload_len);
		m += p.payload_len;
	}
	cr_assert_eq(m, n + sizeof(ccs), "the hello and the record after it, not framed as HTTP");
	cr_assert_arr_eq(got + n, ccs, sizeof(ccs));
}

/* The gateway's answer to a hello it does not pass through: an alert with FIN, no pod. */
static void expect_alert(uint8_t description)
{
	cr_assert_eq(nout, 2, "ACK, then the alert with FIN (and no SYN to a pod)");
	struct net_pkt p;
	const struct rte_tcp_hdr *th = out_tcp(1, &p);
	cr_assert_eq(out[1].port, 0);
	cr_assert(th->tcp_flags & RTE_TCP_FIN_FLAG);
	cr_assert_eq(p.payload_len, 7);
	const uint8_t *a =
		rte_pktmbuf_mtod_offset(out[1].m, const uint8_t *, p.l2_len + p.l3_len + p.l4_len);
	const uint8_t want[] = {21, 3, 3, 0, 2, 2, description};
	cr_assert_arr_eq(a, want, 7);
}

Test(tcp, unknown_server_name_gets_unrecognized_name)
{
	uint8_t hello[8192];
	size_t n = client_hello("shop.example", false, hello, sizeof(hello));
	uint32_t cookie = tls_handshake(8000);
	send_cut(8000, cookie, hello, n, NULL, 0);
	expect_alert(112);
	cr_assert_eq(stats_sum(STATS_tls_no_route), 1, "an HTTP host is not passed through");
}

Test(tcp, hello_without_a_server_name_gets_unrecognized_name)
{
	uint8_t hello[8192];
	size_t n = client_hello(NULL, false, hello, sizeof(hello));
	uint32_t cookie = tls_handshake(8100);
	send_cut(8100, cookie, hello, n, NULL, 0);
	expect_alert(112);
	cr_assert_eq(stats_sum(STATS_tls_no_server_name), 1);
}

Test(tcp, http_on_the_tls_port_gets_decode_error)
{
	const char *req = "GET / HTTP/1.1\r\nHost: tls.example\r\n\r\n";
	uint32_t cookie = tls_handshake(8200);
	send_cut(8200, cookie, (const uint8_t *)req, strlen(req), NULL, 0);
	expect_alert(50);
	cr_assert_eq(stats_sum(STATS_tls_hello_refused), 1);
}

Test(tcp, a_hello_that_outgrows_the_buffer_is_refused)
{
	/* A record header announcing more than the request buffer holds: refused at once. */
	uint8_t b[64] = {22, 3, 1, 0x40, 0x00, 1, 0x00, 0x7f, 0xfc};
	uint32_t cookie = tls_handshake(8300);
	send_cut(8300, cookie, b, 9, NULL, 0);
	expect_alert(50);
	cr_assert_eq(stats_sum(STATS_tls_hello_refused), 1);
}
