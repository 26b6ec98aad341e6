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
} ClientRouteStatus;

ClientRouteStatus client_route(Client *client, const SbufMsg *msg, Pool **target);
/* A replica's pool failed: move its waiting clients elsewhere, invisibly. */
void client_route_evacuate(Pool *replica_pool);

#endif
