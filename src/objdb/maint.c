/*
 * maint.c -- what rebuild, rebalance, audit and dedupe change in the shards
 * (objdb.h, "maintenance"): adding and replacing a record's filers, the
 * stale-replica list, walks over records, and aliases.
 *
 * Every change is one shard transaction that re-reads what it depends on,
 * so a job acting on a listing that has gone out of date fails cleanly
 * (CF_ENOTFOUND, CF_EEXIST, CF_EBUSY) instead of writing a wrong record.
 */
#include "objdb_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/log.h"

int cf__objdb_txn_begin(struct cf_objdb *odb, const struct cf_uuid *uuid, struct cf__objdb_txn *t,
                        char *err)
{
    int rc;

    t->db = NULL;
    cf_uuid_format(uuid, t->text);
    rc = cf__objdb_find_shard(odb, uuid, &t->sh, err);
    if (rc < 0)
        return rc;
    t->db = cf_db_pool_acquire(t->sh->pool);
    return cf_db_begin(t->db, err);
}

void cf__objdb_txn_end(struct cf__objdb_txn *t)
{
    if (t->db == NULL)
        return;
    cf_db_rollback(t->db);
    cf_db_pool_release(t->sh->pool, t->db);
    t->db = NULL;
}

int cf__objdb_retire_replicas(struct cf__objdb_txn *t, uint64_t oid, char *err)
{
    static const char sql_stale[] =
        "INSERT INTO stale_replicas (object_id, filer_id, path, since, sent)"
        " SELECT f.object_id, f.filer_id, o.path, ?2, 0 FROM object_filers f"
        " JOIN objects o ON o.id = f.object_id WHERE f.object_id = ?1"
        " ON CONFLICT (object_id, filer_id) DO UPDATE SET since = excluded.since";
    static const char sql_drop[] = "DELETE FROM object_filers WHERE object_id = ?1";
    int rc;

    rc = cf_db_run(t->db, NULL, 0, err, sql_stale, "ii", (int64_t)oid, (int64_t)cf_wall_ms());
    if (rc >= 0)
        rc = cf_db_run(t->db, NULL, 0, err, sql_drop, "i", (int64_t)oid);
    return rc;
}

/* The object row of uuid in t: whether it is an alias and how many filers
 * it lists. CF_ENOTFOUND if there is none. */
static int object_row(struct cf__objdb_txn *t, const struct cf_uuid *uuid, bool *alias,
                      int64_t *nfilers, char *err)
{
    static const char sql[] = "SELECT alias IS NOT NULL,"
                              " (SELECT count(*) FROM object_filers WHERE object_id = ?1)"
                              " FROM objects WHERE id = ?1 AND rnd = ?2";
    int64_t v[2] = {0, 0};
    int rc = cf_db_run(t->db, v, 2, err, sql, "ii", (int64_t)uuid->oid, cf__objdb_i64(uuid->rnd));

    if (rc < 0)
        return rc;
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no object %s", t->text);
        return CF_ENOTFOUND;
    }
    *alias = v[0] != 0;
    *nfilers = v[1];
    return 0;
}

/* Whether the record lists filer: 1, 0, or an error. */
static int lists(struct cf__objdb_txn *t, uint64_t oid, uint32_t filer, char *err)
{
    static const char sql[] = "SELECT 1 FROM object_filers WHERE object_id = ?1 AND filer_id = ?2";
    int rc = cf_db_run(t->db, NULL, 0, err, sql, "ii", (int64_t)oid, (int64_t)filer);

    return rc < 0 ? rc : rc == CF_DB_ROW;
}

/* Before listing filer for oid: a NONE stale row of that replica is
 * dropped (the bytes stay and are wanted again); a SENT one means the
 * bytes may be going: CF_EBUSY. */
static int clear_stale(struct cf__objdb_txn *t, uint64_t oid, uint32_t filer, char *err)
{
    static const char sql_get[] =
        "SELECT sent FROM stale_replicas WHERE object_id = ?1 AND filer_id = ?2";
    static const char sql_del[] =
        "DELETE FROM stale_replicas WHERE object_id = ?1 AND filer_id = ?2";
    int64_t sent = 0;
    int rc = cf_db_run(t->db, &sent, 1, err, sql_get, "ii", (int64_t)oid, (int64_t)filer);

    if (rc <= 0)
        return rc;
    if (sent != 0) {
        cf_err_set(err, "the replica of %s on filer %u is being deleted", t->text, (unsigned)filer);
        return CF_EBUSY;
    }
    return cf_db_run(t->db, NULL, 0, err, sql_del, "ii", (int64_t)oid, (int64_t)filer);
}

static int insert_filer(struct cf__objdb_txn *t, uint64_t oid, uint32_t filer, char *err)
{
    static const char sql[] = "INSERT INTO object_filers (object_id, filer_id) VALUES (?1, ?2)";
    int rc = cf_db_run(t->db, NULL, 0, err, sql, "ii", (int64_t)oid, (int64_t)filer);

    if (rc == CF_EEXIST)
        cf_err_set(err, "object %s already lists filer %u", t->text, (unsigned)filer);
    return rc < 0 ? rc : 0;
}

int cf_objdb_replica_add(struct cf_objdb *odb, const struct cf_uuid *uuid, uint32_t filer_id,
                         char *err)
{
    struct cf__objdb_txn t;
    bool alias = false;
    int64_t nfilers = 0;
    int rc;

    if (filer_id == 0) {
        cf_err_set(err, "filer id 0 is not a filer");
        return CF_EINVAL;
    }
    rc = cf__objdb_txn_begin(odb, uuid, &t, err);
    if (rc == 0)
        rc = object_row(&t, uuid, &alias, &nfilers, err);
    if (rc == 0 && (alias || nfilers >= CF_OBJDB_REPLICAS_MAX)) {
        cf_err_set(err, "object %s %s", t.text,
                   alias ? "is an alias" : "already has the most filers a record may list");
        rc = CF_EINVAL;
    }
    if (rc == 0)
        rc = clear_stale(&t, uuid->oid, filer_id, err);
    if (rc == 0)
        rc = insert_filer(&t, uuid->oid, filer_id, err);
    if (rc == 0)
        rc = cf_db_commit(t.db, err);
    cf__objdb_txn_end(&t);
    return rc;
}

