/*
 * mgmt_loop.c: the management lcore's event loop.
 *
 * One epoll set, one thread: signals (signalfd), a 100 ms timer (metrics connections, table
 * reaping, cookie key rotation), the metrics HTTP server, inotify on the manifest directory,
 * and the Kubernetes sync's descriptor. Nothing in it blocks; rule changes are coalesced and
 * compiled here, so a slow scrape or a burst of events never reaches the workers.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <rte_cycles.h>

#include "daemon-int.h"

void mgmt_signal_mask(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGHUP);
}

int mgmt_loop_run(struct daemon *d)
{
	sigset_t mask;
	mgmt_signal_mask(&mask);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || tfd < 0 || ep < 0)
		die("management loop: %s", strerror(errno));
	struct itimerspec its = {.it_interval = {0, 100000000}, .it_value = {0, 100000000}};
	timerfd_settime(tfd, 0, &its, NULL);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = sfd};
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.fd = tfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	if (d->http)
		stats_http_epoll_add(d->http, ep);
	if (d->inotify_fd >= 0) {
		ev.data.fd = d->inotify_fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, d->inotify_fd, &ev);
	}
	/* The access log's writer: every 10 ms while it is on. */
	int afd = -1;
	if (d->alog_file) {
		afd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (afd < 0)
			die("management loop: %s", strerror(errno));
		struct itimerspec ats = {.it_interval = {0, 10000000}, .it_value = {0, 10000000}};
		timerfd_settime(afd, 0, &ats, NULL);
		ev.data.fd = afd;
		epoll_ctl(ep, EPOLL_CTL_ADD, afd, &ev);
	}
	int kfd = d->kube ? kube_sync_fd(d->kube) : -1;
	if (kfd >= 0) {
		ev.data.fd = kfd;
		epoll_ctl(ep, EPOLL_CTL_ADD, kfd, &ev);
	}
	const uint64_t hz = rte_get_tsc_hz();

	log_notice("running: %u worker(s); SIGTERM or SIGINT stops", d->conf.n_workers);
	for (;;) {
		struct epoll_event evs[32];
		long wait_ms = d->kube ? kube_sync_timeout_ms(d->kube) : -1;
		if (d->reload_at) {
			uint64_t now = rte_rdtsc();
			long r = now >= d->reload_at ? 0
						     : (long)((d->reload_at - now) * 1000 / hz) + 1;
			if (wait_ms < 0 || r < wait_ms)
				wait_ms = r;
		}
		int n = epoll_wait(ep, evs, 32, wait_ms < 0 ? -1 : (int)wait_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (d->kube) {
			kube_sync_run(d->kube);
			/* Coalesce a burst of changes (a rollout touches many EndpointSlices) for
			 * debounce_ms, then compile once. The first table waits for every kind. */
			if (kube_sync_generation(d->kube) != d->kube_compiled_gen &&
			    d->reload_at == 0 && kube_sync_synced(d->kube))
				d->reload_at =
					rte_rdtsc() + d->conf.kubernetes.debounce_ms * hz / 1000;
		}
		if (d->reload_at && rte_rdtsc() >= d->reload_at)
			routing_reload(d, rte_rdtsc());
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == sfd) {
				struct signalfd_siginfo si;
				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					log_notice(
						"SIGHUP: reloading the routes (other configuration "
						"changes need a restart)");
					d->last_change_tsc = rte_rdtsc();
					routing_reload(d, rte_rdtsc());
					access_log_reopen(d);
					continue;
				}
				log_notice("signal %u: stopping", si.ssi_signo);
				close(ep);
				close(sfd);
				close(tfd);
				if (afd >= 0)
					close(afd);
				return 0;
			} else if (fd == tfd) {
				uint64_t ticks;
				if (read(tfd, &ticks, sizeof(ticks)) < 0)
					continue;
				if (d->http)
					stats_http_tick(d->http, ep);
				uint64_t now = rte_rdtsc();
				routing_reap(d, now);
				if (rte_rdtsc() / rte_get_tsc_hz() >= d->next_rotation)
					workers_rotate_keys(d, false);
				if (d->tls &&
				    rte_rdtsc() / rte_get_tsc_hz() >= d->next_ticket_rotation)
					routing_rotate_tickets(d);
			} else if (fd == d->inotify_fd) {
				/* Coalesce bursts (an editor's save, a ConfigMap swap): publish
				 * 200 ms after the last change. */
				if (control_manifests_drain(d->manifests)) {
					d->last_change_tsc = rte_rdtsc();
					d->reload_at = rte_rdtsc() + rte_get_tsc_hz() / 5;
				}
			} else if (fd == afd) {
				uint64_t ticks;
				if (read(afd, &ticks, sizeof(ticks)) > 0)
					access_log_drain(d);
			} else if (fd == kfd) {
				continue; /* driven above */
			} else if (d->http && stats_http_owns(d->http, fd)) {
				stats_http_on_event(d->http, ep, fd, evs[i].events);
			}
		}
	}
}
