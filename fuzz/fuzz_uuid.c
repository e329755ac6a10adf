/*
 * fuzz_uuid.c -- libFuzzer target for the UUID smart key (uuid.h).
 *
 * The input is a candidate UUID text (any bytes, NUL included). Invariants,
 * each abort()ing when broken:
 *  - cf_uuid_parse returns 0 or CF_EINVAL, agrees with a naive reference
 *    written here from the header's rules, and with cf_uuid_is_valid;
 *  - a rejected input leaves the output untouched and explains itself in err;
 *  - an accepted input formats back to exactly the same 36 bytes, and its
 *    filer path is a valid object path (objpath.h) of 34 bytes that parses
 *    back to the same key;
 *  - the input read as a filer path is accepted only if it formats back to
 *    exactly itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/objpath.h"
#include "coffer/uuid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_uuid:%d: invariant failed: %s\n", __LINE__, #x);                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool is_lower_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* The header's rules, as naively as possible. */
static bool ref_valid(const char *p, size_t len)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool hyphen = i == 8 || i == 13 || i == 18 || i == 23;
        if (hyphen ? p[i] != '-' : !is_lower_hex((unsigned char)p[i]))
            return false;
    }
    /* shard: first 4 digits; object id: digits 5-16 = "oooo-oooo-oooo" at 4..17 */
    if (memcmp(p, "0000", 4) == 0)
        return false;
    if (memcmp(p + 4, "0000-0000-0000", 14) == 0)
        return false;
    return true;
}

static void check_same(const struct cf_uuid *a, const struct cf_uuid *b)
{
    CHECK(a->shard == b->shard && a->oid == b->oid && a->rnd == b->rnd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const struct cf_uuid sentinel = {7, 7, 7};
    struct cf_uuid u = sentinel, v = sentinel;
    char text[CF_UUID_SIZE], path[CF_UUID_PATH_SIZE], err[CF_ERR_LEN];
    int rc;

    err[0] = '\0';
    rc = cf_uuid_parse(p, size, &u, err);
    CHECK(rc == 0 || rc == CF_EINVAL);
    CHECK((rc == 0) == ref_valid(p, size));
    CHECK(cf_uuid_is_valid(p, size) == (rc == 0));
    if (rc == 0) {
        CHECK(u.shard != 0 && u.oid != 0 && u.oid <= CF_UUID_OID_MAX);
        cf_uuid_format(&u, text);
        CHECK(strlen(text) == CF_UUID_LEN);
        CHECK(memcmp(text, p, CF_UUID_LEN) == 0);

        cf_uuid_filer_path(&u, path);
        CHECK(strlen(path) == CF_UUID_PATH_LEN);
        CHECK(cf_objpath_validate(path, CF_UUID_PATH_LEN, NULL) == 0);
        CHECK(cf_uuid_parse_filer_path(path, CF_UUID_PATH_LEN, &v, NULL) == 0);
        check_same(&u, &v);
    } else {
        check_same(&u, &sentinel);
        CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
    }

    /* The same bytes as a name found on a filer. */
    v = sentinel;
    rc = cf_uuid_parse_filer_path(p, size, &v, NULL);
    CHECK(rc == 0 || rc == CF_EINVAL);
    if (rc == 0) {
        CHECK(size == CF_UUID_PATH_LEN);
        cf_uuid_filer_path(&v, path);
        CHECK(memcmp(path, p, CF_UUID_PATH_LEN) == 0);
        cf_uuid_format(&v, text);
        CHECK(cf_uuid_parse(text, CF_UUID_LEN, &u, NULL) == 0);
        check_same(&u, &v);
    } else {
        check_same(&v, &sentinel);
    }
    return 0;
}
