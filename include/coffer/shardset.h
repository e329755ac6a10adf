/*
 * shardset.h -- a catalog database and the shards it lists: the skeleton
 * under the object database (objdb.h) and the file system database (fsdb.h).
 *
 * Role: both sharded databases of coffer (DESIGN §3) keep one catalog
 * database whose "shards" table lists the shards (id, location, created,
 * flags, optionally a limit) and one database per shard. A struct
 * cf_shardset holds what they share: the catalog's URI, directory and
 * connection pool; a cache of the
 * shards table, sorted by id, each entry with its own connection pool;
 * look-up by binary search; re-reading the table, on demand or on a miss
 * (rate limited); resolution of relative "sqlite:" locations; and the order
 * in which a shard is added. The owner keeps its own schema, the rest of its
 * catalog tables and its per-shard state, and supplies them through struct
 * cf_shardset_ops.
 *
 * Entries. struct cf_shardset_shard is the first member of the owner's shard
 * struct (ops->shard_size bytes, allocated zeroed by the set), so the owner
 * turns a pointer to it back into its own type with a cast (C17 6.7.2.1:
 * a pointer to a struct, converted, points to its first member and back).
 * Entries are never removed or freed before cf_shardset_close, so a pointer
 * from any call here stays valid, without a lock, until then. id, location,
 * created_ms and pool never change once an entry is published; only the
 * flags and the limit do, and they are read with cf_shardset_flags and
 * cf_shardset_limit.
 *
 * Locations. A shard's location is a db.h URI, kept as stored in the
 * catalog. When the catalog is itself a SQLite file, a "sqlite:" location
 * whose path does not start with '/' is resolved against the catalog's
 * directory, so a data directory can move as a whole; any other location is
 * used as is.
 *
 * Misses. cf_shardset_find on an id that is not cached re-reads the shards
 * table, which brings shards added by another process. A re-read that does
 * not find the id it was for (or fails) holds further miss-driven re-reads
 * off for ops->reload_min_ms: ids that name no shard (a made-up UUID) cost
 * at most one catalog read per interval, while an id that names a shard is
 * found at its first miss. Threads that miss together share one re-read.
 *
 * Adding a shard (cf_shardset_add), in this order: the owner chooses the id
 * and location; the shard's database is created and stamped with its id;
 * the owner writes the catalog row, which is the commit point; only then is
 * the entry published. A failure before the row leaves at most a shard
 * database that no catalog lists.
 *
 * Errors: the db.h codes (logged there) and those named per function, with a
 * detail in err (char[CF_ERR_LEN], may be NULL).
 * Threads: every function is thread-safe; only cf_shardset_close must run
 * alone. Locking: the set's rwlock guards the sorted array and every entry's
 * flags, and is held only for memory operations. A mutex serialises changes
 * to the set of shards (re-read, add), which open databases: the ops
 * callbacks run under it, so they must not call cf_shardset_add,
 * cf_shardset_reload or cf_shardset_find. Order: that mutex, then the
 * rwlock. A re-read holds a catalog connection while it opens a shard's
 * pool (catalog, then shard; owners use the same order). cf_shardset_find
 * (on a miss), cf_shardset_reload and cf_shardset_add take a connection of
 * the catalog's pool: a caller that holds catalog connections must leave
 * one free (with a pool of one, hold none), or it waits forever.
 */
#ifndef COFFER_SHARDSET_H
#define COFFER_SHARDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/db.h"

/* Shard ids are 1..CF_SHARDSET_ID_MAX (16 bits: objdb puts them in UUIDs). */
#define CF_SHARDSET_ID_MAX 65535
/* Flag columns a shards table may have (bits 0..CF_SHARDSET_FLAGS_MAX-1). */
#define CF_SHARDSET_FLAGS_MAX 8

struct cf_shardset;

/* The part of a cached shard that the set manages. */
struct cf_shardset_shard {
    uint32_t id;             /* 1..CF_SHARDSET_ID_MAX */
    char *location;          /* as stored in the catalog; owned by the set */
    uint64_t created_ms;     /* the catalog row's created time */
    struct cf_db_pool *pool; /* the shard's connections; owned by the set */
    unsigned flags;          /* under the set's rwlock: use cf_shardset_flags */
    uint64_t limit;          /* under the set's rwlock: use cf_shardset_limit */
};

