/*
 * coffer-bench.c -- HTTP load generator for the filer benchmark (bench/run.sh).
 *
 * One thread keeps up to --concurrency requests in flight through libcurl's
 * multi interface; each slot owns one easy handle that is reused for every
 * request it carries, so connections stay alive. Request i goes to --url with
 * every "{i}" replaced by i.
 *
 * The data path (coffer server) names objects by the UUID the app returns, so
 * two more modes: POST uploads to a fixed URL, check the 201 JSON reply (size,
 * and sha512 with --sha-header) and record its "uuid" as line i of
 * --uuids-out; --uuids-in reads such a file back and request i goes to --url
 * with "{uuid}" replaced by line i, its bytes checked against object i.
 *
 * Bodies: object i is a deterministic byte stream (counter-based splitmix64
 * seeded by i), produced while curl reads it (PUT) and compared while curl
 * writes it (GET), so an object of any size is never held in memory and every
 * byte a GET returns is checked. Any offset of the stream can be produced
 * directly, which lets curl rewind an upload (CURLOPT_SEEKFUNCTION).
 *
 * The gateway path (/api/v1/fs/PATH) takes a bearer token (--header, sent
 * with every request) and may redirect a GET elsewhere: redirects are
 * followed (--follow) and the bytes at the end are checked as usual. With
 * --sha-check the digests are computed as for --sha-header but not sent, and
 * a reply is checked only where it carries one (an X-Coffer-SHA512 header, or
 * the "sha512" of a PUT's JSON reply).
 *
 * Bounded by --count and --time-limit (no new request after the limit).
 * Figures, not pass/fail: the exit status is 1 only if a request failed (a
 * transport error, an unexpected status, a wrong byte or length, a wrong
 * X-Coffer-SHA512 reply), 2 for a usage or set-up error.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "coffer/buf.h"
#include "coffer/common.h"
#include "coffer/cred.h"
#include "coffer/err.h"
#include "coffer/sha512.h"

enum bench_method {
    BENCH_PUT,
    BENCH_POST,
    BENCH_GET,
    BENCH_DELETE,
};

#define BENCH_MAX_EXPECT      8
#define BENCH_MAX_HEADERS     16
#define BENCH_URL_MAX         2048
#define BENCH_MAX_CONCURRENCY 1024
#define BENCH_ERRORS_SHOWN    10
/* Bytes generated per step when verifying or hashing: fits the stack, and
 * large enough that the per-call overhead is noise next to the mixing. */
#define BENCH_CHUNK 16384
/* curl's receive and send buffers for large objects: 16 KiB (the default)
 * costs one callback per 16 KiB, which shows at several GB/s on loopback. */
#define BENCH_BIG_BUFFER (512L * 1024L)
/* A UUID as recorded in a --uuids-out file: the app's are 36 characters; the
 * cap only keeps a wrong reply from growing memory or the URL. */
#define BENCH_UUID_MAX 64
/* The app's reply to an upload is about 600 bytes with 3 filers. */
#define BENCH_REPLY_MAX 65536
/* A --uuids-out line for an index whose upload failed. */
#define BENCH_NO_UUID "-"

struct bench_opts {
    enum bench_method method;
    uint64_t size;
    uint64_t count;
    unsigned concurrency;
    const char *url_tmpl;
    long expect[BENCH_MAX_EXPECT];
    size_t n_expect;
    bool sha_header;
    bool sha_check; /* digests computed, checked only where a reply carries one */
    bool follow;    /* follow redirects */
    const char *headers[BENCH_MAX_HEADERS]; /* --header lines, borrowed from argv */
    size_t n_headers;
    double time_limit; /* seconds */
    double timeout;    /* seconds, per request */
    const char *label;
    bool json;
    const char *uuids_out; /* POST: write the returned UUIDs here, line i = index i */
    const char *uuids_in;  /* read UUIDs from here for {uuid} */
    const char *key_file;  /* sign every request with this cluster key (cred.h) */
};

struct bench;

/* One request in flight at a time; the easy handle lives as long as the run. */
struct bench_slot {
    struct bench *b;
    CURL *easy;
    struct curl_slist *hdrs; /* owned; rebuilt per request */
    uint64_t index;
    uint64_t seed;
    uint64_t off;        /* bytes produced (PUT) or received (GET) so far */
    uint64_t bad_off;    /* first mismatching offset when mismatch */
    bool mismatch;       /* a received byte differs, or the body is too long */
    bool sha_seen;       /* the reply carried X-Coffer-SHA512 */
    bool sha_mismatch;   /* ... and it differs from the expected one */
    bool reply_overrun;  /* a POST reply went past BENCH_REPLY_MAX */
    struct cf_buf reply; /* POST: the reply body */
    uint64_t t0_ns;
    char url[BENCH_URL_MAX];
    char errbuf[CURL_ERROR_SIZE];
};

struct bench {
    struct bench_opts o;
    struct cf_cred *cred; /* --key-file; NULL: requests go unsigned */
    CURLM *multi;
    struct bench_slot *slots; /* o.concurrency of them */
    struct bench_slot **free_slots;
    size_t n_free;
    char (*sha_hex)[CF_SHA512_HEX_LEN + 1]; /* expected digests of 0..count-1 with --sha-header */
    char (*uuids)[BENCH_UUID_MAX + 1];      /* --uuids-in/out; "" where none */
    uint64_t n_uuids;                       /* entries of uuids in use */
    uint64_t cap_uuids;
    uint64_t next; /* next index to issue */
    uint64_t ok;
    uint64_t errors;
    uint64_t skipped; /* --uuids-in lines without a UUID (their upload failed) */
    uint64_t *lat_ns; /* latency of each successful request */
    size_t n_lat;
    size_t cap_lat;
    uint64_t start_ns;
    uint64_t end_ns;
};

/* ---- deterministic content ---- */

