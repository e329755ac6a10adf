/*
 * scribe.c -- the append-only event log (scribe.h) on the catalog database.
 */
#include "coffer/scribe.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/clockguard.h"
#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/log.h"

/* SQL follows the subset in db.h. Ids are supplied by the writer (max + 1
 * inside a write transaction, which both engines serialize), so they grow
 * with insertion and PostgreSQL's identity column is never asked for one. */
static const char schema[] = "CREATE TABLE IF NOT EXISTS events ("
                             " id INTEGER PRIMARY KEY,"
                             " at BIGINT NOT NULL,"
                             " kind TEXT NOT NULL,"
                             " filer BIGINT NOT NULL,"
                             " object TEXT NOT NULL,"
                             " message TEXT NOT NULL);"
                             "CREATE INDEX IF NOT EXISTS events_by_at ON events (at);"
                             "CREATE INDEX IF NOT EXISTS events_by_kind ON events (kind, at);"
                             "CREATE INDEX IF NOT EXISTS events_by_filer ON events (filer, at);";

#define EVENT_COLUMNS   "id, at, kind, filer, object, message"
#define POOL_DEFAULT    2
#define QUERY_SQL_MAX   512
#define LIMIT_DEFAULT   100
#define OBJECT_TEXT_MAX (sizeof(((struct cf_scribe_event *)0)->object) - 1)

struct cf_scribe {
    struct cf_db_pool *pool;
    char *uri; /* for messages */
};

int cf_scribe_open(const char *uri, unsigned pool, struct cf_scribe **out, char *err)
{
    struct cf_scribe *s = cf_xcalloc(1, sizeof(*s));
    struct cf_db *db = NULL;
    int rc;

    *out = NULL;
    rc = cf_db_pool_open(uri, pool ? pool : POOL_DEFAULT, &s->pool, err);
    if (rc < 0)
        goto out;
    s->uri = cf_db_uri_redact(uri); /* for messages */
    db = cf_db_pool_acquire(s->pool);
    rc = cf_db_exec_schema(db, schema, err);
    cf_db_pool_release(s->pool, db);
    if (rc < 0)
        goto out;
    *out = s;
    s = NULL;
out:
    cf_scribe_close(s);
    return rc;
}

void cf_scribe_close(struct cf_scribe *s)
{
    if (s == NULL)
        return;
    cf_db_pool_close(s->pool);
    free(s->uri);
    free(s);
}

