/* SPDX-License-Identifier: MIT */
/*
 * proto/msg: every message type round-trips at its limits, and every
 * malformed input we could think of decodes to a clean error.
 *
 * Frames under test are copied into malloc'd buffers of exactly their size
 * before they are peeked at or decoded, so an ASan build (HIGHRISE_SANITIZE)
 * turns any read past the end of a frame into a failure. Loops over many cut
 * points or buffer sizes count their own failures and print the first few,
 * then make one CHECK, so the totals stay readable.
 */
#include "check.h"
#include "error.h"
#include "msg.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Frames up to this size are cut at every byte; bigger ones at a sample of cuts. */
#define FULL_SWEEP_MAX 20000u

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p && n) {
		perror("malloc");
		exit(2);
	}
	return p;
}

/* An exactly sized copy: ASan flags a read even one byte past its end. */
static uint8_t *dup_exact(const uint8_t *src, size_t n)
{
	uint8_t *p = xmalloc(n);

	if (n)
		memcpy(p, src, n);
	return p;
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define BYTES(p, n) ((struct msg_bytes){(const uint8_t *)(p), (n)})
#define STR(s)	    BYTES(s, sizeof(s) - 1)

static int bytes_eq(struct msg_bytes a, struct msg_bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

/* The name of the first field where a and b differ (byte strings by content), or NULL. */
static const char *msg_diff(const struct msg *a, const struct msg *b)
{
#define DIFF(field)                       \
	do {                              \
		if (a->field != b->field) \
			return #field;    \
	} while (0)
#define DIFF_BYTES(field)                          \
	do {                                       \
		if (!bytes_eq(a->field, b->field)) \
			return #field;             \
	} while (0)
	DIFF(type);
	DIFF(raw_type);
	switch (a->type) {
	case MSG_HELLO:
		DIFF(u.hello.version);
		DIFF(u.hello.caps);
		DIFF(u.hello.max_width);
		DIFF(u.hello.max_height);
		DIFF_BYTES(u.hello.ticket);
		DIFF_BYTES(u.hello.client_name);
		DIFF_BYTES(u.hello.proof);
		break;
	case MSG_WELCOME:
		DIFF(u.welcome.version);
		DIFF(u.welcome.flags);
		DIFF(u.welcome.width);
		DIFF(u.welcome.height);
		DIFF(u.welcome.codec);
		DIFF(u.welcome.audio_rate);
		DIFF(u.welcome.audio_channels);
		DIFF_BYTES(u.welcome.session);
		DIFF_BYTES(u.welcome.resume);
		DIFF(u.welcome.resume_window_s);
		break;
	case MSG_BYE:
		DIFF(u.bye.reason);
		DIFF_BYTES(u.bye.text);
		break;
	case MSG_PING:
	case MSG_PONG:
		DIFF(u.ping.id);
		break;
	case MSG_CHALLENGE:
		DIFF_BYTES(u.challenge.value);
		break;
	case MSG_VIDEO:
		DIFF(u.video.frame);
		DIFF(u.video.capture_us);
		DIFF(u.video.flags);
		DIFF_BYTES(u.video.data);
		for (int i = 0; i < MSG_STAGE_COUNT; i++)
			DIFF(u.video.stage_us[i]);
		break;
	case MSG_AUDIO:
	case MSG_MIC:
		DIFF(u.audio.capture_us);
		DIFF_BYTES(u.audio.data);
		break;
	case MSG_AUDIO_REPORT:
		DIFF(u.audio_report.loss);
		DIFF(u.audio_report.target_ms);
		DIFF(u.audio_report.depth_ms);
		break;
	case MSG_CURSOR:
		DIFF(u.cursor.width);
		DIFF(u.cursor.height);
		DIFF(u.cursor.hot_x);
		DIFF(u.cursor.hot_y);
		DIFF_BYTES(u.cursor.pixels);
		break;
	case MSG_CURSOR_POS:
		DIFF(u.cursor_pos.x);
		DIFF(u.cursor_pos.y);
		DIFF(u.cursor_pos.visible);
		break;
	case MSG_RESIZE:
		DIFF(u.resize.width);
		DIFF(u.resize.height);
		break;
	case MSG_CLIPBOARD:
		DIFF(u.clipboard.format);
		DIFF_BYTES(u.clipboard.data);
		break;
	case MSG_STATUS:
		DIFF(u.status.code);
		DIFF_BYTES(u.status.text);
		break;
	case MSG_KEY:
		DIFF(u.key.scancode);
		DIFF(u.key.keysym);
		DIFF(u.key.flags);
		break;
	case MSG_POINTER:
		DIFF(u.pointer.x);
		DIFF(u.pointer.y);
		DIFF(u.pointer.buttons);
		break;
	case MSG_SCROLL:
		DIFF(u.scroll.dx);
		DIFF(u.scroll.dy);
		break;
	case MSG_TOUCH:
		DIFF(u.touch.id);
		DIFF(u.touch.phase);
		DIFF(u.touch.x);
		DIFF(u.touch.y);
		break;
	case MSG_PEN:
		DIFF(u.pen.flags);
		DIFF(u.pen.x);
		DIFF(u.pen.y);
		DIFF(u.pen.pressure);
		DIFF(u.pen.tilt_x);
		DIFF(u.pen.tilt_y);
		break;
	case MSG_ACK:
		DIFF(u.ack.frame);
		DIFF(u.ack.display_us);
		break;
	case MSG_RESIZE_REQUEST:
		DIFF(u.resize_request.width);
		DIFF(u.resize_request.height);
		break;
	case MSG_KEYFRAME_REQUEST:
	case MSG_UNKNOWN:
		break;
	}
	return NULL;
#undef DIFF
#undef DIFF_BYTES
}

/*
 * The trailing bulk of VIDEO, AUDIO, MIC and CLIPBOARD (the rest of the frame),
 * and the payload offset where it starts. 0 for the other types.
 */
static int bulk_of(const struct msg *m, struct msg_bytes *bulk, size_t *fixed)
{
	switch (m->type) {
	case MSG_VIDEO:
		*bulk = m->u.video.data;
		*fixed = 13 + (m->u.video.flags & MSG_VIDEO_TIMING ? 1 + 4 * MSG_STAGE_COUNT : 0);
		return 1;
	case MSG_AUDIO:
	case MSG_MIC:
		*bulk = m->u.audio.data;
		*fixed = 8;
		return 1;
	case MSG_CLIPBOARD:
		*bulk = m->u.clipboard.data;
		*fixed = 1;
		return 1;
	default:
		return 0;
	}
}

/* ---- the sample messages ------------------------------------------------ */

struct sample {
	const char *what;
	struct msg m;
};

static struct sample samples[96];
static size_t nsamples;

static uint8_t ticket_small[100], ticket_max[MSG_TICKET_MAX];
static char name_max[MSG_NAME_MAX + 1];	    /* 85 x U+20AC: 255 bytes of UTF-8 */
static char reason_max[MSG_REASON_MAX + 1]; /* 512 x U+00E9 */
static uint8_t video_small[1] = {0x00}, video_big[3000];
static uint8_t audio_small[1] = {0xf8}, audio_big[200];
static uint8_t cursor1[4] = {0x10, 0x20, 0x30, 0xff};
static uint8_t cursor16[16 * 16 * 4];
static uint8_t *cursor_max; /* 512 * 512 * 4, malloc'd */
static char clip_big[5000];
static const char clip_text[] =
	"h\xc3\xa9llo w\xc3\xb6rld \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80";
static const uint8_t clip_binary[] = {0x00, 0xff, 0x00, 0xc0, 0x80, 0xed, 0xa0, 0x80};

static void add(const char *what, struct msg m)
{
	if (nsamples == sizeof(samples) / sizeof(samples[0])) {
		fprintf(stderr, "too many samples\n");
		exit(2);
	}
	m.raw_type = (uint8_t)m.type;
	samples[nsamples].what = what;
	samples[nsamples].m = m;
	nsamples++;
}

static void fill_utf8(char *dst, size_t len, const char *unit)
{
	size_t ulen = strlen(unit), i = 0;

	while (i + ulen <= len) {
		memcpy(dst + i, unit, ulen);
		i += ulen;
	}
	while (i < len)
		dst[i++] = 'x';
	dst[len] = '\0';
}

static void build_samples(void)
{
	const size_t cursor_max_len = (size_t)MSG_CURSOR_MAX * MSG_CURSOR_MAX * 4;

	for (size_t i = 0; i < sizeof(ticket_small); i++)
		ticket_small[i] = (uint8_t)(i * 13 + 1);
	for (size_t i = 0; i < sizeof(ticket_max); i++)
		ticket_max[i] = (uint8_t)(i * 7 + 3); /* includes NUL bytes: tickets are binary */
	fill_utf8(name_max, MSG_NAME_MAX, "\xe2\x82\xac");
	fill_utf8(reason_max, MSG_REASON_MAX, "\xc3\xa9");
	fill_utf8(clip_big, sizeof(clip_big) - 1, "highrise \xe6\x97\xa5\xf0\x9f\x98\x80\n");
	for (size_t i = 0; i < sizeof(video_big); i++)
		video_big[i] = (uint8_t)(i ^ (i >> 8));
	video_big[0] = 0, video_big[1] = 0, video_big[2] = 0, video_big[3] = 1, video_big[4] = 0x65;
	for (size_t i = 0; i < sizeof(audio_big); i++)
		audio_big[i] = (uint8_t)(255 - i);
	for (size_t i = 0; i < sizeof(cursor16); i++)
		cursor16[i] = (uint8_t)(i * 31);
	cursor_max = xmalloc(cursor_max_len);
	for (size_t i = 0; i < cursor_max_len; i++)
		cursor_max[i] = (uint8_t)(i * 131 + (i >> 12));

	add("HELLO typical",
	    (struct msg){.type = MSG_HELLO,
			 .u.hello = {MSG_PROTOCOL_VERSION,
				     MSG_CAP_H264 | MSG_CAP_OPUS | MSG_CAP_CURSOR, 1920, 1080,
				     BYTES(ticket_small, sizeof(ticket_small)), STR("laptop-7")}});
	add("HELLO empty ticket and name",
	    (struct msg){
		    .type = MSG_HELLO,
		    .u.hello = {MSG_PROTOCOL_VERSION, 0, 0, 0, BYTES(NULL, 0), BYTES(NULL, 0)}});
	add("HELLO ticket 4096, name 255",
	    (struct msg){.type = MSG_HELLO,
			 .u.hello = {MSG_PROTOCOL_VERSION, 0xffffffffu, 65535, 65535,
				     BYTES(ticket_max, MSG_TICKET_MAX),
				     BYTES(name_max, MSG_NAME_MAX)}});

	add("WELCOME typical",
	    (struct msg){.type = MSG_WELCOME,
			 .u.welcome = {MSG_PROTOCOL_VERSION,
				       MSG_WELCOME_CONTROL | MSG_WELCOME_AUDIO, 1280, 720,
				       MSG_CODEC_H264, 48000, 2, STR("s-0001")}});
	add("WELCOME no audio, 1x1, empty session",
	    (struct msg){.type = MSG_WELCOME,
			 .u.welcome = {MSG_PROTOCOL_VERSION, 0, 1, 1, MSG_CODEC_H264, 0, 0,
				       BYTES(NULL, 0)}});
	add("WELCOME limits",
	    (struct msg){.type = MSG_WELCOME,
			 .u.welcome = {MSG_PROTOCOL_VERSION, 0xffffffffu, MSG_DIMENSION_MAX,
				       MSG_DIMENSION_MAX, MSG_CODEC_H264, 384000, 8,
				       BYTES(name_max, MSG_NAME_MAX)}});

	{
		static uint8_t proof64[64], proof48[48];
		for (size_t i = 0; i < sizeof(proof64); i++)
			proof64[i] = (uint8_t)(0xa0 ^ i);
		for (size_t i = 0; i < sizeof(proof48); i++)
			proof48[i] = (uint8_t)(0x50 + i);
		add("HELLO with a ticket binding proof",
		    (struct msg){.type = MSG_HELLO,
				 .u.hello = {MSG_PROTOCOL_VERSION, MSG_CAP_H264, 0, 0,
					     BYTES(ticket_small, sizeof(ticket_small)), STR("k"),
					     BYTES(proof64, sizeof(proof64))}});
		add("HELLO resuming (no ticket, a resume proof)",
		    (struct msg){.type = MSG_HELLO,
				 .u.hello = {MSG_PROTOCOL_VERSION, MSG_CAP_H264, 0, 0,
					     BYTES(NULL, 0), STR("k"),
					     BYTES(proof48, sizeof(proof48))}});
		add("WELCOME with a resume grant",
		    (struct msg){.type = MSG_WELCOME,
				 .u.welcome = {MSG_PROTOCOL_VERSION, MSG_WELCOME_CONTROL, 800, 600,
					       MSG_CODEC_H264, 0, 0, STR("d"),
					       BYTES(proof48, sizeof(proof48)), 180}});
	}
	add("BYE normal, no text",
	    (struct msg){.type = MSG_BYE, .u.bye = {MSG_BYE_NORMAL, BYTES(NULL, 0)}});
	add("BYE protocol error",
	    (struct msg){.type = MSG_BYE,
			 .u.bye = {MSG_BYE_PROTOCOL_ERROR, STR("RESIZE: width 0 out of range")}});
	add("BYE admin", (struct msg){.type = MSG_BYE, .u.bye = {MSG_BYE_ADMIN, STR("bye")}});
	add("BYE unknown reason, text 1024",
	    (struct msg){.type = MSG_BYE, .u.bye = {0xffff, BYTES(reason_max, MSG_REASON_MAX)}});

	add("PING 0", (struct msg){.type = MSG_PING, .u.ping = {0}});
	add("PING max", (struct msg){.type = MSG_PING, .u.ping = {UINT64_MAX}});
	add("PONG", (struct msg){.type = MSG_PONG, .u.ping = {0x0102030405060708ull}});
	add("CHALLENGE",
	    (struct msg){.type = MSG_CHALLENGE,
			 .u.challenge = {BYTES("0123456789abcdef0123456789abcdef", 32)}});

	add("VIDEO 1 byte",
	    (struct msg){.type = MSG_VIDEO,
			 .u.video = {0, 0, 0, BYTES(video_small, sizeof(video_small))}});
	add("VIDEO limits",
	    (struct msg){.type = MSG_VIDEO,
			 .u.video = {UINT32_MAX, UINT64_MAX, MSG_VIDEO_KEYFRAME | MSG_VIDEO_REFINE,
				     BYTES(video_big, sizeof(video_big))}});
	add("VIDEO flags 0xff",
	    (struct msg){.type = MSG_VIDEO,
			 .u.video = {7, 1700000000000000ull, 0xff, BYTES(video_big, 64)}});
	add("VIDEO with stage times", (struct msg){.type = MSG_VIDEO,
						   .u.video = {3,
							       1700000000000000ull,
							       MSG_VIDEO_TIMING,
							       BYTES(video_big, 100),
							       {400, 3100, 900, 14200, 120, 15}}});
	add("VIDEO with stage times at their limits",
	    (struct msg){.type = MSG_VIDEO,
			 .u.video = {UINT32_MAX,
				     UINT64_MAX,
				     MSG_VIDEO_KEYFRAME | MSG_VIDEO_TIMING,
				     BYTES(video_small, 1),
				     {UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX,
				      UINT32_MAX}}});

	add("AUDIO 1 byte", (struct msg){.type = MSG_AUDIO,
					 .u.audio = {1, BYTES(audio_small, sizeof(audio_small))}});
	add("AUDIO 200 bytes",
	    (struct msg){.type = MSG_AUDIO,
			 .u.audio = {UINT64_MAX, BYTES(audio_big, sizeof(audio_big))}});
	add("MIC 1 byte",
	    (struct msg){.type = MSG_MIC, .u.audio = {1, BYTES(audio_small, sizeof(audio_small))}});
	add("MIC 200 bytes",
	    (struct msg){.type = MSG_MIC,
			 .u.audio = {1700000000000000ull, BYTES(audio_big, sizeof(audio_big))}});
	add("AUDIO_REPORT zero", (struct msg){.type = MSG_AUDIO_REPORT});
	add("AUDIO_REPORT limits",
	    (struct msg){.type = MSG_AUDIO_REPORT, .u.audio_report = {MSG_LOSS_MAX, 65535, 65535}});

	add("CURSOR hidden",
	    (struct msg){.type = MSG_CURSOR, .u.cursor = {0, 0, 0, 0, BYTES(NULL, 0)}});
	add("CURSOR hidden, hot spot kept",
	    (struct msg){.type = MSG_CURSOR, .u.cursor = {0, 0, 65535, 65535, BYTES(NULL, 0)}});
	add("CURSOR 1x1",
	    (struct msg){.type = MSG_CURSOR, .u.cursor = {1, 1, 0, 0, BYTES(cursor1, 4)}});
	add("CURSOR 16x16 hot 15,15",
	    (struct msg){.type = MSG_CURSOR,
			 .u.cursor = {16, 16, 15, 15, BYTES(cursor16, sizeof(cursor16))}});
	add("CURSOR 16x1",
	    (struct msg){.type = MSG_CURSOR, .u.cursor = {16, 1, 3, 0, BYTES(cursor16, 16 * 4)}});
	add("CURSOR 512x512 hot 511,511",
	    (struct msg){.type = MSG_CURSOR,
			 .u.cursor = {MSG_CURSOR_MAX, MSG_CURSOR_MAX, 511, 511,
				      BYTES(cursor_max, cursor_max_len)}});

	add("CURSOR_POS visible",
	    (struct msg){.type = MSG_CURSOR_POS, .u.cursor_pos = {640, 360, true}});
	add("CURSOR_POS hidden",
	    (struct msg){.type = MSG_CURSOR_POS, .u.cursor_pos = {65535, 0, false}});

	add("RESIZE 1x1", (struct msg){.type = MSG_RESIZE, .u.resize = {1, 1}});
	add("RESIZE 1280x720", (struct msg){.type = MSG_RESIZE, .u.resize = {1280, 720}});
	add("RESIZE 16384x16384",
	    (struct msg){.type = MSG_RESIZE, .u.resize = {MSG_DIMENSION_MAX, MSG_DIMENSION_MAX}});

	add("CLIPBOARD empty text",
	    (struct msg){.type = MSG_CLIPBOARD,
			 .u.clipboard = {MSG_CLIPBOARD_TEXT, BYTES(NULL, 0)}});
	add("CLIPBOARD text", (struct msg){.type = MSG_CLIPBOARD,
					   .u.clipboard = {MSG_CLIPBOARD_TEXT, STR(clip_text)}});
	add("CLIPBOARD text 4999 bytes",
	    (struct msg){
		    .type = MSG_CLIPBOARD,
		    .u.clipboard = {MSG_CLIPBOARD_TEXT, BYTES(clip_big, sizeof(clip_big) - 1)}});
	add("CLIPBOARD unknown format, binary",
	    (struct msg){.type = MSG_CLIPBOARD,
			 .u.clipboard = {200, BYTES(clip_binary, sizeof(clip_binary))}});

	add("STATUS console lost",
	    (struct msg){.type = MSG_STATUS,
			 .u.status = {MSG_STATUS_CONSOLE_LOST, STR("console lost; reconnecting")}});
	add("STATUS ok, no text",
	    (struct msg){.type = MSG_STATUS, .u.status = {MSG_STATUS_OK, BYTES(NULL, 0)}});
	add("STATUS unknown code, text 1024",
	    (struct msg){.type = MSG_STATUS,
			 .u.status = {0xffff, BYTES(reason_max, MSG_REASON_MAX)}});

	add("KEY a down", (struct msg){.type = MSG_KEY, .u.key = {30, 0x61, MSG_KEY_DOWN}});
	add("KEY keysym only", (struct msg){.type = MSG_KEY, .u.key = {0, 0x20ac, MSG_KEY_DOWN}});
	add("KEY scancode only", (struct msg){.type = MSG_KEY, .u.key = {0xffff, 0, 0}});
	add("KEY limits", (struct msg){.type = MSG_KEY, .u.key = {1, UINT32_MAX, 0xff}});

	add("POINTER origin", (struct msg){.type = MSG_POINTER, .u.pointer = {0, 0, 0}});
	add("POINTER limits", (struct msg){.type = MSG_POINTER, .u.pointer = {65535, 65535, 0xff}});

	add("SCROLL one click up", (struct msg){.type = MSG_SCROLL, .u.scroll = {0, -120}});
	add("SCROLL limits", (struct msg){.type = MSG_SCROLL, .u.scroll = {-32768, 32767}});
	add("SCROLL smooth", (struct msg){.type = MSG_SCROLL, .u.scroll = {7, -1}});

	add("TOUCH begin",
	    (struct msg){.type = MSG_TOUCH, .u.touch = {0, MSG_TOUCH_BEGIN, 10, 20}});
	add("TOUCH update",
	    (struct msg){.type = MSG_TOUCH, .u.touch = {1, MSG_TOUCH_UPDATE, 11, 21}});
	add("TOUCH end", (struct msg){.type = MSG_TOUCH, .u.touch = {1, MSG_TOUCH_END, 12, 22}});
	add("TOUCH cancel", (struct msg){.type = MSG_TOUCH,
					 .u.touch = {UINT32_MAX, MSG_TOUCH_CANCEL, 65535, 65535}});

	add("PEN tilt -90/90",
	    (struct msg){.type = MSG_PEN,
			 .u.pen = {MSG_PEN_IN_RANGE | MSG_PEN_CONTACT, 100, 200, 65535, -90, 90}});
	add("PEN tilt 90/-90",
	    (struct msg){.type = MSG_PEN, .u.pen = {0xff, 65535, 65535, 1, 90, -90}});
	add("PEN zero", (struct msg){.type = MSG_PEN, .u.pen = {0}});

	add("KEYFRAME_REQUEST", (struct msg){.type = MSG_KEYFRAME_REQUEST});

	add("ACK zero", (struct msg){.type = MSG_ACK, .u.ack = {0, 0}});
	add("ACK limits", (struct msg){.type = MSG_ACK, .u.ack = {UINT32_MAX, UINT64_MAX}});

	add("RESIZE_REQUEST 1x1",
	    (struct msg){.type = MSG_RESIZE_REQUEST, .u.resize_request = {1, 1}});
	add("RESIZE_REQUEST 1112x778",
	    (struct msg){.type = MSG_RESIZE_REQUEST, .u.resize_request = {1112, 778}});
	add("RESIZE_REQUEST 8192x8192",
	    (struct msg){.type = MSG_RESIZE_REQUEST,
			 .u.resize_request = {MSG_RESIZE_REQUEST_MAX, MSG_RESIZE_REQUEST_MAX}});
	add("STATUS resize refused",
	    (struct msg){.type = MSG_STATUS,
			 .u.status = {MSG_STATUS_RESIZE_REFUSED,
				      STR("this desktop's console cannot be resized")}});
}

/* ---- helpers over encoded frames --------------------------------------- */

/* Encodes m into an exactly sized malloc'd buffer, checking the size agrees. */
static uint8_t *encode_exact(const struct msg *m, size_t *len)
{
	size_t n = msg_encoded_size(m), out = 0;
	uint8_t *buf;
	int rc;

	CHECK(n >= MSG_HEADER_SIZE);
	if (n < MSG_HEADER_SIZE)
		n = MSG_HEADER_SIZE;
	buf = xmalloc(n);
	rc = msg_encode(m, buf, n, &out);
	CHECK_INT_EQ(rc, 0);
	CHECK_INT_EQ(out, n);
	*len = n;
	return buf;
}

/* msg_decode on an exactly sized copy of frame[0..len). */
static int decode_copy(const uint8_t *frame, size_t len, struct msg *out, uint8_t **copy)
{
	uint8_t *c = dup_exact(frame, len);
	int rc = msg_decode(c, len, out);

	if (copy)
		*copy = c;
	else
		free(c);
	return rc;
}

/* The encoder must refuse m, in every entry point, with HR_EPROTO_INVALID. */
static void check_encode_refused(const struct msg *m, const char *what)
{
	uint8_t buf[64];
	size_t out = 12345;
	int rc1 = msg_encode(m, buf, sizeof(buf), &out);
	int rc2 = msg_encode_head(m, buf, sizeof(buf), &out);
	size_t sz = msg_encoded_size(m);

	if (rc1 != HR_EPROTO_INVALID || rc2 != HR_EPROTO_INVALID || sz != 0)
		fprintf(stderr, "encoder accepted %s: encode %d, head %d, size %zu\n", what, rc1,
			rc2, sz);
	CHECK_INT_EQ(rc1, HR_EPROTO_INVALID);
	CHECK_INT_EQ(rc2, HR_EPROTO_INVALID);
	CHECK_INT_EQ(sz, 0);
	CHECK_INT_EQ(out, 12345); /* nothing reported on failure */
}

/* Decodes an exact copy of frame and expects rc (and, on error, a cleared message). */
static void check_decode_rc(const uint8_t *frame, size_t len, int want, const char *what)
{
	struct msg m;
	int rc = decode_copy(frame, len, &m, NULL);

	if (rc != want)
		fprintf(stderr, "decode of %s: got %d (%s), want %d (%s)\n", what, rc,
			hr_strerror(rc), want, hr_strerror(want));
	CHECK_INT_EQ(rc, want);
}

/*
 * VIDEO's stage times (§5.5): a count of 1..32, then that many u32. A later
 * agent may send more stages than this build knows (kept: the first
 * MSG_STAGE_COUNT), an older one fewer (the rest stay 0).
 */
static void put_stages(uint8_t *f, size_t *len, uint8_t n, uint32_t first)
{
	f[(*len)++] = n;
	for (uint8_t i = 0; i < n; i++) {
		put_be32(f + *len, first + i);
		*len += 4;
	}
}

static void video_frame(uint8_t *f, size_t *len, uint8_t n, uint32_t first, size_t data)
{
	static const uint8_t head[] = {MSG_VIDEO, 0, 0, 0, 9, 0, 0,
				       0,	  0, 0, 0, 0, 0, MSG_VIDEO_TIMING};
	*len = 4;
	memcpy(f + *len, head, sizeof(head));
	*len += sizeof(head);
	put_stages(f, len, n, first);
	memset(f + *len, 0x65, data);
	*len += data;
	put_be32(f, (uint32_t)(*len - 4));
}

static void test_video_stages(void)
{
	uint8_t f[4 + 14 + 1 + 4 * 40 + 8];
	struct msg d;
	size_t len;

	/* more than we know: the first six kept, the data right after the list */
	video_frame(f, &len, 8, 100, 3);
	CHECK_INT_EQ(msg_decode(f, len, &d), 0);
	for (int i = 0; i < MSG_STAGE_COUNT; i++)
		CHECK_INT_EQ(d.u.video.stage_us[i], 100 + i);
	CHECK_INT_EQ(d.u.video.data.len, 3);
	CHECK_INT_EQ(d.u.video.data.data[0], 0x65);
	/* the stages after CAPTURE follow capture_us back to back */
	int64_t cap = (int64_t)d.u.video.capture_us;
	CHECK(msg_video_stage_start(&d.u.video, MSG_STAGE_WAIT) == cap);
	CHECK(msg_video_stage_start(&d.u.video, MSG_STAGE_LINK) == cap + 101 + 102 + 103);
	CHECK(msg_video_stage_start(&d.u.video, MSG_STAGE_COUNT) ==
	      cap + 101 + 102 + 103 + 104 + 105);
	/* fewer: the rest are 0 */
	video_frame(f, &len, 2, 7, 1);
	CHECK_INT_EQ(msg_decode(f, len, &d), 0);
	CHECK_INT_EQ(d.u.video.stage_us[MSG_STAGE_CAPTURE], 7);
	CHECK_INT_EQ(d.u.video.stage_us[MSG_STAGE_WAIT], 8);
	CHECK_INT_EQ(d.u.video.stage_us[MSG_STAGE_CONVERT], 0);
	CHECK_INT_EQ(d.u.video.stage_us[MSG_STAGE_QUEUE], 0);
	/* a count of 0 or over 32 is invalid */
	video_frame(f, &len, 0, 0, 4);
	check_decode_rc(f, len, HR_EPROTO_INVALID, "VIDEO with a stage count of 0");
	video_frame(f, &len, 33, 0, 4);
	check_decode_rc(f, len, HR_EPROTO_INVALID, "VIDEO with a stage count of 33");
	video_frame(f, &len, 32, 0, 4);
	CHECK_INT_EQ(msg_decode(f, len, &d), 0);
	/* a list that runs into the end of the frame, or leaves no data */
	video_frame(f, &len, 6, 0, 0);
	check_decode_rc(f, len, HR_EPROTO_INVALID, "timed VIDEO without data");
	video_frame(f, &len, 6, 0, 0);
	len -= 2;
	put_be32(f, (uint32_t)(len - 4));
	check_decode_rc(f, len, HR_EPROTO_TRUNCATED, "VIDEO whose stage list is cut short");
	/* without the flag the same bytes are data */
	video_frame(f, &len, 6, 0, 2);
	f[4 + 13] = 0;
	CHECK_INT_EQ(msg_decode(f, len, &d), 0);
	CHECK_INT_EQ(d.u.video.data.len, 1 + 4 * 6 + 2);
	CHECK_INT_EQ(d.u.video.stage_us[MSG_STAGE_ENCODE], 0);
}

/* ---- round trips ------------------------------------------------------- */

typedef int encode_fn(const struct msg *m, uint8_t *buf, size_t cap, size_t *out_len);

/* -ENOSPC from fn at every cap below need, and not one byte written at or past cap. */
static size_t check_enospc_with(encode_fn *fn, const struct msg *m, size_t need, const char *what)
{
	uint8_t *buf = xmalloc(need);
	size_t bad = 0, out;

	for (size_t cap = 0; cap < need; cap++) {
		/* small frames: a buffer of exactly cap bytes, so ASan sees any overrun */
		uint8_t *exact = need <= FULL_SWEEP_MAX ? xmalloc(cap) : NULL;
		size_t window = need - cap < 64 ? need - cap : 64;
		int rc;

		/* big ones: a canary just past cap (the writer writes from 0 upwards,
		 * so an overrun would show right at cap) */
		memset(buf + cap, 0xa5, window);
		rc = fn(m, exact ? exact : buf, cap, &out);
		if (rc != -ENOSPC && bad++ < 3)
			fprintf(stderr, "%s: cap %zu of %zu: gave %d\n", what, cap, need, rc);
		for (size_t i = cap; !exact && i < cap + window; i++) {
			if (buf[i] != 0xa5) {
				if (bad++ < 3)
					fprintf(stderr, "%s: cap %zu: byte %zu written\n", what,
						cap, i);
				break;
			}
		}
		free(exact);
	}
	free(buf);
	return bad;
}

static void check_enospc(const struct msg *m, size_t need, const char *what)
{
	uint8_t *buf = xmalloc(need);
	size_t head_need = 0;

	CHECK_INT_EQ(check_enospc_with(msg_encode, m, need, what), 0);
	CHECK_INT_EQ(msg_encode_head(m, buf, need, &head_need), 0);
	CHECK_INT_EQ(check_enospc_with(msg_encode_head, m, head_need, what), 0);
	free(buf);
}

static void test_round_trip(const struct sample *s)
{
	const struct msg *m = &s->m;
	size_t len, flen = 0, hlen = 0, fixed = 0, out = 0;
	uint8_t *frame = encode_exact(m, &len), *copy = NULL, *head, *again;
	struct msg d;
	struct msg_bytes bulk;
	const char *diff;
	int rc;

	/* framing */
	CHECK_INT_EQ(msg_frame_peek(frame, len, &flen), 0);
	CHECK_INT_EQ(flen, len);
	CHECK_INT_EQ(get_be32(frame), len - 4);
	CHECK_INT_EQ(frame[4], m->type);

	/* decode and compare every field */
	rc = decode_copy(frame, len, &d, &copy);
	CHECK_INT_EQ(rc, 0);
	diff = msg_diff(m, &d);
	if (diff)
		fprintf(stderr, "%s: round trip differs in %s\n", s->what, diff);
	CHECK(diff == NULL);

	/* borrowed pointers point into the frame */
	if (bulk_of(&d, &bulk, &fixed) && bulk.len) {
		CHECK(bulk.data == copy + MSG_HEADER_SIZE + fixed);
		CHECK(bulk.data + bulk.len == copy + len);
	}

	/* encoding the decoded message gives the same bytes */
	again = xmalloc(len);
	CHECK_INT_EQ(msg_encode(&d, again, len, &out), 0);
	CHECK_INT_EQ(out, len);
	CHECK_MEM_EQ(again, frame, len);
	free(again);

	/* msg_encode_head + bulk payload == msg_encode */
	head = xmalloc(len);
	CHECK_INT_EQ(msg_encode_head(m, head, len, &hlen), 0);
	if (bulk_of(m, &bulk, &fixed)) {
		CHECK_INT_EQ(hlen, MSG_HEADER_SIZE + fixed);
		CHECK_INT_EQ(hlen + bulk.len, len);
		CHECK_MEM_EQ(head, frame, hlen);
		if (bulk.len)
			CHECK_MEM_EQ(frame + hlen, bulk.data, bulk.len);
	} else {
		CHECK_INT_EQ(hlen, len);
		CHECK_MEM_EQ(head, frame, len);
	}
	free(head);

	check_enospc(m, len, s->what);
	free(copy);
	free(frame);
}

/* Fixed-layout messages ignore bytes after their known fields (later versions append). */
static void test_trailing_bytes(const struct sample *s)
{
	struct msg_bytes bulk;
	size_t fixed, len;
	uint8_t *frame, *longer;
	struct msg d;
	const char *diff;

	if (bulk_of(&s->m, &bulk, &fixed))
		return; /* there the rest of the frame is the payload */
	frame = encode_exact(&s->m, &len);
	longer = xmalloc(len + 3);
	memcpy(longer, frame, len);
	memset(longer + len, 0xab, 3);
	put_be32(longer, (uint32_t)(len + 3 - 4));
	CHECK_INT_EQ(msg_decode(longer, len + 3, &d), 0);
	diff = msg_diff(&s->m, &d);
	if (diff)
		fprintf(stderr, "%s + 3 trailing bytes: differs in %s\n", s->what, diff);
	CHECK(diff == NULL);
	free(longer);
	free(frame);
}

/* ---- truncation at every byte ------------------------------------------ */

static int want_cut(size_t cut, size_t len)
{
	if (len <= FULL_SWEEP_MAX)
		return 1;
	return cut < 256 || len - cut < 256 || cut % 4093 == 0;
}

static void test_truncation(const struct sample *s)
{
	size_t len, fixed = 0, bad = 0, cuts = 0;
	uint8_t *frame = encode_exact(&s->m, &len);
	struct msg_bytes bulk;
	int has_bulk = bulk_of(&s->m, &bulk, &fixed);

	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *t;
		size_t flen = 0;
		struct msg d;
		int rc;

		if (!want_cut(cut, len))
			continue;
		cuts++;
		t = dup_exact(frame, cut);

		/* the receiver waits for more */
		rc = msg_frame_peek(t, cut, &flen);
		if (rc != -EAGAIN && bad++ < 3)
			fprintf(stderr, "%s cut at %zu: peek gave %d\n", s->what, cut, rc);
		/* decoding a partial frame is an error, not a read past the end */
		rc = msg_decode(t, cut, &d);
		if (rc != HR_EPROTO_TRUNCATED && bad++ < 3)
			fprintf(stderr, "%s cut at %zu: decode gave %d\n", s->what, cut, rc);

		/* the same bytes as a whole frame whose length says so */
		if (cut >= 4) {
			put_be32(t, (uint32_t)(cut - 4));
			rc = msg_decode(t, cut, &d);
			if (cut == 4) {
				if (rc != HR_EPROTO_EMPTY && bad++ < 3)
					fprintf(stderr, "%s: length 0 gave %d\n", s->what, rc);
			} else if (rc == 0) {
				/* only a shorter bulk payload may decode, and within the buffer */
				struct msg_bytes got;
				size_t gfixed;
				struct msg want = s->m;

				if (!has_bulk || !bulk_of(&d, &got, &gfixed) ||
				    cut < MSG_HEADER_SIZE + fixed ||
				    got.data != t + MSG_HEADER_SIZE + fixed ||
				    got.len != cut - MSG_HEADER_SIZE - fixed) {
					if (bad++ < 3)
						fprintf(stderr,
							"%s cut at %zu: decoded as a whole frame\n",
							s->what, cut);
				} else {
					/* the fixed fields are intact */
					if (want.type == MSG_VIDEO)
						want.u.video.data = got;
					else if (want.type == MSG_AUDIO || want.type == MSG_MIC)
						want.u.audio.data = got;
					else
						want.u.clipboard.data = got;
					if (msg_diff(&want, &d) && bad++ < 3)
						fprintf(stderr, "%s cut at %zu: fields differ\n",
							s->what, cut);
				}
			} else if (rc != HR_EPROTO_TRUNCATED && rc != HR_EPROTO_INVALID) {
				if (bad++ < 3)
					fprintf(stderr, "%s cut at %zu: rewritten gave %d\n",
						s->what, cut, rc);
			} else if (has_bulk && cut > MSG_HEADER_SIZE + fixed &&
				   s->m.type != MSG_CLIPBOARD) {
				/* VIDEO/AUDIO/MIC with some data left must decode */
				if (bad++ < 3)
					fprintf(stderr, "%s cut at %zu: refused %d\n", s->what, cut,
						rc);
			} else if (!has_bulk && rc != HR_EPROTO_TRUNCATED) {
				if (bad++ < 3)
					fprintf(stderr, "%s cut at %zu: %d, not TRUNCATED\n",
						s->what, cut, rc);
			}
		}
		free(t);
	}
	if (bad)
		fprintf(stderr, "%s: %zu bad cuts of %zu\n", s->what, bad, cuts);
	CHECK_INT_EQ(bad, 0);
	free(frame);
}

/* ---- framing ----------------------------------------------------------- */

static void test_length_fields(void)
{
	static const struct {
		uint32_t len;
		int peek, decode;
	} cases[] = {
		{0, HR_EPROTO_EMPTY, HR_EPROTO_EMPTY},
		{0x7fffffffu, HR_EPROTO_TOO_LONG, HR_EPROTO_TOO_LONG},
		{0x80000000u, HR_EPROTO_TOO_LONG, HR_EPROTO_TOO_LONG},
		{0xffffffffu, HR_EPROTO_TOO_LONG, HR_EPROTO_TOO_LONG},
		{MSG_FRAME_MAX + 1, HR_EPROTO_TOO_LONG, HR_EPROTO_TOO_LONG},
		{MSG_FRAME_MAX, -EAGAIN, HR_EPROTO_TRUNCATED}, /* legal: wait for the rest */
		{1, 0, 0},
	};
	static const size_t have[] = {4, 5, 16};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t h = 0; h < sizeof(have) / sizeof(have[0]); h++) {
			uint8_t *b = xmalloc(have[h]);
			size_t flen = 0;
			int want_peek = cases[i].peek, want_dec = cases[i].decode;
			struct msg d;

			memset(b, 0x99, have[h]); /* type byte 0x99: unknown */
			put_be32(b, cases[i].len);
			if (cases[i].len == 1) {
				/* a frame of just a type byte: complete once 5 bytes are here */
				want_peek = have[h] >= 5 ? 0 : -EAGAIN;
				want_dec = have[h] == 5	 ? 0
					   : have[h] < 5 ? HR_EPROTO_TRUNCATED
							 : HR_EPROTO_INVALID;
			}
			CHECK_INT_EQ(msg_frame_peek(b, have[h], &flen), want_peek);
			CHECK_INT_EQ(msg_decode(b, have[h], &d), want_dec);
			free(b);
		}
	}

	/* fewer than 4 bytes: always wait */
	for (size_t n = 0; n < 4; n++) {
		uint8_t *b = xmalloc(n);
		size_t flen = 0;
		struct msg d;

		memset(b, 0, n);
		CHECK_INT_EQ(msg_frame_peek(b, n, &flen), -EAGAIN);
		CHECK_INT_EQ(msg_decode(b, n, &d), HR_EPROTO_TRUNCATED);
		free(b);
	}

	/* a frame of exactly MSG_FRAME_MAX, and one byte more refused by the encoder */
	{
		size_t data_max = MSG_FRAME_MAX - 1 - 13, len = 0, flen = 0;
		/* MSG_CLIPBOARD_MAX + 1 is the largest size used below */
		uint8_t *data = xmalloc(MSG_CLIPBOARD_MAX + 1), *frame;
		struct msg m = {.type = MSG_VIDEO, .raw_type = MSG_VIDEO}, d;

		memset(data, 0x42, MSG_CLIPBOARD_MAX + 1);
		m.u.video.data = BYTES(data, data_max);
		CHECK_INT_EQ(msg_encoded_size(&m), MSG_FRAME_MAX + 4);
		frame = encode_exact(&m, &len);
		CHECK_INT_EQ(get_be32(frame), MSG_FRAME_MAX);
		CHECK_INT_EQ(msg_frame_peek(frame, len, &flen), 0);
		CHECK_INT_EQ(flen, MSG_FRAME_MAX + 4);
		CHECK_INT_EQ(msg_decode(frame, len, &d), 0);
		CHECK(msg_diff(&m, &d) == NULL);
		free(frame);
		m.u.video.data.len = data_max + 1;
		check_encode_refused(&m, "VIDEO one byte over the frame maximum");
		/* the stage times take 1 + 4 * MSG_STAGE_COUNT bytes of it */
		m.u.video.flags = MSG_VIDEO_TIMING;
		m.u.video.data.len = data_max - 1 - 4 * MSG_STAGE_COUNT;
		CHECK_INT_EQ(msg_encoded_size(&m), MSG_FRAME_MAX + 4);
		m.u.video.data.len++;
		check_encode_refused(&m, "timed VIDEO one byte over the frame maximum");

		m = (struct msg){.type = MSG_AUDIO, .raw_type = MSG_AUDIO};
		m.u.audio.data = BYTES(data, MSG_FRAME_MAX - 1 - 8);
		CHECK_INT_EQ(msg_encoded_size(&m), MSG_FRAME_MAX + 4);
		m.u.audio.data.len++;
		check_encode_refused(&m, "AUDIO one byte over the frame maximum");
		m.type = m.raw_type = MSG_MIC;
		check_encode_refused(&m, "MIC one byte over the frame maximum");

		/* clipboard: binary and text at MSG_CLIPBOARD_MAX */
		m = (struct msg){.type = MSG_CLIPBOARD, .raw_type = MSG_CLIPBOARD};
		m.u.clipboard.format = MSG_CLIPBOARD_TEXT;
		m.u.clipboard.data = BYTES(data, MSG_CLIPBOARD_MAX);
		CHECK_INT_EQ(msg_encoded_size(&m), MSG_FRAME_MAX + 4);
		frame = encode_exact(&m, &len);
		CHECK_INT_EQ(msg_decode(frame, len, &d), 0);
		CHECK(msg_diff(&m, &d) == NULL);
		free(frame);
		m.u.clipboard.format = 99;
		m.u.clipboard.data.len++;
		check_encode_refused(&m, "CLIPBOARD one byte over the maximum");
		free(data);

		/* a whole buffer behind a length one above the maximum is still refused */
		frame = xmalloc(MSG_FRAME_MAX + 5);
		memset(frame, 0, MSG_FRAME_MAX + 5);
		put_be32(frame, MSG_FRAME_MAX + 1);
		frame[4] = MSG_VIDEO;
		CHECK_INT_EQ(msg_frame_peek(frame, MSG_FRAME_MAX + 5, &flen), HR_EPROTO_TOO_LONG);
		CHECK_INT_EQ(msg_decode(frame, MSG_FRAME_MAX + 5, &d), HR_EPROTO_TOO_LONG);
		free(frame);
	}
}

