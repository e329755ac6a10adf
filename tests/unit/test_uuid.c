/*
 * test_uuid.c -- unit tests for uuid.h: the smart key's text form, its filer
 * path, and its random part.
 *
 * The parser is checked against known keys written by hand from the header's
 * layout (never against our own formatter's output), against a table of every
 * malformed shape we know, against every single-byte corruption of a valid
 * key at every position, and in a differential run against a naive reference
 * validator written here from the header's rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/objpath.h"
#include "coffer/uuid.h"

/* A byte string that may contain NUL. */
struct bytes {
    const char *p;
    size_t len;
};

#define B(s)                                                                                       \
    {                                                                                              \
        (s), sizeof(s) - 1                                                                         \
    }

static const char example[] = "00010000-0000-002a-9f3c-5e0b7d21a468";

/* Parse a copy of exactly len bytes on the heap, so ASan sees any read past the end. */
static int parse_exact(const char *p, size_t len, struct cf_uuid *u, char *err)
{
    char *copy = malloc(len > 0 ? len : 1);
    int rc;

    assert_non_null(copy);
    if (len > 0)
        memcpy(copy, p, len);
    rc = cf_uuid_parse(copy, len, u, err);
    free(copy);
    return rc;
}

/* --- reference model ---------------------------------------------------- */

static bool ref_valid(const char *p, size_t len)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool hyphen = i == 8 || i == 13 || i == 18 || i == 23;
        char c = p[i];
        if (hyphen && c != '-')
            return false;
        if (!hyphen && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return memcmp(p, "0000", 4) != 0 && memcmp(p + 4, "0000-0000-0000", 14) != 0;
}

/* xorshift64*: a reproducible generator for the differential run. */
static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

/* --- valid keys ----------------------------------------------------------- */

struct known {
    const char *text;
    const char *path;
    uint16_t shard;
    uint64_t oid;
    uint64_t rnd;
};

/* Written by hand from uuid.h: 4 shard digits, 12 object id digits, 16 random. */
static const struct known known[] = {
    {"00010000-0000-002a-9f3c-5e0b7d21a468", "0001/00000000002a-9f3c5e0b7d21a468", 1, 42,
     UINT64_C(0x9f3c5e0b7d21a468)},
    {"00010000-0000-0001-0000-000000000000", "0001/000000000001-0000000000000000", 1, 1, 0},
    {"ffffffff-ffff-ffff-ffff-ffffffffffff", "ffff/ffffffffffff-ffffffffffffffff", 65535,
     CF_UUID_OID_MAX, UINT64_MAX},
    {"12340123-4567-89ab-cdef-0123456789ab", "1234/0123456789ab-cdef0123456789ab", 0x1234,
     UINT64_C(0x0123456789ab), UINT64_C(0xcdef0123456789ab)},
    {"00ff8000-0000-0000-0000-000000000001", "00ff/800000000000-0000000000000001", 0xff,
     UINT64_C(0x800000000000), 1},
};

static void test_known_keys(void **state)
{
    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(known); i++) {
        const struct known *k = &known[i];
        struct cf_uuid u = {0, 0, 0}, v = {0, 0, 0};
        char text[CF_UUID_SIZE], path[CF_UUID_PATH_SIZE], err[CF_ERR_LEN] = "";

        assert_int_equal(parse_exact(k->text, strlen(k->text), &u, err), 0);
        assert_int_equal(u.shard, k->shard);
        assert_true(u.oid == k->oid);
        assert_true(u.rnd == k->rnd);
        assert_true(cf_uuid_is_valid(k->text, strlen(k->text)));

        cf_uuid_format(&u, text);
        assert_string_equal(text, k->text);
        cf_uuid_filer_path(&u, path);
        assert_string_equal(path, k->path);
        assert_int_equal(cf_objpath_validate(path, strlen(path), NULL), 0);
        assert_int_equal(cf_uuid_parse_filer_path(path, strlen(path), &v, NULL), 0);
        assert_true(v.shard == u.shard && v.oid == u.oid && v.rnd == u.rnd);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < 10000; i++) {
        struct cf_uuid u, v;
        char text[CF_UUID_SIZE], path[CF_UUID_PATH_SIZE];

        u.shard = (uint16_t)(1 + rng() % 65535);
        u.oid = 1 + rng() % CF_UUID_OID_MAX;
        u.rnd = rng();
        cf_uuid_format(&u, text);
        assert_int_equal(strlen(text), CF_UUID_LEN);
        assert_int_equal(cf_uuid_parse(text, CF_UUID_LEN, &v, NULL), 0);
        assert_true(v.shard == u.shard && v.oid == u.oid && v.rnd == u.rnd);
        cf_uuid_filer_path(&u, path);
        assert_int_equal(strlen(path), CF_UUID_PATH_LEN);
        assert_int_equal(cf_uuid_parse_filer_path(path, CF_UUID_PATH_LEN, &v, NULL), 0);
        assert_true(v.shard == u.shard && v.oid == u.oid && v.rnd == u.rnd);
    }
}

