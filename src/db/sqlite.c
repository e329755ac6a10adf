/*
 * sqlite.c -- the SQLite backend of the database interface (db.h, db_int.h).
 *
 * A connection is opened in SQLite's multi-thread mode (SQLITE_OPEN_NOMUTEX):
 * db.h promises one thread per connection at a time, so SQLite's own
 * per-connection mutex would be pure cost.
 *
 * Durability (DESIGN §4, db.h): WAL with synchronous=NORMAL, and every call
 * that commits returns only after the group barrier of sqsync.c has the
 * -wal on stable storage; concurrent commits share one fsync. Write
 * transactions of this process queue for their turn there before BEGIN
 * IMMEDIATE; SQLite's busy timeout still covers other processes.
 *
 * Reads go through a memory map of the database file (db.h
 * CF_DB_SQLITE_MMAP_SIZE), so a large database is read from the kernel's
 * page cache in place instead of pread() into each connection's small cache.
 */
#include "db_int.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sqlite3.h>

#include "coffer/err.h"
#include "coffer/io.h"

/* Map an extended result code to the error space (db.h "Errors"). */
static int map_rc(int xrc)
{
    switch (xrc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return CF_EEXIST;
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
        return CF_EINVAL;
    case SQLITE_ERROR:
    case SQLITE_MISUSE:
        return CF_EINTERNAL;
    default:
        break;
    }
    switch (xrc & 0xff) {
    case SQLITE_CONSTRAINT:
        return CF_EINVAL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CF_EBUSY;
    case SQLITE_FULL:
        return CF_ENOSPC;
    case SQLITE_READONLY:
        return CF_EREADONLY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return CF_ECORRUPT;
    case SQLITE_NOMEM:
        return CF_ENOMEM;
    default:
        return CF_EIO;
    }
}

/* Put msg (or SQLite's text for xrc) in err and return the mapped code. */
static int fail(int xrc, const char *msg, char *err)
{
    cf_err_set(err, "%s [sqlite %d]", msg != NULL ? msg : sqlite3_errstr(xrc), xrc);
    return map_rc(xrc);
}

