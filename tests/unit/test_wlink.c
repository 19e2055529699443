/* SPDX-License-Identifier: MIT */
/*
 * The worker link's message format (server/wlink.h): every link-only
 * message round-trips with its fields, the client-protocol messages pass
 * through msg.c in the directions they may travel and not in the others,
 * and a worker that lies (bad sizes, states, texts, trailing bytes, a
 * STATUS the agent says itself) is refused.
 */
#include "check.h"
#include "encoder.h"
#include "error.h"
#include "wlink.h"

#define STR(s) ((struct msg_bytes){(const uint8_t *)(s), sizeof(s) - 1})

static uint8_t buf[1 << 16];

static size_t enc(const struct wlink_msg *m)
{
	size_t n = 0;
	int rc = wlink_encode(m, buf, sizeof(buf), &n);
	CHECK_INT_EQ(rc, 0);
	CHECK_INT_EQ(n, wlink_encoded_size(m));
	return n;
}

static void test_config(void)
{
	struct wlink_msg m = {.type = WLINK_CONFIG}, d;
	m.u.config = (struct wlink_config){
		.flags = WLINK_CONFIG_CLIPBOARD | WLINK_CONFIG_SECCOMP,
		.fps = 60,
		.bitrate_kbps = 8000,
		.clipboard_max = 4096,
		.memory_mb = 512,
		.uid = 62003,
		.gid = 62003,
		.log_level = 3,
		.id = STR("vm1"),
		.uri = STR("vnc://127.0.0.1:5901"),
		.password = STR("pw"),
		.preset = STR("superfast"),
	};
	size_t n = enc(&m);
	CHECK_INT_EQ(wlink_decode(buf, n, WLINK_TO_WORKER, &d), 0);
	CHECK_INT_EQ(d.type, WLINK_CONFIG);
	CHECK_INT_EQ(d.u.config.fps, 60);
	CHECK_INT_EQ(d.u.config.bitrate_kbps, 8000);
	CHECK_INT_EQ(d.u.config.clipboard_max, 4096);
	CHECK_INT_EQ(d.u.config.memory_mb, 512);
	CHECK_INT_EQ(d.u.config.uid, 62003);
	CHECK_INT_EQ(d.u.config.flags, WLINK_CONFIG_CLIPBOARD | WLINK_CONFIG_SECCOMP);
	CHECK_INT_EQ(d.u.config.uri.len, 20);
	CHECK_MEM_EQ(d.u.config.uri.data, "vnc://127.0.0.1:5901", 20);
	CHECK_MEM_EQ(d.u.config.password.data, "pw", 2);
	CHECK_INT_EQ(d.u.config.codec.len, 0);
	CHECK_INT_EQ(d.u.config.preset.len, 9);
	CHECK_MEM_EQ(d.u.config.preset.data, "superfast", 9);
	/* CONFIG only travels to the worker */
	CHECK_INT_EQ(wlink_decode(buf, n, WLINK_TO_AGENT, &d), HR_EPROTO_INVALID);
	/* every prefix is a truncation, never a read past the end */
	for (size_t k = MSG_HEADER_SIZE; k < n; k++) {
		buf[0] = 0, buf[1] = 0, buf[2] = (uint8_t)((k - 4) >> 8), buf[3] = (uint8_t)(k - 4);
		CHECK(wlink_decode(buf, k, WLINK_TO_WORKER, &d) < 0);
	}
	/* out of range: fps 0, a chroot flag without a directory */
	m.u.config.fps = 0;
	CHECK_INT_EQ(wlink_encode(&m, buf, sizeof(buf), &n), HR_EPROTO_INVALID);
	m.u.config.fps = 30;
	m.u.config.flags |= WLINK_CONFIG_CHROOT;
	n = enc(&m);
	CHECK_INT_EQ(wlink_decode(buf, n, WLINK_TO_WORKER, &d), HR_EPROTO_INVALID);
}

