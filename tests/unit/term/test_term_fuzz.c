/*
 * lib/term under a stateful fuzzer with an oracle. Four TCP endpoints in memory: the client's
 * (a lib/stream leg with OpenSSL's client over it), the gateway's two legs inside a term_conn,
 * and the pods' (lib/stream legs accepting every connection the gateway opens, answering with a
 * strict parser of their own). Segments cross a lossless link in order.
 *
 * Each run the client pipelines a random script of requests, cut into TLS writes at random
 * points: GET and POST, Content-Length and chunked bodies, hosts with a route (two pods) or
 * without, spoofed X-Forwarded-* fields in any case, and now and then a malformed request. Each
 * carries X-Req: <its number>. The oracle:
 *   - the pods receive exactly the requests before the first one the gateway must refuse (a
 *     malformed one: 400; an unknown host: 404), in order, each parsing strictly, with its own
 *     number, its body byte-exact, X-Forwarded-For the client's address once and no client
 *     value of X-Forwarded-*; nothing else, not a byte (whatever the pods receive parses whole);
 *   - the client receives one answer per forwarded request, in order, each naming its request
 *     and the pod its host routes to, then the gateway's 400 or 404 for the refused one, and
 *     the connection closes.
 */
#include "world.h"

static void setup(void)
{
	world_eal("sluice-test-term");
}

TestSuite(term_fuzz, .init = setup);

/* ---- the world ------------------------------------------------------------------------------ */

#define PODS 16
static struct {
	struct stream_leg leg;
	uint8_t buf[1 << 20]; /* what this connection received, unparsed part */
	uint32_t len;
	struct http_request_parser ps;
	bool used;
} * pods;

/* What the pods received, request by request. */
#define MAXREQ 48
static struct got {
	int id;
	char host[32];
	int xff_count;
	char xff[64];
	bool spoof_seen;
	uint8_t body_sha[32]; /* compared as bytes below */
	uint32_t body_len;
	uint8_t body[8192];
} got[MAXREQ];
static int n_got;
static bool pod_garbage;

/* The pods' side: parse whole requests out of a connection's bytes and answer each. */
static void pod_serve(int k)
{
	struct stream_leg *l = &pods[k].leg;
	uint32_t n = stream_read(l, pods[k].buf + pods[k].len,
				 (uint32_t)sizeof(pods[k].buf) - pods[k].len);
	pods[k].len += n;
	for (;;) {
		if (pods[k].len == 0)
			break;
		struct http_request r;
		static const struct http_limits lim = {8192, 16384, 200, true};
		int h = http_request_parse(&pods[k].ps, &lim, pods[k].buf, pods[k].len, &r);
		if (h == HTTP_NEED_MORE)
			break;
		if (h < 0) {
			if (getenv("TERM_TRACE"))
				fprintf(stderr, "pod got (%s): %.*s\n", http_error_name(r.error),
					(int)(pods[k].len < 400 ? pods[k].len : 400),
					(const char *)pods[k].buf);
			pod_garbage = true;
			pods[k].len = 0;
			break;
		}
		/* The body, whole, before answering. */
		struct http_body b;
		http_body_init(&b, r.body, r.content_length);
		size_t used = 0;
		uint32_t body_at = (uint32_t)h, body_end = (uint32_t)h;
		if (r.body != HTTP_BODY_NONE) {
			enum http_body_result br = http_body_feed(&b, pods[k].buf + h,
								  pods[k].len - (uint32_t)h, &used);
			if (br == HTTP_BODY_BAD) {
				pod_garbage = true;
				pods[k].len = 0;
				break;
			}
			if (br != HTTP_BODY_DONE) {
				http_request_parser_init(&pods[k].ps); /* the head again, later */
				break; /* wait for the rest of the body */
			}
			body_end = body_at + (uint32_t)used;
		}
		cr_assert_lt(n_got, MAXREQ);
		struct got *g = &got[n_got++];
		memset(g, 0, sizeof(*g));
		size_t off, len;
		char v[64];
		if (http_find_header(pods[k].buf, (size_t)h, "x-req", &off, &len) && len < 16) {
			memcpy(v, pods[k].buf + off, len);
			v[len] = 0;
			g->id = atoi(v);
		} else {
			g->id = -1;
		}
		snprintf(g->host, sizeof(g->host), "%.*s", (int)r.host.len,
			 (const char *)pods[k].buf + r.host.off);
		/* Count X-Forwarded-For lines, and look for any client value. */
		const char *hd = (const char *)pods[k].buf;
		for (int i = 0; i + 16 < h; i++) {
			if ((i == 0 || hd[i - 1] == '\n') &&
			    strncasecmp(hd + i, "x-forwarded-for:", 16) == 0) {
				g->xff_count++;
				const char *e = memchr(hd + i, '\r', (size_t)(h - i));
				int vl = (int)(e - (hd + i + 16));
				snprintf(g->xff, sizeof(g->xff), "%.*s", vl, hd + i + 16);
			}
			if (strncasecmp(hd + i, "spoofed", 7) == 0)
				g->spoof_seen = true;
		}
		/* Chunked: the test keeps the decoded bytes only for Content-Length bodies; a
		 * chunked body's framing passing whole is what is checked. */
		if (r.body == HTTP_BODY_LENGTH) {
			g->body_len = (uint32_t)r.content_length;
			memcpy(g->body, pods[k].buf + body_at,
			       g->body_len < sizeof(g->body) ? g->body_len : sizeof(g->body));
		}
		char resp[256];
		int rl = snprintf(resp, sizeof(resp),
				  "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\nreq=%04d pod=%d\n",
				  14 + 1, g->id, pods[k].leg.local_port == RTE_BE16(8080) ? 1 : 2);
		cr_assert_eq(stream_write(l, resp, (uint32_t)rl), (uint32_t)rl);
		memmove(pods[k].buf, pods[k].buf + body_end, pods[k].len - body_end);
		pods[k].len -= body_end;
		http_request_parser_init(&pods[k].ps);
	}
	if (stream_eof(l) && l->state == STREAM_CLOSE_WAIT)
		stream_shutdown(l);
	stream_output(l, now, &out);
	take_out();
}

