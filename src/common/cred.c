/*
 * cred.c -- cluster and operator keys, request signatures (cred.h).
 */
#include "coffer/cred.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "coffer/err.h"
#include "coffer/hex.h"
#include "coffer/io.h"
#include "coffer/log.h"

#define HMAC_SCHEME "Coffer-HMAC-SHA256 "
#define ED_SCHEME   "Coffer-Ed25519 "
#define KID_LEN     4  /* bytes */
#define NONCE_MIN   16 /* hex digits */
#define NONCE_MAX   64
#define NONCE_OUT   32 /* hex digits the signer sends: 128 random bits */
#define TS_DIGITS   15
#define ED_SIG_LEN  64
#define MAC_LEN     32
/* A key file: up to CF_CRED_KEYS_MAX lines of 64 hex digits. */
#define KEY_FILE_MAX 1024
/* Targets are capped by the server's header limit; this bounds the signed string. */
#define TARGET_MAX (64 * 1024)

struct hkey {
    uint8_t key[CF_CRED_KEY_LEN];
    uint8_t kid[KID_LEN];
    /* HMAC-SHA256 keyed with key, copied for each message: OpenSSL 3's
     * one-shot HMAC() looks the algorithm up on every call (2.6 us against
     * 1 us here, and a lock shared by every thread). */
    EVP_MAC_CTX *base;
};

struct pkey {
    EVP_PKEY *pk;
    uint8_t kid[KID_LEN];
};

/* The replay cache: a ring of nonces in arrival order, indexed by an open
 * addressing table (linear probing, deletion by backward shift). */
struct replay {
    uint64_t *key;   /* nonce hash per ring slot */
    uint64_t *ts;    /* its signature's ts */
    uint32_t *table; /* ring slot + 1; 0: empty */
    size_t head, count;
    uint64_t floor; /* signatures with ts <= floor are refused */
};

struct cf_cred {
    struct hkey cluster[CF_CRED_KEYS_MAX];
    size_t ncluster;
    struct pkey oppub[CF_CRED_KEYS_MAX];
    size_t noppub;
    EVP_PKEY *opkey; /* the operator's private key, to sign with */
    uint8_t opkid[KID_LEN];
    pthread_mutex_t mu; /* guards rp */
    struct replay rp;
};

static _Atomic(const struct cf_cred *) installed;

static pthread_once_t mac_once = PTHREAD_ONCE_INIT;
static EVP_MAC *mac_alg; /* HMAC, fetched once; NULL if OpenSSL has none */

static void mac_fetch(void)
{
    mac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* Nonces come from a per-thread block of RAND_bytes output, drawn NONCE_BLOCK
 * bytes at a time: one RAND_bytes call per request cost more than the
 * request's HMAC (OpenSSL 3 takes its DRBG's lock and checks for a fork on
 * every call). The bytes are the same CSPRNG output, each handed out once.
 * A forked child must not hand out what its parent also will: fork bumps
 * nonce_gen, and a thread whose block is of an older generation draws anew. */
#define NONCE_BLOCK 1024
struct nonce_pool {
    uint8_t bytes[NONCE_BLOCK];
    size_t pos; /* bytes[pos..] are unused; NONCE_BLOCK when empty */
    unsigned gen;
};
static _Thread_local struct nonce_pool nonce_pool = {.pos = NONCE_BLOCK};
static atomic_uint nonce_gen;
static pthread_once_t nonce_once = PTHREAD_ONCE_INIT;

static void nonce_forked(void)
{
    atomic_fetch_add(&nonce_gen, 1);
}

static void nonce_atfork(void)
{
    (void)pthread_atfork(NULL, NULL, nonce_forked);
}

/* n (<= NONCE_BLOCK) random bytes for a nonce. Returns 0 or CF_EINTERNAL. */
static int nonce_bytes(uint8_t *out, size_t n)
{
    struct nonce_pool *p = &nonce_pool;
    unsigned gen;

    pthread_once(&nonce_once, nonce_atfork);
    gen = atomic_load(&nonce_gen);
    if (p->gen != gen || NONCE_BLOCK - p->pos < n) {
        if (RAND_bytes(p->bytes, NONCE_BLOCK) != 1)
            return CF_EINTERNAL;
        p->pos = 0;
        p->gen = gen;
    }
    memcpy(out, p->bytes + p->pos, n);
    p->pos += n;
    return 0;
}

/* A context keyed with key, ready for one message each time it is copied.
 * NULL if OpenSSL fails. */
