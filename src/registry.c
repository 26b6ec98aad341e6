/*
 * Registry of databases, users and pools (see registry.h). Settings resolved from the
 * config are copied into the Database so a reload can swap the Config snapshot freely.
 */
#include "registry.h"
#include "failover.h"
#include "hostlist.h"
#include "log.h"
#include "runtime.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void replace_str(char **dst, const char *src)
{
	if (*dst && src && strcmp(*dst, src) == 0)
		return;
	free(*dst);
	*dst = dup_or_null(src);
}

static int pick(int value, int fallback)
{
	return value >= 0 ? value : fallback;
}

/* A [users] timeout replaces the global one only when above 0, as in PgBouncer. */
static usec_t user_timeout(usec_t user_value, usec_t global)
{
	return user_value > 0 ? user_value : global;
}

static void set_startup_var(Database *db, const char *name, const char *value)
{
	int idx = varcache_lookup(name);
	if (idx >= 0)
		varcache_set(&db->startup_vars, idx, value);
}

Replica *registry_get_member(Database *db, const char *host, int port, ReplicaState initial)
{
	for (int i = 0; i < db->n_replicas; i++)
		if (strcmp(db->replicas[i]->host, host) == 0 && db->replicas[i]->port == port)
			return db->replicas[i];
	Replica *r = xcalloc(1, sizeof(*r));
	r->host = xstrdup(host);
	r->port = port;
	r->state = initial;
	r->weight = 1;
	db->replicas = xrealloc(db->replicas, sizeof(Replica *) * (size_t)(db->n_replicas + 1));
	db->replicas[db->n_replicas++] = r;
	return r;
}

/*
 * target_session_attrs, as libpq means it, for the servers the pooler picks: read-write
 * and primary send everything to the primary; standby and read-only everything to the
 * replicas, refused when none is usable; prefer-standby to the replicas, else the
 * primary. It wins over routing=. Without replicas, server.c checks the host itself.
 */
static void database_apply_session_attrs(Database *db, const DatabaseDef *def)
{
	TargetSessionAttrs tsa = def->target_session_attrs == TSA_UNSET ? TSA_ANY : def->target_session_attrs;
	db->session_attrs = tsa;
	db->fallback_error = rt.cfg->replica_fallback_error;
	if (tsa == TSA_READ_WRITE || tsa == TSA_PRIMARY) {
		db->routing = ROUTING_PRIMARY;
	} else if (tsa != TSA_ANY && db->n_replicas > 0) {
		db->routing = ROUTING_REPLICA;
		db->fallback_error = tsa != TSA_PREFER_STANDBY;
	}
}

/*
 * Bring the replica list in line with the definition. Replica objects live as long as the
 * Database (pools point at them); one dropped from the config is marked removed and
 * leaves rotation, and comes back with its counters if it is added again.
 */
static void database_apply_replicas(Database *db, const DatabaseDef *def)
{
	for (int i = 0; i < db->n_replicas; i++)
		/* the configured host as a member stays while another member is the primary */
		db->replicas[i]->removed = !(db->replicas[i]->home && db->leader);
	for (int i = 0; i < def->n_replicas; i++) {
		int port = def->replicas[i].port > 0 ? def->replicas[i].port : db->port;
		Replica *r = registry_get_member(db, def->replicas[i].host, port, REPLICA_UP);
		r->removed = false;
		r->home = false;
		r->weight = 1;
		if (def->replica_weights) {
			const char *w = def->replica_weights;
			for (int k = 0; k < i && w; k++) {
				w = strchr(w, ',');
				w = w ? w + 1 : NULL;
			}
			r->weight = w ? atoi(w) : 1;
		}
	}
	db->routing = def->n_replicas > 0 ? (def->routing == ROUTING_UNSET ? ROUTING_AUTO : def->routing)
					  : ROUTING_PRIMARY;
	database_apply_session_attrs(db, def);
	db->replica_pool_size = def->replica_pool_size >= 0 ? def->replica_pool_size : db->pool_size;
}

