/*
 * s3.c -- the gateway's S3-compatible API (gateway.h, gateway_int.h): a
 * second listener over the same virtual file system and permissions.
 *
 * Buckets are the top-level folders of the user's client; an object key
 * is a path below its bucket ("a/b/c" is file c in folder a/b; folders are
 * made as needed). Requests are signed with AWS Signature Version 4
 * (sigv4.h) by an access key of fsdb (cf_fsdb_s3key_*), which names the
 * client and user whose permissions apply, exactly as on /api/v1/fs.
 * Uploads stream to the app through gateway.c (one piece in memory), with
 * MD5 (the ETag) and, when the client signed the payload, SHA-256 computed
 * on the way; a body that fails its check is not recorded. Downloads are
 * gateway.c's verified stream. Errors are S3's XML.
 *
 * Multipart uploads keep each part as a stored object of its own, named
 * by fsdb's upload tables and by no file; completing one streams the parts
 * in order (each read back verified) into one new object, recorded as
 * PutObject records one (with its part sizes, for GetObject ?partNumber),
 * then releases the parts; the reply starts at once and keeps the
 * connection alive with spaces while that runs (struct mpu_job).
 * UploadPartCopy streams a source object's bytes (a range of them) into a
 * new part object the same way.
 *
 * Versioning (section "versioning") exposes fsdb's file versions and
 * trash: every bucket is versioned, a version id is an fsdb version id, a
 * delete marker a trash entry.
 *
 * Not built yet, answered NotImplemented: copying a given version, tags,
 * ACLs, policies
 * and the other bucket sub-resources.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "coffer/buf.h"
#include "coffer/cred.h"
#include "coffer/err.h"
#include "coffer/fsdb.h"
#include "coffer/hex.h"
#include "coffer/http.h"
#include "coffer/log.h"
#include "coffer/net.h"
#include "coffer/range.h"
#include "coffer/sigv4.h"
#include "gateway_int.h"

#define XMLNS    "http://s3.amazonaws.com/doc/2006-03-01/"
#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
/* Signed requests more than this far from our clock are refused (AWS's). */
#define SKEW_S (15 * 60)
/* Bodies read whole: CreateBucket's configuration, a multi-object delete. */
#define SMALL_BODY_MAX (1024 * 1024)
/* Keys of one multi-object delete at most (S3's). */
#define DELETE_KEYS_MAX 1000
/* A CompleteMultipartUpload reply sends a space this often (ms) while its
 * object is assembled, so that clients (60 s read timeouts) wait for it. */
#define S3_KEEPALIVE_MS 5000
/* Children read from fsdb per page while listing. */
#define LIST_PAGE 128
/* An aws-chunked chunk header ("hex;chunk-signature=<64 hex>\r\n"). */
#define CHUNK_HEAD_MAX 256
#define QUERY_MAX      128
#define KEY_MAX        CF_FSDB_PATH_MAX
#define EMPTY_MD5      "d41d8cd98f00b204e9800998ecf8427e"
/* Bytes of a version id we give (section "versioning"): "t" and a decimal
 * uint64_t, with the NUL. */
#define VID_MAX 24

struct cf__s3 {
    struct cf_gateway *g;
    struct cf_fsdb *fs;
    struct cf_http_server *http;
    char *domain; /* lowercase; NULL: path style only */
    char region[64];
    /* Milliseconds between the spaces of a CompleteMultipartUpload reply
     * while its object is assembled (struct mpu_job). */
    uint64_t complete_keepalive_ms;
};

/* Who signed the request. */
struct who {
    uint64_t client, user, root;
};

/* An S3 error to answer. */
struct s3err {
    unsigned status;
    const char *code;
    char msg[CF_ERR_LEN];
};

enum kind { K_ERROR, K_PUT, K_BODY };

/* aws-chunked decoding (STREAMING-AWS4-HMAC-SHA256-PAYLOAD). */
struct chunked {
    bool on;
    char head[CHUNK_HEAD_MAX + 1];
    size_t head_len;
    uint64_t left;                /* data bytes left in the current chunk */
    int crlf;                     /* bytes of the CRLF after a chunk's data still to skip */
    bool last_seen;               /* the 0-length chunk was read */
    char want[CF_SIGV4_HEX_SIZE]; /* the current chunk's signature */
    char prev[CF_SIGV4_HEX_SIZE];
    EVP_MD_CTX *sha; /* of the current chunk */
    struct cf_sigv4_auth auth;
    char amz_date[17];
    uint8_t key[32];
};

/* State of a request with a body. */
struct s3req {
    enum kind kind;
    struct s3err e; /* K_ERROR */
    char resource[KEY_MAX + CF_FSDB_NAME_MAX + 4];
    /* K_PUT */
    struct cf__gateway_put *put;
    struct who who;
    EVP_MD_CTX *md5, *sha256;
    char want_sha[CF_SIGV4_HEX_SIZE]; /* "" if the payload is not signed */
    char content_md5[64];             /* the Content-MD5 header, "" if none */
    struct cf_fsdb_s3attrs attrs;
    struct chunked ch;
    uint64_t size;        /* bytes of content (decoded) so far */
    int64_t decoded_want; /* x-amz-decoded-content-length; -1: none */
    bool bad;             /* the body broke the chunk syntax or a signature */
    const char *bad_code;
    /* K_BODY */
    struct cf_buf body;
    bool too_big;
    char bucket[CF_FSDB_NAME_MAX + 1];
    int op; /* K_BODY: 'C' create bucket, 'D' multi-object delete, 'M' complete an upload,
             * 'V' set versioning */
    char key[KEY_MAX + 1]; /* 'M' */
    /* K_PUT of a part (UploadPart): its upload and number; part_no 0: an
     * object (PutObject). */
    char upload_id[CF_FSDB_S3_UPLOAD_ID_LEN + 1];
    uint32_t part_no;
};

/* ---- replies ---- */

/* Appends to a reply being built. A buffer that reaches its cap gets limit
 * 0, so nothing more is added and reply_xml answers 500 instead of a
 * truncated document. */
static void bappend(struct cf_buf *b, const void *p, size_t n)
{
    if (b->limit != 0 && cf_buf_append(b, p, n) < 0)
        b->limit = 0;
}

static void bprintf(struct cf_buf *b, const char *fmt, ...) CF_PRINTF(2, 3);

static void bprintf(struct cf_buf *b, const char *fmt, ...)
{
    char tmp[512], *p = tmp;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->limit = 0;
        return;
    }
    if ((size_t)n >= sizeof(tmp)) {
        p = cf_xcalloc(1, (size_t)n + 1);
        va_start(ap, fmt);
        (void)vsnprintf(p, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    bappend(b, p, (size_t)n);
    if (p != tmp)
        free(p);
}

static void xml_esc(struct cf_buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '<':
            bappend(b, "&lt;", 4);
            break;
        case '>':
            bappend(b, "&gt;", 4);
            break;
        case '&':
            bappend(b, "&amp;", 5);
            break;
        case '"':
            bappend(b, "&quot;", 6);
            break;
        case '\'':
            bappend(b, "&apos;", 6);
            break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r')
                bprintf(b, "&#%d;", *s);
            else
                bappend(b, s, 1);
        }
    }
}

static void request_id(char out[17])
{
    static const char d[] = "0123456789ABCDEF";
    uint64_t v = cf_now_ns() ^ ((uint64_t)(uintptr_t)out << 20);

    for (int i = 0; i < 16; i++, v >>= 4)
        out[i] = d[v & 15];
    out[16] = '\0';
}

static enum MHD_Result reply_xml(struct MHD_Connection *c, unsigned status, struct cf_buf *b,
                                 const char *const *extra)
{
    const char *hdrs[16];
    char rid[17];
    size_t k = 0;
    enum MHD_Result r;

    if (b != NULL && b->limit == 0) {
        cf_buf_fini(b);
        return cf_http_reply_error(c, CF_EINTERNAL, "the reply is too long");
    }
    request_id(rid);
    hdrs[k++] = "x-amz-request-id";
    hdrs[k++] = rid;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && k < 14; i += 2) {
        hdrs[k++] = extra[i];
        hdrs[k++] = extra[i + 1];
    }
    hdrs[k] = NULL;
    r = cf_http_reply(c, status, b != NULL ? "application/xml" : NULL, b != NULL ? b->base : NULL,
                      b != NULL ? b->len : 0, hdrs);
    if (b != NULL)
        cf_buf_fini(b);
    return r;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, const struct s3err *e,
                                   const char *resource, const char *const *extra)
{
    struct cf_buf b;
    char rid[17];

    request_id(rid);
    cf_buf_init(&b, 64 * 1024);
    bprintf(&b, XML_HEAD "<Error><Code>%s</Code><Message>", e->code);
    xml_esc(&b, e->msg);
    bprintf(&b, "</Message><Resource>");
    xml_esc(&b, resource != NULL ? resource : "");
    bprintf(&b, "</Resource><RequestId>%s</RequestId></Error>", rid);
    return reply_xml(c, e->status, &b, extra);
}

static void seterr(struct s3err *e, unsigned status, const char *code, const char *fmt, ...)
    CF_PRINTF(4, 5);

static void seterr(struct s3err *e, unsigned status, const char *code, const char *fmt, ...)
{
    va_list ap;

    e->status = status;
    e->code = code;
    va_start(ap, fmt);
    (void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}

/* An fsdb or gateway error as S3's; notfound names what was not found. */
static void from_rc(struct s3err *e, int rc, const char *notfound, const char *detail)
{
    const char *d = detail != NULL && detail[0] != '\0' ? detail : cf_strerror(rc);

    switch (rc) {
    case CF_ENOTFOUND:
        seterr(e, 404, notfound, "%s", d);
        break;
    case CF_EPERM:
    case CF_EAUTH:
        seterr(e, 403, "AccessDenied", "%s", d);
        break;
    case CF_EINVAL:
    case CF_EBADREQ:
        seterr(e, 400, "InvalidArgument", "%s", d);
        break;
    case CF_ETOOLARGE:
        seterr(e, 400, "InvalidArgument", "%s", d);
        break;
    case CF_EEXIST:
        seterr(e, 409, "OperationAborted", "%s", d);
        break;
    case CF_EUNAVAIL:
    case CF_EBUSY:
    case CF_EINDOUBT:
        seterr(e, 503, "ServiceUnavailable", "%s", d);
        break;
    case CF_ENOSPC:
        seterr(e, 507, "InsufficientStorage", "%s", d);
        break;
    default:
        seterr(e, 500, "InternalError", "%s", d);
    }
}

static void iso_time(uint64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char base[24];

    (void)gmtime_r(&t, &tm);
    (void)strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    (void)snprintf(out, 32, "%.19s.%03uZ", base, (unsigned)(ms % 1000));
}

static void http_time(uint64_t ms, char out[40])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    (void)gmtime_r(&t, &tm);
    (void)strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* An HTTP date (IMF-fixdate) in seconds; -1 if malformed. */
static int64_t parse_http_time(const char *s)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end != '\0')
        return -1;
    return (int64_t)timegm(&tm);
}

/* ---- requests: where, who ---- */

struct arg_find {
    const char *name;
    bool found;
};

static enum MHD_Result arg_it(void *cls, enum MHD_ValueKind kind, const char *key,
                              const char *value)
{
    struct arg_find *f = cls;

    (void)kind;
    (void)value;
    if (strcmp(key, f->name) == 0) {
        f->found = true;
        return MHD_NO;
    }
    return MHD_YES;
}

/* Whether the query has the argument, with or without a value ("?delete"). */
static bool has_arg(struct MHD_Connection *c, const char *name)
{
    struct arg_find f = {name, false};

    (void)MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, arg_it, &f);
    return f.found;
}

/* Split into bucket and key: virtual-hosted (Host BUCKET.<domain>) or path
 * style. Returns false for a bucket or key coffer cannot name. */
static bool split(const struct cf__s3 *s, struct MHD_Connection *c, const char *url,
                  char bucket[CF_FSDB_NAME_MAX + 1], char key[KEY_MAX + 1])
{
    const char *host = cf_http_header(c, "Host"), *p = url;
    size_t n;

    bucket[0] = '\0';
    key[0] = '\0';
    if (*p == '/')
        p++;
    if (s->domain != NULL && host != NULL) {
        size_t hl = strcspn(host, ":"), dl = strlen(s->domain);
        if (hl > dl + 1 && host[hl - dl - 1] == '.' &&
            strncasecmp(host + hl - dl, s->domain, dl) == 0) {
            n = hl - dl - 1;
            if (n > CF_FSDB_NAME_MAX || strlen(p) > KEY_MAX)
                return false;
            for (size_t i = 0; i < n; i++)
                bucket[i] = (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] + 32 : host[i]);
            bucket[n] = '\0';
            memcpy(key, p, strlen(p) + 1);
            return true;
        }
    }
    n = strcspn(p, "/");
    if (n > CF_FSDB_NAME_MAX)
        return false;
    memcpy(bucket, p, n);
    bucket[n] = '\0';
    p += n;
    if (*p == '/')
        p++;
    if (strlen(p) > KEY_MAX)
        return false;
    memcpy(key, p, strlen(p) + 1);
    return true;
}

struct qctx {
    struct cf_sigv4_pair q[QUERY_MAX];
    size_t n;
    bool over;
    bool presigned; /* skip X-Amz-Signature */
};

static enum MHD_Result query_it(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct qctx *q = cls;

    (void)kind;
    if (q->presigned && strcmp(key, "X-Amz-Signature") == 0)
        return MHD_YES;
    if (q->n == QUERY_MAX) {
        q->over = true;
        return MHD_NO;
    }
    q->q[q->n].name = key;
    q->q[q->n].value = value;
    q->n++;
    return MHD_YES;
}

/* Check the request's signature. On success *w is the signer, and for an
 * aws-chunked body ch is primed with the seed signature. *payload is the
 * payload hash the client signed (x-amz-content-sha256, or UNSIGNED-PAYLOAD
 * for presigned URLs): borrowed, valid for the request. */
static int authenticate(struct cf__s3 *s, struct MHD_Connection *c, const char *url,
                        const char *method, struct who *w, const char **payload, struct chunked *ch,
                        struct s3err *e)
{
    const char *authz = cf_http_header(c, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *algo = cf_http_query(c, "X-Amz-Algorithm");
    struct cf_sigv4_auth a;
    struct cf_fsdb_s3key k;
    struct qctx *q = NULL;
    char err[CF_ERR_LEN] = "", names_buf[sizeof(a.signed_headers)], sig[CF_SIGV4_HEX_SIZE];
    const char *names[CF_SIGV4_HEADERS_MAX], *vals[CF_SIGV4_HEADERS_MAX], *amz_date;
    int64_t t = 0, now = (int64_t)(cf_wall_ms() / 1000);
    uint8_t key[32];
    int n, rc = CF_EAUTH;

    memset(&k, 0, sizeof(k));
    if (authz == NULL && algo == NULL) {
        seterr(e, 403, "AccessDenied", "anonymous access is not allowed: sign with an access key");
        goto out;
    }
    q = cf_xcalloc(1, sizeof(*q));
    if (authz != NULL) {
        if (cf_sigv4_parse_header(authz, &a, err) < 0) {
            seterr(e, 400, "AuthorizationHeaderMalformed", "%s", err);
            goto out;
        }
        amz_date = cf_http_header(c, "x-amz-date");
        if (amz_date == NULL || cf_sigv4_parse_date(amz_date, &t) < 0) {
            seterr(e, 403, "AccessDenied", "x-amz-date (YYYYMMDDTHHMMSSZ) is required");
            goto out;
        }
        if (t > now + SKEW_S || t < now - SKEW_S) {
            seterr(e, 403, "RequestTimeTooSkewed",
                   "the difference between the request time and the server's time is too large");
            goto out;
        }
        *payload = cf_http_header(c, "x-amz-content-sha256");
        if (*payload == NULL) {
            seterr(e, 400, "InvalidRequest", "missing required header x-amz-content-sha256");
            goto out;
        }
    } else {
        if (cf_sigv4_parse_query(algo, cf_http_query(c, "X-Amz-Credential"),
                                 cf_http_query(c, "X-Amz-Date"), cf_http_query(c, "X-Amz-Expires"),
                                 cf_http_query(c, "X-Amz-SignedHeaders"),
                                 cf_http_query(c, "X-Amz-Signature"), &a, err) < 0) {
            seterr(e, 400, "AuthorizationQueryParametersError", "%s", err);
            goto out;
        }
        amz_date = a.amz_date;
        if (cf_sigv4_parse_date(amz_date, &t) < 0)
            t = 0; /* checked by cf_sigv4_parse_query */
        if (t > now + SKEW_S) {
            seterr(e, 403, "RequestTimeTooSkewed", "X-Amz-Date is in the future");
            goto out;
        }
        if (now > t + (int64_t)a.expires_s) {
            seterr(e, 403, "AccessDenied", "Request has expired");
            goto out;
        }
        *payload = CF_SIGV4_UNSIGNED;
        q->presigned = true;
    }
    if (strncmp(amz_date, a.date, 8) != 0 || strcmp(a.service, "s3") != 0) {
        seterr(e, 400, "AuthorizationHeaderMalformed",
               "the credential's date or service does not match the request");
        goto out;
    }
    if (strcmp(a.region, s->region) != 0) {
        seterr(e, 400, "AuthorizationHeaderMalformed",
               "the region '%.64s' is wrong; expecting '%s'", a.region, s->region);
        goto out;
    }
    rc = cf_fsdb_s3key_get(s->fs, a.key_id, &k, err);
    if (rc == CF_ENOTFOUND) {
        seterr(e, 403, "InvalidAccessKeyId",
               "the AWS access key Id you provided does not exist in our records");
        goto out;
    }
    if (rc < 0) {
        from_rc(e, rc, "InternalError", err);
        goto out;
    }
    rc = CF_EAUTH;
    n = cf_sigv4_header_names(&a, names_buf, names);
    if (n < 0) {
        seterr(e, 400, "AuthorizationHeaderMalformed", "SignedHeaders is malformed or lacks host");
        goto out;
    }
    for (int i = 0; i < n; i++)
        vals[i] = cf_http_header(c, names[i]);
    (void)MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_it, q);
    if (q->over) {
        seterr(e, 400, "InvalidArgument", "too many query arguments");
        goto out;
    }
    {
        struct cf_sigv4_req r = {method, url, q->q, q->n, vals, (size_t)n, *payload};
        cf_sigv4_signing_key(k.secret, a.date, a.region, a.service, key);
        if (cf_sigv4_sign(&a, amz_date, &r, key, sig, NULL, err) < 0) {
            seterr(e, 403, "SignatureDoesNotMatch", "%s", err);
            goto out;
        }
    }
    if (!cf_sigv4_equal(sig, a.signature)) {
        seterr(e, 403, "SignatureDoesNotMatch",
               "the request signature we calculated does not match the signature you provided");
        goto out;
    }
    w->client = k.client;
    w->user = k.user;
    rc = cf_fsdb_resolve(s->fs, w->client, "/", &w->root, err);
    if (rc < 0) {
        from_rc(e, rc == CF_ENOTFOUND ? CF_EPERM : rc, "AccessDenied", err);
        goto out;
    }
    if (ch != NULL && strcmp(*payload, CF_SIGV4_STREAMING) == 0) {
        ch->on = true;
        ch->auth = a;
        memcpy(ch->amz_date, amz_date, 16);
        ch->amz_date[16] = '\0';
        memcpy(ch->key, key, 32);
        memcpy(ch->prev, sig, sizeof(ch->prev));
    }
    rc = 0;
out:
    explicit_bzero(&k, sizeof(k));
    explicit_bzero(key, sizeof(key));
    free(q);
    return rc;
}

/* ---- buckets ---- */

/* Whether a file lies anywhere below folder, in folders the user may read:
 * S3 has no empty folders, so those neither list nor keep a bucket from
 * being deleted. Returns 1, 0 or an fsdb error. */
static int has_key(struct cf__s3 *s, const struct who *w, uint64_t folder, int depth)
{
    struct cf_fsdb_s3_item *v = NULL;
    char after[CF_FSDB_NAME_MAX + 2] = "";
    bool more = true, first = true;
    size_t n = 0;
    int rc = 0;

    if (depth > CF_FSDB_PATH_MAX / 2)
        return 0;
    while (more && rc == 0) {
        rc = cf_fsdb_s3_page(s->fs, w->client, folder, first ? NULL : after, 64, &v, &n, &more,
                             NULL);
        first = false;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            enum cf_fsdb_level have = CF_FSDB_NONE;
            if (v[i].e.kind == CF_FSDB_FILE) {
                rc = 1;
                break;
            }
            if (cf_fsdb_perm_effective(s->fs, w->client, w->user, v[i].e.id, &have, NULL) == 0 &&
                have >= CF_FSDB_READ)
                rc = has_key(s, w, v[i].e.id, depth + 1);
        }
        if (n > 0)
            (void)snprintf(after, sizeof(after), "%s%s", v[n - 1].e.name,
                           v[n - 1].e.kind == CF_FSDB_FOLDER ? "/" : "");
        free(v);
        v = NULL;
    }
    return rc;
}

