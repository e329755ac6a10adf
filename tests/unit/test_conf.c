/*
 * test_conf.c -- unit tests for conf.h: one table with every option type,
 * each source (default, file, environment, argv) alone and in every
 * precedence combination, the errors (unknown key, bounds quoted, malformed
 * values) and cf_conf_parse_size's table of sizes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/conf.h"
#include "coffer/err.h"

struct tconf {
    char *name;
    char *dir;
    uint64_t port;
    uint64_t capacity;
    bool read_only;
    bool verbose;
};

#define KIB UINT64_C(1024)
#define GIB (KIB * KIB * KIB)
#define TIB (GIB * KIB)

static const struct cf_conf_opt opts[] = {
    {"name", CF_CONF_STR, "node", 0, 0, offsetof(struct tconf, name), "node name", false},
    {"dir", CF_CONF_STR, NULL, 0, 0, offsetof(struct tconf, dir), "data directory", false},
    {"port", CF_CONF_U64, "8301", 1, 65535, offsetof(struct tconf, port), "TCP port", false},
    {"capacity", CF_CONF_SIZE, "1G", KIB, TIB, offsetof(struct tconf, capacity), "bytes", true},
    {"read-only", CF_CONF_BOOL, "false", 0, 0, offsetof(struct tconf, read_only), "refuse writes",
     true},
    {"verbose", CF_CONF_BOOL, "no", 0, 0, offsetof(struct tconf, verbose), "log more", true},
};
#define NOPTS CF_ARRAY_LEN(opts)

static const char *const env_names[] = {"COFFER_NAME",      "COFFER_DIR",       "COFFER_PORT",
                                        "COFFER_CAPACITY",  "COFFER_READ_ONLY", "COFFER_VERBOSE",
                                        "COFFER_READ-ONLY", "COFFER_CONFIG"};

static char conf_path[64];

static void clear_env(void)
{
    for (size_t i = 0; i < CF_ARRAY_LEN(env_names); i++)
        unsetenv(env_names[i]);
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    conf_path[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clear_env();
    if (conf_path[0] != '\0')
        unlink(conf_path);
    conf_path[0] = '\0';
    return 0;
}

/* Write text to a new temp file; its name goes to conf_path (removed by teardown). */
static const char *write_conf(const char *text)
{
    int fd;
    size_t len = strlen(text);

    if (conf_path[0] != '\0')
        unlink(conf_path);
    snprintf(conf_path, sizeof(conf_path), "/tmp/coffer-test-conf.XXXXXX");
    fd = mkstemp(conf_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
    return conf_path;
}

/* cf_conf_load on a zeroed struct with argv given as a NULL-terminated list. */
static int load(struct tconf *c, char *err, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;

    memset(c, 0, sizeof(*c));
    va_start(ap, err);
    for (;;) {
        char *a = va_arg(ap, char *);
        if (a == NULL)
            break;
        assert_true(argc < 31);
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    if (err != NULL)
        err[0] = '\0';
    return cf_conf_load(opts, NOPTS, c, argc, argv, "usage: test [options]", err);
}

static void test_defaults(void **state)
{
    struct tconf c;

    (void)state;
    assert_int_equal(load(&c, NULL, NULL), 0);
    assert_string_equal(c.name, "node");
    assert_null(c.dir); /* NULL default: unset */
    assert_int_equal(c.port, 8301);
    assert_int_equal(c.capacity, GIB);
    assert_false(c.read_only);
    assert_false(c.verbose);
    cf_conf_fini(opts, NOPTS, &c);
}

static void test_argv_forms(void **state)
{
    struct tconf c;
    char err[CF_ERR_LEN];

    (void)state;
    assert_int_equal(
        load(&c, err, "--port=9000", "--name", "alpha", "--dir=/srv/x", "--capacity", "10G", NULL),
        0);
    assert_int_equal(c.port, 9000);
    assert_string_equal(c.name, "alpha");
    assert_string_equal(c.dir, "/srv/x");
    assert_int_equal(c.capacity, 10 * GIB);
    cf_conf_fini(opts, NOPTS, &c);

    /* A bare bool is true; an explicit value works both ways. */
    assert_int_equal(load(&c, err, "--read-only", "--verbose=yes", NULL), 0);
    assert_true(c.read_only);
    assert_true(c.verbose);
    cf_conf_fini(opts, NOPTS, &c);
    assert_int_equal(load(&c, err, "--read-only=false", "--verbose=0", NULL), 0);
    assert_false(c.read_only);
    assert_false(c.verbose);
    cf_conf_fini(opts, NOPTS, &c);

    /* The last occurrence wins, and replaced strings are freed (ASan). */
    assert_int_equal(load(&c, err, "--name=a", "--name=b", "--name", "c", NULL), 0);
    assert_string_equal(c.name, "c");
    cf_conf_fini(opts, NOPTS, &c);

    /* An empty value is a value; '=' inside a value is kept. */
    assert_int_equal(load(&c, err, "--name=", "--dir=a=b", NULL), 0);
    assert_string_equal(c.name, "");
    assert_string_equal(c.dir, "a=b");
    cf_conf_fini(opts, NOPTS, &c);
}

struct bool_case {
    const char *v;
    int rc;
    bool want;
};

static void test_bool_values(void **state)
{
    static const struct bool_case cases[] = {
        {"true", 0, true},
        {"yes", 0, true},
        {"1", 0, true},
        {"on", 0, true},
        {"false", 0, false},
        {"no", 0, false},
        {"0", 0, false},
        {"off", 0, false},
        {"", CF_EINVAL, false},
        {"maybe", CF_EINVAL, false},
        {"2", CF_EINVAL, false},
        {"truex", CF_EINVAL, false},
        {" true", CF_EINVAL, false},
    };
    struct tconf c;
    char arg[64], err[CF_ERR_LEN];

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++) {
        int rc;
        snprintf(arg, sizeof(arg), "--read-only=%s", cases[i].v);
        rc = load(&c, err, arg, NULL);
        if (rc != cases[i].rc)
            fail_msg("%s: got %d, want %d", arg, rc, cases[i].rc);
        if (rc == 0 && c.read_only != cases[i].want)
            fail_msg("%s: got %d", arg, c.read_only);
        if (rc < 0 && strstr(err, "read-only") == NULL)
            fail_msg("%s: error does not name the key: %s", arg, err);
        cf_conf_fini(opts, NOPTS, &c);
    }
}

static void test_env(void **state)
{
    struct tconf c;
    char err[CF_ERR_LEN];

    (void)state;
    setenv("COFFER_PORT", "7000", 1);
    setenv("COFFER_READ_ONLY", "yes", 1); /* '-' becomes '_' */
    setenv("COFFER_NAME", "envname", 1);
    setenv("COFFER_CAPACITY", "512G", 1);
    assert_int_equal(load(&c, err, NULL), 0);
    assert_int_equal(c.port, 7000);
    assert_true(c.read_only);
    assert_string_equal(c.name, "envname");
    assert_int_equal(c.capacity, 512 * GIB);
    cf_conf_fini(opts, NOPTS, &c);
}

static void test_env_errors(void **state)
{
    struct tconf c;
    char err[CF_ERR_LEN];

    (void)state;
    setenv("COFFER_PORT", "abc", 1);
    assert_int_equal(load(&c, err, NULL), CF_EINVAL);
    assert_non_null(strstr(err, "COFFER_PORT"));
    cf_conf_fini(opts, NOPTS, &c);
    setenv("COFFER_PORT", "70000", 1);
    assert_int_equal(load(&c, err, NULL), CF_EINVAL);
    assert_non_null(strstr(err, "65535"));
    cf_conf_fini(opts, NOPTS, &c);
    /* Only the exact spelling counts. */
    unsetenv("COFFER_PORT");
    setenv("COFFER_READ-ONLY", "yes", 1);
    assert_int_equal(load(&c, err, NULL), 0);
    assert_false(c.read_only);
    cf_conf_fini(opts, NOPTS, &c);
}

static void test_file(void **state)
{
    struct tconf c;
    char err[CF_ERR_LEN], arg[128];
    const char *path;

    (void)state;
    path = write_conf("# a comment\n"
                      "\n"
                      "   \n"
                      "port = 1234\n"
                      "  name=filex  \n"
                      "capacity\t=\t2M\n"
                      "read-only = on\n"
                      "dir = /data/with space\n"
                      "  # indented comment\n"
                      "verbose = true"); /* no final newline */
    assert_int_equal(load(&c, err, "--config", path, NULL), 0);
    assert_int_equal(c.port, 1234);
    assert_string_equal(c.name, "filex");
    assert_int_equal(c.capacity, 2 * KIB * KIB);
    assert_true(c.read_only);
    assert_string_equal(c.dir, "/data/with space");
    assert_true(c.verbose);
    cf_conf_fini(opts, NOPTS, &c);

    snprintf(arg, sizeof(arg), "--config=%s", path);
    assert_int_equal(load(&c, err, arg, NULL), 0);
    assert_int_equal(c.port, 1234);
    cf_conf_fini(opts, NOPTS, &c);

    /* --config may come after the options it is overridden by. */
    assert_int_equal(load(&c, err, "--port=5", "--config", path, NULL), 0);
    assert_int_equal(c.port, 5);
    assert_string_equal(c.name, "filex");
    cf_conf_fini(opts, NOPTS, &c);
}

struct file_error_case {
    const char *text;
    const char *in_err; /* a substring the message must contain */
};

static void test_file_errors(void **state)
{
    static const struct file_error_case cases[] = {
        {"nope = 1\n", "nope"},      {"port = 1\nnope = 1\n", ":2"}, /* the line number */
        {"port 1\n", "key = value"}, {"port = 0\n", "65535"},
        {"port = x\n", "port"},      {"read-only = perhaps\n", "read-only"},
        {"capacity = 1\n", "1024"},
    };
    struct tconf c;
    char err[CF_ERR_LEN];

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++) {
        const char *path = write_conf(cases[i].text);
        int rc = load(&c, err, "--config", path, NULL);
        if (rc != CF_EINVAL)
            fail_msg("case %zu: got %d, want CF_EINVAL", i, rc);
        if (strstr(err, cases[i].in_err) == NULL)
            fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].in_err, err);
        cf_conf_fini(opts, NOPTS, &c);
    }
    /* A missing file. */
    assert_int_equal(load(&c, err, "--config", "/nonexistent/coffer.conf", NULL), CF_EINVAL);
    assert_non_null(strstr(err, "/nonexistent/coffer.conf"));
    cf_conf_fini(opts, NOPTS, &c);
}

