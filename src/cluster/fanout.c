/*
 * fanout.c -- one body to several filers at once over libcurl's multi
 * interface (fanout.h).
 */
#include "coffer/fanout.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/log.h"

struct target {
    struct cf_fanout *f;
    CURL *h;
    struct curl_slist *hdrs;
    enum cf_fanout_state state;
    bool paused;
    bool done;        /* the transfer ended (state says how) */
    size_t off;       /* bytes of the current piece taken */
    uint64_t last_ns; /* when it last took bytes, or was last given some to take */
    char reason[160];
};

struct cf_fanout {
    CURLM *m;
    bool m_cached; /* m is this thread's cached multi handle (see multi_get) */
    size_t n;
    struct target t[CF_FANOUT_MAX];
    const char *piece; /* the current piece, borrowed during cf_fanout_write */
    size_t piece_len;
    bool eof;
    uint64_t stall_ns;          /* a target with work that takes nothing this long fails */
    uint8_t sha[CF_SHA512_LEN]; /* the body's, known at its end */
    char sha_hex[CF_SHA512_HEX_LEN + 1];
};

/* Each thread keeps one multi handle for its fan-outs: making one costs a
 * wake-up socket pair and its teardown, on every upload otherwise. A thread
 * running two fan-outs at once (an upload and the copy that replaces one of
 * its filers) gives the second its own handle. */
struct multi_cache {
    CURLM *m;
    bool busy;
};

static pthread_key_t multi_key;
static pthread_once_t multi_once = PTHREAD_ONCE_INIT;

static void multi_cache_free(void *p)
{
    struct multi_cache *mc = p;

    curl_multi_cleanup(mc->m);
    free(mc);
}

static void multi_key_init(void)
{
    if (pthread_key_create(&multi_key, multi_cache_free) != 0)
        cf_assert(!"pthread_key_create failed");
}

static CURLM *multi_get(bool *cached)
{
    struct multi_cache *mc;

    pthread_once(&multi_once, multi_key_init);
    mc = pthread_getspecific(multi_key);
    if (mc == NULL) {
        CURLM *m = curl_multi_init();
        if (m == NULL)
            return NULL;
        mc = cf_xcalloc(1, sizeof(*mc));
        mc->m = m;
        if (pthread_setspecific(multi_key, mc) != 0) {
            multi_cache_free(mc);
            *cached = false;
            return curl_multi_init();
        }
    }
    if (mc->busy) {
        *cached = false;
        return curl_multi_init();
    }
    mc->busy = true;
    *cached = true;
    return mc->m;
}

static void multi_put(CURLM *m, bool cached)
{
    struct multi_cache *mc;

    if (!cached) {
        curl_multi_cleanup(m);
        return;
    }
    mc = pthread_getspecific(multi_key);
    cf_assert(mc != NULL && mc->m == m);
    mc->busy = false;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct target *t = ud;
    struct cf_fanout *f = t->f;
    size_t room = size * nitems, left = f->piece_len - t->off;

    if (left == 0) {
        if (f->eof)
            return 0;
        t->paused = true;
        return CURL_READFUNC_PAUSE;
    }
    if (left > room)
        left = room;
    t->last_ns = cf_now_ns();
    memcpy(buf, f->piece + t->off, left);
    t->off += left;
    return left;
}

static int trailer_cb(struct curl_slist **list, void *ud)
{
    struct target *t = ud;
    char line[sizeof(CF_SHA512_HEADER) + CF_SHA512_HEX_LEN + 4];
    struct curl_slist *l;

    (void)snprintf(line, sizeof(line), CF_SHA512_HEADER ": %s", t->f->sha_hex);
    l = curl_slist_append(*list, line);
    if (l == NULL)
        return CURL_TRAILERFUNC_ABORT;
    *list = l;
    return CURL_TRAILERFUNC_OK;
}