#define GEN_GAMMA UINT64_C(0x9e3779b97f4a7c15)

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Added to every object index before seeding (--seed): set once while the
 * options are parsed, before any thread starts; read-only afterwards. */
static uint64_t seed_base;
/* --compressible: set with seed_base, read-only afterwards. */
static bool gen_text;

static uint64_t gen_seed(uint64_t index)
{
    return mix64((index + seed_base) ^ UINT64_C(0x636f66666572)); /* "coffer" */
}

/* Bytes [off, off + n) of the object with this seed: little-endian word k is
 * splitmix64's k-th output, so any offset is reachable without the ones before. */
static void gen_fill(uint64_t seed, uint64_t off, unsigned char *p, size_t n)
{
    uint64_t k = off / 8;
    size_t skip = (size_t)(off % 8);

    if (gen_text) {
        /* Runs of 4 equal letters out of 16: zstd stores it at about a
         * fifth of its size. */
        while (n > 0) {
            uint64_t run = off / 4;
            size_t take = 4 - (size_t)(off % 4);
            unsigned char c = (unsigned char)('a' + (mix64(seed + (run + 1) * GEN_GAMMA) & 15));
            if (take > n)
                take = n;
            memset(p, c, take);
            p += take;
            off += take;
            n -= take;
        }
        return;
    }
    while (n > 0) {
        uint64_t w = mix64(seed + (k + 1) * GEN_GAMMA);
        unsigned char bytes[8];
        size_t take = 8 - skip;

        bytes[0] = (unsigned char)w;
        bytes[1] = (unsigned char)(w >> 8);
        bytes[2] = (unsigned char)(w >> 16);
        bytes[3] = (unsigned char)(w >> 24);
        bytes[4] = (unsigned char)(w >> 32);
        bytes[5] = (unsigned char)(w >> 40);
        bytes[6] = (unsigned char)(w >> 48);
        bytes[7] = (unsigned char)(w >> 56);
        if (take > n)
            take = n;
        memcpy(p, bytes + skip, take);
        p += take;
        n -= take;
        skip = 0;
        k++;
    }
}

/* SHA-512 (hex) of object `index` of `size` bytes. Returns 0 or CF_E*. */
static int gen_sha512_hex(uint64_t index, uint64_t size, char hex[CF_SHA512_HEX_LEN + 1])
{
    struct cf_sha512 ctx = {NULL};
    unsigned char buf[BENCH_CHUNK];
    uint8_t digest[CF_SHA512_LEN];
    uint64_t seed = gen_seed(index);
    uint64_t off = 0;
    int rc;

    rc = cf_sha512_init(&ctx);
    if (rc != 0)
        goto out;
    while (off < size) {
        size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);

        gen_fill(seed, off, buf, n);
        rc = cf_sha512_update(&ctx, buf, n);
        if (rc != 0)
            goto out;
        off += n;
    }
    rc = cf_sha512_final(&ctx, digest);
    if (rc != 0)
        goto out;
    cf_sha512_hex(digest, hex);
out:
    cf_sha512_fini(&ctx);
    return rc;
}

/* ---- option parsing ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: coffer-bench --url TEMPLATE [options]\n"
            "  --url TEMPLATE         request URL; every {i} becomes the request index and\n"
            "                         every {uuid} line i of --uuids-in\n"
            "                         (e.g. http://127.0.0.1:8301/o/bench/{i})\n"
            "  --method PUT|POST|GET|DELETE  default PUT; POST expects the app's JSON reply\n"
            "                         {\"uuid\":..,\"size\":..,\"sha512\":..}\n"
            "  --uuids-out FILE       with POST: write each reply's uuid to FILE, line i for\n"
            "                         request i (\"-\" where the upload failed)\n"
            "  --uuids-in FILE        with GET or DELETE: line i of FILE is object i's uuid;\n"
            "                         --count is cut to the lines, \"-\" lines are skipped\n"
            "  --size BYTES           object size, K/M/G suffixes (x1024); default 4K\n"
            "  --count N              requests, indexes 0..N-1; default 1000\n"
            "  --concurrency C        requests in flight; default 16\n"
            "  --expect-status LIST   accepted statuses, e.g. 201,204;\n"
            "                         default PUT and POST 201, GET 200, DELETE 204\n"
            "  --sha-header           send X-Coffer-SHA512 on PUT and POST; a 2xx reply to PUT\n"
            "                         or GET must carry the same digest, a POST reply's JSON\n"
            "                         the same sha512 (computed before the clock)\n"
            "  --sha-check            compute the digests as --sha-header does but do not send\n"
            "                         them; check a reply's X-Coffer-SHA512, or the \"sha512\"\n"
            "                         of a PUT's JSON reply, only where it has one\n"
            "  --header 'NAME: VALUE' add this header to every request (repeatable, up to 16;\n"
            "                         e.g. 'Authorization: Bearer TOKEN')\n"
            "  --follow               follow redirects (a GET redirected to a filer); the\n"
            "                         bytes at the end are checked as usual\n"
            "  --time-limit SECONDS   issue no request after this; default 120\n"
            "  --timeout SECONDS      per-request limit; default 300\n"
            "  --label TEXT           name printed with the results\n"
            "  --seed N               object i's bytes are those of object i + N (default 0):\n"
            "                         distinct contents across runs, e.g. with dedupe on\n"
            "  --compressible         objects of letters that compress about 5:1 instead of\n"
            "                         random bytes\n"
            "  --json                 print one JSON line on stdout (the summary goes to stderr)\n"
            "  --key-file PATH        sign every request with this cluster key, as a role does\n");
}

/* Parse a decimal count into *out. Returns 0 or -1. */
static int parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;
    int rc = -1;

    if (s[0] < '0' || s[0] > '9')
        goto out;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        goto out;
    *out = v;
    rc = 0;
out:
    return rc;
}

