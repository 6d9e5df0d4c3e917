/*
 * stream_peer: one lib/stream leg facing a Linux TCP peer over a TUN device, for the e2e test
 * tests/e2e/test_terminated.sh. Linux routes a /24 into the TUN device; this process is the
 * host at ADDR in it and runs the leg with the same calls a worker makes (stream_input on
 * each segment, stream_timer when due, stream_output after the application moved bytes).
 * One connection, then a JSON report on stdout.
 *
 *   stream_peer --addr A [--port P | --connect IP:PORT] --mode M [--bytes N] [--after N]
 *               [--loss PM --dup PM --reorder PM --seed S] [--buf BYTES] [--timeout S]
 *
 * Modes: echo (write back what is read, as fast as the send ring allows); sink (read to the
 * peer's FIN, then shut down); source (write N pattern bytes, shut down, read to the peer's
 * FIN); slow (as source; the peer is the slow reader); abort (read --after bytes, then
 * abort with a RST). --loss/--dup/--reorder impair both directions inside this process (per
 * mille, seeded). The report: bytes and SHA-256 in each direction, how the leg ended, its
 * counters, and the most memory its rings held.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "net/net.h"
#include "stream/stream.h"
#include "term/term.h"
#include "tls/term.h"

static struct {
	uint32_t addr;	  /* ours, network order */
	uint16_t port;	  /* listen here (network order), or: */
	uint32_t peer_ip; /* connect to */
	uint16_t peer_port;
	const char *mode;
	uint64_t bytes, after;
	uint32_t loss, dup, reorder;
	uint64_t seed;
	uint32_t buf;
	uint32_t timeout_s;
	const char *tun;
	unsigned conns;
	uint64_t bulk; /* https: the body size of GET /bulk */
} opt = {.mode = "echo", .timeout_s = 120, .tun = "stun0", .conns = 1};

/* https mode: the certificates (--cert NAME:CRT:KEY, NAME "default" for the default). */
static struct tls_certs *certs;
static struct tls_server *tls_srv;

static uint64_t rng;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static uint32_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint32_t t = (uint32_t)((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
	return t ? t : 1;
}

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)((i * 131) ^ (i >> 9) ^ (i >> 17));
}

