/*
 * test_cred.c -- cluster and operator keys, request signatures (cred.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "coffer/cred.h"
#include "coffer/err.h"
#include "coffer/io.h"

#define NOW    1700000000000ull
#define HOST   "127.0.0.1:8301"
#define TARGET "/list?after=a"

static char dir[] = "/tmp/test_cred.XXXXXX";

static void path_of(const char *name, char out[512])
{
    int n = snprintf(out, 512, "%s/%s", dir, name);
    assert_true(n > 0 && n < 512);
}

static void write_file(const char *name, const char *text, mode_t mode)
{
    char p[512];

    path_of(name, p);
    (void)unlink(p);
    assert_int_equal(cf_io_write_file(p, text, strlen(text), mode, false, NULL), 0);
    assert_int_equal(chmod(p, mode), 0);
}

/* A credential from the files of dir: cluster key, operator public key and,
 * when op, the operator private key. */
static struct cf_cred *load(bool cluster, bool pub, bool op)
{
    struct cf_cred *c = cf_cred_new();
    char p[512], err[CF_ERR_LEN];

    path_of(CF_CRED_CLUSTER_FILE, p);
    if (cluster)
        assert_int_equal(cf_cred_load_cluster(c, p, err), 0);
    path_of(CF_CRED_OPERATOR_PUB, p);
    if (pub)
        assert_int_equal(cf_cred_load_operator_pub(c, p, err), 0);
    path_of(CF_CRED_OPERATOR_FILE, p);
    if (op)
        assert_int_equal(cf_cred_load_operator_key(c, p, err), 0);
    return c;
}

static const char *value_of(const char *line)
{
    assert_memory_equal(line, "Authorization: ", 15);
    return line + 15;
}

static int verify(struct cf_cred *v, enum cf_access need, const char *line, uint64_t now)
{
    char err[CF_ERR_LEN] = "";

    return cf_cred_verify(v, need, "GET", TARGET, HOST, value_of(line), now, err);
}

static int setup(void **state)
{
    unsigned made = 0;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(cf_cred_make_files(dir, true, &made, NULL), 0);
    assert_int_equal(made, 3);
    return 0;
}

static int teardown(void **state)
{
    char p[512];

    (void)state;
    path_of(CF_CRED_CLUSTER_FILE, p);
    (void)unlink(p);
    path_of(CF_CRED_OPERATOR_FILE, p);
    (void)unlink(p);
    path_of(CF_CRED_OPERATOR_PUB, p);
    (void)unlink(p);
    path_of("other.key", p);
    (void)unlink(p);
    (void)rmdir(dir);
    return 0;
}

/* A fixed HMAC vector, computed independently (Python's hmac module). */
static void test_hmac_vector(void **state)
{
    char key[66], line[CF_CRED_HEADER_MAX];
    uint8_t raw[32];
    struct cf_cred *c;
    char p[512];

    (void)state;
    for (int i = 0; i < 32; i++)
        raw[i] = (uint8_t)i;
    for (int i = 0; i < 32; i++)
        (void)snprintf(key + 2 * i, 3, "%02x", raw[i]);
    key[64] = '\n';
    key[65] = '\0';
    write_file("other.key", key, 0600);
    c = cf_cred_new();
    path_of("other.key", p);
    assert_int_equal(cf_cred_load_cluster(c, p, NULL), 0);
    assert_int_equal(
        cf_cred_sign_parts(c, "GET", HOST, TARGET, NOW, "0123456789abcdef", line, sizeof(line)), 0);
    assert_string_equal(line, "Authorization: Coffer-HMAC-SHA256 kid=630dcd29,ts=1700000000000,"
                              "nonce=0123456789abcdef,sig=637bbd43b39d444652e1a47d1e22bc497089139ac"
                              "ad884909e7b9b37e8827701");
    assert_int_equal(verify(c, CF_ACCESS_INTERNAL, line, NOW + 5), 0);
    cf_cred_free(c);
}

