/*
 * probe.c -- synthetic probes (probe.h).
 */
#include "coffer/probe.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "coffer/buf.h"
#include "coffer/httpc.h"
#include "coffer/sha512.h"

/* A reply this long at most is read (the upload's JSON, the object). */
#define REPLY_MAX (64 * 1024)
/* "X-Coffer-SHA512: " + hex. */
#define SHA_LINE_MAX (sizeof(CF_SHA512_HEADER) + 2 + CF_SHA512_HEX_LEN + 1)

const char *cf_probe_op_name(enum cf_probe_op op)
{
    static const char *const names[CF_PROBE_OPS] = {"put", "get", "delete"};

    return op < CF_PROBE_OPS ? names[op] : "?";
}

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The step failed: record why. Returns false, for the caller's return. */
static bool fail(struct cf_probe_result *r, enum cf_probe_op op, const char *fmt, ...)
    CF_PRINTF(3, 4);

static bool fail(struct cf_probe_result *r, enum cf_probe_op op, const char *fmt, ...)
{
    va_list ap;

    r->ok = false;
    r->failed = op;
    va_start(ap, fmt);
    (void)vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    return false;
}

/* One request; the reply body in *b (cleared first). Returns the HTTP
 * status, or 0 with r's error set when no reply came. */
static long call(struct cf_probe_result *r, enum cf_probe_op op, const char *method,
                 const char *url, const void *body, size_t len, const char *const *hdrs,
                 long timeout_ms, struct cf_buf *b)
{
    char why[CF_ERR_LEN] = "";
    long status = 0;

    cf_buf_fini(b);
    cf_buf_init(b, REPLY_MAX);
    if (cf_httpc_bytes(method, url, body, len, hdrs, timeout_ms, &status, b, NULL, why) < 0) {
        fail(r, op, "%s", why);
        return 0;
    }
    return status;
}

/* The "message" of a coffer error body, or "". */
static const char *message_of(const struct cf_buf *b, char *out, size_t cap)
{
    json_t *j = b->len > 0 ? json_loadb(b->base, b->len, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(j, "message"));

    (void)snprintf(out, cap, "%s", m != NULL ? m : "");
    json_decref(j);
    return out;
}

static bool put(struct cf_probe_result *r, const char *app, const uint8_t *data, long timeout_ms,
                struct cf_buf *b)
{
    uint8_t sha[CF_SHA512_LEN];
    char hex[CF_SHA512_HEX_LEN + 1], line[SHA_LINE_MAX], url[1024], m[256];
    const char *hdrs[] = {"Content-Type: application/octet-stream", line, NULL};
    struct cf_sha512 ctx;
    json_t *j;
    const char *uuid;
    long st;

    if (cf_sha512_init(&ctx) < 0 || cf_sha512_update(&ctx, data, CF_PROBE_SIZE) < 0 ||
        cf_sha512_final(&ctx, sha) < 0) {
        cf_sha512_fini(&ctx);
        return fail(r, CF_PROBE_PUT, "cannot compute SHA-512");
    }
    cf_sha512_fini(&ctx);
    cf_sha512_hex(sha, hex);
    (void)snprintf(line, sizeof(line), "%s: %s", CF_SHA512_HEADER, hex);
    (void)snprintf(url, sizeof(url), "%s/v1/objects", app);
    st = call(r, CF_PROBE_PUT, "POST", url, data, CF_PROBE_SIZE, hdrs, timeout_ms, b);
    if (st == 0)
        return false;
    if (st != 201)
        return fail(r, CF_PROBE_PUT, "%s: status %ld %s", url, st, message_of(b, m, sizeof(m)));
    j = json_loadb(b->base, b->len, 0, NULL);
    uuid = json_string_value(json_object_get(j, "uuid"));
    if (uuid == NULL || !cf_uuid_is_valid(uuid, strlen(uuid))) {
        json_decref(j);
        return fail(r, CF_PROBE_PUT, "%s: 201 without a UUID", url);
    }
    (void)snprintf(r->uuid, sizeof(r->uuid), "%s", uuid);
    json_decref(j);
    return true;
}

static bool get(struct cf_probe_result *r, const char *objsrv, const uint8_t *data, long timeout_ms,
                struct cf_buf *b)
{
    char url[1024], m[256];
    long st;

    (void)snprintf(url, sizeof(url), "%s/v1/objects/%s", objsrv, r->uuid);
    st = call(r, CF_PROBE_GET, "GET", url, NULL, 0, NULL, timeout_ms, b);
    if (st == 0)
        return false;
    if (st != 200)
        return fail(r, CF_PROBE_GET, "%s: status %ld %s", url, st, message_of(b, m, sizeof(m)));
    if (b->len != CF_PROBE_SIZE || memcmp(b->base, data, CF_PROBE_SIZE) != 0)
        return fail(r, CF_PROBE_GET, "%s: %zu bytes back, not the %d sent", url, b->len,
                    CF_PROBE_SIZE);
    return true;
}

static bool del(struct cf_probe_result *r, const char *app, long timeout_ms, struct cf_buf *b)
{
    char url[1024], m[256];
    long st;

    (void)snprintf(url, sizeof(url), "%s/v1/objects/%s", app, r->uuid);
    st = call(r, CF_PROBE_DELETE, "DELETE", url, NULL, 0, NULL, timeout_ms, b);
    if (st == 0)
        return false;
    if (st != 204)
        return fail(r, CF_PROBE_DELETE, "%s: status %ld %s", url, st, message_of(b, m, sizeof(m)));
    return true;
}

int cf_probe_round(const char *app, const char *objsrv, long timeout_ms, struct cf_probe_result *r)
{
    uint8_t data[CF_PROBE_SIZE];
    struct cf_buf b;
    bool ok;
    double t;

    memset(r, 0, sizeof(*r));
    for (int i = 0; i < CF_PROBE_OPS; i++)
        r->seconds[i] = -1;
    r->ok = true;
    if (RAND_bytes(data, sizeof(data)) != 1)
        return CF_EINTERNAL;
    cf_buf_init(&b, REPLY_MAX);
    t = mono_s();
    ok = put(r, app, data, timeout_ms, &b);
    r->seconds[CF_PROBE_PUT] = mono_s() - t;
    if (ok) {
        t = mono_s();
        ok = get(r, objsrv, data, timeout_ms, &b);
        r->seconds[CF_PROBE_GET] = mono_s() - t;
    }
    if (ok) {
        t = mono_s();
        (void)del(r, app, timeout_ms, &b);
        r->seconds[CF_PROBE_DELETE] = mono_s() - t;
    } else if (r->uuid[0] != '\0') {
        /* The download failed: the object is still deleted, untimed, and
         * the round reports the download's failure. */
        struct cf_probe_result ignored = *r;
        (void)del(&ignored, app, timeout_ms, &b);
    }
    cf_buf_fini(&b);
    return 0;
}
