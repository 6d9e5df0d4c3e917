/*
 * Configuration loading and validation: good files load with the values they say, every
 * shipped profile and example passes, and each kind of mistake is reported with the file, line,
 * field and what is expected.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/conf_int.h" /* the schema self-check */

#ifndef SOURCE_ROOT
#error "SOURCE_ROOT must point at the repository"
#endif

static struct sluice_conf c;
static char err[8192];

static void teardown(void)
{
	conf_release(&c);
}

TestSuite(conf, .fini = teardown);

/* A minimal valid file; tests append or replace parts of it. */
#define GOOD_LCORES  "lcores = { management = 0; workers = [1]; };\n"
#define GOOD_PROFILE "profile = { driver = \"net_af_packet\"; queue_devarg = \"qpairs\"; };\n"
#define GOOD_PORT                                                                                  \
	"ports = ( { name = \"client\"; devargs = \"net_af_packet0,iface=veth0\";\n" GOOD_PROFILE  \
	"  vips = [\"198.18.0.10\"]; subnets = [\"198.18.0.0/24\"]; } );\n"

static int load(const char *text)
{
	return conf_load_string(text, SOURCE_ROOT "/configs", &c, err, sizeof(err));
}

/* Write text to a temp file named NAME so messages carry a real file name and lines. */
static int load_file(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "/tmp/sluice-conf-test-%d-%s", getpid(), name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	int rc = conf_load(path, &c, err, sizeof(err));
	unlink(path);
	return rc;
}

Test(conf, minimal_file_loads_with_defaults)
{
	cr_assert_eq(load(GOOD_LCORES GOOD_PORT), 0, "%s", err);
	cr_assert_eq(c.n_workers, 1);
	cr_assert_eq(c.workers[0], 1);
	cr_assert_eq(c.n_ports, 1);
	cr_assert_str_eq(c.ports[0].name, "client");
	cr_assert_str_eq(c.ports[0].profile.driver, "net_af_packet");
	cr_assert_eq(c.ports[0].n_vips, 1);
	cr_assert_eq(c.ports[0].vips[0], inet_addr("198.18.0.10"));
	cr_assert_eq(c.ports[0].subnets[0].len, 24);
	cr_assert_eq(c.limits.max_header_bytes, 8192);
	cr_assert_eq(c.timeouts.header_ms, 10000);
	cr_assert_eq(c.metrics.port, 9180);
	cr_assert_eq(c.metrics.addr, htonl(INADDR_LOOPBACK));
	cr_assert_str_eq(c.routing.ingress_class, "sluice");
}

Test(conf, example_config_is_valid)
{
	int rc = conf_load(SOURCE_ROOT "/configs/sluice.example.conf", &c, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(c.n_ports, 2);
	cr_assert_eq(c.n_workers, 3);
	cr_assert_str_eq(c.ports[0].profile.driver, "net_ice");
	cr_assert(c.ports[0].profile.rss);
	cr_assert_eq(c.ports[0].profile.rss_key_len, 52);
	cr_assert_eq(c.ports[1].n_routes, 1);
	cr_assert_eq(c.ports[1].routes[0].via, inet_addr("198.19.0.254"));
	cr_assert_eq(c.n_eal_args, 2);
}

Test(conf, demo_config_is_valid_and_resolves_manifests_next_to_it)
{
	int rc = conf_load(SOURCE_ROOT "/configs/demo.conf", &c, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_str_eq(c.routing.manifests, SOURCE_ROOT "/configs/../demo/manifests");
	cr_assert_str_eq(c.ports[1].profile.queue_devarg, "qpairs");
}

/* Every profile in drivers-config/ parses inside a port, so a typo in a profile for hardware
 * we cannot run here still fails the build's tests. */
Test(conf, every_driver_profile_is_valid)
{
	static const char *const profiles[] = {"af_packet", "af_xdp", "tap",  "memif",
					       "pcap",	    "ring",   "null", "mlx5",
					       "ice",	    "i40e",   "iavf", "ixgbevf"};
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
		char text[1024];
		snprintf(text, sizeof(text),
			 GOOD_LCORES "ports = ( { name = \"p\"; devargs = \"net_null0\";\n"
				     "@include \"drivers-config/%s.conf\"\n"
				     "vips = [\"198.18.0.10\"]; } );\n",
			 profiles[i]);
		conf_release(&c);
		int rc = load(text);
		cr_assert_eq(rc, 0, "profile %s: %s", profiles[i], err);
		cr_assert_neq(c.ports[0].profile.driver[0], '\0', "profile %s has no driver",
			      profiles[i]);
	}
}

Test(conf, hardware_profiles_ask_for_checksum_offloads_and_rss)
{
	static const char *const hw[] = {"mlx5", "ice", "i40e", "iavf"};
	for (size_t i = 0; i < 4; i++) {
		char text[1024];
		snprintf(text, sizeof(text),
			 GOOD_LCORES "ports = ( { name = \"p\"; devargs = \"0000:01:00.0\";\n"
				     "@include \"drivers-config/%s.conf\"\n"
				     "vips = [\"198.18.0.10\"]; } );\n",
			 hw[i]);
		conf_release(&c);
		cr_assert_eq(load(text), 0, "%s: %s", hw[i], err);
		cr_assert(c.ports[0].profile.rss, "%s", hw[i]);
		cr_assert(c.ports[0].profile.tx_offloads & CONF_OFFLOAD_TCP_CKSUM, "%s", hw[i]);
		cr_assert(c.ports[0].profile.rss_key_len == 40 ||
			  c.ports[0].profile.rss_key_len == 52);
		cr_assert_eq(c.ports[0].profile.steering, CONF_STEER_THASH,
			     "%s: replies steered by Toeplitz port choice", hw[i]);
	}
}

Test(conf, syntax_error_names_file_and_line)
{
	int rc = load_file("syntax.conf", GOOD_LCORES "ports = ( { name = \"x\" \n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "syntax.conf:") != NULL, "%s", err);
	cr_assert(strstr(err, ": syntax: ") != NULL, "%s", err);
}

Test(conf, missing_file_is_reported)
{
	int rc = conf_load("/nonexistent/sluice.conf", &c, err, sizeof(err));
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "/nonexistent/sluice.conf:0: cannot read the file") != NULL, "%s",
		  err);
}

