/*
 * term: a terminated HTTPS connection — a client leg (lib/stream), TLS over it (lib/tls), the
 * strict HTTP parser and the router on the decrypted bytes, and a pod leg.
 *
 * Every request is parsed whole and routed on its own before a byte of it reaches a pod; its
 * head goes to the pod rewritten with X-Forwarded-For, -Proto, -Host and -Port set by the
 * gateway (whatever the client sent under those names is removed, never trusted); its body is
 * framed (Content-Length or chunked) so the next request starts exactly where it ends. The
 * pod's response head is parsed and its body framed the same way, so the connection knows
 * when the exchange is over: the next request may go to the same pod connection (kept alive)
 * or, routed elsewhere, to a new one. Requests are served one at a time in order (a client
 * that pipelines waits for each answer). What cannot be served gets the gateway's own answer
 * over TLS (400, 404, 431, 502, 504) and the connection closes.
 *
 * Buffers: both directions move through fixed buffers and the legs' rings; a reader that does
 * not read stops the other side (a slow client closes the window the pod leg advertises, a slow
 * pod closes the client's). Nothing grows with what a peer sends.
 *
 * The module knows no ports, flows or MAC addresses: segments to send are appended to the
 * caller's lists (one per leg); time is the caller's millisecond clock.
 */
#ifndef SLUICE_TERM_H
#define SLUICE_TERM_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"
#include "stream/stream.h"
#include "tls/term.h"

/* Where a request goes. */
struct term_pod {
	uint32_t ip;   /* network order */
	uint16_t port; /* network order */
	uint32_t id;   /* which Service (port) it serves: a kept-alive pod connection is reused
			* for the next request only when id, address and port all match */
};

struct term_conn;

/* A request's moments, for the owner's access log (term_env.exchange). */
enum term_exchange {
	TERM_EX_HEAD,	  /* a request head was read (t->head holds it, t->req its parse, which
			   * may have failed): what follows settles it */
	TERM_EX_RESPONSE, /* the pod's final response head (status) went to the client */
	TERM_EX_ANSWER,	  /* the gateway answered the request itself (status) */
};

/* What every terminated connection of a worker shares. */
struct term_env {
	struct tls_server *tls;
	const struct stream_cfg *client_cfg, *pod_cfg;
	struct http_limits limits;
	uint32_t idle_ms;   /* neither leg made progress: both closed (RST) */
	uint32_t header_ms; /* the TLS handshake, and each request head from its first byte, must
			     * complete within this, however the bytes trickle in: else a RST
			     * (handshake) or 408 (head) — slowloris */
	/* Route a request (host without port, the path as sent). false: 404. */
	bool (*route)(void *ctx, const char *host, size_t host_len, const char *path,
		      size_t path_len, struct term_pod *pod);
	/* A source address, port and ISN for a pod leg towards pod (network order). */
	bool (*source)(void *ctx, const struct term_pod *pod, uint32_t *ip, uint16_t *port,
		       uint32_t *iss);
	/* The pod `failed` did not accept the connection (refused, or silent for connect_ms):
	 * another endpoint of the same Service for the same request, or false (NULL: none). */
	bool (*repick)(void *ctx, const struct term_pod *failed, struct term_pod *pod);
	uint32_t connect_ms;   /* a pod that has not accepted by then has failed (0: the leg's
				* own SYN retries decide) */
	uint8_t connect_tries; /* pods tried per request, the first included (0: 1) */
	/* Told of each request's moments (NULL: nobody listens). */
	void (*exchange)(void *ctx, const struct term_conn *t, enum term_exchange ev,
			 uint16_t status);
	void *ctx;
};

#define TERM_HEAD_MAX 16384 /* request and response heads */
#define TERM_PIPE     16384 /* bytes in flight between TLS and a leg, each direction */
#define TERM_LINGER_MS                                                                             \
	2000 /* after the gateway's last byte and FIN are acknowledged, the client's FIN is        \
	      * awaited this long; then the record goes (silently) */

enum term_phase {
	TERM_TLS,	/* handshake */
	TERM_REQ_HEAD,	/* reading a request head */
	TERM_REQ_BODY,	/* forwarding the head and body to the pod */
	TERM_RESP_HEAD, /* reading the pod's response head */
	TERM_RESP_BODY, /* forwarding the response body to the client */
	TERM_CLOSING,	/* our last bytes go out, then both legs close */
	TERM_DONE,	/* both legs closed: release */
};