/* default < file < env < argv, every combination of the three sources. */
static void test_precedence(void **state)
{
    struct tconf c;
    char err[CF_ERR_LEN];
    const char *path = write_conf("port = 1000\nname = fromfile\n");

    (void)state;
    for (int mask = 0; mask < 8; mask++) {
        bool file = mask & 1, env = mask & 2, arg = mask & 4;
        uint64_t want = arg ? 3000 : env ? 2000 : file ? 1000 : 8301;
        int rc;

        if (env)
            setenv("COFFER_PORT", "2000", 1);
        else
            unsetenv("COFFER_PORT");
        if (file && arg)
            rc = load(&c, err, "--config", path, "--port=3000", NULL);
        else if (file)
            rc = load(&c, err, "--config", path, NULL);
        else if (arg)
            rc = load(&c, err, "--port=3000", NULL);
        else
            rc = load(&c, err, NULL);
        assert_int_equal(rc, 0);
        if (c.port != want)
            fail_msg("file=%d env=%d argv=%d: port %llu, want %llu", file, env, arg,
                     (unsigned long long)c.port, (unsigned long long)want);
        /* A key set only in the file survives the other sources. */
        assert_string_equal(c.name, file ? "fromfile" : "node");
        cf_conf_fini(opts, NOPTS, &c);
    }
}

