/*
 * distrib.c -- the distributor (distrib.h).
 */
#include "coffer/distrib.h"

#include <stdlib.h>
#include <string.h>
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

static const char *dc_of(const struct cf_distrib_filer *f)
{
    return f->dc != NULL ? f->dc : "";
}

static bool dc_in(const char *dc, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(dc, v[i] != NULL ? v[i] : "") == 0)
            return true;
    return false;
}

int cf_distrib_choose_dc(const struct cf_distrib_filer *f, size_t n, size_t r,
                         const uint32_t *exclude, size_t nex, const char *const *covered,
                         size_t ncov, cf_distrib_rng_cb rng, void *rng_ctx, size_t *out)
{
    size_t *idx = NULL, k = 0;
    const char **used = NULL;
    size_t nused = 0;
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
    /* Each pick: the first left in that order whose data center is not
     * covered yet, else the first left. A pick is moved to the front
     * (idx[0..i) are the picks), keeping the order of the rest. */
    used = cf_xcalloc(ncov + r, sizeof(*used));
    for (size_t i = 0; i < ncov; i++)
        used[nused++] = covered[i] != NULL ? covered[i] : "";
    for (size_t i = 0; i < r; i++) {
        size_t p = i, v;
        for (size_t j = i; j < k; j++)
            if (!dc_in(dc_of(&f[idx[j]]), used, nused)) {
                p = j;
                break;
            }
        v = idx[p];
        memmove(&idx[i + 1], &idx[i], (p - i) * sizeof(*idx));
        idx[i] = v;
        used[nused++] = dc_of(&f[v]);
        out[i] = v;
    }
    rc = (int)r;
out:
    free(used);
    free(idx);
    return rc;
}

int cf_distrib_choose(const struct cf_distrib_filer *f, size_t n, size_t r, const uint32_t *exclude,
                      size_t nex, cf_distrib_rng_cb rng, void *rng_ctx, size_t *out)
{
    return cf_distrib_choose_dc(f, n, r, exclude, nex, NULL, 0, rng, rng_ctx, out);
}

uint64_t cf_distrib_read_rank(const struct cf_distrib_replica *r)
{
    /* Classes as distrib.h, "reads": the class in the high bits, the
     * scaled read weight (< 2^32) below it. */
    uint64_t w = r->read_weight;

    if (r->bad)
        return 0;
    if (!r->up)
        return 1ull << 32;
    if (w == 0)
        return 2ull << 32;
    if (r->busy)
        w = w / 4 > 0 ? w / 4 : 1;
    return (3ull << 32) + w;
}

void cf_distrib_read_order(const struct cf_distrib_replica *r, size_t n, cf_distrib_rng_cb rng,
                           void *rng_ctx, size_t *out)
{
    if (rng == NULL)
        rng = cf_distrib_rng_os;
    for (size_t i = 0; i < n; i++)
        out[i] = i;
    /* As the distributor: shuffle, then a stable insertion sort by rank,
     * so equal ranks keep their shuffled order. n is a handful of replicas. */
    for (size_t i = n > 0 ? n - 1 : 0; i > 0; i--) {
        size_t j = uniform(rng, rng_ctx, i + 1), t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
    for (size_t i = 1; i < n; i++) {
        size_t v = out[i], j = i;
        uint64_t key = cf_distrib_read_rank(&r[v]);
        while (j > 0 && cf_distrib_read_rank(&r[out[j - 1]]) < key) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = v;
    }
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

int cf_distrib_choose_spread(const struct cf_objdb_filer *v, size_t n, size_t r,
                             const uint32_t *exclude, size_t nex, const uint32_t *holders,
                             size_t nh, size_t *out)
{
    struct cf_distrib_filer *d = cf_xcalloc(n ? n : 1, sizeof(*d));
    const char **cov = cf_xcalloc(nh ? nh : 1, sizeof(*cov));
    size_t ncov = 0;
    int rc;

    for (size_t i = 0; i < n; i++) {
        d[i].id = v[i].id;
        d[i].weight = v[i].weight;
        d[i].online = cf_objdb_filer_writable(&v[i]);
        d[i].read_only = v[i].read_only;
        d[i].dc = v[i].dc;
    }
    for (size_t i = 0; i < nh; i++) {
        const struct cf_objdb_filer *h = cf_objdb_filer_find(v, n, holders[i]);
        if (h != NULL)
            cov[ncov++] = h->dc;
    }
    rc = cf_distrib_choose_dc(d, n, r, exclude, nex, cov, ncov, cf_distrib_rng_os, NULL, out);
    free(cov);
    free(d);
    return rc;
}

int cf_distrib_choose_filers(const struct cf_objdb_filer *v, size_t n, size_t r,
                             const uint32_t *exclude, size_t nex, size_t *out)
{
    return cf_distrib_choose_spread(v, n, r, exclude, nex, NULL, 0, out);
}
