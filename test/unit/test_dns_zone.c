/*
 * Tests for DNS zone tracking: the pure helpers (a host's zone, address-set equality) and
 * the tracker inside a real DnsContext talking to a tiny DNS server in this process (UDP
 * on port 53 of a spare loopback address, as c-ares 1.18 takes no port in resolv.conf;
 * without root those tests are skipped). Covered: zone listing and counts, pruning on
 * expiry, first serial, serial-driven refresh and the change callback, failed SOA and
 * failed refresh, TTL reconfiguration, teardown with queries in flight (for ASan).
 */
#include "dns.h"
#include "dns_internal.h"
#include "dns_zone.h"

#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#define WAIT_LIMIT (10 * USEC_PER_SEC)

/* ---- pure helpers ---- */

static bool zone_is(const char *host, const char *want)
{
	char buf[256];

	if (!dns_zone_of_host(host, buf, sizeof(buf)))
		return want == NULL;
	return want != NULL && strcmp(buf, want) == 0;
}

static void test_zone_of_host(void)
{
	char small[4];

	CHECK(zone_is("db.example.com", "example.com"));
	CHECK(zone_is("DB.Example.COM", "example.com"));
	CHECK(zone_is("db.example.com.", "example.com"));
	CHECK(zone_is("a.b", "b"));
	CHECK(zone_is("localhost", NULL));
	CHECK(zone_is("db.", NULL));
	CHECK(zone_is("db..", NULL));
	CHECK(zone_is("", NULL));
	CHECK(zone_is(NULL, NULL));
	CHECK(!dns_zone_of_host("db.example.com", small, sizeof(small))); /* too long */
	CHECK(dns_zone_of_host("db.abc", small, sizeof(small)));
	CHECK_STR(small, "abc");
}

static struct sockaddr_storage v4(const char *text, int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, text, &sin->sin_addr);
	return ss;
}

static struct sockaddr_storage v6(const char *text)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, text, &sin6->sin6_addr);
	return ss;
}

static void test_addr_sets_equal(void)
{
	struct sockaddr_storage a[] = { v4("10.0.0.1", 0), v4("10.0.0.2", 0), v6("2001:db8::1") };
	struct sockaddr_storage b[] = { v6("2001:db8::1"), v4("10.0.0.2", 0), v4("10.0.0.1", 0) };
	struct sockaddr_storage c[] = { v4("10.0.0.1", 0), v4("10.0.0.3", 0), v6("2001:db8::1") };
	struct sockaddr_storage dup[] = { v4("10.0.0.1", 0), v4("10.0.0.1", 0) };
	struct sockaddr_storage one[] = { v4("10.0.0.1", 5432) };
	struct sockaddr_storage mapped[] = { v6("::ffff:10.0.0.1") };

	CHECK(dns_addr_sets_equal(a, 3, a, 3));
	CHECK(dns_addr_sets_equal(a, 3, b, 3)); /* order does not matter */
	CHECK(!dns_addr_sets_equal(a, 3, c, 3));
	CHECK(!dns_addr_sets_equal(a, 3, a, 2)); /* a subset is a change */
	CHECK(!dns_addr_sets_equal(a, 2, a, 3));
	CHECK(dns_addr_sets_equal(dup, 2, one, 1)); /* duplicates and ports are ignored */
	CHECK(!dns_addr_sets_equal(one, 1, mapped, 1)); /* families differ */
	CHECK(dns_addr_sets_equal(NULL, 0, NULL, 0));
	CHECK(!dns_addr_sets_equal(one, 1, NULL, 0));
}

/* ---- a tiny DNS server on the test's event loop ---- */

#define FAKE_NAMES 4

typedef struct FakeDns {
	int fd;
	struct event *ev;
	char addr[32];                 /* the loopback address it listens on, port 53 */
	char name[FAKE_NAMES][64];     /* A records; an empty address removes one */
	char ipv4[FAKE_NAMES][16];
	char zone[64];                 /* the one zone with an SOA record */
	uint32_t serial;
	bool soa_off;                  /* answer the zone's SOA with NXDOMAIN */
	bool silent;                   /* drop every query */
	int soa_queries;
} FakeDns;

