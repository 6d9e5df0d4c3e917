/*
 * conf.c: libconfig → struct sluice_conf, with validation that explains itself.
 *
 * The loader walks the file with a small "reader" that knows the path of the group it is in
 * (`ports.[1].profile`) and appends problems to an error buffer instead of stopping at the
 * first. Every group declares the fields it accepts; anything else is reported as unknown, with
 * the accepted names listed, so a typo is caught at --check-config time instead of at 3 a.m.
 *
 * libconfig gives each setting its source file and line (including @included profiles), which is
 * what makes "FILE:LINE: field: message" possible for every problem.
 */
#include "conf/conf.h"

/* Field paths in messages are built into fixed buffers; a path cut short still names the
 * field, so truncation here is harmless and the warning is noise. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reader {
	char *err;
	size_t errlen;
	size_t used;
	int problems;
	const char *top_file; /* fallback when a setting has no file (string input) */
};

static void vreport(struct reader *r, const config_setting_t *at, const char *path, const char *fmt,
		    va_list ap)
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

static void report(struct reader *r, const config_setting_t *at, const char *path, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));
static void report(struct reader *r, const config_setting_t *at, const char *path, const char *fmt,
		   ...)
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

/*
 * Every field the file may contain, by its path with list indexes left out. This one table
 * drives the unknown-field check and the documentation test (docs/configuration.md must
 * mention each entry), so the validator and the reference cannot drift apart.
 */
static const char *const schema[] = {
	"eal",
	"eal.args",
	"lcores",
	"lcores.management",
	"lcores.workers",
	"ports",
	"ports.name",
	"ports.devargs",
	"ports.vips",
	"ports.snat",
	"ports.subnets",
	"ports.routes",
	"ports.routes.dst",
	"ports.routes.via",
	"ports.profile",
	"ports.profile.driver",
	"ports.profile.rx_queues",
	"ports.profile.rx_desc",
	"ports.profile.tx_desc",
	"ports.profile.mtu",
	"ports.profile.promiscuous",
	"ports.profile.queue_devarg",
	"ports.profile.steering",
	"ports.profile.rss",
	"ports.profile.rss.enabled",
	"ports.profile.rss.fields",
	"ports.profile.rss.key",
	"ports.profile.offloads",
	"ports.profile.offloads.rx",
	"ports.profile.offloads.tx",
	"limits",
	"limits.max_flows",
	"limits.mbufs",
	"limits.neighbours",
	"limits.request_buffer",
	"limits.max_header_bytes",
	"limits.max_request_line",
	"limits.max_headers",
	"limits.reject_bare_lf",
	"timeouts",
	"timeouts.header_ms",
	"timeouts.connect_ms",
	"timeouts.idle_ms",
	"timeouts.linger_ms",
	"timeouts.neighbour_reachable_ms",
	"timeouts.neighbour_retry_ms",
	"metrics",
	"metrics.enabled",
	"metrics.listen",
	"routing",
	"routing.manifests",
	"routing.ingress_class",
	"routing.controller",
	"routing.default_backend",
	"routing.load_balance",
	"kubernetes",
	"kubernetes.in_cluster",
	"kubernetes.kubeconfig",
	"kubernetes.context",
	"kubernetes.status_addresses",
	"kubernetes.write_status",
	"kubernetes.debounce_ms",
	"kubernetes.backoff_max_ms",
	"static_routes",
	"static_routes.host",
	"static_routes.path",
	"static_routes.path_type",
	"static_routes.endpoints",
	"log_level",
	NULL,
};

const char *const *conf_schema(void)
{
	return schema;
}

/* Is `name` a field of the group whose schema key is `key` ("" for the top level)? */
static bool schema_has(const char *key, const char *name)
{
	size_t kl = strlen(key);
	for (const char *const *e = schema; *e; e++) {
		const char *child = *e;
		if (kl) {
			if (strncmp(*e, key, kl) != 0 || (*e)[kl] != '.')
				continue;
			child = *e + kl + 1;
		}
		if (strchr(child, '.') == NULL && strcmp(child, name) == 0)
			return true;
	}
	return false;
}

/* Refuse fields a group does not define; list the ones it does. */
static void check_known(struct reader *r, const config_setting_t *group, const char *path,
			const char *key)
{
	if (group == NULL)
		return;
	size_t kl = strlen(key);
	int n = config_setting_length(group);
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(s);
		if (name && schema_has(key, name))
			continue;
		char list[512] = "";
		size_t used = 0;
		for (const char *const *e = schema; *e; e++) {
			const char *child = *e;
			if (kl) {
				if (strncmp(*e, key, kl) != 0 || (*e)[kl] != '.')
					continue;
				child = *e + kl + 1;
			}
			if (strchr(child, '.'))
				continue;
			int w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "",
					 child);
			if (w > 0 && (size_t)w < sizeof(list) - used)
				used += (size_t)w;
		}
		char p[CONF_STR_LEN];
		join_path(p, sizeof(p), path, name ? name : "?");
		report(r, s, p, "unknown field; expected one of: %s", list);
	}
}

/* A child that must be a group (or absent when !required). */
static const config_setting_t *get_group(struct reader *r, const config_setting_t *parent,
					 const char *path, const char *name, bool required)
{
	const config_setting_t *s = config_setting_get_member(parent, name);
	char p[CONF_STR_LEN];
	join_path(p, sizeof(p), path, name);
	if (s == NULL) {
		if (required)
			report(r, parent, p, "missing; expected a group { ... }");
		return NULL;
	}
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		report(r, s, p, "expected a group { ... }, got %s",
		       type_name(config_setting_type(s)));
		return NULL;
	}
	return s;
}

