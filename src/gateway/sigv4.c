/*
 * sigv4.c -- AWS Signature Version 4 (sigv4.h).
 */
#include "coffer/sigv4.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "coffer/err.h"
#include "coffer/hex.h"

/* Copy s[0..n) into dst (cap bytes with the NUL). Returns 0 or CF_EINVAL. */
static int copy_field(char *dst, size_t cap, const char *s, size_t n)
{
    if (n == 0 || n >= cap)
        return CF_EINVAL;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool is_hex64(const char *s)
{
    size_t n = strlen(s);

    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* "AK/YYYYMMDD/REGION/SERVICE/aws4_request" into out. */
static int parse_credential(const char *s, size_t n, struct cf_sigv4_auth *out, char *err)
{
    const char *end = s + n, *p = s, *part[5];
    size_t len[5];
    int k = 0;

    while (k < 5) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        /* The key id may not hold '/', so the last four parts are fixed. */
        part[k] = p;
        len[k] = (size_t)((slash != NULL && k < 4 ? slash : end) - p);
        k++;
        if (slash == NULL || k == 5)
            break;
        p = slash + 1;
    }
    if (k != 5 || len[4] != strlen("aws4_request") ||
        memcmp(part[4], "aws4_request", len[4]) != 0 || len[1] != 8 || !all_digits(part[1], 8) ||
        copy_field(out->key_id, sizeof(out->key_id), part[0], len[0]) < 0 ||
        copy_field(out->date, sizeof(out->date), part[1], len[1]) < 0 ||
        copy_field(out->region, sizeof(out->region), part[2], len[2]) < 0 ||
        copy_field(out->service, sizeof(out->service), part[3], len[3]) < 0) {
        cf_err_set(err, "the credential is not AK/YYYYMMDD/REGION/SERVICE/aws4_request");
        return CF_EINVAL;
    }
    return 0;
}

int cf_sigv4_parse_header(const char *value, struct cf_sigv4_auth *out, char *err)
{
    const char *p;
    bool cred = false, sh = false, sig = false;
    size_t alen = strlen(CF_SIGV4_ALGO);

    memset(out, 0, sizeof(*out));
    if (strncmp(value, CF_SIGV4_ALGO, alen) != 0 || value[alen] != ' ') {
        cf_err_set(err, "the Authorization header is not " CF_SIGV4_ALGO);
        return CF_EINVAL;
    }
    p = value + alen;
    while (*p != '\0') {
        const char *name, *val, *stop;
        size_t nlen, vlen;

        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        name = p;
        val = strchr(p, '=');
        if (val == NULL)
            goto bad;
        nlen = (size_t)(val - name);
        val++;
        stop = strchr(val, ',');
        vlen = stop != NULL ? (size_t)(stop - val) : strlen(val);
        while (vlen > 0 && val[vlen - 1] == ' ')
            vlen--;
        p = val + vlen;
        if (nlen == 10 && memcmp(name, "Credential", 10) == 0 && !cred) {
            if (parse_credential(val, vlen, out, err) < 0)
                return CF_EINVAL;
            cred = true;
        } else if (nlen == 13 && memcmp(name, "SignedHeaders", 13) == 0 && !sh) {
            if (copy_field(out->signed_headers, sizeof(out->signed_headers), val, vlen) < 0)
                goto bad;
            sh = true;
        } else if (nlen == 9 && memcmp(name, "Signature", 9) == 0 && !sig) {
            if (copy_field(out->signature, sizeof(out->signature), val, vlen) < 0 ||
                !is_hex64(out->signature))
                goto bad;
            sig = true;
        } else {
            goto bad;
        }
    }
    if (cred && sh && sig)
        return 0;
bad:
    cf_err_set(err, "the Authorization header needs Credential, SignedHeaders and Signature");
    return CF_EINVAL;
}

int cf_sigv4_parse_date(const char *s, int64_t *secs_out)
{
    struct tm tm;
    time_t t;

    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z' || !all_digits(s, 8) ||
        !all_digits(s + 9, 6))
        return CF_EINVAL;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') - 1900;
    tm.tm_mon = (s[4] - '0') * 10 + (s[5] - '0') - 1;
    tm.tm_mday = (s[6] - '0') * 10 + (s[7] - '0');
    tm.tm_hour = (s[9] - '0') * 10 + (s[10] - '0');
    tm.tm_min = (s[11] - '0') * 10 + (s[12] - '0');
    tm.tm_sec = (s[13] - '0') * 10 + (s[14] - '0');
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return CF_EINVAL;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return CF_EINVAL;
    *secs_out = (int64_t)t;
    return 0;
}

