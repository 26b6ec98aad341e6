/*
 * Host name resolution for server connects: one c-ares channel driven by the libevent
 * loop (the socket-state callback keeps one event per c-ares socket, ares_timeout keeps
 * one timer), a per-name cache of answers and failures, and coalescing of concurrent
 * lookups of the same name into one query. Ports are applied per request, so the cache
 * holds bare addresses. It does not know about pools or connections: callers get
 * sockaddrs through a callback and may cancel their request at any time before it.
 * For the zone tracker it also sends SOA queries and re-resolves a zone's cached names,
 * serving the old answer meanwhile and reporting a changed address set to the runtime.
 */
#include "dns.h"

#include "dns_internal.h"
#include "dns_zone.h"
#include "list.h"
#include "log.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Per try; c-ares doubles it on each retry, so a dead server fails after about 3 s. */
#define DNS_QUERY_TIMEOUT_MS 1000
#define DNS_QUERY_TRIES 2

/*
 * One cached or in-flight name. Lifetime: freed once it is off the cache list
 * (linked == false), no query is outstanding (pending and refreshing false) and nobody
 * holds it (holds == 0). While pending, waiters lists the DnsRequests to answer;
 * afterwards either addrs (port 0) or error is set, valid until expires. A refresh
 * (zone serial change) runs with the entry answered and keeps serving addrs meanwhile.
 */
typedef struct DnsEntry {
	List node;                      /* in DnsContext.entries while linked */
	DnsContext *ctx;
	char *host;                     /* owned */
	List waiters;                   /* DnsRequest.node */
	bool linked;
	bool pending;                   /* the ares query has not called back yet */
	bool refreshing;                /* a refresh query has not called back yet */
	int holds;                      /* stack frames that still use the entry */
	usec_t expires;                 /* monotonic */
	struct sockaddr_storage *addrs; /* owned, n_addrs long, ports 0 */
	int n_addrs;
	char *error;                    /* owned; set when n_addrs == 0 */
} DnsEntry;

/* A waiter on a pending entry; freed just before its callback runs or on cancel. */
struct DnsRequest {
	List node; /* in DnsEntry.waiters */
	int port;
	DnsCallback cb;
	void *arg;
};

/* One c-ares socket and the libevent event watching it for c-ares. */
typedef struct DnsSocket {
	List node; /* in DnsContext.sockets */
	ares_socket_t fd;
	short what; /* EV_READ/EV_WRITE as last asked by c-ares */
	struct event *ev;
} DnsSocket;

struct DnsContext {
	struct event_base *base;
	ares_channel channel;
	struct event *timer; /* fires at ares_timeout() so c-ares can retry or give up */
	List sockets;        /* DnsSocket */
	List entries;        /* DnsEntry, cached and pending */
	usec_t max_ttl;      /* success cache time; 0 = no cache */
	usec_t nxdomain_ttl; /* failure cache time; 0 = no cache */
	DnsZones *zones;     /* owned; freed after ares_destroy, whose callbacks reach it */
	int queries;         /* ares queries not yet called back */
	DnsChangeCallback on_change; /* may be NULL */
	void *on_change_arg;
};

/* An SOA query's callback target; freed when c-ares calls back. */
typedef struct DnsSoaQuery {
	DnsContext *ctx;
	DnsSoaCallback cb;
	void *arg;
} DnsSoaQuery;

/* ---- libevent glue ---- */

static void dns_timer_rearm(DnsContext *ctx)
{
	struct timeval tv_buf;
	struct timeval *tv = ares_timeout(ctx->channel, NULL, &tv_buf);

	if (tv)
		evtimer_add(ctx->timer, tv);
	else
		evtimer_del(ctx->timer);
}

