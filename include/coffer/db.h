/*
 * db.h -- the one database interface of coffer (DESIGN §3).
 *
 * Role: every metadata access (object database, file system database,
 * filer registry) goes through these few calls, so the same callers run on
 * SQLite (embedded default) and PostgreSQL (scale-out) by changing a URI. Backends live behind a
 * private table of operations (src/db/db_int.h).
 * A catalog and the shards it lists, as objdb and fsdb keep them, are built
 * on these calls in shardset.h.
 *
 * URIs:
 *   "sqlite:PATH"    a SQLite file (created if missing); PATH is used as is
 *                    (relative to the working directory) and may not be empty.
 *   "postgres://..." and "postgresql://..."   a PostgreSQL database, as a
 *                    libpq connection URI (passed to libpq as is);
 *   "postgres:CONNINFO"   the same with a libpq key=value string, e.g.
 *                    "postgres:host=/run/pg port=5433 dbname=coffer".
 *                    PostgreSQL notes: write transactions of one database are
 *                    serialized by an advisory lock taken at cf_db_begin
 *                    (READ COMMITTED inside), as SQLite's BEGIN IMMEDIATE
 *                    serializes them; a statement that fails inside a
 *                    transaction aborts it (roll back, as required below);
 *                    "INTEGER PRIMARY KEY" becomes an identity key, so a table
 *                    must either always supply its ids or never.
 *                    Every statement has a timeout (statement_timeout,
 *                    CF_DB_PG_STATEMENT_TIMEOUT_MS, unless the conninfo sets
 *                    its own "options", e.g. options='-c statement_timeout=5s'),
 *                    and connecting one (connect_timeout 10 s, or the
 *                    conninfo's). A lost connection (server restart, backend
 *                    terminated) is re-established by the next call on it,
 *                    then with a backoff of up to 1 s; a SELECT outside a
 *                    transaction that met the loss is run once more on the new
 *                    connection, nothing else is retried (see CF_EUNAVAIL and
 *                    CF_EINDOUBT below).
 *
 * The SQL subset. Callers write SQL that both engines accept:
 *   - parameters are positional and numbered, "?1 ?2 ..." (the PostgreSQL
 *     backend rewrites them to "$1 $2 ..."); numbering starts at 1;
 *   - types: INTEGER (small numbers and 0/1 flags), BIGINT (ids, sizes,
 *     milliseconds since the epoch), TEXT, BLOB; "INTEGER PRIMARY KEY" for a
 *     64-bit key (the rowid in SQLite; in cf_db_exec the PostgreSQL backend
 *     maps it to a BIGINT identity key and BLOB to BYTEA); no AUTOINCREMENT, no
 *     SERIAL: callers allocate ids themselves or use UPDATE ... RETURNING;
 *   - INSERT/UPDATE/DELETE ... RETURNING instead of last_insert_rowid;
 *     ON CONFLICT (...) DO NOTHING / DO UPDATE for upserts;
 *   - no engine-specific functions (group_concat, string_agg, ifnull):
 *     coalesce, max, count, min are fine.
 *
 * Durability (DESIGN §4): once cf_db_commit (or a statement outside a
 * transaction) returns success the change survives a power failure. SQLite
 * runs in WAL mode and the call that commits waits for an fsync of the log
 * shared with the commits running beside it (group commit, src/db/sqsync.c);
 * another connection may see the change a moment before that fsync ends.
 * Foreign keys are enforced.
 *
 * Errors. Every fallible call returns 0 (or a non-negative result) or a
 * negative CF_E* code, with a detail in `err` (char[CF_ERR_LEN], may be NULL):
 *   CF_EEXIST    a UNIQUE or PRIMARY KEY constraint failed
 *   CF_EINVAL    another constraint failed (NOT NULL, CHECK, FOREIGN KEY),
 *                a bad URI, or a bad bind (index out of range, value too big)
 *   CF_EBUSY     the database stayed locked past the busy timeout, or no
 *                pooled connection came free within the pool's wait
 *   CF_EUNAVAIL  (PostgreSQL) the connection is lost or the server cannot be
 *                reached now: the call did nothing, except that a write
 *                outside a transaction may or may not have been applied.
 *                Inside a transaction, the transaction is gone: every call but
 *                cf_db_rollback keeps failing with CF_EUNAVAIL until the
 *                caller rolls back; the connection is then usable again (it
 *                reconnects at its next call)
 *   CF_ETIMEDOUT (PostgreSQL) the statement ran past its statement timeout
 *   CF_EINDOUBT  (PostgreSQL) cf_db_commit only: the connection broke after
 *                COMMIT was sent, so the transaction may or may not be
 *                committed. It is neither a failure nor a success: the
 *                caller must find out by reading the data again (on any
 *                connection) before it reports either
 *   CF_ENOSPC, CF_EREADONLY, CF_ECORRUPT, CF_ENOMEM    as named
 *   CF_EINTERNAL bad SQL or misuse (a bug in the caller)
 *   CF_EIO       anything else
 * Logging: the db layer logs once, at ERROR, the failures an operator must
 * see (CF_EIO, CF_ECORRUPT, CF_ENOSPC, CF_EREADONLY, CF_EINTERNAL,
 * CF_EINDOUBT) with the database and the SQL, and at WARN a busy timeout, a
 * statement timeout, a connection lost or not yet back (CF_EUNAVAIL). CF_EEXIST and constraint
 * failures are results, not events, and are not logged. Callers must not log
 * these codes again.
 *
 * Threads: a struct cf_db and its statements are used by one thread at a
 * time (SQLite "multi-thread" mode); distinct connections may be used
 * concurrently. struct cf_db_pool is thread-safe and hands connections out.
 */
