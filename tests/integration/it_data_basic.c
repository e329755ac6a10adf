/*
 * it_data_basic.c -- the data path through real processes: filers, `coffer
 * app` and `coffer objsrv` on 127.0.0.1 (DESIGN §2-4). Round trips
 * of small objects, placement on exactly r filers (checked on disk), the
 * replica count (?replicas= and the app's --replicas), read-only filers, malformed and unknown
 * UUIDs, shards flagged read-only or obsolete, full shards (max objects, the
 * 90% warning, --auto-shard), 100 concurrent uploads and
 * downloads, and records surviving a restart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Object files under a filer's directory (temporary ones included). */
static unsigned files_on(const struct it_filer *f)
{
    char dir[IT_PATH_MAX];

    it_fmt(dir, sizeof(dir), "%s/objects", f->dir);
    return it_count_files(dir);
}

/* The record from .../info matches the one the upload returned. */
static void check_info_matches(const struct it_cluster *c, const struct it_record *up)
{
    struct it_record info;

    IT_EQ(it_info(c->app.base, up->uuid, &info), 200);
    IT_STREQ(info.path, up->path);
    IT_EQ(info.size, up->size);
    IT_CHECK(memcmp(info.sha, up->sha, CF_SHA512_LEN) == 0);
    IT_EQ(info.replicas, up->replicas);
    IT_EQ(info.nfilers, up->nfilers);
    for (size_t i = 0; i < up->nfilers; i++)
        IT_CHECKF(it_record_has(&info, up->filers[i]), "info of %s lacks filer %u", up->uuid,
                  up->filers[i]);
}

/* HEAD through objsrv: the headers of the object and no body. */
static void check_head(const struct it_cluster *c, const struct it_record *rec)
{
    char target[128], hdr[CF_SHA512_HEX_LEN + 8], hex[CF_SHA512_HEX_LEN + 1];
    struct it_resp r;

    it_fmt(target, sizeof(target), "/v1/objects/%s", rec->uuid);
    IT_EQ(it_http_to(NULL, c->objsrv.base, "HEAD", target, NULL, &r, NULL), 200);
    IT_EQ(r.total, 0);
    IT_CHECK(it_resp_header(&r, "Content-Length", hdr, sizeof(hdr)));
    IT_EQ(strtoull(hdr, NULL, 10), rec->size);
    IT_CHECK(it_resp_header(&r, "X-Coffer-SHA512", hdr, sizeof(hdr)));
    it_hex(rec->sha, hex);
    IT_STREQ(hdr, hex);
    it_resp_fini(&r);
}

/* Upload, look up, download, HEAD, and check placement on disk. */
static void roundtrip(const struct it_cluster *c, struct it_client *cl, uint64_t seed,
                      uint64_t size, bool chunked, struct it_record *rec)
{
    it_upload_ok(cl, c->app.base, seed, size, 0, chunked, rec);
    IT_EQ(rec->replicas, 2);
    check_info_matches(c, rec);
    it_download_ok(cl, c->objsrv.base, rec);
    check_head(c, rec);
    it_check_placement(c->f, c->n, rec);
}

/* 0 B, 1 B, 1 MiB (Content-Length and chunked) and an odd size through app
 * then objsrv, each on exactly 2 of 3 filers; Range reads; the expected
 * checksum given by the client. */
