/*
 * users.c -- users, groups, group members and folder permissions of the
 * file system database (fsdb.h).
 */
#include "fsdb_int.h"

#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/log.h"

/* Walk from a folder up to the root, nearest first. ?1 client, ?2 folder.
 * The depth bound only keeps a damaged (cyclic) tree from looping: moves
 * refuse cycles, so a real tree never reaches it. */
#define UP_CTE                                                                                     \
    "WITH RECURSIVE up (id, parent_id, is_root, depth) AS ("                                       \
    " SELECT id, parent_id, is_root, 0 FROM folders WHERE id = ?2 AND client_id = ?1"              \
    " UNION ALL SELECT f.id, f.parent_id, f.is_root, up.depth + 1 FROM folders f"                  \
    " JOIN up ON f.id = up.parent_id WHERE up.depth < 100000) "

/* The group g (an alias of usergroups) is not in the groups trash. */
#define LIVE_GROUP " NOT EXISTS (SELECT 1 FROM group_trash t WHERE t.group_id = g.id)"

/* Printable ASCII: hashes are stored and compared as text (PHC strings). */
static int check_hash(const char *h, char *err)
{
    size_t len;

    if (h == NULL) {
        cf_err_set(err, "no password hash");
        return CF_EINVAL;
    }
    len = strnlen(h, CF_FSDB_HASH_MAX + 1);
    if (len == 0 || len > CF_FSDB_HASH_MAX) {
        cf_err_set(err, "a password hash has 1 to %d bytes", CF_FSDB_HASH_MAX);
        return CF_EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (h[i] < 0x21 || h[i] > 0x7e) {
            cf_err_set(err, "a password hash is printable ASCII");
            return CF_EINVAL;
        }
    }
    return 0;
}

/* Insert a user (pw_hash non-NULL) or a group of client named name. */
static int principal_add(struct cf_fsdb *fs, uint64_t client, const char *name, const char *pw_hash,
                         bool admin, uint64_t *id_out, char *err)
{
    static const char sql_user[] = "INSERT INTO users (id, client_id, name, pw_hash, admin,"
                                   " disabled, created) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)";
    static const char sql_group[] = "INSERT INTO usergroups (id, client_id, name, created)"
                                    " VALUES (?1, ?2, ?3, ?4)";
    struct cf__fsdb_conn c = {NULL, NULL};
    int64_t id = 0, now = (int64_t)cf_wall_ms();
    int rc;

    rc = cf__fsdb_check_name(name, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_new_id(c.db, &id, err);
    if (rc < 0)
        goto out;
    if (pw_hash != NULL)
        rc = cf_db_run(c.db, NULL, 0, err, sql_user, "iittii", id, (int64_t)client, name, pw_hash,
                       (int64_t)admin, now);
    else
        rc = cf_db_run(c.db, NULL, 0, err, sql_group, "iiti", id, (int64_t)client, name, now);
    if (rc == CF_EEXIST)
        cf_err_set(err, "%s \"%s\" exists%s", pw_hash != NULL ? "user" : "group", name,
                   pw_hash != NULL ? "" : " (perhaps in the groups trash)");
    if (rc < 0)
        goto out;
    rc = cf_db_commit(c.db, err);
    if (rc < 0)
        goto out;
    if (id_out != NULL)
        *id_out = (uint64_t)id;
out:
    cf__fsdb_release(&c);
    return rc;
}

int cf_fsdb_user_add(struct cf_fsdb *fs, uint64_t client, const char *name, const char *pw_hash,
                     bool admin, uint64_t *id_out, char *err)
{
    int rc = check_hash(pw_hash, err);

    if (rc < 0)
        return rc;
    return principal_add(fs, client, name, pw_hash, admin, id_out, err);
}

int cf_fsdb_group_add(struct cf_fsdb *fs, uint64_t client, const char *name, uint64_t *id_out,
                      char *err)
{
    return principal_add(fs, client, name, NULL, false, id_out, err);
}

int cf_fsdb_group_find(struct cf_fsdb *fs, uint64_t client, const char *name, uint64_t *id_out,
                       char *err)
{
    static const char sql[] = "SELECT id FROM usergroups g WHERE client_id = ?1 AND name = ?2"
                              " AND" LIVE_GROUP;
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_db_stmt *s = NULL;
    int rc;

    rc = cf__fsdb_check_name(name, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc < 0)
        goto out;
    rc = cf_db_query(c.db, &s, err, sql, "it", (int64_t)client, name);
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc < 0)
        goto out;
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such group");
        rc = CF_ENOTFOUND;
        goto out;
    }
    *id_out = (uint64_t)cf_db_column_int64(s, 0);
    rc = 0;
