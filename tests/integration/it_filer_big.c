/*
 * it_filer_big.c -- a 1 GiB object through a real `coffer filer`: generated
 * on the fly, verified as it streams back, never held in memory.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define BIG_SIZE (1024ull * 1024 * 1024)
#define BIG_SEED 0xc0ffeeull

static void t_one_gib(void *arg)
{
    struct it_filer f;

    (void)arg;
    it_filer_init(&f, 1, "f1");
    it_filer_start_ok(&f, NULL);
    it_roundtrip(NULL, &f, "big/one-gib", BIG_SEED, BIG_SIZE, false);
    it_range_ok(NULL, f.base, "/o/big/one-gib", BIG_SEED, BIG_SIZE / 2 - 7, BIG_SIZE / 2 + 24,
                BIG_SIZE);
    it_range_ok(NULL, f.base, "/o/big/one-gib", BIG_SEED, BIG_SIZE - 5, BIG_SIZE - 1, BIG_SIZE);
    IT_EQ(it_status_int(&f, "objects"), 1);
    IT_EQ(it_status_int(&f, "used_bytes"), BIG_SIZE);
    IT_CHECK(it_status_int(&f, "bytes_in") >= (int64_t)BIG_SIZE);
    IT_CHECK(it_status_int(&f, "bytes_out") >= (int64_t)BIG_SIZE);
    it_filer_stop_ok(&f);
}

int main(int argc, char **argv)
{
    static const struct it_case cases[] = {
        {"one_gib", t_one_gib, NULL, 240},
    };

    return it_run(argc, argv, 0, cases, CF_ARRAY_LEN(cases));
}
