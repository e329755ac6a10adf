/*
 * accounts.c -- `coffer admin client|user|group|perm|fs-shard|s3-key`:
 * clients (and their version expiry policy), users, groups, folder permissions, shards and S3
 * access keys, written straight into the file system database (--fs-db URI, COFFER_FS_DB, default
 * sqlite:./data/fs-catalog.db), as an operator does before anyone can log in.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coffer/auth.h"
#include "coffer/common.h"
#include "coffer/conf.h"
#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/fsdb.h"
#include "coffer/log.h"
#include "coffer/sigv4.h"
#include "cli_int.h"

struct accounts_conf {
    char *fs_db;
    char *client;
    uint64_t replicas;
    char *shard_location;
    bool admin;
    char *password;
    char *password_file;
    bool password_prompt;
    char *path;
    char *user;
    char *group;
    char *level;
    char *keep_versions; /* NULL: not given */
    char *keep_days;
    char *compress; /* NULL: not given */
    char *encrypt;
};

#define OFF(f) offsetof(struct accounts_conf, f)
static const struct cf_conf_opt accounts_opts[] = {
    {"fs-db", CF_CONF_STR, "sqlite:./data/fs-catalog.db", 0, 0, OFF(fs_db),
     "file system database catalog URI", false},
    {"client", CF_CONF_STR, NULL, 0, 0, OFF(client), "client name", false},
    {"replicas", CF_CONF_U64, "0", 0, CF_FSDB_REPLICAS_MAX, OFF(replicas),
     "client add: copies of each object (0: the default)", false},
    {"shard-location", CF_CONF_STR, NULL, 0, 0, OFF(shard_location),
     "client add: database URI of the first shard, if there is none yet; fs-shard add: of the "
     "new shard (default: a SQLite file beside a SQLite catalog; required with any other)",
     false},
    {"admin", CF_CONF_BOOL, "false", 0, 0, OFF(admin), "user add: read-write everywhere", false},
    {"password", CF_CONF_STR, NULL, 0, 0, OFF(password),
     "user add: password, at least 12 bytes (default: a generated one, printed)", false},
    {"password-file", CF_CONF_STR, NULL, 0, 0, OFF(password_file),
     "user add: read the password from the first line of this file", false},
    {"password-prompt", CF_CONF_BOOL, "false", 0, 0, OFF(password_prompt),
     "user add: ask for the password on the terminal (twice, not echoed)", false},
    {"path", CF_CONF_STR, NULL, 0, 0, OFF(path), "perm set: the folder", false},
    {"user", CF_CONF_STR, NULL, 0, 0, OFF(user), "perm set, s3-key add and list: the user", false},
    {"group", CF_CONF_STR, NULL, 0, 0, OFF(group), "perm set: the group name", false},
    {"level", CF_CONF_STR, NULL, 0, 0, OFF(level), "perm set: none, read or read-write", false},
    {"keep-versions", CF_CONF_STR, NULL, 0, 0, OFF(keep_versions),
     "client set: keep the newest N versions of each file (0: all; default: unchanged)", false},
    {"keep-days", CF_CONF_STR, NULL, 0, 0, OFF(keep_days),
     "client set: keep a replaced version D days (0: forever; default: unchanged)", false},
    {"compress", CF_CONF_STR, NULL, 0, 0, OFF(compress),
     "client set: yes or no, store later uploads compressed (zstd; default: unchanged)", false},
    {"encrypt", CF_CONF_STR, NULL, 0, 0, OFF(encrypt),
     "client set: yes or no, store later uploads encrypted (AES-256-GCM; the apps need "
     "--master-key-file; default: unchanged)",
     false},
};

/* The user's id in client, or "no user" in err. */
static int find_user(struct cf_fsdb *fs, uint64_t client, const char *name, uint64_t *id, char *err)
{
    struct cf_fsdb_user u;
    int rc = cf_fsdb_user_get(fs, client, name, &u, err);

    if (rc == CF_ENOTFOUND)
        cf_err_set(err, "no user \"%.64s\"", name);
    if (rc == 0)
        *id = u.id;
    explicit_bzero(u.pw_hash, sizeof(u.pw_hash));
    return rc;
}

