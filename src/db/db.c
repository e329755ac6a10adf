/*
 * db.c -- the backend-independent half of the database interface (db.h):
 * URI dispatch, the per-connection statement cache, deferred bind errors,
 * transactions and the connection pool.
 */
#include "db_int.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coffer/err.h"
#include "coffer/log.h"

/* ---- failures ------------------------------------------------------------ */

void cf__db_log_failure(const struct cf_db *db, int rc, const char *what, const char *detail)
{
    enum cf_log_level level = CF_LOG_ERROR;

    /* Constraint results are answers to the caller, not events (db.h). */
    if (rc == CF_EEXIST || rc == CF_EINVAL)
        return;
    if (rc == CF_EBUSY || rc == CF_EUNAVAIL || rc == CF_ETIMEDOUT)
        level = CF_LOG_WARN;
    cf_log(level, "db \"%s\": %.200s: %s (%s)", db->uri, what, detail, cf_err_name(rc));
}

/* ---- connections --------------------------------------------------------- */

static const char sqlite_scheme[] = "sqlite:";

/* Append n bytes of src to the buffer at *o (room kept for the NUL). */
static void put(char **o, const char *end, const char *src, size_t n)
{
    size_t room = (size_t)(end - *o);

    if (n > room)
        n = room;
    memcpy(*o, src, n);
    *o += n;
}

/* The end of a conninfo value at p: a 'quoted' one (with \-escapes) or a
 * run up to white space. */
static const char *conninfo_value_end(const char *p)
{
    if (*p == '\'') {
        for (p++; *p != '\0' && *p != '\''; p++)
            if (*p == '\\' && p[1] != '\0')
                p++;
        return *p == '\'' ? p + 1 : p;
    }
    return p + strcspn(p, " \t\r\n");
}

char *cf_db_uri_redact(const char *uri)
{
    /* Each mask adds at most 3 bytes where at least 1 went. */
    size_t cap = 2 * strlen(uri) + 8;
    char *r = cf_xmalloc(cap), *o = r, *end = r + cap - 1;
    const char *p = uri, *auth = strstr(uri, "://");
    const char *at = NULL, *colon = NULL;

    if (auth != NULL) {
        const char *hosts = auth + 3, *hend = hosts + strcspn(hosts, "/?#");
        at = memchr(hosts, '@', (size_t)(hend - hosts));
        colon = at != NULL ? memchr(hosts, ':', (size_t)(at - hosts)) : NULL;
    }
    while (*p != '\0') {
        if (colon != NULL && p == colon + 1) {
            /* "user:PASS@host" */
            put(&o, end, "***", 3);
            p = at;
            continue;
        }
        if (strncmp(p, "password", 8) == 0 &&
            (p == uri || strchr(auth != NULL ? "?&" : " \t:", p[-1]) != NULL)) {
            const char *q = p + 8;
            while (*q == ' ' || *q == '\t')
                q++;
            if (*q == '=') {
                q++;
                if (auth == NULL)
                    while (*q == ' ' || *q == '\t')
                        q++;
                put(&o, end, p, (size_t)(q - p));
                put(&o, end, "***", 3);
                /* "?password=PASS&..." in a URI, a value in a conninfo */
                p = auth != NULL ? q + strcspn(q, "&#") : conninfo_value_end(q);
                continue;
            }
        }
        put(&o, end, p, 1);
        p++;
    }
    *o = '\0';
    return r;
}

