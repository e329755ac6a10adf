/*
 * objdb.c -- the object database's schema, its catalog and cached shards
 * (a struct cf_shardset, shardset.h), and object id reservation (objdb.h).
 * Records are in record.c, the filer summary table in filers.c.
 */
#include "objdb_int.h"

#include <limits.h>
#include <pthread.h>
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
                                     " created BIGINT NOT NULL,"
                                     " dc TEXT NOT NULL DEFAULT '',"
                                     " max_objects BIGINT NOT NULL DEFAULT 0);"
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
                                     " base_weight BIGINT NOT NULL DEFAULT 0,"
                                     " dc TEXT NOT NULL DEFAULT '',"
                                     " read_weight BIGINT NOT NULL DEFAULT 100);";

/* The instance registry and the change feed (registry.h), and the filer
 * history (objdb.h): created in every catalog, new or old, at open. */
static const char registry_schema[] = "CREATE TABLE IF NOT EXISTS instances ("
                                      " id INTEGER PRIMARY KEY,"
                                      " role TEXT NOT NULL,"
                                      " url TEXT NOT NULL,"
                                      " dc TEXT NOT NULL,"
                                      " version TEXT NOT NULL,"
                                      " started BIGINT NOT NULL,"
                                      " last_heartbeat BIGINT NOT NULL,"
                                      " status TEXT NOT NULL,"
                                      " UNIQUE (role, url));"
                                      "CREATE TABLE IF NOT EXISTS changes ("
                                      " seq INTEGER PRIMARY KEY,"
                                      " uuid TEXT NOT NULL,"
                                      " at_ms BIGINT NOT NULL);"
                                      "CREATE INDEX IF NOT EXISTS changes_by_time"
                                      " ON changes (at_ms);"
                                      "CREATE TABLE IF NOT EXISTS filer_history ("
                                      " filer BIGINT NOT NULL,"
                                      " start_ms BIGINT NOT NULL,"
                                      " end_ms BIGINT NOT NULL,"
                                      " bytes_in BIGINT NOT NULL,"
                                      " bytes_out BIGINT NOT NULL,"
                                      " io_errors BIGINT NOT NULL,"
                                      " polls BIGINT NOT NULL,"
                                      " failures BIGINT NOT NULL,"
                                      " used_bytes BIGINT NOT NULL,"
                                      " total_bytes BIGINT NOT NULL,"
                                      " latency_us BIGINT NOT NULL,"
                                      " PRIMARY KEY (filer, start_ms));"
                                      "CREATE INDEX IF NOT EXISTS filer_history_by_end"
                                      " ON filer_history (end_ms);";

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

/* Version 3: the purge pass's look-up of records marked deleted
 * (cf_objdb_list_marked) reads this partial index, which holds only the
 * marked records, instead of walking every record of the shard by id. */
static const char shard_v3[] =
    "CREATE INDEX IF NOT EXISTS objects_marked ON objects (id) WHERE deleted = 1;";

/* Version 4: dedupe across shards (objdb.h "Dedupe"). An alias whose holder
 * is in another shard has objects.alias 0 and names the holder by
 * alias_shard, alias_oid and alias_rnd (columns added by shard_v4_columns);
 * the holder's shard lists it in alias_refs, which the purge of the holder
 * reads; alias_voids lists the alias commits the ref sweep gave up on (an
 * alias object id and the since of its ref), which may then never commit. */
static const char shard_v4[] =
    "CREATE TABLE IF NOT EXISTS alias_refs ("
    " object_id BIGINT NOT NULL,"
    " alias_shard BIGINT NOT NULL,"
    " alias_oid BIGINT NOT NULL,"
    " alias_rnd BIGINT NOT NULL,"
    " since BIGINT NOT NULL,"
    " PRIMARY KEY (object_id, alias_shard, alias_oid));"
    "CREATE INDEX IF NOT EXISTS alias_refs_by_time ON alias_refs (since);"
    "CREATE TABLE IF NOT EXISTS alias_voids ("
    " object_id BIGINT NOT NULL,"
    " since BIGINT NOT NULL,"
    " PRIMARY KEY (object_id, since));";

