/*
 * net_bench: cycles per packet for the parser and the worker's burst function, side by side in
 * one run so the ratios hold on a noisy shared machine.
 *
 *   parse, software checksums   net_parse_burst over 32-packet bursts of TCP ACKs with 512-byte
 *                               payloads, checksums verified in software (af_packet, tap, memif)
 *   parse, NIC-verified         the same frames flagged RX_*_CKSUM_GOOD (mlx5, ice, i40e)
 *   worker ICMP echo            worker_process_burst answering pings (parse + reply in place)
 *
 * Output: one line per case with cycles/packet and the ratio to the first case.
 * Usage: net_bench [iterations]   (default 200000 bursts per case)
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "net/net.h"
#include "worker/worker.h"

#define BURST 32

static struct rte_mempool *pool;

static struct rte_mbuf *tcp_frame(uint16_t payload)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint16_t len = (uint16_t)(14 + 20 + 20 + payload);
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, len);
	memset(d, 0, len);
	struct rte_ether_hdr *eh = (void *)d;
	eh->src_addr.addr_bytes[0] = 2;
	eh->ether_type = htons(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = (void *)(eh + 1);
	ip->version_ihl = 0x45;
	ip->total_length = htons((uint16_t)(len - 14));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = inet_addr("198.18.0.2");
	ip->dst_addr = inet_addr("198.18.0.10");
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	struct rte_tcp_hdr *th = (void *)(ip + 1);
	th->src_port = htons(40000);
	th->dst_port = htons(80);
	th->data_off = 0x50;
	th->tcp_flags = RTE_TCP_ACK_FLAG;
	th->rx_win = htons(65535);
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	return m;
}

static struct rte_mbuf *echo_frame(void)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint16_t len = 14 + 20 + 8 + 56;
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, len);
	memset(d, 0, len);
	struct rte_ether_hdr *eh = (void *)d;
	eh->src_addr.addr_bytes[0] = 2;
	eh->ether_type = htons(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = (void *)(eh + 1);
	ip->version_ihl = 0x45;
	ip->total_length = htons((uint16_t)(len - 14));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_ICMP;
	ip->src_addr = inet_addr("198.18.0.2");
	ip->dst_addr = inet_addr("198.18.0.10");
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	uint8_t *ic = (uint8_t *)(ip + 1);
	ic[0] = 8;
	uint16_t ck = (uint16_t)~rte_raw_cksum(ic, 64);
	memcpy(ic + 2, &ck, 2);
	return m;
}

static double bench_parse(struct rte_mbuf **pkts, long iters)
{
	struct net_pkt p[BURST];
	enum net_class c[BURST];
	enum net_drop_reason w[BURST];
	uint64_t t0 = rte_rdtsc_precise();
	for (long i = 0; i < iters; i++) {
		net_parse_burst(pkts, BURST, p, c, w);
		if (c[i & (BURST - 1)] != NET_CLASS_TCP) {
			fprintf(stderr, "unexpected class\n");
			exit(1);
		}
	}
	return (double)(rte_rdtsc_precise() - t0) / ((double)iters * BURST);
}

static double bench_echo(long iters)
{
	static struct worker_ctx ctx;
	static struct net_local local;
	local.vips[local.n_vips++] = inet_addr("198.18.0.10");
	ctx.pool = pool;
	ctx.stats = stats_self();
	ctx.n_ports = 1;
	ctx.ports[0].local = &local;
	ctx.neigh = net_neigh_create("bench", 64, SOCKET_ID_ANY, 1ull << 40, 1ull << 30);
	struct rte_mbuf *pkts[BURST];
	for (int i = 0; i < BURST; i++)
		pkts[i] = echo_frame();
	uint64_t total = 0;
	for (long i = 0; i < iters; i++) {
		uint64_t t0 = rte_rdtsc();
		worker_process_burst(&ctx, 0, pkts, BURST, t0);
		total += rte_rdtsc() - t0;
		/* The replies are the requests turned around: swap back outside the timing. */
		for (int k = 0; k < BURST; k++) {
			pkts[k] = ctx.ports[0].tx[k];
			uint8_t *d = rte_pktmbuf_mtod(pkts[k], uint8_t *);
			struct rte_ipv4_hdr *ip = (void *)(d + 14);
			uint32_t s = ip->src_addr;
			ip->src_addr = ip->dst_addr;
			ip->dst_addr = s;
			uint8_t *ic = (uint8_t *)(ip + 1);
			uint16_t old;
			memcpy(&old, ic, 2);
			ic[0] = 8;
			uint16_t nw;
			memcpy(&nw, ic, 2);
			uint16_t ck;
			memcpy(&ck, ic + 2, 2);
			ck = net_cksum_adjust16(ck, old, nw);
			memcpy(ic + 2, &ck, 2);
			d[6] = 2;
		}
		ctx.ports[0].tx_n = 0;
	}
	return (double)total / ((double)iters * BURST);
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 200000;
	char *eal[] = {"net_bench", "--no-huge",	 "--no-shconf", "--no-pci", "-m",
		       "256",	    "--log-level=error", "-l",		"0",	    NULL};
	if (rte_eal_init(9, eal) < 0)
		return 1;
	pool = rte_pktmbuf_pool_create("bench", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	struct rte_mbuf *pkts[BURST];
	for (int i = 0; i < BURST; i++)
		pkts[i] = tcp_frame(512);

	double sw = bench_parse(pkts, iters);
	for (int i = 0; i < BURST; i++)
		pkts[i]->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	double hw = bench_parse(pkts, iters);
	double echo = bench_echo(iters);

	printf("tsc %.2f GHz, %ld bursts of %d per case\n", (double)rte_get_tsc_hz() / 1e9, iters,
	       BURST);
	printf("%-36s %8.1f cycles/packet  1.00x\n", "parse TCP 512 B, software checksums", sw);
	printf("%-36s %8.1f cycles/packet  %.2fx\n", "parse TCP 512 B, NIC-verified", hw, hw / sw);
	printf("%-36s %8.1f cycles/packet  %.2fx\n", "worker ICMP echo (parse + reply)", echo,
	       echo / sw);
	return 0;
}
