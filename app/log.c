/*
 * log.c: the daemon's own log lines, on stderr.
 *
 * A failure at start is always one line that says what and what to do, and exit status 1.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon-int.h"

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "sluice: error: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

void notice(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "sluice: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
