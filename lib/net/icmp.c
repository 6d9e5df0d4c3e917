/*
 * icmp.c: echo replies for VIPs (RFC 792), so operators and health checks can ping the gateway.
 *
 * The request becomes the reply in place. Only the type byte and the addresses change, so both
 * checksums are updated incrementally (RFC 1624) instead of summing the payload again: the
 * cost is the same for a 64-byte and a 9000-byte ping.
 */
#include "net/net.h"

#include <string.h>

#include <rte_byteorder.h>
#include <rte_icmp.h>
#include <rte_ip.h>

#define ECHO_TTL 64

bool net_icmp_echo_reply(struct rte_mbuf *m, const struct net_pkt *p, const struct net_local *l)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, p->l2_len);
	struct rte_icmp_hdr *ic =
		rte_pktmbuf_mtod_offset(m, struct rte_icmp_hdr *, p->l2_len + p->l3_len);
	if (ic->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || ic->icmp_code != 0)
		return false;

	eh->dst_addr = eh->src_addr;
	eh->src_addr = l->mac;

	/* Addresses swap: the IPv4 header sum does not change for a swap; TTL does. */
	uint32_t src = ip->src_addr;
	ip->src_addr = ip->dst_addr;
	ip->dst_addr = src;
	uint16_t old_word, new_word;
	memcpy(&old_word, &ip->time_to_live, 2); /* TTL and protocol share a 16-bit word */
	ip->time_to_live = ECHO_TTL;
	memcpy(&new_word, &ip->time_to_live, 2);
	ip->hdr_checksum = net_cksum_adjust16(ip->hdr_checksum, old_word, new_word);

	/* Type 8 → 0 in the first 16-bit word (type, code). */
	memcpy(&old_word, ic, 2);
	ic->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	memcpy(&new_word, ic, 2);
	ic->icmp_cksum = net_cksum_adjust16(ic->icmp_cksum, old_word, new_word);
	return true;
}
