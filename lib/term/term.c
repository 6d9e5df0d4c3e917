/*
 * term.c: a terminated HTTPS connection (term.h). One pump moves everything that can move:
 * TLS records in and out of the client leg, request heads parsed and routed, heads rewritten
 * and bodies framed towards the pod leg, response heads parsed and bodies framed back. Each
 * direction has one buffer between TLS and a leg; a direction stops when its buffer is full
 * and goes on when the leg or TLS takes bytes again, so backpressure crosses the gateway.
 */
#include "term/term.h"

#include <stdio.h>
#include <string.h>

#include <rte_mbuf.h>

static inline bool sq_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

/* ---- the client leg as TLS's pipe ----------------------------------------------------------- */

static uint32_t pipe_read(void *ctx, void *dst, uint32_t n)
{
	return stream_read(ctx, dst, n);
}
static uint32_t pipe_write(void *ctx, const void *src, uint32_t n)
{
	return stream_write(ctx, src, n);
}
static bool pipe_eof(void *ctx)
{
	return stream_eof(ctx);
}

bool term_start(struct term_conn *t, const struct term_env *env, uint16_t listen_port, uint32_t now)
{
	/* The caller built t->client; everything else starts empty. */
	struct stream_leg client = t->client;
	memset(t, 0, sizeof(*t));
	t->client = client;
	t->env = env;
	t->listen_port = listen_port;
	t->last_progress = now;
	t->head_since = now ? now : 1; /* the handshake's budget */
	struct tls_pipe p = {&t->client, pipe_read, pipe_write, pipe_eof};
	t->tls = tls_conn_new(env->tls, &p);
	if (t->tls == NULL)
		return false;
	http_request_parser_init(&t->ps);
	t->phase = TERM_TLS;
	return true;
}

void term_release(struct term_conn *t)
{
	tls_conn_free(t->tls);
	t->tls = NULL;
	stream_release(&t->client);
	stream_release(&t->pod);
}

/* ---- the gateway's own answers ------------------------------------------------------------ */

