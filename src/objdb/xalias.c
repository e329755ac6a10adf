/*
 * xalias.c -- aliases whose holder is in another shard (objdb.h "Dedupe"):
 * the holder's refs (alias_refs), the two-step commit and conversion, the
 * content look-up in one shard, and the ref sweep.
 *
 * Two shards share no transaction, so every step is one transaction of one
 * shard, ordered so that a crash between any two leaves the holder's bytes
 * kept: the ref in the holder's shard is written before the alias row
 * commits, and dropped only after the row is gone. A ref without its alias
 * (a crash, or a commit that failed) is dropped by the sweep, which first
 * voids the alias commit it belonged to in the alias's shard, so that a
 * commit still under way can never land after its ref is gone.
 */
#include "objdb_int.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/log.h"

/* Refs read per query by the sweep. */
#define SWEEP_BATCH 64

int cf__objdb_ref_drop(struct cf_objdb *odb, const struct cf_uuid *holder,
                       const struct cf_uuid *alias, uint64_t since, char *err)
{
    static const char sql[] = "DELETE FROM alias_refs WHERE object_id = ?1 AND alias_shard = ?2"
                              " AND alias_oid = ?3 AND (?4 = 0 OR since = ?4)";
    struct cf_shardset_shard *sh = NULL;
    struct cf_db *db;
    int rc = cf__objdb_find_shard(odb, holder, &sh, err);

    if (rc < 0)
        return rc;
    db = cf_db_pool_acquire(sh->pool);
    rc = cf_db_run(db, NULL, 0, err, sql, "iiii", (int64_t)holder->oid, (int64_t)alias->shard,
                   (int64_t)alias->oid, (int64_t)since);
    cf_db_pool_release(sh->pool, db);
    return rc < 0 ? rc : 0;
}

/* Step 1, in the holder's shard: check that holder is still a holder, in
 * the object map, not marked deleted, with the content (sha512, size) and
 * at least min_replicas wanted and min_filers listed; then write (or
 * renew) the ref of alias with since = now. *since gets it. CF_ENOTFOUND
 * if the holder does not qualify. */
static int ref_add(struct cf_objdb *odb, const struct cf_uuid *holder, const struct cf_uuid *alias,
                   const uint8_t sha512[64], uint64_t size, unsigned min_replicas,
                   unsigned min_filers, uint64_t *since, char *err)
{
    static const char sql_check[] =
        "SELECT 1 FROM objects o WHERE o.id = ?1 AND o.rnd = ?2 AND o.alias IS NULL"
        " AND o.deleted = 0 AND o.sha512 = ?3 AND o.size = ?4 AND o.replicas >= ?5"
        " AND (SELECT count(*) FROM object_filers f WHERE f.object_id = o.id) >= ?6";
    static const char sql_put[] =
        "INSERT INTO alias_refs (object_id, alias_shard, alias_oid, alias_rnd, since)"
        " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (object_id, alias_shard, alias_oid)"
        " DO UPDATE SET alias_rnd = excluded.alias_rnd, since = excluded.since";
    struct cf__objdb_txn t;
    uint64_t now = cf_wall_ms();
    int rc;

    if (size > INT64_MAX)
        return CF_EINVAL;
    rc = cf__objdb_txn_begin(odb, holder, &t, err);
    if (rc == 0) {
        rc = cf_db_run(t.db, NULL, 0, err, sql_check, "iibiii", (int64_t)holder->oid,
                       cf__objdb_i64(holder->rnd), (const void *)sha512, (size_t)64, (int64_t)size,
                       (int64_t)min_replicas, (int64_t)min_filers);
        if (rc == CF_DB_DONE) {
            cf_err_set(err, "the holder is gone, marked deleted or changed");
            rc = CF_ENOTFOUND;
        }
    }
    if (rc >= 0)
        rc = cf_db_run(t.db, NULL, 0, err, sql_put, "iiiii", (int64_t)holder->oid,
                       (int64_t)alias->shard, (int64_t)alias->oid, cf__objdb_i64(alias->rnd),
                       (int64_t)now);
    if (rc >= 0)
        rc = cf_db_commit(t.db, err);
    cf__objdb_txn_end(&t);
    if (rc < 0)
        return rc;
    *since = now;
    return 0;
}

struct ref {
    struct cf_uuid holder, alias;
    uint64_t since;
};

static int sweep_one(struct cf_objdb *odb, const struct ref *r, char *err);

/* Step 2 failed: settle the ref written by step 1 as the sweep does (the
 * row may be there after all: an alias committed before, a commit in
 * doubt). A failure leaves the ref for the sweep. */
