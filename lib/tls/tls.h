/*
 * tls: what the gateway reads of TLS before any termination — the client's first flight.
 *
 * A TLS listener routes a connection by the name the client asks for (SNI, RFC 6066) before a
 * byte reaches a pod. This module reads that name out of the ClientHello as it arrives, cut
 * anywhere: across TCP segments, across TLS records (a record may carry one byte of the
 * handshake message; RFC 8446 §5.1 allows any fragmentation), and big (post-quantum key shares
 * make ClientHellos of 1.7–2.1 KB, two segments).
 *
 * Like lib/http, it is strict and incremental, and the caller owns every buffer:
 *   - tls_hello_scan() walks only the record headers it has not seen yet, so bytes arriving a
 *     few at a time cost their own length, never a rescan; the state is 12 bytes
 *     (struct tls_hello_scan) and fits where a connection keeps its HTTP parser state;
 *   - once the whole handshake message is in, tls_hello_parse() gathers it out of its records
 *     and checks it whole (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2, RFC 6066 §3): every length
 *     nests exactly, no extension twice, exactly one host_name in server_name, a host name of
 *     letters, digits, '-' and '.' without empty labels or a trailing dot.
 * Anything two implementations could read differently is refused (enum tls_hello_error), so
 * the name the gateway routes by is the name the pod's TLS stack will see.
 *
 * Nothing here allocates or keeps pointers; parsing needs one scratch buffer of the message's
 * size (the caller's, usually on the stack).
 *
 * The second part (certs.c) holds what a terminating listener will serve: certificates parsed
 * from Secrets, chosen by server name (exact, wildcard, default). It uses OpenSSL and runs on
 * the management lcore; the ClientHello reader does not.
 */
#ifndef SLUICE_TLS_H
#define SLUICE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Named refusals; each has a counter (tls_hello_<name>). */
#define TLS_HELLO_ERRORS(X)                                                                        \
	X(NONE, none)                                                                              \
	X(NOT_HANDSHAKE, not_handshake) /* a record other than handshake, or SSLv2 framing */      \
	X(BAD_RECORD, bad_record)	/* record version or length out of range */                \
	X(NOT_CLIENT_HELLO, not_client_hello)                                                      \
	X(TOO_BIG, too_big)	    /* the message exceeds the caller's limit */                   \
	X(BAD_LENGTH, bad_length)   /* a length that does not nest exactly */                      \
	X(BAD_VERSION, bad_version) /* legacy_version outside TLS 1.0–1.2 */                     \
	X(DUPLICATE_EXTENSION, duplicate_extension)                                                \
	X(TOO_MANY_EXTENSIONS, too_many_extensions)                                                \
	X(BAD_SERVER_NAME, bad_server_name) /* server_name list malformed or not one host name */  \
	X(TRAILING_DATA, trailing_data)	    /* more handshake bytes after the ClientHello */

enum tls_hello_error {
#define TLS_HELLO_ENUM(up, low) TLS_HELLO_E_##up,
	TLS_HELLO_ERRORS(TLS_HELLO_ENUM)
#undef TLS_HELLO_ENUM
	TLS_HELLO_E__COUNT
};

const char *tls_hello_error_name(enum tls_hello_error e);

/* Scan state between calls: 12 bytes, zero to start (tls_hello_scan_init). */
struct tls_hello_scan {
	uint32_t rec_at;  /* offset of the next record header not yet walked */
	uint32_t hs_have; /* handshake bytes in the records walked so far */
	uint32_t hs_len;  /* the message's whole length (4 + body) once known; 0 before */
};

static inline void tls_hello_scan_init(struct tls_hello_scan *s)
{
	s->rec_at = 0;
	s->hs_have = 0;
	s->hs_len = 0;
}

#define TLS_HELLO_MORE	0 /* need more bytes */
#define TLS_HELLO_ERROR (-1)

/* The largest ClientHello accepted when the caller gives no smaller limit: a 16 KiB record's
 * worth, four times the biggest hybrid post-quantum hellos seen in the wild. */
#define TLS_HELLO_MAX 16384u

/*
 * Walk what arrived in buf[0, len) since the last call (buf holds the connection's bytes from
 * its first; len only grows). Returns TLS_HELLO_MORE, TLS_HELLO_ERROR with *err set, or the
 * number of bytes of buf the records holding the whole ClientHello take (the message is then
 * ready for tls_hello_parse). max bounds the message (4-byte header included).
 */
int tls_hello_scan(struct tls_hello_scan *s, const uint8_t *buf, uint32_t len, uint32_t max,
		   enum tls_hello_error *err);

/* What the gateway keeps of a ClientHello. */
struct tls_hello {
	char sni[256];	   /* the host_name, NUL-terminated, as sent; "" when absent */
	uint16_t sni_len;  /* its length (0: no server_name extension) */
	uint16_t version;  /* legacy_version */
	bool tls13;	   /* supported_versions offers TLS 1.3 */
	bool alpn_http11;  /* ALPN offers "http/1.1" */
	bool alpn_h2;	   /* ALPN offers "h2" */
	uint16_t n_ext;	   /* extensions */
	uint32_t msg_len;  /* the handshake message, header included */
	uint32_t wire_len; /* bytes of buf its records take */
};

