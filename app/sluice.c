/*
 * sluice: one executable for the gateway daemon and its operator tools.
 *
 * The first argument picks a subcommand from the table below; anything else (including no
 * argument, or a leading option) runs the daemon. Keeping one binary means the route checker
 * an operator runs answers with exactly the code the data path uses.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

struct sluice_command {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

static const struct sluice_command commands[] = {
	{"route", sluice_route_main, "answer where requests would be routed (no NIC needed)"},
	{"run", sluice_daemon_main, "run the gateway (the default)"},
};

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
			 strcmp(argv[1], "-h") == 0)) {
		printf("usage: sluice [run] [-c FILE] [--check-config FILE] [-- EAL args]\n"
		       "       sluice <command> [args]\n\ncommands:\n");
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			printf("  %-8s %s\n", commands[i].name, commands[i].summary);
		return 0;
	}
	if (argc > 1) {
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (strcmp(argv[1], commands[i].name) == 0)
				return commands[i].main(argc - 1, argv + 1);
	}
	/* No subcommand: the daemon sees the whole command line. */
	return sluice_daemon_main(argc, argv);
}
