/*
 * Service manager notifications (systemd's sd_notify datagram protocol, without
 * libsystemd): tell the manager named by $NOTIFY_SOCKET that the pooler is ready, is
 * reloading, or is stopping. Without $NOTIFY_SOCKET every call does nothing.
 */
#ifndef PGSPLIT_SDNOTIFY_H
#define PGSPLIT_SDNOTIFY_H

#include "common.h"

/* READY=1 (with MAINPID, so a daemonized process is followed): listeners are up. */
void sdnotify_ready(void);
/* RELOADING=1 with the monotonic time the reload began; READY=1 ends it. */
void sdnotify_reloading(void);
/* STOPPING=1: shutdown has begun. */
void sdnotify_stopping(void);
/* Send one message as is; false when $NOTIFY_SOCKET is unset or the send failed. */
bool sdnotify_send(const char *message);

#endif
