/*
 * term_bench: HTTPS keep-alive requests through a terminated connection (lib/term), the
 * gateway's CPU per request. One TLS connection from OpenSSL's client over a lib/stream leg,
 * the gateway's term_conn, and a pod leg answering every request with a fixed 200; segments
 * cross an in-memory link. Only the gateway's calls are timed (term_client_input,
 * term_pod_input, term_pump): its TLS, HTTP parsing, routing, header rewrite and both TCP legs.
 * Prints one JSON object; perf/term/vs-nginx.sh puts nginx's CPU per proxied request beside it.
 *
 *   term_bench [--requests N] [--body BYTES]
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <x86intrin.h>

#include "term/term.h"

#define IP_CLIENT RTE_BE32(0xc6120001)
#define IP_GW	  RTE_BE32(0xc6120002)
#define IP_SNAT	  RTE_BE32(0xc6120003)
#define IP_POD	  RTE_BE32(0xc6120101)

static struct rte_mempool *pool;
static struct stream_cfg cfg;
static struct term_env env;
static struct term_conn *tc;
static bool gw_open;
static struct stream_leg client, pod;
static bool pod_open;
static uint32_t now = 1;
static struct rte_mbuf *outv[1024];
static struct stream_out out = {outv, 0, 1024};
static struct rte_mbuf *queue[16384];
static unsigned qn;
static uint64_t gw_cycles;
static char response[65536 + 256];
static int response_len;
static uint8_t pod_in[65536];
static uint32_t pod_in_len;
static uint64_t served;

static bool route(void *ctx, const char *h, size_t hl, const char *p, size_t pl,
		  struct term_pod *tp)
{
	(void)ctx, (void)h, (void)hl, (void)p, (void)pl;
	tp->ip = IP_POD, tp->port = RTE_BE16(8080), tp->id = 1;
	return true;
}

static bool source(void *ctx, const struct term_pod *p, uint32_t *ip, uint16_t *port, uint32_t *iss)
{
	(void)ctx, (void)p;
	*ip = IP_SNAT, *port = RTE_BE16(50000), *iss = 12345;
	return true;
}

static void take(void)
{
	for (uint16_t i = 0; i < out.n; i++)
		queue[qn++] = out.pkts[i];
	out.n = 0;
}

/* The pod: every complete head (no bodies in this bench) gets the fixed response. */
static void pod_serve(void)
{
	pod_in_len += stream_read(&pod, pod_in + pod_in_len, (uint32_t)sizeof(pod_in) - pod_in_len);
	for (;;) {
		uint8_t *e = memmem(pod_in, pod_in_len, "\r\n\r\n", 4);
		if (e == NULL)
			break;
		uint32_t n = (uint32_t)(e - pod_in) + 4;
		memmove(pod_in, pod_in + n, pod_in_len - n);
		pod_in_len -= n;
		if (stream_write(&pod, response, (uint32_t)response_len) !=
		    (uint32_t)response_len) {
			fprintf(stderr, "term_bench: the pod's ring is full\n");
			exit(1);
		}
		served++;
	}
	stream_output(&pod, now, &out);
	take();
}

static void deliver(struct rte_mbuf *m)
{
	struct rte_ether_hdr *eh =
		(struct rte_ether_hdr *)rte_pktmbuf_prepend(m, sizeof(struct rte_ether_hdr));
	memset(eh, 0, sizeof(*eh));
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	struct net_pkt p;
	enum net_drop_reason why;
	if (net_parse(m, &p, &why) != NET_CLASS_TCP) {
		fprintf(stderr, "term_bench: %s\n", net_drop_reason_name(why));
		exit(1);
	}
	bool syn = (p.tcp_flags & (NET_TCP_SYN | NET_TCP_ACK)) == NET_TCP_SYN;
	struct stream_syn s;
	stream_syn_of(m, &p, &s);
	uint64_t t0 = __rdtsc();
	if (p.dst_ip == IP_CLIENT) {
		stream_input(&client, m, &p, now, &out);
	} else if (p.dst_ip == IP_GW) {
		if (!gw_open && syn) {
			stream_accept(&tc->client, &cfg, &s, 777, now, &out);
			term_start(tc, &env, 443, now);
			gw_open = true;
		} else {
			term_client_input(tc, m, &p, now, &out, &out);
		}
		gw_cycles += __rdtsc() - t0;
	} else if (p.dst_ip == IP_SNAT) {
		term_pod_input(tc, m, &p, now, &out, &out);
		gw_cycles += __rdtsc() - t0;
	} else if (p.dst_ip == IP_POD) {
		if (!pod_open && syn) {
			stream_accept(&pod, &cfg, &s, 999, now, &out);
			pod_open = true;
		} else {
			stream_input(&pod, m, &p, now, &out);
			pod_serve();
		}
	}
	rte_pktmbuf_free(m);
	take();
}

