/*
 * lib/net: the parser with valid, truncated and hostile frames; ARP and ICMP responders; the
 * neighbour table. Frames are built byte by byte here, independent of the code under test.
 * Truncation tests cut a valid frame at every length and check the reason and that nothing
 * reads past the end (the sanitizer build would catch it: each cut frame is copied into an
 * mbuf whose data ends exactly there).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "net/net.h"

static struct rte_mempool *pool;

static void setup(void)
{
	static bool eal;
	if (!eal) {
		char *argv[] = {
			"test", "--no-huge", "--no-shconf",	  "--no-pci",
			"-m",	"128",	     "--log-level=error", "--file-prefix=sluice-test-net",
			NULL};
		cr_assert_geq(rte_eal_init(8, argv), 0);
		eal = true;
	}
	if (pool == NULL)
		pool = rte_pktmbuf_pool_create("ntest", 511, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					       SOCKET_ID_ANY);
	cr_assert_not_null(pool);
}

TestSuite(net, .init = setup);

static const uint8_t gw_mac[6] = {0x02, 0, 0, 0, 0, 1};
static const uint8_t cl_mac[6] = {0x02, 0, 0, 0, 0, 2};

/* ---- frame builders ----------------------------------------------------------------------- */

struct frame {
	uint8_t b[1600];
	size_t len;
};

static void put(struct frame *f, const void *p, size_t n)
{
	memcpy(f->b + f->len, p, n);
	f->len += n;
}

static void eth(struct frame *f, uint16_t type)
{
	f->len = 0;
	put(f, gw_mac, 6);
	put(f, cl_mac, 6);
	uint16_t t = htons(type);
	put(f, &t, 2);
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint32_t sum16(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)(p[n - 1] << 8);
	return s;
}

/* IPv4 header at f->len with the given payload length and options; returns its offset. */
static size_t ipv4(struct frame *f, uint8_t proto, const char *src, const char *dst, size_t payload,
		   const uint8_t *opts, size_t optlen)
{
	size_t at = f->len;
	size_t ihl = 20 + optlen;
	uint8_t h[60] = {0};
	h[0] = (uint8_t)(0x40 | (ihl / 4));
	uint16_t tot = htons((uint16_t)(ihl + payload));
	memcpy(h + 2, &tot, 2);
	h[8] = 64;
	h[9] = proto;
	uint32_t s = inet_addr(src), d = inet_addr(dst);
	memcpy(h + 12, &s, 4);
	memcpy(h + 16, &d, 4);
	if (optlen)
		memcpy(h + 20, opts, optlen);
	uint16_t ck = htons((uint16_t)~fold(sum16(h, ihl)));
	memcpy(h + 10, &ck, 2);
	put(f, h, ihl);
	return at;
}

static void icmp_echo(struct frame *f, const char *src, const char *dst, size_t payload)
{
	eth(f, RTE_ETHER_TYPE_IPV4);
	ipv4(f, IPPROTO_ICMP, src, dst, 8 + payload, NULL, 0);
	size_t at = f->len;
	uint8_t h[8] = {8, 0, 0, 0, 0, 7, 0, 1};
	put(f, h, 8);
	for (size_t i = 0; i < payload; i++)
		f->b[f->len++] = (uint8_t)(i * 7);
	uint16_t ck = htons((uint16_t)~fold(sum16(f->b + at, 8 + payload)));
	memcpy(f->b + at + 2, &ck, 2);
}

/* TCP segment with options and payload; checksum correct unless told otherwise. */
static void tcp(struct frame *f, uint8_t flags, const uint8_t *opts, size_t optlen, size_t payload)
{
	eth(f, RTE_ETHER_TYPE_IPV4);
	size_t ipat =
		ipv4(f, IPPROTO_TCP, "198.18.0.2", "198.18.0.10", 20 + optlen + payload, NULL, 0);
	size_t at = f->len;
	uint8_t h[60] = {0};
	h[0] = 0xc3, h[1] = 0x50; /* 50000 */
	h[2] = 0, h[3] = 80;
	h[4] = 0x11, h[5] = 0x22, h[6] = 0x33, h[7] = 0x44;
	h[12] = (uint8_t)(((20 + optlen) / 4) << 4);
	h[13] = flags;
	h[14] = 0xff, h[15] = 0xff;
	if (optlen)
		memcpy(h + 20, opts, optlen);
	put(f, h, 20 + optlen);
	for (size_t i = 0; i < payload; i++)
		f->b[f->len++] = 'a';
	/* pseudo header */
	uint32_t s = sum16(f->b + ipat + 12, 8) + IPPROTO_TCP + (uint32_t)(f->len - at);
	s += sum16(f->b + at, f->len - at);
	uint16_t ck = htons((uint16_t)~fold(s));
	memcpy(f->b + at + 16, &ck, 2);
}

