/*
 * hex.h -- bytes as hexadecimal text, and back.
 *
 * Role: the one codec behind every hex form coffer reads or writes: SHA-512
 * digests, UUIDs, key files, password hashes, percent-encoding, PostgreSQL
 * bytea. coffer writes lowercase; readers choose whether they also accept
 * uppercase (a canonical form like the UUID's does not).
 * Threads: pure and thread-safe.
 */
#ifndef COFFER_HEX_H
#define COFFER_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"

/* The value 0..15 of the hex digit c: 0-9 and a-f, and A-F too when
 * any_case; -1 for anything else. */
int cf_hex_value(int c, bool any_case);

/* The lowercase digit of the low four bits of v. */
char cf_hex_digit(unsigned v);

/* Write the 2 * n lowercase digits of p[0..n) (borrowed) and a NUL into
 * out, which must hold 2 * n + 1 bytes. */
void cf_hex_encode(const void *p, size_t n, char *out);

/* Decode exactly 2 * n digits of s (borrowed) into out[0..n). Returns 0,
 * or CF_EINVAL at the first byte that is not a digit (out is then partly
 * written). */
CF_MUST_CHECK int cf_hex_decode(const char *s, size_t n, void *out, bool any_case);

#endif
