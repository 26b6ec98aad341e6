/*
 * Per-pool counters as SHOW STATS reports them: totals since start, plus the snapshots
 * taken at the last two stats_period boundaries, from which the averages of the last
 * finished period are computed (the same figures for SHOW STATS_AVERAGES and log_stats).
 */
#ifndef PGSPLIT_STATS_H
#define PGSPLIT_STATS_H

#include "common.h"

#include <stddef.h>

typedef struct StatCounters {
	uint64_t server_assignments;
	uint64_t xact_count;
	uint64_t query_count;
	uint64_t bytes_received; /* from clients */
	uint64_t bytes_sent;     /* to clients */
	uint64_t xact_time;      /* usec */
	uint64_t query_time;     /* usec */
	uint64_t wait_time;      /* usec */
	uint64_t client_parse_count;
	uint64_t server_parse_count;
	uint64_t bind_count;
} StatCounters;

typedef struct PoolStats {
	StatCounters total;
	StatCounters last_period; /* totals at the start of the last finished period */
	StatCounters prev_period; /* totals at the start of the one before */
} PoolStats;

void stats_rollover(PoolStats *s);
/* sum += add, field by field. */
void stats_add(StatCounters *sum, const StatCounters *add);
/*
 * Averages between two snapshots `period` apart: counts and bytes per second;
 * transaction, query and wait time per transaction, query and server assignment.
 */
void stats_period_average(const StatCounters *last, const StatCounters *prev, usec_t period,
			  StatCounters *avg);
/* The log_stats line for the averages in avg, in PgBouncer's wording. */
void stats_format_log(const StatCounters *avg, char *buf, size_t len);

#endif
