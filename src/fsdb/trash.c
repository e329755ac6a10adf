/*
 * trash.c -- the trash of the file system database: delete, list, restore
 * and empty, the last returning the UUIDs nothing names any more (fsdb.h).
 */
#include "fsdb_int.h"

#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/log.h"

/* cf_fsdb_trash_put's change, inside the shard's write transaction
 * (cf__fsdb_group_write). */
struct trash_put {
    uint64_t client, id, by_user;
    enum cf_fsdb_kind kind;
    int64_t now;
    int64_t tid; /* out */
};

static int trash_put_write(struct cf_db *db, void *arg, char *err)
{
    static const char sql_folder[] = "SELECT parent_id, name FROM folders"
                                     " WHERE client_id = ?1 AND id = ?2 AND parent_id IS NOT NULL";
    static const char sql_file[] = "SELECT folder_id, name FROM objects"
                                   " WHERE client_id = ?1 AND id = ?2 AND folder_id IS NOT NULL";
    static const char sql_ins[] = "INSERT INTO trash (id, client_id, kind, item_id, orig_parent,"
                                  " orig_name, deleted_at, by_user) VALUES (?1, ?2, ?3, ?4, ?5,"
                                  " ?6, ?7, ?8)";
    static const char det_folder[] = "UPDATE folders SET parent_id = NULL WHERE id = ?1";
    static const char det_file[] = "UPDATE objects SET folder_id = NULL WHERE id = ?1";
    static const char sql_root[] =
        "SELECT count(*) FROM folders WHERE client_id = ?1 AND id = ?2 AND is_root = 1";
    static const char touch[] = "UPDATE folders SET modified = ?2 WHERE id = ?1";
    struct trash_put *t = arg;
    struct cf_db_stmt *s = NULL;
    char name[CF_FSDB_NAME_MAX + 1];
    int64_t tid = 0, parent;
    int rc;

    /* The root has no parent and a trashed item has none either: both miss here. */
    rc = cf_db_query(db, &s, err, t->kind == CF_FSDB_FOLDER ? sql_folder : sql_file, "ii",
                     (int64_t)t->client, (int64_t)t->id);
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc == CF_DB_DONE) {
        int64_t is_root = 0;

        if (t->kind == CF_FSDB_FOLDER) {
            rc =
                cf_db_run(db, &is_root, 1, err, sql_root, "ii", (int64_t)t->client, (int64_t)t->id);
            if (rc < 0)
                goto out;
        }
        cf_err_set(err,
                   is_root ? "the root cannot be deleted" : "no such item, or it is in the trash");
        rc = is_root ? CF_EINVAL : CF_ENOTFOUND;
    }
    if (rc < 0)
        goto out;
    parent = cf_db_column_int64(s, 0);
    rc = cf_db_column_copy_text(s, 1, name, sizeof(name));
    if (rc < 0)
        goto out;
    cf_db_finalize(s);
    s = NULL;
    rc = cf__fsdb_folder_live(db, t->client, (uint64_t)parent, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_new_id(db, &tid, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, sql_ins, "iiiiitii", tid, (int64_t)t->client, (int64_t)t->kind,
                   (int64_t)t->id, parent, name, t->now, (int64_t)t->by_user);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, t->kind == CF_FSDB_FOLDER ? det_folder : det_file, "i",
                   (int64_t)t->id);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, touch, "ii", parent, t->now);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_journal(db, t->client, CF_FSDB_CH_DELETE, t->kind, (uint64_t)parent, name, 0,
                          NULL, t->id, NULL, t->now, err);
    if (rc == 0)
        t->tid = tid;
out:
    cf_db_finalize(s);
    return rc < 0 ? rc : 0;
}

