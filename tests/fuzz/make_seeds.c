/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora the fuzz targets start from (run by ctest as the
 * fuzz_seeds fixture):
 *
 *   DIR/fuzz_proto/   one valid frame of every message type, and streams of
 *                     several frames as each side sends them
 *   DIR/fuzz_config/  valid configuration files (common/config.h syntax),
 *                     using the keys of fuzz_config.c's table
 *   DIR/fuzz_ticket/  connect tickets signed with a fresh Ed25519 key, for
 *                     fuzz_ticket.c's agent and desktop
 *   DIR/fuzz_client_opus/  Opus streams as push/pop records (fuzz_client_opus.c)
 *   DIR/fuzz_agent_mic/    MIC frames and fills (fuzz_agent_mic.c)
 *
 * Usage: make_seeds DIR. Exits 0, or 1 with a message on stderr.
 */
#include "error.h"
#include "msg.h"
#include "ticket.h"
#include "wlink.h"
#include "opus_codec.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define BYTES(p, n) ((struct msg_bytes){(const uint8_t *)(p), (n)})
#define STR(s)	    BYTES(s, sizeof(s) - 1)

/* The agent and desktop fuzz_ticket.c verifies for. */
#define TICKET_AGENT   "agent-7"
#define TICKET_DESKTOP "desk-1"

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf)) {
		fprintf(stderr, "make_seeds: bad directory name '%s'\n", path);
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "make_seeds: mkdir %s: %s\n", buf, strerror(errno));
			return -1;
		}
		buf[i] = path[i];
	}
	return 0;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		fprintf(stderr, "make_seeds: path too long: %s/%s\n", dir, name);
		return -1;
	}
	f = fopen(path, "wb");
	if (!f) {
		fprintf(stderr, "make_seeds: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t wrote = len ? fwrite(data, 1, len, f) : 0;
	if (fclose(f) != 0 || wrote != len) {
		fprintf(stderr, "make_seeds: writing %s failed\n", path);
		return -1;
	}
	return 0;
}

/* ---- fuzz_proto -------------------------------------------------------- */

/* A growable byte buffer for streams. */
struct out {
	uint8_t buf[1 << 16];
	size_t len;
};

static int append(struct out *o, const struct msg *m)
{
	size_t n = 0;
	int rc = msg_encode(m, o->buf + o->len, sizeof(o->buf) - o->len, &n);

	if (rc < 0) {
		fprintf(stderr, "make_seeds: encoding %s failed: %s\n", msg_type_name(m->type),
			hr_strerror(rc));
		return -1;
	}
	o->len += n;
	return 0;
}

static int write_msg(const char *dir, const char *name, const struct msg *m)
{
	static struct out o;

	o.len = 0;
	return append(&o, m) < 0 ? -1 : write_file(dir, name, o.buf, o.len);
}

static int proto_seeds(const char *dir)
{
	static uint8_t ticket[64], video[96], audio[40], cursor[8 * 8 * 4];
	static const uint8_t unknown_frame[] = {0, 0, 0, 4, 99, 1, 2, 3};
	static struct out stream;
	int rc = 0;

	for (size_t i = 0; i < sizeof(ticket); i++)
		ticket[i] = (uint8_t)(i * 37 + 1);
	/* an H.264 Annex B access unit shape: start code, IDR slice NAL header, data */
	memcpy(video, "\x00\x00\x00\x01\x65\x88\x84", 7);
	for (size_t i = 7; i < sizeof(video); i++)
		video[i] = (uint8_t)(i * 11);
	audio[0] = 0xfc; /* an Opus TOC byte: CELT fullband 20 ms */
	for (size_t i = 1; i < sizeof(audio); i++)
		audio[i] = (uint8_t)(i * 5);
	for (size_t i = 0; i < sizeof(cursor); i++)
		cursor[i] = (uint8_t)(i % 4 == 3 ? 0xff : i);

	/* a binding proof and a resume grant (docs/protocol.md §6.3, §6.4): stand-in bytes */
	static uint8_t proof[MSG_PROOF_TICKET_LEN], grant[MSG_RESUME_GRANT_LEN];
	for (size_t i = 0; i < sizeof(proof); i++)
		proof[i] = (uint8_t)(0x80 + i);
	for (size_t i = 0; i < sizeof(grant); i++)
		grant[i] = (uint8_t)(0x30 + i);
	const struct msg hello = {
		.type = MSG_HELLO,
		.u.hello = {MSG_PROTOCOL_VERSION,
			    MSG_CAP_H264 | MSG_CAP_OPUS | MSG_CAP_CLIPBOARD | MSG_CAP_CURSOR, 1920,
			    1080, BYTES(ticket, sizeof(ticket)), STR("laptop-7"),
			    BYTES(proof, sizeof(proof))}};
	const struct msg welcome = {
		.type = MSG_WELCOME,
		.u.welcome = {MSG_PROTOCOL_VERSION,
			      MSG_WELCOME_CONTROL | MSG_WELCOME_AUDIO | MSG_WELCOME_CLIPBOARD, 1280,
			      720, MSG_CODEC_H264, 48000, 2, STR("s-0001"),
			      BYTES(grant, sizeof(grant)), 180}};
	const struct msg msgs[] = {
		hello,
		welcome,
		{.type = MSG_BYE, .u.bye = {MSG_BYE_PROTOCOL_ERROR, STR("RESIZE: width 0")}},
		{.type = MSG_PING, .u.ping = {1700000000000000ull}},
		{.type = MSG_PONG, .u.ping = {1700000000000000ull}},
		{.type = MSG_VIDEO,
		 .u.video = {.frame = 1,
			     .capture_us = 1700000000000000ull,
			     .flags = MSG_VIDEO_KEYFRAME,
			     .data = BYTES(video, sizeof(video))}},
		{.type = MSG_VIDEO,
		 .u.video = {2,
			     1700000000016000ull,
			     MSG_VIDEO_TIMING,
			     BYTES(video, sizeof(video)),
			     {400, 3100, 900, 14200, 120, 15}}},
		{.type = MSG_AUDIO, .u.audio = {1700000000020000ull, BYTES(audio, sizeof(audio))}},
		{.type = MSG_CURSOR, .u.cursor = {8, 8, 1, 1, BYTES(cursor, sizeof(cursor))}},
		{.type = MSG_CURSOR_POS, .u.cursor_pos = {640, 360, true}},
		{.type = MSG_RESIZE, .u.resize = {1280, 720}},
		{.type = MSG_CLIPBOARD,
		 .u.clipboard = {MSG_CLIPBOARD_TEXT, STR("gr\xc3\xbc\xc3\x9f \xe6\x97\xa5")}},
		{.type = MSG_STATUS,
		 .u.status = {MSG_STATUS_CONSOLE_LOST, STR("console lost; reconnecting")}},
		{.type = MSG_KEY, .u.key = {30, 0x61, MSG_KEY_DOWN}},
		{.type = MSG_POINTER, .u.pointer = {100, 200, 1}},
		{.type = MSG_SCROLL, .u.scroll = {0, -120}},
		{.type = MSG_TOUCH, .u.touch = {1, MSG_TOUCH_BEGIN, 300, 400}},
		{.type = MSG_PEN,
		 .u.pen = {MSG_PEN_IN_RANGE | MSG_PEN_CONTACT, 500, 600, 32768, -30, 45}},
		{.type = MSG_KEYFRAME_REQUEST},
		{.type = MSG_ACK, .u.ack = {1, 1700000000050000ull}},
		{.type = MSG_RESIZE_REQUEST, .u.resize_request = {1112, 778}},
		{.type = MSG_MIC, .u.audio = {1700000000030000ull, BYTES(audio, sizeof(audio))}},
		{.type = MSG_AUDIO_REPORT, .u.audio_report = {25, 40, 30}},
	};

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]) && rc == 0; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%02zu-%s", i, msg_type_name(msgs[i].type));
		rc = write_msg(dir, name, &msgs[i]);
	}
	if (rc < 0)
		return -1;

	/* what a client sends: HELLO, then input */
	stream.len = 0;
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		if (msgs[i].type == MSG_HELLO || msgs[i].type >= MSG_KEY ||
		    msgs[i].type == MSG_PING || msgs[i].type == MSG_CLIPBOARD)
			rc |= append(&stream, &msgs[i]);
	rc |= write_file(dir, "stream-client", stream.buf, stream.len);

	/* what an agent sends: WELCOME, then output, then BYE */
	stream.len = 0;
	rc |= append(&stream, &welcome);
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		if ((msgs[i].type >= MSG_VIDEO && msgs[i].type <= MSG_STATUS) ||
		    msgs[i].type == MSG_PONG)
			rc |= append(&stream, &msgs[i]);
	rc |= append(&stream, &msgs[2]);
	rc |= write_file(dir, "stream-agent", stream.buf, stream.len);

	/* an unknown type between known ones, skipped by length */
	stream.len = 0;
	rc |= append(&stream, &msgs[3]);
	memcpy(stream.buf + stream.len, unknown_frame, sizeof(unknown_frame));
	stream.len += sizeof(unknown_frame);
	rc |= append(&stream, &msgs[4]);
	rc |= write_file(dir, "stream-unknown", stream.buf, stream.len);

	/* a stream that ends in the middle of a frame */
	stream.len = 0;
	rc |= append(&stream, &msgs[9]);
	rc |= append(&stream, &msgs[5]);
	rc |= write_file(dir, "stream-partial", stream.buf, stream.len - 10);
	return rc ? -1 : 0;
}

