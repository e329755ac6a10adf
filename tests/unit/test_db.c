/*
 * test_db.c -- the database interface (db.h) against real databases (no
 * mocks, STYLE 2.8): SQLite files in a temporary directory by default, or,
 * when COFFER_TEST_PG holds a libpq conninfo without a dbname (for instance
 * "host=/tmp/pg port=5433", as scripts/pg-test.sh sets it), a fresh
 * PostgreSQL database per test (dbtest.h). The same cases run on both; where the engines
 * differ on purpose (messages, PRAGMAs, autocommit writes) the case says so.
 *
 * Covers: URIs, value types through bind and column, the error mapping
 * (UNIQUE/PRIMARY KEY -> CF_EEXIST, other constraints -> CF_EINVAL, bad SQL
 * -> CF_EINTERNAL, lock timeout -> CF_EBUSY), deferred bind errors,
 * transactions (rollback leaves nothing, commit is seen by another
 * connection), RETURNING, the statement cache, the pool under threads, the
 * pool's wait (a stand-in that refuses with CF_EBUSY), the one-call binders
 * (cf_db_query, cf_db_run), many connections committing at once (all
 * succeed, all are there after reopening), threads writing through one
 * group commit (dbgroup.h: each answered with its own result, a failing
 * write fails no other), a process killed while it
 * commits (every commit it acknowledged survives), and on PostgreSQL a session terminated under
 * each kind of call (read retried, write failed once, transaction failed
 * until rolled back, COMMIT in doubt) and the statement timeout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "coffer/db.h"
#include "coffer/dbgroup.h"
#include "coffer/err.h"
#include "coffer/log.h"

#include "dbtest.h"

struct fixture {
    char dir[64];
    char uri[CF_DB_URI_MAX + 1];
};

static bool on_pg(void)
{
    return cf_test_db_pg();
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    (void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/coffer-db-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    if (cf_test_db_new(fx->dir, "t", fx->uri, sizeof(fx->uri)) != 0)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    DIR *d = opendir(fx->dir);
    struct dirent *e;

    cf_test_db_drop_all();
    if (d != NULL) {
        for (e = readdir(d); e != NULL; e = readdir(d))
            if (e->d_name[0] != '.')
                (void)unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    (void)rmdir(fx->dir);
    free(fx);
    return 0;
}

static struct cf_db *open_db(const struct fixture *fx)
{
    struct cf_db *db = NULL;
    char err[CF_ERR_LEN] = "";

    if (cf_db_open(fx->uri, &db, err) != 0)
        fail_msg("open %s: %s", fx->uri, err);
    return db;
}

static void exec_ok(struct cf_db *db, const char *sql)
{
    char err[CF_ERR_LEN] = "";

    if (cf_db_exec(db, sql, err) != 0)
        fail_msg("exec \"%s\": %s", sql, err);
}

/* Run sql with ?1 = v and return the step result (to completion). */
static int run_int(struct cf_db *db, const char *sql, int64_t v, char *err)
{
    struct cf_db_stmt *s = NULL;
    int rc = cf_db_prepare(db, sql, &s, err);

    if (rc == 0) {
        cf_db_bind_int64(s, 1, v);
        rc = cf_db_step_one(s, NULL, 0, err);
    }
    cf_db_finalize(s);
    return rc;
}

static int64_t count_rows(struct cf_db *db, const char *table)
{
    char sql[128];
    struct cf_db_stmt *s = NULL;
    int64_t n = -1;

    (void)snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    assert_int_equal(cf_db_prepare(db, sql, &s, NULL), 0);
    assert_int_equal(cf_db_step_one(s, &n, 1, NULL), CF_DB_ROW);
    cf_db_finalize(s);
    return n;
}

/* ---- URIs and open ------------------------------------------------------ */

static void test_open_uris(void **state)
{
    struct fixture *fx = *state;
    struct cf_db *db = NULL;
    char err[CF_ERR_LEN] = "", uri[CF_DB_URI_MAX + 16];

    assert_int_equal(cf_db_open("mysql://x", &db, err), CF_EINVAL);
    assert_null(db);
    assert_non_null(strstr(err, "unknown scheme"));
    /* PostgreSQL URIs reach libpq: no server behind this socket directory. */
    assert_int_equal(cf_db_open("postgres://u@/db?host=/nonexistent-dir", &db, err), CF_EIO);
    assert_null(db);
    assert_int_equal(cf_db_open("postgresql://u@/db?host=/nonexistent-dir", &db, err), CF_EIO);
    assert_int_equal(cf_db_open("postgres:host=/nonexistent-dir dbname=x", &db, err), CF_EIO);
    /* Passwords never reach a message (STYLE 2.5). */
    assert_int_equal(cf_db_open("postgres://u:s3cret@/db?host=/nonexistent-dir", &db, err), CF_EIO);
    assert_null(strstr(err, "s3cret"));
    assert_non_null(strstr(err, "u:***@"));
    assert_int_equal(cf_db_open("postgres:host=/nonexistent-dir password=s3cret", &db, err),
                     CF_EIO);
    assert_null(strstr(err, "s3cret"));
    assert_int_equal(cf_db_open("postgres:", &db, err), CF_EINVAL);
    assert_null(db);
    assert_int_equal(cf_db_open("sqlite:", &db, err), CF_EINVAL);
    assert_int_equal(cf_db_open("sqlite:file:x.db", &db, err), CF_EINVAL);
    memset(uri, 'a', sizeof(uri));
    memcpy(uri, "sqlite:", 7);
    uri[CF_DB_URI_MAX + 1] = '\0';
    assert_int_equal(cf_db_open(uri, &db, err), CF_EINVAL);
    assert_null(db);

    (void)snprintf(uri, sizeof(uri), "sqlite:%s/no/such/dir/x.db", fx->dir);
    assert_int_equal(cf_db_open(uri, &db, err), CF_EIO);
    assert_null(db);
    assert_non_null(strstr(err, "no/such/dir"));

    db = open_db(fx);
    assert_string_equal(cf_db_backend(db), on_pg() ? "postgres" : "sqlite");
    cf_db_close(db);
    cf_db_close(NULL);
}

/* DESIGN §4: WAL, synchronous=NORMAL (the group barrier syncs) and foreign keys on every SQLite
 * connection; synchronous_commit on every PostgreSQL session. */
static void test_durability_settings(void **state)
{
    struct setting {
        const char *sql, *want;
    };
    static const struct setting pragmas[] = {
        {"PRAGMA journal_mode", "wal"},
        {"PRAGMA synchronous", "1"},
        {"PRAGMA foreign_keys", "1"},
    };
    static const struct setting pg_settings[] = {
        {"SHOW synchronous_commit", "on"},
        {"SHOW transaction_isolation", "read committed"},
    };
    struct fixture *fx = *state;
    struct cf_db *db = open_db(fx);
    const struct setting *set = on_pg() ? pg_settings : pragmas;
    size_t nset = on_pg() ? CF_ARRAY_LEN(pg_settings) : CF_ARRAY_LEN(pragmas);

    for (size_t i = 0; i < nset; i++) {
        struct cf_db_stmt *s = NULL;
        const char *got;

        assert_int_equal(cf_db_prepare(db, set[i].sql, &s, NULL), 0);
        assert_int_equal(cf_db_step(s, NULL), CF_DB_ROW);
        got = cf_db_column_text(s, 0, NULL);
        assert_non_null(got);
        assert_string_equal(got, set[i].want);
        cf_db_finalize(s);
    }
    cf_db_close(db);
}

