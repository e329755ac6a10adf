/*
 * filers.c -- the filer summary table (patent FIG. 7) in the catalog (objdb.h).
 */
#include "objdb_int.h"

#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/log.h"

#define FILER_COLUMNS                                                                              \
    "id, url, weight, total_bytes, used_bytes, objects, read_only, status, last_seen, "            \
    "base_weight, dc, read_weight"

static int check_text(const char *what, const char *s, size_t min, size_t max, char *err)
{
    size_t len = strnlen(s, max + 1);

    if (len < min || len > max) {
        cf_err_set(err, "filer %s must be %zu..%zu bytes", what, min, max);
        return CF_EINVAL;
    }
    return 0;
}

static int check_filer(const struct cf_objdb_filer *f, char *err)
{
    int rc = 0;

    if (f->id == 0) {
        cf_err_set(err, "filer id 0 is not a filer");
        rc = CF_EINVAL;
    } else if (f->total_bytes > INT64_MAX || f->used_bytes > INT64_MAX || f->objects > INT64_MAX ||
               f->last_seen_ms > INT64_MAX) {
        cf_err_set(err, "filer %u: a counter is out of range", (unsigned)f->id);
        rc = CF_EINVAL;
    } else {
        rc = check_text("status", f->status, 0, CF_OBJDB_STATUS_MAX, err);
    }
    return rc;
}

static int check_dc(const char *dc, char *err)
{
    if (cf_objdb_dc_valid(dc))
        return 0;
    cf_err_set(err, "a data center is 0..%d bytes of A-Z a-z 0-9 . _ -", CF_OBJDB_DC_MAX);
    return CF_EINVAL;
}

static int check_weight(const char *what, uint32_t w, char *err)
{
    if (w <= CF_OBJDB_WEIGHT_MAX)
        return 0;
    cf_err_set(err, "a filer's %s is 0..%d", what, CF_OBJDB_WEIGHT_MAX);
    return CF_EINVAL;
}

/* Columns in FILER_COLUMNS order into *f. */
static int read_filer(struct cf_db_stmt *s, struct cf_objdb_filer *f)
{
    int64_t id = cf_db_column_int64(s, 0), weight = cf_db_column_int64(s, 2);
    int64_t base = cf_db_column_int64(s, 9), rw = cf_db_column_int64(s, 11);

    memset(f, 0, sizeof(*f));
    if (id < 1 || id > UINT32_MAX || weight < 0 || weight > UINT32_MAX || base < 0 ||
        base > UINT32_MAX || rw < 0 || rw > UINT32_MAX)
        return CF_ECORRUPT;
    f->id = (uint32_t)id;
    f->weight = (uint32_t)weight;
    f->base_weight = (uint32_t)base;
    f->read_weight = (uint32_t)rw;
    f->total_bytes = (uint64_t)cf_db_column_int64(s, 3);
    f->used_bytes = (uint64_t)cf_db_column_int64(s, 4);
    f->objects = (uint64_t)cf_db_column_int64(s, 5);
    f->read_only = cf_db_column_int64(s, 6) != 0;
    f->last_seen_ms = (uint64_t)cf_db_column_int64(s, 8);
    if (cf_db_column_copy_text(s, 1, f->url, sizeof(f->url)) < 0 ||
        cf_db_column_copy_text(s, 7, f->status, sizeof(f->status)) < 0 ||
        cf_db_column_copy_text(s, 10, f->dc, sizeof(f->dc)) < 0)
        return CF_ECORRUPT;
    return 0;
}

static int corrupt(const struct cf_objdb *odb, char *err)
{
    cf_err_set(err, "a filers row is out of bounds");
    cf_log(CF_LOG_ERROR, "objdb \"%s\": a filers row is out of bounds", odb->catalog_uri);
    return CF_ECORRUPT;
}

/* rc of a statement run with cf_db_run that RETURNs the id of the row it
 * changed: no row is CF_ENOTFOUND for filer id. */
static int changed(int rc, uint32_t id, char *err)
{
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no filer %u", (unsigned)id);
        rc = CF_ENOTFOUND;
    }
    return rc < 0 ? rc : 0;
}

int cf_objdb_filer_register(struct cf_objdb *odb, const struct cf_objdb_filer *f, char *err)
{
    static const char sql[] = "INSERT INTO filers (" FILER_COLUMNS ")"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?3, ?10, ?11)";
    struct cf_db *db = NULL;
    int rc;

    rc = check_filer(f, err);
    if (rc < 0)
        goto out;
    rc = check_text("url", f->url, 1, CF_OBJDB_URL_MAX, err);
    if (rc < 0)
        goto out;
    rc = check_dc(f->dc, err);
    if (rc < 0)
        goto out;
    rc = check_weight("read weight", f->read_weight, err);
    if (rc < 0)
        goto out;
    db = cf_db_pool_acquire(odb->catalog);
    rc = cf_db_run(db, NULL, 0, err, sql, "itiiiiititi", (int64_t)f->id, f->url, (int64_t)f->weight,
                   (int64_t)f->total_bytes, (int64_t)f->used_bytes, (int64_t)f->objects,
                   (int64_t)f->read_only, f->status, (int64_t)f->last_seen_ms, f->dc,
                   (int64_t)f->read_weight);
    if (rc == CF_EEXIST)
        cf_err_set(err, "filer %u or url \"%s\" is already registered", (unsigned)f->id, f->url);
    if (rc > 0)
        rc = 0;