int cf_db_open(const char *uri, struct cf_db **out, char *err)
{
    struct cf_db *db = NULL;
    const struct cf__db_ops *ops = NULL;
    const char *target = NULL;
    char detail[CF_ERR_LEN] = "", *shown = NULL;
    int rc = 0;

    *out = NULL;
    if (strlen(uri) > CF_DB_URI_MAX) {
        cf_err_set(err, "database URI longer than %d bytes", CF_DB_URI_MAX);
        rc = CF_EINVAL;
        goto out;
    }
    shown = cf_db_uri_redact(uri);
    if (strncmp(uri, sqlite_scheme, sizeof(sqlite_scheme) - 1) == 0) {
        ops = &cf__db_sqlite_ops;
        target = uri + sizeof(sqlite_scheme) - 1;
    } else if (strncmp(uri, "postgres://", 11) == 0 || strncmp(uri, "postgresql://", 13) == 0) {
        ops = &cf__db_postgres_ops;
        target = uri; /* libpq parses the URI itself */
    } else if (strncmp(uri, "postgres:", 9) == 0) {
        ops = &cf__db_postgres_ops;
        target = uri + 9; /* a key=value conninfo */
    } else {
        cf_err_set(err,
                   "database \"%s\": unknown scheme (expected sqlite:PATH, postgres://..."
                   " or postgres:CONNINFO)",
                   shown);
        rc = CF_EINVAL;
        goto out;
    }
    db = cf_xcalloc(1, sizeof(*db));
    db->ops = ops;
    db->uri = shown; /* for messages only */
    shown = NULL;
    rc = ops->open(db, target, detail);
    if (rc < 0) {
        cf__db_log_failure(db, rc, "open", detail);
        cf_err_set(err, "database \"%s\": %s", db->uri, detail);
        goto out;
    }
    *out = db;
    db = NULL;
out:
    if (db != NULL) {
        free(db->uri);
        free(db);
    }
    free(shown);
    return rc;
}

void cf_db_close(struct cf_db *db)
{
    struct cf_db_stmt *s;
    size_t i;

    if (db == NULL)
        return;
    cf_assert(db->nout == 0);
    cf_db_rollback(db);
    for (i = 0; i < CF__DB_STMT_SLOTS; i++) {
        s = db->slots[i];
        if (s == NULL)
            continue;
        db->ops->finalize(s);
        free(s->sql);
        free(s);
    }
    db->ops->close(db);
    free(db->uri);
    free(db);
}

const char *cf_db_backend(const struct cf_db *db)
{
    return db->ops->name;
}

int cf_db_set_busy_timeout(struct cf_db *db, unsigned ms)
{
    return db->ops->set_busy_timeout(db, ms);
}

int cf_db_exec(struct cf_db *db, const char *sql, char *err)
{
    char detail[CF_ERR_LEN] = "";
    int rc = db->ops->exec(db, sql, detail);

    if (rc < 0) {
        cf__db_log_failure(db, rc, sql, detail);
        cf_err_set(err, "%s", detail);
    }
    return rc;
}

/* The name a schema statement creates, if it is "CREATE TABLE|INDEX IF NOT
 * EXISTS name ..." (leading blanks skipped), into name[cap]; false for any
 * other statement or a name that does not fit. */
static bool created_name(const char *stmt, size_t len, char *name, size_t cap)
{
    static const char *const forms[] = {"CREATE TABLE IF NOT EXISTS ",
                                        "CREATE INDEX IF NOT EXISTS ",
                                        "CREATE UNIQUE INDEX IF NOT EXISTS "};
    const char *end = stmt + len;
    size_t n = 0;

    while (stmt < end && isspace((unsigned char)*stmt))
        stmt++;
    for (size_t i = 0; i < CF_ARRAY_LEN(forms); i++) {
        size_t fl = strlen(forms[i]);
        if ((size_t)(end - stmt) <= fl || strncmp(stmt, forms[i], fl) != 0)
            continue;
        for (stmt += fl; stmt < end && (isalnum((unsigned char)*stmt) || *stmt == '_'); stmt++) {
            if (n + 1 >= cap)
                return false;
            /* Unquoted identifiers: PostgreSQL folds them to lower case. */
            name[n++] = (char)tolower((unsigned char)*stmt);
        }
        name[n] = '\0';
        return n > 0 && (stmt == end || isspace((unsigned char)*stmt) || *stmt == '(');
    }
    return false;
}