static void dns_on_timer(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	DnsContext *ctx = arg;

	ares_process_fd(ctx->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_timer_rearm(ctx);
}

/* Takes ctx, not the DnsSocket: c-ares may close the socket (and we free it) inside. */
static void dns_on_socket(evutil_socket_t fd, short what, void *arg)
{
	DnsContext *ctx = arg;
	ares_socket_t rfd = (what & EV_READ) ? fd : ARES_SOCKET_BAD;
	ares_socket_t wfd = (what & EV_WRITE) ? fd : ARES_SOCKET_BAD;

	ares_process_fd(ctx->channel, rfd, wfd);
	dns_timer_rearm(ctx);
}

static DnsSocket *dns_socket_find(DnsContext *ctx, ares_socket_t fd)
{
	List *pos;

	list_for_each(pos, &ctx->sockets) {
		DnsSocket *s = container_of(pos, DnsSocket, node);
		if (s->fd == fd)
			return s;
	}
	return NULL;
}

static void dns_socket_free(DnsSocket *s)
{
	list_del(&s->node);
	if (s->ev)
		event_free(s->ev);
	free(s);
}

static void dns_socket_watch(DnsContext *ctx, DnsSocket *s, short what)
{
	if (s->ev)
		event_free(s->ev);
	s->what = what;
	s->ev = event_new(ctx->base, s->fd, (short)(what | EV_PERSIST), dns_on_socket, ctx);
	if (!s->ev || event_add(s->ev, NULL) != 0)
		log_error("dns: cannot watch resolver socket %d; its queries will time out",
			  (int)s->fd);
}

/* c-ares tells us which sockets it wants watched; (0, 0) means it closed the socket. */
static void dns_on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	DnsContext *ctx = data;
	DnsSocket *s = dns_socket_find(ctx, fd);
	short what = (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));

	if (!what) {
		if (s)
			dns_socket_free(s);
		return;
	}
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->fd = fd;
		list_append(&ctx->sockets, &s->node);
	} else if (s->what == what && s->ev) {
		return;
	}
	dns_socket_watch(ctx, s, what);
}

/* ---- cache entries ---- */

static DnsEntry *dns_entry_new(DnsContext *ctx, const char *host)
{
	DnsEntry *e = xcalloc(1, sizeof(*e));

	e->ctx = ctx;
	e->host = xstrdup(host);
	list_init(&e->waiters);
	list_append(&ctx->entries, &e->node);
	e->linked = true;
	return e;
}

static void dns_entry_maybe_free(DnsEntry *e)
{
	if (e->linked || e->pending || e->refreshing || e->holds > 0)
		return;
	free(e->host);
	free(e->addrs);
	free(e->error);
	free(e);
}

/* Takes the entry out of the cache; it lives on while a query or a caller holds it. */
static void dns_entry_unlink(DnsEntry *e)
{
	if (!e->linked)
		return;
	list_del(&e->node);
	e->linked = false;
	dns_entry_maybe_free(e);
}

static void dns_purge_expired(DnsContext *ctx)
{
	usec_t now = time_now_mono();
	List *pos, *tmp;

	list_for_each_safe(pos, tmp, &ctx->entries) {
		DnsEntry *e = container_of(pos, DnsEntry, node);
		if (!e->pending && e->expires <= now)
			dns_entry_unlink(e);
	}
}

static DnsEntry *dns_entry_find(DnsContext *ctx, const char *host)
{
	List *pos;

	list_for_each(pos, &ctx->entries) {
		DnsEntry *e = container_of(pos, DnsEntry, node);
		if (strcasecmp(e->host, host) == 0) /* DNS names ignore case */
			return e;
	}
	return NULL;
}

static int dns_count_addrs(const struct ares_addrinfo *res)
{
	const struct ares_addrinfo_node *n;
	int count = 0;

	for (n = res ? res->nodes : NULL; n; n = n->ai_next) {
		if (n->ai_family == AF_INET || n->ai_family == AF_INET6)
			count++;
	}
	return count;
}

/* Copies the resolver's addresses in its order into *out (owned); returns how many. */
static int dns_copy_addrs(const struct ares_addrinfo *res, struct sockaddr_storage **out)
{
	const struct ares_addrinfo_node *n;
	int count = dns_count_addrs(res);
	int used = 0;

	*out = NULL;
	if (count == 0)
		return 0;
	*out = xcalloc((size_t)count, sizeof(**out));
	for (n = res->nodes; n; n = n->ai_next) {
		if (n->ai_family != AF_INET && n->ai_family != AF_INET6)
			continue;
		if ((size_t)n->ai_addrlen > sizeof(**out))
			continue;
		memcpy(&(*out)[used++], n->ai_addr, n->ai_addrlen);
	}
	if (used == 0) {
		free(*out);
		*out = NULL;
	}
	return used;
}

