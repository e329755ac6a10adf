/*
 * cli.h -- the commands a person types: put, get, stat, admin.
 *
 * Each takes the service URLs from flags or the environment (COFFER_APP,
 * COFFER_OBJSRV, COFFER_DB) with defaults that match `coffer server`, prints
 * one clear line on failure, and shows a progress bar for transfers over
 * 8 MiB when stderr is a terminal. Each returns the process exit status:
 * 0 success, 1 failure, 2 bad usage.
 */
#ifndef COFFER_CLI_H
#define COFFER_CLI_H

int cf_cli_put(int argc, char **argv);
int cf_cli_get(int argc, char **argv);
int cf_cli_stat(int argc, char **argv);
int cf_cli_admin(int argc, char **argv);

#endif
