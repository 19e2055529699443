/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CONN_H
#define HIGHRISE_CONN_H

/*
 * A message connection: the event-loop glue between a bufferevent (usually
 * TLS, from tls.h) and the codec in msg.h. Agent, client and tests use it
 * so that framing, limits and protocol errors are handled in one place.
 *
 * Receiving: frames are cut with msg_frame_peek and decoded with msg_decode;
 * each message goes to cbs->on_msg; unknown types are skipped by length. A
 * malformed frame, or one longer than cfg->max_frame, ends the connection:
 * the peer gets BYE PROTOCOL_ERROR (VERSION for a HELLO/WELCOME of another
 * protocol version) with a sentence saying what was wrong,
 * and on_close reports the same sentence.
 *
 * Ending: conn_close sends BYE, flushes (at most cfg->linger_ms), and ends
 * the connection. Every way a connection ends (peer BYE, EOF, error, a
 * protocol error, conn_close) calls on_close exactly once; the struct conn
 * is freed on the next loop turn after on_close returns, so callbacks may
 * call conn_close freely. Do not use the conn after on_close.
 *
 * Thread safety: a conn belongs to the thread running its event base.
 */

#include "msg.h"

#include <event2/bufferevent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;

struct conn_cbs {
	/* The handshake finished (BEV_EVENT_CONNECTED); optional. */
	void (*on_open)(struct conn *c, void *userdata);
	/* One decoded message; its borrowed bytes are valid until the callback returns. */
	void (*on_msg)(struct conn *c, const struct msg *m, void *userdata);
	/*
	 * The connection ended. err is 0 after a BYE from the peer or conn_close,
	 * else a negative code; reason is a sentence for logs and users (the
	 * peer's BYE text, or what went wrong).
	 */
	void (*on_close)(struct conn *c, int err, const char *reason, void *userdata);
};

struct conn_cfg {
	size_t max_frame; /* largest frame accepted, header included; 0: MSG_FRAME_MAX + 4 */
	int linger_ms;	  /* how long conn_close waits to flush; 0: 2000 */
	const char *name; /* for logs ("client 127.0.0.1:50122"); copied */
	/*
	 * Frames of unknown type reach on_msg as MSG_UNKNOWN (raw_type set)
	 * instead of being skipped here: for a receiver whose rule depends on
	 * the state (the agent before HELLO, docs/protocol.md §2).
	 */
	bool deliver_unknown;
	/*
	 * The frames travel as RFC 6455 messages, one frame per binary message
	 * (docs/protocol.md §1.1): the server's side of a WebSocket whose opening
	 * handshake is already answered. Frames from the peer must be masked;
	 * PING is answered, CLOSE ends the connection (an error: a browser
	 * sends BYE first when it means goodbye), text messages and a message
	 * that is not exactly one frame are protocol errors. conn_close sends
	 * BYE and then a CLOSE.
	 */
	bool websocket;
};

/*
 * Takes ownership of bev (also on failure) and starts reading. cbs is
 * copied. Returns NULL on allocation failure.
 */
struct conn *conn_new(struct bufferevent *bev, const struct conn_cbs *cbs, void *userdata,
		      const struct conn_cfg *cfg);

/*
 * Queues m for sending (copied into the output buffer). Returns 0,
 * HR_EPROTO_INVALID if m cannot be encoded, -EPIPE once the connection is
 * closing, or -ENOMEM.
 */
int conn_send(struct conn *c, const struct msg *m);

/* Bytes queued and not yet written to the socket: the sender's backpressure signal. */
size_t conn_pending(const struct conn *c);

/* Sends BYE(reason, text), flushes, then ends the connection (on_close(c, 0, text)). */
void conn_close(struct conn *c, uint16_t reason, const char *text);

/*
 * Ends the connection at once without a BYE (on_close(c, err, reason)), for
 * a peer that is gone: a BYE queued into a dead link would arrive late, if
 * the link comes back, and read as a goodbye (docs/protocol.md §6.4).
 */
void conn_abort(struct conn *c, int err, const char *reason);

/* The bufferevent (for tls_* queries such as tls_peer_common_name). */
struct bufferevent *conn_bufferevent(struct conn *c);
const char *conn_name(const struct conn *c);

#endif
