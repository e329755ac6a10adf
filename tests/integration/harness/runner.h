/*
 * runner.h -- the case runner of the integration tests: cases forked with
 * hard deadlines, one temp directory each, failing checks, bounded polling.
 *
 * Role: each tests/integration/it_*.c executable is run as
 * `it_x COFFER TMPDIR [ARG...] [CASE...]` and hands its table of cases to
 * it_run(). it_run forks one child per case, in its own process group, with
 * its own temp directory (mkdtemp under TMPDIR). The parent waits until the
 * case's deadline (its timeout_s times COFFER_TEST_TIMEOUT_MULTIPLIER); on
 * timeout it kills the whole group: the case and every process it started.
 * When the case passes its temp directory is removed; when it fails, the
 * last 16 KiB of each *.log file in it (the stderr of the processes the case
 * started) are printed and the directory is kept.
 *
 * Failing: the IT_* check macros and it_fail print file, line and the
 * message, SIGKILL every process the case started, and end the case's
 * process with status 1; nothing else is needed to clean up.
 *
 * Waiting: never sleep() for synchronization. it_wait_for polls a condition
 * a bounded number of times (Redis `wait_for_condition 50 100`); every bound
 * of the harness is multiplied by COFFER_TEST_TIMEOUT_MULTIPLIER
 * (environment, 1 to 100, default 1).
 *
 * Threads: it_fail, the IT_* checks, it_fmt, it_multiplier and
 * it_case_dir may be called from any thread of a case; the rest from the
 * case's main thread only.
 */
#ifndef COFFER_IT_RUNNER_H
#define COFFER_IT_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"

#define IT_PATH_MAX 1024
#define IT_MIB      (1024u * 1024u)

/* ---- the case runner ---------------------------------------------------- */

typedef void (*it_case_cb)(void *arg);

struct it_case {
    const char *name;
    it_case_cb fn;
    void *arg;          /* passed to fn; borrowed, must outlive it_run */
    unsigned timeout_s; /* the case's hard deadline, before the multiplier */
};

/* Run the cases named on the command line (argv[3 + skip_args]...), or all
 * of them, one after the other. argv[1] is the coffer binary and argv[2] the
 * parent of the temp directories (created if absent); the skip_args
 * arguments after them belong to the caller. argv and cases are borrowed and
 * must stay valid until it_run returns. Prints one line per case and a
 * summary on stdout. Returns the process exit status: 0 if every case ran
 * passed (and at least one ran), 1 otherwise, 2 on a usage error. */
int it_run(int argc, char **argv, unsigned skip_args, const struct it_case *cases, size_t n);

/* The COFFER_TEST_TIMEOUT_MULTIPLIER in force (>= 1). */
unsigned it_multiplier(void);

/* snprintf into out (cap bytes) that fails the case on truncation. */
void it_fmt(char *out, size_t cap, const char *fmt, ...) CF_PRINTF(3, 4);

/* The case's temp directory; valid until the case ends. */
const char *it_case_dir(void);
/* Write "<case temp dir>/<name>" into out (IT_PATH_MAX bytes). */
void it_case_path(char out[IT_PATH_MAX], const char *name);

/* Remove dir and everything under it (symbolic links are removed, not
 * followed). Returns 0 when dir is gone, -1 if anything stayed (each
 * failure printed on stderr). */
int it_rm_rf(const char *dir);

/* ---- the metadata backend -------------------------------------------------- */

/* The cases run on SQLite unless the environment has COFFER_IT_BACKEND=pg
 * and COFFER_TEST_PG (libpq key=value words without dbname, as
 * scripts/pg-test.sh sets it): then every database a case makes through
 * it_case_db_uri is a fresh PostgreSQL database of that server, created
 * through its "postgres" maintenance database under a name unique to the
 * case ("it_<pid>_<n>_<tag>"), and dropped when the case passes (kept with
 * the server when it fails). With COFFER_IT_BACKEND=pg and no
 * COFFER_TEST_PG, it_run skips the whole executable (exit 77). */
bool it_backend_pg(void);
/* A fresh database of the case, named after tag ([a-z0-9_-], at most 24
 * characters): "sqlite:<case dir>/<tag>.db", or on PostgreSQL
 * "postgres:<COFFER_TEST_PG> dbname=it_<pid>_<n>_<tag>" (created now, '-'
 * read as '_'). */
void it_case_db_uri(char out[IT_PATH_MAX], const char *tag);
/* The location of a new shard for a store whose own default is a SQLite
 * file next to its catalog: NULL on SQLite (that default), else out filled
 * by it_case_db_uri(out, tag) and returned. */
const char *it_shard_location(char out[IT_PATH_MAX], const char *tag);
/* For a `coffer server` of the case on data directory `data` (a case path
 * name): on PostgreSQL, its --db ("postgres:<COFFER_TEST_PG>") in db and
 * its --db-prefix ("it_<pid>_srv_<data>") in prefix, with the databases
 * PREFIX_catalog, _shard_1, _fs and _fs_1 dropped now at the first call for
 * `data` in the case (the server makes them) and again when the case
 * passes; returns true. On SQLite returns false and fills nothing. */
bool it_server_pg_args(char db[IT_PATH_MAX], char prefix[64], const char *data);
/* The URI of the object catalog (which "catalog") or the file system
 * catalog ("fs") of the `coffer server` of the case on data directory
 * `data`: the SQLite file under it, or its PostgreSQL database. */
void it_server_db_uri(char out[IT_PATH_MAX], const char *data, const char *which);
/* On PostgreSQL, end the case here as skipped: prints "skipped on postgres:
 * <why>", kills the processes the case started, drops its databases, and
 * the runner reports "skip". A no-op on SQLite. */
void it_skip_on_pg(const char *why);
/* End the case here as skipped, whatever the backend: prints "skipped
 * <why>", kills the processes the case started, drops its databases. */
CF_NORETURN void it_skip(const char *why);

/* ---- failing a case ------------------------------------------------------ */

CF_NORETURN void it_fail(const char *file, int line, const char *fmt, ...) CF_PRINTF(3, 4);
void it_check_i64(const char *file, int line, const char *what, int64_t got, int64_t want);
void it_check_str(const char *file, int line, const char *what, const char *got, const char *want);

#define IT_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            it_fail(__FILE__, __LINE__, "check failed: %s", #cond);                                \
    } while (0)
#define IT_CHECKF(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            it_fail(__FILE__, __LINE__, __VA_ARGS__);                                              \
    } while (0)
/* Each argument is evaluated once. */
#define IT_EQ(got, want)    it_check_i64(__FILE__, __LINE__, #got, (int64_t)(got), (int64_t)(want))
#define IT_STREQ(got, want) it_check_str(__FILE__, __LINE__, #got, (got), (want))

/* ---- bounded polling ----------------------------------------------------- */

typedef bool (*it_cond_cb)(void *arg);

/* Evaluate cond(arg) once, then up to tries * multiplier more times,
 * delay_ms apart. Returns true as soon as it holds, false if it never did
 * (the caller fails the case with a message saying what it waited for). */
bool it_wait_for(it_cond_cb cond, void *arg, unsigned tries, unsigned delay_ms);

/* The monotonic clock, in milliseconds. */
uint64_t it_now_ms(void);
/* Sleep until it_now_ms() reads at least t: for a case whose subject is a
 * time bound, not a wait for something to happen (that is it_wait_for). */
void it_sleep_until_ms(uint64_t t);

#endif
