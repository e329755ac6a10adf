/*
 * objects.c -- `coffer put FILE`, `coffer get UUID` and `coffer stat UUID`:
 * objects by UUID, straight to the app (upload) and objsrv (download), each
 * checked against its SHA-512 (cli.h). A second argument that is a remote
 * path hands put and get over to their path forms (paths.c).
 */
#include "coffer/cli.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/buf.h"
#include "coffer/common.h"
#include "coffer/conf.h"
#include "coffer/err.h"
#include "coffer/cred.h"
#include "coffer/httpc.h"
#include "coffer/limits.h"
#include "coffer/sha512.h"
#include "coffer/upstream.h"
#include "coffer/uuid.h"
#include "cli_int.h"

struct objects_conf {
    char *app;
    char *objsrv;
    char *out;
    uint64_t replicas;
};

#define OFF(f) offsetof(struct objects_conf, f)
static const struct cf_conf_opt put_opts[] = {
    {"app", CF_CONF_STR, "http://127.0.0.1:8200", 0, 0, OFF(app), "URL of the app role", false},
    {"replicas", CF_CONF_U64, "0", 0, 16, OFF(replicas),
     "replicas, at least 2 (0: the server's default)", false},
};
static const struct cf_conf_opt get_opts[] = {
    {"objsrv", CF_CONF_STR, "http://127.0.0.1:8201", 0, 0, OFF(objsrv), "URL of the objsrv role",
     false},
    {"o", CF_CONF_STR, NULL, 0, 0, OFF(out), "write to this file instead of stdout", false},
};
static const struct cf_conf_opt stat_opts[] = {
    {"app", CF_CONF_STR, "http://127.0.0.1:8200", 0, 0, OFF(app), "URL of the app role", false},
};

/* ---- put ---- */

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
                                             .key_file = true,
                                             .min = 1,
                                             .max = 1};
    struct objects_conf c = {0};
    struct cf__cli_src src = {0};
    struct cf__cli_progress prog;
    struct curl_slist *hdrs = NULL;
    struct cf_buf body;
    char *pos[2], *file = NULL, url[CF__CLI_URL_MAX], hex[CF_SHA512_HEX_LEN + 1], err[CF_ERR_LEN];
    const char *uuid, *sha;
    uint8_t d[CF_SHA512_LEN];
    int64_t size = -1;
    json_t *j = NULL;
    CURL *h = NULL;
    CURLcode cc = CURLE_FAILED_INIT;
    struct cf_upstream *u = NULL;
    struct cf__cli_turn t;
    long status = 0;
    int rc, n, tries = 0;

    /* A second argument is a remote path: the gateway's `put FILE /path`. */
    if (cf__cli_positionals(&args, argc, argv, pos, 2) == 2)
        return cf__cli_path_put(argc, argv);
    cf_buf_init(&body, CF_HTTPC_BODY_MAX);
    rc = cf__cli_load(&args, &c, argc, argv, &file, NULL);
    if (rc >= 0)
        goto out;
    tries = cf__cli_attempts();
    rc = 2;
    if (c.replicas > 0 && c.replicas < CF_REPLICAS_MIN) {
        fprintf(stderr,
                "coffer put: --replicas must be at least %d: every object is stored on"
                " at least %d filers\n",
                CF_REPLICAS_MIN, CF_REPLICAS_MIN);
        goto out;
    }
    if (cf_upstream_parse(c.app, &u, err) < 0) {
        fprintf(stderr, "coffer put: --app: %s\n", err);
        goto out;
    }
    rc = 1;
    if (cf__cli_operator("put") != 0 || cf__cli_src_open(&src, "put", file, &size) != 0 ||
        cf__cli_tls("put", NULL) != 0 || cf_httpc_global_init() < 0)
        goto out;
    cf__cli_turn_init(&t, cf_upstream_count(u));
    /* The app makes a new object of every upload it completes: an upload
     * goes again, to the next app, only when it cannot have completed (no
     * connection, or broken before its whole body was sent). */
    for (int a = 0; a < tries; a++) {
        const char *base = cf_upstream_url(u, cf__cli_turn_next(&t));
        curl_off_t sent = 0;
        bool again;

        if (a > 0) {
            cf_sha512_fini(&src.sha);
            if ((size >= 0 && fseeko(src.f, 0, SEEK_SET) != 0) || cf_sha512_init(&src.sha) < 0) {
                fprintf(stderr, "coffer put: cannot read \"%s\" again\n", file);
                goto out;
            }
        }
        curl_slist_free_all(hdrs);
        hdrs = NULL;
        curl_easy_cleanup(h);
        cf_buf_fini(&body);
        cf_buf_init(&body, CF_HTTPC_BODY_MAX);
        h = curl_easy_init();
        if (h == NULL)
            goto out;
        cf_httpc_tls(h);
        if (c.replicas > 0)
            n = snprintf(url, sizeof(url), "%s/v1/objects?replicas=%" PRIu64, base, c.replicas);
        else
            n = snprintf(url, sizeof(url), "%s/v1/objects", base);
        if (n < 0 || (size_t)n >= sizeof(url)) {
            fprintf(stderr, "coffer put: --app URL too long\n");
            goto out;
        }
        (void)curl_easy_setopt(h, CURLOPT_URL, url);
        (void)curl_easy_setopt(h, CURLOPT_POST, 1L);
        (void)curl_easy_setopt(h, CURLOPT_READFUNCTION, cf__cli_src_read);
        (void)curl_easy_setopt(h, CURLOPT_READDATA, &src);
        (void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cf__cli_to_buf);
        (void)curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
        hdrs = curl_slist_append(NULL, "Content-Type: application/octet-stream");
        if (size >= 0)
            (void)curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
        else
            hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
        if (cf_httpc_sign(h, "POST", url, (void **)&hdrs) < 0) {
            fprintf(stderr, "coffer put: cannot sign the request to %s\n", url);
            goto out;
        }
        cf__cli_progress_setup(h, &prog, "put", size > 0 ? (uint64_t)size : 0);
        cc = curl_easy_perform(h);
        status = 0;
        (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK && status == 0)
            cf__cli_turn_down(&t);
        (void)curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &sent);
        again = cc != CURLE_OK && src.err == 0 && !cf_httpc_cert_error((int)cc) &&
                (cf_httpc_unsent((int)cc) ||
                 (status == 0 && size >= 0 && cc != CURLE_ABORTED_BY_CALLBACK &&
                  sent < (curl_off_t)size));
        if (!again || a + 1 == tries)
            break;
        fprintf(stderr, "coffer put: %s: %s; trying again\n", url, curl_easy_strerror(cc));
    }
    if (cc != CURLE_OK && cf_httpc_cert_error((int)cc)) {
        cf_httpc_failure((int)cc, err, url);
        fprintf(stderr, "coffer put: %s\n", err);
        goto out;
    }
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
    if (cf_sha512_final(&src.sha, d) < 0)
        goto out;
    cf_sha512_hex(d, hex);
    uuid = json_string_value(json_object_get(j, "uuid"));
    sha = json_string_value(json_object_get(j, "sha512"));
    if (uuid == NULL || sha == NULL || strcmp(hex, sha) != 0) {
        fprintf(stderr, "coffer put: the server recorded a different SHA-512 than was sent\n");
        goto out;
    }
    printf("%s\n", uuid);
    rc = 0;
