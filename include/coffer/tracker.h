/*
 * tracker.h -- filer tracking: keeps the filer summary table (objdb.h, patent
 * FIG. 7) true.
 *
 * Role: the monitor role runs one (monitor.h); an app started with
 * --track-filers runs its own. Each poll reads the summary table (so filers
 * added, removed or put in maintenance by others are seen), asks every
 * filer for GET /status at once (libcurl multi: a slow or stopped filer costs
 * the others nothing; each answer is recorded as it arrives), measures the
 * latency, decides the status, and writes it back (cf_objdb_filer_track).
 *
 * Statuses (the table's status text, which is the state: it survives
 * restarts):
 *   online       answers, writable
 *   busy         answers, writable, but its latency EWMA is over busy_ms or
 *                it answered 503 (draining): chosen less often (weight / 4)
 *   read-only    answers, but says read_only, or used/total reached
 *                high_water; it stays read-only until used/total falls below
 *                low_water (hysteresis), even across tracker restarts
 *   offline      no good answer (none within timeout_ms, not 200 JSON, or
 *                another filer id) offline_after polls in a row
 *   maintenance  set by the operator (cf_objdb_filer_set_maintenance); kept,
 *                only the numbers are refreshed
 *   unknown      registered and not yet decided (or maintenance just ended)
 * read_only in the table is "not writable": true unless the status is online
 * or busy (cf_objdb_status_writable). The distributor takes filers that are
 * cf_objdb_filer_writable, heaviest first.
 *
 * Weight: base_weight (the operator's) * free / 10 * latency factor, where
 * free is the free tenth of capacity rounded up (1..10) and the latency
 * factor is 1, 1/2 over busy_ms / 4, and 1/4 when busy; at least 1 while
 * base_weight > 0. Coarse steps on purpose: the distributor shuffles filers
 * of equal weight, so filers of similar fullness and speed share the load
 * instead of the single heaviest taking every upload between two polls.
 *
 * Side effects: each status change is logged (INFO, or WARN for offline) and
 * appended to the scribe (CF_SCRIBE_FILER_STATUS) with its reason; a rise of
 * a filer's io_errors counter is a CF_SCRIBE_FILER_ERROR event; gauges per
 * filer (label filer="ID"): coffer_filer_up, coffer_filer_used_bytes,
 * coffer_filer_total_bytes, coffer_filer_objects,
 * coffer_filer_latency_seconds. With history_ms, each filer's history
 * (bytes in and out, new I/O errors, polls and failed polls, fill, mean
 * latency) is written to the catalog once per period (objdb.h).
 *
 * Errors: a failed table read or write is logged (WARN) and retried at the
 * next poll; polling never stops for it.
 * Threads: cf_tracker_poll_once and cf_tracker_info are thread-safe (polls
 * are serialized); cf_tracker_start and cf_tracker_free are called by the
 * owner's controlling thread.
 */
#ifndef COFFER_TRACKER_H
#define COFFER_TRACKER_H

#include <stdbool.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/err.h"
#include "coffer/objdb.h"
#include "coffer/scribe.h"

/* Defaults of struct cf_tracker_opts (a zero field takes its default). */
#define CF_TRACKER_POLL_MS       1000
#define CF_TRACKER_TIMEOUT_MS    1000
#define CF_TRACKER_OFFLINE_AFTER 2
#define CF_TRACKER_BUSY_MS       500
#define CF_TRACKER_HIGH_WATER    0.95
#define CF_TRACKER_LOW_WATER     0.90
/* Filers one tracker polls at most (more are left out, with a warning). */
#define CF_TRACKER_FILERS_MAX 4096

struct cf_tracker_opts {
    unsigned poll_ms;       /* period of cf_tracker_start's thread */
    unsigned timeout_ms;    /* a /status slower than this is no answer */
    unsigned offline_after; /* polls without an answer before "offline" */
    unsigned busy_ms;       /* latency EWMA over this is "busy" */
    double high_water;      /* used/total at which a filer turns read-only, (0, 1] */
    double low_water;       /* used/total under which it turns writable again, < high_water */
    uint64_t history_ms;    /* period of the filer history rows (objdb.h); 0: none kept */
};

/* What the tracker measured of one filer (beyond the table). */
struct cf_tracker_info {
    uint32_t id;
    bool measured;     /* at least one answer since the tracker started */
    double latency_ms; /* EWMA (alpha 0.3) of answered polls; 0 until measured */
    unsigned failures; /* polls without an answer in a row */
    uint64_t polls;    /* polls of this filer since the tracker started */
};

struct cf_tracker;

/* ---- the decision, pure (no I/O, no clock): tested against a table ---- */