out:
    cf_db_finalize(s);
    cf__fsdb_release(&c);
    return rc;
}

static int user_row(struct cf_db_stmt *s, struct cf_fsdb_user *u)
{
    int rc;

    memset(u, 0, sizeof(*u));
    u->id = (uint64_t)cf_db_column_int64(s, 0);
    rc = cf_db_column_copy_text(s, 1, u->name, sizeof(u->name));
    if (rc == 0)
        rc = cf_db_column_copy_text(s, 2, u->pw_hash, sizeof(u->pw_hash));
    u->admin = cf_db_column_int64(s, 3) != 0;
    u->disabled = cf_db_column_int64(s, 4) != 0;
    u->created_ms = (uint64_t)cf_db_column_int64(s, 5);
    return rc;
}

int cf_fsdb_user_get(struct cf_fsdb *fs, uint64_t client, const char *name,
                     struct cf_fsdb_user *out, char *err)
{
    static const char sql[] = "SELECT id, name, pw_hash, admin, disabled, created FROM users"
                              " WHERE client_id = ?1 AND name = ?2";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_db_stmt *s = NULL;
    int rc;

    rc = cf__fsdb_check_name(name, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc < 0)
        goto out;
    rc = cf_db_query(c.db, &s, err, sql, "it", (int64_t)client, name);
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc < 0)
        goto out;
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such user");
        rc = CF_ENOTFOUND;
        goto out;
    }
    rc = user_row(s, out);
out:
    cf_db_finalize(s);
    cf__fsdb_release(&c);
    return rc;
}

static int user_list_query(struct cf_db *db, void *arg, int i, size_t got, size_t want,
                           struct cf_db_stmt **s, char *err)
{
    static const char sql[] = "SELECT id, name, pw_hash, admin, disabled, created FROM users"
                              " WHERE client_id = ?1 ORDER BY id";
    const uint64_t *client = arg;

    (void)got;
    (void)want;
    *s = NULL;
    return i > 0 ? 0 : cf_db_query(db, s, err, sql, "i", (int64_t)*client);
}

static int user_list_row(struct cf_db_stmt *s, void *arg, int i, void *elem)
{
    (void)arg;
    (void)i;
    return user_row(s, elem);
}

int cf_fsdb_user_list(struct cf_fsdb *fs, uint64_t client, struct cf_fsdb_user **out, size_t *n,
                      char *err)
{
    const struct cf__fsdb_page p = {sizeof(**out), "users", user_list_query, user_list_row,
                                    &client};
    void *v = NULL;
    bool more;
    int rc;

    rc = cf__fsdb_page(fs, client, CF_FSDB_LIST_MAX, &p, &v, n, &more, err);
    *out = v;
    return rc;
}

int cf_fsdb_user_set_disabled(struct cf_fsdb *fs, uint64_t client, uint64_t user, bool disabled,
                              char *err)
{
    static const char sql[] = "UPDATE users SET disabled = ?3 WHERE client_id = ?1 AND id = ?2"
                              " RETURNING id";
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, sql, "iii", (int64_t)client, (int64_t)user,
                   (int64_t)disabled);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such user");
        rc = CF_ENOTFOUND;
    }
