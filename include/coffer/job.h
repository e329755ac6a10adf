/*
 * job.h -- resumable maintenance jobs run by the app role (rebuild,
 * rebalance, audit, dedupe; patent FIG. 9 services, claims 18-23).
 *
 * Role: one way to start, follow, stop and resume a long job. A job is a
 * kind (a registered struct cf_job_kind) and its arguments (a JSON object).
 * Its state lives in the catalog (table `jobs`: id, kind, args as canonical
 * JSON text, state, cursor text, counters JSON, started, updated, message),
 * so a job killed at any moment (the app killed -9) is resumed by starting
 * the same kind with the same arguments again: the run function receives the
 * last cursor it checkpointed and the counters saved with it. Each job must
 * therefore make every step idempotent, checkpoint only after the work
 * before the cursor is durable, and never lower the number of good
 * replicas (DESIGN §4).
 *
 * HTTP (served by the app, see cf_jobs_serve):
 *   POST /v1/admin/jobs            {"kind":K,"args":{...}} -> 202 {"id":N,...}
 *                                  (resumes an unfinished job of the same kind
 *                                  and args; 400 for an unknown kind or args
 *                                  its table or check refuse, the message
 *                                  saying why; 409 if one of that kind is
 *                                  already running, in this process or in
 *                                  any other whose heartbeat is fresh: one
 *                                  job of a kind in the whole cluster; the
 *                                  message names the job and its process)
 *   GET  /v1/admin/jobs            the 50 most recent jobs
 *   GET  /v1/admin/jobs/N          one job: {"id","kind","args","state",
 *                                  "total_objects","done_objects","total_bytes",
 *                                  "done_bytes","counters":{...},"message",
 *                                  "started_ms","updated_ms"}
 *   DELETE /v1/admin/jobs/N        ask a running job to stop (202); it stops
 *                                  at its next check, state "stopped"
 * States: "running", "done", "failed" (message says why), "stopped",
 * "interrupted" (reported for a "running" row this process does not run
 * whose updated time is over CF_JOB_STALE_MS old: its process died).
 *
 * Threads: a job runs on its own thread. Its run function may hand work
 * to helper threads of its own, which may call cf_job_should_stop,
 * cf_job_done, cf_job_count, cf_job_counter, cf_job_throttle (one budget
 * shared by all: a caller sleeps while holding it, so the others wait
 * their turn) and cf_job_log; every other cf_job_* call is made by the job's
 * thread only, and not while its helpers run. struct cf_jobs is
 * thread-safe.
 *
 * Errors: functions return 0 or a negative CF_E* code with a detail in err
 * (char[CF_ERR_LEN], may be NULL); database errors are db.h's, logged
 * where db.h says. Events of a job (start, resume, progress by tenths,
 * end) are logged at INFO and written to the scribe by the framework.
 *
 * Implemented in src/maint/job.c (the framework) and src/maint/jobargs.c
 * (arguments).
 */
#ifndef COFFER_JOB_H
#define COFFER_JOB_H

#include <math.h> /* INFINITY */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <microhttpd.h>

#include "coffer/clockguard.h"
#include "coffer/common.h"
#include "coffer/objdb.h"
#include "coffer/scribe.h"

#define CF_JOB_CURSOR_MAX 255
#define CF_JOB_STALE_MS   30000
/* Counters a job may keep (named, e.g. "copied", "fixed", "failed"). */
#define CF_JOB_COUNTERS_MAX 16

/* What every job may use (all borrowed from the app, valid until
 * cf_jobs_close returns). */
struct cf_keyring;