/* Copies the resolver's addresses in its order; false when there are none. */
static bool dns_entry_take_addrs(DnsEntry *e, const struct ares_addrinfo *res)
{
	e->n_addrs = dns_copy_addrs(res, &e->addrs);
	return e->n_addrs > 0;
}

static bool dns_addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)a;
	const struct sockaddr_in *b4 = (const struct sockaddr_in *)b;
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;
	const struct sockaddr_in6 *b6 = (const struct sockaddr_in6 *)b;

	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return memcmp(&a4->sin_addr, &b4->sin_addr, sizeof(a4->sin_addr)) == 0;
	if (a->ss_family == AF_INET6)
		return memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0;
	return false;
}

/* Every address of a is somewhere in b. */
static bool dns_addrs_within(const struct sockaddr_storage *a, int n_a,
			     const struct sockaddr_storage *b, int n_b)
{
	for (int i = 0; i < n_a; i++) {
		bool found = false;
		for (int j = 0; j < n_b && !found; j++)
			found = dns_addr_equal(&a[i], &b[j]);
		if (!found)
			return false;
	}
	return true;
}

bool dns_addr_sets_equal(const struct sockaddr_storage *a, int n_a,
			 const struct sockaddr_storage *b, int n_b)
{
	return dns_addrs_within(a, n_a, b, n_b) && dns_addrs_within(b, n_b, a, n_a);
}

static void dns_entry_set_error(DnsEntry *e, const char *reason)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "could not resolve \"%s\": %s", e->host, reason);
	e->error = xstrdup(buf);
}

/* Records the outcome and how long the cache may keep it. */
static void dns_entry_store(DnsEntry *e, int status, const struct ares_addrinfo *res)
{
	DnsContext *ctx = e->ctx;
	usec_t ttl;

	if (status == ARES_SUCCESS && dns_entry_take_addrs(e, res)) {
		ttl = ctx->max_ttl;
		log_debug("dns: resolved \"%s\" to %d address(es)", e->host, e->n_addrs);
	} else {
		dns_entry_set_error(e, status == ARES_SUCCESS ? "no addresses"
							      : ares_strerror(status));
		ttl = ctx->nxdomain_ttl;
		log_debug("dns: %s", e->error);
	}
	e->expires = time_now_mono() + ttl;
	if (ttl <= 0)
		dns_entry_unlink(e);
	else
		dns_zones_note_host(ctx->zones, e->host);
}

/* ---- answering requests ---- */

static void dns_call(const DnsEntry *e, int port, DnsCallback cb, void *arg)
{
	struct sockaddr_storage *addrs;
	int i;

	if (e->n_addrs == 0) {
		cb(arg, NULL, 0, e->error);
		return;
	}
	addrs = xmalloc((size_t)e->n_addrs * sizeof(*addrs));
	memcpy(addrs, e->addrs, (size_t)e->n_addrs * sizeof(*addrs));
	for (i = 0; i < e->n_addrs; i++) {
		if (addrs[i].ss_family == AF_INET)
			((struct sockaddr_in *)&addrs[i])->sin_port = htons((uint16_t)port);
		else
			((struct sockaddr_in6 *)&addrs[i])->sin6_port = htons((uint16_t)port);
	}
	cb(arg, addrs, e->n_addrs, NULL);
	free(addrs);
}

/*
 * Answers every waiter; the caller holds e. Each request is freed before its callback
 * runs, so a callback may cancel the other waiters (they simply leave the list) or start
 * new lookups.
 */
static void dns_entry_deliver(DnsEntry *e)
{
	List *node;

	while ((node = list_pop(&e->waiters)) != NULL) {
		DnsRequest *req = container_of(node, DnsRequest, node);
		int port = req->port;
		DnsCallback cb = req->cb;
		void *arg = req->arg;

		free(req);
		dns_call(e, port, cb, arg);
	}
}

static void dns_on_addrinfo(void *arg, int status, int timeouts UNUSED, struct ares_addrinfo *res)
{
	DnsEntry *e = arg;

	e->pending = false;
	e->ctx->queries--;
	if (status == ARES_EDESTRUCTION) {
		/* dns_destroy: waiters are already gone and it frees linked entries itself */
		ares_freeaddrinfo(res);
		dns_entry_maybe_free(e);
		return;
	}
	e->holds++; /* storing may take it out of the cache (ttl 0) before delivery */
	dns_entry_store(e, status, res);
	ares_freeaddrinfo(res);
	dns_entry_deliver(e);
	e->holds--;
	dns_entry_maybe_free(e);
}