/* A length field that disagrees with the buffer handed to msg_decode. */
static void test_length_mismatch(void)
{
	struct msg m = {.type = MSG_RESIZE, .raw_type = MSG_RESIZE, .u.resize = {1280, 720}};
	size_t len;
	uint8_t *frame = encode_exact(&m, &len), *b;

	put_be32(frame, (uint32_t)(len - 4 + 1)); /* says one byte more than there is */
	check_decode_rc(frame, len, HR_EPROTO_TRUNCATED, "length + 1");
	put_be32(frame, (uint32_t)(len - 4 - 1)); /* says one byte less */
	check_decode_rc(frame, len, HR_EPROTO_INVALID, "length - 1");
	put_be32(frame, (uint32_t)(len - 4));

	b = xmalloc(len + 1); /* the buffer holds the frame and one byte of the next */
	memcpy(b, frame, len);
	b[len] = 0;
	check_decode_rc(b, len + 1, HR_EPROTO_INVALID, "frame + 1 byte");
	free(b);
	free(frame);
}

/* The types docs/protocol.md defines; the library must name exactly these. */
static int is_known(unsigned t)
{
	return (t >= MSG_HELLO && t <= MSG_CHALLENGE) || (t >= MSG_VIDEO && t <= MSG_STATUS) ||
	       (t >= MSG_KEY && t <= MSG_AUDIO_REPORT);
}

