/* Flow tables: both keys find the record, duplicates are refused, a full table refuses new
 * flows and leaves established ones alone, aging is bounded and removes only dead flows. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>

#include <rte_eal.h>
#include <rte_memory.h>

#include "flow/flow.h"

/* The records are the caller's: here, a last-seen time and padding to a cache line. */
struct rec {
	uint64_t last_seen;
	uint8_t pad[56];
};

static struct flow_table *t;

static struct rec *rec_of(uint32_t idx)
{
	return (struct rec *)flow_records(t) + idx;
}

static void setup(void)
{
	static bool eal;
	if (!eal) {
		char *argv[] = {
			"test", "--no-huge", "--no-shconf",	  "--no-pci",
			"-m",	"128",	     "--log-level=error", "--file-prefix=sluice-test-flow",
			NULL};
		cr_assert_geq(rte_eal_init(8, argv), 0);
		eal = true;
	}
	t = flow_table_create("ftest", 64, sizeof(struct rec), SOCKET_ID_ANY);
	cr_assert_not_null(t);
}

static void teardown(void)
{
	flow_table_free(t);
}

TestSuite(flow, .init = setup, .fini = teardown);

static struct flow_key ckey(uint16_t port)
{
	return (struct flow_key){inet_addr("198.18.0.2"), inet_addr("198.18.0.10"), htons(port),
				 htons(80)};
}

Test(flow, both_keys_find_the_same_record_and_remove_clears_both)
{
	struct flow_key c = ckey(40000);
	uint32_t idx = flow_insert(t, &c);
	cr_assert_neq(idx, FLOW_NONE);
	struct flow_key p = {inet_addr("198.19.0.11"), inet_addr("198.19.0.1"), htons(8080),
			     htons(20001)};
	cr_assert_eq(flow_bind_pod(t, idx, &p), 0);
	uint32_t got;
	flow_lookup_burst(t, false, &c, 1, &got);
	cr_assert_eq(got, idx);
	flow_lookup_burst(t, true, &p, 1, &got);
	cr_assert_eq(got, idx);
	struct flow_key kc, kp;
	flow_keys(t, idx, &kc, &kp);
	cr_assert_eq(kc.remote_port, c.remote_port);
	cr_assert_eq(kp.local_port, p.local_port);
	cr_assert(flow_in_use(t, idx));
	flow_remove(t, idx);
	cr_assert_not(flow_in_use(t, idx));
	flow_lookup_burst(t, false, &c, 1, &got);
	cr_assert_eq(got, FLOW_NONE);
	flow_lookup_burst(t, true, &p, 1, &got);
	cr_assert_eq(got, FLOW_NONE);
	cr_assert_eq(flow_count(t), 0);
}

Test(flow, rebinding_the_pod_side_replaces_the_old_key)
{
	struct flow_key c = ckey(40001);
	uint32_t idx = flow_insert(t, &c);
	struct flow_key p1 = {inet_addr("198.19.0.11"), inet_addr("198.19.0.1"), htons(8080),
			      htons(20001)};
	struct flow_key p2 = {inet_addr("198.19.0.12"), inet_addr("198.19.0.1"), htons(8080),
			      htons(20002)};
	cr_assert_eq(flow_bind_pod(t, idx, &p1), 0);
	cr_assert_eq(flow_bind_pod(t, idx, &p2), 0);
	uint32_t got;
	flow_lookup_burst(t, true, &p1, 1, &got);
	cr_assert_eq(got, FLOW_NONE);
	flow_lookup_burst(t, true, &p2, 1, &got);
	cr_assert_eq(got, idx);
	uint32_t other =
		flow_insert(t, &(struct flow_key){inet_addr("198.18.0.3"), inet_addr("198.18.0.10"),
						  htons(1), htons(80)});
	cr_assert_eq(flow_bind_pod(t, other, &p2), -EEXIST, "a pod key belongs to one flow");
}

Test(flow, duplicate_client_key_is_refused)
{
	struct flow_key c = ckey(40002);
	uint32_t a = flow_insert(t, &c);
	cr_assert_neq(a, FLOW_NONE);
	cr_assert_eq(flow_insert(t, &c), FLOW_NONE);
	uint32_t got;
	flow_lookup_burst(t, false, &c, 1, &got);
	cr_assert_eq(got, a);
	cr_assert_eq(flow_count(t), 1);
}

Test(flow, full_table_refuses_new_flows_and_keeps_the_old)
{
	uint32_t idx[64];
	for (uint16_t i = 0; i < 64; i++) {
		struct flow_key c = ckey((uint16_t)(1000 + i));
		idx[i] = flow_insert(t, &c);
		cr_assert_neq(idx[i], FLOW_NONE, "insert %u", i);
	}
	struct flow_key extra = ckey(5000);
	cr_assert_eq(flow_insert(t, &extra), FLOW_NONE);
	for (uint16_t i = 0; i < 64; i++) {
		struct flow_key c = ckey((uint16_t)(1000 + i));
		uint32_t got;
		flow_lookup_burst(t, false, &c, 1, &got);
		cr_assert_eq(got, idx[i]);
	}
}

