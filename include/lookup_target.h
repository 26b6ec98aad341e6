/*
 * Where auth_query runs for a login whose database would be made from the "*" entry
 * and is not in the registry yet (no auth_dbname is configured, so the lookup runs in
 * the client's database). The client has not authenticated: its database name may be
 * made up, so nothing is registered for it. A lookup target is a Database and its
 * auth_user pool kept outside the registry (absent from SHOW DATABASES / SHOW POOLS,
 * reload and the replica monitor), shared by the logins that wait on the same name,
 * and freed by the upkeep once no login waits on it and its servers are closed. So the
 * targets alive are at most the database names of logins in progress, plus those
 * whose servers close on the next upkeep tick.
 */
#ifndef PGSPLIT_LOOKUP_TARGET_H
#define PGSPLIT_LOOKUP_TARGET_H

#include "pool.h"

/* The pool to run the lookup in for db_name (made from def), logging in as auth_user. */
Pool *lookup_target_get(const char *db_name, const DatabaseDef *def, PoolUser *auth_user);
/* Upkeep: close the servers of targets no login needs, free those with none left. */
void lookup_target_free_unused(void);

#endif
