/*
 * rebuild.c -- the rebuild job (maint.h; patent claims 18-20): every object
 * filer F held gets its replica back.
 *
 * Methods (args "method"): "index" walks the per-filer rebuild index
 * (cf_objdb_list_by_filer, then one look-up per object), "scan" walks the
 * object records themselves (cf_objdb_list_records with F). Both visit the
 * objects in (shard, object id) order, so one cursor serves both.
 *
 * Where the replica goes, decided when the run starts:
 *   in place   F is writable and no "to": F was wiped (or lost files) and is
 *              back; each object is copied back to F from another replica.
 *              The record does not change. If F holds different bytes under
 *              the path, they are left for the audit (counted "conflict").
 *   to G       copied to G, then the record's F becomes G in one shard
 *              transaction (F's bytes, if F is up, go to the stale list
 *              and are deleted after the readers' cache delay). If the
 *              record already lists G, another filer is chosen.
 *   elsewhere  F is not writable and no "to": a filer chosen per object by
 *              the distributor, then as "to G" (F's copy is forgotten when
 *              F is down).
 * Copy first, record second (DESIGN §4): a record never lists a filer
 * before its copy is durable and verified, and no good replica is dropped.
 *
 * The walk (maint_int.h) lists batches of CF__MAINT_BATCH objects, copied
 * CF__MAINT_WORKERS at a time (records are read and changed on the job's
 * thread); the cursor is saved after a batch is done, so a run killed at
 * any point redoes at most one batch, whose steps are idempotent
 * (cf_replica_ensure finds the copy already there). Objects that fail (no
 * source online, a busy record) are retried in two more rounds within their
 * batch, then counted "failed"; a run that ends with failures resets its
 * cursor, so running it again walks every object once more (finished ones
 * cost a HEAD).
 */
#include "coffer/maint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/log.h"
#include "coffer/replica.h"
#include "coffer/uuid.h"
#include "maint_int.h"

/* Pause before retrying the failures of a batch (a busy record, a filer
 * restarting). */
#define RETRY_PAUSE_MS 200
#define RETRIES        2

/* ---- the job ---- */

enum mode { IN_PLACE, TO_FILER, ELSEWHERE };

struct rebuild {
    struct cf_job *j;
    const struct cf_job_env *env;
    uint32_t f, to;
    bool scan, f_up;
    enum mode mode;
    struct cf_objdb_filer *view;
    size_t nview;
    struct cf_objdb_record *recs; /* CF__MAINT_BATCH: a page listed by "scan" */
    struct item *items;           /* CF__MAINT_BATCH */
    struct cf__maint_pool *pool;
};

/* What became of one object. */
enum outcome { OK, RETRY, COPY };

/* One object in flight: prepared and finished on the job's thread, copied
 * on a worker (cf__maint_pool_run). */
struct item {
    struct cf_uuid uuid;
    struct cf_objdb_record rec;
    uint32_t target;
    char urls[CF_OBJDB_REPLICAS_MAX][CF_REPLICA_URL_MAX], dst[CF_REPLICA_URL_MAX];
    const char *srcs[CF_OBJDB_REPLICAS_MAX];
    size_t ns;
    /* the copy's result */
    int rc;
    bool copied, ran, settled; /* settled: finished by its worker */
    uint64_t hold;             /* out of place: the hold on the copy (cf__maint_place) */
    char why[CF_ERR_LEN];
};
static const char *const methods[] = {"index", "scan", NULL};

static const struct cf_job_arg arg_table[] = {
    {.name = "filer",
     .metavar = "F",
     .type = CF_JOB_ARG_FILER,
     .required = true,
     .help = "the filer to rebuild"},
    {.name = "to",
     .metavar = "G",
     .type = CF_JOB_ARG_FILER,
     .help = "copy its objects to this filer instead (0: back to the filer, or elsewhere if it "
             "is down)"},
    {.name = "method",
     .type = CF_JOB_ARG_ENUM,
     .choices = methods,
     .def = "index",
     .help = "index (the per-filer index) or scan (the object records)"},
    CF_JOB_ARG_BW_MBPS,
};

