/*
 * lib/stream: two legs talk through a simulated link, and an oracle checks what came out.
 *
 * The link has a bottleneck (a rate in packets per millisecond and a tail-drop queue, so the
 * congestion controller meets real congestion losses), a propagation delay, random loss,
 * duplication and reordering, all from a seeded generator; the clock is simulated, so a run
 * of seconds of TCP time takes milliseconds. Each side writes a stream of bytes whose every
 * byte is a function of (seed, direction, offset), reads in random chunk sizes (or slowly, to
 * close its window), and shuts down when it has written everything. The oracle: every byte
 * arrives exactly once and in order, both sides see the other's FIN, both legs close in order,
 * no leg ever holds more than its rings' capacity, and every mbuf goes back to the pool.
 *
 * The fuzz runs many seeds over every combination of options (timestamps, SACK, window
 * scaling on either side), buffer sizes and MSS. An attacker mode injects forged segments
 * (random flags, sequence and acknowledgement numbers near and far from the real ones) into
 * the flow: the streams must still be exact, unless a forged RST hit the exact sequence
 * number, and then what arrived must be a prefix.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "net/net.h"
#include "stream/stream.h"

static struct rte_mempool *pool;
#define POOL_SIZE 8191

#define TH_SYN_X 0x02
#define TH_RST_X 0x04
#define TH_ACK_X 0x10

static void setup(void)
{
	static bool eal;
	if (!eal) {
		char *argv[] = {"test",
				"--no-huge",
				"--no-shconf",
				"--no-pci",
				"-m",
				"256",
				"--log-level=error",
				"--file-prefix=sluice-test-stream",
				NULL};
		cr_assert_geq(rte_eal_init(8, argv), 0);
		eal = true;
	}
	if (pool == NULL)
		pool = rte_pktmbuf_pool_create("stest", POOL_SIZE, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					       SOCKET_ID_ANY);
	cr_assert_not_null(pool);
}

TestSuite(stream, .init = setup);

/* ---- a seeded generator ------------------------------------------------------------------- */

static uint64_t rng_state;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}
static bool chance(uint32_t per_mille)
{
	return rnd() % 1000 < per_mille;
}

/* The byte at offset i of direction dir's stream. */
static uint8_t byte_at(uint64_t seed, int dir, uint32_t i)
{
	uint64_t x = (seed * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)dir << 40) ^ (i >> 3);
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return (uint8_t)(x >> (8 * (i & 7)));
}

/* ---- the link ---------------------------------------------------------------------------- */

struct impair {
	uint32_t loss, dup, reorder; /* per mille */
	uint32_t delay_ms;	     /* one way */
	uint32_t rate;		     /* packets per ms through the bottleneck */
	uint32_t queue;		     /* bottleneck queue, packets */
};

#define LINK_MAX 4096
struct flight {
	struct rte_mbuf *m;
	uint32_t at;
	uint32_t order; /* FIFO among packets due at the same millisecond */
	int to;
};
static uint32_t n_sent;
static struct flight link[LINK_MAX];
static unsigned n_link;
static unsigned queued[2]; /* packets waiting at each direction's bottleneck */
static uint32_t busy_until[2];

static const struct rte_ether_addr mac = {{0x02, 0, 0, 0, 0, 1}};

static void frame(struct rte_mbuf *m)
{
	struct rte_ether_hdr *eh =
		(struct rte_ether_hdr *)rte_pktmbuf_prepend(m, sizeof(struct rte_ether_hdr));
	cr_assert_not_null(eh);
	eh->src_addr = mac;
	eh->dst_addr = mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
}

static void enqueue(struct rte_mbuf *m, int to, uint32_t now, const struct impair *im)
{
	if (n_link == LINK_MAX || queued[to] >= im->queue) {
		rte_pktmbuf_free(m); /* tail drop */
		return;
	}
	/* The bottleneck serves rate packets a millisecond, in order. */
	uint32_t start = busy_until[to] > now * 16 ? busy_until[to] : now * 16;
	busy_until[to] = start + 16 / (im->rate ? im->rate : 16);
	uint32_t t = busy_until[to] / 16 + im->delay_ms;
	if (chance(im->reorder))
		t += 1 + rnd() % 8;
	queued[to]++;
	link[n_link++] = (struct flight){m, t, n_sent++, to};
}

