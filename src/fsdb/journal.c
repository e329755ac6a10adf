/*
 * journal.c -- the change journal of the file system database (fsdb.h,
 * "change journal"): appending a row inside a change's transaction, reading
 * pages of it, pruning it, and waking the long-polls of this process.
 */
#include "fsdb_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coffer/err.h"
#include "coffer/log.h"

const char *cf_fsdb_change_kind_name(enum cf_fsdb_change_kind k)
{
    switch (k) {
    case CF_FSDB_CH_PUT:
        return "put";
    case CF_FSDB_CH_DELETE:
        return "delete";
    case CF_FSDB_CH_RESTORE:
        return "restore";
    case CF_FSDB_CH_MOVE:
        return "move";
    case CF_FSDB_CH_MKDIR:
        return "mkdir";
    }
    return "?";
}

/* The path of client's live folder `folder` plus "/" name (name NULL: the
 * folder's own path) into out (char[CF_FSDB_PATH_MAX + 1]), built from the
 * end by walking the parents up to the root. Returns 0, CF_ETOOLARGE,
 * CF_ENOTFOUND (a detached folder), or a db.h error. */
static int path_of(struct cf_db *db, uint64_t client, uint64_t folder, const char *name, char *out,
                   char *err)
{
    static const char sql[] = "SELECT parent_id, name, is_root FROM folders"
                              " WHERE client_id = ?1 AND id = ?2";
    char buf[CF_FSDB_PATH_MAX + 1];
    size_t pos = sizeof(buf) - 1;
    struct cf_db_stmt *s = NULL;
    int rc = 0;

    buf[pos] = '\0';
    if (name != NULL) {
        size_t len = strlen(name);
        if (len + 1 > pos)
            goto toolong;
        pos -= len;
        memcpy(buf + pos, name, len);
        buf[--pos] = '/';
    }
    for (unsigned depth = 0;; depth++) {
        const char *nm;
        size_t len = 0;

        if (depth > CF_FSDB_PATH_MAX / 2) {
            cf_err_set(err, "folder %llu: a cycle among its parents", (unsigned long long)folder);
            return CF_ECORRUPT;
        }
        rc = cf_db_query(db, &s, err, sql, "ii", (int64_t)client, (int64_t)folder);
        if (rc == 0)
            rc = cf_db_step(s, err);
        if (rc == CF_DB_DONE) {
            cf_err_set(err, "folder %llu not found", (unsigned long long)folder);
            rc = CF_ENOTFOUND;
        }
        if (rc < 0)
            break;
        if (cf_db_column_int64(s, 2) != 0) {
            rc = 0;
            break;
        }
        if (cf_db_column_is_null(s, 0)) {
            cf_err_set(err, "folder %llu is in the trash", (unsigned long long)folder);
            rc = CF_ENOTFOUND;
            break;
        }
        nm = cf_db_column_text(s, 1, &len);
        if (nm == NULL || len + 1 > pos) {
            cf_db_finalize(s);
            goto toolong;
        }
        pos -= len;
        memcpy(buf + pos, nm, len);
        buf[--pos] = '/';
        folder = (uint64_t)cf_db_column_int64(s, 0);
        cf_db_finalize(s);
        s = NULL;
    }
    cf_db_finalize(s);
    if (rc < 0)
        return rc;
    if (buf[pos] == '\0')
        buf[--pos] = '/';
    memcpy(out, buf + pos, sizeof(buf) - pos);
    return 0;
toolong:
    cf_err_set(err, "the path is longer than %d bytes", CF_FSDB_PATH_MAX);
    return CF_ETOOLARGE;
}