/* ---- fuzz_config ------------------------------------------------------- */

static int config_seeds(const char *dir)
{
	static const char *const files[][2] = {
		{"minimal.conf", "port = 7443\n"},
		{"agent.conf", "# Highrise agent\n"
			       "; both comment styles\n"
			       "port = 7443\n"
			       "name = \"desk agent #1; east\"\n"
			       "mode = vnc\n"
			       "verbose = yes\n"
			       "offset = -42\n"
			       "\n"
			       "[tls]\n"
			       "ca_file = \"/etc/highrise/ca.pem\"\n"
			       "timeout = 30\n"
			       "strict = on\n"
			       "\n"
			       "[log]\n"
			       "path = /var/log/highrise/agent.log\n"},
		{"spacing.conf", "  port=1\r\n"
				 "\tmode   =   x11   \n"
				 "verbose = false\n"
				 "name = \"  spaced  \"\n"
				 "[tls]\n"
				 "  strict = 0\n"
				 "timeout = 3600\n"},
		{"limits.conf", "port = 65535\n"
				"offset = -9223372036854775808\n"
				"name = \"\"\n"
				"mode = spice\n"
				"[log]\n"
				"path = \"/tmp/with # hash and ; semicolon\"\n"
				"[tls]\n"
				"ca_file = /etc/ssl/certs/ca-certificates.crt\n"
				"timeout = 1\n"},
		{"sections.conf", "[tls]\n"
				  "strict = true\n"
				  "[log]\n"
				  "path = \"/var/log/h.log\"\n"
				  "[tls]\n"
				  "timeout = 60\n"},
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (write_file(dir, files[i][0], files[i][1], strlen(files[i][1])) < 0)
			return -1;
	return 0;
}

/* ---- fuzz_ticket ------------------------------------------------------- */

static int ticket_seeds(const char *dir)
{
	static char long_name[TICKET_NAME_MAX + 1];
	static const struct {
		const char *file, *user, *desktop, *agent, *session;
		int lifetime;
	} tickets[] = {
		{"alice", "alice", TICKET_DESKTOP, TICKET_AGENT, "s-0001", 60},
		{"no-session", "bob", TICKET_DESKTOP, TICKET_AGENT, "", 30},
		{"punctuation", "j.doe_1@example-corp", TICKET_DESKTOP, TICKET_AGENT, "s-0002.x",
		 1},
		{"other-agent", "carol", "desk-2", "agent-9", "s-2", 60},
		{"long-names", long_name, long_name, long_name, long_name, 60},
	};
	EVP_PKEY *key;
	int rc = 0;

	memset(long_name, 'n', TICKET_NAME_MAX);
	key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!key) {
		fprintf(stderr, "make_seeds: cannot generate an Ed25519 key\n");
		return -1;
	}
	for (size_t i = 0; i < sizeof(tickets) / sizeof(tickets[0]) && rc == 0; i++) {
		uint8_t buf[TICKET_WIRE_MAX], client_pub[TICKET_CLIENT_KEY_LEN];
		/* version 2: each ticket names its own client's key, as the broker's do */
		EVP_PKEY *client_key = ticket_client_key_new(client_pub);
		struct ticket t;
		size_t len = 0;

		if (!client_key) {
			rc = -1;
			break;
		}
		EVP_PKEY_free(client_key); /* the fuzzer never has the private half */
		rc = ticket_init(&t, tickets[i].user, tickets[i].desktop, tickets[i].agent,
				 tickets[i].session, client_pub, (int64_t)time(NULL),
				 tickets[i].lifetime);
		if (rc == 0)
			rc = ticket_sign(&t, key, buf, sizeof(buf), &len);
		if (rc < 0) {
			fprintf(stderr, "make_seeds: ticket %s: %s\n", tickets[i].file,
				hr_strerror(rc));
			break;
		}
		rc = write_file(dir, tickets[i].file, buf, len);
	}
	EVP_PKEY_free(key);
	return rc < 0 ? -1 : 0;
}

