/* SPDX-License-Identifier: MIT */
#include "pulse.h"

#include "clock.h"
#include "log.h"
#include "queue.h"
#include "timeline.h"

#include <errno.h>
#include <pulse/pulseaudio.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000 /* a connect to a local socket is cheap; sound back soon */
#define NAME_MAX_LEN   127

enum link_dir {
	LINK_RECORD,
	LINK_PLAYBACK,
};

/*
 * One stream and its connection, owned by its pa_threaded_mainloop's thread:
 * every field below `ml` is touched only on that thread or with the loop
 * locked (open/close). Counters are atomics so stats() needs no lock (the
 * loop's lock must not be taken on its own thread, i.e. from on_frame).
 */
struct link {
	enum link_dir dir;
	pa_threaded_mainloop *ml;
	pa_context *ctx;
	pa_stream *stream;
	pa_time_event *retry;
	char *server, *client_name;
	char *sink; /* NULL: the default sink, or recording from a source */
	/* what the stream connects to: "SINK.monitor", "@DEFAULT_MONITOR@", SINK, a source
	 * name, "@DEFAULT_SOURCE@" */
	char *device;
	bool named;	 /* device is a name the user gave (not a default): never move the stream */
	char label[160]; /* for logs: "capture of vm1.monitor" */
	bool create_sink;
	bool stopping;
	bool sink_found;
	bool down; /* the outage was logged; log when back */
	bool first_attempt_done;
	int backoff_ms;
	int frame_samples;
	pa_sample_spec ss;
	pa_buffer_attr attr;

	atomic_bool connected;
	atomic_uint_fast64_t reconnects;
};

struct audio_source {
	struct link link;
	audio_frame_fn on_frame;
	void *userdata;
	struct queue *q;
	struct audio_frame acc;	  /* the frame being filled */
	struct audio_timeline tl; /* the frames' capture times */
	atomic_uint_fast64_t frames, dropped, overflows, holes;
};

struct audio_playback {
	struct link link;
	audio_fill_fn fill;
	void *userdata;
	atomic_uint_fast64_t frames, underruns, short_fills;
	atomic_int_fast64_t latency_us;
};

bool audio_pulse_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int frame_samples_for(int frame_us)
{
	if (frame_us == 0)
		frame_us = 10000;
	if (frame_us != 2500 && frame_us != 5000 && frame_us != 10000 && frame_us != 20000)
		return -1;
	return frame_us * (AUDIO_RATE / 1000) / 1000;
}

static void link_connect(struct link *l);
static void stream_start(struct link *l);

/* Our callbacks stop firing for this stream and context (safe inside one of them). */
static void link_silence(struct link *l)
{
	if (l->stream) {
		pa_stream_set_state_callback(l->stream, NULL, NULL);
		pa_stream_set_read_callback(l->stream, NULL, NULL);
		pa_stream_set_write_callback(l->stream, NULL, NULL);
		pa_stream_set_overflow_callback(l->stream, NULL, NULL);
		pa_stream_set_underflow_callback(l->stream, NULL, NULL);
	}
	if (l->ctx)
		pa_context_set_state_callback(l->ctx, NULL, NULL);
	atomic_store(&l->connected, false);
}

/*
 * Drops the stream and the context. Never from inside one of their
 * callbacks (an operation's callback runs while the context dispatches it):
 * only from the retry timer and from close.
 */
static void link_teardown(struct link *l)
{
	link_silence(l);
	if (l->stream) {
		pa_stream_disconnect(l->stream);
		pa_stream_unref(l->stream);
		l->stream = NULL;
	}
	if (l->ctx) {
		pa_context_disconnect(l->ctx);
		pa_context_unref(l->ctx);
		l->ctx = NULL;
	}
}

static void retry_cb(pa_mainloop_api *api, pa_time_event *e, const struct timeval *tv, void *ud)
{
	struct link *l = ud;
	(void)tv;
	api->time_free(e);
	l->retry = NULL;
	link_teardown(l);
	if (l->stopping)
		return;
	atomic_fetch_add(&l->reconnects, 1);
	link_connect(l);
}

/*
 * The connection or the stream failed (or never came up): say why once per
 * outage, then try again later, backing off to BACKOFF_MAX_MS.
 */
