/*
 * Replica monitor (see monitor.h). Every replica_check_period, for each database with
 * replicas, one check query runs on the primary's monitoring connection and one on each
 * replica's. The primary's answers build a short history of WAL positions; a replica's
 * replay position is placed in that history to get its lag in time.
 */
#include "monitor.h"
#include "client_route.h"
#include "failover.h"
#include "floor_samples.h"
#include "log.h"
#include "proto.h"
#include "registry.h"
#include "router.h"
#include "runtime.h"
#include "server.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LSN_HISTORY 2048 /* samples of the primary's position: minutes at 100 ms */

/*
 * Recovery state, WAL position and, on a primary, the WAL file name of that position:
 * its first 8 hex digits are the timeline, so a promoted standby standing in for the
 * old primary is recognised even when its position is ahead of the old one's. The WAL
 * page and segment sizes turn the primary's insert position into the end of its last
 * record (lsn_last_record_end), the position a caught-up replica reports. On a promoted
 * standby pg_last_wal_replay_lsn() stays where its recovery ended: where its timeline
 * forked from the old primary's, the switch point (failover.c). A standby's
 * timeline is the one its WAL receiver streams (NULL without pg_read_all_stats, or when
 * it streams from nowhere): one older than the primary's follows a primary that is gone.
 */
static const char CHECK_SQL[] =
	"SELECT pg_catalog.pg_is_in_recovery(), CASE WHEN pg_catalog.pg_is_in_recovery() "
	"THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_insert_lsn() END, "
	"CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL "
	"ELSE pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_insert_lsn()) END, "
	"pg_catalog.current_setting('wal_block_size'), "
	"pg_catalog.pg_size_bytes(pg_catalog.current_setting('wal_segment_size')), "
	"pg_catalog.pg_last_wal_replay_lsn(), "
	"(SELECT received_tli FROM pg_catalog.pg_stat_wal_receiver)";

typedef struct LsnSample {
	usec_t at; /* monotonic */
	uint64_t lsn;
} LsnSample;

typedef struct MonitorState {
	LsnSample history[LSN_HISTORY]; /* ring of the primary's positions */
	FloorSamples floors;		/* the same, by the time each check was sent */
	int n_history;
	int head; /* index of the newest sample */
	uint64_t primary_lsn;
	usec_t primary_asked_at;   /* when the check that reported primary_lsn was sent */
	uint32_t primary_timeline; /* 0 until the first check */
	bool primary_in_recovery;
} MonitorState;

static struct event *monitor_timer;
static struct event *early_check_timer; /* retries wanted early primary checks */

/*
 * A check's answer. check_on_row fills the one kept with its server (internal_state):
 * checks of several servers are out at once, and one server's row and its
 * ReadyForQuery may arrive in different reads with another server's answer between.
 * check_on_done applies a copy (applying it may close that server).
 */
typedef struct CheckRow {
	bool have;
	bool in_recovery;
	uint64_t lsn;
	uint32_t timeline; /* a primary's; a standby's when its WAL receiver shows it; else 0 */
	uint64_t recovery_end; /* a promoted standby's last replayed position; 0: none */
} CheckRow;

uint64_t monitor_primary_lsn(const Database *db)
{
	return db->monitor ? db->monitor->primary_lsn : 0;
}

uint32_t monitor_primary_timeline(const Database *db)
{
	return db->monitor ? db->monitor->primary_timeline : 0;
}

void monitor_forget_primary(Database *db)
{
	MonitorState *m = db->monitor;
	if (!m)
		return;
	m->n_history = 0;
	floor_samples_reset(&m->floors); /* no floor until the new primary has answered */
	m->primary_lsn = 0;
	m->primary_asked_at = 0;
	m->primary_in_recovery = false;
}

bool monitor_floor_after(const Database *db, usec_t since, uint64_t *lsn)
{
	const MonitorState *m = db->monitor;
	if (!m || m->primary_in_recovery)
		return false;
	return floor_samples_after(&m->floors, since, lsn);
}

/* The next text column as an unsigned number; false if NULL, absent or not a number. */
static bool row_get_number(PktReader *r, uint64_t *out)
{
	uint32_t flen;
	const uint8_t *v;
	char text[32], *end;
	if (!proto_get_u32(r, &flen) || flen == 0xffffffffu || flen == 0 || flen >= sizeof(text) ||
	    !proto_get_bytes(r, flen, &v))
		return false;
	memcpy(text, v, flen);
	text[flen] = 0;
	*out = strtoull(text, &end, 10);
	return *end == 0;
}

