/* SPDX-License-Identifier: MIT */
/*
 * bench-anim: the full-screen animation workload of bench/agent.
 *
 * An override-redirect window over the whole screen shows frame 0, says
 * "ready" on stdout, waits for SIGUSR1 (or starts at once with --now), then
 * draws frames 1..N at --fps on absolute deadlines, says "done N frames in S s" and keeps
 * the last frame up until SIGTERM. Every frame is a function of its number
 * only, so every run shows the same pictures in the same order: a plasma
 * (every pixel changes, smoothly, not as a plain translation a codec's
 * motion search would find for free) under a ticker of sharp text lines and
 * a bouncing box. A late frame is drawn late, never skipped.
 */
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/XShm.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <time.h>

#define PROG "bench-anim"

static volatile sig_atomic_t go, quit;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		go = 1;
	else
		quit = 1;
}

struct anim {
	Display *dpy;
	Window win;
	Pixmap pix; /* each frame is composed here, then copied to the window in one request */
	GC gc;
	XImage *img;
	XShmSegmentInfo shm;
	int width, height;
	uint8_t wave[2048];    /* 0..63 */
	uint32_t palette[256]; /* 0x00RRGGBB */
};

static void tables(struct anim *a)
{
	for (int i = 0; i < 2048; i++)
		a->wave[i] = (uint8_t)lrint(31.5 + 31.5 * sin(i * 2.0 * M_PI / 512.0));
	for (int i = 0; i < 256; i++) {
		double t = i * 2.0 * M_PI / 256.0;
		int r = (int)lrint(127.5 + 127.5 * sin(t));
		int g = (int)lrint(127.5 + 127.5 * sin(t + 2.1));
		int b = (int)lrint(127.5 + 127.5 * sin(t + 4.2));
		a->palette[i] = (uint32_t)(r << 16 | g << 8 | b);
	}
}

/* The picture of frame k into the shared image. */
static void render(struct anim *a, unsigned k)
{
	uint32_t *px = (uint32_t *)(void *)a->img->data;
	int stride = a->img->bytes_per_line / 4;
	unsigned t1 = k * 3, t2 = k * 5, t3 = k * 2, shift = k * 2;

	for (int y = 0; y < a->height; y++) {
		uint32_t *row = px + (size_t)y * (size_t)stride;
		unsigned wy = a->wave[(unsigned)(y * 2 + (int)t2) & 2047];
		for (int x = 0; x < a->width; x++) {
			unsigned v = a->wave[(unsigned)(x + (int)t1) & 2047] + wy +
				     a->wave[(unsigned)(x + y + (int)t3) & 2047] +
				     a->wave[(unsigned)(x - y / 2 + 1024 - (int)t1) & 2047];
			row[x] = a->palette[(v + shift) & 255];
		}
	}
}

/* Sharp edges on top: a ticker of text and a bouncing box. */
static void overlay(struct anim *a, unsigned k)
{
	char line[160];
	int bx = (int)(k * 7 % (unsigned)(2 * (a->width - 200)));
	int by = (int)(k * 5 % (unsigned)(2 * (a->height - 120)));

	bx = bx < a->width - 200 ? bx : 2 * (a->width - 200) - bx;
	by = by < a->height - 120 ? by : 2 * (a->height - 120) - by;
	XSetForeground(a->dpy, a->gc, 0xffffff);
	XFillRectangle(a->dpy, a->pix, a->gc, bx, by, 200, 120);
	XSetForeground(a->dpy, a->gc, 0x000000);
	XDrawRectangle(a->dpy, a->pix, a->gc, bx + 4, by + 4, 191, 111);
	snprintf(line, sizeof(line), "frame %06u", k);
	XDrawString(a->dpy, a->pix, a->gc, bx + 20, by + 60, line, (int)strlen(line));
	for (int i = 0; i < 12; i++) {
		int y = 100 + i * 80;
		int x = a->width - (int)((k * 6 + (unsigned)i * 97) % (unsigned)(a->width + 600));
		snprintf(line, sizeof(line),
			 "line %02d of the bench-anim ticker, frame %06u: the quick brown fox", i,
			 k);
		XSetForeground(a->dpy, a->gc, i % 2 ? 0xffffff : 0x101010);
		XDrawString(a->dpy, a->pix, a->gc, x, y, line, (int)strlen(line));
	}
}

static void draw(struct anim *a, unsigned k)
{
	render(a, k);
	XShmPutImage(a->dpy, a->pix, a->gc, a->img, 0, 0, 0, 0, (unsigned)a->width,
		     (unsigned)a->height, False);
	overlay(a, k);
	XCopyArea(a->dpy, a->pix, a->win, a->gc, 0, 0, (unsigned)a->width, (unsigned)a->height, 0,
		  0);
	XSync(a->dpy, False);
}

