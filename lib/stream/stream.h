/*
 * stream.h: terminated TCP connection legs (types in stream-t.h).
 *
 * A leg is driven by three calls, all non-blocking and allocation-free apart from mbufs taken
 * from cfg->pool (a pool with none left costs a dropped segment, counted, never a crash):
 *   stream_input   a segment from the peer (parsed by lib/net)
 *   stream_output  send what the windows allow (after the owner wrote or read)
 *   stream_timer   when stream_deadline says so
 * and the owner moves bytes with stream_read / stream_write, ends its side with
 * stream_shutdown (a FIN after the bytes) or stream_abort (a RST). A leg in STREAM_CLOSED is
 * done: stream_release gives its mbufs back and the owner frees the record.
 *
 * What is implemented, and where it departs from the RFCs, is in docs/stream.md.
 */
#ifndef SLUICE_STREAM_H
#define SLUICE_STREAM_H

#include "net/net.h"
#include "stream/stream-t.h"

/* Fill in defaults for the fields left 0 (except pool). false when the pool's mbufs cannot hold
 * a ring slot (RTE_PKTMBUF_HEADROOM + STREAM_SLOT bytes of data room). */
bool stream_cfg_defaults(struct stream_cfg *cfg);

/* What a SYN told us (lib/net's parse of it). */
struct stream_syn {
	uint32_t local_ip, remote_ip;
	uint16_t local_port, remote_port; /* network order */
	uint32_t isn;			  /* the peer's */
	uint16_t mss;			  /* 0: absent (536, RFC 9293 §3.7.1) */
	uint8_t wscale;			  /* NET_WSCALE_NONE: absent */
	bool sack_ok, has_ts;
	uint32_t tsval;
};

/* What a SYN says (m holds the segment lib/net parsed into p). */
void stream_syn_of(const struct rte_mbuf *m, const struct net_pkt *p, struct stream_syn *s);

/*
 * Passive open: answer the SYN with a SYN-ACK (our ISN iss) and wait in SYN-RCVD. The leg is
 * zeroed here. false when the SYN-ACK could not be built (the leg stays CLOSED).
 */
bool stream_accept(struct stream_leg *l, const struct stream_cfg *cfg, const struct stream_syn *s,
		   uint32_t iss, uint32_t now, struct stream_out *out);

/*
 * A connection whose handshake someone else completed (the gateway's SYN-cookie handshake):
 * what both sides agreed on, and where each sequence space stands. The leg starts in
 * ESTABLISHED with nothing of ours sent past the SYN-ACK.
 */
struct stream_adopted {
	uint32_t local_ip, remote_ip;
	uint16_t local_port, remote_port; /* network order */
	uint32_t iss, irs;		  /* ours (the SYN-ACK's) and the peer's (the SYN's) */
	uint16_t mss;			  /* the peer's */
	bool ws_ok, sack_ok, ts_ok;	  /* agreed in the handshake */
	uint8_t snd_ws, rcv_ws;		  /* the peer's shift, and the one we announced */
	uint32_t snd_wnd;		  /* the peer's window, in bytes */
	uint32_t ts_recent;		  /* the peer's latest TSval */
	uint32_t tsval;			  /* our TSval at `now`: the clock continues from it */
	uint32_t rcv_adv;		  /* the right edge already advertised to the peer */
};

/*
 * Take over an established connection: the leg is zeroed, then set from a, and the peer's bytes
 * the owner already acknowledged (data[0..len), sequence irs + 1 on) become readable as if they
 * had come in. false when they do not fit the receive ring (the leg stays CLOSED, holding
 * nothing).
 */
bool stream_adopt(struct stream_leg *l, const struct stream_cfg *cfg,
		  const struct stream_adopted *a, const void *data, uint32_t len, uint32_t now);

/* Active open: send a SYN from local to remote (network order) and wait in SYN-SENT. */
bool stream_connect(struct stream_leg *l, const struct stream_cfg *cfg, uint32_t local_ip,
		    uint16_t local_port, uint32_t remote_ip, uint16_t remote_port, uint32_t iss,
		    uint32_t now, struct stream_out *out);

/*
 * A segment for this leg (the caller matched its addresses; p is lib/net's parse of m). The
 * leg copies what it keeps: the caller still owns m. Answers (ACKs, challenge ACKs, a RST to
 * a bad ACK in SYN-SENT) go to out.
 */
void stream_input(struct stream_leg *l, const struct rte_mbuf *m, const struct net_pkt *p,
		  uint32_t now, struct stream_out *out);

/* Send new data, retransmissions and pending ACKs as the windows allow. */
void stream_output(struct stream_leg *l, uint32_t now, struct stream_out *out);

/* The earliest millisecond a timer is due (0: none). */
uint32_t stream_deadline(const struct stream_leg *l);
/* Run the timers due at now. */
void stream_timer(struct stream_leg *l, uint32_t now, struct stream_out *out);

/* In-order bytes ready to read. */
static inline uint32_t stream_readable(const struct stream_leg *l)
{
	return l->rcv.len;
}
/* Copy up to n readable bytes to dst and consume them; the window reopens (an update goes out
 * with the next stream_output when it grew enough to matter). */
uint32_t stream_read(struct stream_leg *l, void *dst, uint32_t n);
/* The peer sent its FIN and every byte before it has been read. */
static inline bool stream_eof(const struct stream_leg *l)
{
	return l->fin_rcvd && l->rcv.len == 0;
}

/* Room in the send ring (0 once shut or closed). */
uint32_t stream_writable(const struct stream_leg *l);
/* Queue up to n bytes; returns how many were taken (fewer when the ring is full, or an mbuf
 * could not be had). stream_output sends them. */
uint32_t stream_write(struct stream_leg *l, const void *src, uint32_t n);
/* Queue a FIN after the bytes written (half-close): ESTABLISHED → FIN-WAIT-1, CLOSE-WAIT →
 * LAST-ACK. */
void stream_shutdown(struct stream_leg *l);
/* Send a RST and close at once. */
void stream_abort(struct stream_leg *l, uint32_t now, struct stream_out *out);

/* The millisecond the connection last made progress (bytes in, or new data acknowledged): what
 * an owner's idle timeout reads. A peer that keeps a zero window while answering probes makes
 * no progress. */
static inline uint32_t stream_last_progress(const struct stream_leg *l)
{
	return l->last_progress;
}

/* Give back every mbuf the leg's rings hold (any state). */
void stream_release(struct stream_leg *l);

/* Bytes of mbuf data rooms the leg holds now (its memory beyond the record). */
static inline uint32_t stream_held_bytes(const struct stream_leg *l)
{
	return ((uint32_t)l->rcv.held + l->snd.held) * STREAM_SLOT;
}

const char *stream_state_name(enum stream_state s);
const char *stream_end_name(enum stream_end e);

#endif