static const char *reason(uint16_t status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 408:
		return "Request Timeout";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

/* Queue our answer for the client and close after it. */
static void tell(const struct term_conn *t, enum term_exchange ev, uint16_t status)
{
	if (t->env->exchange)
		t->env->exchange(t->env->ctx, t, ev, status);
}

static void answer(struct term_conn *t, uint16_t status)
{
	char body[64];
	int bl = snprintf(body, sizeof(body), "%u %s\n", status, reason(status));
	int n = snprintf((char *)t->to_client, sizeof(t->to_client),
			 "HTTP/1.1 %u %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
			 "Connection: close\r\n\r\n%s",
			 status, reason(status), bl, body);
	t->to_client_len = (uint32_t)n;
	t->to_client_off = 0;
	t->n.answered++;
	tell(t, TERM_EX_ANSWER, status); /* to_client_len: the answer's bytes */
	t->phase = TERM_CLOSING;
	t->close_after = true;
}

/* ---- the pod leg ---------------------------------------------------------------------------- */

static bool pod_usable(const struct term_conn *t, const struct term_pod *p)
{
	if (!t->pod_open || !t->pod_keep || t->cur.id != p->id || t->cur.ip != p->ip ||
	    t->cur.port != p->port)
		return false;
	if (stream_readable(&t->pod) > 0)
		return false; /* bytes nobody asked for: they must not answer the next request */
	return t->pod.state == STREAM_ESTABLISHED && !stream_eof(&t->pod);
}

static void pod_drop(struct term_conn *t, uint32_t now, struct stream_out *to_pod)
{
	if (!t->pod_open)
		return;
	/* A finished exchange's connection, not wanted again: reset rather than keep a
	 * record in TIME-WAIT for it. */
	stream_abort(&t->pod, now, to_pod);
	stream_release(&t->pod);
	t->pod_open = false;
}

static bool pod_connect(struct term_conn *t, const struct term_pod *p, uint32_t now,
			struct stream_out *to_pod)
{
	const struct term_env *e = t->env;
	uint32_t ip, iss;
	uint16_t port;
	if (!e->source(e->ctx, p, &ip, &port, &iss))
		return false;
	if (!stream_connect(&t->pod, e->pod_cfg, ip, port, p->ip, p->port, iss, now, to_pod))
		return false;
	t->pod_open = true;
	t->pod_keep = false;
	t->pod_up = false;
	t->connect_expired = false;
	t->connect_since = now ? now : 1;
	t->n.pod_connects++;
	return true;
}

/* The current pod never accepted: the same request to another endpoint, if one is left. The
 * request's head (and any body piece) still waits in to_pod: nothing is written to a pod leg
 * before it is established. */
static bool pod_retry(struct term_conn *t, uint32_t now, struct stream_out *to_pod)
{
	const struct term_env *e = t->env;
	uint8_t most = e->connect_tries ? e->connect_tries : 1;
	struct term_pod next;
	if (t->tries + 1 >= most || e->repick == NULL || !e->repick(e->ctx, &t->cur, &next))
		return false;
	pod_drop(t, now, to_pod);
	if (!pod_connect(t, &next, now, to_pod))
		return false;
	t->cur = next;
	t->tries++;
	t->n.pod_retries++;
	return true;
}

/* ---- the phases ------------------------------------------------------------------------------ */

/* The owner's limits, with bare LF always refused: the rewrite and the pods see CRLF only. */
static struct http_limits strict(const struct term_env *e)
{
	struct http_limits l = e->limits;
	l.reject_bare_lf = true;
	return l;
}

/* Transfer-Encoding on a terminated connection: exactly one field, exactly "chunked" (what
 * every pod reads the same way; "gzip, chunked" or two fields are refused). */
static bool te_plain_chunked(const uint8_t *head, uint32_t head_len)
{
	int n = 0;
	bool ok = false;
	for (uint32_t i = 0; i + 2 < head_len;) {
		const uint8_t *eol = memchr(head + i, '\n', head_len - i);
		if (eol == NULL)
			break;
		uint32_t len = (uint32_t)(eol - (head + i)) + 1;
		if (len > 18 &&
		    strncasecmp((const char *)head + i, "transfer-encoding:", 18) == 0) {
			n++;
			uint32_t a = i + 18, b = i + len - 2;
			while (a < b && (head[a] == ' ' || head[a] == '\t'))
				a++;
			while (b > a && (head[b - 1] == ' ' || head[b - 1] == '\t'))
				b--;
			ok = b - a == 7 && strncasecmp((const char *)head + a, "chunked", 7) == 0;
		}
		i += len;
	}
	return n == 1 && ok;
}

/* Plaintext from TLS into the request head buffer. */
static enum tls_io fill_head(struct term_conn *t)
{
	size_t got = 0;
	enum tls_io st = TLS_IO_OK;
	if (t->head_len < sizeof(t->head)) {
		st = tls_conn_read(t->tls, t->head + t->head_len, sizeof(t->head) - t->head_len,
				   &got);
		t->head_len += (uint32_t)got;
	}
	return st;
}

static void start_request(struct term_conn *t, uint32_t now, struct stream_out *to_pod)
{
	const struct term_env *e = t->env;
	const struct http_limits lim = strict(e);
	int r = http_request_parse(&t->ps, &lim, t->head, t->head_len, &t->req);
	if (r == HTTP_NEED_MORE) {
		if (t->head_len >= sizeof(t->head) || t->client_eof) {
			if (t->head_len > 0)
				t->n.bad_requests++, answer(t, t->client_eof ? 400 : 431);
			else
				t->phase = TERM_CLOSING, t->close_after = true;
		}
		return;
	}
	t->n.requests++;
	tell(t, TERM_EX_HEAD, 0);
	if (r < 0) {
		t->n.bad_requests++;
		answer(t, t->req.status ? t->req.status : 400);
		return;
	}
	if (t->req.upgrade) { /* no tunnels on terminated connections yet */
		t->n.bad_requests++;
		answer(t, 501);
		return;
	}
	if (t->req.body == HTTP_BODY_CHUNKED && !te_plain_chunked(t->head, t->req.head_len)) {
		t->n.bad_requests++;
		answer(t, 400);
		return;
	}
	/* Routed by the normalised path, as on plain HTTP (no "/public/../admin" past a prefix). */
	char path[4096];
	int pl =
		http_normalize_path(t->head + t->req.path.off, t->req.path.len, path, sizeof(path));
	if (pl < 0) {
		t->n.bad_requests++;
		answer(t, 400);
		return;
	}
	struct term_pod pod;
	if (!e->route(e->ctx, (const char *)t->head + t->req.host.off, t->req.host.len, path,
		      (size_t)pl, &pod)) {
		t->n.no_route++;
		answer(t, 404);
		return;
	}
	int n = term_rewrite_head(t->head, t->req.head_len, t->client.remote_ip, t->listen_port,
				  t->to_pod, sizeof(t->to_pod));
	if (n < 0) {
		t->n.bad_requests++;
		answer(t, 431);
		return;
	}
	if (pod_usable(t, &pod)) {
		t->n.pod_reused++;
	} else {
		pod_drop(t, now, to_pod);
		if (!pod_connect(t, &pod, now, to_pod)) {
			t->n.pod_failed++;
			answer(t, 502);
			return;
		}
	}
	t->cur = pod;
	t->tries = 0;
	t->head_since = 0; /* the head is whole */
	t->to_pod_len = (uint32_t)n;
	t->to_pod_off = 0;
	t->close_after = !t->req.keep_alive;
	/* A client waiting for 100 Continue gets it from us: its body is read before the pod
	 * is (RFC 9110 §10.1.1 lets an intermediary answer it). */
	if (t->req.expect_continue && t->req.body != HTTP_BODY_NONE && t->req.version_minor == 1) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		memcpy(t->to_client, cont, sizeof(cont) - 1);
		t->to_client_len = sizeof(cont) - 1;
		t->to_client_off = 0;
	}
	/* What followed the head is the body's (and maybe the next request's). */
	memmove(t->head, t->head + t->req.head_len, t->head_len - t->req.head_len);
	t->head_len -= t->req.head_len;
	http_request_parser_init(&t->ps);
	http_body_init(&t->body, t->req.body, t->req.content_length);
	t->phase = TERM_REQ_BODY;
}

