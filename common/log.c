/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common.h"

/*
 * Logging goes to stderr (journald picks it up under systemd). The level and the
 * timestamp switch are set once by main() before any thread starts.
 */
static enum log_level log_max = LOG_LEVEL_INFO;
static bool log_timestamps = true;

static const char *const log_level_names[LOG_LEVEL_MAX] = {
        [LOG_LEVEL_ERR] = "error",
        [LOG_LEVEL_WARN] = "warning",
        [LOG_LEVEL_INFO] = "info",
        [LOG_LEVEL_DEBUG] = "debug",
};

const char *log_level_to_string(enum log_level level)
{
	if ((unsigned)level >= LOG_LEVEL_MAX)
		return NULL;
	return log_level_names[level];
}

int log_level_from_string(const char *s)
{
	for (int i = 0; i < LOG_LEVEL_MAX; i++)
		if (strcasecmp(s, log_level_names[i]) == 0)
			return i;
	return -1;
}

void log_setup(enum log_level max_level, bool timestamps)
{
	log_max = max_level;
	log_timestamps = timestamps;
}

void log_emit(enum log_level level, const char *module, const char *fmt, ...)
{
	char line[1024];
	size_t n = 0;
	va_list ap;

	if (level > log_max)
		return;
	if (log_timestamps) {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ ", ts.tv_nsec / 1000000);
	}
	n += (size_t)snprintf(line + n, sizeof(line) - n, "%s %s: ", log_level_names[level],
	                      module);
	if (n < sizeof(line)) {
		va_start(ap, fmt);
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
	}
	/* one write per line so lines from threads do not interleave */
	fprintf(stderr, "%s\n", line);
}