/* Reply bodies are small JSON; keep the start of one for the reason. */
static size_t write_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct target *t = ud;
    size_t n = size * nitems;

    if (t->reason[0] == '\0')
        (void)snprintf(t->reason, sizeof(t->reason), "%.*s", (int)(n < 150 ? n : 150), buf);
    return n;
}

static void fail(struct target *t, const char *why)
{
    (void)snprintf(t->reason, sizeof(t->reason), "%s", why);
    t->state = CF_FANOUT_FAILED;
}

int cf_fanout_new(const char *const *urls, size_t n, unsigned stall_s, struct cf_fanout **out)
{
    struct cf_fanout *f = NULL;
    int rc = 0;

    if (n == 0 || n > CF_FANOUT_MAX)
        return CF_EINVAL;
    f = cf_xcalloc(1, sizeof(*f));
    f->stall_ns = (uint64_t)stall_s * 1000000000u;
    f->m = multi_get(&f->m_cached);
    if (f->m == NULL) {
        rc = CF_EINTERNAL;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct target *t = &f->t[i];
        t->f = f;
        t->h = curl_easy_init();
        t->hdrs = curl_slist_append(NULL, "Transfer-Encoding: chunked");
        t->hdrs = curl_slist_append(t->hdrs, "Expect:");
        t->hdrs = curl_slist_append(t->hdrs, "Trailer: " CF_SHA512_HEADER);
        if (t->h == NULL || t->hdrs == NULL) {
            rc = CF_EINTERNAL;
            goto out;
        }
        f->n++;
        cf_httpc_share(t->h);
        (void)curl_easy_setopt(t->h, CURLOPT_URL, urls[i]);
        (void)curl_easy_setopt(t->h, CURLOPT_UPLOAD, 1L);
        (void)curl_easy_setopt(t->h, CURLOPT_HTTPHEADER, t->hdrs);
        (void)curl_easy_setopt(t->h, CURLOPT_READFUNCTION, read_cb);
        (void)curl_easy_setopt(t->h, CURLOPT_READDATA, t);
        (void)curl_easy_setopt(t->h, CURLOPT_TRAILERFUNCTION, trailer_cb);
        (void)curl_easy_setopt(t->h, CURLOPT_TRAILERDATA, t);
        (void)curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, write_cb);
        (void)curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
        (void)curl_easy_setopt(t->h, CURLOPT_PRIVATE, t);
        (void)curl_easy_setopt(t->h, CURLOPT_NOSIGNAL, 1L);
        (void)curl_easy_setopt(t->h, CURLOPT_TCP_NODELAY, 1L);
        (void)curl_easy_setopt(t->h, CURLOPT_CONNECTTIMEOUT, (long)stall_s);
        if (curl_multi_add_handle(f->m, t->h) != CURLM_OK) {
            rc = CF_EINTERNAL;
            goto out;
        }
    }
    *out = f;
    f = NULL;
out:
    cf_fanout_free(f);
    return rc;
}

/* Collect the transfers that ended. */
static void reap(struct cf_fanout *f)
{
    CURLMsg *msg;
    int left;

    for (;;) {
        struct target *t = NULL;
        uint8_t sha[CF_SHA512_LEN];
        long status = 0;
        char st[16];

        msg = curl_multi_info_read(f->m, &left);
        if (msg == NULL)
            break;

        if (msg->msg != CURLMSG_DONE)
            continue;
        (void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        t->done = true;
        if (msg->data.result != CURLE_OK) {
            fail(t, curl_easy_strerror(msg->data.result));
            continue;
        }
        (void)curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 201) {
            char detail[sizeof(t->reason)];
            memcpy(detail, t->reason, sizeof(detail));
            (void)snprintf(st, sizeof(st), "%ld", status % 1000);
            (void)snprintf(t->reason, sizeof(t->reason), "HTTP %.3s %.140s", st, detail);
            t->state = CF_FANOUT_FAILED;
            continue;
        }
        if (!f->eof) {
            fail(t, "replied before the body ended");
            continue;
        }
        if (cf_httpc_reply_sha512(t->h, sha) != 0 || memcmp(sha, f->sha, CF_SHA512_LEN) != 0) {
            fail(t, "the filer's SHA-512 differs from the one sent");
            continue;
        }
        t->reason[0] = '\0';
        t->state = CF_FANOUT_OK;
    }
}