static EVP_MAC_CTX *mac_new(const uint8_t key[CF_CRED_KEY_LEN])
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)(uintptr_t) "SHA256", 0),
        OSSL_PARAM_construct_end()};
    EVP_MAC_CTX *ctx;

    pthread_once(&mac_once, mac_fetch);
    if (mac_alg == NULL)
        return NULL;
    ctx = EVP_MAC_CTX_new(mac_alg);
    if (ctx != NULL && EVP_MAC_init(ctx, key, CF_CRED_KEY_LEN, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

struct cf_cred *cf_cred_new(void)
{
    struct cf_cred *c = cf_xcalloc(1, sizeof(*c));

    cf_assert(pthread_mutex_init(&c->mu, NULL) == 0);
    return c;
}

void cf_cred_free(struct cf_cred *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->ncluster; i++)
        EVP_MAC_CTX_free(c->cluster[i].base);
    for (size_t i = 0; i < c->noppub; i++)
        EVP_PKEY_free(c->oppub[i].pk);
    EVP_PKEY_free(c->opkey);
    free(c->rp.key);
    free(c->rp.ts);
    free(c->rp.table);
    pthread_mutex_destroy(&c->mu);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

static void kid_of(const uint8_t *bytes, size_t n, uint8_t kid[KID_LEN])
{
    uint8_t h[SHA256_DIGEST_LENGTH];

    SHA256(bytes, n, h);
    memcpy(kid, h, KID_LEN);
}

/* ---- key files ---- */

/* Parse lines of 64 hex digits (a final line end optional, CR LF allowed)
 * into keys[]. Returns how many, or CF_EINVAL. */
static int parse_key_lines(const char *buf, size_t len, uint8_t keys[][CF_CRED_KEY_LEN],
                           const char *path, char *err)
{
    size_t nkeys = 0, i = 0;

    while (i < len) {
        size_t e = i, w;
        while (e < len && buf[e] != '\n')
            e++;
        w = e;
        if (w > i && buf[w - 1] == '\r')
            w--;
        if (w - i != 2 * CF_CRED_KEY_LEN || nkeys == CF_CRED_KEYS_MAX ||
            cf_hex_decode(buf + i, CF_CRED_KEY_LEN, keys[nkeys], true) < 0) {
            cf_err_set(err,
                       "key file \"%s\" must hold 1 to %d lines of %d hex digits (line %zu does "
                       "not)",
                       path, CF_CRED_KEYS_MAX, 2 * CF_CRED_KEY_LEN, nkeys + 1);
            return CF_EINVAL;
        }
        nkeys++;
        i = e + 1;
    }
    if (nkeys == 0) {
        cf_err_set(err, "key file \"%s\" is empty", path);
        return CF_EINVAL;
    }
    return (int)nkeys;
}

static int load_lines(const char *path, bool secret, uint8_t keys[][CF_CRED_KEY_LEN], char *err)
{
    char buf[KEY_FILE_MAX + 1];
    size_t len = 0;
    int rc;

    rc = cf_io_read_key_file(path, secret, buf, sizeof(buf), &len, err);
    if (rc == 0)
        rc = parse_key_lines(buf, len, keys, path, err);
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

int cf_cred_load_cluster(struct cf_cred *c, const char *path, char *err)
{
    uint8_t keys[CF_CRED_KEYS_MAX][CF_CRED_KEY_LEN];
    struct hkey got[CF_CRED_KEYS_MAX];
    int n = load_lines(path, true, keys, err), rc = 0;

    memset(got, 0, sizeof(got));
    if (n < 0)
        return n;
    for (int i = 0; i < n && rc == 0; i++) {
        memcpy(got[i].key, keys[i], CF_CRED_KEY_LEN);
        kid_of(keys[i], CF_CRED_KEY_LEN, got[i].kid);
        got[i].base = mac_new(keys[i]);
        if (got[i].base == NULL) {
            cf_err_set(err, "OpenSSL cannot make an HMAC-SHA256 context");
            rc = CF_EINTERNAL;
        }
    }
    if (rc == 0) {
        for (size_t i = 0; i < c->ncluster; i++)
            EVP_MAC_CTX_free(c->cluster[i].base);
        memcpy(c->cluster, got, sizeof(got));
        c->ncluster = (size_t)n;
    } else {
        for (int i = 0; i < n; i++)
            EVP_MAC_CTX_free(got[i].base);
    }
    OPENSSL_cleanse(got, sizeof(got));
    OPENSSL_cleanse(keys, sizeof(keys));
    return rc;
}

int cf_cred_load_operator_pub(struct cf_cred *c, const char *path, char *err)
{
    uint8_t keys[CF_CRED_KEYS_MAX][CF_CRED_KEY_LEN];
    struct pkey got[CF_CRED_KEYS_MAX] = {{0}};
    int n = load_lines(path, false, keys, err);

    if (n < 0)
        return n;
    for (int i = 0; i < n; i++) {
        got[i].pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, keys[i], CF_CRED_KEY_LEN);
        if (got[i].pk == NULL) {
            cf_err_set(err, "key file \"%s\": line %d is not an Ed25519 public key", path, i + 1);
            for (int k = 0; k < i; k++)
                EVP_PKEY_free(got[k].pk);
            return CF_EINVAL;
        }
        kid_of(keys[i], CF_CRED_KEY_LEN, got[i].kid);
    }
    for (size_t i = 0; i < c->noppub; i++)
        EVP_PKEY_free(c->oppub[i].pk);
    memcpy(c->oppub, got, sizeof(got));
    c->noppub = (size_t)n;
    return 0;
}

int cf_cred_load_operator_key(struct cf_cred *c, const char *path, char *err)
{
    uint8_t keys[CF_CRED_KEYS_MAX][CF_CRED_KEY_LEN];
    uint8_t pub[CF_CRED_KEY_LEN];
    size_t publen = sizeof(pub);
    EVP_PKEY *pk = NULL;
    int n = load_lines(path, true, keys, err), rc = 0;

    if (n < 0)
        return n;
    if (n != 1) {
        cf_err_set(err, "key file \"%s\" must hold one private key, not %d", path, n);
        rc = CF_EINVAL;
        goto out;
    }
    pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, keys[0], CF_CRED_KEY_LEN);
    if (pk == NULL || EVP_PKEY_get_raw_public_key(pk, pub, &publen) != 1) {
        cf_err_set(err, "key file \"%s\" is not an Ed25519 private key", path);
        rc = CF_EINVAL;
        goto out;
    }
    EVP_PKEY_free(c->opkey);
    c->opkey = pk;
    pk = NULL;
    kid_of(pub, publen, c->opkid);
out:
    EVP_PKEY_free(pk);
    OPENSSL_cleanse(keys, sizeof(keys));
    return rc;
}

bool cf_cred_can_sign(const struct cf_cred *c)
{
    return c != NULL && (c->opkey != NULL || c->ncluster > 0);
}

static int key_path(const char *dir, const char *name, char out[4096], char *err)
{
    int n = snprintf(out, 4096, "%s/%s", dir, name);

    if (n < 0 || n >= 4096) {
        cf_err_set(err, "key directory path too long");
        return CF_EINVAL;
    }
    return 0;
}

static int write_hex_file(const char *dir, const char *name, const uint8_t *b, mode_t mode,
                          bool replace, char *err)
{
    char path[4096], text[2 * CF_CRED_KEY_LEN + 2];
    int rc = key_path(dir, name, path, err);

    if (rc < 0)
        return rc;
    cf_hex_encode(b, CF_CRED_KEY_LEN, text);
    text[2 * CF_CRED_KEY_LEN] = '\n';
    text[2 * CF_CRED_KEY_LEN + 1] = '\0';
    rc = cf_io_write_file(path, text, 2 * CF_CRED_KEY_LEN + 1, mode, replace, err);
    OPENSSL_cleanse(text, sizeof(text));
    return rc;
}

static bool exists_in(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;

    return key_path(dir, name, path, NULL) == 0 && lstat(path, &st) == 0;
}

int cf_cred_make_files(const char *dir, bool excl, unsigned *made, char *err)
{
    uint8_t key[CF_CRED_KEY_LEN], pub[CF_CRED_KEY_LEN];
    char path[4096];
    size_t len = CF_CRED_KEY_LEN;
    struct cf_cred *tmp = NULL;
    bool new_op = false;
    unsigned count = 0;
    int rc = 0;

    if (excl && (exists_in(dir, CF_CRED_CLUSTER_FILE) || exists_in(dir, CF_CRED_OPERATOR_FILE) ||
                 exists_in(dir, CF_CRED_OPERATOR_PUB))) {
        cf_err_set(err, "%s/%s, %s or %s exists already; keys are never overwritten", dir,
                   CF_CRED_CLUSTER_FILE, CF_CRED_OPERATOR_FILE, CF_CRED_OPERATOR_PUB);
        rc = CF_EEXIST;
        goto out;
    }
    if (!exists_in(dir, CF_CRED_CLUSTER_FILE)) {
        if (RAND_bytes(key, CF_CRED_KEY_LEN) != 1) {
            cf_err_set(err, "no random bytes for the cluster key");
            rc = CF_EINTERNAL;
            goto out;
        }
        rc = write_hex_file(dir, CF_CRED_CLUSTER_FILE, key, 0600, false, err);
        if (rc < 0)
            goto out;
        count++;
    }
    if (!exists_in(dir, CF_CRED_OPERATOR_FILE)) {
        if (RAND_bytes(key, CF_CRED_KEY_LEN) != 1) {
            cf_err_set(err, "no random bytes for the operator key");
            rc = CF_EINTERNAL;
            goto out;
        }
        rc = write_hex_file(dir, CF_CRED_OPERATOR_FILE, key, 0600, false, err);
        if (rc < 0)
            goto out;
        count++;
        new_op = true;
    }
    /* The public key follows from the private one: (re)made whenever the
     * private key is new, or when a crash left it missing. */
    if (new_op || !exists_in(dir, CF_CRED_OPERATOR_PUB)) {
        tmp = cf_cred_new();
        rc = key_path(dir, CF_CRED_OPERATOR_FILE, path, err);
        if (rc == 0)
            rc = cf_cred_load_operator_key(tmp, path, err);
        if (rc < 0)
            goto out;
        if (EVP_PKEY_get_raw_public_key(tmp->opkey, pub, &len) != 1 || len != CF_CRED_KEY_LEN) {
            cf_err_set(err, "cannot derive the operator public key");
            rc = CF_EINTERNAL;
            goto out;
        }
        rc = write_hex_file(dir, CF_CRED_OPERATOR_PUB, pub, 0644, true, err);
        if (rc < 0)
            goto out;
        count++;
    }
out:
    cf_cred_free(tmp);
    OPENSSL_cleanse(key, sizeof(key));
    if (made != NULL)
        *made = count;
    return rc;
}

/* ---- signatures ---- */

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return false;
    }
    return true;
}

