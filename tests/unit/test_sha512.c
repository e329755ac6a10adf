/*
 * test_sha512.c -- unit tests for sha512.h: FIPS 180 vectors, streaming in odd
 * chunk sizes, and the hex form used in the X-Coffer-SHA512 header.
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
#include "coffer/sha512.h"

/* The FIPS 180-2 / NIST CAVS example vectors. */
static const char hex_empty[] = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
                                "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
static const char hex_abc[] = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                              "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
static const char msg_896[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                              "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
static const char hex_896[] = "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
                              "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909";
static const char hex_million_a[] =
    "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
    "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b";

#define MILLION 1000000

/* Digest of p[0..n) fed in chunks of `chunk` bytes (0 means one call), as hex. */
static void digest_hex(const void *p, size_t n, size_t chunk, char hex[CF_SHA512_HEX_LEN + 1])
{
    struct cf_sha512 ctx;
    uint8_t d[CF_SHA512_LEN];
    const char *c = p;

    assert_int_equal(cf_sha512_init(&ctx), 0);
    if (chunk == 0)
        chunk = n > 0 ? n : 1;
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        assert_int_equal(cf_sha512_update(&ctx, c + off, k), 0);
    }
    assert_int_equal(cf_sha512_final(&ctx, d), 0);
    cf_sha512_fini(&ctx);
    cf_sha512_hex(d, hex);
}

static void test_vectors(void **state)
{
    char hex[CF_SHA512_HEX_LEN + 1];

    (void)state;
    assert_int_equal(strlen(msg_896), 112); /* 896 bits */
    digest_hex("", 0, 0, hex);
    assert_string_equal(hex, hex_empty);
    digest_hex("abc", 3, 0, hex);
    assert_string_equal(hex, hex_abc);
    digest_hex(msg_896, strlen(msg_896), 0, hex);
    assert_string_equal(hex, hex_896);
}

/* cf_sha512_once gives the vectors, the empty input with p NULL included. */
static void test_once(void **state)
{
    uint8_t d[CF_SHA512_LEN];
    char hex[CF_SHA512_HEX_LEN + 1];

    (void)state;
    assert_int_equal(cf_sha512_once(NULL, 0, d), 0);
    cf_sha512_hex(d, hex);
    assert_string_equal(hex, hex_empty);
    assert_int_equal(cf_sha512_once("abc", 3, d), 0);
    cf_sha512_hex(d, hex);
    assert_string_equal(hex, hex_abc);
    assert_int_equal(cf_sha512_once(msg_896, strlen(msg_896), d), 0);
    cf_sha512_hex(d, hex);
    assert_string_equal(hex, hex_896);
}

static void test_million_a(void **state)
{
    char *a = malloc(MILLION);
    char hex[CF_SHA512_HEX_LEN + 1];

    (void)state;
    assert_non_null(a);
    memset(a, 'a', MILLION);
    digest_hex(a, MILLION, 0, hex);
    assert_string_equal(hex, hex_million_a);
    /* A prime chunk size, so no call lines up with the 128-byte block. */
    digest_hex(a, MILLION, 997, hex);
    assert_string_equal(hex, hex_million_a);
    free(a);
}

/* Chunk sizes around the 128-byte block boundary give the one-shot digest. */
static void test_streaming_chunks(void **state)
{
    static const size_t chunks[] = {1,   2,   3,   7,   63,   64,   111,  112,   127,  128,
                                    129, 255, 256, 257, 1000, 4095, 4096, 10000, 10001};
    static const size_t sizes[] = {0, 1, 111, 112, 127, 128, 129, 239, 240, 255, 256, 10000};
    static uint8_t data[10001];
    char one[CF_SHA512_HEX_LEN + 1], many[CF_SHA512_HEX_LEN + 1];

    (void)state;
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 131u + (i >> 7));
    for (size_t s = 0; s < CF_ARRAY_LEN(sizes); s++) {
        digest_hex(data, sizes[s], 0, one);
        for (size_t c = 0; c < CF_ARRAY_LEN(chunks); c++) {
            digest_hex(data, sizes[s], chunks[c], many);
            if (strcmp(one, many) != 0)
                fail_msg("size %zu in chunks of %zu differs from one shot", sizes[s], chunks[c]);
        }
    }
    /* The 896-bit vector fed in uneven pieces. */
    {
        struct cf_sha512 ctx;
        uint8_t d[CF_SHA512_LEN];
        static const size_t cuts[] = {0, 1, 4, 4, 50, 111, 112};
        assert_int_equal(cf_sha512_init(&ctx), 0);
        for (size_t i = 0; i + 1 < CF_ARRAY_LEN(cuts); i++)
            assert_int_equal(cf_sha512_update(&ctx, msg_896 + cuts[i], cuts[i + 1] - cuts[i]), 0);
        assert_int_equal(cf_sha512_final(&ctx, d), 0);
        cf_sha512_fini(&ctx);
        cf_sha512_hex(d, many);
        assert_string_equal(many, hex_896);
    }
}