#ifndef COFFER_DB_H
#define COFFER_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"

/* Longest URI accepted, in bytes, not counting the NUL. */
#define CF_DB_URI_MAX 1024
/* Milliseconds a statement waits for a lock before CF_EBUSY, by default. */
#define CF_DB_BUSY_TIMEOUT_MS 5000
/* Prepared statements kept per connection (objdb uses about 20). Beyond
 * this, cf_db_finalize really finalizes. */
#define CF_DB_STMT_CACHE_MAX 64
/* Bytes of one statement's result the PostgreSQL backend keeps (it fetches
 * a result whole at the first step); beyond this the step fails with
 * CF_ETOOLARGE. Results in coffer are a record or a page of a listing. */
#define CF_DB_PG_RESULT_MAX (64 * 1024 * 1024)
/* Bytes of a SQLite database file a connection reads through a memory map
 * (PRAGMA mmap_size) rather than with read() into its own page cache.
 * SQLite maps no more than the file's size and clamps this to its build's
 * limit (SQLITE_MAX_MMAP_SIZE, 2 GiB in the common builds); past the map,
 * pages are read as before. Writes still go through write() and fsync: the
 * map is read-only, so durability is unchanged. Why: a connection's page
 * cache is small (2 MB by default) and private, so with millions of rows
 * each look-up re-read the B-tree pages it crossed with a pread() of 4 KiB,
 * while through the map every connection of the pool reads the kernel's
 * page cache in place. The cost: an I/O error while reading the file
 * through the map is a SIGBUS, not an error code. */
#define CF_DB_SQLITE_MMAP_SIZE (INT64_C(64) * 1024 * 1024 * 1024)
/* Connections in one pool. */
#define CF_DB_POOL_MAX 64
/* Connections per pool when the caller leaves the size to the backend
 * (cf_db_pool_default). On SQLite a commit keeps its connection until the
 * fsync it shares with the commits beside it (group commit), so the pool
 * bounds how many commits one fsync covers; on PostgreSQL every connection
 * is a server process, out of the server's max_connections. */
#define CF_DB_POOL_SQLITE 16
#define CF_DB_POOL_PG     4
/* Milliseconds cf_db_pool_acquire waits for a free connection, by default. */
#define CF_DB_POOL_WAIT_MS 5000
/* Milliseconds a PostgreSQL statement may run, by default (statement_timeout). */
#define CF_DB_PG_STATEMENT_TIMEOUT_MS 30000

/* cf_db_step results besides negative errors. */
#define CF_DB_DONE 0 /* the statement has finished */
#define CF_DB_ROW  1 /* a row is available through the column getters */

struct cf_db;      /* one connection */
struct cf_db_stmt; /* a prepared statement of one connection */
struct cf_db_pool; /* N connections to one database */

/* ---- connections ------------------------------------------------------- */

/* The directory of a "sqlite:PATH" URI (borrowed), against which relative
 * shard locations are resolved: "." for a bare file name. Caller owns the
 * result (free()); NULL for a URI of another backend. */
char *cf_db_sqlite_dir(const char *uri);

/* A copy of uri (borrowed) fit to log or print: a PostgreSQL password,
 * "user:PASS@" in a URI, "password=PASS" in a conninfo (quoted or not) or
 * in a URI's query, becomes "***". Caller owns the result (free()). */
char *cf_db_uri_redact(const char *uri);

