/*
 * jobargs.c -- a job kind's arguments checked against its table (job.h):
 * the one place that says what each argument accepts, for the app (POST
 * /v1/admin/jobs) and the command line alike.
 */
#include "coffer/job.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"

/* Longest value quoted in a message. */
#define QUOTE_MAX 64
/* Doubles with an integer value below this are exact and print as integers. */
#define EXACT_MAX 9007199254740992.0 /* 2^53 */

/* x as the shortest text that reads back as x ("0.1", not
 * "0.10000000000000001"). */
static void format_number(double x, char *buf, size_t cap)
{
    if (isinf(x)) {
        (void)snprintf(buf, cap, "%s", x > 0 ? "inf" : "-inf");
        return;
    }
    if (x == floor(x) && fabs(x) < EXACT_MAX) {
        (void)snprintf(buf, cap, "%.0f", x);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        (void)snprintf(buf, cap, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

void cf_job_arg_describe(const struct cf_job_arg *a, char *buf, size_t cap)
{
    char lo[32], hi[32];
    size_t off = 0;

    format_number(a->min, lo, sizeof(lo));
    format_number(a->max, hi, sizeof(hi));
    switch (a->type) {
    case CF_JOB_ARG_FILER:
        (void)snprintf(buf, cap, "a filer id (1 to %" PRIu32 ")", UINT32_MAX);
        break;
    case CF_JOB_ARG_INT:
        if (isinf(a->max))
            (void)snprintf(buf, cap, "an integer >= %s", lo);
        else
            (void)snprintf(buf, cap, "an integer in [%s, %s]", lo, hi);
        break;
    case CF_JOB_ARG_REAL:
        if (isinf(a->max))
            (void)snprintf(buf, cap, "a number %s %s", a->min_open ? ">" : ">=", lo);
        else
            (void)snprintf(buf, cap, "a number in %c%s, %s%c", a->min_open ? '(' : '[', lo, hi,
                           a->max_open ? ')' : ']');
        break;
    case CF_JOB_ARG_ENUM:
        (void)snprintf(buf, cap, "one of ");
        for (size_t i = 0; a->choices[i] != NULL; i++) {
            off = strlen(buf);
            (void)snprintf(buf + off, cap - off, "%s%s", i ? ", " : "", a->choices[i]);
        }
        break;
    case CF_JOB_ARG_BOOL:
        (void)snprintf(buf, cap, "true or false");
        break;
    }
}

/* Whether x is within a's bounds (INT, REAL). */
static bool in_bounds(const struct cf_job_arg *a, double x)
{
    if (x < a->min || (a->min_open && x == a->min))
        return false;
    if (x > a->max || (a->max_open && x == a->max))
        return false;
    return true;
}

/* Check v against a. On success *out is its canonical value (a new
 * reference); else CF_EINVAL with why (without a's name), where `shown` is
 * how the value was given (JSON text, or the command line's text). */
static int check_value(const struct cf_job_arg *a, const json_t *v, const char *shown, json_t **out,
                       char *why)
{
    char what[160];
    double x = 0;
    bool ok = false;

    *out = NULL;
    switch (a->type) {
    case CF_JOB_ARG_FILER:
        ok = json_is_integer(v) && json_integer_value(v) >= 1 &&
             json_integer_value(v) <= (json_int_t)UINT32_MAX;
        break;
    case CF_JOB_ARG_INT:
        ok = json_is_integer(v) && in_bounds(a, (double)json_integer_value(v));
        break;
    case CF_JOB_ARG_REAL:
        x = json_number_value(v);
        ok = json_is_number(v) && in_bounds(a, x);
        break;
    case CF_JOB_ARG_ENUM:
        for (size_t i = 0; json_is_string(v) && a->choices[i] != NULL && !ok; i++)
            ok = strcmp(json_string_value(v), a->choices[i]) == 0;
        break;
    case CF_JOB_ARG_BOOL:
        ok = json_is_boolean(v);
        break;
    }
    if (!ok) {
        cf_job_arg_describe(a, what, sizeof(what));
        cf_err_set(why, "%.*s is not %s", QUOTE_MAX, shown, what);
    } else if (a->type == CF_JOB_ARG_REAL && x == floor(x) && fabs(x) < EXACT_MAX) {
        /* One spelling per value, so that equal arguments name the same
         * job. */
        *out = json_integer((json_int_t)x);
    } else if (a->type == CF_JOB_ARG_REAL) {
        *out = json_real(x);
    } else {
        *out = json_deep_copy(v);
    }
    return ok ? 0 : CF_EINVAL;
}

int cf_job_arg_parse(const struct cf_job_arg *a, const char *text, json_t **out, char *err)
{
    char quoted[QUOTE_MAX + 3], what[160];
    json_t *v = NULL;
    char *end = NULL;
    int rc = CF_EINVAL;

    *out = NULL;
    (void)snprintf(quoted, sizeof(quoted), "\"%.*s\"", QUOTE_MAX, text);
    errno = 0;
    switch (a->type) {
    case CF_JOB_ARG_FILER:
    case CF_JOB_ARG_INT: {
        long long n = strtoll(text, &end, 10);
        if (errno == 0 && end != text && *end == '\0' && !isspace((unsigned char)text[0]))
            v = json_integer((json_int_t)n);
        break;
    }
    case CF_JOB_ARG_REAL: {
        /* errno is not looked at: ERANGE also means a subnormal result,
         * a number JSON can carry; an overflow is not finite. */
        double x = strtod(text, &end);
        if (end != text && *end == '\0' && !isspace((unsigned char)text[0]) && isfinite(x))
            v = json_real(x);
        break;
    }
    case CF_JOB_ARG_ENUM:
        v = json_string(text);
        break;
    case CF_JOB_ARG_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
            v = json_boolean(text[0] == 't');
        break;
    }
    if (v == NULL) {
        cf_job_arg_describe(a, what, sizeof(what));
        cf_err_set(err, "%s is not %s", quoted, what);
        goto out;
    }
    rc = check_value(a, v, quoted, out, err);
out:
    json_decref(v);
    return rc;
}

/* v as a message quotes it: JSON text, with a real in its shortest form
 * ("0.1", and "5.0" for a whole number, which is not an integer). Caller
 * owns. */
static char *show(const json_t *v)
{
    char buf[48];
    char *text;

    if (!json_is_real(v)) {
        text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        return text != NULL ? text : cf_xstrdup("the value");
    }
    format_number(json_real_value(v), buf, sizeof(buf));
    if (strpbrk(buf, ".en") == NULL && strlen(buf) + 2 < sizeof(buf))
        memcpy(buf + strlen(buf), ".0", 3);
    return cf_xstrdup(buf);
}

/* The entry of name in a[0..n), or NULL. */
static const struct cf_job_arg *find(const struct cf_job_arg *a, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i].name, name) == 0)
            return &a[i];
    return NULL;
}

