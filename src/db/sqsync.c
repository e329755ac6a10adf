/*
 * sqsync.c -- group commit for the SQLite backend: the writers of one
 * database file in this process take turns in a fair queue, and the commits
 * that finish while one fsync of the write-ahead log runs share the next one.
 *
 * Why this is as durable as synchronous=FULL (contract in db_int.h). A
 * connection runs WAL with synchronous=NORMAL: COMMIT appends its frames to
 * the -wal with write(2) and makes them visible, without an fsync. SQLite
 * itself still fsyncs the -wal header whenever it starts (or restarts) the
 * log, the directory when it creates the -wal, the -wal before a checkpoint
 * copies frames into the database, and the database before the log may be
 * restarted over those frames. The wal hook tells us that the connection
 * committed; before the call that committed returns, the barrier below waits
 * until an fsync of the -wal that began after the commit has succeeded. An
 * fsync covers every write to the file before it began, through any
 * descriptor, so one fsync covers every commit counted before it started.
 * Frames overwritten by a restart of the log were checkpointed first, into a
 * database file already synced. Other processes on the same file sync for
 * their own commits the same way.
 *
 * What differs from synchronous=FULL: a commit is visible to other
 * connections a little before its fsync (at most the duration of one or two
 * fsyncs); a reader may thus see data that a power failure in that window
 * would take back, exactly as the committer's own reply would never have
 * been sent. A failed fsync of the -wal leaves its frames in doubt (the
 * kernel may have dropped them), and SQLite would keep appending after
 * them, so the group then fails every later commit with CF_EIO until the
 * process restarts and SQLite recovers the log.
 *
 * Threads: a group's counters are under its mutex; a connection's state is
 * used only by the thread that holds the connection (db.h).
 */
#include "db_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "coffer/err.h"
#include "coffer/log.h"

/* SQLite's own default for its automatic checkpoint (pages in the -wal),
 * which a wal hook of ours replaces and must therefore run itself. */
#define AUTOCHECKPOINT_PAGES 1000

/* The connections of this process to one database file, by its full name
 * (which names the -wal) and its identity (a file replaced under that name
 * is another group). */
struct group {
    char *path;
    dev_t dev;
    ino_t ino;
    unsigned refs; /* under reg_mu */
    struct group *next;
    pthread_mutex_t mu;
    pthread_cond_t synced_cv; /* synced or failed moved */
    pthread_cond_t turn_cv;   /* on CLOCK_MONOTONIC: the writer's turn came free */
    uint64_t done;            /* commits counted so far */
    uint64_t synced;          /* every commit <= synced is on stable storage */
    bool syncing;             /* a leader is in fsync now */
    bool failed;              /* an fsync of the -wal failed: see the header */
    bool turn_taken;          /* a connection holds the writer's turn */
    unsigned turn_waiters;
};

struct cf__sqsync {
    struct group *g;
    struct sqlite3 *h;
    unsigned wait_ms; /* for the writer's turn: the connection's busy timeout */
    bool committed;   /* set by the wal hook, cleared by the barrier */
    bool has_turn;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct group *reg; /* under reg_mu */

static struct group *group_get(const char *path, dev_t dev, ino_t ino)
{
    struct group *g;
    pthread_condattr_t ca;

    pthread_mutex_lock(&reg_mu);
    for (g = reg; g != NULL; g = g->next)
        if (g->dev == dev && g->ino == ino && strcmp(g->path, path) == 0)
            break;
    if (g != NULL) {
        g->refs++;
        goto out;
    }
    g = calloc(1, sizeof(*g));
    if (g == NULL)
        goto out;
    g->path = strdup(path);
    if (g->path == NULL) {
        free(g);
        g = NULL;
        goto out;
    }
    g->dev = dev;
    g->ino = ino;
    g->refs = 1;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->synced_cv, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->turn_cv, &ca);
    pthread_condattr_destroy(&ca);
    g->next = reg;
    reg = g;
out:
    pthread_mutex_unlock(&reg_mu);
    return g;
}

static void group_put(struct group *g)
{
    struct group **pp;

    pthread_mutex_lock(&reg_mu);
    if (--g->refs > 0) {
        pthread_mutex_unlock(&reg_mu);
        return;
    }
    for (pp = &reg; *pp != g; pp = &(*pp)->next)
        ;
    *pp = g->next;
    pthread_mutex_unlock(&reg_mu);
    pthread_cond_destroy(&g->turn_cv);
    pthread_cond_destroy(&g->synced_cv);
    pthread_mutex_destroy(&g->mu);
    free(g->path);
    free(g);
}

/* Called by SQLite after each commit of c's connection, the write lock
 * already released. Runs SQLite's usual passive checkpoint too. */
