/*
 * test_tls.c -- unit tests for tls.h: the CA and server certificate that
 * cf_tls_make writes (modes, names, the chain verified by OpenSSL itself),
 * when it keeps or replaces them, and the checks of cf_tls_load_pair and
 * cf_tls_check_ca (mismatched key, expired or future certificate, not PEM).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "coffer/err.h"
#include "coffer/tls.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    (void)snprintf(dir, sizeof(dir), "/tmp/coffer-test-tls-XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static void rm(const char *name)
{
    char p[128];

    (void)snprintf(p, sizeof(p), "%s/%s", dir, name);
    (void)unlink(p);
}

static int teardown(void **state)
{
    (void)state;
    rm("tls/" CF_TLS_CA_CERT);
    rm("tls/" CF_TLS_CA_KEY);
    rm("tls/" CF_TLS_CERT);
    rm("tls/" CF_TLS_KEY);
    rm("old.pem");
    rm("old.key");
    rm("junk.pem");
    rm("tls");
    (void)rmdir(dir);
    return 0;
}

static void path_of(char out[128], const char *name)
{
    (void)snprintf(out, 128, "%s/tls/%s", dir, name);
}

static X509 *read_cert(const char *name)
{
    char p[128];
    FILE *f;
    X509 *x;

    path_of(p, name);
    f = fopen(p, "r");
    assert_non_null(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

static mode_t mode_of(const char *name)
{
    char p[128];
    struct stat st;

    path_of(p, name);
    assert_int_equal(stat(p, &st), 0);
    return st.st_mode & 0777;
}

/* What cf_tls_make writes: modes, and a chain OpenSSL verifies for a TLS
 * server at each of the names. */
static void test_make(void **state)
{
    const char *hosts[] = {"files.example.org", "10.1.2.3"};
    const char *names[] = {"localhost", "files.example.org"};
    char tdir[128], cert[128], key[128], err[CF_ERR_LEN] = "", *c = NULL, *k = NULL;
    bool made = false;
    X509 *ca, *srv;
    X509_STORE *store;
    X509_STORE_CTX *ctx;

    (void)state;
    (void)snprintf(tdir, sizeof(tdir), "%s/tls", dir);
    assert_int_equal(cf_tls_make(tdir, hosts, 2, false, &made, err), 0);
    assert_true(made);
    assert_int_equal(mode_of(CF_TLS_CA_KEY), 0600);
    assert_int_equal(mode_of(CF_TLS_KEY), 0600);
    assert_int_equal(mode_of(CF_TLS_CA_CERT), 0644);
    assert_int_equal(mode_of(CF_TLS_CERT), 0644);
    ca = read_cert(CF_TLS_CA_CERT);
    srv = read_cert(CF_TLS_CERT);
    assert_int_equal(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(srv, "::1", 0), 1);
    assert_int_equal(X509_check_ip_asc(srv, "10.1.2.3", 0), 1);
    assert_int_not_equal(X509_check_ip_asc(srv, "10.1.2.4", 0), 1);
    assert_int_not_equal(X509_check_host(srv, "other.example.org", 0, 0, NULL), 1);
    for (size_t i = 0; i < 2; i++) {
        store = X509_STORE_new();
        ctx = X509_STORE_CTX_new();
        assert_int_equal(X509_STORE_add_cert(store, ca), 1);
        assert_int_equal(X509_STORE_CTX_init(ctx, store, srv, NULL), 1);
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
        assert_int_equal(X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), names[i], 0),
                         1);
        assert_int_equal(X509_verify_cert(ctx), 1);
        X509_STORE_CTX_free(ctx);
        X509_STORE_free(store);
    }
    path_of(cert, CF_TLS_CERT);
    path_of(key, CF_TLS_KEY);
    assert_int_equal(cf_tls_load_pair(cert, key, &c, &k, err), 0);
    assert_non_null(strstr(c, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(k, "PRIVATE KEY"));
    free(c);
    cf_tls_free_key(k);
    path_of(cert, CF_TLS_CA_CERT);
    assert_int_equal(cf_tls_check_ca(cert, err), 0);
    X509_free(ca);
    X509_free(srv);
}

