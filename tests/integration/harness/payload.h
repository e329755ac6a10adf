/*
 * payload.h -- deterministic payloads for the integration tests, and their
 * SHA-512s.
 *
 * Role: every byte a test sends is a payload (seed, size): the byte stream
 * whose byte at offset p is byte p % 8 (little-endian) of
 * splitmix64(seed + (p / 8) * golden gamma). Any range of it can be
 * recomputed without the rest, so a test checks what comes back (a whole
 * object by its SHA-512, a range byte for byte) without keeping it.
 * A seed with IT_SEED_TEXT set is a compressible payload instead: runs of
 * IT_TEXT_RUN equal letters, the letter of run r from splitmix64(seed + r *
 * golden gamma).
 * Failing: a hashing or file error fails the case (runner.h).
 * Threads: any thread, each with its own struct it_gen.
 */
#ifndef COFFER_IT_PAYLOAD_H
#define COFFER_IT_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "coffer/sha512.h"
#include "harness/runner.h"

#define IT_SEED_TEXT (1ull << 63)
#define IT_TEXT_RUN  64

/* Write the n bytes of payload seed from offset off into buf. */
void it_prng_fill(uint64_t seed, uint64_t off, void *buf, size_t n);
/* The SHA-512 of the payload (seed, size). */
void it_prng_sha512(uint64_t seed, uint64_t size, uint8_t out[CF_SHA512_LEN]);

/* A payload read front to back, hashing what it hands out. */
struct it_gen {
    uint64_t seed;
    uint64_t size;
    uint64_t pos; /* bytes handed out so far */
    struct cf_sha512 sha;
};

/* Start reading the payload (seed, size); release with it_gen_final or
 * it_gen_fini. */
void it_gen_init(struct it_gen *g, uint64_t seed, uint64_t size);
/* Hand out the next min(cap, size - pos) bytes into buf. Returns how many
 * (0 at the end). */
size_t it_gen_read(struct it_gen *g, void *buf, size_t cap);
/* The SHA-512 of all bytes; fails the case unless pos == size. Releases
 * the context. */
void it_gen_final(struct it_gen *g, uint8_t out[CF_SHA512_LEN]);
/* Release the context without a digest. Idempotent. */
void it_gen_fini(struct it_gen *g);

/* Write the payload (seed, size) to the new file <case dir>/name (replacing
 * one of that name); its path into path and its SHA-512 into sha (may be
 * NULL). */
void it_write_payload(char path[IT_PATH_MAX], const char *name, uint64_t seed, uint64_t size,
                      uint8_t sha[CF_SHA512_LEN]);
/* The size and SHA-512 of the file at path, read to its end. */
void it_file_sha512(const char *path, uint64_t *size, uint8_t sha[CF_SHA512_LEN]);

/* The lower-case hex form of a digest, NUL-terminated. */
void it_hex(const uint8_t d[CF_SHA512_LEN], char hex[CF_SHA512_HEX_LEN + 1]);

#endif
