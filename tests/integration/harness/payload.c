/*
 * payload.c -- deterministic payloads and their SHA-512s (payload.h).
 */
#include "harness/payload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/runner.h"

#define IT_GOLDEN_GAMMA 0x9e3779b97f4a7c15ull
#define IT_FILE_BUF     (1024 * 1024) /* one read or write of a payload file */

static uint64_t splitmix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void it_prng_fill(uint64_t seed, uint64_t off, void *buf, size_t n)
{
    unsigned char *p = buf;
    uint64_t word = off / 8;
    unsigned skip = (unsigned)(off % 8);

    if (seed & IT_SEED_TEXT) {
        /* Runs of IT_TEXT_RUN equal letters: compresses well. */
        for (size_t i = 0; i < n; i++) {
            uint64_t run = (off + i) / IT_TEXT_RUN;
            *p++ = (unsigned char)('a' + splitmix64(seed + run * IT_GOLDEN_GAMMA) % 26);
        }
        return;
    }
    while (n > 0) {
        uint64_t w = splitmix64(seed + word * IT_GOLDEN_GAMMA);
        for (unsigned i = skip; i < 8 && n > 0; i++, n--)
            *p++ = (unsigned char)(w >> (8 * i));
        skip = 0;
        word++;
    }
}

void it_gen_init(struct it_gen *g, uint64_t seed, uint64_t size)
{
    memset(g, 0, sizeof(*g));
    g->seed = seed;
    g->size = size;
    IT_CHECK(cf_sha512_init(&g->sha) == 0);
}

size_t it_gen_read(struct it_gen *g, void *buf, size_t cap)
{
    uint64_t left = g->size - g->pos;
    size_t n = left < cap ? (size_t)left : cap;

    it_prng_fill(g->seed, g->pos, buf, n);
    IT_CHECK(cf_sha512_update(&g->sha, buf, n) == 0);
    g->pos += n;
    return n;
}

void it_gen_final(struct it_gen *g, uint8_t out[CF_SHA512_LEN])
{
    IT_CHECKF(g->pos == g->size, "payload read %llu of %llu bytes", (unsigned long long)g->pos,
              (unsigned long long)g->size);
    IT_CHECK(cf_sha512_final(&g->sha, out) == 0);
    cf_sha512_fini(&g->sha);
}

void it_gen_fini(struct it_gen *g)
{
    cf_sha512_fini(&g->sha);
}

void it_prng_sha512(uint64_t seed, uint64_t size, uint8_t out[CF_SHA512_LEN])
{
    struct it_gen g;
    size_t cap = 1024 * 1024;
    char *buf = cf_xmalloc(cap);

    it_gen_init(&g, seed, size);
    while (it_gen_read(&g, buf, cap) > 0)
        ;
    it_gen_final(&g, out);
    free(buf);
}

void it_hex(const uint8_t d[CF_SHA512_LEN], char hex[CF_SHA512_HEX_LEN + 1])
{
    cf_sha512_hex(d, hex);
}

void it_file_sha512(const char *path, uint64_t *size, uint8_t sha[CF_SHA512_LEN])
{
    char *buf = cf_xmalloc(IT_FILE_BUF);
    struct cf_sha512 ctx;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    IT_CHECKF(fd >= 0, "open \"%s\": %s", path, strerror(errno));
    IT_CHECK(cf_sha512_init(&ctx) == 0);
    *size = 0;
    for (;;) {
        n = read(fd, buf, IT_FILE_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        IT_CHECK(cf_sha512_update(&ctx, buf, (size_t)n) == 0);
        *size += (uint64_t)n;
    }
    IT_CHECKF(n == 0, "read \"%s\": %s", path, strerror(errno));
    IT_CHECK(cf_sha512_final(&ctx, sha) == 0);
    cf_sha512_fini(&ctx);
    close(fd);
    free(buf);
}

void it_write_payload(char path[IT_PATH_MAX], const char *name, uint64_t seed, uint64_t size,
                      uint8_t sha[CF_SHA512_LEN])
{
    char *buf = cf_xmalloc(IT_FILE_BUF);
    struct it_gen g;
    int fd;

    it_case_path(path, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    IT_CHECKF(fd >= 0, "open \"%s\": %s", path, strerror(errno));
    it_gen_init(&g, seed, size);
    for (;;) {
        size_t n = it_gen_read(&g, buf, IT_FILE_BUF);
        if (n == 0)
            break;
        IT_CHECKF(write(fd, buf, n) == (ssize_t)n, "write \"%s\": %s", path, strerror(errno));
    }
    if (sha != NULL)
        it_gen_final(&g, sha);
    else
        it_gen_fini(&g);
    IT_CHECKF(close(fd) == 0, "close \"%s\": %s", path, strerror(errno));
    free(buf);
}
