/*
 * volume.c -- small objects in volume files with group commit (volume_int.h).
 */
#include "volume_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/err.h"
#include "coffer/limits.h"
#include "coffer/log.h"

#define VOL_MAGIC 0x31564643u /* "CFV1" */
#define T_PUT     1
#define T_TOMB    2
#define NBUCKETS  65536u
#define NLOCKS    256u
/* A volume takes no new record once this big (when no sync is pending). */
#define VOL_ROLL (256u << 20)
/* A record claiming more bytes than this is taken for garbage at a scan. */
#define REC_DATA_MAX (1u << 30)
/* Read fds kept open (cf__vol_read_fd): volume ids below RFD_IDS, in
 * chunks of RFD_CHUNK made on first use, at most RFD_MAX fds per store
 * (16 GiB of full volumes; `coffer server` runs several stores in one
 * process, under one fd limit shared with every connection). */
#define RFD_CHUNK 256u
#define RFD_IDS   65536u
#define RFD_MAX   64u

/* Header layout (little-endian). */
#define H_MAGIC  0
#define H_TYPE   4
#define H_NLEN   6
#define H_SIZE   8
#define H_MTIME  16
#define H_BUCKET 24
#define H_TVOL   28
#define H_TOFF   32
#define H_SHA    40
#define H_CRC    104

enum { E_PENDING, E_LIVE, E_DELETING };

struct ent {
    uint32_t vol;
    uint8_t state;
    uint64_t off; /* of the record */
    uint64_t size, mtime_ms;
    uint8_t sha[CF_SHA512_LEN];
    uint16_t nlen;
    char name[];
};

struct bucket {
    struct ent **v; /* by name */
    uint32_t n, cap;
};

struct waiter {
    struct waiter *next;
    int rc;
    bool done;
    /* Signalled when done is set, or when this record is pending and no
     * leader runs: only the writer it concerns wakes. */
    pthread_cond_t cv;
};

/* One fd + 1 per volume id of the chunk; 0: none kept. */
struct rfd_chunk {
    atomic_int fd1[RFD_CHUNK];
};

struct cf_vol {
    const struct cf_io_ops *io;
    char *dir; /* DIR/volumes, for messages */
    int vfd;
    struct bucket *b;
    pthread_mutex_t lk[NLOCKS]; /* lk[i] guards buckets b with b % NLOCKS == i */

    pthread_mutex_t wmu;    /* the writer: */
    pthread_cond_t wcv;     /* nothing pending nor syncing: a roll may start */
    int wfd;                /* the volume taking records, or -1 */
    uint32_t wid;           /* its id */
    uint32_t max_id;        /* the highest id ever present */
    uint64_t wend;          /* its end: where the next record goes */
    uint64_t wsynced;       /* its durable prefix */
    bool syncing;           /* a leader runs an fsync */
    bool sealed;            /* wfd takes no more records */
    struct waiter *pending; /* appended, not yet in a sync */

    /* Read fds kept until close (cf__vol_read_fd); never replaced. */
    _Atomic(struct rfd_chunk *) rfd[RFD_IDS / RFD_CHUNK];
    atomic_uint nrfd; /* fds kept, up to RFD_MAX */
};

/* ---- encoding ---- */

static void put_u16(uint8_t *p, uint16_t x)
{
    p[0] = (uint8_t)x;
    p[1] = (uint8_t)(x >> 8);
}

static void put_u32(uint8_t *p, uint32_t x)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t x = 0;
    for (int i = 3; i >= 0; i--)
        x = x << 8 | p[i];
    return x;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = x << 8 | p[i];
    return x;
}

