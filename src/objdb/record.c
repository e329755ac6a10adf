/*
 * record.c -- object records in the shards: commit, look-up by UUID,
 * delete marks, the deleted-object map, and the per-filer listing (objdb.h).
 */
#include "objdb_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/dbgroup.h"
#include "coffer/err.h"
#include "coffer/log.h"
#include "coffer/objpath.h"
#include "coffer/registry.h"

/* ---- commit ------------------------------------------------------------------ */

static int check_record(const struct cf_objdb_record *rec, char *err)
{
    const char *nul = memchr(rec->path, '\0', sizeof(rec->path));

    if (rec->uuid.shard == 0 || rec->uuid.oid == 0 || rec->uuid.oid > CF_UUID_OID_MAX) {
        cf_err_set(err, "record has no valid UUID");
        return CF_EINVAL;
    }
    if (nul == NULL || cf_objpath_validate(rec->path, (size_t)(nul - rec->path), err) < 0) {
        if (nul == NULL)
            cf_err_set(err, "record path is not terminated");
        return CF_EINVAL;
    }
    if (rec->replicas < 1 || rec->replicas > CF_OBJDB_REPLICAS_MAX || rec->nfilers < 1 ||
        rec->nfilers > CF_OBJDB_REPLICAS_MAX) {
        cf_err_set(err, "replicas %u and filers %u must be in 1..%d", rec->replicas, rec->nfilers,
                   CF_OBJDB_REPLICAS_MAX);
        return CF_EINVAL;
    }
    for (unsigned i = 0; i < rec->nfilers; i++) {
        if (rec->filers[i] == 0) {
            cf_err_set(err, "filer id 0 is not a filer");
            return CF_EINVAL;
        }
        for (unsigned j = 0; j < i; j++) {
            if (rec->filers[j] == rec->filers[i]) {
                cf_err_set(err, "filer %u listed twice", (unsigned)rec->filers[i]);
                return CF_EINVAL;
            }
        }
    }
    if (rec->key_len > CF_OBJDB_KEY_MAX || rec->size > (uint64_t)INT64_MAX ||
        rec->stored_size > (uint64_t)INT64_MAX) {
        cf_err_set(err, "record key or size out of range");
        return CF_EINVAL;
    }
    if ((rec->xform & ~CF_OBJDB_XFORM_ALL) != 0 ||
        ((rec->xform & CF_OBJDB_XFORM_E) != 0 && rec->key_len == 0)) {
        cf_err_set(err, "record transform %u does not match its key", rec->xform);
        return CF_EINVAL;
    }
    return 0;
}

/* Write the record arg's rows inside the open write transaction of db: the
 * record, its filers, and the end of its upload's holds (a cf_db_group_fn).
 * Returns 0 or an error as cf_objdb_commit; on failure the caller rolls the
 * transaction back. */
