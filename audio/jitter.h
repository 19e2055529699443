/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_JITTER_H
#define HIGHRISE_JITTER_H

/*
 * An adaptive jitter buffer for one audio stream (the client's AUDIO, the
 * agent's MIC): packets go in as they arrive, frames come out at the pace
 * of the sound card.
 *
 * Each packet carries its capture time (µs on the sender's clock) and the
 * caller adds its arrival time (µs on the receiver's clock). Their
 * difference, the transit, is the network delay plus the (constant)
 * offset between the clocks; its minimum over the last ~10 s is the
 * stream's base. The buffer plays a frame captured at C at receiver time
 * C + base + target: `target` is the jitter buffer's delay. It is the
 * recent peak of (transit - base) plus two frames, within [target_min,
 * target_max] (20..60 ms by default): one late packet raises it at once,
 * and it decays by 5 ms a second while the network is calm.
 *
 * jitter_pop(now) says what to play next:
 *   JITTER_PACKET   the next packet: decode it
 *   JITTER_MISSING  its packet is missing (lost or late): conceal
 *                   duration_us of sound (PLC, or FEC from `fec`, the
 *                   packet after it, when that one is here)
 *   JITTER_IDLE     nothing to play: not started, or the sender has been
 *                   silent (DTX) for longer than a short loss; play silence
 * and keeps the stream on schedule: when more than the target has piled up
 * (the player stalled, clocks drifted) it drops the oldest frames to catch
 * up; when the target grew it conceals one frame without advancing (a
 * stretch) — so latency stays at the target and never creeps over a long
 * session. A packet that comes after its frame was played is late (counted
 * and dropped) — except in silence, where the cursor only kept time: one
 * it passed there, never concealed and on the new target's schedule,
 * starts a talkspurt (the buffer waits for its time in silence). A capture time more than a second off the schedule (the
 * sender's clock stepped, or lies) restarts the stream from that packet.
 *
 * Pure logic: no I/O, no clock reads, no threads, no allocation after
 * jitter_new. One thread at a time (the caller locks when push and pop run
 * on different threads). Packets are copied in; out->data points into the
 * buffer and stays valid until the next push or pop.
 */

#include <stddef.h>
#include <stdint.h>

#define JITTER_PACKET_MAX 4000 /* bytes: libopus's ceiling for one packet */
#define JITTER_SLOTS	  128  /* packets held at most (320 ms of 2.5 ms frames) */

/* Zero means the default. */
struct jitter_cfg {
	int64_t target_min_us; /* 20000 */
	int64_t target_max_us; /* 60000 */
	int64_t frame_us;      /* the usual packet duration, for concealment: 10000 */
};

enum jitter_status {
	JITTER_IDLE = 0,
	JITTER_PACKET,
	JITTER_MISSING,
};

struct jitter_out {
	enum jitter_status status;
	int64_t capture_us;  /* sender time of the frame to play or conceal */
	int64_t duration_us; /* how much sound this is (MISSING/IDLE: one frame) */
	const uint8_t *data; /* PACKET: the packet */
	size_t len;
	const uint8_t *fec; /* MISSING: the following packet, for FEC, or NULL */
	size_t fec_len;
};

struct jitter_stats {
	uint64_t pushed;     /* packets accepted */
	uint64_t played;     /* JITTER_PACKET returned */
	uint64_t concealed;  /* JITTER_MISSING returned (losses, late packets, stretches) */
	uint64_t stretched;  /* of which: inserted to grow the delay to a larger target */
	uint64_t dropped;    /* played never: catch-up, buffer full, duplicates */
	uint64_t late;	     /* arrived after their frame was played or concealed */
	uint64_t refused;    /* bad arguments: size, duration, absurd timestamps */
	uint64_t restarts;   /* schedule restarts (first packet, clock steps) */
	int64_t depth_us;    /* sound buffered ahead of the play cursor */
	int64_t target_us;   /* current target delay */
	int64_t jitter_us;   /* current peak delay above base */
	unsigned int queued; /* packets held */
};

struct jitter;

/* NULL (logged) for a bad cfg (min > max, frame not 2.5..120 ms) or without memory. */
struct jitter *jitter_new(const struct jitter_cfg *cfg);
void jitter_free(struct jitter *jb);

/*
 * Adds one packet (copied). duration_us: the packet's length of sound
 * (opus_dec_check's samples at 48 kHz), 2.5..120 ms. Returns 0 when kept,
 * 1 when dropped as late or duplicate (counted), -EINVAL for an empty or
 * oversized packet, a bad duration or a timestamp beyond ±2^60 µs.
 */
int jitter_push(struct jitter *jb, int64_t capture_us, int64_t arrival_us, int64_t duration_us,
		const uint8_t *data, size_t len);

/* What to play at receiver time now_us (call once per frame played). Never fails. */
void jitter_pop(struct jitter *jb, int64_t now_us, struct jitter_out *out);

void jitter_stats(const struct jitter *jb, struct jitter_stats *out);

#endif
