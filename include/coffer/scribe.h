/*
 * scribe.h -- the append-only event and error log (patent FIG. 9 scribe).
 *
 * Role: what happened to the store, kept for years and queried by time,
 * filer and kind: filer status changes and errors, checksum mismatches,
 * repairs, job progress. Every role that has the object database catalog
 * open writes here (the monitor, the app's jobs); `coffer admin log` reads
 * it through the monitor's GET /v1/log.
 *
 * Storage: one table `events` in the catalog database (db.h, so SQLite or
 * PostgreSQL), created if missing:
 *   events (id INTEGER PRIMARY KEY, at BIGINT ms since the epoch, kind TEXT,
 *           filer BIGINT (0: none), object TEXT ('' : none), message TEXT)
 * with indexes on (at), (kind, at) and (filer, at). Rows are only ever
 * inserted (the exceptions are cf_scribe_trim and cf_scribe_prune, the
 * retention the monitor applies). Ids increase with insertion; `at` is the writer's wall clock.
 *
 * Kinds are short words (CF_SCRIBE_KIND_MAX bytes, [a-z0-9_.-]): the ones
 * coffer writes are listed below, callers may add their own.
 *
 * Text: a message or object is stored as one line of valid UTF-8 (control
 * characters become spaces, invalid bytes '?'), so every event is valid
 * TEXT on PostgreSQL and a valid JSON string. Callers taking events from
 * outside (the monitor's POST /v1/log) refuse a message over
 * CF_SCRIBE_MSG_MAX bytes themselves; cf_scribe_event cuts its own.
 *
 * Errors: db.h codes with a detail in err (char[CF_ERR_LEN], may be NULL);
 * CF_EINVAL for a bad kind or object.
 * A failed cf_scribe_event is logged (WARN) and otherwise ignored by
 * callers: the scribe must never stop the data path.
 * Threads: every function is thread-safe (the handle holds a pool).
 */
#ifndef COFFER_SCRIBE_H
#define COFFER_SCRIBE_H

#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"

#define CF_SCRIBE_KIND_MAX 31
#define CF_SCRIBE_MSG_MAX  1024
/* Rows one query returns at most. */
#define CF_SCRIBE_QUERY_MAX 10000

/* Kinds written by coffer itself. */
#define CF_SCRIBE_FILER_STATUS "filer.status" /* a filer changed status */
#define CF_SCRIBE_FILER_ERROR  "filer.error"  /* a filer failed a request */
#define CF_SCRIBE_CHECKSUM     "checksum"     /* a replica failed its SHA-512 */
#define CF_SCRIBE_MISSING      "missing"      /* a replica was not on its filer */
#define CF_SCRIBE_REPAIR       "repair"       /* a replica was rewritten or added */
#define CF_SCRIBE_JOB          "job"          /* a maintenance job started/progressed/ended */
#define CF_SCRIBE_DEDUPE       "dedupe"       /* an object now shares another's replicas */
#define CF_SCRIBE_ORPHAN       "orphan"       /* a file no record lists was deleted */
#define CF_SCRIBE_CLOCK        "clock"        /* the wall clock jumped ahead (clockguard.h) */
#define CF_SCRIBE_INSTANCE     "instance" /* a role instance went down or came back (registry.h) */
#define CF_SCRIBE_PROBE        "probe"    /* a synthetic probe failed, or succeeded again */
#define CF_SCRIBE_SHARD        "shard"    /* a shard is 90% full, or one was added (app.h) */

struct cf_scribe;
struct cf_clockguard;

struct cf_scribe_event {
    uint64_t id;
    uint64_t at_ms;
    char kind[CF_SCRIBE_KIND_MAX + 1];
    uint32_t filer;  /* 0: none */
    char object[40]; /* a UUID's text, or "" */
    char message[CF_SCRIBE_MSG_MAX + 1];
};

/* What to return; zero fields do not filter. */
struct cf_scribe_query {
    uint64_t since_ms; /* at >= since_ms */
    uint64_t until_ms; /* at <= until_ms; 0: no bound */
    const char *kind;  /* exact kind, or NULL */
    uint32_t filer;    /* 0: any */
    uint64_t after_id; /* id > after_id (paging) */
    size_t limit;      /* 1..CF_SCRIBE_QUERY_MAX; 0: 100 */
};

/* Open the scribe on the database at uri (borrowed; the catalog's URI) with
 * its own pool of `pool` connections (0: 2), creating the table if missing.
 * On success *out is the scribe (caller owns; cf_scribe_close). Returns 0 or
 * a db.h error. */
CF_MUST_CHECK int cf_scribe_open(const char *uri, unsigned pool, struct cf_scribe **out, char *err);

/* Close. NULL is a no-op. */
void cf_scribe_close(struct cf_scribe *s);

/* Append one event, now, durably. kind as above; filer 0 for none; object
 * (borrowed) a UUID text (under 40 bytes) or NULL; message printf-style, cut
 * at CF_SCRIBE_MSG_MAX bytes (on a UTF-8 boundary). s may be NULL (then
 * nothing happens, returns 0). Returns 0, CF_EINVAL (bad kind or object), or
 * a db.h error; every error is already logged at WARN. */
int cf_scribe_event(struct cf_scribe *s, const char *kind, uint32_t filer, const char *object,
                    const char *fmt, ...) CF_PRINTF(5, 6);

/* cf_clockguard_now(g) (g may be NULL) for a retention pass; the jump it
 * first finds also goes to s as a CF_SCRIBE_CLOCK event: "the wall clock is
 * N s ahead of the time elapsed; <uses> the guarded time", uses (borrowed)
 * naming what uses it ("scribe retention uses"). A failed event is logged
 * as cf_scribe_event does, and otherwise ignored. */
uint64_t cf_scribe_guarded_now(struct cf_scribe *s, struct cf_clockguard *g, const char *uses);

/* Events matching q (borrowed), in id order. On success *out is an array of
 * *n events (caller owns; free(); NULL when *n is 0). Returns 0, CF_EINVAL
 * (bad limit or kind), or a db.h error. */
CF_MUST_CHECK int cf_scribe_query(struct cf_scribe *s, const struct cf_scribe_query *q,
                                  struct cf_scribe_event **out, size_t *n, char *err);

/* Delete events older than before_ms (retention). Returns the number
 * deleted or a db.h error. */
CF_MUST_CHECK int64_t cf_scribe_trim(struct cf_scribe *s, uint64_t before_ms, char *err);

/* Rows one cf_scribe_prune call deletes at most by default: small enough
 * that a pass never holds the catalog's write lock for long. */
#define CF_SCRIBE_PRUNE_BATCH 1000

/* Retention in bounded steps: delete, in one transaction, at most `batch`
 * (>= 1) of the oldest events (by id) among those retention drops: older
 * than before_ms (0: none by age) or not among the newest max_rows
 * (0: no bound by count). The newest event always stays, so ids (max + 1)
 * never repeat for a reader paging with after_id. Returns how many were
 * deleted (batch means more may remain: call again) or a db.h error. When
 * nothing is due it costs three index look-ups. */
CF_MUST_CHECK int64_t cf_scribe_prune(struct cf_scribe *s, uint64_t before_ms, uint64_t max_rows,
                                      size_t batch, char *err);

#endif