/* The signed string; caller frees. NULL if target is over TARGET_MAX. */
static char *signed_string(const char *method, const char *host, const char *target, const char *ts,
                           const char *nonce, size_t *len)
{
    size_t tl = strlen(target), n;
    char *s;
    int w;

    if (tl > TARGET_MAX || strlen(method) > 64 || strlen(host) > 1024)
        return NULL;
    n = tl + strlen(method) + strlen(host) + strlen(ts) + strlen(nonce) + 32;
    s = cf_xmalloc(n);
    w = snprintf(s, n, "coffer-v1\n%s\n%s\n%s\n%s\n%s", method, target, ts, nonce, host);
    cf_assert(w > 0 && (size_t)w < n);
    *len = (size_t)w;
    return s;
}

static int hmac(const struct hkey *k, const char *msg, size_t len, uint8_t out[MAC_LEN])
{
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(k->base);
    size_t outlen = 0;
    int rc = 0;

    if (ctx == NULL || EVP_MAC_update(ctx, (const unsigned char *)msg, len) != 1 ||
        EVP_MAC_final(ctx, out, &outlen, MAC_LEN) != 1 || outlen != MAC_LEN)
        rc = CF_EINTERNAL;
    EVP_MAC_CTX_free(ctx);
    return rc;
}

