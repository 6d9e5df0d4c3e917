/*
 * series.c: per-route series (requests routed and the gateway's answers, by Ingress, host and
 * Service) and the latency histograms, with their part of the Prometheus page.
 *
 * The registry of labels lives on the management lcore: it is written while route tables are
 * built and read while the page is rendered, both there. Workers see only numbers (a route
 * target's series) and their own counter arrays, which are allocated before they start and
 * never move.
 */
#include "stats/stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_malloc.h>

uint64_t stats_hist_bound_tsc[STATS_HIST_BUCKETS];

static const double hist_bounds[] = {
#define STATS_HIST_VALUE(b) b,
	STATS_HIST_BOUNDS(STATS_HIST_VALUE)
#undef STATS_HIST_VALUE
};
static const char *const hist_labels[] = {
#define STATS_HIST_LABEL(b) #b,
	STATS_HIST_BOUNDS(STATS_HIST_LABEL)
#undef STATS_HIST_LABEL
};
static const unsigned answer_codes[] = {
#define STATS_ANSWER_CODE(code) code,
	STATS_ANSWER_CODES(STATS_ANSWER_CODE)
#undef STATS_ANSWER_CODE
};

static uint64_t hist_hz;

void stats_hist_init(uint64_t tsc_hz)
{
	if (tsc_hz == hist_hz)
		return;
	for (unsigned i = 0; i < STATS_HIST_BUCKETS; i++)
		stats_hist_bound_tsc[i] = (uint64_t)(hist_bounds[i] * (double)tsc_hz);
	hist_hz = tsc_hz;
}

/* ---- the registry ------------------------------------------------------------------------- */

struct series_labels {
	char *ingress, *host, *service;
};

static struct {
	struct series_labels *labels; /* [capacity] */
	uint32_t *index;	      /* open addressing over label hashes: series number + 1 */
	unsigned capacity, n, index_size;
	unsigned lcores[RTE_MAX_LCORE]; /* lcores given arrays */
	unsigned n_lcores;
} reg;

static uint64_t labels_hash(const char *a, const char *b, const char *c)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a; keys come from the cluster's objects */
	const char *parts[3] = {a, b, c};
	for (int i = 0; i < 3; i++) {
		for (const char *p = parts[i]; *p; p++)
			h = (h ^ (uint8_t)*p) * 1099511628211ull;
		h = (h ^ 0x1f) * 1099511628211ull;
	}
	return h;
}

static void series_free_labels(void)
{
	for (unsigned i = 0; i < reg.n; i++) {
		free(reg.labels[i].ingress);
		free(reg.labels[i].host);
		free(reg.labels[i].service);
	}
	free(reg.labels);
	free(reg.index);
}

void stats_series_fini(void)
{
	for (unsigned i = 0; i < reg.n_lcores; i++) {
		struct stats_lcore *s = &stats_per_lcore[reg.lcores[i]];
		rte_free(s->series);
		s->series = NULL;
	}
	series_free_labels();
	memset(&reg, 0, sizeof(reg));
}