static bool str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/*
 * The server address or database name changed on reload: connections to the old one
 * are closed when idle or released (PgBouncer's close_needed), so WAIT_CLOSE works.
 */
static void database_retire_servers(Database *db)
{
	List *it;
	list_for_each(it, &rt.servers)
	{
		Server *s = container_of(it, Server, all_node);
		if (s->pool->db == db && !s->pool->replica)
			s->dirty = true;
	}
}

/* Copy a [databases] definition into the run-time Database. */
static void database_apply_def(Database *db, const DatabaseDef *def)
{
	const Config *cfg = rt.cfg;
	int new_port = def->port > 0 ? def->port : 5432;
	if (db->dbname && (str_differs(db->host, def->host) || db->port != new_port ||
			   str_differs(db->dbname, def->dbname ? def->dbname : db->name)))
		database_retire_servers(db);
	if (db->dbname && (str_differs(db->host, def->host) || db->port != new_port))
		failover_forget(db); /* the operator named the primary: discovery starts from it */
	replace_str(&db->host, def->host);
	hostlist_apply(db, def->load_balance_hosts);
	db->port = def->port > 0 ? def->port : 5432;
	replace_str(&db->dbname, def->dbname ? def->dbname : db->name);
	replace_str(&db->forced_user, def->user);
	replace_str(&db->forced_password, def->password);
	replace_str(&db->connect_query, def->connect_query);
	db->pool_size = pick(def->pool_size, cfg->default_pool_size);
	db->min_pool_size = pick(def->min_pool_size, cfg->min_pool_size);
	db->reserve_pool_size = pick(def->reserve_pool_size, cfg->reserve_pool_size);
	db->pool_mode = def->pool_mode;
	db->max_db_connections = pick(def->max_db_connections, cfg->max_db_connections);
	db->max_db_client_connections = pick(def->max_db_client_connections, cfg->max_db_client_connections);
	db->query_wait_timeout = def->query_wait_timeout >= 0 ? def->query_wait_timeout : cfg->query_wait_timeout;
	db->server_lifetime = def->server_lifetime >= 0 ? def->server_lifetime : cfg->server_lifetime;
	varcache_clear(&db->startup_vars);
	set_startup_var(db, "client_encoding", def->client_encoding);
	set_startup_var(db, "DateStyle", def->datestyle);
	set_startup_var(db, "TimeZone", def->timezone);
	set_startup_var(db, "application_name", def->application_name);
	database_apply_replicas(db, def);
	ryw_settings_resolve(def, cfg, &db->ryw_settings);
	db->removed = false;
}

/*
 * Indexes over rt's lists: a login, a replica read and an upkeep tick look things up by
 * key, and none of them may cost more as databases, users and pools add up.
 */
static HashIndex databases_by_name, users_by_name, pools_by_target;

static Database *database_lookup(const char *name)
{
	uint64_t h = hashindex_hash_str(name);
	for (HashLink *l = hashindex_first(&databases_by_name, h); l; l = hashindex_next(l)) {
		Database *db = container_of(l, Database, by_name);
		if (strcmp(db->name, name) == 0)
			return db;
	}
	return NULL;
}

Database *registry_new_unlisted_database(const char *name, const DatabaseDef *def)
{
	Database *db = xcalloc(1, sizeof(*db));
	db->name = xstrdup(name);
	db->autodb = strcmp(def->name, "*") == 0;
	list_init(&db->causal_waiters);
	list_init(&db->node);
	database_apply_def(db, def);
	db->last_used = time_now_mono();
	return db;
}

static Database *database_create(const char *name, const DatabaseDef *def)
{
	Database *db = registry_new_unlisted_database(name, def);
	list_append(&rt.databases, &db->node);
	hashindex_add(&databases_by_name, &db->by_name, hashindex_hash_str(db->name));
	return db;
}

Database *registry_lookup_database(const char *name)
{
	Database *db = database_lookup(name);
	return db && !db->removed ? db : NULL;
}

Database *registry_find_database(const char *name)
{
	Database *db = database_lookup(name);
	if (db && !db->removed)
		return db;
	const DatabaseDef *def = config_find_database(rt.cfg, name);
	if (!def)
		return NULL;
	if (db) {
		database_apply_def(db, def);
		db->autodb = strcmp(def->name, "*") == 0;
		return db;
	}
	return database_create(name, def);
}

