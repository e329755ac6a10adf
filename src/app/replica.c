/*
 * replica.c -- copy an object between filers (replica.h).
 */
#include "coffer/replica.h"

#include <stdio.h>
#include <stdlib.h>

#include "coffer/err.h"
#include "coffer/fanout.h"
#include "coffer/fetch.h"

#define COPY_PIECE (64 * 1024)

int cf_replica_copy(const char *const *srcs, size_t n, const char *dst, uint64_t size,
                    const uint8_t sha[CF_SHA512_LEN], unsigned stall_s, char *err)
{
    struct cf_fetch_opts fo = {
        .urls = srcs, .n = n, .first = 0, .len = size, .sha = sha, .stall_s = stall_s};
    struct cf_fetch *in = NULL;
    struct cf_fanout *out = NULL;
    const char *why = "";
    char *piece = NULL;
    int rc;

    rc = cf_fanout_open(&dst, 1, stall_s, &out);
    if (rc < 0)
        goto out;
    if (size > 0) {
        rc = cf_fetch_open(&fo, &in);
        if (rc < 0)
            goto out;
        piece = cf_xmalloc(COPY_PIECE);
        for (;;) {
            ssize_t got = cf_fetch_read(in, piece, COPY_PIECE);
            if (got == 0)
                break;
            if (got < 0) {
                rc = (int)got;
                cf_err_set(err, "reading a source replica: %s", cf_strerror(rc));
                goto out;
            }
            if (cf_fanout_write(out, piece, (size_t)got) == 0)
                break;
        }
    }
    if (cf_fanout_finish(out, sha) != 1) {
        (void)cf_fanout_state(out, 0, &why);
        cf_err_set(err, "writing %s: %s", dst, why);
        rc = CF_EIO;
        goto out;
    }
out:
    free(piece);
    cf_fetch_free(in);
    cf_fanout_free(out);
    return rc;
}
