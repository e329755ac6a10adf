/*
 * admin.c -- `coffer admin`: the dispatch of every admin command, and the
 * ones on the object database and the app: filer add|set|list and shard
 * add|set|list (written straight into the catalog, --db URI) and purge (cli.h).
 */
#include "coffer/cli.h"

#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coffer/common.h"
#include "coffer/conf.h"
#include "coffer/cred.h"
#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/maint.h"
#include "coffer/objdb.h"
#include "coffer/tls.h"
#include "coffer/uuid.h"
#include "cli_int.h"

struct admin_conf {
    char *db;
    uint64_t id;
    char *url;
    uint64_t weight;
    char *location;
    char *dc;
    char *read_weight;
    char *app;
    bool now;
    char *data;
    char *host;
    bool renew;
    char *read_only;
    char *obsolete;
    char *max_objects;
    char *uuid;
};

#define OFF(f) offsetof(struct admin_conf, f)
static const struct cf_conf_opt admin_opts[] = {
    {"db", CF_CONF_STR, "sqlite:./data/catalog.db", 0, 0, OFF(db), "object database catalog URI",
     false},
    {"id", CF_CONF_U64, "0", 0, UINT32_MAX, OFF(id), "filer or shard id", false},
    {"url", CF_CONF_STR, NULL, 0, 0, OFF(url), "filer base URL, http://HOST:PORT", false},
    {"weight", CF_CONF_U64, "100", 0, CF_OBJDB_WEIGHT_MAX, OFF(weight),
     "filer (write) weight: the distributor places new objects on heavier filers first", false},
    {"read-weight", CF_CONF_STR, NULL, 0, 0, OFF(read_weight),
     "filer read weight, 0..1000000 (add: default 100): downloads read the replica on the "
     "filer of highest read weight first; 0: only when no other replica answers",
     false},
    {"location", CF_CONF_STR, NULL, 0, 0, OFF(location), "shard database URI", false},
    {"dc", CF_CONF_STR, NULL, 0, 0, OFF(dc), "data center of the filer or shard ([A-Za-z0-9._-])",
     false},
    {"read-only", CF_CONF_STR, NULL, 0, 0, OFF(read_only),
     "shard set: yes (the shard takes no new objects) or no", false},
    {"obsolete", CF_CONF_STR, NULL, 0, 0, OFF(obsolete),
     "shard set: yes (being retired: no new objects) or no", false},
    {"max-objects", CF_CONF_STR, NULL, 0, 0, OFF(max_objects),
     "shard set: the most object ids the shard hands out, then it is full (0: no limit)", false},
};

static const struct cf_conf_opt purge_opts[] = {
    {"app", CF_CONF_STR, "http://127.0.0.1:8200", 0, 0, OFF(app), "URL of the app role", false},
    {"now", CF_CONF_BOOL, "false", 0, 0, OFF(now), "run the delete and purge pass now", false},
    {"uuid", CF_CONF_STR, NULL, 0, 0, OFF(uuid),
     "delete and purge this one object now, whatever the retention (it must be marked deleted)",
     false},
};

static const struct cf_conf_opt tls_opts[] = {
    {"data", CF_CONF_STR, "./data", 0, 0, OFF(data),
     "data directory of coffer server: the files go in DATA/tls", false},
    {"host", CF_CONF_STR, NULL, 0, 0, OFF(host),
     "more names or addresses for the server certificate, comma-separated", false},
    {"renew", CF_CONF_BOOL, "false", 0, 0, OFF(renew),
     "make a new server certificate even if the one there is fine", false},
};

