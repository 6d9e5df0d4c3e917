/*
 * lb: choosing a pod from a pool.
 *
 * Algorithms (chosen per Ingress with the annotation `sluice.dev/load-balance`):
 *   round-robin   (default) each worker cycles through the endpoints; with N workers the
 *                 spread is even over any window of N·endpoints requests
 *   weighted      endpoints drawn in proportion to their weights; a canary split
 *                 (sluice.dev/canary-weight) uses it whatever the annotation says
 *   least-request two random choices, the one with fewer connections in flight on this
 *                 worker wins ("power of two choices": near-best balance at O(1) cost)
 *   maglev        consistent hashing on the client address, or on a request header named by
 *                 sluice.dev/hash-header (Maglev, NSDI 2016): every node and worker computes
 *                 the same table, so a client sticks to its pod across gateways, and an
 *                 endpoint change moves only about 1/N of clients
 *
 * Tables are built off the data path (with the route table) and are immutable; picking never
 * allocates.
 */
#ifndef SLUICE_LB_H
#define SLUICE_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lb_algorithm {
	LB_ROUND_ROBIN,
	LB_WEIGHTED,
	LB_LEAST_REQUEST,
	LB_MAGLEV,
};

/* "round-robin" etc. → algorithm; false if unknown. */
bool lb_algorithm_parse(const char *s, enum lb_algorithm *out);
const char *lb_algorithm_name(enum lb_algorithm a);

/* One pod of a pool. */
struct lb_endpoint {
	uint32_t addr; /* IPv4, network order */
	uint16_t port; /* host order: the resolved target port */
	bool ready;
	bool serving;
	bool terminating;
	uint32_t weight; /* relative share under the weighted algorithm and Maglev (0 = 1) */
};

/*
 * What a pick reads of a pool: its endpoints and the algorithm's immutable tables. A route
 * pool embeds one (lib/route), so lb never needs to know about routes.
 */
struct lb_pool {
	const struct lb_endpoint *endpoints;
	uint32_t n_endpoints;
	uint8_t algorithm;	/* enum lb_algorithm */
	const uint32_t *maglev; /* LB_MAGLEV_SIZE endpoint indices when algorithm is maglev */
	const uint32_t *cum;	/* cumulative weights when algorithm is weighted */
};

/*
 * Build the algorithm's tables (off the data path, with the route table). A pool whose tables
 * cannot be allocated falls back to round robin. lb_pool_release frees what build made.
 */
void lb_pool_build(struct lb_pool *p);
void lb_pool_release(struct lb_pool *p);

/* Maglev lookup table size: a prime well above 100 × endpoints keeps the spread within 1 %. */
#define LB_MAGLEV_SIZE 65537u

/*
 * Fill table[0..LB_MAGLEV_SIZE) with endpoint indices (Maglev's population, with weights as
 * the number of turns each endpoint takes per round). ids identify endpoints stably across
 * rebuilds (address and port), so a change moves few entries. n ≥ 1.
 */
void lb_maglev_build(const uint64_t *ids, const uint32_t *weights, uint32_t n, uint32_t *table);

static inline uint32_t lb_maglev_pick(const uint32_t *table, uint64_t key_hash)
{
	return table[key_hash % LB_MAGLEV_SIZE];
}

/* A well-mixed 64-bit hash of a 32-bit key (the client address). */
static inline uint64_t lb_hash32(uint32_t x)
{
	uint64_t z = (uint64_t)x + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A well-mixed 64-bit hash of a byte string (a header value), case-sensitive. */
static inline uint64_t lb_hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return lb_hash32((uint32_t)(h ^ (h >> 32)));
}

/*
 * Connections in flight per endpoint on one worker (least-request). A small open-addressing
 * table keyed by address and port; a slot whose count fell to zero is free for another key.
 * Lookups probe a fixed window, so a full window just stops tracking (the endpoint then looks
 * idle): bounded work, no allocation.
 */
#define LB_LOAD_SLOTS 4096u
#define LB_LOAD_PROBE 8u

struct lb_load_slot {
	uint32_t addr;
	uint16_t port;
	uint16_t pad;
	uint32_t n;
};

struct lb_loads {
	struct lb_load_slot s[LB_LOAD_SLOTS];
};

static inline uint32_t lb_load_home(uint32_t addr, uint16_t port)
{
	return (uint32_t)(lb_hash32(addr ^ ((uint32_t)port << 16))) & (LB_LOAD_SLOTS - 1);
}