static void pod_segment(struct rte_mbuf *m, const struct net_pkt *p, const struct stream_syn *s,
			bool syn)
{
	int k = -1;
	for (int i = 0; i < PODS; i++)
		if (pods[i].used && pods[i].leg.remote_port == p->src_port &&
		    pods[i].leg.local_port == p->dst_port)
			k = i;
	if (k < 0 && syn) {
		for (int i = 0; i < PODS && k < 0; i++)
			if (!pods[i].used)
				k = i;
		cr_assert_geq(k, 0, "too many pod connections");
		pods[k].used = true;
		pods[k].len = 0;
		http_request_parser_init(&pods[k].ps);
		cr_assert(stream_accept(&pods[k].leg, &cfg, s, rnd(), now, &out));
	} else if (k >= 0 && pods[k].leg.state != STREAM_CLOSED) {
		stream_input(&pods[k].leg, m, p, now, &out);
		pod_serve(k);
	}
}

/* ---- the client's script --------------------------------------------------------------------- */

struct req {
	char text[12288];
	int len;
	int route; /* 1, 2: a pod; 0: no route (404); -1: malformed (400) */
	uint8_t body[8192];
	int body_len;
	bool chunked;
};

static void make_req(struct req *q, int id)
{
	int kind = (int)(rnd() % 100);
	const char *host = kind < 45 ? "a.example" : kind < 90 ? "B.Example" : "nobody.example";
	q->route = kind < 45 ? 1 : kind < 90 ? 2 : 0;
	bool post = rnd() % 2;
	q->chunked = post && rnd() % 3 == 0;
	q->body_len = post ? (int)(rnd() % 6000) : 0;
	for (int i = 0; i < q->body_len; i++)
		q->body[i] = (uint8_t)rnd();
	int o = snprintf(q->text, sizeof(q->text), "%s /r%d HTTP/1.1\r\nHost: %s\r\nX-Req: %d\r\n",
			 post ? "POST" : "GET", id, host, id);
	static const char *const spoof[] = {
		"X-Forwarded-For: spoofed\r\n", "x-forwarded-for: spoofed, spoofed\r\n",
		"X-FORWARDED-HOST: spoofed.example\r\n", "X-Forwarded-Proto: spoofed\r\n",
		"x-Forwarded-Port: spoofed\r\n"};
	for (int k = (int)(rnd() % 3); k > 0; k--)
		o += snprintf(q->text + o, sizeof(q->text) - (size_t)o, "%s", spoof[rnd() % 5]);
	if (rnd() % 25 == 0) { /* malformed: the gateway must answer 400 and forward nothing */
		static const char *const bad[] = {"Bad Header: x\r\n", "X-Req : 1\r\n",
						  "Folded: a\r\n b\r\n",
						  "Content-Length: 1\r\n"
						  "Transfer-Encoding: chunked\r\n",
						  "X: \x01\r\n"};
		o += snprintf(q->text + o, sizeof(q->text) - (size_t)o, "%s", bad[rnd() % 5]);
		q->route = -1;
	}
	if (post && !q->chunked)
		o += snprintf(q->text + o, sizeof(q->text) - (size_t)o, "Content-Length: %d\r\n",
			      q->body_len);
	if (q->chunked)
		o += snprintf(q->text + o, sizeof(q->text) - (size_t)o,
			      "Transfer-Encoding: chunked\r\n");
	o += snprintf(q->text + o, sizeof(q->text) - (size_t)o, "\r\n");
	if (q->chunked) {
		for (int at = 0; at < q->body_len;) {
			int n = 1 + (int)(rnd() % 2000);
			if (n > q->body_len - at)
				n = q->body_len - at;
			o += snprintf(q->text + o, sizeof(q->text) - (size_t)o, "%x\r\n", n);
			memcpy(q->text + o, q->body + at, (size_t)n);
			o += n;
			o += snprintf(q->text + o, sizeof(q->text) - (size_t)o, "\r\n");
			at += n;
		}
		o += snprintf(q->text + o, sizeof(q->text) - (size_t)o, "0\r\n\r\n");
	} else if (post) {
		memcpy(q->text + o, q->body, (size_t)q->body_len);
		o += q->body_len;
	}
	q->len = o;
}

