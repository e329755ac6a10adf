/*
 * client.c -- put, get, stat and admin commands (cli.h).
 */
#include "coffer/cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/buf.h"
#include "coffer/conf.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/io.h"
#include "coffer/objdb.h"
#include "coffer/sha512.h"
#include "coffer/uuid.h"
#include "cli_int.h"

struct client_conf {
    char *app;
    char *objsrv;
    char *db;
    char *out;
    uint64_t replicas;
    uint64_t id;
    char *url;
    uint64_t weight;
    char *location;
    bool now;
};

#define OFF(f) offsetof(struct client_conf, f)
static const struct cf_conf_opt put_opts[] = {
    {"app", CF_CONF_STR, "http://127.0.0.1:8200", 0, 0, OFF(app), "URL of the app role", false},
    {"replicas", CF_CONF_U64, "0", 0, 16, OFF(replicas), "replicas (0: the server's default)",
     false},
};
static const struct cf_conf_opt get_opts[] = {
    {"objsrv", CF_CONF_STR, "http://127.0.0.1:8201", 0, 0, OFF(objsrv), "URL of the objsrv role",
     false},
    {"o", CF_CONF_STR, NULL, 0, 0, OFF(out), "write to this file instead of stdout", false},
};
static const struct cf_conf_opt stat_opts[] = {
    {"app", CF_CONF_STR, "http://127.0.0.1:8200", 0, 0, OFF(app), "URL of the app role", false},
};
static const struct cf_conf_opt admin_opts[] = {
    {"db", CF_CONF_STR, "sqlite:./data/catalog.db", 0, 0, OFF(db), "object database catalog URI",
     false},
    {"id", CF_CONF_U64, "0", 0, UINT32_MAX, OFF(id), "filer or shard id", false},
    {"url", CF_CONF_STR, NULL, 0, 0, OFF(url), "filer base URL, http://HOST:PORT", false},
    {"weight", CF_CONF_U64, "100", 0, 1000000, OFF(weight), "filer weight", false},
    {"location", CF_CONF_STR, NULL, 0, 0, OFF(location), "shard database URI", false},
};

static const struct cf_conf_opt purge_opts[] = {
    {"app", CF_CONF_STR, "http://127.0.0.1:8200", 0, 0, OFF(app), "URL of the app role", false},
    {"now", CF_CONF_BOOL, "false", 0, 0, OFF(now), "run the delete and purge pass now", false},
};

/* ---- put ---- */

struct put_src {
    FILE *f;
    struct cf_sha512 h;
    int err;
};

static size_t put_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct put_src *s = ud;
    size_t n = fread(buf, 1, size * nitems, s->f);

    if (n == 0 && ferror(s->f)) {
        s->err = errno;
        return CURL_READFUNC_ABORT;
    }
    if (cf_sha512_update(&s->h, buf, n) < 0)
        return CURL_READFUNC_ABORT;
    return n;
}

