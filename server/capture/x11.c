/* SPDX-License-Identifier: MIT */
/*
 * capture_x11: an X display as a console (capture.h).
 *
 *   pixels  XDamage on the root window says what changed; XShmGetImage copies
 *           those rows of the root window into one shared-memory image of the
 *           whole screen, which is also the frame we hand out. Without
 *           MIT-SHM (a display over TCP) plain XGetImage does the same, slower.
 *   size    ConfigureNotify on the root window (RandR resizes the root and the
 *           server sends it to every client selecting StructureNotify there).
 *   cursor  XFixes cursor notifications and XFixesGetCursorImage.
 *   input   XTest fake key, motion and button events.
 *   resize  RandR 1.2 (randrproto, "Mode" requests): a mode of the asked
 *           size is found on the output or made (named "highrise-WxH"),
 *           then the screen grows to hold it, the CRTC takes it and the
 *           screen shrinks to it. Support is decided once at open by
 *           making and removing a test mode: Xvfb's single fixed output
 *           refuses it, Xvnc/Xtigervnc takes it. Modes we made are removed
 *           when no longer shown, and leftovers of an earlier run at open.
 *           A screen whose RandR maximum is its current size (Xvfb: its
 *           framebuffer is fixed at start) could only shrink: not resizable.
 *   clipboard  a 1x1 unmapped window of ours owns CLIPBOARD for text from the
 *           client (answering SelectionRequest for TARGETS, UTF8_STRING, TEXT
 *           and STRING, ICCCM §2.2); XFixes selection notifications say when
 *           another client took CLIPBOARD, and we fetch its text as
 *           UTF8_STRING into a property of our window. Transfers in
 *           increments (INCR, for very large selections) are refused.
 *
 * Xlib reports a lost connection through process-wide handlers whose
 * defaults call exit(). We install, once, a handler that only logs, and per
 * display an exit handler (libX11 >= 1.8) that marks the capture dead, so
 * that an X server going away is CAPTURE_ERROR, not the end of the agent.
 * After that Xlib's entry points return at once (XlibDisplayIOError), and
 * the only calls we still make are XCloseDisplay and local frees. These
 * handlers replace any a library in the same process may have set; the
 * agent has no other Xlib user.
 */
#include "capture.h"

#include "clock.h"
#include "input.h"
#include "log.h"

#include <X11/XKBlib.h>
#include <X11/Xlib.h>
#include <X11/Xatom.h>
#include <X11/Xutil.h>
#include <X11/extensions/XShm.h>
#include <X11/extensions/XTest.h>
#include <X11/extensions/Xdamage.h>
#include <X11/extensions/Xfixes.h>
#include <X11/extensions/Xrandr.h>
#include <X11/keysym.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define URI_PREFIX	   "x11:"
#define DEFAULT_TIMEOUT_MS 5000
#define X_TCP_PORT	   6000	       /* X11R7 Xserver(1): TCP port 6000 + display number */
#define SCROLL_STEP	   120	       /* msg_scroll units per wheel click */
#define MAX_BUTTONS	   8	       /* POINTER carries buttons 1..8 */
#define MODE_PREFIX	   "highrise-" /* the RandR modes we make */
#define MM_PER_INCH_X10	   254	       /* the screen's size in mm at 96 dpi, as Xvnc says */

struct capture {
	Display *dpy;
	char *name;  /* the display string, for logs */
	int wake_fd; /* capture_cfg.wake_fd */
	int screen;
	Window root;
	int width, height;

	bool dead;	     /* the X connection failed (set by on_io_exit) */
	bool reinit;	     /* the next next() returns CAPTURE_REINIT */
	bool damaged;	     /* a DamageNotify arrived since the last subtract */
	bool resized;	     /* a ConfigureNotify changed the root's size */
	bool cursor_changed; /* a CursorNotify arrived since the last cursor() */
	int new_width, new_height;

	int damage_event, fixes_event; /* extension event bases */
	Damage damage;
	XserverRegion region;

	/* The screen's pixels: the shared segment, or heap without MIT-SHM. */
	bool use_shm;
	XShmSegmentInfo shm;
	XImage *image; /* XShm image over the whole screen (use_shm) */
	uint8_t *fb;
	int stride;

	/* input */
	bool evdev_keymap; /* keycode = evdev + 8 holds on this server */
	int nbuttons;	   /* buttons of the core pointer */
	uint8_t buttons;   /* POINTER mask the display holds */
	int scroll_x, scroll_y;
	bool touch_active;
	uint32_t touch_id;

	/* clipboard */
	Window clip_win;
	Atom a_clipboard, a_utf8, a_targets, a_text, a_incr, a_prop;
	char *clip_ours; /* what we serve while we own CLIPBOARD, or NULL */
	size_t clip_ours_len;
	char *clip_new; /* text fetched from the desktop, for clipboard_get */
	size_t clip_new_len;
	size_t clip_max; /* the last max clipboard_get was called with */

	/* resizing (RandR >= 1.2), decided at open */
	bool can_resize;
	int min_w, min_h, max_w, max_h; /* XRRGetScreenSizeRange */
	RRMode mode_ours;		/* a mode we made that the CRTC shows, or None */

	/* cursor */
	unsigned long cursor_serial;
	int pointer_x, pointer_y; /* the last position x11_cursor_pos reported; -1: none */
	bool cursor_sent;
	uint8_t *cursor_pixels;
	size_t cursor_cap;
};

/*
 * Error trap for one request on this thread: Xlib calls the error handler
 * from the thread that reads the error, which for our displays is always
 * the thread that owns the capture.
 */
static _Thread_local struct {
	Display *dpy;
	int code;
} trap;

static int on_x_error(Display *dpy, XErrorEvent *ev)
{
	if (trap.dpy == dpy) {
		if (!trap.code)
			trap.code = ev->error_code;
		return 0;
	}
	char text[128];
	XGetErrorText(dpy, ev->error_code, text, sizeof(text));
	log_warn("x11 %s: %s (request %u.%u, resource 0x%lx)", DisplayString(dpy), text,
		 (unsigned)ev->request_code, (unsigned)ev->minor_code, ev->resourceid);
	return 0;
}

static int on_io_error(Display *dpy)
{
	log_warn("x11 %s: connection to the X server lost", DisplayString(dpy));
	return 0; /* then Xlib calls the display's exit handler */
}

static void on_io_exit(Display *dpy, void *userdata)
{
	struct capture *c = userdata;

	(void)dpy;
	c->dead = true; /* returning (not exiting) is allowed since libX11 1.8 */
}

static void install_handlers(void)
{
	XSetErrorHandler(on_x_error);
	XSetIOErrorHandler(on_io_error);
}

static void trap_begin(struct capture *c)
{
	trap.dpy = c->dpy;
	trap.code = 0;
}