static void arp(struct frame *f, uint16_t op, const char *sip, const char *tip)
{
	eth(f, RTE_ETHER_TYPE_ARP);
	uint8_t h[28] = {0, 1, 8, 0, 6, 4, 0, 0};
	h[7] = (uint8_t)op;
	memcpy(h + 8, cl_mac, 6);
	uint32_t s = inet_addr(sip), t = inet_addr(tip);
	memcpy(h + 14, &s, 4);
	memcpy(h + 24, &t, 4);
	put(f, h, 28);
}

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* The frame is copied to the usual headroom offset (aligned as a NIC would place it) and every
 * byte after it in the buffer is poisoned: a read past the frame is reported by the address
 * sanitizer. free_frame() unpoisons before the buffer goes back to the pool. */
static struct rte_mbuf *mbuf_of(const struct frame *f, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	cr_assert_not_null(m);
	if (len)
		memcpy(rte_pktmbuf_mtod(m, void *), f->b, len);
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	uint8_t *end = rte_pktmbuf_mtod_offset(m, uint8_t *, len);
	POISON(end, (size_t)((uint8_t *)m->buf_addr + m->buf_len - end));
	return m;
}

static void free_frame(struct rte_mbuf *m)
{
	UNPOISON(m->buf_addr, m->buf_len);
	rte_pktmbuf_free(m);
}

static enum net_class parse(const struct frame *f, size_t len, struct net_pkt *p,
			    enum net_drop_reason *why)
{
	struct rte_mbuf *m = mbuf_of(f, len);
	*why = NET_DROP__COUNT;
	enum net_class c = net_parse(m, p, why);
	free_frame(m);
	return c;
}

#define ASSERT_DROP(f, len, reason)                                                                \
	do {                                                                                       \
		struct net_pkt p_;                                                                 \
		enum net_drop_reason w_;                                                           \
		cr_assert_eq(parse(f, len, &p_, &w_), NET_CLASS_DROP);                             \
		cr_assert_eq(w_, reason, "expected %s, got %s", net_drop_reason_name(reason),      \
			     net_drop_reason_name(w_));                                            \
	} while (0)

/* ---- valid frames ------------------------------------------------------------------------- */

Test(net, valid_tcp_syn_with_options_is_parsed)
{
	struct frame f;
	uint8_t opts[] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 1, 3, 3, 7};
	tcp(&f, NET_TCP_SYN, opts, sizeof(opts), 0);
	struct net_pkt p;
	enum net_drop_reason why;
	cr_assert_eq(parse(&f, f.len, &p, &why), NET_CLASS_TCP, "%s", net_drop_reason_name(why));
	cr_assert_eq(p.l2_len, 14);
	cr_assert_eq(p.l3_len, 20);
	cr_assert_eq(p.l4_len, 40);
	cr_assert_eq(p.payload_len, 0);
	cr_assert_eq(p.tcp_mss, 1460);
	cr_assert_eq(p.tcp_wscale, 7);
	cr_assert(p.tcp_sack_ok);
	cr_assert(p.tcp_has_ts);
	cr_assert_eq(p.tcp_tsval, 9);
	cr_assert_eq(p.tcp_ts_off, 28);
	cr_assert_eq(ntohs(p.dst_port), 80);
	cr_assert_eq(ntohs(p.src_port), 50000);
	cr_assert_eq(p.src_ip, inet_addr("198.18.0.2"));
}

Test(net, tcp_payload_length_excludes_ethernet_padding)
{
	struct frame f;
	tcp(&f, NET_TCP_ACK, NULL, 0, 2);
	f.len += 4; /* pad to a minimum frame as switches do */
	struct net_pkt p;
	enum net_drop_reason why;
	cr_assert_eq(parse(&f, f.len, &p, &why), NET_CLASS_TCP);
	cr_assert_eq(p.payload_len, 2);
}

Test(net, window_scale_above_14_is_used_as_14)
{
	struct frame f;
	uint8_t opts[] = {3, 3, 20, 1};
	tcp(&f, NET_TCP_SYN, opts, sizeof(opts), 0);
	struct net_pkt p;
	enum net_drop_reason why;
	cr_assert_eq(parse(&f, f.len, &p, &why), NET_CLASS_TCP);
	cr_assert_eq(p.tcp_wscale, 14);
}

