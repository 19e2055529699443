/* SPDX-License-Identifier: MIT */
/*
 * bench-vnc-recv: the peer's side of bench/agent, a libvncclient receiver.
 *
 * Connects to a VNC server (x11vnc in the benchmark) asking for one
 * encoding (Tight or ZRLE, plus CopyRect and the cursor-shape pseudo
 * encodings that real viewers ask for; libvncclient's default quality and
 * compression levels), keeps one incremental FramebufferUpdateRequest
 * outstanding the way every viewer does (RFC 6143 §7.5.3), and records
 * each update that carried pixels: when it was fully decoded and how many
 * bytes the socket had received since the previous one (TCP_INFO
 * tcpi_bytes_received: everything the server sent, RFB headers included).
 *
 * With --type it types like highrise-probe --type --key-delay: key down
 * and key up, DELAY ms apart, starting SLEEP ms after the first update,
 * and times each key press to the first pixel update that began arriving
 * after it (RFC 6143 §7.5.4 KeyEvent): the key-to-screen latency a user
 * of this server feels. Prints one JSON object in the shape
 * bench/agent/run.sh reads for every side.
 */
#include "clock.h"
#include <errno.h>
#include <getopt.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <rfb/rfbclient.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#define PROG	       "bench-vnc-recv"
#define UPDATES_MAX    8192
#define INPUTS_PENDING 64
#define XK_RETURN      0xff0d

struct input {
	double sent_ms;
	bool skip_one; /* an update was already arriving when the key went out */
};

struct receiver {
	rfbClient *cl;
	double t0_ms;
	int rects; /* pixel rectangles in the update being read */
	uint64_t last_bytes;
	double update_ms[UPDATES_MAX];
	uint64_t update_bytes[UPDATES_MAX];
	size_t nupdates, updates_total;
	double first_update_ms;
	struct input pending[INPUTS_PENDING];
	size_t npending;
	double *input_ms;
	size_t ninput;
};

static struct receiver rx; /* one per process: libvncclient's callbacks find it here */

static uint64_t socket_bytes(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 0;
	return ti.tcpi_bytes_received;
}

static void got_rect(rfbClient *cl, int x, int y, int w, int h)
{
	(void)cl;
	(void)x;
	(void)y;
	(void)w;
	(void)h;
	rx.rects++;
}

static void finished_update(rfbClient *cl)
{
	double t = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e6) - rx.t0_ms;
	uint64_t b = socket_bytes(cl->sock);
	size_t n = 0, kept = 0;

	if (rx.rects == 0) /* cursor shape or position only */
		return;
	rx.rects = 0;
	if (!rx.updates_total)
		rx.first_update_ms = t;
	rx.updates_total++;
	if (rx.nupdates < UPDATES_MAX) {
		rx.update_ms[rx.nupdates] = t;
		rx.update_bytes[rx.nupdates++] = b - rx.last_bytes;
	}
	rx.last_bytes = b;
	/* key presses this update answers; one that went out mid-update waits for the next */
	for (; n < rx.npending; n++) {
		if (rx.pending[n].skip_one) {
			rx.pending[n].skip_one = false;
			rx.pending[kept++] = rx.pending[n];
			continue;
		}
		rx.input_ms[rx.ninput++] = t - rx.pending[n].sent_ms;
	}
	rx.npending = kept;
}

static void send_key(uint32_t keysym, bool down)
{
	int waiting = 0;

	if (down) {
		if (rx.npending == INPUTS_PENDING) {
			memmove(rx.pending, rx.pending + 1,
				(INPUTS_PENDING - 1) * sizeof(rx.pending[0]));
			rx.npending--;
		}
		ioctl(rx.cl->sock, FIONREAD, &waiting);
		rx.pending[rx.npending].skip_one = waiting > 0 || rx.cl->buffered > 0;
		rx.pending[rx.npending++].sent_ms = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e6) -
						    rx.t0_ms;
	}
	SendKeyEvent(rx.cl, keysym, down ? TRUE : FALSE);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest rank (the smallest value with p% at or below it), like client/stats.c. */
static double percentile(double *v, size_t n, unsigned p)
{
	size_t rank = (p * n + 99) / 100;

	qsort(v, n, sizeof(*v), cmp_double);
	return v[(rank ? rank : 1) - 1];
}

static int write_ppm(const char *path)
{
	FILE *f = fopen(path, "wb");
	const uint8_t *fb = rx.cl->frameBuffer;
	int w = rx.cl->width, h = rx.cl->height;

	if (!f)
		return -errno;
	fprintf(f, "P6\n%d %d\n255\n", w, h);
	/* rfbGetClient(8, 3, 4): red at shift 0, green 8, blue 16 -> bytes R, G, B, X */
	for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
		fwrite(fb + i * 4, 1, 3, f);
	return fclose(f) == 0 ? 0 : -EIO;
}

static void print_json(const char *encoding, double seconds)
{
	printf("{\"encoding\":\"%s\",\"width\":%d,\"height\":%d,\"seconds\":%.3f,"
	       "\"frames\":%zu,\"bytes\":%llu,\"first_update_ms\":%.1f,",
	       encoding, rx.cl->width, rx.cl->height, seconds, rx.updates_total,
	       (unsigned long long)socket_bytes(rx.cl->sock), rx.first_update_ms);
	if (rx.ninput) {
		double p50 = percentile(rx.input_ms, rx.ninput, 50);
		double p99 = percentile(rx.input_ms, rx.ninput, 99);
		printf("\"input_to_frame_ms\":{\"p50\":%.3f,\"p99\":%.3f},", p50, p99);
	} else {
		printf("\"input_to_frame_ms\":{\"p50\":null,\"p99\":null},");
	}
	printf("\"inputs_timed\":%zu,\"frame_ms\":[", rx.ninput);
	for (size_t i = 0; i < rx.nupdates; i++)
		printf("%s%.1f", i ? "," : "", rx.update_ms[i]);
	printf("],\"frame_bytes\":[");
	for (size_t i = 0; i < rx.nupdates; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)rx.update_bytes[i]);
	printf("]}\n");
}