/* Waits for the server to process everything sent; returns the first error code or 0. */
static int trap_end(struct capture *c)
{
	XSync(c->dpy, False);
	trap.dpy = NULL;
	return c->dead ? BadImplementation : trap.code;
}

static bool handles(const char *uri)
{
	return uri && strncmp(uri, URI_PREFIX, strlen(URI_PREFIX)) == 0;
}

/*
 * XOpenDisplay cannot be given a timeout. For a display over TCP, check
 * first that something accepts connections on its port within the time
 * allowed, so that an unreachable host fails in time. (Local displays use
 * a Unix socket, which connects or fails at once.)
 */
static int probe_tcp(const char *name, int timeout_ms)
{
	const char *colon = strrchr(name, ':');
	size_t hostlen = (size_t)(colon - name);
	char host[256], why[160];

	if (hostlen == 0 || (hostlen == 4 && strncmp(name, "unix", 4) == 0) || name[0] == '/')
		return 0;
	if (hostlen >= sizeof(host) || (colon > name && colon[-1] == ':'))
		return 0; /* DECnet "host::0" or an odd form: leave it to Xlib */
	memcpy(host, name, hostlen);
	host[hostlen] = '\0';
	if (host[0] == '[' && host[hostlen - 1] == ']') { /* [::1]:0 */
		memmove(host, host + 1, hostlen - 2);
		host[hostlen - 2] = '\0';
	}
	int fd = capture_tcp_connect(host, X_TCP_PORT + atoi(colon + 1), timeout_ms, why,
				     sizeof(why));
	if (fd < 0) {
		log_error("x11 %s: no X server answers on %s port %d: %s", name, host,
			  X_TCP_PORT + atoi(colon + 1), why);
		return -1;
	}
	close(fd);
	return 0;
}

/* The X server's local socket: the abstract one Xvfb/Xorg listen on, or the file. */
static bool local_reachable(long display)
{
	for (int abstract = 1; abstract >= 0; abstract--) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int n = snprintf(sa.sun_path + abstract, sizeof(sa.sun_path) - 1,
				 "/tmp/.X11-unix/X%ld", display);
		bool ok;

		if (fd < 0)
			return false;
		ok = connect(fd, (struct sockaddr *)&sa,
			     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + abstract + n)) ==
		     0;
		close(fd);
		if (ok)
			return true;
	}
	return false;
}

/* x11::[HOST]:N (DISPLAY syntax): the local socket, or TCP port 6000 + N. */
static bool x11_reachable(const char *uri, int timeout_ms)
{
	const char *name = uri + strlen(URI_PREFIX), *colon = strrchr(name, ':');
	size_t hlen;
	char *end;
	long display;

	if (!colon)
		return true;
	display = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || display < 0 || display > 59535)
		return true;
	hlen = (size_t)(colon - name);
	if (hlen == 0 || (hlen == 4 && strncmp(name, "unix", 4) == 0))
		return local_reachable(display);
	return probe_tcp(name, timeout_ms) == 0;
}

/* The 32-bit little-endian XRGB layout capture.h promises, or why not. */
static const char *check_visual(struct capture *c)
{
	Visual *v = DefaultVisual(c->dpy, c->screen);
	int depth = DefaultDepth(c->dpy, c->screen);

	if (v->class != TrueColor || (depth != 24 && depth != 32))
		return "the root visual is not 24-bit TrueColor";
	if (v->red_mask != 0xff0000 || v->green_mask != 0xff00 || v->blue_mask != 0xff)
		return "the root visual is not 8-bit RGB";
	if (ImageByteOrder(c->dpy) != LSBFirst)
		return "the server's image byte order is big-endian";

	int n = 0;
	bool ok = false;
	XPixmapFormatValues *fmt = XListPixmapFormats(c->dpy, &n);
	for (int i = 0; fmt && i < n; i++)
		if (fmt[i].depth == depth)
			ok = fmt[i].bits_per_pixel == 32;
	XFree(fmt);
	return ok ? NULL : "the root depth is not stored at 32 bits per pixel";
}

static void fb_free(struct capture *c)
{
	if (c->use_shm && c->image) {
		if (!c->dead)
			XShmDetach(c->dpy, &c->shm);
		c->image->data = NULL;
		XDestroyImage(c->image);
		c->image = NULL;
		shmdt(c->shm.shmaddr);
	} else {
		free(c->fb);
	}
	c->fb = NULL;
}

static bool shm_alloc(struct capture *c)
{
	Visual *v = DefaultVisual(c->dpy, c->screen);
	int depth = DefaultDepth(c->dpy, c->screen);

	c->image = XShmCreateImage(c->dpy, v, (unsigned)depth, ZPixmap, NULL, &c->shm,
				   (unsigned)c->width, (unsigned)c->height);
	if (!c->image)
		return false;
	/* whole-width bands are copied in place: rows must be exactly that long */
	if (c->image->bits_per_pixel != 32 || c->image->bytes_per_line != c->width * 4) {
		XDestroyImage(c->image);
		c->image = NULL;
		return false;
	}
	size_t size = (size_t)c->image->bytes_per_line * (size_t)c->height;
	c->shm.shmid = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
	if (c->shm.shmid < 0) {
		log_warn("x11 %s: shmget of %zu bytes: %s", c->name, size, strerror(errno));
		goto err_image;
	}
	c->shm.shmaddr = shmat(c->shm.shmid, NULL, 0);
	if (c->shm.shmaddr == (char *)-1) {
		log_warn("x11 %s: shmat: %s", c->name, strerror(errno));
		goto err_rmid;
	}
	c->shm.readOnly = False;
	c->image->data = c->shm.shmaddr;

	trap_begin(c);
	XShmAttach(c->dpy, &c->shm);
	int err = trap_end(c);
	/* attached (or not): the segment goes away with its last user */
	shmctl(c->shm.shmid, IPC_RMID, NULL);
	if (err) {
		/* BadAccess: a server that cannot map our segment (not on this host) */
		log_warn("x11 %s: the server cannot attach shared memory (error %d)", c->name, err);
		shmdt(c->shm.shmaddr);
		goto err_image;
	}
	c->fb = (uint8_t *)c->shm.shmaddr;
	c->stride = c->image->bytes_per_line;
	return true;

err_rmid:
	shmctl(c->shm.shmid, IPC_RMID, NULL);
err_image:
	c->image->data = NULL;
	XDestroyImage(c->image);
	c->image = NULL;
	return false;
}

/* The framebuffer for the current size: shared memory when it can be had. */
static bool fb_alloc(struct capture *c)
{
	if (c->use_shm && shm_alloc(c))
		return true;
	if (c->use_shm)
		log_warn("x11 %s: falling back to XGetImage (slower)", c->name);
	c->use_shm = false;
	c->stride = c->width * 4;
	c->fb = calloc((size_t)c->height, (size_t)c->stride);
	if (!c->fb)
		log_error("x11 %s: out of memory for a %dx%d framebuffer", c->name, c->width,
			  c->height);
	return c->fb != NULL;
}