/* What `coffer admin` does, printed when it cannot tell which command. */
static const char admin_usage[] =
    "usage: coffer admin filer add --id N --url http://HOST:PORT [--weight W] [--read-weight W]\n"
    "                              [--dc NAME] [--db URI]\n"
    "       coffer admin filer set --id N [--dc NAME] [--read-weight W] [--db URI]\n"
    "       coffer admin filer list [--db URI]\n"
    "       coffer admin shard add [--id N] [--location URI] [--dc NAME] [--db URI]\n"
    "       coffer admin shard set --id N [--dc NAME] [--read-only yes|no] [--obsolete yes|no]\n"
    "                              [--max-objects M]\n"
    "                              [--db URI]\n"
    "       coffer admin shard list [--db URI]\n"
    "       coffer admin purge --now | --uuid UUID [--app URL]\n"
    "       coffer admin tls init [--data DIR] [--host NAME[,NAME...]] [--renew]\n"
    "       coffer admin keys init --data DIR\n"
    "       coffer admin filers [--monitor URL]\n"
    "       coffer admin cluster [--monitor URL]\n"
    "       coffer admin history [--filer ID] [--since 24h] [--monitor URL]\n"
    "       coffer admin log [--since 1h] [--kind K] [--filer ID] [--monitor URL]\n"
    "       coffer admin filer maintenance --id N on|off [--monitor URL]\n"
    "       coffer admin rebuild|rebalance|audit|dedupe|jobs|job ...   (coffer admin jobs "
    "--help)\n"
    "       coffer admin client|user|group|perm|fs-shard ...   (coffer admin user --help)\n";

/* ---- filer and shard, on the object database ---- */

/* --read-weight's text v into *out (0..CF_OBJDB_WEIGHT_MAX). Returns 0 or
 * CF_EINVAL. */
static int parse_read_weight(const char *v, uint32_t *out, char *err)
{
    char *end = NULL;
    unsigned long w;

    errno = 0;
    w = v[0] >= '0' && v[0] <= '9' ? strtoul(v, &end, 10) : ULONG_MAX;
    if (end == NULL || *end != '\0' || errno != 0 || w > CF_OBJDB_WEIGHT_MAX) {
        cf_err_set(err, "--read-weight takes a number from 0 to %d, not \"%.32s\"",
                   CF_OBJDB_WEIGHT_MAX, v);
        return CF_EINVAL;
    }
    *out = (uint32_t)w;
    return 0;
}

static int admin_filer(struct cf_objdb *odb, const char *verb, const struct admin_conf *c,
                       char *err)
{
    struct cf_objdb_filer f = {0}, *fl = NULL;
    size_t n = 0;
    int rc = CF_EINVAL;

    if (strcmp(verb, "add") == 0) {
        if (c->id == 0 || c->url == NULL) {
            cf_err_set(err, "filer add needs --id N and --url http://HOST:PORT");
            goto out;
        }
        f.id = (uint32_t)c->id;
        (void)snprintf(f.url, sizeof(f.url), "%s", c->url);
        f.weight = (uint32_t)c->weight;
        (void)snprintf(f.status, sizeof(f.status), "unknown");
        if (c->dc != NULL && !cf_objdb_dc_valid(c->dc)) {
            cf_err_set(err, "--dc: 0..%d bytes of A-Z a-z 0-9 . _ -", CF_OBJDB_DC_MAX);
            goto out;
        }
        (void)snprintf(f.dc, sizeof(f.dc), "%s", c->dc != NULL ? c->dc : "");
        f.read_weight = CF_OBJDB_READ_WEIGHT_DEFAULT;
        if (c->read_weight != NULL && parse_read_weight(c->read_weight, &f.read_weight, err) < 0)
            goto out;
        rc = cf_objdb_filer_register(odb, &f, err);
    } else if (strcmp(verb, "set") == 0) {
        uint32_t rw = 0;
        if (c->id == 0 || (c->dc == NULL && c->read_weight == NULL)) {
            cf_err_set(err, "filer set needs --id N and --dc NAME or --read-weight W");
            goto out;
        }
        if (c->read_weight != NULL && parse_read_weight(c->read_weight, &rw, err) < 0)
            goto out;
        rc = 0;
        if (c->dc != NULL)
            rc = cf_objdb_filer_set_dc(odb, (uint32_t)c->id, c->dc, err);
        if (rc == 0 && c->read_weight != NULL)
            rc = cf_objdb_filer_set_read_weight(odb, (uint32_t)c->id, rw, err);
    } else if (strcmp(verb, "list") == 0) {
        rc = cf_objdb_filer_list(odb, &fl, &n, err);
        if (rc < 0)
            goto out;
        printf("%-4s %-28s %-10s %-7s %-7s %-8s %14s %14s %10s %s\n", "id", "url", "dc", "weight",
               "read", "status", "used", "total", "objects", "ro");
        for (size_t i = 0; i < n; i++)
            printf("%-4" PRIu32 " %-28s %-10s %-7" PRIu32 " %-7" PRIu32 " %-8s %14" PRIu64
                   " %14" PRIu64 " %10" PRIu64 " %s\n",
                   fl[i].id, fl[i].url, fl[i].dc[0] ? fl[i].dc : "-", fl[i].weight,
                   fl[i].read_weight, fl[i].status, fl[i].used_bytes, fl[i].total_bytes,
                   fl[i].objects, fl[i].read_only ? "yes" : "no");
    } else {
        cf_err_set(err, "unknown verb \"filer %.32s\" (add, set, list)", verb);
    }
out:
    free(fl);
    return rc;
}

