/*
 * parse.c: Ethernet → VLAN → ARP | IPv4 → ICMP | TCP | UDP, every byte bounds-checked.
 *
 * The parser reads only what it has proved is inside the frame: each step first checks that
 * the header it is about to read fits in what is left, then checks the header's own length
 * fields against what is left. The IPv4 total length bounds everything after it (Ethernet
 * padding is not payload). The order of checks decides which reason a hostile packet is counted
 * under; it is fixed and tested.
 */
#include "net/net.h"

#include <netinet/in.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_prefetch.h>
#include <rte_tcp.h>
#include <rte_udp.h>

static const char *const drop_names[] = {
#define NET_DROP_NAME(e, n) #n,
	NET_DROP_REASONS(NET_DROP_NAME)
#undef NET_DROP_NAME
};

const char *net_drop_reason_name(enum net_drop_reason r)
{
	return (unsigned)r < NET_DROP__COUNT ? drop_names[r] : "unknown";
}

#define DROP(reason)                                                                               \
	do {                                                                                       \
		*why = NET_DROP_##reason;                                                          \
		return NET_CLASS_DROP;                                                             \
	} while (0)

/* Source addresses no real host sends from (RFC 1122 §3.2.1.3, RFC 5735). */
static inline bool bad_source(uint32_t ip_be)
{
	uint32_t ip = rte_be_to_cpu_32(ip_be);
	return ip == 0 || ip == 0xffffffffu || (ip >> 28) == 0xe || (ip >> 24) == 127;
}

/* IPv4 options (RFC 791 §3.1): every option but EOL and NOP carries a length of at least 2
 * that must stay inside the header. */
static bool ipv4_options_ok(const uint8_t *opt, unsigned len)
{
	unsigned i = 0;
	while (i < len) {
		uint8_t kind = opt[i];
		if (kind == 0)
			return true;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len)
			return false;
		uint8_t olen = opt[i + 1];
		if (olen < 2 || i + olen > len)
			return false;
		i += olen;
	}
	return true;
}

/* TCP options (RFC 9293 §3.1, RFC 7323, RFC 2018). Known kinds must have their exact length. */
static bool tcp_options_parse(const uint8_t *opt, unsigned len, struct net_pkt *p)
{
	unsigned i = 0;
	while (i < len) {
		uint8_t kind = opt[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len)
			return false;
		uint8_t olen = opt[i + 1];
		if (olen < 2 || i + olen > len)
			return false;
		const uint8_t *v = opt + i + 2;
		switch (kind) {
		case 2: /* MSS */
			if (olen != 4)
				return false;
			p->tcp_mss = (uint16_t)(v[0] << 8 | v[1]);
			break;
		case 3: /* window scale; RFC 7323 §2.3: a shift above 14 is used as 14 */
			if (olen != 3)
				return false;
			p->tcp_wscale = v[0] > 14 ? 14 : v[0];
			break;
		case 4: /* SACK permitted */
			if (olen != 2)
				return false;
			p->tcp_sack_ok = 1;
			break;
		case 5: /* SACK blocks */
			if (olen < 10 || (olen - 2) % 8 != 0)
				return false;
			p->tcp_sack_blocks = (uint8_t)((olen - 2) / 8);
			p->tcp_sack_off = (uint8_t)(sizeof(struct rte_tcp_hdr) + i + 2);
			break;
		case 8: /* timestamps */
			if (olen != 10)
				return false;
			p->tcp_has_ts = 1;
			p->tcp_ts_off = (uint8_t)(sizeof(struct rte_tcp_hdr) + i + 2);
			p->tcp_tsval = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
				       (uint32_t)v[2] << 8 | v[3];
			p->tcp_tsecr = (uint32_t)v[4] << 24 | (uint32_t)v[5] << 16 |
				       (uint32_t)v[6] << 8 | v[7];
			break;
		default:
			break; /* unknown options are skipped by their length */
		}
		i += olen;
	}
	return true;
}