static int record_write(struct cf_db *db, void *arg, char *err)
{
    static const char sql_next[] = "SELECT next_oid FROM coffer_meta WHERE id = 1";
    static const char sql_obj[] =
        "INSERT INTO objects (id, rnd, replicas, enc_key, deleted, deleted_at, path, size,"
        " sha512, created, xform, stored_size, stored_sha512)"
        " VALUES (?1, ?2, ?3, ?4, 0, NULL, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
    static const char sql_filer[] =
        "INSERT INTO object_filers (object_id, filer_id) VALUES (?1, ?2)";
    static const char sql_sent[] =
        "SELECT 1 FROM stale_replicas WHERE object_id = ?1 AND filer_id = ?2 AND sent <> 0";
    static const char sql_drop[] =
        "DELETE FROM stale_replicas WHERE object_id = ?1 AND filer_id = ?2";
    static const char sql_due[] = "UPDATE stale_replicas SET since = ?2"
                                  " WHERE object_id = ?1 AND sent = 0 AND since > ?2";
    const struct cf_objdb_record *rec = arg;
    struct cf_db_stmt *s = NULL;
    char text[CF_UUID_SIZE];
    int64_t next_oid = 0;
    int rc;

    cf_uuid_format(&rec->uuid, text);
    rc = cf_db_run(db, &next_oid, 1, err, sql_next, "");
    if (rc < 0)
        goto out;
    /* An id above the shard's durable high-water mark of reserved ids was
     * never handed out; taking it would collide with a later reservation. */
    if (rec->uuid.oid >= (uint64_t)next_oid) {
        cf_err_set(err, "UUID %s was never reserved", text);
        rc = CF_EINVAL;
        goto out;
    }

    rc = cf_db_prepare(db, sql_obj, &s, err);
    if (rc < 0)
        goto out;
    cf_db_bind_int64(s, 1, (int64_t)rec->uuid.oid);
    cf_db_bind_int64(s, 2, cf__objdb_i64(rec->uuid.rnd));
    cf_db_bind_int64(s, 3, rec->replicas);
    if (rec->key_len > 0)
        cf_db_bind_blob(s, 4, rec->key, rec->key_len);
    else
        cf_db_bind_null(s, 4);
    cf_db_bind_text(s, 5, rec->path);
    cf_db_bind_int64(s, 6, (int64_t)rec->size);
    cf_db_bind_blob(s, 7, rec->sha512, sizeof(rec->sha512));
    cf_db_bind_int64(s, 8, (int64_t)(rec->created_ms ? rec->created_ms : cf_wall_ms()));
    cf_db_bind_int64(s, 9, (int64_t)rec->xform);
    if (rec->xform != 0) {
        cf_db_bind_int64(s, 10, (int64_t)rec->stored_size);
        cf_db_bind_blob(s, 11, rec->stored_sha512, sizeof(rec->stored_sha512));
    } else {
        cf_db_bind_null(s, 10);
        cf_db_bind_null(s, 11);
    }
    rc = cf_db_step_one(s, NULL, 0, err);
    if (rc == CF_EEXIST)
        cf_err_set(err, "UUID %s is already committed", text);
    if (rc < 0)
        goto out;

    /* The upload's holds (cf_objdb_upload_hold): those of the filers listed
     * end here; a SENT one means its hold ran out and the stale drain may
     * have deleted the bytes, so nothing is recorded. */
    for (unsigned i = 0; i < rec->nfilers; i++) {
        rc = cf_db_run(db, NULL, 0, err, sql_filer, "ii", (int64_t)rec->uuid.oid,
                       (int64_t)rec->filers[i]);
        if (rc >= 0)
            rc = cf_db_run(db, NULL, 0, err, sql_sent, "ii", (int64_t)rec->uuid.oid,
                           (int64_t)rec->filers[i]);
        if (rc == CF_DB_ROW) {
            cf_err_set(err, "the hold on the replica of %s on filer %u ran out", text,
                       (unsigned)rec->filers[i]);
            rc = CF_EBUSY;
        }
        if (rc >= 0)
            rc = cf_db_run(db, NULL, 0, err, sql_drop, "ii", (int64_t)rec->uuid.oid,
                           (int64_t)rec->filers[i]);
        if (rc < 0)
            goto out;
    }
    /* The others are targets that failed: their bytes, if any, are due for
     * the stale drain now. */
    rc = cf_db_run(db, NULL, 0, err, sql_due, "ii", (int64_t)rec->uuid.oid, (int64_t)cf_wall_ms());
out:
    cf_db_finalize(s);
    return rc < 0 ? rc : 0;
}

int cf_objdb_commit(struct cf_objdb *odb, const struct cf_objdb_record *rec, char *err)
{
    struct cf_shardset_shard *sh = NULL;
    int rc;

    rc = check_record(rec, err);
    if (rc < 0)
        return rc;
    rc = cf__objdb_find_shard(odb, &rec->uuid, &sh, err);
    if (rc < 0)
        return rc;
    /* DESIGN §4: the record is the commit point, written after the replicas;
     * records committed at the same time share a transaction (dbgroup.h). */
    return cf_db_group_write(&((struct objdb_shard *)sh)->group, sh->pool, record_write,
                             (void *)rec, err);
}

/* ---- look-up ----------------------------------------------------------------- */

/* Columns of the look-up's first row that describe the object. */
enum {
    COL_REPLICAS,
    COL_KEY,
    COL_DELETED,
    COL_DELETED_AT,
    COL_PATH,
    COL_SIZE,
    COL_SHA512,
    COL_CREATED,
    COL_XFORM,
    COL_STORED_SIZE,
    COL_STORED_SHA512,
    COL_FILER,
    COL_XSHARD, /* an alias whose holder is in another shard: its shard, */
    COL_XOID,   /* object id */
    COL_XRND,   /* and random part */
};

