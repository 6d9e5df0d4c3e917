/*
 * tcp_bench: cycles per spliced packet (each way) and per one-request connection (every packet
 * of both sides), measured on crafted packets through tcpl_input_burst, with the ports' checksum
 * work done in software (af_packet, memif, tap) and by NIC offload (mlx5, ice...) side by side.
 * Only the engine's call is timed; refilling packets from templates is not.
 * Usage: tcp_bench [connections]   (default 20000)
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_tcp.h>

#include "alog/alog.h"
#include "control/control.h"
#include "stats/stats.h"
#include "tcp/tcp.h"
#include "tcp_frame.h"

static struct rte_mempool *pool;
static const struct rte_ether_addr gw_c = {{2, 0, 0, 0, 0, 1}}, gw_p = {{2, 0, 0, 0, 0, 2}};
static const struct rte_ether_addr cli = {{2, 0, 0, 0, 0, 3}}, podmac = {{2, 0, 0, 0, 0, 4}};

static struct rte_mbuf *seg(int to_pod_side, uint32_t sip, uint32_t dip, uint16_t sport,
			    uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
			    uint16_t plen, const char *payload)
{
	static char filler[2048];
	if (filler[0] == 0)
		memset(filler, 'x', sizeof(filler));
	const struct tcp_frame f = {
		.src_mac = to_pod_side ? &podmac : &cli,
		.dst_mac = to_pod_side ? &gw_p : &gw_c,
		.src_ip = sip,
		.dst_ip = dip,
		.src_port = sport,
		.dst_port = dport,
		.seq = seq,
		.ack = ack,
		.flags = flags,
		.window = 65535,
		.mss = (flags & RTE_TCP_SYN_FLAG) ? 1460 : 0,
		.payload_len = plen,
	};
	return tcp_frame_mbuf(pool, &f, payload ? payload : filler);
}

struct setup {
	struct tcpl_ctx *tcp;
	struct route_table *routes;
	struct net_neigh *neigh;
	struct crypto_keys keys;
	struct crypto_ctx *crypto;
	struct net_local c, p;
	struct conf_port pc;
	struct rte_ring *alog; /* the access log's ring, when on */
};

static void make(struct setup *s, unsigned offloads, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->c = (struct net_local){.mac = gw_c, .n_vips = 1};
	s->c.vips[0] = inet_addr("198.18.0.10");
	s->p = (struct net_local){.mac = gw_p, .n_snat = 1};
	s->p.snat[0] = inet_addr("198.19.0.1");
	conf_parse_prefix("198.19.0.0/16", &s->pc.subnets[0]);
	s->pc.n_subnets = 1;
	uint64_t hz = rte_get_tsc_hz();
	char nn[32];
	snprintf(nn, sizeof(nn), "%s_n", name);
	s->neigh = net_neigh_create(nn, 64, SOCKET_ID_ANY, hz * 3600, hz);
	net_neigh_learn(s->neigh, inet_addr("198.19.0.11"), &podmac, 0, true);
	struct route_builder *b = route_builder_new();
	struct lb_endpoint ep = {inet_addr("198.19.0.11"), 8080, true, true, false};
	route_builder_add_pool(b, "t", "web", "80", &ep, 1);
	route_builder_add_rule(b, "shop.example", "/", ROUTE_PREFIX, 0, "t", "i");
	s->routes = route_builder_finish(b);
	s->crypto = crypto_ctx_create();
	crypto_keys_rotate(s->crypto, &s->keys, NULL, crypto_cookie_count(1000));
	struct tcpl_config cfg = tcpl_config_default(hz);
	cfg.buffers = 4096;
	cfg.max_flows = 65536;
	struct tcpl_port ports[2] = {{&s->c, NULL, offloads, 1460},
				     {&s->p, &s->pc, offloads, 1460}};
	char err[128];
	s->tcp = tcpl_create(name, &cfg, ports, 2, pool, s->neigh, stats_self(), SOCKET_ID_ANY, err,
			     sizeof(err));
	if (s->tcp == NULL) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	route_table_set_series(s->routes, tcpl_series_of, NULL);
	tcpl_set_routes(s->tcp, s->routes);
	tcpl_set_keys(s->tcp, &s->keys);
	tcpl_set_seconds(s->tcp, 1000);
}

