/*
 * objdb_int.h -- private to src/objdb: the object database handle and the
 * helpers shared by objdb.c (open, shards, ids), record.c (records),
 * deleted.c (the deleted-object map), maint.c (maintenance), xalias.c
 * (aliases across shards) and filers.c (filer summary table).
 *
 * The catalog and the cached shards are a struct cf_shardset (shardset.h),
 * whose locking rules hold here: an entry (struct cf_shardset_shard) stays
 * valid without a lock until cf_objdb_close, and its flags are read with
 * cf_shardset_flags. Each shard's block of reserved object ids lives in
 * objdb.c, under a mutex of its own that is never held with the set's
 * locks; its queue of record commits (record.c) under another, never held
 * with any other lock nor across a database call.
 */
#ifndef COFFER_OBJDB_INT_H
#define COFFER_OBJDB_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "coffer/db.h"
#include "coffer/dbgroup.h"
#include "coffer/objdb.h"
#include "coffer/shardset.h"

/* Schema versions written in coffer_meta; a database of another version is
 * refused, except that an older shard is upgraded in place when opened
 * (objdb.c, shard_upgrade): version 2 added aliases (dedupe) and the
 * stale-replica list, version 3 the index of records marked deleted,
 * version 4 aliases across shards (alias_refs, alias_voids). */
#define CF__OBJDB_CATALOG_VERSION 1
#define CF__OBJDB_SHARD_VERSION   4

/* A shard's flags (struct cf_shardset_shard.flags): the shards table's
 * read_only and obsolete columns. A shard with either takes no new objects. */
#define CF__OBJDB_READ_ONLY  1u
#define CF__OBJDB_OBSOLETE   2u
#define CF__OBJDB_UNWRITABLE (CF__OBJDB_READ_ONLY | CF__OBJDB_OBSOLETE)

/* An object database shard: the set's entry and what objdb.c and record.c
 * keep per shard. */
struct objdb_shard {
    struct cf_shardset_shard base; /* first: shardset.h "Entries" */
    pthread_mutex_t id_mu;         /* guards the block; never held with the set's locks */
    uint64_t next_oid;             /* [next_oid, end_oid) reserved durably, not yet handed out */
    uint64_t end_oid;
    struct cf_db_group group; /* record commits and upload holds (cf_objdb_commit,
                                 cf_objdb_upload_hold) */
};

struct cf_objdb {
    struct cf_shardset *set;    /* the catalog and the cached shards */
    struct cf_db_pool *catalog; /* the set's catalog (shards and filers tables); borrowed */
    char *catalog_uri;          /* the set's, passwords masked, for messages; owned */
};

/* The shard for uuid (re-reading the catalog on a miss, shardset.h
 * "Misses"), or CF_ENOTFOUND with "no shard N" in err; a failed re-read is
 * logged and answered the same way. */
int cf__objdb_find_shard(struct cf_objdb *odb, const struct cf_uuid *uuid,
                         struct cf_shardset_shard **out, char *err);

/* A connection of uuid's shard in a write transaction (maint.c, xalias.c);
 * text is uuid formatted, for messages. */
struct cf__objdb_txn {
    struct cf_shardset_shard *sh;
    struct cf_db *db; /* NULL when none is held */
    char text[CF_UUID_SIZE];
};

/* Take a connection of uuid's shard into t and begin a transaction on it.
 * On failure t may still hold the connection: cf__objdb_txn_end frees it
 * either way. */
int cf__objdb_txn_begin(struct cf_objdb *odb, const struct cf_uuid *uuid, struct cf__objdb_txn *t,
                        char *err);

/* Roll back whatever is still open in t and give its connection back (a
 * no-op when t holds none). */
void cf__objdb_txn_end(struct cf__objdb_txn *t);

/* In t's transaction: list the replicas of object oid as stale (to be
 * deleted from their filers, since now) and drop its filer rows, as when
 * it becomes an alias. */
int cf__objdb_retire_replicas(struct cf__objdb_txn *t, uint64_t oid, char *err);

/* Log and return CF_ECORRUPT for an object id out of bounds in shard sh. */
int cf__objdb_oid_out_of_bounds(const struct cf_shardset_shard *sh, int64_t oid, char *err);

/* A walk over every shard (the cf_objdb_list_* functions). The callback
 * lists up to `want` entries of shard sh after after_oid into out (entries
 * of the walk's `size` bytes) and returns how many, or an error; arg is the
 * walk's; it sets *last_oid to the last entry's object id. Returning fewer
 * than want means the shard is exhausted, unless the callback sets *more
 * (it stopped early, not to split one object's rows over two pages): then
 * the walk returns the page as it is and the next call resumes after
 * *last_oid; if the page is still empty, the walk goes on after *last_oid
 * when the callback moved it past after_oid (it read rows but listed none
 * of them), and else fails with CF_EINVAL. */
typedef int (*cf__objdb_list_cb)(struct cf_shardset_shard *sh, const void *arg, uint64_t after_oid,
                                 void *out, size_t want, uint64_t *last_oid, bool *more, char *err);

/* Fill out[0..cap) from the shards in id order from *cur, advancing it.
 * Returns the number written (0 only at the end, cur->done), or an error
 * (*cur unchanged). */
int cf__objdb_walk(struct cf_objdb *odb, const void *arg, struct cf_objdb_cursor *cur, void *out,
                   size_t size, size_t cap, cf__objdb_list_cb cb, char *err);

/* Columns of a record as read by record.c: the object's row in this order,
 * "replicas, enc_key, deleted, deleted_at, path, size, sha512, created,
 * xform, stored_size, stored_sha512" starting at column 0. Fills those fields of out; CF_ECORRUPT
 * if out of bounds. */
int cf__objdb_read_record_columns(struct cf_db_stmt *s, struct cf_objdb_record *out);

/* ---- aliases across shards (xalias.c; objdb.h "Dedupe") ---- */

/* Drop the ref of alias from holder's shard; since != 0: only the ref
 * written at that time (a renewed ref belongs to a newer attempt). Returns
 * 0 (also if there is none) or a db.h error. */
int cf__objdb_ref_drop(struct cf_objdb *odb, const struct cf_uuid *holder,
                       const struct cf_uuid *alias, uint64_t since, char *err);

/* cf_objdb_commit_alias and cf_objdb_make_alias when the two records are
 * in different shards: the ref in the holder's shard first, then the alias
 * row; after a failed second step the ref is settled as the sweep does. */
int cf__objdb_commit_xalias(struct cf_objdb *odb, const struct cf_uuid *alias,
                            const struct cf_uuid *holder, uint64_t created_ms, char *err);
int cf__objdb_make_xalias(struct cf_objdb *odb, const struct cf_objdb_dup *d, char *err);

/* The lowest-numbered holder of shard sh, not marked deleted, with this
 * content stored this way (xform), wanting at least min_replicas and listing at least min_filers:
 * 1 and *out, 0 if none, or an error. One query through the content index. */
int cf__objdb_content_in(struct cf_shardset_shard *sh, const uint8_t sha512[64], uint64_t size,
                         unsigned xform, unsigned min_replicas, unsigned min_filers,
                         struct cf_uuid *out, char *err);

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