static void send_out(struct stream_out *o, int to, uint32_t now, const struct impair *im)
{
	for (uint16_t i = 0; i < o->n; i++) {
		struct rte_mbuf *m = o->pkts[i];
		frame(m);
		if (chance(im->loss)) {
			rte_pktmbuf_free(m);
			continue;
		}
		if (chance(im->dup)) {
			struct rte_mbuf *c = rte_pktmbuf_copy(m, pool, 0, UINT32_MAX);
			if (c)
				enqueue(c, to, now, im);
		}
		enqueue(m, to, now, im);
	}
	o->n = 0;
}

static void link_clear(void)
{
	for (unsigned i = 0; i < n_link; i++)
		rte_pktmbuf_free(link[i].m);
	n_link = 0;
	queued[0] = queued[1] = 0;
	busy_until[0] = busy_until[1] = 0;
}

/* ---- one run ------------------------------------------------------------------------------ */

struct side {
	struct stream_leg leg;
	struct stream_cfg cfg;
	uint32_t total;	      /* bytes to write */
	uint32_t written;     /* so far */
	uint32_t got;	      /* bytes read */
	bool bad;	      /* a byte read differed */
	bool eof;	      /* read the peer's FIN */
	bool slow;	      /* reads 2 KiB every 20 ms */
	uint32_t pause_until; /* reads nothing before this millisecond */
	bool shut;	      /* shut down its side */
	uint32_t max_held;    /* most bytes of mbufs its leg held */
	uint8_t end;	      /* the leg's end reason once closed */
	bool acked_all;	      /* when it closed, its bytes were all acknowledged */
};

struct run {
	uint64_t seed;
	struct impair im;
	struct side s[2]; /* 0 connects, 1 accepts */
	bool accepted;
	uint32_t now;
	uint32_t forged; /* attacker segments sent */
	bool reset_by_forgery;
};

static void app(struct run *r, int i)
{
	struct side *sd = &r->s[i];
	struct stream_leg *l = &sd->leg;
	uint8_t buf[8192];
	while (sd->written < sd->total && l->state != STREAM_CLOSED) {
		uint32_t n = 1 + rnd() % sizeof(buf);
		n = n < sd->total - sd->written ? n : sd->total - sd->written;
		for (uint32_t k = 0; k < n; k++)
			buf[k] = byte_at(r->seed, i, sd->written + k);
		uint32_t w = stream_write(l, buf, n);
		sd->written += w;
		if (w < n)
			break;
	}
	if (sd->written == sd->total && !sd->shut && l->state != STREAM_SYN_SENT &&
	    l->state != STREAM_SYN_RCVD && l->state != STREAM_CLOSED) {
		stream_shutdown(l);
		sd->shut = true;
	}
	bool paused = sd->pause_until != 0 && r->now < sd->pause_until;
	if (!paused && (!sd->slow || r->now % 20 == 0)) {
		for (;;) {
			uint32_t n = sd->slow ? 2048 : 1 + rnd() % sizeof(buf);
			uint32_t got = stream_read(l, buf, n);
			for (uint32_t k = 0; k < got; k++)
				if (buf[k] != byte_at(r->seed, 1 - i, sd->got + k))
					sd->bad = true;
			sd->got += got;
			if (got < n || sd->slow)
				break;
		}
	}
	if (stream_eof(l))
		sd->eof = true;
}

static void note(struct side *sd)
{
	uint32_t h = stream_held_bytes(&sd->leg);
	if (h > sd->max_held)
		sd->max_held = h;
	if (sd->leg.state == STREAM_CLOSED && sd->end == STREAM_END_NONE) {
		sd->end = sd->leg.end;
		sd->acked_all = sd->leg.snd.len == 0;
	}
}

