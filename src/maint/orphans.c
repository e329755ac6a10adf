/*
 * orphans.c -- the orphans job (maint.h): bytes on a filer that no record
 * lists and no hold covers are deleted.
 *
 * Uploads and jobs hold every path on the stale-replica list before they
 * write it (objdb.h cf_objdb_upload_hold, cf_objdb_stale_hold), so the
 * stale drain deletes what a crash leaves behind. What still slips through
 * (bytes written before holds existed, a filer that was down when its
 * record dropped it and came back, an object file put on a filer by hand)
 * is found here: each filer's GET /list, page by page, with each file's
 * age on the filer's own clock (mtime_ms against now_ms). A file whose
 * path is an object path (cf_uuid_parse_filer_path), older than the grace
 * period, is claimed with cf_objdb_orphan_claim, which re-checks in one
 * shard transaction, right before the DELETE, that no record (live or in
 * the deleted map) lists it and no hold covers it, and marks it SENT so a
 * job that is about to list the same path fails its hold instead of
 * copying bytes about to go. Other files (not an object path, a shard this
 * catalog does not know) are never touched.
 *
 * Cursor: "F:PATH" (filer F is walked after PATH; "F:" from its start),
 * filers in id order, or "end". Checkpointed after each page.
 *
 * Report (counters, all created at the start): files (listed), young
 * (under the grace period), listed (a record lists them), held (a hold or
 * a DELETE in flight covers them), foreign (not an object path of this
 * catalog), reclaimed and reclaimed_bytes (deleted; with dry_run: would
 * be), failed (claim or DELETE failed: the stale drain sends a failed
 * DELETE again), filers_down (skipped: not up, or its URL answers /status
 * with another filer's id).
 */
#include "coffer/maint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/limits.h"
#include "coffer/log.h"
#include "coffer/metrics.h"
#include "coffer/replica.h"
#include "coffer/uuid.h"

/* Files per /list page. */
#define PAGE 1000
/* A filer may take this long to answer a /list page or a DELETE. */
#define LIST_TIMEOUT_MS   30000
#define DELETE_TIMEOUT_MS 5000

static const struct cf_job_arg arg_table[] = {
    {.name = "grace_s",
     .option = "grace-s",
     .metavar = "SECONDS",
     .type = CF_JOB_ARG_INT,
     .min = 0,
     .max = 10.0 * 365 * 86400,
     .def = "3600",
     .help = "only files older than this, on the filer's clock"},
    {.name = "dry_run",
     .option = "dry-run",
     .type = CF_JOB_ARG_BOOL,
     .def = "false",
     .help = "count what would be deleted, delete nothing"},
    {.name = "filer", .metavar = "F", .type = CF_JOB_ARG_FILER, .help = "only this filer"},
};

static const char *const counters[] = {"files",  "young",       "listed",
                                       "held",   "foreign",     "reclaimed",
                                       "failed", "filers_down", "reclaimed_bytes"};

struct orphans {
    struct cf_job *j;
    struct cf_objdb *odb;
    uint64_t grace_ms, before_ms;
    bool dry_run;
    struct cf_metric *m_files, *m_bytes;
};

/* Percent-encode s into out (cap bytes) for a query value. Returns 0, or
 * CF_ETOOLARGE. */
static int query_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;

    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~' ||
                     ch == '/';
        if (k + (plain ? 1 : 3) >= cap)
            return CF_ETOOLARGE;
        if (plain) {
            out[k++] = (char)ch;
        } else {
            out[k++] = '%';
            out[k++] = hex[ch >> 4];
            out[k++] = hex[ch & 15];
        }
    }
    out[k] = '\0';
    return 0;
}

