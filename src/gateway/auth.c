/*
 * auth.c -- password hashes, bearer tokens, the Authorization header and the
 * failed-login limiter (auth.h), on OpenSSL libcrypto.
 *
 * Cost of CF_AUTH_PBKDF2_ITER_DEFAULT, measured on the development machine
 * (AMD EPYC, 2 vCPU, OpenSSL 3.0.19, gcc 12 -O2), wall time of one
 * cf_auth_password_hash of a 28-byte password, median of 9 runs (a verify
 * costs the same):
 *   100,000 rounds   37 ms
 *   210,000 rounds   77 ms   <- default
 *   300,000 rounds  111 ms
 * 210,000 is OWASP's 2023 recommendation for PBKDF2-HMAC-SHA512 and sits
 * inside a 50-100 ms budget, so a login stays interactive while an
 * offline guess costs the same. The cap CF_AUTH_PBKDF2_ITER_MAX (10 million,
 * ~3.7 s here) bounds what a bad stored string can make one login cost.
 */
#include "coffer/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "coffer/err.h"
#include "coffer/hex.h"
#include "coffer/io.h"
#include "coffer/log.h"

/* ---- small codecs ------------------------------------------------------- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64url characters for n bytes. */
static size_t b64_len(size_t n)
{
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

static void b64_encode(const uint8_t *p, size_t n, char *out)
{
    size_t o = 0, i = 0;

    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64url[v >> 18];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64url[v >> 18];
        out[o++] = b64url[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = b64url[v >> 18];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
    }
}

/* The value of a base64url character, or -1. Without branches: a token's
 * characters are random, so a branch per character class mispredicts
 * about once a character. The classes are disjoint, so at most one term
 * is not 0, and it is the value plus one. */
static int b64_val(unsigned char c)
{
    unsigned x = c;
    unsigned v = (x - 'A' < 26u) * (x - 'A' + 1) + (x - 'a' < 26u) * (x - 'a' + 27) +
                 (x - '0' < 10u) * (x - '0' + 53) + (x == '-') * 63u + (x == '_') * 64u;

    return (int)v - 1;
}

/* Decode s (exactly b64_len(n) characters) into n bytes. Only the canonical
 * encoding is accepted (unused low bits of the last character are zero), so a
 * token has exactly one spelling. Returns 0 or -1. */
static int b64_decode(const char *s, size_t n, uint8_t *out)
{
    size_t len = b64_len(n), o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;

    for (size_t i = 0; i < len; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (o != n || (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return 0;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* ---- password hashes ---------------------------------------------------- */

/* HMAC zero-pads its key, so under PBKDF2-HMAC "pw" and "pw\0" hash alike:
 * passwords with a NUL byte are refused rather than silently aliased. */
static const char pw_prefix[] = "pbkdf2-sha512$";
#define PW_PREFIX_LEN (sizeof(pw_prefix) - 1)

static int pbkdf2(const char *pw, size_t len, const uint8_t salt[CF_AUTH_SALT_LEN],
                  uint32_t iterations, uint8_t out[CF_AUTH_HASH_LEN])
{
    /* The caps above keep every length and count inside OpenSSL's int. */
    cf_assert(len <= CF_AUTH_PASSWORD_MAX && iterations <= CF_AUTH_PBKDF2_ITER_MAX);
    if (PKCS5_PBKDF2_HMAC(len > 0 ? pw : "", (int)len, salt, CF_AUTH_SALT_LEN, (int)iterations,
                          EVP_sha512(), CF_AUTH_HASH_LEN, out) != 1)
        return CF_EINTERNAL;
    return 0;
}

size_t cf_auth_pwhash_format(const struct cf_auth_pwhash *h, char out[CF_AUTH_PWHASH_SIZE])
{
    size_t n = PW_PREFIX_LEN;
    int w;

    cf_assert(h->iterations >= CF_AUTH_PBKDF2_ITER_MIN && h->iterations <= CF_AUTH_PBKDF2_ITER_MAX);
    memcpy(out, pw_prefix, PW_PREFIX_LEN);
    w = snprintf(out + n, CF_AUTH_PWHASH_SIZE - n, "%u$", (unsigned)h->iterations);
    cf_assert(w > 0 && (size_t)w < CF_AUTH_PWHASH_SIZE - n);
    n += (size_t)w;
    cf_hex_encode(h->salt, CF_AUTH_SALT_LEN, out + n);
    n += 2 * CF_AUTH_SALT_LEN;
    out[n++] = '$';
    cf_hex_encode(h->hash, CF_AUTH_HASH_LEN, out + n);
    n += 2 * CF_AUTH_HASH_LEN;
    out[n] = '\0';
    return n;
}

int cf_auth_pwhash_parse(const char *s, size_t len, struct cf_auth_pwhash *out)
{
    struct cf_auth_pwhash h;
    size_t i = PW_PREFIX_LEN, digits = 0;
    uint64_t iter = 0;

    if (len < PW_PREFIX_LEN || len > CF_AUTH_PWHASH_MAX || memcmp(s, pw_prefix, PW_PREFIX_LEN))
        return CF_ECORRUPT;
    /* 8 digits hold CF_AUTH_PBKDF2_ITER_MAX, so iter cannot overflow. */
    while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 9) {
        iter = iter * 10 + (uint64_t)(s[i] - '0');
        i++;
        digits++;
    }
    if (digits == 0 || s[PW_PREFIX_LEN] == '0' || iter < CF_AUTH_PBKDF2_ITER_MIN ||
        iter > CF_AUTH_PBKDF2_ITER_MAX)
        return CF_ECORRUPT;
    if (len - i != 1 + 2 * CF_AUTH_SALT_LEN + 1 + 2 * CF_AUTH_HASH_LEN || s[i] != '$' ||
        s[i + 1 + 2 * CF_AUTH_SALT_LEN] != '$')
        return CF_ECORRUPT;
    if (cf_hex_decode(s + i + 1, CF_AUTH_SALT_LEN, h.salt, false) < 0 ||
        cf_hex_decode(s + i + 2 + 2 * CF_AUTH_SALT_LEN, CF_AUTH_HASH_LEN, h.hash, false) < 0)
        return CF_ECORRUPT;
    h.iterations = (uint32_t)iter;
    *out = h;
    return 0;
}

int cf_auth_password_hash(const char *pw, size_t len, uint32_t iterations,
                          char out[CF_AUTH_PWHASH_SIZE])
{
    struct cf_auth_pwhash h;
    int rc;

    out[0] = '\0';
    if (len > CF_AUTH_PASSWORD_MAX)
        return CF_ETOOLARGE;
    if (len > 0 && memchr(pw, '\0', len) != NULL)
        return CF_EINVAL;
    if (iterations < CF_AUTH_PBKDF2_ITER_MIN || iterations > CF_AUTH_PBKDF2_ITER_MAX)
        return CF_EINVAL;
    if (RAND_bytes(h.salt, CF_AUTH_SALT_LEN) != 1)
        return CF_EINTERNAL;
    h.iterations = iterations;
    rc = pbkdf2(pw, len, h.salt, iterations, h.hash);
    if (rc == 0)
        (void)cf_auth_pwhash_format(&h, out);
    OPENSSL_cleanse(&h, sizeof(h));
    return rc;
}

int cf_auth_password_verify(const char *stored, size_t stored_len, const char *pw, size_t len)
{
    struct cf_auth_pwhash h;
    uint8_t got[CF_AUTH_HASH_LEN];
    int rc;

    rc = cf_auth_pwhash_parse(stored, stored_len, &h);
    if (rc < 0)
        return rc;
    if (len > CF_AUTH_PASSWORD_MAX || (len > 0 && memchr(pw, '\0', len) != NULL))
        return CF_EAUTH;
    rc = pbkdf2(pw, len, h.salt, h.iterations, got);
    if (rc == 0 && CRYPTO_memcmp(got, h.hash, CF_AUTH_HASH_LEN) != 0)
        rc = CF_EAUTH;
    OPENSSL_cleanse(got, sizeof(got));
    return rc;
}

int cf_auth_password_generate(unsigned bits, char *out)
{
    uint8_t rnd[CF_AUTH_GENPW_BITS_MAX / 8];
    int rc = 0;

    out[0] = '\0';
    if (bits < CF_AUTH_GENPW_BITS_MIN || bits > CF_AUTH_GENPW_BITS_MAX || bits % 8 != 0) {
        rc = CF_EINVAL;
        goto out;
    }
    if (RAND_bytes(rnd, (int)(bits / 8)) != 1) {
        rc = CF_EINTERNAL;
        goto out;
    }
    cf_hex_encode(rnd, bits / 8, out);
out:
    OPENSSL_cleanse(rnd, sizeof(rnd));
    return rc;
}

bool cf_auth_password_needs_rehash(const char *stored, size_t len, uint32_t iterations)
{
    struct cf_auth_pwhash h;

    return cf_auth_pwhash_parse(stored, len, &h) == 0 && h.iterations < iterations;
}

/* ---- server key --------------------------------------------------------- */

int cf_auth_key_generate(struct cf_auth_key *k)
{
    k->len = 0;
    if (RAND_bytes(k->bytes, CF_AUTH_KEY_DEFAULT) != 1)
        return CF_EINTERNAL;
    k->len = CF_AUTH_KEY_DEFAULT;
    return 0;
}

void cf_auth_key_fini(struct cf_auth_key *k)
{
    OPENSSL_cleanse(k->bytes, sizeof(k->bytes));
    k->len = 0;
}

/* A key file is at most 256 hex digits and a line end; 1 KiB is generous. */
#define KEY_FILE_MAX 1024

int cf_auth_key_load(struct cf_auth_key *k, const char *path, char *err)
{
    char buf[KEY_FILE_MAX + 1];
    size_t n = 0, digits;
    int rc;

    k->len = 0;
    rc = cf_io_read_key_file(path, true, buf, sizeof(buf), &n, err);
    if (rc < 0)
        goto out;
    digits = n;
    if (digits > 0 && buf[digits - 1] == '\n') {
        digits--;
        if (digits > 0 && buf[digits - 1] == '\r')
            digits--;
    }
    if (digits % 2 != 0 || digits < 2 * CF_AUTH_KEY_MIN || digits > 2 * CF_AUTH_KEY_MAX ||
        cf_hex_decode(buf, digits / 2, k->bytes, true) < 0) {
        rc = CF_EINVAL;
        cf_err_set(err, "key file \"%s\" must hold %d to %d hex digits and one line end", path,
                   2 * CF_AUTH_KEY_MIN, 2 * CF_AUTH_KEY_MAX);
        OPENSSL_cleanse(k->bytes, sizeof(k->bytes));
        goto out;
    }
    k->len = digits / 2;
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

int cf_auth_key_save(const struct cf_auth_key *k, const char *path, char *err)
{
    char text[2 * CF_AUTH_KEY_MAX + 1];
    char why[CF_ERR_LEN] = "";
    int rc;

    if (k->len < CF_AUTH_KEY_MIN || k->len > CF_AUTH_KEY_MAX) {
        cf_err_set(err, "key length %zu is out of bounds", k->len);
        return CF_EINVAL;
    }
    cf_hex_encode(k->bytes, k->len, text);
    text[2 * k->len] = '\n';
    /* An existing key is never replaced: every gateway must keep one key. */
    rc = cf_io_write_file(path, text, 2 * k->len + 1, 0600, false, why);
    OPENSSL_cleanse(text, sizeof(text));
    if (rc < 0 && rc != CF_EEXIST)
        cf_log(CF_LOG_ERROR, "saving the key file: %s", why);
    cf_err_set(err, "%s", why);
    return rc;
}

/* ---- bearer tokens ------------------------------------------------------ */

#define TOKEN_VERSION  1
#define TOKEN_NONCE    16
#define TOKEN_B64_BODY 66 /* b64_len(CF_AUTH_TOKEN_PAYLOAD_LEN) */
#define TOKEN_B64_MAC  86 /* b64_len(CF_AUTH_HASH_LEN) */

/* HMAC, fetched once: OpenSSL 3's one-shot HMAC() looks the algorithm up
 * in its provider store on every call, under a lock every request thread
 * shares (every gateway request checks a token). NULL if OpenSSL has none.
 *
 * Each thread also keeps one context keyed with the key it last used.
 * Keying a context fetches SHA-512 from that store again, allocates four
 * digest contexts and hashes the key's two pads; a keyed context given
 * EVP_MAC_init with no key restarts from its saved pads instead, without
 * a lookup or an allocation, and the gateway checks every token with the
 * same key. The cache is freed (its copy of the key wiped) when its thread
 * ends; without a thread key (pthread_key_create failed) every call keys
 * a fresh context. */
struct mac_cache {
    EVP_MAC_CTX *ctx;             /* NULL until first keyed */
    size_t len;                   /* 0: ctx holds no usable key */
    uint8_t key[CF_AUTH_KEY_MAX]; /* the key ctx is keyed with */
};

static pthread_once_t mac_once = PTHREAD_ONCE_INIT;
static EVP_MAC *mac_alg;
static pthread_key_t mac_tls;
static bool mac_tls_ok;

static void mac_cache_free(void *p)
{
    struct mac_cache *c = p;

    EVP_MAC_CTX_free(c->ctx);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

static void mac_fetch(void)
{
    mac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    mac_tls_ok = pthread_key_create(&mac_tls, mac_cache_free) == 0;
}

/* This thread's cache, made on first use; NULL without a thread key. */
static struct mac_cache *mac_cache_get(void)
{
    struct mac_cache *c;

    if (!mac_tls_ok)
        return NULL;
    c = pthread_getspecific(mac_tls);
    if (c == NULL) {
        c = cf_xcalloc(1, sizeof(*c));
        if (pthread_setspecific(mac_tls, c) != 0) {
            free(c);
            c = NULL;
        }
    }
    return c;
}

/* A context ready for data, keyed with k: the thread's cached one
 * (restarted, or keyed anew if it holds another key), or else a fresh one
 * returned in *fresh too, for the caller to free. NULL if libcrypto fails. */
static EVP_MAC_CTX *mac_ctx(const struct cf_auth_key *k, EVP_MAC_CTX **fresh)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)(uintptr_t) "SHA512", 0),
        OSSL_PARAM_construct_end()};
    struct mac_cache *c = mac_cache_get();

    *fresh = NULL;
    if (c == NULL) {
        *fresh = EVP_MAC_CTX_new(mac_alg);
        if (*fresh == NULL || EVP_MAC_init(*fresh, k->bytes, k->len, params) != 1)
            return NULL;
        return *fresh;
    }
    if (c->len != 0 && c->len == k->len && CRYPTO_memcmp(c->key, k->bytes, k->len) == 0)
        return EVP_MAC_init(c->ctx, NULL, 0, NULL) == 1 ? c->ctx : NULL;
    c->len = 0;
    if (c->ctx == NULL)
        c->ctx = EVP_MAC_CTX_new(mac_alg);
    if (c->ctx == NULL || EVP_MAC_init(c->ctx, k->bytes, k->len, params) != 1)
        return NULL;
    memcpy(c->key, k->bytes, k->len);
    c->len = k->len;
    return c->ctx;
}

/* HMAC-SHA512 of msg (n bytes) keyed with k. Returns 0 or CF_EINTERNAL. */
static int hmac512(const struct cf_auth_key *k, const uint8_t *msg, size_t n,
                   uint8_t mac[CF_AUTH_HASH_LEN])
{
    EVP_MAC_CTX *ctx, *fresh = NULL;
    size_t outlen = 0;
    int rc = CF_EINTERNAL;

    pthread_once(&mac_once, mac_fetch);
    if (mac_alg == NULL)
        return CF_EINTERNAL;
    ctx = mac_ctx(k, &fresh);
    if (ctx == NULL || EVP_MAC_update(ctx, msg, n) != 1 ||
        EVP_MAC_final(ctx, mac, &outlen, CF_AUTH_HASH_LEN) != 1 || outlen != CF_AUTH_HASH_LEN) {
        /* A cached context that failed midway is keyed anew next time. */
        struct mac_cache *c = mac_tls_ok ? pthread_getspecific(mac_tls) : NULL;
        if (c != NULL)
            c->len = 0;
        goto out;
    }
    rc = 0;
out:
    EVP_MAC_CTX_free(fresh);
    return rc;
}

static int token_mac(const struct cf_auth_key *k, const uint8_t *payload,
                     uint8_t mac[CF_AUTH_HASH_LEN])
{
    return hmac512(k, payload, CF_AUTH_TOKEN_PAYLOAD_LEN, mac);
}

static bool key_ok(const struct cf_auth_key *k)
{
    return k->len >= CF_AUTH_KEY_MIN && k->len <= CF_AUTH_KEY_MAX;
}

int cf_auth_token_issue(const struct cf_auth_key *k, uint64_t client_id, uint64_t user_id,
                        uint64_t now_s, uint64_t ttl_s, char out[CF_AUTH_TOKEN_SIZE])
{
    uint8_t payload[CF_AUTH_TOKEN_PAYLOAD_LEN], mac[CF_AUTH_HASH_LEN];
    int rc;

    out[0] = '\0';
    if (!key_ok(k) || ttl_s == 0 || ttl_s > CF_AUTH_TOKEN_TTL_MAX || now_s > UINT64_MAX - ttl_s)
        return CF_EINVAL;
    payload[0] = TOKEN_VERSION;
    put_u64(payload + 1, client_id);
    put_u64(payload + 9, user_id);
    put_u64(payload + 17, now_s);
    put_u64(payload + 25, now_s + ttl_s);
    if (RAND_bytes(payload + 33, TOKEN_NONCE) != 1)
        return CF_EINTERNAL;
    rc = token_mac(k, payload, mac);
    if (rc < 0)
        return rc;
    b64_encode(payload, sizeof(payload), out);
    out[TOKEN_B64_BODY] = '.';
    b64_encode(mac, sizeof(mac), out + TOKEN_B64_BODY + 1);
    out[CF_AUTH_TOKEN_LEN] = '\0';
    return 0;
}

int cf_auth_token_verify(const struct cf_auth_key *k, const char *token, size_t len, uint64_t now_s,
                         struct cf_auth_token_info *info)
{
    uint8_t payload[CF_AUTH_TOKEN_PAYLOAD_LEN], mac[CF_AUTH_HASH_LEN], want[CF_AUTH_HASH_LEN];
    struct cf_auth_token_info t;
    int rc;

    /* The length is public (every token has it), so refusing early leaks nothing. */
    if (len != CF_AUTH_TOKEN_LEN || !key_ok(k))
        return CF_EAUTH;
    if (token[TOKEN_B64_BODY] != '.' || b64_decode(token, sizeof(payload), payload) < 0 ||
        b64_decode(token + TOKEN_B64_BODY + 1, sizeof(mac), mac) < 0)
        return CF_EAUTH;
    rc = token_mac(k, payload, want);
    if (rc < 0)
        return rc;
    if (CRYPTO_memcmp(mac, want, sizeof(mac)) != 0)
        return CF_EAUTH;
    /* From here on the payload is ours: checks below catch our own mistakes
     * (another version, a clock gone wrong), not forgeries. */
    if (payload[0] != TOKEN_VERSION)
        return CF_EAUTH;
    t.client_id = get_u64(payload + 1);
    t.user_id = get_u64(payload + 9);
    t.issued_at = get_u64(payload + 17);
    t.expires_at = get_u64(payload + 25);
    if (t.expires_at <= t.issued_at || t.expires_at - t.issued_at > CF_AUTH_TOKEN_TTL_MAX)
        return CF_EAUTH;
    /* Written so that no sum can wrap (fuzz corpus: crash-skew-overflow). */
    if (now_s >= t.expires_at ||
        (t.issued_at > now_s && t.issued_at - now_s > CF_AUTH_TOKEN_SKEW_S))
        return CF_EAUTH;
    if (info != NULL)
        *info = t;
    return 0;
}

/* ---- download links ------------------------------------------------------ */

/* The MAC of a link: HMAC-SHA512 over a domain tag (so a link's MAC can
 * never pass as a token's), the three numbers and what, cut to
 * CF_AUTH_LINK_MAC_LEN bytes. */
static int link_mac(const struct cf_auth_key *k, uint64_t client_id, uint64_t user_id,
                    uint64_t expires_s, const char *what, uint8_t out[CF_AUTH_LINK_MAC_LEN])
{
    static const char tag[] = "coffer download link v1";
    size_t wl = strlen(what), n = sizeof(tag) + 24 + wl;
    uint8_t mac[CF_AUTH_HASH_LEN], *msg = cf_xmalloc(n);
    int rc = CF_EINTERNAL;

    memcpy(msg, tag, sizeof(tag));
    for (int i = 0; i < 8; i++) {
        msg[sizeof(tag) + i] = (uint8_t)(client_id >> (56 - 8 * i));
        msg[sizeof(tag) + 8 + i] = (uint8_t)(user_id >> (56 - 8 * i));
        msg[sizeof(tag) + 16 + i] = (uint8_t)(expires_s >> (56 - 8 * i));
    }
    memcpy(msg + sizeof(tag) + 24, what, wl);
    if (hmac512(k, msg, n, mac) == 0) {
        memcpy(out, mac, CF_AUTH_LINK_MAC_LEN);
        rc = 0;
    }
    free(msg);
    OPENSSL_cleanse(mac, sizeof(mac));
    return rc;
}

int cf_auth_link_issue(const struct cf_auth_key *k, uint64_t client_id, uint64_t user_id,
                       uint64_t now_s, uint64_t ttl_s, const char *what,
                       char out[CF_AUTH_LINK_SIZE])
{
    uint8_t mac[CF_AUTH_LINK_MAC_LEN];
    char hex[2 * CF_AUTH_LINK_MAC_LEN + 1];
    uint64_t exp = now_s + ttl_s;

    out[0] = '\0';
    if (!key_ok(k) || ttl_s == 0 || ttl_s > CF_AUTH_LINK_TTL_MAX || now_s > UINT64_MAX - ttl_s)
        return CF_EINVAL;
    if (link_mac(k, client_id, user_id, exp, what, mac) < 0)
        return CF_EINTERNAL;
    cf_hex_encode(mac, sizeof(mac), hex);
    (void)snprintf(out, CF_AUTH_LINK_SIZE, "%" PRIu64 ".%" PRIu64 ".%" PRIu64 ".%s", client_id,
                   user_id, exp, hex);
    return 0;
}

/* A decimal number of 1..20 digits, no sign or leading zero, ending at
 * the '.' after it; *p moves past the '.'. */
static bool link_number(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    size_t n = 0;

    while (s[n] >= '0' && s[n] <= '9' && n < 20) {
        if (v > (UINT64_MAX - (uint64_t)(s[n] - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(s[n] - '0');
        n++;
    }
    if (n == 0 || s[n] != '.' || (n > 1 && s[0] == '0'))
        return false;
    *out = v;
    *p = s + n + 1;
    return true;
}

int cf_auth_link_verify(const struct cf_auth_key *k, const char *link, uint64_t now_s,
                        const char *what, struct cf_auth_token_info *info)
{
    uint8_t want[CF_AUTH_LINK_MAC_LEN], got[CF_AUTH_LINK_MAC_LEN];
    uint64_t client = 0, user = 0, exp = 0;
    const char *p = link;
    int rc;

    if (!key_ok(k) || strnlen(link, CF_AUTH_LINK_SIZE) >= CF_AUTH_LINK_SIZE ||
        !link_number(&p, &client) || !link_number(&p, &user) || !link_number(&p, &exp) ||
        strlen(p) != 2 * CF_AUTH_LINK_MAC_LEN ||
        cf_hex_decode(p, CF_AUTH_LINK_MAC_LEN, got, false) < 0)
        return CF_EAUTH;
    rc = link_mac(k, client, user, exp, what, want);
    if (rc < 0)
        return rc;
    if (CRYPTO_memcmp(want, got, sizeof(want)) != 0 || now_s >= exp ||
        exp - now_s > CF_AUTH_LINK_TTL_MAX)
        return CF_EAUTH;
    if (info != NULL) {
        info->client_id = client;
        info->user_id = user;
        info->issued_at = exp - CF_AUTH_LINK_TTL_MAX;
        info->expires_at = exp;
    }
    return 0;
}

/* ---- the Authorization header ------------------------------------------- */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_token68(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

int cf_auth_bearer_parse(const char *value, size_t len, struct cf_span *token)
{
    static const char scheme[] = "bearer";
    size_t i = 0, start, end;

    if (value == NULL || len > CF_AUTH_HEADER_MAX)
        return CF_EAUTH;
    while (i < len && is_ows(value[i]))
        i++;
    if (len - i < sizeof(scheme) - 1)
        return CF_EAUTH;
    for (size_t j = 0; j < sizeof(scheme) - 1; j++) {
        char c = value[i + j];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != scheme[j])
            return CF_EAUTH;
    }
    i += sizeof(scheme) - 1;
    if (i >= len || value[i] != ' ')
        return CF_EAUTH;
    while (i < len && value[i] == ' ')
        i++;
    start = i;
    while (i < len && is_token68(value[i]))
        i++;
    if (i == start)
        return CF_EAUTH;
    while (i < len && value[i] == '=')
        i++;
    end = i;
    while (i < len && is_ows(value[i]))
        i++;
    if (i != len)
        return CF_EAUTH;
    *token = cf_span_of(value + start, end - start);
    return 0;
}

/* ---- failed-login limiter ----------------------------------------------- */

#define LIM_WAYS   8  /* entries per bucket */
#define LIM_ID_LEN 16 /* bytes of keyed SHA-512 kept per key: collisions need ~2^64 tries */
#define LIM_SECRET 32

struct lim_entry {
    uint8_t id[LIM_ID_LEN];
    uint64_t last_ms;  /* the last failure */
    uint32_t failures; /* 0: the entry is free */
};

struct cf_auth_limiter {
    pthread_mutex_t mu;
    struct cf_auth_limiter_conf conf;
    size_t nbuckets;
    uint8_t secret[LIM_SECRET];
    struct lim_entry *e; /* nbuckets * LIM_WAYS */
};

static uint64_t default_clock(void *arg)
{
    (void)arg;
    return cf_now_ns() / 1000000;
}

int cf_auth_limiter_new(const struct cf_auth_limiter_conf *conf, struct cf_auth_limiter **out)
{
    struct cf_auth_limiter *l = NULL;
    size_t entries;
    int rc = 0;

    *out = NULL;
    if (conf->base_delay_ms < 1 || conf->max_delay_ms < conf->base_delay_ms ||
        conf->forget_ms < conf->max_delay_ms || conf->entries < 1 ||
        conf->entries > CF_AUTH_LIMITER_MAX)
        return CF_EINVAL;
    entries = (conf->entries + LIM_WAYS - 1) / LIM_WAYS * LIM_WAYS;
    l = cf_xcalloc(1, sizeof(*l));
    l->conf = *conf;
    l->conf.entries = entries;
    if (l->conf.clock == NULL)
        l->conf.clock = default_clock;
    l->nbuckets = entries / LIM_WAYS;
    l->e = cf_xcalloc(entries, sizeof(*l->e));
    if (RAND_bytes(l->secret, LIM_SECRET) != 1) {
        rc = CF_EINTERNAL;
        goto out;
    }
    cf_assert(pthread_mutex_init(&l->mu, NULL) == 0);
    *out = l;
    l = NULL;
out:
    if (l != NULL) {
        free(l->e);
        free(l);
    }
    return rc;
}

void cf_auth_limiter_free(struct cf_auth_limiter *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->mu);
    OPENSSL_cleanse(l->secret, sizeof(l->secret));
    free(l->e);
    free(l);
}

/* id = SHA-512(secret || len(part) || part || ...), cut to LIM_ID_LEN. The
 * length prefixes keep {"ab","c"} and {"a","bc"} apart. */
static int lim_id(const struct cf_auth_limiter *l, const struct cf_span *parts, size_t nparts,
                  uint8_t id[LIM_ID_LEN])
{
    uint8_t d[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *md = NULL;
    int rc = CF_EINTERNAL;

    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha512(), NULL) != 1 ||
        EVP_DigestUpdate(md, l->secret, sizeof(l->secret)) != 1)
        goto out;
    for (size_t i = 0; i < nparts; i++) {
        uint8_t n[8];
        put_u64(n, parts[i].len);
        if (EVP_DigestUpdate(md, n, sizeof(n)) != 1 ||
            (parts[i].len > 0 && EVP_DigestUpdate(md, parts[i].ptr, parts[i].len) != 1))
            goto out;
    }
    if (EVP_DigestFinal_ex(md, d, NULL) != 1)
        goto out;
    memcpy(id, d, LIM_ID_LEN);
    rc = 0;
out:
    EVP_MD_CTX_free(md);
    return rc;
}

static struct lim_entry *lim_bucket(struct cf_auth_limiter *l, const uint8_t id[LIM_ID_LEN])
{
    uint64_t h = get_u64(id);
    return l->e + (h % l->nbuckets) * LIM_WAYS;
}

static bool lim_expired(const struct cf_auth_limiter *l, const struct lim_entry *e, uint64_t now)
{
    /* A clock that steps back counts as no time passed. */
    return now > e->last_ms && now - e->last_ms >= l->conf.forget_ms;
}

/* The wait after e's last failure before its next try (0: none). */
static uint64_t lim_delay(const struct cf_auth_limiter *l, const struct lim_entry *e)
{
    uint32_t over;
    uint64_t d = l->conf.base_delay_ms;

    if (e->failures <= l->conf.free_failures)
        return 0;
    over = e->failures - l->conf.free_failures;
    for (uint32_t i = 1; i < over && d < l->conf.max_delay_ms; i++)
        d *= 2;
    return d < l->conf.max_delay_ms ? d : l->conf.max_delay_ms;
}

/* The live entry for id, or NULL; frees it on the way if it is forgotten. */
static struct lim_entry *lim_find(struct cf_auth_limiter *l, const uint8_t id[LIM_ID_LEN],
                                  uint64_t now)
{
    struct lim_entry *b = lim_bucket(l, id);

    for (int i = 0; i < LIM_WAYS; i++) {
        if (b[i].failures == 0 || memcmp(b[i].id, id, LIM_ID_LEN) != 0)
            continue;
        if (lim_expired(l, &b[i], now)) {
            b[i].failures = 0;
            return NULL;
        }
        return &b[i];
    }
    return NULL;
}

/* A slot for a new id: free or forgotten first, else the entry with the
 * fewest failures, the oldest among equals (auth.h explains why). */
static struct lim_entry *lim_victim(struct cf_auth_limiter *l, const uint8_t id[LIM_ID_LEN],
                                    uint64_t now)
{
    struct lim_entry *b = lim_bucket(l, id), *v = NULL;

    for (int i = 0; i < LIM_WAYS; i++) {
        if (b[i].failures == 0 || lim_expired(l, &b[i], now))
            return &b[i];
        if (v == NULL || b[i].failures < v->failures ||
            (b[i].failures == v->failures && b[i].last_ms < v->last_ms))
            v = &b[i];
    }
    return v;
}

/* Is e (may be NULL) to wait at now? Sets *retry_after_ms (may be NULL). */
static int lim_refuse(const struct cf_auth_limiter *l, const struct lim_entry *e, uint64_t now,
                      uint64_t *retry_after_ms)
{
    uint64_t d;

    if (e == NULL)
        return 0;
    d = lim_delay(l, e);
    if (d == 0 || (now > e->last_ms && now - e->last_ms >= d))
        return 0;
    if (retry_after_ms != NULL)
        *retry_after_ms = now < e->last_ms ? d : e->last_ms + d - now;
    return CF_ETOOMANY;
}

/* Record a failure of id at now. mu held. */
static struct lim_entry *lim_record(struct cf_auth_limiter *l, struct lim_entry *e,
                                    const uint8_t id[LIM_ID_LEN], uint64_t now)
{
    if (e == NULL) {
        e = lim_victim(l, id, now);
        memcpy(e->id, id, LIM_ID_LEN);
        e->failures = 0;
    }
    if (e->failures < UINT32_MAX)
        e->failures++;
    if (now > e->last_ms || e->failures == 1)
        e->last_ms = now;
    return e;
}

int cf_auth_limiter_attempt(struct cf_auth_limiter *l, const struct cf_span *parts, size_t nparts,
                            uint64_t *retry_after_ms, unsigned *prior)
{
    uint8_t id[LIM_ID_LEN];
    struct lim_entry *e;
    uint64_t now;
    int rc;

    if (nparts == 0)
        return CF_EINVAL;
    /* Hashing fails only if libcrypto cannot allocate; then refuse rather than
     * let an attacker past the limiter. */
    if (lim_id(l, parts, nparts, id) < 0)
        return CF_EBUSY;
    cf_assert(pthread_mutex_lock(&l->mu) == 0);
    now = l->conf.clock(l->conf.clock_arg);
    e = lim_find(l, id, now);
    rc = lim_refuse(l, e, now, retry_after_ms);
    if (rc == 0) {
        if (prior != NULL)
            *prior = e != NULL ? e->failures : 0;
        (void)lim_record(l, e, id, now);
    }
    cf_assert(pthread_mutex_unlock(&l->mu) == 0);
    return rc;
}

int cf_auth_limiter_check(struct cf_auth_limiter *l, const struct cf_span *parts, size_t nparts,
                          uint64_t *retry_after_ms)
{
    uint8_t id[LIM_ID_LEN];
    uint64_t now;
    int rc;

    if (nparts == 0)
        return CF_EINVAL;
    if (lim_id(l, parts, nparts, id) < 0)
        return CF_EBUSY;
    cf_assert(pthread_mutex_lock(&l->mu) == 0);
    now = l->conf.clock(l->conf.clock_arg);
    rc = lim_refuse(l, lim_find(l, id, now), now, retry_after_ms);
    cf_assert(pthread_mutex_unlock(&l->mu) == 0);
    return rc;
}

void cf_auth_limiter_fail(struct cf_auth_limiter *l, const struct cf_span *parts, size_t nparts)
{
    uint8_t id[LIM_ID_LEN];
    uint64_t now;

    if (nparts == 0 || lim_id(l, parts, nparts, id) < 0)
        return;
    cf_assert(pthread_mutex_lock(&l->mu) == 0);
    now = l->conf.clock(l->conf.clock_arg);
    (void)lim_record(l, lim_find(l, id, now), id, now);
    cf_assert(pthread_mutex_unlock(&l->mu) == 0);
}

void cf_auth_limiter_success(struct cf_auth_limiter *l, const struct cf_span *parts, size_t nparts)
{
    uint8_t id[LIM_ID_LEN];
    struct lim_entry *e;

    if (nparts == 0 || lim_id(l, parts, nparts, id) < 0)
        return;
    cf_assert(pthread_mutex_lock(&l->mu) == 0);
    e = lim_find(l, id, l->conf.clock(l->conf.clock_arg));
    if (e != NULL)
        e->failures = 0;
    cf_assert(pthread_mutex_unlock(&l->mu) == 0);
}

void cf_auth_limiter_unfail(struct cf_auth_limiter *l, const struct cf_span *parts, size_t nparts)
{
    uint8_t id[LIM_ID_LEN];
    struct lim_entry *e;

    if (nparts == 0 || lim_id(l, parts, nparts, id) < 0)
        return;
    cf_assert(pthread_mutex_lock(&l->mu) == 0);
    e = lim_find(l, id, l->conf.clock(l->conf.clock_arg));
    if (e != NULL && e->failures > 0)
        e->failures--;
    cf_assert(pthread_mutex_unlock(&l->mu) == 0);
}

size_t cf_auth_limiter_count(struct cf_auth_limiter *l)
{
    size_t n = 0;

    cf_assert(pthread_mutex_lock(&l->mu) == 0);
    for (size_t i = 0; i < l->conf.entries; i++)
        n += l->e[i].failures != 0;
    cf_assert(pthread_mutex_unlock(&l->mu) == 0);
    return n;
}
