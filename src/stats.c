/*
 * Counters kept per pool (see stats.h). The maintenance timer rolls periods over every
 * stats_period; averages are computed from the last finished period, here only, so that
 * SHOW STATS, SHOW STATS_AVERAGES and the log_stats line always agree.
 */
#include "stats.h"

#include <inttypes.h>
#include <stdio.h>

void stats_rollover(PoolStats *s)
{
	s->prev_period = s->last_period;
	s->last_period = s->total;
}

void stats_add(StatCounters *sum, const StatCounters *add)
{
	sum->server_assignments += add->server_assignments;
	sum->xact_count += add->xact_count;
	sum->query_count += add->query_count;
	sum->bytes_received += add->bytes_received;
	sum->bytes_sent += add->bytes_sent;
	sum->xact_time += add->xact_time;
	sum->query_time += add->query_time;
	sum->wait_time += add->wait_time;
	sum->client_parse_count += add->client_parse_count;
	sum->server_parse_count += add->server_parse_count;
	sum->bind_count += add->bind_count;
}

/* A counter's growth over the period; a pool dropped and re-made may restart below it. */
static uint64_t grown(uint64_t now, uint64_t then)
{
	return now >= then ? now - then : 0;
}

static uint64_t per(uint64_t num, uint64_t den)
{
	return den ? num / den : 0;
}

void stats_period_average(const StatCounters *last, const StatCounters *prev, usec_t period,
			  StatCounters *avg)
{
	/* periods under a second (tests) count as one second, as the setting's unit is seconds */
	uint64_t secs = period >= USEC_PER_SEC ? (uint64_t)(period / USEC_PER_SEC) : 1;
	uint64_t assignments = grown(last->server_assignments, prev->server_assignments);
	uint64_t xacts = grown(last->xact_count, prev->xact_count);
	uint64_t queries = grown(last->query_count, prev->query_count);
	avg->server_assignments = assignments / secs;
	avg->xact_count = xacts / secs;
	avg->query_count = queries / secs;
	avg->bytes_received = grown(last->bytes_received, prev->bytes_received) / secs;
	avg->bytes_sent = grown(last->bytes_sent, prev->bytes_sent) / secs;
	avg->xact_time = per(grown(last->xact_time, prev->xact_time), xacts);
	avg->query_time = per(grown(last->query_time, prev->query_time), queries);
	/* wait is added when a client gets a server, so it is averaged per assignment */
	avg->wait_time = per(grown(last->wait_time, prev->wait_time), assignments);
	avg->client_parse_count = grown(last->client_parse_count, prev->client_parse_count) / secs;
	avg->server_parse_count = grown(last->server_parse_count, prev->server_parse_count) / secs;
	avg->bind_count = grown(last->bind_count, prev->bind_count) / secs;
}

void stats_format_log(const StatCounters *a, char *buf, size_t len)
{
	snprintf(buf, len,
		 "stats: %" PRIu64 " xacts/s, %" PRIu64 " queries/s, %" PRIu64 " client parses/s, %" PRIu64
		 " server parses/s, %" PRIu64 " binds/s, in %" PRIu64 " B/s, out %" PRIu64 " B/s, xact %" PRIu64
		 " us, query %" PRIu64 " us, wait %" PRIu64 " us",
		 a->xact_count, a->query_count, a->client_parse_count, a->server_parse_count, a->bind_count,
		 a->bytes_received, a->bytes_sent, a->xact_time, a->query_time, a->wait_time);
}
