/*
 * volume_int.h -- private to src/filer: small objects appended to volume
 * files, made durable by group commit, with an in-memory index.
 *
 * Role: the store (store.h) keeps objects of a known size up to its
 * small_max here instead of one file each. DIR/volumes/NNNNNN.vol holds
 * records one after another:
 *   header (VOL_HEAD bytes): magic, type (put or tombstone), name length,
 *     size, commit time (ms), for a tombstone the volume and offset of the
 *     record it kills, the SHA-512 of the bytes, a CRC-32 of header + name
 *   name (the object's on-disk name, objpath.h)
 *   bytes (a put's `size` bytes)
 * A put or a delete is acknowledged only after an fsync of the volume that
 * started after its record was appended: writers append under a lock, and
 * one of the waiting writers (the leader) runs the fsync for all of them.
 * A failed fsync fails every record not yet durable and truncates them
 * away, so no unacknowledged record is indexed after a restart.
 *
 * The index (name -> volume, offset, size, SHA-512, time) lives in memory
 * only and is rebuilt at open by scanning every volume: a torn tail (a
 * record cut short, or a header whose CRC fails) is truncated away with a
 * WARN line; a record whose bytes fail their SHA-512 is not indexed. A
 * tombstone kills exactly the record at its target location, so the order
 * of the scan does not matter. At open a volume whose dead fraction is over
 * one half is compacted: its live records (and the tombstones still needed)
 * are copied to a new volume, which is synced before the old one is
 * unlinked; a crash in between leaves two copies of the same bytes, and the
 * later one is kept. Volume ids only grow (the highest-numbered volume is
 * never removed without a higher one), so a tombstone never hits a record
 * of a reused id.
 *
 * Threads: every function except open and close is thread-safe.
 * The caller (the store) serialises the name checks against its plain
 * files with its own locks; this module serialises records and the index.
 */
#ifndef COFFER_VOLUME_INT_H
#define COFFER_VOLUME_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/io.h"
#include "coffer/sha512.h"

/* Bytes of a record header; a record is VOL_HEAD + name + bytes. */
#define CF__VOL_HEAD 112

struct cf_vol;

struct cf_vol_obj {
    uint32_t vol;      /* volume id */
    uint64_t off;      /* offset of the object's bytes in the volume */
    uint64_t size;     /* bytes */
    uint64_t mtime_ms; /* commit time, ms since the epoch */
    uint8_t sha[CF_SHA512_LEN];
};

/* Open dir/volumes under dirfd (created if missing; dir, borrowed, names it
 * in messages), scan, truncate torn tails, compact, build the index. io is
 * kept until cf__vol_close. On success *out (caller owns) and *objects,
 * *bytes (the live objects and their sizes). Returns 0 or CF_EIO, err (may
 * be NULL) says why. */
CF_MUST_CHECK int cf__vol_open(int dirfd, const char *dir, const struct cf_io_ops *io,
                               struct cf_vol **out, uint64_t *objects, uint64_t *bytes, char *err);

/* Release everything. NULL is a no-op. No call may be in progress. */
void cf__vol_close(struct cf_vol *v);

/* Whether name (NUL-terminated, borrowed) of bucket is indexed, durable or
 * not yet. */
bool cf__vol_taken(struct cf_vol *v, uint32_t bucket, const char *name);

/* Look up a durable object. Returns 0 (*out filled) or CF_ENOTFOUND. */
CF_MUST_CHECK int cf__vol_lookup(struct cf_vol *v, uint32_t bucket, const char *name,
                                 struct cf_vol_obj *out);

/* Open volume id for reading. Returns the fd (caller owns) or CF_EIO. */
CF_MUST_CHECK int cf__vol_open_read(struct cf_vol *v, uint32_t id);

/* An fd to read volume id with pread, for a read that ends before the
 * caller returns: the fd kept open for it (*owned false: the caller must
 * not close it, nor use it after cf__vol_close), opened on its first read;
 * or, past the ids and the number of fds kept, a new one as from
 * cf__vol_open_read (*owned true: the caller closes it). Returns the fd or
 * CF_EIO. Keeping fds is sound because a volume file is never replaced or
 * removed while v is open (compaction and removal happen in cf__vol_open,
 * before any reader), so an fd opened once reads the same file the index
 * points into; whatever happens to the file in place (appends, a failed
 * sync truncating records never indexed, damage) shows through it as
 * through a new one. */
CF_MUST_CHECK int cf__vol_read_fd(struct cf_vol *v, uint32_t id, bool *owned);

/* Claim name for a put: an index entry no reader sees yet. Returns 0 or
 * CF_EEXIST (the name is indexed). Follow with cf__vol_put or
 * cf__vol_unclaim. */
CF_MUST_CHECK int cf__vol_claim(struct cf_vol *v, uint32_t bucket, const char *name);

/* Drop a claim that will not be put. */
void cf__vol_unclaim(struct cf_vol *v, uint32_t bucket, const char *name);

/* Append the claimed name's record and wait until it is durable. rec
 * (borrowed, written by this call) holds CF__VOL_HEAD + strlen(name) free
 * bytes followed by the object's `size` bytes, whose SHA-512 is sha. On
 * success the object is visible. Returns 0, CF_ENOSPC or CF_EIO; on failure
 * the claim is dropped and nothing of the record survives a restart. */
CF_MUST_CHECK int cf__vol_put(struct cf_vol *v, uint32_t bucket, const char *name, uint8_t *rec,
                              uint64_t size, const uint8_t sha[CF_SHA512_LEN], uint64_t mtime_ms);

/* Remove a durable object: a tombstone appended and made durable, then the
 * entry dropped. *size_out (may be NULL) gets its size. Returns 0,
 * CF_ENOTFOUND, CF_ENOSPC or CF_EIO (the object stays). */
CF_MUST_CHECK int cf__vol_delete(struct cf_vol *v, uint32_t bucket, const char *name,
                                 uint64_t *size_out);

/* One durable object of a bucket, for a listing. */
struct cf_vol_item {
    char *name; /* caller frees */
    uint64_t size;
    uint64_t mtime_ms;
};

/* The durable objects of bucket whose name sorts after bound (NULL: all),
 * by name. Returns how many; *items (caller frees with cf__vol_items_free)
 * is NULL when none. */
size_t cf__vol_bucket_items(struct cf_vol *v, uint32_t bucket, const char *bound,
                            struct cf_vol_item **items);
void cf__vol_items_free(struct cf_vol_item *items, size_t n);

/* Whether bucket holds any index entry. */
bool cf__vol_bucket_used(struct cf_vol *v, uint32_t bucket);

#endif
