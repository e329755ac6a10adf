/*
 * test_auth.c -- unit tests for auth.h: password hashes, the server key,
 * bearer tokens, the Authorization header and the failed-login limiter.
 *
 * Known answers come from outside coffer: the PBKDF2-HMAC-SHA512 vectors and
 * the token below were computed with Python's hashlib/hmac/base64, e.g.
 *   python3 -c 'import hashlib; print(hashlib.pbkdf2_hmac("sha512",
 *               b"password", b"saltSALTsaltSALT", 4096).hex())'
 * (the salt must be 16 bytes, so RFC 6070's 4-byte "salt" cannot be used
 * as is). Stored strings and tokens are then damaged at every byte, and the
 * limiter runs on an injected clock, so nothing here sleeps or times itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/auth.h"
#include "coffer/err.h"

/* Low counts keep the suite fast; the default is exercised once. */
#define FAST_ITER 1000u

/* A heap copy of exactly len bytes, so ASan sees any read past the end. */
static char *dup_exact(const char *p, size_t len)
{
    char *copy = malloc(len > 0 ? len : 1);

    assert_non_null(copy);
    if (len > 0)
        memcpy(copy, p, len);
    return copy;
}

static int verify_exact(const char *stored, size_t stored_len, const char *pw)
{
    char *copy = dup_exact(stored, stored_len);
    int rc = cf_auth_password_verify(copy, stored_len, pw, strlen(pw));

    free(copy);
    return rc;
}

/* --- password hashes ------------------------------------------------------ */

static void test_password_round_trip(void **state)
{
    char a[CF_AUTH_PWHASH_SIZE], b[CF_AUTH_PWHASH_SIZE];
    struct cf_auth_pwhash h;
    const char *pw = "correct horse battery staple";

    (void)state;
    assert_int_equal(cf_auth_password_hash(pw, strlen(pw), FAST_ITER, a), 0);
    assert_true(strncmp(a, "pbkdf2-sha512$1000$", 19) == 0);
    assert_int_equal(strlen(a), 19 + 32 + 1 + 128);
    assert_int_equal(cf_auth_pwhash_parse(a, strlen(a), &h), 0);
    assert_int_equal(h.iterations, FAST_ITER);
    assert_int_equal(verify_exact(a, strlen(a), pw), 0);

    /* A fresh salt every time: the same password never hashes the same. */
    assert_int_equal(cf_auth_password_hash(pw, strlen(pw), FAST_ITER, b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(verify_exact(b, strlen(b), pw), 0);

    /* The empty password, and high bytes. */
    assert_int_equal(cf_auth_password_hash(NULL, 0, FAST_ITER, a), 0);
    assert_int_equal(cf_auth_password_verify(a, strlen(a), NULL, 0), 0);
    assert_int_equal(cf_auth_password_hash("a\x01"
                                           "b\xff",
                                           4, FAST_ITER, a),
                     0);
    assert_int_equal(cf_auth_password_verify(a, strlen(a),
                                             "a\x01"
                                             "b\xff",
                                             4),
                     0);
    assert_int_equal(cf_auth_password_verify(a, strlen(a),
                                             "a\x01"
                                             "b\xfe",
                                             4),
                     CF_EAUTH);
    assert_int_equal(cf_auth_password_verify(a, strlen(a), "a", 1), CF_EAUTH);

    /* HMAC zero-pads its key, so PBKDF2 itself cannot tell "pw" from "pw\0":
     * NUL bytes are refused on both sides instead. */
    assert_int_equal(cf_auth_password_hash("pw", 2, FAST_ITER, a), 0);
    assert_int_equal(cf_auth_password_verify(a, strlen(a), "pw\0", 3), CF_EAUTH);
    assert_int_equal(cf_auth_password_verify(a, strlen(a), "pw", 2), 0);
    b[0] = 'z';
    assert_int_equal(cf_auth_password_hash("pw\0", 3, FAST_ITER, b), CF_EINVAL);
    assert_string_equal(b, "");
    assert_int_equal(cf_auth_password_hash("\0", 1, FAST_ITER, b), CF_EINVAL);
}

static void test_password_default_cost(void **state)
{
    char s[CF_AUTH_PWHASH_SIZE];

    (void)state;
    assert_int_equal(cf_auth_password_hash("pw", 2, CF_AUTH_PBKDF2_ITER_DEFAULT, s), 0);
    assert_true(strncmp(s, "pbkdf2-sha512$210000$", 21) == 0);
    assert_int_equal(cf_auth_password_verify(s, strlen(s), "pw", 2), 0);
    assert_false(cf_auth_password_needs_rehash(s, strlen(s), CF_AUTH_PBKDF2_ITER_DEFAULT));
    assert_true(cf_auth_password_needs_rehash(s, strlen(s), CF_AUTH_PBKDF2_ITER_DEFAULT + 1));
}

static void test_password_bounds(void **state)
{
    char s[CF_AUTH_PWHASH_SIZE];
    char *big = malloc(CF_AUTH_PASSWORD_MAX + 1);

    (void)state;
    assert_non_null(big);
    memset(big, 'x', CF_AUTH_PASSWORD_MAX + 1);
    assert_int_equal(cf_auth_password_hash(big, CF_AUTH_PASSWORD_MAX, 1, s), 0);
    assert_int_equal(cf_auth_password_verify(s, strlen(s), big, CF_AUTH_PASSWORD_MAX), 0);
    /* One byte over: refused before hashing, and never matches. */
    assert_int_equal(cf_auth_password_verify(s, strlen(s), big, CF_AUTH_PASSWORD_MAX + 1),
                     CF_EAUTH);
    s[0] = 'z';
    assert_int_equal(cf_auth_password_hash(big, CF_AUTH_PASSWORD_MAX + 1, 1, s), CF_ETOOLARGE);
    assert_string_equal(s, "");
    free(big);

    s[0] = 'z';
    assert_int_equal(cf_auth_password_hash("pw", 2, 0, s), CF_EINVAL);
    assert_string_equal(s, "");
    assert_int_equal(cf_auth_password_hash("pw", 2, CF_AUTH_PBKDF2_ITER_MAX + 1, s), CF_EINVAL);
    assert_int_equal(cf_auth_password_hash("pw", 2, UINT32_MAX, s), CF_EINVAL);
}

static void test_password_wrong(void **state)
{
    static const char *const wrong[] = {
        "", "hunter", "hunter22", "Hunter2", "hunter3", "hunter2 ", " hunter2", "hunter2\n",
    };
    char s[CF_AUTH_PWHASH_SIZE];

    (void)state;
    assert_int_equal(cf_auth_password_hash("hunter2", 7, FAST_ITER, s), 0);
    for (size_t i = 0; i < CF_ARRAY_LEN(wrong); i++)
        assert_int_equal(verify_exact(s, strlen(s), wrong[i]), CF_EAUTH);
    assert_int_equal(verify_exact(s, strlen(s), "hunter2"), 0);
}

/* Independent reference: Python hashlib.pbkdf2_hmac("sha512", pw, salt, n). */
struct kat {
    const char *pw;
    size_t pw_len;
    const char *stored;
};

static const struct kat kats[] = {
    {"password", 8,
     "pbkdf2-sha512$1$73616c7453414c5473616c7453414c54$"
     "0a7090cb35c1127180ce0a794e2a353a00738d38ef74cc8d61ee684c1a1ddf6f"
     "29c6c213281621cb33ce365fe842780302a332de99cff3ca5bfc870fa0956e96"},
    {"password", 8,
     "pbkdf2-sha512$4096$73616c7453414c5473616c7453414c54$"
     "b2974d4ff4e8b58915c0b29d8e72dbdba41edd5a8dcbf1e4a85799c615387162"
     "bd50ddcc112cb0aef877f999eccb2a276eefe932b295284ae24ffe9816630f15"},
    {"passwordPASSWORDpassword", 24,
     "pbkdf2-sha512$1000$30313233343536373839616263646566$"
     "e143eb79823a61273889c3934dcc75f0b3934685e11ba9342698d825afca0cc5"
     "93f9d355cced839e2ab02d64ca3f02bf75e8a5643e28424fbe7a7a345c50aee6"},
    {"", 0,
     "pbkdf2-sha512$2$00000000000000000000000000000000$"
     "43ce7f47e1e9702543d0c4d3f5de4fbd663268d376cb9e13ecd42a2339fd2527"
     "2edf49a6df5c86b18dcd1a27caab9965caf9a152dd942c3f85699549fab61d7b"},
    {"p\xc3\xa4ssw\xc3\xb6rd \xe2\x82\xac", 14,
     "pbkdf2-sha512$3$000102030405060708090a0b0c0d0e0f$"
     "7cdfb42f87557ceaea938e246839f3ecaec654f4bacae47ccd472963e31d3804"
     "cbad5ad02759e3f48ad786f283be67b86be36fa7edd14182385e0c759ac8aebf"},
};

static void test_password_known_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(kats); i++) {
        const struct kat *k = &kats[i];
        size_t n = strlen(k->stored);
        char *s = dup_exact(k->stored, n);
        char again[CF_AUTH_PWHASH_SIZE];
        struct cf_auth_pwhash h;

        assert_int_equal(cf_auth_password_verify(s, n, k->pw, k->pw_len), 0);
        /* The parser and the formatter agree with the reference bytes. */
        assert_int_equal(cf_auth_pwhash_parse(s, n, &h), 0);
        assert_int_equal(cf_auth_pwhash_format(&h, again), n);
        assert_memory_equal(again, k->stored, n + 1);
        /* A hash that differs only in its first or only in its last byte is
         * refused: the compare covers every byte (CRYPTO_memcmp, auth.c). */
        for (int end = 0; end < 2; end++) {
            size_t at = end ? n - 1 : n - 2 * CF_AUTH_HASH_LEN;
            char keep = s[at];
            s[at] = keep == '0' ? '1' : '0';
            assert_int_equal(cf_auth_pwhash_parse(s, n, &h), 0);
            assert_int_equal(cf_auth_password_verify(s, n, k->pw, k->pw_len), CF_EAUTH);
            s[at] = keep;
        }
        free(s);
    }
}

