/*
 * map.c: the building side of lib/route's hash map and string arena (route-int.h): open
 * addressing over (hash, scope, key) with keys in the table's arena, grown at half full.
 */
#include "route/route-int.h"

#include <stdlib.h>
#include <string.h>

uint64_t hash_str(const char *s, size_t n, uint32_t scope)
{
	uint64_t h = FNV_OFFSET;
	for (size_t i = 0; i < n; i++)
		h = fnv_step(h, (uint8_t)s[i]);
	return fnv_finish(h, scope);
}

uint32_t pool_id(const char *ns, const char *service, const char *port)
{
	uint64_t h = FNV_OFFSET;
	const char *parts[3] = {ns, service, port};
	for (int k = 0; k < 3; k++) {
		for (const char *s = parts[k]; *s; s++)
			h = fnv_step(h, (uint8_t)*s);
		h = fnv_step(h, '/');
	}
	return (uint32_t)(h ^ (h >> 32));
}

int64_t arena_add(struct arena *a, const char *s, size_t n)
{
	if (a->len + n + 1 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 4096;
		while (cap < a->len + n + 1)
			cap *= 2;
		char *nb = realloc(a->buf, cap);
		if (nb == NULL)
			return -1;
		a->buf = nb;
		a->cap = cap;
	}
	memcpy(a->buf + a->len, s, n);
	a->buf[a->len + n] = '\0';
	int64_t off = (int64_t)a->len;
	a->len += n + 1;
	return off;
}

int map_init(struct map *m, uint32_t expect)
{
	uint32_t n = 16;
	while (n < expect * 2)
		n <<= 1;
	m->slots = calloc(n, sizeof(*m->slots));
	m->mask = n - 1;
	m->count = 0;
	return m->slots ? 0 : -1;
}

static int map_grow(struct map *m);

int map_put(struct map *m, const char *arena, uint64_t h, uint32_t scope, uint32_t key, uint32_t n,
	    int32_t value)
{
	if ((m->count + 1) * 2 > m->mask + 1 && map_grow(m) != 0)
		return -1;
	h = nonzero(h);
	for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
		struct slot *s = &m->slots[i];
		if (s->hash == 0) {
			*s = (struct slot){h, scope, key, n, value};
			m->count++;
			return 1;
		}
		if (s->hash == h && s->scope == scope && s->key_len == n &&
		    memcmp(arena + s->key, arena + key, n) == 0)
			return 0;
	}
}

static int map_grow(struct map *m)
{
	struct map bigger;
	if (map_init(&bigger, (m->mask + 1)) != 0)
		return -1;
	for (uint32_t i = 0; i <= m->mask; i++) {
		struct slot *s = &m->slots[i];
		if (s->hash == 0)
			continue;
		for (uint32_t j = (uint32_t)s->hash & bigger.mask;; j = (j + 1) & bigger.mask) {
			if (bigger.slots[j].hash == 0) {
				bigger.slots[j] = *s;
				break;
			}
		}
	}
	bigger.count = m->count;
	free(m->slots);
	*m = bigger;
	return 0;
}
