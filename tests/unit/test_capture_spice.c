/* SPDX-License-Identifier: MIT */
/*
 * The SPICE console backend against a real QEMU: the test VM fixture
 * (tests/fixtures/vm) booted once with SPICE, a SPICE password, SPICE audio
 * and a USB tablet. QEMU missing is a failure, not a skip. The VM is stopped
 * at the end, also when a check fails; the alarm ends a hang.
 *
 * The guest reports what arrives: hr-input prints its input events, hr-record
 * writes what its sound card recorded, both on the serial port. The tablet
 * gives SPICE's client mouse mode (absolute); the monitor's device_del takes
 * it away, which leaves the PS/2 mouse and server mode (relative), so both
 * modes are checked in one boot.
 *
 * Order matters: the sandboxed open runs first, in a child forked before
 * this process has touched GLib, because the seccomp filter is for good.
 */
#include "check.h"

#include "capture.h"
#include "clock.h"
#include "log.h"
#include "sandbox.h"
#include "tone.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/input-event-codes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PASSWORD       "sp1ce-s3cret"
#define WRONG_PASSWORD "wr0ng-pw"

static const struct capture_impl *const spice = &capture_spice;

static char run_dir[256], vm_dir[300], serial[400], monitor[400], port[16];

/* ---- logs: kept for assertions, scanned for secrets ---- */

static char logbuf[1 << 20];
static size_t loglen;
static bool secret_logged;
static int mouse_mode_logged; /* 0 none yet, else 'c' client or 's' server: the last one */
static bool record_logged;    /* the record channel started */

static void sink(enum log_level level, const char *file, int line, const char *msg, void *ud)
{
	(void)file;
	(void)line;
	(void)ud;
	if (strstr(msg, PASSWORD) || strstr(msg, WRONG_PASSWORD))
		secret_logged = true;
	/* spice.c's debug lines when the main channel's mouse-mode or the record channel change */
	if (strstr(msg, "mouse mode client"))
		mouse_mode_logged = 'c';
	else if (strstr(msg, "mouse mode server"))
		mouse_mode_logged = 's';
	if (strstr(msg, " records: "))
		record_logged = true;
	if (getenv("TEST_VERBOSE"))
		fprintf(stderr, "[%s] %s\n", log_level_name(level), msg);
	int n = snprintf(logbuf + loglen, sizeof(logbuf) - loglen, "%s\n", msg);
	if (n > 0 && (size_t)n < sizeof(logbuf) - loglen)
		loglen += (size_t)n;
}

static bool logged(const char *needle)
{
	return strstr(logbuf, needle) != NULL;
}

/* ---- time and processes ---- */