/* Flag combinations no conforming stack sends; scanners and fingerprinting do. */
static inline bool tcp_flags_bad(uint8_t f)
{
	if ((f & (NET_TCP_FIN | NET_TCP_SYN | NET_TCP_RST | NET_TCP_PSH | NET_TCP_ACK |
		  NET_TCP_URG)) == 0)
		return true; /* null */
	if ((f & NET_TCP_SYN) && (f & (NET_TCP_FIN | NET_TCP_RST)))
		return true;
	if (!(f & NET_TCP_ACK) && (f & (NET_TCP_FIN | NET_TCP_PSH | NET_TCP_URG)))
		return true;
	return false;
}

enum net_class net_parse(struct rte_mbuf *m, struct net_pkt *p, enum net_drop_reason *why)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m);

	memset(p, 0, sizeof(*p));
	p->tcp_wscale = NET_WSCALE_NONE;

	if (unlikely(m->nb_segs != 1 || rte_pktmbuf_pkt_len(m) != len))
		DROP(MULTISEG);
	if (unlikely(len < sizeof(struct rte_ether_hdr)))
		DROP(ETH_TRUNCATED);
	const struct rte_ether_hdr *eh = (const void *)d;
	if (unlikely(rte_is_multicast_ether_addr(&eh->src_addr)))
		DROP(MAC_BAD_SRC);
	uint16_t type = eh->ether_type;
	uint32_t off = sizeof(*eh);
	while (type == RTE_BE16(RTE_ETHER_TYPE_VLAN) || type == RTE_BE16(RTE_ETHER_TYPE_QINQ)) {
		if (p->vlan_count == 2)
			DROP(VLAN_TOO_DEEP);
		if (len < off + sizeof(struct rte_vlan_hdr))
			DROP(VLAN_TRUNCATED);
		const struct rte_vlan_hdr *vh = (const void *)(d + off);
		p->vlan_tci = rte_be_to_cpu_16(vh->vlan_tci);
		type = vh->eth_proto;
		off += sizeof(*vh);
		p->vlan_count++;
	}
	p->l2_len = (uint16_t)off;

	if (type == RTE_BE16(RTE_ETHER_TYPE_ARP)) {
		if (len < off + sizeof(struct rte_arp_hdr))
			DROP(ARP_TRUNCATED);
		const struct rte_arp_hdr *a = (const void *)(d + off);
		if (a->arp_hardware != RTE_BE16(RTE_ARP_HRD_ETHER) ||
		    a->arp_protocol != RTE_BE16(RTE_ETHER_TYPE_IPV4) || a->arp_hlen != 6 ||
		    a->arp_plen != 4 ||
		    (a->arp_opcode != RTE_BE16(RTE_ARP_OP_REQUEST) &&
		     a->arp_opcode != RTE_BE16(RTE_ARP_OP_REPLY)))
			DROP(ARP_BAD);
		p->src_ip = a->arp_data.arp_sip;
		p->dst_ip = a->arp_data.arp_tip;
		return NET_CLASS_ARP;
	}
	if (type == RTE_BE16(RTE_ETHER_TYPE_IPV6))
		return NET_CLASS_IPV6;
	if (type != RTE_BE16(RTE_ETHER_TYPE_IPV4))
		DROP(ETHERTYPE_UNKNOWN);

	/* IPv4, RFC 791 §3.1. */
	if (len < off + sizeof(struct rte_ipv4_hdr))
		DROP(IPV4_TRUNCATED);
	const struct rte_ipv4_hdr *ip = (const void *)(d + off);
	if ((ip->version_ihl >> 4) != 4)
		DROP(IPV4_BAD_VERSION);
	uint32_t ihl = (uint32_t)(ip->version_ihl & 0xf) * 4;
	if (ihl < sizeof(*ip))
		DROP(IPV4_BAD_IHL);
	if (len < off + ihl)
		DROP(IPV4_TRUNCATED);
	uint32_t total = rte_be_to_cpu_16(ip->total_length);
	if (total < ihl || len < off + total)
		DROP(IPV4_BAD_TOTAL_LEN);
	uint64_t rxf = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	if (rxf == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		DROP(IPV4_BAD_CHECKSUM);
	if (rxf != RTE_MBUF_F_RX_IP_CKSUM_GOOD && rte_raw_cksum(ip, ihl) != 0xffff)
		DROP(IPV4_BAD_CHECKSUM);
	if (ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))
		DROP(IPV4_FRAGMENT);
	if (ihl > sizeof(*ip) &&
	    !ipv4_options_ok((const uint8_t *)(ip + 1), ihl - (uint32_t)sizeof(*ip)))
		DROP(IPV4_OPTIONS_BAD);
	if (bad_source(ip->src_addr))
		DROP(IPV4_BAD_SRC);
	if (ip->time_to_live == 0)
		DROP(IPV4_TTL_EXPIRED);

	p->l3_len = (uint16_t)ihl;
	p->l4_proto = ip->next_proto_id;
	p->src_ip = ip->src_addr;
	p->dst_ip = ip->dst_addr;
	const uint8_t *l4 = d + off + ihl;
	uint32_t l4_avail = total - ihl;
	uint64_t l4f = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;

	switch (ip->next_proto_id) {
	case IPPROTO_ICMP:
		if (l4_avail < 8)
			DROP(ICMP_TRUNCATED);
		if (net_cksum_fold(net_cksum_add(l4, l4_avail, 0)) != 0xffff)
			DROP(ICMP_BAD_CHECKSUM);
		p->l4_len = 8;
		p->payload_len = (uint16_t)(l4_avail - 8);
		return NET_CLASS_ICMP;

	case IPPROTO_TCP: {
		if (l4_avail < sizeof(struct rte_tcp_hdr))
			DROP(TCP_TRUNCATED);
		const struct rte_tcp_hdr *th = (const void *)l4;
		uint32_t doff = (uint32_t)(th->data_off >> 4) * 4;
		if (doff < sizeof(*th) || doff > l4_avail)
			DROP(TCP_BAD_DOFF);
		if (l4f == RTE_MBUF_F_RX_L4_CKSUM_BAD)
			DROP(TCP_BAD_CHECKSUM);
		if (l4f != RTE_MBUF_F_RX_L4_CKSUM_GOOD &&
		    net_cksum_fold(
			    net_cksum_add(th, l4_avail,
					  net_cksum_pseudo(ip->src_addr, ip->dst_addr, IPPROTO_TCP,
							   (uint16_t)l4_avail))) != 0xffff)
			DROP(TCP_BAD_CHECKSUM);
		if (th->src_port == 0 || th->dst_port == 0)
			DROP(TCP_BAD_PORT);
		p->tcp_flags = th->tcp_flags;
		if (tcp_flags_bad(th->tcp_flags))
			DROP(TCP_BAD_FLAGS);
		if (doff > sizeof(*th) &&
		    !tcp_options_parse((const uint8_t *)(th + 1), doff - (uint32_t)sizeof(*th), p))
			DROP(TCP_BAD_OPTIONS);
		p->src_port = th->src_port;
		p->dst_port = th->dst_port;
		p->l4_len = (uint16_t)doff;
		p->payload_len = (uint16_t)(l4_avail - doff);
		return NET_CLASS_TCP;
	}

	case IPPROTO_UDP: {
		if (l4_avail < sizeof(struct rte_udp_hdr))
			DROP(UDP_TRUNCATED);
		const struct rte_udp_hdr *uh = (const void *)l4;
		p->src_port = uh->src_port;
		p->dst_port = uh->dst_port;
		p->l4_len = sizeof(*uh);
		p->payload_len = (uint16_t)(l4_avail - sizeof(*uh));
		return NET_CLASS_UDP;
	}

	default:
		p->payload_len = (uint16_t)l4_avail;
		return NET_CLASS_OTHER;
	}
}

#define PREFETCH_AHEAD 3

void net_parse_burst(struct rte_mbuf **pkts, uint16_t n, struct net_pkt *p, enum net_class *cls,
		     enum net_drop_reason *why)
{
	for (uint16_t i = 0; i < n && i < PREFETCH_AHEAD; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (uint16_t i = 0; i < n; i++) {
		if (i + PREFETCH_AHEAD < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + PREFETCH_AHEAD], void *));
		why[i] = NET_DROP__COUNT;
		cls[i] = net_parse(pkts[i], &p[i], &why[i]);
	}
}