/* Integer in [min, max]; absent → keeps *out (the default) unless required. */
static void get_uint(struct reader *r, const config_setting_t *parent, const char *path,
		     const char *name, long long min, long long max, bool required, uint32_t *out)
{
	const config_setting_t *s = parent ? config_setting_get_member(parent, name) : NULL;
	char p[CONF_STR_LEN];
	join_path(p, sizeof(p), path, name);
	if (s == NULL) {
		if (required)
			report(r, parent, p, "missing; expected an integer from %lld to %lld", min,
			       max);
		return;
	}
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		report(r, s, p, "expected an integer from %lld to %lld, got %s", min, max,
		       type_name(t));
		return;
	}
	long long v = config_setting_get_int64(s);
	if (v < min || v > max) {
		report(r, s, p, "%lld is out of range; expected an integer from %lld to %lld", v,
		       min, max);
		return;
	}
	*out = (uint32_t)v;
}

static void get_u16(struct reader *r, const config_setting_t *parent, const char *path,
		    const char *name, long long min, long long max, bool required, uint16_t *out)
{
	uint32_t v = *out;
	get_uint(r, parent, path, name, min, max, required, &v);
	*out = (uint16_t)v;
}

static void get_bool(struct reader *r, const config_setting_t *parent, const char *path,
		     const char *name, bool *out)
{
	const config_setting_t *s = parent ? config_setting_get_member(parent, name) : NULL;
	if (s == NULL)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		char p[CONF_STR_LEN];
		join_path(p, sizeof(p), path, name);
		report(r, s, p, "expected true or false, got %s",
		       type_name(config_setting_type(s)));
		return;
	}
	*out = config_setting_get_bool(s);
}

/* String; returns the setting (for further checks) or NULL. */
static const config_setting_t *get_string(struct reader *r, const config_setting_t *parent,
					  const char *path, const char *name, bool required,
					  char *out, size_t outlen)
{
	const config_setting_t *s = parent ? config_setting_get_member(parent, name) : NULL;
	char p[CONF_STR_LEN];
	join_path(p, sizeof(p), path, name);
	if (s == NULL) {
		if (required)
			report(r, parent, p, "missing; expected a string");
		return NULL;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		report(r, s, p, "expected a string, got %s", type_name(config_setting_type(s)));
		return NULL;
	}
	const char *v = config_setting_get_string(s);
	if (strlen(v) >= outlen) {
		report(r, s, p, "too long (%zu bytes); at most %zu", strlen(v), outlen - 1);
		return NULL;
	}
	snprintf(out, outlen, "%s", v);
	return s;
}

/* Array of strings: calls each(r, elem, path_of_elem, value, arg) per element. */
typedef void (*string_each_fn)(struct reader *r, const config_setting_t *elem, const char *path,
			       const char *value, void *arg);

static void get_string_array(struct reader *r, const config_setting_t *parent, const char *path,
			     const char *name, unsigned max, string_each_fn each, void *arg)
{
	const config_setting_t *s = parent ? config_setting_get_member(parent, name) : NULL;
	char p[CONF_STR_LEN];
	join_path(p, sizeof(p), path, name);
	if (s == NULL)
		return;
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		report(r, s, p, "expected an array of strings [ \"...\", ... ], got %s",
		       type_name(t));
		return;
	}
	int n = config_setting_length(s);
	if ((unsigned)n > max) {
		report(r, s, p, "%d entries; at most %u", n, max);
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		char ep[CONF_STR_LEN];
		snprintf(ep, sizeof(ep), "%s.[%d]", p, i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			report(r, e, ep, "expected a string, got %s",
			       type_name(config_setting_type(e)));
			continue;
		}
		each(r, e, ep, config_setting_get_string(e), arg);
	}
}

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

void conf_defaults(struct sluice_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->management_lcore = 0;
	c->limits = (struct conf_limits){
		.max_flows = 65536,
		.mbufs = 16383,
		.neighbours = 1024,
		.request_buffer = 16384,
		.max_header_bytes = 8192,
		.max_request_line = 8192,
		.max_headers = 100,
		.reject_bare_lf = true,
	};
	c->timeouts = (struct conf_timeouts){
		.header_ms = 10000,
		.connect_ms = 2000,
		.idle_ms = 300000,
		.linger_ms = 2000,
		.neighbour_reachable_ms = 30000,
		.neighbour_retry_ms = 1000,
	};
	snprintf(c->routing.load_balance, sizeof(c->routing.load_balance), "round-robin");
	c->kubernetes.write_status = true;
	c->kubernetes.debounce_ms = 20;
	c->kubernetes.backoff_max_ms = 30000;
	c->metrics.enabled = true;
	c->metrics.addr = htonl(INADDR_LOOPBACK);
	c->metrics.port = 9180;
	snprintf(c->routing.ingress_class, sizeof(c->routing.ingress_class), "sluice");
	snprintf(c->routing.controller, sizeof(c->routing.controller),
		 "sluice.dev/ingress-controller");
	snprintf(c->log_level, sizeof(c->log_level), "info");
}

void conf_release(struct sluice_conf *c)
{
	for (unsigned i = 0; i < c->n_eal_args; i++) {
		free(c->eal_args[i]);
		c->eal_args[i] = NULL;
	}
	c->n_eal_args = 0;
}

