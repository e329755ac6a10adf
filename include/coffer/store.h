/*
 * store.h -- the filer's on-disk object store.
 *
 * Role: owns one directory (the patent's "mass data store"): objects are
 * immutable files laid out by objpath.h under DIR/objects/. A write becomes
 * visible only after its bytes, its checksum and its directory entry are on
 * stable storage (DESIGN §4, STYLE 2.11): temp name with O_EXCL, write,
 * compare SHA-512, fsync, rename without replacing, fsync the directory.
 *
 * Directory: DIR/LOCK (flock held while open: one store per directory),
 * DIR/FILER_ID (the id that owns the directory), DIR/objects/HH/HH/<name>,
 * and temporaries DIR/objects/HH/HH/.tmp.<random> that only exist while an
 * upload is in progress; cf_store_open removes any left by a crash.
 *
 * Small objects: with small_max > 0, an upload whose size is declared and
 * at most small_max is kept in memory until its commit, then appended as a
 * record to a volume file DIR/volumes/NNNNNN.vol (volume_int.h); concurrent
 * commits share one fsync (group commit), and a commit returns only after
 * the fsync that covers its record. Such an object is read as a slice of
 * its volume (cf_store_obj.offset). Every other object is a plain file.
 * Volume objects are found, listed, counted and deleted like the others
 * (a delete appends a durable tombstone); a path is taken in at most one of
 * the two places. Volumes are scanned at open (the index is in memory),
 * torn tails cut, and mostly dead volumes compacted.
 * The SHA-512 of an object is kept in its extended attribute
 * "user.coffer.sha512" (64 raw bytes) where the filesystem supports it.
 *
 * Accounting: used_bytes and objects count committed objects exactly;
 * an upload reserves its declared size (or, without one, what it has
 * written) against the capacity until it commits or aborts.
 *
 * Threads: every function is thread-safe; a cf_store_put belongs to one
 * thread at a time. Every call that takes a path validates it first and
 * returns CF_EBADPATH without touching the disk if it is not valid.
 */
#ifndef COFFER_STORE_H
#define COFFER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/io.h"
#include "coffer/sha512.h"

struct cf_store;
struct cf_store_put;

struct cf_store_opts {
    const char *dir;            /* borrowed; created if missing */
    uint32_t id;                /* the filer id that owns dir */
    uint64_t capacity;          /* bytes; 0 means the size of the filesystem */
    bool read_only;             /* refuse new objects (deletes still work) */
    const struct cf_io_ops *io; /* kept until cf_store_close; NULL: cf_io_default */
    uint64_t small_max;         /* objects of a declared size up to this go to volumes; 0: none */
};

struct cf_store_stats {
    uint64_t total_bytes;    /* the capacity */
    uint64_t used_bytes;     /* sum of the sizes of committed objects */
    uint64_t reserved_bytes; /* held by uploads in progress */
    uint64_t objects;
    uint64_t bytes_in;      /* object bytes received */
    uint64_t bytes_out;     /* object bytes sent (cf_store_count_out) */
    uint64_t io_errors;     /* failed disk operations other than ENOSPC */
    uint64_t temps_removed; /* stale temporaries removed at open */
    bool read_only;
};

struct cf_store_obj {
    int fd;          /* open for reading; caller owns; close it (unless shared) */
    uint64_t offset; /* where the object's bytes start in fd (0 for a plain file) */
    uint64_t size;
    bool has_sha; /* sha is valid */
    uint8_t sha[CF_SHA512_LEN];
    /* From cf_store_get_shared only: fd is the store's, kept open for
     * reads; pread it, never close it, not after cf_store_close. */
    bool shared;
};

/* Open (creating if needed) the store: lock the directory, check or record
 * the id, remove stale temporaries, recount usage. Everything in it is
 * readable by its owner only (directories 0700, files 0600); entries left
 * wider are tightened, with a WARN line. On success *out is the store
 * (caller owns; release with cf_store_close). Returns 0, CF_EBUSY (another
 * process holds the directory), CF_EINVAL (the directory belongs to another
 * id), CF_EPERM (it belongs to another user), or CF_EIO; err (may be NULL)
 * says why. */
CF_MUST_CHECK int cf_store_open(const struct cf_store_opts *opts, struct cf_store **out, char *err);

