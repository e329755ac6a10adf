/*
 * coffer-scale.c -- the scale benchmark's two tools (bench/scale.sh).
 *
 * `coffer-scale load` puts N more records straight into the object database
 * and the file system database of a stopped `coffer server --data DIR` (or
 * its PostgreSQL databases): the schema is made or upgraded by cf_objdb_open
 * and cf_fsdb_open, then rows go in through db.h in transactions of --batch
 * records, as coffer itself would write them: record i is object id
 * next_oid + i in the object shard (random bits, filer path, 4 KiB, a
 * distinct SHA-512, one object_filers row per replica, on the registered
 * filers in turn) and file /scale/dNNNNNN/fNNNNNNNNN of the client, version
 * 1 naming that UUID. Folders hold --per-folder files. The counters
 * (coffer_meta next_oid and last_id) move with each transaction, so the
 * server starts on a consistent database. Only metadata: no filer holds the
 * bytes of a loaded record, so the look-ups measured are those that read
 * metadata (the app's record, a file's versions), never a download.
 * A --sample file gets one "UUID PATH" line per sampled record (every
 * record's chance the same), the look-up targets of `run`.
 *
 * `coffer-scale run` is a small HTTP load generator (libcurl multi, one easy
 * handle per slot, kept alive): request i goes to --url with {uuid} and
 * {path} replaced from sample line (i mod lines), and {i} by i; PUT sends a
 * distinct 4 KiB body (--size) per request; --header adds a header line,
 * --key-file signs each request with the cluster key (the app's API). It
 * prints one JSON line: {"ops","errors","seconds","ops_s"}.
 *
 * Figures, not pass/fail: exit 1 if a request failed, 2 on a usage or
 * set-up error.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/common.h"
#include "coffer/cred.h"
#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/fsdb.h"
#include "coffer/objdb.h"
#include "coffer/sha512.h"
#include "coffer/uuid.h"

#define SCALE_URL_MAX    2048
#define SCALE_LINE_MAX   512
#define SCALE_HEADERS    8
#define SCALE_CONC_MAX   256
#define SCALE_FILERS_MAX 16
#define SCALE_SIZE_MAX   (1024 * 1024)

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* 8 * n pseudo-random bytes of stream `seed`. */
static void fill(uint64_t seed, unsigned char *p, size_t words)
{
    for (size_t k = 0; k < words; k++) {
        uint64_t w = mix64(seed + (k + 1) * UINT64_C(0x9e3779b97f4a7c15));
        for (int b = 0; b < 8; b++)
            p[k * 8 + (size_t)b] = (unsigned char)(w >> (8 * b));
    }
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    v = strtoull(s, &end, 10);
    if (*end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* ---- load -------------------------------------------------------------- */

struct load_opts {
    const char *objdb, *fsdb, *client, *sample;
    uint64_t count, start, per_folder, batch, sample_n;
    bool fast; /* no fsync, no foreign-key checks while loading (SQLite) */
};

struct loader {
    struct load_opts o;
    struct cf_db *odb, *fdb;
    uint32_t filers[SCALE_FILERS_MAX];
    unsigned nfilers, replicas;
    uint16_t shard;
    uint64_t client, root, scale_dir, admin;
    int64_t cur_folder_ix; /* folder index whose id is cur_folder; -1: none */
    int64_t cur_folder;
    FILE *sample;
};

/* Open the shard `id` (0: the first) listed by the catalog at catalog_uri
 * (objdb's or fsdb's, both have a shards table): a relative "sqlite:" location
 * is resolved against the catalog's directory, as shardset.h does. */
static int open_shard(const char *catalog_uri, uint32_t id, struct cf_db **out, char *err)
{
    static const char sql[] = "SELECT id, location FROM shards WHERE id = ?1 OR ?1 = 0"
                              " ORDER BY id LIMIT 1";
    struct cf_db *cat = NULL;
    struct cf_db_stmt *s = NULL;
    char loc[CF_DB_URI_MAX + 1], uri[CF_DB_URI_MAX + 1];
    char *dir = NULL;
    int rc, w;

    *out = NULL;
    rc = cf_db_open(catalog_uri, &cat, err);
    if (rc == 0)
        rc = cf_db_query(cat, &s, err, sql, "i", (int64_t)id);
    if (rc == 0)
        rc = cf_db_step(s, err);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "%s lists no shard", catalog_uri);
        rc = CF_ENOTFOUND;
    }
    if (rc < 0)
        goto out;
    rc = cf_db_column_copy_text(s, 1, loc, sizeof(loc));
    if (rc < 0)
        goto out;
    dir = cf_db_sqlite_dir(catalog_uri);
    if (dir != NULL && strncmp(loc, "sqlite:", 7) == 0 && loc[7] != '/')
        w = snprintf(uri, sizeof(uri), "sqlite:%s/%s", dir, loc + 7);
    else
        w = snprintf(uri, sizeof(uri), "%s", loc);
    if (w < 0 || (size_t)w >= sizeof(uri)) {
        cf_err_set(err, "shard location %s too long", loc);
        rc = CF_EINVAL;
        goto out;
    }
    rc = cf_db_open(uri, out, err);
out:
    free(dir);
    cf_db_finalize(s);
    cf_db_close(cat);
    return rc < 0 ? rc : 0;
}