struct term_counts {
	uint32_t requests, responses, answered; /* answered: the gateway's own answers */
	uint32_t pod_connects, pod_reused, pod_retries;
	uint32_t bad_requests, no_route, pod_failed, bad_responses, idle_timeouts, tls_failed;
	uint32_t header_timeouts;
};

struct term_conn {
	const struct term_env *env;
	struct stream_leg client, pod;
	struct tls_conn *tls;
	uint8_t phase;	  /* enum term_phase */
	bool pod_open;	  /* the pod leg is in use (not CLOSED and not released) */
	bool pod_keep;	  /* the pod said its connection may serve another request */
	bool close_after; /* the current exchange is the last */
	bool client_eof;
	bool drop_pod;		/* the pod leg is done with: reset it at the next step */
	bool abort_client;	/* a response was cut short: the client gets a RST, not a FIN */
	bool pod_up;		/* the current pod leg was established (its request may have been
				 * read: never retried elsewhere) */
	bool connect_expired;	/* the current pod leg was given up after env->connect_ms */
	uint8_t tries;		/* pods tried for the current request */
	uint32_t connect_since; /* when the current pod leg's SYN went */
	struct term_pod cur;	/* the pod of the current (or last) request */
	uint16_t listen_port;	/* host order, for X-Forwarded-Port */
	uint32_t last_progress;
	uint32_t head_since; /* when the handshake or the pending head began (0: none pending) */
	uint32_t fin_acked_since; /* TERM_CLOSING: when the client acknowledged our FIN (0: not
				   * yet); its FIN is awaited TERM_LINGER_MS, then a RST */

	struct http_request_parser ps;
	struct http_request req;
	struct http_response resp;
	struct http_body body; /* of the message in flight */

	/* request head (and whatever the client sent after it) */
	uint8_t head[TERM_HEAD_MAX];
	uint32_t head_len;
	/* response head */
	uint8_t rhead[TERM_HEAD_MAX];
	uint32_t rhead_len;
	/* to the pod (rewritten head, body) and to the client (plaintext for TLS) */
	uint8_t to_pod[TERM_PIPE + 1024];
	uint32_t to_pod_len, to_pod_off;
	uint8_t to_client[TERM_PIPE];
	uint32_t to_client_len, to_client_off;

	struct term_counts n;
};

/*
 * Take over an accepted client leg (any state from SYN-RECEIVED on; the caller already ran
 * stream_accept or built it from a SYN cookie). false when no TLS connection could be made.
 */
bool term_start(struct term_conn *t, const struct term_env *env, uint16_t listen_port,
		uint32_t now);
/* A segment for the client leg, or for the pod leg; then everything that can move, moves. */
void term_client_input(struct term_conn *t, const struct rte_mbuf *m, const struct net_pkt *p,
		       uint32_t now, struct stream_out *to_client, struct stream_out *to_pod);
void term_pod_input(struct term_conn *t, const struct rte_mbuf *m, const struct net_pkt *p,
		    uint32_t now, struct stream_out *to_client, struct stream_out *to_pod);
/* The earliest millisecond something is due (0: none), and running what is due. */
uint32_t term_deadline(const struct term_conn *t);
void term_timer(struct term_conn *t, uint32_t now, struct stream_out *to_client,
		struct stream_out *to_pod);
/* Move what can move (after the caller's own changes); also run by the calls above. */
void term_pump(struct term_conn *t, uint32_t now, struct stream_out *to_client,
	       struct stream_out *to_pod);
/* Both legs closed: the caller may release (term_release) and free the record. */
static inline bool term_done(const struct term_conn *t)
{
	return t->phase == TERM_DONE;
}
void term_release(struct term_conn *t);

/*
 * Rewrite a parsed request head for the pod: every X-Forwarded-For, -Proto, -Host and -Port
 * field removed, then ours appended before the empty line (For: the client's address; Proto:
 * https; Host: the Host the client sent, with its port; Port: the listener's). Returns the
 * bytes written to out, or -1 when out is too small. Exposed for tests.
 */
int term_rewrite_head(const uint8_t *head, uint32_t head_len, uint32_t client_ip,
		      uint16_t listen_port, uint8_t *out, uint32_t cap);

#endif
