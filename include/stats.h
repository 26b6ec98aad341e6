/*
 * Per-pool counters as SHOW STATS reports them: totals since start, plus the previous
 * stats_period's snapshot for averages.
 */
#ifndef PGSPLIT_STATS_H
#define PGSPLIT_STATS_H

#include "common.h"

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
/* Average per second (or per transaction/query for times) over the last period. */
void stats_averages(const PoolStats *s, usec_t period, StatCounters *avg);

#endif