static void test_unknown_types(void)
{
	size_t bad = 0, nknown = 0;

	for (unsigned t = 0; t < 256; t++) {
		const char *name = msg_type_name((uint8_t)t);

		if (is_known(t)) {
			nknown++;
			if (strcmp(name, "UNKNOWN") == 0 && bad++ < 3)
				fprintf(stderr, "type %u has no name\n", t);
			continue;
		}
		if (strcmp(name, "UNKNOWN") != 0 && bad++ < 3)
			fprintf(stderr, "unknown type %u named %s\n", t, name);
		for (size_t plen = 0; plen < 9; plen += 4) {
			size_t len = MSG_HEADER_SIZE + plen, flen = 0;
			uint8_t *f = xmalloc(len);
			struct msg d;
			int rc;

			memset(f, 0xee, len);
			put_be32(f, (uint32_t)(1 + plen));
			f[4] = (uint8_t)t;
			rc = msg_frame_peek(f, len, &flen);
			if ((rc != 0 || flen != len) && bad++ < 3)
				fprintf(stderr, "type %u: peek %d, %zu\n", t, rc, flen);
			rc = msg_decode(f, len, &d);
			if ((rc != 0 || d.type != MSG_UNKNOWN || d.raw_type != t) && bad++ < 3)
				fprintf(stderr, "type %u: decode %d, type %d, raw %u\n", t, rc,
					d.type, d.raw_type);
			free(f);
		}
		/* and the encoder never sends a type it does not define */
		struct msg m = {.type = (enum msg_type)t, .raw_type = (uint8_t)t};
		if ((msg_encoded_size(&m) != 0 || msg_encode(&m, NULL, 0, &(size_t){0}) >= 0) &&
		    bad++ < 3)
			fprintf(stderr, "type %u: encoder accepted it\n", t);
	}
	CHECK_INT_EQ(bad, 0);
	CHECK_INT_EQ(nknown, 23);
	CHECK_STR_EQ(msg_type_name(MSG_MIC), "MIC");
	CHECK_STR_EQ(msg_type_name(MSG_AUDIO_REPORT), "AUDIO_REPORT");
	CHECK_STR_EQ(msg_type_name(MSG_RESIZE_REQUEST), "RESIZE_REQUEST");
	CHECK_STR_EQ(msg_type_name(MSG_KEYFRAME_REQUEST), "KEYFRAME_REQUEST");
	CHECK_STR_EQ(msg_type_name(MSG_CURSOR_POS), "CURSOR_POS");
	CHECK_STR_EQ(msg_type_name(MSG_STATUS), "STATUS");

	for (unsigned r = MSG_BYE_NORMAL; r <= MSG_BYE_RESUME_REFUSED; r++)
		CHECK(strcmp(msg_bye_reason_name((uint16_t)r), "unknown reason") != 0);
	CHECK_STR_EQ(msg_bye_reason_name(MSG_BYE_RESUME_REFUSED + 1), "unknown reason");
	CHECK_STR_EQ(msg_bye_reason_name(0xffff), "unknown reason");
}

