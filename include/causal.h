/*
 * Read-your-writes where a transaction ends and where a client hands on its position:
 * the floor a write leaves for its scope (client or user), the causal token reported to
 * the client as ParameterStatus pgsplit.last_write_lsn once the monitor knows a position
 * at or past the write, and "SET pgsplit.min_lsn = 'X/Y'", answered by the pooler, which
 * gives a connection a floor from a token it was handed.
 */
#ifndef PGSPLIT_CAUSAL_H
#define PGSPLIT_CAUSAL_H

#include "client.h"
#include "sbuf.h"

typedef struct Server Server;

/* A write transaction of client ended on server (the primary): its floor and its token. */
void causal_note_write_end(Server *server, Client *client, usec_t now);
/* Once the floor of the client's last write is known, queue the token to the client. */
void causal_send_token_if_known(Client *client);
/* Swallow "SET pgsplit.min_lsn = 'X/Y'" and answer it; false for any other message. */
bool causal_intercept_set(Client *client, const SbufMsg *msg);
void causal_set_token(Client *client, uint64_t lsn);

#endif
