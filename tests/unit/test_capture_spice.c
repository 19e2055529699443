/* SPDX-License-Identifier: MIT */
/*
 * The SPICE console backend against a real QEMU: the test VM fixture
 * (tests/fixtures/vm) booted once with SPICE, a SPICE password and SPICE
 * audio. QEMU missing is a failure, not a skip. The VM is stopped at the end,
 * also when a check fails; the alarm ends a hang.
 *
 * Order matters: the sandboxed open runs first, in a child forked before
 * this process has touched GLib, because the seccomp filter is for good.
 */
#include "check.h"

#include "capture.h"
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

static bool logged(const char *needle)
{
	return strstr(logbuf, needle) != NULL;
}

/* ---- time and processes ---- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

static bool vm_start(void)
{
	char pwfile[300];
	snprintf(vm_dir, sizeof(vm_dir), "%s/vm", run_dir);
	snprintf(pwfile, sizeof(pwfile), "%s/spice.pw", run_dir);
	FILE *f = fopen(pwfile, "w");
	if (!f)
		return false;
	fputs(PASSWORD, f); /* QEMU takes the whole file: no newline */
	fclose(f);
	char *argv[] = {HR_SOURCE_DIR "/tests/fixtures/vm/start.sh",
			"--run-dir",
			vm_dir,
			"--vnc",
			"none",
			"--spice",
			"auto",
			"--spice-password-file",
			pwfile,
			"--audio",
			"spice",
			NULL};
	int64_t t0 = now_ms();
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
	printf("vm: booted in %.1f s, SPICE on port %s\n", (now_ms() - t0) / 1000.0, port);
	return true;
}

static void vm_stop(void)
{
	char *argv[] = {HR_SOURCE_DIR "/tests/fixtures/vm/stop.sh", "--run-dir", vm_dir, NULL};
	if (vm_dir[0])
		run(argv, true);
}

static bool serial_has(const char *needle)
{
	static char buf[1 << 16];
	int fd = open(serial, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
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
	int64_t end = now_ms() + ms;
	do {
		int left = (int)(end - now_ms());
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
	} while (now_ms() < end);
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

static bool wait_serial(struct view *v, const char *needle, int ms)
{
	int64_t end = now_ms() + ms;
	while (now_ms() < end) {
		if (serial_has(needle))
			return true;
		pump(v, 100);
	}
	return serial_has(needle);
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
	int64_t t0 = now_ms();
	struct capture *c = spice->open(uri, &cfg);
	if (took_ms)
		*took_ms = now_ms() - t0;
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
	int64_t t0 = now_ms();
	err = (struct capture_error){0};
	CHECK(open_uri("spice://127.0.0.1:1", NULL, NULL, &err, NULL) == NULL);
	CHECK_INT_EQ(err.kind, CAPTURE_FAIL_UNREACHABLE);
	CHECK(strstr(err.why, "cannot be reached") != NULL);
	err = (struct capture_error){0};
	CHECK(open_uri("spice+unix:///nonexistent/spice.sock", NULL, NULL, &err, NULL) == NULL);
	CHECK_INT_EQ(err.kind, CAPTURE_FAIL_UNREACHABLE);
	CHECK(now_ms() - t0 < 2000);
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
	int64_t end = now_ms() + 12000;
	while (now_ms() < end && !serial_has("HIGHRISE-VM-TONE-END"))
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
	int64_t end = now_ms() + 30000;
	while (now_ms() < end && !(v.reinits > reinits && v.width == 1280) && !v.error)
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

	/* no vdagent in this guest */
	CHECK(!spice->can_resize(v.c));
	char why[200];
	CHECK_INT_EQ(spice->resize(v.c, 1024, 768, why, sizeof(why)), -ENOTSUP);
	CHECK(strstr(why, "vdagent") != NULL);
	char *text = NULL;
	size_t len = 0;
	CHECK_INT_EQ(spice->clipboard_get(v.c, 1 << 20, &text, &len), 0);

	/* the VM goes away mid-stream: ERROR within seconds */
	vm_stop();
	int64_t t0 = now_ms();
	while (!v.error && now_ms() - t0 < 10000)
		pump(&v, 100);
	CHECK(v.error);
	printf("console loss: CAPTURE_ERROR %lld ms after stop.sh returned\n",
	       (long long)(now_ms() - t0));
	CHECK(now_ms() - t0 < 5000);
	struct msg m = {.type = MSG_KEY};
	m.u.key.scancode = KEY_A;
	CHECK_INT_EQ(spice->inject(v.c, &m), -EIO);
	spice->close(v.c);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(170); /* a hang ends the test; stop.sh is not run then, the run dir says where */
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
	int64_t t0 = now_ms();
	while (!serial_has("SANDBOXED-OK") && now_ms() - t0 < 10000)
		usleep(100000);
	CHECK(serial_has("SANDBOXED-OK"));

	char uri[64];
	uri_of(uri, sizeof(uri));
	CHECK(spice->reachable(uri, 1000));
	check_auth(uri);
	check_session(uri);

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
