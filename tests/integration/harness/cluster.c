/*
 * cluster.c -- the data path: catalog, records, uploads, downloads, the
 * cluster, purge, jobs and the scribe (cluster.h).
 */
#include "harness/cluster.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/log.h"
#include "coffer/objdb.h"
#include "coffer/scribe.h"
#include "coffer/uuid.h"
#include "harness/disk.h"
#include "harness/harness_int.h"

/* ---- the catalog ------------------------------------------------------------ */

void it_case_db(char out[IT_PATH_MAX])
{
    it_case_db_uri(out, "catalog");
}

void it_admin_filer_add(const char *db, const struct it_filer *f, unsigned weight)
{
    char id[16], w[16];
    int st;

    it_fmt(id, sizeof(id), "%u", f->id);
    it_fmt(w, sizeof(w), "%u", weight);
    st = it_coffer_cmd(NULL, 0, NULL, "admin", "filer", "add", "--db", db, "--id", id, "--url",
                       f->base, "--weight", w, "--read-weight", w, NULL);
    IT_CHECKF(it_exit_code(st) == 0, "coffer admin filer add --id %s: status 0x%x (see cmd.log)",
              id, (unsigned)st);
}

void it_set_read_weights(const char *db, const int64_t *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char id[16], w[24];
        int st;
        it_fmt(id, sizeof(id), "%zu", i + 1);
        it_fmt(w, sizeof(w), "%" PRId64, want[i]);
        st = it_coffer_cmd(NULL, 0, NULL, "admin", "filer", "set", "--db", db, "--id", id,
                           "--read-weight", w, NULL);
        IT_CHECKF(it_exit_code(st) == 0, "admin filer set --id %s --read-weight %s: 0x%x", id, w,
                  (unsigned)st);
    }
}

int64_t it_info_read_weight(const char *app, const char *uuid, unsigned id)
{
    char target[128];
    struct it_resp r;
    int64_t w = -1;

    it_fmt(target, sizeof(target), "/v1/objects/%s/info", uuid);
    if (it_http_to(NULL, app, "GET", target, NULL, &r, NULL) == 200) {
        json_t *j = it_resp_json(&r), *fl = json_object_get(j, "filers");
        for (size_t i = 0; i < json_array_size(fl); i++)
            if (it_json_int(json_array_get(fl, i), "id") == (int64_t)id)
                w = it_json_int(json_array_get(fl, i), "read_weight");
        json_decref(j);
    }
    it_resp_fini(&r);
    return w;
}

struct read_weights_wait {
    const char *app, *uuid;
    const int64_t *want;
    size_t n;
};

static bool has_read_weights(void *arg)
{
    const struct read_weights_wait *w = arg;
    char target[128];
    struct it_resp r;
    bool all = false;

    it_fmt(target, sizeof(target), "/v1/objects/%s/info", w->uuid);
    if (it_http_to(NULL, w->app, "GET", target, NULL, &r, NULL) == 200) {
        json_t *j = it_resp_json(&r), *fl = json_object_get(j, "filers");
        all = json_array_size(fl) > 0;
        for (size_t i = 0; i < json_array_size(fl); i++) {
            json_t *f = json_array_get(fl, i);
            int64_t id = it_json_int(f, "id");
            if (id >= 1 && (size_t)id <= w->n && it_json_int(f, "read_weight") != w->want[id - 1])
                all = false;
        }
        json_decref(j);
    }
    it_resp_fini(&r);
    return all;
}

void it_wait_read_weights(const char *app, const char *uuid, const int64_t *want, size_t n)
{
    struct read_weights_wait w = {app, uuid, want, n};

    IT_CHECKF(it_wait_for(has_read_weights, &w, 100, 100),
              "the app never gave the filers of %s their read weights", uuid);
}

void it_admin_shard_add(const char *db)
{
    char out[256], loc[IT_PATH_MAX];
    int st;

    if (it_shard_location(loc, "shard") != NULL)
        st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "shard", "add", "--db", db,
                           "--location", loc, NULL);
    else
        st = it_coffer_cmd(out, sizeof(out), NULL, "admin", "shard", "add", "--db", db, NULL);

    IT_CHECKF(it_exit_code(st) == 0, "coffer admin shard add: status 0x%x (see cmd.log)",
              (unsigned)st);
    IT_CHECKF(strstr(out, "shard ") != NULL && strstr(out, " added") != NULL,
              "coffer admin shard add printed \"%s\"", out);
}

