/*
 * cli.h -- the commands a person types: put, get and stat of objects by
 * UUID; login and the path commands against the gateway (ls, put FILE
 * /path, get /path, rm, mv, cp, mkdir, trash, restore, versions); and
 * admin (filers and shards in the object database, purge, the monitor's
 * filers, log and maintenance, the maintenance jobs, and clients, users,
 * groups and permissions in the file system database).
 *
 * Each takes the service URLs from flags or the environment (COFFER_APP,
 * COFFER_OBJSRV, COFFER_DB) with defaults that match `coffer server`, prints
 * one clear line on failure, and shows a progress bar for transfers over
 * 8 MiB when stderr is a terminal. Each takes the arguments after its name
 * (argv borrowed, argv[0] the first of them), writes its results to stdout
 * and its messages to stderr, and returns the process exit status: 0
 * success, 1 failure, 2 bad usage.
 *
 * The path commands find the gateway and token that `coffer login` keeps in
 * --token-file / COFFER_TOKEN_FILE (default ~/.config/coffer/token, mode
 * 0600), or take the token from --token / COFFER_TOKEN; a missing, expired or
 * refused token fails with "run coffer login". `coffer put FILE /path` and
 * `coffer get /path` are the path forms of put and get; `coffer admin
 * client|user|group|perm` works on the file system database (--fs-db URI,
 * COFFER_FS_DB, default sqlite:./data/fs-catalog.db).
 *
 * Threads: each command runs to its end on the calling thread; run one at a
 * time, as they set process-wide state (libcurl's global init, the log
 * level).
 */
#ifndef COFFER_CLI_H
#define COFFER_CLI_H

int cf_cli_put(int argc, char **argv);
int cf_cli_get(int argc, char **argv);
int cf_cli_stat(int argc, char **argv);
int cf_cli_admin(int argc, char **argv);
int cf_cli_login(int argc, char **argv);
int cf_cli_ls(int argc, char **argv);
int cf_cli_rm(int argc, char **argv);
int cf_cli_mv(int argc, char **argv);
int cf_cli_cp(int argc, char **argv);
int cf_cli_mkdir(int argc, char **argv);
int cf_cli_trash(int argc, char **argv);
int cf_cli_restore(int argc, char **argv);
int cf_cli_versions(int argc, char **argv);
int cf_cli_sync(int argc, char **argv);

#endif