/*
 * fuzz_broker_api: the first byte picks the parser (its value mod 8; for
 * paths, value / 8 % 4 is the method: 1 GET, 2 POST, 3 DELETE), the rest is
 * what a client, agent or admin would send (docs/broker-api.md).
 */
static int broker_api_seeds(const char *dir)
{
	static const struct {
		const char *file;
		unsigned char sel;
		const char *text;
	} seeds[] = {
		{"path-login", 0 + 8 * 2, "/api/v1/login"},
		{"path-connect", 0 + 8 * 2, "/api/v1/pools/office/connect"},
		{"path-pools", 0 + 8 * 1, "/api/v1/pools?x=1"},
		{"path-admin-desktop", 0 + 8 * 1, "/api/v1/admin/desktops/host17/vm1"},
		{"path-admin-delete", 0 + 8 * 3, "/api/v1/admin/assignments/host17/vm1/"},
		{"path-session-disconnect", 0 + 8 * 2,
		 "/api/v1/admin/sessions/9f1c0e5d2b7a4c3e8f6a1b2c3d4e5f60/disconnect"},
		{"bearer", 1, "Bearer q1C7aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
		{"content-type", 1, "application/json; charset=utf-8"},
		{"login", 2, "{\"user\": \"alice\", \"password\": \"correct horse\"}"},
		{"login-nul-escape", 2,
		 "{\"user\": \"alice\\u0000x\", \"password\": \"p\\\\u0000\"}"},
		{"connect", 2,
		 "{\"client_key\": \"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}"},
		{"connect-urlsafe", 2,
		 "{\"client_key\": \"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"},
		{"login-trailing", 2, "{\"user\": \"alice\", \"password\": \"pw\"} {\"user\": 1}"},
		{"fields-nul-escape", 4, "{\"name\": \"evil\\u0000root\", \"password\": \"p\"}"},
		{"register", 3,
		 "{\"address\": \"10.0.0.17\", \"port\": 7443, \"desktops\": [\"vm1\", "
		 "{\"name\": \"vm2\", \"up\": false}]}"},
		{"pool-fields", 4,
		 "{\"name\": \"office\", \"kind\": \"floating\", \"idle_timeout_s\": 1800, "
		 "\"max_sessions\": 2}"},
		{"name", 5, "host17.example.com"},
		{"heartbeat", 6, "{\"desktops\": [{\"name\": \"vm1\", \"up\": true}]}"},
		{"heartbeat-reason", 6,
		 "{\"desktops\": [{\"name\": \"vm1\", \"up\": false, \"reason\": \"the console "
		 "refused the agent's credentials; fix the desktop's password file\"}, {\"name\": "
		 "\"vm2\", \"up\": false, \"reason\": \"caf\\u00e9 \xe2\x80\x94 lost\"}]}"},
		{"events", 7,
		 "{\"events\": [{\"session\": \"9f1c0e5d2b7a4c3e8f6a1b2c3d4e5f60\", \"desktop\": "
		 "\"vm1\", \"event\": \"connected\", \"client\": \"10.0.0.5\"}]}"},
	};
	int rc = 0;

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]) && rc == 0; i++) {
		unsigned char buf[512];
		size_t n = strlen(seeds[i].text);

		buf[0] = seeds[i].sel;
		memcpy(buf + 1, seeds[i].text, n);
		rc = write_file(dir, seeds[i].file, buf, n + 1);
	}
	return rc;
}