/* A forged segment towards side `to`, built from the real flow's numbers. */
static struct rte_mbuf *forge(struct run *r, int to)
{
	struct stream_leg *l = &r->s[to].leg;
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	cr_assert_not_null(m);
	uint8_t olen = chance(500) ? 12 : 0;
	uint16_t plen = chance(300) ? (uint16_t)(1 + rnd() % 100) : 0;
	uint16_t total = (uint16_t)(20 + 20 + olen + plen);
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, total);
	memset(d, 0, total);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)d;
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16(total);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = l->remote_ip;
	ip->dst_addr = l->local_ip;
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);
	th->src_port = l->remote_port;
	th->dst_port = l->local_port;
	/* A blind attacker (RFC 5961's threat): numbers anywhere; or a sequence number in the
	 * window on a RST or SYN (not the exact one: that one resets by design, and is tried
	 * one time in five hundred); or in the window with an acknowledgement outside what the leg
	 * accepts. None of these may change either stream. */
	uint32_t wnd = l->rcv_adv - l->rcv_nxt;
	uint32_t in_win = l->rcv_nxt + 1 + (wnd > 1 ? rnd() % (wnd - 1) : 0);
	uint32_t seq = rnd(), ack = rnd();
	uint8_t fl = (uint8_t)(rnd() & 0x1f);
	uint32_t kind = rnd() % 1000;
	if (kind < 2) {
		seq = l->rcv_nxt;
		fl = TH_RST_X;
	} else if (kind < 400) {
		seq = in_win;
		fl = (uint8_t)((rnd() & 1 ? TH_RST_X : TH_SYN_X) | (rnd() & 1 ? TH_ACK_X : 0));
		ack = l->snd_una + rnd() % 65536;
	} else if (kind < 700) {
		seq = in_win;
		fl = (uint8_t)((rnd() & 0x19) | (rnd() % 4 ? TH_ACK_X : 0)); /* FIN, PSH, ACK */
		ack = rnd() & 1 ? l->snd_max + 1 + rnd() % (1u << 20)
				: l->snd_una - l->max_snd_wnd - 1 - rnd() % (1u << 20);
	}
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32(ack);
	th->tcp_flags = fl;
	th->data_off = (uint8_t)(((20 + olen) / 4) << 4);
	th->rx_win = rte_cpu_to_be_16((uint16_t)rnd());
	uint8_t *o = (uint8_t *)(th + 1);
	if (olen) {
		o[0] = 1, o[1] = 1, o[2] = 8, o[3] = 10;
		uint32_t v = rte_cpu_to_be_32(rnd()), e = rte_cpu_to_be_32(rnd());
		memcpy(o + 4, &v, 4);
		memcpy(o + 8, &e, 4);
	}
	for (uint16_t k = 0; k < plen; k++)
		o[olen + k] = (uint8_t)rnd();
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	frame(m);
	if ((fl & TH_RST_X) && rte_be_to_cpu_32(th->sent_seq) == l->rcv_nxt &&
	    l->state != STREAM_SYN_SENT)
		r->reset_by_forgery = true;
	return m;
}

/* RFC 9293 §3.10.7.1: a RST for a segment to no connection (sequence = its ACK). */
static void answer_rst(struct run *r, int from, struct rte_mbuf *in, const struct net_pkt *p,
		       struct stream_out *o)
{
	(void)r;
	(void)from;
	const uint8_t *b = rte_pktmbuf_mtod(in, const uint8_t *);
	const struct rte_tcp_hdr *ith = (const struct rte_tcp_hdr *)(b + p->l2_len + p->l3_len);
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	cr_assert_not_null(m);
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, 40);
	memset(d, 0, 40);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)d;
	ip->version_ihl = 0x45;
	ip->total_length = rte_cpu_to_be_16(40);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = p->dst_ip;
	ip->dst_addr = p->src_ip;
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);
	th->src_port = p->dst_port;
	th->dst_port = p->src_port;
	th->sent_seq = ith->recv_ack;
	th->tcp_flags = TH_RST_X;
	th->data_off = 5 << 4;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	o->pkts[o->n++] = m;
}

