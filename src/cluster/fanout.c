/*
 * fanout.c -- one body to several filers at once: the filer protocol over
 * the upload pump (fanout.h).
 */
#include "coffer/fanout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/xform.h"

struct target {
    enum cf_fanout_state state;
    char reason[160];           /* while sending: the start of the reply body */
    long status;                /* the reply's HTTP status; 0: none */
    uint8_t sha[CF_SHA512_LEN]; /* CF_FANOUT_OK: the digest the filer computed */
};

struct cf_fanout {
    struct cf_pump *p;
    size_t n;
    bool eof;
    /* The body's digest: the sender's, given at its end, or else the one
     * the targets that stored it agree on (has_sha once known). */
    bool has_sha;
    uint8_t sha[CF_SHA512_LEN];
    struct target t[CF_FANOUT_MAX];
};

/* Reply bodies are small JSON; keep the start of one for the reason
 * (cf_pump_reply_cb). */
static void on_reply(void *ctx, size_t i, const char *p, size_t n)
{
    struct target *t = &((struct cf_fanout *)ctx)->t[i];

    if (t->reason[0] == '\0')
        (void)snprintf(t->reason, sizeof(t->reason), "%.*s", (int)(n < 150 ? n : 150), p);
}

static void fail(struct target *t, const char *why)
{
    (void)snprintf(t->reason, sizeof(t->reason), "%s", why);
    t->state = CF_FANOUT_FAILED;
}

int cf_fanout_new(const char *const *urls, size_t n, unsigned stall_s, struct cf_fanout **out)
{
    return cf_fanout_new_with(urls, n, stall_s, NULL, out);
}

int cf_fanout_new_with(const char *const *urls, size_t n, unsigned stall_s,
                       const char *const *headers, struct cf_fanout **out)
{
    struct cf_pump_opts o = {.method = "PUT",
                             .urls = urls,
                             .n = n,
                             .stall_s = stall_s,
                             .reply_s = stall_s,
                             .sha_trailer = true,
                             .headers = headers,
                             .on_reply = on_reply};
    struct cf_fanout *f = NULL;
    int rc = CF_EINVAL;

    if (n == 0 || n > CF_FANOUT_MAX)
        goto out;
    f = cf_xcalloc(1, sizeof(*f));
    f->n = n;
    o.ctx = f;
    rc = cf_pump_new(&o, &f->p);
    if (rc < 0)
        goto out;
    *out = f;
    f = NULL;
out:
    cf_fanout_free(f);
    return rc;
}

/* Give each target whose transfer ended its verdict, once. */
static void judge(struct cf_fanout *f)
{
    for (size_t i = 0; i < f->n; i++) {
        struct target *t = &f->t[i];
        uint8_t sha[CF_SHA512_LEN];
        const char *why = "";
        long status = 0;
        enum cf_pump_state st = cf_pump_state(f->p, i, &status, &why);

        if (t->state != CF_FANOUT_SENDING || st == CF_PUMP_RUNNING)
            continue;
        if (st == CF_PUMP_STALLED) {
            fail(t, "took no bytes for the stall time");
        } else if (st == CF_PUMP_BROKEN) {
            fail(t, why);
        } else if (status != 201) {
            char detail[sizeof(t->reason)], code[16];
            t->status = status;
            memcpy(detail, t->reason, sizeof(detail));
            (void)snprintf(code, sizeof(code), "%ld", status % 1000);
            (void)snprintf(t->reason, sizeof(t->reason), "HTTP %.3s %.140s", code, detail);
            t->state = CF_FANOUT_FAILED;
        } else if (!f->eof) {
            fail(t, "replied before the body ended");
        } else if (cf_pump_reply_sha512(f->p, i, sha) != 0) {
            fail(t, "the filer's reply has no SHA-512");
        } else if (f->has_sha && memcmp(sha, f->sha, CF_SHA512_LEN) != 0) {
            fail(t, "the filer's SHA-512 differs from the one sent");
        } else {
            memcpy(t->sha, sha, CF_SHA512_LEN);
            t->reason[0] = '\0';
            t->state = CF_FANOUT_OK;
        }
    }
}