/* ---- eal ---------------------------------------------------------------------------------- */

static void add_eal_arg(struct reader *r, const config_setting_t *e, const char *path,
			const char *v, void *arg)
{
	struct sluice_conf *c = arg;
	/* Lcores and devices come from lcores{} and ports(); letting EAL args set them too would
	 * make the two disagree. */
	static const char *const owned[] = {"-l", "--lcores", "-c", "--main-lcore", "--vdev",
					    "-a", "--allow",  "-b", "--block",	    NULL};
	for (const char *const *o = owned; *o; o++) {
		size_t ol = strlen(*o);
		if (strncmp(v, *o, ol) == 0 && (v[ol] == '\0' || v[ol] == '=')) {
			report(r, e, path,
			       "\"%s\" is set by Sluice from lcores { } and ports ( ); remove it",
			       *o);
			return;
		}
	}
	if (c->n_eal_args >= CONF_MAX_EAL_ARGS) {
		report(r, e, path, "too many EAL arguments; at most %d", CONF_MAX_EAL_ARGS);
		return;
	}
	c->eal_args[c->n_eal_args++] = strdup(v);
}

static void load_eal(struct reader *r, const config_setting_t *root, struct sluice_conf *c)
{
	const config_setting_t *g = get_group(r, root, "", "eal", false);
	if (g == NULL)
		return;
	check_known(r, g, "eal", "eal");
	get_string_array(r, g, "eal", "args", CONF_MAX_EAL_ARGS, add_eal_arg, c);
}

/* ---- lcores ------------------------------------------------------------------------------- */

static void load_lcores(struct reader *r, const config_setting_t *root, struct sluice_conf *c)
{
	const config_setting_t *g = get_group(r, root, "", "lcores", true);
	if (g == NULL)
		return;
	check_known(r, g, "lcores", "lcores");
	get_u16(r, g, "lcores", "management", 0, 1023, false, &c->management_lcore);

	const config_setting_t *w = config_setting_get_member(g, "workers");
	if (w == NULL) {
		report(r, g, "lcores.workers",
		       "missing; expected an array of lcore ids, e.g. [1, 2]");
		return;
	}
	if (config_setting_type(w) != CONFIG_TYPE_ARRAY) {
		report(r, w, "lcores.workers",
		       "expected an array of lcore ids, e.g. [1, 2], got %s",
		       type_name(config_setting_type(w)));
		return;
	}
	int n = config_setting_length(w);
	if (n < 1 || n > CONF_MAX_WORKERS) {
		report(r, w, "lcores.workers", "%d workers; expected 1 to %d", n, CONF_MAX_WORKERS);
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(w, (unsigned)i);
		char p[64];
		snprintf(p, sizeof(p), "lcores.workers.[%d]", i);
		if (config_setting_type(e) != CONFIG_TYPE_INT) {
			report(r, e, p, "expected an lcore id (integer), got %s",
			       type_name(config_setting_type(e)));
			continue;
		}
		int id = config_setting_get_int(e);
		if (id < 0 || id > 1023) {
			report(r, e, p, "%d is out of range; expected 0 to 1023", id);
			continue;
		}
		if (id == c->management_lcore) {
			report(r, e, p,
			       "lcore %d is the management lcore; workers need lcores of their own",
			       id);
			continue;
		}
		for (unsigned j = 0; j < c->n_workers; j++)
			if (c->workers[j] == id)
				report(r, e, p, "lcore %d is listed twice", id);
		c->workers[c->n_workers++] = (uint16_t)id;
	}
}

/* ---- profile ------------------------------------------------------------------------------ */

struct flag_name {
	const char *name;
	uint32_t bit;
};

static const struct flag_name offload_names[] = {
	{"ipv4-cksum", CONF_OFFLOAD_IPV4_CKSUM},
	{"tcp-cksum", CONF_OFFLOAD_TCP_CKSUM},
	{"tcp-tso", CONF_OFFLOAD_TCP_TSO},
	{"scatter", CONF_OFFLOAD_SCATTER},
	{NULL, 0},
};

static const struct flag_name rss_names[] = {
	{"ipv4", CONF_RSS_IPV4},
	{"ipv4-tcp", CONF_RSS_IPV4_TCP},
	{"ipv6", CONF_RSS_IPV6},
	{"ipv6-tcp", CONF_RSS_IPV6_TCP},
	{NULL, 0},
};

struct flags_arg {
	const struct flag_name *names;
	uint32_t *out;
};

static void add_flag(struct reader *r, const config_setting_t *e, const char *path, const char *v,
		     void *arg)
{
	struct flags_arg *fa = arg;
	for (const struct flag_name *f = fa->names; f->name; f++) {
		if (strcmp(f->name, v) == 0) {
			*fa->out |= f->bit;
			return;
		}
	}
	char list[128] = "";
	size_t used = 0;
	for (const struct flag_name *f = fa->names; f->name; f++) {
		int w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "",
				 f->name);
		if (w > 0 && (size_t)w < sizeof(list) - used)
			used += (size_t)w;
	}
	report(r, e, path, "unknown value \"%s\"; expected one of: %s", v, list);
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

static void load_profile(struct reader *r, const config_setting_t *port, const char *path,
			 struct conf_profile *pr)
{
	char p[CONF_STR_LEN];
	join_path(p, sizeof(p), path, "profile");
	const config_setting_t *g = get_group(r, port, path, "profile", true);
	if (g == NULL)
		return;
	check_known(r, g, p, "ports.profile");