static void link_down(struct link *l, const char *why)
{
	link_silence(l);
	if (l->stopping || l->retry)
		return;
	if (!l->down) {
		log_warn("audio: %s is off: %s (PulseAudio at %s); retrying in the background",
			 l->label, why, l->server ? l->server : "the default server");
		l->down = true;
	}
	pa_mainloop_api *api = pa_threaded_mainloop_get_api(l->ml);
	struct timeval tv;
	pa_gettimeofday(&tv);
	pa_timeval_add(&tv, (pa_usec_t)l->backoff_ms * 1000);
	l->retry = api->time_new(api, &tv, retry_cb, l);
	l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

static const char *ctx_error(struct link *l)
{
	return pa_strerror(l->ctx ? pa_context_errno(l->ctx) : PA_ERR_CONNECTIONREFUSED);
}

static void stream_state_cb(pa_stream *s, void *ud)
{
	struct link *l = ud;
	char why[200];

	switch (pa_stream_get_state(s)) {
	case PA_STREAM_READY:
		if (l->down)
			log_info("audio: %s is back", l->label);
		else
			log_info("audio: %s started", l->label);
		l->down = false;
		l->backoff_ms = BACKOFF_MIN_MS;
		atomic_store(&l->connected, true);
		break;
	case PA_STREAM_FAILED:
		snprintf(why, sizeof(why), "the stream failed: %s", ctx_error(l));
		link_down(l, why);
		break;
	case PA_STREAM_TERMINATED:
		/* the server removed the stream (its sink went away) */
		link_down(l, "the server ended the stream");
		break;
	default:
		break;
	}
}

static void module_cb(pa_context *c, uint32_t idx, void *ud)
{
	struct link *l = ud;
	char why[200];
	(void)c;

	if (idx == PA_INVALID_INDEX) {
		snprintf(why, sizeof(why), "cannot create null sink %s: %s", l->sink, ctx_error(l));
		link_down(l, why);
		return;
	}
	log_info("audio: created null sink %s (module %u)", l->sink, idx);
	stream_start(l);
}

static void sink_info_cb(pa_context *c, const pa_sink_info *info, int eol, void *ud)
{
	struct link *l = ud;

	if (info) {
		l->sink_found = true;
		return;
	}
	if (l->sink_found) {
		stream_start(l);
		return;
	}
	if (!l->create_sink) {
		link_down(l, "no such sink");
		return;
	}
	/* eol < 0: "No such entity"; eol > 0 without info: none either */
	(void)eol;
	char args[300];
	snprintf(args, sizeof(args),
		 "sink_name=%s rate=%d channels=%d sink_properties=device.description=%s", l->sink,
		 AUDIO_RATE, AUDIO_CHANNELS, l->sink);
	pa_operation *op = pa_context_load_module(c, "module-null-sink", args, module_cb, l);
	if (!op) {
		link_down(l, ctx_error(l));
		return;
	}
	pa_operation_unref(op);
}

static void source_read_cb(pa_stream *s, size_t nbytes, void *ud);
static void source_overflow_cb(pa_stream *s, void *ud);
static void playback_write_cb(pa_stream *s, size_t nbytes, void *ud);
static void playback_underflow_cb(pa_stream *s, void *ud);

static void stream_start(struct link *l)
{
	pa_stream_flags_t flags = PA_STREAM_ADJUST_LATENCY | PA_STREAM_INTERPOLATE_TIMING |
				  PA_STREAM_AUTO_TIMING_UPDATE;
	int rc;

	l->stream = pa_stream_new(l->ctx,
				  l->dir == LINK_RECORD ? "highrise capture" : "highrise playback",
				  &l->ss, NULL);
	if (!l->stream) {
		link_down(l, ctx_error(l));
		return;
	}
	pa_stream_set_state_callback(l->stream, stream_state_cb, l);
	if (l->dir == LINK_RECORD) {
		struct audio_source *src = (struct audio_source *)l;
		/* a new stream: what was half-collected before the outage is stale */
		src->acc.samples = 0;
		audio_timeline_reset(&src->tl);
		pa_stream_set_read_callback(l->stream, source_read_cb, src);
		pa_stream_set_overflow_callback(l->stream, source_overflow_cb, src);
		if (l->named) /* its sink or source gone: reconnect, not another one */
			flags |= PA_STREAM_DONT_MOVE;
		rc = pa_stream_connect_record(l->stream, l->device, &l->attr, flags);
	} else {
		struct audio_playback *p = (struct audio_playback *)l;
		pa_stream_set_write_callback(l->stream, playback_write_cb, p);
		pa_stream_set_underflow_callback(l->stream, playback_underflow_cb, p);
		if (l->named)
			flags |= PA_STREAM_DONT_MOVE;
		rc = pa_stream_connect_playback(l->stream, l->device, &l->attr, flags, NULL, NULL);
	}
	if (rc < 0)
		link_down(l, ctx_error(l));
}

static void context_state_cb(pa_context *c, void *ud)
{
	struct link *l = ud;

	switch (pa_context_get_state(c)) {
	case PA_CONTEXT_READY:
		if (l->sink) {
			l->sink_found = false;
			pa_operation *op = pa_context_get_sink_info_by_name(c, l->sink,
									    sink_info_cb, l);
			if (!op) {
				link_down(l, ctx_error(l));
				return;
			}
			pa_operation_unref(op);
		} else {
			stream_start(l);
		}
		break;
	case PA_CONTEXT_FAILED:
		link_down(l, ctx_error(l));
		break;
	case PA_CONTEXT_TERMINATED:
		link_down(l, "the server closed the connection");
		break;
	default:
		break;
	}
}

static void link_connect(struct link *l)
{
	l->ctx = pa_context_new(pa_threaded_mainloop_get_api(l->ml), l->client_name);
	if (!l->ctx) {
		link_down(l, "pa_context_new failed");
		return;
	}
	pa_context_set_state_callback(l->ctx, context_state_cb, l);
	/* NOAUTOSPAWN: the agent must not start a sound server of its own as a side effect. */
	if (pa_context_connect(l->ctx, l->server, PA_CONTEXT_NOAUTOSPAWN, NULL) < 0)
		link_down(l, ctx_error(l));
}

static char *dup_or_null(const char *s, bool *ok)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*ok = false;
	return d;
}