static int tun_open(const char *name)
{
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
	if (fd < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Packets held back to reorder them (both directions). */
#define HELD 64
static struct {
	struct rte_mbuf *m;
	uint32_t at;
	bool in; /* towards the leg */
} held[HELD];
static unsigned n_held;

static int tun_fd;
static struct rte_mempool *pool;

static void tun_write(struct rte_mbuf *m)
{
	/* The leg's segments start at the IPv4 header (no link header on a TUN device). */
	if (write(tun_fd, rte_pktmbuf_mtod(m, void *), rte_pktmbuf_data_len(m)) < 0 &&
	    errno != EAGAIN)
		perror("stream_peer: write");
	rte_pktmbuf_free(m);
}

/* Impair, then pass on: dropped, duplicated, or held back a few milliseconds. */
static void impair(struct rte_mbuf *m, bool in, uint32_t now, void (*pass)(struct rte_mbuf *))
{
	if (rnd() % 1000 < opt.loss) {
		rte_pktmbuf_free(m);
		return;
	}
	if (rnd() % 1000 < opt.dup) {
		struct rte_mbuf *c = rte_pktmbuf_copy(m, pool, 0, UINT32_MAX);
		if (c)
			pass(c);
	}
	if (n_held < HELD && rnd() % 1000 < opt.reorder) {
		held[n_held++] = (typeof(held[0])){m, now + 1 + rnd() % 10, in};
		return;
	}
	pass(m);
}

static struct stream_leg leg;
static struct stream_cfg cfg;
static bool opened;
static struct rte_mbuf *outv[512];
static struct stream_out out = {outv, 0, 512};
static uint32_t now;
static struct {
	uint64_t in, out, max_held;
	EVP_MD_CTX *h_in, *h_out;
	bool shut, eof, aborted;
	uint32_t first_ms;
} app;

static void flush(void)
{
	for (uint16_t i = 0; i < out.n; i++)
		impair(out.pkts[i], false, now, tun_write);
	out.n = 0;
}

/* ---- proxy mode: lib/term between a TLS client and Linux HTTP servers ----------------------- */

/* Pods: a.example → 198.18.7.1:8080, b.example → 198.18.7.1:8081; pod legs come from
 * 198.18.7.3 (the "SNAT" address). */
static struct term_conn tc;
static struct term_env tenv;
static bool proxy_open;
static uint32_t pod_src;
static uint16_t next_pod_port = 50000;

static bool proxy_route(void *ctx, const char *host, size_t hl, const char *path, size_t pl,
			struct term_pod *pod)
{
	(void)ctx, (void)path, (void)pl;
	inet_pton(AF_INET, "198.18.7.1", &pod->ip);
	if (hl == 9 && strncasecmp(host, "a.example", 9) == 0) {
		pod->port = htons(8080);
		pod->id = 1;
		return true;
	}
	if (hl == 9 && strncasecmp(host, "b.example", 9) == 0) {
		pod->port = htons(8081);
		pod->id = 2;
		return true;
	}
	return false;
}

static bool proxy_source(void *ctx, const struct term_pod *pod, uint32_t *ip, uint16_t *port,
			 uint32_t *iss)
{
	(void)ctx, (void)pod;
	*ip = pod_src;
	*port = htons(next_pod_port++);
	if (next_pod_port > 60000)
		next_pod_port = 50000;
	*iss = rnd();
	return true;
}

static void to_proxy(struct rte_mbuf *m, const struct net_pkt *p)
{
	if (p->dst_ip == pod_src) {
		if (proxy_open && tc.pod_open && p->src_port == tc.pod.remote_port &&
		    p->dst_port == tc.pod.local_port)
			term_pod_input(&tc, m, p, now, &out, &out);
		return;
	}
	if (!proxy_open) {
		if ((p->tcp_flags & (NET_TCP_SYN | NET_TCP_ACK)) != NET_TCP_SYN ||
		    p->dst_port != opt.port)
			return;
		struct stream_syn s;
		stream_syn_of(m, p, &s);
		memset(&tc, 0, sizeof(tc));
		if (!stream_accept(&tc.client, &cfg, &s, rnd(), now, &out))
			return;
		if (!term_start(&tc, &tenv, ntohs(opt.port), now)) {
			fprintf(stderr, "stream_peer: term_start failed\n");
			exit(1);
		}
		proxy_open = true;
		app.first_ms = now;
		return;
	}
	if (p->src_ip == tc.client.remote_ip && p->src_port == tc.client.remote_port &&
	    p->dst_port == tc.client.local_port)
		term_client_input(&tc, m, p, now, &out, &out);
}

static void to_leg(struct rte_mbuf *m)
{
	struct net_pkt p;
	enum net_drop_reason why;
	if (net_parse(m, &p, &why) != NET_CLASS_TCP ||
	    (p.dst_ip != opt.addr && !(pod_src && p.dst_ip == pod_src))) {
		rte_pktmbuf_free(m);
		return;
	}
	if (pod_src) {
		to_proxy(m, &p);
		rte_pktmbuf_free(m);
		return;
	}
	if (!opened) {
		bool syn = (p.tcp_flags & (NET_TCP_SYN | NET_TCP_ACK)) == NET_TCP_SYN;
		if (opt.peer_ip == 0 && syn && p.dst_port == opt.port) {
			struct stream_syn s;
			stream_syn_of(m, &p, &s);
			opened = stream_accept(&leg, &cfg, &s, rnd(), now, &out);
			app.first_ms = now;
		}
		rte_pktmbuf_free(m);
		return;
	}
	if (p.src_ip == leg.remote_ip && p.src_port == leg.remote_port &&
	    p.dst_port == leg.local_port && leg.state != STREAM_CLOSED)
		stream_input(&leg, m, &p, now, &out);
	rte_pktmbuf_free(m);
}

/* A packet from the TUN device, made into a frame lib/net parses (a made-up link header). */
static struct rte_mbuf *from_tun(const uint8_t *d, size_t n)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	if (m == NULL)
		return NULL;
	uint8_t *f = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(n + sizeof(struct rte_ether_hdr)));
	if (f == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)f;
	memset(eh, 0, sizeof(*eh));
	eh->src_addr.addr_bytes[0] = 0x02;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memcpy(f + sizeof(*eh), d, n);
	return m;
}

