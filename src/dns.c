/*
 * Host name resolution for server connects: one c-ares channel driven by the libevent
 * loop (the socket-state callback keeps one event per c-ares socket, ares_timeout keeps
 * one timer), a per-name cache of answers and failures, and coalescing of concurrent
 * lookups of the same name into one query. Ports are applied per request, so the cache
 * holds bare addresses. It does not know about pools or connections: callers get
 * sockaddrs through a callback and may cancel their request at any time before it.
 */
#include "dns.h"

#include "list.h"
#include "log.h"

#include <ares.h>
#include <arpa/inet.h>
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
 * (linked == false), no query is outstanding (pending == false) and nobody holds it
 * (holds == 0). While pending, waiters lists the DnsRequests to answer; afterwards
 * either addrs (port 0) or error is set, valid until expires.
 */
typedef struct DnsEntry {
	List node;                      /* in DnsContext.entries while linked */
	DnsContext *ctx;
	char *host;                     /* owned */
	List waiters;                   /* DnsRequest.node */
	bool linked;
	bool pending;                   /* the ares query has not called back yet */
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
};

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
	if (e->linked || e->pending || e->holds > 0)
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

/* Copies the resolver's addresses in its order; false when there are none. */
static bool dns_entry_take_addrs(DnsEntry *e, const struct ares_addrinfo *res)
{
	const struct ares_addrinfo_node *n;
	int count = dns_count_addrs(res);

	if (count == 0)
		return false;
	e->addrs = xcalloc((size_t)count, sizeof(*e->addrs));
	for (n = res->nodes; n; n = n->ai_next) {
		if (n->ai_family != AF_INET && n->ai_family != AF_INET6)
			continue;
		if ((size_t)n->ai_addrlen > sizeof(e->addrs[0]))
			continue;
		memcpy(&e->addrs[e->n_addrs++], n->ai_addr, n->ai_addrlen);
	}
	return e->n_addrs > 0;
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
	if (status == ARES_EDESTRUCTION) {
		/* dns_destroy: waiters are already gone and it frees the entry itself */
		ares_freeaddrinfo(res);
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

/* Starts the query for a new entry; the answer may arrive before this returns. */
static void dns_entry_start_query(DnsEntry *e)
{
	struct ares_addrinfo_hints hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	e->pending = true;
	ares_getaddrinfo(e->ctx->channel, e->host, NULL, &hints, dns_on_addrinfo, e);
	dns_timer_rearm(e->ctx);
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

/* ---- SHOW DNS_HOSTS ---- */

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

/* ---- life cycle ---- */

static bool dns_channel_init(DnsContext *ctx)
{
	struct ares_options opts;
	int optmask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
	int rc;

	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = dns_on_sock_state;
	opts.sock_state_cb_data = ctx;
	opts.timeout = DNS_QUERY_TIMEOUT_MS;
	opts.tries = DNS_QUERY_TRIES;
	rc = ares_init_options(&ctx->channel, &opts, optmask);
	if (rc != ARES_SUCCESS) {
		log_error("dns: cannot initialize c-ares: %s", ares_strerror(rc));
		return false;
	}
	return true;
}

DnsContext *dns_create(struct event_base *base, usec_t max_ttl, usec_t nxdomain_ttl)
{
	DnsContext *ctx;
	int rc = ares_library_init(ARES_LIB_INIT_ALL);

	if (rc != ARES_SUCCESS) {
		log_error("dns: cannot initialize c-ares library: %s", ares_strerror(rc));
		return NULL;
	}
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->base = base;
	ctx->max_ttl = max_ttl;
	ctx->nxdomain_ttl = nxdomain_ttl;
	list_init(&ctx->sockets);
	list_init(&ctx->entries);
	ctx->timer = evtimer_new(base, dns_on_timer, ctx);
	if (!ctx->timer || !dns_channel_init(ctx))
		goto fail;
	return ctx;
fail:
	if (ctx->timer)
		event_free(ctx->timer);
	free(ctx);
	ares_library_cleanup();
	return NULL;
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

/* Must not be called from inside a dns callback. */
void dns_destroy(DnsContext *ctx)
{
	List *node;

	if (!ctx)
		return;
	dns_drop_waiters(ctx);
	/* ends pending queries with ARES_EDESTRUCTION and reports closed sockets */
	ares_destroy(ctx->channel);
	while ((node = list_first(&ctx->sockets)) != NULL)
		dns_socket_free(container_of(node, DnsSocket, node));
	while ((node = list_first(&ctx->entries)) != NULL) {
		DnsEntry *e = container_of(node, DnsEntry, node);
		e->pending = false;
		dns_entry_unlink(e);
	}
	event_free(ctx->timer);
	free(ctx);
	ares_library_cleanup();
}
