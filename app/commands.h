/*
 * Subcommands of the sluice executable. `sluice` alone (or with daemon flags) runs the gateway;
 * `sluice <command> ...` runs an operator tool that needs no NIC and no EAL.
 * Each entry point takes the arguments after the command name (argv[0] is the command) and
 * returns the process exit status.
 */
#ifndef SLUICE_APP_COMMANDS_H
#define SLUICE_APP_COMMANDS_H

int sluice_daemon_main(int argc, char **argv);
int sluice_route_main(int argc, char **argv);

#endif