static int run(char *const argv[], bool quiet)
{
	pid_t pid = fork();
	int status;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (quiet && !getenv("TEST_VERBOSE")) {
			int null = open("/dev/null", O_RDWR);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* One value of RUN_DIR/vm.env (KEY=value, shell-quoted only when needed). */
static bool env_value(const char *key, char *out, size_t cap)
{
	char path[400], line[512];
	snprintf(path, sizeof(path), "%s/vm.env", vm_dir);
	FILE *f = fopen(path, "r");
	bool found = false;
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		size_t kl = strlen(key);
		if (strncmp(line, key, kl) != 0 || line[kl] != '=')
			continue;
		snprintf(out, cap, "%s", line + kl + 1);
		out[strcspn(out, "\n")] = '\0';
		found = true;
	}
	fclose(f);
	return found;
}

/*
 * Boots the fixture VM into run_dir/name with SPICE on a free port and the
 * extra start.sh options (NULL-terminated), and reads where its port, serial
 * log and monitor are. The previous VM must be stopped first.
 */
static bool vm_boot(const char *name, char *const extra[])
{
	char *argv[24] = {HR_SOURCE_DIR "/tests/fixtures/vm/start.sh",
			  "--run-dir",
			  vm_dir,
			  "--vnc",
			  "none",
			  "--spice",
			  "auto"};
	size_t n = 7;
	snprintf(vm_dir, sizeof(vm_dir), "%s/%s", run_dir, name);
	for (size_t i = 0; extra[i] && n + 1 < sizeof(argv) / sizeof(argv[0]); i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	int64_t t0 = clock_mono_ms();
	int rc = run(argv, true);
	if (rc != 0) {
		fprintf(stderr,
			"start.sh failed (%d): is qemu-system-x86 installed? run with "
			"TEST_VERBOSE=1\n",
			rc);
		return false;
	}
	if (!env_value("HR_VM_SPICE_PORT", port, sizeof(port)) ||
	    !env_value("HR_VM_SERIAL", serial, sizeof(serial)) ||
	    !env_value("HR_VM_MONITOR", monitor, sizeof(monitor)))
		return false;
	printf("vm %s: booted in %.1f s, SPICE on port %s\n", name, (clock_mono_ms() - t0) / 1000.0,
	       port);
	return true;
}

/* The first VM: a SPICE password, SPICE audio, a USB tablet and hr-vdagent's port. */
static bool vm_start(void)
{
	char pwfile[300];
	snprintf(pwfile, sizeof(pwfile), "%s/spice.pw", run_dir);
	FILE *f = fopen(pwfile, "w");
	if (!f)
		return false;
	fputs(PASSWORD, f); /* QEMU takes the whole file: no newline */
	fclose(f);
	char *const extra[] = {
		"--spice-password-file", pwfile, "--audio", "spice", "--tablet", "--vdagent", NULL};
	return vm_boot("vm", extra);
}

/* The second VM: virtio-vga (a hardware cursor), SPICE without a password, no sound. */
static bool vm_start_virtio(void)
{
	char *const extra[] = {"--vga", "virtio", "--mem",
			       "512M", /* room for the 8192x4400 screen's 144 MB */
			       NULL};
	return vm_boot("vm-virtio", extra);
}

static void vm_stop(void)
{
	char *argv[] = {HR_SOURCE_DIR "/tests/fixtures/vm/stop.sh", "--run-dir", vm_dir, NULL};
	if (vm_dir[0])
		run(argv, true);
}

static size_t serial_size(void)
{
	struct stat st;
	return stat(serial, &st) == 0 ? (size_t)st.st_size : 0;
}

/* The serial log from byte off on, NUL-terminated (NULs inside become newlines); free() it. */
static char *serial_read(size_t off)
{
	int fd = open(serial, O_RDONLY);
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap + 1);
	ssize_t n = 0;
	if (fd < 0 || !buf || lseek(fd, (off_t)off, SEEK_SET) < 0) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return NULL;
	}
	while ((n = read(fd, buf + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len == cap) {
			char *bigger = realloc(buf, cap * 2 + 1);
			if (!bigger)
				break;
			buf = bigger;
			cap *= 2;
		}
	}
	close(fd);
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			buf[i] = '\n';
	buf[len] = '\0';
	return buf;
}

static bool serial_has_from(size_t off, const char *needle)
{
	char *buf = serial_read(off);
	bool has = buf && strstr(buf, needle) != NULL;
	free(buf);
	return has;
}

static bool serial_has(const char *needle)
{
	return serial_has_from(0, needle);
}

/* ---- driving a capture ---- */

struct view {
	struct capture *c;
	struct capture_frame frame;
	int width, height;
	int reinits, oks;
	bool error;
	/* sound collected by pump() when collecting */
	int16_t *pcm;
	size_t frames, cap;
	int chunks, chunk_min, chunk_max;
	int64_t first_us, last_us;
	bool collecting;
};

/* next() for about ms, remembering sizes; audio() after each, as the worker does. */
static void pump(struct view *v, int ms)
{
	int64_t end = clock_mono_ms() + ms;
	do {
		int left = (int)(end - clock_mono_ms());
		enum capture_status st = spice->next(v->c, left > 0 ? left : 0, &v->frame);
		if (st == CAPTURE_ERROR) {
			v->error = true;
			return;
		}
		if (st == CAPTURE_REINIT) {
			v->reinits++;
			v->width = v->frame.width;
			v->height = v->frame.height;
		} else if (st == CAPTURE_OK) {
			v->oks++;
		}
		static struct audio_frame af;
		while (spice->audio(v->c, &af) == 1) {
			if (!v->collecting)
				continue;
			if (v->chunks == 0 || af.samples < v->chunk_min)
				v->chunk_min = af.samples;
			if (af.samples > v->chunk_max)
				v->chunk_max = af.samples;
			if (v->chunks == 0)
				v->first_us = af.capture_us;
			v->last_us = af.capture_us;
			v->chunks++;
			if (v->frames + (size_t)af.samples <= v->cap) {
				memcpy(v->pcm + v->frames * 2, af.pcm,
				       (size_t)af.samples * 2 * sizeof(int16_t));
				v->frames += (size_t)af.samples;
			}
		}
	} while (clock_mono_ms() < end);
}

static bool key(struct view *v, uint16_t code, bool down)
{
	struct msg m = {.type = MSG_KEY};
	m.u.key.scancode = code;
	m.u.key.flags = down ? MSG_KEY_DOWN : 0;
	int rc = spice->inject(v->c, &m);
	pump(v, 12);
	return rc == 0;
}

/* US layout: the evdev key of ch and whether it needs Shift; 0 when not mapped. */
static uint16_t key_of(char ch, bool *shift)
{
	static const uint16_t letters[26] = {KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G,
					     KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M, KEY_N,
					     KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U,
					     KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z};
	static const uint16_t digits[10] = {KEY_0, KEY_1, KEY_2, KEY_3, KEY_4,
					    KEY_5, KEY_6, KEY_7, KEY_8, KEY_9};
	*shift = false;
	if (ch >= 'a' && ch <= 'z')
		return letters[ch - 'a'];
	if (ch >= 'A' && ch <= 'Z') {
		*shift = true;
		return letters[ch - 'A'];
	}
	if (ch >= '0' && ch <= '9')
		return digits[ch - '0'];
	switch (ch) {
	case ' ':
		return KEY_SPACE;
	case '\n':
		return KEY_ENTER;
	case '-':
		return KEY_MINUS;
	case '/':
		return KEY_SLASH;
	case '.':
		return KEY_DOT;
	case '>':
		*shift = true;
		return KEY_DOT;
	case '_':
		*shift = true;
		return KEY_MINUS;
	case '&':
		*shift = true;
		return KEY_7;
	case '%':
		*shift = true;
		return KEY_5;
	default:
		return 0;
	}
}

static bool type_text(struct view *v, const char *s)
{
	bool ok = true;
	for (; *s; s++) {
		bool shift;
		uint16_t k = key_of(*s, &shift);
		if (!k)
			return false;
		if (shift)
			ok &= key(v, KEY_LEFTSHIFT, true);
		ok &= key(v, k, true);
		ok &= key(v, k, false);
		if (shift)
			ok &= key(v, KEY_LEFTSHIFT, false);
	}
	return ok;
}

static bool wait_serial_from(struct view *v, size_t off, const char *needle, int ms)
{
	int64_t end = clock_mono_ms() + ms;
	while (clock_mono_ms() < end) {
		if (serial_has_from(off, needle))
			return true;
		pump(v, 100);
	}
	return serial_has_from(off, needle);
}

static bool wait_serial(struct view *v, const char *needle, int ms)
{
	return wait_serial_from(v, 0, needle, ms);
}

static struct capture *open_uri(const char *uri, const char *password, int (*connected)(void *),
				struct capture_error *err, int64_t *took_ms)
{
	struct capture_cfg cfg = {
		.password = password,
		.connect_timeout_ms = 15000, /* TCG on a shared machine */
		.connected = connected,
		.error = err,
	};
	int64_t t0 = clock_mono_ms();
	struct capture *c = spice->open(uri, &cfg);
	if (took_ms)
		*took_ms = clock_mono_ms() - t0;
	return c;
}

static void uri_of(char *buf, size_t cap)
{
	snprintf(buf, cap, "spice://127.0.0.1:%s", port);
}

/* ---- the sandboxed worker, in a child ---- */

static char empty_dir[300];

/* As the worker confines itself: seccomp, and as root a chroot into an empty directory. */
static int confine(void *ud)
{
	struct sandbox_cfg cfg = {
		.seccomp = true,
		.chroot = geteuid() == 0,
		.chroot_dir = empty_dir,
	};
	char what[256];
	(void)ud;
	int rc = sandbox_enter(&cfg);
	sandbox_describe(&cfg, what, sizeof(what));
	printf("sandboxed: %s\n", what);
	return rc;
}

static int sandboxed_child(void)
{
	char uri[64];
	struct capture_error err = {0};
	struct view v = {0};
	uri_of(uri, sizeof(uri));
	v.c = open_uri(uri, PASSWORD, confine, &err, NULL);
	CHECK(v.c != NULL);
	if (!v.c) {
		fprintf(stderr, "sandboxed open failed: %s\n", err.why);
		return check_done("test_capture_spice (sandboxed)");
	}
	/* confined for real: no new sockets */
	errno = 0;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_INT_EQ(s, -1);
	CHECK_INT_EQ(errno, EPERM);
	if (s >= 0)
		close(s);
	pump(&v, 300);
	CHECK_INT_EQ(v.reinits, 1);
	CHECK_INT_EQ(v.width, 720);
	CHECK_INT_EQ(v.height, 400);
	CHECK(!v.error);
	/* input and frames flow through the pool's sockets */
	int oks = v.oks;
	/* the parent reads the serial log: this process may see no files */
	CHECK(type_text(&v, "echo SANDBOXED-OK > /dev/ttyS0\n"));
	pump(&v, 1500);
	CHECK(v.oks > oks);
	printf("sandboxed: %d frames after typing\n", v.oks - oks);
	spice->close(v.c);
	return check_done("test_capture_spice (sandboxed)");
}

/* ---- screendump and PSNR ---- */

/* Reads a binary PPM (P6, maxval 255) into malloc'd RGB; NULL on anything else. */
static uint8_t *read_ppm(const char *path, int *w, int *h)
{
	FILE *f = fopen(path, "rb");
	int maxval;
	uint8_t *rgb = NULL;
	if (!f)
		return NULL;
	if (fscanf(f, "P6 %d %d %d", w, h, &maxval) == 3 && maxval == 255 && *w > 0 && *h > 0 &&
	    *w <= 8192 && *h <= 8192 && fgetc(f) != EOF) {
		size_t n = (size_t)*w * (size_t)*h * 3;
		rgb = malloc(n);
		if (rgb && fread(rgb, 1, n, f) != n) {
			free(rgb);
			rgb = NULL;
		}
	}
	fclose(f);
	return rgb;
}

static double psnr(const struct capture_frame *fr, const uint8_t *rgb)
{
	double se = 0;
	size_t n = 0;
	for (int y = 0; y < fr->height; y++)
		for (int x = 0; x < fr->width; x++) {
			const uint8_t *p = fr->pixels + (size_t)y * (size_t)fr->stride +
					   (size_t)x * 4;
			const uint8_t *q = rgb + ((size_t)y * (size_t)fr->width + (size_t)x) * 3;
			/* ours B,G,R,X; the PPM's R,G,B */
			double d0 = p[2] - q[0], d1 = p[1] - q[1], d2 = p[0] - q[2];
			se += d0 * d0 + d1 * d1 + d2 * d2;
			n += 3;
		}
	if (se == 0)
		return 99.0;
	return 10 * log10(255.0 * 255.0 / (se / (double)n));
}

static double compare_screendump(struct view *v, const char *name)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/%s.ppm", run_dir, name);
	char *argv[] = {"python3",    HR_SOURCE_DIR "/tests/fixtures/vm/vmctl.py",
			"-m",	      monitor,
			"screendump", path,
			NULL};
	if (run(argv, true) != 0)
		return -1;
	/* what QEMU drew before the dump reaches us within a few frames */
	pump(v, 700);
	int w = 0, h = 0;
	uint8_t *rgb = read_ppm(path, &w, &h);
	double db = -1;
	CHECK(rgb != NULL);
	CHECK_INT_EQ(w, v->frame.width);
	CHECK_INT_EQ(h, v->frame.height);
	if (rgb && w == v->frame.width && h == v->frame.height)
		db = psnr(&v->frame, rgb);
	free(rgb);
	return db;
}

