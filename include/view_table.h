/*
 * A SHOW view's answer kept in memory as text cells, for readers other than the console
 * (the metrics endpoint): the same renderer fills it, so both see the same figures.
 */
#ifndef PGSPLIT_VIEW_TABLE_H
#define PGSPLIT_VIEW_TABLE_H

#include "common.h"

#include <stddef.h>

#define VIEW_TABLE_COLS 48

typedef struct ViewTable {
	int ncols;
	size_t col_names[VIEW_TABLE_COLS]; /* offsets into text */
	size_t *cells;                     /* nrows * ncols offsets into text; SIZE_MAX: NULL */
	int nrows;
	int cap_rows;
	char *text; /* every name and cell, NUL-terminated, back to back */
	size_t len;
	size_t cap;
} ViewTable;

/* Run the view called name (as SHOW name) into t; false if there is no such view. */
bool view_table_collect(ViewTable *t, const char *name);
void view_table_free(ViewTable *t);
/* The index of the column called name, or -1. */
int view_table_col(const ViewTable *t, const char *name);
const char *view_table_col_name(const ViewTable *t, int col);
/* A cell's text; NULL for SQL NULL or a column index of -1. */
const char *view_table_cell(const ViewTable *t, int row, int col);

#endif
