/*
 * role.c -- configuration, logging and signals of a role process (role.h).
 */
#include "coffer/role.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/beat.h"
#include "coffer/cred.h"
#include "coffer/err.h"
#include "coffer/httpc.h"
#include "coffer/limits.h"
#include "coffer/log.h"

/* The credentials open in this process, by key files (cf_role_auth_open). */
struct shared_cred {
    char *cluster, *pub;
    struct cf_cred *cred;
    unsigned users;
};
static struct shared_cred shared[8];

static const char *or_empty(const char *s)
{
    return s != NULL ? s : "";
}

int cf_role_auth_open(const char *role, const struct cf_role_auth *a, struct cf_cred **out,
                      char *err)
{
    struct shared_cred *free_slot = NULL;
    struct cf_cred *c = NULL;
    int rc = 0;

    *out = NULL;
    if (a->insecure_no_auth) {
        cf_log(CF_LOG_WARN,
               "%s: --insecure-no-auth: requests are neither checked nor signed; "
               "anyone who reaches this port may read, list and delete. For "
               "benchmarks only.",
               role);
        return 0;
    }
    if (a->cluster_key_file == NULL || a->cluster_key_file[0] == '\0') {
        cf_err_set(err, "--cluster-key-file is required (coffer admin keys init --data DIR makes "
                        "one; --insecure-no-auth is for benchmarks only)");
        return CF_EINVAL;
    }
    for (size_t i = 0; i < CF_ARRAY_LEN(shared); i++) {
        struct shared_cred *s = &shared[i];
        if (s->users == 0) {
            if (free_slot == NULL)
                free_slot = s;
            continue;
        }
        if (strcmp(s->cluster, a->cluster_key_file) == 0 &&
            strcmp(s->pub, or_empty(a->operator_pub_file)) == 0) {
            s->users++;
            *out = s->cred;
            return 0;
        }
    }
    c = cf_cred_new();
    rc = cf_cred_load_cluster(c, a->cluster_key_file, err);
    if (rc == 0 && a->operator_pub_file != NULL && a->operator_pub_file[0] != '\0')
        rc = cf_cred_load_operator_pub(c, a->operator_pub_file, err);
    if (rc < 0) {
        cf_cred_free(c);
        return rc;
    }
    cf_cred_install(c);
    if (free_slot != NULL) {
        free_slot->cluster = cf_xstrdup(a->cluster_key_file);
        free_slot->pub = cf_xstrdup(or_empty(a->operator_pub_file));
        free_slot->cred = c;
        free_slot->users = 1;
    }
    *out = c;
    return 0;
}

int cf_role_auth_serve(const char *role, const struct cf_role_auth *a, cf_http_access_cb access,
                       struct cf_http_server_opts *ho, struct cf_cred **out, char *err)
{
    int rc = cf_role_auth_open(role, a, out, err);

    if (rc < 0)
        return rc;
    ho->auth = *out;
    ho->access = access;
    ho->metrics_public = a->metrics_public;
    ho->authorities = a->authority;
    return 0;
}

void cf_role_auth_close(struct cf_cred *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < CF_ARRAY_LEN(shared); i++) {
        struct shared_cred *s = &shared[i];
        if (s->users > 0 && s->cred == c) {
            if (--s->users > 0)
                return;
            free(s->cluster);
            free(s->pub);
            memset(s, 0, sizeof(*s));
            break;
        }
    }
    cf_cred_free(c);
}

int cf_role_config(const char *role, const struct cf_conf_opt *opts, size_t n, void *conf, int argc,
                   char **argv, const char *usage, char *const *log_level)
{
    char err[CF_ERR_LEN] = "";
    int rc, level;

    rc = cf_conf_load(opts, n, conf, argc, argv, usage, err);
    if (rc == CF_CONF_EXIT_HELP || rc == CF_CONF_EXIT_PRINT)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "coffer %s: %s\n", role, err);
        return 2;
    }
    level = cf_log_level_parse(*log_level ? *log_level : "info");
    if (level < 0) {
        fprintf(stderr, "coffer %s: log-level: expected error, warn, info or debug\n", role);
        return 2;
    }
    cf_log_init(role, (enum cf_log_level)level);
    return -1;
}

