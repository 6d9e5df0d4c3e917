/*
 * pick.c: choosing an endpoint on the data path, with passive health.
 *
 * Every worker keeps its own view: which pods it saw refuse or time out (a small fixed array
 * scanned only while something is ejected), how many connections it has bound to each pod
 * (least-request), a random source and a round-robin cursor. Nothing is shared between
 * workers, so nothing is locked; with RSS spreading clients evenly, per-worker views balance
 * well (docs/design.md, "Load balancing").
 */
#include "lb/lb.h"

#include <string.h>

void lb_worker_init(struct lb_worker *w, uint64_t eject_tsc, uint64_t seed)
{
	memset(w, 0, sizeof(*w));
	w->eject_tsc = eject_tsc;
	w->rng = seed | 1;
}

bool lb_ejected(const struct lb_worker *w, uint32_t addr, uint16_t port, uint64_t now)
{
	if (w->ejections == 0)
		return false;
	for (unsigned i = 0; i < LB_EJECT_SLOTS; i++)
		if (w->eject[i].addr == addr && w->eject[i].port == port && w->eject[i].until > now)
			return true;
	return false;
}

void lb_eject(struct lb_worker *w, uint32_t addr, uint16_t port, uint64_t now)
{
	unsigned slot = 0;
	uint8_t strikes = 0;
	for (unsigned i = 0; i < LB_EJECT_SLOTS; i++) {
		if (w->eject[i].addr == addr && w->eject[i].port == port) {
			slot = i;
			strikes = (uint8_t)(w->eject[i].strikes < 5 ? w->eject[i].strikes + 1 : 5);
			break;
		}
		if (w->eject[i].until < w->eject[slot].until)
			slot = i; /* else the slot that expires first */
	}
	if (w->eject[slot].addr == 0)
		w->ejections++;
	w->eject[slot] = (struct lb_ejected){addr, port, strikes, now + (w->eject_tsc << strikes)};
}

void lb_success(struct lb_worker *w, uint32_t addr, uint16_t port)
{
	if (w->ejections == 0)
		return;
	for (unsigned i = 0; i < LB_EJECT_SLOTS; i++)
		if (w->eject[i].addr == addr && w->eject[i].port == port) {
			w->eject[i] = (struct lb_ejected){0};
			w->ejections--;
			return;
		}
}

static inline bool usable(const struct lb_pool *p, const struct lb_worker *w, uint32_t i,
			  uint32_t avoid, uint64_t now)
{
	return i != avoid && !lb_ejected(w, p->endpoints[i].addr, p->endpoints[i].port, now);
}

int lb_pick(const struct lb_pool *p, struct lb_worker *w, uint32_t avoid, uint32_t key,
	    uint64_t now)
{
	uint32_t n = p->n_endpoints;
	if (n == 0)
		return -1;
	switch (p->algorithm) {
	case LB_MAGLEV:
		if (p->maglev) {
			/* Affinity: the key's pod, unless it is ejected or just failed. */
			uint32_t i = lb_maglev_pick(p->maglev, lb_hash32(key));
			if (i < n && usable(p, w, i, avoid, now))
				return (int)i;
		}
		break;
	case LB_WEIGHTED:
		if (p->cum) {
			for (unsigned k = 0; k < 4; k++) {
				uint32_t r =
					(uint32_t)(((uint64_t)lb_rand(&w->rng) * p->cum[n - 1]) >>
						   32);
				uint32_t i = lb_weighted_pick(p->cum, n, r);
				if (i < n && usable(p, w, i, avoid, now))
					return (int)i;
			}
		}
		break;
	case LB_LEAST_REQUEST: {
		uint32_t a, b;
		lb_p2c_candidates(n, lb_rand(&w->rng), lb_rand(&w->rng), &a, &b);
		bool ua = usable(p, w, a, avoid, now), ub = usable(p, w, b, avoid, now);
		if (ua && ub) {
			uint32_t la =
				lb_load_get(&w->loads, p->endpoints[a].addr, p->endpoints[a].port);
			uint32_t lbb =
				lb_load_get(&w->loads, p->endpoints[b].addr, p->endpoints[b].port);
			return (int)(lbb < la ? b : a);
		}
		if (ua || ub)
			return (int)(ua ? a : b);
		break;
	}
	default:
		break;
	}
	uint32_t start = w->rr++;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (start + k) % n;
		if (i == avoid && n > 1)
			continue;
		if (!lb_ejected(w, p->endpoints[i].addr, p->endpoints[i].port, now))
			return (int)i;
	}
	uint32_t i = start % n;
	if (i == avoid && n > 1)
		i = (i + 1) % n;
	return (int)i;
}