/* ---- fuzz_wlink: one stream of frames per direction ---------------------- */

static int wlink_append(uint8_t *buf, size_t cap, size_t *len, const struct wlink_msg *m)
{
	size_t n = 0;
	if (wlink_encode(m, buf + 1 + *len, cap - 1 - *len, &n) != 0)
		return -1;
	*len += n;
	return 0;
}

static int wlink_seeds(const char *dir)
{
	static uint8_t buf[8192];
	static const uint8_t au[] = {0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00};
	static const uint8_t cursor[4 * 4] = {1, 2, 3, 255};
	size_t len = 0;
	int rc = 0;

	/* agent -> worker: CONFIG, CONTROL, input, clipboard, requests, PING, BYE */
	struct wlink_msg m = {.type = WLINK_CONFIG};
	m.u.config = (struct wlink_config){
		.flags = WLINK_CONFIG_CLIPBOARD | WLINK_CONFIG_SECCOMP | WLINK_CONFIG_CHROOT |
			 WLINK_CONFIG_SETUID,
		.fps = 30,
		.bitrate_kbps = 10000,
		.clipboard_max = 1 << 20,
		.memory_mb = 1024,
		.uid = 62000,
		.gid = 62000,
		.log_level = 2,
		.id = STR("vm1"),
		.uri = STR("vnc://127.0.0.1:5901"),
		.password = STR("secret"),
		.codec = STR("libx264"),
		.preset = STR("ultrafast"),
		.chroot = STR("/run/highrise-empty.abc123"),
	};
	rc |= wlink_append(buf, sizeof(buf), &len, &m);
	m = (struct wlink_msg){.type = WLINK_CONTROL};
	m.u.control.bitrate_kbps = 5000;
	m.u.control.throttle = true;
	rc |= wlink_append(buf, sizeof(buf), &len, &m);
	struct msg in[] = {
		{.type = MSG_KEY, .u.key = {30, 0x61, MSG_KEY_DOWN}},
		{.type = MSG_POINTER, .u.pointer = {100, 200, 1}},
		{.type = MSG_SCROLL, .u.scroll = {0, -120}},
		{.type = MSG_CLIPBOARD, .u.clipboard = {MSG_CLIPBOARD_TEXT, STR("copied")}},
		{.type = MSG_KEYFRAME_REQUEST},
		{.type = MSG_RESIZE_REQUEST, .u.resize_request = {1280, 720}},
		{.type = MSG_PING, .u.ping = {123456789}},
		{.type = MSG_BYE, .u.bye = {MSG_BYE_NORMAL, STR("stop")}},
	};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		m = (struct wlink_msg){.type = (uint8_t)in[i].type};
		m.u.msg = in[i];
		rc |= wlink_append(buf, sizeof(buf), &len, &m);
	}
	buf[0] = 0;
	if (rc || write_file(dir, "to-worker", buf, len + 1) < 0)
		return -1;

	/* worker -> agent: CONSOLE, SIZE, VIDEO, CURSOR, CLIPBOARD, STATUS, PONG */
	len = 0;
	m = (struct wlink_msg){.type = WLINK_CONSOLE};
	m.u.console.state = WLINK_CONSOLE_UP;
	m.u.console.text = STR("the desktop is up");
	rc |= wlink_append(buf, sizeof(buf), &len, &m);
	m = (struct wlink_msg){.type = WLINK_SIZE};
	m.u.size = (struct wlink_size){1920, 1080, true};
	rc |= wlink_append(buf, sizeof(buf), &len, &m);
	static const uint8_t pcm[48 * 4];
	m = (struct wlink_msg){.type = WLINK_PCM};
	m.u.pcm = (struct wlink_pcm){1700000000000000ull, 48, BYTES(pcm, sizeof(pcm))};
	rc |= wlink_append(buf, sizeof(buf), &len, &m);
	struct msg out[] = {
		{.type = MSG_VIDEO,
		 .u.video = {.capture_us = 1700000000000000ull,
			     .flags = MSG_VIDEO_KEYFRAME,
			     .data = BYTES(au, sizeof(au))}},
		{.type = MSG_CURSOR, .u.cursor = {2, 2, 1, 1, BYTES(cursor, sizeof(cursor))}},
		{.type = MSG_CLIPBOARD,
		 .u.clipboard = {MSG_CLIPBOARD_TEXT, STR("from the desktop")}},
		{.type = MSG_STATUS, .u.status = {MSG_STATUS_RESIZE_REFUSED, STR("cannot resize")}},
		{.type = MSG_PONG, .u.ping = {123456789}},
	};
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		m = (struct wlink_msg){.type = (uint8_t)out[i].type};
		m.u.msg = out[i];
		rc |= wlink_append(buf, sizeof(buf), &len, &m);
	}
	m = (struct wlink_msg){.type = WLINK_CONSOLE};
	m.u.console.state = WLINK_CONSOLE_LOST;
	m.u.console.text = STR("the desktop's console was lost; reconnecting");
	rc |= wlink_append(buf, sizeof(buf), &len, &m);
	buf[0] = 1;
	if (rc || write_file(dir, "to-agent", buf, len + 1) < 0)
		return -1;
	return 0;
}