static const struct cf_db_column shard_v4_columns[] = {
    {"objects", "alias_shard", "ALTER TABLE objects ADD COLUMN alias_shard BIGINT;"},
    {"objects", "alias_oid", "ALTER TABLE objects ADD COLUMN alias_oid BIGINT;"},
    {"objects", "alias_rnd", "ALTER TABLE objects ADD COLUMN alias_rnd BIGINT;"},
};

/* Columns added to a shard after version 3, on every open (cf_db_add_columns
 * adds only the missing ones): a record's transform and what its filers hold
 * (objdb.h CF_OBJDB_XFORM_*), in the object map and the deleted map alike.
 * stored_size and stored_sha512 stay NULL for a record with xform 0. */
static const struct cf_db_column shard_cols[] = {
    {"objects", "xform", "ALTER TABLE objects ADD COLUMN xform INTEGER NOT NULL DEFAULT 0;"},
    {"objects", "stored_size", "ALTER TABLE objects ADD COLUMN stored_size BIGINT;"},
    {"objects", "stored_sha512", "ALTER TABLE objects ADD COLUMN stored_sha512 BLOB;"},
    {"deleted_objects", "xform",
     "ALTER TABLE deleted_objects ADD COLUMN xform INTEGER NOT NULL DEFAULT 0;"},
    {"deleted_objects", "stored_size",
     "ALTER TABLE deleted_objects ADD COLUMN stored_size BIGINT;"},
    {"deleted_objects", "stored_sha512",
     "ALTER TABLE deleted_objects ADD COLUMN stored_sha512 BLOB;"},
};

/* ---- schema ---------------------------------------------------------------- */

/* Inside the caller's transaction: if db is a version 1, 2 or 3 shard, create
 * what that version lacks (a fresh shard is stamped 1 and comes through here
 * too) and stamp it with the current version; then add any of shard_cols it
 * lacks. Anything else is left for cf_db_meta_check. */
static int shard_upgrade(struct cf_db *db, char *err)
{
    static const char sql_version[] =
        "SELECT version FROM coffer_meta WHERE id = 1 AND kind = 'shard'";
    static const char sql_stamp[] = "UPDATE coffer_meta SET version = ?1 WHERE id = 1";
    int64_t version = 0;
    int rc;

    rc = cf_db_run(db, &version, 1, err, sql_version, "");
    if (rc < 0 || rc == CF_DB_DONE || version < 1 || version >= CF__OBJDB_SHARD_VERSION)
        goto out;
    rc = 0;
    if (version == 1)
        rc = cf_db_exec(db, shard_schema, err);
    if (rc == 0 && version == 1)
        rc = cf_db_exec(db, shard_v2, err);
    if (rc == 0)
        rc = cf_db_exec(db, shard_v3, err);
    if (rc == 0)
        rc = cf_db_exec(db, shard_v4, err);
    if (rc == 0)
        rc = cf_db_add_columns(db, shard_v4_columns, CF_ARRAY_LEN(shard_v4_columns), err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, sql_stamp, "i", (int64_t)CF__OBJDB_SHARD_VERSION);
out:
    if (rc >= 0 && version >= 1 && version <= CF__OBJDB_SHARD_VERSION)
        rc = cf_db_add_columns(db, shard_cols, CF_ARRAY_LEN(shard_cols), err);
    return rc < 0 ? rc : 0;
}

/* Inside the caller's transaction, bring a catalog made by an older coffer
 * up to the current columns: filers.base_weight (the operator's weight,
 * which the tracker scales into weight), starting equal to weight; the
 * data-center labels filers.dc and shards.dc, starting empty;
 * filers.read_weight (the operator's weight for reads), starting at
 * CF_OBJDB_READ_WEIGHT_DEFAULT; and shards.max_objects, starting at 0 (no
 * limit). */
static int catalog_migrate(struct cf_db *db, char *err)
{
    static const struct cf_db_column cols[] = {
        {"filers", "base_weight",
         "ALTER TABLE filers ADD COLUMN base_weight BIGINT NOT NULL DEFAULT 0;"
         "UPDATE filers SET base_weight = weight;"},
        {"filers", "dc", "ALTER TABLE filers ADD COLUMN dc TEXT NOT NULL DEFAULT '';"},
        {"shards", "dc", "ALTER TABLE shards ADD COLUMN dc TEXT NOT NULL DEFAULT '';"},
        {"filers", "read_weight",
         "ALTER TABLE filers ADD COLUMN read_weight BIGINT NOT NULL DEFAULT 100;"},
        {"shards", "max_objects",
         "ALTER TABLE shards ADD COLUMN max_objects BIGINT NOT NULL DEFAULT 0;"},
    };

    return cf_db_add_columns(db, cols, CF_ARRAY_LEN(cols), err);
}