int cf__objdb_read_record_columns(struct cf_db_stmt *s, struct cf_objdb_record *out)
{
    const void *p;
    size_t len;
    int64_t replicas = cf_db_column_int64(s, COL_REPLICAS);
    int64_t size = cf_db_column_int64(s, COL_SIZE);
    int64_t xform;

    if (replicas < 1 || replicas > CF_OBJDB_REPLICAS_MAX || size < 0)
        return CF_ECORRUPT;
    out->replicas = (unsigned)replicas;
    out->size = (uint64_t)size;
    p = cf_db_column_blob(s, COL_KEY, &len);
    if (len > CF_OBJDB_KEY_MAX)
        return CF_ECORRUPT;
    out->key_len = len;
    if (len > 0)
        memcpy(out->key, p, len);
    out->deleted = cf_db_column_int64(s, COL_DELETED) != 0;
    out->deleted_ms = (uint64_t)cf_db_column_int64(s, COL_DELETED_AT);
    if (cf_db_column_copy_text(s, COL_PATH, out->path, sizeof(out->path)) < 0)
        return CF_ECORRUPT;
    p = cf_db_column_blob(s, COL_SHA512, &len);
    if (len != sizeof(out->sha512))
        return CF_ECORRUPT;
    memcpy(out->sha512, p, len);
    out->created_ms = (uint64_t)cf_db_column_int64(s, COL_CREATED);
    xform = cf_db_column_int64(s, COL_XFORM);
    if (xform < 0 || (xform & ~(int64_t)CF_OBJDB_XFORM_ALL) != 0)
        return CF_ECORRUPT;
    out->xform = (unsigned)xform;
    if (xform == 0) {
        out->stored_size = out->size;
        memcpy(out->stored_sha512, out->sha512, sizeof(out->stored_sha512));
        return 0;
    }
    size = cf_db_column_int64(s, COL_STORED_SIZE);
    p = cf_db_column_blob(s, COL_STORED_SHA512, &len);
    if (size < 0 || len != sizeof(out->stored_sha512) ||
        ((xform & CF_OBJDB_XFORM_E) != 0 && out->key_len == 0))
        return CF_ECORRUPT;
    out->stored_size = (uint64_t)size;
    memcpy(out->stored_sha512, p, len);
    return 0;
}

static int get_record(struct cf_objdb *odb, const struct cf_uuid *uuid, unsigned flags, bool follow,
                      struct cf_objdb_record *out, char *err);

/* The second half of the look-up of an alias whose holder is in another
 * shard: out has the alias's own marks and times; fill in the holder's
 * content and filers (a holder marked deleted still backs its aliases).
 * The holder is never purged or made an alias while the alias exists
 * (objdb.h "Dedupe"), so its absence is corruption. */
static int get_cross(struct cf_objdb *odb, const struct cf_uuid *uuid, const struct cf_uuid *holder,
                     struct cf_objdb_record *out, char *err)
{
    struct cf_objdb_record h;
    char text[CF_UUID_SIZE], ht[CF_UUID_SIZE];
    int rc = get_record(odb, holder, CF_OBJDB_GET_DELETED, false, &h, err);

    if (rc == 0) {
        h.uuid = *uuid;
        h.deleted = out->deleted;
        h.deleted_ms = out->deleted_ms;
        h.created_ms = out->created_ms;
        *out = h;
        return 0;
    }
    if (rc == CF_ENOTFOUND) {
        cf_uuid_format(uuid, text);
        cf_uuid_format(holder, ht);
        cf_err_set(err, "alias %s: its holder %s is missing", text, ht);
        cf_log(CF_LOG_ERROR, "objdb: alias %s: its holder %s is missing", text, ht);
        rc = CF_ECORRUPT;
    }
    return rc;
}

int cf_objdb_get(struct cf_objdb *odb, const struct cf_uuid *uuid, unsigned flags,
                 struct cf_objdb_record *out, char *err)
{
    return get_record(odb, uuid, flags, true, out, err);
}

/* cf_objdb_get; follow: an alias of a holder in another shard is read
 * through to it (the holder itself is never such an alias: corruption). */
