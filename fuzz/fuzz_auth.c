/*
 * fuzz_auth.c -- libFuzzer target for the untrusted-input parsers of auth.h:
 * bearer tokens, the Authorization header and stored password hashes.
 *
 * The same input is read four ways. Invariants, each abort()ing when broken:
 *  - as a token, cf_auth_token_verify (fixed key bytes 0..63, fixed clock)
 *    returns 0 or CF_EAUTH, leaves *info untouched on failure, and accepts
 *    only CF_AUTH_TOKEN_LEN bytes; an accepted token has consistent fields,
 *    a token re-issued with those fields verifies to the same fields, and
 *    the accepted token with any one byte changed is refused;
 *  - as an Authorization value, cf_auth_bearer_parse returns 0 or CF_EAUTH
 *    and agrees with a naive reference written here from the header's rules;
 *    an accepted token span lies inside the input, and is then verified too;
 *  - as a stored password hash, cf_auth_pwhash_parse accepts only strings
 *    that format back to exactly the same bytes (never hashes: a count up to
 *    ten million would stall the fuzzer);
 *  - as fields (client, user, time, ttl, a byte to damage), a token issued
 *    from them verifies back to them and is refused once damaged.
 * The seeds in corpus/auth/ include the valid token of test_auth.c, which
 * this key and clock accept.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/auth.h"
#include "coffer/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_auth:%d: invariant failed: %s\n", __LINE__, #x);                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The clock the seeds were made for: one second after the test token's issue. */
#define NOW UINT64_C(1700000001)

static void fuzz_key(struct cf_auth_key *k)
{
    for (int i = 0; i < 64; i++)
        k->bytes[i] = (uint8_t)i;
    k->len = 64;
}

static bool same_info(const struct cf_auth_token_info *a, const struct cf_auth_token_info *b)
{
    return a->client_id == b->client_id && a->user_id == b->user_id &&
           a->issued_at == b->issued_at && a->expires_at == b->expires_at;
}

/* A valid token t (CF_AUTH_TOKEN_LEN bytes) with byte `at` changed to
 * anything else must be refused. */
static void check_damaged(const struct cf_auth_key *k, const char *t, size_t at, uint8_t x,
                          uint64_t now)
{
    char copy[CF_AUTH_TOKEN_LEN];

    memcpy(copy, t, CF_AUTH_TOKEN_LEN);
    copy[at % CF_AUTH_TOKEN_LEN] ^= (char)(x | 1);
    CHECK(cf_auth_token_verify(k, copy, CF_AUTH_TOKEN_LEN, now, NULL) == CF_EAUTH);
}

static void check_token(const struct cf_auth_key *k, const char *p, size_t size, uint64_t now)
{
    const struct cf_auth_token_info sentinel = {1, 2, 3, 4};
    struct cf_auth_token_info info = sentinel, again = sentinel;
    char t[CF_AUTH_TOKEN_SIZE];
    int rc;

    rc = cf_auth_token_verify(k, p, size, now, &info);
    CHECK(rc == 0 || rc == CF_EAUTH);
    if (rc != 0) {
        CHECK(same_info(&info, &sentinel));
        return;
    }
    CHECK(size == CF_AUTH_TOKEN_LEN);
    CHECK(info.issued_at < info.expires_at);
    CHECK(info.expires_at - info.issued_at <= CF_AUTH_TOKEN_TTL_MAX);
    CHECK(now < info.expires_at && info.issued_at <= now + CF_AUTH_TOKEN_SKEW_S);

    CHECK(cf_auth_token_issue(k, info.client_id, info.user_id, info.issued_at,
                              info.expires_at - info.issued_at, t) == 0);
    CHECK(strlen(t) == CF_AUTH_TOKEN_LEN);
    CHECK(cf_auth_token_verify(k, t, CF_AUTH_TOKEN_LEN, now, &again) == 0);
    CHECK(same_info(&info, &again));
    check_damaged(k, p, size > 0 ? (uint8_t)p[0] : 0, (uint8_t)p[size - 1], now);
}