int cf_objdb_replica_move(struct cf_objdb *odb, const struct cf_uuid *uuid, uint32_t old_filer,
                          uint32_t new_filer, bool stale, char *err)
{
    static const char sql_drop[] =
        "DELETE FROM object_filers WHERE object_id = ?1 AND filer_id = ?2";
    /* A replica dropped twice keeps its state: a SENT one is going anyway. */
    static const char sql_stale[] =
        "INSERT INTO stale_replicas (object_id, filer_id, path, since, sent)"
        " SELECT id, ?2, path, ?3, 0 FROM objects WHERE id = ?1"
        " ON CONFLICT (object_id, filer_id) DO UPDATE SET since = excluded.since";
    struct cf__objdb_txn t;
    bool alias = false;
    int64_t nfilers = 0;
    int rc;

    if (old_filer == 0 || old_filer == new_filer) {
        cf_err_set(err, "bad filers %u -> %u", (unsigned)old_filer, (unsigned)new_filer);
        return CF_EINVAL;
    }
    rc = cf__objdb_txn_begin(odb, uuid, &t, err);
    if (rc == 0)
        rc = object_row(&t, uuid, &alias, &nfilers, err);
    if (rc == 0) {
        rc = lists(&t, uuid->oid, old_filer, err);
        if (rc == 0) {
            cf_err_set(err, "object %s does not list filer %u", t.text, (unsigned)old_filer);
            rc = CF_ENOTFOUND;
        } else if (rc > 0) {
            rc = 0;
        }
    }
    if (rc == 0 && new_filer == 0 && nfilers <= 1) {
        cf_err_set(err, "filer %u holds the only replica of %s", (unsigned)old_filer, t.text);
        rc = CF_EINVAL;
    }
    if (rc == 0 && new_filer != 0) {
        rc = clear_stale(&t, uuid->oid, new_filer, err);
        if (rc == 0)
            rc = insert_filer(&t, uuid->oid, new_filer, err);
    }
    if (rc == 0)
        rc = cf_db_run(t.db, NULL, 0, err, sql_drop, "ii", (int64_t)uuid->oid, (int64_t)old_filer);
    if (rc >= 0 && stale)
        rc = cf_db_run(t.db, NULL, 0, err, sql_stale, "iii", (int64_t)uuid->oid, (int64_t)old_filer,
                       (int64_t)cf_wall_ms());
    if (rc >= 0)
        rc = cf_db_commit(t.db, err);
    cf__objdb_txn_end(&t);
    return rc;
}

/* ---- walks ------------------------------------------------------------------------ */

struct records_arg {
    uint32_t filer;
};

/* Fill the filers of out[0..n) (ascending object ids) from one query over
 * their id range. */
static int read_filers(struct cf_shardset_shard *sh, struct cf_db *db, struct cf_objdb_record *out,
                       size_t n, char *err)
{
    static const char sql[] = "SELECT object_id, filer_id FROM object_filers"
                              " WHERE object_id >= ?1 AND object_id <= ?2"
                              " ORDER BY object_id, filer_id";
    struct cf_db_stmt *s = NULL;
    size_t i = 0;
    int rc =
        cf_db_query(db, &s, err, sql, "ii", (int64_t)out[0].uuid.oid, (int64_t)out[n - 1].uuid.oid);

    if (rc < 0)
        return rc;
    for (;;) {
        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        uint64_t oid = (uint64_t)cf_db_column_int64(s, 0);
        int64_t filer = cf_db_column_int64(s, 1);

        while (i < n && out[i].uuid.oid < oid)
            i++;
        if (i == n || out[i].uuid.oid != oid)
            continue; /* an alias's or a row outside the page */
        if (out[i].nfilers >= CF_OBJDB_REPLICAS_MAX || filer < 1 || filer > UINT32_MAX) {
            rc = cf__objdb_oid_out_of_bounds(sh, (int64_t)oid, err);
            break;
        }
        out[i].filers[out[i].nfilers++] = (uint32_t)filer;
    }
    cf_db_finalize(s);
    return rc < 0 ? rc : 0;
}

