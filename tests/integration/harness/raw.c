/*
 * raw.c -- raw TCP connections to a filer (raw.h).
 */
#include "harness/raw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "harness/keys.h"

#define IT_IO_MS 30000 /* one raw read or write */

int it_raw_try_connect(unsigned port)
{
    struct sockaddr_in sa;
    struct timeval tv = {(time_t)(IT_IO_MS / 1000u * it_multiplier()), 0};
    int fd, rc;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        rc = -errno;
        close(fd);
        goto out;
    }
    rc = fd;
out:
    return rc;
}

int it_raw_connect(const struct it_filer *f)
{
    int fd = it_raw_try_connect(f->port);

    IT_CHECKF(fd >= 0, "connect to %s: %s", f->base, strerror(-fd));
    return fd;
}

int it_raw_connect_from(const char *src, unsigned port, unsigned read_s)
{
    struct sockaddr_in sa, me;
    struct timeval tv = {(time_t)(read_s * it_multiplier()), 0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    IT_CHECKF(fd >= 0, "socket: %s", strerror(errno));
    IT_CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
    memset(&me, 0, sizeof(me));
    me.sin_family = AF_INET;
    IT_CHECK(inet_pton(AF_INET, src, &me.sin_addr) == 1);
    IT_CHECKF(bind(fd, (struct sockaddr *)&me, sizeof(me)) == 0, "bind %s: %s", src,
              strerror(errno));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    IT_CHECKF(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect from %s: %s", src,
              strerror(errno));
    return fd;
}

bool it_raw_send(int fd, const void *p, size_t n)
{
    const char *c = p;
    bool ok = true;

    while (n > 0 && ok) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        ok = !(w < 0 && (errno == EPIPE || errno == ECONNRESET));
        IT_CHECKF(!ok || w > 0, "send: %s", strerror(errno));
        if (ok) {
            c += w;
            n -= (size_t)w;
        }
    }
    return ok;
}

bool it_raw_send_gen(int fd, struct it_gen *g, uint64_t n)
{
    char buf[64 * 1024];
    bool ok = true;

    while (n > 0 && ok) {
        size_t k = it_gen_read(g, buf, n < sizeof(buf) ? (size_t)n : sizeof(buf));
        IT_CHECK(k > 0);
        ok = it_raw_send(fd, buf, k);
        n -= k;
    }
    return ok;
}

void it_raw_sign(char *req, size_t *n, size_t cap)
{
    char method[32], target[2048], host[256] = "", line[CF_CRED_HEADER_MAX];
    const char *eol = memchr(req, '\n', *n), *sp = memchr(req, ' ', *n), *h;
    size_t ml, tl = 0, hl, ll, at;

    if (eol == NULL || sp == NULL || sp > eol || (size_t)(sp - req) >= sizeof(method))
        return;
    ml = (size_t)(sp - req);
    memcpy(method, req, ml);
    method[ml] = '\0';
    while (sp + 1 + tl < eol && strchr(" \r\n", sp[1 + tl]) == NULL && sp[1 + tl] != '\0' &&
           tl + 1 < sizeof(target))
        tl++;
    memcpy(target, sp + 1, tl);
    target[tl] = '\0';
    h = memmem(req, *n, "\nHost: ", 7);
    if (h != NULL) {
        hl = strcspn(h + 7, "\r\n");
        if (hl < sizeof(host)) {
            memcpy(host, h + 7, hl);
            host[hl] = '\0';
        }
    }
    it_sign_line(line, method, target, host);
    ll = strlen(line);
    IT_CHECK(*n + ll + 2 < cap);
    at = (size_t)(eol - req) + 1;
    memmove(req + at + ll + 2, req + at, *n - at);
    memcpy(req + at, line, ll);
    memcpy(req + at + ll, "\r\n", 2);
    *n += ll + 2;
}

int it_raw_put_begin(const struct it_filer *f, const char *path, int64_t size)
{
    char req[1024 + CF_CRED_HEADER_MAX], len[64], target[512], auth[CF_CRED_HEADER_MAX], host[64];
    int fd = it_raw_connect(f);

    if (size >= 0)
        it_fmt(len, sizeof(len), "Content-Length: %lld", (long long)size);
    else
        it_fmt(len, sizeof(len), "Transfer-Encoding: chunked");
    it_fmt(target, sizeof(target), "/o/%s", path);
    it_fmt(host, sizeof(host), "127.0.0.1:%u", f->port);
    it_sign_line(auth, "PUT", target, host);
    it_fmt(req, sizeof(req), "PUT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n%s\r\nConnection: close\r\n\r\n",
           target, host, auth, len);
    IT_CHECK(it_raw_send(fd, req, strlen(req)));
    return fd;
}

/* The status of the reply in buf[0..len), or 0 if there is no status line
 * yet; *done when the whole reply (headers plus Content-Length body) is in. */
static long parse_reply(char *buf, size_t *len, bool *done)
{
    char *end = NULL, *cl;
    long status = 0;
    size_t hlen;

    *done = false;
    for (;;) {
        if (*len < 12 || strncmp(buf, "HTTP/1.", 7) != 0) {
            status = 0;
            break;
        }
        status = strtol(buf + 9, NULL, 10);
        end = strstr(buf, "\r\n\r\n");
        if (end == NULL || status >= 200 || status < 100)
            break;
        /* Drop an interim reply and look at what follows it. */
        hlen = (size_t)(end - buf) + 4;
        memmove(buf, buf + hlen, *len - hlen + 1);
        *len -= hlen;
    }
    if (status != 0 && end != NULL) {
        hlen = (size_t)(end - buf) + 4;
        cl = strcasestr(buf, "\r\nContent-Length:");
        if (cl != NULL && cl < end)
            *done = *len >= hlen + strtoull(cl + 17, NULL, 10);
    }
    return status;
}

long it_raw_read_reply(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    bool done = false;
    long status = 0;

    buf[0] = '\0';
    while (!done) {
        char tmp[16 * 1024];
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        size_t keep;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            status = -1;
            break;
        }
        if (n <= 0)
            break; /* EOF, or a reset after the reply */
        keep = cap - 1 - len < (size_t)n ? cap - 1 - len : (size_t)n;
        memcpy(buf + len, tmp, keep);
        len += keep;
        buf[len] = '\0';
        status = parse_reply(buf, &len, &done);
        if (len == cap - 1)
            break;
    }
    return status;
}

long it_raw_exchange(const struct it_filer *f, const void *req, size_t n, char *buf, size_t cap)
{
    int fd = it_raw_connect(f);
    long st;

    /* A server may answer and close before it has read everything. */
    (void)it_raw_send(fd, req, n);
    shutdown(fd, SHUT_WR);
    st = it_raw_read_reply(fd, buf, cap);
    close(fd);
    return st;
}
