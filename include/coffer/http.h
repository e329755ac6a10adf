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
 * Slow clients (struct cf_http_limits). A connection thread is a scarce
 * thing, so no client may hold one by sending slowly:
 *   - the request line and headers must arrive in full within head_timeout_ms
 *     of the connection's start (on a kept-alive connection, within
 *     idle_timeout_s + head_timeout_ms of the previous request's end);
 *   - a connection with nothing to read or write for idle_timeout_s closes;
 *   - a request body must arrive at min_rate bytes per second at least,
 *     measured over each rate_window_ms of time spent waiting for the client
 *     (time the handler itself takes, e.g. pushing bytes on, is not counted);
 *   - one source address holds at most per_ip_limit connections; more are
 *     closed at once, without a reply. Sources in per_ip_exempt are not
 *     limited (only the total conn_limit holds for them), and a connection
 *     stops counting once a request on it carries a valid signature (an
 *     internal role's, or the operator's; with opts.auth only).
 * A watchdog thread enforces the first and third by shutting the socket
 * down: the handler then sees its request end with a termination code other
 * than COMPLETED_OK in cf_http_done_cb (an upload is thus aborted as when
 * the client goes away), and coffer_http_slow_closed_total{role,phase}
 * (phase "head" or "body") counts it.
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
#include "coffer/conf.h"
#include "coffer/limits.h"

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

/* Defaults of struct cf_http_limits (a 0 field takes its default). */
#define CF_HTTP_HEAD_TIMEOUT_MS 10000u
#define CF_HTTP_IDLE_S          30u
#define CF_HTTP_MIN_RATE        (8u * 1024u)
#define CF_HTTP_RATE_WINDOW_MS  10000u
#define CF_HTTP_PER_IP_LIMIT    256u

/* The slow-client limits above; every role's configuration table carries
 * them (CF_HTTP_LIMITS_CONF_OPTS) in a member named `http`. */
struct cf_http_limits {
    uint64_t head_timeout_ms; /* request line + headers, in full */
    uint64_t idle_timeout_s;  /* nothing read or written */
    uint64_t min_rate;        /* request body bytes per second, at least */
    uint64_t rate_window_ms;  /* the window min_rate is measured over */
    uint64_t per_ip_limit;    /* connections per source address */
    /* Comma-separated addresses and networks ("10.77.0.5", "10.77.0.0/24",
     * "fd00::/8") whose connections per_ip_limit does not limit: a load
     * balancer's, from which every client's connections come. NULL or "":
     * none. Owned by the role's configuration (cf_conf_fini frees it);
     * borrowed by cf_http_server_start, which parses it. */
    char *per_ip_exempt;
};

/* The entries of a role's cf_conf_opt table for its `struct cf_http_limits
 * http` member; conf_type is the role's configuration struct. */
/* clang-format off */
#define CF_HTTP_LIMITS_CONF_OPTS(conf_type)                                                        \
    {"http-head-timeout-ms", CF_CONF_U64, "10000", 100, 3600000,                                   \
     offsetof(conf_type, http.head_timeout_ms),                                                    \
     "milliseconds a client has to send a request line and headers in full", false},               \
    {"http-idle-timeout-s", CF_CONF_U64, "30", 1, 86400,                                           \
     offsetof(conf_type, http.idle_timeout_s),                                                     \
     "seconds a connection may send and receive nothing before it closes", false},                 \
    {"http-min-rate", CF_CONF_SIZE, "8K", 1, 1024ull * 1024 * 1024,                                \
     offsetof(conf_type, http.min_rate),                                                           \
     "bytes per second a request body must arrive at, at least (K, M suffixes)", false},           \
    {"http-rate-window-ms", CF_CONF_U64, "10000", 100, 3600000,                                    \
     offsetof(conf_type, http.rate_window_ms),                                                     \
     "milliseconds over which http-min-rate is measured", false},                                 \
    {"http-per-ip-limit", CF_CONF_U64, "256", 1, CF_HTTP_CONN_MAX,                                 \
     offsetof(conf_type, http.per_ip_limit), "connections one source address may hold", false},   \
    {"http-per-ip-exempt", CF_CONF_LIST, NULL, 0, 0, offsetof(conf_type, http.per_ip_exempt),     \
     "ADDR[/PREFIX] sources (a load balancer's) http-per-ip-limit does not apply to", false}