/* Open a connection to uri (borrowed). On success *out is the connection
 * (caller owns; release with cf_db_close). Returns 0, CF_EINVAL (bad or
 * unsupported URI), or the backend's error; *out is NULL on failure. */
CF_MUST_CHECK int cf_db_open(const char *uri, struct cf_db **out, char *err);

/* Finalize every statement (none may still be in use) and close. NULL is a
 * no-op. An open transaction is rolled back. */
void cf_db_close(struct cf_db *db);

/* "sqlite" or "postgres" (static string): for the rare caller that must know. */
const char *cf_db_backend(const struct cf_db *db);

/* Change how long a statement waits for a lock before CF_EBUSY (0: fail at
 * once). Returns 0 or CF_EIO. */
CF_MUST_CHECK int cf_db_set_busy_timeout(struct cf_db *db, unsigned ms);

/* Run sql (borrowed): one or more ';'-separated statements without
 * parameters whose rows, if any, are discarded (schema scripts).
 * Returns 0 or an error as listed above. */
CF_MUST_CHECK int cf_db_exec(struct cf_db *db, const char *sql, char *err);

/* Whether sql (borrowed), a schema script, would create anything: *missing
 * is false when every statement is "CREATE TABLE|INDEX IF NOT EXISTS name"
 * (unquoted names; ';'-separated) and every name is already a table or an
 * index of the database's schema, true otherwise (a statement of any other
 * form, a comment or a quoted identifier anywhere counts as something to
 * run). Returns 0 or an error as listed above.
 *
 * Why it matters: on PostgreSQL, "CREATE INDEX IF NOT EXISTS" locks its
 * table in SHARE mode before it sees that the index exists, so a script run
 * at every open would stall writers and can deadlock with a transaction
 * that writes two of the script's tables in the other order. */
CF_MUST_CHECK int cf_db_schema_missing(struct cf_db *db, const char *sql, bool *missing, char *err);

/* cf_db_exec(sql) only when cf_db_schema_missing says it would create
 * something; in or out of the caller's transaction. Returns 0 or an error as
 * listed above. */
CF_MUST_CHECK int cf_db_exec_missing(struct cf_db *db, const char *sql, char *err);

/* cf_db_exec_missing inside a write transaction of its own (db must not be
 * in one; none is begun when nothing is missing): for "CREATE ... IF NOT
 * EXISTS" scripts that several processes may run at the same moment, which
 * PostgreSQL does not make safe on its own (one of two sessions creating one
 * table fails on a unique index of its catalog). Returns 0 or an error as
 * listed above; nothing is left half-made. */
CF_MUST_CHECK int cf_db_exec_schema(struct cf_db *db, const char *sql, char *err);

/* ---- transactions ------------------------------------------------------ */

/* Start a write transaction that takes the write lock now (SQLite BEGIN
 * IMMEDIATE), so no statement inside it can fail with CF_EBUSY half way.
 * Returns 0, CF_EBUSY, or CF_EINTERNAL if one is already open. */
CF_MUST_CHECK int cf_db_begin(struct cf_db *db, char *err);

/* Start a read transaction, for a few reads that belong together; end it
 * with cf_db_rollback (or cf_db_commit). On SQLite (a deferred BEGIN) the
 * reads share one snapshot and take the file's locks once instead of once
 * per statement; on PostgreSQL it does nothing and each statement stays its
 * own transaction, as without it (a round trip saved). Returns 0, or
 * CF_EINTERNAL if a transaction is already open. */
CF_MUST_CHECK int cf_db_begin_read(struct cf_db *db, char *err);

/* Commit. On success the changes are durable. On failure (CF_EINTERNAL if
 * no transaction is open) the transaction has been rolled back and nothing
 * of it is visible, except for CF_EINDOUBT (PostgreSQL: the connection broke
 * during the COMMIT; the transaction is over, committed or not, and the
 * caller must read the data again to know). */
CF_MUST_CHECK int cf_db_commit(struct cf_db *db, char *err);

/* Roll back the open transaction; a no-op if none is open. Cannot fail. */
void cf_db_rollback(struct cf_db *db);

/* True while a transaction is open. */
bool cf_db_in_transaction(struct cf_db *db);

/* ---- statements -------------------------------------------------------- */

/* Prepare sql (borrowed; the cache keeps its own copy). Statements are
 * cached by SQL text: preparing the same text again on this connection
 * returns the cached statement, reset, with no bindings, unless it is in use,
 * in which case a new one is prepared. On success *out is the statement
 * (valid until cf_db_finalize; release it before cf_db_close). Returns 0 or
 * CF_EINTERNAL (bad SQL) / another error; *out is NULL on failure. */