/* ---- the checks in this process ---- */

/*
 * The cursor channel's bounds: QEMU never sends a shape over 64x64
 * (virtio-gpu, qxl), so a hostile one is built here, through the function
 * on_cursor uses. check_cursor has QEMU's real one.
 */
static void check_cursor_shapes(void)
{
	static uint8_t rgba[(MSG_CURSOR_MAX + 1) * 2 * 4];
	struct capture_cursor cur = {0};

	CHECK_INT_EQ(capture_cursor_from_rgba(&cur, MSG_CURSOR_MAX + 1, 2, 0, 0, rgba), -EINVAL);
	CHECK_INT_EQ(capture_cursor_from_rgba(&cur, 2, MSG_CURSOR_MAX + 1, 0, 0, rgba), -EINVAL);
	CHECK_INT_EQ(capture_cursor_from_rgba(&cur, 0, 2, 0, 0, rgba), -EINVAL);
	CHECK_INT_EQ(capture_cursor_from_rgba(&cur, 2, -1, 0, 0, rgba), -EINVAL);
	CHECK_INT_EQ(capture_cursor_from_rgba(&cur, 2, 2, 0, 0, NULL), -EINVAL);
	CHECK(cur.pixels == NULL); /* untouched */

	/* straight R,G,B,A in; premultiplied B,G,R,A out; the hot spot clamped */
	const uint8_t two[8] = {255, 128, 0, 128, 10, 20, 30, 0};
	CHECK_INT_EQ(capture_cursor_from_rgba(&cur, 2, 1, 9, -3, two), 0);
	CHECK_INT_EQ(cur.width, 2);
	CHECK_INT_EQ(cur.height, 1);
	CHECK_INT_EQ(cur.hot_x, 1);
	CHECK_INT_EQ(cur.hot_y, 0);
	CHECK(cur.pixels[0] == 0 && cur.pixels[1] == 64 && cur.pixels[2] == 128 &&
	      cur.pixels[3] == 128);
	CHECK(cur.pixels[4] == 0 && cur.pixels[5] == 0 && cur.pixels[6] == 0 && cur.pixels[7] == 0);
	free(cur.pixels);

	CHECK_INT_EQ(capture_cursor_from_rgba(&cur, MSG_CURSOR_MAX, 2, 0, 0, rgba), 0);
	free(cur.pixels);
}

