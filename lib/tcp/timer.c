/*
 * timer.c: timers and aging.
 *
 * Every connection in a timed state (head, neighbour wait, connect, a buffer the pod has not
 * acknowledged, hold, drain, the gateway's own response) has one deadline and sits in a timer
 * wheel: TIMER_SLOTS slots of one tick each, a doubly linked list of connections per slot
 * through the records themselves, so arming, re-arming and cancelling are O(1) and every
 * connection the flow table can hold can have a timer — there is no separate cap. A deadline
 * further away than the wheel's span lands in a slot that comes round first; it is simply put
 * back. What firing means depends on the state (each state's file says).
 *
 * tcpl_tick() walks the slots whose time has come, bounded by the room in its output; what it
 * cannot finish it leaves for the next call. Idle and closed connections are aged by lib/flow a
 * bounded slice at a time.
 */
#include "tcp/tcp-int.h"

static inline uint32_t coarse(uint64_t tsc)
{
	return (uint32_t)(tsc >> CONN_SEEN_SHIFT);
}

static inline uint64_t tick_of(const struct tcpl_ctx *c, uint64_t tsc)
{
	return tsc >> c->tick_shift; /* a shift: this runs on every arm and cancel */
}

/* The slot a deadline goes in; deadline is coarse, so back to tsc first. */
static inline uint32_t slot_of(const struct tcpl_ctx *c, uint32_t deadline)
{
	uint64_t now_c = c->now >> CONN_SEEN_SHIFT; /* all 64 bits: only the record's are cut */
	uint64_t tsc = (now_c + (uint64_t)(int64_t)(int32_t)(deadline - (uint32_t)now_c))
		       << CONN_SEEN_SHIFT;
	return (uint32_t)(tick_of(c, tsc) & (TIMER_SLOTS - 1));
}

static void unlink_timer(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint32_t slot)
{
	if (f->timer_prev != CONN_NONE)
		conn_of(c, f->timer_prev)->timer_next = f->timer_next;
	else
		c->wheel[slot] = f->timer_next;
	if (f->timer_next != CONN_NONE)
		conn_of(c, f->timer_next)->timer_prev = f->timer_prev;
	f->timer_prev = f->timer_next = CONN_NONE;
	f->fr &= (uint8_t)~CONN_FR_TIMER;
	(void)idx;
}

static void link_timer(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint32_t slot)
{
	f->timer_prev = CONN_NONE;
	f->timer_next = c->wheel[slot];
	if (f->timer_next != CONN_NONE)
		conn_of(c, f->timer_next)->timer_prev = idx;
	c->wheel[slot] = idx;
	f->fr |= CONN_FR_TIMER;
}

void timer_cancel(struct tcpl_ctx *c, uint32_t idx, struct conn *f)
{
	if (f->fr & CONN_FR_TIMER)
		unlink_timer(c, idx, f, slot_of(c, f->deadline));
}

/* The wheel starts at the first time the engine is given (tests run on a clock of their own). */
static inline void wheel_start(struct tcpl_ctx *c, uint64_t now)
{
	if (c->wheel_tick == UINT64_MAX)
		c->wheel_tick = tick_of(c, now) - 1;
}

void timer_arm(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t deadline)
{
	timer_cancel(c, idx, f);
	wheel_start(c, c->now);
	/* A tick the wheel has passed would wait a whole round: take the next one. */
	if (tick_of(c, (deadline >> CONN_SEEN_SHIFT) << CONN_SEEN_SHIFT) <= c->wheel_tick)
		deadline = ((c->wheel_tick + 1) << c->tick_shift) + ((1u << CONN_SEEN_SHIFT) - 1);
	f->deadline = coarse(deadline);
	link_timer(c, idx, f, slot_of(c, f->deadline));
}

bool timer_due(const struct tcpl_ctx *c, const struct conn *f, uint64_t now)
{
	(void)c;
	return (f->fr & CONN_FR_TIMER) && (int32_t)(coarse(now) - f->deadline) >= 0;
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
	case CONN_HOLD:
		return hold_timer(c, idx, f, now, tx);
	case CONN_DRAIN:
		return rebind_timer(c, idx, f, now, tx);
	case CONN_LOCAL_RESP:
		return local_response_resend(c, idx, f, now, tx);
	case CONN_TERM:
		return terminate_timer(c, idx, f, now, tx);
	default:
		return (enum conn_state)f->state;
	}
}

