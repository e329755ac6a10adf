/*
 * cli_int.h -- helpers shared by the files of the CLI (common.c holds them).
 *
 * Threads: none; the CLI runs one command on one thread.
 */
#ifndef COFFER_CLI_INT_H
#define COFFER_CLI_INT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/buf.h"
#include "coffer/conf.h"

/* ---- arguments ---- */

/* Most arguments one command takes, options and their values included. */
#define CF__CLI_ARGS_MAX 64

/* How a command reads its arguments. Options are those of a conf.h table
 * (--name=value, --name value, a bare --name for a BOOL, --config FILE,
 * --help, --print-config, and COFFER_<NAME> in the environment), with
 * "-o FILE" short for "--o FILE"; the other words are the positional
 * arguments, in order. */
struct cf__cli_args {
    const char *cmd;                /* messages read "coffer CMD: ..." */
    const char *usage;              /* printed on bad usage, and first by --help */
    const struct cf_conf_opt *opts; /* the options */
    size_t nopts;
    int min, max; /* how many positional arguments the command takes */
    /* A word past max: if strict, "coffer CMD: unexpected argument" and the
     * usage; else it is left to cf_conf_load, which refuses it as an option
     * that does not start with --. */
    bool strict;
    /* NULL: any word is positional; else only these (a NULL-terminated
     * list) are, and any other word is left to cf_conf_load. */
    const char *const *words;
};

/* Read argv[0..argc) (borrowed) as a (borrowed) says: the options into conf
 * (a zeroed struct that a->opts describes; release it with cf_conf_fini
 * whatever this returns) and the positional arguments into pos[0..*npos)
 * (borrowed from argv; pos holds a->max entries and may be NULL if a->max is
 * 0; npos may be NULL). Returns -1 when the command goes on; otherwise the
 * exit status: 0 once --help or --print-config has printed to stdout, or 2
 * with the reason on stderr (too many arguments, an option cf_conf_load
 * refuses, a word past max, fewer than a->min positional arguments: the
 * usage). */
CF_MUST_CHECK int cf__cli_load(const struct cf__cli_args *a, void *conf, int argc, char **argv,
                               char **pos, int *npos);

/* The positional arguments cf__cli_load would find in argv (borrowed) with
 * a's options and words, up to max of them, into pos (borrowed from argv);
 * nothing is loaded or printed, and a->min, a->max and a->strict are not
 * used. It lets a command choose between its forms before reading its
 * options. Returns how many went into pos. */
int cf__cli_positionals(const struct cf__cli_args *a, int argc, char **argv, char **pos, int max);

/* ---- progress ---- */

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

/* ---- replies ---- */

/* Print "coffer CMD: HTTP STATUS: MESSAGE" on stderr for an error reply:
 * MESSAGE is the "message" of its JSON body, or "(no detail)". The body
 * (borrowed) is raw bytes for cf__cli_print_error, parsed JSON (may be NULL)
 * for cf__cli_print_reply. */
void cf__cli_print_error(const char *cmd, long status, const struct cf_buf *body);
void cf__cli_print_reply(const char *cmd, long status, const json_t *j);

/* A CURLOPT_WRITEFUNCTION appending to the struct cf_buf ud (its cap ends
 * the transfer). */
size_t cf__cli_to_buf(char *p, size_t size, size_t nitems, void *ud);

/* ---- URLs and JSON requests ---- */

/* Longest URL of a JSON request: the service's URL and the path together. */
#define CF__CLI_URL_MAX 2048

/* Append s (borrowed) to b percent-encoded: every byte but A-Z a-z 0-9
 * - . _ ~ (and '/' when keep_slash) as "%XX" in upper case (RFC 3986 2.1).
 * Returns 0, or CF_ETOOLARGE when b's limit is reached (b then holds part
 * of the encoding). */
CF_MUST_CHECK int cf__cli_escape(struct cf_buf *b, const char *s, bool keep_slash);

/* One JSON request to a service (every pointer borrowed). */
struct cf__cli_req {
    const char *cmd;       /* messages read "coffer CMD: ..." */
    const char *method;    /* "GET", "POST", "DELETE" */
    const char *base;      /* the service's URL as given: "http://HOST:PORT" */
    const char *base_name; /* what the usage calls it: "--app URL" */
    const char *path;      /* appended to base: "/v1/...", query encoded */
    const json_t *body;    /* sent as JSON; NULL for none */
    long timeout_ms;
    const char *hint; /* ends the line about a failed transfer; NULL for none */
    bool url_prefix;  /* begins that line with the URL as well */
};

/* Send r and wait for the reply. Returns 0 when a reply came, whatever its
 * status, with *status and *reply (caller owns; json_decref; NULL when the
 * body was empty or not JSON). Otherwise returns 1 with *reply NULL and one
 * line on stderr: "coffer CMD: BASE_NAME too long" when base and path make
 * CF__CLI_URL_MAX bytes or more; else "coffer CMD: [URL: ]REASON[HINT]",
 * where REASON (httpc.h) names the URL and why no reply came. */
CF_MUST_CHECK int cf__cli_request(const struct cf__cli_req *r, long *status, json_t **reply);

/* ---- downloads ---- */

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
