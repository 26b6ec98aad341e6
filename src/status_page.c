/* The status page's frame, its summary line and its pools table (see status_page.h). */
#include "status_page.h"

#include "runtime.h"
#include "status_database.h"
#include "textbuf.h"
#include "view_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char page_style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2430}"
	"header{background:#1d2430;color:#fff;padding:10px 20px;display:flex;gap:24px;align-items:baseline;"
	"flex-wrap:wrap}header h1{font-size:20px;margin:0}main{padding:8px 20px}"
	"section{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:8px 14px;margin:12px 0}"
	"h2{font-size:16px;margin:4px 0 8px}table{border-collapse:collapse;width:100%}"
	"th,td{padding:3px 8px;border-bottom:1px solid #e6e8ec;text-align:left;white-space:nowrap}"
	"th{font-weight:600;color:#5a6372;font-size:12px}td.num{text-align:right;font-variant-numeric:tabular-nums}"
	".state{padding:1px 8px;border-radius:9px;color:#fff;font-weight:600;font-size:12px}"
	".st-up{background:#2e8540}.st-lagging{background:#c77c02}.st-down{background:#c62828}"
	".st-unknown,.st-disabled{background:#7a828e}.st-promoted{background:#1565c0}.st-diverged{background:#7b1fa2}"
	".charts{display:flex;gap:16px;flex-wrap:wrap}.chart{flex:1 1 420px;margin:10px 0 0}"
	"figcaption{font-size:12px;color:#5a6372;font-weight:600}svg{width:100%;height:auto;display:block}"
	".grid{stroke:#e1e4e8}.axis{font-size:10px;fill:#5a6372}"
	".line{fill:none;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}"
	".legend{font-size:12px;display:flex;gap:12px;flex-wrap:wrap}"
	".legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}"
	".c0{stroke:#1565c0;background:#1565c0}.c1{stroke:#e65100;background:#e65100}"
	".c2{stroke:#2e7d32;background:#2e7d32}.c3{stroke:#6a1b9a;background:#6a1b9a}"
	".c4{stroke:#00838f;background:#00838f}.c5{stroke:#ad1457;background:#ad1457}"
	".c6{stroke:#827717;background:#827717}.c7{stroke:#4e342e;background:#4e342e}"
	".cp{fill:#5c6bc0;background:#5c6bc0}.cr{fill:#26a69a;background:#26a69a}"
	".note{color:#5a6372;font-size:12px}footer{padding:0 20px 16px;font-size:12px;color:#5a6372}";

static const char *pooler_state(void)
{
	if (rt.shutting_down)
		return "shutting down";
	if (rt.suspended)
		return "suspended";
	return rt.paused ? "paused" : "accepting clients";
}

static void put_duration(TextBuf *b, usec_t d)
{
	long long s = d / USEC_PER_SEC;
	if (s >= 86400)
		textbuf_printf(b, "%lldd %lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		textbuf_printf(b, "%lldh %lldm", s / 3600, s % 3600 / 60);
	else
		textbuf_printf(b, "%lldm %llds", s / 60, s % 60);
}

static void page_header(TextBuf *b)
{
	usec_t now = time_now_wall();
	time_t t = (time_t)(now / USEC_PER_SEC);
	struct tm tm;
	char at[32];
	gmtime_r(&t, &tm);
	strftime(at, sizeof(at), "%Y-%m-%d %H:%M:%S UTC", &tm);
	textbuf_printf(b, "<header><h1>pgsplit</h1><span>version %s</span><span id=\"pooler-state\">%s</span>",
		       PGSPLIT_VERSION, pooler_state());
	textbuf_str(b, "<span>up ");
	put_duration(b, now - rt.start_time);
	textbuf_printf(b, "</span><span>clients: %d</span><span>as of %s, refreshed every %d s</span></header>",
		       rt.client_count, at, STATUS_REFRESH_SECS);
}

static void database_sections(TextBuf *b)
{
	bool any = false;
	List *it;
	list_for_each(it, &rt.databases)
	{
		const Database *db = container_of(it, Database, node);
		if (db->removed || db->n_replicas == 0)
			continue;
		status_database_section(b, db);
		any = true;
	}
	if (!any)
		textbuf_str(b, "<section><p class=\"note\">No database has replicas.</p></section>");
}

/* SHOW POOLS's columns shown, in the console's own figures; counts align right. */
static const struct {
	const char *name;
	bool count;
} pool_columns[] = {
	{ "database", false }, { "user", false },   { "target", false },  { "server", false },
	{ "cl_active", true }, { "cl_waiting", true }, { "sv_active", true }, { "sv_idle", true },
	{ "sv_used", true },   { "sv_login", true },   { "maxwait", true },   { "pool_mode", false },
};

static void pool_row(TextBuf *b, const ViewTable *t, int row, const int *cols)
{
	textbuf_str(b, "<tr>");
	for (size_t i = 0; i < ARRAY_SIZE(pool_columns); i++) {
		const char *cell = view_table_cell(t, row, cols[i]);
		textbuf_str(b, pool_columns[i].count ? "<td class=\"num\">" : "<td>");
		textbuf_html(b, cell ? cell : "");
		textbuf_str(b, "</td>");
	}
	textbuf_str(b, "</tr>");
}

static void pools_table(TextBuf *b)
{
	ViewTable t;
	if (!view_table_collect(&t, "POOLS"))
		return;
	int cols[ARRAY_SIZE(pool_columns)];
	textbuf_str(b, "<section><h2>Pools</h2><table class=\"pools\"><thead><tr>");
	for (size_t i = 0; i < ARRAY_SIZE(pool_columns); i++) {
		cols[i] = view_table_col(&t, pool_columns[i].name);
		textbuf_printf(b, "<th>%s</th>", pool_columns[i].name);
	}
	textbuf_str(b, "</tr></thead><tbody>");
	for (int r = 0; r < t.nrows && r < STATUS_MAX_POOL_ROWS; r++)
		pool_row(b, &t, r, cols);
	textbuf_str(b, "</tbody></table>");
	if (t.nrows > STATUS_MAX_POOL_ROWS)
		textbuf_printf(b, "<p class=\"note\">%d more pools: see SHOW POOLS or /metrics.</p>",
			       t.nrows - STATUS_MAX_POOL_ROWS);
	textbuf_str(b, "</section>");
	view_table_free(&t);
}

char *status_page_render(size_t *len)
{
	TextBuf b = { 0 };
	textbuf_printf(&b,
		       "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
		       "<meta http-equiv=\"refresh\" content=\"%d\"><title>pgsplit status</title><style>",
		       STATUS_REFRESH_SECS);
	textbuf_str(&b, page_style);
	textbuf_str(&b, "</style></head><body>");
	page_header(&b);
	textbuf_str(&b, "<main>");
	database_sections(&b);
	pools_table(&b);
	textbuf_str(&b, "</main><footer><a href=\"/metrics\">metrics</a> · <a href=\"/health\">health</a></footer>"
			"</body></html>\n");
	*len = b.len;
	return b.data;
}
