/*
 * A SHOW view's rows copied out as they are produced: the renderer's cells live only
 * while it writes one row, so each is copied into one growing text arena.
 */
#include "view_table.h"

#include "admin.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t table_add_text(ViewTable *t, const char *s)
{
	size_t n = strlen(s) + 1;
	if (t->len + n > t->cap) {
		t->cap = (t->len + n) * 2;
		t->text = xrealloc(t->text, t->cap);
	}
	memcpy(t->text + t->len, s, n);
	t->len += n;
	return t->len - n;
}

static void table_columns(void *arg, int n, const char *const *names)
{
	ViewTable *t = arg;
	t->ncols = n < VIEW_TABLE_COLS ? n : VIEW_TABLE_COLS;
	for (int i = 0; i < t->ncols; i++)
		t->col_names[i] = table_add_text(t, names[i]);
}

static void table_row(void *arg, int n, const char *const *cells)
{
	ViewTable *t = arg;
	if (t->nrows == t->cap_rows) {
		t->cap_rows = t->cap_rows ? t->cap_rows * 2 : 64;
		t->cells = xrealloc(t->cells, (size_t)t->cap_rows * (size_t)t->ncols * sizeof(size_t));
	}
	size_t *row = t->cells + (size_t)t->nrows * (size_t)t->ncols;
	for (int i = 0; i < t->ncols; i++)
		row[i] = i < n && cells[i] ? table_add_text(t, cells[i]) : SIZE_MAX;
	t->nrows++;
}

bool view_table_collect(ViewTable *t, const char *name)
{
	memset(t, 0, sizeof(*t));
	AdminRowSink sink = { table_columns, table_row, t };
	return admin_view_collect(name, &sink);
}

void view_table_free(ViewTable *t)
{
	free(t->cells);
	free(t->text);
	memset(t, 0, sizeof(*t));
}

int view_table_col(const ViewTable *t, const char *name)
{
	for (int i = 0; i < t->ncols; i++)
		if (strcmp(t->text + t->col_names[i], name) == 0)
			return i;
	return -1;
}

const char *view_table_col_name(const ViewTable *t, int col)
{
	return t->text + t->col_names[col];
}

const char *view_table_cell(const ViewTable *t, int row, int col)
{
	if (col < 0 || col >= t->ncols || row < 0 || row >= t->nrows)
		return NULL;
	size_t at = t->cells[(size_t)row * (size_t)t->ncols + (size_t)col];
	return at == SIZE_MAX ? NULL : t->text + at;
}
