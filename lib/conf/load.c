/*
 * load.c: libconfig → struct sluice_conf, driven by the table in schema.c.
 *
 * One reader walks the file: at each group it refuses fields the table does not list (naming
 * the ones it does), reports required fields that are missing, and hands every field to one of
 * three readers: a group recurses, an array or list goes through read_seq() (the only loop over
 * entries), a value goes through read_value(). A value is checked against the file's type, then
 * by the field's own check if it has one, then parsed and range-checked and stored at the
 * row's offset in the record being filled. Defaults go through the same store(), so a default
 * is exactly what writing it in the file would give.
 *
 * Problems are appended, never fatal: every one is reported as "FILE:LINE: PATH: message",
 * with libconfig's file and line for the setting (so @included profiles name their own file)
 * and PATH as written, list indexes included (`ports.[1].profile.rx_desc`). After the walk,
 * relative paths are resolved and checks.c applies the rules across fields.
 */
#include "conf/conf_int.h"

/* Field paths in messages are built into fixed buffers; a path cut short still names the
 * field, so truncation here is harmless and the warning is noise. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- problems ----------------------------------------------------------------------------- */

static void vreport(struct conf_reader *r, const config_setting_t *at, const char *path,
		    const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	const char *file = at ? config_setting_source_file(at) : NULL;
	if (file == NULL)
		file = r->top_file;
	int line = at ? (int)config_setting_source_line(at) : 0;
	r->problems++;
	if (r->err == NULL || r->errlen == 0 || r->used + 1 >= r->errlen)
		return;
	int n = snprintf(r->err + r->used, r->errlen - r->used, "%s:%d: %s: %s\n", file, line, path,
			 msg);
	if (n < 0)
		return;
	if ((size_t)n >= r->errlen - r->used) {
		/* Truncated: end the buffer with a visible marker. */
		r->used = r->errlen - 1;
		if (r->errlen > 5)
			memcpy(r->err + r->errlen - 5, "...\n", 5);
	} else {
		r->used += (size_t)n;
	}
}

void conf_report(struct conf_reader *r, const config_setting_t *at, const char *path,
		 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(r, at, path, fmt, ap);
	va_end(ap);
}

static void join_path(char *out, size_t len, const char *base, const char *name)
{
	if (base[0] == '\0')
		snprintf(out, len, "%s", name);
	else
		snprintf(out, len, "%s.%s", base, name);
}

static const char *type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group { ... }";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "true or false";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ... ]";
	case CONFIG_TYPE_LIST:
		return "a list ( ... )";
	default:
		return "something else";
	}
}

/* ---- value syntax ------------------------------------------------------------------------- */