static int get_record(struct cf_objdb *odb, const struct cf_uuid *uuid, unsigned flags, bool follow,
                      struct cf_objdb_record *out, char *err)
{
    /* DESIGN §3: one indexed access to one shard. The object by primary key
     * and its filers by the (object_id, filer_id) key, in one statement: one
     * row per filer, in filer order straight from that index. */
    /* An alias (objdb.h "maintenance") reads its holder's content and
     * filers, in the same statement: h is o itself for any other record.
     * An alias of a holder in another shard (alias 0) has no h here: its
     * one row names the holder, read next from that shard. */
    static const char sql[] =
        "SELECT h.replicas, h.enc_key, o.deleted, o.deleted_at, h.path, h.size, h.sha512,"
        " o.created, h.xform, h.stored_size, h.stored_sha512, f.filer_id, o.alias_shard,"
        " o.alias_oid, o.alias_rnd"
        " FROM objects o LEFT JOIN objects h ON h.id = coalesce(o.alias, o.id)"
        " LEFT JOIN object_filers f ON f.object_id = h.id"
        " WHERE o.id = ?1 AND o.rnd = ?2 ORDER BY f.filer_id";
    struct cf_shardset_shard *sh = NULL;
    struct cf_db *db = NULL;
    struct cf_db_stmt *s = NULL;
    char text[CF_UUID_SIZE];
    unsigned rows = 0;
    bool cross = false;
    struct cf_uuid holder = {0};
    int rc;

    rc = cf__objdb_find_shard(odb, uuid, &sh, err);
    if (rc < 0)
        goto out;
    cf_uuid_format(uuid, text);
    memset(out, 0, sizeof(*out));
    out->uuid = *uuid;
    db = cf_db_pool_acquire(sh->pool);
    rc = cf_db_query(db, &s, err, sql, "ii", (int64_t)uuid->oid, cf__objdb_i64(uuid->rnd));
    if (rc < 0)
        goto out;
    for (;;) {
        int64_t filer;

        rc = cf_db_step(s, err);
        if (rc < 0)
            goto out;
        if (rc == CF_DB_DONE)
            break;
        if (rows++ == 0 && !cf_db_column_is_null(s, COL_XSHARD)) {
            int64_t xs = cf_db_column_int64(s, COL_XSHARD), xo = cf_db_column_int64(s, COL_XOID);

            if (!follow || xs < 1 || xs > CF_UUID_SHARD_MAX || xs == (int64_t)uuid->shard ||
                xo < 1 || (uint64_t)xo > CF_UUID_OID_MAX)
                goto corrupt;
            cross = true;
            holder.shard = (uint16_t)xs;
            holder.oid = (uint64_t)xo;
            holder.rnd = cf__objdb_u64(cf_db_column_int64(s, COL_XRND));
            out->deleted = cf_db_column_int64(s, COL_DELETED) != 0;
            out->deleted_ms = (uint64_t)cf_db_column_int64(s, COL_DELETED_AT);
            out->created_ms = (uint64_t)cf_db_column_int64(s, COL_CREATED);
            continue;
        }
        if (cross)
            goto corrupt; /* one row only */
        if (rows == 1) {
            rc = cf__objdb_read_record_columns(s, out);
            if (rc < 0)
                goto corrupt;
        }
        if (cf_db_column_is_null(s, COL_FILER))
            continue; /* LEFT JOIN of an object with no filers: caught below */
        filer = cf_db_column_int64(s, COL_FILER);
        if (out->nfilers >= CF_OBJDB_REPLICAS_MAX || filer < 1 || filer > UINT32_MAX)
            goto corrupt;
        out->filers[out->nfilers++] = (uint32_t)filer;
    }
    if (rows == 0) {
        cf_err_set(err, "no object %s", text);
        rc = CF_ENOTFOUND;
        goto out;
    }
    if (!cross && out->nfilers == 0)
        goto corrupt;
    if (out->deleted && (flags & CF_OBJDB_GET_DELETED) == 0) {
        cf_err_set(err, "object %s is deleted", text);
        rc = CF_ENOTFOUND;
        goto out;
    }
    rc = 0;
    goto out;
corrupt:
    cf_err_set(err, "shard %u: record of %s is out of bounds", (unsigned)uuid->shard, text);
    cf_log(CF_LOG_ERROR, "objdb: shard %u: record of %s is out of bounds", (unsigned)uuid->shard,
           text);
    rc = CF_ECORRUPT;
out:
    cf_db_finalize(s);
    if (db != NULL)
        cf_db_pool_release(sh->pool, db);
    if (rc == 0 && cross)
        rc = get_cross(odb, uuid, &holder, out, err);
    return rc;
}