/* Is target t still waiting for something? */
static bool pending(const struct cf_fanout *f, const struct target *t)
{
    if (t->done || t->state != CF_FANOUT_SENDING)
        return false;
    return f->eof ? true : t->off < f->piece_len;
}

/* Run the transfers until no live target is pending. */
static void pump(struct cf_fanout *f)
{
    for (;;) {
        bool any = false;
        int running = 0;

        for (size_t i = 0; i < f->n; i++) {
            struct target *t = &f->t[i];
            if (t->paused && pending(f, t)) {
                t->paused = false;
                (void)curl_easy_pause(t->h, CURLPAUSE_CONT);
            }
        }
        (void)curl_multi_perform(f->m, &running);
        reap(f);
        for (size_t i = 0; i < f->n; i++) {
            struct target *t = &f->t[i];
            /* libcurl's low-speed limit also fails a target paused while it
             * waits for a stalled one, so a stall fails every target; only
             * a target that has work and takes none is stalled. */
            if (pending(f, t) && cf_now_ns() - t->last_ns > f->stall_ns) {
                (void)curl_multi_remove_handle(f->m, t->h);
                t->done = true;
                fail(t, "took no bytes for the stall time");
            }
        }
        for (size_t i = 0; i < f->n; i++)
            any = any || pending(f, &f->t[i]);
        if (!any)
            return;
        (void)curl_multi_poll(f->m, NULL, 0, 100, NULL);
    }
}

static int live(const struct cf_fanout *f)
{
    int n = 0;

    for (size_t i = 0; i < f->n; i++)
        n += f->t[i].state != CF_FANOUT_FAILED;
    return n;
}

int cf_fanout_write(struct cf_fanout *f, const void *p, size_t n)
{
    f->piece = p;
    f->piece_len = n;
    for (size_t i = 0; i < f->n; i++) {
        f->t[i].off = 0;
        f->t[i].last_ns = cf_now_ns();
    }
    pump(f);
    for (size_t i = 0; i < f->n; i++) {
        /* Ended early, e.g. 409 or 507 before the body was all sent. */
        if (f->t[i].done && f->t[i].state == CF_FANOUT_SENDING)
            fail(&f->t[i], "ended before the body was sent");
    }
    f->piece = NULL;
    f->piece_len = 0;
    return live(f);
}

int cf_fanout_finish(struct cf_fanout *f, const uint8_t sha[CF_SHA512_LEN])
{
    int ok = 0;

    memcpy(f->sha, sha, CF_SHA512_LEN);
    cf_sha512_hex(sha, f->sha_hex);
    f->eof = true;
    f->piece = NULL;
    f->piece_len = 0;
    for (size_t i = 0; i < f->n; i++) {
        f->t[i].off = 0;
        f->t[i].last_ns = cf_now_ns();
    }
    pump(f);
    for (size_t i = 0; i < f->n; i++)
        ok += f->t[i].state == CF_FANOUT_OK;
    return ok;
}

enum cf_fanout_state cf_fanout_state(const struct cf_fanout *f, size_t i, const char **reason)
{
    if (reason != NULL)
        *reason = f->t[i].state == CF_FANOUT_FAILED ? f->t[i].reason : "";
    return f->t[i].state;
}

void cf_fanout_free(struct cf_fanout *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < CF_FANOUT_MAX; i++) {
        struct target *t = &f->t[i];
        if (t->h != NULL) {
            if (f->m != NULL)
                (void)curl_multi_remove_handle(f->m, t->h);
            curl_easy_cleanup(t->h);
        }
        curl_slist_free_all(t->hdrs);
    }
    if (f->m != NULL)
        multi_put(f->m, f->m_cached);
    free(f);
}
