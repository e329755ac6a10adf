/*
 * maint.h -- the maintenance services of the app role: the job
 * kinds run through job.h, the stale-replica drain, and inline dedupe.
 *
 *   rebuild    (rebuild.c)   args {"filer":F, "to":G?, "method":"index"|"scan",
 *                            "bw_mbps":N?}: every object filer F held gets
 *                            its replica back, on F itself (F wiped and
 *                            back online, no "to"), on G ("to"), or on
 *                            filers chosen by the distributor (F not online
 *                            and no "to"); records updated; resumable.
 *   rebalance  (rebalance.c) args {"tolerance":0.10?, "bw_mbps":N?}: moves
 *                            replicas from over-full to under-full filers
 *                            until each is within tolerance of the mean fill.
 *   audit      (audit.c)     args {"filer":F?, "sample":P? (percent, 100),
 *                            "bw_mbps":N?}: reads every replica, verifies
 *                            SHA-512, rewrites bad or missing ones from a good
 *                            one, restores replica counts; reports counts.
 *   dedupe     (dedupe.c)    args {}: records of one shard with the same
 *                            content become aliases of one holder; the
 *                            duplicates' bytes go to the stale list.
 *
 * Threads: job run functions run on the job's thread (job.h); the other
 * functions are reentrant.
 */
#ifndef COFFER_MAINT_H
#define COFFER_MAINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/job.h"
#include "coffer/objdb.h"
#include "coffer/sha512.h"

extern const struct cf_job_kind cf_job_rebuild;
extern const struct cf_job_kind cf_job_rebalance;
extern const struct cf_job_kind cf_job_audit;
extern const struct cf_job_kind cf_job_dedupe;

/* The kinds above, in that order (kinds.c). */
#define CF_MAINT_NKINDS 4
extern const struct cf_job_kind *const cf_maint_kinds[CF_MAINT_NKINDS];

/* What one stale-replica drain did. */
struct cf_stale_stats {
    uint64_t deleted; /* replicas deleted from their filer (or found gone) */
    uint64_t kept;    /* rows dropped because a record lists the replica again */
    uint64_t skipped; /* filer not online or not registered: left for later */
    uint64_t failed;  /* DELETE failed: left for later */
};

/* Delete every stale replica dropped at least delay_ms ago (objdb.h
 * cf_objdb_stale_*), by DELETE <filer url>/o/<path> on online filers.
 * Safe to run in several places at once and to kill. Fills *st. Returns 0
 * or a db.h error that stopped it part way. In stale.c. */
CF_MUST_CHECK int cf_stale_drain(struct cf_objdb *odb, uint64_t delay_ms, long timeout_ms,
                                 struct cf_stale_stats *st, char *err);

/* Inline dedupe at upload (dedupe.c): rec is a finished upload's record
 * that is NOT committed yet (its replicas durable). Objects under 4 KiB
 * (one file system block) are never shared (return 0). If a holder with the
 * same content, wanting at least rec->replicas replicas, exists in a
 * writable shard and at least rec->nfilers of its filers (in view[0..nview),
 * borrowed) answer HEAD with its size and SHA-512 within stall_s (so no
 * upload is ever folded into bytes that are not there: a wiped filer
 * waiting for its rebuild, say), reserve a UUID there, commit an alias of
 * that holder, and return 1 with *alias filled (the record to report: the alias's UUID with the
 * holder's path and filers); the caller then deletes its own fresh
 * replicas and must not commit rec. Returns 0 when there is no such holder
 * (commit rec as usual), or a db.h error (commit rec as usual: dedupe is an
 * optimisation, never a reason to fail an upload). */
CF_MUST_CHECK int cf_dedupe_inline(struct cf_objdb *odb, const struct cf_objdb_filer *view,
                                   size_t nview, unsigned stall_s,
                                   const struct cf_objdb_record *rec, struct cf_objdb_record *alias,
                                   char *err);

#endif