static uint64_t total_cycles, total_packets;

/* Feed one packet, time it, free what comes out; returns output k's TCP header fields. */
/* Cycles per packet of the one-request connection, by its place in the sequence. */
static uint64_t step_cycles[7];
static unsigned step;
static const char *const step_names[7] = {
	"client SYN -> SYN-ACK cookie",	 "client ACK -> flow created",
	"request -> routed, SYN to pod", "pod SYN-ACK -> ACK + request",
	"pod response + FIN -> client",	 "client ACK + FIN -> pod",
	"pod final ACK -> linger"};

static uint16_t run1(struct setup *s, uint16_t pi, struct rte_mbuf *m, uint64_t now,
		     struct tcpl_out *out)
{
	struct net_pkt p;
	enum net_drop_reason why;
	net_parse(m, &p, &why);
	uint64_t t0 = rte_rdtsc();
	uint16_t n = tcpl_input_burst(s->tcp, pi, &m, &p, 1, now, out, 16);
	uint64_t d = rte_rdtsc() - t0;
	total_cycles += d;
	step_cycles[step < 7 ? step : 6] += d;
	step++;
	total_packets++;
	return n;
}

static uint32_t out_seq(const struct tcpl_out *o, int ack)
{
	const struct rte_tcp_hdr *th =
		rte_pktmbuf_mtod_offset(o->m, const struct rte_tcp_hdr *, 14 + 20);
	return ntohl(ack ? th->recv_ack : th->sent_seq);
}

static void free_out(struct tcpl_out *o, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++)
		rte_pktmbuf_free(o[i].m);
}

/* One whole connection: handshake, request, pod connect, response, close. */
static double connection_cost(struct setup *s, unsigned conns)
{
	const char *req = "GET /index.html HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: bench\r\n"
			  "Accept: */*\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	uint16_t rl = (uint16_t)strlen(req), pl = (uint16_t)strlen(resp);
	uint32_t C = inet_addr("198.18.0.2"), V = inet_addr("198.18.0.10");
	uint32_t S = inet_addr("198.19.0.1"), P = inet_addr("198.19.0.11");
	struct tcpl_out out[16];
	total_cycles = total_packets = 0;
	/* Runs follow each other in time, with fresh ports and ISNs: a run never meets the
	 * lingering connections of the one before. */
	static uint64_t now;
	static uint32_t run;
	now = now ? now + rte_get_tsc_hz() * 10 : rte_get_tsc_hz() * 1000;
	run++;
	memset(step_cycles, 0, sizeof(step_cycles));
	for (unsigned i = 0; i < conns; i++) {
		step = 0;
		uint16_t cp = (uint16_t)(10000 + (i + run * 7001u) % 50000);
		uint32_t isn = 1000 + i * 7919 + run * 100000007u;
		uint16_t n = run1(s, 0, seg(0, C, V, cp, 80, isn, 0, RTE_TCP_SYN_FLAG, 0, NULL),
				  now, out);
		uint32_t cookie = out_seq(&out[0], 0);
		free_out(out, n);
		n = run1(s, 0, seg(0, C, V, cp, 80, isn + 1, cookie + 1, RTE_TCP_ACK_FLAG, 0, NULL),
			 now, out);
		free_out(out, n);
		n = run1(s, 0,
			 seg(0, C, V, cp, 80, isn + 1, cookie + 1,
			     RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, rl, req),
			 now, out);
		const struct rte_tcp_hdr *syn =
			rte_pktmbuf_mtod_offset(out[n - 1].m, const struct rte_tcp_hdr *, 34);
		if (n == 0 || out[n - 1].port != 1 || syn->tcp_flags != RTE_TCP_SYN_FLAG) {
			fprintf(stderr, "connection %u did not reach its pod\n", i);
			exit(1);
		}
		uint16_t sp = ntohs(syn->src_port);
		free_out(out, n);
		uint32_t y = 5000000 + i;
		n = run1(s, 1,
			 seg(1, P, S, 8080, sp, y, isn + 1, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 0,
			     NULL),
			 now, out);
		free_out(out, n);
		n = run1(s, 1,
			 seg(1, P, S, 8080, sp, y + 1, isn + 1 + rl,
			     RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG | RTE_TCP_FIN_FLAG, pl, resp),
			 now, out);
		free_out(out, n);
		n = run1(s, 0,
			 seg(0, C, V, cp, 80, isn + 1 + rl, cookie + 2 + pl,
			     RTE_TCP_ACK_FLAG | RTE_TCP_FIN_FLAG, 0, NULL),
			 now, out);
		free_out(out, n);
		n = run1(
			s, 1,
			seg(1, P, S, 8080, sp, y + 2 + pl, isn + 2 + rl, RTE_TCP_ACK_FLAG, 0, NULL),
			now, out);
		free_out(out, n);
		/* Closed flows linger; let aging reclaim them as the run goes. The access log's
		 * records (when on) are taken out as its writer would. */
		if (i % 1024 == 1023) {
			static struct alog_rec recs[64];
			while (s->alog && rte_ring_sc_dequeue_burst_elem(
						  s->alog, recs, sizeof(recs[0]), 64, NULL) > 0)
				;
			now += rte_get_tsc_hz() * 3;
			struct tcpl_out o[64];
			for (int k = 0; k < 300; k++) {
				now += rte_get_tsc_hz() / 10;
				free_out(o, tcpl_tick(s->tcp, now, o, 64));
			}
		}
	}
	return (double)total_cycles / conns;
}