/*
 * Fills in everything but the mainloop; on failure frees what it made.
 * With from_source (recording only), name is a source (NULL: the default
 * source) that the stream records as it is (a microphone): no lookup,
 * nothing created. Otherwise name is the sink (NULL: the default sink).
 */
static int link_init(struct link *l, enum link_dir dir, const char *server, const char *name,
		     bool from_source, bool create, const char *client_name, int frame_us,
		     const char *thread_name)
{
	bool ok = true;
	int fs = frame_samples_for(frame_us);
	const char *sink = from_source ? NULL : name, *source = from_source ? name : NULL;

	if (fs < 0) {
		log_error("audio: a frame of %d us: use 2500, 5000, 10000 or 20000", frame_us);
		return -EINVAL;
	}
	if (sink && !audio_pulse_name_ok(sink)) {
		log_error("audio: '%s' is not a sink name (letters, digits, '.', '_', '-')", sink);
		return -EINVAL;
	}
	if (source && !audio_pulse_name_ok(source)) {
		log_error("audio: '%s' is not a source name (letters, digits, '.', '_', '-')",
			  source);
		return -EINVAL;
	}
	l->dir = dir;
	l->frame_samples = fs;
	l->create_sink = create;
	l->backoff_ms = BACKOFF_MIN_MS;
	l->ss = (pa_sample_spec){
		.format = PA_SAMPLE_S16LE, .rate = AUDIO_RATE, .channels = AUDIO_CHANNELS};
	uint32_t frame_bytes = (uint32_t)fs * AUDIO_CHANNELS * 2;
	if (dir == LINK_RECORD)
		l->attr = (pa_buffer_attr){.maxlength = (uint32_t)-1,
					   .fragsize = frame_bytes,
					   .tlength = (uint32_t)-1,
					   .prebuf = (uint32_t)-1,
					   .minreq = (uint32_t)-1};
	else
		l->attr = (pa_buffer_attr){.maxlength = (uint32_t)-1,
					   .tlength = 2 * frame_bytes,
					   .prebuf = (uint32_t)-1,
					   .minreq = frame_bytes,
					   .fragsize = (uint32_t)-1};
	l->server = dup_or_null(server, &ok);
	l->sink = dup_or_null(sink, &ok);
	l->client_name = strdup(client_name ? client_name : "highrise");
	if (!l->client_name)
		ok = false;
	char dev[NAME_MAX_LEN + 16];
	if (dir == LINK_RECORD && from_source)
		snprintf(dev, sizeof(dev), "%s", source ? source : "@DEFAULT_SOURCE@");
	else if (dir == LINK_RECORD && sink)
		snprintf(dev, sizeof(dev), "%s.monitor", sink);
	else if (dir == LINK_RECORD)
		snprintf(dev, sizeof(dev), "@DEFAULT_MONITOR@");
	l->named = sink || source;
	l->device = dir == LINK_RECORD ? strdup(dev) : dup_or_null(sink, &ok);
	if (dir == LINK_RECORD && !l->device)
		ok = false;
	snprintf(l->label, sizeof(l->label), "%s %s",
		 dir == LINK_RECORD ? "capture of" : "playback to",
		 l->device ? l->device : "the default sink");
	if (ok)
		l->ml = pa_threaded_mainloop_new();
	if (!ok || !l->ml) {
		log_error("audio: out of memory");
		goto fail;
	}
	pa_threaded_mainloop_set_name(l->ml, thread_name);
	return 0;
fail:
	free(l->server);
	free(l->sink);
	free(l->client_name);
	free(l->device);
	return -ENOMEM;
}

