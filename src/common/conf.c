/*
 * conf.c -- table-driven configuration (conf.h).
 */
#include "coffer/conf.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"

#define CONF_LINE_MAX 4096

int cf_conf_parse_size(const char *s, uint64_t *out)
{
    char *end = NULL;
    uint64_t v, mul = 1;

    if (*s < '0' || *s > '9')
        return CF_EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return CF_EINVAL;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        mul = 1ull << 10;
        break;
    case 'm':
    case 'M':
        mul = 1ull << 20;
        break;
    case 'g':
    case 'G':
        mul = 1ull << 30;
        break;
    case 't':
    case 'T':
        mul = 1ull << 40;
        break;
    default:
        return CF_EINVAL;
    }
    if (*end != '\0') {
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (*end != '\0')
            return CF_EINVAL;
    }
    if (v > UINT64_MAX / mul)
        return CF_EINVAL;
    *out = v * mul;
    return 0;
}

static const struct cf_conf_opt *find(const struct cf_conf_opt *opts, size_t n, const char *name,
                                      size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "on"))
        *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "off"))
        *out = false;
    else
        return CF_EINVAL;
    return 0;
}

/* Set o in dst from v (borrowed); append: a LIST already set by an earlier argument
 * gets ",v" added instead of being replaced. */
static int set_to(const struct cf_conf_opt *o, void *dst, const char *v, const char *from,
                  bool append, char *err)
{
    char *field = (char *)dst + o->off;
    uint64_t u = 0;
    int rc = 0;

    switch (o->type) {
    case CF_CONF_LIST:
    case CF_CONF_STR: {
        char **sp = (char **)(void *)field;
        if (o->type == CF_CONF_LIST && append && v != NULL && *sp != NULL) {
            size_t a = strlen(*sp), b = strlen(v);
            char *j = cf_xmalloc(a + b + 2);
            memcpy(j, *sp, a);
            j[a] = ',';
            memcpy(j + a + 1, v, b + 1);
            free(*sp);
            *sp = j;
            return 0;
        }
        free(*sp);
        *sp = v ? cf_xstrdup(v) : NULL;
        return 0;
    }
    case CF_CONF_BOOL:
        if (parse_bool(v, (bool *)(void *)field) < 0) {
            cf_err_set(err, "%s: %s: expected true or false, got \"%.64s\"", from, o->name, v);
            return CF_EINVAL;
        }
        return 0;
    case CF_CONF_U64: {
        char *end = NULL;
        if (*v < '0' || *v > '9')
            rc = CF_EINVAL;
        errno = 0;
        u = strtoull(v, &end, 10);
        if (errno != 0 || *end != '\0')
            rc = CF_EINVAL;
        break;
    }
    case CF_CONF_SIZE:
        rc = cf_conf_parse_size(v, &u);
        break;
    }
    if (rc < 0) {
        cf_err_set(err, "%s: %s: expected a %s, got \"%.64s\"", from, o->name,
                   o->type == CF_CONF_SIZE ? "size such as 10G" : "number", v);
        return CF_EINVAL;
    }
    if (u < o->min || u > o->max) {
        cf_err_set(err, "%s: %s: %" PRIu64 " is outside [%" PRIu64 ", %" PRIu64 "]", from, o->name,
                   u, o->min, o->max);
        return CF_EINVAL;
    }
    memcpy(field, &u, sizeof(u));
    return 0;
}

static int set(const struct cf_conf_opt *o, void *dst, const char *v, const char *from, char *err)
{
    return set_to(o, dst, v, from, false, err);
}

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(const struct cf_conf_opt *opts, size_t n, void *dst, const char *path,
                     char *err)
{
    char line[CONF_LINE_MAX], from[CF_ERR_LEN / 2];
    FILE *f = NULL;
    unsigned lineno = 0;
    int rc = 0;

    f = fopen(path, "r");
    if (f == NULL) {
        cf_err_set(err, "cannot open config file \"%.100s\": %s", path, strerror(errno));
        rc = CF_EINVAL;
        goto out;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *s, *eq, *key, *val;
        const struct cf_conf_opt *o;

        lineno++;
        snprintf(from, sizeof(from), "%.80s:%u", path, lineno);
        if (strchr(line, '\n') == NULL && !feof(f)) {
            cf_err_set(err, "%s: line longer than %d bytes", from, CONF_LINE_MAX);
            rc = CF_EINVAL;
            goto out;
        }
        s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (eq == NULL) {
            cf_err_set(err, "%s: expected \"key = value\"", from);
            rc = CF_EINVAL;
            goto out;
        }
        *eq = '\0';
        key = trim(s);
        val = trim(eq + 1);
        o = find(opts, n, key, strlen(key));
        if (o == NULL) {
            cf_err_set(err, "%s: unknown key \"%.64s\"", from, key);
            rc = CF_EINVAL;
            goto out;
        }
        rc = set(o, dst, val, from, err);
        if (rc < 0)
            goto out;
    }
out:
    if (f != NULL)
        fclose(f);
    return rc;
}

