/* SPDX-License-Identifier: MIT */
/*
 * The SPICE console backend: a QEMU display's pixels, cursor, sound and
 * input through spice-client-glib (spice-gtk 0.42 in Debian 12).
 *
 *   spice://HOST[:PORT]          TCP (port 5900 when absent; IPv6 in brackets)
 *   spice+unix:///path/to/socket QEMU's -spice unix=on,addr=PATH
 *   spice+tls://HOST:PORT[?ca=/path/ca.pem]  QEMU's tls-port: TLS 1.3, the
 *                                certificate verified against the CA file (the
 *                                system's store without one) and HOST
 *
 * The sandbox shapes everything here. SPICE opens one connection per
 * channel, and spice-gtk opens the others only after the main channel has
 * parsed the server's channel list, long after the worker confined itself
 * (capture.h cfg->connected: no socket() or connect() from then on). So the
 * session runs with "client-sockets": every channel asks for its socket
 * with "open-fd", and we hand it one from a pool connected before
 * confinement, one per channel kind we use (main, display, cursor, inputs,
 * playback, record). Channels of other kinds (usbredir, smartcard, port,
 * webdav, extra displays) are never connected. A channel that asks when the
 * pool is empty (a reconnect) fails, with a log line; the main or display
 * channel failing ends the capture (CAPTURE_ERROR, the agent restarts the
 * worker, which makes a new pool).
 *
 * TLS: spice-gtk skips TLS on sockets the client provides (spice-channel.c
 * goes from the provided fd straight to the link message), so for
 * spice+tls each pool socket is handshaked and verified here, before
 * confinement, and relayed (tlsrelay.h, one thread) to a socket pair whose
 * other end goes into the pool. A certificate that does not verify is
 * CAPTURE_FAIL_REFUSED with the reason.
 *
 * Loops: spice-gtk attaches its sources (channel sockets, coroutine
 * wake-ups, signal emissions from coroutines through g_idle_add) to the
 * global default GMainContext, not to the thread-default one, so a private
 * context cannot drive it. open() acquires the default context for the
 * calling (pipeline) thread and next() iterates it there, bounded by its
 * timeout; one SPICE console per process (the worker's model), a second
 * open() in the same process is refused. Every spice-gtk callback runs
 * inside open(), next() or close() on that thread; inject(), audio() and
 * mic() only queue messages (spice-gtk sends them from the loop).
 *
 * Clipboard and resize go through the guest's spice-vdagent (main channel
 * agent messages). The test VM runs no agent, so that part is written from
 * the API and not exercised by tests/unit/test_capture_spice.c.
 *
 * A console is untrusted input: the surface size is checked before our
 * framebuffer is allocated (spice-gtk has allocated its own already: the
 * worker's memory limit bounds that), cursor shapes above MSG_CURSOR_MAX are
 * dropped, sound is queued up to SPICE_AUDIO_QUEUE_MS and clipboard text up
 * to the caller's max.
 */
#include "capture.h"

#include "clock.h"
#include "hostport.h"
#include "input.h"
#include "log.h"
#include "tlsrelay.h"

#include <glib-unix.h>
#include <spice-client.h>
#include <spice/vd_agent.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SPICE_DEFAULT_PORT	 5900
#define SPICE_DEFAULT_TIMEOUT_MS 5000
#define SPICE_HOST_MAX		 256
#define SPICE_PATH_MAX		 108 /* sockaddr_un.sun_path */
#define SPICE_LABEL_MAX		 (SPICE_HOST_MAX + 16)
#define SPICE_POOL		 6   /* main, display, cursor, inputs, playback, record */
#define SPICE_SCROLL_STEP	 120 /* msg_scroll units per wheel click */
#define SPICE_RATE		 48000
#define SPICE_CHANNELS		 2
#define SPICE_AUDIO_QUEUE_MS	 500
#define SPICE_AUDIO_QUEUE	 (SPICE_RATE * SPICE_AUDIO_QUEUE_MS / 1000) /* frames */
#define SPICE_RATE_MIN		 8000
#define SPICE_RATE_MAX		 192000
#define SPICE_MIC_MAX		 (AUDIO_FRAME_MAX * 4 + 8) /* frames after resampling */
#define SPICE_CLOSE_WAIT_MS	 1000
/* After the primary surface exists, how long open() waits for its first drawing. */
#define SPICE_FIRST_DRAW_MS 1000

enum spice_transport {
	SPICE_TCP,
	SPICE_UNIX,
	SPICE_TLS
};

struct spice_target {
	enum spice_transport transport;
	char host[SPICE_HOST_MAX]; /* TCP/TLS: a name or address, without brackets */
	int port;
	char path[SPICE_PATH_MAX]; /* unix: the socket; TLS: the CA file ("" for none) */
};

struct capture {
	SpiceSession *session;
	int wake_fd; /* capture_cfg.wake_fd, once open() is done */
	SpiceChannel *main, *display, *cursor_ch, *inputs, *playback, *record;
	char label[SPICE_LABEL_MAX];
	bool own_context; /* we acquired the default GMainContext */

	/* sockets connected before confinement, handed out by "open-fd" */
	int pool[SPICE_POOL];
	int npool;
	struct tls_ctx *tls;	 /* spice+tls: the verifying client context */
	struct tls_relay *relay; /* spice+tls: the pool's TLS connections */

	bool failed; /* the console is gone: next() says ERROR from now on */
	bool opening;
	bool main_opened, inputs_opened;
	struct capture_error reason; /* why[0] == 0: nothing recorded */

	/* display: our persistent B,G,R,X copy of the primary surface */
	uint8_t *fb;
	int width, height;
	bool have_primary;
	enum SpiceSurfaceFmt format;
	const uint8_t *src; /* spice-gtk's primary surface, valid while have_primary */
	int src_stride;
	int64_t copy_us; /* copying regions of the primary since the last emit */
	bool reinit;
	bool drawn; /* something was drawn since the primary appeared */
	struct rect damage[CAPTURE_DAMAGE_MAX];
	size_t ndamage;
	bool gl_logged;

	/* cursor */
	struct capture_cursor cursor;
	bool cursor_changed;
	int cursor_logged_w, cursor_logged_h;
	bool guest_pos_known;
	int guest_x, guest_y; /* cursor channel's position (server mouse mode) */

	/* input */
	int mouse_mode; /* SPICE_MOUSE_MODE_* */
	int x, y;	/* last position sent (client mode) or believed (server mode) */
	int buttons;	/* SPICE_MOUSE_BUTTON_MASK_* held */
	int scroll_y;
	bool scroll_x_logged;
	bool touching;
	uint32_t touch_id;

	/* playback: 48 kHz stereo s16, a ring of SPICE_AUDIO_QUEUE frames */
	int16_t *ring;
	size_t ring_head, ring_len; /* in frames */
	int64_t head_us;	    /* CLOCK_REALTIME µs of the oldest queued frame */
	uint64_t dropped;	    /* frames dropped because the queue was full */
	bool play_ok;		    /* the format of playback-start is one we take */
	int play_rate, play_channels;
	double play_phase; /* resampler: position between prev and the next input frame */
	int16_t play_prev[SPICE_CHANNELS];
	bool play_logged;

	/* record (the guest's microphone) */
	bool recording;
	int rec_rate, rec_channels;
	double rec_phase;
	int16_t rec_prev[SPICE_CHANNELS];
	int16_t mic_buf[SPICE_MIC_MAX * SPICE_CHANNELS];

	/* clipboard through spice-vdagent */
	bool agent;
	char *clip; /* text the guest copied, not taken yet */
	size_t clip_len;
	char *ours; /* text we put on the guest's clipboard, served on request */
	size_t ours_len;
	size_t clip_max; /* the last max of clipboard_get: bigger text is not fetched */
};

static atomic_bool spice_in_use;

/* ---- helpers ---- */