/* Parse "4096", "4K", "64M", "1G" (binary multiples) into *out. Returns 0 or -1. */
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
    if (*end != '\0') {
        switch (*end) {
        case 'k':
        case 'K':
            mult = UINT64_C(1) << 10;
            break;
        case 'm':
        case 'M':
            mult = UINT64_C(1) << 20;
            break;
        case 'g':
        case 'G':
            mult = UINT64_C(1) << 30;
            break;
        default:
            goto out;
        }
        end++;
        if (strcmp(end, "") != 0 && strcasecmp(end, "B") != 0 && strcasecmp(end, "iB") != 0)
            goto out;
    }
    if (v > UINT64_MAX / mult)
        goto out;
    *out = v * mult;
    rc = 0;
out:
    return rc;
}

/* Parse a positive number of seconds. Returns 0 or -1. */
static int parse_seconds(const char *s, double *out)
{
    char *end = NULL;
    double v;
    int rc = -1;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > 1e7)
        goto out;
    *out = v;
    rc = 0;
out:
    return rc;
}

/* Parse "201" or "201,204" into o->expect. Returns 0 or -1. */
static int parse_expect(const char *s, struct bench_opts *o)
{
    const char *p = s;
    int rc = -1;

    o->n_expect = 0;
    for (;;) {
        char *end = NULL;
        long v;

        if (*p < '1' || *p > '9' || o->n_expect == BENCH_MAX_EXPECT)
            goto out;
        errno = 0;
        v = strtol(p, &end, 10);
        if (errno != 0 || v < 100 || v > 599)
            goto out;
        o->expect[o->n_expect++] = v;
        if (*end == '\0')
            break;
        if (*end != ',')
            goto out;
        p = end + 1;
    }
    rc = 0;
out:
    return rc;
}

static const char *method_name(enum bench_method m)
{
    switch (m) {
    case BENCH_PUT:
        return "PUT";
    case BENCH_POST:
        return "POST";
    case BENCH_GET:
        return "GET";
    case BENCH_DELETE:
        return "DELETE";
    }
    return "?";
}

