/*
 * uuid.c -- the smart key's text form, filer path and random part (uuid.h).
 *
 * Both text forms hold the same 32 hex digits in the same order (4 shard,
 * 12 object id, 16 random); they differ only in length and separators, so
 * one table-driven scanner parses both.
 */
#include "coffer/uuid.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>

#include "coffer/err.h"
#include "coffer/hex.h"
#include "coffer/log.h"

#define NDIGITS 32

struct layout {
    const char *what; /* for messages */
    size_t len;
    /* sep[i] is the separator at byte i, or 0 where a hex digit belongs */
    char sep[CF_UUID_LEN];
};

static const struct layout uuid_layout = {
    "UUID", CF_UUID_LEN, {[8] = '-', [13] = '-', [18] = '-', [23] = '-'}};

static const struct layout path_layout = {"filer path", CF_UUID_PATH_LEN, {[4] = '/', [17] = '-'}};

/* Describe byte c for a message: 'x' when printable, 0xHH otherwise. */
static void describe(unsigned char c, char out[8])
{
    if (c > 0x20 && c < 0x7f && c != '\'')
        (void)snprintf(out, 8, "'%c'", c);
    else
        (void)snprintf(out, 8, "0x%02x", c);
}

static int scan(const struct layout *l, const char *s, size_t len, struct cf_uuid *out, char *err)
{
    uint8_t d[NDIGITS];
    struct cf_uuid u = {0, 0, 0};
    size_t nd = 0;
    char what[8];
    int rc = 0;

    if (len != l->len) {
        cf_err_set(err, "%s must be %zu bytes, got %zu", l->what, l->len, len);
        rc = CF_EINVAL;
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int v;

        if (l->sep[i] != '\0') {
            if (c != (unsigned char)l->sep[i]) {
                describe(c, what);
                cf_err_set(err, "%s byte %zu must be '%c', got %s", l->what, i, l->sep[i], what);
                rc = CF_EINVAL;
                goto out;
            }
            continue;
        }
        v = cf_hex_value(c, false);
        if (v < 0) {
            describe(c, what);
            if (c >= 'A' && c <= 'F')
                cf_err_set(err, "%s byte %zu is %s: hex digits must be lowercase", l->what, i,
                           what);
            else
                cf_err_set(err, "%s byte %zu must be a hex digit [0-9a-f], got %s", l->what, i,
                           what);
            rc = CF_EINVAL;
            goto out;
        }
        d[nd++] = (uint8_t)v;
    }
    cf_assert(nd == NDIGITS); /* the layouts are constants */
    for (size_t i = 0; i < 4; i++)
        u.shard = (uint16_t)(u.shard << 4 | d[i]);
    for (size_t i = 4; i < 16; i++)
        u.oid = u.oid << 4 | d[i];
    for (size_t i = 16; i < NDIGITS; i++)
        u.rnd = u.rnd << 4 | d[i];
    if (u.shard == 0) {
        cf_err_set(err, "%s has shard id 0, which is reserved", l->what);
        rc = CF_EINVAL;
        goto out;
    }
    if (u.oid == 0) {
        cf_err_set(err, "%s has object id 0, which is reserved", l->what);
        rc = CF_EINVAL;
        goto out;
    }
    *out = u;
out:
    return rc;
}

static void emit(const struct layout *l, const struct cf_uuid *u, char *out)
{
    size_t nd = 0;

    cf_assert(u->shard != 0 && u->oid != 0 && u->oid <= CF_UUID_OID_MAX);
    for (size_t i = 0; i < l->len; i++) {
        unsigned v;

        if (l->sep[i] != '\0') {
            out[i] = l->sep[i];
            continue;
        }
        if (nd < 4)
            v = (unsigned)(u->shard >> (4 * (3 - nd)));
        else if (nd < 16)
            v = (unsigned)(u->oid >> (4 * (15 - nd)));
        else
            v = (unsigned)(u->rnd >> (4 * (NDIGITS - 1 - nd)));
        out[i] = cf_hex_digit(v);
        nd++;
    }
    out[l->len] = '\0';
}

int cf_uuid_parse(const char *s, size_t len, struct cf_uuid *out, char *err)
{
    return scan(&uuid_layout, s, len, out, err);
}

bool cf_uuid_is_valid(const char *s, size_t len)
{
    struct cf_uuid u;

    return scan(&uuid_layout, s, len, &u, NULL) == 0;
}

void cf_uuid_format(const struct cf_uuid *u, char out[CF_UUID_SIZE])
{
    emit(&uuid_layout, u, out);
}

void cf_uuid_filer_path(const struct cf_uuid *u, char out[CF_UUID_PATH_SIZE])
{
    emit(&path_layout, u, out);
}

int cf_uuid_parse_filer_path(const char *s, size_t len, struct cf_uuid *out, char *err)
{
    return scan(&path_layout, s, len, out, err);
}

int cf_uuid_random(uint64_t *out)
{
    unsigned char b[sizeof(uint64_t)];
    size_t got = 0;
    uint64_t v = 0;
    int rc = 0;

    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            cf_log_errno(CF_LOG_ERROR, e, "getrandom failed");
            rc = CF_EIO;
            goto out;
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(b); i++)
        v = v << 8 | b[i];
    *out = v;
out:
    return rc;
}
