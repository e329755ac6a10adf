/*
 * hex.c -- bytes as hexadecimal text, and back (hex.h).
 */
#include "coffer/hex.h"

#include "coffer/err.h"

int cf_hex_value(int c, bool any_case)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (any_case && c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char cf_hex_digit(unsigned v)
{
    return "0123456789abcdef"[v & 15];
}

void cf_hex_encode(const void *p, size_t n, char *out)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = cf_hex_digit(b[i] >> 4);
        out[2 * i + 1] = cf_hex_digit(b[i]);
    }
    out[2 * n] = '\0';
}

int cf_hex_decode(const char *s, size_t n, void *out, bool any_case)
{
    uint8_t *b = out;

    for (size_t i = 0; i < n; i++) {
        int hi = cf_hex_value((unsigned char)s[2 * i], any_case);
        int lo = hi < 0 ? -1 : cf_hex_value((unsigned char)s[2 * i + 1], any_case);
        if (lo < 0)
            return CF_EINVAL;
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
