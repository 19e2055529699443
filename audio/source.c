/* SPDX-License-Identifier: MIT */
#include "source.h"

#include "log.h"

static const struct audio_source_impl *const backends[] = {
	&audio_source_pulse,
};

const struct audio_source_impl *audio_source_find(const char *uri)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (uri && backends[i]->handles(uri))
			return backends[i];
	log_error("no sound backend for '%s': use pulse:SINK, pulse:, pulse-source:SOURCE or "
		  "pulse-source:",
		  uri ? uri : "(none)");
	return NULL;
}
