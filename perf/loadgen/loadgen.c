/*
 * loadgen: many HTTP clients and many pods at once, attached to a running gateway through two
 * memif ports (this process is the memif server of both; the gateway connects as client).
 *
 *   client port  ── clients 198.18.1.x:ports → VIP:80 (handshake, request, response, FIN)
 *   pod port     ── pods 198.19.0.x:8080 accepting the gateway's SNAT connections, answering
 *                   every request with a response that names the pod (X-Pod)
 *
 * Real TCP on both sides, without retransmission: memif loses nothing, so anything that does
 * not arrive is the gateway's doing and is counted (a connection that makes no progress for
 * --timeout ms is reset and counted as a timeout). Every response is checked: status 200, the
 * declared length received, and the pod that sent it is one the route allows for the request's
 * host and path. The report (JSON on stdout) gives requests/s, connections/s, packets/s each
 * way, latency percentiles from a log-linear histogram, and every error by kind.
 *
 * One lcore polls both ports. Closed loop: --conns connections run at once, each sending
 * --reqs requests back to back (1: a new connection per request), replaced as they finish,
 * until --duration seconds or --max-requests; --rate caps new requests per second.
 *
 * For the Pktgen scripts (perf/pktgen): --pcap-out writes every frame the clients send to a
 * capture, and --replay sends a capture's frames out of the client port instead of playing
 * clients (the pods still answer), counting what comes back.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "tcp_frame.h"

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#define MAX_CLIENT_IPS 64
#define MAX_PODS       16
#define MAX_ROUTES     16
#define MAX_CONNS      (1u << 20)
#define BURST	       64
#define MSS	       1460
#define WINDOW	       65535
#define NO_SLOT	       UINT32_MAX

/* ---- options ---------------------------------------------------------------------------- */

struct route {
	char host[64], path[64];
	uint32_t pods[MAX_PODS]; /* allowed pod addresses (network order) */
	unsigned n_pods;
	uint64_t requests, wrong_pod;
};

static struct {
	char client_sock[256], pod_sock[256], go_file[256], mark_file[256];
	char replay[256], pcap_out[256];
	unsigned warmup_s;  /* load before the measured window (connections opened, caches warm) */
	unsigned open_rate; /* connections opened per second while warming up (0: no limit) */
	uint32_t vip;
	uint32_t snat[16]; /* the gateway's SNAT addresses the pods may hear from */
	unsigned n_snat;
	unsigned clients, conns, reqs, duration_s, timeout_ms, resp_size, rate;
	unsigned syn_flood; /* spoofed SYNs per second alongside the clients */
	bool blast;	    /* only frames out of the client port, counted on the pod port */
	bool mix;	    /* a fresh route for every request, not one per connection */
	uint64_t max_requests;
	uint32_t pods[MAX_PODS];
	unsigned n_pods;
	struct route routes[MAX_ROUTES];
	unsigned n_routes;
	bool quiet;
} opt = {.vip = 0,
	 .clients = 16,
	 .conns = 64,
	 .reqs = 100,
	 .duration_s = 5,
	 .timeout_ms = 2000,
	 .resp_size = 64};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loadgen --client-sock PATH --pod-sock PATH --vip ADDR "
		"--snat ADDR\n"
		"         --pod ADDR... --route HOST,PATH,POD[+POD...]...\n"
		"         [--clients N] [--conns N] [--reqs N] [--duration S] [--max-requests N]\n"
		"         [--rate REQ_PER_S] [--resp-size BYTES] [--timeout MS] [--quiet]\n"
		"         [--go-file PATH: once the gateway answers, wait for PATH to exist]\n"
		"         [--warmup S: run the load S seconds before the measured window]\n"
		"         [--open-rate N: while warming up, open at most N connections/s]\n"
		"         [--mark-file PATH: create PATH when the measured window starts, "
		"PATH.end\n"
		"          when it ends, PATH.done after the report; then wait (30 s at most) for\n"
		"          PATH.done.ack before the ports stop]\n"
		"         [--pcap-out FILE: write the frames the clients send to a capture]\n"
		"         [--replay FILE: send the capture's frames from the client port at "
		"--rate\n"
		"          frames/s (0: as fast as taken), --reqs times over, instead of clients]\n"
		"         [--mix-per-request: each request on a connection takes the next route\n"
		"          (the gateway then moves the connection between pods every request)]\n"
		"         [--syn-flood PPS: spoofed SYNs from 198.18.128.0/17 alongside]\n"
		"         [--blast: 1400-byte frames out of the client port as fast as it takes\n"
		"          them, counted on the pod port (a forwarder in between; the reference)]\n"
		"         [-- EAL args, e.g. -l 0 --file-prefix=lg]\n"
		"  --route a.example,/,198.19.0.11+198.19.0.12: requests for host a.example, path "
		"/, "
		"may only be\n"
		"  answered by those pods (connections rotate over the routes).\n");
}

static uint32_t addr(const char *s)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "loadgen: not an IPv4 address: %s\n", s);
		exit(2);
	}
	return a.s_addr;
}

