/*
 * lib/stream against a scripted peer (script.h): one case per rule a hostile or unusual peer
 * tests — rate-limited answers, probes into a full ring, a dead peer behind a zero window,
 * retransmissions bounded by what was sent, RSTs after a timeout, the RTO after a lost SYN,
 * absurd RTT samples, the window scale and the advertised edge.
 */
#include "script.h"

TestSuite(script, .init = setup);

/* Answers to PAWS-failing segments are rate limited: only the 4-tuple is needed to send them
 * (any tsval "older" than TS.Recent, half the space), so a flood must not get a flood back. */
Test(script, paws_answers_unlimited)
{
	struct stream_leg l;
	struct stream_cfg cfg = {.pool = pool, .ts = true, .sack = true, .ws = true};
	open_passive(&l, &cfg, 5000, 9000, true, true, 7, 1460, 1000, 10);
	struct fopt fo = {.ts = true, .tsval = 1001 - 0x40000000u, .tsecr = 0};
	unsigned answers = 0;
	for (int i = 0; i < 1000; i++) {
		/* random sequence numbers, same millisecond */
		in(&l, 20, F_ACK, (uint32_t)i * 7919u * 104729u, 12345, 100, NULL, 0, &fo);
		answers += collect();
	}
	/* compare with plain out-of-window segments at the same ms */
	unsigned oow = 0;
	for (int i = 0; i < 1000; i++) {
		struct fopt f2 = {.ts = true, .tsval = 2000, .tsecr = 0};
		in(&l, 30, F_ACK, 5001 + 0x80000000u + i, 12345, 100, NULL, 0, &f2);
		oow += collect();
	}
	cr_log_info("1000 PAWS-failing segments in 1 ms -> %u ACKs; 1000 out-of-window -> %u ACKs",
		    answers, oow);
	stream_release(&l);
	cr_expect_leq(answers, 1, "PAWS answers not rate limited: %u", answers);
}

/* An ACK for data never sent is answered, rate limited. */
Test(script, ack_of_unsent_unlimited)
{
	struct stream_leg l;
	struct stream_cfg cfg = {.pool = pool};
	open_passive(&l, &cfg, 5000, 9000, false, false, 0xff, 1460, 65535, 10);
	unsigned answers = 0;
	for (int i = 0; i < 1000; i++) {
		in(&l, 20, F_ACK, 5001 + (uint32_t)(i % 60000), 9001 + 100000 + i, 100, NULL, 0,
		   NULL);
		answers += collect();
	}
	cr_log_info("1000 in-window segments acking unsent data in 1 ms -> %u ACKs", answers);
	stream_release(&l);
	cr_expect_leq(answers, 1, "ACK-of-unsent answers not rate limited: %u", answers);
}

/* A one-byte zero-window probe (BSD, macOS, Windows) at RCV.NXT while the ring is full gets an
 * ACK (RFC 9293 §3.10.7.4), though its byte cannot be taken. */
Test(script, zero_window_data_probe_unanswered)
{
	struct stream_leg l;
	struct stream_cfg cfg = {.pool = pool, .rcv_buf = 4096};
	open_passive(&l, &cfg, 5000, 9000, false, false, 0xff, 1460, 65535, 10);
	uint8_t buf[1460];
	uint32_t seq = 5001;
	for (int i = 0; i < 3; i++) { /* 4096 bytes: fill the ring, owner does not read */
		uint16_t n = (uint16_t)(4096 - (seq - 5001) < 1460 ? 4096 - (seq - 5001) : 1460);
		for (int k = 0; k < n; k++)
			buf[k] = pb(seq + k);
		in(&l, 20, F_ACK, seq, 9001, 65535, buf, n, NULL);
		seq += n;
	}
	collect();
	stream_output(&l, 21, &out);
	collect();
	stream_timer(&l, 200, &out);
	collect();
	cr_assert_eq(l.rcv_nxt, 5001 + 4096);
	cr_assert_eq(l.rcv_adv, l.rcv_nxt, "window is closed");
	unsigned answers = 0;
	for (uint32_t t = 1000; t < 100000; t += 5000) { /* probes every 5 s */
		buf[0] = pb(seq);
		in(&l, t, F_ACK, seq, 9001, 65535, buf, 1, NULL);
		answers += collect();
		if (stream_deadline(&l)) {
			stream_timer(&l, stream_deadline(&l), &out);
			answers += collect();
		}
	}
	cr_log_info("20 one-byte probes into a closed window -> %u answers", answers);
	stream_release(&l);
	cr_expect_gt(answers, 0, "zero-window probes never answered");
}

