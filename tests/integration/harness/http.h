/*
 * http.h -- HTTP clients of the integration tests, over libcurl: one
 * request at a time (it_http, it_http_to), many at once (it_xfer_*), the
 * JSON in replies, the filer's object requests checked end to end, and
 * one sample of a role's /metrics read exactly.
 *
 * Role: a request body is a payload (payload.h), sent with Content-Length
 * or chunked; a response body is hashed as it streams (any size) and its
 * first IT_BODY_KEEP bytes kept, so a test compares SHA-512s, not buffers.
 * The target is sent as is (no normalization), over HTTP/1.1, without
 * Expect: 100-continue unless asked for.
 *
 * Failing: a request that gets no response at all fails the case (with the
 * curl error); any response, whatever its status, is returned to the
 * caller. The it_*_ok functions and the it_check_* functions fail the case
 * when the reply is not what they say.
 *
 * Waiting: connecting is bounded by 10 s; a transfer that stalls (under 1
 * byte/s) for 60 s is aborted, which its curl_code reports; one it_xfer_run
 * batch is bounded by 240 s; each bound times the multiplier.
 *
 * Threads: everything but it_xfer_* may be called from several threads of
 * a case at once, each with its own client, body and response (a NULL
 * client is a one-off connection of the calling thread); it_xfer_* from one
 * thread at a time.
 */
#ifndef COFFER_IT_HTTP_H
#define COFFER_IT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "harness/payload.h"
#include "harness/proc.h"

#define IT_HDRS_MAX  (16 * 1024)       /* response headers kept */
#define IT_BODY_KEEP (4 * 1024 * 1024) /* response body bytes kept */

/* ---- one request ------------------------------------------------------------ */

/* A request body: a payload, sent with Content-Length or chunked. */
struct it_body {
    struct it_gen gen;
    bool chunked; /* no Content-Length; Transfer-Encoding: chunked */
    bool expect;  /* let curl send Expect: 100-continue (off by default) */
};

struct it_resp {
    long status; /* 0 when no response came */
    int curl_code;
    char hdrs[IT_HDRS_MAX]; /* headers of the final response */
    size_t hdrs_len;
    char *body; /* first IT_BODY_KEEP bytes, NUL-terminated; owned */
    size_t body_len;
    size_t body_cap;            /* bytes allocated at body */
    uint64_t total;             /* all body bytes received */
    uint8_t sha[CF_SHA512_LEN]; /* of all body bytes */
    struct cf_sha512 ctx;
};

/* A reusable connection (keep-alive). it_http accepts NULL for a one-off. */
struct it_client {
    void *easy; /* CURL *; owned */
};

void it_client_init(struct it_client *c);
void it_client_fini(struct it_client *c);

/* Send method target (e.g. "/o/a/b", sent as is) to f with the body (may be
 * NULL; borrowed, read to its end) and the extra header lines
 * (NULL-terminated; borrowed). Fills resp, which the caller releases with
 * it_resp_fini. Returns resp->status. A transport error after a status line
 * arrived is kept in curl_code and is not a failure. */
long it_http(struct it_client *c, const struct it_filer *f, const char *method, const char *target,
             struct it_body *body, struct it_resp *resp, ...) __attribute__((sentinel));
/* The same, to any role: base is "http://127.0.0.1:PORT". */
long it_http_to(struct it_client *c, const char *base, const char *method, const char *target,
                struct it_body *body, struct it_resp *resp, ...) __attribute__((sentinel));
/* Trust the PEM CA certificate(s) at path (copied; NULL: none, the
 * system's) in the https:// requests of every function here from now on.
 * Peer and host are always verified. Case's main thread, before requests. */
void it_http_ca(const char *path);
/* Release resp's body. Idempotent. */
void it_resp_fini(struct it_resp *r);

/* The value of response header name (case-insensitive) copied into out
 * (cap bytes; fails the case if it does not fit), or false if absent. */
bool it_resp_header(const struct it_resp *r, const char *name, char *out, size_t cap);
/* The whole body as JSON; fails the case if it is not. Caller owns;
 * json_decref. */
json_t *it_resp_json(const struct it_resp *r);
/* An error reply: one line of JSON with string "error" equal to name (when
 * not NULL) and a string "message". Fails the case otherwise. */
void it_check_error_body(const struct it_resp *r, const char *name);

/* Members of a JSON object, failing the case when absent or mistyped. The
 * string is valid as long as o. */
int64_t it_json_int(const json_t *o, const char *key);
const char *it_json_str(const json_t *o, const char *key);
bool it_json_bool(const json_t *o, const char *key);

/* ---- the filer's requests ----------------------------------------------------- */

/* GET /status as JSON (caller owns; json_decref), and one integer of it. */
json_t *it_status(const struct it_filer *f);
int64_t it_status_int(const struct it_filer *f, const char *key);
/* GET /status: "objects" and "used_bytes" are exactly objects and used. */
void it_check_usage(const struct it_filer *f, int64_t objects, int64_t used);

