/*
 * buf.c -- growable byte buffer with a hard cap (buf.h).
 */
#include "coffer/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"

void cf_buf_init(struct cf_buf *b, size_t limit)
{
    b->base = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
}

static int reserve(struct cf_buf *b, size_t n)
{
    size_t want, cap;

    if (n > b->limit || b->len > b->limit - n || b->len + n == SIZE_MAX)
        return CF_ETOOLARGE;
    want = b->len + n + 1;
    if (want <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    b->base = cf_xrealloc(b->base, cap);
    b->cap = cap;
    return 0;
}

int cf_buf_append(struct cf_buf *b, const void *p, size_t n)
{
    int rc = reserve(b, n);

    if (rc < 0)
        return rc;
    if (n > 0)
        memcpy(b->base + b->len, p, n);
    b->len += n;
    b->base[b->len] = '\0';
    return 0;
}

int cf_buf_printf(struct cf_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CF_EINVAL;
    rc = reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    (void)vsnprintf(b->base + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *cf_buf_take(struct cf_buf *b, size_t *len_out)
{
    char *p = b->base;

    if (len_out != NULL)
        *len_out = b->len;
    if (b->len == 0) {
        free(b->base);
        p = NULL;
    }
    b->base = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

void cf_buf_fini(struct cf_buf *b)
{
    free(b->base);
    b->base = NULL;
    b->len = 0;
    b->cap = 0;
}