/* Fire what is due in one slot; false when the output filled up before the slot was done. */
static bool run_slot(struct tcpl_ctx *c, uint32_t slot, uint64_t now, struct tcpl_tx *tx)
{
	/* Detach the list first: a handler that re-arms into this same slot (a deadline a whole
	 * wheel away) must not be seen again in this walk. */
	uint32_t idx = c->wheel[slot];
	c->wheel[slot] = CONN_NONE;
	if (idx != CONN_NONE)
		conn_of(c, idx)->timer_prev = CONN_NONE;
	while (idx != CONN_NONE) {
		struct conn *f = conn_of(c, idx);
		uint32_t next = f->timer_next;
		f->timer_prev = f->timer_next = CONN_NONE;
		f->fr &= (uint8_t)~CONN_FR_TIMER;
		if (next != CONN_NONE)
			conn_of(c, next)->timer_prev = CONN_NONE;
		if ((int32_t)(coarse(now) - f->deadline) < 0) {
			link_timer(c, idx, f, slot_of(c, f->deadline)); /* a later round */
		} else if (tx->n + 8 >= tx->cap) {
			/* No room to answer: put this one and the rest back for the next call. */
			link_timer(c, idx, f, slot);
			while (next != CONN_NONE) {
				struct conn *g = conn_of(c, next);
				uint32_t nn = g->timer_next;
				link_timer(c, next, g, slot);
				next = nn;
			}
			return false;
		} else {
			conn_set(c, idx, f, timer_fire(c, idx, f, now, tx));
		}
		idx = next;
	}
	return true;
}

static bool conn_dead(uint32_t idx, uint64_t now, void *arg)
{
	struct tcpl_ctx *c = arg;
	struct conn *f = conn_of(c, idx);
	uint32_t idle = coarse(now) - f->last_seen;
	/* A closed connection lingers at least as long as a cookie ACK stays fresh (cookie.c), so
	 * a resend of its first segment meets it rather than the cookie check, which would open a
	 * new connection and replay the request. */
	uint64_t linger = c->cfg.linger_tsc;
	uint64_t fresh = (uint64_t)(COOKIE_FRESH_MS + 500) * (c->cfg.tsc_hz / 1000);
	if (linger < fresh)
		linger = fresh;
	bool dead = (f->state == CONN_CLOSED && idle > coarse(linger)) ||
		    idle > coarse(c->cfg.idle_tsc);
	if (dead)
		conn_release(c, idx, f);
	return dead;
}

uint16_t tcpl_tick(struct tcpl_ctx *c, uint64_t now, struct tcpl_out *out, uint16_t out_cap)
{
	struct tcpl_tx tx = {out, 0, out_cap};
	if (now < c->next_tick)
		return 0;
	c->now = now;
	c->next_tick = now + c->tick_tsc;
	c->handshakes_left = c->cfg.term_handshakes ? c->cfg.term_handshakes : 4;
	wheel_start(c, now);
	uint64_t cur = tick_of(c, now);
	uint64_t t = c->wheel_tick;
	if (cur - t > TIMER_SLOTS)
		t = cur - 1 - TIMER_SLOTS; /* a long pause: every slot once */
	/* Only ticks wholly past: everything in their slots is due (or a round later). */
	while (t + 1 < cur) {
		if (!run_slot(c, (uint32_t)((t + 1) & (TIMER_SLOTS - 1)), now, &tx))
			break;
		t++;
	}
	c->wheel_tick = t;
	flow_age(c->ft, now, 256, conn_dead, c);
	return tx.n;
}

void timer_init(struct tcpl_ctx *c, uint64_t now)
{
	for (uint32_t i = 0; i < TIMER_SLOTS; i++)
		c->wheel[i] = CONN_NONE;
	/* About 2 ms, as a power of two of TSC cycles (1–2 ms on any clock). */
	c->tick_shift = 0;
	while ((2ull << c->tick_shift) <= c->cfg.tsc_hz / 500)
		c->tick_shift++;
	c->tick_tsc = 1ull << c->tick_shift;
	c->wheel_tick = UINT64_MAX;
	c->now = now;
}