/* PUT /o/path with the payload (seed, size); checks the 201 reply (JSON
 * path, size, sha512 and the X-Coffer-SHA512 header) and returns the digest
 * in sha (may be NULL). */
void it_put_ok(struct it_client *c, const struct it_filer *f, const char *path, uint64_t seed,
               uint64_t size, bool chunked, uint8_t sha[CF_SHA512_LEN]);
/* PUT of a payload, returning the status; the reply is released. */
long it_put_status(struct it_client *c, const struct it_filer *f, const char *path, uint64_t seed,
                   uint64_t size, bool chunked);
/* Check a 201 reply for (path, size, sha). */
void it_check_put_reply(const struct it_resp *r, const char *path, uint64_t size,
                        const uint8_t sha[CF_SHA512_LEN]);
/* Check a reply to a GET of a whole object (what names it in messages):
 * 200 with no transport error, a body of exactly (size, sha), and the
 * headers Content-Length, X-Coffer-SHA512 and Accept-Ranges: bytes. */
void it_check_object_reply(const struct it_resp *r, const char *what, uint64_t size,
                           const uint8_t sha[CF_SHA512_LEN]);
/* GET /o/path and check the reply as above. The body is hashed as it
 * streams. */
void it_get_ok(struct it_client *c, const struct it_filer *f, const char *path, uint64_t size,
               const uint8_t sha[CF_SHA512_LEN]);
/* GET base + target with "Range: bytes=first-last" of an object of size
 * bytes that is the payload seed: 206 with no transport error, exactly the
 * payload's bytes first..last, and Content-Range "bytes first-last/size".
 * The range must be within the object and at most IT_BODY_KEEP bytes. */
void it_range_ok(struct it_client *c, const char *base, const char *target, uint64_t seed,
                 uint64_t first, uint64_t last, uint64_t size);
/* Check r, the reply to a GET of target with "Range: bytes=first-last" of
 * an object of size bytes that is the payload seed (its status is the
 * caller's to check): no transport error, exactly the payload's bytes
 * first..last, and Content-Range "bytes first-last/size". The range must
 * be within the object and at most IT_BODY_KEEP bytes. r stays the
 * caller's. */
void it_range_check(const struct it_resp *r, const char *target, uint64_t seed, uint64_t first,
                    uint64_t last, uint64_t size);
/* The status of a request without a body; the reply is released. */
long it_status_of(struct it_client *c, const struct it_filer *f, const char *method,
                  const char *target);

/* ---- /metrics ------------------------------------------------------------------ */

/* The value of one sample of GET base/metrics: series is its name and label
 * text exactly as rendered, e.g.
 * `coffer_http_requests_total{role="filer",method="PUT",code="2xx"}`.
 * Fails the case if the scrape is not 200 or the sample is absent. */
int64_t it_metric(const char *base, const char *series);
/* Wait (bounded: 50 polls 100 ms apart, times the multiplier) until
 * it_metric(base, series) is want, failing the case with the last value if
 * it never is. A server counts a request when it sees it complete, which
 * may come just after the client has the reply (metrics.h). */
void it_wait_metric(const char *base, const char *series, int64_t want);

/* ---- many transfers at once (libcurl multi) -------------------------------- */

/* One request of a batch run by it_xfer_run. */
struct it_xfer {
    void *easy;           /* CURL *; owned */
    void *hdrs;           /* struct curl_slist *; owned */
    struct it_body *body; /* kept until it_xfer_fini; may be NULL */
    struct it_resp resp;  /* filled in when the transfer ends (status 0: no response) */
    bool done;
    /* When pause_at > 0 the transfer pauses once, when pause_at bytes of
     * its request body (or, without one, of its response body) have passed,
     * and it_xfer_run calls on_pause before it resumes. */
    uint64_t pause_at;
    int pause_state; /* 0 not yet, 1 paused, 2 resumed */
};

typedef void (*it_pause_cb)(struct it_xfer *x, void *arg);

/* Prepare x like it_http_to (same options and callbacks) without starting it.
 * body (may be NULL) is kept. Release with it_xfer_fini. */
void it_xfer_init(struct it_xfer *x, const char *base, const char *method, const char *target,
                  struct it_body *body, ...) __attribute__((sentinel));
/* Run x[0..n) at once until every one has ended; fails the case if that
 * takes longer than 240 s (times the multiplier). A transfer that gets no
 * response is not a failure: its resp.status stays 0. on_pause (may be NULL
 * if no transfer pauses) runs on the calling thread while its transfer is
 * paused; the others keep going. */
void it_xfer_run(struct it_xfer *x, size_t n, it_pause_cb on_pause, void *arg);
void it_xfer_fini(struct it_xfer *x);

#endif
