/*
 * access_log.c: the access log's writer on the management lcore.
 *
 * Each worker has a ring of struct alog_rec (lib/alog) that its engine fills; every 10 ms the
 * management loop drains them all and writes one JSON line per record to the file (or standard
 * output), then flushes. Writing may block the management lcore on a slow disk or pipe; it never
 * blocks a worker, whose ring simply fills and drops (counted). SIGHUP reopens the file, so a
 * log rotator can move it away first.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "alog/alog.h"
#include "daemon-int.h"

static bool to_stdout(const struct conf_access_log *a)
{
	return a->path[0] == '\0' || strcmp(a->path, "-") == 0;
}

static FILE *open_log(const struct conf_access_log *a)
{
	if (to_stdout(a))
		return stdout;
	int fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "a");
	if (f == NULL)
		close(fd);
	return f;
}

void access_log_start(struct daemon *d)
{
	const struct conf_access_log *a = &d->conf.access_log;
	if (!a->enabled)
		return;
	d->alog_file = open_log(a);
	if (d->alog_file == NULL)
		die("access_log.path %s: %s", a->path, strerror(errno));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t run = ((uint64_t)ts.tv_sec & 0xffffff) << 32; /* ids differ between runs */
	for (unsigned i = 0; i < d->conf.n_workers; i++) {
		struct worker_ctx *w = d->workers[i];
		if (w == NULL || w->tcp == NULL)
			continue;
		char name[32];
		snprintf(name, sizeof(name), "alog_%u", w->lcore_id);
		d->alog_rings[i] =
			rte_ring_create_elem(name, sizeof(struct alog_rec), a->ring,
					     (int)rte_lcore_to_socket_id(w->lcore_id),
					     RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
		if (d->alog_rings[i] == NULL)
			die("cannot create the access log ring of worker %u (%u records of %zu "
			    "bytes): "
			    "%s; lower access_log.ring or reserve more hugepages",
			    w->lcore_id, a->ring, sizeof(struct alog_rec), rte_strerror(rte_errno));
		if (tcpl_set_access_log(w->tcp, d->alog_rings[i], a->sample,
					((uint64_t)w->lcore_id << 56) | run) != 0)
			die("out of memory for the access log of worker %u", w->lcore_id);
	}
	log_info("access log: %s, one request in %u", to_stdout(a) ? "standard output" : a->path,
		 a->sample);
}

void access_log_drain(struct daemon *d)
{
	if (d->alog_file == NULL)
		return;
	static struct alog_rec recs[64];
	static char line[2048];
	const uint64_t hz = rte_get_tsc_hz();
	/* The wall clock now, against the TSC now: each record's time is counted back from here,
	 * so the log follows the system clock (NTP) and a TSC rate slightly off never drifts. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t tsc_now = rte_rdtsc();
	uint64_t unix_now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	bool wrote = false;
	for (unsigned i = 0; i < d->conf.n_workers; i++) {
		struct rte_ring *r = d->alog_rings[i];
		if (r == NULL)
			continue;
		/* At most what is there now: workers that outpace the writer fill their ring and
		 * drop, they never keep the management loop from its other work. */
		unsigned left = rte_ring_count(r), n;
		while (left &&
		       (n = rte_ring_sc_dequeue_burst_elem(r, recs, sizeof(recs[0]),
							   left < 64 ? left : 64, NULL)) > 0) {
			left -= n;
			for (unsigned k = 0; k < n; k++) {
				const struct alog_rec *rec = &recs[k];
				struct alog_route route;
				const char *host;
				bool routed = stats_series_labels(rec->series, &route.ingress,
								  &host, &route.service);
				uint64_t ago = tsc_now > rec->tsc ? tsc_now - rec->tsc : 0;
				uint64_t ns = unix_now - (ago / hz * 1000000000u +
							  ago % hz * 1000000000u / hz);
				size_t len = alog_json(rec, routed ? &route : NULL, ns, line,
						       sizeof(line));
				if (len) {
					fwrite(line, 1, len, d->alog_file);
					d->alog_lines++;
				}
			}
			wrote = true;
		}
	}
	if (wrote)
		fflush(d->alog_file);
}

void access_log_reopen(struct daemon *d)
{
	const struct conf_access_log *a = &d->conf.access_log;
	if (d->alog_file == NULL || to_stdout(a))
		return;
	access_log_drain(d);
	FILE *f = open_log(a);
	if (f == NULL) {
		log_warning("access log: cannot reopen %s (%s); still writing to the old file",
			    a->path, strerror(errno));
		return;
	}
	fclose(d->alog_file);
	d->alog_file = f;
	log_info("access log: reopened %s", a->path);
}

/* After the workers stopped: what they queued is written, then the rings go. */
void access_log_stop(struct daemon *d)
{
	access_log_drain(d);
	if (d->alog_file && d->alog_file != stdout)
		fclose(d->alog_file);
	else if (d->alog_file)
		fflush(d->alog_file);
	d->alog_file = NULL;
	for (unsigned i = 0; i < d->conf.n_workers; i++) {
		rte_ring_free(d->alog_rings[i]);
		d->alog_rings[i] = NULL;
	}
}