/*
 * fuzz_client_opus: records as fuzz_client_opus.c reads them (push, pop,
 * decode, stats), with real Opus packets of a 440 Hz tone: a steady stream,
 * one with losses and reordering, SILK with FEC, 2.5 ms frames, and a
 * direct decode into a short buffer.
 */
struct opus_seed {
	uint8_t buf[65536];
	size_t len;
};

static void seed_put(struct opus_seed *o, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n && o->len < sizeof(o->buf); i++)
		o->buf[o->len++] = (uint8_t)(v >> (8 * i));
}

static void seed_bytes(struct opus_seed *o, const uint8_t *p, size_t n)
{
	if (o->len + n <= sizeof(o->buf)) {
		memcpy(o->buf + o->len, p, n);
		o->len += n;
	}
}

static int opus_stream_seed(const char *dir, const char *name, const struct opus_enc_cfg *cfg,
			    int packets, int lose_from, int lose_to, bool swap)
{
	static struct opus_seed o;
	static int16_t pcm[960 * 2];
	uint8_t pkt[2][OPUS_CODEC_MAX_PACKET];
	int plen[2] = {0, 0};
	struct opus_enc *enc = opus_enc_new(cfg);
	int64_t t0 = (int64_t)1700000000 * 1000000;

	if (!enc)
		return -1;
	int fs = opus_enc_frame_samples(enc);
	int64_t frame_us = (int64_t)fs * 1000 / 48;
	o.len = 0;
	for (int i = 0; i < packets; i++) {
		for (int k = 0; k < fs; k++)
			pcm[2 * k] = pcm[2 * k + 1] =
				(int16_t)(12000 * sin(2 * M_PI * 440 * (i * fs + k) / 48000.0));
		int cur = i & 1;
		plen[cur] = opus_enc_encode(enc, pcm, pkt[cur], sizeof(pkt[cur]));
		if (plen[cur] < 0)
			goto fail;
		bool lost = i >= lose_from && i < lose_to;
		/* swap: odd packets go out before the even one they follow */
		int order[2] = {cur, -1};
		if (swap && (i & 1) == 0 && i + 1 < packets)
			continue;
		if (swap && (i & 1))
			order[0] = cur, order[1] = cur ^ 1;
		for (int j = 0; j < 2 && order[j] >= 0; j++) {
			int idx = order[j] == cur ? i : i - 1;
			if (lost || plen[order[j]] == 0)
				continue;
			seed_put(&o, 8, 1); /* push, absolute capture, packet's own duration */
			seed_put(&o, (uint64_t)(t0 + idx * frame_us), 8);
			seed_put(&o, (uint64_t)(i == 0 ? 5000 : frame_us / (j + 1)), 4);
			seed_put(&o, (uint64_t)plen[order[j]], 2);
			seed_bytes(&o, pkt[order[j]], (size_t)plen[order[j]]);
		}
		seed_put(&o, 1, 1); /* pop */
		seed_put(&o, (uint64_t)(i == 0 ? 25000 : frame_us), 4);
	}
	seed_put(&o, 3, 1); /* stats */
	/* the last packet straight into a buffer shorter than it */
	int last = (packets - 1) & 1;
	seed_put(&o, 2, 1);
	seed_put(&o, (uint64_t)plen[last], 2);
	seed_put(&o, (uint64_t)(fs / 2), 2);
	seed_bytes(&o, pkt[last], (size_t)plen[last]);
	opus_enc_free(enc);
	return write_file(dir, name, o.buf, o.len);
fail:
	opus_enc_free(enc);
	return -1;
}