Test(conf, unknown_field_lists_the_known_ones)
{
	int rc = load_file("typo.conf", GOOD_LCORES GOOD_PORT "limits = {\n  max_flow = 10;\n};\n");
	cr_assert_eq(rc, 1, "%s", err);
	cr_assert(strstr(err, "typo.conf:6: limits.max_flow: unknown field; expected one of: "
			      "max_flows, mbufs,") != NULL,
		  "%s", err);
}

Test(conf, wrong_type_names_expected_type)
{
	int rc = load_file("type.conf",
			   GOOD_LCORES GOOD_PORT "timeouts = {\n  header_ms = \"ten\";\n};\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "type.conf:6: timeouts.header_ms: expected an integer from 100 to "
			      "3600000, got a string") != NULL,
		  "%s", err);
}

Test(conf, out_of_range_value_gives_range)
{
	int rc = load(GOOD_LCORES GOOD_PORT "limits = { max_headers = 5000; };\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "limits.max_headers: 5000 is out of range; expected an integer from "
			      "1 to 1024") != NULL,
		  "%s", err);
}

Test(conf, missing_lcores_is_reported)
{
	int rc = load(GOOD_PORT);
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "lcores: missing; expected a group") != NULL, "%s", err);
}

Test(conf, worker_on_management_lcore_is_refused)
{
	int rc = load("lcores = { management = 1; workers = [1]; };\n" GOOD_PORT);
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "lcores.workers.[0]: lcore 1 is the management lcore") != NULL, "%s",
		  err);
}

Test(conf, bad_vip_address_is_reported_with_its_index)
{
	int rc =
		load(GOOD_LCORES "ports = ( { name = \"c\"; devargs = \"net_null0\";\n" GOOD_PROFILE
				 "vips = [\"198.18.0.10\", \"198.18.0.300\"]; } );\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "ports.[0].vips.[1]: \"198.18.0.300\" is not an IPv4 address") !=
			  NULL,
		  "%s", err);
}

