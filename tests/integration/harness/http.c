/*
 * http.c -- HTTP clients over libcurl, one request or a batch (http.h).
 */
#include "harness/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "harness/harness_int.h"
#include "harness/keys.h"

#define IT_CURL_BUFSIZE (256 * 1024)
#define IT_XFER_MS      240000 /* one it_xfer_run batch */

/* ---- one request ------------------------------------------------------------ */

void it_client_init(struct it_client *c)
{
    c->easy = curl_easy_init();
    IT_CHECK(c->easy != NULL);
}

void it_client_fini(struct it_client *c)
{
    curl_easy_cleanup(c->easy);
    c->easy = NULL;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct it_resp *r = ud;
    size_t n = size * nmemb;

    /* A new status line (after 100 Continue) starts a new header block. */
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
        r->hdrs_len = 0;
    if (r->hdrs_len + n < sizeof(r->hdrs)) {
        memcpy(r->hdrs + r->hdrs_len, p, n);
        r->hdrs_len += n;
        r->hdrs[r->hdrs_len] = '\0';
    }
    return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct it_resp *r = ud;
    size_t n = size * nmemb, keep;

    /* A hashing failure fails the case rather than the transfer. */
    IT_CHECK(cf_sha512_update(&r->ctx, p, n) == 0);
    r->total += n;
    keep = IT_BODY_KEEP - r->body_len;
    if (keep > n)
        keep = n;
    if (r->body_len + keep + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + keep + 1)
            cap *= 2;
        r->body_cap = cap < IT_BODY_KEEP + 1 ? cap : IT_BODY_KEEP + 1;
        r->body = cf_xrealloc(r->body, r->body_cap);
    }
    memcpy(r->body + r->body_len, p, keep);
    r->body_len += keep;
    r->body[r->body_len] = '\0';
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct it_body *b = ud;

    return it_gen_read(&b->gen, buf, size * nmemb);
}

/* curl rewinds an upload when it retries on a fresh connection. */
static int on_seek(void *ud, curl_off_t off, int origin)
{
    struct it_body *b = ud;
    int rc = CURL_SEEKFUNC_CANTSEEK;

    if (origin != SEEK_SET || off != 0)
        goto out;
    cf_sha512_fini(&b->gen.sha);
    rc = CURL_SEEKFUNC_FAIL;
    if (cf_sha512_init(&b->gen.sha) != 0)
        goto out;
    b->gen.pos = 0;
    rc = CURL_SEEKFUNC_OK;
out:
    return rc;
}

static void set_method(CURL *e, const char *method, struct it_body *body)
{
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "PUT") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    if (body != NULL || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        if (body == NULL) {
            curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)0);
        } else {
            curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(e, CURLOPT_READDATA, body);
            curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
            curl_easy_setopt(e, CURLOPT_SEEKDATA, body);
            curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                             body->chunked ? (curl_off_t)-1 : (curl_off_t)body->gen.size);
        }
    }
}

/* Set e up for one request to base + target (curl_easy_reset first); resp is
 * zeroed and its hash started. Returns the header list, which must outlive
 * the transfer (caller frees it after http_collect). */
/* The CA file https:// requests trust (it_http_ca); "" for none. */
static char http_ca[IT_PATH_MAX];

void it_http_ca(const char *path)
{
    it_fmt(http_ca, sizeof(http_ca), "%s", path != NULL ? path : "");
}

static struct curl_slist *http_prepare(CURL *e, const char *base, const char *method,
                                       const char *target, struct it_body *body,
                                       struct it_resp *resp, va_list ap)
{
    struct curl_slist *hl = NULL;
    char url[IT_PATH_MAX + 64];
    bool own_auth = false;
    const char *h;
    int n;