static void test_argv_errors(void **state)
{
    struct tconf c;
    char err[CF_ERR_LEN];

    (void)state;
    assert_int_equal(load(&c, err, "--nope=1", NULL), CF_EINVAL);
    assert_non_null(strstr(err, "nope"));
    cf_conf_fini(opts, NOPTS, &c);
    assert_int_equal(load(&c, err, "--nope", NULL), CF_EINVAL);
    cf_conf_fini(opts, NOPTS, &c);
    /* A prefix of a key is not the key. */
    assert_int_equal(load(&c, err, "--por=1", NULL), CF_EINVAL);
    cf_conf_fini(opts, NOPTS, &c);
    assert_int_equal(load(&c, err, "--port", NULL), CF_EINVAL);
    assert_non_null(strstr(err, "port"));
    cf_conf_fini(opts, NOPTS, &c);
    assert_int_equal(load(&c, err, "port=1", NULL), CF_EINVAL);
    cf_conf_fini(opts, NOPTS, &c);
    assert_int_equal(load(&c, err, "-p", NULL), CF_EINVAL);
    cf_conf_fini(opts, NOPTS, &c);
    /* --config needs a value, like every other option. */
    assert_int_equal(load(&c, err, "--config", NULL), CF_EINVAL);
    assert_non_null(strstr(err, "config"));
    cf_conf_fini(opts, NOPTS, &c);
    /* err may be NULL. */
    assert_int_equal(load(&c, NULL, "--nope", NULL), CF_EINVAL);
    cf_conf_fini(opts, NOPTS, &c);
}

