/*
 * shardset.c -- a catalog database and the cache of the shards it lists
 * (shardset.h).
 */
#include "coffer/shardset.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/log.h"

struct cf_shardset {
    const struct cf_shardset_ops *ops;
    char *catalog_uri;
    char *catalog_dir; /* directory of a SQLite catalog, for relative locations; else NULL */
    unsigned pool_size;
    struct cf_db_pool *catalog;

    pthread_rwlock_t lock;
    struct cf_shardset_shard **shards; /* sorted by id */
    size_t nshards, cap;

    /* Serialises changes to the set of shards (re-read, add): they open
     * databases, which must not happen under `lock`. */
    pthread_mutex_t change_mu;
    uint64_t held_until_ns; /* no miss-driven re-read before this (cf_now_ns); under change_mu */

    atomic_uint rr; /* cf_shardset_pick's turn */
};

/* ---- entries ------------------------------------------------------------- */

int cf_shardset_resolve(const struct cf_shardset *set, const char *location, char *out, size_t cap,
                        char *err)
{
    static const char scheme[] = "sqlite:";
    const size_t sl = sizeof(scheme) - 1;
    int n, rc = 0;

    if (set->catalog_dir != NULL && strncmp(location, scheme, sl) == 0 && location[sl] != '/' &&
        location[sl] != '\0')
        n = snprintf(out, cap, "%s%s/%s", scheme, set->catalog_dir, location + sl);
    else
        n = snprintf(out, cap, "%s", location);
    if (n < 0 || (size_t)n >= cap) {
        char *shown = cf_db_uri_redact(location);
        cf_err_set(err, "shard location \"%.64s...\" is longer than %zu bytes", shown,
                   cap > 0 ? cap - 1 : 0);
        free(shown);
        rc = CF_EINVAL;
    }
    return rc;
}

static void entry_free(const struct cf_shardset *set, struct cf_shardset_shard *sh)
{
    if (sh == NULL)
        return;
    if (set->ops->shard_fini != NULL)
        set->ops->shard_fini(sh);
    cf_db_pool_close(sh->pool);
    free(sh->location);
    free(sh);
}

/* A new, unpublished entry for shard `id` at location (as stored): its pool
 * open and its database checked or, with create, initialised. */
static int entry_open(const struct cf_shardset *set, uint32_t id, const char *location, bool create,
                      struct cf_shardset_shard **out, char *err)
{
    struct cf_shardset_shard *sh = NULL;
    struct cf_db *db = NULL;
    char uri[CF_DB_URI_MAX + 1];
    int rc;

    *out = NULL;
    rc = cf_shardset_resolve(set, location, uri, sizeof(uri), err);
    if (rc < 0)
        goto out;
    sh = cf_xcalloc(1, set->ops->shard_size);
    sh->id = id;
    sh->location = cf_xstrdup(location);
    if (set->ops->shard_init != NULL)
        set->ops->shard_init(sh);
    rc = cf_db_pool_open(uri, set->pool_size, &sh->pool, err);
    if (rc < 0)
        goto out;
    db = cf_db_pool_acquire(sh->pool);
    rc = set->ops->open_db(db, uri, id, create, err);
    cf_db_pool_release(sh->pool, db);
    if (rc < 0)
        goto out;
    *out = sh;
    sh = NULL;
out:
    entry_free(set, sh);
    return rc;
}

/* ---- the sorted cache ---------------------------------------------------- */

