/*
 * alog: access log records — one per request — and their JSON line.
 *
 * A worker fills a fixed-size struct alog_rec when a request's fate at the gateway is settled
 * (forwarded to a pod, answered by the gateway, or the connection closed before it) and copies
 * it into its own ring (rte_ring of alog_rec elements, single producer, single consumer). The
 * management lcore drains the rings and writes one JSON line per record. A worker never waits:
 * a full ring drops the record and counts it. Nothing here allocates or blocks.
 *
 * What a record can know. The gateway routes requests and splices responses without reading
 * them (except an upgrade's status line), so for a forwarded request `status` and `bytes_out`
 * are absent; they are exact for the gateway's own answers. `bytes_in` is the head plus a
 * declared Content-Length (absent for a chunked body). Strings are copied up to their field's
 * size; `truncated` says when one was cut.
 */
#ifndef SLUICE_ALOG_H
#define SLUICE_ALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

#define ALOG_HOST_MAX	64
#define ALOG_TARGET_MAX 128
#define ALOG_RID_MAX	40
#define ALOG_NONE	UINT32_MAX /* a duration or byte count the gateway cannot know */

enum alog_outcome {
	ALOG_FORWARDED, /* handed to a pod; the pod answers */
	ALOG_ANSWERED,	/* the gateway answered itself (status) */
	ALOG_CLOSED,	/* the connection ended first (the client left, or it failed closed) */
};

struct alog_rec {
	uint64_t tsc; /* when the request's head was complete (or the gateway gave up on it) */
	uint64_t id;  /* the gateway's request id */
	uint64_t bytes_in;
	uint32_t client_ip, vip, pod_ip;	  /* network order; pod_ip 0: none */
	uint16_t client_port, vip_port, pod_port; /* network order */
	uint16_t status;			  /* the gateway's answer; 0: none */
	uint32_t series;			  /* the route (lib/stats series), 0: none */
	uint32_t head_us, connect_us, total_us;	  /* ALOG_NONE where not known */
	uint32_t bytes_out;			  /* ALOG_NONE for forwarded requests */
	uint8_t outcome;			  /* enum alog_outcome */
	uint8_t method;				  /* enum http_method, or 0xff: no head */
	uint8_t host_len, target_len, rid_len, method_len;
	bool truncated;
	bool bytes_in_known;
	char method_text[12]; /* as sent, for methods outside enum http_method */
	char host[ALOG_HOST_MAX];
	char target[ALOG_TARGET_MAX];
	char rid[ALOG_RID_MAX]; /* the client's X-Request-ID, if it sent one */
	uint8_t pad[4];
};

_Static_assert(sizeof(struct alog_rec) % 64 == 0, "alog_rec: whole cache lines");

/* Copy what a parsed (or failed) head says into r: method, host, target, X-Request-ID,
 * bytes_in. b is the head's first byte; req may be NULL (no head at all). */
void alog_from_head(struct alog_rec *r, const uint8_t *b, const struct http_request *req);

/* The labels a record's series stands for (from lib/stats), for alog_json. */
struct alog_route {
	const char *ingress, *service;
};

/*
 * Write r as one JSON object and a newline into out (at most cap bytes), with wall-clock time
 * unix_ns for r->tsc. Returns the length, or 0 if it did not fit. Strings from the client are
 * escaped: control characters and bytes over 0x7e become \u00XX, so the line is always valid
 * JSON and valid UTF-8.
 */
size_t alog_json(const struct alog_rec *r, const struct alog_route *route, uint64_t unix_ns,
		 char *out, size_t cap);

#endif
