/*
 * rebalance.c -- the rebalance job (maint.h): move replicas from over-full
 * to under-full filers until every filer is within the tolerance of the
 * mean fill (rebalance_int.h has the planner and its rules).
 *
 * The fills come from each writable online filer's GET /status, read fresh
 * when the run starts, less the bytes of replicas already dropped from
 * their records but not yet deleted (the stale list): a run that follows a
 * killed one does not move the same bytes twice. From then on the job keeps
 * its own accounting.
 *
 * One move: the record is read again (a reader's view of it may be old), a
 * receiver chosen that does not hold the object (never two replicas on one
 * filer) and whose data center keeps the object's spread over data
 * centers (rebalance_int.h), the bytes copied and verified there (cf_replica_ensure), then the
 * record's donor replaced by the receiver in one shard transaction, which
 * puts the donor's copy on the stale list. The copy on the donor is deleted
 * only by cf_stale_drain, at the end of the run and by the app's periodic
 * pass, once it has been out of every record for the stale delay: objsrv
 * caches records (30 s by default), and a reader holding the old record
 * must still find its bytes on the donor. So no reader ever follows a
 * record to a missing copy, and at no moment does an object have fewer
 * good replicas than before.
 *
 * Cursor: "DONOR:SHARD:OID" (a keyed walk, maint_int.h), the donor being
 * walked (its per-filer index) and the position in its walk; a rerun
 * recomputes the fills and, when the same donor comes first, goes on from
 * there.
 */
#include "coffer/maint.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/clockguard.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/log.h"
#include "coffer/purge.h"
#include "coffer/uuid.h"
#include "maint_int.h"
#include "rebalance_int.h"

/* ---- the planner (rebalance_int.h) ---- */

static double fill(const struct cf__rb_filer *f)
{
    return f->total ? (double)f->used / (double)f->total : 0.0;
}

double cf__rb_mean(const struct cf__rb_filer *f, size_t n)
{
    double used = 0, total = 0;

    for (size_t i = 0; i < n; i++)
        if (f[i].total > 0) {
            used += (double)f[i].used;
            total += (double)f[i].total;
        }
    return total > 0 ? used / total : 0.0;
}

bool cf__rb_balanced(const struct cf__rb_filer *f, size_t n, double tol)
{
    double mean = cf__rb_mean(f, n);

    for (size_t i = 0; i < n; i++)
        if (f[i].total > 0 && fabs(fill(&f[i]) - mean) > tol * mean)
            return false;
    return true;
}

int cf__rb_donor(const struct cf__rb_filer *f, size_t n, double tol)
{
    double mean = cf__rb_mean(f, n);
    int best = -1;

    if (cf__rb_balanced(f, n, tol))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (f[i].total > 0 && !f[i].exhausted && fill(&f[i]) > mean &&
            (best < 0 || fill(&f[i]) > fill(&f[best])))
            best = (int)i;
    return best;
}

static const char *dc_text(const char *dc)
{
    return dc != NULL ? dc : "";
}

bool cf__rb_keeps_spread(const char *const *hdc, size_t nh, size_t k, const char *to_dc)
{
    const char *from = dc_text(hdc != NULL ? hdc[k] : NULL), *to = dc_text(to_dc);
    bool from_elsewhere = false, to_elsewhere = false;

    if (strcmp(from, to) == 0)
        return true;
    for (size_t i = 0; i < nh; i++) {
        const char *h = dc_text(hdc != NULL ? hdc[i] : NULL);
        if (i == k)
            continue;
        from_elsewhere = from_elsewhere || strcmp(h, from) == 0;
        to_elsewhere = to_elsewhere || strcmp(h, to) == 0;
    }
    /* Losing the donor's data center needs a new one in exchange. */
    return from_elsewhere || !to_elsewhere;
}