static uint32_t crc32_update(uint32_t c, const uint8_t *p, size_t n)
{
    c = ~c;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

/* The CRC of a header (its CRC field excluded) and the name after it. */
static uint32_t head_crc(const uint8_t *head, const char *name, size_t nlen)
{
    uint32_t c = crc32_update(0, head, H_CRC);
    return crc32_update(c, (const uint8_t *)name, nlen);
}

/* Fill the header at rec (followed by the name, copied here). */
static void make_head(uint8_t *rec, int type, uint32_t bucket, const char *name, size_t nlen,
                      uint64_t size, uint64_t mtime_ms, uint32_t tvol, uint64_t toff,
                      const uint8_t *sha)
{
    memset(rec, 0, CF__VOL_HEAD);
    put_u32(rec + H_MAGIC, VOL_MAGIC);
    rec[H_TYPE] = (uint8_t)type;
    put_u16(rec + H_NLEN, (uint16_t)nlen);
    put_u64(rec + H_SIZE, size);
    put_u64(rec + H_MTIME, mtime_ms);
    put_u32(rec + H_BUCKET, bucket);
    put_u32(rec + H_TVOL, tvol);
    put_u64(rec + H_TOFF, toff);
    if (sha != NULL)
        memcpy(rec + H_SHA, sha, CF_SHA512_LEN);
    memcpy(rec + CF__VOL_HEAD, name, nlen);
    put_u32(rec + H_CRC, head_crc(rec, name, nlen));
}

static int sha_of(const void *p, size_t n, uint8_t out[CF_SHA512_LEN])
{
    struct cf_sha512 c;
    int rc = cf_sha512_init(&c);

    if (rc == 0)
        rc = cf_sha512_update(&c, p, n);
    if (rc == 0)
        rc = cf_sha512_final(&c, out);
    cf_sha512_fini(&c);
    return rc;
}

static void vol_name(char *out, size_t cap, uint32_t id)
{
    (void)snprintf(out, cap, "%06" PRIu32 ".vol", id);
}

/* ---- the index ---- */

static pthread_mutex_t *lock_of(struct cf_vol *v, uint32_t bucket)
{
    return &v->lk[bucket % NLOCKS];
}

/* Position of name in bucket b; *found says whether it is there. */
static uint32_t bfind(const struct bucket *b, const char *name, bool *found)
{
    uint32_t lo = 0, hi = b->n;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(b->v[mid]->name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void binsert(struct bucket *b, uint32_t at, struct ent *e)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 4;
        b->v = cf_xrealloc(b->v, b->cap * sizeof(*b->v));
    }
    memmove(b->v + at + 1, b->v + at, (b->n - at) * sizeof(*b->v));
    b->v[at] = e;
    b->n++;
}

static void bremove(struct bucket *b, uint32_t at)
{
    free(b->v[at]);
    memmove(b->v + at, b->v + at + 1, (b->n - at - 1) * sizeof(*b->v));
    b->n--;
}

static struct ent *ent_new(const char *name, size_t nlen)
{
    struct ent *e = cf_xcalloc(1, sizeof(*e) + nlen + 1);

    e->nlen = (uint16_t)nlen;
    memcpy(e->name, name, nlen);
    return e;
}

static uint64_t rec_len(const struct ent *e)
{
    return CF__VOL_HEAD + e->nlen + e->size;
}

bool cf__vol_taken(struct cf_vol *v, uint32_t bucket, const char *name)
{
    bool found;

    pthread_mutex_lock(lock_of(v, bucket));
    (void)bfind(&v->b[bucket], name, &found);
    pthread_mutex_unlock(lock_of(v, bucket));
    return found;
}

int cf__vol_lookup(struct cf_vol *v, uint32_t bucket, const char *name, struct cf_vol_obj *out)
{
    struct bucket *b = &v->b[bucket];
    int rc = CF_ENOTFOUND;
    bool found;
    uint32_t i;

    pthread_mutex_lock(lock_of(v, bucket));
    i = bfind(b, name, &found);
    if (found && b->v[i]->state != E_PENDING) {
        const struct ent *e = b->v[i];
        out->vol = e->vol;
        out->off = e->off + CF__VOL_HEAD + e->nlen;
        out->size = e->size;
        out->mtime_ms = e->mtime_ms;
        memcpy(out->sha, e->sha, CF_SHA512_LEN);
        rc = 0;
    }
    pthread_mutex_unlock(lock_of(v, bucket));
    return rc;
}

int cf__vol_open_read(struct cf_vol *v, uint32_t id)
{
    char name[32];
    int fd;

    vol_name(name, sizeof(name), id);
    fd = v->io->openat(v->vfd, name, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        cf_log_errno(CF_LOG_ERROR, errno, "open \"%s/%s\" failed", v->dir, name);
        return CF_EIO;
    }
    return fd;
}

int cf__vol_read_fd(struct cf_vol *v, uint32_t id, bool *owned)
{
    _Atomic(struct rfd_chunk *) *cp;
    struct rfd_chunk *c;
    atomic_int *slot;
    int fd, none = 0;

    *owned = true;
    if (id >= RFD_IDS)
        return cf__vol_open_read(v, id);
    cp = &v->rfd[id / RFD_CHUNK];
    c = atomic_load(cp);
    if (c == NULL) {
        struct rfd_chunk *fresh = cf_xmalloc(sizeof(*fresh));
        for (uint32_t i = 0; i < RFD_CHUNK; i++)
            atomic_init(&fresh->fd1[i], 0);
        /* On a lost race c becomes the winner's chunk. */
        if (atomic_compare_exchange_strong(cp, &c, fresh))
            c = fresh;
        else
            free(fresh);
    }
    slot = &c->fd1[id % RFD_CHUNK];
    fd = atomic_load(slot);
    if (fd > 0) {
        *owned = false;
        return fd - 1;
    }
    fd = cf__vol_open_read(v, id);
    if (fd < 0)
        return fd;
    /* Past RFD_MAX, or when another reader kept an fd first, this one is
     * the caller's, as from cf__vol_open_read. */
    if (atomic_fetch_add(&v->nrfd, 1) >= RFD_MAX) {
        atomic_fetch_sub(&v->nrfd, 1);
        return fd;
    }
    if (!atomic_compare_exchange_strong(slot, &none, fd + 1)) {
        atomic_fetch_sub(&v->nrfd, 1);
        return fd;
    }
    *owned = false;
    return fd;
}

int cf__vol_claim(struct cf_vol *v, uint32_t bucket, const char *name)
{
    struct bucket *b = &v->b[bucket];
    size_t nlen = strlen(name);
    bool found;
    uint32_t at;

    pthread_mutex_lock(lock_of(v, bucket));
    at = bfind(b, name, &found);
    if (!found) {
        struct ent *e = ent_new(name, nlen);
        e->state = E_PENDING;
        binsert(b, at, e);
    }
    pthread_mutex_unlock(lock_of(v, bucket));
    return found ? CF_EEXIST : 0;
}

void cf__vol_unclaim(struct cf_vol *v, uint32_t bucket, const char *name)
{
    struct bucket *b = &v->b[bucket];
    bool found;
    uint32_t at;

    pthread_mutex_lock(lock_of(v, bucket));
    at = bfind(b, name, &found);
    if (found && b->v[at]->state == E_PENDING)
        bremove(b, at);
    pthread_mutex_unlock(lock_of(v, bucket));
}

/* ---- the writer: appends and group commit ---- */

/* Start a new volume (called with wmu held, nothing pending or syncing). */
static int roll(struct cf_vol *v)
{
    char name[32];
    uint32_t id = v->max_id + 1;
    int fd, e;

    vol_name(name, sizeof(name), id);
    fd = v->io->openat(v->vfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        e = errno;
        cf_log_errno(CF_LOG_ERROR, e, "create \"%s/%s\" failed", v->dir, name);
        return cf_err_from_errno(e) == CF_ENOSPC ? CF_ENOSPC : CF_EIO;
    }
    /* The new name is durable before any record in it is acknowledged. */
    if (v->io->fsync(v->vfd) < 0) {
        e = errno;
        cf_log_errno(CF_LOG_ERROR, e, "fsync of \"%s\" failed", v->dir);
        (void)v->io->close(fd);
        (void)v->io->unlinkat(v->vfd, name, 0);
        return CF_EIO;
    }
    if (v->wfd >= 0)
        (void)v->io->close(v->wfd);
    v->wfd = fd;
    v->wid = id;
    v->max_id = id;
    v->wend = v->wsynced = 0;
    v->sealed = false;
    return 0;
}

/* Cut the volume back to its durable prefix after a failure; a volume that
 * cannot be cut takes no more records. Called with wmu held. */
static void cut_back(struct cf_vol *v)
{
    if (ftruncate(v->wfd, (off_t)v->wsynced) < 0 ||
        lseek(v->wfd, (off_t)v->wsynced, SEEK_SET) < 0 || v->io->fsync(v->wfd) < 0) {
        cf_log_errno(CF_LOG_ERROR, errno,
                     "volume %06" PRIu32 " in \"%s\" cannot be cut back after a failure; "
                     "no more records go to it",
                     v->wid, v->dir);
        v->sealed = true;
    }
    v->wend = v->wsynced;
}

/* Append rec (len bytes) and wait until it is durable; *vol, *off get its
 * place (set before the wait, under *lk if not NULL, so that a failure
 * can find the entry). Returns 0, CF_ENOSPC or CF_EIO. */
static int append_durable(struct cf_vol *v, const uint8_t *rec, size_t len, uint32_t *vol,
                          uint64_t *off)
{
    struct waiter w = {.next = NULL, .rc = 0, .done = false};
    size_t done = 0;
    int rc = 0, e;

    pthread_cond_init(&w.cv, NULL);
    pthread_mutex_lock(&v->wmu);
    for (;;) {
        bool need = v->wfd < 0 || v->sealed || v->wend >= VOL_ROLL;
        if (!need)
            break;
        if (!v->syncing && v->pending == NULL) {
            rc = roll(v);
            if (rc < 0)
                goto out;
            break;
        }
        if (v->wfd >= 0 && !v->sealed)
            break; /* over the size, but busy: roll later */
        pthread_cond_wait(&v->wcv, &v->wmu);
    }
    while (done < len) {
        ssize_t n = v->io->write(v->wfd, rec + done, len - done);
        if (n < 0) {
            e = errno;
            if (e == EINTR)
                continue;
            cf_log_errno(e == ENOSPC ? CF_LOG_WARN : CF_LOG_ERROR, e,
                         "append to volume %06" PRIu32 " in \"%s\" failed", v->wid, v->dir);
            rc = cf_err_from_errno(e) == CF_ENOSPC ? CF_ENOSPC : CF_EIO;
            /* Only durable records and the appends of others are behind:
             * cut ours (and, if it cannot be cut, everything undurable). */
            if (ftruncate(v->wfd, (off_t)v->wend) < 0 ||
                lseek(v->wfd, (off_t)v->wend, SEEK_SET) < 0) {
                cf_log_errno(CF_LOG_ERROR, errno, "volume %06" PRIu32 " in \"%s\" sealed", v->wid,
                             v->dir);
                v->sealed = true;
            }
            goto out;
        }
        done += (size_t)n;
    }
    *vol = v->wid;
    *off = v->wend;
    v->wend += len;
    w.next = v->pending;
    v->pending = &w;
    while (!w.done) {
        struct waiter *batch, *more;
        uint64_t end;
        int fd, r;

        if (v->syncing) {
            pthread_cond_wait(&w.cv, &v->wmu);
            continue;
        }
        /* Lead: one fsync for everything appended so far. */
        batch = v->pending;
        v->pending = NULL;
        end = v->wend;
        fd = v->wfd;
        v->syncing = true;
        pthread_mutex_unlock(&v->wmu);
        r = v->io->fsync(fd);
        e = errno;
        pthread_mutex_lock(&v->wmu);
        more = NULL;
        if (r == 0) {
            if (end > v->wsynced)
                v->wsynced = end;
            rc = 0;
        } else {
            cf_log_errno(CF_LOG_ERROR, e, "fsync of volume %06" PRIu32 " in \"%s\" failed", v->wid,
                         v->dir);
            rc = cf_err_from_errno(e) == CF_ENOSPC ? CF_ENOSPC : CF_EIO;
            /* Records appended meanwhile are cut away with the failed ones. */
            more = v->pending;
            v->pending = NULL;
            cut_back(v);
        }
        /* A waiter lives on its writer's stack: once done is set and
         * signalled, it is touched no more. */
        for (struct waiter *p = batch; p != NULL;) {
            struct waiter *next = p->next;
            p->rc = rc;
            p->done = true;
            pthread_cond_signal(&p->cv);
            p = next;
        }
        for (struct waiter *p = more; p != NULL;) {
            struct waiter *next = p->next;
            p->rc = rc;
            p->done = true;
            pthread_cond_signal(&p->cv);
            p = next;
        }
        v->syncing = false;
        /* One writer of those appended meanwhile leads the next fsync;
         * with none, the volume is idle and a waiting roll may start. */
        if (v->pending != NULL)
            pthread_cond_signal(&v->pending->cv);
        else
            pthread_cond_broadcast(&v->wcv);
    }
    rc = w.rc;
out:
    pthread_mutex_unlock(&v->wmu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

int cf__vol_put(struct cf_vol *v, uint32_t bucket, const char *name, uint8_t *rec, uint64_t size,
                const uint8_t sha[CF_SHA512_LEN], uint64_t mtime_ms)
{
    struct bucket *b = &v->b[bucket];
    size_t nlen = strlen(name);
    uint32_t vol = 0, at;
    uint64_t off = 0;
    bool found;
    int rc;

    make_head(rec, T_PUT, bucket, name, nlen, size, mtime_ms, 0, 0, sha);
    rc = append_durable(v, rec, CF__VOL_HEAD + nlen + size, &vol, &off);
    pthread_mutex_lock(lock_of(v, bucket));
    at = bfind(b, name, &found);
    cf_assert(found && b->v[at]->state == E_PENDING);
    if (rc < 0) {
        bremove(b, at);
    } else {
        struct ent *e = b->v[at];
        e->vol = vol;
        e->off = off;
        e->size = size;
        e->mtime_ms = mtime_ms;
        memcpy(e->sha, sha, CF_SHA512_LEN);
        e->state = E_LIVE;
    }
    pthread_mutex_unlock(lock_of(v, bucket));
    return rc;
}

int cf__vol_delete(struct cf_vol *v, uint32_t bucket, const char *name, uint64_t *size_out)
{
    struct bucket *b = &v->b[bucket];
    size_t nlen = strlen(name);
    uint8_t rec[CF__VOL_HEAD + CF_PATH_MAX + 1];
    uint32_t tvol, vol, at;
    uint64_t toff, off, size;
    bool found;
    int rc;

    if (nlen > CF_PATH_MAX)
        return CF_ENOTFOUND;
    pthread_mutex_lock(lock_of(v, bucket));
    at = bfind(b, name, &found);
    if (!found || b->v[at]->state != E_LIVE) {
        /* Not yet durable, or being deleted by another call. */
        pthread_mutex_unlock(lock_of(v, bucket));
        return CF_ENOTFOUND;
    }
    b->v[at]->state = E_DELETING;
    tvol = b->v[at]->vol;
    toff = b->v[at]->off;
    size = b->v[at]->size;
    pthread_mutex_unlock(lock_of(v, bucket));

    make_head(rec, T_TOMB, bucket, name, nlen, 0, cf_wall_ms(), tvol, toff, NULL);
    rc = append_durable(v, rec, CF__VOL_HEAD + nlen, &vol, &off);
    pthread_mutex_lock(lock_of(v, bucket));
    at = bfind(b, name, &found);
    cf_assert(found && b->v[at]->state == E_DELETING);
    if (rc < 0)
        b->v[at]->state = E_LIVE;
    else
        bremove(b, at);
    pthread_mutex_unlock(lock_of(v, bucket));
    if (rc == 0 && size_out != NULL)
        *size_out = size;
    return rc;
}

size_t cf__vol_bucket_items(struct cf_vol *v, uint32_t bucket, const char *bound,
                            struct cf_vol_item **items)
{
    struct bucket *b = &v->b[bucket];
    struct cf_vol_item *out = NULL;
    size_t n = 0;
    uint32_t i = 0;
    bool found;

    pthread_mutex_lock(lock_of(v, bucket));
    if (bound != NULL) {
        i = bfind(b, bound, &found);
        if (found)
            i++;
    }
    if (i < b->n)
        out = cf_xcalloc(b->n - i, sizeof(*out));
    for (; i < b->n; i++) {
        const struct ent *e = b->v[i];
        if (e->state == E_PENDING)
            continue;
        out[n].name = cf_xstrdup(e->name);
        out[n].size = e->size;
        out[n].mtime_ms = e->mtime_ms;
        n++;
    }
    pthread_mutex_unlock(lock_of(v, bucket));
    if (n == 0) {
        free(out);
        out = NULL;
    }
    *items = out;
    return n;
}

void cf__vol_items_free(struct cf_vol_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i].name);
    free(items);
}

bool cf__vol_bucket_used(struct cf_vol *v, uint32_t bucket)
{
    bool used;

    pthread_mutex_lock(lock_of(v, bucket));
    used = v->b[bucket].n > 0;
    pthread_mutex_unlock(lock_of(v, bucket));
    return used;
}

/* ---- opening: scan, truncate, compact ---- */

struct volinfo {
    uint32_t id;
    uint64_t total; /* bytes of whole records */
    uint64_t live;  /* of live records and needed tombstones */
    bool exists;
};

struct tomb {
    uint32_t vol, tvol, bucket;
    uint64_t off, toff;
    uint64_t len;
    char *name;
};

struct scan {
    struct volinfo *vols;
    size_t nvols;
    struct tomb *tombs;
    size_t ntombs, tcap;
    uint8_t *buf;
    size_t cap;
};

static struct volinfo *vinfo(struct scan *sc, uint32_t id)
{
    for (size_t i = 0; i < sc->nvols; i++)
        if (sc->vols[i].id == id)
            return &sc->vols[i];
    return NULL;
}

static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0) {
            errno = EIO;
            return -1;
        }
        done += (size_t)r;
    }
    return 0;
}

