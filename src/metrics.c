/*
 * The Prometheus exposition. Figures PgBouncer's SHOW views carry are read from those
 * views (view_table.c runs the console's own renderers), so /metrics and the console
 * never disagree; each column maps to one metric family, as the pgbouncer_exporter maps
 * them. Every family is written whole (HELP, TYPE, then all its samples) because the
 * format does not allow a family's samples to be split.
 */
#include "metrics.h"

#include "lsn.h"
#include "pool.h"
#include "router.h"
#include "runtime.h"
#include "textbuf.h"
#include "view_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How a cell becomes a sample value. */
typedef enum {
	V_CELL,   /* the integer text as it is */
	V_MICROS, /* microseconds, written as seconds */
	V_MILLIS, /* milliseconds, written as seconds */
	V_LSN,    /* a WAL position "X/Y", written as a byte number */
	V_EQUALS, /* 1 when the cell is `match`, else 0 */
	V_ONE,    /* 1, labelled with the extra columns */
} ValueKind;

typedef struct Family {
	const char *column;
	const char *name;
	const char *type; /* "counter" or "gauge" */
	ValueKind kind;
	const char *help;
	const char *const_label; /* e.g. target="primary": one family written from two columns */
	const char *match;       /* V_EQUALS */
	const char *const *extra; /* V_ONE: more columns as labels, NULL-terminated */
} Family;

/* One SHOW view: which columns label every sample, and its families. */
typedef struct ViewMetrics {
	const char *view;
	const char *const *labels; /* column names, used as label names too; NULL-terminated */
	const Family *families;
	size_t n_families;
} ViewMetrics;

#define G "gauge"
#define C "counter"

static const char *const pool_labels[] = { "database", "user", "target", "server", NULL };
static const Family pool_families[] = {
	{ .column = "cl_active", "pgbouncer_pools_client_active_connections", G, V_CELL,
	  "Client connections linked to a server connection and able to process queries" },
	{ .column = "cl_waiting", "pgbouncer_pools_client_waiting_connections", G, V_CELL,
	  "Client connections waiting for a server connection" },
	{ .column = "cl_active_cancel_req", "pgbouncer_pools_client_active_cancel_connections", G, V_CELL,
	  "Client connections that forwarded a cancel request and wait for the answer" },
	{ .column = "cl_waiting_cancel_req", "pgbouncer_pools_client_waiting_cancel_connections", G, V_CELL,
	  "Client connections whose cancel request was not forwarded yet" },
	{ .column = "sv_active", "pgbouncer_pools_server_active_connections", G, V_CELL,
	  "Server connections linked to a client connection" },
	{ .column = "sv_active_cancel", "pgbouncer_pools_server_active_cancel_connections", G, V_CELL,
	  "Server connections forwarding a cancel request" },
	{ .column = "sv_being_canceled", "pgbouncer_pools_server_being_canceled_connections", G, V_CELL,
	  "Server connections waiting for cancel requests in flight to finish" },
	{ .column = "sv_idle", "pgbouncer_pools_server_idle_connections", G, V_CELL,
	  "Server connections idle and ready for a client query" },
	{ .column = "sv_used", "pgbouncer_pools_server_used_connections", G, V_CELL,
	  "Server connections idle long enough to need a check before use" },
	{ .column = "sv_tested", "pgbouncer_pools_server_testing_connections", G, V_CELL,
	  "Server connections running the reset or check query" },
	{ .column = "sv_login", "pgbouncer_pools_server_login_connections", G, V_CELL,
	  "Server connections logging in" },
	{ .column = "maxwait", "pgbouncer_pools_client_maxwait_seconds", G, V_CELL,
	  "Age of the oldest unserved client connection, whole seconds" },
};