struct cf_job_env {
    struct cf_objdb *odb;
    /* The catalog's db.h URI (the jobs table lives there; cf_jobs_open
     * copies the string and opens its own small pool on it). */
    const char *catalog_uri;
    struct cf_scribe *scribe;    /* may be NULL */
    unsigned stall_s;            /* a filer silent this long fails a transfer */
    uint64_t stale_delay_ms;     /* a replica dropped from a record is deleted after this */
    struct cf_clockguard *clock; /* the retention clock of stale expiry; NULL: wall */
    /* A fresh copy of the filer summary table as the app sees it (caller
     * frees *out with free()). Called from the jobs' threads, several at
     * once: must be thread-safe. */
    void (*filers)(void *ctx, struct cf_objdb_filer **out, size_t *n);
    void *filers_ctx;
    /* How people know this process ("app 127.0.0.1:8200"; may be NULL;
     * read by cf_jobs_open only): added to the owner of its jobs' rows, so
     * a 409 names it. */
    const char *instance;
    /* The master keys (keyring.h) of the rewrap job; NULL: none. */
    const struct cf_keyring *keyring;
};

struct cf_job;

/* ---- arguments ----
 *
 * A kind describes its arguments once, in a table of struct cf_job_arg. The
 * framework checks the args of every start against it (cf_jobs_start, so
 * POST /v1/admin/jobs gets 400 with the message) and puts them in canonical
 * form, so that two requests for the same work name the same job (and one
 * resumes the other); the command line (`coffer admin KIND`) builds its
 * options, its --help and the JSON it posts from the same table.
 *
 * Canonical form (cf_job_args_check): an argument that is absent or null
 * takes its default when it has one, is an error when it is required, and
 * is left out otherwise; an optional filer id of 0 means "none" and is left
 * out too; a REAL whose value is a whole number is written as a JSON
 * integer (50.0 and 50 name the same job); any key the table lacks is an
 * error.
 */

enum cf_job_arg_type {
    CF_JOB_ARG_FILER, /* a filer id: a JSON integer in [1, UINT32_MAX] */
    CF_JOB_ARG_INT,   /* a JSON integer in [min, max] */
    CF_JOB_ARG_REAL,  /* a JSON number between min and max (see min_open, max_open) */
    CF_JOB_ARG_ENUM,  /* a JSON string, one of choices */
    CF_JOB_ARG_BOOL,  /* a JSON true or false; on the command line a bare --option is true */
};

struct cf_job_arg {
    const char *name;    /* the key in args: "bw_mbps" */
    const char *option;  /* the command line's option, without "--": "bw" (NULL: name) */
    const char *metavar; /* its value in the usage line: "MB/s" (NULL: from the type) */
    enum cf_job_arg_type type;
    double min, max;            /* INT and REAL bounds; REAL's max may be INFINITY */
    bool min_open, max_open;    /* REAL: the bound itself is outside */
    const char *const *choices; /* ENUM: the strings allowed, NULL-terminated */
    /* The default, as text a command line would give (FILER: none, NULL):
     * put in args when the argument is absent. NULL: absent stays absent. */
    const char *def;
    bool required;
    /* May differ between two runs of one job: not part of the job's name,
     * and a resumed job takes the new value (a bandwidth limit). */
    bool tunable;
    const char *help; /* one line, for --help */
};

/* Arguments a kind may declare, at most. */
#define CF_JOB_ARGS_MAX 8

/* The bandwidth limit, in MB/s, that cf_job_throttle keeps to: for every
 * kind that moves bytes (absent or 0: none). */
#define CF_JOB_ARG_BW_MBPS                                                                         \
    {                                                                                              \
        .name = "bw_mbps", .option = "bw", .metavar = "MB/s", .type = CF_JOB_ARG_REAL, .min = 0,   \
        .max = INFINITY, .tunable = true, .help = "bandwidth limit in MB/s"                        \
    }