static int on_commit(void *arg, sqlite3 *h, const char *name, int pages)
{
    struct cf__sqsync *c = arg;

    c->committed = true;
    if (pages >= AUTOCHECKPOINT_PAGES)
        (void)sqlite3_wal_checkpoint_v2(h, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

int cf__sqsync_attach(struct sqlite3 *h, struct cf__sqsync **out, char *err)
{
    struct cf__sqsync *c = NULL;
    const char *path = sqlite3_db_filename(h, "main");
    struct stat st;
    int rc = 0;

    *out = NULL;
    if (path == NULL || path[0] == '\0' || stat(path, &st) != 0) {
        cf_err_set(err, "sqlite: cannot stat the database file \"%s\": %s",
                   path != NULL ? path : "", strerror(errno));
        rc = CF_EIO;
        goto out;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        rc = CF_ENOMEM;
        goto out;
    }
    c->g = group_get(path, st.st_dev, st.st_ino);
    if (c->g == NULL) {
        rc = CF_ENOMEM;
        goto out;
    }
    c->h = h;
    c->wait_ms = CF_DB_BUSY_TIMEOUT_MS;
    (void)sqlite3_wal_hook(h, on_commit, c);
    *out = c;
    c = NULL;
out:
    if (rc == CF_ENOMEM)
        cf_err_set(err, "out of memory");
    free(c);
    return rc;
}

static void turn_release(struct cf__sqsync *c)
{
    struct group *g = c->g;

    pthread_mutex_lock(&g->mu);
    g->turn_taken = false;
    if (g->turn_waiters > 0)
        pthread_cond_signal(&g->turn_cv);
    pthread_mutex_unlock(&g->mu);
    c->has_turn = false;
}

void cf__sqsync_detach(struct cf__sqsync *c, struct sqlite3 *h)
{
    if (c == NULL)
        return;
    (void)sqlite3_wal_hook(h, NULL, NULL);
    if (c->has_turn)
        turn_release(c);
    group_put(c->g);
    free(c);
}

void cf__sqsync_set_wait(struct cf__sqsync *c, unsigned ms)
{
    c->wait_ms = ms;
}

int cf__sqsync_turn(struct cf__sqsync *c, char *err)
{
    struct group *g = c->g;
    struct timespec until;
    int rc = 0;

    if (c->has_turn)
        return 0;
    (void)clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += c->wait_ms / 1000;
    until.tv_nsec += (long)(c->wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g->mu);
    g->turn_waiters++;
    while (g->turn_taken && rc == 0)
        if (pthread_cond_timedwait(&g->turn_cv, &g->mu, &until) == ETIMEDOUT && g->turn_taken)
            rc = CF_EBUSY;
    g->turn_waiters--;
    if (rc == 0)
        g->turn_taken = true;
    pthread_mutex_unlock(&g->mu);
    if (rc < 0) {
        cf_err_set(err, "database is locked (another writer of this process held it for %u ms)",
                   c->wait_ms);
        return rc;
    }
    c->has_turn = true;
    return 0;
}

/* Return once every commit counted up to and including this one is on
 * stable storage (0), or CF_EIO if an fsync of the -wal failed. */
static int barrier(struct cf__sqsync *c, char *err)
{
    struct group *g = c->g;
    sqlite3_file *f = NULL;
    uint64_t ticket, target;
    int xrc, rc = 0;

    pthread_mutex_lock(&g->mu);
    ticket = ++g->done;
    while (g->synced < ticket && !g->failed) {
        if (g->syncing) {
            pthread_cond_wait(&g->synced_cv, &g->mu);
            continue;
        }
        /* Lead: every commit counted so far wrote its frames before now. */
        g->syncing = true;
        target = g->done;
        pthread_mutex_unlock(&g->mu);
        xrc = sqlite3_file_control(c->h, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f);
        if (xrc == SQLITE_OK && (f == NULL || f->pMethods == NULL))
            xrc = SQLITE_IOERR;
        if (xrc == SQLITE_OK)
            xrc = f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
        pthread_mutex_lock(&g->mu);
        g->syncing = false;
        if (xrc == SQLITE_OK && target > g->synced)
            g->synced = target;
        if (xrc != SQLITE_OK && !g->failed) {
            g->failed = true;
            cf_log(CF_LOG_ERROR,
                   "sqlite \"%s\": fsync of the write-ahead log failed (%s); every later "
                   "commit of this database fails until the process restarts",
                   sqlite3_db_filename(c->h, "main"), sqlite3_errstr(xrc));
        }
        pthread_cond_broadcast(&g->synced_cv);
    }
    if (g->synced < ticket) {
        cf_err_set(err, "committed, but the fsync of the write-ahead log failed: the "
                        "commit may be lost on power failure; restart the process");
        rc = CF_EIO;
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

int cf__sqsync_after(struct cf__sqsync *c, char *err)
{
    if (c->has_turn && sqlite3_get_autocommit(c->h) != 0)
        turn_release(c);
    if (!c->committed)
        return 0;
    c->committed = false;
    return barrier(c, err);
}