static int cmp_uuid(const void *a, const void *b)
{
    const struct cf_uuid *x = a, *y = b;
    int c = 0;

    if (x->shard != y->shard)
        c = x->shard < y->shard ? -1 : 1;
    else if (x->oid != y->oid)
        c = x->oid < y->oid ? -1 : 1;
    return c;
}

unsigned it_objdb_count(const char *db, unsigned max_id)
{
    char uri[IT_PATH_MAX], err[CF_ERR_LEN] = "";
    struct cf_objdb *odb = NULL;
    struct cf_uuid *all = NULL, page[256];
    size_t n = 0, cap = 0;
    unsigned distinct = 0;

    it_fmt(uri, sizeof(uri), "%s", db);
    cf_log_init("it", CF_LOG_WARN); /* no INFO lines from objdb in the test's output */
    IT_CHECKF(cf_objdb_open(uri, 1, &odb, err) == 0, "open %s: %s", db, err);
    for (unsigned id = 1; id <= max_id; id++) {
        struct cf_objdb_cursor cur;
        memset(&cur, 0, sizeof(cur));
        while (!cur.done) {
            int k = cf_objdb_list_by_filer(odb, id, &cur, page, CF_ARRAY_LEN(page), err);
            IT_CHECKF(k >= 0, "list filer %u: %s", id, err);
            if (k == 0)
                continue;
            if (n + (size_t)k > cap) {
                cap = 2 * (n + (size_t)k);
                all = cf_xrealloc(all, cap * sizeof(*all));
            }
            memcpy(all + n, page, (size_t)k * sizeof(*page));
            n += (size_t)k;
        }
    }
    cf_objdb_close(odb);
    if (n > 0)
        qsort(all, n, sizeof(*all), cmp_uuid);
    for (size_t i = 0; i < n; i++)
        distinct += i == 0 || cmp_uuid(&all[i - 1], &all[i]) != 0;
    free(all);
    return distinct;
}

/* ---- object records, uploads, downloads -------------------------------------- */

static void copy_str(char *out, size_t cap, const char *s, const char *what)
{
    size_t len = strlen(s);

    IT_CHECKF(len < cap, "%s is %zu bytes long", what, len);
    memcpy(out, s, len + 1);
}

void it_record_from_json(const json_t *j, struct it_record *rec)
{
    char path[CF_UUID_PATH_SIZE], err[CF_ERR_LEN] = "";
    const char *sha, *uuid;
    struct cf_uuid u;
    json_t *fl, *f;
    size_t i;

    memset(rec, 0, sizeof(*rec));
    IT_CHECKF(json_is_object(j), "a record is not a JSON object");
    uuid = it_json_str(j, "uuid");
    IT_CHECKF(cf_uuid_parse(uuid, strlen(uuid), &u, err) == 0, "record uuid \"%s\": %s", uuid, err);
    copy_str(rec->uuid, sizeof(rec->uuid), uuid, "uuid");
    copy_str(rec->path, sizeof(rec->path), it_json_str(j, "path"), "path");
    cf_uuid_filer_path(&u, path);
    if (strcmp(rec->path, path) != 0) {
        /* An alias (dedupe) has its holder's path: another record's, of
         * its shard or of another one. */
        struct cf_uuid h;
        IT_CHECKF(cf_uuid_parse_filer_path(rec->path, strlen(rec->path), &h, err) == 0,
                  "record %s: path \"%s\": %s", uuid, rec->path, err);
        IT_CHECKF(h.shard != u.shard || h.oid != u.oid,
                  "record %s: path \"%s\" is neither its own nor another record's", uuid,
                  rec->path);
    }
    IT_CHECK(it_json_int(j, "size") >= 0);
    rec->size = (uint64_t)it_json_int(j, "size");
    sha = it_json_str(j, "sha512");
    IT_CHECKF(cf_sha512_parse_hex(sha, strlen(sha), rec->sha) == 0, "record sha512 \"%s\"", sha);
    rec->replicas = (unsigned)it_json_int(j, "replicas");
    IT_CHECK(!it_json_bool(j, "deleted"));
    (void)it_json_int(j, "created_ms");
    fl = json_object_get(j, "filers");
    IT_CHECKF(json_is_array(fl), "record has no \"filers\" array");
    IT_CHECK(json_array_size(fl) <= IT_REPLICAS_MAX);
    json_array_foreach(fl, i, f)
    {
        unsigned id = (unsigned)it_json_int(f, "id");
        IT_CHECKF(!it_record_has(rec, id), "record %s lists filer %u twice", rec->uuid, id);
        rec->filers[i] = id;
        copy_str(rec->urls[i], IT_URL_MAX, it_json_str(f, "url"), "filer url");
        copy_str(rec->status[i], sizeof(rec->status[i]), it_json_str(f, "status"), "status");
        (void)it_json_int(f, "weight");
        (void)it_json_bool(f, "read_only");
        rec->nfilers = i + 1;
    }
}

