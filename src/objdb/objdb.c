/*
 * objdb.c -- the object database's catalog, its cached shards table, and
 * object id reservation (objdb.h). Records are in record.c, the filer
 * summary table in filers.c.
 */
#include "objdb_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/log.h"

/* SQL follows the subset in db.h. coffer_meta holds one row that says what a
 * database is, so a shard is never opened as the catalog or as another
 * shard, and, in a shard, the durable high-water mark of reserved ids. */
static const char meta_schema[] = "CREATE TABLE IF NOT EXISTS coffer_meta ("
                                  " id INTEGER PRIMARY KEY CHECK (id = 1),"
                                  " kind TEXT NOT NULL,"
                                  " version INTEGER NOT NULL,"
                                  " shard_id INTEGER NOT NULL DEFAULT 0,"
                                  " next_oid BIGINT NOT NULL DEFAULT 1);";

static const char catalog_schema[] = "CREATE TABLE IF NOT EXISTS shards ("
                                     " id INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 65535),"
                                     " location TEXT NOT NULL UNIQUE,"
                                     " read_only INTEGER NOT NULL DEFAULT 0,"
                                     " obsolete INTEGER NOT NULL DEFAULT 0,"
                                     " created BIGINT NOT NULL);"
                                     "CREATE TABLE IF NOT EXISTS filers ("
                                     " id INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 4294967295),"
                                     " url TEXT NOT NULL UNIQUE,"
                                     " weight BIGINT NOT NULL,"
                                     " total_bytes BIGINT NOT NULL,"
                                     " used_bytes BIGINT NOT NULL,"
                                     " objects BIGINT NOT NULL,"
                                     " read_only INTEGER NOT NULL,"
                                     " status TEXT NOT NULL,"
                                     " last_seen BIGINT NOT NULL,"
                                     " base_weight BIGINT NOT NULL DEFAULT 0);";

/* object_filers' primary key serves the look-up by object; its second index
 * (filer_id, object_id) is the per-filer rebuild index (500D). Child rows are
 * deleted explicitly before their object, so the foreign keys need no cascade. */
static const char shard_schema[] =
    "CREATE TABLE IF NOT EXISTS objects ("
    " id INTEGER PRIMARY KEY,"
    " rnd BIGINT NOT NULL,"
    " replicas INTEGER NOT NULL,"
    " enc_key BLOB,"
    " deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),"
    " deleted_at BIGINT,"
    " path TEXT NOT NULL,"
    " size BIGINT NOT NULL,"
    " sha512 BLOB NOT NULL CHECK (length(sha512) = 64),"
    " created BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS object_filers ("
    " object_id BIGINT NOT NULL REFERENCES objects (id),"
    " filer_id BIGINT NOT NULL,"
    " PRIMARY KEY (object_id, filer_id));"
    "CREATE INDEX IF NOT EXISTS object_filers_by_filer ON object_filers (filer_id, object_id);"
    "CREATE TABLE IF NOT EXISTS deleted_objects ("
    " id INTEGER PRIMARY KEY,"
    " rnd BIGINT NOT NULL,"
    " replicas INTEGER NOT NULL,"
    " enc_key BLOB,"
    " deleted_at BIGINT NOT NULL,"
    " path TEXT NOT NULL,"
    " size BIGINT NOT NULL,"
    " sha512 BLOB NOT NULL,"
    " created BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS deleted_objects_by_time ON deleted_objects (deleted_at);"
    "CREATE TABLE IF NOT EXISTS deleted_object_filers ("
    " object_id BIGINT NOT NULL REFERENCES deleted_objects (id),"
    " filer_id BIGINT NOT NULL,"
    " purged INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (object_id, filer_id));"
    "CREATE INDEX IF NOT EXISTS deleted_object_filers_by_filer"
    " ON deleted_object_filers (filer_id, object_id);";

/* Version 2 of a shard (dedupe and maintenance, objdb.h "maintenance"):
 * objects.alias names the holder of an alias record (NULL for a record that
 * holds bytes); the content index finds holders by SHA-512; stale_replicas
 * lists replicas dropped from records and waiting to be deleted. Applied
 * to a fresh shard right after shard_schema, and to a version 1 shard when
 * it is opened. */