CF_MUST_CHECK int cf_db_prepare(struct cf_db *db, const char *sql, struct cf_db_stmt **out,
                                char *err);

/* Done with s: it is reset, its bindings cleared, and it goes back to the
 * cache (or is finalized if it was not cached). Release a statement as soon
 * as its rows have been read: an unfinished SELECT holds a read snapshot.
 * A change made outside a transaction by a statement released before it
 * finished may or may not be committed: run changes to CF_DB_DONE (or use
 * cf_db_step_one). NULL is a no-op. */
void cf_db_finalize(struct cf_db_stmt *s);

/* Reset s to run again (after CF_DB_DONE or part way through its rows) and
 * clear its bindings. */
void cf_db_reset(struct cf_db_stmt *s);

/* Bind parameter ?i (1-based). Bind errors (index out of range, value too
 * big) are remembered and reported by the next cf_db_step as CF_EINVAL with
 * the parameter named, so a run of binds needs no checks of its own.
 * Values are copied: the caller's memory is borrowed only for the call.
 * bind_text binds SQL NULL when str is NULL; bind_blob binds an empty blob
 * when n == 0 (p may then be NULL). */
void cf_db_bind_int64(struct cf_db_stmt *s, int i, int64_t v);
void cf_db_bind_text(struct cf_db_stmt *s, int i, const char *str);
void cf_db_bind_blob(struct cf_db_stmt *s, int i, const void *p, size_t n);
void cf_db_bind_null(struct cf_db_stmt *s, int i);

/* Run s to its next row. Returns CF_DB_ROW, CF_DB_DONE, or an error (see
 * the list above). After an error, reset or finalize s; in a transaction,
 * roll back. */
CF_MUST_CHECK int cf_db_step(struct cf_db_stmt *s, char *err);

/* Run s, which returns at most one row, to completion: a look-up by key, or
 * an INSERT/UPDATE/DELETE ... RETURNING (whose autocommit change SQLite
 * commits only when the statement finishes, so stepping to the end is what
 * makes it durable and reports a failed commit). If vals is not NULL, the
 * first n columns of the row, if there is one, are copied there as integers.
 * Returns CF_DB_ROW (there was a row), CF_DB_DONE (none), CF_EINTERNAL for
 * a second row, or an error. s is left finished, not reset. */
CF_MUST_CHECK int cf_db_step_one(struct cf_db_stmt *s, int64_t *vals, int n, char *err);

/* Column i (0-based) of the current row; only after cf_db_step returned
 * CF_DB_ROW. Getters never allocate (SQLite may convert a value in place).
 * Pointers are valid until the next step, reset or finalize of s.
 * column_text returns NULL for SQL NULL, and the length (without the NUL it
 * always appends) in *len if len is not NULL. column_blob returns NULL for
 * SQL NULL and for an empty blob; *len is the size. column_int64 gives 0 for
 * SQL NULL. */
int64_t cf_db_column_int64(struct cf_db_stmt *s, int i);
const char *cf_db_column_text(struct cf_db_stmt *s, int i, size_t *len);
const void *cf_db_column_blob(struct cf_db_stmt *s, int i, size_t *len);
bool cf_db_column_is_null(struct cf_db_stmt *s, int i);

/* Copy text column i (SQL NULL reads as "") into out (cap bytes, always
 * NUL-terminated). Returns 0, or CF_ECORRUPT if it does not fit. */
CF_MUST_CHECK int cf_db_column_copy_text(struct cf_db_stmt *s, int i, char *out, size_t cap);

/* ---- one-call statements ---------------------------------------------- */

/* Prepare sql (borrowed) on db and bind its parameters ?1, ?2, ... from the
 * arguments after `types`, one letter per parameter, in order:
 *   'i'  int64_t
 *   'z'  int64_t, where 0 binds SQL NULL (an absent parent or id)
 *   't'  const char *, where NULL binds SQL NULL
 *   'b'  const void *, then size_t: a blob (as cf_db_bind_blob)
 * Each argument must have exactly the type its letter names: a variadic
 * call converts nothing, so cast ((int64_t)x). Any other letter is a bug
 * (cf_assert). Bind errors are deferred to the first step, as with
 * cf_db_bind_*. On success *out is the statement (release it with
 * cf_db_finalize). Returns 0 or the error of cf_db_prepare; *out is NULL
 * on failure. */