static void test_console_size_control(void)
{
	struct wlink_msg m = {.type = WLINK_CONSOLE}, d;
	m.u.console.state = WLINK_CONSOLE_AUTH;
	m.u.console.text = STR("the console refused the password");
	size_t n = enc(&m);
	/* checked: length 0x24 = type + state + u16 text length + 32 bytes of text */
	CHECK_INT_EQ(n, 4 + 1 + 1 + 2 + 32);
	CHECK_INT_EQ(buf[4], 0xF2);
	CHECK_INT_EQ(buf[5], WLINK_CONSOLE_AUTH);
	CHECK_INT_EQ(wlink_decode(buf, n, WLINK_TO_AGENT, &d), 0);
	CHECK_INT_EQ(d.u.console.state, WLINK_CONSOLE_AUTH);
	CHECK_MEM_EQ(d.u.console.text.data, "the console refused the password", 32);
	CHECK_INT_EQ(wlink_decode(buf, n, WLINK_TO_WORKER, &d), HR_EPROTO_INVALID);
	buf[5] = 99; /* a state that does not exist */
	CHECK_INT_EQ(wlink_decode(buf, n, WLINK_TO_AGENT, &d), HR_EPROTO_INVALID);
	buf[5] = WLINK_CONSOLE_UP;
	buf[8] = 0xff; /* not UTF-8 */
	CHECK_INT_EQ(wlink_decode(buf, n, WLINK_TO_AGENT, &d), HR_EPROTO_INVALID);

	m = (struct wlink_msg){.type = WLINK_SIZE};
	m.u.size = (struct wlink_size){1920, 1080, true};
	n = enc(&m);
	CHECK_INT_EQ(wlink_decode(buf, n, WLINK_TO_AGENT, &d), 0);
	CHECK_INT_EQ(d.u.size.width, 1920);
	CHECK_INT_EQ(d.u.size.height, 1080);
	CHECK(d.u.size.resizable);
	/* a worker announcing 16384x16384 (more than the encoder takes) is refused */
	buf[5] = 0x40, buf[6] = 0x00, buf[7] = 0x40, buf[8] = 0x00;
	CHECK_INT_EQ(wlink_decode(buf, n, WLINK_TO_AGENT, &d), HR_EPROTO_INVALID);
	buf[5] = 0, buf[6] = 0; /* width 0 */
	CHECK_INT_EQ(wlink_decode(buf, n, WLINK_TO_AGENT, &d), HR_EPROTO_INVALID);
	m.u.size.width = 16384;
	m.u.size.height = 16384;
	CHECK_INT_EQ(wlink_encode(&m, buf, sizeof(buf), &n), HR_EPROTO_INVALID);

	/* PCM travels both ways, its length is exactly samples * 4 */
	static uint8_t pcm[960 * 4];
	for (size_t i = 0; i < sizeof(pcm); i++)
		pcm[i] = (uint8_t)i;
	m = (struct wlink_msg){.type = WLINK_PCM};
	m.u.pcm = (struct wlink_pcm){1700000000123456ull, 480, {pcm, 480 * 4}};
	n = enc(&m);
	CHECK_INT_EQ(n, MSG_HEADER_SIZE + 8 + 2 + 480 * 4);
	CHECK_INT_EQ(wlink_decode(buf, n, WLINK_TO_AGENT, &d), 0);
	CHECK_INT_EQ(wlink_decode(buf, n, WLINK_TO_WORKER, &d), 0);
	CHECK(d.u.pcm.capture_us == 1700000000123456ull);
	CHECK_INT_EQ(d.u.pcm.samples, 480);
	CHECK_MEM_EQ(d.u.pcm.data.data, pcm, 480 * 4);
	CHECK_INT_EQ(wlink_decode(buf, n - 1, WLINK_TO_AGENT, &d), HR_EPROTO_TRUNCATED);
	buf[5 + 8] = 0x03, buf[5 + 9] = 0xc1; /* 961 samples: more than 20 ms */
	CHECK(wlink_decode(buf, n, WLINK_TO_AGENT, &d) != 0);
	m.u.pcm.samples = 0;
	m.u.pcm.data.len = 0;
	CHECK_INT_EQ(wlink_encode(&m, buf, sizeof(buf), &n), HR_EPROTO_INVALID);
	m.u.pcm = (struct wlink_pcm){1, 2, {pcm, 7}}; /* length not samples * 4 */
	CHECK_INT_EQ(wlink_encode(&m, buf, sizeof(buf), &n), HR_EPROTO_INVALID);
	CHECK_STR_EQ(wlink_type_name(WLINK_PCM), "PCM");

	m = (struct wlink_msg){.type = WLINK_CONTROL};
	m.u.control.bitrate_kbps = 2500;
	m.u.control.throttle = true;
	n = enc(&m);
	CHECK_INT_EQ(wlink_decode(buf, n, WLINK_TO_WORKER, &d), 0);
	CHECK_INT_EQ(d.u.control.bitrate_kbps, 2500);
	CHECK(d.u.control.throttle);
	CHECK(!d.u.control.chroma444);
	m.u.control.throttle = false;
	m.u.control.chroma444 = true;
	n = enc(&m);
	CHECK_INT_EQ(buf[n - 1], 2); /* the flags byte: bit 1 */
	CHECK_INT_EQ(wlink_decode(buf, n, WLINK_TO_WORKER, &d), 0);
	CHECK(!d.u.control.throttle);
	CHECK(d.u.control.chroma444);
	/* trailing bytes after a link-only message: refused */
	buf[3]++;
	buf[n] = 0;
	CHECK_INT_EQ(wlink_decode(buf, n + 1, WLINK_TO_WORKER, &d), HR_EPROTO_INVALID);
}

