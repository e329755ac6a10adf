/*
 * test_jobargs.c -- job arguments checked against a kind's table (job.h
 * cf_job_args_check, cf_job_arg_parse): table-driven cases at every
 * boundary of every type, unknown and missing arguments, the canonical
 * form; then the real kinds (maint.h), where the command line's parse and
 * the app's check must agree on every value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "coffer/err.h"
#include "coffer/job.h"
#include "coffer/maint.h"

static const char *const colors[] = {"red", "green", NULL};

/* One argument of each type, and each way of being optional. */
static const struct cf_job_arg table[] = {
    {.name = "f", .type = CF_JOB_ARG_FILER, .required = true, .help = "a filer"},
    {.name = "g", .type = CF_JOB_ARG_FILER, .help = "another filer"},
    {.name = "n", .type = CF_JOB_ARG_INT, .min = 1, .max = 10, .def = "5", .help = "a count"},
    {.name = "r",
     .type = CF_JOB_ARG_REAL,
     .min = 0,
     .max = 100,
     .min_open = true,
     .def = "100",
     .help = "a percentage"},
    {.name = "c", .type = CF_JOB_ARG_ENUM, .choices = colors, .help = "a colour"},
    CF_JOB_ARG_BW_MBPS,
    {.name = "b", .type = CF_JOB_ARG_BOOL, .help = "a flag"},
};

struct check_case {
    const char *in;   /* args as JSON text */
    const char *want; /* canonical args (JSON_SORT_KEYS text), or NULL: CF_EINVAL */
    const char *msg;  /* on CF_EINVAL, the exact message */
};

/* Check in against t[0..n); compare with the case. */
static void run_case(const struct cf_job_arg *t, size_t n, const struct check_case *c)
{
    json_t *args = json_loads(c->in, JSON_DECODE_ANY, NULL);
    char err[CF_ERR_LEN] = "", *text = NULL;
    int rc;

    assert_non_null(args);
    rc = cf_job_args_check(t, n, args, err);
    if (c->want == NULL) {
        if (rc != CF_EINVAL || strcmp(err, c->msg) != 0)
            fail_msg("%s: rc %d \"%s\", want CF_EINVAL \"%s\"", c->in, rc, err, c->msg);
    } else {
        if (rc != 0)
            fail_msg("%s: rc %d \"%s\", want %s", c->in, rc, err, c->want);
        text = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
        if (strcmp(text, c->want) != 0)
            fail_msg("%s: canonical %s, want %s", c->in, text, c->want);
    }
    free(text);
    json_decref(args);
}

