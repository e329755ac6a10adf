/*
 * sha512.c -- streaming SHA-512 over OpenSSL's EVP interface (sha512.h).
 */
#include "coffer/sha512.h"

#include <openssl/evp.h>

#include "coffer/err.h"
#include "coffer/hex.h"

int cf_sha512_init(struct cf_sha512 *ctx)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    ctx->md = NULL;
    if (md == NULL)
        return CF_EINTERNAL;
    if (EVP_DigestInit_ex(md, EVP_sha512(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return CF_EINTERNAL;
    }
    ctx->md = md;
    return 0;
}

int cf_sha512_update(struct cf_sha512 *ctx, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    return EVP_DigestUpdate(ctx->md, p, n) == 1 ? 0 : CF_EINTERNAL;
}

int cf_sha512_final(struct cf_sha512 *ctx, uint8_t out[CF_SHA512_LEN])
{
    unsigned int n = 0;

    if (EVP_DigestFinal_ex(ctx->md, out, &n) != 1 || n != CF_SHA512_LEN)
        return CF_EINTERNAL;
    return 0;
}

int cf_sha512_once(const void *p, size_t n, uint8_t out[CF_SHA512_LEN])
{
    unsigned int len = 0;

    if (EVP_Digest(n > 0 ? p : "", n, out, &len, EVP_sha512(), NULL) != 1 || len != CF_SHA512_LEN)
        return CF_EINTERNAL;
    return 0;
}

void cf_sha512_fini(struct cf_sha512 *ctx)
{
    EVP_MD_CTX_free(ctx->md);
    ctx->md = NULL;
}

void cf_sha512_hex(const uint8_t d[CF_SHA512_LEN], char hex[CF_SHA512_HEX_LEN + 1])
{
    cf_hex_encode(d, CF_SHA512_LEN, hex);
}

int cf_sha512_parse_hex(const char *s, size_t len, uint8_t out[CF_SHA512_LEN])
{
    if (len != CF_SHA512_HEX_LEN)
        return CF_EINVAL;
    return cf_hex_decode(s, CF_SHA512_LEN, out, true);
}
