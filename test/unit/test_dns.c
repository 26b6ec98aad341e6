/*
 * Tests for dns.c on a real event_base: numeric literals, hosts-file and failing lookups
 * through c-ares, the answer and failure cache, coalescing, cancellation (also from
 * inside another callback) and teardown with queries still outstanding. The machine may
 * have no working DNS server, so failing lookups are only required to end, cleanly and
 * within a bound, not with one particular reason.
 */
#include "dns.h"

#include "tap.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>

#define WAIT_LIMIT (15 * USEC_PER_SEC)

typedef struct Result {
	int calls;
	int n_addrs;
	struct sockaddr_storage addrs[16];
	char error[256];
	DnsRequest *cancel_other; /* cancelled from inside this callback */
	DnsContext *again_ctx;    /* if set, the callback resolves again_host into *again */
	const char *again_host;
	struct Result *again;
	DnsRequest *again_req;
} Result;

/* A resolver with these cache times, the system's resolv.conf and no zone checks. */
static DnsContext *ctx_with_ttls(struct event_base *base, usec_t max_ttl, usec_t nxdomain_ttl)
{
	DnsOptions opts = { .max_ttl = max_ttl, .nxdomain_ttl = nxdomain_ttl };
	return dns_create_opts(base, &opts);
}

static void on_result(void *arg, const struct sockaddr_storage *addrs, int n_addrs,
		      const char *error)
{
	Result *r = arg;

	r->calls++;
	r->n_addrs = n_addrs;
	for (int i = 0; i < n_addrs && i < (int)ARRAY_SIZE(r->addrs); i++)
		r->addrs[i] = addrs[i];
	snprintf(r->error, sizeof(r->error), "%s", error ? error : "");
	if (r->cancel_other) {
		dns_cancel(r->cancel_other);
		r->cancel_other = NULL;
	}
	if (r->again_ctx) {
		r->again_req = dns_resolve(r->again_ctx, r->again_host, 7, on_result, r->again);
		r->again_ctx = NULL;
	}
}

static void on_tick(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
}

/* Runs the loop until every result in rs has been called back or the limit passes. */
static bool wait_all(struct event_base *base, Result **rs, int n)
{
	usec_t deadline = time_now_mono() + WAIT_LIMIT;
	struct timeval tick = { 0, 100000 };
	struct event *ev = event_new(base, -1, EV_PERSIST, on_tick, NULL);
	bool done;

	event_add(ev, &tick); /* keeps the loop from returning early when nothing is pending */
	for (;;) {
		done = true;
		for (int i = 0; i < n; i++)
			done = done && rs[i]->calls > 0;
		if (done || time_now_mono() >= deadline)
			break;
		event_base_loop(base, EVLOOP_ONCE);
	}
	event_free(ev);
	return done;
}

static bool wait_one(struct event_base *base, Result *r)
{
	return wait_all(base, &r, 1);
}

/* Runs the loop for a while, for checks that a callback does not happen. */
static void run_for(struct event_base *base, usec_t usec)
{
	struct timeval tv = { (time_t)(usec / USEC_PER_SEC), (suseconds_t)(usec % USEC_PER_SEC) };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static int port_of(const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

static bool is_loopback(const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET)
		return ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) == INADDR_LOOPBACK;
	if (sa->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

static void test_numeric_v4(void)
{
	struct event_base *base = event_base_new();
	DnsContext *ctx = ctx_with_ttls(base, 60 * USEC_PER_SEC, 15 * USEC_PER_SEC);
	Result r = { 0 };
	char text[INET_ADDRSTRLEN];

	CHECK(ctx != NULL);
	CHECK(dns_resolve(ctx, "10.1.2.3", 5432, on_result, &r) == NULL);
	CHECK(r.calls == 1);
	CHECK(r.n_addrs == 1);
	CHECK(r.addrs[0].ss_family == AF_INET);
	CHECK(port_of(&r.addrs[0]) == 5432);
	inet_ntop(AF_INET, &((struct sockaddr_in *)&r.addrs[0])->sin_addr, text, sizeof(text));
	CHECK_STR(text, "10.1.2.3");
	dns_destroy(ctx);
	event_base_free(base);
}

static void test_numeric_v6(void)
{
	struct event_base *base = event_base_new();
	DnsContext *ctx = ctx_with_ttls(base, 60 * USEC_PER_SEC, 15 * USEC_PER_SEC);
	Result r = { 0 };
	char text[INET6_ADDRSTRLEN];

	CHECK(dns_resolve(ctx, "2001:db8::5", 6432, on_result, &r) == NULL);
	CHECK(r.calls == 1);
	CHECK(r.n_addrs == 1);
	CHECK(r.addrs[0].ss_family == AF_INET6);
	CHECK(port_of(&r.addrs[0]) == 6432);
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&r.addrs[0])->sin6_addr, text, sizeof(text));
	CHECK_STR(text, "2001:db8::5");
	dns_destroy(ctx);
	event_base_free(base);
}

