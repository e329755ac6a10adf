/*
 * maint_int.h -- helpers shared by the maintenance jobs of src/maint
 * (rebuild.c, rebalance.c, audit.c, dedupe.c): the worker pool (pool.c),
 * the walk and its cursor text (walk.c), and the placement of a new
 * replica (place.c).
 *
 * Threads: as stated for each section.
 */
#ifndef COFFER_MAINT_INT_H
#define COFFER_MAINT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/job.h"
#include "coffer/objdb.h"
#include "coffer/replica.h"

/* Items in one page of a walk, at most: what a job handles between two
 * checkpoints. */
#define CF__MAINT_BATCH 64

/* Copies a job has in flight at once: small objects cost a filer a durable
 * create each (fsync of the file and its directory), which overlaps well;
 * large ones are bounded by the disk and the job's bandwidth limit. */
#define CF__MAINT_WORKERS 8

/* ---- the worker pool (pool.c) ---- */

/* A job's helper threads, kept for the job's life so that each keeps its
 * kept-alive connections to the filers (httpc.h: one connection cache per
 * thread). Used by the job's thread only. */
struct cf__maint_pool;

/* Start up to workers - 1 helpers (at most CF__MAINT_WORKERS - 1; the
 * caller is the last worker; threads that cannot be created just leave
 * more to the others). Never fails. The caller owns the pool; release it
 * with cf__maint_pool_free. */
struct cf__maint_pool *cf__maint_pool_new(unsigned workers);

/* Call fn(ctx, i) for every i in [0, n) on the pool's helpers and the
 * caller, taken in order of i, and return when all calls have returned
 * (ctx and j borrowed for that time). Once cf_job_should_stop(j) is true
 * (j may be NULL), calls not yet begun are skipped. fn must be safe to run
 * concurrently for distinct i, and call no cf_job_* function but those
 * job.h allows helpers. */
void cf__maint_pool_run(struct cf__maint_pool *p, size_t n, void (*fn)(void *ctx, size_t i),
                        void *ctx, struct cf_job *j);

/* Stop and join the helpers, and free p. NULL is a no-op. */
void cf__maint_pool_free(struct cf__maint_pool *p);

/* ---- a new replica (place.c) ----
 * Records and filer views are borrowed for the call. Any thread. */

/* Whether rec (as cf_objdb_get returns it) is an alias (dedupe): its path
 * is its holder's, not its own UUID's. Its replicas are the holder's, to be
 * handled through the holder's own record. */
bool cf__maint_is_alias(const struct cf_objdb_record *rec);

/* Whether rec lists filer id. */
bool cf__maint_lists(const struct cf_objdb_record *rec, uint32_t id);

/* The GET URLs of rec's replicas on filers of v[0..n) that are up, other
 * than skip (0: none), into urls (caller's rows of CF_REPLICA_URL_MAX, room
 * for rec->nfilers) with pointers to them in ptrs. Returns how many. */
size_t cf__maint_sources(const struct cf_objdb_filer *v, size_t n,
                         const struct cf_objdb_record *rec, uint32_t skip,
                         char (*urls)[CF_REPLICA_URL_MAX], const char **ptrs);

/* Pick a filer for a new replica of rec, replacing the one on filer `lost`
 * (0: none), with the distributor (online, writable, weight > 0, not listed
 * by rec), in a data center that rec's other filers do not cover when one
 * has a candidate (cf_distrib_choose_spread). Returns its entry in v[0..n)
 * (valid as long as v), or NULL if there is none. */
const struct cf_objdb_filer *cf__maint_choose(const struct cf_objdb_filer *v, size_t n,
                                              const struct cf_objdb_record *rec, uint32_t lost);

/* How long a job has, after cf__maint_renew, to list the copy. */
#define CF__MAINT_LIST_MS 60000

/* Copy rec's object from srcs[0..ns) to filer `to` at dst (its object URL)
 * so that the caller may list `to` in the record, under the hold protocol
 * of cf_objdb_stale_hold: hold the path for the copy's longest time (*hold
 * gets the hold's time), then cf_replica_ensure (bytes already there are
 * read back and verified). Returns 0: the copy is there; call
 * cf__maint_renew right before listing it. CF_EBUSY: a DELETE of that path
 * may be under way, try later; CF_EINVAL: rec is an alias now; or
 * cf_replica_ensure's errors. *copied tells whether bytes moved. On every
 * path a hold row covers the copy, so a copy never listed is deleted by
 * the stale drain once its hold is over. */
CF_MUST_CHECK int cf__maint_place(struct cf_objdb *odb, const struct cf_objdb_record *rec,
                                  uint32_t to, const char *dst, const char *const *srcs, size_t ns,
                                  unsigned stall_s, bool *copied, uint64_t *hold, char *err);

/* Renew the hold cf__maint_place took (*hold, updated) for
 * CF__MAINT_LIST_MS, immediately before listing `to` in rec's record (add
 * or replace, which drop the row). Returns 0; CF_EBUSY if the hold was
 * lost meanwhile (drained, or taken over by another job): do not list,
 * the bytes may be gone, try later; or a db.h error. */
CF_MUST_CHECK int cf__maint_renew(struct cf_objdb *odb, const struct cf_objdb_record *rec,
                                  uint32_t to, uint64_t *hold, char *err);

