/*
 * term.h: TLS termination — OpenSSL 3 over a byte pipe the caller owns (a terminated TCP leg's
 * rings), never a socket.
 *
 * A struct tls_server is the listener's configuration, made once at start: TLS 1.2 and 1.3
 * only, AEAD suites only (AES-GCM, ChaCha20-Poly1305), X25519 and P-256 key exchange, no
 * renegotiation, no compression, ALPN "http/1.1" (a client that offers ALPN without it is
 * refused with no_application_protocol, RFC 7301 §3.2), the certificate chosen per ClientHello
 * from a struct tls_certs by server name and by the signature algorithms offered (ECDSA when the
 * client takes it, else RSA), and stateless session tickets under keys the server rotates
 * (tls_server_rotate_tickets), optionally shared by a fleet through a key file.
 *
 * A struct tls_conn is one connection. Its transport is struct tls_pipe: the caller's functions
 * that read the peer's bytes and queue bytes to it. The BIO between OpenSSL and the pipe never
 * blocks: no bytes → "retry", a full send ring → "retry", and the caller calls again when its
 * leg has moved. OpenSSL's record buffers are released while a connection is idle
 * (SSL_MODE_RELEASE_BUFFERS), so a kept-alive connection costs its SSL object only.
 *
 * Threading: a tls_server is shared by every worker; its certificate store and ticket keys
 * are swapped by the management lcore with atomic pointer stores, and readers see either the
 * old or the new whole (the caller keeps an old store alive until no handshake can use it).
 */
#ifndef SLUICE_TLS_TERM_H
#define SLUICE_TLS_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls/tls.h"

/* The connection's transport: the caller's byte pipe. */
struct tls_pipe {
	void *ctx;
	/* Copy up to n received bytes to dst; the count (0: none now). */
	uint32_t (*read)(void *ctx, void *dst, uint32_t n);
	/* Queue up to n bytes; the count taken (0: no room now). */
	uint32_t (*write)(void *ctx, const void *src, uint32_t n);
	/* The peer closed its side and every byte before it was read. */
	bool (*eof)(void *ctx);
};

struct tls_server;
struct tls_conn;

/* Session ticket keys: a 16-byte name, 32 bytes of AES-256 key, 32 of HMAC-SHA256 key. */
#define TLS_TICKET_KEY_LEN 80

struct tls_server *tls_server_new(char *why, size_t why_len);
void tls_server_free(struct tls_server *s);
/* The store handshakes choose from from now on (may be NULL: every handshake then fails with
 * an alert). The caller keeps the previous store alive until no handshake uses it. */
void tls_server_set_certs(struct tls_server *s, const struct tls_certs *certs);
/* A new ticket key from the random source; the previous two still decrypt (and are renewed).
 * With key_file, the keys come from that file instead (80 bytes per key, newest first, at most
 * three), so every node of a fleet reading the same file resumes the others' sessions. 0, or
 * -1 with why. */
int tls_server_rotate_tickets(struct tls_server *s, const char *key_file, char *why,
			      size_t why_len);

/* The outcome of a step. */
enum tls_io {
	TLS_IO_OK,     /* progress made or nothing to do; call again when the pipe moves */
	TLS_IO_WANT,   /* waiting for the peer's bytes or for room to send */
	TLS_IO_CLOSED, /* the peer sent close_notify (or closed after it): no more input */
	TLS_IO_FAILED, /* a fatal error; an alert was queued where TLS says to send one */
};

struct tls_conn *tls_conn_new(struct tls_server *s, const struct tls_pipe *pipe);
void tls_conn_free(struct tls_conn *c);
/* Drive the handshake. TLS_IO_OK once it is complete. */
enum tls_io tls_conn_handshake(struct tls_conn *c);
bool tls_conn_established(const struct tls_conn *c);
/* Decrypted bytes: up to n into dst, *got set. */
enum tls_io tls_conn_read(struct tls_conn *c, void *dst, size_t n, size_t *got);
/* Encrypt and queue up to n bytes, *put set (fewer when the pipe is full: call again). */
enum tls_io tls_conn_write(struct tls_conn *c, const void *src, size_t n, size_t *put);
/* Queue close_notify. */
void tls_conn_close(struct tls_conn *c);

/* What the handshake settled, for logs and tests. */
struct tls_conn_info {
	const char *version;	 /* "TLSv1.3" */
	const char *cipher;	 /* OpenSSL's name */
	const char *server_name; /* SNI, "" without */
	const char *alpn;	 /* "" without */
	const char *group;	 /* key exchange group, "" when unknown */
	bool resumed;
	enum tls_match match;	/* how the certificate was chosen */
	enum tls_key_kind kind; /* its key */
	const char *why;	/* after TLS_IO_FAILED: OpenSSL's reason */
};
void tls_conn_info(const struct tls_conn *c, struct tls_conn_info *info);

/* Counters since start (all workers; relaxed atomics). */
struct tls_server_counts {
	uint64_t handshakes, resumed, failed, no_certificate, alpn_refused, tickets_renewed;
};
void tls_server_counts(const struct tls_server *s, struct tls_server_counts *out);

#endif