int conf_parse_ipv4(const char *s, uint32_t *out)
{
	struct in_addr a;
	if (s == NULL || inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = a.s_addr;
	return 0;
}

int conf_parse_prefix(const char *s, struct conf_prefix *out)
{
	char buf[64];
	if (s == NULL || strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	long len = 32;
	if (slash) {
		*slash = '\0';
		char *end;
		errno = 0;
		len = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end != '\0' || len < 0 || len > 32)
			return -1;
	}
	uint32_t a;
	if (conf_parse_ipv4(buf, &a) != 0)
		return -1;
	uint32_t mask = len == 0 ? 0 : htonl(~0u << (32 - len));
	out->addr = a & mask;
	out->len = (uint8_t)len;
	return 0;
}

bool conf_prefix_contains(const struct conf_prefix *p, uint32_t addr)
{
	uint32_t mask = p->len == 0 ? 0 : htonl(~0u << (32 - p->len));
	return (addr & mask) == p->addr;
}

/* "198.19.0.11:8080" → address (network order) and port (1–65535). */
static int parse_hostport(const char *s, uint32_t *addr, uint16_t *port)
{
	char buf[64];
	if (strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	char *colon = strrchr(buf, ':');
	if (colon == NULL)
		return -1;
	*colon = '\0';
	char *end;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end != '\0' || p < 1 || p > 65535 ||
	    conf_parse_ipv4(buf, addr) != 0)
		return -1;
	*port = (uint16_t)p;
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Hex digit pairs into at most max bytes; the byte count, or -1. */
static int parse_hex(const char *s, uint8_t *out, size_t max)
{
	size_t n = strlen(s);
	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(n / 2);
}

/* The value a message shows as an example: the row's example, else its default (schema.c's
 * self-check makes sure the address-like types have one). */
static const char *example_of(const struct conf_field *f)
{
	return f->example ? f->example : f->def ? f->def : "";
}

static const struct conf_name *find_name(const struct conf_name *names, const char *s)
{
	for (const struct conf_name *n = names; n->name; n++)
		if (strcmp(n->name, s) == 0)
			return n;
	return NULL;
}

/* What one value of f looks like, for "expected ..." in messages. */
static void describe_value(const struct conf_field *f, char *out, size_t len)
{
	char words[256] = "";
	char eg[96] = "";
	const char *ex = example_of(f);
	if (ex[0])
		snprintf(eg, sizeof(eg), ", e.g. \"%s\"", ex);
	if (f->names)
		conf_names_list(f->names, NULL, words, sizeof(words));
	switch (f->type) {
	case CONF_T_GROUP:
		snprintf(out, len, "a group { ... }");
		break;
	case CONF_T_LIST:
		snprintf(out, len, "a list ( { ... }, ... )");
		break;
	case CONF_T_INT:
		snprintf(out, len, "an integer from %lld to %lld", f->min, f->max);
		break;
	case CONF_T_BOOL:
		snprintf(out, len, "true or false");
		break;
	case CONF_T_STRING:
	case CONF_T_ARG:
		snprintf(out, len, "a string");
		break;
	case CONF_T_ENUM:
	case CONF_T_WORD:
	case CONF_T_FLAG:
		snprintf(out, len, "one of: %s", words);
		break;
	case CONF_T_IPV4:
		snprintf(out, len, "an IPv4 address%s", eg);
		break;
	case CONF_T_PREFIX:
		snprintf(out, len, "an IPv4 prefix%s", eg);
		break;
	case CONF_T_HOSTPORT:
		snprintf(out, len, "\"ADDRESS:PORT\" with an IPv4 address%s", eg);
		break;
	case CONF_T_HEX:
		snprintf(out, len, "hex digits, at most %zu bytes", f->size);
		break;
	}
}

/* The whole field: a value, or an array of them. */
static void describe(const struct conf_field *f, char *out, size_t len)
{
	char one[320];
	describe_value(f, one, sizeof(one));
	if (!f->array)
		snprintf(out, len, "%s", one);
	else if (f->nmin)
		snprintf(out, len, "an array [ ... ] of %u to %u entries, each %s", f->nmin,
			 f->nmax, one);
	else
		snprintf(out, len, "an array [ ... ] of at most %u entries, each %s", f->nmax, one);
}

/* ---- storing ------------------------------------------------------------------------------ */

/* A value as the file (or a default) gives it: a number for INT and BOOL, else text. */
struct value {
	long long i;
	const char *s;
};

static void *at_off(void *rec, size_t off)
{
	return (char *)rec + off;
}

static void put_uint(void *p, size_t size, uint64_t v)
{
	uint8_t u8 = (uint8_t)v;
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;
	memcpy(p, size == 1 ? (void *)&u8 : size == 2 ? (void *)&u16 : (void *)&u32, size);
}

static void put_count(const struct conf_field *f, void *rec, unsigned n)
{
	if (f->count != CONF_OPT_NONE)
		put_uint(at_off(rec, f->count - 1), sizeof(uint16_t), n);
}

/* Parse v as f says and store it as entry idx (0 for a scalar) of f in rec. */
static bool store(struct conf_reader *r, const struct conf_field *f, const config_setting_t *at,
		  const char *path, void *rec, unsigned idx, struct value v)
{
	void *dst = at_off(rec, f->off + (size_t)idx * f->size);
	char words[256];
	const struct conf_name *n = NULL;
	uint32_t addr;
	uint16_t port;
	struct conf_prefix pf;

	/* Words: two phrasings, both older than the table and matched by tests and scripts. A word
	 * kept as text is quoted back with the words it may be; one that selects a number or a
	 * flag is "an unknown value". */
	if (f->names) {
		n = find_name(f->names, v.s);
		if (n == NULL) {
			conf_names_list(f->names, f->type == CONF_T_WORD ? " or " : NULL, words,
					sizeof(words));
			if (f->type == CONF_T_WORD)
				conf_report(r, at, path, "\"%s\": expected %s", v.s, words);
			else
				conf_report(r, at, path,
					    "unknown value \"%s\"; expected one of: %s", v.s,
					    words);
			return false;
		}
	}
	switch (f->type) {
	case CONF_T_GROUP:
	case CONF_T_LIST:
		return false; /* not values */
	case CONF_T_INT:
		if (v.i < f->min || v.i > f->max) {
			conf_report(r, at, path,
				    "%lld is out of range; expected an integer from %lld to %lld",
				    v.i, f->min, f->max);
			return false;
		}
		put_uint(dst, f->size, (uint64_t)v.i);
		return true;
	case CONF_T_BOOL:
		*(bool *)dst = v.i != 0;
		return true;
	case CONF_T_STRING:
	case CONF_T_WORD:
		if (strlen(v.s) >= f->size) {
			conf_report(r, at, path, "too long (%zu bytes); at most %zu", strlen(v.s),
				    f->size - 1);
			return false;
		}
		memcpy(dst, v.s, strlen(v.s) + 1);
		return true;
	case CONF_T_ARG: {
		char *copy = strdup(v.s);
		if (copy == NULL) {
			conf_report(r, at, path, "out of memory");
			return false;
		}
		memcpy(dst, &copy, sizeof(copy));
		return true;
	}
	case CONF_T_ENUM:
		put_uint(dst, f->size, n->value);
		return true;
	case CONF_T_FLAG:
		*(uint32_t *)at_off(rec, f->off) |= n->value;
		return true;
	case CONF_T_IPV4:
		if (conf_parse_ipv4(v.s, &addr) != 0) {
			conf_report(r, at, path,
				    "\"%s\" is not an IPv4 address; expected e.g. \"%s\"", v.s,
				    example_of(f));
			return false;
		}
		memcpy(dst, &addr, sizeof(addr));
		return true;
	case CONF_T_PREFIX:
		if (conf_parse_prefix(v.s, &pf) != 0) {
			conf_report(r, at, path,
				    "\"%s\" is not an IPv4 prefix; expected e.g. \"%s\"", v.s,
				    example_of(f));
			return false;
		}
		memcpy(dst, &pf, sizeof(pf));
		return true;
	case CONF_T_HOSTPORT:
		if (parse_hostport(v.s, &addr, &port) != 0) {
			/* An entry of an array is named by the value first (its index alone does
			 * not show which); a scalar's line shows it. */
			describe_value(f, words, sizeof(words));
			if (f->array)
				conf_report(r, at, path, "\"%s\": expected %s", v.s, words);
			else
				conf_report(r, at, path, "expected %s, got \"%s\"", words, v.s);
			return false;
		}
		memcpy(dst, &addr, sizeof(addr));
		memcpy(at_off(rec, f->aux - 1 + (size_t)idx * sizeof(port)), &port, sizeof(port));
		return true;
	case CONF_T_HEX: {
		int len = parse_hex(v.s, dst, f->size);
		if (len < 0) {
			conf_report(r, at, path, "expected hex digits, at most %zu bytes", f->size);
			return false;
		}
		put_uint(at_off(rec, f->aux - 1), 1, (uint64_t)len);
		return true;
	}
	}
	return false;
}

int conf_apply_defaults(enum conf_record kind, void *rec, struct conf_reader *r)
{
	struct conf_reader quiet = {.top_file = "<defaults>"};
	if (r == NULL)
		r = &quiet;
	int before = r->problems;
	for (size_t i = 0; i < conf_n_fields; i++) {
		const struct conf_field *f = &conf_fields[i];
		if (f->rec != kind || f->def == NULL || f->type == CONF_T_GROUP ||
		    f->type == CONF_T_LIST)
			continue;
		struct value v = {.s = f->def};
		char *end = NULL;
		if (f->type == CONF_T_INT) {
			errno = 0;
			v.i = strtoll(f->def, &end, 10);
			if (errno || end == f->def || *end != '\0') {
				conf_report(r, NULL, f->path, "default \"%s\" is not an integer",
					    f->def);
				continue;
			}
		} else if (f->type == CONF_T_BOOL) {
			if (strcmp(f->def, "true") && strcmp(f->def, "false")) {
				conf_report(r, NULL, f->path, "default \"%s\" is not a bool",
					    f->def);
				continue;
			}
			v.i = strcmp(f->def, "true") == 0;
		}
		if (store(r, f, NULL, f->path, rec, 0, v) && f->array)
			put_count(f, rec, 1);
	}
	return r->problems - before;
}

void conf_defaults(struct sluice_conf *c)
{
	memset(c, 0, sizeof(*c));
	conf_apply_defaults(CONF_REC_TOP, c, NULL);
}

/* ---- reading ------------------------------------------------------------------------------ */

static void read_group(struct conf_reader *r, const struct conf_field *gf,
		       const config_setting_t *g, const char *path, void *rec);

/* One value: a scalar field, or entry idx of an array. */
static bool read_value(struct conf_reader *r, const struct conf_field *f, const config_setting_t *s,
		       const char *path, void *rec, unsigned idx)
{
	int t = config_setting_type(s);
	bool ok;
	if (f->type == CONF_T_INT)
		ok = t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
	else if (f->type == CONF_T_BOOL)
		ok = t == CONFIG_TYPE_BOOL;
	else
		ok = t == CONFIG_TYPE_STRING;
	if (!ok) {
		char d[320];
		describe_value(f, d, sizeof(d));
		conf_report(r, s, path, "expected %s, got %s", d, type_name(t));
		return false;
	}
	if (f->check && !f->check(r, s, path, rec))
		return false;
	struct value v = {0};
	if (f->type == CONF_T_INT)
		v.i = config_setting_get_int64(s);
	else if (f->type == CONF_T_BOOL)
		v.i = config_setting_get_bool(s);
	else
		v.s = config_setting_get_string(s);
	return store(r, f, s, path, rec, idx, v);
}

/* Drop what an array held (its default) before the file's entries replace it. */
static void clear_seq(const struct conf_field *f, void *rec)
{
	if (f->type == CONF_T_FLAG) {
		*(uint32_t *)at_off(rec, f->off) = 0;
		return;
	}
	if (f->type == CONF_T_ARG && f->count != CONF_OPT_NONE) {
		uint16_t n;
		memcpy(&n, at_off(rec, f->count - 1), sizeof(n));
		for (unsigned i = 0; i < n; i++) {
			char **slot = at_off(rec, f->off + i * f->size);
			free(*slot);
			*slot = NULL;
		}
	}
	put_count(f, rec, 0);
}

/*
 * Every array [ ... ] and list ( { ... } ): the one loop over entries. An entry that fails is
 * reported and left out; the count is updated after each entry so a field's check can see the
 * entries before it. A list entry is a record: zeroed, given its defaults, then read as a group.
 */
static void read_seq(struct conf_reader *r, const struct conf_field *f, const config_setting_t *s,
		     const char *path, void *rec)
{
	int t = config_setting_type(s);
	bool list = f->type == CONF_T_LIST;
	char d[400];
	if (list ? t != CONFIG_TYPE_LIST : t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		describe(f, d, sizeof(d));
		conf_report(r, s, path, "expected %s, got %s", d, type_name(t));
		return;
	}
	int n = config_setting_length(s);
	if (n < f->nmin || n > f->nmax) {
		char each[340] = "";
		if (!list) {
			describe_value(f, d, sizeof(d));
			snprintf(each, sizeof(each), ", each %s", d);
		}
		if (n == 0)
			conf_report(r, s, path, "empty; expected %u to %u entries%s", f->nmin,
				    f->nmax, each);
		else if (f->nmin)
			conf_report(r, s, path, "%d entries; expected %u to %u%s", n, f->nmin,
				    f->nmax, each);
		else
			conf_report(r, s, path, "%d entries; at most %u", n, f->nmax);
		return;
	}
	clear_seq(f, rec);
	unsigned count = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		char ep[CONF_STR_LEN];
		snprintf(ep, sizeof(ep), "%s.[%d]", path, i);
		if (!list) {
			if (read_value(r, f, e, ep, rec, count) && f->count != CONF_OPT_NONE)
				put_count(f, rec, ++count);
			continue;
		}
		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			conf_report(r, e, ep, "expected a group { ... }, got %s",
				    type_name(config_setting_type(e)));
			continue;
		}
		void *entry = at_off(rec, f->off + count * f->size);
		memset(entry, 0, f->size);
		conf_apply_defaults(f->of, entry, NULL);
		if (f->src_file != CONF_OPT_NONE) {
			const char *file = config_setting_source_file(e);
			snprintf(at_off(entry, f->src_file - 1), CONF_STR_LEN, "%s",
				 file ? file : r->top_file);
		}
		if (f->src_line != CONF_OPT_NONE) {
			int line = (int)config_setting_source_line(e);
			memcpy(at_off(entry, f->src_line - 1), &line, sizeof(line));
		}
		read_group(r, f, e, ep, entry);
		/* Kept even with problems inside, so the checks across records still see it. */
		put_count(f, rec, ++count);
	}
}