struct bound_case {
    const char *arg;
    int rc;
    uint64_t port, capacity; /* when rc == 0 */
    const char *in_err;      /* when rc < 0 */
};

static void test_bounds_and_numbers(void **state)
{
    static const struct bound_case cases[] = {
        {"--port=1", 0, 1, GIB, NULL},
        {"--port=65535", 0, 65535, GIB, NULL},
        {"--port=0", CF_EINVAL, 0, 0, "[1, 65535]"},
        {"--port=65536", CF_EINVAL, 0, 0, "[1, 65535]"},
        {"--port=18446744073709551615", CF_EINVAL, 0, 0, "[1, 65535]"},
        {"--port=18446744073709551616", CF_EINVAL, 0, 0, "port"},
        {"--port=abc", CF_EINVAL, 0, 0, "port"},
        {"--port=-1", CF_EINVAL, 0, 0, "port"},
        {"--port=+1", CF_EINVAL, 0, 0, "port"},
        {"--port= 1", CF_EINVAL, 0, 0, "port"},
        {"--port=1 ", CF_EINVAL, 0, 0, "port"},
        {"--port=1x", CF_EINVAL, 0, 0, "port"},
        {"--port=0x10", CF_EINVAL, 0, 0, "port"},
        {"--port=", CF_EINVAL, 0, 0, "port"},
        {"--port=1K", CF_EINVAL, 0, 0, "port"}, /* a U64 takes no suffix */
        {"--capacity=1K", 0, 8301, KIB, NULL},  /* exactly the minimum */
        {"--capacity=1024", 0, 8301, KIB, NULL},
        {"--capacity=1023", CF_EINVAL, 0, 0, "[1024, 1099511627776]"},
        {"--capacity=1T", 0, 8301, TIB, NULL}, /* exactly the maximum */
        {"--capacity=1099511627776", 0, 8301, TIB, NULL},
        {"--capacity=1099511627777", CF_EINVAL, 0, 0, "1099511627776"},
        {"--capacity=1025G", CF_EINVAL, 0, 0, "1099511627776"},
        {"--capacity=10Q", CF_EINVAL, 0, 0, "capacity"},
        {"--capacity=", CF_EINVAL, 0, 0, "capacity"},
    };
    struct tconf c;
    char err[CF_ERR_LEN];

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++) {
        const struct bound_case *k = &cases[i];
        int rc = load(&c, err, k->arg, NULL);
        if (rc != k->rc)
            fail_msg("%s: got %d, want %d (%s)", k->arg, rc, k->rc, err);
        if (rc == 0 && (c.port != k->port || c.capacity != k->capacity))
            fail_msg("%s: port %llu capacity %llu", k->arg, (unsigned long long)c.port,
                     (unsigned long long)c.capacity);
        if (rc < 0 && strstr(err, k->in_err) == NULL)
            fail_msg("%s: \"%s\" not in \"%s\"", k->arg, k->in_err, err);
        cf_conf_fini(opts, NOPTS, &c);
    }
}

