/*
 * stream-t.h: the types of a terminated TCP connection leg. Read this before stream.h and the
 * .c files of lib/stream.
 *
 * A leg is one TCP endpoint the gateway itself is: towards the client of a TLS listener, or
 * towards the pod behind it. Unlike the splice path, which rewrites the peers' segments in
 * place, a leg owns the byte stream: it acknowledges, buffers, retransmits and paces what it
 * sends. Its buffers are rings of bytes whose storage is mbufs from the worker's pool, taken
 * when bytes arrive and given back as soon as the bytes are consumed; a ring never holds more
 * than its capacity, so a slow reader shrinks the window the leg advertises and a slow peer
 * stops the leg's writer (stream_writable returns 0) — backpressure, never growth.
 *
 * The leg knows no ports, queues or MAC addresses: it builds IPv4/TCP segments (with headroom
 * for the caller's Ethernet header) into a struct stream_out and reads segments the caller
 * parsed with lib/net. Time is a millisecond clock the caller passes in.
 */
#ifndef SLUICE_STREAM_T_H
#define SLUICE_STREAM_T_H

#include <stdbool.h>
#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;

/* RFC 9293 §3.3.2, without LISTEN (a leg is created by a SYN or to send one). */
enum stream_state {
	STREAM_CLOSED,
	STREAM_SYN_SENT,
	STREAM_SYN_RCVD,
	STREAM_ESTABLISHED,
	STREAM_FIN_WAIT_1,
	STREAM_FIN_WAIT_2,
	STREAM_CLOSE_WAIT,
	STREAM_CLOSING,
	STREAM_LAST_ACK,
	STREAM_TIME_WAIT,
};

/* Why a leg reached STREAM_CLOSED. */
enum stream_end {
	STREAM_END_NONE,    /* still open */
	STREAM_END_DONE,    /* both sides closed in order */
	STREAM_END_RESET,   /* the peer reset it (an exact-sequence RST, RFC 5961 §3) */
	STREAM_END_TIMEOUT, /* retransmissions ran out, or the peer never finished closing */
	STREAM_END_ABORT,   /* the owner aborted it (a RST went out) */
	STREAM_END_REFUSED, /* a SYN was answered with RST */
};

/* Bytes per ring slot: one mbuf's data room. The pool's mbufs must have at least this much. */
#define STREAM_SLOT_SHIFT 11
#define STREAM_SLOT	  (1u << STREAM_SLOT_SHIFT)
/* Slots per ring: 128 KiB at most per direction. */
#define STREAM_RING_SLOTS 64u

/*
 * A byte ring: positions are absolute (uint32_t, wrapping with the sequence space they follow);
 * byte x lives in slot (x >> STREAM_SLOT_SHIFT) % STREAM_RING_SLOTS at offset x % STREAM_SLOT.
 * [head, head + len) are the bytes held; a slot is backed by an mbuf only while it holds bytes
 * (or out-of-order bytes beyond len, on the receive side).
 */
struct stream_ring {
	struct rte_mbuf *slot[STREAM_RING_SLOTS];
	uint32_t head, len;
	uint32_t cap;  /* a multiple of STREAM_SLOT, at most STREAM_RING_SLOTS of them */
	uint16_t held; /* slots backed by an mbuf */
};

/* Ranges of sequence space, [lo, hi): received out of order, or SACKed by the peer. */
#define STREAM_RANGES 4
struct stream_ranges {
	uint32_t lo[STREAM_RANGES], hi[STREAM_RANGES];
	uint8_t n;
};

/* What every leg of a worker shares. */
struct stream_cfg {
	struct rte_mempool *pool;  /* mbufs for segments and ring slots */
	uint32_t rcv_buf, snd_buf; /* ring capacities, bytes (rounded up to slots) */
	uint16_t mss;		   /* the MSS we announce (and the most we send) */
	uint32_t rto_min_ms, rto_init_ms, rto_max_ms;
	uint32_t delack_ms;
	uint32_t time_wait_ms;
	uint32_t fin_wait_ms; /* FIN-WAIT-2 without progress: given up (LAST-ACK and CLOSING are
			       * bounded by retransmissions and unanswered probes) */
	uint8_t max_retries;  /* RTOs in a row before the leg times out */
	bool ts, sack, ws;    /* offer RFC 7323 timestamps, RFC 2018 SACK, window scaling */
};