int cf_fanout_write(struct cf_fanout *f, const void *p, size_t n)
{
    /* Every target that ended before the body did (409, 507, a refusal)
     * has failed, so the live targets are the running ones. */
    int live = cf_pump_write(f->p, p, n);

    judge(f);
    return live;
}

/* With no digest sent, the targets that stored the body must agree on
 * its digest, which becomes the body's. Which of two different ones is
 * right cannot be known, so a disagreement rejects every target. */
static void agree(struct cf_fanout *f)
{
    const struct target *first = NULL;
    bool same = true;

    for (size_t i = 0; i < f->n; i++) {
        if (f->t[i].state != CF_FANOUT_OK)
            continue;
        if (first == NULL)
            first = &f->t[i];
        else if (memcmp(first->sha, f->t[i].sha, CF_SHA512_LEN) != 0)
            same = false;
    }
    if (first == NULL)
        return;
    if (same) {
        memcpy(f->sha, first->sha, CF_SHA512_LEN);
        f->has_sha = true;
        return;
    }
    for (size_t i = 0; i < f->n; i++) {
        if (f->t[i].state == CF_FANOUT_OK) {
            fail(&f->t[i], "the filers computed different SHA-512s for one body");
            f->t[i].state = CF_FANOUT_DISAGREED;
        }
    }
}

int cf_fanout_finish(struct cf_fanout *f, const uint8_t *sha)
{
    int ok = 0;

    if (sha != NULL) {
        memcpy(f->sha, sha, CF_SHA512_LEN);
        f->has_sha = true;
    }
    f->eof = true;
    cf_pump_finish(f->p, sha);
    judge(f);
    if (!f->has_sha)
        agree(f);
    for (size_t i = 0; i < f->n; i++)
        ok += f->t[i].state == CF_FANOUT_OK;
    return ok;
}

bool cf_fanout_refused_checksum(const struct cf_fanout *f)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->t[i].state == CF_FANOUT_FAILED && f->t[i].status == cf_err_http_status(CF_ECHECKSUM))
            return true;
    return false;
}

int cf_fanout_digest(const struct cf_fanout *f, uint8_t sha[CF_SHA512_LEN])
{
    for (size_t i = 0; f->has_sha && i < f->n; i++) {
        if (f->t[i].state == CF_FANOUT_OK) {
            memcpy(sha, f->sha, CF_SHA512_LEN);
            return 0;
        }
    }
    return CF_ENOTFOUND;
}

enum cf_fanout_state cf_fanout_state(const struct cf_fanout *f, size_t i, const char **reason)
{
    if (reason != NULL)
        *reason = f->t[i].state == CF_FANOUT_FAILED || f->t[i].state == CF_FANOUT_DISAGREED
                      ? f->t[i].reason
                      : "";
    return f->t[i].state;
}

int cf_fanout_stored(const struct cf_fanout *f, size_t i, uint64_t *size,
                     uint8_t sha[CF_SHA512_LEN])
{
    char v[CF_SHA512_HEX_LEN + 1], *end = NULL;
    unsigned long long n;

    if (f->t[i].state != CF_FANOUT_OK ||
        cf_pump_reply_header(f->p, i, CF_XFORM_STORED_SIZE_HEADER, v, sizeof(v)) < 0)
        return CF_ENOTFOUND;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0)
        return CF_ENOTFOUND;
    if (cf_pump_reply_header(f->p, i, CF_XFORM_STORED_SHA_HEADER, v, sizeof(v)) < 0 ||
        cf_sha512_parse_hex(v, strlen(v), sha) < 0)
        return CF_ENOTFOUND;
    *size = (uint64_t)n;
    return 0;
}

void cf_fanout_free(struct cf_fanout *f)
{
    if (f == NULL)
        return;
    cf_pump_free(f->p);
    free(f);
}
