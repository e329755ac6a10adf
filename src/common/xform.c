/*
 * xform.c -- encode and decode the stored format of transformed objects
 * (xform.h has the format and the contract).
 */
#include "coffer/xform.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "coffer/err.h"
#include "coffer/hex.h"

#define MAGIC      "CFX1"
#define FOOTER_LEN 16
#define TAG_LEN    16
#define NONCE_LEN  12
/* plain size u64, frame count u64, plain SHA-512 */
#define TRAILER_FIXED (8 + 8 + CF_SHA512_LEN)
#define RAW_BIT       0x80000000u
#define AAD_LEN       (4 + 8 + 4 + 1 + 1)
#define DOMAIN_FRAME  0u
#define DOMAIN_TRAIL  1u

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int cf_xform_parse(const char *transform, const char *keyhex, unsigned *flags,
                   uint8_t key[CF_XFORM_KEY_LEN], char *err)
{
    unsigned fl = 0;

    memset(key, 0, CF_XFORM_KEY_LEN);
    *flags = 0;
    if (transform == NULL || (strcmp(transform, "z") != 0 && strcmp(transform, "e") != 0 &&
                              strcmp(transform, "ze") != 0)) {
        cf_err_set(err, "%s must be z, e or ze", CF_XFORM_HEADER);
        return CF_EBADREQ;
    }
    if (strchr(transform, 'z') != NULL)
        fl |= CF_XFORM_Z;
    if (strchr(transform, 'e') != NULL)
        fl |= CF_XFORM_E;
    if (!(fl & CF_XFORM_E)) {
        if (keyhex != NULL) {
            cf_err_set(err, "%s is only for a transform with e", CF_XFORM_KEY_HEADER);
            return CF_EBADREQ;
        }
    } else if (keyhex == NULL || strlen(keyhex) != 2 * CF_XFORM_KEY_LEN ||
               cf_hex_decode(keyhex, CF_XFORM_KEY_LEN, key, true) < 0) {
        memset(key, 0, CF_XFORM_KEY_LEN);
        cf_err_set(err, "%s must be %d hex digits with transform %s", CF_XFORM_KEY_HEADER,
                   2 * CF_XFORM_KEY_LEN, transform);
        return CF_EBADREQ;
    }
    *flags = fl;
    return 0;
}

static void nonce_of(uint8_t nonce[NONCE_LEN], uint32_t domain, uint64_t index)
{
    put_u32(nonce, domain);
    put_u64(nonce + 4, index);
}

static void frame_aad(uint8_t aad[AAD_LEN], uint64_t index, uint32_t plain_len, bool last, bool raw)
{
    memcpy(aad, MAGIC, 4);
    put_u64(aad + 4, index);
    put_u32(aad + 12, plain_len);
    aad[16] = last ? 1 : 0;
    aad[17] = raw ? 1 : 0;
}

/* AES-256-GCM seal of in[0..n) into out (may equal in), tag after it. */
static int seal(EVP_CIPHER_CTX *cc, const uint8_t nonce[NONCE_LEN], const uint8_t *aad,
                size_t aad_len, const uint8_t *in, size_t n, uint8_t *out)
{
    int l = 0;

    if (EVP_EncryptInit_ex(cc, NULL, NULL, NULL, nonce) != 1 ||
        EVP_EncryptUpdate(cc, NULL, &l, aad, (int)aad_len) != 1 ||
        (n > 0 && EVP_EncryptUpdate(cc, out, &l, in, (int)n) != 1) ||
        EVP_EncryptFinal_ex(cc, out + n, &l) != 1 ||
        EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + n) != 1)
        return CF_EINTERNAL;
    return 0;
}

/* Open in[0..n) (ciphertext then tag) into out (may equal in): n - TAG_LEN
 * bytes. Returns 0 or CF_ECHECKSUM when it does not authenticate. */