/* Counters a leg keeps; the owner sums them into its metrics. */
struct stream_counts {
	uint32_t seg_in, seg_out;
	uint32_t retransmits;	   /* segments sent again, for any reason */
	uint32_t fast_retransmits; /* recoveries entered on duplicate ACKs */
	uint32_t timeouts;	   /* RTOs */
	uint32_t probes;	   /* zero-window probes */
	uint32_t dup_acks;
	uint32_t challenge_acks; /* RFC 5961 */
	uint32_t paws_drops;	 /* RFC 7323 §5 */
	uint32_t out_of_window;	 /* unacceptable segments (RFC 9293 §3.10.7.4) */
	uint32_t ooo_segments;	 /* data kept out of order */
	uint32_t ooo_dropped;	 /* out-of-order data with no range left to keep it */
	uint32_t nobufs;	 /* an mbuf was wanted and the pool had none */
	uint32_t tx_full;	 /* a segment found the output list full */
};

/* One endpoint. */
struct stream_leg {
	const struct stream_cfg *cfg;
	uint8_t state; /* enum stream_state */
	uint8_t end;   /* enum stream_end */
	uint8_t ts_ok : 1, sack_ok : 1, ws_ok : 1;
	uint8_t fin_queued : 1; /* the owner shut the sending side: a FIN follows the bytes */
	uint8_t fin_rcvd : 1;	/* the peer's FIN is in rcv_nxt */
	uint8_t in_recovery : 1;
	uint8_t ack_now : 1; /* an ACK must go out with the next output */
	uint8_t snd_ws, rcv_ws;
	uint8_t backoff;
	uint8_t dupacks;
	uint8_t delack_segs; /* full segments received and not yet acknowledged */
	uint8_t persist_backoff;
	uint8_t probes_out; /* zero-window probes since the peer last acknowledged anything */
	uint16_t mss;	    /* what we send: the peer's MSS, capped by ours */

	uint32_t local_ip, remote_ip; /* network order */
	uint16_t local_port, remote_port;

	/* send side (RFC 9293 §3.3.1); snd_max is the highest sequence sent */
	uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, max_snd_wnd, snd_wl1, snd_wl2;
	/* receive side; rcv_adv is the right edge of the window last advertised */
	uint32_t irs, rcv_nxt, rcv_adv;
	uint32_t fin_seq; /* the peer's FIN, when its bytes before it are not all in */
	bool fin_ahead;

	/* timestamps (RFC 7323): our TSval = clock + ts_off; rexmit_ts is our TSval when we last
	 * sent something again: an echo older than that may stand for the first copy, so it
	 * gives no RTT sample */
	uint32_t ts_recent, ts_off, last_ack_sent, rexmit_ts;
	/* RTT without timestamps (Karn): the sequence timed and when it went out */
	uint32_t rtt_seq, rtt_at;
	bool rtt_timing;

	/* RFC 6298, milliseconds scaled by 8 (srtt) and 4 (rttvar) */
	uint32_t srtt8, rttvar4, rto;

	/* congestion control: NewReno (RFC 5681, 6582) with SACK-guided retransmission */
	uint32_t cwnd, ssthresh, recover, rexmit_nxt, ca_acc;

	/* timers: the millisecond they fire at, 0 when off */
	uint32_t rto_at, dack_at, persist_at, close_at;
	uint32_t last_challenge;
	uint32_t last_progress; /* when data or an ACK for new data last moved (owner timeouts) */

	struct stream_ranges ooo;  /* received beyond rcv_nxt, most recent first */
	struct stream_ranges sack; /* what the peer SACKed beyond snd_una, in order */

	struct stream_ring rcv, snd;
	struct stream_counts n;
};

/* Segments the leg wants sent: IPv4 + TCP, RTE_PKTMBUF_HEADROOM left for the link header. */
struct stream_out {
	struct rte_mbuf **pkts;
	uint16_t n, cap;
};

#endif
