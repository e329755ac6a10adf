/*
 * sha512.h -- streaming SHA-512 (OpenSSL libcrypto underneath).
 *
 * Role: every object's integrity check; computed while bytes stream, never
 * over a buffered whole object.
 * Threads: a cf_sha512 is used by one thread at a time; distinct contexts
 * may be used concurrently.
 */
#ifndef COFFER_SHA512_H
#define COFFER_SHA512_H

#include <stddef.h>
#include <stdint.h>
#include "coffer/common.h"

#define CF_SHA512_LEN     64
#define CF_SHA512_HEX_LEN 128 /* without the NUL */

/* The HTTP header (or chunked-body trailer) that carries an object's
 * SHA-512 between coffer's roles: 128 hex digits. */
#define CF_SHA512_HEADER "X-Coffer-SHA512"

struct cf_sha512 {
    void *md; /* owned EVP_MD_CTX */
};

/* Start a digest. Returns 0, or CF_EINTERNAL if libcrypto fails
 * (then ctx needs no fini, but cf_sha512_fini is safe). */
CF_MUST_CHECK int cf_sha512_init(struct cf_sha512 *ctx);

/* Add n bytes (borrowed). p may be NULL when n == 0. Returns 0 or CF_EINTERNAL. */
CF_MUST_CHECK int cf_sha512_update(struct cf_sha512 *ctx, const void *p, size_t n);

/* Finish into out. The context must be re-initialised before reuse.
 * Returns 0 or CF_EINTERNAL. */
CF_MUST_CHECK int cf_sha512_final(struct cf_sha512 *ctx, uint8_t out[CF_SHA512_LEN]);

/* The digest of n bytes at p (borrowed; may be NULL when n == 0) into out,
 * in one call. Returns 0 or CF_EINTERNAL. */
CF_MUST_CHECK int cf_sha512_once(const void *p, size_t n, uint8_t out[CF_SHA512_LEN]);

/* Release the context. Idempotent; safe on a zeroed ctx. */
void cf_sha512_fini(struct cf_sha512 *ctx);

/* Lowercase hex of a digest into hex (CF_SHA512_HEX_LEN + 1 bytes, NUL-terminated). */
void cf_sha512_hex(const uint8_t d[CF_SHA512_LEN], char hex[CF_SHA512_HEX_LEN + 1]);

/* Parse exactly 128 hex digits (either case) of s (len bytes, borrowed).
 * Returns 0, or CF_EINVAL for any other length or a non-hex byte. */
CF_MUST_CHECK int cf_sha512_parse_hex(const char *s, size_t len, uint8_t out[CF_SHA512_LEN]);

#endif