/* The registered filers (the first SCALE_FILERS_MAX) and the client's
 * shard, id, root folder and first admin user. */
static int load_setup(struct loader *L, char *err)
{
    struct cf_objdb *objdb = NULL;
    struct cf_fsdb *fsdb = NULL;
    struct cf_fsdb_client cl;
    struct cf_db *cat = NULL;
    struct cf_db_stmt *s = NULL;
    int64_t v[1] = {0};
    int rc;

    /* coffer's own schema code makes or upgrades every table. */
    rc = cf_objdb_open(L->o.objdb, 1, &objdb, err);
    if (rc == 0)
        rc = cf_fsdb_open(L->o.fsdb, 1, &fsdb, err);
    if (rc == 0)
        rc = cf_fsdb_client_find(fsdb, L->o.client, &cl, err);
    cf_fsdb_close(fsdb);
    cf_objdb_close(objdb);
    if (rc < 0)
        return rc;
    L->client = cl.id;
    L->replicas = cl.replicas;

    rc = cf_db_open(L->o.objdb, &cat, err);
    if (rc == 0)
        rc = cf_db_query(cat, &s, err, "SELECT id FROM filers ORDER BY id", "");
    while (rc == 0) {
        rc = cf_db_step(s, err);
        if (rc != CF_DB_ROW)
            break;
        if (L->nfilers < SCALE_FILERS_MAX)
            L->filers[L->nfilers++] = (uint32_t)cf_db_column_int64(s, 0);
        rc = 0;
    }
    cf_db_finalize(s);
    cf_db_close(cat);
    if (rc < 0)
        return rc;
    if (L->nfilers < L->replicas) {
        cf_err_set(err, "%u filers registered, the client wants %u replicas", L->nfilers,
                   L->replicas);
        return CF_EINVAL;
    }

    rc = open_shard(L->o.objdb, 0, &L->odb, err);
    if (rc == 0)
        rc = open_shard(L->o.fsdb, cl.shard, &L->fdb, err);
    if (rc < 0)
        return rc;
    rc = cf_db_run(L->odb, v, 1, err, "SELECT shard_id FROM coffer_meta WHERE id = 1", "");
    if (rc < 0)
        return rc;
    L->shard = (uint16_t)v[0];
    rc = cf_db_run(L->fdb, v, 1, err, "SELECT id FROM folders WHERE client_id = ?1 AND is_root = 1",
                   "i", (int64_t)L->client);
    if (rc == CF_DB_DONE) {
        cf_err_set(err, "client %s has no root folder", L->o.client);
        rc = CF_ECORRUPT;
    }
    if (rc < 0)
        return rc;
    L->root = (uint64_t)v[0];
    rc =
        cf_db_run(L->fdb, v, 1, err, "SELECT min(id) FROM users WHERE client_id = ?1 AND admin = 1",
                  "i", (int64_t)L->client);
    if (rc < 0)
        return rc;
    L->admin = (uint64_t)v[0];
    if (strcmp(cf_db_backend(L->odb), "sqlite") == 0) {
        /* A large page cache keeps the random inserts of the SHA-512 index
         * in memory; with --fast the bulk load skips fsync and the foreign
         * key checks (a loader, not the server: it writes every parent
         * before its children, and a crash mid-load means loading again). */
        const char *prag = L->o.fast ? "PRAGMA cache_size = -1048576; PRAGMA synchronous = OFF;"
                                       " PRAGMA foreign_keys = OFF;"
                                     : "PRAGMA cache_size = -1048576;";
        rc = cf_db_exec(L->odb, prag, err);
        if (rc == 0)
            rc = cf_db_exec(L->fdb, prag, err);
    }
    return rc;
}

