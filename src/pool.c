/*
 * Pools (see pool.h): acquire and release servers, queue clients, launch servers within
 * pool_size / reserve_pool_size / max_db_connections / max_user_connections, keep
 * min_pool_size, and back off for server_login_retry after a failed login.
 */
#include "pool.h"
#include "authquery.h"
#include "client.h"
#include "failover.h"
#include "log.h"
#include "runtime.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>

PoolMode pool_mode_of(const Pool *pool)
{
	if (pool->user->pool_mode != POOL_MODE_UNSET)
		return pool->user->pool_mode;
	if (pool->db->pool_mode != POOL_MODE_UNSET)
		return pool->db->pool_mode;
	return rt.cfg->pool_mode;
}

int pool_size_of(const Pool *pool)
{
	if (pool->replica)
		return pool->db->replica_pool_size;
	if (pool->user->pool_size >= 0)
		return pool->user->pool_size;
	return pool->db->pool_size;
}

int pool_reserve_size_of(const Pool *pool)
{
	if (pool->user->reserve_pool_size >= 0)
		return pool->user->reserve_pool_size;
	return pool->db->reserve_pool_size;
}

const char *pool_host(const Pool *pool)
{
	return pool->replica ? pool->replica->host : failover_primary_host(pool->db);
}

int pool_port(const Pool *pool)
{
	return pool->replica ? pool->replica->port : failover_primary_port(pool->db);
}

const char *pool_target_name(const Pool *pool)
{
	return pool->replica ? "replica" : "primary";
}

int pool_server_count(const Pool *pool)
{
	return pool->n_login + pool->n_idle + pool->n_active + pool->n_used;
}

int pool_pooled_server_count(const Pool *pool)
{
	return pool_server_count(pool) - pool->n_replication;
}

Pool *pool_create(Database *db, PoolUser *user, Replica *replica)
{
	Pool *p = xcalloc(1, sizeof(*p));
	p->db = db;
	p->user = user;
	p->replica = replica;
	list_init(&p->waiting_clients);
	list_init(&p->active_clients);
	list_init(&p->login_servers);
	list_init(&p->idle_servers);
	list_init(&p->active_servers);
	list_init(&p->used_servers);
	list_init(&p->auth_waiters);
	user->n_pools++;
	return p;
}

void pool_set_home(Pool *p, Pool *home)
{
	if (p->home)
		p->home->n_homed--;
	p->home = home;
	if (home)
		home->n_homed++;
}

bool pool_unused(const Pool *p)
{
	return p->n_clients == 0 && p->n_waiting == 0 && p->n_active_clients == 0 && pool_server_count(p) == 0 &&
	       p->n_homed == 0 && list_empty(&p->auth_waiters);
}

static void free_welcome(Pool *p)
{
	for (int i = 0; i < p->n_welcome; i++) {
		free(p->welcome[i].name);
		free(p->welcome[i].value);
	}
	free(p->welcome);
	p->welcome = NULL;
	p->n_welcome = 0;
}

LookupCreds *pool_lookup_creds(Pool *p)
{
	return p->home ? &p->home->lookup : &p->lookup;
}

void pool_forget_lookup(Pool *p)
{
	LookupCreds *lc = pool_lookup_creds(p);
	if (lc->secret) {
		OPENSSL_cleanse(lc->secret, strlen(lc->secret));
		free(lc->secret);
	}
	OPENSSL_cleanse(lc, sizeof(*lc));
}

void pool_destroy(Pool *p)
{
	if (!p->home)
		pool_forget_lookup(p);
	pool_set_home(p, NULL);
	p->user->n_pools--;
	free_welcome(p);
	varcache_clear(&p->welcome_vars);
	free(p->last_connect_error);
	free(p);
}

void pool_set_welcome(Pool *p, const WelcomeParam *params, int n)
{
	free_welcome(p);
	p->welcome = xcalloc((size_t)n + 1, sizeof(WelcomeParam));
	for (int i = 0; i < n; i++) {
		p->welcome[i].name = xstrdup(params[i].name);
		p->welcome[i].value = xstrdup(params[i].value);
		int idx = varcache_lookup(params[i].name);
		if (idx >= 0)
			varcache_set(&p->welcome_vars, idx, params[i].value);
	}
	p->n_welcome = n;
}

/* Longest wait among queued clients, monotonic usec. */
static usec_t oldest_wait(const Pool *p)
{
	List *first = list_first(&p->waiting_clients);
	if (!first)
		return 0;
	Client *c = container_of(first, Client, pool_node);
	return time_now_loop() - c->wait_start;
}

/*
 * At max_db_connections (same_db) or max_user_connections, an idle server of another
 * pool sharing the limit is closed so that this pool's waiting client can be served.
 */
static bool evict_idle_server(const Pool *p, bool same_db)
{
	Server *victim = NULL;
	List *it;
	list_for_each(it, &rt.pools)
	{
		Pool *other = container_of(it, Pool, node);
		if (other == p || (same_db ? other->db != p->db : other->user != p->user))
			continue;
		List *last = other->idle_servers.prev; /* least recently used */
		if (last == &other->idle_servers)
			continue;
		Server *s = container_of(last, Server, pool_node);
		if (!victim || s->last_used < victim->last_used)
			victim = s;
	}
	if (!victim)
		return false;
	server_close(victim, "evicted");
	return true;
}

