/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_UI_WINDOW_H
#define HIGHRISE_CLIENT_UI_WINDOW_H

/*
 * The client's top-level window: the desktop view (view.h) under a status
 * overlay, keyboard and pointer capture sent to the net thread (net.h),
 * full screen (F11) and kiosk mode, and the status page that says what is
 * happening ("Connecting…", "Desktop unavailable — retrying in 5 s",
 * "Reconnecting (attempt 2)…", errors that say what to do).
 *
 * UI thread only. The window quits the GTK main loop when it is closed
 * (never in kiosk mode, except through the admin combination).
 */

#include "decoder.h"
#include "view.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct session_cfg;

struct client_cfg {
	const char *host;
	uint16_t port;
	const char *ticket_file, *ca_file, *pin, *verify_name, *client_name;
	bool fullscreen, kiosk;
	const char *admin_combo; /* kiosk exit; NULL: "ctrl+alt+shift+q" */
	bool use_gl;		 /* false: cairo from the start */
	bool gl_software;	 /* with use_gl: also on llvmpipe & co. (--renderer gl) */
	size_t clipboard_max;	 /* shared clipboard text up to this size; 0: off */
	bool touch_raw;		 /* touches as raw TOUCH, no gestures (client/ui/README.md) */
	const char *test_events; /* tests: a script of synthesized touch and pen events */
	enum view_scale scale;	 /* fit (0), 1:1 or resize (fit where the desktop cannot) */
	enum decoder_hw decoder; /* auto (0), software, vaapi */
	bool stats;		 /* start with the statistics overlay shown */
	const char *stats_combo; /* toggles the overlay; NULL: "ctrl+alt+shift+s" */
	const char *scale_combo; /* cycles the scaling; NULL: "ctrl+alt+shift+m" */
	/* one line per shown frame and per overlay update (bench/client, tests); NULL: none */
	const char *trace_file;
	/* sound (client/ui/README.md "Sound") */
	bool no_audio;		/* do not ask for the desktop's sound */
	const char *audio_sink; /* PulseAudio sink; NULL: the default */
	int volume;		/* percent at start, 1..100; 0: 100 */
	bool no_mic;		/* no microphone toggle: the agent is told we have none */
	bool mic;		/* the microphone on from the start (--mic; kiosks) */
	const char *mic_source; /* PulseAudio source; NULL: the default */
	/* broker mode: a fresh ticket before every connection (net.h net_cfg.prepare) */
	int (*prepare)(void *prepare_ud, struct session_cfg *cfg, char *text, size_t textlen,
		       int *retry_ms, int *bye_reason);
	void *prepare_ud;
};

struct client_window;

/* NULL (logged) when the admin combination does not parse or the net thread cannot start. */
struct client_window *client_window_new(const struct client_cfg *cfg);
void client_window_free(struct client_window *w);

#endif