int cf_db_schema_missing(struct cf_db *db, const char *sql, bool *missing, char *err)
{
    /* Names are compared folded to lower case, as PostgreSQL folds them and
     * as SQLite matches them (case-insensitively). */
    static const char sql_sqlite[] = "SELECT count(*) FROM sqlite_master WHERE lower(name) = ?1";
    static const char sql_pg[] =
        "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
        " ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relname = ?1";
    bool pg = strcmp(cf_db_backend(db), "postgres") == 0;
    const char *p = sql;
    int rc = 0;

    /* Comments and quoted identifiers are beyond this splitter: a script
     * with any of them is always run. */
    *missing = strstr(sql, "--") != NULL || strstr(sql, "/*") != NULL || strchr(sql, '"') != NULL;
    while (!*missing && *p != '\0') {
        /* Statements end at ';' outside quoted literals. */
        const char *q = p;
        bool quoted = false;
        char name[64];
        int64_t has = 0;

        for (; *q != '\0' && (quoted || *q != ';'); q++)
            if (*q == '\'')
                quoted = !quoted;
        if (strspn(p, " \t\r\n") < (size_t)(q - p)) {
            if (!created_name(p, (size_t)(q - p), name, sizeof(name))) {
                *missing = true; /* not a statement this check understands: run it */
                break;
            }
            rc = cf_db_run(db, &has, 1, err, pg ? sql_pg : sql_sqlite, "t", name);
            if (rc < 0)
                return rc;
            *missing = has == 0;
        }
        p = *q == ';' ? q + 1 : q;
    }
    return 0;
}

int cf_db_exec_missing(struct cf_db *db, const char *sql, char *err)
{
    bool missing = true;
    int rc = cf_db_schema_missing(db, sql, &missing, err);

    if (rc == 0 && missing)
        rc = cf_db_exec(db, sql, err);
    return rc;
}

int cf_db_exec_schema(struct cf_db *db, const char *sql, char *err)
{
    bool missing = true;
    int rc;

    /* Refused in a caller's transaction, whatever is missing; that
     * transaction is left alone. */
    if (cf_db_in_transaction(db))
        return cf_db_begin(db, err);
    rc = cf_db_schema_missing(db, sql, &missing, err);
    if (rc < 0 || !missing)
        return rc;
    rc = cf_db_begin(db, err);
    if (rc < 0)
        return rc;
    rc = cf_db_exec_missing(db, sql, err);
    if (rc == 0)
        rc = cf_db_commit(db, err);
    cf_db_rollback(db);
    return rc;
}

/* ---- statements ---------------------------------------------------------- */

/* FNV-1a 64 of the text: where the cache's probe starts, and a cheap
 * filter before strcmp. */
