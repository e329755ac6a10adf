/*
 * it_metrics.c -- GET /metrics on real processes (metrics.h,
 * http.h): the text is valid exposition format 0.0.4 (every sample line
 * `name{labels} value` or `name value`, one HELP and one TYPE line per
 * family, every sample under a typed family); the request counters of the
 * right role move by exactly the requests made, by method and status class,
 * as do the latency histogram's _count and the request and reply body
 * bytes; scrapes themselves are counted nowhere, so two scrapes in a row
 * read the same numbers; HEAD /metrics works and POST /metrics goes to the
 * role like any request.
 *
 * Exactness needs a server nobody else talks to: a filer of its own (an
 * app polls its filers), the app and objsrv of a cluster (nothing polls
 * them). A request is counted when the server sees it complete, which may
 * come just after the client has the reply, so each case waits (bounded)
 * for the counts and then checks that they are exact.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define NAME_MAX_LEN 128
#define FAMILIES_MAX 256

enum { M_GET, M_HEAD, M_PUT, M_POST, M_DELETE, M_OTHER, M_N };
static const char *const methods[M_N] = {"GET", "HEAD", "PUT", "POST", "DELETE", "OTHER"};
static const char *const codes[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

/* What a case did to one server, to compare with its counters. */
struct tally {
    const char *base;
    const char *role;
    unsigned n[M_N][6]; /* requests by method class and status class */
    unsigned total;
    uint64_t req_bytes;  /* request body bytes sent */
    uint64_t resp_bytes; /* reply body bytes the server counts (see http.h) */
};

static unsigned method_of(const char *m)
{
    for (unsigned i = 0; i < M_OTHER; i++)
        if (strcmp(m, methods[i]) == 0)
            return i;
    return M_OTHER;
}

static void tally_add(struct tally *t, const char *method, long status)
{
    unsigned code = (unsigned)(status / 100);

    IT_CHECKF(code >= 1 && code <= 5, "status %ld", status);
    t->n[method_of(method)][code]++;
    t->total++;
}

/* Where the server counts a reply body: everything but the objects a
 * handler streams itself (http.h); HEAD replies carry none. */
static long tally_req(struct tally *t, struct it_client *cl, const char *method, const char *target,
                      struct it_body *body, bool streamed)
{
    struct it_resp r;
    long st = it_http_to(cl, t->base, method, target, body, &r, NULL);

    IT_EQ(r.curl_code, 0);
    tally_add(t, method, st);
    if (body != NULL)
        t->req_bytes += body->gen.size;
    if (!streamed)
        t->resp_bytes += r.total;
    it_resp_fini(&r);
    return st;
}

/* ---- the text format ------------------------------------------------------- */

struct family {
    char name[NAME_MAX_LEN];
    char type[16];
    bool help;
};

static struct family *family_find(struct family *fam, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fam[i].name, name) == 0)
            return &fam[i];
    return NULL;
}

static bool is_name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* The family a sample of this name belongs to: its own, or for _bucket,
 * _sum and _count that of a histogram. */
static bool sample_typed(struct family *fam, size_t n, const char *name)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    size_t len = strlen(name);

    if (family_find(fam, n, name) != NULL)
        return true;
    for (size_t i = 0; i < CF_ARRAY_LEN(suffixes); i++) {
        size_t sl = strlen(suffixes[i]);
        char base[NAME_MAX_LEN];
        struct family *f;
        if (len <= sl || strcmp(name + len - sl, suffixes[i]) != 0)
            continue;
        memcpy(base, name, len - sl);
        base[len - sl] = '\0';
        f = family_find(fam, n, base);
        if (f != NULL && strcmp(f->type, "histogram") == 0)
            return true;
    }
    return false;
}