int cf__rb_receiver(const struct cf__rb_filer *f, size_t n, size_t d, const uint32_t *holders,
                    const char *const *hdc, size_t nh, uint64_t size)
{
    double mean = cf__rb_mean(f, n), s = (double)size;
    size_t kd = nh;
    int best = -1;

    if (size == 0 || f[d].total == 0 || f[d].used < size)
        return -1;
    for (size_t k = 0; k < nh; k++)
        if (holders[k] == f[d].id)
            kd = k;
    for (size_t i = 0; i < n; i++) {
        bool holds = false;
        if (i == d || f[i].total == 0 || fill(&f[i]) >= mean)
            continue;
        for (size_t k = 0; k < nh && !holds; k++)
            holds = holders[k] == f[i].id;
        if (holds)
            continue;
        if (kd < nh && !cf__rb_keeps_spread(hdc, nh, kd, f[i].dc))
            continue;
        if (fill(&f[i]) + s / (double)f[i].total > fill(&f[d]) - s / (double)f[d].total)
            continue;
        if (best < 0 || fill(&f[i]) < fill(&f[best]))
            best = (int)i;
    }
    return best;
}

void cf__rb_apply(struct cf__rb_filer *f, size_t d, size_t r, uint64_t size)
{
    f[d].used -= size;
    f[r].used += size;
}

size_t cf__rb_plan(struct cf__rb_filer *f, size_t n, struct cf__rb_object *o, size_t no, double tol,
                   struct cf__rb_move *moves, size_t cap)
{
    size_t made = 0, *pos = calloc(n ? n : 1, sizeof(*pos));
    bool *pass_moved = calloc(n ? n : 1, sizeof(*pass_moved));

    cf_assert(pos != NULL && pass_moved != NULL);
    /* As the job: each donor's walk goes on from where it stopped; a donor
     * is exhausted after a whole pass over its objects without a move. */
    for (;;) {
        int d = cf__rb_donor(f, n, tol);
        if (d < 0)
            break;
        while (pos[d] < no && cf__rb_donor(f, n, tol) == d) {
            struct cf__rb_object *x = &o[pos[d]];
            int r;
            unsigned k;
            for (k = 0; k < x->n && x->filers[k] != f[d].id; k++)
                ;
            if (k < x->n) {
                const char *hdc[CF_OBJDB_REPLICAS_MAX] = {NULL};
                for (unsigned h = 0; h < x->n; h++)
                    for (size_t i = 0; i < n; i++)
                        if (f[i].id == x->filers[h])
                            hdc[h] = f[i].dc;
                r = cf__rb_receiver(f, n, (size_t)d, x->filers, hdc, x->n, x->size);
                if (r >= 0) {
                    cf__rb_apply(f, (size_t)d, (size_t)r, x->size);
                    x->filers[k] = f[r].id;
                    if (made < cap)
                        moves[made] =
                            (struct cf__rb_move){.obj = pos[d], .from = f[d].id, .to = f[r].id};
                    made++;
                    pass_moved[d] = true;
                }
            }
            pos[d]++;
        }
        if (pos[d] == no) {
            if (!pass_moved[d])
                f[d].exhausted = true;
            pos[d] = 0;
            pass_moved[d] = false;
        }
    }
    free(pos);
    free(pass_moved);
    return made;
}

/* ---- the job ---- */

struct rebalance {
    struct cf_job *j;
    const struct cf_job_env *env;
    double tol;
    struct cf_objdb_filer *view;
    size_t nview;
    struct cf__rb_filer *f; /* participants */
    size_t n;
    uint64_t *objects; /* per participant, from /status */
    size_t d;          /* the donor walked */
    bool moved;        /* its walk moved something */
};

static const struct cf_job_arg arg_table[] = {
    {.name = "tolerance",
     .metavar = "0.1",
     .type = CF_JOB_ARG_REAL,
     .min = 0,
     .max = 1,
     .min_open = true,
     .max_open = true,
     .def = "0.1",
     .help = "each filer ends within this fraction of the mean fill"},
    CF_JOB_ARG_BW_MBPS,
};

/* Bytes of stale replicas (dropped from records, not yet deleted) on each
 * participant, found by HEAD, taken off its used bytes. */