static int client_opus_seeds(const char *dir)
{
	int rc = 0;

	rc |= opus_stream_seed(dir, "steady", NULL, 40, -1, -1, false);
	rc |= opus_stream_seed(dir, "loss-reorder", NULL, 40, 10, 13, true);
	rc |= opus_stream_seed(dir, "voip-fec",
			       &(struct opus_enc_cfg){.app = OPUS_CODEC_APP_VOIP,
						      .frame_us = 20000,
						      .bitrate = 24000,
						      .loss_pct = 20},
			       30, 12, 13, false);
	rc |= opus_stream_seed(dir, "short-frames", &(struct opus_enc_cfg){.frame_us = 2500}, 60,
			       20, 22, false);
	return rc ? -1 : 0;
}

/*
 * fuzz_agent_mic: a voip microphone stream of a 1 kHz tone as MIC frames, one
 * fill per packet (10 ms), with a loss, a late packet and a mono packet.
 */
static int agent_mic_seeds(const char *dir)
{
	static struct opus_seed o;
	static int16_t pcm[480 * 2];
	uint8_t pkt[OPUS_CODEC_MAX_PACKET], frame[OPUS_CODEC_MAX_PACKET + 64];
	struct opus_enc *enc = opus_enc_new(
		&(struct opus_enc_cfg){.app = OPUS_CODEC_APP_VOIP, .bitrate = 32000});
	int64_t t0 = (int64_t)1700000000 * 1000000;

	if (!enc)
		return -1;
	o.len = 0;
	for (int i = 0; i < 50; i++) {
		for (int k = 0; k < 480; k++)
			pcm[2 * k] = pcm[2 * k + 1] =
				(int16_t)(9000 * sin(2 * M_PI * 1000 * (i * 480 + k) / 48000.0));
		int n = opus_enc_encode(enc, pcm, pkt, sizeof(pkt));
		if (n < 0)
			goto fail;
		if (n > 0 && i != 20) {
			struct msg m = {.type = MSG_MIC};
			size_t flen = 0;
			m.u.audio.capture_us = (uint64_t)(t0 + i * 10000);
			m.u.audio.data.data = pkt;
			m.u.audio.data.len = (size_t)n;
			if (msg_encode(&m, frame, sizeof(frame), &flen) < 0)
				goto fail;
			seed_put(&o, 0, 1);
			seed_put(&o, (uint64_t)(i == 30 ? 70000 : 10000), 4);
			seed_bytes(&o, frame, flen);
		}
		seed_put(&o, 1, 1);
		seed_put(&o, 480, 2);
		seed_put(&o, 10000, 4);
	}
	opus_enc_free(enc);
	return write_file(dir, "voip-1khz", o.buf, o.len);
fail:
	opus_enc_free(enc);
	return -1;
}

