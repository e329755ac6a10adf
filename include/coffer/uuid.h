/*
 * uuid.h -- the object's smart key (DESIGN §3, patent FIG. 6).
 *
 * Role: the only name of an object outside the object database. It says
 * where the record lives (shard id) and which row it is (object id), and it
 * carries 64 random bits so a UUID cannot be guessed or enumerated from
 * another one: a look-up must match all three parts.
 *
 * Text form: exactly 36 bytes, 32 lowercase hex digits in groups of
 * 8-4-4-4-12 separated by '-' (the shape of RFC 4122, but not an RFC 4122
 * UUID: there are no version or variant bits):
 *
 *     ssssoooo-oooo-oooo-rrrr-rrrrrrrrrrrr
 *
 *   hex digits  1-4  shard id,  16 bits, 1..65535 (0 is reserved)
 *   hex digits  5-16 object id, 48 bits, 1..2^48-1 (0 is reserved)
 *   hex digits 17-32 random,    64 bits, any value
 *
 * counting hex digits only, most significant first. Example: shard 1,
 * object 42, random 0x9f3c5e0b7d21a468 is "00010000-0000-002a-9f3c-5e0b7d21a468".
 * Parsing accepts that canonical form only: no uppercase, no braces, no
 * missing or extra hyphens, no surrounding blanks. Whether the shard exists
 * is the object database's question (CF_ENOTFOUND there), not the parser's.
 *
 * Filer path: an object's bytes are stored on its filers under
 *     ssss/oooooooooooo-rrrrrrrrrrrrrrrr        (34 bytes, lowercase hex)
 * which is inside the filer path alphabet (objpath.h), names the shard for
 * an operator, and is as unguessable as the UUID itself.
 *
 * Threads: all functions are thread-safe; only cf_uuid_random has a side
 * effect (it reads the kernel's random pool).
 */
#ifndef COFFER_UUID_H
#define COFFER_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"

/* Text length, and a buffer size that holds it with its NUL. */
#define CF_UUID_LEN  36
#define CF_UUID_SIZE (CF_UUID_LEN + 1)
/* Filer path length, and a buffer size for it. */
#define CF_UUID_PATH_LEN  34
#define CF_UUID_PATH_SIZE (CF_UUID_PATH_LEN + 1)

#define CF_UUID_SHARD_MAX UINT16_C(65535)
#define CF_UUID_OID_MAX   ((UINT64_C(1) << 48) - 1)

struct cf_uuid {
    uint16_t shard; /* 1..CF_UUID_SHARD_MAX */
    uint64_t oid;   /* 1..CF_UUID_OID_MAX */
    uint64_t rnd;   /* any value */
};

/* Parse s (len bytes, borrowed; need not be NUL-terminated, and a NUL
 * inside is refused). Returns 0 and fills *out, or CF_EINVAL with the reason
 * in err (may be NULL) naming the first offending byte; *out is untouched
 * on failure. */
CF_MUST_CHECK int cf_uuid_parse(const char *s, size_t len, struct cf_uuid *out, char *err);

/* cf_uuid_parse(s, len, ...) == 0, without the output. */
bool cf_uuid_is_valid(const char *s, size_t len);

/* Write the 36-byte text form and a NUL into out. u must hold a valid key
 * (shard and oid in range): anything else is a bug and aborts (cf_assert). */
void cf_uuid_format(const struct cf_uuid *u, char out[CF_UUID_SIZE]);

/* Write the 34-byte filer path and a NUL into out. Same precondition. */
void cf_uuid_filer_path(const struct cf_uuid *u, char out[CF_UUID_PATH_SIZE]);

/* Parse a filer path (len bytes, borrowed) written by cf_uuid_filer_path,
 * for the auditor that finds bytes on a filer and asks who owns them.
 * Returns 0, or CF_EINVAL with the reason in err (may be NULL). */
CF_MUST_CHECK int cf_uuid_parse_filer_path(const char *s, size_t len, struct cf_uuid *out,
                                           char *err);

/* 64 random bits from getrandom(2) for a new key. Returns 0, or CF_EIO if
 * the kernel refuses (logged here). */
CF_MUST_CHECK int cf_uuid_random(uint64_t *out);

#endif
