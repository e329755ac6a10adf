/*
 * test_err.c -- unit tests for err.h: every code has a distinct name, a
 * message and a 4xx/5xx status; the statuses clients rely on, spelled out;
 * the errno mapping; cf_err_set truncation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "coffer/err.h"

/* What the X-macro list says, captured independently of err.c's switches. */
struct err_entry {
    int code;
    const char *name;
    int status;
};

static const struct err_entry entries[] = {
#define XX(name, status, msg) {CF_##name, #name, status},
    CF_ERR_MAP(XX)
#undef XX
};

static void test_every_code(void **state)
{
    size_t n = 0;

    (void)state;
    for (int code = CF_ERR_FIRST_ + 1; code < CF_ERR_LAST_; code++) {
        const char *name = cf_err_name(code);
        const char *msg = cf_strerror(code);
        int status = cf_err_http_status(code);

        n++;
        assert_true(code < 0);
        if (strcmp(name, "EUNKNOWN") == 0 || name[0] != 'E')
            fail_msg("code %d has no name (%s)", code, name);
        if (msg[0] == '\0' || strcmp(msg, "unknown error") == 0)
            fail_msg("code %d (%s) has no message", code, name);
        if (status < 400 || status > 599)
            fail_msg("code %d (%s) has status %d", code, name, status);
        /* Names are distinct. */
        for (int other = CF_ERR_FIRST_ + 1; other < code; other++)
            if (strcmp(cf_err_name(other), name) == 0)
                fail_msg("codes %d and %d share the name %s", other, code, name);
    }
    assert_int_equal(n, CF_ARRAY_LEN(entries));
    assert_true(n >= 20);
    /* The generated functions agree with the list, entry by entry. */
    for (size_t i = 0; i < CF_ARRAY_LEN(entries); i++) {
        assert_string_equal(cf_err_name(entries[i].code), entries[i].name);
        assert_int_equal(cf_err_http_status(entries[i].code), entries[i].status);
    }
}

struct status_case {
    int code;
    int status;
    const char *name;
};

static void test_status_spot_checks(void **state)
{
    static const struct status_case cases[] = {
        {CF_EINVAL, 400, "EINVAL"},       {CF_EBADREQ, 400, "EBADREQ"},
        {CF_EBADPATH, 400, "EBADPATH"},   {CF_EPERM, 403, "EPERM"},
        {CF_ENOTFOUND, 404, "ENOTFOUND"}, {CF_EMETHOD, 405, "EMETHOD"},
        {CF_EEXIST, 409, "EEXIST"},       {CF_ELENGTH, 411, "ELENGTH"},
        {CF_ETOOLARGE, 413, "ETOOLARGE"}, {CF_ERANGE, 416, "ERANGE"},
        {CF_ECHECKSUM, 422, "ECHECKSUM"}, {CF_EHDRTOOLARGE, 431, "EHDRTOOLARGE"},
        {CF_EINTERNAL, 500, "EINTERNAL"}, {CF_EIO, 500, "EIO"},
        {CF_EUNAVAIL, 503, "EUNAVAIL"},   {CF_EREADONLY, 503, "EREADONLY"},
        {CF_ETIMEDOUT, 504, "ETIMEDOUT"}, {CF_ENOSPC, 507, "ENOSPC"},
    };

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++) {
        assert_int_equal(cf_err_http_status(cases[i].code), cases[i].status);
        assert_string_equal(cf_err_name(cases[i].code), cases[i].name);
    }
    assert_string_equal(cf_strerror(CF_ENOTFOUND), "not found");
}

static void test_ok_and_unknown(void **state)
{
    static const int unknown[] = {-1, -2, CF_ERR_FIRST_, CF_ERR_LAST_, INT_MIN, -100000};

    (void)state;
    assert_int_equal(CF_OK, 0);
    assert_string_equal(cf_err_name(CF_OK), "OK");
    assert_int_equal(cf_err_http_status(CF_OK), 200);
    /* Non-negative counts are success. */
    assert_int_equal(cf_err_http_status(1), 200);
    assert_int_equal(cf_err_http_status(INT_MAX), 200);
    for (size_t i = 0; i < CF_ARRAY_LEN(unknown); i++) {
        assert_string_equal(cf_err_name(unknown[i]), "EUNKNOWN");
        assert_string_equal(cf_strerror(unknown[i]), "unknown error");
        assert_int_equal(cf_err_http_status(unknown[i]), 500);
    }
}

struct errno_case {
    int e;
    int want;
};

static void test_from_errno(void **state)
{
    static const struct errno_case cases[] = {
        {ENOENT, CF_ENOTFOUND},
        {ENOSPC, CF_ENOSPC},
        {EDQUOT, CF_ENOSPC},
        {EFBIG, CF_ENOSPC},
        {EEXIST, CF_EEXIST},
        {EROFS, CF_EREADONLY},
        {ENAMETOOLONG, CF_EBADPATH},
        {ENOMEM, CF_ENOMEM},
        {EACCES, CF_EPERM},
        {EPERM, CF_EPERM},
        {ETIMEDOUT, CF_ETIMEDOUT},
        /* everything else is an I/O error */
        {EIO, CF_EIO},
        {EBADF, CF_EIO},
        {EINVAL, CF_EIO},
        {ENOTDIR, CF_EIO},
        {EISDIR, CF_EIO},
        {EXDEV, CF_EIO},
        {99999, CF_EIO},
        {-5, CF_EIO},
    };

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++) {
        int got = cf_err_from_errno(cases[i].e);
        if (got != cases[i].want)
            fail_msg("errno %d (%s): got %s, want %s", cases[i].e, strerror(cases[i].e),
                     cf_err_name(got), cf_err_name(cases[i].want));
    }
}

static void test_err_set(void **state)
{
    char err[CF_ERR_LEN + 16];
    char long_arg[CF_ERR_LEN * 2];

    (void)state;
    cf_err_set(NULL, "ignored %d", 1); /* NULL is allowed */
    cf_err_set(err, "key %s: %d", "port", 7);
    assert_string_equal(err, "key port: 7");
    /* Truncated to CF_ERR_LEN including the NUL; nothing written past it. */
    memset(long_arg, 'x', sizeof(long_arg) - 1);
    long_arg[sizeof(long_arg) - 1] = '\0';
    memset(err, '#', sizeof(err));
    cf_err_set(err, "%s", long_arg);
    assert_int_equal(strlen(err), CF_ERR_LEN - 1);
    for (size_t i = CF_ERR_LEN; i < sizeof(err); i++)
        assert_int_equal(err[i], '#');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code),     cmocka_unit_test(test_status_spot_checks),
        cmocka_unit_test(test_ok_and_unknown), cmocka_unit_test(test_from_errno),
        cmocka_unit_test(test_err_set),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