static const char *fake_a(const FakeDns *f, const char *name)
{
	for (int i = 0; i < FAKE_NAMES; i++)
		if (f->name[i][0] && strcasecmp(f->name[i], name) == 0 && f->ipv4[i][0])
			return f->ipv4[i];
	return NULL;
}

static void fake_set_a(FakeDns *f, const char *name, const char *ipv4)
{
	int free_slot = -1;

	for (int i = 0; i < FAKE_NAMES; i++) {
		if (strcasecmp(f->name[i], name) == 0) {
			snprintf(f->ipv4[i], sizeof(f->ipv4[i]), "%s", ipv4);
			return;
		}
		if (!f->name[i][0] && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0) {
		snprintf(f->name[free_slot], sizeof(f->name[0]), "%s", name);
		snprintf(f->ipv4[free_slot], sizeof(f->ipv4[0]), "%s", ipv4);
	}
}

static size_t put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

static size_t put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	return 2 + put16(p + 2, v & 0xffff);
}

/* "ns.zone" style names as labels; returns the bytes written. */
static size_t put_name(uint8_t *p, const char *prefix, const char *name)
{
	char text[160];
	size_t n = 0;
	char *save = NULL;

	snprintf(text, sizeof(text), "%s%s", prefix, name);
	for (char *label = strtok_r(text, ".", &save); label; label = strtok_r(NULL, ".", &save)) {
		p[n++] = (uint8_t)strlen(label);
		memcpy(p + n, label, strlen(label));
		n += strlen(label);
	}
	p[n++] = 0;
	return n;
}

/* Appends the answer record for (name, qtype), if any; sets *rcode. */
static size_t fake_answer(FakeDns *f, const char *name, unsigned qtype, uint8_t *p, int *rcode,
			  int *count)
{
	const char *a = fake_a(f, name);
	bool is_zone = strcasecmp(name, f->zone) == 0 && !f->soa_off;
	size_t n = 0, rdlen_at;
	struct in_addr in;

	*rcode = (a || is_zone) ? 0 : 3;
	*count = 0;
	if (qtype == 1 && a && inet_pton(AF_INET, a, &in) == 1) {
		n += put16(p + n, 0xC00C) + put16(p + n + 2, 1) + put16(p + n + 4, 1);
		n += put32(p + n, 5);
		n += put16(p + n, 4);
		memcpy(p + n, &in, 4);
		n += 4;
		*count = 1;
	} else if (qtype == 6 && is_zone) {
		n += put16(p + n, 0xC00C) + put16(p + n + 2, 6) + put16(p + n + 4, 1);
		n += put32(p + n, 5);
		rdlen_at = n;
		n += 2;
		n += put_name(p + n, "ns.", name);
		n += put_name(p + n, "admin.", name);
		n += put32(p + n, f->serial);
		for (int i = 0; i < 4; i++)
			n += put32(p + n, 60);
		put16(p + rdlen_at, (unsigned)(n - rdlen_at - 2));
		*count = 1;
		f->soa_queries++;
	}
	return n;
}

static void fake_on_read(evutil_socket_t fd, short what UNUSED, void *arg)
{
	FakeDns *f = arg;
	uint8_t q[512], out[1024];
	char name[256] = "";
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	ssize_t len = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&peer, &plen);
	size_t pos = 12, nlen = 0, n;
	unsigned qtype;
	int rcode, count;

	if (len < 17 || f->silent)
		return;
	while (pos < (size_t)len && q[pos] != 0 && q[pos] < 64 && pos + 1 + q[pos] < (size_t)len &&
	       nlen + q[pos] + 2 < sizeof(name)) {
		if (nlen)
			name[nlen++] = '.';
		memcpy(name + nlen, q + pos + 1, q[pos]);
		nlen += q[pos];
		pos += 1 + q[pos];
	}
	name[nlen] = '\0';
	if (pos + 5 > (size_t)len)
		return;
	memcpy(out, q, pos + 5); /* id and the question, as asked */
	n = pos + 5;
	qtype = (unsigned)(q[pos + 1] << 8 | q[pos + 2]);
	n += fake_answer(f, name, qtype, out + n, &rcode, &count);
	out[2] = (uint8_t)(0x84 | (q[2] & 0x01)); /* QR, AA, RD copied */
	out[3] = (uint8_t)(0x80 | rcode);          /* RA */
	put16(out + 4, 1);
	put16(out + 6, (unsigned)count);
	put16(out + 8, 0);
	put16(out + 10, 0);
	(void)sendto(fd, out, n, 0, (struct sockaddr *)&peer, plen);
}

