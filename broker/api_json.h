/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_API_JSON_H
#define HIGHRISE_API_JSON_H

/*
 * The broker API's one rule for a JSON body, requests and answers alike:
 * the bytes are exactly one JSON value, with nothing but whitespace after
 * it, no NUL byte anywhere and no \u0000 escape in any string or member
 * name. cJSON decodes \u0000 into a NUL and everyone downstream reads the
 * string with strlen, so "evil\u0000root" would pass a name check as
 * "evil" and a password would count only up to the NUL: such a body is
 * refused whole, never cut.
 *
 * No I/O; cJSON's limits (nesting) apply as well.
 */

#include <cjson/cJSON.h>
#include <stddef.h>

/*
 * The tree of the len bytes at body (free it with cJSON_Delete), or NULL
 * with *why a sentence for the refusal ("the body holds a NUL byte").
 */
cJSON *api_json_parse(const char *body, size_t len, const char **why);

#endif
