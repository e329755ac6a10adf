/*
 * http.c -- HTTP server glue on libmicrohttpd (http.h).
 */
#include "coffer/http.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coffer/buf.h"
#include "coffer/cred.h"
#include "coffer/err.h"
#include "coffer/hex.h"
#include "coffer/limits.h"
#include "coffer/log.h"
#include "coffer/metrics.h"
#include "coffer/tls.h"

/* ---- metrics: per-server series, looked up once at start ---- */

/* The cap on the text of one scrape: a few hundred series take ~50 KiB. */
#define METRICS_TEXT_MAX (4 * 1024 * 1024)

enum method_class { M_GET, M_HEAD, M_PUT, M_POST, M_DELETE, M_OTHER, M_NCLASSES };
static const char *const method_names[M_NCLASSES] = {"GET",  "HEAD",   "PUT",
                                                     "POST", "DELETE", "OTHER"};
/* Index: status / 100, 0 for no reply queued. */
static const char *const code_names[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

struct http_metrics {
    struct cf_metric *requests[M_NCLASSES][6];
    struct cf_metric *seconds;
    struct cf_metric *req_bytes;
    struct cf_metric *resp_bytes;
    struct cf_metric *incomplete;
    struct cf_metric *in_flight;
    struct cf_metric *slow_head, *slow_body;
};
/* ---- end metrics ---- */

/* Where a connection stands, for the watchdog (http.h, slow clients). */
enum conn_phase {
    P_HEAD, /* waiting for a request line and headers */
    P_BODY, /* reading a request body */
    P_BUSY, /* the handler's or the reply's time: no deadline of ours */
};

/* One open connection, from MHD's STARTED notification to its CLOSED one
 * (its socket context). Fields below `fd` are guarded by the server's mu. */
struct conn {
    struct conn *prev, *next;
    int fd; /* MHD's socket: MHD closes it only after the CLOSED notification */
    char addr[CF_HTTP_ADDR_LEN];
    enum conn_phase phase;
    uint64_t since_ns;    /* the phase's start */
    uint64_t allow_ns;    /* P_HEAD: its deadline, from since_ns */
    uint64_t bytes;       /* P_BODY: body bytes so far */
    uint64_t handler_ns;  /* P_BODY: time spent in the handler so far */
    uint64_t in_since_ns; /* the handler runs since then; 0: it does not */
    uint64_t chk_wait_ns; /* P_BODY: waiting time at the last rate check */
    uint64_t chk_bytes;   /* P_BODY: bytes at the last rate check */
    bool killed;
    bool internal; /* a request on it carried a valid signature: not counted per address */
};

/* An entry of the per-address limit's exempt list: the first prefix bits
 * of addr (4 bytes for AF_INET, 16 for AF_INET6). */
struct netmask {
    int family;
    uint8_t addr[16];
    unsigned prefix;
};

struct cf_http_server {
    struct MHD_Daemon *d;
    struct cf_http_server_opts opts;
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t in_flight;
    atomic_bool draining;
    bool stopped;
    struct http_metrics m;
    /* The PEM text libmicrohttpd serves with; kept for the daemon's life. */
    char *tls_cert;
    char *tls_key;
    /* Slow clients: the limits in ns, the open connections, the watchdog. */
    uint64_t head_ns, idle_ns, window_ns, min_rate;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct conn *conns; /* guarded by mu */
    bool wd_stop;       /* guarded by mu */
    bool wd_started;
    pthread_t wd;
    /* The Host values a signed request may name (http.h authorities),
     * fixed at start: the listening port, with any host (own_any) or only
     * own_host; and the extra list, validated, comma-separated (owned). */
    uint16_t own_port, default_port;
    bool own_any;
    char own_host[CF_HTTP_ADDR_LEN + 2];
    char *extra;
    /* The sources the per-address limit does not apply to (owned; parsed
     * at start), and that limit (accept_cb). */
    struct netmask *exempt;
    size_t nexempt;
    unsigned per_ip;
};

/* Decode %XX in place, but keep "%00" as is: MHD hands the handler a
 * NUL-terminated URL, and a decoded NUL would silently truncate it. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    char *w = s;

    (void)cls;
    (void)c;
    for (const char *r = s; *r != '\0'; r++) {
        uint8_t byte = 0;
        /* "%00" stays as it is (http.h): a NUL never truncates a path. */
        if (r[0] == '%' && r[1] != '\0' && cf_hex_decode(r + 1, 1, &byte, true) == 0 && byte != 0) {
            *w++ = (char)byte;
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) CF_PRINTF(2, 0);

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    if (cf_log_level_cur < CF_LOG_INFO)
        return;
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    cf_log(CF_LOG_INFO, "http: %s", msg);
}

struct header_scan {
    size_t bytes;            /* request line and headers, roughly as sent */
    unsigned content_length; /* how many Content-Length headers */
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct header_scan *hs = cls;

    (void)kind;
    hs->bytes += strlen(key) + (value ? strlen(value) : 0) + 4;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        hs->content_length++;
    return MHD_YES;
}

/* Does the request carry a body? */
static bool has_body(struct MHD_Connection *c)
{
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return true;
    return cl != NULL && strcmp(cl, "0") != 0;
}

