/* SPDX-License-Identifier: MIT */
/*
 * The VNC console backend against a real server: TigerVNC's Xvnc on a free
 * display and port, drawn into and read back through Xlib. Xvnc missing is a
 * failure, not a skip. Children die with the test (PR_SET_PDEATHSIG), also
 * when it crashes or the watchdog fires.
 */
#include "check.h"

#include "capture.h"
#include "clock.h"
#include "log.h"

#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/cursorfont.h>
#include <X11/keysym.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input-event-codes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PASSWORD       "s3cr3tpw"
#define WRONG_PASSWORD "wr0ngpw1"

static const struct capture_impl *const vnc = &capture_vnc;

/* ---- logs: kept for assertions, scanned for secrets ---- */

static char logbuf[1 << 16];
static size_t loglen;
static bool secret_logged;

static void sink(enum log_level level, const char *file, int line, const char *msg, void *ud)
{
	(void)file;
	(void)line;
	(void)ud;
	if (strstr(msg, PASSWORD) || strstr(msg, WRONG_PASSWORD))
		secret_logged = true;
	if (getenv("TEST_VERBOSE"))
		fprintf(stderr, "[%s] %s\n", log_level_name(level), msg);
	int n = snprintf(logbuf + loglen, sizeof(logbuf) - loglen, "%s\n", msg);
	if (n > 0 && (size_t)n < sizeof(logbuf) - loglen)
		loglen += (size_t)n;
}

static void log_clear(void)
{
	loglen = 0;
	logbuf[0] = '\0';
}

static bool logged(const char *needle)
{
	return strstr(logbuf, needle) != NULL;
}

/* ---- processes ---- */

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static pid_t spawn(char *const argv[])
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(126);
	if (!getenv("TEST_VERBOSE")) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
	}
	execvp(argv[0], argv);
	_exit(127);
}

/* Runs a short command to its end; its exit status, or -1. */
static int run(char *const argv[])
{
	pid_t pid = spawn(argv);
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int port = -1;
	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(s, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

static bool port_open(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (s >= 0)
		close(s);
	return ok;
}

struct xvnc {
	pid_t pid;
	int port;
	char display[16];
};

static int xerror_code;

static int on_xerror(Display *d, XErrorEvent *e)
{
	(void)d;
	xerror_code = e->error_code;
	return 0;
}

/* Starts Xvnc 800x600x24 on a free display and port; with passwd_file, VncAuth. */
static bool xvnc_start(struct xvnc *x, const char *passwd_file)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		int n = 20 + (int)((getpid() + attempt * 7) % 70);
		char path[64];
		snprintf(path, sizeof(path), "/tmp/.X%d-lock", n);
		if (access(path, F_OK) == 0)
			continue;
		snprintf(path, sizeof(path), "/tmp/.X11-unix/X%d", n);
		if (access(path, F_OK) == 0)
			continue;
		x->port = free_port();
		snprintf(x->display, sizeof(x->display), ":%d", n);
		char port[16];
		snprintf(port, sizeof(port), "%d", x->port);
		char *argv[] = {"Xvnc", x->display, "-geometry", "800x600", "-depth", "24",
				"-rfbport", port, "-localhost", "-nolisten", "tcp",
				"-BlacklistThreshold", "1000",
				/* use the key code when a client sends one (as QEMU does) */
				"-RawKeyboard", "-SecurityTypes", passwd_file ? "VncAuth" : "None",
				passwd_file ? "-PasswordFile" : NULL, (char *)passwd_file, NULL};
		x->pid = spawn(argv);
		if (x->pid < 0)
			return false;
		int64_t deadline = clock_mono_ms() + 8000;
		while (clock_mono_ms() < deadline) {
			int status;
			if (waitpid(x->pid, &status, WNOHANG) == x->pid) {
				x->pid = 0;
				if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
					fprintf(stderr, "Xvnc is not installed "
							"(tigervnc-standalone-server)\n");
					return false;
				}
				break; /* display taken after all: try another */
			}
			if (port_open(x->port)) {
				Display *d = XOpenDisplay(x->display);
				if (d) {
					XCloseDisplay(d);
					return true;
				}
			}
			sleep_ms(20);
		}
		if (x->pid > 0) {
			kill(x->pid, SIGKILL);
			waitpid(x->pid, NULL, 0);
			x->pid = 0;
		}
	}
	return false;
}

static void xvnc_stop(struct xvnc *x)
{
	if (x->pid > 0) {
		kill(x->pid, SIGTERM);
		int64_t deadline = clock_mono_ms() + 3000;
		while (waitpid(x->pid, NULL, WNOHANG) == 0 && clock_mono_ms() < deadline)
			sleep_ms(10);
		kill(x->pid, SIGKILL);
		waitpid(x->pid, NULL, 0);
		x->pid = 0;
	}
}

/* ---- frames ---- */