struct bytes {
    const char *p;
    size_t len;
};

#define B(s)                                                                                       \
    {                                                                                              \
        (s), sizeof(s) - 1                                                                         \
    }

#define SALT32 "000102030405060708090a0b0c0d0e0f"
#define HASH64 "7cdfb42f87557ceaea938e246839f3ecaec654f4bacae47ccd472963e31d3804"
#define HASH_B "cbad5ad02759e3f48ad786f283be67b86be36fa7edd14182385e0c759ac8aebf"

static void test_pwhash_malformed(void **state)
{
    static const struct bytes bad[] = {
        B(""),
        B("pbkdf2-sha512$"),
        B("pbkdf2-sha512$3$" SALT32 "$" HASH64),
        B("pbkdf2-sha256$3$" SALT32 "$" HASH64 HASH_B),
        B("PBKDF2-SHA512$3$" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$$" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$0$" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$03$" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$-3$" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$+3$" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$ 3$" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$3 $" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$0x3$" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$10000001$" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$99999999$" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$999999999$" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$4294967299$" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$18446744073709551619$" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$3" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$3$" SALT32 HASH64 HASH_B),
        B("pbkdf2-sha512$3$" SALT32 "$$" HASH64 HASH_B),
        B("pbkdf2-sha512$3$$" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$3$" SALT32 "0$" HASH64 HASH_B),
        B("pbkdf2-sha512$3$"
          "000102030405060708090a0b0c0d0e0$" HASH64 HASH_B),
        B("pbkdf2-sha512$3$"
          "000102030405060708090A0B0C0D0E0F$" HASH64 HASH_B),
        B("pbkdf2-sha512$3$"
          "000102030405060708090a0b0c0d0e0g$" HASH64 HASH_B),
        B("pbkdf2-sha512$3$" SALT32 "$" HASH64 HASH_B "0"),
        B("pbkdf2-sha512$3$" SALT32 "$" HASH64 "cbad5ad02759e3f48ad786f283be67b86be36fa7edd1418"
          "2385e0c759ac8aeb"),
        B("pbkdf2-sha512$3$" SALT32 "$" HASH64 "CBAD5AD02759E3F48AD786F283BE67B86BE36FA7EDD1418"
          "2385E0C759AC8AEBF"),
        B("pbkdf2-sha512$3$" SALT32 "$" HASH64 HASH_B "\n"),
        B("pbkdf2-sha512$3$" SALT32 "$" HASH64 HASH_B "\0"),
        B("pbkdf2-sha512$3$" SALT32 "$" HASH64 HASH_B "$"),
        B(" pbkdf2-sha512$3$" SALT32 "$" HASH64 HASH_B),
        B("pbkdf2-sha512$3$" SALT32 "$" HASH64 HASH_B "$" SALT32),
        B("pbkdf2-sha512$3$" SALT32 "\0" HASH64 HASH_B),
        B("pbkdf2-sha512\0003$" SALT32 "$" HASH64 HASH_B),
    };
    struct cf_auth_pwhash h = {7, {0}, {0}};

    (void)state;
    /* The last known answer, undamaged, as a control. */
    assert_int_equal(verify_exact("pbkdf2-sha512$3$" SALT32 "$" HASH64 HASH_B,
                                  strlen("pbkdf2-sha512$3$" SALT32 "$" HASH64 HASH_B),
                                  "p\xc3\xa4ssw\xc3\xb6rd \xe2\x82\xac"),
                     0);
    for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++) {
        char *s = dup_exact(bad[i].p, bad[i].len);
        if (cf_auth_pwhash_parse(s, bad[i].len, &h) != CF_ECORRUPT)
            fail_msg("case %zu accepted", i);
        assert_int_equal(h.iterations, 7); /* untouched */
        assert_int_equal(cf_auth_password_verify(s, bad[i].len, "x", 1), CF_ECORRUPT);
        assert_false(cf_auth_password_needs_rehash(s, bad[i].len, UINT32_MAX));
        free(s);
    }
}

static void test_pwhash_bounds(void **state)
{
    static const uint32_t ok[] = {1, 9, 10, 1000, 210000, 9999999, 10000000};
    struct cf_auth_pwhash h, g;
    char s[CF_AUTH_PWHASH_SIZE];

    (void)state;
    for (size_t i = 0; i < sizeof(h.salt); i++)
        h.salt[i] = (uint8_t)(i * 17);
    for (size_t i = 0; i < sizeof(h.hash); i++)
        h.hash[i] = (uint8_t)(255 - i);
    for (size_t i = 0; i < CF_ARRAY_LEN(ok); i++) {
        size_t n;
        h.iterations = ok[i];
        n = cf_auth_pwhash_format(&h, s);
        assert_int_equal(n, strlen(s));
        assert_true(n <= CF_AUTH_PWHASH_MAX);
        assert_int_equal(cf_auth_pwhash_parse(s, n, &g), 0);
        assert_int_equal(g.iterations, ok[i]);
        assert_memory_equal(g.salt, h.salt, sizeof(h.salt));
        assert_memory_equal(g.hash, h.hash, sizeof(h.hash));
    }
    h.iterations = CF_AUTH_PBKDF2_ITER_MAX;
    assert_int_equal(cf_auth_pwhash_format(&h, s), CF_AUTH_PWHASH_MAX);
}

/* Every byte of a valid stored string replaced by other bytes: never a match. */
static void test_pwhash_every_byte(void **state)
{
    static const char repl[] = {'0', '1', '9', 'a', 'f', 'g', 'A', '$', ' ', '\0', '\xff'};
    char s[CF_AUTH_PWHASH_SIZE];
    size_t n;

    (void)state;
    assert_int_equal(cf_auth_password_hash("pw", 2, 1, s), 0);
    n = strlen(s);
    for (size_t at = 0; at < n; at++) {
        char keep = s[at];
        for (size_t r = 0; r < sizeof(repl); r++) {
            int rc;
            if (repl[r] == keep)
                continue;
            s[at] = repl[r];
            rc = verify_exact(s, n, "pw");
            if (rc != CF_EAUTH && rc != CF_ECORRUPT)
                fail_msg("byte %zu -> 0x%02x gave %d", at, (unsigned char)repl[r], rc);
            s[at] = keep;
        }
    }
    assert_int_equal(verify_exact(s, n, "pw"), 0);

    /* Well-formed edits of each field are wrong passwords, not corruption. */
    s[14] = '2'; /* iterations 1 -> 2 */
    assert_int_equal(verify_exact(s, n, "pw"), CF_EAUTH);
    s[14] = '1';
    s[16] = s[16] == 'a' ? 'b' : 'a'; /* salt */
    assert_int_equal(verify_exact(s, n, "pw"), CF_EAUTH);
}

/* --- server key ------------------------------------------------------------- */

static char tmpdir[64];

static int setup_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/coffer-test-auth-XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static void write_file(const char *path, const char *content, size_t len, mode_t mode)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_password_generate(void **state)
{
    char a[CF_AUTH_GENPW_BITS_MAX / 4 + 1], b[sizeof(a)], hash[CF_AUTH_PWHASH_SIZE];
    static const unsigned bad[] = {
        0,   8, CF_AUTH_GENPW_BITS_MIN - 8, CF_AUTH_GENPW_BITS_MIN + 4, CF_AUTH_GENPW_BITS_MAX + 8,
        4096};

    (void)state;
    for (unsigned bits = CF_AUTH_GENPW_BITS_MIN; bits <= CF_AUTH_GENPW_BITS_MAX; bits += 8) {
        assert_int_equal(cf_auth_password_generate(bits, a), 0);
        assert_int_equal(strlen(a), bits / 4);
        assert_int_equal(strspn(a, "0123456789abcdef"), bits / 4);
        assert_int_equal(cf_auth_password_generate(bits, b), 0);
        assert_string_not_equal(a, b);
    }
    /* What it makes is a password the hash accepts. */
    assert_int_equal(cf_auth_password_generate(128, a), 0);
    assert_int_equal(cf_auth_password_hash(a, strlen(a), FAST_ITER, hash), 0);
    assert_int_equal(cf_auth_password_verify(hash, strlen(hash), a, strlen(a)), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(a, 'x', sizeof(a));
        assert_int_equal(cf_auth_password_generate(bad[i], a), CF_EINVAL);
        assert_string_equal(a, "");
    }
}

static void test_key_generate_save_load(void **state)
{
    struct cf_auth_key a, b, c;
    static const uint8_t zero[CF_AUTH_KEY_MAX];
    char path[128], err[CF_ERR_LEN];
    struct stat st;

    (void)state;
    assert_int_equal(setup_tmpdir(state), 0);
    assert_int_equal(cf_auth_key_generate(&a), 0);
    assert_int_equal(a.len, CF_AUTH_KEY_DEFAULT);
    assert_int_equal(cf_auth_key_generate(&b), 0);
    assert_memory_not_equal(a.bytes, b.bytes, a.len);

    snprintf(path, sizeof(path), "%s/token.key", tmpdir);
    assert_int_equal(cf_auth_key_save(&a, path, err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 2 * CF_AUTH_KEY_DEFAULT + 1);
    assert_int_equal(cf_auth_key_load(&c, path, err), 0);
    assert_int_equal(c.len, a.len);
    assert_memory_equal(c.bytes, a.bytes, a.len);

    /* An existing key is never replaced. */
    assert_int_equal(cf_auth_key_save(&b, path, err), CF_EEXIST);
    assert_int_equal(cf_auth_key_load(&c, path, NULL), 0);
    assert_memory_equal(c.bytes, a.bytes, a.len);

    cf_auth_key_fini(&c);
    assert_int_equal(c.len, 0);
    assert_memory_equal(c.bytes, zero, sizeof(zero));
    cf_auth_key_fini(&c);
    assert_int_equal(unlink(path), 0);

    b.len = CF_AUTH_KEY_MIN - 1;
    assert_int_equal(cf_auth_key_save(&b, path, NULL), CF_EINVAL);
    assert_int_equal(stat(path, &st), -1);
    cf_auth_key_fini(&a);
    cf_auth_key_fini(&b);
    assert_int_equal(rmdir(tmpdir), 0); /* and no temp file was left */
}

static void test_key_load_errors(void **state)
{
    static const struct bytes bad[] = {
        B(""),
        B("\n"),
        B("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e"), /* 31 bytes */
        B("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0"),
        B("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g"),
        B("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\n"),
        B(" 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
        B("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f "),
        B("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\0"),
        B("000102030405060708090a0b0c0d0e0f 01112131415161718191a1b1c1d1e1f"),
        B("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\r"),
        B("0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
        B("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\r"),
    };
    struct cf_auth_key k;
    char path[128], err[CF_ERR_LEN];
    char big[2 * CF_AUTH_KEY_MAX + 2];

    (void)state;
    assert_int_equal(setup_tmpdir(state), 0);
    snprintf(path, sizeof(path), "%s/k", tmpdir);
    assert_int_equal(cf_auth_key_load(&k, path, err), CF_ENOTFOUND);
    assert_int_equal(k.len, 0);

    for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++) {
        write_file(path, bad[i].p, bad[i].len, 0600);
        err[0] = '\0';
        if (cf_auth_key_load(&k, path, err) != CF_EINVAL)
            fail_msg("key case %zu accepted", i);
        assert_int_equal(k.len, 0);
        assert_non_null(strstr(err, path));
    }

    /* Boundaries: 32 bytes (either case, CRLF) and 128 bytes load; 129 do not. */
    write_file(path, "000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f\r\n", 66,
               0600);
    assert_int_equal(cf_auth_key_load(&k, path, NULL), 0);
    assert_int_equal(k.len, 32);
    assert_int_equal(k.bytes[10], 0x0a);
    memset(big, 'a', sizeof(big));
    write_file(path, big, 2 * CF_AUTH_KEY_MAX, 0600);
    assert_int_equal(cf_auth_key_load(&k, path, NULL), 0);
    assert_int_equal(k.len, CF_AUTH_KEY_MAX);
    write_file(path, big, 2 * CF_AUTH_KEY_MAX + 2, 0600);
    assert_int_equal(cf_auth_key_load(&k, path, NULL), CF_EINVAL);

    /* A key others can read is refused. */
    write_file(path, big, 2 * CF_AUTH_KEY_MAX, 0640);
    assert_int_equal(cf_auth_key_load(&k, path, err), CF_EPERM);
    write_file(path, big, 2 * CF_AUTH_KEY_MAX, 0604);
    assert_int_equal(cf_auth_key_load(&k, path, err), CF_EPERM);
    /* A key of another user is refused (only root can make one here). */
    if (geteuid() == 0) {
        write_file(path, big, 2 * CF_AUTH_KEY_MAX, 0600);
        assert_int_equal(chown(path, 65534, 65534), 0);
        assert_int_equal(cf_auth_key_load(&k, path, err), CF_EPERM);
        assert_non_null(strstr(err, "belongs to uid 65534"));
    }
    assert_int_equal(unlink(path), 0);
    assert_int_equal(cf_auth_key_load(&k, tmpdir, err), CF_EINVAL); /* not a regular file */
    assert_int_equal(rmdir(tmpdir), 0);
}

/* --- bearer tokens ------------------------------------------------------------ */

static void test_key(struct cf_auth_key *k)
{
    for (int i = 0; i < 64; i++)
        k->bytes[i] = (uint8_t)i;
    k->len = 64;
}

#define T0 UINT64_C(1700000000)

static void test_token_round_trip(void **state)
{
    struct cf_auth_key k;
    struct cf_auth_token_info info;
    char t[CF_AUTH_TOKEN_SIZE], u[CF_AUTH_TOKEN_SIZE];

    (void)state;
    test_key(&k);
    assert_int_equal(cf_auth_token_issue(&k, 42, 7, T0, 3600, t), 0);
    assert_int_equal(strlen(t), CF_AUTH_TOKEN_LEN);
    for (size_t i = 0; i < CF_AUTH_TOKEN_LEN; i++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", t[i]));
    assert_int_equal(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, T0, &info), 0);
    assert_int_equal(info.client_id, 42);
    assert_int_equal(info.user_id, 7);
    assert_int_equal(info.issued_at, T0);
    assert_int_equal(info.expires_at, T0 + 3600);
    assert_int_equal(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, T0 + 3599, NULL), 0);

    /* The nonce makes every token unique. */
    assert_int_equal(cf_auth_token_issue(&k, 42, 7, T0, 3600, u), 0);
    assert_string_not_equal(t, u);

    /* Extreme ids and the longest lifetime. */
    assert_int_equal(cf_auth_token_issue(&k, UINT64_MAX, 0, 0, CF_AUTH_TOKEN_TTL_MAX, t), 0);
    assert_int_equal(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, 5, &info), 0);
    assert_true(info.client_id == UINT64_MAX && info.user_id == 0);
    assert_int_equal(info.expires_at, CF_AUTH_TOKEN_TTL_MAX);

    /* Refused parameters leave an empty string. */
    assert_int_equal(cf_auth_token_issue(&k, 1, 1, T0, 0, t), CF_EINVAL);
    assert_string_equal(t, "");
    assert_int_equal(cf_auth_token_issue(&k, 1, 1, T0, CF_AUTH_TOKEN_TTL_MAX + 1, t), CF_EINVAL);
    assert_int_equal(cf_auth_token_issue(&k, 1, 1, UINT64_MAX - 10, 11, t), CF_EINVAL);
    assert_int_equal(cf_auth_token_issue(&k, 1, 1, UINT64_MAX - 11, 11, t), 0);
    k.len = CF_AUTH_KEY_MIN - 1;
    assert_int_equal(cf_auth_token_issue(&k, 1, 1, T0, 60, u), CF_EINVAL);
    assert_int_equal(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, T0, NULL), CF_EAUTH);
    k.len = CF_AUTH_KEY_MAX + 1;
    assert_int_equal(cf_auth_token_issue(&k, 1, 1, T0, 60, u), CF_EINVAL);
}

