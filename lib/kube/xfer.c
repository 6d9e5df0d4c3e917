/*
 * xfer.c: the libcurl side of the sync: one struct xfer per HTTP request, the epoll and timer
 * hooks of the multi handle, response buffers, the bearer token and request headers.
 *
 * Kept apart from sync.c so the state machine there speaks in lists, watches and events, not in
 * easy handles; the one thing that reaches back is a watch stream's lines (kube__watch_event),
 * which are split here because they arrive in the write callback.
 */
#include "kube/sync-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

int kube__on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
	(void)e;
	struct kube_sync *s = userp;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(s->ep, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	struct epoll_event ev = {.data.fd = fd};
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	int rc;
	if (sockp == NULL) {
		rc = epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev);
		if (rc != 0 && errno == EEXIST)
			rc = epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev);
		curl_multi_assign(s->multi, fd, s);
	} else {
		rc = epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev);
		if (rc != 0 && errno == ENOENT)
			rc = epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev);
	}
	if (rc != 0) {
		/* Unwatched, the transfer would stall until its timeout: fail it now. */
		kube__logf(s, "kubernetes: cannot watch socket %d: %s", (int)fd, strerror(errno));
		return -1;
	}
	return 0;
}

int kube__on_timer(CURLM *m, long timeout_ms, void *userp)
{
	(void)m;
	struct kube_sync *s = userp;
	s->curl_deadline = timeout_ms < 0 ? 0 : kube_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	return 0;
}

static bool buf_append(struct xfer *x, const char *p, size_t n)
{
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 16384;
		while (cap < x->len + n + 1)
			cap *= 2;
		if (cap > MAX_BODY)
			return false;
		char *nb = realloc(x->buf, cap);
		if (nb == NULL)
			return false;
		x->buf = nb;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, p, n);
	x->len += n;
	x->buf[x->len] = '\0';
	return true;
}

static size_t on_data(char *p, size_t sz, size_t nm, void *arg)
{
	struct xfer *x = arg;
	size_t n = sz * nm;
	if (!buf_append(x, p, n)) {
		snprintf(x->err, sizeof(x->err), "response larger than %u MiB", MAX_BODY >> 20);
		x->bad = true;
		return 0;
	}
	if (x->type != X_WATCH || kube__response_code(x) != 200)
		return n; /* whole bodies are handled at the end */
	size_t start = 0;
	for (size_t i = x->len - n; i < x->len; i++) {
		if (x->buf[i] != '\n')
			continue;
		if (i > start && !kube__watch_event(x, x->buf + start, i - start))
			return 0; /* ends the transfer: 410 or an unusable event */
		start = i + 1;
	}
	if (start) {
		memmove(x->buf, x->buf + start, x->len - start);
		x->len -= start;
		x->buf[x->len] = '\0';
	}
	return n;
}

void kube__xfer_free(struct xfer *x)
{
	if (x == NULL)
		return;
	if (x->easy) {
		curl_multi_remove_handle(x->s->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->hdrs);
	free(x->buf);
	free(x->body);
	free(x->key);
	free(x);
}

static const char *current_token(struct kube_sync *s)
{
	const struct kube_client_config *c = s->o.client;
	uint64_t now = kube_now_ns();
	if (s->token && (c->token || now - s->token_at < 60ull * 1000000000ull))
		return s->token;
	char err[512] = "out of memory";
	char *t = kube__token(c, err, sizeof(err));
	if (t == NULL && (c->token || c->token_file)) {
		kube__logf(s, "kubernetes: %s; keeping the previous token", err);
		s->token_at = now; /* try the file again in a minute, not on every request */
		return s->token;
	}
	free(s->token);
	s->token = t;
	s->token_at = now;
	return s->token;
}

struct xfer *kube__xfer_new(struct kube_sync *s, enum xfer_type type, enum kube_kind kind,
			    const char *url, long timeout_s)
{
	struct xfer *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->s = s;
	x->type = type;
	x->kind = kind;
	x->started = kube_now_ns();
	x->easy = curl_easy_init();
	if (x->easy == NULL) {
		free(x);
		return NULL;
	}
	const struct kube_client_config *c = s->o.client;
	CURL *e = x->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->err);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "sluice/0.1 (ingress controller)");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	if (c->ca_data) {
		struct curl_blob b = {c->ca_data, c->ca_len, CURL_BLOB_COPY};
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	} else if (c->ca_file) {
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	}
	if (c->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->cert_data) {
		struct curl_blob cb = {c->cert_data, c->cert_len, CURL_BLOB_COPY};
		struct curl_blob kb = {c->key_data, c->key_len, CURL_BLOB_COPY};
		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cb);
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &kb);
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (c->cert_file) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
	}
	x->hdrs = curl_slist_append(x->hdrs, "Accept: application/json");
	const char *tok = current_token(s);
	if (tok) {
		char *h = NULL;
		if (asprintf(&h, "Authorization: Bearer %s", tok) >= 0) {
			x->hdrs = curl_slist_append(x->hdrs, h);
			free(h);
		}
	}
	return x;
}

bool kube__xfer_start(struct xfer *x)
{
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
	return curl_multi_add_handle(x->s->multi, x->easy) == CURLM_OK;
}

long kube__response_code(const struct xfer *x)
{
	long code = 0;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

/* Append v, percent-encoded by libcurl, to the URL in out. */
void kube__url_escape_append(char *out, size_t len, const char *v)
{
	char *e = curl_easy_escape(NULL, v, 0);
	if (e) {
		strncat(out, e, len - strlen(out) - 1);
		curl_free(e);
	}
}

/* The message of a Kubernetes Status body, or the start of whatever came back. */
void kube__status_message(const struct xfer *x, char *out, size_t len)
{
	json_t *j = x->buf ? json_loadb(x->buf, x->len, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(j, "message"));
	if (m)
		snprintf(out, len, "%s", m);
	else
		snprintf(out, len, "%.120s", x->buf ? x->buf : "");
	json_decref(j);
}
