/* SPDX-License-Identifier: MIT */
#include "tone.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void tone_sine(int16_t *pcm, size_t frames, double freq, double amplitude, size_t phase_frame)
{
	for (size_t i = 0; i < frames; i++) {
		double v = amplitude * 32767.0 *
			   sin(2 * M_PI * freq * (double)(i + phase_frame) / 48000.0);
		pcm[2 * i] = pcm[2 * i + 1] = (int16_t)lrint(v);
	}
}

static double goertzel(const int16_t *pcm, size_t frames, double freq)
{
	double w = 2 * M_PI * freq / 48000.0, c = 2 * cos(w);
	double s1 = 0, s2 = 0;

	for (size_t i = 0; i < frames; i++) {
		double s = pcm[2 * i] + c * s1 - s2;
		s2 = s1;
		s1 = s;
	}
	return s1 * s1 + s2 * s2 - c * s1 * s2;
}

double tone_dominant_hz(const int16_t *pcm, size_t frames)
{
	double best = 0, best_p = -1;

	for (double f = 50; f <= 4000; f += 5) {
		double p = goertzel(pcm, frames, f);
		if (p > best_p) {
			best_p = p;
			best = f;
		}
	}
	double lo = best - 5, hi = best + 5;
	best_p = -1;
	for (double f = lo; f <= hi; f += 0.25) {
		double p = goertzel(pcm, frames, f);
		if (p > best_p) {
			best_p = p;
			best = f;
		}
	}
	return best;
}

double tone_level_db(const int16_t *pcm, size_t frames)
{
	double sum = 0;

	if (frames == 0)
		return -200;
	for (size_t i = 0; i < frames; i++)
		sum += (double)pcm[2 * i] * pcm[2 * i];
	double rms = sqrt(sum / (double)frames) / 32768.0;
	return rms > 0 ? 20 * log10(rms) : -200;
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

int tone_write_wav(const char *path, const int16_t *pcm, size_t frames)
{
	uint8_t h[44];
	uint32_t bytes = (uint32_t)(frames * 4);
	FILE *f = fopen(path, "wb");

	if (!f)
		return -errno;
	memcpy(h, "RIFF", 4);
	put32(h + 4, 36 + bytes);
	memcpy(h + 8, "WAVEfmt ", 8);
	put32(h + 16, 16);
	put16(h + 20, 1); /* PCM */
	put16(h + 22, 2);
	put32(h + 24, 48000);
	put32(h + 28, 48000 * 4);
	put16(h + 32, 4);
	put16(h + 34, 16);
	memcpy(h + 36, "data", 4);
	put32(h + 40, bytes);
	/* WAV is little-endian, as is every machine we build on. */
	int ok = fwrite(h, 1, sizeof(h), f) == sizeof(h) && fwrite(pcm, 4, frames, f) == frames;
	if (fclose(f) != 0 || !ok)
		return -EIO;
	return 0;
}
