/*
 * One database's part of the status page: its servers (primary and replicas, with role,
 * state and lag) and, when history.c tracks it, charts of replica lag and of the
 * routing split over the last minutes.
 */
#ifndef PGSPLIT_STATUS_DATABASE_H
#define PGSPLIT_STATUS_DATABASE_H

#include "pool.h"
#include "textbuf.h"

void status_database_section(TextBuf *b, const Database *db);

#endif