static void test_empty_host(void)
{
	struct event_base *base = event_base_new();
	DnsContext *ctx = ctx_with_ttls(base, 0, 0);
	Result r = { 0 };

	CHECK(dns_resolve(ctx, "", 5432, on_result, &r) == NULL);
	CHECK(r.calls == 1);
	CHECK(r.n_addrs == 0);
	CHECK(strstr(r.error, "could not resolve") != NULL);
	dns_destroy(ctx);
	event_base_free(base);
}

/* c-ares answers "localhost" from the hosts file, possibly before dns_resolve returns. */
static void test_localhost(void)
{
	struct event_base *base = event_base_new();
	DnsContext *ctx = ctx_with_ttls(base, 0, 0);
	Result r = { 0 };
	bool all_loopback = true;

	(void)dns_resolve(ctx, "localhost", 5433, on_result, &r);
	CHECK(wait_one(base, &r));
	CHECK(r.calls == 1);
	CHECK(r.n_addrs >= 1);
	CHECK_STR(r.error, "");
	for (int i = 0; i < r.n_addrs; i++)
		all_loopback = all_loopback && is_loopback(&r.addrs[i]) &&
			       port_of(&r.addrs[i]) == 5433;
	CHECK(all_loopback);
	dns_destroy(ctx);
	event_base_free(base);
}

static void test_nxdomain(void)
{
	struct event_base *base = event_base_new();
	DnsContext *ctx = ctx_with_ttls(base, 0, 0);
	Result r = { 0 };
	usec_t start = time_now_mono();

	(void)dns_resolve(ctx, "no-such-host.invalid", 5432, on_result, &r);
	CHECK(wait_one(base, &r));
	CHECK(time_now_mono() - start < WAIT_LIMIT);
	CHECK(r.calls == 1);
	CHECK(r.n_addrs == 0);
	CHECK(strstr(r.error, "could not resolve \"no-such-host.invalid\": ") == r.error);
	printf("# reason: %s (%.1f s)\n", r.error,
	       (double)(time_now_mono() - start) / USEC_PER_SEC);
	dns_destroy(ctx);
	event_base_free(base);
}

typedef struct Visit {
	int count;
	char host[64];
	usec_t ttl_left;
	char addrs[256];
} Visit;

static void on_visit(void *arg, const char *host, usec_t ttl_left, const char *addrs)
{
	Visit *v = arg;

	if (strcmp(host, "localhost") == 0) {
		snprintf(v->host, sizeof(v->host), "%s", host);
		snprintf(v->addrs, sizeof(v->addrs), "%s", addrs);
		v->ttl_left = ttl_left;
	}
	v->count++;
}

static void test_cache_hit(void)
{
	struct event_base *base = event_base_new();
	DnsContext *ctx = ctx_with_ttls(base, 60 * USEC_PER_SEC, 60 * USEC_PER_SEC);
	Result r1 = { 0 }, r2 = { 0 }, f1 = { 0 }, f2 = { 0 };
	Visit v = { 0 };

	(void)dns_resolve(ctx, "localhost", 1, on_result, &r1);
	(void)dns_resolve(ctx, "no-such-host.invalid", 1, on_result, &f1);
	CHECK(wait_all(base, (Result *[]){ &r1, &f1 }, 2));

	CHECK(dns_resolve(ctx, "localhost", 2, on_result, &r2) == NULL);
	CHECK(r2.calls == 1);
	CHECK(r2.n_addrs == r1.n_addrs);
	CHECK(r2.n_addrs >= 1 && port_of(&r2.addrs[0]) == 2);

	CHECK(dns_resolve(ctx, "no-such-host.invalid", 1, on_result, &f2) == NULL);
	CHECK(f2.calls == 1);
	CHECK(f2.n_addrs == 0);
	CHECK_STR(f2.error, f1.error);

	dns_visit_hosts(ctx, on_visit, &v);
	CHECK(v.count == 2);
	CHECK_STR(v.host, "localhost");
	CHECK(v.ttl_left > 0 && v.ttl_left <= 60 * USEC_PER_SEC);
	CHECK(strstr(v.addrs, "127.0.0.1") != NULL || strstr(v.addrs, "::1") != NULL);
	dns_destroy(ctx);
	event_base_free(base);
}

/* With max_ttl 0 nothing stays cached, but lookups still work. */
static void test_no_cache(void)
{
	struct event_base *base = event_base_new();
	DnsContext *ctx = ctx_with_ttls(base, 0, 0);
	Result r = { 0 };
	Visit v = { 0 };

	(void)dns_resolve(ctx, "localhost", 1, on_result, &r);
	CHECK(wait_one(base, &r));
	CHECK(r.n_addrs >= 1);
	dns_visit_hosts(ctx, on_visit, &v);
	CHECK(v.count == 0);
	dns_destroy(ctx);
	event_base_free(base);
}

static void test_cache_expiry(void)
{
	struct event_base *base = event_base_new();
	DnsContext *ctx = ctx_with_ttls(base, 100000, 100000);
	Result r = { 0 };
	Visit v1 = { 0 }, v2 = { 0 };

	(void)dns_resolve(ctx, "localhost", 1, on_result, &r);
	CHECK(wait_one(base, &r));
	dns_visit_hosts(ctx, on_visit, &v1);
	CHECK(v1.count == 1);
	run_for(base, 150000);
	dns_visit_hosts(ctx, on_visit, &v2);
	CHECK(v2.count == 0);
	dns_destroy(ctx);
	event_base_free(base);
}