/* --- malformed keys ----------------------------------------------------------- */

struct bad {
    struct bytes in;
    const char *reason; /* a substring the error must contain */
};

static const struct bad bad[] = {
    {B(""), "must be 36 bytes, got 0"},
    {B("00010000-0000-002a-9f3c-5e0b7d21a46"), "got 35"},
    {B("00010000-0000-002a-9f3c-5e0b7d21a4680"), "got 37"},
    {B("00010000-0000-002a-9f3c-5e0b7d21a468\n"), "got 37"},
    {B(" 00010000-0000-002a-9f3c-5e0b7d21a468"), "got 37"},
    {B("000100000000002a9f3c5e0b7d21a468"), "got 32"},
    {B("{00010000-0000-002a-9f3c-5e0b7d21a4}"), "byte 0"},
    {B("00010000-0000-002A-9f3c-5e0b7d21a468"), "byte 17 is 'A': hex digits must be lowercase"},
    {B("00010000-0000-002a-9F3C-5e0b7d21a468"), "lowercase"},
    {B("0001000-00000-002a-9f3c-5e0b7d21a468"), "byte 7 must be a hex digit"},
    {B("00010000-0000-002a-9f3c05e0b7d21a468"), "byte 23 must be '-', got '0'"},
    {B("00010000_0000-002a-9f3c-5e0b7d21a468"), "byte 8 must be '-', got '_'"},
    {B("00010000-0000-002g-9f3c-5e0b7d21a468"), "byte 17 must be a hex digit [0-9a-f], got 'g'"},
    {B("00010000-0000-002a-9f3c-5e0b7d21a\00068"),
     "byte 33 must be a hex digit [0-9a-f], got 0x00"},
    {B("\000"
       "0010000-0000-002a-9f3c-5e0b7d21a468"),
     "byte 0 must be a hex digit"},
    {B("00010000-0000-002a-9f3c-5e0b7d21a4\xc3\xa9"), "got 0xc3"},
    {B("00010000-0000-002a-9f3c-5e0b7d21a4 8"), "got 0x20"},
    {B("00010000-0000-002a-9f3c-+e0b7d21a468"), "byte 24"},
    {B("0x010000-0000-002a-9f3c-5e0b7d21a468"), "byte 1"},
    {B("00000000-0000-002a-9f3c-5e0b7d21a468"), "shard id 0, which is reserved"},
    {B("00000000-0000-0000-0000-000000000000"), "shard id 0"},
    {B("00010000-0000-0000-9f3c-5e0b7d21a468"), "object id 0, which is reserved"},
    {B("0001/00000000002a-9f3c5e0b7d21a468"), "got 34"},
};

static void test_malformed_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++) {
        const struct cf_uuid sentinel = {3, 3, 3};
        struct cf_uuid u = sentinel;
        char err[CF_ERR_LEN] = "";

        if (parse_exact(bad[i].in.p, bad[i].in.len, &u, err) != CF_EINVAL)
            fail_msg("case %zu was accepted", i);
        if (strstr(err, bad[i].reason) == NULL)
            fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, bad[i].reason);
        /* untouched on failure */
        assert_true(u.shard == 3 && u.oid == 3 && u.rnd == 3);
        assert_false(cf_uuid_is_valid(bad[i].in.p, bad[i].in.len));
        assert_int_equal(cf_uuid_parse(bad[i].in.p, bad[i].in.len, &u, NULL), CF_EINVAL);
    }
}

/* Every length from 0 to 72 but 36, cut from or padded onto a valid key. */
static void test_every_wrong_length(void **state)
{
    char buf[80];

    (void)state;
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, example, CF_UUID_LEN);
    for (size_t len = 0; len <= 72; len++) {
        struct cf_uuid u;
        char err[CF_ERR_LEN] = "", want[64];

        if (len == CF_UUID_LEN)
            continue;
        assert_int_equal(parse_exact(buf, len, &u, err), CF_EINVAL);
        (void)snprintf(want, sizeof(want), "got %zu", len);
        assert_non_null(strstr(err, want));
    }
}