int cf_fsdb_trash_put(struct cf_fsdb *fs, uint64_t client, enum cf_fsdb_kind kind, uint64_t id,
                      uint64_t by_user, uint64_t *trash_id, char *err)
{
    struct trash_put t = {client, id, by_user, kind, (int64_t)cf_wall_ms(), 0};
    int rc;

    if (kind != CF_FSDB_FOLDER && kind != CF_FSDB_FILE) {
        cf_err_set(err, "bad kind %d", (int)kind);
        return CF_EINVAL;
    }
    /* Deletes made at the same time share a transaction (group commit). */
    rc = cf__fsdb_group_write(fs, client, trash_put_write, &t, err);
    if (rc == 0 || rc == CF_EINDOUBT)
        cf__fsdb_changed(fs);
    if (rc == 0 && trash_id != NULL)
        *trash_id = (uint64_t)t.tid;
    return rc;
}

static int trash_row(struct cf_db_stmt *s, void *elem)
{
    struct cf_fsdb_trash *t = elem;

    memset(t, 0, sizeof(*t));
    t->id = (uint64_t)cf_db_column_int64(s, 0);
    t->kind = cf_db_column_int64(s, 1) == 0 ? CF_FSDB_FOLDER : CF_FSDB_FILE;
    t->item = (uint64_t)cf_db_column_int64(s, 2);
    t->orig_parent = (uint64_t)cf_db_column_int64(s, 3);
    t->deleted_ms = (uint64_t)cf_db_column_int64(s, 5);
    t->by_user = (uint64_t)cf_db_column_int64(s, 6);
    return cf_db_column_copy_text(s, 4, t->orig_name, sizeof(t->orig_name));
}

/* Trash rows of client: entry trash_id, or (trash_id 0) those deleted before
 * before_ms (0: all), oldest first. */
static int trash_select(struct cf_db *db, uint64_t client, uint64_t trash_id, uint64_t before_ms,
                        struct cf_fsdb_trash **out, size_t *n, char *err)
{
    static const char sql_one[] = "SELECT id, kind, item_id, orig_parent, orig_name, deleted_at,"
                                  " by_user FROM trash WHERE client_id = ?1 AND id = ?2";
    static const char sql_all[] = "SELECT id, kind, item_id, orig_parent, orig_name, deleted_at,"
                                  " by_user FROM trash WHERE client_id = ?1"
                                  " AND (?2 = 0 OR deleted_at < ?2) ORDER BY deleted_at, id"
                                  " LIMIT ?3";
    struct cf_db_stmt *s = NULL;
    struct cf_fsdb_trash *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc;

    if (trash_id != 0)
        rc = cf_db_query(db, &s, err, sql_one, "ii", (int64_t)client, (int64_t)trash_id);
    else
        /* The oldest CF_FSDB_LIST_MAX at most: a huge trash is listed and
         * emptied a batch at a time instead of failing whole. */
        rc = cf_db_query(db, &s, err, sql_all, "iii", (int64_t)client, (int64_t)before_ms,
                         (int64_t)CF_FSDB_LIST_MAX);
    if (rc < 0)
        goto out;
    for (;;) {
        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        rc = cf__fsdb_grow((void **)&v, &cap, cnt, sizeof(*v), err);
        if (rc < 0)
            goto out;
        rc = trash_row(s, &v[cnt]);
        if (rc < 0)
            goto out;
        cnt++;
    }
    if (rc == 0 && trash_id != 0 && cnt == 0) {
        cf_err_set(err, "no trash entry %llu", (unsigned long long)trash_id);
        rc = CF_ENOTFOUND;
    }
out:
    cf_db_finalize(s);
    if (rc < 0) {
        free(v);
        v = NULL;
        cnt = 0;
    }
    *out = v;
    *n = cnt;
    return rc < 0 ? rc : 0;
}

int cf_fsdb_trash_list(struct cf_fsdb *fs, uint64_t client, uint64_t before_ms,
                       struct cf_fsdb_trash **out, size_t *n, char *err)
{
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    *out = NULL;
    *n = 0;
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc == 0)
        rc = trash_select(c.db, client, 0, before_ms, out, n, err);
    cf__fsdb_release(&c);
    return rc;
}

int cf_fsdb_trash_get(struct cf_fsdb *fs, uint64_t client, uint64_t trash_id,
                      struct cf_fsdb_trash *out, char *err)
{
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_fsdb_trash *t = NULL;
    size_t n = 0;
    int rc;

