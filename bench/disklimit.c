/*
 * disklimit.c -- what the disk under a directory can do, durably (bench/run.sh).
 *
 * Two measurements, the ceilings the filer is compared against:
 *  (a) durable small creates: --threads threads, each in a loop: open a
 *      unique temp name (O_CREAT|O_EXCL), write 4 KiB, fsync, rename to a
 *      final name, fsync the directory -- the filer's PUT path (DESIGN §4)
 *      with no HTTP and no hashing. Bounded by --seconds and --count.
 *  (b) fsync'ed sequential write: --size bytes in --block writes to one new
 *      file, then fsync; the time includes the fsync.
 * Every file is removed afterwards, as is the work directory it makes under
 * --dir. Each measurement prints one human line and one JSON line (the JSON
 * line begins with '{'). Exit status: 0, or 1 if a system call failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DL_CREATE_SIZE 4096
#define DL_MAX_THREADS 256
#define DL_NAME_MAX    64

struct dl_opts {
    const char *dir;
    unsigned threads;
    double seconds;
    uint64_t count; /* cap on creates */
    uint64_t size;  /* sequential bytes */
    uint64_t block; /* sequential write size */
};

struct dl_shared {
    int dirfd; /* the work directory */
    uint64_t deadline_ns;
    uint64_t max_ops;
    atomic_uint_fast64_t claimed;
    atomic_bool failed;
    unsigned char data[DL_CREATE_SIZE];
};

struct dl_worker {
    struct dl_shared *sh;
    pthread_t tid;
    unsigned id;
    bool started;
    uint64_t done; /* final files c<id>-0 .. c<id>-(done-1) exist */
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Bytes that no file system can compress or deduplicate away. */
static void fill_pattern(unsigned char *p, size_t n, uint64_t seed)
{
    uint64_t x = seed;

    for (size_t i = 0; i < n; i++) {
        x += UINT64_C(0x9e3779b97f4a7c15);
        p[i] = (unsigned char)((x ^ (x >> 29)) * UINT64_C(0xbf58476d1ce4e5b9) >> 56);
    }
}

/* Write all n bytes. Returns 0 or an errno value. */
static int write_full(int fd, const unsigned char *p, size_t n)
{
    int err = 0;

    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0) {
            err = errno;
            if (err == EINTR)
                continue;
            goto out;
        }
        p += w;
        n -= (size_t)w;
    }
    err = 0;
out:
    return err;
}

