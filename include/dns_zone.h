/*
 * DNS zone tracking for dns_zone_check_period: the zones of cached names (everything
 * after the first dot), each with its last SOA serial. Every period each zone's SOA is
 * asked; a changed serial makes dns.c look that zone's cached names up again. With the
 * period 0 zones are still listed, with serial 0. Owned by the DnsContext; only dns.c
 * calls this.
 */
#ifndef PGSPLIT_DNS_ZONE_H
#define PGSPLIT_DNS_ZONE_H

#include "dns.h"

struct event_base;

typedef struct DnsZones DnsZones;

/* Writes host's zone, lower-cased, without a trailing dot; false if it has none. */
bool dns_zone_of_host(const char *host, char *zone, size_t size) MUST_CHECK;

/* NULL if the timer cannot be made. Starts with checks off (period 0). */
DnsZones *dns_zones_new(DnsContext *ctx, struct event_base *base);
/* After ares_destroy: the SOA callbacks have run, so no query refers to a zone any more. */
void dns_zones_free(DnsZones *zones);
/* 0 stops the checks; zones and their serials are kept. */
void dns_zones_set_period(DnsZones *zones, usec_t period);
/* A name was resolved and cached: track its zone; with checks on, ask its serial at once. */
void dns_zones_note_host(DnsZones *zones, const char *host);
void dns_zones_visit(DnsZones *zones, DnsZoneVisitor fn, void *arg);

#endif
