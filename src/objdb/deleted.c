/*
 * deleted.c -- the purge side of the deleted-object map (objdb.h, "the
 * deleted-object map"): listing marked and deleted records, per-filer purge
 * states, removal once every replica is gone, and undelete.
 */
#include "objdb_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/log.h"

static int list_marked_shard(struct cf_shardset_shard *sh, const void *arg, uint64_t after_oid,
                             void *vout, size_t want, uint64_t *last_oid, bool *more, char *err)
{
    (void)more;
    uint64_t before_ms = *(const uint64_t *)arg;
    static const char sql[] = "SELECT id, rnd FROM objects"
                              " WHERE id > ?1 AND deleted = 1 AND deleted_at <= ?2"
                              " ORDER BY id LIMIT ?3";
    struct cf_uuid *out = vout;
    struct cf_db *db = cf_db_pool_acquire(sh->pool);
    struct cf_db_stmt *s = NULL;
    size_t n = 0;
    int rc;

    rc = cf_db_query(db, &s, err, sql, "iii", (int64_t)after_oid,
                     before_ms > INT64_MAX ? INT64_MAX : (int64_t)before_ms, (int64_t)want);
    if (rc < 0)
        goto out;
    for (;;) {
        int64_t oid;

        rc = cf_db_step(s, err);
        if (rc < 0)
            goto out;
        if (rc == CF_DB_DONE)
            break;
        oid = cf_db_column_int64(s, 0);
        if (n >= want || oid < 1 || (uint64_t)oid > CF_UUID_OID_MAX) {
            rc = cf__objdb_oid_out_of_bounds(sh, oid, err);
            goto out;
        }
        out[n].shard = (uint16_t)sh->id;
        out[n].oid = (uint64_t)oid;
        out[n].rnd = cf__objdb_u64(cf_db_column_int64(s, 1));
        *last_oid = (uint64_t)oid;
        n++;
    }
    rc = (int)n;
out:
    cf_db_finalize(s);
    cf_db_pool_release(sh->pool, db);
    return rc;
}

int cf_objdb_list_marked(struct cf_objdb *odb, uint64_t before_ms, struct cf_objdb_cursor *cur,
                         struct cf_uuid *out, size_t cap, char *err)
{
    return cf__objdb_walk(odb, &before_ms, cur, out, sizeof(*out), cap, list_marked_shard, err);
}

/* Fill d's filers and states from the deleted_object_filers rows of d->uuid. */
static int read_filers(struct cf_shardset_shard *sh, struct cf_db *db, struct cf_objdb_deleted *d,
                       char *err)
{
    static const char sql[] = "SELECT filer_id, purged FROM deleted_object_filers"
                              " WHERE object_id = ?1 ORDER BY filer_id";
    struct cf_db_stmt *s = NULL;
    int rc;

    d->nfilers = 0;
    rc = cf_db_query(db, &s, err, sql, "i", (int64_t)d->uuid.oid);
    if (rc < 0)
        goto out;
    for (;;) {
        int64_t filer, st;

        rc = cf_db_step(s, err);
        if (rc < 0)
            goto out;
        if (rc == CF_DB_DONE)
            break;
        filer = cf_db_column_int64(s, 0);
        st = cf_db_column_int64(s, 1);
        if (d->nfilers >= CF_OBJDB_REPLICAS_MAX || filer < 1 || filer > UINT32_MAX ||
            (st != CF_OBJDB_PURGE_NONE && st != CF_OBJDB_PURGE_DONE && st != CF_OBJDB_PURGE_SENT)) {
            cf_err_set(err, "shard %u: deleted record %llu is out of bounds", (unsigned)sh->id,
                       (unsigned long long)d->uuid.oid);
            cf_log(CF_LOG_ERROR, "objdb: shard %u: deleted record %llu is out of bounds",
                   (unsigned)sh->id, (unsigned long long)d->uuid.oid);
            rc = CF_ECORRUPT;
            goto out;
        }
        d->filers[d->nfilers] = (uint32_t)filer;
        d->state[d->nfilers] = (enum cf_objdb_purge)st;
        d->nfilers++;
    }
    rc = 0;
out:
    cf_db_finalize(s);
    return rc;
}

/* Columns of the deleted_objects queries below: id, rnd, deleted_at, path, size. */
static int read_deleted_row(struct cf_shardset_shard *sh, struct cf_db_stmt *s,
                            struct cf_objdb_deleted *d, char *err)
{
    int64_t oid = cf_db_column_int64(s, 0), size = cf_db_column_int64(s, 4);