static int list_records_shard(struct cf_shardset_shard *sh, const void *varg, uint64_t after_oid,
                              void *vout, size_t want, uint64_t *last_oid, bool *more, char *err)
{
    (void)more;
    static const char sql_all[] =
        "SELECT replicas, enc_key, deleted, deleted_at, path, size, sha512, created, xform,"
        " stored_size, stored_sha512, id, rnd"
        " FROM objects WHERE id > ?1 AND alias IS NULL ORDER BY id LIMIT ?2";
    /* The first rebuild method: scan the records, test each one's filers. */
    static const char sql_filer[] =
        "SELECT replicas, enc_key, deleted, deleted_at, path, size, sha512, created, xform,"
        " stored_size, stored_sha512, id, rnd"
        " FROM objects o WHERE id > ?1 AND alias IS NULL AND EXISTS (SELECT 1 FROM"
        " object_filers f WHERE f.object_id = o.id AND f.filer_id = ?3) ORDER BY id LIMIT ?2";
    const struct records_arg *arg = varg;
    struct cf_objdb_record *out = vout;
    struct cf_db *db = cf_db_pool_acquire(sh->pool);
    struct cf_db_stmt *s = NULL;
    size_t n = 0;
    int rc;

    if (arg->filer)
        rc = cf_db_query(db, &s, err, sql_filer, "iii", (int64_t)after_oid, (int64_t)want,
                         (int64_t)arg->filer);
    else
        rc = cf_db_query(db, &s, err, sql_all, "ii", (int64_t)after_oid, (int64_t)want);
    if (rc < 0)
        goto out;
    for (;;) {
        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        int64_t oid = cf_db_column_int64(s, 11);

        if (n >= want || oid < 1 || (uint64_t)oid > CF_UUID_OID_MAX) {
            rc = cf__objdb_oid_out_of_bounds(sh, oid, err);
            goto out;
        }
        memset(&out[n], 0, sizeof(out[n]));
        out[n].uuid.shard = (uint16_t)sh->id;
        out[n].uuid.oid = (uint64_t)oid;
        out[n].uuid.rnd = cf__objdb_u64(cf_db_column_int64(s, 12));
        if (cf__objdb_read_record_columns(s, &out[n]) < 0) {
            rc = cf__objdb_oid_out_of_bounds(sh, oid, err);
            goto out;
        }
        *last_oid = (uint64_t)oid;
        n++;
    }
    if (rc < 0)
        goto out;
    cf_db_finalize(s);
    s = NULL;
    if (n > 0)
        rc = read_filers(sh, db, out, n, err);
    if (rc == 0)
        rc = (int)n;
out:
    cf_db_finalize(s);
    cf_db_pool_release(sh->pool, db);
    return rc;
}

int cf_objdb_list_records(struct cf_objdb *odb, uint32_t filer_id, struct cf_objdb_cursor *cur,
                          struct cf_objdb_record *out, size_t cap, char *err)
{
    struct records_arg arg = {.filer = filer_id};

    return cf__objdb_walk(odb, &arg, cur, out, sizeof(*out), cap, list_records_shard, err);
}

/* ---- stale replicas -------------------------------------------------------------- */

static int list_stale_shard(struct cf_shardset_shard *sh, const void *varg, uint64_t after_oid,
                            void *vout, size_t want, uint64_t *last_oid, bool *more, char *err)
{
    static const char sql[] = "SELECT object_id, filer_id, path, since, sent FROM stale_replicas"
                              " WHERE object_id > ?1 AND since <= ?2"
                              " ORDER BY object_id, filer_id LIMIT ?3";
    uint64_t before_ms = *(const uint64_t *)varg;
    struct cf_objdb_stale *out = vout;
    struct cf_db *db = cf_db_pool_acquire(sh->pool);
    struct cf_db_stmt *s = NULL;
    size_t n = 0;
    int rc;

    rc = cf_db_query(db, &s, err, sql, "iii", (int64_t)after_oid,
                     before_ms > INT64_MAX ? INT64_MAX : (int64_t)before_ms, (int64_t)want);
    if (rc < 0)
        goto out;
    for (;;) {
        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        int64_t oid = cf_db_column_int64(s, 0), filer = cf_db_column_int64(s, 1);

        if (n >= want || oid < 1 || (uint64_t)oid > CF_UUID_OID_MAX || filer < 1 ||
            filer > UINT32_MAX) {
            rc = cf__objdb_oid_out_of_bounds(sh, oid, err);
            goto out;
        }
        memset(&out[n], 0, sizeof(out[n]));
        out[n].uuid.shard = (uint16_t)sh->id;
        out[n].uuid.oid = (uint64_t)oid;
        out[n].filer = (uint32_t)filer;
        if (cf_db_column_copy_text(s, 2, out[n].path, sizeof(out[n].path)) < 0) {
            rc = cf__objdb_oid_out_of_bounds(sh, oid, err);
            goto out;
        }
        out[n].since_ms = (uint64_t)cf_db_column_int64(s, 3);
        out[n].sent = cf_db_column_int64(s, 4) != 0;
        n++;
    }
    if (rc < 0)
        goto out;
    /* The cursor moves by object id: when the page is full, leave the last
     * object's rows for the next page unless they are all the page holds. */
    if (n == want) {
        size_t k = n;
        while (k > 0 && out[k - 1].uuid.oid == out[n - 1].uuid.oid)
            k--;
        n = k;
        *more = true;
    }
    if (n > 0)
        *last_oid = out[n - 1].uuid.oid;
    rc = (int)n;
out:
    cf_db_finalize(s);
    cf_db_pool_release(sh->pool, db);
    return rc;
}

int cf_objdb_stale_list(struct cf_objdb *odb, uint64_t before_ms, struct cf_objdb_cursor *cur,
                        struct cf_objdb_stale *out, size_t cap, char *err)
{
    return cf__objdb_walk(odb, &before_ms, cur, out, sizeof(*out), cap, list_stale_shard, err);
}

/* One row of cf_objdb_stale_hold in t (see objdb.h) when no earlier since
 * is expected: a single upsert that keeps the later of the two untils, so a
 * hold is never shortened, and leaves a row being deleted (sent != 0)
 * untouched; RETURNING then yields no row, which is how that refusal is
 * seen. */
static int hold_row_extend(struct cf__objdb_txn *t, uint64_t oid, uint32_t filer_id,
                           const char *path, uint64_t since, uint64_t *since_out, char *err)
{
    static const char sql[] =
        "INSERT INTO stale_replicas (object_id, filer_id, path, since, sent)"
        " VALUES (?1, ?2, ?3, ?4, 0)"
        " ON CONFLICT (object_id, filer_id) DO UPDATE SET since = CASE"
        " WHEN stale_replicas.since > excluded.since THEN stale_replicas.since"
        " ELSE excluded.since END WHERE stale_replicas.sent = 0"
        " RETURNING since";
    int64_t got = 0;
    int rc;

    rc = cf_db_run(t->db, &got, 1, err, sql, "iiti", (int64_t)oid, (int64_t)filer_id, path,
                   (int64_t)since);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "the replica of %s on filer %u is being deleted", t->text,
                   (unsigned)filer_id);
        return CF_EBUSY;
    }
    if (rc < 0)
        return rc;
    if (since_out != NULL)
        *since_out = (uint64_t)got;
    return 0;
}

