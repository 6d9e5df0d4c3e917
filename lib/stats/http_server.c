/*
 * http_server.c: the metrics endpoint on the management lcore.
 *
 * A deliberately small HTTP/1.0 server over kernel sockets: it reads one request head (at most
 * 4 KiB), answers, and closes. Everything is non-blocking and driven by the management loop's
 * epoll, so a slow or hostile scraper can never stall rule syncs: a connection that has not sent
 * a full head within a few seconds is closed by the tick, and the number of concurrent
 * connections is capped (the listener stops being read while the table is full).
 *
 * Responses are written with one send(); a page larger than the socket buffer is finished on
 * EPOLLOUT.
 */
#include "stats/stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS     32
#define MAX_HEAD      4096
#define CONN_DEADLINE 5 /* seconds to send a head and take the answer */

struct conn {
	int fd; /* -1 when free */
	time_t started;
	size_t got;
	char head[MAX_HEAD];
	char *out; /* response being written (heap), NULL while reading */
	size_t out_len;
	size_t out_sent;
};

struct stats_http {
	int listen_fd;
	bool ready;
	bool listening; /* in epoll for reads */
	struct conn conns[MAX_CONNS];
};

static time_t now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

struct stats_http *stats_http_open(uint32_t addr, uint16_t port, char *errbuf, size_t errlen)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = addr;
	char astr[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &sa.sin_addr, astr, sizeof(astr));

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(errbuf, errlen, "metrics: cannot create a socket: %s", strerror(errno));
		return NULL;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		snprintf(errbuf, errlen,
			 "metrics: cannot listen on %s:%u: %s (change metrics.listen, or stop what "
			 "holds the port)",
			 astr, port, strerror(errno));
		close(fd);
		return NULL;
	}
	struct stats_http *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		close(fd);
		snprintf(errbuf, errlen, "metrics: out of memory");
		return NULL;
	}
	h->listen_fd = fd;
	for (unsigned i = 0; i < MAX_CONNS; i++)
		h->conns[i].fd = -1;
	return h;
}

static void conn_close(struct conn *c, int epfd)
{
	if (c->fd < 0)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	free(c->out);
	c->out = NULL;
	c->got = c->out_len = c->out_sent = 0;
}

void stats_http_close(struct stats_http *h)
{
	if (h == NULL)
		return;
	for (unsigned i = 0; i < MAX_CONNS; i++) {
		if (h->conns[i].fd >= 0) {
			close(h->conns[i].fd);
			free(h->conns[i].out);
		}
	}
	close(h->listen_fd);
	free(h);
}

int stats_http_epoll_add(struct stats_http *h, int epfd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = h->listen_fd};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, h->listen_fd, &ev) < 0)
		return -errno;
	h->listening = true;
	return 0;
}

bool stats_http_owns(const struct stats_http *h, int fd)
{
	if (fd == h->listen_fd)
		return true;
	for (unsigned i = 0; i < MAX_CONNS; i++)
		if (h->conns[i].fd == fd)
			return true;
	return false;
}

void stats_http_set_ready(struct stats_http *h, bool ready)
{
	if (h)
		h->ready = ready;
}

static struct conn *conn_find(struct stats_http *h, int fd)
{
	for (unsigned i = 0; i < MAX_CONNS; i++)
		if (h->conns[i].fd == fd)
			return &h->conns[i];
	return NULL;
}

static void set_listening(struct stats_http *h, int epfd, bool on)
{
	if (h->listening == on)
		return;
	if (on) {
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = h->listen_fd};
		epoll_ctl(epfd, EPOLL_CTL_ADD, h->listen_fd, &ev);
	} else {
		epoll_ctl(epfd, EPOLL_CTL_DEL, h->listen_fd, NULL);
	}
	h->listening = on;
}