out:
    if (db != NULL)
        cf_db_pool_release(odb->catalog, db);
    return rc;
}

int cf_objdb_filer_update(struct cf_objdb *odb, uint32_t id, const char *url, uint32_t weight,
                          char *err)
{
    static const char sql[] =
        "UPDATE filers SET url = ?2, weight = ?3, base_weight = ?3 WHERE id = ?1 RETURNING id";
    struct cf_db *db = NULL;
    int rc;

    rc = check_text("url", url, 1, CF_OBJDB_URL_MAX, err);
    if (rc < 0)
        goto out;
    db = cf_db_pool_acquire(odb->catalog);
    rc = cf_db_run(db, NULL, 0, err, sql, "iti", (int64_t)id, url, (int64_t)weight);
    rc = changed(rc, id, err);
    if (rc == CF_EEXIST)
        cf_err_set(err, "url \"%s\" is already registered", url);
out:
    if (db != NULL)
        cf_db_pool_release(odb->catalog, db);
    return rc;
}

int cf_objdb_filer_set_read_weight(struct cf_objdb *odb, uint32_t id, uint32_t read_weight,
                                   char *err)
{
    static const char sql[] = "UPDATE filers SET read_weight = ?2 WHERE id = ?1 RETURNING id";
    struct cf_db *db = NULL;
    int rc;

    rc = check_weight("read weight", read_weight, err);
    if (rc < 0)
        return rc;
    db = cf_db_pool_acquire(odb->catalog);
    rc = cf_db_run(db, NULL, 0, err, sql, "ii", (int64_t)id, (int64_t)read_weight);
    rc = changed(rc, id, err);
    cf_db_pool_release(odb->catalog, db);
    return rc;
}

int cf_objdb_filer_set_dc(struct cf_objdb *odb, uint32_t id, const char *dc, char *err)
{
    static const char sql[] = "UPDATE filers SET dc = ?2 WHERE id = ?1 RETURNING id";
    struct cf_db *db = NULL;
    int rc;

    rc = check_dc(dc, err);
    if (rc < 0)
        return rc;
    db = cf_db_pool_acquire(odb->catalog);
    rc = cf_db_run(db, NULL, 0, err, sql, "it", (int64_t)id, dc);
    rc = changed(rc, id, err);
    cf_db_pool_release(odb->catalog, db);
    return rc;
}

int cf_objdb_filer_set_status(struct cf_objdb *odb, const struct cf_objdb_filer *f, char *err)
{
    static const char sql[] =
        "UPDATE filers SET total_bytes = ?2, used_bytes = ?3, objects = ?4, read_only = ?5,"
        " status = ?6, last_seen = ?7 WHERE id = ?1 RETURNING id";
    struct cf_db *db = NULL;
    int rc;

    rc = check_filer(f, err);
    if (rc < 0)
        goto out;
    db = cf_db_pool_acquire(odb->catalog);
    rc = cf_db_run(db, NULL, 0, err, sql, "iiiiiti", (int64_t)f->id, (int64_t)f->total_bytes,
                   (int64_t)f->used_bytes, (int64_t)f->objects, (int64_t)f->read_only, f->status,
                   (int64_t)f->last_seen_ms);
    rc = changed(rc, f->id, err);
out:
    if (db != NULL)
        cf_db_pool_release(odb->catalog, db);
    return rc;
}

int cf_objdb_filer_track(struct cf_objdb *odb, const struct cf_objdb_filer *f,
                         struct cf_objdb_filer *out, char *err)
{
    /* One statement, so the operator's maintenance switch, written between
     * the tracker's read and this write, is never undone: a filer put in
     * maintenance meanwhile keeps it, and a decision that says maintenance
     * (made from a row read before the operator took the filer out of it)
     * leaves the stored status and read_only alone until the next poll. */
    static const char sql[] = "UPDATE filers SET total_bytes = ?2, used_bytes = ?3, objects = ?4,"
                              " read_only = CASE WHEN status = '" CF_OBJDB_MAINTENANCE "' THEN 1"
                              " WHEN ?6 = '" CF_OBJDB_MAINTENANCE "' THEN read_only ELSE ?5 END,"
                              " status = CASE WHEN status = '" CF_OBJDB_MAINTENANCE
                              "' OR ?6 = '" CF_OBJDB_MAINTENANCE "' THEN status ELSE ?6 END,"
                              " weight = ?7, last_seen = ?8 WHERE id = ?1 RETURNING " FILER_COLUMNS;
    struct cf_db *db = NULL;
    struct cf_db_stmt *s = NULL;
    int rc;

