/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_CLIENT_NETWATCH_H
#define HIGHRISE_CLIENT_NETWATCH_H

/*
 * Roaming (issue 13): a laptop that moves from the office Wi-Fi to a phone
 * hotspot loses the address its connection to the agent was made from, and
 * TCP says nothing about it for minutes. netwatch hears the kernel say an
 * address or a link changed (an rtnetlink socket on the event loop) and
 * calls back; the application then asks session_network_changed whether
 * the session's own address went, and if so the session ends as a lost
 * network at once and is resumed from the new address (session.h).
 *
 * Nothing from the socket is parsed: any message is only a reason to look
 * (getifaddrs), so no byte of it is trusted. Linux only; elsewhere
 * netwatch_new returns NULL and roaming is noticed by liveness (10 s).
 * Belongs to the thread running base.
 */

#include <event2/event.h>

struct netwatch;

/* NULL (logged at debug) when the kernel offers no rtnetlink socket. */
struct netwatch *netwatch_new(struct event_base *base, void (*changed)(void *ud), void *ud);
void netwatch_free(struct netwatch *w);

#endif
