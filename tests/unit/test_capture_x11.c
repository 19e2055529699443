/* SPDX-License-Identifier: MIT */
/*
 * capture_x11 against a real Xvfb with highrise-testapp drawing known
 * patterns (tests/fixtures/x11/pattern.h) and logging the input it gets.
 * Xvfb missing is a failure, not a skip: this is the X11 backend's test.
 */
#include "check.h"

#include "capture.h"
#include "clock.h"
#include "log.h"
#include "pattern.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input-event-codes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef HIGHRISE_TESTAPP
#error "HIGHRISE_TESTAPP (the highrise-testapp path) comes from tests/fixtures/x11/CMakeLists.txt"
#endif

#define XVFB	  "Xvfb"
#define WAIT_MS	  5000
#define MAX_KIDS  16
#define LOGBUF_SZ 16384

static char tmpdir[64];
static pid_t kids[MAX_KIDS];
static char logbuf[LOGBUF_SZ]; /* what the code under test logged */
static size_t loglen;

struct desktop {
	int display;
	int width, height;
	pid_t xvfb, app;
	int app_in; /* the app's stdin */
	char log[128], xvfb_log[128];
};

static void sink(enum log_level level, const char *file, int line, const char *msg, void *ud)
{
	(void)ud;
	fprintf(stderr, "  [%s %s:%d] %s\n", log_level_name(level), file, line, msg);
	int n = snprintf(logbuf + loglen, sizeof(logbuf) - loglen, "%s\n", msg);
	if (n > 0 && loglen + (size_t)n < sizeof(logbuf))
		loglen += (size_t)n;
}

static bool logged(const char *needle)
{
	return strstr(logbuf, needle) != NULL;
}

static void log_clear(void)
{
	loglen = 0;
	logbuf[0] = '\0';
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static void kid_add(pid_t pid)
{
	for (int i = 0; i < MAX_KIDS; i++)
		if (!kids[i]) {
			kids[i] = pid;
			return;
		}
}

/* Stops a child (SIGTERM, then SIGKILL after a second) and reaps it. */
static void kid_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			goto reaped;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
reaped:
	for (int i = 0; i < MAX_KIDS; i++)
		if (kids[i] == pid)
			kids[i] = 0;
}

static void kids_stop_all(void)
{
	for (int i = 0; i < MAX_KIDS; i++)
		if (kids[i])
			kid_stop(kids[i]);
}

/*
 * fork + exec with stdin from in_fd (or /dev/null) and stdout/stderr to
 * out_path. The child dies with us (PR_SET_PDEATHSIG) even if we crash.
 */