static void t_roundtrip_small(void *arg)
{
    static const uint64_t sizes[] = {0, 1, IT_MIB, IT_MIB, 3 * IT_MIB + 17};
    struct it_record rec[CF_ARRAY_LEN(sizes)], r2;
    struct it_cluster c;
    struct it_client cl;
    struct it_body b = {.chunked = false};
    struct it_resp r;
    char hdr[CF_SHA512_HEX_LEN + 32], hex[CF_SHA512_HEX_LEN + 1], target[128];
    uint8_t sha[CF_SHA512_LEN];

    (void)arg;
    it_cluster_start(&c, 3, NULL, 0, 3);
    it_client_init(&cl);
    for (size_t i = 0; i < CF_ARRAY_LEN(sizes); i++)
        roundtrip(&c, &cl, 100 + i, sizes[i], i == 3, &rec[i]);
    for (size_t i = 0; i < CF_ARRAY_LEN(sizes); i++)
        for (size_t k = 0; k < i; k++)
            IT_CHECK(strcmp(rec[i].uuid, rec[k].uuid) != 0);

    /* Ranges: the start, a middle part, the last byte, a suffix. */
    it_download_range_ok(NULL, c.objsrv.base, &rec[4], 104, 0, 0);
    it_download_range_ok(NULL, c.objsrv.base, &rec[4], 104, 0, 65535);
    it_download_range_ok(NULL, c.objsrv.base, &rec[4], 104, IT_MIB - 5, 2 * IT_MIB + 11);
    it_download_range_ok(NULL, c.objsrv.base, &rec[4], 104, rec[4].size - 1, rec[4].size - 1);
    it_download_range_ok(NULL, c.objsrv.base, &rec[1], 101, 0, 0);
    it_fmt(target, sizeof(target), "/v1/objects/%s", rec[4].uuid);
    IT_EQ(it_http_to(NULL, c.objsrv.base, "GET", target, NULL, &r, "Range: bytes=-10", NULL), 206);
    IT_EQ(r.total, 10);
    it_resp_fini(&r);
    it_fmt(hdr, sizeof(hdr), "Range: bytes=%llu-", (unsigned long long)rec[4].size);
    IT_EQ(it_http_to(NULL, c.objsrv.base, "GET", target, NULL, &r, hdr, NULL), 416);
    it_resp_fini(&r);
    /* No range of an empty object is satisfiable. */
    it_fmt(target, sizeof(target), "/v1/objects/%s", rec[0].uuid);
    IT_EQ(it_http_to(NULL, c.objsrv.base, "GET", target, NULL, &r, "Range: bytes=0-0", NULL), 416);
    IT_CHECK(it_resp_header(&r, "Content-Range", hdr, sizeof(hdr)));
    IT_STREQ(hdr, "bytes */0");
    it_resp_fini(&r);

    /* The client's own checksum, as a header: accepted when it matches. */
    it_prng_sha512(7, 123457, sha);
    it_hex(sha, hex);
    it_fmt(hdr, sizeof(hdr), "X-Coffer-SHA512: %s", hex);
    it_gen_init(&b.gen, 7, 123457);
    IT_EQ(it_http_to(&cl, c.app.base, "POST", "/v1/objects", &b, &r, hdr, NULL), 201);
    it_gen_fini(&b.gen);
    it_check_upload_reply(&r, 123457, sha, 2, &r2);
    it_resp_fini(&r);
    it_download_ok(&cl, c.objsrv.base, &r2);
    it_check_placement(c.f, c.n, &r2);

    IT_EQ(it_objdb_count(c.db, 3), CF_ARRAY_LEN(sizes) + 1);
    it_client_fini(&cl);
    it_cluster_stop(&c);
}

/* A body that does not match the client's X-Coffer-SHA512 gets 422 and
 * leaves nothing: no record, no bytes, no temporary file. A malformed
 * header gets 400. */
static void t_checksum_mismatch(void *arg)
{
    struct it_body b = {.chunked = false};
    struct it_cluster c;
    struct it_resp r;
    char hdr[CF_SHA512_HEX_LEN + 32], hex[CF_SHA512_HEX_LEN + 1];
    uint8_t sha[CF_SHA512_LEN];

    (void)arg;
    it_cluster_start(&c, 3, NULL, 0, 3);
    it_prng_sha512(8, 2 * IT_MIB, sha); /* another payload's digest */
    it_hex(sha, hex);
    it_fmt(hdr, sizeof(hdr), "X-Coffer-SHA512: %s", hex);
    for (int chunked = 0; chunked < 2; chunked++) {
        b.chunked = chunked;
        it_gen_init(&b.gen, 9, 2 * IT_MIB);
        IT_EQ(it_http_to(NULL, c.app.base, "POST", "/v1/objects", &b, &r, hdr, NULL), 422);
        it_gen_fini(&b.gen);
        it_check_error_body(&r, "ECHECKSUM");
        it_resp_fini(&r);
    }
    it_gen_init(&b.gen, 9, 1000);
    b.chunked = false;
    IT_EQ(
        it_http_to(NULL, c.app.base, "POST", "/v1/objects", &b, &r, "X-Coffer-SHA512: 12ab", NULL),
        400);
    it_gen_fini(&b.gen);
    it_check_error_body(&r, "EBADREQ");
    it_resp_fini(&r);
    for (size_t i = 0; i < c.n; i++) {
        it_wait_no_tmp(&c.f[i]);
        IT_EQ(files_on(&c.f[i]), 0);
        IT_EQ(it_status_int(&c.f[i], "objects"), 0);
    }
    IT_EQ(it_objdb_count(c.db, 3), 0);
    it_cluster_stop(&c);
}

