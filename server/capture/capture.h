/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CAPTURE_H
#define HIGHRISE_CAPTURE_H

/*
 * Console backends: where a desktop's pixels come from and where its input
 * goes. One `const struct capture_impl` table per kind of console; the
 * agent picks one by the desktop's URI (capture_find) and never looks
 * inside. Adding a kind of console means adding a table, nothing else.
 *
 *   vnc://HOST:PORT   a VNC server (QEMU/KVM -vnc, libvirt, ESXi, Xvnc)
 *                     through libvncclient; cfg->password for VNC auth
 *   spice://HOST[:PORT]  a SPICE server (QEMU -spice) through spice-client-glib:
 *                     display 0, cursor, inputs, playback and record channels,
 *                     clipboard and resize where the guest runs spice-vdagent;
 *                     cfg->password for SPICE's ticket; [IPv6] in brackets;
 *                     PORT 5900 when absent
 *   spice+unix:///PATH  the same over QEMU's unix socket (-spice unix=on,addr=PATH)
 *   spice+tls://HOST:PORT[?ca=/PATH/ca.pem]  QEMU's tls-port: TLS 1.3, the
 *                     certificate verified against ca (the system store
 *                     without it) and naming HOST (tlsrelay.h)
 *   x11::DISPLAY      an X display (x11::99 is DISPLAY=:99) through XShm +
 *                     XDamage for pixels, XFixes for the cursor, XTest for input,
 *                     RandR to resize it to the client's window where it can
 *
 * Threading: everything about one struct capture happens on one thread,
 * the desktop's pipeline thread (libvncclient and Xlib connections are not
 * shared). Input reaches that thread through a queue.
 *
 * Pixels: the backend owns its framebuffer, 32 bits per pixel, bytes
 * B, G, R, X in memory (little-endian XRGB8888, libyuv's "ARGB"). The
 * framebuffer is persistent: frame->pixels stays valid, and keeps showing
 * the current screen, until the next CAPTURE_REINIT or close, so a caller
 * may encode damage it collected over several calls.
 */

#include "encoder.h"
#include "source.h" /* struct audio_frame */
#include "msg.h"
#include "rect.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum capture_status {
	CAPTURE_OK,	/* the screen changed: frame->damage says where */
	CAPTURE_AGAIN,	/* nothing changed before the timeout */
	CAPTURE_REINIT, /* the console changed size: the frame has the new size, all damaged */
	CAPTURE_ERROR,	/* the console is gone (VM off, server down): close, retry later */
};

#define CAPTURE_DAMAGE_MAX 64 /* more rectangles than this are merged into their bounds */

struct capture_frame {
	const uint8_t *pixels; /* B,G,R,X; owned by the backend */
	int width, height;     /* desktop size in pixels */
	int stride;	       /* bytes per row */
	struct rect damage[CAPTURE_DAMAGE_MAX];
	size_t ndamage; /* changed since the previous OK/REINIT; clipped to the screen */
	/*
	 * Microseconds spent bringing these pixels over from the console since
	 * the previous OK/REINIT (XShm copies, VNC updates read and decoded,
	 * SPICE region copies); never the time waiting for damage. VIDEO's
	 * CAPTURE stage (docs/protocol.md §5.5).
	 */
	uint32_t copy_us;
};

struct capture_cursor {
	uint16_t width, height; /* 0x0: no cursor shape (hidden) */
	uint16_t hot_x, hot_y;
	uint8_t *pixels; /* width*height*4 bytes B,G,R,A premultiplied; owned by the backend */
};

/* Why open() failed: the caller's retry policy and the user's message differ. */
enum capture_failure {
	CAPTURE_FAIL_UNREACHABLE, /* cannot connect, or the connection broke: retry soon */
	CAPTURE_FAIL_AUTH,	  /* the console refused our credentials: a configuration error */
	CAPTURE_FAIL_REFUSED, /* we refused the console (too large, unsupported): retry slowly */
	CAPTURE_FAIL_SANDBOX, /* cfg->connected failed: the worker cannot be confined */
};

struct capture_error {
	enum capture_failure kind;
	char why[200]; /* a sentence for logs and the user's STATUS, NUL-terminated */
};

/*
 * The largest console we take: what the encoder accepts (encoder.h
 * ENCODER_AREA_MAX, H.264 level 6.2's frame size). A bigger one is refused
 * before its framebuffer is allocated (CAPTURE_FAIL_REFUSED, or
 * CAPTURE_ERROR with the reason logged when it grows while open).
 */
#define CAPTURE_AREA_MAX ENCODER_AREA_MAX