static const char shard_v2[] =
    "ALTER TABLE objects ADD COLUMN alias BIGINT;"
    "CREATE INDEX IF NOT EXISTS objects_by_alias ON objects (alias);"
    "CREATE INDEX IF NOT EXISTS objects_by_content ON objects (sha512);"
    "CREATE TABLE IF NOT EXISTS stale_replicas ("
    " object_id BIGINT NOT NULL,"
    " filer_id BIGINT NOT NULL,"
    " path TEXT NOT NULL,"
    " since BIGINT NOT NULL,"
    " sent INTEGER NOT NULL DEFAULT 0 CHECK (sent IN (0, 1)),"
    " PRIMARY KEY (object_id, filer_id));"
    "CREATE INDEX IF NOT EXISTS stale_replicas_by_time ON stale_replicas (since);";

/* ---- schema ---------------------------------------------------------------- */

/* Inside the caller's transaction: if db is a version 1 shard, create what
 * version 1 lacks (a fresh shard is stamped 1 and comes through here too)
 * and stamp it version 2. Anything else is left for cf_db_meta_check. */
static int shard_upgrade(struct cf_db *db, char *err)
{
    static const char sql_version[] =
        "SELECT version FROM coffer_meta WHERE id = 1 AND kind = 'shard'";
    static const char sql_stamp[] = "UPDATE coffer_meta SET version = ?1 WHERE id = 1";
    struct cf_db_stmt *s = NULL;
    int64_t version = 0;
    int rc;

    rc = cf_db_prepare(db, sql_version, &s, err);
    if (rc < 0)
        goto out;
    rc = cf_db_step_one(s, &version, 1, err);
    if (rc < 0 || rc == CF_DB_DONE || version != 1)
        goto out;
    cf_db_finalize(s);
    s = NULL;
    rc = cf_db_exec(db, shard_schema, err);
    if (rc == 0)
        rc = cf_db_exec(db, shard_v2, err);
    if (rc < 0)
        goto out;
    rc = cf_db_prepare(db, sql_stamp, &s, err);
    if (rc < 0)
        goto out;
    cf_db_bind_int64(s, 1, CF__OBJDB_SHARD_VERSION);
    rc = cf_db_step_one(s, NULL, 0, err);
out:
    cf_db_finalize(s);
    return rc < 0 ? rc : 0;
}

/* Inside the caller's transaction, give a catalog made
 * before filers.base_weight (the operator's weight, which the tracker scales
 * into weight) that column, starting equal to weight. */
static int catalog_migrate(struct cf_db *db, char *err)
{
    static const char sql_has_sqlite[] =
        "SELECT count(*) FROM pragma_table_info('filers') WHERE name = 'base_weight'";
    static const char sql_has_pg[] =
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = 'filers' AND column_name = 'base_weight'";
    static const char sql_add[] = "ALTER TABLE filers ADD COLUMN base_weight BIGINT NOT NULL"
                                  " DEFAULT 0;"
                                  "UPDATE filers SET base_weight = weight;";
    bool pg = strcmp(cf_db_backend(db), "postgres") == 0;
    struct cf_db_stmt *s = NULL;
    int64_t has = 0;
    int rc;

    rc = cf_db_prepare(db, pg ? sql_has_pg : sql_has_sqlite, &s, err);
    if (rc < 0)
        goto out;
    rc = cf_db_step_one(s, &has, 1, err);
    if (rc < 0)
        goto out;
    rc = has > 0 ? 0 : cf_db_exec(db, sql_add, err);
out:
    cf_db_finalize(s);
    return rc;
}

/* Create the tables of a catalog (shard_id 0) or a shard if missing, stamp
 * coffer_meta, and check it, in one transaction: two processes creating the
 * same database at once end with one stamp. */