/* What the server keeps per request around the handler's own state. */
struct request {
    void *user;     /* the handler's state (its *req_cls); first member */
    char *target;   /* the request target as sent (path and query, not decoded); owned */
    bool started;   /* the access callback has seen the request */
    bool is_signed; /* a valid signature, or no checks at all (cf_http_signed) */
    bool deferred;  /* a bodiless request whose handler has not run yet */
    bool answered;  /* the handler replied on its first call; drop any body */
    int refused;    /* cf_http_refuse: the error to send once the body is read */
    char msg[CF_ERR_LEN];
    /* metrics.h */
    uint64_t start_ns;   /* the request's first call */
    uint64_t body_bytes; /* request body received */
    uint64_t resp_bytes; /* reply body queued through cf_http_reply */
    unsigned status;     /* as queued; 0 until a reply is */
    enum method_class method;
    bool early;        /* refused before the handler: not in requests nor in_flight */
    bool scrape;       /* GET or HEAD /metrics: in no metric */
    struct conn *conn; /* its connection (NULL if MHD gave none) */
};

/* ---- slow clients: the connection table and its watchdog ---- */

/* An address's text into out (cap bytes, at least CF_HTTP_ADDR_LEN): "?"
 * if sa is not IPv4 or IPv6. */
static void sockaddr_text(const struct sockaddr *sa, char *out, size_t cap)
{
    const char *r = NULL;

    if (sa != NULL && sa->sa_family == AF_INET)
        r = inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                      (socklen_t)cap);
    else if (sa != NULL && sa->sa_family == AF_INET6)
        r = inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                      (socklen_t)cap);
    if (r == NULL)
        (void)snprintf(out, cap, "?");
}

static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci != NULL ? ci->socket_context : NULL;
}

static void conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
    struct cf_http_server *s = cls;
    struct conn *k = *socket_context;
    const union MHD_ConnectionInfo *ci;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        k = cf_xcalloc(1, sizeof(*k));
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        k->fd = ci != NULL ? (int)ci->connect_fd : -1;
        cf_http_client_addr(c, k->addr, sizeof(k->addr));
        k->phase = P_HEAD;
        k->since_ns = cf_now_ns();
        k->allow_ns = s->head_ns;
        pthread_mutex_lock(&s->mu);
        k->next = s->conns;
        if (s->conns != NULL)
            s->conns->prev = k;
        s->conns = k;
        pthread_mutex_unlock(&s->mu);
        *socket_context = k;
        return;
    }
    if (k == NULL)
        return;
    /* MHD closes the socket only after this notification, so the watchdog,
     * which shuts sockets down under mu, never touches a reused descriptor. */
    pthread_mutex_lock(&s->mu);
    if (k->prev != NULL)
        k->prev->next = k->next;
    else
        s->conns = k->next;
    if (k->next != NULL)
        k->next->prev = k->prev;
    pthread_mutex_unlock(&s->mu);
    free(k);
    *socket_context = NULL;
}

/* A valid signature came on k (may be NULL): the per-address limit no
 * longer counts it. */