static const char *const stats_labels[] = { "database", NULL };
static const Family stats_families[] = {
	{ .column = "total_query_count", "pgbouncer_stats_queries_pooled_total", C, V_CELL, "SQL queries pooled" },
	{ .column = "total_query_time", "pgbouncer_stats_queries_duration_seconds_total", C, V_MICROS,
	  "Seconds spent connected to a server running queries" },
	{ .column = "total_received", "pgbouncer_stats_received_bytes_total", C, V_CELL, "Bytes received from clients" },
	{ .column = "total_sent", "pgbouncer_stats_sent_bytes_total", C, V_CELL, "Bytes sent to clients" },
	{ .column = "total_wait_time", "pgbouncer_stats_client_wait_seconds_total", C, V_MICROS,
	  "Seconds clients spent waiting for a server" },
	{ .column = "total_xact_count", "pgbouncer_stats_sql_transactions_pooled_total", C, V_CELL,
	  "SQL transactions pooled" },
	{ .column = "total_xact_time", "pgbouncer_stats_server_in_transaction_seconds_total", C, V_MICROS,
	  "Seconds spent connected to a server in a transaction, idle in it or running queries" },
	{ .column = "total_server_assignment_count", "pgbouncer_stats_server_assignments_total", C, V_CELL,
	  "Times a server connection was assigned to a client" },
	{ .column = "total_client_parse_count", "pgbouncer_stats_client_parses_total", C, V_CELL,
	  "Prepared statements created by clients" },
	{ .column = "total_server_parse_count", "pgbouncer_stats_server_parses_total", C, V_CELL,
	  "Prepared statements created on servers" },
	{ .column = "total_bind_count", "pgbouncer_stats_binds_total", C, V_CELL, "Prepared statements bound" },
	{ .column = "avg_server_assignment_count", "pgbouncer_stats_avg_server_assignments", G, V_CELL,
	  "Server assignments per second over the last stats_period" },
	{ .column = "avg_xact_count", "pgbouncer_stats_avg_transactions", G, V_CELL,
	  "Transactions per second over the last stats_period" },
	{ .column = "avg_query_count", "pgbouncer_stats_avg_queries", G, V_CELL,
	  "Queries per second over the last stats_period" },
	{ .column = "avg_recv", "pgbouncer_stats_avg_received_bytes", G, V_CELL,
	  "Bytes per second received from clients over the last stats_period" },
	{ .column = "avg_sent", "pgbouncer_stats_avg_sent_bytes", G, V_CELL,
	  "Bytes per second sent to clients over the last stats_period" },
	{ .column = "avg_xact_time", "pgbouncer_stats_avg_transaction_duration_seconds", G, V_MICROS,
	  "Average transaction duration over the last stats_period" },
	{ .column = "avg_query_time", "pgbouncer_stats_avg_query_duration_seconds", G, V_MICROS,
	  "Average query duration over the last stats_period" },
	{ .column = "avg_wait_time", "pgbouncer_stats_avg_wait_seconds", G, V_MICROS,
	  "Average wait for a server per assignment over the last stats_period" },
	{ .column = "avg_client_parse_count", "pgbouncer_stats_avg_client_parses", G, V_CELL,
	  "Client prepared statements per second over the last stats_period" },
	{ .column = "avg_server_parse_count", "pgbouncer_stats_avg_server_parses", G, V_CELL,
	  "Server prepared statements per second over the last stats_period" },
	{ .column = "avg_bind_count", "pgbouncer_stats_avg_binds", G, V_CELL,
	  "Binds per second over the last stats_period" },
	{ .column = "total_routed_primary", "pgsplit_routed_transactions_total", C, V_CELL,
	  "Transactions routed, by destination", "target=\"primary\"" },
	{ .column = "total_routed_replica", "pgsplit_routed_transactions_total", C, V_CELL,
	  "Transactions routed, by destination", "target=\"replica\"" },
	{ .column = "total_ryw_kept_on_primary", "pgsplit_ryw_kept_on_primary_total", C, V_CELL,
	  "Reads kept on the primary because no replica had replayed the client's last write" },
	{ .column = "total_ryw_waited", "pgsplit_ryw_waits_total", C, V_CELL,
	  "Reads that waited (causal_wait) for a replica to replay the client's last write" },
	{ .column = "total_rerun_25006", "pgsplit_reruns_25006_total", C, V_CELL,
	  "Transactions run again on the primary after a replica refused them (SQLSTATE 25006)" },
};