/* ---- one run --------------------------------------------------------------------------------- */

#define ANSWERS (1 << 18)

/* One millisecond of the world: the TLS client writes a piece of its script (at most max_piece
 * bytes, when may_send) and reads answers, every endpoint runs its timers, the link delivers
 * everything queued. true once the client's leg is closed (or in TIME-WAIT). */
static bool world_step(SSL *ssl, BIO *net, const uint8_t *script, size_t slen, size_t *sent,
		       uint32_t max_piece, bool may_send, uint8_t *answers, size_t *alen)
{
	bool closed = false;
	now++;
	/* TLS client: handshake, then the script in pieces. */
	if (!SSL_is_init_finished(ssl))
		SSL_do_handshake(ssl);
	else if (*sent < slen && may_send) {
		size_t piece = 1 + rnd() % max_piece, w = 0;
		if (piece > slen - *sent)
			piece = slen - *sent;
		if (SSL_write_ex(ssl, script + *sent, piece, &w) == 1)
			*sent += w;
	}
	for (;;) {
		size_t r = 0;
		if (SSL_read_ex(ssl, answers + *alen, ANSWERS - 1 - *alen, &r) != 1)
			break;
		*alen += r;
	}
	ERR_clear_error();
	/* TLS bytes between the BIO pair and the client's leg. */
	client_pipe(net);
	if (stream_eof(&client) && client.state == STREAM_CLOSE_WAIT)
		stream_shutdown(&client);
	if (client.state == STREAM_CLOSED || client.state == STREAM_TIME_WAIT)
		closed = true;
	stream_output(&client, now, &out);
	take_out();
	/* Timers everywhere. */
	uint32_t d = stream_deadline(&client);
	if (d && (int32_t)(now - d) >= 0)
		stream_timer(&client, now, &out);
	if (gw_open) {
		d = term_deadline(tc);
		if (d && (int32_t)(now - d) >= 0)
			term_timer(tc, now, &out, &out);
		else
			term_pump(tc, now, &out, &out);
	}
	for (int i = 0; i < PODS; i++)
		if (pods[i].used && pods[i].leg.state != STREAM_CLOSED) {
			d = stream_deadline(&pods[i].leg);
			if (d && (int32_t)(now - d) >= 0)
				stream_timer(&pods[i].leg, now, &out);
			pod_serve(i);
		}
	take_out();
	link_run();
	return closed;
}

static unsigned total_forwarded, total_refused, total_requests;

