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
	X(tcp_resend_refused,                                                                      \
	  "Resent client bytes not passed to the pod (a head or chunk line it had not "            \
	  "acknowledged, or bytes the gateway delivers itself)")                                   \
	X(tcp_out_of_window,                                                                       \
	  "Client data far outside the pod's window (dropped, never forwarded)")                   \
	X(tcp_buffers_full, "Requests refused because no request buffer was free (503 or close)")  \
	X(tcp_heads_over_cap,                                                                      \
	  "Requests refused because their client address held its cap of heads in progress")       \
	X(tcp_rst_ignored, "Client resets outside the window (dropped, RFC 5961)")                 \
	X(tcp_challenge_acks, "Challenge ACKs sent for a RST or SYN not at the expected number")   \
	X(tcp_challenge_limited, "Challenge ACKs not sent because of the per-second limit")        \
	X(pod_time_wait,                                                                           \
	  "Bare ACKs from a pod to a SYN (an old connection in TIME-WAIT): reset and SYN resent")  \
	X(http_local_400, "Responses 400 sent by the gateway (malformed request)")                 \
	X(http_local_404, "Responses 404 sent by the gateway (no route)")                          \
	X(http_local_408, "Responses 408 sent by the gateway (head not complete in time)")         \
	X(http_local_431, "Responses 414/431 sent by the gateway (head or line too large)")        \
	X(http_local_501, "Responses 501/505 sent by the gateway (method or version)")             \
	X(http_local_502, "Responses 502 sent by the gateway (every pod refused)")                 \
	X(http_local_503, "Responses 503 sent by the gateway (no ready pod)")                      \
	X(http_local_504, "Responses 504 sent by the gateway (pod did not answer)")                \
	X(handoff_out, "Packets handed to the worker that owns their flow")                        \
	X(handoff_in, "Packets received from other workers")                                       \
	X(handoff_dropped, "Packets dropped because the owner's hand-off ring was full")           \
	X(polls, "Poll loop iterations")                                                           \
	X(busy_polls, "Poll loop iterations that received at least one packet")                    \
	X(busy_cycles,                                                                             \
	  "TSC cycles spent in poll loop iterations that received packets (divide by "             \
	  "requests, connections or packets for the gateway's own cost of each)")                  \
	X(idle_cycles, "TSC cycles spent in poll loop iterations that received nothing")

enum stats_counter {
#define STATS_ENUM(name, help) STATS_##name,
	STATS_COUNTERS(STATS_ENUM)
#undef STATS_ENUM
	STATS__COUNT
};

#define STATS_MAX_DROP_REASONS 48

/* One worker's counters: only that worker writes them. */
struct stats_lcore {
	uint64_t c[STATS__COUNT];
	uint64_t drops[STATS_MAX_DROP_REASONS];
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

/* Name a drop reason (called once at start by the module that defines the reasons).
 * Names must be static strings in snake_case. */
void stats_set_drop_reason_names(const char *const *names, unsigned n);

const char *stats_counter_name(enum stats_counter c);
const char *stats_counter_help(enum stats_counter c);

/* Sum of counter c over every lcore, and of drop reason r. */
uint64_t stats_sum(enum stats_counter c);
uint64_t stats_sum_drop(unsigned reason);

/* Zero every block (tests; never while workers run). */
void stats_reset(void);

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
