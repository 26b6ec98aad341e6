/*
 * Periodic upkeep (see maint.h), run a few times per second: every timeout is checked
 * against monotonic timestamps kept by the client and server modules.
 */
#include "maint.h"
#include "admin.h"
#include "client.h"
#include "client_route.h"
#include "history.h"
#include "log.h"
#include "lookup_target.h"
#include "pg_wire.h"
#include "pktbuf.h"
#include "pool.h"
#include "prepared.h"
#include "registry.h"
#include "reload.h"
#include "runtime.h"
#include "server.h"
#include "shutdown.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAINT_INTERVAL_USEC 200000

static struct event *maint_timer;
static usec_t last_stats_rollover;

static bool expired(usec_t since, usec_t limit, usec_t now)
{
	return limit > 0 && since > 0 && now - since > limit;
}

/* query_wait_timeout of a client: its [users] value, else its database's (resolved). */
static usec_t query_wait_timeout_of(const Client *c)
{
	if (c->user && c->user->query_wait_timeout >= 0)
		return c->user->query_wait_timeout;
	return c->db ? c->db->query_wait_timeout : rt.cfg->query_wait_timeout;
}

/*
 * query_wait_notify: a logged-in client queued this long hears why its query has not
 * started, once per connection, in PgBouncer 1.25's words.
 */
static void notify_queued_client(Client *c, usec_t now)
{
	if (c->state != CL_WAITING || c->queue_notified || !expired(c->wait_start, rt.cfg->query_wait_notify, now))
		return;
	c->queue_notified = true;
	PktBuf pb;
	pktbuf_init(&pb, 128, 0);
	pktbuf_put_notice_response(&pb, "NOTICE", "00000",
				   "No server connection available in postgres backend, client being queued");
	client_send_pkt(c, &pb);
	pktbuf_free(&pb);
	if (!c->conn.closing)
		sbuf_flush(&c->conn);
}

/* A client queued for a server: query_timeout first, then query_wait_timeout (PgBouncer's order). */
static void check_waiting_client(Client *c, usec_t now)
{
	usec_t since = c->wait_start ? c->wait_start : c->login_start;
	usec_t query_timeout = c->user ? c->user->query_timeout : rt.cfg->query_timeout;
	if (expired(since, query_timeout, now))
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "query_timeout");
	else if (expired(since, query_wait_timeout_of(c), now))
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "query_wait_timeout");
}

/*
 * A client with a server: the limits are those of the user the server logged in as (a
 * forced user's, as in PgBouncer), and the server is closed with the reason.
 */
static void check_linked_client(Client *c, usec_t now)
{
	Server *s = (Server *)c->conn.link;
	const PoolUser *u = s->pool->user;
	if (expired(c->query_start, u->query_timeout, now))
		server_close_with_client(s, "query timeout");
	else if (c->in_transaction && !c->query_start &&
		 expired(c->conn.request_time, u->idle_transaction_timeout, now))
		server_close_with_client(s, "idle transaction timeout");
	else if (expired(c->xact_start, u->transaction_timeout, now))
		server_close_with_client(s, "transaction timeout");
}

static void check_client(Client *c, usec_t now)
{
	switch (c->state) {
	case CL_LOGIN:
		if (expired(c->login_start, rt.cfg->client_login_timeout, now))
			client_close(c, "client_login_timeout");
		return;
	case CL_WELCOME:
	case CL_WAITING:
		check_waiting_client(c, now);
		if (!c->conn.closing)
			notify_queued_client(c, now);
		return;
	case CL_ACTIVE:
		break;
	default:
		return;
	}
	if (c->is_admin || c->replication)
		return; /* a walsender's command runs for the connection's life: no timeouts */
	if (c->conn.link)
		check_linked_client(c, now);
	else if (expired(c->idle_since, c->user ? c->user->client_idle_timeout : rt.cfg->client_idle_timeout, now))
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "client_idle_timeout");
}

/*
 * server_fast_close: in session pooling, a linked server marked for closing (RECONNECT,
 * a RELOAD that changed its connection settings) goes between two transactions instead
 * of at the session's end; its client is closed too, so it notices the session ended.
 */
static void fast_close_session_server(Server *s)
{
	if (!s->dirty || !rt.cfg->server_fast_close || !s->conn.link ||
	    pool_mode_of(s->pool) != POOL_MODE_SESSION)
		return;
	if (s->tx_status != 'I' || s->pending_rfq > 0 || s->unsynced || prepared_replies_pending(s))
		return; /* a transaction or a reply is under way: wait for its end */
	server_close_with_client(s, "server closed for reconnect (server_fast_close)");
}

