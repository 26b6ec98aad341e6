/*
 * Registry: name -> Database, name -> PoolUser, (Database, PoolUser) -> Pool. Databases
 * come from [databases] (or the "*" fallback); reload reconciles them with the new
 * config without touching connected clients.
 */
#ifndef PGSPLIT_REGISTRY_H
#define PGSPLIT_REGISTRY_H

#include "pool.h"

/*
 * The lookups never create anything: they are what a client may use before it has
 * authenticated, so a made-up name costs nothing. find/get create (a database from "*",
 * a user) and are for names that have proved themselves or come from the config.
 */
Database *registry_lookup_database(const char *name);
/*
 * The member of db at host:port (a replica, or the configured host once it lost the
 * primary), added in state `initial` if db has none there. Members live as long as db.
 */
Replica *registry_get_member(Database *db, const char *host, int port, ReplicaState initial);
PoolUser *registry_lookup_user(const char *name);
Database *registry_find_database(const char *name);
PoolUser *registry_get_user(const char *name);
Pool *registry_get_pool(Database *db, PoolUser *user);
/*
 * A Database made from def for name but kept out of the registry: no lookup finds it,
 * SHOW and reload do not see it, and its maker frees it (lookup_target.h).
 */
Database *registry_new_unlisted_database(const char *name, const DatabaseDef *def);
void registry_free_unlisted_database(Database *db);
/* The primary pool of (db, user) if it exists; never creates one. */
Pool *registry_find_pool(const Database *db, const PoolUser *user);
/* The pool of (db, user) for a replica; NULL replica is the primary pool. */
Pool *registry_get_target_pool(Database *db, PoolUser *user, Replica *replica);
/* Bring databases and users in line with rt.cfg / rt.authfile (start and reload). */
void registry_apply_config(void);
void registry_free_all(void);
/* Free pools unused for pool_idle_timeout and users nothing refers to (upkeep). */
void registry_free_idle(usec_t now);
/* Free a database with no clients and no servers, and its pools. False if in use. */
bool registry_drop_database(Database *db);
/*
 * DnsChangeCallback: a zone check found new addresses for host. Servers of pools that
 * connect to it are closed once idle or released (as RECONNECT), never under a client.
 */
void registry_on_dns_change(void *arg, const char *host);

#endif