/* Fills *sa from a numeric IPv4 or IPv6 literal; false if host is a name. */
static bool dns_parse_numeric(const char *host, int port, struct sockaddr_storage *sa)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;

	memset(sa, 0, sizeof(*sa));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return true;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		return true;
	}
	return false;
}

/* Asks for e's addresses; cb may run before this returns. */
static void dns_entry_query(DnsEntry *e, ares_addrinfo_callback cb)
{
	struct ares_addrinfo_hints hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	e->ctx->queries++;
	ares_getaddrinfo(e->ctx->channel, e->host, NULL, &hints, cb, e);
	dns_timer_rearm(e->ctx);
}

/* Starts the query for a new entry; the answer may arrive before this returns. */
static void dns_entry_start_query(DnsEntry *e)
{
	e->pending = true;
	dns_entry_query(e, dns_on_addrinfo);
}

static DnsRequest *dns_request_add(DnsEntry *e, int port, DnsCallback cb, void *arg)
{
	DnsRequest *req = xcalloc(1, sizeof(*req));

	req->port = port;
	req->cb = cb;
	req->arg = arg;
	list_append(&e->waiters, &req->node);
	return req;
}

/* Cache miss: new entry and query; a synchronous answer (hosts file) is delivered here. */
static DnsRequest *dns_resolve_miss(DnsContext *ctx, const char *host, int port, DnsCallback cb,
				    void *arg)
{
	DnsEntry *e = dns_entry_new(ctx, host);
	DnsRequest *req = NULL;

	e->holds++;
	dns_entry_start_query(e);
	if (e->pending)
		req = dns_request_add(e, port, cb, arg);
	else
		dns_call(e, port, cb, arg);
	e->holds--;
	dns_entry_maybe_free(e);
	return req;
}

DnsRequest *dns_resolve(DnsContext *ctx, const char *host, int port, DnsCallback cb, void *arg)
{
	struct sockaddr_storage sa;
	DnsEntry *e;

	if (!host || !*host) {
		cb(arg, NULL, 0, "could not resolve \"\": empty host name");
		return NULL;
	}
	if (dns_parse_numeric(host, port, &sa)) {
		cb(arg, &sa, 1, NULL);
		return NULL;
	}
	dns_purge_expired(ctx);
	e = dns_entry_find(ctx, host);
	if (!e)
		return dns_resolve_miss(ctx, host, port, cb, arg);
	if (e->pending)
		return dns_request_add(e, port, cb, arg);
	e->holds++;
	dns_call(e, port, cb, arg);
	e->holds--;
	dns_entry_maybe_free(e);
	return NULL;
}

void dns_cancel(DnsRequest *req)
{
	if (!req)
		return;
	list_del(&req->node);
	free(req);
}

/* ---- zone support: refreshes and SOA queries ---- */

/* A successful refresh renews the entry; a different address set replaces the old one. */
static void dns_entry_apply_refresh(DnsEntry *e, int status, const struct ares_addrinfo *res)
{
	DnsContext *ctx = e->ctx;
	struct sockaddr_storage *addrs = NULL;
	int n = status == ARES_SUCCESS ? dns_copy_addrs(res, &addrs) : 0;

	if (n == 0) {
		log_debug("dns: looking up \"%s\" again failed (%s); keeping its addresses",
			  e->host, status == ARES_SUCCESS ? "no addresses" : ares_strerror(status));
		return;
	}
	e->expires = time_now_mono() + ctx->max_ttl;
	if (dns_addr_sets_equal(addrs, n, e->addrs, e->n_addrs)) {
		log_debug("dns: \"%s\" still has the same addresses", e->host);
		free(addrs);
		return;
	}
	free(e->addrs);
	e->addrs = addrs;
	e->n_addrs = n;
	if (ctx->on_change)
		ctx->on_change(ctx->on_change_arg, e->host);
}

static void dns_on_refresh(void *arg, int status, int timeouts UNUSED, struct ares_addrinfo *res)
{
	DnsEntry *e = arg;

	e->refreshing = false;
	e->ctx->queries--;
	/* an entry that left the cache meanwhile (expired, or dns_destroy) takes no answer */
	if (status != ARES_EDESTRUCTION && e->linked) {
		e->holds++;
		dns_entry_apply_refresh(e, status, res);
		e->holds--;
	}
	ares_freeaddrinfo(res);
	dns_entry_maybe_free(e);
}