/* The next text column as a WAL position; false if NULL, absent or not one. */
static bool row_get_lsn(PktReader *r, uint64_t *out)
{
	uint32_t flen;
	const uint8_t *v;
	char text[32];
	if (!proto_get_u32(r, &flen) || flen == 0xffffffffu || flen >= sizeof(text) || !proto_get_bytes(r, flen, &v))
		return false;
	memcpy(text, v, flen);
	text[flen] = 0;
	return lsn_parse(text, out);
}

/* Read the check query's row (text columns). */
static void parse_check_row(CheckRow *row, const uint8_t *body, size_t len)
{
	PktReader r;
	uint16_t ncols;
	uint32_t flen;
	const uint8_t *v;
	char text[64];
	uint64_t block = 0, segment = 0, tli = 0;
	row->have = false;
	proto_reader_init(&r, body, len);
	if (!proto_get_u16(&r, &ncols) || ncols != 7)
		return;
	if (!proto_get_u32(&r, &flen) || flen != 1 || !proto_get_bytes(&r, 1, &v))
		return;
	row->in_recovery = v[0] == 't';
	if (!proto_get_u32(&r, &flen) || flen == 0xffffffffu || flen >= sizeof(text) ||
	    !proto_get_bytes(&r, flen, &v))
		return;
	memcpy(text, v, flen);
	text[flen] = 0;
	row->have = lsn_parse(text, &row->lsn);
	row->timeline = 0;
	row->recovery_end = 0;
	if (!proto_get_u32(&r, &flen))
		return;
	if (flen == 24 && proto_get_bytes(&r, flen, &v)) {
		memcpy(text, v, 8);
		text[8] = 0;
		row->timeline = (uint32_t)strtoul(text, NULL, 16);
	} else if (flen != 0xffffffffu && !proto_get_bytes(&r, flen, &v)) {
		return;
	}
	if (!row_get_number(&r, &block) || !row_get_number(&r, &segment))
		return;
	if (!row->in_recovery)
		row->lsn = lsn_last_record_end(row->lsn, block, segment);
	if (!row_get_lsn(&r, &row->recovery_end) || row->in_recovery)
		row->recovery_end = 0;
	if (row->in_recovery && row_get_number(&r, &tli))
		row->timeline = (uint32_t)tli;
}

static void check_on_row(Server *s, const uint8_t *body, size_t len)
{
	if (!s->internal_state)
		s->internal_state = xcalloc(1, sizeof(CheckRow));
	parse_check_row(s->internal_state, body, len);
}

static void history_add(MonitorState *m, uint64_t lsn, usec_t now)
{
	if (m->n_history > 0 && m->history[m->head].lsn == lsn)
		return; /* an idle primary adds nothing: lag stays measured from the first sample */
	m->head = (m->head + 1) % LSN_HISTORY;
	m->history[m->head].at = now;
	m->history[m->head].lsn = lsn;
	if (m->n_history < LSN_HISTORY)
		m->n_history++;
}

/*
 * How long ago the primary first moved past `replay`: the replica is that far behind.
 * 0 when it has replayed everything the monitor has seen.
 */
static usec_t lag_from_history(const MonitorState *m, uint64_t replay, usec_t now)
{
	if (m->n_history == 0 || replay >= m->history[m->head].lsn)
		return 0;
	usec_t since = m->history[m->head].at;
	for (int k = 0; k < m->n_history; k++) {
		const LsnSample *smp = &m->history[(m->head - k + LSN_HISTORY) % LSN_HISTORY];
		if (smp->lsn <= replay)
			break;
		since = smp->at;
	}
	return now - since;
}

static void replica_set_state(Replica *r, ReplicaState st, const char *why)
{
	if (r->state == st || r->state == REPLICA_DISABLED)
		return;
	if (st == REPLICA_PROMOTED)
		log_error("replica %s:%d is no longer in recovery (promoted?): out of rotation", r->host, r->port);
	else
		log_info("replica %s:%d: %s -> %s (%s)", r->host, r->port, router_replica_state_name(r->state),
			 router_replica_state_name(st), why);
	r->state = st;
}

/*
 * A DIVERGED replica replayed WAL of another timeline; it comes back only once its
 * replay position has gone back (rewound or cloned again, then restarted). Until then
 * it keeps answering from a history the primary does not share.
 */
