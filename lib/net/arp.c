/*
 * arp.c: answering ARP for the gateway's addresses and learning neighbours (RFC 826).
 *
 * The reply is written into the request's own mbuf: no allocation, and the packet goes back out
 * the queue it came from. Learning follows RFC 826's merge rule so that ARP traffic between
 * other hosts on a shared segment cannot fill the table: a sender's mapping refreshes an entry we
 * already have, and creates one only when the packet concerns one of our addresses (a request
 * for it, or a reply to one of our requests).
 */
#include "net/net.h"

#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>

enum net_arp_result net_arp_input(struct rte_mbuf *m, const struct net_pkt *p,
				  const struct net_local *l, struct net_neigh *nt, uint64_t now,
				  enum net_drop_reason *why)
{
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *a = rte_pktmbuf_mtod_offset(m, struct rte_arp_hdr *, p->l2_len);
	uint32_t sip = a->arp_data.arp_sip, tip = a->arp_data.arp_tip;
	bool for_us = net_local_is_vip(l, tip) || net_local_is_snat(l, tip);

	/* A sender claiming our address, or a zero/broadcast/multicast sender MAC, is not
	 * learned. sip == 0 is an address probe (RFC 5227): answer it, learn nothing. */
	bool sender_ok = sip != 0 && !net_local_is_vip(l, sip) && !net_local_is_snat(l, sip) &&
			 rte_is_unicast_ether_addr(&a->arp_data.arp_sha) &&
			 !rte_is_zero_ether_addr(&a->arp_data.arp_sha);
	bool learned = false;
	if (sender_ok && nt != NULL) {
		net_neigh_learn(nt, sip, &a->arp_data.arp_sha, now, for_us);
		learned = for_us || sip == tip; /* gratuitous ARP refreshes, counted as learned */
	}

	if (a->arp_opcode == RTE_BE16(RTE_ARP_OP_REQUEST)) {
		if (!for_us) {
			if (learned)
				return NET_ARP_LEARNED;
			*why = NET_DROP_ARP_NOT_FOR_US;
			return NET_ARP_DROP;
		}
		/* Reply in place: target becomes the asker, sender becomes us. */
		a->arp_opcode = RTE_BE16(RTE_ARP_OP_REPLY);
		a->arp_data.arp_tha = a->arp_data.arp_sha;
		a->arp_data.arp_tip = sip;
		a->arp_data.arp_sha = l->mac;
		a->arp_data.arp_sip = tip;
		eh->dst_addr = a->arp_data.arp_tha;
		eh->src_addr = l->mac;
		if (sip == 0) /* probe: the asker has no address yet, answer by broadcast */
			memset(&eh->dst_addr, 0xff, sizeof(eh->dst_addr));
		return NET_ARP_REPLY;
	}
	/* A reply: useful only when it answers us. */
	if (for_us && sender_ok)
		return NET_ARP_LEARNED;
	if (learned)
		return NET_ARP_LEARNED;
	return NET_ARP_CONSUMED;
}

int net_arp_request_build(struct rte_mbuf *m, const struct net_local *l, uint32_t src_ip,
			  uint32_t target_ip)
{
	uint16_t len = sizeof(struct rte_ether_hdr) + sizeof(struct rte_arp_hdr);
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)rte_pktmbuf_append(m, len);
	if (eh == NULL)
		return -ENOSPC;
	memset(&eh->dst_addr, 0xff, sizeof(eh->dst_addr));
	eh->src_addr = l->mac;
	eh->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
	struct rte_arp_hdr *a = (struct rte_arp_hdr *)(eh + 1);
	a->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
	a->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	a->arp_hlen = RTE_ETHER_ADDR_LEN;
	a->arp_plen = 4;
	a->arp_opcode = RTE_BE16(RTE_ARP_OP_REQUEST);
	a->arp_data.arp_sha = l->mac;
	a->arp_data.arp_sip = src_ip;
	memset(&a->arp_data.arp_tha, 0, sizeof(a->arp_data.arp_tha));
	a->arp_data.arp_tip = target_ip;
	return 0;
}