static int unseal(EVP_CIPHER_CTX *cc, const uint8_t nonce[NONCE_LEN], const uint8_t *aad,
                  size_t aad_len, const uint8_t *in, size_t n, uint8_t *out)
{
    uint8_t tag[TAG_LEN];
    size_t m;
    int l = 0;

    if (n < TAG_LEN)
        return CF_ECHECKSUM;
    m = n - TAG_LEN;
    memcpy(tag, in + m, TAG_LEN);
    if (EVP_DecryptInit_ex(cc, NULL, NULL, NULL, nonce) != 1 ||
        EVP_DecryptUpdate(cc, NULL, &l, aad, (int)aad_len) != 1 ||
        (m > 0 && EVP_DecryptUpdate(cc, out, &l, in, (int)m) != 1) ||
        EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
        return CF_EINTERNAL;
    if (EVP_DecryptFinal_ex(cc, out + m, &l) != 1)
        return CF_ECHECKSUM;
    return 0;
}

static EVP_CIPHER_CTX *cipher_new(const uint8_t *key, bool enc)
{
    EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
    int ok;

    if (cc == NULL)
        return NULL;
    ok = enc ? EVP_EncryptInit_ex(cc, EVP_aes_256_gcm(), NULL, key, NULL)
             : EVP_DecryptInit_ex(cc, EVP_aes_256_gcm(), NULL, key, NULL);
    if (ok != 1) {
        EVP_CIPHER_CTX_free(cc);
        return NULL;
    }
    return cc;
}

/* ---- encoder ---- */

struct cf_xform_enc {
    unsigned flags;
    cf_xform_sink_fn sink;
    void *ctx;
    ZSTD_CCtx *zc;
    EVP_CIPHER_CTX *cc;
    /* The frame being filled, and a stored frame (compress bound plus the
     * tag): both grow to what the object needs, up to a frame, so that a
     * small object costs little memory. */
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_cap;
    uint32_t *ent; /* index entries so far */
    size_t nent, ent_cap;
    uint64_t size;
    struct cf_sha512 sha;
    int err;
};

uint64_t cf_xform_bound(uint64_t size, unsigned flags)
{
    uint64_t n = (size + CF_XFORM_FRAME - 1) / CF_XFORM_FRAME, full = size / CF_XFORM_FRAME;
    uint64_t rest = size % CF_XFORM_FRAME, body = size;

    /* A frame is stored as zstd made it (at most its bound) or as it is. */
    if (flags & CF_XFORM_Z)
        body = full * ZSTD_compressBound(CF_XFORM_FRAME) + (rest ? ZSTD_compressBound(rest) : 0);
    return body + n * (4 + ((flags & CF_XFORM_E) ? TAG_LEN : 0)) + TRAILER_FIXED + TAG_LEN +
           FOOTER_LEN;
}

int cf_xform_enc_new(unsigned flags, const uint8_t *key, cf_xform_sink_fn sink, void *ctx,
                     struct cf_xform_enc **out)
{
    struct cf_xform_enc *e;

    *out = NULL;
    if ((flags & ~(CF_XFORM_Z | CF_XFORM_E)) != 0 || flags == 0 || sink == NULL ||
        ((flags & CF_XFORM_E) && key == NULL))
        return CF_EINVAL;
    e = cf_xcalloc(1, sizeof(*e));
    e->flags = flags;
    e->sink = sink;
    e->ctx = ctx;
    if (cf_sha512_init(&e->sha) < 0)
        goto fail;
    if (flags & CF_XFORM_Z) {
        e->zc = ZSTD_createCCtx();
        if (e->zc == NULL ||
            ZSTD_isError(
                ZSTD_CCtx_setParameter(e->zc, ZSTD_c_compressionLevel, CF_XFORM_ZSTD_LEVEL)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(e->zc, ZSTD_c_checksumFlag, 1)))
            goto fail;
    }
    if (flags & CF_XFORM_E) {
        e->cc = cipher_new(key, true);
        if (e->cc == NULL)
            goto fail;
    }
    *out = e;
    return 0;
fail:
    cf_xform_enc_free(e);
    return CF_EINTERNAL;
}

static int enc_frame(struct cf_xform_enc *e, bool last)
{
    uint64_t index = e->nent;
    const uint8_t *body = e->in;
    size_t blen = e->in_len, total;
    bool raw = true;
    size_t need = ZSTD_compressBound(e->in_len) + TAG_LEN;
    int rc;

    if (e->out_cap < need) {
        free(e->out);
        e->out = cf_xmalloc(need);
        e->out_cap = need;
    }
    if (e->flags & CF_XFORM_Z) {
        size_t r = ZSTD_compress2(e->zc, e->out, e->out_cap - TAG_LEN, e->in, e->in_len);
        if (ZSTD_isError(r))
            return CF_EINTERNAL;
        /* Alone, z always keeps zstd's frame: zstd stores what does not
         * compress as raw blocks, and its checksum covers every frame. */
        if (r < e->in_len || !(e->flags & CF_XFORM_E)) {
            body = e->out;
            blen = r;
            raw = false;
        }
    }
    total = blen;
    if (e->flags & CF_XFORM_E) {
        uint8_t nonce[NONCE_LEN], aad[AAD_LEN];
        nonce_of(nonce, DOMAIN_FRAME, index);
        frame_aad(aad, index, (uint32_t)e->in_len, last, raw);
        rc = seal(e->cc, nonce, aad, sizeof(aad), body, blen, e->out);
        if (rc < 0)
            return rc;
        body = e->out;
        total = blen + TAG_LEN;
    }
    rc = e->sink(e->ctx, body, total);
    if (rc < 0)
        return rc;
    if (e->nent == e->ent_cap) {
        e->ent_cap = e->ent_cap ? 2 * e->ent_cap : 16;
        e->ent = cf_xrealloc(e->ent, e->ent_cap * sizeof(*e->ent));
    }
    e->ent[e->nent++] = (uint32_t)total | (raw ? RAW_BIT : 0);
    e->in_len = 0;
    return 0;
}

int cf_xform_enc_write(struct cf_xform_enc *e, const void *data, size_t n)
{
    const uint8_t *p = data;

    if (e->err < 0)
        return e->err;
    if (n > 0 && cf_sha512_update(&e->sha, data, n) < 0)
        return e->err = CF_EINTERNAL;
    e->size += n;
    while (n > 0) {
        size_t k;
        /* A full frame waits for the next byte: only then is it known not
         * to be the last one, which its AAD says. */
        if (e->in_len == CF_XFORM_FRAME) {
            int rc = enc_frame(e, false);
            if (rc < 0)
                return e->err = rc;
        }
        k = CF_XFORM_FRAME - e->in_len;
        if (k > n)
            k = n;
        if (e->in_len + k > e->in_cap) {
            size_t cap = e->in_cap ? 2 * e->in_cap : 4096;
            while (cap < e->in_len + k)
                cap *= 2;
            if (cap > CF_XFORM_FRAME)
                cap = CF_XFORM_FRAME;
            e->in = cf_xrealloc(e->in, cap);
            e->in_cap = cap;
        }
        memcpy(e->in + e->in_len, p, k);
        e->in_len += k;
        p += k;
        n -= k;
    }
    return 0;
}

int cf_xform_enc_finish(struct cf_xform_enc *e, const uint8_t *expect,
                        uint8_t plain_sha[CF_SHA512_LEN], uint64_t *plain_size)
{
    uint8_t sha[CF_SHA512_LEN], footer[FOOTER_LEN], *t;
    size_t tlen;
    int rc;

    if (e->err < 0)
        return e->err;
    if (cf_sha512_final(&e->sha, sha) < 0)
        return e->err = CF_EINTERNAL;
    if (expect != NULL && memcmp(expect, sha, CF_SHA512_LEN) != 0)
        return e->err = CF_ECHECKSUM;
    if (e->in_len > 0) {
        rc = enc_frame(e, true);
        if (rc < 0)
            return e->err = rc;
    }
    tlen = TRAILER_FIXED + 4 * e->nent + TAG_LEN;
    t = cf_xmalloc(tlen);
    put_u64(t, e->size);
    put_u64(t + 8, e->nent);
    memcpy(t + 16, sha, CF_SHA512_LEN);
    for (size_t i = 0; i < e->nent; i++)
        put_u32(t + TRAILER_FIXED + 4 * i, e->ent[i]);
    memcpy(footer, MAGIC, 4);
    footer[4] = (uint8_t)e->flags;
    footer[5] = footer[6] = footer[7] = 0;
    put_u64(footer + 8, tlen);
    if (e->flags & CF_XFORM_E) {
        uint8_t nonce[NONCE_LEN];
        nonce_of(nonce, DOMAIN_TRAIL, 0);
        rc = seal(e->cc, nonce, footer, sizeof(footer), t, tlen - TAG_LEN, t);
    } else {
        struct cf_sha512 h;
        uint8_t d[CF_SHA512_LEN];
        rc = cf_sha512_init(&h);
        if (rc == 0 && (cf_sha512_update(&h, footer, sizeof(footer)) < 0 ||
                        cf_sha512_update(&h, t, tlen - TAG_LEN) < 0 || cf_sha512_final(&h, d) < 0))
            rc = CF_EINTERNAL;
        cf_sha512_fini(&h);
        memcpy(t + tlen - TAG_LEN, d, TAG_LEN);
    }
    if (rc == 0)
        rc = e->sink(e->ctx, t, tlen);
    if (rc == 0)
        rc = e->sink(e->ctx, footer, sizeof(footer));
    free(t);
    if (rc < 0)
        return e->err = rc;
    if (plain_sha != NULL)
        memcpy(plain_sha, sha, CF_SHA512_LEN);
    if (plain_size != NULL)
        *plain_size = e->size;
    e->err = CF_EINVAL; /* finished: nothing more may be written */
    return 0;
}

void cf_xform_enc_free(struct cf_xform_enc *e)
{
    if (e == NULL)
        return;
    ZSTD_freeCCtx(e->zc);
    EVP_CIPHER_CTX_free(e->cc);
    cf_sha512_fini(&e->sha);
    if (e->in != NULL)
        OPENSSL_cleanse(e->in, e->in_cap);
    free(e->in);
    free(e->out);
    free(e->ent);
    free(e);
}

/* ---- decoder ---- */

struct cf_xform_dec {
    unsigned flags;
    cf_xform_read_fn read;
    void *ctx;
    ZSTD_DCtx *zd;
    EVP_CIPHER_CTX *cc;
    uint64_t size, n;
    uint8_t sha[CF_SHA512_LEN];
    uint32_t *ent;  /* n index entries */
    uint64_t *off;  /* stored offset of each frame */
    uint8_t *sbuf;  /* a stored frame */
    uint8_t *plain; /* the frame decoded last; plain_cap bytes */
    size_t plain_len, plain_cap;
    uint64_t cur; /* its index; UINT64_MAX: none */
    /* Frames 0..hash_next-1 went into hs, in order. With "e" nothing
     * does: authentication already binds every frame to its place and the
     * trailer, so the SHA-512 would only cost time. */
    uint64_t hash_next;
    struct cf_sha512 hs;
};

uint64_t cf_xform_dec_size(const struct cf_xform_dec *d)
{
    return d->size;
}

const uint8_t *cf_xform_dec_sha(const struct cf_xform_dec *d)
{
    return d->sha;
}

static const char *flags_name(unsigned f)
{
    switch (f) {
    case CF_XFORM_Z:
        return "z";
    case CF_XFORM_E:
        return "e";
    case CF_XFORM_Z | CF_XFORM_E:
        return "ze";
    default:
        return "?";
    }
}

/* Check the trailer t (tlen bytes, opened) against the stored size and
 * fill the index of d. */
static int dec_index(struct cf_xform_dec *d, const uint8_t *t, uint64_t tlen, uint64_t stored,
                     char *err)
{
    uint64_t n = (tlen - TRAILER_FIXED - TAG_LEN) / 4, pos = 0, smax = 0;
    size_t extra = (d->flags & CF_XFORM_E) ? TAG_LEN : 0;

    d->size = get_u64(t);
    if (get_u64(t + 8) != n || d->size > n * (uint64_t)CF_XFORM_FRAME ||
        (n > 0 && d->size <= (n - 1) * (uint64_t)CF_XFORM_FRAME)) {
        cf_err_set(err, "the trailer's frame count does not match its size");
        return CF_ECHECKSUM;
    }
    d->n = n;
    memcpy(d->sha, t + 16, CF_SHA512_LEN);
    d->ent = cf_xcalloc(n ? n : 1, sizeof(*d->ent));
    d->off = cf_xcalloc(n ? n : 1, sizeof(*d->off));
    for (uint64_t i = 0; i < n; i++) {
        uint32_t v = get_u32(t + TRAILER_FIXED + 4 * i), len = v & ~RAW_BIT;
        uint64_t plen = i + 1 < n ? CF_XFORM_FRAME : d->size - i * (uint64_t)CF_XFORM_FRAME;
        bool raw = (v & RAW_BIT) != 0, ok;
        if (!(d->flags & CF_XFORM_E))
            ok = !raw && len > 0 && len <= ZSTD_compressBound(plen); /* z alone: all zstd */
        else if (raw)
            ok = len == plen + extra;
        else
            ok = (d->flags & CF_XFORM_Z) && len > extra && len - extra < plen;
        if (!ok) {
            cf_err_set(err, "frame %llu has an impossible stored length", (unsigned long long)i);
            return CF_ECHECKSUM;
        }
        d->ent[i] = v;
        d->off[i] = pos;
        pos += len;
        if (len > smax)
            smax = len;
    }
    if (pos + tlen + FOOTER_LEN != stored) {
        cf_err_set(err, "the frames do not fill the object");
        return CF_ECHECKSUM;
    }
    d->sbuf = cf_xmalloc(smax ? smax : 1);
    d->plain_cap = d->size < CF_XFORM_FRAME ? (size_t)d->size : CF_XFORM_FRAME;
    d->plain = cf_xmalloc(d->plain_cap ? d->plain_cap : 1);
    return 0;
}

int cf_xform_dec_open(unsigned flags, const uint8_t *key, uint64_t stored_size,
                      cf_xform_read_fn read, void *ctx, struct cf_xform_dec **out, char *err)
{
    struct cf_xform_dec *d;
    uint8_t footer[FOOTER_LEN], *t = NULL;
    uint64_t tlen;
    int rc;

    *out = NULL;
    if ((flags & ~(CF_XFORM_Z | CF_XFORM_E)) != 0 || flags == 0 || read == NULL ||
        ((flags & CF_XFORM_E) && key == NULL))
        return CF_EINVAL;
    if (stored_size < FOOTER_LEN + TRAILER_FIXED + TAG_LEN) {
        cf_err_set(err, "the object is too short to be stored with transform %s",
                   flags_name(flags));
        return CF_ECHECKSUM;
    }
    rc = read(ctx, stored_size - FOOTER_LEN, footer, FOOTER_LEN);
    if (rc < 0)
        return rc;
    if (memcmp(footer, MAGIC, 4) != 0 || footer[5] != 0 || footer[6] != 0 || footer[7] != 0) {
        cf_err_set(err, "the object is not stored with a transform");
        return CF_ECHECKSUM;
    }
    if (footer[4] != flags) {
        cf_err_set(err, "the object is stored with transform %s, not %s", flags_name(footer[4]),
                   flags_name(flags));
        return CF_ECHECKSUM;
    }
    tlen = get_u64(footer + 8);
    if (tlen < TRAILER_FIXED + TAG_LEN || tlen > stored_size - FOOTER_LEN ||
        (tlen - TRAILER_FIXED - TAG_LEN) % 4 != 0) {
        cf_err_set(err, "the object's trailer length is impossible");
        return CF_ECHECKSUM;
    }
    d = cf_xcalloc(1, sizeof(*d));
    d->flags = flags;
    d->read = read;
    d->ctx = ctx;
    d->cur = UINT64_MAX;
    d->hash_next = (flags & CF_XFORM_E) ? UINT64_MAX : 0;
    rc = CF_EINTERNAL;
    if (cf_sha512_init(&d->hs) < 0)
        goto fail;
    if (flags & CF_XFORM_Z) {
        d->zd = ZSTD_createDCtx();
        if (d->zd == NULL)
            goto fail;
    }
    if (flags & CF_XFORM_E) {
        d->cc = cipher_new(key, false);
        if (d->cc == NULL)
            goto fail;
    }
    t = cf_xmalloc(tlen);
    rc = read(ctx, stored_size - FOOTER_LEN - tlen, t, tlen);
    if (rc < 0)
        goto fail;
    if (flags & CF_XFORM_E) {
        uint8_t nonce[NONCE_LEN];
        nonce_of(nonce, DOMAIN_TRAIL, 0);
        rc = unseal(d->cc, nonce, footer, sizeof(footer), t, tlen, t);
        if (rc == CF_ECHECKSUM)
            cf_err_set(err, "the key is wrong or the object's trailer is damaged");
    } else {
        struct cf_sha512 h;
        uint8_t dg[CF_SHA512_LEN];
        rc = cf_sha512_init(&h);
        if (rc == 0 && (cf_sha512_update(&h, footer, sizeof(footer)) < 0 ||
                        cf_sha512_update(&h, t, tlen - TAG_LEN) < 0 || cf_sha512_final(&h, dg) < 0))
            rc = CF_EINTERNAL;
        cf_sha512_fini(&h);
        if (rc == 0 && CRYPTO_memcmp(dg, t + tlen - TAG_LEN, TAG_LEN) != 0) {
            cf_err_set(err, "the object's trailer is damaged");
            rc = CF_ECHECKSUM;
        }
    }
    if (rc < 0)
        goto fail;
    rc = dec_index(d, t, tlen, stored_size, err);
    if (rc < 0)
        goto fail;
    if (d->n == 0) {
        /* Nothing to decode: check the recorded SHA-512 here. */
        uint8_t dg[CF_SHA512_LEN];
        if (cf_sha512_final(&d->hs, dg) < 0) {
            rc = CF_EINTERNAL;
            goto fail;
        }
        if (memcmp(dg, d->sha, CF_SHA512_LEN) != 0) {
            cf_err_set(err, "the object's SHA-512 does not match its bytes");
            rc = CF_ECHECKSUM;
            goto fail;
        }
    }
    free(t);
    *out = d;
    return 0;
fail:
    free(t);
    cf_xform_dec_free(d);
    return rc;
}

static int dec_frame(struct cf_xform_dec *d, uint64_t i, char *err)
{
    uint32_t v = d->ent[i], slen = v & ~RAW_BIT;
    bool raw = (v & RAW_BIT) != 0, last = i + 1 == d->n;
    size_t plen = last ? (size_t)(d->size - i * (uint64_t)CF_XFORM_FRAME) : CF_XFORM_FRAME;
    uint8_t *body = d->sbuf;
    size_t blen = slen;
    int rc;

    d->cur = UINT64_MAX;
    rc = d->read(d->ctx, d->off[i], body, slen);
    if (rc < 0)
        return rc;
    if (d->flags & CF_XFORM_E) {
        uint8_t nonce[NONCE_LEN], aad[AAD_LEN];
        nonce_of(nonce, DOMAIN_FRAME, i);
        frame_aad(aad, i, (uint32_t)plen, last, raw);
        rc = unseal(d->cc, nonce, aad, sizeof(aad), d->sbuf, slen, raw ? d->plain : d->sbuf);
        if (rc < 0) {
            cf_err_set(err, "frame %llu does not authenticate", (unsigned long long)i);
            return rc;
        }
        blen = slen - TAG_LEN;
    }
    if (!raw) {
        size_t r = ZSTD_decompressDCtx(d->zd, d->plain, plen, d->sbuf, blen);
        if (ZSTD_isError(r) || r != plen) {
            cf_err_set(err, "frame %llu does not decompress", (unsigned long long)i);
            return CF_ECHECKSUM;
        }
    }
    d->plain_len = plen;
    if (i == d->hash_next) {
        if (cf_sha512_update(&d->hs, d->plain, plen) < 0)
            return CF_EINTERNAL;
        d->hash_next++;
        if (last) {
            uint8_t dg[CF_SHA512_LEN];
            if (cf_sha512_final(&d->hs, dg) < 0)
                return CF_EINTERNAL;
            if (memcmp(dg, d->sha, CF_SHA512_LEN) != 0) {
                cf_err_set(err, "the object's SHA-512 does not match its bytes");
                return CF_ECHECKSUM;
            }
        }
    }
    d->cur = i;
    return 0;
}

int cf_xform_dec_read(struct cf_xform_dec *d, uint64_t off, void *buf, size_t n, size_t *got,
                      char *err)
{
    uint64_t i, in;
    size_t k;
    int rc;

    *got = 0;
    if (off >= d->size || n == 0)
        return 0;
    i = off / CF_XFORM_FRAME;
    if (d->cur != i) {
        rc = dec_frame(d, i, err);
        if (rc < 0)
            return rc;
    }
    in = off - i * (uint64_t)CF_XFORM_FRAME;
    k = d->plain_len - (size_t)in;
    if (k > n)
        k = n;
    memcpy(buf, d->plain + in, k);
    *got = k;
    return 0;
}

void cf_xform_dec_free(struct cf_xform_dec *d)
{
    if (d == NULL)
        return;
    ZSTD_freeDCtx(d->zd);
    EVP_CIPHER_CTX_free(d->cc);
    cf_sha512_fini(&d->hs);
    if (d->plain != NULL)
        OPENSSL_cleanse(d->plain, d->plain_cap);
    free(d->plain);
    free(d->sbuf);
    free(d->ent);
    free(d->off);
    free(d);
}