	get_string(r, g, p, "driver", true, pr->driver, sizeof(pr->driver));
	get_u16(r, g, p, "rx_queues", 0, 1024, false, &pr->rx_queues);
	get_u16(r, g, p, "rx_desc", 64, 32768, false, &pr->rx_desc);
	get_u16(r, g, p, "tx_desc", 64, 32768, false, &pr->tx_desc);
	get_u16(r, g, p, "mtu", 576, 9600, false, &pr->mtu);
	get_bool(r, g, p, "promiscuous", &pr->promiscuous);
	get_string(r, g, p, "queue_devarg", false, pr->queue_devarg, sizeof(pr->queue_devarg));

	char steer[32] = "";
	const config_setting_t *s = get_string(r, g, p, "steering", false, steer, sizeof(steer));
	if (s) {
		char sp[CONF_STR_LEN];
		join_path(sp, sizeof(sp), p, "steering");
		if (strcmp(steer, "software") == 0)
			pr->steering = CONF_STEER_SOFTWARE;
		else if (strcmp(steer, "thash") == 0)
			pr->steering = CONF_STEER_THASH;
		else if (strcmp(steer, "flow") == 0)
			report(r, s, sp,
			       "\"flow\" (rte_flow rules per SNAT port range) is not built; use "
			       "\"thash\" on NICs with Toeplitz RSS and a readable redirection "
			       "table, "
			       "else \"software\"");
		else
			report(r, s, sp, "unknown value \"%s\"; expected one of: software, thash",
			       steer);
	}

	char rp[CONF_STR_LEN];
	join_path(rp, sizeof(rp), p, "rss");
	const config_setting_t *rss = get_group(r, g, p, "rss", false);
	if (rss) {
		check_known(r, rss, rp, "ports.profile.rss");
		get_bool(r, rss, rp, "enabled", &pr->rss);
		struct flags_arg fa = {rss_names, &pr->rss_fields};
		get_string_array(r, rss, rp, "fields", 8, add_flag, &fa);
		char key[2 * CONF_RSS_KEY_MAX + 2] = "";
		const config_setting_t *ks = get_string(r, rss, rp, "key", false, key, sizeof(key));
		if (ks) {
			char kp[CONF_STR_LEN];
			join_path(kp, sizeof(kp), rp, "key");
			size_t kl = strlen(key);
			bool ok = kl % 2 == 0 && kl > 0;
			for (size_t i = 0; ok && i < kl / 2; i++) {
				int hi = hexval(key[2 * i]), lo = hexval(key[2 * i + 1]);
				if (hi < 0 || lo < 0)
					ok = false;
				else
					pr->rss_key[i] = (uint8_t)(hi << 4 | lo);
			}
			if (!ok || (kl / 2 != 40 && kl / 2 != 52))
				report(r, ks, kp,
				       "expected 40 or 52 bytes as hex digits (80 or 104 "
				       "characters)");
			else
				pr->rss_key_len = (uint8_t)(kl / 2);
		}
		if (pr->rss && pr->rss_fields == 0)
			report(r, rss, rp, "RSS enabled with no fields; list e.g. [\"ipv4-tcp\"]");
	}

	char op[CONF_STR_LEN];
	join_path(op, sizeof(op), p, "offloads");
	const config_setting_t *off = get_group(r, g, p, "offloads", false);
	if (off) {
		check_known(r, off, op, "ports.profile.offloads");
		struct flags_arg rx = {offload_names, &pr->rx_offloads};
		struct flags_arg tx = {offload_names, &pr->tx_offloads};
		get_string_array(r, off, op, "rx", 8, add_flag, &rx);
		get_string_array(r, off, op, "tx", 8, add_flag, &tx);
	}
}

/* ---- ports -------------------------------------------------------------------------------- */

struct addr_arg {
	uint32_t *out;
	uint16_t *n;
};

static void add_addr(struct reader *r, const config_setting_t *e, const char *path, const char *v,
		     void *arg)
{
	struct addr_arg *a = arg;
	uint32_t ip;
	if (conf_parse_ipv4(v, &ip) != 0) {
		report(r, e, path, "\"%s\" is not an IPv4 address; expected e.g. \"198.18.0.10\"",
		       v);
		return;
	}
	a->out[(*a->n)++] = ip;
}

static void add_subnet(struct reader *r, const config_setting_t *e, const char *path, const char *v,
		       void *arg)
{
	struct conf_port *pt = arg;
	struct conf_prefix pf;
	if (conf_parse_prefix(v, &pf) != 0) {
		report(r, e, path, "\"%s\" is not an IPv4 prefix; expected e.g. \"198.18.0.0/24\"",
		       v);
		return;
	}
	pt->subnets[pt->n_subnets++] = pf;
}