/* ---- field validation -------------------------------------------------- */

/* Encodes a valid m, patches n bytes at payload offset off, expects rc from the decoder. */
static void check_patched(const struct msg *m, size_t off, const void *bytes, size_t n, int want,
			  const char *what)
{
	size_t len;
	uint8_t *frame = encode_exact(m, &len);

	if (MSG_HEADER_SIZE + off + n > len) {
		fprintf(stderr, "%s: patch outside the frame\n", what);
		CHECK(0);
	} else {
		memcpy(frame + MSG_HEADER_SIZE + off, bytes, n);
		check_decode_rc(frame, len, want, what);
	}
	free(frame);
}

static void check_patched_u16(const struct msg *m, size_t off, uint16_t v, int want,
			      const char *what)
{
	uint8_t b[2];

	put_be16(b, v);
	check_patched(m, off, b, 2, want, what);
}

static void test_version_magic(void)
{
	struct msg hello = samples[0].m, welcome = samples[3].m, bad;
	static const uint16_t versions[] = {0, 2, 0xffff};
	static const uint8_t wrong_magic[] = {'H', 'R', 'I', 'T'};

	CHECK_INT_EQ(hello.type, MSG_HELLO);
	CHECK_INT_EQ(welcome.type, MSG_WELCOME);
	for (size_t i = 0; i < 3; i++) {
		check_patched_u16(&hello, 4, versions[i], HR_EPROTO_VERSION, "HELLO version");
		check_patched_u16(&welcome, 4, versions[i], HR_EPROTO_VERSION, "WELCOME version");
		bad = hello;
		bad.u.hello.version = versions[i];
		check_encode_refused(&bad, "HELLO wrong version");
		bad = welcome;
		bad.u.welcome.version = versions[i];
		check_encode_refused(&bad, "WELCOME wrong version");
	}
	check_patched(&hello, 0, wrong_magic, 4, HR_EPROTO_INVALID, "HELLO magic");
	check_patched(&welcome, 0, wrong_magic, 4, HR_EPROTO_INVALID, "WELCOME magic");

	/*
	 * The version decides the layout of the rest: a later version's HELLO or
	 * WELCOME, shorter or longer than ours, must still read as "wrong
	 * version" so the peer learns why (BYE VERSION), not as a malformed frame.
	 */
	for (unsigned t = MSG_HELLO; t <= MSG_WELCOME; t++) {
		uint8_t f[16] = {0, 0, 0, 7, (uint8_t)t, 'H', 'R', 'I', 'S', 0, 2};

		check_decode_rc(f, 11, HR_EPROTO_VERSION, "short later-version HELLO/WELCOME");
		put_be32(f, 12);
		memset(f + 11, 0xff, 5); /* would be invalid as version 1 fields */
		check_decode_rc(f, 16, HR_EPROTO_VERSION, "later-version HELLO/WELCOME");
		f[5] = 'X'; /* wrong magic wins: it is not our protocol at all */
		check_decode_rc(f, 16, HR_EPROTO_INVALID, "wrong magic and version");
		put_be32(f, 6);
		f[5] = 'H';
		check_decode_rc(f, 10, HR_EPROTO_TRUNCATED, "HELLO/WELCOME cut in the version");
	}
}