/* Fill o from argv. Returns 0, 1 after --help, or -1 after printing why. */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    enum {
        OPT_METHOD = 256,
        OPT_SIZE,
        OPT_COUNT,
        OPT_CONC,
        OPT_URL,
        OPT_EXPECT,
        OPT_SHA,
        OPT_LIMIT,
        OPT_TIMEOUT,
        OPT_LABEL,
        OPT_SEED,
        OPT_JSON,
        OPT_UUIDS_OUT,
        OPT_UUIDS_IN,
        OPT_KEY,
        OPT_SHA_CHECK,
        OPT_HEADER,
        OPT_FOLLOW,
        OPT_TEXT,
        OPT_HELP
    };
    static const struct option longopts[] = {
        {"method", required_argument, NULL, OPT_METHOD},
        {"size", required_argument, NULL, OPT_SIZE},
        {"count", required_argument, NULL, OPT_COUNT},
        {"concurrency", required_argument, NULL, OPT_CONC},
        {"url", required_argument, NULL, OPT_URL},
        {"expect-status", required_argument, NULL, OPT_EXPECT},
        {"sha-header", no_argument, NULL, OPT_SHA},
        {"time-limit", required_argument, NULL, OPT_LIMIT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"label", required_argument, NULL, OPT_LABEL},
        {"seed", required_argument, NULL, OPT_SEED},
        {"compressible", no_argument, NULL, OPT_TEXT},
        {"json", no_argument, NULL, OPT_JSON},
        {"uuids-out", required_argument, NULL, OPT_UUIDS_OUT},
        {"uuids-in", required_argument, NULL, OPT_UUIDS_IN},
        {"key-file", required_argument, NULL, OPT_KEY},
        {"sha-check", no_argument, NULL, OPT_SHA_CHECK},
        {"header", required_argument, NULL, OPT_HEADER},
        {"follow", no_argument, NULL, OPT_FOLLOW},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    uint64_t conc = 16;
    const char *expect = NULL;
    int rc = -1;

    o->method = BENCH_PUT;
    o->size = 4096;
    o->count = 1000;
    o->time_limit = 120;
    o->timeout = 300;
    o->label = "";
    for (;;) {
        int c = getopt_long(argc, argv, "", longopts, NULL);
        const char *bad = NULL;

        if (c == -1)
            break;
        switch (c) {
        case OPT_METHOD:
            if (strcasecmp(optarg, "PUT") == 0)
                o->method = BENCH_PUT;
            else if (strcasecmp(optarg, "POST") == 0)
                o->method = BENCH_POST;
            else if (strcasecmp(optarg, "GET") == 0)
                o->method = BENCH_GET;
            else if (strcasecmp(optarg, "DELETE") == 0)
                o->method = BENCH_DELETE;
            else
                bad = "--method must be PUT, POST, GET or DELETE";
            break;
        case OPT_SIZE:
            if (parse_size(optarg, &o->size) != 0)
                bad = "--size must be a byte count, optionally with K, M or G";
            break;
        case OPT_COUNT:
            if (parse_u64(optarg, &o->count) != 0)
                bad = "--count must be a non-negative integer";
            break;
        case OPT_CONC:
            if (parse_u64(optarg, &conc) != 0 || conc < 1 || conc > BENCH_MAX_CONCURRENCY)
                bad = "--concurrency must be 1 to 1024";
            break;
        case OPT_URL:
            o->url_tmpl = optarg;
            break;
        case OPT_EXPECT:
            expect = optarg;
            break;
        case OPT_SHA:
            o->sha_header = true;
            break;
        case OPT_LIMIT:
            if (parse_seconds(optarg, &o->time_limit) != 0)
                bad = "--time-limit must be a positive number of seconds";
            break;
        case OPT_TIMEOUT:
            if (parse_seconds(optarg, &o->timeout) != 0)
                bad = "--timeout must be a positive number of seconds";
            break;
        case OPT_LABEL:
            o->label = optarg;
            break;
        case OPT_SEED:
            if (parse_u64(optarg, &seed_base) != 0)
                bad = "--seed must be a non-negative integer";
            break;
        case OPT_TEXT:
            gen_text = true;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_KEY:
            o->key_file = optarg;
            break;
        case OPT_SHA_CHECK:
            o->sha_check = true;
            break;
        case OPT_HEADER: {
            const char *colon = strchr(optarg, ':');

            if (o->n_headers == BENCH_MAX_HEADERS)
                bad = "--header may be given 16 times at most";
            else if (colon == NULL || colon == optarg || strpbrk(optarg, "\r\n") != NULL)
                bad = "--header takes 'NAME: VALUE' on one line";
            else
                o->headers[o->n_headers++] = optarg;
            break;
        }
        case OPT_FOLLOW:
            o->follow = true;
            break;
        case OPT_UUIDS_OUT:
            o->uuids_out = optarg;
            break;
        case OPT_UUIDS_IN:
            o->uuids_in = optarg;
            break;
        case OPT_HELP:
            usage(stdout);
            rc = 1;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
        if (bad != NULL) {
            fprintf(stderr, "coffer-bench: %s (got \"%s\")\n", bad, optarg);
            goto out;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "coffer-bench: unexpected argument \"%s\"\n", argv[optind]);
        goto out;
    }
    if (o->url_tmpl == NULL) {
        fprintf(stderr, "coffer-bench: --url is required\n");
        usage(stderr);
        goto out;
    }
    if (o->uuids_out != NULL && o->method != BENCH_POST) {
        fprintf(stderr, "coffer-bench: --uuids-out goes with --method POST\n");
        goto out;
    }
    if (o->uuids_in != NULL && o->method != BENCH_GET && o->method != BENCH_DELETE) {
        fprintf(stderr, "coffer-bench: --uuids-in goes with --method GET or DELETE\n");
        goto out;
    }
    if ((strstr(o->url_tmpl, "{uuid}") != NULL) != (o->uuids_in != NULL)) {
        fprintf(stderr, "coffer-bench: a --url with {uuid} needs --uuids-in, and the reverse\n");
        goto out;
    }
    if (o->sha_header && o->sha_check) {
        fprintf(stderr, "coffer-bench: --sha-header and --sha-check do not go together\n");
        goto out;
    }
    o->concurrency = (unsigned)conc;
    if (expect != NULL) {
        if (parse_expect(expect, o) != 0) {
            fprintf(stderr,
                    "coffer-bench: --expect-status takes codes such as 201,204 (got \"%s\")\n",
                    expect);
            goto out;
        }
    } else {
        o->n_expect = 1;
        o->expect[0] = o->method == BENCH_PUT || o->method == BENCH_POST ? 201
                       : o->method == BENCH_GET                          ? 200
                                                                         : 204;
    }
    rc = 0;
out:
    return rc;
}

/* ---- UUID files ---- */

/* A UUID is safe to record and to put in a URL: 1 to BENCH_UUID_MAX
 * characters of A-Z a-z 0-9 and '-', the first not '-' (so never BENCH_NO_UUID). */
static bool uuid_ok(const char *p, size_t n)
{
    if (n < 1 || n > BENCH_UUID_MAX || p[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-'))
            return false;
    }
    return true;
}

/* Make b->uuids hold entries 0..n-1; new entries are "". */
static void uuids_reserve(struct bench *b, uint64_t n)
{
    uint64_t cap = b->cap_uuids;

    if (n <= cap)
        return;
    while (cap < n)
        cap = cap ? cap * 2 : 1024;
    b->uuids = cf_xrealloc(b->uuids, (size_t)cap * sizeof(*b->uuids));
    memset(b->uuids + b->cap_uuids, 0, (size_t)(cap - b->cap_uuids) * sizeof(*b->uuids));
    b->cap_uuids = cap;
}

/* Read --uuids-in: line i is object i's UUID, or BENCH_NO_UUID. Only the first
 * --count lines are read, and --count is cut to the lines there are.
 * Returns 0, or -1 after printing why. */
static int uuids_load(struct bench *b)
{
    const char *path = b->o.uuids_in;
    FILE *f = NULL;
    char *line = NULL;
    size_t line_cap = 0;
    int rc = -1;

    f = fopen(path, "r");
    if (f == NULL) {
        int err = errno;

        fprintf(stderr, "coffer-bench: open \"%s\" failed: %s\n", path, strerror(err));
        goto out;
    }
    while (b->n_uuids < b->o.count) {
        ssize_t got = getline(&line, &line_cap, f);
        size_t n;

        if (got < 0)
            break;
        n = (size_t)got;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        uuids_reserve(b, b->n_uuids + 1);
        if (n == strlen(BENCH_NO_UUID) && memcmp(line, BENCH_NO_UUID, n) == 0) {
            b->uuids[b->n_uuids][0] = '\0';
        } else if (uuid_ok(line, n)) {
            memcpy(b->uuids[b->n_uuids], line, n);
            b->uuids[b->n_uuids][n] = '\0';
        } else {
            fprintf(stderr, "coffer-bench: %s:%" PRIu64 ": not a uuid\n", path, b->n_uuids + 1);
            goto out;
        }
        b->n_uuids++;
    }
    if (ferror(f)) {
        fprintf(stderr, "coffer-bench: read \"%s\" failed\n", path);
        goto out;
    }
    b->o.count = b->n_uuids;
    rc = 0;
out:
    free(line);
    if (f != NULL)
        fclose(f);
    return rc;
}

/* Write --uuids-out: one line per request issued, in index order.
 * Returns 0, or -1 after printing why. */
static int uuids_save(struct bench *b)
{
    const char *path = b->o.uuids_out;
    FILE *f = NULL;
    int rc = -1;

    f = fopen(path, "w");
    if (f == NULL) {
        int err = errno;

        fprintf(stderr, "coffer-bench: open \"%s\" failed: %s\n", path, strerror(err));
        goto out;
    }
    for (uint64_t i = 0; i < b->next; i++) {
        const char *u = i < b->cap_uuids && b->uuids[i][0] != '\0' ? b->uuids[i] : BENCH_NO_UUID;

        if (fprintf(f, "%s\n", u) < 0)
            break;
    }
    if (ferror(f) || fflush(f) != 0) {
        fprintf(stderr, "coffer-bench: write \"%s\" failed\n", path);
        goto out;
    }
    rc = 0;
out:
    if (f != NULL && fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "coffer-bench: close \"%s\" failed\n", path);
        rc = -1;
    }
    return rc;
}

/* ---- requests ---- */

/* Write the URL of request `index` into out; uuid (borrowed) replaces {uuid}
 * and is NULL when the template has none. Returns 0, or -1 if it does not fit. */
static int format_url(const char *tmpl, uint64_t index, const char *uuid, char *out, size_t cap)
{
    size_t len = 0;
    const char *p = tmpl;
    int rc = -1;

    while (*p != '\0') {
        if (uuid != NULL && strncmp(p, "{uuid}", 6) == 0) {
            size_t n = strlen(uuid);

            if (n >= cap - len)
                goto out;
            memcpy(out + len, uuid, n);
            len += n;
            p += 6;
        } else if (strncmp(p, "{i}", 3) == 0) {
            int n = snprintf(out + len, cap - len, "%" PRIu64, index);

            if (n < 0 || (size_t)n >= cap - len)
                goto out;
            len += (size_t)n;
            p += 3;
        } else {
            if (len + 1 >= cap)
                goto out;
            out[len++] = *p++;
        }
    }
    out[len] = '\0';
    rc = 0;
out:
    return rc;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
    struct bench_slot *s = arg;
    uint64_t left = s->b->o.size - s->off;
    size_t n = size * nitems;

    if (n > left)
        n = (size_t)left;
    gen_fill(s->seed, s->off, (unsigned char *)buf, n);
    s->off += n;
    return n;
}

/* curl rewinds an upload when it must resend it (a reused connection that the
 * server had closed); the stream can restart at any offset. */
static int seek_cb(void *arg, curl_off_t offset, int origin)
{
    struct bench_slot *s = arg;

    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > s->b->o.size)
        return CURL_SEEKFUNC_FAIL;
    s->off = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

static bool status_expected(const struct bench_opts *o, long status)
{
    for (size_t i = 0; i < o->n_expect; i++)
        if (o->expect[i] == status)
            return true;
    return false;
}

/* GET bodies are compared with the generator as they arrive and POST replies
 * kept for slot_finish; other bodies (PUT replies, error JSON) are drained so
 * the connection can be reused. */
static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    struct bench_slot *s = arg;
    const struct bench_opts *o = &s->b->o;
    size_t n = size * nmemb;
    long status = 0;
    size_t done = 0;

    if (o->method == BENCH_POST || (o->method == BENCH_PUT && o->sha_check)) {
        if (!s->reply_overrun && cf_buf_append(&s->reply, data, n) != 0)
            s->reply_overrun = true;
        goto out;
    }
    if (o->method != BENCH_GET)
        goto out;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299)
        goto out;
    if (s->mismatch) {
        s->off += n;
        goto out;
    }
    while (done < n) {
        unsigned char want[BENCH_CHUNK];
        size_t step = n - done < sizeof(want) ? n - done : sizeof(want);

        if (s->off >= o->size) {
            s->mismatch = true;
            s->bad_off = s->off;
            s->off += n - done;
            break;
        }
        if (step > o->size - s->off)
            step = (size_t)(o->size - s->off);
        gen_fill(s->seed, s->off, want, step);
        if (memcmp(want, data + done, step) != 0) {
            size_t j = 0;

            while (want[j] == (unsigned char)data[done + j])
                j++;
            s->mismatch = true;
            s->bad_off = s->off + j;
            s->off += n - done;
            break;
        }
        s->off += step;
        done += step;
    }