static void test_token_expiry(void **state)
{
    struct cf_auth_key k;
    struct cf_auth_token_info info = {1, 2, 3, 4};
    char t[CF_AUTH_TOKEN_SIZE];

    (void)state;
    test_key(&k);
    assert_int_equal(cf_auth_token_issue(&k, 42, 7, T0, 60, t), 0);
    assert_int_equal(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, T0 + 59, NULL), 0);
    assert_int_equal(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, T0 + 60, &info), CF_EAUTH);
    assert_int_equal(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, UINT64_MAX, &info), CF_EAUTH);
    assert_int_equal(info.client_id, 1); /* untouched on failure */
    /* A verifier whose clock lags the issuer's by up to the skew accepts it. */
    assert_int_equal(
        cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, T0 - CF_AUTH_TOKEN_SKEW_S, NULL), 0);
    assert_int_equal(
        cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, T0 - CF_AUTH_TOKEN_SKEW_S - 1, NULL),
        CF_EAUTH);
    assert_int_equal(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, 0, NULL), CF_EAUTH);

    /* Found by fuzz_auth: at a clock near UINT64_MAX, now + skew wrapped and
     * a fresh token was refused. */
    assert_int_equal(cf_auth_token_issue(&k, 1, 2, UINT64_MAX - 100, 43, t), 0);
    assert_int_equal(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, UINT64_MAX - 100, NULL), 0);
    assert_int_equal(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, UINT64_MAX - 58, NULL), 0);
    assert_int_equal(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, UINT64_MAX - 57, NULL),
                     CF_EAUTH);
}