/* "yes"/"no" (or "true"/"false") of option name into *out; NULL leaves
 * *out as it is. Returns 0 or CF_EINVAL. */
static int yes_no(const char *name, const char *v, bool *out, char *err)
{
    if (v == NULL)
        return 0;
    if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
        *out = true;
    else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
        *out = false;
    else {
        cf_err_set(err, "--%s takes yes or no, not \"%.32s\"", name, v);
        return CF_EINVAL;
    }
    return 0;
}

/* --max-objects: decimal digits, 0..CF_UUID_OID_MAX. Returns 0 or CF_EINVAL. */
static int max_objects(const char *v, uint64_t *out, char *err)
{
    uint64_t n = 0;

    for (const char *p = v; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || n > CF_UUID_OID_MAX / 10) {
            n = CF_UUID_OID_MAX + 1;
            break;
        }
        n = n * 10 + (uint64_t)(*p - '0');
    }
    if (v[0] == '\0' || n > CF_UUID_OID_MAX) {
        cf_err_set(err, "--max-objects takes 0..%llu (0: no limit), not \"%.32s\"",
                   (unsigned long long)CF_UUID_OID_MAX, v);
        return CF_EINVAL;
    }
    *out = n;
    return 0;
}

/* `shard set`: the data-center label and the flags given, the others kept.
 * A read-only or obsolete shard takes no new objects (apps re-read the
 * flags within their poll interval); its records stay readable. */
static int shard_set(struct cf_objdb *odb, const struct admin_conf *c, char *err)
{
    struct cf_objdb_shard *sl = NULL;
    bool found = false, ro = false, obs = false;
    uint64_t max = 0;
    size_t n = 0;
    int rc;

    if (c->id == 0 || c->id > UINT16_MAX ||
        (c->dc == NULL && c->read_only == NULL && c->obsolete == NULL && c->max_objects == NULL)) {
        cf_err_set(err, "shard set needs --id N (a shard id) and one of --dc NAME, "
                        "--read-only yes|no, --obsolete yes|no, --max-objects M");
        return CF_EINVAL;
    }
    cf_objdb_shard_list(odb, &sl, &n);
    for (size_t i = 0; i < n && !found; i++) {
        if (sl[i].id == c->id) {
            found = true;
            ro = sl[i].read_only;
            obs = sl[i].obsolete;
            max = sl[i].max_objects;
        }
    }
    free(sl);
    if (!found) {
        cf_err_set(err, "no shard %" PRIu64, c->id);
        return CF_ENOTFOUND;
    }
    rc = yes_no("read-only", c->read_only, &ro, err);
    if (rc == 0)
        rc = yes_no("obsolete", c->obsolete, &obs, err);
    if (rc == 0 && c->max_objects != NULL)
        rc = max_objects(c->max_objects, &max, err);
    if (rc == 0 && c->max_objects != NULL)
        rc = cf_objdb_shard_set_max(odb, (uint16_t)c->id, max, err);
    if (rc == 0 && c->dc != NULL)
        rc = cf_objdb_shard_set_dc(odb, (uint16_t)c->id, c->dc, err);
    if (rc == 0 && (c->read_only != NULL || c->obsolete != NULL))
        rc = cf_objdb_shard_set(odb, (uint16_t)c->id, ro, obs, err);
    if (rc == 0)
        printf("shard %" PRIu64 ": read-only %s, obsolete %s, max objects %" PRIu64 "%s\n", c->id,
               ro ? "yes" : "no", obs ? "yes" : "no", max, max == 0 ? " (no limit)" : "");
    return rc;
}