/* The pixel at x,y as 0xRRGGBB (bytes B,G,R,X in memory). */
static uint32_t pixel(const struct capture_frame *f, int x, int y)
{
	const uint8_t *p = f->pixels + (size_t)y * (size_t)f->stride + (size_t)x * 4;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static void fill(Display *d, uint32_t rgb, int x, int y, int w, int h)
{
	GC gc = DefaultGC(d, DefaultScreen(d));
	XSetForeground(d, gc, rgb); /* TrueColor 24: the pixel value is 0xRRGGBB */
	XFillRectangle(d, DefaultRootWindow(d), gc, x, y, (unsigned)w, (unsigned)h);
	XSync(d, False);
}

/* The pixel at x,y of the X screen itself, as 0xRRGGBB. */
static uint32_t xpixel(Display *d, int x, int y)
{
	XImage *img = XGetImage(d, DefaultRootWindow(d), x, y, 1, 1, AllPlanes, ZPixmap);
	if (!img)
		return 0xffffffffu;
	uint32_t v = (uint32_t)XGetPixel(img, 0, 0) & 0xffffff;
	XDestroyImage(img);
	return v;
}

/*
 * Calls next() until the pixel at px,py is rgb, marking every damaged pixel
 * in covered (w x h); true when the colour arrived.
 */
static bool wait_pixel(struct capture *c, struct capture_frame *f, int px, int py, uint32_t rgb,
		       bool *covered, int w, int h)
{
	int64_t deadline = clock_mono_ms() + 3000;
	while (clock_mono_ms() < deadline) {
		enum capture_status st = vnc->next(c, 100, f);
		if (st == CAPTURE_ERROR)
			return false;
		if (st != CAPTURE_OK && st != CAPTURE_REINIT)
			continue;
		for (size_t i = 0; i < f->ndamage; i++) {
			const struct rect *r = &f->damage[i];
			CHECK(r->x >= 0 && r->y >= 0 && r->x + r->width <= f->width &&
			      r->y + r->height <= f->height);
			for (int y = r->y; y < r->y + r->height && y < h; y++)
				for (int x = r->x; x < r->x + r->width && x < w; x++)
					covered[y * w + x] = true;
		}
		if (pixel(f, px, py) == rgb)
			return true;
	}
	return false;
}

static bool all_covered(const bool *covered, int w, int rx, int ry, int rw, int rh)
{
	for (int y = ry; y < ry + rh; y++)
		for (int x = rx; x < rx + rw; x++)
			if (!covered[y * w + x])
				return false;
	return true;
}

/* ---- input ---- */

static void key(struct capture *c, uint16_t scancode, uint32_t keysym, bool down)
{
	struct msg m = {.type = MSG_KEY};
	m.u.key.scancode = scancode;
	m.u.key.keysym = keysym;
	m.u.key.flags = down ? MSG_KEY_DOWN : 0;
	CHECK_INT_EQ(vnc->inject(c, &m), 0);
}

static void pointer(struct capture *c, uint16_t x, uint16_t y, uint8_t buttons)
{
	struct msg m = {.type = MSG_POINTER};
	m.u.pointer.x = x;
	m.u.pointer.y = y;
	m.u.pointer.buttons = buttons;
	CHECK_INT_EQ(vnc->inject(c, &m), 0);
}

static void scroll(struct capture *c, int16_t dx, int16_t dy)
{
	struct msg m = {.type = MSG_SCROLL};
	m.u.scroll.dx = dx;
	m.u.scroll.dy = dy;
	CHECK_INT_EQ(vnc->inject(c, &m), 0);
}

static void touch(struct capture *c, uint32_t id, uint8_t phase, uint16_t x, uint16_t y)
{
	struct msg m = {.type = MSG_TOUCH};
	m.u.touch.id = id;
	m.u.touch.phase = phase;
	m.u.touch.x = x;
	m.u.touch.y = y;
	CHECK_INT_EQ(vnc->inject(c, &m), 0);
}

static void pen(struct capture *c, uint8_t flags, uint16_t x, uint16_t y)
{
	struct msg m = {.type = MSG_PEN};
	m.u.pen.flags = flags;
	m.u.pen.x = x;
	m.u.pen.y = y;
	m.u.pen.pressure = flags & MSG_PEN_CONTACT ? 30000 : 0;
	CHECK_INT_EQ(vnc->inject(c, &m), 0);
}

/* The next key or button event on d within 2 s; type 0 when none came. */
static XEvent next_event(Display *d)
{
	XEvent ev = {0};
	int64_t deadline = clock_mono_ms() + 2000;
	while (clock_mono_ms() < deadline) {
		while (XPending(d)) {
			XNextEvent(d, &ev);
			if (ev.type == KeyPress || ev.type == KeyRelease ||
			    ev.type == ButtonPress || ev.type == ButtonRelease)
				return ev;
		}
		sleep_ms(5);
	}
	ev.type = 0;
	return ev;
}

/* Checks that the next event is a key event of type with keysym. */
static void expect_key(Display *d, int type, KeySym sym, int line)
{
	XEvent ev = next_event(d);
	if (ev.type != type || XLookupKeysym(&ev.xkey, 0) != sym) {
		fprintf(stderr, "line %d: expected key event %d keysym 0x%lx, got type %d 0x%lx\n",
			line, type, (unsigned long)sym, ev.type,
			ev.type ? (unsigned long)XLookupKeysym(&ev.xkey, 0) : 0ul);
		check_failed++;
	} else {
		check_passed++;
	}
}

/* Checks that the next event is a button event of type, button at window x,y (-1: any). */
static void expect_button(Display *d, int type, unsigned button, int x, int y, int line)
{
	XEvent ev = next_event(d);
	if (ev.type != type || ev.xbutton.button != button || (x >= 0 && ev.xbutton.x != x) ||
	    (y >= 0 && ev.xbutton.y != y)) {
		fprintf(stderr,
			"line %d: expected button event %d button %u at %d,%d, got type %d button "
			"%u at %d,%d\n",
			line, type, button, x, y, ev.type, ev.xbutton.button, ev.xbutton.x,
			ev.xbutton.y);
		check_failed++;
	} else {
		check_passed++;
	}
}

static void expect_quiet(Display *d, int line)
{
	sleep_ms(150);
	XEvent ev = {0};
	while (XPending(d)) {
		XNextEvent(d, &ev);
		if (ev.type == KeyPress || ev.type == KeyRelease || ev.type == ButtonPress ||
		    ev.type == ButtonRelease) {
			fprintf(stderr, "line %d: unexpected event type %d\n", line, ev.type);
			check_failed++;
			return;
		}
	}
	check_passed++;
}

static bool pointer_at(Display *d, int want_x, int want_y)
{
	int64_t deadline = clock_mono_ms() + 2000;
	int x = -1, y = -1;
	while (clock_mono_ms() < deadline) {
		Window root, child;
		int wx, wy;
		unsigned mask;
		XQueryPointer(d, DefaultRootWindow(d), &root, &child, &x, &y, &wx, &wy, &mask);
		if (x == want_x && y == want_y)
			return true;
		sleep_ms(10);
	}
	fprintf(stderr, "pointer at %d,%d, expected %d,%d\n", x, y, want_x, want_y);
	return false;
}

/* ---- tests ---- */

static void test_uris(void)
{
	CHECK(vnc->handles("vnc://127.0.0.1:5900"));
	CHECK(vnc->handles("VNC://host"));
	CHECK(!vnc->handles("x11::1"));
	CHECK(!vnc->handles("vnc:/host"));
	CHECK(!vnc->handles(NULL));
	CHECK(capture_find("vnc://h:5901") == &capture_vnc);

	static const char *const bad[] = {
		"vnc://",      "vnc://:5900",  "vnc://h:0",  "vnc://h:65536", "vnc://h:59a",
		"vnc://h:",    "vnc://[::1",   "vnc://[]:1", "vnc://h/x",     "vnc://u@h:1",
		"vnc://h:1:2", "vnc://[::1]x", "x11::1",     "vnc://h h",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		log_clear();
		struct capture *c = vnc->open(bad[i], NULL);
		CHECK(c == NULL);
		if (c)
			vnc->close(c);
		if (!logged("vnc: bad URI")) {
			fprintf(stderr, "no 'bad URI' for %s\n", bad[i]);
			check_failed++;
		}
	}
	vnc->close(NULL);
}

static void test_unreachable(void)
{
	/* Nothing listens on a port just freed. */
	int port = free_port();
	char uri[64], want[96];
	snprintf(uri, sizeof(uri), "vnc://127.0.0.1:%d", port);
	snprintf(want, sizeof(want), "vnc: cannot connect to 127.0.0.1:%d: Connection refused",
		 port);
	log_clear();
	int64_t t0 = clock_mono_ms();
	struct capture_error err = {.kind = CAPTURE_FAIL_SANDBOX};
	struct capture_cfg refused = {.error = &err};
	struct capture *c = vnc->open(uri, &refused);
	CHECK(c == NULL);
	CHECK(clock_mono_ms() - t0 < 1000);
	CHECK_INT_EQ(err.kind, CAPTURE_FAIL_UNREACHABLE);
	CHECK(strstr(err.why, "Connection refused") != NULL);
	if (!logged(want)) {
		fprintf(stderr, "missing log line '%s' in:\n%s", want, logbuf);
		check_failed++;
	}

	/* A server that accepts and never speaks: bounded by connect_timeout_ms. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	CHECK(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(listen(s, 4) == 0);
	CHECK(getsockname(s, (struct sockaddr *)&a, &len) == 0);
	snprintf(uri, sizeof(uri), "vnc://127.0.0.1:%d", ntohs(a.sin_port));
	err = (struct capture_error){.kind = CAPTURE_FAIL_SANDBOX};
	struct capture_cfg cfg = {.connect_timeout_ms = 400, .error = &err};
	log_clear();
	t0 = clock_mono_ms();
	c = vnc->open(uri, &cfg);
	int64_t took = clock_mono_ms() - t0;
	CHECK(c == NULL);
	CHECK(took >= 350 && took < 1500);
	CHECK(logged("sent no greeting"));
	CHECK_INT_EQ(err.kind, CAPTURE_FAIL_UNREACHABLE);
	CHECK(strstr(err.why, "no greeting") != NULL);
	close(s);
}

static void test_session(struct xvnc *x)
{
	Display *d = XOpenDisplay(x->display);
	CHECK(d != NULL);
	if (!d)
		return;
	XSetErrorHandler(on_xerror);

	/* Known content before connecting. */
	fill(d, 0x3366cc, 0, 0, 800, 600);
	fill(d, 0xff8000, 100, 100, 200, 150);

	char uri[64];
	snprintf(uri, sizeof(uri), "vnc://127.0.0.1:%d", x->port);
	struct capture *c = vnc->open(uri, NULL);
	CHECK(c != NULL);
	if (!c) {
		XCloseDisplay(d);
		return;
	}

	/* The first frame: REINIT, the whole screen, exact pixels. */
	struct capture_frame f;
	memset(&f, 0, sizeof(f));
	int64_t t0 = clock_mono_ms();
	CHECK_INT_EQ(vnc->next(c, 2000, &f), CAPTURE_REINIT);
	CHECK(clock_mono_ms() - t0 < 500); /* open() already waited for it */
	CHECK_INT_EQ(f.width, 800);
	CHECK_INT_EQ(f.height, 600);
	CHECK_INT_EQ(f.stride, 800 * 4);
	CHECK_INT_EQ(f.ndamage, 1);
	CHECK(f.damage[0].x == 0 && f.damage[0].y == 0 && f.damage[0].width == 800 &&
	      f.damage[0].height == 600);
	CHECK_INT_EQ(pixel(&f, 10, 10), 0x3366cc);
	CHECK_INT_EQ(pixel(&f, 799, 599), 0x3366cc);
	CHECK_INT_EQ(pixel(&f, 150, 150), 0xff8000);
	CHECK_INT_EQ(pixel(&f, 100, 100), 0xff8000);
	CHECK_INT_EQ(pixel(&f, 299, 249), 0xff8000);
	CHECK_INT_EQ(pixel(&f, 99, 99), 0x3366cc);
	CHECK_INT_EQ(pixel(&f, 300, 250), 0x3366cc);
	CHECK_INT_EQ(f.pixels[10 * f.stride + 10 * 4 + 0], 0xcc); /* B,G,R in memory */
	CHECK_INT_EQ(f.pixels[10 * f.stride + 10 * 4 + 1], 0x66);
	CHECK_INT_EQ(f.pixels[10 * f.stride + 10 * 4 + 2], 0x33);

	/* Nothing changes: AGAIN after the timeout. */
	while (vnc->next(c, 200, &f) == CAPTURE_OK)
		;
	t0 = clock_mono_ms();
	CHECK_INT_EQ(vnc->next(c, 200, &f), CAPTURE_AGAIN);
	int64_t took = clock_mono_ms() - t0;
	CHECK(took >= 150 && took < 1000);

	/* A change: OK, with damage covering it. */
	static bool covered[800 * 600];
	memset(covered, 0, sizeof(covered));
	fill(d, 0x00ff00, 400, 300, 50, 40);
	CHECK(wait_pixel(c, &f, 425, 320, 0x00ff00, covered, 800, 600));
	CHECK(all_covered(covered, 800, 400, 300, 50, 40));
	CHECK_INT_EQ(pixel(&f, 400, 300), 0x00ff00);
	CHECK_INT_EQ(pixel(&f, 449, 339), 0x00ff00);
	CHECK_INT_EQ(pixel(&f, 450, 340), 0x3366cc);
	CHECK_INT_EQ(pixel(&f, 150, 150), 0xff8000);
	CHECK(f.ndamage >= 1 && f.ndamage <= CAPTURE_DAMAGE_MAX);

	/* Many scattered changes: at most CAPTURE_DAMAGE_MAX rectangles, still covering all. */
	memset(covered, 0, sizeof(covered));
	for (int i = 0; i < 100; i++)
		fill(d, 0xffffff, 5 + (i % 10) * 40, 400 + (i / 10) * 18, 3, 3);
	CHECK(wait_pixel(c, &f, 5 + 9 * 40 + 1, 400 + 9 * 18 + 1, 0xffffff, covered, 800, 600));
	for (int i = 0; i < 100; i++)
		CHECK(all_covered(covered, 800, 5 + (i % 10) * 40, 400 + (i / 10) * 18, 3, 3));

	/* A window that records input and has its own cursor shape. */
	Window root = DefaultRootWindow(d);
	XSetWindowAttributes wa = {
		.override_redirect = True,
		.background_pixel = 0xffffff,
		.event_mask = KeyPressMask | KeyReleaseMask | ButtonPressMask | ButtonReleaseMask,
	};
	Window w = XCreateWindow(d, root, 500, 50, 200, 200, 0, CopyFromParent, InputOutput,
				 CopyFromParent, CWOverrideRedirect | CWBackPixel | CWEventMask,
				 &wa);
	Cursor cross = XCreateFontCursor(d, XC_crosshair);
	XDefineCursor(d, w, cross);
	XMapRaised(d, w);
	XSync(d, False);
	XSetInputFocus(d, w, RevertToPointerRoot, CurrentTime);
	XSync(d, False);
	memset(covered, 0, sizeof(covered));
	CHECK(wait_pixel(c, &f, 600, 150, 0xffffff, covered, 800, 600));

	/* Pointer moves. */
	pointer(c, 123, 234, 0);
	CHECK(pointer_at(d, 123, 234));
	pointer(c, 5000, 5000, 0); /* clamped to the screen */
	CHECK(pointer_at(d, 799, 599));

	/* Clicks: RFB buttons 1 left, 2 middle, 3 right. */
	pointer(c, 550, 100, 0);
	CHECK(pointer_at(d, 550, 100));
	pointer(c, 550, 100, 1);
	pointer(c, 550, 100, 0);
	expect_button(d, ButtonPress, Button1, 50, 50, __LINE__);
	expect_button(d, ButtonRelease, Button1, 50, 50, __LINE__);
	pointer(c, 551, 101, 4);
	pointer(c, 551, 101, 0);
	expect_button(d, ButtonPress, Button3, 51, 51, __LINE__);
	expect_button(d, ButtonRelease, Button3, 51, 51, __LINE__);
	pointer(c, 552, 102, 2);
	pointer(c, 552, 102, 0);
	expect_button(d, ButtonPress, Button2, 52, 52, __LINE__);
	expect_button(d, ButtonRelease, Button2, 52, 52, __LINE__);
	/*
	 * POINTER's buttons 4..8 are extra buttons (back, forward), never wheels:
	 * the first goes out as RFB's button 8, which Xvnc 1.12's 7-button
	 * pointer drops, and the rest have no place in RFB's mask. Either way no
	 * wheel click (X buttons 4..7) may come of them.
	 */
	pointer(c, 552, 102, 0xf8);
	pointer(c, 552, 102, 0);
	expect_quiet(d, __LINE__);

	/* The cursor over the window is X's crosshair: a shape with a hot spot. */
	struct capture_cursor cur = {0};
	int got = 0;
	int64_t deadline = clock_mono_ms() + 3000;
	while (clock_mono_ms() < deadline) {
		vnc->next(c, 50, &f);
		int r = vnc->cursor(c, &cur);
		CHECK(r == 0 || r == 1);
		if (r == 1 && cur.width >= 8) {
			got = 1;
			break;
		}
	}
	CHECK(got);
	if (got) {
		CHECK(cur.width <= MSG_CURSOR_MAX && cur.height <= MSG_CURSOR_MAX);
		CHECK(cur.hot_x < cur.width && cur.hot_y < cur.height);
		int opaque = 0, clear = 0, premultiplied = 1;
		for (size_t i = 0; i < (size_t)cur.width * cur.height; i++) {
			const uint8_t *p = cur.pixels + i * 4;
			opaque += p[3] == 0xff;
			clear += p[3] == 0;
			if (p[0] > p[3] || p[1] > p[3] || p[2] > p[3])
				premultiplied = 0;
		}
		CHECK(opaque > 0);
		CHECK(clear > 0);
		CHECK(premultiplied);
		CHECK_INT_EQ(vnc->cursor(c, &cur), 0); /* unchanged since */
	}

	/* Wheels: dy > 0 is down (button 5), dx > 0 right (button 7); remainders add up. */
	scroll(c, 0, 120);
	expect_button(d, ButtonPress, Button5, 52, 52, __LINE__);
	expect_button(d, ButtonRelease, Button5, 52, 52, __LINE__);
	scroll(c, 0, -240);
	expect_button(d, ButtonPress, Button4, -1, -1, __LINE__);
	expect_button(d, ButtonRelease, Button4, -1, -1, __LINE__);
	expect_button(d, ButtonPress, Button4, -1, -1, __LINE__);
	expect_button(d, ButtonRelease, Button4, -1, -1, __LINE__);
	scroll(c, 0, 60);
	expect_quiet(d, __LINE__);
	scroll(c, 0, 60);
	expect_button(d, ButtonPress, Button5, -1, -1, __LINE__);
	expect_button(d, ButtonRelease, Button5, -1, -1, __LINE__);
	scroll(c, 120, 0);
	expect_button(d, ButtonPress, 7, -1, -1, __LINE__);
	expect_button(d, ButtonRelease, 7, -1, -1, __LINE__);
	scroll(c, -120, 0);
	expect_button(d, ButtonPress, 6, -1, -1, __LINE__);
	expect_button(d, ButtonRelease, 6, -1, -1, __LINE__);

	/* Keys: the scancode wins over the keysym when the server takes QEMU key events. */
	key(c, KEY_Q, XK_w, true);
	key(c, KEY_Q, XK_w, false);
	expect_key(d, KeyPress, XK_q, __LINE__);
	expect_key(d, KeyRelease, XK_q, __LINE__);
	key(c, KEY_RIGHTCTRL, XK_Control_R, true); /* an extended (0xe0) key */
	key(c, KEY_RIGHTCTRL, XK_Control_R, false);
	expect_key(d, KeyPress, XK_Control_R, __LINE__);
	expect_key(d, KeyRelease, XK_Control_R, __LINE__);
	key(c, 0, XK_b, true); /* no scancode: the keysym */
	key(c, 0, XK_b, false);
	expect_key(d, KeyPress, XK_b, __LINE__);
	expect_key(d, KeyRelease, XK_b, __LINE__);

	/* Touch: one finger is the left button; a second finger is ignored. */
	touch(c, 7, MSG_TOUCH_BEGIN, 600, 150);
	expect_button(d, ButtonPress, Button1, 100, 100, __LINE__);
	touch(c, 8, MSG_TOUCH_BEGIN, 520, 60);
	touch(c, 7, MSG_TOUCH_UPDATE, 610, 160);
	touch(c, 7, MSG_TOUCH_END, 610, 160);
	expect_button(d, ButtonRelease, Button1, 110, 110, __LINE__);
	expect_quiet(d, __LINE__);

	/* Pen: hover moves, the tip is the left button, barrel button 1 right-clicks. */
	pen(c, MSG_PEN_IN_RANGE, 520, 70);
	CHECK(pointer_at(d, 520, 70));
	pen(c, MSG_PEN_IN_RANGE | MSG_PEN_CONTACT, 521, 71);
	expect_button(d, ButtonPress, Button1, 21, 21, __LINE__);
	pen(c, MSG_PEN_IN_RANGE, 522, 72);
	expect_button(d, ButtonRelease, Button1, 22, 22, __LINE__);
	pen(c, MSG_PEN_IN_RANGE | MSG_PEN_BUTTON1, 522, 72);
	pen(c, MSG_PEN_IN_RANGE, 522, 72);
	expect_button(d, ButtonPress, Button3, 22, 22, __LINE__);
	expect_button(d, ButtonRelease, Button3, 22, 22, __LINE__);

	/* Not input: refused. */
	struct msg ack = {.type = MSG_ACK};
	CHECK_INT_EQ(vnc->inject(c, &ack), -ENOTSUP);

	/* A resize: REINIT with the new size, then the new area's pixels. */
	XDestroyWindow(d, w);
	XFreeCursor(d, cross);
	XSync(d, False);
	char *xrandr[] = {"xrandr", "-display", x->display, "-s", "1024x768", NULL};
	CHECK_INT_EQ(run(xrandr), 0);
	/* REINIT once the whole new screen is in: well before the 3 s timeout. */
	enum capture_status st;
	t0 = clock_mono_ms();
	while ((st = vnc->next(c, 3000, &f)) == CAPTURE_OK)
		;
	CHECK_INT_EQ(st, CAPTURE_REINIT);
	CHECK(clock_mono_ms() - t0 < 2500);
	CHECK_INT_EQ(f.width, 1024);
	CHECK_INT_EQ(f.height, 768);
	CHECK_INT_EQ(f.stride, 1024 * 4);
	CHECK_INT_EQ(f.ndamage, 1);
	CHECK(f.damage[0].width == 1024 && f.damage[0].height == 768);
	/* What the server shows after its repaint, pixel for pixel. */
	CHECK_INT_EQ(pixel(&f, 150, 150), xpixel(d, 150, 150));
	CHECK_INT_EQ(pixel(&f, 1000, 700), xpixel(d, 1000, 700));
	CHECK_INT_EQ(pixel(&f, 425, 320), xpixel(d, 425, 320));
	static bool covered_big[1024 * 768];
	fill(d, 0x123456, 0, 0, 1024, 768);
	CHECK(wait_pixel(c, &f, 1000, 700, 0x123456, covered_big, 1024, 768));
	CHECK_INT_EQ(pixel(&f, 1023, 767), 0x123456);
	CHECK_INT_EQ(pixel(&f, 0, 0), 0x123456);
	CHECK(xerror_code == 0);
	XCloseDisplay(d);

	/*
	 * The console goes away. Input written to the dead socket must fail
	 * with -EIO, not kill us with SIGPIPE (left at its default above);
	 * next() says ERROR, not a crash.
	 */
	xvnc_stop(x);
	struct msg m = {.type = MSG_POINTER};
	int rc = 0;
	for (int i = 0; i < 50 && rc == 0; i++) {
		m.u.pointer.x = (uint16_t)i;
		rc = vnc->inject(c, &m);
		sleep_ms(10);
	}
	CHECK_INT_EQ(rc, -EIO);
	CHECK_INT_EQ(vnc->next(c, 10, &f), CAPTURE_ERROR);
	CHECK_INT_EQ(vnc->inject(c, &m), -EIO);
	CHECK(logged("vnc: connection to 127.0.0.1:"));
	vnc->close(c);

	/* And its port is now dead: open fails cleanly. */
	log_clear();
	c = vnc->open(uri, NULL);
	CHECK(c == NULL);
	CHECK(logged("Connection refused"));
}

static void test_ipv6(const struct xvnc *x)
{
	/* Hosts without an IPv6 loopback cannot run this part. */
	int s6 = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	bool have_v6 = s6 >= 0 && bind(s6, (struct sockaddr *)&a6, sizeof(a6)) == 0;
	if (s6 >= 0)
		close(s6);
	if (!have_v6) {
		printf("test_capture_vnc: no IPv6 loopback, [::1] case SKIPPED\n");
		return;
	}
	char uri[64];
	snprintf(uri, sizeof(uri), "vnc://[::1]:%d/", x->port);
	struct capture *c = vnc->open(uri, NULL);
	CHECK(c != NULL);
	if (!c)
		return;
	struct capture_frame f;
	CHECK_INT_EQ(vnc->next(c, 2000, &f), CAPTURE_REINIT);
	CHECK_INT_EQ(f.width, 800);
	vnc->close(c);
}

static void test_password(void)
{
	char dir[] = "/tmp/test_capture_vnc.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char file[96], cmd[160];
	snprintf(file, sizeof(file), "%s/passwd", dir);
	snprintf(cmd, sizeof(cmd), "vncpasswd -f > %s", file);
	FILE *p = popen(cmd, "w");
	CHECK(p != NULL);
	if (!p)
		return;
	fputs(PASSWORD "\n", p);
	CHECK_INT_EQ(pclose(p), 0);

	struct xvnc x = {0};
	bool up = xvnc_start(&x, file);
	CHECK(up);
	if (up) {
		char uri[64];
		snprintf(uri, sizeof(uri), "vnc://127.0.0.1:%d", x.port);
		log_set_level(LOG_LEVEL_DEBUG); /* nothing may print the password, at any level */

		struct capture_cfg good = {.password = PASSWORD};
		struct capture *c = vnc->open(uri, &good);
		CHECK(c != NULL);
		if (c) {
			struct capture_frame f;
			CHECK_INT_EQ(vnc->next(c, 2000, &f), CAPTURE_REINIT);
			CHECK_INT_EQ(f.width, 800);
			CHECK_INT_EQ(f.height, 600);
			vnc->close(c);
		}

		struct capture_error err = {.kind = CAPTURE_FAIL_UNREACHABLE};
		struct capture_cfg bad = {.password = WRONG_PASSWORD, .error = &err};
		log_clear();
		c = vnc->open(uri, &bad);
		CHECK(c == NULL);
		CHECK(logged("vnc: authentication failed"));
		CHECK_INT_EQ(err.kind, CAPTURE_FAIL_AUTH);
		CHECK(strstr(err.why, "refused the agent's credentials") != NULL);

		err.kind = CAPTURE_FAIL_UNREACHABLE;
		struct capture_cfg none = {.error = &err};
		log_clear();
		c = vnc->open(uri, &none);
		CHECK(c == NULL);
		CHECK(logged("asks for a password and none is configured"));
		CHECK_INT_EQ(err.kind, CAPTURE_FAIL_AUTH);

		log_set_level(getenv("TEST_VERBOSE") ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
		CHECK(!secret_logged);
	}
	xvnc_stop(&x);
	unlink(file);
	rmdir(dir);
}

/* A 640x480 24-bit BMP of one colour, for SeaBIOS's boot splash. */
static bool write_bmp(const char *path, uint32_t rgb)
{
	enum {
		W = 640,
		H = 480,
		DATA = W * H * 3
	};
	static uint8_t bmp[54 + DATA];
	const uint32_t hdr[] = {54 + DATA, 0, 54, 40, W, H};
	memset(bmp, 0, 54);
	bmp[0] = 'B';
	bmp[1] = 'M';
	for (size_t i = 0; i < 6; i++)
		for (int b = 0; b < 4; b++)
			bmp[2 + i * 4 + (size_t)b] = (uint8_t)(hdr[i] >> (8 * b));
	bmp[26] = 1;  /* planes */
	bmp[28] = 24; /* bits per pixel */
	for (size_t i = 0; i < DATA; i += 3) {
		bmp[54 + i] = (uint8_t)rgb; /* B, G, R */
		bmp[54 + i + 1] = (uint8_t)(rgb >> 8);
		bmp[54 + i + 2] = (uint8_t)(rgb >> 16);
	}
	FILE *f = fopen(path, "wb");
	if (!f)
		return false;
	bool ok = fwrite(bmp, 1, sizeof(bmp), f) == sizeof(bmp);
	return fclose(f) == 0 && ok;
}

/*
 * QEMU's own VNC server: SeaBIOS shows a 640x480 splash, then its 720x400
 * text console, so the guest resizes the console twice within seconds. QEMU
 * announces such resizes differently from Xvnc (and libvncclient's
 * ExtendedDesktopSize path drops them), so this is its own case.
 */
static void test_qemu(void)
{
	char *probe[] = {"qemu-system-x86_64", "-version", NULL};
	if (run(probe) != 0) {
		printf("test_capture_vnc: qemu-system-x86_64 not found, QEMU case SKIPPED\n");
		return;
	}
	char dir[] = "/tmp/test_capture_vnc.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char bmp[96], boot[160];
	snprintf(bmp, sizeof(bmp), "%s/splash.bmp", dir);
	CHECK(write_bmp(bmp, 0xe08020));
	snprintf(boot, sizeof(boot), "menu=on,splash=%s,splash-time=1500", bmp);

	/* -vnc takes a display number: port 5900 + n. */
	int n = 0;
	for (int i = 0; i < 200 && !n; i++) {
		int cand = 100 + (int)((getpid() + i * 13) % 3000);
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)(5900 + cand)),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0)
			n = cand;
		if (s >= 0)
			close(s);
	}
	char vncarg[32];
	snprintf(vncarg, sizeof(vncarg), "127.0.0.1:%d", n);
	char *argv[] = {"qemu-system-x86_64",
			"-display",
			"none",
			"-vnc",
			vncarg,
			"-nodefaults",
			"-vga",
			"std",
			"-machine",
			"accel=tcg",
			"-m",
			"32",
			"-boot",
			boot,
			NULL};
	pid_t pid = spawn(argv);
	int64_t deadline = clock_mono_ms() + 5000;
	while (!port_open(5900 + n) && clock_mono_ms() < deadline)
		sleep_ms(10);

	char uri[64];
	snprintf(uri, sizeof(uri), "vnc://127.0.0.1:%d", 5900 + n);
	struct capture *c = vnc->open(uri, NULL);
	CHECK(c != NULL);
	bool seen_splash = false, seen_text = false;
	int reinits = 0;
	if (c) {
		struct capture_frame f;
		deadline = clock_mono_ms() + 10000;
		while (clock_mono_ms() < deadline && !(seen_splash && seen_text && reinits >= 2)) {
			enum capture_status st = vnc->next(c, 100, &f);
			CHECK(st != CAPTURE_ERROR);
			if (st == CAPTURE_ERROR)
				break;
			reinits += st == CAPTURE_REINIT;
			if ((st == CAPTURE_REINIT || st == CAPTURE_OK) && f.width == 640 &&
			    f.height == 480 && pixel(&f, 320, 240) == 0xe08020)
				seen_splash = true;
			if (st == CAPTURE_REINIT && f.width == 720 && f.height == 400 &&
			    seen_splash)
				seen_text = true;
		}
		vnc->close(c);
	}
	CHECK(seen_splash); /* the splash's exact colour, through VGA and VNC */
	CHECK(seen_text);   /* then the resize to the text console: REINIT, not ERROR */
	CHECK(reinits >= 2);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(bmp);
	rmdir(dir);
}