/* Fail the case unless text is valid exposition format as described above. */
static void check_format(const char *text)
{
    static struct family fam[FAMILIES_MAX];
    size_t nfam = 0, nsamples = 0;
    const char *p = text;

    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        char line[1024], name[NAME_MAX_LEN], *q, *end;
        size_t len;

        IT_CHECKF(eol != NULL, "last line not terminated: %s", p);
        len = (size_t)(eol - p);
        IT_CHECK(len > 0 && len < sizeof(line));
        memcpy(line, p, len);
        line[len] = '\0';
        p = eol + 1;
        if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
            char type[16] = "";
            bool help = line[2] == 'H';
            struct family *f;
            int k =
                help ? sscanf(line + 7, "%127s", name) : sscanf(line + 7, "%127s %15s", name, type);
            IT_EQ(k, help ? 1 : 2);
            f = family_find(fam, nfam, name);
            if (f == NULL) {
                IT_CHECK(nfam < FAMILIES_MAX);
                f = &fam[nfam++];
                memset(f, 0, sizeof(*f));
                it_fmt(f->name, sizeof(f->name), "%s", name);
            }
            if (help) {
                IT_CHECKF(!f->help, "two HELP lines for %s", name);
                f->help = true;
            } else {
                IT_CHECKF(f->type[0] == '\0', "two TYPE lines for %s", name);
                IT_CHECKF(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                              strcmp(type, "histogram") == 0,
                          "TYPE %s", type);
                it_fmt(f->type, sizeof(f->type), "%s", type);
            }
            continue;
        }
        IT_CHECKF(line[0] != '#', "comment line: %s", line);
        /* name, optional {labels}, one space, a number, nothing else */
        q = line;
        while (is_name_char(*q, q == line))
            q++;
        IT_CHECKF(q > line && (size_t)(q - line) < sizeof(name), "sample name: %s", line);
        memcpy(name, line, (size_t)(q - line));
        name[q - line] = '\0';
        if (*q == '{') {
            q = strchr(q, '}');
            IT_CHECKF(q != NULL, "labels not closed: %s", line);
            q++;
        }
        IT_CHECKF(*q == ' ', "no value: %s", line);
        q++;
        if (strcmp(q, "+Inf") != 0 && strcmp(q, "-Inf") != 0 && strcmp(q, "NaN") != 0) {
            (void)strtod(q, &end);
            IT_CHECKF(end != q && *end == '\0', "value: %s", line);
        }
        IT_CHECKF(sample_typed(fam, nfam, name), "sample without a TYPE line: %s", line);
        nsamples++;
    }
    for (size_t i = 0; i < nfam; i++)
        IT_CHECKF(fam[i].type[0] != '\0' && fam[i].help, "family %s lacks HELP or TYPE",
                  fam[i].name);
    IT_CHECK(nsamples > 0);
}

/* GET /metrics from base, checked; caller frees the text. */
static char *scrape(const char *base)
{
    struct it_resp r;
    char ctype[64];
    char *text;

    IT_EQ(it_http_to(NULL, base, "GET", "/metrics", NULL, &r, NULL), 200);
    IT_EQ(r.curl_code, 0);
    IT_CHECK(it_resp_header(&r, "Content-Type", ctype, sizeof(ctype)));
    IT_STREQ(ctype, "text/plain; version=0.0.4");
    IT_EQ(r.body_len, r.total);
    text = cf_xstrdup(r.body ? r.body : "");
    it_resp_fini(&r);
    check_format(text);
    return text;
}

/* The sum of the samples named name whose label text holds each of the
 * NULL-terminated k="v" pieces. */
static uint64_t sum_of(const char *text, const char *name, ...) __attribute__((sentinel));

static uint64_t sum_of(const char *text, const char *name, ...)
{
    size_t n = strlen(name);
    uint64_t sum = 0;

    for (const char *p = text; *p != '\0';) {
        const char *eol = strchr(p, '\n');
        char line[1024];
        size_t len = (size_t)(eol - p);

        memcpy(line, p, len);
        line[len] = '\0';
        p = eol + 1;
        if (strncmp(line, name, n) == 0 && (line[n] == '{' || line[n] == ' ')) {
            bool match = true;
            const char *want;
            va_list ap;
            va_start(ap, name);
            for (want = va_arg(ap, const char *); want != NULL; want = va_arg(ap, const char *))
                if (strstr(line, want) == NULL || strchr(line, ' ') < strstr(line, want))
                    match = false;
            va_end(ap);
            if (match)
                sum += strtoull(strrchr(line, ' ') + 1, NULL, 10);
        }
    }
    return sum;
}

/* ---- counting ----------------------------------------------------------------- */

struct counts {
    uint64_t n[M_N][6];
    uint64_t total, hist_count, hist_inf, req_bytes, resp_bytes, in_flight, incomplete;
};

static void counts_of(const char *text, const char *role, struct counts *c)
{
    char rl[64], ml[32], cl[32];

    it_fmt(rl, sizeof(rl), "role=\"%s\"", role);
    memset(c, 0, sizeof(*c));
    for (unsigned m = 0; m < M_N; m++) {
        it_fmt(ml, sizeof(ml), "method=\"%s\"", methods[m]);
        for (unsigned k = 0; k < 6; k++) {
            it_fmt(cl, sizeof(cl), "code=\"%s\"", codes[k]);
            c->n[m][k] = sum_of(text, "coffer_http_requests_total", rl, ml, cl, NULL);
            c->total += c->n[m][k];
        }
    }
    c->hist_count = sum_of(text, "coffer_http_request_seconds_count", rl, NULL);
    c->hist_inf = sum_of(text, "coffer_http_request_seconds_bucket", rl, "le=\"+Inf\"", NULL);
    c->req_bytes = sum_of(text, "coffer_http_request_bytes_total", rl, NULL);
    c->resp_bytes = sum_of(text, "coffer_http_response_bytes_total", rl, NULL);
    c->in_flight = sum_of(text, "coffer_http_in_flight", rl, NULL);
    c->incomplete = sum_of(text, "coffer_http_incomplete_total", rl, NULL);
}