static int discount_stale(struct rebalance *b, char *err)
{
    struct cf_objdb_cursor cur = {0};
    struct cf_objdb_stale *batch = cf_xcalloc(CF__MAINT_BATCH, sizeof(*batch));
    int rc = 0;

    while (!cur.done) {
        rc = cf_objdb_stale_list(b->env->odb, UINT64_MAX / 2, &cur, batch, CF__MAINT_BATCH, err);
        if (rc < 0)
            goto out;
        for (int i = 0; i < rc; i++) {
            const struct cf_objdb_filer *f = cf_objdb_filer_find(b->view, b->nview, batch[i].filer);
            char url[CF_REPLICA_URL_MAX];
            uint8_t sha[CF_SHA512_LEN];
            uint64_t size = 0;
            bool has_sha;
            long status = 0;
            for (size_t k = 0; k < b->n && f != NULL; k++) {
                if (b->f[k].id != f->id || cf_replica_url(f->url, batch[i].path, url) < 0 ||
                    cf_replica_head(url, b->env->stall_s, &status, &size, sha, &has_sha, NULL) <
                        0 ||
                    status != 200 || size == UINT64_MAX)
                    continue;
                b->f[k].used -= size < b->f[k].used ? size : b->f[k].used;
            }
        }
    }
    rc = 0;
out:
    free(batch);
    return rc;
}

/* The participants: writable online filers, with their /status now. */
static void read_fills(struct rebalance *b)
{
    b->f = cf_xcalloc(b->nview ? b->nview : 1, sizeof(*b->f));
    b->objects = cf_xcalloc(b->nview ? b->nview : 1, sizeof(*b->objects));
    b->n = 0;
    for (size_t i = 0; i < b->nview; i++) {
        const struct cf_objdb_filer *v = &b->view[i];
        char url[CF_OBJDB_URL_MAX + 16], err[CF_ERR_LEN] = "";
        json_t *j = NULL;
        long status = 0;

        if (!cf_objdb_filer_writable(v) || v->weight == 0)
            continue;
        (void)snprintf(url, sizeof(url), "%s/status", v->url);
        if (cf_httpc_json("GET", url, NULL, 5000, &status, &j, err) == 0 && status == 200 &&
            json_is_object(j) && !json_is_true(json_object_get(j, "read_only"))) {
            struct cf__rb_filer *f = &b->f[b->n];
            f->id = v->id;
            f->dc = v->dc;
            f->total = (uint64_t)json_integer_value(json_object_get(j, "total_bytes"));
            f->used = (uint64_t)json_integer_value(json_object_get(j, "used_bytes"));
            b->objects[b->n] = (uint64_t)json_integer_value(json_object_get(j, "objects"));
            b->n++;
        } else {
            cf_log(CF_LOG_INFO, "rebalance: filer %" PRIu32 " left out: no status (%s)", v->id,
                   err[0] ? err : "not 200");
        }
        json_decref(j);
    }
}

/* Move one replica of the object from donor d, if the planner finds a
 * receiver. Returns true when it moved. */