/* [a-z0-9_.-], 1..CF_SCRIBE_KIND_MAX bytes. */
static bool kind_ok(const char *k)
{
    size_t n = strnlen(k, CF_SCRIBE_KIND_MAX + 1);

    if (n == 0 || n > CF_SCRIBE_KIND_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0: no
 * overlong forms, surrogates or code points past U+10FFFF. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len = 0;
    unsigned min = 0, cp = 0;

    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0) {
        len = 2;
        min = 0x80;
        cp = p[0] & 0x1fu;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3;
        min = 0x800;
        cp = p[0] & 0x0fu;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4;
        min = 0x10000;
        cp = p[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Make text (NUL-terminated, in place) one line of valid UTF-8: control
 * characters become spaces and invalid bytes '?', so every event is a
 * valid TEXT on PostgreSQL and a valid JSON string. */
static void clean_text(char *text)
{
    unsigned char *p = (unsigned char *)text;
    size_t n = strlen(text);

    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(p + i, n - i);
        if (k == 0) {
            p[i++] = '?';
            continue;
        }
        if (k == 1 && (p[i] < 0x20 || p[i] == 0x7f))
            p[i] = ' ';
        i += k;
    }
}

/* Cut text to at most max bytes without splitting a UTF-8 sequence. */
static void cut_text(char *text, size_t max)
{
    size_t n = strlen(text);

    if (n <= max)
        return;
    n = max;
    while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
        n--;
    text[n] = '\0';
}

static int append(struct cf_scribe *s, const char *kind, uint32_t filer, const char *object,
                  const char *message, char *err)
{
    static const char sql[] = "INSERT INTO events (" EVENT_COLUMNS ")"
                              " SELECT coalesce(max(id), 0) + 1, ?1, ?2, ?3, ?4, ?5 FROM events";
    struct cf_db *db = cf_db_pool_acquire(s->pool);
    int rc;

    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, sql, "ititt", (int64_t)cf_wall_ms(), kind, (int64_t)filer,
                   object, message);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(db, err);
out:
    cf_db_rollback(db);
    cf_db_pool_release(s->pool, db);
    return rc;
}

int cf_scribe_event(struct cf_scribe *s, const char *kind, uint32_t filer, const char *object,
                    const char *fmt, ...)
{
    char msg[CF_SCRIBE_MSG_MAX * 2], obj[OBJECT_TEXT_MAX + 1], err[CF_ERR_LEN] = "";
    va_list ap;
    int rc = 0;

    if (s == NULL)
        return 0;
    if (object == NULL)
        object = "";
    if (!kind_ok(kind) || strnlen(object, sizeof(obj)) >= sizeof(obj)) {
        cf_err_set(err, "bad kind or object");
        rc = CF_EINVAL;
        goto out;
    }
    (void)snprintf(obj, sizeof(obj), "%s", object);
    clean_text(obj);
    va_start(ap, fmt);
    /* Truncation is intended: a longer message is cut below. */
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cut_text(msg, CF_SCRIBE_MSG_MAX);
    clean_text(msg);
    rc = append(s, kind, filer, obj, msg, err);
out:
    if (rc < 0)
        cf_log(CF_LOG_WARN, "scribe \"%s\": cannot append a %s event: %s", s->uri,
               kind_ok(kind) ? kind : "(bad kind)", err);
    return rc;
}

uint64_t cf_scribe_guarded_now(struct cf_scribe *s, struct cf_clockguard *g, const char *uses)
{
    bool found = false;
    uint64_t now = cf_clockguard_now(g, &found);

    if (found)
        (void)cf_scribe_event(s, CF_SCRIBE_CLOCK, 0, NULL,
                              "the wall clock is %" PRIu64
                              " s ahead of the time elapsed; %s the guarded time",
                              (cf_clockguard_wall_ms(g) - now) / 1000, uses);
    return now;
}

int cf_scribe_query(struct cf_scribe *s, const struct cf_scribe_query *q,
                    struct cf_scribe_event **out, size_t *n, char *err)
{
    char sql[QUERY_SQL_MAX];
    struct cf_db *db = NULL;
    struct cf_db_stmt *st = NULL;
    struct cf_scribe_event *v = NULL;
    size_t len = 0, cap = 0, limit = q->limit ? q->limit : LIMIT_DEFAULT;
    int rc, k = 0, p = 0;

    *out = NULL;
    *n = 0;
    if (limit > CF_SCRIBE_QUERY_MAX || (q->kind != NULL && !kind_ok(q->kind)) ||
        q->since_ms > INT64_MAX || q->until_ms > INT64_MAX || q->after_id > INT64_MAX) {
        cf_err_set(err,
                   "limit must be 1..%d, kind [a-z0-9_.-] of 1..%d bytes, times and ids"
                   " below 2^63",
                   CF_SCRIBE_QUERY_MAX, CF_SCRIBE_KIND_MAX);
        return CF_EINVAL;
    }
    /* Parameters are numbered in the order they appear: PostgreSQL refuses gaps. */
    k = snprintf(sql, sizeof(sql), "SELECT " EVENT_COLUMNS " FROM events WHERE id > ?%d", ++p);
    k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND at >= ?%d", ++p);
    if (q->until_ms != 0)
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND at <= ?%d", ++p);
    if (q->kind != NULL)
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND kind = ?%d", ++p);
    if (q->filer != 0)
        k += snprintf(sql + k, sizeof(sql) - (size_t)k, " AND filer = ?%d", ++p);
    k += snprintf(sql + k, sizeof(sql) - (size_t)k, " ORDER BY id LIMIT ?%d", ++p);
    cf_assert(k > 0 && (size_t)k < sizeof(sql));
    db = cf_db_pool_acquire(s->pool);
    rc = cf_db_prepare(db, sql, &st, err);
    if (rc < 0)
        goto out;
    p = 0;
    cf_db_bind_int64(st, ++p, (int64_t)q->after_id);
    cf_db_bind_int64(st, ++p, (int64_t)q->since_ms);
    if (q->until_ms != 0)
        cf_db_bind_int64(st, ++p, (int64_t)q->until_ms);
    if (q->kind != NULL)
        cf_db_bind_text(st, ++p, q->kind);
    if (q->filer != 0)
        cf_db_bind_int64(st, ++p, q->filer);
    cf_db_bind_int64(st, ++p, (int64_t)limit);
    for (;;) {
        struct cf_scribe_event *e;
        int64_t id, at, filer;
        rc = cf_db_step(st, err);
        if (rc < 0)
            goto out;
        if (rc == CF_DB_DONE)
            break;
        if (len == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            v = cf_xrealloc(v, cap * sizeof(*v));
        }
        e = &v[len];
        memset(e, 0, sizeof(*e));
        id = cf_db_column_int64(st, 0);
        at = cf_db_column_int64(st, 1);
        filer = cf_db_column_int64(st, 3);
        if (id < 1 || at < 0 || filer < 0 || filer > UINT32_MAX ||
            cf_db_column_copy_text(st, 2, e->kind, sizeof(e->kind)) < 0 ||
            cf_db_column_copy_text(st, 4, e->object, sizeof(e->object)) < 0 ||
            cf_db_column_copy_text(st, 5, e->message, sizeof(e->message)) < 0) {
            cf_err_set(err, "an events row is out of bounds");
            cf_log(CF_LOG_ERROR, "scribe \"%s\": an events row is out of bounds", s->uri);
            rc = CF_ECORRUPT;
            goto out;
        }
        e->id = (uint64_t)id;
        e->at_ms = (uint64_t)at;
        e->filer = (uint32_t)filer;
        len++;
    }
    *out = v;
    *n = len;
    v = NULL;
    rc = 0;
out:
    free(v);
    cf_db_finalize(st);
    if (db != NULL)
        cf_db_pool_release(s->pool, db);
    return rc;
}

int64_t cf_scribe_trim(struct cf_scribe *s, uint64_t before_ms, char *err)
{
    static const char sql_count[] = "SELECT count(*) FROM events WHERE at < ?1";
    static const char sql_delete[] = "DELETE FROM events WHERE at < ?1";
    struct cf_db *db = cf_db_pool_acquire(s->pool);
    int64_t count = 0;
    int rc;

    if (before_ms > INT64_MAX)
        before_ms = INT64_MAX;
    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, &count, 1, err, sql_count, "i", (int64_t)before_ms);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, NULL, 0, err, sql_delete, "i", (int64_t)before_ms);
    if (rc < 0)
        goto out;
    rc = cf_db_commit(db, err);
