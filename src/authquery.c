/*
 * auth_query lookups (see authquery.h). The query goes in the extended protocol with the
 * user name as a parameter, never spliced into SQL text. Every login looks the user up
 * again, so what PostgreSQL says now (new password, NOLOGIN, dropped role) counts now.
 */
#include "authquery.h"
#include "auth.h"
#include "client.h"
#include "log.h"
#include "lookup_target.h"
#include "pg_wire.h"
#include "pktbuf.h"
#include "proto.h"
#include "registry.h"
#include "runtime.h"
#include "server.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static const char *auth_user_for(const Client *c, const DatabaseDef *def)
{
	if (def && def->auth_user)
		return def->auth_user;
	return *rt.cfg->auth_user ? rt.cfg->auth_user : NULL;
	(void)c;
}

/*
 * The lookup runs in auth_dbname if one is configured, else in the client's database.
 * That one may not be registered yet (a name from "*"): the client has not
 * authenticated, so the lookup gets a target outside the registry instead.
 */
static Pool *lookup_pool(Client *c, const char *auth_user, const DatabaseDef *def)
{
	const char *configured = def->auth_dbname     ? def->auth_dbname
				 : *rt.cfg->auth_dbname ? rt.cfg->auth_dbname
							: NULL;
	PoolUser *user = registry_get_user(auth_user); /* a configured name */
	Database *db = configured ? registry_find_database(configured) : registry_lookup_database(c->db_name);
	if (db)
		return registry_get_pool(db, user);
	return configured ? NULL : lookup_target_get(c->db_name, def, user);
}

static void lookup_on_row(Server *s, const uint8_t *body, size_t len);
static void lookup_on_done(Server *s, bool failed);

/* The lookup's connection closed before its end: the lookup failed. */
static void lookup_on_close(Server *s)
{
	lookup_on_done(s, true);
}

/* A failed lookup says nothing bad about the connection it ran on. */
static const InternalQueryOps LOOKUP_OPS = { lookup_on_row, lookup_on_done, lookup_on_close, true };

static void send_lookup(Server *s, Client *c)
{
	const DatabaseDef *def = config_find_database(rt.cfg, c->db_name);
	const char *query = def && def->auth_query ? def->auth_query : rt.cfg->auth_query;
	size_t ulen = strlen(c->user_name);
	PktBuf pb;
	pktbuf_init(&pb, 256, 0);
	pktbuf_begin(&pb, PG_MSG_PARSE);
	pktbuf_put_cstring(&pb, "");
	pktbuf_put_cstring(&pb, query);
	pktbuf_put_u16(&pb, 0);
	pktbuf_end(&pb);
	pktbuf_begin(&pb, PG_MSG_BIND);
	pktbuf_put_cstring(&pb, "");
	pktbuf_put_cstring(&pb, "");
	pktbuf_put_u16(&pb, 0);
	pktbuf_put_u16(&pb, 1);
	pktbuf_put_u32(&pb, (uint32_t)ulen);
	pktbuf_put_bytes(&pb, c->user_name, ulen);
	pktbuf_put_u16(&pb, 0);
	pktbuf_end(&pb);
	pktbuf_begin(&pb, PG_MSG_EXECUTE);
	pktbuf_put_cstring(&pb, "");
	pktbuf_put_u32(&pb, 0);
	pktbuf_end(&pb);
	pktbuf_begin(&pb, PG_MSG_SYNC);
	pktbuf_end(&pb);
	s->auth_client = c;
	c->auth_server = s;
	server_start_internal_query(s, &pb, &LOOKUP_OPS);
	pktbuf_free(&pb);
}

bool authquery_start(Client *c)
{
	const DatabaseDef *def = config_find_database(rt.cfg, c->db_name);
	if (!def)
		return false; /* no such database: said after authentication */
	const char *auth_user = auth_user_for(c, def);
	if (!auth_user || strcmp(auth_user, c->user_name) == 0)
		return false;
	Pool *p = lookup_pool(c, auth_user, def);
	if (!p)
		return false;
	sbuf_pause(&c->conn);
	if (!list_empty(&p->idle_servers)) {
		Server *s = container_of(list_first(&p->idle_servers), Server, pool_node);
		send_lookup(s, c);
		return true;
	}
	list_append(&p->auth_waiters, &c->park_node);
	c->auth_waiting = true;
	if (p->n_login == 0)
		server_launch(p);
	return true;
}

bool authquery_take_server(Pool *p, Server *s)
{
	List *first = list_first(&p->auth_waiters);
	if (!first)
		return false;
	Client *c = container_of(first, Client, park_node);
	list_del(&c->park_node);
	c->auth_waiting = false;
	server_set_state(s, SV_IDLE);
	send_lookup(s, c);
	return true;
}

