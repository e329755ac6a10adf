/*
 * fetch.c -- a byte range from replicas with fail-over (fetch.h).
 */
#include "coffer/fetch.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/log.h"

struct cf_fetch {
    char *urls[CF_FETCH_MAX_REPLICAS];
    size_t n, cur; /* replicas, and the one being read */
    uint64_t first, len;
    uint64_t got;       /* bytes of the range received (buffered or delivered) */
    uint64_t delivered; /* bytes handed to the reader */
    uint32_t sources;   /* bit i: replica i supplied bytes */
    bool verify;
    bool checked; /* the digest of the whole range matched */
    uint8_t sha[CF_SHA512_LEN];
    struct cf_sha512 h;
    unsigned stall_s;
    cf_fetch_fail_cb on_fail;
    void *ctx;
    char *headers[CF_FETCH_HEADERS_MAX]; /* sent on every request; NULL-ended */

    struct cf__cluster_multi mh; /* opened at the first transfer that may pause */
    CURL *e;                     /* the transfer in progress, or NULL */
    struct curl_slist *e_hdrs;   /* its headers (the signature); NULL with e */
    bool paused;                 /* the write callback paused it: the buffer was full */
    bool e_bad;                  /* it sent a wrong status or too many bytes */
    long e_status;               /* the status it answered with (0: none yet) */
    char e_why[96];
    int err; /* sticky */

    char *buf;  /* received, not yet delivered: buf[start, end) */
    size_t cap; /* of buf: CF_FETCH_BUF, or the range when smaller */
    size_t start, end;
};

static void replica_failed(struct cf_fetch *f, int err, const char *why)
{
    cf_log(CF_LOG_WARN, "replica %s failed at byte %" PRIu64 " of %" PRIu64 ": %s", f->urls[f->cur],
           f->got, f->len, why);
    if (f->on_fail != NULL)
        f->on_fail(f->ctx, f->cur, err, why);
}

static size_t write_cb(char *p, size_t size, size_t nitems, void *ud)
{
    struct cf_fetch *f = ud;
    size_t n = size * nitems;
    long status = 0;

    (void)curl_easy_getinfo(f->e, CURLINFO_RESPONSE_CODE, &status);
    f->e_status = status;
    if (status != 206) {
        (void)snprintf(f->e_why, sizeof(f->e_why), "HTTP status %ld", status);
        f->e_bad = true;
        return 0; /* abort this transfer */
    }
    if (n > f->len - f->got) {
        (void)snprintf(f->e_why, sizeof(f->e_why), "more bytes than the range");
        f->e_bad = true;
        return 0;
    }
    if (f->cap - f->end < n && f->start > 0) {
        memmove(f->buf, f->buf + f->start, f->end - f->start);
        f->end -= f->start;
        f->start = 0;
    }
    if (f->cap - f->end < n) {
        f->paused = true;
        return CURL_WRITEFUNC_PAUSE; /* libcurl hands the same bytes again later */
    }
    if (f->verify && cf_sha512_update(&f->h, p, n) < 0) {
        (void)snprintf(f->e_why, sizeof(f->e_why), "digest failure");
        f->e_bad = true;
        return 0;
    }
    memcpy(f->buf + f->end, p, n);
    f->end += n;
    f->got += n;
    f->sources |= UINT32_C(1) << f->cur;
    return n;
}

int cf_fetch_new(const struct cf_fetch_opts *o, struct cf_fetch **out)
{
    struct cf_fetch *f;

    if (o->n == 0 || o->n > CF_FETCH_MAX_REPLICAS)
        return CF_EINVAL;
    f = cf_xcalloc(1, sizeof(*f));
    for (size_t i = 0; i < o->n; i++)
        f->urls[i] = cf_xstrdup(o->urls[i]);
    f->n = o->n;
    f->first = o->first;
    f->len = o->len;
    f->stall_s = o->stall_s;
    f->on_fail = o->on_fail;
    f->ctx = o->ctx;
    for (size_t i = 0; o->headers != NULL && o->headers[i] != NULL; i++) {
        if (i == CF_FETCH_HEADERS_MAX) {
            cf_fetch_free(f);
            return CF_EINVAL;
        }
        f->headers[i] = cf_xstrdup(o->headers[i]);
    }
    if (o->sha != NULL) {
        f->verify = true;
        memcpy(f->sha, o->sha, CF_SHA512_LEN);
        if (cf_sha512_init(&f->h) < 0) {
            cf_fetch_free(f);
            return CF_EINTERNAL;
        }
    }
    /* A small range needs no more: a 256 KiB block per read would be mapped
     * and unmapped by malloc each time. */
    f->cap = o->len < CF_FETCH_BUF ? (size_t)o->len : CF_FETCH_BUF;
    f->buf = cf_xmalloc(f->cap > 0 ? f->cap : 1);
    *out = f;
    return 0;
}

