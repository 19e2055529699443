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

#include <stdbool.h>
#include <stdint.h>

struct client_cfg {
	const char *host;
	uint16_t port;
	const char *ticket_file, *ca_file, *pin, *verify_name, *client_name;
	bool fullscreen, kiosk;
	const char *admin_combo; /* kiosk exit; NULL: "ctrl+alt+shift+q" */
	bool use_gl;		 /* false: cairo from the start */
};

struct client_window;

/* NULL (logged) when the admin combination does not parse or the net thread cannot start. */
struct client_window *client_window_new(const struct client_cfg *cfg);
void client_window_free(struct client_window *w);

#endif