Test(conf, no_vip_anywhere_is_refused)
{
	int rc =
		load(GOOD_LCORES "ports = ( { name = \"c\"; devargs = \"net_null0\";\n" GOOD_PROFILE
				 "snat = [\"198.19.0.1\"]; } );\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "ports: no port has a VIP") != NULL, "%s", err);
}

Test(conf, same_address_as_vip_and_snat_is_refused)
{
	int rc =
		load(GOOD_LCORES "ports = ( { name = \"c\"; devargs = \"net_null0\";\n" GOOD_PROFILE
				 "vips = [\"198.18.0.10\"]; snat = [\"198.18.0.10\"]; } );\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "198.18.0.10 is also an SNAT address") != NULL, "%s", err);
}

Test(conf, next_hop_off_every_subnet_is_refused)
{
	int rc = load(GOOD_LCORES
		      "ports = ( { name = \"c\"; devargs = \"net_null0\";\n" GOOD_PROFILE
		      "vips = [\"198.18.0.10\"]; subnets = [\"198.18.0.0/24\"];\n"
		      "routes = ( { dst = \"198.19.0.0/16\"; via = \"198.20.0.1\"; } ); } );\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "ports.[0].routes.[0].via: next hop 198.20.0.1 is on none of this "
			      "port's subnets") != NULL,
		  "%s", err);
}

Test(conf, duplicate_port_names_are_refused)
{
	int rc = load(GOOD_LCORES
		      "ports = ( { name = \"c\"; devargs = \"net_null0\";\n" GOOD_PROFILE
		      "vips = [\"198.18.0.10\"]; },\n"
		      "{ name = \"c\"; devargs = \"net_null1\";\n" GOOD_PROFILE " } );\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "ports.[1]: port name \"c\" is used twice") != NULL, "%s", err);
}

Test(conf, port_without_profile_is_refused)
{
	int rc = load(GOOD_LCORES "ports = ( { name = \"c\"; devargs = \"net_null0\"; vips = "
				  "[\"198.18.0.10\"]; } );\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "ports.[0].profile: missing; expected a group") != NULL, "%s", err);
}

Test(conf, unknown_steering_method_is_refused)
{
	int rc = load(GOOD_LCORES "ports = ( { name = \"c\"; devargs = \"net_null0\";\n"
				  "profile = { driver = \"net_null\"; steering = \"magic\"; };\n"
				  "vips = [\"198.18.0.10\"]; } );\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "ports.[0].profile.steering: unknown value \"magic\"; expected one "
			      "of: software, thash") != NULL,
		  "%s", err);
}

Test(conf, rss_key_of_wrong_length_is_refused)
{
	int rc = load(GOOD_LCORES
		      "ports = ( { name = \"c\"; devargs = \"net_null0\";\n"
		      "profile = { driver = \"net_null\"; rss = { enabled = true; fields "
		      "= [\"ipv4-tcp\"]; key = \"6d5a\"; }; };\n"
		      "vips = [\"198.18.0.10\"]; } );\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "ports.[0].profile.rss.key: expected 40 or 52 bytes as hex digits") !=
			  NULL,
		  "%s", err);
}

Test(conf, too_few_fixed_queues_for_workers_is_refused)
{
	int rc = load("lcores = { workers = [1, 2]; };\n"
		      "ports = ( { name = \"c\"; devargs = \"net_null0\";\n"
		      "profile = { driver = \"net_null\"; rx_queues = 1; };\n"
		      "vips = [\"198.18.0.10\"]; } );\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "ports.[0].profile.rx_queues: 1 queues for 2 workers") != NULL, "%s",
		  err);
}

Test(conf, eal_args_may_not_set_lcores_or_devices)
{
	int rc = load(
		"eal = { args = [\"--vdev=net_null0\", \"--no-huge\"]; };\n" GOOD_LCORES GOOD_PORT);
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "eal.args.[0]: \"--vdev\" is set by Sluice") != NULL, "%s", err);
	cr_assert_eq(c.n_eal_args, 1);
	cr_assert_str_eq(c.eal_args[0], "--no-huge");
}

Test(conf, metrics_listen_must_be_address_and_port)
{
	int rc = load(GOOD_LCORES GOOD_PORT "metrics = { listen = \"localhost\"; };\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "metrics.listen: expected \"ADDRESS:PORT\"") != NULL, "%s", err);
	conf_release(&c);
	cr_assert_eq(load(GOOD_LCORES GOOD_PORT "metrics = { listen = \"0.0.0.0:9100\"; };\n"), 0,
		     "%s", err);
	cr_assert_eq(c.metrics.port, 9100);
	cr_assert_eq(c.metrics.addr, 0);
}

Test(conf, default_backend_must_name_namespace_service_and_port)
{
	int rc = load(GOOD_LCORES GOOD_PORT "routing = { default_backend = \"fallback\"; };\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "routing.default_backend: \"fallback\": expected "
			      "\"NAMESPACE/SERVICE:PORT\"") != NULL,
		  "%s", err);
}