    if (trash_id == 0) {
        cf_err_set(err, "no trash entry 0");
        return CF_ENOTFOUND;
    }
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc == 0)
        rc = trash_select(c.db, client, trash_id, 0, &t, &n, err);
    if (rc == 0)
        *out = t[0];
    free(t);
    cf__fsdb_release(&c);
    return rc;
}

int cf_fsdb_trash_page(struct cf_fsdb *fs, uint64_t client, uint64_t after_ms, uint64_t after_id,
                       size_t limit, struct cf_fsdb_trash **out, size_t *n, bool *more, char *err)
{
    /* Keyset on (deleted_at, id), which the trash_by_client index orders. */
    static const char sql[] = "SELECT id, kind, item_id, orig_parent, orig_name, deleted_at,"
                              " by_user FROM trash WHERE client_id = ?1"
                              " AND (deleted_at > ?2 OR (deleted_at = ?2 AND id > ?3))"
                              " ORDER BY deleted_at, id LIMIT ?4";
    void *v = NULL;
    int rc;

    rc = cf__fsdb_time_page(fs, client, sql, after_ms, after_id, limit, sizeof(**out), trash_row,
                            &v, n, more, err);
    *out = v;
    return rc;
}

static int trash_page_row(struct cf_db_stmt *s, void *arg, int i, void *elem)
{
    (void)arg;
    (void)i;
    return trash_row(s, elem);
}

/* The keyset of a page of files trashed from one folder, for gone_page_query. */
struct gone_after {
    uint64_t client, folder;
    const char *after_name;
    uint64_t after_id;
};

static int gone_page_query(struct cf_db *db, void *arg, int i, size_t got, size_t want,
                           struct cf_db_stmt **s, char *err)
{
    /* Keyset on (orig_name, id descending), which trash_by_parent orders
     * by name. */
    static const char sql[] = "SELECT id, kind, item_id, orig_parent, orig_name, deleted_at,"
                              " by_user FROM trash WHERE client_id = ?1 AND kind = 1"
                              " AND orig_parent = ?2 AND (orig_name > ?3 OR (orig_name = ?3"
                              " AND id < ?4)) ORDER BY orig_name, id DESC LIMIT ?5";
    const struct gone_after *a = arg;

    (void)got;
    *s = NULL;
    if (i > 0)
        return 0;
    return cf_db_query(db, s, err, sql, "iitii", (int64_t)a->client, (int64_t)a->folder,
                       a->after_name, (int64_t)a->after_id, (int64_t)want);
}

int cf_fsdb_trash_page_from(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                            const char *after_name, uint64_t after_id, size_t limit,
                            struct cf_fsdb_trash **out, size_t *n, bool *more, char *err)
{
    struct gone_after a = {client, folder, after_name != NULL ? after_name : "", after_id};
    const struct cf__fsdb_page p = {sizeof(**out), "entries", gone_page_query, trash_page_row, &a};
    void *v = NULL;
    int rc;

    rc = cf__fsdb_page(fs, client, limit, &p, &v, n, more, err);
    *out = v;
    return rc;
}

