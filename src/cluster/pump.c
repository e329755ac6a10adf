/*
 * pump.c -- one request body to several HTTP servers at once, over
 * libcurl's multi interface driven from the calling thread (pump.h).
 *
 * Each target's read callback hands out the rest of the current piece and
 * pauses the transfer (CURL_READFUNC_PAUSE) once it has taken all of it;
 * the next piece, or the end of the body, un-pauses it.
 *
 * Small pieces are gathered in a stage of CF_PUMP_PIECE bytes first: an
 * HTTP server hands a body over in pieces of 16 to 32 KiB, and a round of
 * un-pause, poll and send for each would cost more than the one copy.
 */
#include "coffer/pump.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"
#include "coffer/err.h"
#include "coffer/httpc.h"

struct target {
    struct cf_pump *p;
    CURL *h;
    enum cf_pump_state state;
    CURLcode result;         /* CF_PUMP_BROKEN, CF_PUMP_STALLED: why */
    long status;             /* CF_PUMP_REPLIED: the reply's HTTP status */
    bool paused;             /* the read callback paused the transfer */
    size_t off;              /* bytes of the current piece taken */
    uint64_t last_ns;        /* when it last took bytes, or was last given some to take */
    struct curl_slist *hdrs; /* the pump's headers and this target's signature */
};

struct cf_pump {
    struct cf__cluster_multi mh;
    size_t n;
    struct target t[CF_PUMP_MAX];
    const char *piece; /* the current piece, borrowed during cf_pump_write */
    size_t piece_len;
    char *stage;   /* CF_PUMP_PIECE bytes, made on the first small write; NULL before */
    size_t staged; /* bytes in stage, not yet handed out */
    bool started;  /* a piece was handed out: the requests have begun */
    bool eof;
    uint64_t stall_ns; /* a target with bytes to take that takes none this long fails */
    uint64_t reply_ns; /* after the end, a target with no reply this long fails */
    bool sha_trailer;
    char trailer[sizeof(CF_SHA512_HEADER) + 2 + CF_SHA512_HEX_LEN]; /* "X-Coffer-SHA512: <hex>" */
    cf_pump_reply_cb on_reply;
    void *ctx;
};

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct target *t = ud;
    struct cf_pump *p = t->p;
    size_t room = size * nitems, left = p->piece_len - t->off;

    if (left == 0) {
        if (p->eof)
            return 0;
        t->paused = true;
        return CURL_READFUNC_PAUSE;
    }
    if (left > room)
        left = room;
    t->last_ns = cf_now_ns();
    memcpy(buf, p->piece + t->off, left);
    t->off += left;
    return left;
}

static int trailer_cb(struct curl_slist **list, void *ud)
{
    struct target *t = ud;
    struct curl_slist *l;

    if (t->p->trailer[0] == '\0')
        return CURL_TRAILERFUNC_OK; /* no digest to send: an empty trailer */
    l = curl_slist_append(*list, t->p->trailer);
    if (l == NULL)
        return CURL_TRAILERFUNC_ABORT;
    *list = l;
    return CURL_TRAILERFUNC_OK;
}

static size_t write_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct target *t = ud;
    struct cf_pump *p = t->p;
    size_t n = size * nitems;

    if (p->on_reply != NULL)
        p->on_reply(p->ctx, (size_t)(t - p->t), buf, n);
    return n;
}

/* Append line (copied) to *l. Returns 0 or CF_EINTERNAL; *l is unchanged on failure. */
static int header_add(struct curl_slist **l, const char *line)
{
    struct curl_slist *nl = curl_slist_append(*l, line);

    if (nl == NULL)
        return CF_EINTERNAL;
    *l = nl;
    return 0;
}

/* Append the request headers every target of o sends to *l. Returns 0 or
 * CF_EINTERNAL; what was appended stays in *l (its owner frees it). */
static int headers_add(const struct cf_pump_opts *o, struct curl_slist **l)
{
    int rc = header_add(l, "Transfer-Encoding: chunked");

    if (rc == 0)
        rc = header_add(l, "Expect:");
    if (rc == 0 && o->sha_trailer)
        rc = header_add(l, "Trailer: " CF_SHA512_HEADER);
    for (size_t i = 0; rc == 0 && o->headers != NULL && o->headers[i] != NULL; i++)
        rc = header_add(l, o->headers[i]);
    return rc;
}

