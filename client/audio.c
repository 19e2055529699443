/* SPDX-License-Identifier: MIT */
#include "audio.h"

#include "clock.h"
#include "log.h"
#include "opus_codec.h"
#include "pulse.h"
#include "receiver.h"
#include "queue.h"
#include "source.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SMOOTH_VIDEO	   16	   /* video latency: 1/16 of each picture (decode times jitter) */
#define SMOOTH_AUDIO	   4	   /* audio latency: 1/4 of each frame (the schedule is steady) */
#define VIDEO_STALE_US	   2000000 /* no picture for this long: lip sync holds still */
#define SYNC_SETTLE_FRAMES 8	   /* frames between two lip-sync steps: let it show */
#define SYNC_SHIFT_MAX_US  500000  /* never hold audio back further than this */
/*
 * Audio later than the picture is brought forward (the jitter buffer drops to catch up) by
 * at most its minimum target: asking for sound sooner than packets can be here makes the
 * next ones late (with the play time instead of the hand-over time, bench/audio lost a
 * click in three that way). Video is never delayed.
 */
#define SYNC_SHIFT_MIN_US (-20000)
#define KBPS_WINDOW_US	  1000000
#define FIFO_SAMPLES	  (AUDIO_FRAME_MAX + OPUS_CODEC_MAX_SAMPLES)
#define MIC_QUEUE	  32 /* 320 ms of 10 ms packets waiting for the loop */
#define MIC_BITRATE	  32000

struct wav {
	FILE *f;
	char *path, *tmp;
	uint64_t samples;
};

struct client_audio {
	/* check, jitter buffer, decode/conceal: audio/receiver, shared with the agent's MIC */
	struct audio_rx *rx;
	pthread_mutex_t lock; /* everything below but the threads' handles */
	int frame_us, frame_samples;

	/* counters */
	uint64_t refused; /* by our own check (absurd capture times), before audio_rx */
	bool refusal_logged;
	uint64_t underruns, frames;
	/* loss, for AUDIO_REPORT: seen on arrival, from the capture times */
	int64_t seq_end_us; /* end of the latest packet (sender's clock); 0: none yet */
	bool seq_after_dtx; /* that packet was DTX comfort: a gap after it is silence */
	uint64_t got_since, lost_since, late_since;
	int64_t packet_us; /* duration of the latest packet accepted */
	uint64_t sync_held, sync_dropped;
	int64_t win_start_us;
	uint64_t win_bytes;
	double kbps;
	int64_t last_push_us;

	/* lip sync */
	bool no_lipsync;
	bool have_video, have_audio;
	double video_lat_us, audio_lat_us;
	int64_t video_seen_us;
	int64_t shift_us;
	int settle;	 /* frames before the next step */
	bool correcting; /* out of step by more than LIPSYNC_START_MS, not yet back within STOP */

	int volume;
	bool muted;
	struct wav wav;
	int64_t wav_start_us;

	client_audio_played_fn on_played;
	void *userdata;

	/* playback */
	struct audio_playback *play;
	pthread_t clock_thread;
	bool clock_running;
	atomic_bool stop;
};

/* Times from the network are anything: clamp them so their differences cannot overflow. */
#define TIME_LIMIT_US ((int64_t)1 << 60) /* as audio/jitter.c: 36 000 years */

static int64_t sane_us(int64_t t)
{
	return t > TIME_LIMIT_US ? TIME_LIMIT_US : t < -TIME_LIMIT_US ? -TIME_LIMIT_US : t;
}

/* ---- WAV --------------------------------------------------------------- */

