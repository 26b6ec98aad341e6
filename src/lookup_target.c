/*
 * auth_query lookup targets outside the registry (see lookup_target.h).
 */
#include "lookup_target.h"
#include "registry.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>

typedef struct LookupTarget {
	Pool *pool; /* owned, with its unlisted Database (pool->db) */
	List node;
	HashLink by_name;
} LookupTarget;

static List targets = LIST_INIT(targets);
static HashIndex targets_by_name;

static LookupTarget *find_target(const char *db_name, const PoolUser *auth_user)
{
	uint64_t h = hashindex_hash_str(db_name);
	for (HashLink *l = hashindex_first(&targets_by_name, h); l; l = hashindex_next(l)) {
		LookupTarget *t = container_of(l, LookupTarget, by_name);
		if (t->pool->user == auth_user && strcmp(t->pool->db->name, db_name) == 0)
			return t;
	}
	return NULL;
}

Pool *lookup_target_get(const char *db_name, const DatabaseDef *def, PoolUser *auth_user)
{
	LookupTarget *t = find_target(db_name, auth_user);
	if (t)
		return t->pool;
	t = xcalloc(1, sizeof(*t));
	t->pool = pool_create(registry_new_unlisted_database(db_name, def), auth_user, NULL);
	t->pool->lookup_only = true;
	list_append(&targets, &t->node);
	hashindex_add(&targets_by_name, &t->by_name, hashindex_hash_str(db_name));
	return t->pool;
}

/* A server runs a lookup (SV_USED) or a login waits: the target is still needed. */
static bool target_in_use(const Pool *p)
{
	return !list_empty(&p->auth_waiters) || p->n_used > 0 || p->n_active > 0;
}

static void close_servers_of(List *servers)
{
	while (!list_empty(servers))
		server_close(container_of(list_first(servers), Server, pool_node), "auth_query lookup done");
}

static void target_free(LookupTarget *t)
{
	Database *db = t->pool->db;
	list_del(&t->node);
	hashindex_remove(&targets_by_name, &t->by_name);
	pool_destroy(t->pool);
	registry_free_unlisted_database(db);
	free(t);
}

void lookup_target_free_unused(void)
{
	List *it, *tmp;
	list_for_each_safe(it, tmp, &targets)
	{
		LookupTarget *t = container_of(it, LookupTarget, node);
		if (target_in_use(t->pool))
			continue;
		close_servers_of(&t->pool->idle_servers);
		close_servers_of(&t->pool->login_servers);
		if (pool_server_count(t->pool) == 0)
			target_free(t);
	}
}