out:
    return n;
}

static size_t header_cb(char *data, size_t size, size_t nitems, void *arg)
{
    static const char name[] = "X-Coffer-SHA512:";
    struct bench_slot *s = arg;
    size_t n = size * nitems;
    size_t i = sizeof(name) - 1;
    size_t end;
    const char *want;

    /* A redirect's headers are not the final reply's. */
    if (n >= 5 && strncasecmp(data, "HTTP/", 5) == 0) {
        s->sha_seen = false;
        s->sha_mismatch = false;
    }
    if (s->b->sha_hex == NULL || n < i || strncasecmp(data, name, i) != 0)
        goto out;
    while (i < n && (data[i] == ' ' || data[i] == '\t'))
        i++;
    end = n;
    while (end > i && (data[end - 1] == '\r' || data[end - 1] == '\n' || data[end - 1] == ' '))
        end--;
    want = s->b->sha_hex[s->index];
    s->sha_seen = true;
    s->sha_mismatch =
        end - i != CF_SHA512_HEX_LEN || strncasecmp(data + i, want, CF_SHA512_HEX_LEN) != 0;
out:
    return n;
}

/* Options that stay the same for every request a handle carries. Returns 0 or -1. */
static int slot_init(struct bench *b, struct bench_slot *s)
{
    const struct bench_opts *o = &b->o;
    int c = 0; /* any option that fails makes it non-zero */
    int rc = -1;

    s->b = b;
    s->easy = curl_easy_init();
    if (s->easy == NULL)
        goto out;
    c |= (int)curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    c |= (int)curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf);
    c |= (int)curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    c |= (int)curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    c |= (int)curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
    c |= (int)curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)(o->timeout * 1000));
    c |= (int)curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, write_cb);
    c |= (int)curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    c |= (int)curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, header_cb);
    c |= (int)curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
    if (o->follow) {
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_FOLLOWLOCATION, 1L);
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_MAXREDIRS, 5L);
    }
    if (o->size >= (uint64_t)BENCH_BIG_BUFFER) {
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_BUFFERSIZE, BENCH_BIG_BUFFER);
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_UPLOAD_BUFFERSIZE, BENCH_BIG_BUFFER);
    }
    cf_buf_init(&s->reply, BENCH_REPLY_MAX);
    switch (o->method) {
    case BENCH_PUT:
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_UPLOAD, 1L);
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_READFUNCTION, read_cb);
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_READDATA, s);
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_SEEKFUNCTION, seek_cb);
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_SEEKDATA, s);
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)o->size);
        break;
    case BENCH_POST:
        /* The body comes from read_cb, its length announced up front. */
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_POST, 1L);
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_READFUNCTION, read_cb);
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_READDATA, s);
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_SEEKFUNCTION, seek_cb);
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_SEEKDATA, s);
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->size);
        break;
    case BENCH_GET:
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
        break;
    case BENCH_DELETE:
        c |= (int)curl_easy_setopt(s->easy, CURLOPT_CUSTOMREQUEST, "DELETE");
        break;
    }
    if (c != 0)
        goto out;
    rc = 0;
