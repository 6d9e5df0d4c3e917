/*
 * sluice: one executable for the gateway daemon and its operator tools.
 *
 * The first argument picks a subcommand from the table below; no argument, or a leading
 * option, runs the daemon. Any other first word is refused with the usage and exit status 2
 * before anything else happens: a typo ("sluice routes") must not start a gateway from the
 * default configuration and take hugepages. Keeping one binary means the route checker an
 * operator runs answers with exactly the code the data path uses.
 */
#include <stdio.h>
#include <string.h>

#include <rte_version.h>

#include "commands.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "unknown"
#endif

static int version_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("sluice %s (%s)\n", SLUICE_VERSION, rte_version());
	return 0;
}

struct sluice_command {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

static const struct sluice_command commands[] = {
	{"route", sluice_route_main, "answer where requests would be routed (no NIC needed)"},
	{"run", sluice_daemon_main, "run the gateway (the default)"},
	{"version", version_main, "print the version"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: sluice [run] [-c FILE] [-- EAL args]\n"
		   "       sluice --check-config FILE\n"
		   "       sluice <command> [args]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nsluice run --help and sluice route --help describe their options.\n");
}

/* The command an unknown word was probably meant to be: same first letter and a length
 * within two (routes, rute, versoin). */
static const char *guess(const char *word)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const char *c = commands[i].name;
		long d = (long)strlen(c) - (long)strlen(word);
		if (c[0] == word[0] && d >= -2 && d <= 2)
			return c;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
			 strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--version") == 0)
		return version_main(argc - 1, argv + 1);
	if (argc > 1 && argv[1][0] != '-') {
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (strcmp(argv[1], commands[i].name) == 0)
				return commands[i].main(argc - 1, argv + 1);
		const char *g = guess(argv[1]);
		fprintf(stderr, "sluice: unknown command '%s'%s%s%s\n", argv[1],
			g ? "; did you mean '" : "", g ? g : "", g ? "'?" : "");
		usage(stderr);
		return 2;
	}
	/* No subcommand: the daemon sees the whole command line. */
	return sluice_daemon_main(argc, argv);
}