/*
 * Gather and check the ClientHello whose records tls_hello_scan() found complete (wire_len is
 * its return value), using scratch (at least s->hs_len bytes). Returns 1 and fills *h, or
 * TLS_HELLO_ERROR with *err set.
 */
int tls_hello_parse(const struct tls_hello_scan *s, const uint8_t *buf, uint32_t wire_len,
		    uint8_t *scratch, uint32_t scratch_len, struct tls_hello *h,
		    enum tls_hello_error *err);

/*
 * A fatal alert record (RFC 8446 §6): 5 + 2 bytes written to out. What the gateway sends a
 * TLS client it will not serve: unrecognized_name (112) for a name it does not route,
 * decode_error (50) for a ClientHello it refuses, internal_error (80) when no pod answers.
 */
#define TLS_ALERT_DECODE_ERROR	    50
#define TLS_ALERT_INTERNAL_ERROR    80
#define TLS_ALERT_UNRECOGNIZED_NAME 112
#define TLS_ALERT_HANDSHAKE_FAILURE 40
#define TLS_ALERT_LEN		    7
void tls_alert_record(uint8_t out[TLS_ALERT_LEN], uint8_t description);

/* ---- certificates (certs.c; the management lcore builds, handshakes read) ---------------- */

enum tls_key_kind {
	TLS_KEY_ECDSA,
	TLS_KEY_RSA,
	TLS_KEY__COUNT
};
#define TLS_KINDS_ANY 0x3u

/* A leaf certificate, its chain and its private key, checked and immutable; reference-counted
 * (refs are taken and dropped on the management lcore only). */
struct tls_cert;

/*
 * Parse a PEM chain (leaf first, then intermediates) and a PEM private key. Checks: a
 * certificate is there, the key is ECDSA on P-256 or P-384 or RSA of 2048 bits or more, and it
 * matches the leaf. NULL with a one-line reason in why. The result holds one reference.
 */
struct tls_cert *tls_cert_from_pem(const char *crt, size_t crt_len, const char *key, size_t key_len,
				   char *why, size_t why_len);
/* A fresh self-signed ECDSA P-256 certificate for cn, valid a year (the default certificate
 * when none is configured). */
struct tls_cert *tls_cert_self_signed(const char *cn, char *why, size_t why_len);
void tls_cert_ref(struct tls_cert *c);
void tls_cert_unref(struct tls_cert *c);
enum tls_key_kind tls_cert_kind(const struct tls_cert *c);
int64_t tls_cert_not_after(const struct tls_cert *c); /* Unix seconds */
bool tls_cert_is_self_signed_default(const struct tls_cert *c);
/* Whether the certificate's names cover host (exact or "*." wildcard host). */
bool tls_cert_covers(const struct tls_cert *c, const char *host);
void tls_cert_subject(const struct tls_cert *c, char *out, size_t len);
void *tls_cert_x509(const struct tls_cert *c); /* the leaf, an X509 * */
/* Where the certificate came from, for messages: "ns/name" of its Secret, a file name,
 * "self-signed" for the generated default. */
void tls_cert_set_source(struct tls_cert *c, const char *source);
const char *tls_cert_source(const struct tls_cert *c);

/* The certificates by server name: exact names, "*." wildcards of one label, a default. Built
 * by adding, then only read (replace a store whole to change it). */
struct tls_certs;

enum tls_match {
	TLS_MATCH_EXACT,
	TLS_MATCH_WILDCARD,
	TLS_MATCH_DEFAULT
};

struct tls_certs *tls_certs_new(void);
void tls_certs_free(struct tls_certs *s); /* drops its references */
/* Give host ("foo.com" or "*.foo.com", any case) certificate c (a reference is taken). Each
 * name holds one certificate per key kind; a second of the same kind is refused (0), so the
 * caller adds in precedence order. 1 added, -1 invalid or out of memory. */
int tls_certs_add(struct tls_certs *s, const char *host, struct tls_cert *c);
void tls_certs_set_default(struct tls_certs *s, struct tls_cert *c);
/*
 * The certificate for a server name (a trailing dot is ignored; any case): the exact name,
 * else the wildcard of its first label, else the default (*how says which). Of a name's two
 * certificates, the first kind in `kinds` (1 << enum tls_key_kind) wins, else the other. NULL
 * only when nothing matches and there is no default.
 */
const struct tls_cert *tls_certs_select(const struct tls_certs *s, const char *name, size_t len,
					unsigned kinds, enum tls_match *how);
const struct tls_cert *tls_certs_default(const struct tls_certs *s);
uint32_t tls_certs_names(const struct tls_certs *s);
int64_t tls_certs_earliest_not_after(const struct tls_certs *s); /* 0 when empty */

#endif