int cf_cli_put(int argc, char **argv)
{
    static const char usage[] = "usage: coffer put FILE [--replicas R] [--app URL]\n"
                                "       coffer put FILE /PATH   (see coffer login)\n"
                                "Uploads FILE (- for stdin) and prints its UUID, or stores\n"
                                "it at /PATH through the gateway.\n";
    static const struct cf__cli_args args = {.cmd = "put",
                                             .usage = usage,
                                             .opts = put_opts,
                                             .nopts = CF_ARRAY_LEN(put_opts),
                                             .min = 1,
                                             .max = 1};
    struct client_conf c = {0};
    struct put_src src = {0};
    struct cf__cli_progress prog;
    struct curl_slist *hdrs = NULL;
    struct cf_buf body;
    struct stat st;
    char *file = NULL, url[512], hex[CF_SHA512_HEX_LEN + 1];
    uint8_t d[CF_SHA512_LEN];
    json_t *j = NULL;
    CURL *h = NULL;
    CURLcode cc;
    long status = 0;
    int rc;

    char *pos[2];

    /* A second argument is a remote path: the gateway's `put FILE /path`. */
    if (cf__cli_positionals(&args, argc, argv, pos, 2) == 2)
        return cf__cli_fs_put(argc, argv);
    cf_buf_init(&body, CF_HTTPC_BODY_MAX);
    rc = cf__cli_load(&args, &c, argc, argv, &file, NULL);
    if (rc >= 0)
        goto out;
    rc = 1;
    src.f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    if (src.f == NULL || fstat(fileno(src.f), &st) < 0) {
        fprintf(stderr, "coffer put: cannot open \"%s\": %s\n", file, strerror(errno));
        goto out;
    }
    if (cf_sha512_init(&src.h) < 0 || cf_httpc_global_init() < 0)
        goto out;
    h = curl_easy_init();
    if (h == NULL)
        goto out;
    if (c.replicas > 0)
        (void)snprintf(url, sizeof(url), "%s/v1/objects?replicas=%" PRIu64, c.app, c.replicas);
    else
        (void)snprintf(url, sizeof(url), "%s/v1/objects", c.app);
    (void)curl_easy_setopt(h, CURLOPT_URL, url);
    (void)curl_easy_setopt(h, CURLOPT_POST, 1L);
    (void)curl_easy_setopt(h, CURLOPT_READFUNCTION, put_read);
    (void)curl_easy_setopt(h, CURLOPT_READDATA, &src);
    (void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cf__cli_to_buf);
    (void)curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    hdrs = curl_slist_append(NULL, "Content-Type: application/octet-stream");
    if (S_ISREG(st.st_mode))
        (void)curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st.st_size);
    else
        hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
    (void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    cf__cli_progress_setup(h, &prog, "put", S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0);
    cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        fprintf(stderr, "coffer put: %s: %s\n", url,
                src.err ? strerror(src.err) : curl_easy_strerror(cc));
        goto out;
    }
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 201) {
        cf__cli_print_error("put", status, &body);
        goto out;
    }
    j = json_loadb(body.base, body.len, 0, NULL);
    if (cf_sha512_final(&src.h, d) < 0)
        goto out;
    cf_sha512_hex(d, hex);
    if (json_string_value(json_object_get(j, "uuid")) == NULL ||
        json_string_value(json_object_get(j, "sha512")) == NULL ||
        strcmp(hex, json_string_value(json_object_get(j, "sha512"))) != 0) {
        fprintf(stderr, "coffer put: the server recorded a different SHA-512 than was sent\n");
        goto out;
    }
    printf("%s\n", json_string_value(json_object_get(j, "uuid")));
    rc = 0;
out:
    json_decref(j);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    cf_sha512_fini(&src.h);
    if (src.f != NULL && src.f != stdin)
        fclose(src.f);
    cf_buf_fini(&body);
    cf_conf_fini(put_opts, CF_ARRAY_LEN(put_opts), &c);
    return rc;
}

/* ---- get ---- */

struct get_dst {
    FILE *f;
    CURL *h;
    struct cf_sha512 h512;
    struct cf_buf err; /* the body of an error reply */
    bool ok;           /* status 200 seen */
};

static size_t get_write(char *p, size_t size, size_t nitems, void *ud)
{
    struct get_dst *d = ud;
    size_t n = size * nitems;
    long status = 0;

    (void)curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return cf__cli_to_buf(p, size, nitems, &d->err);
    d->ok = true;
    if (cf_sha512_update(&d->h512, p, n) < 0 || fwrite(p, 1, n, d->f) != n)
        return 0;
    return n;
}

