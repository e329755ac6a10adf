/*
 * xform.h -- the stored format of a transformed object: compressed (zstd),
 * encrypted (AES-256-GCM), or both (compressed, then encrypted).
 *
 * Role: one job, to encode plain bytes into the stored format as they
 * stream in, and to decode any plain range of it from random-access reads
 * of the stored bytes, touching only the frames the range needs.
 *
 * Stored format (all integers little-endian; F = CF_XFORM_FRAME):
 *   frame 0 | frame 1 | ... | frame n-1 | trailer | footer
 * - The plain bytes are cut into n = ceil(size / F) frames of F bytes (the
 *   last one shorter). With "z" each frame is compressed into a zstd frame
 *   at level CF_XFORM_ZSTD_LEVEL with its content checksum; with "ze" a
 *   frame that this does not make smaller is kept as it is instead, with a
 *   "raw" flag (as is every frame of "e"; "z" alone always keeps the zstd
 *   frame, where zstd stores incompressible blocks raw, so that its
 *   checksum covers every frame). With "e" the result is sealed with
 *   AES-256-GCM: nonce = 0u32 ||
 *   index u64, AAD = "CFX1" || index u64 || plain length u32 || last u8 ||
 *   raw u8, 16-byte tag appended. Moving, dropping or splicing a frame
 *   therefore fails authentication.
 * - trailer = plain size u64 | n u64 | plain SHA-512 (64) | n entries u32
 *   (stored length of frame i, bit 31 the raw flag), followed by a 16-byte
 *   tag: with "e" the trailer is sealed (nonce = 1u32 || 0u64, AAD = the
 *   footer) and the tag is GCM's; otherwise the tag is the first 16 bytes
 *   of SHA-512(footer || trailer).
 * - footer (16 bytes, last) = "CFX1" | flags u8 (1 z, 2 e) | 0 u8 | 0 u16 |
 *   stored length of the trailer with its tag u64.
 * The output is a function of (plain bytes, flags, key) only, for one
 * version of libzstd (another version may compress differently; it still
 * decodes): replicas that encode the same object store byte-identical
 * files. Reusing a nonce
 * is safe only because every object has its own random key: a key must
 * never encrypt two different objects.
 *
 * Integrity: with "e" every frame and the trailer are authenticated,
 * which binds each frame to its index, its length and the object's end. With
 * "z" alone, every frame carries zstd's checksum (XXH64, not a MAC) and the
 * trailer its hash; besides, a decoder that has decoded every frame in
 * order checks the plain SHA-512 before it hands out any byte of the last
 * frame, so a full read never returns a complete wrong object (a range
 * that skips frames relies on the per-frame checks).
 *
 * Errors: CF_EINVAL for bad arguments, CF_ECHECKSUM for bytes that are not
 * in the format, a wrong key, or a frame that fails to authenticate or to
 * decode; the reader's code (e.g. CF_EIO) passed through.
 * Memory: an encoder or decoder holds at most about two frames (less for
 * an object smaller than a frame), whatever the size of the object, plus
 * 12 bytes per frame of index for a decoder and 4 for an encoder.
 * Threads: an encoder or decoder is used by one thread at a time.
 */
#ifndef COFFER_XFORM_H
#define COFFER_XFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/sha512.h"

#define CF_XFORM_Z 1u /* compress (zstd) */
#define CF_XFORM_E 2u /* encrypt (AES-256-GCM) */

#define CF_XFORM_KEY_LEN    32
#define CF_XFORM_FRAME      (256u * 1024u)
#define CF_XFORM_ZSTD_LEVEL 3

/* The HTTP headers naming the transform and carrying the object key. */
#define CF_XFORM_HEADER     "X-Coffer-Transform"
#define CF_XFORM_KEY_HEADER "X-Coffer-Key"
/* The size and SHA-512 of the stored form, in a filer's replies. */
#define CF_XFORM_STORED_SIZE_HEADER "X-Coffer-Stored-Size"
#define CF_XFORM_STORED_SHA_HEADER  "X-Coffer-Stored-SHA512"

