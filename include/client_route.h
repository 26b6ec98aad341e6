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
/* Swallow "SET pgsplit.min_lsn = 'X/Y'" (the causal token) and answer it. */
bool client_route_intercept(Client *client, const SbufMsg *msg);
void client_route_set_token(Client *client, uint64_t lsn);
/*
 * 25006 re-run: while a replica's read may still be re-run on the
 * primary (Client.retry is set), its replies are held back instead of reaching the client.
 */
void client_route_disarm_retry(Client *client);
/* The client sent len more bytes to the linked server (past its batch: no re-run). */
void client_route_note_sent(Client *client, uint32_t len);
/* Hold a reply back while a re-run is possible; false: it must go to the client now. */
bool client_route_hold(Client *client, const uint8_t *data, size_t len);
/* Send a reply to the client, or hold it back while a re-run is possible. */
void client_route_to_client(Client *client, const uint8_t *data, size_t len);
/*
 * The replica refused with 25006: hold the error too, until its ReadyForQuery starts
 * the re-run (false: too late for one, the error goes the normal way).
 */
bool client_route_hold_refusal(Client *client, const uint8_t *data, size_t len);
bool client_route_retry_refused(const Client *client);
/* Give the held replies to the client: the re-run chance is over. */
void client_route_release_held(Client *client);
/* The replica refused with 25006: put the batch back and run it on the primary. */
void client_route_rerun_on_primary(Client *client);
/* Re-try parked reads of db (all, or only those whose causal_wait ran out). */
void client_route_wake_causal(Database *db, bool deadline_only);

#endif