/* One row of cf_objdb_stale_hold in t (see objdb.h). Renewing a hold
 * (expect_since != 0) needs the row still as its holder left it: unsent,
 * with that since. */
static int hold_row(struct cf__objdb_txn *t, uint64_t oid, uint32_t filer_id, const char *path,
                    uint64_t until_ms, uint64_t expect_since, uint64_t *since_out, char *err)
{
    static const char sql_get[] =
        "SELECT sent, since FROM stale_replicas WHERE object_id = ?1 AND filer_id = ?2";
    static const char sql_set[] =
        "UPDATE stale_replicas SET since = ?3 WHERE object_id = ?1 AND filer_id = ?2";
    int64_t row[2] = {0, 0};
    uint64_t since = until_ms > INT64_MAX ? INT64_MAX : until_ms;
    int rc;

    if (expect_since == 0)
        return hold_row_extend(t, oid, filer_id, path, since, since_out, err);
    rc = cf_db_run(t->db, row, 2, err, sql_get, "ii", (int64_t)oid, (int64_t)filer_id);
    if (rc >= 0 && (rc != CF_DB_ROW || row[0] != 0 || (uint64_t)row[1] != expect_since)) {
        cf_err_set(err, "the hold on the replica of %s on filer %u was lost", t->text,
                   (unsigned)filer_id);
        rc = CF_EBUSY;
    }
    if (rc >= 0 && (uint64_t)row[1] > since)
        since = (uint64_t)row[1]; /* never shortened */
    if (rc >= 0)
        rc = cf_db_run(t->db, NULL, 0, err, sql_set, "iii", (int64_t)oid, (int64_t)filer_id,
                       (int64_t)since);
    if (rc >= 0 && since_out != NULL)
        *since_out = since;
    return rc < 0 ? rc : 0;
}

int cf_objdb_stale_hold(struct cf_objdb *odb, const struct cf_uuid *uuid, uint32_t filer_id,
                        const char *path, uint64_t until_ms, uint64_t expect_since,
                        uint64_t *since_out, char *err)
{
    static const char sql_alias[] = "SELECT 1 FROM objects WHERE id = ?1 AND alias IS NOT NULL";
    uint64_t since = 0;
    struct cf__objdb_txn t;
    int rc;

    rc = cf__objdb_txn_begin(odb, uuid, &t, err);
    if (rc == 0) {
        rc = cf_db_run(t.db, NULL, 0, err, sql_alias, "i", (int64_t)uuid->oid);
        if (rc == CF_DB_ROW) {
            cf_err_set(err, "%s is an alias: it has no replicas of its own", t.text);
            rc = CF_EINVAL;
        }
    }
    if (rc >= 0)
        rc = hold_row(&t, uuid->oid, filer_id, path, until_ms, expect_since, &since, err);
    if (rc >= 0)
        rc = cf_db_commit(t.db, err);
    cf__objdb_txn_end(&t);
    if (rc >= 0 && since_out != NULL)
        *since_out = since;
    return rc < 0 ? rc : 0;
}

/* The arguments of an upload's hold, and what hold_row needs of a
 * transaction, for upload_hold_write. */
struct upload_hold {
    struct cf__objdb_txn t; /* sh and text; db is the group's connection */
    uint64_t oid;
    const char *path;
    const uint32_t *filers;
    size_t n;
    uint64_t until_ms;
};

/* The upload's hold as one write of its shard's group (dbgroup.h): every
 * statement reads and writes db only, and running it again after a
 * rolled-back batch writes the same rows. */
static int upload_hold_write(struct cf_db *db, void *arg, char *err)
{
    static const char sql_obj[] = "SELECT 1 FROM objects WHERE id = ?1";
    struct upload_hold *h = arg;
    int rc;

    h->t.db = db;
    rc = cf_db_run(db, NULL, 0, err, sql_obj, "i", (int64_t)h->oid);
    if (rc == CF_DB_ROW) {
        cf_err_set(err, "%s is committed already", h->t.text);
        rc = CF_EINVAL;
    }
    for (size_t i = 0; rc >= 0 && i < h->n; i++)
        rc = hold_row(&h->t, h->oid, h->filers[i], h->path, h->until_ms, 0, NULL, err);
    h->t.db = NULL;
    return rc < 0 ? rc : 0;
}

int cf_objdb_upload_hold(struct cf_objdb *odb, const struct cf_uuid *uuid, const char *path,
                         const uint32_t *filers, size_t n, uint64_t until_ms, char *err)
{
    struct upload_hold h = {
        .oid = uuid->oid, .path = path, .filers = filers, .n = n, .until_ms = until_ms};
    int rc;

    cf_uuid_format(uuid, h.t.text);
    rc = cf__objdb_find_shard(odb, uuid, &h.t.sh, err);
    if (rc < 0)
        return rc;
    /* Holds made at the same time, and the records committed then, share
     * one transaction and its commit: each caller is answered only after
     * the commit that holds its rows, as with a transaction of its own. */
    return cf_db_group_write(&((struct objdb_shard *)h.t.sh)->group, h.t.sh->pool,
                             upload_hold_write, &h, err);
}