static const char *const db_labels[] = { "name", "host", "port", "database", "force_user", "pool_mode", NULL };
static const Family db_families[] = {
	{ .column = "pool_size", "pgbouncer_databases_pool_size", G, V_CELL, "Maximum number of server connections" },
	{ .column = "min_pool_size", "pgbouncer_databases_min_pool_size", G, V_CELL,
	  "Server connections kept open at least" },
	{ .column = "reserve_pool_size", "pgbouncer_databases_reserve_pool", G, V_CELL,
	  "Additional server connections allowed for this database" },
	{ .column = "max_connections", "pgbouncer_databases_max_connections", G, V_CELL,
	  "Maximum number of server connections for this database (0: no limit)" },
	{ .column = "current_connections", "pgbouncer_databases_current_connections", G, V_CELL,
	  "Server connections of this database now" },
	{ .column = "max_client_connections", "pgbouncer_databases_max_client_connections", G, V_CELL,
	  "Maximum number of client connections for this database (0: no limit)" },
	{ .column = "current_client_connections", "pgbouncer_databases_current_client_connections", G, V_CELL,
	  "Client connections of this database now" },
	{ .column = "paused", "pgbouncer_databases_paused", G, V_CELL, "1 if this database is paused" },
	{ .column = "disabled", "pgbouncer_databases_disabled", G, V_CELL, "1 if this database is disabled" },
};

static const char *const mem_labels[] = { "name", NULL };
static const Family mem_families[] = {
	{ .column = "size", "pgbouncer_mem_object_size_bytes", G, V_CELL, "Size of one object of this kind" },
	{ .column = "used", "pgbouncer_mem_used_objects", G, V_CELL, "Objects of this kind in use" },
	{ .column = "free", "pgbouncer_mem_free_objects", G, V_CELL, "Objects of this kind kept free for reuse" },
	{ .column = "memtotal", "pgbouncer_mem_total_bytes", G, V_CELL, "Memory held by objects of this kind" },
};

static const char *const replica_labels[] = { "database", "host", "port", NULL };
static const char *const replica_info_labels[] = { "role", "state", NULL };
static const Family replica_families[] = {
	{ .column = "state", "pgsplit_replica_info", G, V_ONE, "A replica's role and state (up, lagging, down, promoted, disabled, diverged)",
	  NULL, NULL, replica_info_labels },
	{ .column = "state", "pgsplit_replica_up", G, V_EQUALS, "1 if the replica is in rotation (state up)", NULL, "up" },
	{ .column = "lag_bytes", "pgsplit_replica_lag_bytes", G, V_CELL, "WAL bytes the replica has yet to replay" },
	{ .column = "lag_ms", "pgsplit_replica_lag_seconds", G, V_MILLIS, "How far the replica's replay is behind the primary" },
	{ .column = "replay_lsn", "pgsplit_replica_replay_lsn", G, V_LSN, "The replica's replay position, as a WAL byte number" },
	{ .column = "routed_transactions", "pgsplit_replica_routed_transactions_total", C, V_CELL,
	  "Transactions sent to this replica" },
	{ .column = "errors", "pgsplit_replica_errors_total", C, V_CELL, "Connection or check failures of this replica" },
};

static const ViewMetrics views[] = {
	{ "POOLS", pool_labels, pool_families, ARRAY_SIZE(pool_families) },
	{ "STATS", stats_labels, stats_families, ARRAY_SIZE(stats_families) },
	{ "DATABASES", db_labels, db_families, ARRAY_SIZE(db_families) },
	{ "MEM", mem_labels, mem_families, ARRAY_SIZE(mem_families) },
	{ "REPLICAS", replica_labels, replica_families, ARRAY_SIZE(replica_families) },
};

/* SHOW LISTS has one row per figure: each row is a family of one sample. */
static const struct {
	const char *list;
	const char *name;
	const char *help;
} list_metrics[] = {
	{ "databases", "pgbouncer_databases", "Count of databases" },
	{ "users", "pgbouncer_users", "Count of users" },
	{ "peers", "pgbouncer_peers", "Count of peers" },
	{ "pools", "pgbouncer_pools", "Count of pools" },
	{ "peer_pools", "pgbouncer_peer_pools", "Count of peer pools" },
	{ "free_clients", "pgbouncer_free_clients", "Count of free clients" },
	{ "used_clients", "pgbouncer_used_clients", "Count of used clients" },
	{ "login_clients", "pgbouncer_login_clients", "Count of clients in login state" },
	{ "free_servers", "pgbouncer_free_servers", "Count of free servers" },
	{ "used_servers", "pgbouncer_used_servers", "Count of used servers" },
	{ "dns_names", "pgbouncer_cached_dns_names", "Count of DNS names in the cache" },
	{ "dns_zones", "pgbouncer_cached_dns_zones", "Count of DNS zones in the cache" },
	{ "dns_queries", "pgbouncer_in_flight_dns_queries", "Count of in-flight DNS queries" },
	{ "dns_pending", "pgbouncer_pending_dns_queries", "Count of DNS queries waiting to be sent" },
};