static void conn_mark_internal(struct cf_http_server *s, struct conn *k)
{
    if (k == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    k->internal = true;
    pthread_mutex_unlock(&s->mu);
}

/* A request's head is in: its body (if any) is now timed. */
static void conn_request_start(struct cf_http_server *s, struct conn *k, bool body)
{
    if (k == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    k->phase = body ? P_BODY : P_BUSY;
    k->since_ns = cf_now_ns();
    k->bytes = 0;
    k->handler_ns = 0;
    k->in_since_ns = 0;
    k->chk_wait_ns = 0;
    k->chk_bytes = 0;
    pthread_mutex_unlock(&s->mu);
}

/* The body is all in (MHD's last call of the request): no more deadline. */
static void conn_body_end(struct cf_http_server *s, struct conn *k)
{
    if (k == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    k->phase = P_BUSY;
    pthread_mutex_unlock(&s->mu);
}

/* The request is over; a kept-alive connection waits for the next head. */
static void conn_request_end(struct cf_http_server *s, struct conn *k)
{
    if (k == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    k->phase = P_HEAD;
    k->since_ns = cf_now_ns();
    k->allow_ns = s->idle_ns + s->head_ns;
    pthread_mutex_unlock(&s->mu);
}

/* The handler starts (enter) or ended (!enter) a call that consumed n body bytes. */
static void conn_handler(struct cf_http_server *s, struct conn *k, bool enter, uint64_t n)
{
    uint64_t now;

    if (k == NULL)
        return;
    now = cf_now_ns();
    pthread_mutex_lock(&s->mu);
    if (enter) {
        k->in_since_ns = now;
    } else {
        if (k->in_since_ns != 0 && now > k->in_since_ns)
            k->handler_ns += now - k->in_since_ns;
        k->in_since_ns = 0;
        k->bytes += n;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Shut k's socket down: its thread wakes, MHD ends the request (the
 * handler's done callback sees a termination code other than COMPLETED_OK)
 * and closes the connection. Called with mu held. */
static void conn_kill(struct cf_http_server *s, struct conn *k, bool body, uint64_t now,
                      uint64_t span)
{
    k->killed = true;
    if (k->fd >= 0)
        (void)shutdown(k->fd, SHUT_RDWR);
    cf_metric_add(body ? s->m.slow_body : s->m.slow_head, 1);
    if (body)
        cf_log(CF_LOG_INFO,
               "http: closing a connection from %s: %llu request body bytes in %llu ms, under "
               "%llu bytes/s",
               k->addr, (unsigned long long)(k->bytes - k->chk_bytes),
               (unsigned long long)(span / 1000000u), (unsigned long long)s->min_rate);
    else
        cf_log(CF_LOG_INFO,
               "http: closing a connection from %s: no complete request head within %llu ms",
               k->addr, (unsigned long long)((now - k->since_ns) / 1000000u));
}

/* Check one connection against its deadline or its body rate. mu held. */
static void conn_check(struct cf_http_server *s, struct conn *k, uint64_t now)
{
    uint64_t waited, span, need;

    if (k->killed || now < k->since_ns)
        return;
    if (k->phase == P_HEAD) {
        if (now - k->since_ns > k->allow_ns)
            conn_kill(s, k, false, now, 0);
        return;
    }
    /* Only time spent waiting for the client counts; never judge while the
     * handler runs (it may be pushing the bytes on, slowly or not). */
    if (k->phase != P_BODY || k->in_since_ns != 0)
        return;
    waited = now - k->since_ns;
    waited = waited > k->handler_ns ? waited - k->handler_ns : 0;
    if (waited < k->chk_wait_ns || waited - k->chk_wait_ns < s->window_ns)
        return;
    span = waited - k->chk_wait_ns;
    need = (uint64_t)((double)s->min_rate * (double)span / 1e9);
    if (k->bytes - k->chk_bytes < need) {
        conn_kill(s, k, true, now, span);
        return;
    }
    k->chk_wait_ns = waited;
    k->chk_bytes = k->bytes;
}

static void *watchdog(void *arg)
{
    struct cf_http_server *s = arg;
    uint64_t period = (s->head_ns < s->window_ns ? s->head_ns : s->window_ns) / 8;
    struct timespec ts;

    /* A tick of an eighth of the shortest limit keeps each within 13% of
     * its value, at a cost of one pass over the table per tick. */
    if (period < 10000000u)
        period = 10000000u;
    if (period > 1000000000u)
        period = 1000000000u;
    pthread_mutex_lock(&s->mu);
    while (!s->wd_stop) {
        uint64_t now = cf_now_ns();

        for (struct conn *k = s->conns; k != NULL; k = k->next)
            conn_check(s, k, now);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)(period % 1000000000u);
        ts.tv_sec += (time_t)(period / 1000000000u) + ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        (void)pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void watchdog_stop(struct cf_http_server *s)
{
    if (!s->wd_started)
        return;
    pthread_mutex_lock(&s->mu);
    s->wd_stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->wd, NULL);
    s->wd_started = false;
}
/* ---- end slow clients ---- */

/* ---- metrics ---- */

/* The request whose handler runs on this thread, so that cf_http_reply
 * can count its reply's bytes (connection threads: one request at a time). */
static _Thread_local struct request *cur_rq;

static enum method_class method_class_of(const char *m)
{
    if (strcmp(m, "GET") == 0)
        return M_GET;
    if (strcmp(m, "HEAD") == 0)
        return M_HEAD;
    if (strcmp(m, "PUT") == 0)
        return M_PUT;
    if (strcmp(m, "POST") == 0)
        return M_POST;
    if (strcmp(m, "DELETE") == 0)
        return M_DELETE;
    return M_OTHER;
}

static void metrics_init(struct http_metrics *m, const char *role)
{
    char labels[160];
    int n;

    if (role == NULL || strlen(role) > 64)
        role = "unknown";
    for (size_t i = 0; i < M_NCLASSES; i++) {
        for (size_t k = 0; k < CF_ARRAY_LEN(code_names); k++) {
            n = snprintf(labels, sizeof(labels), "role=\"%s\",method=\"%s\",code=\"%s\"", role,
                         method_names[i], code_names[k]);
            cf_assert(n > 0 && (size_t)n < sizeof(labels));
            m->requests[i][k] = cf_metric_counter("coffer_http_requests_total",
                                                  "HTTP requests completed, by method and status "
                                                  "class (none: no reply was queued).",
                                                  labels);
        }
    }
    n = snprintf(labels, sizeof(labels), "role=\"%s\"", role);
    cf_assert(n > 0 && (size_t)n < sizeof(labels));
    m->seconds =
        cf_metric_histogram("coffer_http_request_seconds",
                            "Time from a request's headers to its completion.", labels, NULL, 0);
    m->req_bytes = cf_metric_counter("coffer_http_request_bytes_total",
                                     "Request body bytes received.", labels);
    m->resp_bytes = cf_metric_counter(
        "coffer_http_response_bytes_total",
        "Reply body bytes queued through cf_http_reply (streamed objects not included).", labels);
    m->incomplete =
        cf_metric_counter("coffer_http_incomplete_total",
                          "Requests ended without a complete reply (client gone, timeout, "
                          "shutdown).",
                          labels);
    m->in_flight = cf_metric_gauge("coffer_http_in_flight", "Requests in flight.", labels);
    n = snprintf(labels, sizeof(labels), "role=\"%s\",phase=\"head\"", role);
    cf_assert(n > 0 && (size_t)n < sizeof(labels));
    m->slow_head = cf_metric_counter("coffer_http_slow_closed_total",
                                     "Connections closed for sending too slowly.", labels);
    n = snprintf(labels, sizeof(labels), "role=\"%s\",phase=\"body\"", role);
    cf_assert(n > 0 && (size_t)n < sizeof(labels));
    m->slow_body = cf_metric_counter("coffer_http_slow_closed_total",
                                     "Connections closed for sending too slowly.", labels);
}

/* The status of the reply queued on c, once there is one. */
static void note_status(struct request *rq, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci;

    if (rq->status != 0)
        return;
    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
    if (ci != NULL)
        rq->status = ci->http_status;
}

static void metrics_done(struct http_metrics *m, const struct request *rq,
                         enum MHD_RequestTerminationCode why)
{
    unsigned code = rq->status / 100;

    if (code > 5)
        code = 0;
    /* Observed before the counter, so a reader who sees the count sees the
     * observation too on this (x86, TSO) and most machines. */
    cf_metric_observe(m->seconds, (double)(cf_now_ns() - rq->start_ns) / 1e9);
    cf_metric_add(m->requests[rq->method][code], 1);
    if (rq->body_bytes > 0)
        cf_metric_add(m->req_bytes, rq->body_bytes);
    if (rq->resp_bytes > 0)
        cf_metric_add(m->resp_bytes, rq->resp_bytes);
    if (why != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        cf_metric_add(m->incomplete, 1);
    if (!rq->early)
        cf_metric_gauge_add(m->in_flight, -1);
}

static enum MHD_Result serve_metrics(struct MHD_Connection *c)
{
    struct cf_buf b;
    enum MHD_Result r;

    cf_buf_init(&b, METRICS_TEXT_MAX);
    if (cf_metrics_render(&b) < 0)
        r = cf_http_reply_error(c, CF_EINTERNAL, "metrics text over %d bytes", METRICS_TEXT_MAX);
    else
        r = cf_http_reply(c, 200, "text/plain; version=0.0.4", b.base, b.len, NULL);
    cf_buf_fini(&b);
    return r;
}

/* Call the handler with the request's metrics bookkeeping around it. */
static enum MHD_Result call_handler(struct cf_http_server *s, struct request *rq,
                                    struct MHD_Connection *c, const char *url, const char *method,
                                    const char *version, const char *upload_data,
                                    size_t *upload_data_size)
{
    size_t before = *upload_data_size;
    uint64_t n = 0;
    enum MHD_Result r;

    conn_handler(s, rq->conn, true, 0);
    cur_rq = rq;
    r = s->opts.handler(s->opts.cls, c, url, method, version, upload_data, upload_data_size,
                        &rq->user);
    cur_rq = NULL;
    if (*upload_data_size <= before)
        n = before - *upload_data_size;
    rq->body_bytes += n;
    conn_handler(s, rq->conn, false, n);
    note_status(rq, c);
    return r;
}

/* A reply from the server itself (not the handler), counted the same way. */
static enum MHD_Result reply_error_counted(struct request *rq, struct MHD_Connection *c, int err,
                                           const char *msg)
{
    enum MHD_Result r;

    cur_rq = rq;
    r = cf_http_reply_error(c, err, "%s", msg);
    cur_rq = NULL;
    note_status(rq, c);
    return r;
}

/* Refused before the handler: counted in the metrics only. */
static enum MHD_Result refuse_early(struct request *rq, struct MHD_Connection *c, int err,
                                    const char *msg)
{
    rq->early = true;
    rq->answered = true;
    return reply_error_counted(rq, c, err, msg);
}
/* ---- end metrics ---- */

static struct request *request_of(void **req_cls)
{
    return (struct request *)(void *)((char *)req_cls - offsetof(struct request, user));
}

static enum MHD_Result call_first(struct cf_http_server *s, struct request *rq,
                                  struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size)
{
    enum MHD_Result r;

    rq->deferred = false;
    if (rq->scrape) {
        rq->answered = true;
        return serve_metrics(c);
    }
    r = call_handler(s, rq, c, url, method, version, upload_data, upload_data_size);
    if (rq->user == NULL && rq->refused == 0)
        rq->answered = true;
    return r;
}

/* MHD's URI log callback: the request's state begins here, the only place
 * MHD shows the target as sent (the signature covers it, cred.h). */
static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct request *rq = cf_xcalloc(1, sizeof(*rq));

    (void)cls;
    (void)c;
    rq->target = cf_xstrdup(uri != NULL ? uri : "");
    return rq;
}

static void request_free(struct request *rq)
{
    free(rq->target);
    free(rq);
}

/* Does the Host header value host (may be NULL) name this server? The
 * rules of http.h (authorities); no allocation. */
static bool host_is_ours(const struct cf_http_server *s, const char *host)
{
    const char *end, *p;
    size_t hlen, nlen;
    unsigned long port;

    if (host == NULL)
        return false;
    hlen = strlen(host);
    for (p = s->extra; p != NULL && *p != '\0'; p = *end == ',' ? end + 1 : end) {
        end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        if ((size_t)(end - p) == hlen && strncasecmp(p, host, hlen) == 0)
            return true;
    }
    if (host[0] == '[') {
        end = strchr(host, ']');
        if (end == NULL)
            return false;
        end++;
    } else {
        end = strchr(host, ':');
        if (end == NULL)
            end = host + hlen;
    }
    nlen = (size_t)(end - host);
    if (nlen == 0)
        return false;
    if (*end == '\0') {
        port = s->default_port;
    } else {
        char *stop = NULL;
        if (end[0] != ':' || end[1] < '0' || end[1] > '9' || strlen(end + 1) > 5)
            return false;
        port = strtoul(end + 1, &stop, 10);
        if (*stop != '\0')
            return false;
    }
    if (port != s->own_port)
        return false;
    return s->own_any || (strlen(s->own_host) == nlen && strncasecmp(s->own_host, host, nlen) == 0);
}

/* Check the request's signature against what it needs (cred.h). Returns
 * 0, or the error to refuse it with, its reason in msg. */
static int check_auth(struct cf_http_server *s, struct request *rq, struct MHD_Connection *c,
                      const char *url, const char *method, char *msg)
{
    const char *auth = cf_http_header(c, MHD_HTTP_HEADER_AUTHORIZATION);
    int need, rc;

    if (s->opts.auth == NULL) {
        rq->is_signed = true;
        return 0;
    }
    if (rq->scrape)
        need = s->opts.metrics_public ? CF_ACCESS_PUBLIC : CF_ACCESS_INTERNAL;
    else if (s->opts.access != NULL)
        need = s->opts.access(s->opts.cls, method, url);
    else
        need = CF_ACCESS_INTERNAL;
    /* A public request signed anyway is checked like an internal one; a
     * bad signature there only makes it unsigned. */
    if (need == CF_ACCESS_PUBLIC && auth != NULL) {
        rq->is_signed =
            host_is_ours(s, cf_http_header(c, MHD_HTTP_HEADER_HOST)) &&
            cf_cred_verify(s->opts.auth, CF_ACCESS_INTERNAL, method, rq->target,
                           cf_http_header(c, MHD_HTTP_HEADER_HOST), auth, cf_wall_ms(), NULL) == 0;
        return 0;
    }
    /* A signature holds for the server named in Host: one for another
     * server, replayed here, is refused before it is even checked. */
    if (need != CF_ACCESS_PUBLIC && auth != NULL &&
        !host_is_ours(s, cf_http_header(c, MHD_HTTP_HEADER_HOST))) {
        const char *host = cf_http_header(c, MHD_HTTP_HEADER_HOST);
        cf_err_set(msg, "signed for another server (Host \"%.64s\")", host != NULL ? host : "");
        rq->is_signed = false;
        return CF_EAUTH;
    }
    rc = cf_cred_verify(s->opts.auth, (enum cf_access)need, method, rq->target,
                        cf_http_header(c, MHD_HTTP_HEADER_HOST), auth, cf_wall_ms(), msg);
    rq->is_signed = rc == 0 && need != CF_ACCESS_PUBLIC;
    return rc;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **req_cls)
{
    struct cf_http_server *s = cls;
    struct request *rq = *req_cls;
    struct header_scan hs = {strlen(url) + strlen(method) + 16, 0};
    char msg[CF_ERR_LEN];
    int rc;

    if (rq != NULL && rq->started) {
        if (rq->deferred)
            return call_first(s, rq, c, url, method, version, upload_data, upload_data_size);
        if (*upload_data_size == 0) /* MHD's last call: the body is in */
            conn_body_end(s, rq->conn);
        if (rq->answered || rq->refused != 0) {
            if (*upload_data_size > 0) {
                rq->body_bytes += *upload_data_size;
                conn_handler(s, rq->conn, false, *upload_data_size);
                *upload_data_size = 0; /* read and dropped */
                return MHD_YES;
            }
            if (rq->answered)
                return MHD_YES;
            return reply_error_counted(rq, c, rq->refused, rq->msg);
        }
        return call_handler(s, rq, c, url, method, version, upload_data, upload_data_size);
    }

    /* The request's state exists from its first call (uri_cb made it),
     * refused or not, so that the metrics see every request. */
    if (rq == NULL) {
        rq = uri_cb(NULL, url, c);
        *req_cls = rq;
    }
    rq->started = true;
    rq->start_ns = cf_now_ns();
    rq->method = method_class_of(method);
    rq->conn = conn_of(c);
    conn_request_start(s, rq->conn, has_body(c));
    if (atomic_load(&s->draining))
        return refuse_early(rq, c, CF_EUNAVAIL, "shutting down");
    (void)MHD_get_connection_values(c, MHD_HEADER_KIND, scan_header, &hs);
    if (hs.bytes > CF_HTTP_HEADER_MAX) {
        (void)snprintf(msg, sizeof(msg), "request headers over %d bytes", CF_HTTP_HEADER_MAX);
        return refuse_early(rq, c, CF_EHDRTOOLARGE, msg);
    }
    /* Two lengths make the body's end ambiguous: the way to request smuggling. */
    if (hs.content_length > 1)
        return refuse_early(rq, c, CF_EBADREQ, "more than one Content-Length header");
    rq->scrape = strcmp(url, "/metrics") == 0 && (rq->method == M_GET || rq->method == M_HEAD);
    rc = check_auth(s, rq, c, url, method, msg);
    if (rc < 0) {
        rq->scrape = false; /* a refused scrape counts like any refusal */
        cf_log(CF_LOG_INFO, "refused %s request: %s", method, msg);
        return refuse_early(rq, c, rc, msg);
    }
    if (s->opts.auth != NULL && rq->is_signed)
        conn_mark_internal(s, conn_of(c));
    atomic_fetch_add(&s->requests, 1);
    atomic_fetch_add(&s->in_flight, 1);
    if (!rq->scrape)
        cf_metric_gauge_add(s->m.in_flight, 1);
    if (!has_body(c)) {
        /* libmicrohttpd 0.9.75 closes the connection after any reply queued
         * on this first call; one call later, keep-alive survives. */
        rq->deferred = true;
        return MHD_YES;
    }
    return call_first(s, rq, c, url, method, version, upload_data, upload_data_size);
}

static void done_cb(void *cls, struct MHD_Connection *c, void **req_cls,
                    enum MHD_RequestTerminationCode why)
{
    struct cf_http_server *s = cls;
    struct request *rq = *req_cls;
    bool early;

    if (rq == NULL)
        return;
    if (!rq->started) { /* MHD refused it before the access callback */
        request_free(rq);
        *req_cls = NULL;
        return;
    }
    conn_request_end(s, rq->conn);
    if (rq->user != NULL && s->opts.done != NULL)
        s->opts.done(s->opts.cls, c, rq->user, why);
    /* A scrape counts in no metric, so scrapes do not move them. */
    note_status(rq, c);
    if (!rq->scrape)
        metrics_done(&s->m, rq, why);
    early = rq->early;
    request_free(rq);
    *req_cls = NULL;
    if (!early) /* refused before the handler: never counted in flight */
        atomic_fetch_sub(&s->in_flight, 1);
}

enum MHD_Result cf_http_refuse(struct MHD_Connection *c, void **req_cls, int err, const char *fmt,
                               ...)
{
    struct request *rq = request_of(req_cls);
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    char *end = NULL;
    unsigned long long len = 0;
    va_list ap;

    rq->msg[0] = '\0';
    if (fmt != NULL) {
        va_start(ap, fmt);
        (void)vsnprintf(rq->msg, sizeof(rq->msg), fmt, ap);
        va_end(ap);
    }
    if (cl != NULL) {
        errno = 0;
        len = strtoull(cl, &end, 10);
        if (errno != 0 || *end != '\0')
            len = ULLONG_MAX;
    }
    /* A reply now would close the connection under a client still sending,
     * which then sees a reset instead of the reason: read and drop a small
     * body first. A large or chunked one is refused at once. */
    if (cl != NULL && len > 0 && len <= CF_HTTP_DISCARD_MAX) {
        rq->refused = err;
        return MHD_YES;
    }
    rq->answered = true;
    return cf_http_reply_error(c, err, "%s", rq->msg);
}

/* GnuTLS priorities: its defaults, but TLS 1.2 and 1.3 only (1.0 and 1.1
 * are deprecated, RFC 8996). */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Read and check the certificate and key of opts into s. */
static int tls_setup(struct cf_http_server *s, const struct cf_http_server_opts *opts, char *err)
{
    int rc;

    if ((opts->tls_cert == NULL) != (opts->tls_key == NULL)) {
        cf_err_set(err, "HTTPS needs both a certificate and its key (--tls-cert and --tls-key)");
        return CF_EINVAL;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        cf_err_set(err, "this libmicrohttpd was built without TLS: cannot serve HTTPS");
        return CF_EIO;
    }
    rc = cf_tls_load_pair(opts->tls_cert, opts->tls_key, &s->tls_cert, &s->tls_key, err);
    return rc < 0 ? CF_EINVAL : 0;
}

/* Fix s's own authorities from the listening socket fd and check and copy
 * the extra list (http.h). Returns 0 or CF_EINVAL / CF_EIO with err. */
static int authorities_setup(struct cf_http_server *s, int fd, const char *list, bool tls,
                             char *err)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char addr[CF_HTTP_ADDR_LEN] = "";

    s->default_port = tls ? 443 : 80;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        cf_err_set(err, "getsockname: %s", strerror(errno));
        return CF_EIO;
    }
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        uint32_t a = ntohl(in->sin_addr.s_addr);
        s->own_port = ntohs(in->sin_port);
        s->own_any = a == INADDR_ANY || (a >> 24) == 127;
        (void)inet_ntop(AF_INET, &in->sin_addr, s->own_host, sizeof(s->own_host));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        const struct in6_addr *a = &in6->sin6_addr;
        s->own_port = ntohs(in6->sin6_port);
        s->own_any = IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) ||
                     (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
        (void)inet_ntop(AF_INET6, a, addr, sizeof(addr));
        (void)snprintf(s->own_host, sizeof(s->own_host), "[%s]", addr);
    } else {
        s->own_any = true; /* not TCP/IP: no address to name */
    }
    if (list == NULL || *list == '\0')
        return 0;
    for (const char *p = list; *p != '\0'; p++) {
        if (*p <= ' ' || *p == '/' || *p == '@' || *p > '~' ||
            (*p == ',' && (p == list || p[1] == ',' || p[1] == '\0'))) {
            cf_err_set(err, "authority list \"%.100s\": expected HOST[:PORT],...", list);
            return CF_EINVAL;
        }
    }
    s->extra = cf_xstrdup(list);
    return 0;
}

/* Parse one "ADDR[/PREFIX]" (len bytes of text, untrusted) into m.
 * Returns whether it is one. */
static bool netmask_parse(const char *text, size_t len, struct netmask *m)
{
    char a[CF_HTTP_ADDR_LEN];
    const char *slash = memchr(text, '/', len);
    size_t alen = slash != NULL ? (size_t)(slash - text) : len;
    unsigned max;

    if (alen == 0 || alen >= sizeof(a))
        return false;
    memcpy(a, text, alen);
    a[alen] = '\0';
    memset(m, 0, sizeof(*m));
    if (inet_pton(AF_INET, a, m->addr) == 1) {
        m->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, a, m->addr) == 1) {
        m->family = AF_INET6;
        max = 128;
    } else {
        return false;
    }
    m->prefix = max;
    if (slash != NULL) {
        const char *p = slash + 1, *end = text + len;
        unsigned v = 0;
        if (p == end || end - p > 3)
            return false;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9')
                return false;
            v = v * 10 + (unsigned)(*p - '0');
        }
        if (v > max)
            return false;
        m->prefix = v;
    }
    return true;
}

/* Parse the exempt list (http.h per_ip_exempt) into s. Returns 0 or
 * CF_EINVAL with err. */
static int exempt_setup(struct cf_http_server *s, const char *list, char *err)
{
    size_t n = 1;

    if (list == NULL || *list == '\0')
        return 0;
    for (const char *p = list; *p != '\0'; p++)
        n += *p == ',';
    s->exempt = cf_xcalloc(n, sizeof(*s->exempt));
    for (const char *p = list; *p != '\0';) {
        size_t len = strcspn(p, ",");
        const char *q = p;
        size_t qlen = len;
        while (qlen > 0 && *q == ' ')
            q++, qlen--;
        while (qlen > 0 && q[qlen - 1] == ' ')
            qlen--;
        if (qlen > 0) {
            if (!netmask_parse(q, qlen, &s->exempt[s->nexempt])) {
                cf_err_set(err, "--http-per-ip-exempt \"%.*s\": expected ADDR[/PREFIX]",
                           (int)(qlen > 100 ? 100 : qlen), q);
                return CF_EINVAL;
            }
            s->nexempt++;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* Whether the first prefix bits of a and b (bytes) agree. */
static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned whole = prefix / 8, rest = prefix % 8;

    if (memcmp(a, b, whole) != 0)
        return false;
    return rest == 0 || ((a[whole] ^ b[whole]) & (uint8_t)(0xffu << (8 - rest))) == 0;
}

/* Whether sa is in s's exempt list; an IPv4-mapped IPv6 address is
 * compared as the IPv4 address it maps. */
static bool exempt_has(const struct cf_http_server *s, const struct sockaddr *sa)
{
    const uint8_t *v4 = NULL, *v6 = NULL;

    if (sa->sa_family == AF_INET) {
        v4 = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        v6 = a->s6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            v4 = a->s6_addr + 12;
    }
    for (size_t i = 0; i < s->nexempt; i++) {
        const struct netmask *m = &s->exempt[i];
        if ((m->family == AF_INET && v4 != NULL && prefix_eq(m->addr, v4, m->prefix)) ||
            (m->family == AF_INET6 && v6 != NULL && prefix_eq(m->addr, v6, m->prefix)))
            return true;
    }
    return false;
}

/* The per-address limit (libmicrohttpd's own knows no exemption): the
 * connections from the address, not counting those that carried a valid
 * signature (internal roles, the operator). It runs on the listening
 * thread, which also adds each accepted connection to s->conns (its
 * STARTED notification) before accepting the next, so the count is exact. */
static enum MHD_Result accept_cb(void *cls, const struct sockaddr *sa, socklen_t len)
{
    struct cf_http_server *s = cls;
    char addr[CF_HTTP_ADDR_LEN];
    unsigned n = 0;

    (void)len;
    if (exempt_has(s, sa))
        return MHD_YES;
    sockaddr_text(sa, addr, sizeof(addr));
    pthread_mutex_lock(&s->mu);
    for (const struct conn *k = s->conns; k != NULL && n < s->per_ip; k = k->next)
        n += !k->internal && strcmp(k->addr, addr) == 0;
    pthread_mutex_unlock(&s->mu);
    if (n < s->per_ip)
        return MHD_YES;
    cf_log(CF_LOG_INFO, "http: %s holds %u connections already (--http-per-ip-limit); refused",
           addr, n);
    return MHD_NO;
}

void cf_http_limits_copy(struct cf_http_limits *dst, const struct cf_http_limits *src)
{
    char *old = dst->per_ip_exempt;

    *dst = *src;
    dst->per_ip_exempt = src->per_ip_exempt != NULL ? cf_xstrdup(src->per_ip_exempt) : NULL;
    free(old);
}

static void server_release(struct cf_http_server *s)
{
    free(s->exempt);
    free(s->extra);
    free(s->tls_cert);
    cf_tls_free_key(s->tls_key);
    free(s);
}

int cf_http_server_start(const struct cf_http_server_opts *opts, struct cf_http_server **out,
                         char *err)
{
    struct cf_http_server *s = cf_xcalloc(1, sizeof(*s));
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    bool tls = opts->tls_cert != NULL || opts->tls_key != NULL;
    /* Empty without TLS; else the PEM text, which s keeps for the daemon. */
    struct MHD_OptionItem tls_opts[4] = {{MHD_OPTION_END, 0, NULL}};
    int rc;
    const struct cf_http_limits *lim = &opts->limits;
    uint64_t idle_s = lim->idle_timeout_s ? lim->idle_timeout_s : CF_HTTP_IDLE_S;
    uint64_t per_ip = lim->per_ip_limit ? lim->per_ip_limit : CF_HTTP_PER_IP_LIMIT;
    pthread_condattr_t ca;

    s->opts = *opts;
    s->opts.tls_cert = NULL;
    s->opts.tls_key = NULL;
    s->opts.authorities = NULL;
    s->opts.limits.per_ip_exempt = NULL;
    rc = authorities_setup(s, opts->listen_fd, opts->authorities, tls, err);
    if (rc == 0)
        rc = exempt_setup(s, lim->per_ip_exempt, err);
    if (rc < 0) {
        close(opts->listen_fd);
        server_release(s);
        return rc;
    }
    if (tls) {
        rc = tls_setup(s, opts, err);
        if (rc < 0) {
            close(opts->listen_fd);
            server_release(s);
            return rc;
        }
        flags |= MHD_USE_TLS;
        tls_opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert};
        tls_opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key};
        tls_opts[2] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                              (void *)(uintptr_t)TLS_PRIORITIES};
        tls_opts[3] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }
    metrics_init(&s->m, opts->role);
    atomic_init(&s->requests, 0);
    atomic_init(&s->in_flight, 0);
    atomic_init(&s->draining, false);
    s->head_ns = (lim->head_timeout_ms ? lim->head_timeout_ms : CF_HTTP_HEAD_TIMEOUT_MS) * 1000000u;
    s->idle_ns = idle_s * 1000000000u;
    s->window_ns = (lim->rate_window_ms ? lim->rate_window_ms : CF_HTTP_RATE_WINDOW_MS) * 1000000u;
    s->min_rate = lim->min_rate ? lim->min_rate : CF_HTTP_MIN_RATE;
    if (idle_s > UINT_MAX)
        idle_s = UINT_MAX;
    if (per_ip > UINT_MAX)
        per_ip = UINT_MAX;
    s->per_ip = (unsigned)per_ip;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&s->wd, NULL, watchdog, s) != 0) {
        cf_err_set(err, "cannot start the HTTP server's watchdog thread");
        goto fail;
    }
    s->wd_started = true;
    s->d = MHD_start_daemon(
        flags, 0, accept_cb, s, access_cb, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)opts->listen_fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(opts->conn_limit ? opts->conn_limit : CF_HTTP_CONN_MAX),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)idle_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        opts->conn_memory ? opts->conn_memory : (size_t)CF_HTTP_CONN_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, done_cb, s, MHD_OPTION_NOTIFY_CONNECTION, conn_notify, s,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, s, MHD_OPTION_URI_LOG_CALLBACK, uri_cb, s,
        MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (s->d == NULL) {
        cf_err_set(err, "cannot start the HTTP%s server (libmicrohttpd refused its options)",
                   tls ? "S" : "");
        goto fail;
    }
    *out = s;
    return 0;