/* Create the tables of a catalog (shard_id 0) or a shard if missing, stamp
 * coffer_meta, and check it, in one transaction: two processes creating the
 * same database at once end with one stamp. */
static int schema_init(struct cf_db *db, const char *uri, uint32_t shard_id, char *err)
{
    static const char stamp[] = "INSERT INTO coffer_meta (id, kind, version, shard_id, next_oid)"
                                " VALUES (1, ?1, ?2, ?3, 1) ON CONFLICT (id) DO NOTHING";
    const char *kind = shard_id == 0 ? "catalog" : "shard";
    int64_t version = shard_id == 0 ? CF__OBJDB_CATALOG_VERSION : CF__OBJDB_SHARD_VERSION;
    int rc;

    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_exec_missing(db, meta_schema, err);
    if (rc < 0)
        goto out;
    /* Check before creating the rest, so a wrong file gets no extra tables.
     * A new shard starts at version 1 and is upgraded like an old one. */
    rc = cf_db_run(db, NULL, 0, err, stamp, "tii", kind, shard_id == 0 ? version : (int64_t)1,
                   (int64_t)shard_id);
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
        rc = cf_db_exec_missing(db, catalog_schema, err);
    if (rc == 0 && shard_id == 0)
        rc = catalog_migrate(db, err);
    if (rc == 0 && shard_id == 0)
        rc = cf_db_exec_missing(db, registry_schema, err);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(db, err);
out:
    cf_db_rollback(db);
    return rc;
}

/* Open an existing shard: upgrade it if it is version 1, then check it. */
static int shard_check(struct cf_db *db, const char *uri, uint32_t id, char *err)
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

/* ---- the shard set ---------------------------------------------------------- */

/* An objdb shard: the set's entry, then the block of reserved object ids. */
static int open_db(struct cf_db *db, const char *uri, uint32_t id, bool create, char *err)
{
    return create ? schema_init(db, uri, id, err) : shard_check(db, uri, id, err);
}

static void shard_init(struct cf_shardset_shard *sh)
{
    pthread_mutex_init(&((struct objdb_shard *)sh)->id_mu, NULL);
    cf_db_group_init(&((struct objdb_shard *)sh)->group);
}

static void shard_fini(struct cf_shardset_shard *sh)
{
    pthread_mutex_destroy(&((struct objdb_shard *)sh)->id_mu);
    cf_db_group_fini(&((struct objdb_shard *)sh)->group);
}

static const struct cf_shardset_ops shard_ops = {
    .name = "objdb",
    .shard_word = "shard",
    .shard_size = sizeof(struct objdb_shard),
    /* The flag columns in CF__OBJDB_READ_ONLY, CF__OBJDB_OBSOLETE order,
     * then the limit: max_objects. */
    .select_sql =
        "SELECT id, location, created, read_only, obsolete, max_objects FROM shards ORDER BY id",
    .nflags = 2,
    .has_limit = true,
    .reload_min_ms = CF_OBJDB_RELOAD_MIN_MS,
    .open_db = open_db,
    .shard_init = shard_init,
    .shard_fini = shard_fini,
};

/* The shard `id`, as cf__objdb_find_shard. */
static int find_shard(struct cf_objdb *odb, uint16_t id, struct cf_shardset_shard **out, char *err)
{
    char detail[CF_ERR_LEN] = "";
    int rc = cf_shardset_find(odb->set, id, out, detail);

    /* The caller answers "not found"; the reason is for the operator. */
    if (rc < 0 && rc != CF_ENOTFOUND)
        cf_log(CF_LOG_WARN, "objdb \"%s\": re-reading the shards table failed: %s",
               odb->catalog_uri, detail);
    if (rc < 0) {
        cf_err_set(err, "no shard %u", (unsigned)id);
        rc = CF_ENOTFOUND;
    }
    return rc;
}

/* ---- helpers shared by the record files (objdb_int.h) ---- */

