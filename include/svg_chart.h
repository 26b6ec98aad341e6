/*
 * Small inline SVG charts for the status page: lines (with gaps) and stacked bars over
 * evenly spaced samples, the newest at the right. Colours come from CSS classes the page
 * defines, so the SVG carries no style of its own.
 */
#ifndef PGSPLIT_SVG_CHART_H
#define PGSPLIT_SVG_CHART_H

#include "textbuf.h"

typedef struct ChartSeries {
	const char *label;   /* legend text, HTML-escaped when written */
	const char *css;     /* class giving its colour */
	const double *values;
	const bool *present; /* false: no value there (a gap in a line); NULL: all present */
} ChartSeries;

typedef struct Chart {
	const char *title;
	const char *unit;  /* after axis values: "s", "tx" */
	int n_points;
	int span_secs;     /* time from the first point to the last, for the x-axis */
	const ChartSeries *series;
	int n_series;
} Chart;

void chart_lines(TextBuf *b, const Chart *c);
/* The series stacked in order, the first at the bottom. */
void chart_stacked_bars(TextBuf *b, const Chart *c);

#endif