fail:
    watchdog_stop(s);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    close(opts->listen_fd);
    server_release(s);
    return CF_EIO;
}

void cf_http_server_drain(struct cf_http_server *s, unsigned timeout_s)
{
    uint64_t deadline;
    MHD_socket lfd;

    if (s == NULL || s->stopped)
        return;
    atomic_store(&s->draining, true);
    lfd = MHD_quiesce_daemon(s->d);
    /* Refuse new connections at once rather than leave them in the backlog. */
    if (lfd != MHD_INVALID_SOCKET)
        (void)shutdown(lfd, SHUT_RDWR);
    deadline = cf_now_ns() + (uint64_t)timeout_s * 1000000000u;
    while (atomic_load(&s->in_flight) > 0 && cf_now_ns() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&s->in_flight) > 0)
        cf_log(CF_LOG_WARN, "drain: closing %llu requests still in flight after %us",
               (unsigned long long)atomic_load(&s->in_flight), timeout_s);
    MHD_stop_daemon(s->d);
    s->d = NULL;
    /* Every connection is closed now (and out of the table). */
    watchdog_stop(s);
    /* DESIGN: MHD leaves a quiesced listen socket to the caller, after stop. */
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    s->stopped = true;
}

void cf_http_server_free(struct cf_http_server *s)
{
    if (s == NULL)
        return;
    cf_http_server_drain(s, 0);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    server_release(s);
}