/* Index of the first cached shard with id >= `id`. Caller holds set->lock. */
static size_t lower_bound(const struct cf_shardset *set, uint32_t id)
{
    size_t lo = 0, hi = set->nshards;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (set->shards[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct cf_shardset_shard *cf_shardset_get(struct cf_shardset *set, uint32_t id)
{
    struct cf_shardset_shard *sh = NULL;
    size_t i;

    pthread_rwlock_rdlock(&set->lock);
    i = lower_bound(set, id);
    if (i < set->nshards && set->shards[i]->id == id)
        sh = set->shards[i];
    pthread_rwlock_unlock(&set->lock);
    return sh;
}

struct cf_shardset_shard *cf_shardset_from(struct cf_shardset *set, uint32_t id)
{
    struct cf_shardset_shard *sh = NULL;
    size_t i;

    pthread_rwlock_rdlock(&set->lock);
    i = lower_bound(set, id);
    if (i < set->nshards)
        sh = set->shards[i];
    pthread_rwlock_unlock(&set->lock);
    return sh;
}

/* Publish sh. Caller holds change_mu, so its id is not cached yet. */
static void insert(struct cf_shardset *set, struct cf_shardset_shard *sh)
{
    size_t i;

    pthread_rwlock_wrlock(&set->lock);
    if (set->nshards == set->cap) {
        set->cap = set->cap == 0 ? 8 : set->cap * 2;
        set->shards = cf_xrealloc(set->shards, set->cap * sizeof(*set->shards));
    }
    i = lower_bound(set, sh->id);
    cf_assert(i == set->nshards || set->shards[i]->id != sh->id);
    memmove(&set->shards[i + 1], &set->shards[i], (set->nshards - i) * sizeof(*set->shards));
    set->shards[i] = sh;
    set->nshards++;
    pthread_rwlock_unlock(&set->lock);
}

struct cf_shardset_shard *cf_shardset_pick(struct cf_shardset *set, unsigned unwanted)
{
    struct cf_shardset_shard *sh = NULL;
    size_t nw = 0, k;

    pthread_rwlock_rdlock(&set->lock);
    for (size_t i = 0; i < set->nshards; i++)
        if ((set->shards[i]->flags & unwanted) == 0)
            nw++;
    if (nw > 0) {
        k = atomic_fetch_add(&set->rr, 1u) % nw;
        for (size_t i = 0; i < set->nshards && sh == NULL; i++) {
            if ((set->shards[i]->flags & unwanted) != 0)
                continue;
            if (k-- == 0)
                sh = set->shards[i];
        }
    }
    pthread_rwlock_unlock(&set->lock);
    return sh;
}

unsigned cf_shardset_flags(struct cf_shardset *set, const struct cf_shardset_shard *sh)
{
    unsigned flags;

    pthread_rwlock_rdlock(&set->lock);
    flags = sh->flags;
    pthread_rwlock_unlock(&set->lock);
    return flags;
}

uint64_t cf_shardset_limit(struct cf_shardset *set, const struct cf_shardset_shard *sh)
{
    uint64_t limit;

    pthread_rwlock_rdlock(&set->lock);
    limit = sh->limit;
    pthread_rwlock_unlock(&set->lock);
    return limit;
}

void cf_shardset_set_limit(struct cf_shardset *set, uint32_t id, uint64_t limit)
{
    struct cf_shardset_shard *sh = cf_shardset_get(set, id);

    if (sh == NULL)
        return;
    pthread_rwlock_wrlock(&set->lock);
    sh->limit = limit;
    pthread_rwlock_unlock(&set->lock);
}

void cf_shardset_set_flags(struct cf_shardset *set, uint32_t id, unsigned flags)
{
    struct cf_shardset_shard *sh = cf_shardset_get(set, id);

    if (sh == NULL)
        return;
    pthread_rwlock_wrlock(&set->lock);
    sh->flags = flags;
    pthread_rwlock_unlock(&set->lock);
}

size_t cf_shardset_snapshot(struct cf_shardset *set, struct cf_shardset_item **out)
{
    struct cf_shardset_item *v = NULL;
    size_t n;

    pthread_rwlock_rdlock(&set->lock);
    n = set->nshards;
    if (n > 0)
        v = cf_xcalloc(n, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        v[i].shard = set->shards[i];
        v[i].flags = set->shards[i]->flags;
        v[i].limit = set->shards[i]->limit;
    }
    pthread_rwlock_unlock(&set->lock);
    *out = v;
    return n;
}

/* ---- re-reading the shards table ------------------------------------------ */

/* Read the shards table; open the shards not cached yet and refresh the
 * flags and limits of the others. Caller holds change_mu. */
static int reload_locked(struct cf_shardset *set, char *err)
{
    const struct cf_shardset_ops *ops = set->ops;
    struct cf_db *db = cf_db_pool_acquire(set->catalog);
    struct cf_db_stmt *s = NULL;
    char location[CF_DB_URI_MAX + 1], *shown;
    int rc;

    rc = cf_db_prepare(db, ops->select_sql, &s, err);
    if (rc < 0)
        goto out;
    for (;;) {
        struct cf_shardset_shard *sh;
        unsigned flags = 0;
        uint64_t limit = 0;
        int64_t id;

        rc = cf_db_step(s, err);
        if (rc <= 0)
            goto out;
        id = cf_db_column_int64(s, 0);
        if (id < 1 || id > CF_SHARDSET_ID_MAX ||
            cf_db_column_copy_text(s, 1, location, sizeof(location)) < 0) {
            cf_err_set(err, "catalog row of %s %lld is out of bounds", ops->shard_word,
                       (long long)id);
            cf_log(CF_LOG_ERROR, "%s \"%s\": catalog row of %s %lld is out of bounds", ops->name,
                   set->catalog_uri, ops->shard_word, (long long)id);
            rc = CF_ECORRUPT;
            goto out;
        }
        for (unsigned i = 0; i < ops->nflags; i++)
            if (cf_db_column_int64(s, 3 + (int)i) != 0)
                flags |= 1u << i;
        if (ops->has_limit) {
            int64_t v = cf_db_column_int64(s, 3 + (int)ops->nflags);
            limit = v > 0 ? (uint64_t)v : 0;
        }
        sh = cf_shardset_get(set, (uint32_t)id);
        if (sh == NULL) {
            rc = entry_open(set, (uint32_t)id, location, false, &sh, err);
            if (rc < 0)
                goto out;
            sh->created_ms = (uint64_t)cf_db_column_int64(s, 2);
            sh->flags = flags;
            sh->limit = limit;
            insert(set, sh);
            shown = cf_db_uri_redact(sh->location);
            cf_log(CF_LOG_INFO, "%s: shard %u at \"%s\"", ops->name, (unsigned)sh->id, shown);
            free(shown);
        } else {
            pthread_rwlock_wrlock(&set->lock);
            sh->flags = flags;
            sh->limit = limit;
            pthread_rwlock_unlock(&set->lock);
        }
    }
out:
    cf_db_finalize(s);
    cf_db_pool_release(set->catalog, db);
    return rc;
}

int cf_shardset_reload(struct cf_shardset *set, char *err)
{
    int rc;

    pthread_mutex_lock(&set->change_mu);
    rc = reload_locked(set, err);
    pthread_mutex_unlock(&set->change_mu);
    return rc;
}

int cf_shardset_find(struct cf_shardset *set, uint32_t id, struct cf_shardset_shard **out,
                     char *err)
{
    struct cf_shardset_shard *sh = cf_shardset_get(set, id);
    int rc = 0;

    /* An id outside the CHECK of every shards table is never there. */
    if (sh != NULL || id < 1 || id > CF_SHARDSET_ID_MAX)
        goto out;
    pthread_mutex_lock(&set->change_mu);
    /* Another thread's re-read may have brought it while this one waited. */
    sh = cf_shardset_get(set, id);
    if (sh == NULL && cf_now_ns() >= set->held_until_ns) {
        rc = reload_locked(set, err);
        if (rc == 0)
            sh = cf_shardset_get(set, id);
        /* Only a re-read that was in vain holds the next ones off: a shard
         * that exists costs one re-read, made-up ids one per interval. */
        if (sh == NULL)
            set->held_until_ns = cf_now_ns() + (uint64_t)set->ops->reload_min_ms * 1000000u;
    }
    pthread_mutex_unlock(&set->change_mu);
out:
    if (rc == 0 && sh == NULL) {
        cf_err_set(err, "no %s %u", set->ops->shard_word, (unsigned)id);
        rc = CF_ENOTFOUND;
    }
    *out = sh;
    return rc;
}

/* ---- adding a shard -------------------------------------------------------- */

int cf_shardset_add(struct cf_shardset *set, uint32_t id, const char *location,
                    cf_shardset_choose_cb choose, cf_shardset_row_cb row, void *arg,
                    struct cf_shardset_shard **out, char *err)
{
    const struct cf_shardset_ops *ops = set->ops;
    struct cf_shardset_shard *sh = NULL;
    struct cf_db *db;
    char *shown;
    int rc = 0;

    if (out != NULL)
        *out = NULL;
    pthread_mutex_lock(&set->change_mu);
    db = cf_db_pool_acquire(set->catalog);
    if (choose != NULL) {
        rc = choose(set, db, arg, &id, &location, err);
        if (rc < 0)
            goto out;
    }
    if (id < 1 || id > CF_SHARDSET_ID_MAX || location == NULL) {
        cf_err_set(err, "%s id %u is out of range or the location is missing", ops->shard_word,
                   (unsigned)id);
        rc = CF_EINVAL;
        goto out;
    }
    if (cf_shardset_get(set, id) != NULL) {
        cf_err_set(err, "%s %u already exists", ops->shard_word, (unsigned)id);
        rc = CF_EEXIST;
        goto out;
    }
    /* The shard's database first, the catalog row (the commit point) last:
     * a listed shard always exists. */
    rc = entry_open(set, id, location, true, &sh, err);
    if (rc < 0)
        goto out;
    sh->created_ms = cf_wall_ms();
    rc = row(db, sh, arg, err);
    if (rc < 0)
        goto out;
    insert(set, sh);
    shown = cf_db_uri_redact(sh->location);
    cf_log(CF_LOG_INFO, "%s: added shard %u at \"%s\"", ops->name, (unsigned)id, shown);
    free(shown);
    if (out != NULL)
        *out = sh;
    sh = NULL;
    rc = 0;
out:
    cf_db_pool_release(set->catalog, db);
    pthread_mutex_unlock(&set->change_mu);
    entry_free(set, sh);
    return rc;
}

/* ---- open / close ------------------------------------------------------------ */

int cf_shardset_open(const char *catalog_uri, unsigned pool_size, const struct cf_shardset_ops *ops,
                     struct cf_shardset **out, char *err)
{
    struct cf_shardset *set = NULL;
    struct cf_db *db = NULL;
    int rc;

    *out = NULL;
    cf_assert(ops->shard_size >= sizeof(struct cf_shardset_shard) &&
              ops->nflags <= CF_SHARDSET_FLAGS_MAX);
    set = cf_xcalloc(1, sizeof(*set));
    set->ops = ops;
    set->catalog_uri = cf_xstrdup(catalog_uri);
    set->catalog_dir = cf_db_sqlite_dir(catalog_uri);
    set->pool_size = pool_size;
    pthread_rwlock_init(&set->lock, NULL);
    pthread_mutex_init(&set->change_mu, NULL);
    atomic_init(&set->rr, 0);
    rc = cf_db_pool_open(catalog_uri, pool_size, &set->catalog, err);
    if (rc < 0)
        goto out;
    db = cf_db_pool_acquire(set->catalog);
    rc = ops->open_db(db, catalog_uri, 0, true, err);
    cf_db_pool_release(set->catalog, db);
    if (rc < 0)
        goto out;
    rc = cf_shardset_reload(set, err);
    if (rc < 0)
        goto out;
    *out = set;
    set = NULL;
out:
    cf_shardset_close(set);
    return rc;
}

void cf_shardset_close(struct cf_shardset *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->nshards; i++)
        entry_free(set, set->shards[i]);
    free(set->shards);
    cf_db_pool_close(set->catalog);
    pthread_mutex_destroy(&set->change_mu);
    pthread_rwlock_destroy(&set->lock);
    free(set->catalog_dir);
    free(set->catalog_uri);
    free(set);
}

struct cf_db_pool *cf_shardset_catalog(const struct cf_shardset *set)
{
    return set->catalog;
}

const char *cf_shardset_catalog_uri(const struct cf_shardset *set)
{
    return set->catalog_uri;
}

const char *cf_shardset_catalog_dir(const struct cf_shardset *set)
{
    return set->catalog_dir;
}