int cf_cred_sign_parts(const struct cf_cred *c, const char *method, const char *host,
                       const char *target, uint64_t ts_ms, const char *nonce, char *out, size_t cap)
{
    char ts[24], kid[2 * KID_LEN + 1], sighex[2 * ED_SIG_LEN + 1];
    uint8_t sig[ED_SIG_LEN];
    size_t siglen = 0, mlen = 0, nl = strlen(nonce);
    EVP_MD_CTX *md = NULL;
    char *msg = NULL;
    int rc = 0, n;

    if (!cf_cred_can_sign(c) || nl < NONCE_MIN || nl > NONCE_MAX || !is_hex(nonce, nl))
        return CF_EINVAL;
    (void)snprintf(ts, sizeof(ts), "%" PRIu64, ts_ms);
    msg = signed_string(method, host, target, ts, nonce, &mlen);
    if (msg == NULL)
        return CF_ETOOLARGE;
    if (c->opkey != NULL) {
        siglen = ED_SIG_LEN;
        md = EVP_MD_CTX_new();
        if (md == NULL || EVP_DigestSignInit(md, NULL, NULL, NULL, c->opkey) != 1 ||
            EVP_DigestSign(md, sig, &siglen, (const unsigned char *)msg, mlen) != 1 ||
            siglen != ED_SIG_LEN) {
            rc = CF_EINTERNAL;
            goto out;
        }
        cf_hex_encode(c->opkid, KID_LEN, kid);
    } else {
        rc = hmac(&c->cluster[0], msg, mlen, sig);
        if (rc < 0)
            goto out;
        siglen = MAC_LEN;
        cf_hex_encode(c->cluster[0].kid, KID_LEN, kid);
    }
    kid[2 * KID_LEN] = '\0';
    cf_hex_encode(sig, siglen, sighex);
    sighex[2 * siglen] = '\0';
    n = snprintf(out, cap, "Authorization: %skid=%s,ts=%s,nonce=%s,sig=%s",
                 c->opkey != NULL ? ED_SCHEME : HMAC_SCHEME, kid, ts, nonce, sighex);
    if (n < 0 || (size_t)n >= cap)
        rc = CF_ETOOLARGE;
out:
    EVP_MD_CTX_free(md);
    free(msg);
    return rc;
}

