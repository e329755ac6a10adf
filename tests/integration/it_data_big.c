/*
 * it_data_big.c -- a 1 GiB object through `coffer app` to two of three
 * filers and back through `coffer objsrv`: generated on the fly, hashed as
 * it streams, never held in memory by the test or (the app's peak RSS says)
 * by the app.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define BIG_SIZE (1024ull * 1024 * 1024)
#define BIG_SEED 0xb16b00b5ull
/* The app streams; what it holds does not grow with the object. The target
 * is 64 MiB for a 2 GiB upload; 1 GiB measured 14 MiB. AddressSanitizer
 * adds its shadow memory and quarantine (measured 45 MiB), so it gets more room. */
#if defined(__SANITIZE_ADDRESS__)
#define APP_RSS_MAX (256ull * 1024 * 1024)
#else
#define APP_RSS_MAX (64ull * 1024 * 1024)
#endif

static void t_one_gib(void *arg)
{
    struct it_record rec;
    struct it_cluster c;
    uint64_t rss;

    (void)arg;
    /* fsync of 1 GiB on each filer may keep them silent longer than 3 s. */
    it_cluster_start(&c, 3, NULL, 0, 60);
    it_upload_ok(NULL, c.app.base, BIG_SEED, BIG_SIZE, 0, false, &rec);
    IT_EQ(rec.nfilers, 2);
    rss = it_proc_peak_rss(&c.app);
    IT_CHECKF(rss < APP_RSS_MAX, "the app's peak RSS after a 1 GiB upload is %llu MiB",
              (unsigned long long)(rss >> 20));
    it_download_ok(NULL, c.objsrv.base, &rec);
    it_download_range_ok(NULL, c.objsrv.base, &rec, BIG_SEED, BIG_SIZE / 2 - 7, BIG_SIZE / 2 + 24);
    it_download_range_ok(NULL, c.objsrv.base, &rec, BIG_SEED, BIG_SIZE - 5, BIG_SIZE - 1);
    it_check_placement(c.f, c.n, &rec);
    it_cluster_stop(&c);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"one_gib", t_one_gib, NULL, 150},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