/* Made with Python (hmac, hashlib.sha512, base64.urlsafe_b64encode without
 * "="), key = bytes(range(64)), payload = 01 | be64 42 | be64 7 |
 * be64 1700000000 | be64 1700003600 | bytes(range(0xa0, 0xb0)). */
static const char kat_token[] =
    "AQAAAAAAAAAqAAAAAAAAAAcAAAAAZVPxAAAAAABlU_8QoKGio6SlpqeoqaqrrK2urw."
    "IFZmEbfzW39oqRIfpw-tauRvrEULOB57Yq_OIZ8tv_qp1XV07HdNeAuClI5RTlIoIE"
    "igVETxYCi2-ISbBsux_A";

static void test_token_known_answer(void **state)
{
    struct cf_auth_key k;
    struct cf_auth_token_info info;
    char *t = dup_exact(kat_token, CF_AUTH_TOKEN_LEN);

    (void)state;
    test_key(&k);
    assert_int_equal(sizeof(kat_token) - 1, CF_AUTH_TOKEN_LEN);
    assert_int_equal(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, T0 + 1, &info), 0);
    assert_int_equal(info.client_id, 42);
    assert_int_equal(info.user_id, 7);
    assert_int_equal(info.issued_at, T0);
    assert_int_equal(info.expires_at, T0 + 3600);
    free(t);
}