/* Inside the fsdb transaction: the id of folder `name` under parent, made
 * (taking id *next_id) if missing. */
static int folder_get(struct loader *L, uint64_t parent, const char *name, int64_t now,
                      int64_t *next_id, int64_t *out, char *err)
{
    static const char sql_get[] =
        "SELECT id FROM folders WHERE client_id = ?1 AND parent_id = ?2 AND name = ?3";
    static const char sql_ins[] = "INSERT INTO folders (id, client_id, parent_id, name, is_root,"
                                  " created, modified) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5)";
    int64_t v[1] = {0};
    int rc;

    rc = cf_db_run(L->fdb, v, 1, err, sql_get, "iit", (int64_t)L->client, (int64_t)parent, name);
    if (rc == CF_DB_ROW) {
        *out = v[0];
        return 0;
    }
    if (rc < 0)
        return rc;
    *out = ++*next_id;
    rc = cf_db_run(L->fdb, NULL, 0, err, sql_ins, "iiiti", *out, (int64_t)L->client,
                   (int64_t)parent, name, now);
    return rc < 0 ? rc : 0;
}

/* Begin a transaction on db and read a coffer_meta counter into *v
 * (sql: the SELECT of one column). */
static int counter_begin(struct cf_db *db, const char *sql, int64_t *v, char *err)
{
    int rc = cf_db_begin(db, err);

    if (rc == 0)
        rc = cf_db_run(db, v, 1, err, sql, "");
    return rc;
}

/* Store the counter (sql: the UPDATE, ?1 the value) and commit. */
static int counter_commit(struct cf_db *db, const char *sql, int64_t v, char *err)
{
    int rc = cf_db_run(db, NULL, 0, err, sql, "i", v);

    if (rc >= 0)
        rc = cf_db_commit(db, err);
    return rc;
}

/* Records [first, first + n) of the load (global indexes from --start):
 * one transaction in each database, objects first (the record is what a
 * file's version names). */
