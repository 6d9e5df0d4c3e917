/*
 * kube_bench: from a change in the API server to a worker routing with it, at 1 000 and 10 000
 * Ingresses, side by side in one run.
 *
 * The test API server (tests/kube/apiserver.py) holds N Ingresses (one host and path each), N/10
 * Services and their EndpointSlices. lib/kube lists them, then each round changes one Ingress's
 * path through the server and times, from just before the write:
 *   event    the watch event applied to the model (the sync's generation moves)
 *   compile  control_compile of the whole model
 *   total    until a worker thread, polling the published table as a worker lcore does, has
 *            looked a request up in the new table; includes the daemon's debounce
 * The daemon's management loop does the same steps (plus RCU bookkeeping, which the worker's
 * per-burst quiescent state makes microseconds).
 *
 * Usage: kube_bench [rounds] [debounce_ms]   (defaults 15 and 20, the daemon's default)
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>

#include "control/control.h"
#include "kube/kube.h"
#include "route/route.h"

static pid_t server_pid;

static void stop_server(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
		server_pid = 0;
	}
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &l);
	close(fd);
	return ntohs(a.sin_port);
}

static void start_server(int port, int cport)
{
	int pfd[2];
	if (pipe(pfd) != 0)
		exit(1);
	server_pid = fork();
	if (server_pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		char p[16], c[16];
		snprintf(p, sizeof(p), "%d", port);
		snprintf(c, sizeof(c), "%d", cport);
		execlp("python3", "python3", SOURCE_ROOT "/tests/kube/apiserver.py", "--port", p,
		       "--control-port", c, "--bookmark-interval", "30", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	char buf[64] = "";
	struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
	if (poll(&pf, 1, 15000) <= 0 || read(pfd[0], buf, sizeof(buf) - 1) <= 0 ||
	    strncmp(buf, "ready", 5) != 0) {
		fprintf(stderr, "kube_bench: the test API server did not start\n");
		stop_server();
		exit(1);
	}
	close(pfd[0]);
}

static void post(int cport, const char *what, const char *body)
{
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/_test/%s", cport, what);
	CURL *e = curl_easy_init();
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	FILE *devnull = fopen("/dev/null", "w");
	curl_easy_setopt(e, CURLOPT_WRITEDATA, devnull);
	CURLcode rc = curl_easy_perform(e);
	long code = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(e);
	fclose(devnull);
	if (rc != CURLE_OK || code != 200) {
		fprintf(stderr, "kube_bench: POST %s failed (%s, HTTP %ld)\n", what,
			curl_easy_strerror(rc), code);
		stop_server();
		exit(1);
	}
}

static char *ingress_json(unsigned i, unsigned version)
{
	char *s = NULL;
	if (asprintf(
		    &s,
		    "{\"kind\":\"Ingress\",\"metadata\":{\"name\":\"ing%u\",\"namespace\":\"t%u\"},"
		    "\"spec\":{\"ingressClassName\":\"sluice\",\"rules\":[{\"host\":"
		    "\"h%u.example.com\",\"http\":{\"paths\":[{\"path\":\"/v%u\",\"pathType\":"
		    "\"Prefix\",\"backend\":{\"service\":{\"name\":\"svc%u\",\"port\":{\"number\":"
		    "80}}}}]}}]}}",
		    i, i / 10 % 100, i, version, i / 10) < 0)
		exit(1);
	return s;
}

static void load(int cport, unsigned n)
{
	json_t *all = json_array();
	json_array_append_new(all, json_pack("{s:s,s:{s:s},s:{s:s}}", "kind", "IngressClass",
					     "metadata", "name", "sluice", "spec", "controller",
					     "sluice.dev/ingress-controller"));
	for (unsigned s = 0; s < n / 10; s++) {
		char name[32], ns[32];
		snprintf(name, sizeof(name), "svc%u", s);
		snprintf(ns, sizeof(ns), "t%u", s % 100);
		json_array_append_new(all,
				      json_pack("{s:s,s:{s:s,s:s},s:{s:[{s:s,s:i}]}}", "kind",
						"Service", "metadata", "name", name, "namespace",
						ns, "spec", "ports", "name", "http", "port", 80));
		json_array_append_new(
			all,
			json_pack("{s:s,s:{s:s,s:s,s:{s:s}},s:s,s:[{s:s,s:i}],s:[{s:[s]},{s:[s]}]}",
				  "kind", "EndpointSlice", "metadata", "name", name, "namespace",
				  ns, "labels", "kubernetes.io/service-name", name, "addressType",
				  "IPv4", "ports", "name", "http", "port", 8080, "endpoints",
				  "addresses", "198.19.1.1", "addresses", "198.19.1.2"));
	}
	for (unsigned i = 0; i < n; i++) {
		char *s = ingress_json(i, 0);
		json_array_append_new(all, json_loads(s, 0, NULL));
		free(s);
	}
	char *body = json_dumps(all, JSON_COMPACT);
	post(cport, "apply", body);
	free(body);
	json_decref(all);
}

/* The "worker": reads the published table as a worker lcore does (once per burst) and routes
 * one request with it; reports which generation it last used. */
static _Atomic(struct route_table *) published;
static atomic_ulong published_gen, seen_gen;
static atomic_bool stop_worker;
static char probe_host[64];

static void *worker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_worker)) {
		unsigned long g = atomic_load_explicit(&published_gen, memory_order_acquire);
		struct route_table *t = atomic_load_explicit(&published, memory_order_acquire);
		if (t)
			(void)route_lookup(t, probe_host, strlen(probe_host), "/v1/x", 5);
		atomic_store_explicit(&seen_gen, g, memory_order_release);
	}
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct result {
	double sync_s, event[64], compile[64], total[64];
	unsigned rounds;
};

