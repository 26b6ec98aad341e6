/*
 * Admin console (see admin.h): who may log in, the statement lexer and the table-driven
 * dispatch, and the control commands (PAUSE, RESUME, KILL, RECONNECT, SET, ...). A
 * command that must wait (PAUSE until servers are gone, WAIT_CLOSE) parks the console
 * client with its unread input paused; admin_tick() finishes it and runs the rest of
 * the query string. The SHOW views are in admin_show.c. Control commands only set the
 * flags the pool and client modules already honour and close connections through
 * their owners' close functions.
 */
#include "admin.h"
#include "admin_parse.h"
#include "client.h"
#include "failover.h"
#include "listener.h"
#include "log.h"
#include "pg_wire.h"
#include "proto.h"
#include "registry.h"
#include "reload.h"
#include "runtime.h"
#include "server.h"
#include "shutdown.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* SQLSTATEs only the console reports (PostgreSQL's codes for the same situations) */
#ifndef SQLSTATE_OBJECT_NOT_IN_STATE
#define SQLSTATE_OBJECT_NOT_IN_STATE "55000"
#endif
#ifndef SQLSTATE_CANT_CHANGE_RUNTIME_PARAM
#define SQLSTATE_CANT_CHANGE_RUNTIME_PARAM "55P02"
#endif
#ifndef SQLSTATE_INVALID_PARAMETER
#define SQLSTATE_INVALID_PARAMETER "22023"
#endif
#ifndef SQLSTATE_UNDEFINED_OBJECT
#define SQLSTATE_UNDEFINED_OBJECT "42704"
#endif
#ifndef SQLSTATE_CONFIG_FILE_ERROR
#define SQLSTATE_CONFIG_FILE_ERROR "F0000"
#endif
#ifndef SQLSTATE_PROGRAM_LIMIT
#define SQLSTATE_PROGRAM_LIMIT "54000"
#endif

static uint64_t admin_queries;

/* ---- login ---- */

static bool admin_is_db_name(const char *name)
{
	return strcmp(name, "pgbouncer") == 0 || strcmp(name, "pgsplit") == 0;
}