    memset(resp, 0, sizeof(*resp));
    IT_CHECK(cf_sha512_init(&resp->ctx) == 0);
    curl_easy_reset(e);
    n = snprintf(url, sizeof(url), "%s%s", base, target);
    IT_CHECK(n > 0 && (size_t)n < sizeof(url));
    for (;;) {
        h = va_arg(ap, const char *);
        if (h == NULL)
            break;
        own_auth = own_auth || strncasecmp(h, "Authorization:", 14) == 0;
        hl = curl_slist_append(hl, h);
        IT_CHECK(hl != NULL);
    }
    /* Speak to the roles as the operator (keys.h). */
    if (!own_auth && !it_keys_is_public(base)) {
        char line[CF_CRED_HEADER_MAX];
        IT_CHECK(cf_cred_sign_url(it_keys_operator_cred(), method, url, line) == 0);
        hl = curl_slist_append(hl, line);
        IT_CHECK(hl != NULL);
    }
    if (body == NULL || !body->expect) {
        hl = curl_slist_append(hl, "Expect:");
        IT_CHECK(hl != NULL);
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L * (long)it_multiplier());
    /* A stalled transfer fails with a message before the case deadline. */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L * (long)it_multiplier());
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)IT_CURL_BUFSIZE);
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, (long)IT_CURL_BUFSIZE);
    if (http_ca[0] != '\0')
        curl_easy_setopt(e, CURLOPT_CAINFO, http_ca);
    set_method(e, method, body);
    return hl;
}

/* The transfer on e ended with cc: fill in resp. */
static void http_collect(CURL *e, struct it_resp *resp, CURLcode cc)
{
    resp->curl_code = (int)cc;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
    IT_CHECK(cf_sha512_final(&resp->ctx, resp->sha) == 0);
    cf_sha512_fini(&resp->ctx);
}

static long http_v(struct it_client *c, const char *base, const char *method, const char *target,
                   struct it_body *body, struct it_resp *resp, va_list ap)
{
    struct it_client own = {NULL};
    struct curl_slist *hl;
    CURL *e;

    if (c == NULL) {
        it_client_init(&own);
        c = &own;
    }
    e = c->easy;
    hl = http_prepare(e, base, method, target, body, resp, ap);
    http_collect(e, resp, curl_easy_perform(e));
    /* Drop the header list before curl_easy_reset could reuse it. */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    if (own.easy != NULL)
        it_client_fini(&own);
    IT_CHECKF(resp->status != 0, "%s %s: no response (curl: %s)", method, target,
              curl_easy_strerror((CURLcode)resp->curl_code));
    return resp->status;
}

long it_http(struct it_client *c, const struct it_filer *f, const char *method, const char *target,
             struct it_body *body, struct it_resp *resp, ...)
{
    va_list ap;
    long st;

    va_start(ap, resp);
    st = http_v(c, f->base, method, target, body, resp, ap);
    va_end(ap);
    return st;
}

long it_http_to(struct it_client *c, const char *base, const char *method, const char *target,
                struct it_body *body, struct it_resp *resp, ...)
{
    va_list ap;
    long st;

    va_start(ap, resp);
    st = http_v(c, base, method, target, body, resp, ap);
    va_end(ap);
    return st;
}

/* ---- the reply ------------------------------------------------------------ */

void it_resp_fini(struct it_resp *r)
{
    free(r->body);
    r->body = NULL;
    cf_sha512_fini(&r->ctx);
}

bool it_resp_header(const struct it_resp *r, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = r->hdrs;
    bool found = false;

    while (*p != '\0' && !found) {
        const char *eol = strstr(p, "\r\n");
        const char *next = eol ? eol + 2 : p + strlen(p);
        if (eol == NULL)
            eol = next;
        if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            size_t len;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            len = (size_t)(eol - v);
            while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                len--;
            IT_CHECKF(len < cap, "header %s too long", name);
            memcpy(out, v, len);
            out[len] = '\0';
            found = true;
        }
        p = next;
    }
    return found;
}

json_t *it_resp_json(const struct it_resp *r)
{
    json_error_t err;
    json_t *j;

    IT_CHECKF(r->body != NULL && r->total == r->body_len, "reply %ld has no (whole) body",
              r->status);
    j = json_loadb(r->body, r->body_len, 0, &err);
    IT_CHECKF(j != NULL, "reply %ld is not JSON (%s): %.200s", r->status, err.text, r->body);
    return j;
}

void it_check_error_body(const struct it_resp *r, const char *name)
{
    json_t *j = it_resp_json(r);
    const char *nl = memchr(r->body, '\n', r->body_len);

    IT_CHECKF(nl == NULL || nl == r->body + r->body_len - 1, "error body is not one line: %s",
              r->body);
    IT_CHECKF(json_is_object(j), "error body is not an object: %s", r->body);
    if (name != NULL)
        IT_STREQ(it_json_str(j, "error"), name);
    else
        (void)it_json_str(j, "error");
    (void)it_json_str(j, "message");
    json_decref(j);
}