static void load_routes(struct reader *r, const config_setting_t *port, const char *path,
			struct conf_port *pt)
{
	char p[CONF_STR_LEN];
	join_path(p, sizeof(p), path, "routes");
	const config_setting_t *l = config_setting_get_member(port, "routes");
	if (l == NULL)
		return;
	if (config_setting_type(l) != CONFIG_TYPE_LIST) {
		report(r, l, p, "expected a list ( { dst = ...; via = ...; }, ... ), got %s",
		       type_name(config_setting_type(l)));
		return;
	}
	int n = config_setting_length(l);
	if (n > CONF_MAX_ROUTES) {
		report(r, l, p, "%d routes; at most %d", n, CONF_MAX_ROUTES);
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		char ep[CONF_STR_LEN];
		snprintf(ep, sizeof(ep), "%s.[%d]", p, i);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			report(r, e, ep, "expected a group { dst = ...; via = ...; }");
			continue;
		}
		check_known(r, e, ep, "ports.routes");
		char dst[64] = "", via[64] = "";
		struct conf_route rt = {0};
		const config_setting_t *ds = get_string(r, e, ep, "dst", true, dst, sizeof(dst));
		const config_setting_t *vs = get_string(r, e, ep, "via", true, via, sizeof(via));
		char fp[CONF_STR_LEN];
		if (ds && conf_parse_prefix(dst, &rt.dst) != 0) {
			join_path(fp, sizeof(fp), ep, "dst");
			report(r, ds, fp, "\"%s\" is not an IPv4 prefix", dst);
			continue;
		}
		if (vs && conf_parse_ipv4(via, &rt.via) != 0) {
			join_path(fp, sizeof(fp), ep, "via");
			report(r, vs, fp, "\"%s\" is not an IPv4 address", via);
			continue;
		}
		if (ds && vs)
			pt->routes[pt->n_routes++] = rt;
	}
}

/* TCP ports the VIPs serve: an array of 1–8 port numbers; 80 when absent. */
static void load_listen(struct reader *r, const config_setting_t *port, const char *path,
			struct conf_port *pt)
{
	char p[CONF_STR_LEN];
	join_path(p, sizeof(p), path, "listen");
	const config_setting_t *a = config_setting_get_member(port, "listen");
	pt->listen[0] = 80;
	pt->n_listen = 1;
	if (a == NULL)
		return;
	int n = config_setting_length(a);
	if (config_setting_type(a) != CONFIG_TYPE_ARRAY || n < 1 || n > 8) {
		report(r, a, p, "expected an array of 1 to 8 TCP ports, e.g. [80, 8080]");
		return;
	}
	pt->n_listen = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(a, (unsigned)i);
		int v = config_setting_type(e) == CONFIG_TYPE_INT ? config_setting_get_int(e) : -1;
		if (v < 1 || v > 65535) {
			char ep[CONF_STR_LEN];
			snprintf(ep, sizeof(ep), "%s.[%d]", p, i);
			report(r, e, ep, "expected a TCP port from 1 to 65535");
			continue;
		}
		pt->listen[pt->n_listen++] = (uint16_t)v;
	}
}

static void load_port(struct reader *r, const config_setting_t *g, const char *path,
		      struct conf_port *pt)
{
	check_known(r, g, path, "ports");
	snprintf(pt->file, sizeof(pt->file), "%s",
		 config_setting_source_file(g) ? config_setting_source_file(g) : r->top_file);
	pt->line = (int)config_setting_source_line(g);

	/* Profile defaults, then the @included profile, then nothing else may override it. */
	pt->profile.rx_desc = 1024;
	pt->profile.tx_desc = 1024;
	pt->profile.mtu = 1500;
	pt->profile.steering = CONF_STEER_SOFTWARE;

	const config_setting_t *ns =
		get_string(r, g, path, "name", true, pt->name, sizeof(pt->name));
	if (ns) {
		for (const char *ch = pt->name; *ch; ch++)
			if (!((*ch >= 'a' && *ch <= 'z') || (*ch >= '0' && *ch <= '9') ||
			      *ch == '-' || *ch == '_')) {
				char p[CONF_STR_LEN];
				join_path(p, sizeof(p), path, "name");
				report(r, ns, p,
				       "\"%s\": use lower-case letters, digits, '-' and '_' only",
				       pt->name);
				break;
			}
	}
	get_string(r, g, path, "devargs", true, pt->devargs, sizeof(pt->devargs));
	load_profile(r, g, path, &pt->profile);

	struct addr_arg vips = {pt->vips, &pt->n_vips};
	struct addr_arg snat = {pt->snat, &pt->n_snat};
	get_string_array(r, g, path, "vips", CONF_MAX_ADDRS, add_addr, &vips);
	get_string_array(r, g, path, "snat", CONF_MAX_ADDRS, add_addr, &snat);
	get_string_array(r, g, path, "subnets", CONF_MAX_ADDRS, add_subnet, pt);
	load_routes(r, g, path, pt);
	load_listen(r, g, path, pt);

	/* Every route's next hop must be on a subnet we can ARP on. */
	for (unsigned i = 0; i < pt->n_routes; i++) {
		bool onlink = false;
		for (unsigned j = 0; j < pt->n_subnets; j++)
			onlink |= conf_prefix_contains(&pt->subnets[j], pt->routes[i].via);
		if (!onlink) {
			char p[CONF_STR_LEN];
			snprintf(p, sizeof(p), "%s.routes.[%u].via", path, i);
			struct in_addr a = {.s_addr = pt->routes[i].via};
			report(r, config_setting_get_member(g, "routes"), p,
			       "next hop %s is on none of this port's subnets; add its subnet to "
			       "subnets",
			       inet_ntoa(a));
		}
	}
}