/* Copies rows [y0, y1) of the screen into the framebuffer. */
static bool grab_rows(struct capture *c, int y0, int y1)
{
	if (c->use_shm) {
		XImage band = *c->image; /* a view of the rows, same segment */
		band.data = c->image->data + (size_t)y0 * (size_t)c->stride;
		band.height = y1 - y0;
		return XShmGetImage(c->dpy, c->root, &band, 0, y0, AllPlanes) && !c->dead;
	}

	XImage *img = XGetImage(c->dpy, c->root, 0, y0, (unsigned)c->width, (unsigned)(y1 - y0),
				AllPlanes, ZPixmap);
	if (!img)
		return false;
	bool ok = img->bits_per_pixel == 32 && img->byte_order == LSBFirst;
	for (int y = 0; ok && y < y1 - y0; y++)
		memcpy(c->fb + (size_t)(y0 + y) * (size_t)c->stride,
		       img->data + (size_t)y * (size_t)img->bytes_per_line, (size_t)c->width * 4);
	XDestroyImage(img);
	return ok;
}

struct span {
	int y0, y1;
};

static int cmp_span(const void *a, const void *b)
{
	int x = ((const struct span *)a)->y0, y = ((const struct span *)b)->y0;
	return (x > y) - (x < y);
}

/*
 * Refreshes the framebuffer under the damage: one whole-width band per run
 * of damaged rows (bands a few rows apart are joined: a round trip costs
 * more than copying the rows between them).
 */
static bool grab_damage(struct capture *c, const struct capture_frame *f)
{
	struct span span[CAPTURE_DAMAGE_MAX];
	size_t n = f->ndamage;

	for (size_t i = 0; i < n; i++)
		span[i] = (struct span){f->damage[i].y, f->damage[i].y + f->damage[i].height};
	qsort(span, n, sizeof(span[0]), cmp_span);
	for (size_t i = 0; i < n;) {
		int y0 = span[i].y0, y1 = span[i].y1;
		for (i++; i < n && span[i].y0 <= y1 + 16; i++)
			if (span[i].y1 > y1)
				y1 = span[i].y1;
		if (!grab_rows(c, y0, y1))
			return false;
	}
	return true;
}

static void frame_fill(struct capture *c, struct capture_frame *f)
{
	f->pixels = c->fb;
	f->width = c->width;
	f->height = c->height;
	f->stride = c->stride;
}

static void clip_serve(struct capture *c, const XSelectionRequestEvent *rq)
{
	XSelectionEvent ev = {
		.type = SelectionNotify,
		.display = rq->display,
		.requestor = rq->requestor,
		.selection = rq->selection,
		.target = rq->target,
		.time = rq->time,
		.property = rq->property ? rq->property : rq->target, /* ICCCM: obsolete clients */
	};

	if (!c->clip_ours || rq->selection != c->a_clipboard) {
		ev.property = None;
	} else if (rq->target == c->a_targets) {
		Atom t[] = {c->a_targets, c->a_utf8, c->a_text, XA_STRING};
		XChangeProperty(c->dpy, rq->requestor, ev.property, XA_ATOM, 32, PropModeReplace,
				(const unsigned char *)t, 4);
	} else if (rq->target == c->a_utf8 || rq->target == c->a_text) {
		XChangeProperty(c->dpy, rq->requestor, ev.property, c->a_utf8, 8, PropModeReplace,
				(const unsigned char *)c->clip_ours, (int)c->clip_ours_len);
	} else if (rq->target == XA_STRING) {
		size_t n;
		char *l1 = capture_utf8_to_latin1(c->clip_ours, c->clip_ours_len, &n);
		if (l1)
			XChangeProperty(c->dpy, rq->requestor, ev.property, XA_STRING, 8,
					PropModeReplace, (const unsigned char *)l1, (int)n);
		else
			ev.property = None;
		free(l1);
	} else {
		ev.property = None; /* a target we do not offer */
	}
	XSendEvent(c->dpy, rq->requestor, False, NoEventMask, (XEvent *)&ev);
}

/* The conversion we asked for arrived in our property: keep it for clipboard_get. */
static void clip_fetched(struct capture *c, const XSelectionEvent *sev)
{
	Atom type = None;
	int format = 0;
	unsigned long n = 0, after = 0;
	unsigned char *data = NULL;
	long max_words = (long)((c->clip_max + 4) / 4);

	if (sev->property == None) {
		log_debug("x11 %s: the clipboard's owner has no text", c->name);
		return;
	}
	if (XGetWindowProperty(c->dpy, c->clip_win, c->a_prop, 0, max_words, True, AnyPropertyType,
			       &type, &format, &n, &after, &data) != Success)
		return;
	if (type == c->a_incr) {
		log_info("x11 %s: clipboard text offered in increments (INCR, very large): not "
			 "copied",
			 c->name);
	} else if (format != 8 || (type != c->a_utf8 && type != XA_STRING)) {
		log_debug("x11 %s: clipboard data of another type: not copied", c->name);
	} else if (after > 0 || n > c->clip_max) {
		log_info("x11 %s: clipboard text over clipboard.max_bytes (%zu): not copied",
			 c->name, c->clip_max);
	} else {
		size_t len = n;
		char *text = type == XA_STRING ? capture_latin1_to_utf8((const char *)data, n, &len)
					       : malloc(n + 1);
		if (text && type != XA_STRING) {
			/* the wire's text has no NUL: drop any */
			len = 0;
			for (unsigned long i = 0; i < n; i++)
				if (data[i])
					text[len++] = (char)data[i];
			text[len] = '\0';
		}
		if (text) {
			free(c->clip_new);
			c->clip_new = text;
			c->clip_new_len = len;
		}
	}
	if (data)
		XFree(data);
	if (type == c->a_incr)
		XDeleteProperty(c->dpy, c->clip_win, c->a_prop);
}