static void run(uint64_t seed)
{
	rng = seed * 0x9e3779b97f4a7c15ull + 1;
	n_got = 0;
	pod_garbage = false;
	gw_open = false;
	qn = 0;
	memset(pods, 0, sizeof(*pods) * PODS);
	unsigned avail = rte_mempool_avail_count(pool);

	static struct req reqs[MAXREQ];
	int n = 1 + (int)(rnd() % 12), stop = n;
	for (int i = 0; i < n; i++) {
		make_req(&reqs[i], i);
		if (stop == n && reqs[i].route <= 0)
			stop = i; /* the gateway answers this one itself and closes */
	}

	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(cctx);
	BIO *ssl_side, *net;
	BIO_new_bio_pair(&ssl_side, 1 << 17, &net, 1 << 17);
	SSL_set_bio(ssl, ssl_side, ssl_side);
	SSL_set_connect_state(ssl);
	SSL_set_tlsext_host_name(ssl, "a.example");

	now = 1;
	snat_port = 50000;
	cr_assert(stream_connect(&client, &cfg, IP_CLIENT, RTE_BE16(40000), IP_GW, PORT_GW, rnd(),
				 now, &out));
	take_out();

	/* The whole script as one byte stream, written in random pieces. */
	static uint8_t script[MAXREQ * 12288];
	size_t slen = 0, sent = 0;
	for (int i = 0; i < n; i++) {
		memcpy(script + slen, reqs[i].text, (size_t)reqs[i].len);
		slen += (size_t)reqs[i].len;
	}
	static uint8_t answers[ANSWERS];
	size_t alen = 0;
	bool client_closed = false;
	for (int step = 0; step < 200000 && !(client_closed && gw_open && term_done(tc)); step++)
		client_closed =
			world_step(ssl, net, script, slen, &sent, 3000, true, answers, &alen);

	/* ---- the oracle ---- */
	char what[64];
	snprintf(what, sizeof(what), "seed %llu (%d requests, stop at %d)",
		 (unsigned long long)seed, n, stop);
	cr_assert(!pod_garbage, "%s: a pod received bytes that do not parse", what);
	cr_assert_eq(n_got, stop, "%s: the pods got %d requests", what, n_got);
	for (int i = 0; i < stop; i++) {
		struct got *g = &got[i];
		cr_assert_eq(g->id, i, "%s: request %d arrived as %d", what, i, g->id);
		cr_assert_eq(g->xff_count, 1, "%s: %d X-Forwarded-For", what, g->xff_count);
		cr_assert_str_eq(g->xff, " 198.18.0.1", "%s", what);
		cr_assert(!g->spoof_seen, "%s: a client's X-Forwarded-* reached the pod", what);
		if (!reqs[i].chunked && reqs[i].body_len > 0) {
			cr_assert_eq(g->body_len, (uint32_t)reqs[i].body_len, "%s", what);
			cr_assert_eq(memcmp(g->body, reqs[i].body, (size_t)reqs[i].body_len), 0,
				     "%s: body of %d", what, i);
		}
	}
	/* The answers, in order. */
	const char *a = (const char *)answers;
	answers[alen < sizeof(answers) ? alen : sizeof(answers) - 1] = 0;
	for (int i = 0; i < stop; i++) {
		char want[32];
		snprintf(want, sizeof(want), "req=%04d pod=%d", i, reqs[i].route);
		const char *at = strstr(a, want);
		cr_assert_not_null(at, "%s: no answer '%s' in order; got: %.300s", what, want, a);
		a = at + strlen(want);
	}
	if (stop < n) {
		const char *code = reqs[stop].route == 0 ? "HTTP/1.1 404" : "HTTP/1.1 400";
		cr_assert_not_null(strstr(a, code), "%s: no %s at the end: %.200s", what, code, a);
	}
	cr_assert(client_closed || sent == slen, "%s: stuck", what);
	total_forwarded += (unsigned)stop;
	total_refused += stop < n;
	total_requests += (unsigned)n;

	SSL_free(ssl);
	BIO_free(net);
	SSL_CTX_free(cctx);
	for (unsigned i = 0; i < qn; i++)
		rte_pktmbuf_free(queue[i]);
	qn = 0;
	stream_release(&client);
	if (gw_open)
		term_release(tc);
	for (int i = 0; i < PODS; i++)
		stream_release(&pods[i].leg);
	cr_assert_eq(rte_mempool_avail_count(pool), avail, "%s: mbufs leaked", what);
}

static struct tls_certs *world_certs;
static struct tls_server *world_srv;

static void world_init(void)
{
	char why[200] = "";
	struct tls_cert *cert = tls_cert_self_signed("a.example", why, sizeof(why));
	cr_assert_not_null(cert, "%s", why);
	world_certs = tls_certs_new();
	tls_certs_set_default(world_certs, cert);
	tls_cert_unref(cert);
	world_srv = tls_server_new(why, sizeof(why));
	cr_assert_not_null(world_srv, "%s", why);
	tls_server_set_certs(world_srv, world_certs);
	cfg = (struct stream_cfg){.pool = pool, .ts = true, .sack = true, .ws = true};
	cr_assert(stream_cfg_defaults(&cfg));
	env = (struct term_env){.tls = world_srv,
				.client_cfg = &cfg,
				.pod_cfg = &cfg,
				.limits = {8192, 8192, 100, true},
				.idle_ms = 60000,
				.header_ms = 5000,
				.route = route,
				.source = source};
	tc = calloc(1, sizeof(*tc));
	pods = calloc(PODS, sizeof(*pods));
}

