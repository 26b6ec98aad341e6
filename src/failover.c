/*
 * Primary discovery (see failover.h). The decision is one function, failover_decide(),
 * run after every check that could change it. Its inputs: the members that claim to be
 * a primary (answered "not in recovery" at their last check), and the latest outcome of
 * the primary's own check (answered as a primary, or lost). Its outcomes:
 *   no claim                          -> nothing changes (writes flow if they were held)
 *   claims, the primary lost since    -> one claim: it becomes the primary
 *                                        several: split brain, writes held
 *   claims, the primary answered after -> split brain, writes held
 *   claims, no answer from the primary since -> undecided: an early primary check is asked
 * CHOOSE PRIMARY overrides the split-brain outcome with the operator's member.
 */
#include "failover.h"
#include "client_route.h"
#include "log.h"
#include "monitor.h"
#include "pool.h"
#include "registry.h"
#include "runtime.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>

#define MAX_CLAIMS 8

const char *failover_primary_host(const Database *db)
{
	return db->leader ? db->leader->host : db->host;
}

int failover_primary_port(const Database *db)
{
	return db->leader ? db->leader->port : db->port;
}

bool failover_may_follow(const Database *db)
{
	return rt.cfg->primary_discovery && monitor_watches(db);
}

bool failover_is_primary(const Database *db, const Replica *r)
{
	const char *h = failover_primary_host(db);
	return r->port == failover_primary_port(db) && h && strcmp(r->host, h) == 0;
}

/* Members that answered "not in recovery" at their last check, the primary's address aside. */
static int collect_claims(const Database *db, Replica **out)
{
	int n = 0;
	for (int i = 0; i < db->n_replicas && n < MAX_CLAIMS; i++) {
		Replica *r = db->replicas[i];
		if (r->removed || r->state != REPLICA_PROMOTED || !r->claimed_at || r->down_count > 0 ||
		    failover_is_primary(db, r))
			continue;
		out[n++] = r;
	}
	return n;
}

uint32_t failover_reference_timeline(const Database *db)
{
	if (!db->writes_held)
		return monitor_primary_timeline(db);
	Replica *claims[MAX_CLAIMS];
	uint32_t tli = 0; /* split brain: the newest claim's */
	int n = collect_claims(db, claims);
	for (int i = 0; i < n; i++)
		if (claims[i]->timeline > tli)
			tli = claims[i]->timeline;
	return tli;
}

/*
 * Whether standby r replays the current primary's history. Its WAL receiver's timeline
 * says so when the monitor may see it (pg_read_all_stats). Otherwise, after a failover,
 * a standby is current if its first position seen since is at or before the switch point
 * (a prefix of the new history); one past it replayed the old primary's WAL beyond the
 * fork, or streams the new primary already: it is shown current only by moving on,
 * which a standby of the dead old primary cannot do.
 */
bool failover_member_current(const Database *db, Replica *r)
{
	uint32_t tli = failover_reference_timeline(db);
	if (r->timeline && tli) {
		r->unproven = r->timeline < tli;
		return !r->unproven;
	}
	if (!r->unproven)
		return true;
	if (!r->suspect_lsn && r->replay_lsn <= db->switch_lsn) {
		r->unproven = false;
		return true;
	}
	if (!r->suspect_lsn) {
		r->suspect_lsn = r->replay_lsn;
		return false;
	}
	if (r->replay_lsn <= r->suspect_lsn)
		return false;
	log_info("replica %s:%d replays past %X/%X since the failover: it follows the new primary", r->host, r->port,
		 (unsigned)(r->suspect_lsn >> 32), (unsigned)r->suspect_lsn);
	r->unproven = false;
	return true;
}

/*
 * At a failover every other standby must show it follows the new history before it
 * serves a read: one whose last position is past the switch point is taken out now.
 */
static void suspect_members(Database *db, Replica *to)
{
	db->switch_lsn = to->recovery_end ? to->recovery_end : to->replay_lsn;
	for (int i = 0; i < db->n_replicas; i++) {
		Replica *r = db->replicas[i];
		if (r == to || r->removed)
			continue;
		r->unproven = true;
		r->suspect_lsn = 0;
		if (r->state == REPLICA_UP || r->state == REPLICA_LAGGING) {
			if (!failover_member_current(db, r)) {
				log_info("replica %s:%d has replayed past where the new primary's timeline forked: "
					 "out of rotation until it follows the new primary",
					 r->host, r->port);
				r->state = REPLICA_OLD_TIMELINE;
				client_route_evacuate_replica(db, r);
			}
		}
	}
}

/*
 * The configured host as a member, so that it is checked and can serve reads again; a
 * new one is out of rotation until a check finds it streaming.
 */
static void ensure_home_member(Database *db)
{
	int listed = db->n_replicas;
	Replica *home = registry_get_member(db, db->host, db->port, REPLICA_DOWN);
	if (db->n_replicas > listed)
		home->home = true; /* made here, not listed in replicas= */
	home->removed = false;
}

/*
 * Servers of the primary pools stop taking work: idle ones close now, busy ones when
 * their client lets go (a transaction running there finishes or fails as a direct
 * connection's would). The monitor's connection closes too: its next check goes to the
 * new address.
 */
static void retire_primary_servers(Database *db)
{
	List *it, *tmp;
	list_for_each_safe(it, tmp, &rt.servers)
	{
		Server *s = container_of(it, Server, all_node);
		if (s->pool->db != db || s->pool->replica)
			continue;
		s->dirty = true;
		if (s->state == SV_IDLE)
			server_close(s, "the primary moved");
	}
}