/* ---- https mode: TLS over the leg, a minimal HTTP/1.1 server inside ------------------------ */

static uint32_t pipe_read(void *ctx, void *dst, uint32_t n)
{
	return stream_read(ctx, dst, n);
}
static uint32_t pipe_write(void *ctx, const void *src, uint32_t n)
{
	return stream_write(ctx, src, n);
}
static bool pipe_eof(void *ctx)
{
	return stream_eof(ctx);
}

static struct {
	struct tls_conn *tls;
	char req[16384];
	size_t req_len;
	char resp[1024];
	size_t resp_len, resp_off;
	uint64_t body_left; /* of GET /bulk, written after resp */
	unsigned requests;
	bool closing, failed, closed_by_peer;
	char why[160];
	struct tls_conn_info info;
} h;

static void https_reset(void)
{
	tls_conn_free(h.tls);
	memset(&h, 0, sizeof(h));
}

/* One complete request head in h.req: its answer queued; false when none is complete. */
static bool https_request(void)
{
	char *end = memmem(h.req, h.req_len, "\r\n\r\n", 4);
	if (end == NULL)
		return false;
	size_t head = (size_t)(end - h.req) + 4;
	char path[256] = "";
	sscanf(h.req, "%*s %255s", path);
	bool close = memmem(h.req, head, "Connection: close", 17) != NULL ||
		     memmem(h.req, head, "connection: close", 17) != NULL;
	tls_conn_info(h.tls, &h.info);
	uint64_t bulk = strcmp(path, "/bulk") == 0 ? opt.bulk : 0;
	char body[512];
	int bl = snprintf(body, sizeof(body),
			  "sni=%s alpn=%s version=%s resumed=%d match=%s kind=%s path=%s\n",
			  h.info.server_name, h.info.alpn, h.info.version, h.info.resumed,
			  h.info.match == TLS_MATCH_EXACT      ? "exact"
			  : h.info.match == TLS_MATCH_WILDCARD ? "wildcard"
							       : "default",
			  h.info.kind == TLS_KEY_ECDSA ? "ecdsa" : "rsa", path);
	if (bulk) {
		h.resp_len = (size_t)snprintf(h.resp, sizeof(h.resp),
					      "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n"
					      "Content-Type: application/octet-stream\r\n%s\r\n",
					      (unsigned long long)bulk,
					      close ? "Connection: close\r\n" : "");
		h.body_left = bulk;
	} else {
		h.resp_len = (size_t)snprintf(h.resp, sizeof(h.resp),
					      "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
					      "Content-Type: text/plain\r\n%s\r\n%s",
					      bl, close ? "Connection: close\r\n" : "", body);
	}
	h.resp_off = 0;
	h.requests++;
	if (close)
		h.closing = true;
	memmove(h.req, h.req + head, h.req_len - head);
	h.req_len -= head;
	return true;
}

