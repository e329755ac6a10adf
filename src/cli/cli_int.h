/*
 * cli_int.h -- what the files of the CLI share; private to src/cli/.
 *
 * The commands are grouped by what the user does: objects.c (put, get and
 * stat by UUID), paths.c (login and the path commands), accounts.c (admin
 * client|user|group|perm), admin.c (the admin dispatch: filer, shard,
 * purge), monitor.c (admin filers|log|filer maintenance) and jobs.c
 * (the maintenance jobs). session.c holds the login session with the
 * gateway, and common.c what several groups use.
 *
 * Every command writes its results to stdout and each failure as one line
 * "coffer CMD: ..." on stderr; it returns the exit status: 0 success, 1
 * failure, 2 bad usage.
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
#include <stdio.h>

#include "coffer/buf.h"
#include "coffer/conf.h"
#include "coffer/fsdb.h"
#include "coffer/sha512.h"
#include "coffer/upstream.h"

/* ---- arguments (common.c) ---- */

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
    /* The command signs its requests as the operator (cf__cli_operator):
     * its --help lists --key-file, which every command accepts. */
    bool key_file;
    /* The command's requests go to a URL or a comma list of them and are
     * tried again (cf__cli_attempts): its --help lists --attempts. The
     * commands with key_file do too. */
    bool attempts;
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

/* ---- retries (common.c) ---- */

/* Every URL a command is given (the gateway's, an app's, a monitor's) may
 * be a comma list of instances. A request that fails in a way another
 * instance (or the same one, back through a floating address) may not is
 * sent again, on the next URL of the list, after a short pause: GET and
 * HEAD when no reply came, the transfer broke or the reply was
 * 502/503/504; any request when no connection could be made; what else a
 * caller knows to be safe (session.c). */
#define CF__CLI_ATTEMPTS_DEFAULT 3
#define CF__CLI_ATTEMPTS_MAX     10

/* How many attempts a request gets: --attempts N (any command takes it;
 * cf__cli_load keeps it), else COFFER_ATTEMPTS, else
 * CF__CLI_ATTEMPTS_DEFAULT. */
int cf__cli_attempts(void);

/* N of "--attempts N" (borrowed), or 0 when it is not 1 to
 * CF__CLI_ATTEMPTS_MAX. */
int cf__cli_attempts_parse(const char *v);

/* Pause before attempt a (1 for the second attempt, ...): 0.5 s, 1.5 s,
 * then 4 s each, so the default three attempts wait 2 s in all. */
void cf__cli_backoff(int a);

/* Which URL of a list each attempt of one request goes to: the first, in
 * the order given, that has not failed to connect during this request;
 * when all have, round them again. An attempt waits first (cf__cli_backoff)
 * when it goes to the URL the last one went to, or when every URL failed to
 * connect: moving on to another instance costs no pause. */
struct cf__cli_turn {
    size_t n;                   /* URLs in the list, 1 to CF_UPSTREAM_MAX */
    size_t cur;                 /* the URL of the attempt under way */
    int a;                      /* attempts begun */
    int pauses;                 /* pauses made */
    bool down[CF_UPSTREAM_MAX]; /* failed to connect during this request */
};

/* Start t for a list of n URLs. */
void cf__cli_turn_init(struct cf__cli_turn *t, size_t n);

/* Begin the next attempt: pause if it must, and return the index of its
 * URL (t->cur). */
size_t cf__cli_turn_next(struct cf__cli_turn *t);

/* The attempt under way made no connection to its URL. */
void cf__cli_turn_down(struct cf__cli_turn *t);

/* ---- progress (common.c) ---- */

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

/* ---- passwords (common.c) ---- */

/* Put the password in pw (cap bytes): given (borrowed; --password) if not
 * NULL; else the first line of the file `file` (borrowed;
 * --password-file), without its line end; else, when ask, read from the
 * terminal without echo (twice when confirm, and both must match). With
 * none of them and ask false, pw is "" and 0 is returned. Returns 0, or 1
 * with "coffer CMD: ..." printed (both given, an unreadable or empty file,
 * too long for cap, no terminal). The caller wipes pw (explicit_bzero). */
CF_MUST_CHECK int cf__cli_password(const char *cmd, const char *given, const char *file, bool ask,
                                   bool confirm, char *pw, size_t cap);

/* ---- replies (common.c) ---- */

/* Room for a name or message shown on a terminal: a path of CF_FSDB_PATH_MAX
 * bytes, each of which may take 4 (\xHH) when cf_term_escape shows it. */
#define CF__CLI_SHOWN_MAX (4 * CF_FSDB_PATH_MAX + 4)

