/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_DECODER_H
#define HIGHRISE_CLIENT_DECODER_H

/*
 * H.264 decoding of a session's VIDEO stream with libavcodec's h264 decoder,
 * set up for low delay: AV_CODEC_FLAG_LOW_DELAY, AV_CODEC_FLAG2_FAST and
 * slice threads only (frame threads would hold pictures back one frame per
 * thread). One VIDEO message carries one access unit (docs/protocol.md), so
 * every decoder_decode() either gives the picture of that access unit or
 * says why not; nothing is buffered inside.
 *
 * Key frames: a fresh decoder, and one that hit an error, drops access units
 * until one holds an IDR picture (decoder_au_is_keyframe: the NAL types are
 * read, the agent's flags are not trusted) and says DECODER_SKIPPED, so that
 * the caller asks the agent for a key frame instead of showing grey smears.
 *
 * Size: the agent's encoder pads an odd desktop to even numbers (encoder.h);
 * decoder_set_size() tells the desktop size from WELCOME/RESIZE and pictures
 * are cropped to it. A stream whose SPS disagrees with that size (frames from
 * before a RESIZE, a confused agent) is shown at the size both allow, with
 * one warning per disagreement, never read out of bounds. Pictures larger
 * than cfg->max_width x max_height are refused before anything is allocated
 * for them (libavcodec's max_pixels).
 *
 * Garbage in gives an error or DECODER_SKIPPED, never a crash: libavcodec
 * sees every byte, this module only hands buffers to it and checks what
 * comes out (size, pixel format, error flags).
 *
 * Errors are negative errno values: -EINVAL bad arguments, -ENOMEM,
 * -EBADMSG the access unit could not be decoded (details in the log; the
 * decoder then waits for a key frame), -ENOTSUP a picture format other than
 * 8-bit 4:2:0 or 4:4:4, -E2BIG a picture over the size limit, -EIO
 * libswscale failed.
 *
 * Chroma: pictures are 4:2:0, or 4:4:4 (High 4:4:4) where the agent sends a
 * still colour picture that way (CAP_H264_444, encoder.h "Sharp colour");
 * decoder_frame.chroma444 says which, and decoder_to_rgb takes both.
 *
 * Hardware decode (cfg->hw): libavcodec's VAAPI hwaccel on a DRM render
 * node (/dev/dri/renderD128 unless cfg->device says otherwise). Decoded
 * surfaces are copied back (av_hwframe_transfer_data, NV12) and split into
 * the same three 4:2:0 planes software decode gives, so nothing after the
 * decoder knows the difference. DECODER_HW_AUTO tries VAAPI and decodes in
 * software when the device cannot be opened or does not take H.264 (the
 * reason is logged and kept: decoder_describe); DECODER_HW_VAAPI makes
 * decoder_new fail instead (decoder_probe says why before a session starts).
 * VAAPI has no H.264 4:4:4 profile: 4:4:4 pictures decode in software, and
 * the next 4:2:0 key frame goes back to the hardware.
 *
 * FFmpeg's log goes to log.h (encoder/avlog.h). A decoder belongs to one
 * thread at a time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum decoder_result {
	DECODER_OK = 0,	     /* a picture came out (*out is filled) */
	DECODER_AGAIN = 1,   /* accepted, but no picture (e.g. parameter sets alone) */
	DECODER_SKIPPED = 2, /* dropped: the decoder waits for a key frame; ask for one */
};

enum decoder_rgb_format {
	DECODER_RGB24 = 0, /* R,G,B bytes (PNG) */
	DECODER_BGRA,	   /* B,G,R,A bytes, A = 255 (cairo's ARGB32 on little-endian) */
};

enum decoder_hw {
	DECODER_HW_AUTO = 0, /* VAAPI when the machine has it, else software (the default) */
	DECODER_HW_SOFTWARE, /* libavcodec's h264 decoder on the CPU */
	DECODER_HW_VAAPI,    /* VAAPI or nothing */
};

#define DECODER_VAAPI_DEVICE "/dev/dri/renderD128"