static void parse_route(const char *s)
{
	if (opt.n_routes == MAX_ROUTES) {
		fprintf(stderr, "loadgen: at most %d routes\n", MAX_ROUTES);
		exit(2);
	}
	struct route *r = &opt.routes[opt.n_routes++];
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", s);
	char *host = strtok(buf, ","), *path = strtok(NULL, ","), *pods = strtok(NULL, ",");
	if (!host || !path || !pods || strlen(host) >= sizeof(r->host) ||
	    strlen(path) >= sizeof(r->path)) {
		fprintf(stderr, "loadgen: --route HOST,PATH,POD[+POD...]: %s\n", s);
		exit(2);
	}
	strcpy(r->host, host);
	strcpy(r->path, path);
	for (char *p = strtok(pods, "+"); p && r->n_pods < MAX_PODS; p = strtok(NULL, "+"))
		r->pods[r->n_pods++] = addr(p);
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {{"client-sock", 1, 0, 'c'},
					   {"pod-sock", 1, 0, 'p'},
					   {"vip", 1, 0, 'v'},
					   {"snat", 1, 0, 's'},
					   {"pod", 1, 0, 'P'},
					   {"route", 1, 0, 'r'},
					   {"clients", 1, 0, 'C'},
					   {"conns", 1, 0, 'n'},
					   {"reqs", 1, 0, 'k'},
					   {"duration", 1, 0, 'd'},
					   {"max-requests", 1, 0, 'm'},
					   {"rate", 1, 0, 'R'},
					   {"resp-size", 1, 0, 'z'},
					   {"timeout", 1, 0, 't'},
					   {"quiet", 0, 0, 'q'},
					   {"go-file", 1, 0, 'g'},
					   {"syn-flood", 1, 0, 'F'},
					   {"blast", 0, 0, 'B'},
					   {"mix-per-request", 0, 0, 'M'},
					   {"warmup", 1, 0, 'W'},
					   {"open-rate", 1, 0, 'O'},
					   {"mark-file", 1, 0, 'K'},
					   {"replay", 1, 0, 'Y'},
					   {"pcap-out", 1, 0, 'X'},
					   {"help", 0, 0, 'h'},
					   {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			snprintf(opt.client_sock, sizeof(opt.client_sock), "%s", optarg);
			break;
		case 'p':
			snprintf(opt.pod_sock, sizeof(opt.pod_sock), "%s", optarg);
			break;
		case 'v':
			opt.vip = addr(optarg);
			break;
		case 's':
			if (opt.n_snat < 16)
				opt.snat[opt.n_snat++] = addr(optarg);
			break;
		case 'P':
			if (opt.n_pods < MAX_PODS)
				opt.pods[opt.n_pods++] = addr(optarg);
			break;
		case 'r':
			parse_route(optarg);
			break;
		case 'C':
			opt.clients = (unsigned)atoi(optarg);
			break;
		case 'n':
			opt.conns = (unsigned)atoi(optarg);
			break;
		case 'k':
			opt.reqs = (unsigned)atoi(optarg);
			break;
		case 'd':
			opt.duration_s = (unsigned)atoi(optarg);
			break;
		case 'm':
			opt.max_requests = strtoull(optarg, NULL, 10);
			break;
		case 'R':
			opt.rate = (unsigned)atoi(optarg);
			break;
		case 'z':
			opt.resp_size = (unsigned)atoi(optarg);
			break;
		case 't':
			opt.timeout_ms = (unsigned)atoi(optarg);
			break;
		case 'q':
			opt.quiet = true;
			break;
		case 'g':
			snprintf(opt.go_file, sizeof(opt.go_file), "%s", optarg);
			break;
		case 'F':
			opt.syn_flood = (unsigned)atoi(optarg);
			break;
		case 'B':
			opt.blast = true;
			break;
		case 'M':
			opt.mix = true;
			break;
		case 'Y':
			snprintf(opt.replay, sizeof(opt.replay), "%s", optarg);
			break;
		case 'X':
			snprintf(opt.pcap_out, sizeof(opt.pcap_out), "%s", optarg);
			break;
		case 'O':
			opt.open_rate = (unsigned)atoi(optarg);
			break;
		case 'W':
			opt.warmup_s = (unsigned)atoi(optarg);
			break;
		case 'K':
			snprintf(opt.mark_file, sizeof(opt.mark_file), "%s", optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (!opt.client_sock[0] || !opt.pod_sock[0] || !opt.vip || !opt.n_snat ||
	    (!opt.blast && (!opt.n_pods || !opt.n_routes)) || opt.clients == 0 ||
	    opt.clients > MAX_CLIENT_IPS || opt.conns == 0 || opt.conns > MAX_CONNS ||
	    opt.reqs == 0) {
		usage(stderr);
		exit(2);
	}
}

/* ---- counters and the latency histogram --------------------------------------------------- */

/* Log-linear: 16 linear steps per power of two of microseconds, up to about 2^31 us. */
#define HIST_SUB  16
#define HIST_SIZE (32 * HIST_SUB)
static uint64_t hist[HIST_SIZE];

static unsigned hist_index(uint64_t us)
{
	if (us < HIST_SUB)
		return (unsigned)us;
	unsigned e = 63 - (unsigned)__builtin_clzll(us); /* us in [2^e, 2^(e+1)) */
	unsigned sub = (unsigned)((us >> (e - 4)) & (HIST_SUB - 1));
	unsigned i = (e - 3) * HIST_SUB + sub;
	return i < HIST_SIZE ? i : HIST_SIZE - 1;
}

static uint64_t hist_value(unsigned i) /* the bucket's upper bound */
{
	if (i < HIST_SUB)
		return i;
	unsigned e = i / HIST_SUB + 3, sub = i % HIST_SUB;
	return ((uint64_t)(HIST_SUB + sub + 1) << (e - 4)) - 1;
}

static uint64_t hist_pct(uint64_t total, double p)
{
	uint64_t want = (uint64_t)((double)total * p + 0.999999), seen = 0;
	for (unsigned i = 0; i < HIST_SIZE; i++) {
		seen += hist[i];
		if (seen >= want && want)
			return hist_value(i);
	}
	return 0;
}

static struct {
	uint64_t requests, connections, conn_started;
	uint64_t pkts_to_gw, pkts_from_gw, bytes_to_gw, bytes_from_gw;
	uint64_t err_timeout, err_connect, err_reset, err_status, err_bad_response, err_wrong_pod,
		err_no_mbuf;
	uint64_t err_close; /* a connection whose close did not complete */
	uint64_t out_of_order, unknown_packets, tx_full, late_acks;
	uint64_t flood_syns, flood_replies, blast_tx, blast_rx;
	uint64_t replay_sent, replay_rx, replay_no_mbuf;
	uint64_t lat_max_us;
} st;

/* ---- ports and frames --------------------------------------------------------------------- */

static struct rte_mempool *pool;
static uint16_t port_c, port_p;
static struct rte_ether_addr mac_c, mac_p, gw_mac_c, gw_mac_p;
static bool have_gw_c, have_gw_p;
static struct rte_mbuf *txq[2][BURST * 4];
static uint16_t n_txq[2];
static uint64_t hz;

static void flush(int side)
{
	uint16_t port = side ? port_p : port_c;
	uint16_t sent = 0;
	for (int tries = 0; sent < n_txq[side] && tries < 1000; tries++)
		sent += rte_eth_tx_burst(port, 0, txq[side] + sent, (uint16_t)(n_txq[side] - sent));
	if (sent < n_txq[side]) {
		st.tx_full += n_txq[side] - sent;
		rte_pktmbuf_free_bulk(txq[side] + sent, n_txq[side] - sent);
	}
	n_txq[side] = 0;
}

static pcap_t *pcap_dead;	/* --pcap-out: the capture's format */
static pcap_dumper_t *pcap_out; /* and the clients' frames */

static void emit(int side, struct rte_mbuf *m)
{
	if (pcap_out && side == 0) {
		struct pcap_pkthdr h = {.caplen = rte_pktmbuf_data_len(m),
					.len = rte_pktmbuf_data_len(m)};
		gettimeofday(&h.ts, NULL);
		pcap_dump((u_char *)pcap_out, &h, rte_pktmbuf_mtod(m, const u_char *));
	}
	if (n_txq[side] == RTE_DIM(txq[side]))
		flush(side);
	txq[side][n_txq[side]++] = m;
	st.pkts_to_gw++;
	st.bytes_to_gw += rte_pktmbuf_pkt_len(m);
}

/* A TCP segment from (sip, sport) to (dip, dport) on a side; payload from `fill`. */
static struct rte_mbuf *segment(int side, uint32_t sip, uint32_t dip, uint16_t sport,
				uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
				uint16_t len,
				void (*fill)(void *arg, uint32_t off, uint8_t *d, uint16_t n),
				void *arg, uint32_t off)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	if (m == NULL) {
		st.err_no_mbuf++;
		return NULL;
	}
	const struct tcp_frame f = {
		.src_mac = side ? &mac_p : &mac_c,
		.dst_mac = side ? &gw_mac_p : &gw_mac_c,
		.src_ip = sip,
		.dst_ip = dip,
		.src_port = sport,
		.dst_port = dport,
		.seq = seq,
		.ack = ack,
		.flags = flags,
		.window = WINDOW,
		.mss = (flags & RTE_TCP_SYN_FLAG) ? MSS : 0,
		.payload_len = len,
	};
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, tcp_frame_len(&f));
	uint8_t *p = tcp_frame_headers(d, &f);
	if (len)
		fill(arg, off, p, len);
	tcp_frame_checksum(d);
	return m;
}

static void send_arp(int side, uint16_t op, uint32_t sip, uint32_t tip,
		     const struct rte_ether_addr *tha)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	if (m == NULL)
		return;
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, 14 + sizeof(struct rte_arp_hdr));
	struct rte_ether_hdr *eh = (void *)d;
	const struct rte_ether_addr *me = side ? &mac_p : &mac_c;
	static const struct rte_ether_addr bcast = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
	eh->src_addr = *me;
	eh->dst_addr = op == RTE_ARP_OP_REQUEST ? bcast : *tha;
	eh->ether_type = htons(RTE_ETHER_TYPE_ARP);
	struct rte_arp_hdr *a = (void *)(eh + 1);
	a->arp_hardware = htons(RTE_ARP_HRD_ETHER);
	a->arp_protocol = htons(RTE_ETHER_TYPE_IPV4);
	a->arp_hlen = 6;
	a->arp_plen = 4;
	a->arp_opcode = htons(op);
	a->arp_data.arp_sha = *me;
	a->arp_data.arp_sip = sip;
	memset(&a->arp_data.arp_tha, 0, 6);
	if (op == RTE_ARP_OP_REPLY)
		a->arp_data.arp_tha = *tha;
	a->arp_data.arp_tip = tip;
	emit(side, m);
}

