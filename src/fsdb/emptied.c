/*
 * emptied.c -- the records of files emptied from the trash: list, restore
 * while the delete service still keeps their objects, drop, expire (fsdb.h
 * "Emptied files").
 */
#include "fsdb_int.h"

#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/log.h"

#define EMPTIED_COLS                                                                               \
    "SELECT e.id, e.orig_parent, e.orig_name, (SELECT size FROM emptied_versions v"                \
    " WHERE v.id = e.current_version), (SELECT count(*) FROM emptied_versions v"                   \
    " WHERE v.emptied_id = e.id), e.deleted_at, e.deleted_by, e.emptied_at, e.emptied_by"          \
    " FROM emptied e"

static int emptied_row(struct cf_db_stmt *s, void *elem)
{
    struct cf_fsdb_emptied *e = elem;

    memset(e, 0, sizeof(*e));
    e->id = (uint64_t)cf_db_column_int64(s, 0);
    e->orig_parent = (uint64_t)cf_db_column_int64(s, 1);
    e->size = (uint64_t)cf_db_column_int64(s, 3);
    e->versions = (uint32_t)cf_db_column_int64(s, 4);
    e->deleted_ms = (uint64_t)cf_db_column_int64(s, 5);
    e->deleted_by = (uint64_t)cf_db_column_int64(s, 6);
    e->emptied_ms = (uint64_t)cf_db_column_int64(s, 7);
    e->emptied_by = (uint64_t)cf_db_column_int64(s, 8);
    return cf_db_column_copy_text(s, 2, e->orig_name, sizeof(e->orig_name));
}

int cf_fsdb_emptied_page(struct cf_fsdb *fs, uint64_t client, uint64_t after_ms, uint64_t after_id,
                         size_t limit, struct cf_fsdb_emptied **out, size_t *n, bool *more,
                         char *err)
{
    /* Keyset on (emptied_at, id), which emptied_by_client orders. */
    static const char sql[] = EMPTIED_COLS " WHERE e.client_id = ?1 AND (e.emptied_at > ?2"
                                           " OR (e.emptied_at = ?2 AND e.id > ?3))"
                                           " ORDER BY e.emptied_at, e.id LIMIT ?4";
    void *v = NULL;
    int rc;

    rc = cf__fsdb_time_page(fs, client, sql, after_ms, after_id, limit, sizeof(**out), emptied_row,
                            &v, n, more, err);
    *out = v;
    return rc;
}

/* Record id of client into *out on a connection the caller holds. */
static int emptied_one(struct cf_db *db, uint64_t client, uint64_t id, struct cf_fsdb_emptied *out,
                       char *err)
{
    static const char sql[] = EMPTIED_COLS " WHERE e.client_id = ?1 AND e.id = ?2";
    struct cf_db_stmt *s = NULL;
    int rc;

    rc = cf_db_query(db, &s, err, sql, "ii", (int64_t)client, (int64_t)id);
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no emptied file %llu", (unsigned long long)id);
        rc = CF_ENOTFOUND;
    }
    if (rc < 0)
        goto out;
    rc = emptied_row(s, out);
out:
    cf_db_finalize(s);
    return rc < 0 ? rc : 0;
}

int cf_fsdb_emptied_get(struct cf_fsdb *fs, uint64_t client, uint64_t id,
                        struct cf_fsdb_emptied *out, struct cf_fsdb_uuid **uuids, size_t *nuuids,
                        char *err)
{
    static const char sql[] = "SELECT DISTINCT uuid FROM emptied_versions WHERE emptied_id = ?1"
                              " ORDER BY uuid";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_db_stmt *s = NULL;
    struct cf_fsdb_uuid *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc;

    *uuids = NULL;
    *nuuids = 0;
    /* The record and its versions from one snapshot. */
    rc = cf__fsdb_begin(fs, client, &c, false, err);
    if (rc < 0)
        goto out;
    rc = emptied_one(c.db, client, id, out, err);
    if (rc < 0)
        goto out;
    rc = cf_db_query(c.db, &s, err, sql, "i", (int64_t)id);
    if (rc < 0)
        goto out;
    for (;;) {
        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        rc = cf__fsdb_grow((void **)&v, &cap, cnt, sizeof(*v), err);
        if (rc < 0)
            goto out;
        rc = cf_db_column_copy_text(s, 0, v[cnt].text, sizeof(v[cnt].text));
        if (rc < 0)
            goto out;
        cnt++;
    }
out:
    cf_db_finalize(s);
    cf__fsdb_release(&c);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *uuids = v;
    *nuuids = cnt;
    return 0;
}