uint64_t cf_http_server_requests(const struct cf_http_server *s)
{
    return atomic_load(&((struct cf_http_server *)s)->requests);
}

uint64_t cf_http_server_in_flight(const struct cf_http_server *s)
{
    return atomic_load(&((struct cf_http_server *)s)->in_flight);
}

enum MHD_Result cf_http_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                              const char *body, size_t len, const char *const *headers)
{
    struct MHD_Response *resp;
    enum MHD_Result r;

    resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)(body ? body : ""),
                                           MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    if (ctype != NULL)
        (void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i += 2)
        (void)MHD_add_response_header(resp, headers[i], headers[i + 1]);
    r = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    /* The reply body's bytes, for the request being handled here. */
    if (r == MHD_YES && cur_rq != NULL && cur_rq->method != M_HEAD)
        cur_rq->resp_bytes += len;
    return r;
}

enum MHD_Result cf_http_reply_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    enum MHD_Result r;
    size_t n;

    json_decref(j);
    if (text == NULL)
        return MHD_NO;
    n = strlen(text);
    r = cf_http_reply(c, status, "application/json", text, n, NULL);
    free(text);
    return r;
}

enum MHD_Result cf_http_reply_error(struct MHD_Connection *c, int err, const char *fmt, ...)
{
    static const char *const retry_after[] = {"Retry-After", "1", NULL};
    char detail[CF_ERR_LEN], msg[CF_ERR_LEN + 64];
    json_t *j;
    char *text;
    enum MHD_Result r;
    va_list ap;

