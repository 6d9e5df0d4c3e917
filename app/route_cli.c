/*
 * sluice route: "where would this request go?", answered by the same parser, normaliser and
 * route table the data path uses, with no NIC and no EAL.
 *
 *   sluice route --manifests DIR [--class NAME] [--controller C] [--default-backend NS/SVC:PORT]
 *                [--dump] [--raw FILE...]
 *
 * Line mode reads "HOST PATH" lines on stdin and writes one JSON object per line. Raw mode
 * parses each FILE as the bytes a client sent. Problems in the manifests go to stderr and do not
 * change the exit status; only unusable input does (no readable manifest directory, bad
 * arguments, an unreadable raw file).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <jansson.h>

#include "commands.h"
#include "control/control.h"
#include "http/http.h"
#include "route/route.h"

#define PATH_MAX_NORM 8192

static void usage(FILE *f)
{
	fprintf(f, "usage: sluice route --manifests DIR [--class NAME] [--controller NAME]\n"
		   "                    [--default-backend NS/SVC:PORT] [--dump] [--raw FILE...]\n"
		   "Reads \"HOST PATH\" lines on stdin; writes one JSON object per line.\n");
}

/* Route fields shared by line and raw mode. */
static void add_route_fields(json_t *o, const struct route_table *t, const char *host,
			     size_t host_len, const char *path, size_t path_len)
{
	char norm[PATH_MAX_NORM];
	int nl = http_normalize_path((const uint8_t *)path, path_len, norm, sizeof(norm));
	if (nl < 0) {
		json_object_set_new(o, "status", json_integer(400));
		json_object_set_new(o, "error", json_string("path cannot be normalised"));
		return;
	}
	json_object_set_new(o, "normalized_path", json_string(norm));
	const struct route_target *tg = route_lookup(t, host, host_len, norm, (size_t)nl);
	if (tg == NULL) {
		json_object_set_new(o, "status", json_integer(404));
		return;
	}
	const struct route_pool *p = route_pool(t, tg->pool);
	json_object_set_new(o, "status", json_integer(200));
	json_object_set_new(o, "namespace", json_string(p->namespace_));
	json_object_set_new(o, "ingress", json_string(tg->ingress));
	json_object_set_new(o, "service", json_string(p->service));
	json_t *port;
	char *end;
	long num = strtol(p->port, &end, 10);
	if (*end == '\0' && end != p->port)
		port = json_integer(num);
	else
		port = json_string(p->port);
	json_object_set_new(o, "port", port);
	json_object_set_new(
		o, "pathType",
		json_string(tg->default_backend ? "" : route_path_type_name(tg->path_type)));
	json_object_set_new(o, "rule_host", json_string(tg->rule_host));
	json_object_set_new(o, "rule_path", json_string(tg->rule_path));
	json_object_set_new(o, "default_backend", json_boolean(tg->default_backend));
	json_t *eps = json_array();
	for (uint32_t i = 0; i < p->n_endpoints; i++) {
		char a[INET_ADDRSTRLEN], s[INET_ADDRSTRLEN + 8];
		struct in_addr ia = {.s_addr = p->endpoints[i].addr};
		inet_ntop(AF_INET, &ia, a, sizeof(a));
		snprintf(s, sizeof(s), "%s:%u", a, p->endpoints[i].port);
		json_array_append_new(eps, json_string(s));
	}
	json_object_set_new(o, "endpoints", eps);
}

static void emit(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s) {
		puts(s);
		free(s);
	}
	fflush(stdout);
	json_decref(o);
}

static void line_mode(const struct route_table *t)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		char *host = strtok(line, " \t");
		char *path = host ? strtok(NULL, " \t") : NULL;
		if (host == NULL)
			continue; /* blank line */
		json_t *o = json_object();
		json_object_set_new(o, "host", json_string(host));
		if (path == NULL || path[0] != '/') {
			json_object_set_new(o, "error",
					    json_string("expected \"HOST PATH\" with PATH "
							"starting with /"));
			emit(o);
			continue;
		}
		json_object_set_new(o, "path", json_string(path));
		size_t plen = strcspn(path, "?"); /* the query does not route */
		add_route_fields(o, t, host, strlen(host), path, plen);
		emit(o);
	}
	free(line);
}

