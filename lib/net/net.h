/*
 * net: packet headers from the wire up to TCP — parse, check, answer ARP and ICMP echo,
 * resolve neighbours, compute checksums.
 *
 * Nothing from the wire is trusted. net_parse() checks every length and offset against the
 * mbuf's data before reading it, verifies checksums unless the NIC already did, and classifies
 * the packet or names the reason it was dropped (enum net_drop_reason, one counter each). Later
 * stages read the offsets it recorded in struct net_pkt and never re-parse.
 *
 * The module knows no ports or queues: it works on mbufs handed to it, so tests drive it with
 * crafted frames. All IPv4 addresses are uint32_t in network byte order; TCP ports too. Values
 * parsed out of TCP options are in host order.
 *
 * Limits, deliberately: single-segment mbufs only (the gateway's mempools hold a full frame per
 * mbuf; a chained mbuf is dropped as NET_DROP_MULTISEG), IPv4 fragments are dropped (no TCP
 * client sends them with a sane MSS; reassembly is an attack surface), IPv6 is classified and
 * left for a later stage.
 */
#ifndef SLUICE_NET_H
#define SLUICE_NET_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#define NET_MAX_LOCAL_ADDRS 16

#define NET_DROP_REASONS(X)                                                                        \
	X(ETH_TRUNCATED, eth_truncated)                                                            \
	X(VLAN_TRUNCATED, vlan_truncated)                                                          \
	X(VLAN_TOO_DEEP, vlan_too_deep)                                                            \
	X(MULTISEG, multiseg)                                                                      \
	X(ARP_TRUNCATED, arp_truncated)                                                            \
	X(ARP_BAD, arp_bad)                                                                        \
	X(ARP_NOT_FOR_US, arp_not_for_us)                                                          \
	X(IPV4_TRUNCATED, ipv4_truncated)                                                          \
	X(IPV4_BAD_VERSION, ipv4_bad_version)                                                      \
	X(IPV4_BAD_IHL, ipv4_bad_ihl)                                                              \
	X(IPV4_BAD_TOTAL_LEN, ipv4_bad_total_len)                                                  \
	X(IPV4_BAD_CHECKSUM, ipv4_bad_checksum)                                                    \
	X(IPV4_FRAGMENT, ipv4_fragment)                                                            \
	X(IPV4_OPTIONS_BAD, ipv4_options_bad)                                                      \
	X(IPV4_BAD_SRC, ipv4_bad_src)                                                              \
	X(IPV4_TTL_EXPIRED, ipv4_ttl_expired)                                                      \
	X(ICMP_TRUNCATED, icmp_truncated)                                                          \
	X(ICMP_BAD_CHECKSUM, icmp_bad_checksum)                                                    \
	X(TCP_TRUNCATED, tcp_truncated)                                                            \
	X(TCP_BAD_DOFF, tcp_bad_doff)                                                              \
	X(TCP_BAD_CHECKSUM, tcp_bad_checksum)                                                      \
	X(TCP_BAD_OPTIONS, tcp_bad_options)                                                        \
	X(TCP_BAD_FLAGS, tcp_bad_flags)                                                            \
	X(TCP_BAD_PORT, tcp_bad_port)                                                              \
	X(UDP_TRUNCATED, udp_truncated)                                                            \
	X(ETHERTYPE_UNKNOWN, ethertype_unknown)                                                    \
	X(MAC_BAD_SRC, mac_bad_src)

/* Every reason parsing or a responder drops a packet. Names are for metrics. */
enum net_drop_reason {
#define NET_DROP_ENUM(e, n) NET_DROP_##e,
	NET_DROP_REASONS(NET_DROP_ENUM)
#undef NET_DROP_ENUM
	NET_DROP__COUNT
};

/* "ipv4_bad_checksum" style name; "unknown" past the end. */
const char *net_drop_reason_name(enum net_drop_reason r);

enum net_class {
	NET_CLASS_DROP,
	NET_CLASS_ARP,
	NET_CLASS_ICMP,
	NET_CLASS_TCP,
	NET_CLASS_UDP,
	NET_CLASS_IPV6,
	NET_CLASS_OTHER, /* valid IPv4 of another protocol */
};

/* TCP flag bits (RFC 9293 §3.1). */
#define NET_TCP_FIN 0x01
#define NET_TCP_SYN 0x02
#define NET_TCP_RST 0x04
#define NET_TCP_PSH 0x08
#define NET_TCP_ACK 0x10
#define NET_TCP_URG 0x20
#define NET_TCP_ECE 0x40
#define NET_TCP_CWR 0x80