out:
    cf__fsdb_release(&c);
    return rc < 0 ? rc : 0;
}

int cf_fsdb_user_set_password(struct cf_fsdb *fs, uint64_t client, uint64_t user,
                              const char *pw_hash, char *err)
{
    static const char sql[] = "UPDATE users SET pw_hash = ?3 WHERE client_id = ?1 AND id = ?2"
                              " RETURNING id";
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc = check_hash(pw_hash, err);

    if (rc < 0)
        return rc;
    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, sql, "iit", (int64_t)client, (int64_t)user, pw_hash);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such user");
        rc = CF_ENOTFOUND;
    }
out:
    cf__fsdb_release(&c);
    return rc < 0 ? rc : 0;
}

/* Both the group and the user are client's. Returns 0 or CF_ENOTFOUND. */
static int check_member(struct cf_db *db, uint64_t client, uint64_t group, uint64_t user, char *err)
{
    static const char sql[] = "SELECT count(*) FROM usergroups g, users u WHERE g.client_id = ?1"
                              " AND g.id = ?2 AND u.client_id = ?1 AND u.id = ?3 AND" LIVE_GROUP;
    int64_t n = 0;
    int rc;

    rc = cf_db_run(db, &n, 1, err, sql, "iii", (int64_t)client, (int64_t)group, (int64_t)user);
    if (rc >= 0 && n != 1) {
        cf_err_set(err, "no such group or user");
        rc = CF_ENOTFOUND;
    }
    return rc < 0 ? rc : 0;
}

static int member_change(struct cf_fsdb *fs, uint64_t client, uint64_t group, uint64_t user,
                         bool add, char *err)
{
    static const char sql_add[] = "INSERT INTO group_members (group_id, user_id) VALUES (?1, ?2)"
                                  " ON CONFLICT DO NOTHING";
    static const char sql_del[] = "DELETE FROM group_members WHERE group_id = ?1 AND user_id = ?2";
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    rc = check_member(c.db, client, group, user, err);
    if (rc < 0)
        goto out;
    rc =
        cf_db_run(c.db, NULL, 0, err, add ? sql_add : sql_del, "ii", (int64_t)group, (int64_t)user);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(c.db, err);
out:
    cf__fsdb_release(&c);
    return rc;
}

int cf_fsdb_group_member_add(struct cf_fsdb *fs, uint64_t client, uint64_t group, uint64_t user,
                             char *err)
{
    return member_change(fs, client, group, user, true, err);
}

int cf_fsdb_group_member_remove(struct cf_fsdb *fs, uint64_t client, uint64_t group, uint64_t user,
                                char *err)
{
    return member_change(fs, client, group, user, false, err);
}

/* Is user client's? Returns 0 or CF_ENOTFOUND; admin/disabled to the flags
 * (may be NULL). */
static int user_flags(struct cf_db *db, uint64_t client, uint64_t user, bool *admin, bool *disabled,
                      char *err)
{
    static const char sql[] = "SELECT admin, disabled FROM users WHERE client_id = ?1 AND id = ?2";
    int64_t v[2] = {0, 0};
    int rc;

    rc = cf_db_run(db, v, 2, err, sql, "ii", (int64_t)client, (int64_t)user);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such user");
        rc = CF_ENOTFOUND;
    }
    if (admin != NULL)
        *admin = v[0] != 0;
    if (disabled != NULL)
        *disabled = v[1] != 0;
    return rc < 0 ? rc : 0;
}

/* The client and the user or folder of a listing (user_groups_query,
 * perm_list_query). */
struct of_item {
    uint64_t client, id;
};

/* The user's groups, once the user is known to exist. */
static int user_groups_query(struct cf_db *db, void *arg, int i, size_t got, size_t want,
                             struct cf_db_stmt **s, char *err)
{
    static const char sql[] = "SELECT g.id, g.name FROM group_members m JOIN usergroups g"
                              " ON g.id = m.group_id WHERE m.user_id = ?2 AND g.client_id = ?1"
                              " AND" LIVE_GROUP " ORDER BY g.id";
    const struct of_item *a = arg;
    int rc;