static void test_counts(void)
{
	struct msg m;
	size_t len;
	uint8_t *f;

	/* HELLO: ticket length field above the limit, with and without the bytes behind it */
	static const uint16_t ticket_lens[] = {MSG_TICKET_MAX + 1, 0xffff};
	for (size_t i = 0; i < 2; i++) {
		for (int with_bytes = 0; with_bytes < 2; with_bytes++) {
			size_t n = with_bytes ? ticket_lens[i] : 0;
			len = MSG_HEADER_SIZE + 16 + n + 1;
			f = xmalloc(len);
			memset(f, 'a', len);
			put_be32(f, (uint32_t)(len - 4));
			f[4] = MSG_HELLO;
			put_be32(f + 5, MSG_MAGIC);
			put_be16(f + 9, MSG_PROTOCOL_VERSION);
			put_be16(f + 19, ticket_lens[i]);
			f[len - 1] = 0; /* empty name when the ticket is all there */
			check_decode_rc(f, len, HR_EPROTO_INVALID, "HELLO ticket length");
			free(f);
		}
	}
	m = samples[0].m;
	m.u.hello.ticket = BYTES(ticket_max, MSG_TICKET_MAX + 0);
	f = encode_exact(&m, &len);
	check_decode_rc(f, len, 0, "HELLO ticket 4096");
	free(f);
	{
		static uint8_t big[MSG_TICKET_MAX + 1];
		m.u.hello.ticket = BYTES(big, sizeof(big));
		check_encode_refused(&m, "HELLO ticket 4097");
		m.u.hello.ticket = BYTES(NULL, 10);
		check_encode_refused(&m, "HELLO ticket NULL with a length");
	}
	m = samples[0].m;
	{
		static char n256[MSG_NAME_MAX + 2];
		fill_utf8(n256, MSG_NAME_MAX + 1, "a");
		m.u.hello.client_name = BYTES(n256, MSG_NAME_MAX + 1);
		check_encode_refused(&m, "HELLO name 256");
		m = samples[3].m;
		m.u.welcome.session = BYTES(n256, MSG_NAME_MAX + 1);
		check_encode_refused(&m, "WELCOME session 256");
	}

	/* BYE and STATUS text over 1024 */
	{
		static char r1025[MSG_REASON_MAX + 2];
		static const uint16_t lens[] = {MSG_REASON_MAX + 1, 0xffff};

		fill_utf8(r1025, MSG_REASON_MAX + 1, "r");
		m = (struct msg){.type = MSG_BYE, .raw_type = MSG_BYE};
		m.u.bye.text = BYTES(r1025, MSG_REASON_MAX + 1);
		check_encode_refused(&m, "BYE text 1025");
		m = (struct msg){.type = MSG_STATUS, .raw_type = MSG_STATUS};
		m.u.status.text = BYTES(r1025, MSG_REASON_MAX + 1);
		check_encode_refused(&m, "STATUS text 1025");
		for (size_t i = 0; i < 4; i++) {
			len = MSG_HEADER_SIZE + 4 + lens[i % 2];
			f = xmalloc(len);
			memset(f, 'r', len);
			put_be32(f, (uint32_t)(len - 4));
			f[4] = i < 2 ? MSG_BYE : MSG_STATUS;
			put_be16(f + 5, 0);
			put_be16(f + 7, lens[i % 2]);
			check_decode_rc(f, len, HR_EPROTO_INVALID, "BYE/STATUS text length");
			free(f);
		}
	}

	/* CURSOR sizes whose pixel count would overflow or exceed the limit */
	{
		static const struct {
			uint16_t w, h, hx, hy;
			size_t have; /* pixel bytes present after the fixed fields */
			int want;
			const char *what;
		} cases[] = {
			{65535, 65535, 10, 10, 0, HR_EPROTO_INVALID, "65535x65535, no pixels"},
			{65535, 65535, 10, 10, 64, HR_EPROTO_INVALID, "65535x65535, 64 bytes"},
			{513, 1, 0, 0, 513 * 4, HR_EPROTO_INVALID, "513x1"},
			{1, 513, 0, 0, 513 * 4, HR_EPROTO_INVALID, "1x513"},
			{0, 5, 0, 0, 0, HR_EPROTO_INVALID, "0x5"},
			{5, 0, 0, 0, 0, HR_EPROTO_INVALID, "5x0"},
			{4, 4, 4, 0, 64, HR_EPROTO_INVALID, "hot x outside"},
			{4, 4, 0, 4, 64, HR_EPROTO_INVALID, "hot y outside"},
			{4, 4, 3, 3, 63, HR_EPROTO_TRUNCATED, "pixels one short"},
			{4, 4, 3, 3, 64, 0, "pixels exact"},
			{4, 4, 3, 3, 65, 0, "pixels one long (trailing byte ignored)"},
			{512, 512, 0, 0, 512 * 512 * 4 - 1, HR_EPROTO_TRUNCATED,
			 "512x512 one short"},
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct msg d;
			int rc;

			len = MSG_HEADER_SIZE + 8 + cases[i].have;
			f = xmalloc(len);
			memset(f, 0x77, len);
			put_be32(f, (uint32_t)(len - 4));
			f[4] = MSG_CURSOR;
			put_be16(f + 5, cases[i].w);
			put_be16(f + 7, cases[i].h);
			put_be16(f + 9, cases[i].hx);
			put_be16(f + 11, cases[i].hy);
			rc = msg_decode(f, len, &d);
			if (rc != cases[i].want)
				fprintf(stderr, "CURSOR %s: got %d want %d\n", cases[i].what, rc,
					cases[i].want);
			CHECK_INT_EQ(rc, cases[i].want);
			if (rc == 0) {
				CHECK_INT_EQ(d.u.cursor.pixels.len, 64);
				CHECK(d.u.cursor.pixels.data == f + 13);
			}
			free(f);

			/* the encoder refuses the same shapes */
			m = (struct msg){.type = MSG_CURSOR, .raw_type = MSG_CURSOR};
			m.u.cursor = (struct msg_cursor){cases[i].w, cases[i].h, cases[i].hx,
							 cases[i].hy,
							 BYTES(cursor_max, cases[i].have)};
			if (cases[i].want != 0)
				check_encode_refused(&m, cases[i].what);
		}
		m = (struct msg){.type = MSG_CURSOR, .raw_type = MSG_CURSOR};
		m.u.cursor = (struct msg_cursor){4, 4, 3, 3, BYTES(cursor16, 65)};
		check_encode_refused(&m, "CURSOR pixels one long");
		m.u.cursor.pixels = BYTES(NULL, 64);
		check_encode_refused(&m, "CURSOR pixels NULL");
		m.u.cursor = (struct msg_cursor){0, 0, 0, 0, BYTES(cursor16, 4)};
		check_encode_refused(&m, "CURSOR hidden with pixels");
	}
}

