/*
 * Process-wide helpers declared in common.h: clocks, allocation that aborts on
 * out-of-memory (a pooler that cannot allocate a few hundred bytes cannot do anything
 * useful, so it stops loudly), and the failure end of PGSPLIT_ASSERT.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

usec_t time_now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

static usec_t loop_time; /* 0: not read yet this turn */

usec_t time_now_loop(void)
{
	if (!loop_time)
		loop_time = time_now_mono();
	return loop_time;
}

void time_loop_turn_done(void)
{
	loop_time = 0;
}

usec_t time_now_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

static void out_of_memory(size_t size)
{
	fprintf(stderr, "FATAL out of memory allocating %zu bytes\n", size);
	abort();
}

void pgsplit_assert_failed(const char *cond, const char *file, int line)
{
	fprintf(stderr, "pgsplit: assertion failed: %s (%s:%d)\n", cond, file, line);
	fflush(stderr);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		out_of_memory(size);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		out_of_memory(n * size);
	return p;
}

void *xrealloc(void *old, size_t size)
{
	void *p = realloc(old, size ? size : 1);
	if (!p)
		out_of_memory(size);
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t len)
{
	char *p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = 0;
	return p;
}