int cf_cli_get(int argc, char **argv)
{
    static const char usage[] = "usage: coffer get UUID [-o FILE] [--objsrv URL]\n"
                                "       coffer get /PATH [-o FILE]   (see coffer login)\n"
                                "Downloads an object, or the file at /PATH through the gateway,\n"
                                "to FILE (or stdout), verified.\n";
    static const struct cf__cli_args args = {.cmd = "get",
                                             .usage = usage,
                                             .opts = get_opts,
                                             .nopts = CF_ARRAY_LEN(get_opts),
                                             .min = 1,
                                             .max = 1};
    struct client_conf c = {0};
    struct get_dst d = {0};
    struct cf__cli_progress prog;
    struct cf__cli_out o = {0};
    char *uuid = NULL, url[512];
    uint8_t dg[CF_SHA512_LEN], want[CF_SHA512_LEN];
    curl_off_t size = 0;
    CURLcode cc;
    long status = 0;
    int rc;

    char *pos[1];

    /* A path, not a UUID: the gateway's `get /path`. */
    if (cf__cli_positionals(&args, argc, argv, pos, 1) == 1 && pos[0][0] == '/')
        return cf__cli_fs_get(argc, argv);
    cf_buf_init(&d.err, CF_HTTPC_BODY_MAX);
    rc = cf__cli_load(&args, &c, argc, argv, &uuid, NULL);
    if (rc >= 0)
        goto out;
    rc = 1;
    if (!cf_uuid_is_valid(uuid, strlen(uuid))) {
        fprintf(stderr, "coffer get: \"%s\" is not a UUID\n", uuid);
        rc = 2;
        goto out;
    }
    if (cf__cli_out_open(&o, "get", c.out) != 0)
        goto out;
    d.f = o.f;
    if (cf_sha512_init(&d.h512) < 0 || cf_httpc_global_init() < 0)
        goto out;
    d.h = curl_easy_init();
    if (d.h == NULL)
        goto out;
    (void)snprintf(url, sizeof(url), "%s/v1/objects/%s", c.objsrv, uuid);
    (void)curl_easy_setopt(d.h, CURLOPT_URL, url);
    (void)curl_easy_setopt(d.h, CURLOPT_WRITEFUNCTION, get_write);
    (void)curl_easy_setopt(d.h, CURLOPT_WRITEDATA, &d);
    prog.on = false;
    if (c.out != NULL)
        cf__cli_progress_setup(d.h, &prog, "get", CF__CLI_PROGRESS_MIN);
    cc = curl_easy_perform(d.h);
    (void)curl_easy_getinfo(d.h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200 && status != 0) {
        cf__cli_print_error("get", status, &d.err);
        goto out;
    }
    if (cc != CURLE_OK) {
        fprintf(stderr, "coffer get: %s: %s (the download was not completed)\n", url,
                curl_easy_strerror(cc));
        goto out;
    }
    (void)curl_easy_getinfo(d.h, CURLINFO_SIZE_DOWNLOAD_T, &size);
    if (cf_sha512_final(&d.h512, dg) < 0)
        goto out;
    if (cf_httpc_reply_sha512(d.h, want) != 0 || memcmp(dg, want, CF_SHA512_LEN) != 0) {
        fprintf(stderr, "coffer get: the bytes received do not match the object's SHA-512\n");
        goto out;
    }
    if (cf__cli_out_commit(&o, "get") != 0)
        goto out;
    rc = 0;
out:
    cf__cli_out_abort(&o);
    curl_easy_cleanup(d.h);
    cf_sha512_fini(&d.h512);
    cf_buf_fini(&d.err);
    cf_conf_fini(get_opts, CF_ARRAY_LEN(get_opts), &c);
    return rc;
}

/* ---- stat ---- */

int cf_cli_stat(int argc, char **argv)
{
    static const char usage[] = "usage: coffer stat UUID [--app URL]\n"
                                "Prints the object's record: size, SHA-512, filers.\n";
    static const struct cf__cli_args args = {.cmd = "stat",
                                             .usage = usage,
                                             .opts = stat_opts,
                                             .nopts = CF_ARRAY_LEN(stat_opts),
                                             .min = 1,
                                             .max = 1};
    struct client_conf c = {0};
    struct cf__cli_req r = {
        .cmd = "stat", .method = "GET", .base_name = "--app URL", .timeout_ms = 10000};
    char *uuid = NULL, path[CF_UUID_SIZE + 32], *text = NULL;
    json_t *j = NULL;
    long status = 0;
    int rc;

    rc = cf__cli_load(&args, &c, argc, argv, &uuid, NULL);
    if (rc >= 0)
        goto out;
    rc = 1;
    if (!cf_uuid_is_valid(uuid, strlen(uuid))) {
        fprintf(stderr, "coffer stat: \"%s\" is not a UUID\n", uuid);
        rc = 2;
        goto out;
    }
    /* A valid UUID is CF_UUID_LEN bytes: the path fits. */
    (void)snprintf(path, sizeof(path), "/v1/objects/%s/info", uuid);
    r.base = c.app;
    r.path = path;
    if (cf__cli_request(&r, &status, &j) != 0)
        goto out;
    if (status != 200) {
        cf__cli_print_reply("stat", status, j);
        goto out;
    }
    text = json_dumps(j, JSON_INDENT(2));
    printf("%s\n", text ? text : "{}");
    rc = 0;
out:
    free(text);
    json_decref(j);
    cf_conf_fini(stat_opts, CF_ARRAY_LEN(stat_opts), &c);
    return rc;
}