static bool ref_token68(char c)
{
    return strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/", c) !=
               NULL &&
           c != '\0';
}

/* auth.h's header rule, naively: trim spaces and tabs at both ends, then
 * "bearer" in any case, spaces, token68 chars, then only '='. */
static bool ref_bearer(const char *p, size_t n, size_t *start, size_t *len)
{
    size_t b = 0, e = n, i, s;

    if (n > CF_AUTH_HEADER_MAX)
        return false;
    while (b < e && (p[b] == ' ' || p[b] == '\t'))
        b++;
    while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\t'))
        e--;
    if (e - b < 7)
        return false;
    for (i = 0; i < 6; i++)
        if ((p[b + i] | 0x20) != "bearer"[i])
            return false;
    if (p[b + 6] != ' ')
        return false;
    for (i = b + 6; i < e && p[i] == ' '; i++)
        ;
    s = i;
    while (i < e && ref_token68(p[i]))
        i++;
    if (i == s)
        return false;
    while (i < e && p[i] == '=')
        i++;
    if (i != e)
        return false;
    *start = s;
    *len = e - s;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct cf_auth_key k;
    struct cf_span tok = {NULL, 7};
    struct cf_auth_pwhash h;
    char text[CF_AUTH_PWHASH_SIZE], t[CF_AUTH_TOKEN_SIZE];
    size_t rs = 0, rl = 0;
    bool ref;
    int rc;

    fuzz_key(&k);

    /* 1. The bytes as a token. */
    check_token(&k, p, size, NOW);

    /* 2. As an Authorization header value. */
    rc = cf_auth_bearer_parse(p, size, &tok);
    CHECK(rc == 0 || rc == CF_EAUTH);
    ref = ref_bearer(p, size, &rs, &rl);
    CHECK((rc == 0) == ref);
    if (rc == 0) {
        CHECK(tok.ptr == p + rs && tok.len == rl && tok.len > 0);
        check_token(&k, tok.ptr, tok.len, NOW);
    } else {
        CHECK(tok.ptr == NULL && tok.len == 7);
    }

    /* 3. As a stored password hash. */
    rc = cf_auth_pwhash_parse(p, size, &h);
    CHECK(rc == 0 || rc == CF_ECORRUPT);
    if (rc == 0) {
        CHECK(h.iterations >= CF_AUTH_PBKDF2_ITER_MIN && h.iterations <= CF_AUTH_PBKDF2_ITER_MAX);
        CHECK(cf_auth_pwhash_format(&h, text) == size);
        CHECK(memcmp(text, p, size) == 0);
    }

    /* 4. As fields for a fresh token. */
    if (size >= 34) {
        uint64_t v[4];
        for (int i = 0; i < 4; i++) {
            v[i] = 0;
            for (int j = 0; j < 8; j++)
                v[i] = v[i] << 8 | data[1 + 8 * i + j];
        }
        rc = cf_auth_token_issue(&k, v[0], v[1], v[2], v[3], t);
        if (v[3] == 0 || v[3] > CF_AUTH_TOKEN_TTL_MAX || v[2] > UINT64_MAX - v[3]) {
            CHECK(rc == CF_EINVAL && t[0] == '\0');
        } else {
            struct cf_auth_token_info info;
            CHECK(rc == 0);
            CHECK(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, v[2], &info) == 0);
            CHECK(info.client_id == v[0] && info.user_id == v[1] && info.issued_at == v[2] &&
                  info.expires_at == v[2] + v[3]);
            CHECK(cf_auth_token_verify(&k, t, CF_AUTH_TOKEN_LEN, v[2] + v[3], NULL) == CF_EAUTH);
            check_damaged(&k, t, data[0], data[33], v[2]);
        }
    }
    return 0;
}
