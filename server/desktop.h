/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_DESKTOP_H
#define HIGHRISE_DESKTOP_H

/*
 * One desktop of the agent: its console, its pipeline thread and the
 * clients watching it (DESIGN.md "Agent threads"; STYLE.md "Loops and
 * threads").
 *
 *  - The pipeline thread runs only while a client is attached: capture ->
 *    convert -> encode, one encoder for all clients (fan-out). Commands
 *    (input, key frame requests, stop) reach it through a bounded queue;
 *    encoded frames, resizes, cursor shapes and console status come back
 *    through another, whose eventfd wakes the loop.
 *  - The first client attached gets control; later ones view only
 *    (help-desk shadowing). Only the controlling client's input is
 *    injected; when it leaves, every key and button it held is released.
 *  - Flow control from ACKs: a client with too many frames unacknowledged
 *    is lagging. While every client lags the pipeline stops encoding and
 *    keeps collecting damage, so the next frame carries the newest screen
 *    (skip to the newest, never queue). A client far behind while others
 *    keep up is skipped and resumes at a key frame. The bitrate ceiling
 *    falls when clients lag and climbs back while they keep up.
 *  - Clipboard (cfg->clipboard): WELCOME says CLIPBOARD to clients that
 *    announced CAP_CLIPBOARD; the controlling client's CLIPBOARD text goes
 *    to the console (capture.h clipboard_set), and the console's own
 *    clipboard changes go to every such client. Longer than clipboard_max:
 *    dropped and logged.
 *  - Resize to the window (docs/protocol.md §5.19): WELCOME says RESIZE to
 *    the controlling client when the console can (capture.h can_resize);
 *    its newest RESIZE_REQUEST is applied after 250 ms of quiet (at most
 *    1 s late) on the pipeline thread, and the console's REINIT brings the
 *    usual RESIZE and key frame. Refusals go back as STATUS RESIZE_REFUSED.
 *  - Console loss: the pipeline tells the clients (STATUS), retries the
 *    console with backoff (0.5 s doubling to 5 s) and resumes with a key
 *    frame when it returns.
 *
 * Threading: every function here runs on the agent's loop thread.
 */

#include "conn.h"
#include "msg.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

struct desktop_cfg {
	const char *id;	      /* as in tickets */
	const char *uri;      /* console: vnc://... or x11::N */
	const char *password; /* console password, or NULL */
	const char *codec;    /* encoder name; NULL: libx264 */
	int bitrate_kbps;     /* ceiling; 0: 10000 */
	int fps;	      /* most frames per second; 0: 30 */
	int max_inflight;     /* frames a client may leave unacknowledged; 0: 4 */
	bool clipboard;	      /* share the clipboard with clients that announce CAP_CLIPBOARD */
	size_t clipboard_max; /* longest text either way, bytes; 0: 1 MiB */
	/* called on the loop thread right after a client's WELCOME went out; may be NULL */
	void (*on_welcome)(struct conn *c, void *ud);
	void *ud;
};

struct desktop;
struct session;

/* NULL (and a log line) when the URI names no known console kind. */
struct desktop *desktop_new(struct event_base *base, const struct desktop_cfg *cfg);
/* Stops the pipeline (waits for it) and ends every session with BYE SHUTDOWN. */
void desktop_free(struct desktop *d);
const char *desktop_id(const struct desktop *d);

enum desktop_console {
	DESKTOP_CONSOLE_UNKNOWN, /* no pipeline runs (nobody watches), or it is starting */
	DESKTOP_CONSOLE_UP,
	DESKTOP_CONSOLE_LOST, /* the pipeline lost the console and is retrying */
};

/* What the running pipeline last said about the console. */
enum desktop_console desktop_console(const struct desktop *d);

/*
 * Attaches a connection that presented a valid ticket for this desktop.
 * WELCOME is sent as soon as the console's size is known (at once when the
 * pipeline runs). The session is owned by the desktop; the caller passes
 * the connection's messages to desktop_session_msg and, when the
 * connection closes, calls desktop_detach.
 */
struct session *desktop_attach(struct desktop *d, struct conn *c, const char *user,
			       const struct msg_hello *hello);
void desktop_session_msg(struct session *s, const struct msg *m);
void desktop_detach(struct session *s);

#endif