static int raw_mode(const struct route_table *t, char **files, int n)
{
	const struct http_limits lim = {.max_request_line = 8192,
					.max_head_bytes = 65536,
					.max_headers = 100,
					.reject_bare_lf = true};
	int rc = 0;
	for (int i = 0; i < n; i++) {
		FILE *f = fopen(files[i], "rb");
		if (f == NULL) {
			fprintf(stderr, "sluice route: %s: %s\n", files[i], strerror(errno));
			rc = 1;
			continue;
		}
		static uint8_t buf[65536];
		size_t len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		struct http_request_parser ps;
		struct http_request r;
		http_request_parser_init(&ps);
		int pr = http_request_parse(&ps, &lim, buf, len, &r);
		json_t *o = json_object();
		json_object_set_new(o, "file", json_string(files[i]));
		if (pr > 0) {
			json_object_set_new(o, "parse", json_string("ok"));
			json_object_set_new(o, "method",
					    json_stringn((const char *)buf + r.method_span.off,
							 r.method_span.len));
			json_object_set_new(
				o, "host",
				json_stringn((const char *)buf + r.host.off, r.host.len));
			json_object_set_new(
				o, "path",
				json_stringn((const char *)buf + r.path.off, r.path.len));
			json_object_set_new(o, "keep_alive", json_boolean(r.keep_alive));
			add_route_fields(o, t, (const char *)buf + r.host.off, r.host.len,
					 (const char *)buf + r.path.off, r.path.len);
		} else {
			json_object_set_new(o, "parse", json_string("error"));
			if (pr == HTTP_NEED_MORE) {
				json_object_set_new(o, "status", json_integer(408));
				json_object_set_new(o, "error", json_string("incomplete_head"));
			} else {
				json_object_set_new(o, "status", json_integer(r.status));
				json_object_set_new(o, "error",
						    json_string(http_error_name(r.error)));
			}
		}
		emit(o);
	}
	return rc;
}

int sluice_route_main(int argc, char **argv)
{
	const char *dir = NULL, *default_backend = NULL;
	const char *cls = "sluice", *controller = "sluice.dev/ingress-controller";
	bool dump = false, raw = false;
	static const struct option opts[] = {
		{"manifests", required_argument, NULL, 'm'},
		{"class", required_argument, NULL, 'c'},
		{"controller", required_argument, NULL, 'C'},
		{"default-backend", required_argument, NULL, 'd'},
		{"dump", no_argument, NULL, 'D'},
		{"raw", no_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "m:c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'm':
			dir = optarg;
			break;
		case 'c':
			cls = optarg;
			break;
		case 'C':
			controller = optarg;
			break;
		case 'd':
			default_backend = optarg;
			break;
		case 'D':
			dump = true;
			break;
		case 'r':
			raw = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (dir == NULL) {
		usage(stderr);
		return 2;
	}
	struct control_errors errs = {0};
	struct control_model *m = control_model_new();
	int loaded = control_load_dir(m, dir, &errs);
	if (loaded < 0) {
		control_errors_print(&errs, stderr, "sluice route: ");
		control_errors_free(&errs);
		control_model_free(m);
		return 1;
	}
	struct control_class c = {cls, controller, default_backend};
	struct route_table *t = control_compile(m, &c, &errs);
	control_errors_print(&errs, stderr, "sluice route: ");
	control_errors_free(&errs);
	if (t == NULL) {
		fprintf(stderr, "sluice route: out of memory compiling the routes\n");
		control_model_free(m);
		return 1;
	}
	int rc = 0;
	if (dump)
		route_table_dump(t, stdout);
	else if (raw)
		rc = raw_mode(t, argv + optind, argc - optind);
	else
		line_mode(t);
	route_table_free(t);
	control_model_free(m);
	return rc;
}
