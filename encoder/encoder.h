/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_ENCODER_H
#define HIGHRISE_ENCODER_H

/*
 * H.264 encoding of one desktop, driven by damage (DESIGN.md "Video").
 *
 * The encoder keeps a YUV picture of the whole screen. encoder_submit()
 * converts only the damaged rectangles of the captured pixels into it and
 * encodes one frame; no damage means no frame. Every frame is one Annex B
 * access unit (start codes; SPS and PPS in front of every key frame), taken
 * out with encoder_receive().
 *
 * Codecs: libavcodec's libx264 by default (preset ultrafast with CABAC, tune
 * zerolatency, no B-frames, no scene-cut key frames, tuned for text: no
 * adaptive quantisation, no psy-rd, no deblocking, a motion search that
 * finds a text scroll (umh over 32 px); capped CRF: the quality
 * is constant and the bitrate a ceiling, so a still desktop costs nothing). Any other H.264 encoder of libavcodec may be named in
 * cfg->codec (h264_vaapi, h264_nvenc, h264_qsv, ...); when it is missing or
 * will not open, the encoder falls back to libx264 and logs why. Either way
 * one info line names the encoder that runs (encoder_codec_name()).
 *
 * Key frames: the first frame, the first after encoder_resize(), the frame
 * after encoder_request_keyframe() and, if cfg->keyint is set, periodic
 * ones. Key frames are IDR: a fresh decoder can start at any of them.
 *
 * Sharp text: once the screen has been still for cfg->refine_after_ms, the
 * next encoder_submit() without damage (or encoder_refine() at any time)
 * encodes the same picture again as a refinement frame at a much lower
 * CRF, so still text becomes near-lossless. libx264 refines only the
 * bounds of what changed since the last refinement (a region of interest
 * with the refinement CRF as its quant offset; the rest is skipped), so a
 * keystroke's refinement costs hundreds of bytes, not a whole screen. A
 * refinement is a normal P frame to a decoder; it respects the rate
 * ceiling, so on a slow link it may take more than one to converge. Only
 * libx264 can refine.
 *
 * Sharp colour: 4:2:0 keeps one colour sample per 2x2 pixels, which no
 * refinement brings back (a paused colour video stays near 30 dB). When
 * encoder_allow_chroma444() is on (every client decodes High 4:4:4) and the
 * refinement is due, the encoder measures what 4:2:0 loses of the colour
 * of what changed; when that alone would keep the picture under about 47 dB,
 * it sends the picture as a 4:4:4 key frame (a second libx264 context, High
 * 4:4:4 Predictive, converted with convert.h's accurate rounding, which a
 * still colour picture needs to reach 45 dB at all) and refines that.
 * The stream stays 4:4:4 while changes are small (typing in a coloured
 * editor stays sharp) and goes back to 4:2:0, again with a key frame, for
 * the first frame whose damage covers a quarter of the screen or after a
 * 4:4:4 frame that took longer than a frame interval to encode (motion is faster
 * and smaller in 4:2:0), or when 4:4:4 is no longer allowed. Grey text and
 * smooth pictures lose nothing to 4:2:0 and never switch.
 *
 * Colour: BT.601 matrix, limited range, signalled in the VUI (both chroma formats). The coded
 * size is the desktop size rounded up to even numbers; an odd last column
 * or row is repeated, and the client crops to the desktop size it knows.
 *
 * Errors: functions return 0 (or ENCODER_AGAIN where said) or a negative
 * errno for hr_strerror(): -EINVAL bad arguments, -ENOMEM, -ENOTSUP the
 * codec cannot do it, -EIO the codec failed (details in the log).
 *
 * Threading: an encoder belongs to one thread (the desktop's pipeline
 * thread), except encoder_request_keyframe() and encoder_set_bitrate(),
 * which any thread may call at any time; they take effect at the next
 * frame. FFmpeg's own log messages go to log.h (avlog.h).
 */

#include "convert.h"
#include "rect.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENCODER_BITRATE_MIN 100u /* kbit/s; encoder_set_bitrate clamps to these */
/*
 * The largest picture, in pixels, any stream of ours carries: H.264 level
 * 6.2's 139,264 macroblocks (ITU-T H.264 Table A-1), e.g. 8192x4352. Capture
 * refuses bigger consoles before allocating for them (capture.h).
 */
#define ENCODER_AREA_MAX    (139264u * 256u)
#define ENCODER_BITRATE_MAX 1000000u

/* Non-negative results; errors are negative. */
enum encoder_result {
	ENCODER_OK = 0,	   /* a frame went into the codec, or a packet came out */
	ENCODER_AGAIN = 1, /* nothing to do: no damage, or no packet waiting */
};