/* Unix-socket peer with our own uid (SO_PEERCRED): the operator running pgsplit. */
static bool admin_peer_is_owner(const Client *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (strcmp(c->conn.addr_text, "unix") != 0 || c->conn.fd < 0)
		return false;
	if (getsockopt(c->conn.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == geteuid();
}

/* As with peer authentication: the special name "pgbouncer" or our own OS user name. */
static bool admin_peer_name_ok(const char *user)
{
	if (strcmp(user, "pgbouncer") == 0)
		return true;
	struct passwd *pw = getpwuid(geteuid());
	return pw && strcmp(pw->pw_name, user) == 0;
}

bool admin_client_login(Client *c)
{
	c->is_admin = true;
	if (admin_peer_is_owner(c) && admin_peer_name_ok(c->user_name)) {
		c->admin_may_change = true;
		log_client(LOG_LVL_INFO, c, "console access for %s from the unix socket as the owner", c->user_name);
		client_auth_ok(c);
		return false;
	}
	bool admin = config_list_contains(rt.cfg->admin_users, c->user_name);
	bool stats = config_list_contains(rt.cfg->stats_users, c->user_name);
	/* PgBouncer: with auth_type=any every user may look, as a stats user */
	if (!admin && !stats && rt.cfg->auth_type != AUTH_TYPE_ANY)
		c->refusal = LOGIN_REFUSE_CONSOLE; /* told only after the password checks out */
	c->admin_may_change = admin;
	return true;
}

void admin_welcome(Client *c)
{
	PktBuf pb;
	pktbuf_init(&pb, 256, 0);
	pktbuf_put_parameter_status(&pb, "server_version", "15.0 (pgsplit " PGSPLIT_VERSION ")");
	pktbuf_put_parameter_status(&pb, "client_encoding", "UTF8");
	pktbuf_put_parameter_status(&pb, "server_encoding", "UTF8");
	pktbuf_put_parameter_status(&pb, "DateStyle", "ISO");
	pktbuf_put_parameter_status(&pb, "TimeZone", "GMT");
	pktbuf_put_parameter_status(&pb, "standard_conforming_strings", "on");
	pktbuf_put_parameter_status(&pb, "integer_datetimes", "on");
	pktbuf_put_parameter_status(&pb, "is_superuser", "on");
	pktbuf_put_backend_key_data(&pb, c->cancel_pid, c->cancel_key);
	client_put_login_notice(&pb);
	pktbuf_put_ready_for_query(&pb, 'I');
	client_set_state(c, CL_ACTIVE);
	c->conn.request_time = time_now_mono();
	client_send_pkt(c, &pb);
	pktbuf_free(&pb);
	sbuf_flush(&c->conn);
}

uint64_t admin_query_count(void)
{
	return admin_queries;
}

int admin_client_count(void)
{
	int n = 0;
	List *it;
	list_for_each(it, &rt.clients)
	{
		Client *c = container_of(it, Client, all_node);
		n += c->is_admin && c->state == CL_ACTIVE;
	}
	return n;
}

/* ---- replies ---- */

static void admin_reply_init(AdminReply *r)
{
	pktbuf_init(&r->pb, 1024, 0);
	r->failed = false;
	r->sink = NULL;
}

void admin_reply_error(AdminReply *r, const char *sqlstate, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info("console error: %s", msg);
	pktbuf_put_error_response(&r->pb, "ERROR", sqlstate, msg);
	r->failed = true;
}

void admin_reply_complete(AdminReply *r, const char *tag)
{
	pktbuf_put_command_complete(&r->pb, tag);
}

/* NoticeResponse with a message only (pktbuf's writer has no detail field). */
static void admin_reply_notice(AdminReply *r, const char *msg)
{
	pktbuf_put_notice_response(&r->pb, "NOTICE", "00000", msg);
}

static void admin_reply_send(Client *c, AdminReply *r, bool ready)
{
	if (ready)
		pktbuf_put_ready_for_query(&r->pb, 'I');
	if (!c->conn.closing && r->pb.len > 0)
		client_send_pkt(c, &r->pb);
	pktbuf_free(&r->pb);
	if (!c->conn.closing)
		sbuf_flush(&c->conn);
}

/* ---- command execution ---- */

typedef enum {
	ADMIN_DONE, /* reply (or error) added */
	ADMIN_WAIT, /* the reply comes later, from admin_tick() */
	ADMIN_GONE, /* the console client is closed or the process is exiting */
} AdminResult;

typedef enum { WAIT_PAUSE, WAIT_CLOSE, WAIT_SUSPEND } AdminWaitKind;

/* A console client whose command waits for the pooler to reach a state. */
typedef struct AdminWait {
	uint64_t client_id;    /* found again in rt.clients: the client may be gone */
	AdminWaitKind kind;
	Database *db;          /* NULL: every database (Databases are never freed) */
	uint64_t max_server_id; /* WAIT_CLOSE: only servers that existed at the command */
	usec_t started;        /* monotonic: WAIT_SUSPEND gives up after suspend_timeout */
	char *rest;            /* the statements after it in the same query string */
	List node;
} AdminWait;

static List admin_waits = LIST_INIT(admin_waits);

typedef struct AdminCtx {
	Client *c;
	AdminReply *r;
	const AdminStmt *st;
	AdminWait wait; /* filled by a handler returning ADMIN_WAIT */
} AdminCtx;

typedef AdminResult (*AdminHandler)(AdminCtx *x);

static AdminResult syntax_error(AdminCtx *x)
{
	admin_reply_error(x->r, SQLSTATE_SYNTAX_ERROR, "invalid command '%s', use SHOW HELP;", x->st->text);
	return ADMIN_DONE;
}

static const char *arg_of(const AdminCtx *x)
{
	return x->st->has_arg ? x->st->arg : NULL;
}

/* A database known now (never one made up from "*"). */
static Database *db_find(const char *name)
{
	List *it;
	list_for_each(it, &rt.databases)
	{
		Database *db = container_of(it, Database, node);
		if (strcmp(db->name, name) == 0 && !db->removed)
			return db;
	}
	return NULL;
}

/*
 * Resolve the [db] argument; false (with the error added) when it is not usable.
 * may_register: like a connecting client, a name may create a database from "*".
 */
static bool db_arg(AdminCtx *x, bool may_register, const char *what, Database **out)
{
	const char *name = arg_of(x);
	*out = NULL;
	if (!name)
		return true;
	if (admin_is_db_name(name)) {
		admin_reply_error(x->r, SQLSTATE_FEATURE_NOT_SUPPORTED, "cannot %s admin db: %s", what, name);
		return false;
	}
	*out = may_register ? registry_find_database(name) : db_find(name);
	if (!*out)
		admin_reply_error(x->r, SQLSTATE_PROTOCOL_VIOLATION, "no such database: %s", name); /* 1.25's code */
	return *out != NULL;
}

/*
 * Pools the control commands act on: those of db (NULL: all). The replica monitor's
 * pools are left alone: their connections carry no client work, and the monitor would
 * only open them again.
 */
static bool pool_matches(const Pool *p, const Database *db)
{
	return !p->is_monitor && (db == NULL || p->db == db);
}

/* Servers of the matching pools, for the PAUSE condition. */
static int servers_of(const Database *db)
{
	int n = 0;
	List *it;
	list_for_each(it, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		if (pool_matches(p, db))
			n += pool_pooled_server_count(p);
	}
	return n;
}

static int close_needed_of(const Database *db, uint64_t max_id)
{
	int n = 0;
	List *it;
	list_for_each(it, &rt.servers)
	{
		Server *s = container_of(it, Server, all_node);
		n += s->dirty && !s->replication && s->conn.id <= max_id && pool_matches(s->pool, db);
	}
	return n;
}

/* Queued clients get a server again: launch for them, hand out idle ones. */
static void admin_wake_pools(void)
{
	List *it, *tmp;
	list_for_each_safe(it, tmp, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		pool_maintain(p);
		while (!list_empty(&p->idle_servers) && !list_empty(&p->waiting_clients) && !p->db->paused &&
		       !rt.paused) {
			Server *s = container_of(list_first(&p->idle_servers), Server, pool_node);
			pool_on_server_idle(p, s);
		}
	}
}

/*
 * Closing one connection can close others (a freed slot lets the pool evict an idle
 * server elsewhere), so loops that close pick one victim, close it, and look again from
 * the start; a closed connection has left the runtime's list.
 */
typedef bool (*ServerPick)(const Server *s, const void *arg);
typedef bool (*ClientPick)(const Client *c, const void *arg);

static Server *first_server(ServerPick pick, const void *arg)
{
	List *it;
	list_for_each(it, &rt.servers)
	{
		Server *s = container_of(it, Server, all_node);
		if (s->state != SV_CLOSED && pick(s, arg))
			return s;
	}
	return NULL;
}

static Client *first_client(ClientPick pick, const void *arg)
{
	List *it;
	list_for_each(it, &rt.clients)
	{
		Client *c = container_of(it, Client, all_node);
		if (c->state != CL_CLOSED && !c->conn.closing && pick(c, arg))
			return c;
	}
	return NULL;
}

/* A paused pool keeps no server that is not linked to a client. */
static bool pick_paused_unlinked(const Server *s, const void *arg)
{
	(void)arg;
	/* a replication server is its client's for life: PAUSE does not cut it, even logging in */
	return pool_matches(s->pool, NULL) && (rt.paused || s->pool->db->paused) && s->state != SV_ACTIVE &&
	       !s->replication;
}

/* A server tagged by RECONNECT goes as soon as it is back in the pool. */
static bool pick_reconnect_idle(const Server *s, const void *arg)
{
	(void)arg;
	return pool_matches(s->pool, NULL) && s->dirty && s->state == SV_IDLE;
}

/* The server side of PAUSE and RECONNECT, run at once and on every tick. */
static void admin_enforce(void)
{
	Server *s;
	while ((s = first_server(pick_paused_unlinked, NULL)) != NULL)
		server_close(s, "pause mode");
	while ((s = first_server(pick_reconnect_idle, NULL)) != NULL)
		server_close(s, "reconnect requested");
}

/* ---- control commands ---- */

static AdminResult cmd_wait(AdminCtx *x, AdminWaitKind kind, Database *db)
{
	x->wait.kind = kind;
	x->wait.db = db;
	x->wait.max_server_id = rt.next_conn_id;
	x->wait.started = time_now_mono();
	return ADMIN_WAIT;
}

static AdminResult cmd_pause(AdminCtx *x)
{
	Database *db;
	if (rt.paused) {
		admin_reply_error(x->r, SQLSTATE_OBJECT_NOT_IN_STATE, "already suspended/paused");
		return ADMIN_DONE;
	}
	if (!db_arg(x, true, "pause", &db))
		return ADMIN_DONE;
	log_info("PAUSE %s command issued", db ? db->name : "(all)");
	if (db)
		db->paused = true;
	else
		rt.paused = true;
	admin_enforce();
	if (servers_of(db) == 0) {
		admin_reply_complete(x->r, "PAUSE");
		return ADMIN_DONE;
	}
	return cmd_wait(x, WAIT_PAUSE, db);
}

static void suspend_all(bool on);

static bool anything_paused(void)
{
	List *it;
	list_for_each(it, &rt.databases)
	{
		if (container_of(it, Database, node)->paused)
			return true;
	}
	return rt.paused || rt.suspended;
}

static void resume_everything(void)
{
	List *it;
	list_for_each(it, &rt.databases) container_of(it, Database, node)->paused = false;
	rt.paused = false;
	if (rt.suspended) {
		rt.suspended = false;
		listener_resume();
		suspend_all(false);
	}
}

static AdminResult cmd_resume(AdminCtx *x)
{
	Database *db;
	if (rt.shutting_down) { /* the shutdown's pause stays, as in PgBouncer 1.25 */
		admin_reply_error(x->r, SQLSTATE_PROTOCOL_VIOLATION, "pooler is shutting down");
		return ADMIN_DONE;
	}
	if (!db_arg(x, false, "resume", &db))
		return ADMIN_DONE;
	if (db && !db->paused) {
		admin_reply_error(x->r, SQLSTATE_OBJECT_NOT_IN_STATE, "database %s is not paused", db->name);
		return ADMIN_DONE;
	}
	if (!db && !anything_paused()) {
		admin_reply_error(x->r, SQLSTATE_OBJECT_NOT_IN_STATE, "pooler is not paused/suspended");
		return ADMIN_DONE;
	}
	log_info("RESUME %s command issued", db ? db->name : "(all)");
	if (db)
		db->paused = false;
	else
		resume_everything();
	admin_wake_pools();
	admin_reply_complete(x->r, "RESUME");
	return ADMIN_DONE;
}

static AdminResult cmd_reconnect(AdminCtx *x)
{
	Database *db;
	if (!db_arg(x, true, "reconnect", &db))
		return ADMIN_DONE;
	log_info("RECONNECT %s command issued", db ? db->name : "(all)");
	List *it;
	list_for_each(it, &rt.servers)
	{
		Server *s = container_of(it, Server, all_node);
		if (pool_matches(s->pool, db))
			s->dirty = true; /* server_unlink closes it at release */
	}
	admin_enforce();
	admin_reply_complete(x->r, "RECONNECT");
	return ADMIN_DONE;
}

/* Split "host:port" in place; port 0 when it is not given. */
static int split_address(char *host)
{
	char *colon = strrchr(host, ':');
	if (!colon || strchr(colon, ']') || strchr(host, ':') != colon)
		return 0;
	*colon = 0;
	return atoi(colon + 1);
}

/*
 * DISABLE REPLICA host[:port] takes the standby out of rotation for maintenance: no new
 * transaction goes there, running ones finish, idle connections to it are closed.
 * ENABLE REPLICA puts it back (the monitor then judges its health again).
 */
static AdminResult cmd_replica_state(AdminCtx *x, bool disable)
{
	char host[ADMIN_TOKEN_MAX];
	int port = 0;
	snprintf(host, sizeof(host), "%s", x->st->value);
	port = split_address(host);
	int matched = 0;
	List *it, *tmp;
	list_for_each(it, &rt.databases)
	{
		Database *db = container_of(it, Database, node);
		for (int i = 0; i < db->n_replicas; i++) {
			Replica *rep = db->replicas[i];
			if (strcmp(rep->host, host) != 0 || (port && rep->port != port))
				continue;
			matched++;
			rep->state = disable ? REPLICA_DISABLED : REPLICA_UP;
			rep->down_count = 0;
		}
	}
	if (!matched) {
		admin_reply_error(x->r, SQLSTATE_SYNTAX_ERROR, "no such replica: %s", x->st->value);
		return ADMIN_DONE;
	}
	if (disable) {
		list_for_each_safe(it, tmp, &rt.servers)
		{
			Server *s = container_of(it, Server, all_node);
			if (s->pool->replica && s->pool->replica->state == REPLICA_DISABLED && !s->pool->is_monitor) {
				if (s->state == SV_IDLE)
					server_close(s, "replica disabled");
				else
					s->dirty = true;
			}
		}
	}
	log_info("%s REPLICA %s command issued", disable ? "DISABLE" : "ENABLE", x->st->value);
	admin_reply_complete(x->r, disable ? "DISABLE" : "ENABLE");
	return ADMIN_DONE;
}

/*
 * CHOOSE PRIMARY db host:port settles a split brain (two members answer as a primary):
 * the named one takes the writes, the other gets no traffic until it is in recovery.
 */
static AdminResult cmd_choose_primary(AdminCtx *x)
{
	Database *db;
	char host[ADMIN_TOKEN_MAX];
	if (!db_arg(x, false, "choose a primary for", &db))
		return ADMIN_DONE;
	snprintf(host, sizeof(host), "%s", x->st->value);
	int port = split_address(host);
	const char *problem = failover_choose(db, host, port ? port : db->port);
	if (problem) {
		admin_reply_error(x->r, SQLSTATE_OBJECT_NOT_IN_STATE, "cannot choose %s: %s", x->st->value, problem);
		return ADMIN_DONE;
	}
	admin_reply_complete(x->r, "CHOOSE");
	return ADMIN_DONE;
}

static AdminResult cmd_enable_disable(AdminCtx *x, bool disable)
{
	Database *db;
	if (arg_of(x) && strcasecmp(arg_of(x), "REPLICA") == 0)
		return cmd_replica_state(x, disable);
	if (!arg_of(x)) {
		admin_reply_error(x->r, SQLSTATE_SYNTAX_ERROR, "a database is required");
		return ADMIN_DONE;
	}
	if (!db_arg(x, disable, disable ? "disable" : "enable", &db))
		return ADMIN_DONE;
	log_info("%s %s command issued", disable ? "DISABLE" : "ENABLE", db->name);
	db->disabled = disable;
	admin_reply_complete(x->r, disable ? "DISABLE" : "ENABLE");
	return ADMIN_DONE;
}

static AdminResult cmd_disable(AdminCtx *x)
{
	return cmd_enable_disable(x, true);
}

static AdminResult cmd_enable(AdminCtx *x)
{
	return cmd_enable_disable(x, false);
}

/* A client still logging in has no Database yet: it is matched by the name it gave. */
static bool pick_db_client(const Client *c, const void *db)
{
	if (c->is_admin)
		return false;
	if (c->db)
		return !db || c->db == db;
	return c->state == CL_LOGIN && c->db_name && (!db || strcmp(c->db_name, ((const Database *)db)->name) == 0);
}

static bool pick_db_server(const Server *s, const void *db)
{
	return pool_matches(s->pool, db);
}

/* KILL: drop every client and server of the database (NULL: all but the console). */
static void kill_database(const Database *db)
{
	Client *c;
	Server *s;
	while ((c = first_client(pick_db_client, db)) != NULL)
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "database removed");
	while ((s = first_server(pick_db_server, db)) != NULL)
		server_close(s, "database removed");
}

static AdminResult cmd_kill(AdminCtx *x)
{
	Database *db;
	if (rt.paused) {
		admin_reply_error(x->r, SQLSTATE_OBJECT_NOT_IN_STATE, "already suspended/paused");
		return ADMIN_DONE;
	}
	if (!db_arg(x, true, "kill", &db))
		return ADMIN_DONE;
	log_info("KILL %s command issued", db ? db->name : "(all)");
	/* as in PgBouncer, new clients of a killed database wait for RESUME */
	List *it;
	list_for_each(it, &rt.databases)
	{
		Database *d = container_of(it, Database, node);
		if (!db || d == db)
			d->paused = true;
	}
	kill_database(db);
	admin_reply_complete(x->r, "KILL");
	return ADMIN_DONE;
}

static Client *client_by_id(uint64_t id)
{
	List *it;
	list_for_each(it, &rt.clients)
	{
		Client *c = container_of(it, Client, all_node);
		if (c->conn.id == id && c->state != CL_LOGIN && c->state != CL_CLOSED)
			return c;
	}
	return NULL;
}

static AdminResult cmd_kill_client(AdminCtx *x)
{
	const char *arg = arg_of(x);
	char *end = NULL;
	errno = 0;
	unsigned long long id = arg ? strtoull(arg, &end, 10) : 0;
	if (!arg || !isdigit((unsigned char)*arg) || *end || errno) {
		admin_reply_error(x->r, SQLSTATE_PROTOCOL_VIOLATION, "invalid client pointer supplied");
		return ADMIN_DONE;
	}
	Client *victim = client_by_id(id);
	if (!victim) {
		admin_reply_error(x->r, SQLSTATE_PROTOCOL_VIOLATION, "client not found");
		return ADMIN_DONE;
	}
	log_info("KILL_CLIENT %llu command issued", id);
	if (victim->conn.link) /* its server goes too, not back to the pool */
		((Server *)victim->conn.link)->dirty = true;
	client_close_error(victim, SQLSTATE_PROTOCOL_VIOLATION, "admin forced disconnect");
	if (victim == x->c)
		return ADMIN_GONE;
	admin_reply_complete(x->r, "KILL_CLIENT");
	return ADMIN_DONE;
}

/* Every pooled connection except the console's: SUSPEND stops reading them. */
static void suspend_all(bool on)
{
	List *it;
	list_for_each(it, &rt.clients)
	{
		Client *c = container_of(it, Client, all_node);
		if (!c->is_admin)
			sbuf_suspend(&c->conn, on);
	}
	list_for_each(it, &rt.servers) sbuf_suspend(&container_of(it, Server, all_node)->conn, on);
}

/* Bytes still queued for sending anywhere; with `drop`, connections holding some are closed. */
static size_t unsent_bytes(bool drop)
{
	size_t total = 0;
	List *it, *tmp;
	list_for_each_safe(it, tmp, &rt.clients)
	{
		Client *c = container_of(it, Client, all_node);
		size_t n = c->conn.out.end - c->conn.out.start;
		if (n && !c->is_admin && drop)
			client_close(c, "suspend_timeout: buffer not flushed");
		total += n;
	}
	list_for_each_safe(it, tmp, &rt.servers)
	{
		Server *s = container_of(it, Server, all_node);
		size_t n = s->conn.out.end - s->conn.out.start;
		if (n && drop)
			server_close(s, "suspend_timeout: buffer not flushed");
		total += n;
	}
	return total;
}

/*
 * SUSPEND: stop accepting and stop reading every socket, then answer once every output
 * buffer has drained (or, after suspend_timeout, close what has not). RESUME undoes it.
 */
static AdminResult cmd_suspend(AdminCtx *x)
{
	if (rt.paused || rt.suspended) {
		admin_reply_error(x->r, SQLSTATE_OBJECT_NOT_IN_STATE, "already suspended/paused");
		return ADMIN_DONE;
	}
	log_info("SUSPEND command issued");
	rt.suspended = true;
	listener_pause();
	suspend_all(true);
	if (unsent_bytes(false) == 0) {
		admin_reply_complete(x->r, "SUSPEND");
		return ADMIN_DONE;
	}
	return cmd_wait(x, WAIT_SUSPEND, NULL);
}

static AdminResult cmd_shutdown(AdminCtx *x)
{
	const char *arg = arg_of(x);
	if (!arg) {
		log_info("SHUTDOWN command issued");
		shutdown_now(); /* no reply: the connection ends with the process */
		return ADMIN_GONE;
	}
	if (strcasecmp(arg, "WAIT_FOR_SERVERS") == 0) {
		log_info("SHUTDOWN WAIT_FOR_SERVERS command issued");
		shutdown_wait_for_servers();
		admin_enforce();
	} else if (strcasecmp(arg, "WAIT_FOR_CLIENTS") == 0) {
		log_info("SHUTDOWN WAIT_FOR_CLIENTS command issued");
		shutdown_wait_for_clients();
	} else {
		return syntax_error(x);
	}
	admin_reply_complete(x->r, "SHUTDOWN");
	return ADMIN_DONE;
}

static AdminResult cmd_wait_close(AdminCtx *x)
{
	Database *db;
	if (!db_arg(x, true, "wait in", &db))
		return ADMIN_DONE;
	log_info("WAIT_CLOSE %s command issued", db ? db->name : "(all)");
	admin_enforce();
	if (close_needed_of(db, rt.next_conn_id) == 0) {
		admin_reply_complete(x->r, "WAIT_CLOSE");
		return ADMIN_DONE;
	}
	return cmd_wait(x, WAIT_CLOSE, db);
}

static AdminResult cmd_reload(AdminCtx *x)
{
	char err[1024];
	log_info("RELOAD command issued");
	if (!reload_config(err, sizeof(err))) {
		/* PgBouncer 1.25's message; the reason, which it only logs, goes in DETAIL */
		log_info("console error: RELOAD failed: %s", err);
		pktbuf_put_error_detail(&x->r->pb, SQLSTATE_CONFIG_FILE_ERROR,
					"RELOAD failed, see logs for additional details", err);
		x->r->failed = true;
		return ADMIN_DONE;
	}
	admin_reply_complete(x->r, "RELOAD");
	return ADMIN_DONE;
}

static AdminResult cmd_set(AdminCtx *x)
{
	const AdminStmt *st = x->st;
	char err[512], tag[ADMIN_STMT_MAX];
	if (admin_is_fake_param(st->arg)) {
		admin_reply_notice(x->r, "SET ignored");
		admin_reply_complete(x->r, "SET");
		return ADMIN_DONE;
	}
	if (!x->c->admin_may_change) {
		admin_reply_error(x->r, SQLSTATE_INSUFFICIENT_PRIVILEGE, "admin access needed");
		return ADMIN_DONE;
	}
	const ConfigSetting *s = config_setting_find(st->arg);
	if (!s || !config_setting_reloadable(s)) {
		admin_reply_error(x->r, s ? SQLSTATE_CANT_CHANGE_RUNTIME_PARAM : SQLSTATE_UNDEFINED_OBJECT,
				  s ? "SET failed: setting %s cannot be changed online, only at start"
				    : "SET failed: unknown setting %s",
				  st->arg);
		return ADMIN_DONE;
	}
	if (!reload_set(st->arg, st->value, err, sizeof(err))) {
		log_warning("SET %s = %s refused: %s", config_setting_name(s), st->value, err);
		admin_reply_error(x->r, SQLSTATE_INVALID_PARAMETER, "SET failed: %s", err);
		return ADMIN_DONE;
	}
	log_info("SET %s = %s command issued", config_setting_name(s), st->value);
	if (strcasecmp(st->arg, "verbose") == 0)
		log_level_current = LOG_LVL_INFO + rt.cfg->verbose;
	snprintf(tag, sizeof(tag), "SET %s=%s", config_setting_name(s), st->value);
	admin_reply_complete(x->r, tag);
	return ADMIN_DONE;
}

static AdminResult cmd_show(AdminCtx *x)
{
	const char *what = arg_of(x);
	if (!what)
		return syntax_error(x);
	const AdminView *v = admin_view_find(what);
	if (!v) {
		if (!admin_show_fake_param(x->r, what))
			return syntax_error(x);
		return ADMIN_DONE;
	}
	if (v->admin_only && !x->c->admin_may_change) {
		admin_reply_error(x->r, SQLSTATE_INSUFFICIENT_PRIVILEGE, "admin access needed");
		return ADMIN_DONE;
	}
	v->render(x->r);
	return ADMIN_DONE;
}

/* What runs each command of admin_parse.h's list, and who may run it. */
typedef struct AdminCommand {
	AdminHandler run;
	bool admin_only; /* refused to stats_users */
} AdminCommand;

static const AdminCommand admin_commands[ADMIN_CMD_COUNT] = {
	[ADMIN_CMD_SHOW] = { cmd_show, false },
	[ADMIN_CMD_SELECT] = { cmd_show, false }, /* PgBouncer's alias */
	[ADMIN_CMD_SET] = { cmd_set, false },
	[ADMIN_CMD_PAUSE] = { cmd_pause, true },
	[ADMIN_CMD_RESUME] = { cmd_resume, true },
	[ADMIN_CMD_RECONNECT] = { cmd_reconnect, true },
	[ADMIN_CMD_DISABLE] = { cmd_disable, true },
	[ADMIN_CMD_ENABLE] = { cmd_enable, true },
	[ADMIN_CMD_KILL] = { cmd_kill, true },
	[ADMIN_CMD_KILL_CLIENT] = { cmd_kill_client, true },
	[ADMIN_CMD_SUSPEND] = { cmd_suspend, true },
	[ADMIN_CMD_SHUTDOWN] = { cmd_shutdown, true },
	[ADMIN_CMD_WAIT_CLOSE] = { cmd_wait_close, true },
	[ADMIN_CMD_RELOAD] = { cmd_reload, true },
	[ADMIN_CMD_CHOOSE] = { cmd_choose_primary, true },
};

static AdminResult admin_run_statement(AdminCtx *x, const char *text)
{
	AdminStmt st;
	x->st = &st;
	if (!admin_parse_statement(text, &st))
		return syntax_error(x);
	const AdminCommand *cmd = &admin_commands[st.cmd];
	if (cmd->admin_only && !x->c->admin_may_change) {
		admin_reply_error(x->r, SQLSTATE_INSUFFICIENT_PRIVILEGE, "admin access needed");
		return ADMIN_DONE;
	}
	return cmd->run(x);
}

static void admin_park(Client *c, const AdminWait *tmpl, const char *rest)
{
	AdminWait *w = xcalloc(1, sizeof(*w));
	*w = *tmpl;
	w->client_id = c->conn.id;
	w->rest = xstrdup(rest);
	list_append(&admin_waits, &w->node);
	sbuf_pause(&c->conn); /* later queries stay unread until this one is answered */
}

/*
 * Run the statements of script into r. On ADMIN_DONE the caller ends the reply with
 * ReadyForQuery; on ADMIN_WAIT the client is parked with the statements after the
 * waiting one.
 */
static AdminResult admin_run_script(Client *c, AdminReply *r, const char *script, bool *any)
{
	char text[ADMIN_STMT_MAX];
	const char *p = script;
	while (*p && !r->failed) {
		const char *next = admin_parse_next_statement(p, text, sizeof(text));
		if (!next) {
			admin_reply_error(r, SQLSTATE_PROGRAM_LIMIT, "admin command too long");
			break;
		}
		p = next;
		if (!text[0])
			continue;
		*any = true;
		AdminCtx x = { .c = c, .r = r };
		AdminResult res = admin_run_statement(&x, text);
		if (res == ADMIN_WAIT)
			admin_park(c, &x.wait, p);
		if (res != ADMIN_DONE || c->conn.closing)
			return res == ADMIN_DONE ? ADMIN_GONE : res;
	}
	return ADMIN_DONE;
}

/* Run script for c and send what it produced; used for new queries and resumed ones. */
static void admin_execute(Client *c, AdminReply *r, const char *script, bool fresh)
{
	bool any = false;
	AdminResult res = admin_run_script(c, r, script, &any);
	if (res == ADMIN_DONE && fresh && !any && !r->failed)
		pktbuf_put_empty_query_response(&r->pb);
	admin_reply_send(c, r, res == ADMIN_DONE);
}

SbufVerdict admin_on_message(Client *c, const SbufMsg *msg)
{
	switch (msg->type) {
	case PG_MSG_QUERY:
		break;
	case PG_MSG_TERMINATE:
		client_close(c, "client close request");
		return SB_STOP;
	case PG_MSG_PARSE:
	case PG_MSG_BIND:
	case PG_MSG_EXECUTE:
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION,
				   "extended query protocol not supported by admin console");
		return SB_STOP;
	default: {
		char m[96];
		snprintf(m, sizeof(m), "unsupported packet type for admin console: %d", msg->type);
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, m);
		return SB_STOP;
	}
	}
	if (msg->len > PROTO_INSPECT_MAX) {
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, "admin command too long");
		return SB_STOP;
	}
	if (msg->avail < msg->len)
		return SB_NEED_FULL;
	size_t n = msg->len - 5;
	char *sql = xmalloc(n + 1);
	memcpy(sql, msg->data + 5, n);
	sql[n] = 0; /* the query's own terminator, or a stop at a short one */
	admin_queries++;
	c->conn.request_time = time_now_mono();
	AdminReply r;
	admin_reply_init(&r);
	admin_execute(c, &r, sql, true);
	free(sql);
	return c->conn.closing ? SB_STOP : SB_CONSUMED;
}

