/*
 * SHOW views of the admin console, one renderer per view. Column names, order and type
 * OIDs are PgBouncer 1.25's (text, int4, int8, numeric; timestamps are text as PgBouncer
 * sends them); pgsplit's own columns only ever follow PgBouncer's. Values are read from
 * the runtime registries and the pools' counters, never kept here. Where PgBouncer has an
 * object pgsplit lacks (peer pools, slab caches) the view is empty or reports
 * the closest real numbers.
 */
#include "admin.h"
#include "client.h"
#include "dns.h"
#include "failover.h"
#include "pg_wire.h"
#include "router.h"
#include "monitor.h"
#include "peer.h"
#include "ryw.h"
#include "prepared.h"
#include "registry.h"
#include "replication_conn.h"
#include "runtime.h"
#include "server.h"
#include "stats.h"
#include "tls.h"
#include "varcache.h"

#include <inttypes.h>
#include <netdb.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define TXT PG_OID_TEXT
#define I4 PG_OID_INT4
#define I8 PG_OID_INT8
#define NUM PG_OID_NUMERIC
#define BYTEA 17u

/* The console's own database, user and pool, as PgBouncer shows them. */
#define ADMIN_DB "pgbouncer"
#define ADMIN_POOL_SIZE 2

typedef struct Col {
	const char *name;
	uint32_t oid;
} Col;

#define ROW_MAX 32
#define CELL_MAX 72

/* One DataRow being filled left to right; text cells point at caller-owned strings. */
typedef struct Row {
	const char *v[ROW_MAX];
	char buf[ROW_MAX][CELL_MAX];
	int n;
} Row;

static void put_header(AdminReply *r, const Col *cols, int n)
{
	const char *names[ROW_MAX];
	uint32_t oids[ROW_MAX];
	for (int i = 0; i < n && i < ROW_MAX; i++) {
		names[i] = cols[i].name;
		oids[i] = cols[i].oid;
	}
	if (r->sink)
		r->sink->columns(r->sink->arg, n, names);
	else
		pktbuf_put_row_description(&r->pb, n, names, oids);
}

static void row_text(Row *w, const char *s)
{
	if (w->n < ROW_MAX)
		w->v[w->n++] = s;
}

/*
 * Decimal digits of x into buf (CELL_MAX bytes), without printf's format parsing: the
 * metrics endpoint renders tens of thousands of these cells per scrape.
 */
static void format_u64(char *buf, uint64_t x, bool negative)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + x % 10);
		x /= 10;
	} while (x);
	int at = 0;
	if (negative)
		buf[at++] = '-';
	while (n)
		buf[at++] = tmp[--n];
	buf[at] = 0;
}

static void row_i64(Row *w, int64_t x)
{
	if (w->n >= ROW_MAX)
		return;
	format_u64(w->buf[w->n], x < 0 ? 0 - (uint64_t)x : (uint64_t)x, x < 0);
	row_text(w, w->buf[w->n]);
}

static void row_u64(Row *w, uint64_t x)
{
	if (w->n >= ROW_MAX)
		return;
	format_u64(w->buf[w->n], x, false);
	row_text(w, w->buf[w->n]);
}

/* Wall-clock microseconds as PgBouncer prints them: "2024-05-01 12:00:00 UTC". */
static void row_time(Row *w, usec_t wall)
{
	if (w->n >= ROW_MAX)
		return;
	time_t t = (time_t)(wall / USEC_PER_SEC);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(w->buf[w->n], CELL_MAX, "%Y-%m-%d %H:%M:%S %Z", &tm);
	row_text(w, w->buf[w->n]);
}

static void row_put(AdminReply *r, Row *w)
{
	if (r->sink)
		r->sink->row(r->sink->arg, w->n, w->v);
	else
		pktbuf_put_data_row(&r->pb, w->n, w->v);
	w->n = 0;
}

static void show_done(AdminReply *r)
{
	admin_reply_complete(r, "SHOW");
}

/* ---- HELP, VERSION, STATE, CONFIG ---- */

static const char admin_help_text[] =
	"\n\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION"
	"\n\tSHOW PEERS|PEER_POOLS"
	"\n\tSHOW FDS|SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE"
	"\n\tSHOW DNS_HOSTS|DNS_ZONES"
	"\n\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS"
	"\n\tSHOW REPLICAS|ROUTING  (pgsplit)"
	"\n\tSET key = arg"
	"\n\tRELOAD"
	"\n\tPAUSE [<db>]"
	"\n\tRESUME [<db>]"
	"\n\tDISABLE <db>"
	"\n\tENABLE <db>"
	"\n\tRECONNECT [<db>]"
	"\n\tKILL [<db>]"
	"\n\tKILL_CLIENT <client_id>"
	"\n\tSUSPEND"
	"\n\tSHUTDOWN"
	"\n\tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS"
	"\n\tWAIT_CLOSE [<db>]";

/* A NOTICE with a detail field, which pktbuf's notice writer does not carry. */
static void show_help(AdminReply *r)
{
	PktBuf *pb = &r->pb;
	pktbuf_begin(pb, PG_MSG_NOTICE_RESPONSE);
	pktbuf_put_u8(pb, 'S');
	pktbuf_put_cstring(pb, "NOTICE");
	pktbuf_put_u8(pb, 'V');
	pktbuf_put_cstring(pb, "NOTICE");
	pktbuf_put_u8(pb, 'C');
	pktbuf_put_cstring(pb, "00000");
	pktbuf_put_u8(pb, 'M');
	pktbuf_put_cstring(pb, "Console usage");
	pktbuf_put_u8(pb, 'D');
	pktbuf_put_cstring(pb, admin_help_text);
	pktbuf_put_u8(pb, 0);
	pktbuf_end(pb);
	show_done(r);
}

static void show_version(AdminReply *r)
{
	static const Col cols[] = { { "version", TXT } };
	Row w = { .n = 0 };
	put_header(r, cols, 1);
	row_text(&w, PGSPLIT_VERSION_STRING);
	row_put(r, &w);
	show_done(r);
}

static void show_state(AdminReply *r)
{
	static const Col cols[] = { { "key", TXT }, { "value", TXT } };
	static const char *const keys[] = { "active", "paused", "suspended" };
	bool on[] = { !rt.paused && !rt.suspended, rt.paused, rt.suspended };
	Row w = { .n = 0 };
	put_header(r, cols, 2);
	for (int i = 0; i < 3; i++) {
		row_text(&w, keys[i]);
		row_text(&w, on[i] ? "yes" : "no");
		row_put(r, &w);
	}
	show_done(r);
}

static void show_config(AdminReply *r)
{
	static const Col cols[] = { { "key", TXT }, { "value", TXT }, { "default", TXT }, { "changeable", TXT } };
	Row w = { .n = 0 };
	put_header(r, cols, 4);
	for (int i = 0; i < config_setting_count(); i++) {
		const ConfigSetting *s = config_setting_at(i);
		char value[1024];
		config_setting_format(rt.cfg, s, value, sizeof(value));
		row_text(&w, config_setting_name(s));
		row_text(&w, value);
		row_text(&w, config_setting_default(s));
		row_text(&w, config_setting_reloadable(s) ? "yes" : "no");
		row_put(r, &w);
	}
	show_done(r);
}