static const struct {
	const char *s;
	size_t len;
} bad_utf8[] = {
#define U(x)                     \
	{                        \
		x, sizeof(x) - 1 \
	}
	U("\xff"),
	U("\xfe"),
	U("\x80"), /* a lone continuation byte */
	U("\xbf"),
	U("ab\xc3"), /* cut in the middle of a character */
	U("\xe2\x82"),
	U("\xf0\x9f\x98"),
	U("\xc0\x80"),	       /* overlong NUL */
	U("\xc1\xbf"),	       /* overlong */
	U("\xe0\x80\x80"),     /* overlong */
	U("\xe0\x9f\xbf"),     /* overlong */
	U("\xf0\x80\x80\x80"), /* overlong */
	U("\xf0\x8f\xbf\xbf"), /* overlong */
	U("\xed\xa0\x80"),     /* U+D800, a surrogate */
	U("\xed\xbf\xbf"),     /* U+DFFF */
	U("\xf4\x90\x80\x80"), /* above U+10FFFF */
	U("\xf5\x80\x80\x80"),
	U("\xf8\x88\x80\x80\x80"), /* 5-byte form */
	U("\xc3\x28"),		   /* continuation missing */
	U("\xe2\x28\xa1"),
	U("a\0b"), /* embedded NUL */
	U("\0"),
	U("abc\0"),
#undef U
};

static const char *const good_utf8[] = {
	"a",
	"\x7f",
	"\xc2\x80",	    /* U+0080 */
	"\xdf\xbf",	    /* U+07FF */
	"\xe0\xa0\x80",	    /* U+0800 */
	"\xed\x9f\xbf",	    /* U+D7FF */
	"\xee\x80\x80",	    /* U+E000 */
	"\xef\xbf\xbf",	    /* U+FFFF */
	"\xf0\x90\x80\x80", /* U+10000 */
	"\xf4\x8f\xbf\xbf", /* U+10FFFF */
	"gr\xc3\xbc\xc3\x9f \xe6\x97\xa5 \xf0\x9f\x98\x80",
};

/* A message of type t whose text field (the last but empty optional fields) is b. */
static struct msg text_msg(enum msg_type t, struct msg_bytes b)
{
	struct msg m = {.type = t, .raw_type = (uint8_t)t};

	switch (t) {
	case MSG_HELLO:
		m.u.hello.version = MSG_PROTOCOL_VERSION;
		m.u.hello.ticket = BYTES(ticket_small, 8);
		m.u.hello.client_name = b;
		break;
	case MSG_WELCOME:
		m.u.welcome = (struct msg_welcome){.version = MSG_PROTOCOL_VERSION,
						   .width = 800,
						   .height = 600,
						   .codec = MSG_CODEC_H264,
						   .session = b};
		break;
	case MSG_BYE:
		m.u.bye.reason = MSG_BYE_SHUTDOWN;
		m.u.bye.text = b;
		break;
	case MSG_STATUS:
		m.u.status.code = MSG_STATUS_CONSOLE_LOST;
		m.u.status.text = b;
		break;
	default:
		m.u.clipboard.format = MSG_CLIPBOARD_TEXT;
		m.u.clipboard.data = b;
		break;
	}
	return m;
}

static void test_text(void)
{
	static const enum msg_type types[] = {MSG_HELLO, MSG_WELCOME, MSG_BYE, MSG_STATUS,
					      MSG_CLIPBOARD};
	size_t bad = 0;

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
			struct msg_bytes b = BYTES(bad_utf8[i].s, bad_utf8[i].len);
			struct msg m = text_msg(types[t], b), d;
			char placeholder[8];
			size_t len;
			uint8_t *f;
			int rc;

			check_encode_refused(&m, "invalid UTF-8");
			/* the decoder: encode a same-length valid text and patch it in */
			memset(placeholder, 'x', sizeof(placeholder));
			m = text_msg(types[t], BYTES(placeholder, b.len));
			f = encode_exact(&m, &len);
			/* the text is last but for HELLO's proof length and WELCOME's resume fields */
			size_t tail = types[t] == MSG_HELLO ? 1 : types[t] == MSG_WELCOME ? 3 : 0;
			memcpy(f + len - tail - b.len, b.data, b.len);
			rc = decode_copy(f, len, &d, NULL);
			if (rc != HR_EPROTO_INVALID && bad++ < 5)
				fprintf(stderr, "%s: invalid UTF-8 #%zu decoded: %d\n",
					msg_type_name((uint8_t)types[t]), i, rc);
			/* cleared on error, type kept */
			if (rc < 0 && (d.type != types[t] || d.u.bye.reason != 0) && bad++ < 5)
				fprintf(stderr, "message not cleared on error\n");
			free(f);
		}
		for (size_t i = 0; i < sizeof(good_utf8) / sizeof(good_utf8[0]); i++) {
			struct msg m = text_msg(types[t],
						BYTES(good_utf8[i], strlen(good_utf8[i])));
			struct msg d;
			size_t len;
			uint8_t *f = encode_exact(&m, &len), *copy;

			if ((decode_copy(f, len, &d, &copy) != 0 || msg_diff(&m, &d)) && bad++ < 5)
				fprintf(stderr, "%s: valid UTF-8 #%zu refused\n",
					msg_type_name((uint8_t)types[t]), i);
			free(copy);
			free(f);
		}
	}
	CHECK_INT_EQ(bad, 0);

	/* non-text clipboard formats carry any bytes */
	for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
		struct msg m = text_msg(MSG_CLIPBOARD, BYTES(bad_utf8[i].s, bad_utf8[i].len)), d;
		size_t len;
		uint8_t *f, *copy;

		m.u.clipboard.format = 2;
		f = encode_exact(&m, &len);
		CHECK_INT_EQ(decode_copy(f, len, &d, &copy), 0);
		CHECK(msg_diff(&m, &d) == NULL);
		free(copy);
		free(f);
	}
}