/* Refuse fields the group (or list entry) does not define; list the ones it does. */
static void check_known(struct conf_reader *r, const config_setting_t *g, const char *path,
			const char *key)
{
	int n = config_setting_length(g);
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		bool known = false;
		char list[512] = "";
		size_t used = 0;
		for (size_t j = 0; j < conf_n_fields && !known; j++) {
			const struct conf_field *f = &conf_fields[j];
			if (!conf_field_is_child(f, key))
				continue;
			known = name && strcmp(conf_field_name(f), name) == 0;
			int w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "",
					 conf_field_name(f));
			if (w > 0 && (size_t)w < sizeof(list) - used)
				used += (size_t)w;
		}
		if (known)
			continue;
		char p[CONF_STR_LEN];
		join_path(p, sizeof(p), path, name ? name : "?");
		conf_report(r, s, p, "unknown field; expected one of: %s", list);
	}
}

/* A group's fields, in table order; gf is the group's (or list's) row, NULL at the top. */
static void read_group(struct conf_reader *r, const struct conf_field *gf,
		       const config_setting_t *g, const char *path, void *rec)
{
	const char *key = gf ? gf->path : "";
	check_known(r, g, path, key);
	for (size_t i = 0; i < conf_n_fields; i++) {
		const struct conf_field *f = &conf_fields[i];
		if (!conf_field_is_child(f, key))
			continue;
		const config_setting_t *s = config_setting_get_member(g, conf_field_name(f));
		char p[CONF_STR_LEN], d[400];
		join_path(p, sizeof(p), path, conf_field_name(f));
		if (s == NULL) {
			if (f->required) {
				describe(f, d, sizeof(d));
				conf_report(r, g, p, "missing; expected %s", d);
			}
		} else if (f->type == CONF_T_GROUP) {
			if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
				conf_report(r, s, p, "expected a group { ... }, got %s",
					    type_name(config_setting_type(s)));
				continue;
			}
			if (f->aux != CONF_OPT_NONE)
				*(bool *)at_off(rec, f->aux - 1) = true;
			read_group(r, f, s, p, rec);
		} else if (f->type == CONF_T_LIST || f->array) {
			read_seq(r, f, s, p, rec);
		} else {
			read_value(r, f, s, p, rec, 0);
		}
	}
}