int cf__objdb_find_shard(struct cf_objdb *odb, const struct cf_uuid *uuid,
                         struct cf_shardset_shard **out, char *err)
{
    return find_shard(odb, uuid->shard, out, err);
}

int cf__objdb_oid_out_of_bounds(const struct cf_shardset_shard *sh, int64_t oid, char *err)
{
    cf_err_set(err, "shard %u: object id %lld out of bounds", (unsigned)sh->id, (long long)oid);
    cf_log(CF_LOG_ERROR, "objdb: shard %u: object id %lld out of bounds", (unsigned)sh->id,
           (long long)oid);
    return CF_ECORRUPT;
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
        struct cf_shardset_shard *sh = cf_shardset_from(odb->set, c.shard);
        uint64_t last = 0;
        bool more = false;

        if (sh == NULL) {
            c.done = true;
            break;
        }
        if (sh->id != c.shard) {
            c.shard = (uint16_t)sh->id;
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
            if (last > c.after_oid) {
                c.after_oid = last; /* rows read, none listed: read on */
                continue;
            }
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

/* ---- open / close ---------------------------------------------------------- */

int cf_objdb_refresh(struct cf_objdb *odb, char *err)
{
    return cf_shardset_reload(odb->set, err);
}

int cf_objdb_open(const char *catalog_uri, unsigned pool_size, struct cf_objdb **out, char *err)
{
    struct cf_objdb *odb = NULL;
    int rc;

    *out = NULL;
    odb = cf_xcalloc(1, sizeof(*odb));
    rc = cf_shardset_open(catalog_uri, pool_size == 0 ? cf_db_pool_default(catalog_uri) : pool_size,
                          &shard_ops, &odb->set, err);
    if (rc < 0)
        goto out;
    odb->catalog = cf_shardset_catalog(odb->set);
    odb->catalog_uri = cf_db_uri_redact(cf_shardset_catalog_uri(odb->set));
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
    cf_shardset_close(odb->set);
    free(odb->catalog_uri);
    free(odb);
}

/* ---- shards -------------------------------------------------------------------- */

/* The next free shard id after the largest in the catalog. */
static int next_shard_id(struct cf_db *db, uint32_t *out, char *err)
{
    static const char sql[] = "SELECT coalesce(max(id), 0) FROM shards";
    int64_t max = 0;
    int rc;

    rc = cf_db_run(db, &max, 1, err, sql, "");
    if (rc < 0)
        goto out;
    if (max >= CF_UUID_SHARD_MAX) {
        cf_err_set(err, "no shard id above %lld is free; give one explicitly", (long long)max);
        rc = CF_EINVAL;
        goto out;
    }
    *out = (uint32_t)(max + 1);
    rc = 0;
out:
    return rc;
}

/* cf_shardset_add's choice: id 0 takes the next free id, a NULL location a
 * file next to a SQLite catalog, its name kept in arg (char[32]). */
static int add_choose(struct cf_shardset *set, struct cf_db *catalog, void *arg, uint32_t *id,
                      const char **location, char *err)
{
    char *auto_loc = arg;
    int rc = 0;

    if (*id == 0) {
        rc = next_shard_id(catalog, id, err);
        if (rc < 0)
            goto out;
    }
    if (*location == NULL) {
        if (cf_shardset_catalog_dir(set) == NULL) {
            cf_err_set(err, "a shard needs a location unless the catalog is SQLite");
            rc = CF_EINVAL;
            goto out;
        }
        /* Relative: resolved against the catalog's directory (objdb.h). */
        (void)snprintf(auto_loc, 32, "sqlite:shard-%04x.db", (unsigned)*id);
        *location = auto_loc;
    }
out:
    return rc;
}

/* The catalog row of a new shard: the commit point of cf_objdb_shard_add. */
static int add_row(struct cf_db *catalog, const struct cf_shardset_shard *sh, void *arg, char *err)
{
    static const char sql[] = "INSERT INTO shards (id, location, read_only, obsolete, created)"
                              " VALUES (?1, ?2, 0, 0, ?3)";
    int rc;

    (void)arg;
    rc = cf_db_run(catalog, NULL, 0, err, sql, "iti", (int64_t)sh->id, sh->location,
                   (int64_t)sh->created_ms);
    if (rc == CF_EEXIST)
        cf_err_set(err, "shard %u or location \"%s\" is already registered", (unsigned)sh->id,
                   sh->location);
    return rc < 0 ? rc : 0;
}

int cf_objdb_shard_add(struct cf_objdb *odb, uint16_t id, const char *location, uint16_t *id_out,
                       char *err)
{
    struct cf_shardset_shard *sh = NULL;
    char auto_loc[32];
    int rc;

    rc = cf_shardset_add(odb->set, id, location, add_choose, add_row, auto_loc, &sh, err);
    if (rc == 0 && id_out != NULL)
        *id_out = (uint16_t)sh->id;
    return rc;
}

int cf_objdb_shard_set(struct cf_objdb *odb, uint16_t id, bool read_only, bool obsolete, char *err)
{
    static const char sql[] =
        "UPDATE shards SET read_only = ?2, obsolete = ?3 WHERE id = ?1 RETURNING id";
    struct cf_db *db = cf_db_pool_acquire(odb->catalog);
    int rc;

    rc =
        cf_db_run(db, NULL, 0, err, sql, "iii", (int64_t)id, (int64_t)read_only, (int64_t)obsolete);
    if (rc < 0)
        goto out;
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no shard %u", (unsigned)id);
        rc = CF_ENOTFOUND;
        goto out;
    }
    rc = 0;
    /* Not cached yet (added by another process): the next reload brings it. */
    cf_shardset_set_flags(odb->set, id,
                          (read_only ? CF__OBJDB_READ_ONLY : 0u) |
                              (obsolete ? CF__OBJDB_OBSOLETE : 0u));
out:
    cf_db_pool_release(odb->catalog, db);
    return rc;
}

int cf_objdb_shard_set_max(struct cf_objdb *odb, uint16_t id, uint64_t max, char *err)
{
    static const char sql[] = "UPDATE shards SET max_objects = ?2 WHERE id = ?1 RETURNING id";
    struct cf_db *db = NULL;
    int rc;

    if (max > CF_UUID_OID_MAX) {
        cf_err_set(err, "a shard's max objects is 0..%llu", (unsigned long long)CF_UUID_OID_MAX);
        return CF_EINVAL;
    }
    db = cf_db_pool_acquire(odb->catalog);
    rc = cf_db_run(db, NULL, 0, err, sql, "ii", (int64_t)id, (int64_t)max);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no shard %u", (unsigned)id);
        rc = CF_ENOTFOUND;
    }
    if (rc >= 0)
        cf_shardset_set_limit(odb->set, id, max);
    cf_db_pool_release(odb->catalog, db);
    return rc < 0 ? rc : 0;
}