static bool older_than(uint32_t idx, uint64_t now, void *arg)
{
	(void)arg;
	return now - rec_of(idx)->last_seen > 100;
}

Test(flow, aging_is_bounded_and_removes_only_idle_flows)
{
	for (uint16_t i = 0; i < 40; i++) {
		struct flow_key c = ckey((uint16_t)(2000 + i));
		uint32_t idx = flow_insert(t, &c);
		cr_assert_eq(rec_of(idx)->last_seen, 0, "a new record is zeroed");
		rec_of(idx)->last_seen = i < 20 ? 0 : 1000;
	}
	unsigned removed = flow_age(t, 1050, 8, older_than, NULL);
	cr_assert_leq(removed, 8);
	for (int k = 0; k < 20; k++)
		removed += flow_age(t, 1050, 8, older_than, NULL);
	cr_assert_eq(removed, 20);
	cr_assert_eq(flow_count(t), 20);
}

Test(flow, bulk_lookup_mixes_hits_and_misses)
{
	struct flow_key keys[32];
	uint32_t want[32];
	for (uint16_t i = 0; i < 32; i++) {
		keys[i] = ckey((uint16_t)(3000 + i));
		want[i] = i % 2 ? flow_insert(t, &keys[i]) : FLOW_NONE;
	}
	uint32_t got[32];
	flow_lookup_burst(t, false, keys, 32, got);
	for (int i = 0; i < 32; i++)
		cr_assert_eq(got[i], want[i], "key %d", i);
}

Test(flow, one_snat_port_serves_four_pods_then_the_caller_moves_on)
{
	/* Pod-side buckets hold four flows per SNAT address and port: a fifth is refused
	 * (-ENOSPC, the engine then tries its next port), and a freed slot is reused. */
	uint32_t idx[5];
	for (int i = 0; i < 5; i++) {
		struct flow_key c = ckey((uint16_t)(41000 + i));
		idx[i] = flow_insert(t, &c);
		cr_assert_neq(idx[i], FLOW_NONE);
		struct flow_key p = {htonl(0xc6130000u + 11 + (uint32_t)i), inet_addr("198.19.0.1"),
				     htons(8080), htons(30000)};
		int rc = flow_bind_pod(t, idx[i], &p);
		cr_assert_eq(rc, i < 4 ? 0 : -ENOSPC, "pod %d: %d", i, rc);
	}
	struct flow_key p0 = {htonl(0xc6130000u + 11), inet_addr("198.19.0.1"), htons(8080),
			      htons(30000)};
	uint32_t got;
	flow_lookup_burst(t, true, &p0, 1, &got);
	cr_assert_eq(got, idx[0]);
	flow_remove(t, idx[0]);
	struct flow_key p4 = {htonl(0xc6130000u + 15), inet_addr("198.19.0.1"), htons(8080),
			      htons(30000)};
	cr_assert_eq(flow_bind_pod(t, idx[4], &p4), 0, "the freed slot is reused");
	flow_lookup_burst(t, true, &p4, 1, &got);
	cr_assert_eq(got, idx[4]);
	/* Keys that share a bucket do not confuse each other. */
	for (int i = 1; i < 4; i++) {
		struct flow_key p = {htonl(0xc6130000u + 11 + (uint32_t)i), inet_addr("198.19.0.1"),
				     htons(8080), htons(30000)};
		flow_lookup_burst(t, true, &p, 1, &got);
		cr_assert_eq(got, idx[i]);
	}
}

Test(flow, a_full_client_bucket_spills_and_every_key_is_still_found)
{
	/* Ten client keys that fall in one bucket of eight slots. */
	struct flow_key keys[10];
	int n = 0;
	uint32_t want = flow_client_bucket(
		t, &(struct flow_key){ckey(1).remote_ip, ckey(1).local_ip, htons(1), htons(80)});
	for (uint32_t port = 1; n < 10 && port < 65535; port++) {
		struct flow_key k = ckey((uint16_t)port);
		if (flow_client_bucket(t, &k) == want)
			keys[n++] = k;
	}
	cr_assert_eq(n, 10);
	uint32_t idx[10];
	for (int i = 0; i < 10; i++) {
		idx[i] = flow_insert(t, &keys[i]);
		cr_assert_neq(idx[i], FLOW_NONE, "key %d", i);
	}
	cr_assert_eq(flow_insert(t, &keys[9]), FLOW_NONE, "a spilled key is a duplicate too");
	uint32_t got[10];
	flow_lookup_burst(t, false, keys, 10, got);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(got[i], idx[i], "key %d", i);
	/* Remove one in the bucket and one spilled: the rest stay found, the slot is reused. */
	flow_remove(t, idx[0]);
	flow_remove(t, idx[9]);
	flow_lookup_burst(t, false, keys, 10, got);
	cr_assert_eq(got[0], FLOW_NONE);
	cr_assert_eq(got[9], FLOW_NONE);
	for (int i = 1; i < 9; i++)
		cr_assert_eq(got[i], idx[i]);
	idx[0] = flow_insert(t, &keys[0]);
	flow_lookup_burst(t, false, keys, 1, got);
	cr_assert_eq(got[0], idx[0]);
}
