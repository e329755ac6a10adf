/*
 * proxy.h -- a TCP proxy the test puts between two processes, to see and
 * change the bytes that pass: a network path that damages or cuts them.
 *
 * Role: the proxy listens on 127.0.0.1 (an ephemeral port, known before the
 * server starts, e.g. for the server's --authority) and relays each
 * connection to a server address (TCP or a unix socket), one thread per
 * connection. Every read, before it is forwarded, is offered to the hook
 * (may be NULL), which may change the bytes in place or have the
 * connection closed without forwarding them. The proxy runs until the
 * case's process ends (cases are forked, harness/runner.h).
 *
 * Threads: the hook runs on the connection threads, several at once; it
 * guards its own state. it_proxy_start is called from the case's thread.
 */
#ifndef COFFER_IT_PROXY_H
#define COFFER_IT_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Called with n (> 0) bytes read, before they are forwarded; to_server:
 * they go from the client to the server. Returns false to close the
 * connection instead of forwarding them. */
typedef bool (*it_proxy_hook)(void *arg, bool to_server, char *buf, size_t n);

struct it_proxy {
    int lfd;
    unsigned port; /* where clients connect, on 127.0.0.1 */
    struct sockaddr_storage server;
    socklen_t server_len;
    it_proxy_hook hook;
    void *arg;
};

/* Listen on 127.0.0.1 (px->port), with hook and its arg (may be NULL);
 * nothing is relayed yet. Fails the case if it cannot listen. px must live
 * until the case's process ends. */
void it_proxy_listen(struct it_proxy *px, it_proxy_hook hook, void *arg);
/* Relay what connects to px (listening) to server (copied; server_len
 * bytes) from now on. */
void it_proxy_relay(struct it_proxy *px, const struct sockaddr *server, socklen_t server_len);
/* The same to 127.0.0.1:port. */
void it_proxy_relay_tcp(struct it_proxy *px, unsigned port);
/* it_proxy_listen, then it_proxy_relay. */
void it_proxy_start(struct it_proxy *px, const struct sockaddr *server, socklen_t server_len,
                    it_proxy_hook hook, void *arg);

#endif
