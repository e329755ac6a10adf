/*
 * history.c -- the filer history in the catalog (objdb.h).
 */
#include "objdb_int.h"

#include <stdlib.h>

#include "coffer/err.h"
#include "coffer/log.h"

#define HISTORY_COLUMNS                                                                            \
    "filer, start_ms, end_ms, bytes_in, bytes_out, io_errors, polls, failures, used_bytes, "       \
    "total_bytes, latency_us"

int cf_objdb_history_add(struct cf_objdb *odb, const struct cf_objdb_history *h, char *err)
{
    static const char sql[] =
        "INSERT INTO filer_history (" HISTORY_COLUMNS ")"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        " ON CONFLICT (filer, start_ms) DO UPDATE SET end_ms = excluded.end_ms,"
        " bytes_in = excluded.bytes_in, bytes_out = excluded.bytes_out,"
        " io_errors = excluded.io_errors, polls = excluded.polls, failures = excluded.failures,"
        " used_bytes = excluded.used_bytes, total_bytes = excluded.total_bytes,"
        " latency_us = excluded.latency_us";
    struct cf_db *db;
    int rc;

    if (h->filer == 0 || h->end_ms < h->start_ms || h->end_ms > INT64_MAX ||
        h->bytes_in > INT64_MAX || h->bytes_out > INT64_MAX || h->io_errors > INT64_MAX ||
        h->used_bytes > INT64_MAX || h->total_bytes > INT64_MAX || h->latency_us > INT64_MAX) {
        cf_err_set(err, "filer history row of filer %u out of range", (unsigned)h->filer);
        return CF_EINVAL;
    }
    db = cf_db_pool_acquire(odb->catalog);
    rc = cf_db_run(db, NULL, 0, err, sql, "iiiiiiiiiii", (int64_t)h->filer, (int64_t)h->start_ms,
                   (int64_t)h->end_ms, (int64_t)h->bytes_in, (int64_t)h->bytes_out,
                   (int64_t)h->io_errors, (int64_t)h->polls, (int64_t)h->failures,
                   (int64_t)h->used_bytes, (int64_t)h->total_bytes, (int64_t)h->latency_us);
    cf_db_pool_release(odb->catalog, db);
    return rc < 0 ? rc : 0;
}

/* One row into elem (a struct cf_objdb_history): 0 or CF_ECORRUPT. */
static int read_row(struct cf_db_stmt *s, void *elem)
{
    struct cf_objdb_history *h = elem;
    int64_t v[11];

    for (int i = 0; i < 11; i++) {
        v[i] = cf_db_column_int64(s, i);
        if (v[i] < 0)
            return CF_ECORRUPT;
    }
    if (v[0] == 0 || v[0] > UINT32_MAX || v[6] > UINT32_MAX || v[7] > UINT32_MAX)
        return CF_ECORRUPT;
    h->filer = (uint32_t)v[0];
    h->start_ms = (uint64_t)v[1];
    h->end_ms = (uint64_t)v[2];
    h->bytes_in = (uint64_t)v[3];
    h->bytes_out = (uint64_t)v[4];
    h->io_errors = (uint64_t)v[5];
    h->polls = (uint32_t)v[6];
    h->failures = (uint32_t)v[7];
    h->used_bytes = (uint64_t)v[8];
    h->total_bytes = (uint64_t)v[9];
    h->latency_us = (uint64_t)v[10];
    return 0;
}

int cf_objdb_history_list(struct cf_objdb *odb, uint32_t filer, uint64_t since_ms,
                          uint64_t until_ms, size_t limit, struct cf_objdb_history **out, size_t *n,
                          char *err)
{
    static const char sql[] = "SELECT " HISTORY_COLUMNS " FROM filer_history"
                              " WHERE (?1 = 0 OR filer = ?1) AND end_ms > ?2 AND start_ms < ?3"
                              " ORDER BY start_ms, filer LIMIT ?4";
    struct cf_db *db;
    struct cf_db_stmt *s = NULL;
    void *v = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    if (limit == 0 || limit > CF_OBJDB_HISTORY_MAX || since_ms > INT64_MAX ||
        until_ms > INT64_MAX) {
        cf_err_set(err, "limit must be 1..%d", CF_OBJDB_HISTORY_MAX);
        return CF_EINVAL;
    }
    db = cf_db_pool_acquire(odb->catalog);
    rc = cf_db_query(db, &s, err, sql, "iiii", (int64_t)filer, (int64_t)since_ms,
                     until_ms == 0 ? INT64_MAX : (int64_t)until_ms, (int64_t)limit);
    if (rc == 0)
        rc = cf_db_collect(s, sizeof(struct cf_objdb_history), read_row, &v, n, err);
    if (rc == CF_ECORRUPT)
        cf_log(CF_LOG_ERROR, "objdb \"%s\": a filer_history row is out of bounds",
               odb->catalog_uri);
    cf_db_finalize(s);
    cf_db_pool_release(odb->catalog, db);
    *out = v;
    return rc;
}

int cf_objdb_history_prune(struct cf_objdb *odb, uint64_t before_ms, uint64_t *deleted, char *err)
{
    static const char sql[] = "DELETE FROM filer_history WHERE end_ms < ?1 RETURNING filer";
    struct cf_db *db = cf_db_pool_acquire(odb->catalog);
    struct cf_db_stmt *s = NULL;
    uint64_t k = 0;
    int rc;

    rc = cf_db_query(db, &s, err, sql, "i", before_ms > INT64_MAX ? INT64_MAX : (int64_t)before_ms);
    while (rc == 0) {
        rc = cf_db_step(s, err);
        if (rc <= 0)
            break;
        k++;
        rc = 0;
    }
    cf_db_finalize(s);
    cf_db_pool_release(odb->catalog, db);
    if (deleted != NULL)
        *deleted = k;
    return rc < 0 ? rc : 0;
}