static void deliver(struct run *r, struct rte_mbuf *m, int to, struct stream_out *o, bool forged)
{
	struct net_pkt p;
	enum net_drop_reason why;
	enum net_class c = net_parse(m, &p, &why);
	if (forged && c != NET_CLASS_TCP) { /* lib/net drops it before any leg sees it */
		rte_pktmbuf_free(m);
		return;
	}
	cr_assert_eq(c, NET_CLASS_TCP, "a leg sent what lib/net drops: %s",
		     net_drop_reason_name(why));
	struct side *sd = &r->s[to];
	if (getenv("STREAM_TRACE")) { /* debugging aid: every segment delivered */
		const uint8_t *b = rte_pktmbuf_mtod(m, const uint8_t *);
		const struct rte_tcp_hdr *th =
			(const struct rte_tcp_hdr *)(b + p.l2_len + p.l3_len);
		printf("t=%u ->%d %s ts %u/%u flags %02x seq %u ack %u len %u win %u | rcv_nxt %u "
		       "adv %u "
		       "snd_una %u nxt %u max %u wnd %u cwnd %u %s\n",
		       r->now, to, forged ? "FORGED " : "", p.tcp_tsval, p.tcp_tsecr, p.tcp_flags,
		       rte_be_to_cpu_32(th->sent_seq), rte_be_to_cpu_32(th->recv_ack),
		       p.payload_len, rte_be_to_cpu_16(th->rx_win), sd->leg.rcv_nxt,
		       sd->leg.rcv_adv, sd->leg.snd_una, sd->leg.snd_nxt, sd->leg.snd_max,
		       sd->leg.snd_wnd, sd->leg.cwnd, stream_state_name(sd->leg.state));
	}
	if (to == 1 && !r->accepted) {
		if ((p.tcp_flags & (TH_SYN_X | TH_ACK_X)) == TH_SYN_X) {
			struct stream_syn s;
			stream_syn_of(m, &p, &s);
			r->accepted = stream_accept(&sd->leg, &sd->cfg, &s, rnd(), r->now, o);
		}
	} else if (sd->leg.state == STREAM_CLOSED) {
		/* What the leg's owner does for a segment to a flow it no longer has. */
		if (!(p.tcp_flags & TH_RST_X) && !forged)
			answer_rst(r, to, m, &p, o);
	} else {
		stream_input(&sd->leg, m, &p, r->now, o);
	}
	rte_pktmbuf_free(m);
}

struct opts {
	bool ts[2], sack[2], ws[2];
	uint32_t buf[2];
	uint16_t mss[2];
	bool slow[2];
	uint32_t total[2];
	uint32_t forge_per_mille; /* chance per millisecond of a forged segment */
};

static bool due_now(const struct stream_leg *l, uint32_t now)
{
	uint32_t t = stream_deadline(l);
	return t != 0 && (int32_t)(now - t) >= 0;
}

static uint32_t pause_reader_until;

