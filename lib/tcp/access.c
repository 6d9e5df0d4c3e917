/*
 * access.c: which requests get an access log record (lib/alog), and when it goes out.
 *
 * A record goes out once a request's fate at the gateway is settled:
 *   - routed to a new pod connection (a first request, or one that moves): the record is
 *     filled when the head is routed and waits beside the request buffer (alog_pend[buf]) until
 *     the pod accepts (forwarded, with the pod and the connect time), the gateway answers (502,
 *     503, 504...), or the buffer goes first (closed: the client left);
 *   - a later request for the same pod: at once, forwarded;
 *   - an answer with no routed head behind it (400, 408, 431, a 503 for want of a buffer) or a
 *     connection that fails closed: at once, with what the gateway knows.
 * Sampling takes one request in alog_every, decided when the record would start. A full ring
 * drops the record (access_log_dropped); the worker never waits.
 */
#include "tcp/tcp-int.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <rte_malloc.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

enum {
	ALOG_IDLE,
	ALOG_PENDING,
	ALOG_SKIPPED
};

bool access_sampled(struct tcpl_ctx *c)
{
	if (++c->alog_count < c->alog_every)
		return false;
	c->alog_count = 0;
	return true;
}

void access_rec_start(struct tcpl_ctx *c, struct alog_rec *r, const struct conn *f, uint64_t now)
{
	/* The fixed fields; the strings are read only up to their lengths. */
	memset(r, 0, offsetof(struct alog_rec, method_text));
	r->tsc = now;
	r->id = c->alog_id++;
	r->client_ip = f->client_ip;
	r->client_port = f->client_port;
	r->vip = f->vip;
	r->vip_port = f->vip_port;
	r->method = 0xff;
	r->head_us = r->connect_us = r->total_us = ALOG_NONE;
	r->bytes_out = ALOG_NONE;
}

void access_push(struct tcpl_ctx *c, struct alog_rec *r)
{
	if (rte_ring_sp_enqueue_elem(c->alog, r, sizeof(*r)) == 0)
		stats_add(c->st, STATS_access_log_records, 1);
	else
		stats_add(c->st, STATS_access_log_dropped, 1);
}

static struct alog_rec *pending(struct tcpl_ctx *c, const struct conn *f)
{
	if (f->buf == CONN_NONE || c->alog_state[f->buf] != ALOG_PENDING)
		return NULL;
	return &c->alog_pend[f->buf];
}

/* How long since the record's head was complete, plus the head's own time. */
static uint32_t total_us(const struct tcpl_ctx *c, const struct alog_rec *r, uint64_t now)
{
	uint64_t t = alog_us(c, now - r->tsc) + (r->head_us == ALOG_NONE ? 0 : r->head_us);
	return t < ALOG_NONE ? (uint32_t)t : ALOG_NONE - 1;
}

void access_begin(struct tcpl_ctx *c, struct conn *f, const uint8_t *b,
		  const struct http_request *r, uint32_t head_us, uint64_t now)
{
	if (c->alog == NULL || f->buf == CONN_NONE)
		return;
	if (!access_sampled(c)) {
		c->alog_state[f->buf] = ALOG_SKIPPED;
		return;
	}
	struct alog_rec *rec = &c->alog_pend[f->buf];
	access_rec_start(c, rec, f, now);
	rec->head_us = head_us;
	alog_from_head(rec, b, r);
	c->alog_state[f->buf] = ALOG_PENDING;
}

void access_forwarded(struct tcpl_ctx *c, struct conn *f, uint64_t now)
{
	if (f->buf == CONN_NONE)
		return;
	struct alog_rec *r = pending(c, f);
	if (r == NULL) {
		c->alog_state[f->buf] = ALOG_IDLE; /* a skipped one is done with too */
		return;
	}
	r->outcome = ALOG_FORWARDED;
	r->series = f->series;
	r->pod_ip = f->pod_ip;
	r->pod_port = f->pod_port;
	r->connect_us = alog_us(c, conn_elapsed(f, now));
	r->total_us = total_us(c, r, now);
	/* The connect phase's start is kept at a coarser clock (CONN_T0_SHIFT) than the record's:
	 * a fast connect can read a microsecond longer than the whole. The whole includes it. */
	if (r->total_us < r->connect_us)
		r->total_us = r->connect_us;
	access_push(c, r);
	c->alog_state[f->buf] = ALOG_IDLE;
}