static void test_check_table(void **state)
{
    static const struct check_case cases[] = {
        /* defaults, and what stays absent */
        {"{\"f\":1}", "{\"f\":1,\"n\":5,\"r\":100}", NULL},
        {"{\"f\":1,\"g\":null,\"c\":null,\"bw_mbps\":null}", "{\"f\":1,\"n\":5,\"r\":100}", NULL},
        {"{\"f\":1,\"n\":null}", "{\"f\":1,\"n\":5,\"r\":100}", NULL},
        /* required */
        {"{}", NULL, "\"f\" is required (a filer)"},
        {"{\"f\":null}", NULL, "\"f\" is required (a filer)"},
        /* filer ids: [1, UINT32_MAX]; an optional one of 0 is none */
        {"{\"f\":4294967295}", "{\"f\":4294967295,\"n\":5,\"r\":100}", NULL},
        {"{\"f\":0}", NULL, "\"f\": 0 is not a filer id (1 to 4294967295)"},
        {"{\"f\":4294967296}", NULL, "\"f\": 4294967296 is not a filer id (1 to 4294967295)"},
        {"{\"f\":-1}", NULL, "\"f\": -1 is not a filer id (1 to 4294967295)"},
        {"{\"f\":1.0}", NULL, "\"f\": 1.0 is not a filer id (1 to 4294967295)"},
        {"{\"f\":\"1\"}", NULL, "\"f\": \"1\" is not a filer id (1 to 4294967295)"},
        {"{\"f\":1,\"g\":0}", "{\"f\":1,\"n\":5,\"r\":100}", NULL},
        {"{\"f\":1,\"g\":2}", "{\"f\":1,\"g\":2,\"n\":5,\"r\":100}", NULL},
        {"{\"f\":1,\"g\":-1}", NULL, "\"g\": -1 is not a filer id (1 to 4294967295)"},
        /* booleans */
        {"{\"f\":1,\"b\":true}", "{\"b\":true,\"f\":1,\"n\":5,\"r\":100}", NULL},
        {"{\"f\":1,\"b\":1}", NULL, "\"b\": 1 is not true or false"},
        /* integers: [1, 10] */
        {"{\"f\":1,\"n\":1}", "{\"f\":1,\"n\":1,\"r\":100}", NULL},
        {"{\"f\":1,\"n\":10}", "{\"f\":1,\"n\":10,\"r\":100}", NULL},
        {"{\"f\":1,\"n\":0}", NULL, "\"n\": 0 is not an integer in [1, 10]"},
        {"{\"f\":1,\"n\":11}", NULL, "\"n\": 11 is not an integer in [1, 10]"},
        {"{\"f\":1,\"n\":5.0}", NULL, "\"n\": 5.0 is not an integer in [1, 10]"},
        {"{\"f\":1,\"n\":true}", NULL, "\"n\": true is not an integer in [1, 10]"},
        /* reals: (0, 100]; whole numbers are written as integers */
        {"{\"f\":1,\"r\":100.0}", "{\"f\":1,\"n\":5,\"r\":100}", NULL},
        {"{\"f\":1,\"r\":30.0}", "{\"f\":1,\"n\":5,\"r\":30}", NULL},
        {"{\"f\":1,\"r\":0.5}", "{\"f\":1,\"n\":5,\"r\":0.5}", NULL},
        {"{\"f\":1,\"r\":1e-9}", "{\"f\":1,\"n\":5,\"r\":1.0000000000000001e-9}", NULL},
        {"{\"f\":1,\"r\":0}", NULL, "\"r\": 0 is not a number in (0, 100]"},
        {"{\"f\":1,\"r\":0.0}", NULL, "\"r\": 0.0 is not a number in (0, 100]"},
        {"{\"f\":1,\"r\":-5}", NULL, "\"r\": -5 is not a number in (0, 100]"},
        {"{\"f\":1,\"r\":100.000001}", NULL, "\"r\": 100.000001 is not a number in (0, 100]"},
        {"{\"f\":1,\"r\":\"50\"}", NULL, "\"r\": \"50\" is not a number in (0, 100]"},
        {"{\"f\":1,\"r\":[50]}", NULL, "\"r\": [50] is not a number in (0, 100]"},
        /* enums */
        {"{\"f\":1,\"c\":\"green\"}", "{\"c\":\"green\",\"f\":1,\"n\":5,\"r\":100}", NULL},
        {"{\"f\":1,\"c\":\"blue\"}", NULL, "\"c\": \"blue\" is not one of red, green"},
        {"{\"f\":1,\"c\":\"Red\"}", NULL, "\"c\": \"Red\" is not one of red, green"},
        {"{\"f\":1,\"c\":1}", NULL, "\"c\": 1 is not one of red, green"},
        /* the bandwidth limit: >= 0, no upper bound */
        {"{\"f\":1,\"bw_mbps\":0}", "{\"bw_mbps\":0,\"f\":1,\"n\":5,\"r\":100}", NULL},
        {"{\"f\":1,\"bw_mbps\":0.05}",
         "{\"bw_mbps\":0.050000000000000003,\"f\":1,\"n\":5,\"r\":100}", NULL},
        {"{\"f\":1,\"bw_mbps\":1e300}",
         "{\"bw_mbps\":1.0000000000000001e300,\"f\":1,\"n\":5,\"r\":100}", NULL},
        {"{\"f\":1,\"bw_mbps\":-0.1}", NULL, "\"bw_mbps\": -0.1 is not a number >= 0"},
        /* unknown arguments, and args that are not an object */
        {"{\"f\":1,\"x\":1}", NULL,
         "unknown argument \"x\"; the arguments are f, g, n, r, c, bw_mbps, b"},
        {"{\"f\":1,\"bw\":1}", NULL,
         "unknown argument \"bw\"; the arguments are f, g, n, r, c, bw_mbps, b"},
        {"[1]", NULL, "args must be a JSON object"},
        {"\"f\"", NULL, "args must be a JSON object"},
    };

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++)
        run_case(table, CF_ARRAY_LEN(table), &cases[i]);
}