static int link_start(struct link *l)
{
	pa_threaded_mainloop_lock(l->ml);
	if (pa_threaded_mainloop_start(l->ml) < 0) {
		pa_threaded_mainloop_unlock(l->ml);
		log_error("audio: cannot start the PulseAudio thread");
		return -EAGAIN;
	}
	link_connect(l);
	pa_threaded_mainloop_unlock(l->ml);
	return 0;
}

static void link_deinit(struct link *l)
{
	if (l->ml) {
		pa_threaded_mainloop_lock(l->ml);
		l->stopping = true;
		if (l->retry) {
			pa_threaded_mainloop_get_api(l->ml)->time_free(l->retry);
			l->retry = NULL;
		}
		link_teardown(l);
		pa_threaded_mainloop_unlock(l->ml);
		/* stop without the lock (thread-mainloop.h), then nothing runs our callbacks */
		pa_threaded_mainloop_stop(l->ml);
		pa_threaded_mainloop_free(l->ml);
	}
	free(l->server);
	free(l->sink);
	free(l->client_name);
	free(l->device);
}

/* ---- capture ---- */

static void deliver(struct audio_source *src)
{
	struct audio_frame *f = &src->acc;

	if (src->on_frame) {
		src->on_frame(f, src->userdata);
	} else {
		struct audio_frame *copy = malloc(sizeof(*copy));
		void *old = NULL;
		if (!copy) {
			atomic_fetch_add(&src->dropped, 1);
			return;
		}
		*copy = *f;
		if (queue_push_replace(src->q, copy, &old) < 0) {
			free(copy);
			atomic_fetch_add(&src->dropped, 1);
			return;
		}
		if (old) {
			free(old);
			atomic_fetch_add(&src->dropped, 1);
		}
	}
	atomic_fetch_add(&src->frames, 1);
}

static void source_read_cb(pa_stream *s, size_t nbytes, void *ud)
{
	struct audio_source *src = ud;
	int fs = src->link.frame_samples;
	(void)nbytes;

	for (;;) {
		const void *data;
		size_t n;
		if (pa_stream_peek(s, &data, &n) < 0) {
			log_debug("audio: pa_stream_peek: %s", ctx_error(&src->link));
			return;
		}
		if (n == 0)
			return; /* nothing buffered: no drop (pulse/stream.h) */
		if (!data) {
			/* a hole: the frame being built no longer continues */
			atomic_fetch_add(&src->holes, 1);
			src->acc.samples = 0;
			audio_timeline_reset(&src->tl);
			pa_stream_drop(s);
			continue;
		}
		/*
		 * When the first sample of this fragment was captured: the server
		 * sends a fragment once it is complete, so it ends about now, less
		 * what is still buffered behind it. (pa_stream_get_latency is no
		 * help here: a null sink renders ahead of time, and its monitor
		 * reports hundreds of ms of latency that the samples never had.)
		 */
		size_t readable = pa_stream_readable_size(s);
		if (readable == (size_t)-1 || readable < n)
			readable = n;
		int64_t first_us = clock_real_us() - (int64_t)(readable / (AUDIO_CHANNELS * 2)) *
							     1000000 / AUDIO_RATE;

		const int16_t *pcm = data;
		size_t total = n / (AUDIO_CHANNELS * 2), pos = 0;
		while (pos < total) {
			if (src->acc.samples == 0)
				src->acc.capture_us = first_us +
						      (int64_t)(pos * 1000000 / AUDIO_RATE);
			size_t want = (size_t)(fs - src->acc.samples);
			size_t take = total - pos < want ? total - pos : want;
			memcpy(src->acc.pcm + src->acc.samples * AUDIO_CHANNELS,
			       pcm + pos * AUDIO_CHANNELS, take * AUDIO_CHANNELS * 2);
			src->acc.samples += (int)take;
			pos += take;
			if (src->acc.samples == fs) {
				src->acc.capture_us = audio_timeline_stamp(
					&src->tl, src->acc.capture_us, fs, AUDIO_RATE, NULL);
				deliver(src);
				src->acc.samples = 0;
			}
		}
		pa_stream_drop(s);
	}
}

