/*
 * distrib.c -- the distributor (distrib.h).
 */
#include "coffer/distrib.h"

#include <stdlib.h>
#include <sys/random.h>

#include "coffer/err.h"

static bool candidate(const struct cf_distrib_filer *f, const uint32_t *exclude, size_t nex)
{
    if (!f->online || f->read_only || f->weight == 0)
        return false;
    for (size_t i = 0; i < nex; i++)
        if (exclude[i] == f->id)
            return false;
    return true;
}

size_t cf_distrib_writable(const struct cf_distrib_filer *f, size_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        k += candidate(&f[i], NULL, 0);
    return k;
}

/* Uniform in [0, n) without modulo bias. */
static size_t uniform(cf_distrib_rng_cb rng, void *ctx, size_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;

    do
        x = rng(ctx);
    while (x >= limit);
    return (size_t)(x % n);
}

int cf_distrib_choose(const struct cf_distrib_filer *f, size_t n, size_t r, const uint32_t *exclude,
                      size_t nex, cf_distrib_rng_cb rng, void *rng_ctx, size_t *out)
{
    size_t *idx = NULL, k = 0;
    int rc = 0;

    if (r == 0)
        return CF_EINVAL;
    idx = cf_xcalloc(n ? n : 1, sizeof(*idx));
    for (size_t i = 0; i < n; i++)
        if (candidate(&f[i], exclude, nex))
            idx[k++] = i;
    if (k < r) {
        rc = CF_EUNAVAIL;
        goto out;
    }
    /* Fisher-Yates over all candidates, then a stable insertion sort by
     * weight: equal weights keep their shuffled order. n is the number of
     * filers (tens to hundreds), so O(n^2) is fine. */
    for (size_t i = k - 1; i > 0; i--) {
        size_t j = uniform(rng, rng_ctx, i + 1), t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    for (size_t i = 1; i < k; i++) {
        size_t v = idx[i], j = i;
        while (j > 0 && f[idx[j - 1]].weight < f[v].weight) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
    for (size_t i = 0; i < r; i++)
        out[i] = idx[i];
    rc = (int)r;
out:
    free(idx);
    return rc;
}

uint64_t cf_distrib_rng_os(void *ctx)
{
    uint64_t x = 0;

    (void)ctx;
    /* getrandom(2) of 8 bytes from an initialised pool does not fail or
     * return short; should it, x stays 0 and the choice is merely unshuffled. */
    if (getrandom(&x, sizeof(x), 0) != (ssize_t)sizeof(x))
        x = 0;
    return x;
}

int cf_distrib_choose_filers(const struct cf_objdb_filer *v, size_t n, size_t r,
                             const uint32_t *exclude, size_t nex, size_t *out)
{
    struct cf_distrib_filer *d = cf_xcalloc(n ? n : 1, sizeof(*d));
    int rc;

    for (size_t i = 0; i < n; i++) {
        d[i].id = v[i].id;
        d[i].weight = v[i].weight;
        d[i].online = cf_objdb_filer_writable(&v[i]);
        d[i].read_only = v[i].read_only;
    }
    rc = cf_distrib_choose(d, n, r, exclude, nex, cf_distrib_rng_os, NULL, out);
    free(d);
    return rc;
}