static void process_events(struct capture *c)
{
	while (!c->dead && XPending(c->dpy) > 0) {
		XEvent ev;
		XNextEvent(c->dpy, &ev);
		if (ev.type == c->damage_event + XDamageNotify) {
			c->damaged = true;
		} else if (ev.type == c->fixes_event + XFixesCursorNotify) {
			c->cursor_changed = true;
		} else if (ev.type == c->fixes_event + XFixesSelectionNotify) {
			XFixesSelectionNotifyEvent *sn = (XFixesSelectionNotifyEvent *)&ev;
			/* another client copied: ask for its text (our own ownership is no news) */
			if (c->clip_max && sn->owner != None && sn->owner != c->clip_win)
				XConvertSelection(c->dpy, c->a_clipboard, c->a_utf8, c->a_prop,
						  c->clip_win, sn->selection_timestamp);
			if (sn->owner != c->clip_win) {
				free(c->clip_ours);
				c->clip_ours = NULL;
			}
		} else if (ev.type == SelectionRequest) {
			clip_serve(c, &ev.xselectionrequest);
		} else if (ev.type == SelectionNotify && ev.xselection.requestor == c->clip_win) {
			clip_fetched(c, &ev.xselection);
		} else if (ev.type == SelectionClear) {
			free(c->clip_ours);
			c->clip_ours = NULL;
		} else if (ev.type == ConfigureNotify && ev.xconfigure.window == c->root) {
			/* the last size wins: there and back again is no change */
			c->new_width = ev.xconfigure.width;
			c->new_height = ev.xconfigure.height;
			c->resized = c->new_width != c->width || c->new_height != c->height;
		}
	}
}

/* Moves the server's damage into frame->damage (clipped, merged past the maximum). */
static void fetch_damage(struct capture *c, struct capture_frame *f)
{
	int n = 0;
	XRectangle bounds;

	XDamageSubtract(c->dpy, c->damage, None, c->region);
	XRectangle *r = XFixesFetchRegionAndBounds(c->dpy, c->region, &n, &bounds);
	f->ndamage = 0;
	if (!r || c->dead) {
		if (r)
			XFree(r);
		return;
	}
	if (n > CAPTURE_DAMAGE_MAX) {
		r[0] = bounds;
		n = 1;
	}
	for (int i = 0; i < n; i++) {
		int x0 = r[i].x < 0 ? 0 : r[i].x, y0 = r[i].y < 0 ? 0 : r[i].y;
		int x1 = r[i].x + r[i].width, y1 = r[i].y + r[i].height;
		if (x1 > c->width)
			x1 = c->width;
		if (y1 > c->height)
			y1 = c->height;
		if (x1 <= x0 || y1 <= y0)
			continue;
		f->damage[f->ndamage++] = (struct rect){x0, y0, x1 - x0, y1 - y0};
	}
	XFree(r);
}

/*
 * A read of the screen failed. If the screen shrank under us, the server
 * sent ConfigureNotify before the error: a round trip brings it in.
 */
static bool resize_pending(struct capture *c)
{
	if (!c->dead && !c->resized) {
		XSync(c->dpy, False);
		process_events(c);
	}
	return !c->dead && c->resized;
}

static bool full_frame(struct capture *c, struct capture_frame *f)
{
	/* forget what changed before: the whole screen is news */
	XDamageSubtract(c->dpy, c->damage, None, None);
	c->damaged = false;
	if (!grab_rows(c, 0, c->height))
		return false;
	c->reinit = false;
	frame_fill(c, f);
	f->damage[0] = (struct rect){0, 0, c->width, c->height};
	f->ndamage = 1;
	return true;
}

static enum capture_status x11_next(struct capture *c, int timeout_ms, struct capture_frame *f)
{
	int64_t deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		process_events(c);
		if (c->dead)
			return CAPTURE_ERROR;
		if (c->resized) {
			c->resized = false;
			log_info("x11 %s: screen size %dx%d -> %dx%d", c->name, c->width, c->height,
				 c->new_width, c->new_height);
			fb_free(c);
			c->width = c->new_width;
			c->height = c->new_height;
			if (!fb_alloc(c))
				return CAPTURE_ERROR;
			c->reinit = true;
		}
		if (c->reinit) {
			int64_t t0 = clock_mono_us();
			if (full_frame(c, f)) {
				f->copy_us = clock_us32(clock_mono_us() - t0);
				return CAPTURE_REINIT;
			}
			if (resize_pending(c))
				continue;
			if (!c->dead)
				log_error("x11 %s: cannot read the screen", c->name);
			return CAPTURE_ERROR;
		}
		if (c->damaged) {
			c->damaged = false;
			fetch_damage(c, f);
			if (c->dead)
				return CAPTURE_ERROR;
			if (f->ndamage > 0) {
				int64_t t0 = clock_mono_us();
				if (grab_damage(c, f)) {
					frame_fill(c, f);
					f->copy_us = clock_us32(clock_mono_us() - t0);
					return CAPTURE_OK;
				}
				if (resize_pending(c))
					continue;
				if (!c->dead)
					log_error("x11 %s: cannot read the screen", c->name);
				return CAPTURE_ERROR;
			}
		}

		int64_t left = deadline - clock_mono_ms();
		if (left <= 0)
			return CAPTURE_AGAIN;
		int r = capture_wait(ConnectionNumber(c->dpy), c->wake_fd, (int)left);
		if (r < 0) {
			log_error("x11 %s: poll: %s", c->name, strerror(errno));
			return CAPTURE_ERROR;
		}
		if (r == 2)
			return CAPTURE_AGAIN; /* a command waits */
	}
}

/* POINTER button n (1..8) on X: 1-3 as they are, 4-8 past the wheel buttons 4-7 (back = 8). */
static unsigned x_button(int n)
{
	return n <= 3 ? (unsigned)n : (unsigned)n + 4;
}

static void set_buttons(struct capture *c, uint8_t mask)
{
	for (int i = 0; i < MAX_BUTTONS; i++) {
		uint8_t bit = (uint8_t)(1u << i);
		if ((mask ^ c->buttons) & bit) {
			unsigned b = x_button(i + 1);
			if ((int)b <= c->nbuttons)
				XTestFakeButtonEvent(c->dpy, b, (mask & bit) ? True : False,
						     CurrentTime);
			else
				log_debug("x11 %s: no button %u on this display", c->name, b);
		}
	}
	c->buttons = mask;
}

static void move(struct capture *c, int x, int y)
{
	XTestFakeMotionEvent(c->dpy, c->screen, x, y, CurrentTime);
}

static void click(struct capture *c, unsigned button, int count)
{
	for (int i = 0; i < count; i++) {
		XTestFakeButtonEvent(c->dpy, button, True, CurrentTime);
		XTestFakeButtonEvent(c->dpy, button, False, CurrentTime);
	}
}

/* Wheel clicks for delta, keeping the part short of a whole click for later. */
static void scroll(struct capture *c, int *acc, int delta, unsigned neg, unsigned pos)
{
	*acc += delta;
	int clicks = *acc / SCROLL_STEP;
	*acc -= clicks * SCROLL_STEP;
	if (clicks > 0)
		click(c, pos, clicks);
	else if (clicks < 0)
		click(c, neg, -clicks);
}

