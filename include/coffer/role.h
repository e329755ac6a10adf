/*
 * role.h -- what every `coffer ROLE` process does around its service:
 * load its configuration, set up logging and signals, wait for SIGTERM.
 *
 * Threads: call from the main thread, before any other thread starts
 * (connection threads inherit the signal mask set here).
 */
#ifndef COFFER_ROLE_H
#define COFFER_ROLE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "coffer/common.h"
#include "coffer/conf.h"
#include "coffer/http.h"

/* The authentication settings every role takes (cred.h, http.h), a member
 * `auth` of its configuration struct; CF_ROLE_AUTH_OPTS(OFF) lists them
 * in its table, OFF being the table's offsetof macro. */
struct cf_role_auth {
    char *cluster_key_file;  /* required unless insecure_no_auth */
    char *operator_pub_file; /* "" or NULL: no operator key accepted */
    bool insecure_no_auth;   /* benchmarks only: nothing checked or signed */
    bool metrics_public;     /* GET /metrics without a signature */
    char *authority;         /* extra Host values signed requests may name (http.h) */
};

#define CF_ROLE_AUTH_OPTS(OFF)                                                                     \
    {"cluster-key-file",                                                                           \
     CF_CONF_STR,                                                                                  \
     "",                                                                                           \
     0,                                                                                            \
     0,                                                                                            \
     OFF(auth.cluster_key_file),                                                                   \
     "the cluster key (hex, mode 0600) every request between roles is signed with",                \
     false},                                                                                       \
        {"operator-pub-file",                                                                      \
         CF_CONF_STR,                                                                              \
         "",                                                                                       \
         0,                                                                                        \
         0,                                                                                        \
         OFF(auth.operator_pub_file),                                                              \
         "the operator's public key; requests signed with its private key are accepted",           \
         false},                                                                                   \
        {"insecure-no-auth",                                                                       \
         CF_CONF_BOOL,                                                                             \
         "false",                                                                                  \
         0,                                                                                        \
         0,                                                                                        \
         OFF(auth.insecure_no_auth),                                                               \
         "check and sign nothing: for benchmarks only, never in production",                       \
         false},                                                                                   \
        {"authority",                                                                              \
         CF_CONF_LIST,                                                                             \
         NULL,                                                                                     \
         0,                                                                                        \
         0,                                                                                        \
         OFF(auth.authority),                                                                      \
         "HOST[:PORT] names this server also answers to in signed requests (a load balancer's)",   \
         false},                                                                                   \
    {                                                                                              \
        "metrics-public", CF_CONF_BOOL, "false", 0, 0, OFF(auth.metrics_public),                   \
            "serve GET /metrics without a signature", false                                        \
    }

struct cf_cred;

/* The credential of a role with settings a (borrowed): its cluster key
 * (and operator public key, if named) loaded, and installed as the key
 * this process signs its requests with (cred.h cf_cred_install). Roles of
 * one process with the same key files (coffer server) share one
 * credential, hence one replay cache. With a->insecure_no_auth, *out is
 * NULL and a loud warning is logged. Returns 0 with *out (release it with
 * cf_role_auth_close, after the HTTP server that uses it), or CF_EINVAL /
 * a load error with the reason in err. Main thread. */
CF_MUST_CHECK int cf_role_auth_open(const char *role, const struct cf_role_auth *a,
                                    struct cf_cred **out, char *err);

/* cf_role_auth_open, then the options of the role's HTTP server that check
 * requests with that credential: ho->auth = *out, ho->access = access (the
 * role's route classes), and a's --metrics-public and --authority. Same
 * returns; on failure ho is unchanged. Main thread. */
CF_MUST_CHECK int cf_role_auth_serve(const char *role, const struct cf_role_auth *a,
                                     cf_http_access_cb access, struct cf_http_server_opts *ho,
                                     struct cf_cred **out, char *err);

/* Release a credential of cf_role_auth_open (freed with its last user).
 * NULL is a no-op. Main thread. */
void cf_role_auth_close(struct cf_cred *c);

/* Load conf (a zeroed struct described by opts) from argv, and start
 * logging as `role` at the level named by *log_level (a field of conf; may
 * point to NULL for "info"). Returns -1 to go on, or the exit status to
 * return at once (0 after --help or --print-config, 2 for a bad setting,
 * with the reason on stderr). conf must be released with cf_conf_fini
 * either way. */