/* ---- a hostile console (tests/fixtures/rfb/hostile-rfb.c) ---- */

struct hostile {
	pid_t pid;
	int port;
};

/* Starts hostile-rfb in mode on a free port; false when it did not come up. */
static bool hostile_start(struct hostile *h, const char *mode)
{
	int out[2];
	if (pipe(out) < 0)
		return false;
	pid_t parent = getpid();
	h->pid = fork();
	if (h->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		execl(HIGHRISE_HOSTILE_RFB, "hostile-rfb", "--port", "0", "--mode", mode,
		      (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	char line[128] = "";
	size_t len = 0;
	struct pollfd pfd = {.fd = out[0], .events = POLLIN};
	int64_t deadline = clock_mono_ms() + 5000;
	while (len < sizeof(line) - 1 && !strchr(line, '\n') && clock_mono_ms() < deadline) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		ssize_t n = read(out[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
	}
	close(out[0]);
	h->port = 0;
	if (sscanf(line, "listening on 127.0.0.1 port %d", &h->port) != 1 || h->port <= 0) {
		fprintf(stderr, "hostile-rfb %s did not start: '%s'\n", mode, line);
		return false;
	}
	return true;
}

static void hostile_stop(struct hostile *h)
{
	if (h->pid > 0) {
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
		h->pid = 0;
	}
}

static struct capture *hostile_open(const struct hostile *h, struct capture_cfg *cfg)
{
	char uri[64];
	snprintf(uri, sizeof(uri), "vnc://127.0.0.1:%d", h->port);
	struct capture *c = vnc->open(uri, cfg);
	if (!c && !(cfg && cfg->error)) /* not expected to fail: say why it did */
		fprintf(stderr, "open %s failed:\n%s", uri, logbuf);
	return c;
}

/* Calls next() until CAPTURE_ERROR or ms pass; the time it took, or -1. */
static int64_t until_error(struct capture *c, int ms)
{
	struct capture_frame f;
	int64_t t0 = clock_mono_ms();
	while (clock_mono_ms() - t0 < ms)
		if (vnc->next(c, 100, &f) == CAPTURE_ERROR)
			return clock_mono_ms() - t0;
	return -1;
}

/*
 * cfg->connected, for a console that does not exist yet: the TCP connect
 * completes against a listening socket nobody accepts on; only here do we
 * accept it and connect it to a real (normal) hostile-rfb through a relay.
 * If open() read a byte before calling us, it would have met silence.
 */
struct relay {
	int listener, a, b;
	int port; /* hostile-rfb's */
	int calls;
	int answer; /* what connected() returns */
	pthread_t thread;
	bool running;
};

static void *relay_run(void *arg)
{
	struct relay *r = arg;
	char buf[65536];
	struct pollfd pfd[2] = {{.fd = r->a, .events = POLLIN}, {.fd = r->b, .events = POLLIN}};
	for (;;) {
		if (poll(pfd, 2, -1) < 0)
			break;
		for (int i = 0; i < 2; i++) {
			if (!pfd[i].revents)
				continue;
			ssize_t n = read(pfd[i].fd, buf, sizeof(buf));
			if (n <= 0)
				goto out;
			int to = i == 0 ? r->b : r->a;
			for (ssize_t off = 0; off < n;) {
				ssize_t w = write(to, buf + off, (size_t)(n - off));
				if (w <= 0)
					goto out;
				off += w;
			}
		}
	}
out:
	shutdown(r->a, SHUT_RDWR);
	shutdown(r->b, SHUT_RDWR);
	return NULL;
}

static int on_connected(void *ud)
{
	struct relay *r = ud;
	r->calls++;
	if (r->answer != 0)
		return r->answer;
	r->a = accept(r->listener, NULL, NULL);
	r->b = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)r->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (r->a < 0 || r->b < 0 || connect(r->b, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	r->running = pthread_create(&r->thread, NULL, relay_run, r) == 0;
	return r->running ? 0 : -1;
}

static void test_connected(const struct hostile *h)
{
	struct relay r = {.listener = -1, .a = -1, .b = -1, .port = h->port};
	r.listener = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	CHECK(bind(r.listener, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(listen(r.listener, 4) == 0);
	CHECK(getsockname(r.listener, (struct sockaddr *)&a, &len) == 0);
	char uri[64];
	snprintf(uri, sizeof(uri), "vnc://127.0.0.1:%d", ntohs(a.sin_port));

	struct capture_error err = {.kind = CAPTURE_FAIL_UNREACHABLE};
	struct capture_cfg cfg = {.connect_timeout_ms = 2000,
				  .connected = on_connected,
				  .connected_ud = &r,
				  .error = &err};
	struct capture *c = vnc->open(uri, &cfg);
	CHECK(c != NULL);
	CHECK_INT_EQ(r.calls, 1);
	if (c) {
		struct capture_frame f;
		CHECK_INT_EQ(vnc->next(c, 2000, &f), CAPTURE_REINIT);
		CHECK_INT_EQ(f.width, 1024);
		CHECK_INT_EQ(pixel(&f, 10, 10), 0x3366cc);
		vnc->close(c);
	}
	if (r.running)
		pthread_join(r.thread, NULL);
	if (r.a >= 0)
		close(r.a);
	if (r.b >= 0)
		close(r.b);

	/* A worker that cannot confine itself talks to no console. */
	r = (struct relay){.listener = r.listener, .a = -1, .b = -1, .answer = -1};
	log_clear();
	c = vnc->open(uri, &cfg);
	CHECK(c == NULL);
	CHECK_INT_EQ(r.calls, 1);
	CHECK_INT_EQ(err.kind, CAPTURE_FAIL_SANDBOX);
	CHECK(logged("cannot confine itself"));
	close(r.listener);
}

/* The 128x128 square hostile-rfb's zlib-empty/ultra-empty modes draw: all zeros, never the marker. */
static void test_empty_rects(const char *mode)
{
	struct hostile h = {0};
	CHECK(hostile_start(&h, mode));
	struct capture *c = h.pid > 0 ? hostile_open(&h, NULL) : NULL;
	CHECK(c != NULL);
	int drawn = 0, marked = 0;
	if (c) {
		struct capture_frame f;
		int64_t t0 = clock_mono_ms();
		while (clock_mono_ms() - t0 < 1500) {
			enum capture_status st = vnc->next(c, 100, &f);
			CHECK(st != CAPTURE_ERROR);
			if (st == CAPTURE_ERROR)
				break;
			if (st != CAPTURE_OK)
				continue;
			bool zero = true;
			for (int y = 0; y < 128 && zero; y++)
				for (int x = 0; x < 128 && zero; x++)
					zero = pixel(&f, x, y) == 0;
			drawn += zero;
			marked += memmem(f.pixels, (size_t)f.stride * (size_t)f.height,
					 "HOSTILE-MARK", 12) != NULL;
		}
		vnc->close(c);
	}
	if (!drawn || marked)
		fprintf(stderr, "%s: %d frames with a zeroed square, %d with the marker\n", mode,
			drawn, marked);
	CHECK(drawn > 0);
	CHECK_INT_EQ(marked, 0);
	hostile_stop(&h);
}

static void test_hostile(void)
{
	struct hostile h = {0};
	struct capture_error err;
	struct capture_cfg cfg = {.error = &err};
	struct capture *c;

	/* ServerInit at 16384x16384: refused before a byte of it is allocated. */
	CHECK(hostile_start(&h, "huge"));
	err.kind = CAPTURE_FAIL_UNREACHABLE;
	log_clear();
	c = hostile_open(&h, &cfg);
	CHECK(c == NULL);
	CHECK_INT_EQ(err.kind, CAPTURE_FAIL_REFUSED);
	CHECK(strstr(err.why, "16384x16384, more than the 35651584 pixels the encoder takes"));
	CHECK(logged("more than the 35651584 pixels"));
	hostile_stop(&h);

	/* A console that fails VNC authentication, and one that blacklisted us. */
	static const char *const auth_modes[] = {"auth-fail", "auth-blacklist"};
	for (size_t i = 0; i < 2; i++) {
		CHECK(hostile_start(&h, auth_modes[i]));
		struct capture_cfg pw = {.password = WRONG_PASSWORD, .error = &err};
		err.kind = CAPTURE_FAIL_UNREACHABLE;
		c = hostile_open(&h, &pw);
		CHECK(c == NULL);
		CHECK_INT_EQ(err.kind, CAPTURE_FAIL_AUTH);
		hostile_stop(&h);
	}

	CHECK(hostile_start(&h, "normal"));
	if (h.pid > 0)
		test_connected(&h);
	hostile_stop(&h);

	/* Tight JPEG, never asked for: refused before any JPEG decoder sees it. */
	CHECK(hostile_start(&h, "tight-jpeg"));
	log_clear();
	c = hostile_open(&h, NULL);
	CHECK(c != NULL);
	if (c) {
		int64_t took = until_error(c, 3000);
		CHECK(took >= 0);
		CHECK(logged("sent a JPEG rectangle"));
		vnc->close(c);
	}
	hostile_stop(&h);

	/* Half a FramebufferUpdate, 0.5 s after the first frame, then silence. */
	CHECK(hostile_start(&h, "stall"));
	log_clear();
	struct capture_cfg stall_cfg = {.read_timeout_s = 5};
	c = hostile_open(&h, &stall_cfg);
	CHECK(c != NULL);
	if (c) {
		int64_t took = until_error(c, 10000);
		if (took < 4000 || took > 6500)
			fprintf(stderr, "stall: ERROR after %lld ms\n%s", (long long)took, logbuf);
		CHECK(took >= 4000 && took <= 500 + 5000 + 1000);
		CHECK(logged("the console stopped answering in the middle of a message"));
		vnc->close(c);
	}
	hostile_stop(&h);

	/* Grown to 16384x16384 while open: ERROR, with the reason. */
	CHECK(hostile_start(&h, "resize-huge"));
	log_clear();
	c = hostile_open(&h, NULL);
	CHECK(c != NULL);
	if (c) {
		CHECK(until_error(c, 3000) >= 0);
		CHECK(logged("16384x16384, more than the 35651584 pixels the encoder takes"));
		vnc->close(c);
	}
	hostile_stop(&h);

	test_empty_rects("zlib-empty");
	test_empty_rects("ultra-empty");
}

int main(void)
{
	alarm(90);		  /* a hang ends the test, and PR_SET_PDEATHSIG its servers */
	signal(SIGPIPE, SIG_DFL); /* the backend must not rely on it being ignored */
	log_set_sink(sink, NULL);
	log_set_level(getenv("TEST_VERBOSE") ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);

	test_uris();
	test_unreachable();
	test_hostile();

	struct xvnc x = {0};
	bool up = xvnc_start(&x, NULL);
	CHECK(up); /* Xvnc missing is a failure */
	if (up) {
		test_ipv6(&x);
		test_session(&x);
	}
	xvnc_stop(&x);

	test_password();
	test_qemu();

	log_set_sink(NULL, NULL);
	return check_done("test_capture_vnc");
}
