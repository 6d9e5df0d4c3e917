/*
 * stats: per-lcore counters, DPDK telemetry commands and a Prometheus text endpoint.
 *
 * Every worker owns one cache-line-aligned block of counters and is its only writer; readers
 * (the management lcore answering telemetry or a Prometheus scrape) sum the blocks. No atomics
 * on the packet path: a counter is a plain 64-bit add on a line no other core writes, and an
 * aligned 64-bit load on x86-64 never sees a torn value, so a scrape is at worst a few packets
 * behind.
 *
 * The counter set is one X-macro list, so the struct, the telemetry dictionary and the
 * Prometheus names and help texts cannot drift apart. Drop reasons are a second, open-ended
 * array whose names the packet parser registers (stats knows nothing of lib/net).
 *
 * Other modules add their own metrics to the Prometheus page with stats_register_section(): a
 * callback that appends text when the page is rendered (ports, neighbours, flows, sync state).
 */
#ifndef SLUICE_STATS_H
#define SLUICE_STATS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_lcore.h>

/* name, help. Prometheus exposes each as sluice_<name>_total{lcore="N"}. */
#define STATS_COUNTERS(X)                                                                          \
	X(rx_packets, "Packets received by workers")                                               \
	X(rx_bytes, "Bytes received by workers")                                                   \
	X(tx_packets, "Packets sent by workers")                                                   \
	X(tx_bytes, "Bytes sent by workers")                                                       \
	X(tx_dropped, "Packets the NIC did not accept (TX ring full)")                             \
	X(dropped, "Packets dropped by the parser, all reasons (see sluice_drops_total)")          \
	X(arp_in, "ARP packets received")                                                          \
	X(arp_replies, "ARP replies sent for gateway addresses")                                   \
	X(arp_requests, "ARP requests sent to resolve neighbours")                                 \
	X(arp_learned, "Neighbour entries created or refreshed from ARP")                          \
	X(icmp_echo_in, "ICMP echo requests to a VIP")                                             \
	X(icmp_echo_replies, "ICMP echo replies sent")                                             \
	X(not_local, "Packets for none of the gateway's addresses (dropped, no exception port)")   \
	X(unhandled, "Packets to a gateway address with a protocol or port it does not serve")     \
	X(tcp_rst_sent, "TCP resets sent")                                                         \
	X(tcp_syn_in, "SYNs received for a VIP port")                                              \
	X(tcp_cookie_ok, "Handshakes completed with a valid SYN cookie")                           \
	X(tcp_cookie_bad, "ACKs with an invalid or expired SYN cookie (answered with RST)")        \
	X(tcp_cookie_stale,                                                                        \
	  "Cookie ACKs whose echoed SYN-ACK timestamp was over 1.5 s old (answered with RST)")     \
	X(tcp_flows_full, "New connections refused because the flow table was full")               \
	X(tcp_flows_closed, "Flows removed (closed, reset or aged out)")                           \
	X(tcp_out_of_order, "Request segments out of order or duplicated (re-acknowledged)")       \
	X(tcp_retransmits,                                                                         \
	  "Segments the gateway retransmitted (its responses, buffered requests)")                 \
	X(pod_connects, "SYNs sent to pods")                                                       \
	X(pod_refused, "Pod connections refused (RST), retried on another pod")                    \
	X(pod_timeouts, "Pod connections that timed out")                                          \
	X(spliced_to_pod, "Packets spliced client to pod")                                         \
	X(spliced_to_client, "Packets spliced pod to client")                                      \
	X(http_requests, "Request heads parsed and routed")                                        \
	X(http_keepalive_requests, "Later requests on a kept-alive connection, routed again")      \
	X(http_rebinds,                                                                            \
	  "Kept-alive connections moved to another pod for a request routed elsewhere")            \
	X(http_held, "Requests the gateway held in a buffer before deciding where they go (a "     \
		     "head cut by a segment, a pipelined request for elsewhere)")                  \
	X(http_upgrades, "Upgrades a pod accepted (101): the connection is opaque from then on")   \
	X(http_after_close,                                                                        \
	  "Client bytes dropped after a request that asked to close the connection")               \
	X(http_bad_body,                                                                           \
	  "Request bodies whose framing broke (the connection failed closed at the fault)")        \
	X(http_fail_closed,                                                                        \
	  "Connections the gateway closed after the last routed request because it could not "     \
	  "route the next (no buffer, broken framing, a head cut off by the client's FIN)")        \
	X(tls_passthrough,                                                                         \
	  "TLS connections routed by server name and passed through to a pod (SNI passthrough)")   \
	X(tls_hello_refused,                                                                       \
	  "ClientHellos refused as malformed or too big for the request buffer (decode_error)")    \
	X(tls_no_server_name,                                                                      \
	  "ClientHellos without a server name on a TLS listener (unrecognized_name)")              \
	X(tls_no_route,                                                                            \
	  "ClientHellos for a server name no passthrough Ingress names (unrecognized_name)")       \
	X(tls_terminated,                                                                          \
	  "TLS connections the gateway terminates (no passthrough Ingress names their server)")    \
	X(tls_terminated_over_cap, "TLS connections refused because their client address held "    \
				   "limits.terminated_per_client")                                 \
	X(tls_terminated_full,                                                                     \
	  "TLS connections refused because every terminated-connection record was in use")         \
	X(tls_handshakes_deferred,                                                                 \
	  "Handshake steps put off to the next poll (the per-burst handshake budget was spent)")   \
	X(term_requests, "Requests read on terminated connections")                                \
	X(term_answered,                                                                           \
	  "The gateway's own answers on terminated connections (400, 404, 408, 431, 502, 504...)") \
	X(term_bad_requests,                                                                       \
	  "Requests on terminated connections refused as malformed (400, 431, 501)")               \
	X(term_no_route, "Requests on terminated connections no Ingress rule matches (404)")       \
	X(term_pod_connects, "Pod connections opened for terminated connections")                  \
	X(term_pod_reused,                                                                         \
	  "Requests on terminated connections sent over a kept-alive pod connection")              \
	X(term_pod_retries, "Requests on terminated connections sent to another pod after theirs " \
			    "refused or did not answer")                                           \
	X(term_pod_failed,                                                                         \
	  "Requests on terminated connections whose pod connection failed (502, 504)")             \
	X(term_bad_responses, "Pod responses on terminated connections refused as malformed (the " \
			      "client's connection is cut)")                                       \
	X(term_idle_timeouts,                                                                      \
	  "Terminated connections closed because neither side made progress for timeouts.idle_ms") \
	X(term_header_timeouts, "Terminated connections whose handshake or request head took "     \
				"longer than timeouts.header_ms")                                  \
	X(term_tls_failed,                                                                         \
	  "Terminated connections whose TLS failed (handshake refused, bad record, alert)")        \
	X(term_pod_unresolved,                                                                     \
	  "Segments to a pod dropped while its MAC address was unknown (resent by the leg)")       \
	X(tcp_resend_refused,                                                                      \
	  "Resent client bytes not passed to the pod (a head or chunk line it had not "            \
	  "acknowledged, or bytes the gateway delivers itself)")                                   \
	X(tcp_out_of_window,                                                                       \
	  "Client data far outside the pod's window (dropped, never forwarded)")                   \
	X(tcp_buffers_full, "Requests refused because no request buffer was free (503 or close)")  \
	X(tcp_buffers_taken, "Request buffers taken (in use: taken minus released)")               \
	X(tcp_buffers_released, "Request buffers given back")                                      \
	X(tcp_heads_over_cap,                                                                      \
	  "Requests refused because their client address held its cap of heads in progress")       \
	X(tcp_rst_ignored, "Client resets outside the window (dropped, RFC 5961)")                 \
	X(tcp_challenge_acks, "Challenge ACKs sent for a RST or SYN not at the expected number")   \
	X(tcp_challenge_limited, "Challenge ACKs not sent because of the per-second limit")        \
	X(pod_snat_busy,                                                                           \
	  "Requests answered 503 because the SNAT ports tried toward the chosen pod were all in "  \
	  "use (closed connections hold theirs while they linger)")                                \
	X(pod_time_wait,                                                                           \
	  "Bare ACKs from a pod to a SYN (an old connection in TIME-WAIT): reset and SYN resent")  \
	X(access_log_records, "Access log records handed to the writer")                           \
	X(access_log_dropped,                                                                      \
	  "Access log records dropped because the worker's ring to the writer was full")           \
	X(handoff_out, "Packets handed to the worker that owns their flow")                        \
	X(handoff_in, "Packets received from other workers")                                       \
	X(handoff_dropped, "Packets dropped because the owner's hand-off ring was full")           \
	X(polls, "Poll loop iterations")                                                           \
	X(busy_polls, "Poll loop iterations that received at least one packet")                    \
	X(busy_cycles,                                                                             \
	  "TSC cycles spent in poll loop iterations that received packets (divide by "             \
	  "requests, connections or packets for the gateway's own cost of each)")                  \
	X(idle_cycles, "TSC cycles spent in poll loop iterations that received nothing")           \
	X(driver_cycles,                                                                           \
	  "Busy cycles spent inside the NIC driver (receive bursts that returned packets, and "    \
	  "those iterations' transmit bursts): busy minus driver is the gateway's own work")