/* ---- files -------------------------------------------------------------------------------- */

/* Relative paths inside the file (routing.manifests, kubernetes.kubeconfig) are relative to the
 * file's directory, so a deployment directory can be moved as a whole. */
static void resolve_one(char *m, const char *dir)
{
	if (m[0] == '\0' || m[0] == '/' || dir == NULL || strcmp(dir, ".") == 0)
		return;
	char tmp[CONF_STR_LEN];
	int n = snprintf(tmp, sizeof(tmp), "%s/%s", dir, m);
	if (n > 0 && (size_t)n < sizeof(tmp))
		memcpy(m, tmp, (size_t)n + 1);
}

static bool include_failed(const config_t *cfg, const char *dir, char *errbuf, size_t errlen);

static int load_common(config_t *cfg, int read_ok, const char *label, const char *dir,
		       struct sluice_conf *out, char *errbuf, size_t errlen)
{
	struct conf_reader r = {.err = errbuf, .errlen = errlen, .top_file = label};
	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (read_ok != CONFIG_TRUE) {
		const char *file = config_error_file(cfg) ? config_error_file(cfg) : label;
		if (config_error_type(cfg) == CONFIG_ERR_FILE_IO && config_error_line(cfg) == 0)
			snprintf(errbuf, errlen, "%s:0: cannot read the file: %s\n", file,
				 strerror(errno ? errno : ENOENT));
		else if (include_failed(cfg, dir, errbuf, errlen))
			;
		else
			snprintf(errbuf, errlen, "%s:%d: syntax: %s\n", file,
				 config_error_line(cfg), config_error_text(cfg));
		return 1;
	}
	read_group(&r, NULL, config_root_setting(cfg), "", out);
	resolve_one(out->routing.manifests, dir);
	resolve_one(out->kubernetes.kubeconfig, dir);
	resolve_one(out->tls.default_certificate, dir);
	resolve_one(out->tls.default_key, dir);
	resolve_one(out->tls.ticket_key_file, dir);
	conf_check_relations(&r, cfg, out);
	return r.problems;
}