static int name_of(char *out, size_t cap, unsigned id, uint64_t seq, bool tmp)
{
    int n = snprintf(out, cap, "c%u-%" PRIu64 "%s", id, seq, tmp ? ".tmp" : "");

    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* One durable create, as the filer does it. Returns 0 or -1 (logged). */
static int create_one(struct dl_shared *sh, unsigned id, uint64_t seq)
{
    char tmp[DL_NAME_MAX];
    char dst[DL_NAME_MAX];
    const char *what = NULL;
    bool tmp_exists = false;
    int fd = -1;
    int err = 0;
    int rc = -1;

    if (name_of(tmp, sizeof(tmp), id, seq, true) != 0 ||
        name_of(dst, sizeof(dst), id, seq, false) != 0)
        goto out;
    fd = openat(sh->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = errno;
        what = "open";
        goto out;
    }
    tmp_exists = true;
    err = write_full(fd, sh->data, sizeof(sh->data));
    if (err != 0) {
        what = "write";
        goto out;
    }
    if (fsync(fd) != 0) {
        err = errno;
        what = "fsync";
        goto out;
    }
    if (renameat(sh->dirfd, tmp, sh->dirfd, dst) != 0) {
        err = errno;
        what = "rename";
        goto out;
    }
    tmp_exists = false;
    if (fsync(sh->dirfd) != 0) {
        err = errno;
        what = "fsync of the directory";
        goto out;
    }
    rc = 0;
out:
    if (what != NULL)
        fprintf(stderr, "disklimit: %s \"%s\" failed: %s\n", what, tmp, strerror(err));
    if (fd >= 0)
        close(fd);
    if (tmp_exists)
        unlinkat(sh->dirfd, tmp, 0);
    return rc;
}

static void *create_loop(void *arg)
{
    struct dl_worker *w = arg;
    struct dl_shared *sh = w->sh;

    while (!atomic_load(&sh->failed)) {
        if (atomic_fetch_add(&sh->claimed, 1) >= sh->max_ops || now_ns() >= sh->deadline_ns)
            break;
        if (create_one(sh, w->id, w->done) != 0) {
            atomic_store(&sh->failed, true);
            break;
        }
        w->done++;
    }
    return NULL;
}

/* (a) Returns 0 or -1. */
static int measure_creates(const struct dl_opts *o, int dirfd)
{
    struct dl_shared *sh = NULL;
    struct dl_worker *w = NULL;
    uint64_t t0, t1, total = 0;
    double secs;
    int rc = -1;

    sh = calloc(1, sizeof(*sh));
    w = calloc(o->threads, sizeof(*w));
    if (sh == NULL || w == NULL) {
        fprintf(stderr, "disklimit: out of memory\n");
        goto out;
    }
    sh->dirfd = dirfd;
    sh->max_ops = o->count;
    atomic_init(&sh->claimed, 0);
    atomic_init(&sh->failed, false);
    fill_pattern(sh->data, sizeof(sh->data), 1);
    t0 = now_ns();
    sh->deadline_ns = t0 + (uint64_t)(o->seconds * 1e9);
    for (unsigned i = 0; i < o->threads; i++) {
        int err;

        w[i].sh = sh;
        w[i].id = i;
        err = pthread_create(&w[i].tid, NULL, create_loop, &w[i]);
        if (err != 0) {
            fprintf(stderr, "disklimit: pthread_create failed: %s\n", strerror(err));
            atomic_store(&sh->failed, true);
            break;
        }
        w[i].started = true;
    }
    for (unsigned i = 0; i < o->threads; i++)
        if (w[i].started)
            pthread_join(w[i].tid, NULL);
    t1 = now_ns();
    for (unsigned i = 0; i < o->threads; i++)
        total += w[i].done;
    if (atomic_load(&sh->failed))
        goto out;
    secs = (double)(t1 - t0) / 1e9;
    printf("disklimit: durable 4 KiB creates (open O_EXCL, write, fsync, rename, fsync dir), "
           "%u threads: %" PRIu64 " in %.2f s = %.1f creates/s\n",
           o->threads, total, secs, (double)total / secs);
    printf("{\"test\":\"creates\",\"threads\":%u,\"ops\":%" PRIu64
           ",\"seconds\":%.3f,\"per_s\":%.1f}\n",
           o->threads, total, secs, (double)total / secs);
    fflush(stdout);
    rc = 0;
out:
    /* Remove every final name made; a failed create removed its own temp. */
    for (unsigned i = 0; w != NULL && i < o->threads; i++) {
        for (uint64_t seq = 0; seq < w[i].done; seq++) {
            char name[DL_NAME_MAX];

            if (name_of(name, sizeof(name), i, seq, false) == 0)
                unlinkat(dirfd, name, 0);
        }
    }
    free(w);
    free(sh);
    return rc;
}

/* (b) Returns 0 or -1. */
static int measure_write(const struct dl_opts *o, int dirfd)
{
    static const char name[] = "seq.tmp";
    unsigned char *buf = NULL;
    const char *what = NULL;
    bool exists = false;
    uint64_t t0, t1, left;
    double secs;
    int fd = -1;
    int err = 0;
    int rc = -1;

    buf = malloc(o->block);
    if (buf == NULL) {
        fprintf(stderr, "disklimit: out of memory for a %" PRIu64 "-byte block\n", o->block);
        goto out;
    }
    fill_pattern(buf, o->block, 2);
    fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = errno;
        what = "open";
        goto out;
    }
    exists = true;
    t0 = now_ns();
    left = o->size;
    while (left > 0) {
        size_t n = left < o->block ? (size_t)left : (size_t)o->block;

        err = write_full(fd, buf, n);
        if (err != 0) {
            what = "write";
            goto out;
        }
        left -= n;
    }
    if (fsync(fd) != 0) {
        err = errno;
        what = "fsync";
        goto out;
    }
    t1 = now_ns();
    secs = (double)(t1 - t0) / 1e9;
    printf("disklimit: fsync'ed sequential write: %" PRIu64 " MiB in %" PRIu64
           " KiB writes + fsync in %.2f s = %.1f MB/s\n",
           o->size >> 20, o->block >> 10, secs, (double)o->size / 1e6 / secs);
    printf("{\"test\":\"write\",\"bytes\":%" PRIu64 ",\"block\":%" PRIu64
           ",\"seconds\":%.3f,\"mb_per_s\":%.1f}\n",
           o->size, o->block, secs, (double)o->size / 1e6 / secs);
    fflush(stdout);
    rc = 0;
out:
    if (what != NULL)
        fprintf(stderr, "disklimit: %s \"%s\" failed: %s\n", what, name, strerror(err));
    if (fd >= 0)
        close(fd);
    if (exists)
        unlinkat(dirfd, name, 0);
    free(buf);
    return rc;
}

