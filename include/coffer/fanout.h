/*
 * fanout.h -- stream one body to several filers at once (DESIGN §2).
 *
 * Role: the upload service's pump. The body arrives in pieces; each piece is
 * handed to every live target before cf_fanout_write returns, so memory is
 * bounded by one piece whatever the object size, and a slow filer slows the
 * upload (back-pressure) instead of growing a buffer. Each target gets
 * `PUT <url>` with a chunked body; the SHA-512, known only at the end, goes
 * as the trailer X-Coffer-SHA512 so the filer verifies before it commits.
 * A target that fails (refused, timed out, an HTTP error, a wrong checksum
 * in its reply) is marked failed and the others go on.
 *
 * Threads: a cf_fanout belongs to one thread; distinct ones run concurrently.
 */
#ifndef COFFER_FANOUT_H
#define COFFER_FANOUT_H

#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/sha512.h"

#define CF_FANOUT_MAX 16

enum cf_fanout_state {
    CF_FANOUT_SENDING = 0, /* still streaming */
    CF_FANOUT_OK,          /* 201 and the checksum the filer computed matches */
    CF_FANOUT_FAILED,      /* see the reason */
};

struct cf_fanout;

/* Open transfers to n (1..CF_FANOUT_MAX) URLs (borrowed during the call).
 * stall_s: a target that accepts no bytes for this long fails.
 * On success *out is the fan-out (caller owns; release with cf_fanout_free).
 * Returns 0 or CF_EINVAL / CF_EINTERNAL. */
CF_MUST_CHECK int cf_fanout_new(const char *const *urls, size_t n, unsigned stall_s,
                                struct cf_fanout **out);

/* Hand n bytes (borrowed; not kept after return) to every live target and
 * wait until each has taken them or failed. Returns the number of targets
 * still live (0 means every one failed). */
CF_MUST_CHECK int cf_fanout_write(struct cf_fanout *f, const void *p, size_t n);

/* End the bodies with the trailer sha and wait for every reply. Returns the
 * number of targets in CF_FANOUT_OK. */
CF_MUST_CHECK int cf_fanout_finish(struct cf_fanout *f, const uint8_t sha[CF_SHA512_LEN]);

/* The state of target i, and a one-line reason when failed (valid until
 * cf_fanout_free; "" otherwise). */
enum cf_fanout_state cf_fanout_state(const struct cf_fanout *f, size_t i, const char **reason);

/* Abort what is still running and release. NULL is a no-op. */
void cf_fanout_free(struct cf_fanout *f);

#endif