static void run_https(void)
{
	if (h.failed || leg.state == STREAM_SYN_RCVD)
		return;
	if (h.tls == NULL) {
		struct tls_pipe p = {&leg, pipe_read, pipe_write, pipe_eof};
		h.tls = tls_conn_new(tls_srv, &p);
		if (h.tls == NULL) {
			fprintf(stderr, "stream_peer: no TLS connection\n");
			exit(1);
		}
	}
	enum tls_io st = tls_conn_handshake(h.tls);
	if (st == TLS_IO_FAILED) {
		tls_conn_info(h.tls, &h.info);
		snprintf(h.why, sizeof(h.why), "%s", h.info.why);
		h.failed = true;
		stream_shutdown(&leg); /* after the alert OpenSSL queued */
		return;
	}
	if (!tls_conn_established(h.tls))
		return;
	tls_conn_info(h.tls, &h.info);
	for (int guard = 0; guard < 64; guard++) {
		/* Write what is queued first (the same bytes again after a WANT). */
		while (h.resp_off < h.resp_len) {
			size_t put;
			st = tls_conn_write(h.tls, h.resp + h.resp_off, h.resp_len - h.resp_off,
					    &put);
			h.resp_off += put;
			if (st != TLS_IO_OK || put == 0)
				break;
		}
		while (h.resp_off == h.resp_len && h.body_left > 0) {
			static uint8_t chunk[16384];
			size_t n =
				h.body_left < sizeof(chunk) ? (size_t)h.body_left : sizeof(chunk);
			for (size_t k = 0; k < n; k++)
				chunk[k] = pattern(opt.bulk - h.body_left + k);
			size_t put;
			st = tls_conn_write(h.tls, chunk, n, &put);
			if (put > 0)
				EVP_DigestUpdate(app.h_out, chunk, put);
			h.body_left -= put;
			app.out += put;
			if (st != TLS_IO_OK || put == 0)
				break;
		}
		if (h.resp_off < h.resp_len || h.body_left > 0)
			break; /* the leg's send ring is full: later */
		if (h.closing) {
			tls_conn_close(h.tls);
			stream_shutdown(&leg);
			return;
		}
		if (https_request())
			continue;
		size_t got = 0;
		st = tls_conn_read(h.tls, h.req + h.req_len, sizeof(h.req) - h.req_len, &got);
		h.req_len += got;
		app.in += got;
		if (st == TLS_IO_CLOSED || (st == TLS_IO_WANT && stream_eof(&leg))) {
			h.closed_by_peer = true;
			tls_conn_close(h.tls);
			stream_shutdown(&leg);
			return;
		}
		if (st == TLS_IO_FAILED) {
			snprintf(h.why, sizeof(h.why), "%s", h.info.why);
			h.failed = true;
			stream_shutdown(&leg);
			return;
		}
		if (got == 0)
			break;
	}
}

static void run_app(void)
{
	static uint8_t buf[65536];
	bool echo = !strcmp(opt.mode, "echo");
	bool source = !strcmp(opt.mode, "source") || !strcmp(opt.mode, "slow");
	/* Read (in echo mode: no more than can be written back). */
	for (;;) {
		uint32_t n = sizeof(buf);
		if (echo)
			n = n < stream_writable(&leg) ? n : stream_writable(&leg);
		if (!strcmp(opt.mode, "abort") && opt.after - app.in < n)
			n = (uint32_t)(opt.after - app.in);
		uint32_t got = n ? stream_read(&leg, buf, n) : 0;
		if (got == 0)
			break;
		EVP_DigestUpdate(app.h_in, buf, got);
		app.in += got;
		if (echo) {
			uint32_t w = stream_write(&leg, buf, got);
			EVP_DigestUpdate(app.h_out, buf, w);
			app.out += w;
			if (w < got) {
				fprintf(stderr, "stream_peer: echo lost bytes (no mbuf)\n");
				exit(1);
			}
		}
	}
	if (!strcmp(opt.mode, "abort") && app.in >= opt.after && !app.aborted) {
		stream_abort(&leg, now, &out);
		app.aborted = true;
		return;
	}
	if (source) {
		while (app.out < opt.bytes) {
			uint64_t n = opt.bytes - app.out;
			if (n > sizeof(buf))
				n = sizeof(buf);
			uint32_t room = stream_writable(&leg);
			if (room == 0)
				break;
			if (n > room)
				n = room;
			for (uint64_t k = 0; k < n; k++)
				buf[k] = pattern(app.out + k);
			uint32_t w = stream_write(&leg, buf, (uint32_t)n);
			EVP_DigestUpdate(app.h_out, buf, w);
			app.out += w;
			if (w < n)
				break;
		}
	}
	if (stream_eof(&leg))
		app.eof = true;
	bool done_writing =
		source ? app.out >= opt.bytes : (echo || !strcmp(opt.mode, "sink")) && app.eof;
	if (done_writing && !app.shut && leg.state != STREAM_SYN_SENT &&
	    leg.state != STREAM_SYN_RCVD) {
		stream_shutdown(&leg);
		app.shut = true;
	}
	if (stream_held_bytes(&leg) > app.max_held)
		app.max_held = stream_held_bytes(&leg);
}