Test(conf, header_limit_larger_than_buffer_is_refused)
{
	int rc = load(GOOD_LCORES GOOD_PORT
		      "limits = { request_buffer = 4096; max_header_bytes = 8192; };\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "limits.max_header_bytes: 8192 exceeds limits.request_buffer") !=
			  NULL,
		  "%s", err);
}

Test(conf, every_problem_is_reported_not_just_the_first)
{
	int rc = load(GOOD_LCORES GOOD_PORT
		      "limits = { max_headers = 0; mbufs = 1; };\ntimeouts = { idle_ms = 1; };\n");
	cr_assert_eq(rc, 3, "%s", err);
	cr_assert(strstr(err, "limits.max_headers") && strstr(err, "limits.mbufs") &&
			  strstr(err, "timeouts.idle_ms"),
		  "%s", err);
}

Test(conf, prefix_parsing)
{
	struct conf_prefix p;
	cr_assert_eq(conf_parse_prefix("198.18.0.77/24", &p), 0);
	cr_assert_eq(p.addr, inet_addr("198.18.0.0"));
	cr_assert_eq(p.len, 24);
	cr_assert(conf_prefix_contains(&p, inet_addr("198.18.0.200")));
	cr_assert_not(conf_prefix_contains(&p, inet_addr("198.18.1.1")));
	cr_assert_eq(conf_parse_prefix("198.18.0.1", &p), 0);
	cr_assert_eq(p.len, 32);
	cr_assert_eq(conf_parse_prefix("0.0.0.0/0", &p), 0);
	cr_assert(conf_prefix_contains(&p, inet_addr("198.19.3.4")));
	cr_assert_eq(conf_parse_prefix("198.18.0.0/33", &p), -1);
	cr_assert_eq(conf_parse_prefix("198.18.0.0/", &p), -1);
	cr_assert_eq(conf_parse_prefix("198.18.0/24", &p), -1);
}

/* The reference must name every field the validator accepts. */
Test(conf, reference_documents_every_field)
{
	FILE *f = fopen(SOURCE_ROOT "/docs/configuration.md", "r");
	cr_assert_not_null(f, "docs/configuration.md is missing");
	static char doc[65536];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	for (const char *const *e = conf_schema(); *e; e++) {
		char needle[128];
		snprintf(needle, sizeof(needle), "`%s`", *e);
		cr_expect(strstr(doc, needle) != NULL, "docs/configuration.md does not document %s",
			  *e);
	}
}

Test(conf, static_routes_are_parsed)
{
	int rc = load(GOOD_LCORES GOOD_PORT
		      "static_routes = ( { host = \"a.example\"; path = \"/x\"; path_type = "
		      "\"Exact\"; endpoints = [\"198.19.0.11:8080\", \"198.19.0.12:9090\"]; },\n"
		      "{ endpoints = [\"198.19.0.13:80\"]; } );\n");
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(c.n_static_routes, 2);
	cr_assert_str_eq(c.static_routes[0].host, "a.example");
	cr_assert_str_eq(c.static_routes[0].path_type, "Exact");
	cr_assert_eq(c.static_routes[0].n_eps, 2);
	cr_assert_eq(c.static_routes[0].ep_port[1], 9090);
	cr_assert_str_eq(c.static_routes[1].path, "/");
	cr_assert_str_eq(c.static_routes[1].path_type, "Prefix");
}

Test(conf, static_route_errors_name_the_field)
{
	int rc = load(GOOD_LCORES GOOD_PORT
		      "static_routes = ( { path = \"x\"; path_type = \"Regex\"; endpoints = "
		      "[\"198.19.0.11\"]; }, { host = \"b\"; } );\n");
	cr_assert_eq(rc, 4, "%s", err);
	cr_assert(strstr(err, "static_routes.[0].path: \"x\" must start with '/'"), "%s", err);
	cr_assert(strstr(err, "static_routes.[0].path_type: \"Regex\": expected Exact"), "%s", err);
	cr_assert(strstr(err, "static_routes.[0].endpoints.[0]: \"198.19.0.11\": expected "
			      "\"ADDRESS:PORT\""),
		  "%s", err);
	cr_assert(strstr(err, "static_routes.[1].endpoints: missing"), "%s", err);
}

