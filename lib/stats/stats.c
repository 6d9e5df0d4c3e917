/*
 * stats.c: counters, telemetry and the Prometheus page.
 *
 * Rendering happens on the management lcore only; it allocates freely (the page is rebuilt per
 * scrape). The per-lcore blocks are a static array so a worker's pointer is fixed from start to
 * exit and no allocation is needed to count.
 */
#include "stats/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_telemetry.h>

struct stats_lcore stats_per_lcore[RTE_MAX_LCORE];

static const char *drop_names[STATS_MAX_DROP_REASONS];
static unsigned n_drop_names;

static unsigned report_lcores[RTE_MAX_LCORE];
static unsigned n_report_lcores;

#define MAX_SECTIONS 16
static struct {
	stats_section_fn fn;
	void *arg;
} sections[MAX_SECTIONS];
static unsigned n_sections;

static const char *const counter_names[] = {
#define STATS_NAME(name, help) #name,
	STATS_COUNTERS(STATS_NAME)
#undef STATS_NAME
};
static const char *const counter_help[] = {
#define STATS_HELP(name, help) help,
	STATS_COUNTERS(STATS_HELP)
#undef STATS_HELP
};

_Static_assert(sizeof(struct stats_lcore) % RTE_CACHE_LINE_SIZE == 0,
	       "per-lcore counter blocks must not share cache lines");

const char *stats_counter_name(enum stats_counter c)
{
	return c < STATS__COUNT ? counter_names[c] : "?";
}

const char *stats_counter_help(enum stats_counter c)
{
	return c < STATS__COUNT ? counter_help[c] : "?";
}

void stats_set_drop_reason_names(const char *const *names, unsigned n)
{
	if (n > STATS_MAX_DROP_REASONS)
		n = STATS_MAX_DROP_REASONS;
	for (unsigned i = 0; i < n; i++)
		drop_names[i] = names[i];
	n_drop_names = n;
}

void stats_set_lcores(const unsigned *lcores, unsigned n)
{
	if (n > RTE_MAX_LCORE)
		n = RTE_MAX_LCORE;
	memcpy(report_lcores, lcores, n * sizeof(*lcores));
	n_report_lcores = n;
}

bool stats_lcore_listed(unsigned id)
{
	for (unsigned i = 0; i < n_report_lcores; i++)
		if (report_lcores[i] == id)
			return true;
	return false;
}

/* Every lcore that may have counted: the workers, plus the main lcore (tests count there). */
bool stats_lcore_reported(unsigned id)
{
	if (n_report_lcores == 0)
		return true;
	for (unsigned i = 0; i < n_report_lcores; i++)
		if (report_lcores[i] == id)
			return true;
	return false;
}

static uint64_t load64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

uint64_t stats_sum(enum stats_counter c)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < RTE_MAX_LCORE; i++)
		sum += load64(&stats_per_lcore[i].c[c]);
	return sum;
}

uint64_t stats_sum_drop(unsigned reason)
{
	uint64_t sum = 0;
	if (reason >= STATS_MAX_DROP_REASONS)
		return 0;
	for (unsigned i = 0; i < RTE_MAX_LCORE; i++)
		sum += load64(&stats_per_lcore[i].drops[reason]);
	return sum;
}

void stats_reset(void)
{
	for (unsigned i = 0; i < RTE_MAX_LCORE; i++) {
		struct stats_lcore *s = &stats_per_lcore[i];
		memset(s->c, 0, sizeof(s->c));
		memset(s->drops, 0, sizeof(s->drops));
		memset(&s->head, 0, sizeof(s->head));
		memset(&s->connect, 0, sizeof(s->connect));
	}
	stats_series_reset();
}

/* ---- text --------------------------------------------------------------------------------- */

void stats_text_printf(struct stats_text *t, const char *fmt, ...)
{
	if (t->failed)
		return;
	for (;;) {
		size_t room = t->cap - t->len;
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->buf ? t->buf + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 16384;
		while (cap - t->len <= (size_t)n)
			cap *= 2;
		char *nb = realloc(t->buf, cap);
		if (nb == NULL) {
			t->failed = true;
			return;
		}
		t->buf = nb;
		t->cap = cap;
	}
}

