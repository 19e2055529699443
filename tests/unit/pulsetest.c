/* SPDX-License-Identifier: MIT */
#include "pulsetest.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

int run_cmd(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int pulsetest_start(const char *fixture, const char *dir, char *server, size_t cap)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "%s start %s", fixture, dir);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	bool got = fgets(server, (int)cap, p) != NULL;
	int rc = pclose(p);
	if (!got || rc != 0)
		return -1;
	server[strcspn(server, "\n")] = 0;
	return 0;
}