static int schema_init(struct cf_db *db, const char *uri, uint16_t shard_id, char *err)
{
    static const char stamp[] = "INSERT INTO coffer_meta (id, kind, version, shard_id, next_oid)"
                                " VALUES (1, ?1, ?2, ?3, 1) ON CONFLICT (id) DO NOTHING";
    const char *kind = shard_id == 0 ? "catalog" : "shard";
    int64_t version = shard_id == 0 ? CF__OBJDB_CATALOG_VERSION : CF__OBJDB_SHARD_VERSION;
    struct cf_db_stmt *s = NULL;
    int rc;

    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_exec(db, meta_schema, err);
    if (rc < 0)
        goto out;
    /* Check before creating the rest, so a wrong file gets no extra tables.
     * A new shard starts at version 1 and is upgraded like an old one. */
    rc = cf_db_prepare(db, stamp, &s, err);
    if (rc < 0)
        goto out;
    cf_db_bind_text(s, 1, kind);
    cf_db_bind_int64(s, 2, shard_id == 0 ? version : 1);
    cf_db_bind_int64(s, 3, shard_id);
    rc = cf_db_step(s, err);
    if (rc < 0)
        goto out;
    if (shard_id != 0) {
        rc = shard_upgrade(db, err);
        if (rc < 0)
            goto out;
    }
    rc = cf_db_meta_check(db, uri, kind, version, shard_id, "shard", err);
    if (rc < 0)
        goto out;
    if (shard_id == 0)
        rc = cf_db_exec(db, catalog_schema, err);
    if (rc == 0 && shard_id == 0)
        rc = catalog_migrate(db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(db, err);
out:
    cf_db_finalize(s);
    cf_db_rollback(db);
    return rc;
}

/* Open an existing shard: upgrade it if it is version 1, then check it. */
static int shard_check(struct cf_db *db, const char *uri, uint16_t id, char *err)
{
    int rc = cf_db_begin(db, err);

    if (rc == 0)
        rc = shard_upgrade(db, err);
    if (rc == 0)
        rc = cf_db_commit(db, err);
    cf_db_rollback(db);
    if (rc == CF_EINTERNAL) /* no coffer_meta: let the check say what it is */
        rc = 0;
    if (rc < 0)
        return rc;
    return cf_db_meta_check(db, uri, "shard", CF__OBJDB_SHARD_VERSION, id, "shard", err);
}

/* ---- helpers shared by the record files (objdb_int.h) ---- */

int cf__objdb_find_shard(struct cf_objdb *odb, const struct cf_uuid *uuid,
                         struct cf__objdb_shard **out, char *err)
{
    *out = cf__objdb_shard_find(odb, uuid->shard);
    if (*out != NULL)
        return 0;
    cf_err_set(err, "no shard %u", (unsigned)uuid->shard);
    return CF_ENOTFOUND;
}

struct cf__objdb_shard *cf__objdb_shard_from(struct cf_objdb *odb, uint32_t id)
{
    struct cf__objdb_shard *sh = NULL;

    pthread_rwlock_rdlock(&odb->lock);
    for (size_t i = 0; i < odb->nshards && sh == NULL; i++)
        if (odb->shards[i]->id >= id)
            sh = odb->shards[i];
    pthread_rwlock_unlock(&odb->lock);
    return sh;
}

int cf__objdb_oid_out_of_bounds(struct cf__objdb_shard *sh, int64_t oid, char *err)
{
    cf_err_set(err, "shard %u: object id %lld out of bounds", (unsigned)sh->id, (long long)oid);
    cf_log(CF_LOG_ERROR, "objdb: shard %u: object id %lld out of bounds", (unsigned)sh->id,
           (long long)oid);
    return CF_ECORRUPT;
}

int cf__objdb_run_oid(struct cf_db *db, const char *sql, uint64_t oid, char *err)
{
    struct cf_db_stmt *s = NULL;
    int rc;

    rc = cf_db_prepare(db, sql, &s, err);
    if (rc < 0)
        goto out;
    cf_db_bind_int64(s, 1, (int64_t)oid);
    for (;;) {
        rc = cf_db_step(s, err);
        if (rc <= 0)
            goto out;
    }
out:
    cf_db_finalize(s);
    return rc;
}

int cf__objdb_walk(struct cf_objdb *odb, const void *arg, struct cf_objdb_cursor *cur, void *out,
                   size_t size, size_t cap, cf__objdb_list_cb cb, char *err)
{
    struct cf_objdb_cursor c = *cur;
    size_t n = 0;
    int rc = 0;

    if (cap > INT_MAX)
        cap = INT_MAX;
    while (!c.done && n < cap) {
        struct cf__objdb_shard *sh = cf__objdb_shard_from(odb, c.shard);
        uint64_t last = 0;
        bool more = false;

        if (sh == NULL) {
            c.done = true;
            break;
        }
        if (sh->id != c.shard) {
            c.shard = sh->id;
            c.after_oid = 0;
        }
        rc = cb(sh, arg, c.after_oid, (char *)out + n * size, cap - n, &last, &more, err);
        if (rc < 0)
            goto out;
        if (rc > 0)
            c.after_oid = last;
        n += (size_t)rc;
        if (more) {
            if (n > 0)
                break;
            cf_err_set(err, "shard %u: one object's rows do not fit in a page of %zu",
                       (unsigned)sh->id, cap);
            rc = CF_EINVAL;
            goto out;
        }
        if (n < cap) {
            /* This shard is exhausted: on to the next id. */
            if (c.shard == CF_UUID_SHARD_MAX)
                c.done = true;
            else
                c.shard++;
            c.after_oid = 0;
        }
    }
    *cur = c;
    rc = (int)n;
out:
    return rc;
}

/* ---- shard cache ------------------------------------------------------------- */

static int resolve_location(const struct cf_objdb *odb, const char *loc, char *out, size_t cap,
                            char *err)
{
    static const char scheme[] = "sqlite:";
    const size_t sl = sizeof(scheme) - 1;
    int n;

    if (odb->catalog_dir != NULL && strncmp(loc, scheme, sl) == 0 && loc[sl] != '/' &&
        loc[sl] != '\0')
        n = snprintf(out, cap, "%s%s/%s", scheme, odb->catalog_dir, loc + sl);
    else
        n = snprintf(out, cap, "%s", loc);
    if (n < 0 || (size_t)n >= cap) {
        cf_err_set(err, "shard location \"%.64s...\" is longer than %d bytes", loc, CF_DB_URI_MAX);
        n = CF_EINVAL;
    }
    return n < 0 ? n : 0;
}

static void shard_free(struct cf__objdb_shard *sh)
{
    if (sh == NULL)
        return;
    cf_db_pool_close(sh->pool);
    pthread_mutex_destroy(&sh->id_mu);
    free(sh->location);
    free(sh);
}

/* Open the pool of shard `id` at `location` (as stored) and check or, with
 * create, initialise its database. On success *out is a new entry. */
static int shard_open(struct cf_objdb *odb, uint16_t id, const char *location, bool create,
                      struct cf__objdb_shard **out, char *err)
{
    struct cf__objdb_shard *sh = NULL;
    struct cf_db *db = NULL;
    char uri[CF_DB_URI_MAX + 1];
    int rc;

    *out = NULL;
    rc = resolve_location(odb, location, uri, sizeof(uri), err);
    if (rc < 0)
        goto out;
    sh = cf_xcalloc(1, sizeof(*sh));
    sh->id = id;
    sh->location = cf_xstrdup(location);
    pthread_mutex_init(&sh->id_mu, NULL);
    rc = cf_db_pool_open(uri, odb->pool_size, &sh->pool, err);
    if (rc < 0)
        goto out;
    db = cf_db_pool_acquire(sh->pool);
    if (create)
        rc = schema_init(db, uri, id, err);
    else
        rc = shard_check(db, uri, id, err);
    cf_db_pool_release(sh->pool, db);
    if (rc < 0)
        goto out;
    *out = sh;
    sh = NULL;
out:
    shard_free(sh);
    return rc;
}

/* Index of the first cached shard with id >= `id`. Caller holds odb->lock. */
static size_t shard_lower_bound(const struct cf_objdb *odb, uint16_t id)
{
    size_t lo = 0, hi = odb->nshards;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (odb->shards[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct cf__objdb_shard *shard_lookup(struct cf_objdb *odb, uint16_t id)
{
    struct cf__objdb_shard *sh = NULL;
    size_t i;

    pthread_rwlock_rdlock(&odb->lock);
    i = shard_lower_bound(odb, id);
    if (i < odb->nshards && odb->shards[i]->id == id)
        sh = odb->shards[i];
    pthread_rwlock_unlock(&odb->lock);
    return sh;
}

/* Add sh to the cache. Caller holds reload_mu, so the id is not there yet. */
static void shard_insert(struct cf_objdb *odb, struct cf__objdb_shard *sh)
{
    size_t i;

    pthread_rwlock_wrlock(&odb->lock);
    if (odb->nshards == odb->cap) {
        odb->cap = odb->cap == 0 ? 8 : odb->cap * 2;
        odb->shards = cf_xrealloc(odb->shards, odb->cap * sizeof(*odb->shards));
    }
    i = shard_lower_bound(odb, sh->id);
    memmove(&odb->shards[i + 1], &odb->shards[i], (odb->nshards - i) * sizeof(*odb->shards));
    odb->shards[i] = sh;
    odb->nshards++;
    pthread_rwlock_unlock(&odb->lock);
}

/* Read the shards table; open shards not cached yet and refresh the flags of
 * the others. Caller holds reload_mu. */
static int reload_locked(struct cf_objdb *odb, char *err)
{
    static const char sql[] =
        "SELECT id, location, read_only, obsolete, created FROM shards ORDER BY id";
    struct cf_db *db = cf_db_pool_acquire(odb->catalog);
    struct cf_db_stmt *s = NULL;
    char location[CF_DB_URI_MAX + 1];
    int rc;

    rc = cf_db_prepare(db, sql, &s, err);
    if (rc < 0)
        goto out;
    for (;;) {
        struct cf__objdb_shard *sh;
        int64_t id;

        rc = cf_db_step(s, err);
        if (rc <= 0)
            goto out;
        id = cf_db_column_int64(s, 0);
        if (id < 1 || id > CF_UUID_SHARD_MAX ||
            cf_db_column_copy_text(s, 1, location, sizeof(location)) < 0) {
            cf_err_set(err, "catalog row of shard %lld is out of bounds", (long long)id);
            cf_log(CF_LOG_ERROR, "objdb \"%s\": catalog row of shard %lld is out of bounds",
                   odb->catalog_uri, (long long)id);
            rc = CF_ECORRUPT;
            goto out;
        }
        sh = shard_lookup(odb, (uint16_t)id);
        if (sh == NULL) {
            rc = shard_open(odb, (uint16_t)id, location, false, &sh, err);
            if (rc < 0)
                goto out;
            sh->created_ms = (uint64_t)cf_db_column_int64(s, 4);
            shard_insert(odb, sh);
            cf_log(CF_LOG_INFO, "objdb: shard %u at \"%s\"", (unsigned)sh->id, sh->location);
        }
        pthread_rwlock_wrlock(&odb->lock);
        sh->read_only = cf_db_column_int64(s, 2) != 0;
        sh->obsolete = cf_db_column_int64(s, 3) != 0;
        pthread_rwlock_unlock(&odb->lock);
    }
out:
    cf_db_finalize(s);
    cf_db_pool_release(odb->catalog, db);
    return rc;
}

struct cf__objdb_shard *cf__objdb_shard_find(struct cf_objdb *odb, uint16_t id)
{
    struct cf__objdb_shard *sh = shard_lookup(odb, id);
    char err[CF_ERR_LEN] = "";

    if (sh != NULL || id == 0)
        goto out;
    pthread_mutex_lock(&odb->reload_mu);
    /* The first miss re-reads at once; later ones at most every RELOAD_MIN_MS. */
    if (odb->last_reload_ns == 0 ||
        cf_now_ns() - odb->last_reload_ns >= (uint64_t)CF_OBJDB_RELOAD_MIN_MS * 1000000u) {
        odb->last_reload_ns = cf_now_ns();
        /* The caller answers "not found"; the reason is for the operator. */
        if (reload_locked(odb, err) < 0)
            cf_log(CF_LOG_WARN, "objdb \"%s\": re-reading the shards table failed: %s",
                   odb->catalog_uri, err);
        sh = shard_lookup(odb, id);
    }
    pthread_mutex_unlock(&odb->reload_mu);
out:
    return sh;
}

int cf_objdb_refresh(struct cf_objdb *odb, char *err)
{
    int rc;

    pthread_mutex_lock(&odb->reload_mu);
    rc = reload_locked(odb, err);
    pthread_mutex_unlock(&odb->reload_mu);
    return rc;
}

/* ---- open / close ---------------------------------------------------------- */

int cf_objdb_open(const char *catalog_uri, unsigned pool_size, struct cf_objdb **out, char *err)
{
    struct cf_objdb *odb = NULL;
    struct cf_db *db = NULL;
    int rc;

    *out = NULL;
    odb = cf_xcalloc(1, sizeof(*odb));
    odb->catalog_uri = cf_xstrdup(catalog_uri);
    odb->catalog_dir = cf_db_sqlite_dir(catalog_uri);
    odb->pool_size = pool_size == 0 ? CF_OBJDB_POOL_DEFAULT : pool_size;
    pthread_rwlock_init(&odb->lock, NULL);
    pthread_mutex_init(&odb->reload_mu, NULL);
    atomic_init(&odb->rr, 0);
    rc = cf_db_pool_open(catalog_uri, odb->pool_size, &odb->catalog, err);
    if (rc < 0)
        goto out;
    db = cf_db_pool_acquire(odb->catalog);
    rc = schema_init(db, catalog_uri, 0, err);
    cf_db_pool_release(odb->catalog, db);
    if (rc < 0)
        goto out;
    rc = cf_objdb_refresh(odb, err);
    if (rc < 0)
        goto out;
    *out = odb;
    odb = NULL;
out:
    cf_objdb_close(odb);
    return rc;
}

void cf_objdb_close(struct cf_objdb *odb)
{
    if (odb == NULL)
        return;
    for (size_t i = 0; i < odb->nshards; i++)
        shard_free(odb->shards[i]);
    free(odb->shards);
    cf_db_pool_close(odb->catalog);
    pthread_mutex_destroy(&odb->reload_mu);
    pthread_rwlock_destroy(&odb->lock);
    free(odb->catalog_dir);
    free(odb->catalog_uri);
    free(odb);
}

/* ---- shards -------------------------------------------------------------------- */

/* The next free shard id after the largest in the catalog. */
static int next_shard_id(struct cf_db *db, uint16_t *out, char *err)
{
    static const char sql[] = "SELECT coalesce(max(id), 0) FROM shards";
    struct cf_db_stmt *s = NULL;
    int64_t max;
    int rc;

    rc = cf_db_prepare(db, sql, &s, err);
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc < 0)
        goto out;
    max = cf_db_column_int64(s, 0);
    if (max >= CF_UUID_SHARD_MAX) {
        cf_err_set(err, "no shard id above %lld is free; give one explicitly", (long long)max);
        rc = CF_EINVAL;
        goto out;
    }
    *out = (uint16_t)(max + 1);
    rc = 0;
out:
    cf_db_finalize(s);
    return rc;
}

int cf_objdb_shard_add(struct cf_objdb *odb, uint16_t id, const char *location, uint16_t *id_out,
                       char *err)
{
    static const char sql[] = "INSERT INTO shards (id, location, read_only, obsolete, created)"
                              " VALUES (?1, ?2, 0, 0, ?3)";
    struct cf__objdb_shard *sh = NULL;
    struct cf_db *db = NULL;
    struct cf_db_stmt *s = NULL;
    char auto_loc[32];
    int rc;

    pthread_mutex_lock(&odb->reload_mu);
    db = cf_db_pool_acquire(odb->catalog);
    if (id == 0) {
        rc = next_shard_id(db, &id, err);
        if (rc < 0)
            goto out;
    }
    if (location == NULL) {
        if (odb->catalog_dir == NULL) {
            cf_err_set(err, "a shard needs a location unless the catalog is SQLite");
            rc = CF_EINVAL;
            goto out;
        }
        /* Relative: resolved against the catalog's directory (objdb.h). */
        (void)snprintf(auto_loc, sizeof(auto_loc), "sqlite:shard-%04x.db", (unsigned)id);
        location = auto_loc;
    }
    if (shard_lookup(odb, id) != NULL) {
        cf_err_set(err, "shard %u already exists", (unsigned)id);
        rc = CF_EEXIST;
        goto out;
    }
    /* The shard's database first, the catalog row (the commit point) last. */
    rc = shard_open(odb, id, location, true, &sh, err);
    if (rc < 0)
        goto out;
    sh->created_ms = cf_wall_ms();
    rc = cf_db_prepare(db, sql, &s, err);
    if (rc < 0)
        goto out;
    cf_db_bind_int64(s, 1, id);
    cf_db_bind_text(s, 2, location);
    cf_db_bind_int64(s, 3, (int64_t)sh->created_ms);
    rc = cf_db_step(s, err);
    if (rc == CF_EEXIST)
        cf_err_set(err, "shard %u or location \"%s\" is already registered", (unsigned)id,
                   location);
    if (rc < 0)
        goto out;
    shard_insert(odb, sh);
    cf_log(CF_LOG_INFO, "objdb: added shard %u at \"%s\"", (unsigned)id, sh->location);
    sh = NULL;
    if (id_out != NULL)
        *id_out = id;
    rc = 0;
out:
    cf_db_finalize(s);
    cf_db_pool_release(odb->catalog, db);
    pthread_mutex_unlock(&odb->reload_mu);
    shard_free(sh);
    return rc;
}

int cf_objdb_shard_set(struct cf_objdb *odb, uint16_t id, bool read_only, bool obsolete, char *err)
{
    static const char sql[] =
        "UPDATE shards SET read_only = ?2, obsolete = ?3 WHERE id = ?1 RETURNING id";
    struct cf__objdb_shard *sh;
    struct cf_db *db = cf_db_pool_acquire(odb->catalog);
    struct cf_db_stmt *s = NULL;
    int rc;

    rc = cf_db_prepare(db, sql, &s, err);
    if (rc < 0)
        goto out;
    cf_db_bind_int64(s, 1, id);
    cf_db_bind_int64(s, 2, read_only);
    cf_db_bind_int64(s, 3, obsolete);
    rc = cf_db_step(s, err);
    if (rc < 0)
        goto out;
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no shard %u", (unsigned)id);
        rc = CF_ENOTFOUND;
        goto out;
    }
    rc = 0;
    /* Not cached yet (added by another process): the next reload brings it. */
    sh = shard_lookup(odb, id);
    if (sh != NULL) {
        pthread_rwlock_wrlock(&odb->lock);
        sh->read_only = read_only;
        sh->obsolete = obsolete;
        pthread_rwlock_unlock(&odb->lock);
    }
out:
    cf_db_finalize(s);
    cf_db_pool_release(odb->catalog, db);
    return rc;
}

void cf_objdb_shard_list(struct cf_objdb *odb, struct cf_objdb_shard **out, size_t *n)
{
    struct cf_objdb_shard *v = NULL;

    pthread_rwlock_rdlock(&odb->lock);
    if (odb->nshards > 0)
        v = cf_xcalloc(odb->nshards, sizeof(*v));
    for (size_t i = 0; i < odb->nshards; i++) {
        const struct cf__objdb_shard *sh = odb->shards[i];
        v[i].id = sh->id;
        /* Stored locations were checked against CF_DB_URI_MAX when read or added. */
        (void)snprintf(v[i].location, sizeof(v[i].location), "%s", sh->location);
        v[i].read_only = sh->read_only;
        v[i].obsolete = sh->obsolete;
        v[i].created_ms = sh->created_ms;
    }
    *n = odb->nshards;
    pthread_rwlock_unlock(&odb->lock);
    *out = v;
}

/* ---- object ids ---------------------------------------------------------------- */

/* Reserve the next block of object ids durably: one commit per
 * CF_OBJDB_ID_BLOCK uploads instead of one per upload. Caller holds id_mu. */
static int reserve_block(struct cf__objdb_shard *sh, char *err)
{
    static const char sql[] = "UPDATE coffer_meta SET next_oid = next_oid + ?1"
                              " WHERE id = 1 AND kind = 'shard' RETURNING next_oid";
    struct cf_db *db = cf_db_pool_acquire(sh->pool);
    struct cf_db_stmt *s = NULL;
    int64_t end;
    int rc;

    rc = cf_db_prepare(db, sql, &s, err);
    if (rc < 0)
        goto out;
    cf_db_bind_int64(s, 1, CF_OBJDB_ID_BLOCK);
    rc = cf_db_step(s, err);
    if (rc < 0)
        goto out;
    end = rc == CF_DB_ROW ? cf_db_column_int64(s, 0) : 0;
    if (end <= CF_OBJDB_ID_BLOCK) {
        cf_err_set(err, "shard %u: coffer_meta row missing or damaged", (unsigned)sh->id);
        cf_log(CF_LOG_ERROR, "objdb: shard %u: coffer_meta row missing or damaged",
               (unsigned)sh->id);
        rc = CF_ECORRUPT;
        goto out;
    }
    sh->next_oid = (uint64_t)end - CF_OBJDB_ID_BLOCK;
    sh->end_oid = (uint64_t)end;
    if (sh->end_oid > CF_UUID_OID_MAX + 1)
        sh->end_oid = CF_UUID_OID_MAX + 1;
    rc = 0;
out:
    cf_db_finalize(s);
    cf_db_pool_release(sh->pool, db);
    return rc;
}

static int take_oid(struct cf__objdb_shard *sh, uint64_t *out, char *err)
{
    int rc = 0;

    pthread_mutex_lock(&sh->id_mu);
    if (sh->next_oid >= sh->end_oid) {
        rc = reserve_block(sh, err);
        if (rc < 0)
            goto out;
    }
    if (sh->next_oid >= sh->end_oid) {
        cf_err_set(err, "shard %u has used every object id", (unsigned)sh->id);
        rc = CF_ENOSPC;
        goto out;
    }
    *out = sh->next_oid++;
out:
    pthread_mutex_unlock(&sh->id_mu);
    return rc;
}

/* Round robin over the shards that take new objects. */
static struct cf__objdb_shard *pick_writable(struct cf_objdb *odb)
{
    struct cf__objdb_shard *sh = NULL;
    size_t nw = 0, k;

    pthread_rwlock_rdlock(&odb->lock);
    for (size_t i = 0; i < odb->nshards; i++)
        if (!odb->shards[i]->read_only && !odb->shards[i]->obsolete)
            nw++;
    if (nw > 0) {
        k = atomic_fetch_add(&odb->rr, 1u) % nw;
        for (size_t i = 0; i < odb->nshards && sh == NULL; i++) {
            if (odb->shards[i]->read_only || odb->shards[i]->obsolete)
                continue;
            if (k-- == 0)
                sh = odb->shards[i];
        }
    }
    pthread_rwlock_unlock(&odb->lock);
    return sh;
}

int cf_objdb_reserve(struct cf_objdb *odb, uint16_t shard, struct cf_uuid *out, char *err)
{
    struct cf__objdb_shard *sh;
    struct cf_uuid u = {0, 0, 0};
    bool writable;
    int rc;

    if (shard == 0) {
        sh = pick_writable(odb);
        if (sh == NULL) {
            cf_err_set(err, "no writable shard (all read-only or obsolete, or none added)");
            rc = CF_EUNAVAIL;
            goto out;
        }
    } else {
        sh = cf__objdb_shard_find(odb, shard);
        if (sh == NULL) {
            cf_err_set(err, "no shard %u", (unsigned)shard);
            rc = CF_ENOTFOUND;
            goto out;
        }
        pthread_rwlock_rdlock(&odb->lock);
        writable = !sh->read_only && !sh->obsolete;
        pthread_rwlock_unlock(&odb->lock);
        if (!writable) {
            cf_err_set(err, "shard %u takes no new objects (read-only or obsolete)",
                       (unsigned)shard);
            rc = CF_EREADONLY;
            goto out;
        }
    }
    u.shard = sh->id;
    rc = take_oid(sh, &u.oid, err);
    if (rc < 0)
        goto out;
    rc = cf_uuid_random(&u.rnd);
    if (rc < 0) {
        cf_err_set(err, "no random bits from the kernel");
        goto out;
    }
    *out = u;
out:
    return rc;
}