/* A dead peer behind a zero window: unanswered probes are counted, and the leg gives up after
 * max_retries of them, in FIN-WAIT-1 as in any state. */
Test(script, persist_forever_dead_peer)
{
	struct stream_leg l;
	struct stream_cfg cfg = {.pool = pool};
	open_passive(&l, &cfg, 5000, 9000, false, false, 0xff, 1460, 0 /* zero window */, 10);
	uint8_t buf[1000] = {0};
	cr_assert_eq(stream_write(&l, buf, 1000), 1000);
	stream_shutdown(&l); /* FIN-WAIT-1 */
	stream_output(&l, 11, &out);
	collect();
	unsigned probes = 0;
	uint32_t now = 11;
	for (int i = 0; i < 10000 && l.state != STREAM_CLOSED; i++) {
		uint32_t d = stream_deadline(&l);
		if (d == 0)
			break;
		now = d;
		stream_timer(&l, now, &out);
		probes += collect(); /* the peer is gone: nothing answers */
		if (now > 24u * 3600 * 1000)
			break;
	}
	cr_log_info("dead peer, zero window: after %u s simulated the leg is %s (%u probes)",
		    now / 1000, stream_state_name(l.state), probes);
	stream_release(&l);
	cr_expect_eq(l.state, STREAM_CLOSED, "a leg probing a dead peer never ends");
}

/* A retransmission in recovery never goes past SND.MAX (bytes beyond it may lie past the peer's
 * window; the peer would ACK them and the leg would take that for an ACK of data never sent). */
Test(script, partial_ack_past_snd_max)
{
	struct stream_leg l;
	struct stream_cfg cfg = {.pool = pool, .mss = 1000};
	/* no ts, no sack: NewReno; the peer's window 4500 */
	open_passive(&l, &cfg, 5000, 9000, false, false, 0xff, 1000, 4500, 10);
	uint8_t buf[20000];
	for (int i = 0; i < 20000; i++)
		buf[i] = (uint8_t)i;
	cr_assert_eq(stream_write(&l, buf, 4500), 4500);
	stream_output(&l, 11, &out);
	collect();
	cr_assert_eq(l.snd_max, 9001 + 4500, "sent 1000x4 + 500: %u", l.snd_max - 9001);
	cr_assert_eq(stream_write(&l, buf + 4500, 10000), 10000); /* queued, window full */
	uint32_t una = 9001;
	/* first segment lost: three dup ACKs (same window) */
	for (int i = 0; i < 3; i++)
		in(&l, 20 + i, F_ACK, 5001, una, 4500, NULL, 0, NULL);
	collect();
	cr_assert(l.in_recovery);
	/* segments 1-4 arrived, the 500-byte 5th was lost: partial ACK at una+4000; the peer's
	 * right edge stays at una+4500 (it does not shrink its window) */
	in(&l, 30, F_ACK, 5001, una + 4000, 500, NULL, 0, NULL);
	collect();
	uint32_t hi = 0;
	for (unsigned i = 0; i < ngot; i++)
		if (got[i].len && got[i].seq + got[i].len - una > hi)
			hi = got[i].seq + got[i].len - una;
	cr_log_info("partial ACK: sent up to una+%u, snd_max is una+%u", hi, l.snd_max - una);
	/* the peer (Linux, or a leg: both keep in-order bytes beyond the window) ACKs it all */
	uint32_t before = l.snd_una;
	in(&l, 40, F_ACK, 5001, una + hi, 4000, NULL, 0, NULL);
	collect();
	cr_log_info("peer ACKs una+%u: snd_una moved %u bytes, leg answered %u segs", hi,
		    l.snd_una - before, ngot);
	/* how long until the leg takes the peer's ACK (peer re-ACKs everything it gets) */
	uint32_t now = 40, fixed = 0;
	for (int i = 0; i < 100 && l.snd_una == before && l.state != STREAM_CLOSED; i++) {
		now = stream_deadline(&l);
		stream_timer(&l, now, &out);
		collect();
		in(&l, now + 5, F_ACK, 5001, una + hi, 4000, NULL, 0, NULL);
		collect();
		fixed = now;
	}
	cr_log_info(
		"peer re-ACKs una+%u after every retransmission: at t=%u ms the leg is %s (%s), "
		"snd_una still una+%u, %u RTOs",
		hi, fixed, stream_state_name(l.state), stream_end_name(l.end), l.snd_una - una,
		l.n.timeouts);
	stream_release(&l);
	cr_expect(hi <= l.snd_max - una, "sent past snd_max");
	cr_expect_neq(l.snd_una, before, "a valid ACK of bytes the leg sent was dropped");
}