Test(conf, kubernetes_from_a_kubeconfig_relative_to_the_file)
{
	int rc = load_file("kube.conf", GOOD_LCORES GOOD_PORT
			   "kubernetes = { kubeconfig = \"kube/config\"; status_addresses = "
			   "[\"203.0.113.7\", \"edge.example.com\"]; debounce_ms = 5; };\n");
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert(c.kubernetes.enabled);
	cr_assert_str_eq(c.kubernetes.kubeconfig, "/tmp/kube/config");
	cr_assert_eq(c.kubernetes.n_status_addresses, 2);
	cr_assert_str_eq(c.kubernetes.status_addresses[1], "edge.example.com");
	cr_assert_eq(c.kubernetes.debounce_ms, 5);
	cr_assert(c.kubernetes.write_status);
	cr_assert_eq(c.kubernetes.backoff_max_ms, 30000);
}

Test(conf, kubernetes_needs_exactly_one_source)
{
	cr_assert_eq(load(GOOD_LCORES GOOD_PORT "kubernetes = { };\n"), 1);
	cr_assert(strstr(err, "kubernetes: set exactly one of in_cluster = true") != NULL, "%s",
		  err);
	cr_assert_eq(load(GOOD_LCORES GOOD_PORT
			  "kubernetes = { in_cluster = true; kubeconfig = \"/k\"; };\n"),
		     1);
	cr_assert_eq(load(GOOD_LCORES GOOD_PORT "kubernetes = { in_cluster = true; };\n"), 0, "%s",
		     err);
	cr_assert(!c.kubernetes.enabled || c.kubernetes.in_cluster);
}

Test(conf, kubernetes_and_manifests_are_not_combined)
{
	int rc = load(GOOD_LCORES GOOD_PORT "routing = { manifests = \"/m\"; };\n"
					    "kubernetes = { in_cluster = true; };\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "rules come from one source") != NULL, "%s", err);
}

Test(conf, kubernetes_status_address_must_be_an_address_or_name)
{
	int rc = load(GOOD_LCORES GOOD_PORT
		      "kubernetes = { in_cluster = true; status_addresses = [\"a b\"]; };\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "kubernetes.status_addresses.[0]: \"a b\": expected an IP address "
			      "or a DNS name") != NULL,
		  "%s", err);
}

Test(conf, flow_steering_is_refused_with_what_to_use)
{
	int rc = load(GOOD_LCORES
		      "ports = ( { name = \"client\"; devargs = \"net_af_packet0,iface=veth0\";\n"
		      "profile = { driver = \"net_mlx5\"; steering = \"flow\"; };\n"
		      "vips = [\"198.18.0.10\"]; subnets = [\"198.18.0.0/24\"]; } );\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err,
			 "steering: \"flow\" (rte_flow rules per SNAT port range) is not built; "
			 "use \"thash\"") != NULL,
		  "%s", err);
}

/* ---- the schema table ------------------------------------------------------------------- */

/* Defaults parse, ranges fit their destinations, every field hangs off a group or list. */
Test(conf, schema_table_is_consistent)
{
	char why[4096];
	cr_assert_eq(conf_schema_selfcheck(why, sizeof(why)), 0, "%s", why);
}

Test(conf, record_defaults_come_from_the_schema)
{
	cr_assert_eq(load(GOOD_LCORES GOOD_PORT
			  "static_routes = ( { endpoints = [\"198.19.0.13:80\"]; } );\n"),
		     0, "%s", err);
	const struct conf_port *pt = &c.ports[0];
	cr_assert_eq(pt->profile.rx_desc, 1024);
	cr_assert_eq(pt->profile.tx_desc, 1024);
	cr_assert_eq(pt->profile.mtu, 1500);
	cr_assert_eq(pt->profile.steering, CONF_STEER_SOFTWARE);
	cr_assert_eq(pt->n_listen, 1);
	cr_assert_eq(pt->listen[0], 80);
	cr_assert_eq(pt->n_tls, 1);
	cr_assert_eq(pt->tls[0], 443);
	cr_assert_str_eq(c.static_routes[0].path, "/");
	cr_assert_str_eq(c.log_level, "info");
	cr_assert_str_eq(c.routing.load_balance, "round-robin");
	cr_assert(c.limits.reject_bare_lf);
	cr_assert_not(c.kubernetes.enabled);
}