int cf__fsdb_journal(struct cf_db *db, uint64_t client, enum cf_fsdb_change_kind kind,
                     enum cf_fsdb_kind type, uint64_t folder, const char *name, uint64_t old_folder,
                     const char *old_name, uint64_t item, const struct cf_fsdb_entry *file,
                     int64_t now, char *err)
{
    static const char sql[] = "INSERT INTO changes (seq, client_id, kind, type, path, old_path,"
                              " folder_id, item_id, version_id, size, sha512, created)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
    static const uint8_t zero[64];
    char path[CF_FSDB_PATH_MAX + 1], old[CF_FSDB_PATH_MAX + 1] = "";
    int64_t seq = 0;
    int rc;

    rc = path_of(db, client, folder, name, path, err);
    if (rc == 0 && old_name != NULL)
        rc = path_of(db, client, old_folder, old_name, old, err);
    if (rc == 0)
        rc = cf__fsdb_new_id(db, &seq, err);
    if (rc < 0)
        return rc;
    rc = cf_db_run(db, NULL, 0, err, sql, "iiiittiiiibi", seq, (int64_t)client, (int64_t)kind,
                   (int64_t)type, path, old, (int64_t)folder, (int64_t)item,
                   (int64_t)(file != NULL ? file->version : 0),
                   (int64_t)(file != NULL ? file->size : 0),
                   (const void *)(file != NULL ? file->sha512 : zero), (size_t)64, now);
    return rc < 0 ? rc : 0;
}

/* ---- waking long-polls ---------------------------------------------------------- */

void cf__fsdb_changes_init(struct cf_fsdb *fs)
{
    pthread_condattr_t a;

    pthread_mutex_init(&fs->chg_mu, NULL);
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&fs->chg_cv, &a);
    pthread_condattr_destroy(&a);
}

void cf__fsdb_changes_fini(struct cf_fsdb *fs)
{
    pthread_cond_destroy(&fs->chg_cv);
    pthread_mutex_destroy(&fs->chg_mu);
}

void cf__fsdb_changed(struct cf_fsdb *fs)
{
    pthread_mutex_lock(&fs->chg_mu);
    fs->chg_gen++;
    pthread_cond_broadcast(&fs->chg_cv);
    pthread_mutex_unlock(&fs->chg_mu);
}

uint64_t cf_fsdb_changes_gen(struct cf_fsdb *fs)
{
    uint64_t g;

    pthread_mutex_lock(&fs->chg_mu);
    g = fs->chg_gen;
    pthread_mutex_unlock(&fs->chg_mu);
    return g;
}

bool cf_fsdb_changes_wait(struct cf_fsdb *fs, uint64_t gen, uint64_t timeout_ms)
{
    struct timespec ts;
    bool moved;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&fs->chg_mu);
    while (fs->chg_gen == gen) {
        if (pthread_cond_timedwait(&fs->chg_cv, &fs->chg_mu, &ts) == ETIMEDOUT)
            break;
    }
    moved = fs->chg_gen != gen;
    pthread_mutex_unlock(&fs->chg_mu);
    return moved;
}

/* ---- reading and pruning ---------------------------------------------------------- */

static int change_row(struct cf_db_stmt *s, struct cf_fsdb_change *ch)
{
    size_t len = 0;
    const void *sha;
    int rc;

    memset(ch, 0, sizeof(*ch));
    ch->seq = (uint64_t)cf_db_column_int64(s, 0);
    ch->kind = (enum cf_fsdb_change_kind)cf_db_column_int64(s, 1);
    ch->type = cf_db_column_int64(s, 2) == CF_FSDB_FOLDER ? CF_FSDB_FOLDER : CF_FSDB_FILE;
    rc = cf_db_column_copy_text(s, 3, ch->path, sizeof(ch->path));
    if (rc == 0)
        rc = cf_db_column_copy_text(s, 4, ch->old_path, sizeof(ch->old_path));
    ch->folder = (uint64_t)cf_db_column_int64(s, 5);
    ch->item = (uint64_t)cf_db_column_int64(s, 6);
    ch->version = (uint64_t)cf_db_column_int64(s, 7);
    ch->size = (uint64_t)cf_db_column_int64(s, 8);
    sha = cf_db_column_blob(s, 9, &len);
    if (sha != NULL && len == 64)
        memcpy(ch->sha512, sha, 64);
    ch->time_ms = (uint64_t)cf_db_column_int64(s, 10);
    return rc < 0 ? CF_ECORRUPT : 0;
}

static int floor_of(struct cf_db *db, uint64_t client, int64_t *floor, char *err)
{
    static const char sql[] = "SELECT seq FROM changes_floor WHERE client_id = ?1";
    int rc;

    *floor = 0;
    rc = cf_db_run(db, floor, 1, err, sql, "i", (int64_t)client);
    return rc < 0 ? rc : 0;
}

