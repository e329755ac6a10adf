/*
 * tree.c -- folders, paths, files and versions of the file system database
 * (fsdb.h).
 */
#include "fsdb_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/log.h"

static const char file_cols[] =
    "SELECT o.id, o.folder_id, o.name, o.created, o.modified, v.id, v.number, v.uuid, v.size,"
    " v.sha512 FROM objects o JOIN versions v ON v.id = o.current_version";

static int check_uuid(const char *u, char *err)
{
    size_t len = u == NULL ? 0 : strnlen(u, CF_FSDB_UUID_LEN + 1);

    if (len != CF_FSDB_UUID_LEN) {
        cf_err_set(err, "a UUID has %d characters", CF_FSDB_UUID_LEN);
        return CF_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (!((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f') || u[i] == '-')) {
            cf_err_set(err, "a UUID is lowercase hex and '-'");
            return CF_EINVAL;
        }
    }
    return 0;
}

static int copy_sha(struct cf_db_stmt *s, int col, uint8_t out[64])
{
    size_t len = 0;
    const void *p = cf_db_column_blob(s, col, &len);

    if (p == NULL || len != 64)
        return CF_ECORRUPT;
    memcpy(out, p, 64);
    return 0;
}

/* A row of file_cols into e. */
static int file_row(struct cf_db_stmt *s, struct cf_fsdb_entry *e)
{
    int rc;

    memset(e, 0, sizeof(*e));
    e->kind = CF_FSDB_FILE;
    e->id = (uint64_t)cf_db_column_int64(s, 0);
    e->parent = (uint64_t)cf_db_column_int64(s, 1);
    rc = cf_db_column_copy_text(s, 2, e->name, sizeof(e->name));
    e->created_ms = (uint64_t)cf_db_column_int64(s, 3);
    e->modified_ms = (uint64_t)cf_db_column_int64(s, 4);
    e->version = (uint64_t)cf_db_column_int64(s, 5);
    e->version_no = (uint32_t)cf_db_column_int64(s, 6);
    if (rc == 0)
        rc = cf_db_column_copy_text(s, 7, e->uuid, sizeof(e->uuid));
    e->size = (uint64_t)cf_db_column_int64(s, 8);
    if (rc == 0)
        rc = copy_sha(s, 9, e->sha512);
    return rc;
}

/* A folder row (id, parent_id, name, created, modified) into e. */
static int folder_row(struct cf_db_stmt *s, struct cf_fsdb_entry *e)
{
    memset(e, 0, sizeof(*e));
    e->kind = CF_FSDB_FOLDER;
    e->id = (uint64_t)cf_db_column_int64(s, 0);
    e->parent = (uint64_t)cf_db_column_int64(s, 1);
    e->created_ms = (uint64_t)cf_db_column_int64(s, 3);
    e->modified_ms = (uint64_t)cf_db_column_int64(s, 4);
    return cf_db_column_copy_text(s, 2, e->name, sizeof(e->name));
}

/* Run s (one row expected) into e with row(). CF_ENOTFOUND if no row. */
static int one_entry(struct cf_db_stmt *s, int (*row)(struct cf_db_stmt *, struct cf_fsdb_entry *),
                     struct cf_fsdb_entry *e, char *err)
{
    int rc = cf_db_step(s, err);

    if (rc == CF_DB_DONE) {
        cf_err_set(err, "not found");
        rc = CF_ENOTFOUND;
    }
    if (rc == CF_DB_ROW)
        rc = row(s, e);
    return rc;
}

int cf__fsdb_file_entry(struct cf_db *db, uint64_t client, uint64_t file, struct cf_fsdb_entry *out,
                        char *err)
{
    char sql[512];
    struct cf_db_stmt *s = NULL;
    int rc;

    (void)snprintf(sql, sizeof(sql), "%s WHERE o.client_id = ?1 AND o.id = ?2", file_cols);
    rc = cf_db_query(db, &s, err, sql, "ii", (int64_t)client, (int64_t)file);
    if (rc == 0)
        rc = one_entry(s, file_row, out, err);
    cf_db_finalize(s);
    return rc;
}

/* The live file name in folder. */
static int file_by_name(struct cf_db *db, uint64_t client, uint64_t folder, const char *name,
                        struct cf_fsdb_entry *out, char *err)
{
    char sql[512];
    struct cf_db_stmt *s = NULL;
    int rc;

    (void)snprintf(sql, sizeof(sql),
                   "%s WHERE o.client_id = ?1 AND o.folder_id = ?2"
                   " AND o.name = ?3",
                   file_cols);
    rc = cf_db_query(db, &s, err, sql, "iit", (int64_t)client, (int64_t)folder, name);
    if (rc == 0)
        rc = one_entry(s, file_row, out, err);
    cf_db_finalize(s);
    return rc;
}

/* The client's root folder entry. */
static int root_entry(struct cf_db *db, uint64_t client, struct cf_fsdb_entry *out, char *err)
{
    static const char sql[] = "SELECT id, parent_id, name, created, modified FROM folders"
                              " WHERE client_id = ?1 AND is_root = 1";
    struct cf_db_stmt *s = NULL;
    int rc;

    rc = cf_db_query(db, &s, err, sql, "i", (int64_t)client);
    if (rc == 0)
        rc = one_entry(s, folder_row, out, err);
    cf_db_finalize(s);
    return rc;
}

int cf__fsdb_name_free(struct cf_db *db, uint64_t client, uint64_t parent, const char *name,
                       char *err)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM folders WHERE client_id = ?1 AND parent_id = ?2"
        " AND name = ?3) + (SELECT count(*) FROM objects WHERE client_id = ?1"
        " AND folder_id = ?2 AND name = ?3)";
    int64_t n = 0;
    int rc;

    rc = cf_db_run(db, &n, 1, err, sql, "iit", (int64_t)client, (int64_t)parent, name);
    if (rc >= 0 && n > 0) {
        cf_err_set(err, "\"%s\" exists", name);
        rc = CF_EEXIST;
    }
    return rc < 0 ? rc : 0;
}

/* ---- paths ------------------------------------------------------------------- */

/* The id of the client's root folder: from memory when fsdb keeps it (it
 * never changes, fsdb_int.h), else read on db and kept. */
static int root_id(struct cf_fsdb *fs, struct cf_db *db, uint64_t client, uint64_t *out, char *err)
{
    static const char sql[] = "SELECT id FROM folders WHERE client_id = ?1 AND is_root = 1";
    int64_t id = 0;
    int rc;

    *out = cf__fsdb_root_cached(fs, client);
    if (*out != 0)
        return 0;
    rc = cf_db_run(db, &id, 1, err, sql, "i", (int64_t)client);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "not found");
        rc = CF_ENOTFOUND;
    }
    if (rc < 0)
        return rc;
    *out = (uint64_t)id;
    cf__fsdb_root_keep(fs, client, *out);
    return 0;
}