static void test_sign_verify(void **state)
{
    struct cf_cred *s = load(true, false, false), *v = load(true, true, false);
    char line[CF_CRED_HEADER_MAX], err[CF_ERR_LEN];
    const char *a;

    (void)state;
    assert_int_equal(
        cf_cred_sign_parts(s, "GET", HOST, TARGET, NOW, "00112233445566778899", line, sizeof(line)),
        0);
    a = value_of(line);
    /* Another method, target, host, or a later clock: each its own 401. */
    assert_int_equal(cf_cred_verify(v, CF_ACCESS_INTERNAL, "DELETE", TARGET, HOST, a, NOW, err),
                     CF_EAUTH);
    assert_string_equal(err, "bad signature");
    assert_int_equal(
        cf_cred_verify(v, CF_ACCESS_INTERNAL, "GET", "/list?after=b", HOST, a, NOW, err), CF_EAUTH);
    assert_int_equal(
        cf_cred_verify(v, CF_ACCESS_INTERNAL, "GET", TARGET, "127.0.0.1:8302", a, NOW, err),
        CF_EAUTH);
    assert_int_equal(cf_cred_verify(v, CF_ACCESS_INTERNAL, "GET", TARGET, HOST, a,
                                    NOW + CF_CRED_WINDOW_MS + 1, err),
                     CF_EAUTH);
    assert_non_null(strstr(err, "stale"));
    assert_int_equal(cf_cred_verify(v, CF_ACCESS_INTERNAL, "GET", TARGET, HOST, a,
                                    NOW - CF_CRED_WINDOW_MS - 1, err),
                     CF_EAUTH);
    /* The cluster key may not do admin work: 403, and the nonce is not used up. */
    assert_int_equal(cf_cred_verify(v, CF_ACCESS_ADMIN, "GET", TARGET, HOST, a, NOW, err),
                     CF_EPERM);
    /* Within the window, once; then it is a replay. */
    assert_int_equal(
        cf_cred_verify(v, CF_ACCESS_INTERNAL, "GET", TARGET, HOST, a, NOW + CF_CRED_WINDOW_MS, err),
        0);
    assert_int_equal(cf_cred_verify(v, CF_ACCESS_INTERNAL, "GET", TARGET, HOST, a, NOW, err),
                     CF_EAUTH);
    assert_string_equal(err, "replayed nonce");
    /* Public needs nothing; a missing header is 401. */
    assert_int_equal(cf_cred_verify(v, CF_ACCESS_PUBLIC, "GET", TARGET, HOST, NULL, NOW, err), 0);
    assert_int_equal(cf_cred_verify(v, CF_ACCESS_INTERNAL, "GET", TARGET, HOST, NULL, NOW, err),
                     CF_EAUTH);
    assert_non_null(strstr(err, "missing"));
    cf_cred_free(s);
    cf_cred_free(v);
}

static void test_operator(void **state)
{
    struct cf_cred *op = load(false, false, true), *v = load(true, true, false);
    struct cf_cred *nopub = load(true, false, false);
    char line[CF_CRED_HEADER_MAX], line2[CF_CRED_HEADER_MAX];

    (void)state;
    assert_int_equal(
        cf_cred_sign_parts(op, "GET", HOST, TARGET, NOW, "aaaabbbbccccdddd", line, sizeof(line)),
        0);
    assert_non_null(strstr(line, "Coffer-Ed25519 kid="));
    assert_int_equal(verify(nopub, CF_ACCESS_INTERNAL, line, NOW), CF_EAUTH); /* unknown key */
    assert_int_equal(verify(v, CF_ACCESS_ADMIN, line, NOW), 0);
    assert_int_equal(verify(v, CF_ACCESS_ADMIN, line, NOW), CF_EAUTH); /* replay */
    assert_int_equal(
        cf_cred_sign_parts(op, "GET", HOST, TARGET, NOW, "aaaabbbbccccddde", line2, sizeof(line2)),
        0);
    assert_int_equal(verify(v, CF_ACCESS_INTERNAL, line2, NOW), 0);
    /* A flipped signature digit. */
    assert_int_equal(
        cf_cred_sign_parts(op, "GET", HOST, TARGET, NOW, "aaaabbbbccccdddf", line2, sizeof(line2)),
        0);
    line2[strlen(line2) - 1] = line2[strlen(line2) - 1] == '0' ? '1' : '0';
    assert_int_equal(verify(v, CF_ACCESS_INTERNAL, line2, NOW), CF_EAUTH);
    cf_cred_free(op);
    cf_cred_free(v);
    cf_cred_free(nopub);
}