int cf_fsdb_trash_restore(struct cf_fsdb *fs, uint64_t client, uint64_t trash_id, uint64_t parent,
                          const char *name, char *err)
{
    static const char upd_folder[] =
        "UPDATE folders SET parent_id = ?2, name = ?3, modified = ?4 WHERE id = ?1";
    static const char upd_file[] =
        "UPDATE objects SET folder_id = ?2, name = ?3, modified = ?4 WHERE id = ?1";
    static const char del[] = "DELETE FROM trash WHERE id = ?1";
    static const char touch[] = "UPDATE folders SET modified = ?2 WHERE id = ?1";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_fsdb_trash *t = NULL;
    struct cf_fsdb_entry fe;
    int64_t now = (int64_t)cf_wall_ms();
    size_t n = 0;
    int rc;

    if (name != NULL) {
        rc = cf__fsdb_check_name(name, err);
        if (rc < 0)
            goto out;
    }
    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    rc = trash_select(c.db, client, trash_id, 0, &t, &n, err);
    if (rc < 0)
        goto out;
    if (parent == 0)
        parent = t->orig_parent;
    if (name == NULL)
        name = t->orig_name;
    rc = cf__fsdb_folder_live(c.db, client, parent, err);
    if (rc < 0) {
        if (rc == CF_ENOTFOUND)
            cf_err_set(err, "the destination folder is gone or in the trash");
        goto out;
    }
    if (t->kind == CF_FSDB_FOLDER) {
        /* Unreachable while the folder is detached (its subtree is not live),
         * kept so a damaged trash row cannot create a cycle. */
        rc = cf__fsdb_is_within(c.db, client, parent, t->item, err);
        if (rc < 0)
            goto out;
        if (rc > 0) {
            cf_err_set(err, "a folder cannot go into its own subtree");
            rc = CF_EINVAL;
            goto out;
        }
    }
    rc = cf__fsdb_name_free(c.db, client, parent, name, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, t->kind == CF_FSDB_FOLDER ? upd_folder : upd_file, "iiti",
                   (int64_t)t->item, (int64_t)parent, name, now);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, del, "i", (int64_t)t->id);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, touch, "ii", (int64_t)parent, now);
    if (rc < 0)
        goto out;
    if (t->kind == CF_FSDB_FILE)
        rc = cf__fsdb_file_entry(c.db, client, t->item, &fe, err);
    if (rc >= 0)
        rc = cf__fsdb_journal(c.db, client, CF_FSDB_CH_RESTORE, t->kind, parent, name, 0, NULL,
                              t->item, t->kind == CF_FSDB_FILE ? &fe : NULL, now, err);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(c.db, err);
    if (rc == 0 || rc == CF_EINDOUBT)
        cf__fsdb_changed(fs);
out:
    cf__fsdb_release(&c);
    free(t);
    return rc;
}

/* ---- empty ----------------------------------------------------------------------- */

struct uuid_set {
    struct cf_fsdb_uuid *v;
    size_t n, cap;
};

/* Append the first column of every row of s to set. */
static int collect_uuids(struct cf_db_stmt *s, struct uuid_set *set, char *err)
{
    int rc;

    for (;;) {
        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        /* Not capped at CF_FSDB_LIST_MAX: these rows are already in the
         * database, and refusing would leave a trash that can never empty. */
        if (set->n == set->cap) {
            set->cap = set->cap == 0 ? 16 : set->cap * 2;
            set->v = cf_xrealloc(set->v, set->cap * sizeof(*set->v));
        }
        rc = cf_db_column_copy_text(s, 0, set->v[set->n].text, sizeof(set->v[set->n].text));
        if (rc < 0)
            break;
        set->n++;
    }
    return rc;
}

/*
 * Emptying works on a whole batch of trash entries at once, a few statements
 * per batch rather than per entry. The batch is the client's entries ?1 that
 * match the retention cut ?2 (0: none) and lie, in (deleted_at, id) order,
 * between the first (?3, ?4) and the last (?5, ?6) entry trash_select chose.
 * The write transaction keeps the trash unchanged meanwhile, so that range
 * holds exactly the chosen entries. Each statement rebuilds from it:
 * sel, the entries; sub, the trashed folders with their subtrees; files,
 * the files in sub and the trashed files.
 */
#define BATCH_WHERE                                                                                \
    "client_id = ?1 AND (?2 = 0 OR deleted_at < ?2) AND deleted_at BETWEEN ?3 AND ?5"              \
    " AND (deleted_at > ?3 OR id >= ?4) AND (deleted_at < ?5 OR id <= ?6)"
#define BATCH_SUB                                                                                  \
    "WITH RECURSIVE sel (kind, item_id) AS (SELECT kind, item_id FROM trash WHERE " BATCH_WHERE    \
    "), sub (id) AS (SELECT f.id FROM folders f JOIN sel ON f.id = sel.item_id"                    \
    " WHERE sel.kind = 0 AND f.client_id = ?1"                                                     \
    " UNION ALL SELECT f.id FROM folders f JOIN sub ON f.parent_id = sub.id)"