/* The bucket's folder, which the user may read (want READ) or change. */
static int bucket_get(struct cf__s3 *s, const struct who *w, const char *bucket,
                      enum cf_fsdb_level want, struct cf_fsdb_entry *out, struct s3err *e)
{
    char path[CF_FSDB_NAME_MAX + 2], err[CF_ERR_LEN] = "";
    enum cf_fsdb_level have = CF_FSDB_NONE;
    int rc;

    if (cf_fsdb_name_validate(bucket, strlen(bucket), err) < 0) {
        seterr(e, 400, "InvalidBucketName", "%s", err);
        return CF_EINVAL;
    }
    (void)snprintf(path, sizeof(path), "/%s", bucket);
    rc = cf_fsdb_lookup_access(s->fs, w->client, w->user, path, false, out, &have, err);
    if (rc == 0 && out->kind != CF_FSDB_FOLDER)
        rc = CF_ENOTFOUND;
    if (rc == CF_ENOTFOUND) {
        seterr(e, 404, "NoSuchBucket", "the specified bucket does not exist");
        return rc;
    }
    if (rc == 0 && have < want) {
        seterr(e, 403, "AccessDenied", "you may not %s this bucket",
               want == CF_FSDB_READ ? "read" : "write");
        return CF_EPERM;
    }
    if (rc < 0)
        from_rc(e, rc, "NoSuchBucket", err);
    return rc;
}

static enum MHD_Result list_buckets(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w)
{
    struct cf_fsdb_list_pos pos;
    struct cf_fsdb_entry *v = NULL;
    struct cf_buf b;
    struct s3err e;
    char err[CF_ERR_LEN] = "", when[32];
    bool more = true, first = true;
    size_t n = 0;
    int rc = 0;

    cf_buf_init(&b, 64 * 1024 * 1024);
    bprintf(&b,
            XML_HEAD "<ListAllMyBucketsResult xmlns=\"" XMLNS "\"><Owner><ID>%" PRIu64
                     "</ID><DisplayName>%" PRIu64 "</DisplayName></Owner><Buckets>",
            w->user, w->user);
    while (more && rc == 0) {
        rc = cf_fsdb_list_page(s->fs, w->client, w->root, first ? NULL : &pos, LIST_PAGE, &v, &n,
                               &more, err);
        first = false;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            enum cf_fsdb_level have = CF_FSDB_NONE;
            if (v[i].kind != CF_FSDB_FOLDER) {
                more = false; /* folders come first */
                break;
            }
            if (cf_fsdb_perm_effective(s->fs, w->client, w->user, v[i].id, &have, NULL) < 0 ||
                have < CF_FSDB_READ)
                continue;
            iso_time(v[i].created_ms, when);
            bprintf(&b, "<Bucket><Name>");
            xml_esc(&b, v[i].name);
            bprintf(&b, "</Name><CreationDate>%s</CreationDate></Bucket>", when);
        }
        if (n > 0) {
            pos.kind = v[n - 1].kind;
            memcpy(pos.name, v[n - 1].name, sizeof(pos.name));
        }
        free(v);
        v = NULL;
    }
    if (rc < 0) {
        cf_buf_fini(&b);
        from_rc(&e, rc, "NoSuchBucket", err);
        return reply_error(c, &e, "/", NULL);
    }
    bprintf(&b, "</Buckets></ListAllMyBucketsResult>");
    return reply_xml(c, 200, &b, NULL);
}

static enum MHD_Result create_bucket(struct cf__s3 *s, struct MHD_Connection *c,
                                     const struct who *w, const char *bucket)
{
    enum cf_fsdb_level have = CF_FSDB_NONE;
    char err[CF_ERR_LEN] = "", loc[CF_FSDB_NAME_MAX + 2];
    const char *hdrs[] = {"Location", loc, NULL};
    struct cf_fsdb_entry fe;
    struct s3err e;
    int rc;

    if (cf_fsdb_name_validate(bucket, strlen(bucket), err) < 0) {
        seterr(&e, 400, "InvalidBucketName", "%s", err);
        return reply_error(c, &e, bucket, NULL);
    }
    (void)snprintf(loc, sizeof(loc), "/%s", bucket);
    rc = cf_fsdb_perm_effective(s->fs, w->client, w->user, w->root, &have, err);
    if (rc == 0 && have < CF_FSDB_READ_WRITE) {
        seterr(&e, 403, "AccessDenied", "you may not make buckets");
        return reply_error(c, &e, loc, NULL);
    }
    if (rc == 0)
        rc = cf_fsdb_mkdir(s->fs, w->client, w->root, bucket, NULL, err);
    if (rc == CF_EEXIST) {
        if (cf_fsdb_lookup(s->fs, w->client, loc, &fe, NULL) == 0 && fe.kind == CF_FSDB_FOLDER)
            seterr(&e, 409, "BucketAlreadyOwnedByYou", "you own this bucket already");
        else
            seterr(&e, 409, "BucketAlreadyExists", "a file has that name");
        return reply_error(c, &e, loc, NULL);
    }
    if (rc < 0) {
        from_rc(&e, rc, "NoSuchBucket", err);
        return reply_error(c, &e, loc, NULL);
    }
    return reply_xml(c, 200, NULL, hdrs);
}

static enum MHD_Result delete_bucket(struct cf__s3 *s, struct MHD_Connection *c,
                                     const struct who *w, const char *bucket)
{
    struct cf_fsdb_entry fe;
    enum cf_fsdb_level have = CF_FSDB_NONE;
    char err[CF_ERR_LEN] = "";
    struct s3err e;
    uint64_t tid = 0;
    int rc;

    if (bucket_get(s, w, bucket, CF_FSDB_READ_WRITE, &fe, &e) < 0)
        return reply_error(c, &e, bucket, NULL);
    rc = cf_fsdb_perm_effective(s->fs, w->client, w->user, w->root, &have, err);
    if (rc == 0 && have < CF_FSDB_READ_WRITE) {
        seterr(&e, 403, "AccessDenied", "you may not delete buckets");
        return reply_error(c, &e, bucket, NULL);
    }
    if (rc == 0)
        rc = has_key(s, w, fe.id, 0);
    if (rc == 1) {
        seterr(&e, 409, "BucketNotEmpty", "the bucket you tried to delete is not empty");
        return reply_error(c, &e, bucket, NULL);
    }
    if (rc == 0)
        rc = cf_fsdb_trash_put(s->fs, w->client, CF_FSDB_FOLDER, fe.id, w->user, &tid, err);
    if (rc < 0) {
        from_rc(&e, rc, "NoSuchBucket", err);
        return reply_error(c, &e, bucket, NULL);
    }
    return reply_xml(c, 204, NULL, NULL);
}

/* ---- listing ---- */

struct lister {
    struct cf__s3 *s;
    const struct who *w;
    const char *bucket;
    const char *prefix, *delim;
    size_t plen, dlen;
    size_t max, count;
    bool truncated, stop, url;
    int rc;
    char err[CF_ERR_LEN];
    struct cf_buf contents, prefixes;
    char last[KEY_MAX + 2]; /* the last item listed */
    bool last_cp;
    char full[KEY_MAX + 2]; /* scratch */
};

static void put_key(struct lister *l, struct cf_buf *b, const char *tag, const char *k)
{
    bprintf(b, "<%s>", tag);
    if (l->url) {
        struct cf_buf t;
        cf_buf_init(&t, 4 * KEY_MAX);
        if (cf_sigv4_uri_encode(&t, k, strlen(k), true) == 0 && t.base != NULL)
            xml_esc(b, t.base);
        cf_buf_fini(&t);
    } else {
        xml_esc(b, k);
    }
    bprintf(b, "</%s>", tag);
}

/* Add an item; false when the page is full (the listing stops). */
static bool emit(struct lister *l, const char *key, bool cp, const struct cf_fsdb_s3_item *it)
{
    char when[32];

    if (cp && l->last_cp && strcmp(key, l->last) == 0)
        return true;
    if (l->count == l->max) {
        l->truncated = true;
        l->stop = true;
        return false;
    }
    if (cp) {
        bprintf(&l->prefixes, "<CommonPrefixes>");
        put_key(l, &l->prefixes, "Prefix", key);
        bprintf(&l->prefixes, "</CommonPrefixes>");
    } else {
        char etag[CF_SIGV4_HEX_SIZE * 2];
        if (it->etag[0] != '\0') {
            (void)snprintf(etag, sizeof(etag), "%s", it->etag);
        } else {
            char hex[129];
            cf_hex_encode(it->e.sha512, 32, hex);
            (void)snprintf(etag, sizeof(etag), "%.32s", hex);
        }
        iso_time(it->e.modified_ms, when);
        bprintf(&l->contents, "<Contents>");
        put_key(l, &l->contents, "Key", key);
        bprintf(&l->contents,
                "<LastModified>%s</LastModified><ETag>&quot;%s&quot;</ETag>"
                "<Size>%" PRIu64 "</Size><Owner><ID>%" PRIu64 "</ID><DisplayName>%" PRIu64
                "</DisplayName></Owner><StorageClass>STANDARD</StorageClass>"
                "</Contents>",
                when, etag, it->e.size, l->w->user, l->w->user);
    }
    l->count++;
    (void)snprintf(l->last, sizeof(l->last), "%s", key);
    l->last_cp = cp;
    return true;
}