static void test_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "Bearer x",
        "Coffer-HMAC-SHA256 ",
        "Coffer-HMAC-SHA256 kid=630dcd29,ts=1,nonce=0123456789abcdef",
        "Coffer-HMAC-SHA256 kid=630dcd2,ts=1,nonce=0123456789abcdef,sig=00",
        "Coffer-HMAC-SHA256 ts=1,kid=630dcd29,nonce=0123456789abcdef,sig=00",
        "Coffer-HMAC-SHA256 kid=630dcd29,ts=1x,nonce=0123456789abcdef,sig=00",
        "Coffer-HMAC-SHA256 kid=630dcd29,ts=01,nonce=0123456789abcdef,sig="
        "637bbd43b39d444652e1a47d1e22bc497089139acad884909e7b9b37e8827701",
        "Coffer-HMAC-SHA256 kid=630dcd29,ts=1,nonce=0123456789abcde,sig="
        "637bbd43b39d444652e1a47d1e22bc497089139acad884909e7b9b37e8827701",
        "Coffer-HMAC-SHA256 kid=630dcd29,ts=1,nonce=0123456789ABCDEF,sig="
        "637bbd43b39d444652e1a47d1e22bc497089139acad884909e7b9b37e8827701",
        "Coffer-HMAC-SHA256 kid=630dcd29,ts=1,nonce=0123456789abcdef,sig="
        "637bbd43b39d444652e1a47d1e22bc497089139acad884909e7b9b37e88277010",
        "Coffer-HMAC-SHA256 kid=630dcd29,ts=1234567890123456,nonce=0123456789abcdef,sig="
        "637bbd43b39d444652e1a47d1e22bc497089139acad884909e7b9b37e8827701",
        "Coffer-HMAC-SHA256 kid=630dcd29,ts=1,nonce=0123456789abcdef,sig="
        "637bbd43b39d444652e1a47d1e22bc497089139acad884909e7b9b37e8827701,x=1",
    };
    struct cf_cred *v = load(true, true, false);
    char err[CF_ERR_LEN];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cf_cred_verify(v, CF_ACCESS_INTERNAL, "GET", "/", HOST, bad[i], NOW, err),
                         CF_EAUTH);
        assert_string_equal(err, "malformed Authorization header");
    }
    cf_cred_free(v);
}

/* Two keys in the file: the first signs, both verify (rotation). */
static void test_rotation(void **state)
{
    char old_line[CF_CRED_HEADER_MAX], new_line[CF_CRED_HEADER_MAX], p[512];
    const char *k1 = "1111111111111111111111111111111111111111111111111111111111111111\n";
    const char *k2 = "2222222222222222222222222222222222222222222222222222222222222222\n";
    char both[200];
    struct cf_cred *olds = cf_cred_new(), *news = cf_cred_new(), *v = cf_cred_new();

    (void)state;
    path_of("other.key", p);
    write_file("other.key", k1, 0600);
    assert_int_equal(cf_cred_load_cluster(olds, p, NULL), 0);
    write_file("other.key", k2, 0600);
    assert_int_equal(cf_cred_load_cluster(news, p, NULL), 0);
    (void)snprintf(both, sizeof(both), "%s%s", k2, k1);
    write_file("other.key", both, 0600);
    assert_int_equal(cf_cred_load_cluster(v, p, NULL), 0);
    assert_int_equal(cf_cred_sign_parts(olds, "GET", HOST, TARGET, NOW, "0000000000000001",
                                        old_line, sizeof(old_line)),
                     0);
    assert_int_equal(cf_cred_sign_parts(news, "GET", HOST, TARGET, NOW, "0000000000000002",
                                        new_line, sizeof(new_line)),
                     0);
    assert_int_equal(verify(v, CF_ACCESS_INTERNAL, old_line, NOW), 0);
    assert_int_equal(verify(v, CF_ACCESS_INTERNAL, new_line, NOW), 0);
    /* The old key alone does not know the new one. */
    assert_int_equal(cf_cred_sign_parts(news, "GET", HOST, TARGET, NOW, "0000000000000003",
                                        new_line, sizeof(new_line)),
                     0);
    assert_int_equal(verify(olds, CF_ACCESS_INTERNAL, new_line, NOW), CF_EAUTH);
    cf_cred_free(olds);
    cf_cred_free(news);
    cf_cred_free(v);
}

static void test_key_files(void **state)
{
    struct cf_cred *c = cf_cred_new();
    char p[512], err[CF_ERR_LEN];
    struct stat st;
    unsigned made = 9;

    (void)state;
    path_of(CF_CRED_CLUSTER_FILE, p);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    path_of(CF_CRED_OPERATOR_FILE, p);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Never overwritten; with excl false the missing ones only. */
    assert_int_equal(cf_cred_make_files(dir, true, &made, err), CF_EEXIST);
    assert_int_equal(cf_cred_make_files(dir, false, &made, err), 0);
    assert_int_equal(made, 0);
    write_file("other.key", "1111111111111111111111111111111111111111111111111111111111111111\n",
               0644);
    path_of("other.key", p);
    assert_int_equal(cf_cred_load_cluster(c, p, err), CF_EPERM);
    assert_non_null(strstr(err, "mode 644"));
    write_file("other.key", "11111111\n", 0600);
    assert_int_equal(cf_cred_load_cluster(c, p, err), CF_EINVAL);
    write_file("other.key", "", 0600);
    assert_int_equal(cf_cred_load_cluster(c, p, err), CF_EINVAL);
    path_of("absent.key", p);
    assert_int_equal(cf_cred_load_cluster(c, p, err), CF_ENOTFOUND);
    assert_false(cf_cred_can_sign(c));
    cf_cred_free(c);
}