/* Every SQLite connection reads its file through a memory map (db.h
 * CF_DB_SQLITE_MMAP_SIZE; SQLite clamps it to its build's limit), and the
 * durability settings above stay as they were. */
static void test_sqlite_mmap(void **state)
{
    struct fixture *fx = *state;
    struct cf_db *db;
    int64_t got = 0;

    if (on_pg())
        skip();
    db = open_db(fx);
    assert_int_equal(cf_db_run(db, &got, 1, NULL, "PRAGMA mmap_size", ""), CF_DB_ROW);
    assert_true(got > 0);
    assert_true(got <= CF_DB_SQLITE_MMAP_SIZE);
    cf_db_close(db);
}

/* ---- types ---------------------------------------------------------------- */

static void test_types_round_trip(void **state)
{
    static const char blob[] = {'a', '\0', 'b', '\xff', '\0'};
    static const char text[] = "caf\xc3\xa9 \"quoted\" 'x'";
    struct fixture *fx = *state;
    struct cf_db *db = open_db(fx);
    struct cf_db_stmt *s = NULL;
    const void *bp;
    const char *tp;
    size_t len = 99;

    exec_ok(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, i BIGINT, s TEXT, b BLOB, n TEXT)");
    assert_int_equal(
        cf_db_prepare(db, "INSERT INTO t (k, i, s, b, n) VALUES (?1, ?2, ?3, ?4, ?5)", &s, NULL),
        0);
    cf_db_bind_int64(s, 1, 1);
    cf_db_bind_int64(s, 2, INT64_MIN);
    cf_db_bind_text(s, 3, text);
    cf_db_bind_blob(s, 4, blob, sizeof(blob));
    cf_db_bind_null(s, 5);
    assert_int_equal(cf_db_step(s, NULL), CF_DB_DONE);
    cf_db_reset(s);
    cf_db_bind_int64(s, 1, 2);
    cf_db_bind_int64(s, 2, INT64_MAX);
    cf_db_bind_text(s, 3, NULL);    /* NULL text is SQL NULL */
    cf_db_bind_blob(s, 4, NULL, 0); /* an empty blob, not NULL */
    cf_db_bind_text(s, 5, "");
    assert_int_equal(cf_db_step(s, NULL), CF_DB_DONE);
    cf_db_finalize(s);

    assert_int_equal(cf_db_prepare(db, "SELECT i, s, b, n FROM t ORDER BY k", &s, NULL), 0);
    assert_int_equal(cf_db_step(s, NULL), CF_DB_ROW);
    assert_true(cf_db_column_int64(s, 0) == INT64_MIN);
    tp = cf_db_column_text(s, 1, &len);
    assert_int_equal(len, strlen(text));
    assert_string_equal(tp, text);
    bp = cf_db_column_blob(s, 2, &len);
    assert_int_equal(len, sizeof(blob));
    assert_memory_equal(bp, blob, sizeof(blob));
    assert_true(cf_db_column_is_null(s, 3));
    assert_null(cf_db_column_text(s, 3, &len));
    assert_int_equal(len, 0);
    assert_true(cf_db_column_int64(s, 3) == 0);

    assert_int_equal(cf_db_step(s, NULL), CF_DB_ROW);
    assert_true(cf_db_column_int64(s, 0) == INT64_MAX);
    assert_true(cf_db_column_is_null(s, 1));
    assert_false(cf_db_column_is_null(s, 2));
    (void)cf_db_column_blob(s, 2, &len);
    assert_int_equal(len, 0);
    assert_false(cf_db_column_is_null(s, 3));
    tp = cf_db_column_text(s, 3, &len);
    assert_non_null(tp);
    assert_int_equal(len, 0);
    assert_int_equal(cf_db_step(s, NULL), CF_DB_DONE);
    cf_db_finalize(s);
    cf_db_close(db);
}

/* ---- errors ------------------------------------------------------------------ */

static void test_constraint_mapping(void **state)
{
    struct fixture *fx = *state;
    struct cf_db *db = open_db(fx);
    char err[CF_ERR_LEN] = "";

    exec_ok(db, "CREATE TABLE p (id INTEGER PRIMARY KEY, u TEXT UNIQUE, v BIGINT NOT NULL"
                " CHECK (v >= 0));"
                "CREATE TABLE c (pid BIGINT NOT NULL REFERENCES p (id))");
    assert_int_equal(run_int(db, "INSERT INTO p (id, u, v) VALUES (?1, 'a', 1)", 1, err),
                     CF_DB_DONE);
    /* PRIMARY KEY and UNIQUE: CF_EEXIST */
    assert_int_equal(run_int(db, "INSERT INTO p (id, u, v) VALUES (?1, 'b', 1)", 1, err),
                     CF_EEXIST);
    assert_non_null(
        strstr(err, on_pg() ? "violates unique constraint" : "UNIQUE constraint failed"));
    assert_int_equal(run_int(db, "INSERT INTO p (id, u, v) VALUES (?1, 'a', 1)", 2, err),
                     CF_EEXIST);
    /* NOT NULL, CHECK, FOREIGN KEY: CF_EINVAL */
    assert_int_equal(run_int(db, "INSERT INTO p (id, u, v) VALUES (?1, 'c', NULL)", 3, err),
                     CF_EINVAL);
    assert_int_equal(run_int(db, "INSERT INTO p (id, u, v) VALUES (?1, 'c', -1)", 3, err),
                     CF_EINVAL);
    assert_int_equal(run_int(db, "INSERT INTO c (pid) VALUES (?1)", 99, err), CF_EINVAL);
    assert_non_null(strstr(err, on_pg() ? "foreign key" : "FOREIGN KEY"));
    assert_int_equal(run_int(db, "INSERT INTO c (pid) VALUES (?1)", 1, err), CF_DB_DONE);
    assert_int_equal(count_rows(db, "p"), 1);
    cf_db_close(db);
}

static void test_bad_sql_and_binds(void **state)
{
    struct fixture *fx = *state;
    struct cf_db *db = open_db(fx);
    struct cf_db_stmt *s = NULL;
    char err[CF_ERR_LEN] = "";

    exec_ok(db, "CREATE TABLE t (a BIGINT)");
    assert_int_equal(cf_db_prepare(db, "SELEKT 1", &s, err), CF_EINTERNAL);
    assert_null(s);
    assert_non_null(strstr(err, "syntax error"));
    assert_int_equal(cf_db_prepare(db, "SELECT 1; SELECT 2", &s, err), CF_EINTERNAL);
    assert_null(s);
    assert_int_equal(cf_db_prepare(db, "", &s, err), CF_EINTERNAL);
    assert_int_equal(cf_db_exec(db, "INSERT INTO nowhere VALUES (1)", err), CF_EINTERNAL);

    /* A bad bind is reported by the step, naming the parameter; nothing runs. */
    assert_int_equal(cf_db_prepare(db, "INSERT INTO t (a) VALUES (?1)", &s, NULL), 0);
    cf_db_bind_int64(s, 1, 5);
    cf_db_bind_int64(s, 7, 5);
    cf_db_bind_int64(s, 0, 5);
    assert_int_equal(cf_db_step(s, err), CF_EINVAL);
    assert_non_null(strstr(err, "?7"));
    /* reset clears the remembered failure */
    cf_db_reset(s);
    cf_db_bind_int64(s, 1, 5);
    assert_int_equal(cf_db_step(s, err), CF_DB_DONE);
    cf_db_finalize(s);
    assert_int_equal(count_rows(db, "t"), 1);
    cf_db_close(db);
}

