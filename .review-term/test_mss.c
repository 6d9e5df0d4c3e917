#include "../tests/unit/stream/script.h"

TestSuite(review, .init = setup);

/* A pod SYN-ACK with MSS 4 and timestamps: send_mss() underflows. */
Test(review, tiny_mss_underflow)
{
	struct stream_leg l;
	struct stream_cfg cfg = {.pool = pool, .ts = true, .sack = true, .ws = true};
	stream_cfg_defaults(&cfg);
	cr_assert(stream_connect(&l, &cfg, IP_L, P_L, IP_R, P_R, 100, 1, &out));
	collect();
	uint32_t our_ts = got[0].tsval;
	struct fopt fo = {.syn_opts = true, .mss = 4, .ws = 7, .sackok = true, .ts = true,
			  .tsval = 5, .tsecr = our_ts};
	in(&l, 2, F_SYN | F_ACK, 7000, 101, 1000, NULL, 0, &fo);
	collect();
	cr_assert_eq(l.state, STREAM_ESTABLISHED);
	cr_log_warn("peer MSS 4 with timestamps -> l.mss = %u, cwnd = %u", l.mss, l.cwnd);
	cr_expect_leq(l.mss, 1460, "l.mss = %u", l.mss);
	struct fopt fa = {.ts = true, .tsval = 6, .tsecr = our_ts};
	in(&l, 2, F_ACK, 7001, 101, 1000, NULL, 0, &fa); /* window 1000 << 7 */
	collect();
	cr_log_warn("snd_wnd %u", l.snd_wnd);
	/* small writes go (under the 2048-byte data room) */
	static uint8_t b[1000];
	uint32_t now = 3;
	for (int i = 0; i < 66; i++) {
		uint32_t w = stream_write(&l, b, sizeof(b));
		stream_output(&l, now, &out);
		collect();
		if (w == 0)
			break;
	}
	cr_log_warn("in flight %u bytes, unsent %u, nobufs %u", l.snd_max - l.snd_una,
		    0, l.n.nobufs);
	/* the pod never acknowledges: RTO */
	uint32_t d = stream_deadline(&l);
	uint32_t una = l.snd_una;
	stream_timer(&l, d, &out);
	cr_assert_geq(out.n, 1);
	struct rte_mbuf *m = out.pkts[0];
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod(m, struct rte_ipv4_hdr *);
	cr_log_warn("RTO resend: snd_nxt - snd_una = %u bytes 'sent'; mbuf pkt_len %u, IP total %u, "
		    "buf_len %u",
		    l.snd_nxt - una, rte_pktmbuf_pkt_len(m), rte_be_to_cpu_16(ip->total_length),
		    m->buf_len);
	cr_expect_leq(l.snd_nxt - una, (uint32_t)m->buf_len,
		      "copied %u payload bytes into a %u-byte mbuf", l.snd_nxt - una, m->buf_len);
}