    rc = check_filer(f, err);
    if (rc < 0)
        goto out;
    db = cf_db_pool_acquire(odb->catalog);
    rc = cf_db_query(db, &s, err, sql, "iiiiitii", (int64_t)f->id, (int64_t)f->total_bytes,
                     (int64_t)f->used_bytes, (int64_t)f->objects, (int64_t)f->read_only, f->status,
                     (int64_t)f->weight, (int64_t)f->last_seen_ms);
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no filer %u", (unsigned)f->id);
        rc = CF_ENOTFOUND;
    }
    if (rc < 0)
        goto out;
    if (out != NULL && read_filer(s, out) < 0) {
        rc = corrupt(odb, err);
        goto out;
    }
    /* Run to the end: an autocommit change is durable only then. */
    rc = cf_db_step(s, err);
    if (rc > 0) {
        cf_err_set(err, "filer %u: more than one row", (unsigned)f->id);
        rc = CF_EINTERNAL;
    }
out:
    cf_db_finalize(s);
    if (db != NULL)
        cf_db_pool_release(odb->catalog, db);
    return rc;
}

int cf_objdb_filer_set_maintenance(struct cf_objdb *odb, uint32_t id, bool on, char *err)
{
    static const char sql_on[] = "UPDATE filers SET status = '" CF_OBJDB_MAINTENANCE "',"
                                 " read_only = 1 WHERE id = ?1 RETURNING id";
    static const char sql_off[] =
        "UPDATE filers SET status = CASE WHEN status = '" CF_OBJDB_MAINTENANCE "'"
        " THEN 'unknown' ELSE status END WHERE id = ?1 RETURNING id";
    struct cf_db *db = cf_db_pool_acquire(odb->catalog);
    int rc;

    rc = cf_db_run(db, NULL, 0, err, on ? sql_on : sql_off, "i", (int64_t)id);
    rc = changed(rc, id, err);
    cf_db_pool_release(odb->catalog, db);
    return rc;
}

int cf_objdb_filer_get(struct cf_objdb *odb, uint32_t id, struct cf_objdb_filer *out, char *err)
{
    static const char sql[] = "SELECT " FILER_COLUMNS " FROM filers WHERE id = ?1";
    struct cf_db *db = cf_db_pool_acquire(odb->catalog);
    struct cf_db_stmt *s = NULL;
    int rc;

    rc = cf_db_query(db, &s, err, sql, "i", (int64_t)id);
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc < 0)
        goto out;
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "no filer %u", (unsigned)id);
        rc = CF_ENOTFOUND;
        goto out;
    }
    rc = read_filer(s, out);
    if (rc < 0)
        rc = corrupt(odb, err);
out:
    cf_db_finalize(s);
    cf_db_pool_release(odb->catalog, db);
    return rc;
}

int cf_objdb_filer_list(struct cf_objdb *odb, struct cf_objdb_filer **out, size_t *n, char *err)
{
    static const char sql[] = "SELECT " FILER_COLUMNS " FROM filers ORDER BY id";
    struct cf_db *db = cf_db_pool_acquire(odb->catalog);
    struct cf_db_stmt *s = NULL;
    struct cf_objdb_filer *v = NULL;
    size_t len = 0, cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    rc = cf_db_prepare(db, sql, &s, err);
    if (rc < 0)
        goto out;
    for (;;) {
        rc = cf_db_step(s, err);
        if (rc < 0)
            goto out;
        if (rc == CF_DB_DONE)
            break;
        if (len == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            v = cf_xrealloc(v, cap * sizeof(*v));
        }
        rc = read_filer(s, &v[len]);
        if (rc < 0) {
            rc = corrupt(odb, err);
            goto out;
        }
        len++;
    }
    *out = v;
    *n = len;
    v = NULL;
    rc = 0;
out:
    free(v);
    cf_db_finalize(s);
    cf_db_pool_release(odb->catalog, db);
    return rc;
}

int cf_objdb_filer_unregister(struct cf_objdb *odb, uint32_t id, char *err)
{
    static const char sql[] = "DELETE FROM filers WHERE id = ?1 RETURNING id";
    struct cf_db *db = cf_db_pool_acquire(odb->catalog);
    int rc;

    rc = cf_db_run(db, NULL, 0, err, sql, "i", (int64_t)id);
    rc = changed(rc, id, err);
    cf_db_pool_release(odb->catalog, db);
    return rc;
}

/* ---- pure helpers over the table's rows ---- */

bool cf_objdb_status_writable(const char *status)
{
    return strcmp(status, CF_OBJDB_ONLINE) == 0 || strcmp(status, CF_OBJDB_BUSY) == 0;
}

bool cf_objdb_status_up(const char *status)
{
    return cf_objdb_status_writable(status) || strcmp(status, CF_OBJDB_READ_ONLY) == 0 ||
           strcmp(status, CF_OBJDB_MAINTENANCE) == 0;
}

const struct cf_objdb_filer *cf_objdb_filer_find(const struct cf_objdb_filer *v, size_t n,
                                                 uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].id == id)
            return &v[i];
    return NULL;
}

bool cf_objdb_filer_up(const struct cf_objdb_filer *f)
{
    return f != NULL && cf_objdb_status_up(f->status);
}

bool cf_objdb_filer_writable(const struct cf_objdb_filer *f)
{
    return f != NULL && cf_objdb_status_writable(f->status) && !f->read_only;
}