struct cf_job_kind {
    const char *name; /* "rebuild" */
    /* Its arguments (static), checked by the framework before check. */
    const struct cf_job_arg *args;
    size_t nargs; /* <= CF_JOB_ARGS_MAX */
    /* What the table cannot say (a filer that must be registered, two that
     * must differ), on args already checked and canonical (owned by the
     * framework). Returns 0 or CF_EINVAL with err: the start fails, a POST
     * gets 400. May be NULL. Called on the thread that starts the job. */
    int (*check)(const struct cf_job_env *env, json_t *args, char *err);
    /* Do the work. Returns 0 when finished (state "done"), CF_ECANCELED
     * after cf_job_should_stop said so (state "stopped"), or another CF_E*
     * code with err (state "failed"). */
    int (*run)(struct cf_job *j, char *err);
};

/* Check args (a JSON object, borrowed, changed in place) against the table
 * a[0..n) (borrowed) and put them in canonical form (see above). Returns 0,
 * or CF_EINVAL with err (may be NULL) naming the argument and quoting what
 * it accepts, e.g. "\"sample\": 0 is not a number in (0, 100]"; args may
 * then be part-changed. Reentrant. In jobargs.c, as the two below. */
CF_MUST_CHECK int cf_job_args_check(const struct cf_job_arg *a, size_t n, json_t *args, char *err);

/* Parse text (a command-line value, borrowed) as a value of a, checked as
 * cf_job_args_check checks one: *out gets its canonical JSON value (caller
 * owns; release with json_decref). Returns 0, or CF_EINVAL with err (may be
 * NULL) quoting the text and what a accepts, without a's name. */
CF_MUST_CHECK int cf_job_arg_parse(const struct cf_job_arg *a, const char *text, json_t **out,
                                   char *err);

/* What a accepts, in words, into buf (cap bytes, cut if shorter): "a
 * number in (0, 100]", "one of index, scan", "a filer id". */
void cf_job_arg_describe(const struct cf_job_arg *a, char *buf, size_t cap);

/* ---- for a job's run function ----
 * j is the job the run function was given, valid until it returns. */

/* The env the jobs were opened with (valid while the job runs). */
const struct cf_job_env *cf_job_env(struct cf_job *j);
/* The job's args, checked and canonical (valid while the job runs; do not
 * change them). */
const json_t *cf_job_args(struct cf_job *j);
/* Its id in the jobs table. */
uint64_t cf_job_id(struct cf_job *j);
/* The cursor saved by the last checkpoint ("" when the job is new; valid
 * until the next cf_job_checkpoint). */
const char *cf_job_cursor(struct cf_job *j);
/* True once a stop was asked for (DELETE, or the app shutting down). */
bool cf_job_should_stop(struct cf_job *j);
/* Progress: totals may be estimates and change; done counts only go up. */
void cf_job_set_total(struct cf_job *j, uint64_t objects, uint64_t bytes);
void cf_job_done(struct cf_job *j, uint64_t objects, uint64_t bytes);
/* Objects done so far, including earlier runs of a resumed job. */
uint64_t cf_job_done_objects(struct cf_job *j);
/* Start the progress over (totals, done counts and named counters back to
 * zero): a job that walks everything again after an incomplete pass. */
void cf_job_reset_progress(struct cf_job *j);
/* A named counter += n (name borrowed, copied at first use, which creates
 * the counter; a name over 31 bytes, or past CF_JOB_COUNTERS_MAX counters,
 * is dropped and logged at ERROR). */
void cf_job_count(struct cf_job *j, const char *name, uint64_t n);
/* A counter's value (0 if there is none of that name). */
uint64_t cf_job_counter(struct cf_job *j, const char *name);
/* Save cursor (borrowed, <= CF_JOB_CURSOR_MAX bytes) with the progress and
 * counters, durably. Returns 0, CF_EINVAL (cursor too long), or a db.h
 * error; on error the saved cursor is the one before. */
CF_MUST_CHECK int cf_job_checkpoint(struct cf_job *j, const char *cursor, char *err);
/* Account bytes moved against the bandwidth limit (args "bw_mbps", MB/s;
 * 0 or absent: none) and sleep as needed; returns early if a stop is asked. */
