/*
 * fuzz_term_escape.c -- libFuzzer target for cf_term_escape (log.h), which
 * makes names and server messages safe to print on a terminal.
 *
 * Input: the first byte is the output buffer's size (0..255), the rest the
 * text, up to its first NUL (a C string, as a JSON string decodes into the
 * CLI). Invariants, each abort()ing when broken:
 *  - nothing is written past the buffer's size, and the output ends in a NUL;
 *  - the output holds no C0 control byte or DEL, is valid UTF-8 and holds no
 *    C1 control (U+0080..U+009F) and no bidirectional override or isolate
 *    (U+202A..U+202E, U+2066..U+2069);
 *  - it equals a reference escaper written here from log.h (RFC 3629 for
 *    UTF-8) when the whole text fits; otherwise it is the reference cut at
 *    the boundary of an escape or character, followed by "...", as long as
 *    that fits.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_term_escape:%d: invariant failed: %s\n", __LINE__, #x);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define TEXT_MAX 2048
#define GUARD    64

/* RFC 3629 table 2: the length of the well-formed sequence at s and its
 * code point, or 0. */
static size_t ref_utf8(const unsigned char *s, size_t n, unsigned *cp)
{
    static const struct {
        unsigned char lead_lo, lead_hi, second_lo, second_hi;
        size_t len;
    } rows[] = {
        {0xc2, 0xdf, 0x80, 0xbf, 2}, {0xe0, 0xe0, 0xa0, 0xbf, 3}, {0xe1, 0xec, 0x80, 0xbf, 3},
        {0xed, 0xed, 0x80, 0x9f, 3}, {0xee, 0xef, 0x80, 0xbf, 3}, {0xf0, 0xf0, 0x90, 0xbf, 4},
        {0xf1, 0xf3, 0x80, 0xbf, 4}, {0xf4, 0xf4, 0x80, 0x8f, 4},
    };

    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        size_t len = rows[r].len;
        if (s[0] < rows[r].lead_lo || s[0] > rows[r].lead_hi)
            continue;
        if (n < len || s[1] < rows[r].second_lo || s[1] > rows[r].second_hi)
            return 0;
        for (size_t i = 2; i < len; i++)
            if (s[i] < 0x80 || s[i] > 0xbf)
                return 0;
        *cp = s[0] & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
        for (size_t i = 1; i < len; i++)
            *cp = (*cp << 6) | (s[i] & 0x3f);
        return len;
    }
    return 0;
}

static bool is_hidden(unsigned cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/* The whole escaped text into out (6 * n + 1 bytes); unit[k] is true when
 * an escape or character starts at out[k] (and at the end). Returns its
 * length. */
static size_t ref_escape(const unsigned char *s, size_t n, char *out, bool *unit)
{
    size_t o = 0, i = 0, len;
    unsigned cp = 0;

    while (i < n) {
        unit[o] = true;
        if (s[i] < 0x80) {
            if (s[i] < 0x20 || s[i] == 0x7f)
                o += (size_t)snprintf(out + o, 7, "\\x%02x", s[i]);
            else
                out[o++] = (char)s[i];
            i++;
            continue;
        }
        len = ref_utf8(s + i, n - i, &cp);
        if (len == 0) {
            o += (size_t)snprintf(out + o, 7, "\\x%02x", s[i]);
            i++;
        } else if (is_hidden(cp)) {
            o += (size_t)snprintf(out + o, 7, "\\u%04x", cp);
            i += len;
        } else {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        }
    }
    unit[o] = true;
    out[o] = '\0';
    return o;
}

/* The output itself is safe on a terminal. */
static void check_safe(const char *out, size_t len)
{
    const unsigned char *u = (const unsigned char *)out;
    size_t i = 0, l;
    unsigned cp = 0;

    while (i < len) {
        CHECK(u[i] >= 0x20 && u[i] != 0x7f);
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        l = ref_utf8(u + i, len - i, &cp);
        CHECK(l > 0);
        CHECK(!is_hidden(cp));
        i += l;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[256 + GUARD], full[6 * TEXT_MAX + 1];
    static bool unit[6 * TEXT_MAX + 1];
    const unsigned char *text;
    size_t cap, n, flen, olen;

    if (size == 0)
        return 0;
    cap = data[0];
    text = data + 1;
    n = strnlen((const char *)text, size - 1);
    if (n > TEXT_MAX)
        return 0;
    {
        char *s = malloc(n + 1);
        CHECK(s != NULL);
        memcpy(s, text, n);
        s[n] = '\0';
        memset(out, '#', sizeof(out));
        memset(unit, 0, sizeof(unit));
        CHECK(cf_term_escape(out, cap, s) == out);
        free(s);
    }
    for (size_t k = cap; k < sizeof(out); k++)
        CHECK(out[k] == '#');
    if (cap == 0)
        return 0;
    olen = strnlen(out, cap);
    CHECK(olen < cap);
    check_safe(out, olen);

    flen = ref_escape(text, n, full, unit);
    if (flen < cap) {
        CHECK(olen == flen && memcmp(out, full, flen) == 0);
    } else if (cap >= 4) {
        size_t keep = olen - 3, next = keep + 1;
        CHECK(olen >= 3 && memcmp(out + keep, "...", 3) == 0);
        CHECK(keep <= cap - 4 && memcmp(out, full, keep) == 0 && unit[keep]);
        /* The cut is as late as it can be: the next unit would not fit. */
        while (next < flen && !unit[next])
            next++;
        CHECK(next > cap - 4);
    } else {
        CHECK(olen == 0);
    }
    return 0;
}
