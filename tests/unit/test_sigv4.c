/*
 * test_sigv4.c -- unit tests for sigv4.h against the example requests AWS
 * documents for S3 ("Signature Calculations for the Authorization Header",
 * "Authenticating Requests: Using Query Parameters", "Signature
 * Calculations When Transferring Payload in Multiple Chunks"): the same
 * key, date and region, and the signatures AWS publishes for them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/sigv4.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define DATE   "20130524T000000Z"
#define EMPTY  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define CRED   "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"

static void sign_header(const char *auth_value, const char *method, const char *path,
                        const struct cf_sigv4_pair *q, size_t nq, const char *const *hdrs,
                        size_t nh, const char *payload, const char *want)
{
    struct cf_sigv4_auth a;
    struct cf_sigv4_req r = {method, path, q, nq, hdrs, nh, payload};
    char err[CF_ERR_LEN] = "", sig[CF_SIGV4_HEX_SIZE];
    uint8_t key[32];

    assert_int_equal(cf_sigv4_parse_header(auth_value, &a, err), 0);
    assert_string_equal(a.key_id, "AKIAIOSFODNN7EXAMPLE");
    assert_string_equal(a.region, "us-east-1");
    cf_sigv4_signing_key(SECRET, a.date, a.region, a.service, key);
    assert_int_equal(cf_sigv4_sign(&a, DATE, &r, key, sig, NULL, err), 0);
    assert_string_equal(sig, want);
    assert_true(cf_sigv4_equal(sig, a.signature));
}

static void test_get_object(void **state)
{
    const char *h[] = {"examplebucket.s3.amazonaws.com", "bytes=0-9", EMPTY, DATE};
    struct cf_sigv4_auth a;
    struct cf_buf canon;
    struct cf_sigv4_req r = {"GET", "/test.txt", NULL, 0, h, 4, EMPTY};
    char err[CF_ERR_LEN];
    static const char want_canon[] =
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        "x-amz-content-sha256:" EMPTY "\nx-amz-date:" DATE "\n\n"
        "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY;
    const char *auth = "AWS4-HMAC-SHA256 Credential=" CRED ",SignedHeaders=host;range;"
                       "x-amz-content-sha256;x-amz-date,Signature="
                       "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

    (void)state;
    sign_header(auth, "GET", "/test.txt", NULL, 0, h, 4, EMPTY,
                "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    assert_int_equal(cf_sigv4_parse_header(auth, &a, err), 0);
    cf_buf_init(&canon, CF_SIGV4_TEXT_MAX);
    assert_int_equal(cf_sigv4_canonical(&a, &r, &canon, err), 0);
    assert_string_equal(canon.base, want_canon);
    cf_buf_fini(&canon);
}

static void test_put_object(void **state)
{
    /* Path "/test$file.text": '$' encoded in the canonical URI. Header
     * values with extra spaces are trimmed. */
    const char *h[] = {"Fri, 24 May 2013 00:00:00 GMT", "examplebucket.s3.amazonaws.com",
                       "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072", DATE,
                       "  REDUCED_REDUNDANCY  "};
    char hash[CF_SIGV4_HEX_SIZE];

    (void)state;
    cf_sigv4_sha256_hex("Welcome to Amazon S3.", 21, hash);
    assert_string_equal(hash, h[2]);
    sign_header("AWS4-HMAC-SHA256 Credential=" CRED ",SignedHeaders=date;host;"
                "x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature="
                "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
                "PUT", "/test$file.text", NULL, 0, h, 5, hash,
                "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

static void test_query_args(void **state)
{
    const char *h[] = {"examplebucket.s3.amazonaws.com", EMPTY, DATE};
    const struct cf_sigv4_pair lifecycle[] = {{"lifecycle", NULL}};
    /* Given out of order: the canonical query sorts them. */
    const struct cf_sigv4_pair list[] = {{"prefix", "J"}, {"max-keys", "2"}};

    (void)state;
    sign_header("AWS4-HMAC-SHA256 Credential=" CRED ",SignedHeaders=host;x-amz-content-sha256;"
                "x-amz-date,Signature="
                "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
                "GET", "/", lifecycle, 1, h, 3, EMPTY,
                "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    sign_header("AWS4-HMAC-SHA256 Credential=" CRED ",SignedHeaders=host;x-amz-content-sha256;"
                "x-amz-date,Signature="
                "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
                "GET", "/", list, 2, h, 3, EMPTY,
                "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

static void test_presigned(void **state)
{
    const char *h[] = {"examplebucket.s3.amazonaws.com"};
    const struct cf_sigv4_pair q[] = {
        {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
        {"X-Amz-Credential", CRED},
        {"X-Amz-Date", DATE},
        {"X-Amz-Expires", "86400"},
        {"X-Amz-SignedHeaders", "host"},
    };
    struct cf_sigv4_req r = {"GET", "/test.txt", q, 5, h, 1, CF_SIGV4_UNSIGNED};
    struct cf_sigv4_auth a;
    char err[CF_ERR_LEN] = "", sig[CF_SIGV4_HEX_SIZE];
    const char *want = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    uint8_t key[32];

    (void)state;
    assert_int_equal(
        cf_sigv4_parse_query("AWS4-HMAC-SHA256", CRED, DATE, "86400", "host", want, &a, err), 0);
    assert_int_equal(a.expires_s, 86400);
    assert_string_equal(a.amz_date, DATE);
    cf_sigv4_signing_key(SECRET, a.date, a.region, a.service, key);
    assert_int_equal(cf_sigv4_sign(&a, a.amz_date, &r, key, sig, NULL, err), 0);
    assert_string_equal(sig, want);
    /* Bounds of X-Amz-Expires, and a date of another day than the scope. */
    assert_int_equal(
        cf_sigv4_parse_query("AWS4-HMAC-SHA256", CRED, DATE, "604801", "host", want, &a, err),
        CF_EINVAL);
    assert_int_equal(
        cf_sigv4_parse_query("AWS4-HMAC-SHA256", CRED, DATE, "0", "host", want, &a, err),
        CF_EINVAL);
    assert_int_equal(cf_sigv4_parse_query("AWS4-HMAC-SHA256", CRED, "20130525T000000Z", "1", "host",
                                          want, &a, err),
                     CF_EINVAL);
    assert_int_equal(cf_sigv4_parse_query("AWS4-HMAC-SHA1", CRED, DATE, "1", "host", want, &a, err),
                     CF_EINVAL);
}

static void test_chunked(void **state)
{
    /* PUT /examplebucket/chunkObject.txt in chunks of 65536 and 1024 'a's. */
    const char *h[] = {"aws-chunked", "66824", "s3.amazonaws.com",  CF_SIGV4_STREAMING,
                       DATE,          "66560", "REDUCED_REDUNDANCY"};
    struct cf_sigv4_auth a;
    struct cf_sigv4_req r = {
        "PUT", "/examplebucket/chunkObject.txt", NULL, 0, h, 7, CF_SIGV4_STREAMING};
    static char data[65536];
    char err[CF_ERR_LEN] = "", sig[CF_SIGV4_HEX_SIZE], next[CF_SIGV4_HEX_SIZE];
    char hash[CF_SIGV4_HEX_SIZE];
    uint8_t key[32];

    (void)state;
    memset(data, 'a', sizeof(data));
    assert_int_equal(
        cf_sigv4_parse_header("AWS4-HMAC-SHA256 Credential=" CRED ",SignedHeaders=content-encoding;"
                              "content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-"
                              "content-length;x-amz-storage-class,Signature="
                              "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
                              &a, err),
        0);
    cf_sigv4_signing_key(SECRET, a.date, a.region, a.service, key);
    assert_int_equal(cf_sigv4_sign(&a, DATE, &r, key, sig, NULL, err), 0);
    assert_string_equal(sig, "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
    cf_sigv4_sha256_hex(data, 65536, hash);
    cf_sigv4_chunk_sign(&a, DATE, key, sig, hash, next);
    assert_string_equal(next, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648");
    cf_sigv4_sha256_hex(data, 1024, hash);
    cf_sigv4_chunk_sign(&a, DATE, key, next, hash, sig);
    assert_string_equal(sig, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497");
    cf_sigv4_chunk_sign(&a, DATE, key, sig, EMPTY, next);
    assert_string_equal(next, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9");
}

static void test_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "AWS4-HMAC-SHA256",
        "AWS AKIA:sig",
        "AWS4-HMAC-SHA256 Credential=" CRED ",SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=AK/2013052/us-east-1/s3/aws4_request,SignedHeaders=host,"
        "Signature=" EMPTY,
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws5_request,SignedHeaders=host,"
        "Signature=" EMPTY,
        "AWS4-HMAC-SHA256 Credential=" CRED ",SignedHeaders=host,Signature=abc",
        "AWS4-HMAC-SHA256 Credential=" CRED ",SignedHeaders=host,Signature=" EMPTY ",Extra=1",
        "AWS4-HMAC-SHA256 Credential=" CRED ",Credential=" CRED
        ",SignedHeaders=host,Signature=" EMPTY,
    };
    struct cf_sigv4_auth a;
    char err[CF_ERR_LEN], names_buf[sizeof(a.signed_headers)];
    const char *names[CF_SIGV4_HEADERS_MAX];
    int64_t t = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cf_sigv4_parse_header(bad[i], &a, err), CF_EINVAL);
    /* SignedHeaders: sorted, lowercase, unique, with host. */
    memset(&a, 0, sizeof(a));
    (void)snprintf(a.signed_headers, sizeof(a.signed_headers), "%s", "host;x-amz-date");
    assert_int_equal(cf_sigv4_header_names(&a, names_buf, names), 2);
    assert_string_equal(names[1], "x-amz-date");
    (void)snprintf(a.signed_headers, sizeof(a.signed_headers), "%s", "x-amz-date;host");
    assert_int_equal(cf_sigv4_header_names(&a, names_buf, names), CF_EINVAL);
    (void)snprintf(a.signed_headers, sizeof(a.signed_headers), "%s", "x-amz-date");
    assert_int_equal(cf_sigv4_header_names(&a, names_buf, names), CF_EINVAL);
    (void)snprintf(a.signed_headers, sizeof(a.signed_headers), "%s", "Host");
    assert_int_equal(cf_sigv4_header_names(&a, names_buf, names), CF_EINVAL);
    (void)snprintf(a.signed_headers, sizeof(a.signed_headers), "%s", "host;;x");
    assert_int_equal(cf_sigv4_header_names(&a, names_buf, names), CF_EINVAL);
    assert_int_equal(cf_sigv4_parse_date(DATE, &t), 0);
    assert_int_equal(t, 1369353600);
    assert_int_equal(cf_sigv4_parse_date("20130524T000000", &t), CF_EINVAL);
    assert_int_equal(cf_sigv4_parse_date("20131324T000000Z", &t), CF_EINVAL);
}

static void test_uri_encode(void **state)
{
    struct cf_buf b;

    (void)state;
    cf_buf_init(&b, 64);
    assert_int_equal(cf_sigv4_uri_encode(&b, "a b/c~d*é+", 11, true), 0);
    assert_string_equal(b.base, "a%20b/c~d%2A%C3%A9%2B");
    cf_buf_fini(&b);
    cf_buf_init(&b, 64);
    assert_int_equal(cf_sigv4_uri_encode(&b, "a/b", 3, false), 0);
    assert_string_equal(b.base, "a%2Fb");
    cf_buf_fini(&b);
    cf_buf_init(&b, 4);
    assert_int_equal(cf_sigv4_uri_encode(&b, "     ", 5, false), CF_ETOOLARGE);
    cf_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_object), cmocka_unit_test(test_put_object),
        cmocka_unit_test(test_query_args), cmocka_unit_test(test_presigned),
        cmocka_unit_test(test_chunked),    cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_uri_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