out:
    return rc;
}

/* Issue request `index` on the free slot s. Returns 0 or -1 (set-up failure). */
static int slot_start(struct bench *b, struct bench_slot *s, uint64_t index)
{
    char sha_line[sizeof("X-Coffer-SHA512: ") + CF_SHA512_HEX_LEN];
    struct curl_slist *h = NULL;
    int n;
    int rc = -1;

    s->index = index;
    s->seed = gen_seed(index);
    if (b->o.method == BENCH_POST)
        uuids_reserve(b, index + 1);
    s->off = 0;
    s->bad_off = 0;
    s->mismatch = false;
    s->sha_seen = false;
    s->sha_mismatch = false;
    s->reply_overrun = false;
    cf_buf_fini(&s->reply);
    cf_buf_init(&s->reply, BENCH_REPLY_MAX);
    s->errbuf[0] = '\0';
    if (format_url(b->o.url_tmpl, index, b->o.uuids_in != NULL ? b->uuids[index] : NULL, s->url,
                   sizeof(s->url)) != 0) {
        fprintf(stderr, "coffer-bench: URL for index %" PRIu64 " is over %d bytes\n", index,
                BENCH_URL_MAX);
        goto out;
    }
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
    /* No "Expect: 100-continue" round trip before each body. */
    h = curl_slist_append(NULL, "Expect:");
    if (h == NULL)
        goto out;
    s->hdrs = h;
    if (b->o.method == BENCH_POST) {
        /* Not curl's default form type: the body is an object's bytes. */
        h = curl_slist_append(s->hdrs, "Content-Type: application/octet-stream");
        if (h == NULL)
            goto out;
        s->hdrs = h;
    }
    if (b->o.sha_header && (b->o.method == BENCH_PUT || b->o.method == BENCH_POST)) {
        n = snprintf(sha_line, sizeof(sha_line), "X-Coffer-SHA512: %s", b->sha_hex[index]);
        if (n < 0 || (size_t)n >= sizeof(sha_line))
            goto out;
        h = curl_slist_append(s->hdrs, sha_line);
        if (h == NULL)
            goto out;
        s->hdrs = h;
    }
    for (size_t k = 0; k < b->o.n_headers; k++) {
        h = curl_slist_append(s->hdrs, b->o.headers[k]);
        if (h == NULL)
            goto out;
        s->hdrs = h;
    }
    s->t0_ns = cf_now_ns();
    /* Signed on the clock: the signature is part of a request's cost. */
    if (b->cred != NULL) {
        static const char *const names[] = {"PUT", "POST", "GET", "DELETE"};
        char line[CF_CRED_HEADER_MAX];
        if (cf_cred_sign_url(b->cred, names[b->o.method], s->url, line) != 0)
            goto out;
        h = curl_slist_append(s->hdrs, line);
        if (h == NULL)
            goto out;
        s->hdrs = h;
    }
    if (curl_easy_setopt(s->easy, CURLOPT_URL, s->url) != CURLE_OK ||
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hdrs) != CURLE_OK)
        goto out;
    if (curl_multi_add_handle(b->multi, s->easy) != CURLM_OK)
        goto out;
    rc = 0;
out:
    return rc;
}

static void record_latency(struct bench *b, uint64_t ns)
{
    if (b->n_lat == b->cap_lat) {
        b->cap_lat = b->cap_lat ? b->cap_lat * 2 : 4096;
        b->lat_ns = cf_xrealloc(b->lat_ns, b->cap_lat * sizeof(*b->lat_ns));
    }
    b->lat_ns[b->n_lat++] = ns;
}

/* Check the app's 201 reply to the POST on s and record its uuid; on a wrong
 * reply, say why in why (left as it is otherwise). */
static void check_post_reply(struct bench *b, struct bench_slot *s, char *why, size_t cap)
{
    json_t *root = NULL;
    json_t *v;
    json_error_t jerr;
    const char *uuid;
    size_t n;

    if (s->reply_overrun) {
        snprintf(why, cap, "reply over %d bytes", BENCH_REPLY_MAX);
        goto out;
    }
    root = json_loadb(s->reply.base != NULL ? s->reply.base : "", s->reply.len, 0, &jerr);
    if (root == NULL || !json_is_object(root)) {
        snprintf(why, cap, "reply is not a JSON object: %s", root == NULL ? jerr.text : "");
        goto out;
    }
    v = json_object_get(root, "uuid");
    uuid = json_string_value(v);
    n = json_string_length(v);
    if (uuid == NULL || !uuid_ok(uuid, n)) {
        snprintf(why, cap, "reply without a valid \"uuid\"");
        goto out;
    }
    v = json_object_get(root, "size");
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) != b->o.size) {
        snprintf(why, cap, "reply \"size\" is not %" PRIu64, b->o.size);
        goto out;
    }
    if (b->sha_hex != NULL) {
        v = json_object_get(root, "sha512");
        if (json_string_length(v) != CF_SHA512_HEX_LEN ||
            strncasecmp(json_string_value(v), b->sha_hex[s->index], CF_SHA512_HEX_LEN) != 0) {
            snprintf(why, cap, "reply \"sha512\" differs from the object's digest");
            goto out;
        }
    }
    memcpy(b->uuids[s->index], uuid, n);
    b->uuids[s->index][n] = '\0';