#define BATCH_FILES                                                                                \
    BATCH_SUB ", files (id) AS (SELECT id FROM objects WHERE folder_id IN (SELECT id FROM sub)"    \
              " UNION ALL SELECT o.id FROM objects o JOIN sel ON o.id = sel.item_id"               \
              " WHERE sel.kind = 1 AND o.client_id = ?1) "
/* The UUIDs the batch's versions name that no version outside the batch
 * names: shard-wide, not per client, since the delete service is told about
 * a UUID only when no version in the shard names it, whoever owns that one. */
#define BATCH_UNUSED                                                                               \
    " FROM versions v WHERE v.object_id IN (SELECT id FROM files) AND NOT EXISTS"                  \
    " (SELECT 1 FROM versions w WHERE w.uuid = v.uuid AND NOT EXISTS"                              \
    " (SELECT 1 FROM files x WHERE x.id = w.object_id))"

/* Delete the batch of trash entries first..last (see above) with everything
 * under them; add the UUIDs nothing names any more to set, and record them
 * as pending release. Each file trashed on its own is recorded as emptied by
 * by_user, with its versions, so that it can come back while the delete
 * service keeps its objects (cf_fsdb_emptied_restore). */
static int purge_batch(struct cf_db *db, uint64_t client, uint64_t before_ms,
                       const struct cf_fsdb_trash *first, const struct cf_fsdb_trash *last,
                       uint64_t by_user, struct uuid_set *set, char *err)
{
    /* The file and version ids stay the row ids: the shard's counter never
     * gives them out again, and a restore brings the file back under them. */
    static const char sql_emptied[] =
        "INSERT INTO emptied (id, client_id, orig_parent, orig_name, current_version, created,"
        " deleted_at, deleted_by, emptied_at, emptied_by) SELECT o.id, o.client_id,"
        " t.orig_parent, t.orig_name, o.current_version, o.created, t.deleted_at, t.by_user,"
        " CAST(?7 AS BIGINT), CAST(?8 AS BIGINT) FROM (SELECT item_id, orig_parent, orig_name,"
        " deleted_at, by_user FROM trash WHERE " BATCH_WHERE " AND kind = 1) t"
        " JOIN objects o ON o.id = t.item_id AND o.client_id = ?1";
    static const char sql_emptied_versions[] =
        "INSERT INTO emptied_versions (id, emptied_id, number, uuid, size, sha512, created,"
        " by_user) SELECT v.id, v.object_id, v.number, v.uuid, v.size, v.sha512, v.created,"
        " v.by_user FROM versions v WHERE v.object_id IN (SELECT item_id FROM trash "
        "WHERE " BATCH_WHERE " AND kind = 1)";
    static const char sql_unused[] = BATCH_FILES "SELECT DISTINCT v.uuid" BATCH_UNUSED;
    /* DESIGN §4: what the delete service must still be told survives a crash
     * of the caller, in the same transaction as the deletion. */
    static const char sql_pending[] =
        BATCH_FILES "INSERT INTO pending_release (client_id, uuid, since)"
                    " SELECT DISTINCT CAST(?1 AS BIGINT), v.uuid, CAST(?7 AS BIGINT)" BATCH_UNUSED
                    " ON CONFLICT DO NOTHING";
    /* Files, then folders in one statement (foreign keys are checked at its
     * end, so order inside it is free), then the entries. */
    static const char *const del_sql[] = {
        BATCH_FILES "DELETE FROM s3_attrs WHERE file_id IN (SELECT id FROM files)",
        BATCH_FILES "DELETE FROM s3_part_sizes WHERE file_id IN (SELECT id FROM files)",
        BATCH_FILES "DELETE FROM versions WHERE object_id IN (SELECT id FROM files)",
        BATCH_FILES "DELETE FROM objects WHERE id IN (SELECT id FROM files)",
        BATCH_SUB " DELETE FROM folder_perms WHERE folder_id IN (SELECT id FROM sub)",
        BATCH_SUB " DELETE FROM folders WHERE id IN (SELECT id FROM sub)",
        "DELETE FROM trash WHERE " BATCH_WHERE,
    };
    const int64_t c = (int64_t)client, b = (int64_t)before_ms;
    const int64_t d0 = (int64_t)first->deleted_ms, i0 = (int64_t)first->id;
    const int64_t d1 = (int64_t)last->deleted_ms, i1 = (int64_t)last->id;
    struct cf_db_stmt *s = NULL;
    int rc;

    rc = cf_db_query(db, &s, err, sql_unused, "iiiiii", c, b, d0, i0, d1, i1);
    if (rc < 0)
        goto out;
    rc = collect_uuids(s, set, err);
    if (rc < 0)
        goto out;
    cf_db_finalize(s);
    s = NULL;
    rc = cf_db_run(db, NULL, 0, err, sql_pending, "iiiiiii", c, b, d0, i0, d1, i1,
                   (int64_t)cf_wall_ms());
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, sql_emptied, "iiiiiiii", c, b, d0, i0, d1, i1,
                   (int64_t)cf_wall_ms(), (int64_t)by_user);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, sql_emptied_versions, "iiiiii", c, b, d0, i0, d1, i1);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < CF_ARRAY_LEN(del_sql); i++) {
        rc = cf_db_run(db, NULL, 0, err, del_sql[i], "iiiiii", c, b, d0, i0, d1, i1);
        if (rc < 0)
            goto out;
    }