out:
    json_decref(j);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    cf__cli_src_close(&src);
    cf_buf_fini(&body);
    cf_upstream_free(u);
    cf_conf_fini(put_opts, CF_ARRAY_LEN(put_opts), &c);
    return rc;
}

/* ---- get ---- */

/* Where get's reply goes: an object's bytes to f, hashed; the body of an
 * error reply to err. */
struct get_dst {
    FILE *f;
    CURL *h;
    struct cf_sha512 h512;
    struct cf_buf err;
    uint64_t got;               /* bytes written to f */
    uint64_t from;              /* this attempt asks for the bytes from here */
    bool have_sha;              /* sha holds the X-Coffer-SHA512 of the first reply */
    uint8_t sha[CF_SHA512_LEN]; /* what every resumed reply must name too */
    bool checked;               /* this attempt's reply was compared with sha */
    bool changed;               /* a resumed reply named another object's bytes */
};

static size_t get_write(char *p, size_t size, size_t nitems, void *ud)
{
    struct get_dst *d = ud;
    size_t n = size * nitems;
    long status = 0;
    uint8_t sha[CF_SHA512_LEN];

    (void)curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &status);
    if (status == (d->from > 0 ? 206 : 200) && !d->checked) {
        d->checked = true;
        if (cf_httpc_reply_sha512(d->h, sha) != 0) {
            d->changed = d->from > 0;
        } else if (!d->have_sha) {
            memcpy(d->sha, sha, sizeof(sha));
            d->have_sha = true;
        } else if (memcmp(sha, d->sha, sizeof(sha)) != 0) {
            d->changed = true;
        }
    }
    if (d->changed)
        n = 0;
    else if (status != (d->from > 0 ? 206 : 200))
        n = cf__cli_to_buf(p, size, nitems, &d->err);
    else if (cf_sha512_update(&d->h512, p, n) < 0 || fwrite(p, 1, n, d->f) != n)
        n = 0;
    else
        d->got += n;
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
                                             .key_file = true,
                                             .min = 1,
                                             .max = 1};
    struct objects_conf c = {0};
    struct curl_slist *hdrs = NULL;
    struct get_dst d = {0};
    struct cf__cli_progress prog;
    struct cf__cli_out o = {0};
    char *pos[1], *uuid = NULL, url[CF__CLI_URL_MAX], err[CF_ERR_LEN], range[64];
    uint8_t dg[CF_SHA512_LEN];
    struct cf_upstream *u = NULL;
    struct cf__cli_turn t;
    CURLcode cc = CURLE_FAILED_INIT;
    long status = 0;
    int rc, n, tries = 0;

    /* A path, not a UUID: the gateway's `get /path`. */
    if (cf__cli_positionals(&args, argc, argv, pos, 1) == 1 && pos[0][0] == '/')
        return cf__cli_path_get(argc, argv);
    cf_buf_init(&d.err, CF_HTTPC_BODY_MAX);
    rc = cf__cli_load(&args, &c, argc, argv, &uuid, NULL);
    if (rc >= 0)
        goto out;
    tries = cf__cli_attempts();
    rc = 1;
    if (!cf_uuid_is_valid(uuid, strlen(uuid))) {
        fprintf(stderr, "coffer get: \"%s\" is not a UUID\n", uuid);
        rc = 2;
        goto out;
    }
    if (cf__cli_operator("get") != 0 || cf__cli_out_open(&o, "get", c.out) != 0)
        goto out;
    d.f = o.f;
    if (cf_sha512_init(&d.h512) < 0 || cf__cli_tls("get", NULL) != 0 || cf_httpc_global_init() < 0)
        goto out;
    if (cf_upstream_parse(c.objsrv, &u, err) < 0) {
        fprintf(stderr, "coffer get: --objsrv: %s\n", err);
        goto out;
    }
    cf__cli_turn_init(&t, cf_upstream_count(u));
    /* A download that breaks goes on from the byte it reached, on the next
     * objsrv; a reply 502/503/504 is asked again there. */
    for (int a = 0; a < tries; a++) {
        const char *base = cf_upstream_url(u, cf__cli_turn_next(&t));
        bool again;

        if (a > 0) {
            d.from = d.got;
            d.checked = false;
            cf_buf_fini(&d.err);
            cf_buf_init(&d.err, CF_HTTPC_BODY_MAX);
        }
        curl_slist_free_all(hdrs);
        hdrs = NULL;
        curl_easy_cleanup(d.h);
        d.h = curl_easy_init();
        if (d.h == NULL)
            goto out;
        cf_httpc_tls(d.h);
        n = snprintf(url, sizeof(url), "%s/v1/objects/%s", base, uuid);
        if (n < 0 || (size_t)n >= sizeof(url)) {
            fprintf(stderr, "coffer get: --objsrv URL too long\n");
            goto out;
        }
        (void)curl_easy_setopt(d.h, CURLOPT_URL, url);
        (void)curl_easy_setopt(d.h, CURLOPT_WRITEFUNCTION, get_write);
        (void)curl_easy_setopt(d.h, CURLOPT_WRITEDATA, &d);
        if (d.from > 0) {
            (void)snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-", d.from);
            hdrs = curl_slist_append(hdrs, range);
        }
        if (cf_httpc_sign(d.h, "GET", url, (void **)&hdrs) < 0) {
            fprintf(stderr, "coffer get: cannot sign the request to %s\n", url);
            goto out;
        }
        prog.on = false;
        if (c.out != NULL)
            cf__cli_progress_setup(d.h, &prog, "get", CF__CLI_PROGRESS_MIN);
        cc = curl_easy_perform(d.h);
        status = 0;
        (void)curl_easy_getinfo(d.h, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK && status == 0)
            cf__cli_turn_down(&t);
        again = !d.changed && !cf_httpc_cert_error((int)cc) && cc != CURLE_WRITE_ERROR &&
                ((cc != CURLE_OK && status / 100 != 4) || cf_upstream_retry_status(status));
        if (!again || a + 1 == tries)
            break;
        if (cc != CURLE_OK)
            fprintf(stderr, "coffer get: %s: %s; trying again\n", url, curl_easy_strerror(cc));
        else
            fprintf(stderr, "coffer get: %s answered HTTP %ld; trying again\n", url, status);
    }
    if (d.changed) {
        fprintf(stderr, "coffer get: the object's bytes changed between attempts\n");
        goto out;
    }
    if (status != (d.from > 0 ? 206 : 200) && status != 0) {
        cf__cli_print_error("get", status, &d.err);
        goto out;
    }
    if (cc != CURLE_OK && cf_httpc_cert_error((int)cc)) {
        cf_httpc_failure((int)cc, err, url);
        fprintf(stderr, "coffer get: %s\n", err);
        goto out;
    }
    if (cc != CURLE_OK) {
        fprintf(stderr, "coffer get: %s: %s (the download was not completed)\n", url,
                curl_easy_strerror(cc));
        goto out;
    }
    if (cf_sha512_final(&d.h512, dg) < 0)
        goto out;
    /* An empty object gives no byte to get_write: its header is read here. */
    if (!d.have_sha && d.from == 0 && cf_httpc_reply_sha512(d.h, d.sha) == 0)
        d.have_sha = true;
    if (!d.have_sha || memcmp(dg, d.sha, CF_SHA512_LEN) != 0) {
        fprintf(stderr, "coffer get: the bytes received do not match the object's SHA-512\n");
        goto out;
    }
    if (cf__cli_out_commit(&o, "get") != 0)
        goto out;
    rc = 0;
out:
    cf__cli_out_abort(&o);
    curl_easy_cleanup(d.h);
    curl_slist_free_all(hdrs);
    cf_sha512_fini(&d.h512);
    cf_buf_fini(&d.err);
    cf_upstream_free(u);
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
                                             .key_file = true,
                                             .min = 1,
                                             .max = 1};
    struct objects_conf c = {0};
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
