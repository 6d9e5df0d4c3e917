/*
 * route-int.h: what the files of lib/route share — FNV-1a hashing, the string arena and the one
 * hash map type every map of a table uses (map.c builds them; route.c reads them on lookup,
 * where map_get and the hash steps stay inline). Nothing here is exported from the module.
 */
#ifndef SLUICE_ROUTE_INT_H
#define SLUICE_ROUTE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "route/route.h"

#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME  1099511628211ull

static inline uint64_t fnv_step(uint64_t h, uint8_t c)
{
	return (h ^ c) * FNV_PRIME;
}

static inline uint64_t fnv_finish(uint64_t h, uint32_t scope)
{
	h ^= scope;
	h *= FNV_PRIME;
	h ^= h >> 29;
	return h;
}

uint64_t hash_str(const char *s, size_t n, uint32_t scope);
/* A pool's identity across table versions: FNV-1a over "ns/service/port". */
uint32_t pool_id(const char *ns, const char *service, const char *port);

/* ---- string arena ------------------------------------------------------------------------- */

struct arena {
	char *buf;
	size_t len, cap;
};

/* Returns an offset (strings are addressed by offset until the arena stops growing). */
int64_t arena_add(struct arena *a, const char *s, size_t n);

/* ---- map ---------------------------------------------------------------------------------- */

struct slot {
	uint64_t hash; /* 0 = empty */
	uint32_t scope;
	uint32_t key; /* arena offset */
	uint32_t key_len;
	int32_t value;
};

struct map {
	struct slot *slots;
	uint32_t mask;
	uint32_t count;
};

int map_init(struct map *m, uint32_t expect);
/* Insert unless present; returns 1 inserted, 0 present, -1 no memory. */
int map_put(struct map *m, const char *arena, uint64_t h, uint32_t scope, uint32_t key, uint32_t n,
	    int32_t value);

static inline uint64_t nonzero(uint64_t h)
{
	return h ? h : 1;
}

static inline int32_t map_get(const struct map *m, const char *arena, uint64_t h, uint32_t scope,
			      const char *key, size_t n)
{
	h = nonzero(h);
	for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
		const struct slot *s = &m->slots[i];
		if (s->hash == 0)
			return -1;
		if (s->hash == h && s->scope == scope && s->key_len == n &&
		    memcmp(arena + s->key, key, n) == 0)
			return s->value;
	}
}

#endif
