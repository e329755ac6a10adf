/*
 * instances.c -- the instance registry and the change feed in the catalog
 * (registry.h).
 */
#include "coffer/registry.h"

#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/log.h"
#include "objdb_int.h"

#define INSTANCE_COLUMNS "id, role, url, dc, version, started, last_heartbeat, status"

/* min..max bytes of printable ASCII: the fields come from any holder of
 * the cluster key and are printed on operators' terminals (`coffer admin
 * cluster`), where a control byte could rewrite the screen. */
static bool fits(const char *s, size_t min, size_t max)
{
    size_t len = strnlen(s, max + 1);

    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return len >= min && len <= max;
}

int cf_registry_beat(struct cf_objdb *odb, const struct cf_instance *in, uint64_t now_ms, char *err)
{
    static const char sql[] =
        "INSERT INTO instances (role, url, dc, version, started, last_heartbeat, status)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        " ON CONFLICT (role, url) DO UPDATE SET dc = ?3, version = ?4, started = ?5,"
        " last_heartbeat = ?6, status = ?7";
    /* First the status alone, where it differs: of two monitors hearing
     * the same change, one changes the row and reports it. */
    static const char flip[] = "UPDATE instances SET status = ?3, last_heartbeat = ?4"
                               " WHERE role = ?1 AND url = ?2 AND status <> ?3 RETURNING id";
    const char *status = strcmp(in->status, "down") == 0 ? "down" : "up";
    struct cf_db *db;
    struct cf_db_stmt *s = NULL;
    bool changed = false;
    int rc;

    if (!fits(in->role, 1, CF_REGISTRY_ROLE_MAX) || !fits(in->url, 1, CF_OBJDB_URL_MAX) ||
        !fits(in->dc, 0, CF_REGISTRY_DC_MAX) || !fits(in->version, 0, CF_REGISTRY_VERSION_MAX) ||
        in->started_ms > INT64_MAX || now_ms > INT64_MAX) {
        cf_err_set(err,
                   "an instance needs a role (1..%d bytes) and a URL (1..%d bytes); dc at "
                   "most %d bytes, version %d; all printable ASCII",
                   CF_REGISTRY_ROLE_MAX, CF_OBJDB_URL_MAX, CF_REGISTRY_DC_MAX,
                   CF_REGISTRY_VERSION_MAX);
        return CF_EINVAL;
    }
    db = cf_db_pool_acquire(odb->catalog);
    rc = cf_db_query(db, &s, err, flip, "ttti", in->role, in->url, status, (int64_t)now_ms);
    while (rc == 0) {
        rc = cf_db_step(s, err);
        if (rc == CF_DB_ROW) {
            changed = true;
            rc = 0;
        } else if (rc == CF_DB_DONE) {
            break;
        }
    }
    cf_db_finalize(s);
    if (rc >= 0)
        rc = cf_db_run(db, NULL, 0, err, sql, "ttttiit", in->role, in->url, in->dc, in->version,
                       (int64_t)in->started_ms, (int64_t)now_ms, status);
    cf_db_pool_release(odb->catalog, db);
    return rc < 0 ? rc : changed;
}

static int read_instance(struct cf_db_stmt *s, struct cf_instance *in);

/* Run sql (binding ?1 = v), a statement RETURNING one column per changed
 * row, to its end; returns the number of rows or an error. */
static int count_rows(struct cf_objdb *odb, const char *sql, int64_t v, char *err)
{
    struct cf_db *db = cf_db_pool_acquire(odb->catalog);
    struct cf_db_stmt *s = NULL;
    int rc, n = 0;

    rc = cf_db_query(db, &s, err, sql, "i", v);
    while (rc == 0) {
        rc = cf_db_step(s, err);
        if (rc == CF_DB_ROW) {
            n++;
            rc = 0;
        } else if (rc == CF_DB_DONE) {
            break;
        }
    }
    cf_db_finalize(s);
    cf_db_pool_release(odb->catalog, db);
    return rc < 0 ? rc : n;
}

int cf_registry_forget(struct cf_objdb *odb, uint64_t before_ms, char *err)
{
    static const char sql[] = "DELETE FROM instances WHERE status = 'down' AND last_heartbeat < ?1"
                              " RETURNING id";
    int64_t before = (int64_t)(before_ms > INT64_MAX ? INT64_MAX : before_ms);
    struct cf_db *db = cf_db_pool_acquire(odb->catalog);
    struct cf_db_stmt *s = NULL;
    int rc, n = 0;

    rc = cf_db_query(db, &s, err, sql, "i", before);
    while (rc == 0) {
        rc = cf_db_step(s, err);
        if (rc == CF_DB_DONE || rc < 0)
            break;
        rc = 0;
        n++;
    }
    cf_db_finalize(s);
    cf_db_pool_release(odb->catalog, db);
    return rc < 0 ? rc : n;
}

int cf_registry_mark_down(struct cf_objdb *odb, uint64_t before_ms, struct cf_instance **down,
                          char *err)
{
    static const char sql[] = "UPDATE instances SET status = 'down'"
                              " WHERE status = 'up' AND last_heartbeat < ?1"
                              " RETURNING " INSTANCE_COLUMNS;
    int64_t before = (int64_t)(before_ms > INT64_MAX ? INT64_MAX : before_ms);
    struct cf_db *db = cf_db_pool_acquire(odb->catalog);
    struct cf_db_stmt *s = NULL;
    struct cf_instance *v = NULL;
    size_t cap = 0;
    int rc, n = 0;

    if (down != NULL)
        *down = NULL;
    rc = cf_db_query(db, &s, err, sql, "i", before);
    while (rc == 0) {
        rc = cf_db_step(s, err);
        if (rc == CF_DB_DONE)
            break;
        if (rc < 0)
            break;
        rc = 0;
        if (down != NULL) {
            if ((size_t)n == cap) {
                cap = cap == 0 ? 8 : cap * 2;
                v = cf_xrealloc(v, cap * sizeof(*v));
            }
            /* A row too long for the struct is still down: its text cut. */
            (void)read_instance(s, &v[n]);
        }
        n++;
    }
    cf_db_finalize(s);
    cf_db_pool_release(odb->catalog, db);
    if (rc < 0) {
        free(v);
        return rc;
    }
    if (down != NULL)
        *down = v;
    else
        free(v);
    return n;
}