/* After an RTO snd_nxt goes back to snd_una; a RST must carry SND.MAX, or it lands left of the
 * peer's RCV.NXT when ACKs (not data) were lost, and the peer drops it. */
Test(script, abort_rst_after_rto)
{
	struct stream_leg l;
	struct stream_cfg cfg = {.pool = pool};
	open_passive(&l, &cfg, 5000, 9000, false, false, 0xff, 1460, 65535, 10);
	uint8_t buf[4000] = {0};
	stream_write(&l, buf, 4000);
	stream_output(&l, 11, &out);
	collect();
	uint32_t max = l.snd_max;
	stream_timer(&l, stream_deadline(&l), &out); /* RTO: go back */
	collect();
	stream_abort(&l, 2000, &out);
	collect();
	cr_assert_eq(ngot, 1);
	cr_log_info("RST seq una+%u, snd_max una+%u", got[0].seq - 9001, max - 9001);
	stream_release(&l);
	cr_expect_eq(got[0].seq, max, "RST below what the peer may already have");
}

/* RFC 6298 §5.7: after the SYN was retransmitted, the data RTO starts at 3 s. */
Test(script, rto_after_syn_retransmit)
{
	struct stream_leg l;
	struct stream_cfg cfg = {.pool = pool};
	stream_cfg_defaults(&cfg);
	cr_assert(stream_connect(&l, &cfg, IP_L, P_L, IP_R, P_R, 100, 1, &out));
	collect();
	stream_timer(&l, stream_deadline(&l), &out); /* SYN lost */
	collect();
	struct fopt fo = {.syn_opts = true, .mss = 1460, .ws = 0xff};
	in(&l, 1500, F_SYN | F_ACK, 7000, 101, 65535, NULL, 0, &fo);
	collect();
	cr_assert_eq(l.state, STREAM_ESTABLISHED);
	uint8_t b[100] = {0};
	stream_write(&l, b, 100);
	stream_output(&l, 1500, &out);
	collect();
	cr_log_info("first data RTO after a lost SYN: %u ms (deadline in %u ms)", l.rto,
		    stream_deadline(&l) - 1500);
	stream_release(&l);
	cr_expect_geq(stream_deadline(&l) - 1500, 3000);
}

/* An absurd RTT sample from the handshake's timestamp echo is ignored (it would pin the RTO at
 * its maximum for a hundred samples). */
Test(script, syn_rtt_unbounded)
{
	struct stream_leg l;
	struct stream_cfg cfg = {.pool = pool, .ts = true};
	stream_cfg_defaults(&cfg);
	cr_assert(stream_connect(&l, &cfg, IP_L, P_L, IP_R, P_R, 100, 1, &out));
	collect();
	uint32_t our = got[0].tsval;
	struct fopt fo = {.syn_opts = true,
			  .mss = 1460,
			  .ws = 0xff,
			  .ts = true,
			  .tsval = 5,
			  .tsecr = our + 100 /* from the "future" */};
	in(&l, 20, F_SYN | F_ACK, 7000, 101, 65535, NULL, 0, &fo);
	collect();
	cr_log_info("after one bad echo on the SYN-ACK: rto %u ms, srtt %u ms", l.rto,
		    l.srtt8 >> 3);
	stream_release(&l);
	cr_expect_lt(l.rto, 60000);
}

/* The window scale follows the ring's real size, not a huge configured one: otherwise rounding
 * leaves the edge short and every stream_output sends a window update. */
