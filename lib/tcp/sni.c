/*
 * sni.c: a TLS listener's first flight — the ClientHello instead of a request head.
 *
 * On a port named in `tls`, the connection is the same SYN-cookie handshake and the same
 * bounded request buffer as on an HTTP port (head.c takes the client's bytes in order and
 * acknowledges them), but what the buffer holds is read by lib/tls: record headers as they
 * complete, then the whole ClientHello, strictly. Its server name is looked up among the
 * passthrough hosts of the current table (route_lookup_sni), and the connection goes to that
 * pod exactly like a routed HTTP head: connect, deliver the buffered bytes, splice. Nothing is
 * framed afterwards: the bytes are TLS, opaque to the gateway (no CONN_OPT_TRACK), so
 * hold_decide passes everything through.
 *
 * What cannot be routed fails closed, counted, with a TLS alert the client can read:
 * a ClientHello refused or too big for the buffer (decode_error, tls_hello_refused), no
 * server name or one no passthrough Ingress names (unrecognized_name, tls_no_server_name /
 * tls_no_route); no pod reachable (internal_error, like 502/503/504 on HTTP); the header
 * timeout closes without an alert. The bytes of a refused hello never reach a pod.
 */
#include "tcp/tcp-int.h"

static enum conn_state sni_refuse(struct tcpl_ctx *c, uint32_t idx, struct conn *f,
				  enum stats_counter why, enum local_status answer, uint64_t now,
				  struct tcpl_tx *tx)
{
	stats_add(c->st, why, 1);
	if (unlikely(c->alog != NULL))
		access_begin(c, f, buf_of(c, f), NULL, ALOG_NONE, now);
	return local_response(c, idx, f, answer, now, tx);
}

enum conn_state sni_route(struct tcpl_ctx *c, uint32_t idx, struct conn *f, uint64_t now,
			  struct tcpl_tx *tx)
{
	enum tls_hello_error err;
	const uint8_t *b = buf_of(c, f);
	int wire = tls_hello_scan(&f->th, b, f->req_len, c->cfg.request_buffer, &err);
	if (wire == TLS_HELLO_MORE) {
		if (f->req_len >= c->cfg.request_buffer)
			return sni_refuse(c, idx, f, STATS_tls_hello_refused, RESP_431, now, tx);
		return CONN_HEAD;
	}
	if (wire < 0)
		return sni_refuse(c, idx, f, STATS_tls_hello_refused, RESP_400, now, tx);
	uint8_t scratch[TLS_HELLO_MAX];
	struct tls_hello h;
	if (tls_hello_parse(&f->th, b, (uint32_t)wire, scratch, sizeof(scratch), &h, &err) < 0)
		return sni_refuse(c, idx, f, STATS_tls_hello_refused, RESP_400, now, tx);
	const struct route_table *routes = __atomic_load_n(&c->routes, __ATOMIC_ACQUIRE);
	const struct route_target *t =
		routes && h.sni_len ? route_lookup_sni(routes, h.sni, h.sni_len) : NULL;
	if (t == NULL && c->terms != NULL)
		return terminate_start(c, idx, f, now, tx);
	if (h.sni_len == 0)
		return sni_refuse(c, idx, f, STATS_tls_no_server_name, RESP_404, now, tx);
	if (t == NULL)
		return sni_refuse(c, idx, f, STATS_tls_no_route, RESP_404, now, tx);

	stats_add(c->st, STATS_tls_passthrough, 1);
	f->series = (uint16_t)t->series;
	stats_series_add(c->st, t->series, STATS_ROUTED);
	if (unlikely(c->alog != NULL))
		access_begin(c, f, b, NULL, ALOG_NONE, now);
	f->pool = t->pool;
	f->routes = routes;
	f->tries = 0;
	f->pool_id = route_pool(routes, t->pool)->id;
	frame_runs_clear(c, f);
	/* Everything so far, and everything after, is the TLS stream's: opaque, passed whole. */
	f->frame = client_next(f);
	f->frame_lo = f->frame;
	f->affinity = f->client_ip;
	return connect_bind(c, idx, f, now, UINT32_MAX, tx);
}