static void inject_key(struct capture *c, const struct msg_key *k)
{
	bool down = k->flags & MSG_KEY_DOWN;
	int min_kc, max_kc;
	unsigned kc = 0;

	XDisplayKeycodes(c->dpy, &min_kc, &max_kc);
	if (c->evdev_keymap && k->scancode) {
		kc = input_x11_keycode_from_evdev(k->scancode);
		if ((int)kc < min_kc || (int)kc > max_kc)
			kc = 0;
	}
	if (kc) {
		XTestFakeKeyEvent(c->dpy, kc, down, CurrentTime);
		return;
	}
	if (!k->keysym || !(kc = XKeysymToKeycode(c->dpy, k->keysym))) {
		log_debug("x11 %s: no keycode for evdev %u keysym 0x%x", c->name,
			  (unsigned)k->scancode, (unsigned)k->keysym);
		return;
	}
	/*
	 * A keysym on the shifted level ('A', '!') needs Shift held for the
	 * press; hold it just around the press if the user does not. Other
	 * levels (AltGr) are not reached this way.
	 */
	bool shift = false;
	if (down && XkbKeycodeToKeysym(c->dpy, (KeyCode)kc, 0, 0) != k->keysym &&
	    XkbKeycodeToKeysym(c->dpy, (KeyCode)kc, 0, 1) == k->keysym) {
		XkbStateRec st;
		shift = XkbGetState(c->dpy, XkbUseCoreKbd, &st) == Success &&
			!(st.mods & ShiftMask);
	}
	unsigned shift_kc = shift ? XKeysymToKeycode(c->dpy, XK_Shift_L) : 0;
	if (shift_kc)
		XTestFakeKeyEvent(c->dpy, shift_kc, True, CurrentTime);
	XTestFakeKeyEvent(c->dpy, kc, down, CurrentTime);
	if (shift_kc)
		XTestFakeKeyEvent(c->dpy, shift_kc, False, CurrentTime);
}

static void inject_touch(struct capture *c, const struct msg_touch *t)
{
	/* one finger is the pointer; the others have nowhere to go on core X */
	switch (t->phase) {
	case MSG_TOUCH_BEGIN:
		if (c->touch_active)
			return;
		c->touch_active = true;
		c->touch_id = t->id;
		move(c, t->x, t->y);
		set_buttons(c, c->buttons | 1u);
		return;
	case MSG_TOUCH_UPDATE:
		if (c->touch_active && t->id == c->touch_id)
			move(c, t->x, t->y);
		return;
	default: /* END, CANCEL */
		if (!c->touch_active || t->id != c->touch_id)
			return;
		c->touch_active = false;
		if (t->phase == MSG_TOUCH_END)
			move(c, t->x, t->y);
		set_buttons(c, c->buttons & ~1u);
		return;
	}
}

static void inject_pen(struct capture *c, const struct msg_pen *p)
{
	/* as xf86-input-wacom does by default: tip = left, barrel buttons = middle, right */
	uint8_t mask = c->buttons & ~7u;

	if (p->flags & MSG_PEN_IN_RANGE || p->flags & MSG_PEN_CONTACT) {
		move(c, p->x, p->y);
		if (p->flags & MSG_PEN_CONTACT)
			mask |= 1u;
		if (p->flags & MSG_PEN_BUTTON1)
			mask |= 2u;
		if (p->flags & MSG_PEN_BUTTON2)
			mask |= 4u;
	}
	set_buttons(c, mask);
}

static int x11_inject(struct capture *c, const struct msg *m)
{
	if (c->dead)
		return -EIO;
	switch (m->type) {
	case MSG_KEY:
		inject_key(c, &m->u.key);
		break;
	case MSG_POINTER:
		move(c, m->u.pointer.x, m->u.pointer.y);
		set_buttons(c, m->u.pointer.buttons);
		break;
	case MSG_SCROLL:
		scroll(c, &c->scroll_y, m->u.scroll.dy, 4, 5); /* X11: 4 up, 5 down */
		scroll(c, &c->scroll_x, m->u.scroll.dx, 6, 7); /* 6 left, 7 right */
		break;
	case MSG_TOUCH:
		inject_touch(c, &m->u.touch);
		break;
	case MSG_PEN:
		inject_pen(c, &m->u.pen);
		break;
	default:
		return -ENOTSUP;
	}
	XFlush(c->dpy);
	return c->dead ? -EIO : 0;
}

static int x11_clipboard_set(struct capture *c, const char *text, size_t len)
{
	char *copy;

	if (c->dead)
		return -EIO;
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	free(c->clip_ours);
	c->clip_ours = copy;
	c->clip_ours_len = len;
	XSetSelectionOwner(c->dpy, c->a_clipboard, c->clip_win, CurrentTime);
	XFlush(c->dpy);
	return c->dead ? -EIO : 0;
}

static int x11_clipboard_get(struct capture *c, size_t max, char **text, size_t *len)
{
	c->clip_max = max; /* takes effect for the next fetch; the first call arms it */
	if (c->dead || !c->clip_new)
		return 0;
	*text = c->clip_new;
	*len = c->clip_new_len;
	c->clip_new = NULL;
	return 1;
}

/*
 * X has no event for pointer motion on the root window that another client
 * caused (xdotool, a script, the user at the server): ask, once per loop.
 * One round trip to a local server, a few tens of microseconds.
 */
static int x11_cursor_pos(struct capture *c, uint16_t *x, uint16_t *y)
{
	Window root, child;
	int rx, ry, wx, wy;
	unsigned mask;

	if (c->dead || !XQueryPointer(c->dpy, c->root, &root, &child, &rx, &ry, &wx, &wy, &mask))
		return 0;
	if (rx < 0 || ry < 0 || rx > 65535 || ry > 65535 ||
	    (rx == c->pointer_x && ry == c->pointer_y))
		return 0;
	c->pointer_x = rx;
	c->pointer_y = ry;
	*x = (uint16_t)rx;
	*y = (uint16_t)ry;
	return 1;
}

