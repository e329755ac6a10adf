/*
 * fsdb_int.h -- private to src/fsdb: the file system database handle and
 * the helpers shared by fsdb.c (catalog, shards, clients, names), users.c
 * (users, groups, permissions), tree.c (folders, files, versions) and
 * trash.c (trash).
 *
 * The catalog and the cached shards are a struct cf_shardset (shardset.h),
 * whose locking rules hold here: an entry stays valid without a lock until
 * cf_fsdb_close. A connection of the catalog is never acquired while one of
 * a shard is held, except in cf_fsdb_client_add, which holds the catalog's
 * write transaction while it creates the root folder in the shard (catalog,
 * then shard: the only order used, and the set's own).
 */
#ifndef COFFER_FSDB_INT_H
#define COFFER_FSDB_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/db.h"
#include "coffer/dbgroup.h"
#include "coffer/fsdb.h"
#include "coffer/shardset.h"

/* Schema version written in coffer_meta; a database of another version is refused. */
#define CF__FSDB_SCHEMA_VERSION 1

/* A shard's flag (struct cf_shardset_shard.flags): the shards table's
 * read_only column. A read-only shard gets no new clients. */
#define CF__FSDB_READ_ONLY 1u

/* Minimum spacing of miss-driven re-reads of the shards table that find
 * nothing (shardset.h, "Misses"): reached only with a damaged catalog, since
 * every shard id fsdb looks up comes from the catalog. */
#define CF__FSDB_RELOAD_MIN_MS 1000

/* Client -> shard and root folder entries kept in memory: a client's shard
 * is fixed when it is made, its root folder can be neither moved nor
 * deleted, and clients are never removed, so an entry never goes stale. */
#define CF__FSDB_SHARD_CACHE 4096

struct cf__fsdb_shard_of {
    uint64_t client; /* 0: empty */
    uint32_t shard;
    uint64_t root; /* 0: not known yet */
};

/* The client's root folder id if fsdb keeps it in memory, else 0. */
uint64_t cf__fsdb_root_cached(struct cf_fsdb *fs, uint64_t client);

/* Keep root as the client's root folder id (once its shard is kept). */
void cf__fsdb_root_keep(struct cf_fsdb *fs, uint64_t client, uint64_t root);

struct cf_fsdb {
    struct cf_shardset *set;    /* the catalog and the cached shards */
    struct cf_db_pool *catalog; /* the set's catalog (shards and clients tables); borrowed */
    pthread_mutex_t shard_mu;   /* guards shard_of */
    struct cf__fsdb_shard_of shard_of[CF__FSDB_SHARD_CACHE]; /* by client id, direct-mapped */
    pthread_mutex_t chg_mu;                                  /* guards chg_gen */
    pthread_cond_t chg_cv; /* broadcast when chg_gen grows (CLOCK_MONOTONIC) */
    uint64_t chg_gen;      /* journaled changes committed by this process */
};

/* A connection to one client's shard, from cf__fsdb_acquire. */
struct cf__fsdb_conn {
    struct cf_shardset_shard *sh;
    struct cf_db *db;
};

/* Find client's shard (catalog look-up; a shard not cached yet is loaded)
 * and take one of its connections into *c. Returns 0, CF_ENOTFOUND (no such
 * client), or a db.h error; on failure c->db is NULL. */
int cf__fsdb_acquire(struct cf_fsdb *fs, uint64_t client, struct cf__fsdb_conn *c, char *err);

/* cf__fsdb_acquire, then begin a transaction on the connection: a write one
 * (cf_db_begin) when write, else a read snapshot (cf_db_begin_read). On
 * failure c may still hold the connection: cf__fsdb_release it as always. */
int cf__fsdb_begin(struct cf_fsdb *fs, uint64_t client, struct cf__fsdb_conn *c, bool write,
                   char *err);

/* Give c's connection back (rolling back a transaction left open). Safe on
 * a conn whose db is NULL. */
void cf__fsdb_release(struct cf__fsdb_conn *c);

/* Run write(db, arg, err) in a write transaction of client's shard and
 * commit it, sharing the transaction with the changes other threads make
 * on that shard at the same time (group commit, dbgroup.h: each answers as
 * it would alone). write reads and writes on db only (no other connection,
 * no catalog). Returns 0 (committed), write's error, CF_ENOTFOUND (no such
 * client), or the commit's error (db.h; with CF_EINDOUBT the caller reads
 * again to know). Must be called with no connection of fsdb held. */
int cf__fsdb_group_write(struct cf_fsdb *fs, uint64_t client, cf_db_group_fn write, void *arg,
                         char *err);

/* A new id from the shard's counter (coffer_meta.last_id). Inside the
 * caller's transaction, so an id is taken only if the row using it is. */
int cf__fsdb_new_id(struct cf_db *db, int64_t *out, char *err);

/* cf_fsdb_name_validate on a NUL-terminated name; NULL is CF_EINVAL. */
int cf__fsdb_check_name(const char *name, char *err);

/* Make room for element n (0-based) of an array of elem-byte elements
 * growing by doubling. Returns 0, or CF_ETOOLARGE past CF_FSDB_LIST_MAX. */
int cf__fsdb_grow(void **arr, size_t *cap, size_t n, size_t elem, char *err);

/* One keyset page read by cf__fsdb_page: the caller's statements and rows.
 *
 * query is called with the shard's connection, the statement number i
 * (0, 1, ...), the rows collected so far (got) and the rows wanted in all
 * (the page's limit + 1, the extra row telling whether more follow). It
 * checks what it needs, prepares the next statement into *s and returns 0;
 * *s left NULL ends the page. It returns an error to fail the page (*s
 * NULL). row fills one zeroed element (elem bytes) from the current row of
 * statement i and returns 0 or an error. arg is passed to both, borrowed. */