static int admin_shard(struct cf_objdb *odb, const char *verb, const struct admin_conf *c,
                       char *err)
{
    struct cf_objdb_shard *sl = NULL;
    uint16_t id = 0;
    size_t n = 0;
    int rc = CF_EINVAL;

    if (strcmp(verb, "add") == 0) {
        if (c->dc != NULL && !cf_objdb_dc_valid(c->dc)) {
            cf_err_set(err, "--dc: 0..%d bytes of A-Z a-z 0-9 . _ -", CF_OBJDB_DC_MAX);
            return CF_EINVAL;
        }
        rc = cf_objdb_shard_add(odb, (uint16_t)c->id, c->location, &id, err);
        if (rc == 0 && c->dc != NULL)
            rc = cf_objdb_shard_set_dc(odb, id, c->dc, err);
        if (rc == 0)
            printf("shard %u added\n", (unsigned)id);
    } else if (strcmp(verb, "set") == 0) {
        rc = shard_set(odb, c, err);
    } else if (strcmp(verb, "list") == 0) {
        cf_objdb_shard_list(odb, &sl, &n);
        /* The flags stay the last two words (scripts read them so). */
        printf("%-6s %-40s %-10s %-12s %-12s %-9s %s\n", "id", "location", "dc", "max-objects",
               "used", "read-only", "obsolete");
        rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            uint64_t used = 0;
            rc = cf_objdb_shard_dc(odb, sl[i].id, sl[i].dc, err);
            if (rc == 0)
                rc = cf_objdb_shard_used(odb, sl[i].id, &used, err);
            if (rc == 0) {
                char *shown = cf_db_uri_redact(sl[i].location);
                char max[24];
                (void)snprintf(max, sizeof(max), "%" PRIu64, sl[i].max_objects);
                printf("%-6u %-40s %-10s %-12s %-12" PRIu64 " %-9s %s\n", (unsigned)sl[i].id, shown,
                       sl[i].dc[0] ? sl[i].dc : "-", sl[i].max_objects == 0 ? "-" : max, used,
                       sl[i].read_only ? "yes" : "no", sl[i].obsolete ? "yes" : "no");
                free(shown);
            }
        }
    } else {
        cf_err_set(err, "unknown verb \"shard %.32s\" (add, set, list)", verb);
    }
    free(sl);
    return rc;
}

/* `coffer admin filer|shard VERB ...`, and what no other admin command
 * takes (the usage of them all). */