static void log_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static void run(unsigned n, unsigned rounds, unsigned debounce_ms, struct result *r)
{
	int port = free_port(), cport = free_port();
	start_server(port, cport);
	load(cport, n);
	char server[64];
	snprintf(server, sizeof(server), "http://127.0.0.1:%d", port);
	struct kube_client_config kc = {.server = server};
	struct control_model *m = control_model_new();
	struct control_class cls = {"sluice", "sluice.dev/ingress-controller", NULL, NULL};
	struct kube_sync_opts so = {.client = &kc, .model = m, .cls = &cls, .log = log_quiet};
	char err[256];
	uint64_t t0 = kube_now_ns();
	struct kube_sync *s = kube_sync_new(&so, err, sizeof(err));
	if (s == NULL) {
		fprintf(stderr, "kube_bench: %s\n", err);
		stop_server();
		exit(1);
	}
	while (!kube_sync_synced(s)) {
		struct pollfd p = {.fd = kube_sync_fd(s), .events = POLLIN};
		long to = kube_sync_timeout_ms(s);
		poll(&p, 1, to < 0 || to > 100 ? 100 : (int)to);
		kube_sync_run(s);
		if (kube_now_ns() - t0 > 120ull * 1000000000ull) {
			fprintf(stderr, "kube_bench: no sync in 120 s\n");
			stop_server();
			exit(1);
		}
	}
	r->sync_s = (double)(kube_now_ns() - t0) * 1e-9;
	uint64_t compiled = kube_sync_take_changes(s);
	struct control_errors errs = {0};
	struct route_table *cur = control_compile(m, &cls, &errs);
	control_errors_free(&errs);
	atomic_store(&published, cur);
	atomic_store(&published_gen, 1);
	atomic_store(&stop_worker, false);
	pthread_t th;
	pthread_create(&th, NULL, worker, NULL);
	unsigned long gen = 1;
	r->rounds = rounds;
	for (unsigned k = 0; k < rounds; k++) {
		unsigned target = (k * 7919u) % n;
		snprintf(probe_host, sizeof(probe_host), "h%u.example.com", target);
		char *body = ingress_json(target, k + 1);
		uint64_t start = kube_now_ns();
		post(cport, "apply", body);
		free(body);
		/* The management loop: run the sync until the change lands, debounce, compile,
		 * publish. */
		uint64_t ev_at = 0;
		for (;;) {
			long to = kube_sync_timeout_ms(s);
			if (ev_at) {
				long left =
					(long)((ev_at + debounce_ms * 1000000ull - kube_now_ns()) /
					       1000000ull);
				if (left <= 0)
					break;
				if (to < 0 || left < to)
					to = left;
			}
			struct pollfd p = {.fd = kube_sync_fd(s), .events = POLLIN};
			poll(&p, 1, to < 0 || to > 100 ? 100 : (int)to);
			kube_sync_run(s);
			if (!ev_at && kube_sync_generation(s) != compiled)
				ev_at = kube_now_ns();
			if (kube_now_ns() - start > 10ull * 1000000000ull) {
				fprintf(stderr, "kube_bench: change not seen in 10 s\n");
				stop_server();
				exit(1);
			}
		}
		compiled = kube_sync_take_changes(s);
		uint64_t c0 = kube_now_ns();
		struct route_table *t = control_compile(m, &cls, &errs);
		control_errors_free(&errs);
		uint64_t c1 = kube_now_ns();
		atomic_store_explicit(&published, t, memory_order_release);
		atomic_store_explicit(&published_gen, ++gen, memory_order_release);
		while (atomic_load_explicit(&seen_gen, memory_order_acquire) != gen)
			;
		uint64_t done = kube_now_ns();
		route_table_free(cur);
		cur = t;
		r->event[k] = (double)(ev_at - start) * 1e-6;
		r->compile[k] = (double)(c1 - c0) * 1e-6;
		r->total[k] = (double)(done - start) * 1e-6;
	}
	atomic_store(&stop_worker, true);
	pthread_join(th, NULL);
	route_table_free(cur);
	kube_sync_free(s);
	control_model_free(m);
	stop_server();
}

static void print_row(const char *what, double *v, unsigned n, double *median)
{
	double c[64];
	memcpy(c, v, n * sizeof(double));
	qsort(c, n, sizeof(double), cmp_d);
	*median = c[n / 2];
	printf("  %-8s median %7.1f ms   p90 %7.1f ms   max %7.1f ms\n", what, c[n / 2],
	       c[(n * 9) / 10 < n ? (n * 9) / 10 : n - 1], c[n - 1]);
}

int main(int argc, char **argv)
{
	unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 15;
	unsigned debounce = argc > 2 ? (unsigned)atoi(argv[2]) : 20;
	if (rounds < 1 || rounds > 64)
		rounds = 15;
	atexit(stop_server);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	static const unsigned sizes[] = {1000, 10000};
	double med[2][3];
	for (unsigned i = 0; i < 2; i++) {
		struct result r;
		run(sizes[i], rounds, debounce, &r);
		printf("%u Ingresses (%u Services): first list and watch %.2f s; %u changes, "
		       "debounce %u ms\n",
		       sizes[i], sizes[i] / 10, r.sync_s, r.rounds, debounce);
		print_row("event", r.event, r.rounds, &med[i][0]);
		print_row("compile", r.compile, r.rounds, &med[i][1]);
		print_row("total", r.total, r.rounds, &med[i][2]);
	}
	printf("10 000 vs 1 000 Ingresses (medians): compile %.1fx, change to data path %.2fx; "
	       "at 10 000: %.1f ms (aim: under 100 ms)\n",
	       med[1][1] / med[0][1], med[1][2] / med[0][2], med[1][2]);
	curl_global_cleanup();
	return 0;
}
