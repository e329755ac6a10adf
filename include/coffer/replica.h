/*
 * replica.h -- copy an object from a good replica to another filer.
 *
 * Role: what the upload service does when a filer fails mid-upload
 * (DESIGN §2: copy from a good replica before acknowledging), and what
 * rebuild, rebalance and audit will do. The bytes stream from the source
 * (with fail-over between sources) to the destination, verified against the
 * SHA-512 on both ends: the destination refuses bytes that do not match.
 *
 * Threads: reentrant; each call uses its own transfers.
 */
#ifndef COFFER_REPLICA_H
#define COFFER_REPLICA_H

#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/sha512.h"

/* Copy `size` bytes with digest sha from the first source URL that works
 * (srcs[0..n), borrowed, GET URLs of the object on filers) to dst (a PUT URL,
 * borrowed). Returns 0 once the destination acknowledged a durable, verified
 * write; CF_EUNAVAIL if no source could supply the bytes; CF_ECORRUPT if the
 * sources' bytes do not match sha; CF_EIO if the destination failed (reason
 * in err, may be NULL). */
CF_MUST_CHECK int cf_replica_copy(const char *const *srcs, size_t n, const char *dst, uint64_t size,
                                  const uint8_t sha[CF_SHA512_LEN], unsigned stall_s, char *err);

#endif
