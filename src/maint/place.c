/*
 * place.c -- a new replica of an object (maint_int.h): where it comes from
 * (the replicas that are up), where it goes (the distributor's choice), and
 * how it is made under the hold protocol of the stale-replica list: hold,
 * copy, renew, list; or release. Also what the jobs ask of a record
 * (an alias? does it list this filer?) before they place anything.
 */
#include "maint_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/distrib.h"
#include "coffer/err.h"
#include "coffer/log.h"
#include "coffer/replica.h"
#include "coffer/uuid.h"

bool cf__maint_is_alias(const struct cf_objdb_record *rec)
{
    char own[CF_UUID_PATH_SIZE];

    cf_uuid_filer_path(&rec->uuid, own);
    return strcmp(own, rec->path) != 0;
}

bool cf__maint_lists(const struct cf_objdb_record *rec, uint32_t id)
{
    for (unsigned i = 0; i < rec->nfilers; i++)
        if (rec->filers[i] == id)
            return true;
    return false;
}

size_t cf__maint_sources(const struct cf_objdb_filer *v, size_t n,
                         const struct cf_objdb_record *rec, uint32_t skip,
                         char (*urls)[CF_REPLICA_URL_MAX], const char **ptrs)
{
    size_t k = 0;

    for (unsigned i = 0; i < rec->nfilers; i++) {
        const struct cf_objdb_filer *f = cf_objdb_filer_find(v, n, rec->filers[i]);
        if (rec->filers[i] == skip || !cf_objdb_filer_up(f) ||
            cf_replica_url(f->url, rec->path, urls[k]))
            continue;
        ptrs[k] = urls[k];
        k++;
    }
    return k;
}

const struct cf_objdb_filer *cf__maint_choose(const struct cf_objdb_filer *v, size_t n,
                                              const struct cf_objdb_record *rec, uint32_t lost)
{
    uint32_t held[CF_OBJDB_REPLICAS_MAX];
    size_t nh = 0, idx = 0;

    for (unsigned i = 0; i < rec->nfilers; i++)
        if (rec->filers[i] != lost)
            held[nh++] = rec->filers[i];
    if (cf_distrib_choose_spread(v, n, 1, rec->filers, rec->nfilers, held, nh, &idx) != 1)
        return NULL;
    return &v[idx];
}

/* How long a copy of size bytes may take, at worst: ten minutes, plus a
 * second per MB (a filer slower than 1 MB/s fails the copy by stall_s). */
static uint64_t copy_hold_ms(uint64_t size)
{
    return 600000 + size / 1000;
}

int cf__maint_place(struct cf_objdb *odb, const struct cf_objdb_record *rec, uint32_t to,
                    const char *dst, const char *const *srcs, size_t ns, unsigned stall_s,
                    bool *copied, uint64_t *hold, char *err)
{
    int rc;

    *copied = false;
    *hold = 0;
    rc = cf_objdb_stale_hold(odb, &rec->uuid, to, rec->path,
                             cf_wall_ms() + copy_hold_ms(rec->stored_size), 0, hold, err);
    if (rc < 0)
        return rc;
    /* The hold stays whatever happens: if nothing lists the path, it goes. */
    return cf_replica_ensure(srcs, ns, dst, rec->stored_size, rec->stored_sha512, stall_s, copied,
                             err);
}

int cf__maint_renew(struct cf_objdb *odb, const struct cf_objdb_record *rec, uint32_t to,
                    uint64_t *hold, char *err)
{
    return cf_objdb_stale_hold(odb, &rec->uuid, to, rec->path, cf_wall_ms() + CF__MAINT_LIST_MS,
                               *hold, hold, err);
}

void cf__maint_release(struct cf_objdb *odb, const struct cf_objdb_record *rec, uint32_t to)
{
    char err[CF_ERR_LEN] = "";
    int rc = cf_objdb_stale_hold(odb, &rec->uuid, to, rec->path, cf_wall_ms(), 0, NULL, err);

    if (rc < 0 && rc != CF_EBUSY)
        cf_log(CF_LOG_WARN,
               "a copy of %s on filer %" PRIu32 " that no record lists could not be queued for"
               " deletion: %s",
               rec->path, to, err);
}

unsigned cf__maint_present(const struct cf_objdb_filer *v, size_t n,
                           const struct cf_objdb_record *rec, unsigned stall_s, unsigned enough)
{
    unsigned present = 0;

    for (unsigned i = 0; i < rec->nfilers && present < enough; i++) {
        const struct cf_objdb_filer *f = cf_objdb_filer_find(v, n, rec->filers[i]);
        char url[CF_REPLICA_URL_MAX];
        if (cf_objdb_filer_up(f) && cf_replica_url(f->url, rec->path, url) == 0 &&
            cf_replica_holds(url, rec->stored_size, rec->stored_sha512, stall_s, NULL) == 1 &&
            cf_replica_verify(url, rec->stored_size, rec->stored_sha512, stall_s, NULL) == 1)
            present++;
    }
    return present;
}
