/*
 * Host lists: host=a,b,c in a database entry names several servers for its primary
 * pools. load_balance_hosts = round-robin (the default) gives each new server
 * connection the next host; disable keeps to one host until a connection to it fails,
 * then moves to the next. With target_session_attrs = read-write a host that turns out
 * to be a standby counts as failed, which is how such a list follows a failover.
 */
#ifndef PGSPLIT_HOSTLIST_H
#define PGSPLIT_HOSTLIST_H

#include "pool.h"

/* Split db->host into db->hosts (after db->host changed); mode from the entry. */
void hostlist_apply(Database *db, LoadBalanceHosts mode);
/* The host a new primary connection of db goes to: db->host without a list. */
const char *hostlist_next(Database *db);
/* A connection to host failed (refused, login failed, wrong role): disable mode moves on. */
void hostlist_failed(Database *db, const char *host);
void hostlist_free(Database *db);

#endif