/* The text of file name under tls/, whole. */
static char *slurp(const char *name)
{
    char p[128], *buf = calloc(1, CF_TLS_PEM_MAX + 1);
    FILE *f;

    path_of(p, name);
    f = fopen(p, "r");
    assert_non_null(f);
    assert_true(fread(buf, 1, CF_TLS_PEM_MAX, f) > 0);
    fclose(f);
    return buf;
}

/* Files that are fine are kept; a missing name, --renew, or a broken pair
 * gives a new server certificate from the same CA. */
static void test_keep_and_renew(void **state)
{
    const char *more[] = {"new.example.org"};
    char tdir[128], err[CF_ERR_LEN] = "", *ca1, *ca2, *s1, *s2, p[128];
    bool made = true;
    FILE *f;

    (void)state;
    (void)snprintf(tdir, sizeof(tdir), "%s/tls", dir);
    assert_int_equal(cf_tls_make(tdir, NULL, 0, false, &made, err), 0);
    ca1 = slurp(CF_TLS_CA_CERT);
    s1 = slurp(CF_TLS_CERT);
    assert_int_equal(cf_tls_make(tdir, NULL, 0, false, &made, err), 0);
    assert_false(made);
    s2 = slurp(CF_TLS_CERT);
    assert_string_equal(s1, s2);
    free(s2);
    assert_int_equal(cf_tls_make(tdir, more, 1, false, &made, err), 0);
    assert_true(made);
    s2 = slurp(CF_TLS_CERT);
    assert_string_not_equal(s1, s2);
    free(s2);
    assert_int_equal(cf_tls_make(tdir, NULL, 0, true, &made, err), 0);
    assert_true(made);
    ca2 = slurp(CF_TLS_CA_CERT);
    assert_string_equal(ca1, ca2); /* clients keep trusting the same CA */
    free(ca2);
    /* A damaged server certificate is replaced. */
    path_of(p, CF_TLS_CERT);
    f = fopen(p, "w");
    assert_non_null(f);
    fputs("junk\n", f);
    fclose(f);
    assert_int_equal(cf_tls_make(tdir, NULL, 0, false, &made, err), 0);
    assert_true(made);
    free(ca1);
    free(s1);
}

/* A CA certificate is never replaced; its key is read only to issue a
 * server certificate, so it may be kept elsewhere meanwhile. */
static void test_ca_without_key(void **state)
{
    char tdir[128], err[CF_ERR_LEN] = "", *ca1, *ca2;
    bool made = true;

    (void)state;
    (void)snprintf(tdir, sizeof(tdir), "%s/tls", dir);
    assert_int_equal(cf_tls_make(tdir, NULL, 0, false, NULL, err), 0);
    ca1 = slurp(CF_TLS_CA_CERT);
    rm("tls/" CF_TLS_CA_KEY);
    assert_int_equal(cf_tls_make(tdir, NULL, 0, false, &made, err), 0);
    assert_false(made);
    assert_int_equal(cf_tls_make(tdir, NULL, 0, true, &made, err), CF_EIO);
    assert_non_null(strstr(err, CF_TLS_CA_KEY));
    ca2 = slurp(CF_TLS_CA_CERT);
    assert_string_equal(ca1, ca2);
    /* Another key in its place is refused. */
    {
        char from[128], to[128];
        path_of(from, CF_TLS_KEY);
        path_of(to, CF_TLS_CA_KEY);
        assert_int_equal(link(from, to), 0);
    }
    assert_int_equal(cf_tls_make(tdir, NULL, 0, true, &made, err), CF_EINVAL);
    assert_non_null(strstr(err, "is not the one of the CA certificate"));
    free(ca1);
    free(ca2);
}