/* ---- clients ------------------------------------------------------------------------------ */

enum {
	C_FREE,
	C_SYN_SENT,
	C_IDLE,
	C_WAIT_RESP,
	C_CLOSING
};

struct cconn {
	uint8_t state;
	uint8_t client; /* client address index */
	uint16_t port;
	uint32_t snd_nxt, rcv_nxt;
	uint32_t reqs_done;
	uint16_t route;
	bool need_ack, last;
	bool fin_rcvd; /* the gateway's FIN is in: our FIN ends the connection here */
	uint64_t t_req, deadline;
	/* the response being read */
	char hdr[512];
	uint16_t hdr_len;
	bool hdr_done;
	uint32_t body_want, body_got;
	uint32_t pod;
	uint16_t status;
	char req[256];
	uint16_t req_len;
};

static struct cconn *cc;
static uint32_t *c_slot; /* [client][port] -> slot */
static uint32_t client_base;
static uint16_t next_port[MAX_CLIENT_IPS];
static uint32_t isn_seq = 0x10000;
static uint32_t ack_list[MAX_CONNS];
static uint32_t n_ack_list;
static unsigned route_rr;
static bool stopping;
static uint32_t n_handshakes; /* connections in SYN_SENT: opening is paced by it */
static uint32_t n_live;	      /* connections not C_FREE */
static uint32_t n_closing;    /* connections in C_CLOSING: closing when stopping is paced too */
static uint64_t reqs_started; /* requests sent, for --max-requests */
static bool holding;	      /* the caller is reading the gateway's counters: nothing new starts */
#define MAX_HANDSHAKES 128
static uint64_t req_tokens, last_token_tsc;
static uint64_t open_tokens, last_open_tsc;

static void mark(void)
{
	if (opt.mark_file[0]) {
		FILE *f = fopen(opt.mark_file, "w");
		if (f)
			fclose(f);
	}
}

/* Answer the gateway, starting nothing new, until the caller has read its counters for a
 * mark (it creates the mark file with SUFFIX appended), or two seconds pass. */
static void poll_side(int side, uint64_t now);
static void wait_ack(const char *suffix)
{
	char path[sizeof(opt.mark_file) + 16];
	if (!opt.mark_file[0])
		return;
	snprintf(path, sizeof(path), "%s%s", opt.mark_file, suffix);
	holding = true;
	uint64_t t0 = rte_rdtsc(), next = t0;
	for (uint64_t now = t0; now - t0 < 2 * hz; now = rte_rdtsc()) {
		if (now >= next) {
			if (access(path, F_OK) == 0)
				break;
			next = now + hz / 1000;
		}
		poll_side(0, now);
		poll_side(1, now);
		flush(0);
		flush(1);
	}
	holding = false;
}

/* The measured window is over (connections are closed after it). */
static void mark_end(void)
{
	char path[sizeof(opt.mark_file) + 8];
	if (opt.mark_file[0]) {
		snprintf(path, sizeof(path), "%s.end", opt.mark_file);
		FILE *f = fopen(path, "w");
		if (f)
			fclose(f);
	}
}

/* The report is out. With a mark file, the ports stay up until the harness says so
 * (PATH.done, then PATH.done.ack): it stops the gateway first, so the gateway never polls a
 * memif whose peer just left (the driver can fault in a receive burst). Every way out of a run
 * comes through here. */
static void hold_ports_until_acked(void)
{
	if (!opt.mark_file[0])
		return;
	char path[sizeof(opt.mark_file) + 16];
	snprintf(path, sizeof(path), "%s.done", opt.mark_file);
	FILE *f = fopen(path, "w");
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s.done.ack", opt.mark_file);
	for (int i = 0; i < 3000 && access(path, F_OK) != 0; i++)
		usleep(10000); /* 30 s at most */
}

static uint32_t client_ip(unsigned i)
{
	return htonl(ntohl(client_base) + i);
}

static void fill_req(void *arg, uint32_t off, uint8_t *d, uint16_t n)
{
	const struct cconn *c = arg;
	memcpy(d, c->req + off, n);
}

static void c_release(uint32_t s)
{
	struct cconn *c = &cc[s];
	if (c->state == C_SYN_SENT)
		n_handshakes--;
	else if (c->state == C_CLOSING)
		n_closing--;
	c_slot[(size_t)c->client * 65536 + c->port] = NO_SLOT;
	c->state = C_FREE;
	n_live--;
}

/* Whether a request may start now: not once stopping, and within --rate. */
static bool may_start_request(void)
{
	if (stopping)
		return false;
	if (opt.rate == 0)
		return true;
	uint64_t now = rte_rdtsc();
	uint64_t add = (now - last_token_tsc) * opt.rate / hz;
	if (add) {
		req_tokens = RTE_MIN(req_tokens + add, (uint64_t)opt.rate / 10 + 1);
		last_token_tsc = now;
	}
	if (req_tokens == 0)
		return false;
	req_tokens--;
	return true;
}

/* While warming up: whether a connection may open now, within --open-rate. */
static bool may_open_warming(uint64_t now)
{
	if (opt.open_rate == 0)
		return true;
	uint64_t add = (now - last_open_tsc) * opt.open_rate / hz;
	if (add) {
		open_tokens = RTE_MIN(open_tokens + add, (uint64_t)opt.open_rate / 100 + 1);
		last_open_tsc = now;
	}
	if (open_tokens == 0)
		return false;
	open_tokens--;
	return true;
}

static void c_open(uint32_t s, uint64_t now)
{
	struct cconn *c = &cc[s];
	memset(c, 0, offsetof(struct cconn, hdr));
	c->client = (uint8_t)(s % opt.clients);
	c->route = (uint16_t)(route_rr++ % opt.n_routes);
	/* A fresh port each time: a closed connection lingers at the gateway for seconds. */
	uint16_t p;
	do {
		p = next_port[c->client]++;
		if (p < 1024)
			p = next_port[c->client] = 1024;
	} while (c_slot[(size_t)c->client * 65536 + p] != NO_SLOT);
	c->port = p;
	c_slot[(size_t)c->client * 65536 + p] = s;
	isn_seq += 0x01000193;
	c->snd_nxt = isn_seq;
	c->state = C_SYN_SENT;
	n_handshakes++;
	n_live++;
	c->deadline = now + (uint64_t)opt.timeout_ms * hz / 1000;
	st.conn_started++;
	struct rte_mbuf *m = segment(0, client_ip(c->client), opt.vip, c->port, 80, c->snd_nxt, 0,
				     RTE_TCP_SYN_FLAG, 0, NULL, NULL, 0);
	c->snd_nxt++;
	if (m)
		emit(0, m);
}

static void c_send_request(uint32_t s, uint64_t now)
{
	struct cconn *c = &cc[s];
	if (opt.mix && c->reqs_done) /* this connection's next route, so every request moves */
		c->route = (uint16_t)((c->route + 1) % opt.n_routes);
	const struct route *r = &opt.routes[c->route];
	c->last = c->reqs_done + 1 >= opt.reqs || stopping;
	c->req_len =
		(uint16_t)snprintf(c->req, sizeof(c->req),
				   "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sluice-loadgen\r\n"
				   "%s\r\n",
				   r->path, r->host, c->last ? "Connection: close\r\n" : "");
	c->hdr_len = 0;
	c->hdr_done = false;
	c->body_want = c->body_got = 0;
	c->pod = 0;
	c->status = 0;
	c->t_req = now;
	c->deadline = now + (uint64_t)opt.timeout_ms * hz / 1000;
	c->state = C_WAIT_RESP;
	reqs_started++;
	struct rte_mbuf *m =
		segment(0, client_ip(c->client), opt.vip, c->port, 80, c->snd_nxt, c->rcv_nxt,
			RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, c->req_len, fill_req, c, 0);
	c->snd_nxt += c->req_len;
	c->need_ack = false;
	if (m)
		emit(0, m);
}

