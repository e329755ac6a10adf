/*
 * clockguard.c -- the retention clock that does not follow a forward jump
 * of the wall clock (clockguard.h), its state in the catalog.
 */
#include "coffer/clockguard.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coffer/db.h"
#include "coffer/err.h"
#include "coffer/log.h"

#define BOOT_ID_MAX 40
#define NAME_MAX_   128

static const char schema[] = "CREATE TABLE IF NOT EXISTS clock_seen ("
                             " name TEXT PRIMARY KEY,"
                             " boot TEXT NOT NULL,"
                             " wall_ms BIGINT NOT NULL,"
                             " boot_ms BIGINT NOT NULL)";

struct cf_clockguard {
    pthread_mutex_t mu;
    struct cf_db *db; /* under mu */
    char name[NAME_MAX_];
    char boot[BOOT_ID_MAX];      /* this boot's id, "" if unknown */
    char *offset_file;           /* NULL: none */
    uint64_t ref_wall, ref_boot; /* the last accepted pair */
    bool jumped;                 /* the last call found the wall clock ahead */
};

uint64_t cf_clockguard_decide(uint64_t ref_wall_ms, uint64_t ref_boot_ms, uint64_t wall_ms,
                              uint64_t boot_ms, uint64_t tolerance_ms, bool *jumped)
{
    uint64_t expect = ref_wall_ms + (boot_ms > ref_boot_ms ? boot_ms - ref_boot_ms : 0);

    *jumped = wall_ms > expect && wall_ms - expect > tolerance_ms;
    return *jumped ? expect : wall_ms;
}

static uint64_t boot_clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The kernel's id of this boot, or "" (then nothing persists across
 * restarts). */
static void read_boot_id(char out[BOOT_ID_MAX])
{
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, out, BOOT_ID_MAX - 1) : -1;

    if (fd >= 0)
        close(fd);
    out[n > 0 ? n : 0] = '\0';
    out[strcspn(out, "\n")] = '\0';
}

uint64_t cf_clockguard_wall_ms(const struct cf_clockguard *g)
{
    uint64_t wall = cf_wall_ms();
    char text[32], *end = NULL;
    long long off;
    ssize_t n;
    int fd;

    if (g == NULL || g->offset_file == NULL)
        return wall;
    fd = open(g->offset_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wall;
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    text[n > 0 ? n : 0] = '\0';
    errno = 0;
    off = strtoll(text, &end, 10);
    if (n <= 0 || errno != 0 || end == text)
        return wall;
    if (off < 0 && (uint64_t)(-off) > wall)
        return 0;
    return off < 0 ? wall - (uint64_t)(-off) : wall + (uint64_t)off;
}

/* Save the accepted pair; called under mu. */
static void save(struct cf_clockguard *g)
{
    static const char sql[] = "INSERT INTO clock_seen (name, boot, wall_ms, boot_ms)"
                              " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE"
                              " SET boot = ?2, wall_ms = ?3, boot_ms = ?4";
    char err[CF_ERR_LEN] = "";

    if (g->boot[0] == '\0')
        return;
    if (cf_db_run(g->db, NULL, 0, err, sql, "ttii", g->name, g->boot, (int64_t)g->ref_wall,
                  (int64_t)g->ref_boot) < 0)
        cf_log(CF_LOG_WARN, "clock guard %s: cannot save the wall time: %s", g->name, err);
}

int cf_clockguard_open(const char *uri, const char *name, const char *test_offset_file,
                       struct cf_clockguard **out, char *err)
{
    static const char sql[] = "SELECT boot, wall_ms, boot_ms FROM clock_seen WHERE name = ?1";
    struct cf_clockguard *g = cf_xcalloc(1, sizeof(*g));
    struct cf_db_stmt *st = NULL;
    char host[64] = "";
    int rc;

    *out = NULL;
    pthread_mutex_init(&g->mu, NULL);
    if (gethostname(host, sizeof(host) - 1) != 0)
        host[0] = '\0';
    (void)snprintf(g->name, sizeof(g->name), "%.40s@%.63s", name, host);
    read_boot_id(g->boot);
    g->offset_file = test_offset_file != NULL ? cf_xstrdup(test_offset_file) : NULL;
    g->ref_wall = cf_clockguard_wall_ms(g);
    g->ref_boot = boot_clock_ms();
    rc = cf_db_open(uri, &g->db, err);
    if (rc < 0)
        goto out;
    rc = cf_db_exec_schema(g->db, schema, err);
    if (rc < 0)
        goto out;
    rc = cf_db_query(g->db, &st, err, sql, "t", g->name);
    if (rc < 0)
        goto out;
    rc = cf_db_step(st, err);
    if (rc < 0)
        goto out;
    if (rc == CF_DB_ROW) {
        const char *boot = cf_db_column_text(st, 0, NULL);
        int64_t wall = cf_db_column_int64(st, 1), at = cf_db_column_int64(st, 2);
        /* The same boot: the boot clock went on, so the saved pair still
         * says where the wall clock should be now. */
        if (boot != NULL && g->boot[0] != '\0' && strcmp(boot, g->boot) == 0 && wall > 0 &&
            at >= 0 && (uint64_t)at <= g->ref_boot) {
            g->ref_wall = (uint64_t)wall;
            g->ref_boot = (uint64_t)at;
        }
    }
    rc = 0;
    *out = g;
    g = NULL;
out:
    cf_db_finalize(st);
    cf_clockguard_close(g);
    return rc;
}

void cf_clockguard_close(struct cf_clockguard *g)
{
    if (g == NULL)
        return;
    cf_db_close(g->db);
    pthread_mutex_destroy(&g->mu);
    free(g->offset_file);
    free(g);
}

uint64_t cf_clockguard_now(struct cf_clockguard *g, bool *jump_found)
{
    uint64_t wall, boot, now;
    bool jumped;

    if (jump_found != NULL)
        *jump_found = false;
    if (g == NULL)
        return cf_wall_ms();
    pthread_mutex_lock(&g->mu);
    wall = cf_clockguard_wall_ms(g);
    boot = boot_clock_ms();
    now = cf_clockguard_decide(g->ref_wall, g->ref_boot, wall, boot, CF_CLOCKGUARD_TOLERANCE_MS,
                               &jumped);
    if (jumped && !g->jumped) {
        cf_log(CF_LOG_WARN,
               "clock guard %s: the wall clock jumped %" PRIu64
               " s ahead of the time elapsed since it was last seen; retention uses the "
               "guarded time until it is back",
               g->name, (wall - now) / 1000);
        if (jump_found != NULL)
            *jump_found = true;
    } else if (!jumped && g->jumped) {
        cf_log(CF_LOG_INFO, "clock guard %s: the wall clock is back in line", g->name);
    }
    g->jumped = jumped;
    if (!jumped) {
        g->ref_wall = wall;
        g->ref_boot = boot;
        save(g);
    }
    pthread_mutex_unlock(&g->mu);
    return now;
}