static int load_batch(struct loader *L, uint64_t first, uint64_t n, char *err)
{
    static const char sql_obj[] =
        "INSERT INTO objects (id, rnd, replicas, enc_key, deleted, deleted_at, path, size,"
        " sha512, created) VALUES (?1, ?2, ?3, NULL, 0, NULL, ?4, ?5, ?6, ?7)";
    static const char sql_of[] = "INSERT INTO object_filers (object_id, filer_id) VALUES (?1, ?2)";
    static const char sql_file[] = "INSERT INTO objects (id, client_id, folder_id, name,"
                                   " current_version, created, modified)"
                                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)";
    static const char sql_ver[] = "INSERT INTO versions (id, object_id, number, uuid, size,"
                                  " sha512, created, by_user) VALUES (?1, ?2, 1, ?3, 4096, ?4,"
                                  " ?5, ?6)";
    int64_t now = (int64_t)cf_wall_ms(), next_oid = 0, last_id = 0;
    struct cf_db_stmt *s_obj = NULL, *s_of = NULL, *s_file = NULL, *s_ver = NULL;
    unsigned char *sha = NULL;
    char(*uuids)[CF_UUID_SIZE] = NULL;
    int rc;

    sha = malloc((size_t)n * CF_SHA512_LEN);
    uuids = malloc((size_t)n * CF_UUID_SIZE);
    if (sha == NULL || uuids == NULL) {
        cf_err_set(err, "out of memory");
        rc = CF_ENOMEM;
        goto out;
    }

    rc = counter_begin(L->odb, "SELECT next_oid FROM coffer_meta WHERE id = 1", &next_oid, err);
    if (rc < 0)
        goto out;
    if ((uint64_t)next_oid + n > CF_UUID_OID_MAX) {
        cf_err_set(err, "object ids exhausted");
        rc = CF_EINVAL;
        goto out;
    }
    rc = cf_db_prepare(L->odb, sql_obj, &s_obj, err);
    if (rc == 0)
        rc = cf_db_prepare(L->odb, sql_of, &s_of, err);
    for (uint64_t k = 0; rc == 0 && k < n; k++) {
        uint64_t i = first + k;
        struct cf_uuid u = {L->shard, (uint64_t)next_oid + k, mix64(i ^ UINT64_C(0x5ca1e))};
        char path[CF_UUID_PATH_SIZE];

        fill(i, sha + k * CF_SHA512_LEN, CF_SHA512_LEN / 8);
        cf_uuid_format(&u, uuids[k]);
        cf_uuid_filer_path(&u, path);
        cf_db_reset(s_obj);
        cf_db_bind_int64(s_obj, 1, (int64_t)u.oid);
        cf_db_bind_int64(s_obj, 2, (int64_t)u.rnd);
        cf_db_bind_int64(s_obj, 3, L->replicas);
        cf_db_bind_text(s_obj, 4, path);
        cf_db_bind_int64(s_obj, 5, 4096);
        cf_db_bind_blob(s_obj, 6, sha + k * CF_SHA512_LEN, CF_SHA512_LEN);
        cf_db_bind_int64(s_obj, 7, now);
        rc = cf_db_step(s_obj, err);
        for (unsigned r = 0; rc == CF_DB_DONE && r < L->replicas; r++) {
            cf_db_reset(s_of);
            cf_db_bind_int64(s_of, 1, (int64_t)u.oid);
            cf_db_bind_int64(s_of, 2, L->filers[(i + r) % L->nfilers]);
            rc = cf_db_step(s_of, err);
        }
        if (rc == CF_DB_DONE)
            rc = 0;
    }
    cf_db_finalize(s_obj);
    cf_db_finalize(s_of);
    s_obj = s_of = NULL;
    if (rc == 0)
        rc = counter_commit(L->odb, "UPDATE coffer_meta SET next_oid = ?1 WHERE id = 1",
                            next_oid + (int64_t)n, err);
    if (rc < 0)
        goto out;

    rc = counter_begin(L->fdb, "SELECT last_id FROM coffer_meta WHERE id = 1", &last_id, err);
    if (rc < 0)
        goto out;
    if (L->scale_dir == 0) {
        int64_t id = 0;
        rc = folder_get(L, L->root, "scale", now, &last_id, &id, err);
        if (rc < 0)
            goto out;
        L->scale_dir = (uint64_t)id;
    }
    L->cur_folder_ix = -1; /* ids made in a rolled-back batch must not survive */
    rc = cf_db_prepare(L->fdb, sql_file, &s_file, err);
    if (rc == 0)
        rc = cf_db_prepare(L->fdb, sql_ver, &s_ver, err);
    for (uint64_t k = 0; rc == 0 && k < n; k++) {
        uint64_t i = first + k;
        int64_t fix = (int64_t)(i / L->o.per_folder), fid, vid;
        char name[64];

        if (fix != L->cur_folder_ix) {
            (void)snprintf(name, sizeof(name), "d%06" PRId64, fix);
            rc = folder_get(L, L->scale_dir, name, now, &last_id, &L->cur_folder, err);
            if (rc < 0)
                break;
            L->cur_folder_ix = fix;
        }
        fid = ++last_id;
        vid = ++last_id;
        (void)snprintf(name, sizeof(name), "f%09" PRIu64, i);
        cf_db_reset(s_file);
        cf_db_bind_int64(s_file, 1, fid);
        cf_db_bind_int64(s_file, 2, (int64_t)L->client);
        cf_db_bind_int64(s_file, 3, L->cur_folder);
        cf_db_bind_text(s_file, 4, name);
        cf_db_bind_int64(s_file, 5, vid);
        cf_db_bind_int64(s_file, 6, now);
        rc = cf_db_step(s_file, err);
        if (rc == CF_DB_DONE) {
            cf_db_reset(s_ver);
            cf_db_bind_int64(s_ver, 1, vid);
            cf_db_bind_int64(s_ver, 2, fid);
            cf_db_bind_text(s_ver, 3, uuids[k]);
            cf_db_bind_blob(s_ver, 4, sha + k * CF_SHA512_LEN, CF_SHA512_LEN);
            cf_db_bind_int64(s_ver, 5, now);
            cf_db_bind_int64(s_ver, 6, (int64_t)L->admin);
            rc = cf_db_step(s_ver, err);
        }
        if (rc == CF_DB_DONE)
            rc = 0;
        /* The sample: about sample_n of the whole load, spread evenly. */
        if (rc == 0 && L->sample != NULL &&
            mix64(i ^ UINT64_C(0x5a3b1e)) % L->o.count < L->o.sample_n)
            fprintf(L->sample, "%s /scale/d%06" PRId64 "/%s\n", uuids[k], fix, name);
    }
    cf_db_finalize(s_file);
    cf_db_finalize(s_ver);
    s_file = s_ver = NULL;
    if (rc == 0)
        rc = counter_commit(L->fdb, "UPDATE coffer_meta SET last_id = ?1 WHERE id = 1", last_id,
                            err);
