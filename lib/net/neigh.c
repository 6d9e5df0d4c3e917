/*
 * neigh.c: the per-worker neighbour table, IPv4 → MAC.
 *
 * Open addressing with linear probing over a power-of-two array kept at most half full, and
 * backward-shift deletion (no tombstones, so lookups never slow down as entries come and go).
 * Fixed size from creation: a full table refuses new addresses and keeps the ones it has.
 * One worker owns a table; nothing here is shared, so nothing is locked.
 *
 * An entry is INCOMPLETE from the first lookup until an ARP answer arrives, then REACHABLE.
 * A REACHABLE entry older than the reachable time is stale: it still answers (traffic keeps
 * flowing) while a refresh request goes out, at most once per retry interval.
 */
#include "net/net.h"

#include <string.h>

#include <rte_common.h>
#include <rte_malloc.h>

enum {
	NEIGH_EMPTY,
	NEIGH_INCOMPLETE,
	NEIGH_REACHABLE
};

struct neigh_entry {
	uint32_t ip;
	uint8_t state;
	struct rte_ether_addr mac;
	uint64_t confirmed; /* tsc of the last answer (REACHABLE) or of creation (INCOMPLETE) */
	uint64_t requested; /* tsc of the last request sent */
};

struct net_neigh {
	uint32_t mask; /* slots - 1 */
	uint32_t capacity;
	uint32_t count;
	uint32_t age_cursor;
	uint64_t reachable_tsc;
	uint64_t retry_tsc;
	struct neigh_entry slots[];
};

static inline uint32_t slot_of(const struct net_neigh *nt, uint32_t ip)
{
	/* Multiplicative hash: addresses in one subnet differ in low bits only. */
	return (uint32_t)((ip * 2654435761u) >> 7) & nt->mask;
}

struct net_neigh *net_neigh_create(const char *name, uint32_t capacity, int socket,
				   uint64_t reachable_tsc, uint64_t retry_tsc)
{
	if (capacity == 0 || capacity > (1u << 24))
		return NULL;
	uint32_t slots = rte_align32pow2(capacity * 2);
	struct net_neigh *nt =
		rte_zmalloc_socket(name, sizeof(*nt) + (size_t)slots * sizeof(struct neigh_entry),
				   RTE_CACHE_LINE_SIZE, socket);
	if (nt == NULL)
		return NULL;
	nt->mask = slots - 1;
	nt->capacity = capacity;
	nt->reachable_tsc = reachable_tsc;
	nt->retry_tsc = retry_tsc;
	return nt;
}

void net_neigh_free(struct net_neigh *nt)
{
	rte_free(nt);
}

uint32_t net_neigh_count(const struct net_neigh *nt)
{
	return nt->count;
}

/* Slot holding ip, or the empty slot where it would go. */
static struct neigh_entry *probe(struct net_neigh *nt, uint32_t ip)
{
	uint32_t i = slot_of(nt, ip);
	for (;;) {
		struct neigh_entry *e = &nt->slots[i];
		if (e->state == NEIGH_EMPTY || e->ip == ip)
			return e;
		i = (i + 1) & nt->mask;
	}
}

int net_neigh_lookup(struct net_neigh *nt, uint32_t ip, uint64_t now, struct rte_ether_addr *mac,
		     bool *should_request)
{
	struct neigh_entry *e = probe(nt, ip);
	*should_request = false;
	if (e->state == NEIGH_REACHABLE) {
		*mac = e->mac;
		if (now - e->confirmed > nt->reachable_tsc && now - e->requested >= nt->retry_tsc) {
			e->requested = now;
			*should_request = true;
		}
		return 0;
	}
	if (e->state == NEIGH_INCOMPLETE) {
		if (now - e->requested >= nt->retry_tsc) {
			e->requested = now;
			*should_request = true;
		}
		return -EAGAIN;
	}
	if (nt->count >= nt->capacity)
		return -ENOSPC;
	e->ip = ip;
	e->state = NEIGH_INCOMPLETE;
	e->confirmed = now;
	e->requested = now;
	nt->count++;
	*should_request = true;
	return -EAGAIN;
}

void net_neigh_learn(struct net_neigh *nt, uint32_t ip, const struct rte_ether_addr *mac,
		     uint64_t now, bool create)
{
	struct neigh_entry *e = probe(nt, ip);
	if (e->state == NEIGH_EMPTY) {
		if (!create || nt->count >= nt->capacity)
			return;
		e->ip = ip;
		e->requested = 0;
		nt->count++;
	}
	e->state = NEIGH_REACHABLE;
	e->mac = *mac;
	e->confirmed = now;
}

/* Remove slot i, shifting later members of its probe run back (Knuth's algorithm R). */
static void remove_at(struct net_neigh *nt, uint32_t i)
{
	uint32_t j = i;
	for (;;) {
		nt->slots[i].state = NEIGH_EMPTY;
		for (;;) {
			j = (j + 1) & nt->mask;
			if (nt->slots[j].state == NEIGH_EMPTY) {
				nt->count--;
				return;
			}
			uint32_t home = slot_of(nt, nt->slots[j].ip);
			/* Move j back to i unless its home lies cyclically in (i, j]. */
			bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
			if (!stays)
				break;
		}
		nt->slots[i] = nt->slots[j];
		i = j;
	}
}

unsigned net_neigh_age(struct net_neigh *nt, uint64_t now, unsigned budget)
{
	unsigned removed = 0;
	uint64_t dead_reachable = 4 * nt->reachable_tsc;
	uint64_t dead_incomplete = 8 * nt->retry_tsc;
	for (unsigned n = 0; n < budget && n <= nt->mask; n++) {
		uint32_t i = nt->age_cursor;
		struct neigh_entry *e = &nt->slots[i];
		bool dead = (e->state == NEIGH_REACHABLE && now - e->confirmed > dead_reachable) ||
			    (e->state == NEIGH_INCOMPLETE && now - e->confirmed > dead_incomplete);
		if (dead) {
			remove_at(nt, i);
			removed++;
			/* A later entry may have shifted into i: look at i again next. */
			continue;
		}
		nt->age_cursor = (i + 1) & nt->mask;
	}
	return removed;
}