/* ---- admin ---- */

static int admin_filer(struct cf_objdb *odb, const char *verb, const struct client_conf *c,
                       char *err)
{
    if (strcmp(verb, "add") == 0) {
        struct cf_objdb_filer f = {0};
        if (c->id == 0 || c->url == NULL) {
            cf_err_set(err, "filer add needs --id N and --url http://HOST:PORT");
            return CF_EINVAL;
        }
        f.id = (uint32_t)c->id;
        (void)snprintf(f.url, sizeof(f.url), "%s", c->url);
        f.weight = (uint32_t)c->weight;
        (void)snprintf(f.status, sizeof(f.status), "unknown");
        return cf_objdb_filer_register(odb, &f, err);
    }
    if (strcmp(verb, "list") == 0) {
        struct cf_objdb_filer *fl = NULL;
        size_t n = 0;
        int rc = cf_objdb_filer_list(odb, &fl, &n, err);
        if (rc < 0)
            return rc;
        printf("%-4s %-28s %-7s %-8s %14s %14s %10s %s\n", "id", "url", "weight", "status", "used",
               "total", "objects", "ro");
        for (size_t i = 0; i < n; i++)
            printf("%-4" PRIu32 " %-28s %-7" PRIu32 " %-8s %14" PRIu64 " %14" PRIu64 " %10" PRIu64
                   " %s\n",
                   fl[i].id, fl[i].url, fl[i].weight, fl[i].status, fl[i].used_bytes,
                   fl[i].total_bytes, fl[i].objects, fl[i].read_only ? "yes" : "no");
        free(fl);
        return 0;
    }
    cf_err_set(err, "unknown verb \"filer %.32s\" (add, list)", verb);
    return CF_EINVAL;
}

static int admin_shard(struct cf_objdb *odb, const char *verb, const struct client_conf *c,
                       char *err)
{
    if (strcmp(verb, "add") == 0) {
        uint16_t id = 0;
        int rc = cf_objdb_shard_add(odb, (uint16_t)c->id, c->location, &id, err);
        if (rc == 0)
            printf("shard %u added\n", (unsigned)id);
        return rc;
    }
    if (strcmp(verb, "list") == 0) {
        struct cf_objdb_shard *sl = NULL;
        size_t n = 0;
        cf_objdb_shard_list(odb, &sl, &n);
        printf("%-6s %-40s %-9s %s\n", "id", "location", "read-only", "obsolete");
        for (size_t i = 0; i < n; i++)
            printf("%-6u %-40s %-9s %s\n", (unsigned)sl[i].id, sl[i].location,
                   sl[i].read_only ? "yes" : "no", sl[i].obsolete ? "yes" : "no");
        free(sl);
        return 0;
    }
    cf_err_set(err, "unknown verb \"shard %.32s\" (add, list)", verb);
    return CF_EINVAL;
}

/* `coffer admin purge --now [--app URL]`: POST {app}/v1/admin/purge. */
static int admin_purge(int argc, char **argv)
{
    static const char usage[] = "usage: coffer admin purge --now [--app URL]\n"
                                "Runs the app's delete and purge pass now and prints its counts.\n";
    static const struct cf__cli_args args = {.cmd = "admin purge",
                                             .usage = usage,
                                             .opts = purge_opts,
                                             .nopts = CF_ARRAY_LEN(purge_opts)};
    struct client_conf c = {0};
    struct cf__cli_req r = {.cmd = "admin purge",
                            .method = "POST",
                            .base_name = "--app URL",
                            .path = "/v1/admin/purge",
                            .timeout_ms = 600000L,
                            .url_prefix = true};
    json_t *j = NULL;
    long status = 0;
    int rc;

    rc = cf__cli_load(&args, &c, argc, argv, NULL, NULL);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (!c.now) {
        fprintf(stderr, "%s", usage);
        goto out;
    }
    rc = 1;
    r.base = c.app;
    if (cf__cli_request(&r, &status, &j) != 0)
        goto out;
    if (status != 200 || !json_is_object(j)) {
        const char *m = json_string_value(json_object_get(j, "message"));
        fprintf(stderr, "coffer admin purge: status %ld%s%s\n", status, m ? ": " : "", m ? m : "");
        goto out;
    }
    printf("moved %" PRId64 ", purged %" PRId64 ", failed %" PRId64 ", skipped %" PRId64
           ", removed %" PRId64 ", pending %" PRId64 "\n",
           (int64_t)json_integer_value(json_object_get(j, "moved")),
           (int64_t)json_integer_value(json_object_get(j, "purged")),
           (int64_t)json_integer_value(json_object_get(j, "failed")),
           (int64_t)json_integer_value(json_object_get(j, "skipped")),
           (int64_t)json_integer_value(json_object_get(j, "removed")),
           (int64_t)json_integer_value(json_object_get(j, "pending")));
    rc = 0;
out:
    json_decref(j);
    cf_conf_fini(purge_opts, CF_ARRAY_LEN(purge_opts), &c);
    return rc;
}

