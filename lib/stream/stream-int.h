/*
 * stream-int.h: what the files of lib/stream share. Nothing here is exported from the module.
 */
#ifndef SLUICE_STREAM_INT_H
#define SLUICE_STREAM_INT_H

#include "stream/stream.h"

/* ---- sequence arithmetic (RFC 9293 §3.4) ---------------------------------------------------- */

static inline bool sq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}
static inline bool sq_le(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}
static inline uint32_t sq_max(uint32_t a, uint32_t b)
{
	return sq_lt(a, b) ? b : a;
}
static inline uint32_t sq_min(uint32_t a, uint32_t b)
{
	return sq_lt(a, b) ? a : b;
}
static inline uint32_t u32_min(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}
static inline uint32_t u32_max(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}
/* a has passed deadline t (both on the millisecond clock; t != 0). */
static inline bool due(uint32_t now, uint32_t t)
{
	return t != 0 && (int32_t)(now - t) >= 0;
}
/* A timer value: never 0 (0 means off). */
static inline uint32_t at(uint32_t now, uint32_t ms)
{
	uint32_t t = now + ms;
	return t ? t : 1;
}

/* ms << shift, at most max (no overflow for any shift). */
static inline uint32_t backed_off(uint32_t ms, uint8_t shift, uint32_t max)
{
	uint64_t v = (uint64_t)ms << (shift > 32 ? 32 : shift);
	return v > max ? max : (uint32_t)v;
}

/* ---- ring.c: byte rings in mbufs ------------------------------------------------------------ */

void ring_init(struct stream_ring *r, uint32_t cap, uint32_t head);
/* Write n bytes at absolute position pos (within [head, head + cap)); backing slots are taken
 * from the pool. Returns the bytes written (short when the pool ran dry). */
uint32_t ring_put(struct stream_ring *r, struct rte_mempool *pool, uint32_t pos, const uint8_t *src,
		  uint32_t n);
/* Copy n bytes from absolute position pos (held bytes) to dst. */
void ring_get(const struct stream_ring *r, uint32_t pos, uint8_t *dst, uint32_t n);
/* Drop n bytes from the head, giving back the slots they emptied. */
void ring_consume(struct stream_ring *r, uint32_t n);
/* Give back every slot when the ring holds no bytes (the caller knows no out-of-order bytes
 * live beyond its head): an idle connection holds no mbuf. */
void ring_idle(struct stream_ring *r);
/* Give back every slot. */
void ring_clear(struct stream_ring *r);

/* ---- ranges --------------------------------------------------------------------------------- */

/* Add [lo, hi) to r, merging what it touches; the merged range goes first when `recent`
 * (SACK's most-recent-first order), else the ranges stay in sequence order. false when r is
 * full and [lo, hi) touches none of its ranges. */
bool ranges_add(struct stream_ranges *r, uint32_t lo, uint32_t hi, bool recent);
/* Forget what lies below seq (trimming a range that straddles it). */
void ranges_trim(struct stream_ranges *r, uint32_t seq);
/* Bytes covered. */
uint32_t ranges_bytes(const struct stream_ranges *r);

/* ---- output.c ------------------------------------------------------------------------------- */

/* Build and queue one segment: seq, flags (TH_*), len bytes of the send ring from seq. SYN
 * segments carry the handshake options. */
bool send_segment(struct stream_leg *l, uint32_t seq, uint8_t flags, uint32_t len, uint32_t now,
		  struct stream_out *out);
/* An ACK now (with SACK blocks when out-of-order data is held). */
void send_ack(struct stream_leg *l, uint32_t now, struct stream_out *out);
/* A RST with the given sequence (and ACK when ack_valid). */
void send_rst(struct stream_leg *l, uint32_t seq, uint32_t ack, bool with_ack, uint32_t now,
	      struct stream_out *out);
/* The window to advertise, in bytes. */
uint32_t rcv_window(const struct stream_leg *l);
/* Bytes in flight by RFC 6675's reckoning (SACKed bytes and holes below the highest SACK not
 * yet resent do not count). */
uint32_t pipe_bytes(const struct stream_leg *l);
/* RTO timer: start when something is outstanding and it is off; off when nothing is. */
void rto_restart(struct stream_leg *l, uint32_t now);
/* A new RTT sample in milliseconds (RFC 6298 §2). */
void rtt_sample(struct stream_leg *l, uint32_t ms);
/* Our TSval now. */
static inline uint32_t tsval_now(const struct stream_leg *l, uint32_t now)
{
	return now + l->ts_off;
}
/* The send ring's positions are sequence numbers: its head is the first byte not yet
 * acknowledged, and the FIN, once queued, takes the sequence after its last byte. */
static inline uint32_t data_end(const struct stream_leg *l)
{
	return l->snd.head + l->snd.len;
}

/* ---- stream.c ------------------------------------------------------------------------------ */

/* Our SYN was acknowledged: ESTABLISHED (FIN-WAIT-1 when the owner already shut it). */
void established(struct stream_leg *l);
/* Active open: take the options and the sequence of the peer's SYN-ACK. */
void syn_ack_options(struct stream_leg *l, const struct net_pkt *p, uint32_t seq);
/* CLOSED, for the reason given; every timer off. */
void close_leg(struct stream_leg *l, enum stream_end why);

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

#endif