/* What an owner (objdb, fsdb) tells the set. Static storage: the set keeps a
 * pointer until cf_shardset_close. */
struct cf_shardset_ops {
    /* Starts the set's log lines ("objdb", "fsdb"). */
    const char *name;
    /* Names a shard in messages ("shard", "fs shard"). */
    const char *shard_word;
    /* Bytes of the owner's shard struct, whose first member is struct
     * cf_shardset_shard: at least sizeof(struct cf_shardset_shard). */
    size_t shard_size;
    /* The shards table in id order: "SELECT id, location, created, ..."
     * followed by nflags (0..CF_SHARDSET_FLAGS_MAX) columns, each 0 or not,
     * which become flag bits 0, 1, ... of the entry. */
    const char *select_sql;
    unsigned nflags;
    /* true: select_sql has one more column after the flags, an integer
     * >= 0 the owner gives a meaning to (objdb: the most objects a shard
     * takes, 0 for no limit), kept as the entry's limit. */
    bool has_limit;
    /* Minimum spacing of miss-driven re-reads that find nothing (see
     * "Misses"); 0 re-reads on every miss. */
    unsigned reload_min_ms;
    /* Make db (a connection to uri; both borrowed) the owner's catalog
     * (id 0; create is then true) or its shard `id`: with create, create
     * what is missing and stamp the database with its kind and id; without,
     * check the stamp (and upgrade in place if the owner does that).
     * Returns 0, or an error with the reason in err (CF_EINVAL: another
     * database). Runs with no transaction open; leaves none open. */
    int (*open_db)(struct cf_db *db, const char *uri, uint32_t id, bool create, char *err);
    /* Set up the owner's part of a new entry, after the set's part is
     * filled and before anyone else can see it; NULL if there is none.
     * Cannot fail. */
    void (*shard_init)(struct cf_shardset_shard *sh);
    /* Release what shard_init set up; runs before the entry is freed, also
     * for an entry that never got published. NULL if there is nothing. */
    void (*shard_fini)(struct cf_shardset_shard *sh);
};

/* ---- open / close ------------------------------------------------------ */

/* Open the catalog at catalog_uri (borrowed) with pool_size connections
 * (1..CF_DB_POOL_MAX), make it the owner's catalog (ops->open_db, id 0),
 * and open every shard its shards table lists, with pool_size connections
 * each. ops is kept. On success *out is the set (caller owns; release with
 * cf_shardset_close). Returns 0, CF_EINVAL (bad pool size, a URI or a
 * database refused), CF_ECORRUPT (a shards row out of bounds, logged), or
 * a db.h error; *out is NULL and nothing is left open on failure. */
CF_MUST_CHECK int cf_shardset_open(const char *catalog_uri, unsigned pool_size,
                                   const struct cf_shardset_ops *ops, struct cf_shardset **out,
                                   char *err);

/* Close every shard's pool (running ops->shard_fini on each entry), then
 * the catalog's. Every connection must have been released. NULL is a no-op. */
void cf_shardset_close(struct cf_shardset *set);

/* The catalog's connections (valid until cf_shardset_close), its URI as
 * given to cf_shardset_open (valid as long), and the directory of a SQLite
 * catalog against which relative locations are resolved (NULL for another
 * backend). Getters: none of them allocates. */
struct cf_db_pool *cf_shardset_catalog(const struct cf_shardset *set);
const char *cf_shardset_catalog_uri(const struct cf_shardset *set);
const char *cf_shardset_catalog_dir(const struct cf_shardset *set);

/* Put in out (cap bytes) the URI to open for location (borrowed; see
 * "Locations"). Returns 0, or CF_EINVAL if it does not fit (err says so). */
CF_MUST_CHECK int cf_shardset_resolve(const struct cf_shardset *set, const char *location,
                                      char *out, size_t cap, char *err);

/* ---- the cache --------------------------------------------------------- */

/* The cached shard `id`, or NULL. Never reads the catalog. */
struct cf_shardset_shard *cf_shardset_get(struct cf_shardset *set, uint32_t id);

/* The cached shard `id`, re-reading the shards table on a miss under the
 * rule of "Misses". On success *out is the entry. Returns 0, CF_ENOTFOUND
 * (no such shard, or a re-read is held off; err says "no <word> <id>"), or
 * the error of a re-read this call made (*out is NULL on failure). */
