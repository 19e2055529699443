/* SPDX-License-Identifier: MIT */
#include "sound.h"

#include "clock.h"
#include "log.h"
#include "pulse.h"
#include "receiver.h"
#include "source.h"
#include "timeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEEPALIVE_US 400000 /* during DTX, one 3-byte keep-alive packet this often */
#define TINY_PACKET  3	    /* libopus's CELT packet of digital silence */

struct sound {
	char desktop[130];
	const struct audio_source_impl *impl;
	struct audio_source *src;
	struct event *src_ev;
	struct opus_enc *enc;
	bool listening;
	int drop_percent;
	uint32_t rng;
	bool in_silence;	   /* the last packet was tiny */
	int64_t last_keepalive_us; /* capture time of the last tiny packet sent */
	void (*on_packet)(const struct msg_audio *a, void *ud);
	void *ud;
	struct sound_stats st;

	struct audio_rx *mic_rx;
	struct audio_playback *mic_play;

	/* source "console": the frame being gathered from sound_feed */
	bool feed;
	int frame_samples;
	struct audio_frame part;
	int64_t last_feed_us;
	struct audio_timeline feed_tl; /* the pieces' capture times */
	/* mic_console: a frame every frame_us while the microphone streams */
	struct event *mic_ev;
	int mic_quiet; /* frames in a row without sound: the timer stops after a second */
	void (*on_mic)(const int16_t *pcm, int samples, int64_t capture_us, void *ud);
};

#define CONSOLE_URI "console"
#define FEED_GAP_US 60000 /* a piece this much later than the timeline: the console paused */

static bool test_drop(struct sound *s)
{
	if (s->drop_percent <= 0)
		return false;
	/* xorshift32: reproducible, and not a secret */
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 17;
	s->rng ^= s->rng << 5;
	return s->rng % 100 < (uint32_t)s->drop_percent;
}

static bool digital_silence(const struct audio_frame *f)
{
	for (int i = 0; i < f->samples * AUDIO_CHANNELS; i++)
		if (f->pcm[i])
			return false;
	return true;
}

/*
 * Silence costs (almost) nothing: DTX sends nothing, and of what libopus
 * still makes during silence — 3-byte packets every ~200 ms, and the
 * normal-sized packets of the first frames after sound, which it encodes
 * before DTX sets in — only the first frame of silence (so the decoder
 * fades out on real silence) and one tiny packet every KEEPALIVE_US go
 * out. A receiver treats the gaps as silence (its jitter buffer goes idle).
 */
static void encode_frame(struct sound *s, const struct audio_frame *f)
{
	uint8_t pkt[OPUS_CODEC_MAX_PACKET];
	int n = opus_enc_encode(s->enc, f->pcm, pkt, sizeof(pkt));
	bool quiet = n <= TINY_PACKET || digital_silence(f);

	if (n < 0) {
		log_warn("desktop %s: sound: %s", s->desktop, opus_codec_strerror(n));
		return;
	}
	if (n == 0 || (quiet && s->in_silence &&
		       (n > TINY_PACKET || f->capture_us - s->last_keepalive_us < KEEPALIVE_US))) {
		s->st.silent++;
		return;
	}
	if (quiet)
		s->last_keepalive_us = f->capture_us;
	s->in_silence = quiet;
	if (test_drop(s)) {
		s->st.test_drops++;
		return;
	}
	struct msg_audio a = {.capture_us = (uint64_t)f->capture_us,
			      .data = {.data = pkt, .len = (size_t)n}};
	s->st.packets++;
	s->st.bytes += (uint64_t)n;
	s->on_packet(&a, s->ud);
}

/* A whole captured frame: counted, and encoded while someone listens. */
static void frame_done(struct sound *s, const struct audio_frame *f)
{
	s->st.frames++;
	if (s->listening)
		encode_frame(s, f);
}

static void src_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sound *s = arg;
	struct audio_frame f;

	(void)fd;
	(void)what;
	/* a bounded turn: the loop serves the network between batches */
	for (int i = 0; i < 16 && s->impl->next(s->src, 0, &f) == AUDIO_OK; i++)
		frame_done(s, &f);
}

static int mic_fill(int16_t *pcm, int samples, int64_t play_us, int64_t need_us, void *ud)
{
	struct sound *s = ud;
	(void)play_us;
	audio_rx_fill(s->mic_rx, pcm, samples, need_us);
	return samples; /* silence counts as sound here: the microphone is simply quiet */
}