int cf_objdb_upload_release(struct cf_objdb *odb, const struct cf_uuid *uuid, char *err)
{
    static const char sql[] = "UPDATE stale_replicas SET since = ?2"
                              " WHERE object_id = ?1 AND sent = 0 AND since > ?2"
                              " AND NOT EXISTS (SELECT 1 FROM objects WHERE id = ?1)";
    struct cf__objdb_txn t;
    int rc;

    /* Under the shard's write lock, like every change of the stale list. */
    rc = cf__objdb_txn_begin(odb, uuid, &t, err);
    if (rc == 0)
        rc = cf_db_run(t.db, NULL, 0, err, sql, "ii", (int64_t)uuid->oid, (int64_t)cf_wall_ms());
    if (rc >= 0)
        rc = cf_db_commit(t.db, err);
    cf__objdb_txn_end(&t);
    return rc < 0 ? rc : 0;
}

int cf_objdb_stale_claim(struct cf_objdb *odb, const struct cf_objdb_stale *st, char *err)
{
    static const char sql_get[] =
        "SELECT sent, since FROM stale_replicas WHERE object_id = ?1 AND filer_id = ?2";
    static const char sql_del[] =
        "DELETE FROM stale_replicas WHERE object_id = ?1 AND filer_id = ?2";
    static const char sql_sent[] =
        "UPDATE stale_replicas SET sent = 1 WHERE object_id = ?1 AND filer_id = ?2";
    int64_t row[2] = {0, 0};
    struct cf__objdb_txn t;
    int rc, listed = 0;

    rc = cf__objdb_txn_begin(odb, &st->uuid, &t, err);
    if (rc == 0) {
        rc = cf_db_run(t.db, row, 2, err, sql_get, "ii", (int64_t)st->uuid.oid, (int64_t)st->filer);
        if (rc == CF_DB_DONE) {
            cf_err_set(err, "no stale replica of object %llu on filer %u",
                       (unsigned long long)st->uuid.oid, (unsigned)st->filer);
            rc = CF_ENOTFOUND;
        } else if (rc == CF_DB_ROW && row[0] == 0 && row[1] != (int64_t)st->since_ms) {
            cf_err_set(err, "the replica of object %llu on filer %u is held again",
                       (unsigned long long)st->uuid.oid, (unsigned)st->filer);
            rc = CF_EBUSY;
        }
    }
    if (rc >= 0)
        rc = listed = lists(&t, st->uuid.oid, st->filer, err);
    if (rc >= 0)
        rc = cf_db_run(t.db, NULL, 0, err, listed ? sql_del : sql_sent, "ii", (int64_t)st->uuid.oid,
                       (int64_t)st->filer);
    if (rc >= 0)
        rc = cf_db_commit(t.db, err);
    cf__objdb_txn_end(&t);
    return rc < 0 ? rc : listed;
}

int cf_objdb_stale_done(struct cf_objdb *odb, const struct cf_objdb_stale *st, char *err)
{
    static const char sql[] = "DELETE FROM stale_replicas WHERE object_id = ?1 AND filer_id = ?2";
    struct cf_shardset_shard *sh = NULL;
    struct cf_db *db;
    int rc = cf__objdb_find_shard(odb, &st->uuid, &sh, err);

    if (rc < 0)
        return rc;
    db = cf_db_pool_acquire(sh->pool);
    rc = cf_db_run(db, NULL, 0, err, sql, "ii", (int64_t)st->uuid.oid, (int64_t)st->filer);
    cf_db_pool_release(sh->pool, db);
    return rc < 0 ? rc : 0;
}

/* ---- dedupe --------------------------------------------------------------------- */

int cf_objdb_find_content(struct cf_objdb *odb, const uint8_t sha512[64], uint64_t size,
                          unsigned xform, unsigned min_replicas, struct cf_objdb_record *out,
                          char *err)
{
    uint32_t next = 1;

    for (;;) {
        struct cf_shardset_shard *sh = cf_shardset_from(odb->set, next);
        struct cf_uuid uuid = {0};
        int rc;

        if (sh == NULL)
            return 0;
        next = sh->id + 1;
        /* An obsolete shard is on its way out: no new names for its
         * records. A read-only one keeps its records: an alias of one goes
         * to another shard. */
        if ((cf_shardset_flags(odb->set, sh) & CF__OBJDB_OBSOLETE) != 0)
            continue;
        rc = cf__objdb_content_in(sh, sha512, size, xform, min_replicas, min_replicas, &uuid, err);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            rc = cf_objdb_get(odb, &uuid, 0, out, err);
            if (rc == 0)
                return 1;
            if (rc != CF_ENOTFOUND) /* deleted since: look further */
                return rc;
        }
    }
}

int cf_objdb_commit_alias(struct cf_objdb *odb, const struct cf_uuid *alias,
                          const struct cf_uuid *holder, uint64_t created_ms, char *err)
{
    static const char sql_next[] = "SELECT next_oid FROM coffer_meta WHERE id = 1";
    static const char sql_holder[] =
        "SELECT 1 FROM objects"
        " WHERE id = ?1 AND rnd = ?2 AND alias IS NULL AND deleted = 0";
    static const char sql_insert[] =
        "INSERT INTO objects (id, rnd, replicas, enc_key, deleted, deleted_at, path, size,"
        " sha512, created, alias, xform, stored_size, stored_sha512) SELECT ?1, ?2, replicas,"
        " enc_key, 0, NULL, path, size, sha512, ?3, id, xform, stored_size, stored_sha512"
        " FROM objects WHERE id = ?4";
    int64_t next_oid = 0;
    struct cf__objdb_txn t;
    int rc;

    if (alias->shard != holder->shard)
        return cf__objdb_commit_xalias(odb, alias, holder, created_ms, err);
    if (alias->oid == holder->oid) {
        cf_err_set(err, "a record cannot be its own alias");
        return CF_EINVAL;
    }
    rc = cf__objdb_txn_begin(odb, alias, &t, err);
    if (rc == 0)
        rc = cf_db_run(t.db, &next_oid, 1, err, sql_next, "");
    if (rc >= 0 && alias->oid >= (uint64_t)next_oid) {
        cf_err_set(err, "UUID %s was never reserved", t.text);
        rc = CF_EINVAL;
    }
    if (rc >= 0) {
        rc = cf_db_run(t.db, NULL, 0, err, sql_holder, "ii", (int64_t)holder->oid,
                       cf__objdb_i64(holder->rnd));
        if (rc == CF_DB_DONE) {
            cf_err_set(err, "the holder is gone or marked deleted");
            rc = CF_ENOTFOUND;
        }
    }
    if (rc >= 0) {
        rc = cf_db_run(t.db, NULL, 0, err, sql_insert, "iiii", (int64_t)alias->oid,
                       cf__objdb_i64(alias->rnd), (int64_t)(created_ms ? created_ms : cf_wall_ms()),
                       (int64_t)holder->oid);
        if (rc == CF_EEXIST)
            cf_err_set(err, "UUID %s is already committed", t.text);
    }
    if (rc >= 0)
        rc = cf_db_commit(t.db, err);
    cf__objdb_txn_end(&t);
    return rc < 0 ? rc : 0;
}