bool it_record_has(const struct it_record *rec, unsigned id)
{
    bool has = false;

    for (size_t i = 0; i < rec->nfilers && !has; i++)
        has = rec->filers[i] == id;
    return has;
}

void it_check_upload_reply(const struct it_resp *r, uint64_t size, const uint8_t sha[CF_SHA512_LEN],
                           unsigned replicas, struct it_record *rec)
{
    struct it_record own;
    json_t *j;

    if (rec == NULL)
        rec = &own;
    IT_CHECKF(r->status == 201, "upload: status %ld (curl: %s), body %.300s", r->status,
              curl_easy_strerror((CURLcode)r->curl_code), r->body ? r->body : "");
    j = it_resp_json(r);
    it_record_from_json(j, rec);
    json_decref(j);
    IT_EQ(rec->size, size);
    IT_CHECKF(memcmp(rec->sha, sha, CF_SHA512_LEN) == 0,
              "upload %s: sha512 differs from the body's", rec->uuid);
    IT_EQ(rec->nfilers, rec->replicas);
    if (replicas > 0)
        IT_EQ(rec->replicas, replicas);
}

long it_upload(struct it_client *c, const char *app, uint64_t seed, uint64_t size, unsigned r,
               bool chunked, struct it_record *rec)
{
    struct it_body b = {.chunked = chunked};
    char target[64];
    uint8_t sha[CF_SHA512_LEN];
    struct it_resp resp;
    long st;

    if (r > 0)
        it_fmt(target, sizeof(target), "/v1/objects?replicas=%u", r);
    else
        it_fmt(target, sizeof(target), "/v1/objects");
    it_gen_init(&b.gen, seed, size);
    st = it_http_to(c, app, "POST", target, &b, &resp, NULL);
    if (st == 201) {
        it_gen_final(&b.gen, sha);
        it_check_upload_reply(&resp, size, sha, r, rec);
    } else {
        it_gen_fini(&b.gen);
    }
    it_resp_fini(&resp);
    return st;
}

void it_upload_ok(struct it_client *c, const char *app, uint64_t seed, uint64_t size, unsigned r,
                  bool chunked, struct it_record *rec)
{
    long st = it_upload(c, app, seed, size, r, chunked, rec);

    IT_CHECKF(st == 201, "upload of %llu bytes (seed %llu, r %u): status %ld",
              (unsigned long long)size, (unsigned long long)seed, r, st);
}

long it_info(const char *app, const char *uuid, struct it_record *rec)
{
    char target[128];
    struct it_resp r;
    long st;

    it_fmt(target, sizeof(target), "/v1/objects/%s/info", uuid);
    st = it_http_to(NULL, app, "GET", target, NULL, &r, NULL);
    if (st == 200) {
        json_t *j = it_resp_json(&r);
        it_record_from_json(j, rec);
        json_decref(j);
        IT_STREQ(rec->uuid, uuid);
    }
    it_resp_fini(&r);
    return st;
}

void it_check_download(const struct it_resp *r, const struct it_record *rec)
{
    it_check_object_reply(r, rec->uuid, rec->size, rec->sha);
}

void it_download_ok(struct it_client *c, const char *objsrv, const struct it_record *rec)
{
    char target[128];
    struct it_resp r;

    it_fmt(target, sizeof(target), "/v1/objects/%s", rec->uuid);
    it_http_to(c, objsrv, "GET", target, NULL, &r, NULL);
    it_check_download(&r, rec);
    it_resp_fini(&r);
}

void it_download_range_ok(struct it_client *c, const char *objsrv, const struct it_record *rec,
                          uint64_t seed, uint64_t first, uint64_t last)
{
    char target[128];

    it_fmt(target, sizeof(target), "/v1/objects/%s", rec->uuid);
    it_range_ok(c, objsrv, target, seed, first, last, rec->size);
}