/* Clients waiting for a primary server try the (new) primary now, without login backoff. */
static void wake_primary_pools(Database *db)
{
	List *it;
	list_for_each(it, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		if (p->db != db || p->replica || p->is_monitor)
			continue;
		p->last_connect_failure = 0;
		pool_maintain(p);
	}
}

static void hold_writes(Database *db, Replica **claims, int n, bool primary_claims)
{
	char who[512];
	size_t len = 0;
	who[0] = 0;
	if (primary_claims)
		len += (size_t)snprintf(who, sizeof(who), " %s:%d (timeline %u)", failover_primary_host(db), failover_primary_port(db),
					monitor_primary_timeline(db));
	for (int i = 0; i < n && len < sizeof(who); i++)
		len += (size_t)snprintf(who + len, sizeof(who) - len, " %s:%d (timeline %u)", claims[i]->host,
					claims[i]->port, claims[i]->timeline);
	usec_t now = time_now_mono();
	if (!db->writes_held || now - db->split_logged_at >= rt.cfg->replica_check_period) {
		db->split_logged_at = now; /* once per check period, not at each member's answer */
		log_error("database %s: more than one server claims to be the primary:%s; writes wait until "
			  "all but one are in recovery, or CHOOSE PRIMARY names one",
			  db->name, who);
	}
	if (!db->writes_held) {
		db->writes_held = true;
		retire_primary_servers(db);
	}
}

static void release_writes(Database *db)
{
	if (!db->writes_held)
		return;
	db->writes_held = false;
	log_info("database %s: one primary again, %s:%d: writes resume", db->name, failover_primary_host(db),
		 failover_primary_port(db));
	wake_primary_pools(db);
}

static void switch_primary(Database *db, Replica *to, const char *why)
{
	log_warning("database %s: the primary is %s:%d now (timeline %u), was %s:%d: %s", db->name, to->host,
		    to->port, to->timeline, failover_primary_host(db), failover_primary_port(db), why);
	if (db->host && !to->home && db->n_hosts == 0)
		ensure_home_member(db); /* a host list is no single member */
	suspect_members(db, to);
	db->leader = to->home ? NULL : to;
	db->primary_chosen = false;
	to->claimed_at = 0;
	db->primary_ok_at = 0;
	db->primary_lost_at = 0;
	db->writes_held = false;
	db->primary_epoch++; /* floors of the old primary's WAL mean nothing on the new one */
	monitor_forget_primary(db);
	retire_primary_servers(db);
	wake_primary_pools(db);
	client_route_wake_causal(db, false);
}

static void failover_decide(Database *db)
{
	Replica *claims[MAX_CLAIMS];
	if (!failover_may_follow(db))
		return;
	int n = collect_claims(db, claims);
	if (n == 0) {
		release_writes(db);
		return;
	}
	usec_t newest = 0;
	for (int i = 0; i < n; i++)
		if (claims[i]->claimed_at > newest)
			newest = claims[i]->claimed_at;
	bool lost = db->primary_lost_at > db->primary_ok_at;
	if (lost && n == 1) {
		switch_primary(db, claims[0], "the old primary cannot be reached or is in recovery");
		return;
	}
	if (!lost && db->primary_chosen) {
		release_writes(db); /* the operator's pick keeps the writes; the other claims get nothing */
		return;
	}
	if (lost || db->primary_ok_at > newest) {
		hold_writes(db, claims, n, !lost);
		return;
	}
	monitor_want_primary_check(db); /* has the primary gone, or are there two? ask it now */
}

void failover_member_checked(Database *db, Replica *r, bool in_recovery)
{
	if (in_recovery) {
		bool was_claim = r->claimed_at != 0;
		r->claimed_at = 0;
		if (was_claim || db->writes_held)
			failover_decide(db);
		return;
	}
	if (!r->claimed_at)
		r->claimed_at = time_now_mono();
	failover_decide(db);
}

void failover_primary_ok(Database *db)
{
	db->primary_ok_at = time_now_mono();
	failover_decide(db);
}

void failover_primary_lost(Database *db)
{
	db->primary_lost_at = time_now_mono();
	failover_decide(db);
}

const char *failover_choose(Database *db, const char *host, int port)
{
	Replica *r = NULL;
	for (int i = 0; i < db->n_replicas; i++)
		if (!db->replicas[i]->removed && db->replicas[i]->port == port &&
		    strcmp(db->replicas[i]->host, host) == 0)
			r = db->replicas[i];
	bool is_primary = r ? failover_is_primary(db, r)
			    : port == failover_primary_port(db) && failover_primary_host(db) && strcmp(failover_primary_host(db), host) == 0;
	if (!r && !is_primary)
		return "no such member of this database";
	if (!is_primary && (r->state != REPLICA_PROMOTED || r->down_count > 0))
		return "that member does not answer as a primary";
	log_warning("database %s: CHOOSE PRIMARY %s:%d", db->name, host, port);
	if (!is_primary)
		switch_primary(db, r, "chosen by CHOOSE PRIMARY");
	db->primary_chosen = true;
	release_writes(db);
	return NULL;
}

void failover_forget(Database *db)
{
	db->leader = NULL;
	db->primary_chosen = false;
	db->writes_held = false;
	db->primary_ok_at = 0;
	db->primary_lost_at = 0;
	for (int i = 0; i < db->n_replicas; i++)
		if (db->replicas[i]->home)
			db->replicas[i]->removed = true;
}