out:
    cf_db_finalize(s_obj);
    cf_db_finalize(s_of);
    cf_db_finalize(s_file);
    cf_db_finalize(s_ver);
    if (L->odb != NULL)
        cf_db_rollback(L->odb);
    if (L->fdb != NULL)
        cf_db_rollback(L->fdb);
    free(sha);
    free(uuids);
    return rc < 0 ? rc : 0;
}

static int cmd_load(int argc, char **argv)
{
    static const struct option longopts[] = {{"objdb", required_argument, NULL, 'o'},
                                             {"fsdb", required_argument, NULL, 'f'},
                                             {"client", required_argument, NULL, 'c'},
                                             {"count", required_argument, NULL, 'n'},
                                             {"start", required_argument, NULL, 's'},
                                             {"per-folder", required_argument, NULL, 'p'},
                                             {"batch", required_argument, NULL, 'b'},
                                             {"sample", required_argument, NULL, 'S'},
                                             {"sample-n", required_argument, NULL, 'N'},
                                             {"fast", no_argument, NULL, 'F'},
                                             {NULL, 0, NULL, 0}};
    struct loader L;
    char err[CF_ERR_LEN] = "";
    uint64_t t0, done = 0;
    int opt, rc;

    memset(&L, 0, sizeof(L));
    L.o.client = "demo";
    L.o.per_folder = 1000;
    L.o.batch = 100000;
    L.o.sample_n = 20000;
    L.cur_folder_ix = -1;
    for (;;) {
        uint64_t *dst = NULL;
        opt = getopt_long(argc, argv, "", longopts, NULL);
        if (opt == -1)
            break;
        switch (opt) {
        case 'o':
            L.o.objdb = optarg;
            break;
        case 'f':
            L.o.fsdb = optarg;
            break;
        case 'c':
            L.o.client = optarg;
            break;
        case 'S':
            L.o.sample = optarg;
            break;
        case 'F':
            L.o.fast = true;
            break;
        case 'n':
            dst = &L.o.count;
            break;
        case 's':
            dst = &L.o.start;
            break;
        case 'p':
            dst = &L.o.per_folder;
            break;
        case 'b':
            dst = &L.o.batch;
            break;
        case 'N':
            dst = &L.o.sample_n;
            break;
        default:
            return 2;
        }
        if (dst != NULL && parse_u64(optarg, dst) != 0) {
            fprintf(stderr, "coffer-scale load: bad number %s\n", optarg);
            return 2;
        }
    }
    if (L.o.objdb == NULL || L.o.fsdb == NULL || L.o.count == 0 || L.o.per_folder == 0 ||
        L.o.batch == 0 || L.o.batch > 10000000) {
        fprintf(stderr, "usage: coffer-scale load --objdb URI --fsdb URI --count N [--start I]\n"
                        "       [--client NAME] [--per-folder K] [--batch B] [--sample FILE]\n"
                        "       [--sample-n M] [--fast]\n");
        return 2;
    }
    if (L.o.sample != NULL) {
        L.sample = fopen(L.o.sample, "a");
        if (L.sample == NULL) {
            perror(L.o.sample);
            return 2;
        }
    }
    t0 = cf_now_ns();
    rc = load_setup(&L, err);
    while (rc == 0 && done < L.o.count) {
        uint64_t n = L.o.count - done < L.o.batch ? L.o.count - done : L.o.batch;
        rc = load_batch(&L, L.o.start + done, n, err);
        if (rc == 0)
            done += n;
    }
    cf_db_close(L.odb);
    cf_db_close(L.fdb);
    if (L.sample != NULL && fclose(L.sample) != 0 && rc == 0) {
        cf_err_set(err, "%s: write failed", L.o.sample);
        rc = CF_EIO;
    }
    if (rc < 0) {
        fprintf(stderr, "coffer-scale load: %s (%s) after %" PRIu64 " records\n", err,
                cf_strerror(rc), done);
        return 1;
    }
    {
        double s = (double)(cf_now_ns() - t0) / 1e9;
        printf("{\"records\":%" PRIu64 ",\"seconds\":%.2f,\"records_s\":%.0f}\n", done, s,
               (double)done / s);
    }
    return 0;
}

