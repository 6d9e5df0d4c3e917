/*
 * cksum.c: checksums for packets the gateway sends.
 *
 * Ports that offload checksums get the offload flags and the pseudo-header sum the NIC expects;
 * ports that do not (af_packet, af_xdp, tap, memif) get the full sum computed here. The choice is
 * made per port at start and passed in as `offloads`.
 */
#include "net/net.h"

#include <rte_ip.h>
#include <rte_tcp.h>

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
		th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	}
}