    (void)got;
    (void)want;
    *s = NULL;
    if (i > 0)
        return 0;
    rc = user_flags(db, a->client, a->id, NULL, NULL, err);
    if (rc == 0)
        rc = cf_db_query(db, s, err, sql, "ii", (int64_t)a->client, (int64_t)a->id);
    return rc;
}

static int group_row(struct cf_db_stmt *s, void *arg, int i, void *elem)
{
    struct cf_fsdb_group *g = elem;

    (void)arg;
    (void)i;
    g->id = (uint64_t)cf_db_column_int64(s, 0);
    return cf_db_column_copy_text(s, 1, g->name, sizeof(g->name));
}

int cf_fsdb_user_groups(struct cf_fsdb *fs, uint64_t client, uint64_t user,
                        struct cf_fsdb_group **out, size_t *n, char *err)
{
    struct of_item a = {client, user};
    const struct cf__fsdb_page p = {sizeof(**out), "groups", user_groups_query, group_row, &a};
    void *v = NULL;
    bool more;
    int rc;

    rc = cf__fsdb_page(fs, client, CF_FSDB_LIST_MAX, &p, &v, n, &more, err);
    *out = v;
    return rc;
}

/* ---- the groups trash --------------------------------------------------------- */

static int group_list_query(struct cf_db *db, void *arg, int i, size_t got, size_t want,
                            struct cf_db_stmt **s, char *err)
{
    static const char sql[] = "SELECT g.id, g.name FROM usergroups g WHERE g.client_id = ?1"
                              " AND" LIVE_GROUP " ORDER BY g.id";
    const uint64_t *client = arg;

    (void)got;
    (void)want;
    *s = NULL;
    return i > 0 ? 0 : cf_db_query(db, s, err, sql, "i", (int64_t)*client);
}

int cf_fsdb_group_list(struct cf_fsdb *fs, uint64_t client, struct cf_fsdb_group **out, size_t *n,
                       char *err)
{
    const struct cf__fsdb_page p = {sizeof(**out), "groups", group_list_query, group_row, &client};
    void *v = NULL;
    bool more;
    int rc;

    rc = cf__fsdb_page(fs, client, CF_FSDB_LIST_MAX, &p, &v, n, &more, err);
    *out = v;
    return rc;
}

int cf_fsdb_group_delete(struct cf_fsdb *fs, uint64_t client, uint64_t group, uint64_t by_user,
                         char *err)
{
    static const char sql_live[] = "SELECT count(*) FROM usergroups g"
                                   " WHERE client_id = ?1 AND id = ?2 AND" LIVE_GROUP;
    static const char sql_add[] = "INSERT INTO group_trash (group_id, client_id, deleted, by_user)"
                                  " VALUES (?1, ?2, ?3, ?4)";
    struct cf__fsdb_conn c = {NULL, NULL};
    int64_t n = 0;
    int rc;

    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, &n, 1, err, sql_live, "ii", (int64_t)client, (int64_t)group);
    if (rc >= 0 && n != 1) {
        cf_err_set(err, "no such group");
        rc = CF_ENOTFOUND;
    }
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, sql_add, "iiii", (int64_t)group, (int64_t)client,
                   (int64_t)cf_wall_ms(), (int64_t)by_user);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(c.db, err);
out:
    cf__fsdb_release(&c);
    return rc < 0 ? rc : 0;
}

static int group_trash_query(struct cf_db *db, void *arg, int i, size_t got, size_t want,
                             struct cf_db_stmt **s, char *err)
{
    static const char sql[] = "SELECT g.id, g.name, t.deleted, t.by_user FROM group_trash t"
                              " JOIN usergroups g ON g.id = t.group_id"
                              " WHERE t.client_id = ?1 AND g.client_id = ?1 ORDER BY g.id";
    const uint64_t *client = arg;

