/*
 * session.c -- the login session with the gateway (cli_int.h): the token
 * file that `coffer login` writes and the path commands read, the URLs of
 * the gateway's API, and one request with the token, its body streamed in
 * or out.
 *
 * Paths go into URLs percent-encoded byte by byte (names may hold spaces and
 * UTF-8); every reply that is not 2xx is reported with the server's JSON
 * message.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coffer/buf.h"
#include "coffer/common.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/io.h"
#include "coffer/sha512.h"
#include "cli_int.h"

/* Listings are JSON in memory: CF_FSDB_LIST_MAX entries of a few hundred bytes. */
#define JSON_MAX (64u << 20)

/* ---- the token file ---- */

int cf__cli_token_path(const char *token_file, char out[CF__CLI_PATH_MAX])
{
    const char *home = getenv("HOME");
    int n = 0, rc = 0;

    if (token_file != NULL)
        n = snprintf(out, CF__CLI_PATH_MAX, "%s", token_file);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(out, CF__CLI_PATH_MAX, "%s/.config/coffer/token", home);
    else
        rc = CF_EINVAL;
    if (rc == 0 && (n < 0 || n >= CF__CLI_PATH_MAX))
        rc = CF_ETOOLARGE;
    return rc;
}

/* Make the directories above path (mode 0700) that are missing. */
static int make_parents(const char *cmd, const char *path)
{
    char dir[CF__CLI_PATH_MAX];
    int n = snprintf(dir, sizeof(dir), "%s", path), rc = 0;

    if (n < 0 || n >= (int)sizeof(dir))
        rc = CF_ETOOLARGE;
    for (char *s = dir + 1; rc == 0 && *s != '\0'; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            int err = errno;
            fprintf(stderr, "coffer %s: mkdir \"%s\": %s\n", cmd, dir, strerror(err));
            rc = cf_err_from_errno(err);
        }
        *s = '/';
    }
    return rc;
}

int cf__cli_token_save(const char *cmd, const char *path, const char *text)
{
    char err[CF_ERR_LEN] = "";
    int rc = make_parents(cmd, path);

    if (rc < 0)
        goto out;
    /* Whole or not at all (io.h): a crash leaves the old login or the new. */
    rc = cf_io_write_file(path, text, strlen(text), 0600, true, err);
    if (rc < 0)
        fprintf(stderr, "coffer %s: cannot write the token: %s\n", cmd, err);
out:
    return rc;
}

int cf__cli_sess_load(const char *cmd, const char *token_file, const char *token,
                      const char *gateway, const char *ca, struct cf__cli_sess *s)
{
    char path[CF__CLI_PATH_MAX];
    const char *gw = gateway;
    json_t *j = NULL;
    json_error_t jerr;
    int rc = 1, n;

    if (token == NULL || gw == NULL) {
        if (cf__cli_token_path(token_file, path) < 0) {
            fprintf(stderr, "coffer %s: no token file (set HOME or --token-file); %s\n", cmd,
                    "run coffer login");
            goto out;
        }
        j = json_load_file(path, 0, &jerr);
        if (j == NULL && token == NULL) {
            fprintf(stderr, "coffer %s: not logged in (no token in \"%s\"); run coffer login\n",
                    cmd, path);
            goto out;
        }
    }
    if (token == NULL) {
        json_int_t exp = json_integer_value(json_object_get(j, "expires_ms"));
        token = json_string_value(json_object_get(j, "token"));
        if (token == NULL) {
            fprintf(stderr, "coffer %s: \"%s\" holds no token; run coffer login\n", cmd, path);
            goto out;
        }
        if (exp > 0 && (uint64_t)exp <= cf_wall_ms()) {
            fprintf(stderr, "coffer %s: the login has expired; run coffer login\n", cmd);
            goto out;
        }
    }
    if (gw == NULL)
        gw = json_string_value(json_object_get(j, "gateway"));
    if (gw == NULL)
        gw = CF__CLI_GATEWAY_DEFAULT;
    /* The CA login used goes with the gateway login used, not another one. */
    if (ca == NULL && gateway == NULL)
        ca = json_string_value(json_object_get(j, "ca"));
    n = snprintf(s->ca, sizeof(s->ca), "%s", ca != NULL ? ca : "");
    if (n < 0 || n >= (int)sizeof(s->ca)) {
        fprintf(stderr, "coffer %s: CA path too long\n", cmd);
        goto out;
    }
    if (cf__cli_ca_url(cmd, s->ca, gw) != 0 || cf__cli_tls(cmd, s->ca) != 0)
        goto out;
    /* The token goes into a header line: nothing but printable ASCII. */
    for (const char *t = token; *t != '\0'; t++) {
        if (*t <= ' ' || *t > '~' || t - token > CF__CLI_TOKEN_MAX) {
            fprintf(stderr, "coffer %s: the token is malformed; run coffer login\n", cmd);
            goto out;
        }
    }
    n = snprintf(s->gateway, sizeof(s->gateway), "%s", gw);
    if (n < 0 || n >= (int)sizeof(s->gateway)) {
        fprintf(stderr, "coffer %s: gateway URL too long\n", cmd);
        goto out;
    }
    /* Tolerate "http://host:port/" as well as "http://host:port". */
    if (n > 0 && s->gateway[n - 1] == '/')
        s->gateway[n - 1] = '\0';
    /* The token was checked to fit. */
    (void)snprintf(s->auth, sizeof(s->auth), "Authorization: Bearer %s", token);
    rc = 0;
out:
    json_decref(j);
    return rc;
}

/* ---- URLs ---- */

