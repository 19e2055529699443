/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_DESKTOP_H
#define HIGHRISE_DESKTOP_H

/*
 * One desktop of the agent: its clients, and the worker process that does
 * its console work (worker.h; DESIGN.md "Agent threads", issue 9's
 * process boundary). This side never parses a byte the console sent.
 *
 *  - The worker runs only while a client is attached: console, capture,
 *    convert and encode happen there, one encoder for all clients
 *    (fan-out). Input, key frame and resize requests and CONTROL (bitrate,
 *    throttle) go to it over the link (wlink.h); encoded frames, sizes,
 *    cursor shapes, clipboard text and console states come back and are
 *    fanned out here.
 *  - Supervision: the worker answers a PING every second; one that does
 *    not answer for worker.hang_ms, grows past worker.memory_mb of RSS,
 *    uses more than worker.cpu_percent over worker.cpu_window_s, sends a malformed
 *    message or dies is killed (SIGKILL) and restarted with backoff (0.5 s
 *    doubling to 5 s; reset after 30 s of calm). Its clients get STATUS
 *    RESTARTING "the desktop is restarting", then the new worker's key
 *    frame and STATUS OK. The log names the worker's pid and why.
 *  - The first client attached gets control; later ones view only
 *    (help-desk shadowing). Only the controlling client's input is
 *    injected; when it leaves, every key and button it held is released.
 *  - Flow control from ACKs: skip to the newest screen, never queue; a
 *    client far behind resumes at a key frame; the bitrate follows. The
 *    rules and numbers are described once, in docs/architecture.md
 *    ("Flow control").
 *  - Clipboard (cfg->clipboard): WELCOME says CLIPBOARD to clients that
 *    announced CAP_CLIPBOARD; the controlling client's CLIPBOARD text goes
 *    to the console, and the console's own clipboard changes go to every
 *    such client. Longer than clipboard_max: dropped and logged.
 *  - Resize to the window (docs/protocol.md §5.19): WELCOME says RESIZE to
 *    the controlling client when the console can; its newest
 *    RESIZE_REQUEST is applied after 250 ms of quiet (at most 1 s late),
 *    and the console's new size brings the usual RESIZE and key frame.
 *    Refusals go back as STATUS RESIZE_REFUSED.
 *  - Sound (cfg->sound, sound.h): WELCOME says AUDIO to clients that
 *    announced CAP_OPUS when the desktop has a sound source, and AUDIO goes
 *    to them while any of them is attached; their AUDIO_REPORT losses set
 *    the encoder's FEC. WELCOME says MIC to the controlling client when it
 *    announced CAP_MIC and the desktop has a microphone sink; MIC from any
 *    other client is dropped and counted (the count is in the "left" log
 *    line).
 *  - Console trouble, as the worker reports it before it exits: an up
 *    console that closed (its VM stopped or restarts) -> STATUS RESTARTING,
 *    and CONSOLE_LOST only once it stays away restart_wait_s; one that
 *    never came up -> CONSOLE_LOST; either way a new worker with backoff
 *    (0.5 s doubling to 5 s); refused by us (too large) -> BYE with the
 *    reason, retried every 5 s to 60 s; the console refused our password
 *    -> BYE saying so, desktop_console() REFUSED (the broker hears
 *    offline) and no new try until the password file changes (or every
 *    30 s doubling to 10 min).
 *
 * Threading: every function here runs on the agent's loop thread.
 */

#include "conn.h"
#include "msg.h"
#include "sound.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

/* How the worker process is confined and watched (agent.conf worker.*). */
struct desktop_worker_cfg {
	bool sandbox;		/* seccomp; as root also chroot and its own uid */
	uint32_t uid;		/* the worker's uid and gid when the agent runs as root */
	const char *chroot_dir; /* an empty directory for the chroot; NULL: none */
	uint32_t memory_mb;	/* RLIMIT_AS and the RSS watchdog; 0: none */
	uint32_t hang_ms;	/* no PONG for this long: killed; 0: 5000 */
	uint32_t
		cpu_percent; /* more CPU than this (100: a core) over cpu_window_s: killed; 0: no limit */
	uint32_t cpu_window_s; /* 0: 30 */
};

struct desktop_cfg {
	const char *id;		   /* as in tickets */
	const char *uri;	   /* console: vnc://... or x11::N */
	const char *password;	   /* console password, or NULL */
	const char *password_file; /* where it came from: read again after a refusal */
	const char *codec;	   /* encoder name; NULL: libx264 */
	const char *preset;	   /* libx264 preset; NULL: the encoder's default */
	bool chroma444;		 /* still colour may go 4:4:4 when every client has CAP_H264_444 */
	int bitrate_kbps;	 /* ceiling; 0: 10000 */
	int fps;		 /* most frames per second; 0: 60 */
	int max_inflight;	 /* frames a client may leave unacknowledged; 0: 4 */
	unsigned restart_wait_s; /* a closed console away this long: CONSOLE_LOST; 0: 120 */
	bool clipboard;		 /* share the clipboard with clients that announce CAP_CLIPBOARD */
	size_t clipboard_max;	 /* longest text either way, bytes; 0: 1 MiB */
	struct desktop_worker_cfg worker;
	/* sound (sound.h): source_uri and/or mic_sink set, or neither (a silent desktop);
	 * desktop, on_packet and ud are the desktop's own */
	struct sound_cfg sound;
	/* called on the loop thread right after a client's WELCOME went out; may be NULL */
	void (*on_welcome)(struct conn *c, void *ud);
	void *ud;
};

struct desktop;
struct session;

/* NULL (and a log line) when the URI names no known console kind. */
struct desktop *desktop_new(struct event_base *base, const struct desktop_cfg *cfg);
/* Stops the worker (1 s at most, then SIGKILL); call after the sessions' connections closed. */
void desktop_free(struct desktop *d);
const char *desktop_id(const struct desktop *d);

enum desktop_console {
	DESKTOP_CONSOLE_UNKNOWN, /* no pipeline runs (nobody watches), or it is starting */
	DESKTOP_CONSOLE_UP,
	DESKTOP_CONSOLE_LOST,	 /* the worker lost the console and is retrying */
	DESKTOP_CONSOLE_REFUSED, /* the console refused our credentials: offline */
};

/* What the running worker last said about the console. */
enum desktop_console desktop_console(const struct desktop *d);

/*
 * Why the console is not up, a sentence for the broker and admins ("" when
 * it is up or nobody knows): valid until the next loop turn.
 */
const char *desktop_console_reason(const struct desktop *d);

/* How many times a worker of this desktop crashed, hung or broke a limit. */
unsigned desktop_restarts(const struct desktop *d);

/*
 * Attaches a connection that presented a valid ticket for this desktop.
 * WELCOME is sent as soon as the console's size is known (at once when the
 * worker runs). The session is owned by the desktop; the caller passes
 * the connection's messages to desktop_session_msg and, when the
 * connection closes, calls desktop_detach.
 */
struct desktop_join {
	const char *user;
	const struct msg_hello *hello;
	/* the resume grant WELCOME carries (MSG_RESUME_GRANT_LEN bytes, copied); NULL: none */
	const uint8_t *resume;
	uint16_t resume_window_s;
};
struct session *desktop_attach(struct desktop *d, struct conn *c, const struct desktop_join *j);
void desktop_session_msg(struct session *s, const struct msg *m);
/* The connection ended: when it had control, the longest-watching client gets it. */
void desktop_detach(struct session *s);
/* The same session resumed on another connection: control waits for it (no hand-over). */
void desktop_detach_replaced(struct session *s);

#endif
