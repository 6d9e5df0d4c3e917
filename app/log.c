/*
 * log.c: the daemon's own log lines, on stderr.
 *
 * Each line is "<RFC 3339 UTC time with milliseconds> sluice <level>: <message>", one line per
 * event, so journald, kubectl logs and a plain file all keep it readable and sortable; the
 * level word lets an operator grep, and log_level (configuration) drops the lines below it.
 * Levels, most severe first: error (the process stops), warning (something is not as
 * configured, or a source of rules fails, and the gateway works around it), notice (a state
 * change an operator wants to see: ready, stopping, a reload asked for), info (what was set up
 * and published), debug.
 *
 * A failure at start is always one error line that says what and what to do, then exit status
 * 1. EAL's own lines (prefixed "EAL:") follow EAL's log level, not this one.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon-int.h"

static enum log_level threshold = LOG_LEVEL_INFO;

static const char *const names[] = {
	[LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARNING] = "warning", [LOG_LEVEL_NOTICE] = "notice",
	[LOG_LEVEL_INFO] = "info",   [LOG_LEVEL_DEBUG] = "debug",
};

int log_level_parse(const char *name)
{
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return (int)i;
	return -1;
}

void log_set_level(enum log_level level)
{
	threshold = level;
}

bool log_enabled(enum log_level level)
{
	return level <= threshold;
}

static void vlog(enum log_level level, const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char when[32];
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	/* One write per line where stdio allows, so lines from EAL threads do not interleave. */
	char line[4096];
	int n = snprintf(line, sizeof(line), "%s.%03ldZ sluice %s: ", when, ts.tv_nsec / 1000000,
			 names[level]);
	if (n > 0 && n < (int)sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

static void (*exit_hook)(void);

void log_set_exit_hook(void (*hook)(void))
{
	exit_hook = hook;
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	/* Taken before running it: a failure inside the teardown exits at once. */
	void (*hook)(void) = exit_hook;
	exit_hook = NULL;
	if (hook)
		hook();
	exit(1);
}