void stats_text_free(struct stats_text *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

int stats_register_section(stats_section_fn fn, void *arg)
{
	if (n_sections >= MAX_SECTIONS)
		return -1;
	sections[n_sections].fn = fn;
	sections[n_sections].arg = arg;
	n_sections++;
	return 0;
}

void stats_render_prometheus(struct stats_text *t)
{
	for (unsigned c = 0; c < STATS__COUNT; c++) {
		stats_text_printf(t, "# HELP sluice_%s_total %s.\n# TYPE sluice_%s_total counter\n",
				  counter_names[c], counter_help[c], counter_names[c]);
		for (unsigned l = 0; l < RTE_MAX_LCORE; l++) {
			if (!stats_lcore_reported(l))
				continue;
			stats_text_printf(t, "sluice_%s_total{lcore=\"%u\"} %lu\n",
					  counter_names[c], l,
					  (unsigned long)load64(&stats_per_lcore[l].c[c]));
		}
	}
	stats_text_printf(t, "# HELP sluice_drops_total Packets dropped, by reason.\n"
			     "# TYPE sluice_drops_total counter\n");
	for (unsigned r = 0; r < n_drop_names; r++)
		stats_text_printf(t, "sluice_drops_total{reason=\"%s\"} %lu\n", drop_names[r],
				  (unsigned long)stats_sum_drop(r));
	stats_render_series(t);
	for (unsigned s = 0; s < n_sections; s++)
		sections[s].fn(t, sections[s].arg);
}

/* ---- telemetry ---------------------------------------------------------------------------- */

static int tel_stats(const char *cmd __rte_unused, const char *params __rte_unused,
		     struct rte_tel_data *d)
{
	rte_tel_data_start_dict(d);
	for (unsigned c = 0; c < STATS__COUNT; c++)
		rte_tel_data_add_dict_u64(d, counter_names[c], stats_sum((enum stats_counter)c));
	return 0;
}

static int tel_drops(const char *cmd __rte_unused, const char *params __rte_unused,
		     struct rte_tel_data *d)
{
	rte_tel_data_start_dict(d);
	for (unsigned r = 0; r < n_drop_names; r++)
		rte_tel_data_add_dict_u64(d, drop_names[r], stats_sum_drop(r));
	return 0;
}

/* /sluice/lcore,N: one worker's counters. */
static int tel_lcore(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	if (params == NULL || *params == '\0')
		return -1;
	char *end;
	unsigned long id = strtoul(params, &end, 10);
	if (*end != '\0' || id >= RTE_MAX_LCORE || !stats_lcore_reported((unsigned)id))
		return -1;
	rte_tel_data_start_dict(d);
	for (unsigned c = 0; c < STATS__COUNT; c++)
		rte_tel_data_add_dict_u64(d, counter_names[c], load64(&stats_per_lcore[id].c[c]));
	return 0;
}

static int tel_lcores(const char *cmd __rte_unused, const char *params __rte_unused,
		      struct rte_tel_data *d)
{
	rte_tel_data_start_array(d, RTE_TEL_INT_VAL);
	for (unsigned i = 0; i < n_report_lcores; i++)
		rte_tel_data_add_array_int(d, (int)report_lcores[i]);
	return 0;
}

int stats_telemetry_register(void)
{
	int rc = rte_telemetry_register_cmd("/sluice/stats", tel_stats,
					    "Gateway counters summed over workers. No parameters");
	rc |= rte_telemetry_register_cmd("/sluice/drops", tel_drops,
					 "Dropped packets by reason. No parameters");
	rc |= rte_telemetry_register_cmd("/sluice/lcores", tel_lcores,
					 "Worker lcore ids. No parameters");
	rc |= rte_telemetry_register_cmd("/sluice/lcore", tel_lcore,
					 "One worker's counters. Parameters: lcore id");
	return rc ? -1 : 0;
}
