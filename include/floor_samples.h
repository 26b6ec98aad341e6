/*
 * The primary's WAL positions as its monitor checks reported them, each with the time
 * the check was sent: where read-your-writes floors come from. A write that ended at
 * time T is covered by the position of any check sent after T; the first such check
 * gives the lowest floor, the one a replica reaches soonest. The newest position
 * instead could be a floor on WAL that other sessions inserted later and that the
 * primary had not yet flushed: no replica could reach it before the next flush, and
 * the client's reads stayed on the primary meanwhile.
 *
 * A fixed ring: a floor asked for after its first check has left the ring gets the
 * oldest position held, which was still reported by a check sent after the write.
 */
#ifndef PGSPLIT_FLOOR_SAMPLES_H
#define PGSPLIT_FLOOR_SAMPLES_H

#include "common.h"

#define FLOOR_SAMPLES 256 /* at 2 ms between early checks, half a second of writes */

typedef struct FloorSample {
	usec_t asked_at; /* monotonic time the check was sent */
	uint64_t lsn;
} FloorSample;

typedef struct FloorSamples {
	FloorSample ring[FLOOR_SAMPLES];
	int count;
	int head; /* index of the newest sample */
} FloorSamples;

void floor_samples_reset(FloorSamples *fs);
/* A check sent at asked_at (later than any before it) reported lsn. */
void floor_samples_add(FloorSamples *fs, usec_t asked_at, uint64_t lsn);
/*
 * The position of the first check sent after `since`: true with *lsn, false when no
 * check held has been sent after it.
 */
bool floor_samples_after(const FloorSamples *fs, usec_t since, uint64_t *lsn) MUST_CHECK;

#endif