/* Index one put record found at (vol, off); of two copies of a name the
 * later place wins (a compaction cut short leaves both). */
static void index_put(struct cf_vol *v, uint32_t bucket, const char *name, size_t nlen,
                      uint32_t vol, uint64_t off, uint64_t size, uint64_t mtime_ms,
                      const uint8_t *sha)
{
    struct bucket *b = &v->b[bucket];
    struct ent *e;
    bool found;
    uint32_t at = bfind(b, name, &found);

    if (found) {
        e = b->v[at];
        if (e->vol > vol || (e->vol == vol && e->off > off))
            return;
    } else {
        e = ent_new(name, nlen);
        binsert(b, at, e);
    }
    e->state = E_LIVE;
    e->vol = vol;
    e->off = off;
    e->size = size;
    e->mtime_ms = mtime_ms;
    memcpy(e->sha, sha, CF_SHA512_LEN);
}

/* Scan volume vi: index its puts, collect its tombstones, cut a torn tail. */
static int scan_volume(struct cf_vol *v, struct scan *sc, struct volinfo *vi)
{
    char fname[32];
    struct stat st;
    uint64_t off = 0;
    const char *why = NULL;
    int fd, rc = 0;

    vol_name(fname, sizeof(fname), vi->id);
    fd = openat(v->vfd, fname, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        cf_log_errno(CF_LOG_ERROR, errno, "open \"%s/%s\" failed", v->dir, fname);
        if (fd >= 0)
            close(fd);
        return CF_EIO;
    }
    while (off < (uint64_t)st.st_size) {
        uint8_t head[CF__VOL_HEAD];
        char name[CF_PATH_MAX + 1];
        uint64_t left = (uint64_t)st.st_size - off, size, len;
        uint16_t nlen;
        uint32_t bucket;
        int type;

        if (left < CF__VOL_HEAD) {
            why = "a header cut short";
            break;
        }
        if (pread_all(fd, head, sizeof(head), off) < 0) {
            rc = CF_EIO;
            break;
        }
        nlen = get_u16(head + H_NLEN);
        type = head[H_TYPE];
        size = get_u64(head + H_SIZE);
        bucket = get_u32(head + H_BUCKET);
        if (get_u32(head + H_MAGIC) != VOL_MAGIC || nlen == 0 || nlen > CF_PATH_MAX ||
            left - CF__VOL_HEAD < nlen) {
            why = "a header that is not one";
            break;
        }
        if (pread_all(fd, name, nlen, off + CF__VOL_HEAD) < 0) {
            rc = CF_EIO;
            break;
        }
        name[nlen] = '\0';
        if (head_crc(head, name, nlen) != get_u32(head + H_CRC) ||
            (type != T_PUT && type != T_TOMB) || bucket >= NBUCKETS || strlen(name) != nlen ||
            (type == T_PUT && size > REC_DATA_MAX)) {
            why = "a header whose CRC fails";
            break;
        }
        len = CF__VOL_HEAD + nlen + (type == T_PUT ? size : 0);
        if (len > left) {
            why = "a record cut short";
            break;
        }
        if (type == T_PUT) {
            uint8_t got[CF_SHA512_LEN];
            if (size > sc->cap) {
                sc->cap = size;
                sc->buf = cf_xrealloc(sc->buf, sc->cap);
            }
            if (pread_all(fd, sc->buf, size, off + CF__VOL_HEAD + nlen) < 0) {
                rc = CF_EIO;
                break;
            }
            if (sha_of(sc->buf, size, got) < 0) {
                rc = CF_EIO;
                break;
            }
            if (memcmp(got, head + H_SHA, CF_SHA512_LEN) != 0) {
                if (off + len == (uint64_t)st.st_size) {
                    why = "a record whose bytes fail their SHA-512";
                    break;
                }
                cf_log(CF_LOG_WARN,
                       "volume \"%s/%s\": the record of \"%s\" at %" PRIu64
                       " fails its SHA-512; not indexed",
                       v->dir, fname, name, off);
            } else {
                index_put(v, bucket, name, nlen, vi->id, off, size, get_u64(head + H_MTIME),
                          head + H_SHA);
            }
        } else {
            struct tomb *t;
            if (sc->ntombs == sc->tcap) {
                sc->tcap = sc->tcap ? sc->tcap * 2 : 64;
                sc->tombs = cf_xrealloc(sc->tombs, sc->tcap * sizeof(*sc->tombs));
            }
            t = &sc->tombs[sc->ntombs++];
            t->vol = vi->id;
            t->off = off;
            t->len = len;
            t->bucket = bucket;
            t->tvol = get_u32(head + H_TVOL);
            t->toff = get_u64(head + H_TOFF);
            t->name = cf_xstrdup(name);
        }
        off += len;
    }
    if (rc == 0 && why != NULL) {
        /* Never acknowledged: an acknowledged record is whole and synced,
         * and so is everything before it. */
        cf_log(CF_LOG_WARN,
               "volume \"%s/%s\": %s at %" PRIu64 "; the %" PRIu64 " bytes from there are cut away",
               v->dir, fname, why, off, (uint64_t)st.st_size - off);
        if (ftruncate(fd, (off_t)off) < 0 || fsync(fd) < 0) {
            cf_log_errno(CF_LOG_ERROR, errno, "truncate \"%s/%s\" failed", v->dir, fname);
            rc = CF_EIO;
        }
    }
    vi->total = off;
    close(fd);
    return rc;
}

