/*
 * workers.c: one worker context per worker lcore, and the SYN-cookie secret they share.
 *
 * A worker owns its mempool, neighbour table, flow tables and counters; what it reads but does
 * not own (the ports' addresses, the route table, the cookie keys) is published to it by the
 * management lcore and never written in place.
 */
#include <stdio.h>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "daemon-int.h"

struct worker_ctx *workers_make(struct daemon *d, unsigned wi, struct rte_mempool *pool)
{
	const struct sluice_conf *c = &d->conf;
	unsigned lcore = c->workers[wi];
	int socket = (int)rte_lcore_to_socket_id(lcore);
	struct worker_ctx *w =
		rte_zmalloc_socket("worker", sizeof(*w), RTE_CACHE_LINE_SIZE, socket);
	if (w == NULL)
		die("out of memory for worker %u; reserve more hugepages", lcore);
	w->lcore_id = lcore;
	w->pool = pool;
	w->stats = &stats_per_lcore[lcore];
	w->tsc_hz = rte_get_tsc_hz();
	char name[32];
	snprintf(name, sizeof(name), "neigh_%u", lcore);
	w->neigh = net_neigh_create(name, c->limits.neighbours, socket,
				    (uint64_t)c->timeouts.neighbour_reachable_ms * w->tsc_hz / 1000,
				    (uint64_t)c->timeouts.neighbour_retry_ms * w->tsc_hz / 1000);
	if (w->neigh == NULL)
		die("cannot create the neighbour table for worker %u (%u entries); lower "
		    "limits.neighbours or reserve more hugepages",
		    lcore, c->limits.neighbours);
	w->n_ports = c->n_ports;
	for (unsigned p = 0; p < c->n_ports; p++) {
		w->ports[p].port_id = d->ports[p].port_id;
		w->ports[p].queue_id = (uint16_t)wi;
		w->ports[p].offloads = d->ports[p].tx_offloads;
		w->ports[p].local = &d->ports[p].local;
		/* Keep every configured next hop resolved, so the first request to a pod behind
		 * it does not wait for ARP. */
		for (unsigned r = 0; r < c->ports[p].n_routes && w->n_resolve < WORKER_MAX_RESOLVE;
		     r++) {
			w->resolve_ip[w->n_resolve] = c->ports[p].routes[r].via;
			w->resolve_port[w->n_resolve] = (uint8_t)p;
			w->n_resolve++;
		}
	}