    memset(d, 0, sizeof(*d));
    if (oid < 1 || (uint64_t)oid > CF_UUID_OID_MAX || size < 0 ||
        cf_db_column_copy_text(s, 3, d->path, sizeof(d->path)) < 0)
        return cf__objdb_oid_out_of_bounds(sh, oid, err);
    d->uuid.shard = (uint16_t)sh->id;
    d->uuid.oid = (uint64_t)oid;
    d->uuid.rnd = cf__objdb_u64(cf_db_column_int64(s, 1));
    d->deleted_ms = (uint64_t)cf_db_column_int64(s, 2);
    d->size = (uint64_t)size;
    return 0;
}

static int list_deleted_shard(struct cf_shardset_shard *sh, const void *arg, uint64_t after_oid,
                              void *vout, size_t want, uint64_t *last_oid, bool *more, char *err)
{
    (void)more;
    uint64_t before_ms = *(const uint64_t *)arg;
    static const char sql[] = "SELECT id, rnd, deleted_at, path, size FROM deleted_objects"
                              " WHERE id > ?1 AND deleted_at <= ?2 ORDER BY id LIMIT ?3";
    struct cf_objdb_deleted *out = vout;
    struct cf_db *db = cf_db_pool_acquire(sh->pool);
    struct cf_db_stmt *s = NULL;
    size_t n = 0;
    int rc;

    /* One transaction, so each record and its filer rows are one snapshot. */
    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_query(db, &s, err, sql, "iii", (int64_t)after_oid,
                     before_ms > INT64_MAX ? INT64_MAX : (int64_t)before_ms, (int64_t)want);
    if (rc < 0)
        goto out;
    for (;;) {
        rc = cf_db_step(s, err);
        if (rc < 0)
            goto out;
        if (rc == CF_DB_DONE)
            break;
        if (n >= want) {
            rc = cf__objdb_oid_out_of_bounds(sh, cf_db_column_int64(s, 0), err);
            goto out;
        }
        rc = read_deleted_row(sh, s, &out[n], err);
        if (rc < 0)
            goto out;
        *last_oid = out[n].uuid.oid;
        n++;
    }
    cf_db_finalize(s);
    s = NULL;
    for (size_t i = 0; i < n; i++) {
        rc = read_filers(sh, db, &out[i], err);
        if (rc < 0)
            goto out;
    }
    rc = (int)n;
out:
    cf_db_finalize(s);
    cf_db_rollback(db);
    cf_db_pool_release(sh->pool, db);
    return rc;
}

int cf_objdb_list_deleted(struct cf_objdb *odb, uint64_t before_ms, struct cf_objdb_cursor *cur,
                          struct cf_objdb_deleted *out, size_t cap, char *err)
{
    return cf__objdb_walk(odb, &before_ms, cur, out, sizeof(*out), cap, list_deleted_shard, err);
}

static int list_keys_shard(struct cf_shardset_shard *sh, const void *arg, uint64_t after_oid,
                           void *vout, size_t want, uint64_t *last_oid, bool *more, char *err)
{
    static const char sql[] = "SELECT id, rnd, enc_key, xform FROM deleted_objects"
                              " WHERE id > ?1 AND enc_key IS NOT NULL ORDER BY id LIMIT ?2";
    struct cf_objdb_record *out = vout;
    struct cf_db *db = cf_db_pool_acquire(sh->pool);
    struct cf_db_stmt *s = NULL;
    size_t n = 0;
    int rc;

    (void)arg;
    (void)more;
    rc = cf_db_query(db, &s, err, sql, "ii", (int64_t)after_oid, (int64_t)want);
    while (rc >= 0) {
        int64_t oid, xform;
        const void *p;
        size_t len = 0;

        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        oid = cf_db_column_int64(s, 0);
        xform = cf_db_column_int64(s, 3);
        p = cf_db_column_blob(s, 2, &len);
        if (n >= want || oid < 1 || (uint64_t)oid > CF_UUID_OID_MAX || len > CF_OBJDB_KEY_MAX ||
            xform < 0 || xform > (int64_t)CF_OBJDB_XFORM_ALL) {
            rc = cf__objdb_oid_out_of_bounds(sh, oid, err);
            break;
        }
        memset(&out[n], 0, sizeof(out[n]));
        out[n].uuid.shard = (uint16_t)sh->id;
        out[n].uuid.oid = (uint64_t)oid;
        out[n].uuid.rnd = cf__objdb_u64(cf_db_column_int64(s, 1));
        out[n].xform = (unsigned)xform;
        out[n].key_len = len;
        if (len > 0)
            memcpy(out[n].key, p, len);
        *last_oid = (uint64_t)oid;
        n++;
    }
    cf_db_finalize(s);
    cf_db_pool_release(sh->pool, db);
    return rc < 0 ? rc : (int)n;
}