enum stats_counter {
#define STATS_ENUM(name, help) STATS_##name,
	STATS_COUNTERS(STATS_ENUM)
#undef STATS_ENUM
	STATS__COUNT
};

#define STATS_MAX_DROP_REASONS 48

/*
 * Per-route series. Each route target of a table carries a series number (route_target.series)
 * that names its labels — the Ingress (namespace/name), the rule's host and the Service
 * (namespace/name:port) — in a registry the management lcore keeps (stats_series_of). Workers
 * count by number into a per-lcore array; a scrape sums the arrays and prints the labels. A
 * series stays until the process ends; there are at most metrics.route_series of them, and
 * requests beyond that count under STATS_SERIES_OTHER.
 */
#define STATS_ANSWER_CODES(X)                                                                      \
	X(308) X(400) X(404) X(408) X(414) X(431) X(501) X(502) X(503) X(504) X(505)

enum stats_series_kind {
	STATS_ROUTED, /* requests routed to the series' Service; the answers follow, in the order
		       * of STATS_ANSWER_CODES */
#define STATS_ANSWER_ENUM(code) STATS_ANSWER_##code,
	STATS_ANSWER_CODES(STATS_ANSWER_ENUM)
#undef STATS_ANSWER_ENUM
	STATS_SERIES_KINDS
};