/* The id of the folder name in parent: the unique (client, parent, name)
 * index answers it alone. */
static int folder_id_by_name(struct cf_db *db, uint64_t client, uint64_t parent, const char *name,
                             uint64_t *out, char *err)
{
    static const char sql[] =
        "SELECT id FROM folders WHERE client_id = ?1 AND parent_id = ?2 AND name = ?3";
    int64_t id = 0;
    int rc;

    rc = cf_db_run(db, &id, 1, err, sql, "iit", (int64_t)client, (int64_t)parent, name);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "not found");
        rc = CF_ENOTFOUND;
    }
    if (rc < 0)
        return rc;
    *out = (uint64_t)id;
    return 0;
}

/* The folder or else the live file name in folder, in one statement. A
 * folder and a file never share a name in one folder (cf__fsdb_name_free
 * guards every way in), and the folder would come first if they did. */
static int entry_by_name(struct cf_db *db, uint64_t client, uint64_t folder, const char *name,
                         struct cf_fsdb_entry *out, char *err)
{
    /* Both rows have file_cols' columns and then the kind, so folder_row
     * and file_row read them as they read their own statements'. */
    static const char sql[] =
        "SELECT id, parent_id, name, created, modified, NULL, NULL, NULL, NULL, NULL, 0"
        " FROM folders WHERE client_id = ?1 AND parent_id = ?2 AND name = ?3"
        " UNION ALL SELECT o.id, o.folder_id, o.name, o.created, o.modified, v.id, v.number,"
        " v.uuid, v.size, v.sha512, 1 FROM objects o JOIN versions v ON v.id = o.current_version"
        " WHERE o.client_id = ?1 AND o.folder_id = ?2 AND o.name = ?3 ORDER BY 11 LIMIT 1";
    struct cf_db_stmt *s = NULL;
    int rc;

    rc = cf_db_query(db, &s, err, sql, "iit", (int64_t)client, (int64_t)folder, name);
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "not found");
        rc = CF_ENOTFOUND;
    }
    if (rc != CF_DB_ROW)
        goto out;
    if (cf_db_column_int64(s, 10) == CF_FSDB_FOLDER)
        rc = folder_row(s, out);
    else
        rc = file_row(s, out);
out:
    cf_db_finalize(s);
    return rc;
}

/* Walk path down from the root to the folder holding its last component.
 * On success *folder is that folder (the root for "/") and last
 * (CF_FSDB_NAME_MAX + 1 bytes) the last component, or "" for "/". Each
 * folder of the walk is the named child of the one before, from the root
 * (a trashed folder has no parent, so nothing is reached through it): in
 * a read transaction (cf__fsdb_begin) every folder it reaches is live.
 * SQLite reads the whole walk in one snapshot; PostgreSQL, where
 * cf_db_begin_read opens none, each step at its own moment, so a folder
 * trashed after its step still counts as reached: a separate liveness
 * check would only move that moment, not remove it. */
static int walk(struct cf_fsdb *fs, struct cf_db *db, uint64_t client, const char *path,
                uint64_t *folder, char *last, char *err)
{
    const char *p, *q;
    size_t plen;
    int rc;

    last[0] = '\0';
    if (path == NULL || path[0] != '/') {
        cf_err_set(err, "a path starts with '/'");
        rc = CF_EINVAL;
        goto out;
    }
    plen = strnlen(path, CF_FSDB_PATH_MAX + 1);
    if (plen > CF_FSDB_PATH_MAX) {
        cf_err_set(err, "a path has at most %d bytes", CF_FSDB_PATH_MAX);
        rc = CF_ETOOLARGE;
        goto out;
    }
    rc = root_id(fs, db, client, folder, err);
    if (rc < 0)
        goto out;
    p = path + 1;
    while (*p != '\0') {
        size_t len;

        q = strchr(p, '/');
        if (q == NULL)
            q = path + plen;
        len = (size_t)(q - p);
        rc = cf_fsdb_name_validate(p, len, err);
        if (rc < 0)
            goto out;
        memcpy(last, p, len);
        last[len] = '\0';
        /* The last component (one trailing '/' allowed) is the caller's. */
        if (*q == '\0' || q[1] == '\0')
            break;
        rc = folder_id_by_name(db, client, *folder, last, folder, err);
        if (rc < 0)
            goto out;
        last[0] = '\0';
        p = q + 1;
    }
    rc = 0;
out:
    return rc;
}

/* The entry at path, folder or file. */
static int lookup(struct cf_fsdb *fs, struct cf_db *db, uint64_t client, const char *path,
                  struct cf_fsdb_entry *out, char *err)
{
    char last[CF_FSDB_NAME_MAX + 1];
    uint64_t parent = 0;
    int rc;

    rc = walk(fs, db, client, path, &parent, last, err);
    if (rc < 0)
        goto out;
    if (last[0] == '\0')
        rc = root_entry(db, client, out, err);
    else
        rc = entry_by_name(db, client, parent, last, out, err);
out:
    return rc;
}

int cf_fsdb_lookup(struct cf_fsdb *fs, uint64_t client, const char *path, struct cf_fsdb_entry *out,
                   char *err)
{
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc == 0)
        rc = lookup(fs, c.db, client, path, out, err);
    cf__fsdb_release(&c);
    return rc;
}

