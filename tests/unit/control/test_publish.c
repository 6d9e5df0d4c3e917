/*
 * The route-table publisher: slots get each new table, and a retired table is freed only once
 * every worker has reported quiescence after the swap and the hold time has passed (the rule in
 * lib/control/publish.h). Time is the TSC value the test passes in; "workers" are QSBR thread
 * ids this thread reports for.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include <rte_eal.h>
#include <rte_malloc.h>

#include "control/publish.h"

#define HOLD 1000u
#define T0   1000000u

static struct rte_rcu_qsbr *qsbr;

static void setup(void)
{
	static bool eal;
	if (!eal) {
		char *argv[] = {"test",
				"--no-huge",
				"--no-shconf",
				"--no-pci",
				"-m",
				"64",
				"--log-level=error",
				"--file-prefix=sluice-test-publish",
				NULL};
		cr_assert_geq(rte_eal_init(8, argv), 0);
		eal = true;
	}
	size_t sz = rte_rcu_qsbr_get_memsize(2);
	qsbr = rte_zmalloc("qsbr", sz, RTE_CACHE_LINE_SIZE);
	cr_assert_not_null(qsbr);
	cr_assert_eq(rte_rcu_qsbr_init(qsbr, 2), 0);
	for (unsigned w = 0; w < 2; w++) {
		cr_assert_eq(rte_rcu_qsbr_thread_register(qsbr, w), 0);
		rte_rcu_qsbr_thread_online(qsbr, w);
	}
}

static void teardown(void)
{
	rte_free(qsbr);
}

TestSuite(publish, .init = setup, .fini = teardown);

/* A table told apart from others by its rule count. */
static struct route_table *table(unsigned rules)
{
	struct route_builder *b = route_builder_new();
	struct lb_endpoint ep = {.addr = 0x0b0013c6, .port = 8080, .ready = true};
	uint32_t pool = route_builder_add_pool(b, "ns", "svc", "80", &ep, 1);
	for (unsigned i = 0; i < rules; i++) {
		char path[32];
		snprintf(path, sizeof(path), "/p%u", i);
		cr_assert_eq(route_builder_add_rule(b, "", path, ROUTE_PREFIX, pool, "ns", "ing"),
			     1);
	}
	struct route_table *t = route_builder_finish(b);
	cr_assert_not_null(t);
	return t;
}

static struct control_publisher *publisher(unsigned max_retired, struct route_table *first)
{
	struct control_publisher_config cfg = {
		.qsbr = qsbr, .hold_tsc = HOLD, .tsc_hz = 1000000, .max_retired = max_retired};
	struct control_publisher *p = control_publisher_new(&cfg, first);
	cr_assert_not_null(p);
	return p;
}

static void all_quiescent(void)
{
	rte_rcu_qsbr_quiescent(qsbr, 0);
	rte_rcu_qsbr_quiescent(qsbr, 1);
}

Test(publish, each_slot_gets_the_new_table)
{
	struct route_table *a = table(1), *b = table(2);
	struct control_publisher *p = publisher(0, a);
	const struct route_table *slot[2] = {NULL, NULL};
	cr_assert_eq(control_publisher_add_slot(p, &slot[0]), 0);
	cr_assert_eq(control_publisher_add_slot(p, &slot[1]), 0);
	cr_assert_eq(slot[0], a, "a registered slot starts with the current table");
	cr_assert_eq(slot[1], a);
	cr_assert_eq(control_publisher_publish(p, b, T0, 0), 0);
	cr_assert_eq(slot[0], b);
	cr_assert_eq(slot[1], b);
	cr_assert_eq(control_publisher_current(p), b);
	cr_assert_eq(route_rule_count(control_publisher_current(p)), 2);
	const struct control_publisher_stats *st = control_publisher_stats(p);
	cr_assert_eq(st->publishes, 1);
	cr_assert_eq(st->retired, 1, "the first table is retired, not freed");
	control_publisher_free(p); /* frees a and b: ASan reports a leak or a double free */
}