static bool diverged_replica_restarted(Replica *r)
{
	if (r->replay_lsn >= r->diverged_lsn)
		return false;
	log_info("replica %s:%d replays from %" PRIX64 " now, below where it diverged: checking it again",
		 r->host, r->port, r->replay_lsn);
	r->state = REPLICA_DOWN; /* replica_checked moves it on from here */
	return true;
}

static void replica_checked(Database *db, Replica *r, const CheckRow *row)
{
	usec_t now = time_now_mono();
	r->in_recovery = row->in_recovery;
	r->last_check = time_now_wall();
	r->down_count = 0;
	r->timeline = row->timeline;
	if (!row->in_recovery) {
		r->recovery_end = row->recovery_end;
		replica_set_state(r, REPLICA_PROMOTED, "not in recovery");
		failover_member_checked(db, r, false);
		return;
	}
	failover_member_checked(db, r, true);
	r->replay_lsn = row->lsn;
	r->replay_seen_at = now;
	if (r->state == REPLICA_DIVERGED && !diverged_replica_restarted(r))
		return;
	if (!failover_member_current(db, r)) {
		replica_set_state(r, REPLICA_OLD_TIMELINE, "not shown to follow the primary's timeline");
		client_route_evacuate_replica(db, r);
		return;
	}
	uint64_t primary = monitor_primary_lsn(db);
	r->lag_bytes = primary > r->replay_lsn ? primary - r->replay_lsn : 0;
	r->lag = db->monitor ? lag_from_history(db->monitor, r->replay_lsn, now) : 0;
	if (rt.cfg->replica_max_lag > 0 && r->lag > rt.cfg->replica_max_lag)
		replica_set_state(r, REPLICA_LAGGING, "over replica_max_lag");
	else
		replica_set_state(r, REPLICA_UP, "check passed");
}

/*
 * A replica whose position, observed before this primary check was sent, is beyond
 * what the primary has written holds WAL the primary never wrote: it followed another
 * timeline (a failover it was not re-pointed for). Its position proves nothing about a
 * client's writes, so it leaves rotation however fresh it looks.
 */
static void find_diverged_replicas(Database *db, usec_t primary_asked_at, const CheckRow *row)
{
	for (int i = 0; i < db->n_replicas; i++) {
		Replica *r = db->replicas[i];
		if (r->removed || r->state == REPLICA_DIVERGED || r->state == REPLICA_DISABLED ||
		    r->state == REPLICA_PROMOTED || !r->in_recovery || r->replay_seen_at == 0 ||
		    r->replay_seen_at >= primary_asked_at || r->replay_lsn <= row->lsn)
			continue;
		log_error("replica %s:%d has replayed up to %" PRIX64 ", beyond the primary's %" PRIX64
			  ": another timeline, out of rotation",
			  r->host, r->port, r->replay_lsn, row->lsn);
		r->state = REPLICA_DIVERGED;
		r->diverged_lsn = r->replay_lsn;
		client_route_evacuate_replica(db, r);
	}
}

static bool primary_changed(const Database *db, const MonitorState *m, const CheckRow *row)
{
	if (m->primary_timeline && row->timeline && row->timeline != m->primary_timeline) {
		log_warning("the primary of database %s is on timeline %u now (was %u): a new primary, "
			    "forgetting floors", db->name, row->timeline, m->primary_timeline);
		return true;
	}
	if (row->lsn < m->primary_lsn) {
		log_warning("the primary of database %s went back in WAL: a new primary? forgetting floors",
			    db->name);
		return true;
	}
	return false;
}

static void primary_checked(Database *db, usec_t asked_at, const CheckRow *row)
{
	if (!db->monitor)
		db->monitor = xcalloc(1, sizeof(MonitorState));
	MonitorState *m = db->monitor;
	if (row->in_recovery && !m->primary_in_recovery)
		log_error("the primary of database %s is in recovery", db->name);
	if (row->in_recovery) {
		m->primary_in_recovery = true;
		failover_primary_lost(db);
		return;
	}
	m->primary_in_recovery = row->in_recovery;
	if (primary_changed(db, m, row)) {
		/* LSNs belong to a timeline: floors and lag samples of the old one mean nothing */
		m->n_history = 0;
		floor_samples_reset(&m->floors);
		db->primary_epoch++;
	}
	if (row->timeline)
		m->primary_timeline = row->timeline;
	m->primary_lsn = row->lsn;
	m->primary_asked_at = asked_at;
	floor_samples_add(&m->floors, asked_at, row->lsn);
	history_add(m, row->lsn, time_now_mono());
	find_diverged_replicas(db, asked_at, row);
	client_route_wake_causal(db, false); /* floors waiting for this check are known now */
	failover_primary_ok(db);
}