/* cf_fsdb_lookup_access on db, whose read transaction the caller has begun. */
static int lookup_access(struct cf_fsdb *fs, struct cf_db *db, uint64_t client, uint64_t user,
                         const char *path, bool of_parent, struct cf_fsdb_entry *out,
                         enum cf_fsdb_level *level, char *err)
{
    uint64_t folder;
    int rc;

    rc = lookup(fs, db, client, path, out, err);
    if (rc < 0)
        return rc;
    folder = !of_parent && out->kind == CF_FSDB_FOLDER ? out->id : out->parent;
    /* The root's parent: no folder, nothing allowed there. */
    if (folder == 0) {
        *level = CF_FSDB_NONE;
        return 0;
    }
    /* The walk just reached folder from the root in this transaction. */
    return cf__fsdb_perm_level_live(db, client, user, folder, level, err);
}

int cf_fsdb_lookup_access(struct cf_fsdb *fs, uint64_t client, uint64_t user, const char *path,
                          bool of_parent, struct cf_fsdb_entry *out, enum cf_fsdb_level *level,
                          char *err)
{
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    rc = cf__fsdb_begin(fs, client, &c, false, err);
    if (rc == 0)
        rc = lookup_access(fs, c.db, client, user, path, of_parent, out, level, err);
    cf__fsdb_release(&c);
    return rc;
}

int cf_fsdb_resolve(struct cf_fsdb *fs, uint64_t client, const char *path, uint64_t *folder_out,
                    char *err)
{
    struct cf_fsdb_entry e;
    bool root = path != NULL && strcmp(path, "/") == 0;
    uint64_t id = root ? cf__fsdb_root_cached(fs, client) : 0;
    int rc;

    if (id != 0) {
        *folder_out = id;
        return 0;
    }
    rc = cf_fsdb_lookup(fs, client, path, &e, err);
    if (rc == 0 && e.kind != CF_FSDB_FOLDER) {
        cf_err_set(err, "\"%s\" is a file", e.name);
        rc = CF_ENOTFOUND;
    }
    if (rc == 0)
        *folder_out = e.id; /* the walk kept the root's id (root_id) */
    return rc;
}

/* ---- folders ------------------------------------------------------------------ */

static int touch_folder(struct cf_db *db, uint64_t folder, int64_t now, char *err)
{
    static const char sql[] = "UPDATE folders SET modified = ?2 WHERE id = ?1";
    int rc = cf_db_run(db, NULL, 0, err, sql, "ii", (int64_t)folder, now);

    return rc < 0 ? rc : 0;
}

