/*
 * Packet tests for the worker's burst function: crafted frames go in through
 * worker_process_burst(), exactly as a NIC burst would hand them over, and what comes out in the
 * TX arrays and counters is checked byte by byte. No NIC, no EAL ports.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_arp.h>
#include <rte_ip.h>
#include <rte_icmp.h>
#include <rte_mbuf.h>
#include <rte_cycles.h>

#include "worker/worker.h"

static struct rte_mempool *pool;
static struct worker_ctx ctx;
static struct net_local local;

static const struct rte_ether_addr gw_mac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
static const struct rte_ether_addr client_mac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};

static void eal_once(void)
{
	static bool done;
	if (done)
		return;
	char *argv[] = {
		"test", "--no-huge", "--no-shconf",	  "--no-pci",
		"-m",	"128",	     "--log-level=error", "--file-prefix=sluice-test-worker",
		NULL};
	cr_assert_geq(rte_eal_init(8, argv), 0, "EAL init failed");
	done = true;
}

static void setup(void)
{
	eal_once();
	if (pool == NULL)
		pool = rte_pktmbuf_pool_create("wtest", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					       SOCKET_ID_ANY);
	cr_assert_not_null(pool);
	memset(&local, 0, sizeof(local));
	local.mac = gw_mac;
	local.vips[local.n_vips++] = inet_addr("198.18.0.10");
	local.snat[local.n_snat++] = inet_addr("198.19.0.1");
	memset(&ctx, 0, sizeof(ctx));
	ctx.lcore_id = rte_lcore_id();
	ctx.pool = pool;
	ctx.stats = stats_self();
	ctx.tsc_hz = rte_get_tsc_hz();
	ctx.neigh = net_neigh_create("wtest_neigh", 64, SOCKET_ID_ANY, ctx.tsc_hz * 30, ctx.tsc_hz);
	cr_assert_not_null(ctx.neigh);
	ctx.n_ports = 1;
	ctx.ports[0].local = &local;
	stats_reset();
}

static void teardown(void)
{
	for (uint16_t i = 0; i < ctx.ports[0].tx_n; i++)
		rte_pktmbuf_free(ctx.ports[0].tx[i]);
	ctx.ports[0].tx_n = 0;
	net_neigh_free(ctx.neigh);
}

TestSuite(worker, .init = setup, .fini = teardown);

static struct rte_mbuf *arp_request(uint32_t sip, uint32_t tip)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	cr_assert_not_null(m);
	struct rte_ether_hdr *eh =
		(void *)rte_pktmbuf_append(m, sizeof(*eh) + sizeof(struct rte_arp_hdr));
	memset(&eh->dst_addr, 0xff, 6);
	eh->src_addr = client_mac;
	eh->ether_type = htons(RTE_ETHER_TYPE_ARP);
	struct rte_arp_hdr *a = (void *)(eh + 1);
	a->arp_hardware = htons(RTE_ARP_HRD_ETHER);
	a->arp_protocol = htons(RTE_ETHER_TYPE_IPV4);
	a->arp_hlen = 6;
	a->arp_plen = 4;
	a->arp_opcode = htons(RTE_ARP_OP_REQUEST);
	a->arp_data.arp_sha = client_mac;
	a->arp_data.arp_sip = sip;
	memset(&a->arp_data.arp_tha, 0, 6);
	a->arp_data.arp_tip = tip;
	return m;
}

static struct rte_mbuf *icmp_echo(uint32_t src, uint32_t dst, bool break_ip_checksum)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	cr_assert_not_null(m);
	const size_t payload = 32;
	size_t len = sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) +
		     sizeof(struct rte_icmp_hdr) + payload;
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	struct rte_ether_hdr *eh = (void *)p;
	eh->dst_addr = gw_mac;
	eh->src_addr = client_mac;
	eh->ether_type = htons(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = (void *)(eh + 1);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = 0x45;
	ip->total_length = htons((uint16_t)(len - sizeof(*eh)));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_ICMP;
	ip->src_addr = src;
	ip->dst_addr = dst;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	if (break_ip_checksum)
		ip->hdr_checksum ^= 0x1111;
	struct rte_icmp_hdr *ic = (void *)(ip + 1);
	ic->icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
	ic->icmp_code = 0;
	ic->icmp_cksum = 0;
	ic->icmp_ident = htons(7);
	ic->icmp_seq_nb = htons(1);
	for (size_t i = 0; i < payload; i++)
		((uint8_t *)(ic + 1))[i] = (uint8_t)i;
	ic->icmp_cksum = (uint16_t)~rte_raw_cksum(ic, sizeof(*ic) + payload);
	return m;
}

Test(worker, arp_request_for_vip_is_answered_on_the_same_port)
{
	struct rte_mbuf *m = arp_request(inet_addr("198.18.0.2"), inet_addr("198.18.0.10"));
	uint16_t q = worker_process_burst(&ctx, 0, &m, 1, rte_rdtsc());
	cr_assert_eq(q, 1);
	cr_assert_eq(ctx.ports[0].tx_n, 1);
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(ctx.ports[0].tx[0], struct rte_ether_hdr *);
	struct rte_arp_hdr *a = (void *)(eh + 1);
	cr_assert(rte_is_same_ether_addr(&eh->dst_addr, &client_mac));
	cr_assert(rte_is_same_ether_addr(&eh->src_addr, &gw_mac));
	cr_assert_eq(ntohs(a->arp_opcode), RTE_ARP_OP_REPLY);
	cr_assert(rte_is_same_ether_addr(&a->arp_data.arp_sha, &gw_mac));
	cr_assert_eq(a->arp_data.arp_sip, inet_addr("198.18.0.10"));
	cr_assert_eq(a->arp_data.arp_tip, inet_addr("198.18.0.2"));
	cr_assert_eq(stats_sum(STATS_arp_replies), 1);
	cr_assert_eq(stats_sum(STATS_rx_packets), 1);
}

Test(worker, arp_request_for_snat_address_is_answered)
{
	struct rte_mbuf *m = arp_request(inet_addr("198.19.0.11"), inet_addr("198.19.0.1"));
	cr_assert_eq(worker_process_burst(&ctx, 0, &m, 1, rte_rdtsc()), 1);
	cr_assert_eq(stats_sum(STATS_arp_replies), 1);
}

Test(worker, arp_request_for_another_host_is_not_answered)
{
	struct rte_mbuf *m = arp_request(inet_addr("198.18.0.2"), inet_addr("198.18.0.99"));
	cr_assert_eq(worker_process_burst(&ctx, 0, &m, 1, rte_rdtsc()), 0);
	cr_assert_eq(ctx.ports[0].tx_n, 0);
	cr_assert_eq(stats_sum(STATS_arp_replies), 0);
}

Test(worker, arp_request_teaches_the_neighbour_table)
{
	uint64_t now = rte_rdtsc();
	struct rte_mbuf *m = arp_request(inet_addr("198.18.0.2"), inet_addr("198.18.0.10"));
	worker_process_burst(&ctx, 0, &m, 1, now);
	struct rte_ether_addr mac;
	bool ask = false;
	cr_assert_eq(net_neigh_lookup(ctx.neigh, inet_addr("198.18.0.2"), now, &mac, &ask), 0);
	cr_assert(rte_is_same_ether_addr(&mac, &client_mac));
}

Test(worker, echo_request_to_vip_gets_a_valid_reply)
{
	struct rte_mbuf *m = icmp_echo(inet_addr("198.18.0.2"), inet_addr("198.18.0.10"), false);
	cr_assert_eq(worker_process_burst(&ctx, 0, &m, 1, rte_rdtsc()), 1);
	struct rte_mbuf *r = ctx.ports[0].tx[0];
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(r, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (void *)(eh + 1);
	struct rte_icmp_hdr *ic = (void *)(ip + 1);
	cr_assert(rte_is_same_ether_addr(&eh->dst_addr, &client_mac));
	cr_assert_eq(ip->src_addr, inet_addr("198.18.0.10"));
	cr_assert_eq(ip->dst_addr, inet_addr("198.18.0.2"));
	cr_assert_eq(ic->icmp_type, RTE_IP_ICMP_ECHO_REPLY);
	cr_assert_eq(rte_ipv4_cksum(ip), 0, "IPv4 checksum must verify (sums to zero)");
	cr_assert_eq((uint16_t)~rte_raw_cksum(ic, sizeof(*ic) + 32), 0,
		     "ICMP checksum must verify");
	cr_assert_eq(ntohs(ic->icmp_ident), 7);
	cr_assert_eq(stats_sum(STATS_icmp_echo_replies), 1);
}

Test(worker, echo_request_to_snat_address_is_not_answered)
{
	struct rte_mbuf *m = icmp_echo(inet_addr("198.19.0.11"), inet_addr("198.19.0.1"), false);
	cr_assert_eq(worker_process_burst(&ctx, 0, &m, 1, rte_rdtsc()), 0);
	cr_assert_eq(stats_sum(STATS_unhandled), 1);
}

Test(worker, packet_for_another_address_is_counted_not_local)
{
	struct rte_mbuf *m = icmp_echo(inet_addr("198.18.0.2"), inet_addr("198.18.0.77"), false);
	cr_assert_eq(worker_process_burst(&ctx, 0, &m, 1, rte_rdtsc()), 0);
	cr_assert_eq(stats_sum(STATS_not_local), 1);
}

Test(worker, bad_ip_checksum_is_dropped_by_reason)
{
	struct rte_mbuf *m = icmp_echo(inet_addr("198.18.0.2"), inet_addr("198.18.0.10"), true);
	cr_assert_eq(worker_process_burst(&ctx, 0, &m, 1, rte_rdtsc()), 0);
	cr_assert_eq(stats_sum(STATS_dropped), 1);
	cr_assert_eq(stats_sum_drop(NET_DROP_IPV4_BAD_CHECKSUM), 1);
}

Test(worker, truncated_frame_is_dropped)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	memset(rte_pktmbuf_append(m, 10), 0xab, 10);
	cr_assert_eq(worker_process_burst(&ctx, 0, &m, 1, rte_rdtsc()), 0);
	cr_assert_eq(stats_sum_drop(NET_DROP_ETH_TRUNCATED), 1);
}

Test(worker, burst_larger_than_32_is_processed_whole)
{
	struct rte_mbuf *m[40];
	for (int i = 0; i < 40; i++)
		m[i] = icmp_echo(inet_addr("198.18.0.2"), inet_addr("198.18.0.10"), false);
	cr_assert_eq(worker_process_burst(&ctx, 0, m, 40, rte_rdtsc()), 40);
	cr_assert_eq(stats_sum(STATS_rx_packets), 40);
	cr_assert_eq(stats_sum(STATS_icmp_echo_replies), 40);
}

Test(worker, full_tx_array_drops_and_counts)
{
	struct rte_mbuf *m[WORKER_BURST];
	uint16_t total = 0;
	for (int round = 0; round < WORKER_TX_CAP / WORKER_BURST + 1; round++) {
		for (int i = 0; i < WORKER_BURST; i++)
			m[i] = icmp_echo(inet_addr("198.18.0.2"), inet_addr("198.18.0.10"), false);
		total += worker_process_burst(&ctx, 0, m, WORKER_BURST, rte_rdtsc());
	}
	cr_assert_eq(total, WORKER_TX_CAP);
	cr_assert_eq(stats_sum(STATS_tx_dropped), WORKER_BURST);
}

Test(worker, housekeeping_asks_for_unresolved_next_hop_from_snat_address)
{
	ctx.resolve_ip[0] = inet_addr("198.19.0.254");
	ctx.resolve_port[0] = 0;
	ctx.n_resolve = 1;
	uint64_t now = rte_rdtsc();
	worker_housekeeping(&ctx, now);
	cr_assert_eq(ctx.ports[0].tx_n, 1);
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(ctx.ports[0].tx[0], struct rte_ether_hdr *);
	struct rte_arp_hdr *a = (void *)(eh + 1);
	cr_assert_eq(ntohs(eh->ether_type), RTE_ETHER_TYPE_ARP);
	cr_assert_eq(ntohs(a->arp_opcode), RTE_ARP_OP_REQUEST);
	cr_assert_eq(a->arp_data.arp_sip, inet_addr("198.19.0.1"));
	cr_assert_eq(a->arp_data.arp_tip, inet_addr("198.19.0.254"));
	/* Not again before the next housekeeping round. */
	worker_housekeeping(&ctx, now + 1);
	cr_assert_eq(ctx.ports[0].tx_n, 1);
	cr_assert_eq(stats_sum(STATS_arp_requests), 1);
}