static int read_instance(struct cf_db_stmt *s, struct cf_instance *in)
{
    memset(in, 0, sizeof(*in));
    in->id = (uint64_t)cf_db_column_int64(s, 0);
    in->started_ms = (uint64_t)cf_db_column_int64(s, 5);
    in->last_heartbeat_ms = (uint64_t)cf_db_column_int64(s, 6);
    if (cf_db_column_copy_text(s, 1, in->role, sizeof(in->role)) < 0 ||
        cf_db_column_copy_text(s, 2, in->url, sizeof(in->url)) < 0 ||
        cf_db_column_copy_text(s, 3, in->dc, sizeof(in->dc)) < 0 ||
        cf_db_column_copy_text(s, 4, in->version, sizeof(in->version)) < 0 ||
        cf_db_column_copy_text(s, 7, in->status, sizeof(in->status)) < 0)
        return CF_ECORRUPT;
    return 0;
}

static int read_instance_row(struct cf_db_stmt *s, void *elem)
{
    return read_instance(s, elem);
}

int cf_registry_list(struct cf_objdb *odb, struct cf_instance **out, size_t *n, char *err)
{
    static const char sql[] = "SELECT " INSTANCE_COLUMNS " FROM instances ORDER BY role, url";
    struct cf_db *db = cf_db_pool_acquire(odb->catalog);
    struct cf_db_stmt *s = NULL;
    void *v = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    rc = cf_db_prepare(db, sql, &s, err);
    if (rc == 0)
        rc = cf_db_collect(s, sizeof(struct cf_instance), read_instance_row, &v, n, err);
    if (rc == CF_ECORRUPT)
        cf_log(CF_LOG_ERROR, "objdb \"%s\": an instances row is out of bounds", odb->catalog_uri);
    cf_db_finalize(s);
    cf_db_pool_release(odb->catalog, db);
    *out = v;
    return rc;
}

/* ---- the change feed ---- */

int cf_changes_add(struct cf_objdb *odb, const struct cf_uuid *uuid, uint64_t at_ms, char *err)
{
    static const char sql[] = "INSERT INTO changes (uuid, at_ms) VALUES (?1, ?2)";
    char text[CF_UUID_SIZE];
    struct cf_db *db;
    int rc;

    cf_uuid_format(uuid, text);
    db = cf_db_pool_acquire(odb->catalog);
    rc = cf_db_run(db, NULL, 0, err, sql, "ti", text,
                   (int64_t)(at_ms > INT64_MAX ? INT64_MAX : at_ms));
    cf_db_pool_release(odb->catalog, db);
    return rc < 0 ? rc : 0;
}

int cf_changes_list(struct cf_objdb *odb, uint64_t after, struct cf_change *out, size_t cap,
                    size_t *n, uint64_t *oldest, uint64_t *newest, char *err)
{
    static const char sql_ends[] = "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0)"
                                   " FROM changes";
    static const char sql[] = "SELECT seq, uuid, at_ms FROM changes WHERE seq > ?1"
                              " ORDER BY seq LIMIT ?2";
    struct cf_db *db = cf_db_pool_acquire(odb->catalog);
    struct cf_db_stmt *s = NULL;
    int64_t ends[2] = {0, 0};
    int rc;

    *n = 0;
    *oldest = *newest = 0;
    /* The ends first: a row committed between the two reads shows in the
     * list, not in *newest, and is read again next time (harmless). */
    rc = cf_db_run(db, ends, 2, err, sql_ends, "");
    if (rc >= 0)
        rc = cf_db_query(db, &s, err, sql, "ii", (int64_t)(after > INT64_MAX ? INT64_MAX : after),
                         (int64_t)cap);
    while (rc >= 0 && *n < cap) {
        rc = cf_db_step(s, err);
        if (rc <= 0)
            break;
        out[*n].seq = (uint64_t)cf_db_column_int64(s, 0);
        out[*n].at_ms = (uint64_t)cf_db_column_int64(s, 2);
        if (cf_db_column_copy_text(s, 1, out[*n].uuid, sizeof(out[*n].uuid)) < 0) {
            cf_err_set(err, "a changes row is out of bounds");
            rc = CF_ECORRUPT;
            break;
        }
        (*n)++;
        rc = 0;
    }
    cf_db_finalize(s);
    cf_db_pool_release(odb->catalog, db);
    if (rc < 0)
        return rc;
    *oldest = (uint64_t)ends[0];
    *newest = (uint64_t)ends[1];
    return 0;
}

int cf_changes_prune(struct cf_objdb *odb, uint64_t before_ms, char *err)
{
    static const char sql[] = "DELETE FROM changes WHERE at_ms < ?1"
                              " AND seq < (SELECT max(seq) FROM changes) RETURNING seq";

    return count_rows(odb, sql, (int64_t)(before_ms > INT64_MAX ? INT64_MAX : before_ms), err);
}