static inline uint32_t lb_load_get(const struct lb_loads *l, uint32_t addr, uint16_t port)
{
	uint32_t h = lb_load_home(addr, port);
	for (uint32_t k = 0; k < LB_LOAD_PROBE; k++) {
		const struct lb_load_slot *s = &l->s[(h + k) & (LB_LOAD_SLOTS - 1)];
		if (s->n && s->addr == addr && s->port == port)
			return s->n;
	}
	return 0;
}

/* Add delta (+1 or -1). Returns false when the endpoint could not be tracked. */
static inline bool lb_load_add(struct lb_loads *l, uint32_t addr, uint16_t port, int delta)
{
	uint32_t h = lb_load_home(addr, port);
	struct lb_load_slot *free_slot = NULL;
	for (uint32_t k = 0; k < LB_LOAD_PROBE; k++) {
		struct lb_load_slot *s = &l->s[(h + k) & (LB_LOAD_SLOTS - 1)];
		if (s->n && s->addr == addr && s->port == port) {
			if (delta < 0 && s->n == 0)
				return false;
			s->n = (uint32_t)((int64_t)s->n + delta);
			return true;
		}
		if (s->n == 0 && free_slot == NULL)
			free_slot = s;
	}
	if (delta < 0 || free_slot == NULL)
		return false;
	*free_slot = (struct lb_load_slot){addr, port, 0, 1};
	return true;
}

/* Weighted draw: cumulative weights cum[0..n) (cum[n-1] = total), r uniform. */
uint32_t lb_weighted_pick(const uint32_t *cum, uint32_t n, uint32_t r);

/* The two candidates of a power-of-two-choices draw: distinct when n > 1. */
static inline void lb_p2c_candidates(uint32_t n, uint32_t r1, uint32_t r2, uint32_t *a, uint32_t *b)
{
	*a = r1 % n;
	*b = r2 % n;
	if (*a == *b && n > 1)
		*b = (*b + 1) % n;
}

/* Power of two choices over loads[0..n), two random numbers r1, r2 (lb_pick's least-request). */
static inline uint32_t lb_p2c_pick(const uint32_t *loads, uint32_t n, uint32_t r1, uint32_t r2)
{
	uint32_t a, b;
	lb_p2c_candidates(n, r1, r2, &a, &b);
	return loads[b] < loads[a] ? b : a;
}

/* A fast per-worker random source (xorshift). */
static inline uint32_t lb_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return (uint32_t)(x >> 32);
}

/* ---- picking, with passive health (per worker) ---------------------------------------------- */

#define LB_EJECT_SLOTS 64

struct lb_ejected {
	uint32_t addr;
	uint16_t port;
	uint8_t strikes; /* ejections in a row without a success in between */
	uint64_t until;
};

/*
 * A worker's own load-balancing state: its least-request loads, the pods it has ejected, its
 * random source and round-robin cursor. One writer (the worker), no sharing, no allocation.
 */
struct lb_worker {
	struct lb_ejected eject[LB_EJECT_SLOTS];
	uint32_t ejections; /* occupied eject slots (0: nothing to look at) */
	uint32_t rr;
	uint64_t rng;
	uint64_t eject_tsc; /* first ejection lasts this long; doubled per strike up to 32× */
	struct lb_loads loads;
};

void lb_worker_init(struct lb_worker *w, uint64_t eject_tsc, uint64_t seed);

/*
 * Pick an endpoint of p by its algorithm, skipping ejected pods and `avoid` (the index that
 * just failed, or UINT32_MAX). key is the affinity key for Maglev (a client address or a
 * header's hash). When the algorithm's choice is not usable, round robin over the rest; when
 * nothing is, an endpoint anyway rather than fail a request that might succeed. Returns the
 * index, or -1 for an empty pool. Never allocates.
 */
int lb_pick(const struct lb_pool *p, struct lb_worker *w, uint32_t avoid, uint32_t key,
	    uint64_t now);

/*
 * Passive health: a pod that refused or timed out is skipped for eject_tsc, doubled for each
 * further failure without a success in between (up to 32×). A success forgets the record.
 */
void lb_eject(struct lb_worker *w, uint32_t addr, uint16_t port, uint64_t now);
void lb_success(struct lb_worker *w, uint32_t addr, uint16_t port);
bool lb_ejected(const struct lb_worker *w, uint32_t addr, uint16_t port, uint64_t now);

#endif