/* The app's own --replicas (3 here, not the usual 2) is the count of an
 * upload without ?replicas=; ?replicas= overrides it either way (1, 2, 4).
 * Each lands on exactly that many filers, bytes checked on disk. */
static void t_app_replicas(void *arg)
{
    static const unsigned want[] = {0, 3, 2, 4, 0};
    struct it_record rec;
    struct it_cluster c;

    (void)arg;
    it_cluster_start_filers(&c, 4);
    it_app_start_ok(&c.app, c.db, "--replicas", "3", NULL);
    it_objsrv_start_ok(&c.objsrv, c.app.base, NULL);
    for (unsigned i = 0; i < CF_ARRAY_LEN(want); i++) {
        it_upload_ok(NULL, c.app.base, 400 + i, 70000 + i, want[i], i % 2 == 1, &rec);
        IT_EQ(rec.replicas, want[i] != 0 ? want[i] : 3);
        IT_EQ(rec.nfilers, rec.replicas);
        it_check_placement(c.f, c.n, &rec);
        check_info_matches(&c, &rec);
        it_download_ok(NULL, c.objsrv.base, &rec);
    }
    it_cluster_stop(&c);
}

/* r = 3 and r = 4 on 4 filers land on exactly that many; r = 5 gets 503
 * and leaves no record and no bytes; a bad ?replicas= gets 400. */
static void t_replicas_on_4(void *arg)
{
    static const char *const bad[] = {"0", "1", "17", "abc", "-1", "2x", ""};
    struct it_record rec;
    struct it_cluster c;
    struct it_client cl;
    struct it_body b;
    struct it_resp r;
    char target[64];
    unsigned used[5] = {0};

    (void)arg;
    it_cluster_start(&c, 4, NULL, 0, 3);
    it_client_init(&cl);
    for (unsigned i = 0; i < 12; i++) {
        it_upload_ok(&cl, c.app.base, 200 + i, 1000 + i * 40503, 3, i % 2 == 1, &rec);
        IT_EQ(rec.nfilers, 3);
        it_check_placement(c.f, c.n, &rec);
        for (size_t k = 0; k < rec.nfilers; k++)
            used[rec.filers[k]]++;
        if (i == 0)
            it_download_ok(&cl, c.objsrv.base, &rec);
    }
    /* Equal weights: the shuffle spreads the replicas. A filer is left out
     * of an object with probability 1/4, so of all 12 with 4^-12 (6e-8). */
    for (unsigned id = 1; id <= 4; id++)
        IT_CHECKF(used[id] > 0, "filer %u holds none of 12 objects", id);
    it_upload_ok(&cl, c.app.base, 300, 4096, 4, false, &rec);
    it_check_placement(c.f, c.n, &rec);
    it_download_ok(&cl, c.objsrv.base, &rec);

    IT_EQ(it_upload(&cl, c.app.base, 301, 4096, 5, false, NULL), 503);
    /* A large body: the client waits for 100 Continue, as curl's own
     * default does, so it sees the refusal instead of a reset mid-body. */
    memset(&b, 0, sizeof(b));
    b.chunked = true;
    b.expect = true;
    it_gen_init(&b.gen, 302, 3 * IT_MIB);
    IT_EQ(it_http_to(&cl, c.app.base, "POST", "/v1/objects?replicas=5", &b, &r, NULL), 503);
    it_gen_fini(&b.gen);
    it_check_error_body(&r, "EUNAVAIL");
    it_resp_fini(&r);
    for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++) {
        it_fmt(target, sizeof(target), "/v1/objects?replicas=%s", bad[i]);
        memset(&b, 0, sizeof(b));
        it_gen_init(&b.gen, 303, 100);
        IT_EQ(it_http_to(&cl, c.app.base, "POST", target, &b, &r, NULL), 400);
        it_gen_fini(&b.gen);
        it_check_error_body(&r, "EBADREQ");
        it_resp_fini(&r);
    }
    for (size_t i = 0; i < c.n; i++) {
        it_wait_no_tmp(&c.f[i]);
        /* Small objects are volume records, not files: the filer's count
         * covers both (it_check_placement found each replica on disk). */
        IT_EQ(it_status_int(&c.f[i], "objects"), used[i + 1] + 1);
    }
    IT_EQ(it_objdb_count(c.db, 4), 13);
    it_client_fini(&cl);
    it_cluster_stop(&c);
}