void it_check_placement(const struct it_filer *fl, size_t n, const struct it_record *rec)
{
    size_t found = 0;

    for (size_t i = 0; i < n; i++) {
        if (it_record_has(rec, fl[i].id)) {
            it_check_object_file(&fl[i], rec->path, rec->size, rec->sha);
            found++;
        } else {
            IT_CHECKF(it_object_file_size(&fl[i], rec->path) == -1,
                      "object %s is on filer %u, which its record does not list", rec->uuid,
                      fl[i].id);
        }
    }
    IT_CHECKF(found == rec->nfilers, "object %s: %zu of the %zu filers it lists are known",
              rec->uuid, found, rec->nfilers);
}

/* ---- a cluster of separate processes ----------------------------------------- */

void it_cluster_init(struct it_cluster *c)
{
    memset(c, 0, sizeof(*c));
    c->app.pid = -1;
    c->app.out_fd = -1;
    c->objsrv.pid = -1;
    c->objsrv.out_fd = -1;
    it_case_db(c->db);
}

void it_cluster_add_filer(struct it_cluster *c, unsigned weight, ...)
{
    struct it_filer *f;
    char name[16];
    va_list ap;

    IT_CHECKF(c->n < IT_CLUSTER_MAX, "more than %d filers in a cluster", IT_CLUSTER_MAX);
    f = &c->f[c->n];
    it_fmt(name, sizeof(name), "f%zu", c->n + 1);
    it_filer_init(f, (unsigned)(c->n + 1), name);
    va_start(ap, weight);
    it__filer_start_okv(f, ap);
    va_end(ap);
    c->n++;
    it_admin_filer_add(c->db, f, weight);
}

void it_cluster_start_filers(struct it_cluster *c, size_t n)
{
    it_cluster_init(c);
    IT_CHECK(n >= 1 && n <= IT_CLUSTER_MAX);
    for (size_t i = 0; i < n; i++)
        it_cluster_add_filer(c, 100, NULL);
    it_admin_shard_add(c->db);
}

void it_cluster_start(struct it_cluster *c, size_t n, const unsigned *weights, unsigned ro_mask,
                      unsigned stall_s)
{
    char stall[16];

    it_cluster_init(c);
    IT_CHECK(n >= 1 && n <= IT_CLUSTER_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned weight = weights != NULL ? weights[i] : 100;
        if (ro_mask & (1u << i))
            it_cluster_add_filer(c, weight, "--read-only", NULL);
        else
            it_cluster_add_filer(c, weight, NULL);
    }
    it_admin_shard_add(c->db);
    it_fmt(stall, sizeof(stall), "%u", stall_s);
    it_app_start_ok(&c->app, c->db, "--stall-s", stall, NULL);
    it_objsrv_start_ok(&c->objsrv, c->app.base, "--stall-s", stall, NULL);
}

void it_cluster_stop(struct it_cluster *c)
{
    if (c->objsrv.pid > 0)
        it_proc_stop_ok(&c->objsrv);
    if (c->app.pid > 0)
        it_proc_stop_ok(&c->app);
    for (size_t i = 0; i < c->n; i++)
        if (c->f[i].pid > 0)
            it_filer_stop_ok(&c->f[i]);
}

struct status_wait {
    const struct it_cluster *c;
    const char *uuid, *status;
    unsigned id;
};

static bool filer_has_status(void *arg)
{
    const struct status_wait *w = arg;
    struct it_record rec;
    bool yes = false;

    IT_EQ(it_info(w->c->app.base, w->uuid, &rec), 200);
    for (size_t i = 0; i < rec.nfilers; i++)
        yes = yes || (rec.filers[i] == w->id && strcmp(rec.status[i], w->status) == 0);
    return yes;
}

void it_wait_filer_status(const struct it_cluster *c, const char *uuid, unsigned id,
                          const char *status)
{
    struct status_wait w = {c, uuid, status, id};

    IT_CHECKF(it_wait_for(filer_has_status, &w, 100, 100),
              "the app never reported filer %u %s (record %s)", id, status, uuid);
}

struct table_wait {
    const char *db;
    unsigned id;
    const char *status;
};

static bool filer_table_has(void *arg)
{
    const struct table_wait *w = arg;
    struct cf_objdb *odb = NULL;
    struct cf_objdb_filer f;
    bool ok = false;

    /* A catalog that cannot be opened now is tried again at the next poll. */
    if (cf_objdb_open(w->db, 1, &odb, NULL) < 0)
        goto out;
    if (cf_objdb_filer_get(odb, w->id, &f, NULL) == 0)
        ok = strcmp(f.status, w->status) == 0;
out:
    cf_objdb_close(odb);
    return ok;
}

