/*
 * pipe.c -- a request body streamed to the app as it arrives (gateway_int.h).
 */
#include "gateway_int.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/buf.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/log.h"

struct cf__gateway_pipe {
    CURLM *m;
    CURL *h;
    struct curl_slist *hdrs;
    const char *piece; /* borrowed during cf__gateway_pipe_write */
    size_t piece_len;
    size_t off; /* bytes of the piece taken */
    bool eof;
    bool paused;
    bool done; /* the transfer ended */
    CURLcode result;
    uint64_t stall_ns;
    uint64_t last_ns;
    struct cf_buf reply;
    bool reply_too_big;
};

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct cf__gateway_pipe *p = ud;
    size_t room = size * nitems, left = p->piece_len - p->off;

    if (left == 0) {
        if (p->eof)
            return 0;
        p->paused = true;
        return CURL_READFUNC_PAUSE;
    }
    if (left > room)
        left = room;
    memcpy(buf, p->piece + p->off, left);
    p->off += left;
    p->last_ns = cf_now_ns();
    return left;
}

static size_t write_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct cf__gateway_pipe *p = ud;
    size_t n = size * nitems;

    if (cf_buf_append(&p->reply, buf, n) < 0)
        p->reply_too_big = true;
    return n;
}

int cf__gateway_pipe_open(const char *url, unsigned stall_s, struct cf__gateway_pipe **out)
{
    struct cf__gateway_pipe *p = cf_xcalloc(1, sizeof(*p));
    int rc = CF_EINTERNAL;

    cf_buf_init(&p->reply, CF__GATEWAY_REPLY_MAX);
    p->stall_ns = (uint64_t)stall_s * 1000000000u;
    p->last_ns = cf_now_ns();
    p->m = curl_multi_init();
    p->h = curl_easy_init();
    p->hdrs = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    if (p->hdrs != NULL)
        p->hdrs = curl_slist_append(p->hdrs, "Expect:");
    if (p->m == NULL || p->h == NULL || p->hdrs == NULL)
        goto out;
    cf_httpc_share(p->h);
    (void)curl_easy_setopt(p->h, CURLOPT_URL, url);
    /* UPLOAD gives the read-callback body (chunked, with no size); the
     * method is the app's. */
    (void)curl_easy_setopt(p->h, CURLOPT_UPLOAD, 1L);
    (void)curl_easy_setopt(p->h, CURLOPT_CUSTOMREQUEST, "POST");
    (void)curl_easy_setopt(p->h, CURLOPT_HTTPHEADER, p->hdrs);
    (void)curl_easy_setopt(p->h, CURLOPT_READFUNCTION, read_cb);
    (void)curl_easy_setopt(p->h, CURLOPT_READDATA, p);
    (void)curl_easy_setopt(p->h, CURLOPT_WRITEFUNCTION, write_cb);
    (void)curl_easy_setopt(p->h, CURLOPT_WRITEDATA, p);
    (void)curl_easy_setopt(p->h, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(p->h, CURLOPT_TCP_NODELAY, 1L);
    (void)curl_easy_setopt(p->h, CURLOPT_CONNECTTIMEOUT, (long)stall_s);
    if (curl_multi_add_handle(p->m, p->h) != CURLM_OK)
        goto out;
    *out = p;
    p = NULL;
    rc = 0;
out:
    cf__gateway_pipe_free(p);
    return rc;
}

/* Is the transfer waiting for something of ours? */
static bool pending(const struct cf__gateway_pipe *p)
{
    if (p->done)
        return false;
    return p->eof ? true : p->off < p->piece_len;
}

static void pump(struct cf__gateway_pipe *p)
{
    for (;;) {
        CURLMsg *msg;
        int running = 0, left = 0;

        if (p->paused && pending(p)) {
            p->paused = false;
            (void)curl_easy_pause(p->h, CURLPAUSE_CONT);
        }
        (void)curl_multi_perform(p->m, &running);
        for (;;) {
            msg = curl_multi_info_read(p->m, &left);
            if (msg == NULL)
                break;
            if (msg->msg == CURLMSG_DONE) {
                p->done = true;
                p->result = msg->data.result;
            }
        }
        if (!pending(p))
            return;
        /* While the body is still coming, only a transfer that has bytes
         * to take and takes none is stalled; after the end, the app may
         * take its time to write the replicas (its own stall limit bounds
         * that), so the wait for its reply is bounded by the same limit
         * counted from the last byte, times the filers it may try. */
        if (cf_now_ns() - p->last_ns > (p->eof ? 30 * p->stall_ns : p->stall_ns)) {
            (void)curl_multi_remove_handle(p->m, p->h);
            p->done = true;
            p->result = CURLE_OPERATION_TIMEDOUT;
            return;
        }
        (void)curl_multi_poll(p->m, NULL, 0, 100, NULL);
    }
}

int cf__gateway_pipe_write(struct cf__gateway_pipe *p, const void *buf, size_t n)
{
    if (p->done)
        return CF_EUNAVAIL;
    p->piece = buf;
    p->piece_len = n;
    p->off = 0;
    p->last_ns = cf_now_ns();
    pump(p);
    p->piece = NULL;
    p->piece_len = 0;
    /* Ended before taking the whole body, e.g. a refusal. */
    return p->done ? CF_EUNAVAIL : 0;
}

int cf__gateway_pipe_finish(struct cf__gateway_pipe *p, long *status, json_t **reply, char *err)
{
    json_error_t je;

    p->eof = true;
    p->piece = NULL;
    p->piece_len = 0;
    p->off = 0;
    p->last_ns = cf_now_ns();
    pump(p);
    *reply = NULL;
    *status = 0;
    if (p->result != CURLE_OK) {
        cf_err_set(err, "the upload service failed: %s", curl_easy_strerror(p->result));
        return CF_EUNAVAIL;
    }
    if (p->reply_too_big) {
        cf_err_set(err, "the upload service sent an over-long reply");
        return CF_EUNAVAIL;
    }
    (void)curl_easy_getinfo(p->h, CURLINFO_RESPONSE_CODE, status);
    if (p->reply.len > 0)
        *reply = json_loadb(p->reply.base, p->reply.len, 0, &je);
    return 0;
}

void cf__gateway_pipe_free(struct cf__gateway_pipe *p)
{
    if (p == NULL)
        return;
    if (p->h != NULL) {
        if (p->m != NULL)
            (void)curl_multi_remove_handle(p->m, p->h);
        curl_easy_cleanup(p->h);
    }
    if (p->m != NULL)
        curl_multi_cleanup(p->m);
    curl_slist_free_all(p->hdrs);
    cf_buf_fini(&p->reply);
    free(p);
}
