/*
 * rewrite.c: a request head as it goes to the pod — the client's X-Forwarded-*, Forwarded and
 * hop-by-hop fields removed (with their '_' twins), the gateway's own X-Forwarded-* appended
 * (term.h, term_rewrite_head).
 */
#include "term/term.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* ---- X-Forwarded-* ----------------------------------------------------------------------- */

/* The field name of a head line equals name (lower case), comparing case-insensitively and
 * with '_' read as '-' (servers that map '-' to '_', CGI and WSGI, would merge the two). */
static bool name_is(const uint8_t *line, uint32_t len, const char *name, size_t n)
{
	if (len <= n || line[n] != ':')
		return false;
	for (size_t k = 0; k < n; k++) {
		uint8_t c = line[k] == '_' ? '-' : (uint8_t)(line[k] | 0x20);
		if (c != (uint8_t)name[k])
			return false;
	}
	return true;
}

/* Fields the gateway owns or that end at the hop: never forwarded as the client sent them. */
static bool dropped(const uint8_t *line, uint32_t len)
{
	static const char *const names[] = {
		"x-forwarded-for",
		"x-forwarded-proto",
		"x-forwarded-host",
		"x-forwarded-port",
		"forwarded",
		"connection",
		"keep-alive",
		"proxy-connection",
		"te",
		"upgrade",
		"expect",
	};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (name_is(line, len, names[i], strlen(names[i])))
			return true;
	/* An underscore twin of a field that frames or routes the request. */
	const uint8_t *colon = memchr(line, ':', len);
	if (colon != NULL && memchr(line, '_', (size_t)(colon - line)) != NULL)
		return name_is(line, len, "content-length", 14) ||
		       name_is(line, len, "transfer-encoding", 17) || name_is(line, len, "host", 4);
	return false;
}

/* Connection's options name more hop-by-hop fields (RFC 9110 §7.6.1). They are collected as
 * "name\0" runs; the fields that frame or route the request are never among them. */
#define HOP_NAMES 512
static void collect_hop(const uint8_t *v, uint32_t n, char *names, uint32_t *used)
{
	uint32_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		uint32_t a = i;
		while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		uint32_t l = i - a;
		if (l == 0 || *used + l + 1 > HOP_NAMES)
			continue;
		for (uint32_t k = 0; k < l; k++)
			names[*used + k] = (char)(v[a + k] == '_' ? '-' : (v[a + k] | 0x20));
		names[*used + l] = 0;
		static const char *const keep[] = {"host", "content-length", "transfer-encoding"};
		bool kept = false;
		for (unsigned k = 0; k < 3; k++)
			kept |= strcmp(names + *used, keep[k]) == 0;
		if (!kept)
			*used += l + 1;
	}
}

static bool named_by_connection(const uint8_t *line, uint32_t len, const char *names, uint32_t used)
{
	for (uint32_t at = 0; at < used; at += (uint32_t)strlen(names + at) + 1)
		if (name_is(line, len, names + at, strlen(names + at)))
			return true;
	return false;
}

int term_rewrite_head(const uint8_t *head, uint32_t head_len, uint32_t client_ip,
		      uint16_t listen_port, uint8_t *out, uint32_t cap)
{
	/* The head is the strict parser's: CRLF line ends (bare LF is refused on terminated
	 * connections), no folded lines, an empty last line. */
	if (head_len < 4)
		return -1;
	char hop[HOP_NAMES];
	uint32_t hop_used = 0;
	for (uint32_t i = 0; i < head_len - 2;) { /* first pass: what Connection names */
		const uint8_t *eol = memchr(head + i, '\n', head_len - i);
		if (eol == NULL)
			return -1;
		uint32_t len = (uint32_t)(eol - (head + i)) + 1;
		if (name_is(head + i, len, "connection", 10))
			collect_hop(head + i + 11, len - 11, hop, &hop_used);
		i += len;
	}
	uint32_t o = 0, i = 0, host_off = 0, host_len = 0;
	bool first = true;
	while (i < head_len - 2) {
		const uint8_t *eol = memchr(head + i, '\n', head_len - i);
		if (eol == NULL)
			return -1;
		uint32_t len = (uint32_t)(eol - (head + i)) + 1;
		if (len < 2 || head[i + len - 2] != '\r')
			return -1; /* not the strict parser's head */
		bool drop = !first && (dropped(head + i, len) ||
				       named_by_connection(head + i, len, hop, hop_used));
		if (!first && host_len == 0 && name_is(head + i, len, "host", 4)) {
			uint32_t a = i + 5, b = i + len - 2; /* without CRLF */
			while (a < b && (head[a] == ' ' || head[a] == '\t'))
				a++;
			while (b > a && (head[b - 1] == ' ' || head[b - 1] == '\t'))
				b--;
			host_off = a;
			host_len = b - a;
		}
		if (!drop) {
			if (o + len > cap)
				return -1;
			memcpy(out + o, head + i, len);
			o += len;
		}
		first = false;
		i += len;
	}
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &client_ip, ip, sizeof(ip));
	int n = snprintf((char *)out + o, cap - o,
			 "X-Forwarded-For: %s\r\nX-Forwarded-Proto: https\r\n"
			 "X-Forwarded-Host: %.*s\r\nX-Forwarded-Port: %u\r\n\r\n",
			 ip, (int)host_len, (const char *)head + host_off, listen_port);
	if (n < 0 || (uint32_t)n >= cap - o)
		return -1;
	return (int)(o + (uint32_t)n);
}
