/* A database's section of the status page (see status_database.h). */
#include "status_database.h"

#include "health.h"
#include "history.h"
#include "lsn.h"
#include "router.h"
#include "runtime.h"
#include "svg_chart.h"

#include <stdio.h>
#include <stdlib.h>

/* host:port of a server; a NULL host is the Unix socket. */
static void put_server_name(TextBuf *b, const char *host, int port)
{
	textbuf_html(b, host ? host : "unix");
	textbuf_printf(b, ":%d", port);
}

static void put_state(TextBuf *b, const char *state)
{
	textbuf_printf(b, "<td><span class=\"state st-%s\">%s</span></td>", state, state);
}

static void open_server_row(TextBuf *b, const char *role, const char *host, int port)
{
	textbuf_str(b, "<tr data-server=\"");
	put_server_name(b, host, port);
	textbuf_printf(b, "\"><td>%s</td><td>", role);
	put_server_name(b, host, port);
	textbuf_str(b, "</td>");
}

static void primary_row(TextBuf *b, const Database *db)
{
	open_server_row(b, "primary", db->host, db->port);
	put_state(b, health_primary_state_name(db));
	textbuf_printf(b, "<td></td><td></td><td></td><td></td><td class=\"num\">%llu</td><td></td></tr>",
		       (unsigned long long)db->routed_primary);
}

/* A lag measured while a replica answers; a stopped one's last figures would mislead. */
static bool lag_is_current(ReplicaState state)
{
	return state == REPLICA_UP || state == REPLICA_LAGGING;
}

static void put_lag_cells(TextBuf *b, const Replica *r)
{
	if (!lag_is_current(r->state)) {
		textbuf_str(b, "<td></td><td></td>");
		return;
	}
	usec_t ms = r->lag / 1000;
	if (ms < 1000)
		textbuf_printf(b, "<td class=\"num\">%lld ms</td>", (long long)ms);
	else
		textbuf_printf(b, "<td class=\"num\">%.1f s</td>", (double)ms / 1000);
	textbuf_printf(b, "<td class=\"num\">%llu</td>", (unsigned long long)r->lag_bytes);
}

static void put_last_check(TextBuf *b, usec_t last_check)
{
	if (!last_check) {
		textbuf_str(b, "<td>never</td>");
		return;
	}
	double ago = (double)(time_now_wall() - last_check) / USEC_PER_SEC;
	textbuf_printf(b, "<td class=\"num\">%.1f s ago</td>", ago < 0 ? 0 : ago);
}

static void replica_row(TextBuf *b, const Replica *r)
{
	char lsn[32] = "";
	if (r->replay_lsn)
		lsn_format(r->replay_lsn, lsn, sizeof(lsn));
	open_server_row(b, router_replica_role_name(r), r->host, r->port);
	put_state(b, router_replica_state_name(r->state));
	put_lag_cells(b, r);
	textbuf_printf(b, "<td>%s</td>", lsn);
	put_last_check(b, r->last_check);
	textbuf_printf(b, "<td class=\"num\">%llu</td><td class=\"num\">%llu</td></tr>",
		       (unsigned long long)r->routed, (unsigned long long)r->errors);
}

static void servers_table(TextBuf *b, const Database *db)
{
	textbuf_str(b, "<table class=\"servers\"><thead><tr><th>Role</th><th>Server</th><th>State</th>"
		       "<th>Lag</th><th>Lag (bytes)</th><th>Replay LSN</th><th>Last check</th>"
		       "<th>Routed</th><th>Errors</th></tr></thead><tbody>");
	primary_row(b, db);
	for (int i = 0; i < db->n_replicas; i++)
		if (!db->replicas[i]->removed)
			replica_row(b, db->replicas[i]);
	textbuf_str(b, "</tbody></table>");
}

/* Chart data of one track, kept together so both charts are drawn from one pass. */
typedef struct ChartData {
	int n;
	int span_secs;
	double lag[HISTORY_MAX_REPLICAS][HISTORY_SAMPLES];
	bool answered[HISTORY_MAX_REPLICAS][HISTORY_SAMPLES];
	double to_primary[HISTORY_SAMPLES];
	double to_replica[HISTORY_SAMPLES];
} ChartData;

static void collect(const HistoryTrack *t, ChartData *d)
{
	d->n = history_count(t);
	for (int i = 0; i < d->n; i++) {
		const HistorySample *s = history_at(t, i);
		d->to_primary[i] = s->to_primary;
		d->to_replica[i] = s->to_replica;
		for (int k = 0; k < history_replicas(t); k++) {
			d->answered[k][i] = lag_is_current((ReplicaState)s->replicas[k].state);
			d->lag[k][i] = s->replicas[k].lag_ms / 1000.0;
		}
	}
	d->span_secs = d->n ? (int)((history_at(t, d->n - 1)->at - history_at(t, 0)->at) / USEC_PER_SEC) : 0;
}

static void lag_chart(TextBuf *b, const HistoryTrack *t, const ChartData *d)
{
	ChartSeries series[HISTORY_MAX_REPLICAS];
	char labels[HISTORY_MAX_REPLICAS][300];
	char classes[HISTORY_MAX_REPLICAS][16];
	int n = history_replicas(t);
	for (int i = 0; i < n; i++) {
		history_replica_name(t, i, labels[i], sizeof(labels[i]));
		snprintf(classes[i], sizeof(classes[i]), "c%d", i);
		series[i] = (ChartSeries){ labels[i], classes[i], d->lag[i], d->answered[i] };
	}
	Chart c = { "Replica lag (gaps: not answering)", "s", d->n, d->span_secs, series, n };
	chart_lines(b, &c);
}

static void routing_chart(TextBuf *b, const ChartData *d)
{
	ChartSeries series[] = {
		{ "to the primary", "cp", d->to_primary, NULL },
		{ "to replicas", "cr", d->to_replica, NULL },
	};
	Chart c = { "Transactions routed per second", "tx", d->n, d->span_secs, series, 2 };
	chart_stacked_bars(b, &c);
}

static void charts(TextBuf *b, const Database *db)
{
	const HistoryTrack *t = history_of(db);
	if (!t || history_count(t) == 0) {
		textbuf_printf(b, "<p class=\"note\">No history: it is kept for the first %d databases with "
				  "replicas, from a second after they are loaded.</p>",
			       HISTORY_MAX_DATABASES);
		return;
	}
	ChartData *d = xcalloc(1, sizeof(*d));
	collect(t, d);
	textbuf_str(b, "<div class=\"charts\">");
	lag_chart(b, t, d);
	routing_chart(b, d);
	textbuf_str(b, "</div>");
	free(d);
}

void status_database_section(TextBuf *b, const Database *db)
{
	textbuf_str(b, "<section class=\"database\"><h2>");
	textbuf_html(b, db->name);
	textbuf_str(b, "</h2>");
	servers_table(b, db);
	charts(b, db);
	textbuf_str(b, "</section>");
}
