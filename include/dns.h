/*
 * Asynchronous host name resolution with c-ares bound to the libevent loop: the c-ares
 * socket-state callback maps to libevent events, ares_timeout to one timer. Results are
 * cached for dns_max_ttl (failures for dns_nxdomain_ttl). Numeric addresses resolve
 * without a query. A request can be cancelled; its callback is then never called.
 * With a zone check period, cached names are looked up again when their zone's SOA
 * serial changes (dns_zone.c), and a change of addresses is reported to the runtime.
 */
#ifndef PGSPLIT_DNS_H
#define PGSPLIT_DNS_H

#include "common.h"
#include <sys/socket.h>

struct event_base;

typedef struct DnsContext DnsContext;
typedef struct DnsRequest DnsRequest;

/* Resolver settings; dns_configure applies all but resolv_conf, fixed at creation. */
typedef struct DnsOptions {
	usec_t max_ttl;           /* success cache time; 0 = no cache */
	usec_t nxdomain_ttl;      /* failure cache time; 0 = no cache */
	usec_t zone_check_period; /* SOA serial poll period; 0 = zones listed, not checked */
	const char *resolv_conf;  /* NULL or "" = the system's resolv.conf */
} DnsOptions;

/*
 * Called once per request. On success n_addrs >= 1 and addrs[i] are sockaddr_in or
 * sockaddr_in6 with the port already set; the array lives only for the call.
 * On failure n_addrs == 0 and error is a short human-readable reason.
 */
typedef void (*DnsCallback)(void *arg, const struct sockaddr_storage *addrs, int n_addrs, const char *error);

/* NULL (after logging why) if c-ares cannot be set up. */
DnsContext *dns_create_opts(struct event_base *base, const DnsOptions *opts);
/* New TTLs (cached entries are shortened to them) and zone check period; for reload. */
void dns_configure(DnsContext *ctx, const DnsOptions *opts);
/* Must not be called from inside a dns callback; outstanding requests are dropped. */
void dns_destroy(DnsContext *ctx);

/*
 * Resolve host and call cb(arg, ...). May call cb before returning (cache hit or
 * numeric address) and then returns NULL; otherwise returns a handle for dns_cancel.
 */
DnsRequest *dns_resolve(DnsContext *ctx, const char *host, int port, DnsCallback cb, void *arg);
void dns_cancel(DnsRequest *req);

/*
 * Called when a zone check re-resolved a cached host and its set of addresses changed
 * (the cache already holds the new set). It must not destroy the context.
 */
typedef void (*DnsChangeCallback)(void *arg, const char *host);
void dns_set_change_callback(DnsContext *ctx, DnsChangeCallback cb, void *arg);

/* For SHOW DNS_HOSTS: calls fn for each cached name. */
typedef void (*DnsHostVisitor)(void *arg, const char *host, usec_t ttl_left, const char *addrs);
void dns_visit_hosts(DnsContext *ctx, DnsHostVisitor fn, void *arg);

/* For SHOW DNS_ZONES: each zone, its last SOA serial (0 before the first), its cached names. */
typedef void (*DnsZoneVisitor)(void *arg, const char *zone, uint32_t serial, int n_hosts);
void dns_visit_zones(DnsContext *ctx, DnsZoneVisitor fn, void *arg);

/* Resolver queries in flight: address lookups, refreshes and SOA queries. */
int dns_pending_queries(const DnsContext *ctx);

#endif