static void c_fail(uint32_t s, uint64_t *counter)
{
	struct cconn *c = &cc[s];
	if (getenv("LG_DEBUG"))
		fprintf(stderr,
			"%s: stopping %d state %u client %u port %u reqs %u route %u hdr_done %d "
			"want %u got %u "
			"hdr [%.*s]\n",
			counter == &st.err_timeout ? "timeout" : "failed", stopping, c->state,
			c->client, c->port, c->reqs_done, c->route, c->hdr_done, c->body_want,
			c->body_got, c->hdr_len, c->hdr);
	(*counter)++;
	struct rte_mbuf *m =
		segment(0, client_ip(c->client), opt.vip, c->port, 80, c->snd_nxt, c->rcv_nxt,
			RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG, 0, NULL, NULL, 0);
	if (m)
		emit(0, m);
	c_release(s);
}

static bool route_allows(const struct route *r, uint32_t pod)
{
	for (unsigned i = 0; i < r->n_pods; i++)
		if (r->pods[i] == pod)
			return true;
	return false;
}

/* The response head is complete: status, length and the pod that answered. */
static bool c_parse_head(struct cconn *c)
{
	c->hdr[c->hdr_len] = '\0';
	if (strncmp(c->hdr, "HTTP/1.1 ", 9) != 0)
		return false;
	c->status = (uint16_t)atoi(c->hdr + 9);
	const char *cl = strcasestr(c->hdr, "\r\ncontent-length:");
	if (cl == NULL)
		return false;
	c->body_want = (uint32_t)strtoul(cl + 17, NULL, 10);
	const char *xp = strcasestr(c->hdr, "\r\nx-pod:");
	if (xp) {
		char a[32];
		if (sscanf(xp + 8, " %31[0-9.]", a) == 1)
			inet_pton(AF_INET, a, &c->pod);
	}
	return true;
}

/* One ACK per connection per burst, sent after the burst (client_acks). */
static void ack_later(uint32_t s)
{
	if (!cc[s].need_ack) {
		cc[s].need_ack = true;
		ack_list[n_ack_list++] = s;
	}
}

static void c_close(uint32_t s, uint64_t now);

static void c_request_done(uint32_t s, uint64_t now)
{
	struct cconn *c = &cc[s];
	struct route *r = &opt.routes[c->route];
	if (c->status != 200) {
		st.err_status++;
	} else if (!route_allows(r, c->pod)) {
		st.err_wrong_pod++;
		r->wrong_pod++;
	} else {
		st.requests++;
		r->requests++;
		uint64_t us = (now - c->t_req) * 1000000 / hz;
		hist[hist_index(us)]++;
		if (us > st.lat_max_us)
			st.lat_max_us = us;
	}
	c->reqs_done++;
	if (holding) {
		c->state = C_IDLE; /* closed or continued once the caller has read its counters */
		c->deadline = now + 3600 * hz;
	} else if (c->last || c->fin_rcvd || (stopping && n_closing < MAX_HANDSHAKES)) {
		c_close(s, now);
	} else if (may_start_request()) {
		c_send_request(s, now);
	} else {
		c->state = C_IDLE; /* the next request waits for --rate */
		c->deadline = now + 3600 * hz;
	}
}

/* Close: our FIN (the pod closes too after a last request). */
static void c_close(uint32_t s, uint64_t now)
{
	struct cconn *c = &cc[s];
	c->state = C_CLOSING;
	n_closing++;
	c->deadline = now + (uint64_t)opt.timeout_ms * hz / 1000;
	struct rte_mbuf *m =
		segment(0, client_ip(c->client), opt.vip, c->port, 80, c->snd_nxt, c->rcv_nxt,
			RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, 0, NULL, NULL, 0);
	c->snd_nxt++;
	c->need_ack = false;
	if (m)
		emit(0, m);
	if (c->fin_rcvd) /* the gateway closed first (held while the window's end was read) */
		c_release(s);
}

static void client_packet(struct rte_mbuf *m, uint64_t now)
{
	const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, const void *, 14);
	uint32_t ci = ntohl(ip->dst_addr) - ntohl(client_base);
	if ((ntohl(ip->dst_addr) & 0xffff8000u) == 0xc6128000u) {
		st.flood_replies++; /* the gateway's answer to a spoofed SYN */
		return;
	}
	if (ip->next_proto_id != IPPROTO_TCP || ci >= opt.clients) {
		st.unknown_packets++;
		return;
	}
	uint16_t ihl = (uint16_t)((ip->version_ihl & 0xf) * 4);
	const struct rte_tcp_hdr *th = (const void *)((const uint8_t *)ip + ihl);
	uint32_t s = c_slot[(size_t)ci * 65536 + ntohs(th->dst_port)];
	if (s == NO_SLOT) {
		/* The last ACK of a connection already closed here is expected; anything else is
		 * not. */
		if (th->tcp_flags == RTE_TCP_ACK_FLAG &&
		    ntohs(ip->total_length) == ihl + ((th->data_off >> 4) * 4))
			st.late_acks++;
		else
			st.unknown_packets++;
		return;
	}
	struct cconn *c = &cc[s];
	uint8_t fl = th->tcp_flags;
	uint32_t seq = ntohl(th->sent_seq);
	uint16_t doff = (uint16_t)((th->data_off >> 4) * 4);
	uint16_t plen = (uint16_t)(ntohs(ip->total_length) - ihl - doff);
	const uint8_t *data = (const uint8_t *)th + doff;
	if (fl & RTE_TCP_RST_FLAG) {
		if (c->state != C_CLOSING)
			st.err_reset++;
		c_release(s);
		return;
	}
	c->deadline = now + (uint64_t)opt.timeout_ms * hz / 1000;
	if (c->state == C_SYN_SENT) {
		if ((fl & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) !=
		    (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG))
			return;
		c->rcv_nxt = seq + 1;
		c->state = C_IDLE;
		n_handshakes--;
		st.connections++;
		/* The handshake's last ACK rides on the request, as a browser's does: the request
		 * was counted against --rate when the connection opened. */
		if (!stopping && !holding)
			c_send_request(s, now);
		else
			ack_later(s);
		return;
	}
	if (plen == 0 && !(fl & RTE_TCP_FIN_FLAG))
		return; /* a bare ACK */
	if (seq != c->rcv_nxt) {
		st.out_of_order++;
		ack_later(s);
		return;
	}
	c->rcv_nxt += plen;
	if (fl & RTE_TCP_FIN_FLAG) {
		c->rcv_nxt++;
		c->fin_rcvd = true;
	}
	ack_later(s);
	if (c->state == C_WAIT_RESP && plen) {
		uint16_t used = 0;
		if (!c->hdr_done) {
			while (used < plen && c->hdr_len < sizeof(c->hdr) - 1) {
				c->hdr[c->hdr_len++] = (char)data[used++];
				if (c->hdr_len >= 4 &&
				    memcmp(c->hdr + c->hdr_len - 4, "\r\n\r\n", 4) == 0)
					break;
			}
			if (c->hdr_len >= 4 &&
			    memcmp(c->hdr + c->hdr_len - 4, "\r\n\r\n", 4) == 0) {
				c->hdr_done = true;
				if (!c_parse_head(c)) {
					c_fail(s, &st.err_bad_response);
					return;
				}
			} else if (c->hdr_len >= sizeof(c->hdr) - 1) {
				c_fail(s, &st.err_bad_response);
				return;
			}
		}
		c->body_got += plen - used;
		if (c->hdr_done && c->body_got >= c->body_want) {
			if (c->body_got > c->body_want) {
				c_fail(s, &st.err_bad_response);
				return;
			}
			c_request_done(s, now);
		}
	}
	if ((fl & RTE_TCP_FIN_FLAG) && c->state == C_CLOSING) {
		/* Both FINs: acknowledge the pod's and let the slot go. */
		struct rte_mbuf *a =
			segment(0, client_ip(c->client), opt.vip, c->port, 80, c->snd_nxt,
				c->rcv_nxt, RTE_TCP_ACK_FLAG, 0, NULL, NULL, 0);
		if (a)
			emit(0, a);
		c->need_ack = false;
		c_release(s);
	} else if ((fl & RTE_TCP_FIN_FLAG) && c->state == C_WAIT_RESP) {
		c_fail(s, &st.err_bad_response); /* the pod closed before answering */
	}
}