static void test_token_forged(void **state)
{
    static const char repl[] = {'A', 'B', 'Q', 'g', 'w', '0', '-', '_', '.', '=', '+', '/', '\0'};
    struct cf_auth_key k, other;
    char t[CF_AUTH_TOKEN_SIZE], u[CF_AUTH_TOKEN_SIZE], mix[CF_AUTH_TOKEN_SIZE];

    (void)state;
    test_key(&k);
    assert_int_equal(cf_auth_token_issue(&k, 42, 7, T0, 3600, t), 0);
    /* Any byte changed to anything else: refused. */
    for (size_t at = 0; at < CF_AUTH_TOKEN_LEN; at++) {
        char keep = t[at];
        for (size_t r = 0; r < sizeof(repl); r++) {
            if (repl[r] == keep)
                continue;
            t[at] = repl[r];
            if (cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, T0, NULL) != CF_EAUTH)
                fail_msg("byte %zu -> '%c' accepted", at, repl[r]);
            t[at] = keep;
        }
        t[at] = (char)(keep ^ 1);
        assert_int_equal(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, T0, NULL), CF_EAUTH);
        t[at] = keep;
    }
    assert_int_equal(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, T0, NULL), 0);

    /* The body of one token with the MAC of another. */
    assert_int_equal(cf_auth_token_issue(&k, 42, 8, T0, 3600, u), 0);
    memcpy(mix, t, 67);
    memcpy(mix + 67, u + 67, CF_AUTH_TOKEN_SIZE - 67);
    assert_int_equal(cf_auth_token_verify(&k, mix, CF_AUTH_TOKEN_LEN, T0, NULL), CF_EAUTH);

    /* Another key, and a key that differs in one bit or in length only. */
    assert_int_equal(cf_auth_key_generate(&other), 0);
    assert_int_equal(cf_auth_token_verify(&other, t, CF_AUTH_TOKEN_LEN, T0, NULL), CF_EAUTH);
    test_key(&other);
    other.bytes[63] ^= 1;
    assert_int_equal(cf_auth_token_verify(&other, t, CF_AUTH_TOKEN_LEN, T0, NULL), CF_EAUTH);
    test_key(&other);
    other.len = 63;
    assert_int_equal(cf_auth_token_verify(&other, t, CF_AUTH_TOKEN_LEN, T0, NULL), CF_EAUTH);

    /* The MAC's last character with its unused low bits set decodes to the
     * same bytes in a lax decoder: refused as non-canonical. */
    memcpy(u, kat_token, CF_AUTH_TOKEN_SIZE);
    assert_int_equal(u[CF_AUTH_TOKEN_LEN - 1], 'A');
    u[CF_AUTH_TOKEN_LEN - 1] = 'B';
    test_key(&k);
    assert_int_equal(cf_auth_token_verify(&k, u, CF_AUTH_TOKEN_LEN, T0, NULL), CF_EAUTH);
    assert_int_equal(u[65], 'w'); /* the body's last character: 'w' = 110000 */
    memcpy(u, kat_token, CF_AUTH_TOKEN_SIZE);
    u[65] = 'x';
    assert_int_equal(cf_auth_token_verify(&k, u, CF_AUTH_TOKEN_LEN, T0, NULL), CF_EAUTH);
}

/* Threads checking tokens of several keys in turn: each answer is the
 * one its own key gives, however the keys before it were, and a key that
 * differs from the last one only in a byte or in its length is not taken
 * for it. Threads end with their keyed state (ASan checks it is freed). */
#define KEY_THREADS 4
#define KEY_ROUNDS  300

struct key_worker {
    struct cf_auth_key keys[3];
    char tokens[3][CF_AUTH_TOKEN_SIZE];
    int bad; /* answers that were wrong */
};

static void *key_worker_main(void *arg)
{
    struct key_worker *w = arg;

    for (int i = 0; i < KEY_ROUNDS; i++) {
        int ki = i % 3, ti = (i / 3 + i) % 3;
        struct cf_auth_token_info info;
        int want = ki == ti ? 0 : CF_EAUTH;
        if (cf_auth_token_verify(&w->keys[ki], w->tokens[ti], CF_AUTH_TOKEN_LEN, T0, &info) != want)
            w->bad++;
        else if (want == 0 && info.user_id != (uint64_t)ti)
            w->bad++;
    }
    return NULL;
}

static void test_token_keys_threads(void **state)
{
    struct key_worker w[KEY_THREADS];
    pthread_t th[KEY_THREADS];

    (void)state;
    for (int t = 0; t < KEY_THREADS; t++) {
        test_key(&w[t].keys[0]);
        test_key(&w[t].keys[1]);
        w[t].keys[1].bytes[31] ^= 0x80;
        test_key(&w[t].keys[2]);
        w[t].keys[2].len = 63;
        for (int k = 0; k < 3; k++)
            assert_int_equal(
                cf_auth_token_issue(&w[t].keys[k], 1, (uint64_t)k, T0, 60, w[t].tokens[k]), 0);
        w[t].bad = 0;
        assert_int_equal(pthread_create(&th[t], NULL, key_worker_main, &w[t]), 0);
    }
    for (int t = 0; t < KEY_THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(w[t].bad, 0);
    }
    /* This thread switches keys too, and the known answer still holds. */
    key_worker_main(&w[0]);
    assert_int_equal(w[0].bad, 0);
    test_token_known_answer(state);
}

static void test_token_lengths(void **state)
{
    struct cf_auth_key k;
    char t[CF_AUTH_TOKEN_SIZE];
    char *big = malloc(100000);

    (void)state;
    assert_non_null(big);
    test_key(&k);
    assert_int_equal(cf_auth_token_issue(&k, 42, 7, T0, 3600, t), 0);
    /* Every truncation, read from an exact-size heap copy. */
    for (size_t n = 0; n < CF_AUTH_TOKEN_LEN; n++) {
        char *c = dup_exact(t, n);
        assert_int_equal(cf_auth_token_verify(&k, c, n, T0, NULL), CF_EAUTH);
        free(c);
    }
    /* Over-long: the valid token followed by anything. */
    memset(big, 'A', 100000);
    memcpy(big, t, CF_AUTH_TOKEN_LEN);
    assert_int_equal(cf_auth_token_verify(&k, big, CF_AUTH_TOKEN_LEN, T0, NULL), 0);
    assert_int_equal(cf_auth_token_verify(&k, big, CF_AUTH_TOKEN_LEN + 1, T0, NULL), CF_EAUTH);
    assert_int_equal(cf_auth_token_verify(&k, big, 100000, T0, NULL), CF_EAUTH);
    assert_int_equal(cf_auth_token_verify(&k, big, SIZE_MAX, T0, NULL), CF_EAUTH);
    free(big);
}

