/*
 * httpc.c -- small blocking HTTP client calls with JSON bodies (httpc.h).
 */
#include "coffer/httpc.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/buf.h"
#include "coffer/cred.h"
#include "coffer/err.h"
#include "coffer/tls.h"

/* Connections a thread keeps alive (libcurl closes the oldest beyond
 * it). A thread mostly talks to a few filers at once (r for an upload), so
 * this is ample; it is kept small because every server thread keeps its
 * own, and each idle connection holds a thread on a libmicrohttpd filer. */
#define THREAD_CONNECTIONS 16

/* One connection cache per thread. libcurl does not support sharing a
 * connection cache between threads that run transfers at the same time
 * (CURLSHOPT_SHARE(3), CURL_LOCK_DATA_CONNECT), even with lock callbacks
 * (the likely cause of one app crash under concurrent maintenance copies). A share
 * used by one thread only needs no locks; it is released when the thread
 * exits, by which time that thread's transfers are over.
 * Each thread also keeps one easy handle to lend (cf_httpc_easy_take): a
 * handle made and destroyed per request costs libcurl a multi handle, a
 * socket pair and signal handler changes each time. */
struct thread_state {
    CURLSH *sh;
    CURL *easy; /* idle, attached to sh; NULL while lent or not made yet */
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_rc = CF_EINTERNAL;
static pthread_key_t state_key;

static void state_free(void *p)
{
    struct thread_state *ts = p;

    /* The handle first: a share with a handle still attached is not freed
     * (CURLSHE_IN_USE). A handle still lent at thread exit leaves the share
     * allocated rather than freed under it. */
    curl_easy_cleanup(ts->easy);
    (void)curl_share_cleanup(ts->sh);
    free(ts);
}

static void init_once(void)
{
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        return;
    if (pthread_key_create(&state_key, state_free) != 0)
        return;
    init_rc = 0;
}

int cf_httpc_global_init(void)
{
    pthread_once(&once, init_once);
    return init_rc;
}

/* This thread's state with its share, created at its first use; NULL if it
 * cannot be. */
static struct thread_state *thread_state(void)
{
    struct thread_state *ts = pthread_getspecific(state_key);
    CURLSH *sh;

