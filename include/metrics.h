/*
 * GET /metrics: the pooler's figures in the Prometheus text exposition format (0.0.4).
 * PgBouncer's SHOW views under the prometheus-community pgbouncer_exporter's names
 * (pgbouncer_pools_*, pgbouncer_stats_*, pgbouncer_databases_*, ...), pgsplit's own
 * under pgsplit_*, and the process under the usual process_* names.
 */
#ifndef PGSPLIT_METRICS_H
#define PGSPLIT_METRICS_H

#include "common.h"

#include <stddef.h>

/* How the previous render went, reported as gauges by the next. */
typedef struct RenderTimes {
	usec_t total;         /* the event loop's time spent on it, all slices together */
	usec_t longest_slice; /* the longest the loop was kept from its clients by it */
} RenderTimes;

/* The whole exposition at once as one malloc'd text (caller frees); *len is its length. */
char *metrics_render(size_t *len, const RenderTimes *prev);

/*
 * The same in steps, so the event loop can serve clients in between: each step collects
 * one SHOW view or writes one family of it (at most one row per pool or database). A
 * step reads only the pooler's state at that moment, so a family is consistent in
 * itself; families written in different steps may be moments apart.
 */
typedef struct MetricsRender MetricsRender;
MetricsRender *metrics_render_start(const RenderTimes *prev);
/* One step; true when the exposition is complete (then call metrics_render_finish). */
bool metrics_render_step(MetricsRender *r);
/* The text (caller frees) and its length; frees r. */
char *metrics_render_finish(MetricsRender *r, size_t *len);
/* Drop an unfinished render. */
void metrics_render_abort(MetricsRender *r);

/* ---- shared by the metrics_*.c renderers ---- */

typedef struct TextBuf TextBuf;
/* A family's "# HELP" and "# TYPE" lines; type is "counter" or "gauge". */
void metrics_family_header(TextBuf *b, const char *name, const char *type, const char *help);
/* process_open_fds, process_resident_memory_bytes and the other process_* families. */
void metrics_render_process(TextBuf *b);

#endif