Test(conf, tls_ports_mark_listen_ports_and_must_be_listened_on)
{
	cr_assert_eq(load(GOOD_LCORES
			  "ports = ( { name = \"c\"; devargs = \"net_null0\";\n" GOOD_PROFILE
			  "vips = [\"198.18.0.10\"]; listen = [80, 443, 8443]; tls = [443, 8443]; "
			  "} );\n"),
		     0, "%s", err);
	cr_assert_eq(c.ports[0].n_tls, 2);
	cr_assert_eq(c.ports[0].tls[1], 8443);
	cr_assert_eq(load(GOOD_LCORES
			  "ports = ( { name = \"c\"; devargs = \"net_null0\";\n" GOOD_PROFILE
			  "vips = [\"198.18.0.10\"]; listen = [80, 443]; tls = []; } );\n"),
		     0, "%s", err);
	cr_assert_eq(c.ports[0].n_tls, 0, "an empty list: plain HTTP on 443");
	cr_assert_eq(load(GOOD_LCORES
			  "ports = ( { name = \"c\"; devargs = \"net_null0\";\n" GOOD_PROFILE
			  "vips = [\"198.18.0.10\"]; listen = [80]; tls = [8443]; } );\n"),
		     1);
	cr_assert(strstr(err, "ports.[0].tls: TLS port 8443 is not in this port's listen list; "
			      "add it there") != NULL,
		  "%s", err);
}

Test(conf, listen_ports_replace_the_default)
{
	cr_assert_eq(load(GOOD_LCORES
			  "ports = ( { name = \"c\"; devargs = \"net_null0\";\n" GOOD_PROFILE
			  "vips = [\"198.18.0.10\"]; listen = [8080, 8443]; } );\n"),
		     0, "%s", err);
	cr_assert_eq(c.ports[0].n_listen, 2);
	cr_assert_eq(c.ports[0].listen[0], 8080);
	cr_assert_eq(c.ports[0].listen[1], 8443);
	cr_assert_eq(load(GOOD_LCORES
			  "ports = ( { name = \"c\"; devargs = \"net_null0\";\n" GOOD_PROFILE
			  "vips = [\"198.18.0.10\"]; listen = [0]; } );\n"),
		     1);
	cr_assert(strstr(err, "ports.[0].listen.[0]: 0 is out of range; expected an integer from 1 "
			      "to 65535") != NULL,
		  "%s", err);
}

/* ---- the reference, the other way round ------------------------------------------------- */

#define DOC_MAX_FIELDS 160

struct doc_fields {
	char path[DOC_MAX_FIELDS][96];
	size_t n;
};

static void doc_add(struct doc_fields *d, const char *path, size_t len)
{
	for (size_t i = 0; i < d->n; i++)
		if (strlen(d->path[i]) == len && strncmp(d->path[i], path, len) == 0)
			return;
	cr_assert_lt(d->n, DOC_MAX_FIELDS);
	cr_assert_lt(len, sizeof(d->path[0]));
	snprintf(d->path[d->n++], sizeof(d->path[0]), "%.*s", (int)len, path);
}

/* Every table row's first column, `in backticks`, and the groups above each. */
static void doc_collect(struct doc_fields *d)
{
	FILE *f = fopen(SOURCE_ROOT "/docs/configuration.md", "r");
	cr_assert_not_null(f, "docs/configuration.md is missing");
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "| `", 3) != 0)
			continue;
		const char *p = line + 3;
		const char *end = strchr(p, '`');
		cr_assert_not_null(end, "unterminated field name: %s", line);
		for (const char *dot = p; (dot = memchr(dot, '.', (size_t)(end - dot))); dot++)
			doc_add(d, p, (size_t)(dot - p));
		doc_add(d, p, (size_t)(end - p));
	}
	fclose(f);
	cr_assert_gt(d->n, 50, "found only %zu fields in the reference's tables", d->n);
}

static void doc_append(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void doc_append(char *out, size_t len, const char *fmt, ...)
{
	size_t used = strlen(out);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + used, len - used, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < len - used, "generated configuration too long");
}

/* Write the fields under prefix, each with a value its schema row says is valid. */
static void doc_emit(const struct doc_fields *d, const char *prefix, char *out, size_t len)
{
	size_t pl = strlen(prefix);
	for (size_t i = 0; i < d->n; i++) {
		const char *p = d->path[i];
		if (pl && (strncmp(p, prefix, pl) != 0 || p[pl] != '.'))
			continue;
		const char *name = pl ? p + pl + 1 : p;
		if (strchr(name, '.'))
			continue;
		char value[256];
		switch (conf_schema_sample(p, value, sizeof(value))) {
		case CONF_SHAPE_UNKNOWN:
			cr_expect_fail("docs/configuration.md documents %s, which the validator "
				       "does not accept",
				       p);
			break;
		case CONF_SHAPE_GROUP:
			doc_append(out, len, "%s = {\n", name);
			doc_emit(d, p, out, len);
			doc_append(out, len, "};\n");
			break;
		case CONF_SHAPE_LIST:
			doc_append(out, len, "%s = ( {\n", name);
			doc_emit(d, p, out, len);
			doc_append(out, len, "} );\n");
			break;
		case CONF_SHAPE_VALUE:
			doc_append(out, len, "%s = %s;\n", name, value);
			break;
		}
	}
}

