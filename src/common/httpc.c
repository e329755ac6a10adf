/*
 * httpc.c -- small blocking HTTP client calls with JSON bodies (httpc.h).
 */
#include "coffer/httpc.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/buf.h"
#include "coffer/err.h"

int cf_httpc_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_ALL) == CURLE_OK ? 0 : CF_EINTERNAL;
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
