/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_AUDIO_TIMELINE_H
#define HIGHRISE_AUDIO_TIMELINE_H

/*
 * The capture times of one captured sound stream, piece after piece: a
 * PulseAudio monitor's fragments (audio/pulse.c), a console's bursts
 * (server/sound.c's sound_feed).
 *
 * The caller measures when each piece was captured (read time minus what
 * is still buffered, or the time it arrived). A measurement is never
 * early: it is the true time plus a delay (a late read, a burst, a
 * fragment that waited, a busy machine). The samples themselves keep
 * time. So the stamps run on the sample count from an anchor, and the
 * anchor follows the earliest measurements:
 *
 *   - a measurement earlier than the timeline proves the timeline late:
 *     the anchor moves back to it at once, and the stamps catch up by at
 *     most 1/8 of each piece (pieces never overlap by more than that, so
 *     a receiver never takes one for a duplicate);
 *   - a measurement later than the timeline is a delay, unless every
 *     measurement over AUDIO_TIMELINE_WINDOW_US of sound is later: then
 *     the sound really started later (a paused guest, a slower clock) and
 *     the anchor moves up by their minimum;
 *   - one more than gap_us later (a console that only sends while it
 *     plays: it paused), or more than AUDIO_TIMELINE_STEP_US away either
 *     way (the clock stepped), anchors again at once.
 *
 * A stamp never goes back: after audio_timeline_reset (a hole in the
 * stream, a new stream after a server restart) the next anchor is not
 * before the end of the last piece stamped.
 *
 * Pure logic: no clock reads, no allocation. One thread at a time.
 */

#include <stdbool.h>
#include <stdint.h>

#define AUDIO_TIMELINE_WINDOW_US 500000	 /* of sound: how long all-late means really later */
#define AUDIO_TIMELINE_JUMP_US	 20000	 /* a forward move this large is a gap */
#define AUDIO_TIMELINE_STEP_US	 1000000 /* a measurement this far off anchors again at once */

struct audio_timeline {
	int64_t gap_us; /* audio_timeline_init's */
	bool anchored, stamped;
	int64_t anchor_us;	  /* capture time of the first sample since the anchor */
	int64_t samples;	  /* samples per channel stamped since the anchor */
	int64_t next_min_us;	  /* the earliest the next stamp may be */
	int64_t last_end_us;	  /* the end of the last piece stamped */
	int64_t win_samples;	  /* sound measured late in a row, per channel */
	int64_t win_min_us;	  /* the least lateness among them */
	uint64_t jumps, catchups; /* gaps found, late anchors corrected */
};

/*
 * gap_us: a measurement later than the timeline by more than this anchors
 * again at once; 0 means AUDIO_TIMELINE_STEP_US (a source that reports its
 * gaps itself, like PulseAudio's holes, which call audio_timeline_reset).
 */
void audio_timeline_init(struct audio_timeline *t, int64_t gap_us);

/* A new stream: the next measurement anchors (stamps still never go back). */
void audio_timeline_reset(struct audio_timeline *t);

/*
 * The capture time of a piece of `samples` samples per channel (at `rate`
 * Hz) measured at measured_us. *gap (may be NULL) is set when the
 * timeline moved forward by more than AUDIO_TIMELINE_JUMP_US or anchored
 * again before this piece: what was being gathered before it does not
 * continue into it.
 */
int64_t audio_timeline_stamp(struct audio_timeline *t, int64_t measured_us, int samples, int rate,
			     bool *gap);

#endif
