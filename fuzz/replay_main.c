/*
 * replay_main.c -- run a libFuzzer target over stored inputs, without libFuzzer.
 *
 * Role: with gcc (the normal build) each fuzz_<target>.c links with this file
 * into replay_<target>, which ctest runs over fuzz/corpus/<target>/ (STYLE 2.9),
 * so every corpus entry, including every crash ever found, is checked on every
 * build. Each argument is a file or a directory (whose regular files are read,
 * in name order, not recursively). A broken invariant abort()s inside the
 * target; this program fails on its own when an argument cannot be read or
 * when no input was found at all (a replay of nothing proves nothing).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Corpus entries are small; anything bigger is a mistake in the corpus. */
#define REPLAY_FILE_MAX (1024 * 1024)

static int run_file(const char *path, unsigned long *count)
{
    FILE *f = NULL;
    uint8_t *data = NULL;
    long n;
    int rc = -1;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: open \"%s\" failed: %s\n", path, strerror(errno));
        goto out;
    }
    n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "replay: seek \"%s\" failed: %s\n", path, strerror(errno));
        goto out;
    }
    if (n > REPLAY_FILE_MAX) {
        fprintf(stderr, "replay: \"%s\" is %ld bytes, over %d\n", path, n, REPLAY_FILE_MAX);
        goto out;
    }
    /* A separate allocation of exactly n bytes, so ASan sees reads past the end. */
    data = malloc(n > 0 ? (size_t)n : 1);
    if (data == NULL) {
        fprintf(stderr, "replay: out of memory for \"%s\"\n", path);
        goto out;
    }
    if (n > 0 && fread(data, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "replay: read \"%s\" failed\n", path);
        goto out;
    }
    (void)LLVMFuzzerTestOneInput(data, (size_t)n);
    (*count)++;
    rc = 0;
out:
    free(data);
    if (f != NULL)
        fclose(f);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, unsigned long *count)
{
    DIR *d = NULL;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;

    d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "replay: opendir \"%s\" failed: %s\n", dir, strerror(errno));
        goto out;
    }
    for (;;) {
        char path[4096];
        struct stat st;
        int len;

        errno = 0;
        e = readdir(d);
        if (e == NULL)
            break;
        if (e->d_name[0] == '.')
            continue; /* ".", "..", and hidden files such as .gitkeep */
        len = snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (len < 0 || (size_t)len >= sizeof(path)) {
            fprintf(stderr, "replay: path too long in \"%s\"\n", dir);
            goto out;
        }
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **p = realloc(names, ncap * sizeof(*names));
            if (p == NULL)
                goto out;
            names = p;
            cap = ncap;
        }
        names[n] = strdup(path);
        if (names[n] == NULL)
            goto out;
        n++;
    }
    if (errno != 0) {
        fprintf(stderr, "replay: readdir \"%s\" failed: %s\n", dir, strerror(errno));
        goto out;
    }
    if (n > 0)
        qsort(names, n, sizeof(*names), by_name);
    for (size_t i = 0; i < n; i++)
        if (run_file(names[i], count) < 0)
            goto out;
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (d != NULL)
        closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned long count = 0;
    int rc = 1;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE-OR-DIR...\n", argv[0]);
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int r;

        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: stat \"%s\" failed: %s\n", argv[i], strerror(errno));
            goto out;
        }
        r = S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) : run_file(argv[i], &count);
        if (r < 0)
            goto out;
    }
    if (count == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        goto out;
    }
    printf("replay: %lu inputs ok\n", count);
    rc = 0;
out:
    return rc;
}