/* sign_url signs what libcurl sends: the Host (default port left out) and
 * the target (path and query, not the fragment). */
static void test_sign_url(void **state)
{
    struct cf_cred *s = load(true, false, false), *v = load(true, false, false);
    char line[CF_CRED_HEADER_MAX], err[CF_ERR_LEN];

    (void)state;
    assert_int_equal(cf_cred_sign_url(s, "PUT", "http://127.0.0.1:8301/o/a+b?x=%20#frag", line), 0);
    assert_int_equal(cf_cred_verify(v, CF_ACCESS_INTERNAL, "PUT", "/o/a+b?x=%20", HOST,
                                    value_of(line), cf_wall_ms(), err),
                     0);
    assert_int_equal(cf_cred_sign_url(s, "GET", "http://example:80/status", line), 0);
    assert_int_equal(cf_cred_verify(v, CF_ACCESS_INTERNAL, "GET", "/status", "example",
                                    value_of(line), cf_wall_ms(), err),
                     0);
    assert_int_equal(cf_cred_sign_url(s, "GET", "http://h:1", line), 0);
    assert_int_equal(
        cf_cred_verify(v, CF_ACCESS_INTERNAL, "GET", "/", "h:1", value_of(line), cf_wall_ms(), err),
        0);
    assert_int_equal(cf_cred_sign_url(s, "GET", "ftp://h/x", line), CF_EINVAL);
    cf_cred_free(s);
    cf_cred_free(v);
}

/* The nonce of a signature line (32 hex digits) into out. */
static void nonce_of(const char *line, char out[33])
{
    const char *p = strstr(line, "nonce=");

    assert_non_null(p);
    memcpy(out, p + 6, 32);
    out[32] = '\0';
    assert_int_equal(strspn(out, "0123456789abcdef"), 32);
}

/* Every signature carries a nonce of its own: through many refills of the
 * signer's block of random bytes (the verifier's replay cache refuses a
 * repeated one), and in a forked child, which must not repeat what its
 * parent sends next. */
static void test_sign_url_nonces(void **state)
{
    struct cf_cred *s = load(true, false, false), *v = load(true, false, false);
    char line[CF_CRED_HEADER_MAX], err[CF_ERR_LEN], mine[33], child[33] = "";
    int fds[2], st = 0;
    pid_t pid;

    (void)state;
    for (unsigned i = 0; i < 500; i++) {
        assert_int_equal(cf_cred_sign_url(s, "GET", "http://h:1/x", line), 0);
        assert_int_equal(cf_cred_verify(v, CF_ACCESS_INTERNAL, "GET", "/x", "h:1", value_of(line),
                                        cf_wall_ms(), err),
                         0);
    }
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bool ok = cf_cred_sign_url(s, "GET", "http://h:1/x", line) == 0;
        if (ok) {
            nonce_of(line, mine);
            ok = write(fds[1], mine, 32) == 32;
        }
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(cf_cred_sign_url(s, "GET", "http://h:1/x", line), 0);
    nonce_of(line, mine);
    assert_int_equal(read(fds[0], child, 32), 32);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_string_not_equal(mine, child);
    close(fds[0]);
    close(fds[1]);
    cf_cred_free(s);
    cf_cred_free(v);
}

/* Nonces leave the cache with their window: the same nonce is fresh
 * again for a signature made after the old one expired. */