/* Run to the end; returns the simulated milliseconds taken. */
static uint32_t simulate(struct run *r, const struct opts *op)
{
	struct rte_mbuf *pk[256];
	struct stream_out o = {pk, 0, 256};
	for (int i = 0; i < 2; i++) {
		struct side *sd = &r->s[i];
		memset(sd, 0, sizeof(*sd));
		sd->cfg = (struct stream_cfg){
			.pool = pool,
			.rcv_buf = op->buf[i],
			.snd_buf = op->buf[i],
			.mss = op->mss[i],
			.time_wait_ms = 1000,
			.ts = op->ts[i],
			.sack = op->sack[i],
			.ws = op->ws[i],
		};
		cr_assert(stream_cfg_defaults(&sd->cfg));
		sd->total = op->total[i];
		sd->slow = op->slow[i];
		sd->pause_until = sd->slow ? pause_reader_until : 0;
	}
	r->accepted = false;
	r->now = 1;
	link_clear();
	unsigned avail = rte_mempool_avail_count(pool);
	uint32_t ip0 = RTE_BE32(0xc6120001), ip1 = RTE_BE32(0xc6120002); /* 198.18.0.x */
	cr_assert(stream_connect(&r->s[0].leg, &r->s[0].cfg, ip0, RTE_BE16(40000), ip1,
				 RTE_BE16(443), rnd(), r->now, &o));
	send_out(&o, 1, r->now, &r->im);
	const uint32_t limit = 600000; /* 10 minutes of TCP time at most */
	while (r->now < limit) {
		r->now++;
		/* Deliver what is due, in the order it is due. */
		for (bool again = true; again;) {
			again = false;
			unsigned best = n_link;
			for (unsigned k = 0; k < n_link; k++)
				if (link[k].at <= r->now &&
				    (best == n_link || link[k].at < link[best].at ||
				     (link[k].at == link[best].at &&
				      link[k].order < link[best].order)))
					best = k;
			if (best < n_link) {
				struct flight f = link[best];
				link[best] = link[--n_link];
				queued[f.to]--;
				deliver(r, f.m, f.to, &o, false);
				send_out(&o, 1 - f.to, r->now, &r->im);
				again = true;
			}
		}
		if (op->forge_per_mille && chance(op->forge_per_mille)) {
			int to = (int)(rnd() & 1);
			if (r->s[to].leg.state != STREAM_CLOSED && (to == 0 || r->accepted)) {
				r->forged++;
				deliver(r, forge(r, to), to, &o, true);
				send_out(&o, 1 - to, r->now, &r->im);
			}
		}
		for (int i = 0; i < 2; i++) {
			struct stream_leg *l = &r->s[i].leg;
			if (i == 1 && !r->accepted)
				continue;
			if (due_now(l, r->now)) {
				if (getenv("STREAM_TRACE"))
					printf("t=%u timer %d rto_at %u dack_at %u persist_at %u "
					       "close_at %u backoff %u\n",
					       r->now, i, l->rto_at, l->dack_at, l->persist_at,
					       l->close_at, l->backoff);
				stream_timer(l, r->now, &o);
			}
			send_out(&o, 1 - i, r->now, &r->im);
			app(r, i);
			stream_output(l, r->now, &o);
			send_out(&o, 1 - i, r->now, &r->im);
			note(&r->s[i]);
		}
		if (r->s[0].leg.state == STREAM_CLOSED && r->accepted &&
		    r->s[1].leg.state == STREAM_CLOSED && stream_readable(&r->s[0].leg) == 0 &&
		    stream_readable(&r->s[1].leg) == 0)
			break; /* closed, and the readers drained what the legs held */
		if (r->s[0].leg.state == STREAM_CLOSED && !r->accepted)
			break;
	}
	for (int i = 0; i < 2; i++) {
		const struct stream_leg *l = &r->s[i].leg;
		/* Drained and acknowledged: nothing held (an idle connection costs no mbuf). */
		if (l->rcv.len == 0 && l->ooo.n == 0 && l->snd.len == 0)
			cr_assert_eq(stream_held_bytes(l), 0,
				     "side %d holds %u bytes with none queued", i,
				     stream_held_bytes(l));
		stream_release(&r->s[i].leg);
	}
	link_clear();
	cr_assert_eq(rte_mempool_avail_count(pool), avail, "mbufs leaked: %u of %u back",
		     rte_mempool_avail_count(pool), avail);
	return r->now;
}

/* ---- the oracle ----------------------------------------------------------------------------- */

/* Both streams exact and complete, both FINs seen, both legs closed in order (the last closer
 * may time out or be reset when the final ACK was lost and the other leg had already gone: its
 * bytes were all acknowledged by then), memory bounded. */
static void check_exact(const struct run *r, const struct opts *op, const char *what)
{
	for (int i = 0; i < 2; i++) {
		const struct side *sd = &r->s[i];
		const struct side *peer = &r->s[1 - i];
		cr_assert(!sd->bad, "%s seed %llu: side %d read a wrong byte", what,
			  (unsigned long long)r->seed, i);
		cr_assert_eq(sd->got, peer->total,
			     "%s seed %llu: side %d read %u of %u bytes (t=%u)", what,
			     (unsigned long long)r->seed, i, sd->got, peer->total, r->now);
		cr_assert(sd->eof, "%s seed %llu: side %d never saw the FIN", what,
			  (unsigned long long)r->seed, i);
		/* The last closer may lose the final ACK after the other leg's TIME-WAIT ended:
		 * it then times out, or is reset by the owner of the closed leg, but only once the
		 * peer had every byte and the FIN. */
		bool orderly = sd->end == STREAM_END_DONE ||
			       ((sd->end == STREAM_END_TIMEOUT || sd->end == STREAM_END_RESET) &&
				peer->got == sd->total && peer->eof);
		cr_assert(orderly, "%s seed %llu: side %d ended %s", what,
			  (unsigned long long)r->seed, i, stream_end_name(sd->end));
		uint32_t bound = 2 * (op->buf[i] + 2 * STREAM_SLOT);
		cr_assert_leq(sd->max_held, bound, "%s seed %llu: side %d held %u bytes", what,
			      (unsigned long long)r->seed, i, sd->max_held);
	}
}