static void client_acks(void)
{
	for (uint32_t i = 0; i < n_ack_list; i++) {
		struct cconn *c = &cc[ack_list[i]];
		if (!c->need_ack || c->state == C_FREE)
			continue;
		c->need_ack = false;
		struct rte_mbuf *m =
			segment(0, client_ip(c->client), opt.vip, c->port, 80, c->snd_nxt,
				c->rcv_nxt, RTE_TCP_ACK_FLAG, 0, NULL, NULL, 0);
		if (m)
			emit(0, m);
	}
	n_ack_list = 0;
}

/* ---- pods --------------------------------------------------------------------------------- */

enum {
	P_FREE,
	P_SYN_RCVD,
	P_OPEN,
	P_CLOSED
};

struct pconn {
	uint8_t state;
	uint8_t pod;
	uint8_t snat;				     /* index of the gateway's SNAT address */
	uint16_t sport;				     /* the gateway's SNAT port */
	uint32_t rcv_nxt, snd_una, snd_nxt, snd_end; /* snd_end: end of the response queued */
	uint32_t resp_base;			     /* sequence number of the response's byte 0 */
	bool close_after, fin_sent, fin_rcvd;
	char req[1024];
	uint16_t req_len;
	char head[256];
	uint16_t head_len;
	uint32_t resp_len;
	uint32_t next; /* free list */
	uint64_t deadline;
};

static struct pconn *pc;
static uint32_t *p_slot; /* [pod][sport] -> slot */
static uint32_t p_free;
static uint32_t max_pconns; /* twice the clients' connections: room for closing ones */

static int pod_index(uint32_t a)
{
	for (unsigned i = 0; i < opt.n_pods; i++)
		if (opt.pods[i] == a)
			return (int)i;
	return -1;
}

static void fill_resp(void *arg, uint32_t off, uint8_t *d, uint16_t n)
{
	const struct pconn *p = arg;
	for (uint16_t i = 0; i < n; i++) {
		uint32_t o = off + i;
		d[i] = o < p->head_len ? (uint8_t)p->head[o] : (uint8_t)('a' + o % 26);
	}
}

static void p_release(uint32_t s)
{
	struct pconn *p = &pc[s];
	p_slot[((size_t)p->snat * opt.n_pods + p->pod) * 65536 + p->sport] = NO_SLOT;
	p->state = P_FREE;
	p->next = p_free;
	p_free = s;
}

/* Send what the window allows of the queued response, and the FIN after it. */
static void p_push(uint32_t s)
{
	struct pconn *p = &pc[s];
	uint32_t pod = opt.pods[p->pod];
	while ((int32_t)(p->snd_end - p->snd_nxt) > 0 && p->snd_nxt - p->snd_una < WINDOW) {
		uint32_t n = RTE_MIN(p->snd_end - p->snd_nxt, (uint32_t)MSS);
		n = RTE_MIN(n, WINDOW - (p->snd_nxt - p->snd_una));
		bool fin = p->close_after && p->snd_nxt + n == p->snd_end;
		struct rte_mbuf *m =
			segment(1, pod, opt.snat[p->snat], 8080, p->sport, p->snd_nxt, p->rcv_nxt,
				(uint8_t)(RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG |
					  (fin ? RTE_TCP_FIN_FLAG : 0)),
				(uint16_t)n, fill_resp, p, p->snd_nxt - p->resp_base);
		if (m == NULL)
			return;
		emit(1, m);
		p->snd_nxt += n + (fin ? 1 : 0);
		if (fin)
			p->fin_sent = true;
	}
}

static void p_answer(uint32_t s)
{
	struct pconn *p = &pc[s];
	p->req[p->req_len] = '\0';
	p->close_after = strcasestr(p->req, "\r\nconnection: close") != NULL;
	char a[INET_ADDRSTRLEN];
	struct in_addr in = {.s_addr = opt.pods[p->pod]};
	inet_ntop(AF_INET, &in, a, sizeof(a));
	p->head_len =
		(uint16_t)snprintf(p->head, sizeof(p->head),
				   "HTTP/1.1 200 OK\r\nContent-Length: %u\r\nX-Pod: %s\r\n%s\r\n",
				   opt.resp_size, a, p->close_after ? "Connection: close\r\n" : "");
	p->resp_base = p->snd_nxt;
	p->snd_end = p->snd_nxt + p->head_len + opt.resp_size;
	p->req_len = 0;
	p_push(s);
}

static void pod_packet(struct rte_mbuf *m, uint64_t now)
{
	const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, const void *, 14);
	int pi = pod_index(ip->dst_addr);
	int si = -1;
	for (unsigned i = 0; i < opt.n_snat; i++)
		if (opt.snat[i] == ip->src_addr)
			si = (int)i;
	if (ip->next_proto_id != IPPROTO_TCP || pi < 0 || si < 0) {
		st.unknown_packets++;
		return;
	}
	uint16_t ihl = (uint16_t)((ip->version_ihl & 0xf) * 4);
	const struct rte_tcp_hdr *th = (const void *)((const uint8_t *)ip + ihl);
	uint16_t sport = ntohs(th->src_port);
	uint8_t fl = th->tcp_flags;
	uint32_t seq = ntohl(th->sent_seq), ack = ntohl(th->recv_ack);
	uint16_t doff = (uint16_t)((th->data_off >> 4) * 4);
	uint16_t plen = (uint16_t)(ntohs(ip->total_length) - ihl - doff);
	size_t key = ((size_t)si * opt.n_pods + (size_t)pi) * 65536 + sport;
	uint32_t s = p_slot[key];
	if (fl & RTE_TCP_SYN_FLAG) {
		if (s != NO_SLOT) {
			if (pc[s].state == P_SYN_RCVD) /* a repeated SYN: answer again */
				goto synack;
			p_release(s); /* a new connection on a reused port */
		}
		if (p_free == NO_SLOT) {
			st.unknown_packets++;
			return;
		}
		s = p_free;
		p_free = pc[s].next;
		struct pconn *p = &pc[s];
		memset(p, 0, offsetof(struct pconn, req));
		p->state = P_SYN_RCVD;
		p->pod = (uint8_t)pi;
		p->sport = sport;
		p->rcv_nxt = seq + 1;
		p->snd_una = p->snd_nxt = (uint32_t)(rte_rdtsc() >> 4) | 1;
		p->snat = (uint8_t)si;
		p_slot[key] = s;
	synack:;
		struct pconn *q = &pc[s];
		struct rte_mbuf *r =
			segment(1, opt.pods[pi], opt.snat[q->snat], 8080, sport, q->snd_una,
				q->rcv_nxt, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, 0, NULL, NULL, 0);
		q->snd_nxt = q->snd_end = q->snd_una + 1; /* nothing queued to send yet */
		if (r)
			emit(1, r);
		return;
	}
	if (s == NO_SLOT)
		return; /* after our release: stray ACKs and RSTs */
	struct pconn *p = &pc[s];
	p->deadline = now + 30 * hz;
	if (fl & RTE_TCP_RST_FLAG) {
		p_release(s);
		return;
	}
	if (p->state == P_SYN_RCVD && (fl & RTE_TCP_ACK_FLAG) && ack == p->snd_nxt) {
		p->state = P_OPEN;
		p->snd_una = ack;
	}
	if ((fl & RTE_TCP_ACK_FLAG) && (int32_t)(ack - p->snd_una) > 0 &&
	    (int32_t)(ack - p->snd_nxt) <= 0)
		p->snd_una = ack;
	bool advanced = false;
	if (plen && seq == p->rcv_nxt) {
		const uint8_t *d = (const uint8_t *)th + doff;
		uint16_t take = RTE_MIN(plen, (uint16_t)(sizeof(p->req) - 1 - p->req_len));
		memcpy(p->req + p->req_len, d, take);
		p->req_len = (uint16_t)(p->req_len + take);
		p->rcv_nxt += plen;
		advanced = true;
	} else if (plen) {
		st.out_of_order++;
	}
	if ((fl & RTE_TCP_FIN_FLAG) && seq + plen == p->rcv_nxt && !p->fin_rcvd) {
		p->fin_rcvd = true;
		p->rcv_nxt++;
		advanced = true;
	}
	bool answered = false;
	if (advanced && p->req_len >= 4 && (int32_t)(p->snd_end - p->snd_nxt) <= 0) {
		p->req[p->req_len] = '\0';
		if (strstr(p->req, "\r\n\r\n")) {
			p_answer(s);
			answered = true;
		}
	}
	if (!answered)
		p_push(s);
	if (advanced && !answered) {
		struct rte_mbuf *a =
			segment(1, opt.pods[p->pod], opt.snat[p->snat], 8080, p->sport, p->snd_nxt,
				p->rcv_nxt, RTE_TCP_ACK_FLAG, 0, NULL, NULL, 0);
		if (a)
			emit(1, a);
	}
	if (p->fin_rcvd && !p->fin_sent && (int32_t)(p->snd_end - p->snd_nxt) <= 0) {
		/* The client closed: close too. */
		struct rte_mbuf *f =
			segment(1, opt.pods[p->pod], opt.snat[p->snat], 8080, p->sport, p->snd_nxt,
				p->rcv_nxt, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, 0, NULL, NULL, 0);
		p->snd_nxt++;
		p->fin_sent = true;
		if (f)
			emit(1, f);
	}
	if (p->fin_rcvd && p->fin_sent && p->snd_una == p->snd_nxt)
		p_release(s);
}

