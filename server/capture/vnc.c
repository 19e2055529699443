/* SPDX-License-Identifier: MIT */
/*
 * The VNC console backend: a desktop's pixels and input through libvncclient
 * (QEMU/KVM -vnc, libvirt, ESXi, TigerVNC's Xvnc).
 *
 * How it drives libvncclient: we open the TCP connection ourselves (so the
 * connect is bounded in milliseconds and a refusal is reported with its
 * errno), hand the socket to the library for the RFB handshake, and then
 * replace its blocking WaitForMessage loop with poll() against our own
 * deadline. The library decodes every rectangle straight into our
 * framebuffer, whose pixel format we choose as 32 bpp B,G,R,X in memory, so
 * frames go to the encoder without a copy or conversion.
 *
 * Known limits of libvncclient 0.9.14 that shape this file:
 *  - it reads with select(), which cannot take descriptors >= FD_SETSIZE:
 *    such a socket is moved lower or refused;
 *  - it writes with write(), so a console that went away raises SIGPIPE:
 *    every call into it runs with SIGPIPE blocked on this thread and a
 *    SIGPIPE it raised is consumed;
 *  - its TLS layer buffers inside GnuTLS where poll() cannot see it, so only
 *    the plain security types (None, VNC password) are offered; consoles are
 *    reached on loopback or a management network;
 *  - it drops cursor shapes of 0x0, so a hidden cursor is only seen when the
 *    server sends a fully transparent one; a shape of 1024 pixels or more a
 *    side fails the connection inside the library (cursor.c), without a word;
 *  - once a message has started arriving, HandleRFBServerMessage reads it to
 *    the end. A stall within it fails after about VNC_READ_TIMEOUT_S of
 *    silence: 0.9.14's readTimeout counts wake-ups, not time, so after the
 *    handshake the socket is made blocking with SO_RCVTIMEO
 *    (set_message_deadline) to turn the count into a clock. A console that
 *    sends slowly but steadily can still hold next() for long.
 *
 * A console is untrusted input, and libvncclient decodes far more than we
 * ask for: HandleRFBServerMessage dispatches on the rectangle's encoding,
 * never on what SetEncodings announced, so TRLE, ZYWRLE, Ultra, UltraZip,
 * Tight JPEG, ServerIdentity, SupportedEncodings/Messages, PointerPos,
 * KeyboardLedState and ExtendedDesktopSize rectangles, and TextChat, Xvp
 * and the two ResizeFrameBuffer messages, are all taken unasked. Protocol
 * extensions only see encodings it does not know, so none can be refused.
 * What this file does from outside:
 *  - JPEG never asked for is refused through the GotJpeg hook, which 0.9.14
 *    calls right after reading the compressed bytes and before TurboJPEG
 *    (and the bundled common/turbojpeg.c skip_input_data(), which walks off
 *    the heap on an oversized APP0 length) sees them: the hook frees the
 *    buffer, as 0.9.14 requires, and fails the connection;
 *  - the framebuffer is capped at CAPTURE_AREA_MAX before it is allocated,
 *    at open and on every resize;
 *  - rfb->raw_buffer, which Zlib, Ultra, ZRLE and TRLE decode into, is ours:
 *    calloc'd at 8 bytes a pixel of the framebuffer (ZRLE's need) so the
 *    library never mallocs one for a rectangle that fits. A Zlib rectangle
 *    with 0 data bytes, or an Ultra one that decodes to nothing, draws it
 *    as it is: zeros, or pixels this console sent earlier, never freed heap
 *    memory. UltraZip alone wants more (rw * 65535 bytes) and mallocs its
 *    own; we put a zeroed one back after the message, but within that one
 *    message a later rectangle can show it;
 *  - cursor shapes above MSG_CURSOR_MAX are cropped, with a log line.
 * What cannot be fixed from outside, so the desktop's sandboxed worker
 * process (its memory limit, its own heap holding only this console's data,
 * and its restart) is the boundary:
 *  - Tight's "no zlib" path (control 0xA0) reads compressedLen <= 300 KiB
 *    into client->buffer but converts rw * rh * 3 bytes of it: a 1-byte
 *    payload for a large rectangle reads megabytes past the buffer into the
 *    picture, or faults (still so upstream);
 *  - Ultra and UltraZip malloc whatever byte count the server announces
 *    (2 GiB is taken) and read it all before decoding: only RLIMIT_AS stops
 *    it, and then the library fails cleanly (ReadFromRFBServer refuses NULL);
 *  - an encoding we never announced cannot be refused (TRLE above).
 */
#include "capture.h"

#include "clock.h"
#include "hostport.h"
#include "input.h"
#include "log.h"

#include <rfb/rfbclient.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define VNC_DEFAULT_PORT       5900
#define VNC_DEFAULT_TIMEOUT_MS 5000
#define VNC_HOST_MAX	       256
#define VNC_LABEL_MAX	       (VNC_HOST_MAX + 16)
#define VNC_SCROLL_STEP	       120 /* msg_scroll units per wheel click */
#define VNC_LIBMSG_MAX	       256
/*
 * After the handshake, a message that stops arriving fails after about this
 * long (capture_cfg.read_timeout_s overrides it; set_message_deadline).
 */
#define VNC_READ_TIMEOUT_S 5
/* rfb->raw_buffer per framebuffer pixel: ZRLE inflates into rw * rh * 4 * 2. */
#define VNC_RAW_BYTES_PER_PIXEL 8

/*
 * What we ask the server for (RFC 6143 §7.5.2), most preferred first. Only
 * lossless encodings: no JPEG quality level is requested, so tight stays
 * lossless, and the encoder gets the console's exact pixels.
 *
 * Only what QEMU and TigerVNC use: Tight, ZRLE, Hextile, Zlib, Raw and
 * CopyRect. Ultra and UltraZip (which allocate whatever length the server
 * announces), RRE and CoRRE are no longer asked for. libvncclient decodes
 * them anyway when sent (see the top of the file): not announcing them
 * keeps honest servers off those paths, the sandbox handles the others.
 *
 * We send this list ourselves instead of SetFormatAndEncodings(), which
 * always adds ExtendedDesktopSize: QEMU >= 6.0 then announces resizes with
 * screen id 0, which libvncclient (0.9.14 and later) rejects, so the first
 * rectangle at the new size fails as "Rect too large". Plain DesktopSize
 * resizes work with every server.
 */