/* ---- run --------------------------------------------------------------- */

struct run_opts {
    const char *url, *sample, *key_file, *method;
    const char *headers[SCALE_HEADERS];
    unsigned nheaders, concurrency;
    uint64_t count, size, seed;
    long expect;
    double time_limit;
};

struct slot {
    CURL *easy;
    struct curl_slist *hdrs;
    unsigned char *body;
    uint64_t index;
};

struct runner {
    struct run_opts o;
    char **lines; /* "UUID PATH" */
    size_t nlines;
    struct cf_cred *cred;
    CURLM *multi;
    struct slot slots[SCALE_CONC_MAX];
    uint64_t next, done, errors;
};

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* Replace {i}, {uuid} and {path} of the template for request index. */
static int make_url(const struct runner *R, uint64_t index, char *out, size_t cap)
{
    const char *line = R->nlines > 0 ? R->lines[index % R->nlines] : "";
    const char *sp = strchr(line, ' ');
    size_t ulen = sp != NULL ? (size_t)(sp - line) : strlen(line);
    const char *path = sp != NULL ? sp + 1 : "";
    size_t o = 0;

    for (const char *t = R->o.url; *t != '\0';) {
        char num[32];
        const char *rep = NULL;
        size_t rlen = 0;
        if (strncmp(t, "{i}", 3) == 0) {
            (void)snprintf(num, sizeof(num), "%" PRIu64, index);
            rep = num;
            rlen = strlen(num);
            t += 3;
        } else if (strncmp(t, "{uuid}", 6) == 0) {
            rep = line;
            rlen = ulen;
            t += 6;
        } else if (strncmp(t, "{path}", 6) == 0) {
            rep = *path == '/' ? path + 1 : path;
            rlen = strlen(rep);
            t += 6;
        } else {
            rep = t;
            rlen = 1;
            t++;
        }
        if (o + rlen + 1 > cap)
            return -1;
        memcpy(out + o, rep, rlen);
        o += rlen;
    }
    out[o] = '\0';
    return 0;
}

static int slot_start(struct runner *R, struct slot *s)
{
    char url[SCALE_URL_MAX];
    struct curl_slist *h;

    s->index = R->next++;
    if (make_url(R, s->index, url, sizeof(url)) != 0)
        return -1;
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
    for (unsigned k = 0; k < R->o.nheaders; k++) {
        h = curl_slist_append(s->hdrs, R->o.headers[k]);
        if (h == NULL)
            return -1;
        s->hdrs = h;
    }
    if (R->cred != NULL) {
        char line[CF_CRED_HEADER_MAX];
        if (cf_cred_sign_url(R->cred, R->o.method, url, line) != 0)
            return -1;
        h = curl_slist_append(s->hdrs, line);
        if (h == NULL)
            return -1;
        s->hdrs = h;
    }
    if (s->body != NULL) {
        fill(mix64(R->o.seed + s->index), s->body, (size_t)R->o.size / 8);
        if (curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body) != CURLE_OK ||
            curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)R->o.size) !=
                CURLE_OK)
            return -1;
    }
    if (curl_easy_setopt(s->easy, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hdrs) != CURLE_OK ||
        curl_multi_add_handle(R->multi, s->easy) != CURLM_OK)
        return -1;
    return 0;
}