    (void)got;
    (void)want;
    *s = NULL;
    return i > 0 ? 0 : cf_db_query(db, s, err, sql, "i", (int64_t)*client);
}

static int group_trash_row(struct cf_db_stmt *s, void *arg, int i, void *elem)
{
    struct cf_fsdb_group_trash *g = elem;

    (void)arg;
    (void)i;
    g->id = (uint64_t)cf_db_column_int64(s, 0);
    g->deleted_ms = (uint64_t)cf_db_column_int64(s, 2);
    g->by_user = (uint64_t)cf_db_column_int64(s, 3);
    return cf_db_column_copy_text(s, 1, g->name, sizeof(g->name));
}

int cf_fsdb_group_trash_list(struct cf_fsdb *fs, uint64_t client, struct cf_fsdb_group_trash **out,
                             size_t *n, char *err)
{
    const struct cf__fsdb_page p = {sizeof(**out), "deleted groups", group_trash_query,
                                    group_trash_row, &client};
    void *v = NULL;
    bool more;
    int rc;

    rc = cf__fsdb_page(fs, client, CF_FSDB_LIST_MAX, &p, &v, n, &more, err);
    *out = v;
    return rc;
}

int cf_fsdb_group_restore(struct cf_fsdb *fs, uint64_t client, uint64_t group, char *err)
{
    static const char sql[] = "DELETE FROM group_trash WHERE client_id = ?1 AND group_id = ?2"
                              " RETURNING group_id";
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, sql, "ii", (int64_t)client, (int64_t)group);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no such group in the groups trash");
        rc = CF_ENOTFOUND;
    }
out:
    cf__fsdb_release(&c);
    return rc < 0 ? rc : 0;
}

int cf_fsdb_group_purge(struct cf_fsdb *fs, uint64_t client, uint64_t group, char *err)
{
    /* Ids come from one counter per shard, so principal_id with kind 1
     * names this group only. */
    static const char *const sql[] = {
        "DELETE FROM group_members WHERE group_id = ?1",
        "DELETE FROM folder_perms WHERE kind = 1 AND principal_id = ?1",
        "DELETE FROM group_trash WHERE group_id = ?1",
        "DELETE FROM usergroups WHERE id = ?1",
    };
    static const char sql_in[] = "SELECT count(*) FROM group_trash"
                                 " WHERE client_id = ?1 AND group_id = ?2";
    struct cf__fsdb_conn c = {NULL, NULL};
    int64_t n = 0;
    int rc;

    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, &n, 1, err, sql_in, "ii", (int64_t)client, (int64_t)group);
    if (rc >= 0 && n != 1) {
        cf_err_set(err, "no such group in the groups trash");
        rc = CF_ENOTFOUND;
    }
    for (size_t i = 0; rc >= 0 && i < sizeof(sql) / sizeof(sql[0]); i++)
        rc = cf_db_run(c.db, NULL, 0, err, sql[i], "i", (int64_t)group);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(c.db, err);
out:
    cf__fsdb_release(&c);
    return rc < 0 ? rc : 0;
}

/* ---- permissions ------------------------------------------------------------- */

int cf__fsdb_folder_live(struct cf_db *db, uint64_t client, uint64_t folder, char *err)
{
    static const char sql[] = UP_CTE "SELECT count(*) FROM up WHERE is_root = 1";
    int64_t n = 0;
    int rc;

    rc = cf_db_run(db, &n, 1, err, sql, "ii", (int64_t)client, (int64_t)folder);
    if (rc >= 0 && n != 1) {
        cf_err_set(err, "no such folder");
        rc = CF_ENOTFOUND;
    }
    return rc < 0 ? rc : 0;
}

