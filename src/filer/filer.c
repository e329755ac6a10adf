/*
 * filer.c -- the filer's HTTP service (filer.h).
 */
#include "coffer/filer.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "coffer/buf.h"
#include "coffer/cred.h"
#include "coffer/err.h"
#include "coffer/http.h"
#include "coffer/limits.h"
#include "coffer/log.h"
#include "coffer/net.h"
#include "coffer/objpath.h"
#include "coffer/range.h"
#include "coffer/role.h"
#include "coffer/sha512.h"
#include "coffer/store.h"
#include "coffer/xform.h"
#include "faults_int.h"

#define OBJ_PREFIX "/o/"
/* An object read through a signed URL (cred.h), for a caller without a key. */
#define SIGNED_PREFIX "/s/"

struct cf_filer {
    struct cf_store *store;
    struct cf_http_server *http;
    struct cf_cred *cred; /* verifies requests (http.h); freed after http */
    uint32_t id;
    uint64_t started_ns;
    bool faults; /* holds the process's fault injector (faults_int.h) */
};

/* State of one request that carries a body: an object PUT, or (fault
 * injection on) a POST of a fault, whose body is gathered in `body`. */
struct put_req {
    bool fault_post;
    struct cf_buf body; /* the fault's JSON, up to CF__FILER_FAULTS_BODY_MAX */
    struct cf_store_put *put;
    /* A PUT with X-Coffer-Transform: its plain bytes go through xf, which
     * writes the stored form to put (begun with an unknown size: the store
     * keeps it in a volume if it stays within --small-max). */
    struct cf_xform_enc *xf;
    int64_t plain_size; /* declared; -1 unknown */
    bool has_expect;
    uint8_t expect[CF_SHA512_LEN]; /* the plain SHA-512 the sender gave */
    int err; /* first error; replied at the end of the body (MHD cannot reply mid-body) */
    char msg[CF_ERR_LEN]; /* its detail */
    char path[CF_PATH_MAX + 1];
    uint64_t t0;
};

#define OFF(f) offsetof(struct cf_filer_conf, f)
const struct cf_conf_opt cf_filer_conf_opts[] = {
    {"id", CF_CONF_U64, "1", 1, UINT32_MAX, OFF(id), "filer id, unique in the cluster", false},
    {"dir", CF_CONF_STR, "./data/filer1", 0, 0, OFF(dir), "directory holding the objects", false},
    {"listen", CF_CONF_STR, "127.0.0.1:8301", 0, 0, OFF(listen),
     "HOST:PORT to serve HTTP on (port 0: any free port)", false},
    {"capacity", CF_CONF_SIZE, "0", 0, UINT64_MAX, OFF(capacity),
     "bytes this filer may hold (K, M, G, T suffixes); 0: the filesystem's size", false},
    {"small-max", CF_CONF_SIZE, "128K", 0, 16u << 20, OFF(small_max),
     "objects up to this size are appended to volume files with group commit; "
     "0: every object is its own file",
     false},
    {"read-only", CF_CONF_BOOL, "false", 0, 0, OFF(read_only),
     "refuse new objects; reads and deletes still work", true},
    {"log-level", CF_CONF_STR, "info", 0, 0, OFF(log_level), "error, warn, info or debug", true},
    CF_ROLE_TLS_OPTS(struct cf_filer_conf),
    CF_ROLE_BEAT_OPTS(OFF),
    CF_ROLE_AUTH_OPTS(OFF),
    {"fault-injection", CF_CONF_BOOL, "false", 0, 0, OFF(fault_injection),
     "serve " CF__FILER_FAULTS_URL " to make disk calls fail: for tests, never on a production "
     "filer",
     false},
    CF_HTTP_LIMITS_CONF_OPTS(struct cf_filer_conf),
};
const size_t cf_filer_conf_nopts = CF_ARRAY_LEN(cf_filer_conf_opts);

/* ---- object requests ---- */

static enum MHD_Result serve_decoded(struct cf_filer *f, struct MHD_Connection *c, const char *path,
                                     bool head, struct cf_store_obj *obj);

/* GET or HEAD of an object: its stored bytes, or with X-Coffer-Transform
 * (when xform, not for signed URLs) its decoded plain bytes. */