struct capture_cfg {
	const char *password;	/* VNC password; NULL for none */
	int connect_timeout_ms; /* 0: 5000 */
	int read_timeout_s;	/* VNC: a message stalled this long fails the connection; 0: 5 */
	/*
	 * Called once from open(), as soon as the console's connection exists
	 * and before any byte the console sent is parsed (X11: right after
	 * XOpenDisplay, whose handshake Xlib does inside). The worker confines
	 * itself here (sandbox.h): from then on it cannot open another socket
	 * or file. Non-zero fails open() with CAPTURE_FAIL_SANDBOX. May be NULL.
	 */
	int (*connected)(void *ud);
	void *connected_ud;
	/* When open() returns NULL, filled with the reason (may be NULL). */
	struct capture_error *error;
	/*
	 * While this fd is readable, next() returns CAPTURE_AGAIN at once
	 * instead of waiting out its timeout: the worker's command queue
	 * (queue_fd), so input goes to the console when it arrives. 0: none
	 * (fd 0 is never such an fd in the worker).
	 */
	int wake_fd;
};

struct capture;

struct capture_impl {
	const char *name; /* "vnc", "x11" */

	/* Does this backend handle uri? (a prefix check: "vnc://", "x11:") */
	bool (*handles)(const char *uri);

	/*
	 * Connects to the console. Returns NULL and logs why (bad URI,
	 * unreachable, wrong password). Blocking, bounded by
	 * cfg->connect_timeout_ms.
	 */
	struct capture *(*open)(const char *uri, const struct capture_cfg *cfg);
	void (*close)(struct capture *c);

	/*
	 * Waits up to timeout_ms for the screen to change and fills *frame.
	 * The first call after open returns CAPTURE_REINIT with the whole
	 * screen. Never blocks longer than timeout_ms (plus one network read).
	 */
	enum capture_status (*next)(struct capture *c, int timeout_ms, struct capture_frame *frame);

	/*
	 * Injects one input message (KEY, POINTER, SCROLL; TOUCH and PEN where
	 * the console can take them, else mapped to the pointer), already
	 * checked with input_sanitize. Returns 0, -ENOTSUP for a kind the
	 * console cannot take, or -EIO when the console is gone.
	 */
	int (*inject)(struct capture *c, const struct msg *input);

	/*
	 * The cursor shape, when it changed since the last call: returns 1 and
	 * fills *out (valid until the next call), 0 when unchanged, -ENOTSUP
	 * when the console draws the cursor into the framebuffer itself.
	 */
	int (*cursor)(struct capture *c, struct capture_cursor *out);

	/*
	 * Where the pointer is, when it moved since the last call (optional:
	 * NULL for consoles whose clients learn it otherwise): returns 1 and
	 * fills x, y (the hot spot, desktop pixels), 0 when it stayed put.
	 * Called once per capture loop.
	 */
	int (*cursor_pos)(struct capture *c, uint16_t *x, uint16_t *y);

	/*
	 * The console's clipboard, text only (UTF-8 without NUL on our side;
	 * each backend converts to what its console speaks). Both NULL when the
	 * console has none.
	 *
	 * clipboard_set: the console's clipboard now holds text (copied).
	 * Returns 0, -ENOMEM or -EIO.
	 *
	 * clipboard_get: text the console's own clipboard took since the last
	 * call (our clipboard_set does not count: no echo). Returns 1 with
	 * *text (malloc'd, NUL-terminated, the caller frees) and *len, or 0
	 * when nothing new. Text longer than max bytes is not fetched or is
	 * dropped, and logged.
	 */
	int (*clipboard_set)(struct capture *c, const char *text, size_t len);
	int (*clipboard_get)(struct capture *c, size_t max, char **text, size_t *len);

	/*
	 * Resizing the console to the client's window (optional: both NULL for
	 * a kind of console that never can, e.g. VNC today).
	 *
	 * can_resize: whether this console can change its size on request,
	 * decided once at open (X11: RandR >= 1.2 and a test mode it was
	 * allowed to create; Xvfb cannot, Xvnc/Xtigervnc can).
	 *
	 * resize: asks the console for width x height pixels. Returns 0 when
	 * the console took it (the new size then comes from next() as
	 * CAPTURE_REINIT, as any resize does; a console may round it), or
	 * -ENOTSUP (cannot resize), -ERANGE (outside what it supports), -EIO
	 * (gone) or another negative errno, with a sentence for the user in
	 * why (always NUL-terminated).
	 */
	bool (*can_resize)(struct capture *c);
	int (*resize)(struct capture *c, int width, int height, char *why, size_t whylen);