int cf_fsdb_mkdir(struct cf_fsdb *fs, uint64_t client, uint64_t parent, const char *name,
                  uint64_t *id_out, char *err)
{
    static const char sql[] = "INSERT INTO folders (id, client_id, parent_id, name, is_root,"
                              " created, modified) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5)";
    struct cf__fsdb_conn c = {NULL, NULL};
    int64_t id = 0, now = (int64_t)cf_wall_ms();
    int rc;

    rc = cf__fsdb_check_name(name, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_folder_live(c.db, client, parent, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_name_free(c.db, client, parent, name, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_new_id(c.db, &id, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, sql, "iiiti", id, (int64_t)client, (int64_t)parent, name,
                   now);
    if (rc < 0)
        goto out;
    rc = touch_folder(c.db, parent, now, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_journal(c.db, client, CF_FSDB_CH_MKDIR, CF_FSDB_FOLDER, parent, name, 0, NULL,
                          (uint64_t)id, NULL, now, err);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(c.db, err);
    if (rc == 0 || rc == CF_EINDOUBT)
        cf__fsdb_changed(fs);
    if (rc == 0 && id_out != NULL)
        *id_out = (uint64_t)id;
out:
    cf__fsdb_release(&c);
    return rc;
}

/* Where a folder page starts, for list_page_query. */
struct list_after {
    uint64_t client, folder;
    bool past_dirs;   /* the page starts among the files */
    const char *name; /* after this name (borrowed); NULL: from the first */
    bool files;       /* the statement last prepared reads files */
};

/* Statement 0 checks the folder, then reads its folders after name (or, past
 * them, its files after name); if rows are still wanted after the folders,
 * statement 1 reads the files from the first. Keyset pagination: the unique
 * (client, parent, name) indexes serve "name > ? ORDER BY name LIMIT n" as
 * one range scan. */
static int list_page_query(struct cf_db *db, void *arg, int i, size_t got, size_t want,
                           struct cf_db_stmt **s, char *err)
{
    static const char dirs[] = "SELECT id, parent_id, name, created, modified FROM folders"
                               " WHERE client_id = ?1 AND parent_id = ?2";
    struct list_after *a = arg;
    char sql[640];
    int rc;

    *s = NULL;
    if (i == 0) {
        rc = cf__fsdb_folder_live(db, a->client, a->folder, err);
        if (rc < 0)
            return rc;
        a->files = a->past_dirs;
    } else {
        if (a->files || got >= want)
            return 0;
        a->files = true;
        a->name = NULL; /* files from the first */
    }
    if (!a->files) {
        if (a->name != NULL) {
            (void)snprintf(sql, sizeof(sql), "%s AND name > ?3 ORDER BY name LIMIT ?4", dirs);
            return cf_db_query(db, s, err, sql, "iiti", (int64_t)a->client, (int64_t)a->folder,
                               a->name, (int64_t)want);
        }
        (void)snprintf(sql, sizeof(sql), "%s ORDER BY name LIMIT ?3", dirs);
        return cf_db_query(db, s, err, sql, "iii", (int64_t)a->client, (int64_t)a->folder,
                           (int64_t)want);
    }
    if (a->name != NULL) {
        (void)snprintf(sql, sizeof(sql),
                       "%s WHERE o.client_id = ?1 AND o.folder_id = ?2 AND o.name > ?3"
                       " ORDER BY o.name LIMIT ?4",
                       file_cols);
        return cf_db_query(db, s, err, sql, "iiti", (int64_t)a->client, (int64_t)a->folder, a->name,
                           (int64_t)(want - got));
    }
    (void)snprintf(sql, sizeof(sql),
                   "%s WHERE o.client_id = ?1 AND o.folder_id = ?2 ORDER BY o.name LIMIT ?3",
                   file_cols);
    return cf_db_query(db, s, err, sql, "iii", (int64_t)a->client, (int64_t)a->folder,
                       (int64_t)(want - got));
}

static int list_page_row(struct cf_db_stmt *s, void *arg, int i, void *elem)
{
    const struct list_after *a = arg;

    (void)i;
    return a->files ? file_row(s, elem) : folder_row(s, elem);
}

int cf_fsdb_list_page(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                      const struct cf_fsdb_list_pos *after, size_t limit,
                      struct cf_fsdb_entry **out, size_t *n, bool *more, char *err)
{
    struct list_after a = {client, folder, after != NULL && after->kind == CF_FSDB_FILE,
                           after != NULL ? after->name : NULL, false};
    const struct cf__fsdb_page p = {sizeof(**out), "entries", list_page_query, list_page_row, &a};
    void *v = NULL;
    int rc;

    rc = cf__fsdb_page(fs, client, limit, &p, &v, n, more, err);
    *out = v;
    return rc;
}

int cf_fsdb_list(struct cf_fsdb *fs, uint64_t client, uint64_t folder, struct cf_fsdb_entry **out,
                 size_t *n, char *err)
{
    struct list_after a = {client, folder, false, NULL, false};
    const struct cf__fsdb_page p = {sizeof(**out), "entries", list_page_query, list_page_row, &a};
    void *v = NULL;
    bool more;
    int rc;

    rc = cf__fsdb_page(fs, client, CF_FSDB_LIST_MAX, &p, &v, n, &more, err);
    *out = v;
    return rc;
}

/* The live file `file`: its entry, and its folder is live. */
static int live_file(struct cf_db *db, uint64_t client, uint64_t file, struct cf_fsdb_entry *e,
                     char *err)
{
    int rc = cf__fsdb_file_entry(db, client, file, e, err);

    if (rc == 0 && e->parent == 0) {
        cf_err_set(err, "the file is in the trash");
        rc = CF_ENOTFOUND;
    }
    if (rc == 0)
        rc = cf__fsdb_folder_live(db, client, e->parent, err);
    return rc;
}

int cf_fsdb_move(struct cf_fsdb *fs, uint64_t client, enum cf_fsdb_kind kind, uint64_t id,
                 uint64_t new_parent, const char *new_name, char *err)
{
    static const char sql_folder[] = "SELECT id, parent_id, name, created, modified FROM folders"
                                     " WHERE client_id = ?1 AND id = ?2";
    static const char upd_folder[] =
        "UPDATE folders SET parent_id = ?2, name = ?3, modified = ?4 WHERE id = ?1";
    static const char upd_file[] =
        "UPDATE objects SET folder_id = ?2, name = ?3, modified = ?4 WHERE id = ?1";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_db_stmt *s = NULL;
    struct cf_fsdb_entry e;
    int64_t now = (int64_t)cf_wall_ms();
    const char *name;
    int rc;

    if (new_name != NULL) {
        rc = cf__fsdb_check_name(new_name, err);
        if (rc < 0)
            goto out;
    }
    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    if (kind == CF_FSDB_FOLDER) {
        rc = cf_db_query(c.db, &s, err, sql_folder, "ii", (int64_t)client, (int64_t)id);
        if (rc == 0)
            rc = one_entry(s, folder_row, &e, err);
        cf_db_finalize(s);
        s = NULL;
        if (rc < 0)
            goto out;
        if (e.parent == 0) {
            rc = cf__fsdb_folder_live(c.db, client, id, err);
            if (rc == 0) {
                cf_err_set(err, "the root cannot move");
                rc = CF_EINVAL;
            }
            goto out;
        }
        rc = cf__fsdb_folder_live(c.db, client, id, err);
    } else if (kind == CF_FSDB_FILE) {
        rc = live_file(c.db, client, id, &e, err);
    } else {
        cf_err_set(err, "bad kind %d", (int)kind);
        rc = CF_EINVAL;
    }
    if (rc < 0)
        goto out;
    name = new_name != NULL ? new_name : e.name;
    rc = cf__fsdb_folder_live(c.db, client, new_parent, err);
    if (rc < 0)
        goto out;
    if (kind == CF_FSDB_FOLDER) {
        rc = cf__fsdb_is_within(c.db, client, new_parent, id, err);
        if (rc < 0)
            goto out;
        if (rc > 0) {
            cf_err_set(err, "a folder cannot move into itself or its own subtree");
            rc = CF_EINVAL;
            goto out;
        }
    }
    if (e.parent == new_parent && strcmp(e.name, name) == 0) {
        rc = 0;
        goto out;
    }
    rc = cf__fsdb_name_free(c.db, client, new_parent, name, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, kind == CF_FSDB_FOLDER ? upd_folder : upd_file, "iiti",
                   (int64_t)id, (int64_t)new_parent, name, now);
    if (rc < 0)
        goto out;
    rc = touch_folder(c.db, e.parent, now, err);
    if (rc == 0)
        rc = touch_folder(c.db, new_parent, now, err);
    if (rc == 0)
        rc = cf__fsdb_journal(c.db, client, CF_FSDB_CH_MOVE, kind, new_parent, name, e.parent,
                              e.name, id, kind == CF_FSDB_FILE ? &e : NULL, now, err);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(c.db, err);
    if (rc == 0 || rc == CF_EINDOUBT)
        cf__fsdb_changed(fs);
out:
    cf__fsdb_release(&c);
    return rc;
}

/* ---- files and versions ---------------------------------------------------------- */

/* Add version number num (0: the one after the object's last) of object
 * with put's content and make it current. */
static int add_version(struct cf_db *db, uint64_t object, int64_t num,
                       const struct cf_fsdb_put *put, int64_t now, char *err)
{
    static const char sql_num[] =
        "SELECT coalesce(max(number), 0) + 1 FROM versions WHERE object_id = ?1";
    static const char sql_ins[] = "INSERT INTO versions (id, object_id, number, uuid, size,"
                                  " sha512, created, by_user) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
                                  " ?7, ?8)";
    static const char sql_cur[] =
        "UPDATE objects SET current_version = ?2, modified = ?3 WHERE id = ?1";
    int64_t vid = 0;
    int rc;

    rc = cf__fsdb_new_id(db, &vid, err);
    if (rc < 0)
        goto out;
    if (num == 0)
        rc = cf_db_run(db, &num, 1, err, sql_num, "i", (int64_t)object);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, sql_ins, "iiitibii", vid, (int64_t)object, num, put->uuid,
                   (int64_t)put->size, (const void *)put->sha512, sizeof(put->sha512), now,
                   (int64_t)put->by_user);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, sql_cur, "iii", (int64_t)object, vid, now);
out:
    return rc < 0 ? rc : 0;
}

/* Create file name in folder with put as version 1. Caller checked the name is free. */
static int new_file(struct cf_db *db, uint64_t client, uint64_t folder, const char *name,
                    const struct cf_fsdb_put *put, int64_t now, int64_t *id_out, char *err)
{
    static const char sql[] = "INSERT INTO objects (id, client_id, folder_id, name,"
                              " current_version, created, modified) VALUES (?1, ?2, ?3, ?4, 0,"
                              " ?5, ?5)";
    int64_t id = 0;
    int rc;

    rc = cf__fsdb_new_id(db, &id, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, sql, "iiiti", id, (int64_t)client, (int64_t)folder, name, now);
    if (rc < 0)
        goto out;
    /* The object was made just now: this is its first version. */
    rc = add_version(db, (uint64_t)id, 1, put, now, err);
    if (rc < 0)
        goto out;
    rc = touch_folder(db, folder, now, err);
    *id_out = id;
out:
    return rc;
}

/* cf_fsdb_file_put's change, inside the shard's write transaction
 * (cf__fsdb_group_write). */
struct file_put {
    uint64_t client, folder;
    const char *name;
    const struct cf_fsdb_put *put;
    int64_t now;
    struct cf_fsdb_entry e; /* out */
};

static int file_put_write(struct cf_db *db, void *arg, char *err)
{
    /* What the name is in the folder, in one query: a folder (a count of
     * 1), a file (its id; ids start at 1), or free (0, 0). Both are UNIQUE
     * by (client, parent, name), so each sub-query has one row at most. */
    static const char sql_name[] = "SELECT (SELECT count(*) FROM folders"
                                   " WHERE client_id = ?1 AND parent_id = ?2 AND name = ?3),"
                                   " coalesce((SELECT id FROM objects"
                                   " WHERE client_id = ?1 AND folder_id = ?2 AND name = ?3), 0)";
    struct file_put *f = arg;
    int64_t row[2] = {0, 0}, id = 0;
    int rc;

    rc = cf__fsdb_folder_live(db, f->client, f->folder, err);
    if (rc < 0)
        return rc;
    rc = cf_db_run(db, row, 2, err, sql_name, "iit", (int64_t)f->client, (int64_t)f->folder,
                   f->name);
    if (rc < 0)
        return rc;
    if (row[0] > 0) {
        cf_err_set(err, "\"%s\" is a folder", f->name);
        return CF_EEXIST;
    }
    id = row[1];
    if (id != 0)
        rc = add_version(db, (uint64_t)id, 0, f->put, f->now, err);
    else
        rc = new_file(db, f->client, f->folder, f->name, f->put, f->now, &id, err);
    if (rc < 0)
        return rc;
    rc = cf__fsdb_file_entry(db, f->client, (uint64_t)id, &f->e, err);
    if (rc == 0)
        rc = cf__fsdb_journal(db, f->client, CF_FSDB_CH_PUT, CF_FSDB_FILE, f->folder, f->name, 0,
                              NULL, (uint64_t)id, &f->e, f->now, err);
    return rc < 0 ? rc : 0;
}

int cf_fsdb_file_put(struct cf_fsdb *fs, uint64_t client, uint64_t folder, const char *name,
                     const struct cf_fsdb_put *put, struct cf_fsdb_entry *out, char *err)
{
    struct file_put f;
    int rc;

    rc = cf__fsdb_check_name(name, err);
    if (rc == 0)
        rc = check_uuid(put->uuid, err);
    if (rc == 0 && put->size > (uint64_t)INT64_MAX) {
        cf_err_set(err, "size out of range");
        rc = CF_EINVAL;
    }
    if (rc < 0)
        return rc;
    memset(&f, 0, sizeof(f));
    f.client = client;
    f.folder = folder;
    f.name = name;
    f.put = put;
    f.now = (int64_t)cf_wall_ms();
    /* Under the write lock (uploads made at the same time share one
     * transaction, in turn), so concurrent puts of one name serialise: the
     * second sees the first's file and adds a version. */
    rc = cf__fsdb_group_write(fs, client, file_put_write, &f, err);
    if (rc == 0 || rc == CF_EINDOUBT)
        cf__fsdb_changed(fs);
    if ((rc == 0 || rc == CF_EINDOUBT) && out != NULL)
        *out = f.e;
    return rc;
}

int cf_fsdb_folder_find(struct cf_fsdb *fs, uint64_t client, uint64_t parent, const char *name,
                        uint64_t *id_out, char *err)
{
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    rc = cf__fsdb_check_name(name, err);
    if (rc == 0)
        rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc == 0)
        rc = folder_id_by_name(c.db, client, parent, name, id_out, err);
    cf__fsdb_release(&c);
    return rc;
}

int cf_fsdb_file_get(struct cf_fsdb *fs, uint64_t client, uint64_t folder, const char *name,
                     struct cf_fsdb_entry *out, char *err)
{
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    rc = cf__fsdb_check_name(name, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_folder_live(c.db, client, folder, err);
    if (rc < 0)
        goto out;
    rc = file_by_name(c.db, client, folder, name, out, err);
out:
    cf__fsdb_release(&c);
    return rc;
}

/* A row of the versions queries (id, number, uuid, size, sha512, created,
 * by_user, the file's current version) into x. */
static int version_row(struct cf_db_stmt *s, uint64_t file, struct cf_fsdb_version *x)
{
    int rc;

    memset(x, 0, sizeof(*x));
    x->id = (uint64_t)cf_db_column_int64(s, 0);
    x->file = file;
    x->number = (uint32_t)cf_db_column_int64(s, 1);
    rc = cf_db_column_copy_text(s, 2, x->uuid, sizeof(x->uuid));
    if (rc == 0)
        rc = copy_sha(s, 4, x->sha512);
    x->size = (uint64_t)cf_db_column_int64(s, 3);
    x->created_ms = (uint64_t)cf_db_column_int64(s, 5);
    x->by_user = (uint64_t)cf_db_column_int64(s, 6);
    x->current = cf_db_column_int64(s, 7) == (int64_t)x->id;
    return rc;
}

/* The file of a versions page, for versions_page_query. */
struct versions_after {
    uint64_t client, file;
    uint32_t after_number; /* desc: before this number (0: from the newest) */
    bool all;              /* cf_fsdb_versions: every version, none is no file */
    bool desc;             /* newest first */
};

/* Statement 0 reads the versions; an empty page then checks that the file
 * exists (a file has at least one version, but the page may start past its
 * last), and an empty whole list means there is no file. */
static int versions_page_query(struct cf_db *db, void *arg, int i, size_t got, size_t want,
                               struct cf_db_stmt **s, char *err)
{
    static const char sql[] =
        "SELECT v.id, v.number, v.uuid, v.size, v.sha512, v.created, v.by_user,"
        " o.current_version FROM versions v JOIN objects o ON o.id = v.object_id"
        " WHERE o.client_id = ?1 AND o.id = ?2 AND v.number > ?3 ORDER BY v.number LIMIT ?4";
    static const char sql_desc[] =
        "SELECT v.id, v.number, v.uuid, v.size, v.sha512, v.created, v.by_user,"
        " o.current_version FROM versions v JOIN objects o ON o.id = v.object_id"
        " WHERE o.client_id = ?1 AND o.id = ?2 AND v.number < ?3 ORDER BY v.number DESC"
        " LIMIT ?4";
    static const char sql_file[] = "SELECT id FROM objects WHERE client_id = ?1 AND id = ?2";
    const struct versions_after *a = arg;
    int rc;

    *s = NULL;
    if (i == 0 && a->desc)
        return cf_db_query(db, s, err, sql_desc, "iiii", (int64_t)a->client, (int64_t)a->file,
                           a->after_number == 0 ? INT64_MAX : (int64_t)a->after_number,
                           (int64_t)want);
    if (i == 0)
        return cf_db_query(db, s, err, sql, "iiii", (int64_t)a->client, (int64_t)a->file,
                           (int64_t)a->after_number, (int64_t)want);
    if (got > 0)
        return 0;
    if (a->all) {
        cf_err_set(err, "no such file");
        return CF_ENOTFOUND;
    }
    rc = cf_db_run(db, NULL, 0, err, sql_file, "ii", (int64_t)a->client, (int64_t)a->file);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such file");
        rc = CF_ENOTFOUND;
    }
    return rc < 0 ? rc : 0;
}

static int versions_page_row(struct cf_db_stmt *s, void *arg, int i, void *elem)
{
    const struct versions_after *a = arg;

    (void)i;
    return version_row(s, a->file, elem);
}

int cf_fsdb_versions_page(struct cf_fsdb *fs, uint64_t client, uint64_t file, uint32_t after_number,
                          size_t limit, struct cf_fsdb_version **out, size_t *n, bool *more,
                          char *err)
{
    struct versions_after a = {client, file, after_number, false, false};
    const struct cf__fsdb_page p = {sizeof(**out), "versions", versions_page_query,
                                    versions_page_row, &a};
    void *v = NULL;
    int rc;

    rc = cf__fsdb_page(fs, client, limit, &p, &v, n, more, err);
    *out = v;
    return rc;
}

int cf_fsdb_versions_page_desc(struct cf_fsdb *fs, uint64_t client, uint64_t file,
                               uint32_t before_number, size_t limit, struct cf_fsdb_version **out,
                               size_t *n, bool *more, char *err)
{
    struct versions_after a = {client, file, before_number, false, true};
    const struct cf__fsdb_page p = {sizeof(**out), "versions", versions_page_query,
                                    versions_page_row, &a};
    void *v = NULL;
    int rc;

    rc = cf__fsdb_page(fs, client, limit, &p, &v, n, more, err);
    *out = v;
    return rc;
}

int cf_fsdb_lookup_versions(struct cf_fsdb *fs, uint64_t client, uint64_t user, const char *path,
                            uint32_t after_number, size_t limit, struct cf_fsdb_entry *out,
                            enum cf_fsdb_level *level, struct cf_fsdb_version **v, size_t *n,
                            bool *more, char *err)
{
    struct versions_after a = {client, 0, after_number, false, false};
    const struct cf__fsdb_page p = {sizeof(**v), "versions", versions_page_query, versions_page_row,
                                    &a};
    struct cf__fsdb_conn c = {NULL, NULL};
    void *got = NULL;
    int rc;

    *v = NULL;
    *n = 0;
    *more = false;
    if (limit < 1 || limit > CF_FSDB_LIST_MAX) {
        cf_err_set(err, "a page holds 1 to %d versions", CF_FSDB_LIST_MAX);
        rc = CF_EINVAL;
        goto out;
    }
    rc = cf__fsdb_begin(fs, client, &c, false, err);
    if (rc < 0)
        goto out;
    rc = lookup_access(fs, c.db, client, user, path, false, out, level, err);
    if (rc < 0 || out->kind != CF_FSDB_FILE || *level < CF_FSDB_READ)
        goto out;
    a.file = out->id;
    rc = cf__fsdb_page_on(c.db, limit, &p, &got, n, more, err);
    *v = got;
out:
    cf__fsdb_release(&c);
    return rc;
}

int cf_fsdb_versions(struct cf_fsdb *fs, uint64_t client, uint64_t file,
                     struct cf_fsdb_version **out, size_t *n, char *err)
{
    struct versions_after a = {client, file, 0, true, false};
    const struct cf__fsdb_page p = {sizeof(**out), "versions", versions_page_query,
                                    versions_page_row, &a};
    void *v = NULL;
    bool more;
    int rc;

    rc = cf__fsdb_page(fs, client, CF_FSDB_LIST_MAX, &p, &v, n, &more, err);
    *out = v;
    return rc;
}

int cf_fsdb_version_restore(struct cf_fsdb *fs, uint64_t client, uint64_t file, uint64_t version,
                            uint64_t by_user, struct cf_fsdb_entry *out, char *err)
{
    static const char sql[] =
        "SELECT uuid, size, sha512 FROM versions WHERE id = ?1 AND object_id = ?2";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_db_stmt *s = NULL;
    struct cf_fsdb_entry e;
    struct cf_fsdb_put put;
    int rc;

    memset(&put, 0, sizeof(put));
    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    rc = live_file(c.db, client, file, &e, err);
    if (rc < 0)
        goto out;
    rc = cf_db_query(c.db, &s, err, sql, "ii", (int64_t)version, (int64_t)file);
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no version %llu of this file", (unsigned long long)version);
        rc = CF_ENOTFOUND;
    }
    if (rc < 0)
        goto out;
    rc = cf_db_column_copy_text(s, 0, put.uuid, sizeof(put.uuid));
    if (rc == 0)
        rc = copy_sha(s, 2, put.sha512);
    if (rc < 0)
        goto out;
    put.size = (uint64_t)cf_db_column_int64(s, 1);
    put.by_user = by_user;
    cf_db_finalize(s);
    s = NULL;
    rc = add_version(c.db, file, 0, &put, (int64_t)cf_wall_ms(), err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_file_entry(c.db, client, file, &e, err);
    if (rc == 0)
        rc = cf__fsdb_journal(c.db, client, CF_FSDB_CH_PUT, CF_FSDB_FILE, e.parent, e.name, 0, NULL,
                              file, &e, (int64_t)cf_wall_ms(), err);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(c.db, err);
    if (rc == 0 || rc == CF_EINDOUBT)
        cf__fsdb_changed(fs);
    if (rc == 0 && out != NULL)
        *out = e;
out:
    cf_db_finalize(s);
    cf__fsdb_release(&c);
    return rc;
}

int cf_fsdb_version_at(struct cf_fsdb *fs, uint64_t client, uint64_t folder, const char *name,
                       uint64_t version, struct cf_fsdb_version *out, bool *trashed, char *err)
{
    /* The file lives at (folder, name), or was trashed from there. */
    static const char sql[] =
        "SELECT v.id, v.number, v.uuid, v.size, v.sha512, v.created, v.by_user,"
        " o.current_version, o.id, o.folder_id FROM versions v JOIN objects o"
        " ON o.id = v.object_id WHERE o.client_id = ?1 AND v.id = ?2 AND ((o.folder_id = ?3"
        " AND o.name = ?4) OR (o.folder_id IS NULL AND EXISTS (SELECT 1 FROM trash t"
        " WHERE t.client_id = ?1 AND t.kind = 1 AND t.item_id = o.id AND t.orig_parent = ?3"
        " AND t.orig_name = ?4)))";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_db_stmt *s = NULL;
    int rc;

    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc < 0)
        goto out;
    rc = cf_db_query(c.db, &s, err, sql, "iiit", (int64_t)client, (int64_t)version, (int64_t)folder,
                     name);
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no version %llu of this file", (unsigned long long)version);
        rc = CF_ENOTFOUND;
    }
    if (rc < 0)
        goto out;
    rc = version_row(s, (uint64_t)cf_db_column_int64(s, 8), out);
    if (trashed != NULL)
        *trashed = cf_db_column_int64(s, 9) == 0;