/* Every field the reference documents is accepted: one file using all of them loads clean. */
Test(conf, reference_fields_are_all_accepted)
{
	static struct doc_fields d;
	static char text[16384];
	doc_collect(&d);
	text[0] = '\0';
	doc_emit(&d, "", text, sizeof(text));
	int rc = load(text);
	cr_assert_eq(rc, 0, "%s\nin the file written from the reference:\n%s", err, text);
	cr_assert_eq(c.n_ports, 1, "%s", text);
	cr_assert_eq(c.ports[0].n_listen, 1, "ports.listen is documented and must load");
	cr_assert_eq(c.n_static_routes, 1, "%s", text);
}

/* ---- refusals ---------------------------------------------------------------------------- */

Test(conf, static_route_without_endpoints_is_refused)
{
	int rc = load_file("eps.conf", GOOD_LCORES GOOD_PORT
			   "static_routes = (\n  { host = \"a\"; endpoints = []; } );\n");
	cr_assert_eq(rc, 1, "%s", err);
	cr_assert(strstr(err, "eps.conf:6: static_routes.[0].endpoints: empty; expected 1 to 16 "
			      "entries") != NULL,
		  "%s", err);
}

/* Joined short forms and the long forms with '=' (or abbreviated, as getopt_long takes them)
 * set lcores and devices just like the separate forms. */
Test(conf, eal_args_joined_forms_are_refused_too)
{
	int rc = load("eal = { args = [\"-l1\", \"-c0x3\", \"-a0000:3b:00.0\", \"-b0000:3b:00.1\", "
		      "\"--lcores=1@0\", \"--vdev=net_null0\", \"--allow=0000:3b:00.0\", "
		      "\"--block=0000:3b:00.1\", \"--main-lcore=0\", \"-vl1\", \"--lco=1\", "
		      "\"--no-huge\", \"-m512\", \"--log-level=lib.eal:debug\"]; };\n" GOOD_LCORES
			      GOOD_PORT);
	cr_assert_eq(rc, 11, "%s", err);
	static const char *const want[] = {
		"eal.args.[0]: \"-l\" is set by Sluice",
		"eal.args.[1]: \"-c\" is set by Sluice",
		"eal.args.[2]: \"-a\" is set by Sluice",
		"eal.args.[3]: \"-b\" is set by Sluice",
		"eal.args.[4]: \"--lcores\" is set by Sluice",
		"eal.args.[5]: \"--vdev\" is set by Sluice",
		"eal.args.[6]: \"--allow\" is set by Sluice",
		"eal.args.[7]: \"--block\" is set by Sluice",
		"eal.args.[8]: \"--main-lcore\" is set by Sluice",
		"eal.args.[9]: \"-l\" is set by Sluice",
		"eal.args.[10]: \"--lcores\" is set by Sluice",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect(strstr(err, want[i]) != NULL, "no \"%s\" in:\n%s", want[i], err);
	cr_assert_eq(c.n_eal_args, 3);
	cr_assert_str_eq(c.eal_args[0], "--no-huge");
	cr_assert_str_eq(c.eal_args[1], "-m512");
	cr_assert_str_eq(c.eal_args[2], "--log-level=lib.eal:debug");
}

Test(conf, offloads_named_for_the_wrong_direction_are_refused)
{
	int rc = load_file("off.conf",
			   GOOD_LCORES "ports = ( { name = \"c\"; devargs = \"net_null0\";\n"
				       "profile = { driver = \"net_null\";\n"
				       "offloads = { rx = [\"ipv4-cksum\", \"tcp-tso\"];\n"
				       "tx = [\"tcp-cksum\", \"scatter\"]; }; };\n"
				       "vips = [\"198.18.0.10\"]; } );\n");
	cr_assert_eq(rc, 2, "%s", err);
	cr_assert(strstr(err, "off.conf:4: ports.[0].profile.offloads.rx.[1]: \"tcp-tso\" is a "
			      "TX-only offload; expected one of the RX offloads: ipv4-cksum, "
			      "tcp-cksum, scatter") != NULL,
		  "%s", err);
	cr_assert(strstr(err, "off.conf:5: ports.[0].profile.offloads.tx.[1]: \"scatter\" is an "
			      "RX-only offload; expected one of the TX offloads: ipv4-cksum, "
			      "tcp-cksum, tcp-tso") != NULL,
		  "%s", err);
	conf_release(&c);
	cr_assert_eq(load(GOOD_LCORES "ports = ( { name = \"c\"; devargs = \"net_null0\";\n"
				      "profile = { driver = \"net_null\"; offloads = { rx = "
				      "[\"scatter\"]; tx = [\"tcp-tso\"]; }; };\n"
				      "vips = [\"198.18.0.10\"]; } );\n"),
		     0, "%s", err);
	cr_assert_eq(c.ports[0].profile.rx_offloads, CONF_OFFLOAD_SCATTER);
	cr_assert_eq(c.ports[0].profile.tx_offloads, CONF_OFFLOAD_TCP_TSO);
}

Test(conf, vdev_with_an_unknown_driver_is_refused)
{
	int rc = load_file("vdev.conf",
			   GOOD_LCORES "ports = ( { name = \"c\";\n"
				       "devargs = \"net_af_pakcet0,iface=x\";\n" GOOD_PROFILE
				       "vips = [\"198.18.0.10\"]; } );\n");
	cr_assert_eq(rc, 1, "%s", err);
	cr_assert(strstr(err, "vdev.conf:3: ports.[0].devargs: \"net_af_pakcet0\" is not a DPDK "
			      "virtual device; expected a PCI address or a vdev of one of: "
			      "net_af_packet, net_af_xdp,") != NULL,
		  "%s", err);
	/* Known drivers, their eth_ aliases, and PCI addresses pass. */
	static const char *const good[] = {"net_af_xdp0,iface=eth1", "net_tap0", "eth_af_packet1",
					   "net_memif0,role=server", "0000:3b:00.0"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text),
			 GOOD_LCORES "ports = ( { name = \"c\"; devargs = \"%s\";\n" GOOD_PROFILE
				     "vips = [\"198.18.0.10\"]; } );\n",
			 good[i]);
		conf_release(&c);
		cr_expect_eq(load(text), 0, "%s: %s", good[i], err);
	}
}