/* Each byte of a valid key replaced by each byte value that does not belong
 * there: rejected, and the message names that byte's offset. */
static void test_every_single_byte_corruption(void **state)
{
    (void)state;
    for (size_t i = 0; i < CF_UUID_LEN; i++) {
        bool hyphen = i == 8 || i == 13 || i == 18 || i == 23;
        for (int c = 0; c < 256; c++) {
            char buf[CF_UUID_LEN], err[CF_ERR_LEN] = "", want[32];
            bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            struct cf_uuid u;
            int rc;

            if (hyphen ? c == '-' : hex)
                continue;
            memcpy(buf, example, CF_UUID_LEN);
            buf[i] = (char)c;
            rc = parse_exact(buf, CF_UUID_LEN, &u, err);
            if (rc != CF_EINVAL)
                fail_msg("byte 0x%02x at %zu was accepted", c, i);
            (void)snprintf(want, sizeof(want), "byte %zu ", i);
            if (strstr(err, want) == NULL)
                fail_msg("byte 0x%02x at %zu: \"%s\" does not name the offset", c, i, err);
        }
    }
}

/* Random mutations of valid keys, compared with the reference validator. */
static void test_differential(void **state)
{
    static const char pool[] = "0123456789abcdefABCDEF-g \0/{}";

    (void)state;
    for (int iter = 0; iter < 200000; iter++) {
        char buf[40];
        size_t len = CF_UUID_LEN;
        struct cf_uuid u;
        int rc;

        memcpy(buf, known[iter % CF_ARRAY_LEN(known)].text, CF_UUID_LEN);
        for (uint64_t k = rng() % 4; k > 0; k--)
            buf[rng() % CF_UUID_LEN] = pool[rng() % (sizeof(pool) - 1)];
        if (rng() % 8 == 0)
            len = (size_t)(rng() % sizeof(buf));
        rc = cf_uuid_parse(buf, len, &u, NULL);
        if ((rc == 0) != ref_valid(buf, len))
            fail_msg("parser says %d, reference says %d for \"%.*s\"", rc, ref_valid(buf, len),
                     (int)len, buf);
        if (rc == 0) {
            char text[CF_UUID_SIZE];
            cf_uuid_format(&u, text);
            assert_memory_equal(text, buf, CF_UUID_LEN);
        }
    }
}

/* --- filer path ------------------------------------------------------------------ */

static void test_filer_path_malformed(void **state)
{
    static const struct bad paths[] = {
        {B("0001/00000000002a-9f3c5e0b7d21a46"), "got 33"},
        {B("0001/00000000002a-9f3c5e0b7d21a4680"), "got 35"},
        {B("0001+00000000002a-9f3c5e0b7d21a468"), "byte 4 must be '/'"},
        {B("0001/00000000002a_9f3c5e0b7d21a468"), "byte 17 must be '-'"},
        {B("0001/00000000002A-9f3c5e0b7d21a468"), "lowercase"},
        {B("0000/00000000002a-9f3c5e0b7d21a468"), "shard id 0"},
        {B("0001/000000000000-9f3c5e0b7d21a468"), "object id 0"},
        {B("00010000-0000-002a-9f3c-5e0b7d21a468"), "got 36"},
    };

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(paths); i++) {
        struct cf_uuid u;
        char err[CF_ERR_LEN] = "";

        assert_int_equal(cf_uuid_parse_filer_path(paths[i].in.p, paths[i].in.len, &u, err),
                         CF_EINVAL);
        if (strstr(err, paths[i].reason) == NULL)
            fail_msg("path case %zu: error \"%s\" lacks \"%s\"", i, err, paths[i].reason);
    }
}

/* --- randomness ------------------------------------------------------------------ */

static void test_random(void **state)
{
    uint64_t seen[64];
    uint64_t ones = 0;

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(seen); i++) {
        assert_int_equal(cf_uuid_random(&seen[i]), 0);
        for (size_t j = 0; j < i; j++)
            assert_true(seen[i] != seen[j]);
        ones |= seen[i];
    }
    /* 64 draws leave no bit position always zero (chance 64 * 2^-64). */
    assert_true(ones == UINT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_keys),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_malformed_table),
        cmocka_unit_test(test_every_wrong_length),
        cmocka_unit_test(test_every_single_byte_corruption),
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_filer_path_malformed),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