static void load_ports(struct reader *r, const config_setting_t *root, struct sluice_conf *c)
{
	const config_setting_t *l = config_setting_get_member(root, "ports");
	if (l == NULL) {
		report(r, root, "ports", "missing; expected a list ( { name = ...; ... }, ... )");
		return;
	}
	if (config_setting_type(l) != CONFIG_TYPE_LIST) {
		report(r, l, "ports", "expected a list ( { name = ...; ... }, ... ), got %s",
		       type_name(config_setting_type(l)));
		return;
	}
	int n = config_setting_length(l);
	if (n < 1 || n > CONF_MAX_PORTS) {
		report(r, l, "ports", "%d ports; expected 1 to %d", n, CONF_MAX_PORTS);
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		char p[64];
		snprintf(p, sizeof(p), "ports.[%d]", i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			report(r, g, p, "expected a group { name = ...; devargs = ...; ... }");
			continue;
		}
		struct conf_port *pt = &c->ports[c->n_ports];
		load_port(r, g, p, pt);
		for (unsigned j = 0; j < c->n_ports; j++)
			if (pt->name[0] && strcmp(c->ports[j].name, pt->name) == 0)
				report(r, g, p, "port name \"%s\" is used twice", pt->name);
		c->n_ports++;
	}

	/* An address belongs to one port and one role. */
	unsigned n_vips = 0;
	for (unsigned i = 0; i < c->n_ports; i++) {
		n_vips += c->ports[i].n_vips;
		for (unsigned j = 0; j < c->n_ports; j++) {
			for (unsigned a = 0; a < c->ports[i].n_vips; a++) {
				for (unsigned b = 0; b < c->ports[j].n_snat; b++) {
					if (c->ports[i].vips[a] != c->ports[j].snat[b])
						continue;
					struct in_addr ia = {.s_addr = c->ports[i].vips[a]};
					char p[64];
					snprintf(p, sizeof(p), "ports.[%u].vips.[%u]", i, a);
					report(r, l, p, "%s is also an SNAT address; use it once",
					       inet_ntoa(ia));
				}
			}
		}
	}
	if (n_vips == 0 && c->n_ports > 0)
		report(r, l, "ports", "no port has a VIP; clients could not reach the gateway");
}

/* ---- limits, timeouts, metrics, routing --------------------------------------------------- */

static void load_limits(struct reader *r, const config_setting_t *root, struct sluice_conf *c)
{
	const config_setting_t *g = get_group(r, root, "", "limits", false);
	if (g == NULL)
		return;
	check_known(r, g, "limits", "limits");
	struct conf_limits *l = &c->limits;
	get_uint(r, g, "limits", "max_flows", 1024, 16777216, false, &l->max_flows);
	get_uint(r, g, "limits", "mbufs", 1023, 4194303, false, &l->mbufs);
	get_uint(r, g, "limits", "neighbours", 16, 1048576, false, &l->neighbours);
	get_uint(r, g, "limits", "request_buffer", 1024, 1048576, false, &l->request_buffer);
	get_uint(r, g, "limits", "max_header_bytes", 256, 1048576, false, &l->max_header_bytes);
	get_uint(r, g, "limits", "max_request_line", 64, 1048576, false, &l->max_request_line);
	get_uint(r, g, "limits", "max_headers", 1, 1024, false, &l->max_headers);
	get_bool(r, g, "limits", "reject_bare_lf", &l->reject_bare_lf);
	if (l->max_header_bytes > l->request_buffer) {
		report(r, g, "limits.max_header_bytes",
		       "%u exceeds limits.request_buffer (%u); a head that size could never be "
		       "buffered",
		       l->max_header_bytes, l->request_buffer);
	}
}

static void load_timeouts(struct reader *r, const config_setting_t *root, struct sluice_conf *c)
{
	const config_setting_t *g = get_group(r, root, "", "timeouts", false);
	if (g == NULL)
		return;
	check_known(r, g, "timeouts", "timeouts");
	struct conf_timeouts *t = &c->timeouts;
	get_uint(r, g, "timeouts", "header_ms", 100, 3600000, false, &t->header_ms);
	get_uint(r, g, "timeouts", "connect_ms", 10, 600000, false, &t->connect_ms);
	get_uint(r, g, "timeouts", "idle_ms", 1000, 86400000, false, &t->idle_ms);
	get_uint(r, g, "timeouts", "linger_ms", 0, 600000, false, &t->linger_ms);
	get_uint(r, g, "timeouts", "neighbour_reachable_ms", 1000, 86400000, false,
		 &t->neighbour_reachable_ms);
	get_uint(r, g, "timeouts", "neighbour_retry_ms", 10, 60000, false, &t->neighbour_retry_ms);
}

static void load_metrics(struct reader *r, const config_setting_t *root, struct sluice_conf *c)
{
	const config_setting_t *g = get_group(r, root, "", "metrics", false);
	if (g == NULL)
		return;
	check_known(r, g, "metrics", "metrics");
	get_bool(r, g, "metrics", "enabled", &c->metrics.enabled);
	char listen[64] = "";
	const config_setting_t *s =
		get_string(r, g, "metrics", "listen", false, listen, sizeof(listen));
	if (s == NULL)
		return;
	char *colon = strrchr(listen, ':');
	char *end = NULL;
	long port = -1;
	if (colon) {
		*colon = '\0';
		errno = 0;
		port = strtol(colon + 1, &end, 10);
	}
	uint32_t addr;
	if (colon == NULL || errno || end == colon + 1 || *end != '\0' || port < 1 ||
	    port > 65535 || conf_parse_ipv4(listen, &addr) != 0) {
		report(r, s, "metrics.listen",
		       "expected \"ADDRESS:PORT\" with an IPv4 address, e.g. \"127.0.0.1:9180\"");
		return;
	}
	c->metrics.addr = addr;
	c->metrics.port = (uint16_t)port;
}

