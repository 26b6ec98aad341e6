/*
 * Query cancellation, all of it: the cancel keys the pooler issues to its clients (and
 * finds them by), a CancelRequest from a client (forwarded with the server's own key, held
 * until a waiting batch reaches a server, or sent on to the peer whose key it is), and
 * the short side connection that carries a CancelRequest to a server or a peer.
 */
#ifndef PGSPLIT_CANCEL_H
#define PGSPLIT_CANCEL_H

#include "proto.h"

#include <sys/socket.h>

typedef struct Client Client;

/* Give a logged-in client a fresh, unique key (tagged with peer_id), and forget it. */
void cancel_key_issue(Client *client);
void cancel_key_forget(Client *client);
Client *cancel_find_client(uint32_t pid, uint32_t key);

/* r is positioned after the request code. Closes the requesting connection. */
void cancel_handle_request(Client *requester, PktReader *r);

/*
 * What a side connection reports to whoever asked for it (peer.c keeps its SHOW
 * PEER_POOLS counts this way): the request went out (sent) or the connection is over.
 */
typedef struct CancelSendHooks {
	void (*on_sent)(void *arg);
	void (*on_done)(void *arg, bool sent);
	void *arg;
	bool wait_for_close; /* after sending, wait (cancel_wait_timeout) for the other end to close */
} CancelSendHooks;

/*
 * Send a CancelRequest for (pid, key) to addr on a new non-blocking connection; hooks may
 * be NULL (close as soon as it is sent). False if the connection could not be started.
 */
bool cancel_send(const struct sockaddr_storage *addr, socklen_t len, uint32_t pid, uint32_t key,
		 const CancelSendHooks *hooks);

#endif