static bool starts(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Where the walk of a folder whose keys start with fp resumes after key S
 * (exclusive) and with l's prefix: the child name to list after goes to
 * after (CF_FSDB_NAME_MAX + 2 bytes), *have_after saying whether there is
 * one. When S falls inside a subfolder the user may read, descend(ctx,
 * its id, its key prefix, S) walks it first. Returns false when nothing
 * more of this folder is to be listed. */
static bool walk_from(struct lister *l, const char *fp, const char *S, char *after,
                      bool *have_after,
                      void (*descend)(void *ctx, uint64_t folder, const char *sub, const char *S),
                      void *ctx)
{
    size_t fl = strlen(fp);
    const char *pp = l->plen > fl ? l->prefix + fl : "";

    if (starts(S, fp)) {
        const char *rest = S + fl, *slash = strchr(rest, '/');
        if (slash != NULL) {
            /* Resume inside the folder named by rest's first part, then after it. */
            size_t cl = (size_t)(slash - rest);
            char path[KEY_MAX + CF_FSDB_NAME_MAX + 4];
            struct cf_fsdb_entry fe;
            enum cf_fsdb_level have = CF_FSDB_NONE;
            if (cl == 0 || cl > CF_FSDB_NAME_MAX)
                return false;
            (void)snprintf(path, sizeof(path), "/%s/%s%.*s", l->bucket, fp, (int)cl, rest);
            if (cf_fsdb_lookup_access(l->s->fs, l->w->client, l->w->user, path, false, &fe, &have,
                                      NULL) == 0 &&
                fe.kind == CF_FSDB_FOLDER && have >= CF_FSDB_READ &&
                (pp[0] == '\0' || starts(rest, pp))) {
                char sub[KEY_MAX + 2];
                (void)snprintf(sub, sizeof(sub), "%s%.*s/", fp, (int)cl, rest);
                if (l->delim == NULL || strlen(sub) <= l->plen ||
                    strstr(sub + l->plen, l->delim) == NULL)
                    descend(ctx, fe.id, sub, S);
                if (l->stop || l->rc < 0)
                    return false;
            }
            (void)snprintf(after, CF_FSDB_NAME_MAX + 2, "%.*s/", (int)cl, rest);
        } else {
            if (strlen(rest) > CF_FSDB_NAME_MAX + 1)
                return false;
            (void)snprintf(after, CF_FSDB_NAME_MAX + 2, "%s", rest);
        }
        *have_after = true;
    } else if (strcmp(S, fp) > 0) {
        return false;
    }
    /* Seek to the prefix: every key starting with pp is after pp less its last byte. */
    if (pp[0] != '\0' && strlen(pp) <= CF_FSDB_NAME_MAX + 1) {
        char seek[CF_FSDB_NAME_MAX + 2];
        (void)snprintf(seek, sizeof(seek), "%.*s", (int)strlen(pp) - 1, pp);
        if (!*have_after || strcmp(seek, after) > 0) {
            memcpy(after, seek, strlen(seek) + 1);
            *have_after = true;
        }
    }
    return true;
}

static void walk(struct lister *l, uint64_t folder, const char *fp, const char *S);

static void walk_descend(void *ctx, uint64_t folder, const char *sub, const char *S)
{
    walk(ctx, folder, sub, S);
}

/* List folder (whose keys start with fp) after key S (exclusive). */
static void walk(struct lister *l, uint64_t folder, const char *fp, const char *S)
{
    size_t fl = strlen(fp);
    const char *pp = l->plen > fl ? l->prefix + fl : "";
    char after[CF_FSDB_NAME_MAX + 2] = "";
    bool have_after = false, more = true;
    struct cf_fsdb_s3_item *v = NULL;
    size_t n = 0;

    if (!walk_from(l, fp, S, after, &have_after, walk_descend, l))
        return;
    while (more && !l->stop && l->rc == 0) {
        l->rc = cf_fsdb_s3_page(l->s->fs, l->w->client, folder, have_after ? after : NULL,
                                LIST_PAGE, &v, &n, &more, l->err);
        for (size_t i = 0; l->rc == 0 && !l->stop && i < n; i++) {
            const struct cf_fsdb_s3_item *it = &v[i];
            bool dir = it->e.kind == CF_FSDB_FOLDER;
            const char *d;
            int w;

            w = snprintf(l->full, sizeof(l->full), "%s%s%s", fp, it->e.name, dir ? "/" : "");
            (void)snprintf(after, sizeof(after), "%s%s", it->e.name, dir ? "/" : "");
            have_after = true;
            if (w < 0 || (size_t)w >= sizeof(l->full))
                continue;
            if (pp[0] != '\0' && !starts(after, pp)) {
                if (strcmp(after, pp) > 0) {
                    more = false;
                    break;
                }
                continue;
            }
            d = l->delim != NULL && strlen(l->full) > l->plen ? strstr(l->full + l->plen, l->delim)
                                                              : NULL;
            if (d != NULL) {
                char cp[KEY_MAX + 2];
                (void)snprintf(cp, sizeof(cp), "%.*s", (int)(d - l->full) + (int)l->dlen, l->full);
                if (dir && has_key(l->s, l->w, it->e.id, 0) != 1)
                    continue; /* S3 has no empty folders */
                if (!starts(S, cp) && strcmp(cp, S) > 0)
                    (void)emit(l, cp, true, NULL);
                continue;
            }
            if (dir) {
                enum cf_fsdb_level have = CF_FSDB_NONE;
                char sub[KEY_MAX + 2];
                if (cf_fsdb_perm_effective(l->s->fs, l->w->client, l->w->user, it->e.id, &have,
                                           NULL) < 0 ||
                    have < CF_FSDB_READ)
                    continue;
                memcpy(sub, l->full, strlen(l->full) + 1);
                walk(l, it->e.id, sub, S);
                continue;
            }
            if (strcmp(l->full, S) > 0)
                (void)emit(l, l->full, false, it);
        }
        free(v);
        v = NULL;
    }
}

static int parse_max_keys(const char *q, size_t *out)
{
    char *end = NULL;
    unsigned long long v;

    *out = 1000;
    if (q == NULL)
        return 0;
    errno = 0;
    v = strtoull(q, &end, 10);
    if (q[0] < '0' || q[0] > '9' || errno != 0 || *end != '\0')
        return CF_EINVAL;
    *out = v > 1000 ? 1000 : (size_t)v;
    return 0;
}

/* Whether a listing's marker is a common prefix it gave back (under the
 * prefix, ending with the delimiter): the listing then starts past all its
 * keys. */
static bool marker_is_prefix(const char *marker, const char *prefix, const char *delim)
{
    size_t ml = strlen(marker), dl = delim != NULL ? strlen(delim) : 0;

    return delim != NULL && starts(marker, prefix) && ml >= dl &&
           strcmp(marker + ml - dl, delim) == 0;
}

/* Set up l (zeroed) to list bucket for w with the query's prefix,
 * delimiter, max-keys and encoding-type. Returns 0, or CF_EINVAL with e
 * (l then holds nothing to release). */
static int lister_open(struct lister *l, struct cf__s3 *s, struct MHD_Connection *c,
                       const struct who *w, const char *bucket, struct s3err *e)
{
    const char *prefix = cf_http_query(c, "prefix"), *delim = cf_http_query(c, "delimiter");
    const char *enc = cf_http_query(c, "encoding-type");
    size_t max = 0;

    if (prefix == NULL)
        prefix = "";
    if (delim != NULL && delim[0] == '\0')
        delim = NULL;
    if (parse_max_keys(cf_http_query(c, "max-keys"), &max) < 0) {
        seterr(e, 400, "InvalidArgument", "max-keys is a number");
        return CF_EINVAL;
    }
    if (enc != NULL && strcmp(enc, "url") != 0) {
        seterr(e, 400, "InvalidArgument", "encoding-type is url");
        return CF_EINVAL;
    }
    if (strlen(prefix) > KEY_MAX || (delim != NULL && strlen(delim) > 16)) {
        seterr(e, 400, "InvalidArgument", "the prefix or delimiter is too long");
        return CF_EINVAL;
    }
    l->s = s;
    l->w = w;
    l->bucket = bucket;
    l->prefix = prefix;
    l->plen = strlen(prefix);
    l->delim = delim;
    l->dlen = delim != NULL ? strlen(delim) : 0;
    l->max = max;
    l->url = enc != NULL;
    cf_buf_init(&l->contents, 64 * 1024 * 1024);
    cf_buf_init(&l->prefixes, 64 * 1024 * 1024);
    return 0;
}

/* The folder a listing of l walks: the deepest one its prefix names whole
 * (its key prefix into base, KEY_MAX + 2 bytes), below the bucket's folder
 * bucket_folder. Returns its id, or 0 when it is not there or the user may
 * not read it (nothing to list). */
static uint64_t list_base(const struct lister *l, uint64_t bucket_folder, char *base)
{
    const char *slash = strrchr(l->prefix, '/');
    size_t bl = slash != NULL ? (size_t)(slash - l->prefix) + 1 : 0;
    char path[KEY_MAX + CF_FSDB_NAME_MAX + 4];
    enum cf_fsdb_level have = CF_FSDB_NONE;
    struct cf_fsdb_entry fe;

    memcpy(base, l->prefix, bl);
    base[bl] = '\0';
    if (bl == 0)
        return bucket_folder;
    (void)snprintf(path, sizeof(path), "/%s/%.*s", l->bucket, (int)bl - 1, base);
    if (cf_fsdb_lookup_access(l->s->fs, l->w->client, l->w->user, path, false, &fe, &have, NULL) <
            0 ||
        fe.kind != CF_FSDB_FOLDER || have < CF_FSDB_READ)
        return 0;
    return fe.id;
}

static enum MHD_Result list_objects(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                                    const char *bucket, bool v2)
{
    const char *token = v2 ? cf_http_query(c, "continuation-token") : NULL;
    const char *start = cf_http_query(c, v2 ? "start-after" : "marker");
    struct lister *l = cf_xcalloc(1, sizeof(*l));
    struct cf_fsdb_entry fe;
    struct cf_buf b;
    struct s3err e;
    char S[KEY_MAX + 3] = "", base[KEY_MAX + 2] = "";
    const char *prefix, *delim;
    enum MHD_Result res;
    uint64_t folder;
    size_t max;

    if (lister_open(l, s, c, w, bucket, &e) < 0) {
        free(l);
        return reply_error(c, &e, bucket, NULL);
    }
    prefix = l->prefix;
    delim = l->delim;
    max = l->max;
    if (token != NULL) {
        size_t tl = strlen(token);
        if (tl < 1 || tl % 2 == 0 || (token[0] != 'k' && token[0] != 'c') ||
            (tl - 1) / 2 > KEY_MAX || cf_hex_decode(token + 1, (tl - 1) / 2, S, false) < 0 ||
            memchr(S, '\0', (tl - 1) / 2) != NULL) {
            seterr(&e, 400, "InvalidArgument", "the continuation token is not one we gave");
            res = reply_error(c, &e, bucket, NULL);
            goto out;
        }
        S[(tl - 1) / 2] = '\0';
        if (token[0] == 'c')
            (void)strncat(S, "\xff", 2);
    } else if (start != NULL) {
        if (strlen(start) > KEY_MAX) {
            seterr(&e, 400, "InvalidArgument", "the marker is too long");
            res = reply_error(c, &e, bucket, NULL);
            goto out;
        }
        memcpy(S, start, strlen(start) + 1);
        if (marker_is_prefix(start, prefix, delim))
            (void)strncat(S, "\xff", 2);
    }
    if (bucket_get(s, w, bucket, CF_FSDB_READ, &fe, &e) < 0) {
        res = reply_error(c, &e, bucket, NULL);
        goto out;
    }
    folder = list_base(l, fe.id, base);
    /* Keys at the base that the delimiter folds before the prefix's end
     * cannot happen: the base is the prefix's own folder. */
    if (max > 0 && folder != 0)
        walk(l, folder, base, S);
    if (l->rc < 0) {
        from_rc(&e, l->rc, "NoSuchBucket", l->err);
        res = reply_error(c, &e, bucket, NULL);
        goto out;
    }
    cf_buf_init(&b, 128 * 1024 * 1024);
    bprintf(&b, XML_HEAD "<ListBucketResult xmlns=\"" XMLNS "\">");
    bprintf(&b, "<Name>");
    xml_esc(&b, bucket);
    bprintf(&b, "</Name>");
    put_key(l, &b, "Prefix", prefix);
    if (v2) {
        bprintf(&b, "<KeyCount>%zu</KeyCount>", l->count);
        if (token != NULL)
            put_key(l, &b, "ContinuationToken", token);
        if (start != NULL)
            put_key(l, &b, "StartAfter", start);
    } else {
        put_key(l, &b, "Marker", start != NULL ? start : "");
    }
    bprintf(&b, "<MaxKeys>%zu</MaxKeys>", max);
    if (delim != NULL)
        put_key(l, &b, "Delimiter", delim);
    if (l->url)
        bprintf(&b, "<EncodingType>url</EncodingType>");
    bprintf(&b, "<IsTruncated>%s</IsTruncated>", l->truncated ? "true" : "false");
    if (l->truncated && v2) {
        char *tok = cf_xcalloc(1, 2 * strlen(l->last) + 2);
        tok[0] = l->last_cp ? 'c' : 'k';
        cf_hex_encode(l->last, strlen(l->last), tok + 1);
        bprintf(&b, "<NextContinuationToken>%s</NextContinuationToken>", tok);
        free(tok);
    } else if (l->truncated) {
        put_key(l, &b, "NextMarker", l->last);
    }
    if (l->contents.len > 0)
        bappend(&b, l->contents.base, l->contents.len);
    if (l->prefixes.len > 0)
        bappend(&b, l->prefixes.base, l->prefixes.len);
    bprintf(&b, "</ListBucketResult>");
    res = reply_xml(c, 200, &b, NULL);
out:
    cf_buf_fini(&l->contents);
    cf_buf_fini(&l->prefixes);
    free(l);
    return res;
}

/* ---- objects ---- */

/* The path of key in bucket ("/bucket/key"), checking each name. A key
 * ending in '/' names a folder (*dir). */
static int key_path(const char *bucket, const char *key, char *path, size_t cap, bool *dir,
                    struct s3err *e)
{
    char err[CF_ERR_LEN] = "";
    size_t kl = strlen(key);
    const char *p = key;
    int n;

    *dir = kl > 0 && key[kl - 1] == '/';
    n = snprintf(path, cap, "/%s/%.*s", bucket, (int)(*dir ? kl - 1 : kl), key);
    if (n < 0 || (size_t)n >= cap || (size_t)n > CF_FSDB_PATH_MAX) {
        seterr(e, 400, "KeyTooLongError", "your key is too long");
        return CF_ETOOLARGE;
    }
    while (*p != '\0') {
        size_t cl = strcspn(p, "/");
        if (cf_fsdb_name_validate(p, cl, err) < 0) {
            seterr(e, 400, "InvalidArgument", "the key cannot be a path: %s", err);
            return CF_EINVAL;
        }
        p += cl;
        if (*p == '/')
            p++;
    }
    return 0;
}

/* The folder `path`'s parent chain made as needed (mkdir -p) below the
 * bucket, each new one where the user may write; *folder the last. */
static int make_parents(struct cf__s3 *s, const struct who *w, const char *path, bool whole,
                        uint64_t *folder, struct s3err *e)
{
    char sub[CF_FSDB_PATH_MAX + 2], err[CF_ERR_LEN] = "", name[CF_FSDB_NAME_MAX + 1];
    const char *p = strchr(path + 1, '/'); /* after the bucket */
    struct cf_fsdb_entry fe;
    size_t end = whole ? strlen(path) : (size_t)(strrchr(path, '/') - path);
    int rc;

    (void)snprintf(sub, sizeof(sub), "%.*s", p != NULL ? (int)(p - path) : (int)strlen(path), path);
    rc = cf_fsdb_lookup(s->fs, w->client, sub, &fe, err);
    if (rc < 0 || fe.kind != CF_FSDB_FOLDER) {
        seterr(e, 404, "NoSuchBucket", "the specified bucket does not exist");
        return CF_ENOTFOUND;
    }
    *folder = fe.id;
    while (p != NULL && (size_t)(p - path) < end) {
        const char *q = strchr(p + 1, '/');
        size_t stop = q != NULL && (size_t)(q - path) < end ? (size_t)(q - path) : end;
        size_t nl = stop - (size_t)(p - path) - 1;
        (void)snprintf(sub, sizeof(sub), "%.*s", (int)stop, path);
        memcpy(name, p + 1, nl);
        name[nl] = '\0';
        rc = cf_fsdb_lookup(s->fs, w->client, sub, &fe, err);
        if (rc == CF_ENOTFOUND) {
            enum cf_fsdb_level have = CF_FSDB_NONE;
            rc = cf_fsdb_perm_effective(s->fs, w->client, w->user, *folder, &have, err);
            if (rc == 0 && have < CF_FSDB_READ_WRITE)
                rc = CF_EPERM;
            if (rc == 0)
                rc = cf_fsdb_mkdir(s->fs, w->client, *folder, name, NULL, err);
            if (rc == CF_EEXIST)
                rc = 0; /* made meanwhile */
            if (rc == 0)
                rc = cf_fsdb_lookup(s->fs, w->client, sub, &fe, err);
        }
        if (rc == 0 && fe.kind != CF_FSDB_FOLDER) {
            seterr(e, 409, "InvalidRequest", "\"%s\" is a file, not a folder", name);
            return CF_EEXIST;
        }
        if (rc < 0) {
            from_rc(e, rc, "NoSuchKey", err);
            return rc;
        }
        *folder = fe.id;
        p = stop < end ? path + stop : NULL;
    }
    return 0;
}

struct meta_ctx {
    json_t *j;
    size_t bytes;
};

static enum MHD_Result meta_it(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    struct meta_ctx *m = cls;
    char low[256];
    size_t n = strlen(key);

    (void)kind;
    if (n <= 11 || strncasecmp(key, "x-amz-meta-", 11) != 0 || n >= sizeof(low))
        return MHD_YES;
    for (size_t i = 11; i <= n; i++)
        low[i - 11] = (char)((key[i] >= 'A' && key[i] <= 'Z') ? key[i] + 32 : key[i]);
    m->bytes += n - 11 + strlen(value);
    (void)json_object_set_new(m->j, low, json_string(value));
    return MHD_YES;
}

/* Content-Type and x-amz-meta-* of the request into a. */
static int attrs_from(struct MHD_Connection *c, struct cf_fsdb_s3attrs *a, struct s3err *e)
{
    const char *ct = cf_http_header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
    struct meta_ctx m = {json_object(), 0};
    char *text;

    if (ct == NULL)
        ct = "binary/octet-stream";
    if (strlen(ct) > CF_FSDB_S3_CTYPE_MAX) {
        json_decref(m.j);
        seterr(e, 400, "InvalidArgument", "the Content-Type is too long");
        return CF_ETOOLARGE;
    }
    memcpy(a->content_type, ct, strlen(ct) + 1);
    (void)MHD_get_connection_values(c, MHD_HEADER_KIND, meta_it, &m);
    text = json_dumps(m.j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(m.j);
    if (text == NULL || m.bytes > 2048 || strlen(text) > CF_FSDB_S3_META_MAX) {
        free(text);
        seterr(e, 400, "MetadataTooLarge", "your metadata headers exceed 2 KB");
        return CF_ETOOLARGE;
    }
    memcpy(a->meta, text, strlen(text) + 1);
    free(text);
    return 0;
}

static void digest_hex(EVP_MD_CTX *ctx, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    (void)EVP_DigestFinal_ex(ctx, d, &n);
    cf_hex_encode(d, n, out);
}

static bool is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (cf_hex_value(s[i], false) < 0)
            return false;
    return true;
}

static void s3req_free(struct s3req *r)
{
    if (r == NULL)
        return;
    cf__gateway_put_free(r->put);
    EVP_MD_CTX_free(r->md5);
    EVP_MD_CTX_free(r->sha256);
    EVP_MD_CTX_free(r->ch.sha);
    cf_buf_fini(&r->body);
    explicit_bzero(&r->ch, sizeof(r->ch));
    free(r);
}

/* A request whose error is answered once its body is read (small bodies)
 * or at once (none, or too big to read for nothing). */
static enum MHD_Result fail(struct MHD_Connection *c, void **req_cls, const struct s3err *e,
                            const char *resource)
{
    const char *cl = cf_http_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = cf_http_header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    unsigned long long n = cl != NULL ? strtoull(cl, NULL, 10) : 0;
    struct s3req *r;

    /* As cf_http_refuse: a chunked body counts as too big to read for nothing. */
    if (te != NULL || n == 0 || n > CF_HTTP_DISCARD_MAX)
        return reply_error(c, e, resource, NULL);
    r = cf_xcalloc(1, sizeof(*r));
    r->kind = K_ERROR;
    r->e = *e;
    (void)snprintf(r->resource, sizeof(r->resource), "%s", resource);
    *req_cls = r;
    return MHD_YES;
}

static void put_setup(struct MHD_Connection *c, struct s3req *r, const struct who *w,
                      const char *payload, const struct chunked *ch);
static int mpu_get(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                   const char *bucket, const char *key, struct cf_fsdb_s3upload *u,
                   struct s3err *e);
static uint32_t part_number(struct MHD_Connection *c);
static int version_delete(struct cf__s3 *s, const struct who *w, const char *bucket,
                          const char *key, const char *vid, bool *marker, struct s3err *e);
static enum MHD_Result part_end(struct cf__s3 *s, struct MHD_Connection *c, struct s3req *r,
                                const char *md5);
static enum MHD_Result part_copy(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                                 const char *bucket, const char *key, uint32_t no);
static int part_window(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                       const struct cf_fsdb_entry *fe, const char *etag, uint64_t *first,
                       uint64_t *last, size_t *count, struct s3err *e);
static int copy_conditions(struct MHD_Connection *c, const struct cf_fsdb_entry *fe,
                           const char *etag, struct s3err *e);
static void copy_part_sizes(struct cf__s3 *s, uint64_t client, const struct cf_fsdb_entry *from,
                            const struct cf_fsdb_entry *to);

static enum MHD_Result put_object_begin(struct cf__s3 *s, struct MHD_Connection *c,
                                        const struct who *w, const char *bucket, const char *key,
                                        const char *payload, const struct chunked *ch,
                                        void **req_cls)
{
    char path[CF_FSDB_PATH_MAX + 8], err[CF_ERR_LEN] = "";
    struct cf_fsdb_entry fe;
    enum cf_fsdb_level have = CF_FSDB_NONE;
    struct s3req *r = NULL;
    struct s3err e;
    uint64_t folder = 0;
    bool dir = false;
    int rc;

    if (key_path(bucket, key, path, sizeof(path), &dir, &e) < 0)
        return fail(c, req_cls, &e, key);
    if (strcmp(payload, CF_SIGV4_UNSIGNED) != 0 && strcmp(payload, CF_SIGV4_STREAMING) != 0 &&
        !is_hex64(payload)) {
        seterr(&e, 501, "NotImplemented", "x-amz-content-sha256 %.64s is not supported", payload);
        return fail(c, req_cls, &e, key);
    }
    r = cf_xcalloc(1, sizeof(*r));
    if (attrs_from(c, &r->attrs, &e) < 0)
        goto refuse;
    if (make_parents(s, w, path, dir, &folder, &e) < 0)
        goto refuse;
    if (dir) {
        /* A folder marker: the folder exists now; nothing is stored. */
        const char *hdrs[] = {"ETag", "\"" EMPTY_MD5 "\"", NULL};
        free(r);
        return reply_xml(c, 200, NULL, hdrs);
    }
    rc = cf_fsdb_perm_effective(s->fs, w->client, w->user, folder, &have, err);
    if (rc == 0 && have < CF_FSDB_READ_WRITE) {
        seterr(&e, 403, "AccessDenied", "you may not write here");
        goto refuse;
    }
    if (rc == 0 && cf_fsdb_lookup(s->fs, w->client, path, &fe, NULL) == 0 &&
        fe.kind == CF_FSDB_FOLDER) {
        seterr(&e, 409, "InvalidRequest", "a folder has that key; delete it first");
        goto refuse;
    }
    if (rc == 0)
        rc = cf__gateway_put_new(s->g, w->client, w->user, folder, strrchr(path, '/') + 1, &r->put,
                                 err);
    if (rc < 0) {
        from_rc(&e, rc, "NoSuchBucket", err);
        goto refuse;
    }
    put_setup(c, r, w, payload, ch);
    (void)snprintf(r->resource, sizeof(r->resource), "/%s/%s", bucket, key);
    *req_cls = r;
    return MHD_YES;
refuse:
    free(r);
    return fail(c, req_cls, &e, key);
}

/* r's digests and decoding for a body being stored (r->put started). */
static void put_setup(struct MHD_Connection *c, struct s3req *r, const struct who *w,
                      const char *payload, const struct chunked *ch)
{
    const char *md5h = cf_http_header(c, "Content-MD5");

    r->kind = K_PUT;
    r->who = *w;
    r->md5 = EVP_MD_CTX_new();
    (void)EVP_DigestInit_ex(r->md5, EVP_md5(), NULL);
    if (is_hex64(payload) || ch->on) {
        r->sha256 = EVP_MD_CTX_new();
        (void)EVP_DigestInit_ex(r->sha256, EVP_sha256(), NULL);
    }
    if (is_hex64(payload))
        memcpy(r->want_sha, payload, 65);
    if (md5h != NULL)
        (void)snprintf(r->content_md5, sizeof(r->content_md5), "%s", md5h);
    r->ch = *ch;
    r->decoded_want = -1;
    if (ch->on && cf_http_header(c, "x-amz-decoded-content-length") != NULL) {
        const char *d = cf_http_header(c, "x-amz-decoded-content-length");
        char *end = NULL;
        errno = 0;
        r->decoded_want = (int64_t)strtoll(d, &end, 10);
        if (d[0] < '0' || d[0] > '9' || errno != 0 || *end != '\0')
            r->decoded_want = -2; /* never equal: the upload fails */
    }
    if (ch->on) {
        r->ch.sha = EVP_MD_CTX_new();
        (void)EVP_DigestInit_ex(r->ch.sha, EVP_sha256(), NULL);
    }
}

/* UploadPart: the body streams as PutObject's does (same checks), to an
 * object of its own (part_end). */
static enum MHD_Result part_begin(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                                  const char *bucket, const char *key, const char *payload,
                                  const struct chunked *ch, void **req_cls)
{
    char err[CF_ERR_LEN] = "";
    struct cf_fsdb_s3upload u;
    uint32_t no = part_number(c);
    struct s3err e;
    struct s3req *r;
    int rc;

    if (no == 0) {
        seterr(&e, 400, "InvalidArgument", "partNumber is 1 to %d", CF_FSDB_S3_PARTS_MAX);
        return fail(c, req_cls, &e, key);
    }
    if (strcmp(payload, CF_SIGV4_UNSIGNED) != 0 && strcmp(payload, CF_SIGV4_STREAMING) != 0 &&
        !is_hex64(payload)) {
        seterr(&e, 501, "NotImplemented", "x-amz-content-sha256 %.64s is not supported", payload);
        return fail(c, req_cls, &e, key);
    }
    if (cf_http_header(c, "x-amz-copy-source") != NULL)
        return part_copy(s, c, w, bucket, key, no);
    if (mpu_get(s, c, w, bucket, key, &u, &e) < 0)
        return fail(c, req_cls, &e, key);
    r = cf_xcalloc(1, sizeof(*r));
    rc = cf__gateway_put_new(s->g, w->client, w->user, 0, "", &r->put, err);
    if (rc < 0) {
        free(r);
        from_rc(&e, rc, "NoSuchUpload", err);
        return fail(c, req_cls, &e, key);
    }
    put_setup(c, r, w, payload, ch);
    memcpy(r->upload_id, u.id, sizeof(r->upload_id));
    r->part_no = no;
    (void)snprintf(r->resource, sizeof(r->resource), "/%s/%s", bucket, key);
    *req_cls = r;
    return MHD_YES;
}

static void put_data(struct s3req *r, const char *p, size_t n)
{
    r->size += n;
    (void)EVP_DigestUpdate(r->md5, p, n);
    if (r->sha256 != NULL && !r->ch.on)
        (void)EVP_DigestUpdate(r->sha256, p, n);
    cf__gateway_put_write(r->put, p, n);
}

static void chunk_bad(struct s3req *r, const char *code)
{
    if (!r->bad) {
        r->bad = true;
        r->bad_code = code;
    }
}

/* The end of a chunk's data: its signature checked. */
static void chunk_end(struct s3req *r)
{
    char h[CF_SIGV4_HEX_SIZE], sig[CF_SIGV4_HEX_SIZE];

    digest_hex(r->ch.sha, h);
    (void)EVP_DigestInit_ex(r->ch.sha, EVP_sha256(), NULL);
    cf_sigv4_chunk_sign(&r->ch.auth, r->ch.amz_date, r->ch.key, r->ch.prev, h, sig);
    if (!cf_sigv4_equal(sig, r->ch.want))
        chunk_bad(r, "SignatureDoesNotMatch");
    memcpy(r->ch.prev, sig, sizeof(sig));
}

/* Decode aws-chunked: "<hex>;chunk-signature=<sig>\r\n<data>\r\n" ... "0;...\r\n\r\n". */
static void chunked_feed(struct s3req *r, const char *p, size_t n)
{
    while (n > 0 && !r->bad) {
        if (r->ch.left > 0) {
            size_t take = n < r->ch.left ? n : (size_t)r->ch.left;
            put_data(r, p, take);
            (void)EVP_DigestUpdate(r->ch.sha, p, take);
            r->ch.left -= take;
            p += take;
            n -= take;
            if (r->ch.left == 0) {
                chunk_end(r);
                r->ch.crlf = 2;
            }
            continue;
        }
        if (r->ch.crlf > 0) {
            if (*p != (r->ch.crlf == 2 ? '\r' : '\n'))
                chunk_bad(r, "IncompleteBody");
            r->ch.crlf--;
            p++;
            n--;
            continue;
        }
        if (r->ch.last_seen) {
            chunk_bad(r, "IncompleteBody"); /* bytes after the last chunk */
            break;
        }
        /* A chunk header. */
        if (r->ch.head_len == CHUNK_HEAD_MAX) {
            chunk_bad(r, "IncompleteBody");
            break;
        }
        r->ch.head[r->ch.head_len++] = *p;
        p++;
        n--;
        if (r->ch.head_len >= 2 && r->ch.head[r->ch.head_len - 2] == '\r' &&
            r->ch.head[r->ch.head_len - 1] == '\n') {
            char *end = NULL;
            const char *sigp;
            unsigned long long size;
            r->ch.head[r->ch.head_len - 2] = '\0';
            errno = 0;
            size = strtoull(r->ch.head, &end, 16);
            sigp = strstr(r->ch.head, ";chunk-signature=");
            if (errno != 0 || end == r->ch.head || sigp != end || strlen(sigp + 17) != 64 ||
                size > (1ull << 40)) {
                chunk_bad(r, "IncompleteBody");
                break;
            }
            memcpy(r->ch.want, sigp + 17, 65);
            r->ch.head_len = 0;
            r->ch.left = size;
            if (size == 0) {
                chunk_end(r); /* the final chunk signs the empty string */
                r->ch.last_seen = true;
                r->ch.crlf = 2;
            }
        }
    }
}

static enum MHD_Result put_object_end(struct cf__s3 *s, struct MHD_Connection *c, struct s3req *r)
{
    char md5[33], sha[CF_SIGV4_HEX_SIZE], err[CF_ERR_LEN] = "", etag[40], vid[24];
    const char *hdrs[] = {"ETag", etag, "x-amz-version-id", vid, NULL};
    struct cf_fsdb_entry fe;
    struct s3err e;
    bool keep = true;
    int rc;

    digest_hex(r->md5, md5);
    memset(&e, 0, sizeof(e));
    if (r->ch.on && !r->bad &&
        (!r->ch.last_seen || r->ch.crlf > 0 || r->ch.head_len > 0 ||
         (r->decoded_want != -1 && r->decoded_want != (int64_t)r->size)))
        chunk_bad(r, "IncompleteBody");
    if (r->bad) {
        keep = false;
        seterr(&e, strcmp(r->bad_code, "SignatureDoesNotMatch") == 0 ? 403 : 400, r->bad_code, "%s",
               strcmp(r->bad_code, "SignatureDoesNotMatch") == 0
                   ? "a chunk's signature does not match"
                   : "the aws-chunked body is malformed or incomplete");
    } else if (r->want_sha[0] != '\0') {
        digest_hex(r->sha256, sha);
        if (strcmp(sha, r->want_sha) != 0) {
            keep = false;
            seterr(&e, 400, "XAmzContentSHA256Mismatch",
                   "the provided x-amz-content-sha256 header does not match what was computed");
        }
    }
    if (keep && r->content_md5[0] != '\0') {
        unsigned char raw[16];
        char b64[32];
        if (cf_hex_decode(md5, 16, raw, false) == 0 &&
            EVP_EncodeBlock((unsigned char *)b64, raw, 16) == 24 &&
            strcmp(b64, r->content_md5) != 0) {
            keep = false;
            seterr(&e, 400, "BadDigest",
                   "the Content-MD5 you specified did not match what we received");
        }
    }
    if (keep && r->part_no > 0)
        return part_end(s, c, r, md5);
    rc = cf__gateway_put_end(s->g, r->put, keep, &fe, err);
    if (rc < 0) {
        from_rc(&e, rc, "NoSuchBucket", err);
        return reply_error(c, &e, r->resource, NULL);
    }
    if (!keep)
        return reply_error(c, &e, r->resource, NULL);
    memcpy(r->attrs.etag, md5, 33);
    rc = cf_fsdb_s3attrs_set(s->fs, r->who.client, fe.id, fe.version_no, &r->attrs, err);
    if (rc < 0)
        cf_log(CF_LOG_WARN, "s3: the attributes of file %" PRIu64 " v%" PRIu32 " were not kept: %s",
               fe.id, fe.version_no, err);
    (void)snprintf(etag, sizeof(etag), "\"%s\"", md5);
    (void)snprintf(vid, sizeof(vid), "%" PRIu64, fe.version);
    return reply_xml(c, 200, NULL, hdrs);
}

/* The object at key, readable by the user. */
static int object_get(struct cf__s3 *s, const struct who *w, const char *bucket, const char *key,
                      struct cf_fsdb_entry *fe, struct s3err *e)
{
    char path[CF_FSDB_PATH_MAX + 8], err[CF_ERR_LEN] = "";
    enum cf_fsdb_level have = CF_FSDB_NONE;
    struct cf_fsdb_entry be;
    bool dir = false;
    int rc;

    if (key_path(bucket, key, path, sizeof(path), &dir, e) < 0)
        return CF_EINVAL;
    rc = cf_fsdb_lookup_access(s->fs, w->client, w->user, path, false, fe, &have, err);
    if (rc == 0 && (dir || fe->kind != CF_FSDB_FILE))
        rc = CF_ENOTFOUND;
    if (rc == CF_ENOTFOUND) {
        if (bucket_get(s, w, bucket, CF_FSDB_READ, &be, e) == 0)
            seterr(e, 404, "NoSuchKey", "the specified key does not exist");
        return CF_ENOTFOUND;
    }
    if (rc == 0 && have < CF_FSDB_READ) {
        seterr(e, 403, "AccessDenied", "you may not read this object");
        return CF_EPERM;
    }
    if (rc < 0)
        from_rc(e, rc, "NoSuchKey", err);
    return rc;
}

static bool etag_match(const char *list, const char *etag)
{
    const char *p = list;

    while (*p != '\0') {
        size_t n;
        while (*p == ' ' || *p == ',')
            p++;
        n = strcspn(p, ",");
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n == 1 && p[0] == '*')
            return true;
        if (n >= 2 && p[0] == 'W' && p[1] == '/') {
            p += 2;
            n -= 2;
        }
        if (n >= 2 && p[0] == '"' && p[n - 1] == '"' && n - 2 == strlen(etag) &&
            strncmp(p + 1, etag, n - 2) == 0)
            return true;
        if (n == strlen(etag) && strncmp(p, etag, n) == 0)
            return true;
        p += n;
        while (*p != '\0' && *p != ',')
            p++;
    }
    return false;
}