int cf_pump_new(const struct cf_pump_opts *o, struct cf_pump **out)
{
    struct cf_pump *p = NULL;
    int rc = CF_EINVAL;

    if (o->n == 0 || o->n > CF_PUMP_MAX)
        goto out;
    p = cf_xcalloc(1, sizeof(*p));
    p->stall_ns = (uint64_t)o->stall_s * 1000000000u;
    p->reply_ns = (uint64_t)o->reply_s * 1000000000u;
    p->sha_trailer = o->sha_trailer;
    p->on_reply = o->on_reply;
    p->ctx = o->ctx;
    rc = cf__cluster_multi_open(&p->mh);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < o->n; i++) {
        struct target *t = &p->t[i];
        t->p = p;
        /* A handle of its own, never one kept from an earlier transfer:
         * libcurl (7.88) keeps a chunked upload's trailer state after the
         * transfer, through curl_easy_reset, and a second upload with
         * trailers on that handle then frames its chunks wrongly. */
        t->h = curl_easy_init();
        if (t->h == NULL) {
            rc = CF_EINTERNAL;
            goto out;
        }
        p->n++;
        cf_httpc_share(t->h);
        cf_httpc_tls(t->h);
        (void)curl_easy_setopt(t->h, CURLOPT_URL, o->urls[i]);
        /* UPLOAD gives the read-callback body, chunked since it has no
         * size; the method line is ours. */
        (void)curl_easy_setopt(t->h, CURLOPT_UPLOAD, 1L);
        (void)curl_easy_setopt(t->h, CURLOPT_CUSTOMREQUEST, o->method);
        /* A signature names its URL (cred.h): one header list per target. */
        rc = headers_add(o, &t->hdrs);
        if (rc == 0)
            rc = cf_httpc_sign(t->h, o->method, o->urls[i], (void **)&t->hdrs);
        if (rc < 0)
            goto out;
        /* Room for a whole piece and its chunk header, so a target takes
         * a piece in one read and sends it in large writes. */
        (void)curl_easy_setopt(t->h, CURLOPT_UPLOAD_BUFFERSIZE, (long)CF_PUMP_PIECE + 1024L);
        (void)curl_easy_setopt(t->h, CURLOPT_READFUNCTION, read_cb);
        (void)curl_easy_setopt(t->h, CURLOPT_READDATA, t);
        if (o->sha_trailer) {
            (void)curl_easy_setopt(t->h, CURLOPT_TRAILERFUNCTION, trailer_cb);
            (void)curl_easy_setopt(t->h, CURLOPT_TRAILERDATA, t);
        }
        (void)curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, write_cb);
        (void)curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
        (void)curl_easy_setopt(t->h, CURLOPT_PRIVATE, t);
        (void)curl_easy_setopt(t->h, CURLOPT_NOSIGNAL, 1L);
        (void)curl_easy_setopt(t->h, CURLOPT_TCP_NODELAY, 1L);
        (void)curl_easy_setopt(t->h, CURLOPT_CONNECTTIMEOUT, (long)o->stall_s);
        if (curl_multi_add_handle(p->mh.m, t->h) != CURLM_OK) {
            rc = CF_EINTERNAL;
            goto out;
        }
    }
    *out = p;
    p = NULL;
out:
    cf_pump_free(p);
    return rc;
}

/* A transfer ended: keep how (cf__cluster_done_cb). */
static void transfer_done(void *ctx, CURL *e, CURLcode rc)
{
    struct target *t = NULL;

    (void)ctx;
    (void)curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&t);
    t->result = rc;
    if (rc == CURLE_OK) {
        (void)curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &t->status);
        t->state = CF_PUMP_REPLIED;
    } else {
        t->state = CF_PUMP_BROKEN;
    }
}

/* Is target t waiting for something of ours: bytes of the piece to take,
 * or, after the end, its reply? */
static bool pending(const struct cf_pump *p, const struct target *t)
{
    if (t->state != CF_PUMP_RUNNING)
        return false;
    return p->eof ? true : t->off < p->piece_len;
}

/* Run the transfers until no target is pending. */
static void run(struct cf_pump *p)
{
    uint64_t limit = p->eof ? p->reply_ns : p->stall_ns;
    bool any = true;

    while (any) {
        for (size_t i = 0; i < p->n; i++) {
            struct target *t = &p->t[i];
            if (t->paused && pending(p, t)) {
                t->paused = false;
                (void)curl_easy_pause(t->h, CURLPAUSE_CONT);
            }
        }
        cf__cluster_multi_run(&p->mh, transfer_done, p);
        any = false;
        for (size_t i = 0; i < p->n; i++) {
            struct target *t = &p->t[i];
            if (!pending(p, t))
                continue;
            /* libcurl's low-speed limit would also fail a target paused
             * while it waits for a stalled one, so a stall would fail
             * every target; only a target that has work and does none is
             * stalled. */
            if (cf_now_ns() - t->last_ns > limit) {
                (void)curl_multi_remove_handle(p->mh.m, t->h);
                t->result = CURLE_OPERATION_TIMEDOUT;
                t->state = CF_PUMP_STALLED;
                continue;
            }
            any = true;
        }
        if (any)
            cf__cluster_multi_wait(&p->mh);
    }
}

