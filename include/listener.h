/*
 * Listening sockets: TCP on listen_addr:listen_port (IPv4 and IPv6, "*" for all) and the
 * unix socket in unix_socket_dir. Accepts and hands each new fd to the client module.
 */
#ifndef PGSPLIT_LISTENER_H
#define PGSPLIT_LISTENER_H

#include "common.h"

bool listener_start(void) MUST_CHECK;
void listener_pause(void);
void listener_close_tcp(void);
void listener_resume(void);
void listener_stop(void);

#endif