static bool dns_host_in_zone(const char *host, const char *zone)
{
	char buf[256];

	return dns_zone_of_host(host, buf, sizeof(buf)) && strcasecmp(buf, zone) == 0;
}

void dns_refresh_zone(DnsContext *ctx, const char *zone)
{
	List *pos, *tmp;

	dns_purge_expired(ctx);
	list_for_each_safe(pos, tmp, &ctx->entries) {
		DnsEntry *e = container_of(pos, DnsEntry, node);
		if (e->pending || e->refreshing || !dns_host_in_zone(e->host, zone))
			continue;
		if (e->n_addrs == 0) {
			dns_entry_unlink(e); /* a cached failure: the next connect asks afresh */
			continue;
		}
		e->refreshing = true;
		dns_entry_query(e, dns_on_refresh);
	}
}

int dns_count_zone_hosts(DnsContext *ctx, const char *zone)
{
	List *pos;
	int n = 0;

	dns_purge_expired(ctx);
	list_for_each(pos, &ctx->entries) {
		const DnsEntry *e = container_of(pos, DnsEntry, node);
		if (!e->pending && dns_host_in_zone(e->host, zone))
			n++;
	}
	return n;
}

static void dns_on_soa(void *arg, int status, int timeouts UNUSED, unsigned char *abuf, int alen)
{
	DnsSoaQuery *q = arg;
	struct ares_soa_reply *soa = NULL;

	q->ctx->queries--;
	if (status == ARES_SUCCESS)
		status = ares_parse_soa_reply(abuf, alen, &soa);
	if (status == ARES_EDESTRUCTION)
		q->cb(q->arg, DNS_SOA_DESTROYED, 0, NULL);
	else if (status != ARES_SUCCESS)
		q->cb(q->arg, DNS_SOA_FAILED, 0, ares_strerror(status));
	else
		q->cb(q->arg, DNS_SOA_OK, (uint32_t)soa->serial, NULL);
	if (soa)
		ares_free_data(soa);
	free(q);
}

void dns_query_soa(DnsContext *ctx, const char *zone, DnsSoaCallback cb, void *arg)
{
	DnsSoaQuery *q = xcalloc(1, sizeof(*q));

	q->ctx = ctx;
	q->cb = cb;
	q->arg = arg;
	ctx->queries++;
	/* ares_query, not ares_search: the zone name is complete, no search domains apply */
	ares_query(ctx->channel, zone, ns_c_in, ns_t_soa, dns_on_soa, q);
	dns_timer_rearm(ctx);
}

/* ---- SHOW DNS_HOSTS, SHOW DNS_ZONES, SHOW LISTS ---- */

/* Appends "a,b,c" (addresses without ports) to buf; truncates quietly if too long. */
static void dns_format_addrs(const DnsEntry *e, char *buf, size_t size)
{
	size_t len = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < e->n_addrs && len + INET6_ADDRSTRLEN + 2 < size; i++) {
		const struct sockaddr_storage *sa = &e->addrs[i];
		const void *src = sa->ss_family == AF_INET
			? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
			: (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (len > 0)
			buf[len++] = ',';
		if (!inet_ntop(sa->ss_family, src, buf + len, (socklen_t)(size - len)))
			buf[len] = '\0';
		len += strlen(buf + len);
	}
}

void dns_visit_hosts(DnsContext *ctx, DnsHostVisitor fn, void *arg)
{
	char buf[4096];
	usec_t now;
	List *pos;

	dns_purge_expired(ctx);
	now = time_now_mono();
	list_for_each(pos, &ctx->entries) {
		DnsEntry *e = container_of(pos, DnsEntry, node);
		if (e->pending)
			continue;
		dns_format_addrs(e, buf, sizeof(buf));
		fn(arg, e->host, e->expires - now, buf);
	}
}

void dns_visit_zones(DnsContext *ctx, DnsZoneVisitor fn, void *arg)
{
	dns_zones_visit(ctx->zones, fn, arg);
}

int dns_pending_queries(const DnsContext *ctx)
{
	return ctx->queries;
}

/* ---- life cycle ---- */