out:
    cf_db_finalize(s);
    return rc < 0 ? rc : 0;
}

static int uuid_cmp(const void *a, const void *b)
{
    return strcmp(((const struct cf_fsdb_uuid *)a)->text, ((const struct cf_fsdb_uuid *)b)->text);
}

int cf_fsdb_trash_empty(struct cf_fsdb *fs, uint64_t client, uint64_t trash_id, uint64_t before_ms,
                        uint64_t by_user, struct cf_fsdb_uuid **out, size_t *n, char *err)
{
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_fsdb_trash *t = NULL;
    struct uuid_set set = {NULL, 0, 0};
    size_t nt = 0, k = 0;
    int rc;

    *out = NULL;
    *n = 0;
    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    rc = trash_select(c.db, client, trash_id, before_ms, &t, &nt, err);
    if (rc < 0)
        goto out;
    /* One entry asked for by id is a batch of one, whatever its age. */
    if (nt > 0) {
        rc = purge_batch(c.db, client, trash_id != 0 ? 0 : before_ms, &t[0], &t[nt - 1], by_user,
                         &set, err);
        if (rc < 0)
            goto out;
    }
    /* Distinct already (one query); sorted as the caller sees them. */
    if (set.n > 1)
        qsort(set.v, set.n, sizeof(*set.v), uuid_cmp);
    k = set.n;
    rc = cf_db_commit(c.db, err);
    if (rc < 0)
        goto out;
    if (nt > 0)
        cf_log(CF_LOG_INFO, "fsdb: client %llu: emptied %zu trash entries, %zu objects unused",
               (unsigned long long)client, nt, k);
    if (k > 0) {
        *out = set.v;
        *n = k;
        set.v = NULL;
    }
out:
    cf__fsdb_release(&c);
    free(set.v);
    free(t);
    return rc;
}

/* ---- version expiry (fsdb.h) ------------------------------------------------------ */

/* One expired version, as read before any is deleted. */
struct expired {
    int64_t id, object, number;
    char uuid[CF_FSDB_UUID_LEN + 1];
};

/* The client's ?1 expired versions, oldest id first, at most ?4: of live
 * files only (a trashed file has no folder; a file in a trashed folder has
 * one in the subtree of a trashed folder), never the current one, and
 * either with ?2 (> 0) newer versions of its file or superseded (the next
 * version of its file made) before ?3 (> 0). The set is read whole before
 * anything is deleted: deleting an old version first would change the
 * count of newer versions of those left. */