/* Request bytes to the pod: the rewritten head, then body bytes as framing accepts them. */
static void request_body(struct term_conn *t, uint32_t now, struct stream_out *to_pod)
{
	if (t->pod.state == STREAM_SYN_SENT)
		return; /* the request waits in to_pod until the pod accepts (or another does) */
	if (t->pod.state == STREAM_CLOSED) { /* refused, reset or timed out before answering */
		bool timeout = t->connect_expired || t->pod.end == STREAM_END_TIMEOUT;
		if (!t->pod_up && pod_retry(t, now, to_pod))
			return;
		t->n.pod_failed++;
		answer(t, timeout ? 504 : 502);
		return;
	}
	t->pod_up = true;
	for (int guard = 0; guard < 64; guard++) {
		if (t->to_pod_off < t->to_pod_len) {
			uint32_t w = stream_write(&t->pod, t->to_pod + t->to_pod_off,
						  t->to_pod_len - t->to_pod_off);
			t->to_pod_off += w;
			if (t->to_pod_off < t->to_pod_len)
				return; /* the pod leg's ring is full */
		}
		t->to_pod_off = t->to_pod_len = 0;
		if (t->req.body == HTTP_BODY_NONE || t->body.done) {
			http_request_parser_init(&t->ps); /* for the response head */
			t->rhead_len = 0;
			t->phase = TERM_RESP_HEAD;
			return;
		}
		/* Body bytes: what is already in the head buffer, else more from TLS. */
		if (t->head_len == 0) {
			enum tls_io st = fill_head(t);
			if (t->head_len == 0) {
				if (st == TLS_IO_CLOSED || st == TLS_IO_FAILED || t->client_eof)
					t->close_after = true, t->phase = TERM_CLOSING;
				return;
			}
		}
		size_t used = 0;
		enum http_body_result br = http_body_feed(&t->body, t->head, t->head_len, &used);
		if (br == HTTP_BODY_BAD) {
			t->n.bad_requests++;
			answer(t, 400);
			return;
		}
		uint32_t k = (uint32_t)used;
		if (k > sizeof(t->to_pod))
			k = sizeof(t->to_pod);
		memcpy(t->to_pod, t->head, k);
		t->to_pod_len = k;
		memmove(t->head, t->head + k, t->head_len - k);
		t->head_len -= k;
	}
}