/* False (test skipped) without the right to bind port 53. */
static bool fake_start(FakeDns *f, struct event_base *base)
{
	memset(f, 0, sizeof(*f));
	for (int last = 200; last < 230; last++) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(53) };
		int fd = socket(AF_INET, SOCK_DGRAM, 0);

		snprintf(f->addr, sizeof(f->addr), "127.0.77.%d", last);
		inet_pton(AF_INET, f->addr, &sin.sin_addr);
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
			f->fd = fd;
			f->ev = event_new(base, fd, EV_READ | EV_PERSIST, fake_on_read, f);
			event_add(f->ev, NULL);
			return true;
		}
		close(fd);
		if (errno != EADDRINUSE)
			break;
	}
	printf("# skipped: cannot bind UDP port 53 on 127.0.77.x (%s); needs root\n",
	       strerror(errno));
	return false;
}

static void fake_stop(FakeDns *f)
{
	event_free(f->ev);
	close(f->fd);
}

/* ---- the tracker in a DnsContext ---- */

typedef struct Fixture {
	struct event_base *base;
	FakeDns dns;
	char dir[64];
	char resolv[96];
} Fixture;

static bool write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return false;
	fputs(text, f);
	return fclose(f) == 0;
}

/* nameserver: the fake server, or NULL for a loopback address where nobody answers. */
static bool fixture_init(Fixture *fx, bool with_server)
{
	char text[128];

	memset(fx, 0, sizeof(*fx));
	fx->base = event_base_new();
	if (with_server && !fake_start(&fx->dns, fx->base)) {
		event_base_free(fx->base);
		return false;
	}
	fake_set_a(&fx->dns, "db.zone.test", "10.0.0.1");
	fake_set_a(&fx->dns, "other.zone.test", "10.0.0.2");
	fake_set_a(&fx->dns, "db.second.test", "10.0.0.4");
	snprintf(fx->dns.zone, sizeof(fx->dns.zone), "zone.test");
	fx->dns.serial = 1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_dns_zone_XXXXXX");
	if (!mkdtemp(fx->dir))
		return false;
	snprintf(fx->resolv, sizeof(fx->resolv), "%s/resolv.conf", fx->dir);
	snprintf(text, sizeof(text), "nameserver %s\n",
		 with_server ? fx->dns.addr : "127.0.77.250"); /* .250: nobody answers */
	return write_file(fx->resolv, text);
}

static void fixture_done(Fixture *fx, bool with_server)
{
	if (with_server)
		fake_stop(&fx->dns);
	unlink(fx->resolv);
	rmdir(fx->dir);
	event_base_free(fx->base);
}

static DnsContext *make_ctx(Fixture *fx, usec_t ttl, usec_t period)
{
	DnsOptions opts = { .max_ttl = ttl, .nxdomain_ttl = ttl, .zone_check_period = period,
			    .resolv_conf = fx->resolv };

	return dns_create_opts(fx->base, &opts);
}

typedef struct Result {
	int calls;
	int n_addrs;
} Result;

static void on_result(void *arg, const struct sockaddr_storage *addrs UNUSED, int n_addrs,
		      const char *error UNUSED)
{
	Result *r = arg;

	r->calls++;
	r->n_addrs = n_addrs;
}

static void on_tick(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
}