static pid_t spawn(char *const argv[], int in_fd, int keep_fd, const char *out_path)
{
	pid_t pid = fork();
	if (pid != 0) {
		if (pid > 0)
			kid_add(pid);
		return pid;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int in = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
	int out = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (in < 0 || out < 0)
		_exit(126);
	dup2(in, 0);
	dup2(out, 1);
	dup2(out, 2);
	for (int fd = 3; fd < 1024; fd++)
		if (fd != keep_fd)
			close(fd);
	execvp(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static bool display_free(int n)
{
	char p[64];
	snprintf(p, sizeof(p), "/tmp/.X%d-lock", n);
	if (access(p, F_OK) == 0)
		return false;
	snprintf(p, sizeof(p), "/tmp/.X11-unix/X%d", n);
	return access(p, F_OK) != 0;
}

static void print_file(const char *path)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "---- %s\n%s----\n", path, buf);
}

/*
 * Starts Xvfb on a free display; -displayfd tells us when it accepts
 * connections. extra: more arguments (NULL-terminated list), may be NULL.
 */
static bool xvfb_start(struct desktop *d, int w, int h, const char *const *extra)
{
	static int next_display;
	if (!next_display)
		next_display = 300 + getpid() % 400;

	for (int attempt = 0; attempt < 20; attempt++) {
		int n = next_display++;
		if (!display_free(n))
			continue;
		int fds[2];
		if (pipe(fds) < 0)
			return false;
		char disp[16], screen[32], fdarg[16];
		snprintf(disp, sizeof(disp), ":%d", n);
		snprintf(screen, sizeof(screen), "%dx%dx24", w, h);
		snprintf(fdarg, sizeof(fdarg), "%d", fds[1]);
		char *argv[32] = {XVFB,	       disp,  "-screen",  "0",		screen,
				  "-nolisten", "tcp", "-noreset", "-displayfd", fdarg};
		int argc = 10;
		for (int i = 0; extra && extra[i] && argc < 30; i++)
			argv[argc++] = (char *)extra[i];
		argv[argc] = NULL;
		snprintf(d->xvfb_log, sizeof(d->xvfb_log), "%s/xvfb%d.log", tmpdir, n);

		pid_t pid = spawn(argv, -1, fds[1], d->xvfb_log);
		close(fds[1]);
		if (pid < 0) {
			close(fds[0]);
			return false;
		}
		/* Xvfb writes the number, then "\n", and dies if the pipe is gone between */
		char buf[16] = "";
		size_t got = 0;
		int64_t end = clock_mono_ms() + 10000;
		while (got < sizeof(buf) - 1 && !memchr(buf, '\n', got)) {
			struct pollfd p = {.fd = fds[0], .events = POLLIN};
			int left = (int)(end - clock_mono_ms());
			if (left <= 0 || poll(&p, 1, left) != 1)
				break;
			ssize_t r = read(fds[0], buf + got, sizeof(buf) - 1 - got);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		close(fds[0]);
		if (memchr(buf, '\n', got) && atoi(buf) == n) {
			d->display = n;
			d->width = w;
			d->height = h;
			d->xvfb = pid;
			return true;
		}
		/* lost a race for the display, or Xvfb cannot run at all */
		kid_stop(pid);
		print_file(d->xvfb_log);
	}
	fprintf(stderr, "could not start %s\n", XVFB);
	return false;
}

static int count_lines(const char *path, const char *line)
{
	char buf[65536];
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf + 1, 1, sizeof(buf) - 2, f);
	fclose(f);
	buf[0] = '\n';
	buf[n + 1] = '\0';

	char want[256];
	snprintf(want, sizeof(want), "\n%s\n", line);
	int count = 0;
	for (const char *p = buf; (p = strstr(p, want)); p += strlen(want) - 1)
		count++;
	return count;
}

/* Waits until the app's log has line (count times in all). */
static bool wait_line_n(struct desktop *d, const char *line, int count)
{
	int64_t end = clock_mono_ms() + WAIT_MS;
	do {
		if (count_lines(d->log, line) >= count)
			return true;
		sleep_ms(5);
	} while (clock_mono_ms() < end);
	fprintf(stderr, "timed out waiting for '%s' in %s\n", line, d->log);
	print_file(d->log);
	return false;
}

static bool wait_line(struct desktop *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool wait_line(struct desktop *d, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	return wait_line_n(d, line, 1);
}

static bool app_start(struct desktop *d)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return false;
	char disp[16];
	snprintf(disp, sizeof(disp), ":%d", d->display);
	snprintf(d->log, sizeof(d->log), "%s/app%d.log", tmpdir, d->display);
	char *argv[] = {HIGHRISE_TESTAPP, "--display", disp, "--log", d->log, NULL};
	char out[160];
	snprintf(out, sizeof(out), "%s/app%d.err", tmpdir, d->display);
	d->app = spawn(argv, fds[0], -1, out);
	close(fds[0]);
	d->app_in = fds[1];
	if (d->app < 0)
		return false;
	if (!wait_line(d, "ready")) {
		print_file(out);
		return false;
	}
	return true;
}

static void app_send(struct desktop *d, const char *cmd)
{
	size_t n = strlen(cmd);
	if (write(d->app_in, cmd, n) != (ssize_t)n)
		fprintf(stderr, "write to testapp: %s\n", strerror(errno));
}

static void desktop_stop(struct desktop *d)
{
	if (d->app_in > 0)
		close(d->app_in);
	d->app_in = -1;
	kid_stop(d->app);
	kid_stop(d->xvfb);
	d->app = d->xvfb = 0;
}

static bool desktop_start(struct desktop *d, int w, int h, const char *const *extra)
{
	memset(d, 0, sizeof(*d));
	d->app_in = -1;
	if (!xvfb_start(d, w, h, extra))
		return false;
	if (!app_start(d)) {
		print_file(d->xvfb_log);
		desktop_stop(d);
		return false;
	}
	return true;
}

static char *uri_of(struct desktop *d, char *buf, size_t len)
{
	snprintf(buf, len, "x11::%d", d->display);
	return buf;
}

/* The app's --dump of what it drew, as RGB. */
static uint8_t *app_dump(struct desktop *d, const char *name)
{
	char path[160], cmd[200], done[200];
	snprintf(path, sizeof(path), "%s/%s.ppm", tmpdir, name);
	snprintf(cmd, sizeof(cmd), "dump %s\n", path);
	snprintf(done, sizeof(done), "dumped %s", path);
	int before = count_lines(d->log, done);
	app_send(d, cmd);
	if (!wait_line_n(d, done, before + 1))
		return NULL;

	FILE *f = fopen(path, "rb");
	int w = 0, h = 0, max = 0;
	if (!f)
		return NULL;
	uint8_t *rgb = NULL;
	if (fscanf(f, "P6 %d %d %d", &w, &h, &max) == 3 && fgetc(f) == '\n' && w == d->width &&
	    h == d->height && max == 255) {
		rgb = malloc((size_t)w * (size_t)h * 3);
		if (rgb && fread(rgb, 3, (size_t)w * (size_t)h, f) != (size_t)w * (size_t)h) {
			free(rgb);
			rgb = NULL;
		}
	}
	fclose(f);
	unlink(path);
	return rgb;
}

/* Pixels of the frame that differ from the RGB reference. */
static long frame_diff(const struct capture_frame *f, const uint8_t *rgb)
{
	long bad = 0;
	for (int y = 0; y < f->height; y++) {
		const uint8_t *row = f->pixels + (size_t)y * (size_t)f->stride;
		const uint8_t *ref = rgb + (size_t)y * (size_t)f->width * 3;
		for (int x = 0; x < f->width; x++)
			if (row[x * 4 + 2] != ref[x * 3] || row[x * 4 + 1] != ref[x * 3 + 1] ||
			    row[x * 4] != ref[x * 3 + 2])
				bad++;
	}
	return bad;
}

static uint32_t frame_rgb(const struct capture_frame *f, int x, int y)
{
	const uint8_t *p = f->pixels + (size_t)y * (size_t)f->stride + (size_t)x * 4;
	return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static bool damaged(const struct capture_frame *f, int x, int y)
{
	for (size_t i = 0; i < f->ndamage; i++) {
		const struct rect *r = &f->damage[i];
		if (x >= r->x && x < r->x + r->width && y >= r->y && y < r->y + r->height)
			return true;
	}
	return false;
}

/* Whether the frame's damage covers every pixel of the box; *area gets the damage's area. */
static bool damage_covers(const struct capture_frame *f, struct pattern_box b, long *area)
{
	*area = 0;
	for (size_t i = 0; i < f->ndamage; i++)
		*area += (long)f->damage[i].width * f->damage[i].height;
	for (int y = b.y; y < b.y + b.height; y++)
		for (int x = b.x; x < b.x + b.width; x++)
			if (!damaged(f, x, y))
				return false;
	return true;
}

static void test_uris(void)
{
	CHECK(capture_x11.handles("x11::99"));
	CHECK(capture_x11.handles("x11:localhost:99"));
	CHECK(!capture_x11.handles("vnc://127.0.0.1:5900"));
	CHECK(!capture_x11.handles(NULL));
	CHECK(capture_find("x11::99") == &capture_x11);

	log_clear();
	CHECK(capture_x11.open("x11:", NULL) == NULL);
	CHECK(logged("bad URI"));
	log_clear();
	CHECK(capture_x11.open("x11:99", NULL) == NULL);
	CHECK(logged("bad URI"));
}

static void test_no_display(void)
{
	int n = 999;
	while (!display_free(n))
		n--;
	char uri[32], want[64];
	snprintf(uri, sizeof(uri), "x11::%d", n);
	snprintf(want, sizeof(want), ":%d: cannot open the display", n);
	log_clear();
	int64_t t0 = clock_mono_ms();
	CHECK(capture_x11.open(uri, NULL) == NULL);
	CHECK(clock_mono_ms() - t0 < 2000);
	CHECK(logged(want));

	/* over TCP: refused at once, and said so (nothing listens on 6000 + n) */
	snprintf(uri, sizeof(uri), "x11:127.0.0.1:%d", n);
	log_clear();
	t0 = clock_mono_ms();
	CHECK(capture_x11.open(uri, NULL) == NULL);
	CHECK(clock_mono_ms() - t0 < 2000);
	CHECK(logged("no X server answers"));
}

/* Colour bands and the bottom quarters at sampled points. */
static void check_samples(const struct capture_frame *f)
{
	int w = f->width, h = f->height, top = h / 2;
	for (int i = 0; i < 8; i++) {
		int x = (i * w / 8 + (i + 1) * w / 8) / 2;
		CHECK_INT_EQ(frame_rgb(f, x, h / 4), pattern_band_rgb[i]);
		CHECK_INT_EQ(frame_rgb(f, i * w / 8, 0), pattern_band_rgb[i]);
		CHECK_INT_EQ(frame_rgb(f, (i + 1) * w / 8 - 1, top - 1), pattern_band_rgb[i]);
	}
	CHECK_INT_EQ(frame_rgb(f, PATTERN_CHECKER / 2, top + PATTERN_CHECKER / 2), 0xffffff);
	CHECK_INT_EQ(frame_rgb(f, PATTERN_CHECKER * 3 / 2, top + PATTERN_CHECKER / 2), 0);
	CHECK_INT_EQ(frame_rgb(f, PATTERN_CHECKER / 2, top + PATTERN_CHECKER * 3 / 2), 0);
	CHECK_INT_EQ(frame_rgb(f, w / 4, h - 1), 0x000000);   /* ramp starts black */
	CHECK_INT_EQ(frame_rgb(f, w / 2 - 1, top), 0xffffff); /* and ends white */
	CHECK_INT_EQ(frame_rgb(f, w - 1, h - 1), PATTERN_SOLID_RGB);
	CHECK_INT_EQ(frame_rgb(f, w * 3 / 4 - 1, h - 1), 0xffffff); /* text background */
	/* text: some black pixels in the first line */
	long black = 0;
	for (int y = top; y < top + 20; y++)
		for (int x = w / 2; x < w * 3 / 4; x++)
			black += frame_rgb(f, x, y) == 0;
	CHECK(black > 100);
}

static void test_capture(struct desktop *d, struct capture *c)
{
	struct capture_frame f;
	memset(&f, 0, sizeof(f));

	/* first: the whole screen */
	CHECK_INT_EQ(capture_x11.next(c, 2000, &f), CAPTURE_REINIT);
	CHECK_INT_EQ(f.width, d->width);
	CHECK_INT_EQ(f.height, d->height);
	CHECK_INT_EQ(f.stride, d->width * 4);
	CHECK_INT_EQ(f.ndamage, 1);
	CHECK(f.copy_us > 0); /* VIDEO's capture stage: the whole screen was copied */
	CHECK_INT_EQ(f.damage[0].x, 0);
	CHECK_INT_EQ(f.damage[0].y, 0);
	CHECK_INT_EQ(f.damage[0].width, d->width);
	CHECK_INT_EQ(f.damage[0].height, d->height);
	if (!f.pixels || f.width != d->width || f.height != d->height)
		return;
	check_samples(&f);
	uint8_t *ref0 = app_dump(d, "pattern0");
	CHECK(ref0 != NULL);
	if (ref0)
		CHECK_INT_EQ(frame_diff(&f, ref0), 0);

	/* idle: nothing, and not before the time is up */
	int64_t t0 = clock_mono_ms();
	CHECK_INT_EQ(capture_x11.next(c, 500, &f), CAPTURE_AGAIN);
	int64_t dt = clock_mono_ms() - t0;
	CHECK(dt >= 490 && dt < 1000);
	CHECK_INT_EQ(capture_x11.next(c, 0, &f), CAPTURE_AGAIN);

	/* a change: the box, and only about the box */
	struct pattern_box b = pattern_box(d->width, d->height);
	long area = 0;
	app_send(d, "pattern 1\n");
	CHECK(wait_line(d, "pattern 1"));
	CHECK_INT_EQ(capture_x11.next(c, 2000, &f), CAPTURE_OK);
	CHECK(f.ndamage >= 1 && f.ndamage <= CAPTURE_DAMAGE_MAX);
	CHECK(f.copy_us > 0);
	CHECK(damage_covers(&f, b, &area));
	CHECK(area >= (long)b.width * b.height && area <= 2L * b.width * b.height);
	if (area > 2L * b.width * b.height)
		for (size_t i = 0; i < f.ndamage; i++)
			fprintf(stderr, "  damage %d,%d %dx%d\n", f.damage[i].x, f.damage[i].y,
				f.damage[i].width, f.damage[i].height);
	CHECK_INT_EQ(frame_rgb(&f, b.x, b.y), PATTERN_BOX_RGB);
	CHECK_INT_EQ(frame_rgb(&f, b.x + b.width - 1, b.y + b.height - 1), PATTERN_BOX_RGB);
	CHECK(frame_rgb(&f, b.x - 1, b.y) != PATTERN_BOX_RGB);
	CHECK(frame_rgb(&f, b.x + b.width, b.y + b.height) != PATTERN_BOX_RGB);
	uint8_t *ref1 = app_dump(d, "pattern1");
	CHECK(ref1 != NULL);
	if (ref1)
		CHECK_INT_EQ(frame_diff(&f, ref1), 0);
	CHECK_INT_EQ(capture_x11.next(c, 200, &f), CAPTURE_AGAIN);

	/* more separate changes than a frame lists: merged into their bounds (by signal) */
	kill(d->app, SIGUSR1);
	CHECK(wait_line(d, "pattern 2"));
	CHECK_INT_EQ(capture_x11.next(c, 2000, &f), CAPTURE_OK);
	CHECK_INT_EQ(f.ndamage, 1);
	CHECK(damage_covers(&f, b, &area));
	for (int j = 0; j < PATTERN_DOTS; j++)
		for (int i = 0; i < PATTERN_DOTS; i++) {
			struct pattern_box dot = pattern_dot(d->width, d->height, i, j);
			CHECK(damage_covers(&f, dot, &area));
			CHECK_INT_EQ(frame_rgb(&f, dot.x, dot.y), PATTERN_BOX_RGB);
		}
	uint8_t *ref2 = app_dump(d, "pattern2");
	CHECK(ref2 != NULL);
	if (ref2)
		CHECK_INT_EQ(frame_diff(&f, ref2), 0);

	/* and back */
	app_send(d, "pattern 0\n");
	CHECK(wait_line(d, "pattern 0"));
	CHECK_INT_EQ(capture_x11.next(c, 2000, &f), CAPTURE_OK);
	CHECK(damage_covers(&f, pattern_dot(d->width, d->height, 0, 0), &area));
	CHECK(damage_covers(&f, pattern_dot(d->width, d->height, 9, 9), &area));
	if (ref0)
		CHECK_INT_EQ(frame_diff(&f, ref0), 0);
	CHECK_INT_EQ(capture_x11.next(c, 200, &f), CAPTURE_AGAIN);
	free(ref0);
	free(ref1);
	free(ref2);
}

static struct msg pointer(int x, int y, uint8_t buttons)
{
	struct msg m = {.type = MSG_POINTER};
	m.u.pointer.x = (uint16_t)x;
	m.u.pointer.y = (uint16_t)y;
	m.u.pointer.buttons = buttons;
	return m;
}

static struct msg key(uint16_t scancode, uint32_t keysym, bool down)
{
	struct msg m = {.type = MSG_KEY};
	m.u.key.scancode = scancode;
	m.u.key.keysym = keysym;
	m.u.key.flags = down ? MSG_KEY_DOWN : 0;
	return m;
}

static struct msg scroll(int dx, int dy)
{
	struct msg m = {.type = MSG_SCROLL};
	m.u.scroll.dx = (int16_t)dx;
	m.u.scroll.dy = (int16_t)dy;
	return m;
}

static int inject(struct capture *c, struct msg m)
{
	return capture_x11.inject(c, &m);
}

static void test_input(struct desktop *d, struct capture *c)
{
	/* left click */
	CHECK_INT_EQ(inject(c, pointer(300, 700, 0)), 0);
	CHECK_INT_EQ(inject(c, pointer(300, 700, 1)), 0);
	CHECK_INT_EQ(inject(c, pointer(300, 700, 0)), 0);
	CHECK(wait_line(d, "click 300 700 1"));
	CHECK(wait_line(d, "release 300 700 1"));

	/* right, middle; "back" (bit 3) is X button 8, past the wheel buttons */
	CHECK_INT_EQ(inject(c, pointer(310, 710, 4)), 0);
	CHECK_INT_EQ(inject(c, pointer(310, 710, 6)), 0);
	CHECK_INT_EQ(inject(c, pointer(310, 710, 0)), 0);
	CHECK(wait_line(d, "click 310 710 3"));
	CHECK(wait_line(d, "click 310 710 2"));
	CHECK(wait_line(d, "release 310 710 3"));
	CHECK_INT_EQ(inject(c, pointer(311, 711, 8)), 0);
	CHECK_INT_EQ(inject(c, pointer(311, 711, 0)), 0);
	CHECK(wait_line(d, "click 311 711 8"));
	CHECK_INT_EQ(count_lines(d->log, "click 311 711 4"), 0);

	/* keys: by evdev code, and by keysym alone (shifted level too) */
	CHECK_INT_EQ(inject(c, key(KEY_A, 0x61, true)), 0);
	CHECK_INT_EQ(inject(c, key(KEY_A, 0x61, false)), 0);
	CHECK(wait_line(d, "key a"));
	CHECK(wait_line(d, "keyup a"));
	CHECK_INT_EQ(inject(c, key(0, 'b', true)), 0);
	CHECK_INT_EQ(inject(c, key(0, 'b', false)), 0);
	CHECK(wait_line(d, "key b"));
	CHECK_INT_EQ(inject(c, key(0, 'A', true)), 0);
	CHECK_INT_EQ(inject(c, key(0, 'A', false)), 0);
	CHECK(wait_line(d, "key A"));
	CHECK_INT_EQ(inject(c, key(KEY_ENTER, 0, true)), 0);
	CHECK_INT_EQ(inject(c, key(KEY_ENTER, 0, false)), 0);
	CHECK(wait_line(d, "key Return"));

	/* scroll: 120 is a click, halves add up */
	CHECK_INT_EQ(inject(c, pointer(320, 720, 0)), 0);
	CHECK_INT_EQ(inject(c, scroll(0, 120)), 0);
	CHECK(wait_line(d, "click 320 720 5"));
	CHECK_INT_EQ(inject(c, scroll(0, -60)), 0);
	CHECK_INT_EQ(inject(c, scroll(0, -60)), 0);
	CHECK_INT_EQ(inject(c, scroll(120, 0)), 0);
	CHECK_INT_EQ(inject(c, scroll(-240, 0)), 0);
	CHECK(wait_line(d, "click 320 720 4"));
	CHECK(wait_line(d, "click 320 720 7"));
	CHECK(wait_line_n(d, "click 320 720 6", 2));
	CHECK_INT_EQ(inject(c, key(KEY_Z, 0, true)), 0);
	CHECK_INT_EQ(inject(c, key(KEY_Z, 0, false)), 0);
	CHECK(wait_line(d, "keyup z"));
	CHECK_INT_EQ(count_lines(d->log, "click 320 720 4"), 1);
	CHECK_INT_EQ(count_lines(d->log, "click 320 720 5"), 1);

	/* touch: the first finger is the left button */
	struct msg t = {.type = MSG_TOUCH};
	t.u.touch = (struct msg_touch){.id = 7, .phase = MSG_TOUCH_BEGIN, .x = 400, .y = 300};
	CHECK_INT_EQ(inject(c, t), 0);
	t.u.touch = (struct msg_touch){.id = 8, .phase = MSG_TOUCH_BEGIN, .x = 900, .y = 900};
	CHECK_INT_EQ(inject(c, t), 0); /* a second finger: ignored */
	t.u.touch = (struct msg_touch){.id = 7, .phase = MSG_TOUCH_UPDATE, .x = 410, .y = 310};
	CHECK_INT_EQ(inject(c, t), 0);
	t.u.touch = (struct msg_touch){.id = 7, .phase = MSG_TOUCH_END, .x = 420, .y = 320};
	CHECK_INT_EQ(inject(c, t), 0);
	CHECK(wait_line(d, "click 400 300 1"));
	CHECK(wait_line(d, "release 420 320 1"));
	CHECK_INT_EQ(count_lines(d->log, "click 900 900 1"), 0);

	/* pen: hovering moves, the tip clicks */
	struct msg p = {.type = MSG_PEN};
	p.u.pen = (struct msg_pen){.flags = MSG_PEN_IN_RANGE, .x = 500, .y = 300};
	CHECK_INT_EQ(inject(c, p), 0);
	p.u.pen.flags = MSG_PEN_IN_RANGE | MSG_PEN_CONTACT;
	p.u.pen.pressure = 30000;
	CHECK_INT_EQ(inject(c, p), 0);
	p.u.pen.flags = MSG_PEN_IN_RANGE;
	p.u.pen.x = 505;
	CHECK_INT_EQ(inject(c, p), 0);
	CHECK(wait_line(d, "click 500 300 1"));
	CHECK(wait_line(d, "release 505 300 1"));

	struct msg ping = {.type = MSG_PING};
	CHECK_INT_EQ(inject(c, ping), -ENOTSUP);

	/* the pointer moving is not damage: XFixes carries the cursor, not the frame */
	struct capture_frame f;
	CHECK_INT_EQ(capture_x11.next(c, 0, &f), CAPTURE_AGAIN);
	for (int i = 0; i < 20; i++)
		CHECK_INT_EQ(inject(c, pointer(600 + i * 10, 200 + i * 5, 0)), 0);
	CHECK_INT_EQ(capture_x11.next(c, 300, &f), CAPTURE_AGAIN);
}

/* Polls cursor() for a while: the change arrives as an event. */
static int cursor_wait(struct capture *c, struct capture_cursor *cur)
{
	int64_t end = clock_mono_ms() + WAIT_MS;
	int rc;
	while ((rc = capture_x11.cursor(c, cur)) == 0 && clock_mono_ms() < end)
		sleep_ms(5);
	return rc;
}

static void test_cursor(struct desktop *d, struct capture *c)
{
	struct capture_cursor cur;
	memset(&cur, 0, sizeof(cur));
	CHECK_INT_EQ(capture_x11.cursor(c, &cur), 1);
	CHECK(cur.width > 0 && cur.height > 0);
	CHECK(cur.hot_x < cur.width && cur.hot_y < cur.height);
	if (cur.width && cur.pixels) {
		int opaque = 0, premul_ok = 1;
		for (int i = 0; i < cur.width * cur.height; i++) {
			const uint8_t *px = cur.pixels + i * 4;
			opaque += px[3] == 0xff;
			if (px[0] > px[3] || px[1] > px[3] || px[2] > px[3])
				premul_ok = 0;
		}
		CHECK(opaque > 0);
		CHECK(premul_ok);
		fprintf(stderr, "  cursor %ux%u hot %u,%u\n", cur.width, cur.height, cur.hot_x,
			cur.hot_y);
	}
	CHECK_INT_EQ(capture_x11.cursor(c, &cur), 0); /* unchanged */

	/* the app shows another shape over its window (the pointer is there) */
	uint16_t w0 = cur.width, h0 = cur.height, hx0 = cur.hot_x, hy0 = cur.hot_y;
	app_send(d, "cursor 60\n"); /* XC_hand2 */
	CHECK(wait_line(d, "cursor 60"));
	CHECK_INT_EQ(cursor_wait(c, &cur), 1);
	CHECK(cur.width > 0 && cur.height > 0);
	CHECK(cur.width != w0 || cur.height != h0 || cur.hot_x != hx0 || cur.hot_y != hy0);
	CHECK_INT_EQ(capture_x11.cursor(c, &cur), 0);
}

/* Other spellings of the same display. */
static void test_display_names(struct desktop *d)
{
	for (int i = 0; i < 2; i++) {
		char uri[64];
		if (i == 0)
			snprintf(uri, sizeof(uri), "x11::%d.0", d->display);
		else
			snprintf(uri, sizeof(uri), "x11:unix:%d", d->display);
		struct capture *c = capture_x11.open(uri, NULL);
		CHECK(c != NULL);
		if (!c)
			continue;
		struct capture_frame f;
		CHECK_INT_EQ(capture_x11.next(c, 2000, &f), CAPTURE_REINIT);
		CHECK_INT_EQ(f.width, d->width);
		capture_x11.close(c);
	}
}

/* capture_wait: the console's fd, the wake fd, the timeout, each told apart */
static void test_wait(void)
{
	int a[2], w[2];
	CHECK(pipe(a) == 0 && pipe(w) == 0);
	CHECK_INT_EQ(capture_wait(a[0], w[0], 10), 0);
	CHECK_INT_EQ(capture_wait(a[0], 0, 10), 0);
	CHECK(write(w[1], "x", 1) == 1);
	CHECK_INT_EQ(capture_wait(a[0], w[0], 10000), 2);
	CHECK(write(a[1], "x", 1) == 1);
	CHECK_INT_EQ(capture_wait(a[0], w[0], 10000), 1); /* the console first */
	CHECK_INT_EQ(capture_wait(a[0], 0, 10000), 1);
	for (int i = 0; i < 2; i++)
		close(a[i]), close(w[i]);
}

/*
 * A readable wake_fd (the worker's command queue) ends next()'s wait at once,
 * so input waits for no timeout; unwoken, next() waits as before.
 */
static void test_wake(struct desktop *d)
{
	char uri[32];
	int w[2];
	CHECK(pipe(w) == 0);
	struct capture_cfg cfg = {.wake_fd = w[0]};
	struct capture *c = capture_x11.open(uri_of(d, uri, sizeof(uri)), &cfg);
	CHECK(c != NULL);
	if (!c)
		return;
	struct capture_frame f;
	CHECK_INT_EQ(capture_x11.next(c, 2000, &f), CAPTURE_REINIT);
	while (capture_x11.next(c, 300, &f) != CAPTURE_AGAIN) /* the app's own drawing */
		;
	CHECK(write(w[1], "x", 1) == 1);
	int64_t t0 = clock_mono_ms();
	CHECK_INT_EQ(capture_x11.next(c, 20000, &f), CAPTURE_AGAIN);
	CHECK(clock_mono_ms() - t0 < 10000); /* not the 20 s timeout */
	char b;
	CHECK(read(w[0], &b, 1) == 1);
	t0 = clock_mono_ms();
	CHECK_INT_EQ(capture_x11.next(c, 300, &f), CAPTURE_AGAIN);
	CHECK(clock_mono_ms() - t0 >= 250); /* nothing woke it: the whole wait */
	capture_x11.close(c);
	close(w[0]);
	close(w[1]);
}

static void test_server_death(struct desktop *d, struct capture *c)
{
	struct capture_frame f;

	kill(d->xvfb, SIGKILL);
	waitpid(d->xvfb, NULL, 0);
	for (int i = 0; i < MAX_KIDS; i++)
		if (kids[i] == d->xvfb)
			kids[i] = 0;
	d->xvfb = 0;

	log_clear();
	int64_t t0 = clock_mono_ms();
	CHECK_INT_EQ(capture_x11.next(c, 3000, &f), CAPTURE_ERROR);
	CHECK(clock_mono_ms() - t0 < 2000);
	CHECK(logged("connection to the X server lost"));
	CHECK_INT_EQ(capture_x11.next(c, 100, &f), CAPTURE_ERROR);
	CHECK_INT_EQ(inject(c, pointer(1, 1, 1)), -EIO);
	struct capture_cursor cur;
	CHECK_INT_EQ(capture_x11.cursor(c, &cur), 0);
	capture_x11.close(c);
	/* still here: the process survived the X server */
	CHECK(true);
}

/* A display without MIT-SHM: the XGetImage path gives the same pixels. */
static void test_no_shm(void)
{
	static const char *const extra[] = {"-extension", "MIT-SHM", NULL};
	struct desktop d;
	char uri[32];

	if (!desktop_start(&d, 640, 480, extra)) {
		CHECK(!"Xvfb without MIT-SHM started");
		return;
	}
	log_clear();
	struct capture *c = capture_x11.open(uri_of(&d, uri, sizeof(uri)), NULL);
	CHECK(c != NULL);
	CHECK(logged("no MIT-SHM"));
	if (c) {
		struct capture_frame f;
		CHECK_INT_EQ(capture_x11.next(c, 2000, &f), CAPTURE_REINIT);
		CHECK_INT_EQ(f.width, 640);
		CHECK_INT_EQ(f.height, 480);
		check_samples(&f);
		uint8_t *ref = app_dump(&d, "noshm0");
		CHECK(ref != NULL);
		if (ref)
			CHECK_INT_EQ(frame_diff(&f, ref), 0);
		free(ref);

		app_send(&d, "pattern 1\n");
		CHECK(wait_line(&d, "pattern 1"));
		CHECK_INT_EQ(capture_x11.next(c, 2000, &f), CAPTURE_OK);
		long area;
		CHECK(damage_covers(&f, pattern_box(640, 480), &area));
		ref = app_dump(&d, "noshm1");
		CHECK(ref != NULL);
		if (ref)
			CHECK_INT_EQ(frame_diff(&f, ref), 0);
		free(ref);
		capture_x11.close(c);
	}
	desktop_stop(&d);
}

/* A display without DAMAGE cannot be captured: say so. */
static void test_no_damage(void)
{
	static const char *const extra[] = {"-extension", "DAMAGE", NULL};
	struct desktop d;
	char uri[32];

	memset(&d, 0, sizeof(d));
	if (!xvfb_start(&d, 320, 240, extra)) {
		CHECK(!"Xvfb without DAMAGE started");
		return;
	}
	log_clear();
	CHECK(capture_x11.open(uri_of(&d, uri, sizeof(uri)), NULL) == NULL);
	CHECK(logged("lacks the DAMAGE extension"));
	kid_stop(d.xvfb);
}

static void remove_tmpdir(void)
{
	DIR *dir = opendir(tmpdir);
	struct dirent *e;
	char path[sizeof(tmpdir) + 256];

	while (dir && (e = readdir(dir)))
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
			unlink(path);
		}
	if (dir)
		closedir(dir);
	rmdir(tmpdir);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "test_capture_x11: watchdog expired\n";
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing to do */
	}
	kids_stop_all();
	_exit(1);
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	alarm(30); /* the whole test takes about 2 s */
	signal(SIGPIPE, SIG_IGN);
	atexit(kids_stop_all);
	log_set_sink(sink, NULL);

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hr-x11-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}

	test_uris();
	test_no_display();
	test_wait();

	struct desktop d;
	if (!desktop_start(&d, 1920, 1080, NULL)) {
		CHECK(!"Xvfb and highrise-testapp started (is xvfb installed?)");
	} else {
		char uri[32];
		struct capture *c = capture_x11.open(uri_of(&d, uri, sizeof(uri)), NULL);
		CHECK(c != NULL);
		if (c) {
			test_capture(&d, c);
			test_input(&d, c);
			test_cursor(&d, c);
			test_display_names(&d);
			test_wake(&d);
			test_server_death(&d, c);
		}
		desktop_stop(&d);
	}
	test_no_shm();
	test_no_damage();

	log_set_sink(NULL, NULL);
	kids_stop_all();
	remove_tmpdir();
	return check_done("test_capture_x11");
}
