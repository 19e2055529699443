/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_UI_LOGIN_H
#define HIGHRISE_CLIENT_UI_LOGIN_H

/*
 * Broker mode of highrise-client: the login screen (broker URL, user,
 * password, "remember the broker"), the desktop picker when the user may use
 * several pools, the kiosk's automatic login, and login_prepare, which the
 * net thread calls before every connection to get a fresh ticket for the
 * user's session from the broker (client/broker_client.h).
 *
 * Threads: login_run and the window are the UI thread's; the broker calls of
 * the window run on a GTask worker. Once done() has been called the login
 * belongs to the net thread (login_prepare) until the window is freed; then
 * login_free on the UI thread.
 */

#include <stdbool.h>
#include <stddef.h>

struct session_cfg;

struct login_cfg {
	const char *broker_url;	   /* https://HOST[:PORT]; NULL: the remembered one */
	const char *ca_file;	   /* the deployment's CA, for the broker (and agents) */
	const char *pin;	   /* the broker's key pin, for kiosks without a CA */
	const char *user;	   /* prefilled, or with password_file: automatic login */
	const char *password_file; /* the password's first line; read for every login */
	const char *pool;	   /* the pool to use; NULL: the only one, or the picker */
	bool kiosk;		   /* no window: automatic login only */
};

struct login;

/* NULL (logged) on a bad URL or out of memory. cfg's strings are copied. */
struct login *login_new(const struct login_cfg *cfg);
void login_free(struct login *l);

/* Whether the login happens without a window (user + password_file). */
bool login_is_automatic(const struct login *l);

/*
 * Shows the login window (or nothing, when automatic) and calls done once
 * the user is logged in and a pool is chosen; the window is gone by then.
 * Closing the window quits the GTK main loop.
 */
void login_run(struct login *l, void (*done)(struct login *l, void *ud), void *ud);

/* net.h net_cfg.prepare: logs in when needed, then asks for the desktop. Net thread. */
int login_prepare(void *l, struct session_cfg *cfg, char *text, size_t textlen, int *retry_ms,
		  int *bye_reason);

/* Says goodbye to the broker (the token is revoked). Blocks briefly; UI thread at exit. */
void login_logout(struct login *l);

#endif