	/* The TCP-lite engine, when some port has an SNAT address to reach pods from. */
	bool any_snat = false;
	for (unsigned p = 0; p < c->n_ports; p++)
		any_snat |= c->ports[p].n_snat > 0;
	if (!any_snat)
		return w;
	struct tcpl_config tc = tcpl_config_default(w->tsc_hz);
	tc.limits = (struct http_limits){.max_request_line = c->limits.max_request_line,
					 .max_head_bytes = c->limits.max_header_bytes,
					 .max_headers = (uint16_t)c->limits.max_headers,
					 .reject_bare_lf = c->limits.reject_bare_lf};
	tc.request_buffer = c->limits.request_buffer;
	tc.buffers = c->limits.request_buffers;
	tc.heads_per_client = c->limits.heads_per_client;
	tc.max_flows = c->limits.max_flows;
	tc.header_tsc = (uint64_t)c->timeouts.header_ms * w->tsc_hz / 1000;
	tc.connect_tsc = (uint64_t)c->timeouts.connect_ms * w->tsc_hz / 1000;
	tc.idle_tsc = (uint64_t)c->timeouts.idle_ms * w->tsc_hz / 1000;
	tc.linger_tsc = (uint64_t)c->timeouts.linger_ms * w->tsc_hz / 1000;
	tc.fixed_cookies = c->bench.fixed_cookies;
	tc.n_listen = 0; /* the ports' own lists, below */
	/* SNAT source ports 1024–65535, split evenly: a pod's reply names its worker. */
	uint32_t span = (65536 - 1024) / c->n_workers;
	tc.snat_port_first = (uint16_t)(1024 + wi * span);
	tc.snat_port_count = (uint16_t)span;
	for (unsigned p = 0; p < c->n_ports; p++)
		for (unsigned l = 0; l < c->ports[p].n_listen && tc.n_listen < TCPL_MAX_LISTEN; l++)
			if (c->ports[p].n_vips)
				tc.listen_ports[tc.n_listen++] = c->ports[p].listen[l];
	struct tcpl_port tp[TCPL_MAX_PORTS];
	for (unsigned p = 0; p < c->n_ports && p < TCPL_MAX_PORTS; p++)
		tp[p] = (struct tcpl_port){.local = &d->ports[p].local,
					   .conf = &c->ports[p],
					   .offloads = d->ports[p].tx_offloads,
					   .mss = (uint16_t)(c->ports[p].profile.mtu - 40),
					   .rss_key =
						   d->ports[p].thash ? d->ports[p].rss_key : NULL,
					   .reta = d->ports[p].thash ? d->ports[p].reta : NULL,
					   .reta_size = d->ports[p].reta_size,
					   .queue = (uint16_t)wi};
	/* Each port's TLS listeners: its `tls` ports that it listens on, once each. */
	for (unsigned p = 0; p < c->n_ports && p < TCPL_MAX_PORTS; p++) {
		const struct conf_port *cp = &c->ports[p];
		tp[p].n_tls = 0;
		for (unsigned k = 0; k < cp->n_tls && tp[p].n_tls < TCPL_MAX_LISTEN; k++) {
			bool listened = false, dup = false;
			for (unsigned l = 0; l < cp->n_listen; l++)
				listened |= cp->listen[l] == cp->tls[k];
			for (unsigned j = 0; j < tp[p].n_tls; j++)
				dup |= tp[p].tls_ports[j] == cp->tls[k];
			if (listened && !dup)
				tp[p].tls_ports[tp[p].n_tls++] = cp->tls[k];
		}
	}
	/* Termination records only where some port has a TLS listener. */
	for (unsigned p = 0; p < c->n_ports && p < TCPL_MAX_PORTS; p++)
		if (tp[p].n_tls) {
			tc.tls = d->tls;
			tc.terminated = c->limits.terminated_connections;
			tc.terminated_per_client = c->limits.terminated_per_client;
		}
	/* Hand-off: this worker's place among its peers and its SNAT partition. */
	w->worker_index = (uint16_t)wi;
	w->n_workers = c->n_workers;
	w->snat_first = tc.snat_port_first - (uint16_t)(wi * span);
	w->snat_span = (uint16_t)span;
	for (unsigned p = 0; p < c->n_ports; p++)
		if (c->ports[p].n_snat) {
			w->pod_pi = (uint16_t)p;
			break;
		}
	w->inbox = d->rings[wi];
	w->peers = d->rings;
	w->qsbr = d->qsbr;
	rte_rcu_qsbr_thread_register(d->qsbr, wi);
	char err[256];
	snprintf(name, sizeof(name), "flows_%u", lcore);
	w->tcp = tcpl_create(name, &tc, tp, (uint8_t)c->n_ports, pool, w->neigh, w->stats, socket,
			     err, sizeof(err));
	if (w->tcp == NULL)
		die("worker %u: %s", lcore, err);
	control_publisher_add_slot(d->publisher, tcpl_routes_slot(w->tcp));
	tcpl_set_keys(w->tcp, &d->keys[d->key_slot]);
	tcpl_set_seconds(w->tcp, rte_rdtsc() / w->tsc_hz);
	return w;
}

void workers_rotate_keys(struct daemon *d, bool first)
{
	uint64_t secs = rte_rdtsc() / rte_get_tsc_hz();
	if (d->conf.bench.fixed_cookies) {
		/* Benchmark replay: one fixed key, never rotated (refused nowhere, warned at
		 * start). */
		d->next_rotation = UINT64_MAX;
		if (first)
			crypto_keys_fixed(d->crypto, &d->keys[0]);
		d->key_slot = 0;
		return;
	}
	unsigned next = first ? 0 : (d->key_slot + 1) % 3;
	if (crypto_keys_rotate(d->crypto, &d->keys[next], first ? NULL : &d->keys[d->key_slot],
			       crypto_cookie_count(secs)) != 0)
		die("cannot read random bytes for the SYN-cookie secret");
	d->key_slot = next;
	d->next_rotation = secs + 600;
	if (first)
		return; /* workers_make hands the first keys over */
	for (unsigned w = 0; w < d->conf.n_workers; w++)
		if (d->workers[w]->tcp)
			tcpl_set_keys(d->workers[w]->tcp, &d->keys[d->key_slot]);
}
