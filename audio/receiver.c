/* SPDX-License-Identifier: MIT */
#include "receiver.h"

#include "log.h"
#include "opus_codec.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define US_PER_SAMPLE(n) ((int64_t)(n)*1000000 / OPUS_CODEC_RATE)

struct audio_rx {
	pthread_mutex_t lock; /* jb and the counters below */
	struct jitter *jb;
	uint64_t bytes, refused;
	struct opus_dec_stats dec_stats; /* a copy the fill thread updates */
	uint64_t silent;
	int64_t last_capture_us;

	/* the fill thread's own */
	struct opus_dec *dec;
	int16_t pcm[OPUS_CODEC_MAX_SAMPLES * OPUS_CODEC_CHANNELS]; /* decoded, not played yet */
	int left_off, left_n; /* samples per channel: where the rest starts, how many */
	int64_t left_capture_us;
	uint8_t packet[JITTER_PACKET_MAX]; /* the popped packet, copied out of the lock */
	uint8_t fec[JITTER_PACKET_MAX];
};

struct audio_rx *audio_rx_new(const struct jitter_cfg *cfg)
{
	struct jitter_cfg dflt = {0};
	struct audio_rx *rx = calloc(1, sizeof(*rx));

	if (!rx) {
		log_error("audio: out of memory");
		return NULL;
	}
	pthread_mutex_init(&rx->lock, NULL);
	rx->jb = jitter_new(cfg ? cfg : &dflt);
	rx->dec = opus_dec_new();
	rx->last_capture_us = INT64_MIN;
	if (!rx->jb || !rx->dec) {
		audio_rx_free(rx);
		return NULL;
	}
	return rx;
}

void audio_rx_free(struct audio_rx *rx)
{
	if (!rx)
		return;
	jitter_free(rx->jb);
	opus_dec_free(rx->dec);
	pthread_mutex_destroy(&rx->lock);
	free(rx);
}

int audio_rx_push(struct audio_rx *rx, int64_t capture_us, int64_t arrival_us,
		  const uint8_t *packet, size_t len)
{
	int n = opus_dec_check(packet, len);
	int rc;

	/* Opus allows 120 ms; our senders make 2.5..20 ms frames, so more is a confused peer */
	if (n > AUDIO_RX_PACKET_MAX)
		n = OPUS_CODEC_ETOOLONG;
	pthread_mutex_lock(&rx->lock);
	if (n > 0) {
		rc = jitter_push(rx->jb, capture_us, arrival_us, US_PER_SAMPLE(n), packet, len);
		if (rc == 0) {
			rx->bytes += len;
			rc = n;
		} else if (rc == 1) {
			rc = 0;
		}
	} else {
		rc = n;
	}
	if (rc < 0)
		rx->refused++;
	pthread_mutex_unlock(&rx->lock);
	return rc;
}

/* Samples per channel for duration_us of concealment: whole 2.5 ms steps, 2.5..120 ms. */
static int conceal_samples(int64_t duration_us)
{
	int64_t n = duration_us * OPUS_CODEC_RATE / 1000000;

	n -= n % 120;
	if (n < 120)
		n = 120;
	if (n > OPUS_CODEC_MAX_SAMPLES)
		n = OPUS_CODEC_MAX_SAMPLES;
	return (int)n;
}

/* Decodes (or conceals) the next thing the jitter buffer says into rx->pcm; false when idle. */
static bool refill(struct audio_rx *rx, int64_t now_us)
{
	struct jitter_out out;
	size_t len = 0, fec_len = 0;
	int n;

	pthread_mutex_lock(&rx->lock);
	jitter_pop(rx->jb, now_us, &out);
	if (out.status == JITTER_PACKET) {
		len = out.len;
		memcpy(rx->packet, out.data, len);
	} else if (out.status == JITTER_MISSING && out.fec) {
		fec_len = out.fec_len;
		memcpy(rx->fec, out.fec, fec_len);
	} else if (out.status == JITTER_IDLE) {
		rx->silent++;
	}
	pthread_mutex_unlock(&rx->lock);

	if (out.status == JITTER_IDLE)
		return false;
	n = -1;
	if (out.status == JITTER_PACKET)
		n = opus_dec_decode(rx->dec, rx->packet, len, rx->pcm, OPUS_CODEC_MAX_SAMPLES);
	if (n <= 0) /* missing, or a packet libopus refused after all: conceal its length */
		n = opus_dec_conceal(rx->dec, fec_len ? rx->fec : NULL, fec_len,
				     conceal_samples(out.duration_us), rx->pcm,
				     OPUS_CODEC_MAX_SAMPLES);
	if (n <= 0) {
		memset(rx->pcm, 0, sizeof(int16_t) * OPUS_CODEC_CHANNELS * 120);
		n = 120;
	}
	rx->left_off = 0;
	rx->left_n = n;
	rx->left_capture_us = out.capture_us;

	pthread_mutex_lock(&rx->lock);
	opus_dec_stats(rx->dec, &rx->dec_stats);
	pthread_mutex_unlock(&rx->lock);
	return true;
}

int audio_rx_fill(struct audio_rx *rx, int16_t *pcm, int samples, int64_t play_us)
{
	int got = 0, sound = 0;
	int64_t first = INT64_MIN;

	if (samples > OPUS_CODEC_MAX_SAMPLES)
		samples = OPUS_CODEC_MAX_SAMPLES;
	while (got < samples) {
		if (rx->left_n == 0 && !refill(rx, play_us + US_PER_SAMPLE(got)))
			break;
		int n = rx->left_n < samples - got ? rx->left_n : samples - got;
		memcpy(pcm + (size_t)got * OPUS_CODEC_CHANNELS,
		       rx->pcm + (size_t)rx->left_off * OPUS_CODEC_CHANNELS,
		       sizeof(int16_t) * OPUS_CODEC_CHANNELS * (size_t)n);
		if (first == INT64_MIN)
			first = rx->left_capture_us;
		rx->left_capture_us += US_PER_SAMPLE(n);
		rx->left_off += n;
		rx->left_n -= n;
		got += n;
		sound += n;
	}
	if (got < samples)
		memset(pcm + (size_t)got * OPUS_CODEC_CHANNELS, 0,
		       sizeof(int16_t) * OPUS_CODEC_CHANNELS * (size_t)(samples - got));
	pthread_mutex_lock(&rx->lock);
	rx->last_capture_us = first;
	pthread_mutex_unlock(&rx->lock);
	return sound;
}

int64_t audio_rx_last_capture_us(const struct audio_rx *rx)
{
	struct audio_rx *m = (struct audio_rx *)rx; /* the lock is not part of the value */
	pthread_mutex_lock(&m->lock);
	int64_t v = m->last_capture_us;
	pthread_mutex_unlock(&m->lock);
	return v;
}

void audio_rx_stats(struct audio_rx *rx, struct audio_rx_stats *out)
{
	struct jitter_stats js;

	pthread_mutex_lock(&rx->lock);
	jitter_stats(rx->jb, &js);
	*out = (struct audio_rx_stats){
		.packets = js.pushed,
		.bytes = rx->bytes,
		.refused = rx->refused + rx->dec_stats.refused,
		.late = js.late,
		.dropped = js.dropped,
		.decoded = rx->dec_stats.packets,
		.concealed = rx->dec_stats.concealed,
		.recovered = rx->dec_stats.recovered,
		.silent = rx->silent,
		.depth_us = js.depth_us,
		.target_us = js.target_us,
	};
	pthread_mutex_unlock(&rx->lock);
}