/* ---- the loop ----------------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;
static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void arp_packet(int side, struct rte_mbuf *m)
{
	const struct rte_arp_hdr *a = rte_pktmbuf_mtod_offset(m, const void *, 14);
	uint16_t op = ntohs(a->arp_opcode);
	if (side == 0) {
		if (a->arp_data.arp_sip == opt.vip) {
			gw_mac_c = a->arp_data.arp_sha;
			have_gw_c = true;
		}
		uint32_t ci = ntohl(a->arp_data.arp_tip) - ntohl(client_base);
		if (op == RTE_ARP_OP_REQUEST && ci < opt.clients)
			send_arp(0, RTE_ARP_OP_REPLY, a->arp_data.arp_tip, a->arp_data.arp_sip,
				 &a->arp_data.arp_sha);
	} else {
		if (a->arp_data.arp_sip == opt.snat[0]) {
			gw_mac_p = a->arp_data.arp_sha;
			have_gw_p = true;
		}
		if (op == RTE_ARP_OP_REQUEST && pod_index(a->arp_data.arp_tip) >= 0)
			send_arp(1, RTE_ARP_OP_REPLY, a->arp_data.arp_tip, a->arp_data.arp_sip,
				 &a->arp_data.arp_sha);
	}
}

static void poll_side(int side, uint64_t now)
{
	struct rte_mbuf *pk[BURST];
	uint16_t n = rte_eth_rx_burst(side ? port_p : port_c, 0, pk, BURST);
	if (opt.blast) {
		if (side)
			st.blast_rx += n;
		rte_pktmbuf_free_bulk(pk, n);
		return;
	}
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pk[i];
		st.pkts_from_gw++;
		st.bytes_from_gw += rte_pktmbuf_pkt_len(m);
		const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const void *);
		if (rte_pktmbuf_data_len(m) < 14 + 20) {
			st.unknown_packets++;
		} else if (eh->ether_type == htons(RTE_ETHER_TYPE_ARP)) {
			arp_packet(side, m);
		} else if (eh->ether_type == htons(RTE_ETHER_TYPE_IPV4) && side == 0 &&
			   opt.replay[0]) {
			st.replay_rx++; /* the gateway's answer to a replayed frame */
		} else if (eh->ether_type == htons(RTE_ETHER_TYPE_IPV4)) {
			if (side) {
				if (!have_gw_p) {
					gw_mac_p = eh->src_addr;
					have_gw_p = true;
				}
				pod_packet(m, now);
			} else {
				client_packet(m, now);
			}
		}
		rte_pktmbuf_free(m);
	}
	if (side == 0)
		client_acks();
}

static void fill_x(void *arg, uint32_t off, uint8_t *d, uint16_t n)
{
	(void)arg;
	(void)off;
	memset(d, 'x', n);
}

/* Spoofed SYNs, due at --syn-flood per second since `since`. */
static void flood(uint64_t now, uint64_t *since)
{
	uint64_t due = (now - *since) * opt.syn_flood / hz;
	if (due == 0)
		return;
	*since = now;
	static uint64_t r = 0x9e3779b97f4a7c15ull;
	for (uint64_t i = 0; i < RTE_MIN(due, (uint64_t)BURST); i++) {
		r = r * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t src = htonl(0xc6128000u | (uint32_t)((r >> 33) & 0x7fff));
		struct rte_mbuf *m =
			segment(0, src, opt.vip, (uint16_t)(1024 + (r >> 17) % 60000), 80,
				(uint32_t)r, 0, RTE_TCP_SYN_FLAG, 0, NULL, NULL, 0);
		if (m == NULL)
			return;
		emit(0, m);
		st.flood_syns++;
	}
}

/* The reference: frames as large as spliced data, out of one port, counted on the other. */
static void blast(uint64_t end)
{
	struct rte_mbuf *b[32];
	while (!interrupted && rte_rdtsc() < end) {
		unsigned k = 0;
		for (; k < 32; k++) {
			b[k] = segment(0, client_ip(0), opt.vip, 1024, 80, 1, 1, RTE_TCP_ACK_FLAG,
				       1400, fill_x, NULL, 0);
			if (b[k] == NULL)
				break;
		}
		uint16_t sent = rte_eth_tx_burst(port_c, 0, b, (uint16_t)k);
		st.blast_tx += sent;
		if (sent < k)
			rte_pktmbuf_free_bulk(b + sent, k - sent);
		poll_side(1, 0);
	}
}

/* --replay: the capture's frames, readdressed to the gateway's MAC, sent --reqs times over at
 * --rate frames/s; the pods answer meanwhile. */
struct frame {
	uint16_t len;
	uint8_t *data;
};

static struct frame *load_capture(const char *path, uint32_t *n)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(path, err);
	if (pc == NULL) {
		fprintf(stderr, "loadgen: %s: %s\n", path, err);
		exit(2);
	}
	if (pcap_datalink(pc) != DLT_EN10MB) {
		fprintf(stderr, "loadgen: %s: not an Ethernet capture\n", path);
		exit(2);
	}
	struct frame *f = NULL;
	uint32_t cap = 0;
	*n = 0;
	struct pcap_pkthdr *h;
	const u_char *d;
	while (pcap_next_ex(pc, &h, &d) == 1) {
		if (h->caplen == 0 || h->caplen > RTE_MBUF_DEFAULT_DATAROOM)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 1024;
			f = realloc(f, sizeof(*f) * cap);
		}
		if (f == NULL || (f[*n].data = malloc(h->caplen)) == NULL) {
			fprintf(stderr, "loadgen: out of memory reading %s\n", path);
			exit(2);
		}
		memcpy(f[*n].data, d, h->caplen);
		f[*n].len = (uint16_t)h->caplen;
		(*n)++;
	}
	pcap_close(pc);
	return f;
}