static int open_window(struct anim *a, const char *display)
{
	XSetWindowAttributes wa = {.override_redirect = True, .background_pixel = 0};
	int screen;

	a->dpy = XOpenDisplay(display);
	if (!a->dpy) {
		fprintf(stderr, PROG ": cannot open display %s\n", display ? display : "$DISPLAY");
		return -1;
	}
	if (!XShmQueryExtension(a->dpy)) {
		fprintf(stderr, PROG ": the X server has no MIT-SHM\n");
		return -1;
	}
	screen = DefaultScreen(a->dpy);
	a->width = DisplayWidth(a->dpy, screen);
	a->height = DisplayHeight(a->dpy, screen);
	if (DefaultDepth(a->dpy, screen) != 24) {
		fprintf(stderr, PROG ": needs a 24-bit display\n");
		return -1;
	}
	a->win = XCreateWindow(a->dpy, RootWindow(a->dpy, screen), 0, 0, (unsigned)a->width,
			       (unsigned)a->height, 0, CopyFromParent, InputOutput, CopyFromParent,
			       CWOverrideRedirect | CWBackPixel, &wa);
	a->pix = XCreatePixmap(a->dpy, a->win, (unsigned)a->width, (unsigned)a->height, 24);
	a->gc = XCreateGC(a->dpy, a->win, 0, NULL);
	a->img = XShmCreateImage(a->dpy, DefaultVisual(a->dpy, screen), 24, ZPixmap, NULL, &a->shm,
				 (unsigned)a->width, (unsigned)a->height);
	if (!a->img || a->img->bits_per_pixel != 32) {
		fprintf(stderr, PROG ": cannot make a 32-bit shared image\n");
		return -1;
	}
	a->shm.shmid = shmget(IPC_PRIVATE, (size_t)a->img->bytes_per_line * (size_t)a->height,
			      IPC_CREAT | 0600);
	if (a->shm.shmid < 0) {
		fprintf(stderr, PROG ": shmget failed\n");
		return -1;
	}
	a->shm.shmaddr = a->img->data = shmat(a->shm.shmid, NULL, 0);
	shmctl(a->shm.shmid, IPC_RMID, NULL); /* gone once both sides detach */
	if (a->shm.shmaddr == (char *)-1) {
		fprintf(stderr, PROG ": shmat failed\n");
		return -1;
	}
	a->shm.readOnly = True;
	XShmAttach(a->dpy, &a->shm);
	XMapRaised(a->dpy, a->win);
	XSync(a->dpy, False);
	return 0;
}

static void sleep_until(const struct timespec *ts)
{
	while (!quit && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ts, NULL) != 0)
		;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"display", required_argument, NULL, 'd'}, {"frames", required_argument, NULL, 'n'},
		{"fps", required_argument, NULL, 'f'},	   {"now", no_argument, NULL, 'g'},
		{"help", no_argument, NULL, 'h'},	   {NULL, 0, NULL, 0},
	};
	static struct anim a; /* large tables: not on the stack */
	const char *display = NULL;
	long frames = 240, fps = 30;
	struct sigaction sa = {.sa_handler = on_signal};
	struct timespec next, start;
	sigset_t block, old;
	long k;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			display = optarg;
			break;
		case 'n':
			frames = atol(optarg);
			break;
		case 'f':
			fps = atol(optarg);
			break;
		case 'g':
			go = 1;
			break;
		case 'h':
			printf("Usage: " PROG " [--display :N] [--frames 240] [--fps 30] [--now]\n"
			       "Full-screen deterministic animation; starts on SIGUSR1 (or "
			       "--now),\n"
			       "holds the last frame until SIGTERM.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (frames < 1 || frames > 100000 || fps < 1 || fps > 240)
		return 2;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	tables(&a);
	if (open_window(&a, display) < 0)
		return 1;
	draw(&a, 0);
	printf("ready\n");
	fflush(stdout);

	/* wait for the start signal without a race: it is blocked outside sigsuspend */
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	while (!go && !quit)
		sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);

	clock_gettime(CLOCK_MONOTONIC, &next);
	start = next;
	for (k = 1; k <= frames && !quit; k++) {
		long ns = next.tv_nsec + 1000000000L / fps;
		next.tv_sec += ns / 1000000000L;
		next.tv_nsec = ns % 1000000000L;
		sleep_until(&next);
		draw(&a, (unsigned)k);
	}
	if (!quit) {
		clock_gettime(CLOCK_MONOTONIC, &next);
		/* a busy machine draws late: say how fast the workload really ran */
		printf("done %ld frames in %.3f s\n", k - 1,
		       (double)(next.tv_sec - start.tv_sec) +
			       (double)(next.tv_nsec - start.tv_nsec) / 1e9);
		fflush(stdout);
	}
	sigprocmask(SIG_BLOCK, &block, &old);
	while (!quit)
		sigsuspend(&old);
	XShmDetach(a.dpy, &a.shm);
	shmdt(a.shm.shmaddr);
	XCloseDisplay(a.dpy);
	return 0;
}