static void response_head(struct term_conn *t)
{
	uint32_t room = (uint32_t)sizeof(t->rhead) - t->rhead_len;
	t->rhead_len += stream_read(&t->pod, t->rhead + t->rhead_len, room);
	const struct http_limits lim = strict(t->env);
	int r = http_response_parse(&t->ps, &lim, t->req.method, t->rhead, t->rhead_len, &t->resp);
	if (r == HTTP_NEED_MORE) {
		bool gone = stream_eof(&t->pod) || t->pod.state == STREAM_CLOSED;
		if (t->rhead_len >= sizeof(t->rhead) || (gone && t->rhead_len > 0)) {
			t->n.bad_responses++;
			answer(t, 502);
		} else if (gone) {
			t->n.pod_failed++;
			answer(t, t->pod.end == STREAM_END_TIMEOUT ? 504 : 502);
		}
		return;
	}
	if (r < 0) {
		t->n.bad_responses++;
		answer(t, 502);
		return;
	}
	if (t->resp.status == 101) { /* we did not ask for an upgrade */
		t->n.bad_responses++;
		answer(t, 502);
		return;
	}
	/* The head goes to the client as the pod sent it; a 1xx is followed by another head. */
	uint32_t hl = t->resp.head_len;
	memcpy(t->to_client, t->rhead, hl);
	t->to_client_len = hl;
	t->to_client_off = 0;
	memmove(t->rhead, t->rhead + hl, t->rhead_len - hl);
	t->rhead_len -= hl;
	http_request_parser_init(&t->ps);
	if (t->resp.status >= 100 && t->resp.status < 200)
		return; /* still TERM_RESP_HEAD */
	t->n.responses++;
	tell(t, TERM_EX_RESPONSE, t->resp.status);
	t->pod_keep = t->resp.keep_alive && t->resp.body != HTTP_BODY_CLOSE;
	if (!t->resp.keep_alive)
		t->close_after = true;
	http_body_init(&t->body, t->resp.body, t->resp.content_length);
	t->phase = TERM_RESP_BODY;
}

/* Response body bytes to the client, as framing accepts them. */
static void response_body(struct term_conn *t)
{
	if (t->to_client_off < t->to_client_len)
		return; /* TLS has not taken the last piece yet */
	t->to_client_off = t->to_client_len = 0;
	if (t->resp.body == HTTP_BODY_NONE || t->body.done) {
		if (t->rhead_len > 0 || stream_readable(&t->pod) > 0)
			t->pod_keep = false; /* the pod talked out of turn */
		t->phase = t->close_after ? TERM_CLOSING : TERM_REQ_HEAD;
		if (!t->pod_keep)
			t->drop_pod = true; /* not usable again: let it go now */
		return;
	}
	/* Leftover bytes of the response head buffer first, then the pod leg. */
	uint32_t n = t->rhead_len;
	if (n > 0) {
		n = n < sizeof(t->to_client) ? n : (uint32_t)sizeof(t->to_client);
		memcpy(t->to_client, t->rhead, n);
		memmove(t->rhead, t->rhead + n, t->rhead_len - n);
		t->rhead_len -= n;
	} else {
		n = stream_read(&t->pod, t->to_client, sizeof(t->to_client));
	}
	if (n == 0) {
		bool gone = stream_eof(&t->pod) || t->pod.state == STREAM_CLOSED;
		if (gone) {
			if (t->resp.body == HTTP_BODY_CLOSE) { /* the end of the body */
				t->close_after = true;
				t->phase = TERM_CLOSING;
			} else { /* cut short: the client must not take it for whole */
				t->n.bad_responses++;
				t->phase = TERM_CLOSING;
				t->close_after = true;
				t->abort_client = true;
			}
		}
		return;
	}
	size_t used = n;
	if (t->resp.body != HTTP_BODY_CLOSE) {
		enum http_body_result br = http_body_feed(&t->body, t->to_client, n, &used);
		if (br == HTTP_BODY_BAD) {
			/* Broken framing: the client must not wait for an end that will not come,
			 * nor take what came for a whole body. */
			t->n.bad_responses++;
			t->to_client_len = 0;
			t->close_after = true;
			t->pod_keep = false;
			t->drop_pod = true;
			t->abort_client = true;
			t->phase = TERM_CLOSING;
			return;
		}
		if (used < n) { /* bytes after the response: a pod that talks out of turn */
			t->pod_keep = false;
			t->close_after = t->close_after || br == HTTP_BODY_BAD;
		}
	}
	t->to_client_len = (uint32_t)used;
}

/* Plaintext to TLS. true when everything queued went. */
static bool flush_client(struct term_conn *t)
{
	while (t->to_client_off < t->to_client_len) {
		size_t put = 0;
		enum tls_io st = tls_conn_write(t->tls, t->to_client + t->to_client_off,
						t->to_client_len - t->to_client_off, &put);
		t->to_client_off += (uint32_t)put;
		if (st != TLS_IO_OK || put == 0)
			return false;
	}
	return true;
}