CF_MUST_CHECK int cf_shardset_find(struct cf_shardset *set, uint32_t id,
                                   struct cf_shardset_shard **out, char *err);

/* The cached shard with the smallest id >= id, or NULL: a walk over every
 * shard in id order goes from(1), from(sh->id + 1), ... */
struct cf_shardset_shard *cf_shardset_from(struct cf_shardset *set, uint32_t id);

/* Round robin over the cached shards that have none of the flags in
 * `unwanted`: each call returns the next one, or NULL if there is none. */
struct cf_shardset_shard *cf_shardset_pick(struct cf_shardset *set, unsigned unwanted);

/* sh's flags now (sh from this set). */
unsigned cf_shardset_flags(struct cf_shardset *set, const struct cf_shardset_shard *sh);

/* Set the flags of cached shard `id` (after the owner wrote them to the
 * catalog); a no-op if it is not cached, since the next re-read brings it. */
void cf_shardset_set_flags(struct cf_shardset *set, uint32_t id, unsigned flags);

/* sh's limit now (sh from this set; 0 unless ops->has_limit). */
uint64_t cf_shardset_limit(struct cf_shardset *set, const struct cf_shardset_shard *sh);

/* Set the limit of cached shard `id` (after the owner wrote it to the
 * catalog); a no-op if it is not cached. */
void cf_shardset_set_limit(struct cf_shardset *set, uint32_t id, uint64_t limit);

/* One cached shard, its flags and limit, as cf_shardset_snapshot copies them. */
struct cf_shardset_item {
    struct cf_shardset_shard *shard; /* valid until cf_shardset_close */
    unsigned flags;
    uint64_t limit;
};

/* A consistent copy of the cache, in id order: *out is an array of the
 * returned count (caller owns; free()), NULL when the count is 0. */
size_t cf_shardset_snapshot(struct cf_shardset *set, struct cf_shardset_item **out);

/* Re-read the shards table now: open the shards not cached yet and refresh
 * every entry's flags and limit. Returns 0, CF_ECORRUPT (a row out of bounds,
 * logged), CF_EINVAL (a shard's database refused), or a db.h error; entries
 * published before the failure stay. */
CF_MUST_CHECK int cf_shardset_reload(struct cf_shardset *set, char *err);

/* ---- adding a shard ---------------------------------------------------- */

/* Choose the new shard's id and location, on catalog (a connection of the
 * set's catalog, borrowed, with no transaction open). *id and *location
 * come in as given to cf_shardset_add; set *id to 1..CF_SHARDSET_ID_MAX and
 * *location to a non-NULL string that stays valid until cf_shardset_add
 * returns (the caller's, or one kept in arg). Return 0 or an error with the
 * reason in err; cf_shardset_add then fails with it. */
typedef int (*cf_shardset_choose_cb)(struct cf_shardset *set, struct cf_db *catalog, void *arg,
                                     uint32_t *id, const char **location, char *err);

/* Write the catalog row of sh (id, location, created_ms filled; flags 0;
 * not yet visible to anyone) on catalog: the commit point of the add.
 * Return 0 or an error with the reason in err (CF_EEXIST for an id or
 * location already registered). */
typedef int (*cf_shardset_row_cb)(struct cf_db *catalog, const struct cf_shardset_shard *sh,
                                  void *arg, char *err);

/* Add a shard (see "Adding a shard"): choose (may be NULL when id and
 * location are both given), refuse an id already cached, create the
 * shard's database at the resolved location (ops->open_db with create),
 * stamp created_ms with the wall clock, write the row, publish the entry
 * with flags 0 and log it. arg (kept until the call returns) goes to both
 * callbacks. On success *out (may be NULL) is the entry. Returns 0,
 * CF_EEXIST (id cached: "<word> <id> already exists"), CF_EINVAL (location
 * too long, a URI or database refused), the error of a callback, or a db.h
 * error; on failure nothing is published and no row was written by the
 * set. */
CF_MUST_CHECK int cf_shardset_add(struct cf_shardset *set, uint32_t id, const char *location,
                                  cf_shardset_choose_cb choose, cf_shardset_row_cb row, void *arg,
                                  struct cf_shardset_shard **out, char *err);

#endif