/* A read-only filer, however heavy, is never chosen. */
static void t_read_only_never_chosen(void *arg)
{
    static const unsigned weights[] = {100, 100, 1000};
    struct it_record rec;
    struct it_cluster c;
    struct it_client cl;

    (void)arg;
    it_cluster_start(&c, 3, weights, 1u << 2, 3);
    it_client_init(&cl);
    for (unsigned i = 0; i < 30; i++) {
        it_upload_ok(&cl, c.app.base, 400 + i, 100 + 997 * i, 0, i % 3 == 0, &rec);
        IT_CHECKF(!it_record_has(&rec, 3), "upload %u went to the read-only filer", i);
        it_check_placement(c.f, c.n, &rec);
    }
    it_download_ok(&cl, c.objsrv.base, &rec);
    IT_EQ(it_upload(&cl, c.app.base, 450, 100, 3, false, NULL), 503);
    IT_EQ(it_status_int(&c.f[2], "objects"), 0);
    IT_EQ(files_on(&c.f[2]), 0);
    IT_EQ(it_objdb_count(c.db, 3), 30);
    it_client_fini(&cl);
    it_cluster_stop(&c);
}

/* Malformed UUIDs get 400 and unknown ones 404, from the app's info and
 * from objsrv (GET and HEAD). */
static void t_uuids(void *arg)
{
    static const char *const malformed[] = {
        "",
        "0001000-0000-0001-0000-000000000000",   /* 35 bytes */
        "000100000-0000-0001-0000-000000000000", /* 37 bytes */
        "00010000-0000-0001-0000-0000000000000", /* 37: a digit too many */
        "00010000-0000-0001-ABCD-000000000000",  /* uppercase */
        "00010000-0000-0001-abcg-000000000000",  /* not hex */
        "000100000000-0001-abcd-0000000000000",  /* hyphen missing */
        "00010000-00000-001-abcd-000000000000",  /* hyphen moved */
        "00010000_0000_0001_abcd_000000000000",  /* other separator */
        "{00010000-0000-0001-abcd-000000000000}",
        "%2000010000-0000-0001-abcd-00000000000",
        "00010000-0000-0001-abcd-00000000000%00",
        "00010000-0000-0001-abcd-0000000000%2e%2e",
        "..",
        "00000000-0000-0001-abcd-000000000000", /* shard 0 */
        "00010000-0000-0000-abcd-000000000000", /* object 0 */
    };
    struct it_record rec;
    struct it_cluster c;
    struct it_resp r;
    char target[160], unknown[3][40];

    (void)arg;
    it_cluster_start(&c, 3, NULL, 0, 3);
    it_upload_ok(NULL, c.app.base, 500, 5000, 0, false, &rec);
    for (size_t i = 0; i < CF_ARRAY_LEN(malformed); i++) {
        it_fmt(target, sizeof(target), "/v1/objects/%s/info", malformed[i]);
        IT_CHECKF(it_http_to(NULL, c.app.base, "GET", target, NULL, &r, NULL) == 400,
                  "app GET %s: status %ld", target, r.status);
        it_check_error_body(&r, "EBADREQ");
        it_resp_fini(&r);
        it_fmt(target, sizeof(target), "/v1/objects/%s", malformed[i]);
        IT_CHECKF(it_http_to(NULL, c.objsrv.base, "GET", target, NULL, &r, NULL) == 400,
                  "objsrv GET %s: status %ld", target, r.status);
        it_check_error_body(&r, "EBADREQ");
        it_resp_fini(&r);
        IT_EQ(it_http_to(NULL, c.objsrv.base, "HEAD", target, NULL, &r, NULL), 400);
        it_resp_fini(&r);
    }
    /* Well-formed but unknown: another object id, the right object id with
     * other random bits, a shard that does not exist. */
    it_fmt(unknown[0], sizeof(unknown[0]), "%.17s%c%s", rec.uuid, rec.uuid[17] == '9' ? '8' : '9',
           rec.uuid + 18);
    it_fmt(unknown[1], sizeof(unknown[1]), "%.35s%c", rec.uuid, rec.uuid[35] == '0' ? '1' : '0');
    it_fmt(unknown[2], sizeof(unknown[2]), "beef%s", rec.uuid + 4);
    for (size_t i = 0; i < 3; i++) {
        IT_CHECK(strcmp(unknown[i], rec.uuid) != 0);
        it_fmt(target, sizeof(target), "/v1/objects/%s/info", unknown[i]);
        IT_CHECKF(it_http_to(NULL, c.app.base, "GET", target, NULL, &r, NULL) == 404,
                  "app GET %s: status %ld", target, r.status);
        it_check_error_body(&r, "ENOTFOUND");
        it_resp_fini(&r);
        it_fmt(target, sizeof(target), "/v1/objects/%s", unknown[i]);
        IT_CHECKF(it_http_to(NULL, c.objsrv.base, "GET", target, NULL, &r, NULL) == 404,
                  "objsrv GET %s: status %ld", target, r.status);
        it_check_error_body(&r, "ENOTFOUND");
        it_resp_fini(&r);
        IT_EQ(it_http_to(NULL, c.objsrv.base, "HEAD", target, NULL, &r, NULL), 404);
        it_resp_fini(&r);
    }
    /* Uploads go to the app only; objsrv refuses them. */
    it_fmt(target, sizeof(target), "/v1/objects/%s", rec.uuid);
    IT_EQ(it_http_to(NULL, c.objsrv.base, "DELETE", target, NULL, &r, NULL), 405);
    it_resp_fini(&r);
    it_download_ok(NULL, c.objsrv.base, &rec);
    it_cluster_stop(&c);
}