int cf_objdb_shard_used(struct cf_objdb *odb, uint16_t id, uint64_t *used, char *err)
{
    /* Two reads of a primary key's last entry each. */
    static const char sql_live[] = "SELECT coalesce(max(id), 0) FROM objects";
    static const char sql_deleted[] = "SELECT coalesce(max(id), 0) FROM deleted_objects";
    struct cf_shardset_shard *sh = NULL;
    struct objdb_shard *os;
    struct cf_db *db;
    int64_t live = 0, deleted = 0;
    uint64_t mem, n;
    int rc;

    rc = find_shard(odb, id, &sh, err);
    if (rc < 0)
        return rc;
    os = (struct objdb_shard *)sh;
    db = cf_db_pool_acquire(sh->pool);
    rc = cf_db_run(db, &live, 1, err, sql_live, "");
    if (rc >= 0)
        rc = cf_db_run(db, &deleted, 1, err, sql_deleted, "");
    cf_db_pool_release(sh->pool, db);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&os->id_mu);
    mem = os->next_oid > 0 ? os->next_oid - 1 : 0;
    pthread_mutex_unlock(&os->id_mu);
    n = mem;
    if (live > 0 && (uint64_t)live > n)
        n = (uint64_t)live;
    if (deleted > 0 && (uint64_t)deleted > n)
        n = (uint64_t)deleted;
    *used = n;
    return 0;
}