/* Fill the zero fields of *o with the defaults above and check it. Returns
 * 0, or CF_EINVAL with err naming the bad field (*o is then partly filled). */
CF_MUST_CHECK int cf_tracker_opts_fill(struct cf_tracker_opts *o, char *err);

/* What a filer answered to one poll. */
struct cf_tracker_answer {
    bool ok;                                  /* 200 with a well-formed status of the right filer */
    bool draining;                            /* 503: it answers but takes nothing new */
    double latency_ms;                        /* how long the answer took */
    uint64_t total, used, objects, io_errors; /* from the status, when ok */
    uint64_t bytes_in, bytes_out;             /* the filer's counters since it started (0: none) */
    bool read_only;                           /* the filer says so, when ok */
    char err[CF_ERR_LEN];                     /* why it is not ok */
};

/* What the decision remembers of one filer between polls. Zero it for a
 * filer not seen before. */
struct cf_tracker_state {
    struct cf_tracker_info info;
    bool full_init; /* full has been set (from the table's status at first) */
    bool full;      /* read-only for fullness, between the water marks */
};

/* Decide filer row's next row (*next, a copy of *row with status,
 * read_only, weight, the usage numbers and last_seen_ms = now_ms changed)
 * from answer a and st (updated: latency EWMA, failures, polls, fullness).
 * o must have been filled (cf_tracker_opts_fill). why (cap bytes) gets the
 * reason for the status. The rules are the statuses above; a filer in
 * maintenance keeps its status (only its numbers change). */
void cf_tracker_decide(const struct cf_tracker_opts *o, struct cf_tracker_state *st,
                       const struct cf_objdb_filer *row, const struct cf_tracker_answer *a,
                       uint64_t now_ms, struct cf_objdb_filer *next, char *why, size_t cap);

/* One filer's history row being summed over the current period. Zero it
 * to start. */
struct cf_tracker_hist {
    uint64_t start_ms;                   /* the period being summed; 0: none yet */
    bool counters;                       /* last_* hold an answer's counters */
    uint64_t last_in, last_out, last_io; /* the filer's counters at its last answer */
    uint64_t latency_sum_us;
    struct cf_objdb_history row; /* the sums so far */
};

/* Add answer a of filer id, at now_ms, to h: periods of period_ms (> 0)
 * aligned on the epoch. Counters are summed as increases between
 * answers; one that went down (the filer restarted) counts from 0. When
 * now_ms is past h's period, that period's row goes to *done (end_ms its
 * end) and the function returns true; the answer then opens the next
 * period. Pure. */
bool cf_tracker_hist_add(struct cf_tracker_hist *h, uint32_t id, const struct cf_tracker_answer *a,
                         uint64_t now_ms, uint64_t period_ms, struct cf_objdb_history *done);

/* The weight rule above: base scaled by the free tenths of used_fraction
 * (1..10) and the latency factor; 0 when base is 0, else at least 1. */
uint32_t cf_tracker_weight(uint32_t base, double used_fraction, double latency_ms, unsigned busy_ms,
                           bool busy);

/* ---- the tracker ---- */

/* A tracker over odb (kept until cf_tracker_free) that writes events to
 * scribe (kept; may be NULL) with opts (borrowed; NULL: all defaults).
 * Starts no thread and sends nothing. On success *out is the tracker (caller
 * owns; cf_tracker_free). Returns 0 or CF_EINVAL (bad opts; err says which).
 * cf_httpc_global_init must have run. */
CF_MUST_CHECK int cf_tracker_new(struct cf_objdb *odb, struct cf_scribe *scribe,
                                 const struct cf_tracker_opts *opts, struct cf_tracker **out,
                                 char *err);

/* One poll of every registered filer, now; returns when each has answered
 * or timed out (at most about timeout_ms) and the table is written. */
void cf_tracker_poll_once(struct cf_tracker *t);

/* Poll every poll_ms on a thread of its own until cf_tracker_free (a poll
 * that overruns is followed by the next at once). Returns 0 or CF_EINTERNAL
 * (no thread); calling it twice is CF_EINVAL. */
CF_MUST_CHECK int cf_tracker_start(struct cf_tracker *t);

/* Fill *out with what was measured of filer id. Returns 0, or CF_ENOTFOUND
 * if the tracker has not polled it. */
CF_MUST_CHECK int cf_tracker_info(struct cf_tracker *t, uint32_t id, struct cf_tracker_info *out);

/* Stop the thread (waiting for a poll in flight, at most about timeout_ms)
 * and release. NULL is a no-op. */
void cf_tracker_free(struct cf_tracker *t);

#endif