/* cf_db_query and cf_db_run: each type letter binds what its binder would,
 * run reads at most one row, and their failures are those of the calls they
 * make. */
static void test_one_call(void **state)
{
    static const char ins[] = "INSERT INTO t (k, i, p, s, b) VALUES (?1, ?2, ?3, ?4, ?5)";
    static const char blob[] = {'x', '\0', 'y'};
    struct fixture *fx = *state;
    struct cf_db *db = open_db(fx);
    struct cf_db_stmt *s = NULL;
    int64_t v[2] = {0, 0};
    const void *bp;
    size_t len = 0;
    char err[CF_ERR_LEN] = "";

    exec_ok(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, i BIGINT, p BIGINT, s TEXT, b BLOB)");
    /* 'z' binds NULL for 0 and 't' NULL for a NULL pointer; 'b' takes two arguments. */
    assert_int_equal(cf_db_run(db, NULL, 0, err, ins, "iiztb", (int64_t)1, (int64_t)INT64_MIN,
                               (int64_t)0, (const char *)NULL, (const void *)blob, sizeof(blob)),
                     CF_DB_DONE);
    assert_int_equal(cf_db_run(db, NULL, 0, err, ins, "iiztb", (int64_t)2, (int64_t)INT64_MAX,
                               (int64_t)7, "two", (const void *)NULL, (size_t)0),
                     CF_DB_DONE);

    /* A row: its first columns as integers. No row: vals untouched. */
    assert_int_equal(
        cf_db_run(db, v, 2, err, "UPDATE t SET i = i WHERE k = ?1 RETURNING k, p", "i", (int64_t)2),
        CF_DB_ROW);
    assert_true(v[0] == 2 && v[1] == 7);
    v[0] = 42;
    assert_int_equal(cf_db_run(db, v, 1, err, "SELECT k FROM t WHERE k = ?1", "i", (int64_t)3),
                     CF_DB_DONE);
    assert_true(v[0] == 42);
    assert_int_equal(cf_db_run(db, v, 1, err, "SELECT count(*) FROM t", ""), CF_DB_ROW);
    assert_true(v[0] == 2);

    /* A second row, a letter too many (reported by the step, naming the
     * parameter), bad SQL: each as the underlying call reports it. */
    assert_int_equal(cf_db_run(db, NULL, 0, err, "SELECT k FROM t", ""), CF_EINTERNAL);
    assert_int_equal(
        cf_db_run(db, NULL, 0, err, "SELECT k FROM t WHERE k = ?1", "ii", (int64_t)1, (int64_t)2),
        CF_EINVAL);
    assert_non_null(strstr(err, "?2"));
    assert_int_equal(cf_db_run(db, NULL, 0, err, ins, "iiztb", (int64_t)1, (int64_t)0, (int64_t)0,
                               "dup", (const void *)NULL, (size_t)0),
                     CF_EEXIST);
    assert_int_equal(cf_db_query(db, &s, err, "SELEKT ?1", "i", (int64_t)1), CF_EINTERNAL);
    assert_null(s);

    /* query: bound and ready to step row by row. */
    assert_int_equal(cf_db_query(db, &s, err, "SELECT i, p, s, b FROM t WHERE k >= ?1 ORDER BY k",
                                 "i", (int64_t)1),
                     0);
    assert_int_equal(cf_db_step(s, err), CF_DB_ROW);
    assert_true(cf_db_column_int64(s, 0) == INT64_MIN);
    assert_true(cf_db_column_is_null(s, 1));
    assert_true(cf_db_column_is_null(s, 2));
    bp = cf_db_column_blob(s, 3, &len);
    assert_int_equal(len, sizeof(blob));
    assert_memory_equal(bp, blob, sizeof(blob));
    assert_int_equal(cf_db_step(s, err), CF_DB_ROW);
    assert_true(cf_db_column_int64(s, 0) == INT64_MAX);
    assert_true(cf_db_column_int64(s, 1) == 7);
    assert_string_equal(cf_db_column_text(s, 2, NULL), "two");
    assert_false(cf_db_column_is_null(s, 3));
    (void)cf_db_column_blob(s, 3, &len);
    assert_int_equal(len, 0);
    assert_int_equal(cf_db_step(s, err), CF_DB_DONE);
    cf_db_finalize(s);
    /* Every statement went back: close asserts it. */
    cf_db_close(db);
}

/* Two connections: one holds the write lock, the other times out with CF_EBUSY. */
static void test_busy(void **state)
{
    struct fixture *fx = *state;
    struct cf_db *a = open_db(fx), *b = open_db(fx);
    char err[CF_ERR_LEN] = "";

    exec_ok(a, "CREATE TABLE t (a BIGINT)");
    assert_int_equal(cf_db_set_busy_timeout(b, 10), 0);
    assert_int_equal(cf_db_begin(a, NULL), 0);
    assert_int_equal(run_int(a, "INSERT INTO t (a) VALUES (?1)", 1, NULL), CF_DB_DONE);
    assert_int_equal(cf_db_begin(b, err), CF_EBUSY);
    assert_false(cf_db_in_transaction(b));
    /* SQLite: an autocommit write needs the same lock. PostgreSQL serializes
     * transactions only (db.h): such a write would not wait, so it is left out. */
    if (!on_pg())
        assert_int_equal(run_int(b, "INSERT INTO t (a) VALUES (?1)", 2, err), CF_EBUSY);
    /* WAL / MVCC: the reader is not blocked, and does not see the uncommitted row. */
    assert_int_equal(count_rows(b, "t"), 0);
    assert_int_equal(cf_db_commit(a, NULL), 0);
    assert_int_equal(cf_db_begin(b, NULL), 0);
    assert_int_equal(run_int(b, "INSERT INTO t (a) VALUES (?1)", 2, NULL), CF_DB_DONE);
    assert_int_equal(cf_db_commit(b, NULL), 0);
    assert_int_equal(count_rows(a, "t"), 2);
    cf_db_close(a);
    cf_db_close(b);
}

/* ---- transactions ------------------------------------------------------------- */