static void check_uris(void)
{
	struct capture_error err = {0};
	CHECK(spice->handles("spice://h:1"));
	CHECK(spice->handles("SPICE+unix:///run/x.sock"));
	CHECK(spice->handles("spice+tls://h:5901"));
	CHECK(!spice->handles("vnc://h:1"));
	CHECK(capture_find("spice://127.0.0.1:5930") == &capture_spice);

	CHECK(open_uri("spice://", NULL, NULL, &err, NULL) == NULL);
	CHECK_INT_EQ(err.kind, CAPTURE_FAIL_REFUSED);
	CHECK(open_uri("spice://[::1:5900", NULL, NULL, &err, NULL) == NULL);
	CHECK(open_uri("spice://h:99999", NULL, NULL, &err, NULL) == NULL);
	CHECK(open_uri("spice+unix://relative", NULL, NULL, &err, NULL) == NULL);
	CHECK_INT_EQ(err.kind, CAPTURE_FAIL_REFUSED);

	err = (struct capture_error){0};
	CHECK(open_uri("spice+tls://127.0.0.1:1?ca=/etc/ca.pem", NULL, NULL, &err, NULL) == NULL);
	CHECK_INT_EQ(err.kind, CAPTURE_FAIL_REFUSED);
	CHECK(strstr(err.why, "TLS") != NULL);

	/* a closed port and a missing socket: unreachable, quickly */
	int64_t t0 = clock_mono_ms();
	err = (struct capture_error){0};
	CHECK(open_uri("spice://127.0.0.1:1", NULL, NULL, &err, NULL) == NULL);
	CHECK_INT_EQ(err.kind, CAPTURE_FAIL_UNREACHABLE);
	CHECK(strstr(err.why, "cannot be reached") != NULL);
	err = (struct capture_error){0};
	CHECK(open_uri("spice+unix:///nonexistent/spice.sock", NULL, NULL, &err, NULL) == NULL);
	CHECK_INT_EQ(err.kind, CAPTURE_FAIL_UNREACHABLE);
	CHECK(clock_mono_ms() - t0 < 2000);
	CHECK(!spice->reachable("spice://127.0.0.1:1", 500));
}

static void check_auth(const char *uri)
{
	struct capture_error err = {0};
	int64_t took;
	CHECK(open_uri(uri, NULL, NULL, &err, &took) == NULL);
	CHECK_INT_EQ(err.kind, CAPTURE_FAIL_AUTH);
	CHECK(strstr(err.why, "none configured") != NULL);
	printf("no password: \"%s\" (%lld ms)\n", err.why, (long long)took);

	err = (struct capture_error){0};
	CHECK(open_uri(uri, WRONG_PASSWORD, NULL, &err, &took) == NULL);
	CHECK_INT_EQ(err.kind, CAPTURE_FAIL_AUTH);
	CHECK(strstr(err.why, "refused the agent's password") != NULL);
	printf("wrong password: \"%s\" (%lld ms)\n", err.why, (long long)took);
}

static void check_pointer(struct view *v)
{
	struct msg m = {.type = MSG_POINTER};
	m.u.pointer.x = 100;
	m.u.pointer.y = 100;
	CHECK_INT_EQ(spice->inject(v->c, &m), 0);
	m.u.pointer.buttons = 1;
	CHECK_INT_EQ(spice->inject(v->c, &m), 0);
	m.u.pointer.buttons = 0;
	m.u.pointer.x = 200;
	CHECK_INT_EQ(spice->inject(v->c, &m), 0);
	struct msg s = {.type = MSG_SCROLL};
	s.u.scroll.dy = 240;
	s.u.scroll.dx = -120;
	CHECK_INT_EQ(spice->inject(v->c, &s), 0);
	struct msg t = {.type = MSG_TOUCH};
	t.u.touch.phase = MSG_TOUCH_BEGIN;
	t.u.touch.x = 10;
	t.u.touch.y = 10;
	CHECK_INT_EQ(spice->inject(v->c, &t), 0);
	t.u.touch.phase = MSG_TOUCH_END;
	CHECK_INT_EQ(spice->inject(v->c, &t), 0);
	struct msg p = {.type = MSG_PEN};
	p.u.pen.flags = MSG_PEN_CONTACT;
	p.u.pen.x = 30;
	p.u.pen.y = 30;
	CHECK_INT_EQ(spice->inject(v->c, &p), 0);
	p.u.pen.flags = 0;
	CHECK_INT_EQ(spice->inject(v->c, &p), 0);
	struct msg other = {.type = MSG_PING};
	CHECK_INT_EQ(spice->inject(v->c, &other), -ENOTSUP);
	pump(v, 50);
}

static void check_sound(struct view *v)
{
	v->cap = 48000 * 8;
	v->pcm = calloc(v->cap * 2, sizeof(int16_t));
	v->collecting = true;
	CHECK(type_text(v, "hr-tone 3 440\n"));
	int64_t end = clock_mono_ms() + 12000;
	while (clock_mono_ms() < end && !serial_has("HIGHRISE-VM-TONE-END"))
		pump(v, 100);
	pump(v, 500);
	v->collecting = false;
	CHECK(serial_has("HIGHRISE-VM-TONE-END"));
	printf("audio: %d chunks of %d..%d samples, %.2f s of 48 kHz stereo over %.2f s\n",
	       v->chunks, v->chunk_min, v->chunk_max, v->frames / 48000.0,
	       (v->last_us - v->first_us) / 1e6);
	CHECK(v->chunks > 0);
	CHECK(v->chunk_max <= AUDIO_FRAME_MAX);
	CHECK(v->frames >= 48000 * 2); /* most of the 3 s tone */
	double hz = v->frames ? tone_dominant_hz(v->pcm, v->frames) : 0;
	double db = v->frames ? tone_level_db(v->pcm, v->frames) : -99;
	printf("audio: dominant %.1f Hz at %.1f dBFS\n", hz, db);
	CHECK(fabs(hz - 440) <= 5);
	if (fabs(hz - 440) > 5)
		fprintf(stderr, "tone: %.1f Hz, want 440 +- 5\n", hz);
	CHECK(db > -40);
	free(v->pcm);
	v->pcm = NULL;
}

/* ---- what the guest's input devices saw (hr-input on the serial port) ---- */

struct input_seen {
	int press, release; /* BTN_LEFT, on dev */
	char btn_dev[16];   /* the device of the last BTN_LEFT */
	int abs_x, abs_y;   /* the tablet's last EV_ABS X/Y before the last press; -1 none */
	int rel_x, rel_y;   /* sums of the PS/2 mouse's EV_REL X/Y */
	int rel_events;
	int wheel, wheel_events; /* the PS/2 mouse's REL_WHEEL: sum and count */
};

static char tablet_dev[16], mouse_dev[16]; /* eventN of each, from HIGHRISE-VM-INPUT-DEV */