static void start_early_check(Database *db);
static void arm_early_check_timer(usec_t delay);

/*
 * Parked reads try again only when this replica moved (they ask again if still below).
 * One that stands still wakes no one; it is asked again every early-check gap while
 * reads wait for it, for at most replica_catchup_wait, then only at the period: waiting
 * on a paused or delayed replica costs one query per gap at first, then nothing.
 */
static void replica_answered(Database *db, Replica *r, uint64_t was_lsn, ReplicaState was_state)
{
	if (r->replay_lsn != was_lsn || r->state != was_state) {
		r->want_lsn = 0;
		client_route_wake_causal(db, false);
		return;
	}
	if (r->want_lsn > r->replay_lsn && !list_empty(&db->causal_waiters) &&
	    time_now_mono() - r->want_since < rt.cfg->replica_catchup_wait)
		r->check_wanted = true;
	else
		r->want_lsn = 0;
}

static void check_on_done(Server *s, bool failed)
{
	Pool *p = s->pool;
	CheckRow answer = { 0 };
	if (s->internal_state) {
		answer = *(CheckRow *)s->internal_state;
		((CheckRow *)s->internal_state)->have = false;
	}
	bool ok = !failed && answer.have;
	if (!p->replica) {
		if (s->dirty)
			; /* asked before the primary moved (or a reload): it describes the old one */
		else if (ok)
			primary_checked(p->db, s->last_checked, &answer);
		else
			failover_primary_lost(p->db);
		/*
		 * A write ended while this check was out: its check goes as soon as the
		 * connection is back to idle (it is still busy here, in its own reply).
		 */
		if (p->db->primary_check_wanted && !s->conn.closing)
			arm_early_check_timer(0);
		return;
	}
	if (ok) {
		uint64_t was_lsn = p->replica->replay_lsn;
		ReplicaState was_state = p->replica->state;
		replica_checked(p->db, p->replica, &answer);
		replica_answered(p->db, p->replica, was_lsn, was_state);
		/* a read that still waits asked again meanwhile: its check goes once this one is idle */
		if (p->replica->check_wanted && !s->conn.closing)
			arm_early_check_timer(0);
		return;
	}
	server_close(s, "replica check failed");
	server_replica_unreachable(p->replica, "check failed");
	client_route_evacuate_replica(p->db, p->replica);
}

static const InternalQueryOps CHECK_OPS = { check_on_row, check_on_done, NULL, false };

/* Who the monitor logs in as (see monitor.h): configuration only, or NULL. */
static const char *monitor_user_name(const Database *db)
{
	const DatabaseDef *def = config_find_database(rt.cfg, db->name);
	if (db->forced_user)
		return db->forced_user;
	if (def && def->auth_user)
		return def->auth_user;
	if (*rt.cfg->replica_monitor_user)
		return rt.cfg->replica_monitor_user;
	return *rt.cfg->auth_user ? rt.cfg->auth_user : NULL;
}

static PoolUser *monitor_user(Database *db)
{
	const char *name = monitor_user_name(db);
	return name ? registry_get_user(name) : NULL;
}

/* Replicas no one can check are kept out of rotation until a user is configured. */
#define UNCHECKED_UNTIL INT64_MAX

static void keep_unchecked_out(Database *db)
{
	for (int i = 0; i < db->n_replicas; i++) {
		Replica *r = db->replicas[i];
		if (r->removed || (r->state != REPLICA_UP && r->state != REPLICA_DOWN) ||
		    r->down_until == UNCHECKED_UNTIL)
			continue;
		log_warning("replica %s:%d of database %s is not used: no user to check it with", r->host,
			    r->port, db->name);
		r->state = REPLICA_DOWN;
		r->down_until = UNCHECKED_UNTIL;
		client_route_evacuate_replica(db, r);
	}
}