int64_t it_json_int(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    IT_CHECKF(json_is_integer(v), "JSON member \"%s\" is missing or not an integer", key);
    return (int64_t)json_integer_value(v);
}

const char *it_json_str(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    IT_CHECKF(json_is_string(v), "JSON member \"%s\" is missing or not a string", key);
    return json_string_value(v);
}

bool it_json_bool(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    IT_CHECKF(json_is_boolean(v), "JSON member \"%s\" is missing or not a boolean", key);
    return json_is_true(v);
}

/* ---- the filer's requests ----------------------------------------------------- */

json_t *it_status(const struct it_filer *f)
{
    struct it_resp r;
    json_t *j;

    IT_EQ(it_http(NULL, f, "GET", "/status", NULL, &r, NULL), 200);
    j = it_resp_json(&r);
    it_resp_fini(&r);
    IT_CHECK(json_is_object(j));
    return j;
}

int64_t it_status_int(const struct it_filer *f, const char *key)
{
    json_t *j = it_status(f);
    int64_t v = it_json_int(j, key);

    json_decref(j);
    return v;
}

int64_t it_metric(const char *base, const char *series)
{
    struct it_resp r;
    const char *p, *hit = NULL;
    size_t n = strlen(series);
    int64_t v;
    char *end = NULL;

    char url[IT_URL_MAX + 16], line[CF_CRED_HEADER_MAX];

    /* /metrics needs a signature on every role, the gateway too. */
    it_fmt(url, sizeof(url), "%s/metrics", base);
    IT_CHECK(cf_cred_sign_url(it_keys_operator_cred(), "GET", url, line) == 0);
    IT_EQ(it_http_to(NULL, base, "GET", "/metrics", NULL, &r, line, NULL), 200);
    IT_CHECKF(r.body != NULL && r.body_len == r.total, "GET %s/metrics: a body over %d bytes", base,
              IT_BODY_KEEP);
    for (p = r.body; hit == NULL && p != NULL && *p != '\0'; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            hit = p + n + 1;
    }
    IT_CHECKF(hit != NULL, "GET %s/metrics has no sample %s", base, series);
    v = strtoll(hit, &end, 10);
    IT_CHECKF(end != hit && (*end == '\n' || *end == '\0'), "sample %s: not an integer", series);
    it_resp_fini(&r);
    return v;
}

struct metric_wait {
    const char *base, *series;
    int64_t want, last;
};

static bool metric_is(void *arg)
{
    struct metric_wait *w = arg;

    w->last = it_metric(w->base, w->series);
    return w->last == w->want;
}

void it_wait_metric(const char *base, const char *series, int64_t want)
{
    struct metric_wait w = {base, series, want, 0};

    IT_CHECKF(it_wait_for(metric_is, &w, 50, 100), "%s at %s is %lld, not %lld", series, base,
              (long long)w.last, (long long)want);
}

void it_check_usage(const struct it_filer *f, int64_t objects, int64_t used)
{
    json_t *j = it_status(f);

    IT_EQ(it_json_int(j, "objects"), objects);
    IT_EQ(it_json_int(j, "used_bytes"), used);
    json_decref(j);
}

static void object_target(char out[IT_PATH_MAX], const char *path)
{
    it_fmt(out, IT_PATH_MAX, "/o/%s", path);
}

void it_check_put_reply(const struct it_resp *r, const char *path, uint64_t size,
                        const uint8_t sha[CF_SHA512_LEN])
{
    char hex[CF_SHA512_HEX_LEN + 1], hdr[CF_SHA512_HEX_LEN + 8];
    json_t *j;

    it_hex(sha, hex);
    IT_CHECKF(r->status == 201, "PUT %s: status %ld, body %.300s", path, r->status,
              r->body ? r->body : "");
    IT_CHECKF(it_resp_header(r, "X-Coffer-SHA512", hdr, sizeof(hdr)), "PUT %s: no X-Coffer-SHA512",
              path);
    IT_STREQ(hdr, hex);
    j = it_resp_json(r);
    IT_STREQ(it_json_str(j, "path"), path);
    IT_EQ(it_json_int(j, "size"), size);
    IT_STREQ(it_json_str(j, "sha512"), hex);
    json_decref(j);
}

