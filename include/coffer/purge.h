/*
 * purge.h -- the delete service and the purge service (DESIGN §2
 * Delete), run by the app role periodically and on demand.
 *
 * Role: one pass, cf_purge_run, does both jobs in order:
 *   delete  every object record marked deleted (DELETE /v1/objects/<uuid>,
 *           which the gateway sends only once no live virtual object uses
 *           the object) for at least the retention is moved to the
 *           deleted-object map (cf_objdb_move_deleted). Until then an
 *           undelete is a plain unmark. An alias (dedupe, maint.h) has no
 *           bytes: moving it removes its row. A holder whose aliases are
 *           still in the object map, of its shard or (through their refs,
 *           objdb.h "Dedupe") of another, stays marked ("held"): its shared
 *           bytes go only with the last name for them. Holders held during
 *           the walk are tried again at its end, so deleting a holder and
 *           its last alias together is purged by one pass.
 *   purge   for every deleted-map record marked at least the retention ago,
 *           each replica not yet purged is removed from its filer with
 *           DELETE <filer>/o/<path>. Its state goes NONE -> SENT (durable,
 *           before the request) -> DONE (on 204, or 404: already gone). A
 *           filer that is not registered, is down in the summary table (not
 *           cf_objdb_status_up: online, busy, read-only or maintenance), or fails
 *           is skipped and retried by a later pass; the others go on. When
 *           every replica is DONE the record is removed.
 * Undelete (cf_objdb_undelete) works until the first DELETE is sent.
 * cf_purge_one does both for one named object at once (an operator's
 * purge that skips the retention).
 *
 * Safety (DESIGN §4): a pass may be killed at any moment and run again:
 * every step is one shard transaction or an idempotent DELETE, and SENT is
 * written before a DELETE goes out, so no replica of an undeleted record is
 * ever removed.
 *
 * Errors and logging: cf_purge_run returns 0 or a db.h error with a detail
 * in err (char[CF_ERR_LEN], may be NULL), logged where db.h says. What
 * happens to one object is logged once, by the pass, with its UUID: each
 * move, purge and removal at INFO, a replica left on a filer that is down
 * at INFO, a DELETE or a record update that failed at WARN (ERROR for a
 * filer URL too long to use); none of these stops the pass. A DELETE a
 * filer failed (an error status, a timeout) also goes to the scribe as a
 * "filer.error" event naming the filer and the object, at most
 * CF_PURGE_EVENTS_MAX a pass (then one event counts the rest).
 *
 * Threads: cf_purge_run may run in several threads or processes at once
 * (the states make that safe, if wasteful); the app serializes its own. It
 * blocks on the database and on the filers, each DELETE bounded by the
 * timeout given.
 *
 * Implemented in src/maint/purge.c.
 */
#ifndef COFFER_PURGE_H
#define COFFER_PURGE_H

#include <stdint.h>

#include "coffer/common.h"
#include "coffer/objdb.h"
#include "coffer/scribe.h"

/* Records fetched from a shard per query in a pass. */
#define CF_PURGE_BATCH 64
/* Default time a filer may take to answer a DELETE. */
#define CF_PURGE_TIMEOUT_MS 5000
/* Failed DELETEs written to the scribe per pass, at most. */
#define CF_PURGE_EVENTS_MAX 20

/* What one pass did. */
struct cf_purge_stats {
    uint64_t moved;    /* records moved to the deleted-object map */
    uint64_t purged;   /* replicas removed from a filer (or found absent) */
    uint64_t failed;   /* replicas whose DELETE failed: retried next pass */
    uint64_t skipped;  /* replicas on a filer down (not cf_objdb_filer_up) or not registered */
    uint64_t removed;  /* deleted-map records removed, every replica gone */
    uint64_t pending;  /* deleted-map records left with replicas to purge */
    uint64_t restored; /* records undeleted while the pass ran (left alone) */
    uint64_t held;     /* holders marked deleted that still have aliases: left
                        * marked, moved by a later pass once the last goes */
};

/* Run one delete + purge pass over every shard of odb (borrowed): records
 * marked deleted at or before now_ms - retention_ms (now_ms: the retention
 * clock, clockguard.h; 0: the wall clock). Each DELETE may take up to
 * timeout_ms. Failed DELETEs go to scribe (borrowed; NULL: none). Fills
 * *st (caller's storage, zeroed first, written on every return). Returns 0 when the pass went over
 * every shard (replicas it could not purge are counted, not errors), or a db.h error with err (may
 * be NULL) that stopped it part way: what was done stays done, and the
 * next pass resumes. */
CF_MUST_CHECK int cf_purge_run(struct cf_objdb *odb, struct cf_scribe *scribe, uint64_t now_ms,
                               uint64_t retention_ms, long timeout_ms, struct cf_purge_stats *st,
                               char *err);

/* Delete and purge the one object uuid (borrowed) now, whatever the
 * retention, as a pass would: a record marked deleted is moved to the
 * deleted-object map, then each replica not yet purged is removed (a
 * record already in the map, whose purge a pass began, is finished). The
 * undelete window of this object ends here. Fills *st as cf_purge_run
 * does (pending 1: a filer was down or failed; a later pass, or this call
 * again, finishes; a failed DELETE is an event in scribe, may be NULL,
 * as in a pass). Returns 0; CF_ENOTFOUND (no such object, or purged
 * already); CF_EEXIST (the object is not marked deleted, or is a holder
 * whose bytes live aliases still use: they go with the last alias); or a
 * db.h error; err (may be NULL) says which. Threads as cf_purge_run. */
CF_MUST_CHECK int cf_purge_one(struct cf_objdb *odb, struct cf_scribe *scribe,
                               const struct cf_uuid *uuid, long timeout_ms,
                               struct cf_purge_stats *st, char *err);

#endif