static void replay(const struct frame *f, uint32_t n)
{
	uint64_t start = rte_rdtsc();
	for (unsigned loop = 0; loop < opt.reqs && !interrupted; loop++) {
		for (uint32_t i = 0; i < n && !interrupted; i++) {
			uint64_t now = rte_rdtsc();
			while (opt.rate && st.replay_sent * hz / opt.rate > now - start) {
				flush(0);
				poll_side(0, now);
				poll_side(1, now);
				flush(1);
				now = rte_rdtsc();
			}
			struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
			if (m == NULL) {
				st.replay_no_mbuf++;
				continue;
			}
			uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, f[i].len);
			memcpy(d, f[i].data, f[i].len);
			/* To the gateway's MAC; the source stays as captured (a hostile one may be
			 * the point of the frame). */
			memcpy(d, &gw_mac_c, RTE_MIN(f[i].len, 6));
			emit(0, m);
			st.replay_sent++;
			if ((st.replay_sent & 31) == 0) {
				flush(0);
				poll_side(0, now);
				poll_side(1, now);
				flush(1);
			}
		}
	}
	flush(0);
	/* What the gateway still has to say (answers, pod connections) for a second. */
	for (uint64_t t0 = rte_rdtsc(); rte_rdtsc() - t0 < hz && !interrupted;) {
		uint64_t now = rte_rdtsc();
		poll_side(0, now);
		poll_side(1, now);
		flush(0);
		flush(1);
	}
}

static uint16_t memif_port(const char *name)
{
	uint16_t port;
	if (rte_eth_dev_get_port_by_name(name, &port) != 0) {
		fprintf(stderr, "loadgen: no port %s\n", name);
		exit(1);
	}
	struct rte_eth_conf conf = {0};
	if (rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup(port, 0, 1024, 0, NULL, pool) != 0 ||
	    rte_eth_tx_queue_setup(port, 0, 1024, 0, NULL) != 0 || rte_eth_dev_start(port) != 0) {
		fprintf(stderr, "loadgen: cannot start %s\n", name);
		exit(1);
	}
	return port;
}

static bool link_up(uint16_t port)
{
	struct rte_eth_link l;
	return rte_eth_link_get_nowait(port, &l) == 0 && l.link_status;
}