int cf__fsdb_is_within(struct cf_db *db, uint64_t client, uint64_t folder, uint64_t ancestor,
                       char *err)
{
    static const char sql[] = UP_CTE "SELECT count(*) FROM up WHERE id = ?3";
    int64_t n = 0;
    int rc;

    rc = cf_db_run(db, &n, 1, err, sql, "iii", (int64_t)client, (int64_t)folder, (int64_t)ancestor);
    return rc < 0 ? rc : n > 0;
}

static int check_principal(struct cf_db *db, uint64_t client, enum cf_fsdb_principal kind,
                           uint64_t principal, char *err)
{
    static const char sql_group[] = "SELECT count(*) FROM usergroups g"
                                    " WHERE client_id = ?1 AND id = ?2 AND" LIVE_GROUP;
    int64_t n = 0;
    int rc;

    if (kind == CF_FSDB_USER)
        return user_flags(db, client, principal, NULL, NULL, err);
    if (kind != CF_FSDB_GROUP) {
        cf_err_set(err, "bad principal kind %d", (int)kind);
        return CF_EINVAL;
    }
    rc = cf_db_run(db, &n, 1, err, sql_group, "ii", (int64_t)client, (int64_t)principal);
    if (rc >= 0 && n != 1) {
        cf_err_set(err, "no such group");
        rc = CF_ENOTFOUND;
    }
    return rc < 0 ? rc : 0;
}

/* level < 0 removes the entry. */
static int perm_change(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                       enum cf_fsdb_principal kind, uint64_t principal, int level, char *err)
{
    static const char sql_set[] =
        "INSERT INTO folder_perms (folder_id, kind, principal_id, level) VALUES (?1, ?2, ?3, ?4)"
        " ON CONFLICT (folder_id, kind, principal_id) DO UPDATE SET level = excluded.level";
    static const char sql_del[] =
        "DELETE FROM folder_perms WHERE folder_id = ?1 AND kind = ?2 AND principal_id = ?3";
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    if (level > CF_FSDB_READ_WRITE || (kind != CF_FSDB_USER && kind != CF_FSDB_GROUP)) {
        cf_err_set(err, "bad permission kind %d or level %d", (int)kind, level);
        rc = CF_EINVAL;
        goto out;
    }
    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    rc = cf__fsdb_folder_live(c.db, client, folder, err);
    if (rc < 0)
        goto out;
    if (level >= 0) {
        rc = check_principal(c.db, client, kind, principal, err);
        if (rc < 0)
            goto out;
        rc = cf_db_run(c.db, NULL, 0, err, sql_set, "iiii", (int64_t)folder, (int64_t)kind,
                       (int64_t)principal, (int64_t)level);
    } else {
        rc = cf_db_run(c.db, NULL, 0, err, sql_del, "iii", (int64_t)folder, (int64_t)kind,
                       (int64_t)principal);
    }
    if (rc < 0)
        goto out;
    rc = cf_db_commit(c.db, err);
out:
    cf__fsdb_release(&c);
    return rc;
}

int cf_fsdb_perm_set(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                     enum cf_fsdb_principal kind, uint64_t principal, enum cf_fsdb_level level,
                     char *err)
{
    if ((int)level < CF_FSDB_NONE || (int)level > CF_FSDB_READ_WRITE) {
        cf_err_set(err, "bad permission level %d", (int)level);
        return CF_EINVAL;
    }
    return perm_change(fs, client, folder, kind, principal, (int)level, err);
}

int cf_fsdb_perm_remove(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                        enum cf_fsdb_principal kind, uint64_t principal, char *err)
{
    return perm_change(fs, client, folder, kind, principal, -1, err);
}

/* The folder's permissions, once the folder is known to be live. */
static int perm_list_query(struct cf_db *db, void *arg, int i, size_t got, size_t want,
                           struct cf_db_stmt **s, char *err)
{
    static const char sql[] = "SELECT kind, principal_id, level FROM folder_perms"
                              " WHERE folder_id = ?1 AND NOT (kind = 1 AND principal_id IN"
                              " (SELECT group_id FROM group_trash)) ORDER BY kind, principal_id";
    const struct of_item *a = arg;
    int rc;