int cf_fsdb_changes_page(struct cf_fsdb *fs, uint64_t client, uint64_t after, size_t limit,
                         struct cf_fsdb_change **out, size_t *n, bool *more, bool *gone,
                         uint64_t *latest, char *err)
{
    static const char sql_max[] = "SELECT coalesce(max(seq), 0) FROM changes WHERE client_id = ?1";
    static const char sql[] = "SELECT seq, kind, type, path, old_path, folder_id, item_id,"
                              " version_id, size, sha512, created FROM changes"
                              " WHERE client_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";
    struct cf__fsdb_conn c = {NULL, NULL};
    struct cf_db_stmt *s = NULL;
    struct cf_fsdb_change *arr = NULL;
    int64_t floor = 0, max = 0;
    size_t cnt = 0;
    int rc;

    *out = NULL;
    *n = 0;
    *more = false;
    *gone = false;
    if (limit < 1 || limit > CF_FSDB_CHANGES_MAX || after > (uint64_t)INT64_MAX) {
        cf_err_set(err, "limit is 1 to %d", CF_FSDB_CHANGES_MAX);
        return CF_EINVAL;
    }
    rc = cf__fsdb_begin(fs, client, &c, false, err);
    if (rc < 0)
        goto out;
    rc = floor_of(c.db, client, &floor, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, &max, 1, err, sql_max, "i", (int64_t)client);
    if (rc < 0)
        goto out;
    rc = 0;
    if (max < floor)
        max = floor;
    if (latest != NULL)
        *latest = (uint64_t)max;
    if ((int64_t)after < floor) {
        *gone = true;
        goto out;
    }
    arr = cf_xcalloc(limit + 1, sizeof(*arr));
    rc =
        cf_db_query(c.db, &s, err, sql, "iii", (int64_t)client, (int64_t)after, (int64_t)limit + 1);
    if (rc < 0)
        goto out;
    for (;;) {
        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        if (cnt == limit) {
            *more = true;
            continue;
        }
        rc = change_row(s, &arr[cnt]);
        if (rc < 0) {
            cf_err_set(err, "a change row is malformed");
            goto out;
        }
        cnt++;
    }
    if (rc < 0)
        goto out;
    rc = 0;
out:
    cf_db_finalize(s);
    cf__fsdb_release(&c);
    if (rc < 0 || cnt == 0) {
        free(arr);
        arr = NULL;
        cnt = 0;
        *more = false;
    }
    *out = arr;
    *n = cnt;
    return rc;
}

int cf_fsdb_changes_prune(struct cf_fsdb *fs, uint64_t client, uint64_t before_ms, size_t *removed,
                          char *err)
{
    static const char sql_cut[] = "SELECT coalesce(max(seq), 0), count(*) FROM changes"
                                  " WHERE client_id = ?1 AND created < ?2";
    static const char sql_del[] = "DELETE FROM changes WHERE client_id = ?1 AND seq <= ?2";
    static const char sql_floor[] = "INSERT INTO changes_floor (client_id, seq) VALUES (?1, ?2)"
                                    " ON CONFLICT (client_id) DO UPDATE SET seq = excluded.seq"
                                    " WHERE changes_floor.seq < excluded.seq";
    struct cf__fsdb_conn c = {NULL, NULL};
    int64_t v[2] = {0, 0};
    int rc;

    if (removed != NULL)
        *removed = 0;
    if (before_ms > (uint64_t)INT64_MAX)
        before_ms = (uint64_t)INT64_MAX;
    rc = cf__fsdb_begin(fs, client, &c, true, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, v, 2, err, sql_cut, "ii", (int64_t)client, (int64_t)before_ms);
    if (rc < 0)
        goto out;
    rc = 0;
    if (v[0] == 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, sql_del, "ii", (int64_t)client, v[0]);
    if (rc < 0)
        goto out;
    rc = cf_db_run(c.db, NULL, 0, err, sql_floor, "ii", (int64_t)client, v[0]);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(c.db, err);
    if (rc == 0 && removed != NULL)
        *removed = (size_t)v[1];
out:
    cf__fsdb_release(&c);
    return rc;
}