static void test_transactions(void **state)
{
    struct fixture *fx = *state;
    struct cf_db *db = open_db(fx), *other = NULL;
    char err[CF_ERR_LEN] = "";

    exec_ok(db, "CREATE TABLE t (a BIGINT UNIQUE)");
    assert_false(cf_db_in_transaction(db));

    assert_int_equal(cf_db_begin(db, NULL), 0);
    assert_true(cf_db_in_transaction(db));
    assert_int_equal(cf_db_begin(db, err), CF_EINTERNAL);
    assert_int_equal(run_int(db, "INSERT INTO t (a) VALUES (?1)", 1, NULL), CF_DB_DONE);
    assert_int_equal(run_int(db, "INSERT INTO t (a) VALUES (?1)", 2, NULL), CF_DB_DONE);
    assert_int_equal(count_rows(db, "t"), 2);
    cf_db_rollback(db);
    assert_false(cf_db_in_transaction(db));
    assert_int_equal(count_rows(db, "t"), 0);
    cf_db_rollback(db); /* no transaction: a no-op */

    /* A failed statement inside a transaction, then rollback: nothing of it stays. */
    assert_int_equal(cf_db_begin(db, NULL), 0);
    assert_int_equal(run_int(db, "INSERT INTO t (a) VALUES (?1)", 3, NULL), CF_DB_DONE);
    assert_int_equal(run_int(db, "INSERT INTO t (a) VALUES (?1)", 3, NULL), CF_EEXIST);
    cf_db_rollback(db);
    assert_int_equal(count_rows(db, "t"), 0);

    assert_int_equal(cf_db_begin(db, NULL), 0);
    assert_int_equal(run_int(db, "INSERT INTO t (a) VALUES (?1)", 4, NULL), CF_DB_DONE);
    assert_int_equal(cf_db_commit(db, NULL), 0);
    assert_false(cf_db_in_transaction(db));
    assert_int_equal(cf_db_commit(db, err), CF_EINTERNAL); /* nothing to commit */

    /* Committed means visible to a new connection (and durable: the group barrier). */
    cf_db_close(db);
    other = open_db(fx);
    assert_int_equal(count_rows(other, "t"), 1);
    cf_db_close(other);
}

/* A read transaction: on SQLite one snapshot (a commit by another
 * connection is not seen until it ends), and a writer is not blocked; on
 * PostgreSQL each statement stays its own. */
static void test_read_transaction(void **state)
{
    struct fixture *fx = *state;
    struct cf_db *r = open_db(fx), *w = open_db(fx);
    char err[CF_ERR_LEN] = "";

    exec_ok(w, "CREATE TABLE t (a BIGINT)");
    assert_int_equal(run_int(w, "INSERT INTO t (a) VALUES (?1)", 1, NULL), CF_DB_DONE);
    assert_int_equal(cf_db_begin_read(r, NULL), 0);
    assert_int_equal(count_rows(r, "t"), 1);
    assert_int_equal(cf_db_begin(w, NULL), 0);
    assert_int_equal(run_int(w, "INSERT INTO t (a) VALUES (?1)", 2, NULL), CF_DB_DONE);
    assert_int_equal(cf_db_commit(w, NULL), 0);
    assert_int_equal(count_rows(r, "t"), on_pg() ? 2 : 1);
    assert_int_equal(cf_db_in_transaction(r), !on_pg());
    if (!on_pg())
        assert_int_equal(cf_db_begin_read(r, err), CF_EINTERNAL);
    cf_db_rollback(r);
    assert_false(cf_db_in_transaction(r));
    assert_int_equal(count_rows(r, "t"), 2);
    cf_db_close(r);
    cf_db_close(w);
}

static void test_returning(void **state)
{
    struct fixture *fx = *state;
    struct cf_db *db = open_db(fx);
    struct cf_db_stmt *s = NULL;
    int64_t v[2] = {0, 0};
    char err[CF_ERR_LEN] = "";

    exec_ok(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n BIGINT)");
    for (int64_t want = 1; want <= 3; want++) {
        assert_int_equal(
            cf_db_prepare(db, "INSERT INTO t (name, n) VALUES (?1, 0) RETURNING id, n", &s, NULL),
            0);
        cf_db_bind_text(s, 1, "x");
        assert_int_equal(cf_db_step_one(s, v, 2, NULL), CF_DB_ROW);
        assert_true(v[0] == want && v[1] == 0);
        cf_db_finalize(s);
    }
    assert_int_equal(
        cf_db_prepare(db, "UPDATE t SET n = n + ?1 WHERE id = ?2 RETURNING n", &s, NULL), 0);
    cf_db_bind_int64(s, 1, 10);
    cf_db_bind_int64(s, 2, 2);
    assert_int_equal(cf_db_step_one(s, v, 1, NULL), CF_DB_ROW);
    assert_true(v[0] == 10);
    cf_db_reset(s);
    cf_db_bind_int64(s, 1, 10);
    cf_db_bind_int64(s, 2, 99);
    assert_int_equal(cf_db_step_one(s, v, 1, NULL), CF_DB_DONE); /* no such row */
    cf_db_finalize(s);

    assert_int_equal(cf_db_prepare(db, "DELETE FROM t WHERE id = ?1 RETURNING id", &s, NULL), 0);
    cf_db_bind_int64(s, 1, 1);
    assert_int_equal(cf_db_step_one(s, NULL, 0, NULL), CF_DB_ROW);
    cf_db_finalize(s);
    assert_int_equal(count_rows(db, "t"), 2);

    /* step_one refuses a statement that returns several rows. */
    assert_int_equal(cf_db_prepare(db, "SELECT id FROM t", &s, NULL), 0);
    assert_int_equal(cf_db_step_one(s, v, 1, err), CF_EINTERNAL);
    cf_db_finalize(s);
    cf_db_close(db);
}

/* ---- statement cache ------------------------------------------------------------- */

/* Prepare "SELECT i" from the buffer text (cap bytes) and check its row. */
static void select_from(struct cf_db *db, char *text, size_t cap, int i)
{
    struct cf_db_stmt *s = NULL;

    (void)snprintf(text, cap, "SELECT %d", i);
    assert_int_equal(cf_db_prepare(db, text, &s, NULL), 0);
    assert_int_equal(cf_db_step(s, NULL), CF_DB_ROW);
    assert_true(cf_db_column_int64(s, 0) == i);
    cf_db_finalize(s);
}

static void test_statement_cache(void **state)
{
    static const char sql[] = "SELECT ?1";
    struct fixture *fx = *state;
    struct cf_db *db = open_db(fx);
    struct cf_db_stmt *a = NULL, *b = NULL, *c = NULL;
    char text[64];

    assert_int_equal(cf_db_prepare(db, sql, &a, NULL), 0);
    /* The same text while the first is in use: a separate statement. */
    assert_int_equal(cf_db_prepare(db, sql, &b, NULL), 0);
    assert_ptr_not_equal(a, b);
    cf_db_bind_int64(a, 1, 1);
    cf_db_bind_int64(b, 1, 2);
    assert_int_equal(cf_db_step(a, NULL), CF_DB_ROW);
    assert_int_equal(cf_db_step(b, NULL), CF_DB_ROW);
    assert_true(cf_db_column_int64(a, 0) == 1);
    assert_true(cf_db_column_int64(b, 0) == 2);
    cf_db_finalize(b);
    cf_db_finalize(a);

    /* Released: the cached one comes back, reset and with its bindings cleared. */
    assert_int_equal(cf_db_prepare(db, sql, &c, NULL), 0);
    assert_ptr_equal(c, a);
    assert_int_equal(cf_db_step(c, NULL), CF_DB_ROW);
    assert_true(cf_db_column_is_null(c, 0));
    cf_db_finalize(c);

    /* More distinct texts than the cache holds still work (the rest are finalized). */
    for (int i = 0; i < CF_DB_STMT_CACHE_MAX * 2; i++)
        select_from(db, text, sizeof(text), i);
    /* Again, from the same buffer: whether cached or not, each text gets its
     * own statement, never the one last prepared from that address. */
    for (int round = 0; round < 2; round++) {
        for (int i = CF_DB_STMT_CACHE_MAX * 2 - 1; i >= 0; i--)
            select_from(db, text, sizeof(text), i);
    }
    /* The same text at another address: the cached statement. */
    (void)snprintf(text, sizeof(text), "%s", sql);
    assert_int_equal(cf_db_prepare(db, text, &c, NULL), 0);
    assert_ptr_equal(c, a);
    /* In use, so the literal now gets a separate one. */
    assert_int_equal(cf_db_prepare(db, sql, &b, NULL), 0);
    assert_ptr_not_equal(b, a);
    cf_db_finalize(b);
    cf_db_finalize(c);
    assert_int_equal(cf_db_prepare(db, sql, &c, NULL), 0);
    assert_ptr_equal(c, a);
    cf_db_finalize(c);
    cf_db_finalize(NULL);
    cf_db_close(db);
}

