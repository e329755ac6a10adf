/*
 * net.h -- listening sockets.
 *
 * Threads: thread-safe (no shared state).
 */
#ifndef COFFER_NET_H
#define COFFER_NET_H

#include <stdint.h>
#include "coffer/common.h"

/* Open a TCP listening socket on addr ("HOST:PORT", "[V6]:PORT" or ":PORT";
 * HOST must be a numeric address; port 0 lets the kernel choose), with
 * SO_REUSEADDR and the given backlog. On success *fd_out is the socket
 * (caller owns; close it) and *port_out the bound port. Returns 0, or
 * CF_EINVAL (bad address) / CF_EIO (bind or listen failed) with a reason in err. */
CF_MUST_CHECK int cf_net_listen(const char *addr, int backlog, int *fd_out, uint16_t *port_out,
                                char *err);

#endif