/* --- the Authorization header ---------------------------------------------- */

struct hdr_case {
    struct bytes in;
    const char *token; /* NULL: refused */
};

/* Download links: round trip; bound to the user and to what they fetch;
 * expiry; a changed byte anywhere, a token, junk and over-long input are
 * refused; a lifetime over the maximum is refused at issue and verify. */
static void test_link(void **state)
{
    struct cf_auth_key k, other;
    struct cf_auth_token_info info = {0, 0, 0, 0};
    char l[CF_AUTH_LINK_SIZE], bad[CF_AUTH_LINK_SIZE + 8], t[CF_AUTH_TOKEN_SIZE];
    char longer[2 * CF_AUTH_LINK_SIZE];

    (void)state;
    test_key(&k);
    test_key(&other);
    other.bytes[0] ^= 1;
    assert_int_equal(cf_auth_link_issue(&k, 42, 7, T0, 60, "GET /docs/a.bin", l), 0);
    assert_int_equal(cf_auth_link_verify(&k, l, T0, "GET /docs/a.bin", &info), 0);
    assert_int_equal(info.client_id, 42);
    assert_int_equal(info.user_id, 7);
    assert_int_equal(info.expires_at, T0 + 60);
    assert_int_equal(cf_auth_link_verify(&k, l, T0 + 59, "GET /docs/a.bin", NULL), 0);
    assert_int_equal(cf_auth_link_verify(&k, l, T0 + 60, "GET /docs/a.bin", NULL), CF_EAUTH);
    assert_int_equal(cf_auth_link_verify(&k, l, T0, "GET /docs/b.bin", NULL), CF_EAUTH);
    assert_int_equal(cf_auth_link_verify(&other, l, T0, "GET /docs/a.bin", NULL), CF_EAUTH);
    /* Each byte changed: another user, client, time or MAC. */
    for (size_t i = 0; l[i] != '\0'; i++) {
        memcpy(bad, l, sizeof(l));
        bad[i] = bad[i] == '1' ? '2' : bad[i] == '.' ? '0' : '1';
        assert_int_equal(cf_auth_link_verify(&k, bad, T0, "GET /docs/a.bin", NULL), CF_EAUTH);
    }
    assert_int_equal(cf_auth_token_issue(&k, 42, 7, T0, 60, t), 0);
    assert_int_equal(cf_auth_link_verify(&k, t, T0, "GET /docs/a.bin", NULL), CF_EAUTH);
    assert_int_equal(cf_auth_link_verify(&k, "", T0, "x", NULL), CF_EAUTH);
    assert_int_equal(cf_auth_link_verify(&k, "1.2.3.", T0, "x", NULL), CF_EAUTH);
    memset(longer, '1', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(cf_auth_link_verify(&k, longer, T0, "x", NULL), CF_EAUTH);
    assert_int_equal(cf_auth_link_issue(&k, 42, 7, T0, CF_AUTH_LINK_TTL_MAX + 1, "x", l),
                     CF_EINVAL);
    assert_int_equal(cf_auth_link_issue(&k, 42, 7, T0, 0, "x", l), CF_EINVAL);
    assert_string_equal(l, "");
    /* Issued for the maximum, then seen from before its issue: refused. */
    assert_int_equal(cf_auth_link_issue(&k, 1, 1, T0, CF_AUTH_LINK_TTL_MAX, "x", l), 0);
    assert_int_equal(cf_auth_link_verify(&k, l, T0 - 1, "x", NULL), CF_EAUTH);
    cf_auth_key_fini(&k);
    cf_auth_key_fini(&other);
}

static void test_bearer_parse(void **state)
{
    static const struct hdr_case cases[] = {
        {B("Bearer abc"), "abc"},
        {B("bearer abc"), "abc"},
        {B("BEARER abc"), "abc"},
        {B("bEaReR abc"), "abc"},
        {B("Bearer    abc"), "abc"},
        {B("  Bearer abc  "), "abc"},
        {B("\tBearer abc\t"), "abc"},
        {B("Bearer a.b-c_d~e+f/g=="), "a.b-c_d~e+f/g=="},
        {B("Bearer abc="), "abc="},
        {B("Bearer "
           "AQAAAAAAAAAqAAAAAAAAAAcAAAAAZVPxAAAAAABlU_8QoKGio6SlpqeoqaqrrK2urw.IFZmEbfz"),
         "AQAAAAAAAAAqAAAAAAAAAAcAAAAAZVPxAAAAAABlU_8QoKGio6SlpqeoqaqrrK2urw.IFZmEbfz"},
        {B(""), NULL},
        {B(" "), NULL},
        {B("Bearer"), NULL},
        {B("Bearer "), NULL},
        {B("Bearer   "), NULL},
        {B("Bearerabc"), NULL},
        {B("Bearer\tabc"), NULL},
        {B("Bearer\nabc"), NULL},
        {B("Basic abc"), NULL},
        {B("Bear abc"), NULL},
        {B("Bearers abc"), NULL},
        {B("Bearer abc def"), NULL},
        {B("Bearer abc\n"), NULL},
        {B("Bearer abc\r\n"), NULL},
        {B("Bearer abc\0"), NULL},
        {B("Bearer a\0bc"), NULL},
        {B("Bearer =abc"), NULL},
        {B("Bearer ="), NULL},
        {B("Bearer abc=d"), NULL},
        {B("Bearer abc,"), NULL},
        {B("Bearer \"abc\""), NULL},
        {B("Bearer abc;x"), NULL},
        {B("Bearer ab\xc3\xa9"), NULL},
        {B("\xef\xbb\xbf"
           "Bearer abc"),
         NULL},
        {B("Bearer\xc2\xa0"
           "abc"),
         NULL},
        {B("Bearer realm=\"x\""), NULL},
    };
    struct cf_span tok;

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++) {
        const struct hdr_case *c = &cases[i];
        char *v = dup_exact(c->in.p, c->in.len);
        int rc;

        tok = cf_span_of(NULL, 99);
        rc = cf_auth_bearer_parse(v, c->in.len, &tok);
        if (c->token == NULL) {
            if (rc != CF_EAUTH)
                fail_msg("case %zu accepted", i);
            assert_null(tok.ptr);
        } else {
            if (rc != 0)
                fail_msg("case %zu refused", i);
            assert_int_equal(tok.len, strlen(c->token));
            assert_memory_equal(tok.ptr, c->token, tok.len);
            assert_true(tok.ptr >= v && tok.ptr + tok.len <= v + c->in.len);
        }
        free(v);
    }
    assert_int_equal(cf_auth_bearer_parse(NULL, 0, &tok), CF_EAUTH);
}