void it_wait_filer_table(const char *db, unsigned id, const char *status)
{
    struct table_wait w = {db, id, status};

    IT_CHECKF(it_wait_for(filer_table_has, &w, 100, 100), "filer %u never became %s", id, status);
}

unsigned it_cluster_copies(const struct it_cluster *c, const char *path)
{
    unsigned n = 0;

    for (size_t i = 0; i < c->n; i++)
        if (it_object_file_size(&c->f[i], path) >= 0)
            n++;
    return n;
}

void it_cluster_verify(const struct it_cluster *c, const struct it_record *recs, size_t n,
                       unsigned replicas, unsigned gone)
{
    for (size_t i = 0; i < n; i++) {
        struct it_record now;
        IT_EQ(it_info(c->app.base, recs[i].uuid, &now), 200);
        IT_EQ(now.nfilers, replicas);
        IT_CHECK(memcmp(now.sha, recs[i].sha, CF_SHA512_LEN) == 0);
        for (size_t k = 0; k < now.nfilers; k++) {
            unsigned id = now.filers[k];
            IT_CHECKF(id != gone, "object %s still lists filer %u", now.uuid, gone);
            IT_CHECK(id >= 1 && id <= c->n);
            it_get_ok(NULL, &c->f[id - 1], now.path, now.size, now.sha);
        }
    }
}

/* ---- deleting and purging objects ------------------------------------------ */

/* method app/v1/objects/UUID<suffix> without a body; the status. */
static long object_request(const char *app_base, const char *method, const char *uuid,
                           const char *suffix)
{
    char target[128];
    struct it_resp r;
    long st;

    it_fmt(target, sizeof(target), "/v1/objects/%s%s", uuid, suffix);
    st = it_http_to(NULL, app_base, method, target, NULL, &r, NULL);
    it_resp_fini(&r);
    return st;
}

long it_object_delete(const char *app_base, const char *uuid)
{
    return object_request(app_base, "DELETE", uuid, "");
}

long it_object_undelete(const char *app_base, const char *uuid)
{
    return object_request(app_base, "POST", uuid, "/undelete");
}

struct it_purge_counts it_purge_now(const char *app_base)
{
    struct it_purge_counts k;
    struct it_resp r;
    json_t *j;

    IT_EQ(it_http_to(NULL, app_base, "POST", "/v1/admin/purge", NULL, &r, NULL), 200);
    j = it_resp_json(&r);
    k.moved = it_json_int(j, "moved");
    k.purged = it_json_int(j, "purged");
    k.failed = it_json_int(j, "failed");
    k.skipped = it_json_int(j, "skipped");
    k.removed = it_json_int(j, "removed");
    k.pending = it_json_int(j, "pending");
    k.restored = it_json_int(j, "restored");
    k.held = it_json_int(j, "held");
    json_decref(j);
    it_resp_fini(&r);
    return k;
}

/* ---- maintenance jobs ---------------------------------------------------------- */

#define IT_JOB_TRIES    1200 /* it_job_run's bound: 1200 polls ... */
#define IT_JOB_DELAY_MS 100  /* ... 100 ms apart, times the multiplier */
#define IT_JOB_HTTP_MS  10000

int64_t it_job_start(const char *app_base, const char *kind, const char *args_json)
{
    char url[IT_URL_MAX + 32], err[CF_ERR_LEN] = "";
    json_t *body, *out = NULL;
    long status = 0;
    int64_t id;

    IT_CHECK(cf_httpc_global_init() == 0);
    body = json_pack("{s:s,s:o}", "kind", kind, "args", json_loads(args_json, 0, NULL));
    IT_CHECKF(body != NULL, "job args are not JSON: %s", args_json);
    it_fmt(url, sizeof(url), "%s/v1/admin/jobs", app_base);
    IT_CHECKF(cf_httpc_json("POST", url, body, IT_JOB_HTTP_MS, &status, &out, err) == 0,
              "POST %s: %s", url, err);
    json_decref(body);
    IT_CHECKF(status == 202 && out != NULL, "POST %s: status %ld", url, status);
    id = it_json_int(out, "id");
    json_decref(out);
    return id;
}

json_t *it_job_get(const char *app_base, int64_t id)
{
    char url[IT_URL_MAX + 48], err[CF_ERR_LEN] = "";
    long status = 0;
    json_t *j = NULL;

    IT_CHECK(cf_httpc_global_init() == 0);
    it_fmt(url, sizeof(url), "%s/v1/admin/jobs/%lld", app_base, (long long)id);
    IT_CHECKF(cf_httpc_json("GET", url, NULL, IT_JOB_HTTP_MS, &status, &j, err) == 0, "GET %s: %s",
              url, err);
    IT_CHECKF(status == 200 && j != NULL, "GET %s: status %ld", url, status);
    return j;
}