void cf_job_throttle(struct cf_job *j, uint64_t bytes);
/* Write an event to the scribe (kind CF_SCRIBE_JOB unless given). */
void cf_job_log(struct cf_job *j, const char *kind, uint32_t filer, const char *object,
                const char *fmt, ...) CF_PRINTF(5, 6);

/* ---- for the app ---- */

struct cf_jobs;

/* Create the job runner: kinds[0..nkinds) (kept: static, as maint.h
 * cf_maint_kinds) and env (copied; what it points to is kept until
 * cf_jobs_close). Creates the jobs table if missing and starts the
 * heartbeat and scheduler thread. On success *out is the runner (caller
 * owns; release with cf_jobs_close). Returns 0, a db.h error, or
 * CF_EINTERNAL (no thread); nothing is left open on error. */
CF_MUST_CHECK int cf_jobs_open(const struct cf_job_env *env, const struct cf_job_kind *const *kinds,
                               size_t nkinds, struct cf_jobs **out, char *err);

/* Start (or resume) a job of kind (borrowed) with args (borrowed; copied;
 * NULL: {}), checked against the kind's table, then by its check. On
 * success *id is its id and the job runs on a thread of its own. Returns
 * 0, CF_ENOTFOUND (unknown kind), CF_EINVAL (bad args: err says which and
 * why), CF_EEXIST (a job of this kind is already running here, or a row
 * of this kind is running in a live process; *id is its id), CF_ECANCELED (js is
 * closing), CF_EINTERNAL (no thread; the row is marked failed), or a db.h
 * error. */
CF_MUST_CHECK int cf_jobs_start(struct cf_jobs *js, const char *kind, const json_t *args,
                                uint64_t *id, char *err);

/* Start kind with args as cf_jobs_start does, but run it on the calling
 * thread, to its end. Returns as cf_jobs_start when it cannot start, else
 * as the run function (err: its message). */
CF_MUST_CHECK int cf_jobs_run_sync(struct cf_jobs *js, const char *kind, const json_t *args,
                                   char *err);

/* Start kind with args (borrowed; copied) through cf_jobs_start every
 * interval_ms on js's scheduler thread, the first time one interval after
 * the last start of a job of that kind recorded in the jobs table (or
 * after this call when there is none), so restarts do not rerun a pass.
 * Of several apps on one catalog only the holder of the lease
 * "app.schedule" (lease.h) starts them, and only when the table shows no
 * start of that kind within the last interval (by any app). A
 * start that fails is logged at WARN (one already running is not an
 * error) and tried again an interval later. Returns 0, CF_ENOTFOUND
 * (unknown kind), CF_EINVAL (interval_ms 0) or CF_ETOOMANY (too many
 * entries). */
CF_MUST_CHECK int cf_jobs_schedule(struct cf_jobs *js, const char *kind, const json_t *args,
                                   uint64_t interval_ms);

/* Serve the HTTP API above for url (borrowed; starting "/v1/admin/jobs").
 * Returns MHD's result; the caller routes only bodiless requests or POSTs
 * with a small JSON body already read into body[0..len) (borrowed). Any
 * thread (MHD's). */
enum MHD_Result cf_jobs_serve(struct cf_jobs *js, struct MHD_Connection *c, const char *method,
                              const char *url, const char *body, size_t len);

/* Serve POST /v1/repair: the one job request the cluster key may make (the
 * active monitor's automatic repairs, monitor.h), body
 * {"kind":"rebuild"|"audit","args":{"filer":F}} and nothing else, answered
 * as POST /v1/admin/jobs (202, 400, 409). Rebuild and audit only restore
 * replicas, so a role that holds the cluster key can do no harm with it;
 * every other job still needs the operator key. Any thread (MHD's). */
enum MHD_Result cf_jobs_serve_repair(struct cf_jobs *js, struct MHD_Connection *c, const char *body,
                                     size_t len);

/* Ask every running job to stop and wait for them, stop the scheduler,
 * then release js. NULL is a no-op. */
void cf_jobs_close(struct cf_jobs *js);

#endif