int cf_cred_sign_url(const struct cf_cred *c, const char *method, const char *url,
                     char out[CF_CRED_HEADER_MAX])
{
    const char *auth, *end, *at, *colon;
    char host[1024], nonce[NONCE_OUT + 1];
    uint8_t rnd[NONCE_OUT / 2];
    const char *target;
    size_t hl;
    bool https;

    if (strncmp(url, "http://", 7) == 0) {
        https = false;
        auth = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        https = true;
        auth = url + 8;
    } else {
        return CF_EINVAL;
    }
    end = auth + strcspn(auth, "/?#");
    /* Userinfo never reaches the Host header. */
    at = memchr(auth, '@', (size_t)(end - auth));
    if (at != NULL)
        auth = at + 1;
    hl = (size_t)(end - auth);
    if (hl == 0 || hl >= sizeof(host))
        return CF_EINVAL;
    memcpy(host, auth, hl);
    host[hl] = '\0';
    /* libcurl leaves the scheme's default port out of Host. */
    colon = strrchr(host, ':');
    if (colon != NULL && strchr(colon, ']') == NULL && strcmp(colon + 1, https ? "443" : "80") == 0)
        host[colon - host] = '\0';
    target = *end == '/' ? end : NULL;
    if (nonce_bytes(rnd, sizeof(rnd)) < 0)
        return CF_EINTERNAL;
    cf_hex_encode(rnd, sizeof(rnd), nonce);
    nonce[NONCE_OUT] = '\0';
    if (target == NULL) {
        /* "http://h?q" goes out as "/?q", "http://h" as "/". */
        char t[2048];
        int n = snprintf(t, sizeof(t), "/%s", *end == '?' ? end : "");
        if (n < 0 || (size_t)n >= sizeof(t))
            return CF_ETOOLARGE;
        return cf_cred_sign_parts(c, method, host, t, cf_wall_ms(), nonce, out, CF_CRED_HEADER_MAX);
    }
    {
        /* A fragment is never sent. */
        size_t tl = strcspn(target, "#");
        char *t = cf_xmalloc(tl + 1);
        int rc;
        memcpy(t, target, tl);
        t[tl] = '\0';
        rc = cf_cred_sign_parts(c, method, host, t, cf_wall_ms(), nonce, out, CF_CRED_HEADER_MAX);
        free(t);
        return rc;
    }
}

/* ---- the replay cache ---- */

#define TABLE_SIZE (2 * CF_CRED_REPLAY_MAX)

static uint64_t nonce_hash(const char *nonce, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)nonce[i];
        h *= 1099511628211ull;
    }
    return h;
}

static size_t home_of(uint64_t k)
{
    /* Fibonacci hashing spreads FNV's low bits. */
    return (size_t)((k * 11400714819323198485ull) >> 45) & (TABLE_SIZE - 1);
}

static bool replay_find(const struct replay *r, uint64_t k, size_t *slot)
{
    size_t i = home_of(k);

    while (r->table[i] != 0) {
        if (r->key[r->table[i] - 1] == k) {
            *slot = i;
            return true;
        }
        i = (i + 1) & (TABLE_SIZE - 1);
    }
    *slot = i;
    return false;
}

static void replay_table_delete(struct replay *r, size_t i)
{
    size_t j = i;

    for (;;) {
        size_t h;
        j = (j + 1) & (TABLE_SIZE - 1);
        if (r->table[j] == 0)
            break;
        h = home_of(r->key[r->table[j] - 1]);
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        if ((i <= j) ? (h <= i || h > j) : (h <= i && h > j)) {
            r->table[i] = r->table[j];
            i = j;
        }
    }
    r->table[i] = 0;
}