/* One file of filer f's listing. */
static void one_file(struct orphans *o, const struct cf_objdb_filer *f, const char *path,
                     uint64_t size, uint64_t age_ms)
{
    struct cf_objdb_stale row;
    struct cf_uuid u;
    char url[CF_REPLICA_URL_MAX], why[CF_ERR_LEN] = "", text[CF_UUID_SIZE];
    int rc;

    cf_job_count(o->j, "files", 1);
    if (cf_uuid_parse_filer_path(path, strlen(path), &u, NULL) < 0) {
        cf_job_count(o->j, "foreign", 1);
        return;
    }
    if (age_ms < o->grace_ms) {
        cf_job_count(o->j, "young", 1);
        return;
    }
    cf_uuid_format(&u, text);
    rc = cf_objdb_orphan_claim(o->odb, &u, f->id, path, o->before_ms, o->dry_run, &row, why);
    if (rc == 1) {
        cf_job_count(o->j, "listed", 1);
        return;
    }
    if (rc == CF_EBUSY) {
        cf_job_count(o->j, "held", 1);
        return;
    }
    if (rc == CF_ENOTFOUND) {
        cf_job_count(o->j, "foreign", 1); /* a shard this catalog does not have */
        return;
    }
    if (rc < 0) {
        cf_job_count(o->j, "failed", 1);
        cf_log(CF_LOG_WARN, "orphans: %s on filer %" PRIu32 " not claimed: %s", path, f->id, why);
        return;
    }
    if (o->dry_run) {
        cf_job_count(o->j, "reclaimed", 1);
        cf_job_count(o->j, "reclaimed_bytes", size);
        cf_job_log(o->j, CF_SCRIBE_ORPHAN, f->id, text,
                   "orphan (dry run): %s, %" PRIu64 " bytes no record lists, %" PRIu64 " s old",
                   path, size, age_ms / 1000);
        return;
    }
    if (cf_replica_url(f->url, path, url) < 0 ||
        cf_replica_delete(url, DELETE_TIMEOUT_MS, why) < 0) {
        /* The row stays SENT: the stale drain sends the DELETE again. */
        cf_job_count(o->j, "failed", 1);
        cf_log(CF_LOG_WARN, "orphans: %s on filer %" PRIu32 " not deleted: %s", path, f->id, why);
        return;
    }
    if (cf_objdb_stale_done(o->odb, &row, why) < 0)
        cf_log(CF_LOG_WARN, "orphans: %s on filer %" PRIu32 " deleted, its row stays: %s", path,
               f->id, why);
    cf_job_count(o->j, "reclaimed", 1);
    cf_job_count(o->j, "reclaimed_bytes", size);
    cf_metric_add(o->m_files, 1);
    cf_metric_add(o->m_bytes, size);
    cf_job_log(o->j, CF_SCRIBE_ORPHAN, f->id, text,
               "orphan deleted: %s, %" PRIu64 " bytes no record lists, %" PRIu64 " s old", path,
               size, age_ms / 1000);
}

/* Walk filer f's listing from after (borrowed; "" for the start),
 * checkpointing after each page. Returns 0 at its end, CF_ECANCELED, or
 * an error with err. */
static int walk_filer(struct orphans *o, const struct cf_objdb_filer *f, const char *after,
                      char *err)
{
    char cur[CF_PATH_MAX + 1], esc[3 * CF_PATH_MAX + 1],
        url[CF_OBJDB_URL_MAX + 3 * CF_PATH_MAX + 64];
    char cp[CF_JOB_CURSOR_MAX + 1];
    int rc = 0;

    (void)snprintf(cur, sizeof(cur), "%s", after);
    for (;;) {
        json_t *reply = NULL, *arr, *next, *e;
        long status = 0;
        uint64_t now;
        size_t i;
        int n;

        if (cf_job_should_stop(o->j))
            return CF_ECANCELED;
        if (query_escape(cur, esc, sizeof(esc)) < 0)
            return CF_EINTERNAL;
        n = snprintf(url, sizeof(url), "%s/list?limit=%d&after=%s", f->url, PAGE, esc);
        if (n < 0 || (size_t)n >= sizeof(url)) {
            cf_err_set(err, "the /list URL of filer %" PRIu32 " is too long", f->id);
            return CF_EINTERNAL;
        }
        rc = cf_httpc_json("GET", url, NULL, LIST_TIMEOUT_MS, &status, &reply, err);
        if (rc == 0 && status != 200) {
            cf_err_set(err, "GET %s: status %ld", url, status);
            rc = CF_EUNAVAIL;
        }
        arr = json_object_get(reply, "objects");
        next = json_object_get(reply, "next");
        if (rc == 0 &&
            (!json_is_array(arr) || !json_is_integer(json_object_get(reply, "now_ms")))) {
            cf_err_set(err, "GET %s: no objects or no now_ms in the reply", url);
            rc = CF_EUNAVAIL;
        }
        if (rc < 0) {
            json_decref(reply);
            return rc;
        }
        now = (uint64_t)json_integer_value(json_object_get(reply, "now_ms"));
        json_array_foreach(arr, i, e)
        {
            const char *p = json_string_value(json_object_get(e, "path"));
            json_int_t size = json_integer_value(json_object_get(e, "size"));
            json_int_t mt = json_integer_value(json_object_get(e, "mtime_ms"));
            if (p == NULL || size < 0 || mt <= 0)
                continue;
            one_file(o, f, p, (uint64_t)size, now > (uint64_t)mt ? now - (uint64_t)mt : 0);
            cf_job_done(o->j, 1, (uint64_t)size);
        }
        if (json_is_string(next))
            (void)snprintf(cur, sizeof(cur), "%s", json_string_value(next));
        json_decref(reply);
        if (!json_is_string(next))
            return 0;
        n = snprintf(cp, sizeof(cp), "%" PRIu32 ":%s", f->id, cur);
        if (n < 0 || (size_t)n >= sizeof(cp))
            return CF_EINTERNAL;
        rc = cf_job_checkpoint(o->j, cp, err);
        if (rc < 0)
            return rc;
    }
}

