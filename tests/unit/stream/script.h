/*
 * script.h: a scripted peer for lib/stream's unit tests — segments forged from "the peer" into
 * one leg, and what the leg sends parsed back. test_script.c uses it for cases a simulated link
 * reaches only by luck (probes into a full ring, RSTs after a timeout, floods of answers).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "net/net.h"
#include "stream/stream.h"

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

static struct rte_mempool *pool;

static void setup(void)
{
	static bool eal;
	if (!eal) {
		char *argv[] = {"script",
				"--no-huge",
				"--no-shconf",
				"--no-pci",
				"-m",
				"256",
				"--log-level=error",
				"--file-prefix=sluice-test-stream-script",
				NULL};
		cr_assert_geq(rte_eal_init(8, argv), 0);
		eal = true;
	}
	if (pool == NULL)
		pool = rte_pktmbuf_pool_create("script", 8191, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					       SOCKET_ID_ANY);
	cr_assert_not_null(pool);
}

static const uint32_t IP_L = RTE_BE32(0xc6120001), IP_R = RTE_BE32(0xc6120002);
static const uint16_t P_L = RTE_BE16(443), P_R = RTE_BE16(40000);

/* A parsed output segment. */
struct oseg {
	uint32_t seq, ack, len;
	uint16_t win;
	uint8_t flags;
	bool has_ts;
	uint32_t tsval, tsecr;
	uint8_t nsack;
	uint32_t sack[8];
	uint8_t data[2048];
};

static struct rte_mbuf *pk[512];
static struct stream_out out = {pk, 0, 512};
static struct oseg got[512];
static unsigned ngot;

/* Parse and free what the leg sent. */
static unsigned collect(void)
{
	ngot = 0;
	for (uint16_t i = 0; i < out.n; i++) {
		struct rte_mbuf *m = out.pkts[i];
		struct rte_ether_hdr *eh =
			(struct rte_ether_hdr *)rte_pktmbuf_prepend(m, sizeof(*eh));
		memset(eh, 0, sizeof(*eh));
		eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
		struct net_pkt p;
		enum net_drop_reason why;
		cr_assert_eq(net_parse(m, &p, &why), NET_CLASS_TCP, "leg sent junk");
		const uint8_t *b = rte_pktmbuf_mtod(m, const uint8_t *);
		const struct rte_tcp_hdr *th = (const void *)(b + p.l2_len + p.l3_len);
		struct oseg *o = &got[ngot++];
		o->seq = rte_be_to_cpu_32(th->sent_seq);
		o->ack = rte_be_to_cpu_32(th->recv_ack);
		o->win = rte_be_to_cpu_16(th->rx_win);
		o->flags = th->tcp_flags;
		o->len = p.payload_len;
		o->has_ts = p.tcp_has_ts;
		o->tsval = p.tcp_tsval;
		o->tsecr = p.tcp_tsecr;
		o->nsack = p.tcp_sack_blocks;
		for (int k = 0; k < p.tcp_sack_blocks && k < 4; k++) {
			uint32_t v[2];
			memcpy(v, (const uint8_t *)th + p.tcp_sack_off + 8 * k, 8);
			o->sack[2 * k] = rte_be_to_cpu_32(v[0]);
			o->sack[2 * k + 1] = rte_be_to_cpu_32(v[1]);
		}
		memcpy(o->data, b + p.l2_len + p.l3_len + p.l4_len, p.payload_len);
		rte_pktmbuf_free(m);
	}
	out.n = 0;
	return ngot;
}

struct fopt {
	bool ts;
	uint32_t tsval, tsecr;
	uint8_t nsack;
	uint32_t sack[8];
	bool syn_opts; /* MSS/WS/SACKOK for a SYN */
	uint16_t mss;
	uint8_t ws; /* 0xff none */
	bool sackok;
};