static void settle(struct cf_objdb *odb, const struct cf_uuid *holder, const struct cf_uuid *alias,
                   uint64_t since)
{
    const struct ref r = {*holder, *alias, since};
    char why[CF_ERR_LEN] = "", text[CF_UUID_SIZE];

    if (sweep_one(odb, &r, why) < 0) {
        cf_uuid_format(alias, text);
        cf_log(CF_LOG_WARN, "objdb: alias %s not committed, its ref stays for the sweep: %s", text,
               why);
    }
}

/* In t (the alias's shard): CF_ENOTFOUND if the sweep voided the alias
 * commit of this ref (alias oid, since). */
static int not_voided(struct cf__objdb_txn *t, uint64_t oid, uint64_t since, char *err)
{
    static const char sql[] = "SELECT 1 FROM alias_voids WHERE object_id = ?1 AND since = ?2";
    int rc = cf_db_run(t->db, NULL, 0, err, sql, "ii", (int64_t)oid, (int64_t)since);

    if (rc == CF_DB_ROW) {
        cf_err_set(err, "the ref of this alias was swept (too slow a commit)");
        return CF_ENOTFOUND;
    }
    return rc < 0 ? rc : 0;
}

int cf__objdb_commit_xalias(struct cf_objdb *odb, const struct cf_uuid *alias,
                            const struct cf_uuid *holder, uint64_t created_ms, char *err)
{
    static const char sql_next[] = "SELECT next_oid FROM coffer_meta WHERE id = 1";
    static const char sql_insert[] =
        "INSERT INTO objects (id, rnd, replicas, enc_key, deleted, deleted_at, path, size,"
        " sha512, created, alias, alias_shard, alias_oid, alias_rnd)"
        " VALUES (?1, ?2, ?3, ?4, 0, NULL, ?5, ?6, ?7, ?8, 0, ?9, ?10, ?11)";
    struct cf_objdb_record h;
    int64_t next_oid = 0;
    uint64_t since = 0;
    struct cf__objdb_txn t = {0};
    int rc;

    rc = cf_objdb_get(odb, holder, 0, &h, err);
    if (rc < 0)
        return rc;
    rc = ref_add(odb, holder, alias, h.sha512, h.size, 1, 1, &since, err);
    if (rc < 0)
        return rc;
    rc = cf__objdb_txn_begin(odb, alias, &t, err);
    if (rc == 0)
        rc = cf_db_run(t.db, &next_oid, 1, err, sql_next, "");
    if (rc >= 0 && alias->oid >= (uint64_t)next_oid) {
        cf_err_set(err, "UUID %s was never reserved", t.text);
        rc = CF_EINVAL;
    }
    if (rc >= 0)
        rc = not_voided(&t, alias->oid, since, err);
    if (rc >= 0) {
        rc = cf_db_run(t.db, NULL, 0, err, sql_insert, "iiibtibiiii", (int64_t)alias->oid,
                       cf__objdb_i64(alias->rnd), (int64_t)h.replicas, (const void *)h.key,
                       h.key_len, h.path, (int64_t)h.size, (const void *)h.sha512, (size_t)64,
                       (int64_t)(created_ms ? created_ms : cf_wall_ms()), (int64_t)holder->shard,
                       (int64_t)holder->oid, cf__objdb_i64(holder->rnd));
        if (rc == CF_EEXIST)
            cf_err_set(err, "UUID %s is already committed", t.text);
    }
    if (rc >= 0)
        rc = cf_db_commit(t.db, err);
    cf__objdb_txn_end(&t);
    if (rc < 0)
        settle(odb, holder, alias, since);
    return rc < 0 ? rc : 0;
}