static const char expire_sel[] =
    "WITH RECURSIVE trashed (id) AS (SELECT item_id FROM trash WHERE client_id = ?1 AND kind = 0"
    " UNION ALL SELECT f.id FROM folders f JOIN trashed t ON f.parent_id = t.id)"
    " SELECT v.id, v.object_id, v.number, v.uuid FROM versions v JOIN objects o"
    " ON o.id = v.object_id WHERE o.client_id = ?1 AND o.folder_id IS NOT NULL"
    " AND v.id <> o.current_version AND o.folder_id NOT IN (SELECT id FROM trashed)"
    " AND ((?2 > 0 AND (SELECT count(*) FROM versions w WHERE w.object_id = v.object_id"
    " AND w.number > v.number) >= ?2) OR (?3 > 0 AND (SELECT w.created FROM versions w"
    " WHERE w.object_id = v.object_id AND w.number > v.number ORDER BY w.number LIMIT 1) < ?3))"
    " ORDER BY v.id LIMIT ?4";

static int expire_read(struct cf_db *db, uint64_t client, unsigned keep_versions, uint64_t cut_ms,
                       struct expired **out, size_t *n, char *err)
{
    struct cf_db_stmt *s = NULL;
    struct expired *v = cf_xcalloc(CF_FSDB_EXPIRE_BATCH, sizeof(*v));
    size_t cnt = 0;
    int rc;

    rc = cf_db_query(db, &s, err, expire_sel, "iiii", (int64_t)client, (int64_t)keep_versions,
                     (int64_t)cut_ms, (int64_t)CF_FSDB_EXPIRE_BATCH);
    while (rc == 0 && cnt < CF_FSDB_EXPIRE_BATCH) {
        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        v[cnt].id = cf_db_column_int64(s, 0);
        v[cnt].object = cf_db_column_int64(s, 1);
        v[cnt].number = cf_db_column_int64(s, 2);
        rc = cf_db_column_copy_text(s, 3, v[cnt].uuid, sizeof(v[cnt].uuid));
        if (rc == 0)
            cnt++;
    }
    cf_db_finalize(s);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

static int expired_by_uuid(const void *a, const void *b)
{
    return strcmp(((const struct expired *)a)->uuid, ((const struct expired *)b)->uuid);
}

int cf_fsdb_versions_expire(struct cf_fsdb *fs, uint64_t client, uint64_t now_ms, size_t *removed,
                            struct cf_fsdb_uuid **out, size_t *n, char *err)
{
    static const char del_attrs[] = "DELETE FROM s3_attrs WHERE file_id = ?1 AND version = ?2";
    static const char del_sizes[] = "DELETE FROM s3_part_sizes WHERE file_id = ?1 AND version = ?2";
    static const char del_version[] = "DELETE FROM versions WHERE id = ?1";
    /* Shard-wide, as cf_fsdb_trash_empty counts (BATCH_UNUSED). */
    static const char refs[] = "SELECT count(*) FROM versions WHERE uuid = ?1";
    static const char pending[] = "INSERT INTO pending_release (client_id, uuid, since)"
                                  " VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_fsdb_client cl;
    struct expired *v = NULL;
    struct uuid_set set = {NULL, 0, 0};
    uint64_t cut = 0, span;
    size_t nv = 0;
    int rc;