static void hex(EVP_MD_CTX *h, char *s)
{
	unsigned char md[32];
	unsigned len = 0;
	EVP_DigestFinal_ex(h, md, &len);
	for (unsigned i = 0; i < len; i++)
		sprintf(s + 2 * i, "%02x", md[i]);
}

static void pump_tun(uint8_t *pkt, size_t cap)
{
	for (int k = 0; k < 256; k++) {
		ssize_t n = read(tun_fd, pkt, cap);
		if (n <= 0)
			break;
		struct rte_mbuf *m = from_tun(pkt, (size_t)n);
		if (m)
			impair(m, true, now, to_leg);
		flush();
	}
	for (unsigned i = 0; i < n_held;) {
		if ((int32_t)(now - held[i].at) >= 0) {
			struct rte_mbuf *m = held[i].m;
			bool in = held[i].in;
			held[i] = held[--n_held];
			if (in)
				to_leg(m);
			else
				tun_write(m);
			flush();
			continue;
		}
		i++;
	}
}

/* Wait for the TUN device (5 ms at most, less when a deadline comes sooner; 0: none), then
 * take what it has. */
static void wait_and_read(uint32_t deadline, uint8_t *pkt, size_t cap)
{
	int wait = 5;
	if (deadline != 0) {
		int32_t d = (int32_t)(deadline - now);
		wait = d < 0 ? 0 : d < wait ? d : wait;
	}
	struct pollfd pf = {tun_fd, POLLIN, 0};
	poll(&pf, 1, wait);
	now = now_ms();
	pump_tun(pkt, cap);
}

/* Proxy mode: serve opt.conns connections one after another; a JSON line for each. */
static int run_proxy(void)
{
	static uint8_t pkt[65536];
	uint32_t start = now;
	for (unsigned conn = 0; conn < opt.conns; conn++) {
		proxy_open = false;
		while ((uint32_t)(now - start) < opt.timeout_s * 1000u) {
			wait_and_read(proxy_open ? term_deadline(&tc) : 0, pkt, sizeof(pkt));
			if (!proxy_open)
				continue;
			uint32_t t = term_deadline(&tc);
			if (t != 0 && (int32_t)(now - t) >= 0)
				term_timer(&tc, now, &out, &out);
			else
				term_pump(&tc, now, &out, &out);
			flush();
			uint32_t h = stream_held_bytes(&tc.client) + stream_held_bytes(&tc.pod);
			if (h > app.max_held)
				app.max_held = h;
			if (term_done(&tc) || tc.client.state == STREAM_TIME_WAIT)
				break;
		}
		if (!proxy_open) {
			fprintf(stderr, "stream_peer: no connection %u before the timeout\n", conn);
			return 1;
		}
		const struct term_counts *n = &tc.n;
		printf("{\"proxy\":true,\"requests\":%u,\"responses\":%u,\"answered\":%u,"
		       "\"pod_connects\":%u,\"pod_reused\":%u,\"bad_requests\":%u,\"no_route\":%u,"
		       "\"pod_failed\":%u,\"bad_responses\":%u,\"idle_timeouts\":%u,"
		       "\"tls_failed\":%u,\"client_end\":\"%s\",\"max_held\":%llu}\n",
		       n->requests, n->responses, n->answered, n->pod_connects, n->pod_reused,
		       n->bad_requests, n->no_route, n->pod_failed, n->bad_responses,
		       n->idle_timeouts, n->tls_failed,
		       stream_state_name((enum stream_state)tc.client.state),
		       (unsigned long long)app.max_held);
		fflush(stdout);
		term_release(&tc);
		app.max_held = 0;
	}
	return 0;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	static char buf[65536];
	*len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	char *s = malloc(*len + 1);
	if (s) {
		memcpy(s, buf, *len);
		s[*len] = 0;
	}
	return s;
}