/* GetObject and HeadObject of key's current version, or of version ver
 * (borrowed; NULL: the current one) that the caller found readable. */
static enum MHD_Result get_object(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                                  const char *bucket, const char *key,
                                  const struct cf_fsdb_entry *ver)
{
    const char *im = cf_http_header(c, "If-Match"), *inm = cf_http_header(c, "If-None-Match");
    const char *ims = cf_http_header(c, "If-Modified-Since");
    const char *ius = cf_http_header(c, "If-Unmodified-Since");
    struct cf_fsdb_s3attrs a;
    struct cf_fsdb_entry fe;
    struct cf_range range;
    struct s3err e;
    char etag[CF_FSDB_S3_ETAG_MAX + 3], lm[40], res[KEY_MAX + CF_FSDB_NAME_MAX + 4], cr[96];
    char vid[VID_MAX], pc[24];
    const char *hdrs[2 * 42 + 1];
    uint64_t pfirst = 0, plast = 0;
    size_t k = 0, pcount = 0;
    bool part = false;
    int64_t mod_s;
    json_t *meta = NULL;
    enum MHD_Result r;
    int rc;

    (void)snprintf(res, sizeof(res), "/%s/%s", bucket, key);
    if (ver != NULL)
        fe = *ver;
    else if (object_get(s, w, bucket, key, &fe, &e) < 0)
        return reply_error(c, &e, res, NULL);
    rc = cf_fsdb_s3attrs_get(s->fs, w->client, fe.id, fe.version_no, &a, NULL);
    if (rc < 0) {
        /* Written through /api/v1/fs: no MD5 is known; the SHA-512's first
         * half stands in, so the ETag still changes with the bytes. */
        char hex[129];
        memset(&a, 0, sizeof(a));
        cf_hex_encode(fe.sha512, 16, hex);
        memcpy(a.etag, hex, 33);
        memcpy(a.content_type, "binary/octet-stream", 20);
    }
    (void)snprintf(etag, sizeof(etag), "\"%s\"", a.etag);
    http_time(fe.modified_ms, lm);
    mod_s = (int64_t)(fe.modified_ms / 1000);
    hdrs[k++] = "ETag";
    hdrs[k++] = etag;
    hdrs[k++] = "Last-Modified";
    hdrs[k++] = lm;
    (void)snprintf(vid, sizeof(vid), "%" PRIu64, fe.version);
    hdrs[k++] = "x-amz-version-id";
    hdrs[k++] = vid;
    /* RFC 9110 13.2.2: If-Match, else If-Unmodified-Since; then
     * If-None-Match, else If-Modified-Since. */
    if ((im != NULL && !etag_match(im, a.etag)) ||
        (im == NULL && ius != NULL && parse_http_time(ius) >= 0 && mod_s > parse_http_time(ius))) {
        hdrs[k] = NULL;
        seterr(&e, 412, "PreconditionFailed", "at least one of the preconditions did not hold");
        return reply_error(c, &e, res, hdrs);
    }
    if ((inm != NULL && etag_match(inm, a.etag)) ||
        (inm == NULL && ims != NULL && parse_http_time(ims) >= 0 &&
         mod_s <= parse_http_time(ims))) {
        hdrs[k] = NULL;
        return reply_xml(c, 304, NULL, hdrs);
    }
    if (has_arg(c, "partNumber")) {
        /* One part's bytes: a window of the object (part_window). */
        int pw = part_window(s, c, w, &fe, a.etag, &pfirst, &plast, &pcount, &e);
        if (pw < 0) {
            hdrs[k] = NULL;
            return reply_error(c, &e, res, hdrs);
        }
        part = pw == 0;
        if (pcount > 0) {
            (void)snprintf(pc, sizeof(pc), "%zu", pcount);
            hdrs[k++] = "x-amz-mp-parts-count";
            hdrs[k++] = pc;
        }
        if (pw == 1 && fe.size > 0) {
            /* An empty part of an object that is not: no window to serve. */
            hdrs[k] = NULL;
            return reply_xml(c, 200, NULL, hdrs);
        }
    } else if (cf_range_parse(cf_http_header(c, MHD_HTTP_HEADER_RANGE), fe.size, &range) ==
               CF_RANGE_UNSATISFIABLE) {
        (void)snprintf(cr, sizeof(cr), "bytes */%" PRIu64, fe.size);
        hdrs[k++] = "Content-Range";
        hdrs[k++] = cr;
        hdrs[k] = NULL;
        seterr(&e, 416, "InvalidRange", "the requested range is not satisfiable");
        return reply_error(c, &e, res, hdrs);
    }
    hdrs[k++] = MHD_HTTP_HEADER_CONTENT_TYPE;
    hdrs[k++] = a.content_type;
    meta = json_loads(a.meta, 0, NULL);
    {
        /* Meta names are stored without their prefix: it is added back. */
        char *full[40];
        size_t nf = 0;
        const char *name;
        json_t *v;
        json_object_foreach(meta, name, v)
        {
            if (k + 2 >= CF_ARRAY_LEN(hdrs) || nf == CF_ARRAY_LEN(full) || !json_is_string(v))
                break;
            full[nf] = cf_xcalloc(1, strlen(name) + 12);
            memcpy(full[nf], "x-amz-meta-", 11);
            memcpy(full[nf] + 11, name, strlen(name) + 1);
            hdrs[k++] = full[nf++];
            hdrs[k++] = json_string_value(v);
        }
        hdrs[k] = NULL;
        r = part ? cf__gateway_serve_window(s->g, c, &fe, pfirst, plast, hdrs)
                 : cf__gateway_serve(s->g, c, &fe, hdrs);
        for (size_t i = 0; i < nf; i++)
            free(full[i]);
    }
    json_decref(meta);
    return r;
}

/* DeleteObject: the file goes to the trash, whose entry is its delete
 * marker. With eout, for DeleteObjects: the outcome goes there (status 0:
 * deleted) and *marker (may be NULL) gets the marker's trash entry (0:
 * none made). */
static enum MHD_Result delete_object(struct cf__s3 *s, struct MHD_Connection *c,
                                     const struct who *w, const char *bucket, const char *key,
                                     struct s3err *eout, uint64_t *marker)
{
    char path[CF_FSDB_PATH_MAX + 8], err[CF_ERR_LEN] = "", vid[VID_MAX];
    const char *hdrs[] = {"x-amz-delete-marker", "true", "x-amz-version-id", vid, NULL};
    enum cf_fsdb_level have = CF_FSDB_NONE;
    struct cf_fsdb_entry fe, be, *v = NULL;
    struct s3err e;
    bool dir = false, more = false;
    uint64_t tid = 0;
    size_t n = 0;
    int rc;

    if (key_path(bucket, key, path, sizeof(path), &dir, &e) < 0)
        goto fail;
    if (bucket_get(s, w, bucket, CF_FSDB_READ, &be, &e) < 0)
        goto fail;
    rc = cf_fsdb_lookup_access(s->fs, w->client, w->user, path, true, &fe, &have, err);
    if (rc == CF_ENOTFOUND || (rc == 0 && fe.kind == CF_FSDB_FOLDER && !dir) ||
        (rc == 0 && fe.kind == CF_FSDB_FILE && dir))
        goto done; /* S3: deleting what is not there succeeds */
    if (rc == 0 && have < CF_FSDB_READ_WRITE) {
        seterr(&e, 403, "AccessDenied", "you may not delete here");
        goto fail;
    }
    if (rc == 0 && dir) {
        /* A folder marker: only an empty folder goes. */
        rc = cf_fsdb_list_page(s->fs, w->client, fe.id, NULL, 1, &v, &n, &more, err);
        free(v);
        if (rc == 0 && n > 0)
            goto done;
    }
    if (rc == 0)
        rc = cf_fsdb_trash_put(s->fs, w->client, fe.kind, fe.id, w->user, &tid, err);
    if (rc == CF_ENOTFOUND)
        goto done;
    if (rc < 0) {
        from_rc(&e, rc, "NoSuchKey", err);
        goto fail;
    }
done:
    if (tid != 0 && fe.kind != CF_FSDB_FILE)
        tid = 0; /* a folder marker's entry is no version of a key */
    if (eout != NULL) {
        eout->status = 0;
        if (marker != NULL)
            *marker = tid;
        return MHD_YES;
    }
    (void)snprintf(vid, sizeof(vid), "t%" PRIu64, tid);
    return reply_xml(c, 204, NULL, tid != 0 ? hdrs : NULL);
fail:
    if (eout != NULL) {
        *eout = e;
        return MHD_YES;
    }
    return reply_error(c, &e, key, NULL);
}

/* Undo XML's escapes in s[0..n) into out (cap). Returns false if malformed. */
static bool xml_text(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '&') {
            const char *semi = memchr(s + i, ';', n - i);
            size_t el;
            if (semi == NULL)
                return false;
            el = (size_t)(semi - (s + i)) + 1;
            if (el == 4 && strncmp(s + i, "&lt;", 4) == 0)
                ch = '<';
            else if (el == 4 && strncmp(s + i, "&gt;", 4) == 0)
                ch = '>';
            else if (el == 5 && strncmp(s + i, "&amp;", 5) == 0)
                ch = '&';
            else if (el == 6 && strncmp(s + i, "&quot;", 6) == 0)
                ch = '"';
            else if (el == 6 && strncmp(s + i, "&apos;", 6) == 0)
                ch = '\'';
            else if (el >= 4 && el <= 6 && s[i + 1] == '#' && s[i + 2] >= '0' && s[i + 2] <= '9') {
                unsigned v = 0;
                for (size_t j = i + 2; j < i + el - 1; j++) {
                    if (s[j] < '0' || s[j] > '9')
                        return false;
                    v = v * 10 + (unsigned)(s[j] - '0');
                }
                if (v == 0 || v > 127)
                    return false;
                ch = (char)v;
            } else {
                return false;
            }
            i += el - 1;
        }
        if (k + 1 >= cap)
            return false;
        out[k++] = ch;
    }
    out[k] = '\0';
    return true;
}

static enum MHD_Result delete_objects(struct cf__s3 *s, struct MHD_Connection *c,
                                      const struct who *w, const char *bucket, struct s3req *r)
{
    const char *p, *end;
    struct cf_buf b;
    struct s3err e;
    char *key = NULL, vid[128]; /* longer than ours: refused per key */
    uint64_t mark = 0;
    bool quiet, vmark = false;
    size_t count = 0;

    if (r->too_big || r->body.base == NULL || strstr(r->body.base, "<Delete") == NULL) {
        seterr(&e, 400, "MalformedXML", "the XML you provided was not well-formed");
        return reply_error(c, &e, bucket, NULL);
    }
    quiet = strstr(r->body.base, "<Quiet>true</Quiet>") != NULL;
    if (bucket_get(s, w, bucket, CF_FSDB_READ, &(struct cf_fsdb_entry){0}, &e) < 0)
        return reply_error(c, &e, bucket, NULL);
    key = cf_xcalloc(1, KEY_MAX + 1);
    cf_buf_init(&b, 64 * 1024 * 1024);
    bprintf(&b, XML_HEAD "<DeleteResult xmlns=\"" XMLNS "\">");
    for (p = strstr(r->body.base, "<Key>"); p != NULL; p = strstr(p, "<Key>")) {
        p += 5;
        end = strstr(p, "</Key>");
        if (end == NULL || ++count > DELETE_KEYS_MAX ||
            !xml_text(p, (size_t)(end - p), key, KEY_MAX + 1)) {
            cf_buf_fini(&b);
            free(key);
            seterr(&e, 400, "MalformedXML", "the XML you provided was not well-formed");
            return reply_error(c, &e, bucket, NULL);
        }
        p = end + 6;
        memset(&e, 0, sizeof(e));
        vid[0] = '\0';
        {
            /* The object's VersionId, after its Key. */
            const char *oe = strstr(p, "</Object>"), *vp = strstr(p, "<VersionId>"), *ve;
            if (vp != NULL && (oe == NULL || vp < oe)) {
                vp += 11;
                ve = strstr(vp, "</VersionId>");
                if (ve == NULL || !xml_text(vp, (size_t)(ve - vp), vid, sizeof(vid))) {
                    cf_buf_fini(&b);
                    free(key);
                    seterr(&e, 400, "MalformedXML", "the XML you provided was not well-formed");
                    return reply_error(c, &e, bucket, NULL);
                }
            }
        }
        mark = 0;
        vmark = false;
        if (vid[0] != '\0')
            (void)version_delete(s, w, bucket, key, vid, &vmark, &e);
        else
            (void)delete_object(s, c, w, bucket, key, &e, &mark);
        if (e.status == 0 && !quiet) {
            bprintf(&b, "<Deleted><Key>");
            xml_esc(&b, key);
            bprintf(&b, "</Key>");
            if (vid[0] != '\0')
                bprintf(&b, "<VersionId>%s</VersionId>", vid);
            if (vmark)
                bprintf(&b,
                        "<DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>%s"
                        "</DeleteMarkerVersionId>",
                        vid);
            if (mark != 0)
                bprintf(&b,
                        "<DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>t%" PRIu64
                        "</DeleteMarkerVersionId>",
                        mark);
            bprintf(&b, "</Deleted>");
        } else if (e.status != 0) {
            bprintf(&b, "<Error><Key>");
            xml_esc(&b, key);
            bprintf(&b, "</Key><Code>%s</Code><Message>", e.code);
            xml_esc(&b, e.msg);
            bprintf(&b, "</Message></Error>");
        }
    }
    free(key);
    bprintf(&b, "</DeleteResult>");
    return reply_xml(c, 200, &b, NULL);
}

static int copy_source(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                       const char *src, struct cf_fsdb_entry *fe, char *etag, size_t cap,
                       struct s3err *e);

/* CopyObject: the destination's new version names the source's stored
 * object (no bytes are copied), with its attributes unless REPLACE. */
static enum MHD_Result copy_object(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                                   const char *bucket, const char *key, const char *src)
{
    char path[CF_FSDB_PATH_MAX + 8], err[CF_ERR_LEN] = "", setag[CF_FSDB_S3_ETAG_MAX + 1];
    const char *directive = cf_http_header(c, "x-amz-metadata-directive");
    struct cf_fsdb_entry fe, out;
    struct cf_fsdb_s3attrs a;
    struct cf_fsdb_put put;
    enum cf_fsdb_level have = CF_FSDB_NONE;
    struct s3err e;
    struct cf_buf b;
    char when[32], vid[24];
    const char *hdrs[] = {"x-amz-version-id", vid, NULL};
    uint64_t folder = 0;
    bool dir = false, replace = directive != NULL && strcasecmp(directive, "REPLACE") == 0;
    int rc;

    if (copy_source(s, c, w, src, &fe, setag, sizeof(setag), &e) < 0)
        return reply_error(c, &e, key, NULL);
    if (cf_fsdb_s3attrs_get(s->fs, w->client, fe.id, fe.version_no, &a, NULL) < 0) {
        /* Written through /api/v1/fs: the ETag copy_source gave. */
        memset(&a, 0, sizeof(a));
        (void)snprintf(a.etag, sizeof(a.etag), "%s", setag);
        memcpy(a.content_type, "binary/octet-stream", 20);
        memcpy(a.meta, "{}", 3);
    }
    if (replace) {
        char etag[sizeof(a.etag)];
        memcpy(etag, a.etag, sizeof(etag));
        if (attrs_from(c, &a, &e) < 0)
            return reply_error(c, &e, key, NULL);
        memcpy(a.etag, etag, sizeof(etag));
    }
    if (key_path(bucket, key, path, sizeof(path), &dir, &e) < 0 || dir)
        return reply_error(c, &e, key, NULL);
    if (make_parents(s, w, path, false, &folder, &e) < 0)
        return reply_error(c, &e, key, NULL);
    rc = cf_fsdb_perm_effective(s->fs, w->client, w->user, folder, &have, err);
    if (rc == 0 && have < CF_FSDB_READ_WRITE) {
        seterr(&e, 403, "AccessDenied", "you may not write here");
        return reply_error(c, &e, key, NULL);
    }
    memset(&put, 0, sizeof(put));
    memcpy(put.uuid, fe.uuid, sizeof(put.uuid));
    put.size = fe.size;
    memcpy(put.sha512, fe.sha512, 64);
    put.by_user = w->user;
    if (rc == 0)
        rc = cf_fsdb_file_put(s->fs, w->client, folder, strrchr(path, '/') + 1, &put, &out, err);
    if (rc == 0)
        rc = cf_fsdb_s3attrs_set(s->fs, w->client, out.id, out.version_no, &a, err);
    if (rc < 0) {
        from_rc(&e, rc, "NoSuchKey", err);
        return reply_error(c, &e, key, NULL);
    }
    copy_part_sizes(s, w->client, &fe, &out);
    iso_time(out.modified_ms, when);
    (void)snprintf(vid, sizeof(vid), "%" PRIu64, out.version);
    cf_buf_init(&b, 4096);
    bprintf(&b,
            XML_HEAD "<CopyObjectResult xmlns=\"" XMLNS "\"><LastModified>%s"
                     "</LastModified><ETag>&quot;%s&quot;</ETag></CopyObjectResult>",
            when, a.etag);
    return reply_xml(c, 200, &b, hdrs);
}

/* ---- multipart uploads ---- */

/* The smallest part but the last (S3's). */
#define PART_MIN (5u * 1024 * 1024)
/* Parts or uploads per listing page at most, and by default (S3's). */
#define MPU_PAGE 1000

/* The folder a new object at key goes in, made as needed, where the user
 * may write and no folder has the key (PutObject's checks). */
