/*
 * publish: hands compiled route tables to the workers and frees them once nobody can use them.
 *
 * The lifetime of a route snapshot. This is the one place the rule is written; the daemon, the
 * TCP engine and the design notes refer here.
 *
 *  1. A struct route_table is immutable from the moment control_compile() returns it. Once
 *     given to the publisher (control_publisher_new, control_publisher_publish) it belongs to
 *     the publisher, which alone frees it.
 *  2. The workers read the current table from their slots, one `const struct route_table *`
 *     per worker registered with control_publisher_add_slot(), with an acquire load; the
 *     publisher stores a new table into every slot with a release store, so a worker that sees
 *     the pointer sees the whole table.
 *  3. A worker may hold a table it loaded in two ways only:
 *     a. within one iteration of its poll loop. It reports an RCU QSBR quiescent state once per
 *        loop, outside any packet processing: after that report it holds no such pointer.
 *     b. in a flow whose request was routed and whose pod connection is not yet up (the
 *        connect and its retries on other endpoints): the flow keeps the table it was routed
 *        with, because its pool index means something only in that table. That lasts at most
 *        the header timeout plus the connect attempts' timeouts; then the flow is spliced and
 *        reads no table again (established flows keep their pod across any change), or is
 *        answered locally, or dropped. A later request on a kept-alive connection is routed
 *        afresh from the slot.
 *  4. So a retired table is freed only when both hold: every registered worker has reported a
 *     quiescent state after the store that retired it (the QSBR token taken right after the
 *     stores), which ends 3a; and the hold time has passed since then, which ends 3b. The
 *     daemon's hold time is header timeout + 4 × connect timeout + 5 s: three connect tries and
 *     a margin.
 *  5. On the management lcore a table may be read between publishes (metrics, logs) through
 *     control_publisher_current(); nothing else keeps a pointer to it.
 *
 * Tables awaiting their free are kept in a bounded list. When it is full (a burst of changes
 * faster than the hold time), a publish is refused and the caller tries again shortly; the
 * workers keep the current table meanwhile. The publisher never calls into the data path: it
 * only stores pointers, and its clock is the TSC the caller passes in (`now`), so tests can
 * move time.
 */
#ifndef SLUICE_CONTROL_PUBLISH_H
#define SLUICE_CONTROL_PUBLISH_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_rcu_qsbr.h>

#include "route/route.h"

#define CONTROL_PUBLISH_MAX_SLOTS   128
#define CONTROL_PUBLISH_MAX_RETIRED 128

struct control_publisher_config {
	struct rte_rcu_qsbr *qsbr; /* the workers report on it once per poll loop; borrowed */
	uint64_t hold_tsc;	   /* minimum life of a retired table (rule 4) */
	uint64_t tsc_hz;	   /* for the *_s figures */
	unsigned max_retired;	   /* bound of the retired list; 0 = CONTROL_PUBLISH_MAX_RETIRED */
};

struct control_publisher_stats {
	uint64_t publishes;	    /* tables published after the first */
	uint64_t refused;	    /* publishes refused because the retired list was full */
	uint64_t freed;		    /* retired tables freed */
	unsigned retired;	    /* retired tables not freed yet */
	double change_to_publish_s; /* last publish with a change time: change to the stores */
	double change_to_workers_s; /* last publish every worker was seen passing: change to
				     * that moment */
};

struct control_publisher;

/* A publisher whose current table is `first` (taken over; may be NULL). NULL if out of
 * memory or cfg is unusable (no qsbr). */
struct control_publisher *control_publisher_new(const struct control_publisher_config *cfg,
						struct route_table *first);

/* Free the current and every retired table. Only once no worker runs any more. */
void control_publisher_free(struct control_publisher *p);

/* Register a worker's slot and store the current table into it. Returns 0, or -1 when
 * CONTROL_PUBLISH_MAX_SLOTS are registered. */
int control_publisher_add_slot(struct control_publisher *p, const struct route_table **slot);

/*
 * Make t the current table: stored into every slot, the previous table retired (rule 4).
 * change_at is the TSC when the oldest change t includes was seen (0: not timed). Returns 0;
 * -1 when the retired list is full: nothing changed, t is still the caller's (try again after
 * a reap).
 */
int control_publisher_publish(struct control_publisher *p, struct route_table *t, uint64_t now,
			      uint64_t change_at);

/* Free the retired tables rule 4 allows to free. Also notices the workers passing the last
 * publish (for change_to_workers_s). Returns the number freed. */
unsigned control_publisher_reap(struct control_publisher *p, uint64_t now);

/* Spin until every worker has passed the last publish, at most max_tsc; true if they have.
 * Workers poll in microseconds, so a short wait gives change_to_workers_s its real value. */
bool control_publisher_wait_workers(struct control_publisher *p, uint64_t max_tsc);

const struct route_table *control_publisher_current(const struct control_publisher *p);
const struct control_publisher_stats *control_publisher_stats(const struct control_publisher *p);

#endif