void metrics_family_header(TextBuf *b, const char *name, const char *type, const char *help)
{
	textbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The column index of each name in cols (NULL-terminated), -1 where missing. */
static int column_indexes(const ViewTable *t, const char *const *cols, int *idx)
{
	int n = 0;
	for (; cols[n]; n++)
		idx[n] = view_table_col(t, cols[n]);
	return n;
}

/* `label="value"` pairs of one row, comma-separated, no braces (the row's label set). */
static void put_label_pairs(TextBuf *b, const ViewTable *t, int row, const char *const *cols, const int *idx)
{
	for (int i = 0; cols[i]; i++) {
		if (i)
			textbuf_put(b, ",", 1);
		textbuf_str(b, cols[i]);
		textbuf_put(b, "=", 1);
		const char *v = view_table_cell(t, row, idx[i]);
		textbuf_label_value(b, v ? v : "");
	}
}

/* The renderers write integers; anything else would break the whole scrape. */
static bool put_integer_cell(TextBuf *b, const char *cell)
{
	const char *digits = cell + (*cell == '-'), *end = digits;
	while (*end >= '0' && *end <= '9')
		end++;
	if (end == digits || *end)
		return false;
	textbuf_put(b, cell, (size_t)(end - cell));
	return true;
}

/* The sample value of a cell; false when there is none (SQL NULL or not a number). */
static bool put_value(TextBuf *b, const Family *f, const char *cell)
{
	uint64_t lsn;
	if (f->kind == V_ONE) {
		textbuf_put(b, "1", 1);
		return true;
	}
	if (f->kind == V_EQUALS) {
		textbuf_put(b, cell && strcmp(cell, f->match) == 0 ? "1" : "0", 1);
		return true;
	}
	if (!cell || !*cell)
		return false;
	if (f->kind == V_LSN) {
		if (!lsn_parse(cell, &lsn))
			return false;
		textbuf_decimal(b, lsn, 0);
		return true;
	}
	if (f->kind == V_CELL)
		return put_integer_cell(b, cell);
	char *end;
	unsigned long long n = strtoull(cell, &end, 10);
	if (*end || *cell == '-')
		return false;
	textbuf_decimal(b, n, f->kind == V_MICROS ? 6 : 3);
	return true;
}

/* A row's label set: a slice of one text shared by all rows of a view. */
typedef struct LabelSet {
	const char *text;
	size_t len;
} LabelSet;

/* One sample: name{row labels[,const][,extra]} value; value_col: the family's column. */
static void put_sample(TextBuf *b, const Family *f, size_t name_len, const ViewTable *t, int row, LabelSet labels,
		       int value_col)
{
	size_t mark = b->len;
	textbuf_put(b, f->name, name_len);
	bool any = labels.len > 0 || f->const_label || f->extra;
	if (any)
		textbuf_put(b, "{", 1);
	textbuf_put(b, labels.text, labels.len);
	if (f->const_label) {
		if (labels.len)
			textbuf_put(b, ",", 1);
		textbuf_str(b, f->const_label);
	}
	if (f->extra) {
		int idx[VIEW_TABLE_COLS];
		column_indexes(t, f->extra, idx);
		if (labels.len || f->const_label)
			textbuf_put(b, ",", 1);
		put_label_pairs(b, t, row, f->extra, idx);
	}
	if (any)
		textbuf_put(b, "}", 1);
	textbuf_put(b, " ", 1);
	if (!put_value(b, f, view_table_cell(t, row, value_col))) {
		b->len = mark; /* no value: no sample */
		b->data[mark] = 0;
		return;
	}
	textbuf_put(b, "\n", 1);
}

/* A view being written family by family: its rows and each row's label set. */
typedef struct ViewProgress {
	bool open;
	ViewTable t;
	TextBuf labels; /* every row's label set, back to back */
	size_t *start;  /* row r's label set: labels.data[start[r] .. start[r + 1]) */
	size_t next_family;
} ViewProgress;

static bool view_open(ViewProgress *vp, const ViewMetrics *vm)
{
	memset(vp, 0, sizeof(*vp));
	if (!view_table_collect(&vp->t, vm->view))
		return false;
	/* each row's label set is written once and copied into every family's sample */
	int label_idx[VIEW_TABLE_COLS];
	column_indexes(&vp->t, vm->labels, label_idx);
	vp->start = xcalloc((size_t)vp->t.nrows + 1, sizeof(size_t));
	for (int r = 0; r < vp->t.nrows; r++) {
		vp->start[r] = vp->labels.len;
		put_label_pairs(&vp->labels, &vp->t, r, vm->labels, label_idx);
	}
	vp->start[vp->t.nrows] = vp->labels.len;
	vp->open = true;
	return true;
}

static void view_close(ViewProgress *vp)
{
	if (!vp->open)
		return;
	free(vp->start);
	free(vp->labels.data);
	view_table_free(&vp->t);
	memset(vp, 0, sizeof(*vp));
}

static void view_write_family(TextBuf *b, ViewProgress *vp, const ViewMetrics *vm)
{
	size_t i = vp->next_family++;
	const Family *f = &vm->families[i];
	int col = view_table_col(&vp->t, f->column);
	if (i == 0 || strcmp(vm->families[i - 1].name, f->name) != 0)
		metrics_family_header(b, f->name, f->type, f->help);
	size_t name_len = strlen(f->name);
	for (int r = 0; r < vp->t.nrows; r++) {
		LabelSet ls = { vp->labels.data + vp->start[r], vp->start[r + 1] - vp->start[r] };
		put_sample(b, f, name_len, &vp->t, r, ls, col);
	}
}

/* One step of a view: collect it, or write its next family. True when it is finished. */
static bool view_step(TextBuf *b, ViewProgress *vp, const ViewMetrics *vm)
{
	if (!vp->open)
		return !view_open(vp, vm);
	view_write_family(b, vp, vm);
	if (vp->next_family < vm->n_families)
		return false;
	view_close(vp);
	return true;
}

static void render_lists(TextBuf *b)
{
	ViewTable t;
	if (!view_table_collect(&t, "LISTS"))
		return;
	int key = view_table_col(&t, "list"), val = view_table_col(&t, "items");
	for (size_t i = 0; i < ARRAY_SIZE(list_metrics); i++) {
		for (int r = 0; r < t.nrows; r++) {
			const char *v = view_table_cell(&t, r, val);
			if (!v || strcmp(view_table_cell(&t, r, key), list_metrics[i].list) != 0)
				continue;
			metrics_family_header(b, list_metrics[i].name, G, list_metrics[i].help);
			textbuf_printf(b, "%s %s\n", list_metrics[i].name, v);
		}
	}
	view_table_free(&t);
}

/* SHOW ROUTING: one counter family, the reason as a label (its columns are the reasons). */
static void render_routing_reasons(TextBuf *b)
{
	ViewTable t;
	if (!view_table_collect(&t, "ROUTING"))
		return;
	metrics_family_header(b, "pgsplit_routing_decisions_total", C,
		      "Routing decisions by reason (SHOW ROUTING), per database with replicas");
	int db = view_table_col(&t, "database");
	for (int reason = 0; reason < ROUTE_REASON_COUNT; reason++) {
		int col = view_table_col(&t, router_reason_name((RouteReason)reason));
		for (int r = 0; col >= 0 && r < t.nrows; r++) {
			const char *v = view_table_cell(&t, r, col);
			textbuf_str(b, "pgsplit_routing_decisions_total{database=");
			textbuf_label_value(b, view_table_cell(&t, r, db));
			textbuf_printf(b, ",reason=\"%s\"} %s\n", router_reason_name((RouteReason)reason), v ? v : "0");
		}
	}
	view_table_free(&t);
}

/* Counters no SHOW view carries: the prepared statement caches of each database's servers. */
static void render_prepared_cache(TextBuf *b)
{
	static const struct {
		const char *name;
		const char *help;
		size_t offset;
	} counters[] = {
		{ "pgsplit_prepared_cache_hits_total",
		  "Client statements found already prepared on the server they ran on",
		  offsetof(Database, ps_cache_hits) },
		{ "pgsplit_prepared_cache_evictions_total",
		  "Statements closed on a server to stay within max_prepared_statements",
		  offsetof(Database, ps_cache_evictions) },
	};
	for (size_t i = 0; i < ARRAY_SIZE(counters); i++) {
		metrics_family_header(b, counters[i].name, C, counters[i].help);
		List *it;
		list_for_each(it, &rt.databases)
		{
			const Database *db = container_of(it, Database, node);
			if (db->removed)
				continue;
			textbuf_str(b, counters[i].name);
			textbuf_str(b, "{database=");
			textbuf_label_value(b, db->name);
			textbuf_str(b, "} ");
			textbuf_decimal(b, *(const uint64_t *)((const char *)db + counters[i].offset), 0);
			textbuf_put(b, "\n", 1);
		}
	}
}

static void render_config(TextBuf *b)
{
	metrics_family_header(b, "pgbouncer_config_max_client_connections", G, "Configured max_client_conn");
	textbuf_printf(b, "pgbouncer_config_max_client_connections %d\n", rt.cfg->max_client_conn);
	metrics_family_header(b, "pgbouncer_config_max_user_connections", G, "Configured max_user_connections");
	textbuf_printf(b, "pgbouncer_config_max_user_connections %d\n", rt.cfg->max_user_connections);
	metrics_family_header(b, "pgsplit_version_info", G, "The running pgsplit's version");
	textbuf_str(b, "pgsplit_version_info{version=");
	textbuf_label_value(b, PGSPLIT_VERSION);
	textbuf_str(b, "} 1\n");
}

/* The previous exposition's size: the next buffer starts that large, not grown in steps. */
static size_t last_size;

struct MetricsRender {
	TextBuf b;
	size_t stage; /* 0: the head; 1 .. number of views: that view; then the tail sections */
	ViewProgress view;
	RenderTimes prev;
};

MetricsRender *metrics_render_start(const RenderTimes *prev)
{
	MetricsRender *r = xcalloc(1, sizeof(*r));
	r->prev = *prev;
	textbuf_reserve(&r->b, last_size + last_size / 8);
	return r;
}

static void put_seconds_gauge(TextBuf *b, const char *name, const char *help, usec_t value)
{
	metrics_family_header(b, name, G, help);
	textbuf_str(b, name);
	textbuf_put(b, " ", 1);
	textbuf_decimal(b, (unsigned long long)value, 6);
	textbuf_put(b, "\n", 1);
}

static void render_head(TextBuf *b, const RenderTimes *prev)
{
	metrics_family_header(b, "pgbouncer_up", G, "1: the pooler answered this scrape");
	textbuf_str(b, "pgbouncer_up 1\n");
	put_seconds_gauge(b, "pgsplit_last_scrape_duration_seconds",
			  "Event loop time the previous /metrics took to render, all its slices together", prev->total);
	put_seconds_gauge(b, "pgsplit_last_scrape_longest_slice_seconds",
			  "Longest the previous /metrics render kept the event loop from its clients at once",
			  prev->longest_slice);
}

/* The sections after the views, one step each. */
static void (*const tail_sections[])(TextBuf *b) = {
	render_lists, render_routing_reasons, render_prepared_cache, render_config, metrics_render_process,
};

bool metrics_render_step(MetricsRender *r)
{
	if (r->stage == 0) {
		render_head(&r->b, &r->prev);
		r->stage++;
		return false;
	}
	if (r->stage <= ARRAY_SIZE(views)) {
		if (view_step(&r->b, &r->view, &views[r->stage - 1]))
			r->stage++;
		return false;
	}
	tail_sections[r->stage - 1 - ARRAY_SIZE(views)](&r->b);
	return ++r->stage > ARRAY_SIZE(views) + ARRAY_SIZE(tail_sections);
}

char *metrics_render_finish(MetricsRender *r, size_t *len)
{
	char *text = r->b.data;
	*len = r->b.len;
	last_size = r->b.len;
	free(r);
	return text;
}

void metrics_render_abort(MetricsRender *r)
{
	view_close(&r->view);
	free(r->b.data);
	free(r);
}

char *metrics_render(size_t *len, const RenderTimes *prev)
{
	MetricsRender *r = metrics_render_start(prev);
	while (!metrics_render_step(r))
		;
	return metrics_render_finish(r, len);
}
