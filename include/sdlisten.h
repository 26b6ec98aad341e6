/*
 * Listening sockets handed in by a service manager (systemd's socket activation:
 * $LISTEN_PID names this process, $LISTEN_FDS counts the descriptors from fd 3 on).
 * The listener module asks for the one bound to each address it would bind itself,
 * then takes the ones no configured address matched.
 */
#ifndef PGSPLIT_SDLISTEN_H
#define PGSPLIT_SDLISTEN_H

#include "common.h"

#include <sys/socket.h>

/* Read and clear the environment; keep the stream sockets in listening state. */
void sdlisten_collect(void);
/* The handed-in socket bound to exactly this address (or -1); it is taken once. */
int sdlisten_take(const struct sockaddr *addr);
/* Any handed-in socket not taken yet (or -1); *family is its address family. */
int sdlisten_take_any(int *family);
/* How many sockets were handed in (taken or not). */
int sdlisten_count(void);

#endif