/* The id of the client that --client names, or why not in err. */
static int find_client(struct cf_fsdb *fs, const struct accounts_conf *c, uint64_t *id, char *err)
{
    struct cf_fsdb_client cl;
    int rc = CF_EINVAL;

    if (c->client == NULL)
        cf_err_set(err, "give --client NAME");
    else
        rc = cf_fsdb_client_find(fs, c->client, &cl, err);
    if (rc == CF_ENOTFOUND)
        cf_err_set(err, "no client \"%.64s\"", c->client);
    if (rc == 0)
        *id = cl.id;
    return rc;
}

/* ---- the commands: pos holds the positional arguments, from WHAT VERB ---- */

/* `client add NAME`. */
static int client_add(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err)
{
    struct cf_fsdb_client cl;
    struct cf_fsdb_shard *shards = NULL;
    size_t nshards = 0;
    /* A new file system database gets its first shard: at --shard-location,
     * else beside a SQLite catalog (cf_fsdb_shard_add refuses any other). */
    int rc = cf_fsdb_shard_list(fs, &shards, &nshards, err);

    free(shards);
    if (rc == 0 && nshards == 0)
        rc = cf_fsdb_shard_add(fs, c->shard_location, NULL, err);
    if (rc == 0)
        rc = cf_fsdb_client_add(fs, pos[2], NULL, (unsigned)c->replicas, &cl, err);
    if (rc == 0)
        printf("client %s (id %" PRIu64 ", shard %" PRIu32 ", %u replicas) added\n", cl.name, cl.id,
               cl.shard, cl.replicas);
    return rc;
}

/* The decimal number text (may be NULL: keep *out) of option opt into
 * *out, at most max. */
static int parse_keep(const char *text, const char *opt, unsigned max, unsigned *out, char *err)
{
    char *end = NULL;
    unsigned long long v;

    if (text == NULL)
        return 0;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v > max) {
        cf_err_set(err, "--%s wants a number from 0 to %u, not \"%.32s\"", opt, max, text);
        return CF_EINVAL;
    }
    *out = (unsigned)v;
    return 0;
}

/* The yes/no text (may be NULL: keep *out) of option opt into *out. */
static int parse_yes(const char *text, const char *opt, bool *out, char *err)
{
    if (text == NULL)
        return 0;
    if (strcmp(text, "yes") == 0 || strcmp(text, "no") == 0) {
        *out = text[0] == 'y';
        return 0;
    }
    cf_err_set(err, "--%s wants yes or no, not \"%.32s\"", opt, text);
    return CF_EINVAL;
}

/* `client set --client C [--keep-versions N] [--keep-days D] [--compress
 * yes|no] [--encrypt yes|no]`: the client's version expiry policy (fsdb.h
 * "Version expiry") and storage policy; an option not given stays as it
 * was. */
static int client_set(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err)
{
    struct cf_fsdb_client cl;
    uint64_t id = 0;
    unsigned kv, kd;
    bool z, e;
    int rc;

    (void)pos;
    if (c->keep_versions == NULL && c->keep_days == NULL && c->compress == NULL &&
        c->encrypt == NULL) {
        cf_err_set(err, "give --keep-versions N, --keep-days D, --compress yes|no and/or "
                        "--encrypt yes|no");
        return CF_EINVAL;
    }
    rc = find_client(fs, c, &id, err);
    if (rc == 0)
        rc = cf_fsdb_client_get(fs, id, &cl, err);
    if (rc < 0)
        return rc;
    kv = cl.keep_versions;
    kd = cl.keep_days;
    rc = parse_keep(c->keep_versions, "keep-versions", CF_FSDB_KEEP_VERSIONS_MAX, &kv, err);
    if (rc == 0)
        rc = parse_keep(c->keep_days, "keep-days", CF_FSDB_KEEP_DAYS_MAX, &kd, err);
    z = cl.compress;
    e = cl.encrypt;
    if (rc == 0)
        rc = parse_yes(c->compress, "compress", &z, err);
    if (rc == 0)
        rc = parse_yes(c->encrypt, "encrypt", &e, err);
    if (rc == 0 && (c->keep_versions != NULL || c->keep_days != NULL))
        rc = cf_fsdb_client_set_keep(fs, id, kv, kd, err);
    if (rc == 0 && (c->compress != NULL || c->encrypt != NULL))
        rc = cf_fsdb_client_set_xform(fs, id, z, e, err);
    if (rc == 0)
        printf("client %s: keep versions %u (0: all), keep days %u (0: forever), compress %s, "
               "encrypt %s\n",
               cl.name, kv, kd, z ? "yes" : "no", e ? "yes" : "no");
    return rc;
}

