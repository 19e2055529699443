/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_TEST_TONE_H
#define HIGHRISE_TEST_TONE_H

/*
 * Test tones for the audio tests: sine generation, the dominant frequency
 * (a Goertzel scan, coarse then fine) and the level (RMS in dBFS) of
 * interleaved stereo s16 at 48 kHz. Only the left channel is measured.
 */

#include <stddef.h>
#include <stdint.h>

/* Writes frames stereo frames of a sine at freq Hz and amplitude (0..1 of full scale). */
void tone_sine(int16_t *pcm, size_t frames, double freq, double amplitude, size_t phase_frame);

/* The strongest frequency in 50..4000 Hz, to about 0.25 Hz. */
double tone_dominant_hz(const int16_t *pcm, size_t frames);

/* RMS of the left channel in dB relative to full scale (a full-scale sine is -3 dB). */
double tone_level_db(const int16_t *pcm, size_t frames);

/* Writes a 48 kHz stereo s16 WAV file. 0 or -errno. */
int tone_write_wav(const char *path, const int16_t *pcm, size_t frames);

#endif