void cf_conf_usage(FILE *f, const char *text, const struct cf_conf_opt *opts, size_t n)
{
    fprintf(f,
            "%s\nOptions (also COFFER_<NAME> in the environment, or \"name = value\" in "
            "--config FILE):\n",
            text);
    for (size_t i = 0; i < n; i++) {
        const struct cf_conf_opt *o = &opts[i];
        const char *arg = o->type == CF_CONF_BOOL   ? ""
                          : o->type == CF_CONF_STR  ? "=STR"
                          : o->type == CF_CONF_LIST ? "=A,B (repeatable)"
                          : o->type == CF_CONF_SIZE ? "=SIZE"
                                                    : "=N";
        fprintf(f, "  --%s%s\n      %s", o->name, arg, o->help);
        if (o->def != NULL)
            fprintf(f, " (default: %s)", o->def);
        fputc('\n', f);
    }
    fprintf(f, "  --config=FILE\n      read settings from FILE first\n"
               "  --print-config\n      print the resulting settings and exit\n"
               "  --help\n      this text\n");
}

int cf_conf_defaults(const struct cf_conf_opt *opts, size_t n, void *dst, char *err)
{
    int rc;

    for (size_t i = 0; i < n; i++) {
        if (opts[i].def == NULL && (opts[i].type == CF_CONF_STR || opts[i].type == CF_CONF_LIST))
            continue;
        rc = set(&opts[i], dst, opts[i].def, "default", err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cf_conf_set(const struct cf_conf_opt *opts, size_t n, void *dst, const char *name,
                const char *value, char *err)
{
    const struct cf_conf_opt *o = find(opts, n, name, strlen(name));

    if (o == NULL) {
        cf_err_set(err, "unknown option --%.64s", name);
        return CF_EINVAL;
    }
    return set(o, dst, value, "setting", err);
}

int cf_conf_load(const struct cf_conf_opt *opts, size_t n, void *dst, int argc, char **argv,
                 const char *usage_text, char *err)
{
    const char *config = NULL;
    bool print = false, *seen = NULL; /* seen[i]: opts[i] was an argument already */
    int rc;

    rc = cf_conf_defaults(opts, n, dst, err);
    if (rc < 0)
        return rc;
    /* --help, --config and --print-config first, so the order of the rest
     * does not matter. */
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cf_conf_usage(stdout, usage_text, opts, n);
            return CF_CONF_EXIT_HELP;
        }
        if (!strcmp(argv[i], "--print-config"))
            print = true;
        else if (!strncmp(argv[i], "--config=", 9))
            config = argv[i] + 9;
        else if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                cf_err_set(err, "option --config needs a value");
                return CF_EINVAL;
            }
            config = argv[++i];
        }
    }
    if (config != NULL) {
        rc = load_file(opts, n, dst, config, err);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < n; i++) {
        char env[128] = "COFFER_";
        size_t k = 7;
        for (const char *c = opts[i].name; *c != '\0' && k < sizeof(env) - 1; c++)
            env[k++] = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
        env[k] = '\0';
        const char *v = getenv(env);
        if (v != NULL) {
            rc = set(&opts[i], dst, v, env, err);
            if (rc < 0)
                return rc;
        }
    }
    seen = cf_xcalloc(n > 0 ? n : 1, sizeof(*seen));
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *eq, *val;
        const struct cf_conf_opt *o;
        size_t len;

        if (!strcmp(a, "--print-config"))
            continue;
        if (!strcmp(a, "--config")) {
            i++;
            continue;
        }
        if (!strncmp(a, "--config=", 9))
            continue;
        if (strncmp(a, "--", 2) != 0) {
            cf_err_set(err, "unexpected argument \"%.64s\" (options start with --)", a);
            rc = CF_EINVAL;
            goto out;
        }
        a += 2;
        eq = strchr(a, '=');
        len = eq ? (size_t)(eq - a) : strlen(a);
        o = find(opts, n, a, len);
        if (o == NULL) {
            cf_err_set(err, "unknown option --%.*s (see --help)", (int)(len > 64 ? 64 : len), a);
            rc = CF_EINVAL;
            goto out;
        }
        if (eq != NULL)
            val = eq + 1;
        else if (o->type == CF_CONF_BOOL)
            val = "true";
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            cf_err_set(err, "option --%s needs a value", o->name);
            rc = CF_EINVAL;
            goto out;
        }
        rc = set_to(o, dst, val, "argument", seen[o - opts], err);
        if (rc < 0)
            goto out;
        seen[o - opts] = true;
    }
    free(seen);
    if (print) {
        cf_conf_print(stdout, opts, n, dst);
        return CF_CONF_EXIT_PRINT;
    }
    return 0;
out:
    free(seen);
    return rc;
}

void cf_conf_print(FILE *f, const struct cf_conf_opt *opts, size_t n, const void *src)
{
    for (size_t i = 0; i < n; i++) {
        const char *field = (const char *)src + opts[i].off;
        uint64_t u;
        switch (opts[i].type) {
        case CF_CONF_STR:
        case CF_CONF_LIST: {
            const char *s = *(char *const *)(const void *)field;
            fprintf(f, "--%s=%s\n", opts[i].name, s ? s : "");
            break;
        }
        case CF_CONF_BOOL:
            fprintf(f, "--%s=%s\n", opts[i].name,
                    *(const bool *)(const void *)field ? "true" : "false");
            break;
        case CF_CONF_U64:
        case CF_CONF_SIZE:
            memcpy(&u, field, sizeof(u));
            fprintf(f, "--%s=%" PRIu64 "\n", opts[i].name, u);
            break;
        }
    }
}

void cf_conf_fini(const struct cf_conf_opt *opts, size_t n, void *dst)
{
    for (size_t i = 0; i < n; i++) {
        if (opts[i].type == CF_CONF_STR || opts[i].type == CF_CONF_LIST) {
            char **sp = (char **)(void *)((char *)dst + opts[i].off);
            free(*sp);
            *sp = NULL;
        }
    }
}