/* Build a segment from the peer and parse it. */
static struct rte_mbuf *forge(uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win,
			      const uint8_t *data, uint16_t len, const struct fopt *fo,
			      struct net_pkt *p)
{
	uint8_t opt[40];
	uint8_t ol = 0;
	if (fo && fo->syn_opts) {
		opt[ol++] = 2, opt[ol++] = 4, opt[ol++] = fo->mss >> 8, opt[ol++] = fo->mss & 0xff;
		if (fo->ws != 0xff)
			opt[ol++] = 1, opt[ol++] = 3, opt[ol++] = 3, opt[ol++] = fo->ws;
		if (fo->sackok)
			opt[ol++] = 1, opt[ol++] = 1, opt[ol++] = 4, opt[ol++] = 2;
	}
	if (fo && fo->ts) {
		opt[ol++] = 1, opt[ol++] = 1, opt[ol++] = 8, opt[ol++] = 10;
		uint32_t v = rte_cpu_to_be_32(fo->tsval), e = rte_cpu_to_be_32(fo->tsecr);
		memcpy(opt + ol, &v, 4), ol += 4;
		memcpy(opt + ol, &e, 4), ol += 4;
	}
	if (fo && fo->nsack) {
		opt[ol++] = 1, opt[ol++] = 1, opt[ol++] = 5, opt[ol++] = 2 + 8 * fo->nsack;
		for (int k = 0; k < 2 * fo->nsack; k++) {
			uint32_t v = rte_cpu_to_be_32(fo->sack[k]);
			memcpy(opt + ol, &v, 4), ol += 4;
		}
	}
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	cr_assert_not_null(m);
	uint16_t total = 14 + 20 + 20 + ol + len;
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, total);
	cr_assert_not_null(d);
	memset(d, 0, 54 + ol);
	struct rte_ether_hdr *eh = (void *)d;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = (void *)(eh + 1);
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16(total - 14);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = IP_R;
	ip->dst_addr = IP_L;
	struct rte_tcp_hdr *th = (void *)(ip + 1);
	th->src_port = P_R;
	th->dst_port = P_L;
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32(ack);
	th->tcp_flags = flags;
	th->data_off = (uint8_t)(((20 + ol) / 4) << 4);
	th->rx_win = rte_cpu_to_be_16(win);
	memcpy(th + 1, opt, ol);
	if (len)
		memcpy((uint8_t *)(th + 1) + ol, data, len);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	enum net_drop_reason why;
	cr_assert_eq(net_parse(m, p, &why), NET_CLASS_TCP, "forged junk: %s",
		     net_drop_reason_name(why));
	return m;
}

static void in(struct stream_leg *l, uint32_t now, uint8_t flags, uint32_t seq, uint32_t ack,
	       uint16_t win, const uint8_t *data, uint16_t len, const struct fopt *fo)
{
	struct net_pkt p;
	struct rte_mbuf *m = forge(flags, seq, ack, win, data, len, fo, &p);
	stream_input(l, m, &p, now, &out);
	rte_pktmbuf_free(m);
}

/* The peer's stream: byte at sequence s. */
static inline bool sq_le_(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}
static uint8_t pb(uint32_t s)
{
	return (uint8_t)(s * 2654435761u >> 13);
}

/* Passive open with a scripted client; returns with the leg ESTABLISHED. irs = client ISN. */
static void open_passive(struct stream_leg *l, struct stream_cfg *cfg, uint32_t irs, uint32_t iss,
			 bool ts, bool sack, uint8_t ws, uint16_t mss, uint16_t win, uint32_t now)
{
	cr_assert(stream_cfg_defaults(cfg));
	struct stream_syn s = {.local_ip = IP_L,
			       .remote_ip = IP_R,
			       .local_port = P_L,
			       .remote_port = P_R,
			       .isn = irs,
			       .mss = mss,
			       .wscale = ws,
			       .sack_ok = sack,
			       .has_ts = ts,
			       .tsval = 1000};
	cr_assert(stream_accept(l, cfg, &s, iss, now, &out));
	collect();
	cr_assert_eq(ngot, 1);
	struct fopt fo = {.ts = ts, .tsval = 1001, .tsecr = got[0].tsval};
	in(l, now, F_ACK, irs + 1, iss + 1, win, NULL, 0, &fo);
	collect();
	cr_assert_eq(l->state, STREAM_ESTABLISHED);
}
