/*
 * Routing glue for a client that starts a transaction: looks at the pending messages
 * (one Query, or an extended-protocol batch up to Sync), asks the classifier and the
 * router, and picks the pool (primary or a replica's) to take a server from.
 */
#ifndef PGSPLIT_CLIENT_ROUTE_H
#define PGSPLIT_CLIENT_ROUTE_H

#include "client.h"

typedef enum {
	CLIENT_ROUTE_READY,     /* *target is set */
	CLIENT_ROUTE_WAIT_MORE, /* the batch is not fully buffered yet */
	CLIENT_ROUTE_CAUSAL_WAIT, /* parked until a replica catches up (causal_wait) */
	CLIENT_ROUTE_REFUSE,    /* replica_fallback = error and no replica: answer with an error */
	CLIENT_ROUTE_AWAIT_LINKED, /* wait for the linked server's answers, then route afresh */
} ClientRouteStatus;

ClientRouteStatus client_route(Client *client, const SbufMsg *msg, Pool **target);
/* The next batch of a client linked to a replica that has not answered the earlier ones. */
ClientRouteStatus client_route_pipelined(Client *client, const SbufMsg *msg);
/* A replica's pool failed: move its waiting clients elsewhere, invisibly. */
void client_route_evacuate(Pool *replica_pool);
void client_route_evacuate_replica(Database *db, Replica *replica);
/* Re-try parked reads of db (all, or only those whose causal_wait ran out). */
void client_route_wake_causal(Database *db, bool deadline_only);

#endif
