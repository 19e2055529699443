/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for client/decoder: every VIDEO payload an agent sends
 * reaches libavcodec through decoder_decode, and every picture that comes
 * out is cropped to the WELCOME/RESIZE size and converted for the screen.
 *
 * Input: u16 width, u16 height (the desktop size the decoder is told; 0
 * forgets it, values above 16384 are clamped into range the way RESIZE
 * would have refused them), then access units, each a u16 length and that
 * many bytes. Every picture is read in full (the planes, as the GTK client
 * copies them) and converted to BGRA, so a crop that promised more than the
 * decoder holds shows up under ASan.
 */
#include "decoder.h"
#include "log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SIDE 1024 /* keeps each run small; the size limit itself is under test too */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_open("fuzz_client_h264", LOG_LEVEL_ERROR, LOG_TARGET_STDERR);
	return 0;
}

static volatile uint32_t sink;

static void read_picture(struct decoder *d, const struct decoder_frame *f)
{
	uint32_t sum = 0;
	uint8_t *bgra;

	if (f->width <= 0 || f->height <= 0 || f->width > MAX_SIDE || f->height > MAX_SIDE)
		abort(); /* the decoder promised never to hand these out */
	for (int i = 0; i < 3; i++) {
		int w = i ? (f->width + 1) / 2 : f->width, h = i ? (f->height + 1) / 2 : f->height;
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++)
				sum += f->plane[i][(size_t)y * (size_t)f->stride[i] + (size_t)x];
	}
	bgra = malloc((size_t)f->width * (size_t)f->height * 4);
	if (bgra) {
		if (decoder_to_rgb(d, f, DECODER_BGRA, bgra, f->width * 4) == 0)
			sum += bgra[0];
		free(bgra);
	}
	sink = sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct decoder_cfg cfg = {.threads = 1, .max_width = MAX_SIDE, .max_height = MAX_SIDE};
	struct decoder *d;
	struct decoder_frame f;
	int w, h;

	if (size < 4)
		return 0;
	d = decoder_new(&cfg);
	if (!d)
		abort();
	w = (data[0] << 8 | data[1]) % 16385;
	h = (data[2] << 8 | data[3]) % 16385;
	if ((w == 0) != (h == 0))
		w = h = 0;
	decoder_set_size(d, w, h);
	data += 4;
	size -= 4;
	while (size >= 2) {
		size_t len = (size_t)(data[0] << 8 | data[1]);
		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		(void)decoder_au_is_keyframe(data, len);
		if (len && decoder_decode(d, data, len, &f) == DECODER_OK)
			read_picture(d, &f);
		data += len;
		size -= len;
	}
	if (decoder_last_frame(d, &f) == 0)
		read_picture(d, &f);
	decoder_free(d);
	return 0;
}