static void drop_transfer(struct cf_fetch *f)
{
    if (f->e == NULL)
        return;
    if (f->mh.m != NULL)
        (void)curl_multi_remove_handle(f->mh.m, f->e);
    cf_httpc_easy_give(f->e);
    f->e = NULL;
    curl_slist_free_all(f->e_hdrs);
    f->e_hdrs = NULL;
    f->paused = false;
}

/* Ask the current replica for the rest of the range; through the multi
 * handle (so it can pause when the buffer is full) unless `blocking`. */
static int start_transfer(struct cf_fetch *f, bool blocking)
{
    char range[64];

    f->e = cf_httpc_easy_take();
    if (f->e == NULL)
        return CF_EINTERNAL;
    f->e_bad = false;
    f->e_status = 0;
    f->e_why[0] = '\0';
    (void)snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, f->first + f->got,
                   f->first + f->len - 1);
    cf_httpc_tls(f->e);
    (void)curl_easy_setopt(f->e, CURLOPT_URL, f->urls[f->cur]);
    for (size_t i = 0; i < CF_FETCH_HEADERS_MAX && f->headers[i] != NULL; i++) {
        struct curl_slist *l = curl_slist_append(f->e_hdrs, f->headers[i]);
        if (l == NULL) {
            cf_httpc_easy_give(f->e);
            f->e = NULL;
            curl_slist_free_all(f->e_hdrs);
            f->e_hdrs = NULL;
            return CF_EINTERNAL;
        }
        f->e_hdrs = l;
    }
    if (cf_httpc_sign(f->e, "GET", f->urls[f->cur], (void **)&f->e_hdrs) < 0) {
        cf_httpc_easy_give(f->e);
        f->e = NULL;
        curl_slist_free_all(f->e_hdrs);
        f->e_hdrs = NULL;
        return CF_EINTERNAL;
    }
    (void)curl_easy_setopt(f->e, CURLOPT_RANGE, range);
    (void)curl_easy_setopt(f->e, CURLOPT_WRITEFUNCTION, write_cb);
    (void)curl_easy_setopt(f->e, CURLOPT_WRITEDATA, f);
    (void)curl_easy_setopt(f->e, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(f->e, CURLOPT_TCP_NODELAY, 1L);
    (void)curl_easy_setopt(f->e, CURLOPT_CONNECTTIMEOUT, (long)f->stall_s);
    (void)curl_easy_setopt(f->e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    (void)curl_easy_setopt(f->e, CURLOPT_LOW_SPEED_TIME, (long)f->stall_s);
    if (blocking)
        return 0;
    if ((f->mh.m == NULL && cf__cluster_multi_open(&f->mh) < 0) ||
        curl_multi_add_handle(f->mh.m, f->e) != CURLM_OK) {
        cf_httpc_easy_give(f->e);
        f->e = NULL;
        curl_slist_free_all(f->e_hdrs);
        f->e_hdrs = NULL;
        return CF_EINTERNAL;
    }
    return 0;
}

/* The current transfer e ended with result rc: keep going or fail over
 * (cf__cluster_done_cb). */
static void transfer_done(void *ctx, CURL *e, CURLcode rc)
{
    struct cf_fetch *f = ctx;
    char why[160];

    (void)e;

    if (rc == CURLE_OK && f->got == f->len) {
        drop_transfer(f);
        return;
    }
    if (f->e_bad)
        (void)snprintf(why, sizeof(why), "%s", f->e_why);
    else if (rc != CURLE_OK)
        (void)snprintf(why, sizeof(why), "%s", curl_easy_strerror(rc));
    else
        (void)snprintf(why, sizeof(why), "the body ended early");
    replica_failed(f, f->e_bad && f->e_status == 404 ? CF_ENOTFOUND : CF_EUNAVAIL, why);
    drop_transfer(f);
    f->cur++;
    if (f->cur == f->n) {
        f->err = CF_EUNAVAIL;
        return;
    }
}

/* Run until the buffer holds something, the range is complete, or error. */
static void fill(struct cf_fetch *f)
{
    while (f->err == 0 && f->start == f->end && f->got < f->len) {
        if (f->e == NULL && f->len - f->got <= f->cap - f->end) {
            /* The rest fits in the buffer (every small object does): one
             * blocking transfer, without the cost of a multi handle. */
            int rc = start_transfer(f, true);
            if (rc < 0) {
                f->err = rc;
                return;
            }
            transfer_done(f, f->e, curl_easy_perform(f->e));
            continue;
        }
        if (f->e == NULL) {
            int rc = start_transfer(f, false);
            if (rc < 0) {
                f->err = rc;
                return;
            }
        } else if (f->paused) {
            f->paused = false;
            (void)curl_easy_pause(f->e, CURLPAUSE_CONT);
        }
        cf__cluster_multi_run(&f->mh, transfer_done, f);
        if (f->start == f->end && f->e != NULL)
            cf__cluster_multi_wait(&f->mh);
    }
}

/* Every byte of the range is received (got == len): compare the digest.
 * Returns true when the read may go on: the digest matched (checked), or
 * it did not but nothing was handed out yet and another replica is left,
 * so the range is read again from scratch from the next one. Else sets
 * f->err. */
static bool check_digest(struct cf_fetch *f)
{
    uint8_t got[CF_SHA512_LEN];
    uint32_t src = f->sources;
    size_t bad = f->cur < f->n ? f->cur : f->n - 1;

    if (cf_sha512_final(&f->h, got) < 0) {
        f->err = CF_EINTERNAL;
        return false;
    }
    if (memcmp(got, f->sha, sizeof(got)) == 0) {
        f->checked = true;
        return true;
    }
    cf_log(CF_LOG_ERROR, "SHA-512 mismatch reading %" PRIu64 " bytes from %s", f->len,
           f->urls[bad]);
    /* With a single source the culprit is known; bytes mixed from several
     * replicas (a fail-over mid-range) cannot be pinned on one. */
    if (src != 0 && (src & (src - 1)) == 0) {
        bad = (size_t)__builtin_ctz(src);
        f->cur = bad;
        replica_failed(f, CF_ECORRUPT, "its bytes do not match the SHA-512");
    }
    cf_sha512_fini(&f->h);
    if (f->delivered > 0 || f->cur + 1 >= f->n || cf_sha512_init(&f->h) < 0) {
        f->err = CF_ECORRUPT;
        return false;
    }
    /* Nothing handed out yet: drop every byte and begin again. */
    drop_transfer(f);
    f->cur++;
    f->got = 0;
    f->start = f->end = 0;
    f->sources = 0;
    return true;
}

ssize_t cf_fetch_read(struct cf_fetch *f, char *out, size_t max)
{
    size_t n;

    if (f->err < 0)
        return f->err;
    if (f->delivered == f->len)
        return 0;
    for (;;) {
        fill(f);
        if (f->err < 0)
            return f->err;
        /* The digest is checked as soon as the last byte is in: before any
         * byte is handed out when the range fits in the buffer, and in any
         * case before the last one is. */
        if (!f->verify || f->checked || f->got < f->len)
            break;
        if (!check_digest(f))
            return f->err;
    }
    n = f->end - f->start;
    if (n > max)
        n = max;
    cf_assert(!f->verify || f->delivered + n < f->len || f->checked);
    memcpy(out, f->buf + f->start, n);
    f->start += n;
    f->delivered += n;
    return (ssize_t)n;
}

int cf_fetch_read_all(struct cf_fetch *f, char *buf, size_t len)
{
    size_t got = 0;
    ssize_t n = 1;

    if (len != f->len || f->delivered != 0)
        return CF_EINTERNAL;
    while (n > 0) {
        n = cf_fetch_read(f, buf + got, len - got);
        if (n > 0)
            got += (size_t)n;
    }
    /* 0 only once the whole range is in and verified. */
    return n < 0 ? (int)n : 0;
}

uint32_t cf_fetch_sources(const struct cf_fetch *f)
{
    return f->sources;
}

void cf_fetch_free(struct cf_fetch *f)
{
    if (f == NULL)
        return;
    drop_transfer(f);
    cf__cluster_multi_close(&f->mh);
    for (size_t i = 0; i < f->n; i++)
        free(f->urls[i]);
    for (size_t i = 0; i < CF_FETCH_HEADERS_MAX && f->headers[i] != NULL; i++) {
        OPENSSL_cleanse(f->headers[i], strlen(f->headers[i]));
        free(f->headers[i]);
    }
    cf_sha512_fini(&f->h);
    free(f->buf);
    free(f);
}