/* What the table cannot say: both filers registered, and distinct. */
static int check(const struct cf_job_env *env, json_t *args, char *err)
{
    json_int_t f = json_integer_value(json_object_get(args, "filer"));
    json_int_t to = json_integer_value(json_object_get(args, "to"));
    struct cf_objdb_filer row;

    if (cf_objdb_filer_get(env->odb, (uint32_t)f, &row, NULL) < 0) {
        cf_err_set(err, "filer %" PRId64 " is not registered", (int64_t)f);
        return CF_EINVAL;
    }
    if (to == f) {
        cf_err_set(err, "\"to\" must be another filer's id");
        return CF_EINVAL;
    }
    if (to != 0 && cf_objdb_filer_get(env->odb, (uint32_t)to, &row, NULL) < 0) {
        cf_err_set(err, "filer %" PRId64 " is not registered", (int64_t)to);
        return CF_EINVAL;
    }
    return 0;
}

static void refresh_view(struct rebuild *b)
{
    free(b->view);
    b->view = NULL;
    b->nview = 0;
    b->env->filers(b->env->filers_ctx, &b->view, &b->nview);
}

/* Whether F takes writes both in this process's view and in the summary
 * table. The view can lag the table by a poll: a monitor that has just
 * seen F go offline and starts this job must not get an in-place rebuild
 * of a filer that does not answer. */
static bool writable_everywhere(struct rebuild *b, const struct cf_objdb_filer *f)
{
    struct cf_objdb_filer row;

    if (!cf_objdb_filer_writable(f))
        return false;
    return cf_objdb_filer_get(b->env->odb, b->f, &row, NULL) < 0 || cf_objdb_filer_writable(&row);
}

/* Decide where it->rec goes. Returns OK (nothing to copy: counted),
 * RETRY, or COPY with it->target, dst and the sources set. */
static enum outcome prepare(struct rebuild *b, struct item *it)
{
    const struct cf_objdb_record *rec = &it->rec;
    const struct cf_objdb_filer *target = NULL;
    char text[CF_UUID_SIZE];

    cf_uuid_format(&rec->uuid, text);
    /* An alias now (dedupe ran meanwhile): its holder is in the walk. */
    if (cf__maint_is_alias(rec) || !cf__maint_lists(rec, b->f)) {
        cf_job_count(b->j, "skipped", 1);
        cf_job_done(b->j, 1, 0);
        return OK;
    }
    if (b->mode == IN_PLACE)
        target = cf_objdb_filer_find(b->view, b->nview, b->f);
    else if (b->mode == TO_FILER && !cf__maint_lists(rec, b->to))
        target = cf_objdb_filer_find(b->view, b->nview, b->to);
    else
        target = cf__maint_choose(b->view, b->nview, rec, b->f);
    if (!cf_objdb_filer_writable(target)) {
        cf_log(CF_LOG_INFO, "rebuild: object %s: no online filer to copy it to", text);
        return RETRY;
    }
    it->ns = cf__maint_sources(b->view, b->nview, rec, b->f, it->urls, it->srcs);
    if (it->ns == 0) {
        cf_log(CF_LOG_WARN, "rebuild: object %s: no other replica is online", text);
        return RETRY;
    }
    if (cf_replica_url(target->url, rec->path, it->dst) < 0)
        return RETRY;
    it->target = target->id;
    return COPY;
}

/* In place, a copy that worked, or found other bytes, ends here, on its
 * worker (job.h allows count, done and log there), so that progress
 * advances with the copies. Returns whether it is settled. */
