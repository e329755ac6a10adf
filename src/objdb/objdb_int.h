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

/* Schema version written in coffer_meta; a database of another version is refused. */
#define CF__OBJDB_SCHEMA_VERSION 1

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