struct cf__fsdb_page {
    size_t elem;      /* bytes of one element */
    const char *what; /* names the elements in the limit error ("entries") */
    int (*query)(struct cf_db *db, void *arg, int i, size_t got, size_t want, struct cf_db_stmt **s,
                 char *err);
    int (*row)(struct cf_db_stmt *s, void *arg, int i, void *elem);
    void *arg;
};

/* Read one page of up to limit (1..CF_FSDB_LIST_MAX) elements of client's
 * shard as p says: take a connection, run p->query's statements in turn,
 * collecting their rows through p->row until limit + 1 are had, and give
 * the connection back. *more is whether rows follow the page. *out: array
 * of *n (caller owns; free(); NULL when *n is 0). Returns 0, CF_EINVAL
 * (limit), CF_ENOTFOUND (client), CF_ETOOLARGE, or an error of p's
 * callbacks or db.h; on failure *out is NULL, *n 0 and *more false. A whole
 * listing is the page of CF_FSDB_LIST_MAX: more rows than that fail with
 * CF_ETOOLARGE (cf__fsdb_grow), so *more stays false. */
int cf__fsdb_page(struct cf_fsdb *fs, uint64_t client, size_t limit, const struct cf__fsdb_page *p,
                  void **out, size_t *n, bool *more, char *err);

/* cf__fsdb_page on db, a connection of the client's shard the caller holds
 * (and keeps: in its transaction, if one is open). */
int cf__fsdb_page_on(struct cf_db *db, size_t limit, const struct cf__fsdb_page *p, void **out,
                     size_t *n, bool *more, char *err);

/* cf__fsdb_page of a list kept in time order (the trash, the emptied
 * files): sql takes ?1 the client, ?2 and ?3 the time and id of the last
 * row of the previous page (0 and 0 for the first), ?4 how many rows, and
 * orders its rows by time, then id; row fills one element of elem bytes
 * from a row. */
int cf__fsdb_time_page(struct cf_fsdb *fs, uint64_t client, const char *sql, uint64_t after_ms,
                       uint64_t after_id, size_t limit, size_t elem,
                       int (*row)(struct cf_db_stmt *s, void *elem), void **out, size_t *n,
                       bool *more, char *err);

/* The live folder `folder` of client exists (it is the root or reaches the
 * root through live parents). Returns 0, CF_ENOTFOUND, or a db.h error. */
int cf__fsdb_folder_live(struct cf_db *db, uint64_t client, uint64_t folder, char *err);

/* cf_fsdb_perm_effective on a connection the caller holds: checks that
 * folder is live (cf__fsdb_folder_live), then cf__fsdb_perm_level_live. For
 * a folder id that comes from outside the caller's transaction. */
int cf__fsdb_perm_level(struct cf_db *db, uint64_t client, uint64_t user, uint64_t folder,
                        enum cf_fsdb_level *out, char *err);

/* The effective level of user on folder (fsdb.h "Permissions") into *out,
 * without checking that folder is live: only for a folder that the
 * caller's own read transaction reached by walking down from the root
 * (tree.c, walk), which proves it. A trashed folder passed here would be
 * judged by the entries on it and above it, not refused. Returns 0,
 * CF_ENOTFOUND (user), CF_ECORRUPT (a stored level out of range), or a
 * db.h error. */
int cf__fsdb_perm_level_live(struct cf_db *db, uint64_t client, uint64_t user, uint64_t folder,
                             enum cf_fsdb_level *out, char *err);

/* 0 if no live folder or file of client named name is in parent, CF_EEXIST
 * if one is, or a db.h error. */
int cf__fsdb_name_free(struct cf_db *db, uint64_t client, uint64_t parent, const char *name,
                       char *err);

/* Is `folder` equal to `ancestor` or below it? Returns 1, 0, or an error. */
int cf__fsdb_is_within(struct cf_db *db, uint64_t client, uint64_t folder, uint64_t ancestor,
                       char *err);

/* Fill *out with the live or trashed file `file` of client and its current
 * version. Returns 0, CF_ENOTFOUND, CF_ECORRUPT, or a db.h error. */
int cf__fsdb_file_entry(struct cf_db *db, uint64_t client, uint64_t file, struct cf_fsdb_entry *out,
                        char *err);

/* Append a change to the journal (journal.c) inside the caller's write
 * transaction: the item now at folder/name (name NULL: the folder `folder`
 * itself), for a move also the place it left (old_folder/old_name; old_name
 * NULL otherwise), the item id, and for a file its entry (current version,
 * size, SHA-512; NULL for a folder). Returns 0, CF_ETOOLARGE (the path is
 * too long), CF_ENOTFOUND or a db.h error. */
int cf__fsdb_journal(struct cf_db *db, uint64_t client, enum cf_fsdb_change_kind kind,
                     enum cf_fsdb_kind type, uint64_t folder, const char *name, uint64_t old_folder,
                     const char *old_name, uint64_t item, const struct cf_fsdb_entry *file,
                     int64_t now, char *err);

/* After a journaled change committed: wake the waiters of
 * cf_fsdb_changes_wait. */
void cf__fsdb_changed(struct cf_fsdb *fs);

/* Set up and tear down chg_mu and chg_cv (cf_fsdb_open, cf_fsdb_close). */
void cf__fsdb_changes_init(struct cf_fsdb *fs);
void cf__fsdb_changes_fini(struct cf_fsdb *fs);

#endif