#define STATS_SERIES_NONE  0u /* no route (answers before routing; tables nobody labelled) */
#define STATS_SERIES_OTHER 1u /* routes beyond metrics.route_series */
#define STATS_SERIES_MAX   65535u

/* Latency histograms: upper bounds in seconds, the last bucket is +Inf. */
#define STATS_HIST_BOUNDS(X)                                                                       \
	X(0.0005)                                                                                  \
	X(0.001)                                                                                   \
	X(0.0025) X(0.005) X(0.01) X(0.025) X(0.05) X(0.1) X(0.25) X(0.5) X(1) X(2.5) X(5) X(10)
#define STATS_HIST_COUNT_ONE(b) +1
#define STATS_HIST_BUCKETS	(0 STATS_HIST_BOUNDS(STATS_HIST_COUNT_ONE))

struct stats_hist {
	uint64_t bucket[STATS_HIST_BUCKETS]; /* observations in (bound[i-1], bound[i]] */
	uint64_t count;			     /* all of them, +Inf included */
	uint64_t sum_tsc;
};

/* The bounds in TSC cycles (stats_hist_init). */
extern uint64_t stats_hist_bound_tsc[STATS_HIST_BUCKETS];

/* One worker's counters: only that worker writes them. */
struct stats_lcore {
	uint64_t c[STATS__COUNT];
	uint64_t drops[STATS_MAX_DROP_REASONS];
	uint64_t (*series)[STATS_SERIES_KINDS]; /* [metrics.route_series], or NULL */
	struct stats_hist head;			/* handshake to first head routed */
	struct stats_hist connect;		/* first SYN to a pod to its SYN-ACK */
} __rte_cache_aligned;

extern struct stats_lcore stats_per_lcore[RTE_MAX_LCORE];

/* The calling lcore's block. Valid on any EAL lcore. */
static inline struct stats_lcore *stats_self(void)
{
	return &stats_per_lcore[rte_lcore_id() < RTE_MAX_LCORE ? rte_lcore_id() : 0];
}

static inline void stats_add(struct stats_lcore *s, enum stats_counter c, uint64_t n)
{
	s->c[c] += n;
}

static inline void stats_drop(struct stats_lcore *s, unsigned reason)
{
	s->drops[reason < STATS_MAX_DROP_REASONS ? reason : STATS_MAX_DROP_REASONS - 1]++;
	s->c[STATS_dropped]++;
}

/* Count one request routed to, or one answer given for, series n (STATS_SERIES_NONE when the
 * request had no route). A worker without series arrays counts nothing here. */
static inline void stats_series_add(struct stats_lcore *s, uint32_t n, enum stats_series_kind k)
{
	if (likely(s->series != NULL))
		s->series[n][k]++;
}

/* An observation of `tsc` cycles. The bounds are few: a short scan, once per request. */
static inline void stats_observe(struct stats_hist *h, uint64_t tsc)
{
	unsigned i = 0;
	while (i < STATS_HIST_BUCKETS && tsc > stats_hist_bound_tsc[i])
		i++;
	if (i < STATS_HIST_BUCKETS)
		h->bucket[i]++;
	h->count++;
	h->sum_tsc += tsc;
}