static int mpu_target(struct cf__s3 *s, const struct who *w, const char *bucket, const char *key,
                      char *path, size_t cap, uint64_t *folder, struct s3err *e)
{
    char err[CF_ERR_LEN] = "";
    enum cf_fsdb_level have = CF_FSDB_NONE;
    struct cf_fsdb_entry fe;
    bool dir = false;
    int rc;

    if (key_path(bucket, key, path, cap, &dir, e) < 0)
        return CF_EINVAL;
    if (dir) {
        seterr(e, 400, "InvalidArgument", "a key ending in '/' names a folder");
        return CF_EINVAL;
    }
    if (make_parents(s, w, path, false, folder, e) < 0)
        return CF_ENOTFOUND;
    rc = cf_fsdb_perm_effective(s->fs, w->client, w->user, *folder, &have, err);
    if (rc == 0 && have < CF_FSDB_READ_WRITE) {
        seterr(e, 403, "AccessDenied", "you may not write here");
        return CF_EPERM;
    }
    if (rc < 0) {
        from_rc(e, rc, "NoSuchBucket", err);
        return rc;
    }
    if (cf_fsdb_lookup(s->fs, w->client, path, &fe, NULL) == 0 && fe.kind == CF_FSDB_FOLDER) {
        seterr(e, 409, "InvalidRequest", "a folder has that key; delete it first");
        return CF_EEXIST;
    }
    return 0;
}

/* The upload named by ?uploadId for bucket/key, started by the user: only
 * its starter may add parts, list, complete or abort it. */
static int mpu_get(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                   const char *bucket, const char *key, struct cf_fsdb_s3upload *u, struct s3err *e)
{
    const char *id = cf_http_query(c, "uploadId");
    char err[CF_ERR_LEN] = "";
    int rc;

    rc = cf_fsdb_s3upload_get(s->fs, w->client, id != NULL ? id : "", u, err);
    if (rc == CF_ENOTFOUND ||
        (rc == 0 && (strcmp(u->bucket, bucket) != 0 || strcmp(u->key, key) != 0))) {
        seterr(e, 404, "NoSuchUpload",
               "the specified upload does not exist: it may have been aborted or completed");
        return CF_ENOTFOUND;
    }
    if (rc == 0 && u->user != w->user) {
        seterr(e, 403, "AccessDenied", "another user started this upload");
        return CF_EPERM;
    }
    if (rc < 0)
        from_rc(e, rc, "NoSuchUpload", err);
    return rc;
}

static enum MHD_Result mpu_create(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                                  const char *bucket, const char *key)
{
    char path[CF_FSDB_PATH_MAX + 8], err[CF_ERR_LEN] = "";
    struct cf_fsdb_s3upload u;
    unsigned char raw[CF_FSDB_S3_UPLOAD_ID_LEN / 2];
    uint64_t folder = 0;
    struct s3err e;
    struct cf_buf b;
    int rc;

    memset(&u, 0, sizeof(u));
    if (mpu_target(s, w, bucket, key, path, sizeof(path), &folder, &e) < 0 ||
        attrs_from(c, &u.attrs, &e) < 0)
        return reply_error(c, &e, key, NULL);
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        seterr(&e, 500, "InternalError", "no random bytes for an upload id");
        return reply_error(c, &e, key, NULL);
    }
    cf_hex_encode(raw, sizeof(raw), u.id);
    u.user = w->user;
    (void)snprintf(u.bucket, sizeof(u.bucket), "%s", bucket);
    (void)snprintf(u.key, sizeof(u.key), "%s", key);
    rc = cf_fsdb_s3upload_add(s->fs, w->client, &u, err);
    if (rc < 0) {
        from_rc(&e, rc, "NoSuchBucket", err);
        return reply_error(c, &e, key, NULL);
    }
    cf_buf_init(&b, 64 * 1024);
    bprintf(&b, XML_HEAD "<InitiateMultipartUploadResult xmlns=\"" XMLNS "\"><Bucket>");
    xml_esc(&b, bucket);
    bprintf(&b, "</Bucket><Key>");
    xml_esc(&b, key);
    bprintf(&b, "</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>", u.id);
    return reply_xml(c, 200, &b, NULL);
}

/* ?partNumber=N: 1..CF_FSDB_S3_PARTS_MAX, or 0. */
static uint32_t part_number(struct MHD_Connection *c)
{
    const char *q = cf_http_query(c, "partNumber");
    char *end = NULL;
    unsigned long v;

    if (q == NULL || q[0] < '1' || q[0] > '9')
        return 0;
    errno = 0;
    v = strtoul(q, &end, 10);
    return errno != 0 || *end != '\0' || v > CF_FSDB_S3_PARTS_MAX ? 0 : (uint32_t)v;
}

/* The object put (ended here) becomes part no of client's upload id, with
 * its MD5 md5; the part it replaces is released. On a failure the new
 * object is released and *e says why. Returns 0 or a CF_E* code. */
static int part_store(struct cf__s3 *s, uint64_t client, const char *upload_id, uint32_t no,
                      struct cf__gateway_put *put, const char *md5, struct s3err *e)
{
    char err[CF_ERR_LEN] = "";
    struct cf_fsdb_s3part p;
    struct cf_fsdb_uuid old, mine;
    struct cf_fsdb_put fp;
    int rc;

    rc = cf__gateway_put_object(s->g, put, &fp, err);
    if (rc < 0) {
        from_rc(e, rc, "NoSuchUpload", err);
        return rc;
    }
    memset(&p, 0, sizeof(p));
    p.number = no;
    memcpy(p.uuid, fp.uuid, sizeof(p.uuid));
    p.size = fp.size;
    memcpy(p.md5, md5, 33);
    memcpy(p.sha512, fp.sha512, sizeof(p.sha512));
    rc = cf_fsdb_s3part_put(s->fs, client, upload_id, &p, &old, err);
    if (rc < 0) {
        /* Named by nothing: handed straight to the delete service. */
        memcpy(mine.text, fp.uuid, sizeof(mine.text));
        if (cf_fsdb_release_add(s->fs, client, mine.text, NULL) == 0)
            cf__gateway_release(s->g, client, &mine, 1);
        if (rc == CF_ENOTFOUND)
            seterr(e, 404, "NoSuchUpload", "the upload was aborted or completed meanwhile");
        else
            from_rc(e, rc, "NoSuchUpload", err);
        return rc;
    }
    if (old.text[0] != '\0')
        cf__gateway_release(s->g, client, &old, 1);
    return 0;
}

/* UploadPart's end: the part is stored as an object of its own, recorded
 * with its upload (part_store). */
static enum MHD_Result part_end(struct cf__s3 *s, struct MHD_Connection *c, struct s3req *r,
                                const char *md5)
{
    char etag[40];
    const char *hdrs[] = {"ETag", etag, NULL};
    struct s3err e;

    if (part_store(s, r->who.client, r->upload_id, r->part_no, r->put, md5, &e) < 0)
        return reply_error(c, &e, r->resource, NULL);
    (void)snprintf(etag, sizeof(etag), "\"%s\"", md5);
    return reply_xml(c, 200, NULL, hdrs);
}

static void owner_xml(struct cf_buf *b, const char *tag, uint64_t user)
{
    bprintf(b, "<%s><ID>%" PRIu64 "</ID><DisplayName>%" PRIu64 "</DisplayName></%s>", tag, user,
            user, tag);
}

static enum MHD_Result mpu_list_parts(struct cf__s3 *s, struct MHD_Connection *c,
                                      const struct who *w, const char *bucket, const char *key)
{
    const char *mp = cf_http_query(c, "max-parts"), *pm = cf_http_query(c, "part-number-marker");
    char err[CF_ERR_LEN] = "", when[32];
    struct cf_fsdb_s3upload u;
    struct cf_fsdb_s3part *v = NULL;
    size_t max = MPU_PAGE, n = 0;
    unsigned long marker = 0;
    bool more = false;
    struct s3err e;
    struct cf_buf b;
    int rc;

    if (mp != NULL) {
        char *end = NULL;
        unsigned long x;
        errno = 0;
        x = strtoul(mp, &end, 10);
        if (mp[0] < '0' || mp[0] > '9' || errno != 0 || *end != '\0') {
            seterr(&e, 400, "InvalidArgument", "max-parts is a number");
            return reply_error(c, &e, key, NULL);
        }
        max = x < 1 ? 1 : x > MPU_PAGE ? MPU_PAGE : x;
    }
    if (pm != NULL) {
        char *end = NULL;
        errno = 0;
        marker = strtoul(pm, &end, 10);
        if (pm[0] < '0' || pm[0] > '9' || errno != 0 || *end != '\0' ||
            marker > CF_FSDB_S3_PARTS_MAX) {
            seterr(&e, 400, "InvalidArgument", "part-number-marker is a part number");
            return reply_error(c, &e, key, NULL);
        }
    }
    if (mpu_get(s, c, w, bucket, key, &u, &e) < 0)
        return reply_error(c, &e, key, NULL);
    rc = cf_fsdb_s3part_list(s->fs, w->client, u.id, (uint32_t)marker, max, &v, &n, &more, err);
    if (rc < 0) {
        from_rc(&e, rc, "NoSuchUpload", err);
        return reply_error(c, &e, key, NULL);
    }
    cf_buf_init(&b, 16 * 1024 * 1024);
    bprintf(&b, XML_HEAD "<ListPartsResult xmlns=\"" XMLNS "\"><Bucket>");
    xml_esc(&b, bucket);
    bprintf(&b, "</Bucket><Key>");
    xml_esc(&b, key);
    bprintf(&b, "</Key><UploadId>%s</UploadId>", u.id);
    owner_xml(&b, "Initiator", u.user);
    owner_xml(&b, "Owner", u.user);
    bprintf(&b,
            "<StorageClass>STANDARD</StorageClass><PartNumberMarker>%lu</PartNumberMarker>"
            "<NextPartNumberMarker>%" PRIu32 "</NextPartNumberMarker><MaxParts>%zu</MaxParts>"
            "<IsTruncated>%s</IsTruncated>",
            marker, n > 0 ? v[n - 1].number : 0, max, more ? "true" : "false");
    for (size_t i = 0; i < n; i++) {
        iso_time(v[i].created_ms, when);
        bprintf(&b,
                "<Part><PartNumber>%" PRIu32 "</PartNumber><LastModified>%s</LastModified>"
                "<ETag>&quot;%s&quot;</ETag><Size>%" PRIu64 "</Size></Part>",
                v[i].number, when, v[i].md5, v[i].size);
    }
    bprintf(&b, "</ListPartsResult>");
    free(v);
    return reply_xml(c, 200, &b, NULL);
}

static enum MHD_Result mpu_list_uploads(struct cf__s3 *s, struct MHD_Connection *c,
                                        const struct who *w, const char *bucket)
{
    const char *prefix = cf_http_query(c, "prefix"), *km = cf_http_query(c, "key-marker");
    const char *im = cf_http_query(c, "upload-id-marker"), *mu = cf_http_query(c, "max-uploads");
    const char *delim = cf_http_query(c, "delimiter");
    char err[CF_ERR_LEN] = "", when[32];
    struct cf_fsdb_s3upload *v = NULL;
    struct cf_fsdb_entry be;
    size_t max = MPU_PAGE, n = 0;
    bool more = false;
    struct s3err e;
    struct cf_buf b;
    int rc;

    if (delim != NULL && delim[0] != '\0') {
        seterr(&e, 501, "NotImplemented", "listing uploads with a delimiter is not supported");
        return reply_error(c, &e, bucket, NULL);
    }
    if (mu != NULL) {
        char *end = NULL;
        unsigned long x;
        errno = 0;
        x = strtoul(mu, &end, 10);
        if (mu[0] < '0' || mu[0] > '9' || errno != 0 || *end != '\0') {
            seterr(&e, 400, "InvalidArgument", "max-uploads is a number");
            return reply_error(c, &e, bucket, NULL);
        }
        max = x < 1 ? 1 : x > MPU_PAGE ? MPU_PAGE : x;
    }
    if (bucket_get(s, w, bucket, CF_FSDB_READ, &be, &e) < 0)
        return reply_error(c, &e, bucket, NULL);
    /* An upload-id-marker counts only with a key-marker (S3's). */
    rc = cf_fsdb_s3upload_list(s->fs, w->client, bucket, prefix != NULL ? prefix : "",
                               km != NULL ? km : "", km != NULL && im != NULL ? im : "", 0, max, &v,
                               &n, &more, err);
    if (rc < 0) {
        from_rc(&e, rc, "NoSuchBucket", err);
        return reply_error(c, &e, bucket, NULL);
    }
    cf_buf_init(&b, 64 * 1024 * 1024);
    bprintf(&b, XML_HEAD "<ListMultipartUploadsResult xmlns=\"" XMLNS "\"><Bucket>");
    xml_esc(&b, bucket);
    bprintf(&b, "</Bucket><KeyMarker>");
    xml_esc(&b, km != NULL ? km : "");
    bprintf(&b, "</KeyMarker><UploadIdMarker>");
    xml_esc(&b, km != NULL && im != NULL ? im : "");
    bprintf(&b, "</UploadIdMarker><NextKeyMarker>");
    xml_esc(&b, n > 0 ? v[n - 1].key : "");
    bprintf(&b, "</NextKeyMarker><NextUploadIdMarker>%s</NextUploadIdMarker><Prefix>",
            n > 0 ? v[n - 1].id : "");
    xml_esc(&b, prefix != NULL ? prefix : "");
    bprintf(&b, "</Prefix><MaxUploads>%zu</MaxUploads><IsTruncated>%s</IsTruncated>", max,
            more ? "true" : "false");
    for (size_t i = 0; i < n; i++) {
        iso_time(v[i].created_ms, when);
        bprintf(&b, "<Upload><Key>");
        xml_esc(&b, v[i].key);
        bprintf(&b, "</Key><UploadId>%s</UploadId>", v[i].id);
        owner_xml(&b, "Initiator", v[i].user);
        owner_xml(&b, "Owner", v[i].user);
        bprintf(&b, "<StorageClass>STANDARD</StorageClass><Initiated>%s</Initiated></Upload>",
                when);
    }
    bprintf(&b, "</ListMultipartUploadsResult>");
    free(v);
    return reply_xml(c, 200, &b, NULL);
}

static enum MHD_Result mpu_abort(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                                 const char *bucket, const char *key)
{
    char err[CF_ERR_LEN] = "";
    struct cf_fsdb_s3upload u;
    struct cf_fsdb_uuid *gone = NULL;
    size_t ngone = 0;
    struct s3err e;
    int rc;

    if (mpu_get(s, c, w, bucket, key, &u, &e) < 0)
        return reply_error(c, &e, key, NULL);
    rc = cf_fsdb_s3upload_remove(s->fs, w->client, u.id, &gone, &ngone, err);
    if (rc == CF_ENOTFOUND) {
        seterr(&e, 404, "NoSuchUpload", "the upload was aborted or completed meanwhile");
        return reply_error(c, &e, key, NULL);
    }
    if (rc < 0) {
        from_rc(&e, rc, "NoSuchUpload", err);
        return reply_error(c, &e, key, NULL);
    }
    cf__gateway_release(s->g, w->client, gone, ngone);
    free(gone);
    return reply_xml(c, 204, NULL, NULL);
}

/* The text of the first <tag>...</tag> in [p, end) into out (cap),
 * unescaped. Returns false if it is missing or malformed. */
static bool xml_field(const char *p, const char *end, const char *tag, char *out, size_t cap)
{
    char open[32], close[32];
    const char *a, *z;
    size_t ol;

    (void)snprintf(open, sizeof(open), "<%s>", tag);
    (void)snprintf(close, sizeof(close), "</%s>", tag);
    ol = strlen(open);
    a = strstr(p, open);
    if (a == NULL || a >= end)
        return false;
    a += ol;
    z = strstr(a, close);
    if (z == NULL || z > end)
        return false;
    return xml_text(a, (size_t)(z - a), out, cap);
}

/* Record the sizes of the k parts (in order) fe was completed from, for
 * GetObject ?partNumber; without them such a read is refused, so a
 * failure is only logged. */
static void mpu_keep_sizes(struct cf__s3 *s, uint64_t client, const struct cf_fsdb_entry *fe,
                           const struct cf_fsdb_s3part *parts, size_t k)
{
    char err[CF_ERR_LEN] = "";
    uint64_t *sizes = cf_xcalloc(k, sizeof(*sizes));

    for (size_t i = 0; i < k; i++)
        sizes[i] = parts[i].size;
    if (cf_fsdb_s3partsizes_set(s->fs, client, fe->id, fe->version_no, sizes, k, err) < 0)
        cf_log(CF_LOG_WARN, "s3: the part sizes of file %" PRIu64 " v%" PRIu32 " were not kept: %s",
               fe->id, fe->version_no, err);
    free(sizes);
}

/*
 * Completing an upload. Assembly runs at the copy rate (a 20 GB object
 * takes minutes), longer than clients wait for a reply's first byte, so
 * the reply is S3's: 200 with the headers at once, a space every
 * complete_keepalive_ms while a worker thread assembles, then the
 * CompleteMultipartUploadResult, or an <Error> document if assembly failed
 * (clients look for one in a 200 Complete body). The result's ETag and
 * version are known only at the end, so they are in the document, not in
 * headers.
 *
 * The reply's reader runs on the request's connection thread (a thread per
 * connection: it may block) and waits on the job for at most the interval.
 * If the connection ends first, the job is abandoned: the worker stops
 * before its next part, ends the new object unrecorded (the upload and its
 * parts stay, so the client may complete again), and the reply's release
 * waits for the worker, so none outlives its connection (nor the server).
 */
struct mpu_job {
    struct cf__s3 *s;
    struct who w;
    char bucket[CF_FSDB_NAME_MAX + 1];
    char key[KEY_MAX + 1];
    struct cf_fsdb_s3upload u; /* attrs.etag: the object's, computed before */
    struct cf_fsdb_s3part *parts;
    size_t k;
    struct cf__gateway_put *put;
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC; done set */
    bool done;         /* guarded by mu; then out is final */
    bool abandoned;    /* guarded by mu: the connection is gone */
    struct cf_buf out; /* the root element, written by the worker before done */
    size_t head_sent;  /* bytes of XML_HEAD given to MHD (its thread only) */
    size_t sent;       /* bytes of out given to MHD (its thread only) */
};

static void mpu_job_free(struct mpu_job *j)
{
    cf__gateway_put_free(j->put);
    free(j->parts);
    cf_buf_fini(&j->out);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

/* The <Error> document of e into j->out. */
static void mpu_error_doc(struct mpu_job *j, const struct s3err *e)
{
    char rid[17];

    request_id(rid);
    bprintf(&j->out, "<Error><Code>%s</Code><Message>", e->code);
    xml_esc(&j->out, e->msg);
    bprintf(&j->out, "</Message><Resource>");
    xml_esc(&j->out, j->key);
    bprintf(&j->out, "</Resource><RequestId>%s</RequestId></Error>", rid);
}

/* Assemble: the parts in order into j->put, recorded as PutObject records
 * an object, then the upload and its parts go. Writes j->out. */
static int mpu_assemble(struct mpu_job *j, struct s3err *e)
{
    struct cf__s3 *s = j->s;
    char err[CF_ERR_LEN] = "";
    struct cf_fsdb_uuid *gone = NULL;
    struct cf_fsdb_entry fe;
    size_t ngone = 0;
    bool stop;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < j->k; i++) {
        pthread_mutex_lock(&j->mu);
        stop = j->abandoned;
        pthread_mutex_unlock(&j->mu);
        if (stop) {
            cf_err_set(err, "the client went away");
            rc = CF_ECANCELED;
            break;
        }
        rc = cf__gateway_put_copy(s->g, j->put, j->parts[i].uuid, j->parts[i].size,
                                  j->parts[i].sha512, err);
    }
    if (rc < 0) {
        char e2[CF_ERR_LEN] = "";
        (void)cf__gateway_put_end(s->g, j->put, false, &fe, e2);
        from_rc(e, rc, "NoSuchUpload", err);
        return rc;
    }
    rc = cf__gateway_put_end(s->g, j->put, true, &fe, err);
    if (rc < 0) {
        from_rc(e, rc, "NoSuchUpload", err);
        return rc;
    }
    rc = cf_fsdb_s3attrs_set(s->fs, j->w.client, fe.id, fe.version_no, &j->u.attrs, err);
    if (rc < 0)
        cf_log(CF_LOG_WARN, "s3: the attributes of file %" PRIu64 " v%" PRIu32 " were not kept: %s",
               fe.id, fe.version_no, err);
    mpu_keep_sizes(s, j->w.client, &fe, j->parts, j->k);
    /* The object is recorded: the upload and its parts go. If this fails,
     * the expiry pass removes them later. */
    rc = cf_fsdb_s3upload_remove(s->fs, j->w.client, j->u.id, &gone, &ngone, err);
    if (rc == 0)
        cf__gateway_release(s->g, j->w.client, gone, ngone);
    else
        cf_log(CF_LOG_WARN, "s3: upload %s completed but not removed: %s", j->u.id, err);
    free(gone);
    bprintf(&j->out, "<CompleteMultipartUploadResult xmlns=\"" XMLNS "\"><Location>/");
    xml_esc(&j->out, j->bucket);
    bprintf(&j->out, "/");
    xml_esc(&j->out, j->key);
    bprintf(&j->out, "</Location><Bucket>");
    xml_esc(&j->out, j->bucket);
    bprintf(&j->out, "</Bucket><Key>");
    xml_esc(&j->out, j->key);
    bprintf(&j->out, "</Key><ETag>&quot;%s&quot;</ETag></CompleteMultipartUploadResult>",
            j->u.attrs.etag);
    return 0;
}