static int admin_objdb(int argc, char **argv)
{
    static const struct cf__cli_args args = {.cmd = "admin",
                                             .usage = admin_usage,
                                             .opts = admin_opts,
                                             .nopts = CF_ARRAY_LEN(admin_opts),
                                             .min = 2,
                                             .max = 2};
    struct admin_conf c = {0};
    struct cf_objdb *odb = NULL;
    char *pos[2] = {NULL, NULL}, err[CF_ERR_LEN] = "";
    int rc;

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
        fprintf(stderr, "%s", admin_usage);
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

/* ---- keys ---- */

struct keys_conf {
    char *data;
};

static const struct cf_conf_opt keys_opts[] = {
    {"data", CF_CONF_STR, "./data", 0, 0, offsetof(struct keys_conf, data),
     "directory to make cluster.key, operator.key and operator.pub in", false},
};

/* `coffer admin keys init --data DIR`: the keys of a system of separate
 * processes (cred.h); never over existing ones. */
static int admin_keys(int argc, char **argv)
{
    static const char usage[] =
        "usage: coffer admin keys init --data DIR\n"
        "Makes DIR/cluster.key (every role: --cluster-key-file), DIR/operator.key (the CLI's\n"
        "--key-file) and DIR/operator.pub (--operator-pub-file); refuses to overwrite.\n";
    static const char *const words[] = {"init", NULL};
    static const struct cf__cli_args args = {.cmd = "admin keys",
                                             .usage = usage,
                                             .opts = keys_opts,
                                             .nopts = CF_ARRAY_LEN(keys_opts),
                                             .min = 1,
                                             .max = 1,
                                             .strict = true,
                                             .words = words};
    struct keys_conf c = {0};
    char *pos[1] = {NULL}, err[CF_ERR_LEN] = "";
    unsigned made = 0;
    int rc;

    rc = cf__cli_load(&args, &c, argc, argv, pos, NULL);
    if (rc >= 0)
        goto out;
    rc = 1;
    if (mkdir(c.data, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "coffer admin keys: mkdir \"%s\": %s\n", c.data, strerror(errno));
        goto out;
    }
    if (cf_cred_make_files(c.data, true, &made, err) < 0) {
        fprintf(stderr, "coffer admin keys: %s\n", err);
        goto out;
    }
    printf("made %s/%s (every role), %s/%s (the operator's; keep it secret) and %s/%s\n", c.data,
           CF_CRED_CLUSTER_FILE, c.data, CF_CRED_OPERATOR_FILE, c.data, CF_CRED_OPERATOR_PUB);
    rc = 0;
out:
    cf_conf_fini(keys_opts, CF_ARRAY_LEN(keys_opts), &c);
    return rc;
}

/* ---- purge, on the app ---- */

/* `coffer admin purge --now | --uuid UUID [--app URL]`: POST
 * {app}/v1/admin/purge[?uuid=UUID]. */
static int admin_purge(int argc, char **argv)
{
    static const char usage[] =
        "usage: coffer admin purge --now | --uuid UUID [--app URL]\n"
        "--now runs the app's delete and purge pass now; --uuid deletes and purges one\n"
        "object marked deleted now, ending its undelete window early. Prints the counts.\n";
    static const struct cf__cli_args args = {.cmd = "admin purge",
                                             .usage = usage,
                                             .opts = purge_opts,
                                             .nopts = CF_ARRAY_LEN(purge_opts),
                                             .key_file = true};
    struct admin_conf c = {0};
    struct cf__cli_req r = {.cmd = "admin purge",
                            .method = "POST",
                            .base_name = "--app URL",
                            .path = "/v1/admin/purge",
                            .timeout_ms = 600000L};
    json_t *j = NULL;
    char path[96];
    long status = 0;
    int rc;

    rc = cf__cli_load(&args, &c, argc, argv, NULL, NULL);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (c.now == (c.uuid != NULL)) {
        fprintf(stderr, "%s", usage);
        goto out;
    }
    if (c.uuid != NULL) {
        if (!cf_uuid_is_valid(c.uuid, strlen(c.uuid))) {
            fprintf(stderr, "coffer admin purge: --uuid: not a UUID: \"%.64s\"\n", c.uuid);
            goto out;
        }
        (void)snprintf(path, sizeof(path), "/v1/admin/purge?uuid=%s", c.uuid);
        r.path = path;
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

/* ---- tls init: the CA and server certificate ---- */

static int admin_tls(int argc, char **argv)
{
    static const char usage[] =
        "usage: coffer admin tls init [--data DIR] [--host NAME[,NAME...]] [--renew]\n"
        "Makes, in DIR/tls, a CA (ca.pem, ca.key) and a server certificate signed by it\n"
        "(server.pem, server.key) for localhost, 127.0.0.1, ::1 and the names given.\n"
        "Files already there are kept, unless the server certificate lacks a name, does\n"
        "not load, or --renew is given. Keys are mode 0600. Roles serve with --tls-cert\n"
        "DIR/tls/server.pem --tls-key DIR/tls/server.key; clients trust DIR/tls/ca.pem\n"
        "(--tls-ca for roles, --ca for the CLI).\n";
    static const char *const words[] = {"init", NULL};
    static const struct cf__cli_args args = {.cmd = "admin tls",
                                             .usage = usage,
                                             .opts = tls_opts,
                                             .nopts = CF_ARRAY_LEN(tls_opts),
                                             .min = 1,
                                             .max = 1,
                                             .strict = true,
                                             .words = words};
    struct admin_conf c = {0};
    const char *hosts[CF_TLS_HOSTS_MAX + 1];
    char dir[4096], err[CF_ERR_LEN] = "", *pos[1], *list = NULL, *save = NULL;
    size_t n = 0;
    bool made = false;
    int rc;

    rc = cf__cli_load(&args, &c, argc, argv, pos, NULL);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (c.host != NULL) {
        list = cf_xstrdup(c.host);
        for (char *h = strtok_r(list, ",", &save); h != NULL; h = strtok_r(NULL, ",", &save)) {
            if (n == CF_TLS_HOSTS_MAX) {
                fprintf(stderr, "coffer admin tls: more than %d names in --host\n",
                        CF_TLS_HOSTS_MAX);
                goto out;
            }
            hosts[n++] = h;
        }
    }
    rc = 1;
    if (snprintf(dir, sizeof(dir), "%s/tls", c.data) >= (int)sizeof(dir)) {
        fprintf(stderr, "coffer admin tls: --data path too long\n");
        goto out;
    }
    if (mkdir(c.data, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "coffer admin tls: mkdir \"%s\": %s\n", c.data, strerror(errno));
        goto out;
    }
    if (cf_tls_make(dir, hosts, n, c.renew, &made, err) < 0) {
        fprintf(stderr, "coffer admin tls: %s\n", err);
        goto out;
    }
    printf("%s %s/%s %s/%s %s/%s\n", made ? "made" : "kept", dir, CF_TLS_CA_CERT, dir, CF_TLS_CERT,
           dir, CF_TLS_KEY);
    rc = 0;
out:
    free(list);
    cf_conf_fini(tls_opts, CF_ARRAY_LEN(tls_opts), &c);
    return rc;
}

/* ---- the dispatch ---- */

/* Whether w is one of words (NULL-terminated). */
static bool one_of(const char *w, const char *const *words)
{
    bool found = false;

    for (size_t i = 0; !found && words[i] != NULL; i++)
        found = strcmp(w, words[i]) == 0;
    return found;
}

/* A maintenance job's kind: its sub-command starts one. */
static bool is_job_kind(const char *w)
{
    for (size_t i = 0; i < CF_MAINT_NKINDS; i++)
        if (strcmp(w, cf_maint_kinds[i]->name) == 0)
            return true;
    return false;
}

int cf_cli_admin(int argc, char **argv)
{
    static const char *const jobs[] = {"jobs", "job", NULL};
    static const char *const monitor[] = {"filers", "log", "cluster", "history", NULL};
    static const char *const accounts[] = {"client",   "user",   "group", "perm",
                                           "fs-shard", "s3-key", NULL};
    const char *noun = argc >= 1 ? argv[0] : "";
    int rc;

    if (strcmp(noun, "purge") == 0)
        rc = admin_purge(argc - 1, argv + 1);
    else if (strcmp(noun, "tls") == 0)
        rc = admin_tls(argc - 1, argv + 1);
    else if (strcmp(noun, "keys") == 0)
        rc = admin_keys(argc - 1, argv + 1);
    else if (one_of(noun, jobs) || is_job_kind(noun))
        rc = cf__cli_jobs(argc, argv);
    else if (one_of(noun, monitor) ||
             (strcmp(noun, "filer") == 0 && argc >= 2 && strcmp(argv[1], "maintenance") == 0))
        rc = cf__cli_admin_monitor(argc, argv);
    else if (one_of(noun, accounts))
        rc = cf__cli_admin_accounts(argc, argv);
    else
        rc = admin_objdb(argc, argv);
    return rc;
}
