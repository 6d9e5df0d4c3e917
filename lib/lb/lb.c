/*
 * lb.c: table builders and the weighted draw.
 *
 * Maglev (Eisenbud et al., NSDI 2016, §3.4): each endpoint has a permutation of the table's
 * slots given by an offset and a skip derived from two hashes of its id; endpoints take turns
 * claiming their next free preferred slot until the table is full. Weights give an endpoint
 * that many turns per round.
 */
#include "lb/lb.h"

#include <stdlib.h>
#include <string.h>

bool lb_algorithm_parse(const char *s, enum lb_algorithm *out)
{
	static const struct {
		const char *name;
		enum lb_algorithm a;
	} names[] = {
		{"round-robin", LB_ROUND_ROBIN},
		{"weighted", LB_WEIGHTED},
		{"least-request", LB_LEAST_REQUEST},
		{"maglev", LB_MAGLEV},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i].name) == 0) {
			*out = names[i].a;
			return true;
		}
	}
	return false;
}

const char *lb_algorithm_name(enum lb_algorithm a)
{
	switch (a) {
	case LB_ROUND_ROBIN:
		return "round-robin";
	case LB_WEIGHTED:
		return "weighted";
	case LB_LEAST_REQUEST:
		return "least-request";
	case LB_MAGLEV:
		return "maglev";
	}
	return "?";
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void lb_maglev_build(const uint64_t *ids, const uint32_t *weights, uint32_t n, uint32_t *table)
{
	const uint32_t M = LB_MAGLEV_SIZE;
	uint32_t *offset = malloc(n * sizeof(uint32_t));
	uint32_t *skip = malloc(n * sizeof(uint32_t));
	uint32_t *next = calloc(n, sizeof(uint32_t));
	if (offset == NULL || skip == NULL || next == NULL) {
		/* Out of memory on the management lcore: fall back to a plain modulo spread. */
		for (uint32_t i = 0; i < M; i++)
			table[i] = i % n;
		free(offset), free(skip), free(next);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		offset[i] = (uint32_t)(mix64(ids[i] ^ 0x5851f42d4c957f2dull) % M);
		skip[i] = (uint32_t)(mix64(ids[i] ^ 0x14057b7ef767814full) % (M - 1)) + 1;
	}
	memset(table, 0xff, M * sizeof(uint32_t));
	uint32_t filled = 0;
	while (filled < M) {
		for (uint32_t i = 0; i < n && filled < M; i++) {
			uint32_t turns = weights ? weights[i] : 1;
			for (uint32_t t = 0; t < turns && filled < M; t++) {
				uint32_t c;
				do {
					c = (uint32_t)(((uint64_t)offset[i] +
							(uint64_t)next[i] * skip[i]) %
						       M);
					next[i]++;
				} while (table[c] != UINT32_MAX);
				table[c] = i;
				filled++;
			}
		}
	}
	free(offset);
	free(skip);
	free(next);
}

uint32_t lb_weighted_pick(const uint32_t *cum, uint32_t n, uint32_t r)
{
	uint32_t total = cum[n - 1];
	if (total == 0)
		return r % n;
	uint32_t x = r % total;
	uint32_t lo = 0, hi = n - 1;
	while (lo < hi) { /* first i with cum[i] > x */
		uint32_t mid = (lo + hi) / 2;
		if (cum[mid] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void lb_pool_build(struct lb_pool *p)
{
	uint32_t n = p->n_endpoints;
	p->cum = NULL;
	p->maglev = NULL;
	if (n == 0)
		return;
	if (p->algorithm == LB_WEIGHTED) {
		uint32_t *cum = malloc(n * sizeof(uint32_t));
		uint64_t total = 0;
		for (uint32_t e = 0; cum && e < n; e++) {
			uint32_t w = p->endpoints[e].weight;
			total += w ? w : 1;
			cum[e] = (uint32_t)(total > UINT32_MAX ? UINT32_MAX : total);
		}
		if (cum && total > 0) {
			p->cum = cum;
		} else {
			free(cum);
			p->algorithm = LB_ROUND_ROBIN;
		}
	}
	if (p->algorithm == LB_MAGLEV) {
		/* Endpoint ids are address and port, so the same endpoints give the same table on
		 * every gateway and a change moves few clients. */
		uint64_t *ids = malloc(n * sizeof(uint64_t));
		uint32_t *ws = malloc(n * sizeof(uint32_t));
		uint32_t *tab = malloc(LB_MAGLEV_SIZE * sizeof(uint32_t));
		if (ids && ws && tab) {
			for (uint32_t e = 0; e < n; e++) {
				const struct lb_endpoint *ep = &p->endpoints[e];
				ids[e] = (uint64_t)ep->addr << 16 | ep->port;
				ws[e] = ep->weight ? ep->weight : 1;
			}
			lb_maglev_build(ids, ws, n, tab);
			p->maglev = tab;
		} else {
			free(tab);
			p->algorithm = LB_ROUND_ROBIN;
		}
		free(ids);
		free(ws);
	}
}

void lb_pool_release(struct lb_pool *p)
{
	free((void *)p->maglev);
	free((void *)p->cum);
	p->maglev = NULL;
	p->cum = NULL;
}
