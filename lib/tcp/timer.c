/*
 * timer.c: timers and aging.
 *
 * Connections in timed states (head, neighbour wait, connect, unacknowledged request, drain,
 * the gateway's own response) sit in a list walked by tcpl_tick() every few milliseconds;
 * each has one deadline, and what firing means depends on its state (each state's file says).
 * Idle and closed connections are aged by lib/flow a bounded slice at a time.
 */
#include "tcp/tcp-int.h"

void timer_arm(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t deadline)
{
	f->deadline = deadline;
	if (!f->timer_listed && c->n_timers < TIMER_LIST_MAX) {
		c->timers[c->n_timers++] = idx;
		f->timer_listed = 1;
	}
}

static enum conn_state timer_fire(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
				  struct tcpl_tx *tx)
{
	switch (f->state) {
	case CONN_HEAD:
		return local_response(c, idx, f, RESP_408, now, tx);
	case CONN_NEIGH:
	case CONN_CONNECT:
		return connect_timer(c, idx, f, now, tx);
	case CONN_SPLICED:
		return splice_timer(c, idx, f, now, tx);
	case CONN_DRAIN:
		return rebind_timer(c, idx, f, now, tx);
	case CONN_LOCAL_RESP:
		return local_response_resend(c, idx, f, now, tx);
	default:
		f->deadline = 0;
		return (enum conn_state)f->state;
	}
}

static bool conn_dead(uint32_t idx, uint64_t now, void *arg)
{
	struct tcpl_ctx *c = arg;
	struct conn *f = conn_of(c, idx);
	bool dead = (f->state == CONN_CLOSED && now - f->last_seen > c->cfg.linger_tsc) ||
		    now - f->last_seen > c->cfg.idle_tsc;
	if (dead) {
		buf_release(c, f);
		f->deadline = 0;
		f->state = CONN_FREE;
		stats_add(c->st, STATS_tcp_flows_closed, 1);
	}
	return dead;
}

uint16_t tcpl_tick(struct tcpl_ctx *c, uint64_t now, struct tcpl_out *out, uint16_t out_cap)
{
	struct tcpl_tx tx = {out, 0, out_cap};
	if (now < c->next_tick)
		return 0;
	c->now = now;
	c->next_tick = now + c->cfg.rto_tsc / 50 + 1; /* a few ms */
	for (uint32_t i = 0; i < c->n_timers && tx.n + 8 < tx.cap;) {
		uint32_t idx = c->timers[i];
		struct conn *f = conn_of(c, idx);
		if (f->state == CONN_FREE || f->deadline == 0) {
			f->timer_listed = 0;
			c->timers[i] = c->timers[--c->n_timers];
			continue;
		}
		if (now >= f->deadline)
			conn_set(c, idx, f, timer_fire(c, idx, f, now, &tx));
		i++;
	}
	flow_age(c->ft, now, 256, conn_dead, c);
	return tx.n;
}