static int x11_cursor(struct capture *c, struct capture_cursor *out)
{
	if (c->dead)
		return 0;
	process_events(c);
	if (!c->cursor_changed || c->dead)
		return 0;
	c->cursor_changed = false;

	XFixesCursorImage *img = XFixesGetCursorImage(c->dpy);
	if (!img)
		return 0;
	if (c->cursor_sent && img->cursor_serial == c->cursor_serial) {
		XFree(img);
		return 0;
	}
	/* crop what the wire cannot carry (no real cursor is this big) */
	unsigned w = img->width > MSG_CURSOR_MAX ? MSG_CURSOR_MAX : img->width;
	unsigned h = img->height > MSG_CURSOR_MAX ? MSG_CURSOR_MAX : img->height;
	size_t need = (size_t)w * h * 4;
	if (need > c->cursor_cap) {
		uint8_t *p = realloc(c->cursor_pixels, need);
		if (!p) {
			XFree(img);
			return 0;
		}
		c->cursor_pixels = p;
		c->cursor_cap = need;
	}
	/*
	 * fixesproto, GetCursorImage: "32 bits per pixel with 8 bits of alpha
	 * in the most significant 8 bits ... The color components are
	 * pre-multiplied with the alpha component." Xlib hands each pixel in
	 * an unsigned long (64 bits on LP64); the low 32 bits are the ARGB.
	 */
	for (unsigned y = 0; y < h; y++) {
		for (unsigned x = 0; x < w; x++) {
			uint32_t argb = (uint32_t)img->pixels[(size_t)y * img->width + x];
			uint8_t *o = c->cursor_pixels + ((size_t)y * w + x) * 4;
			o[0] = (uint8_t)argb;
			o[1] = (uint8_t)(argb >> 8);
			o[2] = (uint8_t)(argb >> 16);
			o[3] = (uint8_t)(argb >> 24);
		}
	}
	out->width = (uint16_t)w;
	out->height = (uint16_t)h;
	out->hot_x = (uint16_t)(img->xhot < w ? img->xhot : (w ? w - 1 : 0));
	out->hot_y = (uint16_t)(img->yhot < h ? img->yhot : (h ? h - 1 : 0));
	out->pixels = c->cursor_pixels;
	c->cursor_serial = img->cursor_serial;
	c->cursor_sent = true;
	XFree(img);
	return 1;
}

/* ---- resizing (RandR 1.2) ---------------------------------------------- */

/* The one lit CRTC and its first output: what a resize changes. */
struct rr_target {
	XRRScreenResources *res;
	RRCrtc crtc;
	XRRCrtcInfo *ci;
	RROutput output;
};

static void rr_target_free(struct rr_target *t)
{
	if (t->ci)
		XRRFreeCrtcInfo(t->ci);
	if (t->res)
		XRRFreeScreenResources(t->res);
	memset(t, 0, sizeof(*t));
}

/* 0, or -ENOTSUP with why: no resources, no lit CRTC, or several (a multi-monitor screen). */
static int rr_target_get(struct capture *c, struct rr_target *t, char *why, size_t len)
{
	int lit = 0;

	memset(t, 0, sizeof(*t));
	t->res = XRRGetScreenResourcesCurrent(c->dpy, c->root);
	if (!t->res || c->dead) {
		snprintf(why, len, "the X server gives no RandR screen resources");
		goto fail;
	}
	for (int i = 0; i < t->res->ncrtc; i++) {
		XRRCrtcInfo *ci = XRRGetCrtcInfo(c->dpy, t->res, t->res->crtcs[i]);
		if (!ci)
			continue;
		if (ci->mode == None || ci->noutput < 1) {
			XRRFreeCrtcInfo(ci);
			continue;
		}
		if (lit++ == 0) {
			t->crtc = t->res->crtcs[i];
			t->ci = ci;
			t->output = ci->outputs[0];
		} else {
			XRRFreeCrtcInfo(ci);
		}
	}
	if (lit == 1)
		return 0;
	if (lit == 0)
		snprintf(why, len, "the X screen has no active monitor (RandR CRTC)");
	else
		snprintf(why, len, "the X screen has %d monitors; only one can follow the window",
			 lit);
fail:
	rr_target_free(t);
	return -ENOTSUP;
}

static bool is_ours(const XRRModeInfo *m)
{
	return m->name && strncmp(m->name, MODE_PREFIX, strlen(MODE_PREFIX)) == 0;
}

static const XRRModeInfo *mode_info(const XRRScreenResources *res, RRMode id)
{
	for (int i = 0; i < res->nmode; i++)
		if (res->modes[i].id == id)
			return &res->modes[i];
	return NULL;
}

/* Takes a mode of ours off every output that lists it and destroys it. Errors are ignored. */
static void mode_remove(struct capture *c, const XRRScreenResources *res, RRMode id)
{
	for (int i = 0; i < res->noutput; i++) {
		XRROutputInfo *oi = XRRGetOutputInfo(c->dpy, (XRRScreenResources *)res,
						     res->outputs[i]);
		if (!oi)
			continue;
		for (int k = 0; k < oi->nmode; k++)
			if (oi->modes[k] == id)
				XRRDeleteOutputMode(c->dpy, res->outputs[i], id);
		XRRFreeOutputInfo(oi);
	}
	XRRDestroyMode(c->dpy, id);
}

static RRMode mode_create(struct capture *c, int w, int h, const char *name)
{
	XRRModeInfo mi = {0};
	char buf[64];

	snprintf(buf, sizeof(buf), "%s", name);
	mi.width = (unsigned)w;
	mi.height = (unsigned)h;
	mi.hTotal = (unsigned)w;
	mi.vTotal = (unsigned)h;
	mi.dotClock = (unsigned long)w * (unsigned long)h * 60; /* 60 Hz, for the listings */
	mi.name = buf;
	mi.nameLength = (unsigned)strlen(buf);
	return XRRCreateMode(c->dpy, c->root, &mi);
}

/*
 * At open: whether this screen can be resized. Needs RandR >= 1.2, a size
 * range that lets the screen grow, one lit CRTC, and an output that accepts
 * a mode we make (tried with a test mode,
 * removed at once). Leftover modes of ours not shown are removed; one shown
 * becomes mode_ours, removed when replaced. Logs the verdict.
 */
static void rr_probe(struct capture *c)
{
	int ev, er, major = 0, minor = 0;
	struct rr_target t;
	char why[160] = "";
	RRMode test;

	if (!XRRQueryExtension(c->dpy, &ev, &er) || !XRRQueryVersion(c->dpy, &major, &minor)) {
		snprintf(why, sizeof(why), "the X server has no RandR extension");
		goto no;
	}
	if (major < 1 || (major == 1 && minor < 2)) {
		snprintf(why, sizeof(why), "RandR %d.%d is older than 1.2", major, minor);
		goto no;
	}
	if (!XRRGetScreenSizeRange(c->dpy, c->root, &c->min_w, &c->min_h, &c->max_w, &c->max_h) ||
	    (c->min_w == c->max_w && c->min_h == c->max_h)) {
		snprintf(why, sizeof(why), "the screen has one fixed size");
		goto no;
	}
	/*
	 * Xvfb allocates its framebuffer once, at its start size, and says so as
	 * RandR's maximum: it could shrink, never grow back past that. Following
	 * the window only while it is smaller would be a trap, so a screen that
	 * cannot grow is not resizable.
	 */
	if (c->max_w <= c->width && c->max_h <= c->height) {
		snprintf(why, sizeof(why),
			 "the screen cannot grow past its %dx%d (its largest size)", c->max_w,
			 c->max_h);
		goto no;
	}
	if (rr_target_get(c, &t, why, sizeof(why)) < 0)
		goto no;

	trap_begin(c);
	for (int i = 0; i < t.res->nmode; i++) {
		const XRRModeInfo *m = &t.res->modes[i];
		if (!is_ours(m))
			continue;
		if (m->id == t.ci->mode)
			c->mode_ours = m->id;
		else
			mode_remove(c, t.res, m->id);
	}
	trap_end(c);

	trap_begin(c);
	test = mode_create(c, c->width, c->height, MODE_PREFIX "probe");
	int err = trap_end(c);
	if (!err && test != None) {
		trap_begin(c);
		XRRAddOutputMode(c->dpy, t.output, test);
		err = trap_end(c);
		trap_begin(c);
		if (!err)
			XRRDeleteOutputMode(c->dpy, t.output, test);
		XRRDestroyMode(c->dpy, test);
		trap_end(c);
	}
	rr_target_free(&t);
	if (err || test == None || c->dead) {
		snprintf(why, sizeof(why), "its monitor takes no new modes (RandR error %d)", err);
		goto no;
	}
	c->can_resize = true;
	log_info("x11 %s: RandR %d.%d: the screen can follow the client's window (%dx%d .. "
		 "%dx%d)",
		 c->name, major, minor, c->min_w, c->min_h, c->max_w, c->max_h);
	return;
no:
	log_info("x11 %s: the screen cannot be resized to the client's window: %s", c->name, why);
}