void access_same_pod(struct tcpl_ctx *c, struct conn *f, const uint8_t *b,
		     const struct http_request *r, uint64_t now)
{
	if (c->alog == NULL || !access_sampled(c))
		return;
	struct alog_rec rec;
	access_rec_start(c, &rec, f, now);
	alog_from_head(&rec, b, r);
	rec.outcome = ALOG_FORWARDED;
	rec.series = f->series;
	rec.pod_ip = f->pod_ip;
	rec.pod_port = f->pod_port;
	rec.head_us = rec.total_us = 0; /* its head came whole: routed as it arrived */
	access_push(c, &rec);
}

void access_answer(struct tcpl_ctx *c, struct conn *f, uint16_t status, uint32_t bytes,
		   uint64_t now)
{
	if (c->alog == NULL)
		return;
	struct alog_rec *r = pending(c, f), rec;
	if (r == NULL) {
		if (f->buf != CONN_NONE && c->alog_state[f->buf] == ALOG_SKIPPED) {
			c->alog_state[f->buf] = ALOG_IDLE;
			return;
		}
		if (!access_sampled(c))
			return;
		access_rec_start(c, &rec, f, now);
		r = &rec;
	}
	r->outcome = status ? ALOG_ANSWERED : ALOG_CLOSED;
	r->status = status;
	r->bytes_out = bytes;
	r->series = status >= 502 && status <= 504 ? f->series : STATS_SERIES_NONE;
	if (r->series != STATS_SERIES_NONE && f->pod_ip && f->state == CONN_CONNECT)
		r->connect_us = alog_us(c, conn_elapsed(f, now));
	r->total_us = total_us(c, r, now);
	access_push(c, r);
	if (f->buf != CONN_NONE)
		c->alog_state[f->buf] = ALOG_IDLE;
}

void access_release(struct tcpl_ctx *c, struct conn *f)
{
	struct alog_rec *r = pending(c, f);
	if (r != NULL) {
		r->outcome = ALOG_CLOSED;
		r->series = f->series;
		r->total_us = total_us(c, r, c->now);
		access_push(c, r);
	} else if (c->alog_state[f->buf] == ALOG_IDLE &&
		   (f->state == CONN_HOLD || f->state == CONN_DRAIN) && f->req_len &&
		   buf_start(f) == f->frame && access_sampled(c)) {
		/* A request held for its route (its pod was never chosen) ends with the
		 * connection: closed, with what its head says. */
		struct alog_rec rec;
		access_rec_start(c, &rec, f, c->now);
		struct http_request_parser ps;
		http_request_parser_init(&ps);
		struct http_request hr;
		const uint8_t *b = buf_of(c, f);
		int rc = http_request_parse(&ps, &c->cfg.limits, b, f->req_len, &hr);
		alog_from_head(&rec, b, rc > 0 ? &hr : NULL);
		rec.outcome = ALOG_CLOSED;
		access_push(c, &rec);
	}
	c->alog_state[f->buf] = ALOG_IDLE;
}

int tcpl_set_access_log(struct tcpl_ctx *c, struct rte_ring *ring, uint32_t every, uint64_t id_base)
{
	if (ring != NULL && c->alog_pend == NULL) {
		c->alog_pend =
			rte_zmalloc("alog_pend", (size_t)c->cfg.buffers * sizeof(*c->alog_pend),
				    RTE_CACHE_LINE_SIZE);
		c->alog_state = rte_zmalloc("alog_state", c->cfg.buffers, RTE_CACHE_LINE_SIZE);
		if (c->alog_pend == NULL || c->alog_state == NULL) {
			rte_free(c->alog_pend);
			rte_free(c->alog_state);
			c->alog_pend = NULL;
			c->alog_state = NULL;
			return -ENOMEM;
		}
	}
	c->alog = ring;
	c->alog_us_mul = (1000000ull << 32) / rte_get_tsc_hz();
	c->alog_every = every ? every : 1;
	c->alog_count = c->alog_every - 1; /* the first request is taken */
	c->alog_id = id_base;
	return 0;
}