static void *mpu_worker(void *arg)
{
    struct mpu_job *j = arg;
    struct s3err e;

    memset(&e, 0, sizeof(e));
    if (mpu_assemble(j, &e) < 0) {
        cf_log(CF_LOG_WARN, "s3: completing upload %s failed: %s", j->u.id, e.msg);
        mpu_error_doc(j, &e);
    }
    pthread_mutex_lock(&j->mu);
    j->done = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* MHD's reader of the reply: the XML declaration at once, a space each
 * interval until the worker is done, then its document's root element
 * (whitespace may stand between the two, not before the declaration). */
static ssize_t mpu_reply_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct mpu_job *j = cls;
    struct timespec until;
    size_t n;

    (void)pos;
    if (j->head_sent < sizeof(XML_HEAD) - 1) {
        n = sizeof(XML_HEAD) - 1 - j->head_sent;
        n = n < max ? n : max;
        memcpy(buf, XML_HEAD + j->head_sent, n);
        j->head_sent += n;
        return (ssize_t)n;
    }
    until = cf_deadline_mono_in(j->s->complete_keepalive_ms);
    pthread_mutex_lock(&j->mu);
    while (!j->done) {
        if (pthread_cond_timedwait(&j->cv, &j->mu, &until) == ETIMEDOUT)
            break;
    }
    if (!j->done) {
        pthread_mutex_unlock(&j->mu);
        buf[0] = ' ';
        return 1;
    }
    pthread_mutex_unlock(&j->mu);
    if (j->out.limit == 0 && j->sent == 0) {
        /* The document outgrew its buffer: say so rather than cut it. */
        cf_buf_fini(&j->out);
        cf_buf_init(&j->out, 4096);
        bprintf(&j->out, "<Error><Code>InternalError</Code><Message>the reply is too "
                         "long</Message></Error>");
    }
    if (j->sent >= j->out.len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    n = j->out.len - j->sent < max ? j->out.len - j->sent : max;
    memcpy(buf, j->out.base + j->sent, n);
    j->sent += n;
    return (ssize_t)n;
}

/* MHD is done with the reply (sent, or the connection ended): stop the
 * worker at its next part if it still runs, wait for it, release. */
static void mpu_reply_free(void *cls)
{
    struct mpu_job *j = cls;

    pthread_mutex_lock(&j->mu);
    j->abandoned = true;
    pthread_mutex_unlock(&j->mu);
    if (j->started) {
        pthread_join(j->th, NULL);
    } else if (!j->done) {
        char err[CF_ERR_LEN] = "";
        struct cf_fsdb_entry fe;
        (void)cf__gateway_put_end(j->s->g, j->put, false, &fe, err);
    }
    mpu_job_free(j);
}

/* Start completing upload u (borrowed) from its k checked parts (taken,
 * in order) into put (taken): queue the 200 reply, then start the worker. */
static enum MHD_Result mpu_start(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                                 const struct s3req *r, const struct cf_fsdb_s3upload *u,
                                 struct cf_fsdb_s3part *parts, size_t k,
                                 struct cf__gateway_put *put)
{
    struct mpu_job *j = cf_xcalloc(1, sizeof(*j));
    struct MHD_Response *resp;
    pthread_condattr_t ca;
    EVP_MD_CTX *md5;
    enum MHD_Result ret;
    char rid[17];
    struct s3err e;

    j->s = s;
    j->w = *w;
    memcpy(j->bucket, r->bucket, sizeof(j->bucket));
    memcpy(j->key, r->key, sizeof(j->key));
    j->u = *u;
    j->parts = parts;
    j->k = k;
    j->put = put;
    cf_buf_init(&j->out, 64 * 1024);
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    /* The ETag: the MD5 of the parts' MD5s, and "-k". */
    md5 = EVP_MD_CTX_new();
    (void)EVP_DigestInit_ex(md5, EVP_md5(), NULL);
    for (size_t i = 0; i < k; i++) {
        unsigned char raw[16];
        if (cf_hex_decode(parts[i].md5, 16, raw, false) == 0)
            (void)EVP_DigestUpdate(md5, raw, 16);
    }
    digest_hex(md5, j->u.attrs.etag);
    EVP_MD_CTX_free(md5);
    /* k <= CF_FSDB_S3_PARTS_MAX: the mask only tells the compiler it fits. */
    (void)snprintf(j->u.attrs.etag + 32, sizeof(j->u.attrs.etag) - 32, "-%u",
                   (unsigned)k & 0xffffu);
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, mpu_reply_read, j,
                                             mpu_reply_free);
    if (resp == NULL) {
        char e2[CF_ERR_LEN] = "";
        struct cf_fsdb_entry fe;
        (void)cf__gateway_put_end(s->g, put, false, &fe, e2);
        mpu_job_free(j);
        seterr(&e, 500, "InternalError", "cannot create the response");
        return reply_error(c, &e, r->key, NULL);
    }
    request_id(rid);
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/xml");
    (void)MHD_add_response_header(resp, "x-amz-request-id", rid);
    ret = MHD_queue_response(c, 200, resp);
    if (ret == MHD_YES) {
        /* Before the worker runs, so that it never races the queueing;
         * a failed start answers InternalError in the document. */
        if (pthread_create(&j->th, NULL, mpu_worker, j) == 0) {
            j->started = true;
        } else {
            char e2[CF_ERR_LEN] = "";
            struct cf_fsdb_entry fe;
            memset(&e, 0, sizeof(e));
            (void)cf__gateway_put_end(s->g, put, false, &fe, e2);
            seterr(&e, 500, "InternalError", "cannot start assembling the object");
            mpu_error_doc(j, &e);
            j->done = true;
        }
    }
    /* If queueing failed, this ends the job (mpu_reply_free) before any
     * part was copied, the object unrecorded. */
    MHD_destroy_response(resp);
    return ret;
}

/* CompleteMultipartUpload: the listed parts are checked (a 4xx for a
 * missing upload, a bad list, a key that cannot be made), then the reply
 * starts, 200 at once, and a worker streams the parts into the new object
 * while the reply keeps the connection alive (mpu_job). */
static enum MHD_Result mpu_complete(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                                    struct s3req *r)
{
    char path[CF_FSDB_PATH_MAX + 8], err[CF_ERR_LEN] = "", num[16], tag[80];
    struct cf_fsdb_s3upload u;
    struct cf_fsdb_s3part *have = NULL;
    uint32_t *want = NULL;
    size_t nhave = 0, nwant = 0, k = 0;
    struct cf__gateway_put *put = NULL;
    uint64_t folder = 0;
    bool more = false;
    const char *p, *q;
    struct s3err e;
    int rc;

    memset(&e, 0, sizeof(e));
    if (mpu_get(s, c, w, r->bucket, r->key, &u, &e) < 0)
        return reply_error(c, &e, r->key, NULL);
    if (r->too_big || r->body.base == NULL ||
        strstr(r->body.base, "<CompleteMultipartUpload") == NULL) {
        seterr(&e, 400, "MalformedXML", "the XML you provided was not well-formed");
        return reply_error(c, &e, r->key, NULL);
    }
    rc = cf_fsdb_s3part_list(s->fs, w->client, u.id, 0, CF_FSDB_S3_PARTS_MAX, &have, &nhave, &more,
                             err);
    if (rc < 0) {
        from_rc(&e, rc, "NoSuchUpload", err);
        return reply_error(c, &e, r->key, NULL);
    }
    want = cf_xcalloc(CF_FSDB_S3_PARTS_MAX, sizeof(*want));
    /* The parts asked for: ascending numbers, each with its ETag. */
    for (p = strstr(r->body.base, "<Part>"); p != NULL; p = strstr(q, "<Part>")) {
        char *end = NULL;
        unsigned long v;
        const char *t;
        size_t tl;
        struct cf_fsdb_s3part *hp = NULL;

        q = strstr(p, "</Part>");
        if (q == NULL || nwant == CF_FSDB_S3_PARTS_MAX ||
            !xml_field(p, q, "PartNumber", num, sizeof(num)) ||
            !xml_field(p, q, "ETag", tag, sizeof(tag))) {
            seterr(&e, 400, "MalformedXML", "the XML you provided was not well-formed");
            goto fail;
        }
        errno = 0;
        v = strtoul(num, &end, 10);
        if (num[0] < '1' || num[0] > '9' || errno != 0 || *end != '\0' ||
            v > CF_FSDB_S3_PARTS_MAX) {
            seterr(&e, 400, "InvalidPart", "part number %.15s is not 1 to %d", num,
                   CF_FSDB_S3_PARTS_MAX);
            goto fail;
        }
        if (nwant > 0 && v <= want[nwant - 1]) {
            seterr(&e, 400, "InvalidPartOrder",
                   "the list of parts was not in ascending order: part numbers must rise");
            goto fail;
        }
        want[nwant++] = (uint32_t)v;
        while (k < nhave && have[k].number < v)
            k++;
        if (k < nhave && have[k].number == v)
            hp = &have[k];
        t = tag;
        tl = strlen(tag);
        if (tl >= 2 && t[0] == '"' && t[tl - 1] == '"') {
            t++;
            tl -= 2;
        }
        if (hp == NULL || tl != 32 || strncasecmp(t, hp->md5, 32) != 0) {
            seterr(&e, 400, "InvalidPart",
                   "part %lu was not uploaded, or its ETag does not match the part's", v);
            goto fail;
        }
        q += 7;
    }
    if (nwant == 0) {
        seterr(&e, 400, "MalformedXML", "the upload lists no part");
        goto fail;
    }
    /* Keep only the parts asked for, in order: have[] is ascending, so a
     * merge. */
    k = 0;
    for (size_t i = 0, j = 0; i < nwant; i++) {
        while (have[j].number != want[i])
            j++;
        have[k++] = have[j];
    }
    for (size_t i = 0; i + 1 < k; i++)
        if (have[i].size < PART_MIN) {
            seterr(&e, 400, "EntityTooSmall",
                   "part %" PRIu32 " is smaller than the minimum allowed size (5 MiB)",
                   have[i].number);
            goto fail;
        }
    if (mpu_target(s, w, r->bucket, r->key, path, sizeof(path), &folder, &e) < 0)
        goto fail;
    rc = cf__gateway_put_new(s->g, w->client, w->user, folder, strrchr(path, '/') + 1, &put, err);
    if (rc < 0) {
        from_rc(&e, rc, "NoSuchUpload", err);
        goto fail;
    }
    free(want);
    /* The job takes have and put, whatever happens. */
    return mpu_start(s, c, w, r, &u, have, k, put);
fail:
    cf__gateway_put_free(put);
    free(have);
    free(want);
    return reply_error(c, &e, r->key, NULL);
}

/* ---- versioning ---- */

/*
 * coffer keeps every version of every file, so every bucket is versioned
 * and stays so. A version's id is its fsdb version id in decimal; a delete
 * marker is the trash entry of a deleted file, named "t" and the entry's id.
 * A key's history, newest first, is the live file's versions, then each
 * file deleted from that key (newest deletion first): its marker, then its
 * versions. Removing a marker restores its file from the trash; removing a
 * version deletes it for good.
 */

/* A versionId: a version (*marker false) or a delete marker. */
static int parse_version_id(const char *v, uint64_t *id, bool *marker)
{
    const char *p = v;
    char *end = NULL;
    unsigned long long n;

    *marker = false;
    if (*p == 't') {
        *marker = true;
        p++;
    }
    if (*p < '1' || *p > '9')
        return CF_EINVAL;
    errno = 0;
    n = strtoull(p, &end, 10);
    if (errno != 0 || *end != '\0' || n > INT64_MAX)
        return CF_EINVAL;
    *id = n;
    return 0;
}

/* Where key's versions are: the folder it is in, on which the user has at
 * least want, and its name. Returns 0, CF_ENOTFOUND (e: NoSuchBucket, or
 * NoSuchKey for a folder that is not there) or another error with e set. */
static int key_place(struct cf__s3 *s, const struct who *w, const char *bucket, const char *key,
                     enum cf_fsdb_level want, uint64_t *folder, char name[CF_FSDB_NAME_MAX + 1],
                     struct s3err *e)
{
    char path[CF_FSDB_PATH_MAX + 8], err[CF_ERR_LEN] = "";
    enum cf_fsdb_level have = CF_FSDB_NONE;
    struct cf_fsdb_entry fe;
    bool dir = false;
    char *slash;
    int rc;

    if (key_path(bucket, key, path, sizeof(path), &dir, e) < 0)
        return CF_EINVAL;
    rc = bucket_get(s, w, bucket, CF_FSDB_READ, &fe, e);
    if (rc < 0)
        return rc;
    if (dir) {
        seterr(e, 404, "NoSuchKey", "a folder has no versions");
        return CF_ENOTFOUND;
    }
    slash = strrchr(path, '/');
    (void)snprintf(name, CF_FSDB_NAME_MAX + 1, "%s", slash + 1);
    *slash = '\0';
    rc = cf_fsdb_lookup_access(s->fs, w->client, w->user, path, false, &fe, &have, err);
    if (rc == 0 && fe.kind != CF_FSDB_FOLDER)
        rc = CF_ENOTFOUND;
    if (rc == CF_ENOTFOUND) {
        seterr(e, 404, "NoSuchKey", "the specified key does not exist");
        return rc;
    }
    if (rc == 0 && have < want) {
        seterr(e, 403, "AccessDenied", "you may not %s this object",
               want == CF_FSDB_READ ? "read" : "delete");
        return CF_EPERM;
    }
    if (rc < 0) {
        from_rc(e, rc, "NoSuchKey", err);
        return rc;
    }
    *folder = fe.id;
    return 0;
}

/* The trash entry id is a file deleted from name in folder. */
static int marker_at(struct cf__s3 *s, const struct who *w, uint64_t folder, const char *name,
                     uint64_t id, char *err)
{
    struct cf_fsdb_trash t;
    int rc = cf_fsdb_trash_get(s->fs, w->client, id, &t, err);

    if (rc == 0 &&
        (t.kind != CF_FSDB_FILE || t.orig_parent != folder || strcmp(t.orig_name, name) != 0))
        rc = CF_ENOTFOUND;
    return rc;
}

/* The entry of version id of the file name in folder (live there, or
 * deleted from there), as GetObject serves it. Returns 0, CF_ENOTFOUND,
 * or an fsdb error with err. */
static int version_entry(struct cf__s3 *s, const struct who *w, uint64_t folder, const char *name,
                         uint64_t id, struct cf_fsdb_entry *fe, char *err)
{
    struct cf_fsdb_version ver;
    int rc = cf_fsdb_version_at(s->fs, w->client, folder, name, id, &ver, NULL, err);

    if (rc < 0)
        return rc;
    memset(fe, 0, sizeof(*fe));
    fe->kind = CF_FSDB_FILE;
    fe->id = ver.file;
    fe->parent = folder;
    (void)snprintf(fe->name, sizeof(fe->name), "%s", name);
    fe->created_ms = ver.created_ms;
    fe->modified_ms = ver.created_ms;
    fe->version = ver.id;
    fe->version_no = ver.number;
    memcpy(fe->uuid, ver.uuid, sizeof(fe->uuid));
    fe->size = ver.size;
    memcpy(fe->sha512, ver.sha512, sizeof(fe->sha512));
    return 0;
}

/* GetObject and HeadObject of one version (vid, from the query). */
static enum MHD_Result get_version(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                                   const char *bucket, const char *key, const char *vid)
{
    char res[KEY_MAX + CF_FSDB_NAME_MAX + 4], name[CF_FSDB_NAME_MAX + 1], err[CF_ERR_LEN] = "";
    const char *marker_hdrs[] = {
        "x-amz-delete-marker", "true", "x-amz-version-id", vid, "Allow", "DELETE", NULL};
    struct cf_fsdb_entry fe;
    struct s3err e;
    uint64_t folder = 0, id = 0;
    bool marker = false;
    int rc;

    (void)snprintf(res, sizeof(res), "/%s/%s", bucket, key);
    if (parse_version_id(vid, &id, &marker) < 0) {
        seterr(&e, 400, "InvalidArgument", "invalid version id specified");
        return reply_error(c, &e, res, NULL);
    }
    if (key_place(s, w, bucket, key, CF_FSDB_READ, &folder, name, &e) < 0)
        return reply_error(c, &e, res, NULL);
    if (marker) {
        rc = marker_at(s, w, folder, name, id, err);
        if (rc == 0) {
            seterr(&e, 405, "MethodNotAllowed",
                   "the specified method is not allowed against a delete marker");
            return reply_error(c, &e, res, marker_hdrs);
        }
    } else {
        rc = version_entry(s, w, folder, name, id, &fe, err);
        if (rc == 0)
            return get_object(s, c, w, bucket, key, &fe);
    }
    if (rc == CF_ENOTFOUND)
        seterr(&e, 404, "NoSuchVersion", "the specified version does not exist");
    else
        from_rc(&e, rc, "NoSuchVersion", err);
    return reply_error(c, &e, res, NULL);
}

/* Delete version vid of key: a delete marker's file comes back from the
 * trash (*marker); a version goes for good. A version or key that is not
 * there is deleted already (0). Returns 0 or an error with e set. */
static int version_delete(struct cf__s3 *s, const struct who *w, const char *bucket,
                          const char *key, const char *vid, bool *marker, struct s3err *e)
{
    char name[CF_FSDB_NAME_MAX + 1], err[CF_ERR_LEN] = "";
    struct cf_fsdb_version ver;
    struct cf_fsdb_uuid gone;
    uint64_t folder = 0, id = 0;
    bool file_gone = false;
    int rc;

    if (parse_version_id(vid, &id, marker) < 0) {
        seterr(e, 400, "InvalidArgument", "invalid version id specified");
        return CF_EINVAL;
    }
    rc = key_place(s, w, bucket, key, CF_FSDB_READ_WRITE, &folder, name, e);
    if (rc == CF_ENOTFOUND && strcmp(e->code, "NoSuchKey") == 0)
        return 0;
    if (rc < 0)
        return rc;
    if (*marker) {
        rc = marker_at(s, w, folder, name, id, err);
        if (rc == 0)
            rc = cf_fsdb_trash_restore(s->fs, w->client, id, 0, NULL, err);
        if (rc == CF_EEXIST) {
            seterr(e, 409, "OperationAborted",
                   "an object was put at this key after the deletion, and coffer keeps the"
                   " two histories apart: delete the newer object first");
            return rc;
        }
    } else {
        rc = cf_fsdb_version_at(s->fs, w->client, folder, name, id, &ver, NULL, err);
        if (rc == 0)
            rc = cf_fsdb_version_remove(s->fs, w->client, id, &gone, &file_gone, err);
        if (rc == 0 && gone.text[0] != '\0')
            cf__gateway_release(s->g, w->client, &gone, 1);
    }
    if (rc == CF_ENOTFOUND)
        return 0;
    if (rc < 0)
        from_rc(e, rc, "NoSuchVersion", err);
    return rc;
}

static enum MHD_Result delete_version(struct cf__s3 *s, struct MHD_Connection *c,
                                      const struct who *w, const char *bucket, const char *key,
                                      const char *vid)
{
    const char *hdrs[] = {"x-amz-version-id", vid, NULL, NULL, NULL};
    struct s3err e;
    bool marker = false;

    memset(&e, 0, sizeof(e));
    if (version_delete(s, w, bucket, key, vid, &marker, &e) < 0)
        return reply_error(c, &e, key, NULL);
    if (marker) {
        hdrs[2] = "x-amz-delete-marker";
        hdrs[3] = "true";
    }
    return reply_xml(c, 204, NULL, hdrs);
}

static enum MHD_Result get_versioning(struct cf__s3 *s, struct MHD_Connection *c,
                                      const struct who *w, const char *bucket)
{
    struct cf_fsdb_entry fe;
    struct cf_buf b;
    struct s3err e;

    if (bucket_get(s, w, bucket, CF_FSDB_READ, &fe, &e) < 0)
        return reply_error(c, &e, bucket, NULL);
    cf_buf_init(&b, 4096);
    bprintf(&b, XML_HEAD "<VersioningConfiguration xmlns=\"" XMLNS "\"><Status>Enabled</Status>"
                         "</VersioningConfiguration>");
    return reply_xml(c, 200, &b, NULL);
}

/* PutBucketVersioning: Enabled is what every bucket is; coffer cannot stop
 * keeping versions, nor ask for MFA. */