int cf_objdb_list_deleted_keys(struct cf_objdb *odb, struct cf_objdb_cursor *cur,
                               struct cf_objdb_record *out, size_t cap, char *err)
{
    return cf__objdb_walk(odb, NULL, cur, out, sizeof(*out), cap, list_keys_shard, err);
}

/* ---- one record ----------------------------------------------------------------- */

/* Read the deleted-map record of uuid on db. Returns 0, CF_ENOTFOUND, or an error. */
static int get_deleted_on(struct cf_shardset_shard *sh, struct cf_db *db,
                          const struct cf_uuid *uuid, struct cf_objdb_deleted *out, char *err)
{
    static const char sql[] = "SELECT id, rnd, deleted_at, path, size FROM deleted_objects"
                              " WHERE id = ?1 AND rnd = ?2";
    struct cf_db_stmt *s = NULL;
    char text[CF_UUID_SIZE];
    int rc;

    rc = cf_db_query(db, &s, err, sql, "ii", (int64_t)uuid->oid, cf__objdb_i64(uuid->rnd));
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc < 0)
        goto out;
    if (rc == CF_DB_DONE) {
        cf_uuid_format(uuid, text);
        cf_err_set(err, "no deleted object %s", text);
        rc = CF_ENOTFOUND;
        goto out;
    }
    rc = read_deleted_row(sh, s, out, err);
    if (rc < 0)
        goto out;
    cf_db_finalize(s);
    s = NULL;
    rc = read_filers(sh, db, out, err);
out:
    cf_db_finalize(s);
    return rc;
}

int cf_objdb_get_deleted(struct cf_objdb *odb, const struct cf_uuid *uuid,
                         struct cf_objdb_deleted *out, char *err)
{
    struct cf_shardset_shard *sh = NULL;
    struct cf_db *db = NULL;
    int rc;

    rc = cf__objdb_find_shard(odb, uuid, &sh, err);
    if (rc < 0)
        goto out;
    db = cf_db_pool_acquire(sh->pool);
    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc = get_deleted_on(sh, db, uuid, out, err);
out:
    if (db != NULL) {
        cf_db_rollback(db);
        cf_db_pool_release(sh->pool, db);
    }
    return rc;
}

int cf_objdb_set_purge_state(struct cf_objdb *odb, const struct cf_uuid *uuid, uint32_t filer_id,
                             enum cf_objdb_purge state, char *err)
{
    /* The rnd check rides on the subquery: a guessed object id changes nothing.
     * SENT never overwrites DONE, so a late retry cannot resurrect a replica. */
    static const char sql[] =
        "UPDATE deleted_object_filers SET purged = CASE WHEN purged = 1 THEN 1 ELSE ?4 END"
        " WHERE object_id = ?1 AND filer_id = ?3"
        " AND object_id IN (SELECT id FROM deleted_objects WHERE id = ?1 AND rnd = ?2)"
        " RETURNING purged";
    struct cf_shardset_shard *sh = NULL;
    struct cf_db *db = NULL;
    char text[CF_UUID_SIZE];
    int rc;

    if (state != CF_OBJDB_PURGE_SENT && state != CF_OBJDB_PURGE_DONE) {
        cf_err_set(err, "purge state %d cannot be set", (int)state);
        rc = CF_EINVAL;
        goto out;
    }
    rc = cf__objdb_find_shard(odb, uuid, &sh, err);
    if (rc < 0)
        goto out;
    db = cf_db_pool_acquire(sh->pool);
    /* Under the write lock, as cf_objdb_undelete's check of the states: on
     * PostgreSQL an autocommit UPDATE does not wait for that lock, so SENT
     * could land between the undelete's check and its commit, and the
     * DELETE then remove bytes of a record brought back. */
    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, sql, "iiii", (int64_t)uuid->oid, cf__objdb_i64(uuid->rnd),
                   (int64_t)filer_id, (int64_t)state);
    if (rc < 0)
        goto out;
    if (rc == CF_DB_DONE) {
        cf_uuid_format(uuid, text);
        cf_err_set(err, "no deleted object %s on filer %u", text, (unsigned)filer_id);
        rc = CF_ENOTFOUND;
        goto out;
    }
    rc = cf_db_commit(db, err);