	/*
	 * Does the console at uri accept a connection now, within timeout_ms?
	 * A cheap probe from any thread, without a struct capture (the broker
	 * link asks it of desktops nobody watches). NULL: never claimed down.
	 */
	bool (*reachable)(const char *uri, int timeout_ms);

	/*
	 * The console's own sound channel (optional: NULL for consoles whose
	 * sound, if any, the agent takes from PulseAudio, sound.h; VNC, X11).
	 *
	 * audio: the next piece of sound the console played since the last
	 * call, as 48 kHz stereo s16 (audio/source.h's format), at most
	 * AUDIO_FRAME_MAX samples per channel, stamped with the CLOCK_REALTIME
	 * µs its first sample arrived. Returns 1 and fills *out, 0 when nothing
	 * waits. Called from the pipeline thread after every next().
	 *
	 * mic: sound for the console's microphone (its record channel), same
	 * format, at most AUDIO_FRAME_MAX samples. 0 when taken or dropped
	 * because the guest is not recording; -EIO when the console is gone.
	 */
	int (*audio)(struct capture *c, struct audio_frame *out);
	int (*mic)(struct capture *c, const int16_t *pcm, int samples);
};

extern const struct capture_impl capture_vnc;
extern const struct capture_impl capture_spice;
extern const struct capture_impl capture_x11;

/*
 * ISO 8859-1 <-> UTF-8 for consoles whose clipboard is Latin-1 (RFB
 * ClientCutText/ServerCutText, RFC 6143 §7.5.6; X11's STRING). Return a
 * malloc'd NUL-terminated string and its length in *out_len, or NULL
 * without memory. To Latin-1, characters outside it become '?' and
 * malformed UTF-8 bytes are skipped; from Latin-1, NUL bytes are dropped.
 */
char *capture_utf8_to_latin1(const char *text, size_t len, size_t *out_len);
char *capture_latin1_to_utf8(const char *text, size_t len, size_t *out_len);

/* open()'s failure into cfg->error (when the caller asked for it): kind and why. */
void capture_report(const struct capture_cfg *cfg, enum capture_failure kind, const char *why);

/*
 * HOST[:PORT][/] of a console URI (the len bytes at p, after the scheme):
 * HOST a name, an IPv4 address or a bracketed IPv6 address (host gets it
 * without brackets, NUL-terminated, < cap bytes), PORT 1..65535 or
 * default_port when absent (RFC 7869). 0 or -EINVAL.
 */
int capture_parse_hostport(const char *p, size_t len, char *host, size_t cap, int *port,
			   int default_port);

/*
 * Adds r to a damage list of *n (at most CAPTURE_DAMAGE_MAX) rectangles;
 * one more than fits turns the list into its bounding rectangle.
 */
void capture_damage_add(struct rect damage[CAPTURE_DAMAGE_MAX], size_t *n, struct rect r);

/*
 * A cursor shape of straight-alpha R,G,B,A bytes (spice-gtk's) as ours:
 * premultiplied B,G,R,A in a new out->pixels (the caller frees the old
 * one), the hot spot clamped into the shape. -EINVAL for a side outside
 * 1..MSG_CURSOR_MAX or no data (out untouched), -ENOMEM.
 */
int capture_cursor_from_rgba(struct capture_cursor *out, int width, int height, int hot_x,
			     int hot_y, const uint8_t *rgba);

/* The backend for uri, or NULL (and a log line listing the known schemes). */
const struct capture_impl *capture_find(const char *uri);

/*
 * Whether the console at uri accepts a connection (its backend's
 * reachable(); true for a backend without one or an unknown URI: not
 * claimed down). Any thread.
 */
bool capture_reachable(const char *uri, int timeout_ms);

/*
 * Waits until fd is readable (1), wake_fd is (2; wake_fd 0: none),
 * timeout_ms passed (0) or poll fails (-1, errno set; EINTR is waited
 * through). POLLHUP/POLLERR on fd count as readable: the read that
 * follows reports them. For the backends' next().
 */
int capture_wait(int fd, int wake_fd, int timeout_ms);

/*
 * A TCP connection to host:port (host a name or an address, without
 * brackets) within timeout_ms, for the backends and their probes. Returns
 * the connected socket, non-blocking and close-on-exec, or -1 with a
 * sentence in why ("cannot be resolved: ...", "Connection refused").
 */
int capture_tcp_connect(const char *host, int port, int timeout_ms, char *why, size_t whylen);

#endif