/* ---- pool ------------------------------------------------------------------------ */

#define POOL_THREADS 8
#define POOL_ROWS    150

struct worker {
    struct cf_db_pool *pool;
    int id;
    int failures;
};

static void *pool_worker(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < POOL_ROWS; i++) {
        struct cf_db *db = cf_db_pool_acquire(w->pool);
        struct cf_db_stmt *s = NULL;
        int64_t id = 0;
        int rc;

        rc = cf_db_begin(db, NULL);
        if (rc == 0)
            rc = cf_db_prepare(db, "INSERT INTO t (who, n) VALUES (?1, ?2) RETURNING id", &s, NULL);
        if (rc == 0) {
            cf_db_bind_int64(s, 1, w->id);
            cf_db_bind_int64(s, 2, i);
            rc = cf_db_step_one(s, &id, 1, NULL);
        }
        cf_db_finalize(s);
        if (rc == CF_DB_ROW && id > 0)
            rc = cf_db_commit(db, NULL);
        else
            rc = -1;
        if (rc != 0)
            w->failures++;
        cf_db_pool_release(w->pool, db);
    }
    return NULL;
}

static void test_pool_threads(void **state)
{
    struct fixture *fx = *state;
    struct cf_db_pool *pool = NULL;
    struct worker w[POOL_THREADS];
    pthread_t th[POOL_THREADS];
    struct cf_db *db;
    struct cf_db_stmt *s = NULL;
    int64_t v[2];
    char err[CF_ERR_LEN] = "";

    assert_int_equal(cf_db_pool_open(fx->uri, 0, &pool, err), CF_EINVAL);
    assert_int_equal(cf_db_pool_open(fx->uri, CF_DB_POOL_MAX + 1, &pool, err), CF_EINVAL);
    assert_null(pool);
    assert_int_equal(cf_db_pool_open("sqlite:/nonexistent-dir/x.db", 2, &pool, err), CF_EIO);
    assert_null(pool);

    /* Left to the backend: enough SQLite connections for commits to share
     * fsyncs, few PostgreSQL server processes. */
    assert_int_equal(cf_db_pool_default("sqlite:/srv/coffer/x.db"), CF_DB_POOL_SQLITE);
    assert_int_equal(cf_db_pool_default("postgres://u@h/db"), CF_DB_POOL_PG);
    assert_int_equal(cf_db_pool_default("postgres:dbname=x"), CF_DB_POOL_PG);
    assert_true(CF_DB_POOL_SQLITE <= CF_DB_POOL_MAX && CF_DB_POOL_PG <= CF_DB_POOL_MAX);

    assert_int_equal(cf_db_pool_open(fx->uri, 3, &pool, err), 0);
    assert_int_equal(cf_db_pool_size(pool), 3);
    db = cf_db_pool_acquire(pool);
    exec_ok(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, who BIGINT NOT NULL, n BIGINT NOT NULL,"
                " UNIQUE (who, n))");
    cf_db_pool_release(pool, db);

    /* More threads than connections: acquire must wait, never share. */
    for (int i = 0; i < POOL_THREADS; i++) {
        w[i].pool = pool;
        w[i].id = i;
        w[i].failures = 0;
        assert_int_equal(pthread_create(&th[i], NULL, pool_worker, &w[i]), 0);
    }
    for (int i = 0; i < POOL_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }

    db = cf_db_pool_acquire(pool);
    assert_int_equal(count_rows(db, "t"), POOL_THREADS * POOL_ROWS);
    assert_int_equal(cf_db_prepare(db, "SELECT count(DISTINCT id), max(id) FROM t", &s, NULL), 0);
    assert_int_equal(cf_db_step_one(s, v, 2, NULL), CF_DB_ROW);
    assert_true(v[0] == POOL_THREADS * POOL_ROWS && v[1] == POOL_THREADS * POOL_ROWS);
    cf_db_finalize(s);

    /* A connection released inside a transaction comes back rolled back. */
    assert_int_equal(cf_db_begin(db, NULL), 0);
    assert_int_equal(run_int(db, "DELETE FROM t WHERE id > ?1", 0, NULL), CF_DB_DONE);
    cf_db_pool_release(pool, db);
    for (unsigned i = 0; i < cf_db_pool_size(pool) + 1; i++) {
        db = cf_db_pool_acquire(pool);
        assert_false(cf_db_in_transaction(db));
        assert_int_equal(count_rows(db, "t"), POOL_THREADS * POOL_ROWS);
        cf_db_pool_release(pool, db);
    }
    cf_db_pool_close(pool);
    cf_db_pool_close(NULL);
}

/* ---- schema scripts run by processes starting together ------------------ */

#define SCHEMA_THREADS 6
#define SCHEMA_ROUNDS  8

struct schema_racer {
    const char *uri;
    pthread_barrier_t *go;
    int failures;
    char err[CF_ERR_LEN];
};

static void *schema_race(void *arg)
{
    struct schema_racer *r = arg;
    struct cf_db *db = NULL;
    char sql[256];

    if (cf_db_open(r->uri, &db, r->err) != 0) {
        r->failures++;
        return NULL;
    }
    for (int i = 0; i < SCHEMA_ROUNDS; i++) {
        (void)snprintf(sql, sizeof(sql),
                       "CREATE TABLE IF NOT EXISTS race%d (id INTEGER PRIMARY KEY, v TEXT);"
                       "CREATE INDEX IF NOT EXISTS race%d_v ON race%d (v)",
                       i, i, i);
        (void)pthread_barrier_wait(r->go);
        if (cf_db_exec_schema(db, sql, r->err) != 0)
            r->failures++;
    }
    cf_db_close(db);
    return NULL;
}

/* Every role creates its tables "IF NOT EXISTS" at start, and the roles of a
 * cluster start together: on PostgreSQL two sessions creating one table at
 * once could fail (a unique index of its catalog), which cf_db_exec_schema
 * must prevent. */