    if (ts != NULL)
        return ts;
    sh = curl_share_init();
    if (sh == NULL)
        return NULL;
    ts = calloc(1, sizeof(*ts));
    if (ts == NULL ||
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        pthread_setspecific(state_key, ts) != 0) {
        free(ts);
        curl_share_cleanup(sh);
        return NULL;
    }
    ts->sh = sh;
    return ts;
}

void cf_httpc_share(void *h)
{
    struct thread_state *ts;

    if (init_rc != 0)
        return;
    ts = thread_state();
    if (ts == NULL)
        return;
    (void)curl_easy_setopt((CURL *)h, CURLOPT_SHARE, ts->sh);
    (void)curl_easy_setopt((CURL *)h, CURLOPT_MAXCONNECTS, (long)THREAD_CONNECTIONS);
}

void *cf_httpc_easy_take(void)
{
    struct thread_state *ts = init_rc == 0 ? thread_state() : NULL;
    CURL *h = ts != NULL ? ts->easy : NULL;

    if (h == NULL) {
        h = curl_easy_init();
        if (h == NULL)
            return NULL;
    } else {
        ts->easy = NULL;
        curl_easy_reset(h);
    }
    cf_httpc_share(h);
    return h;
}

void cf_httpc_easy_give(void *h)
{
    struct thread_state *ts = init_rc == 0 ? pthread_getspecific(state_key) : NULL;

    if (h == NULL)
        return;
    if (ts != NULL && ts->easy == NULL) {
        /* Options that point into the caller's memory go now, not at the
         * next take. */
        curl_easy_reset((CURL *)h);
        ts->easy = h;
        return;
    }
    curl_easy_cleanup((CURL *)h);
}

/* The CA file the process trusts (NULL: the system's), and the option that
 * sets it, for messages. Set before threads start, read after. */
static char *tls_ca;
static const char *tls_option = "--tls-ca";

int cf_httpc_tls_init(const char *ca_file, const char *option, char *err)
{
    int rc = 0;

    if (ca_file != NULL)
        rc = cf_tls_check_ca(ca_file, err);
    if (rc < 0)
        return rc;
    free(tls_ca);
    tls_ca = ca_file != NULL ? cf_xstrdup(ca_file) : NULL;
    tls_option = option != NULL ? option : "--tls-ca";
    return 0;
}

void cf_httpc_tls(void *h)
{
    (void)curl_easy_setopt((CURL *)h, CURLOPT_SSL_VERIFYPEER, 1L);
    (void)curl_easy_setopt((CURL *)h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (tls_ca != NULL)
        (void)curl_easy_setopt((CURL *)h, CURLOPT_CAINFO, tls_ca);
}

bool cf_httpc_cert_error(int cc)
{
    return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
           cc == CURLE_SSL_ISSUER_ERROR;
}

void cf_httpc_failure(int cc, char *err, const char *url)
{
    const char *why = curl_easy_strerror((CURLcode)cc);

    if (!cf_httpc_cert_error(cc))
        cf_err_set(err, "%s: %s", url, why);
    else if (tls_ca != NULL)
        cf_err_set(err, "%s: %s: the server's certificate is not trusted by the CA in \"%s\"", url,
                   why, tls_ca);
    else
        cf_err_set(err, "%s: %s: the server's certificate is not trusted; give its CA with %s", url,
                   why, tls_option);
}

int cf_httpc_sign(void *h, const char *method, const char *url, void **list)
{
    const struct cf_cred *c = cf_cred_signer();
    char line[CF_CRED_HEADER_MAX];
    struct curl_slist *l = *list;
    int rc;

    if (c != NULL) {
        rc = cf_cred_sign_url(c, method, url, line);
        if (rc < 0)
            return rc;
        l = curl_slist_append(l, line);
        OPENSSL_cleanse(line, sizeof(line));
        if (l == NULL)
            return CF_EINTERNAL;
        *list = l;
    }
    if (l != NULL && curl_easy_setopt((CURL *)h, CURLOPT_HTTPHEADER, l) != CURLE_OK)
        return CF_EINTERNAL;
    return 0;
}

static size_t collect(char *p, size_t size, size_t nitems, void *ud)
{
    struct cf_buf *b = ud;
    size_t n = size * nitems;

    return cf_buf_append(b, p, n) < 0 ? 0 : n;
}

bool cf_httpc_unsent(int cc)
{
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
           cc == CURLE_COULDNT_RESOLVE_PROXY;
}

int cf_httpc_json(const char *method, const char *url, const json_t *body, long timeout_ms,
                  long *status, json_t **out, char *err)
{
    return cf_httpc_json_ex(method, url, body, timeout_ms, status, out, NULL, err);
}

int cf_httpc_json_ex(const char *method, const char *url, const json_t *body, long timeout_ms,
                     long *status, json_t **out, bool *unsent, char *err)
{
    static const char *const json_type[] = {"Content-Type: application/json", NULL};
    struct cf_buf b;
    char *text = NULL;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (body != NULL)
        text = json_dumps(body, JSON_COMPACT);
    cf_buf_init(&b, CF_HTTPC_BODY_MAX);
    rc = cf_httpc_bytes(method, url, body != NULL ? (text ? text : "null") : NULL,
                        body != NULL ? strlen(text ? text : "null") : 0,
                        body != NULL ? json_type : NULL, timeout_ms, status, &b, unsent, err);
    if (rc == 0 && out != NULL && b.len > 0)
        *out = json_loadb(b.base, b.len, 0, NULL);
    free(text);
    cf_buf_fini(&b);
    return rc;
}

int cf_httpc_bytes(const char *method, const char *url, const void *body, size_t len,
                   const char *const *headers, long timeout_ms, long *status, struct cf_buf *reply,
                   bool *unsent, char *err)
{
    struct curl_slist *hdrs = NULL;
    CURL *h = NULL;
    CURLcode cc;
    int rc = 0;

    if (unsent != NULL)
        *unsent = false;
    h = cf_httpc_easy_take();
    if (h == NULL)
        return CF_EINTERNAL;
    cf_httpc_tls(h);
    (void)curl_easy_setopt(h, CURLOPT_URL, url);
    (void)curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    (void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    (void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    (void)curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        struct curl_slist *l = curl_slist_append(hdrs, headers[i]);
        if (l == NULL) {
            rc = CF_EINTERNAL;
            goto out;
        }
        hdrs = l;
    }
    if (body != NULL) {
        (void)curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        (void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    }
    rc = cf_httpc_sign(h, method, url, (void **)&hdrs);
    if (rc < 0) {
        cf_err_set(err, "%s: cannot sign the request", url);
        goto out;
    }
    cc = curl_easy_perform(h);
    if (cc == CURLE_WRITE_ERROR) {
        cf_err_set(err, "%s: reply body over %zu bytes", url, reply->limit);
        rc = CF_ETOOLARGE;
        goto out;
    }
    if (cc != CURLE_OK) {
        cf_httpc_failure((int)cc, err, url);
        if (unsent != NULL)
            *unsent = cf_httpc_unsent((int)cc);
        rc = CF_EUNAVAIL;
        goto out;
    }
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
out:
    curl_slist_free_all(hdrs);
    cf_httpc_easy_give(h);
    return rc;
}

int cf_httpc_reply_sha512(void *h, uint8_t out[CF_SHA512_LEN])
{
    struct curl_header *hdr = NULL;

    if (curl_easy_header(h, CF_SHA512_HEADER, 0, CURLH_HEADER, -1, &hdr) != CURLHE_OK)
        return CF_ENOTFOUND;
    return cf_sha512_parse_hex(hdr->value, strlen(hdr->value), out);
}