/* Spliced data packets, 32 per burst, one established flow, each way. */
static void splice_cost(struct setup *s, double *to_client, double *to_pod)
{
	uint32_t C = inet_addr("198.18.0.2"), V = inet_addr("198.18.0.10");
	uint32_t S = inet_addr("198.19.0.1"), P = inet_addr("198.19.0.11");
	struct tcpl_out out[64];
	uint64_t now = rte_get_tsc_hz() * 2000;
	const char *req = "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n";
	uint16_t rl = (uint16_t)strlen(req);
	uint16_t n = run1(s, 0, seg(0, C, V, 7777, 80, 1, 0, RTE_TCP_SYN_FLAG, 0, NULL), now, out);
	uint32_t cookie = out_seq(&out[0], 0);
	free_out(out, n);
	free_out(out, run1(s, 0, seg(0, C, V, 7777, 80, 2, cookie + 1, RTE_TCP_ACK_FLAG, 0, NULL),
			   now, out));
	n = run1(s, 0, seg(0, C, V, 7777, 80, 2, cookie + 1, RTE_TCP_ACK_FLAG, rl, req), now, out);
	uint16_t sp = ntohs(
		rte_pktmbuf_mtod_offset(out[n - 1].m, const struct rte_tcp_hdr *, 34)->src_port);
	free_out(out, n);
	free_out(out,
		 run1(s, 1,
		      seg(1, P, S, 8080, sp, 900, 2, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 0, NULL),
		      now, out));
	free_out(out, run1(s, 1, seg(1, P, S, 8080, sp, 901, 2 + rl, RTE_TCP_ACK_FLAG, 0, NULL),
			   now, out));

	static char payload[1400];
	memset(payload, 'p', sizeof(payload));
	const int rounds = 20000;
	struct rte_mbuf *burst[32];
	struct net_pkt info[32];
	enum net_drop_reason why;
	for (int dir = 0; dir < 2; dir++) {
		uint64_t cyc = 0;
		for (int r = 0; r < rounds; r++) {
			for (int k = 0; k < 32; k++) {
				burst[k] = dir == 0 ? seg(1, P, S, 8080, sp, 901 + k * 1400u,
							  2 + rl, RTE_TCP_ACK_FLAG, 1400, payload)
						    : seg(0, C, V, 7777, 80, 2 + rl,
							  cookie + 1 + k * 1400u, RTE_TCP_ACK_FLAG,
							  0, NULL);
				net_parse(burst[k], &info[k], &why);
			}
			uint64_t t0 = rte_rdtsc();
			n = tcpl_input_burst(s->tcp, dir == 0 ? 1 : 0, burst, info, 32, now, out,
					     64);
			cyc += rte_rdtsc() - t0;
			free_out(out, n);
		}
		*(dir == 0 ? to_client : to_pod) = (double)cyc / (rounds * 32.0);
	}
}

