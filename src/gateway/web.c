/*
 * web.c -- the web page: the embedded files of web/ served with their types,
 * a Content-Security-Policy and revalidated caching (web.h).
 */
#include "web.h"

#include <string.h>

#include "coffer/err.h"
#include "coffer/http.h"

#define UI "/ui"

/* Everything from the gateway's own origin, nothing inline, no plugins, no
 * framing; the page's forms post nowhere (it sends JSON with fetch). */
#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "        \
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "               \
    "frame-ancestors 'none'"

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".json", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
};

bool cf__web_owns(const char *url)
{
    size_t n = strlen(UI);

    return strcmp(url, "/") == 0 || (strncmp(url, UI, n) == 0 && (url[n] == '\0' || url[n] == '/'));
}

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static const struct cf__web_asset *find(const char *name)
{
    for (size_t i = 0; i < cf__web_nassets; i++)
        if (strcmp(cf__web_assets[i].name, name) == 0)
            return &cf__web_assets[i];
    return NULL;
}

/* Whether an If-None-Match header names etag (or is "*"). */
static bool matches(const char *inm, const char *etag)
{
    return inm != NULL && (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL);
}

enum MHD_Result cf__web_serve(struct MHD_Connection *c, const char *method, const char *url,
                              void **req_cls)
{
    const struct cf__web_asset *a;
    const char *name = "index.html";
    size_t n = strlen(UI);

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return cf_http_refuse(c, req_cls, CF_EMETHOD, "the web page takes GET and HEAD");
    /* "/", "/ui" and "/ui/" are the page; "/ui/NAME" one of its files. */
    if (strncmp(url, UI "/", n + 1) == 0 && url[n + 1] != '\0')
        name = url + n + 1;
    a = find(name);
    if (a == NULL)
        return cf_http_refuse(c, req_cls, CF_ENOTFOUND, "the web page has no file \"%.100s\"",
                              name);
    {
        const char *hdrs[] = {"Content-Security-Policy",
                              CSP,
                              "X-Content-Type-Options",
                              "nosniff",
                              "Referrer-Policy",
                              "no-referrer",
                              "X-Frame-Options",
                              "DENY",
                              MHD_HTTP_HEADER_CACHE_CONTROL,
                              "no-cache",
                              MHD_HTTP_HEADER_ETAG,
                              a->etag,
                              NULL};
        if (matches(cf_http_header(c, MHD_HTTP_HEADER_IF_NONE_MATCH), a->etag))
            return cf_http_reply(c, MHD_HTTP_NOT_MODIFIED, NULL, NULL, 0, hdrs);
        return cf_http_reply(c, MHD_HTTP_OK, type_of(name), (const char *)a->data, a->len, hdrs);
    }
}