static void test_check_no_args(void **state)
{
    static const struct check_case cases[] = {
        {"{}", "{}", NULL},
        {"{\"bw_mbps\":1}", NULL, "unknown argument \"bw_mbps\"; this job takes none"},
    };

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++)
        run_case(NULL, 0, &cases[i]);
}

struct parse_case {
    size_t arg;       /* index in table */
    const char *text; /* as given on a command line */
    const char *want; /* its JSON (JSON_ENCODE_ANY), or NULL: CF_EINVAL */
    const char *msg;  /* on CF_EINVAL, the exact message */
};

static void test_parse(void **state)
{
    static const struct parse_case cases[] = {
        {0, "7", "7", NULL},
        {0, "4294967295", "4294967295", NULL},
        {0, "0", NULL, "\"0\" is not a filer id (1 to 4294967295)"},
        {0, "4294967296", NULL, "\"4294967296\" is not a filer id (1 to 4294967295)"},
        {0, "x", NULL, "\"x\" is not a filer id (1 to 4294967295)"},
        {2, "1", "1", NULL},
        {2, "10", "10", NULL},
        {2, "11", NULL, "\"11\" is not an integer in [1, 10]"},
        {2, "3.0", NULL, "\"3.0\" is not an integer in [1, 10]"},
        {2, "", NULL, "\"\" is not an integer in [1, 10]"},
        {2, " 3", NULL, "\" 3\" is not an integer in [1, 10]"},
        {2, "3 ", NULL, "\"3 \" is not an integer in [1, 10]"},
        {2, "99999999999999999999", NULL, "\"99999999999999999999\" is not an integer in [1, 10]"},
        {3, "0.5", "0.5", NULL},
        {3, "100", "100", NULL},
        {3, "1e2", "100", NULL},
        {3, "30.0", "30", NULL},
        {3, "0", NULL, "\"0\" is not a number in (0, 100]"},
        {3, "100.5", NULL, "\"100.5\" is not a number in (0, 100]"},
        {3, "nan", NULL, "\"nan\" is not a number in (0, 100]"},
        {3, "inf", NULL, "\"inf\" is not a number in (0, 100]"},
        {3, "1e999", NULL, "\"1e999\" is not a number in (0, 100]"},
        {3, "50%", NULL, "\"50%\" is not a number in (0, 100]"},
        {4, "red", "\"red\"", NULL},
        {4, "", NULL, "\"\" is not one of red, green"},
        {5, "0", "0", NULL},
        {5, "-1", NULL, "\"-1\" is not a number >= 0"},
        {6, "true", "true", NULL},
        {6, "false", "false", NULL},
        {6, "yes", NULL, "\"yes\" is not true or false"},
        {6, "", NULL, "\"\" is not true or false"},
    };

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++) {
        const struct parse_case *c = &cases[i];
        char err[CF_ERR_LEN] = "", *text = NULL;
        json_t *v = NULL;
        int rc = cf_job_arg_parse(&table[c->arg], c->text, &v, err);

        if (c->want == NULL) {
            if (rc != CF_EINVAL || v != NULL || strcmp(err, c->msg) != 0)
                fail_msg("%s \"%s\": rc %d \"%s\", want \"%s\"", table[c->arg].name, c->text, rc,
                         err, c->msg);
            continue;
        }
        if (rc != 0)
            fail_msg("%s \"%s\": rc %d \"%s\"", table[c->arg].name, c->text, rc, err);
        text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (strcmp(text, c->want) != 0)
            fail_msg("%s \"%s\": %s, want %s", table[c->arg].name, c->text, text, c->want);
        free(text);
        json_decref(v);
    }
}

static void test_describe(void **state)
{
    char buf[160];

    (void)state;
    cf_job_arg_describe(&table[0], buf, sizeof(buf));
    assert_string_equal(buf, "a filer id (1 to 4294967295)");
    cf_job_arg_describe(&table[2], buf, sizeof(buf));
    assert_string_equal(buf, "an integer in [1, 10]");
    cf_job_arg_describe(&table[3], buf, sizeof(buf));
    assert_string_equal(buf, "a number in (0, 100]");
    cf_job_arg_describe(&table[4], buf, sizeof(buf));
    assert_string_equal(buf, "one of red, green");
    cf_job_arg_describe(&table[5], buf, sizeof(buf));
    assert_string_equal(buf, "a number >= 0");
    /* Cut, never overrun. */
    cf_job_arg_describe(&table[3], buf, 8);
    assert_string_equal(buf, "a numbe");
}

