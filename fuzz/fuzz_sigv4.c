/*
 * fuzz_sigv4.c -- libFuzzer target for the untrusted-input parsers of
 * sigv4.h: the Authorization header, X-Amz-Date, SignedHeaders, and the
 * canonical request built from whatever they accepted.
 *
 * Invariants, each abort()ing when broken:
 *  - cf_sigv4_parse_header returns 0 or CF_EINVAL; on 0 every field is
 *    NUL-terminated within its array, the key id and scope parts are
 *    non-empty, the date is 8 digits and the signature 64 lowercase hex;
 *  - cf_sigv4_parse_date returns 0 or CF_EINVAL, and accepts only 16 bytes;
 *  - the input's first line, as SignedHeaders, gives 1..CF_SIGV4_HEADERS_MAX
 *    names in strictly increasing order, "host" among them, or CF_EINVAL;
 *  - a canonical request from an accepted header (every signed header
 *    given the input as its value, the input as path and query) is built or
 *    refused with CF_EINVAL/CF_ETOOLARGE, never over CF_SIGV4_TEXT_MAX;
 *  - cf_sigv4_uri_encode's output has only unreserved bytes and %XX, and
 *    decodes back to the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_sigv4:%d: invariant failed: %s\n", __LINE__, #x);                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

static void check_encode(const char *s, size_t n)
{
    struct cf_buf b;
    size_t k = 0;

    cf_buf_init(&b, 3 * n + 1);
    CHECK(cf_sigv4_uri_encode(&b, s, n, true) == 0);
    for (size_t i = 0; i < b.len; i++) {
        char c = b.base[i];
        if (c == '%') {
            int hi, lo;
            CHECK(i + 2 < b.len);
            hi = (b.base[i + 1] >= 'A' ? b.base[i + 1] - 'A' + 10 : b.base[i + 1] - '0');
            lo = (b.base[i + 2] >= 'A' ? b.base[i + 2] - 'A' + 10 : b.base[i + 2] - '0');
            CHECK(hi >= 0 && hi < 16 && lo >= 0 && lo < 16);
            CHECK(k < n && (unsigned char)s[k] == (unsigned)(hi * 16 + lo));
            i += 2;
        } else {
            CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_' || c == '~' || c == '/');
            CHECK(k < n && s[k] == c);
        }
        k++;
    }
    CHECK(k == n);
    cf_buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct cf_sigv4_auth a;
    char names_buf[sizeof(a.signed_headers)];
    const char *names[CF_SIGV4_HEADERS_MAX];
    int64_t t = 0;
    int rc, n;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check_encode((const char *)data, size);

    rc = cf_sigv4_parse_date(s, &t);
    CHECK(rc == 0 || rc == CF_EINVAL);
    CHECK(rc != 0 || strlen(s) == 16);

    memset(&a, 0, sizeof(a));
    {
        size_t line = strcspn(s, "\n");
        if (line < sizeof(a.signed_headers)) {
            memcpy(a.signed_headers, s, line);
            n = cf_sigv4_header_names(&a, names_buf, names);
            CHECK(n == CF_EINVAL || (n >= 1 && n <= CF_SIGV4_HEADERS_MAX));
            for (int i = 1; i > 0 && i < n; i++)
                CHECK(strcmp(names[i - 1], names[i]) < 0);
        }
    }

    rc = cf_sigv4_parse_header(s, &a, NULL);
    CHECK(rc == 0 || rc == CF_EINVAL);
    if (rc == 0) {
        const char *vals[CF_SIGV4_HEADERS_MAX];
        struct cf_sigv4_pair q[2] = {{s, s}, {"x", NULL}};
        struct cf_sigv4_req r;
        struct cf_buf canon;
        char sig[CF_SIGV4_HEX_SIZE];
        uint8_t key[32];

        CHECK(terminated(a.key_id, sizeof(a.key_id)) && a.key_id[0] != '\0');
        CHECK(terminated(a.region, sizeof(a.region)) && a.region[0] != '\0');
        CHECK(terminated(a.service, sizeof(a.service)) && a.service[0] != '\0');
        CHECK(strlen(a.date) == 8 && strlen(a.signature) == 64);
        CHECK(terminated(a.signed_headers, sizeof(a.signed_headers)));
        n = cf_sigv4_header_names(&a, names_buf, names);
        for (int i = 0; i < CF_SIGV4_HEADERS_MAX; i++)
            vals[i] = s;
        r = (struct cf_sigv4_req){"GET", s, q, 2, vals, n > 0 ? (size_t)n : 0, s};
        cf_buf_init(&canon, CF_SIGV4_TEXT_MAX);
        rc = cf_sigv4_canonical(&a, &r, &canon, NULL);
        CHECK(rc == 0 || rc == CF_EINVAL || rc == CF_ETOOLARGE);
        CHECK(canon.len <= CF_SIGV4_TEXT_MAX);
        cf_buf_fini(&canon);
        cf_sigv4_signing_key("secret", a.date, a.region, a.service, key);
        rc = cf_sigv4_sign(&a, "20130524T000000Z", &r, key, sig, NULL, NULL);
        CHECK(rc != 0 || strlen(sig) == 64);
    }
    free(s);
    return 0;
}