/*
 * libconfig says only "cannot open include file": name the file it looked for and where, from
 * the @include line itself, so the operator sees what to copy or correct.
 */
static bool include_failed(const config_t *cfg, const char *dir, char *errbuf, size_t errlen)
{
	const char *text = config_error_text(cfg), *file = config_error_file(cfg);
	if (text == NULL || strstr(text, "include") == NULL || file == NULL)
		return false;
	FILE *f = fopen(file, "r");
	if (f == NULL)
		return false;
	char line[1024], path[512] = "";
	for (int n = 1; fgets(line, sizeof(line), f); n++) {
		if (n != config_error_line(cfg))
			continue;
		const char *q = strchr(line, '"');
		const char *e = q ? strchr(q + 1, '"') : NULL;
		if (q && e && (size_t)(e - q - 1) < sizeof(path))
			snprintf(path, sizeof(path), "%.*s", (int)(e - q - 1), q + 1);
		break;
	}
	fclose(f);
	if (path[0] == '\0')
		return false;
	snprintf(errbuf, errlen,
		 "%s:%d: @include \"%s\": cannot open %s/%s; include paths are relative to the "
		 "configuration file's directory (copy drivers-config/ next to it)\n",
		 file, config_error_line(cfg), path, dir ? dir : ".", path);
	return true;
}

