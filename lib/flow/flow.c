/*
 * flow.c: one record array with an index free list, found from either side through tables of
 * our own.
 *
 * Client side: the 4-tuple's CRC picks a bucket of eight slots (two cache lines, prefetched for
 * the whole burst); twice as many slots as records keeps a full bucket rare, and the rare key
 * that finds its bucket full goes to an rte_hash, which lookups consult only for buckets that
 * have spilled (a per-bucket count).
 *
 * The pod side's key holds an SNAT address and port that this worker chose itself, from its own
 * partition, one after another. So it needs no general hash: the port (mixed with the address)
 * picks a bucket of four slots, one cache line, compared directly. A full bucket refuses the
 * insert and the caller tries its next port, which it does anyway when a 4-tuple is taken. No
 * chains, no cuckoo moves, one line touched per lookup.
 */
#include "flow/flow.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_byteorder.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>
#include <rte_random.h>

#define POD_WAYS 4

struct pod_bucket {
	struct flow_key k[POD_WAYS]; /* k[i].zero holds the record index; FLOW_NONE = free */
} __attribute__((aligned(64)));

#define CLIENT_WAYS 8

struct client_bucket {
	struct flow_key k[CLIENT_WAYS]; /* k[i].zero holds the record index; FLOW_NONE = free */
} __attribute__((aligned(64)));

/* What the table keeps per record, apart from the record itself: its keys (for removal) and the
 * free-list link. ck.zero is 1 while the record is in use, pk.zero 1 while a pod key is bound. */
struct flow_meta {
	struct flow_key ck, pk;
	uint32_t next_free;
};

struct flow_table {
	struct rte_hash *client; /* overflow of full client buckets */
	struct client_bucket *cb;
	uint8_t *spilled; /* per client bucket: keys that went to the overflow hash */
	uint32_t cb_mask;
	struct pod_bucket *pod;
	uint32_t pod_mask;
	uint8_t *recs;
	uint32_t rec_size;
	struct flow_meta *meta;
	uint32_t capacity;
	uint32_t count;
	uint32_t free_head;
	uint32_t age_cursor;
	uint32_t seed; /* random per table: clients cannot aim their tuples at one bucket */
};

_Static_assert(sizeof(struct flow_key) == FLOW_KEY_LEN, "key layout");

static struct rte_hash *make_hash(const char *name, const char *suffix, uint32_t capacity,
				  int socket)
{
	char n[RTE_HASH_NAMESIZE];
	snprintf(n, sizeof(n), "%s_%s", name, suffix);
	struct rte_hash_parameters p = {
		.name = n,
		/* rte_hash buckets hold 8 keys; headroom keeps inserts from failing on a
		 * crowded bucket before the record array is full. */
		.entries = capacity * 2,
		.key_len = FLOW_KEY_LEN,
		.hash_func = rte_hash_crc,
		.socket_id = socket,
	};
	return rte_hash_create(&p);
}

struct flow_table *flow_table_create(const char *name, uint32_t capacity, uint32_t record_size,
				     int socket)
{
	struct flow_table *t =
		rte_zmalloc_socket("flow_table", sizeof(*t), RTE_CACHE_LINE_SIZE, socket);
	if (t == NULL)
		return NULL;
	t->capacity = capacity;
	t->rec_size = record_size;
	t->seed = (uint32_t)rte_rand();
	t->recs = rte_zmalloc_socket("flows", (size_t)capacity * record_size, RTE_CACHE_LINE_SIZE,
				     socket);
	t->meta = rte_zmalloc_socket("flow_meta", (size_t)capacity * sizeof(struct flow_meta),
				     RTE_CACHE_LINE_SIZE, socket);
	t->client = make_hash(name, "c", capacity, socket);
	uint32_t ncb = 256;
	while (ncb * CLIENT_WAYS < capacity * 2 && ncb < (1u << 24))
		ncb <<= 1;
	t->cb_mask = ncb - 1;
	t->cb = rte_malloc_socket("flow_cb", (size_t)ncb * sizeof(struct client_bucket),
				  RTE_CACHE_LINE_SIZE, socket);
	t->spilled = rte_zmalloc_socket("flow_spill", ncb, RTE_CACHE_LINE_SIZE, socket);
	/* Half as many buckets as records (two slots per record), at least 1024. */
	uint32_t nb = 1024;
	while (nb < capacity / 2 && nb < (1u << 24))
		nb <<= 1;
	t->pod_mask = nb - 1;
	t->pod = rte_malloc_socket("flow_pod", (size_t)nb * sizeof(struct pod_bucket),
				   RTE_CACHE_LINE_SIZE, socket);
	if (t->recs == NULL || t->meta == NULL || t->client == NULL || t->pod == NULL ||
	    t->cb == NULL || t->spilled == NULL) {
		flow_table_free(t);
		return NULL;
	}
	for (uint32_t b = 0; b < ncb; b++)
		for (unsigned w = 0; w < CLIENT_WAYS; w++)
			t->cb[b].k[w] = (struct flow_key){.zero = FLOW_NONE};
	for (uint32_t b = 0; b < nb; b++)
		for (unsigned w = 0; w < POD_WAYS; w++)
			t->pod[b].k[w] = (struct flow_key){.zero = FLOW_NONE};
	for (uint32_t i = 0; i < capacity; i++)
		t->meta[i].next_free = i + 1 < capacity ? i + 1 : FLOW_NONE;
	t->free_head = 0;
	return t;
}