static enum MHD_Result put_versioning(struct cf__s3 *s, struct MHD_Connection *c,
                                      const struct who *w, struct s3req *r)
{
    const char *body = r->body.base;
    struct cf_fsdb_entry fe;
    char status[32] = "", mfa[32] = "";
    struct s3err e;

    if (bucket_get(s, w, r->bucket, CF_FSDB_READ_WRITE, &fe, &e) < 0)
        return reply_error(c, &e, r->bucket, NULL);
    if (r->too_big || body == NULL || strstr(body, "<VersioningConfiguration") == NULL ||
        (strstr(body, "<Status>") != NULL &&
         !xml_field(body, body + r->body.len, "Status", status, sizeof(status))) ||
        (strstr(body, "<MfaDelete>") != NULL &&
         !xml_field(body, body + r->body.len, "MfaDelete", mfa, sizeof(mfa)))) {
        seterr(&e, 400, "MalformedXML", "the XML you provided was not well-formed");
        return reply_error(c, &e, r->bucket, NULL);
    }
    if (strcmp(mfa, "Enabled") == 0) {
        seterr(&e, 501, "NotImplemented", "coffer does not do MFA delete");
        return reply_error(c, &e, r->bucket, NULL);
    }
    if (strcmp(status, "Suspended") == 0) {
        seterr(&e, 501, "NotImplemented",
               "coffer keeps every version of every object: versioning cannot be suspended");
        return reply_error(c, &e, r->bucket, NULL);
    }
    if (status[0] != '\0' && strcmp(status, "Enabled") != 0) {
        seterr(&e, 400, "IllegalVersioningConfigurationException",
               "the Status is Enabled or Suspended");
        return reply_error(c, &e, r->bucket, NULL);
    }
    return reply_xml(c, 200, NULL, NULL);
}

/* ListObjectVersions: lister's walk, each key giving its history. */
struct vlister {
    struct lister l; /* contents holds the versions and delete markers */
    char last_vid[VID_MAX];
    const char *skip_vid; /* resuming: the first key's entries up to this one are skipped */
    struct cf_fsdb_s3attrs a;
};

/* Add a version (ver) or a delete marker (ver NULL) of key; false when the
 * page is full. */
static bool vemit(struct vlister *v, const char *key, const char *vid, bool latest, uint64_t ms,
                  const struct cf_fsdb_version *ver)
{
    struct lister *l = &v->l;
    char when[32];

    if (v->skip_vid != NULL) {
        if (strcmp(vid, v->skip_vid) == 0)
            v->skip_vid = NULL;
        return true;
    }
    if (l->count == l->max) {
        l->truncated = true;
        l->stop = true;
        return false;
    }
    iso_time(ms, when);
    bprintf(&l->contents, ver != NULL ? "<Version>" : "<DeleteMarker>");
    put_key(l, &l->contents, "Key", key);
    bprintf(&l->contents,
            "<VersionId>%s</VersionId><IsLatest>%s</IsLatest><LastModified>%s</LastModified>", vid,
            latest ? "true" : "false", when);
    if (ver != NULL) {
        if (cf_fsdb_s3attrs_get(l->s->fs, l->w->client, ver->file, ver->number, &v->a, NULL) < 0) {
            char hex[129];
            cf_hex_encode(ver->sha512, 16, hex);
            memcpy(v->a.etag, hex, 33);
        }
        bprintf(&l->contents, "<ETag>&quot;%s&quot;</ETag><Size>%" PRIu64 "</Size>", v->a.etag,
                ver->size);
    }
    owner_xml(&l->contents, "Owner", l->w->user);
    bprintf(&l->contents,
            ver != NULL ? "<StorageClass>STANDARD</StorageClass></Version>" : "</DeleteMarker>");
    l->count++;
    (void)snprintf(l->last, sizeof(l->last), "%s", key);
    l->last_cp = false;
    (void)snprintf(v->last_vid, sizeof(v->last_vid), "%s", vid);
    return true;
}

/* The versions of file, newest first; latest marks the current one. */
static void file_versions(struct vlister *v, const char *key, uint64_t file, bool latest)
{
    struct lister *l = &v->l;
    struct cf_fsdb_version *vv = NULL;
    uint32_t before = 0;
    bool more = true;
    size_t n = 0;
    char vid[VID_MAX];

    while (more && !l->stop && l->rc == 0) {
        l->rc = cf_fsdb_versions_page_desc(l->s->fs, l->w->client, file, before, LIST_PAGE, &vv, &n,
                                           &more, l->err);
        if (l->rc == CF_ENOTFOUND)
            l->rc = 0; /* gone meanwhile */
        for (size_t i = 0; l->rc == 0 && i < n; i++) {
            (void)snprintf(vid, sizeof(vid), "%" PRIu64, vv[i].id);
            if (!vemit(v, key, vid, latest && vv[i].current, vv[i].created_ms, &vv[i]))
                break;
            before = vv[i].number;
        }
        free(vv);
        vv = NULL;
    }
}

/* Key's history: the live file's versions (live: its id, 0 if none), then
 * each file deleted from name in folder, newest deletion first. */
static void key_history(struct vlister *v, uint64_t folder, const char *name, const char *key,
                        uint64_t live)
{
    struct lister *l = &v->l;
    struct cf_fsdb_trash *tv = NULL;
    uint64_t after_id = INT64_MAX;
    bool more = true, first = true;
    size_t n = 0;
    char vid[VID_MAX];

    if (live != 0)
        file_versions(v, key, live, true);
    while (more && !l->stop && l->rc == 0) {
        l->rc = cf_fsdb_trash_page_from(l->s->fs, l->w->client, folder, name, after_id, LIST_PAGE,
                                        &tv, &n, &more, l->err);
        for (size_t i = 0; l->rc == 0 && !l->stop && i < n; i++) {
            if (strcmp(tv[i].orig_name, name) != 0) {
                more = false;
                break;
            }
            (void)snprintf(vid, sizeof(vid), "t%" PRIu64, tv[i].id);
            if (!vemit(v, key, vid, live == 0 && first, tv[i].deleted_ms, NULL))
                break;
            first = false;
            file_versions(v, key, tv[i].item, false);
            after_id = tv[i].id;
        }
        free(tv);
        tv = NULL;
    }
}

/* The first name of a file deleted from folder that is above after
 * (NULL: any) into out; false if none (or on an error, in l->rc). */
static bool next_gone(struct vlister *v, uint64_t folder, const char *after,
                      char out[CF_FSDB_NAME_MAX + 1])
{
    struct lister *l = &v->l;
    struct cf_fsdb_trash *tv = NULL;
    bool more = false, found = false;
    size_t n = 0;

    if (l->rc == 0)
        l->rc = cf_fsdb_trash_page_from(l->s->fs, l->w->client, folder, after, 0, 1, &tv, &n, &more,
                                        l->err);
    if (l->rc == 0 && n == 1) {
        memcpy(out, tv[0].orig_name, CF_FSDB_NAME_MAX + 1);
        found = true;
    }
    free(tv);
    return found;
}

static void vwalk(struct vlister *v, uint64_t folder, const char *fp, const char *S);

/* One key of folder (keys starting with fp): a live child (it) or a name
 * only deleted files had. Returns true once past the prefix. */
static bool vitem(struct vlister *v, uint64_t folder, const char *fp, const char *pp, const char *S,
                  const char *name, bool dir, const struct cf_fsdb_s3_item *it)
{
    struct lister *l = &v->l;
    char ak[CF_FSDB_NAME_MAX + 2];
    const char *d;
    int w;

    w = snprintf(l->full, sizeof(l->full), "%s%s%s", fp, name, dir ? "/" : "");
    (void)snprintf(ak, sizeof(ak), "%s%s", name, dir ? "/" : "");
    if (w < 0 || (size_t)w >= sizeof(l->full))
        return false;
    if (pp[0] != '\0' && !starts(ak, pp))
        return strcmp(ak, pp) > 0;
    d = l->delim != NULL && strlen(l->full) > l->plen ? strstr(l->full + l->plen, l->delim) : NULL;
    if (d != NULL) {
        char cp[KEY_MAX + 2], gone[CF_FSDB_NAME_MAX + 1];
        (void)snprintf(cp, sizeof(cp), "%.*s", (int)(d - l->full) + (int)l->dlen, l->full);
        if (dir && has_key(l->s, l->w, it->e.id, 0) != 1 && !next_gone(v, it->e.id, NULL, gone))
            return false; /* nothing was ever kept below */
        if (!starts(S, cp) && strcmp(cp, S) > 0 && emit(l, cp, true, NULL))
            v->last_vid[0] = '\0';
        return false;
    }
    if (dir) {
        enum cf_fsdb_level have = CF_FSDB_NONE;
        char sub[KEY_MAX + 2];
        if (cf_fsdb_perm_effective(l->s->fs, l->w->client, l->w->user, it->e.id, &have, NULL) < 0 ||
            have < CF_FSDB_READ)
            return false;
        memcpy(sub, l->full, strlen(l->full) + 1);
        vwalk(v, it->e.id, sub, S);
        return false;
    }
    if (strcmp(l->full, S) > 0)
        key_history(v, folder, name, l->full, it != NULL ? it->e.id : 0);
    return false;
}

static void vwalk(struct vlister *v, uint64_t folder, const char *fp, const char *S);

static void vwalk_descend(void *ctx, uint64_t folder, const char *sub, const char *S)
{
    vwalk(ctx, folder, sub, S);
}

/* walk() for versions: the folder's live children merged in key order with
 * the names of the files deleted from it. */
static void vwalk(struct vlister *v, uint64_t folder, const char *fp, const char *S)
{
    struct lister *l = &v->l;
    size_t fl = strlen(fp);
    const char *pp = l->plen > fl ? l->prefix + fl : "";
    char after[CF_FSDB_NAME_MAX + 2] = "", gone[CF_FSDB_NAME_MAX + 1];
    bool have_after = false, more = true, has_gone, past = false;
    struct cf_fsdb_s3_item *vv = NULL;
    size_t n = 0;

    if (!walk_from(l, fp, S, after, &have_after, vwalk_descend, v))
        return;
    has_gone = next_gone(v, folder, have_after ? after : NULL, gone);
    while (more && !past && !l->stop && l->rc == 0) {
        l->rc = cf_fsdb_s3_page(l->s->fs, l->w->client, folder, have_after ? after : NULL,
                                LIST_PAGE, &vv, &n, &more, l->err);
        for (size_t i = 0; l->rc == 0 && !l->stop && !past && i < n; i++) {
            const struct cf_fsdb_s3_item *it = &vv[i];
            bool dir = it->e.kind == CF_FSDB_FOLDER;
            char ak[CF_FSDB_NAME_MAX + 2];

            (void)snprintf(ak, sizeof(ak), "%s%s", it->e.name, dir ? "/" : "");
            /* Names only deleted files had, before this child. */
            while (has_gone && strcmp(gone, ak) < 0 && !past && !l->stop && l->rc == 0) {
                char g[CF_FSDB_NAME_MAX + 1];
                memcpy(g, gone, sizeof(g));
                past = vitem(v, folder, fp, pp, S, g, false, NULL);
                has_gone = next_gone(v, folder, g, gone);
            }
            if (past || l->stop || l->rc < 0)
                break;
            /* A live file's history covers the deleted ones of its name. */
            if (has_gone && strcmp(gone, ak) == 0)
                has_gone = next_gone(v, folder, ak, gone);
            memcpy(after, ak, sizeof(ak));
            have_after = true;
            past = vitem(v, folder, fp, pp, S, it->e.name, dir, it);
        }
        free(vv);
        vv = NULL;
    }
    while (has_gone && !past && !l->stop && l->rc == 0) {
        char g[CF_FSDB_NAME_MAX + 1];
        memcpy(g, gone, sizeof(g));
        past = vitem(v, folder, fp, pp, S, g, false, NULL);
        has_gone = next_gone(v, folder, g, gone);
    }
}

static enum MHD_Result list_versions(struct cf__s3 *s, struct MHD_Connection *c,
                                     const struct who *w, const char *bucket)
{
    const char *kmarker = cf_http_query(c, "key-marker");
    const char *vmarker = cf_http_query(c, "version-id-marker");
    struct vlister *v = cf_xcalloc(1, sizeof(*v));
    struct lister *l = &v->l;
    struct cf_fsdb_entry fe;
    struct cf_buf b;
    struct s3err e;
    char S[KEY_MAX + 3] = "", base[KEY_MAX + 2] = "", path[KEY_MAX + CF_FSDB_NAME_MAX + 4];
    const char *prefix, *delim;
    enum MHD_Result res;
    uint64_t vm = 0, folder;
    bool vm_marker = false;
    size_t max;

    if (lister_open(l, s, c, w, bucket, &e) < 0) {
        free(v);
        return reply_error(c, &e, bucket, NULL);
    }
    prefix = l->prefix;
    delim = l->delim;
    max = l->max;
    if (kmarker == NULL)
        kmarker = "";
    if (vmarker != NULL && vmarker[0] == '\0')
        vmarker = NULL;
    if (strlen(kmarker) > KEY_MAX) {
        seterr(&e, 400, "InvalidArgument", "the key-marker is too long");
        res = reply_error(c, &e, bucket, NULL);
        goto out;
    }
    if (vmarker != NULL && (kmarker[0] == '\0' || parse_version_id(vmarker, &vm, &vm_marker) < 0)) {
        seterr(&e, 400, "InvalidArgument",
               "a version-id-marker is a version id we gave, with its key-marker");
        res = reply_error(c, &e, bucket, NULL);
        goto out;
    }
    memcpy(S, kmarker, strlen(kmarker) + 1);
    if (vmarker == NULL && marker_is_prefix(kmarker, prefix, delim))
        (void)strncat(S, "\xff", 2);
    if (bucket_get(s, w, bucket, CF_FSDB_READ, &fe, &e) < 0) {
        res = reply_error(c, &e, bucket, NULL);
        goto out;
    }
    folder = list_base(l, fe.id, base);
    if (max > 0 && vmarker != NULL && starts(kmarker, prefix) &&
        (delim == NULL || strstr(kmarker + strlen(prefix), delim) == NULL)) {
        /* The rest of the marker key's history first: it precedes every
         * later key. */
        uint64_t at = 0;
        char name[CF_FSDB_NAME_MAX + 1];
        struct s3err e2;
        if (key_place(s, w, bucket, kmarker, CF_FSDB_READ, &at, name, &e2) == 0) {
            struct cf_fsdb_entry live;
            uint64_t id = 0;
            (void)snprintf(path, sizeof(path), "/%s/%s", bucket, kmarker);
            if (cf_fsdb_lookup(s->fs, w->client, path, &live, NULL) == 0 &&
                live.kind == CF_FSDB_FILE)
                id = live.id;
            v->skip_vid = vmarker;
            key_history(v, at, name, kmarker, id);
            v->skip_vid = NULL;
        }
    }
    if (max > 0 && folder != 0 && !l->stop && l->rc == 0)
        vwalk(v, folder, base, S);
    if (l->rc < 0) {
        from_rc(&e, l->rc, "NoSuchBucket", l->err);
        res = reply_error(c, &e, bucket, NULL);
        goto out;
    }
    cf_buf_init(&b, 128 * 1024 * 1024);
    bprintf(&b, XML_HEAD "<ListVersionsResult xmlns=\"" XMLNS "\"><Name>");
    xml_esc(&b, bucket);
    bprintf(&b, "</Name>");
    put_key(l, &b, "Prefix", prefix);
    put_key(l, &b, "KeyMarker", kmarker);
    bprintf(&b, "<VersionIdMarker>%s</VersionIdMarker><MaxKeys>%zu</MaxKeys>",
            vmarker != NULL ? vmarker : "", max);
    if (delim != NULL)
        put_key(l, &b, "Delimiter", delim);
    if (l->url)
        bprintf(&b, "<EncodingType>url</EncodingType>");
    bprintf(&b, "<IsTruncated>%s</IsTruncated>", l->truncated ? "true" : "false");
    if (l->truncated) {
        put_key(l, &b, "NextKeyMarker", l->last);
        if (v->last_vid[0] != '\0')
            bprintf(&b, "<NextVersionIdMarker>%s</NextVersionIdMarker>", v->last_vid);
    }
    if (l->contents.len > 0)
        bappend(&b, l->contents.base, l->contents.len);
    if (l->prefixes.len > 0)
        bappend(&b, l->prefixes.base, l->prefixes.len);
    bprintf(&b, "</ListVersionsResult>");
    res = reply_xml(c, 200, &b, NULL);
out:
    cf_buf_fini(&l->contents);
    cf_buf_fini(&l->prefixes);
    free(v);
    return res;
}

/* Requests naming versioning, versions or a versionId. */
static enum MHD_Result version_route(struct cf__s3 *s, struct MHD_Connection *c,
                                     const struct who *w, const char *bucket, const char *key,
                                     const char *method, const char *url, void **req_cls)
{
    const char *vid = cf_http_query(c, "versionId");
    bool get = strcmp(method, "GET") == 0, head = strcmp(method, "HEAD") == 0;
    bool put = strcmp(method, "PUT") == 0, del = strcmp(method, "DELETE") == 0;
    struct s3err e;

    if (key[0] == '\0' && has_arg(c, "versioning")) {
        if (get)
            return get_versioning(s, c, w, bucket);
        if (put) {
            struct s3req *r = cf_xcalloc(1, sizeof(*r));
            r->kind = K_BODY;
            r->op = 'V';
            r->who = *w;
            memcpy(r->bucket, bucket, sizeof(r->bucket));
            cf_buf_init(&r->body, SMALL_BODY_MAX);
            *req_cls = r;
            return MHD_YES;
        }
    } else if (key[0] == '\0' && has_arg(c, "versions")) {
        if (get)
            return list_versions(s, c, w, bucket);
    } else if (key[0] != '\0' && !has_arg(c, "versioning") && !has_arg(c, "versions")) {
        if (vid == NULL)
            vid = "";
        if (get || head)
            return get_version(s, c, w, bucket, key, vid);
        if (del)
            return delete_version(s, c, w, bucket, key, vid);
    } else {
        seterr(&e, 400, "InvalidRequest",
               "versioning and versions are a bucket's, versionId an object's");
        return fail(c, req_cls, &e, url);
    }
    seterr(&e, 405, "MethodNotAllowed", "the method is not allowed with versioning");
    return fail(c, req_cls, &e, url);
}

/* ---- UploadPartCopy and ?partNumber ---- */

/* CopyObject keeps the source's ETag, so a copy of an object completed
 * from parts keeps its part sizes too (from's, if any, go to to). A
 * failure is only logged: ?partNumber on the copy is then refused. */
static void copy_part_sizes(struct cf__s3 *s, uint64_t client, const struct cf_fsdb_entry *from,
                            const struct cf_fsdb_entry *to)
{
    char err[CF_ERR_LEN] = "";
    uint64_t *sizes = NULL;
    size_t n = 0;
    int rc;

    rc = cf_fsdb_s3partsizes_get(s->fs, client, from->id, from->version_no, &sizes, &n, err);
    if (rc == 0)
        rc = cf_fsdb_s3partsizes_set(s->fs, client, to->id, to->version_no, sizes, n, err);
    if (rc < 0 && rc != CF_ENOTFOUND)
        cf_log(CF_LOG_WARN, "s3: the part sizes of file %" PRIu64 " v%" PRIu32 " were not kept: %s",
               to->id, to->version_no, err);
    free(sizes);
}