Test(script, huge_rcv_buf_update_storm)
{
	struct stream_leg l;
	struct stream_cfg cfg = {.pool = pool, .ws = true, .rcv_buf = 256u << 20};
	open_passive(&l, &cfg, 5000, 9000, false, false, 7, 1460, 65535, 10);
	uint8_t buf[1460];
	uint32_t seq = 5001;
	for (int i = 0; i < 40; i++) {
		for (int k = 0; k < 1460; k++)
			buf[k] = pb(seq + k);
		in(&l, 20, F_ACK, seq, 9001, 65535, buf, 1460, NULL);
		seq += 1460;
	}
	collect();
	uint8_t sink[65536];
	stream_read(&l, sink, sizeof(sink));
	unsigned acks = 0;
	for (int i = 0; i < 100; i++) {
		stream_output(&l, 30, &out);
		acks += collect();
	}
	cr_log_info("rcv_ws %u: 100 stream_output calls with nothing new -> %u window updates",
		    l.rcv_ws, acks);
	stream_release(&l);
	cr_expect_leq(acks, 1);
}

/* Window-scale rounding never ratchets the advertised edge past the ring's end: with a scale
 * of 1, every ACK covering an odd byte count rounds up; while the reader stalls, a full ring
 * must advertise nothing, and bytes sent into the window anyway are answered. */
Test(script, adv_beyond_ring)
{
	struct stream_leg l;
	struct stream_cfg cfg = {.pool = pool, .ws = true};
	open_passive(&l, &cfg, 5000, 9000, false, false, 7, 1460, 65535, 10);
	cr_assert_eq(l.rcv_ws, 1);
	uint8_t buf[4];
	uint32_t seq = 5001, now = 20;
	uint16_t lastwin = 0;
	for (int i = 0; l.rcv_nxt - l.rcv.head < l.rcv.cap && i < 100000; i++) {
		uint16_t n = (i & 1) ? 2 : 1; /* 1 + 2 bytes per (every-second-segment) ACK */
		for (int k = 0; k < n; k++)
			buf[k] = pb(seq + k);
		in(&l, now++, F_ACK | F_PSH, seq, 9001, 65535, buf, n, NULL);
		seq = l.rcv_nxt;
		collect();
		if (ngot)
			lastwin = got[ngot - 1].win;
		if (stream_deadline(&l)) {
			stream_timer(&l, stream_deadline(&l), &out);
			collect();
			if (ngot)
				lastwin = got[ngot - 1].win;
		}
	}
	uint32_t edge = l.rcv.head + l.rcv.cap;
	cr_log_info("ring full (free %u), last advertised window %u bytes; rcv_adv - ring end = %d",
		    edge - l.rcv_nxt, (uint32_t)lastwin << l.rcv_ws, (int32_t)(l.rcv_adv - edge));
	/* the peer sends into the advertised window: silently dropped, no ACK */
	uint8_t big[1000];
	for (int k = 0; k < 1000; k++)
		big[k] = pb(l.rcv_nxt + k);
	uint32_t before = l.rcv_nxt;
	in(&l, now + 1, F_ACK, l.rcv_nxt, 9001, 65535, big, 1000, NULL);
	unsigned answers = collect();
	cr_log_info("1000 bytes inside the advertised window: taken %u, answers %u",
		    l.rcv_nxt - before, answers);
	stream_release(&l);
	cr_expect_leq((int32_t)(l.rcv_adv - edge), 1, "advertised %d bytes past the ring",
		      (int32_t)(l.rcv_adv - edge));
}

/* RFC 6691: the MSS counts data only. With timestamps on every segment, a full segment carries
 * the peer's MSS less 12 bytes, so segment and options fit the peer's MTU; without them, the
 * whole MSS. */
Test(script, full_segment_fits_mss_with_options)
{
	static uint8_t data[8000];
	for (bool ts = false;; ts = true) {
		struct stream_leg l;
		struct stream_cfg cfg = {.pool = pool, .ts = true, .sack = true, .ws = true};
		open_passive(&l, &cfg, 5000, 9000, ts, true, 7, 1460, 1000, 10);
		cr_assert_eq(stream_write(&l, data, sizeof(data)), sizeof(data));
		stream_output(&l, 20, &out);
		collect();
		cr_assert_geq(ngot, 2);
		uint32_t most = 0;
		for (unsigned i = 0; i < ngot; i++)
			most = got[i].len > most ? got[i].len : most;
		cr_expect_eq(most, ts ? 1448u : 1460u, "timestamps %d: segments of %u bytes", ts,
			     most);
		/* Out-of-order data from the peer: a full data segment still carries no SACK
		 * blocks it has no room for. */
		struct fopt fo = {.ts = ts, .tsval = 2000, .tsecr = got[0].tsval};
		uint8_t b[100] = {0};
		in(&l, 30, F_ACK, 5001 + 500, 9001, 1000, b, sizeof(b), &fo);
		collect();
		cr_assert_eq(ngot, 1);
		cr_expect_eq(got[0].nsack, 1, "a pure ACK reports the hole");
		stream_release(&l);
		if (ts)
			break;
	}
}

