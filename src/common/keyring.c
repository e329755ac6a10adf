/*
 * keyring.c -- master keys and the wrapping of object keys (keyring.h).
 */
#include "coffer/keyring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "coffer/err.h"
#include "coffer/hex.h"
#include "coffer/io.h"

#define KID_LEN   4
#define NONCE_LEN 12
#define TAG_LEN   16
/* The file: at most CF_KEYRING_MAX lines of a kid, a space and 64 digits,
 * with room for comments. */
#define FILE_MAX 4096

struct master {
    uint32_t kid;
    uint8_t key[CF_KEYRING_KEY_LEN];
};

struct cf_keyring {
    size_t n;
    struct master keys[CF_KEYRING_MAX]; /* file order: the last is the newest */
};

void cf_keyring_free(struct cf_keyring *kr)
{
    if (kr == NULL)
        return;
    OPENSSL_cleanse(kr, sizeof(*kr));
    free(kr);
}

/* One line "KID HEX64" (w bytes at s) into *m. */
static int parse_line(const char *s, size_t w, struct master *m)
{
    uint64_t kid = 0;
    size_t i = 0;

    while (i < w && s[i] >= '0' && s[i] <= '9' && i < 10)
        kid = kid * 10 + (uint64_t)(s[i++] - '0');
    if (i == 0 || kid == 0 || kid > UINT32_MAX || i >= w || s[i] != ' ')
        return CF_EINVAL;
    i++;
    if (w - i != 2 * CF_KEYRING_KEY_LEN || cf_hex_decode(s + i, CF_KEYRING_KEY_LEN, m->key, true))
        return CF_EINVAL;
    m->kid = (uint32_t)kid;
    return 0;
}

static int parse(struct cf_keyring *kr, const char *buf, size_t len, const char *path, char *err)
{
    size_t i = 0, line = 0;

    while (i < len) {
        size_t e = i, w;

        while (e < len && buf[e] != '\n')
            e++;
        w = e - i;
        if (w > 0 && buf[e - 1] == '\r')
            w--;
        line++;
        if (w > 0 && buf[i] != '#') {
            if (kr->n == CF_KEYRING_MAX) {
                cf_err_set(err, "master key file \"%s\" lists over %d keys", path, CF_KEYRING_MAX);
                return CF_EINVAL;
            }
            if (parse_line(buf + i, w, &kr->keys[kr->n]) < 0) {
                cf_err_set(err,
                           "master key file \"%s\" line %zu is not \"KID HEX64\" (a kid in "
                           "1..4294967295, a space, 64 hex digits)",
                           path, line);
                return CF_EINVAL;
            }
            for (size_t k = 0; k < kr->n; k++) {
                if (kr->keys[k].kid == kr->keys[kr->n].kid) {
                    cf_err_set(err, "master key file \"%s\" lists kid %u twice", path,
                               (unsigned)kr->keys[k].kid);
                    return CF_EINVAL;
                }
            }
            kr->n++;
        }
        i = e + 1;
    }
    if (kr->n == 0) {
        cf_err_set(err, "master key file \"%s\" lists no key", path);
        return CF_EINVAL;
    }
    return 0;
}

int cf_keyring_load(const char *path, struct cf_keyring **out, char *err)
{
    char buf[FILE_MAX + 1];
    struct cf_keyring *kr = calloc(1, sizeof(*kr));
    size_t len = 0;
    int rc;

    *out = NULL;
    if (kr == NULL) {
        cf_err_set(err, "out of memory");
        return CF_ENOMEM;
    }
    rc = cf_io_read_key_file(path, true, buf, sizeof(buf), &len, err);
    if (rc == 0)
        rc = parse(kr, buf, len, path, err);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (rc < 0) {
        cf_keyring_free(kr);
        return rc;
    }
    *out = kr;
    return 0;
}

uint32_t cf_keyring_newest(const struct cf_keyring *kr)
{
    return kr->keys[kr->n - 1].kid;
}

uint32_t cf_keyring_kid_of(const uint8_t *wrapped, size_t len)
{
    if (len != CF_KEYRING_WRAPPED_LEN)
        return 0;
    return (uint32_t)wrapped[0] << 24 | (uint32_t)wrapped[1] << 16 | (uint32_t)wrapped[2] << 8 |
           (uint32_t)wrapped[3];
}

/* AES-256-GCM of n bytes in to out under key and nonce, with aad; tag is
 * written (enc) or checked (!enc). Returns 0, CF_ECORRUPT (tag mismatch) or
 * CF_EINTERNAL. */