static void test_schema_race(void **state)
{
    struct fixture *fx = *state;
    struct schema_racer r[SCHEMA_THREADS];
    pthread_t th[SCHEMA_THREADS];
    pthread_barrier_t go;
    struct cf_db *db;

    assert_int_equal(pthread_barrier_init(&go, NULL, SCHEMA_THREADS), 0);
    for (int i = 0; i < SCHEMA_THREADS; i++) {
        r[i] = (struct schema_racer){.uri = fx->uri, .go = &go};
        assert_int_equal(pthread_create(&th[i], NULL, schema_race, &r[i]), 0);
    }
    for (int i = 0; i < SCHEMA_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (r[i].failures != 0)
            fail_msg("racer %d: %d failures, last: %s", i, r[i].failures, r[i].err);
    }
    pthread_barrier_destroy(&go);
    db = open_db(fx);
    for (int i = 0; i < SCHEMA_ROUNDS; i++) {
        char table[16];
        (void)snprintf(table, sizeof(table), "race%d", i);
        assert_int_equal(count_rows(db, table), 0);
    }
    /* Inside a transaction it is refused, not nested. */
    assert_int_equal(cf_db_begin(db, NULL), 0);
    assert_int_equal(run_int(db, "INSERT INTO race0 (v) VALUES (?1)", 7, NULL), CF_DB_DONE);
    assert_true(cf_db_exec_schema(db, "CREATE TABLE IF NOT EXISTS race0 (id INTEGER)", NULL) < 0);
    assert_true(cf_db_in_transaction(db));
    assert_int_equal(cf_db_commit(db, NULL), 0);
    assert_int_equal(count_rows(db, "race0"), 1);
    cf_db_close(db);
}

/* cf_db_schema_missing and cf_db_exec_missing: a script of "CREATE ... IF
 * NOT EXISTS" statements runs only while one of its tables or indexes is
 * missing; once all are there it takes no lock, so it neither waits for nor
 * blocks a writer holding an open transaction on one of its tables (on
 * PostgreSQL, running "CREATE INDEX IF NOT EXISTS" would wait for that
 * writer here, into the busy timeout). */
static void test_schema_missing(void **state)
{
    static const char script[] = "CREATE TABLE IF NOT EXISTS sm_t (id INTEGER PRIMARY KEY,"
                                 " note TEXT NOT NULL DEFAULT 'a;b' CHECK (note <> ';'));"
                                 "\n CREATE INDEX IF NOT EXISTS sm_by_note ON sm_t (note);\n";
    struct fixture *fx = *state;
    struct cf_db *a = open_db(fx), *b = open_db(fx);
    char err[CF_ERR_LEN] = "";
    bool missing = false;

    assert_int_equal(cf_db_schema_missing(a, script, &missing, err), 0);
    assert_true(missing);
    assert_int_equal(cf_db_exec_missing(a, script, err), 0);
    assert_int_equal(cf_db_schema_missing(a, script, &missing, err), 0);
    assert_false(missing);
    /* An index dropped behind its back is missing again, and made again. */
    exec_ok(a, "DROP INDEX sm_by_note");
    assert_int_equal(cf_db_schema_missing(b, script, &missing, err), 0);
    assert_true(missing);
    assert_int_equal(cf_db_exec_schema(b, script, err), 0);
    assert_int_equal(cf_db_schema_missing(b, script, &missing, err), 0);
    assert_false(missing);
    /* Any other statement counts as something to run. */
    assert_int_equal(cf_db_schema_missing(a, "UPDATE sm_t SET note = 'x'", &missing, err), 0);
    assert_true(missing);
    assert_int_equal(cf_db_schema_missing(a, " ; ", &missing, err), 0);
    assert_false(missing);
    /* A comment could hide a statement from the splitter: always run. */
    assert_int_equal(cf_db_schema_missing(a,
                                          "-- sm_t's index\nCREATE TABLE IF NOT EXISTS sm_t (id"
                                          " INTEGER)",
                                          &missing, err),
                     0);
    assert_true(missing);
    /* Names match whatever their case. */
    assert_int_equal(cf_db_schema_missing(a, "CREATE INDEX IF NOT EXISTS SM_By_Note ON sm_t (note)",
                                          &missing, err),
                     0);
    assert_false(missing);

    /* A writer's open transaction on sm_t: the script, complete, returns at
     * once on the other connection, inside a transaction or not. */
    assert_int_equal(cf_db_begin(a, NULL), 0);
    assert_int_equal(run_int(a, "INSERT INTO sm_t (id, note) VALUES (?1, 'w')", 1, NULL),
                     CF_DB_DONE);
    assert_int_equal(cf_db_set_busy_timeout(b, 10), 0);
    assert_int_equal(cf_db_exec_missing(b, script, err), 0);
    assert_int_equal(cf_db_exec_schema(b, script, err), 0);
    assert_int_equal(cf_db_commit(a, NULL), 0);
    assert_int_equal(count_rows(b, "sm_t"), 1);
    cf_db_close(a);
    cf_db_close(b);
}

/* ---- group commit ---------------------------------------------------------- */

#define GROUP_THREADS 16
#define GROUP_ROWS    40

struct group_writer {
    const char *uri;
    int id;
    int failures;
};

/* Alternate transactions and autocommit writes on a connection of its own. */
static void *group_writer_run(void *arg)
{
    struct group_writer *c = arg;
    struct cf_db *db = NULL;

    if (cf_db_open(c->uri, &db, NULL) != 0) {
        c->failures = GROUP_ROWS;
        return NULL;
    }
    for (int i = 0; i < GROUP_ROWS; i++) {
        int64_t key = (int64_t)c->id * 1000 + i;
        int rc = 0;

        if (i % 2 == 0)
            rc = cf_db_begin(db, NULL);
        if (rc == 0)
            rc = run_int(db, "INSERT INTO t (a) VALUES (?1)", key, NULL);
        if (rc == CF_DB_DONE && i % 2 == 0)
            rc = cf_db_commit(db, NULL);
        if (rc != 0 && rc != CF_DB_DONE) {
            cf_db_rollback(db);
            c->failures++;
        }
    }
    cf_db_close(db);
    return NULL;
}

/* Many connections of one process commit at once (on SQLite they share the
 * fsyncs of the write-ahead log and queue for the write lock): every commit
 * succeeds, none waits into a busy timeout, and all of them are there after
 * every connection closed and a new one opened. */
static void test_group_commit(void **state)
{
    struct fixture *fx = *state;
    struct group_writer c[GROUP_THREADS];
    pthread_t th[GROUP_THREADS];
    struct cf_db *db = open_db(fx);

    exec_ok(db, "CREATE TABLE t (a BIGINT PRIMARY KEY)");
    cf_db_close(db);
    for (int i = 0; i < GROUP_THREADS; i++) {
        c[i] = (struct group_writer){.uri = fx->uri, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, group_writer_run, &c[i]), 0);
    }
    for (int i = 0; i < GROUP_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(c[i].failures, 0);
    }
    db = open_db(fx);
    assert_int_equal(count_rows(db, "t"), GROUP_THREADS * GROUP_ROWS);
    cf_db_close(db);
}

#define GW_THREADS 8
#define GW_WRITES  60 /* per thread; every GW_BAD-th one fails */
#define GW_BAD     7

struct gw_shared {
    struct cf_db_group group;
    struct cf_db_pool *pool;
};

struct gw_thread {
    struct gw_shared *sh;
    int id;
    int wrong; /* answers that were not the write's own */
};

/* Insert the key at arg: a write of the group. */
static int gw_insert(struct cf_db *db, void *arg, char *err)
{
    int rc = run_int(db, "INSERT INTO t (a) VALUES (?1)", *(const int64_t *)arg, err);

    return rc < 0 ? rc : 0;
}

