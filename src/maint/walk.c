/*
 * walk.c -- the walk of the maintenance jobs (maint_int.h): the cursor text
 * saved in the jobs table.
 */
#include "maint_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/err.h"
#include "coffer/uuid.h"

void cf__maint_cursor_format(const struct cf_objdb_cursor *c, char *out, size_t cap)
{
    if (c->done)
        (void)snprintf(out, cap, "end");
    else if (c->shard == 0 && c->after_oid == 0)
        (void)snprintf(out, cap, "%s", "");
    else
        (void)snprintf(out, cap, "%u:%" PRIu64, (unsigned)c->shard, c->after_oid);
}

int cf__maint_cursor_parse(const char *s, struct cf_objdb_cursor *c)
{
    unsigned long long shard, oid;
    char *end = NULL;

    memset(c, 0, sizeof(*c));
    if (s[0] == '\0')
        return 0;
    if (strcmp(s, "end") == 0) {
        c->done = true;
        return 0;
    }
    errno = 0;
    shard = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != ':' || shard > CF_UUID_SHARD_MAX)
        return CF_EINVAL;
    s = end + 1;
    oid = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return CF_EINVAL;
    c->shard = (uint16_t)shard;
    c->after_oid = oid;
    return 0;
}
