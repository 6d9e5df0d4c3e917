/*
 * explain.c: the data path's reading of a whole client stream, for operators and tests.
 *
 * `sluice route --raw FILE` must say exactly what the gateway would do with the bytes in FILE,
 * so it runs the engine's own pieces — head_parse's checks, lookup_head, frame_accept and
 * frame_walk — on a connection record that never meets a packet. The first head of each pod
 * connection is routed as head.c does; the framing then walks the rest as frame.c does on a
 * spliced connection, and its verdict says what happens next: another pod connection, the
 * gateway's answer, waiting for more, or failing closed.
 */
#include "tcp/tcp-int.h"

#include <stdlib.h>
#include <string.h>

struct explain_state {
	tcpl_explain_fn fn;
	void *arg;
	int routed;
	bool next_moves;
};

static void on_request(struct tcpl_ctx *c, const uint8_t *head, const struct http_request *r,
		       uint32_t at, const struct route_table *t, const struct route_target *tg)
{
	struct explain_state *s = c->explain_arg;
	struct tcpl_explained e = {.outcome = TCPL_ROUTED,
				   .offset = at,
				   .move = s->next_moves,
				   .head = head,
				   .r = r,
				   .table = t,
				   .target = tg};
	s->next_moves = false;
	s->routed++;
	s->fn(&e, s->arg);
}

static void stop(struct explain_state *s, enum tcpl_outcome o, uint32_t at, uint16_t status,
		 const char *why)
{
	struct tcpl_explained e = {.outcome = o, .offset = at, .status = status, .why = why};
	s->fn(&e, s->arg);
}

int tcpl_explain(const struct tcpl_config *cfg, const struct route_table *t, const uint8_t *buf,
		 size_t len, tcpl_explain_fn fn, void *arg)
{
	static struct stats_lcore scratch; /* counters nobody reads */
	struct tcpl_ctx *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	struct explain_state s = {.fn = fn, .arg = arg, .next_moves = true};
	c->cfg = *cfg;
	c->routes = t;
	c->st = &scratch;
	c->explain = on_request;
	c->explain_arg = &s;
	struct conn f;
	struct frame_runs runs = {0};
	c->conns = &f; /* the one record, index 0 */
	c->runs = &runs;
	uint32_t pos = 0;
	while (pos < len) {
		/* A head that starts a pod connection, as head.c reads it. */
		memset(&f, 0, sizeof(f));
		http_request_parser_init(&f.hp);
		struct http_request r;
		size_t n = len - pos < cfg->request_buffer ? len - pos : cfg->request_buffer;
		int rc = http_request_parse(&f.hp, &cfg->limits, buf + pos, n, &r);
		if (rc == HTTP_NEED_MORE) {
			if (n == cfg->request_buffer)
				stop(&s, TCPL_ANSWERED, pos, 431, "head larger than the buffer");
			else
				stop(&s, TCPL_INCOMPLETE, pos, 0, NULL);
			break;
		}
		if (rc == HTTP_ERROR) {
			stop(&s, TCPL_ANSWERED, pos, r.status, http_error_name(r.error));
			break;
		}
		const struct route_table *routes;
		bool bad, redirect;
		const struct route_target *tg =
			lookup_head(c, &f, buf + pos, &r, &routes, &bad, &redirect);
		if (redirect) {
			stop(&s, TCPL_ANSWERED, pos, 308, "https redirect");
			break;
		}
		if (bad || tg == NULL) {
			stop(&s, TCPL_ANSWERED, pos, bad ? 400 : 404,
			     bad ? "bad path" : "no route");
			break;
		}
		const struct route_pool *pool = route_pool(routes, tg->pool);
		if (pool->lb.n_endpoints == 0) {
			stop(&s, TCPL_ANSWERED, pos, 503, "no ready endpoint");
			break;
		}
		f.pool_id = pool->id;
		f.pod_ip = pool->lb.endpoints[0].addr;
		f.pod_port = rte_cpu_to_be_16(pool->lb.endpoints[0].port);
		on_request(c, buf + pos, &r, pos, routes, tg);
		frame_accept(c, &f, buf + pos, &r, pos);
		if ((f.fr & CONN_FR_UPGRADE) && seq_lt(f.frame, (uint32_t)len) &&
		    http_body_opaque(&f.body) == 0 &&
		    (f.body.done || f.body.mode == HTTP_BODY_NONE)) {
			stop(&s, TCPL_UPGRADE_WAITS, f.frame, 0, NULL);
			break;
		}
		/* The rest, as frame.c walks a spliced connection. */
		enum frame_verdict v = FV_OK;
		if (seq_lt(f.frame, (uint32_t)len))
			v = frame_walk(c, &f, buf + f.frame, (uint32_t)len - f.frame);
		if (v == FV_OK) {
			if (seq_lt((uint32_t)len, f.frame) ||
			    (!f.body.done && f.body.mode != HTTP_BODY_NONE))
				stop(&s, TCPL_BODY_CONTINUES, (uint32_t)len, 0, NULL);
			break;
		}
		if (v == FV_HOLD) {
			stop(&s, TCPL_INCOMPLETE, f.frame, 0, NULL);
			break;
		}
		if (v == FV_BODY) {
			stop(&s, TCPL_FAILED_CLOSED, f.frame, 0, "body framing broke");
			break;
		}
		if (v == FV_CLOSE) {
			stop(&s, TCPL_AFTER_CLOSE, f.frame, 0, NULL);
			break;
		}
		if (v == FV_UPGRADE) {
			stop(&s, TCPL_UPGRADE_WAITS, f.frame, 0, NULL);
			break;
		}
		/* FV_MOVE: the next request starts another pod connection (or is answered). */
		pos = f.frame;
		s.next_moves = true;
	}
	free(c);
	return s.routed;
}