/* Runs the loop until *flag turns nonzero (NULL: no query pending) or limit passes. */
static bool run_until(Fixture *fx, DnsContext *ctx, const int *flag, usec_t limit)
{
	usec_t deadline = time_now_mono() + limit;
	struct timeval tick = { 0, 20000 };
	struct event *ev = event_new(fx->base, -1, EV_PERSIST, on_tick, NULL);
	bool done = false;

	event_add(ev, &tick);
	while (!done && time_now_mono() < deadline) {
		event_base_loop(fx->base, EVLOOP_ONCE);
		done = flag ? *flag != 0 : dns_pending_queries(ctx) == 0;
	}
	event_free(ev);
	return done;
}

static void run_for(Fixture *fx, usec_t usec)
{
	struct timeval tv = { (time_t)(usec / USEC_PER_SEC), (suseconds_t)(usec % USEC_PER_SEC) };

	event_base_loopexit(fx->base, &tv);
	event_base_dispatch(fx->base);
}

/* True when host resolved to n_want addresses (0: to a failure). */
static bool resolve(Fixture *fx, DnsContext *ctx, const char *host, int n_want)
{
	Result r = { 0 };

	(void)dns_resolve(ctx, host, 5432, on_result, &r);
	return run_until(fx, ctx, &r.calls, 10 * USEC_PER_SEC) && r.n_addrs == n_want;
}

typedef struct Zones {
	int count;
	char name[4][64];
	uint32_t serial[4];
	int hosts[4];
} Zones;

static void on_zone(void *arg, const char *zone, uint32_t serial, int n_hosts)
{
	Zones *z = arg;

	if (z->count < 4) {
		snprintf(z->name[z->count], sizeof(z->name[0]), "%s", zone);
		z->serial[z->count] = serial;
		z->hosts[z->count] = n_hosts;
	}
	z->count++;
}

static Zones zones_of(DnsContext *ctx)
{
	Zones z = { 0 };

	dns_visit_zones(ctx, on_zone, &z);
	return z;
}

static void on_addrs(void *arg, const char *host, usec_t ttl_left UNUSED, const char *addrs)
{
	if (strcmp(host, "db.zone.test") == 0)
		snprintf(arg, 64, "%s", addrs);
}

static const char *addrs_of_db(DnsContext *ctx, char buf[64])
{
	buf[0] = '\0';
	dns_visit_hosts(ctx, on_addrs, buf);
	return buf;
}

typedef struct Changes {
	int calls;
	char host[64];
} Changes;

static void on_change(void *arg, const char *host)
{
	Changes *c = arg;

	c->calls++;
	snprintf(c->host, sizeof(c->host), "%s", host);
}

/* Period 0: zones are listed with serial 0 and never asked. */
static void test_zones_listed_unchecked(void)
{
	Fixture fx;
	DnsContext *ctx;
	Zones z;

	if (!fixture_init(&fx, true))
		return;
	ctx = make_ctx(&fx, 60 * USEC_PER_SEC, 0);
	CHECK(ctx != NULL);
	CHECK(resolve(&fx, ctx, "db.zone.test", 1));
	CHECK(resolve(&fx, ctx, "OTHER.zone.test", 1));
	CHECK(resolve(&fx, ctx, "db.second.test", 1));
	CHECK(resolve(&fx, ctx, "missing.zone.test", 0)); /* a cached failure counts too */
	CHECK(dns_pending_queries(ctx) == 0);
	z = zones_of(ctx);
	CHECK(z.count == 2);
	CHECK_STR(z.name[0], "zone.test");
	CHECK(z.serial[0] == 0 && z.hosts[0] == 3);
	CHECK_STR(z.name[1], "second.test");
	CHECK(z.serial[1] == 0 && z.hosts[1] == 1);
	CHECK(fx.dns.soa_queries == 0);
	dns_destroy(ctx);
	fixture_done(&fx, true);
}

/* A zone is forgotten once its names leave the cache. */
static void test_zone_pruned_on_expiry(void)
{
	Fixture fx;
	DnsContext *ctx;

	if (!fixture_init(&fx, true))
		return;
	ctx = make_ctx(&fx, 100000, 0);
	CHECK(resolve(&fx, ctx, "db.zone.test", 1));
	CHECK(zones_of(ctx).count == 1);
	run_for(&fx, 150000);
	CHECK(zones_of(ctx).count == 0);
	dns_destroy(ctx);
	fixture_done(&fx, true);
}

