/*
 * fsdb_int.h -- private to src/fsdb: the file system database handle, the
 * cached shards, and the helpers shared by fsdb.c (catalog, shards,
 * clients, names), users.c (users, groups, permissions), tree.c (folders,
 * files, versions) and trash.c (trash).
 *
 * Locking. fs->lock (a rwlock) guards the shard array and the shards'
 * read_only flags. Shard entries are never freed before cf_fsdb_close, so a
 * pointer from cf__fsdb_shard_find stays valid without the lock.
 * fs->reload_mu serialises changes to the set of shards (reload, add), which
 * open databases and so must not hold fs->lock while they do. Order:
 * reload_mu, then lock. A connection of the catalog is never acquired while
 * one of a shard is held, except in cf_fsdb_client_add, which holds the
 * catalog's write transaction while it creates the root folder in the shard
 * (catalog, then shard: the only order used).
 */
#ifndef COFFER_FSDB_INT_H
#define COFFER_FSDB_INT_H

#include <pthread.h>
#include <stdint.h>

#include "coffer/db.h"
#include "coffer/fsdb.h"

/* Schema version written in coffer_meta; a database of another version is refused. */
#define CF__FSDB_SCHEMA_VERSION 1

struct cf__fsdb_shard {
    uint32_t id;
    char *location; /* as stored in the catalog */
    uint64_t created_ms;
    bool read_only; /* under fs->lock */
    struct cf_db_pool *pool;
};

struct cf_fsdb {
    char *catalog_uri;
    char *catalog_dir; /* directory of a SQLite catalog, for relative shard paths; else NULL */
    unsigned pool_size;
    struct cf_db_pool *catalog;

    pthread_rwlock_t lock;
    struct cf__fsdb_shard **shards; /* sorted by id */
    size_t nshards, cap;

    pthread_mutex_t reload_mu;
};

/* A connection to one client's shard, from cf__fsdb_acquire. */
struct cf__fsdb_conn {
    struct cf__fsdb_shard *sh;
    struct cf_db *db;
};

/* Find client's shard (catalog look-up; a shard not cached yet is loaded)
 * and take one of its connections into *c. Returns 0, CF_ENOTFOUND (no such
 * client), or a db.h error; on failure c->db is NULL. */
int cf__fsdb_acquire(struct cf_fsdb *fs, uint64_t client, struct cf__fsdb_conn *c, char *err);

/* Give c's connection back (rolling back a transaction left open). Safe on
 * a conn whose db is NULL. */
void cf__fsdb_release(struct cf__fsdb_conn *c);

/* A new id from the shard's counter (coffer_meta.last_id). Inside the
 * caller's transaction, so an id is taken only if the row using it is. */
int cf__fsdb_new_id(struct cf_db *db, int64_t *out, char *err);

/* cf_fsdb_name_validate on a NUL-terminated name; NULL is CF_EINVAL. */
int cf__fsdb_check_name(const char *name, char *err);

/* Make room for element n (0-based) of an array of elem-byte elements
 * growing by doubling. Returns 0, or CF_ETOOLARGE past CF_FSDB_LIST_MAX. */
int cf__fsdb_grow(void **arr, size_t *cap, size_t n, size_t elem, char *err);

/* The live folder `folder` of client exists (it is the root or reaches the
 * root through live parents). Returns 0, CF_ENOTFOUND, or a db.h error. */
int cf__fsdb_folder_live(struct cf_db *db, uint64_t client, uint64_t folder, char *err);

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

#endif
