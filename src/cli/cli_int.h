/*
 * cli_int.h -- helpers shared by the files of the CLI (common.c holds them).
 *
 * Threads: none; the CLI runs one command on one thread.
 */
#ifndef COFFER_CLI_INT_H
#define COFFER_CLI_INT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/buf.h"

/* Transfers smaller than this get no progress bar. */
#define CF__CLI_PROGRESS_MIN (8u << 20)

/* State of one progress bar; kept by curl until the transfer ends. */
struct cf__cli_progress {
    bool on;
    uint64_t t0;
    const char *what; /* borrowed; valid until the transfer ends */
};

/* Show a bar on stderr for h's transfer when size >= CF__CLI_PROGRESS_MIN
 * and stderr is a terminal. p and what are kept until the transfer ends. */
void cf__cli_progress_setup(CURL *h, struct cf__cli_progress *p, const char *what, uint64_t size);

/* Draw "\rWHAT [####....] PPP% TAIL" on stderr for frac (0..1) done, and
 * a newline when end (shared by transfers and jobs). */
void cf__cli_bar(const char *what, double frac, const char *tail, bool end);

/* Print "coffer CMD: HTTP STATUS: MESSAGE" from a JSON error reply (borrowed). */
void cf__cli_print_error(const char *cmd, long status, const struct cf_buf *body);

/* A CURLOPT_WRITEFUNCTION appending to the struct cf_buf ud (its cap ends
 * the transfer). */
size_t cf__cli_to_buf(char *p, size_t size, size_t nitems, void *ud);

/* Where a download goes: FILE written beside its target and renamed over
 * it only once complete and verified, so the target never holds a partial
 * or wrong object; or stdout. */
struct cf__cli_out {
    FILE *f;            /* the stream to write (stdout, or the temporary) */
    const char *target; /* borrowed; NULL for stdout */
    char tmp[4096];     /* the temporary's path; "" when there is none */
};

/* Start writing to target (NULL: stdout). Returns 0, or 1 with the reason
 * printed as "coffer CMD: ..." (cmd borrowed). */
int cf__cli_out_open(struct cf__cli_out *o, const char *cmd, const char *target);

/* The bytes are complete and verified: flush, fsync, rename the temporary
 * over the target and fsync its directory (stdout: flush). Returns 0, or 1
 * with the reason printed; the temporary is removed either way. */
int cf__cli_out_commit(struct cf__cli_out *o, const char *cmd);

/* Discard: close and remove the temporary, if any. Safe after commit and on
 * a zeroed o. */
void cf__cli_out_abort(struct cf__cli_out *o);

/* The gateway forms of put and get (fs.c): `put FILE /path`, `get /path`. */
int cf__cli_fs_put(int argc, char **argv);
int cf__cli_fs_get(int argc, char **argv);
/* `admin client|user|group|perm ...` on the file system database (fs.c). */
int cf__cli_fs_admin(int argc, char **argv);
/* `admin filers`, `admin log`, `admin filer maintenance ...` against the
 * monitor (monitor_cmds.c); argv starts at "filers", "log" or "filer". */
int cf__cli_monitor_admin(int argc, char **argv);
/* `admin rebuild|rebalance|audit|dedupe|jobs|job ...` against the app's jobs
 * (jobs_cmds.c); argv starts at the sub-command. Returns the exit status. */
int cf__cli_jobs(int argc, char **argv);

#endif
