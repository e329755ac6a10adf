/*
 * web.h -- private to src/gateway: the web page the gateway serves.
 *
 * Role: the files of web/ (HTML, CSS, JavaScript modules), embedded into the
 * binary at build time (cmake/embed.cmake writes cf__web_assets[]), served
 * at GET and HEAD / (index.html) and /ui/NAME (the file NAME). The page
 * itself talks to the gateway's JSON API with the bearer token it got at
 * login; serving it needs no token.
 *
 * Every reply carries its Content-Type (from the name's extension), a
 * Content-Security-Policy allowing scripts, styles, images and connections
 * from the gateway's own origin only (no inline script, no framing),
 * X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer, an ETag
 * (of the file's bytes) and Cache-Control: no-cache, so a browser keeps a
 * copy and asks again each time with If-None-Match (304 while unchanged, the
 * new bytes after an upgrade of the binary). Other methods get 405, other
 * names under /ui/ 404.
 *
 * Threads: the table is constant; the functions may be called from any
 * thread at once.
 */
#ifndef COFFER_GATEWAY_WEB_H
#define COFFER_GATEWAY_WEB_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

struct cf__web_asset {
    const char *name; /* relative to web/, e.g. "app.js" */
    const unsigned char *data;
    size_t len;
    const char *etag; /* quoted, as sent */
};

/* Written by cmake/embed.cmake, sorted by name. */
extern const struct cf__web_asset cf__web_assets[];
extern const size_t cf__web_nassets;

/* Whether url (the request's path, without the query) is the page's: "/",
 * "/ui" or anything under "/ui/". */
bool cf__web_owns(const char *url);

/* Answer a request for which cf__web_owns(url) is true; req_cls as given to
 * the handler on its first call (left NULL; a body is read and dropped).
 * Returns what the handler should return. */
enum MHD_Result cf__web_serve(struct MHD_Connection *c, const char *method, const char *url,
                              void **req_cls);

#endif