static void test_ranges(void)
{
	struct msg m, good;

	/* RESIZE */
	static const uint16_t sizes[][2] = {{0, 0},	{0, 1},	    {1, 0},
					    {16385, 1}, {1, 16385}, {65535, 65535}};
	good = (struct msg){.type = MSG_RESIZE, .raw_type = MSG_RESIZE, .u.resize = {1280, 720}};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t b[4];

		put_be16(b, sizes[i][0]);
		put_be16(b + 2, sizes[i][1]);
		check_patched(&good, 0, b, 4, HR_EPROTO_INVALID, "RESIZE size");
		m = good;
		m.u.resize.width = sizes[i][0];
		m.u.resize.height = sizes[i][1];
		check_encode_refused(&m, "RESIZE size");
	}

	/* RESIZE_REQUEST: 1..8192 each way */
	static const uint16_t req_sizes[][2] = {{0, 0},	     {0, 600},	  {800, 0},
						{8193, 600}, {800, 8193}, {65535, 65535}};
	good = (struct msg){.type = MSG_RESIZE_REQUEST,
			    .raw_type = MSG_RESIZE_REQUEST,
			    .u.resize_request = {800, 600}};
	for (size_t i = 0; i < sizeof(req_sizes) / sizeof(req_sizes[0]); i++) {
		uint8_t b[4];

		put_be16(b, req_sizes[i][0]);
		put_be16(b + 2, req_sizes[i][1]);
		check_patched(&good, 0, b, 4, HR_EPROTO_INVALID, "RESIZE_REQUEST size");
		m = good;
		m.u.resize_request.width = req_sizes[i][0];
		m.u.resize_request.height = req_sizes[i][1];
		check_encode_refused(&m, "RESIZE_REQUEST size");
	}
	check_patched_u16(&good, 0, 8192, 0, "RESIZE_REQUEST width 8192");
	check_patched_u16(&good, 2, 1, 0, "RESIZE_REQUEST height 1");

	/* WELCOME: payload offsets 10 width, 12 height, 14 codec, 15 rate, 19 channels */
	good = samples[3].m;
	check_patched_u16(&good, 10, 0, HR_EPROTO_INVALID, "WELCOME width 0");
	check_patched_u16(&good, 10, 16385, HR_EPROTO_INVALID, "WELCOME width 16385");
	check_patched_u16(&good, 12, 0, HR_EPROTO_INVALID, "WELCOME height 0");
	check_patched_u16(&good, 12, 65535, HR_EPROTO_INVALID, "WELCOME height 65535");
	check_patched(&good, 14, "\x00", 1, HR_EPROTO_INVALID, "WELCOME codec 0");
	check_patched(&good, 14, "\x02", 1, HR_EPROTO_INVALID, "WELCOME codec 2");
	check_patched(&good, 15, "\x00\x05\xdc\x01", 4, HR_EPROTO_INVALID, "WELCOME rate 384001");
	check_patched(&good, 15, "\x00\x05\xdc\x00", 4, 0, "WELCOME rate 384000");
	check_patched(&good, 19, "\x09", 1, HR_EPROTO_INVALID, "WELCOME 9 channels");
	m = good, m.u.welcome.width = 0;
	check_encode_refused(&m, "WELCOME width 0");
	m = good, m.u.welcome.height = MSG_DIMENSION_MAX + 1;
	check_encode_refused(&m, "WELCOME height 16385");
	m = good, m.u.welcome.codec = 2;
	check_encode_refused(&m, "WELCOME codec 2");
	m = good, m.u.welcome.audio_rate = 384001;
	check_encode_refused(&m, "WELCOME rate 384001");
	m = good, m.u.welcome.audio_channels = 9;
	check_encode_refused(&m, "WELCOME 9 channels");

	/* TOUCH phase: payload offset 4 */
	good = (struct msg){.type = MSG_TOUCH, .raw_type = MSG_TOUCH, .u.touch = {5, 0, 1, 2}};
	check_patched(&good, 4, "\x04", 1, HR_EPROTO_INVALID, "TOUCH phase 4");
	check_patched(&good, 4, "\xff", 1, HR_EPROTO_INVALID, "TOUCH phase 255");
	check_patched(&good, 4, "\x03", 1, 0, "TOUCH phase 3");
	m = good, m.u.touch.phase = 4;
	check_encode_refused(&m, "TOUCH phase 4");

	/* PEN tilt: payload offsets 7 and 8 */
	good = (struct msg){.type = MSG_PEN, .raw_type = MSG_PEN, .u.pen = {1, 2, 3, 4, 0, 0}};
	static const int8_t tilts[] = {91, -91, 127, -128};
	for (size_t i = 0; i < 4; i++) {
		uint8_t b = (uint8_t)tilts[i];

		check_patched(&good, 7, &b, 1, HR_EPROTO_INVALID, "PEN tilt x");
		check_patched(&good, 8, &b, 1, HR_EPROTO_INVALID, "PEN tilt y");
		m = good, m.u.pen.tilt_x = tilts[i];
		check_encode_refused(&m, "PEN tilt x");
		m = good, m.u.pen.tilt_y = tilts[i];
		check_encode_refused(&m, "PEN tilt y");
	}

	/* KEY with neither scancode nor keysym */
	good = (struct msg){.type = MSG_KEY, .raw_type = MSG_KEY, .u.key = {30, 0x61, 1}};
	check_patched(&good, 0, "\0\0\0\0\0\0", 6, HR_EPROTO_INVALID, "KEY 0/0");
	check_patched(&good, 0, "\0\0\0\0\0\x61", 6, 0, "KEY 0/keysym");
	check_patched(&good, 2, "\0\0\0\0", 4, 0, "KEY scancode/0");
	m = good, m.u.key.scancode = 0, m.u.key.keysym = 0;
	check_encode_refused(&m, "KEY 0/0");

	/* VIDEO and AUDIO need at least one byte of data */
	m = (struct msg){.type = MSG_VIDEO, .raw_type = MSG_VIDEO};
	check_encode_refused(&m, "VIDEO without data");
	m.u.video.data = BYTES(NULL, 5);
	check_encode_refused(&m, "VIDEO data NULL");
	m = (struct msg){.type = MSG_AUDIO, .raw_type = MSG_AUDIO};
	check_encode_refused(&m, "AUDIO without data");
	m = (struct msg){.type = MSG_MIC, .raw_type = MSG_MIC};
	check_encode_refused(&m, "MIC without data");
	{
		uint8_t a[MSG_HEADER_SIZE + 8] = {0, 0, 0, 9, MSG_MIC};

		check_decode_rc(a, sizeof(a), HR_EPROTO_INVALID, "MIC without data");
	}
	/* AUDIO_REPORT: loss is per mille, 0..1000 */
	good = (struct msg){.type = MSG_AUDIO_REPORT,
			    .raw_type = MSG_AUDIO_REPORT,
			    .u.audio_report = {25, 40, 30}};
	check_patched_u16(&good, 0, 1000, 0, "AUDIO_REPORT loss 1000");
	check_patched_u16(&good, 0, 1001, HR_EPROTO_INVALID, "AUDIO_REPORT loss 1001");
	check_patched_u16(&good, 0, 65535, HR_EPROTO_INVALID, "AUDIO_REPORT loss 65535");
	m = good;
	m.u.audio_report.loss = MSG_LOSS_MAX + 1;
	check_encode_refused(&m, "AUDIO_REPORT loss 1001");
	{
		uint8_t v[MSG_HEADER_SIZE + 13] = {0, 0, 0, 14, MSG_VIDEO};
		uint8_t a[MSG_HEADER_SIZE + 8] = {0, 0, 0, 9, MSG_AUDIO};

		check_decode_rc(v, sizeof(v), HR_EPROTO_INVALID, "VIDEO without data");
		check_decode_rc(a, sizeof(a), HR_EPROTO_INVALID, "AUDIO without data");
	}
	test_video_stages();

	/* CURSOR_POS: bits 1..7 of the visible byte are reserved and ignored */
	{
		uint8_t f[] = {0, 0, 0, 6, MSG_CURSOR_POS, 0, 1, 0, 2, 0xfe};
		struct msg d;

		CHECK_INT_EQ(decode_copy(f, sizeof(f), &d, NULL), 0);
		CHECK(!d.u.cursor_pos.visible);
		f[9] = 0x03;
		CHECK_INT_EQ(decode_copy(f, sizeof(f), &d, NULL), 0);
		CHECK(d.u.cursor_pos.visible);
	}

	/* encoder types outside the enum */
	m = (struct msg){.type = (enum msg_type)300};
	check_encode_refused(&m, "type 300");
	m = (struct msg){.type = MSG_UNKNOWN};
	check_encode_refused(&m, "MSG_UNKNOWN");

	/* a failed decode clears what an earlier one left */
	{
		uint8_t f[] = {0, 0, 0, 5, MSG_RESIZE, 0x05, 0x00, 0x02, 0xd0};
		struct msg d;

		CHECK_INT_EQ(decode_copy(f, sizeof(f), &d, NULL), 0);
		CHECK_INT_EQ(d.u.resize.width, 1280);
		f[5] = 0xff;
		CHECK_INT_EQ(decode_copy(f, sizeof(f), &d, NULL), HR_EPROTO_INVALID);
		CHECK_INT_EQ(d.type, MSG_RESIZE);
		CHECK_INT_EQ(d.raw_type, MSG_RESIZE);
		CHECK_INT_EQ(d.u.resize.width, 0);
	}
}

/* ---- a stream of frames fed one byte at a time ------------------------- */

static void test_stream(void)
{
	struct msg expect[64];
	size_t nexpect = 0, slen = 0, scap = 1 << 16;
	uint8_t *stream = xmalloc(scap);
	static const uint8_t unknown[] = {0, 0, 0, 4, 99, 1, 2, 3};

	for (size_t i = 0; i < nsamples && nexpect < 60; i++) {
		size_t len;
		uint8_t *f;

		if (msg_encoded_size(&samples[i].m) > 6000)
			continue;
		f = encode_exact(&samples[i].m, &len);
		if (slen + len + sizeof(unknown) > scap) {
			free(f);
			break;
		}
		memcpy(stream + slen, f, len);
		slen += len;
		expect[nexpect++] = samples[i].m;
		free(f);
		if (i == 5) { /* a frame of an unknown type in the middle */
			memcpy(stream + slen, unknown, sizeof(unknown));
			slen += sizeof(unknown);
			expect[nexpect++] = (struct msg){.type = MSG_UNKNOWN, .raw_type = 99};
		}
	}
	CHECK(nexpect >= 20);

	/* chunk 1: one byte at a time; then a few other chunk sizes, and all at once */
	static const size_t chunks[] = {1, 2, 3, 7, 64, 1000, 1 << 20};
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		uint8_t *rx = NULL;
		size_t rxlen = 0, fed = 0, got = 0, bad = 0;

		while (fed < slen) {
			size_t n = chunks[c] < slen - fed ? chunks[c] : slen - fed;
			uint8_t *grown = xmalloc(rxlen + n); /* exact size: ASan checks peek */

			if (rxlen)
				memcpy(grown, rx, rxlen);
			memcpy(grown + rxlen, stream + fed, n);
			free(rx);
			rx = grown;
			rxlen += n;
			fed += n;
			for (;;) {
				size_t flen = 0;
				struct msg d;
				uint8_t *copy;
				int rc = msg_frame_peek(rx, rxlen, &flen);

				if (rc == -EAGAIN)
					break;
				if (rc != 0 || flen > rxlen) {
					bad++;
					break;
				}
				rc = decode_copy(rx, flen, &d, &copy);
				if (rc != 0 || got >= nexpect || msg_diff(&expect[got], &d)) {
					if (bad++ < 3)
						fprintf(stderr,
							"stream chunk %zu: frame %zu: rc %d\n",
							chunks[c], got, rc);
				}
				free(copy);
				got++;
				/* consume the frame */
				uint8_t *rest = xmalloc(rxlen - flen);
				memcpy(rest, rx + flen, rxlen - flen);
				free(rx);
				rx = rest;
				rxlen -= flen;
			}
		}
		CHECK_INT_EQ(bad, 0);
		CHECK_INT_EQ(got, nexpect);
		CHECK_INT_EQ(rxlen, 0);
		free(rx);
	}

	/* a bad length is reported as soon as its 4 bytes are in, not after more data */
	{
		static const uint8_t bad_streams[][4] = {
			{0, 0, 0, 0}, {0x01, 0, 0, 1}, {0xff, 0xff, 0xff, 0xff}};
		static const int want[] = {HR_EPROTO_EMPTY, HR_EPROTO_TOO_LONG, HR_EPROTO_TOO_LONG};

		for (size_t i = 0; i < 3; i++) {
			for (size_t n = 0; n <= 4; n++) {
				uint8_t *b = dup_exact(bad_streams[i], n);
				size_t flen;

				CHECK_INT_EQ(msg_frame_peek(b, n, &flen),
					     n < 4 ? -EAGAIN : want[i]);
				free(b);
			}
		}
	}
	free(stream);
}

