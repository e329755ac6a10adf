/*
 * fuzz_range.c -- libFuzzer target for the Range header parser (range.h).
 *
 * Input: the first 8 bytes are the object size (little-endian; missing bytes
 * are 0), the rest is the header value (up to its first NUL, as a C string
 * arrives from the HTTP server). Invariants, each abort()ing when broken:
 *  - the result is one of the three enum values;
 *  - CF_RANGE_OK implies first <= last < size;
 *  - the result and the range equal those of a reference parser written here
 *    from range.h and RFC 9110 §14.1.2;
 *  - the same input gives the same answer twice, and an absent header is NONE.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "coffer/range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_range:%d: invariant failed: %s\n", __LINE__, #x);                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Header values longer than this are cut by the HTTP server long before. */
#define HEADER_MAX 4096

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Digits at s[*i...]: at least one, and the value fits in 64 bits. */
static bool ref_number(const char *s, size_t *i, uint64_t *v)
{
    size_t start = *i;
    uint64_t x = 0;

    while (s[*i] >= '0' && s[*i] <= '9') {
        unsigned d = (unsigned)(s[*i] - '0');
        if (x > UINT64_MAX / 10 || x * 10 > UINT64_MAX - d)
            return false;
        x = x * 10 + d;
        (*i)++;
    }
    *v = x;
    return *i > start;
}

static enum cf_range_result ref_parse(const char *s, uint64_t size, struct cf_range *r)
{
    size_t i = 0;
    uint64_t a = 0, b = 0;
    bool suffix = false, open = false;

    while (is_blank(s[i]))
        i++;
    if (strncasecmp(s + i, "bytes", 5) != 0) /* RFC 9110: case-insensitive */
        return CF_RANGE_NONE;
    i += 5;
    while (is_blank(s[i]))
        i++;
    if (s[i] != '=')
        return CF_RANGE_NONE;
    i++;
    while (is_blank(s[i]))
        i++;
    if (s[i] == '-') {
        suffix = true;
        i++;
        if (!ref_number(s, &i, &b))
            return CF_RANGE_NONE;
    } else {
        if (!ref_number(s, &i, &a) || s[i] != '-')
            return CF_RANGE_NONE;
        i++;
        if (s[i] >= '0' && s[i] <= '9') {
            if (!ref_number(s, &i, &b))
                return CF_RANGE_NONE;
        } else {
            open = true;
        }
    }
    while (is_blank(s[i]))
        i++;
    if (s[i] != '\0')
        return CF_RANGE_NONE;
    if (suffix) {
        /* The last b bytes. */
        if (b == 0 || size == 0)
            return CF_RANGE_UNSATISFIABLE;
        r->first = b > size ? 0 : size - b;
        r->last = size - 1;
        return CF_RANGE_OK;
    }
    if (!open && b < a)
        return CF_RANGE_NONE;
    if (a >= size)
        return CF_RANGE_UNSATISFIABLE;
    r->first = a;
    r->last = (open || b > size - 1) ? size - 1 : b;
    return CF_RANGE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t objsize = 0;
    size_t hlen;
    char *h;
    struct cf_range got = {0, 0}, again = {0, 0}, want = {0, 0};
    enum cf_range_result rg, ra, rw;

    for (size_t i = 0; i < 8 && i < size; i++)
        objsize |= (uint64_t)data[i] << (8 * i);
    hlen = size > 8 ? size - 8 : 0;
    if (hlen > HEADER_MAX)
        return 0;
    /* An exact-size copy, so ASan catches a read past the terminator. */
    h = malloc(hlen + 1);
    CHECK(h != NULL);
    if (hlen > 0)
        memcpy(h, data + 8, hlen);
    h[hlen] = '\0';

    rg = cf_range_parse(h, objsize, &got);
    CHECK(rg == CF_RANGE_NONE || rg == CF_RANGE_OK || rg == CF_RANGE_UNSATISFIABLE);
    if (rg == CF_RANGE_OK)
        CHECK(got.first <= got.last && got.last < objsize);

    rw = ref_parse(h, objsize, &want);
    CHECK(rg == rw);
    if (rg == CF_RANGE_OK)
        CHECK(got.first == want.first && got.last == want.last);

    ra = cf_range_parse(h, objsize, &again);
    CHECK(ra == rg);
    if (ra == CF_RANGE_OK)
        CHECK(again.first == got.first && again.last == got.last);

    CHECK(cf_range_parse(NULL, objsize, &again) == CF_RANGE_NONE);
    free(h);
    return 0;
}
