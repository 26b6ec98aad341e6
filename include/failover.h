/*
 * Primary discovery: which member of a database (its configured host and its replicas)
 * takes the writes. The monitor reports each check; this module decides. A member that
 * answers "not in recovery" while the primary is lost (its check failed, or found it in
 * recovery) becomes the primary: primary pools connect there, the old address becomes a
 * member that rejoins the reads once it streams again. Two members that both answer as a
 * primary hold all writes (clients wait, up to query_wait_timeout) until one is in
 * recovery again or CHOOSE PRIMARY names one. primary_discovery = off keeps the
 * configured host as the primary whatever the checks say.
 */
#ifndef PGSPLIT_FAILOVER_H
#define PGSPLIT_FAILOVER_H

#include "pool.h"

/* A member answered its check: not in recovery (it claims to be a primary), or in recovery. */
void failover_member_checked(Database *db, Replica *r, bool in_recovery);
/* The primary answered its check as a primary. */
void failover_primary_ok(Database *db);
/* The primary's check failed, its monitoring login failed, or it answered in recovery. */
void failover_primary_lost(Database *db);
/* Whether db follows a promoted member: primary_discovery on and its members checked. */
bool failover_may_follow(const Database *db);
/* Where writes go now: host= and port= until a member took over. */
const char *failover_primary_host(const Database *db);
int failover_primary_port(const Database *db);
/* Whether r is the address writes go to now. */
bool failover_is_primary(const Database *db, const Replica *r);
/* Whether standby r (just checked) replays the current primary's history: see failover.c. */
bool failover_member_current(const Database *db, Replica *r);
/* The timeline standbys must stream to serve reads: the primary's, or the newest claim's. */
uint32_t failover_reference_timeline(const Database *db);
/*
 * CHOOSE PRIMARY db host:port: the operator settles a split brain. NULL on success, else
 * what is wrong (the member is unknown, or does not claim to be a primary).
 */
const char *failover_choose(Database *db, const char *host, int port);
/* Reload or removal: the configured host changed, so discovery starts over from it. */
void failover_forget(Database *db);
/* Whether primary pools of db may get servers now. */
static inline bool failover_writes_held(const Database *db)
{
	return db->writes_held;
}

#endif
