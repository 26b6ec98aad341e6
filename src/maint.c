/*
 * Periodic upkeep (see maint.h), run a few times per second: every timeout is checked
 * against monotonic timestamps kept by the client and server modules.
 */
#include "maint.h"
#include "admin.h"
#include "client.h"
#include "client_route.h"
#include "log.h"
#include "lookup_target.h"
#include "pg_wire.h"
#include "registry.h"
#include "reload.h"
#include "runtime.h"
#include "server.h"

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

static void check_client(Client *c, usec_t now)
{
	const Config *cfg = rt.cfg;
	switch (c->state) {
	case CL_LOGIN:
		if (expired(c->login_start, cfg->client_login_timeout, now))
			client_close(c, "client_login_timeout");
		return;
	case CL_WELCOME:
	case CL_WAITING:
		if (expired(c->wait_start ? c->wait_start : c->login_start, cfg->query_wait_timeout, now))
			client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "query_wait_timeout");
		return;
	case CL_ACTIVE:
		break;
	default:
		return;
	}
	if (c->is_admin)
		return;
	usec_t query_timeout = c->user && c->user->query_timeout >= 0 ? c->user->query_timeout : cfg->query_timeout;
	if (c->conn.link && expired(c->query_start, query_timeout, now)) {
		client_close_error(c, SQLSTATE_QUERY_CANCELED, "query_timeout");
		return;
	}
	if (c->conn.link && expired(c->xact_start, cfg->transaction_timeout, now)) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "transaction_timeout");
		return;
	}
	if (c->conn.link && c->in_transaction && !c->query_start &&
	    expired(c->conn.request_time, cfg->idle_transaction_timeout, now)) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "idle transaction timeout");
		return;
	}
	if (!c->conn.link && expired(c->idle_since, cfg->client_idle_timeout, now))
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "client_idle_timeout");
}

static void check_server(Server *s, usec_t now)
{
	const Config *cfg = rt.cfg;
	switch (s->state) {
	case SV_CONNECTING:
	case SV_LOGIN:
		if (expired(s->created, cfg->server_connect_timeout, now))
			server_login_failed(s, "server_connect_timeout");
		return;
	case SV_IDLE:
		if (s->dirty) {
			server_close(s, "server marked for closing (reconnect or config change)");
			return;
		}
		if (s->pool->is_monitor)
			return; /* the replica monitor keeps its own connections busy */
		if (expired(s->last_used, cfg->server_idle_timeout, now) &&
		    pool_server_count(s->pool) > s->pool->db->min_pool_size) {
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

static bool shutdown_done(void)
{
	if (rt.shutdown_wait_clients)
		return rt.client_count == 0;
	List *it;
	list_for_each(it, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		if (p->n_active > 0)
			return false;
	}
	return true;
}

void maint_run(void)
{
	usec_t now = time_now_mono();
	List *it, *tmp;
	list_for_each_safe(it, tmp, &rt.clients) check_client(container_of(it, Client, all_node), now);
	list_for_each_safe(it, tmp, &rt.servers) check_server(container_of(it, Server, all_node), now);
	list_for_each(it, &rt.pools) pool_maintain(container_of(it, Pool, node));
	list_for_each(it, &rt.databases) client_route_wake_causal(container_of(it, Database, node), true);
	if (rt.cfg->stats_period > 0 && now - last_stats_rollover >= rt.cfg->stats_period) {
		last_stats_rollover = now;
		log_pool_stats();
	}
	expire_autodbs(now);
	registry_free_idle(now);
	lookup_target_free_unused();
	admin_tick();
	if (rt.shutting_down && shutdown_done())
		shutdown_now();
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
