/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the agent's WebSocket receive path (proto/conn.c with
 * conn_cfg.websocket, docs/protocol.md §1.1): the fuzzer's bytes arrive, as a
 * browser would send them after the opening handshake, on one end of a
 * bufferevent pair whose other end is a conn. RFC 6455 frame headers
 * (proto/ws.h), unmasking, fragments, control frames, the one-frame-per-
 * message rule and then msg_decode all see them. Whatever arrives, the conn
 * must call on_close exactly once (at the latest when the peer hangs up) and
 * free cleanly; every message it delivers must be one it could decode.
 */
#include "conn.h"
#include "log.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base *base;
static int closed_calls;
static size_t delivered;

static void on_msg(struct conn *c, const struct msg *m, void *ud)
{
	(void)c;
	(void)ud;
	(void)m;
	delivered++;
}

static void on_close(struct conn *c, int err, const char *reason, void *ud)
{
	(void)c;
	(void)err;
	(void)ud;
	if (!reason)
		abort();
	closed_calls++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_LEVEL_ERROR);
	base = event_base_new();
	if (!base)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct conn_cbs cbs = {.on_msg = on_msg, .on_close = on_close};
	struct conn_cfg cfg = {.max_frame = 1u << 20, .linger_ms = 50, .websocket = true};
	struct bufferevent *pair[2];

	closed_calls = 0;
	delivered = 0;
	if (bufferevent_pair_new(base, BEV_OPT_CLOSE_ON_FREE, pair) < 0)
		abort();
	struct conn *c = conn_new(pair[0], &cbs, NULL, &cfg);
	if (!c)
		abort();
	bufferevent_write(pair[1], data, size);
	bufferevent_enable(pair[1], EV_READ); /* what the agent answers is read and dropped */
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_loop(base, EVLOOP_NONBLOCK);
	/* still open after all of it: the agent's side ends it, with BYE and a close */
	if (closed_calls == 0)
		conn_close(c, MSG_BYE_NORMAL, "done");
	for (int i = 0; i < 100 && closed_calls == 0; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	bufferevent_free(pair[1]);
	if (closed_calls != 1) {
		fprintf(stderr, "fuzz_conn_ws: on_close called %d times\n", closed_calls);
		abort();
	}
	/* the conn frees itself on the next turn */
	event_base_loop(base, EVLOOP_NONBLOCK);
	return 0;
}
