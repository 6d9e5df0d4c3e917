/*
 * path.c: what the router reads of a request target — the normalised path (RFC 3986 §5.2.4,
 * §6.2.2) — and a header lookup for affinity, both off the splice path.
 */
#include "http/http-int.h"

/* ---- path normalisation ------------------------------------------------------------------- */

static bool unreserved(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int http_normalize_path(const uint8_t *in, size_t len, char *out, size_t cap)
{
	/* Pass 1 writes decoded segments; dot segments are resolved as each segment ends, by
	 * trimming out back to the previous '/'. out always starts with '/'. */
	size_t o = 0;
	if (cap < 2)
		return -1;
	out[o++] = '/';
	size_t seg_start = o; /* where the current segment begins in out */
	size_t i = 0;
	while (i <= len) {
		if (i == len || in[i] == '/') {
			/* End of a segment: resolve "." and "..". */
			size_t seg_len = o - seg_start;
			bool last = i == len;
			if (seg_len == 1 && out[seg_start] == '.') {
				o = seg_start;
			} else if (seg_len == 2 && out[seg_start] == '.' &&
				   out[seg_start + 1] == '.') {
				o = seg_start;
				if (o > 1) {
					o--; /* the '/' before this segment */
					while (o > 0 && out[o - 1] != '/')
						o--;
				}
			} else if (seg_len > 0 && !last) {
				if (o + 1 >= cap)
					return -1;
				out[o++] = '/';
			}
			/* Empty segment ("//"): merged, nothing written. */
			seg_start = o;
			i++;
			continue;
		}
		uint8_t c = in[i];
		if (c == '%') {
			if (i + 2 >= len || hexval(in[i + 1]) < 0 || hexval(in[i + 2]) < 0)
				return -1;
			uint8_t d = (uint8_t)(hexval(in[i + 1]) << 4 | hexval(in[i + 2]));
			if (unreserved(d)) {
				if (o + 1 >= cap)
					return -1;
				out[o++] = (char)d;
			} else {
				static const char hex[] = "0123456789ABCDEF";
				if (o + 3 >= cap)
					return -1;
				out[o++] = '%';
				out[o++] = hex[d >> 4];
				out[o++] = hex[d & 15];
			}
			i += 3;
			continue;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
		i++;
	}
	/* A path that ended in "/" (or "/." or "/..") keeps its trailing slash. */
	if (o == 0)
		out[o++] = '/';
	bool trailing =
		len > 0 &&
		(in[len - 1] == '/' || (len >= 2 && in[len - 1] == '.' && in[len - 2] == '/') ||
		 (len >= 3 && in[len - 1] == '.' && in[len - 2] == '.' && in[len - 3] == '/'));
	if (trailing && out[o - 1] != '/') {
		if (o + 1 >= cap)
			return -1;
		out[o++] = '/';
	}
	out[o] = '\0';
	return (int)o;
}

bool http_find_header(const uint8_t *head, size_t head_len, const char *name, size_t *off,
		      size_t *len)
{
	size_t nl = strlen(name);
	size_t i = 0;
	/* skip the request line */
	while (i < head_len && head[i] != '\n')
		i++;
	i++;
	while (i < head_len) {
		size_t start = i;
		while (i < head_len && head[i] != '\n')
			i++;
		size_t end = i; /* at '\n' */
		i++;
		if (end > start && head[end - 1] == '\r')
			end--;
		if (end == start)
			return false; /* the empty line: end of the head */
		if (end - start <= nl || head[start + nl] != ':')
			continue;
		bool same = true;
		for (size_t k = 0; k < nl && same; k++) {
			uint8_t a = head[start + k], b = (uint8_t)name[k];
			if (a >= 'A' && a <= 'Z')
				a = (uint8_t)(a + 32);
			if (b >= 'A' && b <= 'Z')
				b = (uint8_t)(b + 32);
			same = a == b;
		}
		if (!same)
			continue;
		size_t v = start + nl + 1;
		while (v < end && (head[v] == ' ' || head[v] == '\t'))
			v++;
		size_t ve = end;
		while (ve > v && (head[ve - 1] == ' ' || head[ve - 1] == '\t'))
			ve--;
		*off = v;
		*len = ve - v;
		return true;
	}
	return false;
}