Test(net, sack_blocks_are_located)
{
	struct frame f;
	uint8_t opts[] = {1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
	tcp(&f, NET_TCP_ACK, opts, sizeof(opts), 0);
	struct net_pkt p;
	enum net_drop_reason why;
	cr_assert_eq(parse(&f, f.len, &p, &why), NET_CLASS_TCP);
	cr_assert_eq(p.tcp_sack_blocks, 2);
	cr_assert_eq(p.tcp_sack_off, 24);
}

Test(net, vlan_and_double_vlan_tags_are_skipped)
{
	struct frame f, g;
	icmp_echo(&f, "198.18.0.2", "198.18.0.10", 4);
	/* Insert tags after the MAC addresses. */
	for (int tags = 1; tags <= 2; tags++) {
		g.len = 0;
		put(&g, f.b, 12);
		for (int t = 0; t < tags; t++) {
			uint8_t tag[4] = {t == 0 && tags == 2 ? 0x88 : 0x81,
					  t == 0 && tags == 2 ? 0xa8 : 0x00, 0x00,
					  (uint8_t)(10 + t)};
			put(&g, tag, 4);
		}
		put(&g, f.b + 12, f.len - 12);
		struct net_pkt p;
		enum net_drop_reason why;
		cr_assert_eq(parse(&g, g.len, &p, &why), NET_CLASS_ICMP, "%d tags: %s", tags,
			     net_drop_reason_name(why));
		cr_assert_eq(p.l2_len, 14 + 4 * tags);
		cr_assert_eq(p.vlan_count, tags);
		cr_assert_eq(p.vlan_tci, 10 + tags - 1);
	}
}

Test(net, three_vlan_tags_are_refused)
{
	struct frame f;
	eth(&f, RTE_ETHER_TYPE_VLAN);
	uint8_t tags[] = {0, 1, 0x81, 0, 0, 2, 0x81, 0, 0, 3, 0x08, 0};
	put(&f, tags, sizeof(tags));
	ASSERT_DROP(&f, f.len, NET_DROP_VLAN_TOO_DEEP);
}

Test(net, ipv6_is_classified_and_left)
{
	struct frame f;
	eth(&f, RTE_ETHER_TYPE_IPV6);
	memset(f.b + f.len, 0, 40);
	f.len += 40;
	struct net_pkt p;
	enum net_drop_reason why;
	cr_assert_eq(parse(&f, f.len, &p, &why), NET_CLASS_IPV6);
}

Test(net, unknown_ethertype_is_dropped)
{
	struct frame f;
	eth(&f, 0x88cc); /* LLDP */
	memset(f.b + f.len, 0, 46);
	f.len += 46;
	ASSERT_DROP(&f, f.len, NET_DROP_ETHERTYPE_UNKNOWN);
}

Test(net, multicast_source_mac_is_dropped)
{
	struct frame f;
	icmp_echo(&f, "198.18.0.2", "198.18.0.10", 0);
	f.b[6] |= 1;
	ASSERT_DROP(&f, f.len, NET_DROP_MAC_BAD_SRC);
}

/* ---- truncation at every length ----------------------------------------------------------- */

Test(net, every_truncation_of_a_tcp_frame_is_dropped_with_the_layer_reason)
{
	struct frame f;
	uint8_t opts[] = {2, 4, 0x05, 0xb4, 1, 1, 1, 0};
	tcp(&f, NET_TCP_SYN, opts, sizeof(opts), 0);
	for (size_t len = 0; len < f.len; len++) {
		struct net_pkt p;
		enum net_drop_reason why;
		cr_assert_eq(parse(&f, len, &p, &why), NET_CLASS_DROP, "len %zu parsed", len);
		enum net_drop_reason want = len < 14   ? NET_DROP_ETH_TRUNCATED
					    : len < 34 ? NET_DROP_IPV4_TRUNCATED
						       : NET_DROP_IPV4_BAD_TOTAL_LEN;
		cr_assert_eq(why, want, "len %zu: %s", len, net_drop_reason_name(why));
	}
}

Test(net, every_truncation_of_an_arp_frame_is_dropped)
{
	struct frame f;
	arp(&f, 1, "198.18.0.2", "198.18.0.10");
	for (size_t len = 14; len < f.len; len++)
		ASSERT_DROP(&f, len, NET_DROP_ARP_TRUNCATED);
}

Test(net, every_truncation_of_a_vlan_tag_is_dropped)
{
	struct frame f;
	eth(&f, RTE_ETHER_TYPE_VLAN);
	uint8_t tag[] = {0, 5, 0x08, 0x00};
	put(&f, tag, 4);
	for (size_t len = 14; len < 18; len++)
		ASSERT_DROP(&f, len, NET_DROP_VLAN_TRUNCATED);
}

/* ---- hostile IPv4 ------------------------------------------------------------------------- */

Test(net, ipv4_version_other_than_4_is_dropped)
{
	struct frame f;
	icmp_echo(&f, "198.18.0.2", "198.18.0.10", 0);
	f.b[14] = 0x65;
	ASSERT_DROP(&f, f.len, NET_DROP_IPV4_BAD_VERSION);
}

Test(net, ipv4_ihl_below_5_is_dropped)
{
	struct frame f;
	icmp_echo(&f, "198.18.0.2", "198.18.0.10", 0);
	f.b[14] = 0x44;
	ASSERT_DROP(&f, f.len, NET_DROP_IPV4_BAD_IHL);
}

Test(net, ipv4_ihl_past_the_frame_is_dropped)
{
	struct frame f;
	icmp_echo(&f, "198.18.0.2", "198.18.0.10", 0); /* 14 + 20 + 8 = 42 bytes */
	f.b[14] = 0x4f;				       /* claims a 60-byte header */
	ASSERT_DROP(&f, f.len, NET_DROP_IPV4_TRUNCATED);
}

Test(net, ipv4_total_length_longer_than_frame_is_dropped)
{
	struct frame f;
	icmp_echo(&f, "198.18.0.2", "198.18.0.10", 8);
	f.b[17] += 1;
	ASSERT_DROP(&f, f.len, NET_DROP_IPV4_BAD_TOTAL_LEN);
}

Test(net, ipv4_total_length_shorter_than_header_is_dropped)
{
	struct frame f;
	icmp_echo(&f, "198.18.0.2", "198.18.0.10", 8);
	f.b[16] = 0, f.b[17] = 12;
	ASSERT_DROP(&f, f.len, NET_DROP_IPV4_BAD_TOTAL_LEN);
}

Test(net, ipv4_bad_header_checksum_is_dropped)
{
	struct frame f;
	icmp_echo(&f, "198.18.0.2", "198.18.0.10", 0);
	f.b[24] ^= 0x40;
	ASSERT_DROP(&f, f.len, NET_DROP_IPV4_BAD_CHECKSUM);
}

Test(net, nic_verdict_bad_checksum_is_trusted_and_good_skips_software_check)
{
	struct frame f;
	icmp_echo(&f, "198.18.0.2", "198.18.0.10", 0);
	struct rte_mbuf *m = mbuf_of(&f, f.len);
	m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_BAD;
	struct net_pkt p;
	enum net_drop_reason why;
	cr_assert_eq(net_parse(m, &p, &why), NET_CLASS_DROP);
	cr_assert_eq(why, NET_DROP_IPV4_BAD_CHECKSUM);
	free_frame(m);

	f.b[24] ^= 0x40; /* wrong sum, but the NIC said good */
	m = mbuf_of(&f, f.len);
	m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_GOOD;
	cr_assert_eq(net_parse(m, &p, &why), NET_CLASS_ICMP);
	free_frame(m);
}

/* Rewrite an IPv4 header field and fix the header checksum, so only the field is wrong. */
static void ipv4_set16(struct frame *f, size_t field, uint16_t v_host)
{
	uint16_t v = htons(v_host);
	memcpy(f->b + 14 + field, &v, 2);
	f->b[24] = f->b[25] = 0;
	size_t ihl = (size_t)(f->b[14] & 0xf) * 4;
	uint16_t ck = htons((uint16_t)~fold(sum16(f->b + 14, ihl)));
	memcpy(f->b + 24, &ck, 2);
}

Test(net, ipv4_fragments_are_dropped)
{
	struct frame f;
	icmp_echo(&f, "198.18.0.2", "198.18.0.10", 0);
	ipv4_set16(&f, 6, 0x2000); /* more fragments */
	ASSERT_DROP(&f, f.len, NET_DROP_IPV4_FRAGMENT);
	ipv4_set16(&f, 6, 0x0010); /* offset 128 */
	ASSERT_DROP(&f, f.len, NET_DROP_IPV4_FRAGMENT);
	ipv4_set16(&f, 6, 0x4000); /* don't fragment alone is fine */
	struct net_pkt p;
	enum net_drop_reason why;
	cr_assert_eq(parse(&f, f.len, &p, &why), NET_CLASS_ICMP);
}

Test(net, ipv4_options_that_overrun_the_header_are_dropped)
{
	struct frame f;
	eth(&f, RTE_ETHER_TYPE_IPV4);
	uint8_t opts[4] = {7, 8, 4, 0}; /* record route claiming 8 bytes in a 4-byte area */
	ipv4(&f, IPPROTO_UDP, "198.18.0.2", "198.18.0.10", 8, opts, 4);
	memset(f.b + f.len, 0, 8);
	f.len += 8;
	ASSERT_DROP(&f, f.len, NET_DROP_IPV4_OPTIONS_BAD);
}

Test(net, ipv4_valid_options_are_accepted)
{
	struct frame f;
	eth(&f, RTE_ETHER_TYPE_IPV4);
	uint8_t opts[4] = {1, 1, 1, 0};
	ipv4(&f, IPPROTO_UDP, "198.18.0.2", "198.18.0.10", 8, opts, 4);
	memset(f.b + f.len, 0, 8);
	f.len += 8;
	struct net_pkt p;
	enum net_drop_reason why;
	cr_assert_eq(parse(&f, f.len, &p, &why), NET_CLASS_UDP, "%s", net_drop_reason_name(why));
	cr_assert_eq(p.l3_len, 24);
}

Test(net, impossible_source_addresses_are_dropped)
{
	const char *bad[] = {"0.0.0.0", "255.255.255.255", "224.0.0.1", "127.0.0.1"};
	for (int i = 0; i < 4; i++) {
		struct frame f;
		icmp_echo(&f, bad[i], "198.18.0.10", 0);
		ASSERT_DROP(&f, f.len, NET_DROP_IPV4_BAD_SRC);
	}
}

Test(net, icmp_shorter_than_its_header_and_bad_checksum_are_dropped)
{
	struct frame f;
	eth(&f, RTE_ETHER_TYPE_IPV4);
	ipv4(&f, IPPROTO_ICMP, "198.18.0.2", "198.18.0.10", 4, NULL, 0);
	memset(f.b + f.len, 0, 4);
	f.len += 4;
	ASSERT_DROP(&f, f.len, NET_DROP_ICMP_TRUNCATED);
	icmp_echo(&f, "198.18.0.2", "198.18.0.10", 16);
	f.b[f.len - 1] ^= 1;
	ASSERT_DROP(&f, f.len, NET_DROP_ICMP_BAD_CHECKSUM);
}

/* ---- hostile TCP -------------------------------------------------------------------------- */

Test(net, tcp_shorter_than_its_header_is_dropped)
{
	struct frame f;
	eth(&f, RTE_ETHER_TYPE_IPV4);
	ipv4(&f, IPPROTO_TCP, "198.18.0.2", "198.18.0.10", 12, NULL, 0);
	memset(f.b + f.len, 0, 12);
	f.len += 12;
	ASSERT_DROP(&f, f.len, NET_DROP_TCP_TRUNCATED);
}

Test(net, tcp_data_offset_under_5_or_past_the_segment_is_dropped)
{
	struct frame f;
	tcp(&f, NET_TCP_ACK, NULL, 0, 0);
	f.b[34 + 12] = 0x40;
	ASSERT_DROP(&f, f.len, NET_DROP_TCP_BAD_DOFF);
	tcp(&f, NET_TCP_ACK, NULL, 0, 0);
	f.b[34 + 12] = 0xf0;
	ASSERT_DROP(&f, f.len, NET_DROP_TCP_BAD_DOFF);
}

Test(net, tcp_bad_checksum_is_dropped)
{
	struct frame f;
	tcp(&f, NET_TCP_ACK | NET_TCP_PSH, NULL, 0, 10);
	f.b[f.len - 1] ^= 0x20;
	ASSERT_DROP(&f, f.len, NET_DROP_TCP_BAD_CHECKSUM);
}

Test(net, each_impossible_flag_combination_is_dropped)
{
	const uint8_t bad[] = {
		0,
		NET_TCP_SYN | NET_TCP_FIN,
		NET_TCP_SYN | NET_TCP_RST,
		NET_TCP_SYN | NET_TCP_FIN | NET_TCP_PSH | NET_TCP_URG,
		NET_TCP_FIN,
		NET_TCP_PSH,
		NET_TCP_URG,
		NET_TCP_FIN | NET_TCP_PSH | NET_TCP_URG, /* Xmas */
	};
	for (size_t i = 0; i < sizeof(bad); i++) {
		struct frame f;
		tcp(&f, bad[i], NULL, 0, 0);
		ASSERT_DROP(&f, f.len, NET_DROP_TCP_BAD_FLAGS);
	}
	const uint8_t good[] = {NET_TCP_SYN,
				NET_TCP_SYN | NET_TCP_ACK,
				NET_TCP_ACK,
				NET_TCP_FIN | NET_TCP_ACK,
				NET_TCP_RST,
				NET_TCP_RST | NET_TCP_ACK,
				NET_TCP_PSH | NET_TCP_ACK};
	for (size_t i = 0; i < sizeof(good); i++) {
		struct frame f;
		tcp(&f, good[i], NULL, 0, 0);
		struct net_pkt p;
		enum net_drop_reason why;
		cr_assert_eq(parse(&f, f.len, &p, &why), NET_CLASS_TCP, "flags 0x%x: %s", good[i],
			     net_drop_reason_name(why));
	}
}

Test(net, tcp_options_that_overrun_or_have_wrong_length_are_dropped)
{
	const uint8_t cases[][8] = {
		{2, 4, 5, 0xb4, 8, 10, 0, 0}, /* timestamps running past the header */
		{2, 3, 5, 0, 0, 0, 0, 0},     /* MSS of length 3 */
		{3, 2, 0, 0, 0, 0, 0, 0},     /* window scale of length 2 */
		{5, 6, 0, 0, 0, 0, 0, 0},     /* SACK with a partial block */
		{1, 1, 1, 1, 1, 1, 1, 30},    /* unknown kind without its length */
		{9, 1, 0, 0, 0, 0, 0, 0},     /* unknown kind with length 1 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct frame f;
		tcp(&f, NET_TCP_SYN, cases[i], 8, 0);
		ASSERT_DROP(&f, f.len, NET_DROP_TCP_BAD_OPTIONS);
	}
}

Test(net, tcp_port_zero_is_dropped)
{
	struct frame f;
	tcp(&f, NET_TCP_SYN, NULL, 0, 0);
	f.b[34] = f.b[35] = 0;
	/* Fix the TCP checksum for the changed port: +0xc350 removed. */
	uint16_t ck;
	memcpy(&ck, f.b + 34 + 16, 2);
	ck = htons(net_cksum_adjust16(ntohs(ck), 0xc350, 0));
	memcpy(f.b + 34 + 16, &ck, 2);
	ASSERT_DROP(&f, f.len, NET_DROP_TCP_BAD_PORT);
}

Test(net, multi_segment_mbufs_are_dropped)
{
	struct frame f;
	icmp_echo(&f, "198.18.0.2", "198.18.0.10", 0);
	struct rte_mbuf *m = mbuf_of(&f, f.len);
	m->pkt_len += 10; /* claims a second segment */
	struct net_pkt p;
	enum net_drop_reason why;
	cr_assert_eq(net_parse(m, &p, &why), NET_CLASS_DROP);
	cr_assert_eq(why, NET_DROP_MULTISEG);
	m->pkt_len -= 10;
	free_frame(m);
}

Test(net, random_bytes_never_crash_the_parser)
{
	struct frame f;
	uint32_t x = 12345;
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(x % 120);
		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			f.b[i] = (uint8_t)(x >> 16);
		}
		if (round % 2 && len > 14) { /* make it look like IPv4 more often */
			f.b[12] = 0x08, f.b[13] = 0;
			f.b[14] = (uint8_t)(0x40 | (f.b[14] & 0xf));
			f.b[6] &= 0xfe;
		}
		struct net_pkt p;
		enum net_drop_reason why;
		enum net_class c = parse(&f, len, &p, &why);
		if (c == NET_CLASS_DROP)
			cr_assert_lt(why, NET_DROP__COUNT);
		x = x * 1103515245u + 12345u;
	}
}

