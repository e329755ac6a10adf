/*
 * replica.h -- one object's replicas on filers: copy one to another filer,
 * make sure a filer holds one, ask a filer what it holds.
 *
 * Role: what the upload service does when a filer fails mid-upload
 * (DESIGN §2: copy from a good replica before acknowledging), and what
 * rebuild, rebalance and audit do. The bytes stream from a source (with
 * fail-over between sources, fetch.h) to the destination (fanout.h),
 * verified against the SHA-512 on both ends: the destination refuses bytes
 * that do not match.
 *
 * URLs are object URLs on filers, "<filer url>/o/<path>" (cf_replica_url).
 * stall_s bounds every transfer: a filer that sends or takes no byte for
 * that many seconds (or does not connect within it) fails the transfer,
 * and a HEAD gets stall_s seconds in all.
 *
 * Threads: reentrant; each call uses its own transfers on the calling
 * thread's connection cache (httpc.h).
 */
#ifndef COFFER_REPLICA_H
#define COFFER_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/sha512.h"

/* Longest object URL: a filer URL, "/o/" and an object path. */
#define CF_REPLICA_URL_MAX (255 + 4 + 255 + 1)

/* Write "<base>/o/<path>" (both borrowed) into out (CF_REPLICA_URL_MAX
 * bytes). Returns 0, or CF_ETOOLARGE if it does not fit. */
CF_MUST_CHECK int cf_replica_url(const char *base, const char *path, char out[CF_REPLICA_URL_MAX]);

/* DELETE the replica at url (borrowed) within timeout_ms. Returns 0 (the
 * filer deleted it: 204), 1 (it was not there: 404), CF_EUNAVAIL (no
 * reply) or CF_EIO (another status), with the reason in err (may be NULL).
 * The caller logs. */
CF_MUST_CHECK int cf_replica_delete(const char *url, long timeout_ms, char *err);

/* Copy `size` bytes with digest sha from the first source URL that works
 * (srcs[0..n), borrowed, GET URLs of the object on filers) to dst (a PUT URL,
 * borrowed). Returns 0 once the destination acknowledged a durable, verified
 * write; CF_EUNAVAIL if no source could supply the bytes; CF_ECORRUPT if the
 * sources' bytes do not match sha; CF_EIO if the destination failed (reason
 * in err, may be NULL). */
CF_MUST_CHECK int cf_replica_copy(const char *const *srcs, size_t n, const char *dst, uint64_t size,
                                  const uint8_t sha[CF_SHA512_LEN], unsigned stall_s, char *err);

/* HEAD url (borrowed) within stall_s seconds: *status (0 when no reply),
 * and on 200 the size (UINT64_MAX if not given) and X-Coffer-SHA512
 * (*has_sha). Returns 0, CF_EUNAVAIL (no reply) or CF_EINTERNAL, with err. */
CF_MUST_CHECK int cf_replica_head(const char *url, unsigned stall_s, long *status, uint64_t *size,
                                  uint8_t sha[64], bool *has_sha, char *err);

/* What the filer at url (an object URL, borrowed) holds, by its HEAD within
 * stall_s: 1 the object (size and the X-Coffer-SHA512 it was written with
 * match size and sha), 0 nothing (404), CF_EEXIST other bytes, CF_EIO no
 * usable answer; err (may be NULL) says why. */
CF_MUST_CHECK int cf_replica_holds(const char *url, uint64_t size, const uint8_t sha[CF_SHA512_LEN],
                                   unsigned stall_s, char *err);

/* Read the object at url (an object URL, borrowed) whole within stall_s per
 * stall and check it against size and sha: a filer's HEAD shows the digest
 * the bytes were written with, not what its disk holds now. Returns 1 when
 * they match, CF_EEXIST when they do not (corrupt, cut short), CF_EIO when
 * they cannot be read (absent, filer down); err (may be NULL) says why. */
CF_MUST_CHECK int cf_replica_verify(const char *url, uint64_t size,
                                    const uint8_t sha[CF_SHA512_LEN], unsigned stall_s, char *err);

/* Make sure the object (size bytes, digest sha) is on the filer at dst (its
 * PUT/GET URL of the object, borrowed): if the filer already has it (its
 * HEAD shows the same size and X-Coffer-SHA512), the bytes are read back
 * whole and checked, since the HEAD shows the digest they were written
 * with, not what the disk holds now; otherwise the object is copied from the first source that
 * works (srcs[0..n), borrowed GET URLs), verified on both ends (cf_replica_copy). *copied (may be
 * NULL) tells whether bytes moved. Returns 0 when a verified copy is there; CF_EEXIST if the filer
 * holds different bytes under that path (the caller deletes them first, if it means to);
 * CF_EUNAVAIL, CF_ECORRUPT, CF_EIO as cf_replica_copy. */
CF_MUST_CHECK int cf_replica_ensure(const char *const *srcs, size_t n, const char *dst,
                                    uint64_t size, const uint8_t sha[CF_SHA512_LEN],
                                    unsigned stall_s, bool *copied, char *err);

#endif