    detail[0] = '\0';
    if (fmt != NULL) {
        va_start(ap, fmt);
        (void)vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    (void)snprintf(msg, sizeof(msg), "%s%s%s", cf_strerror(err), detail[0] ? ": " : "", detail);
    /* json_stringn escapes for us; invalid UTF-8 in msg would make it fail. */
    j = json_pack("{s:s,s:s}", "error", cf_err_name(err), "message", msg);
    if (j == NULL)
        j = json_pack("{s:s,s:s}", "error", cf_err_name(err), "message", cf_strerror(err));
    text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    /* A 503 is a passing state (a database reconnecting, a pool full):
     * RFC 9110 15.6.4 lets the client know when to try again. */
    r = cf_http_reply(c, (unsigned)cf_err_http_status(err), "application/json", text ? text : "{}",
                      text ? strlen(text) : 2, cf_err_http_status(err) == 503 ? retry_after : NULL);
    free(text);
    return r;
}

void cf_http_client_addr(struct MHD_Connection *c, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    sockaddr_text(ci != NULL ? ci->client_addr : NULL, out, cap);
}

bool cf_http_signed(void)
{
    return cur_rq != NULL && cur_rq->is_signed;
}

bool cf_http_is_head(void)
{
    return cur_rq != NULL && cur_rq->method == M_HEAD;
}

const char *cf_http_header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

const char *cf_http_query(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}