/* ---- ARP ---------------------------------------------------------------------------------- */

static struct net_local local_addrs(void)
{
	struct net_local l;
	memset(&l, 0, sizeof(l));
	memcpy(&l.mac, gw_mac, 6);
	l.vips[l.n_vips++] = inet_addr("198.18.0.10");
	l.snat[l.n_snat++] = inet_addr("198.19.0.1");
	return l;
}

Test(net, arp_request_for_vip_becomes_the_exact_reply)
{
	struct net_local l = local_addrs();
	struct net_neigh *nt = net_neigh_create("t1", 16, SOCKET_ID_ANY, 1000, 100);
	struct frame f;
	arp(&f, 1, "198.18.0.2", "198.18.0.10");
	struct rte_mbuf *m = mbuf_of(&f, f.len);
	struct net_pkt p;
	enum net_drop_reason why;
	cr_assert_eq(net_parse(m, &p, &why), NET_CLASS_ARP);
	cr_assert_eq(net_arp_input(m, &p, &l, nt, 1, &why), NET_ARP_REPLY);
	const uint8_t want[42] = {
		0x02, 0, 0, 0, 0, 2, 0x02, 0,  0, 0,  0, 1, 0x08, 0x06, /* eth: to client */
		0,    1, 8, 0, 6, 4, 0,	   2,				/* reply */
		0x02, 0, 0, 0, 0, 1, 198,  18, 0, 10,			/* sender: us */
		0x02, 0, 0, 0, 0, 2, 198,  18, 0, 2,			/* target: asker */
	};
	cr_assert_eq(rte_pktmbuf_data_len(m), 42);
	cr_assert_arr_eq(rte_pktmbuf_mtod(m, uint8_t *), want, 42);
	struct rte_ether_addr mac;
	bool ask;
	cr_assert_eq(net_neigh_lookup(nt, inet_addr("198.18.0.2"), 2, &mac, &ask), 0,
		     "the asker was learned");
	free_frame(m);
	net_neigh_free(nt);
}