static enum MHD_Result serve_get(struct cf_filer *f, struct MHD_Connection *c, const char *path,
                                 bool head, bool xform)
{
    static const char *const no_range[] = {"Accept-Ranges", "bytes", NULL};
    struct cf_store_obj obj;
    struct cf_range range;
    struct MHD_Response *resp;
    enum cf_range_result rr;
    enum MHD_Result r;
    char hex[CF_SHA512_HEX_LEN + 1], cr[96];
    unsigned status = MHD_HTTP_OK;
    uint64_t len;
    int rc;

    rc = cf_store_get(f->store, path, strlen(path), &obj);
    if (rc < 0)
        return cf_http_reply_error(c, rc, NULL);
    if (xform && cf_http_header(c, CF_XFORM_HEADER) != NULL)
        return serve_decoded(f, c, path, head, &obj);
    rr = cf_range_parse(cf_http_header(c, MHD_HTTP_HEADER_RANGE), obj.size, &range);
    if (rr == CF_RANGE_UNSATISFIABLE) {
        const char *hdrs[] = {"Content-Range", cr, "Accept-Ranges", "bytes", NULL};
        close(obj.fd);
        (void)snprintf(cr, sizeof(cr), "bytes */%" PRIu64, obj.size);
        return cf_http_reply(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, NULL, NULL, 0, hdrs);
    }
    if (obj.size == 0) {
        close(obj.fd);
        resp = MHD_create_response_from_buffer(0, (void *)(uintptr_t) "", MHD_RESPMEM_PERSISTENT);
        len = 0;
    } else if (rr == CF_RANGE_OK) {
        len = range.last - range.first + 1;
        resp = MHD_create_response_from_fd_at_offset64(len, obj.fd,
                                                       (int64_t)(obj.offset + range.first));
        (void)snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, range.first,
                       range.last, obj.size);
        status = MHD_HTTP_PARTIAL_CONTENT;
    } else {
        len = obj.size;
        /* MHD sends it with sendfile(2) and closes the fd when done. */
        resp = MHD_create_response_from_fd_at_offset64(obj.size, obj.fd, (int64_t)obj.offset);
    }
    if (resp == NULL) {
        if (obj.size != 0)
            close(obj.fd);
        return cf_http_reply_error(c, CF_EINTERNAL, "cannot create the response");
    }
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    (void)MHD_add_response_header(resp, no_range[0], no_range[1]);
    if (status == MHD_HTTP_PARTIAL_CONTENT)
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    if (obj.has_sha) {
        cf_sha512_hex(obj.sha, hex);
        (void)MHD_add_response_header(resp, CF_SHA512_HEADER, hex);
    }
    r = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    if (!head)
        cf_store_count_out(f->store, len);
    return r;
}

/* A decoded read in flight: the stored object's fd and its decoder. */
struct dec_read {
    struct cf_filer *f;
    int fd;
    uint64_t base;  /* where the stored bytes start in fd */
    uint64_t first; /* the plain offset of the reply's first byte */
    uint64_t len;   /* plain bytes in the reply */
    struct cf_xform_dec *d;
    char path[CF_PATH_MAX + 1];
};

