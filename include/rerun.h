/*
 * The re-run of a read: an autocommit read sent to a replica that the replica refuses as
 * a write ("cannot execute ... in a read-only transaction") runs again on the primary,
 * invisibly, when nothing of its answer has reached the client yet; one whose replica
 * connection is lost (closed, broken, a FATAL) by then is routed again, to another
 * replica or the primary. While that is possible (Client.route.retry is set) the
 * replica's replies are held back here.
 */
#ifndef PGSPLIT_RERUN_H
#define PGSPLIT_RERUN_H

#include "client.h"
#include "sbuf.h"

typedef struct Server Server;

/* Keep a copy of the client's first len buffered bytes (its batch) for a re-run. */
void rerun_arm(Client *client, size_t len, bool calls_functions);
void rerun_disarm(Client *client);
/* The armed batch calls functions: the likely cause of a 25006. */
bool rerun_calls_functions(const Client *client);
/* The client sent len more bytes to the linked server (past its batch: no re-run). */
void rerun_note_sent(Client *client, uint32_t len);
/* Hold a reply back while a re-run is possible; false: it must go to the client now. */
bool rerun_hold(Client *client, const uint8_t *data, size_t len);
/*
 * The replica refused with 25006: hold the error too, until its ReadyForQuery starts
 * the re-run (false: too late for one, the error goes the normal way).
 */
bool rerun_hold_refusal(Client *client, const uint8_t *data, size_t len);
bool rerun_refused(const Client *client);
/* Give the held replies to the client: the re-run chance is over. */
void rerun_release_held(Client *client);
/* The replica refused with 25006: put the batch back and run it on the primary. */
void rerun_on_primary(Client *client);
/*
 * A replica's reply while a re-run is possible. True with *verdict when it was dealt
 * with here; false for the normal path (which holds back with rerun_hold).
 */
bool rerun_filter_reply(Server *server, Client *client, const SbufMsg *msg, SbufVerdict *verdict);

/* The linked replica connection's loss would re-run the client's batch (nothing was sent to it). */
bool rerun_lost_possible(const Client *client);
/*
 * The client's replica connection (to lost_on) is being lost: when rerun_lost_possible,
 * the batch is routed again on the next loop turn, with lost_on left out, and true is
 * returned (the caller unlinks the client without an error); false: the client gets the
 * error.
 */
bool rerun_after_server_lost(Client *client, Replica *lost_on);
/*
 * The replica whose connection the pending batch lost (routing leaves it out; rerun_arm
 * or rerun_disarm ends this), or NULL.
 */
Replica *rerun_lost_replica(const Client *client);

#endif
