/*
 * The optional HTTP endpoint (http_listen_addr:http_listen_port, off while the port is
 * 0): /metrics, /health, /ready, /live and the status page at /, served by libevent's
 * evhttp on the pooler's own event loop. A request is answered in one pass over in-memory state, with nothing
 * that waits on the network.
 */
#ifndef PGSPLIT_HTTP_H
#define PGSPLIT_HTTP_H

#include "config.h"

/*
 * Listen where cfg says (or stop listening when its port is 0); nothing happens when
 * address and port are unchanged. False with err when the new address cannot be bound:
 * the previous listener, if any, is kept.
 */
bool http_apply(const Config *cfg, char *err, size_t errlen);
void http_stop(void);

#endif