/* ---- statistics: per database, summed over its pools ---- */

#define N_COUNTERS 11

/* In PgBouncer's column order: assignments, xacts, queries, in, out, times, parse, bind. */
static void counters_list(const StatCounters *s, uint64_t out[N_COUNTERS])
{
	const uint64_t v[N_COUNTERS] = { s->server_assignments, s->xact_count,	   s->query_count,
					 s->bytes_received,	s->bytes_sent,	   s->xact_time,
					 s->query_time,		s->wait_time,	   s->client_parse_count,
					 s->server_parse_count, s->bind_count };
	memcpy(out, v, sizeof(v));
}

typedef struct DbStats {
	const char *name;
	const Database *db; /* NULL for the console's own row */
	StatCounters total;
	StatCounters avg;
} DbStats;

/* One database's pools summed: totals and the two period snapshots. */
typedef struct PoolSums {
	const Database *db;
	bool any; /* it has a pool */
	StatCounters total, last, prev;
} PoolSums;

/*
 * Sum every database's pools in one pass over the pools (a pass per database would cost
 * databases x pools). Returns one slot per database in list order; caller frees.
 */
static PoolSums *sum_pools_by_database(void)
{
	int n = 0;
	List *it;
	list_for_each(it, &rt.databases) container_of(it, Database, node)->stats_slot = n++;
	PoolSums *sums = xcalloc((size_t)n + 1, sizeof(*sums));
	n = 0;
	list_for_each(it, &rt.databases) sums[n++].db = container_of(it, Database, node);
	list_for_each(it, &rt.pools)
	{
		const Pool *p = container_of(it, Pool, node);
		int slot = p->db->stats_slot;
		if (slot < 0 || slot >= n || sums[slot].db != p->db)
			continue; /* not listed: cannot happen while a database outlives its pools */
		sums[slot].any = true;
		stats_add(&sums[slot].total, &p->stats.total);
		stats_add(&sums[slot].last, &p->stats.last_period);
		stats_add(&sums[slot].prev, &p->stats.prev_period);
	}
	return sums;
}

/* A database's SHOW STATS figures; false when it has none (PgBouncer lists databases with pools). */
static bool db_stats(const PoolSums *sum, DbStats *out)
{
	const Database *db = sum->db;
	memset(out, 0, sizeof(*out));
	out->name = db->name;
	out->db = db;
	out->total = sum->total;
	stats_add(&out->total, &db->retired);
	stats_period_average(&sum->last, &sum->prev, rt.cfg->stats_period, &out->avg);
	return sum->any || db->retired.xact_count > 0 || db->retired.query_count > 0;
}

/* The console's own row: every console query is one transaction of one query. */
static void admin_db_stats(DbStats *out)
{
	memset(out, 0, sizeof(*out));
	out->name = ADMIN_DB;
	out->total.xact_count = admin_query_count();
	out->total.query_count = admin_query_count();
}

typedef void (*StatsRowFn)(AdminReply *r, const DbStats *s);

static void for_each_db_stats(AdminReply *r, StatsRowFn fn)
{
	DbStats s;
	PoolSums *sums = sum_pools_by_database();
	for (PoolSums *sum = sums; sum->db; sum++)
		if (db_stats(sum, &s))
			fn(r, &s);
	free(sums);
	admin_db_stats(&s);
	fn(r, &s);
}

static void row_counters(Row *w, const StatCounters *s)
{
	uint64_t v[N_COUNTERS];
	counters_list(s, v);
	for (int i = 0; i < N_COUNTERS; i++)
		row_u64(w, v[i]);
}

/* pgsplit's routing totals, appended after PgBouncer's SHOW STATS columns. */
static void row_routing_totals(Row *w, const Database *db)
{
	row_u64(w, db ? db->routed_primary : 0);
	row_u64(w, db ? db->routed_replica : 0);
	row_u64(w, db ? db->ryw_kept_on_primary : 0);
	row_u64(w, db ? db->ryw_waited : 0);
	row_u64(w, db ? db->route_reasons[ROUTE_RETRY_25006] : 0);
}

static void stats_row(AdminReply *r, const DbStats *s)
{
	Row w = { .n = 0 };
	row_text(&w, s->name);
	row_counters(&w, &s->total);
	row_counters(&w, &s->avg);
	row_routing_totals(&w, s->db);
	row_put(r, &w);
}

static void stats_totals_row(AdminReply *r, const DbStats *s)
{
	Row w = { .n = 0 };
	row_text(&w, s->name);
	row_counters(&w, &s->total);
	row_put(r, &w);
}

static void stats_averages_row(AdminReply *r, const DbStats *s)
{
	Row w = { .n = 0 };
	row_text(&w, s->name);
	row_counters(&w, &s->avg);
	row_put(r, &w);
}

static void show_stats(AdminReply *r)
{
	static const Col cols[] = {
		{ "database", TXT },
		{ "total_server_assignment_count", NUM },
		{ "total_xact_count", NUM },
		{ "total_query_count", NUM },
		{ "total_received", NUM },
		{ "total_sent", NUM },
		{ "total_xact_time", NUM },
		{ "total_query_time", NUM },
		{ "total_wait_time", NUM },
		{ "total_client_parse_count", NUM },
		{ "total_server_parse_count", NUM },
		{ "total_bind_count", NUM },
		{ "avg_server_assignment_count", NUM },
		{ "avg_xact_count", NUM },
		{ "avg_query_count", NUM },
		{ "avg_recv", NUM },
		{ "avg_sent", NUM },
		{ "avg_xact_time", NUM },
		{ "avg_query_time", NUM },
		{ "avg_wait_time", NUM },
		{ "avg_client_parse_count", NUM },
		{ "avg_server_parse_count", NUM },
		{ "avg_bind_count", NUM },
		/* pgsplit */
		{ "total_routed_primary", NUM },
		{ "total_routed_replica", NUM },
		{ "total_ryw_kept_on_primary", NUM },
		{ "total_ryw_waited", NUM },
		{ "total_rerun_25006", NUM },
	};
	put_header(r, cols, ARRAY_SIZE(cols));
	for_each_db_stats(r, stats_row);
	show_done(r);
}

static void show_stats_totals(AdminReply *r)
{
	static const Col cols[] = {
		{ "database", TXT },	     { "server_assignment_count", NUM }, { "xact_count", NUM },
		{ "query_count", NUM },	     { "bytes_received", NUM },		 { "bytes_sent", NUM },
		{ "xact_time", NUM },	     { "query_time", NUM },		 { "wait_time", NUM },
		{ "client_parse_count", NUM }, { "server_parse_count", NUM },	 { "bind_count", NUM },
	};
	put_header(r, cols, ARRAY_SIZE(cols));
	for_each_db_stats(r, stats_totals_row);
	show_done(r);
}

