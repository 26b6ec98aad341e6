/*
 * The last minutes of each database with replicas, for the status page's charts: one
 * sample a second of every replica's state and lag and of the transactions routed to the
 * primary and to replicas since the sample before. Fixed-size rings, and at most
 * HISTORY_MAX_DATABASES databases tracked (the first ones found with replicas), so the
 * memory held is bounded whatever the number of databases.
 */
#ifndef PGSPLIT_HISTORY_H
#define PGSPLIT_HISTORY_H

#include "pool.h"

#define HISTORY_SAMPLES 300 /* one a second: five minutes */
#define HISTORY_MAX_DATABASES 16
#define HISTORY_MAX_REPLICAS 8 /* charted per database; more are listed but not charted */
#define HISTORY_INTERVAL USEC_PER_SEC

typedef struct ReplicaSample {
	uint64_t lag_bytes;
	uint32_t lag_ms;
	uint8_t state; /* ReplicaState */
} ReplicaSample;

typedef struct HistorySample {
	usec_t at; /* monotonic */
	uint32_t to_primary; /* transactions routed since the previous sample */
	uint32_t to_replica;
	ReplicaSample replicas[HISTORY_MAX_REPLICAS];
} HistorySample;

typedef struct HistoryTrack HistoryTrack;

/* Take a sample of every tracked database when HISTORY_INTERVAL has passed since the last. */
void history_tick(usec_t now);
/* The same, unconditionally (tests). */
void history_sample_now(usec_t now);
/* db's history, or NULL when it is not tracked. */
const HistoryTrack *history_of(const Database *db);
/* Samples held, oldest first: index 0 .. history_count() - 1. */
int history_count(const HistoryTrack *t);
const HistorySample *history_at(const HistoryTrack *t, int i);
/* Replicas charted: db's first ones, up to HISTORY_MAX_REPLICAS. */
int history_replicas(const HistoryTrack *t);
/* "host:port" of charted replica i, as it was when its samples were taken. */
void history_replica_name(const HistoryTrack *t, int i, char *buf, size_t len);
/* Databases tracked now. */
int history_tracked(void);
void history_free_all(void);

#endif
