/*
 * tcp_frame.h: crafted Ethernet + IPv4 + TCP segments for the packet tests, the stream fuzzer,
 * the engine benchmark and the load generator. Built field by field here, independent of the
 * gateway's own segment code, with DPDK's checksum routines (not the gateway's).
 *
 * Header only: every user is its own executable.
 */
#ifndef SLUICE_TESTS_TCP_FRAME_H
#define SLUICE_TESTS_TCP_FRAME_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

struct tcp_frame {
	const struct rte_ether_addr *src_mac, *dst_mac;
	uint32_t src_ip, dst_ip;     /* network order */
	uint16_t src_port, dst_port; /* host order */
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t window;
	uint16_t mss; /* an MSS option when not 0 */
	bool ts;      /* a timestamps option (after NOP, NOP) */
	uint32_t tsval, tsecr;
	uint16_t payload_len;
};

static inline uint16_t tcp_frame_opt_len(const struct tcp_frame *f)
{
	return (uint16_t)((f->mss ? 4 : 0) + (f->ts ? 12 : 0));
}

/* The whole frame's length. */
static inline uint16_t tcp_frame_len(const struct tcp_frame *f)
{
	return (uint16_t)(14 + 20 + 20 + tcp_frame_opt_len(f) + f->payload_len);
}

/* Write the headers (zeroed first) at d; returns where the payload goes. The TCP checksum is
 * left 0: tcp_frame_checksum once the payload is in. */
static inline uint8_t *tcp_frame_headers(uint8_t *d, const struct tcp_frame *f)
{
	uint16_t opt = tcp_frame_opt_len(f);
	memset(d, 0, 14 + 20 + 20 + (size_t)opt);
	struct rte_ether_hdr *eh = (void *)d;
	eh->src_addr = *f->src_mac;
	eh->dst_addr = *f->dst_mac;
	eh->ether_type = htons(RTE_ETHER_TYPE_IPV4);
	struct rte_ipv4_hdr *ip = (void *)(eh + 1);
	ip->version_ihl = 0x45;
	ip->total_length = htons((uint16_t)(tcp_frame_len(f) - 14));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = f->src_ip;
	ip->dst_addr = f->dst_ip;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	struct rte_tcp_hdr *th = (void *)(ip + 1);
	th->src_port = htons(f->src_port);
	th->dst_port = htons(f->dst_port);
	th->sent_seq = htonl(f->seq);
	th->recv_ack = htonl(f->ack);
	th->data_off = (uint8_t)(((20 + opt) / 4) << 4);
	th->tcp_flags = f->flags;
	th->rx_win = htons(f->window);
	uint8_t *o = (uint8_t *)(th + 1);
	if (f->mss) {
		o[0] = 2, o[1] = 4, o[2] = (uint8_t)(f->mss >> 8), o[3] = (uint8_t)f->mss;
		o += 4;
	}
	if (f->ts) {
		o[0] = 1, o[1] = 1, o[2] = 8, o[3] = 10;
		uint32_t v = htonl(f->tsval), e = htonl(f->tsecr);
		memcpy(o + 4, &v, 4);
		memcpy(o + 8, &e, 4);
	}
	return d + 14 + 20 + 20 + opt;
}

/* The TCP checksum of a frame written by tcp_frame_headers, payload in place. */
static inline void tcp_frame_checksum(uint8_t *d)
{
	struct rte_ipv4_hdr *ip = (void *)(d + 14);
	struct rte_tcp_hdr *th = (void *)(ip + 1);
	th->cksum = 0;
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
}

/* A whole segment in a new mbuf, payload copied from `payload` (payload_len bytes); NULL when
 * the pool is empty. */
static inline struct rte_mbuf *tcp_frame_mbuf(struct rte_mempool *pool, const struct tcp_frame *f,
					      const void *payload)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	if (m == NULL)
		return NULL;
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, tcp_frame_len(f));
	uint8_t *p = tcp_frame_headers(d, f);
	if (f->payload_len)
		memcpy(p, payload, f->payload_len);
	tcp_frame_checksum(d);
	return m;
}

#endif