/* Zero-length updates, including with p == NULL, change nothing. */
static void test_empty_updates(void **state)
{
    struct cf_sha512 ctx;
    uint8_t d[CF_SHA512_LEN];
    char hex[CF_SHA512_HEX_LEN + 1];

    (void)state;
    assert_int_equal(cf_sha512_init(&ctx), 0);
    assert_int_equal(cf_sha512_update(&ctx, NULL, 0), 0);
    assert_int_equal(cf_sha512_update(&ctx, "a", 1), 0);
    assert_int_equal(cf_sha512_update(&ctx, NULL, 0), 0);
    assert_int_equal(cf_sha512_update(&ctx, "bc", 2), 0);
    assert_int_equal(cf_sha512_update(&ctx, "x", 0), 0);
    assert_int_equal(cf_sha512_final(&ctx, d), 0);
    cf_sha512_fini(&ctx);
    cf_sha512_hex(d, hex);
    assert_string_equal(hex, hex_abc);
}

static void test_fini(void **state)
{
    struct cf_sha512 ctx;
    struct cf_sha512 zero = {0};

    (void)state;
    cf_sha512_fini(&zero);
    cf_sha512_fini(&zero);
    assert_int_equal(cf_sha512_init(&ctx), 0);
    cf_sha512_fini(&ctx); /* without final: no leak (ASan checks) */
    assert_null(ctx.md);
    cf_sha512_fini(&ctx);
    /* A context can be initialised again after fini. */
    assert_int_equal(cf_sha512_init(&ctx), 0);
    cf_sha512_fini(&ctx);
}

static void test_hex_roundtrip(void **state)
{
    uint8_t d[CF_SHA512_LEN], back[CF_SHA512_LEN];
    char hex[CF_SHA512_HEX_LEN + 1], upper[CF_SHA512_HEX_LEN + 1];

    (void)state;
    /* Bytes 0x00..0x1f, then 0xff down to 0xe0: every hex digit, both nibbles. */
    for (size_t i = 0; i < CF_SHA512_LEN; i++)
        d[i] = (uint8_t)(i < 32 ? i : 0xff - (i - 32));
    memset(hex, 'Z', sizeof(hex));
    cf_sha512_hex(d, hex);
    assert_int_equal(strlen(hex), CF_SHA512_HEX_LEN);
    assert_memory_equal(hex, "000102030405060708090a0b0c0d0e0f", 32);
    assert_memory_equal(hex + 64, "fffefdfcfbfaf9f8", 16);
    assert_int_equal(cf_sha512_parse_hex(hex, CF_SHA512_HEX_LEN, back), 0);
    assert_memory_equal(back, d, CF_SHA512_LEN);

    /* Upper case parses to the same digest. */
    for (size_t i = 0; i <= CF_SHA512_HEX_LEN; i++)
        upper[i] = (hex[i] >= 'a' && hex[i] <= 'f') ? (char)(hex[i] - 'a' + 'A') : hex[i];
    memset(back, 0, sizeof(back));
    assert_int_equal(cf_sha512_parse_hex(upper, CF_SHA512_HEX_LEN, back), 0);
    assert_memory_equal(back, d, CF_SHA512_LEN);

    /* A known vector both ways. */
    assert_int_equal(cf_sha512_parse_hex(hex_abc, CF_SHA512_HEX_LEN, back), 0);
    cf_sha512_hex(back, hex);
    assert_string_equal(hex, hex_abc);
}

static void test_parse_hex_rejects(void **state)
{
    static const size_t lens[] = {0, 1, 2, 64, 126, 127, 129, 130, 256};
    static const char bad[] = {'g', 'G', 'x', ' ', '\0', '-', '+', ':', '/', '@', '`', '\xff'};
    char buf[300];
    uint8_t out[CF_SHA512_LEN];

    (void)state;
    memset(buf, 'a', sizeof(buf));
    for (size_t i = 0; i < CF_ARRAY_LEN(lens); i++)
        if (cf_sha512_parse_hex(buf, lens[i], out) != CF_EINVAL)
            fail_msg("length %zu accepted", lens[i]);
    assert_int_equal(cf_sha512_parse_hex(buf, CF_SHA512_HEX_LEN, out), 0);
    /* One bad byte at every position. */
    for (size_t pos = 0; pos < CF_SHA512_HEX_LEN; pos++) {
        for (size_t b = 0; b < sizeof(bad); b++) {
            memcpy(buf, hex_abc, CF_SHA512_HEX_LEN);
            buf[pos] = bad[b];
            if (cf_sha512_parse_hex(buf, CF_SHA512_HEX_LEN, out) != CF_EINVAL)
                fail_msg("byte 0x%02x at %zu accepted", (unsigned char)bad[b], pos);
        }
    }
    /* A "0x" prefix makes it 130 bytes, and "0x" + 126 digits has an 'x'. */
    buf[0] = '0';
    buf[1] = 'x';
    memcpy(buf + 2, hex_abc, CF_SHA512_HEX_LEN);
    assert_int_equal(cf_sha512_parse_hex(buf, CF_SHA512_HEX_LEN + 2, out), CF_EINVAL);
    assert_int_equal(cf_sha512_parse_hex(buf, CF_SHA512_HEX_LEN, out), CF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),       cmocka_unit_test(test_once),
        cmocka_unit_test(test_million_a),     cmocka_unit_test(test_streaming_chunks),
        cmocka_unit_test(test_empty_updates), cmocka_unit_test(test_fini),
        cmocka_unit_test(test_hex_roundtrip), cmocka_unit_test(test_parse_hex_rejects),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