static void show_stats_averages(AdminReply *r)
{
	static const Col cols[] = {
		{ "database", TXT },
		{ "server_assignment_count", NUM },
		{ "xact_count", NUM },
		{ "query_count", NUM },
		{ "bytes_received", NUM },
		{ "bytes_sent", NUM },
		{ "xact_time", NUM },
		{ "query_time", NUM },
		{ "wait_time", NUM },
		{ "avg_client_parse_count", NUM },
		{ "avg_server_parse_count", NUM },
		{ "avg_bind_count", NUM },
	};
	put_header(r, cols, ARRAY_SIZE(cols));
	for_each_db_stats(r, stats_averages_row);
	show_done(r);
}

/* SHOW TOTALS: every database together, one row per figure. */
static void show_totals(AdminReply *r)
{
	static const Col cols[] = { { "name", TXT }, { "value", NUM } };
	static const char *const names[N_COUNTERS] = {
		"server_assignment_count", "xact_count",	    "query_count",	     "client_bytes",
		"server_bytes",		   "xact_time",		    "query_time",	     "wait_time",
		"ps_client_parse_count",   "ps_server_parse_count", "ps_bind_count",
	};
	StatCounters total = { 0 }, last = { 0 }, prev = { 0 }, avg;
	List *it;
	list_for_each(it, &rt.pools)
	{
		const Pool *p = container_of(it, Pool, node);
		stats_add(&total, &p->stats.total);
		stats_add(&last, &p->stats.last_period);
		stats_add(&prev, &p->stats.prev_period);
	}
	total.xact_count += admin_query_count();
	total.query_count += admin_query_count();
	stats_period_average(&last, &prev, rt.cfg->stats_period, &avg);
	uint64_t t[N_COUNTERS], a[N_COUNTERS];
	counters_list(&total, t);
	counters_list(&avg, a);
	put_header(r, cols, 2);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < N_COUNTERS; i++) {
			Row w = { .n = 0 };
			char name[64];
			snprintf(name, sizeof(name), "%s_%s", pass ? "avg" : "total", names[i]);
			row_text(&w, name);
			row_u64(&w, pass ? a[i] : t[i]);
			row_put(r, &w);
		}
	}
	show_done(r);
}

/* ---- POOLS, PEER_POOLS ---- */

/* How long the first queued client has waited (usec). */
static usec_t pool_max_wait(const Pool *p, usec_t now)
{
	List *first = list_first(&p->waiting_clients);
	if (!first)
		return 0;
	const Client *c = container_of(first, Client, pool_node);
	usec_t since = c->wait_start ? c->wait_start : c->login_start;
	return since && now > since ? now - since : 0;
}

/* load_balance_hosts, shown for host lists only (as PgBouncer shows it) */
static const char *db_load_balance_hosts(const Database *db)
{
	if (db->n_hosts == 0)
		return NULL;
	return db->host_mode == LB_HOSTS_DISABLE ? "disable" : "round-robin";
}

/* pgsplit's target column: primary, replica, or the replica monitor's own pools. */
static const char *pool_target(const Pool *p)
{
	return p->is_monitor ? "monitor" : pool_target_name(p);
}

static const Col pool_cols[] = {
	{ "database", TXT },		 { "user", TXT },		{ "cl_active", I4 },
	{ "cl_waiting", I4 },		 { "cl_active_cancel_req", I4 }, { "cl_waiting_cancel_req", I4 },
	{ "sv_active", I4 },		 { "sv_active_cancel", I4 },	{ "sv_being_canceled", I4 },
	{ "sv_idle", I4 },		 { "sv_used", I4 },		{ "sv_tested", I4 },
	{ "sv_login", I4 },		 { "maxwait", I4 },		{ "maxwait_us", I4 },
	{ "pool_mode", TXT },		 { "load_balance_hosts", TXT }, { "target", TXT }, /* pgsplit */
	{ "server", TXT }, /* pgsplit: host:port, which tells two replicas' pools apart */
};

/*
 * Our SV_USED (running the reset or check query) is PgBouncer's "tested"; PgBouncer's
 * "used" (idle past server_check_delay, to be checked before use) has no equivalent
 * because pgsplit checks idle servers in the background.
 */
static void pool_row(AdminReply *r, const Pool *p, usec_t now)
{
	Row w = { .n = 0 };
	usec_t wait = pool_max_wait(p, now);
	row_text(&w, p->db->name);
	row_text(&w, p->user->name);
	row_i64(&w, p->n_active_clients);
	row_i64(&w, p->n_waiting);
	row_i64(&w, 0);
	row_i64(&w, 0);
	row_i64(&w, p->n_active);
	row_i64(&w, 0);
	row_i64(&w, 0);
	row_i64(&w, p->n_idle);
	row_i64(&w, 0);
	row_i64(&w, p->n_used);
	row_i64(&w, p->n_login);
	row_i64(&w, wait / USEC_PER_SEC);
	row_i64(&w, wait % USEC_PER_SEC);
	row_text(&w, config_pool_mode_name(pool_mode_of(p)));
	row_text(&w, db_load_balance_hosts(p->db));
	row_text(&w, pool_target(p));
	snprintf(w.buf[w.n], CELL_MAX, "%s:%d", pool_host(p) ? pool_host(p) : "unix", pool_port(p));
	row_text(&w, w.buf[w.n]);
	row_put(r, &w);
}

static void admin_pool_row(AdminReply *r)
{
	Row w = { .n = 0 };
	row_text(&w, ADMIN_DB);
	row_text(&w, ADMIN_DB);
	row_i64(&w, admin_client_count());
	for (int i = 0; i < 12; i++)
		row_i64(&w, 0);
	row_text(&w, "statement");
	row_text(&w, NULL);
	row_text(&w, NULL);
	row_text(&w, NULL);
	row_put(r, &w);
}

static void show_pools(AdminReply *r)
{
	usec_t now = time_now_mono();
	put_header(r, pool_cols, ARRAY_SIZE(pool_cols));
	List *it;
	list_for_each(it, &rt.pools) pool_row(r, container_of(it, Pool, node), now);
	admin_pool_row(r);
	show_done(r);
}

/* One row per peer that cancel requests were forwarded to (peer.c); none wait for a slot. */
static void show_peer_pools(AdminReply *r)
{
	static const Col cols[] = { { "peer_id", I4 },
				    { "cl_active_cancel_req", I4 },
				    { "cl_waiting_cancel_req", I4 },
				    { "sv_active_cancel", I4 },
				    { "sv_login", I4 } };
	put_header(r, cols, ARRAY_SIZE(cols));
	for (int i = 0; i < peer_pool_count(); i++) {
		const PeerPoolStats *st = peer_pool_at(i);
		Row w = { .n = 0 };
		row_i64(&w, st->peer_id);
		row_i64(&w, st->cl_active);
		row_i64(&w, 0);
		row_i64(&w, st->sv_active);
		row_i64(&w, st->sv_login);
		row_put(r, &w);
	}
	show_done(r);
}