/* ---- delete ------------------------------------------------------------------- */

int cf_objdb_set_deleted(struct cf_objdb *odb, const struct cf_uuid *uuid, bool deleted, char *err)
{
    /* Marking again keeps the first time: the retention clock does not restart. */
    static const char sql_mark[] =
        "UPDATE objects SET deleted = 1, deleted_at = coalesce(deleted_at, ?3)"
        " WHERE id = ?1 AND rnd = ?2 RETURNING id";
    static const char sql_unmark[] = "UPDATE objects SET deleted = 0, deleted_at = NULL"
                                     " WHERE id = ?1 AND rnd = ?2 RETURNING id";
    struct cf_shardset_shard *sh = NULL;
    struct cf_db *db = NULL;
    char text[CF_UUID_SIZE];
    int rc;

    rc = cf__objdb_find_shard(odb, uuid, &sh, err);
    if (rc < 0)
        goto out;
    db = cf_db_pool_acquire(sh->pool);
    if (deleted)
        rc = cf_db_run(db, NULL, 0, err, sql_mark, "iii", (int64_t)uuid->oid,
                       cf__objdb_i64(uuid->rnd), (int64_t)cf_wall_ms());
    else
        rc = cf_db_run(db, NULL, 0, err, sql_unmark, "ii", (int64_t)uuid->oid,
                       cf__objdb_i64(uuid->rnd));
    if (rc < 0)
        goto out;
    if (rc == CF_DB_DONE) {
        cf_uuid_format(uuid, text);
        cf_err_set(err, "no object %s", text);
        rc = CF_ENOTFOUND;
        goto out;
    }
    rc = 0;
out:
    if (db != NULL)
        cf_db_pool_release(sh->pool, db);
    /* Tell the record caches of every objsrv (registry.h, the change feed). */
    if (rc == 0 && deleted)
        rc = cf_changes_add(odb, uuid, cf_wall_ms(), err);
    return rc;
}

