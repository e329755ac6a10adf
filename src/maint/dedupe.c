/*
 * dedupe.c -- objects with the same content share one set of replicas
 * (maint.h): inline at upload (cf_dedupe_inline) and as a job over the
 * records already stored (cf_job_dedupe).
 *
 * Model (objdb.h "Dedupe"): the first record of some content is the holder
 * and keeps its replicas; later records with the same SHA-512 and size, in
 * the same shard or in a higher-numbered one, become aliases of it, with
 * their own UUID, delete mark and life but no bytes. The purge removes an
 * alias's row without touching any filer, and moves the holder only once
 * no alias is left, in its shard or any other (purge.c), so the shared
 * bytes go when the last name for them is deleted.
 *
 * Job report (counters): pairs (duplicates found), aliased (turned into
 * aliases), skipped (changed since they were listed, or under
 * DEDUPE_MIN_SIZE), bytes_saved (size
 * times the duplicate's replicas), then the ref sweep's refs_kept and
 * refs_dropped (refs of aliases in other shards checked, and dropped as
 * their alias is gone or never came), then the stale drain's
 * stale_deleted, stale_kept, stale_skipped, stale_failed.
 */
#include "coffer/maint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/clockguard.h"
#include "coffer/err.h"
#include "coffer/log.h"
#include "coffer/purge.h"
#include "coffer/uuid.h"
#include "maint_int.h"

/* Pairs fetched per query; the cursor is checkpointed after each batch. */
#define BATCH 64
/* Objects smaller than this are not deduplicated: below one file system
 * block each replica costs one block whatever its size, and the alias
 * record and the look-up at upload cost about what sharing would save.
 * (Empty objects, which every client has many of, are the common case.) */
#define DEDUPE_MIN_SIZE 4096

/* ---- inline, at upload ---- */

int cf_dedupe_inline(struct cf_objdb *odb, const struct cf_objdb_filer *view, size_t nview,
                     unsigned stall_s, const struct cf_objdb_record *rec,
                     struct cf_objdb_record *alias, char *err)
{
    struct cf_objdb_record holder;
    struct cf_uuid au;
    int rc;

    if (rec->size < DEDUPE_MIN_SIZE)
        return 0;
    rc =
        cf_objdb_find_content(odb, rec->sha512, rec->size, rec->xform, rec->replicas, &holder, err);
    if (rc <= 0)
        return rc;
    /* An alias reads with its holder's key: sharing bytes written under
     * another key would make them unreadable. */
    if (holder.key_len != rec->key_len || memcmp(holder.key, rec->key, rec->key_len) != 0)
        return 0;
    /* The holder's record is not its bytes: they must be there, and read
     * back whole, so a bit-rotted holder never replaces good fresh bytes. */
    if (cf__maint_present(view, nview, &holder, stall_s, rec->nfilers) < rec->nfilers)
        return 0;
    /* The alias goes in the holder's shard (one shard to read it), or, if
     * that takes no new records now, in the upload's own shard with a ref
     * in the holder's (objdb.h "Dedupe"). */
    rc = cf_objdb_reserve(odb, holder.uuid.shard, &au, err);
    if ((rc == CF_EREADONLY || rc == CF_ENOSPC || rc == CF_ENOTFOUND) &&
        holder.uuid.shard != rec->uuid.shard)
        rc = cf_objdb_reserve(odb, rec->uuid.shard, &au, err);
    if (rc == CF_EREADONLY || rc == CF_ENOSPC || rc == CF_ENOTFOUND)
        return 0; /* no shard to put the alias in */
    if (rc < 0)
        return rc;
    rc = cf_objdb_commit_alias(odb, &au, &holder.uuid, rec->created_ms, err);
    if (rc == CF_ENOTFOUND)
        return 0; /* the holder was deleted meanwhile */
    if (rc < 0)
        return rc;
    *alias = holder;
    alias->uuid = au;
    alias->deleted = false;
    alias->deleted_ms = 0;
    alias->created_ms = rec->created_ms != 0 ? rec->created_ms : cf_wall_ms();
    return 1;
}

/* ---- the job ---- */

/* The job's state for the walk (maint_int.h). */
struct dedupe {
    struct cf_job *j;
    struct cf_objdb_dup *page; /* BATCH: the pairs the walk listed */
};

/* Whether the holder's replicas on the filers answer for its content, at
 * least as many as the duplicate has and wants: a duplicate never gives up
 * good bytes for a record whose bytes are gone or corrupt (read back). */
static bool holder_whole(struct cf_job *j, const struct cf_objdb_record *holder,
                         const struct cf_objdb_record *dup)
{
    const struct cf_job_env *env = cf_job_env(j);
    struct cf_objdb_filer *view = NULL;
    size_t nview = 0;
    unsigned present, need = dup->nfilers > dup->replicas ? dup->nfilers : dup->replicas;

    env->filers(env->filers_ctx, &view, &nview);
    present = cf__maint_present(view, nview, holder, env->stall_s, need);
    free(view);
    return present >= need;
}

/* Make one duplicate an alias. Returns 0, or a db.h error that stops the
 * job (it resumes from the last checkpoint). */
