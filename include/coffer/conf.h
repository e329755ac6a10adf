/*
 * conf.h -- table-driven configuration (STYLE 2.6).
 *
 * Each role describes its settings in one table of cf_conf_opt. The same
 * table drives, in increasing precedence: defaults, a config file given with
 * --config FILE (lines "key = value", '#' comments), COFFER_<KEY>
 * environment variables (upper case, '-' as '_'), and --key=value or
 * --key value arguments; and it drives --help and --print-config.
 * An unknown key is an error, as is a value outside [min, max].
 *
 * Threads: none; call from one thread at start-up.
 */
#ifndef COFFER_CONF_H
#define COFFER_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "coffer/common.h"

enum cf_conf_type {
    CF_CONF_STR,  /* char * (owned by the destination struct; release with cf_conf_fini) */
    CF_CONF_U64,  /* uint64_t, decimal */
    CF_CONF_SIZE, /* uint64_t, decimal with optional K, M, G, T suffix (powers of 1024) */
    CF_CONF_BOOL, /* bool: true/false/yes/no/1/0; a bare --flag means true */
    /* char *, like STR, for a comma-separated list: repeated on the command
     * line, the values are joined with ',' (any other source replaces). */
    CF_CONF_LIST,
};

struct cf_conf_opt {
    const char *name; /* "listen"; lower case, '-' separated */
    enum cf_conf_type type;
    const char *def;   /* default as text; NULL means unset (STR only) */
    uint64_t min, max; /* bounds for U64 and SIZE */
    size_t off;        /* offsetof() the field in the destination struct */
    const char *help;  /* one line */
    bool reloadable;   /* may change without a restart */
};

/* Results of cf_conf_load besides 0 and negative errors. */
#define CF_CONF_EXIT_HELP  1 /* --help was given and usage printed to stdout */
#define CF_CONF_EXIT_PRINT 2 /* --print-config was given and the values printed */

/* Fill dst (a zeroed struct the table describes; borrowed; U64, SIZE and
 * BOOL options must have a default) from defaults, file,
 * environment and argv[0..argc) (borrowed; argv[0] is not skipped, so pass
 * the arguments after the sub-command). `usage` is the text printed first by
 * --help (borrowed). Returns 0, CF_CONF_EXIT_HELP, CF_CONF_EXIT_PRINT, or
 * CF_EINVAL with a message in err (may be NULL) naming the key and, for a
 * bound, quoting it. On any return, release dst with cf_conf_fini. */
CF_MUST_CHECK int cf_conf_load(const struct cf_conf_opt *opts, size_t n, void *dst, int argc,
                               char **argv, const char *usage, char *err);

/* Fill dst (a zeroed struct the table describes; borrowed) from the
 * table's defaults alone: no file, environment or arguments. For a caller
 * that embeds a role and decides its settings itself (coffer server), so
 * every setting it does not decide keeps the role's own default. Returns 0,
 * or CF_EINVAL with err if a default is out of its bounds (a bug in the
 * table). Release dst with cf_conf_fini. */
CF_MUST_CHECK int cf_conf_defaults(const struct cf_conf_opt *opts, size_t n, void *dst, char *err);

/* Set option `name` of dst to value (both borrowed; a string is copied and
 * replaces, freeing, the old one), parsed and bounded as on a command line.
 * Returns 0, or CF_EINVAL (unknown option, bad or out-of-bounds value) with
 * err; dst is unchanged on error. */
CF_MUST_CHECK int cf_conf_set(const struct cf_conf_opt *opts, size_t n, void *dst, const char *name,
                              const char *value, char *err);

/* Print text, then the help of every option in the table and of --config,
 * --print-config and --help: what --help prints. */
void cf_conf_usage(FILE *f, const char *text, const struct cf_conf_opt *opts, size_t n);

/* Print "--name=value" for every option, in table order. */
void cf_conf_print(FILE *f, const struct cf_conf_opt *opts, size_t n, const void *src);

/* Free the strings that cf_conf_load stored in dst. Idempotent. */
void cf_conf_fini(const struct cf_conf_opt *opts, size_t n, void *dst);

/* Parse a size with an optional K/M/G/T suffix. Returns 0 or CF_EINVAL. */
CF_MUST_CHECK int cf_conf_parse_size(const char *s, uint64_t *out);

#endif