void term_pump(struct term_conn *t, uint32_t now, struct stream_out *to_client,
	       struct stream_out *to_pod)
{
	if (t->phase == TERM_DONE)
		return;
	if (t->phase == TERM_TLS) {
		enum tls_io st = t->client.state >= STREAM_ESTABLISHED ? tls_conn_handshake(t->tls)
								       : TLS_IO_WANT;
		if (st == TLS_IO_FAILED) {
			t->n.tls_failed++;
			t->phase = TERM_CLOSING; /* after the alert OpenSSL queued */
			t->close_after = true;
		} else if (st == TLS_IO_OK) {
			t->phase = TERM_REQ_HEAD;
			t->head_since = 0;
		}
	}
	for (int guard = 0; guard < 32 && t->phase != TERM_TLS; guard++) {
		uint8_t before = t->phase;
		/* What a step can change: a step that changed none of it is the last. (A sum
		 * would miss a buffer filled by the same step that left the others alone: the
		 * body bytes read just before the pod's FIN, with no event after them.) */
		const uint32_t moved[6] = {t->to_client_off, t->to_client_len, t->to_pod_off,
					   t->to_pod_len,    t->head_len,      t->rhead_len};
		if (!flush_client(t) && t->phase != TERM_CLOSING)
			break; /* the client's ring is full: everything waits for it */
		switch (t->phase) {
		case TERM_REQ_HEAD: {
			/* Every record TLS has, up to a full buffer: a head in many small records
			 * must not wait for the next segment to be read. */
			enum tls_io st;
			uint32_t was;
			/* Ciphertext counts: a client that sends part of a record and stops must
			 * meet the head's budget too. */
			bool cipher = stream_readable(&t->client) > 0;
			do {
				was = t->head_len;
				st = fill_head(t);
			} while (st == TLS_IO_OK && t->head_len > was &&
				 t->head_len < sizeof(t->head));
			if (st == TLS_IO_CLOSED || st == TLS_IO_FAILED || stream_eof(&t->client))
				t->client_eof = true;
			if ((t->head_len > 0 || cipher) && t->head_since == 0)
				t->head_since = now ? now : 1; /* the head's clock starts */
			if (t->head_len > 0 || t->client_eof)
				start_request(t, now, to_pod);
			break;
		}
		case TERM_REQ_BODY:
			request_body(t, now, to_pod);
			break;
		case TERM_RESP_HEAD:
			response_head(t);
			break;
		case TERM_RESP_BODY:
			response_body(t);
			break;
		default:
			break;
		}
		if (t->drop_pod) {
			t->drop_pod = false;
			pod_drop(t, now, to_pod);
		}
		if (t->abort_client) {
			t->abort_client = false;
			stream_abort(&t->client, now, to_client);
		}
		if (t->phase == TERM_CLOSING) {
			if (flush_client(t) && t->client.state != STREAM_CLOSED &&
			    !t->client.fin_queued) {
				tls_conn_close(t->tls);
				stream_shutdown(&t->client);
			}
			pod_drop(t, now, to_pod);
			break;
		}
		const uint32_t after[6] = {t->to_client_off, t->to_client_len, t->to_pod_off,
					   t->to_pod_len,    t->head_len,      t->rhead_len};
		if (t->phase == before && memcmp(after, moved, sizeof(moved)) == 0)
			break;
	}
	if (t->pod_open) {
		stream_output(&t->pod, now, to_pod);
		if (stream_last_progress(&t->pod) != 0 &&
		    sq_after(stream_last_progress(&t->pod), t->last_progress))
			t->last_progress = stream_last_progress(&t->pod);
	}
	if (t->client.state != STREAM_CLOSED)
		stream_output(&t->client, now, to_client);
	if (stream_last_progress(&t->client) != 0 &&
	    sq_after(stream_last_progress(&t->client), t->last_progress))
		t->last_progress = stream_last_progress(&t->client);
	/* A pod leg that closed under a kept-alive connection is simply forgotten. */
	if (t->pod_open && t->pod.state == STREAM_CLOSED && t->phase == TERM_REQ_HEAD) {
		stream_release(&t->pod);
		t->pod_open = false;
	}
	if (t->phase == TERM_CLOSING && t->client.state == STREAM_TIME_WAIT) {
		/* Everything delivered both ways: the record goes now, not after TIME-WAIT (the
		 * owner's flow record absorbs strays). */
		stream_release(&t->client);
		t->client.state = STREAM_CLOSED;
	} else if (t->phase == TERM_CLOSING && t->client.state == STREAM_FIN_WAIT_2 &&
		   t->fin_acked_since == 0) {
		t->fin_acked_since = now ? now : 1;
	}
	if (t->client.state == STREAM_CLOSED) {
		/* Reset, timed out, or closed both ways after our FIN: bytes it still holds can
		 * never be answered. */
		pod_drop(t, now, to_pod);
		t->phase = TERM_DONE;
	}
}