struct size_case {
    const char *s;
    int rc;
    uint64_t v;
};

static void test_parse_size(void **state)
{
    static const struct size_case cases[] = {
        {"0", 0, 0},
        {"1", 0, 1},
        {"007", 0, 7},
        {"1k", 0, KIB},
        {"1K", 0, KIB},
        {"1KB", 0, KIB},
        {"1KiB", 0, KIB},
        {"1kib", 0, KIB},
        {"3M", 0, 3 * KIB * KIB},
        {"1G", 0, GIB},
        {"10G", 0, 10 * GIB},
        {"1T", 0, TIB},
        {"0T", 0, 0},
        {"18446744073709551615", 0, UINT64_MAX},
        {"18446744073709551616", CF_EINVAL, 0},
        {"99999999999999999999999", CF_EINVAL, 0},
        {"16777215T", 0, UINT64_C(16777215) * TIB},
        {"16777216T", CF_EINVAL, 0}, /* 2^64 */
        {"17179869183G", 0, UINT64_C(17179869183) * GIB},
        {"17179869184G", CF_EINVAL, 0},
        {"18014398509481983K", 0, UINT64_C(18014398509481983) * KIB},
        {"18014398509481984K", CF_EINVAL, 0},
        {"", CF_EINVAL, 0},
        {"K", CF_EINVAL, 0},
        {"G1", CF_EINVAL, 0},
        {"-1", CF_EINVAL, 0},
        {"+1", CF_EINVAL, 0},
        {" 1", CF_EINVAL, 0},
        {"1 ", CF_EINVAL, 0},
        {"1 K", CF_EINVAL, 0},
        {"1.5G", CF_EINVAL, 0},
        {"1KK", CF_EINVAL, 0},
        {"1Kx", CF_EINVAL, 0},
        {"1KBB", CF_EINVAL, 0},
        {"1KiBx", CF_EINVAL, 0},
        {"1P", CF_EINVAL, 0},
        {"1x", CF_EINVAL, 0},
        {"0x10", CF_EINVAL, 0},
        {"1\n", CF_EINVAL, 0},
    };

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++) {
        uint64_t v = 0x1234;
        int rc = cf_conf_parse_size(cases[i].s, &v);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": got %d, want %d", cases[i].s, rc, cases[i].rc);
        if (rc == 0 && v != cases[i].v)
            fail_msg("\"%s\": got %llu, want %llu", cases[i].s, (unsigned long long)v,
                     (unsigned long long)cases[i].v);
        if (rc < 0 && v != 0x1234)
            fail_msg("\"%s\": out written on failure", cases[i].s);
    }
}

/* Run cf_conf_load with stdout sent to a temp file; return what it printed
 * (caller frees). */
static char *load_capture(int *rc_out, const char *arg)
{
    struct tconf c;
    char path[] = "/tmp/coffer-test-out.XXXXXX";
    char *text;
    int fd, saved;
    long n;
    FILE *f;

    fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDOUT_FILENO) >= 0);
    *rc_out = load(&c, NULL, "--port=42", arg, NULL);
    fflush(stdout);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    close(fd);
    cf_conf_fini(opts, NOPTS, &c);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    unlink(path);
    return text;
}

static void test_help_and_print(void **state)
{
    char *out;
    int rc;

    (void)state;
    out = load_capture(&rc, "--help");
    assert_int_equal(rc, CF_CONF_EXIT_HELP);
    assert_non_null(strstr(out, "usage: test [options]"));
    for (size_t i = 0; i < NOPTS; i++) {
        assert_non_null(strstr(out, opts[i].name));
        assert_non_null(strstr(out, opts[i].help));
    }
    free(out);

    out = load_capture(&rc, "-h");
    assert_int_equal(rc, CF_CONF_EXIT_HELP);
    free(out);

    out = load_capture(&rc, "--print-config");
    assert_int_equal(rc, CF_CONF_EXIT_PRINT);
    assert_string_equal(out, "--name=node\n"
                             "--dir=\n"
                             "--port=42\n"
                             "--capacity=1073741824\n"
                             "--read-only=false\n"
                             "--verbose=false\n");
    free(out);
}