int cf__objdb_make_xalias(struct cf_objdb *odb, const struct cf_objdb_dup *d, char *err)
{
    /* dup must still be a holder, not marked deleted, with the holder's
     * content and no more replicas wanted or listed than the holder has,
     * and nothing may name it as holder (an alias names a holder only). */
    static const char sql_check[] =
        "SELECT 1 FROM objects d WHERE d.id = ?1 AND d.rnd = ?2 AND d.alias IS NULL"
        " AND d.deleted = 0 AND d.sha512 = ?3 AND d.size = ?4 AND d.replicas <= ?5"
        " AND (SELECT count(*) FROM object_filers f WHERE f.object_id = d.id) <= ?6"
        " AND NOT EXISTS (SELECT 1 FROM objects a WHERE a.alias = d.id)"
        " AND NOT EXISTS (SELECT 1 FROM alias_refs r WHERE r.object_id = d.id)";
    static const char sql_alias[] = "UPDATE objects SET alias = 0, alias_shard = ?2,"
                                    " alias_oid = ?3, alias_rnd = ?4 WHERE id = ?1";
    struct cf_objdb_record h, dup;
    uint64_t since = 0;
    struct cf__objdb_txn t = {0};
    int rc;

    rc = cf_objdb_get(odb, &d->holder, 0, &h, err);
    if (rc == 0)
        rc = cf_objdb_get(odb, &d->dup, 0, &dup, err);
    if (rc == 0 &&
        (h.size != dup.size || memcmp(h.sha512, dup.sha512, 64) != 0 || h.xform != dup.xform)) {
        cf_err_set(err, "the duplicate and its holder differ");
        rc = CF_ENOTFOUND;
    }
    if (rc == 0)
        rc = ref_add(odb, &d->holder, &d->dup, h.sha512, h.size, dup.replicas, dup.nfilers, &since,
                     err);
    if (rc < 0)
        return rc;
    rc = cf__objdb_txn_begin(odb, &d->dup, &t, err);
    if (rc == 0) {
        rc = cf_db_run(t.db, NULL, 0, err, sql_check, "iibiii", (int64_t)d->dup.oid,
                       cf__objdb_i64(d->dup.rnd), (const void *)h.sha512, (size_t)64,
                       (int64_t)h.size, (int64_t)h.replicas, (int64_t)h.nfilers);
        if (rc == CF_DB_DONE) {
            cf_err_set(err, "%s changed, or backs aliases of its own", t.text);
            rc = CF_ENOTFOUND;
        }
    }
    if (rc >= 0)
        rc = not_voided(&t, d->dup.oid, since, err);
    if (rc >= 0)
        rc = cf__objdb_retire_replicas(&t, d->dup.oid, err);
    if (rc >= 0)
        rc = cf_db_run(t.db, NULL, 0, err, sql_alias, "iiii", (int64_t)d->dup.oid,
                       (int64_t)d->holder.shard, (int64_t)d->holder.oid,
                       cf__objdb_i64(d->holder.rnd));
    if (rc >= 0)
        rc = cf_db_commit(t.db, err);
    cf__objdb_txn_end(&t);
    if (rc < 0)
        settle(odb, &d->holder, &d->dup, since);
    return rc < 0 ? rc : 0;
}

int cf__objdb_content_in(struct cf_shardset_shard *sh, const uint8_t sha512[64], uint64_t size,
                         unsigned xform, unsigned min_replicas, unsigned min_filers,
                         struct cf_uuid *out, char *err)
{
    static const char sql[] =
        "SELECT o.id, o.rnd FROM objects o WHERE o.sha512 = ?1 AND o.size = ?2"
        " AND o.alias IS NULL AND o.deleted = 0 AND o.replicas >= ?3 AND o.xform = ?5"
        " AND (SELECT count(*) FROM object_filers f WHERE f.object_id = o.id) >= ?4"
        " ORDER BY o.id LIMIT 1";
    int64_t v[2] = {0, 0};
    struct cf_db *db;
    int rc;

    if (size > INT64_MAX)
        return 0;
    db = cf_db_pool_acquire(sh->pool);
    rc = cf_db_run(db, v, 2, err, sql, "biiii", (const void *)sha512, (size_t)64, (int64_t)size,
                   (int64_t)min_replicas, (int64_t)min_filers, (int64_t)xform);
    cf_db_pool_release(sh->pool, db);
    if (rc != CF_DB_ROW)
        return rc < 0 ? rc : 0;
    if (v[0] < 1 || (uint64_t)v[0] > CF_UUID_OID_MAX)
        return cf__objdb_oid_out_of_bounds(sh, v[0], err);
    out->shard = (uint16_t)sh->id;
    out->oid = (uint64_t)v[0];
    out->rnd = cf__objdb_u64(v[1]);
    return 1;
}

/* ---- the sweep ---------------------------------------------------------------- */

/* Check one ref against its alias's shard: 1 if the alias row is there
 * and names the holder (keep); else void the commit the ref was written
 * for (so it can never land), drop the ref and return 0. */