CF_MUST_CHECK int cf_db_query(struct cf_db *db, struct cf_db_stmt **out, char *err, const char *sql,
                              const char *types, ...);

/* Prepare and bind as cf_db_query, run the statement with cf_db_step_one
 * (it returns at most one row; the first nvals columns of that row are
 * copied to vals as integers when vals is not NULL), and release it.
 * Returns CF_DB_ROW, CF_DB_DONE, or an error (as cf_db_prepare and
 * cf_db_step_one); vals is written only for CF_DB_ROW. */
CF_MUST_CHECK int cf_db_run(struct cf_db *db, int64_t *vals, int nvals, char *err, const char *sql,
                            const char *types, ...);

/* Read every row of s (prepared and bound; borrowed, not finalized) into a
 * new array of elements of elem_size bytes: read(s, elem) fills one from
 * the current row and returns 0, or CF_ECORRUPT for a row out of bounds
 * (which stops the walk). On success *out is the array (caller frees;
 * NULL when *n is 0) and *n its length. Returns 0, CF_ECORRUPT, or a
 * cf_db_step error with err; *out is NULL and *n 0 on failure. */
CF_MUST_CHECK int cf_db_collect(struct cf_db_stmt *s, size_t elem_size,
                                int (*read)(struct cf_db_stmt *s, void *elem), void **out,
                                size_t *n, char *err);

/* A column added to a table after its first version: the statement(s)
 * that add it (ALTER TABLE ... ADD COLUMN, and any UPDATE that fills it). */
struct cf_db_column {
    const char *table;
    const char *column;
    const char *sql;
};

/* Inside the caller's write transaction, run the sql of each of the n
 * columns that table lacks, in order, so a database made by an older
 * coffer gains them (both engines: SQLite's table_info, PostgreSQL's
 * information_schema in the current schema). Returns 0 or a db.h error
 * with err. */
CF_MUST_CHECK int cf_db_add_columns(struct cf_db *db, const struct cf_db_column *cols, size_t n,
                                    char *err);

/* Check a database's identity row (coffer_meta id 1: kind, version,
 * shard_id), as objdb and fsdb stamp it: it must say `kind`, `version` and
 * shard_id (0 for a catalog). uri (borrowed) names the database in messages
 * and shard_word names a shard ("shard", "fs shard"). Returns 0, CF_EINVAL
 * with the reason in err (not a coffer database, another kind, another
 * version, another shard), or a backend error. */
CF_MUST_CHECK int cf_db_meta_check(struct cf_db *db, const char *uri, const char *kind,
                                   int64_t version, int64_t shard_id, const char *shard_word,
                                   char *err);

/* ---- connection pool --------------------------------------------------- */

/* The pool size for uri (borrowed) when none is configured:
 * CF_DB_POOL_SQLITE for a "sqlite:" URI, else CF_DB_POOL_PG. */
unsigned cf_db_pool_default(const char *uri);

/* Open n connections (1..CF_DB_POOL_MAX) to uri (borrowed). On success *out
 * is the pool (caller owns; release with cf_db_pool_close). Its wait is the
 * process default (cf_db_pool_set_default_wait). Returns 0 or the first
 * connection's error (CF_EINVAL for n out of range); nothing is left open on
 * failure. */
CF_MUST_CHECK int cf_db_pool_open(const char *uri, unsigned n, struct cf_db_pool **out, char *err);

/* The wait of the pools opened from now on in this process, in
 * milliseconds (0: CF_DB_POOL_WAIT_MS), for roles that take it as an
 * option. Call before opening pools; not safe against a concurrent
 * cf_db_pool_open. */
void cf_db_pool_set_default_wait(unsigned ms);

/* Take a connection, waiting while all are taken, but no longer than the
 * pool's wait. The caller has it to itself until cf_db_pool_release.
 * Cannot fail: past the wait it returns a stand-in connection, not in the
 * pool, on which every call fails with CF_EBUSY ("no free database
 * connection"), so a request thread answers 503 instead of hanging; release
 * it with cf_db_pool_release like any other. */
struct cf_db *cf_db_pool_acquire(struct cf_db_pool *p);

/* Give db (from cf_db_pool_acquire on p) back. Every statement of db must
 * be finalized; a transaction left open is rolled back (and logged, as a
 * bug). A stand-in is freed. */
void cf_db_pool_release(struct cf_db_pool *p, struct cf_db *db);

/* The pool's size. */
unsigned cf_db_pool_size(const struct cf_db_pool *p);

/* Close every connection. All must have been released. NULL is a no-op. */
void cf_db_pool_close(struct cf_db_pool *p);

#endif
