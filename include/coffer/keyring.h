/*
 * keyring.h -- the operator's master keys, which wrap the per-object
 * encryption keys kept in object records (objdb.h key, CF_OBJDB_XFORM_E).
 *
 * The master key file (--master-key-file) holds one key a line:
 *     KID HEX64
 * KID a decimal number in 1..4294967295, distinct per line, and HEX64 the
 * 32-byte key in 64 hex digits; empty lines and lines starting with '#' are
 * skipped. The file must be the user's own with mode 0600 or stricter (as
 * the cluster key, io.h cf_io_read_key_file). New wraps use the LAST key of
 * the file; unwraps find the key by the kid the wrapped key names, so a file
 * may list old keys during a rotation (README "Encryption keys").
 *
 * A wrapped key is CF_KEYRING_WRAPPED_LEN bytes: the kid (4 bytes, big
 * endian), a random 12-byte nonce, the object key encrypted with
 * AES-256-GCM (32 bytes) and its 16-byte tag; the kid is authenticated data,
 * so a wrapped key cannot be moved under another master key.
 *
 * Ownership: cf_keyring_load returns a ring the caller frees with
 * cf_keyring_free (key bytes are cleared). Threads: a loaded ring is
 * read-only; every function may be called on it from any thread.
 */
#ifndef COFFER_KEYRING_H
#define COFFER_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"

#define CF_KEYRING_KEY_LEN     32 /* a master key and an object key alike */
#define CF_KEYRING_WRAPPED_LEN 64 /* 4 kid + 12 nonce + 32 ciphertext + 16 tag */
#define CF_KEYRING_MAX         16 /* keys one file may list */
#define CF_KEYRING_FILE        "master.key"

struct cf_keyring;

/* Read the master key file path (borrowed). On success *out is the ring.
 * Returns 0; CF_EINVAL (a bad line, a duplicate kid, no key, too many keys);
 * CF_EPERM (owner or mode); or an errno code; err says which and names the
 * line. */
CF_MUST_CHECK int cf_keyring_load(const char *path, struct cf_keyring **out, char *err);

void cf_keyring_free(struct cf_keyring *kr);

/* The kid new wraps use (the file's last line). */
uint32_t cf_keyring_newest(const struct cf_keyring *kr);

/* The kid a wrapped key names, or 0 if len is not CF_KEYRING_WRAPPED_LEN. */
uint32_t cf_keyring_kid_of(const uint8_t *wrapped, size_t len);

/* Wrap the object key key under the newest master key into out. Returns 0
 * or CF_EINTERNAL (OpenSSL failed; err says). */
CF_MUST_CHECK int cf_keyring_wrap(const struct cf_keyring *kr,
                                  const uint8_t key[CF_KEYRING_KEY_LEN],
                                  uint8_t out[CF_KEYRING_WRAPPED_LEN], char *err);

/* Unwrap wrapped (len bytes) into key. Returns 0; CF_EINVAL (not a wrapped
 * key: wrong length); CF_ENOTFOUND (its kid is not in the ring); CF_ECORRUPT
 * (the tag does not match: another key under that kid, or altered bytes);
 * CF_EINTERNAL. key is cleared on failure. */
CF_MUST_CHECK int cf_keyring_unwrap(const struct cf_keyring *kr, const uint8_t *wrapped, size_t len,
                                    uint8_t key[CF_KEYRING_KEY_LEN], char *err);

/* Create path (borrowed) holding one random key with kid 1, mode 0600, if
 * it does not exist. Returns 1 if made, 0 if it existed, or an errno code
 * with err. */
CF_MUST_CHECK int cf_keyring_make_file(const char *path, char *err);

#endif