/* Whether the filer at f's URL answers /status as filer f->id now: a URL
 * that reaches another filer (re-registered, swapped) must not have its
 * files judged by f's records. */
static bool is_that_filer(const struct cf_objdb_filer *f)
{
    char url[CF_OBJDB_URL_MAX + 16];
    json_t *j = NULL;
    long status = 0;
    bool same;

    if (snprintf(url, sizeof(url), "%s/status", f->url) >= (int)sizeof(url) ||
        cf_httpc_json("GET", url, NULL, LIST_TIMEOUT_MS, &status, &j, NULL) < 0)
        return false;
    same = status == 200 && json_is_integer(json_object_get(j, "id")) &&
           json_integer_value(json_object_get(j, "id")) == (json_int_t)f->id;
    json_decref(j);
    return same;
}

static int cmp_filer(const void *a, const void *b)
{
    const struct cf_objdb_filer *x = a, *y = b;

    return x->id < y->id ? -1 : x->id > y->id;
}

static int orphans_run(struct cf_job *j, char *err)
{
    const struct cf_job_env *env = cf_job_env(j);
    const json_t *args = cf_job_args(j);
    const char *cursor = cf_job_cursor(j), *after = "";
    struct orphans o = {.j = j, .odb = env->odb};
    struct cf_objdb_filer *fl = NULL;
    uint64_t now = cf_wall_ms(), from = 0, total = 0, only;
    size_t n = 0;
    int rc = 0;

    for (size_t i = 0; i < CF_ARRAY_LEN(counters); i++)
        cf_job_count(j, counters[i], 0);
    o.m_files = cf_metric_counter("coffer_orphans_reclaimed_total",
                                  "files no record lists deleted by the orphans job", NULL);
    o.m_bytes = cf_metric_counter("coffer_orphans_reclaimed_bytes_total",
                                  "bytes of the files the orphans job deleted", NULL);
    o.grace_ms = (uint64_t)json_integer_value(json_object_get(args, "grace_s")) * 1000;
    o.dry_run = json_is_true(json_object_get(args, "dry_run"));
    only = (uint64_t)json_integer_value(json_object_get(args, "filer"));
    /* A hold is over once the stale drain may take it: then it covers
     * nothing any more. */
    o.before_ms = now > env->stale_delay_ms ? now - env->stale_delay_ms : 0;
    if (strcmp(cursor, "end") == 0)
        return 0;
    if (cursor[0] != '\0') {
        char *end = NULL;
        from = strtoull(cursor, &end, 10);
        if (end == cursor || *end != ':') {
            cf_err_set(err, "bad cursor \"%.64s\"", cursor);
            return CF_EINVAL;
        }
        after = end + 1;
    }
    env->filers(env->filers_ctx, &fl, &n);
    if (n > 1)
        qsort(fl, n, sizeof(*fl), cmp_filer);
    for (size_t i = 0; i < n; i++)
        if (only == 0 || fl[i].id == only)
            total += fl[i].objects;
    cf_job_set_total(j, total, 0);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct cf_objdb_filer *f = &fl[i];
        if (f->id < from || (only != 0 && f->id != only))
            continue;
        if (!cf_objdb_filer_up(f) || !is_that_filer(f)) {
            cf_job_count(j, "filers_down", 1);
            cf_log(CF_LOG_WARN,
                   "orphans: filer %" PRIu32 " is not up, or another filer answers"
                   " at its URL: skipped",
                   f->id);
            continue;
        }
        rc = walk_filer(&o, f, f->id == from ? after : "", err);
        if (rc == 0 && i + 1 < n) {
            char cp[32];
            (void)snprintf(cp, sizeof(cp), "%" PRIu32 ":", fl[i + 1].id);
            rc = cf_job_checkpoint(j, cp, err);
        }
    }
    free(fl);
    if (rc == 0)
        rc = cf_job_checkpoint(j, "end", err);
    return rc;
}

const struct cf_job_kind cf_job_orphans = {
    .name = "orphans",
    .args = arg_table,
    .nargs = CF_ARRAY_LEN(arg_table),
    .run = orphans_run,
};