/*
 * The first serial is recorded at once; a new address alone changes nothing; a new
 * serial re-resolves the zone, replaces the address and reports it once. An unchanged
 * address set after a serial change reports nothing.
 */
static void test_serial_drives_refresh(void)
{
	Fixture fx;
	DnsContext *ctx;
	Changes ch = { 0 };
	char buf[64];
	Zones z;

	if (!fixture_init(&fx, true))
		return;
	ctx = make_ctx(&fx, 3600 * USEC_PER_SEC, 100000);
	dns_set_change_callback(ctx, on_change, &ch);
	CHECK(resolve(&fx, ctx, "db.zone.test", 1));
	CHECK(run_until(&fx, ctx, NULL, 5 * USEC_PER_SEC));
	z = zones_of(ctx);
	CHECK(z.count == 1 && z.serial[0] == 1 && z.hosts[0] == 1);
	fake_set_a(&fx.dns, "db.zone.test", "10.0.0.9");
	run_for(&fx, 400000);
	CHECK(fx.dns.soa_queries >= 3); /* checked every 100 ms */
	CHECK_STR(addrs_of_db(ctx, buf), "10.0.0.1");
	CHECK(ch.calls == 0);
	fx.dns.serial = 2;
	CHECK(run_until(&fx, ctx, &ch.calls, 5 * USEC_PER_SEC));
	CHECK(ch.calls == 1);
	CHECK_STR(ch.host, "db.zone.test");
	CHECK_STR(addrs_of_db(ctx, buf), "10.0.0.9");
	CHECK(zones_of(ctx).serial[0] == 2);
	fx.dns.serial = 3; /* same addresses this time */
	run_for(&fx, 400000);
	CHECK(zones_of(ctx).serial[0] == 3);
	CHECK(ch.calls == 1);
	dns_destroy(ctx);
	fixture_done(&fx, true);
}

/* A failed SOA keeps the serial; a failed refresh keeps the addresses; failures are dropped. */
static void test_failures_keep_state(void)
{
	Fixture fx;
	DnsContext *ctx;
	Changes ch = { 0 };
	char buf[64];

	if (!fixture_init(&fx, true))
		return;
	ctx = make_ctx(&fx, 3600 * USEC_PER_SEC, 100000);
	dns_set_change_callback(ctx, on_change, &ch);
	CHECK(resolve(&fx, ctx, "db.zone.test", 1));
	CHECK(resolve(&fx, ctx, "missing.zone.test", 0));
	CHECK(run_until(&fx, ctx, NULL, 5 * USEC_PER_SEC));
	CHECK(zones_of(ctx).serial[0] == 1);
	CHECK(zones_of(ctx).hosts[0] == 2);
	fx.dns.soa_off = true;
	run_for(&fx, 350000);
	CHECK(zones_of(ctx).serial[0] == 1);
	fake_set_a(&fx.dns, "db.zone.test", ""); /* NXDOMAIN from now on */
	fx.dns.soa_off = false;
	fx.dns.serial = 5;
	run_for(&fx, 350000);
	CHECK(zones_of(ctx).serial[0] == 5);
	CHECK(run_until(&fx, ctx, NULL, 5 * USEC_PER_SEC));
	CHECK_STR(addrs_of_db(ctx, buf), "10.0.0.1");
	CHECK(ch.calls == 0);
	CHECK(zones_of(ctx).hosts[0] == 1); /* the cached failure was dropped */
	dns_destroy(ctx);
	fixture_done(&fx, true);
}

/* dns_configure: checks switched on take a baseline; shorter TTLs shorten the cache. */
static void on_ttl(void *arg, const char *host UNUSED, usec_t ttl_left, const char *addrs UNUSED)
{
	*(usec_t *)arg = ttl_left;
}

