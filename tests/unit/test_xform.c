/*
 * test_xform.c -- unit tests for xform.h: round trips of z, e and ze over
 * sizes around the frame size with random input chunking, ranges, the raw
 * fallback for incompressible frames, determinism, and the detection of
 * tampering, truncation, a wrong key and a wrong transform.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/buf.h"
#include "coffer/err.h"
#include "coffer/sha512.h"
#include "coffer/xform.h"

#define F CF_XFORM_FRAME

static const uint8_t key1[CF_XFORM_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const uint8_t key2[CF_XFORM_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 10};
static const unsigned all_flags[] = {CF_XFORM_Z, CF_XFORM_E, CF_XFORM_Z | CF_XFORM_E};

/* A seeded generator: the same sequence on every run. */
static uint64_t rng_state = 1;

static void rng_seed(unsigned seed)
{
    rng_state = seed * 6364136223846793005u + 1442695040888963407u;
}

static unsigned rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state >> 33);
}

struct mem {
    const uint8_t *p;
    size_t n;
};

static int sink(void *ctx, const void *data, size_t n)
{
    return cf_buf_append(ctx, data, n);
}

static int mem_read(void *ctx, uint64_t off, void *buf, size_t n)
{
    const struct mem *m = ctx;
    if (off > m->n || n > m->n - off)
        return CF_ECHECKSUM;
    memcpy(buf, m->p + off, n);
    return 0;
}

/* Plain test bytes: compressible text when `text`, else pseudo-random. */
static uint8_t *make_plain(size_t n, bool text, unsigned seed)
{
    uint8_t *p = malloc(n ? n : 1);
    uint64_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        if (text) {
            p[i] = (uint8_t)("the quick brown fox jumps over the lazy dog "[(i + seed) % 44]);
        } else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            p[i] = (uint8_t)x;
        }
    }
    return p;
}

/* Encode p[0..n) feeding random chunks; the stored bytes in *out. */
static void encode(unsigned flags, const uint8_t *key, const uint8_t *p, size_t n, unsigned seed,
                   struct cf_buf *out)
{
    struct cf_xform_enc *e;
    uint8_t sha[CF_SHA512_LEN], want[CF_SHA512_LEN];
    uint64_t size = 0;
    size_t pos = 0;

    rng_seed(seed);
    cf_buf_init(out, (size_t)cf_xform_bound(n, flags));
    assert_int_equal(cf_xform_enc_new(flags, key, sink, out, &e), 0);
    while (pos < n) {
        size_t k = (size_t)rng() % (rng() % 2 ? 100 : 3 * F / 2) + 1;
        if (k > n - pos)
            k = n - pos;
        assert_int_equal(cf_xform_enc_write(e, p + pos, k), 0);
        pos += k;
    }
    struct cf_sha512 h;
    assert_int_equal(cf_sha512_init(&h), 0);
    assert_int_equal(cf_sha512_update(&h, p, n), 0);
    assert_int_equal(cf_sha512_final(&h, want), 0);
    cf_sha512_fini(&h);
    assert_int_equal(cf_xform_enc_finish(e, want, sha, &size), 0);
    assert_memory_equal(sha, want, CF_SHA512_LEN);
    assert_int_equal(size, n);
    cf_xform_enc_free(e);
    assert_true(out->len <= cf_xform_bound(n, flags));
}

/* Decode all of the stored bytes, in chunks of `step`. Returns 0 with the
 * plain bytes in *plain, or the first error. */
static int decode_all(unsigned flags, const uint8_t *key, const uint8_t *s, size_t sn, size_t step,
                      uint8_t **plain, size_t *pn)
{
    struct mem m = {s, sn};
    struct cf_xform_dec *d;
    uint8_t *out;
    uint64_t size, off = 0;
    int rc = cf_xform_dec_open(flags, key, sn, mem_read, &m, &d, NULL);

    if (rc < 0)
        return rc;
    size = cf_xform_dec_size(d);
    out = malloc(size ? size : 1);
    while (off < size) {
        size_t got;
        rc = cf_xform_dec_read(d, off, out + off, step, &got, NULL);
        if (rc < 0) {
            free(out);
            cf_xform_dec_free(d);
            return rc;
        }
        assert_true(got > 0);
        off += got;
    }
    cf_xform_dec_free(d);
    *plain = out;
    *pn = size;
    return 0;
}