/* fuzz_brokerapi: the broker's answers as they come off the wire (docs/broker-api.md) */
static int brokerapi_seeds(const char *dir)
{
	static const char *const answers[][2] = {
		{"ok", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
		       "29\r\n\r\n{\"pools\":[{\"name\":\"office\"}]}"},
		{"refused", "HTTP/1.1 404 Not Found\r\nContent-Length: 88\r\n\r\n{\"error\":\"this "
			    "agent is not registered\",\"hint\":\"register first\",\"code\":"
			    "\"not_registered\"}"},
		{"busy", "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n\r\n{\"error\":"
			 "\"too many login attempts\"}"},
		{"failed", "HTTP/1.0 503 Service Unavailable\r\n\r\n[1,2]"},
	};
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++)
		if (write_file(dir, answers[i][0], answers[i][1], strlen(answers[i][1])) < 0)
			return -1;
	return 0;
}

/* ---- fuzz_ws: an opening handshake, then client frames ------------------- */

static int ws_seeds(const char *dir)
{
	static const char req[] =
		"GET /desktop HTTP/1.1\r\nHost: agent.example:7444\r\n"
		"Upgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		"Origin: https://broker.example\r\nSec-WebSocket-Version: 13\r\n\r\n";
	/* RFC 6455 §5.7's masked "Hello", a masked ping, a 256-byte binary header, a close */
	static const uint8_t frames[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d,
					 0x51, 0x58, 0x89, 0x80, 1,    2,    3,	   4,	 0x82,
					 0xfe, 0x01, 0x00, 9,	 9,    9,    9,	   0x88, 0x82,
					 0,    0,    0,	   0,	 0x03, 0xe8};
	uint8_t seed[sizeof(req) - 1 + sizeof(frames)];

	memcpy(seed, req, sizeof(req) - 1);
	memcpy(seed + sizeof(req) - 1, frames, sizeof(frames));
	if (write_file(dir, "handshake", req, sizeof(req) - 1) < 0 ||
	    write_file(dir, "handshake-frames", seed, sizeof(seed)) < 0)
		return -1;
	static const char v8[] = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
				 "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n";
	return write_file(dir, "version-8", v8, sizeof(v8) - 1);
}

