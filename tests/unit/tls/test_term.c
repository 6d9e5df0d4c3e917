/*
 * lib/tls term.c: TLS termination over a byte pipe, against OpenSSL's own client in memory.
 * The server's pipe takes at most a few hundred bytes per write when asked to, so every
 * record crosses a full send ring at least once (the "retry, same bytes again" path).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls/term.h"

/* ---- a pipe in memory: the server reads c2s and writes s2c ---------------------------------- */

struct mem {
	uint8_t *b;
	size_t len, off, cap;
};
struct pipe_pair {
	struct mem c2s, s2c;
	uint32_t max_write; /* 0: no limit */
	bool eof;
};

static void mem_put(struct mem *m, const void *p, size_t n)
{
	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2;
		m->b = realloc(m->b, m->cap);
		cr_assert_not_null(m->b);
	}
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static uint32_t p_read(void *ctx, void *dst, uint32_t n)
{
	struct pipe_pair *p = ctx;
	size_t k = p->c2s.len - p->c2s.off;
	if (k > n)
		k = n;
	memcpy(dst, p->c2s.b + p->c2s.off, k);
	p->c2s.off += k;
	return (uint32_t)k;
}
static uint32_t p_write(void *ctx, const void *src, uint32_t n)
{
	struct pipe_pair *p = ctx;
	if (p->max_write && n > p->max_write)
		n = p->max_write;
	static unsigned turn;
	if (p->max_write && (++turn % 3) == 0)
		return 0; /* the ring is full now and then */
	mem_put(&p->s2c, src, n);
	return n;
}
static bool p_eof(void *ctx)
{
	struct pipe_pair *p = ctx;
	return p->eof && p->c2s.off == p->c2s.len;
}

/* ---- a client ------------------------------------------------------------------------------ */

struct client {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out; /* in: what the server sent; out: what the client sends */
};

static void client_new(struct client *c, const char *alpn, SSL_SESSION *sess)
{
	c->ctx = SSL_CTX_new(TLS_client_method());
	cr_assert_not_null(c->ctx);
	/* No client cache: freeing a context whose cache holds a session makes the session not
	 * resumable, and the test keeps sessions across contexts. */
	c->ssl = SSL_new(c->ctx);
	c->in = BIO_new(BIO_s_mem());
	c->out = BIO_new(BIO_s_mem());
	SSL_set_bio(c->ssl, c->in, c->out);
	SSL_set_connect_state(c->ssl);
	SSL_set_tlsext_host_name(c->ssl, "t.example");
	if (alpn) {
		unsigned char wire[32];
		wire[0] = (unsigned char)strlen(alpn);
		memcpy(wire + 1, alpn, wire[0]);
		SSL_set_alpn_protos(c->ssl, wire, wire[0] + 1u);
	}
	if (sess)
		cr_assert_eq(SSL_set_session(c->ssl, sess), 1);
}

static void client_free(struct client *c)
{
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
}

/* Move bytes both ways once. */
static void shuttle(struct client *c, struct pipe_pair *p)
{
	char buf[16384];
	int n;
	while ((n = BIO_read(c->out, buf, sizeof(buf))) > 0)
		mem_put(&p->c2s, buf, (size_t)n);
	if (p->s2c.len > p->s2c.off) {
		BIO_write(c->in, p->s2c.b + p->s2c.off, (int)(p->s2c.len - p->s2c.off));
		p->s2c.off = p->s2c.len;
	}
}

/* Run both handshakes to the end; the server's last status. */
static enum tls_io handshake(struct client *c, struct tls_conn *s, struct pipe_pair *p)
{
	enum tls_io st = TLS_IO_WANT;
	for (int i = 0; i < 200; i++) {
		int r = SSL_do_handshake(c->ssl);
		shuttle(c, p);
		st = tls_conn_handshake(s);
		shuttle(c, p);
		if (st == TLS_IO_FAILED)
			return st;
		if (r == 1 && st == TLS_IO_OK)
			return st;
	}
	return st;
}

/* The client reads what is there (session tickets arrive after the handshake in TLS 1.3). */
static size_t client_drain(struct client *c, struct pipe_pair *p, uint8_t *dst, size_t cap)
{
	size_t got = 0;
	shuttle(c, p);
	for (;;) {
		size_t n = 0;
		if (SSL_read_ex(c->ssl, dst ? dst + got : (uint8_t[1]){0}, dst ? cap - got : 1,
				&n) != 1)
			break;
		got += n;
		if (dst == NULL || got == cap)
			break;
	}
	ERR_clear_error();
	return got;
}