out:
    cf_db_rollback(db);
    cf_db_pool_release(s->pool, db);
    return rc < 0 ? rc : count;
}

int64_t cf_scribe_prune(struct cf_scribe *s, uint64_t before_ms, uint64_t max_rows, size_t batch,
                        char *err)
{
    static const char sql_ends[] = "SELECT coalesce(min(at), 0), coalesce(min(id), 0),"
                                   " coalesce(max(id), 0) FROM events";
    /* The oldest first: ORDER BY id walks the key and stops after batch. */
    /* The newest event always stays: ids are max + 1, so readers paging
     * with after_id never see an id used twice. */
    static const char sql_count[] = "SELECT count(*) FROM (SELECT id FROM events"
                                    " WHERE (at < ?1 OR id <= ?2) AND id < ?4"
                                    " ORDER BY id LIMIT ?3) AS due";
    static const char sql_delete[] = "DELETE FROM events WHERE id IN (SELECT id FROM events"
                                     " WHERE (at < ?1 OR id <= ?2) AND id < ?4"
                                     " ORDER BY id LIMIT ?3)";
    struct cf_db *db = cf_db_pool_acquire(s->pool);
    int64_t ends[3] = {0, 0, 0}, count = 0, cutoff = 0;
    int rc;

    cf_assert(batch >= 1);
    if (before_ms > INT64_MAX)
        before_ms = INT64_MAX;
    if (batch > INT64_MAX)
        batch = INT64_MAX;
    rc = cf_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_run(db, ends, 3, err, sql_ends, "");
    if (rc < 0)
        goto out;
    /* Ids are max + 1 at each insert and only the oldest go, so the ids
     * above max - max_rows are at most max_rows events. */
    if (max_rows > 0 && (uint64_t)ends[2] > max_rows)
        cutoff = ends[2] - (int64_t)max_rows;
    if (ends[2] == 0 || ((uint64_t)ends[0] >= before_ms && ends[1] > cutoff))
        goto done; /* nothing due: no scan */
    rc = cf_db_run(db, &count, 1, err, sql_count, "iiii", (int64_t)before_ms, cutoff,
                   (int64_t)batch, ends[2]);
    if (rc < 0)
        goto out;
    if (count > 0)
        rc = cf_db_run(db, NULL, 0, err, sql_delete, "iiii", (int64_t)before_ms, cutoff,
                       (int64_t)batch, ends[2]);
    if (rc < 0)
        goto out;
done:
    rc = cf_db_commit(db, err);
out:
    cf_db_rollback(db);
    cf_db_pool_release(s->pool, db);
    return rc < 0 ? rc : count;
}
