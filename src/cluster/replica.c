/*
 * replica.c -- copy an object between filers, make sure a filer holds one,
 * and ask a filer what it holds (replica.h).
 */
#include "coffer/replica.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "coffer/err.h"
#include "coffer/fanout.h"
#include "coffer/fetch.h"
#include "coffer/httpc.h"
#include "coffer/log.h"

#define COPY_PIECE (64 * 1024)

int cf_replica_copy(const char *const *srcs, size_t n, const char *dst, uint64_t size,
                    const uint8_t sha[CF_SHA512_LEN], unsigned stall_s, char *err)
{
    struct cf_fetch_opts fo = {
        .urls = srcs, .n = n, .first = 0, .len = size, .sha = sha, .stall_s = stall_s};
    struct cf_fetch *in = NULL;
    struct cf_fanout *out = NULL;
    const char *why = "";
    char *piece = NULL;
    int rc;

    rc = cf_fanout_new(&dst, 1, stall_s, &out);
    if (rc < 0)
        goto out;
    if (size > 0) {
        rc = cf_fetch_new(&fo, &in);
        if (rc < 0)
            goto out;
        piece = cf_xmalloc(COPY_PIECE);
        for (;;) {
            ssize_t got = cf_fetch_read(in, piece, COPY_PIECE);
            if (got == 0)
                break;
            if (got < 0) {
                rc = (int)got;
                cf_err_set(err, "reading a source replica: %s", cf_strerror(rc));
                goto out;
            }
            if (cf_fanout_write(out, piece, (size_t)got) == 0)
                break;
        }
    }
    if (cf_fanout_finish(out, sha) != 1) {
        (void)cf_fanout_state(out, 0, &why);
        cf_err_set(err, "writing %s: %s", dst, why);
        rc = CF_EIO;
        goto out;
    }
out:
    free(piece);
    cf_fetch_free(in);
    cf_fanout_free(out);
    return rc;
}

/* ---- ensure (maint.h) ---- */

int cf_replica_head(const char *url, unsigned stall_s, long *status, uint64_t *size,
                    uint8_t sha[CF_SHA512_LEN], bool *has_sha, char *err)
{
    curl_off_t len = -1;
    struct curl_slist *hdrs = NULL;
    CURL *c = curl_easy_init();
    CURLcode cc;
    int rc = 0;

    *status = 0;
    *has_sha = false;
    if (c == NULL) {
        cf_err_set(err, "cannot create a transfer");
        return CF_EINTERNAL;
    }
    cf_httpc_share(c);
    cf_httpc_tls(c);
    (void)curl_easy_setopt(c, CURLOPT_URL, url);
    (void)curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    (void)curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)stall_s * 1000L);
    if (cf_httpc_sign(c, "HEAD", url, (void **)&hdrs) < 0) {
        cf_err_set(err, "HEAD %s: cannot sign the request", url);
        rc = CF_EINTERNAL;
        goto out;
    }
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        cf_err_set(err, "HEAD %s: %s", url, curl_easy_strerror(cc));
        rc = CF_EUNAVAIL;
        goto out;
    }
    (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    (void)curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    *size = len >= 0 ? (uint64_t)len : UINT64_MAX;
    *has_sha = cf_httpc_reply_sha512(c, sha) == 0;
out:
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    return rc;
}

int cf_replica_holds(const char *dst, uint64_t size, const uint8_t sha[CF_SHA512_LEN],
                     unsigned stall_s, char *err)
{
    uint8_t got[CF_SHA512_LEN];
    uint64_t got_size = 0;
    bool has_sha = false;
    long status = 0;
    int rc;

    rc = cf_replica_head(dst, stall_s, &status, &got_size, got, &has_sha, err);
    if (rc < 0)
        return CF_EIO;
    if (status == 404)
        return 0;
    if (status != 200) {
        cf_err_set(err, "HEAD %s: status %ld", dst, status);
        return CF_EIO;
    }
    if (got_size != size || !has_sha || memcmp(got, sha, CF_SHA512_LEN) != 0) {
        cf_err_set(err, "%s holds other bytes (%" PRIu64 " bytes%s)", dst, got_size,
                   has_sha ? ", another SHA-512" : ", no SHA-512");
        return CF_EEXIST;
    }
    return 1;
}

int cf_replica_verify(const char *dst, uint64_t size, const uint8_t sha[CF_SHA512_LEN],
                      unsigned stall_s, char *err)
{
    struct cf_fetch_opts fo = {
        .urls = &dst, .n = 1, .first = 0, .len = size, .sha = sha, .stall_s = stall_s};
    struct cf_fetch *in = NULL;
    char *piece;
    ssize_t got;

    if (size == 0)
        return 1;
    if (cf_fetch_new(&fo, &in) < 0) {
        cf_err_set(err, "cannot read %s", dst);
        return CF_EIO;
    }
    piece = cf_xmalloc(COPY_PIECE);
    do
        got = cf_fetch_read(in, piece, COPY_PIECE);
    while (got > 0);
    free(piece);
    cf_fetch_free(in);
    if (got == 0)
        return 1;
    if (got == CF_ECORRUPT) {
        cf_err_set(err, "%s holds corrupt bytes (SHA-512 differs)", dst);
        return CF_EEXIST;
    }
    cf_err_set(err, "reading %s: %s", dst, cf_strerror((int)got));
    return CF_EIO;
}

int cf_replica_ensure(const char *const *srcs, size_t n, const char *dst, uint64_t size,
                      const uint8_t sha[CF_SHA512_LEN], unsigned stall_s, bool *copied, char *err)
{
    char why[CF_ERR_LEN] = "";
    int rc;

    if (copied != NULL)
        *copied = false;
    rc = cf_replica_holds(dst, size, sha, stall_s, err);
    if (rc == 1) {
        rc = cf_replica_verify(dst, size, sha, stall_s, err);
        return rc == 1 ? 0 : rc;
    }
    if (rc < 0)
        return rc;
    rc = cf_replica_copy(srcs, n, dst, size, sha, stall_s, why);
    if (rc == 0) {
        if (copied != NULL)
            *copied = true;
        return 0;
    }
    /* Someone else (another job, an earlier run cut short after its PUT)
     * may have written it meanwhile: the filer then answered 409. */
    if (rc == CF_EIO) {
        int again = cf_replica_holds(dst, size, sha, stall_s, NULL);
        if (again == 1)
            again = cf_replica_verify(dst, size, sha, stall_s, NULL);
        if (again == 1)
            return 0;
        if (again == CF_EEXIST) {
            cf_err_set(err, "%s holds other bytes", dst);
            return CF_EEXIST;
        }
    }
    cf_err_set(err, "%s", why);
    return rc;
}

int cf_replica_url(const char *base, const char *path, char out[CF_REPLICA_URL_MAX])
{
    int n = snprintf(out, CF_REPLICA_URL_MAX, "%s/o/%s", base, path);

    return n < 0 || n >= CF_REPLICA_URL_MAX ? CF_ETOOLARGE : 0;
}

int cf_replica_delete(const char *url, long timeout_ms, char *err)
{
    long status = 0;
    int rc = cf_httpc_json("DELETE", url, NULL, timeout_ms, &status, NULL, err);

    if (rc < 0)
        return rc;
    if (status == 204)
        return 0;
    if (status == 404)
        return 1;
    cf_err_set(err, "DELETE %s answered %ld", url, status);
    return CF_EIO;
}