static void world_fini(void)
{
	free(tc);
	free(pods);
	tls_server_free(world_srv);
	tls_certs_free(world_certs);
}

Test(term_fuzz, pipelined_scripts_with_an_oracle, .timeout = 240)
{
	world_init();
	unsigned runs = getenv("TERM_FUZZ_RUNS") ? (unsigned)atoi(getenv("TERM_FUZZ_RUNS")) : 150;
	for (unsigned s = 1; s <= runs; s++)
		run(s);
	cr_log_info("%u runs: %u requests scripted, %u forwarded and answered, %u refused by the "
		    "gateway",
		    runs, total_requests, total_forwarded, total_refused);
	cr_assert_gt(total_forwarded, runs, "the fuzz must reach the pods");
	cr_assert_gt(total_refused, runs / 10, "and the gateway's refusals");
	world_fini();
}

/* Slowloris: a head that trickles in a byte every 400 ms makes progress, so the idle timeout
 * never fires; the header budget does (408 over TLS, 5 s after its first byte), and nothing
 * reached a pod. A client that opens TCP and never sends a ClientHello is reset after the same
 * budget. */
Test(term_fuzz, slow_heads_and_silent_handshakes_time_out, .timeout = 120)
{
	world_init();
	for (int silent = 0; silent < 2; silent++) {
		rng = 42 + (uint64_t)silent;
		n_got = 0;
		gw_open = false;
		qn = 0;
		memset(pods, 0, sizeof(*pods) * PODS);
		unsigned avail = rte_mempool_avail_count(pool);
		SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
		SSL *ssl = SSL_new(cctx);
		BIO *ssl_side, *net;
		BIO_new_bio_pair(&ssl_side, 1 << 17, &net, 1 << 17);
		SSL_set_bio(ssl, ssl_side, ssl_side);
		SSL_set_connect_state(ssl);
		SSL_set_tlsext_host_name(ssl, "a.example");
		now = 1;
		cr_assert(stream_connect(&client, &cfg, IP_CLIENT, RTE_BE16(40001), IP_GW,
					 RTE_BE16(443), rnd(), now, &out));
		take_out();
		static const char head[] =
			"GET /slow HTTP/1.1\r\nHost: a.example\r\nX-Req: 0\r\n"
			"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
		size_t sent = 0, alen = 0;
		static uint8_t answers[ANSWERS];
		bool closed = false;
		uint32_t first = 0;
		for (int step = 0; step < 30000 && !closed; step++) {
			if (silent && step == 0)
				SSL_free(ssl), ssl = NULL; /* the client never says hello */
			if (ssl == NULL) {
				now++;
				stream_output(&client, now, &out);
				take_out();
				uint32_t d = term_deadline(tc);
				if (gw_open && d && (int32_t)(now - d) >= 0)
					term_timer(tc, now, &out, &out);
				uint32_t cd = stream_deadline(&client);
				if (cd && (int32_t)(now - cd) >= 0)
					stream_timer(&client, now, &out);
				take_out();
				for (unsigned i = 0; i < qn; i++) {
					struct rte_mbuf *m = queue[i];
					queue[i] = NULL;
					deliver(m);
				}
				qn = 0;
				closed = client.state == STREAM_CLOSED;
				continue;
			}
			bool tick = now % 400 == 0;
			if (tick && sent > 0 && first == 0)
				first = now;
			closed = world_step(ssl, net, (const uint8_t *)head, sizeof(head) - 1,
					    &sent, 1, tick, answers, &alen);
		}
		cr_assert(closed, "the connection was not closed (silent=%d)", silent);
		cr_assert_eq(n_got, 0, "a trickled head reached a pod");
		cr_assert_eq(tc->n.header_timeouts, 1);
		if (!silent) {
			answers[alen] = 0;
			cr_assert_not_null(strstr((char *)answers, "HTTP/1.1 408"), "%s", answers);
			cr_assert_lt(sent, sizeof(head) - 1, "the head was never whole");
			cr_assert_leq(now - first, 5000 + 1000, "closed %u ms after the first byte",
				      now - first);
			SSL_free(ssl);
		} else {
			cr_assert_eq(client.end, STREAM_END_RESET, "%s",
				     stream_end_name((enum stream_end)client.end));
		}
		BIO_free(net);
		SSL_CTX_free(cctx);
		for (unsigned i = 0; i < qn; i++)
			rte_pktmbuf_free(queue[i]);
		qn = 0;
		stream_release(&client);
		term_release(tc);
		for (int i = 0; i < PODS; i++)
			stream_release(&pods[i].leg);
		cr_assert_eq(rte_mempool_avail_count(pool), avail, "mbufs leaked");
	}
	world_fini();
}