static void test_bad_hosts(void **state)
{
    const char *bad[][1] = {{""}, {"a b"}, {"-x.example"}, {"x/y"}, {"\xc3\xa9.example"}};
    char tdir[128], err[CF_ERR_LEN] = "";

    (void)state;
    (void)snprintf(tdir, sizeof(tdir), "%s/tls", dir);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cf_tls_make(tdir, bad[i], 1, false, NULL, err), CF_EINVAL);
}

/* A self-signed certificate valid from now + from_s to now + to_s, and its
 * key, written to old.pem and old.key in dir. */
static void write_dated(long from_s, long to_s)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    char p[128];
    FILE *f;

    assert_non_null(k);
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), from_s));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), to_s));
    assert_int_equal(X509_set_pubkey(x, k), 1);
    assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                                (const unsigned char *)"old", -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)), 1);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    (void)snprintf(p, sizeof(p), "%s/old.pem", dir);
    f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
    (void)snprintf(p, sizeof(p), "%s/old.key", dir);
    f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void test_load_refuses(void **state)
{
    char tdir[128], cert[128], key[128], ca_key[128], junk[128], err[CF_ERR_LEN] = "";
    char *c = (char *)1, *k = (char *)1;
    FILE *f;

    (void)state;
    (void)snprintf(tdir, sizeof(tdir), "%s/tls", dir);
    assert_int_equal(cf_tls_make(tdir, NULL, 0, false, NULL, err), 0);
    path_of(cert, CF_TLS_CERT);
    path_of(key, CF_TLS_KEY);
    path_of(ca_key, CF_TLS_CA_KEY);
    /* The CA's key is not the server certificate's. */
    assert_int_equal(cf_tls_load_pair(cert, ca_key, &c, &k, err), CF_EINVAL);
    assert_null(c);
    assert_null(k);
    assert_non_null(strstr(err, "is not the one of the certificate"));
    /* A key where the certificate should be, and the other way round. */
    assert_int_equal(cf_tls_load_pair(key, key, &c, &k, err), CF_EINVAL);
    assert_int_equal(cf_tls_load_pair(cert, cert, &c, &k, err), CF_EINVAL);
    /* Missing. */
    (void)snprintf(junk, sizeof(junk), "%s/absent.pem", dir);
    assert_int_equal(cf_tls_load_pair(junk, key, &c, &k, err), CF_EIO);
    assert_non_null(strstr(err, "absent.pem"));
    assert_int_equal(cf_tls_check_ca(junk, err), CF_EIO);
    /* Not PEM. */
    (void)snprintf(junk, sizeof(junk), "%s/junk.pem", dir);
    f = fopen(junk, "w");
    assert_non_null(f);
    fputs("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", f);
    fclose(f);
    assert_int_equal(cf_tls_check_ca(junk, err), CF_EINVAL);
    assert_int_equal(cf_tls_load_pair(junk, key, &c, &k, err), CF_EINVAL);
    /* Expired a minute ago, and valid only from tomorrow. */
    (void)snprintf(cert, sizeof(cert), "%s/old.pem", dir);
    (void)snprintf(key, sizeof(key), "%s/old.key", dir);
    write_dated(-86400, -60);
    assert_int_equal(cf_tls_load_pair(cert, key, &c, &k, err), CF_EINVAL);
    assert_non_null(strstr(err, "expired"));
    write_dated(86400, 2 * 86400);
    assert_int_equal(cf_tls_load_pair(cert, key, &c, &k, err), CF_EINVAL);
    assert_non_null(strstr(err, "not valid before"));
    write_dated(-60, 86400);
    assert_int_equal(cf_tls_load_pair(cert, key, &c, &k, err), 0);
    free(c);
    cf_tls_free_key(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_make, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_and_renew, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_without_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_hosts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_refuses, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