/* A user appeared (reload, SET): replicas held out for lack of one get checked now. */
static void release_unchecked(Database *db)
{
	for (int i = 0; i < db->n_replicas; i++)
		if (db->replicas[i]->down_until == UNCHECKED_UNTIL)
			db->replicas[i]->down_until = 0;
}

static Pool *monitor_pool(Database *db, PoolUser *user, Replica *r)
{
	List *it;
	list_for_each(it, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		if (p->is_monitor && p->db == db && p->replica == r)
			return p->user == user ? p : NULL;
	}
	Pool *p = pool_create(db, user, r);
	p->is_monitor = true;
	pool_set_home(p, registry_find_pool(db, user)); /* auth_query creds of a client-made pool */
	list_append(&rt.pools, &p->node);
	return p;
}

/* One check on the pool's connection, connecting first if needed. */
static void check_target(Pool *p, usec_t now)
{
	if (!list_empty(&p->used_servers)) {
		Server *busy = container_of(list_first(&p->used_servers), Server, pool_node);
		usec_t limit = rt.cfg->replica_check_period * 20;
		if (limit < 2 * USEC_PER_SEC)
			limit = 2 * USEC_PER_SEC;
		if (now - busy->last_checked > limit) {
			server_close(busy, "replica check timed out");
			if (!p->replica)
				failover_primary_lost(p->db);
			if (p->replica) {
				/* a replica that cannot answer a trivial query in time is not serving */
				server_replica_unreachable(p->replica, "check timed out");
				client_route_evacuate_replica(p->db, p->replica);
			}
		}
		return;
	}
	if (!list_empty(&p->idle_servers)) {
		Server *s = container_of(list_first(&p->idle_servers), Server, pool_node);
		if (!p->replica)
			p->db->primary_check_wanted = false; /* this check serves the writes that wanted one */
		else
			p->replica->check_wanted = false; /* and this one the reads that wanted one */
		server_start_internal_sql(s, CHECK_SQL, &CHECK_OPS);
		return;
	}
	if (p->n_login == 0 && !pool_in_login_backoff(p) &&
	    (!p->replica || p->replica->state != REPLICA_DOWN || now >= p->replica->down_until))
		server_launch(p);
}

/*
 * Early primary checks (a write wants its floor): no closer together than this, whatever
 * replica_check_period is, so a floor is known within this gap plus one round trip to
 * the primary after the write ends. One check is out at a time, so writes close together
 * share one.
 */
#define EARLY_CHECK_GAP_USEC 2000

static void arm_early_check_timer(usec_t delay)
{
	struct timeval tv = { (time_t)(delay / USEC_PER_SEC), (suseconds_t)(delay % USEC_PER_SEC) };
	if (early_check_timer && !evtimer_pending(early_check_timer, NULL))
		evtimer_add(early_check_timer, &tv);
}

/* Send a primary check now if the connection is free and the last one is not too recent. */
static void start_early_check(Database *db)
{
	PoolUser *user = monitor_user(db);
	Pool *p = user ? monitor_pool(db, user, NULL) : NULL;
	usec_t now = time_now_mono();
	if (!p)
		return;
	if (!list_empty(&p->used_servers))
		return; /* a check is out: check_on_done comes back here */
	if (list_empty(&p->idle_servers)) {
		check_target(p, now); /* connects */
		arm_early_check_timer(EARLY_CHECK_GAP_USEC); /* and comes back once logged in */
		return;
	}
	Server *s = container_of(list_first(&p->idle_servers), Server, pool_node);
	usec_t gap = EARLY_CHECK_GAP_USEC;
	if (now - s->last_checked < gap) {
		arm_early_check_timer(gap - (now - s->last_checked));
		return;
	}
	db->primary_check_wanted = false;
	server_start_internal_sql(s, CHECK_SQL, &CHECK_OPS);
}

void monitor_want_primary_check(Database *db)
{
	if (db->primary_check_wanted)
		return; /* already on its way */
	db->primary_check_wanted = true;
	start_early_check(db);
}

/*
 * Send a replica check now if its connection is idle and the last check is not too
 * recent. No connection is opened for it: a replica without an idle monitoring
 * connection is checked by the period alone (and waiting reads go to the primary).
 */
