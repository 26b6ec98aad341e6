/*
 * CancelRequest from a client: find the client by the pooler-issued key and forward a
 * CancelRequest with the server's own key on a side connection.
 */
#ifndef PGSPLIT_CANCEL_H
#define PGSPLIT_CANCEL_H

#include "proto.h"

typedef struct Client Client;

/* r is positioned after the request code. Closes the requesting connection. */
void cancel_handle_request(Client *requester, PktReader *r);

#endif