static void lookup_on_row(Server *s, const uint8_t *body, size_t len)
{
	PktReader r;
	uint16_t ncols;
	uint32_t flen;
	const uint8_t *v;
	proto_reader_init(&r, body, len);
	if (!proto_get_u16(&r, &ncols) || ncols < 2)
		return;
	/* a NULL name is "no such user", as a missing row */
	if (!proto_get_u32(&r, &flen) || flen == 0xffffffffu || !proto_get_bytes(&r, flen, &v))
		return;
	s->auth_found = true;
	free(s->auth_secret);
	s->auth_secret = NULL;
	if (!proto_get_u32(&r, &flen) || flen == 0xffffffffu || flen > 4096 || !proto_get_bytes(&r, flen, &v))
		return; /* NULL password: no login (e.g. VALID UNTIL passed) */
	s->auth_secret = xmalloc(flen + 1);
	memcpy(s->auth_secret, v, flen);
	s->auth_secret[flen] = 0;
}

static void free_secret(char *secret)
{
	if (secret) {
		OPENSSL_cleanse(secret, strlen(secret));
		free(secret);
	}
}

static const char *lookup_outcome(const Server *s, bool failed, const char *secret)
{
	if (failed)
		return "query failed";
	if (!s->auth_found)
		return "not found";
	return secret ? "found" : "found without a password";
}

/*
 * The user's pool in the client's database, if there is one already, forgets the secret
 * its servers log in with. Nothing is made for the name: the client is not logged in.
 */
static void forget_pool_secret(const Client *c)
{
	Database *db = registry_lookup_database(c->db_name);
	PoolUser *user = registry_lookup_user(c->user_name);
	if (!db || !user || db->forced_user)
		return; /* servers log in as the forced user, not with the client's secret */
	Pool *p = registry_find_pool(db, user);
	if (p)
		pool_forget_lookup(p);
}

/* Log what the lookup found; without a usable secret, the pool forgets the old one. */
static void lookup_settle(Client *c, const Server *s, bool failed, const char *secret)
{
	const char *outcome = lookup_outcome(s, failed, secret);
	if (failed)
		log_client(LOG_LVL_WARNING, c, "auth_query for user %s in database %s: %s",
			    c->user_name, c->db_name, outcome);
	else
		log_client(LOG_LVL_INFO, c, "auth_query for user %s in database %s: %s",
			 c->user_name, c->db_name, outcome);
	if (!failed && !secret)
		forget_pool_secret(c);
}

/* The lookup is over, whatever it found: the login goes on to the password exchange. */
static void resume_login(Client *c)
{
	sbuf_start_reading(&c->conn);
	auth_begin(c);
	if (!c->conn.closing)
		sbuf_flush(&c->conn);
}

static void lookup_on_done(Server *s, bool failed)
{
	Client *c = s->auth_client;
	char *secret = s->auth_secret;
	s->auth_client = NULL;
	s->auth_secret = NULL;
	if (!c) {
		free_secret(secret);
		return;
	}
	c->auth_server = NULL;
	lookup_settle(c, s, failed, secret);
	c->lookup_found = s->auth_found && !failed;
	s->auth_found = false;
	free_secret(c->lookup_secret);
	c->lookup_secret = failed ? NULL : secret;
	if (failed)
		free_secret(secret);
	resume_login(c);
}

LookupCreds *authquery_adopt_secret(Client *c)
{
	char *secret = c->lookup_secret;
	if (!secret)
		return NULL;
	c->lookup_secret = NULL;
	if (c->pool->user != c->user) {
		/* servers log in as the database's forced user, not with this secret */
		free_secret(secret);
		return NULL;
	}
	pool_forget_lookup(c->pool);
	LookupCreds *lc = pool_lookup_creds(c->pool);
	lc->secret = secret;
	return lc;
}

/*
 * In a registered database the waiting clients are told why the lookup cannot run. A
 * lookup target's database was named by clients not yet authenticated: the server's
 * answer ("database ... does not exist") would tell them about it before they proved
 * who they are, so they go on without a secret and are refused as a wrong password is.
 */
void authquery_fail_pool(Pool *p, const char *message)
{
	List *it, *tmp;
	list_for_each_safe(it, tmp, &p->auth_waiters)
	{
		Client *c = container_of(it, Client, park_node);
		if (!p->lookup_only) {
			client_close_error(c, SQLSTATE_CANNOT_CONNECT, message);
			continue;
		}
		list_del(&c->park_node);
		c->auth_waiting = false;
		log_warning("C-%llu: auth_query for user %s in database %s: cannot log in to run it: %s",
			    (unsigned long long)c->conn.id, c->user_name, c->db_name, message);
		resume_login(c);
	}
}

void authquery_forget_client(Client *c)
{
	if (c->auth_waiting) {
		list_del(&c->park_node);
		c->auth_waiting = false;
	}
	if (c->auth_server) {
		c->auth_server->auth_client = NULL;
		c->auth_server = NULL;
	}
	free_secret(c->lookup_secret);
	c->lookup_secret = NULL;
}
