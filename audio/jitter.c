/* SPDX-License-Identifier: MIT */
#include "jitter.h"

#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TIME_LIMIT    ((int64_t)1 << 60) /* timestamps beyond ±2^60 µs (36,000 years) are refused */
#define RESYNC_US     1000000		 /* a transit this far off the base restarts the schedule */
#define BASE_WIN_US   5000000 /* base = min transit over this window and the one before */
#define DECAY_DIV     200     /* the peak delay decays by 1/200 of elapsed time: 5 ms/s */
#define IDLE_AFTER_US 60000   /* conceal an empty buffer this long, then call it silence */

struct slot {
	bool used;
	int64_t capture_us, duration_us;
	size_t len;
	uint8_t data[JITTER_PACKET_MAX];
};

struct jitter {
	int64_t target_min, target_max, frame_us;

	bool started;	  /* a schedule exists (base, cursor) */
	bool playing;	  /* the first packet of this schedule was played */
	int64_t cursor;	  /* capture time of the next frame to play */
	int64_t last_dur; /* duration of the last frame played: what we conceal */
	int64_t base_cur, base_prev, base_win_start;
	int64_t base;
	int64_t peak; /* recent peak of transit - base */
	int64_t last_arrival;
	int64_t target;
	int64_t empty_run;    /* concealed with nothing buffered, µs */
	int64_t silence_from; /* once empty_run reached IDLE_AFTER_US: the first frame not concealed */

	struct jitter_stats st;
	struct slot cur; /* the packet handed out by the last pop */
	struct slot slots[JITTER_SLOTS];
};

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* How far off the schedule the cursor may be before the buffer catches up. */
static int64_t tolerance(const struct jitter *jb)
{
	return jb->frame_us > 10000 ? jb->frame_us : 10000;
}

struct jitter *jitter_new(const struct jitter_cfg *cfg)
{
	static const struct jitter_cfg defaults = {0};
	if (!cfg)
		cfg = &defaults;
	int64_t lo = cfg->target_min_us ? cfg->target_min_us : 20000;
	int64_t hi = cfg->target_max_us ? cfg->target_max_us : 60000;
	int64_t frame = cfg->frame_us ? cfg->frame_us : 10000;

	if (lo < 0 || hi < lo || hi > RESYNC_US / 2 || frame < 2500 || frame > 120000) {
		log_error("jitter: bad cfg: target %lld..%lld us, frame %lld us", (long long)lo,
			  (long long)hi, (long long)frame);
		return NULL;
	}
	struct jitter *jb = calloc(1, sizeof(*jb));
	if (!jb) {
		log_error("jitter: out of memory");
		return NULL;
	}
	jb->target_min = lo;
	jb->target_max = hi;
	jb->frame_us = frame;
	jb->last_dur = frame;
	jb->target = lo;
	return jb;
}

void jitter_free(struct jitter *jb)
{
	free(jb);
}

static void flush(struct jitter *jb)
{
	for (size_t i = 0; i < JITTER_SLOTS; i++) {
		if (jb->slots[i].used) {
			jb->slots[i].used = false;
			jb->st.dropped++;
		}
	}
}

static void restart(struct jitter *jb, int64_t capture, int64_t arrival, int64_t transit)
{
	flush(jb);
	jb->started = true;
	jb->playing = false;
	jb->cursor = capture;
	jb->base = jb->base_cur = jb->base_prev = transit;
	jb->base_win_start = arrival;
	jb->peak = 0;
	jb->last_arrival = arrival;
	jb->target = jb->target_min;
	jb->empty_run = 0;
	jb->st.restarts++;
}

/* The network's delay above its recent best: the peak jumps up, then decays while calm. */
static void measure(struct jitter *jb, int64_t arrival, int64_t transit)
{
	if (arrival - jb->base_win_start > BASE_WIN_US) {
		jb->base_prev = jb->base_cur;
		jb->base_cur = transit;
		jb->base_win_start = arrival;
	} else {
		jb->base_cur = min64(jb->base_cur, transit);
	}
	jb->base = min64(jb->base_prev, jb->base_cur);

	int64_t delay = transit - jb->base;
	if (arrival > jb->last_arrival) {
		jb->peak -= (arrival - jb->last_arrival) / DECAY_DIV;
		jb->last_arrival = arrival;
	}
	if (jb->peak < delay)
		jb->peak = delay;
	if (jb->peak < 0)
		jb->peak = 0;
	jb->target = clamp64(jb->peak + 2 * jb->frame_us, jb->target_min, jb->target_max);
}