struct settle {
    const struct tally *t;
    const struct counts *before;
};

/* Every request made has been counted, in the counter and the histogram. */
static bool settled(void *arg)
{
    const struct settle *s = arg;
    struct counts now;
    char *text = scrape(s->t->base);

    counts_of(text, s->t->role, &now);
    free(text);
    return now.total == s->before->total + s->t->total &&
           now.hist_count == s->before->hist_count + s->t->total && now.in_flight == 0;
}

/* Wait for the counts to settle, then check every one exactly; a second
 * scrape right after reads the same (scrapes count nowhere). */
static void check_tally(const struct tally *t, const struct counts *before)
{
    struct settle s = {t, before};
    struct counts now, again;
    char *text;

    IT_CHECKF(it_wait_for(settled, &s, 100, 50), "%s: the counts never reached +%u", t->role,
              t->total);
    text = scrape(t->base);
    counts_of(text, t->role, &now);
    free(text);
    for (unsigned m = 0; m < M_N; m++)
        for (unsigned k = 0; k < 6; k++)
            IT_CHECKF(now.n[m][k] == before->n[m][k] + t->n[m][k],
                      "%s %s %s: %llu requests counted, %llu before, %u made", t->role, methods[m],
                      codes[k], (unsigned long long)now.n[m][k],
                      (unsigned long long)before->n[m][k], t->n[m][k]);
    IT_EQ(now.hist_count - before->hist_count, t->total);
    IT_EQ(now.hist_inf, now.hist_count);
    IT_EQ(now.req_bytes - before->req_bytes, t->req_bytes);
    IT_EQ(now.resp_bytes - before->resp_bytes, t->resp_bytes);
    IT_EQ(now.in_flight, 0);
    IT_EQ(now.incomplete, before->incomplete);

    text = scrape(t->base);
    counts_of(text, t->role, &again);
    free(text);
    IT_CHECK(memcmp(&now, &again, sizeof(now)) == 0);
}

/* HEAD /metrics: the headers, no body, and not counted either. */
static void check_head(const char *base)
{
    struct it_resp r;
    char ctype[64];

    IT_EQ(it_http_to(NULL, base, "HEAD", "/metrics", NULL, &r, NULL), 200);
    IT_EQ(r.total, 0);
    IT_CHECK(it_resp_header(&r, "Content-Type", ctype, sizeof(ctype)));
    IT_STREQ(ctype, "text/plain; version=0.0.4");
    it_resp_fini(&r);
}

/* ---- cases ---------------------------------------------------------------------- */

/* A filer of its own: PUTs (Content-Length and chunked), GETs, HEAD, 404s,
 * a bad path, POST /metrics (the filer's, not the server's), and a request
 * refused before the handler (two Content-Length headers). */
static void t_filer(void *arg)
{
    static const uint64_t sizes[] = {1000, 0, 70000};
    struct it_filer f;
    struct it_client cl;
    struct tally t = {.role = "filer"};
    struct counts before;
    char target[64], raw[4096], *text;
    const char *body;
    long st;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, NULL);
    t.base = f.base;
    it_client_init(&cl);
    check_head(f.base);
    text = scrape(f.base);
    counts_of(text, "filer", &before);
    /* The filer's own series exist, at zero, before its first request. */
    IT_CHECK(strstr(text, "coffer_http_requests_total{role=\"filer\",method=\"GET\",code=\"2xx\"} "
                          "0\n") != NULL);
    IT_EQ(before.total, 0);
    free(text);

    for (size_t i = 0; i < CF_ARRAY_LEN(sizes); i++) {
        struct it_body b = {.chunked = i == 2};
        it_fmt(target, sizeof(target), "/o/m/obj%zu", i);
        it_gen_init(&b.gen, 40 + i, sizes[i]);
        IT_EQ(tally_req(&t, &cl, "PUT", target, &b, false), 201);
        it_gen_fini(&b.gen);
    }
    IT_EQ(tally_req(&t, &cl, "GET", "/o/m/obj0", NULL, true), 200);
    IT_EQ(tally_req(&t, &cl, "GET", "/o/m/obj2", NULL, true), 200);
    IT_EQ(tally_req(&t, &cl, "HEAD", "/o/m/obj2", NULL, true), 200);
    IT_EQ(tally_req(&t, &cl, "GET", "/o/m/missing", NULL, false), 404);
    IT_EQ(tally_req(&t, NULL, "GET", "/o/m/missing2", NULL, false), 404);
    st = tally_req(&t, &cl, "GET", "/o/m/%2e%2e/x", NULL, false);
    IT_CHECKF(st >= 400 && st < 500, "bad path: %ld", st);
    st = tally_req(&t, &cl, "POST", "/metrics", NULL, false);
    IT_CHECKF(st >= 400 && st < 500, "POST /metrics: %ld", st);

    /* Refused by the server before the filer's handler sees it. */
    static const char dup[] = "GET /o/m/obj0 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                              "Content-Length: 0\r\n\r\n";
    st = it_raw_exchange(&f, dup, sizeof(dup) - 1, raw, sizeof(raw));
    IT_EQ(st, 400);
    tally_add(&t, "GET", st);
    body = strstr(raw, "\r\n\r\n");
    IT_CHECK(body != NULL);
    t.resp_bytes += strlen(body + 4);

    check_tally(&t, &before);
    check_head(f.base);
    it_client_fini(&cl);
    it_filer_stop_ok(&f);
}