void it_put_ok(struct it_client *c, const struct it_filer *f, const char *path, uint64_t seed,
               uint64_t size, bool chunked, uint8_t sha[CF_SHA512_LEN])
{
    char target[IT_PATH_MAX];
    uint8_t d[CF_SHA512_LEN];
    struct it_body b = {.chunked = chunked};
    struct it_resp r;

    object_target(target, path);
    it_gen_init(&b.gen, seed, size);
    it_http(c, f, "PUT", target, &b, &r, NULL);
    it_gen_final(&b.gen, d);
    it_check_put_reply(&r, path, size, d);
    it_resp_fini(&r);
    if (sha != NULL)
        memcpy(sha, d, CF_SHA512_LEN);
}

long it_put_status(struct it_client *c, const struct it_filer *f, const char *path, uint64_t seed,
                   uint64_t size, bool chunked)
{
    char target[IT_PATH_MAX];
    struct it_body b = {.chunked = chunked};
    struct it_resp r;
    long st;

    object_target(target, path);
    it_gen_init(&b.gen, seed, size);
    st = it_http(c, f, "PUT", target, &b, &r, NULL);
    it_gen_fini(&b.gen);
    it_resp_fini(&r);
    return st;
}

void it_check_object_reply(const struct it_resp *r, const char *what, uint64_t size,
                           const uint8_t sha[CF_SHA512_LEN])
{
    char hex[CF_SHA512_HEX_LEN + 1], hdr[CF_SHA512_HEX_LEN + 8];

    it_hex(sha, hex);
    IT_CHECKF(r->status == 200, "GET %s: status %ld, body %.300s", what, r->status,
              r->body ? r->body : "");
    IT_CHECKF(r->curl_code == CURLE_OK, "GET %s: curl: %s after %llu bytes", what,
              curl_easy_strerror((CURLcode)r->curl_code), (unsigned long long)r->total);
    IT_EQ(r->total, size);
    IT_CHECKF(memcmp(r->sha, sha, CF_SHA512_LEN) == 0, "GET %s: the body's SHA-512 differs", what);
    IT_CHECK(it_resp_header(r, "Content-Length", hdr, sizeof(hdr)));
    IT_EQ(strtoull(hdr, NULL, 10), size);
    IT_CHECK(it_resp_header(r, "X-Coffer-SHA512", hdr, sizeof(hdr)));
    IT_STREQ(hdr, hex);
    IT_CHECK(it_resp_header(r, "Accept-Ranges", hdr, sizeof(hdr)));
    IT_STREQ(hdr, "bytes");
}

void it_get_ok(struct it_client *c, const struct it_filer *f, const char *path, uint64_t size,
               const uint8_t sha[CF_SHA512_LEN])
{
    char target[IT_PATH_MAX];
    struct it_resp r;

    object_target(target, path);
    it_http(c, f, "GET", target, NULL, &r, NULL);
    it_check_object_reply(&r, path, size, sha);
    it_resp_fini(&r);
}

void it_range_check(const struct it_resp *r, const char *target, uint64_t seed, uint64_t first,
                    uint64_t last, uint64_t size)
{
    char cr[96], want_cr[96];
    uint64_t n = last - first + 1;
    unsigned char *want;

    IT_CHECK(first <= last && last < size && n <= IT_BODY_KEEP);
    want = cf_xmalloc((size_t)n);
    it_prng_fill(seed, first, want, (size_t)n);
    IT_EQ(r->curl_code, 0);
    IT_EQ(r->total, n);
    IT_CHECKF(memcmp(r->body, want, (size_t)n) == 0, "GET %s bytes=%llu-%llu: other bytes", target,
              (unsigned long long)first, (unsigned long long)last);
    IT_CHECK(it_resp_header(r, "Content-Range", cr, sizeof(cr)));
    it_fmt(want_cr, sizeof(want_cr), "bytes %llu-%llu/%llu", (unsigned long long)first,
           (unsigned long long)last, (unsigned long long)size);
    IT_STREQ(cr, want_cr);
    free(want);
}

