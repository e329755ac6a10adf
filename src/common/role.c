/*
 * role.c -- configuration, logging and signals of a role process (role.h).
 */
#include "coffer/role.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/log.h"

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

void cf_role_announce(const char *role, uint64_t id, const char *listen, uint16_t port)
{
    const char *colon = strrchr(listen, ':');
    int hl = colon ? (int)(colon - listen) : 0;
    char ids[24] = "";

    if (id != 0)
        (void)snprintf(ids, sizeof(ids), "%" PRIu64 " ", id);
    printf("coffer %s %slistening on http://%.*s:%u\n", role, ids, hl > 0 ? hl : 9,
           hl > 0 ? listen : "127.0.0.1", (unsigned)port);
    fflush(stdout);
    cf_log(CF_LOG_INFO, "%s %sserving on port %u", role, ids, (unsigned)port);
}