void flow_table_free(struct flow_table *t)
{
	if (t == NULL)
		return;
	rte_hash_free(t->client);
	rte_free(t->cb);
	rte_free(t->spilled);
	rte_free(t->pod);
	rte_free(t->recs);
	rte_free(t->meta);
	rte_free(t);
}

static inline uint32_t pod_bucket_of(const struct flow_table *t, const struct flow_key *k)
{
	uint32_t port = rte_be_to_cpu_16(k->local_port);
	return (port ^ (rte_be_to_cpu_32(k->local_ip) * 0x9e3779b1u)) & t->pod_mask;
}

static inline bool same_tuple(const struct flow_key *a, const struct flow_key *b)
{
	uint64_t x, y;
	memcpy(&x, a, 8);
	memcpy(&y, b, 8);
	return x == y && a->remote_port == b->remote_port && a->local_port == b->local_port;
}

static inline uint32_t client_bucket_of(const struct flow_table *t, const struct flow_key *k)
{
	return rte_hash_crc(k, 12, t->seed) & t->cb_mask;
}

uint32_t flow_client_bucket(const struct flow_table *t, const struct flow_key *k)
{
	return client_bucket_of(t, k);
}

/* The key's slot among a bucket's ways, or NULL. */
static inline struct flow_key *slot_find(struct flow_key *ways, unsigned n,
					 const struct flow_key *k)
{
	for (unsigned w = 0; w < n; w++)
		if (ways[w].zero != FLOW_NONE && same_tuple(&ways[w], k))
			return &ways[w];
	return NULL;
}

/* A free slot among a bucket's ways, or NULL. */
static inline struct flow_key *slot_free(struct flow_key *ways, unsigned n)
{
	for (unsigned w = 0; w < n; w++)
		if (ways[w].zero == FLOW_NONE)
			return &ways[w];
	return NULL;
}

/* The client key's slot in its bucket b, or NULL (then maybe in the overflow hash). */
static inline struct flow_key *client_find(struct flow_table *t, const struct flow_key *k,
					   uint32_t b)
{
	return slot_find(t->cb[b].k, CLIENT_WAYS, k);
}

static inline struct flow_key *pod_find(struct flow_table *t, const struct flow_key *k, uint32_t b)
{
	return slot_find(t->pod[b].k, POD_WAYS, k);
}

void flow_lookup_burst(struct flow_table *t, bool pod_side, const struct flow_key *keys, uint16_t n,
		       uint32_t *idx)
{
	if (n > 64)
		n = 64;
	uint32_t bk[64];
	/* Every bucket of the burst is asked for before any is read. */
	for (uint16_t i = 0; i < n; i++) {
		if (pod_side) {
			bk[i] = pod_bucket_of(t, &keys[i]);
			rte_prefetch0(&t->pod[bk[i]]);
		} else {
			bk[i] = client_bucket_of(t, &keys[i]);
			rte_prefetch0(&t->cb[bk[i]]);
			rte_prefetch0((const uint8_t *)&t->cb[bk[i]] + 64);
		}
	}
	for (uint16_t i = 0; i < n; i++) {
		const struct flow_key *k =
			pod_side ? pod_find(t, &keys[i], bk[i]) : client_find(t, &keys[i], bk[i]);
		idx[i] = k ? k->zero : FLOW_NONE;
		if (k == NULL && !pod_side && unlikely(t->spilled[bk[i]])) {
			void *data;
			if (rte_hash_lookup_data(t->client, &keys[i], &data) >= 0)
				idx[i] = (uint32_t)(uintptr_t)data;
		}
	}
}

