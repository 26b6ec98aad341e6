/*
 * Render time of the status page at its largest history: 16 databases (the most tracked)
 * with 2 replicas each and full rings (300 samples of varying lag and traffic), no pools.
 * The page is rendered on the event loop, so this is how long a client may wait behind it.
 * Build against an in-tree build and run:
 *
 *   gcc -std=c11 -D_GNU_SOURCE -O2 -Iinclude -DPGSPLIT_VERSION='"bench"' \
 *       bench/status_page_render.c libpgsplit.a \
 *       $(pkg-config --libs libevent libcares openssl) -lm -o /tmp/status_page_render
 *   /tmp/status_page_render
 */
#include "history.h"
#include "runtime.h"
#include "status_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define DATABASES HISTORY_MAX_DATABASES
#define RENDERS 200

static Database dbs[DATABASES];
static char names[DATABASES][16];
static Replica first = { .host = "10.0.0.1", .port = 5432, .replay_lsn = 0x5000000 };
static Replica second = { .host = "10.0.0.2", .port = 5432, .replay_lsn = 0x5000000 };
static Replica *replicas[] = { &first, &second };

static void make_databases(void)
{
	list_init(&rt.databases);
	list_init(&rt.pools);
	for (int i = 0; i < DATABASES; i++) {
		snprintf(names[i], sizeof(names[i]), "db%02d", i);
		dbs[i].name = names[i];
		dbs[i].host = "10.0.0.9";
		dbs[i].port = 5432;
		dbs[i].replicas = replicas;
		dbs[i].n_replicas = 2;
		dbs[i].routing = ROUTING_PRIMARY; /* no replica monitor to ask about the primary */
		list_append(&rt.databases, &dbs[i].node);
	}
}

/* Lag and traffic that change every second, so no chart is a flat line. */
static void fill_history(void)
{
	for (int s = 0; s < HISTORY_SAMPLES; s++) {
		for (int i = 0; i < DATABASES; i++) {
			dbs[i].routed_primary += (uint64_t)(30 + s % 7);
			dbs[i].routed_replica += (uint64_t)(10 + s % 5);
		}
		first.lag = (usec_t)(s % 50) * 1000;
		second.lag = (usec_t)(s % 30) * 2000;
		history_sample_now((usec_t)s * USEC_PER_SEC);
	}
}

static double ms_since(const struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(void)
{
	static Config cfg;
	static double ms[RENDERS];
	rt.cfg = &cfg;
	make_databases();
	fill_history();
	size_t len = 0;
	for (int k = 0; k < RENDERS; k++) {
		struct timespec start;
		clock_gettime(CLOCK_MONOTONIC, &start);
		free(status_page_render(&len));
		ms[k] = ms_since(&start);
	}
	qsort(ms, RENDERS, sizeof(ms[0]), by_value);
	printf("page %zu bytes; render over %d runs: min %.2f ms, median %.2f ms, p95 %.2f ms\n", len, RENDERS,
	       ms[0], ms[RENDERS / 2], ms[RENDERS * 95 / 100]);
	return 0;
}