#define NET_WSCALE_NONE 0xff

/*
 * The parse result. Offsets count from the start of packet data (rte_pktmbuf_mtod).
 * 40 bytes; the worker keeps one per packet of a burst on its stack.
 */
struct net_pkt {
	uint16_t l2_len;      /* Ethernet + VLAN tags */
	uint16_t l3_len;      /* IPv4 header with options */
	uint16_t l4_len;      /* TCP header with options, ICMP or UDP header */
	uint16_t payload_len; /* bytes after the L4 header, within the IPv4 total length */
	uint16_t vlan_tci;    /* innermost tag, 0 when untagged */
	uint8_t vlan_count;
	uint8_t l4_proto;
	uint32_t src_ip, dst_ip;
	uint16_t src_port, dst_port; /* TCP/UDP, network order */
	uint8_t tcp_flags;
	/* TCP options, valid when class == NET_CLASS_TCP */
	uint8_t tcp_wscale;  /* NET_WSCALE_NONE if absent */
	uint16_t tcp_mss;    /* 0 if absent */
	uint8_t tcp_sack_ok; /* SACK-permitted present */
	uint8_t tcp_has_ts;
	uint8_t tcp_sack_blocks; /* number of SACK blocks */
	uint8_t tcp_sack_off;	 /* offset of the first SACK block from the TCP header */
	uint8_t tcp_ts_off;	 /* offset of the TSval from the TCP header, 0 if absent */
	uint32_t tcp_tsval, tcp_tsecr;
};

/*
 * Parse one packet. Every read is bounds-checked against the mbuf's data length; the frame may
 * carry Ethernet padding after the IPv4 total length, which is ignored (but a total length
 * larger than the frame is a drop). Checksums (IPv4 header, ICMP, TCP) are verified in software
 * unless the mbuf's RX flags say the NIC checked them: GOOD skips the check, BAD drops.
 * Returns the class; on NET_CLASS_DROP, *why is set.
 */
enum net_class net_parse(struct rte_mbuf *m, struct net_pkt *p, enum net_drop_reason *why);

/* Burst form: prefetches the next packets' headers while parsing the current one. */
void net_parse_burst(struct rte_mbuf **pkts, uint16_t n, struct net_pkt *p, enum net_class *cls,
		     enum net_drop_reason *why);

/* ---- the gateway's own addresses ---------------------------------------------------------- */

/* One port's addresses; immutable once workers run. */
struct net_local {
	struct rte_ether_addr mac;
	uint16_t n_vips;
	uint16_t n_snat;
	uint32_t vips[NET_MAX_LOCAL_ADDRS];
	uint32_t snat[NET_MAX_LOCAL_ADDRS];
};

static inline bool net_local_is_vip(const struct net_local *l, uint32_t ip)
{
	for (uint16_t i = 0; i < l->n_vips; i++)
		if (l->vips[i] == ip)
			return true;
	return false;
}

static inline bool net_local_is_snat(const struct net_local *l, uint32_t ip)
{
	for (uint16_t i = 0; i < l->n_snat; i++)
		if (l->snat[i] == ip)
			return true;
	return false;
}

/* ---- neighbours --------------------------------------------------------------------------- */

struct net_neigh;

/*
 * A per-worker IPv4 → MAC table of fixed capacity (open addressing, no allocation after
 * create, no locks: one lcore uses it). reachable_tsc: how long an answer stays fresh;
 * retry_tsc: the least time between two ARP requests for the same address.
 */
struct net_neigh *net_neigh_create(const char *name, uint32_t capacity, int socket,
				   uint64_t reachable_tsc, uint64_t retry_tsc);
void net_neigh_free(struct net_neigh *nt);

/*
 * Look ip up. 0: resolved, *mac filled (a stale entry still answers, and asks for a refresh
 * through *should_request). -EAGAIN: not resolved yet; *should_request is true when the caller
 * must send an ARP request now (once per retry_tsc per address). -ENOSPC: the table is full and
 * ip is not in it.
 */
int net_neigh_lookup(struct net_neigh *nt, uint32_t ip, uint64_t now, struct rte_ether_addr *mac,
		     bool *should_request);