/* ---- waiting commands ---- */

static Client *admin_wait_client(const AdminWait *w)
{
	List *it;
	list_for_each(it, &rt.clients)
	{
		Client *c = container_of(it, Client, all_node);
		if (c->conn.id == w->client_id)
			return c->state == CL_CLOSED || c->conn.closing ? NULL : c;
	}
	return NULL;
}

/* NULL: still waiting; "" finished; otherwise the error to report. */
static const char *admin_wait_outcome(const AdminWait *w)
{
	if (w->kind == WAIT_CLOSE)
		return close_needed_of(w->db, w->max_server_id) == 0 ? "" : NULL;
	if (w->kind == WAIT_SUSPEND) {
		if (!rt.suspended)
			return "SUSPEND was cancelled by RESUME";
		bool late = time_now_mono() - w->started > rt.cfg->suspend_timeout;
		return unsent_bytes(late) == 0 || late ? "" : NULL;
	}
	if (w->db ? !w->db->paused : !rt.paused)
		return "PAUSE was cancelled by RESUME";
	return servers_of(w->db) == 0 ? "" : NULL;
}

static void admin_wait_finish(AdminWait *w, const char *outcome)
{
	Client *c = admin_wait_client(w);
	if (c) {
		AdminReply r;
		admin_reply_init(&r);
		if (*outcome)
			admin_reply_error(&r, SQLSTATE_QUERY_CANCELED, "%s", outcome);
		else
			admin_reply_complete(&r, w->kind == WAIT_PAUSE	   ? "PAUSE"
						 : w->kind == WAIT_SUSPEND ? "SUSPEND"
									   : "WAIT_CLOSE");
		admin_execute(c, &r, w->rest, false);
	}
	free(w->rest);
	free(w);
}