int main(int argc, char **argv)
{
	unsigned conns = argc > 1 ? (unsigned)atoi(argv[1]) : 20000;
	char *eal[] = {"tcp_bench", "--no-huge",	 "--no-shconf", "--no-pci", "-m",
		       "1024",	    "--log-level=error", "-l",		"0",	    NULL};
	if (rte_eal_init(9, eal) < 0)
		return 1;
	pool = rte_pktmbuf_pool_create("bench", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	stats_series_init(64);
	static struct setup sw, hw, lg;
	make(&sw, 0, "sw");
	make(&hw, NET_OFFLOAD_IPV4_CKSUM | NET_OFFLOAD_TCP_CKSUM, "hw");
	make(&lg, NET_OFFLOAD_IPV4_CKSUM | NET_OFFLOAD_TCP_CKSUM, "lg");
	lg.alog = rte_ring_create_elem("bench_alog", sizeof(struct alog_rec), 16384, SOCKET_ID_ANY,
				       RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
	if (lg.alog == NULL || tcpl_set_access_log(lg.tcp, lg.alog, 1, 0) != 0)
		return 1;
	double sw_c, sw_p, hw_c, hw_p;
	splice_cost(&sw, &sw_c, &sw_p);
	splice_cost(&hw, &hw_c, &hw_p);
	double sw_conn = connection_cost(&sw, conns);
	uint64_t sw_steps[7];
	memcpy(sw_steps, step_cycles, sizeof(sw_steps));
	double hw_conn = connection_cost(&hw, conns);
	printf("tsc %.2f GHz; spliced packets in bursts of 32; %u one-request connections\n",
	       (double)rte_get_tsc_hz() / 1e9, conns);
	printf("%-44s %12s %12s\n", "", "sw checksum", "NIC offload");
	printf("%-44s %12.1f %12.1f\n", "spliced 1400 B data, pod -> client (cyc/pkt)", sw_c, hw_c);
	printf("%-44s %12.1f %12.1f\n", "spliced ACK, client -> pod (cyc/pkt)", sw_p, hw_p);
	printf("%-44s %12.0f %12.0f\n", "one-request connection, 7 packets (cyc/conn)", sw_conn,
	       hw_conn);
	for (int k = 0; k < 7; k++)
		printf("  %-42s %12.0f %12.0f\n", step_names[k], (double)sw_steps[k] / conns,
		       (double)step_cycles[k] / conns);
	/* The access log's cost: the same connections with it off and on, alternating, best of
	 * three each (NIC offload). */
	double off = 1e18, on = 1e18;
	for (int r = 0; r < 3; r++) {
		double a = connection_cost(&hw, conns), b = connection_cost(&lg, conns);
		off = a < off ? a : off;
		on = b < on ? b : on;
	}
	printf("%-44s %12.0f %12.0f\n", "one-request connection, access log off / on", off, on);
	printf("%-44s %12.0f %11.1f%%\n", "  access log cost (cyc/request, share)", on - off,
	       100.0 * (on - off) / off);
	printf("  records written %lu, dropped %lu\n",
	       (unsigned long)stats_sum(STATS_access_log_records),
	       (unsigned long)stats_sum(STATS_access_log_dropped));
	return 0;
}