int cf_sigv4_parse_query(const char *algorithm, const char *credential, const char *date,
                         const char *expires, const char *signed_headers, const char *signature,
                         struct cf_sigv4_auth *out, char *err)
{
    int64_t secs = 0;
    char *end = NULL;
    unsigned long long ex;

    memset(out, 0, sizeof(*out));
    if (algorithm == NULL || credential == NULL || date == NULL || expires == NULL ||
        signed_headers == NULL || signature == NULL) {
        cf_err_set(err, "a presigned URL needs every X-Amz-* argument");
        return CF_EINVAL;
    }
    if (strcmp(algorithm, CF_SIGV4_ALGO) != 0) {
        cf_err_set(err, "X-Amz-Algorithm is not " CF_SIGV4_ALGO);
        return CF_EINVAL;
    }
    if (parse_credential(credential, strlen(credential), out, err) < 0)
        return CF_EINVAL;
    if (cf_sigv4_parse_date(date, &secs) < 0 || strncmp(date, out->date, 8) != 0) {
        cf_err_set(err, "X-Amz-Date is not YYYYMMDDTHHMMSSZ of the credential's day");
        return CF_EINVAL;
    }
    memcpy(out->amz_date, date, 17);
    errno = 0;
    ex = strtoull(expires, &end, 10);
    if (expires[0] < '0' || expires[0] > '9' || errno != 0 || *end != '\0' || ex < 1 ||
        ex > 604800) {
        cf_err_set(err, "X-Amz-Expires is a number of seconds from 1 to 604800");
        return CF_EINVAL;
    }
    out->expires_s = ex;
    if (copy_field(out->signed_headers, sizeof(out->signed_headers), signed_headers,
                   strlen(signed_headers)) < 0 ||
        copy_field(out->signature, sizeof(out->signature), signature, strlen(signature)) < 0 ||
        !is_hex64(out->signature)) {
        cf_err_set(err, "X-Amz-SignedHeaders or X-Amz-Signature is malformed");
        return CF_EINVAL;
    }
    return 0;
}