/* What cf_objdb_list_dups passes its shard callback. */
struct dups_arg {
    struct cf_objdb *odb;
    uint64_t min_size;
};

/* A holder of the shard being listed, and the holder it may become an
 * alias of (itself: look in the lower shards). */
struct dup_cand {
    struct cf_objdb_dup pair;
    uint64_t size;
    uint8_t sha512[64];
    unsigned replicas, nfilers;
    unsigned xform;
};

/* Read the candidates of shard sh after after_oid (at most want) into c.
 * Returns how many, or an error. */
static int dup_candidates(struct cf_shardset_shard *sh, bool cross, uint64_t min_size,
                          uint64_t after_oid, struct dup_cand *c, size_t want, char *err)
{
    /* For each live holder d, the lowest-numbered live holder h with the
     * same content stored the same way (xform: an object its client wanted
     * encrypted is never folded into plain bytes): d is listed if h is not
     * d, no ref names d (aliases in other shards: it stays a holder) and h
     * wants and lists at least as many replicas as d, or (cross) if h is d,
     * d is at least min_size and nothing names d as holder (it may have a
     * twin in a lower shard). */
    static const char sql[] =
        "SELECT d.id, d.rnd, h.id, h.rnd, d.size, d.sha512, d.replicas,"
        " (SELECT count(*) FROM object_filers f WHERE f.object_id = d.id), d.xform"
        " FROM objects d JOIN objects h ON h.id ="
        " (SELECT min(x.id) FROM objects x WHERE x.sha512 = d.sha512 AND x.size = d.size"
        "  AND x.xform = d.xform AND x.alias IS NULL AND x.deleted = 0)"
        " WHERE d.id > ?1 AND d.alias IS NULL AND d.deleted = 0 AND ((h.id < d.id"
        " AND NOT EXISTS (SELECT 1 FROM alias_refs r WHERE r.object_id = d.id)"
        " AND h.replicas >= d.replicas AND (SELECT count(*) FROM object_filers f"
        " WHERE f.object_id = h.id) >= (SELECT count(*) FROM object_filers f"
        " WHERE f.object_id = d.id))"
        " OR (?3 <> 0 AND h.id = d.id AND d.size >= ?4"
        " AND NOT EXISTS (SELECT 1 FROM objects a WHERE a.alias = d.id)"
        " AND NOT EXISTS (SELECT 1 FROM alias_refs r WHERE r.object_id = d.id)))"
        " ORDER BY d.id LIMIT ?2";
    struct cf_db *db = cf_db_pool_acquire(sh->pool);
    struct cf_db_stmt *s = NULL;
    size_t n = 0;
    int rc;

    rc = cf_db_query(db, &s, err, sql, "iiii", (int64_t)after_oid, (int64_t)want,
                     (int64_t)(cross ? 1 : 0),
                     (int64_t)(min_size > INT64_MAX ? INT64_MAX : min_size));
    while (rc >= 0) {
        const void *sha;
        size_t len = 0;
        int64_t d, h, size, rep, nf, xform;

        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        d = cf_db_column_int64(s, 0);
        h = cf_db_column_int64(s, 2);
        size = cf_db_column_int64(s, 4);
        rep = cf_db_column_int64(s, 6);
        nf = cf_db_column_int64(s, 7);
        xform = cf_db_column_int64(s, 8);
        sha = cf_db_column_blob(s, 5, &len);
        if (n >= want || d < 1 || (uint64_t)d > CF_UUID_OID_MAX || h < 1 || size < 0 || len != 64 ||
            rep < 0 || rep > CF_OBJDB_REPLICAS_MAX || nf < 0 || nf > CF_OBJDB_REPLICAS_MAX ||
            xform < 0 || xform > (int64_t)CF_OBJDB_XFORM_ALL) {
            rc = cf__objdb_oid_out_of_bounds(sh, d, err);
            break;
        }
        c[n].pair.dup.shard = c[n].pair.holder.shard = (uint16_t)sh->id;
        c[n].pair.dup.oid = (uint64_t)d;
        c[n].pair.dup.rnd = cf__objdb_u64(cf_db_column_int64(s, 1));
        c[n].pair.holder.oid = (uint64_t)h;
        c[n].pair.holder.rnd = cf__objdb_u64(cf_db_column_int64(s, 3));
        c[n].size = (uint64_t)size;
        memcpy(c[n].sha512, sha, 64);
        c[n].replicas = (unsigned)rep;
        c[n].nfilers = (unsigned)nf;
        c[n].xform = (unsigned)xform;
        n++;
    }
    cf_db_finalize(s);
    cf_db_pool_release(sh->pool, db);
    return rc < 0 ? rc : (int)n;
}