static void load_routing(struct reader *r, const config_setting_t *root, struct sluice_conf *c)
{
	const config_setting_t *g = get_group(r, root, "", "routing", false);
	if (g == NULL)
		return;
	check_known(r, g, "routing", "routing");
	struct conf_routing *rt = &c->routing;
	get_string(r, g, "routing", "manifests", false, rt->manifests, sizeof(rt->manifests));
	get_string(r, g, "routing", "ingress_class", false, rt->ingress_class,
		   sizeof(rt->ingress_class));
	get_string(r, g, "routing", "controller", false, rt->controller, sizeof(rt->controller));
	const config_setting_t *lbs = get_string(r, g, "routing", "load_balance", false,
						 rt->load_balance, sizeof(rt->load_balance));
	if (lbs && strcmp(rt->load_balance, "round-robin") &&
	    strcmp(rt->load_balance, "weighted") && strcmp(rt->load_balance, "least-request") &&
	    strcmp(rt->load_balance, "maglev"))
		report(r, lbs, "routing.load_balance",
		       "\"%s\": expected round-robin, weighted, least-request or maglev",
		       rt->load_balance);
	const config_setting_t *s = get_string(r, g, "routing", "default_backend", false,
					       rt->default_backend, sizeof(rt->default_backend));
	if (s) {
		/* namespace/service:port */
		const char *slash = strchr(rt->default_backend, '/');
		const char *colon = strrchr(rt->default_backend, ':');
		if (slash == NULL || colon == NULL || colon < slash ||
		    slash == rt->default_backend || colon == slash + 1 || colon[1] == '\0')
			report(r, s, "routing.default_backend",
			       "\"%s\": expected \"NAMESPACE/SERVICE:PORT\" (port name or number)",
			       rt->default_backend);
	}
}

/* ---- static routes ----------------------------------------------------------------------- */

struct ep_arg {
	struct conf_static_route *sr;
};

static void add_endpoint(struct reader *r, const config_setting_t *e, const char *path,
			 const char *v, void *arg)
{
	struct conf_static_route *sr = ((struct ep_arg *)arg)->sr;
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", v);
	char *colon = strrchr(buf, ':');
	char *end = NULL;
	long port = -1;
	uint32_t addr;
	if (colon) {
		*colon = '\0';
		port = strtol(colon + 1, &end, 10);
	}
	if (colon == NULL || *end != '\0' || port < 1 || port > 65535 ||
	    conf_parse_ipv4(buf, &addr) != 0) {
		report(r, e, path, "\"%s\": expected \"ADDRESS:PORT\", e.g. \"198.19.0.11:8080\"",
		       v);
		return;
	}
	sr->ep_addr[sr->n_eps] = addr;
	sr->ep_port[sr->n_eps] = (uint16_t)port;
	sr->n_eps++;
}

static void load_static_routes(struct reader *r, const config_setting_t *root,
			       struct sluice_conf *c)
{
	const config_setting_t *l = config_setting_get_member(root, "static_routes");
	if (l == NULL)
		return;
	if (config_setting_type(l) != CONFIG_TYPE_LIST) {
		report(r, l, "static_routes",
		       "expected a list ( { host = ...; path = ...; ... } )");
		return;
	}
	int n = config_setting_length(l);
	if (n > CONF_MAX_STATIC_ROUTES) {
		report(r, l, "static_routes", "%d routes; at most %d", n, CONF_MAX_STATIC_ROUTES);
		return;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		char p[64];
		snprintf(p, sizeof(p), "static_routes.[%d]", i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			report(r, g, p,
			       "expected a group { host = ...; path = ...; endpoints = [...]; }");
			continue;
		}
		check_known(r, g, p, "static_routes");
		struct conf_static_route *sr = &c->static_routes[c->n_static_routes];
		memset(sr, 0, sizeof(*sr));
		snprintf(sr->path, sizeof(sr->path), "/");
		snprintf(sr->path_type, sizeof(sr->path_type), "Prefix");
		get_string(r, g, p, "host", false, sr->host, sizeof(sr->host));
		const config_setting_t *ps =
			get_string(r, g, p, "path", false, sr->path, sizeof(sr->path));
		if (ps && sr->path[0] != '/') {
			char fp[96];
			snprintf(fp, sizeof(fp), "%s.path", p);
			report(r, ps, fp, "\"%s\" must start with '/'", sr->path);
		}
		const config_setting_t *ts = get_string(r, g, p, "path_type", false, sr->path_type,
							sizeof(sr->path_type));
		if (ts && strcmp(sr->path_type, "Exact") && strcmp(sr->path_type, "Prefix") &&
		    strcmp(sr->path_type, "ImplementationSpecific")) {
			char fp[96];
			snprintf(fp, sizeof(fp), "%s.path_type", p);
			report(r, ts, fp,
			       "\"%s\": expected Exact, Prefix or ImplementationSpecific",
			       sr->path_type);
		}
		struct ep_arg ea = {sr};
		if (config_setting_get_member(g, "endpoints") == NULL) {
			char fp[96];
			snprintf(fp, sizeof(fp), "%s.endpoints", p);
			report(r, g, fp, "missing; expected [\"ADDRESS:PORT\", ...]");
		}
		get_string_array(r, g, p, "endpoints", CONF_MAX_STATIC_EPS, add_endpoint, &ea);
		c->n_static_routes++;
	}
}