/* The [users] entry (or its absence) resolved against the globals, once per load. */
static void user_apply_limits(PoolUser *u, const UserDef *ud, const Config *cfg)
{
	u->pool_mode = ud ? ud->pool_mode : POOL_MODE_UNSET;
	u->pool_size = ud ? ud->pool_size : -1;
	u->reserve_pool_size = ud ? ud->reserve_pool_size : -1;
	u->max_user_connections = pick(ud ? ud->max_user_connections : -1, cfg->max_user_connections);
	u->max_user_client_connections =
		pick(ud ? ud->max_user_client_connections : -1, cfg->max_user_client_connections);
	u->query_timeout = user_timeout(ud ? ud->query_timeout : 0, cfg->query_timeout);
	u->idle_transaction_timeout =
		user_timeout(ud ? ud->idle_transaction_timeout : 0, cfg->idle_transaction_timeout);
	u->transaction_timeout = user_timeout(ud ? ud->transaction_timeout : 0, cfg->transaction_timeout);
	u->client_idle_timeout = user_timeout(ud ? ud->client_idle_timeout : 0, cfg->client_idle_timeout);
	u->query_wait_timeout = ud ? ud->query_wait_timeout : -1;
}

static void user_apply_config(PoolUser *u)
{
	const UserDef *ud = config_find_user(rt.cfg, u->name);
	const char *secret = rt.authfile ? authfile_lookup(rt.authfile, u->name) : NULL;
	if (!(u->secret && secret && strcmp(u->secret, secret) == 0)) {
		replace_str(&u->secret, secret);
		u->have_scram_keys = false;
	}
	user_apply_limits(u, ud, rt.cfg);
}

PoolUser *registry_lookup_user(const char *name)
{
	uint64_t h = hashindex_hash_str(name);
	for (HashLink *l = hashindex_first(&users_by_name, h); l; l = hashindex_next(l)) {
		PoolUser *u = container_of(l, PoolUser, by_name);
		if (strcmp(u->name, name) == 0)
			return u;
	}
	return NULL;
}

PoolUser *registry_get_user(const char *name)
{
	PoolUser *u = registry_lookup_user(name);
	if (u)
		return u;
	u = xcalloc(1, sizeof(*u));
	u->name = xstrdup(name);
	user_apply_config(u);
	list_append(&rt.users, &u->node);
	hashindex_add(&users_by_name, &u->by_name, hashindex_hash_str(u->name));
	return u;
}

static Pool *find_target_pool(const Database *db, const PoolUser *user, const Replica *replica)
{
	uint64_t h = hashindex_hash_ptrs(db, user, replica);
	for (HashLink *l = hashindex_first(&pools_by_target, h); l; l = hashindex_next(l)) {
		Pool *p = container_of(l, Pool, by_target);
		if (p->db == db && p->user == user && p->replica == replica)
			return p;
	}
	return NULL;
}

Pool *registry_find_pool(const Database *db, const PoolUser *user)
{
	return find_target_pool(db, user, NULL);
}

Pool *registry_get_target_pool(Database *db, PoolUser *user, Replica *replica)
{
	Pool *p = find_target_pool(db, user, replica);
	if (p)
		return p;
	/* a replica pool logs in with the creds of the primary pool of (db, user) */
	Pool *home = replica ? registry_get_pool(db, user) : NULL;
	p = pool_create(db, user, replica);
	pool_set_home(p, home);
	list_append(&rt.pools, &p->node);
	hashindex_add(&pools_by_target, &p->by_target, hashindex_hash_ptrs(db, user, replica));
	return p;
}

Pool *registry_get_pool(Database *db, PoolUser *user)
{
	return registry_get_target_pool(db, user, NULL);
}