static int sweep_one(struct cf_objdb *odb, const struct ref *r, char *err)
{
    static const char sql_alias[] = "SELECT 1 FROM objects WHERE id = ?1 AND rnd = ?2 AND alias = 0"
                                    " AND alias_shard = ?3 AND alias_oid = ?4";
    static const char sql_void[] = "INSERT INTO alias_voids (object_id, since) VALUES (?1, ?2)"
                                   " ON CONFLICT (object_id, since) DO NOTHING";
    struct cf__objdb_txn t = {0};
    int rc, live = 0;

    rc = cf__objdb_txn_begin(odb, &r->alias, &t, err);
    if (rc == 0) {
        rc = cf_db_run(t.db, NULL, 0, err, sql_alias, "iiii", (int64_t)r->alias.oid,
                       cf__objdb_i64(r->alias.rnd), (int64_t)r->holder.shard,
                       (int64_t)r->holder.oid);
        live = rc == CF_DB_ROW;
    }
    if (rc >= 0 && !live)
        rc =
            cf_db_run(t.db, NULL, 0, err, sql_void, "ii", (int64_t)r->alias.oid, (int64_t)r->since);
    if (rc >= 0 && !live)
        rc = cf_db_commit(t.db, err);
    cf__objdb_txn_end(&t);
    if (rc < 0)
        return rc;
    if (live)
        return 1;
    rc = cf__objdb_ref_drop(odb, &r->holder, &r->alias, r->since, err);
    return rc < 0 ? rc : 0;
}

/* Up to SWEEP_BATCH refs of shard sh written at or before before_ms, after
 * *last (keyset order), into out. Returns how many, or an error. */
static int sweep_page(struct cf_shardset_shard *sh, uint64_t before_ms, struct ref *last,
                      struct ref *out, char *err)
{
    static const char sql[] =
        "SELECT object_id, alias_shard, alias_oid, alias_rnd, since FROM alias_refs"
        " WHERE since <= ?1 AND (object_id > ?2 OR (object_id = ?2 AND (alias_shard > ?3"
        " OR (alias_shard = ?3 AND alias_oid > ?4))))"
        " ORDER BY object_id, alias_shard, alias_oid LIMIT ?5";
    struct cf_db *db = cf_db_pool_acquire(sh->pool);
    struct cf_db_stmt *s = NULL;
    int rc, n = 0;

    rc = cf_db_query(db, &s, err, sql, "iiiii", (int64_t)before_ms, (int64_t)last->holder.oid,
                     (int64_t)last->alias.shard, (int64_t)last->alias.oid, (int64_t)SWEEP_BATCH);
    while (rc >= 0) {
        int64_t oid, ashard, aoid;

        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        oid = cf_db_column_int64(s, 0);
        ashard = cf_db_column_int64(s, 1);
        aoid = cf_db_column_int64(s, 2);
        if (n >= SWEEP_BATCH || oid < 1 || (uint64_t)oid > CF_UUID_OID_MAX || ashard < 1 ||
            ashard > CF_UUID_SHARD_MAX || aoid < 1 || (uint64_t)aoid > CF_UUID_OID_MAX) {
            rc = cf__objdb_oid_out_of_bounds(sh, oid, err);
            break;
        }
        out[n].holder = (struct cf_uuid){.shard = (uint16_t)sh->id, .oid = (uint64_t)oid};
        out[n].alias = (struct cf_uuid){.shard = (uint16_t)ashard,
                                        .oid = (uint64_t)aoid,
                                        .rnd = cf__objdb_u64(cf_db_column_int64(s, 3))};
        out[n].since = (uint64_t)cf_db_column_int64(s, 4);
        n++;
    }
    cf_db_finalize(s);
    cf_db_pool_release(sh->pool, db);
    return rc < 0 ? rc : n;
}

int cf_objdb_ref_sweep(struct cf_objdb *odb, uint64_t before_ms, uint64_t *kept, uint64_t *dropped,
                       char *err)
{
    struct ref page[SWEEP_BATCH];
    uint32_t next = 1;

    *kept = *dropped = 0;
    for (;;) {
        struct cf_shardset_shard *sh = cf_shardset_from(odb->set, next);
        struct ref last = {0};
        int n;

        if (sh == NULL)
            return 0;
        next = sh->id + 1;
        do {
            n = sweep_page(sh, before_ms, &last, page, err);
            if (n < 0)
                return n;
            for (int i = 0; i < n; i++) {
                char why[CF_ERR_LEN] = "";
                int rc = sweep_one(odb, &page[i], why);

                if (rc == 1) {
                    (*kept)++;
                } else if (rc == 0) {
                    (*dropped)++;
                } else {
                    /* An alias shard that does not answer: keep the ref
                     * (the holder stays) and go on. */
                    (*kept)++;
                    cf_log(CF_LOG_WARN, "objdb: ref of alias %u:%" PRIu64 " in shard %u kept: %s",
                           (unsigned)page[i].alias.shard, page[i].alias.oid, (unsigned)sh->id, why);
                }
            }
            if (n > 0)
                last = page[n - 1];
        } while (n == SWEEP_BATCH);
    }
}