/* Record ip → mac seen at `now`. Updates an existing entry; creates one only if `create`. */
void net_neigh_learn(struct net_neigh *nt, uint32_t ip, const struct rte_ether_addr *mac,
		     uint64_t now, bool create);

/* Examine at most `budget` slots from where the last call stopped; remove entries not
 * confirmed for 4 × reachable time and requests unanswered for as long. Returns removed. */
unsigned net_neigh_age(struct net_neigh *nt, uint64_t now, unsigned budget);

/* Entries in use. */
uint32_t net_neigh_count(const struct net_neigh *nt);

/* ---- ARP and ICMP ------------------------------------------------------------------------- */

enum net_arp_result {
	NET_ARP_REPLY,	  /* m now holds the reply: send it out the port it came from */
	NET_ARP_LEARNED,  /* a neighbour was learned or refreshed: free m */
	NET_ARP_CONSUMED, /* nothing to do: free m */
	NET_ARP_DROP,	  /* malformed or not for us: free m, count *why */
};

/*
 * Handle an ARP packet parsed by net_parse (RFC 826, with its merge rule: the sender's mapping
 * updates an existing entry, and creates one only when the packet is for one of our
 * addresses). A request for a VIP or SNAT address is turned into the reply in place.
 */
enum net_arp_result net_arp_input(struct rte_mbuf *m, const struct net_pkt *p,
				  const struct net_local *l, struct net_neigh *nt, uint64_t now,
				  enum net_drop_reason *why);

/* Build a broadcast ARP request "who has target_ip, tell src_ip" into an empty mbuf. */
int net_arp_request_build(struct rte_mbuf *m, const struct net_local *l, uint32_t src_ip,
			  uint32_t target_ip);

/* Turn an ICMP echo request (to a VIP: the caller checks) into its reply in place: MACs and
 * addresses swapped, type 0, TTL reset, checksums updated incrementally (RFC 1624). Returns
 * false, untouched, if the packet is not an echo request. */
bool net_icmp_echo_reply(struct rte_mbuf *m, const struct net_pkt *p, const struct net_local *l);

/* ---- checksums ---------------------------------------------------------------------------- */

#define NET_OFFLOAD_IPV4_CKSUM 1u
#define NET_OFFLOAD_TCP_CKSUM  2u

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for a 16-bit field changing from old to new. */
static inline uint16_t net_cksum_adjust16(uint16_t cksum, uint16_t old, uint16_t new_)
{
	uint32_t s = (uint16_t)~cksum + (uint16_t)~old + (uint32_t)new_;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Same for a 32-bit field (an address), as two 16-bit halves. Values as stored in the packet. */
static inline uint16_t net_cksum_adjust32(uint16_t cksum, uint32_t old, uint32_t new_)
{
	cksum = net_cksum_adjust16(cksum, (uint16_t)(old >> 16), (uint16_t)(new_ >> 16));
	return net_cksum_adjust16(cksum, (uint16_t)old, (uint16_t)new_);
}

/*
 * The one's-complement sum (RFC 1071) of len bytes added to sum, unfolded. Sixteen bytes a
 * step, as four 32-bit words into four 64-bit lanes, so the per-byte cost stays a fraction of
 * a cycle: ports without
 * checksum offload pay this twice per spliced packet (verify, then send). The result equals
 * rte_raw_cksum's after net_cksum_fold (RFC 1071's byte-order and word-size independence).
 */
uint64_t net_cksum_add(const void *buf, uint32_t len, uint64_t sum);

/* Fold an unfolded sum to 16 bits (end-around carry). */
static inline uint16_t net_cksum_fold(uint64_t s)
{
	s = (s >> 32) + (s & 0xffffffffu);
	s = (s >> 32) + (s & 0xffffffffu);
	s = (s >> 16) + (s & 0xffffu);
	s = (s >> 16) + (s & 0xffffu);
	return (uint16_t)s;
}

/* The IPv4 pseudo-header's sum for an L4 length (values as stored in the packet). */
static inline uint64_t net_cksum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len)
{
	return (uint64_t)src + dst + rte_cpu_to_be_16((uint16_t)proto) + rte_cpu_to_be_16(l4_len);
}

/*
 * Finish the IPv4 and TCP checksums of an outgoing packet described by p: with offload flags
 * (ol_flags, l2/l3 lengths, pseudo-header sum) where the port offers them, in software
 * otherwise.
 */
void net_ipv4_tcp_cksum_finish(struct rte_mbuf *m, const struct net_pkt *p, unsigned offloads);

#endif
