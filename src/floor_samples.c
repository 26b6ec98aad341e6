/*
 * Read-your-writes floors from the primary's checks (see floor_samples.h).
 */
#include "floor_samples.h"

void floor_samples_reset(FloorSamples *fs)
{
	fs->count = 0;
	fs->head = 0;
}

/*
 * Checks that report the same position as the newest sample only move its time
 * forward: for any write before that later check, the position is the same, and one
 * sample per position keeps an idle primary from filling the ring.
 */
void floor_samples_add(FloorSamples *fs, usec_t asked_at, uint64_t lsn)
{
	if (fs->count > 0 && fs->ring[fs->head].lsn == lsn) {
		fs->ring[fs->head].asked_at = asked_at;
		return;
	}
	fs->head = (fs->head + 1) % FLOOR_SAMPLES;
	fs->ring[fs->head].asked_at = asked_at;
	fs->ring[fs->head].lsn = lsn;
	if (fs->count < FLOOR_SAMPLES)
		fs->count++;
}

/* Newest first: stop at the first sample sent at or before `since`. */
bool floor_samples_after(const FloorSamples *fs, usec_t since, uint64_t *lsn)
{
	const FloorSample *found = NULL;
	for (int k = 0; k < fs->count; k++) {
		const FloorSample *s = &fs->ring[(fs->head - k + FLOOR_SAMPLES) % FLOOR_SAMPLES];
		if (s->asked_at <= since)
			break;
		found = s;
	}
	if (!found)
		return false;
	*lsn = found->lsn;
	return true;
}