static struct opts all_on(uint32_t total)
{
	return (struct opts){
		.ts = {true, true},
		.sack = {true, true},
		.ws = {true, true},
		.buf = {64 * 1024, 64 * 1024},
		.mss = {1460, 1460},
		.total = {total, total},
	};
}

Test(stream, clean_link_both_ways)
{
	struct run r = {.seed = 1, .im = {.delay_ms = 2, .rate = 16, .queue = 1000}};
	rng_state = 88172645463325252ull;
	struct opts op = all_on(4 << 20);
	simulate(&r, &op);
	check_exact(&r, &op, "clean");
	cr_assert_eq(r.s[0].end, STREAM_END_DONE);
	cr_assert_eq(r.s[1].end, STREAM_END_DONE);
	for (int i = 0; i < 2; i++) {
		const struct stream_counts *n = &r.s[i].leg.n;
		cr_assert_eq(n->retransmits, 0,
			     "a clean link needs no retransmission: side %d: %u retransmits, %u "
			     "RTOs, %u fast, %u dup ACKs, %u probes, %u out of window, %u tx_full",
			     i, n->retransmits, n->timeouts, n->fast_retransmits, n->dup_acks,
			     n->probes, n->out_of_window, n->tx_full);
	}
}

Test(stream, half_close_each_way)
{
	for (int first = 0; first < 2; first++) {
		struct run r = {.seed = 2 + (uint64_t)first,
				.im = {.delay_ms = 3, .rate = 8, .queue = 1000}};
		rng_state = 0x1234567u + (uint64_t)first;
		struct opts op = all_on(0);
		op.total[1 - first] = 1 << 20; /* one side closes at once, the other sends on */
		simulate(&r, &op);
		check_exact(&r, &op, "half-close");
	}
}

Test(stream, slow_reader_bounded)
{
	struct run r = {.seed = 4, .im = {.delay_ms = 1, .rate = 16, .queue = 1000}};
	rng_state = 0xfeedfaceu;
	struct opts op = all_on(0);
	op.total[0] = 1 << 20;
	op.slow[1] = true;
	op.buf[1] = 16 * 1024;
	pause_reader_until = 3000; /* the window closes, and stays closed for seconds */
	simulate(&r, &op);
	pause_reader_until = 0;
	check_exact(&r, &op, "slow reader");
	/* The reader's window closed and the writer probed it, without taking the probes
	 * for losses. */
	cr_assert_gt(r.s[0].leg.n.probes, 2, "probes: %u", r.s[0].leg.n.probes);
	cr_assert_eq(r.s[0].leg.n.retransmits, 0);
	cr_assert_leq(r.s[1].max_held, 16 * 1024 + 2 * STREAM_SLOT, "reader held %u",
		      r.s[1].max_held);
}

