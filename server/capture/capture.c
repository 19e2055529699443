/* SPDX-License-Identifier: MIT */
#include "capture.h"

#include "log.h"

static const struct capture_impl *const backends[] = {
	&capture_vnc,
	&capture_x11,
};

const struct capture_impl *capture_find(const char *uri)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (uri && backends[i]->handles(uri))
			return backends[i];
	log_error("no console backend for '%s': use vnc://HOST:PORT or x11::DISPLAY",
		  uri ? uri : "(none)");
	return NULL;
}
