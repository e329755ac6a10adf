/*
 * sha512.c -- streaming SHA-512 over OpenSSL's EVP interface (sha512.h).
 */
#include "coffer/sha512.h"

#include <openssl/evp.h>
#include <pthread.h>

#include "coffer/err.h"
#include "coffer/hex.h"

/* OpenSSL 3's EVP_sha512() is a name that each digest looks up in the
 * provider tables again (EVP_MD_fetch with its locks and string compares:
 * more than the hash itself of a small object). Fetched once here, the
 * implementation is used directly; it lives until the process exits. */
static const EVP_MD *sha512_md;
static pthread_once_t sha512_once = PTHREAD_ONCE_INIT;

static void sha512_fetch(void)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    sha512_md = EVP_MD_fetch(NULL, "SHA512", NULL);
#endif
    if (sha512_md == NULL)
        sha512_md = EVP_sha512();
}

static const EVP_MD *sha512(void)
{
    (void)pthread_once(&sha512_once, sha512_fetch);
    return sha512_md;
}

int cf_sha512_init(struct cf_sha512 *ctx)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    ctx->md = NULL;
    if (md == NULL)
        return CF_EINTERNAL;
    if (EVP_DigestInit_ex(md, sha512(), NULL) != 1) {
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

    if (EVP_Digest(n > 0 ? p : "", n, out, &len, sha512(), NULL) != 1 || len != CF_SHA512_LEN)
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
