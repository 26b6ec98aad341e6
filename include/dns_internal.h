/*
 * What dns.c offers the zone tracker (dns_zone.c) and nothing else: SOA queries on the
 * shared c-ares channel, re-resolving the cached names of one zone, counting them, and
 * the address-set comparison that decides whether a refreshed name changed.
 */
#ifndef PGSPLIT_DNS_INTERNAL_H
#define PGSPLIT_DNS_INTERNAL_H

#include "dns.h"

#include <sys/socket.h>

typedef enum DnsSoaStatus {
	DNS_SOA_OK,        /* serial is valid */
	DNS_SOA_FAILED,    /* no usable answer; error says why */
	DNS_SOA_DESTROYED, /* dns_destroy is running: touch nothing but the callback's own state */
} DnsSoaStatus;

/* error is NULL unless status is DNS_SOA_FAILED. */
typedef void (*DnsSoaCallback)(void *arg, DnsSoaStatus status, uint32_t serial, const char *error);

/* Asks for zone's SOA record; cb runs exactly once, possibly before this returns. */
void dns_query_soa(DnsContext *ctx, const char *zone, DnsSoaCallback cb, void *arg);

/*
 * Looks up every cached name of zone again. Each keeps serving its old addresses until
 * the new answer arrives; a failed refresh keeps them. Cached failures are dropped so
 * the next connect asks afresh.
 */
void dns_refresh_zone(DnsContext *ctx, const char *zone);

/* Cached (answered, unexpired) names whose zone is zone. */
int dns_count_zone_hosts(DnsContext *ctx, const char *zone);

/* Same addresses, ignoring order, duplicates and ports. */
bool dns_addr_sets_equal(const struct sockaddr_storage *a, int n_a,
			 const struct sockaddr_storage *b, int n_b);

#endif