/* How many of rec's filers (looked up in v[0..n), borrowed) answer HEAD of
 * rec's path with its size and SHA-512 within stall_s AND whose bytes,
 * read back whole, match them (the HEAD shows the digest each was written
 * with, not what the disk holds now: a bit-rotted replica is not counted).
 * Stops once `enough` are counted, reading no more. Costs one read of the
 * object per replica looked at. */
unsigned cf__maint_present(const struct cf_objdb_filer *v, size_t n,
                           const struct cf_objdb_record *rec, unsigned stall_s, unsigned enough);

/* The copy cf__maint_place made on filer `to` will not be listed: let the
 * stale drain delete it at its next pass (it checks that no record lists
 * the filer first, so a copy someone else listed meanwhile stays). Never a
 * direct DELETE: another job may be about to list the same bytes. Logs a
 * failure at WARN. */
void cf__maint_release(struct cf_objdb *odb, const struct cf_objdb_record *rec, uint32_t to);

/* ---- the walk (walk.c) ----
 *
 * The loop of a job that goes over objects in (shard, object id) order, a
 * page at a time, and can be killed and resumed (job.h): rebuild,
 * rebalance, audit and dedupe. The walk owns the cursor and the loop: it
 * reads the job's saved cursor, checks for a stop before each page, lists
 * the page, has the job handle it (then, if asked, the items that failed,
 * in retry rounds), and checkpoints the position after the page, so that a
 * run killed at any moment redoes at most the page in flight. The job owns
 * what an item is and what handling it means, its progress and counters.
 *
 * Cursor text (the jobs table): "" (not started), "S:OID" (after object
 * OID of shard S), or "end"; a keyed walk (rebalance: the donor walked)
 * writes "KEY:S:OID", "KEY:0:0" when not started, "KEY:end".
 */

/* A handler's result: the walk ends here, part way, without an error. */
#define CF__MAINT_YIELD 1

/* What a handler is given, and tells back. */
struct cf__maint_page {
    /* The items, in walk order (borrowed; valid during the call). */
    const struct cf_uuid *at;
    size_t n;
    /* 0: the page as listed (at[i] is the list's item i); 1..retries: at
     * holds only the UUIDs of the items the round before put in fail. */
    unsigned round;
    /* Out: the items to try again next round (room for n; starts empty). */
    struct cf_uuid *fail;
    size_t nfail;
    /* Out, when the handler ends the walk part way in round 0 (returns
     * CF__MAINT_YIELD or an error): how many leading items are finished;
     * the walk saves the position after them. Starts at 0. */
    size_t done;
};

/* One walk. The job fills the fields up to ctx, then calls
 * cf__maint_walk_resume and cf__maint_walk_run. Used by the job's thread. */
struct cf__maint_walk {
    struct cf_job *j;        /* borrowed */
    size_t batch;            /* items per page, 1..CF__MAINT_BATCH */
    unsigned retries;        /* retry rounds for a page's failures (0: none) */
    unsigned retry_pause_ms; /* before each round (a stop cuts it short) */
    bool keyed;              /* the cursor text starts with key */
    /* List up to max items after *c into the job's own storage, advancing
     * *c as the objdb.h list functions do, and write each item's UUID (its
     * position in the walk) to at[i]. Returns how many (0 only when
     * c->done), or a db.h error with err. */
    int (*list)(void *ctx, struct cf_objdb_cursor *c, struct cf_uuid *at, size_t max, char *err);
    /* Handle pg (in round 0, the items the last list call wrote, at the
     * same indexes). Returns 0: the page is handled (but for pg->fail);
     * CF__MAINT_YIELD: the walk ends at item pg->done, not over;
     * CF_ECANCELED once cf_job_should_stop said so; or another CF_E* code
     * with err. The last two end the walk too, after the position after
     * the first pg->done items is saved (when pg->done > 0). */
    int (*handle)(void *ctx, struct cf__maint_page *pg, char *err);
    /* May be NULL. Called after the last round with the items still
     * failing (fail[0..n), borrowed; n may be 0). Returns 0 to save the
     * position after the page, or a CF_E* code that ends the walk without
     * saving it. */
    int (*give_up)(void *ctx, const struct cf_uuid *fail, size_t n, char *err);
    void *ctx; /* passed to the three above */
    /* The position: set by cf__maint_walk_resume (the job may set it
     * itself), advanced by cf__maint_walk_run. */
    uint32_t key;
    struct cf_objdb_cursor cur;
};

/* Set w->key and w->cur from the job's saved cursor (job.h cf_job_cursor).
 * Returns 0, or CF_EINVAL with err if it is not a cursor a walk writes. */
CF_MUST_CHECK int cf__maint_walk_resume(struct cf__maint_walk *w, char *err);

/* Walk from w->cur until the walk is over, a handler yields, a stop is
 * asked, or something fails. After each page the position after it is
 * saved with cf_job_checkpoint (with w->key when keyed) and w->cur moves
 * there; a walk that ends part way saves what the handler finished (see
 * handle). Returns 0 when the walk is over (w->cur.done) or yielded (w->cur
 * is where it ended, saved); CF_ECANCELED when a stop was asked; or a CF_E*
 * code from list, handle, give_up or the checkpoint, with err. On every
 * return w->cur is where the walk would go on from: where it started, or
 * the position it saved last. */
CF_MUST_CHECK int cf__maint_walk_run(struct cf__maint_walk *w, char *err);

#endif