int main(int argc, char **argv)
{
	/* Our options first; after "--", extra EAL arguments (an lcore, a file prefix). */
	int ours = argc;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			ours = i;
			break;
		}
	parse_args(ours, argv);
	char vc[400], vp[400];
	snprintf(vc, sizeof(vc), "--vdev=net_memif_lg_c,role=server,socket=%s,id=0",
		 opt.client_sock);
	snprintf(vp, sizeof(vp), "--vdev=net_memif_lg_p,role=server,socket=%s,id=0", opt.pod_sock);
	/* Memory for the mbufs plus both sides' connection tables, which grow with --conns. */
	max_pconns = opt.blast ? 1 : RTE_MIN(2 * opt.conns + 1024, 2 * MAX_CONNS);
	char mem[16];
	snprintf(mem, sizeof(mem), "%zu",
		 512 + ((size_t)opt.conns * sizeof(struct cconn) +
			(size_t)max_pconns * sizeof(struct pconn)) /
				 (1u << 20) * 2);
	char *eal[64] = {argv[0], "--no-pci", "--no-huge", "-m", mem, vc, vp};
	int n = 7;
	for (int i = ours + 1; i < argc && n < 63; i++)
		eal[n++] = argv[i];
	if (rte_eal_init(n, eal) < 0) {
		fprintf(stderr, "loadgen: EAL init failed\n");
		return 1;
	}
	hz = rte_get_tsc_hz();
	if (opt.pcap_out[0]) {
		pcap_dead = pcap_open_dead(DLT_EN10MB, 65535);
		pcap_out = pcap_dead ? pcap_dump_open(pcap_dead, opt.pcap_out) : NULL;
		if (pcap_out == NULL) {
			fprintf(stderr, "loadgen: cannot write %s\n", opt.pcap_out);
			return 1;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	pool = rte_pktmbuf_pool_create("loadgen", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       (int)rte_socket_id());
	cc = rte_zmalloc("cconns", sizeof(*cc) * opt.conns, 64);
	c_slot = rte_malloc("cslot", sizeof(uint32_t) * 65536 * opt.clients, 64);
	pc = rte_zmalloc("pconns", sizeof(*pc) * max_pconns, 64);
	size_t pkeys = (size_t)65536 * (opt.n_pods ? opt.n_pods : 1) * opt.n_snat;
	p_slot = rte_malloc("pslot", sizeof(uint32_t) * pkeys, 64);
	if (!pool || !cc || !c_slot || !pc || !p_slot) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 1;
	}
	memset(c_slot, 0xff, sizeof(uint32_t) * 65536 * opt.clients);
	memset(p_slot, 0xff, sizeof(uint32_t) * pkeys);
	for (uint32_t i = 0; i < max_pconns; i++)
		pc[i].next = i + 1 < max_pconns ? i + 1 : NO_SLOT;
	p_free = 0;
	client_base = htonl(ntohl(inet_addr("198.18.1.1")));
	for (unsigned i = 0; i < MAX_CLIENT_IPS; i++)
		next_port[i] = (uint16_t)(1024 + (rte_rdtsc() >> 3) % 30000);
	port_c = memif_port("net_memif_lg_c");
	port_p = memif_port("net_memif_lg_p");
	rte_eth_macaddr_get(port_c, &mac_c);
	rte_eth_macaddr_get(port_p, &mac_p);

	/* Wait for the gateway: both links, then the VIP's address by ARP. */
	uint64_t t0 = rte_rdtsc(), last_arp = 0;
	while (!interrupted && !((have_gw_c || opt.blast) && link_up(port_c) && link_up(port_p))) {
		uint64_t now = rte_rdtsc();
		if (now - t0 > 30 * hz) {
			fprintf(stderr,
				"loadgen: the gateway did not come up in 30 s (links %d/%d, "
				"VIP %s)\n",
				link_up(port_c), link_up(port_p),
				have_gw_c ? "resolved" : "unresolved");
			return 1;
		}
		if (link_up(port_c) && now - last_arp > hz / 10) {
			send_arp(0, RTE_ARP_OP_REQUEST, client_ip(0), opt.vip, NULL);
			last_arp = now;
		}
		poll_side(0, now);
		poll_side(1, now);
		flush(0);
		flush(1);
	}
	/* The caller may want to read the gateway's counters before the load starts. */
	for (uint64_t w0 = rte_rdtsc(); opt.go_file[0] && access(opt.go_file, F_OK) != 0;) {
		if (interrupted || rte_rdtsc() - w0 > 30 * hz) {
			fprintf(stderr, "loadgen: %s did not appear\n", opt.go_file);
			return 1;
		}
		uint64_t now = rte_rdtsc();
		poll_side(0, now); /* answer the gateway's ARP meanwhile */
		poll_side(1, now);
		flush(0);
		flush(1);
	}
	memset(&st, 0, sizeof(st));
	memset(hist, 0, sizeof(hist));

	uint64_t start = rte_rdtsc(), end = start + (uint64_t)opt.duration_s * hz;
	bool warming = opt.warmup_s > 0 && !opt.blast;
	uint64_t warmup_errors = 0;
	if (warming)
		end = start + (uint64_t)opt.warmup_s * hz;
	else
		mark();
	if (opt.replay[0]) {
		uint32_t nf;
		struct frame *f = load_capture(opt.replay, &nf);
		replay(f, nf);
		double rs = (double)(rte_rdtsc() - start) / (double)hz;
		mark_end();
		printf("{\"tsc_hz\":%" PRIu64 ",\"seconds\":%.3f,\"replay_frames\":%" PRIu32
		       ",\"replay_sent\":%" PRIu64 ",\"replay_rx\":%" PRIu64
		       ",\"replay_no_mbuf\":%" PRIu64 ",\"tx_full\":%" PRIu64 ",\"errors\":%" PRIu64
		       "}\n",
		       hz, rs, nf, st.replay_sent, st.replay_rx, st.replay_no_mbuf, st.tx_full,
		       st.replay_no_mbuf + st.tx_full);
		fflush(stdout);
		for (uint32_t i = 0; i < nf; i++)
			free(f[i].data);
		free(f);
		hold_ports_until_acked();
		return 0;
	}
	if (opt.blast) {
		/* Counted from the first frame that comes back: the forwarder may start late. */
		while (!interrupted && st.blast_rx == 0 && rte_rdtsc() - start < 30 * hz)
			blast(rte_rdtsc() + hz / 100);
		st.blast_tx = st.blast_rx = 0;
		start = rte_rdtsc();
		end = start + (uint64_t)opt.duration_s * hz;
		blast(end);
		double bs = (double)(rte_rdtsc() - start) / (double)hz;
		printf("{\"tsc_hz\":%" PRIu64 ",\"seconds\":%.3f,\"blast_tx_per_s\":%.0f,"
		       "\"blast_rx_per_s\":%.0f,\"errors\":0}\n",
		       hz, bs, (double)st.blast_tx / bs, (double)st.blast_rx / bs);
		return 0;
	}
	uint64_t flood_since = start;
	last_token_tsc = last_open_tsc = start;
	req_tokens = opt.rate ? 1 : 0;
	uint64_t stop_at = 0;
	uint32_t scan = 0;
	for (uint32_t s = 0; s < opt.conns; s++)
		cc[s].state = C_FREE;
	for (;;) {
		uint64_t now = rte_rdtsc();
		bool done_requests = opt.max_requests &&
				     st.requests + st.err_timeout + st.err_reset + st.err_status +
						     st.err_bad_response + st.err_wrong_pod >=
					     opt.max_requests;
		if (!stopping && ((!warming && now >= end) || interrupted || done_requests)) {
			stopping = true;
			stop_at = now;
			mark_end();
			wait_ack(".end.ack"); /* the caller reads the window's end before closes */
		}
		poll_side(0, now);
		poll_side(1, now);
		if (opt.syn_flood && !stopping)
			flood(now, &flood_since);
		/* Start connections in free slots; look for stalled ones, a few per loop. */
		for (unsigned k = 0; k < 32; k++, scan = (scan + 1) % opt.conns) {
			struct cconn *c = &cc[scan];
			if (c->state == C_FREE) {
				/* Warming up, connections open as fast as handshakes allow. */
				/* With --max-requests, no connection opens without a request
				 * left for it (a capture holds no flow without one). */
				if (!stopping && n_handshakes < MAX_HANDSHAKES &&
				    (!opt.max_requests ||
				     reqs_started + n_handshakes < opt.max_requests) &&
				    (warming ? may_open_warming(now) : may_start_request()))
					c_open(scan, now);
			} else if (c->state == C_IDLE) {
				/* Done with (a last request answered, or the gateway closed while
				 * the caller read its counters), or stopping: closes are paced. */
				if (stopping || c->last || c->fin_rcvd) {
					if (n_closing < MAX_HANDSHAKES)
						c_close(scan, now);
				} else if (may_start_request()) {
					c_send_request(scan, now);
				}
			} else if (now > c->deadline) {
				c_fail(scan, c->state == C_CLOSING    ? &st.err_close
					     : c->state == C_SYN_SENT ? &st.err_connect
								      : &st.err_timeout);
			}
		}
		flush(0);
		flush(1);
		if (warming && now >= end) {
			/* The measured window starts: counters from zero, the caller told. */
			warming = false;
			mark();
			wait_ack(".ack"); /* the caller reads the window's start */
			warmup_errors = st.err_timeout + st.err_connect + st.err_reset +
					st.err_status + st.err_bad_response + st.err_wrong_pod +
					st.err_no_mbuf + st.err_close;
			memset(&st, 0, sizeof(st));
			memset(hist, 0, sizeof(hist));
			for (unsigned i = 0; i < opt.n_routes; i++)
				opt.routes[i].requests = opt.routes[i].wrong_pod = 0;
			reqs_started = 0;
			start = rte_rdtsc();
			end = start + (uint64_t)opt.duration_s * hz;
		}
		if (stopping) {
			if (!n_live ||
			    now - stop_at > (uint64_t)(opt.timeout_ms + 3000) * hz / 1000)
				break;
		}
	}
	/* Left over when the generator gave up waiting: requests unanswered are errors; idle
	 * connections it had no time to close are only reported. */
	uint64_t left_open = 0;
	for (uint32_t s = 0; s < opt.conns; s++) {
		if (cc[s].state == C_SYN_SENT)
			st.err_connect++;
		else if (cc[s].state == C_WAIT_RESP)
			st.err_timeout++;
		else if (cc[s].state == C_IDLE)
			left_open++;
	}
	double secs = (double)((stop_at ? stop_at : rte_rdtsc()) - start) / (double)hz;
	uint64_t total = 0;
	for (unsigned i = 0; i < HIST_SIZE; i++)
		total += hist[i];
	uint64_t errors = st.err_timeout + st.err_connect + st.err_reset + st.err_status +
			  st.err_bad_response + st.err_wrong_pod + st.err_no_mbuf + st.err_close;
	printf("{\"tsc_hz\":%" PRIu64 ",\"seconds\":%.3f,\"requests\":%" PRIu64
	       ",\"connections\":%" PRIu64 ",\"requests_per_s\":%.0f,\"connections_per_s\":%.0f,"
	       "\"packets_to_gateway_per_s\":%.0f,\"packets_from_gateway_per_s\":%.0f,"
	       "\"latency_us\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64
	       ",\"max\":%" PRIu64 "},"
	       "\"errors\":%" PRIu64 ",\"error_kinds\":{\"timeout\":%" PRIu64
	       ",\"connect\":%" PRIu64 ",\"reset\":%" PRIu64 ",\"status\":%" PRIu64
	       ",\"bad_response\":%" PRIu64 ",\"wrong_pod\":%" PRIu64 ",\"no_mbuf\":%" PRIu64
	       ",\"close\":%" PRIu64 "},\"out_of_order\":%" PRIu64 ",\"tx_full\":%" PRIu64
	       ",\"left_open\":%" PRIu64 ",\"warmup_errors\":%" PRIu64
	       ",\"unknown_packets\":%" PRIu64
	       ",\"flood_syns_per_s\":%.0f,\"flood_replies_per_s\":%.0f,\"routes\":[",
	       hz, secs, st.requests, st.connections, (double)st.requests / secs,
	       (double)st.connections / secs, (double)st.pkts_to_gw / secs,
	       (double)st.pkts_from_gw / secs, hist_pct(total, 0.5), hist_pct(total, 0.99),
	       hist_pct(total, 0.999), st.lat_max_us, errors, st.err_timeout, st.err_connect,
	       st.err_reset, st.err_status, st.err_bad_response, st.err_wrong_pod, st.err_no_mbuf,
	       st.err_close, st.out_of_order, st.tx_full, left_open, warmup_errors,
	       st.unknown_packets, (double)st.flood_syns / secs, (double)st.flood_replies / secs);
	for (unsigned i = 0; i < opt.n_routes; i++)
		printf("%s{\"host\":\"%s\",\"path\":\"%s\",\"requests\":%" PRIu64
		       ",\"wrong_pod\":%" PRIu64 "}",
		       i ? "," : "", opt.routes[i].host, opt.routes[i].path, opt.routes[i].requests,
		       opt.routes[i].wrong_pod);
	printf("]}\n");
	fflush(stdout);
	hold_ports_until_acked();
	rte_eth_dev_stop(port_c);
	rte_eth_dev_stop(port_p);
	if (pcap_out)
		pcap_dump_close(pcap_out);
	if (pcap_dead)
		pcap_close(pcap_dead);
	rte_eal_cleanup();
	return errors ? 3 : 0;
}