/* Client-protocol messages: only in their own direction. */
static void test_directions(void)
{
	static const uint8_t au[] = {0, 0, 0, 1, 0x65};
	struct {
		struct msg m;
		bool to_worker, to_agent;
	} cases[] = {
		{{.type = MSG_KEY, .u.key = {30, 0x61, MSG_KEY_DOWN}}, true, false},
		{{.type = MSG_POINTER, .u.pointer = {1, 2, 1}}, true, false},
		{{.type = MSG_PING, .u.ping = {7}}, true, false},
		{{.type = MSG_BYE, .u.bye = {0, STR("stop")}}, true, false},
		{{.type = MSG_KEYFRAME_REQUEST}, true, false},
		{{.type = MSG_VIDEO, .u.video = {0, 5, MSG_VIDEO_KEYFRAME, {au, sizeof(au)}}},
		 false,
		 true},
		{{.type = MSG_PONG, .u.ping = {7}}, false, true},
		{{.type = MSG_CLIPBOARD, .u.clipboard = {MSG_CLIPBOARD_TEXT, STR("x")}},
		 true,
		 true},
		{{.type = MSG_STATUS, .u.status = {MSG_STATUS_RESIZE_REFUSED, STR("no")}},
		 false,
		 true},
		/* the agent speaks for itself: a worker's STATUS OK or RESTARTING is a lie */
		{{.type = MSG_STATUS, .u.status = {MSG_STATUS_OK, STR("fine")}}, false, false},
		{{.type = MSG_HELLO}, false, false},
		{{.type = MSG_ACK, .u.ack = {1, 2}}, false, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wlink_msg m = {.type = (uint8_t)cases[i].m.type}, d;
		size_t n = 0;
		m.u.msg = cases[i].m;
		if (cases[i].m.type == MSG_HELLO) {
			/* hand-made: a HELLO header, its body does not matter */
			static const uint8_t hello[] = {0, 0, 0, 1, MSG_HELLO};
			memcpy(buf, hello, sizeof(hello));
			n = sizeof(hello);
		} else {
			CHECK_INT_EQ(wlink_encode(&m, buf, sizeof(buf), &n), 0);
		}
		int to_w = wlink_decode(buf, n, WLINK_TO_WORKER, &d);
		int to_a = wlink_decode(buf, n, WLINK_TO_AGENT, &d);
		if ((to_w == 0) != cases[i].to_worker || (to_a == 0) != cases[i].to_agent)
			fprintf(stderr, "case %zu (%s): to worker %d, to agent %d\n", i,
				wlink_type_name(m.type), to_w, to_a);
		CHECK((to_w == 0) == cases[i].to_worker);
		CHECK((to_a == 0) == cases[i].to_agent);
	}
	/* an unknown type is an error on the link, not skipped */
	static const uint8_t unknown[] = {0, 0, 0, 1, 0xFE};
	struct wlink_msg d;
	CHECK_INT_EQ(wlink_decode(unknown, sizeof(unknown), WLINK_TO_AGENT, &d), HR_EPROTO_INVALID);
	CHECK_STR_EQ(wlink_type_name(WLINK_SIZE), "SIZE");
	CHECK_STR_EQ(wlink_console_state_name(WLINK_CONSOLE_AUTH), "auth");
}

int main(void)
{
	test_config();
	test_console_size_control();
	test_directions();
	return check_done("test_wlink");
}