int cf_objdb_move_deleted(struct cf_objdb *odb, const struct cf_uuid *uuid, char *err)
{
    static const char sql_check[] =
        "SELECT deleted, alias IS NOT NULL, coalesce(alias_shard, 0), coalesce(alias_oid, 0),"
        " coalesce(alias_rnd, 0) FROM objects WHERE id = ?1 AND rnd = ?2";
    /* Aliases in this shard, and refs of aliases in other shards. */
    static const char sql_aliased[] = "SELECT (SELECT count(*) FROM objects WHERE alias = ?1)"
                                      " + (SELECT count(*) FROM alias_refs WHERE object_id = ?1)";
    static const char sql_copy[] =
        "INSERT INTO deleted_objects (id, rnd, replicas, enc_key, deleted_at, path, size,"
        " sha512, created, xform, stored_size, stored_sha512) SELECT id, rnd, replicas,"
        " enc_key, deleted_at, path, size, sha512, created, xform, stored_size, stored_sha512"
        " FROM objects WHERE id = ?1";
    static const char sql_copy_filers[] =
        "INSERT INTO deleted_object_filers (object_id, filer_id, purged)"
        " SELECT object_id, filer_id, 0 FROM object_filers WHERE object_id = ?1";
    static const char sql_del_filers[] = "DELETE FROM object_filers WHERE object_id = ?1";
    static const char sql_del[] = "DELETE FROM objects WHERE id = ?1";
    struct cf_shardset_shard *sh = NULL;
    struct cf_db *db = NULL;
    char text[CF_UUID_SIZE];
    int64_t row[5] = {0, 0, 0, 0, 0}, aliases = 0;
    int rc;

    rc = cf__objdb_find_shard(odb, uuid, &sh, err);
    if (rc < 0)
        goto out;
    cf_uuid_format(uuid, text);
    db = cf_db_pool_acquire(sh->pool);
    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, row, 5, err, sql_check, "ii", (int64_t)uuid->oid, cf__objdb_i64(uuid->rnd));
    if (rc < 0)
        goto out;
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no object %s", text);
        rc = CF_ENOTFOUND;
        goto out;
    }
    if (row[0] == 0) {
        cf_err_set(err, "object %s is not marked deleted", text);
        rc = CF_EINVAL;
        goto out;
    }
    if (row[1] != 0) { /* an alias: no bytes of its own, nothing to purge */
        rc = cf_db_run(db, NULL, 0, err, sql_del, "i", (int64_t)uuid->oid);
        if (rc == 0)
            rc = cf_db_commit(db, err);
        if (rc == 0 && row[2] != 0) {
            /* Its holder is in another shard: drop the ref there now that
             * the row is gone (objdb.h "Dedupe"); if this fails, the ref
             * sweep drops it later. */
            struct cf_uuid holder = {
                .shard = (uint16_t)row[2], .oid = (uint64_t)row[3], .rnd = cf__objdb_u64(row[4])};
            char why[CF_ERR_LEN] = "";

            cf_db_pool_release(sh->pool, db);
            db = NULL;
            if (cf__objdb_ref_drop(odb, &holder, uuid, 0, why) < 0)
                cf_log(CF_LOG_WARN, "objdb: alias %s is gone, its ref stays for the sweep: %s",
                       text, why);
        }
        goto out;
    }
    rc = cf_db_run(db, &aliases, 1, err, sql_aliased, "i", (int64_t)uuid->oid);
    if (rc < 0)
        goto out;
    if (aliases > 0) {
        cf_err_set(err, "object %s still backs %lld alias(es)", text, (long long)aliases);
        rc = CF_EBUSY;
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

/* ---- per-filer listing --------------------------------------------------------- */

/* Up to `want` objects of filer on shard sh after after_oid, appended to out.
 * Returns how many. */
static int list_shard(struct cf_shardset_shard *sh, uint32_t filer, uint64_t after_oid,
                      struct cf_uuid *out, size_t want, char *err)
{
    /* The per-filer index (filer_id, object_id) gives the rows in order. */
    static const char sql[] = "SELECT f.object_id, o.rnd FROM object_filers f"
                              " JOIN objects o ON o.id = f.object_id"
                              " WHERE f.filer_id = ?1 AND f.object_id > ?2"
                              " ORDER BY f.object_id LIMIT ?3";
    struct cf_db *db = cf_db_pool_acquire(sh->pool);
    struct cf_db_stmt *s = NULL;
    size_t n = 0;
    int rc;

    rc = cf_db_query(db, &s, err, sql, "iii", (int64_t)filer, (int64_t)after_oid, (int64_t)want);
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
            cf_err_set(err, "shard %u: object id %lld out of bounds", (unsigned)sh->id,
                       (long long)oid);
            cf_log(CF_LOG_ERROR, "objdb: shard %u: object id %lld out of bounds", (unsigned)sh->id,
                   (long long)oid);
            rc = CF_ECORRUPT;
            goto out;
        }
        out[n].shard = (uint16_t)sh->id;
        out[n].oid = (uint64_t)oid;
        out[n].rnd = cf__objdb_u64(cf_db_column_int64(s, 1));
        n++;
    }
    rc = (int)n;
out:
    cf_db_finalize(s);
    cf_db_pool_release(sh->pool, db);
    return rc;
}

int cf_objdb_list_by_filer(struct cf_objdb *odb, uint32_t filer_id, struct cf_objdb_cursor *cur,
                           struct cf_uuid *out, size_t cap, char *err)
{
    struct cf_objdb_cursor c = *cur;
    size_t n = 0;
    int rc = 0;

    if (cap > INT_MAX)
        cap = INT_MAX;
    while (!c.done && n < cap) {
        struct cf_shardset_shard *sh = cf_shardset_from(odb->set, c.shard);

        if (sh == NULL) {
            c.done = true;
            break;
        }
        if (sh->id != c.shard) {
            c.shard = (uint16_t)sh->id;
            c.after_oid = 0;
        }
        rc = list_shard(sh, filer_id, c.after_oid, out + n, cap - n, err);
        if (rc < 0)
            goto out;
        if (rc > 0)
            c.after_oid = out[n + (size_t)rc - 1].oid;
        n += (size_t)rc;
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