Test(net, arp_between_other_hosts_is_neither_answered_nor_learned)
{
	struct net_local l = local_addrs();
	struct net_neigh *nt = net_neigh_create("t2", 16, SOCKET_ID_ANY, 1000, 100);
	struct frame f;
	arp(&f, 1, "198.18.0.2", "198.18.0.3");
	struct rte_mbuf *m = mbuf_of(&f, f.len);
	struct net_pkt p;
	enum net_drop_reason why;
	net_parse(m, &p, &why);
	cr_assert_eq(net_arp_input(m, &p, &l, nt, 1, &why), NET_ARP_DROP);
	cr_assert_eq(why, NET_DROP_ARP_NOT_FOR_US);
	cr_assert_eq(net_neigh_count(nt), 0);
	free_frame(m);
	net_neigh_free(nt);
}

Test(net, arp_reply_refreshes_a_pending_entry)
{
	struct net_local l = local_addrs();
	struct net_neigh *nt = net_neigh_create("t3", 16, SOCKET_ID_ANY, 1000, 100);
	struct rte_ether_addr mac;
	bool ask;
	cr_assert_eq(net_neigh_lookup(nt, inet_addr("198.19.0.254"), 10, &mac, &ask), -EAGAIN);
	cr_assert(ask);
	struct frame f;
	arp(&f, 2, "198.19.0.254", "198.19.0.1");
	struct rte_mbuf *m = mbuf_of(&f, f.len);
	struct net_pkt p;
	enum net_drop_reason why;
	net_parse(m, &p, &why);
	cr_assert_eq(net_arp_input(m, &p, &l, nt, 20, &why), NET_ARP_LEARNED);
	cr_assert_eq(net_neigh_lookup(nt, inet_addr("198.19.0.254"), 30, &mac, &ask), 0);
	cr_assert_arr_eq(mac.addr_bytes, cl_mac, 6);
	free_frame(m);
	net_neigh_free(nt);
}

