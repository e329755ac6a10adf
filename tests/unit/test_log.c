/*
 * test_log.c -- unit tests for log.h: cf_log_escape against a table and a
 * reference escaper, cf_term_escape against a table, level parsing, the lazy cf_log macro, and the
 * exact shape of a written line (captured from stderr).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/err.h"
#include "coffer/log.h"

struct escape_case {
    size_t cap;
    const char *in;
    const char *want;
};

static const struct escape_case escape_cases[] = {
    {64, "", ""},
    {64, "plain text", "plain text"},
    {64, "a\"b", "a\\x22b"},
    {64, "a\\b", "a\\x5cb"},
    {64, "\n\r\t", "\\x0a\\x0d\\x09"},
    {64, "\x01\x1f", "\\x01\\x1f"},
    {64, " ~", " ~"}, /* 0x20 and 0x7e are printable */
    {64, "\x7f", "\\x7f"},
    {64, "\xc3\xa9", "\\xc3\\xa9"}, /* "é" */
    {64, "\xff\x80", "\\xff\\x80"},
    {64, "GET /o/../x HTTP/1.1\r\n", "GET /o/../x HTTP/1.1\\x0d\\x0a"},
    {64, "' %s %n", "' %s %n"},
    /* Fits exactly (len + NUL == cap): no cut. */
    {6, "abcde", "abcde"},
    {5, "abcd", "abcd"},
    {4, "abc", "abc"},
    {2, "a", "a"},
    {1, "", ""},
    {5, "\x01", "\\x01"},
    /* Does not fit: cut with "..." inside cap, never inside an escape. */
    {8, "abcdefghij", "abcd..."},
    {6, "abcdef", "ab..."},
    {4, "abcd", "..."},
    {10, "ab\ncdefgh", "ab\\x0a..."},
    {9, "ab\ncdefgh", "ab..."},
    {8, "\x01\x02\x03", "\\x01..."},
    /* Too small even for "...": empty. */
    {3, "abcd", ""},
    {2, "ab", ""},
    {1, "a", ""},
};

static void test_escape_table(void **state)
{
    char out[128];

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(escape_cases); i++) {
        const struct escape_case *c = &escape_cases[i];
        memset(out, '#', sizeof(out));
        char *r = cf_log_escape(out, c->cap, c->in);
        assert_ptr_equal(r, out);
        if (strcmp(out, c->want) != 0)
            fail_msg("case %zu (cap %zu): got \"%s\", want \"%s\"", i, c->cap, out, c->want);
        /* Nothing written past cap. */
        for (size_t k = c->cap; k < sizeof(out); k++)
            if (out[k] != '#')
                fail_msg("case %zu: byte %zu written past cap %zu", i, k, c->cap);
    }
    /* cap 0 writes nothing at all. */
    memset(out, '#', sizeof(out));
    assert_ptr_equal(cf_log_escape(out, 0, "abc"), out);
    assert_int_equal(out[0], '#');
}

/* cf_term_escape: control bytes, C1 controls, bidirectional overrides and
 * bytes that are not UTF-8; quotes, backslashes and other UTF-8 stay; the
 * same cut as cf_log_escape, never inside a character. */