static bool x11_can_resize(struct capture *c)
{
	return c->can_resize && !c->dead;
}

static int x11_resize(struct capture *c, int w, int h, char *why, size_t len)
{
	struct rr_target t;
	const XRRModeInfo *cur;
	RRMode mode = None, old = c->mode_ours;
	bool made = false;
	char name[64];
	int rc, err;

	why[0] = '\0';
	if (c->dead) {
		snprintf(why, len, "the desktop's X server is gone");
		return -EIO;
	}
	if (!c->can_resize) {
		snprintf(why, len, "this desktop's X server cannot change its screen size");
		return -ENOTSUP;
	}
	if (w < c->min_w || h < c->min_h || w > c->max_w || h > c->max_h) {
		snprintf(why, len, "%dx%d is outside the sizes this desktop takes (%dx%d .. %dx%d)",
			 w, h, c->min_w, c->min_h, c->max_w, c->max_h);
		return -ERANGE;
	}
	if ((rc = rr_target_get(c, &t, why, len)) < 0)
		return rc;
	cur = mode_info(t.res, t.ci->mode);
	if (cur && (int)cur->width == w && (int)cur->height == h && c->width == w &&
	    c->height == h) {
		rr_target_free(&t);
		return 0; /* already that size */
	}

	/* a mode of that size the output lists already (one of its own, or ours) */
	XRROutputInfo *oi = XRRGetOutputInfo(c->dpy, t.res, t.output);
	for (int k = 0; oi && k < oi->nmode && mode == None; k++) {
		const XRRModeInfo *m = mode_info(t.res, oi->modes[k]);
		if (m && (int)m->width == w && (int)m->height == h)
			mode = m->id;
	}
	if (oi)
		XRRFreeOutputInfo(oi);

	trap_begin(c);
	if (mode == None) {
		snprintf(name, sizeof(name), MODE_PREFIX "%dx%d", w, h);
		mode = mode_create(c, w, h, name);
		if (mode != None)
			XRRAddOutputMode(c->dpy, t.output, mode);
		made = true;
	}
	err = trap_end(c);
	if (err || mode == None) {
		snprintf(why, len, "the X server refused a %dx%d mode (RandR error %d)", w, h, err);
		if (mode != None) {
			trap_begin(c);
			mode_remove(c, t.res, mode);
			trap_end(c);
		}
		rr_target_free(&t);
		return c->dead ? -EIO : -EINVAL;
	}

	/*
	 * The CRTC must fit in the screen at every step (randrproto: SetCrtcConfig
	 * fails with BadMatch otherwise): grow the screen to hold both sizes, set
	 * the CRTC, then shrink the screen to the new size.
	 */
	int gw = w > c->width ? w : c->width, gh = h > c->height ? h : c->height;
	Status st;
	XGrabServer(c->dpy);
	trap_begin(c);
	if (gw != c->width || gh != c->height)
		XRRSetScreenSize(c->dpy, c->root, gw, gh, gw * MM_PER_INCH_X10 / 960,
				 gh * MM_PER_INCH_X10 / 960);
	st = XRRSetCrtcConfig(c->dpy, t.res, t.crtc, CurrentTime, 0, 0, mode, t.ci->rotation,
			      t.ci->outputs, t.ci->noutput);
	if (st == RRSetConfigSuccess && (gw != w || gh != h))
		XRRSetScreenSize(c->dpy, c->root, w, h, w * MM_PER_INCH_X10 / 960,
				 h * MM_PER_INCH_X10 / 960);
	err = trap_end(c);
	XUngrabServer(c->dpy);
	XFlush(c->dpy);
	if (st != RRSetConfigSuccess || err) {
		snprintf(why, len,
			 "the X server did not switch to %dx%d (RandR status %d, error %d)", w, h,
			 (int)st, err);
		trap_begin(c);
		if (made)
			mode_remove(c, t.res, mode);
		trap_end(c);
		rr_target_free(&t);
		return c->dead ? -EIO : -EINVAL;
	}
	const XRRModeInfo *om = old != None && old != mode ? mode_info(t.res, old) : NULL;
	if (om && is_ours(om)) { /* the mode we showed before: no longer used */
		trap_begin(c);
		mode_remove(c, t.res, old);
		if (trap_end(c))
			log_debug("x11 %s: the old mode 0x%lx could not be removed", c->name,
				  (unsigned long)old);
	}
	if (made) {
		c->mode_ours = mode;
	} else {
		const XRRModeInfo *nm = mode_info(t.res, mode);
		c->mode_ours = nm && is_ours(nm) ? mode : None;
	}
	rr_target_free(&t);
	log_info("x11 %s: screen set to %dx%d through RandR", c->name, w, h);
	return 0;
}

/*
 * Whether the server's keycodes are Linux evdev codes + 8 (Xorg with
 * evdev/libinput, Xvfb, Xvnc): Escape at 9 tells little (the old xfree86
 * keycodes agree there); Up at 111 tells them apart (xfree86 has it at 98).
 */
static bool keymap_is_evdev(Display *dpy)
{
	return XkbKeycodeToKeysym(dpy, 9, 0, 0) == XK_Escape &&
	       XkbKeycodeToKeysym(dpy, 111, 0, 0) == XK_Up;
}

static bool require(struct capture *c, bool present, const char *ext)
{
	if (!present)
		log_error("x11 %s: the X server lacks the %s extension", c->name, ext);
	return present;
}