/* A callback may look up the name it was just answered for, with and without cache. */
static void check_resolve_again(usec_t ttl, bool expect_sync)
{
	struct event_base *base = event_base_new();
	DnsContext *ctx = ctx_with_ttls(base, ttl, ttl);
	Result first = { 0 }, second = { 0 };

	first.again_ctx = ctx;
	first.again_host = "again.invalid";
	first.again = &second;
	CHECK(dns_resolve(ctx, "again.invalid", 1, on_result, &first) != NULL);
	CHECK(wait_one(base, &first));
	CHECK((first.again_req == NULL) == expect_sync);
	CHECK(wait_one(base, &second));
	CHECK(second.calls == 1);
	CHECK_STR(second.error, first.error);
	dns_destroy(ctx);
	event_base_free(base);
}

static void test_resolve_from_callback(void)
{
	check_resolve_again(60 * USEC_PER_SEC, true);
	check_resolve_again(0, false);
}

/* Names not in the hosts file go to the (possibly unreachable) DNS server: async. */
static void test_coalesce(void)
{
	struct event_base *base = event_base_new();
	DnsContext *ctx = ctx_with_ttls(base, 60 * USEC_PER_SEC, 60 * USEC_PER_SEC);
	Result a = { 0 }, b = { 0 };
	DnsRequest *ra = dns_resolve(ctx, "coalesce.invalid", 1, on_result, &a);
	DnsRequest *rb = dns_resolve(ctx, "coalesce.invalid", 2, on_result, &b);
	Visit v = { 0 };

	CHECK(ra != NULL);
	CHECK(rb != NULL);
	CHECK(a.calls == 0 && b.calls == 0);
	dns_visit_hosts(ctx, on_visit, &v);
	CHECK(v.count == 0); /* one pending entry, not shown until answered */
	CHECK(wait_all(base, (Result *[]){ &a, &b }, 2));
	CHECK(a.calls == 1 && b.calls == 1);
	CHECK_STR(a.error, b.error);
	dns_visit_hosts(ctx, on_visit, &v);
	CHECK(v.count == 1);
	dns_destroy(ctx);
	event_base_free(base);
}

static void test_cancel(void)
{
	struct event_base *base = event_base_new();
	DnsContext *ctx = ctx_with_ttls(base, 0, 0);
	Result a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
	DnsRequest *ra = dns_resolve(ctx, "cancel-a.invalid", 1, on_result, &a);
	DnsRequest *rb = dns_resolve(ctx, "cancel-b.invalid", 1, on_result, &b);
	DnsRequest *rc = dns_resolve(ctx, "cancel-b.invalid", 1, on_result, &c);
	DnsRequest *rd = dns_resolve(ctx, "cancel-a.invalid", 1, on_result, &d);

	CHECK(ra && rb && rc && rd);
	dns_cancel(ra);      /* plain cancel; d still waits on the same query */
	b.cancel_other = rc; /* waiters are answered in order, so b runs first and drops c */
	CHECK(wait_all(base, (Result *[]){ &b, &d }, 2));
	run_for(base, 200000);
	CHECK(a.calls == 0);
	CHECK(b.calls == 1);
	CHECK(c.calls == 0);
	CHECK(d.calls == 1);
	dns_destroy(ctx);
	event_base_free(base);
}

/* Outstanding requests are dropped silently; ASan/LSan checks that nothing leaks. */
static void test_destroy_outstanding(void)
{
	struct event_base *base = event_base_new();
	DnsContext *ctx = ctx_with_ttls(base, 60 * USEC_PER_SEC, 60 * USEC_PER_SEC);
	Result a = { 0 }, b = { 0 }, c = { 0 };

	CHECK(dns_resolve(ctx, "destroy-a.invalid", 1, on_result, &a) != NULL);
	CHECK(dns_resolve(ctx, "destroy-a.invalid", 1, on_result, &b) != NULL);
	CHECK(dns_resolve(ctx, "destroy-b.invalid", 1, on_result, &c) != NULL);
	event_base_loop(base, EVLOOP_NONBLOCK);
	dns_destroy(ctx);
	CHECK(a.calls == 0 && b.calls == 0 && c.calls == 0);
	run_for(base, 100000); /* no stray events left behind */
	CHECK(a.calls == 0 && b.calls == 0 && c.calls == 0);
	event_base_free(base);
}

TAP_MAIN({ "numeric_v4", test_numeric_v4 }, { "numeric_v6", test_numeric_v6 },
	 { "empty_host", test_empty_host }, { "localhost", test_localhost },
	 { "nxdomain", test_nxdomain }, { "cache_hit", test_cache_hit },
	 { "no_cache", test_no_cache }, { "cache_expiry", test_cache_expiry },
	 { "resolve_from_callback", test_resolve_from_callback }, { "coalesce", test_coalesce },
	 { "cancel", test_cancel }, { "destroy_outstanding", test_destroy_outstanding })
