/*
 * History rings of databases with replicas (see history.h). A track is found again by its
 * Database's address and name together: a database freed on reload may leave its address
 * to a new one, and the name tells them apart. A track whose database is gone, or no
 * longer has replicas, is freed at the next sample, which leaves its slot to another.
 */
#include "history.h"

#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct HistoryTrack {
	const Database *db;
	char *name;
	int n_replicas;
	char *replica_hosts[HISTORY_MAX_REPLICAS]; /* NULL: a unix socket */
	int replica_ports[HISTORY_MAX_REPLICAS];
	uint64_t last_primary; /* routed counters at the previous sample */
	uint64_t last_replica;
	bool seen;
	int head; /* the slot the next sample goes to */
	int count;
	HistorySample samples[HISTORY_SAMPLES];
};

static HistoryTrack *tracks[HISTORY_MAX_DATABASES];
static usec_t last_sample;

static void forget_replicas(HistoryTrack *t)
{
	for (int i = 0; i < t->n_replicas; i++)
		free(t->replica_hosts[i]);
	t->n_replicas = 0;
}

static void free_track(int slot)
{
	HistoryTrack *t = tracks[slot];
	forget_replicas(t);
	free(t->name);
	free(t);
	tracks[slot] = NULL;
}

static HistoryTrack *find_track(const Database *db)
{
	for (int i = 0; i < HISTORY_MAX_DATABASES; i++)
		if (tracks[i] && tracks[i]->db == db && strcmp(tracks[i]->name, db->name) == 0)
			return tracks[i];
	return NULL;
}

/* A new track in a free slot, or NULL when all are taken. */
static HistoryTrack *start_track(const Database *db)
{
	for (int i = 0; i < HISTORY_MAX_DATABASES; i++) {
		if (tracks[i])
			continue;
		HistoryTrack *t = xcalloc(1, sizeof(*t));
		t->db = db;
		t->name = xstrdup(db->name);
		t->last_primary = db->routed_primary;
		t->last_replica = db->routed_replica;
		tracks[i] = t;
		return t;
	}
	return NULL;
}

/* db's replicas still in its config, the first HISTORY_MAX_REPLICAS of them. */
static int charted_replicas(const Database *db, const Replica **out)
{
	int n = 0;
	for (int i = 0; i < db->n_replicas && n < HISTORY_MAX_REPLICAS; i++)
		if (!db->replicas[i]->removed)
			out[n++] = db->replicas[i];
	return n;
}

static bool same_host(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_replicas(const HistoryTrack *t, const Replica *const *reps, int n)
{
	if (n != t->n_replicas)
		return false;
	for (int i = 0; i < n; i++)
		if (reps[i]->port != t->replica_ports[i] || !same_host(reps[i]->host, t->replica_hosts[i]))
			return false;
	return true;
}

/* Another set of replicas (a reload): the old samples belong to servers no longer charted. */
static void restart_with(HistoryTrack *t, const Replica *const *reps, int n)
{
	forget_replicas(t);
	for (int i = 0; i < n; i++) {
		t->replica_hosts[i] = reps[i]->host ? xstrdup(reps[i]->host) : NULL;
		t->replica_ports[i] = reps[i]->port;
	}
	t->n_replicas = n;
	t->head = 0;
	t->count = 0;
}

/* What a counter gained since *last (all of it if it went back), and remember it. */
static uint32_t counter_delta(uint64_t now, uint64_t *last)
{
	uint64_t d = now >= *last ? now - *last : now;
	*last = now;
	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

static void record(HistoryTrack *t, const Database *db, usec_t now)
{
	const Replica *reps[HISTORY_MAX_REPLICAS];
	int n = charted_replicas(db, reps);
	if (!same_replicas(t, reps, n))
		restart_with(t, reps, n);
	HistorySample *s = &t->samples[t->head];
	memset(s, 0, sizeof(*s));
	s->at = now;
	s->to_primary = counter_delta(db->routed_primary, &t->last_primary);
	s->to_replica = counter_delta(db->routed_replica, &t->last_replica);
	for (int i = 0; i < n; i++) {
		usec_t ms = reps[i]->lag / 1000;
		s->replicas[i].lag_bytes = reps[i]->lag_bytes;
		s->replicas[i].lag_ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
		s->replicas[i].state = (uint8_t)reps[i]->state;
	}
	t->head = (t->head + 1) % HISTORY_SAMPLES;
	if (t->count < HISTORY_SAMPLES)
		t->count++;
}

void history_sample_now(usec_t now)
{
	for (int i = 0; i < HISTORY_MAX_DATABASES; i++)
		if (tracks[i])
			tracks[i]->seen = false;
	List *it;
	list_for_each(it, &rt.databases)
	{
		const Database *db = container_of(it, Database, node);
		if (db->removed || db->n_replicas == 0)
			continue;
		HistoryTrack *t = find_track(db);
		if (!t)
			t = start_track(db);
		if (!t)
			continue;
		t->seen = true;
		record(t, db, now);
	}
	for (int i = 0; i < HISTORY_MAX_DATABASES; i++)
		if (tracks[i] && !tracks[i]->seen)
			free_track(i);
}

void history_tick(usec_t now)
{
	if (last_sample && now - last_sample < HISTORY_INTERVAL)
		return;
	/* upkeep runs a few times a second: keep to the second rather than drift by its step */
	last_sample = last_sample && now - last_sample < 2 * HISTORY_INTERVAL ? last_sample + HISTORY_INTERVAL : now;
	history_sample_now(now);
}

const HistoryTrack *history_of(const Database *db)
{
	return find_track(db);
}

int history_count(const HistoryTrack *t)
{
	return t->count;
}

const HistorySample *history_at(const HistoryTrack *t, int i)
{
	return &t->samples[(t->head - t->count + i + HISTORY_SAMPLES) % HISTORY_SAMPLES];
}

int history_replicas(const HistoryTrack *t)
{
	return t->n_replicas;
}

void history_replica_name(const HistoryTrack *t, int i, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%d", t->replica_hosts[i] ? t->replica_hosts[i] : "unix", t->replica_ports[i]);
}

int history_tracked(void)
{
	int n = 0;
	for (int i = 0; i < HISTORY_MAX_DATABASES; i++)
		n += tracks[i] != NULL;
	return n;
}

void history_free_all(void)
{
	for (int i = 0; i < HISTORY_MAX_DATABASES; i++)
		if (tracks[i])
			free_track(i);
	last_sample = 0;
}