static bool dns_channel_init(DnsContext *ctx, const char *resolv_conf)
{
	struct ares_options opts;
	int optmask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
	char *path = NULL;
	int rc;

	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = dns_on_sock_state;
	opts.sock_state_cb_data = ctx;
	opts.timeout = DNS_QUERY_TIMEOUT_MS;
	opts.tries = DNS_QUERY_TRIES;
	if (resolv_conf && *resolv_conf) {
		path = xstrdup(resolv_conf); /* c-ares copies it but wants it non-const */
		opts.resolvconf_path = path;
		optmask |= ARES_OPT_RESOLVCONF;
	}
	rc = ares_init_options(&ctx->channel, &opts, optmask);
	if (rc != ARES_SUCCESS)
		log_error("dns: cannot initialize c-ares%s%s: %s", path ? " with " : "",
			  path ? path : "", ares_strerror(rc));
	free(path);
	return rc == ARES_SUCCESS;
}

DnsContext *dns_create_opts(struct event_base *base, const DnsOptions *opts)
{
	DnsContext *ctx;
	int rc = ares_library_init(ARES_LIB_INIT_ALL);

	if (rc != ARES_SUCCESS) {
		log_error("dns: cannot initialize c-ares library: %s", ares_strerror(rc));
		return NULL;
	}
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->base = base;
	ctx->max_ttl = opts->max_ttl;
	ctx->nxdomain_ttl = opts->nxdomain_ttl;
	list_init(&ctx->sockets);
	list_init(&ctx->entries);
	ctx->timer = evtimer_new(base, dns_on_timer, ctx);
	if (!ctx->timer)
		goto fail;
	ctx->zones = dns_zones_new(ctx, base);
	if (!ctx->zones || !dns_channel_init(ctx, opts->resolv_conf))
		goto fail;
	dns_zones_set_period(ctx->zones, opts->zone_check_period);
	return ctx;
fail:
	dns_zones_free(ctx->zones);
	if (ctx->timer)
		event_free(ctx->timer);
	free(ctx);
	ares_library_cleanup();
	return NULL;
}

/* Answers cached under the old TTLs are kept no longer than the new ones allow. */
static void dns_clamp_expiry(DnsContext *ctx)
{
	usec_t now = time_now_mono();
	List *pos;

	list_for_each(pos, &ctx->entries) {
		DnsEntry *e = container_of(pos, DnsEntry, node);
		usec_t limit = now + (e->n_addrs > 0 ? ctx->max_ttl : ctx->nxdomain_ttl);
		if (!e->pending && e->expires > limit)
			e->expires = limit;
	}
	dns_purge_expired(ctx);
}

void dns_configure(DnsContext *ctx, const DnsOptions *opts)
{
	ctx->max_ttl = opts->max_ttl;
	ctx->nxdomain_ttl = opts->nxdomain_ttl;
	dns_clamp_expiry(ctx);
	dns_zones_set_period(ctx->zones, opts->zone_check_period);
}

void dns_set_change_callback(DnsContext *ctx, DnsChangeCallback cb, void *arg)
{
	ctx->on_change = cb;
	ctx->on_change_arg = arg;
}

/* Drops every waiter without calling it, as dns_destroy promises. */
static void dns_drop_waiters(DnsContext *ctx)
{
	List *pos;
	List *node;

	list_for_each(pos, &ctx->entries) {
		DnsEntry *e = container_of(pos, DnsEntry, node);
		while ((node = list_pop(&e->waiters)) != NULL)
			free(container_of(node, DnsRequest, node));
	}
}

void dns_destroy(DnsContext *ctx)
{
	List *node;

	if (!ctx)
		return;
	dns_drop_waiters(ctx);
	/*
	 * Ends pending queries with ARES_EDESTRUCTION and reports closed sockets. The SOA
	 * callbacks reach the zone tracker, so it is freed only afterwards.
	 */
	ares_destroy(ctx->channel);
	while ((node = list_first(&ctx->sockets)) != NULL)
		dns_socket_free(container_of(node, DnsSocket, node));
	dns_zones_free(ctx->zones);
	while ((node = list_first(&ctx->entries)) != NULL) {
		DnsEntry *e = container_of(node, DnsEntry, node);
		e->pending = false;
		e->refreshing = false;
		dns_entry_unlink(e);
	}
	event_free(ctx->timer);
	free(ctx);
	ares_library_cleanup();
}