/* ---- the real kinds ---- */

/* Canonical text of args_json for kind k, or NULL (and err) if refused. */
static char *canon(const struct cf_job_kind *k, const char *args_json, char *err)
{
    json_t *args = json_loads(args_json, 0, NULL);
    char *text = NULL;

    assert_non_null(args);
    if (cf_job_args_check(k->args, k->nargs, args, err) == 0)
        text = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(args);
    return text;
}

static void expect_canon(const struct cf_job_kind *k, const char *in, const char *want)
{
    char err[CF_ERR_LEN] = "", *got = canon(k, in, err);

    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s %s: %s (%s), want %s", k->name, in, got ? got : "refused", err, want);
    free(got);
}

static void expect_refused(const struct cf_job_kind *k, const char *in, const char *msg)
{
    char err[CF_ERR_LEN] = "", *got = canon(k, in, err);

    if (got != NULL || strcmp(err, msg) != 0)
        fail_msg("%s %s: %s \"%s\", want refused \"%s\"", k->name, in, got ? got : "refused", err,
                 msg);
    free(got);
}

static void test_kinds(void **state)
{
    (void)state;
    assert_string_equal(cf_maint_kinds[0]->name, "rebuild");
    assert_string_equal(cf_maint_kinds[1]->name, "rebalance");
    assert_string_equal(cf_maint_kinds[2]->name, "audit");
    assert_string_equal(cf_maint_kinds[3]->name, "dedupe");
    /* The same forms the jobs table has always held, so that a job
     * stopped before resumes after. */
    expect_canon(&cf_job_rebuild, "{\"filer\":3}", "{\"filer\":3,\"method\":\"index\"}");
    expect_canon(&cf_job_rebuild, "{\"filer\":3,\"to\":null,\"method\":\"scan\"}",
                 "{\"filer\":3,\"method\":\"scan\"}");
    expect_canon(&cf_job_rebuild, "{\"filer\":3,\"to\":4,\"bw_mbps\":1.0}",
                 "{\"bw_mbps\":1,\"filer\":3,\"method\":\"index\",\"to\":4}");
    expect_refused(&cf_job_rebuild, "{}", "\"filer\" is required (the filer to rebuild)");
    expect_refused(&cf_job_rebuild, "{\"filer\":3,\"method\":\"fast\"}",
                   "\"method\": \"fast\" is not one of index, scan");
    expect_canon(&cf_job_rebalance, "{}", "{\"tolerance\":0.10000000000000001}");
    expect_canon(&cf_job_rebalance, "{\"tolerance\":0.25}", "{\"tolerance\":0.25}");
    expect_refused(&cf_job_rebalance, "{\"tolerance\":1}",
                   "\"tolerance\": 1 is not a number in (0, 1)");
    expect_refused(&cf_job_rebalance, "{\"tolerance\":0}",
                   "\"tolerance\": 0 is not a number in (0, 1)");
    /* {} and {"sample":100,"filer":0} name the same audit. */
    expect_canon(&cf_job_audit, "{}", "{\"sample\":100}");
    expect_canon(&cf_job_audit, "{\"sample\":100,\"filer\":0}", "{\"sample\":100}");
    expect_canon(&cf_job_audit, "{\"sample\":30.0}", "{\"sample\":30}");
    /* A percentage, to a fraction of one. */
    expect_canon(&cf_job_audit, "{\"sample\":0.5,\"filer\":2}", "{\"filer\":2,\"sample\":0.5}");
    expect_refused(&cf_job_audit, "{\"sample\":0}", "\"sample\": 0 is not a number in (0, 100]");
    expect_refused(&cf_job_audit, "{\"sample\":101}",
                   "\"sample\": 101 is not a number in (0, 100]");
    expect_canon(&cf_job_dedupe, "{}", "{}");
    expect_refused(&cf_job_dedupe, "{\"bw_mbps\":1}",
                   "unknown argument \"bw_mbps\"; this job takes none");
}

