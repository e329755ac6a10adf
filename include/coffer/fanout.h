/*
 * fanout.h -- stream one body to several filers at once (DESIGN §2).
 *
 * Role: the upload service's writes to filers, and the write half of a
 * replica copy (replica.h): the filer protocol over the upload pump
 * (pump.h), which sets the memory bound (one piece, whatever the object
 * size), the back-pressure and the stall rule. Each target gets
 * `PUT <url>` with a chunked body; the SHA-512, when the sender knows it at
 * the end, goes as the trailer X-Coffer-SHA512 so the filer verifies before
 * it commits. A target is CF_FANOUT_OK only when it answered 201 after the
 * whole body with an X-Coffer-SHA512 equal to the digest sent (DESIGN §4: a
 * filer acknowledges a durable, verified write). A sender that does not
 * hash the body itself sends no digest: then the targets that stored it
 * must report the same digest, which becomes the body's (cf_fanout_digest);
 * if they differ, every one of them is CF_FANOUT_DISAGREED. A target that fails (refused,
 * stalled, an HTTP error, a reply before the body ended, a wrong checksum
 * in its reply) is marked failed with a one-line reason and the others go
 * on.
 *
 * Errors and logging: only cf_fanout_new can fail as a call; the outcome of
 * each target is its state. Nothing is logged here: the caller logs the
 * reasons it acts on.
 *
 * Threads: a cf_fanout is made, driven and freed on one thread; distinct
 * ones run concurrently, and one thread may run two at once.
 */
#ifndef COFFER_FANOUT_H
#define COFFER_FANOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/pump.h"
#include "coffer/sha512.h"

#define CF_FANOUT_MAX CF_PUMP_MAX

enum cf_fanout_state {
    CF_FANOUT_SENDING = 0, /* still streaming */
    CF_FANOUT_OK,          /* 201 and the checksum the filer computed matches */
    CF_FANOUT_FAILED,      /* see the reason */
    /* The filer stored the body, but with no digest sent the targets'
     * digests differ, so none is trusted: the caller deletes its bytes. */
    CF_FANOUT_DISAGREED,
};

struct cf_fanout;

/* Open transfers to n (1..CF_FANOUT_MAX) URLs (borrowed during the call).
 * stall_s: a target that has bytes to take and takes none for this long
 * fails, and so does one that has not replied this long after the end of
 * the body. On success *out is the fan-out (caller owns; release with
 * cf_fanout_free). Returns 0, CF_EINVAL (n out of range) or CF_EINTERNAL;
 * *out is untouched on failure. */
CF_MUST_CHECK int cf_fanout_new(const char *const *urls, size_t n, unsigned stall_s,
                                struct cf_fanout **out);

/* As cf_fanout_new, each request also carrying the header lines headers
 * ("Name: value", NULL-ended; borrowed during the call), e.g. a transform
 * (xform.h) the filers apply to the body before they store it. */
CF_MUST_CHECK int cf_fanout_new_with(const char *const *urls, size_t n, unsigned stall_s,
                                     const char *const *headers, struct cf_fanout **out);

/* Hand n bytes (borrowed; not kept after return) to every live target and
 * wait until each has taken them or failed. Returns the number of targets
 * still live (0 means every one failed). */
CF_MUST_CHECK int cf_fanout_write(struct cf_fanout *f, const void *p, size_t n);

/* End the bodies with the trailer sha (borrowed, CF_SHA512_LEN bytes; NULL:
 * no digest sent, the targets' own must agree) and wait for every reply.
 * Returns the number of targets in CF_FANOUT_OK; none is
 * CF_FANOUT_SENDING after it. Call once. */
CF_MUST_CHECK int cf_fanout_finish(struct cf_fanout *f, const uint8_t *sha);

/* After cf_fanout_finish: the body's digest (the one sent, or the one the
 * targets in CF_FANOUT_OK agree on) into sha. Returns 0, or CF_ENOTFOUND
 * when no target is CF_FANOUT_OK. */
CF_MUST_CHECK int cf_fanout_digest(const struct cf_fanout *f, uint8_t sha[CF_SHA512_LEN]);

/* The state of target i (< n), and in *reason (may be NULL) a one-line
 * reason when failed or disagreed, "" otherwise (valid until cf_fanout_free). */
enum cf_fanout_state cf_fanout_state(const struct cf_fanout *f, size_t i, const char **reason);

/* What target i (CF_FANOUT_OK) stored, from its reply's
 * X-Coffer-Stored-Size and X-Coffer-Stored-SHA512 (a transformed PUT).
 * Returns 0, or CF_ENOTFOUND when the reply does not have both. */
CF_MUST_CHECK int cf_fanout_stored(const struct cf_fanout *f, size_t i, uint64_t *size,
                                   uint8_t sha[CF_SHA512_LEN]);

/* After cf_fanout_finish: whether a target failed because its filer
 * refused the body as not matching the digest sent (422). */
bool cf_fanout_refused_checksum(const struct cf_fanout *f);

/* Abort what is still running and release. NULL is a no-op. */
void cf_fanout_free(struct cf_fanout *f);

#endif