/* The holder in a shard below sh's for candidate c (the lowest shard id,
 * then object id, among shards not obsolete): 1 and c->pair.holder set, 0
 * if none, or an error. One query per shard, through its content index. */
static int lower_twin(struct cf_objdb *odb, const struct cf_shardset_shard *sh, struct dup_cand *c,
                      char *err)
{
    uint32_t next = 1;

    for (;;) {
        struct cf_shardset_shard *lo = cf_shardset_from(odb->set, next);
        int rc;

        if (lo == NULL || lo->id >= sh->id)
            return 0;
        next = lo->id + 1;
        if ((cf_shardset_flags(odb->set, lo) & CF__OBJDB_OBSOLETE) != 0)
            continue;
        rc = cf__objdb_content_in(lo, c->sha512, c->size, c->xform, c->replicas, c->nfilers,
                                  &c->pair.holder, err);
        if (rc != 0)
            return rc;
    }
}

static int list_dups_shard(struct cf_shardset_shard *sh, const void *varg, uint64_t after_oid,
                           void *vout, size_t want, uint64_t *last_oid, bool *more, char *err)
{
    const struct dups_arg *arg = varg;
    struct cf_objdb_dup *out = vout;
    struct cf_shardset_shard *first = cf_shardset_from(arg->odb->set, 1);
    bool cross = first != NULL && first->id < sh->id;
    struct dup_cand *c = cf_xcalloc(want, sizeof(*c));
    size_t n = 0;
    int rc, k;

    rc = k = dup_candidates(sh, cross, arg->min_size, after_oid, c, want, err);
    for (int i = 0; rc >= 0 && i < k; i++) {
        if (c[i].pair.holder.oid == c[i].pair.dup.oid) {
            rc = lower_twin(arg->odb, sh, &c[i], err);
            if (rc <= 0)
                continue;
        }
        out[n++] = c[i].pair;
    }
    if (rc >= 0 && k > 0) {
        /* The cursor moves past every row read, listed or not. */
        *last_oid = c[k - 1].pair.dup.oid;
        *more = (size_t)k == want && n < want;
        rc = (int)n;
    }
    free(c);
    return rc < 0 ? rc : (int)n;
}

int cf_objdb_list_dups(struct cf_objdb *odb, uint64_t min_size, struct cf_objdb_cursor *cur,
                       struct cf_objdb_dup *out, size_t cap, char *err)
{
    const struct dups_arg arg = {odb, min_size};

    return cf__objdb_walk(odb, &arg, cur, out, sizeof(*out), cap, list_dups_shard, err);
}

int cf_objdb_make_alias(struct cf_objdb *odb, const struct cf_objdb_dup *d, char *err)
{
    static const char sql_check[] =
        "SELECT 1 FROM objects d JOIN objects h ON h.sha512 = d.sha512 AND h.size = d.size"
        " AND h.xform = d.xform WHERE d.id = ?1 AND d.rnd = ?2 AND h.id = ?3 AND h.rnd = ?4"
        " AND d.alias IS NULL AND h.alias IS NULL AND d.deleted = 0 AND h.deleted = 0"
        " AND h.replicas >= d.replicas"
        " AND NOT EXISTS (SELECT 1 FROM alias_refs r WHERE r.object_id = d.id)"
        " AND (SELECT count(*) FROM object_filers f WHERE f.object_id = h.id) >="
        " (SELECT count(*) FROM object_filers f WHERE f.object_id = d.id)";
    /* Aliases of the duplicate follow it to the holder: no alias of an alias. */
    static const char sql_repoint[] = "UPDATE objects SET alias = ?2 WHERE alias = ?1 OR id = ?1";
    struct cf__objdb_txn t;
    int rc;

    if (d->dup.shard != d->holder.shard)
        return cf__objdb_make_xalias(odb, d, err);
    if (d->dup.oid == d->holder.oid) {
        cf_err_set(err, "a duplicate and its holder must be distinct records");
        return CF_EINVAL;
    }
    rc = cf__objdb_txn_begin(odb, &d->dup, &t, err);
    if (rc == 0) {
        rc = cf_db_run(t.db, NULL, 0, err, sql_check, "iiii", (int64_t)d->dup.oid,
                       cf__objdb_i64(d->dup.rnd), (int64_t)d->holder.oid,
                       cf__objdb_i64(d->holder.rnd));
        if (rc == CF_DB_DONE) {
            cf_err_set(err, "%s or its holder changed", t.text);
            rc = CF_ENOTFOUND;
        }
    }
    if (rc >= 0)
        rc = cf__objdb_retire_replicas(&t, d->dup.oid, err);
    if (rc >= 0)
        rc = cf_db_run(t.db, NULL, 0, err, sql_repoint, "ii", (int64_t)d->dup.oid,
                       (int64_t)d->holder.oid);
    if (rc >= 0)
        rc = cf_db_commit(t.db, err);
    cf__objdb_txn_end(&t);
    return rc < 0 ? rc : 0;
}

/* ---- counts --------------------------------------------------------------------- */

int cf_objdb_count(struct cf_objdb *odb, struct cf_objdb_counts *out, char *err)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM objects),"
        " (SELECT count(*) FROM objects WHERE alias IS NOT NULL),"
        " (SELECT count(*) FROM objects o WHERE o.alias IS NULL AND o.replicas >"
        "  (SELECT count(*) FROM object_filers f WHERE f.object_id = o.id)),"
        " (SELECT count(*) FROM stale_replicas)";
    uint32_t next = 1;

    memset(out, 0, sizeof(*out));
    for (;;) {
        struct cf_shardset_shard *sh = cf_shardset_from(odb->set, next);
        int64_t v[4] = {0, 0, 0, 0};
        struct cf_db *db;
        int rc;

        if (sh == NULL)
            return 0;
        next = sh->id + 1;
        db = cf_db_pool_acquire(sh->pool);
        rc = cf_db_run(db, v, 4, err, sql, "");
        cf_db_pool_release(sh->pool, db);
        if (rc < 0)
            return rc;
        out->records += (uint64_t)v[0];
        out->aliases += (uint64_t)v[1];
        out->deficit += (uint64_t)v[2];
        out->stale += (uint64_t)v[3];
    }
}