/* cf_xform_read_fn over the stored object's slice of its fd. */
static int dec_pread(void *ctx, uint64_t off, void *buf, size_t n)
{
    const struct dec_read *r = ctx;
    char *p = buf;

    while (n > 0) {
        ssize_t k = pread(r->fd, p, n, (off_t)(r->base + off));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return CF_EIO;
        if (k == 0)
            return CF_ECHECKSUM; /* shorter than its own index says */
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

static void dec_read_free(void *cls)
{
    struct dec_read *r = cls;

    cf_xform_dec_free(r->d);
    close(r->fd);
    free(r);
}

/* MHD's content reader: the next plain bytes. A frame that fails to
 * decode here, after the status went out, cuts the connection, so the
 * reader never gets the whole reply. */
static ssize_t dec_read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct dec_read *r = cls;
    char err[CF_ERR_LEN] = "";
    size_t got = 0;
    int rc;

    if (pos >= r->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (max > r->len - pos)
        max = (size_t)(r->len - pos);
    rc = cf_xform_dec_read(r->d, r->first + pos, buf, max, &got, err);
    if (rc < 0 || got == 0) {
        cf_log(CF_LOG_ERROR, "decoded read of %s cut at plain byte %" PRIu64 ": %s%s%s", r->path,
               r->first + pos, cf_strerror(rc), err[0] ? ": " : "", err);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    return (ssize_t)got;
}

int cf_filer_read(struct cf_filer *f, const char *path, unsigned xform, const uint8_t *key,
                  uint64_t first, uint64_t len, void *buf, char *err)
{
    struct cf_store_obj obj;
    struct dec_read r = {.f = f};
    uint64_t size;
    size_t got = 0;
    int rc;

    err[0] = '\0';
    rc = cf_store_get_shared(f->store, path, strlen(path), &obj);
    if (rc < 0) {
        cf_err_set(err, "%s", cf_strerror(rc));
        return rc;
    }
    r.fd = obj.fd;
    r.base = obj.offset;
    size = obj.size;
    if (xform != 0) {
        rc = cf_xform_dec_open(xform, key, obj.size, dec_pread, &r, &r.d, err);
        if (rc < 0)
            goto out;
        size = cf_xform_dec_size(r.d);
    }
    if (first > size || len > size - first) {
        cf_err_set(err, "bytes %" PRIu64 "+%" PRIu64 " are beyond the object's %" PRIu64, first,
                   len, size);
        rc = CF_EINVAL;
        goto out;
    }
    for (uint64_t done = 0; rc == 0 && done < len; done += got) {
        if (xform != 0) {
            rc = cf_xform_dec_read(r.d, first + done, (char *)buf + done, (size_t)(len - done),
                                   &got, err);
            if (rc == 0 && got == 0)
                rc = CF_ECHECKSUM;
        } else {
            got = (size_t)(len - done);
            rc = dec_pread(&r, first + done, (char *)buf + done, got);
        }
        if (rc < 0 && err[0] == '\0')
            cf_err_set(err, "%s", cf_strerror(rc));
    }
    if (rc == 0)
        cf_store_count_out(f->store, len);
out:
    cf_xform_dec_free(r.d);
    if (!obj.shared)
        close(obj.fd);
    return rc;
}

/* GET or HEAD with X-Coffer-Transform: the plain bytes of obj (taken;
 * its fd is closed here or by the response), decoded as the transform and
 * key of the request say; a single Range is over plain offsets. */
static enum MHD_Result serve_decoded(struct cf_filer *f, struct MHD_Connection *c, const char *path,
                                     bool head, struct cf_store_obj *obj)
{
    uint8_t key[CF_XFORM_KEY_LEN];
    char err[CF_ERR_LEN] = "", hex[CF_SHA512_HEX_LEN + 1], shex[CF_SHA512_HEX_LEN + 1];
    char cr[96], ssize[24];
    struct dec_read *r;
    struct MHD_Response *resp;
    struct cf_range range;
    enum cf_range_result rr;
    enum MHD_Result res;
    unsigned flags, status = MHD_HTTP_OK;
    uint64_t size;
    int rc;

    rc = cf_xform_parse(cf_http_header(c, CF_XFORM_HEADER), cf_http_header(c, CF_XFORM_KEY_HEADER),
                        &flags, key, err);
    if (rc < 0) {
        close(obj->fd);
        return cf_http_reply_error(c, rc, "%s", err);
    }
    r = cf_xcalloc(1, sizeof(*r));
    r->f = f;
    r->fd = obj->fd;
    r->base = obj->offset;
    (void)snprintf(r->path, sizeof(r->path), "%s", path);
    rc = cf_xform_dec_open(flags, key, obj->size, dec_pread, r, &r->d, err);
    OPENSSL_cleanse(key, sizeof(key));
    if (rc < 0)
        goto fail;
    size = cf_xform_dec_size(r->d);
    rr = cf_range_parse(cf_http_header(c, MHD_HTTP_HEADER_RANGE), size, &range);
    if (rr == CF_RANGE_UNSATISFIABLE) {
        const char *hdrs[] = {"Content-Range", cr, "Accept-Ranges", "bytes", NULL};
        dec_read_free(r);
        (void)snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
        return cf_http_reply(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, NULL, NULL, 0, hdrs);
    }
    r->first = 0;
    r->len = size;
    if (rr == CF_RANGE_OK) {
        r->first = range.first;
        r->len = range.last - range.first + 1;
        (void)snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, range.first,
                       range.last, size);
        status = MHD_HTTP_PARTIAL_CONTENT;
    }
    if (!head && r->len > 0) {
        /* Decode the first frame now: a damaged object or a wrong key is
         * then a 422 rather than a cut stream. */
        char one;
        size_t got;
        rc = cf_xform_dec_read(r->d, r->first, &one, 1, &got, err);
        if (rc < 0)
            goto fail;
    }
    cf_sha512_hex(cf_xform_dec_sha(r->d), hex);
    if (r->len == 0) {
        dec_read_free(r);
        resp = MHD_create_response_from_buffer(0, (void *)(uintptr_t) "", MHD_RESPMEM_PERSISTENT);
    } else {
        /* For a HEAD, MHD sends the length and never calls the reader. */
        resp = MHD_create_response_from_callback(r->len, 64 * 1024, dec_read_cb, r, dec_read_free);
        if (resp == NULL)
            dec_read_free(r);
    }
    if (resp == NULL)
        return cf_http_reply_error(c, CF_EINTERNAL, "cannot create the response");
    (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    (void)MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    if (status == MHD_HTTP_PARTIAL_CONTENT)
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    (void)MHD_add_response_header(resp, CF_SHA512_HEADER, hex);
    (void)snprintf(ssize, sizeof(ssize), "%" PRIu64, obj->size);
    (void)MHD_add_response_header(resp, CF_XFORM_STORED_SIZE_HEADER, ssize);
    if (obj->has_sha) {
        cf_sha512_hex(obj->sha, shex);
        (void)MHD_add_response_header(resp, CF_XFORM_STORED_SHA_HEADER, shex);
    }
    res = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    if (!head)
        cf_store_count_out(f->store, rr == CF_RANGE_OK ? range.last - range.first + 1 : size);
    return res;
fail:
    cf_log(rc == CF_EIO ? CF_LOG_ERROR : CF_LOG_INFO, "decoded read of %s refused: %s: %s", path,
           cf_strerror(rc), err);
    dec_read_free(r);
    return cf_http_reply_error(c, rc, "%s", err);
}

/* GET or HEAD of /s/PATH?exp=..&kid=..&sig=..: the object, to anyone whose
 * URL a role holding the cluster key signed for PATH and that has not
 * expired (cred.h). Without a cluster key (auth off) nothing is served. */
static enum MHD_Result serve_signed(struct cf_filer *f, struct MHD_Connection *c, const char *path,
                                    bool head)
{
    char err[CF_ERR_LEN] = "";
    int rc;

    if (cf_objpath_validate(path, strlen(path), err) < 0)
        return cf_http_reply_error(c, CF_EBADPATH, "%s", err);
    if (f->cred == NULL)
        return cf_http_reply_error(c, CF_EPERM, "this filer runs without a cluster key");
    rc = cf_cred_url_verify(f->cred, path, cf_http_query(c, "exp"), cf_http_query(c, "kid"),
                            cf_http_query(c, "sig"), cf_wall_ms(), err);
    if (rc < 0) {
        cf_log(CF_LOG_INFO, "signed read of %s refused: %s", path, err);
        return cf_http_reply_error(c, rc, "%s", err);
    }
    return serve_get(f, c, path, head, false);
}

static enum MHD_Result serve_delete(struct cf_filer *f, struct MHD_Connection *c, const char *path)
{
    int rc = cf_store_delete(f->store, path, strlen(path));

    if (rc < 0)
        return cf_http_reply_error(c, rc, NULL);
    return cf_http_reply(c, MHD_HTTP_NO_CONTENT, NULL, NULL, 0, NULL);
}

/* Parse Content-Length, or -1 for a chunked or absent length. */
static int content_length(struct MHD_Connection *c, int64_t *out)
{
    const char *cl = cf_http_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = cf_http_header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    char *end = NULL;
    unsigned long long v;

    *out = 0;
    if (te != NULL) {
        *out = -1;
        return 0;
    }
    if (cl == NULL)
        return 0; /* HTTP/1.1: no length and no chunking means no body */
    errno = 0;
    v = strtoull(cl, &end, 10);
    if (cl[0] < '0' || cl[0] > '9' || *end != '\0' || errno != 0 || v > INT64_MAX)
        return CF_EBADREQ;
    *out = (int64_t)v;
    return 0;
}

/* cf_xform_sink_fn: the stored bytes of a transformed PUT, to the store. */
static int put_sink(void *ctx, const void *data, size_t n)
{
    struct put_req *req = ctx;

    return cf_store_put_write(req->put, data, n);
}

/* A PUT with X-Coffer-Transform: the body is the plain bytes, expect (may
 * be NULL) their SHA-512; the filer stores what the encoder makes of them. */
static enum MHD_Result put_begin_xform(struct cf_filer *f, struct MHD_Connection *c,
                                       const char *path, int64_t size, const uint8_t *expect,
                                       void **req_cls)
{
    uint8_t key[CF_XFORM_KEY_LEN];
    char err[CF_ERR_LEN] = "";
    struct put_req *req;
    unsigned flags;
    int rc;

    rc = cf_xform_parse(cf_http_header(c, CF_XFORM_HEADER), cf_http_header(c, CF_XFORM_KEY_HEADER),
                        &flags, key, err);
    if (rc < 0)
        return cf_http_refuse(c, req_cls, rc, "%s", err);
    req = cf_xcalloc(1, sizeof(*req));
    req->t0 = cf_now_ns();
    req->plain_size = size;
    if (expect != NULL) {
        req->has_expect = true;
        memcpy(req->expect, expect, CF_SHA512_LEN);
    }
    (void)snprintf(req->path, sizeof(req->path), "%s", path);
    rc = cf_xform_enc_new(flags, key, put_sink, req, &req->xf);
    OPENSSL_cleanse(key, sizeof(key));
    if (rc < 0) {
        free(req);
        return cf_http_refuse(c, req_cls, rc, "cannot start the transform");
    }
    rc = cf_store_put_begin(f->store, path, strlen(path), -1, NULL, &req->put, err);
    if (rc < 0) {
        cf_xform_enc_free(req->xf);
        free(req);
        cf_log(rc == CF_EIO ? CF_LOG_ERROR : CF_LOG_INFO, "put %s refused: %s: %s", path,
               cf_strerror(rc), err);
        return cf_http_refuse(c, req_cls, rc, "%s", err);
    }
    *req_cls = req;
    return MHD_YES;
}

static enum MHD_Result put_begin(struct cf_filer *f, struct MHD_Connection *c, const char *path,
                                 void **req_cls)
{
    const char *want = cf_http_header(c, CF_SHA512_HEADER);
    uint8_t expect[CF_SHA512_LEN];
    char err[CF_ERR_LEN] = "";
    struct put_req *req;
    int64_t size;
    int rc;

    rc = content_length(c, &size);
    if (rc < 0)
        return cf_http_refuse(c, req_cls, rc, "invalid Content-Length");
    if (want != NULL && cf_sha512_parse_hex(want, strlen(want), expect) < 0)
        return cf_http_refuse(c, req_cls, CF_EBADREQ, "%s must be 128 hex digits",
                              CF_SHA512_HEADER);
    if (cf_http_header(c, CF_XFORM_HEADER) != NULL)
        return put_begin_xform(f, c, path, size, want ? expect : NULL, req_cls);
    req = cf_xcalloc(1, sizeof(*req));
    req->t0 = cf_now_ns();
    (void)snprintf(req->path, sizeof(req->path), "%s", path);
    rc = cf_store_put_begin(f->store, path, strlen(path), size, want ? expect : NULL, &req->put,
                            err);
    if (rc < 0) {
        free(req);
        cf_log(rc == CF_EIO ? CF_LOG_ERROR : CF_LOG_INFO, "put %s refused: %s: %s", path,
               cf_strerror(rc), err);
        return cf_http_refuse(c, req_cls, rc, "%s", err);
    }
    *req_cls = req;
    return MHD_YES;
}

/* Reply 201 to a PUT with j (taken: freed here) as its body and the headers
 * hdrs (name, value, ..., NULL). */
static enum MHD_Result reply_created(struct MHD_Connection *c, json_t *j, const char *const *hdrs)
{
    char *text = json_dumps(j, JSON_COMPACT);
    enum MHD_Result r;

    json_decref(j);
    if (text == NULL)
        return MHD_NO;
    r = cf_http_reply(c, MHD_HTTP_CREATED, "application/json", text, strlen(text), hdrs);
    free(text);
    return r;
}

/* End of a transformed PUT's body: finish the stored form (checking the
 * plain SHA-512), store it, and reply with both forms' size and SHA-512. */
static enum MHD_Result put_finish_xform(struct MHD_Connection *c, struct put_req *req)
{
    uint8_t sha[CF_SHA512_LEN], ssha[CF_SHA512_LEN];
    char hex[CF_SHA512_HEX_LEN + 1], shex[CF_SHA512_HEX_LEN + 1], ssize[24];
    char err[CF_ERR_LEN] = "";
    uint64_t size = 0, stored = 0;
    const char *trailer = MHD_lookup_connection_value(c, MHD_FOOTER_KIND, CF_SHA512_HEADER);
    json_t *j;
    int rc = req->err;

    if (rc < 0) {
        (void)snprintf(err, sizeof(err), "%s", req->msg);
        goto fail;
    }
    if (trailer != NULL) {
        if (cf_sha512_parse_hex(trailer, strlen(trailer), sha) < 0) {
            (void)snprintf(err, sizeof(err), "trailer %s must be 128 hex digits", CF_SHA512_HEADER);
            rc = CF_EBADREQ;
            goto fail;
        }
        if (req->has_expect && memcmp(sha, req->expect, CF_SHA512_LEN) != 0) {
            rc = CF_ECHECKSUM;
            goto fail;
        }
        req->has_expect = true;
        memcpy(req->expect, sha, CF_SHA512_LEN);
    }
    rc = cf_xform_enc_finish(req->xf, req->has_expect ? req->expect : NULL, sha, &size);
    if (rc < 0)
        goto fail;
    if (req->plain_size >= 0 && size != (uint64_t)req->plain_size) {
        (void)snprintf(err, sizeof(err), "fewer bytes than declared");
        rc = CF_EBADREQ;
        goto fail;
    }
    rc = cf_store_put_commit(req->put, ssha, &stored, err);
    req->put = NULL;
    if (rc < 0)
        goto fail;
    cf_sha512_hex(sha, hex);
    cf_sha512_hex(ssha, shex);
    (void)snprintf(ssize, sizeof(ssize), "%" PRIu64, stored);
    cf_log(CF_LOG_DEBUG, "put %s bytes=%" PRIu64 " stored=%" PRIu64 " ms=%.1f", req->path, size,
           stored, (double)(cf_now_ns() - req->t0) / 1e6);
    j = json_pack("{s:s,s:I,s:s,s:I,s:s}", "path", req->path, "size", (json_int_t)size, "sha512",
                  hex, "stored_size", (json_int_t)stored, "stored_sha512", shex);
    {
        const char *hdrs[] = {CF_SHA512_HEADER,
                              hex,
                              CF_XFORM_STORED_SIZE_HEADER,
                              ssize,
                              CF_XFORM_STORED_SHA_HEADER,
                              shex,
                              NULL};
        return reply_created(c, j, hdrs);
    }
fail:
    cf_store_put_abort(req->put);
    req->put = NULL;
    cf_log(rc == CF_EIO ? CF_LOG_ERROR : CF_LOG_INFO, "put %s failed: %s%s%s", req->path,
           cf_strerror(rc), err[0] ? ": " : "", err);
    return cf_http_reply_error(c, rc, "%s", err);
}

static enum MHD_Result put_finish(struct cf_filer *f, struct MHD_Connection *c, struct put_req *req)
{
    uint8_t sha[CF_SHA512_LEN];
    char hex[CF_SHA512_HEX_LEN + 1], err[CF_ERR_LEN] = "";
    uint64_t size = 0;
    json_t *j;
    const char *trailer = MHD_lookup_connection_value(c, MHD_FOOTER_KIND, CF_SHA512_HEADER);
    int rc = req->err;

    if (req->xf != NULL)
        return put_finish_xform(c, req);
    if (rc < 0) {
        (void)snprintf(err, sizeof(err), "%s", req->msg);
        goto done;
    }
    if (trailer != NULL) {
        /* A sender that learns the checksum while streaming sends it last. */
        if (cf_sha512_parse_hex(trailer, strlen(trailer), sha) < 0) {
            (void)snprintf(err, sizeof(err), "trailer %s must be 128 hex digits", CF_SHA512_HEADER);
            rc = CF_EBADREQ;
        } else {
            rc = cf_store_put_expect(req->put, sha);
        }
        if (rc < 0) {
            cf_store_put_abort(req->put);
            req->put = NULL;
            goto fail;
        }
    }
    rc = cf_store_put_commit(req->put, sha, &size, err);
    req->put = NULL;
    if (rc < 0)
        goto fail;
    cf_sha512_hex(sha, hex);
    cf_log(CF_LOG_DEBUG, "put %s bytes=%" PRIu64 " ms=%.1f", req->path, size,
           (double)(cf_now_ns() - req->t0) / 1e6);
    j = json_pack("{s:s,s:I,s:s}", "path", req->path, "size", (json_int_t)size, "sha512", hex);
    {
        const char *hdrs[] = {CF_SHA512_HEADER, hex, NULL};
        return reply_created(c, j, hdrs);
    }
fail:
    cf_log(rc == CF_EIO ? CF_LOG_ERROR : CF_LOG_INFO, "put %s failed: %s%s%s", req->path,
           cf_strerror(rc), err[0] ? ": " : "", err);
done:
    (void)f;
    return cf_http_reply_error(c, rc, "%s", err);
}

/* ---- service requests ---- */

static enum MHD_Result serve_status(struct cf_filer *f, struct MHD_Connection *c)
{
    struct cf_store_stats st;
    json_t *j;

    /* Liveness for anyone; the figures only for the cluster (http.h). */
    if (!cf_http_signed()) {
        j = json_pack("{s:I,s:b}", "id", (json_int_t)f->id, "ok", 1);
        if (j == NULL)
            return cf_http_reply_error(c, CF_EINTERNAL, "cannot build the status");
        return cf_http_reply_json(c, MHD_HTTP_OK, j);
    }
    cf_store_get_stats(f->store, &st);
    j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:I,s:I,s:I,s:I,s:I,s:I}", "id", (json_int_t)f->id,
                  "total_bytes", (json_int_t)st.total_bytes, "used_bytes",
                  (json_int_t)st.used_bytes, "free_bytes",
                  (json_int_t)(st.total_bytes > st.used_bytes ? st.total_bytes - st.used_bytes : 0),
                  "reserved_bytes", (json_int_t)st.reserved_bytes, "objects",
                  (json_int_t)st.objects, "read_only", st.read_only, "bytes_in",
                  (json_int_t)st.bytes_in, "bytes_out", (json_int_t)st.bytes_out, "requests",
                  (json_int_t)cf_http_server_requests(f->http), "io_errors",
                  (json_int_t)st.io_errors, "uptime_s",
                  (json_int_t)((cf_now_ns() - f->started_ns) / 1000000000u), "in_flight",
                  (json_int_t)cf_http_server_in_flight(f->http));
    if (j == NULL)
        return cf_http_reply_error(c, CF_EINTERNAL, "cannot build the status");
    return cf_http_reply_json(c, MHD_HTTP_OK, j);
}

static int list_one(void *ctx, const char *path, uint64_t size, uint64_t mtime_ms)
{
    json_t *arr = ctx;

    if (json_array_append_new(arr, json_pack("{s:s,s:I,s:I}", "path", path, "size",
                                             (json_int_t)size, "mtime_ms", (json_int_t)mtime_ms)) <
        0)
        return CF_EINTERNAL;
    return 0;
}

static enum MHD_Result serve_list(struct cf_filer *f, struct MHD_Connection *c)
{
    const char *after = cf_http_query(c, "after"), *ls = cf_http_query(c, "limit");
    unsigned long long limit = CF_LIST_DEFAULT;
    json_t *arr, *next;
    int n;

    if (ls != NULL) {
        char *end = NULL;
        errno = 0;
        limit = strtoull(ls, &end, 10);
        /* Over the maximum is refused, like every other bad argument, rather
         * than quietly cut: a caller sees at once that it must page. */
        if (ls[0] < '0' || ls[0] > '9' || *end != '\0' || errno != 0 || limit == 0 ||
            limit > CF_LIST_MAX)
            return cf_http_reply_error(c, CF_EBADREQ, "limit must be a number from 1 to %d",
                                       CF_LIST_MAX);
    }
    if (after != NULL && after[0] != '\0') {
        char err[CF_ERR_LEN];
        if (cf_objpath_validate(after, strlen(after), err) < 0)
            return cf_http_reply_error(c, CF_EBADPATH, "after: %s", err);
    }
    arr = json_array();
    n = cf_store_list(f->store, after, (size_t)limit, list_one, arr);
    if (n < 0) {
        json_decref(arr);
        return cf_http_reply_error(c, n, NULL);
    }
    next = json_null();
    if ((unsigned long long)n == limit) {
        json_t *last = json_array_get(arr, (size_t)n - 1);
        next = json_incref(json_object_get(last, "path"));
    }
    /* now_ms lets a caller compute each file's age on this filer's clock. */
    return cf_http_reply_json(c, MHD_HTTP_OK,
                              json_pack("{s:o,s:o,s:I}", "objects", arr, "next", next, "now_ms",
                                        (json_int_t)cf_wall_ms()));
}

static enum MHD_Result method_not_allowed(struct MHD_Connection *c, const char *allow)
{
    const char *hdrs[] = {MHD_HTTP_HEADER_ALLOW, allow, NULL};
    char *text = NULL;
    json_t *j = json_pack("{s:s,s:s}", "error", cf_err_name(CF_EMETHOD), "message",
                          "method not allowed here");
    enum MHD_Result r;

    text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    r = cf_http_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json", text ? text : "{}",
                      text ? strlen(text) : 2, hdrs);
    free(text);
    return r;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **req_cls)
{
    struct cf_filer *f = cls;
    struct put_req *req = *req_cls;
    bool get = !strcmp(method, MHD_HTTP_METHOD_GET), head = !strcmp(method, MHD_HTTP_METHOD_HEAD);

    (void)version;
    if (req != NULL && req->fault_post) {
        if (*upload_data_size > 0) {
            if (req->err == 0 && cf_buf_append(&req->body, upload_data, *upload_data_size) < 0)
                req->err = CF_ETOOLARGE;
            *upload_data_size = 0;
            return MHD_YES;
        }
        if (req->err < 0)
            return cf_http_reply_error(c, req->err, "a fault is at most %d bytes of JSON",
                                       CF__FILER_FAULTS_BODY_MAX);
        return cf__filer_faults_serve(c, method, req->body.base, req->body.len);
    }
    if (req != NULL) {
        /* The body of a PUT, in pieces; then one last call with none. */
        if (*upload_data_size > 0) {
            if (req->err == 0) {
                req->err = req->xf != NULL
                               ? cf_xform_enc_write(req->xf, upload_data, *upload_data_size)
                               : cf_store_put_write(req->put, upload_data, *upload_data_size);
                if (req->err < 0) {
                    /* Release the temporary and the reservation now; the rest
                     * of the body is read and dropped. */
                    (void)snprintf(req->msg, sizeof(req->msg), "while receiving the body");
                    cf_log(req->err == CF_EIO ? CF_LOG_ERROR : CF_LOG_INFO, "put %s failed: %s",
                           req->path, cf_strerror(req->err));
                    cf_store_put_abort(req->put);
                    req->put = NULL;
                }
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
        return put_finish(f, c, req);
    }
    if (strncmp(url, OBJ_PREFIX, sizeof(OBJ_PREFIX) - 1) == 0) {
        const char *path = url + sizeof(OBJ_PREFIX) - 1;
        char err[CF_ERR_LEN];
        bool put = !strcmp(method, MHD_HTTP_METHOD_PUT), del = !strcmp(method, "DELETE");
        if (!get && !head && !put && !del)
            return method_not_allowed(c, "GET, HEAD, PUT, DELETE");
        /* DESIGN §4: refuse a bad path before anything touches the disk. */
        if (cf_objpath_validate(path, strlen(path), err) < 0) {
            cf_log(CF_LOG_INFO, "%s refused: bad path: %s", method, err);
            return cf_http_refuse(c, req_cls, CF_EBADPATH, "%s", err);
        }
        if (put)
            return put_begin(f, c, path, req_cls);
        if (del)
            return serve_delete(f, c, path);
        return serve_get(f, c, path, head, true);
    }
    if (strncmp(url, SIGNED_PREFIX, sizeof(SIGNED_PREFIX) - 1) == 0)
        return get || head ? serve_signed(f, c, url + sizeof(SIGNED_PREFIX) - 1, head)
                           : method_not_allowed(c, "GET, HEAD");
    if (!strcmp(url, "/status"))
        return get || head ? serve_status(f, c) : method_not_allowed(c, "GET, HEAD");
    if (!strcmp(url, "/list"))
        return get || head ? serve_list(f, c) : method_not_allowed(c, "GET, HEAD");
    /* Without --fault-injection the URL is unknown like any other. */
    if (f->faults && !strcmp(url, CF__FILER_FAULTS_URL)) {
        if (!strcmp(method, MHD_HTTP_METHOD_POST)) {
            req = cf_xcalloc(1, sizeof(*req));
            req->fault_post = true;
            cf_buf_init(&req->body, CF__FILER_FAULTS_BODY_MAX);
            *req_cls = req;
            return MHD_YES;
        }
        if (get || !strcmp(method, "DELETE"))
            return cf__filer_faults_serve(c, method, NULL, 0);
        return method_not_allowed(c, "GET, POST, DELETE");
    }
    return cf_http_reply_error(c, CF_ENOTFOUND, "no such endpoint");
}

static void done(void *cls, struct MHD_Connection *c, void *state,
                 enum MHD_RequestTerminationCode why)
{
    struct put_req *req = state;

    (void)cls;
    (void)c;
    if (req->put != NULL) {
        /* The client went away mid-body, or the server is closing: nothing stays. */
        cf_log(CF_LOG_INFO, "put %s abandoned (termination code %d): discarded", req->path,
               (int)why);
        cf_store_put_abort(req->put);
    }
    cf_xform_enc_free(req->xf);
    cf_buf_fini(&req->body);
    free(req);
}

/* ---- life cycle ---- */

/* What a request needs (http.h): /status is liveness for anyone (its
 * figures only when signed, serve_status); /s/ reads to the holder of a
 * signed URL; the objects and their listing, to the cluster only. */
static int access_of(void *cls, const char *method, const char *url)
{
    (void)cls;
    if (strcmp(method, "GET") == 0 && strcmp(url, "/status") == 0)
        return CF_ACCESS_PUBLIC;
    /* Signed URLs carry their own check (serve_signed). */
    if ((strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) &&
        strncmp(url, SIGNED_PREFIX, sizeof(SIGNED_PREFIX) - 1) == 0)
        return CF_ACCESS_PUBLIC;
    return CF_ACCESS_INTERNAL;
}

int cf_filer_start(const struct cf_filer_conf *conf, const struct cf_io_ops *io,
                   struct cf_filer **out, uint16_t *port_out, char *err)
{
    struct cf_filer *f = cf_xcalloc(1, sizeof(*f));
    struct cf_store_opts so = {.dir = conf->dir,
                               .id = (uint32_t)conf->id,
                               .capacity = conf->capacity,
                               .read_only = conf->read_only,
                               .io = io,
                               .small_max = conf->small_max};
    struct cf_http_server_opts ho = {.listen_fd = -1,
                                     .handler = handler,
                                     .done = done,
                                     .cls = f,
                                     .role = "filer",
                                     .tls_cert = conf->tls_cert,
                                     .tls_key = conf->tls_key,
                                     .limits = conf->http};
    int rc;

    f->id = (uint32_t)conf->id;
    f->started_ns = cf_now_ns();
    if (conf->fault_injection) {
        rc = cf__filer_faults_open(io, &so.io, err);
        if (rc < 0)
            goto out;
        f->faults = true;
        cf_log(CF_LOG_WARN,
               "fault injection is on (" CF__FILER_FAULTS_URL "): a filer for tests only");
    }
    rc = cf_role_auth_serve("filer", &conf->auth, access_of, &ho, &f->cred, err);
    if (rc < 0)
        goto out;
    rc = cf_store_open(&so, &f->store, err);
    if (rc < 0)
        goto out;
    rc = cf_net_listen(conf->listen, 1024, &ho.listen_fd, port_out, err);
    if (rc < 0)
        goto out;
    rc = cf_http_server_start(&ho, &f->http, err);
    if (rc < 0)
        goto out;
    *out = f;
    f = NULL;
out:
    cf_filer_free(f);
    return rc;
}

void cf_filer_drain(struct cf_filer *f, unsigned timeout_s)
{
    cf_http_server_drain(f->http, timeout_s);
}

void cf_filer_free(struct cf_filer *f)
{
    if (f == NULL)
        return;
    cf_http_server_free(f->http);
    cf_role_auth_close(f->cred);
    cf_store_close(f->store);
    if (f->faults)
        cf__filer_faults_close();
    free(f);
}

static const char usage[] =
    "usage: coffer filer --id N --dir DIR --listen HOST:PORT [--capacity BYTES] [--read-only]\n"
    "       [--small-max SIZE]\n"
    "\n"
    "Runs a storage node: objects under DIR served over HTTP (see README.md).\n"
    "--fault-injection (tests only) lets anyone who reaches the port make its disk\n"
    "calls fail (POST/GET/DELETE " CF__FILER_FAULTS_URL "); never use it in production.\n"
    "Prints \"coffer filer N listening on http://HOST:PORT\" when ready;\n"
    "SIGTERM or SIGINT drains requests in flight and exits.\n";

static int role_start(const void *conf, void **svc, uint16_t *port, char *err)
{
    struct cf_filer *x = NULL;
    int rc = cf_filer_start(conf, NULL, &x, port, err);

    *svc = x;
    return rc;
}

static void role_drain(void *svc, unsigned timeout_s)
{
    cf_filer_drain(svc, timeout_s);
}

static void role_free(void *svc)
{
    cf_filer_free(svc);
}

int cf_filer_main(int argc, char **argv)
{
    static const struct cf_role role = {
        .name = "filer",
        .opts = cf_filer_conf_opts,
        .nopts = CF_ARRAY_LEN(cf_filer_conf_opts),
        .usage = usage,
        .log_level_off = offsetof(struct cf_filer_conf, log_level),
        .listen_off = offsetof(struct cf_filer_conf, listen),
        .id_off = offsetof(struct cf_filer_conf, id),
        .tls_off = offsetof(struct cf_filer_conf, tls_cert),
        .beat_off = offsetof(struct cf_filer_conf, beat),
        .start = role_start,
        .drain = role_drain,
        .free = role_free,
    };
    struct cf_filer_conf conf = {0};

    return cf_role_run(&role, &conf, argc, argv);
}