/* `client list`: every client with its shard, replicas and version policy. */
static int client_list(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err)
{
    struct cf_fsdb_client *v = NULL;
    size_t n = 0;
    int rc = cf_fsdb_client_list(fs, &v, &n, err);

    (void)c;
    (void)pos;
    if (rc == 0)
        printf("%-8s %-24s %-6s %-9s %-14s %-10s %s\n", "id", "name", "shard", "replicas",
               "keep-versions", "keep-days", "store");
    for (size_t i = 0; rc == 0 && i < n; i++)
        printf("%-8" PRIu64 " %-24s %-6" PRIu32 " %-9u %-14u %-10u %s\n", v[i].id, v[i].name,
               v[i].shard, v[i].replicas, v[i].keep_versions, v[i].keep_days,
               v[i].compress && v[i].encrypt ? "compressed,encrypted"
               : v[i].compress               ? "compressed"
               : v[i].encrypt                ? "encrypted"
                                             : "plain");
    free(v);
    return rc;
}

/* `fs-shard add [--shard-location URI]`: a shard for new clients (each new
 * client goes to the shard with the fewest clients), e.g. on another
 * database server. */
static int fs_shard_add(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err)
{
    uint32_t id = 0;
    int rc = cf_fsdb_shard_add(fs, c->shard_location, &id, err);

    (void)pos;
    if (rc == 0)
        printf("fs shard %" PRIu32 " added\n", id);
    return rc;
}

/* `fs-shard list`. */
static int fs_shard_list(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err)
{
    struct cf_fsdb_shard *sl = NULL;
    size_t n = 0;
    int rc = cf_fsdb_shard_list(fs, &sl, &n, err);

    (void)c;
    (void)pos;
    if (rc == 0)
        printf("%-6s %-40s %s\n", "id", "location", "read-only");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *shown = cf_db_uri_redact(sl[i].location);
        printf("%-6" PRIu32 " %-40s %s\n", sl[i].id, shown, sl[i].read_only ? "yes" : "no");
        free(shown);
    }
    free(sl);
    return rc;
}

/* `user add NAME --client C [--admin] [--password P | --password-file F |
 * --password-prompt]`. */
static int user_add(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err)
{
    char pw[128 / 4 + 1] = "", hash[CF_AUTH_PWHASH_SIZE] = "", given[CF_AUTH_PASSWORD_MAX + 2];
    const char *use = NULL;
    uint64_t client = 0, id = 0;
    int rc;

    if (cf__cli_password("admin user add", c->password, c->password_file, c->password_prompt, true,
                         given, sizeof(given)) != 0) {
        cf_err_set(err, "no password");
        rc = CF_EINVAL;
        goto out;
    }
    if (given[0] != '\0') {
        use = given;
        if (strlen(use) < CF_AUTH_PASSWORD_MIN) {
            cf_err_set(err, "the password is %zu bytes; a new user's needs at least %d",
                       strlen(use), CF_AUTH_PASSWORD_MIN);
            rc = CF_EINVAL;
            goto out;
        }
    }
    rc = find_client(fs, c, &client, err);
    if (rc < 0)
        goto out;
    if (use == NULL) {
        /* 128 random bits as 32 hex digits, shown once. */
        rc = cf_auth_password_generate(128, pw);
        use = pw;
    }
    if (rc == 0)
        rc = cf_auth_password_hash(use, strlen(use), CF_AUTH_PBKDF2_ITER_DEFAULT, hash);
    if (rc == 0)
        rc = cf_fsdb_user_add(fs, client, pos[2], hash, c->admin, &id, err);
    if (rc < 0)
        goto out;
    printf("user %s (id %" PRIu64 "%s) added to client %s\n", pos[2], id, c->admin ? ", admin" : "",
           c->client);
    if (pw[0] != '\0')
        printf("password: %s\n", pw);
out:
    explicit_bzero(pw, sizeof(pw));
    explicit_bzero(given, sizeof(given));
    return rc;
}

