/*
 * Unit tests for read-your-writes floors from the primary's checks: a write is covered
 * by the first check sent after it, not by the newest one.
 */
#include "floor_samples.h"
#include "tap.h"

static void test_empty_has_no_floor(void)
{
	FloorSamples fs;
	uint64_t lsn = 7;
	floor_samples_reset(&fs);
	CHECK(!floor_samples_after(&fs, 0, &lsn));
	CHECK(lsn == 7);
}

static void test_first_check_after_the_write(void)
{
	FloorSamples fs;
	uint64_t lsn = 0;
	floor_samples_reset(&fs);
	floor_samples_add(&fs, 100, 1000);
	floor_samples_add(&fs, 200, 2000);
	floor_samples_add(&fs, 300, 3000);
	CHECK(floor_samples_after(&fs, 150, &lsn) && lsn == 2000);
	CHECK(floor_samples_after(&fs, 99, &lsn) && lsn == 1000);
	CHECK(floor_samples_after(&fs, 299, &lsn) && lsn == 3000);
	/* a check sent at the very time of the write may have been answered before it */
	CHECK(!floor_samples_after(&fs, 300, &lsn));
	CHECK(!floor_samples_after(&fs, 400, &lsn));
}

static void test_same_position_moves_the_time(void)
{
	FloorSamples fs;
	uint64_t lsn = 0;
	floor_samples_reset(&fs);
	floor_samples_add(&fs, 100, 1000);
	floor_samples_add(&fs, 200, 1000);
	floor_samples_add(&fs, 300, 1000);
	CHECK(fs.count == 1);
	CHECK(floor_samples_after(&fs, 250, &lsn) && lsn == 1000);
	CHECK(floor_samples_after(&fs, 50, &lsn) && lsn == 1000);
	floor_samples_add(&fs, 400, 1500);
	CHECK(floor_samples_after(&fs, 250, &lsn) && lsn == 1000);
	CHECK(floor_samples_after(&fs, 300, &lsn) && lsn == 1500);
}

static void test_ring_keeps_the_newest(void)
{
	FloorSamples fs;
	uint64_t lsn = 0;
	floor_samples_reset(&fs);
	for (int i = 1; i <= FLOOR_SAMPLES + 10; i++)
		floor_samples_add(&fs, i * 10, (uint64_t)i * 100);
	CHECK(fs.count == FLOOR_SAMPLES);
	/* a write older than every sample held: the oldest one held, sent after it */
	CHECK(floor_samples_after(&fs, 5, &lsn) && lsn == 11 * 100);
	CHECK(floor_samples_after(&fs, 2000, &lsn) && lsn == 201 * 100);
	CHECK(floor_samples_after(&fs, (FLOOR_SAMPLES + 9) * 10, &lsn) && lsn == (uint64_t)(FLOOR_SAMPLES + 10) * 100);
}

static void test_reset_forgets(void)
{
	FloorSamples fs;
	uint64_t lsn = 0;
	floor_samples_reset(&fs);
	floor_samples_add(&fs, 100, 1000);
	floor_samples_reset(&fs);
	CHECK(!floor_samples_after(&fs, 0, &lsn));
	floor_samples_add(&fs, 200, 50);
	CHECK(floor_samples_after(&fs, 0, &lsn) && lsn == 50);
}

int main(int argc, char **argv)
{
	static const TapTest tests[] = {
		{ "empty_has_no_floor", test_empty_has_no_floor },
		{ "first_check_after_the_write", test_first_check_after_the_write },
		{ "same_position_moves_the_time", test_same_position_moves_the_time },
		{ "ring_keeps_the_newest", test_ring_keeps_the_newest },
		{ "reset_forgets", test_reset_forgets },
	};
	return tap_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