/* s (borrowed; NULL shows "?") as cf_term_escape shows it on a terminal:
 * control bytes, C1 controls and bidirectional overrides as visible escapes,
 * so a name (any byte but '/' and NUL) cannot drive the terminal. Returns
 * out. Every name and server message the CLI prints goes through it. */
char *cf__cli_shown(char out[CF__CLI_SHOWN_MAX], const char *s);

/* Print "coffer CMD: HTTP STATUS: MESSAGE" on stderr for an error reply:
 * MESSAGE is the "message" of its JSON body (as cf__cli_shown shows it), or
 * "(no detail)". The body
 * (borrowed) is raw bytes for cf__cli_print_error, parsed JSON (may be NULL)
 * for cf__cli_print_reply. */
void cf__cli_print_error(const char *cmd, long status, const struct cf_buf *body);
void cf__cli_print_reply(const char *cmd, long status, const json_t *j);

/* A CURLOPT_WRITEFUNCTION appending to the struct cf_buf ud (its cap ends
 * the transfer). */
size_t cf__cli_to_buf(char *p, size_t size, size_t nitems, void *ud);

/* ---- URLs and JSON requests (common.c) ---- */

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
    const char *ca;   /* CA file for https:// (--ca); NULL: $COFFER_CA, else the system's */
    bool public;      /* the gateway: no operator signature (cf__cli_operator) */
};

/* Trust the CA file ca (borrowed; NULL: $COFFER_CA if set) for this
 * command's https:// requests (cf_httpc_tls_init, whose messages then name
 * --ca). Returns 0, or 1 with "coffer CMD: --ca: ..." printed when the file
 * is unreadable or holds no certificate. */
CF_MUST_CHECK int cf__cli_tls(const char *cmd, const char *ca);

/* A CA given for a service at a plain http:// URL is a mistake to refuse,
 * not to ignore: the user expected a verified connection. Returns 0 when
 * ca (borrowed; may be NULL) is NULL or empty or url (borrowed) is not
 * http://, else 1 with "coffer CMD: --ca is for https:// ..." printed. */
CF_MUST_CHECK int cf__cli_ca_url(const char *cmd, const char *ca, const char *url);

/* Load the operator key (cred.h) this process signs its requests to the
 * app, objsrv and the monitor with, once: the file of --key-file (any
 * command takes it; cf__cli_load keeps it), else of
 * COFFER_OPERATOR_KEY_FILE, else ./data/operator.key (that of `coffer
 * server` run here). Returns 0, or 1 with one line on stderr naming the
 * file tried and why it failed. */
int cf__cli_operator(const char *cmd);

/* Send r and wait for the reply. Returns 0 when a reply came, whatever its
 * status, with *status and *reply (caller owns; json_decref; NULL when the
 * body was empty or not JSON). Otherwise returns 1 with *reply NULL and one
 * line on stderr: "coffer CMD: BASE_NAME too long" when base and path make
 * CF__CLI_URL_MAX bytes or more; else "coffer CMD: [URL: ]REASON[HINT]",
 * where REASON (httpc.h) names the URL and why no reply came. */
CF_MUST_CHECK int cf__cli_request(const struct cf__cli_req *r, long *status, json_t **reply);

/* ---- uploads (common.c) ---- */

/* The body of an upload: a file read to its end, hashed on the way. */
struct cf__cli_src {
    FILE *f;              /* the file, or stdin; NULL when not open */
    struct cf_sha512 sha; /* of the bytes read so far */
    int err;              /* errno of a failed read, else 0 */
};

/* Open file (borrowed; "-" is stdin) into s (zeroed) and start its hash.
 * *size gets the file's size, or -1 when it is not a regular file (then it
 * goes chunked). Returns 0, or 1 with "coffer CMD: cannot open ..." printed
 * when it cannot be opened. Close s with cf__cli_src_close either way. */
CF_MUST_CHECK int cf__cli_src_open(struct cf__cli_src *s, const char *cmd, const char *file,
                                   int64_t *size);

/* A CURLOPT_READFUNCTION reading the struct cf__cli_src ud; a failed read
 * sets its err and aborts the transfer. */
size_t cf__cli_src_read(char *buf, size_t size, size_t nitems, void *ud);

/* Close the file (not stdin) and release the hash. Safe on a zeroed s and
 * twice. */
void cf__cli_src_close(struct cf__cli_src *s);

/* ---- downloads (common.c) ---- */

/* Where a download goes: FILE written beside its target and renamed over
 * it only once complete and verified, so the target never holds a partial
 * or wrong object; or stdout. */