/*
 * Below max_db_connections (same_db) or max_user_connections, after closing another
 * pool's idle server if evict is set and that makes room.
 */
static bool within_cap(const Pool *p, bool same_db, bool evict)
{
	int max = same_db ? p->db->max_db_connections : p->user->max_user_connections;
	const int *count = same_db ? &p->db->server_count : &p->user->server_count;
	if (max <= 0 || *count < max)
		return true;
	if (evict && evict_idle_server(p, same_db) && *count < max)
		return true;
	/* worded as PgBouncer 1.25's debug lines, which users grep for with -v -v */
	if (!evict)
		return false;
	if (same_db)
		log_debug("launch_new_connection: database '%s' full (%d >= %d)", p->db->name, *count, max);
	else
		log_debug("launch_new_connection: user '%s' full (%d >= %d)", p->user->name, *count, max);
	return false;
}

/*
 * Whether one more server may be opened. for_waiters: a client waits for it, so the
 * reserve pool may be used and an idle server of another pool may be closed to stay
 * within max_db_connections / max_user_connections; min_pool_size alone does neither.
 */
static bool pool_may_launch(const Pool *p, bool for_waiters)
{
	int limit = pool_size_of(p);
	int reserve = pool_reserve_size_of(p);
	if (pool_pooled_server_count(p) >= limit) {
		if (!for_waiters || reserve <= 0 || pool_pooled_server_count(p) >= limit + reserve) {
			if (for_waiters)
				log_debug("launch_new_connection: pool full (%d >= %d)", pool_pooled_server_count(p), limit);
			return false;
		}
		if (oldest_wait(p) < rt.cfg->reserve_pool_timeout)
			return false;
		if (!within_cap(p, true, true) || !within_cap(p, false, true))
			return false;
		log_info("taking connection from reserve_pool for %s/%s", p->db->name, p->user->name);
		return true;
	}
	return within_cap(p, true, for_waiters) && within_cap(p, false, for_waiters);
}

bool pool_in_login_backoff(const Pool *p)
{
	return p->last_connect_failure &&
	       time_now_mono() - p->last_connect_failure < rt.cfg->server_login_retry;
}

/* Writes wait while two members claim to be the primary (failover.c). */
static bool pool_writes_held(const Pool *p)
{
	return !p->replica && !p->is_monitor && failover_writes_held(p->db);
}

void pool_maintain(Pool *p)
{
	/* a lookup target's server is launched by its lookup alone, never for min_pool_size */
	if (p->lookup_only || p->db->paused || rt.paused || pool_writes_held(p))
		return;
	int wanted = p->n_waiting - p->n_login - p->n_checking;
	if (wanted > 0 && pool_in_login_backoff(p))
		return;
	while (wanted-- > 0 && pool_may_launch(p, true))
		server_launch(p);
}

void pool_keep_min(Pool *p)
{
	if (p->is_monitor || p->db->paused || rt.paused || pool_in_login_backoff(p) || pool_writes_held(p))
		return;
	/* a replication client (paired with one of n_replication) uses no pooled server */
	if (!(p->n_active_clients - p->n_replication > 0 || p->n_waiting > 0 || p->db->forced_user))
		return;
	int below_min = p->db->min_pool_size - pool_pooled_server_count(p);
	while (below_min-- > 0 && pool_may_launch(p, false))
		server_launch(p);
}

static Server *take_idle_server(Pool *p)
{
	List *node = rt.cfg->server_round_robin ? p->idle_servers.prev : p->idle_servers.next;
	if (node == &p->idle_servers)
		return NULL;
	return container_of(node, Server, pool_node);
}

bool pool_acquire(Pool *p, Client *client)
{
	if (!p->db->paused && !rt.paused && !pool_writes_held(p) && list_empty(&p->waiting_clients)) {
		Server *s = take_idle_server(p);
		if (s && server_check_due(s, time_now_loop())) {
			server_start_check(s); /* the client waits for its answer */
		} else if (s) {
			p->stats.total.server_assignments++;
			server_link(s, client);
			return true;
		}
	}
	client->wait_start = time_now_loop();
	client->wait_pool = p;
	client_set_state(client, CL_WAITING);
	pool_maintain(p);
	return false;
}

void pool_on_server_idle(Pool *p, Server *s)
{
	if (authquery_take_server(p, s))
		return;
	if (p->db->paused || rt.paused || pool_writes_held(p) || list_empty(&p->waiting_clients)) {
		server_set_state(s, SV_IDLE);
		return;
	}
	Client *client = container_of(list_first(&p->waiting_clients), Client, pool_node);
	usec_t waited = time_now_loop() - client->wait_start;
	p->stats.total.wait_time += (uint64_t)waited;
	p->stats.total.server_assignments++;
	client_set_state(client, CL_ACTIVE);
	server_link(s, client);
	client_on_server_linked(client);
}

void pool_fail_waiters(Pool *p, const char *message)
{
	List *it, *tmp;
	list_for_each_safe(it, tmp, &p->waiting_clients)
	{
		Client *c = container_of(it, Client, pool_node);
		client_fail_wait(c, message);
	}
}