out:
    cf_db_finalize(s);
    cf__fsdb_release(&c);
    return rc;
}

int cf_fsdb_version_remove(struct cf_fsdb *fs, uint64_t client, uint64_t version,
                           struct cf_fsdb_uuid *gone, bool *file_gone, char *err)
{
    static const char sel[] = "SELECT v.object_id, v.number, o.current_version FROM versions v"
                              " JOIN objects o ON o.id = v.object_id"
                              " WHERE o.client_id = ?1 AND v.id = ?2";
    static const char uuid_sql[] = "SELECT uuid FROM versions WHERE id = ?1";
    static const char count[] = "SELECT count(*) FROM versions WHERE object_id = ?1";
    static const char del_attrs[] = "DELETE FROM s3_attrs WHERE file_id = ?1 AND version = ?2";
    /* A later version may get this number again: nothing of this one stays. */
    static const char del_sizes[] = "DELETE FROM s3_part_sizes WHERE file_id = ?1 AND version = ?2";
    static const char del_version[] = "DELETE FROM versions WHERE id = ?1";
    static const char del_trash[] = "DELETE FROM trash WHERE client_id = ?1 AND kind = 1"
                                    " AND item_id = ?2";
    static const char del_object[] = "DELETE FROM objects WHERE id = ?1";
    static const char new_current[] =
        "UPDATE objects SET current_version = (SELECT id FROM versions WHERE object_id = ?1"
        " ORDER BY number DESC LIMIT 1), modified = ?2 WHERE id = ?1";
    /* Shard-wide, as cf_fsdb_trash_empty counts (trash.c, BATCH_UNUSED). */
    static const char refs[] = "SELECT count(*) FROM versions WHERE uuid = ?1";
    static const char pending[] = "INSERT INTO pending_release (client_id, uuid, since)"
                                  " VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_db_stmt *s = NULL;
    char uuid[CF_FSDB_UUID_LEN + 1] = "";
    int64_t row[3] = {0, 0, 0}, n = 0;
    struct cf_fsdb_entry e;
    bool live = false, journaled = false;
    int rc;

