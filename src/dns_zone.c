/*
 * Zone tracking for dns_zone_check_period (see dns_zone.h). A zone is remembered while
 * the cache holds names in it, whatever the period (PgBouncer lists zones with serial 0
 * when it does not check them); each timer tick drops empty zones and asks the others'
 * SOA serials. The first serial seen is only recorded; a different one later makes
 * dns.c re-resolve the zone's cached names. A failed SOA query keeps the last serial.
 */
#include "dns_zone.h"

#include "dns_internal.h"
#include "list.h"
#include "log.h"

#include <ctype.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * One tracked zone. Lifetime: freed once it is off the list (linked == false) and its
 * SOA query, if any, has called back (soa_pending == false).
 */
typedef struct DnsZone {
	List node;       /* in DnsZones.zones while linked */
	DnsZones *owner;
	char *name;      /* owned, lower case */
	uint32_t serial; /* valid when has_serial */
	bool has_serial;
	bool linked;
	bool soa_pending;
} DnsZone;

struct DnsZones {
	DnsContext *ctx;     /* the owner, which outlives us */
	struct event *timer; /* persistent, every period while period > 0 */
	usec_t period;
	List zones;          /* DnsZone */
};

bool dns_zone_of_host(const char *host, char *zone, size_t size)
{
	const char *dot = host ? strchr(host, '.') : NULL;
	size_t len;

	if (!dot)
		return false;
	len = strlen(dot + 1);
	if (len > 0 && dot[len] == '.')
		len--; /* "db.example." names the zone "example" */
	if (len == 0 || len >= size)
		return false;
	for (size_t i = 0; i < len; i++)
		zone[i] = (char)tolower((unsigned char)dot[1 + i]);
	zone[len] = '\0';
	return true;
}

/* ---- one zone ---- */

static void dns_zone_maybe_free(DnsZone *z)
{
	if (z->linked || z->soa_pending)
		return;
	free(z->name);
	free(z);
}

static void dns_zone_unlink(DnsZone *z)
{
	list_del(&z->node);
	z->linked = false;
	dns_zone_maybe_free(z);
}

static void dns_zone_serial_seen(DnsZone *z, uint32_t serial)
{
	if (!z->has_serial) {
		log_debug("dns: zone \"%s\" has serial %u", z->name, serial);
		z->serial = serial;
		z->has_serial = true;
		return;
	}
	if (serial == z->serial)
		return;
	log_debug("dns: zone \"%s\" serial changed from %u to %u, looking up its hosts again",
		  z->name, z->serial, serial);
	z->serial = serial;
	dns_refresh_zone(z->owner->ctx, z->name);
}

static void dns_zone_on_soa(void *arg, DnsSoaStatus status, uint32_t serial, const char *error)
{
	DnsZone *z = arg;

	z->soa_pending = false;
	if (!z->linked) {
		dns_zone_maybe_free(z); /* dropped while its query ran */
		return;
	}
	if (status == DNS_SOA_DESTROYED)
		return; /* dns_zones_free follows */
	if (status == DNS_SOA_FAILED) {
		log_debug("dns: SOA query for zone \"%s\" failed (%s); keeping its serial", z->name,
			  error);
		return;
	}
	dns_zone_serial_seen(z, serial);
}

static void dns_zone_check(DnsZone *z)
{
	if (z->soa_pending)
		return; /* a slow server: the previous check is still running */
	z->soa_pending = true;
	dns_query_soa(z->owner->ctx, z->name, dns_zone_on_soa, z);
}

static DnsZone *dns_zone_find(DnsZones *zones, const char *name)
{
	List *pos;

	list_for_each(pos, &zones->zones) {
		DnsZone *z = container_of(pos, DnsZone, node);
		if (strcasecmp(z->name, name) == 0)
			return z;
	}
	return NULL;
}

/* ---- the tracker ---- */

/* Forgets zones whose names have all left the cache. */
static void dns_zones_prune(DnsZones *zones)
{
	List *pos, *tmp;

	list_for_each_safe(pos, tmp, &zones->zones) {
		DnsZone *z = container_of(pos, DnsZone, node);
		if (dns_count_zone_hosts(zones->ctx, z->name) == 0) {
			log_debug("dns: no cached name left in zone \"%s\", forgetting it",
				  z->name);
			dns_zone_unlink(z);
		}
	}
}

static void dns_zones_on_timer(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	DnsZones *zones = arg;
	List *pos, *tmp;

	dns_zones_prune(zones);
	list_for_each_safe(pos, tmp, &zones->zones)
		dns_zone_check(container_of(pos, DnsZone, node));
}

DnsZones *dns_zones_new(DnsContext *ctx, struct event_base *base)
{
	DnsZones *zones = xcalloc(1, sizeof(*zones));

	zones->ctx = ctx;
	list_init(&zones->zones);
	zones->timer = event_new(base, -1, EV_PERSIST, dns_zones_on_timer, zones);
	if (!zones->timer) {
		free(zones);
		return NULL;
	}
	return zones;
}

static void dns_zones_forget_all(DnsZones *zones)
{
	List *node;

	while ((node = list_first(&zones->zones)) != NULL)
		dns_zone_unlink(container_of(node, DnsZone, node));
}

void dns_zones_free(DnsZones *zones)
{
	if (!zones)
		return;
	dns_zones_forget_all(zones);
	event_free(zones->timer);
	free(zones);
}

void dns_zones_set_period(DnsZones *zones, usec_t period)
{
	struct timeval tv;

	if (period < 0)
		period = 0;
	if (period == zones->period)
		return;
	zones->period = period;
	event_del(zones->timer);
	if (period == 0)
		return; /* zones stay listed with their last serial */
	tv.tv_sec = (time_t)(period / USEC_PER_SEC);
	tv.tv_usec = (suseconds_t)(period % USEC_PER_SEC);
	if (event_add(zones->timer, &tv) != 0)
		log_error("dns: cannot start the zone check timer; zones will not be checked");
}

void dns_zones_note_host(DnsZones *zones, const char *host)
{
	char name[256];
	DnsZone *z;

	if (!dns_zone_of_host(host, name, sizeof(name)) || dns_zone_find(zones, name))
		return;
	z = xcalloc(1, sizeof(*z));
	z->owner = zones;
	z->name = xstrdup(name);
	z->linked = true;
	list_append(&zones->zones, &z->node);
	log_debug("dns: tracking zone \"%s\"", z->name);
	/* the baseline serial now, so a change before the first tick is not missed */
	if (zones->period > 0)
		dns_zone_check(z);
}

void dns_zones_visit(DnsZones *zones, DnsZoneVisitor fn, void *arg)
{
	List *pos;

	dns_zones_prune(zones);
	list_for_each(pos, &zones->zones) {
		DnsZone *z = container_of(pos, DnsZone, node);
		int n_hosts = dns_count_zone_hosts(zones->ctx, z->name);
		fn(arg, z->name, z->has_serial ? z->serial : 0, n_hosts);
	}
}