/* Shard of a UUID: its first 8 hex digits. */
static unsigned uuid_shard(const char *uuid)
{
    return (unsigned)strtoul(uuid, NULL, 16) >> 16;
}

static int shard_set(const struct it_cluster *c, const char *id, const char *flag,
                     const char *value, char *out, size_t cap)
{
    return it_exit_code(it_coffer_cmd(out, cap, NULL, "admin", "shard", "set", "--db", c->db,
                                      "--id", id, flag, value, NULL));
}

/* "READ-ONLY OBSOLETE" of shard id in `coffer admin shard list`'s output
 * (lines "ID LOCATION DC READ-ONLY OBSOLETE"; a PostgreSQL location has
 * spaces, so the flags are the last two words), "" when it is not listed. */
static const char *shard_flags(const char *list, unsigned id)
{
    static char flags[16];
    char line[512], ro[8], obs[8];
    unsigned n;

    flags[0] = '\0';
    for (const char *l = list; *l != '\0';) {
        size_t len = strcspn(l, "\n");
        char *w;
        it_fmt(line, sizeof(line), "%.*s", (int)len, l);
        l += len + (l[len] == '\n');
        w = strrchr(line, ' ');
        if (sscanf(line, "%u ", &n) != 1 || n != id || w == NULL)
            continue;
        it_fmt(obs, sizeof(obs), "%s", w + 1);
        while (w > line && w[-1] == ' ')
            w--;
        *w = '\0';
        w = strrchr(line, ' ');
        it_fmt(ro, sizeof(ro), "%s", w != NULL ? w + 1 : "");
        it_fmt(flags, sizeof(flags), "%s %s", ro, obs);
    }
    return flags;
}

struct lands_arg {
    const struct it_cluster *c;
    uint64_t seed;
    unsigned shard; /* 0: the upload must be refused with 503 */
};

/* Four uploads in a row land where a->shard says (the app re-reads shard
 * flags every poll; while two shards are writable it takes them in turn,
 * so four in a row on one are not luck). */
static bool upload_lands(void *arg)
{
    struct lands_arg *a = arg;
    struct it_record rec;

    for (int i = 0; i < 4; i++) {
        long st = it_upload(NULL, a->c->app.base, a->seed++, 3000, 0, false, &rec);
        if (a->shard == 0 ? st != 503 : st != 201 || uuid_shard(rec.uuid) != a->shard)
            return false;
    }
    return true;
}