/* Whether the tombstone t still kills a record somewhere. */
static bool tomb_needed(struct scan *sc, const struct tomb *t)
{
    const struct volinfo *target = vinfo(sc, t->tvol);

    return t->tvol != t->vol && target != NULL && target->exists;
}

static int cmp_ent_off(const void *a, const void *b)
{
    const struct ent *x = *(struct ent *const *)a, *y = *(struct ent *const *)b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Copy one record of len bytes at off in fd to the end of out (*wend). */
static int copy_rec(struct scan *sc, int fd, uint64_t off, uint64_t len, int out, uint64_t *wend)
{
    if (len > sc->cap) {
        sc->cap = len;
        sc->buf = cf_xrealloc(sc->buf, sc->cap);
    }
    if (pread_all(fd, sc->buf, len, off) < 0)
        return -1;
    for (size_t done = 0; done < len;) {
        ssize_t n = pwrite(out, sc->buf + done, len - done, (off_t)(*wend + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        done += (size_t)n;
    }
    *wend += len;
    return 0;
}

/* Compact volume vi into a new one: live records and needed tombstones
 * copied, the copy synced, the new name synced, then vi unlinked. A
 * failure leaves vi as it is. */
static void compact(struct cf_vol *v, struct scan *sc, struct volinfo *vi)
{
    char fname[32], wname[32];
    struct ent **ents = NULL;
    uint64_t *newoff = NULL, wend = 0;
    size_t n = 0, cap = 0;
    uint32_t wid = v->max_id + 1;
    int fd = -1, out = -1;
    bool ok = false;

    vol_name(fname, sizeof(fname), vi->id);
    vol_name(wname, sizeof(wname), wid);
    for (uint32_t bk = 0; bk < NBUCKETS; bk++)
        for (uint32_t i = 0; i < v->b[bk].n; i++)
            if (v->b[bk].v[i]->vol == vi->id) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 256;
                    ents = cf_xrealloc(ents, cap * sizeof(*ents));
                }
                ents[n++] = v->b[bk].v[i];
            }
    if (n > 1)
        qsort(ents, n, sizeof(*ents), cmp_ent_off);
    newoff = cf_xcalloc(n + 1, sizeof(*newoff));
    fd = openat(v->vfd, fname, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        goto out;
    out = openat(v->vfd, wname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        goto out;
    v->max_id = wid;
    for (size_t i = 0; i < n; i++) {
        newoff[i] = wend;
        if (copy_rec(sc, fd, ents[i]->off, rec_len(ents[i]), out, &wend) < 0)
            goto out;
    }
    for (size_t i = 0; i < sc->ntombs; i++) {
        struct tomb *t = &sc->tombs[i];
        if (t->vol != vi->id || !tomb_needed(sc, t))
            continue;
        if (copy_rec(sc, fd, t->off, t->len, out, &wend) < 0)
            goto out;
        t->vol = wid;
        t->off = wend - t->len;
    }
    if (fsync(out) < 0 || fsync(v->vfd) < 0)
        goto out;
    ok = true;
out:
    if (!ok) {
        cf_log_errno(CF_LOG_WARN, errno, "compaction of \"%s/%s\" failed; it stays as it is",
                     v->dir, fname);
        if (out >= 0)
            (void)unlinkat(v->vfd, wname, 0);
    } else {
        for (size_t i = 0; i < n; i++) {
            ents[i]->vol = wid;
            ents[i]->off = newoff[i];
        }
        /* The tombstones of vi now live in wid (moved above). */
        if (unlinkat(v->vfd, fname, 0) < 0 || fsync(v->vfd) < 0)
            cf_log_errno(CF_LOG_WARN, errno, "unlink of compacted \"%s/%s\" failed", v->dir, fname);
        cf_log(CF_LOG_INFO,
               "volume \"%s/%s\" compacted: %zu objects, %" PRIu64 " of %" PRIu64
               " bytes kept in %s",
               v->dir, fname, n, wend, vi->total, wname);
        vi->exists = false;
        /* Track the new volume (for later tombstone checks). */
        sc->vols = cf_xrealloc(sc->vols, (sc->nvols + 1) * sizeof(*sc->vols));
        sc->vols[sc->nvols++] =
            (struct volinfo){.id = wid, .total = wend, .live = wend, .exists = true};
    }
    if (fd >= 0)
        close(fd);
    if (out >= 0)
        close(out);
    free(ents);
    free(newoff);
}

static int cmp_vol(const void *a, const void *b)
{
    const struct volinfo *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Find the volumes: NNNNNN.vol. */
static int list_volumes(struct cf_vol *v, struct scan *sc)
{
    int fd = openat(v->vfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;

    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        cf_log_errno(CF_LOG_ERROR, errno, "open \"%s\" failed", v->dir);
        return CF_EIO;
    }
    for (;;) {
        char *end = NULL;
        de = readdir(d);
        if (de == NULL)
            break;
        unsigned long id;
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        errno = 0;
        id = strtoul(de->d_name, &end, 10);
        if (errno != 0 || strcmp(end, ".vol") != 0 || id == 0 || id >= UINT32_MAX)
            continue;
        sc->vols = cf_xrealloc(sc->vols, (sc->nvols + 1) * sizeof(*sc->vols));
        sc->vols[sc->nvols++] = (struct volinfo){.id = (uint32_t)id, .exists = true};
    }
    closedir(d);
    if (sc->nvols > 1)
        qsort(sc->vols, sc->nvols, sizeof(*sc->vols), cmp_vol);
    return 0;
}

/* Apply the tombstones, account live bytes per volume, compact. */
static void settle(struct cf_vol *v, struct scan *sc)
{
    size_t nv;

    for (size_t i = 0; i < sc->ntombs; i++) {
        struct tomb *t = &sc->tombs[i];
        struct bucket *b = &v->b[t->bucket];
        bool found;
        uint32_t at = bfind(b, t->name, &found);
        if (found && b->v[at]->vol == t->tvol && b->v[at]->off == t->toff)
            bremove(b, at);
    }
    for (uint32_t bk = 0; bk < NBUCKETS; bk++)
        for (uint32_t i = 0; i < v->b[bk].n; i++) {
            struct volinfo *vi = vinfo(sc, v->b[bk].v[i]->vol);
            if (vi != NULL)
                vi->live += rec_len(v->b[bk].v[i]);
        }
    for (size_t i = 0; i < sc->ntombs; i++)
        if (tomb_needed(sc, &sc->tombs[i]))
            vinfo(sc, sc->tombs[i].vol)->live += sc->tombs[i].len;
    nv = sc->nvols; /* compaction outputs appended meanwhile are not revisited */
    for (size_t i = 0; i < nv; i++) {
        struct volinfo *vi = &sc->vols[i];
        char fname[32];
        if (vi->total == 0 || vi->live * 2 >= vi->total)
            continue;
        if (vi->live == 0 && vi->id != v->max_id) {
            vol_name(fname, sizeof(fname), vi->id);
            if (unlinkat(v->vfd, fname, 0) == 0 && fsync(v->vfd) == 0) {
                cf_log(CF_LOG_INFO, "volume \"%s/%s\" held only dead records: removed", v->dir,
                       fname);
                vi->exists = false;
                continue;
            }
        }
        compact(v, sc, vi);
        vi = NULL; /* sc->vols may have moved */
    }
}

int cf__vol_open(int dirfd, const char *dir, const struct cf_io_ops *io, struct cf_vol **out,
                 uint64_t *objects, uint64_t *bytes, char *err)
{
    struct cf_vol *v = cf_xcalloc(1, sizeof(*v));
    struct scan sc = {0};
    int rc = 0;

    v->io = io;
    v->vfd = v->wfd = -1;
    v->dir = cf_xmalloc(strlen(dir) + sizeof("/volumes"));
    (void)snprintf(v->dir, strlen(dir) + sizeof("/volumes"), "%s/volumes", dir);
    v->b = cf_xcalloc(NBUCKETS, sizeof(*v->b));
    for (size_t i = 0; i < NLOCKS; i++)
        pthread_mutex_init(&v->lk[i], NULL);
    pthread_mutex_init(&v->wmu, NULL);
    pthread_cond_init(&v->wcv, NULL);
    for (size_t i = 0; i < RFD_IDS / RFD_CHUNK; i++)
        atomic_init(&v->rfd[i], NULL);
    atomic_init(&v->nrfd, 0);
    if (mkdirat(dirfd, "volumes", 0700) == 0) {
        if (fsync(dirfd) < 0) {
            cf_err_set(err, "fsync \"%s\": %s", dir, strerror(errno));
            rc = CF_EIO;
            goto out;
        }
    } else if (errno != EEXIST) {
        cf_err_set(err, "mkdir \"%s\": %s", v->dir, strerror(errno));
        rc = CF_EIO;
        goto out;
    }
    v->vfd = openat(dirfd, "volumes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (v->vfd < 0) {
        cf_err_set(err, "open \"%s\": %s", v->dir, strerror(errno));
        rc = CF_EIO;
        goto out;
    }
    rc = list_volumes(v, &sc);
    for (size_t i = 0; i < sc.nvols && rc == 0; i++)
        rc = scan_volume(v, &sc, &sc.vols[i]);
    if (rc < 0) {
        cf_err_set(err, "scanning \"%s\" failed (see the log above)", v->dir);
        goto out;
    }
    if (sc.nvols > 0)
        v->max_id = sc.vols[sc.nvols - 1].id;
    settle(v, &sc);
    *objects = *bytes = 0;
    for (uint32_t bk = 0; bk < NBUCKETS; bk++)
        for (uint32_t i = 0; i < v->b[bk].n; i++) {
            (*objects)++;
            *bytes += v->b[bk].v[i]->size;
        }
    /* New records go to the last volume when it has room. */
    {
        struct volinfo *last = vinfo(&sc, v->max_id);
        if (last != NULL && last->exists && last->total < VOL_ROLL) {
            char fname[32];
            vol_name(fname, sizeof(fname), last->id);
            v->wfd = openat(v->vfd, fname, O_WRONLY | O_CLOEXEC);
            if (v->wfd >= 0 && lseek(v->wfd, (off_t)last->total, SEEK_SET) >= 0) {
                v->wid = last->id;
                v->wend = v->wsynced = last->total;
            } else if (v->wfd >= 0) {
                close(v->wfd);
                v->wfd = -1;
            }
        }
    }
    *out = v;
    v = NULL;
out:
    for (size_t i = 0; i < sc.ntombs; i++)
        free(sc.tombs[i].name);
    free(sc.tombs);
    free(sc.vols);
    free(sc.buf);
    cf__vol_close(v);
    return rc;
}

void cf__vol_close(struct cf_vol *v)
{
    if (v == NULL)
        return;
    cf_assert(v->pending == NULL && !v->syncing);
    if (v->wfd >= 0)
        (void)v->io->close(v->wfd);
    if (v->vfd >= 0)
        close(v->vfd);
    for (uint32_t ci = 0; ci < RFD_IDS / RFD_CHUNK; ci++) {
        struct rfd_chunk *c = atomic_load(&v->rfd[ci]);
        if (c == NULL)
            continue;
        for (uint32_t i = 0; i < RFD_CHUNK; i++) {
            int fd1 = atomic_load(&c->fd1[i]);
            if (fd1 > 0)
                (void)v->io->close(fd1 - 1);
        }
        free(c);
    }
    for (uint32_t bk = 0; bk < NBUCKETS; bk++) {
        for (uint32_t i = 0; i < v->b[bk].n; i++)
            free(v->b[bk].v[i]);
        free(v->b[bk].v);
    }
    free(v->b);
    for (size_t i = 0; i < NLOCKS; i++)
        pthread_mutex_destroy(&v->lk[i]);
    pthread_mutex_destroy(&v->wmu);
    pthread_cond_destroy(&v->wcv);
    free(v->dir);
    free(v);
}
