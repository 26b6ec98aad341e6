/*
 * The health verdict. A primary counts as up when the replica monitor's check of it
 * answered recently, or, for a database the monitor does not watch, when a logged-in
 * server connection to it is open; as down when the monitor's checks stopped answering,
 * or when the last connection attempt failed and none is open. A primary nothing has
 * tried yet is "unknown" and does not fail the check: a pooler that has had no client
 * since it started is healthy.
 */
#include "health.h"
#include "failover.h"

#include "monitor.h"
#include "pool.h"
#include "router.h"
#include "runtime.h"

#include <stdlib.h>
#include <string.h>

typedef enum { PRIMARY_UNKNOWN, PRIMARY_UP, PRIMARY_DOWN } PrimaryState;

static const char *const primary_state_names[] = { "unknown", "up", "down" };

/*
 * How long a primary check may go unanswered before the primary counts as down: a few
 * periods, and never less than a second so a busy primary's slow answer is not taken
 * for an outage.
 */
static usec_t check_window(void)
{
	usec_t w = 3 * rt.cfg->replica_check_period;
	return w < USEC_PER_SEC ? USEC_PER_SEC : w;
}

static PrimaryState primary_from_connections(const Database *db)
{
	bool failed = false;
	List *it;
	list_for_each(it, &rt.pools)
	{
		const Pool *p = container_of(it, Pool, node);
		if (p->db != db || p->replica)
			continue;
		if (p->n_idle + p->n_active + p->n_used > 0)
			return PRIMARY_UP;
		failed = failed || p->last_connect_failure;
	}
	return failed ? PRIMARY_DOWN : PRIMARY_UNKNOWN;
}

static PrimaryState primary_state(const Database *db)
{
	if (!monitor_watches(db))
		return primary_from_connections(db);
	usec_t window = check_window();
	if (monitor_primary_answered_within(db, window))
		return PRIMARY_UP;
	/* the first checks are still on their way just after start */
	return time_now_wall() - rt.start_time < window ? PRIMARY_UNKNOWN : PRIMARY_DOWN;
}

const char *health_primary_state_name(const Database *db)
{
	return primary_state_names[primary_state(db)];
}

static void put_server(TextBuf *b, const char *role, const char *host, int port, const char *state)
{
	textbuf_str(b, "{\"role\":");
	textbuf_json_string(b, role);
	textbuf_str(b, ",\"host\":");
	textbuf_json_string(b, host ? host : "unix");
	textbuf_printf(b, ",\"port\":%d,\"state\":", port);
	textbuf_json_string(b, state);
	textbuf_str(b, "}");
}

/* One database's entry; false when its primary is down. */
static bool put_database(TextBuf *b, const Database *db)
{
	PrimaryState ps = primary_state(db);
	textbuf_str(b, "{\"name\":");
	textbuf_json_string(b, db->name);
	textbuf_str(b, ",\"servers\":[");
	put_server(b, "primary", failover_primary_host(db), failover_primary_port(db), primary_state_names[ps]);
	for (int i = 0; i < db->n_replicas; i++) {
		const Replica *r = db->replicas[i];
		if (r->removed)
			continue;
		textbuf_str(b, ",");
		put_server(b, router_replica_role_name(r), r->host, r->port, router_replica_state_name(r->state));
	}
	textbuf_str(b, "]}");
	return ps != PRIMARY_DOWN;
}

bool health_report(TextBuf *b)
{
	bool accepting = !rt.suspended && !rt.shutting_down;
	bool primaries_ok = true;
	TextBuf dbs = { 0 };
	List *it;
	list_for_each(it, &rt.databases)
	{
		const Database *db = container_of(it, Database, node);
		if (db->removed)
			continue;
		if (dbs.len)
			textbuf_str(&dbs, ",");
		primaries_ok = put_database(&dbs, db) && primaries_ok;
	}
	bool ok = accepting && primaries_ok;
	textbuf_printf(b, "{\"status\":\"%s\",\"accepting_clients\":%s,\"databases\":[", ok ? "ok" : "unavailable",
		       accepting ? "true" : "false");
	if (dbs.len)
		textbuf_put(b, dbs.data, dbs.len);
	textbuf_str(b, "]}\n");
	free(dbs.data);
	return ok;
}