    gone->text[0] = '\0';
    *file_gone = false;
    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, row, 3, err, sel, "ii", (int64_t)client, (int64_t)version);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no version %llu", (unsigned long long)version);
        rc = CF_ENOTFOUND;
    }
    if (rc < 0)
        goto out;
    rc = cf_db_query(c.db, &s, err, uuid_sql, "i", (int64_t)version);
    if (rc == 0)
        rc = cf_db_step(s, err);
    if (rc == CF_DB_ROW)
        rc = cf_db_column_copy_text(s, 0, uuid, sizeof(uuid));
    else if (rc == CF_DB_DONE)
        rc = CF_ECORRUPT;
    cf_db_finalize(s);
    s = NULL;
    if (rc == 0)
        rc = cf_db_run(c.db, &n, 1, err, count, "i", row[0]);
    if (rc < 0)
        goto out;
    /* A live file whose current version changes or which goes is journaled. */
    rc = live_file(c.db, client, (uint64_t)row[0], &e, err);
    if (rc < 0 && rc != CF_ENOTFOUND)
        goto out;
    live = rc == 0;
    rc = cf_db_run(c.db, NULL, 0, err, del_attrs, "ii", row[0], row[1]);
    if (rc >= 0)
        rc = cf_db_run(c.db, NULL, 0, err, del_sizes, "ii", row[0], row[1]);
    if (rc >= 0)
        rc = cf_db_run(c.db, NULL, 0, err, del_version, "i", (int64_t)version);
    if (rc >= 0 && n <= 1) {
        /* The file's only version: the file goes, and its trash entry if any. */
        rc = cf_db_run(c.db, NULL, 0, err, del_trash, "ii", (int64_t)client, row[0]);
        if (rc >= 0)
            rc = cf_db_run(c.db, NULL, 0, err, del_object, "i", row[0]);
        if (rc >= 0 && live) {
            rc = cf__fsdb_journal(c.db, client, CF_FSDB_CH_DELETE, CF_FSDB_FILE, e.parent, e.name,
                                  0, NULL, (uint64_t)row[0], NULL, (int64_t)cf_wall_ms(), err);
            journaled = true;
        }
        *file_gone = true;
    } else if (rc >= 0 && row[2] == (int64_t)version) {
        rc = cf_db_run(c.db, NULL, 0, err, new_current, "ii", row[0], (int64_t)cf_wall_ms());
        if (rc >= 0 && live) {
            rc = cf__fsdb_file_entry(c.db, client, (uint64_t)row[0], &e, err);
            if (rc >= 0)
                rc = cf__fsdb_journal(c.db, client, CF_FSDB_CH_PUT, CF_FSDB_FILE, e.parent, e.name,
                                      0, NULL, (uint64_t)row[0], &e, (int64_t)cf_wall_ms(), err);
            journaled = true;
        }
    }
    if (rc >= 0)
        rc = cf_db_run(c.db, &n, 1, err, refs, "t", uuid);
    if (rc < 0)
        goto out;
    /* DESIGN §4: an object nothing names is recorded in the same transaction. */
    if (n == 0) {
        rc = cf_db_run(c.db, NULL, 0, err, pending, "iti", (int64_t)client, uuid,
                       (int64_t)cf_wall_ms());
        if (rc < 0)
            goto out;
    }
    rc = cf_db_commit(c.db, err);
    if ((rc == 0 || rc == CF_EINDOUBT) && journaled)
        cf__fsdb_changed(fs);
    if (rc == 0 && n == 0)
        memcpy(gone->text, uuid, sizeof(gone->text));