    (void)got;
    (void)want;
    *s = NULL;
    if (i > 0)
        return 0;
    rc = cf__fsdb_folder_live(db, a->client, a->id, err);
    if (rc == 0)
        rc = cf_db_query(db, s, err, sql, "i", (int64_t)a->id);
    return rc;
}

static int perm_row(struct cf_db_stmt *s, void *arg, int i, void *elem)
{
    struct cf_fsdb_perm *x = elem;

    (void)arg;
    (void)i;
    x->kind = cf_db_column_int64(s, 0) == 0 ? CF_FSDB_USER : CF_FSDB_GROUP;
    x->principal = (uint64_t)cf_db_column_int64(s, 1);
    x->level = (enum cf_fsdb_level)cf_db_column_int64(s, 2);
    return 0;
}

int cf_fsdb_perm_list(struct cf_fsdb *fs, uint64_t client, uint64_t folder,
                      struct cf_fsdb_perm **out, size_t *n, char *err)
{
    struct of_item a = {client, folder};
    const struct cf__fsdb_page p = {sizeof(**out), "permissions", perm_list_query, perm_row, &a};
    void *v = NULL;
    bool more;
    int rc;

    rc = cf__fsdb_page(fs, client, CF_FSDB_LIST_MAX, &p, &v, n, &more, err);
    *out = v;
    return rc;
}

int cf__fsdb_perm_level_live(struct cf_db *db, uint64_t client, uint64_t user, uint64_t folder,
                             enum cf_fsdb_level *out, char *err)
{
    /* The first row decides: nearest folder, then the user's own entry (kind
     * 0) before group entries, then the highest level (fsdb.h "Permissions"). */
    static const char sql[] =
        UP_CTE "SELECT p.level FROM up JOIN folder_perms p ON p.folder_id = up.id"
               " WHERE (p.kind = 0 AND p.principal_id = ?3) OR (p.kind = 1 AND p.principal_id IN"
               " (SELECT group_id FROM group_members WHERE user_id = ?3"
               " AND group_id NOT IN (SELECT group_id FROM group_trash)))"
               " ORDER BY up.depth, p.kind, p.level DESC LIMIT 1";
    bool admin = false, disabled = false;
    int64_t level = CF_FSDB_NONE;
    int rc;

    rc = user_flags(db, client, user, &admin, &disabled, err);
    if (rc < 0)
        goto out;
    if (disabled) {
        level = CF_FSDB_NONE;
    } else if (admin) {
        level = CF_FSDB_READ_WRITE;
    } else {
        rc = cf_db_run(db, &level, 1, err, sql, "iii", (int64_t)client, (int64_t)folder,
                       (int64_t)user);
        if (rc < 0)
            goto out;
        if (rc == CF_DB_DONE)
            level = CF_FSDB_NONE;
    }
    if (level < CF_FSDB_NONE || level > CF_FSDB_READ_WRITE) {
        rc = CF_ECORRUPT;
        goto out;
    }
    *out = (enum cf_fsdb_level)level;
    rc = 0;
out:
    return rc;
}

int cf__fsdb_perm_level(struct cf_db *db, uint64_t client, uint64_t user, uint64_t folder,
                        enum cf_fsdb_level *out, char *err)
{
    int rc = cf__fsdb_folder_live(db, client, folder, err);

    if (rc == 0)
        rc = cf__fsdb_perm_level_live(db, client, user, folder, out, err);
    return rc;
}

int cf_fsdb_perm_effective(struct cf_fsdb *fs, uint64_t client, uint64_t user, uint64_t folder,
                           enum cf_fsdb_level *out, char *err)
{
    struct cf__fsdb_conn c = {NULL, NULL};
    int rc;

    rc = cf__fsdb_acquire(fs, client, &c, err);
    if (rc == 0)
        rc = cf__fsdb_perm_level(c.db, client, user, folder, out, err);
    cf__fsdb_release(&c);
    return rc;
}
