/*
 * cksum.c: checksums for packets the gateway sends.
 *
 * Ports that offload checksums get the offload flags and the pseudo-header sum the NIC expects;
 * ports that do not (af_packet, af_xdp, tap, memif) get the full sum computed here. The choice is
 * made per port at start and passed in as `offloads`.
 */
#include "net/net.h"

#include <string.h>

#include <netinet/in.h>
#include <rte_ip.h>
#include <rte_tcp.h>

uint64_t net_cksum_add(const void *buf, uint32_t len, uint64_t sum)
{
	const uint8_t *d = buf;
	uint64_t a = sum, b = 0, c = 0, e = 0;
	uint32_t w[4];
	/* Each lane takes at most len / 16 words below 2^32: no overflow for any frame. */
	for (; len >= 16; len -= 16, d += 16) {
		memcpy(w, d, 16);
		a += w[0];
		b += w[1];
		c += w[2];
		e += w[3];
	}
	for (; len >= 4; len -= 4, d += 4) {
		memcpy(w, d, 4);
		a += w[0];
	}
	if (len >= 2) {
		uint16_t h;
		memcpy(&h, d, 2);
		b += h;
		d += 2;
		len -= 2;
	}
	if (len) { /* an odd last byte: the first byte of a zero-padded word, as in memory */
		uint16_t h = 0;
		memcpy(&h, d, 1);
		c += h;
	}
	return (a & 0xffffffffu) + (a >> 32) + (b & 0xffffffffu) + (b >> 32) + (c & 0xffffffffu) +
	       (c >> 32) + (e & 0xffffffffu) + (e >> 32);
}

void net_ipv4_tcp_cksum_finish(struct rte_mbuf *m, const struct net_pkt *p, unsigned offloads)
{
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, p->l2_len);
	struct rte_tcp_hdr *th =
		rte_pktmbuf_mtod_offset(m, struct rte_tcp_hdr *, p->l2_len + p->l3_len);
	m->l2_len = p->l2_len;
	m->l3_len = p->l3_len;
	m->l4_len = p->l4_len;
	ip->hdr_checksum = 0;
	if (offloads & NET_OFFLOAD_IPV4_CKSUM)
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
	else
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	th->cksum = 0;
	if (offloads & NET_OFFLOAD_TCP_CKSUM) {
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
		th->cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
	} else {
		uint16_t l4_len =
			(uint16_t)(rte_be_to_cpu_16(ip->total_length) - (uint16_t)p->l3_len);
		/* As rte_ipv4_udptcp_cksum writes it: a sum of 0 stays 0 for TCP. */
		th->cksum = (uint16_t)~net_cksum_fold(net_cksum_add(
			th, l4_len,
			net_cksum_pseudo(ip->src_addr, ip->dst_addr, IPPROTO_TCP, l4_len)));
	}
}