/* `coffer admin shard set --read-only/--obsolete`: a flagged shard takes no
 * new objects while its records stay readable; none writable answers 503;
 * clearing the flag brings it back; bad values are usage errors. */
static void t_shard_flags(void *arg)
{
    struct it_record old;
    struct it_cluster c;
    struct lands_arg la;
    char out[512], log[IT_PATH_MAX];

    (void)arg;
    it_cluster_start(&c, 3, NULL, 0, 3);
    it_admin_shard_add(c.db);
    it_upload_ok(NULL, c.app.base, 700, 4000, 0, false, &old);
    it_case_path(log, "cmd.log");
    IT_EQ(shard_set(&c, "1", "--read-only", "maybe", out, sizeof(out)), 2);
    IT_CHECK(it_file_contains(log, "--read-only takes yes or no"));
    IT_EQ(shard_set(&c, "9", "--read-only", "yes", out, sizeof(out)), 1);
    IT_CHECK(it_file_contains(log, "no shard 9"));
    IT_EQ(shard_set(&c, "1", "--read-only", "yes", out, sizeof(out)), 0);
    IT_CHECKF(strstr(out, "read-only yes, obsolete no") != NULL, "%s", out);
    la = (struct lands_arg){&c, 710, 2};
    IT_CHECK(it_wait_for(upload_lands, &la, 50, 100));
    for (unsigned i = 0; i < 3; i++)
        IT_CHECK(upload_lands(&la));
    it_download_ok(NULL, c.objsrv.base, &old);
    IT_EQ(shard_set(&c, "2", "--obsolete", "yes", out, sizeof(out)), 0);
    la.shard = 0;
    IT_CHECK(it_wait_for(upload_lands, &la, 50, 100));
    it_download_ok(NULL, c.objsrv.base, &old);
    /* The other flag is kept: shard 1 stays read-only while its obsolete
     * flag is cleared, so nothing is writable yet. */
    IT_EQ(shard_set(&c, "1", "--obsolete", "no", out, sizeof(out)), 0);
    IT_CHECKF(strstr(out, "read-only yes, obsolete no") != NULL, "%s", out);
    IT_EQ(shard_set(&c, "1", "--read-only", "no", out, sizeof(out)), 0);
    la.shard = 1;
    IT_CHECK(it_wait_for(upload_lands, &la, 50, 100));
    IT_EQ(it_exit_code(
              it_coffer_cmd(out, sizeof(out), NULL, "admin", "shard", "list", "--db", c.db, NULL)),
          0);
    IT_STREQ(shard_flags(out, 1), "no no");
    IT_STREQ(shard_flags(out, 2), "no yes");
    it_cluster_stop(&c);
}

/* Scribe events (kind "shard") whose message has the needle in it. */
struct shard_event {
    const char *db, *needle;
};

static bool shard_event_seen(void *arg)
{
    const struct shard_event *e = arg;

    return it_scribe_count_msg(e->db, "shard", e->needle) > 0;
}

/* Shard 1 with --max-objects 10 and an app with a 100 ms periodic pass
 * (extra app arguments in extra, may be NULL): nine uploads land in shard
 * 1, which the pass then reports 90% full, once. */
static void shard_nine(struct it_cluster *c, const char *extra)
{
    struct shard_event e = {c->db, "shard 1 is 90% full: add a shard"};
    struct it_record rec;
    char out[512];

    it_cluster_start_filers(c, 3);
    IT_EQ(shard_set(c, "1", "--max-objects", "ten", out, sizeof(out)), 2);
    IT_EQ(shard_set(c, "1", "--max-objects", "10", out, sizeof(out)), 0);
    IT_CHECKF(strstr(out, "max objects 10") != NULL, "%s", out);
    it_app_start_ok(&c->app, c->db, "--purge-interval-ms", "100", extra, NULL);
    for (unsigned i = 0; i < 8; i++) {
        it_upload_ok(NULL, c->app.base, 800 + i, 2000, 0, false, &rec);
        IT_EQ(uuid_shard(rec.uuid), 1);
    }
    /* 8 of 10 is below 90%: passes go by without a word. */
    IT_CHECK(!it_wait_for(shard_event_seen, &e, 5, 100));
    it_upload_ok(NULL, c->app.base, 808, 2000, 0, false, &rec);
    IT_EQ(uuid_shard(rec.uuid), 1);
    IT_CHECK(it_wait_for(shard_event_seen, &e, 50, 100));
}