    *removed = 0;
    *out = NULL;
    *n = 0;
    /* The catalog first, released before the shard is taken (fsdb_int.h). */
    rc = cf_fsdb_client_get(fs, client, &cl, err);
    if (rc < 0)
        goto out;
    span = (uint64_t)cl.keep_days * 86400000u;
    if (cl.keep_days > 0 && now_ms > span)
        cut = now_ms - span;
    if (cl.keep_versions == 0 && cut == 0)
        goto out;
    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    rc = expire_read(c.db, client, cl.keep_versions, cut, &v, &nv, err);
    if (rc < 0)
        goto out;
    for (size_t i = 0; rc >= 0 && i < nv; i++) {
        rc = cf_db_run(c.db, NULL, 0, err, del_attrs, "ii", v[i].object, v[i].number);
        if (rc >= 0)
            rc = cf_db_run(c.db, NULL, 0, err, del_sizes, "ii", v[i].object, v[i].number);
        if (rc >= 0)
            rc = cf_db_run(c.db, NULL, 0, err, del_version, "i", v[i].id);
    }
    if (rc < 0)
        goto out;
    /* Each UUID once, in order: those no version names any more. */
    if (nv > 1)
        qsort(v, nv, sizeof(*v), expired_by_uuid);
    for (size_t i = 0; i < nv; i++) {
        int64_t cnt = 0;

        if (i > 0 && strcmp(v[i].uuid, v[i - 1].uuid) == 0)
            continue;
        rc = cf_db_run(c.db, &cnt, 1, err, refs, "t", v[i].uuid);
        if (rc < 0)
            goto out;
        if (cnt > 0)
            continue;
        /* DESIGN §4: an object nothing names is recorded in the same transaction. */
        rc = cf_db_run(c.db, NULL, 0, err, pending, "iti", (int64_t)client, v[i].uuid,
                       (int64_t)cf_wall_ms());
        if (rc < 0)
            goto out;
        if (set.n == set.cap) {
            set.cap = set.cap == 0 ? 16 : set.cap * 2;
            set.v = cf_xrealloc(set.v, set.cap * sizeof(*set.v));
        }
        memcpy(set.v[set.n].text, v[i].uuid, sizeof(set.v[set.n].text));
        set.n++;
    }
    rc = cf_db_commit(c.db, err);
    if (rc < 0)
        goto out;
    if (nv > 0)
        cf_log(CF_LOG_INFO, "fsdb: client %llu: %zu versions expired, %zu objects unused",
               (unsigned long long)client, nv, set.n);
    *removed = nv;
    *out = set.v;
    *n = set.n;
    set.v = NULL;
out:
    cf__fsdb_release(&c);
    free(set.v);
    free(v);
    return rc < 0 ? rc : 0;
}

int cf_fsdb_release_pending(struct cf_fsdb *fs, uint64_t client, struct cf_fsdb_uuid **out,
                            size_t *n, char *err)
{
    static const char sql[] = "SELECT uuid FROM pending_release WHERE client_id = ?1"
                              " ORDER BY since, uuid LIMIT ?2";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_db_stmt *s = NULL;
    struct uuid_set set = {NULL, 0, 0};
    int rc;

    *out = NULL;
    *n = 0;
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc < 0)
        goto out;
    rc = cf_db_query(c.db, &s, err, sql, "ii", (int64_t)client, (int64_t)CF_FSDB_LIST_MAX);
    if (rc < 0)
        goto out;
    rc = collect_uuids(s, &set, err);
    if (rc < 0)
        goto out;
    *out = set.v;
    *n = set.n;
    set.v = NULL;
out:
    cf_db_finalize(s);
    cf__fsdb_release(&c);
    free(set.v);
    return rc;
}

int cf_fsdb_release_add(struct cf_fsdb *fs, uint64_t client, const char *uuid, char *err)
{
    static const char sql[] = "INSERT INTO pending_release (client_id, uuid, since)"
                              " VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    if (strlen(uuid) != CF_FSDB_UUID_LEN) {
        cf_err_set(err, "not a UUID");
        return CF_EINVAL;
    }
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc == 0)
        rc =
            cf_db_run(c.db, NULL, 0, err, sql, "iti", (int64_t)client, uuid, (int64_t)cf_wall_ms());
    cf__fsdb_release(&c);
    return rc;
}

int cf_fsdb_release_done(struct cf_fsdb *fs, uint64_t client, const char *uuid, char *err)
{
    static const char sql[] = "DELETE FROM pending_release WHERE client_id = ?1 AND uuid = ?2";
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc == 0)
        rc = cf_db_run(c.db, NULL, 0, err, sql, "it", (int64_t)client, uuid);
    cf__fsdb_release(&c);
    return rc;
}
