/*
 * The charts' geometry: a fixed viewBox that the page scales to its column, a y-axis
 * rounded up to 1, 2 or 5 times a power of ten so its labels read easily, and one path
 * per series (not one element per sample) to keep the page small at 300 samples.
 */
#include "svg_chart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define CHART_W 480
#define CHART_H 150
#define PAD_LEFT 52
#define PAD_RIGHT 8
#define PAD_TOP 8
#define PAD_BOTTOM 18
#define PLOT_W (CHART_W - PAD_LEFT - PAD_RIGHT)
#define PLOT_H (CHART_H - PAD_TOP - PAD_BOTTOM)

/*
 * A coordinate to one decimal, without printf: a page of 16 full charts has some 60,000
 * of them, and printf made most of its render time.
 */
static void put_coord(TextBuf *b, double v)
{
	textbuf_decimal(b, (unsigned long long)(v * 10 + 0.5), 1);
}

static bool is_present(const ChartSeries *s, int i)
{
	return !s->present || s->present[i];
}

/* The smallest of 1, 2, 5 times a power of ten at or above v; 1 for nothing to show. */
static double nice_ceiling(double v)
{
	if (!(v > 0))
		return 1;
	double p = pow(10, floor(log10(v)));
	for (int i = 0; i < 3; i++) {
		static const double steps[] = { 1, 2, 5 };
		if (steps[i] * p >= v)
			return steps[i] * p;
	}
	return 10 * p;
}

static double axis_max(const Chart *c, bool stacked)
{
	double top = 0;
	for (int i = 0; i < c->n_points; i++) {
		double sum = 0;
		for (int k = 0; k < c->n_series; k++) {
			const ChartSeries *s = &c->series[k];
			if (!is_present(s, i))
				continue;
			if (stacked)
				sum += s->values[i];
			else if (s->values[i] > top)
				top = s->values[i];
		}
		if (sum > top)
			top = sum;
	}
	return nice_ceiling(top);
}

static double x_of(const Chart *c, int i)
{
	if (c->n_points <= 1)
		return PAD_LEFT + PLOT_W;
	return PAD_LEFT + (double)PLOT_W * i / (c->n_points - 1);
}

static double y_of(double v, double max)
{
	return PAD_TOP + PLOT_H - PLOT_H * (v / max);
}

static void open_chart(TextBuf *b, const Chart *c, double max)
{
	textbuf_str(b, "<figure class=\"chart\"><figcaption>");
	textbuf_html(b, c->title);
	textbuf_printf(b, "</figcaption><svg viewBox=\"0 0 %d %d\" role=\"img\">", CHART_W, CHART_H);
	/* grid at 0, half and the top, labelled */
	for (int g = 0; g <= 2; g++) {
		double v = max * g / 2, y = y_of(v, max);
		textbuf_printf(b, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", PAD_LEFT, y,
			       CHART_W - PAD_RIGHT, y);
		textbuf_printf(b, "<text class=\"axis\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g ", PAD_LEFT - 4,
			       y + 4, v);
		textbuf_html(b, c->unit);
		textbuf_str(b, "</text>");
	}
	textbuf_printf(b, "<text class=\"axis\" x=\"%d\" y=\"%d\">-%d s</text>", PAD_LEFT, CHART_H - 4,
		       c->span_secs);
	textbuf_printf(b, "<text class=\"axis\" x=\"%d\" y=\"%d\" text-anchor=\"end\">now</text>",
		       CHART_W - PAD_RIGHT, CHART_H - 4);
}

static void close_chart(TextBuf *b, const Chart *c)
{
	textbuf_str(b, "</svg><div class=\"legend\">");
	for (int k = 0; k < c->n_series; k++) {
		textbuf_str(b, "<span><i class=\"");
		textbuf_html(b, c->series[k].css);
		textbuf_str(b, "\"></i>");
		textbuf_html(b, c->series[k].label);
		textbuf_str(b, "</span>");
	}
	textbuf_str(b, "</div></figure>");
}

void chart_lines(TextBuf *b, const Chart *c)
{
	double max = axis_max(c, false);
	open_chart(b, c, max);
	for (int k = 0; k < c->n_series; k++) {
		const ChartSeries *s = &c->series[k];
		textbuf_str(b, "<path class=\"line ");
		textbuf_html(b, s->css);
		textbuf_str(b, "\" d=\"");
		bool drawing = false;
		for (int i = 0; i < c->n_points; i++) {
			if (!is_present(s, i)) {
				drawing = false;
				continue;
			}
			textbuf_put(b, drawing ? "L" : "M", 1);
			put_coord(b, x_of(c, i));
			textbuf_put(b, " ", 1);
			put_coord(b, y_of(s->values[i], max));
			/* a lone point after a gap is a zero-length segment: its round cap shows it */
			if (!drawing)
				textbuf_str(b, "l0 0");
			drawing = true;
		}
		textbuf_str(b, "\"/>");
	}
	close_chart(b, c);
}

void chart_stacked_bars(TextBuf *b, const Chart *c)
{
	double max = axis_max(c, true);
	double bar = (double)PLOT_W / (c->n_points > 0 ? c->n_points : 1);
	TextBuf width = { 0 };
	put_coord(&width, bar);
	open_chart(b, c, max);
	for (int k = 0; k < c->n_series; k++) {
		const ChartSeries *s = &c->series[k];
		textbuf_str(b, "<path class=\"bar ");
		textbuf_html(b, s->css);
		textbuf_str(b, "\" d=\"");
		for (int i = 0; i < c->n_points; i++) {
			double below = 0;
			for (int j = 0; j < k; j++)
				below += is_present(&c->series[j], i) ? c->series[j].values[i] : 0;
			if (!is_present(s, i) || s->values[i] <= 0)
				continue;
			/* M x,bottom h width V top h -width Z: a bar in relative steps */
			textbuf_put(b, "M", 1);
			put_coord(b, PAD_LEFT + bar * i);
			textbuf_put(b, " ", 1);
			put_coord(b, y_of(below, max));
			textbuf_put(b, "h", 1);
			textbuf_put(b, width.data, width.len);
			textbuf_put(b, "V", 1);
			put_coord(b, y_of(below + s->values[i], max));
			textbuf_put(b, "h-", 2);
			textbuf_put(b, width.data, width.len);
			textbuf_put(b, "Z", 1);
		}
		textbuf_str(b, "\"/>");
	}
	free(width.data);
	close_chart(b, c);
}