int cf_fsdb_emptied_restore(struct cf_fsdb *fs, uint64_t client, uint64_t id, uint64_t parent,
                            const char *name, bool check_only, char *err)
{
    static const char ins_file[] =
        "INSERT INTO objects (id, client_id, folder_id, name, current_version, created, modified)"
        " SELECT id, client_id, CAST(?3 AS BIGINT), CAST(?4 AS TEXT), current_version, created,"
        " CAST(?5 AS BIGINT) FROM emptied WHERE client_id = ?1 AND id = ?2";
    static const char ins_versions[] =
        "INSERT INTO versions (id, object_id, number, uuid, size, sha512, created, by_user)"
        " SELECT id, emptied_id, number, uuid, size, sha512, created, by_user"
        " FROM emptied_versions WHERE emptied_id = ?1";
    /* The file names these objects again: nothing may hand them over. */
    static const char unpend[] = "DELETE FROM pending_release WHERE client_id = ?1 AND uuid IN"
                                 " (SELECT uuid FROM emptied_versions WHERE emptied_id = ?2)";
    static const char del_versions[] = "DELETE FROM emptied_versions WHERE emptied_id = ?1";
    static const char del[] = "DELETE FROM emptied WHERE id = ?1";
    static const char touch[] = "UPDATE folders SET modified = ?2 WHERE id = ?1";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_fsdb_emptied e;
    struct cf_fsdb_entry fe;
    int64_t now = (int64_t)cf_wall_ms();
    int rc;

    if (name != NULL) {
        rc = cf__fsdb_check_name(name, err);
        if (rc < 0)
            goto out;
    }
    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    rc = emptied_one(c.db, client, id, &e, err);
    if (rc < 0)
        goto out;
    if (parent == 0)
        parent = e.orig_parent;
    if (name == NULL)
        name = e.orig_name;
    rc = cf__fsdb_folder_live(c.db, client, parent, err);
    if (rc < 0) {
        if (rc == CF_ENOTFOUND)
            cf_err_set(err, "the destination folder is gone or in the trash");
        goto out;
    }
    rc = cf__fsdb_name_free(c.db, client, parent, name, err);
    if (rc < 0 || check_only)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, ins_file, "iiiti", (int64_t)client, (int64_t)id,
                   (int64_t)parent, name, now);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, ins_versions, "i", (int64_t)id);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, unpend, "ii", (int64_t)client, (int64_t)id);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, del_versions, "i", (int64_t)id);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, del, "i", (int64_t)id);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, touch, "ii", (int64_t)parent, now);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_file_entry(c.db, client, id, &fe, err);
    if (rc == 0)
        rc = cf__fsdb_journal(c.db, client, CF_FSDB_CH_RESTORE, CF_FSDB_FILE, parent, name, 0, NULL,
                              id, &fe, now, err);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(c.db, err);
    if (rc == 0 || rc == CF_EINDOUBT)
        cf__fsdb_changed(fs);
    if (rc == 0)
        cf_log(CF_LOG_INFO, "fsdb: client %llu: emptied file %llu restored (%u versions)",
               (unsigned long long)client, (unsigned long long)id, e.versions);
out:
    /* Rolls back a check_only transaction. */
    cf__fsdb_release(&c);
    return rc < 0 ? rc : 0;
}

/* Run del_versions then del (?1 client, ?2 arg), which delete some of
 * client's records and their versions, in one transaction. */
static int emptied_delete(struct cf_fsdb *fs, uint64_t client, const char *del_versions,
                          const char *del, uint64_t arg, char *err)
{
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, del_versions, "ii", (int64_t)client, (int64_t)arg);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, del, "ii", (int64_t)client, (int64_t)arg);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(c.db, err);
out:
    cf__fsdb_release(&c);
    return rc < 0 ? rc : 0;
}

int cf_fsdb_emptied_drop(struct cf_fsdb *fs, uint64_t client, uint64_t id, char *err)
{
    static const char del_versions[] = "DELETE FROM emptied_versions WHERE emptied_id IN"
                                       " (SELECT id FROM emptied WHERE client_id = ?1 AND id = ?2)";
    static const char del[] = "DELETE FROM emptied WHERE client_id = ?1 AND id = ?2";

    return emptied_delete(fs, client, del_versions, del, id, err);
}

int cf_fsdb_emptied_expire(struct cf_fsdb *fs, uint64_t client, uint64_t before_ms, char *err)
{
    static const char del_versions[] =
        "DELETE FROM emptied_versions WHERE emptied_id IN"
        " (SELECT id FROM emptied WHERE client_id = ?1 AND emptied_at < ?2)";
    static const char del[] = "DELETE FROM emptied WHERE client_id = ?1 AND emptied_at < ?2";

    if (before_ms == 0) {
        cf_err_set(err, "before_ms must be > 0");
        return CF_EINVAL;
    }
    return emptied_delete(fs, client, del_versions, del, before_ms, err);
}

int cf_fsdb_uuid_named(struct cf_fsdb *fs, uint64_t client, const char *uuid, bool *named,
                       char *err)
{
    /* Shard-wide, as cf_fsdb_trash_empty decides what is unused (trash.c,
     * BATCH_UNUSED). */
    static const char sql[] = "SELECT count(*) FROM versions WHERE uuid = ?1";
    struct cf__fsdb_conn c = {NULL, NULL};
    int64_t n = 0;
    int rc;

    *named = true;
    if (strlen(uuid) != CF_FSDB_UUID_LEN) {
        cf_err_set(err, "not a UUID");
        return CF_EINVAL;
    }
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, &n, 1, err, sql, "t", uuid);
    if (rc < 0)
        goto out;
    *named = n > 0;
    rc = 0;
out:
    cf__fsdb_release(&c);
    return rc;
}