static void start_early_replica_check(Database *db, Replica *r)
{
	PoolUser *user = monitor_user(db);
	Pool *p = user ? monitor_pool(db, user, r) : NULL;
	usec_t now = time_now_mono();
	if (!p || !list_empty(&p->used_servers) || list_empty(&p->idle_servers)) {
		if (!p || list_empty(&p->used_servers))
			r->check_wanted = false; /* nothing to send it on */
		return; /* a check is out: check_on_done comes back here */
	}
	Server *s = container_of(list_first(&p->idle_servers), Server, pool_node);
	if (now - s->last_checked < EARLY_CHECK_GAP_USEC) {
		arm_early_check_timer(EARLY_CHECK_GAP_USEC - (now - s->last_checked));
		return;
	}
	r->check_wanted = false;
	server_start_internal_sql(s, CHECK_SQL, &CHECK_OPS);
}

void monitor_want_replica_check(Database *db, Replica *r, uint64_t floor)
{
	if (r->want_lsn == 0)
		r->want_since = time_now_mono();
	if (floor > r->want_lsn)
		r->want_lsn = floor;
	if (r->check_wanted)
		return; /* already on its way */
	r->check_wanted = true;
	start_early_replica_check(db, r);
}

static void early_check_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	List *it;
	list_for_each(it, &rt.databases)
	{
		Database *db = container_of(it, Database, node);
		if (db->removed)
			continue;
		if (db->primary_check_wanted)
			start_early_check(db);
		for (int i = 0; i < db->n_replicas; i++)
			if (db->replicas[i]->check_wanted && !db->replicas[i]->removed)
				start_early_replica_check(db, db->replicas[i]);
	}
}

static void monitor_database(Database *db, usec_t now)
{
	PoolUser *user = monitor_user(db);
	if (!user) {
		keep_unchecked_out(db);
		return;
	}
	release_unchecked(db);
	Pool *primary = monitor_pool(db, user, NULL);
	if (primary)
		check_target(primary, now);
	for (int i = 0; i < db->n_replicas; i++) {
		Replica *r = db->replicas[i];
		if (r->removed)
			continue;
		Pool *p = monitor_pool(db, user, r);
		if (p)
			check_target(p, now);
	}
}

/*
 * A database's members are checked when it routes reads to them, or when only its
 * writes go to the primary by target_session_attrs: a failover is still followed.
 */
static bool has_members_to_check(const Database *db)
{
	bool writes_only = db->session_attrs == TSA_READ_WRITE || db->session_attrs == TSA_PRIMARY;
	return db->n_replicas > 0 && (db->routing != ROUTING_PRIMARY || writes_only) && !db->removed;
}

static void monitor_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	usec_t now = time_now_mono();
	List *it;
	list_for_each(it, &rt.databases)
	{
		Database *db = container_of(it, Database, node);
		if (has_members_to_check(db))
			monitor_database(db, now);
	}
}

bool monitor_watches(const Database *db)
{
	return has_members_to_check(db) && monitor_user_name(db);
}

bool monitor_primary_answered_within(const Database *db, usec_t within)
{
	const MonitorState *m = db->monitor;
	return m && m->primary_asked_at && time_now_mono() - m->primary_asked_at < within;
}

/* At each load: say which databases cannot have their replicas checked, and why. */
static void warn_unmonitored(void)
{
	List *it;
	list_for_each(it, &rt.databases)
	{
		Database *db = container_of(it, Database, node);
		if (has_members_to_check(db) && !monitor_watches(db)) {
			log_warning("database %s has replicas but no user to check them with (set user=, "
				    "auth_user or replica_monitor_user): its reads go to the primary",
				    db->name);
			keep_unchecked_out(db); /* now, not at the first tick: no read goes there meanwhile */
		}
	}
}

void monitor_reconfigure(void)
{
	if (!monitor_timer)
		return;
	warn_unmonitored();
	usec_t period = rt.cfg->replica_check_period > 0 ? rt.cfg->replica_check_period : USEC_PER_SEC / 10;
	struct timeval tv = { (time_t)(period / USEC_PER_SEC), (suseconds_t)(period % USEC_PER_SEC) };
	event_del(monitor_timer);
	event_add(monitor_timer, &tv);
}

void monitor_start(void)
{
	monitor_timer = event_new(rt.base, -1, EV_PERSIST, monitor_tick, NULL);
	early_check_timer = evtimer_new(rt.base, early_check_tick, NULL);
	monitor_reconfigure();
}

void monitor_stop(void)
{
	if (monitor_timer)
		event_free(monitor_timer);
	if (early_check_timer)
		event_free(early_check_timer);
	monitor_timer = NULL;
	early_check_timer = NULL;
}
