/*
 * faults.c -- test-only fault injection into the filer's I/O seam
 * (faults_int.h).
 */
#include "faults_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "coffer/err.h"
#include "coffer/http.h"
#include "coffer/log.h"

enum call { C_OPENAT, C_WRITE, C_FSYNC, C_RENAMEAT2, C_UNLINKAT, C_MKDIRAT, C_FSETXATTR, C_N };

static const char *const call_names[C_N] = {"openat",   "write",   "fsync",    "renameat2",
                                            "unlinkat", "mkdirat", "fsetxattr"};

struct errno_name {
    const char *name;
    int value;
};

static const struct errno_name errnos[] = {
    {"EIO", EIO},       {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS},
    {"EACCES", EACCES}, {"EPERM", EPERM},   {"ENOMEM", ENOMEM},
};

struct fault {
    enum call call;
    size_t err;             /* index in errnos */
    uint64_t after, times;  /* as armed */
    uint64_t passed, fired; /* matching calls let through, and failed, so far */
};

/* The process's one injector (faults_int.h: the table has no context). */
struct injector {
    pthread_mutex_t mu; /* guards in_use, f and n */
    bool in_use;
    const struct cf_io_ops *inner; /* set only while no store uses the table */
    struct fault f[CF__FILER_FAULTS_MAX];
    size_t n;
};

static struct injector inj = {.mu = PTHREAD_MUTEX_INITIALIZER};
/* inj.n, read without the lock by every call: with nothing armed, a call
 * costs this load and nothing else. */
static atomic_size_t armed;

/* Whether this call must fail; if so, *err is the errno to set. */
static bool take_call(enum call call, int *err)
{
    const char *name = NULL;
    uint64_t fired = 0, times = 0;

    if (atomic_load_explicit(&armed, memory_order_acquire) > 0) {
        pthread_mutex_lock(&inj.mu);
        for (size_t i = 0; i < inj.n; i++) {
            struct fault *f = &inj.f[i];
            if (f->call != call || f->fired == f->times)
                continue;
            if (f->passed < f->after) {
                f->passed++;
            } else {
                f->fired++;
                *err = errnos[f->err].value;
                name = errnos[f->err].name;
                fired = f->fired;
                times = f->times;
            }
            break;
        }
        pthread_mutex_unlock(&inj.mu);
    }
    if (name != NULL)
        cf_log(CF_LOG_WARN, "fault injection: %s fails with %s (%" PRIu64 " of %" PRIu64 ")",
               call_names[call], name, fired, times);
    return name != NULL;
}

static int f_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    int e = 0, rc = -1;

    if (take_call(C_OPENAT, &e))
        errno = e;
    else
        rc = inj.inner->openat(dirfd, path, flags, mode);
    return rc;
}

static ssize_t f_write(int fd, const void *buf, size_t n)
{
    ssize_t rc = -1;
    int e = 0;

    if (take_call(C_WRITE, &e))
        errno = e;
    else
        rc = inj.inner->write(fd, buf, n);
    return rc;
}

static int f_fsync(int fd)
{
    int e = 0, rc = -1;

    if (take_call(C_FSYNC, &e))
        errno = e;
    else
        rc = inj.inner->fsync(fd);
    return rc;
}

static int f_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                       unsigned int flags)
{
    int e = 0, rc = -1;

    if (take_call(C_RENAMEAT2, &e))
        errno = e;
    else
        rc = inj.inner->renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
    return rc;
}

static int f_unlinkat(int dirfd, const char *path, int flags)
{
    int e = 0, rc = -1;

    if (take_call(C_UNLINKAT, &e))
        errno = e;
    else
        rc = inj.inner->unlinkat(dirfd, path, flags);
    return rc;
}

static int f_mkdirat(int dirfd, const char *path, mode_t mode)
{
    int e = 0, rc = -1;

    if (take_call(C_MKDIRAT, &e))
        errno = e;
    else
        rc = inj.inner->mkdirat(dirfd, path, mode);
    return rc;
}

static int f_fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)
{
    int e = 0, rc = -1;

    if (take_call(C_FSETXATTR, &e))
        errno = e;
    else
        rc = inj.inner->fsetxattr(fd, name, value, size, flags);
    return rc;
}

/* close is never failed: a store cannot tell a failed close from a leaked
 * descriptor, and no fault a test needs is made that way. */
static int f_close(int fd)
{
    return inj.inner->close(fd);
}

static const struct cf_io_ops faulty = {
    .openat = f_openat,
    .write = f_write,
    .fsync = f_fsync,
    .renameat2 = f_renameat2,
    .unlinkat = f_unlinkat,
    .mkdirat = f_mkdirat,
    .fsetxattr = f_fsetxattr,
    .close = f_close,
};

int cf__filer_faults_open(const struct cf_io_ops *inner, const struct cf_io_ops **out, char *err)
{
    int rc = 0;

    pthread_mutex_lock(&inj.mu);
    if (inj.in_use) {
        cf_err_set(err, "fault injection is on for another filer of this process");
        rc = CF_EBUSY;
    } else {
        inj.in_use = true;
        inj.inner = inner != NULL ? inner : &cf_io_default;
        inj.n = 0;
        atomic_store_explicit(&armed, 0, memory_order_release);
        *out = &faulty;
    }
    pthread_mutex_unlock(&inj.mu);
    return rc;
}

void cf__filer_faults_close(void)
{
    pthread_mutex_lock(&inj.mu);
    inj.n = 0;
    atomic_store_explicit(&armed, 0, memory_order_release);
    inj.in_use = false;
    pthread_mutex_unlock(&inj.mu);
}

/* ---- HTTP ---- */