int cf_cli_admin(int argc, char **argv)
{
    static const char usage[] =
        "usage: coffer admin filer add --id N --url http://HOST:PORT [--weight W] [--db URI]\n"
        "       coffer admin filer list [--db URI]\n"
        "       coffer admin shard add [--id N] [--location URI] [--db URI]\n"
        "       coffer admin shard list [--db URI]\n"
        "       coffer admin purge --now [--app URL]\n"
        "       coffer admin filers [--monitor URL]\n"
        "       coffer admin log [--since 1h] [--kind K] [--filer ID] [--monitor URL]\n"
        "       coffer admin filer maintenance --id N on|off [--monitor URL]\n"
        "       coffer admin rebuild|rebalance|audit|dedupe|jobs|job ...   (coffer admin jobs "
        "--help)\n"
        "       coffer admin client|user|group|perm ...   (coffer admin user --help)\n";
    static const struct cf__cli_args args = {.cmd = "admin",
                                             .usage = usage,
                                             .opts = admin_opts,
                                             .nopts = CF_ARRAY_LEN(admin_opts),
                                             .min = 2,
                                             .max = 2};
    struct client_conf c = {0};
    struct cf_objdb *odb = NULL;
    char *pos[2] = {NULL, NULL}, err[CF_ERR_LEN] = "";
    int rc;

    if (argc >= 1 && strcmp(argv[0], "purge") == 0)
        return admin_purge(argc - 1, argv + 1);
    if (argc >= 1 && (strcmp(argv[0], "rebuild") == 0 || strcmp(argv[0], "rebalance") == 0 ||
                      strcmp(argv[0], "audit") == 0 || strcmp(argv[0], "dedupe") == 0 ||
                      strcmp(argv[0], "jobs") == 0 || strcmp(argv[0], "job") == 0))
        return cf__cli_jobs(argc, argv);
    if (argc >= 1 &&
        (strcmp(argv[0], "filers") == 0 || strcmp(argv[0], "log") == 0 ||
         (argc >= 2 && strcmp(argv[0], "filer") == 0 && strcmp(argv[1], "maintenance") == 0)))
        return cf__cli_monitor_admin(argc, argv);
    if (argc >= 1 && (strcmp(argv[0], "client") == 0 || strcmp(argv[0], "user") == 0 ||
                      strcmp(argv[0], "group") == 0 || strcmp(argv[0], "perm") == 0))
        return cf__cli_fs_admin(argc, argv);
    rc = cf__cli_load(&args, &c, argc, argv, pos, NULL);
    if (rc >= 0)
        goto out;
    rc = 1;
    if (cf_objdb_open(c.db, 1, &odb, err) < 0) {
        fprintf(stderr, "coffer admin: %s\n", err);
        goto out;
    }
    if (strcmp(pos[0], "filer") == 0)
        rc = admin_filer(odb, pos[1], &c, err);
    else if (strcmp(pos[0], "shard") == 0)
        rc = admin_shard(odb, pos[1], &c, err);
    else {
        fprintf(stderr, "%s", usage);
        rc = 2;
        goto out;
    }
    if (rc < 0) {
        fprintf(stderr, "coffer admin: %s%s%s\n", cf_strerror(rc), err[0] ? ": " : "", err);
        rc = rc == CF_EINVAL ? 2 : 1;
    }
out:
    cf_objdb_close(odb);
    cf_conf_fini(admin_opts, CF_ARRAY_LEN(admin_opts), &c);
    return rc;
}