/* "; the arguments are filer, sample, bw_mbps" into buf. */
static void list_names(const struct cf_job_arg *a, size_t n, char *buf, size_t cap)
{
    size_t off;

    (void)snprintf(buf, cap, "%s", n ? "; the arguments are " : "; this job takes none");
    for (size_t i = 0; i < n; i++) {
        off = strlen(buf);
        (void)snprintf(buf + off, cap - off, "%s%s", i ? ", " : "", a[i].name);
    }
}

int cf_job_args_check(const struct cf_job_arg *a, size_t n, json_t *args, char *err)
{
    char why[CF_ERR_LEN], names[CF_ERR_LEN];
    const char *key;
    json_t *v, *canon = NULL;
    char *shown = NULL;
    int rc = 0;

    if (!json_is_object(args)) {
        rc = CF_EINVAL;
        cf_err_set(err, "args must be a JSON object");
        goto out;
    }
    json_object_foreach(args, key, v)
    {
        if (find(a, n, key) == NULL) {
            rc = CF_EINVAL;
            list_names(a, n, names, sizeof(names));
            cf_err_set(err, "unknown argument \"%.*s\"%s", QUOTE_MAX, key, names);
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        v = json_object_get(args, a[i].name);
        if (v == NULL || json_is_null(v)) {
            if (a[i].def != NULL) {
                rc = cf_job_arg_parse(&a[i], a[i].def, &canon, why);
                if (rc < 0) {
                    /* A bad table: say so rather than refuse every start. */
                    cf_err_set(err, "\"%s\": the default %s", a[i].name, why);
                    goto out;
                }
                (void)json_object_set_new(args, a[i].name, canon);
                canon = NULL;
            } else if (a[i].required) {
                rc = CF_EINVAL;
                cf_err_set(err, "\"%s\" is required (%s)", a[i].name, a[i].help);
                goto out;
            } else if (v != NULL) {
                (void)json_object_del(args, a[i].name);
            }
            continue;
        }
        if (a[i].type == CF_JOB_ARG_FILER && !a[i].required && json_is_integer(v) &&
            json_integer_value(v) == 0) {
            (void)json_object_del(args, a[i].name);
            continue;
        }
        free(shown);
        shown = show(v);
        rc = check_value(&a[i], v, shown, &canon, why);
        if (rc < 0) {
            cf_err_set(err, "\"%s\": %s", a[i].name, why);
            goto out;
        }
        (void)json_object_set_new(args, a[i].name, canon);
        canon = NULL;
    }
    rc = 0;
out:
    free(shown);
    return rc;
}