static void usage(FILE *out)
{
	fputs("Usage: " PROG " --port PORT --encoding tight|zrle --seconds S [--host 127.0.0.1]\n"
	      "       [--type TEXT --sleep MS --key-delay MS] [--ppm FILE]\n"
	      "\n"
	      "Receives a VNC server's updates for S seconds in one encoding and prints, as\n"
	      "JSON, when each pixel update was decoded and the bytes it took; with --type,\n"
	      "types TEXT (printable ASCII, \\n for Return) starting MS after the first update\n"
	      "and reports key press to update latency. --ppm writes the last picture.\n",
	      out);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"host", required_argument, NULL, 'H'},
		{"port", required_argument, NULL, 'p'},
		{"encoding", required_argument, NULL, 'e'},
		{"seconds", required_argument, NULL, 's'},
		{"type", required_argument, NULL, 't'},
		{"sleep", required_argument, NULL, 'w'},
		{"key-delay", required_argument, NULL, 'k'},
		{"ppm", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *host = "127.0.0.1", *encoding = NULL, *text = NULL, *ppm = NULL;
	int port = 0, c, rc = 0;
	double seconds = 0, sleep_ms = 0, key_delay = 10, end_ms;
	size_t nevents = 0, next_event = 0;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'H':
			host = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'e':
			encoding = optarg;
			break;
		case 's':
			seconds = strtod(optarg, NULL);
			break;
		case 't':
			text = optarg;
			break;
		case 'w':
			sleep_ms = strtod(optarg, NULL);
			break;
		case 'k':
			key_delay = strtod(optarg, NULL);
			break;
		case 'o':
			ppm = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (port <= 0 || port > 65535 || !encoding || !(seconds > 0 && seconds <= 600) ||
	    (strcmp(encoding, "tight") != 0 && strcmp(encoding, "zrle") != 0)) {
		usage(stderr);
		return 2;
	}
	for (const char *p = text; p && *p; p++) {
		if ((*p < 0x20 || *p > 0x7e) && *p != '\n') {
			fprintf(stderr, PROG ": --type takes printable ASCII and \\n only\n");
			return 2;
		}
	}
	nevents = text ? 2 * strlen(text) : 0;
	rx.input_ms = calloc(nevents / 2 + 1, sizeof(double));
	if (!rx.input_ms)
		return 1;

	rfbEnableClientLogging = FALSE;
	rx.cl = rfbGetClient(8, 3, 4);
	if (!rx.cl)
		return 1;
	rx.cl->serverHost = strdup(host);
	rx.cl->serverPort = port;
	rx.cl->appData.encodingsString = strcmp(encoding, "tight") == 0 ? "tight copyrect"
									: "zrle copyrect";
	rx.cl->appData.useRemoteCursor =
		TRUE; /* as real viewers: the cursor is not in the pixels */
	rx.cl->GotFrameBufferUpdate = got_rect;
	rx.cl->FinishedFrameBufferUpdate = finished_update;
	rx.cl->canHandleNewFBSize = FALSE;
	if (!rfbInitClient(rx.cl, NULL, NULL)) { /* frees the client on failure */
		fprintf(stderr, PROG ": cannot connect to %s:%d\n", host, port);
		free(rx.input_ms);
		return 1;
	}
	rx.t0_ms = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e6);
	rx.last_bytes = socket_bytes(rx.cl->sock);
	end_ms = seconds * 1e3;

	for (;;) {
		double t = ((double)clock_ns_of(CLOCK_MONOTONIC) / 1e6) - rx.t0_ms, until = end_ms;
		int n;

		if (t >= end_ms)
			break;
		/* the typing script: event i at first update + sleep + i * key_delay */
		while (rx.updates_total && next_event < nevents &&
		       t >= rx.first_update_ms + sleep_ms + (double)next_event * key_delay) {
			char ch = text[next_event / 2];
			send_key(ch == '\n' ? XK_RETURN : (uint32_t)(unsigned char)ch,
				 next_event % 2 == 0);
			next_event++;
		}
		if (rx.updates_total && next_event < nevents) {
			double due = rx.first_update_ms + sleep_ms + (double)next_event * key_delay;
			until = due < until ? due : until;
		}
		n = WaitForMessage(rx.cl, (unsigned)((until - t > 0 ? until - t : 0) * 1000) + 1);
		if (n < 0) {
			fprintf(stderr, PROG ": the connection broke\n");
			rc = 1;
			break;
		}
		if (n == 0)
			continue;
		do {
			if (!HandleRFBServerMessage(rx.cl)) {
				fprintf(stderr, PROG ": the server closed the connection\n");
				rc = 1;
				break;
			}
		} while (rx.cl->buffered > 0); /* select() cannot see what libvncclient buffered */
		if (rc)
			break;
	}
	print_json(encoding, (((double)clock_ns_of(CLOCK_MONOTONIC) / 1e6) - rx.t0_ms) / 1e3);
	if (ppm && write_ppm(ppm) < 0) {
		fprintf(stderr, PROG ": cannot write %s\n", ppm);
		rc = 1;
	}
	free(rx.cl->frameBuffer);
	rx.cl->frameBuffer = NULL;
	rfbClientCleanup(rx.cl);
	free(rx.input_ms);
	return rc;
}
