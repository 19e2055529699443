/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_TLSRELAY_H
#define HIGHRISE_TLSRELAY_H

/*
 * TLS in front of a library that cannot do TLS on a socket it is given:
 * spice-gtk, in the client-sockets mode the sandboxed worker needs, goes
 * from the provided socket straight to SPICE's link message. Each TLS
 * connection is handshaked (and its certificate verified: proto/tls.h)
 * here, then relayed byte for byte to one end of a socket pair whose other
 * end the library gets.
 *
 * Lifecycle: tls_relay_new, tls_relay_add per connection (blocking, bounded
 * by its timeout), tls_relay_start (one thread, hr-tlsrelay, for all of
 * them), tls_relay_free. Everything up to start opens descriptors and
 * threads, so it happens before the worker confines itself; the running
 * relay only polls, reads and writes. When either side of a connection
 * ends or fails, the relay closes both, so the library sees its socket end.
 */

#include "tls.h"

#include <stddef.h>

#define TLS_RELAY_MAX 8 /* connections per relay */

struct tls_relay;

/* NULL (logged) without memory. */
struct tls_relay *tls_relay_new(void);

/*
 * Takes ownership of tcp_fd (connected), runs the TLS handshake with ctx
 * verifying `name` within timeout_ms, and on success gives the library's
 * end in *plain_fd (non-blocking, close-on-exec, the caller owns it).
 * 0, or -1 with a sentence in why (tcp_fd is closed then). Before start.
 */
int tls_relay_add(struct tls_relay *r, struct tls_ctx *ctx, const char *name, int tcp_fd,
		  int timeout_ms, int *plain_fd, char *why, size_t whylen);

/* Starts the thread. 0 or a negative errno. */
int tls_relay_start(struct tls_relay *r);

/* Stops the thread, closes every TLS connection and the relay's ends. NULL does nothing. */
void tls_relay_free(struct tls_relay *r);

#endif