struct cf__cli_out {
    FILE *f;            /* the stream to write (stdout, or the temporary) */
    const char *target; /* borrowed; NULL for stdout */
    char tmp[4096];     /* the temporary's path; "" when there is none */
    bool direct;        /* target is not a regular file (/dev/null, a FIFO): written as is */
};

/* Start writing to target (NULL: stdout). A regular file (or a new path) is
 * written as a temporary beside it and renamed over it at commit; a target
 * that exists and is not a regular file (a device such as /dev/null, a FIFO)
 * is opened and written in place, never replaced; a directory is refused.
 * Returns 0, or 1 with the reason printed as "coffer CMD: ..." (cmd
 * borrowed). */
int cf__cli_out_open(struct cf__cli_out *o, const char *cmd, const char *target);

/* The bytes are complete and verified: flush, fsync, rename the temporary
 * over the target and fsync its directory (stdout: flush). Returns 0, or 1
 * with the reason printed; the temporary is removed either way. */
int cf__cli_out_commit(struct cf__cli_out *o, const char *cmd);

/* Discard: close and remove the temporary, if any. Safe after commit and on
 * a zeroed o. */
void cf__cli_out_abort(struct cf__cli_out *o);

/* ---- the login session with the gateway (session.c) ---- */

/* `coffer server` puts the gateway on its port + 2 (8200 + 2). */
#define CF__CLI_GATEWAY_DEFAULT "http://127.0.0.1:8202"
/* Longest path of the token file. */
#define CF__CLI_PATH_MAX 4096
/* A stored token longer than this is not one of ours. */
#define CF__CLI_TOKEN_MAX 512
/* Longest URL of a gateway request: a path is at most CF_FSDB_PATH_MAX
 * bytes, 3 times that encoded, twice in a move or copy, plus the gateway. */
#define CF__CLI_GW_URL_MAX (8 * CF_FSDB_PATH_MAX)

/* Where the token file is: token_file (borrowed; --token-file) if not
 * NULL, else ~/.config/coffer/token. Returns 0 with out filled, CF_EINVAL
 * when that needs HOME and HOME is unset or empty, or CF_ETOOLARGE when the
 * path does not fit. */
CF_MUST_CHECK int cf__cli_token_path(const char *token_file, char out[CF__CLI_PATH_MAX]);

/* Keep text (borrowed: what the token file holds) at path (borrowed), mode
 * 0600, whole or not at all, after making the missing directories above it
 * (mode 0700). Returns 0, or a negative CF_E* with "coffer CMD: ..."
 * printed. */
CF_MUST_CHECK int cf__cli_token_save(const char *cmd, const char *path, const char *text);

/* Where and how to reach the gateway as the logged-in user. */
struct cf__cli_sess {
    char gateway[1024];        /* the first gateway's URL, without a trailing '/' */
    char list[4096];           /* every gateway's URL, a comma list (the first is gateway) */
    char ca[CF__CLI_PATH_MAX]; /* the CA file trusted for https://; "" for the system's */
    /* "Authorization: Bearer TOKEN", the token at most CF__CLI_TOKEN_MAX + 1 bytes */
    char auth[sizeof("Authorization: Bearer ") + CF__CLI_TOKEN_MAX + 1];
};

/* The option rows of a command that acts as the logged-in user (read by
 * cf__cli_sess_load): --gateway, --token-file and --token, stored at the
 * offsets of gateway, token_file and token (char *) of the command's
 * struct, given by off_ (as OFF(field) in each command's table). */
/* clang-format off */
#define CF__CLI_SESS_OPTS(off_)                                                              \
    {"gateway", CF_CONF_STR, NULL, 0, 0, off_(gateway),                                      \
     "gateway URL (default: the one coffer login used)", false},                             \
    {"token-file", CF_CONF_STR, NULL, 0, 0, off_(token_file),                                \
     "token file of coffer login (default ~/.config/coffer/token)", false},                  \
    {"token", CF_CONF_STR, NULL, 0, 0, off_(token),                                          \
     "use this token instead of the token file", false}
/* clang-format on */

/* Fill s with the token (token, else the token file's), the gateway URL
 * (gateway, else the token file's, else CF__CLI_GATEWAY_DEFAULT) and the CA
 * (ca, else the token file's, else none), and trust that CA (cf__cli_tls).
 * token_file, token, gateway and ca are the command's options (borrowed;
 * each may be NULL). Returns 0, or 1 with "coffer CMD: ..." printed, which
 * says "run coffer login" when there is no usable login. */
CF_MUST_CHECK int cf__cli_sess_load(const char *cmd, const char *token_file, const char *token,
                                    const char *gateway, const char *ca, struct cf__cli_sess *s);

