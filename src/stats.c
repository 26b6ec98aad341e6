/*
 * Counters kept per pool (see stats.h). The maintenance timer rolls periods over every
 * stats_period; averages are computed from the last finished period.
 */
#include "stats.h"

void stats_rollover(PoolStats *s)
{
	s->prev_period = s->last_period;
	s->last_period = s->total;
}

static uint64_t per(uint64_t num, uint64_t den)
{
	return den ? num / den : 0;
}

void stats_averages(const PoolStats *s, usec_t period, StatCounters *avg)
{
	const StatCounters *a = &s->prev_period, *b = &s->last_period;
	uint64_t secs = period > 0 ? (uint64_t)(period / USEC_PER_SEC) : 1;
	if (secs == 0)
		secs = 1;
	uint64_t xacts = b->xact_count - a->xact_count;
	uint64_t queries = b->query_count - a->query_count;
	avg->server_assignments = per(b->server_assignments - a->server_assignments, secs);
	avg->xact_count = per(xacts, secs);
	avg->query_count = per(queries, secs);
	avg->bytes_received = per(b->bytes_received - a->bytes_received, secs);
	avg->bytes_sent = per(b->bytes_sent - a->bytes_sent, secs);
	avg->xact_time = per(b->xact_time - a->xact_time, xacts);
	avg->query_time = per(b->query_time - a->query_time, queries);
	avg->wait_time = per(b->wait_time - a->wait_time, secs);
	avg->client_parse_count = per(b->client_parse_count - a->client_parse_count, secs);
	avg->server_parse_count = per(b->server_parse_count - a->server_parse_count, secs);
	avg->bind_count = per(b->bind_count - a->bind_count, secs);
}
