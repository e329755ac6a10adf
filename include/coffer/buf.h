/*
 * buf.h -- growable byte buffer with a hard cap.
 *
 * Role: everything coffer accumulates from the network (headers, JSON bodies,
 * error text) goes through cf_buf, so no input can grow memory past its cap.
 * Threads: none; a cf_buf is used by one thread at a time.
 * Invariant: base[len] == '\0' whenever base != NULL.
 */
#ifndef COFFER_BUF_H
#define COFFER_BUF_H

#include <stddef.h>
#include "coffer/common.h"

struct cf_buf {
    char *base;   /* owned; NULL until the first append */
    size_t len;   /* bytes used, not counting the NUL */
    size_t cap;   /* bytes allocated */
    size_t limit; /* an append that would pass this fails */
};

/* Start an empty buffer that may grow to `limit` bytes. Cannot fail. */
void cf_buf_init(struct cf_buf *b, size_t limit);

/* Append n bytes from p (borrowed; p may be NULL only if n == 0).
 * Returns 0, or CF_ETOOLARGE if len + n > limit. On error b is unchanged. */
CF_MUST_CHECK int cf_buf_append(struct cf_buf *b, const void *p, size_t n);

/* Append formatted text. Returns 0 or CF_ETOOLARGE; on error b is unchanged. */
CF_MUST_CHECK int cf_buf_printf(struct cf_buf *b, const char *fmt, ...) CF_PRINTF(2, 3);

/* Move the bytes out. The caller owns the result (release it with free()); b is
 * reset to empty. Returns NULL if the buffer is empty. */
char *cf_buf_take(struct cf_buf *b, size_t *len_out);

/* Release the memory. b can be used again after cf_buf_init. Safe on a zeroed b. */
void cf_buf_fini(struct cf_buf *b);

#endif
