/*
 * walk.c -- the walk of the maintenance jobs (maint_int.h): pages listed
 * from the job's cursor, handled by the job, retried, and checkpointed.
 *
 * The position saved after a page is the list's own cursor (which may be
 * past the page's last item: the end of a shard, the end of the walk). A
 * walk that ends part way saves the position after the last of the
 * leading items that are finished; the page's other items, finished or
 * not, are handled again by the next run, which is why every step of a job
 * must be idempotent (job.h).
 */
#include "maint_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coffer/err.h"
#include "coffer/log.h"
#include "coffer/uuid.h"

/* The stop is checked this often during a retry pause. */
#define PAUSE_STEP_MS 50

/* "" (not started), "S:OID", or "end". */
static void format_pos(const struct cf_objdb_cursor *c, char *out, size_t cap)
{
    if (c->done)
        (void)snprintf(out, cap, "end");
    else if (c->shard == 0 && c->after_oid == 0)
        (void)snprintf(out, cap, "%s", "");
    else
        (void)snprintf(out, cap, "%u:%" PRIu64, (unsigned)c->shard, c->after_oid);
}

/* Parse what format_pos wrote. Returns 0 or CF_EINVAL. */
static int parse_pos(const char *s, struct cf_objdb_cursor *c)
{
    unsigned long long shard, oid;
    char *end = NULL;

    memset(c, 0, sizeof(*c));
    if (s[0] == '\0')
        return 0;
    if (strcmp(s, "end") == 0) {
        c->done = true;
        return 0;
    }
    errno = 0;
    shard = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != ':' || shard > CF_UUID_SHARD_MAX)
        return CF_EINVAL;
    s = end + 1;
    oid = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return CF_EINVAL;
    c->shard = (uint16_t)shard;
    c->after_oid = oid;
    return 0;
}

int cf__maint_walk_resume(struct cf__maint_walk *w, char *err)
{
    const char *s = cf_job_cursor(w->j);
    unsigned long long key = 0;
    char *end = NULL;
    int rc;

    w->key = 0;
    memset(&w->cur, 0, sizeof(w->cur));
    if (!w->keyed || s[0] == '\0') {
        rc = parse_pos(s, &w->cur);
        goto out;
    }
    errno = 0;
    key = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != ':' || key > UINT32_MAX) {
        rc = CF_EINVAL;
        goto out;
    }
    w->key = (uint32_t)key;
    rc = parse_pos(end + 1, &w->cur);
out:
    if (rc < 0)
        cf_err_set(err, "bad saved cursor \"%s\"", s);
    return rc;
}

/* Save position c (with the key) as the job's cursor. */
static int checkpoint(struct cf__maint_walk *w, const struct cf_objdb_cursor *c, char *err)
{
    char pos[48], text[64];

    format_pos(c, pos, sizeof(pos));
    if (w->keyed)
        (void)snprintf(text, sizeof(text), "%" PRIu32 ":%s", w->key, pos[0] ? pos : "0:0");
    else
        (void)snprintf(text, sizeof(text), "%s", pos);
    return cf_job_checkpoint(w->j, text, err);
}

/* Sleep ms, in steps, returning early once a stop is asked. */
static void pause_ms(struct cf_job *j, unsigned ms)
{
    struct timespec ts = {0, PAUSE_STEP_MS * 1000000L};

    for (unsigned t = 0; t < ms && !cf_job_should_stop(j); t += PAUSE_STEP_MS)
        (void)nanosleep(&ts, NULL);
}

/* Handle one listed page at[0..n) and its retry rounds. On return *done is
 * the leading items of the page finished: n when the page is, what the
 * handler said when it ended the walk part way in round 0, else 0 (a retry
 * round's items are not in walk order). Returns as the handler, or as
 * give_up. */
static int handle_page(struct cf__maint_walk *w, const struct cf_uuid *at, size_t n, size_t *done,
                       char *err)
{
    struct cf_uuid fail[CF__MAINT_BATCH], retry[CF__MAINT_BATCH];
    struct cf__maint_page pg = {.at = at, .n = n, .round = 0, .fail = fail};
    int rc;

    *done = 0;
    rc = w->handle(w->ctx, &pg, err);
    if (rc != 0) {
        *done = pg.done < n ? pg.done : n;
        goto out;
    }
    for (unsigned round = 1; round <= w->retries && pg.nfail > 0; round++) {
        pause_ms(w->j, w->retry_pause_ms);
        if (cf_job_should_stop(w->j)) {
            rc = CF_ECANCELED;
            goto out;
        }
        memcpy(retry, fail, pg.nfail * sizeof(*retry));
        pg = (struct cf__maint_page){.at = retry, .n = pg.nfail, .round = round, .fail = fail};
        rc = w->handle(w->ctx, &pg, err);
        if (rc != 0)
            goto out;
    }
    if (w->give_up != NULL) {
        rc = w->give_up(w->ctx, fail, pg.nfail, err);
        if (rc != 0)
            goto out;
    }
    *done = n;
out:
    return rc;
}

int cf__maint_walk_run(struct cf__maint_walk *w, char *err)
{
    struct cf_uuid at[CF__MAINT_BATCH];
    size_t batch = w->batch < CF__MAINT_BATCH ? w->batch : CF__MAINT_BATCH;
    int rc = 0;

    cf_assert(batch > 0);
    while (!w->cur.done) {
        struct cf_objdb_cursor next = w->cur;
        size_t done = 0;
        int n;

        if (cf_job_should_stop(w->j)) {
            rc = CF_ECANCELED;
            goto out;
        }
        n = w->list(w->ctx, &next, at, batch, err);
        if (n < 0) {
            rc = n;
            goto out;
        }
        rc = handle_page(w, at, (size_t)n, &done, err);
        if (rc != 0) {
            int crc = 0;
            /* Ended part way: resume after the leading items finished. */
            if (done > 0 && done < (size_t)n)
                next = (struct cf_objdb_cursor){at[done - 1].shard, at[done - 1].oid, false};
            if (done > 0) {
                crc = checkpoint(w, &next, rc > 0 ? err : NULL);
                if (crc == 0)
                    w->cur = next;
            }
            if (rc > 0) {
                rc = crc; /* a yield is no error; a failed checkpoint is */
            } else if (crc < 0) {
                cf_log(CF_LOG_WARN, "job %" PRIu64 ": ended part way; its cursor was not saved",
                       cf_job_id(w->j));
            }
            goto out;
        }
        rc = checkpoint(w, &next, err);
        if (rc < 0)
            goto out;
        w->cur = next;
    }
    rc = 0;
out:
    return rc;
}