/* Drop the oldest nonce; later signatures must be newer than it. */
static void replay_drop_oldest(struct replay *r)
{
    size_t slot;
    uint64_t k = r->key[r->head];

    if (r->ts[r->head] > r->floor)
        r->floor = r->ts[r->head];
    if (replay_find(r, k, &slot))
        replay_table_delete(r, slot);
    r->head = (r->head + 1) % CF_CRED_REPLAY_MAX;
    r->count--;
}

/* Returns 0 (remembered), CF_EAUTH (seen, or older than the floor). */
static int replay_check(struct cf_cred *c, const char *nonce, size_t n, uint64_t ts,
                        uint64_t now_ms, char *err)
{
    struct replay *r = &c->rp;
    uint64_t k = nonce_hash(nonce, n);
    size_t slot, tail;
    int rc = 0;

    pthread_mutex_lock(&c->mu);
    if (r->table == NULL) {
        r->key = cf_xcalloc(CF_CRED_REPLAY_MAX, sizeof(*r->key));
        r->ts = cf_xcalloc(CF_CRED_REPLAY_MAX, sizeof(*r->ts));
        r->table = cf_xcalloc(TABLE_SIZE, sizeof(*r->table));
    }
    /* Nonces whose signatures left the window can never be replayed. */
    while (r->count > 0 && r->ts[r->head] + CF_CRED_WINDOW_MS < now_ms)
        replay_drop_oldest(r);
    if (ts <= r->floor) {
        cf_err_set(err, "stale timestamp (older than the replay cache remembers)");
        rc = CF_EAUTH;
        goto out;
    }
    if (replay_find(r, k, &slot)) {
        cf_err_set(err, "replayed nonce");
        rc = CF_EAUTH;
        goto out;
    }
    if (r->count == CF_CRED_REPLAY_MAX) {
        replay_drop_oldest(r);
        if (ts <= r->floor) {
            cf_err_set(err, "stale timestamp (older than the replay cache remembers)");
            rc = CF_EAUTH;
            goto out;
        }
        (void)replay_find(r, k, &slot); /* the table changed */
    }
    tail = (r->head + r->count) % CF_CRED_REPLAY_MAX;
    r->key[tail] = k;
    r->ts[tail] = ts;
    r->table[slot] = (uint32_t)tail + 1;
    r->count++;
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- verification ---- */

struct parsed {
    bool ed;
    uint8_t kid[KID_LEN];
    char ts[TS_DIGITS + 1];
    uint64_t ts_ms;
    char nonce[NONCE_MAX + 1];
    uint8_t sig[ED_SIG_LEN];
    size_t siglen;
};

/* Take "name=" then up to max bytes of [0-9a-f] (digits only when
 * digits) ending at stop ('\0' or ','). */
static bool take_field(const char **p, const char *name, bool digits, size_t min, size_t max,
                       char stop, char *out)
{
    size_t nl = strlen(name), n = 0;
    const char *s = *p;

    if (strncmp(s, name, nl) != 0 || s[nl] != '=')
        return false;
    s += nl + 1;
    while (s[n] != '\0' && s[n] != stop && n <= max)
        n++;
    if (n < min || n > max || s[n] != stop)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (digits ? !(s[i] >= '0' && s[i] <= '9') : !is_hex(s + i, 1))
            return false;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    *p = s + n + (stop != '\0' ? 1 : 0);
    return true;
}

static bool parse_auth(const char *a, struct parsed *p)
{
    char kid[2 * KID_LEN + 1], sig[2 * ED_SIG_LEN + 1];
    char *end = NULL;

    if (strncmp(a, HMAC_SCHEME, strlen(HMAC_SCHEME)) == 0) {
        p->ed = false;
        a += strlen(HMAC_SCHEME);
    } else if (strncmp(a, ED_SCHEME, strlen(ED_SCHEME)) == 0) {
        p->ed = true;
        a += strlen(ED_SCHEME);
    } else {
        return false;
    }
    p->siglen = p->ed ? ED_SIG_LEN : MAC_LEN;
    if (!take_field(&a, "kid", false, 2 * KID_LEN, 2 * KID_LEN, ',', kid) ||
        !take_field(&a, "ts", true, 1, TS_DIGITS, ',', p->ts) ||
        !take_field(&a, "nonce", false, NONCE_MIN, NONCE_MAX, ',', p->nonce) ||
        !take_field(&a, "sig", false, 2 * p->siglen, 2 * p->siglen, '\0', sig))
        return false;
    /* One text per number: the signature covers the text. */
    if (p->ts[0] == '0' && p->ts[1] != '\0')
        return false;
    if (cf_hex_decode(kid, KID_LEN, p->kid, true) < 0 ||
        cf_hex_decode(sig, p->siglen, p->sig, true) < 0)
        return false;
    errno = 0;
    p->ts_ms = strtoull(p->ts, &end, 10);
    return errno == 0 && *end == '\0';
}

int cf_cred_verify(struct cf_cred *c, enum cf_access need, const char *method, const char *target,
                   const char *host, const char *auth, uint64_t now_ms, char *err)
{
    struct parsed p;
    size_t mlen = 0;
    char *msg = NULL;
    EVP_MD_CTX *md = NULL;
    const struct pkey *pk = NULL;
    const struct hkey *hk = NULL;
    uint8_t mac[MAC_LEN];
    int rc = CF_EAUTH;

    if (need == CF_ACCESS_PUBLIC)
        return 0;
    if (auth == NULL) {
        cf_err_set(err, "missing signature (Authorization: Coffer-HMAC-SHA256 or Coffer-Ed25519)");
        goto out;
    }
    if (!parse_auth(auth, &p)) {
        cf_err_set(err, "malformed Authorization header");
        goto out;
    }
    if (p.ed) {
        for (size_t i = 0; i < c->noppub && pk == NULL; i++)
            if (memcmp(c->oppub[i].kid, p.kid, KID_LEN) == 0)
                pk = &c->oppub[i];
    } else {
        for (size_t i = 0; i < c->ncluster && hk == NULL; i++)
            if (memcmp(c->cluster[i].kid, p.kid, KID_LEN) == 0)
                hk = &c->cluster[i];
    }
    if (pk == NULL && hk == NULL) {
        cf_err_set(err, "unknown key (kid)");
        goto out;
    }
    if (p.ts_ms + CF_CRED_WINDOW_MS < now_ms || p.ts_ms > now_ms + CF_CRED_WINDOW_MS) {
        cf_err_set(err, "stale timestamp (clocks more than %d s apart?)", CF_CRED_WINDOW_MS / 1000);
        goto out;
    }
    msg = signed_string(method, host != NULL ? host : "", target, p.ts, p.nonce, &mlen);
    if (msg == NULL) {
        cf_err_set(err, "request target too long to verify");
        goto out;
    }
    if (hk != NULL) {
        if (hmac(hk, msg, mlen, mac) < 0 || CRYPTO_memcmp(mac, p.sig, MAC_LEN) != 0) {
            cf_err_set(err, "bad signature");
            goto out;
        }
    } else {
        md = EVP_MD_CTX_new();
        if (md == NULL || EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk->pk) != 1 ||
            EVP_DigestVerify(md, p.sig, ED_SIG_LEN, (const unsigned char *)msg, mlen) != 1) {
            cf_err_set(err, "bad signature");
            goto out;
        }
    }
    if (need == CF_ACCESS_ADMIN && !p.ed) {
        cf_err_set(err, "an admin operation needs the operator key, not the cluster key");
        rc = CF_EPERM;
        goto out;
    }
    rc = replay_check(c, p.nonce, strlen(p.nonce), p.ts_ms, now_ms, err);
out:
    EVP_MD_CTX_free(md);
    free(msg);
    return rc;
}