static void show_peers(AdminReply *r)
{
	static const Col cols[] = { { "peer_id", I4 }, { "host", TXT }, { "port", I4 }, { "pool_size", I4 } };
	put_header(r, cols, ARRAY_SIZE(cols));
	for (const PeerDef *p = rt.cfg->peers; p; p = p->next) {
		Row w = { .n = 0 };
		row_i64(&w, p->peer_id);
		row_text(&w, p->host);
		row_i64(&w, p->port > 0 ? p->port : 6432);
		row_i64(&w, p->pool_size >= 0 ? p->pool_size : rt.cfg->default_pool_size);
		row_put(r, &w);
	}
	show_done(r);
}

/* ---- CLIENTS, SERVERS, SOCKETS, ACTIVE_SOCKETS ---- */

/* What one socket row says, gathered from a Client or a Server. */
typedef struct SockRow {
	const Conn *conn;
	usec_t request;   /* monotonic: last request, 0 = none yet */
	const char *type; /* "C" or "S" */
	const char *user;
	const char *database;
	const char *replication; /* none, physical or logical */
	const char *state;
	const void *ptr;
	const Conn *link;
	int64_t remote_pid;
	const char *application_name;
	usec_t wait;
	bool close_needed;
	const char *target; /* pgsplit: primary / replica; NULL for the console */
	int prepared;       /* prepared statements (client names or server cache) */
	const Client *client; /* SHOW CLIENTS: read-your-writes columns come from it */
} SockRow;

static const Col sock_cols[] = {
	{ "type", TXT },	     { "user", TXT },	       { "database", TXT },	{ "replication", TXT },
	{ "state", TXT },	     { "addr", TXT },	       { "port", I4 },		{ "local_addr", TXT },
	{ "local_port", I4 },	     { "connect_time", TXT },  { "request_time", TXT }, { "wait", I4 },
	{ "wait_us", I4 },	     { "close_needed", I4 },   { "ptr", TXT },		{ "link", TXT },
	{ "remote_pid", I4 },	     { "tls", TXT },	       { "application_name", TXT },
	{ "prepared_statements", I4 }, { "id", I4 },
};

static const Col sock_debug_cols[] = {
	{ "recv_pos", I4 },  { "pkt_pos", I4 },	  { "pkt_remain", I4 }, { "send_pos", I4 },
	{ "send_remain", I4 }, { "pkt_avail", I4 }, { "send_avail", I4 },
};

static const Col target_col = { "target", TXT };
/* SHOW CLIENTS: the pending write position (lsn mode) and window end (window mode) */
static const Col ryw_cols[] = { { "write_lsn", TXT }, { "write_window_end", TXT } };

static void sock_header(AdminReply *r, bool debug, bool with_target, bool with_ryw)
{
	Col cols[ROW_MAX];
	int n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(sock_cols); i++)
		cols[n++] = sock_cols[i];
	for (size_t i = 0; debug && i < ARRAY_SIZE(sock_debug_cols); i++)
		cols[n++] = sock_debug_cols[i];
	if (with_target)
		cols[n++] = target_col;
	for (size_t i = 0; with_ryw && i < ARRAY_SIZE(ryw_cols); i++)
		cols[n++] = ryw_cols[i];
	put_header(r, cols, n);
}

/* The read-your-writes state that governs this client's reads (its scope's). */
static void ryw_fields(Row *w, const Client *c)
{
	char lsn[32] = "";
	usec_t window_end = 0;
	if (c && c->pool && c->pool->db->n_replicas > 0) {
		RywSettings set;
		ryw_settings(c->pool->db, &set);
		const RywState *st = set.scope == RYW_SCOPE_USER ? &c->pool->ryw : &c->route.ryw;
		uint64_t floor;
		if (set.mode == RYW_LSN && !ryw_current_floor(st, c->pool->db, &floor))
			snprintf(lsn, sizeof(lsn), "pending");
		else if (set.mode == RYW_LSN && floor)
			lsn_format(floor, lsn, sizeof(lsn));
		if (st->last_write && time_now_mono() - st->last_write < set.window)
			window_end = time_now_wall() + set.window - (time_now_mono() - st->last_write);
	}
	/* the cell must outlive this function: copy into the row's own storage */
	snprintf(w->buf[w->n], CELL_MAX, "%s", lsn);
	row_text(w, w->buf[w->n]);
	if (window_end)
		row_time(w, window_end);
	else
		row_text(w, "");
}

/* The local end of a socket; a Unix socket's "port" is the one its path is named after. */
static void local_addr(const Conn *conn, char *buf, size_t len, int *port)
{
	conn_local_addr(conn, buf, len, port);
	if (strcmp(buf, "unix") == 0)
		*port = rt.cfg->listen_port;
}

/* The remote address as a number when the socket has one, else the connection's text. */
static void remote_addr(const Conn *conn, char *buf, size_t len)
{
	const struct sockaddr *sa = (const struct sockaddr *)&conn->addr;
	if (conn->kind == CONN_SERVER && conn->addr_len > 0 && sa->sa_family != AF_UNIX &&
	    getnameinfo(sa, conn->addr_len, buf, (socklen_t)len, NULL, 0, NI_NUMERICHOST) == 0)
		return;
	if (conn->kind == CONN_SERVER && conn->addr_len > 0 && sa->sa_family == AF_UNIX) {
		snprintf(buf, len, "unix");
		return;
	}
	snprintf(buf, len, "%s", conn->addr_text);
}

/* A monotonic request time as wall-clock; the connect time when nothing was sent yet. */
static usec_t request_wall(const Conn *conn, usec_t request)
{
	if (!request)
		return conn->connect_time;
	return time_now_wall() - (time_now_mono() - request);
}

static void sock_debug_fields(Row *w, const Conn *conn)
{
	row_i64(w, (int64_t)conn->in.end);
	row_i64(w, (int64_t)conn->in.start);
	row_i64(w, conn->fwd_left);
	row_i64(w, (int64_t)conn->out.start);
	row_i64(w, (int64_t)(conn->out.end - conn->out.start));
	row_i64(w, (int64_t)(conn->in.end - conn->in.start));
	row_i64(w, (int64_t)(conn->out.end - conn->out.start));
}