static bool settle_in_place(struct rebuild *b, struct item *it)
{
    char text[CF_UUID_SIZE];

    if (b->mode != IN_PLACE || (it->rc < 0 && it->rc != CF_EEXIST))
        return false;
    cf_uuid_format(&it->rec.uuid, text);
    if (it->rc == CF_EEXIST) {
        /* Other bytes under the object's path: not ours to overwrite. */
        cf_job_count(b->j, "conflict", 1);
        cf_job_log(b->j, CF_SCRIBE_CHECKSUM, it->target, text, "other bytes on filer: %s", it->why);
        cf_job_done(b->j, 1, 0);
        return true;
    }
    /* Routine success is counted, not logged per object: a rebuild of a
     * wiped filer restores every replica it held, and one durable scribe
     * row per object would cost more than the copy of a small one. The
     * scribe keeps the anomalies and the job's start, progress and end. */
    if (it->copied) {
        cf_job_count(b->j, "copied", 1);
        cf_job_count(b->j, "copied_bytes", it->rec.stored_size);
        cf_log(CF_LOG_DEBUG, "rebuild: object %s: replica restored on filer %" PRIu32, text,
               it->target);
    } else {
        cf_job_count(b->j, "present", 1);
    }
    cf_job_done(b->j, 1, it->copied ? it->rec.stored_size : 0);
    return true;
}

/* The copy itself, on a worker (job.h: throttle may be called there, and
 * is, so that the copies in flight keep to the bandwidth limit between
 * them). In place, F is listed already; elsewhere the copy is held until
 * the record lists it (maint_int.h). */
static void copy_item(void *ctx, size_t i)
{
    struct rebuild *b = ctx;
    struct item *it = &b->items[i];

    if (!it->ran)
        return;
    it->why[0] = '\0';
    it->copied = false;
    it->settled = false;
    if (b->mode == IN_PLACE)
        it->rc = cf_replica_ensure(it->srcs, it->ns, it->dst, it->rec.stored_size,
                                   it->rec.stored_sha512, b->env->stall_s, &it->copied, it->why);
    else
        it->rc = cf__maint_place(b->env->odb, &it->rec, it->target, it->dst, it->srcs, it->ns,
                                 b->env->stall_s, &it->copied, &it->hold, it->why);
    if (it->rc == 0 && it->copied)
        cf_job_throttle(b->j, it->rec.stored_size);
    it->settled = settle_in_place(b, it);
}

/* After the copy, on the job's thread: what its worker did not settle
 * (failures to retry; out of place, the record's change). */
static enum outcome finish(struct rebuild *b, struct item *it)
{
    const struct cf_objdb_record *rec = &it->rec;
    char text[CF_UUID_SIZE], why[CF_ERR_LEN] = "";
    struct cf_objdb_record now;
    int rc = it->rc;

    cf_uuid_format(&rec->uuid, text);
    if (rc == CF_EEXIST) {
        /* Other bytes under the object's path: not ours to overwrite. */
        cf_job_count(b->j, "conflict", 1);
        cf_job_log(b->j, CF_SCRIBE_CHECKSUM, it->target, text, "other bytes on filer: %s", it->why);
        return RETRY;
    }
    if (rc < 0) {
        cf_log(CF_LOG_WARN, "rebuild: object %s to filer %" PRIu32 " not copied: %s", text,
               it->target, it->why);
        return RETRY;
    }
    if (it->copied) {
        cf_job_count(b->j, "copied", 1);
        cf_job_count(b->j, "copied_bytes", rec->stored_size);
    } else {
        cf_job_count(b->j, "present", 1);
    }
    /* The batch's other copies and their throttle ran since this copy was
     * made: the hold is renewed (or found lost) right before the listing. */
    rc = cf__maint_renew(b->env->odb, rec, it->target, &it->hold, why);
    if (rc == 0)
        rc = cf_objdb_replica_move(b->env->odb, &rec->uuid, b->f, it->target, b->f_up, why);
    else if (rc == CF_EBUSY)
        cf_log(CF_LOG_INFO, "rebuild: object %s: %s; copying again later", text, why);
    if (rc == 0) {
        cf_job_count(b->j, "moved", 1);
        cf_log(CF_LOG_DEBUG,
               "rebuild: object %s: replica of filer %" PRIu32 " now on filer %" PRIu32, text, b->f,
               it->target);
        cf_job_done(b->j, 1, it->copied ? rec->stored_size : 0);
        return OK;
    }
    /* Not listed: the stale drain deletes the copy unless a record lists
     * it by then (the record may list the target already). */
    cf__maint_release(b->env->odb, rec, it->target);
    if (rc == CF_EBUSY || rc == CF_EEXIST)
        return RETRY;
    if (rc != CF_ENOTFOUND) {
        cf_log(CF_LOG_WARN, "rebuild: object %s: record not updated: %s", text, why);
        return RETRY;
    }
    /* Deleted meanwhile, or F is no longer listed. */
    rc = cf_objdb_get(b->env->odb, &rec->uuid, CF_OBJDB_GET_DELETED, &now, why);
    if (rc == 0 || rc == CF_ENOTFOUND)
        cf_job_count(b->j, rc == 0 ? "skipped" : "gone", 1);
    else
        return RETRY;
    cf_job_done(b->j, 1, 0);
    return OK;
}