out:
    json_decref(root);
}

/* With --sha-check: a PUT's reply that is a JSON object with "sha512" (the
 * gateway's) must name the object's digest; any other reply passes. */
static void check_put_reply(struct bench *b, struct bench_slot *s, char *why, size_t cap)
{
    json_t *root = NULL;
    json_t *v;

    if (s->reply_overrun || s->reply.len == 0)
        goto out;
    root = json_loadb(s->reply.base, s->reply.len, 0, NULL);
    v = json_object_get(root, "sha512");
    if (v == NULL)
        goto out;
    if (json_string_length(v) != CF_SHA512_HEX_LEN ||
        strncasecmp(json_string_value(v), b->sha_hex[s->index], CF_SHA512_HEX_LEN) != 0)
        snprintf(why, cap, "reply \"sha512\" differs from the object's digest");
out:
    json_decref(root);
}

/* Judge a finished request: every status is checked, every GET byte, and
 * every POST reply. */
static void slot_finish(struct bench *b, struct bench_slot *s, CURLcode result)
{
    const struct bench_opts *o = &b->o;
    uint64_t now = cf_now_ns();
    long status = 0;
    char why[CURL_ERROR_SIZE + 64];

    why[0] = '\0';
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (result != CURLE_OK)
        snprintf(why, sizeof(why), "%s", s->errbuf[0] ? s->errbuf : curl_easy_strerror(result));
    else if (!status_expected(o, status))
        snprintf(why, sizeof(why), "status %ld", status);
    else if (o->method == BENCH_GET && status >= 200 && status <= 299 && s->mismatch)
        snprintf(why, sizeof(why), "wrong byte at offset %" PRIu64, s->bad_off);
    else if (o->method == BENCH_GET && status >= 200 && status <= 299 && s->off != o->size)
        snprintf(why, sizeof(why), "body of %" PRIu64 " bytes, expected %" PRIu64, s->off, o->size);
    else if (o->method != BENCH_POST && o->sha_header && status >= 200 && status <= 299 &&
             !s->sha_seen)
        snprintf(why, sizeof(why), "reply without X-Coffer-SHA512");
    else if (s->sha_mismatch)
        snprintf(why, sizeof(why), "reply X-Coffer-SHA512 differs from the object's digest");
    else if (o->method == BENCH_POST && status >= 200 && status <= 299)
        check_post_reply(b, s, why, sizeof(why));
    else if (o->method == BENCH_PUT && o->sha_check && status >= 200 && status <= 299)
        check_put_reply(b, s, why, sizeof(why));
    if (why[0] != '\0') {
        b->errors++;
        if (b->errors <= BENCH_ERRORS_SHOWN)
            fprintf(stderr, "coffer-bench: %s %s: %s\n", method_name(o->method), s->url, why);
        else if (b->errors == BENCH_ERRORS_SHOWN + 1)
            fprintf(stderr, "coffer-bench: further errors are counted, not shown\n");
    } else {
        b->ok++;
        record_latency(b, now - s->t0_ns);
    }
    b->end_ns = now;
}

/* Expected digests of objects 0..count-1, computed before the clock starts so
 * hashing does not stall the event loop. Hashing stops at the time limit and
 * the run is cut to the objects hashed. Returns 0 or -1. */
static int precompute_sha(struct bench *b)
{
    uint64_t t0 = cf_now_ns();
    uint64_t limit_ns = (uint64_t)(b->o.time_limit * 1e9);
    size_t cap = 0;
    uint64_t i;
    int rc = -1;

    for (i = 0; i < b->o.count; i++) {
        if (cf_now_ns() - t0 >= limit_ns)
            break;
        if (i == cap) {
            cap = cap ? cap * 2 : 1024;
            b->sha_hex = cf_xrealloc(b->sha_hex, cap * sizeof(*b->sha_hex));
        }
        if (gen_sha512_hex(i, b->o.size, b->sha_hex[i]) != 0) {
            fprintf(stderr, "coffer-bench: SHA-512 failed\n");
            goto out;
        }
    }
    if (i < b->o.count) {
        fprintf(stderr,
                "coffer-bench: hashed %" PRIu64 " objects within the time limit; count cut\n", i);
        b->o.count = i;
    }
    rc = 0;
out:
    return rc;
}

/* Drive the requests until count is reached or the time limit passes and
 * nothing is in flight. Returns 0, or -1 if curl could not be driven. */