/* A cluster: the app's and objsrv's counters move by exactly what the case
 * sends them (objsrv asks the app about objects, so the app is checked
 * before objsrv is used); the filers, polled by the app, serve valid text
 * with their role's series. */
static void t_cluster(void *arg)
{
    struct it_cluster c;
    struct it_client cl;
    struct tally app = {.role = "app"}, os = {.role = "objsrv"};
    struct counts app0, os0;
    struct it_record rec[2];
    char target[128], *text;

    (void)arg;
    it_cluster_start(&c, 2, NULL, 0, 3);
    it_client_init(&cl);
    app.base = c.app.base;
    os.base = c.objsrv.base;
    text = scrape(c.app.base);
    counts_of(text, "app", &app0);
    free(text);
    text = scrape(c.objsrv.base);
    counts_of(text, "objsrv", &os0);
    free(text);

    for (size_t i = 0; i < CF_ARRAY_LEN(rec); i++) {
        struct it_body b = {.chunked = i == 1};
        struct it_resp r;
        uint8_t sha[CF_SHA512_LEN];
        it_prng_sha512(70 + i, 5000 + i, sha);
        it_gen_init(&b.gen, 70 + i, 5000 + i);
        IT_EQ(it_http_to(&cl, c.app.base, "POST", "/v1/objects", &b, &r, NULL), 201);
        tally_add(&app, "POST", r.status);
        app.req_bytes += b.gen.size;
        app.resp_bytes += r.total;
        it_check_upload_reply(&r, b.gen.size, sha, 0, &rec[i]);
        it_resp_fini(&r);
        it_gen_fini(&b.gen);
    }
    it_fmt(target, sizeof(target), "/v1/objects/%s/info", rec[0].uuid);
    IT_EQ(tally_req(&app, &cl, "GET", target, NULL, false), 200);
    /* Well-formed but unknown: the object id of rec[0] with other random bits. */
    it_fmt(target, sizeof(target), "/v1/objects/%.35s%c/info", rec[0].uuid,
           rec[0].uuid[35] == '0' ? '1' : '0');
    IT_EQ(tally_req(&app, &cl, "GET", target, NULL, false), 404);
    IT_EQ(tally_req(&app, &cl, "GET", "/v1/objects/not-a-uuid/info", NULL, false), 400);
    IT_EQ(tally_req(&app, &cl, "PUT", "/v1/objects", NULL, false), 405);
    IT_EQ(tally_req(&app, &cl, "GET", "/status", NULL, false), 200);
    check_tally(&app, &app0);

    /* objsrv: downloads (streamed, so no reply bytes counted) and a 404. */
    it_fmt(target, sizeof(target), "/v1/objects/%s", rec[1].uuid);
    IT_EQ(tally_req(&os, &cl, "GET", target, NULL, true), 200);
    IT_EQ(tally_req(&os, &cl, "HEAD", target, NULL, true), 200);
    IT_EQ(tally_req(&os, &cl, "GET", "/nothing-here", NULL, false), 404);
    check_tally(&os, &os0);
    check_head(c.objsrv.base);

    for (size_t i = 0; i < c.n; i++) {
        text = scrape(c.f[i].base);
        IT_CHECK(strstr(text, "coffer_http_requests_total{role=\"filer\",") != NULL);
        free(text);
    }
    it_client_fini(&cl);
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"filer", t_filer, NULL, 30},
        {"cluster", t_cluster, NULL, 60},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