/* Make u (initialised with cf_buf_init, and empty) the URL s->gateway +
 * prefix + path (percent-encoded, '/' kept; path may be NULL) + a query of
 * "key=value" pairs from q (key, value, key, value, ..., NULL; a NULL value
 * skips its pair; q may be NULL), capped at CF__CLI_GW_URL_MAX. All borrowed.
 * Returns 0, or CF_ETOOLARGE. Release u with cf_buf_fini either way. */
CF_MUST_CHECK int cf__cli_gw_url(struct cf_buf *u, const struct cf__cli_sess *s, const char *prefix,
                                 const char *path, const char *const *q);

/* One request to the gateway with the session's token. The caller sets the
 * fields above "results" between cf__cli_gwreq_init and cf__cli_gwreq_run. */
struct cf__cli_gwreq {
    const char *cmd; /* messages read "coffer CMD: ..."; borrowed */
    /* Upload: the body when in.f != NULL (the caller opens and closes it). */
    struct cf__cli_src in;
    /* Download: a file's bytes go to out (borrowed) on 200 and are hashed
     * into out_sha (the caller starts and releases it); NULL keeps every
     * reply in memory. */
    FILE *out;
    struct cf_sha512 out_sha;
    bool stop_on_file; /* end the transfer as soon as the reply is a file */
    /* Download: ask for a redirect to a filer (X-Coffer-Redirect: 1); a
     * 307 reply is then a result, its JSON body in json. */
    bool redirect;
    /* A non-2xx reply (but 401) is not printed: the caller reads status
     * and decides (coffer sync: 404 and 409 are answers, not failures). */
    bool quiet;
    /* Bytes per second the transfer may move at most, each way; 0: no cap. */
    uint64_t max_rate;
    /* results */
    long status;                /* HTTP status of the reply, 0 if none came */
    bool is_file;               /* the reply is a file's bytes (it has X-Coffer-SHA512) */
    uint8_t sha[CF_SHA512_LEN]; /* that header, when is_file */
    json_t *json;               /* the 2xx reply parsed, or NULL; owned by the request */
    /* private to session.c */
    CURL *h;
    bool headers_seen;
    struct cf_buf body; /* a JSON reply, or the body of an error reply */
    uint64_t got;       /* download: bytes written to out so far */
    uint64_t from;      /* download: the attempt asks for the bytes from here (Range) */
    bool changed;       /* download: a resumed attempt found another file */
    bool doubt;         /* upload: sent whole, no reply: recorded or not? */
};

/* Start x for command cmd (borrowed). Cannot fail. */
void cf__cli_gwreq_init(struct cf__cli_gwreq *x, const char *cmd);

/* Send method url (borrowed; it starts with s->gateway) with s's token
 * (borrowed). in_size: the upload's size, or -1 for chunked (only with
 * x->in). A failed attempt is sent again (cf__cli_attempts in all) on the
 * next gateway of s->list when session.c's gwreq_again allows it: a
 * download then resumes from the byte it reached, and ends "changed" if the
 * gateway now serves another file there. Returns 0 on a 2xx
 * reply (x->json parsed when it is JSON), or when stop_on_file and the
 * reply is a file; else 1 with the reason printed ("run coffer login" when
 * the gateway refused the token). Run x once; cf__cli_gwreq_fini and
 * cf__cli_gwreq_init make it ready for another request. */
CF_MUST_CHECK int cf__cli_gwreq_run(struct cf__cli_gwreq *x, const struct cf__cli_sess *s,
                                    const char *method, const char *url, int64_t in_size);

/* Release what x holds (not in, out or out_sha). Idempotent. */
void cf__cli_gwreq_fini(struct cf__cli_gwreq *x);

/* ---- commands another file hands over to ---- */

/* `put FILE /PATH` and `get /PATH [-o FILE]`, the path forms of put and get
 * (paths.c), with the whole argv of put or get. */
int cf__cli_path_put(int argc, char **argv);
int cf__cli_path_get(int argc, char **argv);

/* `admin client|user|group|perm ...` on the file system database
 * (accounts.c); argv starts at "client", "user", "group" or "perm". */
int cf__cli_admin_accounts(int argc, char **argv);

/* `admin filers`, `admin log`, `admin filer maintenance ...` against the
 * monitor (monitor.c); argv starts at "filers", "log" or "filer". */
int cf__cli_admin_monitor(int argc, char **argv);

/* `admin rebuild|rebalance|audit|dedupe|jobs|job ...` against the app's jobs
 * (jobs.c); argv starts at the sub-command. */
int cf__cli_jobs(int argc, char **argv);

#endif