/* Release the store. Uploads in progress must have been committed or aborted.
 * NULL is a no-op. */
void cf_store_close(struct cf_store *s);

/* Start an upload of path (len bytes, borrowed) of `size` bytes, or of an
 * unknown size when size < 0. expect (borrowed, may be NULL) is the SHA-512
 * the bytes must have. On success *out is the upload (caller owns; finish it
 * with exactly one of cf_store_put_commit or cf_store_put_abort). Returns 0,
 * CF_EBADPATH, CF_EEXIST (the path exists), CF_EREADONLY, CF_ENOSPC (over
 * capacity or the filesystem is full) or CF_EIO; err (may be NULL) says why. */
CF_MUST_CHECK int cf_store_put_begin(struct cf_store *s, const char *path, size_t len, int64_t size,
                                     const uint8_t *expect, struct cf_store_put **out, char *err);

/* Append n bytes (borrowed). Returns 0, CF_ENOSPC, CF_EBADREQ (more bytes
 * than the declared size) or CF_EIO. After an error the upload can only be
 * aborted. */
CF_MUST_CHECK int cf_store_put_write(struct cf_store_put *p, const void *data, size_t n);

/* Give the expected SHA-512 (borrowed) once the bytes are sent, as an HTTP
 * trailer does. Returns 0, or CF_ECHECKSUM if a different one was given to
 * cf_store_put_begin. The comparison happens at commit. */
CF_MUST_CHECK int cf_store_put_expect(struct cf_store_put *p, const uint8_t sha[CF_SHA512_LEN]);

/* Make the upload durable and visible; p is released whatever the result.
 * On success sha (may be NULL) receives the SHA-512 and *size_out (may be NULL)
 * the size. Returns 0, CF_EBADREQ (fewer bytes than declared), CF_ECHECKSUM,
 * CF_EEXIST (the path appeared meanwhile), CF_ENOSPC or CF_EIO; on failure
 * nothing is visible and no temporary remains. */
CF_MUST_CHECK int cf_store_put_commit(struct cf_store_put *p, uint8_t sha[CF_SHA512_LEN],
                                      uint64_t *size_out, char *err);

/* Discard the upload: remove its temporary and release its reservation.
 * NULL is a no-op. */
void cf_store_put_abort(struct cf_store_put *p);

/* Open an object for reading. Returns 0, CF_EBADPATH, CF_ENOTFOUND or CF_EIO. */
CF_MUST_CHECK int cf_store_get(struct cf_store *s, const char *path, size_t len,
                               struct cf_store_obj *out);

/* As cf_store_get, for a read the caller finishes before it returns: an
 * object in a volume may come with the fd the store keeps open for that
 * volume (out->shared true) instead of one opened for this read, which
 * saves an open and a close per read. Close out->fd only if !out->shared. */
CF_MUST_CHECK int cf_store_get_shared(struct cf_store *s, const char *path, size_t len,
                                      struct cf_store_obj *out);

/* Remove an object durably. Returns 0, CF_EBADPATH, CF_ENOTFOUND or CF_EIO. */
CF_MUST_CHECK int cf_store_delete(struct cf_store *s, const char *path, size_t len);

/* Called for each listed object with its size and the time its file was
 * last modified (ms since the epoch, on this host's clock: the commit of
 * its bytes); path is valid only during the call. Return 0 to go on,
 * anything else to stop the listing with that value. */
typedef int (*cf_store_list_cb)(void *ctx, const char *path, uint64_t size, uint64_t mtime_ms);

/* Call cb for up to `limit` objects that come after `after` (NULL or "" for the
 * start; borrowed) in storage order: by bucket, then by name (plain files and
 * volume objects together; the mtime of a volume object is its commit time). Returns the
 * number listed, CF_EBADPATH (invalid after), CF_EIO, or what cb returned. */
CF_MUST_CHECK int cf_store_list(struct cf_store *s, const char *after, size_t limit,
                                cf_store_list_cb cb, void *ctx);

/* A consistent snapshot of the counters. Cheap: no disk access. */
void cf_store_get_stats(struct cf_store *s, struct cf_store_stats *out);

/* Count n object bytes sent to clients. */
void cf_store_count_out(struct cf_store *s, uint64_t n);

#endif