static void test_bearer_lengths(void **state)
{
    char *v = malloc(CF_AUTH_HEADER_MAX + 1);
    struct cf_span tok;

    (void)state;
    assert_non_null(v);
    memset(v, 'a', CF_AUTH_HEADER_MAX + 1);
    memcpy(v, "Bearer ", 7);
    assert_int_equal(cf_auth_bearer_parse(v, CF_AUTH_HEADER_MAX, &tok), 0);
    assert_int_equal(tok.len, CF_AUTH_HEADER_MAX - 7);
    assert_int_equal(cf_auth_bearer_parse(v, CF_AUTH_HEADER_MAX + 1, &tok), CF_EAUTH);
    free(v);
}

/* --- failed-login limiter -------------------------------------------------- */

struct fake_clock {
    uint64_t now_ms;
};

static uint64_t fake_now(void *arg)
{
    return ((struct fake_clock *)arg)->now_ms;
}

#define WINDOW 60000u

/* A limiter whose max-th failure makes a key wait WINDOW, after which (with
 * no further failure) it is forgotten: a fixed block, the simplest case of
 * the growing delays. */
static struct cf_auth_limiter *limiter(struct fake_clock *clk, unsigned max, size_t entries)
{
    struct cf_auth_limiter_conf conf = {max - 1, WINDOW, WINDOW, WINDOW, entries, fake_now, clk};
    struct cf_auth_limiter *l = NULL;

    assert_int_equal(cf_auth_limiter_new(&conf, &l), 0);
    assert_non_null(l);
    return l;
}

#define KEY2(a, b) ((const struct cf_span[]){{(a), strlen(a)}, {(b), strlen(b)}})

static void test_limiter_blocks(void **state)
{
    struct fake_clock clk = {1000};
    struct cf_auth_limiter *l = limiter(&clk, 3, 64);
    uint64_t retry = 0;

    (void)state;
    assert_int_equal(cf_auth_limiter_check(l, KEY2("acme", "bob"), 2, &retry), 0);
    cf_auth_limiter_fail(l, KEY2("acme", "bob"), 2);
    clk.now_ms += 10;
    cf_auth_limiter_fail(l, KEY2("acme", "bob"), 2);
    assert_int_equal(cf_auth_limiter_check(l, KEY2("acme", "bob"), 2, &retry), 0);
    clk.now_ms += 10;
    cf_auth_limiter_fail(l, KEY2("acme", "bob"), 2);
    assert_int_equal(cf_auth_limiter_check(l, KEY2("acme", "bob"), 2, &retry), CF_ETOOMANY);
    assert_int_equal(retry, WINDOW);
    /* Other keys are not affected, nor is the same bytes split differently. */
    assert_int_equal(cf_auth_limiter_check(l, KEY2("acme", "alice"), 2, NULL), 0);
    assert_int_equal(cf_auth_limiter_check(l, KEY2("acm", "ebob"), 2, NULL), 0);
    assert_int_equal(cf_auth_limiter_check(l, KEY2("acmebob", ""), 2, NULL), 0);
    assert_int_equal(cf_auth_limiter_check(l, KEY2("acme", "bob"), 1, NULL), 0);

    /* Blocked until a whole window after the blocking failure. */
    clk.now_ms += WINDOW - 1;
    assert_int_equal(cf_auth_limiter_check(l, KEY2("acme", "bob"), 2, &retry), CF_ETOOMANY);
    assert_int_equal(retry, 1);
    clk.now_ms += 1;
    assert_int_equal(cf_auth_limiter_check(l, KEY2("acme", "bob"), 2, &retry), 0);
    /* ...and then it starts afresh: two more failures do not block. */
    assert_int_equal(cf_auth_limiter_count(l), 0);
    cf_auth_limiter_fail(l, KEY2("acme", "bob"), 2);
    cf_auth_limiter_fail(l, KEY2("acme", "bob"), 2);
    assert_int_equal(cf_auth_limiter_check(l, KEY2("acme", "bob"), 2, NULL), 0);
    cf_auth_limiter_fail(l, KEY2("acme", "bob"), 2);
    assert_int_equal(cf_auth_limiter_check(l, KEY2("acme", "bob"), 2, NULL), CF_ETOOMANY);

    assert_int_equal(cf_auth_limiter_check(l, KEY2("acme", "bob"), 0, NULL), CF_EINVAL);
    cf_auth_limiter_fail(l, NULL, 0);
    cf_auth_limiter_success(l, NULL, 0);
    cf_auth_limiter_free(l);
    cf_auth_limiter_free(NULL);
}

static void test_limiter_growing(void **state)
{
    struct fake_clock clk = {5000};
    struct cf_auth_limiter_conf conf = {3, 1000, 8000, 60000, 64, fake_now, &clk};
    struct cf_auth_limiter *l = NULL;
    const struct cf_span addr[] = {{"addr", 4}, {"192.0.2.1", 9}};
    const uint64_t want[] = {1000, 2000, 4000, 8000, 8000, 8000};
    uint64_t retry = 0;
    unsigned prior = 99;

    (void)state;
    assert_int_equal(cf_auth_limiter_new(&conf, &l), 0);
    /* Three free failures, each tried at once. */
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(cf_auth_limiter_attempt(l, addr, 2, &retry, &prior), 0);
        assert_int_equal(prior, i);
    }
    /* Then the delays double up to the cap; a refused try records nothing. */
    for (size_t i = 0; i < CF_ARRAY_LEN(want); i++) {
        assert_int_equal(cf_auth_limiter_attempt(l, addr, 2, &retry, &prior), 0);
        assert_int_equal(prior, 3 + i);
        assert_int_equal(cf_auth_limiter_attempt(l, addr, 2, &retry, NULL), CF_ETOOMANY);
        assert_int_equal(retry, want[i]);
        clk.now_ms += want[i] - 1;
        assert_int_equal(cf_auth_limiter_check(l, addr, 2, &retry), CF_ETOOMANY);
        assert_int_equal(retry, 1);
        clk.now_ms += 1;
        assert_int_equal(cf_auth_limiter_check(l, addr, 2, NULL), 0);
    }
    /* A clock that steps back is "no time passed", not an expiry. */
    cf_auth_limiter_fail(l, addr, 2);
    clk.now_ms -= 1000;
    assert_int_equal(cf_auth_limiter_check(l, addr, 2, &retry), CF_ETOOMANY);
    assert_int_equal(retry, 8000);
    /* Forgotten a while after the last failure: free tries again. */
    clk.now_ms += 1000 + 60000;
    assert_int_equal(cf_auth_limiter_attempt(l, addr, 2, NULL, &prior), 0);
    assert_int_equal(prior, 0);
    cf_auth_limiter_free(l);
}

static void test_limiter_success_resets(void **state)
{
    struct fake_clock clk = {0};
    struct cf_auth_limiter *l = limiter(&clk, 3, 64);

    (void)state;
    cf_auth_limiter_fail(l, KEY2("c", "u"), 2);
    cf_auth_limiter_fail(l, KEY2("c", "u"), 2);
    cf_auth_limiter_success(l, KEY2("c", "u"), 2);
    assert_int_equal(cf_auth_limiter_count(l), 0);
    cf_auth_limiter_fail(l, KEY2("c", "u"), 2);
    cf_auth_limiter_fail(l, KEY2("c", "u"), 2);
    assert_int_equal(cf_auth_limiter_check(l, KEY2("c", "u"), 2, NULL), 0);
    cf_auth_limiter_fail(l, KEY2("c", "u"), 2);
    assert_int_equal(cf_auth_limiter_check(l, KEY2("c", "u"), 2, NULL), CF_ETOOMANY);
    cf_auth_limiter_success(l, KEY2("c", "u"), 2);
    assert_int_equal(cf_auth_limiter_check(l, KEY2("c", "u"), 2, NULL), 0);
    cf_auth_limiter_free(l);
}