int cf__cli_gw_url(struct cf_buf *u, const struct cf__cli_sess *s, const char *prefix,
                   const char *path, const char *const *q)
{
    int rc;
    char sep = '?';

    cf_buf_init(u, CF__CLI_GW_URL_MAX);
    rc = cf_buf_printf(u, "%s%s", s->gateway, prefix);
    if (rc == 0 && path != NULL)
        rc = cf__cli_escape(u, path, true);
    for (size_t i = 0; rc == 0 && q != NULL && q[i] != NULL; i += 2) {
        if (q[i + 1] == NULL)
            continue;
        rc = cf_buf_printf(u, "%c%s=", sep, q[i]);
        if (rc == 0)
            rc = cf__cli_escape(u, q[i + 1], true);
        sep = '&';
    }
    return rc;
}

/* ---- one request ---- */

/* Once the reply's headers are in: a file's bytes carry X-Coffer-SHA512, a
 * folder's listing does not. */
static void gwreq_headers(struct cf__cli_gwreq *x)
{
    if (!x->headers_seen) {
        x->headers_seen = true;
        x->is_file = cf_httpc_reply_sha512(x->h, x->sha) == 0;
    }
}

static size_t gwreq_write(char *p, size_t size, size_t nitems, void *ud)
{
    struct cf__cli_gwreq *x = ud;
    size_t n = size * nitems;
    long status = 0;

    (void)curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    gwreq_headers(x);
    if (x->stop_on_file && x->is_file && status == 200)
        n = 0; /* ends the transfer: ls needs only to know it is a file */
    else if (x->out == NULL || status != 200 || !x->is_file)
        n = cf__cli_to_buf(p, size, nitems, &x->body); /* a listing never reaches out */
    else if (cf_sha512_update(&x->out_sha, p, n) < 0 || fwrite(p, 1, n, x->out) != n)
        n = 0;
    return n;
}

void cf__cli_gwreq_init(struct cf__cli_gwreq *x, const char *cmd)
{
    memset(x, 0, sizeof(*x));
    x->cmd = cmd;
    cf_buf_init(&x->body, JSON_MAX);
}

void cf__cli_gwreq_fini(struct cf__cli_gwreq *x)
{
    curl_easy_cleanup(x->h);
    x->h = NULL;
    cf_buf_fini(&x->body);
    json_decref(x->json);
    x->json = NULL;
}

int cf__cli_gwreq_run(struct cf__cli_gwreq *x, const struct cf__cli_sess *s, const char *method,
                      const char *url, int64_t in_size)
{
    struct curl_slist *hdrs = NULL;
    struct cf__cli_progress prog;
    CURLcode cc;
    int rc = 1;

    if (cf_httpc_global_init() == 0)
        x->h = curl_easy_init();
    if (x->h == NULL) {
        fprintf(stderr, "coffer %s: cannot start libcurl\n", x->cmd);
        goto out;
    }
    cf_httpc_tls(x->h);
    hdrs = curl_slist_append(hdrs, s->auth);
    (void)curl_easy_setopt(x->h, CURLOPT_URL, url);
    (void)curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, method);
    (void)curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, gwreq_write);
    (void)curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    (void)curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    prog.on = false;
    if (x->in.f != NULL) {
        (void)curl_easy_setopt(x->h, CURLOPT_UPLOAD, 1L);
        (void)curl_easy_setopt(x->h, CURLOPT_READFUNCTION, cf__cli_src_read);
        (void)curl_easy_setopt(x->h, CURLOPT_READDATA, &x->in);
        hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
        if (in_size >= 0)
            (void)curl_easy_setopt(x->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)in_size);
        else
            hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
        /* No "Expect: 100-continue" round trip before the body. */
        hdrs = curl_slist_append(hdrs, "Expect:");
        cf__cli_progress_setup(x->h, &prog, x->cmd, in_size > 0 ? (uint64_t)in_size : 0);
    } else if (strcmp(method, "POST") == 0) {
        (void)curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, "");
        (void)curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE, 0L);
    } else if (x->out != NULL && x->out != stdout) {
        cf__cli_progress_setup(x->h, &prog, x->cmd, CF__CLI_PROGRESS_MIN);
    }
    (void)curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, hdrs);
    cc = curl_easy_perform(x->h);
    (void)curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
    gwreq_headers(x);
    if (x->stop_on_file && x->is_file && x->status == 200) {
        rc = 0;
        goto out;
    }
    if (x->status == 401) {
        cf__cli_print_error(x->cmd, x->status, &x->body);
        fprintf(stderr, "coffer %s: the gateway refused the token; run coffer login\n", x->cmd);
        goto out;
    }
    if (x->status != 0 && (x->status < 200 || x->status > 299)) {
        cf__cli_print_error(x->cmd, x->status, &x->body);
        goto out;
    }
    if (cc != CURLE_OK && cf_httpc_cert_error((int)cc)) {
        char err[CF_ERR_LEN];
        cf_httpc_failure((int)cc, err, s->gateway);
        fprintf(stderr, "coffer %s: %s\n", x->cmd, err);
        goto out;
    }
    if (cc != CURLE_OK) {
        fprintf(stderr, "coffer %s: %s: %s (the transfer was not completed)\n", x->cmd, s->gateway,
                x->in.err ? strerror(x->in.err) : curl_easy_strerror(cc));
        goto out;
    }
    if (x->body.len > 0)
        x->json = json_loadb(x->body.base, x->body.len, 0, NULL);
    rc = 0;
out:
    curl_slist_free_all(hdrs);
    return rc;
}