static int run(struct bench *b)
{
    const struct bench_opts *o = &b->o;
    uint64_t limit_ns = (uint64_t)(o->time_limit * 1e9);
    unsigned in_flight = 0;
    int rc = -1;

    b->start_ns = cf_now_ns();
    b->end_ns = b->start_ns;
    for (;;) {
        int running = 0;
        unsigned finished = 0;

        while (b->n_free > 0 && b->next < o->count && cf_now_ns() - b->start_ns < limit_ns) {
            struct bench_slot *s = b->free_slots[b->n_free - 1];

            /* The upload of this object failed: there is nothing to fetch. */
            if (o->uuids_in != NULL && b->uuids[b->next][0] == '\0') {
                b->skipped++;
                b->next++;
                continue;
            }
            if (slot_start(b, s, b->next) != 0)
                goto out;
            b->n_free--;
            b->next++;
            in_flight++;
        }
        if (in_flight == 0)
            break;
        if (curl_multi_perform(b->multi, &running) != CURLM_OK)
            goto out;
        for (;;) {
            int queued = 0;
            CURLMsg *msg = curl_multi_info_read(b->multi, &queued);
            char *priv = NULL;
            struct bench_slot *s;

            if (msg == NULL)
                break;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            s = (struct bench_slot *)(void *)priv;
            slot_finish(b, s, msg->data.result);
            curl_multi_remove_handle(b->multi, s->easy);
            b->free_slots[b->n_free++] = s;
            in_flight--;
            finished++;
        }
        /* A finished request frees a slot for the next one; otherwise wait. */
        if (finished == 0 && curl_multi_poll(b->multi, NULL, 0, 1000, NULL) != CURLM_OK)
            goto out;
    }
    rc = 0;
out:
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted latencies, in ms. */
static double percentile_ms(const uint64_t *sorted, size_t n, double p)
{
    size_t rank;

    if (n == 0)
        return 0;
    rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)sorted[rank - 1] / 1e6;
}

/* The label as a JSON string body: quotes, backslashes and control bytes escaped. */
static void json_escape(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

static void report(struct bench *b)
{
    const struct bench_opts *o = &b->o;
    double secs = (double)(b->end_ns - b->start_ns) / 1e9;
    double ops = secs > 0 ? (double)b->ok / secs : 0;
    double mbs = o->method == BENCH_DELETE ? 0 : ops * (double)o->size / 1e6;
    double p50, p99;
    char size_txt[40];
    FILE *human = o->json ? stderr : stdout;

    qsort(b->lat_ns, b->n_lat, sizeof(*b->lat_ns), cmp_u64);
    p50 = percentile_ms(b->lat_ns, b->n_lat, 50);
    p99 = percentile_ms(b->lat_ns, b->n_lat, 99);
    if (o->method == BENCH_DELETE)
        size_txt[0] = '\0';
    else
        snprintf(size_txt, sizeof(size_txt), " of %" PRIu64 " B", o->size);
    fprintf(human,
            "%s%s%s x %" PRIu64 "%s (c=%u) in %.2f s: %.1f ops/s, %.1f MB/s, p50 %.2f ms, "
            "p99 %.2f ms, errors %" PRIu64 "%s\n",
            o->label, o->label[0] ? ": " : "", method_name(o->method), b->next, size_txt,
            o->concurrency, secs, ops, mbs, p50, p99, b->errors,
            b->skipped > 0 ? " (some --uuids-in lines had no uuid)" : "");
    if (o->json) {
        printf("{\"label\":\"");
        json_escape(stdout, o->label);
        printf("\",\"method\":\"%s\",\"size\":%" PRIu64 ",\"concurrency\":%u,\"issued\":%" PRIu64
               ",\"ok\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"seconds\":%.3f,\"ops_per_s\":%.1f,"
               "\"mb_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"skipped\":%" PRIu64 "}\n",
               method_name(o->method), o->size, o->concurrency, b->next, b->ok, b->errors, secs,
               ops, mbs, p50, p99, b->skipped);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct bench b;
    bool curl_up = false;
    int prc;
    int rc = 2;

    memset(&b, 0, sizeof(b));
    prc = parse_args(argc, argv, &b.o);
    if (prc != 0) {
        rc = prc > 0 ? 0 : 2;
        goto out;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "coffer-bench: curl_global_init failed\n");
        goto out;
    }
    curl_up = true;
    if (b.o.key_file != NULL) {
        char err[CF_ERR_LEN] = "";
        b.cred = cf_cred_new();
        if (cf_cred_load_cluster(b.cred, b.o.key_file, err) != 0) {
            fprintf(stderr, "coffer-bench: %s\n", err);
            goto out;
        }
    }
    if (b.o.uuids_in != NULL && uuids_load(&b) != 0)
        goto out;
    if ((b.o.sha_header || b.o.sha_check) && b.o.method != BENCH_DELETE && precompute_sha(&b) != 0)
        goto out;
    b.multi = curl_multi_init();
    if (b.multi == NULL)
        goto out;
    /* Keep one idle connection per slot so every request finds a live one. */
    if (curl_multi_setopt(b.multi, CURLMOPT_MAXCONNECTS, (long)b.o.concurrency) != CURLM_OK)
        goto out;
    b.slots = cf_xcalloc(b.o.concurrency, sizeof(*b.slots));
    b.free_slots = cf_xcalloc(b.o.concurrency, sizeof(*b.free_slots));
    for (unsigned i = 0; i < b.o.concurrency; i++) {
        if (slot_init(&b, &b.slots[i]) != 0) {
            fprintf(stderr, "coffer-bench: could not set up a curl handle\n");
            goto out;
        }
        b.free_slots[b.o.concurrency - 1 - i] = &b.slots[i];
    }
    b.n_free = b.o.concurrency;
    if (run(&b) != 0) {
        fprintf(stderr, "coffer-bench: curl multi interface failed\n");
        goto out;
    }
    report(&b);
    rc = b.errors > 0 ? 1 : 0;
    if (b.o.uuids_out != NULL && uuids_save(&b) != 0)
        rc = 2;
out:
    if (b.slots != NULL) {
        for (unsigned i = 0; i < b.o.concurrency; i++) {
            if (b.slots[i].easy != NULL) {
                curl_multi_remove_handle(b.multi, b.slots[i].easy);
                curl_easy_cleanup(b.slots[i].easy);
            }
            curl_slist_free_all(b.slots[i].hdrs);
            cf_buf_fini(&b.slots[i].reply);
        }
    }
    if (b.multi != NULL)
        curl_multi_cleanup(b.multi);
    if (curl_up)
        curl_global_cleanup();
    free(b.slots);
    free(b.free_slots);
    free(b.sha_hex);
    free(b.lat_ns);
    free(b.uuids);
    cf_cred_free(b.cred);
    return rc;
}