void registry_apply_config(void)
{
	List *it;
	list_for_each(it, &rt.databases)
	{
		Database *db = container_of(it, Database, node);
		const DatabaseDef *def = config_find_database(rt.cfg, db->name);
		if (def)
			database_apply_def(db, def);
		else
			db->removed = true;
	}
	for (const DatabaseDef *def = rt.cfg->databases; def; def = def->next)
		if (strcmp(def->name, "*") != 0 && !database_lookup(def->name))
			database_create(def->name, def);
	list_for_each(it, &rt.users)
		user_apply_config(container_of(it, PoolUser, node));
}

static void database_free(Database *db)
{
	hashindex_remove(&databases_by_name, &db->by_name); /* an unlisted one is not there */
	free(db->name);
	free(db->host);
	hostlist_free(db);
	free(db->dbname);
	free(db->forced_user);
	free(db->forced_password);
	free(db->connect_query);
	varcache_clear(&db->startup_vars);
	for (int i = 0; i < db->n_replicas; i++) {
		free(db->replicas[i]->host);
		free(db->replicas[i]);
	}
	free(db->replicas);
	free(db->monitor);
	free(db);
}

static void pool_free(Pool *p)
{
	stats_add(&p->db->retired, &p->stats.total);
	list_del(&p->node);
	hashindex_remove(&pools_by_target, &p->by_target);
	pool_destroy(p);
}

static void user_free(PoolUser *u)
{
	list_del(&u->node);
	hashindex_remove(&users_by_name, &u->by_name);
	free(u->name);
	free(u->secret);
	free(u);
}

/* Pools of db (NULL: all) go together: homes are let go first, so none is freed in use. */
static void free_pools_of(const Database *db)
{
	List *it, *tmp;
	list_for_each(it, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		if (!db || p->db == db)
			pool_set_home(p, NULL);
	}
	list_for_each_safe(it, tmp, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		if (!db || p->db == db)
			pool_free(p);
	}
}

bool registry_drop_database(Database *db)
{
	if (db->client_count > 0 || db->server_count > 0)
		return false;
	List *it;
	list_for_each(it, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		if (p->db == db && !list_empty(&p->auth_waiters))
			return false; /* logins wait for a lookup in it */
	}
	free_pools_of(db);
	list_del(&db->node);
	database_free(db);
	return true;
}

/*
 * A pool unused for pool_idle_timeout is freed (one borrowing its creds goes first, so its
 * home follows on a later tick), then users no pool or client refers to. A client's next
 * login makes them again. The replica monitor's pools are its own to keep.
 */
void registry_free_idle(usec_t now)
{
	List *it, *tmp;
	usec_t limit = rt.cfg->pool_idle_timeout;
	list_for_each_safe(it, tmp, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		if (limit <= 0 || p->is_monitor || !pool_unused(p)) {
			p->empty_since = 0;
			continue;
		}
		if (!p->empty_since)
			p->empty_since = now;
		else if (now - p->empty_since >= limit)
			pool_free(p);
	}
	list_for_each_safe(it, tmp, &rt.users)
	{
		PoolUser *u = container_of(it, PoolUser, node);
		if (u->n_pools == 0 && u->client_count == 0 && u->server_count == 0)
			user_free(u);
	}
}

void registry_free_unlisted_database(Database *db)
{
	database_free(db);
}

void registry_free_all(void)
{
	List *it, *tmp;
	free_pools_of(NULL);
	list_for_each_safe(it, tmp, &rt.databases)
	{
		Database *db = container_of(it, Database, node);
		list_del(&db->node);
		database_free(db);
	}
	list_for_each_safe(it, tmp, &rt.users) user_free(container_of(it, PoolUser, node));
	hashindex_free(&databases_by_name);
	hashindex_free(&users_by_name);
	hashindex_free(&pools_by_target);
}

void registry_on_dns_change(void *arg UNUSED, const char *host)
{
	log_info("DNS: addresses of \"%s\" changed; reconnecting its servers", host);
	List *it;
	list_for_each(it, &rt.servers)
	{
		Server *s = container_of(it, Server, all_node);
		const char *h = pool_host(s->pool);
		if (h && strcasecmp(h, host) == 0)
			s->dirty = true; /* closed when idle (maintenance tick) or at release */
	}
}