static bool move_one(struct rebalance *b, size_t d, const struct cf_uuid *uuid)
{
    char urls[CF_OBJDB_REPLICAS_MAX][CF_REPLICA_URL_MAX], dst[CF_REPLICA_URL_MAX];
    char text[CF_UUID_SIZE], why[CF_ERR_LEN] = "";
    const char *srcs[CF_OBJDB_REPLICAS_MAX], *hdc[CF_OBJDB_REPLICAS_MAX];
    const struct cf_objdb_filer *to;
    struct cf_objdb_record rec;
    bool copied = false;
    uint64_t hold = 0;
    size_t ns;
    int r, rc;

    /* Fresh: the walk's listing may be old by now. */
    rc = cf_objdb_get(b->env->odb, uuid, CF_OBJDB_GET_DELETED, &rec, NULL);
    if (rc < 0 || rec.deleted || cf__maint_is_alias(&rec) || !cf__maint_lists(&rec, b->f[d].id))
        return false;
    for (unsigned h = 0; h < rec.nfilers; h++) {
        const struct cf_objdb_filer *hf = cf_objdb_filer_find(b->view, b->nview, rec.filers[h]);
        hdc[h] = hf != NULL ? hf->dc : NULL;
    }
    r = cf__rb_receiver(b->f, b->n, d, rec.filers, hdc, rec.nfilers, rec.stored_size);
    if (r < 0)
        return false;
    to = cf_objdb_filer_find(b->view, b->nview, b->f[r].id);
    cf_uuid_format(uuid, text);
    ns = cf__maint_sources(b->view, b->nview, &rec, 0, urls, srcs);
    if (to == NULL || ns == 0 || cf_replica_url(to->url, rec.path, dst) < 0)
        return false;
    rc = cf__maint_place(b->env->odb, &rec, to->id, dst, srcs, ns, b->env->stall_s, &copied, &hold,
                         why);
    if (rc < 0) {
        cf_job_count(b->j, rc == CF_EEXIST ? "conflict" : "failed", 1);
        cf_log(CF_LOG_WARN, "rebalance: object %s to filer %" PRIu32 " not copied: %s", text,
               to->id, why);
        return false;
    }
    rc = cf__maint_renew(b->env->odb, &rec, to->id, &hold, why);
    if (rc == 0)
        rc = cf_objdb_replica_move(b->env->odb, uuid, b->f[d].id, to->id, true, why);
    /* The limit is kept after the listing, not between copy and listing. */
    if (copied)
        cf_job_throttle(b->j, rec.stored_size);
    if (rc == 0) {
        if (copied) {
            cf__rb_apply(b->f, d, (size_t)r, rec.stored_size);
        } else {
            /* Already there when the run read the fills (a copy made by a
             * run killed before it updated the record): counted in the
             * receiver's used bytes already. */
            b->f[d].used -= rec.stored_size < b->f[d].used ? rec.stored_size : b->f[d].used;
        }
        cf_job_count(b->j, "moved", 1);
        cf_job_done(b->j, 1, rec.stored_size);
        cf_log(CF_LOG_DEBUG, "rebalance: object %s moved from filer %" PRIu32 " to %" PRIu32, text,
               b->f[d].id, to->id);
        return true;
    }
    cf_job_count(b->j, rc == CF_EBUSY ? "busy" : "skipped", 1);
    /* The record changed meanwhile: the stale drain deletes the copy
     * unless a record lists it by then. */
    cf__maint_release(b->env->odb, &rec, to->id);
    return false;
}

/* The walk's list: a page of the donor's objects (its per-filer index). */
static int list_page(void *ctx, struct cf_objdb_cursor *c, struct cf_uuid *at, size_t max,
                     char *err)
{
    struct rebalance *b = ctx;

    return cf_objdb_list_by_filer(b->env->odb, b->f[b->d].id, c, at, max, err);
}

/* The walk's handler: move what the planner allows, until the page ends
 * or another donor leads (or the set is balanced). */
static int handle_page(void *ctx, struct cf__maint_page *pg, char *err)
{
    struct rebalance *b = ctx;

    (void)err;
    for (size_t i = 0; i < pg->n; i++) {
        if (cf_job_should_stop(b->j))
            return CF_ECANCELED;
        if (cf__rb_donor(b->f, b->n, b->tol) != (int)b->d) {
            /* Resume this donor's walk here when it leads again. */
            pg->done = i;
            return CF__MAINT_YIELD;
        }
        if (move_one(b, b->d, &pg->at[i]))
            b->moved = true;
    }
    return 0;
}