/* `coffer admin shard set --max-objects`: the 10th object fills shard 1,
 * whose 90% the app reported once; with no other shard (and no
 * --auto-shard) the 11th upload gets 503 naming the full shard. */
static void t_shard_full(void *arg)
{
    struct it_body b = {.chunked = false};
    struct it_cluster c;
    struct it_record rec;
    struct it_resp r;
    char out[1024];

    (void)arg;
    shard_nine(&c, NULL);
    it_upload_ok(NULL, c.app.base, 809, 2000, 0, false, &rec);
    IT_EQ(uuid_shard(rec.uuid), 1);
    it_gen_init(&b.gen, 810, 2000);
    IT_EQ(it_http_to(NULL, c.app.base, "POST", "/v1/objects", &b, &r, NULL), 503);
    IT_CHECKF(r.body != NULL && strstr(r.body, "shard 1 is full") != NULL, "%s",
              r.body != NULL ? r.body : "");
    it_gen_fini(&b.gen);
    it_resp_fini(&r);
    IT_EQ(it_scribe_count_msg(c.db, "shard", "shard 1 is 90% full"), 1);
    IT_EQ(it_scribe_count_msg(c.db, "shard", "added shard"), 0);
    IT_EQ(it_exit_code(
              it_coffer_cmd(out, sizeof(out), NULL, "admin", "shard", "list", "--db", c.db, NULL)),
          0);
    IT_CHECKF(strstr(out, " 10 ") != NULL && strstr(out, "max-objects") != NULL, "%s", out);
    IT_STREQ(shard_flags(out, 1), "no no");
    it_cluster_stop(&c);
}

/* With --auto-shard on a SQLite catalog, shard 1 at 90% makes the app add
 * shard 2 next to the catalog; shard 1 takes its 10th object and no more,
 * every further upload lands in shard 2. */
static void t_shard_grow(void *arg)
{
    struct it_cluster c;
    struct it_record rec;
    struct shard_event e;
    unsigned on[3] = {0, 9, 0};

    (void)arg;
    it_skip_on_pg("--auto-shard adds shards next to a SQLite catalog only");
    shard_nine(&c, "--auto-shard=true");
    e = (struct shard_event){c.db, "added shard 2 next to the catalog: shard 1 is 90% full"};
    IT_CHECK(it_wait_for(shard_event_seen, &e, 50, 100));
    for (unsigned i = 0; i < 5; i++) {
        unsigned s;
        it_upload_ok(NULL, c.app.base, 820 + i, 2000, 0, false, &rec);
        s = uuid_shard(rec.uuid);
        IT_CHECKF(s == 1 || s == 2, "%s", rec.uuid);
        on[s < 3 ? s : 0]++;
        IT_EQ(it_info(c.app.base, rec.uuid, &rec), 200);
    }
    IT_EQ(on[1], 10);
    IT_EQ(on[2], 4);
    IT_EQ(it_scribe_count_msg(c.db, "shard", "added shard"), 1);
    it_cluster_stop(&c);
}

#define N_CONC 100