/* Handle items[0..n) (their uuid set; rec too when have_rec): look up,
 * prepare, copy on the pool (CF__MAINT_WORKERS at once), finish. The
 * UUIDs to retry go to fail[*nfail]. Returns 0, or CF_ECANCELED when a stop
 * was asked (the batch is then redone by the next run). */
static int handle(struct rebuild *b, size_t n, bool have_rec, struct cf_uuid *fail, size_t *nfail)
{
    for (size_t i = 0; i < n; i++) {
        struct item *it = &b->items[i];
        enum outcome o;

        it->ran = false;
        it->settled = false;
        if (!have_rec) {
            int rc = cf_objdb_get(b->env->odb, &it->uuid, CF_OBJDB_GET_DELETED, &it->rec, NULL);
            if (rc == CF_ENOTFOUND) {
                cf_job_count(b->j, "gone", 1);
                cf_job_done(b->j, 1, 0);
                continue;
            }
            if (rc < 0) {
                fail[(*nfail)++] = it->uuid;
                continue;
            }
        }
        o = prepare(b, it);
        if (o == RETRY)
            fail[(*nfail)++] = it->uuid;
        it->ran = o == COPY;
    }
    cf__maint_pool_run(b->pool, n, copy_item, b, b->j);
    if (cf_job_should_stop(b->j))
        return CF_ECANCELED;
    for (size_t i = 0; i < n; i++)
        if (b->items[i].ran && !b->items[i].settled && finish(b, &b->items[i]) == RETRY)
            fail[(*nfail)++] = b->items[i].uuid;
    return 0;
}

/* Objects the index lists for F from cursor c on (an estimate of the work
 * left). */
static uint64_t count_left(struct rebuild *b, struct cf_objdb_cursor c)
{
    struct cf_uuid *buf = cf_xcalloc(1024, sizeof(*buf));
    uint64_t n = 0;

    while (!c.done && !cf_job_should_stop(b->j)) {
        int got = cf_objdb_list_by_filer(b->env->odb, b->f, &c, buf, 1024, NULL);
        if (got < 0)
            break;
        n += (uint64_t)got;
    }
    free(buf);
    return n;
}

/* The walk's list: a page of F's objects, by the index or by the records. */
static int list_page(void *ctx, struct cf_objdb_cursor *c, struct cf_uuid *at, size_t max,
                     char *err)
{
    struct rebuild *b = ctx;
    int n;

    if (!b->scan)
        return cf_objdb_list_by_filer(b->env->odb, b->f, c, at, max, err);
    n = cf_objdb_list_records(b->env->odb, b->f, c, b->recs, max, err);
    for (int i = 0; i < n; i++)
        at[i] = b->recs[i].uuid;
    return n;
}

/* The walk's handler: a page, or a retry round of its failures, with a
 * fresh view of the filers (a filer restarting may be back). */
static int handle_page(void *ctx, struct cf__maint_page *pg, char *err)
{
    struct rebuild *b = ctx;
    bool have_rec = b->scan && pg->round == 0;

    (void)err;
    refresh_view(b);
    for (size_t i = 0; i < pg->n; i++) {
        b->items[i].uuid = pg->at[i];
        if (have_rec)
            b->items[i].rec = b->recs[i];
    }
    return handle(b, pg->n, have_rec, pg->fail, &pg->nfail);
}

