/*
 * flow: per-lcore flow tables — keys, indexes, record storage and aging; no protocol.
 *
 * A flow is one client connection, found two ways: by the client-side 4-tuple (client → VIP)
 * and, once the engine has bound one, by the pod-side 4-tuple (pod → SNAT address). Lookups
 * return the index of a record in a fixed array of records whose layout belongs to the caller
 * (lib/tcp's connection record); this module only zeroes a record when it hands it out. The
 * tables are the worker's own (one writer, no locks). Capacity is fixed at start; a full table
 * refuses a new flow and never touches established ones.
 *
 * Client side: the 4-tuple's CRC picks a bucket of eight slots, with an rte_hash for the rare
 * key whose bucket is full. Pod side: the SNAT port the worker chose picks a bucket of four
 * slots, one cache line; a full bucket refuses and the caller takes its next port. flow.c's
 * top comment says why these are our own tables and not rte_hash.
 *
 * Keys are 16 bytes (IPv4 and ports, network order, padded): remote address, local address,
 * remote port, local port. IPv6 will get its own tables rather than widening every probe.
 */
#ifndef SLUICE_FLOW_H
#define SLUICE_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flow_key {
	uint32_t remote_ip, local_ip;
	uint16_t remote_port, local_port;
	uint32_t zero; /* always 0: keys are 16 bytes, which rte_hash compares with one SSE op */
} __attribute__((aligned(16)));

#define FLOW_KEY_LEN 16

#define FLOW_NONE UINT32_MAX

struct flow_table;

/* A table of capacity records of record_size bytes (a multiple of 64), on socket. */
struct flow_table *flow_table_create(const char *name, uint32_t capacity, uint32_t record_size,
				     int socket);
void flow_table_free(struct flow_table *t);

/* The record array: record i is at records + i·record_size, for the table's life. */
void *flow_records(struct flow_table *t);

/* Look up n keys in the client-side (pod_side false) or pod-side table; idx[i] = record index
 * or FLOW_NONE. Every bucket is prefetched before any is read (n ≤ 64). */
void flow_lookup_burst(struct flow_table *t, bool pod_side, const struct flow_key *keys, uint16_t n,
		       uint32_t *idx);

/* A new, zeroed record for key (client side). Returns its index, or FLOW_NONE when the table
 * is full or the key is already present. */
uint32_t flow_insert(struct flow_table *t, const struct flow_key *client_key);

/* Bind (or re-bind after a retry) the pod-side key; the old pod key, if any, is removed.
 * Returns 0, or -ENOSPC/-EEXIST. */
int flow_bind_pod(struct flow_table *t, uint32_t idx, const struct flow_key *pod_key);

/* Which client-side bucket a key falls in (tests drive full buckets with it). */
uint32_t flow_client_bucket(const struct flow_table *t, const struct flow_key *k);

/* Remove a record and both its keys; the index may be handed out again at once. */
void flow_remove(struct flow_table *t, uint32_t idx);

bool flow_in_use(const struct flow_table *t, uint32_t idx);
uint32_t flow_count(const struct flow_table *t);
uint32_t flow_capacity(const struct flow_table *t);

/* The keys of a record, as stored. The pod key is all zero when none is bound. */
void flow_keys(const struct flow_table *t, uint32_t idx, struct flow_key *client_key,
	       struct flow_key *pod_key);

/*
 * Age a slice: look at up to `budget` records in use from where the last call stopped and call
 * dead(idx, now, arg) for each; a true answer removes the record (after the callback has
 * released what the record held).
 */
typedef bool (*flow_dead_fn)(uint32_t idx, uint64_t now, void *arg);
unsigned flow_age(struct flow_table *t, uint64_t now, unsigned budget, flow_dead_fn dead,
		  void *arg);

#endif
