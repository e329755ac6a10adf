/*
 * gateway_int.h -- private to src/gateway: the limits its files share.
 *
 * Threads: constants only.
 */
#ifndef COFFER_GATEWAY_INT_H
#define COFFER_GATEWAY_INT_H

/* The app's reply to an upload is one small JSON record; a longer reply
 * fails the upload. */
#define CF__GATEWAY_REPLY_MAX (64 * 1024)

#endif
