/*
 * maint.h -- the maintenance services of the app role (DESIGN §1, §4;
 * patent FIG. 9 services, claims 18-23): the job kinds run through job.h,
 * the stale-replica drain, and inline dedupe at upload.
 *
 * Role: every service here works on the object database (objdb.h) and the
 * filers (replica.h), never on the file system database, and keeps
 * DESIGN §4: each is safe to kill at any moment and to run again, never
 * lowers the number of good replicas of an object, and lists a replica in
 * a record only once its bytes are durable and verified.
 *
 * The job kinds (each in its own file; their arguments are the tables
 * there, job.h struct cf_job_arg, summed up here as the JSON of POST
 * /v1/admin/jobs):
 *   rebuild    (rebuild.c)   {"filer":F, "to":G?, "method":"index"|"scan",
 *                            "bw_mbps":N?}: every object filer F held gets
 *                            its replica back, on F itself (F wiped and
 *                            back online, no "to"), on G ("to"), or on
 *                            filers chosen by the distributor (F not online
 *                            and no "to"); records updated. Fails (state
 *                            "failed") when objects could not be rebuilt:
 *                            running it again walks every object again.
 *   rebalance  (rebalance.c) {"tolerance":T? (0 < T < 1, default 0.1),
 *                            "bw_mbps":N?}: moves replicas from over-full to
 *                            under-full filers until each is within T of
 *                            the mean fill (or nothing more can move).
 *   audit      (audit.c)     {"filer":F?, "sample":P? (percent, 0 < P <=
 *                            100, default 100), "bw_mbps":N?}: reads every
 *                            replica (of F only, if named; of the P percent
 *                            of objects a hash of the UUID picks, the same
 *                            on every run), verifies size and SHA-512,
 *                            rewrites bad or missing ones from a good one,
 *                            restores replica counts; reports counts.
 *   dedupe     (dedupe.c)    {}: records with the same content, in one
 *                            shard or across shards, become aliases of one
 *                            holder; the duplicates' bytes go to the stale
 *                            list; refs of aliases in other shards that
 *                            never came or are gone are swept (objdb.h
 *                            "Dedupe").
 *   orphans    (orphans.c)   {"grace_s":N? (default 3600), "dry_run":B?,
 *                            "filer":F?}: files on the filers (F only, if
 *                            named) older than grace_s on the filer's clock
 *                            that no record lists and no hold covers are
 *                            deleted (objdb.h cf_objdb_orphan_claim);
 *                            dry_run only counts them.
 *   rewrap     (rewrap.c)    {}: the key of every encrypted record (object
 *                            map, then deleted map) not wrapped under the
 *                            newest master key of the app's
 *                            --master-key-file (keyring.h) is rewrapped
 *                            under it; no byte on a filer changes.
 * Of a compressed or encrypted record (objdb.h CF_OBJDB_XFORM_*), every
 * kind copies and checks the bytes the filers hold (stored_size,
 * stored_sha512), never the client's.
 * They share the worker pool, the walk and the placement of a new replica
 * (src/maint/maint_int.h). A job reports in its counters and the scribe;
 * see each file for the counters it keeps.
 *
 * Errors: the functions below return 0 (or a count) or a negative CF_E*
 * code with a detail in err (char[CF_ERR_LEN], may be NULL). Database
 * errors are db.h's, already logged where db.h says; what fails on one
 * filer (a DELETE, a HEAD) is counted or skipped, logged once at WARN by
 * the function that met it, and never stops the others.
 *
 * Threads: the job kinds' functions are called by the framework (job.h):
 * check on the thread that starts a job, run on the job's own thread. The
 * other functions may be called from any thread, several at once; they
 * block on the network (each filer request bounded by the timeout given).
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

/* The job kinds (static; see above). */
extern const struct cf_job_kind cf_job_rebuild;
extern const struct cf_job_kind cf_job_rebalance;
extern const struct cf_job_kind cf_job_audit;
extern const struct cf_job_kind cf_job_dedupe;
extern const struct cf_job_kind cf_job_orphans;
extern const struct cf_job_kind cf_job_rewrap;

/* The kinds above, in that order: the app registers them all
 * (cf_jobs_open), the command line makes one `coffer admin KIND` of each.
 * In kinds.c. */
#define CF_MAINT_NKINDS 6
extern const struct cf_job_kind *const cf_maint_kinds[CF_MAINT_NKINDS];

/* What cf_audit_object found and did (the audit's counters of the same
 * names, above; always written). */
struct cf_audit_result {
    uint64_t replicas_checked; /* replicas read back: ok + missing + corrupt */
    uint64_t ok, missing, corrupt;
    uint64_t unreachable; /* filer down or no usable answer: nothing done */
    uint64_t repaired;    /* missing or corrupt replicas rewritten and verified */
    uint64_t lost;        /* 1: no replica of the object verifies (left as is) */
    uint64_t failed;      /* a rewrite that did not succeed */
};