int cf_role_config(const char *role, const struct cf_conf_opt *opts, size_t n, void *conf, int argc,
                   char **argv, const char *usage, char *const *log_level);

/* Ignore SIGPIPE and block SIGTERM and SIGINT in this thread and every
 * thread it starts later; set receives the blocked set for cf_role_wait. */
void cf_role_signals(sigset_t *set);

/* Print the ready line on stdout, which tests and scripts wait for:
 * "coffer ROLE [ID ]listening on http[s]://HOST:PORT" (id 0 is left out;
 * https when tls; the host is the one in listen, "HOST:PORT", or 127.0.0.1
 * when it is empty). */
void cf_role_announce(const char *role, uint64_t id, const char *listen, uint16_t port, bool tls);

/* The TLS settings every role takes, as entries of its cf_conf_opt table:
 * tls-cert and tls-key (char *tls_cert, *tls_key of conf type `type`),
 * which http.h serves HTTPS with, and, for a role that calls others,
 * tls-ca (char *tls_ca), which httpc.h verifies https:// peers with. */
/* clang-format off */
#define CF_ROLE_TLS_OPTS(type)                                                                     \
    {"tls-cert", CF_CONF_STR, NULL, 0, 0, offsetof(type, tls_cert),                               \
     "serve HTTPS with this PEM certificate (chain); needs --tls-key", false},                    \
    {"tls-key", CF_CONF_STR, NULL, 0, 0, offsetof(type, tls_key),                                 \
     "the PEM private key of --tls-cert (unencrypted; keep it mode 0600)", false}
#define CF_ROLE_TLS_CA_OPT(type)                                                                   \
    {"tls-ca", CF_CONF_STR, NULL, 0, 0, offsetof(type, tls_ca),                                   \
     "PEM CA certificate(s) to verify the https:// services it calls (default: the system's)",   \
     false}
/* clang-format on */

/* Wait for SIGTERM or SIGINT (blocked by cf_role_signals); returns it. */
int cf_role_wait(const sigset_t *set);

/* What cf_role_run needs to know of a role. Offsets are offsetof() fields
 * of the role's configuration struct. */
struct cf_role {
    const char *name; /* "filer" */
    const struct cf_conf_opt *opts;
    size_t nopts;
    const char *usage;
    size_t log_level_off; /* char *: the log level */
    size_t listen_off; /* char *: HOST:PORT for the ready line; SIZE_MAX: the role prints its own */
    size_t id_off;     /* uint64_t: the id in the ready line; SIZE_MAX: none */
    /* char *: the tls-cert setting (set: the ready line says https) and
     * the tls-ca setting (given to cf_httpc_tls_init before start); 0: the
     * role has none (these are never a configuration's first member). */
    size_t tls_off;
    size_t tls_ca_off;
    /* struct cf_role_beat: once started, the instance heart-beats to its
     * --monitor (beat.h) until it drains; 0: the role does not. */
    size_t beat_off;
    /* Start the service from conf (borrowed, and kept alive by cf_role_run
     * until after free). Returns 0 with *svc the service (owned by
     * cf_role_run, which later calls drain, then free) and *port the bound
     * port; or a CF_E* code with the reason in err (char[CF_ERR_LEN]),
     * having left nothing running (*svc is then ignored). Called on the
     * main thread, after the signal mask is set. */
    int (*start)(const void *conf, void **svc, uint16_t *port, char *err);
    /* Stop accepting work and let what is in flight finish, for up to
     * timeout_s seconds. Main thread. */
    void (*drain)(void *svc, unsigned timeout_s);
    /* Release everything the service holds. NULL-safe. Main thread. */
    void (*free)(void *svc);
};

/* The whole life of a role process: load conf (a zeroed struct the role
 * describes; borrowed) from argv, set up logging and signals, trust its
 * tls-ca (a bad file: exit 1), start, print
 * the ready line, heart-beat (beat_off), wait for SIGTERM or SIGINT, drain (up to
 * CF_DRAIN_TIMEOUT_S) and stop. Returns the exit status: 0, 1 when the role
 * could not start (logged), 2 for bad settings. */
int cf_role_run(const struct cf_role *r, void *conf, int argc, char **argv);

#endif
