/*
 * objdb_int.h -- private to src/objdb: the object database handle, the
 * cached shards, and helpers shared by objdb.c (open, shards, ids),
 * record.c (records) and filers.c (filer summary table).
 *
 * Locking. odb->lock (a rwlock) guards the shard array and every shard's
 * flags. Shard entries are never freed before cf_objdb_close, so a pointer
 * from cf__objdb_shard_find stays valid without the lock. odb->reload_mu
 * serializes changes to the set of shards (reload, add), which open
 * databases and so must not hold odb->lock while they do. A shard's id_mu
 * guards its block of reserved object ids. Order: reload_mu, then lock;
 * id_mu is never held with either.
 */
#ifndef COFFER_OBJDB_INT_H
#define COFFER_OBJDB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "coffer/db.h"
#include "coffer/objdb.h"

/* Schema versions written in coffer_meta; a database of another version is
 * refused, except that a version 1 shard is upgraded in place when opened
 * (objdb.c, shard_upgrade): version 2 added aliases (dedupe) and the
 * stale-replica list. */
#define CF__OBJDB_CATALOG_VERSION 1
#define CF__OBJDB_SHARD_VERSION   2

struct cf__objdb_shard {
    uint16_t id;
    char *location; /* as stored in the catalog */
    uint64_t created_ms;
    bool read_only; /* under odb->lock */
    bool obsolete;  /* under odb->lock */
    struct cf_db_pool *pool;
    pthread_mutex_t id_mu;
    uint64_t next_oid; /* [next_oid, end_oid) reserved durably, not yet handed out */
    uint64_t end_oid;
};

struct cf_objdb {
    char *catalog_uri;
    char *catalog_dir; /* directory of a SQLite catalog, for relative shard paths; else NULL */
    unsigned pool_size;
    struct cf_db_pool *catalog;

    pthread_rwlock_t lock;
    struct cf__objdb_shard **shards; /* sorted by id */
    size_t nshards, cap;

    pthread_mutex_t reload_mu;
    uint64_t last_reload_ns; /* last re-read caused by a miss; 0: none yet; under reload_mu */

    atomic_uint rr; /* round robin over writable shards */
};

/* The cached shard `id`, re-reading the catalog once (rate-limited) if it is
 * not cached. Returns NULL if unknown. */
struct cf__objdb_shard *cf__objdb_shard_find(struct cf_objdb *odb, uint16_t id);

/* The shard for uuid, or CF_ENOTFOUND with a message in err. */
int cf__objdb_find_shard(struct cf_objdb *odb, const struct cf_uuid *uuid,
                         struct cf__objdb_shard **out, char *err);

/* The first cached shard with id >= id, or NULL. */
struct cf__objdb_shard *cf__objdb_shard_from(struct cf_objdb *odb, uint32_t id);

/* Log and return CF_ECORRUPT for an object id out of bounds in shard sh. */
int cf__objdb_oid_out_of_bounds(struct cf__objdb_shard *sh, int64_t oid, char *err);

/* Prepare sql on db, bind ?1 = oid, run it to the end. Returns 0 or an error. */
int cf__objdb_run_oid(struct cf_db *db, const char *sql, uint64_t oid, char *err);

/* A walk over every shard (the cf_objdb_list_* functions). The callback
 * lists up to `want` entries of shard sh after after_oid into out (entries
 * of the walk's `size` bytes) and returns how many, or an error; arg is the
 * walk's; it sets *last_oid to the last entry's object id. Returning fewer
 * than want means the shard is exhausted, unless the callback sets *more
 * (it stopped early, not to split one object's rows over two pages): then
 * the walk returns the page as it is and the next call resumes after
 * *last_oid; if the page is still empty, it fails with CF_EINVAL. */
typedef int (*cf__objdb_list_cb)(struct cf__objdb_shard *sh, const void *arg, uint64_t after_oid,
                                 void *out, size_t want, uint64_t *last_oid, bool *more, char *err);

/* Fill out[0..cap) from the shards in id order from *cur, advancing it.
 * Returns the number written (0 only at the end, cur->done), or an error
 * (*cur unchanged). */
int cf__objdb_walk(struct cf_objdb *odb, const void *arg, struct cf_objdb_cursor *cur, void *out,
                   size_t size, size_t cap, cf__objdb_list_cb cb, char *err);

/* Columns of a record as read by record.c: the object's row in this order,
 * "replicas, enc_key, deleted, deleted_at, path, size, sha512, created"
 * starting at column 0. Fills those fields of out; CF_ECORRUPT if out of
 * bounds. */
int cf__objdb_read_record_columns(struct cf_db_stmt *s, struct cf_objdb_record *out);

/* Database integers are signed 64-bit: these move the bits of an unsigned
 * value (the random part) in and out unchanged. */
static inline int64_t cf__objdb_i64(uint64_t u)
{
    int64_t v;

    memcpy(&v, &u, sizeof(v));
    return v;
}

static inline uint64_t cf__objdb_u64(int64_t v)
{
    uint64_t u;

    memcpy(&u, &v, sizeof(u));
    return u;
}

#endif