static int give_array(unsigned lcore)
{
	for (unsigned i = 0; i < reg.n_lcores; i++)
		if (reg.lcores[i] == lcore)
			return 0;
	void *a = rte_zmalloc_socket("sluice_series",
				     (size_t)reg.capacity * sizeof(uint64_t[STATS_SERIES_KINDS]),
				     RTE_CACHE_LINE_SIZE, (int)rte_lcore_to_socket_id(lcore));
	if (a == NULL)
		a = rte_zmalloc("sluice_series",
				(size_t)reg.capacity * sizeof(uint64_t[STATS_SERIES_KINDS]),
				RTE_CACHE_LINE_SIZE);
	if (a == NULL)
		return -ENOMEM;
	stats_per_lcore[lcore].series = a;
	reg.lcores[reg.n_lcores++] = lcore;
	return 0;
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

int stats_series_init(unsigned capacity)
{
	stats_series_fini();
	if (capacity < 2)
		capacity = 2;
	if (capacity > STATS_SERIES_MAX)
		capacity = STATS_SERIES_MAX;
	reg.capacity = capacity;
	reg.index_size = 1;
	while (reg.index_size < capacity * 2)
		reg.index_size <<= 1;
	reg.labels = calloc(capacity, sizeof(*reg.labels));
	reg.index = calloc(reg.index_size, sizeof(*reg.index));
	if (reg.labels == NULL || reg.index == NULL)
		goto fail;
	const char *fixed[2][3] = {{"", "", ""}, {"_other", "", ""}};
	for (int i = 0; i < 2; i++) {
		struct series_labels *l = &reg.labels[reg.n++];
		l->ingress = dup_or_empty(fixed[i][0]);
		l->host = dup_or_empty(fixed[i][1]);
		l->service = dup_or_empty(fixed[i][2]);
		if (!l->ingress || !l->host || !l->service)
			goto fail;
	}
	for (unsigned l = 0; l < RTE_MAX_LCORE; l++)
		if (stats_lcore_listed(l) && give_array(l) != 0)
			goto fail;
	unsigned self = rte_lcore_id();
	if (give_array(self < RTE_MAX_LCORE ? self : 0) != 0)
		goto fail;
	return 0;
fail:
	stats_series_fini();
	return -ENOMEM;
}

uint32_t stats_series_of(const char *ingress, const char *host, const char *service)
{
	if (reg.capacity == 0)
		return STATS_SERIES_NONE;
	ingress = ingress ? ingress : "";
	host = host ? host : "";
	service = service ? service : "";
	uint32_t mask = reg.index_size - 1;
	uint32_t at = (uint32_t)labels_hash(ingress, host, service) & mask;
	for (;; at = (at + 1) & mask) {
		uint32_t v = reg.index[at];
		if (v == 0)
			break;
		const struct series_labels *l = &reg.labels[v - 1];
		if (strcmp(l->ingress, ingress) == 0 && strcmp(l->host, host) == 0 &&
		    strcmp(l->service, service) == 0)
			return v - 1;
	}
	if (reg.n == reg.capacity)
		return STATS_SERIES_OTHER;
	struct series_labels l = {strdup(ingress), strdup(host), strdup(service)};
	if (!l.ingress || !l.host || !l.service) {
		free(l.ingress);
		free(l.host);
		free(l.service);
		return STATS_SERIES_OTHER;
	}
	reg.labels[reg.n] = l;
	reg.index[at] = reg.n + 1; /* the index is twice the capacity: a free slot exists */
	return reg.n++;
}

unsigned stats_series_count(void)
{
	return reg.n;
}

bool stats_series_labels(uint32_t n, const char **ingress, const char **host, const char **service)
{
	if (n == STATS_SERIES_NONE || n >= reg.n)
		return false;
	*ingress = reg.labels[n].ingress;
	*host = reg.labels[n].host;
	*service = reg.labels[n].service;
	return true;
}

static uint64_t load64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

uint64_t stats_series_sum(uint32_t n, enum stats_series_kind k)
{
	uint64_t sum = 0;
	if (n >= reg.capacity)
		return 0;
	for (unsigned i = 0; i < reg.n_lcores; i++)
		sum += load64(&stats_per_lcore[reg.lcores[i]].series[n][k]);
	return sum;
}

uint64_t stats_answers(unsigned code)
{
	uint64_t sum = 0;
	for (unsigned k = 0; k < sizeof(answer_codes) / sizeof(answer_codes[0]); k++)
		if (answer_codes[k] == code)
			for (uint32_t n = 0; n < reg.n; n++)
				sum += stats_series_sum(
					n, (enum stats_series_kind)(STATS_ROUTED + 1 + k));
	return sum;
}

void stats_series_reset(void)
{
	for (unsigned i = 0; i < reg.n_lcores; i++)
		memset(stats_per_lcore[reg.lcores[i]].series, 0,
		       (size_t)reg.capacity * sizeof(uint64_t[STATS_SERIES_KINDS]));
}

/* ---- the page ----------------------------------------------------------------------------- */

/* A label value as the exposition format wants it: backslash, quote and newline escaped. */
static void put_label(struct stats_text *t, const char *name, const char *v, bool comma)
{
	stats_text_printf(t, "%s%s=\"", comma ? "," : "", name);
	for (const char *p = v; *p; p++) {
		if (*p == '\\' || *p == '"')
			stats_text_printf(t, "\\%c", *p);
		else if (*p == '\n')
			stats_text_printf(t, "\\n");
		else
			stats_text_printf(t, "%c", *p);
	}
	stats_text_printf(t, "\"");
}

static void put_route_labels(struct stats_text *t, uint32_t n, bool comma)
{
	const struct series_labels *l = &reg.labels[n];
	put_label(t, "ingress", l->ingress, comma);
	put_label(t, "host", l->host, true);
	put_label(t, "service", l->service, true);
}

static void render_hist(struct stats_text *t, const char *name, const char *help, size_t off)
{
	uint64_t b[STATS_HIST_BUCKETS] = {0}, count = 0, sum = 0;
	for (unsigned l = 0; l < RTE_MAX_LCORE; l++) {
		if (!stats_lcore_reported(l))
			continue;
		const struct stats_hist *h =
			(const void *)((const char *)&stats_per_lcore[l] + off);
		for (unsigned j = 0; j < STATS_HIST_BUCKETS; j++)
			b[j] += load64(&h->bucket[j]);
		count += load64(&h->count);
		sum += load64(&h->sum_tsc);
	}
	stats_text_printf(t, "# HELP sluice_%s_seconds %s.\n# TYPE sluice_%s_seconds histogram\n",
			  name, help, name);
	uint64_t cum = 0;
	for (unsigned j = 0; j < STATS_HIST_BUCKETS; j++) {
		cum += b[j];
		stats_text_printf(t, "sluice_%s_seconds_bucket{le=\"%s\"} %lu\n", name,
				  hist_labels[j], (unsigned long)cum);
	}
	stats_text_printf(t, "sluice_%s_seconds_bucket{le=\"+Inf\"} %lu\n", name,
			  (unsigned long)count);
	stats_text_printf(t, "sluice_%s_seconds_sum %.6f\n", name,
			  hist_hz ? (double)sum / (double)hist_hz : 0.0);
	stats_text_printf(t, "sluice_%s_seconds_count %lu\n", name, (unsigned long)count);
}

void stats_render_series(struct stats_text *t)
{
	stats_text_printf(t, "# HELP sluice_route_requests_total Requests routed, by Ingress, rule "
			     "host and Service.\n# TYPE sluice_route_requests_total counter\n");
	for (uint32_t n = 1; n < reg.n; n++) {
		uint64_t v = stats_series_sum(n, STATS_ROUTED);
		if (v == 0)
			continue;
		stats_text_printf(t, "sluice_route_requests_total{");
		put_route_labels(t, n, false);
		stats_text_printf(t, "} %lu\n", (unsigned long)v);
	}
	stats_text_printf(t, "# HELP sluice_gateway_answers_total Responses the gateway gave "
			     "itself, by status code, and by route where the request had one.\n"
			     "# TYPE sluice_gateway_answers_total counter\n");
	for (uint32_t n = 0; n < reg.n; n++)
		for (unsigned k = 0; k < sizeof(answer_codes) / sizeof(answer_codes[0]); k++) {
			uint64_t v =
				stats_series_sum(n, (enum stats_series_kind)(STATS_ROUTED + 1 + k));
			if (v == 0)
				continue;
			stats_text_printf(t, "sluice_gateway_answers_total{code=\"%u\"",
					  answer_codes[k]);
			put_route_labels(t, n, true);
			stats_text_printf(t, "} %lu\n", (unsigned long)v);
		}
	stats_text_printf(t,
			  "# HELP sluice_route_series Label sets in use for the per-route "
			  "series.\n"
			  "# TYPE sluice_route_series gauge\nsluice_route_series %u\n"
			  "# HELP sluice_route_series_max The per-route series limit "
			  "(metrics.route_series).\n"
			  "# TYPE sluice_route_series_max gauge\nsluice_route_series_max %u\n",
			  reg.n, reg.capacity);
	render_hist(t, "head",
		    "Time from a connection's handshake to its first request head routed",
		    offsetof(struct stats_lcore, head));
	render_hist(t, "connect",
		    "Time from the first SYN to a pod to its SYN-ACK (retries on other pods "
		    "included)",
		    offsetof(struct stats_lcore, connect));
}