static void source_overflow_cb(pa_stream *s, void *ud)
{
	struct audio_source *src = ud;
	(void)s;
	atomic_fetch_add(&src->overflows, 1);
}

#define SINK_SCHEME   "pulse:"
#define SOURCE_SCHEME "pulse-source:"

static bool pulse_handles(const char *uri)
{
	return uri && (strncmp(uri, SINK_SCHEME, strlen(SINK_SCHEME)) == 0 ||
		       strncmp(uri, SOURCE_SCHEME, strlen(SOURCE_SCHEME)) == 0);
}

static void pulse_close(struct audio_source *src);

static struct audio_source *pulse_open(const char *uri, const struct audio_source_cfg *cfg)
{
	static const struct audio_source_cfg defaults = {0};
	if (!cfg)
		cfg = &defaults;
	if (!pulse_handles(uri)) {
		log_error("audio: '%s' is not a pulse:SINK or pulse-source:SOURCE URI",
			  uri ? uri : "(none)");
		return NULL;
	}
	bool from_source = strncmp(uri, SOURCE_SCHEME, strlen(SOURCE_SCHEME)) == 0;
	const char *name = uri + strlen(from_source ? SOURCE_SCHEME : SINK_SCHEME);
	if (!*name)
		name = NULL;
	struct audio_source *src = calloc(1, sizeof(*src));
	if (!src) {
		log_error("audio: out of memory");
		return NULL;
	}
	audio_timeline_init(&src->tl, 0); /* PulseAudio reports its gaps: holes */
	if (link_init(&src->link, LINK_RECORD, cfg->server, name, from_source,
		      !from_source && !cfg->no_create, cfg->client_name, cfg->frame_us,
		      "hr-audio-cap") < 0) {
		free(src);
		return NULL;
	}
	src->on_frame = cfg->on_frame;
	src->userdata = cfg->userdata;
	if (!src->on_frame) {
		src->q = queue_new(cfg->queue_frames ? cfg->queue_frames : 16);
		if (!src->q)
			goto fail;
	}
	if (link_start(&src->link) < 0)
		goto fail;
	return src;
fail:
	pulse_close(src);
	return NULL;
}

static enum audio_status pulse_next(struct audio_source *src, int timeout_ms,
				    struct audio_frame *out)
{
	if (!src->q)
		return AUDIO_ERROR;
	struct audio_frame *f = queue_pop_wait(src->q, timeout_ms);
	if (!f)
		return AUDIO_AGAIN;
	*out = *f;
	free(f);
	return AUDIO_OK;
}

static int pulse_fd(struct audio_source *src)
{
	return src->q ? queue_fd(src->q) : -1;
}

static void pulse_stats(struct audio_source *src, struct audio_source_stats *out)
{
	*out = (struct audio_source_stats){
		.frames = atomic_load(&src->frames),
		.dropped = atomic_load(&src->dropped),
		.overflows = atomic_load(&src->overflows),
		.holes = atomic_load(&src->holes),
		.reconnects = atomic_load(&src->link.reconnects),
		.connected = atomic_load(&src->link.connected),
	};
}

static void pulse_close(struct audio_source *src)
{
	if (!src)
		return;
	link_deinit(&src->link);
	if (src->q)
		queue_free(src->q, free);
	free(src);
}

