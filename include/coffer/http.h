/*
 * http.h -- the HTTP server glue every coffer role uses (libmicrohttpd).
 *
 * Role: one way to start a server (a thread per connection, bounded
 * connection count, header and memory caps, strict parsing), one way to
 * reply (JSON errors from err.h), and one way to stop (drain: stop accepting,
 * let requests in flight finish, then close).
 *
 * The handler contract. cf_http_handler_cb has MHD's access-handler
 * signature. On its first call for a request (*req_cls == NULL) it must
 * queue a reply, call cf_http_refuse, or set *req_cls to its own state; the
 * server counts the request as in flight from that call until MHD reports
 * it complete, when cf_http_done_cb gets the same state (never NULL) and
 * must release it. The first call of a request without a body comes one
 * call late (libmicrohttpd 0.9.75 would close the connection after a reply
 * queued earlier), which the handler does not see.
 * While draining, new requests get 503 without reaching the handler.
 *
 * Authentication (cred.h). With opts.auth set, every request is checked
 * before the handler sees it: the role's classifier (opts.access) says what
 * (method, decoded path) needs, and a request without a valid signature
 * for it gets a 401 JSON error (an admin route signed with the cluster key
 * gets 403), counted in the metrics like every refusal. /metrics needs a
 * signature unless opts.metrics_public. Without opts.auth nothing is
 * checked (the role runs with --insecure-no-auth). A public request that
 * carries a valid signature anyway counts as signed (cf_http_signed), so a
 * public route may tell more to the cluster than to anyone.
 *
 * Metrics (metrics.h). GET and HEAD /metrics are answered by the
 * server itself with cf_metrics_render's text (text/plain; version=0.0.4)
 * and never reach the handler. Every other request, those refused before
 * the handler (503 while draining, 431, 400) included, is counted when MHD
 * reports it complete, under role="<opts.role>":
 *   coffer_http_requests_total{role,method,code}  method GET, HEAD, PUT,
 *       POST, DELETE or OTHER; code the status class "1xx".."5xx", or "none"
 *       if no reply was queued. Errors are the 4xx and 5xx series.
 *   coffer_http_request_seconds{role}  histogram, from the first call for
 *       the request to its completion; one observation per counted request.
 *   coffer_http_request_bytes_total{role}  request body bytes received
 *       (handed to the handler or read and dropped).
 *   coffer_http_response_bytes_total{role}  body bytes of replies queued
 *       through cf_http_reply and the functions built on it (not of HEAD);
 *       responses a handler queues with MHD itself (streamed files) are not
 *       counted, their length being unknown here.
 *   coffer_http_incomplete_total{role}  requests that ended otherwise than
 *       by a complete reply (client gone, timeout, shutdown).
 *   coffer_http_in_flight{role}  gauge of the requests counted in flight.
 * Scrapes of /metrics count in none of these (so a scrape never changes
 * what the next one reads), but do count in cf_http_server_requests and
 * _in_flight, and a drain waits for them.
 *
 * Percent-decoding: URLs and query arguments are decoded, except that "%00"
 * is left as the three bytes "%00" so a NUL can never truncate a path
 * silently; validators then refuse the '%'.
 *
 * Threads: the handler and done callbacks run on connection threads,
 * concurrently. cf_http_server_* functions other than _start/_drain/_free are
 * thread-safe.
 */
#ifndef COFFER_HTTP_H
#define COFFER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>
#include <jansson.h>

#include "coffer/common.h"

typedef enum MHD_Result (*cf_http_handler_cb)(void *cls, struct MHD_Connection *c, const char *url,
                                              const char *method, const char *version,
                                              const char *upload_data, size_t *upload_data_size,
                                              void **req_cls);
typedef void (*cf_http_done_cb)(void *cls, struct MHD_Connection *c, void *req_state,
                                enum MHD_RequestTerminationCode why);

struct cf_http_server;
struct cf_cred;

/* What (method, url) needs: a value of enum cf_access (cred.h). url is the
 * decoded path without the query. Called on connection threads. */
typedef int (*cf_http_access_cb)(void *cls, const char *method, const char *url);

struct cf_http_server_opts {
    int listen_fd;              /* taken: closed by cf_http_server_free */
    cf_http_handler_cb handler; /* required */
    cf_http_done_cb done;       /* may be NULL if the handler never sets state */
    void *cls;                  /* passed to both; kept until cf_http_server_free */
    unsigned conn_limit;        /* 0: CF_HTTP_CONN_MAX */
    const char *role;           /* metrics label (kept: a static word); NULL: "unknown" */
    struct cf_cred *auth;       /* kept until cf_http_server_free; NULL: nothing is checked */
    cf_http_access_cb access;   /* NULL: every request needs CF_ACCESS_INTERNAL */
    bool metrics_public;        /* /metrics without a signature */
};

/* Start serving on opts->listen_fd. On success *out is the server (caller
 * owns; release with cf_http_server_free). Returns 0 or CF_EIO with a reason
 * in err (may be NULL); on failure listen_fd is closed. */
CF_MUST_CHECK int cf_http_server_start(const struct cf_http_server_opts *opts,
                                       struct cf_http_server **out, char *err);

/* Stop accepting, wait up to timeout_s for requests in flight, then close
 * every connection. Idempotent. */
void cf_http_server_drain(struct cf_http_server *s, unsigned timeout_s);

/* Stop (draining with timeout 0 if not done) and release. NULL is a no-op. */
void cf_http_server_free(struct cf_http_server *s);

/* Requests seen since start, and requests in flight now. */
uint64_t cf_http_server_requests(const struct cf_http_server *s);
uint64_t cf_http_server_in_flight(const struct cf_http_server *s);

/* Queue a reply with a copy of body (len bytes; may be NULL if len == 0) and
 * optional extra headers as a NULL-terminated array of name, value pairs
 * (borrowed). Returns MHD's result. */
enum MHD_Result cf_http_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                              const char *body, size_t len, const char *const *headers);

/* Queue j as the JSON body (takes ownership of the reference j). */
enum MHD_Result cf_http_reply_json(struct MHD_Connection *c, unsigned status, json_t *j);

/* Queue {"error":"<NAME>","message":"<strerror>: <detail>"} with err's HTTP
 * status. fmt may be NULL for no detail. A reply queued before the request's
 * body was read closes the connection afterwards (libmicrohttpd does so). */
enum MHD_Result cf_http_reply_error(struct MHD_Connection *c, int err, const char *fmt, ...)
    CF_PRINTF(3, 4);

/* Refuse a request from the handler's first call (req_cls as given to the
 * handler, which must leave *req_cls NULL): the reply is
 * cf_http_reply_error(err, fmt...), sent at once for a request without a body
 * or with one over CF_HTTP_DISCARD_MAX bytes (chunked counts as over; the
 * connection then closes), or after the body was read and dropped, so a
 * client still sending reads the reason instead of a reset. Returns what the
 * handler should return. */
enum MHD_Result cf_http_refuse(struct MHD_Connection *c, void **req_cls, int err, const char *fmt,
                               ...) CF_PRINTF(4, 5);

/* Whether the request whose handler runs on this thread carried a valid
 * signature, or the server checks none (no opts.auth). For the handler
 * only (false elsewhere). */
bool cf_http_signed(void);

/* A request header's value, or NULL (valid until the request completes). */
const char *cf_http_header(struct MHD_Connection *c, const char *name);

/* A query argument's decoded value, or NULL (valid until the request completes). */
const char *cf_http_query(struct MHD_Connection *c, const char *name);

#endif