/* 100 uploads at once, then 100 downloads at once, all byte-exact. */
static void t_concurrent(void *arg)
{
    static struct it_xfer x[N_CONC];
    static struct it_body b[N_CONC];
    static struct it_record rec[N_CONC];
    uint8_t sha[CF_SHA512_LEN];
    char target[128];
    struct it_cluster c;

    (void)arg;
    /* 100 uploads share the app's 4 connections per shard: under the
     * sanitizers on a busy machine a turn can take longer than the 5 s
     * default wait, and this case is about every upload arriving whole,
     * not about that wait (it_pg_faults tests the 503 it gives). */
    it_cluster_init(&c);
    for (size_t i = 0; i < 3; i++)
        it_cluster_add_filer(&c, 100, NULL);
    it_admin_shard_add(c.db);
    it_app_start_ok(&c.app, c.db, "--stall-s", "3", "--db-wait-ms", "60000", NULL);
    it_objsrv_start_ok(&c.objsrv, c.app.base, "--stall-s", "3", NULL);
    for (size_t i = 0; i < N_CONC; i++) {
        /* 0 B to ~390 KiB; every tenth empty; half of them chunked. */
        uint64_t size = i % 10 == 0 ? 0 : (i * 40009) % (400 * 1024);
        memset(&b[i], 0, sizeof(b[i]));
        b[i].chunked = i % 2 == 1;
        it_gen_init(&b[i].gen, 600 + i, size);
        it_xfer_init(&x[i], c.app.base, "POST", "/v1/objects", &b[i], NULL);
    }
    it_xfer_run(x, N_CONC, NULL, NULL);
    for (size_t i = 0; i < N_CONC; i++) {
        IT_CHECKF(x[i].resp.status == 201, "upload %zu: status %ld (curl %d) %.200s", i,
                  x[i].resp.status, x[i].resp.curl_code, x[i].resp.body ? x[i].resp.body : "");
        it_gen_final(&b[i].gen, sha);
        it_check_upload_reply(&x[i].resp, b[i].gen.size, sha, 2, &rec[i]);
        it_xfer_fini(&x[i]);
    }
    for (size_t i = 0; i < N_CONC; i++) {
        for (size_t k = 0; k < i; k++)
            IT_CHECK(strcmp(rec[i].uuid, rec[k].uuid) != 0);
        it_fmt(target, sizeof(target), "/v1/objects/%s", rec[i].uuid);
        it_xfer_init(&x[i], c.objsrv.base, "GET", target, NULL, NULL);
    }
    it_xfer_run(x, N_CONC, NULL, NULL);
    for (size_t i = 0; i < N_CONC; i++) {
        it_check_download(&x[i].resp, &rec[i]);
        it_xfer_fini(&x[i]);
        it_check_placement(c.f, c.n, &rec[i]);
    }
    IT_EQ(it_objdb_count(c.db, 3), N_CONC);
    it_cluster_stop(&c);
}

/* Records are durable: after the app and objsrv restart (on new ports) every
 * object is found and served, and new objects get new UUIDs. While the app
 * is down objsrv answers 503. */
static void t_restart(void *arg)
{
    struct it_record rec[4], again;
    struct it_cluster c;
    struct it_resp r;
    char target[128];

    (void)arg;
    it_cluster_start(&c, 3, NULL, 0, 3);
    for (unsigned i = 0; i < 3; i++)
        it_upload_ok(NULL, c.app.base, 700 + i, 70000 + i, 0, false, &rec[i]);
    /* Without the app objsrv cannot find records: 503, not 404. */
    it_proc_stop_ok(&c.app);
    it_fmt(target, sizeof(target), "/v1/objects/%s", rec[0].uuid);
    IT_EQ(it_http_to(NULL, c.objsrv.base, "GET", target, NULL, &r, NULL), 503);
    it_check_error_body(&r, "EUNAVAIL");
    it_resp_fini(&r);
    it_proc_stop_ok(&c.objsrv);
    it_app_start_ok(&c.app, c.db, NULL);
    it_objsrv_start_ok(&c.objsrv, c.app.base, NULL);
    for (unsigned i = 0; i < 3; i++) {
        IT_EQ(it_info(c.app.base, rec[i].uuid, &again), 200);
        IT_CHECK(memcmp(again.sha, rec[i].sha, CF_SHA512_LEN) == 0);
        it_download_ok(NULL, c.objsrv.base, &rec[i]);
    }
    it_upload_ok(NULL, c.app.base, 703, 1234, 0, false, &rec[3]);
    for (unsigned i = 0; i < 3; i++)
        IT_CHECK(strcmp(rec[3].uuid, rec[i].uuid) != 0);
    it_download_ok(NULL, c.objsrv.base, &rec[3]);
    IT_EQ(it_objdb_count(c.db, 3), 4);
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"roundtrip_small", t_roundtrip_small, NULL, 40},
        {"checksum_mismatch", t_checksum_mismatch, NULL, 40},
        {"replicas_on_4", t_replicas_on_4, NULL, 40},
        {"app_replicas", t_app_replicas, NULL, 40},
        {"read_only_never_chosen", t_read_only_never_chosen, NULL, 40},
        {"uuids", t_uuids, NULL, 40},
        {"shard_flags", t_shard_flags, NULL, 60},
        {"shard_full", t_shard_full, NULL, 60},
        {"shard_grow", t_shard_grow, NULL, 60},
        {"concurrent", t_concurrent, NULL, 90},
        {"restart", t_restart, NULL, 40},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
