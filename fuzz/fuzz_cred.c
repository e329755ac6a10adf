/*
 * fuzz_cred.c -- libFuzzer target for the signature header of requests
 * between roles (cred.h cf_cred_verify).
 *
 * The input, up to its first NUL, is an Authorization value checked for
 * "GET /list?after=a" to host 127.0.0.1:8301 against the cluster key of
 * bytes 0..31 at a fixed clock. Invariants, each abort()ing when broken:
 *  - the answer is 0, CF_EAUTH or CF_EPERM, and never 0 for the admin
 *    class with a cluster key (CF_EPERM);
 *  - an accepted value is refused when checked again (replay), and for
 *    any other method, target or host;
 *  - an accepted value is exactly what cf_cred_sign_parts makes of its own
 *    fields (so nothing but the canonical form is accepted).
 * The same input is also taken as the query of a signed URL for object
 * path URL_PATH ("exp=T&kid=K&sig=S", cf_cred_url_verify): the answer is
 * 0, CF_EAUTH or CF_EPERM; an accepted one is refused for another path and
 * is exactly what cf_cred_url_sign makes of its expiry.
 * corpus/cred/ holds the value of test_cred.c's fixed vector, which this
 * key and clock accept, malformed neighbours of it, and a signed URL's
 * query this key and clock accept (url_valid).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "coffer/cred.h"
#include "coffer/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_cred:%d: invariant failed: %s\n", __LINE__, #x);                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define NOW      1700000000005ull
#define HOST     "127.0.0.1:8301"
#define TARGET   "/list?after=a"
#define VAL_MAX  4096
#define URL_PATH "0001/000000000001-016eea8acf09c99d"

static struct cf_cred *key_of_bytes(void)
{
    char path[] = "/tmp/fuzz_cred.XXXXXX", hex[66];
    struct cf_cred *c = cf_cred_new();
    int fd = mkstemp(path);

    CHECK(fd >= 0);
    for (int i = 0; i < 32; i++)
        (void)snprintf(hex + 2 * i, 3, "%02x", i);
    hex[64] = '\n';
    hex[65] = '\0';
    CHECK(write(fd, hex, 65) == 65);
    CHECK(fchmod(fd, 0600) == 0);
    close(fd);
    CHECK(cf_cred_load_cluster(c, path, NULL) == 0);
    unlink(path);
    return c;
}

/* The field after "name=" in v, up to ',' or the end, into out (cap bytes). */
static bool field(const char *v, const char *name, char *out, size_t cap)
{
    const char *p = strstr(v, name);
    size_t n;

    if (p == NULL)
        return false;
    p += strlen(name);
    n = strcspn(p, ",");
    if (n >= cap)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* v (cut in place) as a signed URL's query: the fields after "exp=",
 * "&kid=" and "&sig=", in that order. */
static void check_url(const struct cf_cred *c, char *v)
{
    char q[CF_CRED_URL_QUERY_MAX], want[VAL_MAX + 1], *exp = NULL, *kid, *sig;
    int rc;

    (void)snprintf(want, sizeof(want), "%s", v);
    kid = strstr(v, "&kid=");
    sig = kid != NULL ? strstr(kid, "&sig=") : NULL;
    if (strncmp(v, "exp=", 4) == 0 && sig != NULL) {
        exp = v + 4;
        *kid = '\0';
        *sig = '\0';
        kid += 5;
        sig += 5;
    }
    rc = cf_cred_url_verify(c, URL_PATH, exp, exp ? kid : NULL, exp ? sig : NULL, NOW, NULL);
    CHECK(rc == 0 || rc == CF_EAUTH || rc == CF_EPERM);
    if (rc == 0) {
        CHECK(cf_cred_url_verify(c, "0001/x", exp, kid, sig, NOW, NULL) == CF_EAUTH);
        CHECK(cf_cred_url_sign(c, URL_PATH, strtoull(exp, NULL, 10), q) == 0);
        CHECK(strcmp(q, want) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cf_cred *c;
    char v[VAL_MAX + 1], again[CF_CRED_HEADER_MAX], ts[32], nonce[80];
    size_t n = strnlen((const char *)data, size < VAL_MAX ? size : VAL_MAX);
    int rc;

    if (c == NULL)
        c = key_of_bytes();
    memcpy(v, data, n);
    v[n] = '\0';
    rc = cf_cred_verify(c, CF_ACCESS_ADMIN, "GET", TARGET, HOST, v, NOW, NULL);
    CHECK(rc == CF_EAUTH || rc == CF_EPERM);
    /* Other requests first: they must not accept it, nor use its nonce. */
    CHECK(cf_cred_verify(c, CF_ACCESS_INTERNAL, "PUT", TARGET, HOST, v, NOW, NULL) == CF_EAUTH);
    CHECK(cf_cred_verify(c, CF_ACCESS_INTERNAL, "GET", "/list", HOST, v, NOW, NULL) == CF_EAUTH);
    CHECK(cf_cred_verify(c, CF_ACCESS_INTERNAL, "GET", TARGET, "x", v, NOW, NULL) == CF_EAUTH);
    rc = cf_cred_verify(c, CF_ACCESS_INTERNAL, "GET", TARGET, HOST, v, NOW, NULL);
    CHECK(rc == 0 || rc == CF_EAUTH);
    if (rc == 0) {
        CHECK(cf_cred_verify(c, CF_ACCESS_INTERNAL, "GET", TARGET, HOST, v, NOW, NULL) == CF_EAUTH);
        CHECK(field(v, "ts=", ts, sizeof(ts)) && field(v, "nonce=", nonce, sizeof(nonce)));
        CHECK(cf_cred_sign_parts(c, "GET", HOST, TARGET, strtoull(ts, NULL, 10), nonce, again,
                                 sizeof(again)) == 0);
        CHECK(strcmp(again + strlen("Authorization: "), v) == 0);
    }
    check_url(c, v);
    return 0;
}