static void test_round_trips(void **state)
{
    static const size_t sizes[] = {0, 1, 100, F - 1, F, F + 1, 3 * F + 77, 4 * F};
    (void)state;
    for (size_t fi = 0; fi < 3; fi++) {
        for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
            for (int text = 0; text < 2; text++) {
                unsigned flags = all_flags[fi];
                size_t n = sizes[si], pn = 0;
                uint8_t *p = make_plain(n, text, (unsigned)si), *back = NULL;
                struct cf_buf s, s2;
                encode(flags, key1, p, n, (unsigned)(si + 7), &s);
                /* Another chunking gives the same bytes. */
                encode(flags, key1, p, n, (unsigned)(si + 99), &s2);
                assert_int_equal(s.len, s2.len);
                assert_memory_equal(s.base, s2.base, s.len);
                assert_int_equal(
                    decode_all(flags, key1, (uint8_t *)s.base, s.len, 4096 + si, &back, &pn), 0);
                assert_int_equal(pn, n);
                assert_memory_equal(back, p, n);
                if ((flags & CF_XFORM_Z) && text && n > 1000)
                    assert_true(s.len < n / 4); /* compressible: smaller */
                if (!text)                      /* incompressible: raw frames, small overhead */
                    assert_true(s.len <= n + 200 + n / F * 48);
                if ((flags & CF_XFORM_E) && text && n >= 44)
                    assert_null(memmem(s.base, s.len, "quick brown fox", 15));
                free(back);
                free(p);
                cf_buf_fini(&s);
                cf_buf_fini(&s2);
            }
        }
    }
}

static void test_ranges(void **state)
{
    size_t n = 3 * F + 1000;
    uint8_t *p = make_plain(n, true, 3), *buf = malloc(n);
    (void)state;
    for (size_t fi = 0; fi < 3; fi++) {
        struct cf_buf s;
        struct cf_xform_dec *d;
        struct mem m;
        encode(all_flags[fi], key1, p, n, 5, &s);
        m.p = (uint8_t *)s.base;
        m.n = s.len;
        assert_int_equal(cf_xform_dec_open(all_flags[fi], key1, s.len, mem_read, &m, &d, NULL), 0);
        rng_seed(11);
        for (int k = 0; k < 200; k++) {
            uint64_t first = (uint64_t)rng() % n, last = first + (uint64_t)rng() % (F + 5000);
            uint64_t off = first;
            if (last >= n)
                last = n - 1;
            while (off <= last) {
                size_t got;
                assert_int_equal(
                    cf_xform_dec_read(d, off, buf, (size_t)(last - off + 1), &got, NULL), 0);
                assert_true(got > 0);
                assert_memory_equal(buf, p + off, got);
                off += got;
            }
        }
        size_t got = 1;
        assert_int_equal(cf_xform_dec_read(d, n, buf, 10, &got, NULL), 0);
        assert_int_equal(got, 0);
        cf_xform_dec_free(d);
        cf_buf_fini(&s);
    }
    free(buf);
    free(p);
}

/* A damaged object decodes to an error; with z alone, a change zstd does
 * not see may also decode to the right bytes, never to wrong ones. */
static void expect_caught(unsigned flags, int rc, uint8_t *back, const uint8_t *p, size_t n)
{
    if (rc != 0 || (flags & CF_XFORM_E)) {
        assert_int_equal(rc, CF_ECHECKSUM);
        return;
    }
    for (size_t i = 0; i < n; i++)
        assert_true(back[i] == p[i]);
    free(back);
}

/* Any changed byte of a small encrypted object fails; so do truncation,
 * a wrong key and a wrong transform. */
static void test_tamper(void **state)
{
    size_t n = 700, pn;
    uint8_t *p = make_plain(n, true, 1), *back;
    (void)state;
    for (size_t fi = 0; fi < 3; fi++) {
        unsigned flags = all_flags[fi];
        struct cf_buf s;
        encode(flags, key1, p, n, 1, &s);
        for (size_t i = 0; i < s.len; i++) {
            uint8_t *t = malloc(s.len);
            memcpy(t, s.base, s.len);
            t[i] ^= 0x20;
            int rc;
            back = NULL;
            rc = decode_all(flags, key1, t, s.len, 100, &back, &pn);
            expect_caught(flags, rc, back, p, n);
            free(t);
        }
        for (size_t cut = 0; cut < s.len; cut += 7)
            assert_int_equal(decode_all(flags, key1, (uint8_t *)s.base, cut, 100, &back, &pn),
                             CF_ECHECKSUM);
        if (flags & CF_XFORM_E)
            assert_int_equal(decode_all(flags, key2, (uint8_t *)s.base, s.len, 100, &back, &pn),
                             CF_ECHECKSUM);
        for (size_t fj = 0; fj < 3; fj++)
            if (fj != fi)
                assert_int_equal(
                    decode_all(all_flags[fj], key1, (uint8_t *)s.base, s.len, 100, &back, &pn),
                    CF_ECHECKSUM);
        cf_buf_fini(&s);
    }
    /* Plain bytes are not in the format. */
    assert_int_equal(decode_all(CF_XFORM_Z, NULL, p, n, 100, &back, &pn), CF_ECHECKSUM);
    free(p);
}

/* A larger object: a flipped byte in each frame is caught, by the frame
 * (e, or a compressed z frame) or at the latest before the last frame's
 * bytes of a full read (a raw z frame). */