static int open_source(struct sound *s, struct event_base *base, const struct sound_cfg *cfg)
{
	char name[160];

	if (strcmp(cfg->source_uri, CONSOLE_URI) == 0) {
		s->feed = true;
		audio_timeline_init(&s->feed_tl, FEED_GAP_US);
	} else {
		s->impl = audio_source_find(cfg->source_uri);
		if (!s->impl)
			return -EINVAL;
		snprintf(name, sizeof(name), "highrise-agent %s", s->desktop);
		struct audio_source_cfg scfg = {
			.frame_us = cfg->frame_us,
			.server = cfg->server,
			.client_name = name,
			.queue_frames = 16,
		};
		s->src = s->impl->open(cfg->source_uri, &scfg);
		if (!s->src)
			return -EINVAL;
		int fd = s->impl->fd(s->src);
		if (fd < 0) {
			log_error("desktop %s: sound: the %s source gives no descriptor to wait on",
				  s->desktop, s->impl->name);
			return -EINVAL;
		}
		s->src_ev = event_new(base, fd, EV_READ | EV_PERSIST, src_cb, s);
		if (!s->src_ev || event_add(s->src_ev, NULL) < 0)
			return -ENOMEM;
	}
	struct opus_enc_cfg ecfg = {
		.frame_us = cfg->frame_us, .app = cfg->app, .bitrate = cfg->bitrate};
	s->enc = opus_enc_new(&ecfg);
	return s->enc ? 0 : -EINVAL;
}

static void mic_tick(evutil_socket_t fd, short what, void *arg)
{
	struct sound *s = arg;
	int16_t pcm[AUDIO_FRAME_MAX * AUDIO_CHANNELS];

	(void)fd;
	(void)what;
	if (audio_rx_fill(s->mic_rx, pcm, s->frame_samples, clock_real_us()) > 0) {
		s->mic_quiet = 0;
		s->on_mic(pcm, s->frame_samples, audio_rx_last_capture_us(s->mic_rx), s->ud);
	} else if (++s->mic_quiet * (int64_t)s->frame_samples >= AUDIO_RATE) {
		event_del(s->mic_ev); /* the next MIC starts it again */
	}
}

static int open_mic(struct sound *s, struct event_base *base, const struct sound_cfg *cfg)
{
	char name[160];

	s->mic_rx = audio_rx_new(NULL);
	if (!s->mic_rx)
		return -ENOMEM;
	if (cfg->mic_console) {
		s->on_mic = cfg->on_mic;
		s->mic_ev = event_new(base, -1, EV_PERSIST, mic_tick, s);
		return s->mic_ev && s->on_mic ? 0 : -ENOMEM;
	}
	snprintf(name, sizeof(name), "highrise-agent %s microphone", s->desktop);
	struct audio_playback_cfg pcfg = {
		.frame_us = cfg->frame_us,
		.server = cfg->server,
		.sink = cfg->mic_sink,
		.create_sink = true,
		.client_name = name,
		.fill = mic_fill,
		.userdata = s,
	};
	s->mic_play = audio_playback_new(&pcfg);
	return s->mic_play ? 0 : -EINVAL;
}

struct sound *sound_new(struct event_base *base, const struct sound_cfg *cfg)
{
	struct sound *s = calloc(1, sizeof(*s));

	if (!s) {
		log_error("desktop %s: sound: out of memory", cfg->desktop);
		return NULL;
	}
	snprintf(s->desktop, sizeof(s->desktop), "%s", cfg->desktop);
	s->on_packet = cfg->on_packet;
	s->ud = cfg->ud;
	s->drop_percent = cfg->drop_percent;
	s->rng = 0x9e3779b9u;
	s->frame_samples = (cfg->frame_us ? cfg->frame_us : 10000) * (AUDIO_RATE / 1000) / 1000;
	if (cfg->source_uri && open_source(s, base, cfg) < 0)
		goto fail;
	if ((cfg->mic_sink || cfg->mic_console) && open_mic(s, base, cfg) < 0)
		goto fail;
	if (s->drop_percent > 0)
		log_warn("desktop %s: test.audio_drop_percent: dropping %d %% of AUDIO packets on "
			 "purpose",
			 s->desktop, s->drop_percent);
	return s;
fail:
	sound_free(s);
	return NULL;
}

