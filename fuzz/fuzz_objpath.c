/*
 * fuzz_objpath.c -- libFuzzer target for the object path gate (objpath.h).
 *
 * The input is a candidate path (any bytes, NUL included). Invariants, each
 * abort()ing when broken:
 *  - validate agrees with a naive reference written here from the header's rules;
 *  - an invalid path gets no relative path and no file name;
 *  - a valid path's relpath is "objects/HH/HH/<name>", with HH/HH its bucket,
 *    never longer than CF_OBJPATH_REL_MAX, with no NUL, no empty, "." or ".."
 *    segment; <name> has no '/', and from_name(name) gives back the input exactly;
 *  - the input read as a name found on disk is accepted only if it maps to a
 *    valid path that maps back to the same name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/limits.h"
#include "coffer/objpath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_objpath:%d: invariant failed: %s\n", __LINE__, #x);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

static bool ref_valid(const char *p, size_t len)
{
    size_t depth = 0, i = 0;

    if (len < 1 || len > CF_PATH_MAX)
        return false;
    for (;;) {
        size_t j = i;
        while (j < len && p[j] != '/')
            j++;
        if (j == i || j - i > CF_PATH_SEGMENT_MAX || p[i] == '.')
            return false;
        for (size_t k = i; k < j; k++)
            if (memchr(alphabet, p[k], sizeof(alphabet) - 1) == NULL)
                return false;
        if (++depth > CF_PATH_DEPTH_MAX)
            return false;
        if (j == len)
            return true;
        i = j + 1;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Every '/'-separated segment of s (len bytes) is non-empty and not "." or "..". */
static bool segments_safe(const char *s, size_t len)
{
    size_t i = 0;

    while (i <= len) {
        size_t j = i;
        while (j < len && s[j] != '/')
            j++;
        if (j == i)
            return false;
        if (j - i == 1 && s[i] == '.')
            return false;
        if (j - i == 2 && s[i] == '.' && s[i + 1] == '.')
            return false;
        i = j + 1;
    }
    return true;
}

static void check_valid_path(const char *p, size_t size)
{
    char rel[CF_OBJPATH_REL_MAX], name[CF_OBJPATH_REL_MAX], back[CF_OBJPATH_REL_MAX];
    uint32_t bucket = cf_objpath_bucket(p, size);
    int r, t, f;

    CHECK(bucket < CF_OBJPATH_BUCKETS);
    CHECK(bucket == cf_objpath_bucket(p, size));

    r = cf_objpath_relpath(p, size, rel, sizeof(rel));
    CHECK(r > 0);
    CHECK((size_t)r < CF_OBJPATH_REL_MAX);
    CHECK((size_t)r == 14 + size);
    CHECK(strlen(rel) == (size_t)r); /* no NUL inside, and terminated */
    CHECK(memcmp(rel, "objects/", 8) == 0 && rel[10] == '/' && rel[13] == '/');
    for (int i = 8; i < 13; i++)
        CHECK(i == 10 || hexval(rel[i]) >= 0);
    CHECK((uint32_t)(hexval(rel[8]) << 12 | hexval(rel[9]) << 8 | hexval(rel[11]) << 4 |
                     hexval(rel[12])) == bucket);
    CHECK(segments_safe(rel, (size_t)r));
    CHECK(rel[14] != '.');

    t = cf_objpath_to_name(p, size, name, sizeof(name));
    CHECK(t >= 0 && (size_t)t == size);
    CHECK(name[t] == '\0');
    CHECK(memchr(name, '/', size) == NULL);
    CHECK(memcmp(rel + 14, name, size) == 0);

    f = cf_objpath_from_name(name, (size_t)t, back, sizeof(back));
    CHECK(f >= 0 && (size_t)f == size);
    CHECK(memcmp(back, p, size) == 0 && back[f] == '\0');

    /* Output capacity: exactly enough works, one byte less is CF_ETOOLARGE. */
    CHECK(cf_objpath_relpath(p, size, rel, (size_t)r + 1) == r);
    CHECK(cf_objpath_relpath(p, size, rel, (size_t)r) == CF_ETOOLARGE);
    CHECK(cf_objpath_to_name(p, size, name, size) == CF_ETOOLARGE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    char out[CF_OBJPATH_REL_MAX], back[CF_OBJPATH_REL_MAX];
    char err[CF_ERR_LEN];
    int v, f;

    err[0] = '\0';
    v = cf_objpath_validate(p, size, err);
    CHECK(v == 0 || v == CF_EBADPATH);
    CHECK((v == 0) == ref_valid(p, size));
    CHECK(cf_objpath_validate(p, size, NULL) == v);
    if (v == 0) {
        check_valid_path(p, size);
    } else {
        CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
        CHECK(cf_objpath_relpath(p, size, out, sizeof(out)) == CF_EBADPATH);
        CHECK(cf_objpath_to_name(p, size, out, sizeof(out)) == CF_EBADPATH);
    }

    /* The input as a file name found in a bucket directory. */
    f = cf_objpath_from_name(p, size, out, sizeof(out));
    if (f >= 0) {
        CHECK((size_t)f == size);
        CHECK(memchr(p, '/', size) == NULL);
        CHECK(cf_objpath_validate(out, size, NULL) == 0);
        CHECK(cf_objpath_to_name(out, size, back, sizeof(back)) == f);
        CHECK(memcmp(back, p, size) == 0);
    } else {
        CHECK(f == CF_EBADPATH || (f == CF_ETOOLARGE && size + 1 > sizeof(out)));
    }
    return 0;
}