static int parse_size(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;
    uint64_t mult = 1;
    int rc = -1;

    if (s[0] < '0' || s[0] > '9')
        goto out;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        goto out;
    if (*end == 'K' || *end == 'k')
        mult = UINT64_C(1) << 10;
    else if (*end == 'M' || *end == 'm')
        mult = UINT64_C(1) << 20;
    else if (*end == 'G' || *end == 'g')
        mult = UINT64_C(1) << 30;
    else if (*end != '\0')
        goto out;
    if (*end != '\0' && end[1] != '\0')
        goto out;
    if (v > UINT64_MAX / mult)
        goto out;
    *out = v * mult;
    rc = 0;
out:
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: disklimit --dir DIR [options]\n"
               "  --dir DIR        where to measure (a work directory is made and removed)\n"
               "  --threads N      threads for durable creates; default 16\n"
               "  --seconds S      time limit for durable creates; default 5\n"
               "  --count N        cap on durable creates; default 20000\n"
               "  --size BYTES     sequential write size, K/M/G suffixes; default 256M\n"
               "  --block BYTES    sequential write block; default 1M\n"
               "  --skip-creates, --skip-write   run one measurement only\n");
}

int main(int argc, char **argv)
{
    enum {
        OPT_DIR = 256,
        OPT_THREADS,
        OPT_SECONDS,
        OPT_COUNT,
        OPT_SIZE,
        OPT_BLOCK,
        OPT_NOCREATE,
        OPT_NOWRITE,
        OPT_HELP
    };
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, OPT_DIR},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"seconds", required_argument, NULL, OPT_SECONDS},
        {"count", required_argument, NULL, OPT_COUNT},
        {"size", required_argument, NULL, OPT_SIZE},
        {"block", required_argument, NULL, OPT_BLOCK},
        {"skip-creates", no_argument, NULL, OPT_NOCREATE},
        {"skip-write", no_argument, NULL, OPT_NOWRITE},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    struct dl_opts o = {NULL, 16, 5.0, 20000, UINT64_C(256) << 20, UINT64_C(1) << 20};
    bool do_creates = true, do_write = true;
    char work[4096];
    bool work_made = false;
    int dirfd = -1;
    int rc = 2;

    for (;;) {
        int c = getopt_long(argc, argv, "", longopts, NULL);
        uint64_t v = 0;
        char *end = NULL;
        const char *bad = NULL;

        if (c == -1)
            break;
        switch (c) {
        case OPT_DIR:
            o.dir = optarg;
            break;
        case OPT_THREADS:
            if (parse_size(optarg, &v) != 0 || v < 1 || v > DL_MAX_THREADS)
                bad = "--threads must be 1 to 256";
            o.threads = (unsigned)v;
            break;
        case OPT_SECONDS:
            errno = 0;
            o.seconds = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(o.seconds > 0) ||
                o.seconds > 86400)
                bad = "--seconds must be a positive number";
            break;
        case OPT_COUNT:
            if (parse_size(optarg, &o.count) != 0 || o.count < 1)
                bad = "--count must be a positive integer";
            break;
        case OPT_SIZE:
            if (parse_size(optarg, &o.size) != 0 || o.size < 1)
                bad = "--size must be a positive byte count (K/M/G suffixes)";
            break;
        case OPT_BLOCK:
            if (parse_size(optarg, &o.block) != 0 || o.block < 1 || o.block > (UINT64_C(1) << 30))
                bad = "--block must be 1 byte to 1G";
            break;
        case OPT_NOCREATE:
            do_creates = false;
            break;
        case OPT_NOWRITE:
            do_write = false;
            break;
        case OPT_HELP:
            usage(stdout);
            rc = 0;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
        if (bad != NULL) {
            fprintf(stderr, "disklimit: %s (got \"%s\")\n", bad, optarg);
            goto out;
        }
    }
    if (o.dir == NULL || optind != argc) {
        usage(stderr);
        goto out;
    }
    rc = 1;
    {
        int n = snprintf(work, sizeof(work), "%s/disklimit.%ld", o.dir, (long)getpid());

        if (n < 0 || (size_t)n >= sizeof(work)) {
            fprintf(stderr, "disklimit: --dir is too long\n");
            goto out;
        }
    }
    if (mkdir(work, 0755) != 0) {
        int err = errno;

        fprintf(stderr, "disklimit: mkdir \"%s\" failed: %s\n", work, strerror(err));
        goto out;
    }
    work_made = true;
    dirfd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        int err = errno;

        fprintf(stderr, "disklimit: open \"%s\" failed: %s\n", work, strerror(err));
        goto out;
    }
    if (do_creates && measure_creates(&o, dirfd) != 0)
        goto out;
    if (do_write && measure_write(&o, dirfd) != 0)
        goto out;
    rc = 0;
out:
    if (dirfd >= 0)
        close(dirfd);
    if (work_made && rmdir(work) != 0) {
        int err = errno;

        fprintf(stderr, "disklimit: rmdir \"%s\" failed: %s\n", work, strerror(err));
        rc = 1;
    }
    return rc;
}
