/*
 * fetch.h -- read a byte range of one object from its replicas, failing over.
 *
 * Role: the download service's pump (DESIGN §2, patent FIG. 11). Bytes come
 * from the first replica; if it refuses, stalls or breaks mid-stream, the
 * next replica is asked for the rest (Range from the byte already received),
 * so the reader sees one correct stream. For a whole-object read with a
 * known SHA-512, the digest is checked once every byte is received and
 * before the last one is handed out, so a mismatch fails the read instead
 * of finishing with wrong bytes. A range that fits in the buffer (up to
 * CF_FETCH_BUF bytes) is received whole before any byte is handed out: a
 * mismatch there hands out nothing, and the whole range is read again from
 * the next replica (the reader never notices). A larger range whose bytes
 * do not match has already handed out bytes that cannot be proven good, so
 * its read fails (the caller breaks the transfer off).
 * Memory is bounded by CF_FETCH_BUF whatever the object size.
 *
 * Logging: a replica that fails is logged at WARN (and passed to on_fail);
 * bytes that do not match the SHA-512 are logged at ERROR.
 *
 * Threads: a cf_fetch is made, read and freed on one thread (its transfers
 * use that thread's connection cache, httpc.h, and multi handle); distinct
 * ones run concurrently, and one thread may run several at once.
 */
#ifndef COFFER_FETCH_H
#define COFFER_FETCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coffer/common.h"
#include "coffer/sha512.h"

#define CF_FETCH_BUF          (256 * 1024)
#define CF_FETCH_MAX_REPLICAS 16

struct cf_fetch;

/* Called when a replica fails, with its index in urls, what it did (err)
 * and why in words (borrowed): err is CF_ENOTFOUND when it answered 404,
 * CF_ECORRUPT when the bytes it alone supplied do not match the SHA-512,
 * CF_EUNAVAIL otherwise (another status, a timeout, a broken connection).
 * Called on the reading thread, from cf_fetch_read. */
typedef void (*cf_fetch_fail_cb)(void *ctx, size_t replica, int err, const char *why);

struct cf_fetch_opts {
    const char *const *urls;  /* replicas in preference order; copied */
    size_t n;                 /* 1..CF_FETCH_MAX_REPLICAS */
    uint64_t first;           /* first byte wanted */
    uint64_t len;             /* bytes wanted */
    const uint8_t *sha;       /* whole-object SHA-512 to verify, or NULL (copied) */
    unsigned stall_s;         /* a replica sending nothing this long is abandoned */
    cf_fetch_fail_cb on_fail; /* may be NULL */
    void *ctx;
    /* More request header lines ("Name: value"), NULL-ended, at most
     * CF_FETCH_HEADERS_MAX; copied (and wiped at cf_fetch_free: they may
     * carry an object key, xform.h). NULL: none. */
    const char *const *headers;
};

#define CF_FETCH_HEADERS_MAX 4

/* Prepare a read (no I/O yet). On success *out is the fetch (caller owns;
 * release with cf_fetch_free). Returns 0, CF_EINVAL, or CF_EINTERNAL. */
CF_MUST_CHECK int cf_fetch_new(const struct cf_fetch_opts *o, struct cf_fetch **out);

/* Copy up to max bytes of the range into buf. Returns the count (> 0), 0 at
 * the end of a complete and verified range, CF_EUNAVAIL when every replica
 * failed, or CF_ECORRUPT when the bytes do not match the SHA-512. After an
 * error, every later call returns the same error. */
CF_MUST_CHECK ssize_t cf_fetch_read(struct cf_fetch *f, char *buf, size_t max);

/* The whole range into buf (len bytes: the range's length, nothing read
 * yet), verified as cf_fetch_read verifies it: for a range small enough to
 * answer from one buffer, so the reply goes out whole, its headers with its
 * bytes. Returns 0, or the error of cf_fetch_read (CF_EINTERNAL if len is
 * not what the range holds); buf is then undefined. */
CF_MUST_CHECK int cf_fetch_read_all(struct cf_fetch *f, char *buf, size_t len);

/* Ranges up to this many bytes are answered from one buffer by the gateway
 * and objsrv (cf_fetch_read_all); longer ones are streamed. */
#define CF_FETCH_WHOLE_MAX (64 * 1024)

/* Which replicas (bit i for urls[i]) supplied bytes so far: after
 * CF_ECORRUPT, a single bit names the corrupt replica. */
uint32_t cf_fetch_sources(const struct cf_fetch *f);

/* Release. NULL is a no-op. */
void cf_fetch_free(struct cf_fetch *f);

#endif