/* Check the replica of the object uuid (borrowed) on filer (nonzero) with
 * the audit's rules (audit.c) and repair it: read back and compared with
 * the record's size and SHA-512; missing or corrupt, the other replicas are
 * read one after the other until one verifies, and the bad one is deleted
 * (if corrupt) and rewritten from it. Only that object's replicas are read,
 * the named one first, the others only while none has verified. The last
 * good copy is never touched (no verified replica: nothing is deleted,
 * "lost" if every replica was read bad); other filers of the record and
 * its replica count are left to the audit job. view[0..nview) (borrowed)
 * is the filer summary table; stall_s bounds each transfer. Each finding
 * and repair is logged and written to scribe (may be NULL), as "finding
 * check: audit: ..." events. A rewritten copy of an object deleted and
 * purged meanwhile is kept (the orphans job removes files no record
 * lists). Fills *res. Returns 0 when the replica was looked at (what was
 * found in *res), CF_EINVAL for filer 0, CF_ENOTFOUND when there is no
 * such record (purged, never committed) or it does not list filer, or a
 * db.h error. Thread-safe; safe to run beside an audit job (each step is
 * the audit's, idempotent). Blocks on the network for up to the record's
 * replica count of reads and one copy. */
CF_MUST_CHECK int cf_audit_object(struct cf_objdb *odb, struct cf_scribe *scribe,
                                  const struct cf_objdb_filer *view, size_t nview, unsigned stall_s,
                                  const struct cf_uuid *uuid, uint32_t filer,
                                  struct cf_audit_result *res, char *err);

/* What one stale-replica drain did. */
struct cf_stale_stats {
    uint64_t deleted; /* replicas deleted from their filer (or found gone) */
    uint64_t kept;    /* rows dropped because a record lists the replica again */
    uint64_t skipped; /* filer not up (cf_objdb_filer_up), not registered, or the
                       * replica held again by a job: left for later */
    uint64_t failed;  /* not claimed, DELETE failed, or its end not recorded:
                       * left for later */
};

/* Delete every stale replica (objdb.h cf_objdb_stale_*) dropped at least
 * delay_ms before now_ms (the retention clock, clockguard.h; 0: the wall
 * clock), by DELETE <filer url>/o/<path> on filers that are up in
 * the summary table of odb (borrowed), each DELETE taking up to
 * timeout_ms. A row is claimed (durably) before its DELETE goes out, so a
 * replica a record lists again, or a job holds again, is never deleted.
 * Fills *st (zeroed first; always written). Returns 0 when every row was
 * looked at (what it could not delete is counted in *st, logged at WARN,
 * and left for a later drain), or a db.h error that stopped it part way
 * (what was deleted stays deleted). Safe to run in several threads or
 * processes at once and to kill. In stale.c. */
CF_MUST_CHECK int cf_stale_drain(struct cf_objdb *odb, uint64_t now_ms, uint64_t delay_ms,
                                 long timeout_ms, struct cf_stale_stats *st, char *err);

/* Inline dedupe at upload (dedupe.c). rec (borrowed) is a finished
 * upload's record that is NOT committed yet, its replicas durable. Objects
 * under 4 KiB (one file system block) are never shared. If a holder with
 * the same content and key, wanting at least rec->replicas replicas,
 * exists in a shard that is not obsolete, and at least rec->nfilers of its filers (as
 * view[0..nview) shows them, borrowed) answer HEAD with its size and
 * SHA-512 within stall_s and their bytes, read back whole, match it (so no
 * upload is ever folded into bytes that are not there or not right: a
 * wiped filer waiting for its rebuild, a bit-rotted file): reserves a UUID
 * in the holder's shard, or if that takes no new record now in rec's own
 * shard, commits an alias of the holder there, and returns
 * 1 with *alias (caller's storage) the record to report: the alias's UUID
 * with the holder's path and filers. The caller then deletes its own fresh
 * replicas and must not commit rec. Returns 0 when there is no such holder,
 * or neither shard takes a new record now, or it was deleted meanwhile
 * (commit rec as usual; *alias untouched), or a db.h error with err
 * (commit rec as usual: dedupe is an optimisation, never a reason to fail
 * an upload). Logs nothing; the caller reports. Blocks for the HEADs, up
 * to stall_s each, and for the read-back of up to rec->nfilers holder
 * replicas (the price of sharing: one read of the object per replica). */
CF_MUST_CHECK int cf_dedupe_inline(struct cf_objdb *odb, const struct cf_objdb_filer *view,
                                   size_t nview, unsigned stall_s,
                                   const struct cf_objdb_record *rec, struct cf_objdb_record *alias,
                                   char *err);

#endif