/* clang-format on */

/* Copy src's limits into dst, which gets its own copy of per_ip_exempt
 * (dst's old one is freed): for a configuration handed on to another
 * role's (coffer server), each freed by its own cf_conf_fini. */
void cf_http_limits_copy(struct cf_http_limits *dst, const struct cf_http_limits *src);

struct cf_http_server_opts {
    int listen_fd;              /* taken: closed by cf_http_server_free */
    cf_http_handler_cb handler; /* required */
    cf_http_done_cb done;       /* may be NULL if the handler never sets state */
    void *cls;                  /* passed to both; kept until cf_http_server_free */
    unsigned conn_limit;        /* 0: CF_HTTP_CONN_MAX */
    /* Each connection's memory pool (limits.h CF_HTTP_CONN_MEMORY has what
     * it holds): it must leave room to spare around a CF_HTTP_HEADER_MAX
     * header block, or such headers get libmicrohttpd's 431 instead of
     * being served. 0: CF_HTTP_CONN_MEMORY. */
    size_t conn_memory;
    const char *role; /* metrics label (kept: a static word); NULL: "unknown" */
    /* HTTPS: PEM files of the certificate (chain) and its private key
     * (borrowed; read and checked by cf_http_server_start, tls.h). Both
     * NULL: plain HTTP. One without the other is an error. */
    const char *tls_cert;
    const char *tls_key;
    struct cf_http_limits limits; /* slow clients; a 0 field takes its default */
    struct cf_cred *auth;         /* kept until cf_http_server_free; NULL: nothing is checked */
    cf_http_access_cb access;     /* NULL: every request needs CF_ACCESS_INTERNAL */
    bool metrics_public;          /* /metrics without a signature */
    /* Signed requests must name this server in their Host header, so that
     * one signed for another server is refused (401 "signed for another
     * server") instead of replayed here. Its own names: any host with the
     * listening port when it listens on a wildcard or loopback address,
     * else that address and port ("10.0.0.5:7001", "[fd00::5]:7001"); a
     * Host without a port means the scheme's (80, 443). Plus each entry of
     * this comma-separated list of HOST[:PORT] (borrowed; copied at start;
     * NULL or "": none), which a Host must equal (case-insensitive). */
    const char *authorities;
};

/* Start serving on opts->listen_fd, over TLS when opts->tls_cert is set
 * (libmicrohttpd's GnuTLS, TLS 1.2 and 1.3 only; the same threads, limits
 * and timeouts as plain HTTP; a client that speaks plain HTTP to it gets no
 * reply). On success
 * *out is the server (caller owns; release with cf_http_server_free).
 * Returns 0; CF_EINVAL (one of tls_cert and tls_key without the other, or
 * files cf_tls_load_pair refuses: unreadable, not PEM, a key not the
 * certificate's, expired; a malformed authorities list or
 * limits.per_ip_exempt) or CF_EIO
 * (libmicrohttpd without TLS support, or refusing its options), with a
 * reason in err (may be NULL); on failure listen_fd is closed. */
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
 * status, and "Retry-After: 1" when that status is 503 (a passing state:
 * a database reconnecting, a pool full). fmt may be NULL for no detail. A reply queued before the
 * request's body was read closes the connection afterwards (libmicrohttpd does so). */
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

/* Room for a client address in text (IPv6 included). */
#define CF_HTTP_ADDR_LEN 64

/* The client's source address as text ("127.0.0.1", "::1") into out (cap
 * bytes, at least CF_HTTP_ADDR_LEN); "?" if MHD does not know it. */
void cf_http_client_addr(struct MHD_Connection *c, char *out, size_t cap);
/* Whether the request whose handler runs on this thread carried a valid
 * signature, or the server checks none (no opts.auth). For the handler
 * only (false elsewhere). */
bool cf_http_signed(void);

/* Whether the request whose handler runs on this thread is a HEAD (whose
 * reply carries no body). For the handler only (false elsewhere). */
bool cf_http_is_head(void);

/* A request header's value, or NULL (valid until the request completes). */
const char *cf_http_header(struct MHD_Connection *c, const char *name);

/* A query argument's decoded value, or NULL (valid until the request completes). */
const char *cf_http_query(struct MHD_Connection *c, const char *name);

#endif