static int dedupe_pair(struct cf_job *j, const struct cf_objdb_dup *d, char *err)
{
    struct cf_objdb *odb = cf_job_env(j)->odb;
    struct cf_objdb_record dup, holder;
    char ht[CF_UUID_SIZE], dt[CF_UUID_SIZE], why[CF_ERR_LEN] = "";
    int rc;

    cf_uuid_format(&d->holder, ht);
    cf_uuid_format(&d->dup, dt);
    cf_job_count(j, "pairs", 1);
    rc = cf_objdb_get(odb, &d->dup, 0, &dup, why);
    if (rc == 0 && dup.size < DEDUPE_MIN_SIZE) {
        cf_job_count(j, "skipped", 1);
        return 0;
    }
    if (rc == 0)
        rc = cf_objdb_get(odb, &d->holder, 0, &holder, why);
    if (rc == 0 && !holder_whole(j, &holder, &dup)) {
        cf_job_count(j, "skipped", 1);
        cf_job_log(j, CF_SCRIBE_MISSING, 0, ht,
                   "dedupe job: fewer replicas answer than %s has; not shared (audit it)", dt);
        return 0;
    }
    if (rc == 0)
        rc = cf_objdb_make_alias(odb, d, why);
    if (rc == CF_ENOTFOUND) {
        cf_job_count(j, "skipped", 1);
        cf_log(CF_LOG_DEBUG, "dedupe: %s left alone (changed since listed): %s", dt, why);
        return 0;
    }
    if (rc < 0) {
        cf_err_set(err, "dedupe: %s: %s", dt, why);
        return rc;
    }
    cf_job_count(j, "aliased", 1);
    cf_job_count(j, "bytes_saved", dup.size * dup.nfilers);
    cf_job_done(j, 1, dup.size);
    cf_log(CF_LOG_INFO, "dedupe: object %s now shares the replicas of %s (%" PRIu64 " bytes)", dt,
           ht, dup.size);
    cf_job_log(j, CF_SCRIBE_DEDUPE, 0, dt, "dedupe job: now an alias of %s; %u replicas to drop",
               ht, dup.nfilers);
    return 0;
}

/* The walk's list: a page of duplicate pairs, each at its duplicate's
 * position. */
static int list_page(void *ctx, struct cf_objdb_cursor *c, struct cf_uuid *at, size_t max,
                     char *err)
{
    struct dedupe *dd = ctx;
    int n = cf_objdb_list_dups(cf_job_env(dd->j)->odb, DEDUPE_MIN_SIZE, c, dd->page, max, err);

    for (int i = 0; i < n; i++)
        at[i] = dd->page[i].dup;
    return n;
}

/* The walk's handler. A stop or an error part way redoes the batch on
 * resume: pairs already aliased are no longer listed, so nothing is done
 * twice. */
static int handle_page(void *ctx, struct cf__maint_page *pg, char *err)
{
    struct dedupe *dd = ctx;

    for (size_t i = 0; i < pg->n; i++) {
        int rc = dedupe_pair(dd->j, &dd->page[i], err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int dedupe_run(struct cf_job *j, char *err)
{
    static const char *const names[] = {
        "pairs",        "aliased",       "skipped",    "bytes_saved",   "refs_kept",
        "refs_dropped", "stale_deleted", "stale_kept", "stale_skipped", "stale_failed"};
    const struct cf_job_env *env = cf_job_env(j);
    struct dedupe dd = {.j = j};
    struct cf__maint_walk w = {
        .j = j, .batch = BATCH, .list = list_page, .handle = handle_page, .ctx = &dd};
    struct cf_stale_stats st = {0};
    uint64_t kept = 0, dropped = 0;
    int rc;

    rc = cf__maint_walk_resume(&w, err);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < CF_ARRAY_LEN(names); i++)
        cf_job_count(j, names[i], 0);
    dd.page = cf_xcalloc(BATCH, sizeof(*dd.page));
    rc = cf__maint_walk_run(&w, err);
    if (rc < 0)
        goto out;
    /* Refs of aliases in other shards that did not commit, or whose
     * alias is gone (a crash between two steps), once they are older than
     * the stale delay: their holders may then be purged. */
    rc = cf_objdb_ref_sweep(env->odb, cf_clockguard_now(env->clock, NULL) - env->stale_delay_ms,
                            &kept, &dropped, err);
    cf_job_count(j, "refs_kept", kept);
    cf_job_count(j, "refs_dropped", dropped);
    if (rc < 0)
        goto out;
    /* The duplicates' replicas are on the stale list: delete those whose
     * delay has passed (the rest go with a later drain). */
    rc = cf_stale_drain(env->odb, cf_clockguard_now(env->clock, NULL), env->stale_delay_ms,
                        CF_PURGE_TIMEOUT_MS, &st, err);
    cf_job_count(j, "stale_deleted", st.deleted);
    cf_job_count(j, "stale_kept", st.kept);
    cf_job_count(j, "stale_skipped", st.skipped);
    cf_job_count(j, "stale_failed", st.failed);
    if (rc < 0)
        goto out;
    cf_log(CF_LOG_INFO,
           "dedupe done: pairs=%" PRIu64 " aliased=%" PRIu64 " bytes_saved=%" PRIu64
           " stale_deleted=%" PRIu64,
           cf_job_counter(j, "pairs"), cf_job_counter(j, "aliased"),
           cf_job_counter(j, "bytes_saved"), cf_job_counter(j, "stale_deleted"));
    rc = 0;
out:
    free(dd.page);
    return rc;
}

/* No arguments: it moves no bytes, so it takes no bandwidth limit either. */
const struct cf_job_kind cf_job_dedupe = {
    .name = "dedupe",
    .run = dedupe_run,
};