static uint64_t sql_hash(const char *p)
{
    uint64_t h = UINT64_C(14695981039346656037);

    for (; *p != '\0'; p++) {
        h ^= (unsigned char)*p;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

_Static_assert(CF__DB_STMT_SLOTS >= 2 * CF_DB_STMT_CACHE_MAX &&
                   (CF__DB_STMT_SLOTS & (CF__DB_STMT_SLOTS - 1)) == 0,
               "the statement table is a power of two, at most half full");
_Static_assert((CF__DB_STMT_MEMO & (CF__DB_STMT_MEMO - 1)) == 0, "the memo is a power of two");

/* The memo entry for the address sql (its low bits are alignment). */
static struct cf__db_memo *memo_of(struct cf_db *db, const char *sql)
{
    uintptr_t a = (uintptr_t)sql;

    return &db->memo[((a >> 3) ^ (a >> 10)) & (CF__DB_STMT_MEMO - 1)];
}

int cf_db_prepare(struct cf_db *db, const char *sql, struct cf_db_stmt **out, char *err)
{
    struct cf_db_stmt *s = NULL, *c;
    struct cf__db_memo *m = memo_of(db, sql);
    char detail[CF_ERR_LEN] = "";
    uint64_t hash;
    size_t i;
    bool dup = false;
    int rc = 0;

    *out = NULL;
    /* The same address as last time and the same text: the cached statement. */
    if (m->sql == sql && !m->s->in_use && strcmp(m->s->sql, sql) == 0) {
        s = m->s;
        goto found;
    }
    hash = sql_hash(sql);
    for (i = hash & (CF__DB_STMT_SLOTS - 1); (c = db->slots[i]) != NULL;
         i = (i + 1) & (CF__DB_STMT_SLOTS - 1)) {
        if (c->hash != hash || strcmp(c->sql, sql) != 0)
            continue;
        if (!c->in_use) {
            s = c;
            m->sql = sql;
            m->s = s;
            goto found;
        }
        dup = true; /* the cache holds one statement per text */
        break;
    }
    s = cf_xcalloc(1, sizeof(*s));
    s->db = db;
    s->sql = cf_xstrdup(sql);
    s->hash = hash;
    rc = db->ops->prepare(s, detail);
    if (rc < 0) {
        cf__db_log_failure(db, rc, sql, detail);
        cf_err_set(err, "%s", detail);
        free(s->sql);
        free(s);
        s = NULL;
        goto out;
    }
    /* A second copy of an in-use statement is used once: the cache keeps one
     * per text. i is the empty slot that ended the probe. */
    if (!dup && db->ncached < CF_DB_STMT_CACHE_MAX) {
        s->cached = true;
        db->slots[i] = s;
        db->ncached++;
        m->sql = sql;
        m->s = s;
    }
found:
    s->in_use = true;
    db->nout++;
    *out = s;
out:
    return rc;
}

void cf_db_reset(struct cf_db_stmt *s)
{
    s->db->ops->reset(s);
    s->bind_err = 0;
}

void cf_db_finalize(struct cf_db_stmt *s)
{
    if (s == NULL)
        return;
    cf_assert(s->in_use);
    s->in_use = false;
    s->db->nout--;
    if (s->cached) {
        cf_db_reset(s);
        return;
    }
    s->db->ops->finalize(s);
    free(s->sql);
    free(s);
}

static void note_bind(struct cf_db_stmt *s, int i, int rc, int native)
{
    if (rc < 0 && s->bind_err == 0) {
        s->bind_err = rc;
        s->bind_index = i;
        s->bind_native = native;
    }
}

void cf_db_bind_int64(struct cf_db_stmt *s, int i, int64_t v)
{
    int native = 0;
    int rc = s->db->ops->bind_int64(s, i, v, &native);

    note_bind(s, i, rc, native);
}

void cf_db_bind_text(struct cf_db_stmt *s, int i, const char *str)
{
    int native = 0;
    int rc = s->db->ops->bind_text(s, i, str, &native);

    note_bind(s, i, rc, native);
}

void cf_db_bind_blob(struct cf_db_stmt *s, int i, const void *p, size_t n)
{
    int native = 0;
    int rc = s->db->ops->bind_blob(s, i, p, n, &native);

    note_bind(s, i, rc, native);
}

void cf_db_bind_null(struct cf_db_stmt *s, int i)
{
    int native = 0;
    int rc = s->db->ops->bind_null(s, i, &native);

    note_bind(s, i, rc, native);
}

int cf_db_step(struct cf_db_stmt *s, char *err)
{
    char detail[CF_ERR_LEN] = "";
    int rc;

    if (s->bind_err != 0) {
        /* A bad bind is a bug or an input that escaped its cap: worth a line. */
        (void)snprintf(detail, sizeof(detail), "binding parameter ?%d failed [%s %d]",
                       s->bind_index, s->db->ops->name, s->bind_native);
        cf_log(CF_LOG_ERROR, "db \"%s\": %.200s: %s", s->db->uri, s->sql, detail);
        rc = CF_EINVAL;
    } else {
        rc = s->db->ops->step(s, detail);
        if (rc < 0)
            cf__db_log_failure(s->db, rc, s->sql, detail);
    }
    if (rc < 0)
        cf_err_set(err, "%s", detail);
    return rc;
}

int cf_db_step_one(struct cf_db_stmt *s, int64_t *vals, int n, char *err)
{
    int rc, first;

    first = cf_db_step(s, err);
    rc = first;
    if (first != CF_DB_ROW)
        goto out;
    for (int i = 0; vals != NULL && i < n; i++)
        vals[i] = cf_db_column_int64(s, i);
    rc = cf_db_step(s, err);
    if (rc == CF_DB_ROW) {
        cf_err_set(err, "statement returned more than one row");
        cf_log(CF_LOG_ERROR, "db \"%s\": %.200s: more than one row", s->db->uri, s->sql);
        rc = CF_EINTERNAL;
    }
    if (rc == CF_DB_DONE)
        rc = first;
out:
    return rc;
}

/* ---- one-call statements ------------------------------------------------ */

/* Bind ?1.. of s from ap as `types` says (db.h, cf_db_query). */
static void bind_args(struct cf_db_stmt *s, const char *types, va_list ap)
{
    for (int i = 0; types[i] != '\0'; i++) {
        int idx = i + 1;
        int64_t v;
        const char *t;
        const void *p;
        size_t n;

        switch (types[i]) {
        case 'i':
            cf_db_bind_int64(s, idx, va_arg(ap, int64_t));
            break;
        case 'z':
            v = va_arg(ap, int64_t);
            if (v == 0)
                cf_db_bind_null(s, idx);
            else
                cf_db_bind_int64(s, idx, v);
            break;
        case 't':
            t = va_arg(ap, const char *);
            cf_db_bind_text(s, idx, t);
            break;
        case 'b':
            p = va_arg(ap, const void *);
            n = va_arg(ap, size_t);
            cf_db_bind_blob(s, idx, p, n);
            break;
        default:
            cf_assert(!"bad bind type");
        }
    }
}

int cf_db_query(struct cf_db *db, struct cf_db_stmt **out, char *err, const char *sql,
                const char *types, ...)
{
    va_list ap;
    int rc;

    rc = cf_db_prepare(db, sql, out, err);
    if (rc < 0)
        goto out;
    va_start(ap, types);
    bind_args(*out, types, ap);
    va_end(ap);
out:
    return rc;
}

int cf_db_run(struct cf_db *db, int64_t *vals, int nvals, char *err, const char *sql,
              const char *types, ...)
{
    struct cf_db_stmt *s = NULL;
    va_list ap;
    int rc;

    rc = cf_db_prepare(db, sql, &s, err);
    if (rc < 0)
        goto out;
    va_start(ap, types);
    bind_args(s, types, ap);
    va_end(ap);
    rc = cf_db_step_one(s, vals, vals == NULL ? 0 : nvals, err);
out:
    cf_db_finalize(s);
    return rc;
}

int cf_db_add_columns(struct cf_db *db, const struct cf_db_column *cols, size_t n, char *err)
{
    static const char sql_sqlite[] = "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2";
    static const char sql_pg[] =
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = ?1 AND column_name = ?2";
    bool pg = strcmp(cf_db_backend(db), "postgres") == 0;
    int rc = 0;

    for (size_t i = 0; rc >= 0 && i < n; i++) {
        int64_t has = 0;
        rc = cf_db_run(db, &has, 1, err, pg ? sql_pg : sql_sqlite, "tt", cols[i].table,
                       cols[i].column);
        if (rc >= 0 && has == 0)
            rc = cf_db_exec(db, cols[i].sql, err);
    }
    return rc < 0 ? rc : 0;
}

int cf_db_collect(struct cf_db_stmt *s, size_t elem_size,
                  int (*read)(struct cf_db_stmt *s, void *elem), void **out, size_t *n, char *err)
{
    char *v = NULL;
    size_t len = 0, cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    for (;;) {
        rc = cf_db_step(s, err);
        if (rc <= 0)
            break;
        if (len == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            v = cf_xrealloc(v, cap * elem_size);
        }
        rc = read(s, v + len * elem_size);
        if (rc < 0) {
            cf_err_set(err, "a row is out of bounds");
            break;
        }
        len++;
    }
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

int64_t cf_db_column_int64(struct cf_db_stmt *s, int i)
{
    return s->db->ops->column_int64(s, i);
}

const char *cf_db_column_text(struct cf_db_stmt *s, int i, size_t *len)
{
    return s->db->ops->column_text(s, i, len);
}

const void *cf_db_column_blob(struct cf_db_stmt *s, int i, size_t *len)
{
    return s->db->ops->column_blob(s, i, len);
}

bool cf_db_column_is_null(struct cf_db_stmt *s, int i)
{
    return s->db->ops->column_is_null(s, i);
}

/* ---- transactions -------------------------------------------------------- */

/* Run a parameterless statement that returns no rows, through the cache. */
static int run_simple(struct cf_db *db, const char *sql, char *err)
{
    struct cf_db_stmt *s = NULL;
    int rc;

    rc = cf_db_prepare(db, sql, &s, err);
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc == CF_DB_ROW)
        rc = 0;
out:
    cf_db_finalize(s);
    return rc;
}

bool cf_db_in_transaction(struct cf_db *db)
{
    return db->ops->in_transaction(db);
}

int cf_db_begin(struct cf_db *db, char *err)
{
    int rc;

    if (cf_db_in_transaction(db)) {
        cf_err_set(err, "a transaction is already open");
        cf_log(CF_LOG_ERROR, "db \"%s\": begin inside a transaction", db->uri);
        rc = CF_EINTERNAL;
    } else {
        if (db->ops->begin != NULL) {
            char detail[CF_ERR_LEN] = "";

            rc = db->ops->begin(db, detail);
            if (rc < 0) {
                cf__db_log_failure(db, rc, "begin", detail);
                cf_err_set(err, "%s", detail);
            }
        } else {
            rc = run_simple(db, db->ops->begin_sql, err);
        }
    }
    return rc;
}

int cf_db_begin_read(struct cf_db *db, char *err)
{
    if (cf_db_in_transaction(db)) {
        cf_err_set(err, "a transaction is already open");
        cf_log(CF_LOG_ERROR, "db \"%s\": begin inside a transaction", db->uri);
        return CF_EINTERNAL;
    }
    if (db->ops->begin_read_sql == NULL)
        return 0;
    return run_simple(db, db->ops->begin_read_sql, err);
}

int cf_db_commit(struct cf_db *db, char *err)
{
    int rc = run_simple(db, "COMMIT", err);

    /* A failed COMMIT may leave the transaction open (SQLITE_BUSY): db.h
     * promises that nothing of it stays visible or pending. */
    if (rc < 0)
        cf_db_rollback(db);
    return rc;
}

void cf_db_rollback(struct cf_db *db)
{
    if (!cf_db_in_transaction(db))
        return;
    /* Logged inside if it fails; the connection then stays unusable, which
     * the next statement reports. */
    (void)run_simple(db, "ROLLBACK", NULL);
}

/* ---- pool ------------------------------------------------------------------ */

struct cf_db_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;  /* on CLOCK_MONOTONIC */
    struct cf_db *free; /* idle connections, most recently released first */
    unsigned n, nfree;
    unsigned wait_ms;
    struct cf_db **all;
};

/* cf_db_pool_set_default_wait: written once at start-up, before any pool. */
static unsigned default_wait_ms = CF_DB_POOL_WAIT_MS;

void cf_db_pool_set_default_wait(unsigned ms)
{
    default_wait_ms = ms == 0 ? CF_DB_POOL_WAIT_MS : ms;
}

/* ---- the stand-in connection of an acquire that waited too long ---- */

static int refuse(char *err)
{
    cf_err_set(err, "no free database connection within the pool's wait");
    return CF_EBUSY;
}

static int refuse_open(struct cf_db *db, const char *target, char *err)
{
    (void)db;
    (void)target;
    return refuse(err);
}

static void refuse_close(struct cf_db *db)
{
    (void)db;
}

static int refuse_set_busy_timeout(struct cf_db *db, unsigned ms)
{
    (void)db;
    (void)ms;
    return CF_EBUSY;
}

static int refuse_db(struct cf_db *db, char *err)
{
    (void)db;
    return refuse(err);
}

static int refuse_exec(struct cf_db *db, const char *sql, char *err)
{
    (void)db;
    (void)sql;
    return refuse(err);
}

static bool refuse_in_transaction(struct cf_db *db)
{
    (void)db;
    return false;
}

static int refuse_prepare(struct cf_db_stmt *s, char *err)
{
    (void)s;
    return refuse(err);
}

/* No statement of a stand-in is ever prepared: the rest is unreachable. */
static void refuse_stmt(struct cf_db_stmt *s)
{
    (void)s;
}

static int refuse_bind_int64(struct cf_db_stmt *s, int i, int64_t v, int *native)
{
    (void)s;
    (void)v;
    *native = i;
    return CF_EBUSY;
}

static int refuse_bind_text(struct cf_db_stmt *s, int i, const char *str, int *native)
{
    (void)s;
    (void)str;
    *native = i;
    return CF_EBUSY;
}

static int refuse_bind_blob(struct cf_db_stmt *s, int i, const void *p, size_t n, int *native)
{
    (void)s;
    (void)p;
    (void)n;
    *native = i;
    return CF_EBUSY;
}

static int refuse_bind_null(struct cf_db_stmt *s, int i, int *native)
{
    (void)s;
    *native = i;
    return CF_EBUSY;
}

static int refuse_step(struct cf_db_stmt *s, char *err)
{
    (void)s;
    return refuse(err);
}

static int64_t refuse_column_int64(struct cf_db_stmt *s, int i)
{
    (void)s;
    (void)i;
    return 0;
}

static const char *refuse_column_text(struct cf_db_stmt *s, int i, size_t *len)
{
    (void)s;
    (void)i;
    if (len != NULL)
        *len = 0;
    return NULL;
}

static const void *refuse_column_blob(struct cf_db_stmt *s, int i, size_t *len)
{
    (void)s;
    (void)i;
    if (len != NULL)
        *len = 0;
    return NULL;
}

static bool refuse_column_is_null(struct cf_db_stmt *s, int i)
{
    (void)s;
    (void)i;
    return true;
}

static const struct cf__db_ops refuse_ops = {
    .name = "busy",
    .begin_sql = NULL,
    .begin = refuse_db,
    .open = refuse_open,
    .close = refuse_close,
    .set_busy_timeout = refuse_set_busy_timeout,
    .exec = refuse_exec,
    .in_transaction = refuse_in_transaction,
    .prepare = refuse_prepare,
    .finalize = refuse_stmt,
    .reset = refuse_stmt,
    .bind_int64 = refuse_bind_int64,
    .bind_text = refuse_bind_text,
    .bind_blob = refuse_bind_blob,
    .bind_null = refuse_bind_null,
    .step = refuse_step,
    .column_int64 = refuse_column_int64,
    .column_text = refuse_column_text,
    .column_blob = refuse_column_blob,
    .column_is_null = refuse_column_is_null,
};

int cf_db_pool_open(const char *uri, unsigned n, struct cf_db_pool **out, char *err)
{
    struct cf_db_pool *p = NULL;
    pthread_condattr_t ca;
    int rc = 0;

    *out = NULL;
    if (n < 1 || n > CF_DB_POOL_MAX) {
        cf_err_set(err, "pool size %u outside 1..%d", n, CF_DB_POOL_MAX);
        rc = CF_EINVAL;
        goto out;
    }
    p = cf_xcalloc(1, sizeof(*p));
    p->all = cf_xcalloc(n, sizeof(*p->all));
    p->wait_ms = default_wait_ms;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    for (; p->n < n; p->n++) {
        rc = cf_db_open(uri, &p->all[p->n], err);
        if (rc < 0)
            goto out;
        p->all[p->n]->next_free = p->free;
        p->free = p->all[p->n];
        p->nfree++;
    }
    *out = p;
    p = NULL;
out:
    cf_db_pool_close(p);
    return rc;
}

struct cf_db *cf_db_pool_acquire(struct cf_db_pool *p)
{
    struct cf_db *db;
    struct timespec until;
    int w = 0;

    (void)clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(p->wait_ms / 1000);
    until.tv_nsec += (long)(p->wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    while (p->free == NULL && w != ETIMEDOUT)
        w = pthread_cond_timedwait(&p->cv, &p->mu, &until);
    if (p->free == NULL) {
        pthread_mutex_unlock(&p->mu);
        db = cf_xcalloc(1, sizeof(*db));
        db->ops = &refuse_ops;
        db->uri = cf_xstrdup(p->all[0]->uri);
        cf_log(CF_LOG_WARN, "db \"%s\": no connection of %u came free within %u ms", db->uri, p->n,
               p->wait_ms);
        return db;
    }
    db = p->free;
    p->free = db->next_free;
    p->nfree--;
    pthread_mutex_unlock(&p->mu);
    db->next_free = NULL;
    return db;
}

void cf_db_pool_release(struct cf_db_pool *p, struct cf_db *db)
{
    if (db->ops == &refuse_ops) {
        cf_db_close(db);
        return;
    }
    /* Another thread will use db next: a statement still out would be shared. */
    cf_assert(db->nout == 0);
    if (cf_db_in_transaction(db)) {
        cf_log(CF_LOG_ERROR, "db \"%s\": connection released inside a transaction; rolled back",
               db->uri);
        cf_db_rollback(db);
    }
    pthread_mutex_lock(&p->mu);
    db->next_free = p->free;
    p->free = db;
    p->nfree++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

unsigned cf_db_pool_default(const char *uri)
{
    return strncmp(uri, "sqlite:", 7) == 0 ? CF_DB_POOL_SQLITE : CF_DB_POOL_PG;
}

unsigned cf_db_pool_size(const struct cf_db_pool *p)
{
    return p->n;
}

void cf_db_pool_close(struct cf_db_pool *p)
{
    if (p == NULL)
        return;
    cf_assert(p->nfree == p->n);
    for (unsigned i = 0; i < p->n; i++)
        cf_db_close(p->all[i]);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->all);
    free(p);
}

char *cf_db_sqlite_dir(const char *uri)
{
    static const char scheme[] = "sqlite:";
    const char *path, *slash;

    if (strncmp(uri, scheme, sizeof(scheme) - 1) != 0)
        return NULL;
    path = uri + sizeof(scheme) - 1;
    slash = strrchr(path, '/');
    if (slash == NULL)
        return cf_xstrdup(".");
    if (slash == path)
        return cf_xstrdup("/");
    return cf_xstrndup(path, (size_t)(slash - path));
}

int cf_db_column_copy_text(struct cf_db_stmt *s, int i, char *out, size_t cap)
{
    size_t len = 0;
    const char *p = cf_db_column_text(s, i, &len);

    if (len >= cap)
        return CF_ECORRUPT;
    if (len > 0)
        memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

int cf_db_meta_check(struct cf_db *db, const char *uri, const char *kind, int64_t version,
                     int64_t shard_id, const char *shard_word, char *err)
{
    static const char sql[] = "SELECT kind, version, shard_id FROM coffer_meta WHERE id = 1";
    struct cf_db_stmt *s = NULL;
    char got[16], detail[CF_ERR_LEN] = "", *shown = cf_db_uri_redact(uri);
    int64_t v, sid;
    int rc;

    /* A database without the table is not ours: say so rather than "no such table". */
    rc = cf_db_prepare(db, sql, &s, detail);
    if (rc == CF_EINTERNAL) {
        cf_err_set(err, "\"%s\" is not a coffer %s (%s)", shown, kind, detail);
        rc = CF_EINVAL;
    } else if (rc < 0) {
        cf_err_set(err, "%s", detail);
    }
    if (rc < 0)
        goto out;
    rc = cf_db_step(s, err);
    if (rc < 0)
        goto out;
    if (rc == CF_DB_DONE || cf_db_column_copy_text(s, 0, got, sizeof(got)) < 0) {
        cf_err_set(err, "\"%s\" is not a coffer %s", shown, kind);
        rc = CF_EINVAL;
        goto out;
    }
    v = cf_db_column_int64(s, 1);
    sid = cf_db_column_int64(s, 2);
    if (strcmp(got, kind) != 0) {
        cf_err_set(err, "\"%s\" is a coffer %s, not a %s", shown, got, kind);
        rc = CF_EINVAL;
    } else if (v != version) {
        cf_err_set(err, "\"%s\" has schema version %lld; this coffer reads version %lld", shown,
                   (long long)v, (long long)version);
        rc = CF_EINVAL;
    } else if (sid != shard_id) {
        cf_err_set(err, "\"%s\" holds %s %lld, not %s %lld", shown, shard_word, (long long)sid,
                   shard_word, (long long)shard_id);
        rc = CF_EINVAL;
    } else {
        rc = 0;
    }
out:
    cf_db_finalize(s);
    free(shown);
    return rc;
}