static void test_tamper_frames(void **state)
{
    size_t n = 3 * F + 10, pn;
    uint8_t *p = make_plain(n, false, 4), *back;
    (void)state;
    for (size_t fi = 0; fi < 3; fi++) {
        struct cf_buf s;
        encode(all_flags[fi], key1, p, n, 2, &s);
        for (size_t i = 5; i < s.len; i += F / 3) {
            uint8_t *t = malloc(s.len);
            memcpy(t, s.base, s.len);
            t[i] ^= 1;
            int rc;
            back = NULL;
            rc = decode_all(all_flags[fi], key1, t, s.len, F, &back, &pn);
            expect_caught(all_flags[fi], rc, back, p, n);
            free(t);
        }
        cf_buf_fini(&s);
    }
    free(p);
}

/* Little-endian u64 at p. */
static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Random damage, many times: bytes anywhere set to random values, and for
 * z also inside the trailer with its hash made right again (xform.h has
 * the layout), so that the decoder's checks of the index itself are
 * reached. Decoding never crashes (the ASan build runs this) and never
 * hands out wrong bytes. */
static void test_random_damage(void **state)
{
    size_t n = 2 * F + 1000, pn;
    uint8_t *p = make_plain(n, true, 9), *back;
    (void)state;
    rng_seed(77);
    for (size_t fi = 0; fi < 3; fi++) {
        unsigned flags = all_flags[fi];
        struct cf_buf s;
        encode(flags, key1, p, n, 3, &s);
        for (int k = 0; k < 400; k++) {
            uint8_t *t = malloc(s.len);
            uint64_t tlen = le64((uint8_t *)s.base + s.len - 8);
            size_t tstart = s.len - 16 - (size_t)tlen, m = rng() % 4 + 1;
            bool in_trailer = !(flags & CF_XFORM_E) && k % 2 == 0;
            int rc;
            memcpy(t, s.base, s.len);
            for (size_t j = 0; j < m; j++) {
                size_t at = in_trailer ? tstart + rng() % (size_t)(tlen - 16) : rng() % s.len;
                t[at] = (uint8_t)rng();
            }
            if (in_trailer) {
                struct cf_sha512 h;
                uint8_t d[CF_SHA512_LEN];
                assert_int_equal(cf_sha512_init(&h), 0);
                assert_int_equal(cf_sha512_update(&h, t + s.len - 16, 16), 0);
                assert_int_equal(cf_sha512_update(&h, t + tstart, (size_t)tlen - 16), 0);
                assert_int_equal(cf_sha512_final(&h, d), 0);
                cf_sha512_fini(&h);
                memcpy(t + s.len - 32, d, 16);
            }
            back = NULL;
            rc = decode_all(flags, key1, t, s.len, 7000, &back, &pn);
            if (rc == 0) {
                /* Only a change that makes no difference may decode. */
                assert_int_equal(pn, n);
                assert_true(memcmp(back, p, n) == 0);
                free(back);
            } else {
                assert_int_equal(rc, CF_ECHECKSUM);
            }
            free(t);
        }
        cf_buf_fini(&s);
    }
    free(p);
}

static void test_parse(void **state)
{
    uint8_t key[CF_XFORM_KEY_LEN];
    unsigned fl;
    const char *hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    (void)state;
    assert_int_equal(cf_xform_parse("z", NULL, &fl, key, NULL), 0);
    assert_int_equal(fl, CF_XFORM_Z);
    assert_int_equal(cf_xform_parse("e", hex, &fl, key, NULL), 0);
    assert_int_equal(fl, CF_XFORM_E);
    assert_int_equal(key[31], 0x1f);
    assert_int_equal(cf_xform_parse("ze", hex, &fl, key, NULL), 0);
    assert_int_equal(fl, CF_XFORM_Z | CF_XFORM_E);
    assert_int_equal(cf_xform_parse("e", NULL, &fl, key, NULL), CF_EBADREQ);
    assert_int_equal(cf_xform_parse("e", "0011", &fl, key, NULL), CF_EBADREQ);
    assert_int_equal(cf_xform_parse("ez", hex, &fl, key, NULL), CF_EBADREQ);
    assert_int_equal(cf_xform_parse("x", NULL, &fl, key, NULL), CF_EBADREQ);
    assert_int_equal(cf_xform_parse("", NULL, &fl, key, NULL), CF_EBADREQ);
    assert_int_equal(cf_xform_parse("z", hex, &fl, key, NULL), CF_EBADREQ);
    char bad[65];
    memcpy(bad, hex, 65);
    bad[10] = 'g';
    assert_int_equal(cf_xform_parse("e", bad, &fl, key, NULL), CF_EBADREQ);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),         cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_ranges),        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_tamper_frames), cmocka_unit_test(test_random_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
