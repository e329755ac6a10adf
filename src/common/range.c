/*
 * range.c -- single-range Range header parsing (range.h).
 */
#include "coffer/range.h"

#include <string.h>
#include <strings.h>

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Parse a decimal without sign; fails on no digits or overflow. */
static bool parse_u64(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    uint64_t v = 0;

    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *sp = s;
    *out = v;
    return true;
}

enum cf_range_result cf_range_parse(const char *h, uint64_t size, struct cf_range *out)
{
    const char *s;
    uint64_t a, b;

    if (h == NULL)
        return CF_RANGE_NONE;
    s = skip_blanks(h);
    if (strncasecmp(s, "bytes", 5) != 0) /* RFC 9110: units are case-insensitive */
        return CF_RANGE_NONE;
    s = skip_blanks(s + 5);
    if (*s != '=')
        return CF_RANGE_NONE;
    s = skip_blanks(s + 1);

    if (*s == '-') {
        s++;
        if (!parse_u64(&s, &b))
            return CF_RANGE_NONE;
        s = skip_blanks(s);
        if (*s != '\0')
            return CF_RANGE_NONE;
        if (b == 0 || size == 0)
            return CF_RANGE_UNSATISFIABLE;
        out->first = b >= size ? 0 : size - b;
        out->last = size - 1;
        return CF_RANGE_OK;
    }
    if (!parse_u64(&s, &a) || *s != '-')
        return CF_RANGE_NONE;
    s++;
    b = UINT64_MAX;
    if (*s >= '0' && *s <= '9') {
        if (!parse_u64(&s, &b) || b < a)
            return CF_RANGE_NONE;
    }
    s = skip_blanks(s);
    if (*s != '\0')
        return CF_RANGE_NONE; /* several ranges, or junk: ignore the header */
    if (a >= size)
        return CF_RANGE_UNSATISFIABLE;
    out->first = a;
    out->last = b >= size ? size - 1 : b;
    return CF_RANGE_OK;
}