static void test_configure(void)
{
	Fixture fx;
	DnsContext *ctx;
	DnsOptions on = { .max_ttl = 5 * USEC_PER_SEC, .nxdomain_ttl = 5 * USEC_PER_SEC,
			  .zone_check_period = 100000 };
	usec_t ttl = 0;

	if (!fixture_init(&fx, true))
		return;
	ctx = make_ctx(&fx, 3600 * USEC_PER_SEC, 0);
	CHECK(resolve(&fx, ctx, "db.zone.test", 1));
	dns_visit_hosts(ctx, on_ttl, &ttl);
	CHECK(ttl > 3000 * USEC_PER_SEC);
	dns_configure(ctx, &on);
	dns_visit_hosts(ctx, on_ttl, &ttl);
	CHECK(ttl <= 5 * USEC_PER_SEC);
	CHECK(zones_of(ctx).serial[0] == 0);
	run_for(&fx, 300000);
	CHECK(zones_of(ctx).serial[0] == 1);
	on.zone_check_period = 0;
	dns_configure(ctx, &on);
	CHECK(run_until(&fx, ctx, NULL, 5 * USEC_PER_SEC)); /* a check in flight may still land */
	fx.dns.serial = 9;
	run_for(&fx, 300000);
	CHECK(zones_of(ctx).count == 1 && zones_of(ctx).serial[0] == 1); /* kept, not asked */
	dns_destroy(ctx);
	fixture_done(&fx, true);
}

static void on_soa(void *arg, DnsSoaStatus status, uint32_t serial UNUSED, const char *error UNUSED)
{
	*(int *)arg = (int)status + 1;
}

/* Teardown with an address lookup, a refresh and SOA queries in flight. */
static void test_destroy_in_flight(void)
{
	Fixture fx;
	DnsContext *ctx;
	Changes ch = { 0 };
	Result r = { 0 };
	int soa = 0;

	if (!fixture_init(&fx, true))
		return;
	ctx = make_ctx(&fx, 3600 * USEC_PER_SEC, 50000);
	dns_set_change_callback(ctx, on_change, &ch);
	CHECK(resolve(&fx, ctx, "db.zone.test", 1));
	CHECK(run_until(&fx, ctx, NULL, 5 * USEC_PER_SEC));
	fx.dns.silent = true;
	dns_refresh_zone(ctx, "zone.test");
	dns_query_soa(ctx, "zone.test", on_soa, &soa);
	(void)dns_resolve(ctx, "other.zone.test", 1, on_result, &r);
	run_for(&fx, 120000); /* timer ticks start SOA queries of their own */
	CHECK(dns_pending_queries(ctx) >= 3);
	dns_destroy(ctx);
	CHECK(soa == DNS_SOA_DESTROYED + 1);
	CHECK(r.calls == 0 && ch.calls == 0);
	fixture_done(&fx, true);
}

/* No server at all: SOA queries fail, and a teardown right after sending is clean. */
static void test_dead_server(void)
{
	Fixture fx;
	DnsContext *ctx;
	int soa = 0;

	CHECK(fixture_init(&fx, false));
	ctx = make_ctx(&fx, 60 * USEC_PER_SEC, 0);
	dns_query_soa(ctx, "zone.test", on_soa, &soa);
	CHECK(dns_pending_queries(ctx) == 1);
	CHECK(run_until(&fx, ctx, &soa, 10 * USEC_PER_SEC));
	CHECK(soa == DNS_SOA_FAILED + 1);
	CHECK(dns_pending_queries(ctx) == 0);
	soa = 0;
	dns_query_soa(ctx, "zone.test", on_soa, &soa);
	dns_destroy(ctx);
	CHECK(soa == DNS_SOA_DESTROYED + 1);
	fixture_done(&fx, false);
}

TAP_MAIN({ "zone_of_host", test_zone_of_host }, { "addr_sets_equal", test_addr_sets_equal },
	 { "zones_listed_unchecked", test_zones_listed_unchecked },
	 { "zone_pruned_on_expiry", test_zone_pruned_on_expiry },
	 { "serial_drives_refresh", test_serial_drives_refresh },
	 { "failures_keep_state", test_failures_keep_state }, { "configure", test_configure },
	 { "destroy_in_flight", test_destroy_in_flight }, { "dead_server", test_dead_server })