void it_range_ok(struct it_client *c, const char *base, const char *target, uint64_t seed,
                 uint64_t first, uint64_t last, uint64_t size)
{
    char hdr[96];
    struct it_resp r;

    it_fmt(hdr, sizeof(hdr), "Range: bytes=%llu-%llu", (unsigned long long)first,
           (unsigned long long)last);
    IT_EQ(it_http_to(c, base, "GET", target, NULL, &r, hdr, NULL), 206);
    it_range_check(&r, target, seed, first, last, size);
    it_resp_fini(&r);
}

long it_status_of(struct it_client *c, const struct it_filer *f, const char *method,
                  const char *target)
{
    struct it_resp r;
    long st = it_http(c, f, method, target, NULL, &r, NULL);

    it_resp_fini(&r);
    return st;
}

/* ---- many transfers at once ------------------------------------------------ */

static size_t xfer_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct it_xfer *x = ud;
    size_t n = CURL_READFUNC_PAUSE;

    if (x->pause_at > 0 && x->pause_state == 0 && x->body->gen.pos >= x->pause_at)
        x->pause_state = 1;
    else
        n = on_read(buf, size, nmemb, x->body);
    return n;
}

static size_t xfer_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct it_xfer *x = ud;
    size_t n = CURL_WRITEFUNC_PAUSE; /* libcurl delivers the same bytes again */

    if (x->body == NULL && x->pause_at > 0 && x->pause_state == 0 &&
        x->resp.total + size * nmemb >= x->pause_at)
        x->pause_state = 1;
    else
        n = on_body(p, size, nmemb, &x->resp);
    return n;
}

void it_xfer_init(struct it_xfer *x, const char *base, const char *method, const char *target,
                  struct it_body *body, ...)
{
    va_list ap;
    CURL *e;

    memset(x, 0, sizeof(*x));
    e = curl_easy_init();
    IT_CHECK(e != NULL);
    x->easy = e;
    x->body = body;
    va_start(ap, body);
    x->hdrs = http_prepare(e, base, method, target, body, &x->resp, ap);
    va_end(ap);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, xfer_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    if (body != NULL) {
        curl_easy_setopt(e, CURLOPT_READFUNCTION, xfer_read);
        curl_easy_setopt(e, CURLOPT_READDATA, x);
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
}

void it_xfer_run(struct it_xfer *x, size_t n, it_pause_cb on_pause, void *arg)
{
    uint64_t deadline = it__now_ms() + (uint64_t)IT_XFER_MS * it_multiplier();
    CURLM *m = curl_multi_init();
    size_t left = n;

    IT_CHECK(m != NULL);
    /* Every transfer its own connection, kept until the end. */
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)n + 4);
    for (size_t i = 0; i < n; i++)
        IT_CHECK(curl_multi_add_handle(m, x[i].easy) == CURLM_OK);
    while (left > 0) {
        CURLMsg *msg;
        int running = 0, q;

        IT_CHECK(curl_multi_perform(m, &running) == CURLM_OK);
        for (;;) {
            msg = curl_multi_info_read(m, &q);
            if (msg == NULL)
                break;
            struct it_xfer *t = NULL;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            http_collect(t->easy, &t->resp, msg->data.result);
            t->done = true;
            curl_multi_remove_handle(m, t->easy);
            left--;
        }
        for (size_t i = 0; i < n; i++) {
            if (x[i].pause_state != 1)
                continue;
            x[i].pause_state = 2;
            IT_CHECKF(on_pause != NULL, "transfer %zu paused with no on_pause", i);
            on_pause(&x[i], arg);
            curl_easy_pause(x[i].easy, CURLPAUSE_CONT);
        }
        IT_CHECKF(it__now_ms() < deadline, "%zu of %zu transfers still running after %u ms", left,
                  n, IT_XFER_MS * it_multiplier());
        if (left > 0)
            IT_CHECK(curl_multi_poll(m, NULL, 0, 100, NULL) == CURLM_OK);
    }
    curl_multi_cleanup(m);
}

void it_xfer_fini(struct it_xfer *x)
{
    if (x->easy != NULL)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs);
    it_resp_fini(&x->resp);
    x->easy = NULL;
    x->hdrs = NULL;
}