out:
    if (db != NULL) {
        cf_db_rollback(db);
        cf_db_pool_release(sh->pool, db);
    }
    return rc;
}

int cf_objdb_remove_deleted(struct cf_objdb *odb, const struct cf_uuid *uuid, char *err)
{
    static const char sql_filers[] = "DELETE FROM deleted_object_filers WHERE object_id = ?1";
    static const char sql_obj[] = "DELETE FROM deleted_objects WHERE id = ?1";
    struct cf_shardset_shard *sh = NULL;
    struct cf_db *db = NULL;
    struct cf_objdb_deleted d;
    char text[CF_UUID_SIZE];
    int rc;

    rc = cf__objdb_find_shard(odb, uuid, &sh, err);
    if (rc < 0)
        goto out;
    db = cf_db_pool_acquire(sh->pool);
    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc = get_deleted_on(sh, db, uuid, &d, err);
    if (rc < 0)
        goto out;
    for (unsigned i = 0; i < d.nfilers; i++) {
        if (d.state[i] != CF_OBJDB_PURGE_DONE) {
            cf_uuid_format(uuid, text);
            cf_err_set(err, "object %s is not yet purged from filer %u", text,
                       (unsigned)d.filers[i]);
            rc = CF_EBUSY;
            goto out;
        }
    }
    rc = cf_db_run(db, NULL, 0, err, sql_filers, "i", (int64_t)uuid->oid);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, sql_obj, "i", (int64_t)uuid->oid);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(db, err);
out:
    if (db != NULL) {
        cf_db_rollback(db);
        cf_db_pool_release(sh->pool, db);
    }
    return rc;
}

int cf_objdb_undelete(struct cf_objdb *odb, const struct cf_uuid *uuid, char *err)
{
    static const char sql_unmark[] = "UPDATE objects SET deleted = 0, deleted_at = NULL"
                                     " WHERE id = ?1 AND rnd = ?2 RETURNING id";
    static const char sql_copy[] =
        "INSERT INTO objects (id, rnd, replicas, enc_key, deleted, deleted_at, path, size,"
        " sha512, created, xform, stored_size, stored_sha512) SELECT id, rnd, replicas,"
        " enc_key, 0, NULL, path, size, sha512, created, xform, stored_size, stored_sha512"
        " FROM deleted_objects WHERE id = ?1";
    static const char sql_copy_filers[] =
        "INSERT INTO object_filers (object_id, filer_id)"
        " SELECT object_id, filer_id FROM deleted_object_filers WHERE object_id = ?1";
    static const char sql_del_filers[] = "DELETE FROM deleted_object_filers WHERE object_id = ?1";
    static const char sql_del[] = "DELETE FROM deleted_objects WHERE id = ?1";
    struct cf_shardset_shard *sh = NULL;
    struct cf_db *db = NULL;
    struct cf_objdb_deleted d;
    char text[CF_UUID_SIZE];
    int rc;

    rc = cf__objdb_find_shard(odb, uuid, &sh, err);
    if (rc < 0)
        goto out;
    cf_uuid_format(uuid, text);
    db = cf_db_pool_acquire(sh->pool);
    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc =
        cf_db_run(db, NULL, 0, err, sql_unmark, "ii", (int64_t)uuid->oid, cf__objdb_i64(uuid->rnd));
    if (rc < 0)
        goto out;
    if (rc == CF_DB_ROW) {
        rc = cf_db_commit(db, err);
        goto out;
    }
    rc = get_deleted_on(sh, db, uuid, &d, err);
    if (rc < 0)
        goto out;
    /* A SENT replica may already be gone: bringing the record back would
     * promise bytes that no longer exist. */
    for (unsigned i = 0; i < d.nfilers; i++) {
        if (d.state[i] != CF_OBJDB_PURGE_NONE) {
            cf_err_set(err, "object %s is being purged", text);
            rc = CF_ENOTFOUND;
            goto out;
        }
    }
    if (d.nfilers == 0) {
        cf_err_set(err, "deleted object %s has no replicas left", text);
        rc = CF_ENOTFOUND;
        goto out;
    }
    rc = cf_db_run(db, NULL, 0, err, sql_copy, "i", (int64_t)uuid->oid);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, sql_copy_filers, "i", (int64_t)uuid->oid);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, sql_del_filers, "i", (int64_t)uuid->oid);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, sql_del, "i", (int64_t)uuid->oid);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(db, err);
out:
    if (db != NULL) {
        cf_db_rollback(db);
        cf_db_pool_release(sh->pool, db);
    }
    return rc;
}