static const uint32_t vnc_encodings[] = {
	rfbEncodingCopyRect, rfbEncodingTight, rfbEncodingZRLE, rfbEncodingHextile, rfbEncodingZlib,
	rfbEncodingRaw,
	/* pseudo-encodings */
	rfbEncodingCompressLevel0 + 1,		  /* consoles are near: spend little CPU */
	rfbEncodingRichCursor,			  /* cursor shapes instead of drawn cursors */
	rfbEncodingXCursor, rfbEncodingNewFBSize, /* DesktopSize */
	rfbEncodingLastRect, rfbEncodingQemuExtendedKeyEvent, /* scancodes, not keysyms */
};

/* RFB 6143 §7.5.5 pointer buttons: 1 left, 2 middle, 3 right, 4/5 wheel up/down, 6/7 left/right. */
enum {
	VNC_BUTTON_LEFT = 1u << 0,
	VNC_BUTTON_MIDDLE = 1u << 1,
	VNC_BUTTON_RIGHT = 1u << 2,
	VNC_WHEEL_UP = 1u << 3,
	VNC_WHEEL_DOWN = 1u << 4,
	VNC_WHEEL_LEFT = 1u << 5,
	VNC_WHEEL_RIGHT = 1u << 6,
	VNC_BUTTON_8 = 1u << 7, /* X servers and QEMU: "back" (side) */
};

struct capture {
	rfbClient *rfb;
	char label[VNC_LABEL_MAX]; /* "host:port" or "[v6]:port", for logs */
	bool failed;		   /* the connection is gone: next() says ERROR from now on */
	int64_t copy_us;	   /* reading and decoding updates since the last emit */
	int read_timeout_s;	   /* libvncclient's readTimeout after the handshake */
	int wake_fd;		   /* capture_cfg.wake_fd */

	/* frames */
	bool reinit;	  /* just opened or resized: the next result is REINIT */
	bool full_needed; /* resized: ask for the whole new screen */
	int64_t covered;  /* pixels updated since the last size change */
	struct rect damage[CAPTURE_DAMAGE_MAX];
	size_t ndamage;

	/* cursor (premultiplied B,G,R,A) */
	struct capture_cursor cursor;
	bool cursor_changed;

	/* input */
	uint16_t x, y;	 /* last pointer position sent */
	uint8_t buttons; /* button mask held (RFB bits) */
	int scroll_x, scroll_y;
	bool touching;
	uint32_t touch_id;

	/* clipboard: ServerCutText not taken yet (Latin-1 as received) */
	char *cut;
	size_t cut_len;

	/* during open() only */
	const char *password;
	bool password_asked;

	/*
	 * Why open() failed or the connection ended, when we know better than
	 * libvncclient's last log line (a refusal of ours, a stall); why[0] is
	 * NUL when nothing was recorded.
	 */
	struct capture_error reason;

	/* rfb->raw_buffer as we allocated it (see the top of the file) */
	char *raw_buffer;
	int raw_size;

	/* the last cursor size cropped, so each new size is logged once */
	int cropped_w, cropped_h;
};

/* ---- libvncclient's log, routed into log.h ---- */

