/*
 * common.c -- what several CLI commands share (cli_int.h): the progress bar,
 * error replies, reply bodies in memory, and downloads that appear only
 * when complete.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/buf.h"
#include "coffer/common.h"
#include "coffer/io.h"
#include "cli_int.h"

/* ---- progress ---- */

static int progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct cf__cli_progress *p = ud;
    curl_off_t total = ultotal > 0 ? ultotal : dltotal, now = ultotal > 0 ? ulnow : dlnow;
    double s = (double)(cf_now_ns() - p->t0) / 1e9;
    char tail[64];

    if (!p->on || total <= 0)
        return 0;
    (void)snprintf(tail, sizeof(tail), "%8.1f MiB %7.1f MiB/s", (double)now / 1048576.0,
                   s > 0 ? (double)now / 1048576.0 / s : 0.0);
    cf__cli_bar(p->what, (double)now / (double)total, tail, now == total);
    return 0;
}

void cf__cli_bar(const char *what, double frac, const char *tail, bool end)
{
    char bar[31];
    int fill = frac <= 0 ? 0 : frac >= 1 ? 30 : (int)(30 * frac);

    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(30 - fill));
    bar[30] = '\0';
    fprintf(stderr, "\r%s [%s] %3d%% %s", what, bar, (int)(100 * (frac > 1 ? 1 : frac)), tail);
    if (end)
        fputc('\n', stderr);
}

void cf__cli_progress_setup(CURL *h, struct cf__cli_progress *p, const char *what, uint64_t size)
{
    p->on = size >= CF__CLI_PROGRESS_MIN && isatty(STDERR_FILENO);
    p->t0 = cf_now_ns();
    p->what = what;
    if (!p->on)
        return;
    (void)curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    (void)curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
    (void)curl_easy_setopt(h, CURLOPT_XFERINFODATA, p);
}

/* Print the message of a JSON error reply, or the status. */
void cf__cli_print_error(const char *cmd, long status, const struct cf_buf *body)
{
    json_t *j = body->len ? json_loadb(body->base, body->len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(j, "message"));

    fprintf(stderr, "coffer %s: HTTP %ld: %s\n", cmd, status, msg ? msg : "(no detail)");
    json_decref(j);
}

size_t cf__cli_to_buf(char *p, size_t size, size_t nitems, void *ud)
{
    return cf_buf_append(ud, p, size * nitems) < 0 ? 0 : size * nitems;
}

/* ---- downloads: written beside the target, renamed when complete ---- */

int cf__cli_out_open(struct cf__cli_out *o, const char *cmd, const char *target)
{
    char *copy;
    int n, fd;

    memset(o, 0, sizeof(*o));
    o->target = target;
    if (target == NULL) {
        o->f = stdout;
        return 0;
    }
    copy = cf_xstrdup(target);
    n = snprintf(o->tmp, sizeof(o->tmp), "%s/.coffer-get-XXXXXX", dirname(copy));
    free(copy);
    if (n < 0 || (size_t)n >= sizeof(o->tmp)) {
        fprintf(stderr, "coffer %s: the path \"%s\" is too long\n", cmd, target);
        o->tmp[0] = '\0';
        return 1;
    }
    fd = mkstemp(o->tmp);
    if (fd < 0) {
        fprintf(stderr, "coffer %s: cannot write beside \"%s\": %s\n", cmd, target,
                strerror(errno));
        o->tmp[0] = '\0';
        return 1;
    }
    o->f = fdopen(fd, "wb");
    if (o->f == NULL) {
        fprintf(stderr, "coffer %s: cannot write beside \"%s\": %s\n", cmd, target,
                strerror(errno));
        close(fd);
        cf__cli_out_abort(o);
        return 1;
    }
    return 0;
}

int cf__cli_out_commit(struct cf__cli_out *o, const char *cmd)
{
    int e = 0;

    if (o->target == NULL) {
        if (fflush(stdout) != 0) {
            fprintf(stderr, "coffer %s: write to stdout: %s\n", cmd, strerror(errno));
            return 1;
        }
        return 0;
    }
    if (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)
        e = errno;
    if (fclose(o->f) != 0 && e == 0)
        e = errno;
    o->f = NULL;
    if (e == 0)
        e = cf_io_rename_durable(o->tmp, o->target);
    if (e != 0) {
        fprintf(stderr, "coffer %s: cannot write \"%s\": %s\n", cmd, o->target, strerror(e));
        cf__cli_out_abort(o);
        return 1;
    }
    o->tmp[0] = '\0';
    return 0;
}

void cf__cli_out_abort(struct cf__cli_out *o)
{
    if (o->f != NULL && o->f != stdout)
        fclose(o->f);
    o->f = NULL;
    if (o->tmp[0] != '\0')
        unlink(o->tmp);
    o->tmp[0] = '\0';
}