/* ---- the worked examples of docs/protocol.md §10, byte for byte ------- */

static void check_golden(const struct msg *m, const uint8_t *want, size_t want_len,
			 const char *what)
{
	uint8_t buf[64], *copy;
	size_t len = 0;
	struct msg d;
	const char *diff;

	CHECK_INT_EQ(msg_encode(m, buf, sizeof(buf), &len), 0);
	CHECK_INT_EQ(len, want_len);
	if (len != want_len || memcmp(buf, want, len) != 0) {
		fprintf(stderr, "%s: encoding differs from docs/protocol.md\n", what);
		CHECK(0);
	}
	CHECK_INT_EQ(decode_copy(want, want_len, &d, &copy), 0);
	diff = msg_diff(m, &d);
	if (diff)
		fprintf(stderr, "%s: decoding the documented bytes differs in %s\n", what, diff);
	CHECK(diff == NULL);
	free(copy);
}

static void test_golden(void)
{
	static const uint8_t resize[] = {0x00, 0x00, 0x00, 0x05, 0x14, 0x05, 0x00, 0x02, 0xd0};
	static const uint8_t key[] = {0x00, 0x00, 0x00, 0x08, 0x20, 0x00,
				      0x1e, 0x00, 0x00, 0x00, 0x61, 0x01};
	static const uint8_t scroll_down[] = {0x00, 0x00, 0x00, 0x05, 0x22, 0x00, 0x00, 0x00, 0x78};
	static const uint8_t scroll_up[] = {0x00, 0x00, 0x00, 0x05, 0x22, 0x00, 0x00, 0xff, 0x88};
	static const uint8_t hello[] = {0x00, 0x00, 0x00, 0x1c, 0x01, 0x48, 0x52, 0x49,
					0x53, 0x00, 0x01, 0x00, 0x00, 0x00, 0x45, 0x07,
					0x80, 0x04, 0x38, 0x00, 0x04, 0xde, 0xad, 0xbe,
					0xef, 0x05, 0x6b, 0x69, 0x6f, 0x73, 0x6b, 0x00};
	static const uint8_t welcome[] = {0x00, 0x00, 0x00, 0x1c, 0x02, 0x48, 0x52, 0x49,
					  0x53, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x05,
					  0x00, 0x02, 0xd0, 0x01, 0x00, 0x00, 0xbb, 0x80,
					  0x02, 0x03, 0x73, 0x2d, 0x31, 0x00, 0x00, 0x00};
	static const uint8_t video[] = {0x00, 0x00, 0x00, 0x14, 0x10, 0x00, 0x00, 0x00,
					0x07, 0x00, 0x06, 0x0a, 0x24, 0x18, 0x1e, 0x40,
					0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x65, 0x88};
	static const uint8_t video_timed[] = {
		0x00, 0x00, 0x00, 0x2d, 0x10, 0x00, 0x00, 0x00, 0x07, 0x00, 0x06, 0x0a, 0x24,
		0x18, 0x1e, 0x40, 0x00, 0x05, 0x06, 0x00, 0x00, 0x01, 0x90, 0x00, 0x00, 0x0c,
		0x1c, 0x00, 0x00, 0x03, 0x84, 0x00, 0x00, 0x37, 0x78, 0x00, 0x00, 0x00, 0x78,
		0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x01, 0x65, 0x88};
	static const uint8_t ack[] = {0x00, 0x00, 0x00, 0x0d, 0x26, 0x00, 0x00, 0x00, 0x07,
				      0x00, 0x06, 0x0a, 0x24, 0x18, 0x1e, 0xdc, 0x40};
	static const uint8_t kfr[] = {0x00, 0x00, 0x00, 0x01, 0x25};
	static const uint8_t mic[] = {0x00, 0x00, 0x00, 0x0c, 0x28, 0x00, 0x06, 0x0a,
				      0x24, 0x18, 0x1e, 0x40, 0x00, 0xf8, 0xff, 0xfe};
	static const uint8_t audio_report[] = {0x00, 0x00, 0x00, 0x07, 0x29, 0x00,
					       0x19, 0x00, 0x28, 0x00, 0x1e};
	static const uint8_t opus[] = {0xf8, 0xff, 0xfe};
	static const uint8_t resize_req[] = {0x00, 0x00, 0x00, 0x05, 0x27, 0x04, 0x58, 0x03, 0x0a};
	static const uint8_t welcome_resize[] = {0x00, 0x00, 0x00, 0x19, 0x02, 0x48, 0x52, 0x49,
						 0x53, 0x00, 0x01, 0x00, 0x00, 0x00, 0x09, 0x07,
						 0x80, 0x04, 0x38, 0x01, 0x00, 0x00, 0x00, 0x00,
						 0x00, 0x00, 0x00, 0x00, 0x00};
	static const uint8_t bye[] = {0x00, 0x00, 0x00, 0x0f, 0x03, 0x00, 0x01, 0x00, 0x0a, 0x62,
				      0x61, 0x64, 0x20, 0x52, 0x45, 0x53, 0x49, 0x5a, 0x45};
	static const uint8_t challenge[] = {
		0x00, 0x00, 0x00, 0x21, 0x06, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
		0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14,
		0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
	static const uint8_t ticket[] = {0xde, 0xad, 0xbe, 0xef};
	static const uint8_t au[] = {0x00, 0x00, 0x00, 0x01, 0x65, 0x88};
	struct msg m;

#define GOLDEN(bytes) check_golden(&m, bytes, sizeof(bytes), #bytes)
	m = (struct msg){.type = MSG_RESIZE, .raw_type = MSG_RESIZE, .u.resize = {1280, 720}};
	GOLDEN(resize);
	m = (struct msg){.type = MSG_KEY, .raw_type = MSG_KEY, .u.key = {30, 0x61, MSG_KEY_DOWN}};
	GOLDEN(key);
	m = (struct msg){.type = MSG_SCROLL, .raw_type = MSG_SCROLL, .u.scroll = {0, 120}};
	GOLDEN(scroll_down);
	m.u.scroll.dy = -120;
	GOLDEN(scroll_up);
	m = (struct msg){.type = MSG_HELLO,
			 .raw_type = MSG_HELLO,
			 .u.hello = {1, MSG_CAP_H264 | MSG_CAP_OPUS | MSG_CAP_CURSOR, 1920, 1080,
				     BYTES(ticket, 4), STR("kiosk")}};
	GOLDEN(hello);
	m = (struct msg){.type = MSG_WELCOME,
			 .raw_type = MSG_WELCOME,
			 .u.welcome = {1, MSG_WELCOME_CONTROL | MSG_WELCOME_AUDIO, 1280, 720,
				       MSG_CODEC_H264, 48000, 2, STR("s-1")}};
	GOLDEN(welcome);
	m = (struct msg){.type = MSG_VIDEO,
			 .raw_type = MSG_VIDEO,
			 .u.video = {7, 1700000000000000ull, MSG_VIDEO_KEYFRAME, BYTES(au, 6)}};
	GOLDEN(video);
	m = (struct msg){.type = MSG_VIDEO,
			 .raw_type = MSG_VIDEO,
			 .u.video = {7,
				     1700000000000000ull,
				     MSG_VIDEO_KEYFRAME | MSG_VIDEO_TIMING,
				     BYTES(au, 6),
				     {400, 3100, 900, 14200, 120, 15}}};
	GOLDEN(video_timed);
	m = (struct msg){.type = MSG_ACK, .raw_type = MSG_ACK, .u.ack = {7, 1700000000040000ull}};
	GOLDEN(ack);
	m = (struct msg){.type = MSG_CHALLENGE,
			 .raw_type = MSG_CHALLENGE,
			 .u.challenge = {BYTES(challenge + 5, 32)}};
	GOLDEN(challenge);
	m = (struct msg){.type = MSG_KEYFRAME_REQUEST, .raw_type = MSG_KEYFRAME_REQUEST};
	GOLDEN(kfr);
	m = (struct msg){.type = MSG_RESIZE_REQUEST,
			 .raw_type = MSG_RESIZE_REQUEST,
			 .u.resize_request = {1112, 778}};
	GOLDEN(resize_req);
	m = (struct msg){.type = MSG_WELCOME,
			 .raw_type = MSG_WELCOME,
			 .u.welcome = {1, MSG_WELCOME_CONTROL | MSG_WELCOME_RESIZE, 1920, 1080,
				       MSG_CODEC_H264, 0, 0, BYTES(NULL, 0)}};
	GOLDEN(welcome_resize);
	m = (struct msg){.type = MSG_BYE,
			 .raw_type = MSG_BYE,
			 .u.bye = {MSG_BYE_PROTOCOL_ERROR, STR("bad RESIZE")}};
	GOLDEN(bye);
	m = (struct msg){.type = MSG_MIC,
			 .raw_type = MSG_MIC,
			 .u.audio = {1700000000000000ull, BYTES(opus, sizeof(opus))}};
	GOLDEN(mic);
	m = (struct msg){.type = MSG_AUDIO_REPORT,
			 .raw_type = MSG_AUDIO_REPORT,
			 .u.audio_report = {25, 40, 30}};
	GOLDEN(audio_report);
#undef GOLDEN
}

int main(void)
{
	build_samples();

	/* every type is among the samples */
	for (unsigned t = 0; t < 256; t++) {
		int found = 0;

		if (!is_known(t))
			continue;
		for (size_t i = 0; i < nsamples; i++)
			found |= samples[i].m.type == (enum msg_type)t;
		if (!found)
			fprintf(stderr, "no sample of type %u\n", t);
		CHECK(found);
	}

	for (size_t i = 0; i < nsamples; i++) {
		test_round_trip(&samples[i]);
		test_trailing_bytes(&samples[i]);
		test_truncation(&samples[i]);
	}
	test_length_fields();
	test_length_mismatch();
	test_unknown_types();
	test_version_magic();
	test_counts();
	test_text();
	test_ranges();
	test_stream();
	test_golden();

	free(cursor_max);
	return check_done("test_msg");
}