static void sock_row(AdminReply *r, const SockRow *s, bool debug, bool with_target)
{
	Row w = { .n = 0 };
	char raddr[128], laddr[128], ptr[32], link[32];
	int lport;
	remote_addr(s->conn, raddr, sizeof(raddr));
	local_addr(s->conn, laddr, sizeof(laddr), &lport);
	snprintf(ptr, sizeof(ptr), "%p", s->ptr);
	snprintf(link, sizeof(link), "%p", (const void *)s->link);
	row_text(&w, s->type);
	row_text(&w, s->user);
	row_text(&w, s->database);
	row_text(&w, s->replication);
	row_text(&w, s->state);
	row_text(&w, raddr);
	row_i64(&w, s->conn->port);
	row_text(&w, laddr);
	row_i64(&w, lport);
	row_time(&w, s->conn->connect_time);
	row_time(&w, request_wall(s->conn, s->request));
	row_i64(&w, s->wait / USEC_PER_SEC);
	row_i64(&w, s->wait % USEC_PER_SEC);
	row_i64(&w, s->close_needed);
	row_text(&w, ptr);
	row_text(&w, s->link ? link : "");
	row_i64(&w, s->remote_pid);
	char tls_text[128] = "";
	if (s->conn->tls && !s->conn->tls_handshaking)
		tls_conn_describe(s->conn->tls, tls_text, sizeof(tls_text));
	row_text(&w, tls_text);
	row_text(&w, s->application_name ? s->application_name : "");
	row_i64(&w, s->prepared);
	row_u64(&w, s->conn->id);
	if (debug)
		sock_debug_fields(&w, s->conn);
	if (with_target)
		row_text(&w, s->target);
	if (with_target && s->client)
		ryw_fields(&w, s->client);
	row_put(r, &w);
}

static const char *client_app_name(const Client *c)
{
	int idx = varcache_lookup("application_name");
	return idx >= 0 ? varcache_get(&c->vars, idx) : NULL;
}