void cf_role_signals(sigset_t *set)
{
    signal(SIGPIPE, SIG_IGN);
    /* A shell starts background jobs with SIGINT ignored, and an ignored
     * signal is discarded even while blocked: sigwait would never see it. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

int cf_role_wait(const sigset_t *set)
{
    int sig = 0;

    if (sigwait(set, &sig) != 0)
        sig = SIGTERM;
    return sig;
}

void cf_role_announce(const char *role, uint64_t id, const char *listen, uint16_t port, bool tls)
{
    const char *colon = strrchr(listen, ':');
    int hl = colon ? (int)(colon - listen) : 0;
    char ids[24] = "";

    if (id != 0)
        (void)snprintf(ids, sizeof(ids), "%" PRIu64 " ", id);
    printf("coffer %s %slistening on http%s://%.*s:%u\n", role, ids, tls ? "s" : "",
           hl > 0 ? hl : 9, hl > 0 ? listen : "127.0.0.1", (unsigned)port);
    fflush(stdout);
    cf_log(CF_LOG_INFO, "%s %sserving on port %u", role, ids, (unsigned)port);
}

/* The char * setting at offset off of conf, or NULL when off is 0 (none). */
static const char *setting(const void *conf, size_t off)
{
    return off == 0 ? NULL : *(char *const *)(const void *)((const char *)conf + off);
}

int cf_role_run(const struct cf_role *r, void *conf, int argc, char **argv)
{
    char *const *level = (char *const *)(void *)((char *)conf + r->log_level_off);
    char err[CF_ERR_LEN] = "";
    void *svc = NULL;
    struct cf_beat *beat = NULL;
    sigset_t set;
    uint16_t port = 0;
    int status, sig;

    status = cf_role_config(r->name, r->opts, r->nopts, conf, argc, argv, r->usage, level);
    if (status >= 0)
        goto out;
    status = 1;
    cf_role_signals(&set);
    if (cf_httpc_tls_init(setting(conf, r->tls_ca_off), "--tls-ca", err) < 0) {
        cf_log(CF_LOG_ERROR, "cannot start the %s: --tls-ca: %s", r->name, err);
        goto out;
    }
    if (cf_httpc_global_init() < 0 || r->start(conf, &svc, &port, err) < 0) {
        cf_log(CF_LOG_ERROR, "cannot start the %s: %s", r->name, err);
        goto out;
    }
    if (r->listen_off != SIZE_MAX) {
        uint64_t id = 0;
        if (r->id_off != SIZE_MAX)
            memcpy(&id, (char *)conf + r->id_off, sizeof(id));
        cf_role_announce(r->name, id, *(char *const *)(void *)((char *)conf + r->listen_off), port,
                         setting(conf, r->tls_off) != NULL);
    }
    if (r->beat_off != 0) {
        const struct cf_role_beat *b = (const void *)((const char *)conf + r->beat_off);
        char url[256];
        cf_beat_url(b, *(char *const *)(void *)((char *)conf + r->listen_off), port,
                    setting(conf, r->tls_off) != NULL, url, sizeof(url));
        if (cf_beat_start(r->name, b, url, &beat, err) < 0) {
            cf_log(CF_LOG_ERROR, "cannot start the %s: %s", r->name, err);
            r->drain(svc, 0);
            goto out;
        }
    }
    sig = cf_role_wait(&set);
    cf_log(CF_LOG_INFO, "signal %d: draining requests in flight (up to %ds)", sig,
           CF_DRAIN_TIMEOUT_S);
    cf_beat_stop(beat);
    r->drain(svc, CF_DRAIN_TIMEOUT_S);
    cf_log(CF_LOG_INFO, "%s stopped", r->name);
    status = 0;
out:
    r->free(svc);
    cf_conf_fini(r->opts, r->nopts, conf);
    return status;
}