/* The walk's last word on a page: what still fails is left for the next
 * run, and counted. */
static int give_up(void *ctx, const struct cf_uuid *fail, size_t n, char *err)
{
    struct rebuild *b = ctx;
    char text[CF_UUID_SIZE];

    (void)err;
    if (cf_job_should_stop(b->j))
        return CF_ECANCELED;
    for (size_t i = 0; i < n; i++) {
        cf_uuid_format(&fail[i], text);
        cf_job_log(b->j, NULL, b->f, text, "object not rebuilt; left for the next run");
    }
    cf_job_count(b->j, "failed", n);
    cf_job_done(b->j, n, 0);
    return 0;
}

static int run(struct cf_job *j, char *err)
{
    const json_t *args = cf_job_args(j);
    struct rebuild b = {.j = j, .env = cf_job_env(j)};
    struct cf__maint_walk w = {.j = j,
                               .batch = CF__MAINT_BATCH,
                               .retries = RETRIES,
                               .retry_pause_ms = RETRY_PAUSE_MS,
                               .list = list_page,
                               .handle = handle_page,
                               .give_up = give_up,
                               .ctx = &b};
    const struct cf_objdb_filer *f;
    uint64_t failed;
    int rc;

    b.f = (uint32_t)json_integer_value(json_object_get(args, "filer"));
    b.to = (uint32_t)json_integer_value(json_object_get(args, "to"));
    b.scan = strcmp(json_string_value(json_object_get(args, "method")), "scan") == 0;
    rc = cf__maint_walk_resume(&w, err);
    if (rc < 0)
        goto out;
    b.recs = cf_xcalloc(CF__MAINT_BATCH, sizeof(*b.recs));
    b.items = cf_xcalloc(CF__MAINT_BATCH, sizeof(*b.items));
    b.pool = cf__maint_pool_new(CF__MAINT_WORKERS);
    refresh_view(&b);
    f = cf_objdb_filer_find(b.view, b.nview, b.f);
    b.f_up = cf_objdb_filer_up(f);
    b.mode = b.to ? TO_FILER : writable_everywhere(&b, f) ? IN_PLACE : ELSEWHERE;
    cf_job_log(j, NULL, b.f, NULL, "rebuilding filer %" PRIu32 " (%s, %s method)%s", b.f,
               b.mode == IN_PLACE   ? "in place"
               : b.mode == TO_FILER ? "to another filer"
                                    : "on other filers",
               b.scan ? "scan" : "index", b.f_up ? "" : "; the filer is down");
    if (b.mode == TO_FILER)
        cf_job_log(j, NULL, b.to, NULL, "target filer %" PRIu32, b.to);
    /* Objects done by earlier runs of this job, plus what the index still
     * lists from the cursor on. */
    cf_job_set_total(j, cf_job_done_objects(j) + count_left(&b, w.cur), 0);
    rc = cf__maint_walk_run(&w, err);
    if (rc < 0)
        goto out;
    failed = cf_job_counter(j, "failed");
    if (failed > 0) {
        /* Walk everything again next time: the failures are spread out. */
        cf_job_reset_progress(j);
        rc = cf_job_checkpoint(j, "", NULL);
        (void)rc;
        rc = CF_EUNAVAIL;
        cf_err_set(err,
                   "%" PRIu64 " objects of filer %" PRIu32
                   " could not be rebuilt (see the log); run the job again",
                   failed, b.f);
        goto out;
    }
    rc = 0;
out:
    free(b.recs);
    cf__maint_pool_free(b.pool);
    free(b.items);
    free(b.view);
    return rc;
}

const struct cf_job_kind cf_job_rebuild = {
    .name = "rebuild",
    .args = arg_table,
    .nargs = CF_ARRAY_LEN(arg_table),
    .check = check,
    .run = run,
};