struct decoder_cfg {
	int threads;		   /* slice threads; 0 = libavcodec's choice */
	int max_width, max_height; /* largest picture accepted; 0 = 7680 x 4320 */
	enum decoder_hw hw;	   /* 0: auto */
	const char *device;	   /* VAAPI DRM render node; NULL: DECODER_VAAPI_DEVICE */
};

/*
 * A decoded picture, 8-bit YUV 4:2:0 or 4:4:4. Borrowed from the decoder:
 * valid until the next decoder_decode() or decoder_free().
 */
struct decoder_frame {
	const uint8_t *plane[3];       /* Y, U (Cb), V (Cr); the top-left of the picture */
	bool chroma444;		       /* U and V as large as Y; else (w+1)/2 x (h+1)/2 */
	int stride[3];		       /* bytes per row of each plane */
	int width, height;	       /* what to show: the coded picture cropped to the desktop */
	int coded_width, coded_height; /* the picture in the stream (after SPS cropping) */
	bool full_range;	       /* Y 0..255 ("JPEG" range); else 16..235 */
	bool bt709;		       /* BT.709 matrix signalled; else BT.601 (our encoder) */
	bool keyframe;		       /* an IDR picture */
};

/* NULL (with a log line saying why) when the h264 decoder is missing or will not open. */
struct decoder *decoder_new(const struct decoder_cfg *cfg);
void decoder_free(struct decoder *d);

/*
 * The desktop size from WELCOME or RESIZE (1..16384 each); pictures are
 * cropped to it. 0 x 0 forgets it: pictures are shown whole.
 */
void decoder_set_size(struct decoder *d, int width, int height);

/*
 * Decodes one access unit (Annex B, borrowed for the call). Returns
 * DECODER_OK with the picture in *out, DECODER_AGAIN, DECODER_SKIPPED, or a
 * negative error (see above). *out is only written on DECODER_OK.
 */
int decoder_decode(struct decoder *d, const uint8_t *data, size_t len, struct decoder_frame *out);

/* True until a key frame was decoded, and again after an error. */
bool decoder_needs_keyframe(const struct decoder *d);

/* The last picture that decoded (kept across later errors). 0, or -ENOENT when none yet. */
int decoder_last_frame(const struct decoder *d, struct decoder_frame *out);

/*
 * Converts a picture of this decoder to RGB with libswscale (matrix and
 * range as signalled, chroma interpolated), f->width x f->height pixels into
 * dst with stride bytes per row (>= width * 3 or * 4). 0, -EINVAL, -ENOMEM
 * or -EIO.
 */
int decoder_to_rgb(struct decoder *d, const struct decoder_frame *f, enum decoder_rgb_format fmt,
		   uint8_t *dst, int stride);

/*
 * What decodes, for the statistics overlay and the probe's JSON:
 * "software (libavcodec h264, 4 threads)" or "VAAPI (libavcodec h264 on
 * /dev/dri/renderD128)". Valid as long as d.
 */
const char *decoder_describe(const struct decoder *d);
/* Whether pictures come from the GPU (VAAPI). */
bool decoder_is_hardware(const struct decoder *d);
/* Why DECODER_HW_AUTO decodes in software ("" when it was not asked to try VAAPI). */
const char *decoder_fallback_reason(const struct decoder *d);

/*
 * Whether a decoder with this hardware choice can be made here, without
 * decoding anything: for DECODER_HW_VAAPI, opens the VAAPI device and checks
 * that libavcodec's h264 decoder has a VAAPI hwaccel. 0, or a negative errno
 * with a sentence in why (what failed and what to do). Software and auto
 * always succeed.
 */
int decoder_probe(enum decoder_hw hw, const char *device, char *why, size_t len);

/* "auto", "software", "vaapi" -> *out; 0 or -EINVAL. */
int decoder_hw_parse(const char *name, enum decoder_hw *out);

/* Whether an Annex B access unit holds an IDR slice (NAL type 5). Pure. */
bool decoder_au_is_keyframe(const uint8_t *data, size_t len);

#endif