/* Parse a transform ("z", "e" or "ze") and, when it has "e", its key (64
 * hex digits); both borrowed, keyhex may be NULL. On success *flags holds
 * CF_XFORM_* bits and key the raw key (zeroed without "e"). Returns 0 or
 * CF_EBADREQ (unknown letters, missing or bad key, a key without "e"),
 * with the reason in err (may be NULL). */
CF_MUST_CHECK int cf_xform_parse(const char *transform, const char *keyhex, unsigned *flags,
                                 uint8_t key[CF_XFORM_KEY_LEN], char *err);

/* Receives stored bytes (borrowed, valid during the call). Returns 0 to go
 * on or a negative CF_E* code, which the encoder returns. */
typedef int (*cf_xform_sink_fn)(void *ctx, const void *data, size_t n);

struct cf_xform_enc;

/* Start encoding with flags (CF_XFORM_*, at least one) and key (borrowed,
 * copied; required with CF_XFORM_E). Output goes to sink(ctx, ...). On
 * success *out is the encoder (caller owns; cf_xform_enc_free). Returns 0,
 * CF_EINVAL or CF_EINTERNAL. */
CF_MUST_CHECK int cf_xform_enc_new(unsigned flags, const uint8_t *key, cf_xform_sink_fn sink,
                                   void *ctx, struct cf_xform_enc **out);

/* Feed n plain bytes (borrowed), in any chunking. Returns 0, what the sink
 * returned, or CF_EINTERNAL. After an error only cf_xform_enc_free is valid. */
CF_MUST_CHECK int cf_xform_enc_write(struct cf_xform_enc *e, const void *data, size_t n);

/* End the input: encode the last frame and, unless expect (borrowed, may
 * be NULL) differs from the plain SHA-512 (CF_ECHECKSUM; then no trailer
 * is written), the trailer and footer. On success plain_sha (may be NULL)
 * holds the plain SHA-512 and *plain_size (may be NULL) the plain size. */
CF_MUST_CHECK int cf_xform_enc_finish(struct cf_xform_enc *e, const uint8_t *expect,
                                      uint8_t plain_sha[CF_SHA512_LEN], uint64_t *plain_size);

/* Release (wiping the key). NULL is a no-op. */
void cf_xform_enc_free(struct cf_xform_enc *e);

/* The most stored bytes a plain object of `size` bytes can take. */
uint64_t cf_xform_bound(uint64_t size, unsigned flags);

/* Reads exactly n stored bytes at stored offset off into buf. Returns 0 or
 * a negative CF_E* code (a short object is CF_ECHECKSUM). */
typedef int (*cf_xform_read_fn)(void *ctx, uint64_t off, void *buf, size_t n);

struct cf_xform_dec;

/* Open a stored object of stored_size bytes, read through read(ctx, ...),
 * expecting exactly the transform flags and key (borrowed, copied). Reads
 * and checks the footer and trailer. On success *out is the decoder (caller
 * owns; cf_xform_dec_free). Returns 0, CF_EINVAL, CF_ECHECKSUM (not in
 * this format, other flags, a wrong key, a damaged trailer) or the reader's
 * code; err (may be NULL) says why. */
CF_MUST_CHECK int cf_xform_dec_open(unsigned flags, const uint8_t *key, uint64_t stored_size,
                                    cf_xform_read_fn read, void *ctx, struct cf_xform_dec **out,
                                    char *err);

/* The plain size and plain SHA-512 (owned by d) recorded in the trailer. */
uint64_t cf_xform_dec_size(const struct cf_xform_dec *d);
const uint8_t *cf_xform_dec_sha(const struct cf_xform_dec *d);

/* Decode plain bytes from plain offset off into buf: up to n, stopping at
 * the end of the frame that holds off (at least one byte when off < size).
 * *got receives the count (0 at or past the end). Decodes the frame only
 * when it is not the one decoded last. Returns 0, CF_ECHECKSUM (a frame
 * fails to authenticate or decode, or a full in-order read ends on the
 * wrong SHA-512) or the reader's code; err (may be NULL) says why. */
CF_MUST_CHECK int cf_xform_dec_read(struct cf_xform_dec *d, uint64_t off, void *buf, size_t n,
                                    size_t *got, char *err);

/* Release (wiping the key). NULL is a no-op. */
void cf_xform_dec_free(struct cf_xform_dec *d);

#endif