out:
    if (rc < 0)
        *file_gone = false;
    cf_db_finalize(s);
    cf__fsdb_release(&c);
    return rc;
}

int cf_fsdb_file_copy(struct cf_fsdb *fs, uint64_t client, uint64_t file, uint64_t dst_folder,
                      const char *dst_name, uint64_t by_user, struct cf_fsdb_entry *out, char *err)
{
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_fsdb_entry e;
    struct cf_fsdb_put put;
    int64_t now = (int64_t)cf_wall_ms(), id = 0;
    int rc;

    rc = cf__fsdb_check_name(dst_name, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    rc = live_file(c.db, client, file, &e, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_folder_live(c.db, client, dst_folder, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_name_free(c.db, client, dst_folder, dst_name, err);
    if (rc < 0)
        goto out;
    memset(&put, 0, sizeof(put));
    memcpy(put.uuid, e.uuid, sizeof(put.uuid));
    put.size = e.size;
    memcpy(put.sha512, e.sha512, sizeof(put.sha512));
    put.by_user = by_user;
    rc = new_file(c.db, client, dst_folder, dst_name, &put, now, &id, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_file_entry(c.db, client, (uint64_t)id, &e, err);
    if (rc == 0)
        rc = cf__fsdb_journal(c.db, client, CF_FSDB_CH_PUT, CF_FSDB_FILE, dst_folder, dst_name, 0,
                              NULL, (uint64_t)id, &e, now, err);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(c.db, err);
    if (rc == 0 || rc == CF_EINDOUBT)
        cf__fsdb_changed(fs);
    if (rc == 0 && out != NULL)
        *out = e;
out:
    cf__fsdb_release(&c);
    return rc;
}

int cf_fsdb_uuid_refs(struct cf_fsdb *fs, uint64_t client, const char *uuid, uint64_t *count,
                      char *err)
{
    static const char sql[] = "SELECT count(*) FROM versions v JOIN objects o"
                              " ON o.id = v.object_id WHERE o.client_id = ?1 AND v.uuid = ?2";
    struct cf__fsdb_conn c = {NULL, NULL};
    int64_t n = 0;
    int rc;

    rc = check_uuid(uuid, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, &n, 1, err, sql, "it", (int64_t)client, uuid);
    if (rc < 0)
        goto out;
    *count = (uint64_t)n;
    rc = 0;
out:
    cf__fsdb_release(&c);
    return rc;
}