Test(stream, congested_and_impaired_fuzz, .timeout = 240)
{
	unsigned runs = 0, recoveries = 0, rtos = 0;
	/* STREAM_FUZZ_RUNS=N for a longer soak by hand; the suite runs 400. */
	uint64_t n_runs =
		getenv("STREAM_FUZZ_RUNS") ? strtoull(getenv("STREAM_FUZZ_RUNS"), NULL, 0) : 400;
	for (uint64_t seed = 100; seed < 100 + n_runs; seed++) {
		rng_state = seed * 0x2545f4914f6cdd1dull + 1;
		struct run r = {.seed = seed};
		r.im.loss = rnd() % 4 == 0 ? 0 : rnd() % 150;
		r.im.dup = rnd() % 60;
		r.im.reorder = rnd() % 200;
		r.im.delay_ms = 1 + rnd() % 30;
		r.im.rate = 1 + rnd() % 16;
		r.im.queue = 8 + rnd() % 200;
		struct opts op;
		memset(&op, 0, sizeof(op));
		for (int i = 0; i < 2; i++) {
			op.ts[i] = rnd() & 1;
			op.sack[i] = rnd() & 1;
			op.ws[i] = rnd() & 1;
			op.buf[i] = (4 + rnd() % 124) * 1024;
			op.mss[i] = (uint16_t)(rnd() % 4 == 0 ? 536 + rnd() % 900 : 1460);
			op.slow[i] = rnd() % 8 == 0;
			op.total[i] = rnd() % 5 == 0 ? rnd() % 3000 : rnd() % (192 * 1024);
		}
		if (getenv("STREAM_SEED") && strtoull(getenv("STREAM_SEED"), NULL, 0) != seed)
			continue; /* debugging aid: one seed */
		simulate(&r, &op);
		char what[160];
		snprintf(what, sizeof(what),
			 "fuzz loss %u dup %u reorder %u delay %u rate %u queue %u ts %d%d sack "
			 "%d%d "
			 "ws %d%d buf %u/%u",
			 r.im.loss, r.im.dup, r.im.reorder, r.im.delay_ms, r.im.rate, r.im.queue,
			 op.ts[0], op.ts[1], op.sack[0], op.sack[1], op.ws[0], op.ws[1], op.buf[0],
			 op.buf[1]);
		check_exact(&r, &op, what);
		runs++;
		recoveries += r.s[0].leg.n.fast_retransmits + r.s[1].leg.n.fast_retransmits;
		rtos += r.s[0].leg.n.timeouts + r.s[1].leg.n.timeouts;
	}
	/* The fuzz did reach the recovery paths it is meant to test. */
	if (getenv("STREAM_SEED"))
		return;
	cr_assert_gt(recoveries, 20, "fast recoveries: %u", recoveries);
	cr_assert_gt(rtos, 20, "retransmission timeouts: %u", rtos);
	cr_log_info("%u runs, %u fast recoveries, %u RTOs", runs, recoveries, rtos);
}

/* Forged segments into a flow: exact streams unless a forged RST hit rcv_nxt exactly (RFC
 * 5961's residual risk), and then a prefix, never a wrong byte. */
Test(stream, forged_segments, .timeout = 240)
{
	unsigned resets = 0, challenged = 0, forged = 0;
	uint64_t n_runs =
		getenv("STREAM_FUZZ_RUNS") ? strtoull(getenv("STREAM_FUZZ_RUNS"), NULL, 0) : 80;
	for (uint64_t seed = 500; seed < 500 + n_runs; seed++) {
		rng_state = seed * 0x9e3779b97f4a7c15ull + 7;
		struct run r = {.seed = seed,
				.im = {.loss = rnd() % 30, .delay_ms = 2, .rate = 8, .queue = 100}};
		struct opts op = all_on(64 * 1024 + rnd() % (128 * 1024));
		op.sack[1] = rnd() & 1;
		op.ts[0] = rnd() & 1;
		op.forge_per_mille = 100 + rnd() % 400;
		if (getenv("STREAM_SEED") && strtoull(getenv("STREAM_SEED"), NULL, 0) != seed)
			continue;
		simulate(&r, &op);
		forged += r.forged;
		challenged += r.s[0].leg.n.challenge_acks + r.s[1].leg.n.challenge_acks;
		if (r.reset_by_forgery) {
			resets++;
			for (int i = 0; i < 2; i++) {
				cr_assert(!r.s[i].bad, "seed %llu: a wrong byte after a forged RST",
					  (unsigned long long)seed);
				cr_assert_leq(r.s[i].got, r.s[1 - i].total);
			}
			continue;
		}
		check_exact(&r, &op, "forged");
	}
	cr_assert_gt(forged, 1000);
	cr_assert_gt(n_runs - resets, n_runs / 3, "runs checked for exact streams: %u",
		     (unsigned)(n_runs - resets));
	cr_assert_gt(challenged, 10, "challenge ACKs: %u", challenged);
	cr_log_info("%u forged segments, %u challenge ACKs, %u runs reset by an exact RST", forged,
		    challenged, resets);
}

/* The record's size is part of the per-connection memory figure in docs/stream.md. */
Test(stream, record_size)
{
	cr_log_info("struct stream_leg: %zu bytes", sizeof(struct stream_leg));
	cr_assert_leq(sizeof(struct stream_leg), 1408);
}