/* `group add NAME --client C`. */
static int group_add(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err)
{
    uint64_t client = 0, id = 0;
    int rc = find_client(fs, c, &client, err);

    if (rc == 0)
        rc = cf_fsdb_group_add(fs, client, pos[2], &id, err);
    if (rc == 0)
        printf("group %s (id %" PRIu64 ") added to client %s\n", pos[2], id, c->client);
    return rc;
}

/* `group member GROUP USER --client C`. */
static int group_member(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err)
{
    uint64_t client = 0, group = 0, user = 0;
    int rc = find_client(fs, c, &client, err);

    if (rc == 0)
        rc = cf_fsdb_group_find(fs, client, pos[2], &group, err);
    if (rc == 0)
        rc = find_user(fs, client, pos[3], &user, err);
    if (rc == 0)
        rc = cf_fsdb_group_member_add(fs, client, group, user, err);
    if (rc == 0)
        printf("user %s is in group %s\n", pos[3], pos[2]);
    return rc;
}

/* `group rm NAME --client C`: to the groups trash (fsdb.h). */
static int group_rm(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err)
{
    uint64_t client = 0, group = 0;
    int rc = find_client(fs, c, &client, err);

    if (rc == 0)
        rc = cf_fsdb_group_find(fs, client, pos[2], &group, err);
    if (rc == CF_ENOTFOUND)
        cf_err_set(err, "no group \"%.64s\"", pos[2]);
    if (rc == 0)
        rc = cf_fsdb_group_delete(fs, client, group, 0, err);
    if (rc == 0)
        printf("group %s (id %" PRIu64 ") is in the groups trash of client %s\n", pos[2], group,
               c->client);
    return rc;
}

/* `group trash --client C`: the deleted groups. */
static int group_trash(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err)
{
    struct cf_fsdb_group_trash *t = NULL;
    uint64_t client = 0;
    size_t n = 0;
    int rc = find_client(fs, c, &client, err);

    (void)pos;
    if (rc == 0)
        rc = cf_fsdb_group_trash_list(fs, client, &t, &n, err);
    if (rc == 0)
        printf("%-10s %-24s %-20s %s\n", "id", "name", "deleted (UTC)", "by user");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char when[32] = "?";
        time_t sec = (time_t)(t[i].deleted_ms / 1000);
        struct tm tm;
        if (gmtime_r(&sec, &tm) != NULL)
            (void)strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        printf("%-10" PRIu64 " %-24s %-20s %" PRIu64 "\n", t[i].id, t[i].name, when, t[i].by_user);
    }
    free(t);
    return rc;
}