static bool admin_client_parked(const Client *c)
{
	List *it;
	list_for_each(it, &admin_waits)
	{
		if (container_of(it, AdminWait, node)->client_id == c->conn.id)
			return true;
	}
	return false;
}

void admin_tick(void)
{
	admin_enforce();
	List ready = LIST_INIT(ready);
	List *it, *tmp;
	list_for_each_safe(it, tmp, &admin_waits)
	{
		AdminWait *w = container_of(it, AdminWait, node);
		if (!admin_wait_client(w) || admin_wait_outcome(w)) {
			list_del(&w->node);
			list_append(&ready, &w->node);
		}
	}
	/* finish outside the walk: resuming a client may run its next queries at once */
	while ((it = list_pop(&ready)) != NULL) {
		AdminWait *w = container_of(it, AdminWait, node);
		const char *outcome = admin_wait_outcome(w);
		Client *c = admin_wait_client(w);
		if (c && !outcome) { /* an earlier one changed the state back */
			list_append(&admin_waits, &w->node);
			continue;
		}
		admin_wait_finish(w, outcome ? outcome : "");
		if (c && !c->conn.closing && !admin_client_parked(c))
			sbuf_resume(&c->conn);
	}
}

/*
 * A CancelRequest (psql's Ctrl-C) for a console session whose command waits: the
 * command gives up. A cancelled PAUSE or SUSPEND resumes what it had stopped, so the
 * pooler is left as it was before the command.
 */
void admin_cancel(Client *c)
{
	List *it, *tmp;
	list_for_each_safe(it, tmp, &admin_waits)
	{
		AdminWait *w = container_of(it, AdminWait, node);
		if (w->client_id != c->conn.id)
			continue;
		list_del(&w->node);
		if (w->kind == WAIT_PAUSE && w->db)
			w->db->paused = false;
		else if (w->kind == WAIT_PAUSE || w->kind == WAIT_SUSPEND)
			resume_everything();
		admin_wake_pools();
		admin_wait_finish(w, "canceling statement due to user request");
		if (!c->conn.closing && !admin_client_parked(c))
			sbuf_resume(&c->conn);
		return;
	}
}