static void put_le(uint8_t *p, uint32_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* RIFF/WAVE, PCM s16 stereo 48 kHz; the sizes are filled in at close. */
static void wav_header(uint8_t h[44], uint64_t samples)
{
	uint64_t data = samples * AUDIO_CHANNELS * 2;
	uint32_t d = data > 0xffffffffu - 36 ? 0xffffffffu - 36 : (uint32_t)data;

	memcpy(h, "RIFF", 4);
	put_le(h + 4, 36 + d, 4);
	memcpy(h + 8, "WAVEfmt ", 8);
	put_le(h + 16, 16, 4);
	put_le(h + 20, 1, 2); /* PCM */
	put_le(h + 22, AUDIO_CHANNELS, 2);
	put_le(h + 24, AUDIO_RATE, 4);
	put_le(h + 28, AUDIO_RATE * AUDIO_CHANNELS * 2, 4);
	put_le(h + 32, AUDIO_CHANNELS * 2, 2);
	put_le(h + 34, 16, 2);
	memcpy(h + 36, "data", 4);
	put_le(h + 40, d, 4);
}

/* Written to PATH.part and renamed at close: the file at PATH is always complete. */
static int wav_open(struct wav *w, const char *path)
{
	uint8_t h[44];
	size_t n = strlen(path) + 6;

	w->path = strdup(path);
	w->tmp = malloc(n);
	if (!w->path || !w->tmp)
		return -ENOMEM;
	snprintf(w->tmp, n, "%s.part", path);
	w->f = fopen(w->tmp, "wb");
	if (!w->f) {
		int err = -errno;
		log_error("audio: cannot write %s: %s", w->tmp, strerror(errno));
		return err;
	}
	wav_header(h, 0);
	fwrite(h, 1, sizeof(h), w->f);
	return 0;
}

static void wav_write(struct wav *w, const int16_t *pcm, int samples)
{
	if (!w->f)
		return;
	/* WAV is little-endian, like every host we build for; s16 as it is */
	if (fwrite(pcm, (size_t)AUDIO_CHANNELS * 2, (size_t)samples, w->f) == (size_t)samples)
		w->samples += (uint64_t)samples;
}

static void wav_close(struct wav *w)
{
	uint8_t h[44];

	if (w->f) {
		wav_header(h, w->samples);
		bool ok = fseek(w->f, 0, SEEK_SET) == 0 && fwrite(h, 1, sizeof(h), w->f) == 44;
		ok = fflush(w->f) == 0 && ok;
		ok = fclose(w->f) == 0 && ok;
		if (ok && rename(w->tmp, w->path) == 0)
			log_info("audio: wrote %.2f s of what was played to %s",
				 (double)w->samples / AUDIO_RATE, w->path);
		else
			log_error("audio: cannot complete %s: %s", w->path, strerror(errno));
	}
	free(w->path);
	free(w->tmp);
	*w = (struct wav){0};
}

/* ---- playback ------------------------------------------------------------ */

static void audio_latency(struct client_audio *ca, int64_t play_us, int64_t capture_us)
{
	double lat = (double)(play_us - capture_us);
	if (!ca->have_audio) {
		ca->audio_lat_us = lat;
		ca->have_audio = true;
	} else {
		ca->audio_lat_us += (lat - ca->audio_lat_us) / SMOOTH_AUDIO;
	}
}

/*
 * One step of lip sync at most every SYNC_SETTLE_FRAMES: audio more than
 * LIPSYNC_START_MS early is held back a frame (the jitter buffer, asked
 * for an earlier time, stretches), that much late brought forward a frame
 * (it drops to catch up) down to SYNC_SHIFT_MIN_US, until within
 * LIPSYNC_STOP_MS.
 */
static void lipsync_step(struct client_audio *ca, int64_t play_us)
{
	if (ca->settle > 0)
		ca->settle--;
	if (ca->no_lipsync || !ca->have_video || !ca->have_audio ||
	    play_us - ca->video_seen_us > VIDEO_STALE_US)
		return;
	double off = ca->audio_lat_us - ca->video_lat_us; /* > 0: audio late */
	double mag = off < 0 ? -off : off;
	if (!ca->correcting && mag > LIPSYNC_START_MS * 1000.0)
		ca->correcting = true;
	if (ca->correcting && mag <= LIPSYNC_STOP_MS * 1000.0)
		ca->correcting = false;
	if (!ca->correcting || ca->settle > 0)
		return;
	if (off < 0 && ca->shift_us + ca->frame_us <= SYNC_SHIFT_MAX_US) {
		ca->shift_us += ca->frame_us;
		ca->sync_held++;
	} else if (off > 0 && ca->shift_us - ca->frame_us >= SYNC_SHIFT_MIN_US) {
		ca->shift_us -= ca->frame_us;
		ca->sync_dropped++;
	} else {
		return; /* as far as it may go */
	}
	ca->settle = SYNC_SETTLE_FRAMES;
}

static int fill(int16_t *pcm, int samples, int64_t play_us, int64_t need_us, void *ud)
{
	struct client_audio *ca = ud;
	int peak = 0;

	if (samples > AUDIO_FRAME_MAX)
		samples = AUDIO_FRAME_MAX;
	pthread_mutex_lock(&ca->lock);
	lipsync_step(ca, play_us);
	int64_t shift = ca->shift_us;
	pthread_mutex_unlock(&ca->lock);

	/* the jitter buffer schedules against the hand-over time (pulse.h); lip sync:
	 * asking for an earlier time holds audio back, a later one gives a hold back */
	audio_rx_fill(ca->rx, pcm, samples, need_us - shift);
	int64_t capture_us = audio_rx_last_capture_us(ca->rx);
	if (capture_us == INT64_MIN)
		capture_us = -1;

	pthread_mutex_lock(&ca->lock);
	if (capture_us >= 0)
		audio_latency(ca, play_us, capture_us);
	/* volume squared: steps of 10 % sound about even */
	int gain = ca->muted ? 0 : ca->volume * ca->volume; /* of 10000 */
	for (int i = 0; i < samples * 2; i++) {
		int v = gain == 10000 ? pcm[i] : pcm[i] * gain / 10000;
		pcm[i] = (int16_t)v;
		int a = v < 0 ? -v : v;
		if (a > peak)
			peak = a;
	}
	if (ca->wav.f && ca->wav.samples == 0 && ca->wav_start_us < 0)
		ca->wav_start_us = play_us;
	wav_write(&ca->wav, pcm, samples);
	ca->frames++;
	client_audio_played_fn cb = ca->on_played;
	void *cb_ud = ca->userdata;
	pthread_mutex_unlock(&ca->lock);
	if (cb)
		cb(play_us, capture_us, peak, pcm, samples, cb_ud);
	return samples;
}

/* No sound card: a frame every frame_us of real time, on the same schedule. */
static void *clock_main(void *arg)
{
	struct client_audio *ca = arg;
	int16_t pcm[AUDIO_FRAME_MAX * AUDIO_CHANNELS];
	struct timespec next;

	pthread_setname_np(pthread_self(), "hr-audio-clock");
	clock_gettime(CLOCK_REALTIME, &next);
	while (!atomic_load(&ca->stop)) {
		int64_t due = (int64_t)next.tv_sec * 1000000 + next.tv_nsec / 1000;
		if (clock_real_us() - due > ca->frame_us) {
			/* woke a frame late (a stalled machine): start the schedule again */
			pthread_mutex_lock(&ca->lock);
			ca->underruns++;
			pthread_mutex_unlock(&ca->lock);
			clock_gettime(CLOCK_REALTIME, &next);
			due = (int64_t)next.tv_sec * 1000000 + next.tv_nsec / 1000;
		}
		fill(pcm, ca->frame_samples, due, due, ca); /* no sound card: heard when due */
		next.tv_nsec += (long)ca->frame_us * 1000;
		while (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
	return NULL;
}

struct client_audio *client_audio_new(const struct client_audio_cfg *cfg)
{
	static const struct client_audio_cfg defaults = {0};
	struct client_audio *ca;

	if (!cfg)
		cfg = &defaults;
	int frame_us = cfg->frame_us ? cfg->frame_us : 10000;
	if (frame_us != 2500 && frame_us != 5000 && frame_us != 10000 && frame_us != 20000) {
		log_error("audio: a playback frame of %d us: use 2500, 5000, 10000 or 20000",
			  frame_us);
		return NULL;
	}
	if (cfg->volume < 0 || cfg->volume > 100) {
		log_error("audio: volume %d %%: use 1..100", cfg->volume);
		return NULL;
	}
	bool virtual_clock = cfg->sink && strcmp(cfg->sink, CLIENT_AUDIO_SINK_NONE) == 0;
	if (cfg->sink && !virtual_clock && !audio_pulse_name_ok(cfg->sink)) {
		log_error("audio: '%s' is not a sink name (letters, digits, '.', '_', '-')",
			  cfg->sink);
		return NULL;
	}
	ca = calloc(1, sizeof(*ca));
	if (!ca) {
		log_error("audio: out of memory");
		return NULL;
	}
	pthread_mutex_init(&ca->lock, NULL);
	ca->frame_us = frame_us;
	ca->frame_samples = frame_us * (AUDIO_RATE / 1000) / 1000;
	ca->wav_start_us = -1;
	ca->no_lipsync = cfg->no_lipsync;
	ca->volume = cfg->volume ? cfg->volume : 100;
	ca->on_played = cfg->on_played;
	ca->userdata = cfg->userdata;
	ca->rx = audio_rx_new(&(struct jitter_cfg){.target_min_us = cfg->target_min_us,
						   .target_max_us = cfg->target_max_us,
						   .frame_us = frame_us});
	if (!ca->rx)
		goto fail;
	if (cfg->wav_path && wav_open(&ca->wav, cfg->wav_path) < 0)
		goto fail;
	if (virtual_clock) {
		if (pthread_create(&ca->clock_thread, NULL, clock_main, ca) != 0) {
			log_error("audio: cannot start the playback clock thread");
			goto fail;
		}
		ca->clock_running = true;
	} else {
		ca->play = audio_playback_new(&(struct audio_playback_cfg){
			.frame_us = frame_us,
			.server = cfg->server,
			.sink = cfg->sink,
			.client_name = "highrise client",
			.fill = fill,
			.userdata = ca,
		});
		if (!ca->play)
			goto fail;
	}
	log_info("audio: playing to %s", virtual_clock ? "no sound card (a virtual clock)"
					 : cfg->sink   ? cfg->sink
						       : "the default sink");
	return ca;
fail:
	client_audio_free(ca);
	return NULL;
}

void client_audio_free(struct client_audio *ca)
{
	if (!ca)
		return;
	atomic_store(&ca->stop, true);
	if (ca->clock_running)
		pthread_join(ca->clock_thread, NULL);
	audio_playback_free(ca->play);
	wav_close(&ca->wav);
	audio_rx_free(ca->rx);
	pthread_mutex_destroy(&ca->lock);
	free(ca);
}

/*
 * Loss as the sender sees it, from the capture times: a gap after a packet
 * is lost packets, unless that packet was DTX comfort (silence follows, and
 * nothing is sent); a packet that fills an earlier gap was reordered, not
 * lost. Gaps longer than LOSS_GAP_MAX_US are the sender pausing.
 */
#define LOSS_GAP_MAX_US 200000

static void count_arrival(struct client_audio *ca, int64_t capture_us, int64_t dur, size_t len)
{
	int64_t end = capture_us + dur;

	if (ca->seq_end_us == 0 || end > ca->seq_end_us + LOSS_GAP_MAX_US ||
	    end < ca->seq_end_us - LOSS_GAP_MAX_US) {
		ca->seq_end_us = end; /* the first packet, or a new stream */
	} else if (capture_us >= ca->seq_end_us) {
		int64_t gap = capture_us - ca->seq_end_us;
		if (!ca->seq_after_dtx && gap >= dur / 2)
			ca->lost_since += (uint64_t)((gap + dur / 2) / dur);
		ca->seq_end_us = end;
	} else if (ca->lost_since > 0) {
		ca->lost_since--; /* reordered: it filled a gap counted as lost */
	}
	if (end >= ca->seq_end_us)
		ca->seq_after_dtx = len <= OPUS_CODEC_DTX_BYTES + 1;
	ca->got_since++;
	ca->packet_us = dur;
}

int client_audio_push(struct client_audio *ca, int64_t capture_us, int64_t arrival_us,
		      const uint8_t *data, size_t len)
{
	int samples = 0;
	int64_t dur;
	int rc;

	/* a capture time beyond ±2^60 µs is a lie (the jitter buffer would refuse it too) */
	if (sane_us(capture_us) != capture_us)
		samples = -EINVAL;
	arrival_us = sane_us(arrival_us);
	/* audio/receiver checks the packet (not Opus, mono, longer than 20 ms: refused) */
	rc = samples < 0 ? samples : audio_rx_push(ca->rx, capture_us, arrival_us, data, len);
	dur = rc > 0 ? (int64_t)rc * 1000000 / AUDIO_RATE : 0;
	if (rc < 0) {
		pthread_mutex_lock(&ca->lock);
		if (samples < 0)
			ca->refused++; /* audio_rx counted its own refusals */
		if (!ca->refusal_logged) {
			ca->refusal_logged = true;
			log_warn("audio: refused an AUDIO packet of %zu bytes: %s (counting the "
				 "rest)",
				 len,
				 samples < 0 ? "its capture time is absurd"
					     : opus_codec_strerror(rc));
		}
		pthread_mutex_unlock(&ca->lock);
		return rc;
	}
	pthread_mutex_lock(&ca->lock);
	if (rc > 0) {
		count_arrival(ca, capture_us, dur, len);
		if (arrival_us - ca->win_start_us >= KBPS_WINDOW_US) {
			if (ca->win_start_us)
				ca->kbps = (double)ca->win_bytes * 8 * 1000 /
					   (double)(arrival_us - ca->win_start_us);
			ca->win_start_us = arrival_us;
			ca->win_bytes = 0;
		}
		ca->win_bytes += len;
		ca->last_push_us = arrival_us;
		rc = 0;
	} else if (rc == 0) {
		ca->late_since++; /* late or a duplicate: it will not be heard */
		rc = 1;
	}
	pthread_mutex_unlock(&ca->lock);
	return rc;
}

void client_audio_video_shown(struct client_audio *ca, int64_t capture_us, int64_t display_us)
{
	capture_us = sane_us(capture_us);
	display_us = sane_us(display_us);
	double lat = (double)(display_us - capture_us);

	pthread_mutex_lock(&ca->lock);
	if (!ca->have_video || display_us - ca->video_seen_us > VIDEO_STALE_US)
		ca->video_lat_us = lat;
	else
		ca->video_lat_us += (lat - ca->video_lat_us) / SMOOTH_VIDEO;
	ca->have_video = true;
	ca->video_seen_us = display_us;
	pthread_mutex_unlock(&ca->lock);
}

void client_audio_set_volume(struct client_audio *ca, int percent)
{
	pthread_mutex_lock(&ca->lock);
	ca->volume = percent < 0 ? 0 : percent > 100 ? 100 : percent;
	pthread_mutex_unlock(&ca->lock);
}

void client_audio_set_mute(struct client_audio *ca, bool mute)
{
	pthread_mutex_lock(&ca->lock);
	ca->muted = mute;
	pthread_mutex_unlock(&ca->lock);
}

void client_audio_stats(struct client_audio *ca, struct client_audio_stats *out)
{
	struct audio_rx_stats rs;
	struct audio_playback_stats ps = {0};

	if (ca->play)
		audio_playback_stats(ca->play, &ps);
	audio_rx_stats(ca->rx, &rs);
	pthread_mutex_lock(&ca->lock);
	*out = (struct client_audio_stats){
		.packets = rs.packets,
		.bytes = rs.bytes,
		.packet_ms = (double)ca->packet_us / 1000.0,
		.kbps = clock_real_us() - ca->last_push_us > 2 * KBPS_WINDOW_US ? 0 : ca->kbps,
		.refused = ca->refused + rs.refused,
		.concealed = rs.concealed,
		.recovered = rs.recovered,
		.dropped = rs.dropped,
		.late = rs.late,
		.underruns = ca->underruns + ps.underruns,
		.frames = ca->frames,
		.depth_us = rs.depth_us,
		.target_us = rs.target_us,
		.lipsync_valid = ca->have_audio && ca->have_video,
		.lipsync_ms = (ca->audio_lat_us - ca->video_lat_us) / 1000.0,
		.shift_ms = (double)ca->shift_us / 1000.0,
		.sync_held = ca->sync_held,
		.sync_dropped = ca->sync_dropped,
		.volume = ca->volume,
		.muted = ca->muted,
		.playing = ca->play ? ps.connected : true,
		.wav_start_us = ca->wav_start_us,
	};
	pthread_mutex_unlock(&ca->lock);
}

static uint16_t clamp_ms(int64_t us)
{
	int64_t ms = (us + 500) / 1000;
	return (uint16_t)(ms < 0 ? 0 : ms > 65535 ? 65535 : ms);
}

bool client_audio_report(struct client_audio *ca, struct msg_audio_report *out)
{
	struct audio_rx_stats rs;
	bool any;

	audio_rx_stats(ca->rx, &rs);
	pthread_mutex_lock(&ca->lock);
	/* late packets arrived (got) but were lost all the same */
	uint64_t lost = ca->lost_since + ca->late_since;
	uint64_t due = ca->got_since + ca->lost_since;
	any = due > 0;
	uint64_t pm = any ? lost * MSG_LOSS_MAX / due : 0;
	out->loss = (uint16_t)(pm > MSG_LOSS_MAX ? MSG_LOSS_MAX : pm);
	out->target_ms = clamp_ms(rs.target_us);
	out->depth_ms = clamp_ms(rs.depth_us);
	ca->lost_since = ca->late_since = ca->got_since = 0;
	pthread_mutex_unlock(&ca->lock);
	return any;
}

/* ---- the microphone ------------------------------------------------------ */

struct mic_packet {
	int64_t capture_us;
	size_t len;
	uint8_t data[];
};

struct client_mic {
	struct event_base *base;
	struct event *ev;
	struct queue *q;
	struct audio_source *src;
	struct opus_enc *enc; /* used on the capture thread while src is open */
	char *uri, *server;
	client_mic_packet_fn on_packet;
	void *userdata;
	bool on;
	atomic_uint_fast64_t frames, silent, dropped;
	uint64_t packets, bytes;
};

static void mic_frame(const struct audio_frame *f, void *ud)
{
	struct client_mic *m = ud;
	uint8_t pkt[OPUS_CODEC_MAX_PACKET];

	atomic_fetch_add(&m->frames, 1);
	if (f->samples != opus_enc_frame_samples(m->enc))
		return; /* the source was opened for the encoder's frame: cannot happen */
	int n = opus_enc_encode(m->enc, f->pcm, pkt, sizeof(pkt));
	if (n <= 0) {
		if (n == 0)
			atomic_fetch_add(&m->silent, 1);
		return;
	}
	struct mic_packet *p = malloc(sizeof(*p) + (size_t)n);
	void *old = NULL;
	if (!p) {
		atomic_fetch_add(&m->dropped, 1);
		return;
	}
	p->capture_us = f->capture_us;
	p->len = (size_t)n;
	memcpy(p->data, pkt, (size_t)n);
	if (queue_push_replace(m->q, p, &old) < 0) {
		free(p);
		atomic_fetch_add(&m->dropped, 1);
	} else if (old) {
		free(old);
		atomic_fetch_add(&m->dropped, 1);
	}
}

/* The loop's side: the whole queue each time (STYLE.md). */
static void mic_drain(evutil_socket_t fd, short what, void *arg)
{
	struct client_mic *m = arg;
	struct mic_packet *p;
	(void)fd;
	(void)what;

	while ((p = queue_try_pop(m->q))) {
		if (m->on && m->on_packet(p->capture_us, p->data, p->len, m->userdata) == 0) {
			m->packets++;
			m->bytes += p->len;
		}
		free(p);
	}
}

struct client_mic *client_mic_new(struct event_base *base, const struct client_mic_cfg *cfg)
{
	char uri[160];

	if (!base || !cfg || !cfg->on_packet) {
		log_error("audio: the microphone needs an event loop and a packet callback");
		return NULL;
	}
	if (cfg->source && !audio_pulse_name_ok(cfg->source)) {
		log_error("audio: '%s' is not a source name (letters, digits, '.', '_', '-')",
			  cfg->source);
		return NULL;
	}
	struct client_mic *m = calloc(1, sizeof(*m));
	if (!m) {
		log_error("audio: out of memory");
		return NULL;
	}
	m->base = base;
	m->on_packet = cfg->on_packet;
	m->userdata = cfg->userdata;
	snprintf(uri, sizeof(uri), "pulse-source:%s", cfg->source ? cfg->source : "");
	m->uri = strdup(uri);
	m->server = cfg->server ? strdup(cfg->server) : NULL;
	m->q = queue_new(MIC_QUEUE);
	m->enc = opus_enc_new(&(struct opus_enc_cfg){
		.frame_us = 10000,
		.app = OPUS_CODEC_APP_VOIP,
		.bitrate = cfg->bitrate ? cfg->bitrate : MIC_BITRATE,
	});
	if (!m->uri || (cfg->server && !m->server) || !m->q || !m->enc)
		goto fail;
	m->ev = event_new(base, queue_fd(m->q), EV_READ | EV_PERSIST, mic_drain, m);
	if (!m->ev || event_add(m->ev, NULL) < 0)
		goto fail;
	return m;
fail:
	log_error("audio: cannot set up the microphone");
	client_mic_free(m);
	return NULL;
}

void client_mic_free(struct client_mic *m)
{
	if (!m)
		return;
	audio_source_pulse.close(m->src);
	if (m->ev)
		event_free(m->ev);
	if (m->q)
		queue_free(m->q, free);
	opus_enc_free(m->enc);
	free(m->uri);
	free(m->server);
	free(m);
}

int client_mic_set_on(struct client_mic *m, bool on)
{
	if (on == m->on)
		return 0;
	if (!on) {
		m->on = false;
		audio_source_pulse.close(m->src); /* its thread stops: nothing more is queued */
		m->src = NULL;
		struct mic_packet *p;
		while ((p = queue_try_pop(m->q)))
			free(p); /* captured before off: not sent */
		log_info("audio: microphone off");
		return 0;
	}
	m->src = audio_source_pulse.open(m->uri, &(struct audio_source_cfg){
							 .frame_us = 10000,
							 .server = m->server,
							 .client_name = "highrise microphone",
							 .on_frame = mic_frame,
							 .userdata = m,
						 });
	if (!m->src)
		return -EIO;
	m->on = true;
	log_info("audio: microphone on (%s)", m->uri);
	return 0;
}

bool client_mic_is_on(const struct client_mic *m)
{
	return m && m->on;
}

void client_mic_stats(struct client_mic *m, struct client_mic_stats *out)
{
	struct audio_source_stats ss = {0};

	if (m->src)
		audio_source_pulse.stats(m->src, &ss);
	*out = (struct client_mic_stats){
		.frames = atomic_load(&m->frames),
		.packets = m->packets,
		.bytes = m->bytes,
		.silent = atomic_load(&m->silent),
		.dropped = atomic_load(&m->dropped),
		.on = m->on,
		.capturing = ss.connected,
	};
}