static void *gw_run(void *arg)
{
    struct gw_thread *t = arg;

    for (int i = 0; i < GW_WRITES; i++) {
        char err[CF_ERR_LEN] = "";
        bool bad = i % GW_BAD == GW_BAD - 1;
        /* A bad write inserts the key every bad write shares: it fails. */
        int64_t key = bad ? -1 : (int64_t)t->id * 1000 + i;
        int rc = cf_db_group_write(&t->sh->group, t->sh->pool, gw_insert, &key, err);

        if (bad ? rc >= 0 || err[0] == '\0' : rc != 0)
            t->wrong++;
    }
    return NULL;
}

/* Threads writing through one group at once (dbgroup.h): each is answered
 * once, with its own write's result; a failing write fails no other, and
 * every write answered 0 is in the database afterwards. */
static void test_group_write(void **state)
{
    struct fixture *fx = *state;
    struct gw_shared sh;
    struct gw_thread t[GW_THREADS];
    pthread_t th[GW_THREADS];
    struct cf_db *db = open_db(fx);
    char err[CF_ERR_LEN] = "";
    int good = 0;

    exec_ok(db, "CREATE TABLE t (a BIGINT PRIMARY KEY)");
    exec_ok(db, "INSERT INTO t (a) VALUES (-1)");
    cf_db_close(db);
    if (cf_db_pool_open(fx->uri, 4, &sh.pool, err) != 0)
        fail_msg("pool %s: %s", fx->uri, err);
    cf_db_group_init(&sh.group);
    for (int i = 0; i < GW_THREADS; i++) {
        t[i] = (struct gw_thread){.sh = &sh, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, gw_run, &t[i]), 0);
    }
    for (int i = 0; i < GW_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(t[i].wrong, 0);
    }
    cf_db_group_fini(&sh.group);
    cf_db_pool_close(sh.pool);
    for (int i = 0; i < GW_WRITES; i++)
        good += i % GW_BAD != GW_BAD - 1;
    db = open_db(fx);
    assert_int_equal(count_rows(db, "t"), 1 + GW_THREADS * good);
    cf_db_close(db);
}

#define KILL_THREADS 4
#define KILL_WANT    200 /* acknowledged commits before the kill */

struct killed {
    const char *uri;
    int id, fd;
};

/* The child's committers: report each key on the pipe once its commit returned. */
static void *killed_run(void *arg)
{
    struct killed *k = arg;
    struct cf_db *db = NULL;

    if (cf_db_open(k->uri, &db, NULL) != 0)
        _exit(3);
    for (int64_t key = (int64_t)k->id << 32;; key++) {
        if (cf_db_begin(db, NULL) != 0 ||
            run_int(db, "INSERT INTO t (a) VALUES (?1)", key, NULL) != CF_DB_DONE ||
            cf_db_commit(db, NULL) != 0)
            _exit(4);
        if (write(k->fd, &key, sizeof(key)) != (ssize_t)sizeof(key))
            _exit(5);
    }
    return NULL;
}

/* A process killed (SIGKILL) while its threads commit: every commit it
 * acknowledged is in the database when it is opened again. */
static void test_commit_survives_kill(void **state)
{
    struct fixture *fx = *state;
    struct cf_db *db = open_db(fx);
    int64_t *got = calloc(KILL_WANT + 64, sizeof(*got));
    int fds[2], status = 0;
    size_t n = 0;
    pid_t pid;

    assert_non_null(got);
    exec_ok(db, "CREATE TABLE t (a BIGINT PRIMARY KEY)");
    cf_db_close(db);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct killed k[KILL_THREADS];
        pthread_t th;

        (void)close(fds[0]);
        for (int i = 0; i < KILL_THREADS; i++) {
            k[i] = (struct killed){.uri = fx->uri, .id = i + 1, .fd = fds[1]};
            if (pthread_create(&th, NULL, killed_run, &k[i]) != 0)
                _exit(2);
        }
        for (;;)
            pause();
    }
    (void)close(fds[1]);
    /* Each key is one 8-byte write, so reads never split one. */
    while (n < KILL_WANT) {
        ssize_t r = read(fds[0], &got[n], sizeof(*got));

        if (r != (ssize_t)sizeof(*got))
            break;
        n++;
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    (void)close(fds[0]);
    assert_int_equal(n, KILL_WANT);

    db = open_db(fx);
    for (size_t i = 0; i < n; i++) {
        struct cf_db_stmt *s = NULL;
        int64_t hit = 0;

        assert_int_equal(cf_db_prepare(db, "SELECT count(*) FROM t WHERE a = ?1", &s, NULL), 0);
        cf_db_bind_int64(s, 1, got[i]);
        assert_int_equal(cf_db_step_one(s, &hit, 1, NULL), CF_DB_ROW);
        cf_db_finalize(s);
        if (hit != 1)
            fail_msg("acknowledged key %lld lost", (long long)got[i]);
    }
    assert_true(count_rows(db, "t") >= (int64_t)n);
    cf_db_close(db);
    free(got);
}

/* ---- pool wait ------------------------------------------------------------ */

/* Past the pool's wait, acquire hands out a stand-in that refuses every call
 * with CF_EBUSY instead of blocking the caller for good. */
static void test_pool_wait(void **state)
{
    struct fixture *fx = *state;
    struct cf_db_pool *pool = NULL;
    struct cf_db *db, *late;
    char err[CF_ERR_LEN] = "";
    int64_t v = 0;

    cf_db_pool_set_default_wait(50);
    assert_int_equal(cf_db_pool_open(fx->uri, 1, &pool, err), 0);
    cf_db_pool_set_default_wait(0);
    db = cf_db_pool_acquire(pool);
    exec_ok(db, "CREATE TABLE t (a BIGINT)");
    late = cf_db_pool_acquire(pool);
    assert_ptr_not_equal(late, db);
    assert_int_equal(cf_db_begin(late, err), CF_EBUSY);
    assert_int_equal(cf_db_run(late, &v, 1, err, "SELECT count(*) FROM t", ""), CF_EBUSY);
    assert_int_equal(cf_db_exec(late, "DELETE FROM t", err), CF_EBUSY);
    assert_false(cf_db_in_transaction(late));
    cf_db_pool_release(pool, late);
    cf_db_pool_release(pool, db);
    /* The pool is whole again. */
    db = cf_db_pool_acquire(pool);
    assert_int_equal(count_rows(db, "t"), 0);
    cf_db_pool_release(pool, db);
    cf_db_pool_close(pool);
}

/* ---- PostgreSQL: a lost connection ---------------------------------------- */

/* The server pid of db's session. */
static int64_t backend_pid(struct cf_db *db)
{
    int64_t pid = 0;

    assert_int_equal(cf_db_run(db, &pid, 1, NULL, "SELECT pg_backend_pid()", ""), CF_DB_ROW);
    return pid;
}

/* End the session `pid` from killer, as a server restart or an operator
 * would, and wait (at most 5 s, inside the server) until it is gone. */
static void terminate(struct cf_db *killer, int64_t pid)
{
    int64_t ok = 0;

    assert_int_equal(cf_db_run(killer, &ok, 1, NULL,
                               "SELECT pg_terminate_backend(CAST(?1 AS INTEGER), 5000)", "i", pid),
                     CF_DB_ROW);
    assert_int_equal(ok, 1);
}