static int run(struct cf_job *j, char *err)
{
    struct rebalance b = {.j = j, .env = cf_job_env(j)};
    struct cf__maint_walk w = {.j = j,
                               .batch = CF__MAINT_BATCH,
                               .keyed = true,
                               .list = list_page,
                               .handle = handle_page,
                               .ctx = &b};
    struct cf_objdb_cursor *cursors = NULL, saved;
    bool *pass_moved = NULL;
    struct cf_stale_stats st;
    uint32_t saved_donor = 0;
    double mean, excess = 0;
    uint64_t est = 0;
    int rc;

    b.tol = json_number_value(json_object_get(cf_job_args(j), "tolerance"));
    /* Cursor: the donor walked (the key) and the position in its walk. */
    rc = cf__maint_walk_resume(&w, err);
    if (rc < 0)
        goto out;
    saved_donor = w.key;
    saved = w.cur;
    /* What earlier runs left to delete goes first, so /status is current. */
    rc = cf_stale_drain(b.env->odb, cf_clockguard_now(b.env->clock, NULL), b.env->stale_delay_ms,
                        CF_PURGE_TIMEOUT_MS, &st, err);
    if (rc < 0)
        goto out;
    b.env->filers(b.env->filers_ctx, &b.view, &b.nview);
    read_fills(&b);
    rc = discount_stale(&b, err);
    if (rc < 0)
        goto out;
    cursors = cf_xcalloc(b.n ? b.n : 1, sizeof(*cursors));
    pass_moved = cf_xcalloc(b.n ? b.n : 1, sizeof(*pass_moved));
    mean = cf__rb_mean(b.f, b.n);
    for (size_t i = 0; i < b.n; i++) {
        double over = (double)b.f[i].used - mean * (double)b.f[i].total;
        /* A walk resumed part way is not a whole pass (see below). */
        if (b.f[i].id == saved_donor) {
            cursors[i] = saved;
            pass_moved[i] = true;
        }
        if (over > 0) {
            excess += over;
            if (b.objects[i] > 0 && b.f[i].used > 0)
                est += (uint64_t)(over / ((double)b.f[i].used / (double)b.objects[i]));
        }
    }
    cf_job_set_total(j, cf_job_done_objects(j) + est, (uint64_t)excess);
    cf_job_log(j, NULL, 0, NULL,
               "%zu filers, mean fill %.4f, tolerance %.2f: about %" PRIu64
               " objects (%.0f bytes) to move",
               b.n, mean, b.tol, est, excess);
    for (;;) {
        int d = cf__rb_donor(b.f, b.n, b.tol);
        if (d < 0)
            break;
        /* Walk d's objects from where its walk stopped, moving what the
         * planner allows, until the walk ends, another donor leads, or the
         * set is balanced. */
        b.d = (size_t)d;
        b.moved = false;
        w.key = b.f[d].id;
        w.cur = cursors[d];
        rc = cf__maint_walk_run(&w, err);
        cursors[d] = w.cur;
        if (rc < 0)
            goto out;
        pass_moved[d] = pass_moved[d] || b.moved;
        if (cursors[d].done) {
            /* The end of a pass over the donor's objects: start over, or
             * give up on this donor when a whole pass moved nothing. */
            memset(&cursors[d], 0, sizeof(cursors[d]));
            if (!pass_moved[d])
                b.f[d].exhausted = true;
            pass_moved[d] = false;
        }
    }
    for (size_t i = 0; i < b.n; i++)
        cf_log(CF_LOG_INFO,
               "rebalance: filer %" PRIu32 " now holds %" PRIu64 " bytes (%.1f%% of the mean)",
               b.f[i].id, b.f[i].used,
               mean > 0 ? 100.0 * (double)b.f[i].used / ((double)b.f[i].total * mean) : 0.0);
    if (!cf__rb_balanced(b.f, b.n, b.tol)) {
        cf_job_count(j, "unbalanced", 1);
        cf_job_log(j, NULL, 0, NULL, "no more replicas can move; some filers stay outside %.0f%%",
                   b.tol * 100);
    }
    rc = cf_job_checkpoint(j, "", err);
    if (rc < 0)
        goto out;
    /* With a zero delay (tests) the donors' bytes go now; otherwise the
     * app's periodic pass deletes them once the delay is over. */
    rc = cf_stale_drain(b.env->odb, cf_clockguard_now(b.env->clock, NULL), b.env->stale_delay_ms,
                        CF_PURGE_TIMEOUT_MS, &st, err);
    if (rc < 0)
        goto out;
    cf_job_count(j, "stale_deleted", st.deleted);
    rc = 0;
out:
    free(cursors);
    free(pass_moved);
    free(b.f);
    free(b.objects);
    free(b.view);
    return rc;
}

const struct cf_job_kind cf_job_rebalance = {
    .name = "rebalance",
    .args = arg_table,
    .nargs = CF_ARRAY_LEN(arg_table),
    .run = run,
};
