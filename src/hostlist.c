/* Host lists of a database entry (see hostlist.h). */
#include "hostlist.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

void hostlist_free(Database *db)
{
	for (int i = 0; i < db->n_hosts; i++)
		free(db->hosts[i]);
	free(db->hosts);
	db->hosts = NULL;
	db->n_hosts = 0;
}

void hostlist_apply(Database *db, LoadBalanceHosts mode)
{
	hostlist_free(db);
	db->host_mode = mode == LB_HOSTS_UNSET ? LB_HOSTS_ROUND_ROBIN : mode;
	if (!db->host || !strchr(db->host, ','))
		return;
	for (const char *p = db->host; *p;) {
		size_t len = strcspn(p, ",");
		if (len > 0) {
			db->hosts = xrealloc(db->hosts, sizeof(char *) * (size_t)(db->n_hosts + 1));
			db->hosts[db->n_hosts++] = xstrndup(p, len);
		}
		p += len + (p[len] == ',');
	}
	if (db->host_index >= db->n_hosts)
		db->host_index = 0;
}

const char *hostlist_next(Database *db)
{
	if (db->n_hosts == 0)
		return db->host;
	const char *h = db->hosts[db->host_index % db->n_hosts];
	if (db->host_mode == LB_HOSTS_ROUND_ROBIN)
		db->host_index = (db->host_index + 1) % db->n_hosts;
	return h;
}

void hostlist_failed(Database *db, const char *host)
{
	if (db->n_hosts == 0 || db->host_mode != LB_HOSTS_DISABLE || !host)
		return;
	if (strcmp(db->hosts[db->host_index], host) != 0)
		return; /* already moved on */
	db->host_index = (db->host_index + 1) % db->n_hosts;
	log_info("database %s: host %s failed, new connections go to %s", db->name, host, db->hosts[db->host_index]);
}
