/* SPDX-License-Identifier: MIT */
#include "netwatch.h"

#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#endif

struct netwatch {
	int fd;
	struct event *ev;
	void (*changed)(void *ud);
	void *ud;
};

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct netwatch *w = arg;
	char buf[8192];
	bool any = false;
	(void)what;

	/* drain: one callback per wake-up, however many messages came */
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		any = true;
	if (any)
		w->changed(w->ud);
}

struct netwatch *netwatch_new(struct event_base *base, void (*changed)(void *ud), void *ud)
{
#ifdef __linux__
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK,
				 .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR |
					      RTMGRP_IPV6_IFADDR};
	struct netwatch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->changed = changed;
	w->ud = ud;
	w->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (w->fd < 0 || bind(w->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_debug("netwatch: no rtnetlink socket (%s): address changes go unnoticed "
			  "until the liveness limit",
			  strerror(errno));
		goto fail;
	}
	w->ev = event_new(base, w->fd, EV_READ | EV_PERSIST, read_cb, w);
	if (!w->ev || event_add(w->ev, NULL) < 0)
		goto fail;
	return w;
fail:
	netwatch_free(w);
	return NULL;
#else
	(void)base;
	(void)changed;
	(void)ud;
	return NULL;
#endif
}

void netwatch_free(struct netwatch *w)
{
	if (!w)
		return;
	if (w->ev)
		event_free(w->ev);
	if (w->fd >= 0)
		close(w->fd);
	free(w);
}