int jitter_push(struct jitter *jb, int64_t capture_us, int64_t arrival_us, int64_t duration_us,
		const uint8_t *data, size_t len)
{
	if (!data || len == 0 || len > JITTER_PACKET_MAX || duration_us < 2500 ||
	    duration_us > 120000 || capture_us < -TIME_LIMIT || capture_us > TIME_LIMIT ||
	    arrival_us < -TIME_LIMIT || arrival_us > TIME_LIMIT) {
		jb->st.refused++;
		return -EINVAL;
	}
	int64_t transit = arrival_us - capture_us;

	if (!jb->started || transit - jb->base > RESYNC_US || jb->base - transit > RESYNC_US)
		restart(jb, capture_us, arrival_us, transit);
	else
		measure(jb, arrival_us, transit);

	if (jb->playing && capture_us + duration_us / 2 <= jb->cursor) {
		/*
		 * Behind the cursor. In silence the cursor only kept time, so a
		 * packet it passed there (never concealed, and on the schedule
		 * of the target it just raised) starts a talkspurt; any other
		 * is late.
		 */
		if (jb->empty_run < IDLE_AFTER_US || capture_us < jb->silence_from ||
		    capture_us <
			    arrival_us - jb->base - jb->target - (jb->last_dur + tolerance(jb))) {
			jb->st.late++;
			return 1;
		}
		jb->cursor = capture_us;
	}
	struct slot *free_slot = NULL, *oldest = NULL;
	for (size_t i = 0; i < JITTER_SLOTS; i++) {
		struct slot *s = &jb->slots[i];
		if (!s->used) {
			if (!free_slot)
				free_slot = s;
			continue;
		}
		int64_t d = s->capture_us - capture_us;
		if (d < duration_us / 2 && -d < duration_us / 2) {
			jb->st.dropped++; /* a duplicate, or overlapping what we hold */
			return 1;
		}
		if (!oldest || s->capture_us < oldest->capture_us)
			oldest = s;
	}
	if (!free_slot) {
		jb->st.dropped++;
		if (capture_us < oldest->capture_us)
			return 1;
		free_slot = oldest; /* full: the newest sound wins, latency stays bounded */
	}
	free_slot->used = true;
	free_slot->capture_us = capture_us;
	free_slot->duration_us = duration_us;
	free_slot->len = len;
	memcpy(free_slot->data, data, len);
	jb->st.pushed++;
	return 0;
}

static struct slot *head(struct jitter *jb)
{
	struct slot *h = NULL;
	for (size_t i = 0; i < JITTER_SLOTS; i++)
		if (jb->slots[i].used && (!h || jb->slots[i].capture_us < h->capture_us))
			h = &jb->slots[i];
	return h;
}

/* Drops what starts before the cursor: it can no longer be played in order. */
static void drop_stale(struct jitter *jb)
{
	for (size_t i = 0; i < JITTER_SLOTS; i++) {
		struct slot *s = &jb->slots[i];
		if (s->used && s->capture_us + s->duration_us / 2 <= jb->cursor) {
			s->used = false;
			jb->st.dropped++;
		}
	}
}

static void conceal(struct jitter *jb, struct jitter_out *out, const struct slot *next,
		    bool advance)
{
	out->status = JITTER_MISSING;
	out->capture_us = jb->cursor;
	out->duration_us = jb->last_dur;
	/* FEC data for a frame rides in the packet right after it (RFC 6716 §2.1.7). */
	if (next && next->capture_us < jb->cursor + jb->last_dur + next->duration_us / 2) {
		out->fec = next->data;
		out->fec_len = next->len;
	}
	if (advance)
		jb->cursor += jb->last_dur;
	jb->st.concealed++;
}

void jitter_pop(struct jitter *jb, int64_t now_us, struct jitter_out *out)
{
	*out = (struct jitter_out){.status = JITTER_IDLE, .duration_us = jb->last_dur};
	if (!jb->started)
		return;
	now_us = clamp64(now_us, -TIME_LIMIT, TIME_LIMIT);

	/* The capture time that should start playing now, and how far ahead of it we are. */
	int64_t due = now_us - jb->base - jb->target;
	int64_t ahead = jb->cursor - due;
	int64_t tol = tolerance(jb);

	drop_stale(jb);
	struct slot *h = head(jb);

	if (!jb->playing) {
		if (ahead > 0 || !h)
			return; /* buffering up to the target */
		jb->playing = true;
	}
	if (ahead < -(jb->last_dur + tol)) {
		/* More than the target piled up: skip to the schedule. */
		jb->cursor = due;
		drop_stale(jb);
		h = head(jb);
		if (h && h->capture_us - jb->cursor < jb->last_dur)
			jb->cursor = h->capture_us;
		ahead = 0;
	}
	if (!h && jb->empty_run >= IDLE_AFTER_US) {
		/* Silence (DTX) or a dead sender: keep time, conceal nothing. */
		out->capture_us = jb->cursor;
		if (ahead <= jb->last_dur)
			jb->cursor += jb->last_dur;
		return;
	}
	if (jb->empty_run >= IDLE_AFTER_US && ahead > 0) {
		/* A talkspurt after silence: its time has not come, wait in silence. */
		out->capture_us = jb->cursor;
		return;
	}
	if (ahead > jb->last_dur + tol / 2) {
		/* The target grew: play one made-up frame and let the schedule catch up. */
		conceal(jb, out, h, false);
		jb->st.stretched++;
		return;
	}
	if (h && h->capture_us < jb->cursor + h->duration_us / 2) {
		jb->cur = *h;
		h->used = false;
		out->status = JITTER_PACKET;
		out->capture_us = jb->cur.capture_us;
		out->duration_us = jb->cur.duration_us;
		out->data = jb->cur.data;
		out->len = jb->cur.len;
		jb->cursor = jb->cur.capture_us + jb->cur.duration_us;
		jb->last_dur = jb->cur.duration_us;
		jb->empty_run = 0;
		jb->st.played++;
		return;
	}
	conceal(jb, out, h, true);
	if (!h) {
		jb->empty_run += jb->last_dur;
		if (jb->empty_run >= IDLE_AFTER_US)
			jb->silence_from = jb->cursor;
	}
}

void jitter_stats(const struct jitter *jb, struct jitter_stats *out)
{
	*out = jb->st;
	out->target_us = jb->target;
	out->jitter_us = jb->peak;
	out->depth_us = 0;
	out->queued = 0;
	for (size_t i = 0; i < JITTER_SLOTS; i++) {
		const struct slot *s = &jb->slots[i];
		if (!s->used)
			continue;
		out->queued++;
		int64_t end = s->capture_us + s->duration_us - jb->cursor;
		if (end > out->depth_us)
			out->depth_us = end;
	}
}