static void add_status_address(struct reader *r, const config_setting_t *e, const char *path,
			       const char *v, void *arg)
{
	struct conf_kubernetes *k = arg;
	size_t n = strlen(v);
	bool ok = n > 0 && n < sizeof(k->status_addresses[0]);
	for (size_t i = 0; ok && i < n; i++)
		ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		     (v[i] >= '0' && v[i] <= '9') || v[i] == '.' || v[i] == '-' || v[i] == ':';
	if (!ok) {
		report(r, e, path, "\"%s\": expected an IP address or a DNS name", v);
		return;
	}
	snprintf(k->status_addresses[k->n_status_addresses++], sizeof(k->status_addresses[0]), "%s",
		 v);
}

static void load_kubernetes(struct reader *r, const config_setting_t *root, struct sluice_conf *c)
{
	const config_setting_t *g = get_group(r, root, "", "kubernetes", false);
	if (g == NULL)
		return;
	check_known(r, g, "kubernetes", "kubernetes");
	struct conf_kubernetes *k = &c->kubernetes;
	k->enabled = true;
	get_bool(r, g, "kubernetes", "in_cluster", &k->in_cluster);
	const config_setting_t *kc = get_string(r, g, "kubernetes", "kubeconfig", false,
						k->kubeconfig, sizeof(k->kubeconfig));
	get_string(r, g, "kubernetes", "context", false, k->context, sizeof(k->context));
	get_string_array(r, g, "kubernetes", "status_addresses", CONF_MAX_STATUS_ADDRS,
			 add_status_address, k);
	get_bool(r, g, "kubernetes", "write_status", &k->write_status);
	get_uint(r, g, "kubernetes", "debounce_ms", 0, 60000, false, &k->debounce_ms);
	get_uint(r, g, "kubernetes", "backoff_max_ms", 100, 600000, false, &k->backoff_max_ms);
	if (k->in_cluster == (k->kubeconfig[0] != '\0'))
		report(r, kc ? kc : g, "kubernetes",
		       "set exactly one of in_cluster = true (running in a pod) or kubeconfig = "
		       "\"FILE\"");
	if (c->routing.manifests[0])
		report(r, g, "kubernetes",
		       "routing.manifests is set too; rules come from one source: remove one");
}

/* ---- top ---------------------------------------------------------------------------------- */

static int load_root(struct reader *r, config_t *cfg, struct sluice_conf *c)
{
	const config_setting_t *root = config_root_setting(cfg);
	check_known(r, root, "", "");
	load_eal(r, root, c);
	load_lcores(r, root, c);
	load_ports(r, root, c);
	load_limits(r, root, c);
	load_timeouts(r, root, c);
	load_metrics(r, root, c);
	load_routing(r, root, c);
	load_kubernetes(r, root, c);
	load_static_routes(r, root, c);
	const config_setting_t *ll =
		get_string(r, root, "", "log_level", false, c->log_level, sizeof(c->log_level));
	if (ll && strcmp(c->log_level, "error") && strcmp(c->log_level, "warning") &&
	    strcmp(c->log_level, "notice") && strcmp(c->log_level, "info") &&
	    strcmp(c->log_level, "debug"))
		report(r, ll, "log_level", "\"%s\": expected error, warning, notice, info or debug",
		       c->log_level);

	/* Queues: each worker polls one RX queue per port. */
	for (unsigned i = 0; i < c->n_ports; i++) {
		const struct conf_port *pt = &c->ports[i];
		if (pt->profile.rx_queues != 0 && pt->profile.rx_queues < c->n_workers) {
			char p[64];
			snprintf(p, sizeof(p), "ports.[%u].profile.rx_queues", i);
			report(r, config_lookup(cfg, "lcores"), p,
			       "%u queues for %u workers; each worker needs a queue on every port "
			       "(set rx_queues = 0 for one per worker)",
			       pt->profile.rx_queues, c->n_workers);
		}
	}
	return r->problems;
}

static int load_common(config_t *cfg, int read_ok, const char *label, struct sluice_conf *out,
		       char *errbuf, size_t errlen)
{
	struct reader r = {.err = errbuf, .errlen = errlen, .top_file = label};
	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (read_ok != CONFIG_TRUE) {
		const char *file = config_error_file(cfg) ? config_error_file(cfg) : label;
		if (config_error_type(cfg) == CONFIG_ERR_FILE_IO && config_error_line(cfg) == 0)
			snprintf(errbuf, errlen, "%s:0: cannot read the file: %s\n", file,
				 strerror(errno ? errno : ENOENT));
		else
			snprintf(errbuf, errlen, "%s:%d: syntax: %s\n", file,
				 config_error_line(cfg), config_error_text(cfg));
		return 1;
	}
	return load_root(&r, cfg, out);
}

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

static void resolve_relative(struct sluice_conf *c, const char *dir)
{
	resolve_one(c->routing.manifests, dir);
	resolve_one(c->kubernetes.kubeconfig, dir);
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
	int problems = load_common(&cfg, ok, file, out, errbuf, errlen);
	resolve_relative(out, dir);
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
	int problems = load_common(&cfg, ok, "<string>", out, errbuf, errlen);
	resolve_relative(out, include_dir);
	config_destroy(&cfg);
	return problems;
}