/* Run a PRAGMA that returns one value and compare it with `want`. */
static int pragma_expect(sqlite3 *h, const char *sql, const char *want, char *err)
{
    sqlite3_stmt *st = NULL;
    const char *got;
    int xrc, rc = 0;

    xrc = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
    if (xrc != SQLITE_OK) {
        rc = fail(xrc, sqlite3_errmsg(h), err);
        goto out;
    }
    xrc = sqlite3_step(st);
    if (xrc != SQLITE_ROW) {
        rc = fail(xrc, sqlite3_errmsg(h), err);
        goto out;
    }
    got = (const char *)sqlite3_column_text(st, 0);
    if (got == NULL || strcmp(got, want) != 0) {
        cf_err_set(err, "\"%s\" gave \"%s\", expected \"%s\"", sql, got != NULL ? got : "(null)",
                   want);
        rc = CF_EIO;
        goto out;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

static int sq_open(struct cf_db *db, const char *target, char *err)
{
    char mmap_sql[64];
    sqlite3 *h = NULL;
    int xrc, rc = 0;

    if (sqlite3_threadsafe() == 0) {
        cf_err_set(err, "libsqlite3 was built without thread support");
        rc = CF_EINTERNAL;
        goto out;
    }
    /* A "file:" name would be parsed as an SQLite URI by some builds. */
    if (target[0] == '\0' || strncmp(target, "file:", 5) == 0) {
        cf_err_set(err, "sqlite: needs a file path (not empty, not \"file:...\")");
        rc = CF_EINVAL;
        goto out;
    }
    /* A database left readable by others (an older version, a wide umask)
     * is tightened; a new one is made under coffer's umask 077, and SQLite
     * gives the -wal and -shm files the mode of the database file. */
    if (strcmp(target, ":memory:") != 0) {
        static const char *const sibs[] = {"-wal", "-shm", "-journal", NULL};
        rc = cf_io_private_file(target, sibs, err);
        if (rc < 0) {
            rc = CF_EIO;
            goto out;
        }
    }
    xrc = sqlite3_open_v2(target, &h,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (xrc != SQLITE_OK) {
        rc = fail(xrc, h != NULL ? sqlite3_errmsg(h) : NULL, err);
        goto out;
    }
    sqlite3_extended_result_codes(h, 1);
    /* Before journal_mode: switching to WAL needs a lock another process may hold. */
    sqlite3_busy_timeout(h, CF_DB_BUSY_TIMEOUT_MS);
    /* DESIGN §4: WAL, readers never block the writer. synchronous=NORMAL
     * leaves the fsync of a commit to the group barrier (sqsync.c), which
     * runs before the committing call returns, so a committed record still
     * survives power loss. */
    rc = pragma_expect(h, "PRAGMA journal_mode=WAL", "wal", err);
    if (rc < 0)
        goto out;
    xrc = sqlite3_exec(h, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    if (xrc != SQLITE_OK) {
        rc = fail(xrc, sqlite3_errmsg(h), err);
        goto out;
    }
    /* Both pragmas are silently ignored by builds that omit the feature. */
    rc = pragma_expect(h, "PRAGMA synchronous", "1", err);
    if (rc < 0)
        goto out;
    rc = pragma_expect(h, "PRAGMA foreign_keys", "1", err);
    if (rc < 0)
        goto out;
    /* Read the file through a memory map (db.h CF_DB_SQLITE_MMAP_SIZE). A
     * build without memory-mapped I/O ignores it and reads as before. */
    (void)snprintf(mmap_sql, sizeof(mmap_sql), "PRAGMA mmap_size=%" PRId64,
                   (int64_t)CF_DB_SQLITE_MMAP_SIZE);
    xrc = sqlite3_exec(h, mmap_sql, NULL, NULL, NULL);
    if (xrc != SQLITE_OK) {
        rc = fail(xrc, sqlite3_errmsg(h), err);
        goto out;
    }
    rc = cf__sqsync_attach(h, &db->sync, err);
    if (rc < 0)
        goto out;
    db->h = h;
    h = NULL;
out:
    sqlite3_close(h);
    return rc;
}

static void sq_close(struct cf_db *db)
{
    cf__sqsync_detach(db->sync, db->h);
    db->sync = NULL;
    sqlite3_close(db->h);
    db->h = NULL;
}

static int sq_set_busy_timeout(struct cf_db *db, unsigned ms)
{
    int xrc = sqlite3_busy_timeout(db->h, ms > INT_MAX ? INT_MAX : (int)ms);

    cf__sqsync_set_wait(db->sync, ms);
    return xrc == SQLITE_OK ? 0 : CF_EIO;
}

static int sq_exec(struct cf_db *db, const char *sql, char *err)
{
    char *msg = NULL;
    int xrc, rc = 0;

    xrc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);
    if (xrc != SQLITE_OK)
        rc = fail(sqlite3_extended_errcode(db->h), msg, err);
    sqlite3_free(msg);
    xrc = cf__sqsync_after(db->sync, rc < 0 ? NULL : err);
    return rc < 0 ? rc : xrc;
}

/* BEGIN IMMEDIATE after this process's earlier writers (sqsync.c). */
static int sq_begin(struct cf_db *db, char *err)
{
    int rc = cf__sqsync_turn(db->sync, err);

    if (rc < 0)
        return rc;
    rc = sq_exec(db, "BEGIN IMMEDIATE", err);
    if (rc < 0)
        (void)cf__sqsync_after(db->sync, NULL);
    return rc;
}

static bool sq_in_transaction(struct cf_db *db)
{
    return sqlite3_get_autocommit(db->h) == 0;
}

static bool only_blanks(const char *p)
{
    for (; *p != '\0'; p++)
        if (strchr(" \t\r\n;", *p) == NULL)
            return false;
    return true;
}

static int sq_prepare(struct cf_db_stmt *s, char *err)
{
    sqlite3 *h = s->db->h;
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int xrc, rc = 0;

    /* PERSISTENT: cached statements live as long as the connection. */
    xrc = sqlite3_prepare_v3(h, s->sql, -1, SQLITE_PREPARE_PERSISTENT, &st, &tail);
    if (xrc != SQLITE_OK) {
        rc = fail(sqlite3_extended_errcode(h), sqlite3_errmsg(h), err);
        goto out;
    }
    if (st == NULL || (tail != NULL && !only_blanks(tail))) {
        cf_err_set(err, "cf_db_prepare takes exactly one statement");
        rc = CF_EINTERNAL;
        goto out;
    }
    s->h = st;
    st = NULL;
out:
    sqlite3_finalize(st);
    return rc;
}

static void sq_finalize(struct cf_db_stmt *s)
{
    sqlite3_finalize(s->h);
    s->h = NULL;
}

static void sq_reset(struct cf_db_stmt *s)
{
    /* sqlite3_reset repeats the last step's error, which was already reported. */
    (void)sqlite3_reset(s->h);
    (void)sqlite3_clear_bindings(s->h);
}

static int bind_result(int xrc, int *native)
{
    if (xrc == SQLITE_OK)
        return 0;
    *native = xrc;
    return map_rc(xrc);
}

static int sq_bind_int64(struct cf_db_stmt *s, int i, int64_t v, int *native)
{
    return bind_result(sqlite3_bind_int64(s->h, i, v), native);
}

static int sq_bind_text(struct cf_db_stmt *s, int i, const char *str, int *native)
{
    if (str == NULL)
        return bind_result(sqlite3_bind_null(s->h, i), native);
    return bind_result(
        sqlite3_bind_text64(s->h, i, str, strlen(str), SQLITE_TRANSIENT, SQLITE_UTF8), native);
}

static int sq_bind_blob(struct cf_db_stmt *s, int i, const void *p, size_t n, int *native)
{
    if (n == 0)
        return bind_result(sqlite3_bind_zeroblob(s->h, i, 0), native);
    return bind_result(sqlite3_bind_blob64(s->h, i, p, n, SQLITE_TRANSIENT), native);
}

static int sq_bind_null(struct cf_db_stmt *s, int i, int *native)
{
    return bind_result(sqlite3_bind_null(s->h, i), native);
}

static int sq_step(struct cf_db_stmt *s, char *err)
{
    sqlite3 *h = s->db->h;
    int xrc = sqlite3_step(s->h);
    int rc;

    if (xrc == SQLITE_ROW)
        rc = CF_DB_ROW;
    else if (xrc == SQLITE_DONE)
        rc = CF_DB_DONE;
    else
        rc = fail(xrc, sqlite3_errmsg(h), err);
    /* A statement that committed returns once the commit is durable. */
    xrc = cf__sqsync_after(s->db->sync, rc < 0 ? NULL : err);
    return rc < 0 ? rc : (xrc < 0 ? xrc : rc);
}

static int64_t sq_column_int64(struct cf_db_stmt *s, int i)
{
    return sqlite3_column_int64(s->h, i);
}

static const char *sq_column_text(struct cf_db_stmt *s, int i, size_t *len)
{
    const char *p = (const char *)sqlite3_column_text(s->h, i);

    if (len != NULL)
        *len = p != NULL ? (size_t)sqlite3_column_bytes(s->h, i) : 0;
    return p;
}

static const void *sq_column_blob(struct cf_db_stmt *s, int i, size_t *len)
{
    const void *p = sqlite3_column_blob(s->h, i);

    if (len != NULL)
        *len = p != NULL ? (size_t)sqlite3_column_bytes(s->h, i) : 0;
    return p;
}

static bool sq_column_is_null(struct cf_db_stmt *s, int i)
{
    return sqlite3_column_type(s->h, i) == SQLITE_NULL;
}

const struct cf__db_ops cf__db_sqlite_ops = {
    .name = "sqlite",
    .begin_sql = "BEGIN IMMEDIATE",
    .begin = sq_begin,
    .begin_read_sql = "BEGIN",
    .open = sq_open,
    .close = sq_close,
    .set_busy_timeout = sq_set_busy_timeout,
    .exec = sq_exec,
    .in_transaction = sq_in_transaction,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .reset = sq_reset,
    .bind_int64 = sq_bind_int64,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .column_int64 = sq_column_int64,
    .column_text = sq_column_text,
    .column_blob = sq_column_blob,
    .column_is_null = sq_column_is_null,
};
