/*
 * keys.c -- the keys of a case (keys.h).
 */
#include "harness/keys.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/rand.h>

#include "coffer/err.h"
#include "coffer/hex.h"
#include "harness/harness_int.h"
#include "harness/proc.h"

#define PUBLIC_MAX 8

static char made_in[IT_PATH_MAX];
static char cluster[IT_PATH_MAX], operator[IT_PATH_MAX], operator_pub[IT_PATH_MAX];
static char public_bases[PUBLIC_MAX][IT_URL_MAX];
static size_t npublic;
static struct cf_cred *op_cred, *cl_cred;

static void ensure(void);
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* Make the files once per case (each case runs in its own process, whose
 * case directory this remembers). */
static void ensure(void)
{
    char err[CF_ERR_LEN] = "";

    if (strcmp(made_in, it_case_dir()) == 0)
        return;
    it_case_path(cluster, CF_CRED_CLUSTER_FILE);
    it_case_path(operator, CF_CRED_OPERATOR_FILE);
    it_case_path(operator_pub, CF_CRED_OPERATOR_PUB);
    IT_CHECKF(cf_cred_make_files(it_case_dir(), false, NULL, err) == 0, "case keys: %s", err);
    it_fmt(made_in, sizeof(made_in), "%s", it_case_dir());
    /* The case's own JSON calls (httpc.h) are the operator's too. */
    cf_cred_install(it_keys_operator_cred());
}

const char *it_keys_cluster(void)
{
    ensure();
    return cluster;
}

const char *it_keys_operator(void)
{
    ensure();
    return operator;
}

const char *it_keys_operator_pub(void)
{
    ensure();
    return operator_pub;
}

void it_keys_link_into(const char *dir)
{
    const char *const names[] = {CF_CRED_CLUSTER_FILE, CF_CRED_OPERATOR_FILE, CF_CRED_OPERATOR_PUB};
    const char *const from[] = {it_keys_cluster(), it_keys_operator(), it_keys_operator_pub()};
    char to[IT_PATH_MAX + 32];

    IT_CHECKF(mkdir(dir, 0700) == 0 || errno == EEXIST, "mkdir \"%s\": %s", dir, strerror(errno));
    for (size_t i = 0; i < 3; i++) {
        it_fmt(to, sizeof(to), "%s/%s", dir, names[i]);
        IT_CHECKF(link(from[i], to) == 0 || errno == EEXIST, "link \"%s\" to \"%s\": %s", from[i],
                  to, strerror(errno));
    }
}

void it_keys_public_base(const char *base)
{
    pthread_mutex_lock(&mu);
    IT_CHECK(npublic < PUBLIC_MAX);
    it_fmt(public_bases[npublic++], IT_URL_MAX, "%s", base);
    pthread_mutex_unlock(&mu);
}

bool it_keys_is_public(const char *base)
{
    bool yes = false;

    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < npublic && !yes; i++)
        yes = strncmp(base, public_bases[i], strlen(public_bases[i])) == 0 &&
              (base[strlen(public_bases[i])] == '\0' || base[strlen(public_bases[i])] == '/');
    pthread_mutex_unlock(&mu);
    return yes;
}

struct cf_cred *it_keys_operator_cred(void)
{
    const char *path = it_keys_operator(); /* before the lock: it may install (ensure) */
    char err[CF_ERR_LEN] = "";

    pthread_mutex_lock(&mu);
    if (op_cred == NULL) {
        op_cred = cf_cred_new();
        IT_CHECKF(cf_cred_load_operator_key(op_cred, path, err) == 0, "%s", err);
    }
    pthread_mutex_unlock(&mu);
    return op_cred;
}

struct cf_cred *it_keys_cluster_cred(void)
{
    const char *path = it_keys_cluster();
    char err[CF_ERR_LEN] = "";

    pthread_mutex_lock(&mu);
    if (cl_cred == NULL) {
        cl_cred = cf_cred_new();
        IT_CHECKF(cf_cred_load_cluster(cl_cred, path, err) == 0, "%s", err);
    }
    pthread_mutex_unlock(&mu);
    return cl_cred;
}

void it_sign_line(char out[CF_CRED_HEADER_MAX], const char *method, const char *target,
                  const char *host)
{
    uint8_t rnd[16];
    char nonce[33];

    IT_CHECK(RAND_bytes(rnd, sizeof(rnd)) == 1);
    cf_hex_encode(rnd, sizeof(rnd), nonce);
    IT_CHECK(cf_cred_sign_parts(it_keys_operator_cred(), method, host, target, cf_wall_ms(), nonce,
                                out, CF_CRED_HEADER_MAX) == 0);
}