/* Start a new share of work: every target's stall clock starts now. */
static void hand_out(struct cf_pump *p, const void *buf, size_t n)
{
    uint64_t now = cf_now_ns();

    p->piece = buf;
    p->piece_len = n;
    for (size_t i = 0; i < p->n; i++) {
        p->t[i].off = 0;
        p->t[i].last_ns = now;
    }
}

/* Hand buf[0..n) to every running target and wait until each took it. */
static void send_piece(struct cf_pump *p, const void *buf, size_t n)
{
    hand_out(p, buf, n);
    run(p);
    hand_out(p, NULL, 0);
}

static int running(const struct cf_pump *p)
{
    int k = 0;

    for (size_t i = 0; i < p->n; i++)
        k += p->t[i].state == CF_PUMP_RUNNING;
    return k;
}

int cf_pump_write(struct cf_pump *p, const void *buf, size_t n)
{
    const char *b = buf;

    cf_assert(!p->eof);
    while (n > 0 && running(p) > 0) {
        size_t k;

        /* The first piece goes out at once, so the targets see the request
         * begin; a large piece with nothing staged goes out without a copy. */
        if (p->staged == 0 && (n >= CF_PUMP_PIECE || !p->started)) {
            p->started = true;
            send_piece(p, b, n);
            break;
        }
        if (p->stage == NULL)
            p->stage = cf_xmalloc(CF_PUMP_PIECE);
        k = CF_PUMP_PIECE - p->staged;
        if (k > n)
            k = n;
        memcpy(p->stage + p->staged, b, k);
        p->staged += k;
        b += k;
        n -= k;
        if (p->staged == CF_PUMP_PIECE) {
            p->staged = 0;
            send_piece(p, p->stage, CF_PUMP_PIECE);
        }
    }
    return running(p);
}

void cf_pump_finish(struct cf_pump *p, const uint8_t *sha)
{
    char hex[CF_SHA512_HEX_LEN + 1];

    if (p->staged > 0) {
        size_t n = p->staged;
        p->staged = 0;
        send_piece(p, p->stage, n);
    }
    if (p->sha_trailer && sha != NULL) {
        cf_sha512_hex(sha, hex);
        (void)snprintf(p->trailer, sizeof(p->trailer), CF_SHA512_HEADER ": %s", hex);
    }
    p->eof = true;
    hand_out(p, NULL, 0);
    run(p);
}

enum cf_pump_state cf_pump_state(const struct cf_pump *p, size_t i, long *status, const char **why)
{
    const struct target *t = &p->t[i];

    cf_assert(i < p->n);
    if (t->state == CF_PUMP_REPLIED && status != NULL)
        *status = t->status;
    if ((t->state == CF_PUMP_BROKEN || t->state == CF_PUMP_STALLED) && why != NULL)
        *why = curl_easy_strerror(t->result);
    return t->state;
}

int cf_pump_reply_sha512(const struct cf_pump *p, size_t i, uint8_t out[CF_SHA512_LEN])
{
    cf_assert(i < p->n);
    return cf_httpc_reply_sha512(p->t[i].h, out);
}

int cf_pump_reply_header(const struct cf_pump *p, size_t i, const char *name, char *buf, size_t cap)
{
    struct curl_header *hdr = NULL;
    size_t len;

    cf_assert(i < p->n);
    if (curl_easy_header(p->t[i].h, name, 0, CURLH_HEADER, -1, &hdr) != CURLHE_OK)
        return CF_ENOTFOUND;
    len = strlen(hdr->value);
    if (len >= cap)
        return CF_ETOOLARGE;
    memcpy(buf, hdr->value, len + 1);
    return 0;
}

void cf_pump_free(struct cf_pump *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++) {
        if (p->mh.m != NULL)
            (void)curl_multi_remove_handle(p->mh.m, p->t[i].h);
        curl_easy_cleanup(p->t[i].h);
        curl_slist_free_all(p->t[i].hdrs);
    }
    cf__cluster_multi_close(&p->mh);
    free(p->stage);
    free(p);
}
