/*
 * httpc.c -- small blocking HTTP client calls with JSON bodies (httpc.h).
 */
#include "coffer/httpc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/buf.h"
#include "coffer/err.h"

/* Connections kept per easy handle that returns one to the shared cache;
 * libcurl closes the oldest beyond it. Enough for every concurrent
 * request to every filer of a small cluster to stay alive. */
#define SHARED_CONNECTIONS 512

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_rc = CF_EINTERNAL;
static CURLSH *share;
static pthread_mutex_t locks[CURL_LOCK_DATA_LAST];

static void lock_cb(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)h;
    (void)access;
    (void)ud;
    pthread_mutex_lock(&locks[data]);
}

static void unlock_cb(CURL *h, curl_lock_data data, void *ud)
{
    (void)h;
    (void)ud;
    pthread_mutex_unlock(&locks[data]);
}

static void init_once(void)
{
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        return;
    for (size_t i = 0; i < CF_ARRAY_LEN(locks); i++)
        pthread_mutex_init(&locks[i], NULL);
    share = curl_share_init();
    if (share == NULL || curl_share_setopt(share, CURLSHOPT_LOCKFUNC, lock_cb) != CURLSHE_OK ||
        curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, unlock_cb) != CURLSHE_OK ||
        curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
        curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
        if (share != NULL)
            curl_share_cleanup(share);
        share = NULL;
        return;
    }
    init_rc = 0;
}

int cf_httpc_global_init(void)
{
    pthread_once(&once, init_once);
    return init_rc;
}

void cf_httpc_share(void *h)
{
    if (share == NULL)
        return;
    (void)curl_easy_setopt((CURL *)h, CURLOPT_SHARE, share);
    (void)curl_easy_setopt((CURL *)h, CURLOPT_MAXCONNECTS, (long)SHARED_CONNECTIONS);
}

static size_t collect(char *p, size_t size, size_t nitems, void *ud)
{
    struct cf_buf *b = ud;
    size_t n = size * nitems;

    return cf_buf_append(b, p, n) < 0 ? 0 : n;
}

int cf_httpc_json(const char *method, const char *url, const json_t *body, long timeout_ms,
                  long *status, json_t **out, char *err)
{
    struct curl_slist *hdrs = NULL;
    struct cf_buf b;
    char *text = NULL;
    CURL *h = NULL;
    CURLcode cc;
    int rc = 0;

    cf_buf_init(&b, CF_HTTPC_BODY_MAX);
    if (out != NULL)
        *out = NULL;
    h = curl_easy_init();
    if (h == NULL) {
        rc = CF_EINTERNAL;
        goto out;
    }
    cf_httpc_share(h);
    (void)curl_easy_setopt(h, CURLOPT_URL, url);
    (void)curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    (void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    (void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    (void)curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        (void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        (void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, text ? text : "null");
    }
    cc = curl_easy_perform(h);
    if (cc == CURLE_WRITE_ERROR) {
        cf_err_set(err, "%s: reply body over %d bytes", url, CF_HTTPC_BODY_MAX);
        rc = CF_ETOOLARGE;
        goto out;
    }
    if (cc != CURLE_OK) {
        cf_err_set(err, "%s: %s", url, curl_easy_strerror(cc));
        rc = CF_EUNAVAIL;
        goto out;
    }
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    if (out != NULL && b.len > 0)
        *out = json_loadb(b.base, b.len, 0, NULL);
out:
    curl_slist_free_all(hdrs);
    free(text);
    cf_buf_fini(&b);
    curl_easy_cleanup(h);
    return rc;
}