static void check_server(Server *s, usec_t now)
{
	const Config *cfg = rt.cfg;
	switch (s->state) {
	case SV_CONNECTING:
	case SV_LOGIN:
		if (expired(s->created, cfg->server_connect_timeout, now))
			server_login_failed(s, "connect timeout"); /* PgBouncer's words */
		return;
	case SV_IDLE:
		if (s->dirty) {
			server_close(s, "server marked for closing (reconnect or config change)");
			return;
		}
		if (s->pool->is_monitor)
			return; /* the replica monitor keeps its own connections busy */
		if (expired(s->last_used, cfg->server_idle_timeout, now) &&
		    pool_pooled_server_count(s->pool) > s->pool->db->min_pool_size) {
			server_close(s, "server idle timeout");
			return;
		}
		if (expired(s->created, s->pool->db->server_lifetime, now)) {
			server_close(s, "server lifetime over");
			return;
		}
		if (*cfg->server_check_query &&
		    expired(s->last_used, cfg->server_check_delay, now) &&
		    expired(s->last_checked ? s->last_checked : s->last_used, cfg->server_check_delay, now))
			server_start_check(s);
		return;
	case SV_ACTIVE:
		fast_close_session_server(s);
		return;
	default:
		return;
	}
}

/* Databases made from "*" are freed after autodb_idle_timeout without clients. */
static void expire_autodbs(usec_t now)
{
	List *it, *tmp, *sit, *stmp;
	if (rt.cfg->autodb_idle_timeout <= 0)
		return;
	list_for_each_safe(it, tmp, &rt.databases)
	{
		Database *db = container_of(it, Database, node);
		if (!db->autodb || db->client_count > 0 || now - db->last_used < rt.cfg->autodb_idle_timeout)
			continue;
		list_for_each_safe(sit, stmp, &rt.servers)
		{
			Server *s = container_of(sit, Server, all_node);
			if (s->pool->db == db && (s->state == SV_IDLE || s->state == SV_USED))
				server_close(s, "autodb_idle_timeout");
		}
		char name[128];
		snprintf(name, sizeof(name), "%s", db->name);
		if (registry_drop_database(db))
			log_info("database %s freed after autodb_idle_timeout", name);
	}
}

/* Roll every pool's period over; log_stats prints the averages of all pools together. */
static void log_pool_stats(void)
{
	StatCounters last = { 0 }, prev = { 0 }, avg;
	char line[512];
	List *it;
	list_for_each(it, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		stats_rollover(&p->stats);
		stats_add(&last, &p->stats.last_period);
		stats_add(&prev, &p->stats.prev_period);
	}
	if (!rt.cfg->log_stats)
		return;
	stats_period_average(&last, &prev, rt.cfg->stats_period, &avg);
	stats_format_log(&avg, line, sizeof(line));
	log_info("%s", line);
}

/*
 * A database with a forced user keeps min_pool_size servers open before any client comes
 * (PgBouncer does the same); its one pool is made here so that pool_maintain fills it.
 */
static void open_forced_user_pool(Database *db)
{
	if (db->min_pool_size > 0 && db->forced_user && !db->removed && !db->disabled)
		(void)registry_get_pool(db, registry_get_user(db->forced_user));
}

void maint_run(void)
{
	usec_t now = time_now_mono();
	List *it, *tmp;
	list_for_each_safe(it, tmp, &rt.clients) check_client(container_of(it, Client, all_node), now);
	list_for_each_safe(it, tmp, &rt.servers) check_server(container_of(it, Server, all_node), now);
	list_for_each(it, &rt.databases) open_forced_user_pool(container_of(it, Database, node));
	list_for_each(it, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		pool_maintain(p);
		pool_keep_min(p);
	}
	list_for_each(it, &rt.databases) client_route_wake_causal(container_of(it, Database, node), true);
	if (rt.cfg->stats_period > 0 && now - last_stats_rollover >= rt.cfg->stats_period) {
		last_stats_rollover = now;
		log_pool_stats();
	}
	history_tick(now);
	expire_autodbs(now);
	registry_free_idle(now);
	lookup_target_free_unused();
	admin_tick();
	shutdown_tick();
}

static void maint_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	maint_run();
}

void maint_start(void)
{
	struct timeval tv = { 0, MAINT_INTERVAL_USEC };
	last_stats_rollover = time_now_mono();
	maint_timer = event_new(rt.base, -1, EV_PERSIST, maint_cb, NULL);
	event_add(maint_timer, &tv);
}

void maint_stop(void)
{
	if (maint_timer)
		event_free(maint_timer);
	maint_timer = NULL;
}