/* A leg taken over after someone else's handshake: ESTABLISHED at once, the bytes already
 * acknowledged readable, our numbers and timestamp clock continued, no window pulled back. */
Test(script, adopt_continues_the_handshake)
{
	struct stream_cfg cfg = {.pool = pool, .ts = true, .sack = true, .ws = true};
	cr_assert(stream_cfg_defaults(&cfg));
	const char hello[] = "a ClientHello the owner already acknowledged";
	struct stream_adopted a = {.local_ip = IP_L,
				   .remote_ip = IP_R,
				   .local_port = P_L,
				   .remote_port = P_R,
				   .iss = 9000,
				   .irs = 5000,
				   .mss = 1460,
				   .ws_ok = true,
				   .sack_ok = true,
				   .ts_ok = true,
				   .snd_ws = 7,
				   .rcv_ws = 7,
				   .snd_wnd = 500u << 7,
				   .ts_recent = 77,
				   .tsval = 123456,
				   .rcv_adv = 5001 + 16384};
	struct stream_leg l;
	cr_assert(stream_adopt(&l, &cfg, &a, hello, sizeof(hello), 100));
	cr_assert_eq(l.state, STREAM_ESTABLISHED);
	cr_assert_eq(stream_readable(&l), sizeof(hello));
	char back[sizeof(hello)];
	cr_assert_eq(stream_read(&l, back, sizeof(back)), sizeof(hello));
	cr_assert_str_eq(back, hello);
	cr_assert_eq(stream_write(&l, "x", 1), 1);
	stream_output(&l, 150, &out);
	collect();
	cr_assert_eq(ngot, 1);
	cr_expect_eq(got[0].seq, 9001u, "our sequence continues after the SYN-ACK");
	cr_expect_eq(got[0].ack, 5001u + sizeof(hello), "the adopted bytes are acknowledged");
	cr_expect_eq(got[0].tsval, 123456u + 50, "our timestamp clock continues");
	cr_expect_eq(got[0].tsecr, 77u);
	cr_expect_geq((uint32_t)got[0].win << 7, 16384u - sizeof(hello),
		      "the window the owner showed is not pulled back");
	/* Bytes that do not fit the receive ring: refused, nothing held. */
	static uint8_t big[200000];
	struct stream_leg l2;
	cr_expect(!stream_adopt(&l2, &cfg, &a, big, sizeof(big), 100));
	cr_expect_eq(l2.state, STREAM_CLOSED);
	cr_expect_eq(stream_held_bytes(&l2), 0);
	stream_release(&l);
}

/* A peer announcing a tiny MSS (1 to 11 bytes, with timestamps) must not wrap the segment size:
 * data goes in 64-byte segments, each inside its mbuf, however long the leg keeps sending. */
Test(script, tiny_peer_mss_never_wraps)
{
	static uint8_t data[70000];
	for (uint16_t mss = 1; mss <= 12; mss += 11) {
		struct stream_leg l;
		struct stream_cfg cfg = {.pool = pool, .ts = true, .sack = true, .ws = true};
		open_passive(&l, &cfg, 5000, 9000, true, true, 7, mss, 65535, 10);
		cr_assert_eq(l.mss, 64, "peer MSS %u: %u-byte segments", mss, l.mss);
		uint32_t put = stream_write(&l, data, sizeof(data));
		cr_assert_gt(put, 0);
		stream_output(&l, 20, &out);
		collect();
		for (unsigned i = 0; i < ngot; i++)
			cr_assert_leq(got[i].len, 64u, "a %u-byte segment", got[i].len);
		/* Nothing acknowledged: the retransmissions stay as small. */
		for (uint32_t t = 1200; t < 20000; t += 1200) {
			stream_timer(&l, t, &out);
			collect();
			for (unsigned i = 0; i < ngot; i++)
				cr_assert_leq(got[i].len, 64u, "a resent %u-byte segment",
					      got[i].len);
		}
		stream_release(&l);
	}
}