/* ---- orphans ------------------------------------------------------------------- */

int cf_objdb_orphan_claim(struct cf_objdb *odb, const struct cf_uuid *uuid, uint32_t filer_id,
                          const char *path, uint64_t before_ms, bool dry_run,
                          struct cf_objdb_stale *out, char *err)
{
    static const char sql_listed[] =
        "SELECT 1 FROM object_filers WHERE object_id = ?1 AND filer_id = ?2"
        " UNION ALL SELECT 1 FROM deleted_object_filers WHERE object_id = ?1 AND filer_id = ?2";
    static const char sql_get[] =
        "SELECT sent, since FROM stale_replicas WHERE object_id = ?1 AND filer_id = ?2";
    static const char sql_sent[] =
        "UPDATE stale_replicas SET sent = 1 WHERE object_id = ?1 AND filer_id = ?2";
    static const char sql_put[] = "INSERT INTO stale_replicas (object_id, filer_id, path, since,"
                                  " sent) VALUES (?1, ?2, ?3, ?4, 1)";
    int64_t row[2] = {0, 0};
    uint64_t now = cf_wall_ms();
    struct cf__objdb_txn t;
    bool had = false;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = cf__objdb_txn_begin(odb, uuid, &t, err);
    if (rc == 0)
        rc = cf_db_run(t.db, NULL, 0, err, sql_listed, "ii", (int64_t)uuid->oid, (int64_t)filer_id);
    if (rc == CF_DB_ROW) {
        rc = 1; /* a record, live or deleted, lists it: not an orphan */
        goto out;
    }
    if (rc >= 0) {
        rc = cf_db_run(t.db, row, 2, err, sql_get, "ii", (int64_t)uuid->oid, (int64_t)filer_id);
        had = rc == CF_DB_ROW;
    }
    if (rc >= 0 && had && (row[0] != 0 || row[1] > (int64_t)before_ms)) {
        cf_err_set(err, "the replica of %s on filer %u is %s", t.text, (unsigned)filer_id,
                   row[0] != 0 ? "being deleted" : "held");
        rc = CF_EBUSY;
    }
    if (rc < 0 || dry_run)
        goto out;
    /* SENT before the DELETE goes out: a job's hold on this path now fails
     * (CF_EBUSY) instead of copying bytes about to go. */
    if (had)
        rc = cf_db_run(t.db, NULL, 0, err, sql_sent, "ii", (int64_t)uuid->oid, (int64_t)filer_id);
    else
        rc = cf_db_run(t.db, NULL, 0, err, sql_put, "iiti", (int64_t)uuid->oid, (int64_t)filer_id,
                       path, (int64_t)now);
    if (rc >= 0)
        rc = cf_db_commit(t.db, err);
out:
    cf__objdb_txn_end(&t);
    if (rc < 0 || rc == 1)
        return rc;
    out->uuid = *uuid;
    out->filer = filer_id;
    (void)snprintf(out->path, sizeof(out->path), "%s", path);
    out->since_ms = had ? (uint64_t)row[1] : now;
    out->sent = true;
    return 0;
}

/* ---- key rotation ----------------------------------------------------------------- */

int cf_objdb_set_key(struct cf_objdb *odb, const struct cf_uuid *uuid, const uint8_t *old_key,
                     size_t old_len, const uint8_t *new_key, size_t new_len, char *err)
{
    static const char sql_set[] =
        "UPDATE objects SET enc_key = ?3 WHERE id = ?1 AND rnd = ?2 AND alias IS NULL"
        " AND enc_key = ?4 RETURNING id";
    static const char sql_aliases[] = "UPDATE objects SET enc_key = ?2 WHERE alias = ?1";
    static const char sql_deleted[] =
        "UPDATE deleted_objects SET enc_key = ?3 WHERE id = ?1 AND rnd = ?2 AND enc_key = ?4"
        " RETURNING id";
    struct cf__objdb_txn t;
    int rc;

    if (old_len < 1 || old_len > CF_OBJDB_KEY_MAX || new_len < 1 || new_len > CF_OBJDB_KEY_MAX) {
        cf_err_set(err, "key length out of range");
        return CF_EINVAL;
    }
    rc = cf__objdb_txn_begin(odb, uuid, &t, err);
    if (rc == 0)
        rc = cf_db_run(t.db, NULL, 0, err, sql_set, "iibb", (int64_t)uuid->oid,
                       cf__objdb_i64(uuid->rnd), (const void *)new_key, new_len,
                       (const void *)old_key, old_len);
    if (rc == CF_DB_DONE) /* moved to the deleted map? */
        rc = cf_db_run(t.db, NULL, 0, err, sql_deleted, "iibb", (int64_t)uuid->oid,
                       cf__objdb_i64(uuid->rnd), (const void *)new_key, new_len,
                       (const void *)old_key, old_len);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "%s is gone or its key changed", t.text);
        rc = CF_ENOTFOUND;
    }
    if (rc >= 0)
        rc = cf_db_run(t.db, NULL, 0, err, sql_aliases, "ib", (int64_t)uuid->oid,
                       (const void *)new_key, new_len);
    if (rc >= 0)
        rc = cf_db_commit(t.db, err);
    cf__objdb_txn_end(&t);
    return rc < 0 ? rc : 0;
}