static void set_reason(struct capture *c, enum capture_failure kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_reason(struct capture *c, enum capture_failure kind, const char *fmt, ...)
{
	va_list ap;
	if (c->reason.why[0])
		return; /* the first reason is the cause, later ones its consequences */
	c->reason.kind = kind;
	va_start(ap, fmt);
	vsnprintf(c->reason.why, sizeof(c->reason.why), fmt, ap);
	va_end(ap);
}

static int ms_left(int64_t deadline)
{
	int64_t left = deadline - clock_mono_ms();
	if (left < 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* ---- spice-gtk's log (GLib domain "GSpice"), routed into log.h ---- */

static void glib_log(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer ud)
{
	char buf[300];
	(void)ud;
	snprintf(buf, sizeof(buf), "%s", message ? message : "");
	/* Servers put their own strings (names, reasons) in these lines. */
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		log_warn("%s: %s", domain ? domain : "glib", buf);
	else if (level & G_LOG_LEVEL_WARNING)
		log_info("%s: %s", domain ? domain : "glib", buf);
	else
		log_debug("%s: %s", domain ? domain : "glib", buf);
}

static void route_logs_once(void)
{
	static atomic_bool done;
	if (atomic_exchange(&done, true))
		return;
	g_log_set_handler("GSpice", G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION,
			  glib_log, NULL);
}

/* ---- URIs ---- */

static bool starts_with(const char *s, const char *prefix)
{
	return s && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static bool spice_handles(const char *uri)
{
	return starts_with(uri, "spice://") || starts_with(uri, "spice+unix://") ||
	       starts_with(uri, "spice+tls://");
}

/* HOST[:PORT] with HOST a name, IPv4 or [IPv6], PORT 5900 when absent. */
static int parse_hostport(const char *p, size_t len, struct spice_target *t)
{
	return capture_parse_hostport(p, len, t->host, sizeof(t->host), &t->port,
				      SPICE_DEFAULT_PORT);
}

static int parse_uri(const char *uri, struct spice_target *t)
{
	memset(t, 0, sizeof(*t));
	if (starts_with(uri, "spice+unix://")) {
		const char *p = uri + strlen("spice+unix://");
		size_t n = strlen(p);
		t->transport = SPICE_UNIX;
		if (n < 2 || p[0] != '/' || n >= sizeof(t->path) || strchr(p, '?'))
			return -EINVAL;
		memcpy(t->path, p, n + 1);
		return 0;
	}
	if (starts_with(uri, "spice+tls://")) {
		const char *p = uri + strlen("spice+tls://");
		const char *q = strchr(p, '?');
		t->transport = SPICE_TLS;
		if (q) {
			if (strncmp(q, "?ca=/", 5) != 0 || strlen(q + 4) >= sizeof(t->path))
				return -EINVAL;
			snprintf(t->path, sizeof(t->path), "%s", q + 4);
		}
		return parse_hostport(p, q ? (size_t)(q - p) : strlen(p), t);
	}
	if (starts_with(uri, "spice://")) {
		const char *p = uri + strlen("spice://");
		t->transport = SPICE_TCP;
		if (strchr(p, '?'))
			return -EINVAL;
		return parse_hostport(p, strlen(p), t);
	}
	return -EINVAL;
}

static void target_label(const struct spice_target *t, char *buf, size_t cap)
{
	if (t->transport == SPICE_UNIX)
		snprintf(buf, cap, "%s", t->path);
	else
		hostport_format(buf, cap, t->host, t->port);
}

/* A non-blocking, close-on-exec AF_UNIX stream connection, or -1 with why. */
static int unix_connect(const char *path, char *why, size_t whylen)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	/* A local connect does not wait for the peer to accept: blocking is bounded. */
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static int target_connect(const struct spice_target *t, int timeout_ms, char *why, size_t whylen)
{
	if (t->transport == SPICE_UNIX)
		return unix_connect(t->path, why, whylen);
	int fd = capture_tcp_connect(t->host, t->port, timeout_ms, why, whylen);
	if (fd >= 0) {
		int one = 1;
		/* Input latency: every key and pointer event is its own small write. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* A console that vanishes without a FIN (VM host died) ends the channel. */
		int user_timeout = 30000;
		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
	}
	return fd;
}

static bool spice_reachable(const char *uri, int timeout_ms)
{
	struct spice_target t;
	char why[160];
	if (parse_uri(uri, &t) < 0)
		return true; /* open() says what is wrong with it */
	int fd = target_connect(&t, timeout_ms, why, sizeof(why));
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* ---- the socket pool ---- */

static int pool_take(struct capture *c)
{
	if (c->npool == 0)
		return -1;
	return c->pool[--c->npool];
}

static void pool_close(struct capture *c)
{
	while (c->npool > 0)
		close(c->pool[--c->npool]);
}

/* ---- failure ---- */

static void fail(struct capture *c, const char *what)
{
	if (c->failed)
		return;
	c->failed = true;
	if (!c->opening)
		log_warn("spice: connection to %s lost: %s", c->label, what);
}

static const char *event_name(SpiceChannelEvent ev)
{
	switch (ev) {
	case SPICE_CHANNEL_CLOSED:
		return "the console closed the connection";
	case SPICE_CHANNEL_ERROR_CONNECT:
		return "the connection could not be made";
	case SPICE_CHANNEL_ERROR_TLS:
		return "TLS failed";
	case SPICE_CHANNEL_ERROR_LINK:
		return "the console refused the link (protocol or channel mismatch)";
	case SPICE_CHANNEL_ERROR_AUTH:
		return "the console refused the agent's credentials";
	case SPICE_CHANNEL_ERROR_IO:
		return "the connection broke";
	default:
		return "the connection ended";
	}
}

/* ---- display ---- */

static void add_damage(struct capture *c, struct rect r)
{
	capture_damage_add(c->damage, &c->ndamage, r);
}

/* Copies a rectangle of the SPICE primary into our B,G,R,X framebuffer. */
static void copy_rect(struct capture *c, int x, int y, int w, int h)
{
	size_t dst_stride = (size_t)c->width * 4;
	for (int row = y; row < y + h; row++) {
		const uint8_t *s = c->src + (size_t)row * (size_t)c->src_stride;
		uint8_t *d = c->fb + (size_t)row * dst_stride + (size_t)x * 4;
		switch (c->format) {
		case SPICE_SURFACE_FMT_32_xRGB:
		case SPICE_SURFACE_FMT_32_ARGB:
			/* a native 0xAARRGGBB: B,G,R,A in memory on little-endian */
			memcpy(d, s + (size_t)x * 4, (size_t)w * 4);
			for (int i = 0; i < w; i++)
				d[i * 4 + 3] = 0;
			break;
		case SPICE_SURFACE_FMT_16_565:
			for (int i = 0; i < w; i++) {
				uint16_t p = (uint16_t)(s[(x + i) * 2] | s[(x + i) * 2 + 1] << 8);
				uint8_t r = (uint8_t)(p >> 11 & 0x1f), g = (uint8_t)(p >> 5 & 0x3f),
					b = (uint8_t)(p & 0x1f);
				d[i * 4 + 0] = (uint8_t)(b << 3 | b >> 2);
				d[i * 4 + 1] = (uint8_t)(g << 2 | g >> 4);
				d[i * 4 + 2] = (uint8_t)(r << 3 | r >> 2);
				d[i * 4 + 3] = 0;
			}
			break;
		default: /* SPICE_SURFACE_FMT_16_555, checked in take_primary */
			for (int i = 0; i < w; i++) {
				uint16_t p = (uint16_t)(s[(x + i) * 2] | s[(x + i) * 2 + 1] << 8);
				uint8_t r = (uint8_t)(p >> 10 & 0x1f), g = (uint8_t)(p >> 5 & 0x1f),
					b = (uint8_t)(p & 0x1f);
				d[i * 4 + 0] = (uint8_t)(b << 3 | b >> 2);
				d[i * 4 + 1] = (uint8_t)(g << 3 | g >> 2);
				d[i * 4 + 2] = (uint8_t)(r << 3 | r >> 2);
				d[i * 4 + 3] = 0;
			}
			break;
		}
	}
}

static void refuse_surface(struct capture *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void refuse_surface(struct capture *c, const char *fmt, ...)
{
	va_list ap;
	char why[200];
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_error("spice: %s: %s: refused", c->label, why);
	set_reason(c, CAPTURE_FAIL_REFUSED, "%s", why);
	c->have_primary = false;
	c->src = NULL;
	fail(c, why);
}

/* The display channel's primary surface (spice_display_channel_get_primary). */
static void take_primary(struct capture *c)
{
	SpiceDisplayPrimary p;
	if (!c->display || !spice_display_channel_get_primary(c->display, 0, &p))
		return;
	int bpp;
	switch (p.format) {
	case SPICE_SURFACE_FMT_32_xRGB:
	case SPICE_SURFACE_FMT_32_ARGB:
		bpp = 4;
		break;
	case SPICE_SURFACE_FMT_16_555:
	case SPICE_SURFACE_FMT_16_565:
		bpp = 2;
		break;
	default:
		refuse_surface(c,
			       "the console's screen has pixel format %d, which the agent cannot "
			       "read",
			       (int)p.format);
		return;
	}
	if (p.width < 1 || p.height < 1 || p.width > (int)MSG_DIMENSION_MAX ||
	    p.height > (int)MSG_DIMENSION_MAX) {
		refuse_surface(c,
			       "the console's desktop is %dx%d, outside the 1..%u pixels a side "
			       "the agent takes",
			       p.width, p.height, MSG_DIMENSION_MAX);
		return;
	}
	size_t area = (size_t)p.width * (size_t)p.height;
	if (area > CAPTURE_AREA_MAX) {
		refuse_surface(c,
			       "the console's desktop is %dx%d, more than the %u pixels the "
			       "encoder takes",
			       p.width, p.height, CAPTURE_AREA_MAX);
		return;
	}
	if (!p.data || p.stride < p.width * bpp) {
		refuse_surface(c, "the console's %dx%d screen has a stride of %d bytes", p.width,
			       p.height, p.stride);
		return;
	}
	if (!c->fb || p.width != c->width || p.height != c->height) {
		uint8_t *fb = calloc(area, 4);
		if (!fb) {
			log_error("spice: no memory for a %dx%d framebuffer", p.width, p.height);
			set_reason(c, CAPTURE_FAIL_UNREACHABLE,
				   "no memory for the console's %dx%d desktop", p.width, p.height);
			fail(c, "out of memory");
			return;
		}
		free(c->fb);
		c->fb = fb;
		c->width = p.width;
		c->height = p.height;
		c->reinit = true;
		c->drawn = false;
		c->ndamage = 0;
		log_debug("spice: %s primary surface %dx%d, format %d", c->label, p.width, p.height,
			  (int)p.format);
	}
	c->format = p.format;
	c->src = p.data;
	c->src_stride = p.stride;
	c->have_primary = true;
	int64_t t0 = clock_mono_us();
	copy_rect(c, 0, 0, c->width, c->height);
	c->copy_us += clock_mono_us() - t0;
	add_damage(c, (struct rect){0, 0, c->width, c->height});
}

static void on_primary_create(SpiceChannel *ch, gint format, gint width, gint height, gint stride,
			      gint shmid, gpointer data, gpointer ud)
{
	(void)ch, (void)format, (void)width, (void)height, (void)stride, (void)shmid, (void)data;
	take_primary(ud);
}

static void on_primary_destroy(SpiceChannel *ch, gpointer ud)
{
	struct capture *c = ud;
	(void)ch;
	/* Our copy stays (capture.h: valid until the next REINIT). */
	c->have_primary = false;
	c->src = NULL;
}

static void on_invalidate(SpiceChannel *ch, gint x, gint y, gint w, gint h, gpointer ud)
{
	struct capture *c = ud;
	(void)ch;
	if (!c->have_primary)
		take_primary(c);
	if (!c->have_primary)
		return;
	int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
	int x1 = x + w > c->width ? c->width : x + w;
	int y1 = y + h > c->height ? c->height : y + h;
	if (x1 <= x0 || y1 <= y0)
		return;
	int64_t t0 = clock_mono_us();
	copy_rect(c, x0, y0, x1 - x0, y1 - y0);
	c->copy_us += clock_mono_us() - t0;
	add_damage(c, (struct rect){x0, y0, x1 - x0, y1 - y0});
	c->drawn = true;
}

static void on_mark(SpiceChannel *ch, gint mark, gpointer ud)
{
	struct capture *c = ud;
	(void)ch;
	if (mark)
		c->drawn = true;
}

static void on_gl_draw(SpiceDisplayChannel *ch, guint x, guint y, guint w, guint h, gpointer ud)
{
	struct capture *c = ud;
	(void)x, (void)y, (void)w, (void)h;
	if (!c->gl_logged) {
		log_warn("spice: %s sends GL scanouts (virgl / gl=on), which the agent does not "
			 "read: use a display without gl",
			 c->label);
		c->gl_logged = true;
	}
	/* The server waits for this before it draws again. */
	spice_display_channel_gl_draw_done(ch);
}

/* ---- cursor ---- */

static void on_cursor(GObject *obj, GParamSpec *pspec, gpointer ud)
{
	struct capture *c = ud;
	SpiceCursorShape *shape = NULL;
	(void)pspec;
	g_object_get(obj, "cursor", &shape, NULL);
	if (!shape)
		return; /* the client's default cursor: keep what we had */
	int w = shape->width, h = shape->height;
	/* spice-gtk hands shapes over as R,G,B,A (it swaps the wire's B,G,R,A, channel-cursor.c) */
	struct capture_cursor cur;
	int rc = capture_cursor_from_rgba(&cur, w, h, shape->hot_spot_x, shape->hot_spot_y,
					  shape->data);
	if (rc == -EINVAL) {
		if (w != c->cursor_logged_w || h != c->cursor_logged_h)
			log_info("spice: %s sent a %dx%d cursor, outside 1..%u a side: dropped",
				 c->label, w, h, MSG_CURSOR_MAX);
		c->cursor_logged_w = w;
		c->cursor_logged_h = h;
	}
	if (rc < 0) {
		g_boxed_free(SPICE_TYPE_CURSOR_SHAPE, shape);
		return;
	}
	free(c->cursor.pixels);
	c->cursor = cur;
	c->cursor_changed = true;
	g_boxed_free(SPICE_TYPE_CURSOR_SHAPE, shape);
}

static void on_cursor_hide(SpiceCursorChannel *ch, gpointer ud)
{
	struct capture *c = ud;
	(void)ch;
	free(c->cursor.pixels);
	c->cursor = (struct capture_cursor){0};
	c->cursor_changed = true;
}

static void on_cursor_move(SpiceCursorChannel *ch, gint x, gint y, gpointer ud)
{
	struct capture *c = ud;
	(void)ch;
	c->guest_pos_known = true;
	c->guest_x = x;
	c->guest_y = y;
}

/* ---- sound ---- */

static void ring_push(struct capture *c, int16_t l, int16_t r)
{
	if (c->ring_len == SPICE_AUDIO_QUEUE) {
		/* full: the oldest frame goes, the caller is behind */
		c->ring_head = (c->ring_head + 1) % SPICE_AUDIO_QUEUE;
		c->ring_len--;
		if (c->dropped++ == 0)
			log_info("spice: %s: sound is not taken fast enough: the oldest is dropped "
				 "(more than %d ms queued)",
				 c->label, SPICE_AUDIO_QUEUE_MS);
		c->head_us += 1000000 / SPICE_RATE; /* ~20.8 µs; exactness does not matter here */
	}
	if (c->ring_len == 0)
		c->head_us = clock_real_us();
	size_t tail = (c->ring_head + c->ring_len) % SPICE_AUDIO_QUEUE;
	c->ring[tail * 2] = l;
	c->ring[tail * 2 + 1] = r;
	c->ring_len++;
}

static void on_playback_start(SpicePlaybackChannel *ch, gint format, gint channels, gint rate,
			      gpointer ud)
{
	struct capture *c = ud;
	(void)ch;
	c->play_ok = format == SPICE_AUDIO_FMT_S16 && (channels == 1 || channels == 2) &&
		     rate >= SPICE_RATE_MIN && rate <= SPICE_RATE_MAX;
	c->play_rate = rate;
	c->play_channels = channels;
	c->play_phase = 0;
	c->play_prev[0] = c->play_prev[1] = 0;
	if (!c->play_ok && !c->play_logged) {
		log_warn("spice: %s plays format %d, %d channels at %d Hz, which the agent does "
			 "not take: its sound is dropped",
			 c->label, format, channels, rate);
		c->play_logged = true;
	} else if (c->play_ok) {
		log_debug("spice: %s playback starts: %d channels at %d Hz", c->label, channels,
			  rate);
	}
}

static void on_playback_data(SpicePlaybackChannel *ch, gpointer data, gint bytes, gpointer ud)
{
	struct capture *c = ud;
	(void)ch;
	if (!c->play_ok || !data || bytes <= 0 || !c->ring)
		return;
	const int16_t *in = data;
	size_t frames = (size_t)bytes / (2u * (size_t)c->play_channels);
	int nch = c->play_channels;
	if (c->play_rate == SPICE_RATE) {
		for (size_t i = 0; i < frames; i++)
			ring_push(c, in[i * nch], in[i * nch + nch - 1]);
		return;
	}
	/* Linear interpolation between the previous and each new input frame. */
	double step = (double)c->play_rate / SPICE_RATE;
	for (size_t i = 0; i < frames; i++) {
		int16_t l = in[i * nch], r = in[i * nch + nch - 1];
		while (c->play_phase < 1.0) {
			double f = c->play_phase;
			ring_push(c, (int16_t)(c->play_prev[0] + (l - c->play_prev[0]) * f),
				  (int16_t)(c->play_prev[1] + (r - c->play_prev[1]) * f));
			c->play_phase += step;
		}
		c->play_phase -= 1.0;
		c->play_prev[0] = l;
		c->play_prev[1] = r;
	}
}

static void on_playback_stop(SpicePlaybackChannel *ch, gpointer ud)
{
	struct capture *c = ud;
	(void)ch;
	log_debug("spice: %s playback stops (%zu frames still queued)", c->label, c->ring_len);
}

static void on_playback_delay(SpicePlaybackChannel *ch, gpointer ud)
{
	struct capture *c = ud;
	/* Our queue is the client's buffer as far as the server's lip sync knows. */
	spice_playback_channel_set_delay(ch, (guint32)(c->ring_len * 1000 / SPICE_RATE));
}

static void on_record_start(SpiceRecordChannel *ch, gint format, gint channels, gint rate,
			    gpointer ud)
{
	struct capture *c = ud;
	(void)ch;
	c->recording = format == SPICE_AUDIO_FMT_S16 && (channels == 1 || channels == 2) &&
		       rate >= SPICE_RATE_MIN && rate <= SPICE_RATE_MAX;
	c->rec_rate = rate;
	c->rec_channels = channels;
	c->rec_phase = 0;
	c->rec_prev[0] = c->rec_prev[1] = 0;
	if (c->recording)
		log_debug("spice: %s records: %d channels at %d Hz", c->label, channels, rate);
	else
		log_warn("spice: %s records format %d, %d channels at %d Hz, which the agent "
			 "cannot send: no microphone",
			 c->label, format, channels, rate);
}

static void on_record_stop(SpiceRecordChannel *ch, gpointer ud)
{
	struct capture *c = ud;
	(void)ch;
	c->recording = false;
}

/* ---- main channel: mouse mode, agent, clipboard ---- */

static void on_mouse_mode(GObject *obj, GParamSpec *pspec, gpointer ud)
{
	struct capture *c = ud;
	int mode = 0;
	(void)pspec;
	g_object_get(obj, "mouse-mode", &mode, NULL);
	if (mode != c->mouse_mode)
		log_debug("spice: %s mouse mode %s", c->label,
			  mode == SPICE_MOUSE_MODE_CLIENT ? "client (absolute)"
							  : "server (relative)");
	c->mouse_mode = mode;
}

static void on_agent(GObject *obj, GParamSpec *pspec, gpointer ud)
{
	struct capture *c = ud;
	gboolean agent = FALSE;
	(void)pspec;
	g_object_get(obj, "agent-connected", &agent, NULL);
	if ((bool)agent != c->agent)
		log_info("spice: %s: the guest's spice-vdagent %s", c->label,
			 agent ? "is connected (clipboard, resize)" : "is gone");
	c->agent = agent;
}

static gboolean on_clip_grab(SpiceMainChannel *ch, guint selection, gpointer types, guint ntypes,
			     gpointer ud)
{
	struct capture *c = ud;
	const guint32 *t = types;
	if (selection != VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD || !t)
		return TRUE;
	for (guint i = 0; i < ntypes; i++)
		if (t[i] == VD_AGENT_CLIPBOARD_UTF8_TEXT) {
			/* the guest copied text: fetch it (answer in on_clip_data) */
			free(c->ours);
			c->ours = NULL;
			spice_main_channel_clipboard_selection_request(
				ch, selection, VD_AGENT_CLIPBOARD_UTF8_TEXT);
			break;
		}
	return TRUE;
}

static void on_clip_data(SpiceMainChannel *ch, guint selection, guint type, gpointer data,
			 guint size, gpointer ud)
{
	struct capture *c = ud;
	(void)ch;
	if (selection != VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD ||
	    type != VD_AGENT_CLIPBOARD_UTF8_TEXT || !data)
		return;
	if (size > MSG_CLIPBOARD_MAX || (c->clip_max && size > c->clip_max)) {
		log_info("spice: %s: clipboard text of %u bytes over the limit (%zu): not copied",
			 c->label, size, c->clip_max ? c->clip_max : (size_t)MSG_CLIPBOARD_MAX);
		return;
	}
	char *copy = malloc((size_t)size + 1);
	if (!copy)
		return;
	memcpy(copy, data, size);
	copy[size] = '\0';
	/* the agent may count a NUL terminator in */
	size_t len = strnlen(copy, size);
	free(c->clip);
	c->clip = copy;
	c->clip_len = len;
}

static gboolean on_clip_request(SpiceMainChannel *ch, guint selection, guint type, gpointer ud)
{
	struct capture *c = ud;
	if (selection != VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD ||
	    type != VD_AGENT_CLIPBOARD_UTF8_TEXT || !c->ours)
		return FALSE;
	spice_main_channel_clipboard_selection_notify(ch, selection, type, (const guchar *)c->ours,
						      c->ours_len);
	return TRUE;
}

/* ---- channels ---- */

static void on_channel_event(SpiceChannel *ch, SpiceChannelEvent ev, gpointer ud);

static void on_open_fd(SpiceChannel *ch, gint with_tls, gpointer ud)
{
	struct capture *c = ud;
	int type = 0, id = 0;
	(void)with_tls;
	g_object_get(ch, "channel-type", &type, "channel-id", &id, NULL);
	int fd = pool_take(c);
	if (fd < 0) {
		/* no new sockets in the sandbox: this channel cannot connect */
		log_warn("spice: %s: the %s channel asks for a connection and none is left "
			 "(the worker opens no new sockets once confined)",
			 c->label, spice_channel_type_to_string(type));
		spice_channel_disconnect(ch, SPICE_CHANNEL_ERROR_CONNECT);
		return;
	}
	if (!spice_channel_open_fd(ch, fd))
		close(fd);
}

static void watch_channel(struct capture *c, SpiceChannel *ch)
{
	g_signal_connect(ch, "open-fd", G_CALLBACK(on_open_fd), c);
	g_signal_connect(ch, "channel-event", G_CALLBACK(on_channel_event), c);
}

static void on_channel_new(SpiceSession *s, SpiceChannel *ch, gpointer ud)
{
	struct capture *c = ud;
	int type = 0, id = 0;
	(void)s;
	g_object_get(ch, "channel-type", &type, "channel-id", &id, NULL);

	if (SPICE_IS_MAIN_CHANNEL(ch)) {
		if (c->main)
			return;
		c->main = ch;
		watch_channel(c, ch);
		g_signal_connect(ch, "notify::mouse-mode", G_CALLBACK(on_mouse_mode), c);
		g_signal_connect(ch, "notify::agent-connected", G_CALLBACK(on_agent), c);
		g_signal_connect(ch, "main-clipboard-selection-grab", G_CALLBACK(on_clip_grab), c);
		g_signal_connect(ch, "main-clipboard-selection", G_CALLBACK(on_clip_data), c);
		g_signal_connect(ch, "main-clipboard-selection-request",
				 G_CALLBACK(on_clip_request), c);
		return; /* spice_session_open_fd connects it */
	}
	if (SPICE_IS_DISPLAY_CHANNEL(ch)) {
		if (id != 0 || c->display) {
			log_info("spice: %s has a display %d: only display 0 is captured", c->label,
				 id);
			return;
		}
		c->display = ch;
		watch_channel(c, ch);
		g_signal_connect(ch, "display-primary-create", G_CALLBACK(on_primary_create), c);
		g_signal_connect(ch, "display-primary-destroy", G_CALLBACK(on_primary_destroy), c);
		g_signal_connect(ch, "display-invalidate", G_CALLBACK(on_invalidate), c);
		g_signal_connect(ch, "display-mark", G_CALLBACK(on_mark), c);
		g_signal_connect(ch, "gl-draw", G_CALLBACK(on_gl_draw), c);
	} else if (SPICE_IS_CURSOR_CHANNEL(ch) && !c->cursor_ch) {
		c->cursor_ch = ch;
		watch_channel(c, ch);
		g_signal_connect(ch, "notify::cursor", G_CALLBACK(on_cursor), c);
		g_signal_connect(ch, "cursor-hide", G_CALLBACK(on_cursor_hide), c);
		g_signal_connect(ch, "cursor-move", G_CALLBACK(on_cursor_move), c);
	} else if (SPICE_IS_INPUTS_CHANNEL(ch) && !c->inputs) {
		c->inputs = ch;
		watch_channel(c, ch);
	} else if (SPICE_IS_PLAYBACK_CHANNEL(ch) && !c->playback) {
		c->playback = ch;
		watch_channel(c, ch);
		g_signal_connect(ch, "playback-start", G_CALLBACK(on_playback_start), c);
		g_signal_connect(ch, "playback-data", G_CALLBACK(on_playback_data), c);
		g_signal_connect(ch, "playback-stop", G_CALLBACK(on_playback_stop), c);
		g_signal_connect(ch, "playback-get-delay", G_CALLBACK(on_playback_delay), c);
	} else if (SPICE_IS_RECORD_CHANNEL(ch) && !c->record) {
		c->record = ch;
		watch_channel(c, ch);
		g_signal_connect(ch, "record-start", G_CALLBACK(on_record_start), c);
		g_signal_connect(ch, "record-stop", G_CALLBACK(on_record_stop), c);
	} else {
		/* usbredir, smartcard, port, webdav: never connected */
		log_debug("spice: %s offers a %s channel: not used", c->label,
			  spice_channel_type_to_string(type));
		return;
	}
	spice_channel_connect(ch);
}

static void on_channel_event(SpiceChannel *ch, SpiceChannelEvent ev, gpointer ud)
{
	struct capture *c = ud;
	const GError *err = spice_channel_get_error(ch);
	int type = 0;
	g_object_get(ch, "channel-type", &type, NULL);
	const char *name = spice_channel_type_to_string(type);

	if (ev == SPICE_CHANNEL_OPENED) {
		log_debug("spice: %s: %s channel open", c->label, name);
		if (ch == c->main)
			c->main_opened = true;
		if (ch == c->inputs)
			c->inputs_opened = true;
		return;
	}
	if (ch == c->inputs)
		c->inputs_opened = false;
	if (ch == c->playback || ch == c->record) {
		c->recording = ch == c->record ? false : c->recording;
		log_info("spice: %s: %s channel ended: %s", c->label, name, event_name(ev));
		return;
	}
	if (ch != c->main && ch != c->display) {
		log_info("spice: %s: %s channel ended: %s", c->label, name, event_name(ev));
		return;
	}
	/* the main or display channel: the console is gone for us */
	if (ev == SPICE_CHANNEL_ERROR_AUTH) {
		set_reason(c, CAPTURE_FAIL_AUTH, "%s%s%s", event_name(ev),
			   err && err->message ? ": " : "",
			   err && err->message ? err->message : "");
	} else {
		set_reason(c, CAPTURE_FAIL_UNREACHABLE, "%s channel: %s%s%s", name, event_name(ev),
			   err && err->message ? ": " : "",
			   err && err->message ? err->message : "");
	}
	fail(c, c->reason.why);
}

/* ---- the loop ---- */

static gboolean on_timer(gpointer ud)
{
	*(bool *)ud = true;
	return G_SOURCE_REMOVE;
}

static gboolean on_wake(gint fd, GIOCondition cond, gpointer ud)
{
	(void)fd;
	(void)cond;
	*(bool *)ud = true;
	return G_SOURCE_REMOVE;
}

/*
 * Runs the default context until done(c) or timeout_ms pass, or a command
 * waits (capture_cfg.wake_fd, once open() is done); whether done(c) became true.
 */
static bool run_until(struct capture *c, int timeout_ms, bool (*done)(const struct capture *))
{
	GMainContext *ctx = g_main_context_default();
	bool expired = false;

	/* what is ready now, without waiting */
	while (!done(c) && g_main_context_iteration(ctx, FALSE))
		;
	if (done(c) || timeout_ms <= 0)
		return done(c);
	GSource *timer = g_timeout_source_new((guint)timeout_ms), *wake = NULL;
	g_source_set_callback(timer, on_timer, &expired, NULL);
	g_source_attach(timer, ctx);
	if (c->wake_fd > 0) {
		wake = g_unix_fd_source_new(c->wake_fd, G_IO_IN);
		g_source_set_callback(wake, G_SOURCE_FUNC(on_wake), &expired, NULL);
		g_source_attach(wake, ctx);
	}
	while (!done(c) && !expired)
		g_main_context_iteration(ctx, TRUE);
	g_source_destroy(timer);
	g_source_unref(timer);
	if (wake) {
		g_source_destroy(wake);
		g_source_unref(wake);
	}
	return done(c);
}

static bool news(const struct capture *c)
{
	return c->failed || c->reinit || c->ndamage > 0;
}

static bool open_settled(const struct capture *c)
{
	return c->failed || (c->have_primary && c->drawn && c->inputs_opened);
}

static bool has_primary(const struct capture *c)
{
	return c->failed || c->have_primary;
}

/*
 * spice-gtk initialises GStreamer (gst_init, its plugin registry, a helper
 * program that scans plugins) the first time a display channel is made,
 * to learn which video codecs to announce. After confinement that cannot
 * fork the helper or read the registry, so one throwaway display channel is
 * made before, once per process.
 */
static void warm_up_once(void)
{
	static atomic_bool done;
	if (atomic_exchange(&done, true))
		return;
	SpiceSession *s = spice_session_new();
	/* the session owns it: spice_session_disconnect destroys it */
	spice_channel_new(s, SPICE_CHANNEL_DISPLAY, 0);
	spice_session_disconnect(s);
	g_object_unref(s);
	while (g_main_context_iteration(g_main_context_default(), FALSE))
		;
}

/* ---- the backend ---- */

static void spice_close(struct capture *c)
{
	if (!c)
		return;
	if (c->session) {
		/* let the channels' coroutines end before the session goes */
		g_signal_handlers_disconnect_by_data(c->session, c);
		SpiceSession *s = c->session;
		GList *chans = spice_session_get_channels(s);
		for (GList *l = chans; l; l = l->next)
			g_signal_handlers_disconnect_by_data(l->data, c);
		g_list_free(chans);
		spice_session_disconnect(s);
		int64_t deadline = clock_mono_ms() + SPICE_CLOSE_WAIT_MS;
		GMainContext *ctx = g_main_context_default();
		for (;;) {
			chans = spice_session_get_channels(s);
			bool empty = chans == NULL;
			g_list_free(chans);
			if (empty || ms_left(deadline) == 0)
				break;
			if (!g_main_context_iteration(ctx, FALSE))
				usleep(2000);
		}
		/* the last delayed unrefs run from idle sources */
		while (g_main_context_iteration(ctx, FALSE))
			;
		g_object_unref(s);
		c->session = NULL;
		while (g_main_context_iteration(ctx, FALSE))
			;
	}
	if (c->dropped)
		log_info("spice: %s: %llu sound frames were dropped in all", c->label,
			 (unsigned long long)c->dropped);
	pool_close(c);
	tls_relay_free(c->relay); /* after the session: its channels closed their ends */
	tls_ctx_free(c->tls);
	if (c->own_context) {
		g_main_context_release(g_main_context_default());
		atomic_store(&spice_in_use, false);
	}
	free(c->fb);
	free(c->ring);
	free(c->cursor.pixels);
	free(c->clip);
	if (c->ours) {
		memset(c->ours, 0, c->ours_len);
		free(c->ours);
	}
	free(c);
}

static struct capture *spice_open(const char *uri, const struct capture_cfg *cfg)
{
	struct spice_target t;
	const char *password = cfg ? cfg->password : NULL;

	route_logs_once();

	if (parse_uri(uri, &t) < 0) {
		log_error("spice: bad URI '%s': use spice://HOST[:PORT], spice://[IPv6]:PORT or "
			  "spice+unix:///path/to/socket",
			  uri ? uri : "(none)");
		capture_report(cfg, CAPTURE_FAIL_REFUSED, "the desktop's console URI is not valid");
		return NULL;
	}
	int timeout_ms = cfg && cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms
							    : SPICE_DEFAULT_TIMEOUT_MS;
	int64_t deadline = clock_mono_ms() + timeout_ms;

	struct capture *c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("spice: out of memory");
		capture_report(cfg, CAPTURE_FAIL_UNREACHABLE, "the agent is out of memory");
		return NULL;
	}
	c->opening = true;
	target_label(&t, c->label, sizeof(c->label));
	if (t.transport == SPICE_TLS) {
		/* the CA file is read now, before confinement */
		struct tls_cfg tcfg = {.ca_file = t.path[0] ? t.path : NULL};
		c->tls = tls_ctx_new(TLS_CLIENT, &tcfg);
		c->relay = c->tls ? tls_relay_new() : NULL;
		if (!c->relay) {
			set_reason(c, CAPTURE_FAIL_REFUSED,
				   "the TLS settings for %s are unusable (see the agent's log)",
				   c->label);
			goto fail;
		}
	}
	if (atomic_exchange(&spice_in_use, true)) {
		log_error("spice: %s: another SPICE console is open in this process", c->label);
		set_reason(c, CAPTURE_FAIL_REFUSED,
			   "another SPICE console is open in this process (one per worker)");
		goto fail;
	}
	if (!g_main_context_acquire(g_main_context_default())) {
		atomic_store(&spice_in_use, false);
		log_error("spice: %s: another thread owns GLib's default main context", c->label);
		set_reason(c, CAPTURE_FAIL_REFUSED,
			   "another thread of the agent runs GLib's default main loop");
		goto fail;
	}
	c->own_context = true;
	c->ring = calloc(SPICE_AUDIO_QUEUE * SPICE_CHANNELS, sizeof(int16_t));
	if (!c->ring) {
		set_reason(c, CAPTURE_FAIL_UNREACHABLE, "the agent is out of memory");
		goto fail;
	}

	/* Every channel's socket, before confinement (see the top of the file). */
	for (int i = 0; i < SPICE_POOL; i++) {
		char why[160];
		int fd = target_connect(&t, ms_left(deadline), why, sizeof(why));
		if (fd < 0) {
			log_error("spice: cannot connect to %s: %s", c->label, why);
			set_reason(c, CAPTURE_FAIL_UNREACHABLE,
				   "the console at %s cannot be reached: %s", c->label, why);
			goto fail;
		}
		if (c->relay && tls_relay_add(c->relay, c->tls, t.host, fd, ms_left(deadline), &fd,
					      why, sizeof(why)) < 0) {
			log_error("spice: %s: %s", c->label, why);
			set_reason(c, CAPTURE_FAIL_REFUSED, "the console at %s: %s", c->label, why);
			goto fail;
		}
		c->pool[c->npool++] = fd;
	}
	if (c->relay && tls_relay_start(c->relay) < 0) {
		set_reason(c, CAPTURE_FAIL_UNREACHABLE, "the TLS relay cannot be started");
		goto fail;
	}
	/*
	 * The session object before confinement too: GObject type setup and
	 * spice-gtk's defaults may look at the environment and files.
	 */
	warm_up_once();
	c->session = g_object_new(SPICE_TYPE_SESSION, "client-sockets", TRUE, "enable-usbredir",
				  FALSE, "enable-smartcard", FALSE, "enable-audio", TRUE,
				  "gl-scanout", FALSE, NULL);
	if (!c->session) {
		set_reason(c, CAPTURE_FAIL_UNREACHABLE, "the SPICE session cannot be created");
		goto fail;
	}
	if (password && password[0])
		g_object_set(c->session, "password", password, NULL);
	g_signal_connect(c->session, "channel-new", G_CALLBACK(on_channel_new), c);

	/* Before the console's first byte is read (capture.h). */
	if (cfg && cfg->connected && cfg->connected(cfg->connected_ud) != 0) {
		log_error("spice: %s: the worker cannot confine itself: not talking to the "
			  "console",
			  c->label);
		set_reason(c, CAPTURE_FAIL_SANDBOX, "the desktop's worker cannot confine itself");
		goto fail;
	}
	int main_fd = pool_take(c);
	if (!spice_session_open_fd(c->session, main_fd)) {
		close(main_fd);
		set_reason(c, CAPTURE_FAIL_UNREACHABLE, "the SPICE session cannot be started");
		goto fail;
	}
	int64_t t0 = clock_mono_ms();
	run_until(c, ms_left(deadline), has_primary);
	if (!c->failed && c->have_primary) {
		/* the first drawing and the inputs channel, briefly: not required */
		int wait = ms_left(deadline);
		run_until(c, wait < SPICE_FIRST_DRAW_MS ? wait : SPICE_FIRST_DRAW_MS, open_settled);
	}
	if (c->failed)
		goto fail;
	if (!c->have_primary) {
		if (!c->main_opened)
			set_reason(c, CAPTURE_FAIL_UNREACHABLE,
				   "the console at %s accepted the connection but did not "
				   "finish the SPICE handshake within %d ms",
				   c->label, timeout_ms);
		else
			set_reason(c, CAPTURE_FAIL_UNREACHABLE,
				   "the console at %s sent no screen within %d ms", c->label,
				   timeout_ms);
		goto fail;
	}
	c->opening = false;
	c->reinit = true;
	log_info("spice: connected to %s, %dx%d in %lld ms%s", c->label, c->width, c->height,
		 (long long)(clock_mono_ms() - t0),
		 c->inputs_opened ? "" : " (inputs not ready yet)");
	c->wake_fd = cfg ? cfg->wake_fd : 0; /* open() itself waits for the screen */
	return c;

fail:
	if (c->reason.kind == CAPTURE_FAIL_AUTH) {
		if (!(password && password[0]))
			snprintf(c->reason.why, sizeof(c->reason.why),
				 "the console asks for a password and the agent has none "
				 "configured");
		else
			snprintf(c->reason.why, sizeof(c->reason.why),
				 "the console refused the agent's password");
	}
	if (c->reason.why[0]) {
		log_error("spice: %s: %s", c->label, c->reason.why);
		capture_report(cfg, c->reason.kind, c->reason.why);
	} else {
		capture_report(cfg, CAPTURE_FAIL_UNREACHABLE, "the console cannot be reached");
	}
	spice_close(c);
	return NULL;
}

static enum capture_status emit(struct capture *c, enum capture_status st,
				struct capture_frame *frame)
{
	frame->pixels = c->fb;
	frame->width = c->width;
	frame->height = c->height;
	frame->stride = c->width * 4;
	if (st == CAPTURE_REINIT) {
		frame->damage[0] = (struct rect){0, 0, c->width, c->height};
		frame->ndamage = 1;
		c->reinit = false;
	} else {
		memcpy(frame->damage, c->damage, c->ndamage * sizeof(c->damage[0]));
		frame->ndamage = c->ndamage;
	}
	frame->copy_us = clock_us32(c->copy_us);
	c->copy_us = 0;
	c->ndamage = 0;
	return st;
}

static enum capture_status spice_next(struct capture *c, int timeout_ms,
				      struct capture_frame *frame)
{
	if (!c->failed && !news(c))
		run_until(c, timeout_ms, news);
	if (c->failed)
		return CAPTURE_ERROR;
	if (c->reinit)
		return emit(c, CAPTURE_REINIT, frame);
	if (c->ndamage > 0)
		return emit(c, CAPTURE_OK, frame);
	return CAPTURE_AGAIN;
}

/* ---- input ---- */

static bool inputs_ready(struct capture *c)
{
	return c->inputs && c->inputs_opened && !c->failed;
}

/* POINTER's buttons (bit n = button n+1) -> SPICE's mask: 1-3 as they are, 4/5 side/extra. */
static int spice_mask(uint8_t buttons)
{
	int m = 0;
	if (buttons & 1)
		m |= SPICE_MOUSE_BUTTON_MASK_LEFT;
	if (buttons & 2)
		m |= SPICE_MOUSE_BUTTON_MASK_MIDDLE;
	if (buttons & 4)
		m |= SPICE_MOUSE_BUTTON_MASK_RIGHT;
	if (buttons & 8)
		m |= SPICE_MOUSE_BUTTON_MASK_SIDE;
	if (buttons & 16)
		m |= SPICE_MOUSE_BUTTON_MASK_EXTRA;
	return m;
}

static const struct {
	int mask, button;
} spice_buttons[] = {
	{SPICE_MOUSE_BUTTON_MASK_LEFT, SPICE_MOUSE_BUTTON_LEFT},
	{SPICE_MOUSE_BUTTON_MASK_MIDDLE, SPICE_MOUSE_BUTTON_MIDDLE},
	{SPICE_MOUSE_BUTTON_MASK_RIGHT, SPICE_MOUSE_BUTTON_RIGHT},
	{SPICE_MOUSE_BUTTON_MASK_SIDE, SPICE_MOUSE_BUTTON_SIDE},
	{SPICE_MOUSE_BUTTON_MASK_EXTRA, SPICE_MOUSE_BUTTON_EXTRA},
};

/* Moves the pointer to x,y (clamped to the screen), holding the current buttons. */
static void move_to(struct capture *c, int x, int y)
{
	SpiceInputsChannel *in = SPICE_INPUTS_CHANNEL(c->inputs);
	x = x < 0 ? 0 : x >= c->width ? c->width - 1 : x;
	y = y < 0 ? 0 : y >= c->height ? c->height - 1 : y;
	if (c->mouse_mode == SPICE_MOUSE_MODE_CLIENT) {
		spice_inputs_channel_position(in, x, y, 0, c->buttons);
	} else {
		/*
		 * Server mode moves by deltas: from where the guest says its
		 * cursor is, else from where we last put it.
		 */
		int fx = c->guest_pos_known ? c->guest_x : c->x;
		int fy = c->guest_pos_known ? c->guest_y : c->y;
		if (x != fx || y != fy)
			spice_inputs_channel_motion(in, x - fx, y - fy, c->buttons);
		c->guest_pos_known = false; /* until the guest says again */
	}
	c->x = x;
	c->y = y;
}

static void set_buttons(struct capture *c, int mask)
{
	SpiceInputsChannel *in = SPICE_INPUTS_CHANNEL(c->inputs);
	for (size_t i = 0; i < sizeof(spice_buttons) / sizeof(spice_buttons[0]); i++) {
		int b = spice_buttons[i].mask;
		if ((mask & b) && !(c->buttons & b)) {
			c->buttons |= b;
			spice_inputs_channel_button_press(in, spice_buttons[i].button, c->buttons);
		} else if (!(mask & b) && (c->buttons & b)) {
			c->buttons &= ~b;
			spice_inputs_channel_button_release(in, spice_buttons[i].button,
							    c->buttons);
		}
	}
}

static void inject_key(struct capture *c, const struct msg_key *k)
{
	uint32_t qnum = k->scancode ? input_qnum_from_evdev(k->scancode) : 0;
	if (!qnum) {
		log_debug("spice: key %u/0x%x has no PC scancode; SPICE takes only scancodes: "
			  "dropped",
			  k->scancode, k->keysym);
		return;
	}
	/* spice_inputs_channel_key_press: 0xe0-prefixed codes as 0x100 | code */
	guint code = qnum & 0x80 ? 0x100u | (qnum & 0x7f) : qnum;
	if (k->flags & MSG_KEY_DOWN)
		spice_inputs_channel_key_press(SPICE_INPUTS_CHANNEL(c->inputs), code);
	else
		spice_inputs_channel_key_release(SPICE_INPUTS_CHANNEL(c->inputs), code);
}

static void inject_scroll(struct capture *c, const struct msg_scroll *s)
{
	SpiceInputsChannel *in = SPICE_INPUTS_CHANNEL(c->inputs);
	if ((s->dy > 0 && c->scroll_y < 0) || (s->dy < 0 && c->scroll_y > 0))
		c->scroll_y = 0; /* a change of direction drops the old remainder */
	c->scroll_y += s->dy;
	while (c->scroll_y >= SPICE_SCROLL_STEP || c->scroll_y <= -SPICE_SCROLL_STEP) {
		/* msg_scroll: positive dy scrolls down, as X's button 5 */
		int b = c->scroll_y > 0 ? SPICE_MOUSE_BUTTON_DOWN : SPICE_MOUSE_BUTTON_UP;
		int m = c->scroll_y > 0 ? SPICE_MOUSE_BUTTON_MASK_DOWN : SPICE_MOUSE_BUTTON_MASK_UP;
		c->scroll_y += c->scroll_y > 0 ? -SPICE_SCROLL_STEP : SPICE_SCROLL_STEP;
		spice_inputs_channel_button_press(in, b, c->buttons | m);
		spice_inputs_channel_button_release(in, b, c->buttons);
	}
	if (s->dx && !c->scroll_x_logged) {
		log_info("spice: %s: SPICE has no horizontal wheel: sideways scrolling dropped",
			 c->label);
		c->scroll_x_logged = true;
	}
}

static void inject_touch(struct capture *c, const struct msg_touch *t)
{
	/* One finger drives the pointer; the others have nowhere to go. */
	if (c->touching && t->id != c->touch_id)
		return;
	switch (t->phase) {
	case MSG_TOUCH_BEGIN:
		c->touching = true;
		c->touch_id = t->id;
		move_to(c, t->x, t->y); /* first, so the press lands where the finger is */
		set_buttons(c, c->buttons | SPICE_MOUSE_BUTTON_MASK_LEFT);
		break;
	case MSG_TOUCH_UPDATE:
		if (c->touching)
			move_to(c, t->x, t->y);
		break;
	default: /* END, CANCEL */
		if (!c->touching)
			return;
		c->touching = false;
		move_to(c, t->x, t->y);
		set_buttons(c, c->buttons & ~SPICE_MOUSE_BUTTON_MASK_LEFT);
		break;
	}
}

static void inject_pen(struct capture *c, const struct msg_pen *p)
{
	/* As vnc.c: the tip is the left button, barrel buttons right and middle. */
	int mask = 0;
	if (p->flags & MSG_PEN_CONTACT)
		mask |= SPICE_MOUSE_BUTTON_MASK_LEFT;
	if (p->flags & MSG_PEN_BUTTON1)
		mask |= SPICE_MOUSE_BUTTON_MASK_RIGHT;
	if (p->flags & MSG_PEN_BUTTON2)
		mask |= SPICE_MOUSE_BUTTON_MASK_MIDDLE;
	move_to(c, p->x, p->y);
	set_buttons(c, mask);
}

static int spice_inject(struct capture *c, const struct msg *m)
{
	if (c->failed)
		return -EIO;
	switch (m->type) {
	case MSG_KEY:
	case MSG_POINTER:
	case MSG_SCROLL:
	case MSG_TOUCH:
	case MSG_PEN:
		break;
	default:
		return -ENOTSUP;
	}
	if (!inputs_ready(c)) {
		/* not open yet, or it closed alone: the event has nowhere to go */
		log_debug("spice: %s: inputs channel not open: input dropped", c->label);
		return 0;
	}
	switch (m->type) {
	case MSG_KEY:
		inject_key(c, &m->u.key);
		break;
	case MSG_POINTER:
		move_to(c, m->u.pointer.x, m->u.pointer.y);
		set_buttons(c, spice_mask(m->u.pointer.buttons));
		break;
	case MSG_SCROLL:
		inject_scroll(c, &m->u.scroll);
		break;
	case MSG_TOUCH:
		inject_touch(c, &m->u.touch);
		break;
	default:
		inject_pen(c, &m->u.pen);
		break;
	}
	/* the messages are queued; a turn of the loop sends them now, not at the next next() */
	while (g_main_context_iteration(g_main_context_default(), FALSE))
		;
	return c->failed ? -EIO : 0;
}

static int spice_cursor(struct capture *c, struct capture_cursor *out)
{
	if (!c->cursor_changed)
		return 0;
	c->cursor_changed = false;
	*out = c->cursor;
	return 1;
}

/* ---- sound ---- */

static void put_frame(int16_t *buf, size_t at, int nch, int16_t l, int16_t r)
{
	if (nch == 1) {
		buf[at] = (int16_t)(((int)l + r) / 2);
	} else {
		buf[at * 2] = l;
		buf[at * 2 + 1] = r;
	}
}

static int spice_audio(struct capture *c, struct audio_frame *out)
{
	if (c->ring_len == 0)
		return 0;
	size_t n = c->ring_len < AUDIO_FRAME_MAX ? c->ring_len : AUDIO_FRAME_MAX;
	out->capture_us = c->head_us;
	out->samples = (int)n;
	for (size_t i = 0; i < n; i++) {
		size_t at = (c->ring_head + i) % SPICE_AUDIO_QUEUE;
		out->pcm[i * 2] = c->ring[at * 2];
		out->pcm[i * 2 + 1] = c->ring[at * 2 + 1];
	}
	c->ring_head = (c->ring_head + n) % SPICE_AUDIO_QUEUE;
	c->ring_len -= n;
	c->head_us += (int64_t)n * 1000000 / SPICE_RATE;
	return 1;
}

static int spice_mic(struct capture *c, const int16_t *pcm, int samples)
{
	int16_t *buf = c->mic_buf;
	size_t n = 0;
	int nch = c->rec_channels;

	if (c->failed)
		return -EIO;
	if (!c->recording || !c->record || samples <= 0)
		return 0;
	if (samples > AUDIO_FRAME_MAX)
		samples = AUDIO_FRAME_MAX;
	/* 48 kHz stereo -> the record channel's rate (linearly) and channels */
	double step = (double)SPICE_RATE / c->rec_rate;
	for (int i = 0; i < samples; i++) {
		int16_t l = pcm[i * 2], r = pcm[i * 2 + 1];
		if (c->rec_rate == SPICE_RATE) {
			c->rec_prev[0] = l;
			c->rec_prev[1] = r;
			c->rec_phase = 0;
		} else {
			/* output frames fall between the previous input frame and this one */
			while (c->rec_phase < 1.0 && n < SPICE_MIC_MAX) {
				double f = c->rec_phase;
				put_frame(buf, n++, nch,
					  (int16_t)(c->rec_prev[0] + (l - c->rec_prev[0]) * f),
					  (int16_t)(c->rec_prev[1] + (r - c->rec_prev[1]) * f));
				c->rec_phase += step;
			}
			c->rec_phase -= 1.0;
			c->rec_prev[0] = l;
			c->rec_prev[1] = r;
			continue;
		}
		put_frame(buf, n++, nch, l, r);
	}
	/* the stream's clock in milliseconds */
	spice_record_channel_send_data(SPICE_RECORD_CHANNEL(c->record), buf,
				       n * (size_t)nch * sizeof(int16_t),
				       (uint32_t)clock_mono_ms());
	return 0;
}

/* ---- clipboard and resize (spice-vdagent) ---- */

static int spice_clipboard_set(struct capture *c, const char *text, size_t len)
{
	if (c->failed)
		return -EIO;
	if (!c->agent || !c->main)
		return 0; /* no agent in the guest: nowhere to put it */
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (c->ours) {
		memset(c->ours, 0, c->ours_len);
		free(c->ours);
	}
	c->ours = copy;
	c->ours_len = len;
	guint32 types[] = {VD_AGENT_CLIPBOARD_UTF8_TEXT};
	/* the guest asks for the text when something pastes (on_clip_request) */
	spice_main_channel_clipboard_selection_grab(
		SPICE_MAIN_CHANNEL(c->main), VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD, types, 1);
	return 0;
}

static int spice_clipboard_get(struct capture *c, size_t max, char **text, size_t *len)
{
	c->clip_max = max;
	if (!c->clip)
		return 0;
	if (c->clip_len > max) {
		log_info("spice: %s: clipboard text of %zu bytes over clipboard.max_bytes (%zu): "
			 "not copied",
			 c->label, c->clip_len, max);
		free(c->clip);
		c->clip = NULL;
		return 0;
	}
	*text = c->clip;
	*len = c->clip_len;
	c->clip = NULL;
	return 1;
}

static bool spice_can_resize(struct capture *c)
{
	return c->agent && c->main && !c->failed;
}

static int spice_resize(struct capture *c, int width, int height, char *why, size_t whylen)
{
	if (c->failed) {
		snprintf(why, whylen, "the desktop's console is gone");
		return -EIO;
	}
	if (!c->agent || !c->main) {
		snprintf(why, whylen,
			 "the desktop cannot be resized: its guest runs no "
			 "spice-vdagent");
		return -ENOTSUP;
	}
	if (width < 1 || height < 1 || width > (int)MSG_DIMENSION_MAX ||
	    height > (int)MSG_DIMENSION_MAX || (size_t)width * (size_t)height > CAPTURE_AREA_MAX) {
		snprintf(why, whylen, "%dx%d is outside what the agent takes", width, height);
		return -ERANGE;
	}
	SpiceMainChannel *m = SPICE_MAIN_CHANNEL(c->main);
	/* monitor 0 only, at the origin: the one display we capture */
	spice_main_channel_update_display_enabled(m, 0, TRUE, FALSE);
	spice_main_channel_update_display(m, 0, 0, 0, width, height, FALSE);
	if (!spice_main_channel_send_monitor_config(m)) {
		snprintf(why, whylen, "the guest's agent did not take the new size");
		return -EIO;
	}
	why[0] = '\0';
	return 0;
}

const struct capture_impl capture_spice = {
	.name = "spice",
	.handles = spice_handles,
	.reachable = spice_reachable,
	.open = spice_open,
	.close = spice_close,
	.next = spice_next,
	.inject = spice_inject,
	.cursor = spice_cursor,
	.clipboard_set = spice_clipboard_set,
	.clipboard_get = spice_clipboard_get,
	.can_resize = spice_can_resize,
	.resize = spice_resize,
	.audio = spice_audio,
	.mic = spice_mic,
};
