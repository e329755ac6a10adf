/*
 * test_keyring.c -- master key files and object key wrapping (keyring.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "coffer/err.h"
#include "coffer/io.h"
#include "coffer/keyring.h"

#define K1 "1111111111111111111111111111111111111111111111111111111111111111"
#define K2 "2222222222222222222222222222222222222222222222222222222222222222"

static char dir[] = "/tmp/test_keyring.XXXXXX";
static char path[512];

static void write_keys(const char *text, mode_t mode)
{
    (void)unlink(path);
    assert_int_equal(cf_io_write_file(path, text, strlen(text), mode, false, NULL), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static struct cf_keyring *load_ok(const char *text)
{
    struct cf_keyring *kr = NULL;
    char err[CF_ERR_LEN];

    write_keys(text, 0600);
    assert_int_equal(cf_keyring_load(path, &kr, err), 0);
    assert_non_null(kr);
    return kr;
}

static int load_rc(const char *text, mode_t mode)
{
    struct cf_keyring *kr = NULL;
    char err[CF_ERR_LEN];
    int rc;

    write_keys(text, mode);
    rc = cf_keyring_load(path, &kr, err);
    assert_true(rc < 0);
    assert_null(kr);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/%s", dir, CF_KEYRING_FILE);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    (void)unlink(path);
    return rmdir(dir);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct cf_keyring *kr = load_ok("# old\n7 " K1 "\n\n9 " K2 "\n");
    uint8_t key[CF_KEYRING_KEY_LEN], back[CF_KEYRING_KEY_LEN];
    uint8_t w1[CF_KEYRING_WRAPPED_LEN], w2[CF_KEYRING_WRAPPED_LEN];
    char err[CF_ERR_LEN];

    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 7 + 1);
    assert_int_equal(cf_keyring_newest(kr), 9);
    assert_int_equal(cf_keyring_wrap(kr, key, w1, err), 0);
    assert_int_equal(cf_keyring_wrap(kr, key, w2, err), 0);
    assert_int_equal(cf_keyring_kid_of(w1, sizeof(w1)), 9);
    assert_int_equal(cf_keyring_kid_of(w1, sizeof(w1) - 1), 0);
    /* A fresh nonce each time: the same key never wraps to the same bytes. */
    assert_memory_not_equal(w1, w2, sizeof(w1));
    assert_null(memmem(w1, sizeof(w1), key, sizeof(key)));
    assert_int_equal(cf_keyring_unwrap(kr, w1, sizeof(w1), back, err), 0);
    assert_memory_equal(back, key, sizeof(key));
    assert_int_equal(cf_keyring_unwrap(kr, w2, sizeof(w2), back, err), 0);
    assert_memory_equal(back, key, sizeof(key));
    assert_int_equal(cf_keyring_unwrap(kr, w1, sizeof(w1) - 1, back, err), CF_EINVAL);
    cf_keyring_free(kr);
}

static void test_wrong_and_tampered(void **state)
{
    (void)state;
    struct cf_keyring *a = load_ok("1 " K1 "\n");
    struct cf_keyring *b = load_ok("1 " K2 "\n");
    struct cf_keyring *c = load_ok("2 " K1 "\n");
    uint8_t key[CF_KEYRING_KEY_LEN] = {1, 2, 3}, back[CF_KEYRING_KEY_LEN];
    uint8_t w[CF_KEYRING_WRAPPED_LEN], t[CF_KEYRING_WRAPPED_LEN];
    char err[CF_ERR_LEN];

    assert_int_equal(cf_keyring_wrap(a, key, w, err), 0);
    /* Same kid, another key. */
    assert_int_equal(cf_keyring_unwrap(b, w, sizeof(w), back, err), CF_ECORRUPT);
    for (size_t i = 0; i < sizeof(back); i++)
        assert_int_equal(back[i], 0);
    /* Unknown kid. */
    assert_int_equal(cf_keyring_unwrap(c, w, sizeof(w), back, err), CF_ENOTFOUND);
    assert_non_null(strstr(err, "master key 1"));
    /* Each byte altered (kid, nonce, ciphertext, tag) fails (a kid of 0 is
     * no wrapped key). */
    for (size_t i = 0; i < sizeof(w); i++) {
        memcpy(t, w, sizeof(w));
        t[i] ^= 0x01;
        int rc = cf_keyring_unwrap(a, t, sizeof(t), back, err);
        assert_true(rc == CF_ECORRUPT || rc == CF_ENOTFOUND || rc == CF_EINVAL);
    }
    cf_keyring_free(a);
    cf_keyring_free(b);
    cf_keyring_free(c);
}

static void test_rotation(void **state)
{
    (void)state;
    struct cf_keyring *old = load_ok("1 " K1 "\n");
    struct cf_keyring *both = load_ok("1 " K1 "\n2 " K2 "\n");
    struct cf_keyring *new = load_ok("2 " K2 "\n");
    uint8_t key[CF_KEYRING_KEY_LEN] = {9, 8, 7}, back[CF_KEYRING_KEY_LEN];
    uint8_t w[CF_KEYRING_WRAPPED_LEN], w2[CF_KEYRING_WRAPPED_LEN];
    char err[CF_ERR_LEN];

    assert_int_equal(cf_keyring_wrap(old, key, w, err), 0);
    assert_int_equal(cf_keyring_unwrap(both, w, sizeof(w), back, err), 0);
    assert_int_equal(cf_keyring_wrap(both, back, w2, err), 0);
    assert_int_equal(cf_keyring_kid_of(w2, sizeof(w2)), 2);
    assert_int_equal(cf_keyring_unwrap(new, w, sizeof(w), back, err), CF_ENOTFOUND);
    assert_int_equal(cf_keyring_unwrap(new, w2, sizeof(w2), back, err), 0);
    assert_memory_equal(back, key, sizeof(key));
    cf_keyring_free(old);
    cf_keyring_free(both);
    cf_keyring_free(new);
}

static void test_bad_files(void **state)
{
    (void)state;
    struct cf_keyring *kr = NULL;
    char err[CF_ERR_LEN];

    assert_int_equal(load_rc("1 " K1 "\n", 0644), CF_EPERM);
    assert_int_equal(load_rc("", 0600), CF_EINVAL);
    assert_int_equal(load_rc("# nothing\n", 0600), CF_EINVAL);
    assert_int_equal(load_rc(K1 "\n", 0600), CF_EINVAL);
    assert_int_equal(load_rc("0 " K1 "\n", 0600), CF_EINVAL);
    assert_int_equal(load_rc("4294967296 " K1 "\n", 0600), CF_EINVAL);
    assert_int_equal(load_rc("1 " K1 "0\n", 0600), CF_EINVAL);
    assert_int_equal(load_rc("1 xx" K1 "\n", 0600), CF_EINVAL);
    assert_int_equal(load_rc("1 " K1 "\n1 " K2 "\n", 0600), CF_EINVAL);
    assert_non_null(strstr(cf_keyring_load(path, &kr, err) == CF_EINVAL ? err : "", "twice"));
    (void)unlink(path);
    assert_true(cf_keyring_load(path, &kr, err) < 0);

    /* make_file: made once, kept after. */
    assert_int_equal(cf_keyring_make_file(path, err), 1);
    kr = NULL;
    assert_int_equal(cf_keyring_load(path, &kr, err), 0);
    assert_int_equal(cf_keyring_newest(kr), 1);
    cf_keyring_free(kr);
    assert_int_equal(cf_keyring_make_file(path, err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_wrong_and_tampered),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_bad_files),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