Test(net, arp_request_build_is_a_broadcast_who_has)
{
	struct net_local l = local_addrs();
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	cr_assert_not_null(m);
	cr_assert_eq(
		net_arp_request_build(m, &l, inet_addr("198.19.0.1"), inet_addr("198.19.0.254")),
		0);
	struct net_pkt p;
	enum net_drop_reason why;
	cr_assert_eq(net_parse(m, &p, &why), NET_CLASS_ARP);
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(d[i], 0xff);
	cr_assert_eq(d[21], 1);
	cr_assert_eq(p.src_ip, inet_addr("198.19.0.1"));
	cr_assert_eq(p.dst_ip, inet_addr("198.19.0.254"));
	free_frame(m);
}

/* ---- ICMP --------------------------------------------------------------------------------- */

Test(net, echo_reply_has_swapped_addresses_and_valid_checksums)
{
	struct net_local l = local_addrs();
	for (size_t payload = 0; payload < 200; payload += 37) {
		struct frame f;
		icmp_echo(&f, "198.18.0.2", "198.18.0.10", payload);
		struct rte_mbuf *m = mbuf_of(&f, f.len);
		struct net_pkt p;
		enum net_drop_reason why;
		cr_assert_eq(net_parse(m, &p, &why), NET_CLASS_ICMP);
		cr_assert(net_icmp_echo_reply(m, &p, &l));
		uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
		cr_assert_arr_eq(d, cl_mac, 6);
		cr_assert_arr_eq(d + 6, gw_mac, 6);
		cr_assert_eq(fold(sum16(d + 14, 20)), 0xffff, "IPv4 checksum");
		cr_assert_eq(fold(sum16(d + 34, 8 + payload)), 0xffff, "ICMP checksum");
		cr_assert_eq(d[34], 0, "type echo reply");
		uint32_t src;
		memcpy(&src, d + 26, 4);
		cr_assert_eq(src, inet_addr("198.18.0.10"));
		/* The reply parses as a valid packet itself. */
		cr_assert_eq(net_parse(m, &p, &why), NET_CLASS_ICMP);
		free_frame(m);
	}
}