void cf_objdb_shard_list(struct cf_objdb *odb, struct cf_objdb_shard **out, size_t *n)
{
    struct cf_shardset_item *items = NULL;
    struct cf_objdb_shard *v = NULL;
    size_t count = cf_shardset_snapshot(odb->set, &items);

    if (count > 0)
        v = cf_xcalloc(count, sizeof(*v));
    for (size_t i = 0; i < count; i++) {
        const struct cf_shardset_shard *sh = items[i].shard;

        v[i].id = (uint16_t)sh->id;
        /* Stored locations were checked against CF_DB_URI_MAX when read or added. */
        (void)snprintf(v[i].location, sizeof(v[i].location), "%s", sh->location);
        v[i].read_only = (items[i].flags & CF__OBJDB_READ_ONLY) != 0;
        v[i].obsolete = (items[i].flags & CF__OBJDB_OBSOLETE) != 0;
        v[i].created_ms = sh->created_ms;
        v[i].max_objects = items[i].limit;
    }
    free(items);
    *n = count;
    *out = v;
}

bool cf_objdb_dc_valid(const char *dc)
{
    size_t len = strnlen(dc, CF_OBJDB_DC_MAX + 1);

    if (len > CF_OBJDB_DC_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = dc[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

int cf_objdb_shard_set_dc(struct cf_objdb *odb, uint16_t id, const char *dc, char *err)
{
    static const char sql[] = "UPDATE shards SET dc = ?2 WHERE id = ?1 RETURNING id";
    struct cf_db *db = NULL;
    int rc;

    if (!cf_objdb_dc_valid(dc)) {
        cf_err_set(err, "a data center is 0..%d bytes of A-Z a-z 0-9 . _ -", CF_OBJDB_DC_MAX);
        return CF_EINVAL;
    }
    db = cf_db_pool_acquire(odb->catalog);
    rc = cf_db_run(db, NULL, 0, err, sql, "it", (int64_t)id, dc);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no shard %u", (unsigned)id);
        rc = CF_ENOTFOUND;
    }
    cf_db_pool_release(odb->catalog, db);
    return rc < 0 ? rc : 0;
}

int cf_objdb_shard_dc(struct cf_objdb *odb, uint16_t id, char out[CF_OBJDB_DC_MAX + 1], char *err)
{
    static const char sql[] = "SELECT dc FROM shards WHERE id = ?1";
    struct cf_db *db = cf_db_pool_acquire(odb->catalog);
    struct cf_db_stmt *s = NULL;
    int rc;

    out[0] = '\0';
    rc = cf_db_query(db, &s, err, sql, "i", (int64_t)id);
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no shard %u", (unsigned)id);
        rc = CF_ENOTFOUND;
    }
    if (rc < 0)
        goto out;
    rc = cf_db_column_copy_text(s, 0, out, CF_OBJDB_DC_MAX + 1) < 0 ? CF_ECORRUPT : 0;
    if (rc < 0)
        cf_err_set(err, "shard %u: its data center is too long", (unsigned)id);
out:
    cf_db_finalize(s);
    cf_db_pool_release(odb->catalog, db);
    return rc;
}

/* ---- object ids ---------------------------------------------------------------- */

/* Reserve the next block of object ids durably: one commit per
 * CF_OBJDB_ID_BLOCK uploads instead of one per upload. Caller holds id_mu. */
static int reserve_block(struct objdb_shard *sh, char *err)
{
    static const char sql[] = "UPDATE coffer_meta SET next_oid = next_oid + ?1"
                              " WHERE id = 1 AND kind = 'shard' RETURNING next_oid";
    struct cf_db *db = cf_db_pool_acquire(sh->base.pool);
    int64_t end = 0;
    int rc;

    /* Run to the end: the reservation is durable, and its commit checked,
     * before any id of the block is handed out. */
    rc = cf_db_run(db, &end, 1, err, sql, "i", (int64_t)CF_OBJDB_ID_BLOCK);
    if (rc < 0)
        goto out;
    if (end <= CF_OBJDB_ID_BLOCK) {
        cf_err_set(err, "shard %u: coffer_meta row missing or damaged", (unsigned)sh->base.id);
        cf_log(CF_LOG_ERROR, "objdb: shard %u: coffer_meta row missing or damaged",
               (unsigned)sh->base.id);
        rc = CF_ECORRUPT;
        goto out;
    }
    sh->next_oid = (uint64_t)end - CF_OBJDB_ID_BLOCK;
    sh->end_oid = (uint64_t)end;
    if (sh->end_oid > CF_UUID_OID_MAX + 1)
        sh->end_oid = CF_UUID_OID_MAX + 1;
    rc = 0;
out:
    cf_db_pool_release(sh->base.pool, db);
    return rc;
}

/* Whether the next id of sh would pass max (0: none). Caller holds id_mu. */
static bool over_max(const struct objdb_shard *sh, uint64_t max)
{
    return max > 0 && sh->next_oid > max;
}

/* The next object id of sh, at most max (0: no limit). A full shard answers
 * CF_ENOSPC without writing: no block is reserved past an id over max. */
static int take_oid(struct objdb_shard *sh, uint64_t max, uint64_t *out, char *err)
{
    int rc = 0;

    pthread_mutex_lock(&sh->id_mu);
    if (!over_max(sh, max) && sh->next_oid >= sh->end_oid) {
        rc = reserve_block(sh, err);
        if (rc < 0)
            goto out;
    }
    if (over_max(sh, max)) {
        cf_err_set(err, "shard %u is full (its max of %llu objects reached)", (unsigned)sh->base.id,
                   (unsigned long long)max);
        rc = CF_ENOSPC;
        goto out;
    }
    if (sh->next_oid >= sh->end_oid) {
        cf_err_set(err, "shard %u has used every object id", (unsigned)sh->base.id);
        rc = CF_ENOSPC;
        goto out;
    }
    *out = sh->next_oid++;
out:
    pthread_mutex_unlock(&sh->id_mu);
    return rc;
}

/* *sh is full: take an id of the first other writable shard that is not.
 * On success *sh is that shard. Returns 0, CF_EUNAVAIL (err names the
 * first full shard, as it came in), or a db.h error. */
static int reserve_other(struct cf_objdb *odb, struct cf_shardset_shard **sh, uint64_t *oid,
                         char *err)
{
    struct cf_shardset_item *items = NULL;
    size_t n = cf_shardset_snapshot(odb->set, &items);
    char full[CF_ERR_LEN];
    int rc = CF_ENOSPC;

    (void)snprintf(full, sizeof(full), "%s", err != NULL ? err : "");
    for (size_t i = 0; i < n && rc == CF_ENOSPC; i++) {
        if (items[i].shard == *sh || (items[i].flags & CF__OBJDB_UNWRITABLE) != 0)
            continue;
        rc = take_oid((struct objdb_shard *)items[i].shard, items[i].limit, oid, err);
        if (rc == 0)
            *sh = items[i].shard;
    }
    free(items);
    if (rc == CF_ENOSPC) {
        cf_err_set(err, "every writable shard is full (%s): add a shard or raise its max", full);
        rc = CF_EUNAVAIL;
    }
    return rc;
}

int cf_objdb_reserve(struct cf_objdb *odb, uint16_t shard, struct cf_uuid *out, char *err)
{
    struct cf_shardset_shard *sh;
    struct cf_uuid u = {0, 0, 0};
    int rc;

    if (shard == 0) {
        /* Round robin over the shards that take new objects. */
        sh = cf_shardset_pick(odb->set, CF__OBJDB_UNWRITABLE);
        if (sh == NULL) {
            cf_err_set(err, "no writable shard (all read-only or obsolete, or none added)");
            rc = CF_EUNAVAIL;
            goto out;
        }
    } else {
        rc = find_shard(odb, shard, &sh, err);
        if (rc < 0)
            goto out;
        if ((cf_shardset_flags(odb->set, sh) & CF__OBJDB_UNWRITABLE) != 0) {
            cf_err_set(err, "shard %u takes no new objects (read-only or obsolete)",
                       (unsigned)shard);
            rc = CF_EREADONLY;
            goto out;
        }
    }
    rc = take_oid((struct objdb_shard *)sh, cf_shardset_limit(odb->set, sh), &u.oid, err);
    if (rc == CF_ENOSPC && shard == 0)
        rc = reserve_other(odb, &sh, &u.oid, err);
    if (rc < 0)
        goto out;
    u.shard = (uint16_t)sh->id;
    rc = cf_uuid_random(&u.rnd);
    if (rc < 0) {
        cf_err_set(err, "no random bits from the kernel");
        goto out;
    }
    *out = u;
out:
    return rc;
}