struct committer {
    struct cf_db *db;
    int rc;
};

static void *commit_slowly(void *arg)
{
    struct committer *c = arg;
    char err[CF_ERR_LEN] = "";

    c->rc = cf_db_begin(c->db, err);
    if (c->rc == 0)
        c->rc = run_int(c->db, "INSERT INTO slow (a) VALUES (?1)", 1, err);
    if (c->rc == CF_DB_DONE)
        c->rc = cf_db_commit(c->db, err);
    return NULL;
}

/* A terminated session: reads come back by themselves, a write outside a
 * transaction fails once, a transaction fails until rolled back, a COMMIT
 * cut off is in doubt; and every statement has a timeout. */
static void test_pg_lost_connection(void **state)
{
    struct fixture *fx = *state;
    struct cf_db *a, *killer;
    struct cf_db_stmt *s = NULL;
    struct committer cm;
    pthread_t th;
    char err[CF_ERR_LEN] = "";
    int64_t v = 0;

    if (!on_pg())
        skip();
    a = open_db(fx);
    killer = open_db(fx);
    exec_ok(a, "CREATE TABLE t (a BIGINT)");
    assert_int_equal(run_int(a, "INSERT INTO t (a) VALUES (?1)", 1, NULL), CF_DB_DONE);
    assert_int_equal(count_rows(a, "t"), 1); /* cached: prepared in the first session */

    /* A read outside a transaction is run again on a new session. */
    terminate(killer, backend_pid(a));
    assert_int_equal(count_rows(a, "t"), 1);

    /* A write outside a transaction is not retried: it fails, the next works. */
    terminate(killer, backend_pid(a));
    assert_int_equal(run_int(a, "INSERT INTO t (a) VALUES (?1)", 2, err), CF_EUNAVAIL);
    assert_int_equal(run_int(a, "INSERT INTO t (a) VALUES (?1)", 2, err), CF_DB_DONE);
    assert_int_equal(count_rows(a, "t"), 2);

    /* Inside a transaction: nothing runs until the caller rolls back, and
     * nothing of the transaction stays. */
    assert_int_equal(cf_db_begin(a, NULL), 0);
    assert_int_equal(run_int(a, "INSERT INTO t (a) VALUES (?1)", 3, NULL), CF_DB_DONE);
    terminate(killer, backend_pid(a));
    assert_int_equal(run_int(a, "INSERT INTO t (a) VALUES (?1)", 4, err), CF_EUNAVAIL);
    assert_true(cf_db_in_transaction(a));
    assert_int_equal(run_int(a, "INSERT INTO t (a) VALUES (?1)", 5, err), CF_EUNAVAIL);
    assert_int_equal(cf_db_commit(a, err), CF_EUNAVAIL);
    assert_false(cf_db_in_transaction(a));
    assert_int_equal(count_rows(a, "t"), 2);
    assert_int_equal(cf_db_begin(a, NULL), 0);
    assert_int_equal(run_int(a, "INSERT INTO t (a) VALUES (?1)", 6, NULL), CF_DB_DONE);
    terminate(killer, backend_pid(a));
    /* Not even a read is run again inside a lost transaction. */
    assert_int_equal(cf_db_run(a, &v, 1, err, "SELECT count(*) FROM t", ""), CF_EUNAVAIL);
    cf_db_rollback(a);
    assert_false(cf_db_in_transaction(a));
    assert_int_equal(cf_db_begin(a, NULL), 0);
    assert_int_equal(run_int(a, "INSERT INTO t (a) VALUES (?1)", 7, NULL), CF_DB_DONE);
    assert_int_equal(cf_db_commit(a, NULL), 0);
    assert_int_equal(count_rows(killer, "t"), 3);

    /* A COMMIT whose session ends while it runs (a deferred trigger makes it
     * last) is neither a success nor a failure. */
    exec_ok(a, "CREATE TABLE slow (a BIGINT);"
               "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql"
               " AS 'BEGIN PERFORM pg_sleep(20); RETURN NULL; END';"
               "CREATE CONSTRAINT TRIGGER slow_t AFTER INSERT ON slow DEFERRABLE INITIALLY DEFERRED"
               " FOR EACH ROW EXECUTE FUNCTION slow_commit()");
    cm.db = a;
    cm.rc = 1;
    v = backend_pid(a);
    assert_int_equal(pthread_create(&th, NULL, commit_slowly, &cm), 0);
    for (int64_t n = 0; n == 0;) {
        assert_int_equal(cf_db_run(killer, &n, 1, NULL,
                                   "SELECT count(*) FROM pg_stat_activity WHERE pid = ?1"
                                   " AND wait_event = 'PgSleep'",
                                   "i", v),
                         CF_DB_ROW);
        if (n == 0)
            (void)usleep(10000);
    }
    terminate(killer, v);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(cm.rc, CF_EINDOUBT);
    assert_false(cf_db_in_transaction(a));
    assert_int_equal(count_rows(a, "slow"), 0);

    /* Statements time out: 30 s by default, or what the session sets. */
    assert_int_equal(cf_db_prepare(a, "SELECT current_setting('statement_timeout')", &s, NULL), 0);
    assert_int_equal(cf_db_step(s, NULL), CF_DB_ROW);
    assert_string_equal(cf_db_column_text(s, 0, NULL), "30s");
    cf_db_finalize(s);
    exec_ok(a, "SET statement_timeout = 50");
    assert_int_equal(cf_db_exec(a, "SELECT pg_sleep(5)", err), CF_ETIMEDOUT);
    assert_int_equal(count_rows(a, "t"), 3);
    cf_db_close(a);
    cf_db_close(killer);
}

/* Passwords in a URI or conninfo are masked; nothing else changes. */
static void test_uri_redact(void **state)
{
    static const char *const cases[][2] = {
        {"sqlite:/var/lib/coffer/catalog.db", "sqlite:/var/lib/coffer/catalog.db"},
        {"postgres:host=db1 user=coffer password=s3cret dbname=c",
         "postgres:host=db1 user=coffer password=*** dbname=c"},
        {"postgres:password = 'a b\\' c' host=db1", "postgres:password = *** host=db1"},
        {"postgres:host=db1 password=", "postgres:host=db1 password=***"},
        {"postgres:host=db1 mypassword=x", "postgres:host=db1 mypassword=x"},
        {"postgresql://coffer:s3cret@db1:5432/c?sslmode=require",
         "postgresql://coffer:***@db1:5432/c?sslmode=require"},
        {"postgres://coffer@db1/c?password=s3cret&sslmode=require",
         "postgres://coffer@db1/c?password=***&sslmode=require"},
        {"postgresql://db1/c", "postgresql://db1/c"},
        {"postgresql://u:p@db1,db2/c?a=b:c@d", "postgresql://u:***@db1,db2/c?a=b:c@d"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *r = cf_db_uri_redact(cases[i][0]);
        assert_string_equal(r, cases[i][1]);
        free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_uris, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durability_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_mmap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_types_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_constraint_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_sql_and_binds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_returning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statement_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_survives_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_lost_connection, setup, teardown),
        cmocka_unit_test(test_uri_redact),
    };

    cf_log_init("test_db", CF_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