/* The peer process of a Unix-socket client, as PgBouncer reports it. */
static int64_t client_peer_pid(const Client *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (strcmp(c->conn.addr_text, "unix") != 0 || c->conn.fd < 0 ||
	    getsockopt(c->conn.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return 0;
	return cred.pid;
}

static usec_t client_wait(const Client *c, usec_t now)
{
	usec_t since = 0;
	if (c->state == CL_WAITING || c->state == CL_WELCOME)
		since = c->wait_start ? c->wait_start : c->login_start;
	else if (c->conn.link)
		since = c->query_start;
	return since && now > since ? now - since : 0;
}

/* Where the client's work goes now: its server's pool, the queue it waits in, or home. */
static const char *client_target(const Client *c)
{
	if (c->conn.link)
		return pool_target(((const Server *)c->conn.link)->pool);
	if (c->state == CL_WAITING && c->wait_pool)
		return pool_target(c->wait_pool);
	return c->pool ? pool_target(c->pool) : NULL;
}

static void client_sock(const Client *c, const char *state, SockRow *s)
{
	memset(s, 0, sizeof(*s));
	s->conn = &c->conn;
	s->request = c->conn.request_time;
	s->type = "C";
	s->user = c->user_name ? c->user_name : "(nouser)";
	s->database = c->db ? c->db->name : c->is_admin ? ADMIN_DB : c->db_name ? c->db_name : "(nodb)";
	s->replication = replication_kind_name(c->replication);
	s->state = state;
	s->ptr = c;
	s->link = c->conn.link;
	s->remote_pid = client_peer_pid(c);
	s->application_name = client_app_name(c);
	s->wait = client_wait(c, time_now_mono());
	s->target = client_target(c);
	s->prepared = prepared_client_count(c);
	s->client = c;
}

static void server_sock(const Server *sv, const char *state, SockRow *s)
{
	memset(s, 0, sizeof(*s));
	s->conn = &sv->conn;
	/* a server's last request is when its last client was served */
	s->request = sv->conn.request_time ? sv->conn.request_time : sv->last_used;
	s->type = "S";
	s->user = sv->pool->user->name;
	s->database = sv->pool->db->name;
	s->replication = replication_kind_name(sv->replication);
	s->state = state;
	s->ptr = sv;
	s->link = sv->conn.link;
	s->remote_pid = sv->backend_pid;
	s->application_name = sv->conn.link ? client_app_name((const Client *)sv->conn.link) : NULL;
	s->close_needed = sv->dirty;
	s->target = pool_target(sv->pool);
	s->prepared = prepared_server_count(sv);
}

/* How a view lists sockets: state names per list and which sockets it takes. */
typedef struct SockView {
	bool debug;
	bool only_busy;	  /* ACTIVE_SOCKETS: only sockets with buffered data */
	bool with_target; /* pgsplit's appended column */
} SockView;

static bool sock_busy(const Conn *conn)
{
	return conn->in.end > conn->in.start || conn->out.end > conn->out.start;
}

static void client_list_rows(AdminReply *r, const SockView *v, const List *list, const char *state)
{
	const List *it;
	for (it = list->next; it != list; it = it->next) {
		const Client *c = container_of(it, Client, pool_node);
		SockRow s;
		/* CLIENTS calls an unlinked active client idle, as PgBouncer 1.25 does */
		const char *st = strcmp(state, "active") == 0 && !c->conn.link ? "idle" : state;
		if (v->only_busy && !sock_busy(&c->conn))
			continue;
		client_sock(c, st, &s);
		sock_row(r, &s, v->debug, v->with_target);
	}
}

static void server_list_rows(AdminReply *r, const SockView *v, const List *list, const char *state)
{
	const List *it;
	for (it = list->next; it != list; it = it->next) {
		const Server *sv = container_of(it, Server, pool_node);
		SockRow s;
		if (v->only_busy && !sock_busy(&sv->conn))
			continue;
		server_sock(sv, state, &s);
		sock_row(r, &s, v->debug, v->with_target);
	}
}

/* Clients outside the pools: the console's, or those still logging in. */
static void loose_client_rows(AdminReply *r, const SockView *v, bool admin, const char *state)
{
	List *it;
	list_for_each(it, &rt.clients)
	{
		const Client *c = container_of(it, Client, all_node);
		SockRow s;
		bool want = admin ? c->is_admin && c->state == CL_ACTIVE : c->state == CL_LOGIN;
		if (!want || (v->only_busy && !sock_busy(&c->conn)))
			continue;
		client_sock(c, state, &s);
		if (admin && !c->conn.link && strcmp(state, "active") == 0)
			s.state = "idle";
		sock_row(r, &s, v->debug, v->with_target);
	}
}

static void show_clients(AdminReply *r)
{
	SockView v = { .with_target = true };
	sock_header(r, false, true, true);
	List *it;
	list_for_each(it, &rt.pools)
	{
		const Pool *p = container_of(it, Pool, node);
		client_list_rows(r, &v, &p->active_clients, "active");
		client_list_rows(r, &v, &p->waiting_clients, "waiting");
	}
	loose_client_rows(r, &v, true, "active");
	show_done(r);
}

static void show_servers(AdminReply *r)
{
	SockView v = { .with_target = true };
	sock_header(r, false, true, false);
	List *it;
	list_for_each(it, &rt.pools)
	{
		const Pool *p = container_of(it, Pool, node);
		server_list_rows(r, &v, &p->active_servers, "active");
		server_list_rows(r, &v, &p->idle_servers, "idle");
		server_list_rows(r, &v, &p->used_servers, "tested");
		server_list_rows(r, &v, &p->login_servers, "new");
	}
	show_done(r);
}

static void sockets_view(AdminReply *r, bool only_busy)
{
	SockView v = { .debug = true, .only_busy = only_busy };
	sock_header(r, true, false, false);
	List *it;
	list_for_each(it, &rt.pools)
	{
		const Pool *p = container_of(it, Pool, node);
		client_list_rows(r, &v, &p->active_clients, "cl_active");
		client_list_rows(r, &v, &p->waiting_clients, "cl_waiting");
		server_list_rows(r, &v, &p->active_servers, "sv_active");
		server_list_rows(r, &v, &p->idle_servers, "sv_idle");
		server_list_rows(r, &v, &p->used_servers, "sv_tested");
		server_list_rows(r, &v, &p->login_servers, "sv_login");
	}
	loose_client_rows(r, &v, true, "cl_active");
	loose_client_rows(r, &v, false, "cl_login");
	show_done(r);
}

static void show_sockets(AdminReply *r)
{
	sockets_view(r, false);
}

static void show_active_sockets(AdminReply *r)
{
	sockets_view(r, true);
}

/* ---- FDS ---- */

static const char *var_of(const VarCache *vc, const char *name)
{
	int idx = varcache_lookup(name);
	return idx >= 0 ? varcache_get(vc, idx) : NULL;
}

/*
 * pgsplit has no online restart, so this only describes the sockets: no fd is passed
 * and no password or SCRAM key ever leaves the process. Listening sockets are not
 * listed (the listener keeps them to itself).
 */
static void fd_row(AdminReply *r, const Conn *conn, const char *task, const char *user, const char *db,
		   uint64_t cancel, const VarCache *vars)
{
	Row w = { .n = 0 };
	char addr[128];
	remote_addr(conn, addr, sizeof(addr));
	row_i64(&w, conn->fd);
	row_text(&w, task);
	row_text(&w, user);
	row_text(&w, db);
	row_text(&w, addr);
	row_i64(&w, conn->port);
	row_u64(&w, cancel);
	row_i64(&w, conn->link ? conn->link->fd : 0);
	row_text(&w, var_of(vars, "client_encoding"));
	row_text(&w, var_of(vars, "standard_conforming_strings"));
	row_text(&w, var_of(vars, "DateStyle"));
	row_text(&w, var_of(vars, "TimeZone"));
	row_text(&w, NULL);
	row_text(&w, NULL);
	row_text(&w, NULL);
	row_put(r, &w);
}

static void show_fds(AdminReply *r)
{
	static const Col cols[] = {
		{ "fd", I4 },		    { "task", TXT },	     { "user", TXT },	      { "database", TXT },
		{ "addr", TXT },	    { "port", I4 },	     { "cancel", I8 },	      { "link", I4 },
		{ "client_encoding", TXT }, { "std_strings", TXT }, { "datestyle", TXT },     { "timezone", TXT },
		{ "password", TXT },	    { "scram_client_key", BYTEA }, { "scram_server_key", BYTEA },
	};
	put_header(r, cols, ARRAY_SIZE(cols));
	List *it;
	list_for_each(it, &rt.clients)
	{
		const Client *c = container_of(it, Client, all_node);
		if (c->is_admin || c->conn.fd < 0)
			continue;
		uint64_t cancel = ((uint64_t)c->cancel_pid << 32) | c->cancel_key;
		fd_row(r, &c->conn, "client", c->user_name, c->db ? c->db->name : NULL, cancel, &c->vars);
	}
	list_for_each(it, &rt.servers)
	{
		const Server *s = container_of(it, Server, all_node);
		if (s->conn.fd < 0)
			continue;
		uint64_t cancel = ((uint64_t)s->backend_pid << 32) | s->backend_key;
		fd_row(r, &s->conn, "server", s->pool->user->name, s->pool->db->name, cancel, &s->vars);
	}
	show_done(r);
}

/* ---- LISTS, USERS, DATABASES, MEM ---- */

static int list_count(const List *l)
{
	int n = 0;
	for (const List *it = l->next; it != l; it = it->next)
		n++;
	return n;
}

static void count_dns_name(void *arg, const char *host, usec_t ttl_left, const char *addrs)
{
	(void)host;
	(void)ttl_left;
	(void)addrs;
	(*(int *)arg)++;
}

static void count_dns_zone(void *arg, const char *zone, uint32_t serial, int n_hosts)
{
	(void)zone;
	(void)serial;
	(void)n_hosts;
	(*(int *)arg)++;
}

static int count_login_clients(void)
{
	int n = 0;
	List *it;
	list_for_each(it, &rt.clients) n += container_of(it, Client, all_node)->state == CL_LOGIN;
	return n;
}

static int count_dns_queries(void)
{
	int n = 0;
	List *it;
	list_for_each(it, &rt.servers) n += container_of(it, Server, all_node)->dns != NULL;
	return n;
}

static int count_peers(void)
{
	int n = 0;
	for (const PeerDef *p = rt.cfg->peers; p; p = p->next)
		n++;
	return n;
}

/* The console's database and pool count, as in PgBouncer. */
static void show_lists(AdminReply *r)
{
	static const Col cols[] = { { "list", TXT }, { "items", I4 } };
	int dns_names = 0, dns_zones = 0;
	if (rt.dns) {
		dns_visit_hosts(rt.dns, count_dns_name, &dns_names);
		dns_visit_zones(rt.dns, count_dns_zone, &dns_zones);
	}
	const struct {
		const char *name;
		int value;
	} items[] = {
		{ "databases", list_count(&rt.databases) + 1 },
		{ "users", list_count(&rt.users) },
		{ "peers", count_peers() },
		{ "pools", list_count(&rt.pools) + 1 },
		{ "peer_pools", peer_pool_count() },
		{ "free_clients", 0 },
		{ "used_clients", list_count(&rt.clients) },
		{ "login_clients", count_login_clients() },
		{ "free_servers", 0 },
		{ "used_servers", list_count(&rt.servers) },
		{ "dns_names", dns_names },
		{ "dns_zones", dns_zones },
		{ "dns_queries", count_dns_queries() },
		{ "dns_pending", rt.dns ? dns_pending_queries(rt.dns) : 0 },
	};
	put_header(r, cols, 2);
	for (size_t i = 0; i < ARRAY_SIZE(items); i++) {
		Row w = { .n = 0 };
		row_text(&w, items[i].name);
		row_i64(&w, items[i].value);
		row_put(r, &w);
	}
	show_done(r);
}

static const Col user_cols[] = {
	{ "name", TXT },		 { "pool_size", TXT },		  { "reserve_pool_size", TXT },
	{ "pool_mode", TXT },		 { "max_user_connections", I4 },  { "current_connections", I4 },
	{ "max_user_client_connections", I4 }, { "current_client_connections", I4 },
};

/* An unset per-user override is an empty string in PgBouncer's text columns. */
static const char *opt_int(char *buf, size_t len, int v)
{
	if (v < 0)
		return "";
	snprintf(buf, len, "%d", v);
	return buf;
}

static void user_row(AdminReply *r, const char *name, const UserDef *ud, const PoolUser *u)
{
	Row w = { .n = 0 };
	char ps[16], rps[16];
	PoolMode mode = u ? u->pool_mode : ud ? ud->pool_mode : POOL_MODE_UNSET;
	int max_conn = u ? u->max_user_connections
			 : ud && ud->max_user_connections >= 0 ? ud->max_user_connections
							       : rt.cfg->max_user_connections;
	int max_cl = u ? u->max_user_client_connections
		       : ud && ud->max_user_client_connections >= 0 ? ud->max_user_client_connections
								    : rt.cfg->max_user_client_connections;
	row_text(&w, name);
	row_text(&w, opt_int(ps, sizeof(ps), u ? u->pool_size : ud ? ud->pool_size : -1));
	row_text(&w, opt_int(rps, sizeof(rps), ud ? ud->reserve_pool_size : -1));
	row_text(&w, mode == POOL_MODE_UNSET ? NULL : config_pool_mode_name(mode));
	row_i64(&w, max_conn);
	row_i64(&w, u ? u->server_count : 0);
	row_i64(&w, max_cl);
	row_i64(&w, u ? u->client_count : 0);
	row_put(r, &w);
}

static bool user_known(const char *name)
{
	return registry_lookup_user(name) != NULL;
}

/* Users seen so far, then [users] entries nobody has used yet. */
static void show_users(AdminReply *r)
{
	put_header(r, user_cols, ARRAY_SIZE(user_cols));
	List *it;
	list_for_each(it, &rt.users)
	{
		const PoolUser *u = container_of(it, PoolUser, node);
		user_row(r, u->name, config_find_user(rt.cfg, u->name), u);
	}
	for (const UserDef *ud = rt.cfg->users; ud; ud = ud->next)
		if (!user_known(ud->name))
			user_row(r, ud->name, ud, NULL);
	/* PgBouncer lists every auth_file user, connected or not */
	for (int i = 0; i < authfile_count(rt.authfile); i++) {
		const char *name = authfile_user_at(rt.authfile, i);
		if (!user_known(name) && !config_find_user(rt.cfg, name))
			user_row(r, name, NULL, NULL);
	}
	show_done(r);
}

static const Col db_cols[] = {
	{ "name", TXT },	       { "host", TXT },		   { "port", I4 },
	{ "database", TXT },	       { "force_user", TXT },	   { "pool_size", I4 },
	{ "min_pool_size", I4 },       { "reserve_pool_size", I4 }, { "server_lifetime", I4 },
	{ "pool_mode", TXT },	       { "load_balance_hosts", TXT }, { "max_connections", I4 },
	{ "current_connections", I4 }, { "max_client_connections", I4 }, { "current_client_connections", I4 },
	{ "paused", I4 },	       { "disabled", I4 },
};

static void database_row(AdminReply *r, const Database *db)
{
	Row w = { .n = 0 };
	row_text(&w, db->name);
	row_text(&w, failover_primary_host(db)); /* where writes go now: host= until a failover */
	row_i64(&w, failover_primary_port(db));
	row_text(&w, db->dbname);
	row_text(&w, db->forced_user);
	row_i64(&w, db->pool_size);
	row_i64(&w, db->min_pool_size);
	row_i64(&w, db->reserve_pool_size);
	row_i64(&w, db->server_lifetime / USEC_PER_SEC);
	row_text(&w, db->pool_mode == POOL_MODE_UNSET ? NULL : config_pool_mode_name(db->pool_mode));
	row_text(&w, db_load_balance_hosts(db));
	row_i64(&w, db->max_db_connections);
	row_i64(&w, db->server_count);
	row_i64(&w, db->max_db_client_connections);
	row_i64(&w, db->client_count);
	row_i64(&w, db->paused);
	row_i64(&w, db->disabled);
	row_put(r, &w);
}

/* The console's virtual database: statement mode, a nominal pool of two. */
static void admin_database_row(AdminReply *r)
{
	Row w = { .n = 0 };
	row_text(&w, ADMIN_DB);
	row_text(&w, NULL);
	row_i64(&w, rt.cfg->listen_port);
	row_text(&w, ADMIN_DB);
	row_text(&w, ADMIN_DB);
	row_i64(&w, ADMIN_POOL_SIZE);
	row_i64(&w, 0);
	row_i64(&w, 0);
	row_i64(&w, rt.cfg->server_lifetime / USEC_PER_SEC);
	row_text(&w, "statement");
	row_text(&w, NULL);
	row_i64(&w, rt.cfg->max_db_connections);
	row_i64(&w, 0);
	row_i64(&w, rt.cfg->max_db_client_connections);
	row_i64(&w, admin_client_count());
	row_i64(&w, 0);
	row_i64(&w, 0);
	row_put(r, &w);
}

static void show_databases(AdminReply *r)
{
	put_header(r, db_cols, ARRAY_SIZE(db_cols));
	List *it;
	list_for_each(it, &rt.databases)
	{
		const Database *db = container_of(it, Database, node);
		if (!db->removed)
			database_row(r, db);
	}
	admin_database_row(r);
	show_done(r);
}

/* pgsplit allocates objects directly: sizes and live counts, nothing kept free. */
static void show_mem(AdminReply *r)
{
	static const Col cols[] = {
		{ "name", TXT }, { "size", I4 }, { "used", I4 }, { "free", I4 }, { "memtotal", I4 },
	};
	const struct {
		const char *name;
		size_t size;
		int used;
	} caches[] = {
		{ "user_cache", sizeof(PoolUser), list_count(&rt.users) },
		{ "db_cache", sizeof(Database), list_count(&rt.databases) },
		{ "pool_cache", sizeof(Pool), list_count(&rt.pools) },
		{ "server_cache", sizeof(Server), list_count(&rt.servers) },
		{ "client_cache", sizeof(Client), list_count(&rt.clients) },
	};
	put_header(r, cols, ARRAY_SIZE(cols));
	for (size_t i = 0; i < ARRAY_SIZE(caches); i++) {
		Row w = { .n = 0 };
		row_text(&w, caches[i].name);
		row_i64(&w, (int64_t)caches[i].size);
		row_i64(&w, caches[i].used);
		row_i64(&w, 0);
		row_i64(&w, (int64_t)caches[i].size * caches[i].used);
		row_put(r, &w);
	}
	show_done(r);
}

/* ---- DNS ---- */

static void dns_host_row(void *arg, const char *host, usec_t ttl_left, const char *addrs)
{
	Row w = { .n = 0 };
	row_text(&w, host);
	row_i64(&w, ttl_left > 0 ? ttl_left / USEC_PER_SEC : 0);
	row_text(&w, addrs);
	row_put(arg, &w);
}

static void show_dns_hosts(AdminReply *r)
{
	static const Col cols[] = { { "hostname", TXT }, { "ttl", I8 }, { "addrs", TXT } };
	put_header(r, cols, ARRAY_SIZE(cols));
	if (rt.dns)
		dns_visit_hosts(rt.dns, dns_host_row, r);
	show_done(r);
}

static void dns_zone_row(void *arg, const char *zone, uint32_t serial, int n_hosts)
{
	Row w = { .n = 0 };
	row_text(&w, zone);
	row_i64(&w, serial);
	row_i64(&w, n_hosts);
	row_put(arg, &w);
}

/* Zones of the cached host names; serial 0 until dns_zone_check_period first asks it. */
static void show_dns_zones(AdminReply *r)
{
	static const Col cols[] = { { "zonename", TXT }, { "serial", I8 }, { "count", I4 } };
	put_header(r, cols, ARRAY_SIZE(cols));
	if (rt.dns)
		dns_visit_zones(rt.dns, dns_zone_row, r);
	show_done(r);
}

/* ---- pgsplit additions ---- */

/* A WAL position as PostgreSQL prints it: high and low 32 bits in hex. */
static const char *fmt_lsn(char *buf, size_t len, uint64_t lsn)
{
	snprintf(buf, len, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
	return buf;
}

static void replica_row(AdminReply *r, const Database *db, const Replica *rep)
{
	Row w = { .n = 0 };
	char lsn[32];
	row_text(&w, db->name);
	row_text(&w, rep->host);
	row_i64(&w, rep->port);
	row_text(&w, router_replica_role_name(rep));
	row_text(&w, router_replica_state_name(rep->state));
	row_u64(&w, rep->lag_bytes);
	row_i64(&w, rep->lag / 1000);
	row_text(&w, rep->replay_lsn ? fmt_lsn(lsn, sizeof(lsn), rep->replay_lsn) : NULL);
	if (rep->last_check)
		row_time(&w, rep->last_check);
	else
		row_text(&w, NULL);
	row_u64(&w, rep->routed);
	row_u64(&w, rep->errors);
	if (rep->timeline)
		row_i64(&w, rep->timeline);
	else
		row_text(&w, NULL);
	row_put(r, &w);
}

/* One row per replica of every database, as the monitor last saw it. */
static void show_replicas(AdminReply *r)
{
	static const Col cols[] = {
		{ "database", TXT }, { "host", TXT },	   { "port", I4 },	 { "role", TXT },
		{ "state", TXT },    { "lag_bytes", I8 },  { "lag_ms", I8 },	 { "replay_lsn", TXT },
		{ "last_check", TXT }, { "routed_transactions", I8 }, { "errors", I8 }, { "timeline", I4 },
	};
	put_header(r, cols, ARRAY_SIZE(cols));
	List *it;
	list_for_each(it, &rt.databases)
	{
		const Database *db = container_of(it, Database, node);
		for (int i = 0; i < db->n_replicas && !db->removed; i++)
			if (!db->replicas[i]->removed)
				replica_row(r, db, db->replicas[i]);
	}
	show_done(r);
}

_Static_assert(ROUTE_REASON_COUNT <= ROUTE_REASON_SLOTS, "route_reasons too small");
_Static_assert(5 + ROUTE_REASON_COUNT <= ROW_MAX, "SHOW ROUTING has too many columns");

/* Routed transactions per database with replicas: by destination, by reason, and RYW. */
static void show_routing(AdminReply *r)
{
	Col cols[ROW_MAX];
	int n = 0;
	cols[n++] = (Col){ "database", TXT };
	cols[n++] = (Col){ "to_primary", I8 };
	cols[n++] = (Col){ "to_replica", I8 };
	for (int i = 0; i < ROUTE_REASON_COUNT; i++)
		cols[n++] = (Col){ router_reason_name((RouteReason)i), I8 };
	cols[n++] = (Col){ "ryw_kept_on_primary", I8 };
	cols[n++] = (Col){ "ryw_waited", I8 };
	put_header(r, cols, n);
	List *it;
	list_for_each(it, &rt.databases)
	{
		const Database *db = container_of(it, Database, node);
		Row w = { .n = 0 };
		if (db->removed || db->n_replicas == 0) /* no routing happens without replicas */
			continue;
		row_text(&w, db->name);
		row_u64(&w, db->routed_primary);
		row_u64(&w, db->routed_replica);
		for (int i = 0; i < ROUTE_REASON_COUNT; i++)
			row_u64(&w, db->route_reasons[i]);
		row_u64(&w, db->ryw_kept_on_primary);
		row_u64(&w, db->ryw_waited);
		row_put(r, &w);
	}
	show_done(r);
}

/* ---- dispatch ---- */

static const AdminView admin_views[] = {
	{ "HELP", show_help, false },
	{ "STATS", show_stats, false },
	{ "STATS_TOTALS", show_stats_totals, false },
	{ "STATS_AVERAGES", show_stats_averages, false },
	{ "TOTALS", show_totals, false },
	{ "SERVERS", show_servers, false },
	{ "CLIENTS", show_clients, false },
	{ "POOLS", show_pools, false },
	{ "PEER_POOLS", show_peer_pools, false },
	{ "LISTS", show_lists, false },
	{ "USERS", show_users, false },
	{ "DATABASES", show_databases, false },
	{ "PEERS", show_peers, false },
	{ "FDS", show_fds, true }, /* cancel keys of every client: admins only */
	{ "SOCKETS", show_sockets, false },
	{ "ACTIVE_SOCKETS", show_active_sockets, false },
	{ "CONFIG", show_config, false },
	{ "MEM", show_mem, false },
	{ "DNS_HOSTS", show_dns_hosts, false },
	{ "DNS_ZONES", show_dns_zones, false },
	{ "STATE", show_state, false },
	{ "VERSION", show_version, false },
	{ "REPLICAS", show_replicas, false },
	{ "ROUTING", show_routing, false },
};

const AdminView *admin_view_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(admin_views); i++)
		if (strcasecmp(admin_views[i].name, name) == 0)
			return &admin_views[i];
	return NULL;
}

bool admin_view_collect(const char *name, const AdminRowSink *sink)
{
	const AdminView *v = admin_view_find(name);
	if (!v)
		return false;
	AdminReply r = { .failed = false, .sink = sink };
	pktbuf_init(&r.pb, 64, 0); /* only the CommandComplete lands here */
	v->render(&r);
	pktbuf_free(&r.pb);
	return true;
}

/* Session settings some drivers read or set on connect; the console plays along. */
static const struct {
	const char *name;
	const char *value;
} fake_params[] = {
	{ "client_encoding", "UTF8" },	       { "default_transaction_isolation", "read committed" },
	{ "standard_conforming_strings", "on" }, { "datestyle", "ISO" },
	{ "timezone", "GMT" },		       { "extra_float_digits", "2" },
};

static int fake_param_index(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(fake_params); i++)
		if (strcasecmp(fake_params[i].name, name) == 0)
			return (int)i;
	return -1;
}

bool admin_is_fake_param(const char *name)
{
	return fake_param_index(name) >= 0;
}

bool admin_show_fake_param(AdminReply *r, const char *name)
{
	int i = fake_param_index(name);
	if (i < 0)
		return false;
	Col col = { fake_params[i].name, TXT };
	Row w = { .n = 0 };
	put_header(r, &col, 1);
	row_text(&w, fake_params[i].value);
	row_put(r, &w);
	show_done(r);
	return true;
}