void sound_free(struct sound *s)
{
	if (!s)
		return;
	if (s->src_ev)
		event_free(s->src_ev);
	if (s->mic_ev)
		event_free(s->mic_ev);
	if (s->impl)
		s->impl->close(s->src);
	opus_enc_free(s->enc);
	audio_playback_free(s->mic_play); /* stops the thread that uses mic_rx */
	audio_rx_free(s->mic_rx);
	free(s);
}

void sound_listen(struct sound *s, bool on)
{
	if (s->listening == on)
		return;
	s->listening = on;
	s->in_silence = false;
	log_debug("desktop %s: sound %s", s->desktop, on ? "streams" : "paused (nobody listens)");
}

void sound_set_loss(struct sound *s, unsigned loss_per_mille)
{
	if (s->enc)
		opus_enc_set_loss(s->enc, (int)((loss_per_mille + 9) / 10));
}

bool sound_has_mic(const struct sound *s)
{
	return s->mic_rx != NULL;
}

int sound_mic(struct sound *s, const struct msg_audio *m)
{
	int rc;

	if (!s->mic_rx)
		return -ENOTSUP;
	rc = audio_rx_push(s->mic_rx, (int64_t)m->capture_us, clock_real_us(), m->data.data,
			   m->data.len);
	if (rc < 0) {
		if (s->st.mic_refused++ == 0)
			log_info("desktop %s: a microphone packet was refused (%s); more are "
				 "counted, not logged",
				 s->desktop, opus_codec_strerror(rc));
		return rc;
	}
	s->st.mic_packets++;
	if (s->mic_ev && !evtimer_pending(s->mic_ev, NULL)) {
		struct timeval every = {0, s->frame_samples * 1000000 / AUDIO_RATE};
		s->mic_quiet = 0;
		evtimer_add(s->mic_ev, &every);
	}
	return 0;
}

static void feed_flush(struct sound *s)
{
	if (s->part.samples == 0)
		return;
	memset(s->part.pcm + s->part.samples * AUDIO_CHANNELS, 0,
	       (size_t)(s->frame_samples - s->part.samples) * AUDIO_CHANNELS * sizeof(int16_t));
	s->part.samples = s->frame_samples;
	frame_done(s, &s->part);
	s->part.samples = 0;
}

void sound_feed(struct sound *s, int64_t capture_us, const void *data, int samples)
{
	const uint8_t *pcm = data;

	if (!s->feed)
		return;
	s->last_feed_us = clock_real_us();
	/*
	 * A console sends its sound in bursts (QEMU's SPICE audio: 10-20 ms
	 * pieces on its own timer, read between two turns of the worker's
	 * pipeline), each stamped when it arrived. Stamping frames with those
	 * times would make them overlap and gap by the burst's jitter, and the
	 * client's jitter buffer drop and conceal them; so the stamps follow
	 * one continuous timeline (audio/timeline.h). A piece far later (the
	 * guest paused) ends the frame being gathered, padded.
	 */
	bool gap;
	capture_us = audio_timeline_stamp(&s->feed_tl, capture_us, samples, AUDIO_RATE, &gap);
	if (gap)
		feed_flush(s);
	while (samples > 0) {
		int n;

		if (s->part.samples == 0)
			s->part.capture_us = capture_us;
		n = s->frame_samples - s->part.samples;
		if (n > samples)
			n = samples;
		memcpy(s->part.pcm + s->part.samples * AUDIO_CHANNELS, pcm,
		       (size_t)n * AUDIO_CHANNELS * sizeof(int16_t));
		s->part.samples += n;
		pcm += (size_t)n * AUDIO_CHANNELS * sizeof(int16_t);
		samples -= n;
		capture_us += (int64_t)n * 1000000 / AUDIO_RATE;
		if (s->part.samples == s->frame_samples) {
			frame_done(s, &s->part);
			s->part.samples = 0;
		}
	}
}

bool sound_from_console(const struct sound *s)
{
	return s->feed;
}

void sound_stats(struct sound *s, struct sound_stats *out)
{
	*out = s->st;
	if (s->feed)
		out->capturing = clock_real_us() - s->last_feed_us < 1000000;
	if (s->impl) {
		struct audio_source_stats ss;
		s->impl->stats(s->src, &ss);
		out->capturing = ss.connected;
	}
}
