/*
 * ring.c: byte rings whose storage is mbufs.
 *
 * A leg's buffers hold a window's worth of bytes at most, but most connections hold far less
 * most of the time: an idle kept-alive connection holds nothing. So a ring is an array of slot
 * pointers, and a slot takes an mbuf from the worker's pool only while it holds bytes. Positions
 * are sequence numbers, so out-of-order data is written straight to where it belongs and the
 * in-order bytes need no copy when a hole fills.
 */
#include <string.h>

#include <rte_mbuf.h>

#include "stream/stream-int.h"

#define SLOT_OF(pos) (((pos) >> STREAM_SLOT_SHIFT) & (STREAM_RING_SLOTS - 1))
#define OFF_OF(pos)  ((pos) & (STREAM_SLOT - 1))

void ring_init(struct stream_ring *r, uint32_t cap, uint32_t head)
{
	memset(r, 0, sizeof(*r));
	/* A window of cap bytes from an unaligned head touches one slot more than cap fills. */
	uint32_t max = (STREAM_RING_SLOTS - 1) * STREAM_SLOT;
	cap = (cap + STREAM_SLOT - 1) & ~(STREAM_SLOT - 1);
	r->cap = cap == 0 ? STREAM_SLOT : cap > max ? max : cap;
	r->head = head;
}

static uint8_t *slot_data(struct rte_mbuf *m)
{
	return (uint8_t *)m->buf_addr + RTE_PKTMBUF_HEADROOM;
}

uint32_t ring_put(struct stream_ring *r, struct rte_mempool *pool, uint32_t pos, const uint8_t *src,
		  uint32_t n)
{
	uint32_t done = 0;
	while (done < n) {
		uint32_t p = pos + done;
		uint32_t s = SLOT_OF(p), off = OFF_OF(p);
		if (r->slot[s] == NULL) {
			struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
			if (m == NULL)
				break;
			r->slot[s] = m;
			r->held++;
		}
		uint32_t k = u32_min(n - done, STREAM_SLOT - off);
		memcpy(slot_data(r->slot[s]) + off, src + done, k);
		done += k;
	}
	return done;
}

void ring_get(const struct stream_ring *r, uint32_t pos, uint8_t *dst, uint32_t n)
{
	uint32_t done = 0;
	while (done < n) {
		uint32_t p = pos + done;
		uint32_t off = OFF_OF(p);
		uint32_t k = u32_min(n - done, STREAM_SLOT - off);
		memcpy(dst + done, slot_data(r->slot[SLOT_OF(p)]) + off, k);
		done += k;
	}
}

static void slot_free(struct stream_ring *r, uint32_t s)
{
	if (r->slot[s] != NULL) {
		rte_pktmbuf_free(r->slot[s]);
		r->slot[s] = NULL;
		r->held--;
	}
}

void ring_consume(struct stream_ring *r, uint32_t n)
{
	uint32_t from = r->head;
	r->head += n;
	r->len -= n;
	/* Slots wholly before the new head are empty now; the head's own slot stays (bytes after
	 * the head, in order or not, may live in it). */
	for (uint32_t p = from & ~(STREAM_SLOT - 1); sq_lt(p + STREAM_SLOT - 1, r->head);
	     p += STREAM_SLOT)
		slot_free(r, SLOT_OF(p));
}

void ring_idle(struct stream_ring *r)
{
	if (r->len == 0 && r->held > 0)
		for (uint32_t s = 0; s < STREAM_RING_SLOTS; s++)
			slot_free(r, s);
}

void ring_clear(struct stream_ring *r)
{
	for (uint32_t s = 0; s < STREAM_RING_SLOTS; s++)
		slot_free(r, s);
	r->len = 0;
}

/* ---- ranges --------------------------------------------------------------------------------- */

bool ranges_add(struct stream_ranges *r, uint32_t lo, uint32_t hi, bool recent)
{
	/* Merge every range [lo, hi) touches into it, removing them. */
	uint8_t k = 0;
	bool merged = false;
	for (uint8_t i = 0; i < r->n; i++) {
		if (sq_le(r->lo[i], hi) && sq_le(lo, r->hi[i])) {
			lo = sq_min(lo, r->lo[i]);
			hi = sq_max(hi, r->hi[i]);
			merged = true;
			continue;
		}
		r->lo[k] = r->lo[i];
		r->hi[k] = r->hi[i];
		k++;
	}
	if (!merged && k == STREAM_RANGES) {
		r->n = k;
		return false;
	}
	r->n = k;
	uint8_t at = 0;
	if (!recent)
		while (at < k && sq_lt(r->lo[at], lo))
			at++;
	memmove(&r->lo[at + 1], &r->lo[at], (k - at) * sizeof(uint32_t));
	memmove(&r->hi[at + 1], &r->hi[at], (k - at) * sizeof(uint32_t));
	r->lo[at] = lo;
	r->hi[at] = hi;
	r->n++;
	return true;
}

void ranges_trim(struct stream_ranges *r, uint32_t seq)
{
	uint8_t k = 0;
	for (uint8_t i = 0; i < r->n; i++) {
		if (sq_le(r->hi[i], seq))
			continue;
		r->lo[k] = sq_max(r->lo[i], seq);
		r->hi[k] = r->hi[i];
		k++;
	}
	r->n = k;
}

uint32_t ranges_bytes(const struct stream_ranges *r)
{
	uint32_t b = 0;
	for (uint8_t i = 0; i < r->n; i++)
		b += r->hi[i] - r->lo[i];
	return b;
}
