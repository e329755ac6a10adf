/*
 * replica.c -- copy an object between filers (replica.h), and make sure a
 * filer holds one (cf_replica_ensure, maint.h).
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
#include "coffer/maint.h"
#include "maint_int.h"

#define SHA_HEADER "X-Coffer-SHA512"

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

    rc = cf_fanout_open(&dst, 1, stall_s, &out);
    if (rc < 0)
        goto out;
    if (size > 0) {
        rc = cf_fetch_open(&fo, &in);
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

struct head {
    char sha[CF_SHA512_HEX_LEN + 1];
    bool has_sha;
};

static size_t head_header(char *p, size_t size, size_t nitems, void *ud)
{
    struct head *h = ud;
    size_t n = size * nitems, k = sizeof(SHA_HEADER) - 1;

    if (n > k + 1 && strncasecmp(p, SHA_HEADER ":", k + 1) == 0) {
        const char *v = p + k + 1;
        size_t len = n - k - 1;
        while (len > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            len--;
        }
        while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
            len--;
        if (len == CF_SHA512_HEX_LEN) {
            memcpy(h->sha, v, len);
            h->sha[len] = '\0';
            h->has_sha = true;
        }
    }
    return n;
}

int cf__maint_head(const char *url, unsigned stall_s, long *status, uint64_t *size,
                   uint8_t sha[CF_SHA512_LEN], bool *has_sha, char *err)
{
    struct head h = {.has_sha = false};
    curl_off_t len = -1;
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
    (void)curl_easy_setopt(c, CURLOPT_URL, url);
    (void)curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    (void)curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)stall_s * 1000L);
    (void)curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, head_header);
    (void)curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        cf_err_set(err, "HEAD %s: %s", url, curl_easy_strerror(cc));
        rc = CF_EUNAVAIL;
        goto out;
    }
    (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    (void)curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    *size = len >= 0 ? (uint64_t)len : UINT64_MAX;
    if (h.has_sha && cf_sha512_parse_hex(h.sha, CF_SHA512_HEX_LEN, sha) == 0)
        *has_sha = true;
out:
    curl_easy_cleanup(c);
    return rc;
}

/* What the destination holds: 1 the object (verified by size and digest),
 * 0 nothing, CF_EEXIST other bytes, CF_EIO no usable answer. */
static int dst_holds(const char *dst, uint64_t size, const uint8_t sha[CF_SHA512_LEN],
                     unsigned stall_s, char *err)
{
    uint8_t got[CF_SHA512_LEN];
    uint64_t got_size = 0;
    bool has_sha = false;
    long status = 0;
    int rc;

    rc = cf__maint_head(dst, stall_s, &status, &got_size, got, &has_sha, err);
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

/* Read the object at dst whole and check it against size and sha (the
 * filer's HEAD shows the digest it was written with, not what its disk
 * holds now). Returns 1 when it matches, CF_EEXIST when it does not,
 * CF_EIO when it cannot be read. */
static int dst_verify(const char *dst, uint64_t size, const uint8_t sha[CF_SHA512_LEN],
                      unsigned stall_s, char *err)
{
    struct cf_fetch_opts fo = {
        .urls = &dst, .n = 1, .first = 0, .len = size, .sha = sha, .stall_s = stall_s};
    struct cf_fetch *in = NULL;
    char *piece;
    ssize_t got;

    if (size == 0)
        return 1;
    if (cf_fetch_open(&fo, &in) < 0) {
        cf_err_set(err, "cannot read %s", dst);
        return CF_EIO;
    }
    piece = cf_xmalloc(COPY_PIECE);
    while ((got = cf_fetch_read(in, piece, COPY_PIECE)) > 0)
        ;
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
    rc = dst_holds(dst, size, sha, stall_s, err);
    if (rc == 1) {
        rc = dst_verify(dst, size, sha, stall_s, err);
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
        int again = dst_holds(dst, size, sha, stall_s, NULL);
        if (again == 1)
            again = dst_verify(dst, size, sha, stall_s, NULL);
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

/* ---- placing a new replica (maint_int.h) ---- */

/* How long a copy of size bytes may take, at worst: ten minutes, plus a
 * second per MB (a filer slower than 1 MB/s fails the copy by stall_s). */
static uint64_t copy_hold_ms(uint64_t size)
{
    return 600000 + size / 1000;
}

int cf__maint_place(struct cf_objdb *odb, const struct cf_objdb_record *rec, uint32_t to,
                    const char *dst, const char *const *srcs, size_t ns, unsigned stall_s,
                    bool *copied, uint64_t *hold, char *err)
{
    int rc;

    *copied = false;
    *hold = 0;
    rc = cf_objdb_stale_hold(odb, &rec->uuid, to, rec->path, cf_wall_ms() + copy_hold_ms(rec->size),
                             0, hold, err);
    if (rc < 0)
        return rc;
    /* The hold stays whatever happens: if nothing lists the path, it goes. */
    return cf_replica_ensure(srcs, ns, dst, rec->size, rec->sha512, stall_s, copied, err);
}

int cf__maint_renew(struct cf_objdb *odb, const struct cf_objdb_record *rec, uint32_t to,
                    uint64_t *hold, char *err)
{
    return cf_objdb_stale_hold(odb, &rec->uuid, to, rec->path, cf_wall_ms() + CF__MAINT_LIST_MS,
                               *hold, hold, err);
}

void cf__maint_release(struct cf_objdb *odb, const struct cf_objdb_record *rec, uint32_t to)
{
    char err[CF_ERR_LEN] = "";
    int rc = cf_objdb_stale_hold(odb, &rec->uuid, to, rec->path, cf_wall_ms(), 0, NULL, err);

    if (rc < 0 && rc != CF_EBUSY)
        cf_log(CF_LOG_WARN,
               "a copy of %s on filer %" PRIu32 " that no record lists could not be queued for"
               " deletion: %s",
               rec->path, to, err);
}

unsigned cf__maint_present(const struct cf_objdb_filer *v, size_t n,
                           const struct cf_objdb_record *rec, unsigned stall_s)
{
    unsigned present = 0;

    for (unsigned i = 0; i < rec->nfilers; i++) {
        const struct cf_objdb_filer *f = cf__maint_filer(v, n, rec->filers[i]);
        char url[CF__MAINT_URL_MAX];
        if (cf__maint_up(f) && cf__maint_url(f, rec->path, url) == 0 &&
            dst_holds(url, rec->size, rec->sha512, stall_s, NULL) == 1)
            present++;
    }
    return present;
}