static int load_sample(struct runner *R)
{
    FILE *f = fopen(R->o.sample, "r");
    char line[SCALE_LINE_MAX];
    size_t cap = 0;

    if (f == NULL) {
        perror(R->o.sample);
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        size_t n = strcspn(line, "\n");
        line[n] = '\0';
        if (n == 0)
            continue;
        if (R->nlines == cap) {
            size_t ncap = cap ? cap * 2 : 1024;
            char **p = realloc(R->lines, ncap * sizeof(*p));
            if (p == NULL)
                break;
            R->lines = p;
            cap = ncap;
        }
        R->lines[R->nlines] = strdup(line);
        if (R->lines[R->nlines] == NULL)
            break;
        R->nlines++;
    }
    fclose(f);
    if (R->nlines == 0) {
        fprintf(stderr, "coffer-scale run: %s: no lines\n", R->o.sample);
        return -1;
    }
    return 0;
}

static int run_loop(struct runner *R)
{
    uint64_t t0 = cf_now_ns(), deadline = t0 + (uint64_t)(R->o.time_limit * 1e9);
    unsigned in_flight = 0;
    bool head = strcmp(R->o.method, "HEAD") == 0;

    for (unsigned k = 0; k < R->o.concurrency; k++) {
        struct slot *s = &R->slots[k];
        s->easy = curl_easy_init();
        if (s->easy == NULL)
            return -1;
        if (R->o.size > 0 && strcmp(R->o.method, "PUT") == 0) {
            s->body = malloc((size_t)R->o.size);
            if (s->body == NULL)
                return -1;
        }
        (void)curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
        (void)curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, discard);
        (void)curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
        (void)curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, 60L);
        if (head)
            (void)curl_easy_setopt(s->easy, CURLOPT_NOBODY, 1L);
        else
            (void)curl_easy_setopt(s->easy, CURLOPT_CUSTOMREQUEST, R->o.method);
    }
    for (unsigned k = 0; k < R->o.concurrency && R->next < R->o.count; k++) {
        if (slot_start(R, &R->slots[k]) != 0)
            return -1;
        in_flight++;
    }
    while (in_flight > 0) {
        int running = 0, left = 0;
        CURLMsg *m;
        if (curl_multi_perform(R->multi, &running) != CURLM_OK ||
            curl_multi_poll(R->multi, NULL, 0, 1000, NULL) != CURLM_OK)
            return -1;
        (void)curl_multi_perform(R->multi, &running);
        for (;;) {
            struct slot *s = NULL;
            long status = 0;
            m = curl_multi_info_read(R->multi, &left);
            if (m == NULL)
                break;
            if (m->msg != CURLMSG_DONE)
                continue;
            (void)curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            (void)curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            if (m->data.result != CURLE_OK || status != R->o.expect) {
                if (R->errors < 5)
                    fprintf(stderr, "coffer-scale run: request %" PRIu64 ": %s, status %ld\n",
                            s->index, curl_easy_strerror(m->data.result), status);
                R->errors++;
            }
            R->done++;
            (void)curl_multi_remove_handle(R->multi, s->easy);
            in_flight--;
            if (R->next < R->o.count && cf_now_ns() < deadline) {
                if (slot_start(R, s) != 0)
                    return -1;
                in_flight++;
            }
        }
    }
    {
        double secs = (double)(cf_now_ns() - t0) / 1e9;
        printf("{\"ops\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"seconds\":%.2f,\"ops_s\":%.1f}\n",
               R->done, R->errors, secs, (double)R->done / secs);
    }
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},         {"sample", required_argument, NULL, 'S'},
        {"key-file", required_argument, NULL, 'k'},    {"method", required_argument, NULL, 'm'},
        {"header", required_argument, NULL, 'H'},      {"count", required_argument, NULL, 'n'},
        {"concurrency", required_argument, NULL, 'c'}, {"size", required_argument, NULL, 'z'},
        {"seed", required_argument, NULL, 's'},        {"expect", required_argument, NULL, 'e'},
        {"time-limit", required_argument, NULL, 't'},  {NULL, 0, NULL, 0}};
    struct runner R;
    uint64_t conc = 16, expect = 0;
    int opt, rc = 2;

    memset(&R, 0, sizeof(R));
    R.o.method = "GET";
    R.o.count = 10000;
    R.o.size = 4096;
    R.o.time_limit = 60;
    for (;;) {
        uint64_t *dst = NULL;
        opt = getopt_long(argc, argv, "", longopts, NULL);
        if (opt == -1)
            break;
        switch (opt) {
        case 'u':
            R.o.url = optarg;
            break;
        case 'S':
            R.o.sample = optarg;
            break;
        case 'k':
            R.o.key_file = optarg;
            break;
        case 'm':
            R.o.method = optarg;
            break;
        case 'H':
            if (R.o.nheaders == SCALE_HEADERS)
                return 2;
            R.o.headers[R.o.nheaders++] = optarg;
            break;
        case 't': {
            char *end = NULL;
            R.o.time_limit = strtod(optarg, &end);
            if (end == optarg || *end != '\0') {
                fprintf(stderr, "coffer-scale run: bad seconds %s\n", optarg);
                return 2;
            }
            break;
        }
        case 'n':
            dst = &R.o.count;
            break;
        case 'c':
            dst = &conc;
            break;
        case 'z':
            dst = &R.o.size;
            break;
        case 's':
            dst = &R.o.seed;
            break;
        case 'e':
            dst = &expect;
            break;
        default:
            return 2;
        }
        if (dst != NULL && parse_u64(optarg, dst) != 0) {
            fprintf(stderr, "coffer-scale run: bad number %s\n", optarg);
            return 2;
        }
    }
    if (R.o.url == NULL || conc < 1 || conc > SCALE_CONC_MAX || R.o.size % 8 != 0 ||
        R.o.size > SCALE_SIZE_MAX || R.o.time_limit <= 0 ||
        (strstr(R.o.url, "{uuid}") != NULL || strstr(R.o.url, "{path}") != NULL) !=
            (R.o.sample != NULL)) {
        fprintf(stderr,
                "usage: coffer-scale run --url TEMPLATE [--sample FILE] [--method M]\n"
                "       [--header LINE]... [--key-file PATH] [--count N] [--concurrency C]\n"
                "       [--size BYTES (multiple of 8)] [--seed S] [--expect STATUS]\n"
                "       [--time-limit SECONDS]\n"
                "  TEMPLATE: {i} request index, {uuid} and {path} from sample line i\n");
        return 2;
    }
    R.o.concurrency = (unsigned)conc;
    R.o.expect = expect != 0 ? (long)expect : strcmp(R.o.method, "PUT") == 0 ? 201 : 200;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 2;
    if (R.o.sample != NULL && load_sample(&R) != 0)
        goto out;
    if (R.o.key_file != NULL) {
        char err[CF_ERR_LEN] = "";
        R.cred = cf_cred_new();
        if (R.cred == NULL || cf_cred_load_cluster(R.cred, R.o.key_file, err) != 0) {
            fprintf(stderr, "coffer-scale run: %s\n", err);
            goto out;
        }
    }
    R.multi = curl_multi_init();
    if (R.multi == NULL ||
        curl_multi_setopt(R.multi, CURLMOPT_MAXCONNECTS, (long)R.o.concurrency) != CURLM_OK)
        goto out;
    if (run_loop(&R) != 0) {
        fprintf(stderr, "coffer-scale run: set-up failed\n");
        goto out;
    }
    rc = R.errors > 0 ? 1 : 0;
out:
    for (unsigned k = 0; k < SCALE_CONC_MAX; k++) {
        if (R.slots[k].easy != NULL) {
            (void)curl_multi_remove_handle(R.multi, R.slots[k].easy);
            curl_easy_cleanup(R.slots[k].easy);
        }
        curl_slist_free_all(R.slots[k].hdrs);
        free(R.slots[k].body);
    }
    if (R.multi != NULL)
        curl_multi_cleanup(R.multi);
    for (size_t k = 0; k < R.nlines; k++)
        free(R.lines[k]);
    free(R.lines);
    cf_cred_free(R.cred);
    curl_global_cleanup();
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "load") == 0)
        return cmd_load(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    fprintf(stderr, "usage: coffer-scale load|run [options] (each prints its own usage)\n");
    return 2;
}