static void set_reason(struct capture *c, enum capture_failure kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The library's last message on this thread: the reason behind a failed call. */
static _Thread_local char vnc_libmsg[VNC_LIBMSG_MAX];
/*
 * Whether the server accepted our credentials during this thread's current
 * handshake: the library says so only in its log (rfbHandleAuthResult), and
 * a failure after that point is not an authentication failure.
 */
static _Thread_local bool vnc_auth_ok;
/*
 * Whether the server said, during this thread's current handshake, that it
 * refuses us for earlier failures ("Too many security failures", TigerVNC's
 * blacklist; "too many tries"): a refusal of our credentials too.
 */
static _Thread_local bool vnc_auth_refused;

static void vnc_note(const char *msg)
{
	if (strstr(msg, "authentication succeeded"))
		vnc_auth_ok = true;
	if (strcasestr(msg, "security failure") || strcasestr(msg, "too many tries"))
		vnc_auth_refused = true;
}

static void vnc_format(char *buf, size_t cap, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vnc_format(char *buf, size_t cap, const char *fmt, va_list ap)
{
	vsnprintf(buf, cap, fmt, ap);
	size_t n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	/* Servers put their own strings (reasons, names) in these lines. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
}

static void vnc_lib_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vnc_lib_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void vnc_lib_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnc_format(vnc_libmsg, sizeof(vnc_libmsg), fmt, ap);
	va_end(ap);
	vnc_note(vnc_libmsg);
	log_debug("libvncclient: %s", vnc_libmsg);
}

static void vnc_lib_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnc_format(vnc_libmsg, sizeof(vnc_libmsg), fmt, ap);
	va_end(ap);
	vnc_note(vnc_libmsg);
	log_warn("libvncclient: %s", vnc_libmsg);
}

static pthread_once_t vnc_once = PTHREAD_ONCE_INIT;

static void vnc_init_once(void)
{
	rfbClientLog = vnc_lib_log;
	rfbClientErr = vnc_lib_err;
}

/* ---- SIGPIPE: libvncclient writes with write() ---- */

struct sigpipe_guard {
	sigset_t old;
	bool was_pending;
};

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigemptyset(&pending);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void sigpipe_unblock(struct sigpipe_guard *g)
{
	int saved = errno;
	if (!g->was_pending) {
		sigset_t set, pending;
		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		sigemptyset(&pending);
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE) == 1) {
			const struct timespec zero = {0, 0};
			while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
				;
		}
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
	errno = saved;
}

/* ---- helpers ---- */

static int ms_left(int64_t deadline)
{
	int64_t left = deadline - clock_mono_ms();
	if (left < 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

static void set_reason(struct capture *c, enum capture_failure kind, const char *fmt, ...)
{
	va_list ap;
	c->reason.kind = kind;
	va_start(ap, fmt);
	vsnprintf(c->reason.why, sizeof(c->reason.why), fmt, ap);
	va_end(ap);
}

static char vnc_tag; /* rfbClientSetClientData key */

static struct capture *from_rfb(rfbClient *rfb)
{
	return rfbClientGetClientData(rfb, &vnc_tag);
}

/* ServerCutText (RFC 6143 §7.6.4): the desktop copied Latin-1 text. */
static void cb_got_cut_text(rfbClient *rfb, const char *text, int len)
{
	struct capture *c = from_rfb(rfb);
	char *copy;

	if (!c || len < 0 || (size_t)len > MSG_CLIPBOARD_MAX)
		return;
	copy = malloc((size_t)len + 1);
	if (!copy)
		return;
	memcpy(copy, text, (size_t)len);
	copy[len] = '\0';
	free(c->cut);
	c->cut = copy;
	c->cut_len = (size_t)len;
}

/*
 * vnc://HOST[:PORT][/] with HOST a name, an IPv4 address or a bracketed IPv6
 * address; PORT is a TCP port (RFC 7869), 5900 when absent.
 */
static int parse_uri(const char *uri, char *host, size_t cap, int *port)
{
	if (!uri || strncasecmp(uri, "vnc://", 6) != 0)
		return -EINVAL;
	return capture_parse_hostport(uri + 6, strlen(uri + 6), host, cap, port, VNC_DEFAULT_PORT);
}

/*
 * A non-blocking TCP connection to host:port within timeout_ms (the socket
 * stays non-blocking: libvncclient waits on EAGAIN itself). Returns the fd,
 * or -1 and logs why.
 */
static int tcp_connect(struct capture *c, const char *host, int port, int64_t deadline)
{
	const char *label = c->label;
	char why[160];
	int fd = capture_tcp_connect(host, port, ms_left(deadline), why, sizeof(why));

	if (fd < 0) {
		log_error("vnc: cannot connect to %s: %s", label, why);
		set_reason(c, CAPTURE_FAIL_UNREACHABLE, "the console at %s cannot be reached: %s",
			   label, why);
		return -1;
	}

	/* libvncclient select()s on its socket: keep it below FD_SETSIZE. */
	if (fd >= FD_SETSIZE) {
		int low = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		close(fd);
		if (low < 0 || low >= FD_SETSIZE) {
			if (low >= 0)
				close(low);
			log_error("vnc: cannot connect to %s: no socket number below %d free",
				  label, FD_SETSIZE);
			set_reason(c, CAPTURE_FAIL_UNREACHABLE,
				   "no socket number below %d is free for the console", FD_SETSIZE);
			return -1;
		}
		fd = low;
	}

	int one = 1;
	/* Input latency: every key and pointer event is its own small write. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A console that vanishes without a FIN (VM host died) ends a blocked read. */
	int idle = 10, intvl = 5, cnt = 3, user_timeout = 30000;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
	return fd;
}

/* 1 when a message can be read, 0 at the deadline, 2 woken (wake_fd), -1 on a poll error. */
static int wait_readable(struct capture *c, int64_t deadline)
{
	/* Bytes the library already read ahead hold the next message. */
	if (c->rfb->buffered > 0)
		return 1;
	return capture_wait(c->rfb->sock, c->wake_fd, ms_left(deadline));
}

/* ---- libvncclient callbacks ---- */

static char *cb_get_password(rfbClient *rfb)
{
	struct capture *c = from_rfb(rfb);
	c->password_asked = true;
	if (!c->password || !c->password[0])
		return NULL;	    /* the library then gives up: "Reading password failed" */
	return strdup(c->password); /* the library wipes and frees it */
}

static rfbBool cb_malloc_framebuffer(rfbClient *rfb)
{
	struct capture *c = from_rfb(rfb);
	free(rfb->frameBuffer);
	rfb->frameBuffer = NULL;
	if (rfb->width < 1 || rfb->height < 1 || rfb->width > (int)MSG_DIMENSION_MAX ||
	    rfb->height > (int)MSG_DIMENSION_MAX) {
		log_error("vnc: %s announced a desktop of %dx%d, outside 1..%u a side: refused",
			  c->label, rfb->width, rfb->height, MSG_DIMENSION_MAX);
		set_reason(c, CAPTURE_FAIL_REFUSED,
			   "the console's desktop is %dx%d, outside the 1..%u pixels a side the "
			   "agent takes",
			   rfb->width, rfb->height, MSG_DIMENSION_MAX);
		return FALSE;
	}
	/* Refused before anything is allocated for it: the encoder would refuse it anyway. */
	size_t area = (size_t)rfb->width * (size_t)rfb->height;
	if (area > CAPTURE_AREA_MAX) {
		log_error("vnc: %s announced a desktop of %dx%d (%zu pixels), more than the %u "
			  "pixels the encoder takes: refused",
			  c->label, rfb->width, rfb->height, area, CAPTURE_AREA_MAX);
		set_reason(c, CAPTURE_FAIL_REFUSED,
			   "the console's desktop is %dx%d, more than the %u pixels the encoder "
			   "takes",
			   rfb->width, rfb->height, CAPTURE_AREA_MAX);
		return FALSE;
	}
	/* Zeroed: until the server has sent every pixel the rest is black, not garbage. */
	rfb->frameBuffer = calloc(area, 4);
	/*
	 * The library's decode buffer, zeroed and large enough for any
	 * rectangle of Zlib, Ultra, ZRLE and TRLE inside this framebuffer, so
	 * it never mallocs an uninitialised one (see the top of the file).
	 * calloc maps it lazily: pages cost memory once a decoder writes them.
	 */
	free(rfb->raw_buffer);
	rfb->raw_buffer = calloc(area, VNC_RAW_BYTES_PER_PIXEL);
	rfb->raw_buffer_size = rfb->raw_buffer ? (int)(area * VNC_RAW_BYTES_PER_PIXEL) : -1;
	c->raw_buffer = rfb->raw_buffer;
	c->raw_size = rfb->raw_buffer_size;
	if (!rfb->frameBuffer || !rfb->raw_buffer) {
		free(rfb->frameBuffer);
		rfb->frameBuffer = NULL;
		log_error("vnc: no memory for a %dx%d framebuffer", rfb->width, rfb->height);
		set_reason(c, CAPTURE_FAIL_UNREACHABLE, "no memory for the console's %dx%d desktop",
			   rfb->width, rfb->height);
		return FALSE;
	}
	rfb->updateRect.x = 0;
	rfb->updateRect.y = 0;
	rfb->updateRect.w = rfb->width;
	rfb->updateRect.h = rfb->height;
	c->reinit = true;
	c->full_needed = true;
	c->covered = 0;
	c->ndamage = 0;
	log_debug("vnc: %s framebuffer %dx%d", c->label, rfb->width, rfb->height);
	return TRUE;
}

/*
 * UltraZip mallocs a raw_buffer of its own when ours is smaller than it
 * wants (ultra.c): put a zeroed one of ours back, so that the next Zlib or
 * Ultra rectangle cannot draw what that malloc returned.
 */
static bool keep_raw_buffer(struct capture *c)
{
	rfbClient *rfb = c->rfb;
	if (!rfb->frameBuffer ||
	    (rfb->raw_buffer == c->raw_buffer && rfb->raw_buffer_size == c->raw_size))
		return true;
	log_debug("vnc: %s: libvncclient replaced its decode buffer; zeroing a new one", c->label);
	free(rfb->raw_buffer);
	rfb->raw_buffer = calloc((size_t)c->raw_size, 1);
	rfb->raw_buffer_size = rfb->raw_buffer ? c->raw_size : -1;
	c->raw_buffer = rfb->raw_buffer;
	if (!rfb->raw_buffer) {
		log_error("vnc: no memory for %s's decode buffer", c->label);
		return false;
	}
	return true;
}

/*
 * Tight JPEG (libvncclient tight.c DecompressJpegRectBPP): called with the
 * compressed bytes, before any JPEG decoder sees them. We never ask for a
 * JPEG quality level, so a JPEG rectangle is a console we do not trust.
 */
static rfbBool cb_got_jpeg(rfbClient *rfb, const uint8_t *buffer, int length, int x, int y, int w,
			   int h)
{
	struct capture *c = from_rfb(rfb);
	/* 0.9.14 hands over its malloc'd copy and returns what we return: ours to free. */
	free((void *)buffer);
	log_warn("vnc: %s sent a JPEG rectangle (%d bytes for %dx%d at %d,%d), which the agent "
		 "never asks for: refused",
		 c->label, length, w, h, x, y);
	set_reason(c, CAPTURE_FAIL_REFUSED,
		   "the console sent JPEG, which the agent never asks for");
	return FALSE;
}

static void add_damage(struct capture *c, struct rect r)
{
	capture_damage_add(c->damage, &c->ndamage, r);
}

static void cb_got_update(rfbClient *rfb, int x, int y, int w, int h)
{
	struct capture *c = from_rfb(rfb);
	/* Pseudo-encodings pass through here with empty rectangles. */
	int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
	int x1 = x + w > rfb->width ? rfb->width : x + w;
	int y1 = y + h > rfb->height ? rfb->height : y + h;
	if (x1 <= x0 || y1 <= y0)
		return;
	c->covered += (int64_t)(x1 - x0) * (y1 - y0);
	add_damage(c, (struct rect){x0, y0, x1 - x0, y1 - y0});
}

static int clamp_int(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* rcSource/rcMask (our pixel format, one mask byte per pixel) -> premultiplied B,G,R,A. */
static void convert_cursor(struct capture *c, const rfbClient *rfb, int xhot, int yhot, int width,
			   int height)
{
	/* The protocol carries at most MSG_CURSOR_MAX: bigger shapes are cropped. */
	int w = width > (int)MSG_CURSOR_MAX ? (int)MSG_CURSOR_MAX : width;
	int h = height > (int)MSG_CURSOR_MAX ? (int)MSG_CURSOR_MAX : height;
	if ((w != width || h != height) && (width != c->cropped_w || height != c->cropped_h)) {
		log_info("vnc: %s sent a %dx%d cursor, more than %u a side: cropped to %dx%d",
			 c->label, width, height, MSG_CURSOR_MAX, w, h);
		c->cropped_w = width;
		c->cropped_h = height;
	}
	uint8_t *px = malloc((size_t)w * (size_t)h * 4);
	if (!px) {
		log_warn("vnc: no memory for a %dx%d cursor", w, h);
		return;
	}
	bool visible = false;
	for (int row = 0; row < h; row++) {
		for (int col = 0; col < w; col++) {
			size_t src = (size_t)row * (size_t)width + (size_t)col;
			uint8_t *d = px + ((size_t)row * (size_t)w + (size_t)col) * 4;
			if (rfb->rcMask[src]) {
				/* Opaque: premultiplying changes nothing. */
				memcpy(d, rfb->rcSource + src * 4, 3);
				d[3] = 0xff;
				visible = true;
			} else {
				memset(d, 0, 4);
			}
		}
	}
	free(c->cursor.pixels);
	c->cursor = (struct capture_cursor){0};
	if (visible) {
		c->cursor.width = (uint16_t)w;
		c->cursor.height = (uint16_t)h;
		c->cursor.hot_x = (uint16_t)clamp_int(xhot, 0, w - 1);
		c->cursor.hot_y = (uint16_t)clamp_int(yhot, 0, h - 1);
		c->cursor.pixels = px;
	} else {
		/* A fully transparent shape is how servers hide the cursor: 0x0. */
		free(px);
	}
	c->cursor_changed = true;
}

static void cb_got_cursor(rfbClient *rfb, int xhot, int yhot, int width, int height, int bpp)
{
	struct capture *c = from_rfb(rfb);
	if (bpp == 4 && rfb->rcSource && rfb->rcMask && width > 0 && height > 0)
		convert_cursor(c, rfb, xhot, yhot, width, height);
	else
		log_info("vnc: %s sent a %dx%d cursor at %d bytes a pixel that we cannot read: "
			 "dropped",
			 c->label, width, height, bpp);
	/*
	 * We keep our own copy. 0.9.14 allocates a new rcMask for every shape
	 * without freeing the old one: handing both back here stops that leak.
	 */
	free(rfb->rcSource);
	rfb->rcSource = NULL;
	free(rfb->rcMask);
	rfb->rcMask = NULL;
}

/* ---- the backend ---- */

static bool vnc_handles(const char *uri)
{
	return uri && strncasecmp(uri, "vnc://", 6) == 0;
}

static void vnc_close(struct capture *c)
{
	if (!c)
		return;
	if (c->rfb) {
		free(c->rfb->frameBuffer);
		c->rfb->frameBuffer = NULL;
		/* 0.9.14's cleanup forgets the last cursor shape (later ones free it). */
		free(c->rfb->rcSource);
		c->rfb->rcSource = NULL;
		free(c->rfb->rcMask);
		c->rfb->rcMask = NULL;
		rfbClientCleanup(c->rfb); /* closes the socket */
	}
	free(c->cursor.pixels);
	free(c->cut);
	free(c);
}

/* Handles one server message; false when the connection broke. */
static bool handle_message(struct capture *c)
{
	struct sigpipe_guard g;
	sigpipe_block(&g);
	vnc_libmsg[0] = '\0';
	bool ok = HandleRFBServerMessage(c->rfb) && keep_raw_buffer(c);
	if (ok && c->full_needed) {
		/* A resize by ExtendedDesktopSize does not ask for the new screen. */
		c->full_needed = false;
		ok = SendFramebufferUpdateRequest(c->rfb, 0, 0, c->rfb->width, c->rfb->height,
						  FALSE);
	}
	sigpipe_unblock(&g);
	return ok;
}

static void fail(struct capture *c)
{
	if (c->failed)
		return;
	c->failed = true;
	if (c->reason.why[0])
		log_warn("vnc: connection to %s closed: %s", c->label, c->reason.why);
	else if (strstr(vnc_libmsg, "Connection timed out"))
		log_warn("vnc: connection to %s lost: the console stopped answering in the middle "
			 "of a message (nothing for %d s)",
			 c->label, c->read_timeout_s);
	else if (vnc_libmsg[0])
		log_warn("vnc: connection to %s lost: %s", c->label, vnc_libmsg);
	else
		log_warn("vnc: connection to %s lost", c->label);
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p = put16(p, (uint16_t)(v >> 16));
	return put16(p, (uint16_t)v);
}

/* SetPixelFormat (RFC 6143 §7.5.1) from rfb->format, then SetEncodings (§7.5.2). */
static bool send_format_and_encodings(rfbClient *rfb)
{
	uint8_t msg[4 + 16 + 4 + 4 * sizeof(vnc_encodings) / sizeof(vnc_encodings[0])];
	uint8_t *p = msg;
	const rfbPixelFormat *f = &rfb->format;
	*p++ = rfbSetPixelFormat;
	*p++ = 0;
	*p++ = 0;
	*p++ = 0;
	*p++ = f->bitsPerPixel;
	*p++ = f->depth;
	*p++ = f->bigEndian ? 1 : 0;
	*p++ = f->trueColour ? 1 : 0;
	p = put16(p, f->redMax);
	p = put16(p, f->greenMax);
	p = put16(p, f->blueMax);
	*p++ = f->redShift;
	*p++ = f->greenShift;
	*p++ = f->blueShift;
	*p++ = 0;
	*p++ = 0;
	*p++ = 0;
	*p++ = rfbSetEncodings;
	*p++ = 0;
	p = put16(p, sizeof(vnc_encodings) / sizeof(vnc_encodings[0]));
	for (size_t i = 0; i < sizeof(vnc_encodings) / sizeof(vnc_encodings[0]); i++)
		p = put32(p, vnc_encodings[i]);
	return WriteToRFBServer(rfb, (const char *)msg, (unsigned)(p - msg));
}

static bool screen_covered(const struct capture *c)
{
	return c->covered >= (int64_t)c->rfb->width * c->rfb->height;
}

/* A libvncclient client set up for our pixel format and callbacks; NULL on no memory. */
static rfbClient *new_client(struct capture *c, const char *host, int port)
{
	/* 8 bits per sample, 3 samples, 4 bytes per pixel; the layout is set below. */
	rfbClient *rfb = rfbGetClient(8, 3, 4);
	if (!rfb)
		return NULL;
	rfbClientSetClientData(rfb, &vnc_tag, c);

	/* B,G,R,X in memory = a little-endian 32-bit 0x00RRGGBB. */
	rfb->format.bitsPerPixel = 32;
	rfb->format.depth = 24;
	rfb->format.bigEndian = FALSE;
	rfb->format.trueColour = TRUE;
	rfb->format.redMax = 255;
	rfb->format.greenMax = 255;
	rfb->format.blueMax = 255;
	rfb->format.redShift = 16;
	rfb->format.greenShift = 8;
	rfb->format.blueShift = 0;
	/* The encodings are vnc_encodings[], sent by send_format_and_encodings(). */
	rfb->appData.shareDesktop = TRUE; /* never kick other viewers off */
	rfb->canHandleNewFBSize = TRUE;
	rfb->GetPassword = cb_get_password;
	rfb->MallocFrameBuffer = cb_malloc_framebuffer;
	rfb->GotFrameBufferUpdate = cb_got_update;
	rfb->GotCursorShape = cb_got_cursor;
	rfb->GotXCutText = cb_got_cut_text;
	rfb->GotJpeg = cb_got_jpeg;
	/* See the top of the file: only what poll() can follow. */
	static const uint32_t schemes[] = {rfbVncAuth, rfbNoAuth, 0};
	SetClientAuthSchemes(rfb, schemes, -1);

	/* Used by the library for messages and by TLS-based types (not offered). */
	free(rfb->serverHost);
	rfb->serverHost = strdup(host);
	rfb->serverPort = port;
	if (!rfb->serverHost) {
		rfbClientCleanup(rfb);
		return NULL;
	}
	return rfb;
}

/* RFC 6143 §7.1-7.3 on c->rfb->sock, bounded by deadline; logs why it failed. */
/*
 * From the end of the handshake on, a message that stalls fails after about
 * read_timeout_s of silence, however its bytes arrive. libvncclient 0.9.14
 * counts EAGAINs, not time (ReadFromRFBServer: readTimeout * 10 of them,
 * each followed by a 100 ms select), and on a non-blocking socket every
 * burst of a big read is one EAGAIN: a busy console's 300 KiB Raw piece was
 * cut 0.1 s after connecting. So the socket becomes blocking with
 * SO_RCVTIMEO: an EAGAIN now means a tenth of read_timeout_s (less the
 * 100 ms select) with no byte, and readTimeout 1 allows ten of them.
 * Our own poll() still bounds the wait between messages.
 */
static void set_message_deadline(struct capture *c)
{
	int fd = c->rfb->sock;
	int ms = c->read_timeout_s * 100 - 100;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	int fl = fcntl(fd, F_GETFL);

	if (ms < 10)
		tv = (struct timeval){0, 10000};
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		log_warn("vnc: %s: cannot bound reads (%s): a stalled message waits for the "
			 "worker's heartbeat",
			 c->label, strerror(errno));
	c->rfb->readTimeout = 1;
}

static bool handshake(struct capture *c, const struct capture_cfg *cfg, int64_t deadline,
		      int timeout_ms)
{
	rfbClient *rfb = c->rfb;

	/* The server speaks first; a silent one must not hold us past the deadline. */
	struct pollfd pfd = {.fd = rfb->sock, .events = POLLIN};
	int n;
	while ((n = poll(&pfd, 1, ms_left(deadline))) < 0 && errno == EINTR)
		;
	if (n == 0) {
		log_error("vnc: %s accepted the connection but sent no greeting within %d ms",
			  c->label, timeout_ms);
		set_reason(c, CAPTURE_FAIL_UNREACHABLE,
			   "the console accepted the connection but sent no greeting within %d ms",
			   timeout_ms);
		return false;
	}
	if (n < 0) {
		log_error("vnc: waiting for %s: %s", c->label, strerror(errno));
		set_reason(c, CAPTURE_FAIL_UNREACHABLE, "waiting for the console: %s",
			   strerror(errno));
		return false;
	}

	/* The rest of the handshake: libvncclient counts whole seconds. */
	int left = ms_left(deadline);
	rfb->readTimeout = (unsigned)(left + 999) / 1000;
	if (rfb->readTimeout == 0)
		rfb->readTimeout = 1;
	const char *password = cfg ? cfg->password : NULL;
	c->password = password;

	struct sigpipe_guard g;
	sigpipe_block(&g);
	vnc_libmsg[0] = '\0';
	vnc_auth_ok = false;
	vnc_auth_refused = false;
	bool ok = InitialiseRFBConnection(rfb);
	sigpipe_unblock(&g);
	c->password = NULL;
	/*
	 * From here our poll() deadlines bound the wait between messages and
	 * readTimeout each stall within one (see the top of the file).
	 */
	set_message_deadline(c);
	if (ok)
		return true;

	const char *sep = vnc_libmsg[0] ? ": " : "";
	if (c->password_asked && !(password && password[0])) {
		log_error("vnc: %s asks for a password and none is configured", c->label);
		set_reason(c, CAPTURE_FAIL_AUTH,
			   "the console asks for a password and the agent has none configured");
	} else if ((c->password_asked && !vnc_auth_ok) || vnc_auth_refused) {
		log_error("vnc: authentication failed for %s%s%s", c->label, sep, vnc_libmsg);
		set_reason(c, CAPTURE_FAIL_AUTH, "the console refused the agent's credentials%s%s",
			   sep, vnc_libmsg);
	} else {
		log_error("vnc: handshake with %s failed%s%s", c->label, sep, vnc_libmsg);
		set_reason(c, CAPTURE_FAIL_UNREACHABLE, "the handshake with the console failed%s%s",
			   sep, vnc_libmsg);
	}
	return false;
}

/* Asks for the first screen and waits for all of it until deadline. */
static bool first_frame(struct capture *c, int64_t deadline)
{
	rfbClient *rfb = c->rfb;
	rfb->width = rfb->si.framebufferWidth;
	rfb->height = rfb->si.framebufferHeight;
	if (!rfb->MallocFrameBuffer(rfb))
		return false; /* it said why */

	struct sigpipe_guard g;
	sigpipe_block(&g);
	bool ok = send_format_and_encodings(rfb) &&
		  SendFramebufferUpdateRequest(rfb, 0, 0, rfb->width, rfb->height, FALSE);
	sigpipe_unblock(&g);
	c->full_needed = false;
	if (!ok) {
		log_error("vnc: %s closed the connection after the handshake", c->label);
		set_reason(c, CAPTURE_FAIL_UNREACHABLE,
			   "the console closed the connection after the handshake");
		return false;
	}

	/* So that the first next() hands out the whole screen at once. */
	while (!screen_covered(c)) {
		int r = wait_readable(c, deadline);
		if (r == 0) {
			log_debug("vnc: %s has not sent the whole screen yet", c->label);
			break;
		}
		if (r < 0 || !handle_message(c)) {
			if (c->reason.why[0]) {
				log_error("vnc: %s: %s", c->label, c->reason.why);
			} else if (strstr(vnc_libmsg, "Connection timed out")) {
				log_error("vnc: %s stopped answering in the middle of a message "
					  "before the first frame",
					  c->label);
				set_reason(c, CAPTURE_FAIL_UNREACHABLE,
					   "the console stopped answering in the middle of a "
					   "message");
			} else {
				log_error(
					"vnc: %s closed the connection before the first frame%s%s",
					c->label, vnc_libmsg[0] ? ": " : "", vnc_libmsg);
				set_reason(c, CAPTURE_FAIL_UNREACHABLE,
					   "the console closed the connection before the first "
					   "frame%s%s",
					   vnc_libmsg[0] ? ": " : "", vnc_libmsg);
			}
			return false;
		}
	}
	return true;
}

/* Fills cfg->error, when the caller gave one, for an open() that fails. */
static struct capture *vnc_open(const char *uri, const struct capture_cfg *cfg)
{
	pthread_once(&vnc_once, vnc_init_once);

	char host[VNC_HOST_MAX];
	int port;
	if (parse_uri(uri, host, sizeof(host), &port) < 0) {
		log_error("vnc: bad URI '%s': use vnc://HOST[:PORT] or vnc://[IPv6]:PORT",
			  uri ? uri : "(none)");
		capture_report(cfg, CAPTURE_FAIL_REFUSED, "the desktop's console URI is not valid");
		return NULL;
	}
	int timeout_ms = cfg && cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms
							    : VNC_DEFAULT_TIMEOUT_MS;
	int64_t deadline = clock_mono_ms() + timeout_ms;

	struct capture *c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("vnc: out of memory");
		capture_report(cfg, CAPTURE_FAIL_UNREACHABLE, "the agent is out of memory");
		return NULL;
	}
	hostport_format(c->label, sizeof(c->label), host, port);
	c->read_timeout_s = cfg && cfg->read_timeout_s > 0 ? cfg->read_timeout_s
							   : VNC_READ_TIMEOUT_S;
	c->rfb = new_client(c, host, port);
	if (!c->rfb) {
		log_error("vnc: out of memory");
		set_reason(c, CAPTURE_FAIL_UNREACHABLE, "the agent is out of memory");
		goto fail;
	}
	c->rfb->sock = tcp_connect(c, host, port, deadline);
	if (c->rfb->sock < 0) {
		c->rfb->sock = RFB_INVALID_SOCKET;
		goto fail;
	}
	/* Before the console's first byte is read (capture.h). */
	if (cfg && cfg->connected && cfg->connected(cfg->connected_ud) != 0) {
		log_error("vnc: %s: the worker cannot confine itself: not talking to the console",
			  c->label);
		set_reason(c, CAPTURE_FAIL_SANDBOX, "the desktop's worker cannot confine itself");
		goto fail;
	}
	if (!handshake(c, cfg, deadline, timeout_ms) || !first_frame(c, deadline))
		goto fail;

	log_info("vnc: connected to %s, %dx%d", c->label, c->rfb->width, c->rfb->height);
	c->wake_fd = cfg ? cfg->wake_fd : 0; /* from now on: open() waits for the screen */
	return c;

fail:
	if (c->reason.why[0])
		capture_report(cfg, c->reason.kind, c->reason.why);
	else
		capture_report(cfg, CAPTURE_FAIL_UNREACHABLE, "the console cannot be reached");
	vnc_close(c);
	return NULL;
}

static enum capture_status emit(struct capture *c, enum capture_status st,
				struct capture_frame *frame)
{
	frame->pixels = c->rfb->frameBuffer;
	frame->width = c->rfb->width;
	frame->height = c->rfb->height;
	frame->stride = c->rfb->width * 4;
	if (st == CAPTURE_REINIT) {
		frame->damage[0] = (struct rect){0, 0, c->rfb->width, c->rfb->height};
		frame->ndamage = 1;
		c->reinit = false;
	} else {
		memcpy(frame->damage, c->damage, c->ndamage * sizeof(c->damage[0]));
		frame->ndamage = c->ndamage;
	}
	frame->copy_us = clock_us32(c->copy_us);
	c->copy_us = 0;
	c->ndamage = 0;
	c->covered = 0;
	return st;
}

/*
 * RFB is pulled: the server sends one update per request and merges what
 * changes in between, and libvncclient asks for the next one as soon as it
 * has decoded the last. A slow caller therefore meets the newest screen, not
 * a queue of old ones.
 */
static enum capture_status vnc_next(struct capture *c, int timeout_ms, struct capture_frame *frame)
{
	if (c->failed)
		return CAPTURE_ERROR;
	int64_t deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		/*
		 * HandleRFBServerMessage takes one whole message, so damage seen
		 * here belongs to finished updates. After a size change, wait
		 * until the server has repainted the whole new screen.
		 */
		if (c->reinit && screen_covered(c))
			return emit(c, CAPTURE_REINIT, frame);
		if (!c->reinit && c->ndamage > 0)
			return emit(c, CAPTURE_OK, frame);

		int r = wait_readable(c, deadline);
		if (r == 0)
			break;
		if (r == 2)
			return CAPTURE_AGAIN; /* a command waits; the update goes on next time */
		int64_t t0 = clock_mono_us();
		if (r < 0 || !handle_message(c)) {
			fail(c);
			return CAPTURE_ERROR;
		}
		c->copy_us += clock_mono_us() - t0;
	}
	/* Out of time: a new size is news even while its pixels still arrive. */
	if (c->reinit)
		return emit(c, CAPTURE_REINIT, frame);
	return CAPTURE_AGAIN;
}

/* ---- input ---- */

static bool send_pointer(struct capture *c, uint8_t mask)
{
	return SendPointerEvent(c->rfb, c->x, c->y, mask);
}

static void move_to(struct capture *c, uint16_t x, uint16_t y)
{
	/* input_sanitize clamps already; this backend still never sends off-screen. */
	c->x = x < c->rfb->width ? x : (uint16_t)(c->rfb->width - 1);
	c->y = y < c->rfb->height ? y : (uint16_t)(c->rfb->height - 1);
}

/*
 * POINTER's buttons 1-3 are RFB's. Its buttons 4-8 are extra buttons (back,
 * forward, ...), while RFB's 4-7 are the wheels (SCROLL's job): the first
 * extra button becomes RFB's button 8, which X servers and QEMU take as
 * "back"; RFB 3.8 has no place for the others.
 */
static uint8_t rfb_buttons(uint8_t buttons)
{
	uint8_t mask = buttons & (VNC_BUTTON_LEFT | VNC_BUTTON_MIDDLE | VNC_BUTTON_RIGHT);
	if (buttons & (1u << 3))
		mask |= VNC_BUTTON_8;
	return mask;
}

/* Wheel clicks are press + release of buttons 4..7 where the pointer is. */
static bool scroll_axis(struct capture *c, int *acc, int delta, uint8_t neg, uint8_t pos)
{
	if ((delta > 0 && *acc < 0) || (delta < 0 && *acc > 0))
		*acc = 0; /* a change of direction drops the old remainder */
	*acc += delta;
	while (*acc >= VNC_SCROLL_STEP || *acc <= -VNC_SCROLL_STEP) {
		uint8_t b = *acc > 0 ? pos : neg;
		*acc += *acc > 0 ? -VNC_SCROLL_STEP : VNC_SCROLL_STEP;
		if (!send_pointer(c, c->buttons | b) || !send_pointer(c, c->buttons))
			return false;
	}
	return true;
}

static bool inject_key(struct capture *c, const struct msg_key *k)
{
	rfbBool down = (k->flags & MSG_KEY_DOWN) ? TRUE : FALSE;
	uint32_t qnum = k->scancode ? input_qnum_from_evdev(k->scancode) : 0;
	/* QEMU's extended key event carries the physical key: layout-independent. */
	if (qnum && SupportsClient2Server(c->rfb, rfbQemuEvent))
		return SendExtendedKeyEvent(c->rfb, k->keysym, qnum, down);
	if (k->keysym)
		return SendKeyEvent(c->rfb, k->keysym, down);
	log_debug("vnc: key %u has no keysym and %s takes no scancodes: dropped", k->scancode,
		  c->label);
	return true;
}

static bool inject_touch(struct capture *c, const struct msg_touch *t)
{
	/* One finger drives the pointer; the others have nowhere to go. */
	if (c->touching && t->id != c->touch_id)
		return true;
	move_to(c, t->x, t->y);
	switch (t->phase) {
	case MSG_TOUCH_BEGIN:
		c->touching = true;
		c->touch_id = t->id;
		c->buttons |= VNC_BUTTON_LEFT;
		/* Move first, so the press lands where the finger is. */
		return send_pointer(c, c->buttons & ~VNC_BUTTON_LEFT) &&
		       send_pointer(c, c->buttons);
	case MSG_TOUCH_UPDATE:
		if (!c->touching)
			return true;
		return send_pointer(c, c->buttons);
	default: /* END, CANCEL */
		if (!c->touching)
			return true;
		c->touching = false;
		c->buttons &= (uint8_t)~VNC_BUTTON_LEFT;
		return send_pointer(c, c->buttons);
	}
}

static bool inject_pen(struct capture *c, const struct msg_pen *p)
{
	/*
	 * A pen is a pointer here: the tip (or eraser) is the left button, the
	 * first barrel button right-clicks and the second middle-clicks, as
	 * pens do on most desktops.
	 */
	uint8_t mask = 0;
	if (p->flags & MSG_PEN_CONTACT)
		mask |= VNC_BUTTON_LEFT;
	if (p->flags & MSG_PEN_BUTTON1)
		mask |= VNC_BUTTON_RIGHT;
	if (p->flags & MSG_PEN_BUTTON2)
		mask |= VNC_BUTTON_MIDDLE;
	move_to(c, p->x, p->y);
	bool pressing = (mask & ~c->buttons) != 0;
	if (pressing && !send_pointer(c, c->buttons))
		return false;
	c->buttons = mask;
	return send_pointer(c, c->buttons);
}

static int vnc_inject(struct capture *c, const struct msg *m)
{
	if (c->failed)
		return -EIO;
	struct sigpipe_guard g;
	bool ok = true;
	sigpipe_block(&g);
	vnc_libmsg[0] = '\0';
	switch (m->type) {
	case MSG_KEY:
		ok = inject_key(c, &m->u.key);
		break;
	case MSG_POINTER:
		move_to(c, m->u.pointer.x, m->u.pointer.y);
		c->buttons = rfb_buttons(m->u.pointer.buttons);
		ok = send_pointer(c, c->buttons);
		break;
	case MSG_SCROLL:
		ok = scroll_axis(c, &c->scroll_y, m->u.scroll.dy, VNC_WHEEL_UP, VNC_WHEEL_DOWN) &&
		     scroll_axis(c, &c->scroll_x, m->u.scroll.dx, VNC_WHEEL_LEFT, VNC_WHEEL_RIGHT);
		break;
	case MSG_TOUCH:
		ok = inject_touch(c, &m->u.touch);
		break;
	case MSG_PEN:
		ok = inject_pen(c, &m->u.pen);
		break;
	default:
		sigpipe_unblock(&g);
		return -ENOTSUP;
	}
	sigpipe_unblock(&g);
	if (!ok) {
		fail(c);
		return -EIO;
	}
	return 0;
}

static int vnc_cursor(struct capture *c, struct capture_cursor *out)
{
	if (!c->cursor_changed)
		return 0;
	c->cursor_changed = false;
	*out = c->cursor;
	return 1;
}

static int vnc_clipboard_set(struct capture *c, const char *text, size_t len)
{
	size_t n;
	char *l1;
	int ok;

	if (c->failed)
		return -EIO;
	/* RFC 6143 §7.5.6: ClientCutText is ISO 8859-1 */
	l1 = capture_utf8_to_latin1(text, len, &n);
	if (!l1)
		return -ENOMEM;
	ok = n <= INT_MAX && SendClientCutText(c->rfb, l1, (int)n);
	free(l1);
	return ok ? 0 : -EIO;
}

static int vnc_clipboard_get(struct capture *c, size_t max, char **text, size_t *len)
{
	char *cut = c->cut;
	size_t cut_len = c->cut_len;

	if (!cut)
		return 0;
	c->cut = NULL;
	*text = capture_latin1_to_utf8(cut, cut_len, len);
	free(cut);
	if (!*text)
		return 0;
	if (*len > max) {
		log_info("vnc %s: clipboard text of %zu bytes over clipboard.max_bytes (%zu): not "
			 "copied",
			 c->label, *len, max);
		free(*text);
		*text = NULL;
		return 0;
	}
	return 1;
}

static bool vnc_reachable(const char *uri, int timeout_ms)
{
	char host[256], why[160];
	int port, fd;

	if (parse_uri(uri, host, sizeof(host), &port) < 0)
		return true; /* open() says what is wrong with it */
	fd = capture_tcp_connect(host, port, timeout_ms, why, sizeof(why));
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

const struct capture_impl capture_vnc = {
	.name = "vnc",
	.handles = vnc_handles,
	.reachable = vnc_reachable,
	.open = vnc_open,
	.close = vnc_close,
	.next = vnc_next,
	.inject = vnc_inject,
	.cursor = vnc_cursor,
	.clipboard_set = vnc_clipboard_set,
	.clipboard_get = vnc_clipboard_get,
};