static void test_replay_expiry(void **state)
{
    struct cf_cred *s = load(true, false, false), *v = load(true, false, false);
    char line[CF_CRED_HEADER_MAX];
    uint64_t later = NOW + 3 * CF_CRED_WINDOW_MS;

    (void)state;
    for (unsigned i = 0; i < 1000; i++) {
        char nonce[32];
        (void)snprintf(nonce, sizeof(nonce), "%016x", i);
        assert_int_equal(cf_cred_sign_parts(s, "GET", HOST, TARGET, NOW, nonce, line, sizeof(line)),
                         0);
        assert_int_equal(verify(v, CF_ACCESS_INTERNAL, line, NOW), 0);
        assert_int_equal(verify(v, CF_ACCESS_INTERNAL, line, NOW + 1), CF_EAUTH);
    }
    assert_int_equal(
        cf_cred_sign_parts(s, "GET", HOST, TARGET, later, "0000000000000007", line, sizeof(line)),
        0);
    assert_int_equal(verify(v, CF_ACCESS_INTERNAL, line, later), 0);
    assert_int_equal(verify(v, CF_ACCESS_INTERNAL, line, later), CF_EAUTH);
    cf_cred_free(s);
    cf_cred_free(v);
}

/* The query of a signed URL from its parts (exp, kid, sig) into the three
 * fields, each NUL-terminated in q (which it cuts). */
static void url_fields(char *q, char **exp, char **kid, char **sig)
{
    assert_int_equal(strncmp(q, "exp=", 4), 0);
    *exp = q + 4;
    *kid = strstr(q, "&kid=");
    *sig = strstr(q, "&sig=");
    assert_non_null(*kid);
    assert_non_null(*sig);
    **kid = '\0';
    **sig = '\0';
    *kid += 5;
    *sig += 5;
}

/* Signed URLs: good for their path until their expiry, on any verifier
 * holding the key; refused tampered, expired, too far ahead, unknown key,
 * or without a cluster key to sign with. */
static void test_url_sign(void **state)
{
    struct cf_cred *s = load(true, false, false), *v = load(true, false, false);
    struct cf_cred *op = load(false, true, true), *none = cf_cred_new();
    char q[CF_CRED_URL_QUERY_MAX], err[CF_ERR_LEN], *exp, *kid, *sig;
    const char *path = "0001/000000000001-016eea8acf09c99d";

    (void)state;
    assert_int_equal(cf_cred_url_sign(s, path, NOW + 30000, q), 0);
    url_fields(q, &exp, &kid, &sig);
    assert_int_equal(cf_cred_url_verify(v, path, exp, kid, sig, NOW, err), 0);
    assert_int_equal(cf_cred_url_verify(v, path, exp, kid, sig, NOW + 29999, err), 0);
    /* Not a nonce: good again within its time. */
    assert_int_equal(cf_cred_url_verify(v, path, exp, kid, sig, NOW + 1, err), 0);
    assert_int_equal(cf_cred_url_verify(v, path, exp, kid, sig, NOW + 30000, err), CF_EPERM);
    assert_int_equal(
        cf_cred_url_verify(v, "0001/000000000002-016eea8acf09c99d", exp, kid, sig, NOW, err),
        CF_EAUTH);
    assert_int_equal(cf_cred_url_verify(v, path, "1796623131211", kid, sig, NOW, err), CF_EAUTH);
    assert_int_equal(cf_cred_url_verify(v, path, exp, kid, NULL, NOW, err), CF_EAUTH);
    assert_int_equal(cf_cred_url_verify(v, path, exp, "0000000g", sig, NOW, err), CF_EAUTH);
    assert_int_equal(cf_cred_url_verify(op, path, exp, kid, sig, NOW, err), CF_EAUTH);
    assert_int_equal(cf_cred_url_verify(none, path, exp, kid, sig, NOW, err), CF_EAUTH);
    sig[0] = sig[0] == '0' ? '1' : '0';
    assert_int_equal(cf_cred_url_verify(v, path, exp, kid, sig, NOW, err), CF_EAUTH);
    assert_string_equal(err, "bad signature");
    assert_int_equal(cf_cred_url_sign(s, path, NOW + CF_CRED_URL_TTL_MAX_MS + 1, q), 0);
    url_fields(q, &exp, &kid, &sig);
    assert_int_equal(cf_cred_url_verify(v, path, exp, kid, sig, NOW, err), CF_EPERM);
    assert_int_equal(cf_cred_url_verify(v, path, exp, kid, sig, NOW + 1, err), 0);
    assert_int_equal(cf_cred_url_sign(op, path, NOW, q), CF_EINVAL);
    assert_int_equal(cf_cred_url_sign(s, "", NOW, q), CF_EINVAL);
    cf_cred_free(s);
    cf_cred_free(v);
    cf_cred_free(op);
    cf_cred_free(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_vector),   cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_operator),      cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_rotation),      cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_sign_url),      cmocka_unit_test(test_sign_url_nonces),
        cmocka_unit_test(test_replay_expiry), cmocka_unit_test(test_url_sign),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