static void test_fini(void **state)
{
    struct tconf c;

    (void)state;
    assert_int_equal(load(&c, NULL, "--name=x", "--dir=y", NULL), 0);
    cf_conf_fini(opts, NOPTS, &c);
    assert_null(c.name);
    assert_null(c.dir);
    cf_conf_fini(opts, NOPTS, &c); /* idempotent */
    /* After a failed load too: the default strings are freed (ASan checks leaks). */
    assert_int_equal(load(&c, NULL, "--name=x", "--port=0", NULL), CF_EINVAL);
    cf_conf_fini(opts, NOPTS, &c);
    assert_null(c.name);
}

/* An embedding caller (coffer server): the table's defaults whatever the
 * environment says, then settings by name with the command line's checks. */
static void test_defaults_and_set(void **state)
{
    struct tconf c = {0};
    char err[CF_ERR_LEN] = "";

    (void)state;
    assert_int_equal(setenv("COFFER_PORT", "9999", 1), 0);
    assert_int_equal(cf_conf_defaults(opts, NOPTS, &c, err), 0);
    assert_int_equal(c.port, 8301);
    assert_string_equal(c.name, "node");
    assert_int_equal(cf_conf_set(opts, NOPTS, &c, "name", "other", err), 0);
    assert_string_equal(c.name, "other");
    assert_int_equal(cf_conf_set(opts, NOPTS, &c, "capacity", "2G", err), 0);
    assert_int_equal(c.capacity, 2 * GIB);
    assert_int_equal(cf_conf_set(opts, NOPTS, &c, "read-only", "yes", err), 0);
    assert_true(c.read_only);
    /* Refused values leave the field as it was. */
    assert_int_equal(cf_conf_set(opts, NOPTS, &c, "port", "0", err), CF_EINVAL);
    assert_non_null(strstr(err, "outside [1, 65535]"));
    assert_int_equal(c.port, 8301);
    assert_int_equal(cf_conf_set(opts, NOPTS, &c, "verbose", "maybe", err), CF_EINVAL);
    assert_false(c.verbose);
    assert_int_equal(cf_conf_set(opts, NOPTS, &c, "nope", "1", err), CF_EINVAL);
    assert_non_null(strstr(err, "unknown option --nope"));
    cf_conf_fini(opts, NOPTS, &c);
    assert_null(c.name);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* A LIST joins its repeats on the command line; any other source, and the
 * first argument, replace what came before. */
static void test_list(void **state)
{
    struct lconf {
        char *names;
    } c;
    static const struct cf_conf_opt lopts[] = {
        {"name", CF_CONF_LIST, NULL, 0, 0, offsetof(struct lconf, names), "names", false},
    };
    char *argv[] = {"--name", "a:1,b", "--name=c", "--name", "d", NULL};
    char err[CF_ERR_LEN] = "";

    (void)state;
    setenv("COFFER_NAME", "env", 1);
    memset(&c, 0, sizeof(c));
    assert_int_equal(cf_conf_load(lopts, 1, &c, 0, argv, "usage", err), 0);
    assert_string_equal(c.names, "env");
    cf_conf_fini(lopts, 1, &c);
    assert_int_equal(cf_conf_load(lopts, 1, &c, 1 + 1, argv, "usage", err), 0);
    assert_string_equal(c.names, "a:1,b");
    assert_int_equal(cf_conf_load(lopts, 1, &c, 5, argv, "usage", err), 0);
    assert_string_equal(c.names, "a:1,b,c,d");
    cf_conf_fini(lopts, 1, &c);
    assert_null(c.names);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults),    T(test_argv_forms),
        T(test_bool_values), T(test_env),
        T(test_env_errors),  T(test_file),
        T(test_file_errors), T(test_precedence),
        T(test_argv_errors), T(test_bounds_and_numbers),
        T(test_parse_size),  T(test_help_and_print),
        T(test_fini),        T(test_defaults_and_set),
        T(test_list),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
