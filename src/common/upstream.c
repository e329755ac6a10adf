/*
 * upstream.c -- several instances of one service, and which to try next
 * (upstream.h).
 */
#include "coffer/upstream.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "coffer/err.h"
#include "coffer/httpc.h"

/* Longest URL of one call: the base and the path. */
#define URL_MAX 4096

struct cf_upstream {
    size_t n;
    char *url[CF_UPSTREAM_MAX];
    /* cf_now_ns() of the last failure of each; 0: none remembered */
    _Atomic uint64_t failed_ns[CF_UPSTREAM_MAX];
    atomic_uint next; /* where the next order starts among the healthy */
};

static uint64_t now_ns(void)
{
    /* + 1: a failure at the clock's first instant is still one. */
    return cf_now_ns() + 1;
}

int cf_upstream_parse(const char *list, struct cf_upstream **out, char *err)
{
    struct cf_upstream *u = cf_xcalloc(1, sizeof(*u));
    const char *p = list != NULL ? list : "";
    int rc = 0;

    *out = NULL;
    while (rc == 0) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *s = p;

        while (len > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (len > 0 && s[len - 1] == '/')
            len--;
        if (len == 0) {
            cf_err_set(err, "\"%.200s\": an empty URL in the list", list != NULL ? list : "");
            rc = CF_EINVAL;
        } else if (strncasecmp(s, "http://", 7) != 0 && strncasecmp(s, "https://", 8) != 0) {
            cf_err_set(err, "\"%.*s\" is not an http:// or https:// URL",
                       (int)(len > 200 ? 200 : len), s);
            rc = CF_EINVAL;
        } else if (u->n == CF_UPSTREAM_MAX) {
            cf_err_set(err, "more than %d URLs in the list", CF_UPSTREAM_MAX);
            rc = CF_EINVAL;
        } else {
            u->url[u->n] = cf_xcalloc(1, len + 1);
            memcpy(u->url[u->n], s, len);
            u->n++;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    if (rc < 0) {
        cf_upstream_free(u);
        return rc;
    }
    *out = u;
    return 0;
}

void cf_upstream_free(struct cf_upstream *u)
{
    if (u == NULL)
        return;
    for (size_t i = 0; i < u->n; i++)
        free(u->url[i]);
    free(u);
}

size_t cf_upstream_count(const struct cf_upstream *u)
{
    return u->n;
}

const char *cf_upstream_url(const struct cf_upstream *u, size_t i)
{
    return u->url[i];
}

size_t cf_upstream_order(struct cf_upstream *u, size_t idx[CF_UPSTREAM_MAX])
{
    uint64_t now = now_ns(), when[CF_UPSTREAM_MAX];
    size_t k = 0, nbad = 0, bad[CF_UPSTREAM_MAX];
    unsigned start = atomic_fetch_add(&u->next, 1u);

    for (size_t j = 0; j < u->n; j++) {
        size_t i = (start + j) % u->n;
        uint64_t f = atomic_load(&u->failed_ns[i]);

        if (f != 0 && now - f < (uint64_t)CF_UPSTREAM_HOLD_MS * 1000000u) {
            when[nbad] = f;
            bad[nbad++] = i;
        } else {
            idx[k++] = i;
        }
    }
    /* The oldest failure first: it is the likeliest to be back. */
    for (size_t a = 1; a < nbad; a++) {
        for (size_t b = a; b > 0 && when[b - 1] > when[b]; b--) {
            uint64_t tw = when[b];
            size_t ti = bad[b];
            when[b] = when[b - 1];
            bad[b] = bad[b - 1];
            when[b - 1] = tw;
            bad[b - 1] = ti;
        }
    }
    for (size_t a = 0; a < nbad; a++)
        idx[k++] = bad[a];
    return k;
}

void cf_upstream_failed(struct cf_upstream *u, size_t i)
{
    atomic_store(&u->failed_ns[i], now_ns());
}

void cf_upstream_ok(struct cf_upstream *u, size_t i)
{
    if (atomic_load(&u->failed_ns[i]) != 0)
        atomic_store(&u->failed_ns[i], 0);
}

bool cf_upstream_retry_status(long status)
{
    return status == 502 || status == 503 || status == 504;
}

int cf_upstream_json(struct cf_upstream *u, const char *method, const char *path,
                     const json_t *body, long timeout_ms, bool idempotent, long *status,
                     json_t **out, char *err)
{
    size_t idx[CF_UPSTREAM_MAX], n = cf_upstream_order(u, idx);
    char url[URL_MAX];
    int rc = CF_EUNAVAIL;

    for (size_t a = 0; a < n; a++) {
        size_t i = idx[a];
        bool unsent = false, again;
        int w = snprintf(url, sizeof(url), "%s%s", u->url[i], path);

        if (w < 0 || (size_t)w >= sizeof(url)) {
            cf_err_set(err, "%s%.100s: URL too long", u->url[i], path);
            return CF_ETOOLARGE;
        }
        if (out != NULL && a > 0) {
            json_decref(*out);
            *out = NULL;
        }
        rc = cf_httpc_json_ex(method, url, body, timeout_ms, status, out, &unsent, err);
        if (rc == CF_EUNAVAIL || (rc == 0 && cf_upstream_retry_status(*status)))
            cf_upstream_failed(u, i);
        else if (rc == 0)
            cf_upstream_ok(u, i);
        if (idempotent)
            again = rc == CF_EUNAVAIL || (rc == 0 && cf_upstream_retry_status(*status));
        else
            again = rc == CF_EUNAVAIL && unsent;
        if (!again)
            break;
    }
    return rc;
}