Test(net, echo_reply_leaves_other_icmp_alone)
{
	struct net_local l = local_addrs();
	struct frame f;
	icmp_echo(&f, "198.18.0.2", "198.18.0.10", 0);
	f.b[34] = 13; /* timestamp request */
	uint16_t ck;
	memcpy(&ck, f.b + 36, 2);
	ck = htons(net_cksum_adjust16(ntohs(ck), 0x0800, 0x0d00));
	memcpy(f.b + 36, &ck, 2);
	struct rte_mbuf *m = mbuf_of(&f, f.len);
	struct net_pkt p;
	enum net_drop_reason why;
	cr_assert_eq(net_parse(m, &p, &why), NET_CLASS_ICMP);
	cr_assert_not(net_icmp_echo_reply(m, &p, &l));
	free_frame(m);
}

/* ---- neighbour table ---------------------------------------------------------------------- */

Test(net, neighbour_requests_are_rate_limited_per_address)
{
	struct net_neigh *nt = net_neigh_create("n1", 8, SOCKET_ID_ANY, 1000, 100);
	struct rte_ether_addr mac;
	bool ask;
	uint32_t ip = inet_addr("198.19.0.11");
	cr_assert_eq(net_neigh_lookup(nt, ip, 1000, &mac, &ask), -EAGAIN);
	cr_assert(ask);
	cr_assert_eq(net_neigh_lookup(nt, ip, 1050, &mac, &ask), -EAGAIN);
	cr_assert_not(ask);
	cr_assert_eq(net_neigh_lookup(nt, ip, 1100, &mac, &ask), -EAGAIN);
	cr_assert(ask);
	net_neigh_free(nt);
}

Test(net, stale_neighbour_still_answers_and_asks_for_refresh)
{
	struct net_neigh *nt = net_neigh_create("n2", 8, SOCKET_ID_ANY, 1000, 100);
	struct rte_ether_addr mac, got;
	memcpy(&mac, cl_mac, 6);
	bool ask;
	uint32_t ip = inet_addr("198.19.0.11");
	net_neigh_learn(nt, ip, &mac, 0, true);
	cr_assert_eq(net_neigh_lookup(nt, ip, 500, &got, &ask), 0);
	cr_assert_not(ask);
	cr_assert_eq(net_neigh_lookup(nt, ip, 1500, &got, &ask), 0);
	cr_assert(ask);
	cr_assert_arr_eq(got.addr_bytes, cl_mac, 6);
	net_neigh_free(nt);
}