/* The id of the group called name in client's groups trash. */
static int trashed_group(struct cf_fsdb *fs, uint64_t client, const char *name, uint64_t *id,
                         char *err)
{
    struct cf_fsdb_group_trash *t = NULL;
    size_t n = 0;
    int rc = cf_fsdb_group_trash_list(fs, client, &t, &n, err);

    for (size_t i = 0; rc == 0 && i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            *id = t[i].id;
    free(t);
    if (rc == 0 && *id == 0) {
        cf_err_set(err, "no group \"%.64s\" in the groups trash", name);
        rc = CF_ENOTFOUND;
    }
    return rc;
}

/* `group restore NAME --client C` and `group purge NAME --client C`. */
static int group_restore(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err)
{
    uint64_t client = 0, group = 0;
    bool purge = strcmp(pos[1], "purge") == 0;
    int rc = find_client(fs, c, &client, err);

    if (rc == 0)
        rc = trashed_group(fs, client, pos[2], &group, err);
    if (rc == 0)
        rc = purge ? cf_fsdb_group_purge(fs, client, group, err)
                   : cf_fsdb_group_restore(fs, client, group, err);
    if (rc == 0)
        printf("group %s (id %" PRIu64 ") %s\n", pos[2], group,
               purge ? "purged with its members and permissions"
                     : "restored with its members and permissions");
    return rc;
}

/* `perm set --client C --path /FOLDER (--user U | --group G) --level L`. */
static int perm_set(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err)
{
    enum cf_fsdb_level level = CF_FSDB_NONE;
    enum cf_fsdb_principal kind = CF_FSDB_USER;
    uint64_t client = 0, folder = 0, who = 0;
    int rc = CF_EINVAL;

    (void)pos;
    if (c->path == NULL || c->level == NULL || (c->user == NULL) == (c->group == NULL)) {
        cf_err_set(err, "give --path /FOLDER, --user U or --group NAME, and --level");
        goto out;
    }
    if (strcmp(c->level, "none") == 0) {
        level = CF_FSDB_NONE;
    } else if (strcmp(c->level, "read") == 0) {
        level = CF_FSDB_READ;
    } else if (strcmp(c->level, "read-write") == 0) {
        level = CF_FSDB_READ_WRITE;
    } else {
        cf_err_set(err, "--level is none, read or read-write, not \"%.32s\"", c->level);
        goto out;
    }
    rc = find_client(fs, c, &client, err);
    if (rc == 0)
        rc = cf_fsdb_resolve(fs, client, c->path, &folder, err);
    if (rc == CF_ENOTFOUND)
        cf_err_set(err, "no folder \"%.200s\"", c->path);
    if (rc == 0 && c->user != NULL)
        rc = find_user(fs, client, c->user, &who, err);
    if (rc == 0 && c->group != NULL) {
        kind = CF_FSDB_GROUP;
        rc = cf_fsdb_group_find(fs, client, c->group, &who, err);
    }
    if (rc == 0)
        rc = cf_fsdb_perm_set(fs, client, folder, kind, who, level, err);
    if (rc == 0)
        printf("%s on %s: %s %s\n", c->level, c->path, kind == CF_FSDB_USER ? "user" : "group",
               kind == CF_FSDB_USER ? c->user : c->group);
out:
    return rc;
}

/* `s3-key add --client C --user U`: a new S3 access key, its secret shown once. */
static int s3key_add(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err)
{
    struct cf_fsdb_s3key k;
    int rc;

    (void)pos;
    memset(&k, 0, sizeof(k));
    if (c->user == NULL) {
        cf_err_set(err, "give --user U");
        return CF_EINVAL;
    }
    rc = find_client(fs, c, &k.client, err);
    if (rc == 0)
        rc = find_user(fs, k.client, c->user, &k.user, err);
    if (rc == 0)
        rc = cf_sigv4_key_new(k.id, k.secret);
    if (rc == 0)
        rc = cf_fsdb_s3key_add(fs, &k, err);
    if (rc == 0)
        printf("access key id: %s\nsecret key:    %s\n", k.id, k.secret);
    explicit_bzero(&k, sizeof(k));
    return rc;
}

/* `s3-key list --client C [--user U]`: ids only, never secrets. */
static int s3key_list(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err)
{
    struct cf_fsdb_s3key *v = NULL;
    struct cf_fsdb_user *users = NULL;
    uint64_t client = 0, user = 0;
    size_t n = 0, nu = 0;
    int rc;

    (void)pos;
    rc = find_client(fs, c, &client, err);
    if (rc == 0 && c->user != NULL)
        rc = find_user(fs, client, c->user, &user, err);
    if (rc == 0)
        rc = cf_fsdb_s3key_list(fs, client, user, &v, &n, err);
    if (rc == 0)
        rc = cf_fsdb_user_list(fs, client, &users, &nu, err);
    if (rc < 0)
        goto out;
    printf("%-22s %-24s %s\n", "ACCESS KEY ID", "USER", "CREATED (ms)");
    for (size_t i = 0; i < n; i++) {
        const char *name = "?";
        for (size_t j = 0; j < nu; j++)
            if (users[j].id == v[i].user)
                name = users[j].name;
        printf("%-22s %-24s %" PRIu64 "\n", v[i].id, name, v[i].created_ms);
    }
out:
    if (v != NULL)
        explicit_bzero(v, n * sizeof(*v));
    free(v);
    free(users);
    return rc;
}

/* `s3-key revoke --client C ID`. */
static int s3key_revoke(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err)
{
    uint64_t client = 0;
    int rc = find_client(fs, c, &client, err);

    if (rc == 0)
        rc = cf_fsdb_s3key_remove(fs, client, 0, pos[2], err);
    if (rc == 0)
        printf("access key %s revoked\n", pos[2]);
    return rc;
}

/* Each command: `admin WHAT VERB`, with nargs positional arguments in all. */
struct account_cmd {
    const char *what;
    const char *verb;
    int nargs;
    int (*run)(struct cf_fsdb *fs, const struct accounts_conf *c, char **pos, char *err);
};

static const struct account_cmd account_cmds[] = {
    {"client", "add", 3, client_add},       {"client", "set", 2, client_set},
    {"client", "list", 2, client_list},     {"user", "add", 3, user_add},
    {"group", "add", 3, group_add},         {"group", "member", 4, group_member},
    {"group", "rm", 3, group_rm},           {"group", "trash", 2, group_trash},
    {"group", "restore", 3, group_restore}, {"group", "purge", 3, group_restore},
    {"perm", "set", 2, perm_set},           {"fs-shard", "add", 2, fs_shard_add},
    {"fs-shard", "list", 2, fs_shard_list}, {"s3-key", "add", 2, s3key_add},
    {"s3-key", "list", 2, s3key_list},      {"s3-key", "revoke", 3, s3key_revoke},
};

int cf__cli_admin_accounts(int argc, char **argv)
{
    static const char usage[] =
        "usage: coffer admin client add NAME [--replicas R] [--shard-location URI]\n"
        "       coffer admin client set --client C [--keep-versions N] [--keep-days D]\n"
        "                [--compress yes|no] [--encrypt yes|no]\n"
        "       coffer admin client list\n"
        "       coffer admin user add --client C NAME [--admin]\n"
        "                [--password P | --password-file FILE | --password-prompt]\n"
        "       coffer admin group add --client C NAME\n"
        "       coffer admin group member --client C GROUP USER\n"
        "       coffer admin group rm --client C NAME   (to the groups trash)\n"
        "       coffer admin group trash --client C\n"
        "       coffer admin group restore|purge --client C NAME\n"
        "       coffer admin perm set --client C --path /FOLDER (--user U | --group NAME)\n"
        "                             --level none|read|read-write\n"
        "       coffer admin fs-shard add [--shard-location URI] | fs-shard list\n"
        "       coffer admin s3-key add --client C --user U\n"
        "       coffer admin s3-key list --client C [--user U]\n"
        "       coffer admin s3-key revoke --client C ACCESS_KEY_ID\n"
        "They work on the file system database: --fs-db URI (COFFER_FS_DB, default\n"
        "sqlite:./data/fs-catalog.db).\n";
    static const struct cf__cli_args args = {.cmd = "admin",
                                             .usage = usage,
                                             .opts = accounts_opts,
                                             .nopts = CF_ARRAY_LEN(accounts_opts),
                                             .min = 2,
                                             .max = 4,
                                             .strict = true};
    const struct account_cmd *cmd = NULL;
    struct accounts_conf c = {0};
    struct cf_fsdb *fs = NULL;
    char *pos[4] = {NULL, NULL, NULL, NULL}, err[CF_ERR_LEN] = "";
    int rc, np = 0;

    rc = cf__cli_load(&args, &c, argc, argv, pos, &np);
    if (rc >= 0)
        goto out;
    for (size_t i = 0; cmd == NULL && i < CF_ARRAY_LEN(account_cmds); i++)
        if (strcmp(pos[0], account_cmds[i].what) == 0 &&
            strcmp(pos[1], account_cmds[i].verb) == 0 && np == account_cmds[i].nargs)
            cmd = &account_cmds[i];
    rc = 2;
    if (cmd == NULL) {
        fprintf(stderr, "%s", usage);
        goto out;
    }
    /* A one-shot command: the database's start-up notes are noise here. */
    cf_log_init("coffer", CF_LOG_WARN);
    rc = cf_fsdb_open(c.fs_db, 1, &fs, err);
    if (rc == 0)
        rc = cmd->run(fs, &c, pos, err);
    if (rc < 0) {
        fprintf(stderr, "coffer admin %s %s: %s%s%s\n", pos[0], pos[1], cf_strerror(rc),
                err[0] ? ": " : "", err);
        rc = rc == CF_EINVAL ? 2 : 1;
    }
out:
    cf_fsdb_close(fs);
    cf_conf_fini(accounts_opts, CF_ARRAY_LEN(accounts_opts), &c);
    return rc;
}