/* --cert NAME:CRT:KEY */
static int add_cert(const char *arg)
{
	char name[256], crt[512], key[512];
	if (sscanf(arg, "%255[^:]:%511[^:]:%511s", name, crt, key) != 3) {
		fprintf(stderr, "stream_peer: --cert NAME:CRT:KEY\n");
		return -1;
	}
	if (certs == NULL)
		certs = tls_certs_new();
	size_t cl, kl;
	char *c = slurp(crt, &cl), *k = slurp(key, &kl), why[200] = "";
	struct tls_cert *tc = c && k ? tls_cert_from_pem(c, cl, k, kl, why, sizeof(why)) : NULL;
	free(c);
	free(k);
	if (tc == NULL) {
		fprintf(stderr, "stream_peer: %s: %s\n", arg, why[0] ? why : "cannot read");
		return -1;
	}
	if (strcmp(name, "default") == 0)
		tls_certs_set_default(certs, tc);
	else if (tls_certs_add(certs, name, tc) != 1)
		fprintf(stderr, "stream_peer: %s not added\n", name);
	tls_cert_unref(tc);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"addr", 1, 0, 'a'}, {"port", 1, 0, 'p'},  {"connect", 1, 0, 'c'},
		{"mode", 1, 0, 'm'}, {"bytes", 1, 0, 'n'}, {"after", 1, 0, 'A'},
		{"loss", 1, 0, 'l'}, {"dup", 1, 0, 'd'},   {"reorder", 1, 0, 'r'},
		{"seed", 1, 0, 's'}, {"buf", 1, 0, 'b'},   {"timeout", 1, 0, 't'},
		{"tun", 1, 0, 'T'},  {"cert", 1, 0, 'C'},  {"conns", 1, 0, 'N'},
		{"bulk", 1, 0, 'B'}, {0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'a':
			inet_pton(AF_INET, optarg, &opt.addr);
			break;
		case 'p':
			opt.port = htons((uint16_t)atoi(optarg));
			break;
		case 'c': {
			char ip[64];
			snprintf(ip, sizeof(ip), "%s", optarg);
			char *colon = strchr(ip, ':');
			if (colon == NULL)
				return 2;
			*colon = 0;
			inet_pton(AF_INET, ip, &opt.peer_ip);
			opt.peer_port = htons((uint16_t)atoi(colon + 1));
			break;
		}
		case 'm':
			opt.mode = optarg;
			break;
		case 'n':
			opt.bytes = strtoull(optarg, NULL, 0);
			break;
		case 'A':
			opt.after = strtoull(optarg, NULL, 0);
			break;
		case 'l':
			opt.loss = (uint32_t)atoi(optarg);
			break;
		case 'd':
			opt.dup = (uint32_t)atoi(optarg);
			break;
		case 'r':
			opt.reorder = (uint32_t)atoi(optarg);
			break;
		case 's':
			opt.seed = strtoull(optarg, NULL, 0);
			break;
		case 'b':
			opt.buf = (uint32_t)atoi(optarg);
			break;
		case 't':
			opt.timeout_s = (uint32_t)atoi(optarg);
			break;
		case 'T':
			opt.tun = optarg;
			break;
		case 'C':
			if (add_cert(optarg) != 0)
				return 2;
			break;
		case 'N':
			opt.conns = (unsigned)atoi(optarg);
			break;
		case 'B':
			opt.bulk = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr,
				"stream_peer: see the comment at the top of stream_peer.c\n");
			return 2;
		}
	}
	if (opt.addr == 0 || (opt.port == 0 && opt.peer_ip == 0)) {
		fprintf(stderr, "stream_peer: --addr and --port or --connect are required\n");
		return 2;
	}
	rng = opt.seed * 0x9e3779b97f4a7c15ull + 0x1234567;
	if (rng == 0)
		rng = 1;
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=stream-peer-%d", getpid());
	char *eal[] = {"stream_peer", "--no-huge",	   "--no-shconf", "--no-pci", "-m",
		       "256",	      "--log-level=error", prefix,	  NULL};
	if (rte_eal_init(8, eal) < 0) {
		fprintf(stderr, "stream_peer: EAL initialisation failed\n");
		return 1;
	}
	pool = rte_pktmbuf_pool_create("peer", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	tun_fd = tun_open(opt.tun);
	if (pool == NULL || tun_fd < 0) {
		fprintf(stderr, "stream_peer: no mempool or no TUN device %s: %s\n", opt.tun,
			strerror(errno));
		return 1;
	}
	cfg = (struct stream_cfg){.pool = pool,
				  .rcv_buf = opt.buf,
				  .snd_buf = opt.buf,
				  .ts = true,
				  .sack = true,
				  .ws = true,
				  .time_wait_ms = 500};
	if (!stream_cfg_defaults(&cfg)) {
		fprintf(stderr, "stream_peer: the pool's mbufs cannot hold a ring slot\n");
		return 1;
	}
	app.h_in = EVP_MD_CTX_new();
	app.h_out = EVP_MD_CTX_new();
	EVP_DigestInit_ex(app.h_in, EVP_sha256(), NULL);
	EVP_DigestInit_ex(app.h_out, EVP_sha256(), NULL);
	printf("{\"ready\":true}\n");
	fflush(stdout);

	bool https = strcmp(opt.mode, "https") == 0 || strcmp(opt.mode, "proxy") == 0;
	if (https) {
		char why[200] = "";
		tls_srv = tls_server_new(why, sizeof(why));
		if (tls_srv == NULL || certs == NULL) {
			fprintf(stderr, "stream_peer: https: %s\n", why[0] ? why : "no --cert");
			return 1;
		}
		tls_server_set_certs(tls_srv, certs);
	}
	now = now_ms();
	uint32_t start = now;
	if (strcmp(opt.mode, "proxy") == 0) {
		inet_pton(AF_INET, "198.18.7.3", &pod_src);
		tenv = (struct term_env){
			.tls = tls_srv,
			.client_cfg = &cfg,
			.pod_cfg = &cfg,
			.limits = {.max_request_line = 8192,
				   .max_head_bytes = 8192,
				   .max_headers = 100,
				   .reject_bare_lf = true},
			.idle_ms = 10000,
			.header_ms = 10000,
			.route = proxy_route,
			.source = proxy_source,
		};
		int rc = run_proxy();
		tls_server_free(tls_srv);
		tls_certs_free(certs);
		close(tun_fd);
		rte_mempool_free(pool);
		rte_eal_cleanup();
		return rc;
	}
	for (unsigned conn = 0; conn < opt.conns; conn++) {
		if (conn > 0) { /* the next connection: a fresh leg and application */
			stream_release(&leg);
			memset(&leg, 0, sizeof(leg));
			opened = false;
			app.in = app.out = app.max_held = 0;
			app.shut = app.eof = app.aborted = false;
			EVP_DigestInit_ex(app.h_in, EVP_sha256(), NULL);
			EVP_DigestInit_ex(app.h_out, EVP_sha256(), NULL);
		}
		if (https)
			https_reset();
		if (opt.peer_ip != 0) {
			opened = stream_connect(&leg, &cfg, opt.addr,
						htons((uint16_t)(40000 + getpid() % 20000)),
						opt.peer_ip, opt.peer_port, rnd(), now, &out);
			app.first_ms = now;
			flush();
		}
		static uint8_t pkt[65536];
		while ((uint32_t)(now - start) < opt.timeout_s * 1000u) {
			wait_and_read(opened ? stream_deadline(&leg) : 0, pkt, sizeof(pkt));
			if (!opened)
				continue;
			uint32_t t = stream_deadline(&leg);
			if (t != 0 && (int32_t)(now - t) >= 0)
				stream_timer(&leg, now, &out);
			if (https && leg.state != STREAM_CLOSED)
				run_https();
			else if (!https &&
				 (leg.state != STREAM_CLOSED || stream_readable(&leg) > 0))
				run_app();
			if (leg.state != STREAM_CLOSED)
				stream_output(&leg, now, &out);
			flush();
			if (leg.state == STREAM_CLOSED &&
			    (stream_readable(&leg) == 0 || app.aborted || https))
				break;
			/* Serving connection after connection: one in TIME-WAIT is done with. */
			if (opt.conns > 1 && leg.state == STREAM_TIME_WAIT)
				break;
		}
		char hin[65] = "", hout[65] = "";
		hex(app.h_in, hin);
		hex(app.h_out, hout);
		const struct stream_counts *n = &leg.n;
		printf("{\"state\":\"%s\",\"end\":\"%s\",\"bytes_in\":%llu,\"sha256_in\":\"%s\","
		       "\"bytes_out\":%llu,\"sha256_out\":\"%s\",\"eof\":%s,\"ms\":%u,"
		       "\"max_held\":%llu,\"rcv_cap\":%u,\"snd_cap\":%u,\"seg_in\":%u,\"seg_out\":%"
		       "u,"
		       "\"retransmits\":%u,\"fast_retransmits\":%u,\"timeouts\":%u,\"probes\":%u,"
		       "\"dup_acks\":%u,\"ooo_segments\":%u,\"paws_drops\":%u,\"out_of_window\":%u,"
		       "\"nobufs\":%u,\"tx_full\":%u,\"ts\":%d,\"sack\":%d,\"ws\":%d,\"mss\":%u}\n",
		       stream_state_name((enum stream_state)leg.state),
		       stream_end_name((enum stream_end)leg.end), (unsigned long long)app.in, hin,
		       (unsigned long long)app.out, hout, app.eof ? "true" : "false",
		       now - app.first_ms, (unsigned long long)app.max_held, leg.rcv.cap,
		       leg.snd.cap, n->seg_in, n->seg_out, n->retransmits, n->fast_retransmits,
		       n->timeouts, n->probes, n->dup_acks, n->ooo_segments, n->paws_drops,
		       n->out_of_window, n->nobufs, n->tx_full, leg.ts_ok, leg.sack_ok, leg.ws_ok,
		       leg.mss);
		if (https)
			printf("{\"tls\":true,\"requests\":%u,\"failed\":%s,\"why\":\"%s\","
			       "\"version\":\"%s\","
			       "\"cipher\":\"%s\",\"sni\":\"%s\",\"alpn\":\"%s\",\"group\":\"%s\","
			       "\"resumed\":%s,\"bulk_out\":%llu,\"sha256_out\":\"%s\"}\n",
			       h.requests, h.failed ? "true" : "false", h.why,
			       h.tls && tls_conn_established(h.tls) ? h.info.version : "",
			       h.tls && tls_conn_established(h.tls) ? h.info.cipher : "",
			       h.tls && tls_conn_established(h.tls) ? h.info.server_name : "",
			       h.tls && tls_conn_established(h.tls) ? h.info.alpn : "",
			       h.tls && tls_conn_established(h.tls) ? h.info.group : "",
			       h.info.resumed ? "true" : "false", (unsigned long long)app.out,
			       hout);
		fflush(stdout);
	}
	if (https) {
		struct tls_server_counts tc;
		tls_server_counts(tls_srv, &tc);
		printf("{\"tls_server\":true,\"handshakes\":%llu,\"resumed\":%llu,\"failed\":%llu,"
		       "\"no_certificate\":%llu,\"alpn_refused\":%llu,\"tickets_renewed\":%llu}\n",
		       (unsigned long long)tc.handshakes, (unsigned long long)tc.resumed,
		       (unsigned long long)tc.failed, (unsigned long long)tc.no_certificate,
		       (unsigned long long)tc.alpn_refused, (unsigned long long)tc.tickets_renewed);
		fflush(stdout);
		https_reset();
		tls_server_free(tls_srv);
		tls_certs_free(certs);
	}
	stream_release(&leg);
	for (unsigned i = 0; i < n_held; i++)
		rte_pktmbuf_free(held[i].m);
	EVP_MD_CTX_free(app.h_in);
	EVP_MD_CTX_free(app.h_out);
	close(tun_fd);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	return 0;
}
