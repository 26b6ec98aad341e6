/*
 * The running pooler's shared state: the event base, the config snapshot in force, the
 * auth_file, the resolver, and the registries of databases, users, pools, clients and
 * servers. One instance, owned by main.c.
 */
#ifndef PGSPLIT_RUNTIME_H
#define PGSPLIT_RUNTIME_H

#include "authfile.h"
#include "config.h"
#include "dns.h"
#include "list.h"
#include "pool.h"

struct event_base;

typedef struct Runtime {
	struct event_base *base;
	Config *cfg;          /* in force; replaced whole on reload */
	AuthFile *authfile;   /* may be NULL */
	DnsContext *dns;
	struct ClassifyConfig *classify_cfg; /* write-function list from write_functions */
	struct ssl_ctx_st *client_tls_ctx;   /* accepting TLS from clients; NULL: answer 'N' */
	struct ssl_ctx_st *server_tls_ctx;   /* TLS to servers; NULL when server_tls_sslmode = disable */
	struct HbaRules *hba;                /* auth_type = hba: the rules of auth_hba_file */
	struct IdentMap *ident;              /* auth_ident_file, for map= of cert and peer rules */
	List databases;       /* Database.node */
	List users;           /* PoolUser.node */
	List pools;           /* Pool.node */
	List clients;         /* Client.all_node, every client incl. login */
	List servers;         /* Server.all_node */
	int client_count;     /* clients counted against max_client_conn */
	uint64_t next_conn_id;
	bool paused;          /* PAUSE / SIGUSR1 */
	bool suspended;       /* SUSPEND: no socket is read until RESUME */
	bool shutting_down;   /* SIGINT / SIGTERM: no new clients */
	bool shutdown_wait_clients;
	usec_t start_time;
	char *admin_os_user;  /* OS user running the pooler */
} Runtime;

extern Runtime rt;

#endif