const struct audio_source_impl audio_source_pulse = {
	.name = "pulse",
	.handles = pulse_handles,
	.open = pulse_open,
	.next = pulse_next,
	.fd = pulse_fd,
	.stats = pulse_stats,
	.close = pulse_close,
};

/* ---- playback ---- */

static void playback_write_cb(pa_stream *s, size_t nbytes, void *ud)
{
	struct audio_playback *p = ud;
	int fs = p->link.frame_samples;
	size_t frame_bytes = (size_t)fs * AUDIO_CHANNELS * 2;
	int16_t pcm[AUDIO_FRAME_MAX * AUDIO_CHANNELS];
	pa_usec_t lat = 0;
	int neg = 0;

	if (pa_stream_get_latency(s, &lat, &neg) < 0 || neg)
		lat = 0;
	atomic_store(&p->latency_us, (int_fast64_t)lat);
	int64_t need_us = clock_real_us(), play_us = need_us + (int64_t)lat;
	/* Whole frames only: the server asks in minreq (one frame) steps. */
	for (size_t done = 0; done < nbytes; done += frame_bytes) {
		int got = p->fill(pcm, fs, play_us, need_us, p->userdata);
		if (got < 0)
			got = 0;
		if (got > fs)
			got = fs;
		if (got < fs) {
			memset(pcm + got * AUDIO_CHANNELS, 0,
			       (size_t)(fs - got) * AUDIO_CHANNELS * 2);
			atomic_fetch_add(&p->short_fills, 1);
		}
		if (pa_stream_write(s, pcm, frame_bytes, NULL, 0, PA_SEEK_RELATIVE) < 0) {
			log_debug("audio: pa_stream_write: %s", ctx_error(&p->link));
			return;
		}
		atomic_fetch_add(&p->frames, 1);
		play_us += (int64_t)fs * 1000000 / AUDIO_RATE;
		need_us += (int64_t)fs * 1000000 / AUDIO_RATE;
	}
}

static void playback_underflow_cb(pa_stream *s, void *ud)
{
	struct audio_playback *p = ud;
	(void)s;
	atomic_fetch_add(&p->underruns, 1);
}

struct audio_playback *audio_playback_new(const struct audio_playback_cfg *cfg)
{
	if (!cfg || !cfg->fill) {
		log_error("audio: playback needs a fill callback");
		return NULL;
	}
	if (cfg->create_sink && !cfg->sink) {
		log_error("audio: creating a sink needs its name");
		return NULL;
	}
	struct audio_playback *p = calloc(1, sizeof(*p));
	if (!p) {
		log_error("audio: out of memory");
		return NULL;
	}
	if (link_init(&p->link, LINK_PLAYBACK, cfg->server, cfg->sink, false, cfg->create_sink,
		      cfg->client_name, cfg->frame_us, "hr-audio-play") < 0) {
		free(p);
		return NULL;
	}
	if (cfg->buffer_us > 0) {
		/* whole frames, two at least, a second at most */
		uint32_t frame_bytes = (uint32_t)p->link.frame_samples * AUDIO_CHANNELS * 2;
		int64_t frame_us = (int64_t)p->link.frame_samples * 1000000 / AUDIO_RATE;
		int64_t frames = (cfg->buffer_us > 1000000 ? 1000000 : cfg->buffer_us) / frame_us;
		p->link.attr.tlength = (uint32_t)(frames > 2 ? frames : 2) * frame_bytes;
	}
	p->fill = cfg->fill;
	p->userdata = cfg->userdata;
	if (link_start(&p->link) < 0) {
		audio_playback_free(p);
		return NULL;
	}
	return p;
}

void audio_playback_free(struct audio_playback *p)
{
	if (!p)
		return;
	link_deinit(&p->link);
	free(p);
}

void audio_playback_stats(struct audio_playback *p, struct audio_playback_stats *out)
{
	*out = (struct audio_playback_stats){
		.frames = atomic_load(&p->frames),
		.underruns = atomic_load(&p->underruns),
		.short_fills = atomic_load(&p->short_fills),
		.reconnects = atomic_load(&p->link.reconnects),
		.latency_us = atomic_load(&p->latency_us),
		.connected = atomic_load(&p->link.connected),
	};
}