/* ---- fuzz_conn_ws: a browser's masked messages, each one frame ------------ */

/* Appends a masked client frame (RFC 6455 §5.2) of payload to buf at *len. */
static void ws_put(uint8_t *buf, size_t *len, uint8_t first, const uint8_t *payload, size_t n)
{
	static const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};

	buf[(*len)++] = first;
	if (n < 126) {
		buf[(*len)++] = (uint8_t)(0x80 | n);
	} else {
		buf[(*len)++] = 0x80 | 126;
		buf[(*len)++] = (uint8_t)(n >> 8);
		buf[(*len)++] = (uint8_t)n;
	}
	memcpy(buf + *len, mask, 4);
	*len += 4;
	for (size_t i = 0; i < n; i++)
		buf[(*len)++] = payload[i] ^ mask[i % 4];
}

static int conn_ws_seeds(const char *dir)
{
	static uint8_t out[4096];
	uint8_t frame[512];
	size_t len = 0, n = 0;
	static const uint8_t ticket[] = {2, 1, 2, 3};
	static const uint8_t proof[64] = {7};
	struct msg msgs[] = {
		{.type = MSG_HELLO,
		 .u.hello = {.version = MSG_PROTOCOL_VERSION,
			     .caps = MSG_CAP_H264,
			     .max_width = 1920,
			     .max_height = 1080,
			     .ticket = {ticket, 4},
			     .proof = {proof, 64}}},
		{.type = MSG_PING, .u.ping = {42}},
		{.type = MSG_KEY, .u.key = {30, 0x61, MSG_KEY_DOWN}},
		{.type = MSG_POINTER, .u.pointer = {10, 20, 1}},
		{.type = MSG_ACK, .u.ack = {1, 1700000000000000ull}},
	};

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		if (msg_encode(&msgs[i], frame, sizeof(frame), &n) < 0)
			return -1;
		if (i == 2) { /* one message in two fragments */
			ws_put(out, &len, 0x02, frame, 3);
			ws_put(out, &len, 0x80, frame + 3, n - 3);
		} else {
			ws_put(out, &len, 0x82, frame, n);
		}
	}
	ws_put(out, &len, 0x89, (const uint8_t *)"ping", 4);
	ws_put(out, &len, 0x88, (const uint8_t[]){0x03, 0xe8}, 2);
	return write_file(dir, "session", out, len);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *sub;
		int (*write)(const char *dir);
	} corpora[] = {
		{"fuzz_proto", proto_seeds},
		{"fuzz_config", config_seeds},
		{"fuzz_ticket", ticket_seeds},
		{"fuzz_broker_api", broker_api_seeds},
		{"fuzz_wlink", wlink_seeds},
		{"fuzz_client_opus", client_opus_seeds},
		{"fuzz_agent_mic", agent_mic_seeds},
		{"fuzz_brokerapi", brokerapi_seeds},
		{"fuzz_ws", ws_seeds},
		{"fuzz_conn_ws", conn_ws_seeds},
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 1;
	}
	for (size_t i = 0; i < sizeof(corpora) / sizeof(corpora[0]); i++) {
		char dir[4096];

		if (snprintf(dir, sizeof(dir), "%s/%s", argv[1], corpora[i].sub) >=
			    (int)sizeof(dir) ||
		    mkdir_p(dir) < 0 || corpora[i].write(dir) < 0) {
			fprintf(stderr, "make_seeds: could not write %s\n", dir);
			return 1;
		}
	}
	printf("make_seeds: corpora written to %s\n", argv[1]);
	return 0;
}