Test(net, learn_without_create_does_not_add)
{
	struct net_neigh *nt = net_neigh_create("n3", 8, SOCKET_ID_ANY, 1000, 100);
	struct rte_ether_addr mac;
	memcpy(&mac, cl_mac, 6);
	net_neigh_learn(nt, inet_addr("198.19.0.11"), &mac, 0, false);
	cr_assert_eq(net_neigh_count(nt), 0);
	net_neigh_free(nt);
}

Test(net, full_neighbour_table_refuses_new_and_keeps_old)
{
	struct net_neigh *nt = net_neigh_create("n4", 4, SOCKET_ID_ANY, 1000, 100);
	struct rte_ether_addr mac, got;
	memcpy(&mac, cl_mac, 6);
	bool ask;
	for (uint32_t i = 1; i <= 4; i++)
		net_neigh_learn(nt, htonl(0xc6130000u + i), &mac, 0, true);
	cr_assert_eq(net_neigh_count(nt), 4);
	cr_assert_eq(net_neigh_lookup(nt, htonl(0xc6130000u + 9), 1, &got, &ask), -ENOSPC);
	for (uint32_t i = 1; i <= 4; i++)
		cr_assert_eq(net_neigh_lookup(nt, htonl(0xc6130000u + i), 1, &got, &ask), 0);
	net_neigh_free(nt);
}

Test(net, aging_is_bounded_and_removes_only_dead_entries)
{
	struct net_neigh *nt = net_neigh_create("n5", 256, SOCKET_ID_ANY, 1000, 100);
	struct rte_ether_addr mac, got;
	memcpy(&mac, cl_mac, 6);
	bool ask;
	for (uint32_t i = 1; i <= 200; i++)
		net_neigh_learn(nt, htonl(0xc6130000u + i), &mac, i <= 100 ? 0 : 4500, true);
	/* At now = 5000: the first hundred are 5000 old (> 4 × 1000), the rest 500. */
	unsigned removed = net_neigh_age(nt, 5000, 16);
	cr_assert_leq(removed, 16, "a call examines at most its budget");
	for (int i = 0; i < 100; i++)
		removed += net_neigh_age(nt, 5000, 64);
	cr_assert_eq(removed, 100);
	cr_assert_eq(net_neigh_count(nt), 100);
	for (uint32_t i = 101; i <= 200; i++)
		cr_assert_eq(net_neigh_lookup(nt, htonl(0xc6130000u + i), 5000, &got, &ask), 0,
			     "entry %u lost", i);
	net_neigh_free(nt);
}

Test(net, drop_reason_names_are_snake_case_and_unique)
{
	for (int i = 0; i < NET_DROP__COUNT; i++) {
		const char *n = net_drop_reason_name((enum net_drop_reason)i);
		for (const char *c = n; *c; c++)
			cr_assert((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_',
				  "%s", n);
		for (int j = 0; j < i; j++)
			cr_assert_str_neq(n, net_drop_reason_name((enum net_drop_reason)j));
	}
	cr_assert_str_eq(net_drop_reason_name(NET_DROP__COUNT), "unknown");
}

Test(net, every_drop_reason_is_explained_in_the_metrics_docs)
{
	FILE *f = fopen(SOURCE_ROOT "/docs/metrics.md", "r");
	cr_assert_not_null(f, "docs/metrics.md is missing");
	static char doc[1 << 17];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	for (int i = 0; i < NET_DROP__COUNT; i++) {
		char row[64];
		snprintf(row, sizeof(row), "| `%s` |",
			 net_drop_reason_name((enum net_drop_reason)i));
		cr_expect(strstr(doc, row) != NULL, "docs/metrics.md has no row for %s", row);
	}
}

/* ---- checksums ---------------------------------------------------------------------------- */

Test(net, checksum_sum_matches_the_reference_at_every_length_and_alignment)
{
	static uint8_t buf[2048 + 8];
	uint32_t x = 0x9e3779b9;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	/* all 0xff bytes: the lanes' carries at their largest */
	static uint8_t ones[1500];
	memset(ones, 0xff, sizeof(ones));
	for (uint32_t n = 0; n <= 2048; n++) {
		for (uint32_t off = 0; off < 8; off++) {
			const uint8_t *p = buf + off;
			uint16_t got = net_cksum_fold(net_cksum_add(p, n, 0));
			cr_assert_eq(rte_be_to_cpu_16(got), fold(sum16(p, n)),
				     "length %u offset %u", n, off);
			cr_assert_eq(got, rte_raw_cksum(p, n), "length %u offset %u", n, off);
		}
	}
	for (uint32_t n = 0; n <= sizeof(ones); n++)
		cr_assert_eq(net_cksum_fold(net_cksum_add(ones, n, 0)), rte_raw_cksum(ones, n));
	/* a running sum carries over */
	uint64_t s = net_cksum_add(buf, 700, 0);
	cr_assert_eq(net_cksum_fold(net_cksum_add(buf + 700, 801, s)), rte_raw_cksum(buf, 1501));
}
