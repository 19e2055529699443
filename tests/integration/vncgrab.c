/* SPDX-License-Identifier: MIT */
/*
 * vncgrab: reads a VNC server's framebuffer directly with libvncclient (through
 * the agent's own VNC backend, which is a thin libvncclient client) and writes
 * it as PNG. The agent tests compare what highrise-probe decoded against it.
 *
 *   vncgrab vnc://127.0.0.1:5910 out.png
 */
#include "capture.h"
#include "log.h"
#include "png.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	struct capture_cfg cfg = {.connect_timeout_ms = 5000};
	struct capture_frame f;
	struct capture *c;
	uint8_t *rgb;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: vncgrab vnc://HOST:PORT OUT.png\n");
		return 2;
	}
	log_open("vncgrab", LOG_LEVEL_WARN, LOG_TARGET_STDERR);
	c = capture_vnc.open(argv[1], &cfg);
	if (!c)
		return 1;
	if (capture_vnc.next(c, 5000, &f) != CAPTURE_REINIT) {
		fprintf(stderr, "vncgrab: no framebuffer from %s\n", argv[1]);
		capture_vnc.close(c);
		return 1;
	}
	/*
	 * QEMU answers a new client's first request with the surface as it is,
	 * which for the VGA text console is blank until its next refresh redraws
	 * it: read updates until the screen has been still for 500 ms (3 s at
	 * most). The framebuffer is persistent, so f.pixels shows the result.
	 */
	for (int quiet = 0, waited = 0; quiet < 500 && waited < 3000; waited += 100) {
		struct capture_frame more;
		enum capture_status st = capture_vnc.next(c, 100, &more);
		if (st == CAPTURE_ERROR)
			break;
		if (st == CAPTURE_REINIT)
			f = more;
		quiet = st == CAPTURE_AGAIN ? quiet + 100 : 0;
	}
	rgb = malloc((size_t)f.width * f.height * 3);
	if (!rgb) {
		capture_vnc.close(c);
		return 1;
	}
	for (int y = 0; y < f.height; y++) {
		const uint8_t *src = f.pixels + (size_t)y * f.stride;
		uint8_t *dst = rgb + (size_t)y * f.width * 3;
		for (int x = 0; x < f.width; x++) { /* B,G,R,X -> R,G,B */
			dst[3 * x] = src[4 * x + 2];
			dst[3 * x + 1] = src[4 * x + 1];
			dst[3 * x + 2] = src[4 * x];
		}
	}
	rc = png_write_file(argv[2], rgb, f.width, f.height, f.width * 3);
	free(rgb);
	capture_vnc.close(c);
	return rc < 0 ? 1 : 0;
}