void term_client_input(struct term_conn *t, const struct rte_mbuf *m, const struct net_pkt *p,
		       uint32_t now, struct stream_out *to_client, struct stream_out *to_pod)
{
	stream_input(&t->client, m, p, now, to_client);
	term_pump(t, now, to_client, to_pod);
}

void term_pod_input(struct term_conn *t, const struct rte_mbuf *m, const struct net_pkt *p,
		    uint32_t now, struct stream_out *to_client, struct stream_out *to_pod)
{
	if (t->pod_open)
		stream_input(&t->pod, m, p, now, to_pod);
	term_pump(t, now, to_client, to_pod);
}

uint32_t term_deadline(const struct term_conn *t)
{
	uint32_t best = stream_deadline(&t->client);
	if (t->pod_open && t->pod.state == STREAM_SYN_SENT && t->env->connect_ms != 0) {
		uint32_t c = t->connect_since + t->env->connect_ms;
		c = c ? c : 1;
		if (best == 0 || (int32_t)(c - best) < 0)
			best = c;
	}
	if (t->pod_open) {
		uint32_t d = stream_deadline(&t->pod);
		if (d != 0 && (best == 0 || (int32_t)(d - best) < 0))
			best = d;
	}
	uint32_t idle = t->last_progress + t->env->idle_ms;
	idle = idle ? idle : 1;
	if (best == 0 || (int32_t)(idle - best) < 0)
		best = idle;
	if (t->fin_acked_since != 0) {
		uint32_t f = t->fin_acked_since + TERM_LINGER_MS;
		f = f ? f : 1;
		if ((int32_t)(f - best) < 0)
			best = f;
	}
	if (t->head_since != 0 && t->env->header_ms != 0) {
		uint32_t h = t->head_since + t->env->header_ms;
		h = h ? h : 1;
		if ((int32_t)(h - best) < 0)
			best = h;
	}
	return best;
}

void term_timer(struct term_conn *t, uint32_t now, struct stream_out *to_client,
		struct stream_out *to_pod)
{
	if ((int32_t)(now - (t->last_progress + t->env->idle_ms)) >= 0 && t->phase != TERM_DONE) {
		t->n.idle_timeouts++;
		stream_abort(&t->client, now, to_client);
		pod_drop(t, now, to_pod);
		t->phase = TERM_DONE;
		return;
	}
	if (t->pod_open && t->pod.state == STREAM_SYN_SENT && t->env->connect_ms != 0 &&
	    (int32_t)(now - (t->connect_since + t->env->connect_ms)) >= 0) {
		/* The pod never answered the SYN in time: given up; the pump tries another. */
		stream_abort(&t->pod, now, to_pod);
		t->connect_expired = true;
	}
	if (t->fin_acked_since != 0 && t->phase != TERM_DONE &&
	    (int32_t)(now - (t->fin_acked_since + TERM_LINGER_MS)) >= 0) {
		/* The client has every byte and our FIN, and keeps its side open: the record goes
		 * without a RST (which could discard what its application has not read yet); its
		 * FIN, when it comes, meets the owner's lingering flow record. */
		stream_release(&t->client);
		t->client.state = STREAM_CLOSED;
		pod_drop(t, now, to_pod);
		t->phase = TERM_DONE;
		return;
	}
	if (t->head_since != 0 && t->env->header_ms != 0 &&
	    (int32_t)(now - (t->head_since + t->env->header_ms)) >= 0 && t->phase != TERM_DONE) {
		t->n.header_timeouts++;
		t->head_since = 0;
		if (t->phase == TERM_TLS) { /* no TLS to answer in yet */
			stream_abort(&t->client, now, to_client);
			pod_drop(t, now, to_pod);
			t->phase = TERM_DONE;
			return;
		}
		if (t->phase == TERM_REQ_HEAD)
			answer(t, 408);
	}
	uint32_t d = stream_deadline(&t->client);
	if (d != 0 && (int32_t)(now - d) >= 0)
		stream_timer(&t->client, now, to_client);
	if (t->pod_open) {
		d = stream_deadline(&t->pod);
		if (d != 0 && (int32_t)(now - d) >= 0)
			stream_timer(&t->pod, now, to_pod);
	}
	term_pump(t, now, to_client, to_pod);
}