static void test_term_escape(void **state)
{
    static const struct escape_case cases[] = {
        {64, "a\"b\\c", "a\"b\\c"},
        {64,
         "Gr\xc3\xbc\xc3\x9f"
         "e",
         "Gr\xc3\xbc\xc3\x9f"
         "e"},
        {64, "x\x1b[2J\n\x7f", "x\\x1b[2J\\x0a\\x7f"},
        /* Not UTF-8: a lone 0x80..0x9f is a C1 control to an 8-bit terminal. */
        {64, "~ \x80", "~ \\x80"},
        {64, "a\xc3(\xed\xa0\x80\xf5", "a\\xc3(\\xed\\xa0\\x80\\xf5"},
        /* C1 controls and bidirectional overrides and isolates. */
        {64,
         "x\xc2\x9b"
         "2J",
         "x\\u009b2J"},
        {64, "evil\xe2\x80\xaetxt.exe", "evil\\u202etxt.exe"},
        {64, "\xe2\x80\xaa\xe2\x80\xa9\xe2\x81\xa6\xe2\x81\xa9\xe2\x81\xaa",
         "\\u202a\xe2\x80\xa9\\u2066\\u2069\xe2\x81\xaa"},
        {64, "\xf0\x9f\x98\x80 \xc2\xa0", "\xf0\x9f\x98\x80 \xc2\xa0"},
        /* A cut never splits a character. */
        {9, "\xc3\xbc\xc3\xbc\xc3\xbcxxx", "\xc3\xbc\xc3\xbc..."},
        {12,
         "ab\xe2\x80\xae"
         "cdefgh",
         "ab\\u202e..."},
        {8, "abcdefghij", "abcd..."},
        {10, "ab\ncdefgh", "ab\\x0a..."},
    };
    char out[128];

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++) {
        memset(out, '#', sizeof(out));
        assert_ptr_equal(cf_term_escape(out, cases[i].cap, cases[i].in), out);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, out, cases[i].want);
        for (size_t k = cases[i].cap; k < sizeof(out); k++)
            if (out[k] != '#')
                fail_msg("case %zu: byte %zu written past cap", i, k);
    }
}

/* The reference: escape everything, no cap. */
static size_t ref_escape(char *out, const char *s)
{
    size_t o = 0;

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    return o;
}

/* Random strings, every cap: the output is the full escape when it fits, and
 * otherwise a prefix of it ending on an escape boundary followed by "...". */
static void test_escape_vs_reference(void **state)
{
    char in[40], full[4 * sizeof(in) + 1], out[4 * sizeof(in) + 8];
    uint32_t x = 12345;

    (void)state;
    for (int iter = 0; iter < 2000; iter++) {
        size_t len, flen;
        x = x * 1664525u + 1013904223u;
        len = (x >> 8) % (sizeof(in) - 1);
        for (size_t i = 0; i < len; i++) {
            x = x * 1664525u + 1013904223u;
            in[i] = (char)((x >> 24) % 255 + 1); /* no NUL inside */
        }
        in[len] = '\0';
        flen = ref_escape(full, in);
        for (size_t cap = 1; cap <= flen + 2; cap++) {
            size_t olen;
            cf_log_escape(out, cap, in);
            olen = strlen(out);
            assert_true(olen < cap);
            if (flen < cap) {
                if (strcmp(out, full) != 0)
                    fail_msg("iter %d cap %zu: fits but got \"%s\"", iter, cap, out);
                continue;
            }
            if (cap < 4) {
                assert_int_equal(olen, 0);
                continue;
            }
            assert_true(olen >= 3);
            assert_memory_equal(out + olen - 3, "...", 3);
            assert_memory_equal(out, full, olen - 3);
            /* The kept prefix ends on an escape boundary: it is the escape
             * of a prefix of the input. */
            {
                size_t at = 0;
                for (size_t k = 0; k < len && at < olen - 3; k++)
                    at += ((unsigned char)in[k] < 0x20 || (unsigned char)in[k] >= 0x7f ||
                           in[k] == '"' || in[k] == '\\')
                              ? 4
                              : 1;
                if (at != olen - 3)
                    fail_msg("iter %d cap %zu: \"%s\" splits an escape", iter, cap, out);
            }
            /* And it is the longest such prefix: the next piece would not fit. */
            {
                size_t next = full[olen - 3] == '\\' ? 4 : 1;
                assert_true(olen - 3 + next + 3 + 1 > cap);
            }
        }
    }
}