static struct tls_certs *store(void)
{
	char why[200] = "";
	struct tls_cert *c = tls_cert_self_signed("t.example", why, sizeof(why));
	cr_assert_not_null(c, "%s", why);
	struct tls_certs *s = tls_certs_new();
	tls_certs_set_default(s, c);
	tls_cert_unref(c);
	return s;
}

static struct tls_server *server(struct tls_certs *certs)
{
	char why[200] = "";
	struct tls_server *s = tls_server_new(why, sizeof(why));
	cr_assert_not_null(s, "%s", why);
	tls_server_set_certs(s, certs);
	return s;
}

/* One connection: handshake, one request's worth each way; the session, for resumption. */
static SSL_SESSION *connect_once(struct tls_server *srv, SSL_SESSION *sess, bool *resumed)
{
	struct pipe_pair p = {0};
	struct tls_pipe tp = {&p, p_read, p_write, p_eof};
	struct tls_conn *s = tls_conn_new(srv, &tp);
	struct client c;
	client_new(&c, "http/1.1", sess);
	cr_assert_eq(handshake(&c, s, &p), TLS_IO_OK);
	size_t put;
	cr_assert_eq(tls_conn_write(s, "hello", 5, &put), TLS_IO_OK);
	uint8_t buf[16];
	cr_assert_eq(client_drain(&c, &p, buf, 5), 5);
	struct tls_conn_info i;
	tls_conn_info(s, &i);
	*resumed = i.resumed;
	SSL_SESSION *out = SSL_get1_session(c.ssl);
	/* Closed in order: OpenSSL marks a session not resumable when its SSL is freed
	 * without a shutdown. */
	SSL_set_shutdown(c.ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	tls_conn_free(s);
	client_free(&c);
	free(p.c2s.b);
	free(p.s2c.b);
	return out;
}

Test(term, tls13_handshake_alpn_x25519_and_a_megabyte_through_a_narrow_pipe)
{
	struct tls_certs *certs = store();
	struct tls_server *srv = server(certs);
	struct pipe_pair p = {.max_write = 700};
	struct tls_pipe tp = {&p, p_read, p_write, p_eof};
	struct tls_conn *s = tls_conn_new(srv, &tp);
	struct client c;
	client_new(&c, "http/1.1", NULL);
	cr_assert_eq(handshake(&c, s, &p), TLS_IO_OK);
	struct tls_conn_info i;
	tls_conn_info(s, &i);
	cr_assert_str_eq(i.version, "TLSv1.3");
	cr_assert_str_eq(i.alpn, "http/1.1");
	cr_assert_str_eq(i.server_name, "t.example");
	cr_assert_str_eq(i.group, "x25519");
	cr_assert_eq(i.match, TLS_MATCH_DEFAULT);

	/* 1 MiB server → client: the pipe refuses or cuts writes; the same bytes go again. */
	size_t n = 1 << 20, sent = 0, got = 0;
	uint8_t *src = malloc(n), *dst = malloc(n);
	for (size_t k = 0; k < n; k++)
		src[k] = (uint8_t)(k * 7 + (k >> 11));
	for (int guard = 0; guard < 100000 && got < n; guard++) {
		if (sent < n) {
			size_t put = 0;
			enum tls_io st = tls_conn_write(s, src + sent, n - sent, &put);
			cr_assert(st == TLS_IO_OK || st == TLS_IO_WANT);
			sent += put;
		}
		got += client_drain(&c, &p, dst + got, n - got);
	}
	cr_assert_eq(got, n);
	cr_assert_eq(memcmp(src, dst, n), 0);

	/* client → server, and close_notify */
	cr_assert_eq(SSL_write(c.ssl, "GET / HTTP/1.1\r\n\r\n", 18), 18);
	SSL_shutdown(c.ssl);
	shuttle(&c, &p);
	char req[64];
	size_t r = 0;
	cr_assert_eq(tls_conn_read(s, req, sizeof(req), &r), TLS_IO_OK);
	cr_assert_eq(r, 18);
	cr_assert_eq(tls_conn_read(s, req, sizeof(req), &r), TLS_IO_CLOSED);
	free(src);
	free(dst);
	tls_conn_free(s);
	client_free(&c);
	free(p.c2s.b);
	free(p.s2c.b);
	tls_server_free(srv);
	tls_certs_free(certs);
}

Test(term, alpn_without_http11_is_refused)
{
	struct tls_certs *certs = store();
	struct tls_server *srv = server(certs);
	struct pipe_pair p = {0};
	struct tls_pipe tp = {&p, p_read, p_write, p_eof};
	struct tls_conn *s = tls_conn_new(srv, &tp);
	struct client c;
	client_new(&c, "h2", NULL);
	cr_assert_eq(handshake(&c, s, &p), TLS_IO_FAILED);
	struct tls_server_counts n;
	tls_server_counts(srv, &n);
	cr_assert_eq(n.alpn_refused, 1);
	cr_assert_eq(n.failed, 1);
	tls_conn_free(s);
	client_free(&c);
	free(p.c2s.b);
	free(p.s2c.b);
	tls_server_free(srv);
	tls_certs_free(certs);
}

Test(term, no_certificate_at_all_fails_the_handshake_and_counts)
{
	struct tls_server *srv = server(NULL);
	struct pipe_pair p = {0};
	struct tls_pipe tp = {&p, p_read, p_write, p_eof};
	struct tls_conn *s = tls_conn_new(srv, &tp);
	struct client c;
	client_new(&c, NULL, NULL);
	cr_assert_eq(handshake(&c, s, &p), TLS_IO_FAILED);
	struct tls_server_counts n;
	tls_server_counts(srv, &n);
	cr_assert_eq(n.no_certificate, 1);
	tls_conn_free(s);
	client_free(&c);
	free(p.c2s.b);
	free(p.s2c.b);
	tls_server_free(srv);
}

Test(term, tickets_resume_across_one_rotation_and_not_after_three)
{
	struct tls_certs *certs = store();
	struct tls_server *srv = server(certs);
	bool resumed;
	SSL_SESSION *sess = connect_once(srv, NULL, &resumed);
	cr_assert(!resumed);
	SSL_SESSION *again = connect_once(srv, sess, &resumed);
	cr_assert(resumed, "a ticket from this server resumes");
	SSL_SESSION_free(again);

	char why[160];
	cr_assert_eq(tls_server_rotate_tickets(srv, NULL, why, sizeof(why)), 0);
	again = connect_once(srv, sess, &resumed);
	cr_assert(resumed, "the previous key still decrypts");
	struct tls_server_counts n;
	tls_server_counts(srv, &n);
	cr_assert_eq(n.tickets_renewed, 1, "and the ticket is renewed under the new key");
	SSL_SESSION_free(again);

	for (int k = 0; k < 3; k++)
		cr_assert_eq(tls_server_rotate_tickets(srv, NULL, why, sizeof(why)), 0);
	again = connect_once(srv, sess, &resumed);
	cr_assert(!resumed, "three rotations later the key is gone: a full handshake");
	SSL_SESSION_free(again);
	SSL_SESSION_free(sess);
	tls_server_free(srv);
	tls_certs_free(certs);
}

Test(term, a_shared_key_file_lets_one_node_resume_anothers_sessions)
{
	char path[] = "/tmp/sluice-ticket-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	uint8_t key[TLS_TICKET_KEY_LEN];
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 13 + 5);
	cr_assert_eq(write(fd, key, sizeof(key)), (ssize_t)sizeof(key));
	close(fd);

	struct tls_certs *certs = store();
	struct tls_server *a = server(certs), *b = server(certs);
	char why[200];
	cr_assert_eq(tls_server_rotate_tickets(a, path, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(tls_server_rotate_tickets(b, path, why, sizeof(why)), 0, "%s", why);
	bool resumed;
	SSL_SESSION *sess = connect_once(a, NULL, &resumed);
	SSL_SESSION *again = connect_once(b, sess, &resumed);
	cr_assert(resumed, "node b resumes node a's session");
	SSL_SESSION_free(again);
	SSL_SESSION_free(sess);

	/* A file of the wrong size is refused, and says why; the keys in use stay. */
	FILE *f = fopen(path, "wb");
	fwrite(key, 1, 79, f);
	fclose(f);
	cr_assert_eq(tls_server_rotate_tickets(a, path, why, sizeof(why)), -1);
	cr_assert(strstr(why, "79 bytes") != NULL, "%s", why);
	unlink(path);
	cr_assert_eq(tls_server_rotate_tickets(a, path, why, sizeof(why)), -1);
	cr_assert(strstr(why, "cannot open") != NULL, "%s", why);
	tls_server_free(a);
	tls_server_free(b);
	tls_certs_free(certs);
}