/* A count member of a fault: absent gives def; else an integer in
 * [min, CF__FILER_FAULTS_COUNT_MAX]. Returns 0 or CF_EBADREQ with err. */
static int get_count(const json_t *j, const char *key, uint64_t def, uint64_t min, uint64_t *out,
                     char *err)
{
    const json_t *v = json_object_get(j, key);
    json_int_t x = json_is_integer(v) ? json_integer_value(v) : -1;
    int rc = 0;

    *out = def;
    if (v != NULL && (x < (json_int_t)min || x > CF__FILER_FAULTS_COUNT_MAX)) {
        cf_err_set(err, "\"%s\" must be an integer from %" PRIu64 " to %d", key, min,
                   CF__FILER_FAULTS_COUNT_MAX);
        rc = CF_EBADREQ;
    } else if (v != NULL) {
        *out = (uint64_t)x;
    }
    return rc;
}

/* Parse {"call","errno","times"?,"after"?} into *f. Returns 0 or
 * CF_EBADREQ with err. */
static int parse_fault(const char *body, size_t len, struct fault *f, char *err)
{
    json_error_t je;
    json_t *j = NULL, *v;
    const char *key, *call, *eno;
    int rc = CF_EBADREQ;

    memset(f, 0, sizeof(*f));
    if (len > 0)
        j = json_loadb(body, len, 0, &je);
    if (!json_is_object(j)) {
        cf_err_set(err, "send a JSON object {\"call\",\"errno\",\"times\"?,\"after\"?}");
        goto out;
    }
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "call") != 0 && strcmp(key, "errno") != 0 && strcmp(key, "times") != 0 &&
            strcmp(key, "after") != 0) {
            cf_err_set(err, "unknown member \"%.64s\"", key);
            goto out;
        }
    }
    call = json_string_value(json_object_get(j, "call"));
    eno = json_string_value(json_object_get(j, "errno"));
    f->call = C_N;
    for (size_t i = 0; call != NULL && i < C_N; i++)
        if (strcmp(call, call_names[i]) == 0)
            f->call = (enum call)i;
    if (f->call == C_N) {
        cf_err_set(err, "\"call\" must be openat, write, fsync, renameat2, unlinkat, mkdirat "
                        "or fsetxattr");
        goto out;
    }
    f->err = CF_ARRAY_LEN(errnos);
    for (size_t i = 0; eno != NULL && i < CF_ARRAY_LEN(errnos); i++)
        if (strcmp(eno, errnos[i].name) == 0)
            f->err = i;
    if (f->err == CF_ARRAY_LEN(errnos)) {
        cf_err_set(err, "\"errno\" must be EIO, ENOSPC, EDQUOT, EROFS, EACCES, EPERM or ENOMEM");
        goto out;
    }
    rc = get_count(j, "times", 1, 1, &f->times, err);
    if (rc == 0)
        rc = get_count(j, "after", 0, 0, &f->after, err);
out:
    json_decref(j);
    return rc;
}

/* {"faults":[...]}, under the lock. */
static json_t *list_json(void)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr != NULL && i < inj.n; i++) {
        const struct fault *f = &inj.f[i];
        if (json_array_append_new(
                arr, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "call", call_names[f->call], "errno",
                               errnos[f->err].name, "times", (json_int_t)f->times, "after",
                               (json_int_t)f->after, "passed", (json_int_t)f->passed, "fired",
                               (json_int_t)f->fired)) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return json_pack("{s:o}", "faults", arr);
}

/* POST: arm one more fault; *list (caller owns) the faults after it. */
static int arm(const char *body, size_t len, json_t **list, char *err)
{
    struct fault f;
    int rc;

    rc = parse_fault(body, len, &f, err);
    if (rc < 0)
        goto out;
    pthread_mutex_lock(&inj.mu);
    if (inj.n == CF__FILER_FAULTS_MAX) {
        cf_err_set(err, "%d faults are armed already; DELETE them first", CF__FILER_FAULTS_MAX);
        rc = CF_ETOOMANY;
    } else {
        inj.f[inj.n++] = f;
        atomic_store_explicit(&armed, inj.n, memory_order_release);
        *list = list_json();
    }
    pthread_mutex_unlock(&inj.mu);
    if (rc == 0)
        cf_log(CF_LOG_WARN,
               "fault injection: armed: %s fails with %s %" PRIu64 " times after %" PRIu64 " calls",
               call_names[f.call], errnos[f.err].name, f.times, f.after);
out:
    return rc;
}

enum MHD_Result cf__filer_faults_serve(struct MHD_Connection *c, const char *method,
                                       const char *body, size_t len)
{
    char err[CF_ERR_LEN] = "";
    json_t *list = NULL;
    enum MHD_Result res;
    int rc;

    if (strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
        rc = arm(body, len, &list, err);
        res = rc < 0 ? cf_http_reply_error(c, rc, "%s", err)
                     : cf_http_reply_json(c, MHD_HTTP_CREATED, list);
    } else if (strcmp(method, MHD_HTTP_METHOD_DELETE) == 0) {
        pthread_mutex_lock(&inj.mu);
        inj.n = 0;
        atomic_store_explicit(&armed, 0, memory_order_release);
        pthread_mutex_unlock(&inj.mu);
        cf_log(CF_LOG_WARN, "fault injection: every fault cleared");
        res = cf_http_reply(c, MHD_HTTP_NO_CONTENT, NULL, NULL, 0, NULL);
    } else {
        pthread_mutex_lock(&inj.mu);
        list = list_json();
        pthread_mutex_unlock(&inj.mu);
        res = cf_http_reply_json(c, MHD_HTTP_OK, list);
    }
    return res;
}