static void test_level_parse(void **state)
{
    (void)state;
    assert_int_equal(cf_log_level_parse("error"), CF_LOG_ERROR);
    assert_int_equal(cf_log_level_parse("warn"), CF_LOG_WARN);
    assert_int_equal(cf_log_level_parse("info"), CF_LOG_INFO);
    assert_int_equal(cf_log_level_parse("debug"), CF_LOG_DEBUG);
    assert_int_equal(cf_log_level_parse("INFO"), CF_EINVAL);
    assert_int_equal(cf_log_level_parse("warning"), CF_EINVAL);
    assert_int_equal(cf_log_level_parse(""), CF_EINVAL);
    assert_int_equal(cf_log_level_parse("info "), CF_EINVAL);
}

/* Run fn with stderr sent to a temp file; return what was written (caller frees). */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/coffer-test-log.XXXXXX";
    char *text;
    int fd, saved;
    off_t n;

    fd = mkstemp(path);
    assert_true(fd >= 0);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    fn();
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    n = lseek(fd, 0, SEEK_END);
    assert_true(n >= 0);
    text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)n, 0), (ssize_t)n);
    close(fd);
    unlink(path);
    return text;
}

static int evaluated;

static int side_effect(void)
{
    evaluated++;
    return 7;
}

static void log_filtered(void)
{
    cf_log_init("unit", CF_LOG_WARN);
    cf_log(CF_LOG_INFO, "not shown %d", side_effect());
    cf_log(CF_LOG_DEBUG, "not shown %d", side_effect());
    cf_log_errno(CF_LOG_INFO, ENOENT, "not shown %d", side_effect());
}

static void log_shown(void)
{
    cf_log_init("unit", CF_LOG_INFO);
    cf_log(CF_LOG_WARN, "shown %d", side_effect());
    cf_log_errno(CF_LOG_ERROR, ENOENT, "open \"%s\" failed", "/x");
}

static void log_long(void)
{
    static char big[5000];

    memset(big, 'L', sizeof(big) - 1);
    cf_log_init("unit", CF_LOG_INFO);
    cf_log(CF_LOG_INFO, "%s", big);
    cf_log_errno(CF_LOG_INFO, EIO, "%s", big);
}

/* "2026-01-02T03:04:05.678Z LEVEL unit[PID] " */
static void check_prefix(const char *line, const char *level)
{
    char want[64];
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";

    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd') {
            if (line[i] < '0' || line[i] > '9')
                fail_msg("not a timestamp: %.40s", line);
        } else if (line[i] != shape[i]) {
            fail_msg("not a timestamp: %.40s", line);
        }
    }
    snprintf(want, sizeof(want), "%s unit[%ld] ", level, (long)getpid());
    assert_memory_equal(line + sizeof(shape) - 1, want, strlen(want));
}

static void test_log_lines(void **state)
{
    char *out, *nl;

    (void)state;
    evaluated = 0;
    out = capture_stderr(log_filtered);
    assert_string_equal(out, "");
    assert_int_equal(evaluated, 0); /* arguments not evaluated below the level */
    free(out);

    out = capture_stderr(log_shown);
    assert_int_equal(evaluated, 1);
    nl = strchr(out, '\n');
    assert_non_null(nl);
    check_prefix(out, "WARN");
    assert_memory_equal(nl - 7, "shown 7", 7);
    check_prefix(nl + 1, "ERROR");
    assert_non_null(strstr(nl + 1, "open \"/x\" failed: No such file or directory (ENOENT)\n"));
    assert_int_equal(nl[1 + strlen(nl + 1) - 1], '\n');
    free(out);

    /* A long message is cut but still ends the line; the errno suffix of a
     * cut line is dropped rather than overflowing. */
    out = capture_stderr(log_long);
    nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_true(nl - out <= 2047);
    assert_true(nl - out > 2000);
    assert_non_null(strchr(nl + 1, '\n'));
    assert_true(strlen(nl + 1) <= 2048);
    assert_int_equal(nl[strlen(nl) - 1], '\n');
    free(out);
    cf_log_init("unit", CF_LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_table),        cmocka_unit_test(test_term_escape),
        cmocka_unit_test(test_escape_vs_reference), cmocka_unit_test(test_level_parse),
        cmocka_unit_test(test_log_lines),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
