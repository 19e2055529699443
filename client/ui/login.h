/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_UI_LOGIN_H
#define HIGHRISE_CLIENT_UI_LOGIN_H

/*
 * Broker mode of highrise-client: the login screen (broker URL, user,
 * password, "remember the broker"), the desktop picker when the user may use
 * several pools. The kiosk's automatic login and the fresh ticket before
 * every connection are the client core's broker_login (client/broker_login.h),
 * which the login holds.
 *
 * Threads: login_run and the window are the UI thread's; the broker calls of
 * the window run on a GTask worker. Once done() has been called the login
 * belongs to the net thread (broker_login_prepare) until the window is freed; then
 * login_free on the UI thread.
 */

#include "broker_login.h"

struct login;

/*
 * NULL (logged) on a bad URL or out of memory. cfg's strings are copied;
 * the window prefills a NULL broker_url or user with the remembered ones.
 */
struct login *login_new(const struct broker_login_cfg *cfg);
void login_free(struct login *l);

/*
 * Shows the login window (or nothing, when automatic) and calls done once
 * the user is logged in and a pool is chosen; the window is gone by then.
 * Closing the window quits the GTK main loop.
 */
void login_run(struct login *l, void (*done)(struct login *l, void *ud), void *ud);

/*
 * The broker side of every connection (the client core's): net.h's prepare
 * hook is broker_login_prepare with it, and broker_login_logout says goodbye
 * (UI thread at exit, once the net thread is joined). Owned by the login.
 */
struct broker_login *login_broker(struct login *l);

#endif