/* ---- signed URLs ---- */

#define URL_PATH_MAX 1024

/* The MAC of a signed URL for path and exp (decimal text) under k. */
static int url_mac(const struct hkey *k, const char *path, const char *exp, uint8_t out[MAC_LEN])
{
    char msg[URL_PATH_MAX + 64];
    int n = snprintf(msg, sizeof(msg), "coffer-url-v1\n%s\n%s", path, exp);

    if (n < 0 || (size_t)n >= sizeof(msg))
        return CF_EINVAL;
    return hmac(k, msg, (size_t)n, out);
}

int cf_cred_url_sign(const struct cf_cred *c, const char *path, uint64_t exp_ms,
                     char out[CF_CRED_URL_QUERY_MAX])
{
    char exp[24], kid[2 * KID_LEN + 1], sighex[2 * MAC_LEN + 1];
    uint8_t mac[MAC_LEN];
    int rc, n;

    if (c == NULL || c->ncluster == 0 || path[0] == '\0' || strlen(path) > URL_PATH_MAX)
        return CF_EINVAL;
    (void)snprintf(exp, sizeof(exp), "%" PRIu64, exp_ms);
    rc = url_mac(&c->cluster[0], path, exp, mac);
    if (rc < 0)
        return rc;
    cf_hex_encode(c->cluster[0].kid, KID_LEN, kid);
    kid[2 * KID_LEN] = '\0';
    cf_hex_encode(mac, MAC_LEN, sighex);
    sighex[2 * MAC_LEN] = '\0';
    n = snprintf(out, CF_CRED_URL_QUERY_MAX, "exp=%s&kid=%s&sig=%s", exp, kid, sighex);
    cf_assert(n > 0 && n < CF_CRED_URL_QUERY_MAX);
    return 0;
}