static void accept_all(struct stats_http *h, int epfd)
{
	for (;;) {
		struct conn *c = conn_find(h, -1);
		if (c == NULL) {
			/* Full: stop reading the listener until a slot frees up. */
			set_listening(h, epfd, false);
			return;
		}
		int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = fd};
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->started = now_s();
		c->got = 0;
	}
}

/* Build the whole response for a request head into c->out. */
static void respond(struct stats_http *h, struct conn *c)
{
	char method[8] = "", target[256] = "";
	int status = 200;
	const char *reason = "OK";
	const char *ctype = "text/plain; charset=utf-8";
	struct stats_text body = {0};

	if (sscanf(c->head, "%7s %255s HTTP/1.", method, target) != 2) {
		status = 400;
		reason = "Bad Request";
		stats_text_printf(&body, "bad request\n");
	} else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		status = 405;
		reason = "Method Not Allowed";
		stats_text_printf(&body, "only GET\n");
	} else if (strcmp(target, "/metrics") == 0) {
		ctype = "text/plain; version=0.0.4; charset=utf-8";
		stats_render_prometheus(&body);
	} else if (strcmp(target, "/healthz") == 0) {
		stats_text_printf(&body, "ok\n");
	} else if (strcmp(target, "/readyz") == 0) {
		if (h->ready) {
			stats_text_printf(&body, "ready\n");
		} else {
			status = 503;
			reason = "Service Unavailable";
			stats_text_printf(&body, "not ready: first sync not complete\n");
		}
	} else {
		status = 404;
		reason = "Not Found";
		stats_text_printf(&body, "not found; try /metrics, /healthz or /readyz\n");
	}
	if (body.failed) {
		status = 500;
		reason = "Internal Server Error";
		stats_text_free(&body);
	}
	bool head_only = strcmp(method, "HEAD") == 0;
	struct stats_text out = {0};
	stats_text_printf(&out,
			  "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			  "Connection: close\r\n\r\n",
			  status, reason, ctype, body.len);
	if (!head_only && body.len)
		stats_text_printf(&out, "%.*s", (int)body.len, body.buf);
	stats_text_free(&body);
	c->out = out.buf;
	c->out_len = out.failed ? 0 : out.len;
	c->out_sent = 0;
}

static void flush_out(struct stats_http *h, struct conn *c, int epfd)
{
	while (c->out_sent < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				struct epoll_event ev = {.events = EPOLLOUT, .data.fd = c->fd};
				epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
				return;
			}
			break;
		}
		c->out_sent += (size_t)n;
	}
	conn_close(c, epfd);
	set_listening(h, epfd, true);
}

void stats_http_on_event(struct stats_http *h, int epfd, int fd, uint32_t events)
{
	if (fd == h->listen_fd) {
		accept_all(h, epfd);
		return;
	}
	struct conn *c = conn_find(h, fd);
	if (c == NULL)
		return;
	if (c->out) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			flush_out(h, c, epfd);
		return;
	}
	for (;;) {
		if (c->got >= MAX_HEAD - 1) {
			/* Head too large: answer nothing, close. */
			conn_close(c, epfd);
			set_listening(h, epfd, true);
			return;
		}
		ssize_t n = recv(fd, c->head + c->got, MAX_HEAD - 1 - c->got, MSG_DONTWAIT);
		if (n > 0) {
			c->got += (size_t)n;
			c->head[c->got] = '\0';
			if (strstr(c->head, "\r\n\r\n") || strstr(c->head, "\n\n")) {
				respond(h, c);
				flush_out(h, c, epfd);
				return;
			}
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		conn_close(c, epfd); /* EOF or error before a full head */
		set_listening(h, epfd, true);
		return;
	}
}

void stats_http_tick(struct stats_http *h, int epfd)
{
	time_t now = now_s();
	for (unsigned i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &h->conns[i];
		if (c->fd >= 0 && now - c->started > CONN_DEADLINE) {
			conn_close(c, epfd);
			set_listening(h, epfd, true);
		}
	}
}
