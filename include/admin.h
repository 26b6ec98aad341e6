/*
 * The admin console: the virtual database "pgbouncer" (alias "pgsplit"). Who may log in
 * and what they may run, the command parser and the control commands live in admin.c;
 * the SHOW views, one renderer each with PgBouncer 1.25's columns, live in admin_show.c.
 * Simple query protocol only. Nothing here changes how pools work: control commands use
 * the flags the pool and client modules already honour (paused, disabled, dirty).
 */
#ifndef PGSPLIT_ADMIN_H
#define PGSPLIT_ADMIN_H

#include "pktbuf.h"
#include "sbuf.h"

typedef struct Client Client;

/*
 * Startup for the console: notes whether the user may use it (a refusal is said only
 * after authentication, so it reveals nothing to a wrong password). Returns true when
 * the caller should authenticate the client as usual; false when the login was finished
 * here (a same-uid Unix-socket peer let in without a password).
 */
bool admin_client_login(Client *client);
/* After authentication: send the welcome. */
void admin_welcome(Client *client);
SbufVerdict admin_on_message(Client *client, const SbufMsg *msg);
/* Called by the maintenance timer: finish commands that wait (PAUSE, WAIT_CLOSE, ...). */
void admin_tick(void);
/* A CancelRequest for a console session: a waiting command gives up. */
void admin_cancel(Client *client);

/*
 * Run the SHOW view called name and hand its columns and rows to sink instead of a
 * client (the metrics endpoint reads the same figures the console shows). False if there
 * is no such view.
 */
struct AdminRowSink;
bool admin_view_collect(const char *name, const struct AdminRowSink *sink);

/* ---- shared by admin.c and admin_show.c only ---- */

/*
 * Where a view's rows go when they are not sent to a console client: the column names,
 * then each row's cells as text (NULL for SQL NULL). Pointers are valid only during the
 * call.
 */
typedef struct AdminRowSink {
	void (*columns)(void *arg, int n, const char *const *names);
	void (*row)(void *arg, int n, const char *const *cells);
	void *arg;
} AdminRowSink;

/* The answer to one query string being built: results, errors, notices. */
typedef struct AdminReply {
	PktBuf pb;
	bool failed; /* an ErrorResponse was added: the rest of the query string is skipped */
	const AdminRowSink *sink; /* NULL: rows go into pb for the client */
} AdminReply;

void admin_reply_error(AdminReply *r, const char *sqlstate, const char *fmt, ...) PRINTF(3, 4);
void admin_reply_complete(AdminReply *r, const char *tag);

/* One SHOW view. admin_only: refused to stats_users (PgBouncer reserves SHOW FDS). */
typedef struct AdminView {
	const char *name;
	void (*render)(AdminReply *r);
	bool admin_only;
} AdminView;

/* The view called name (case-insensitive), or NULL. */
const AdminView *admin_view_find(const char *name);
/* SHOW of a session parameter drivers ask for (client_encoding...): false if not one. */
bool admin_show_fake_param(AdminReply *r, const char *name);
/* Whether SET name is one of those parameters (accepted and ignored). */
bool admin_is_fake_param(const char *name);
/* Queries run on the console so far, for the "pgbouncer" row of SHOW STATS. */
uint64_t admin_query_count(void);
/* Console clients logged in now (SHOW POOLS / DATABASES rows of "pgbouncer"). */
int admin_client_count(void);

#endif
