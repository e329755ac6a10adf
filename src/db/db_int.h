/*
 * db_int.h -- private to src/db: the connection and statement structs and
 * the table of operations a backend provides.
 *
 * db.c owns everything backend-independent: URI dispatch, the statement
 * cache, deferred bind errors, transactions bookkeeping and the pool. A
 * backend (sqlite.c, postgres.c) fills the handles `h` and
 * implements struct cf__db_ops. Adding PostgreSQL means: a new ops table, a
 * "postgres://" branch in cf_db_open, and in its prepare the rewrites named
 * in db.h (?N -> $N; in DDL INTEGER PRIMARY KEY -> BIGINT PRIMARY KEY,
 * BLOB -> BYTEA). Callers do not change.
 *
 * Threads: as db.h; nothing here is shared between connections.
 */
#ifndef COFFER_DB_INT_H
#define COFFER_DB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/db.h"

struct cf_db_stmt {
    struct cf_db *db;
    void *h;         /* backend statement (sqlite3_stmt *) */
    char *sql;       /* owned copy: the cache key and the text for messages */
    uint64_t hash;   /* of sql */
    bool cached;     /* in db->slots; otherwise finalized on release */
    bool in_use;     /* handed out by cf_db_prepare, not yet released */
    int bind_err;    /* first bind failure since the last reset, or 0 */
    int bind_index;  /* its parameter */
    int bind_native; /* backend code, for the message */
};

/* Slots of the statement cache's hash table: a power of two at least twice
 * CF_DB_STMT_CACHE_MAX, so probes stay short and an empty slot always ends
 * one. Cached statements leave only when the connection closes, so the
 * table needs no deletion. */
#define CF__DB_STMT_SLOTS 128
/* Entries of the cache's memo of SQL addresses (a power of two). */
#define CF__DB_STMT_MEMO 128

/* The memo: the address a caller last passed for a cached statement's text.
 * Callers mostly pass string literals, whose addresses are stable, so a hit
 * skips hashing the text; the text is still compared before the statement
 * is used, so a buffer reused for other SQL only costs a miss. */
struct cf__db_memo {
    const char *sql;
    struct cf_db_stmt *s;
};

struct cf_db {
    const struct cf__db_ops *ops;
    void *h;   /* backend connection (sqlite3 *) */
    char *uri; /* owned; for messages, passwords masked */
    /* The statement cache: at most one statement per SQL text, found by
     * hash of the text with linear probing. */
    struct cf_db_stmt *slots[CF__DB_STMT_SLOTS];
    struct cf__db_memo memo[CF__DB_STMT_MEMO]; /* by address of the caller's text */
    size_t ncached;
    size_t nout;             /* statements handed out and not yet released */
    struct cf_db *next_free; /* cf_db_pool's free list */
    struct cf__sqsync *sync; /* SQLite: group commit state (sqsync.c) */
};

/* A backend. Every function gets a valid handle; error returns follow db.h
 * and put a detail in err (may be NULL). bind_* return 0 or a negative CF_E*
 * and set *native to the backend's code on failure. */
struct cf__db_ops {
    const char *name;
    const char *begin_sql;      /* a write transaction that locks at once */
    const char *begin_read_sql; /* a read transaction; NULL: none (cf_db_begin_read) */
    /* If not NULL, used instead of begin_sql (PostgreSQL: BEGIN, then a lock). */
    int (*begin)(struct cf_db *db, char *err);
    int (*open)(struct cf_db *db, const char *target, char *err);
    void (*close)(struct cf_db *db);
    int (*set_busy_timeout)(struct cf_db *db, unsigned ms);
    int (*exec)(struct cf_db *db, const char *sql, char *err);
    bool (*in_transaction)(struct cf_db *db);
    int (*prepare)(struct cf_db_stmt *s, char *err);
    void (*finalize)(struct cf_db_stmt *s);
    void (*reset)(struct cf_db_stmt *s);
    int (*bind_int64)(struct cf_db_stmt *s, int i, int64_t v, int *native);
    int (*bind_text)(struct cf_db_stmt *s, int i, const char *str, int *native);
    int (*bind_blob)(struct cf_db_stmt *s, int i, const void *p, size_t n, int *native);
    int (*bind_null)(struct cf_db_stmt *s, int i, int *native);
    int (*step)(struct cf_db_stmt *s, char *err);
    int64_t (*column_int64)(struct cf_db_stmt *s, int i);
    const char *(*column_text)(struct cf_db_stmt *s, int i, size_t *len);
    const void *(*column_blob)(struct cf_db_stmt *s, int i, size_t *len);
    bool (*column_is_null)(struct cf_db_stmt *s, int i);
};

extern const struct cf__db_ops cf__db_sqlite_ops;
extern const struct cf__db_ops cf__db_postgres_ops;

/* ---- group commit of the SQLite backend (sqsync.c) ----
 * The connections of this process to one SQLite file form a group. Writers
 * take turns in the group's queue (instead of sleeping in SQLite's busy
 * handler), and a commit returns only after an fsync of the -wal that began
 * after it, one fsync shared by every commit that finished meanwhile
 * (the connection runs synchronous=NORMAL; sqsync.c says why that is as
 * durable as FULL). Threads: as db.h, the state belongs to its connection. */
struct sqlite3;
struct cf__sqsync;

/* Join h (a WAL connection to a file) to its group and hook its commits.
 * Returns 0 and *out, or CF_EIO / CF_ENOMEM with err set. */
int cf__sqsync_attach(struct sqlite3 *h, struct cf__sqsync **out, char *err);
/* Leave the group before h is closed; NULL is a no-op. */
void cf__sqsync_detach(struct cf__sqsync *c, struct sqlite3 *h);
/* How long cf__sqsync_turn waits (the connection's busy timeout). */
void cf__sqsync_set_wait(struct cf__sqsync *c, unsigned ms);
/* Take the writer's turn before BEGIN IMMEDIATE: 0, or CF_EBUSY after the
 * wait. Held until the transaction ends (cf__sqsync_after sees it). */
int cf__sqsync_turn(struct cf__sqsync *c, char *err);
/* After every statement or exec on the connection: releases the turn once
 * no transaction is open, and if the call committed, waits for the -wal on
 * stable storage. 0, or CF_EIO (the commit happened, its fsync failed). */
int cf__sqsync_after(struct cf__sqsync *c, char *err);

/* Log a failure once, at the level its code deserves (db.h "Logging"). */
void cf__db_log_failure(const struct cf_db *db, int rc, const char *what, const char *detail);

#endif