/* Every table is well formed: within CF_JOB_ARGS_MAX, options unique,
 * defaults valid (and none for a filer id, whose default is "none"). */
static void test_tables(void **state)
{
    (void)state;
    for (size_t k = 0; k < CF_MAINT_NKINDS; k++) {
        const struct cf_job_kind *kind = cf_maint_kinds[k];
        assert_true(kind->nargs <= CF_JOB_ARGS_MAX);
        for (size_t i = 0; i < kind->nargs; i++) {
            const struct cf_job_arg *a = &kind->args[i];
            const char *oi = a->option ? a->option : a->name;
            assert_non_null(a->help);
            if (a->type == CF_JOB_ARG_ENUM)
                assert_non_null(a->choices);
            if (a->type == CF_JOB_ARG_FILER)
                assert_null(a->def);
            if (a->def != NULL) {
                char err[CF_ERR_LEN] = "";
                json_t *v = NULL;
                if (cf_job_arg_parse(a, a->def, &v, err) != 0)
                    fail_msg("%s --%s: default \"%s\": %s", kind->name, oi, a->def, err);
                json_decref(v);
            }
            for (size_t j = 0; j < i; j++) {
                const struct cf_job_arg *b = &kind->args[j];
                assert_string_not_equal(a->name, b->name);
                assert_string_not_equal(oi, b->option ? b->option : b->name);
            }
        }
    }
}

/* The command line and the app agree: for every number argument of every
 * kind and values on both sides of each bound, parsing the value's text
 * (the CLI) accepts exactly what checking its JSON (the app) accepts, with
 * the same canonical value. */
static void test_cli_and_app_agree(void **state)
{
    (void)state;
    for (size_t k = 0; k < CF_MAINT_NKINDS; k++) {
        const struct cf_job_kind *kind = cf_maint_kinds[k];
        for (size_t i = 0; i < kind->nargs; i++) {
            const struct cf_job_arg *a = &kind->args[i];
            double probes[32];
            size_t np = 0;
            if (a->type != CF_JOB_ARG_REAL && a->type != CF_JOB_ARG_INT)
                continue;
            for (int s = 0; s < 2; s++) {
                double b = s == 0 ? a->min : a->max;
                if (isinf(b))
                    continue;
                probes[np++] = b;
                probes[np++] = nextafter(b, INFINITY);
                probes[np++] = nextafter(b, -INFINITY);
                probes[np++] = b + 1;
                probes[np++] = b - 1;
                probes[np++] = b + 0.5;
            }
            probes[np++] = 0;
            probes[np++] = -1;
            probes[np++] = 1e300;
            probes[np++] = (a->min + (isinf(a->max) ? a->min + 10 : a->max)) / 2;
            for (size_t p = 0; p < np; p++) {
                char text[64], err1[CF_ERR_LEN] = "", err2[CF_ERR_LEN] = "";
                json_t *cli = NULL, *app = NULL;
                int rc1, rc2;
                if (a->type == CF_JOB_ARG_INT &&
                    (probes[p] != floor(probes[p]) || fabs(probes[p]) > 1e15))
                    continue;
                app = json_object();
                (void)snprintf(text, sizeof(text), "%.17g", probes[p]);
                rc1 = cf_job_arg_parse(a, text, &cli, err1);
                /* What an API client would send for that text. */
                (void)json_object_set_new(
                    app, a->name,
                    a->type == CF_JOB_ARG_INT ||
                            (probes[p] == floor(probes[p]) && fabs(probes[p]) < 1e15)
                        ? json_integer((json_int_t)probes[p])
                        : json_real(probes[p]));
                rc2 = cf_job_args_check(&kind->args[i], 1, app, err2);
                if (rc1 != rc2)
                    fail_msg("%s %s=%s: the CLI says %d (%s), the app %d (%s)", kind->name, a->name,
                             text, rc1, err1, rc2, err2);
                if (rc1 == 0 && !json_equal(cli, json_object_get(app, a->name)))
                    fail_msg("%s %s=%s: canonical values differ", kind->name, a->name, text);
                json_decref(cli);
                json_decref(app);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_table),
        cmocka_unit_test(test_check_no_args),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_cli_and_app_agree),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