int cf_cred_url_verify(const struct cf_cred *c, const char *path, const char *exp, const char *kid,
                       const char *sig, uint64_t now_ms, char *err)
{
    uint8_t k[KID_LEN], want[MAC_LEN], mac[MAC_LEN];
    const struct hkey *hk = NULL;
    size_t el = exp != NULL ? strlen(exp) : 0;
    uint64_t exp_ms = 0;

    if (exp == NULL || kid == NULL || sig == NULL) {
        cf_err_set(err, "not a signed URL (exp, kid and sig are needed)");
        return CF_EAUTH;
    }
    if (el == 0 || el > TS_DIGITS || exp[0] == '0' || strspn(exp, "0123456789") != el ||
        strlen(kid) != 2 * KID_LEN || !is_hex(kid, 2 * KID_LEN) || strlen(sig) != 2 * MAC_LEN ||
        !is_hex(sig, 2 * MAC_LEN) || cf_hex_decode(kid, KID_LEN, k, false) < 0 ||
        cf_hex_decode(sig, MAC_LEN, want, false) < 0) {
        cf_err_set(err, "malformed signed URL");
        return CF_EAUTH;
    }
    for (size_t i = 0; c != NULL && i < c->ncluster && hk == NULL; i++)
        if (memcmp(c->cluster[i].kid, k, KID_LEN) == 0)
            hk = &c->cluster[i];
    if (hk == NULL) {
        cf_err_set(err, "unknown key (kid)");
        return CF_EAUTH;
    }
    if (strlen(path) > URL_PATH_MAX || url_mac(hk, path, exp, mac) < 0 ||
        CRYPTO_memcmp(mac, want, MAC_LEN) != 0) {
        cf_err_set(err, "bad signature");
        return CF_EAUTH;
    }
    for (size_t i = 0; i < el; i++)
        exp_ms = exp_ms * 10 + (uint64_t)(exp[i] - '0');
    if (exp_ms <= now_ms) {
        cf_err_set(err, "the signed URL expired");
        return CF_EPERM;
    }
    if (exp_ms - now_ms > CF_CRED_URL_TTL_MAX_MS) {
        cf_err_set(err, "the signed URL's expiry is too far ahead");
        return CF_EPERM;
    }
    return 0;
}

/* Installed signers are copies, never freed while the process lives (a
 * transfer on another thread may still be signing with one), and reachable
 * through this list, so leak checkers do not count them. Installs happen a
 * few times per process, at start. */
static struct cf_cred *retired[16];
static size_t nretired;
static pthread_mutex_t install_mu = PTHREAD_MUTEX_INITIALIZER;

void cf_cred_install(const struct cf_cred *c)
{
    struct cf_cred *copy = NULL;

    if (c != NULL) {
        copy = cf_cred_new();
        memcpy(copy->cluster, c->cluster, sizeof(c->cluster));
        for (size_t i = 0; i < c->ncluster; i++) {
            copy->cluster[i].base = EVP_MAC_CTX_dup(c->cluster[i].base);
            cf_assert(copy->cluster[i].base != NULL);
        }
        copy->ncluster = c->ncluster;
        if (c->opkey != NULL && EVP_PKEY_up_ref(c->opkey) == 1) {
            copy->opkey = c->opkey;
            memcpy(copy->opkid, c->opkid, KID_LEN);
        }
    }
    pthread_mutex_lock(&install_mu);
    if (copy != NULL) {
        cf_assert(nretired < CF_ARRAY_LEN(retired));
        retired[nretired++] = copy;
    }
    atomic_store(&installed, copy);
    pthread_mutex_unlock(&install_mu);
}

const struct cf_cred *cf_cred_signer(void)
{
    return atomic_load(&installed);
}
