/*
 * Asynchronous host name resolution with c-ares bound to the libevent loop: the c-ares
 * socket-state callback maps to libevent events, ares_timeout to one timer. Results are
 * cached for dns_max_ttl (failures for dns_nxdomain_ttl). Numeric addresses resolve
 * without a query. A request can be cancelled; its callback is then never called.
 */
#ifndef PGSPLIT_DNS_H
#define PGSPLIT_DNS_H

#include "common.h"
#include <sys/socket.h>

struct event_base;

typedef struct DnsContext DnsContext;
typedef struct DnsRequest DnsRequest;

/*
 * Called once per request. On success n_addrs >= 1 and addrs[i] are sockaddr_in or
 * sockaddr_in6 with the port already set; the array lives only for the call.
 * On failure n_addrs == 0 and error is a short human-readable reason.
 */
typedef void (*DnsCallback)(void *arg, const struct sockaddr_storage *addrs, int n_addrs, const char *error);

DnsContext *dns_create(struct event_base *base, usec_t max_ttl, usec_t nxdomain_ttl);
void dns_destroy(DnsContext *ctx);

/*
 * Resolve host and call cb(arg, ...). May call cb before returning (cache hit or
 * numeric address) and then returns NULL; otherwise returns a handle for dns_cancel.
 */
DnsRequest *dns_resolve(DnsContext *ctx, const char *host, int port, DnsCallback cb, void *arg);
void dns_cancel(DnsRequest *req);

/* For SHOW DNS_HOSTS: calls fn for each cached name. */
typedef void (*DnsHostVisitor)(void *arg, const char *host, usec_t ttl_left, const char *addrs);
void dns_visit_hosts(DnsContext *ctx, DnsHostVisitor fn, void *arg);

#endif