Test(publish, not_freed_before_the_hold_time)
{
	struct control_publisher *p = publisher(0, table(1));
	cr_assert_eq(control_publisher_publish(p, table(2), T0, 0), 0);
	all_quiescent();
	cr_assert_eq(control_publisher_reap(p, T0 + HOLD - 1), 0,
		     "every worker passed the swap, but a handshake may still use the table");
	cr_assert_eq(control_publisher_stats(p)->retired, 1);
	cr_assert_eq(control_publisher_reap(p, T0 + HOLD), 1, "hold elapsed and quiescent: freed");
	cr_assert_eq(control_publisher_stats(p)->retired, 0);
	cr_assert_eq(control_publisher_stats(p)->freed, 1);
	control_publisher_free(p);
}

Test(publish, not_freed_before_every_worker_is_quiescent)
{
	struct control_publisher *p = publisher(0, table(1));
	cr_assert_eq(control_publisher_publish(p, table(2), T0, 0), 0);
	rte_rcu_qsbr_quiescent(qsbr, 0); /* worker 1 may still be reading the old table */
	cr_assert_eq(control_publisher_reap(p, T0 + 10 * HOLD), 0);
	cr_assert_eq(control_publisher_stats(p)->retired, 1);
	rte_rcu_qsbr_quiescent(qsbr, 1);
	cr_assert_eq(control_publisher_reap(p, T0 + 10 * HOLD), 1);
	control_publisher_free(p);
}

Test(publish, quiescence_before_the_swap_does_not_count)
{
	struct control_publisher *p = publisher(0, table(1));
	all_quiescent(); /* reports from before the publish say nothing about the new table */
	cr_assert_eq(control_publisher_publish(p, table(2), T0, 0), 0);
	cr_assert_eq(control_publisher_reap(p, T0 + 10 * HOLD), 0);
	all_quiescent();
	cr_assert_eq(control_publisher_reap(p, T0 + 10 * HOLD), 1);
	control_publisher_free(p);
}

Test(publish, a_full_retired_list_refuses_until_a_reap)
{
	const struct route_table *slot = NULL;
	struct control_publisher *p = publisher(2, table(1));
	control_publisher_add_slot(p, &slot);
	cr_assert_eq(control_publisher_publish(p, table(2), T0, 0), 0);
	cr_assert_eq(control_publisher_publish(p, table(3), T0 + 1, 0), 0);
	struct route_table *t4 = table(4);
	cr_assert_eq(control_publisher_publish(p, t4, T0 + 2, 0), -1, "two tables in flight");
	cr_assert_eq(route_rule_count(slot), 3, "the workers keep the current table");
	cr_assert_eq(control_publisher_stats(p)->refused, 1);
	all_quiescent();
	cr_assert_eq(control_publisher_reap(p, T0 + 1 + HOLD), 2);
	cr_assert_eq(control_publisher_publish(p, t4, T0 + 2 + HOLD, 0), 0, "room again");
	cr_assert_eq(slot, t4);
	control_publisher_free(p);
}

Test(publish, times_the_change_to_the_workers)
{
	struct control_publisher *p = publisher(0, table(1));
	uint64_t now = rte_rdtsc();
	cr_assert_eq(control_publisher_publish(p, table(2), now, now - 1000), 0);
	cr_assert_float_eq(control_publisher_stats(p)->change_to_publish_s, 1000 / 1e6, 1e-9);
	cr_assert_not(control_publisher_wait_workers(p, 1000), "no worker passed yet");
	cr_assert_eq(control_publisher_stats(p)->change_to_workers_s, 0);
	all_quiescent();
	cr_assert(control_publisher_wait_workers(p, 1000));
	cr_assert_gt(control_publisher_stats(p)->change_to_workers_s, 0);
	control_publisher_free(p);
}
