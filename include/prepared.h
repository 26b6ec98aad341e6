/*
 * Protocol-level named prepared statements in transaction and statement pooling
 * (max_prepared_statements > 0). Client statement names map to shared, content-addressed
 * statements that servers know as "pgsplit_<id>". A client's Parse always reaches the
 * server (closing its older copy first, which may predate DDL); a Bind or Describe of a
 * statement the server lacks, or holds only in a copy older than the client's Parse, gets
 * a Parse injected first. Each server keeps an LRU of its statements bounded by
 * max_prepared_statements. Because replies must reach the client in order, every
 * message sent to a server while tracking is on is recorded in the server's reply queue,
 * and pooler-made replies (CloseComplete, the 42P05 error) are emitted when they reach its
 * head; each entry also notes what its message changed in the pooler's view (names,
 * server caches), undone when the server skips the message after an error. DEALLOCATE
 * name is rewritten; SQL-level PREPARE/EXECUTE is not tracked and stays session-bound.
 * Names and copies carry the result columns the server described for them (a hidden
 * Describe): a name whose copy describes other columns predates DDL, and its Bind fails
 * with 0A000 as on a direct connection.
 */
#ifndef PGSPLIT_PREPARED_H
#define PGSPLIT_PREPARED_H

#include "classify.h"
#include "sbuf.h"

typedef struct Client Client;
typedef struct Server Server;
typedef struct PreparedStmt PreparedStmt;
typedef struct StmtMap StmtMap;
typedef struct ReplyQueue ReplyQueue;

/* Tracking applies to this client's pool (mode and setting). */
bool prepared_enabled(const Client *client);
/* A linked client's message: rewrite, answer or forward it. */
SbufVerdict prepared_client_message(Client *client, Server *server, const SbufMsg *msg);
/* A server's reply while tracking: true when handled (verdict in *v). */
bool prepared_server_message(Server *server, Client *client, const SbufMsg *msg, SbufVerdict *v);
/* Emit the pooler's replies that are due (after a ReadyForQuery went out). */
void prepared_flush_due(Server *server, Client *client);
/* The server still owes replies to tracked messages (the transaction is not over). */
bool prepared_replies_pending(const Server *server);
/* The server's statements were dropped (DISCARD ALL as reset query). */
void prepared_server_forget_all(Server *server);
/* A 25006 re-run sends the client's Parse of name again: forget the replica's answer. */
void prepared_forget_client_name(Client *client, const char *name);
/* How the classifier saw a client's named statement when it was parsed; NULL: unknown name. */
const ClassifyResult *prepared_statement_class(const Client *client, const char *name);
int prepared_client_count(const Client *client);
int prepared_server_count(const Server *server);
void prepared_client_free(Client *client);
void prepared_server_free(Server *server);

#endif