static void input_devices(size_t off)
{
	char *buf = serial_read(off);
	char *l = buf ? strstr(buf, "HIGHRISE-VM-INPUT-DEV dev=") : NULL;
	while (l) {
		size_t n = strcspn(l, "\r\n");
		char *next = l[n] ? l + n + 1 : NULL, dev[16];
		l[n] = '\0';
		const char *name = strstr(l, " name=");
		if (name && sscanf(l, "HIGHRISE-VM-INPUT-DEV dev=%15s", dev) == 1) {
			printf("guest input: %s \"%s\"\n", dev, name + 6);
			if (strstr(name, "Tablet"))
				snprintf(tablet_dev, sizeof(tablet_dev), "%s", dev);
			else if (strstr(name, "PS/2"))
				snprintf(mouse_dev, sizeof(mouse_dev), "%s", dev);
		}
		l = next ? strstr(next, "HIGHRISE-VM-INPUT-DEV dev=") : NULL;
	}
	free(buf);
}

static void input_scan(size_t off, struct input_seen *s)
{
	char *buf = serial_read(off);
	int ax = -1, ay = -1;
	*s = (struct input_seen){.abs_x = -1, .abs_y = -1};
	for (char *l = buf; l && (l = strstr(l, "HIGHRISE-VM-INPUT dev=")); l++) {
		char dev[16];
		int type, code, value;
		if (sscanf(l, "HIGHRISE-VM-INPUT dev=%15s t=%*s type=%d code=%d value=%d", dev,
			   &type, &code, &value) != 4)
			continue;
		if (type == EV_ABS && strcmp(dev, tablet_dev) == 0) {
			if (code == ABS_X)
				ax = value;
			else if (code == ABS_Y)
				ay = value;
		} else if (type == EV_REL && code == REL_WHEEL && strcmp(dev, mouse_dev) == 0) {
			s->wheel += value;
			s->wheel_events++;
		} else if (type == EV_REL && strcmp(dev, mouse_dev) == 0) {
			s->rel_events++;
			if (code == REL_X)
				s->rel_x += value;
			else if (code == REL_Y)
				s->rel_y += value;
		} else if (type == EV_KEY && code == BTN_LEFT) {
			snprintf(s->btn_dev, sizeof(s->btn_dev), "%s", dev);
			if (value == 1) {
				s->press++;
				s->abs_x = ax;
				s->abs_y = ay;
			} else if (value == 0) {
				s->release++;
			}
		}
	}
	free(buf);
}

static bool pointer(struct view *v, int x, int y, uint8_t buttons)
{
	struct msg m = {.type = MSG_POINTER};
	m.u.pointer.x = (uint16_t)x;
	m.u.pointer.y = (uint16_t)y;
	m.u.pointer.buttons = buttons;
	int rc = spice->inject(v->c, &m);
	pump(v, 40);
	return rc == 0;
}

/* A left click at x,y (moved there first); the guest's events since then in *s. */
static void click(struct view *v, int x, int y, struct input_seen *s)
{
	size_t off = serial_size();
	CHECK(pointer(v, x, y, 0));
	CHECK(pointer(v, x, y, 1));
	CHECK(pointer(v, x, y, 0));
	CHECK(wait_serial_from(v, off, "code=272 value=0", 5000));
	pump(v, 200);
	input_scan(off, s);
}

static bool wait_mouse_mode(struct view *v, int mode, int ms)
{
	int64_t end = clock_mono_ms() + ms;
	while (mouse_mode_logged != mode && clock_mono_ms() < end)
		pump(v, 50);
	return mouse_mode_logged == mode;
}

/* The tablet's 0..32767 over the screen (QEMU's usb-tablet). */
static int tablet_of(int px, int size)
{
	return (int)lround((double)px * 32767.0 / (size - 1));
}

static void check_mouse(struct view *v)
{
	size_t off = serial_size();
	CHECK(type_text(v, "hr-input &\n"));
	CHECK(wait_serial_from(v, off, "HIGHRISE-VM-INPUT-READY", 10000));
	input_devices(off);
	CHECK(tablet_dev[0] != '\0');
	CHECK(mouse_dev[0] != '\0');

	/*
	 * Client mode: with the tablet QEMU's SPICE server offers it, and
	 * spice-gtk asks for it as soon as the main channel connects; spice.c
	 * follows the main channel's "mouse-mode" (and logs it).
	 */
	int64_t t0 = clock_mono_ms();
	CHECK(wait_mouse_mode(v, 'c', 5000));
	printf("mouse: main channel's mouse-mode: client (absolute)%s\n",
	       clock_mono_ms() - t0 < 100 ? ", since the connection" : "");
	static const struct {
		int x, y;
	} at[] = {{320, 180}, {1000, 600}};
	struct input_seen s;
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		click(v, at[i].x, at[i].y, &s);
		int ex = tablet_of(at[i].x, v->width), ey = tablet_of(at[i].y, v->height);
		printf("client mode: click at %d,%d of %dx%d: guest %s BTN_LEFT %d/%d, ABS %d,%d "
		       "(expected %d,%d)\n",
		       at[i].x, at[i].y, v->width, v->height, s.btn_dev, s.press, s.release,
		       s.abs_x, s.abs_y, ex, ey);
		CHECK_INT_EQ(s.press, 1);
		CHECK_INT_EQ(s.release, 1);
		CHECK(abs(s.abs_x - ex) <= ex / 100);
		CHECK(abs(s.abs_y - ey) <= ey / 100);
	}

	/* Server mode: without the tablet only the PS/2 mouse is left, relative. */
	char *argv[] = {"python3", HR_SOURCE_DIR "/tests/fixtures/vm/vmctl.py",
			"-m",	   monitor,
			"hmp",	   "device_del tablet",
			NULL};
	CHECK_INT_EQ(run(argv, true), 0);
	t0 = clock_mono_ms();
	CHECK(wait_mouse_mode(v, 's', 5000));
	printf("mouse: server mode (relative) %lld ms after device_del tablet\n",
	       (long long)(clock_mono_ms() - t0));
	/* from the last click at 1000,600: a long move, a short one, a click */
	off = serial_size();
	CHECK(pointer(v, 700, 400, 0));
	CHECK(pointer(v, 640, 360, 0));
	click(v, 660, 380, &s);
	struct input_seen all;
	input_scan(off, &all);
	printf("server mode: 1000,600 -> 700,400 -> 640,360 -> click at 660,380: guest %s "
	       "BTN_LEFT %d/%d, REL sums %d,%d in %d events (expected -340,-220)\n",
	       s.btn_dev, s.press, s.release, all.rel_x, all.rel_y, all.rel_events);
	CHECK_INT_EQ(s.press, 1);
	CHECK_INT_EQ(s.release, 1);
	CHECK(strcmp(s.btn_dev, mouse_dev) == 0);
	CHECK_INT_EQ(all.rel_x, -340);
	CHECK_INT_EQ(all.rel_y, -220);

	/* the wheel: msg_scroll's positive dy is down (X's button 5), REL_WHEEL -1 a step */
	off = serial_size();
	struct msg sc = {.type = MSG_SCROLL};
	sc.u.scroll.dy = 240; /* two steps down */
	CHECK_INT_EQ(spice->inject(v->c, &sc), 0);
	pump(v, 40);
	sc.u.scroll.dy = -120; /* one up */
	CHECK_INT_EQ(spice->inject(v->c, &sc), 0);
	CHECK(wait_serial_from(v, off, "code=8 value=1", 5000));
	pump(v, 200);
	input_scan(off, &all);
	printf("server mode: scroll 2 down, 1 up: guest REL_WHEEL %d events, sum %d (expected 3, "
	       "-1)\n",
	       all.wheel_events, all.wheel);
	CHECK_INT_EQ(all.wheel_events, 3);
	CHECK_INT_EQ(all.wheel, -1);
	/* quiet on the serial port from here: hr-record's hex comes next */
	off = serial_size();
	CHECK(type_text(v, "kill %1\n"));
	CHECK(wait_serial_from(v, off, "HIGHRISE-VM-INPUT-END", 5000));
}