static void x11_close(struct capture *c)
{
	if (!c)
		return;
	if (c->dpy) {
		fb_free(c);
		if (!c->dead) {
			if (c->buttons)
				set_buttons(c, 0); /* leave nothing held */
			if (c->damage)
				XDamageDestroy(c->dpy, c->damage);
			if (c->region)
				XFixesDestroyRegion(c->dpy, c->region);
		}
		XCloseDisplay(c->dpy);
	}
	free(c->cursor_pixels);
	free(c->clip_ours);
	free(c->clip_new);
	free(c->name);
	free(c);
}

/* Why open() failed, for the caller (capture.h capture_cfg.error). */
static struct capture *x11_open(const char *uri, const struct capture_cfg *cfg)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int timeout_ms = cfg && cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms
							    : DEFAULT_TIMEOUT_MS;

	if (!handles(uri)) {
		log_error("x11: '%s' is not an x11: URI", uri ? uri : "(none)");
		return NULL;
	}
	const char *name = uri + strlen(URI_PREFIX);
	if (!*name || !strchr(name, ':')) {
		log_error("x11: bad URI '%s': use x11::DISPLAY (x11::99 for DISPLAY=:99)", uri);
		return NULL;
	}

	struct capture *c = calloc(1, sizeof(*c));
	if (!c || !(c->name = strdup(name))) {
		log_error("x11: out of memory");
		free(c);
		return NULL;
	}
	pthread_once(&once, install_handlers);
	capture_report(cfg, CAPTURE_FAIL_UNREACHABLE, "the X display is not reachable");
	if (probe_tcp(name, timeout_ms) < 0)
		goto err;

	c->dpy = XOpenDisplay(name);
	if (!c->dpy) {
		log_error("x11 %s: cannot open the display (no X server there, or not "
			  "authorised: check XAUTHORITY)",
			  name);
		goto err;
	}
	/* Xlib did the handshake inside XOpenDisplay: confine now, before anything else */
	if (cfg && cfg->connected && cfg->connected(cfg->connected_ud) != 0) {
		capture_report(cfg, CAPTURE_FAIL_SANDBOX,
			       "the desktop's worker could not be confined");
		goto err;
	}
	capture_report(cfg, CAPTURE_FAIL_REFUSED, "the X display is not supported (see the log)");
	XSetIOErrorExitHandler(c->dpy, on_io_exit, c);
	c->screen = DefaultScreen(c->dpy);
	c->root = RootWindow(c->dpy, c->screen);
	c->pointer_x = c->pointer_y = -1;
	c->width = DisplayWidth(c->dpy, c->screen);
	c->height = DisplayHeight(c->dpy, c->screen);
	if ((uint64_t)c->width * (uint64_t)c->height > CAPTURE_AREA_MAX) {
		char why[200];
		snprintf(why, sizeof(why),
			 "the X screen is %dx%d, more than the %u pixels the encoder takes",
			 c->width, c->height, CAPTURE_AREA_MAX);
		log_error("x11 %s: %s", name, why);
		capture_report(cfg, CAPTURE_FAIL_REFUSED, why);
		goto err;
	}

	int ev, er, major = 0, minor = 0;
	c->use_shm = XShmQueryExtension(c->dpy);
	if (!c->use_shm)
		log_warn("x11 %s: no MIT-SHM extension: using XGetImage (slower)", name);
	/* both extensions want their version asked before any other request */
	if (!require(c, XDamageQueryExtension(c->dpy, &c->damage_event, &er), "DAMAGE") ||
	    !XDamageQueryVersion(c->dpy, &major, &minor))
		goto err;
	if (!require(c, XFixesQueryExtension(c->dpy, &c->fixes_event, &er), "XFIXES") ||
	    !XFixesQueryVersion(c->dpy, &major, &minor))
		goto err;
	if (major < 2) {
		log_error("x11 %s: XFIXES %d.%d is too old (regions need 2.0)", name, major, minor);
		goto err;
	}
	if (!require(c, XTestQueryExtension(c->dpy, &ev, &er, &major, &minor), "XTEST"))
		goto err;

	const char *why = check_visual(c);
	if (why) {
		log_error("x11 %s: unsupported screen: %s", name, why);
		goto err;
	}
	if (!fb_alloc(c))
		goto err;

	trap_begin(c);
	XSelectInput(c->dpy, c->root, StructureNotifyMask);
	c->damage = XDamageCreate(c->dpy, c->root, XDamageReportNonEmpty);
	c->region = XFixesCreateRegion(c->dpy, NULL, 0);
	XFixesSelectCursorInput(c->dpy, c->root, XFixesDisplayCursorNotifyMask);
	c->clip_win = XCreateSimpleWindow(c->dpy, c->root, -10, -10, 1, 1, 0, 0, 0);
	c->a_clipboard = XInternAtom(c->dpy, "CLIPBOARD", False);
	c->a_utf8 = XInternAtom(c->dpy, "UTF8_STRING", False);
	c->a_targets = XInternAtom(c->dpy, "TARGETS", False);
	c->a_text = XInternAtom(c->dpy, "TEXT", False);
	c->a_incr = XInternAtom(c->dpy, "INCR", False);
	c->a_prop = XInternAtom(c->dpy, "HIGHRISE_CLIPBOARD", False);
	XFixesSelectSelectionInput(c->dpy, c->clip_win, c->a_clipboard,
				   XFixesSetSelectionOwnerNotifyMask);
	XTestGrabControl(c->dpy, True); /* inject even while another client grabs the server */

	c->evdev_keymap = keymap_is_evdev(c->dpy);
	if (!c->evdev_keymap)
		log_warn("x11 %s: keycodes are not evdev's: keys go by keysym", name);
	unsigned char map[32];
	c->nbuttons = XGetPointerMapping(c->dpy, map, sizeof(map));
	int err = trap_end(c);
	if (err || c->dead) {
		log_error("x11 %s: setting up damage and cursor tracking failed (error %d)", name,
			  err);
		goto err;
	}
	c->reinit = true;
	c->cursor_changed = true;
	log_info("x11 %s: %dx%d, %s, %d buttons", name, c->width, c->height,
		 c->use_shm ? "MIT-SHM" : "XGetImage", c->nbuttons);
	rr_probe(c);
	c->wake_fd = cfg ? cfg->wake_fd : 0;
	return c;

err:
	x11_close(c);
	return NULL;
}

const struct capture_impl capture_x11 = {
	.name = "x11",
	.handles = handles,
	.reachable = x11_reachable,
	.open = x11_open,
	.close = x11_close,
	.next = x11_next,
	.inject = x11_inject,
	.cursor = x11_cursor,
	.cursor_pos = x11_cursor_pos,
	.clipboard_set = x11_clipboard_set,
	.clipboard_get = x11_clipboard_get,
	.can_resize = x11_can_resize,
	.resize = x11_resize,
};