json_t *it_jobs_list(const char *app_base)
{
    char url[IT_URL_MAX + 48], err[CF_ERR_LEN] = "";
    long status = 0;
    json_t *j = NULL, *list;

    IT_CHECK(cf_httpc_global_init() == 0);
    it_fmt(url, sizeof(url), "%s/v1/admin/jobs", app_base);
    IT_CHECKF(cf_httpc_json("GET", url, NULL, IT_JOB_HTTP_MS, &status, &j, err) == 0, "GET %s: %s",
              url, err);
    IT_CHECKF(status == 200 && j != NULL, "GET %s: status %ld", url, status);
    list = json_incref(json_object_get(j, "jobs"));
    json_decref(j);
    IT_CHECKF(json_is_array(list), "GET %s: no \"jobs\" array", url);
    return list;
}

struct job_wait {
    const char *app_base;
    int64_t id;
    int64_t at_least; /* it_job_wait_progress */
    json_t *last;     /* it_job_wait_end: the ended job */
};

static bool job_ended(void *arg)
{
    struct job_wait *w = arg;
    json_t *j = it_job_get(w->app_base, w->id);
    bool ended = strcmp(it_json_str(j, "state"), "running") != 0;

    if (ended) {
        json_decref(w->last);
        w->last = j;
    } else {
        json_decref(j);
    }
    return ended;
}

json_t *it_job_wait_end(const char *app_base, int64_t id, unsigned tries, unsigned delay_ms)
{
    struct job_wait w = {.app_base = app_base, .id = id, .last = NULL};

    IT_CHECKF(it_wait_for(job_ended, &w, tries, delay_ms), "job %lld never ended", (long long)id);
    return w.last;
}

static bool job_progressed(void *arg)
{
    const struct job_wait *w = arg;
    json_t *j = it_job_get(w->app_base, w->id);
    bool ok;

    IT_STREQ(it_json_str(j, "state"), "running");
    ok = it_json_int(j, "done_objects") >= w->at_least;
    json_decref(j);
    return ok;
}

void it_job_wait_progress(const char *app_base, int64_t id, int64_t at_least, unsigned tries,
                          unsigned delay_ms)
{
    struct job_wait w = {.app_base = app_base, .id = id, .at_least = at_least};

    IT_CHECKF(it_wait_for(job_progressed, &w, tries, delay_ms),
              "job %lld never had %lld objects done", (long long)id, (long long)at_least);
}

json_t *it_job_run(const char *app_base, const char *kind, const char *args_json)
{
    json_t *job = it_job_wait_end(app_base, it_job_start(app_base, kind, args_json), IT_JOB_TRIES,
                                  IT_JOB_DELAY_MS);
    const char *msg = json_string_value(json_object_get(job, "message"));

    IT_CHECKF(strcmp(it_json_str(job, "state"), "done") == 0, "the %s job ended %s: %s", kind,
              it_json_str(job, "state"), msg ? msg : "");
    return job;
}

int64_t it_job_counter(const json_t *job, const char *name)
{
    const json_t *k = json_object_get(job, "counters");

    IT_CHECKF(json_is_object(k), "the job report has no counters");
    return it_json_int(k, name);
}

/* ---- the scribe ------------------------------------------------------------ */

int64_t it_scribe_count_msg(const char *db_uri, const char *kind, const char *needle)
{
    struct cf_scribe_query q = {.kind = kind, .limit = CF_SCRIBE_QUERY_MAX};
    struct cf_scribe_event *ev = NULL;
    struct cf_scribe *s = NULL;
    char err[CF_ERR_LEN] = "";
    size_t n = 0;
    int64_t hits = 0;

    cf_log_init("it", CF_LOG_WARN);
    IT_CHECKF(cf_scribe_open(db_uri, 1, &s, err) == 0, "scribe open: %s", err);
    IT_CHECKF(cf_scribe_query(s, &q, &ev, &n, err) == 0, "scribe query: %s", err);
    for (size_t i = 0; i < n; i++)
        hits += needle == NULL || strstr(ev[i].message, needle) != NULL;
    free(ev);
    cf_scribe_close(s);
    return hits;
}

int64_t it_scribe_count(const char *db_uri, const char *kind)
{
    return it_scribe_count_msg(db_uri, kind, NULL);
}