/* ---- the microphone: what the guest's sound card recorded (hr-record) ---- */

/* Decodes hr-record's hex (u8 8 kHz mono) into 48 kHz stereo s16, linearly; frames or 0. */
static size_t rec_decode(const char *hex, int16_t **out)
{
	size_t cap = strlen(hex) / 2, n = 0;
	uint8_t *u8 = malloc(cap ? cap : 1);
	*out = NULL;
	if (!u8)
		return 0;
	/* lines of hex digits; others (a stray kernel line) are skipped, as is the tty's \r */
	for (const char *l = hex; *l;) {
		size_t len = strcspn(l, "\r\n"), digits = strspn(l, "0123456789abcdef");
		if (digits == len && len % 2 == 0) {
			for (size_t i = 0; i < len; i += 2) {
				unsigned b = 0;
				sscanf(l + i, "%2x", &b);
				u8[n++] = (uint8_t)b;
			}
		}
		l += len;
		l += strspn(l, "\r\n");
	}
	size_t frames = n > 1 ? (n - 1) * 6 : 0;
	int16_t *pcm = frames ? malloc(frames * 2 * sizeof(int16_t)) : NULL;
	for (size_t i = 0; pcm && i < frames; i++) {
		size_t k = i / 6;
		double f = (double)(i % 6) / 6.0;
		double a = (u8[k] - 128) * 256.0, b = (u8[k + 1] - 128) * 256.0;
		pcm[2 * i] = pcm[2 * i + 1] = (int16_t)lrint(a + (b - a) * f);
	}
	free(u8);
	*out = pcm;
	return pcm ? frames : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/*
 * The median of the dominant frequencies of 0.25 s windows from the first
 * sound on. Windows, not the whole: tone_dominant_hz's 5 Hz coarse step
 * misses the main lobe of a long off-grid tone (2 s: 0.5 Hz wide; the
 * ES1370 records at 1411200/176 = 8018 Hz for 8000, so 1000 Hz arrives as
 * 998), and a glitch where the record stream under- or overran spoils one
 * window, not the verdict. *windows and *good (within 20 Hz of want) count.
 */
static double median_hz(const int16_t *pcm, size_t frames, double want, int *windows, int *good)
{
	const size_t win = 12000;
	double hz[64];
	size_t at = 0, n = 0;
	while (at < frames && abs(pcm[2 * at]) < 1000)
		at++;
	for (; at + win <= frames && n < 64; at += win)
		hz[n++] = tone_dominant_hz(pcm + 2 * at, win);
	*windows = (int)n;
	*good = 0;
	for (size_t i = 0; i < n; i++)
		*good += fabs(hz[i] - want) <= 20;
	if (n == 0)
		return 0;
	qsort(hz, n, sizeof(hz[0]), cmp_double);
	return hz[n / 2];
}

static void check_mic(struct view *v)
{
	static int16_t chunk[480 * 2];
	size_t off = serial_size(), phase = 0;
	int calls = 0, failed = 0;

	record_logged = false;
	CHECK(type_text(v, "hr-record 2\n"));
	/* mic() drops sound until record-start: short calls until the channel says it started */
	int64_t t0 = clock_mono_ms();
	while (!record_logged && clock_mono_ms() - t0 < 10000) {
		failed += spice->mic(v->c, chunk, 48) != 0;
		pump(v, 10);
	}
	CHECK(record_logged);
	printf("mic: record-start %lld ms after typing hr-record\n",
	       (long long)(clock_mono_ms() - t0));

	/* 480 frames of a 1000 Hz sine every 10 ms, on the clock, until the guest is done */
	int64_t next = clock_mono_ms(), end = clock_mono_ms() + 8000;
	bool done = false;
	while (!done && clock_mono_ms() < end) {
		if (clock_mono_ms() >= next) {
			/* QEMU mixes stereo to the guest's mono as l + r: 0.25 peaks at half */
			tone_sine(chunk, 480, 1000, 0.25, phase);
			phase += 480;
			failed += spice->mic(v->c, chunk, 480) != 0;
			calls++;
			next += 10;
			if (calls % 10 == 0)
				done = serial_has_from(off, "HIGHRISE-VM-REC-START");
		}
		int left = (int)(next - clock_mono_ms());
		pump(v, left > 0 ? left : 0);
	}
	CHECK_INT_EQ(failed, 0);
	CHECK(wait_serial_from(v, off, "HIGHRISE-VM-REC-END rc=0", 10000));
	printf("mic: fed %d x 480 frames of 1000 Hz; hex on the serial port %lld ms after "
	       "record-start\n",
	       calls, (long long)(clock_mono_ms() - t0));

	char *buf = serial_read(off);
	char *start = buf ? strstr(buf, "HIGHRISE-VM-REC-START") : NULL;
	char *stop = start ? strstr(start, "HIGHRISE-VM-REC-END") : NULL;
	CHECK(start && stop);
	if (!start || !stop) {
		free(buf);
		return;
	}
	*stop = '\0';
	start += strcspn(start, "\n");
	int16_t *pcm = NULL;
	size_t frames = rec_decode(start, &pcm);
	int windows = 0, good = 0;
	double hz = median_hz(pcm, frames, 1000, &windows, &good);
	double db = frames ? tone_level_db(pcm, frames) : -200;
	printf("mic: the guest recorded %.2f s at 8 kHz: %.1f dBFS, dominant %.1f Hz (median of "
	       "%d windows of 0.25 s, %d within 20 Hz of 1000)\n",
	       frames / 48000.0, db, hz, windows, good);
	CHECK(frames >= 48000 * 19 / 10);
	CHECK(fabs(hz - 1000) <= 20);
	CHECK(windows >= 6);
	CHECK(good >= windows * 3 / 4);
	CHECK(db > -30);
	free(pcm);
	free(buf);
}

/*
 * The guest's spice-vdagent (the fixture's hr-vdagent, on QEMU's real agent
 * channel): a resize through it arrives as REINIT at the new size with the
 * guest's pixels; clipboard text goes both ways; a guest clipboard over the
 * caller's limit is refused with a log line.
 */
static void check_vdagent(struct view *v)
{
	char why[200];
	char *text = NULL;
	size_t len = 0;

	/* the port is there, nobody opened it yet: no agent */
	CHECK(!spice->can_resize(v->c));
	CHECK_INT_EQ(spice->resize(v->c, 1024, 768, why, sizeof(why)), -ENOTSUP);
	CHECK(strstr(why, "vdagent") != NULL);
	CHECK_INT_EQ(spice->clipboard_get(v->c, 1 << 20, &text, &len), 0);

	size_t off = serial_size();
	CHECK(type_text(v, "hr-vdagent &\n"));
	CHECK(wait_serial_from(v, off, "HIGHRISE-VM-VDAGENT-READY", 15000));
	CHECK(wait_serial_from(v, off, "HIGHRISE-VM-VDAGENT-CAPS", 10000));
	int64_t end = clock_mono_ms() + 10000;
	while (clock_mono_ms() < end && !spice->can_resize(v->c) && !v->error)
		pump(v, 100);
	CHECK(spice->can_resize(v->c));
	CHECK(logged("spice-vdagent is connected"));
	pump(v, 500); /* the capabilities reach the client too */

	/* resize: the guest sets the mode, the display channel brings the new surface */
	int reinits = v->reinits;
	off = serial_size();
	CHECK_INT_EQ(spice->resize(v->c, 1024, 768, why, sizeof(why)), 0);
	CHECK(wait_serial_from(v, off, "HIGHRISE-VM-VDAGENT-RESIZED 1024x768", 15000));
	end = clock_mono_ms() + 15000;
	while (clock_mono_ms() < end && !(v->reinits > reinits && v->width == 1024) && !v->error)
		pump(v, 200);
	CHECK(v->reinits > reinits);
	CHECK_INT_EQ(v->width, 1024);
	CHECK_INT_EQ(v->height, 768);
	pump(v, 1000);
	double db = compare_screendump(v, "vdagent");
	printf("vdagent resize to 1024x768: PSNR %.1f dB against QEMU's screendump\n", db);
	CHECK(db >= 35);

	/* the client's clipboard into the guest */
	static const char ours[] = "Highrise clipboard: 1+1=2";
	off = serial_size();
	CHECK_INT_EQ(spice->clipboard_set(v->c, ours, strlen(ours)), 0);
	CHECK(wait_serial_from(v, off, "HIGHRISE-VM-CLIP-IN len=25 text=Highrise clipboard: 1+1=2",
			       10000));

	/* the guest's clipboard to us */
	off = serial_size();
	CHECK(type_text(v, "hr-vdagent copy GUEST-COPIED-42\n"));
	CHECK(wait_serial_from(v, off, "HIGHRISE-VM-CLIP-GRAB len=15", 15000));
	int got = 0;
	end = clock_mono_ms() + 10000;
	while (clock_mono_ms() < end && got == 0 && !v->error) {
		pump(v, 100);
		got = spice->clipboard_get(v->c, 4096, &text, &len);
	}
	CHECK_INT_EQ(got, 1);
	if (got == 1) {
		CHECK_INT_EQ(len, 15);
		CHECK(memcmp(text, "GUEST-COPIED-42", 15) == 0);
		free(text);
	}

	/* over the limit the caller gave (4096): not copied, said in the log */
	off = serial_size();
	CHECK(type_text(v, "hr-vdagent copy-bytes 100000\n"));
	CHECK(wait_serial_from(v, off, "HIGHRISE-VM-CLIP-OUT len=100000", 15000));
	end = clock_mono_ms() + 5000;
	while (clock_mono_ms() < end && !logged("clipboard text of 100000 bytes over the limit"))
		pump(v, 100);
	CHECK(logged("clipboard text of 100000 bytes over the limit (4096): not copied"));
	CHECK_INT_EQ(spice->clipboard_get(v->c, 4096, &text, &len), 0);
	CHECK(!v->error);
}

/*
 * The cursor channel: the guest sets a 64x64 hardware cursor (virtio-gpu's
 * cursor plane, hr-vdagent cursor), which QEMU's SPICE server sends; it
 * arrives as our cursor with its hot spot and its pixels premultiplied.
 * Then the guest sets a screen larger than the encoder takes: refused.
 */
static void check_cursor(void)
{
	struct capture_error err = {0};
	struct view v = {0};
	char uri[64];

	uri_of(uri, sizeof(uri));
	v.c = open_uri(uri, NULL, NULL, &err, NULL);
	CHECK(v.c != NULL);
	if (!v.c) {
		fprintf(stderr, "open failed: %s\n", err.why);
		return;
	}
	pump(&v, 500);
	CHECK(v.reinits >= 1);
	double db = compare_screendump(&v, "virtio");
	printf("virtio-vga console: PSNR %.1f dB against QEMU's screendump\n", db);
	CHECK(db >= 35);

	size_t off = serial_size();
	CHECK(type_text(&v, "hr-vdagent cursor &\n"));
	CHECK(wait_serial_from(&v, off, "HIGHRISE-VM-CURSOR-SET 64x64 hot=5,7", 15000));
	struct capture_cursor cur = {0};
	int got = 0;
	int64_t end = clock_mono_ms() + 10000;
	while (clock_mono_ms() < end && !v.error) {
		pump(&v, 100);
		struct capture_cursor c;
		if (spice->cursor(v.c, &c) == 1 && c.width == 64) {
			cur = c;
			got = 1;
			break;
		}
	}
	CHECK_INT_EQ(got, 1);
	if (got) {
		CHECK_INT_EQ(cur.width, 64);
		CHECK_INT_EQ(cur.height, 64);
		CHECK_INT_EQ(cur.hot_x, 5);
		CHECK_INT_EQ(cur.hot_y, 7);
		/* B,G,R,A premultiplied: red on top, green bottom left, clear bottom right */
		const uint8_t *top = cur.pixels + (10 * 64 + 10) * 4;
		const uint8_t *bl = cur.pixels + (50 * 64 + 10) * 4;
		const uint8_t *br = cur.pixels + (50 * 64 + 50) * 4;
		CHECK(top[0] == 0 && top[1] == 0 && top[2] == 255 && top[3] == 255);
		CHECK(bl[0] == 0 && bl[1] == 255 && bl[2] == 0 && bl[3] == 255);
		CHECK(br[0] == 0 && br[1] == 0 && br[2] == 0 && br[3] == 0);
		printf("cursor: %ux%u, hot spot %u,%u\n", cur.width, cur.height, cur.hot_x,
		       cur.hot_y);
	}
	CHECK(!v.error);

	/* a screen bigger than the encoder takes: refused, with the reason and a log line */
	CHECK(type_text(&v, "kill %1\n"));
	off = serial_size();
	CHECK(type_text(&v, "hr-vdagent mode 8192 4400 &\n"));
	CHECK(wait_serial_from(&v, off, "HIGHRISE-VM-MODE-SET 8192x4400", 20000));
	end = clock_mono_ms() + 20000;
	while (clock_mono_ms() < end && !v.error)
		pump(&v, 200);
	CHECK(v.error);
	CHECK(logged("the console's desktop is 8192x4400, more than the 35651584 pixels the "
		     "encoder takes: refused"));
	spice->close(v.c);
	/* the worker opens again, as after any console loss: refused with the reason */
	struct capture *again = open_uri(uri, NULL, NULL, &err, NULL);
	CHECK(again == NULL);
	if (again)
		spice->close(again);
	CHECK_INT_EQ(err.kind, CAPTURE_FAIL_REFUSED);
	CHECK(strstr(err.why, "8192x4400") != NULL);
	printf("8192x4400 console: refused (\"%s\")\n", err.why);
}

static void check_session(const char *uri)
{
	struct capture_error err = {0};
	struct view v = {0};
	int64_t took;

	v.c = open_uri(uri, PASSWORD, NULL, &err, &took);
	CHECK(v.c != NULL);
	if (!v.c) {
		fprintf(stderr, "open failed: %s\n", err.why);
		return;
	}
	printf("open: %lld ms\n", (long long)took);
	pump(&v, 200);
	CHECK_INT_EQ(v.reinits, 1);
	CHECK_INT_EQ(v.width, 720);
	CHECK_INT_EQ(v.height, 400);

	double db = compare_screendump(&v, "text");
	printf("text console: PSNR %.1f dB against QEMU's screendump\n", db);
	CHECK(db >= 35);

	/* keys */
	CHECK(type_text(&v, "echo SPICE-KEYS-OK > /dev/ttyS0\n"));
	CHECK(wait_serial(&v, "SPICE-KEYS-OK", 10000));

	check_pointer(&v);

	/* the cursor: the text console has none of SPICE's; cursor() must not say otherwise */
	struct capture_cursor cur;
	int rc = spice->cursor(v.c, &cur);
	CHECK(rc == 0 || rc == 1);

	/* resize */
	int reinits = v.reinits;
	CHECK(type_text(&v, "hr-resize\n"));
	int64_t end = clock_mono_ms() + 30000;
	while (clock_mono_ms() < end && !(v.reinits > reinits && v.width == 1280) && !v.error)
		pump(&v, 200);
	CHECK(v.reinits > reinits);
	CHECK_INT_EQ(v.width, 1280);
	CHECK_INT_EQ(v.height, 720);
	CHECK(wait_serial(&v, "HIGHRISE-VM-RESIZED", 10000));
	pump(&v, 1500);
	db = compare_screendump(&v, "fb");
	printf("framebuffer console: PSNR %.1f dB against QEMU's screendump\n", db);
	CHECK(db >= 35);

	check_sound(&v);

	/* mic while the guest does not record: taken and dropped */
	static int16_t silence[AUDIO_FRAME_MAX * 2];
	CHECK_INT_EQ(spice->mic(v.c, silence, AUDIO_FRAME_MAX), 0);

	check_mouse(&v);
	check_mic(&v);

	check_vdagent(&v);

	/* the VM goes away mid-stream: ERROR within seconds */
	vm_stop();
	int64_t t0 = clock_mono_ms();
	while (!v.error && clock_mono_ms() - t0 < 10000)
		pump(&v, 100);
	CHECK(v.error);
	printf("console loss: CAPTURE_ERROR %lld ms after stop.sh returned\n",
	       (long long)(clock_mono_ms() - t0));
	CHECK(clock_mono_ms() - t0 < 5000);
	struct msg m = {.type = MSG_KEY};
	m.u.key.scancode = KEY_A;
	CHECK_INT_EQ(spice->inject(v.c, &m), -EIO);
	spice->close(v.c);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(240); /* a hang ends the test; stop.sh is not run then, the run dir says where */
	log_set_sink(sink, NULL);
	log_set_level(LOG_LEVEL_DEBUG);

	const char *tmp = getenv("TMPDIR");
	snprintf(run_dir, sizeof(run_dir), "%s/hr-spice-test.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(run_dir)) {
		perror("mkdtemp");
		return 1;
	}

	snprintf(empty_dir, sizeof(empty_dir), "%s/empty", run_dir);
	CHECK_INT_EQ(mkdir(empty_dir, 0555), 0);
	check_uris();
	check_cursor_shapes();
	CHECK(vm_start());
	if (check_failed) {
		vm_stop();
		return check_done("test_capture_spice");
	}

	/* the sandboxed open first: the child has not touched GLib through us */
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(sandboxed_child());
	int status = 0;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	int64_t t0 = clock_mono_ms();
	while (!serial_has("SANDBOXED-OK") && clock_mono_ms() - t0 < 10000)
		usleep(100000);
	CHECK(serial_has("SANDBOXED-OK"));

	char uri[64];
	uri_of(uri, sizeof(uri));
	CHECK(spice->reachable(uri, 1000));
	check_auth(uri);
	check_session(uri);
	vm_stop();

	CHECK(vm_start_virtio());
	if (check_failed == 0)
		check_cursor();
	vm_stop();
	CHECK(!secret_logged);
	CHECK(!logged("GL scanout"));
	if (check_failed == 0) {
		char *argv[] = {"rm", "-rf", run_dir, NULL};
		run(argv, true);
	} else {
		fprintf(stderr, "kept %s (serial.log, qemu.log, screendumps)\n", run_dir);
	}
	return check_done("test_capture_spice");
}
