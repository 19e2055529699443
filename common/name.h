/* SPDX-License-Identifier: MIT */
#ifndef HIGHRISE_NAME_H
#define HIGHRISE_NAME_H

/*
 * The one rule for the names of users, groups, pools, agents and desktops
 * (docs/broker-api.md): 1..HR_NAME_MAX bytes of A-Z a-z 0-9 . _ @ -. The
 * broker's API, its store, connect tickets and the agent's configuration all
 * check it here, so a name one of them takes the others take too, and no
 * name can carry a blank, a quote or a control byte into a log line, a path
 * or SQL.
 */

#include <stdbool.h>

#define HR_NAME_MAX 128 /* bytes */

bool hr_name_ok(const char *s);

#endif