/* Name a drop reason (called once at start by the module that defines the reasons).
 * Names must be static strings in snake_case. */
void stats_set_drop_reason_names(const char *const *names, unsigned n);

const char *stats_counter_name(enum stats_counter c);
const char *stats_counter_help(enum stats_counter c);

/* Sum of counter c over every lcore, and of drop reason r. */
uint64_t stats_sum(enum stats_counter c);
uint64_t stats_sum_drop(unsigned reason);

/* Zero every block (tests; never while workers run). Series labels are kept. */
void stats_reset(void);

/* ---- per-route series and histograms (management lcore) ------------------------------------ */

/* Compute the histogram bounds for this TSC rate. Idempotent. */
void stats_hist_init(uint64_t tsc_hz);

/* Give every reported lcore (stats_set_lcores), and the calling one, an array of `capacity`
 * series (at least 2: NONE and OTHER). Before workers start. 0, or -ENOMEM. */
int stats_series_init(unsigned capacity);
void stats_series_fini(void);

/* The series for these labels, created on first use; STATS_SERIES_OTHER once the registry is
 * full, STATS_SERIES_NONE before stats_series_init. Strings are copied. */
uint32_t stats_series_of(const char *ingress, const char *host, const char *service);

/* Sums over every lcore: requests routed to series n; answers with this status code over all
 * series. */
uint64_t stats_series_sum(uint32_t n, enum stats_series_kind k);
uint64_t stats_answers(unsigned code);
/* Series in use (NONE and OTHER included). */
unsigned stats_series_count(void);
/* The labels of series n; false for NONE or a number not given out. Management lcore. */
bool stats_series_labels(uint32_t n, const char **ingress, const char **host, const char **service);

/* ---- rendering ---------------------------------------------------------------------------- */

/* A growable text buffer for the Prometheus page (management lcore only). */
struct stats_text {
	char *buf;
	size_t len;
	size_t cap;
	bool failed; /* an allocation failed; the page is incomplete */
};

void stats_text_printf(struct stats_text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void stats_text_free(struct stats_text *t);

/* A section of the page supplied by another module. */
typedef void (*stats_section_fn)(struct stats_text *t, void *arg);
int stats_register_section(stats_section_fn fn, void *arg);

/* Render the whole Prometheus text page (exposition format 0.0.4). */
void stats_render_prometheus(struct stats_text *t);

/* The lcores whose counters are reported (workers); set once at start. */
void stats_set_lcores(const unsigned *lcores, unsigned n);
/* Whether lcore id was set with stats_set_lcores; whether its counters are reported (every
 * lcore when none was set). */
bool stats_lcore_listed(unsigned id);
bool stats_lcore_reported(unsigned id);

/* The per-route series, the histograms (part of stats_render_prometheus). */
void stats_render_series(struct stats_text *t);
void stats_series_reset(void);

/* Register /sluice/stats, /sluice/lcores and /sluice/drops telemetry commands.
 * Call after rte_eal_init. Returns 0 or a negative errno. */
int stats_telemetry_register(void);

/* ---- Prometheus HTTP endpoint (management lcore) ------------------------------------------ */

struct stats_http;

/*
 * Listen on addr:port (network order address, host order port) with a non-blocking socket.
 * Returns NULL and fills errbuf on failure ("cannot listen on 127.0.0.1:9180: Address in use").
 * Serves GET /metrics (the page), /healthz (200 while the management loop runs) and /readyz
 * (200 once stats_http_set_ready(true), 503 before).
 */
struct stats_http *stats_http_open(uint32_t addr, uint16_t port, char *errbuf, size_t errlen);
void stats_http_close(struct stats_http *h);

/* Add the server's descriptors to an epoll set; ev.data.ptr is set to h. */
int stats_http_epoll_add(struct stats_http *h, int epfd);

/* Handle readiness of one of the server's descriptors (listener or connection), never
 * blocking. fd is the descriptor epoll reported. */
void stats_http_on_event(struct stats_http *h, int epfd, int fd, uint32_t events);

/* Whether `fd` belongs to the server (for an event loop that multiplexes several owners). */
bool stats_http_owns(const struct stats_http *h, int fd);

/* Close connections idle for longer than a few seconds; call from a periodic tick. */
void stats_http_tick(struct stats_http *h, int epfd);

void stats_http_set_ready(struct stats_http *h, bool ready);

#endif