int main(int argc, char **argv)
{
	uint64_t requests = 20000;
	int body = 100;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--requests"))
			requests = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--body"))
			body = atoi(argv[i + 1]);
	}
	if (body < 0 || body > 65536)
		return 2;
	char *eal[] = {"term_bench", "--no-huge", "--no-shconf",       "--no-pci",
		       "-m",	     "256",	  "--log-level=error", "--file-prefix=term-bench",
		       NULL};
	if (rte_eal_init(8, eal) < 0)
		return 1;
	pool = rte_pktmbuf_pool_create("tb", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	char why[200] = "";
	struct tls_cert *cert = tls_cert_self_signed("a.example", why, sizeof(why));
	struct tls_certs *certs = tls_certs_new();
	tls_certs_set_default(certs, cert);
	tls_cert_unref(cert);
	struct tls_server *srv = tls_server_new(why, sizeof(why));
	if (pool == NULL || srv == NULL)
		return 1;
	tls_server_set_certs(srv, certs);
	cfg = (struct stream_cfg){.pool = pool, .ts = true, .sack = true, .ws = true};
	stream_cfg_defaults(&cfg);
	env = (struct term_env){.tls = srv,
				.client_cfg = &cfg,
				.pod_cfg = &cfg,
				.limits = {8192, 8192, 100, true},
				.idle_ms = 600000,
				.route = route,
				.source = source};
	tc = calloc(1, sizeof(*tc));
	response_len = snprintf(response, 256,
				"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				"Content-Length: %d\r\n\r\n",
				body);
	memset(response + response_len, 'x', (size_t)body);
	response_len += body;

	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(cctx);
	BIO *ssl_side, *net;
	BIO_new_bio_pair(&ssl_side, 1 << 17, &net, 1 << 17);
	SSL_set_bio(ssl, ssl_side, ssl_side);
	SSL_set_connect_state(ssl);
	SSL_set_tlsext_host_name(ssl, "a.example");
	stream_connect(&client, &cfg, IP_CLIENT, RTE_BE16(40000), IP_GW, RTE_BE16(443), 555, now,
		       &out);
	take();
	static const char req[] = "GET /bench HTTP/1.1\r\nHost: a.example\r\nUser-Agent: bench\r\n"
				  "Accept: */*\r\n\r\n";
	static uint8_t netbuf[1 << 17], rbuf[1 << 17];
	uint64_t asked = 0, answered_bytes = 0, per = (uint64_t)response_len;
	uint64_t warm = requests / 10, t_start = 0, c_start = 0;
	struct timespec w0, w1;
	for (uint64_t step = 0; answered_bytes < (requests + warm) * per && step < 100000000;
	     step++) {
		now += (step & 63) == 0; /* a millisecond now and then: timers stay quiet */
		if (!SSL_is_init_finished(ssl)) {
			SSL_do_handshake(ssl);
		} else if (asked * per == answered_bytes) { /* one request at a time */
			size_t w;
			if (SSL_write_ex(ssl, req, sizeof(req) - 1, &w) == 1)
				asked++;
		}
		size_t r;
		while (SSL_read_ex(ssl, rbuf, sizeof(rbuf), &r) == 1)
			answered_bytes += r;
		ERR_clear_error();
		if (t_start == 0 && answered_bytes >= warm * per && warm > 0) {
			t_start = served;
			c_start = gw_cycles;
			clock_gettime(CLOCK_MONOTONIC, &w0);
		}
		size_t pend = BIO_ctrl_pending(net), cap = stream_writable(&client);
		pend = pend < cap ? pend : cap;
		int k = pend ? BIO_read(net, netbuf,
					(int)(pend < sizeof(netbuf) ? pend : sizeof(netbuf)))
			     : 0;
		if (k > 0)
			stream_write(&client, netbuf, (uint32_t)k);
		uint32_t room = (uint32_t)BIO_ctrl_get_write_guarantee(net);
		uint32_t n =
			stream_read(&client, netbuf, room < sizeof(netbuf) ? room : sizeof(netbuf));
		if (n)
			BIO_write(net, netbuf, (int)n);
		stream_output(&client, now, &out);
		take();
		if (gw_open) {
			uint64_t t0 = __rdtsc();
			term_pump(tc, now, &out, &out);
			gw_cycles += __rdtsc() - t0;
		}
		take();
		for (unsigned i = 0; i < qn; i++)
			deliver(queue[i]);
		qn = 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &w1);
	double secs = (double)(w1.tv_sec - w0.tv_sec) + (double)(w1.tv_nsec - w0.tv_nsec) * 1e-9;
	uint64_t reqs = served - t_start, cyc = gw_cycles - c_start;
	if (reqs == 0 || tc->n.requests < requests) {
		fprintf(stderr, "term_bench: only %llu requests went through\n",
			(unsigned long long)tc->n.requests);
		return 1;
	}
	/* TSC rate from this run's own window. */
	double hz = 0;
	{
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		uint64_t c0 = __rdtsc();
		do
			clock_gettime(CLOCK_MONOTONIC, &b);
		while ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9 <
		       0.2);
		hz = (double)(__rdtsc() - c0) /
		     ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9);
	}
	printf("{\"requests\":%llu,\"body\":%d,\"gateway_cycles_per_request\":%.0f,"
	       "\"gateway_us_per_request\":%.2f,\"wall_requests_per_s\":%.0f,\"tsc_hz\":%.0f}\n",
	       (unsigned long long)reqs, body, (double)cyc / (double)reqs,
	       (double)cyc / (double)reqs / hz * 1e6, (double)reqs / secs, hz);
	return 0;
}
