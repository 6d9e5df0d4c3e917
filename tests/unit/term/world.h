/*
 * world.h: an in-memory world for lib/term's tests — four TCP endpoints on one lossless link:
 * the client's leg (the test puts OpenSSL's client over it), the gateway's two legs inside a
 * term_conn, and the pods'. Segments go out to one queue and are delivered in order; the
 * including file keeps its own pods and defines pod_segment() for what reaches them.
 */
#ifndef SLUICE_TEST_TERM_WORLD_H
#define SLUICE_TEST_TERM_WORLD_H

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "term/term.h"

static struct rte_mempool *pool;

/* EAL without hugepages and a pool for every leg (once per process). */
static void world_eal(const char *prefix)
{
	static bool eal;
	if (!eal) {
		char arg[96];
		snprintf(arg, sizeof(arg), "--file-prefix=%s", prefix);
		char *argv[] = {"test", "--no-huge",	     "--no-shconf", "--no-pci", "-m",
				"256",	"--log-level=error", arg,	    NULL};
		cr_assert_geq(rte_eal_init(8, argv), 0);
		eal = true;
	}
	if (pool == NULL)
		pool = rte_pktmbuf_pool_create("tterm", 8191, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					       SOCKET_ID_ANY);
	cr_assert_not_null(pool);
}

static uint64_t rng = 7;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

#define IP_CLIENT RTE_BE32(0xc6120001) /* 198.18.0.1 */
#define IP_GW	  RTE_BE32(0xc6120002)
#define IP_SNAT	  RTE_BE32(0xc6120003)
#define IP_POD	  RTE_BE32(0xc6120101) /* 198.18.1.1 */
#define PORT_GW	  RTE_BE16(443)

static struct stream_cfg cfg;
static struct term_env env;
static struct term_conn *tc;
static bool gw_open;
static struct stream_leg client;
static uint16_t snat_port = 50000;
static struct rte_mbuf *outv[1024];
static struct stream_out out = {outv, 0, 1024};
static struct rte_mbuf *queue[8192];
static unsigned qn;
static uint32_t now;

/* a.example → 198.18.1.1:8080, b.example → :8081; nothing else has a route. */
static bool route(void *ctx, const char *host, size_t hl, const char *path, size_t pl,
		  struct term_pod *pod)
{
	(void)ctx, (void)path, (void)pl;
	pod->ip = IP_POD;
	if (hl == 9 && strncasecmp(host, "a.example", 9) == 0) {
		pod->port = RTE_BE16(8080), pod->id = 1;
		return true;
	}
	if (hl == 9 && strncasecmp(host, "b.example", 9) == 0) {
		pod->port = RTE_BE16(8081), pod->id = 2;
		return true;
	}
	return false;
}

static bool source(void *ctx, const struct term_pod *pod, uint32_t *ip, uint16_t *port,
		   uint32_t *iss)
{
	(void)ctx, (void)pod;
	*ip = IP_SNAT;
	*port = rte_cpu_to_be_16(snat_port++);
	*iss = rnd();
	return true;
}

/* What the endpoints sent, onto the link. */
static void take_out(void)
{
	for (uint16_t i = 0; i < out.n; i++) {
		cr_assert_lt(qn, sizeof(queue) / sizeof(queue[0]));
		queue[qn++] = out.pkts[i];
	}
	out.n = 0;
}

/* A segment for the pods' address (s: what it says if it is a SYN). Defined by the test. */
static void pod_segment(struct rte_mbuf *m, const struct net_pkt *p, const struct stream_syn *s,
			bool syn);

/* One segment off the link to its endpoint. */
static void deliver(struct rte_mbuf *m)
{
	struct rte_ether_hdr *eh =
		(struct rte_ether_hdr *)rte_pktmbuf_prepend(m, sizeof(struct rte_ether_hdr));
	memset(eh, 0, sizeof(*eh));
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	struct net_pkt p;
	enum net_drop_reason why;
	cr_assert_eq(net_parse(m, &p, &why), NET_CLASS_TCP, "%s", net_drop_reason_name(why));
	bool syn = (p.tcp_flags & (NET_TCP_SYN | NET_TCP_ACK)) == NET_TCP_SYN;
	struct stream_syn s;
	stream_syn_of(m, &p, &s);
	if (p.dst_ip == IP_CLIENT) {
		stream_input(&client, m, &p, now, &out);
	} else if (p.dst_ip == IP_GW) {
		if (!gw_open && syn) {
			memset(tc, 0, sizeof(*tc));
			cr_assert(stream_accept(&tc->client, &cfg, &s, rnd(), now, &out));
			cr_assert(term_start(tc, &env, 443, now));
			gw_open = true;
		} else if (gw_open) {
			term_client_input(tc, m, &p, now, &out, &out);
		}
	} else if (p.dst_ip == IP_SNAT) {
		if (gw_open && tc->pod_open && p.dst_port == tc->pod.local_port)
			term_pod_input(tc, m, &p, now, &out, &out);
	} else if (p.dst_ip == IP_POD) {
		pod_segment(m, &p, &s, syn);
	}
	rte_pktmbuf_free(m);
	take_out();
}

/* TLS bytes between the client's BIO pair (its network side) and the client's leg. */
static void client_pipe(BIO *net)
{
	static uint8_t netbuf[1 << 17];
	size_t pend = BIO_ctrl_pending(net), cap = stream_writable(&client);
	if (pend > cap)
		pend = cap;
	if (pend > sizeof(netbuf))
		pend = sizeof(netbuf);
	int k = pend ? BIO_read(net, netbuf, (int)pend) : 0;
	if (k > 0)
		cr_assert_eq(stream_write(&client, netbuf, (uint32_t)k), (uint32_t)k);
	uint32_t room = (uint32_t)BIO_ctrl_get_write_guarantee(net);
	uint32_t got = stream_read(&client, netbuf, room < sizeof(netbuf) ? room : sizeof(netbuf));
	if (got)
		BIO_write(net, netbuf, (int)got);
}

/* The link: everything queued goes, in order; what the deliveries queue waits for the next
 * call. */
static void link_run(void)
{
	for (unsigned i = 0; i < qn; i++) {
		struct rte_mbuf *m = queue[i];
		queue[i] = NULL;
		deliver(m);
	}
	unsigned w = 0;
	for (unsigned i = 0; i < qn; i++)
		if (queue[i])
			queue[w++] = queue[i];
	qn = w;
}

#endif