static int gcm(bool enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
               size_t aad_len, const uint8_t *in, size_t n, uint8_t *out, uint8_t *tag, char *err)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, ok;

    ok = c != NULL && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
         EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc ? 1 : 0) == 1 &&
         EVP_CipherUpdate(c, NULL, &len, aad, (int)aad_len) == 1 &&
         EVP_CipherUpdate(c, out, &len, in, (int)n) == 1 && (size_t)len == n;
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
    if (!ok) {
        EVP_CIPHER_CTX_free(c);
        cf_err_set(err, "OpenSSL AES-256-GCM failed");
        return CF_EINTERNAL;
    }
    if (EVP_CipherFinal_ex(c, out + len, &len) != 1) {
        EVP_CIPHER_CTX_free(c);
        if (enc) {
            cf_err_set(err, "OpenSSL AES-256-GCM failed");
            return CF_EINTERNAL;
        }
        cf_err_set(err, "the wrapped key does not match its master key");
        return CF_ECORRUPT;
    }
    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1) {
        EVP_CIPHER_CTX_free(c);
        cf_err_set(err, "OpenSSL AES-256-GCM failed");
        return CF_EINTERNAL;
    }
    EVP_CIPHER_CTX_free(c);
    return 0;
}

int cf_keyring_wrap(const struct cf_keyring *kr, const uint8_t key[CF_KEYRING_KEY_LEN],
                    uint8_t out[CF_KEYRING_WRAPPED_LEN], char *err)
{
    const struct master *m = &kr->keys[kr->n - 1];
    uint8_t *nonce = out + KID_LEN, *ct = nonce + NONCE_LEN, *tag = ct + CF_KEYRING_KEY_LEN;
    int rc;

    out[0] = (uint8_t)(m->kid >> 24);
    out[1] = (uint8_t)(m->kid >> 16);
    out[2] = (uint8_t)(m->kid >> 8);
    out[3] = (uint8_t)m->kid;
    if (RAND_bytes(nonce, NONCE_LEN) != 1) {
        cf_err_set(err, "OpenSSL has no random bytes");
        return CF_EINTERNAL;
    }
    rc = gcm(true, m->key, nonce, out, KID_LEN, key, CF_KEYRING_KEY_LEN, ct, tag, err);
    if (rc < 0)
        memset(out, 0, CF_KEYRING_WRAPPED_LEN);
    return rc;
}

int cf_keyring_unwrap(const struct cf_keyring *kr, const uint8_t *wrapped, size_t len,
                      uint8_t key[CF_KEYRING_KEY_LEN], char *err)
{
    uint32_t kid = cf_keyring_kid_of(wrapped, len);
    const uint8_t *nonce = wrapped + KID_LEN, *ct = nonce + NONCE_LEN;
    uint8_t tag[TAG_LEN];
    int rc;

    memset(key, 0, CF_KEYRING_KEY_LEN);
    if (kid == 0) {
        cf_err_set(err, "a wrapped key is %d bytes, not %zu", CF_KEYRING_WRAPPED_LEN, len);
        return CF_EINVAL;
    }
    for (size_t i = 0; i < kr->n; i++) {
        if (kr->keys[i].kid != kid)
            continue;
        memcpy(tag, ct + CF_KEYRING_KEY_LEN, TAG_LEN);
        rc = gcm(false, kr->keys[i].key, nonce, wrapped, KID_LEN, ct, CF_KEYRING_KEY_LEN, key, tag,
                 err);
        if (rc < 0)
            OPENSSL_cleanse(key, CF_KEYRING_KEY_LEN);
        return rc;
    }
    cf_err_set(err, "master key %u is not in the master key file", (unsigned)kid);
    return CF_ENOTFOUND;
}

int cf_keyring_make_file(const char *path, char *err)
{
    uint8_t key[CF_KEYRING_KEY_LEN];
    char text[2 + 2 * CF_KEYRING_KEY_LEN + 2];
    int rc;

    if (RAND_bytes(key, sizeof(key)) != 1) {
        cf_err_set(err, "OpenSSL has no random bytes");
        return CF_EINTERNAL;
    }
    memcpy(text, "1 ", 2);
    cf_hex_encode(key, sizeof(key), text + 2);
    text[sizeof(text) - 2] = '\n';
    text[sizeof(text) - 1] = '\0';
    rc = cf_io_write_file(path, text, sizeof(text) - 1, 0600, false, err);
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(text, sizeof(text));
    if (rc == CF_EEXIST)
        return 0;
    return rc < 0 ? rc : 1;
}