void *flow_records(struct flow_table *t)
{
	return t->recs;
}

void flow_keys(const struct flow_table *t, uint32_t idx, struct flow_key *ck, struct flow_key *pk)
{
	const struct flow_meta *m = &t->meta[idx];
	if (ck) {
		*ck = m->ck;
		ck->zero = 0;
	}
	if (pk) {
		*pk = m->pk.zero ? m->pk : (struct flow_key){0};
		pk->zero = 0;
	}
}

uint32_t flow_insert(struct flow_table *t, const struct flow_key *ck)
{
	if (t->free_head == FLOW_NONE)
		return FLOW_NONE;
	uint32_t idx = t->free_head;
	/* A key already present is refused, or the first record would be orphaned and its
	 * removal would delete the second flow's key. */
	uint32_t b = client_bucket_of(t, ck);
	void *existing;
	if (client_find(t, ck, b) ||
	    (t->spilled[b] && rte_hash_lookup_data(t->client, ck, &existing) >= 0))
		return FLOW_NONE;
	struct flow_key *slot = slot_free(t->cb[b].k, CLIENT_WAYS);
	if (slot) {
		*slot = *ck;
		slot->zero = idx;
	} else {
		if (t->spilled[b] == UINT8_MAX ||
		    rte_hash_add_key_data(t->client, ck, (void *)(uintptr_t)idx) != 0)
			return FLOW_NONE;
		t->spilled[b]++;
	}
	struct flow_meta *m = &t->meta[idx];
	t->free_head = m->next_free;
	m->ck = *ck;
	m->ck.zero = 1;
	m->pk = (struct flow_key){0};
	memset(t->recs + (size_t)idx * t->rec_size, 0, t->rec_size);
	t->count++;
	return idx;
}

/* Drop the record's pod key from the pod-side table, if it has one. */
static void pod_unbind(struct flow_table *t, struct flow_meta *m)
{
	if (!m->pk.zero)
		return;
	struct flow_key *o = pod_find(t, &m->pk, pod_bucket_of(t, &m->pk));
	if (o)
		o->zero = FLOW_NONE;
	m->pk = (struct flow_key){0};
}

int flow_bind_pod(struct flow_table *t, uint32_t idx, const struct flow_key *pk)
{
	struct flow_meta *m = &t->meta[idx];
	uint32_t b = pod_bucket_of(t, pk);
	if (pod_find(t, pk, b))
		return -EEXIST;
	pod_unbind(t, m);
	struct flow_key *slot = slot_free(t->pod[b].k, POD_WAYS);
	if (slot == NULL)
		return -ENOSPC; /* the caller tries another port */
	*slot = *pk;
	slot->zero = idx;
	m->pk = *pk;
	m->pk.zero = 1;
	return 0;
}

void flow_remove(struct flow_table *t, uint32_t idx)
{
	struct flow_meta *m = &t->meta[idx];
	if (!m->ck.zero)
		return;
	struct flow_key k = m->ck;
	k.zero = 0;
	uint32_t b = client_bucket_of(t, &k);
	struct flow_key *slot = client_find(t, &k, b);
	if (slot)
		slot->zero = FLOW_NONE;
	else if (t->spilled[b] && rte_hash_del_key(t->client, &k) >= 0)
		t->spilled[b]--;
	pod_unbind(t, m);
	m->ck.zero = 0;
	m->next_free = t->free_head;
	t->free_head = idx;
	t->count--;
}

bool flow_in_use(const struct flow_table *t, uint32_t idx)
{
	return idx < t->capacity && t->meta[idx].ck.zero;
}

uint32_t flow_count(const struct flow_table *t)
{
	return t->count;
}

uint32_t flow_capacity(const struct flow_table *t)
{
	return t->capacity;
}

unsigned flow_age(struct flow_table *t, uint64_t now, unsigned budget, flow_dead_fn dead, void *arg)
{
	unsigned removed = 0;
	for (unsigned n = 0; n < budget && n < t->capacity; n++) {
		uint32_t i = t->age_cursor;
		t->age_cursor = i + 1 < t->capacity ? i + 1 : 0;
		if (t->meta[i].ck.zero && dead(i, now, arg)) {
			flow_remove(t, i);
			removed++;
		}
	}
	return removed;
}