struct encoder_cfg {
	int width, height;	    /* desktop size in pixels, 1..16384; required */
	const char *codec;	    /* libavcodec H.264 encoder name; NULL = "libx264" */
	int bitrate_kbps;	    /* rate ceiling (VBV max rate), kbit/s; 0 = 10000 */
	int fps;		    /* expected frame rate, 1..240; 0 = 30 */
	int keyint;		    /* frames between periodic key frames; 0 = none */
	enum convert_format format; /* of the pixels given to encoder_submit; 0 = BGRA */
	const char *preset;	    /* libx264 preset; NULL = "ultrafast" (with CABAC) */
	int crf;		    /* libx264 quality of normal frames, 1..51; 0 = 20 */
	int refine_crf;		    /* quality of refinement frames, 1..51; 0 = 8 */
	int refine_after_ms;	    /* still ms before auto refinement; 0 = 300; < 0 = never */
	int vbv_ms;		    /* largest burst in ms at the ceiling, 1..10000; 0 = 1000 */
	int threads;		    /* codec threads; 0 = libavcodec's choice */
	const char *device;	    /* hardware device (e.g. /dev/dri/renderD128); NULL = default */
};

/* One encoded frame. The caller owns data: free it with encoder_packet_free(). */
struct encoder_packet {
	uint8_t *data;	     /* one access unit, Annex B */
	size_t size;	     /* bytes at data, > 0 */
	uint64_t frame;	     /* 0, 1, 2, ... over the encoder's whole life, resizes included */
	uint64_t capture_us; /* as given to encoder_submit / encoder_refine */
	int width, height;   /* coded size: desktop size rounded up to even */
	bool keyframe;	     /* IDR with SPS and PPS: a decoder can start here */
	bool refinement;     /* the previous picture again, at higher quality */
	bool chroma444;	     /* coded 4:4:4 (High 4:4:4 Predictive); else 4:2:0 */
	/*
	 * Microseconds this frame spent in encoder_submit's conversion (its
	 * damage, over every call that converted some; 0 for a refinement)
	 * and in the codec (sending the frame and taking the packet out).
	 */
	uint32_t convert_us, encode_us;
};

/*
 * Opens the codec for cfg (borrowed; strings are copied). Returns NULL and
 * logs why for an invalid cfg, or when neither the named codec nor libx264
 * opens.
 */
struct encoder *encoder_new(const struct encoder_cfg *cfg);
void encoder_free(struct encoder *enc);

/* The libavcodec encoder that runs ("libx264", "h264_nvenc", ...). Static string. */
const char *encoder_codec_name(const struct encoder *enc);

/*
 * Converts the damaged rectangles of pixels (the whole screen: cfg->width x
 * cfg->height in cfg->format, stride bytes per row, borrowed for the call)
 * and encodes a frame stamped with capture_us (any clock, in microseconds;
 * it is only carried to the packet and compared for refine_after_ms).
 *
 * The first call after encoder_new or encoder_resize converts the whole
 * screen whatever the damage says. Without damage, the call encodes only
 * a pending key frame request or a due refinement; pixels may then be NULL
 * (when given, they must be the screen the damage so far described: a
 * 4:4:4 refinement reads them; without them it refines in 4:2:0).
 *
 * Returns ENCODER_OK when a frame went to the codec (call encoder_receive
 * until ENCODER_AGAIN), ENCODER_AGAIN when there was nothing to encode, or
 * a negative error (the damage is kept in the picture either way).
 */
int encoder_submit(struct encoder *enc, const uint8_t *pixels, int stride,
		   const struct rect *damage, size_t ndamage, uint64_t capture_us);

/*
 * Encodes the current picture again as a refinement frame, now. Returns
 * ENCODER_OK, ENCODER_AGAIN when there is nothing to refine (no picture
 * yet, or no change since the last refinement), or -ENOTSUP when the
 * running codec cannot change its quality per frame.
 */
int encoder_refine(struct encoder *enc, uint64_t capture_us);

/*
 * Takes the next encoded frame into *out (which the caller then owns).
 * Returns ENCODER_OK, ENCODER_AGAIN when no frame is waiting (*out zeroed),
 * or a negative error.
 */
int encoder_receive(struct encoder *enc, struct encoder_packet *out);

/* Frees pkt->data and zeroes *pkt. NULL or an empty packet is fine. */
void encoder_packet_free(struct encoder_packet *pkt);

/* The next frame is a key frame, even without damage. Any thread. */
void encoder_request_keyframe(struct encoder *enc);

/*
 * Whether still colour may go 4:4:4 (see "Sharp colour"): only when every
 * decoder of the stream takes High 4:4:4. Off after encoder_new. Turned off
 * while the stream is 4:4:4, the next encoder_submit sends a 4:2:0 key
 * frame, with or without damage. Any thread; libx264 only (else ignored).
 */
void encoder_allow_chroma444(struct encoder *enc, bool allow);

/*
 * Sets the rate ceiling in kbit/s, clamped to ENCODER_BITRATE_MIN..MAX, for
 * the next frame (hardware codecs that cannot change it on the fly take it
 * at the next key frame). Any thread. Returns 0 or -EINVAL for kbps <= 0.
 */
int encoder_set_bitrate(struct encoder *enc, int kbps);
int encoder_get_bitrate(const struct encoder *enc);

/*
 * A new desktop size: the codec is opened again at that size, the next
 * submit converts the whole screen and the next frame is a key frame with
 * new SPS/PPS. Packets not yet received are dropped. Returns 0, -EINVAL for
 * a bad size, or an error from opening the codec, after which submit and
 * refine fail with that error until a resize succeeds.
 */
int encoder_resize(struct encoder *enc, int width, int height);

#endif
