/*
 * publish.c: the route-table publisher (lifetime rule in publish.h).
 *
 * Everything here runs on the management lcore; the workers see only the release stores into
 * their slots and report quiescence to the QSBR variable on their own. The retired list is a
 * small array compacted on each reap: it holds a handful of tables in steady state and at most
 * max_retired under a storm of changes, so a linear pass is the simplest correct structure.
 */
#include "control/publish.h"

#include <stdlib.h>

#include <rte_cycles.h>
#include <rte_pause.h>

struct retired {
	struct route_table *t;
	uint64_t token; /* QSBR token taken right after the stores that retired t */
	uint64_t at;	/* when (TSC) */
};

struct control_publisher {
	struct control_publisher_config cfg;
	struct route_table *current;
	const struct route_table **slots[CONTROL_PUBLISH_MAX_SLOTS];
	unsigned n_slots;
	struct retired *retired;
	unsigned n_retired;
	/* The last publish, until every worker is seen past it. */
	bool pending;
	uint64_t pending_token;
	uint64_t pending_change_at;
	struct control_publisher_stats st;
};

struct control_publisher *control_publisher_new(const struct control_publisher_config *cfg,
						struct route_table *first)
{
	if (cfg->qsbr == NULL || cfg->tsc_hz == 0)
		return NULL;
	struct control_publisher *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->cfg = *cfg;
	if (p->cfg.max_retired == 0)
		p->cfg.max_retired = CONTROL_PUBLISH_MAX_RETIRED;
	p->retired = calloc(p->cfg.max_retired, sizeof(*p->retired));
	if (p->retired == NULL) {
		free(p);
		return NULL;
	}
	p->current = first;
	return p;
}

void control_publisher_free(struct control_publisher *p)
{
	if (p == NULL)
		return;
	for (unsigned i = 0; i < p->n_retired; i++)
		route_table_free(p->retired[i].t);
	route_table_free(p->current);
	free(p->retired);
	free(p);
}

int control_publisher_add_slot(struct control_publisher *p, const struct route_table **slot)
{
	if (p->n_slots == CONTROL_PUBLISH_MAX_SLOTS)
		return -1;
	__atomic_store_n(slot, p->current, __ATOMIC_RELEASE);
	p->slots[p->n_slots++] = slot;
	return 0;
}

static double seconds(const struct control_publisher *p, uint64_t from, uint64_t to)
{
	return to > from ? (double)(to - from) / (double)p->cfg.tsc_hz : 0.0;
}

/* Whether the workers have all passed the last publish; records the change's time to them. */
static bool workers_passed(struct control_publisher *p, uint64_t now)
{
	if (!p->pending)
		return true;
	if (rte_rcu_qsbr_check(p->cfg.qsbr, p->pending_token, false) != 1)
		return false;
	p->pending = false;
	if (p->pending_change_at)
		p->st.change_to_workers_s = seconds(p, p->pending_change_at, now);
	return true;
}

int control_publisher_publish(struct control_publisher *p, struct route_table *t, uint64_t now,
			      uint64_t change_at)
{
	if (p->n_retired == p->cfg.max_retired) {
		p->st.refused++;
		return -1;
	}
	for (unsigned i = 0; i < p->n_slots; i++)
		__atomic_store_n(p->slots[i], t, __ATOMIC_RELEASE);
	/* The token is taken after the stores: a worker quiescent past it has reloaded. */
	uint64_t token = rte_rcu_qsbr_start(p->cfg.qsbr);
	if (p->current) {
		p->retired[p->n_retired++] = (struct retired){p->current, token, now};
		p->st.retired = p->n_retired;
	}
	p->current = t;
	p->st.publishes++;
	p->pending = true;
	p->pending_token = token;
	p->pending_change_at = change_at;
	if (change_at)
		p->st.change_to_publish_s = seconds(p, change_at, now);
	return 0;
}

unsigned control_publisher_reap(struct control_publisher *p, uint64_t now)
{
	workers_passed(p, now);
	unsigned k = 0, freed = 0;
	for (unsigned i = 0; i < p->n_retired; i++) {
		struct retired *r = &p->retired[i];
		if (now - r->at >= p->cfg.hold_tsc &&
		    rte_rcu_qsbr_check(p->cfg.qsbr, r->token, false) == 1) {
			route_table_free(r->t);
			freed++;
			continue;
		}
		p->retired[k++] = *r;
	}
	p->n_retired = k;
	p->st.retired = k;
	p->st.freed += freed;
	return freed;
}

bool control_publisher_wait_workers(struct control_publisher *p, uint64_t max_tsc)
{
	uint64_t start = rte_rdtsc();
	for (;;) {
		uint64_t now = rte_rdtsc();
		if (workers_passed(p, now))
			return true;
		if (now - start >= max_tsc)
			return false;
		rte_pause();
	}
}

const struct route_table *control_publisher_current(const struct control_publisher *p)
{
	return p->current;
}

const struct control_publisher_stats *control_publisher_stats(const struct control_publisher *p)
{
	return &p->st;
}
