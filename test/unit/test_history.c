/*
 * Unit tests of the status page's history rings: a full ring keeps the newest samples in
 * order, routed counters become per-sample gains, at most HISTORY_MAX_DATABASES databases
 * are tracked, a changed replica list starts a track afresh, and a database gone from the
 * list frees its track for another.
 */
#include "history.h"
#include "runtime.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>

#define N_DBS (HISTORY_MAX_DATABASES + 4)

static Database dbs[N_DBS];
static char names[N_DBS][16];
static Replica replica_a = { .host = "10.0.0.1", .port = 5432 };
static Replica replica_b = { .host = "10.0.0.2", .port = 5432 };
static Replica *two[] = { &replica_a, &replica_b };

/* n databases with replicas a and b, on rt.databases. */
static void setup(int n)
{
	history_free_all();
	list_init(&rt.databases);
	for (int i = 0; i < n; i++) {
		memset(&dbs[i], 0, sizeof(dbs[i]));
		snprintf(names[i], sizeof(names[i]), "db%d", i);
		dbs[i].name = names[i];
		dbs[i].replicas = two;
		dbs[i].n_replicas = 2;
		list_append(&rt.databases, &dbs[i].node);
	}
}

static void test_ring_keeps_newest_in_order(void)
{
	setup(1);
	for (int i = 0; i < HISTORY_SAMPLES + 7; i++) {
		replica_a.lag_bytes = (uint64_t)i;
		history_sample_now((usec_t)i * USEC_PER_SEC);
	}
	const HistoryTrack *t = history_of(&dbs[0]);
	CHECK(t != NULL);
	CHECK(history_count(t) == HISTORY_SAMPLES);
	CHECK(history_at(t, 0)->replicas[0].lag_bytes == 7);
	CHECK(history_at(t, HISTORY_SAMPLES - 1)->replicas[0].lag_bytes == HISTORY_SAMPLES + 6);
	CHECK(history_at(t, HISTORY_SAMPLES - 1)->at == (usec_t)(HISTORY_SAMPLES + 6) * USEC_PER_SEC);
	CHECK(history_replicas(t) == 2);
}

static void test_routed_counters_become_gains(void)
{
	setup(1);
	dbs[0].routed_primary = 100; /* routed before tracking began: not charted */
	history_sample_now(0);
	dbs[0].routed_primary += 3;
	dbs[0].routed_replica += 9;
	history_sample_now(USEC_PER_SEC);
	history_sample_now(2 * USEC_PER_SEC);
	const HistoryTrack *t = history_of(&dbs[0]);
	CHECK(history_at(t, 0)->to_primary == 0 && history_at(t, 0)->to_replica == 0);
	CHECK(history_at(t, 1)->to_primary == 3 && history_at(t, 1)->to_replica == 9);
	CHECK(history_at(t, 2)->to_primary == 0 && history_at(t, 2)->to_replica == 0);
}

static void test_databases_capped(void)
{
	setup(N_DBS);
	dbs[0].n_replicas = 0; /* nothing to chart: not tracked, takes no slot */
	history_sample_now(0);
	CHECK(history_tracked() == HISTORY_MAX_DATABASES);
	CHECK(history_of(&dbs[0]) == NULL);
	CHECK(history_of(&dbs[HISTORY_MAX_DATABASES]) != NULL);
	CHECK(history_of(&dbs[HISTORY_MAX_DATABASES + 1]) == NULL);
	/* one goes away: its track is freed, and the next sample gives the slot to another */
	list_del(&dbs[1].node);
	history_sample_now(USEC_PER_SEC);
	CHECK(history_tracked() == HISTORY_MAX_DATABASES - 1);
	history_sample_now(2 * USEC_PER_SEC);
	CHECK(history_tracked() == HISTORY_MAX_DATABASES);
	CHECK(history_of(&dbs[1]) == NULL);
	CHECK(history_of(&dbs[HISTORY_MAX_DATABASES + 1]) != NULL);
}

static void test_new_replica_list_starts_afresh(void)
{
	setup(1);
	history_sample_now(0);
	history_sample_now(USEC_PER_SEC);
	CHECK(history_count(history_of(&dbs[0])) == 2);
	dbs[0].n_replicas = 1; /* a reload dropped replica b */
	history_sample_now(2 * USEC_PER_SEC);
	CHECK(history_count(history_of(&dbs[0])) == 1);
	CHECK(history_replicas(history_of(&dbs[0])) == 1);
}

static void test_tick_keeps_to_the_second(void)
{
	setup(1);
	usec_t step = USEC_PER_SEC / 5; /* upkeep's period */
	for (usec_t now = USEC_PER_SEC; now <= 11 * USEC_PER_SEC; now += step)
		history_tick(now);
	CHECK(history_count(history_of(&dbs[0])) == 11);
	history_free_all();
}

int main(int argc, char **argv)
{
	static const TapTest tests[] = {
		{ "ring_keeps_newest_in_order", test_ring_keeps_newest_in_order },
		{ "routed_counters_become_gains", test_routed_counters_become_gains },
		{ "databases_capped", test_databases_capped },
		{ "new_replica_list_starts_afresh", test_new_replica_list_starts_afresh },
		{ "tick_keeps_to_the_second", test_tick_keeps_to_the_second },
	};
	return tap_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