int conf_load(const char *file, struct sluice_conf *out, char *errbuf, size_t errlen)
{
	conf_defaults(out);
	snprintf(out->path, sizeof(out->path), "%s", file);
	config_t cfg;
	config_init(&cfg);
	/* @include paths are relative to the including file's directory. */
	char dir[CONF_STR_LEN];
	snprintf(dir, sizeof(dir), "%s", file);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	config_set_include_dir(&cfg, dir);
	errno = 0;
	int ok = config_read_file(&cfg, file);
	int problems = load_common(&cfg, ok, file, dir, out, errbuf, errlen);
	config_destroy(&cfg);
	return problems;
}

int conf_load_string(const char *text, const char *include_dir, struct sluice_conf *out,
		     char *errbuf, size_t errlen)
{
	conf_defaults(out);
	snprintf(out->path, sizeof(out->path), "<string>");
	config_t cfg;
	config_init(&cfg);
	if (include_dir)
		config_set_include_dir(&cfg, include_dir);
	int ok = config_read_string(&cfg, text);
	int problems = load_common(&cfg, ok, "<string>", include_dir, out, errbuf, errlen);
	config_destroy(&cfg);
	return problems;
}

void conf_release(struct sluice_conf *c)
{
	for (unsigned i = 0; i < c->n_eal_args; i++) {
		free(c->eal_args[i]);
		c->eal_args[i] = NULL;
	}
	c->n_eal_args = 0;
}

/* ---- small helpers of the public API ------------------------------------------------------ */

const char *conf_steering_name(enum conf_steering s)
{
	switch (s) {
	case CONF_STEER_SOFTWARE:
		return "software";
	case CONF_STEER_THASH:
		return "thash";
	}
	return "?";
}

int conf_port_index(const struct sluice_conf *c, const char *name)
{
	for (int i = 0; i < c->n_ports; i++)
		if (strcmp(c->ports[i].name, name) == 0)
			return i;
	return -1;
}