/* Percent-decode s in place (never longer); "%00" is kept as it is. */
static void pct_decode(char *s)
{
    size_t k = 0;

    for (size_t i = 0; s[i] != '\0'; i++) {
        int hi = s[i] == '%' ? cf_hex_value(s[i + 1], true) : -1;
        int lo = hi >= 0 ? cf_hex_value(s[i + 2], true) : -1;
        if (lo >= 0 && (hi || lo)) {
            s[k++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            s[k++] = s[i];
        }
    }
    s[k] = '\0';
}

/* The x-amz-copy-source-if-* conditions against the source fe (etag its
 * ETag), as RFC 9110 orders If-*: -if-match, else -if-unmodified-since;
 * then -if-none-match, else -if-modified-since. Any that fails: 412. */
static int copy_conditions(struct MHD_Connection *c, const struct cf_fsdb_entry *fe,
                           const char *etag, struct s3err *e)
{
    const char *im = cf_http_header(c, "x-amz-copy-source-if-match");
    const char *inm = cf_http_header(c, "x-amz-copy-source-if-none-match");
    const char *ims = cf_http_header(c, "x-amz-copy-source-if-modified-since");
    const char *ius = cf_http_header(c, "x-amz-copy-source-if-unmodified-since");
    int64_t mod_s = (int64_t)(fe->modified_ms / 1000);
    int64_t ims_s = ims != NULL ? parse_http_time(ims) : 0;
    int64_t ius_s = ius != NULL ? parse_http_time(ius) : 0;

    if (ims_s < 0 || ius_s < 0) {
        seterr(e, 400, "InvalidArgument", "x-amz-copy-source-if-%s-since is not an HTTP date",
               ims_s < 0 ? "modified" : "unmodified");
        return CF_EINVAL;
    }
    if ((im != NULL && !etag_match(im, etag)) || (im == NULL && ius != NULL && mod_s > ius_s) ||
        (inm != NULL && etag_match(inm, etag)) || (inm == NULL && ims != NULL && mod_s <= ims_s)) {
        seterr(e, 412, "PreconditionFailed", "at least one of the preconditions did not hold");
        return CF_EPERM;
    }
    return 0;
}

/* The object x-amz-copy-source (src: "/bucket/key" or "bucket/key",
 * percent-encoded) names, readable by the user, with its ETag, passing
 * the copy-source conditions. Returns 0 or a CF_E* code with *e. */
static int copy_source(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                       const char *src, struct cf_fsdb_entry *fe, char *etag, size_t cap,
                       struct s3err *e)
{
    char sb[CF_FSDB_NAME_MAX + 1], *sk, name[CF_FSDB_NAME_MAX + 1], err[CF_ERR_LEN] = "";
    const char *q;
    struct cf_fsdb_s3attrs a;
    uint64_t folder = 0, id = 0;
    bool marker = false;
    size_t bl;
    int rc;

    while (*src == '/')
        src++;
    bl = strcspn(src, "/");
    if (bl == 0 || bl > CF_FSDB_NAME_MAX || src[bl] != '/' || src[bl + 1] == '\0') {
        seterr(e, 400, "InvalidArgument", "x-amz-copy-source is /bucket/key[?versionId=ID]");
        return CF_EINVAL;
    }
    memcpy(sb, src, bl);
    sb[bl] = '\0';
    sk = cf_xstrdup(src + bl + 1);
    /* "?versionId=ID" after the (encoded) key; S3 takes nothing else there. */
    q = strchr(src + bl + 1, '?');
    if (q != NULL) {
        sk[q - (src + bl + 1)] = '\0';
        if (strncmp(q, "?versionId=", 11) != 0 || parse_version_id(q + 11, &id, &marker) < 0) {
            free(sk);
            seterr(e, 400, "InvalidArgument", "x-amz-copy-source: a bad versionId");
            return CF_EINVAL;
        }
    }
    pct_decode(sk);
    if (q == NULL) {
        rc = object_get(s, w, sb, sk, fe, e);
    } else if (marker) {
        seterr(e, 400, "InvalidRequest",
               "the source of a copy request may not specifically refer to a delete marker by "
               "version id");
        rc = CF_EINVAL;
    } else {
        rc = key_place(s, w, sb, sk, CF_FSDB_READ, &folder, name, e);
        if (rc == 0)
            rc = version_entry(s, w, folder, name, id, fe, err);
        if (rc == CF_ENOTFOUND && folder != 0)
            seterr(e, 404, "NoSuchVersion", "the specified version does not exist");
        else if (rc < 0 && folder != 0)
            from_rc(e, rc, "NoSuchVersion", err);
    }
    free(sk);
    if (rc < 0)
        return rc;
    if (cf_fsdb_s3attrs_get(s->fs, w->client, fe->id, fe->version_no, &a, NULL) == 0) {
        (void)snprintf(etag, cap, "%s", a.etag);
    } else {
        /* Written through /api/v1/fs: the ETag GetObject gives it. */
        char hex[129];
        cf_hex_encode(fe->sha512, 16, hex);
        (void)snprintf(etag, cap, "%.32s", hex);
    }
    return copy_conditions(c, fe, etag, e);
}

/* x-amz-copy-source-range (h; NULL: the whole source), "bytes=first-last"
 * of a source of size bytes, into *first and *len. Returns 0 or a CF_E*
 * code with *e. */
static int copy_range(const char *h, uint64_t size, uint64_t *first, uint64_t *len, struct s3err *e)
{
    unsigned long long a, z;
    char *end = NULL;
    const char *p;

    *first = 0;
    *len = size;
    if (h == NULL)
        return 0;
    if (strncmp(h, "bytes=", 6) != 0 || h[6] < '0' || h[6] > '9')
        goto bad;
    errno = 0;
    a = strtoull(h + 6, &end, 10);
    if (errno != 0 || *end != '-' || end[1] < '0' || end[1] > '9')
        goto bad;
    p = end + 1;
    z = strtoull(p, &end, 10);
    if (errno != 0 || *end != '\0' || a > z)
        goto bad;
    if (z >= size) {
        seterr(e, 416, "InvalidRange",
               "the range bytes=%llu-%llu is outside the source (%" PRIu64 " bytes)", a, z, size);
        return CF_EINVAL;
    }
    *first = (uint64_t)a;
    *len = (uint64_t)(z - a + 1);
    return 0;
bad:
    seterr(e, 400, "InvalidArgument",
           "x-amz-copy-source-range is bytes=first-last, first <= last, zero-based");
    return CF_EINVAL;
}

static void md5_seen(void *ctx, const char *buf, size_t n)
{
    (void)EVP_DigestUpdate(ctx, buf, n);
}

/* UploadPartCopy: part no of the upload named by ?uploadId gets the
 * source's bytes (x-amz-copy-source-range of them, or all), streamed from
 * the source's stored object (read whole and verified) into a new object
 * of its own, one block in memory; its MD5 is the part's ETag. The part
 * never shares the source's object: an upload's parts are released when
 * it ends, whoever else names them. */
static enum MHD_Result part_copy(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                                 const char *bucket, const char *key, uint32_t no)
{
    char err[CF_ERR_LEN] = "", md5[33], when[32], setag[CF_FSDB_S3_ETAG_MAX + 1];
    struct cf_fsdb_s3upload u;
    struct cf_fsdb_entry fe;
    struct cf__gateway_put *put = NULL;
    EVP_MD_CTX *ctx = NULL;
    uint64_t first = 0, len = 0;
    struct s3err e;
    struct cf_buf b;
    int rc;

    if (mpu_get(s, c, w, bucket, key, &u, &e) < 0 ||
        copy_source(s, c, w, cf_http_header(c, "x-amz-copy-source"), &fe, setag, sizeof(setag),
                    &e) < 0 ||
        copy_range(cf_http_header(c, "x-amz-copy-source-range"), fe.size, &first, &len, &e) < 0)
        return reply_error(c, &e, key, NULL);
    rc = cf__gateway_put_new(s->g, w->client, w->user, 0, "", &put, err);
    if (rc < 0) {
        from_rc(&e, rc, "NoSuchUpload", err);
        return reply_error(c, &e, key, NULL);
    }
    ctx = EVP_MD_CTX_new();
    (void)EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    rc = cf__gateway_put_copy_range(s->g, put, fe.uuid, fe.size, fe.sha512, first, len, md5_seen,
                                    ctx, err);
    if (rc < 0) {
        char e2[CF_ERR_LEN] = "";
        struct cf_fsdb_entry none;
        from_rc(&e, rc, "NoSuchKey", err);
        (void)cf__gateway_put_end(s->g, put, false, &none, e2);
        goto out;
    }
    digest_hex(ctx, md5);
    rc = part_store(s, w->client, u.id, no, put, md5, &e);
out:
    cf__gateway_put_free(put);
    EVP_MD_CTX_free(ctx);
    if (rc < 0)
        return reply_error(c, &e, key, NULL);
    iso_time(cf_wall_ms(), when);
    cf_buf_init(&b, 4096);
    bprintf(&b,
            XML_HEAD "<CopyPartResult xmlns=\"" XMLNS "\"><LastModified>%s</LastModified>"
                     "<ETag>&quot;%s&quot;</ETag></CopyPartResult>",
            when, md5);
    return reply_xml(c, 200, &b, NULL);
}

/* GetObject ?partNumber=N of fe (etag its ETag): part N's bytes
 * first..last, and *count the object's parts (0: not from a multipart
 * upload). An object not from one is its own part 1 (S3's). Returns 0 (a
 * window), 1 (the part is empty: no window) or a CF_E* code with *e. */
static int part_window(struct cf__s3 *s, struct MHD_Connection *c, const struct who *w,
                       const struct cf_fsdb_entry *fe, const char *etag, uint64_t *first,
                       uint64_t *last, size_t *count, struct s3err *e)
{
    char err[CF_ERR_LEN] = "";
    uint32_t no = part_number(c);
    uint64_t *sizes = NULL, at = 0, sum = 0;
    size_t n = 0;
    int rc;

    *count = 0;
    if (no == 0) {
        seterr(e, 400, "InvalidArgument", "partNumber is 1 to %d", CF_FSDB_S3_PARTS_MAX);
        return CF_EINVAL;
    }
    if (cf_http_header(c, MHD_HTTP_HEADER_RANGE) != NULL) {
        seterr(e, 400, "InvalidRequest", "cannot specify both Range and partNumber");
        return CF_EINVAL;
    }
    rc = cf_fsdb_s3partsizes_get(s->fs, w->client, fe->id, fe->version_no, &sizes, &n, err);
    if (rc == 0 && (strchr(etag, '-') == NULL || strtoull(strchr(etag, '-') + 1, NULL, 10) != n)) {
        /* Sizes left by a version of that number no longer there (the
         * ETag, "MD5-N", tells the version's own count): not this one's. */
        free(sizes);
        sizes = NULL;
        rc = CF_ENOTFOUND;
    }
    if (rc == CF_ENOTFOUND && strchr(etag, '-') != NULL) {
        seterr(e, 501, "NotImplemented",
               "the part sizes of this object were not kept (it was completed before coffer "
               "kept them): read it with Range instead");
        return CF_EINVAL;
    }
    if (rc == CF_ENOTFOUND) {
        if (no > 1) {
            seterr(e, 416, "InvalidPartNumber", "the requested partnumber is not satisfiable");
            return CF_EINVAL;
        }
        if (fe->size == 0)
            return 1;
        *first = 0;
        *last = fe->size - 1;
        return 0;
    }
    if (rc < 0) {
        from_rc(e, rc, "NoSuchKey", err);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < no)
            at += sizes[i];
        sum += sizes[i];
    }
    *count = n;
    if (no > n) {
        free(sizes);
        seterr(e, 416, "InvalidPartNumber", "the requested partnumber is not satisfiable");
        return CF_EINVAL;
    }
    if (sum != fe->size) {
        free(sizes);
        cf_log(CF_LOG_ERROR,
               "s3: file %" PRIu64 " v%" PRIu32 " has %" PRIu64
               " bytes but its part sizes add up to %" PRIu64,
               fe->id, fe->version_no, fe->size, sum);
        seterr(e, 500, "InternalError", "the part sizes recorded do not match the object");
        return CF_ECORRUPT;
    }
    rc = sizes[no - 1] == 0 ? 1 : 0;
    *first = at;
    *last = at + sizes[no - 1] - 1;
    free(sizes);
    return rc;
}

/* GetObjectTagging: coffer keeps no tags (PutObjectTagging is not
 * implemented), so a readable object's set is empty. aws-cli asks for it
 * before copying an object in parts. */
static enum MHD_Result object_tagging(struct cf__s3 *s, struct MHD_Connection *c,
                                      const struct who *w, const char *bucket, const char *key)
{
    struct cf_fsdb_entry fe;
    struct s3err e;
    struct cf_buf b;

    if (object_get(s, w, bucket, key, &fe, &e) < 0)
        return reply_error(c, &e, key, NULL);
    cf_buf_init(&b, 4096);
    bprintf(&b, XML_HEAD "<Tagging xmlns=\"" XMLNS "\"><TagSet></TagSet></Tagging>");
    return reply_xml(c, 200, &b, NULL);
}

/* ---- routing ---- */

/* Sub-resources S3 has that coffer does not (yet). */
static const char *unsupported(struct MHD_Connection *c)
{
    static const char *const subs[] = {"acl",
                                       "policy",
                                       "cors",
                                       "lifecycle",
                                       "tagging",
                                       "website",
                                       "logging",
                                       "encryption",
                                       "replication",
                                       "notification",
                                       "object-lock",
                                       "retention",
                                       "legal-hold",
                                       "torrent",
                                       "restore",
                                       "select",
                                       "accelerate",
                                       "requestPayment",
                                       "analytics",
                                       "inventory",
                                       "metrics",
                                       "intelligent-tiering",
                                       "ownershipControls",
                                       "publicAccessBlock",
                                       "attributes",
                                       NULL};

    for (size_t i = 0; subs[i] != NULL; i++)
        if (has_arg(c, subs[i]))
            return subs[i];
    return NULL;
}

static enum MHD_Result route(struct cf__s3 *s, struct MHD_Connection *c, const char *url,
                             const char *method, void **req_cls)
{
    char bucket[CF_FSDB_NAME_MAX + 1], key[KEY_MAX + 1];
    const char *payload = CF_SIGV4_UNSIGNED, *sub;
    struct chunked ch;
    struct s3err e;
    struct who w;
    bool get = strcmp(method, "GET") == 0, head = strcmp(method, "HEAD") == 0;
    bool put = strcmp(method, "PUT") == 0, del = strcmp(method, "DELETE") == 0;
    bool post = strcmp(method, "POST") == 0;

    memset(&ch, 0, sizeof(ch));
    if (!split(s, c, url, bucket, key)) {
        seterr(&e, 400, "KeyTooLongError", "your key is too long");
        return fail(c, req_cls, &e, url);
    }
    if (authenticate(s, c, url, method, &w, &payload, &ch, &e) < 0)
        return fail(c, req_cls, &e, url);
    if (!put && ch.on) {
        seterr(&e, 501, "NotImplemented", "aws-chunked is for PUT only");
        return fail(c, req_cls, &e, url);
    }
    if (get && key[0] != '\0' && has_arg(c, "tagging"))
        return object_tagging(s, c, &w, bucket, key);
    sub = unsupported(c);
    if (sub == NULL && key[0] != '\0' && has_arg(c, "partNumber") && !has_arg(c, "uploadId") &&
        !get && !head)
        sub = "partNumber";
    if (sub != NULL) {
        seterr(&e, 501, "NotImplemented", "%s is not implemented by coffer yet", sub);
        return fail(c, req_cls, &e, url);
    }
    if (bucket[0] != '\0' &&
        (has_arg(c, "versioning") || has_arg(c, "versions") || has_arg(c, "versionId")))
        return version_route(s, c, &w, bucket, key, method, url, req_cls);
    if (bucket[0] == '\0') {
        if (get)
            return list_buckets(s, c, &w);
        seterr(&e, 405, "MethodNotAllowed", "the service supports GET only");
        return fail(c, req_cls, &e, url);
    }
    if (key[0] == '\0') {
        struct cf_fsdb_entry fe;
        if (get && has_arg(c, "location")) {
            struct cf_buf b;
            if (bucket_get(s, &w, bucket, CF_FSDB_READ, &fe, &e) < 0)
                return reply_error(c, &e, bucket, NULL);
            cf_buf_init(&b, 4096);
            bprintf(&b,
                    XML_HEAD "<LocationConstraint xmlns=\"" XMLNS "\">%s"
                             "</LocationConstraint>",
                    strcmp(s->region, "us-east-1") == 0 ? "" : s->region);
            return reply_xml(c, 200, &b, NULL);
        }
        if (get && has_arg(c, "uploads"))
            return mpu_list_uploads(s, c, &w, bucket);
        if (get)
            return list_objects(s, c, &w, bucket,
                                cf_http_query(c, "list-type") != NULL &&
                                    strcmp(cf_http_query(c, "list-type"), "2") == 0);
        if (head) {
            if (bucket_get(s, &w, bucket, CF_FSDB_READ, &fe, &e) < 0)
                return reply_error(c, &e, bucket, NULL);
            return reply_xml(c, 200, NULL, NULL);
        }
        if (del)
            return delete_bucket(s, c, &w, bucket);
        if (put || (post && has_arg(c, "delete"))) {
            struct s3req *r = cf_xcalloc(1, sizeof(*r));
            r->kind = K_BODY;
            r->op = put ? 'C' : 'D';
            r->who = w;
            memcpy(r->bucket, bucket, sizeof(r->bucket));
            cf_buf_init(&r->body, SMALL_BODY_MAX);
            *req_cls = r;
            return MHD_YES;
        }
        seterr(&e, 405, "MethodNotAllowed", "the method is not allowed on a bucket");
        return fail(c, req_cls, &e, url);
    }
    if (post && has_arg(c, "uploads"))
        return mpu_create(s, c, &w, bucket, key);
    if (has_arg(c, "uploadId")) {
        if (put)
            return part_begin(s, c, &w, bucket, key, payload, &ch, req_cls);
        if (get)
            return mpu_list_parts(s, c, &w, bucket, key);
        if (del)
            return mpu_abort(s, c, &w, bucket, key);
        if (post) {
            struct s3req *r = cf_xcalloc(1, sizeof(*r));
            r->kind = K_BODY;
            r->op = 'M';
            r->who = w;
            memcpy(r->bucket, bucket, sizeof(r->bucket));
            memcpy(r->key, key, sizeof(r->key));
            cf_buf_init(&r->body, SMALL_BODY_MAX);
            *req_cls = r;
            return MHD_YES;
        }
    }
    if (get || head)
        return get_object(s, c, &w, bucket, key, NULL);
    if (del)
        return delete_object(s, c, &w, bucket, key, NULL, NULL);
    if (put) {
        const char *src = cf_http_header(c, "x-amz-copy-source");
        if (src != NULL)
            return copy_object(s, c, &w, bucket, key, src);
        return put_object_begin(s, c, &w, bucket, key, payload, &ch, req_cls);
    }
    seterr(&e, 405, "MethodNotAllowed", "the method is not allowed on an object");
    return fail(c, req_cls, &e, url);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **req_cls)
{
    struct cf__s3 *s = cls;
    struct s3req *r = *req_cls;

    (void)version;
    if (r == NULL)
        return route(s, c, url, method, req_cls);
    if (*upload_data_size > 0) {
        if (r->kind == K_PUT) {
            if (r->ch.on)
                chunked_feed(r, upload_data, *upload_data_size);
            else
                put_data(r, upload_data, *upload_data_size);
        } else if (r->kind == K_BODY &&
                   cf_buf_append(&r->body, upload_data, *upload_data_size) < 0) {
            r->too_big = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    switch (r->kind) {
    case K_PUT:
        return put_object_end(s, c, r);
    case K_BODY:
        if (r->op == 'C')
            return create_bucket(s, c, &r->who, r->bucket);
        if (r->op == 'M')
            return mpu_complete(s, c, &r->who, r);
        if (r->op == 'V')
            return put_versioning(s, c, &r->who, r);
        return delete_objects(s, c, &r->who, r->bucket, r);
    default:
        return reply_error(c, &r->e, r->resource, NULL);
    }
}

static void done(void *cls, struct MHD_Connection *c, void *state,
                 enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)c;
    (void)why;
    s3req_free(state);
}

static int access_of(void *cls, const char *method, const char *url)
{
    (void)cls;
    (void)method;
    (void)url;
    return CF_ACCESS_PUBLIC;
}

/* ---- life cycle ---- */

int cf__s3_start(struct cf_gateway *g, const struct cf_gateway_conf *conf, struct cf__s3 **out,
                 uint16_t *port, char *err)
{
    struct cf__s3 *s = cf_xcalloc(1, sizeof(*s));
    struct cf_http_server_opts ho = {.listen_fd = -1,
                                     .handler = handler,
                                     .done = done,
                                     .cls = s,
                                     .role = "gateway-s3",
                                     .tls_cert = conf->tls_cert,
                                     .tls_key = conf->tls_key,
                                     .limits = conf->http,
                                     /* /metrics as on the gateway's own port */
                                     .auth = cf__gateway_cred(g),
                                     .access = access_of,
                                     .metrics_public = conf->auth.metrics_public,
                                     .authorities = conf->auth.authority};
    const char *region = conf->s3_region != NULL ? conf->s3_region : "us-east-1";
    uint64_t idle_ms;
    int rc;

    *out = NULL;
    s->g = g;
    s->fs = cf__gateway_fs(g);
    s->complete_keepalive_ms =
        conf->s3_complete_keepalive_ms > 0 ? conf->s3_complete_keepalive_ms : S3_KEEPALIVE_MS;
    /* The reply's reader blocks between spaces, when the connection's idle
     * timeout is not watched: keep well under it. */
    idle_ms = (conf->http.idle_timeout_s > 0 ? conf->http.idle_timeout_s : CF_HTTP_IDLE_S) * 1000;
    if (s->complete_keepalive_ms > idle_ms / 2)
        s->complete_keepalive_ms = idle_ms / 2;
    if (strlen(region) == 0 || strlen(region) >= sizeof(s->region) ||
        strcspn(region, "/ ") != strlen(region)) {
        cf_err_set(err, "s3-region is 1 to %zu characters without '/' or spaces",
                   sizeof(s->region) - 1);
        rc = CF_EINVAL;
        goto out;
    }
    memcpy(s->region, region, strlen(region) + 1);
    if (conf->s3_domain != NULL && conf->s3_domain[0] != '\0') {
        s->domain = cf_xstrdup(conf->s3_domain);
        for (char *p = s->domain; *p != '\0'; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
    }
    rc = cf_net_listen(conf->s3_listen, 1024, &ho.listen_fd, port, err);
    if (rc == 0)
        rc = cf_http_server_start(&ho, &s->http, err);
    if (rc < 0)
        goto out;
    cf_log(CF_LOG_INFO, "S3 API on %s (region %s%s%s)", conf->s3_listen, s->region,
           s->domain != NULL ? ", virtual hosts *." : "", s->domain != NULL ? s->domain : "");
    *out = s;
    s = NULL;
out:
    cf__s3_free(s);
    return rc;
}

void cf__s3_drain(struct cf__s3 *s, unsigned timeout_s)
{
    if (s != NULL)
        cf_http_server_drain(s->http, timeout_s);
}

void cf__s3_free(struct cf__s3 *s)
{
    if (s == NULL)
        return;
    cf_http_server_free(s->http);
    free(s->domain);
    free(s);
}
