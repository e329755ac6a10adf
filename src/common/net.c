/*
 * net.c -- listening sockets (net.h).
 */
#include "coffer/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coffer/err.h"

static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *sl, char *err)
{
    char host[64];
    const char *colon, *h = addr;
    size_t hl;
    char *end = NULL;
    unsigned long port;

    colon = strrchr(addr, ':');
    if (colon == NULL) {
        cf_err_set(err, "listen address \"%.64s\" is not HOST:PORT", addr);
        return CF_EINVAL;
    }
    hl = (size_t)(colon - addr);
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
        h = addr + 1;
        hl -= 2;
    }
    if (hl >= sizeof(host)) {
        cf_err_set(err, "listen address \"%.64s\": host too long", addr);
        return CF_EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || port > 65535) {
        cf_err_set(err, "listen address \"%.64s\": bad port", addr);
        return CF_EINVAL;
    }
    memset(ss, 0, sizeof(*ss));
    if (hl == 0 || strchr(host, ':') == NULL) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        if (hl == 0)
            sin->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
            cf_err_set(err, "listen address \"%.64s\": not a numeric IPv4 address", addr);
            return CF_EINVAL;
        }
        *sl = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            cf_err_set(err, "listen address \"%.64s\": not a numeric IPv6 address", addr);
            return CF_EINVAL;
        }
        *sl = sizeof(*sin6);
    }
    return 0;
}

int cf_net_listen(const char *addr, int backlog, int *fd_out, uint16_t *port_out, char *err)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    int fd = -1, one = 1, rc;

    rc = parse_addr(addr, &ss, &sl, err);
    if (rc < 0)
        goto out;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        cf_err_set(err, "socket: %s", strerror(errno));
        rc = CF_EIO;
        goto out;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, backlog) < 0) {
        cf_err_set(err, "bind/listen on %.64s: %s", addr, strerror(errno));
        rc = CF_EIO;
        goto out;
    }
    sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        cf_err_set(err, "getsockname: %s", strerror(errno));
        rc = CF_EIO;
        goto out;
    }
    *port_out = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);
    *fd_out = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}
