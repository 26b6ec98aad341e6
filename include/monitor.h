/*
 * Replica monitor: per database, one monitoring connection to the primary
 * and one to each replica, polled every replica_check_period (the primary also sooner
 * when writes wait for their read-your-writes floor). It feeds each Replica's
 * state (up, lagging, down, promoted), replay position and lag in bytes and in time;
 * time lag comes from the history of the primary's WAL positions, so it is 0 on an idle
 * primary once the replica has caught up. Monitoring connections are ordinary server
 * connections in pools marked is_monitor, logged in as the database's user=, else its
 * auth_user, else replica_monitor_user, else the global auth_user: never as a user a
 * client named (an unauthenticated startup packet must not choose it). With none, the
 * database's replicas stay out of rotation.
 */
#ifndef PGSPLIT_MONITOR_H
#define PGSPLIT_MONITOR_H

#include "common.h"
#include "lsn.h"

typedef struct Server Server;
typedef struct Database Database;
typedef struct Replica Replica;

void monitor_start(void);
void monitor_stop(void);
/* Re-read replica_check_period after a reload. */
void monitor_reconfigure(void);
/* Whether the monitor checks db's primary (replicas, routing on, a user to log in as). */
bool monitor_watches(const Database *db);
/* Whether a primary check of db sent within the last `within` usec has answered. */
bool monitor_primary_answered_within(const Database *db, usec_t within);
/* The timeline of db's primary at its last check (0 = none yet). */
uint32_t monitor_primary_timeline(const Database *db);
/* The primary moved: its positions and lag history belong to the old one. */
void monitor_forget_primary(Database *db);
/* The newest primary WAL position the monitor saw for db (0 = none yet). */
uint64_t monitor_primary_lsn(const Database *db);
/*
 * Read-your-writes floors come from the primary checks: a check sent after a write ended
 * reports a position at or past that write. True with *lsn (the position the first
 * such check reported: the lowest floor) once a check sent after `since` (monotonic)
 * has answered.
 */
bool monitor_floor_after(const Database *db, usec_t since, uint64_t *lsn);
/*
 * A write ended and waits for its floor: check the primary soon, not only at the next
 * period (at most every replica_check_period / 10, so a burst of writes shares a check).
 */
void monitor_want_primary_check(Database *db);

/*
 * A read waits for this replica to pass its floor: check its replay position soon, not
 * only at the next period (the same gap as early primary checks, one check out at a time).
 */
void monitor_want_replica_check(Database *db, Replica *r, uint64_t floor);

#endif