int cf_sigv4_uri_encode(struct cf_buf *b, const char *s, size_t n, bool keep_slash)
{
    static const char hexd[] = "0123456789ABCDEF";

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char e[3];
        int rc;

        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~' || (keep_slash && ch == '/')) {
            rc = cf_buf_append(b, &s[i], 1);
        } else {
            e[0] = '%';
            e[1] = hexd[ch >> 4];
            e[2] = hexd[ch & 15];
            rc = cf_buf_append(b, e, 3);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cf_sigv4_header_names(const struct cf_sigv4_auth *auth, char *names_buf,
                          const char *names[CF_SIGV4_HEADERS_MAX])
{
    char *p = names_buf;
    int n = 0;
    bool host = false;

    memcpy(names_buf, auth->signed_headers, sizeof(auth->signed_headers));
    if (*p == '\0')
        return CF_EINVAL;
    for (;;) {
        char *semi = strchr(p, ';');

        if (semi != NULL)
            *semi = '\0';
        if (*p == '\0' || n == CF_SIGV4_HEADERS_MAX)
            return CF_EINVAL;
        for (char *q = p; *q != '\0'; q++)
            if ((*q >= 'A' && *q <= 'Z') || *q == ' ' || *q == ':')
                return CF_EINVAL;
        if (n > 0 && strcmp(names[n - 1], p) >= 0)
            return CF_EINVAL;
        if (strcmp(p, "host") == 0)
            host = true;
        names[n++] = p;
        if (semi == NULL)
            break;
        p = semi + 1;
    }
    return host ? n : CF_EINVAL;
}

/* Append a header value trimmed, inner runs of spaces and tabs as one space. */
static int append_trimmed(struct cf_buf *b, const char *v)
{
    bool space = false, any = false;
    int rc = 0;

    for (; *v != '\0' && rc == 0; v++) {
        if (*v == ' ' || *v == '\t') {
            space = any;
            continue;
        }
        if (space)
            rc = cf_buf_append(b, " ", 1);
        if (rc == 0)
            rc = cf_buf_append(b, v, 1);
        space = false;
        any = true;
    }
    return rc;
}

struct enc_pair {
    char *name, *value; /* encoded, heap */
};

static int pair_cmp(const void *a, const void *b)
{
    const struct enc_pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c != 0 ? c : strcmp(x->value, y->value);
}

static char *encode_dup(const char *s, int *rc)
{
    struct cf_buf b;
    char *out;

    cf_buf_init(&b, CF_SIGV4_TEXT_MAX);
    if (s == NULL)
        s = "";
    *rc = cf_sigv4_uri_encode(&b, s, strlen(s), false);
    if (*rc == 0 && b.base == NULL)
        *rc = cf_buf_append(&b, "", 0);
    out = cf_buf_take(&b, NULL);
    cf_buf_fini(&b);
    if (out == NULL)
        out = cf_xstrdup("");
    return out;
}

int cf_sigv4_canonical(const struct cf_sigv4_auth *auth, const struct cf_sigv4_req *req,
                       struct cf_buf *out, char *err)
{
    char names_buf[sizeof(auth->signed_headers)];
    const char *names[CF_SIGV4_HEADERS_MAX];
    struct enc_pair *pairs = NULL;
    int n, rc = 0;

    cf_buf_fini(out);
    cf_buf_init(out, CF_SIGV4_TEXT_MAX);
    n = cf_sigv4_header_names(auth, names_buf, names);
    if (n < 0 || (size_t)n != req->nheaders) {
        cf_err_set(err, "SignedHeaders is malformed or lacks host");
        return CF_EINVAL;
    }
    if (req->nquery > CF_SIGV4_HEADERS_MAX * 4) {
        cf_err_set(err, "too many query arguments");
        return CF_ETOOLARGE;
    }
    rc = cf_buf_printf(out, "%s\n", req->method);
    if (rc == 0)
        rc = cf_sigv4_uri_encode(out, req->path, strlen(req->path), true);
    if (rc == 0)
        rc = cf_buf_append(out, "\n", 1);
    if (req->nquery > 0)
        pairs = cf_xcalloc(req->nquery, sizeof(*pairs));
    for (size_t i = 0; rc == 0 && i < req->nquery; i++) {
        pairs[i].name = encode_dup(req->query[i].name, &rc);
        if (rc == 0)
            pairs[i].value = encode_dup(req->query[i].value, &rc);
    }
    if (rc == 0 && req->nquery > 0)
        qsort(pairs, req->nquery, sizeof(*pairs), pair_cmp);
    for (size_t i = 0; rc == 0 && i < req->nquery; i++)
        rc = cf_buf_printf(out, "%s%s=%s", i > 0 ? "&" : "", pairs[i].name, pairs[i].value);
    if (rc == 0)
        rc = cf_buf_append(out, "\n", 1);
    for (int i = 0; rc == 0 && i < n; i++) {
        if (req->headers[i] == NULL) {
            cf_err_set(err, "signed header \"%.64s\" is missing", names[i]);
            rc = CF_EINVAL;
            break;
        }
        rc = cf_buf_printf(out, "%s:", names[i]);
        if (rc == 0)
            rc = append_trimmed(out, req->headers[i]);
        if (rc == 0)
            rc = cf_buf_append(out, "\n", 1);
    }
    if (rc == 0)
        rc = cf_buf_printf(out, "\n%s\n%s", auth->signed_headers, req->payload_hash);
    if (rc == CF_ETOOLARGE)
        cf_err_set(err, "the canonical request is longer than %d bytes", CF_SIGV4_TEXT_MAX);
    for (size_t i = 0; pairs != NULL && i < req->nquery; i++) {
        free(pairs[i].name);
        free(pairs[i].value);
    }
    free(pairs);
    return rc;
}

static void hmac(const uint8_t *key, size_t klen, const void *msg, size_t n, uint8_t out[32])
{
    unsigned int len = 32;

    (void)HMAC(EVP_sha256(), key, (int)klen, msg, n, out, &len);
}

void cf_sigv4_signing_key(const char *secret, const char *date, const char *region,
                          const char *service, uint8_t key[32])
{
    char k0[4 + 256 + 1];
    int n = snprintf(k0, sizeof(k0), "AWS4%s", secret);
    uint8_t a[32], b[32];

    if (n < 0 || (size_t)n >= sizeof(k0))
        n = (int)sizeof(k0) - 1; /* a longer secret cannot be made; signatures then differ */
    hmac((const uint8_t *)k0, (size_t)n, date, strlen(date), a);
    hmac(a, 32, region, strlen(region), b);
    hmac(b, 32, service, strlen(service), a);
    hmac(a, 32, "aws4_request", strlen("aws4_request"), key);
}

void cf_sigv4_sha256_hex(const void *p, size_t n, char out[CF_SIGV4_HEX_SIZE])
{
    uint8_t d[32];

    (void)SHA256(p, n, d);
    cf_hex_encode(d, 32, out);
}

int cf_sigv4_sign(const struct cf_sigv4_auth *auth, const char *amz_date,
                  const struct cf_sigv4_req *req, const uint8_t key[32],
                  char sig_out[CF_SIGV4_HEX_SIZE], struct cf_buf *sts_out, char *err)
{
    struct cf_buf canon, sts;
    char h[CF_SIGV4_HEX_SIZE];
    uint8_t mac[32];
    int rc;

    cf_buf_init(&canon, CF_SIGV4_TEXT_MAX);
    cf_buf_init(&sts, CF_SIGV4_TEXT_MAX);
    rc = cf_sigv4_canonical(auth, req, &canon, err);
    if (rc < 0)
        goto out;
    cf_sigv4_sha256_hex(canon.base, canon.len, h);
    rc = cf_buf_printf(&sts, CF_SIGV4_ALGO "\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, auth->date,
                       auth->region, auth->service, h);
    if (rc < 0)
        goto out;
    hmac(key, 32, sts.base, sts.len, mac);
    cf_hex_encode(mac, 32, sig_out);
    if (sts_out != NULL) {
        cf_buf_fini(sts_out);
        *sts_out = sts;
        cf_buf_init(&sts, CF_SIGV4_TEXT_MAX);
    }
out:
    cf_buf_fini(&canon);
    cf_buf_fini(&sts);
    return rc;
}

void cf_sigv4_chunk_sign(const struct cf_sigv4_auth *auth, const char *amz_date,
                         const uint8_t key[32], const char *prev, const char *chunk_sha,
                         char sig_out[CF_SIGV4_HEX_SIZE])
{
    /* The hash of the empty string: chunk signatures carry no headers. */
    static const char empty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    char sts[512];
    uint8_t mac[32];
    int n = snprintf(sts, sizeof(sts),
                     "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s/%s/%s/aws4_request\n%s\n%s\n%s", amz_date,
                     auth->date, auth->region, auth->service, prev, empty, chunk_sha);

    if (n < 0 || (size_t)n >= sizeof(sts))
        n = 0; /* fields are bounded by struct cf_sigv4_auth; cannot happen */
    hmac(key, 32, sts, (size_t)n, mac);
    cf_hex_encode(mac, 32, sig_out);
}

bool cf_sigv4_equal(const char *a, const char *b)
{
    size_t n = strlen(a);
    unsigned char d = 0;

    if (n != strlen(b))
        return false;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int cf_sigv4_key_new(char id[CF_SIGV4_NEW_ID_LEN + 1], char secret[CF_SIGV4_NEW_SECRET_LEN + 1])
{
    static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t r[CF_SIGV4_NEW_ID_LEN + CF_SIGV4_NEW_SECRET_LEN];

    if (RAND_bytes(r, (int)sizeof(r)) != 1)
        return CF_EINTERNAL;
    id[0] = 'C';
    id[1] = 'F';
    for (size_t i = 2; i < CF_SIGV4_NEW_ID_LEN; i++)
        id[i] = b32[r[i] & 31];
    id[CF_SIGV4_NEW_ID_LEN] = '\0';
    for (size_t i = 0; i < CF_SIGV4_NEW_SECRET_LEN; i++)
        secret[i] = b64[r[CF_SIGV4_NEW_ID_LEN + i] & 63];
    secret[CF_SIGV4_NEW_SECRET_LEN] = '\0';
    OPENSSL_cleanse(r, sizeof(r));
    return 0;
}
