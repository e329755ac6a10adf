/*
 * fuzz_conf_size.c -- libFuzzer target for cf_conf_parse_size (conf.h), the
 * parser behind every SIZE setting (--capacity=10G, COFFER_CAPACITY, files).
 *
 * The input is the text (up to its first NUL). Invariants, each abort()ing
 * when broken: the result is 0 or CF_EINVAL; on CF_EINVAL the output is not
 * written; the result and value equal those of a reference written here:
 * one or more decimal digits, then optionally one of K M G T (either case,
 * powers of 1024) followed by an optional 'i' and an optional 'B' (either
 * case), and nothing else; a value that does not fit in 64 bits is CF_EINVAL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/conf.h"
#include "coffer/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_conf_size:%d: invariant failed: %s\n", __LINE__, #x);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define TEXT_MAX  256
#define UNTOUCHED UINT64_C(0xa5a5a5a5a5a5a5a5)

static int shift_of(char c)
{
    switch (c) {
    case 'k':
    case 'K':
        return 10;
    case 'm':
    case 'M':
        return 20;
    case 'g':
    case 'G':
        return 30;
    case 't':
    case 'T':
        return 40;
    default:
        return -1;
    }
}

static int ref_parse_size(const char *s, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;
    int shift = 0;

    if (!(s[0] >= '0' && s[0] <= '9'))
        return CF_EINVAL;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return CF_EINVAL;
        v = v * 10 + d;
    }
    if (s[i] != '\0') {
        shift = shift_of(s[i]);
        if (shift < 0)
            return CF_EINVAL;
        i++;
        if (s[i] == 'i' || s[i] == 'I')
            i++;
        if (s[i] == 'b' || s[i] == 'B')
            i++;
        if (s[i] != '\0')
            return CF_EINVAL;
    }
    if (shift > 0 && v > (UINT64_MAX >> shift))
        return CF_EINVAL;
    *out = v << shift;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t got = UNTOUCHED, want = UNTOUCHED;
    char *s;
    int rc, rw;

    if (size > TEXT_MAX)
        return 0;
    /* An exact-size copy, so ASan catches a read past the terminator. */
    s = malloc(size + 1);
    CHECK(s != NULL);
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';

    rc = cf_conf_parse_size(s, &got);
    CHECK(rc == 0 || rc == CF_EINVAL);
    if (rc != 0)
        CHECK(got == UNTOUCHED);
    rw = ref_parse_size(s, &want);
    CHECK(rc == rw);
    if (rc == 0)
        CHECK(got == want);
    free(s);
    return 0;
}
