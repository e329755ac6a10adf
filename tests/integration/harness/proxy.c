/*
 * proxy.c -- a TCP proxy between two processes of a test (proxy.h).
 */
#include "harness/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/runner.h"

struct conn {
    struct it_proxy *px;
    int cfd;
};

/* Relay one connection both ways until either side ends it or the hook
 * cuts it. */
static void *conn_thread(void *arg)
{
    struct conn *pc = arg;
    struct it_proxy *px = pc->px;
    int cfd = pc->cfd, sfd = socket(px->server.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char buf[65536];

    free(pc);
    if (sfd < 0 || connect(sfd, (const struct sockaddr *)&px->server, px->server_len) < 0)
        goto out;
    for (;;) {
        struct pollfd pf[2] = {{cfd, POLLIN, 0}, {sfd, POLLIN, 0}};
        ssize_t n;
        int from, to;

        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        from = pf[0].revents != 0 ? cfd : sfd;
        to = from == cfd ? sfd : cfd;
        n = read(from, buf, sizeof(buf));
        if (n <= 0)
            break;
        if (px->hook != NULL && !px->hook(px->arg, from == cfd, buf, (size_t)n))
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(to, buf + off, (size_t)(n - off));
            if (w <= 0)
                goto out;
            off += w;
        }
    }
out:
    if (sfd >= 0)
        close(sfd);
    close(cfd);
    return NULL;
}

static void *accept_thread(void *arg)
{
    struct it_proxy *px = arg;

    for (;;) {
        int cfd = accept4(px->lfd, NULL, NULL, SOCK_CLOEXEC);
        struct conn *pc;
        pthread_t th;

        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        pc = malloc(sizeof(*pc));
        IT_CHECK(pc != NULL);
        pc->px = px;
        pc->cfd = cfd;
        IT_EQ(pthread_create(&th, NULL, conn_thread, pc), 0);
        IT_EQ(pthread_detach(th), 0);
    }
    return NULL;
}

void it_proxy_listen(struct it_proxy *px, it_proxy_hook hook, void *arg)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);

    memset(px, 0, sizeof(*px));
    px->hook = hook;
    px->arg = arg;
    px->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    IT_CHECK(px->lfd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    IT_EQ(bind(px->lfd, (const struct sockaddr *)&a, sizeof(a)), 0);
    IT_EQ(listen(px->lfd, 64), 0);
    IT_EQ(getsockname(px->lfd, (struct sockaddr *)&a, &alen), 0);
    px->port = ntohs(a.sin_port);
}

void it_proxy_relay(struct it_proxy *px, const struct sockaddr *server, socklen_t server_len)
{
    pthread_t th;

    IT_CHECK(server_len <= sizeof(px->server));
    memcpy(&px->server, server, server_len);
    px->server_len = server_len;
    IT_EQ(pthread_create(&th, NULL, accept_thread, px), 0);
    IT_EQ(pthread_detach(th), 0);
}

void it_proxy_relay_tcp(struct it_proxy *px, unsigned port)
{
    struct sockaddr_in s;

    memset(&s, 0, sizeof(s));
    s.sin_family = AF_INET;
    s.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s.sin_port = htons((uint16_t)port);
    it_proxy_relay(px, (const struct sockaddr *)&s, sizeof(s));
}

void it_proxy_start(struct it_proxy *px, const struct sockaddr *server, socklen_t server_len,
                    it_proxy_hook hook, void *arg)
{
    it_proxy_listen(px, hook, arg);
    it_proxy_relay(px, server, server_len);
}