/* routing.manifests is relative to the file's directory, and must be a directory there. */
Test(conf, missing_manifest_directory_is_refused)
{
	char dir[128], missing[64], text[512];
	snprintf(dir, sizeof(dir), "/tmp/sluice-conf-test-%d-manifests", getpid());
	snprintf(missing, sizeof(missing), "sluice-conf-test-%d-missing", getpid());
	cr_assert_eq(mkdir(dir, 0700), 0);

	snprintf(text, sizeof(text),
		 GOOD_LCORES GOOD_PORT "routing = {\n  manifests = \"%s\";\n};\n",
		 dir + strlen("/tmp/"));
	int rc = load_file("m-ok.conf", text);
	cr_expect_eq(rc, 0, "%s", err);
	cr_expect_str_eq(c.routing.manifests, dir);

	snprintf(text, sizeof(text),
		 GOOD_LCORES GOOD_PORT "routing = {\n  manifests = \"%s\";\n};\n", missing);
	rc = load_file("m-missing.conf", text);
	rmdir(dir);
	cr_assert_eq(rc, 0, "a directory still to come loads (the gateway waits for it): %s", err);
	cr_assert_eq(conf_missing_paths(&c, err, sizeof(err)), 1, "--check-config names it");
	char want[256];
	snprintf(want, sizeof(want), "routing.manifests: directory /tmp/%s does not exist",
		 missing);
	cr_assert(strstr(err, want) != NULL, "%s", err);

	rc = load(GOOD_LCORES GOOD_PORT "routing = { manifests = \"sluice.example.conf\"; };\n");
	cr_assert_eq(rc, 1, "%s", err);
	cr_assert(strstr(err, "routing.manifests: " SOURCE_ROOT
			      "/configs/sluice.example.conf is not a directory") != NULL,
		  "%s", err);
}

Test(conf, a_missing_include_names_the_file_it_looked_for)
{
	int rc = load_file("inc.conf", GOOD_LCORES
			   "ports = ( { name = \"client\"; devargs = \"0000:3b:00.0\";\n"
			   "  @include \"drivers-config/nope.conf\"\n"
			   "  vips = [\"198.18.0.10\"]; } );\n");
	cr_assert_eq(rc, 1);
	cr_assert(strstr(err, "@include \"drivers-config/nope.conf\": cannot open /tmp/"
			      "drivers-config/nope.conf") != NULL,
		  "%s", err);
}