static void test_limiter_eviction(void **state)
{
    struct fake_clock clk = {0};
    struct cf_auth_limiter *l = limiter(&clk, 3, 8); /* one bucket of 8 */
    char name[32];

    (void)state;
    for (int i = 0; i < 3; i++)
        cf_auth_limiter_fail(l, KEY2("c", "victim"), 2);
    assert_int_equal(cf_auth_limiter_check(l, KEY2("c", "victim"), 2, NULL), CF_ETOOMANY);
    /* A flood of fresh keys: memory stays fixed and the block survives. */
    for (int i = 0; i < 100000; i++) {
        snprintf(name, sizeof(name), "flood%d", i);
        cf_auth_limiter_fail(l, KEY2("c", name), 2);
        assert_true(cf_auth_limiter_count(l) <= 8);
    }
    assert_int_equal(cf_auth_limiter_count(l), 8);
    assert_int_equal(cf_auth_limiter_check(l, KEY2("c", "victim"), 2, NULL), CF_ETOOMANY);
    /* Only when every entry is blocked does a block give way (the oldest). */
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof(name), "blocked%d", i);
        clk.now_ms++;
        for (int j = 0; j < 3; j++)
            cf_auth_limiter_fail(l, KEY2("c", name), 2);
    }
    assert_int_equal(cf_auth_limiter_check(l, KEY2("c", "victim"), 2, NULL), 0);
    assert_int_equal(cf_auth_limiter_check(l, KEY2("c", "blocked7"), 2, NULL), CF_ETOOMANY);
    cf_auth_limiter_free(l);

    /* A bigger table under many keys also stays at its size. */
    l = limiter(&clk, 3, 1000);
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof(name), "k%d", i);
        cf_auth_limiter_fail(l, KEY2("c", name), 2);
    }
    assert_true(cf_auth_limiter_count(l) <= 1000);
    assert_true(cf_auth_limiter_count(l) > 900);
    /* After a window everything has expired and is reused. */
    clk.now_ms += WINDOW;
    cf_auth_limiter_fail(l, KEY2("c", "late"), 2);
    assert_int_equal(cf_auth_limiter_check(l, KEY2("c", "k19999"), 2, NULL), 0);
    cf_auth_limiter_free(l);
}

static void test_limiter_conf(void **state)
{
    struct cf_auth_limiter_conf ok = {4, 1000, 1000, 1000, 100, NULL, NULL}, c;
    struct cf_auth_limiter *l = (struct cf_auth_limiter *)&ok;

    (void)state;
    c = ok;
    c.base_delay_ms = 0;
    assert_int_equal(cf_auth_limiter_new(&c, &l), CF_EINVAL);
    assert_null(l);
    c = ok;
    c.max_delay_ms = 999;
    assert_int_equal(cf_auth_limiter_new(&c, &l), CF_EINVAL);
    c = ok;
    c.forget_ms = 999;
    assert_int_equal(cf_auth_limiter_new(&c, &l), CF_EINVAL);
    c = ok;
    c.entries = 0;
    assert_int_equal(cf_auth_limiter_new(&c, &l), CF_EINVAL);
    c.entries = CF_AUTH_LIMITER_MAX + 1;
    assert_int_equal(cf_auth_limiter_new(&c, &l), CF_EINVAL);
    /* The real clock. */
    assert_int_equal(cf_auth_limiter_new(&ok, &l), 0);
    for (int i = 0; i < 5; i++)
        cf_auth_limiter_fail(l, KEY2("c", "u"), 2);
    assert_int_equal(cf_auth_limiter_check(l, KEY2("c", "u"), 2, NULL), CF_ETOOMANY);
    cf_auth_limiter_free(l);
}

#define THREADS     4
#define PER_THREAD  2000
#define SHARED_FAIL 10

struct worker {
    struct cf_auth_limiter *exact, *above;
    int id;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char name[32];

    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(name, sizeof(name), "t%d-%d", w->id, i % 50);
        cf_auth_limiter_fail(w->exact, KEY2("c", name), 2);
        if (cf_auth_limiter_check(w->exact, KEY2("c", name), 2, NULL) == CF_ETOOMANY)
            cf_auth_limiter_success(w->exact, KEY2("c", name), 2);
        if (i % (PER_THREAD / SHARED_FAIL) == 0) {
            cf_auth_limiter_fail(w->exact, KEY2("c", "shared"), 2);
            cf_auth_limiter_fail(w->above, KEY2("c", "shared"), 2);
        }
    }
    return NULL;
}

static void test_limiter_threads(void **state)
{
    struct fake_clock clk = {0};
    /* THREADS * SHARED_FAIL failures of one key: exactly enough for one
     * limiter, one short for the other, so a lost update shows. */
    struct cf_auth_limiter *exact = limiter(&clk, THREADS * SHARED_FAIL, 4096);
    struct cf_auth_limiter *above = limiter(&clk, THREADS * SHARED_FAIL + 1, 4096);
    struct worker w[THREADS];
    pthread_t th[THREADS];

    (void)state;
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){exact, above, i};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(cf_auth_limiter_check(exact, KEY2("c", "shared"), 2, NULL), CF_ETOOMANY);
    assert_int_equal(cf_auth_limiter_check(above, KEY2("c", "shared"), 2, NULL), 0);
    assert_true(cf_auth_limiter_count(exact) <= THREADS * 50 + 1);
    cf_auth_limiter_free(exact);
    cf_auth_limiter_free(above);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_round_trip),
        cmocka_unit_test(test_password_default_cost),
        cmocka_unit_test(test_password_bounds),
        cmocka_unit_test(test_password_wrong),
        cmocka_unit_test(test_password_known_answers),
        cmocka_unit_test(test_pwhash_malformed),
        cmocka_unit_test(test_pwhash_bounds),
        cmocka_unit_test(test_pwhash_every_byte),
        cmocka_unit_test(test_password_generate),
        cmocka_unit_test(test_key_generate_save_load),
        cmocka_unit_test(test_key_load_errors),
        cmocka_unit_test(test_token_round_trip),
        cmocka_unit_test(test_token_expiry),
        cmocka_unit_test(test_token_known_answer),
        cmocka_unit_test(test_token_forged),
        cmocka_unit_test(test_token_keys_threads),
        cmocka_unit_test(test_link),
        cmocka_unit_test(test_token_lengths),
        cmocka_unit_test(test_bearer_parse),
        cmocka_unit_test(test_bearer_lengths),
        cmocka_unit_test(test_limiter_blocks),
        cmocka_unit_test(test_limiter_growing),
        cmocka_unit_test(test_limiter_success_resets),
        cmocka_unit_test(test_limiter_eviction),
        cmocka_unit_test(test_limiter_conf),
        cmocka_unit_test(test_limiter_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
