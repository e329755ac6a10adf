/*
 * multi.c -- the calling thread's libcurl multi handle and one turn of its
 * transfers (cluster_int.h).
 */
#include "cluster_int.h"

#include <pthread.h>
#include <stdlib.h>

#include "coffer/err.h"

struct multi_cache {
    CURLM *m;
    bool lent; /* a pump of this thread holds m */
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

/* Runs at thread exit: every pump of the thread is closed by then. */
static void cache_free(void *p)
{
    struct multi_cache *mc = p;

    curl_multi_cleanup(mc->m);
    free(mc);
}

static void cache_key_init(void)
{
    if (pthread_key_create(&cache_key, cache_free) != 0)
        cf_assert(!"pthread_key_create failed");
}

/* This thread's cache, made at its first use; NULL if it cannot be. */
static struct multi_cache *thread_cache(void)
{
    struct multi_cache *mc;
    CURLM *m;

    pthread_once(&cache_once, cache_key_init);
    mc = pthread_getspecific(cache_key);
    if (mc != NULL)
        return mc;
    m = curl_multi_init();
    if (m == NULL)
        return NULL;
    mc = cf_xcalloc(1, sizeof(*mc));
    mc->m = m;
    if (pthread_setspecific(cache_key, mc) != 0) {
        cache_free(mc);
        mc = NULL;
    }
    return mc;
}

int cf__cluster_multi_open(struct cf__cluster_multi *mh)
{
    struct multi_cache *mc = thread_cache();

    mh->cached = false;
    if (mc != NULL && !mc->lent) {
        mc->lent = true;
        mh->m = mc->m;
        mh->cached = true;
    } else {
        mh->m = curl_multi_init();
    }
    return mh->m != NULL ? 0 : CF_EINTERNAL;
}

void cf__cluster_multi_close(struct cf__cluster_multi *mh)
{
    struct multi_cache *mc;

    if (mh->m == NULL)
        return;
    if (mh->cached) {
        mc = pthread_getspecific(cache_key);
        cf_assert(mc != NULL && mc->m == mh->m);
        mc->lent = false;
    } else {
        curl_multi_cleanup(mh->m);
    }
    mh->m = NULL;
    mh->cached = false;
}

void cf__cluster_multi_run(struct cf__cluster_multi *mh, cf__cluster_done_cb done, void *ctx)
{
    int running = 0, left = 0;

    (void)curl_multi_perform(mh->m, &running);
    for (;;) {
        CURLMsg *msg = curl_multi_info_read(mh->m, &left);
        if (msg == NULL)
            break;
        if (msg->msg == CURLMSG_DONE)
            done(ctx, msg->easy_handle, msg->data.result);
    }
}

void cf__cluster_multi_wait(struct cf__cluster_multi *mh)
{
    (void)curl_multi_poll(mh->m, NULL, 0, 100, NULL);
}
