/*
 * Server connections (see server.h). Login: resolve (c-ares), connect, StartupMessage,
 * authenticate with what the user's credentials allow, collect ParameterStatus and
 * BackendKeyData. Work: forward replies to the linked client while counting the
 * ReadyForQuery messages owed, swallow replies to the pooler's own queries, and hand the
 * server back to its pool when the transaction (or session) ends.
 */
#include "server.h"
#include "authquery.h"
#include "client.h"
#include "cancel.h"
#include "causal.h"
#include "client_route.h"
#include "rerun.h"
#include "dns.h"
#include "failover.h"
#include "hostlist.h"
#include "log.h"
#include "md5.h"
#include "monitor.h"
#include "pg_wire.h"
#include "pktbuf.h"
#include "prepared.h"
#include "replication_conn.h"
#include "ryw.h"
#include "proto.h"
#include "runtime.h"
#include "sockopt.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

static SbufVerdict server_on_message(Conn *conn, const SbufMsg *msg);
static void server_on_eof(Conn *conn, const char *reason);
static void server_on_drained(Conn *conn);
static void server_become_ready(Server *s);
static bool server_try_next_addr(Server *s);
static void server_request_tls(Server *s, int fd);

static void server_on_tls_ready(Conn *conn);

static const SbufOps server_ops = {
	.on_message = server_on_message,
	.on_eof = server_on_eof,
	.on_drained = server_on_drained,
	.on_tls_ready = server_on_tls_ready,
};

static const char *const server_state_names[] = { "connecting", "login", "idle", "active", "used", "closed" };

const char *server_state_name(ServerState state)
{
	return server_state_names[state];
}

/* ---- state lists ---- */

static List *state_list(const Server *s, Pool *p, ServerState st, int **counter)
{
	switch (st) {
	case SV_CONNECTING:
	case SV_LOGIN:
		if (s->replication) {
			/* not a login a waiting client could get: pool_maintain must not count it */
			*counter = NULL;
			return NULL;
		}
		*counter = &p->n_login;
		return &p->login_servers;
	case SV_IDLE:
		*counter = &p->n_idle;
		return &p->idle_servers;
	case SV_ACTIVE:
		*counter = &p->n_active;
		return &p->active_servers;
	case SV_USED:
		*counter = &p->n_used;
		return &p->used_servers;
	default:
		*counter = NULL;
		return NULL;
	}
}

/*
 * The moves server_set_state() makes: a new server starts connecting from SV_CLOSED, logs
 * in (again when it moves to its next address), and only a logged-in server becomes idle,
 * active or used; nothing leaves SV_CLOSED except a server being launched.
 */
static bool server_transition_legal(ServerState from, ServerState to)
{
	switch (to) {
	case SV_CONNECTING:
		return from == SV_CLOSED;
	case SV_LOGIN:
		return from == SV_CONNECTING || from == SV_LOGIN;
	case SV_CLOSED:
		return from != SV_CLOSED;
	default:
		return from != SV_CLOSED && from != SV_CONNECTING;
	}
}

void server_set_state(Server *s, ServerState st)
{
	int *counter;
	PGSPLIT_ASSERT(server_transition_legal(s->state, st));
	if (state_list(s, s->pool, s->state, &counter)) {
		PGSPLIT_ASSERT(!list_empty(&s->pool_node) && *counter > 0);
		list_del(&s->pool_node);
		(*counter)--;
		if (s->replication)
			s->pool->n_replication--;
	}
	PGSPLIT_ASSERT(list_empty(&s->pool_node));
	s->state = st;
	List *l = state_list(s, s->pool, st, &counter);
	if (!l)
		return;
	(*counter)++;
	if (s->replication)
		s->pool->n_replication++;
	if (st == SV_IDLE)
		list_prepend(l, &s->pool_node); /* LIFO: the most recently used first */
	else
		list_append(l, &s->pool_node);
}

/* ---- lifecycle ---- */

static void free_login_params(Server *s)
{
	for (int i = 0; i < s->n_login_params; i++) {
		free(s->login_params[i].name);
		free(s->login_params[i].value);
	}
	free(s->login_params);
	s->login_params = NULL;
	s->n_login_params = 0;
}

static void server_free(Conn *conn)
{
	Server *s = (Server *)conn;
	varcache_clear(&s->vars);
	scram_client_free(&s->scram);
	free_login_params(s);
	free(s->close_reason);
	free(s->host);
	free(s->addrs);
	free(s->auth_secret);
	free(s->internal_state);
	prepared_server_free(s);
	free(s);
}

/* Break the link to the client, if any, leaving the client open; returns it. */
static void server_end_check(Server *s);

static Client *server_detach_client(Server *s)
{
	Client *c = (Client *)s->conn.link;
	if (!c)
		return NULL;
	s->conn.link = NULL;
	c->conn.link = NULL;
	if (s->pool->replica)
		s->pool->replica->active_servers--;
	else
		s->pool->db->primary_active--;
	return c;
}

void server_close_with_client(Server *s, const char *reason)
{
	Client *c = server_detach_client(s);
	server_close(s, reason);
	if (c)
		client_close_error(c, SQLSTATE_PROTOCOL_VIOLATION, reason);
}

void server_close(Server *s, const char *reason)
{
	if (s->state == SV_CLOSED)
		return;
	Pool *p = s->pool;
	bool was_login = s->state == SV_CONNECTING || s->state == SV_LOGIN;
	Client *c = server_detach_client(s);
	if (c && s->replication)
		replication_client_lost(c, s, reason);
	else if (c)
		client_close_error(c, SQLSTATE_CANNOT_CONNECT, "server conn crashed?");
	if (s->dns) {
		dns_cancel(s->dns);
		s->dns = NULL;
	}
	if (s->internal_query) {
		const InternalQueryOps *q = s->internal_query;
		s->internal_query = NULL;
		if (q->on_close)
			q->on_close(s);
	}
	server_end_check(s);
	server_set_state(s, SV_CLOSED);
	p->db->server_count--;
	p->user->server_count--;
	list_del(&s->all_node);
	if (rt.cfg->log_disconnections)
		log_server(LOG_LVL_INFO, s, "%s/%s@%s:%d closing because: %s (age=%llds)",
			 p->db->name, p->user->name, s->conn.addr_text, s->conn.port, reason, conn_age_seconds(&s->conn));
	if (s->conn.fd >= 0 && !was_login && s->conn.read_armed) {
		PktBuf pb;
		pktbuf_init(&pb, 8, 0);
		pktbuf_put_terminate(&pb);
		if (send(s->conn.fd, pb.data, pb.len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_server(LOG_LVL_DEBUG, s, "terminate not sent");
		pktbuf_free(&pb);
	}
	if (s->conn.fd < 0) {
		s->conn.closing = true;
		list_init(&s->conn.sweep_node);
		server_free(&s->conn);
		return;
	}
	sbuf_close(&s->conn);
	/* a slot freed up: maybe launch for waiting clients */
	pool_maintain(p);
}

void server_lost(Server *s, const char *reason)
{
	Client *c = (Client *)s->conn.link;
	Replica *r = s->pool->replica;
	if (c && r && rerun_after_server_lost(c, r))
		server_detach_client(s); /* the client's read runs elsewhere: no error for it */
	server_close(s, reason);
}

/*
 * A replica that lost a connection may have restarted: it then reopens at its minimum
 * recovery point, behind where it had replayed. Its position is unknown until the next
 * check reads it, so no read with a floor goes there meanwhile.
 */
static void replica_forget_position(Replica *r)
{
	r->replay_lsn = 0;
	r->replay_seen_at = 0;
}

/* A replica that cannot be reached leaves rotation; retried after a growing pause. */
void server_replica_down(Replica *r, const char *why)
{
	replica_forget_position(r);
	usec_t backoff = USEC_PER_SEC << (r->down_count < 5 ? r->down_count : 5);
	if (backoff > rt.cfg->server_login_retry && rt.cfg->server_login_retry > 0)
		backoff = rt.cfg->server_login_retry;
	r->errors++;
	r->down_count++;
	r->claimed_at = 0; /* a claim to be the primary holds only while its checks answer */
	r->down_until = time_now_mono() + backoff;
	if (r->state != REPLICA_DOWN)
		log_warning("replica %s:%d is down: %s", r->host, r->port, why);
	if (r->state == REPLICA_UP || r->state == REPLICA_DOWN)
		r->state = REPLICA_DOWN;
}

/*
 * Reads in flight on a replica found unreachable that no row of has reached its client
 * yet: their servers are dropped and the reads routed again, rather than waiting for a
 * server that may never answer (frozen, cut off). Collected first: closing may change
 * the list.
 */
static void rerun_reads_on(Replica *r)
{
	int n = 0, cap = r->active_servers;
	List *it;
	if (cap <= 0)
		return;
	Server **lost = xmalloc(sizeof(*lost) * (size_t)cap);
	list_for_each(it, &rt.servers)
	{
		Server *s = container_of(it, Server, all_node);
		Client *c = (Client *)s->conn.link;
		if (s->pool->replica == r && c && n < cap && rerun_lost_possible(c))
			lost[n++] = s;
	}
	for (int i = 0; i < n; i++)
		server_lost(lost[i], "replica is unreachable");
	free(lost);
}

void server_replica_unreachable(Replica *r, const char *why)
{
	server_replica_down(r, why);
	rerun_reads_on(r);
}

/*
 * A login failed: remember why and tell the clients that wait for this pool. logged is
 * what the log says (with the server's severity when it sent an error).
 */
static void server_login_failed_as(Server *s, const char *logged, const char *message)
{
	Pool *p = s->pool;
	if (s->replication) {
		/* one client's walsender: its refusal says nothing about the pool's servers */
		log_server(LOG_LVL_WARNING, s, "%s/%s@%s:%d replication server login failed: %s", p->db->name,
			   p->user->name, s->conn.addr_text, s->conn.port, logged);
		server_close(s, message);
		return;
	}
	if (!p->replica)
		hostlist_failed(p->db, s->host);
	p->last_connect_failure = time_now_mono();
	free(p->last_connect_error);
	p->last_connect_error = xstrdup(message);
	log_server(LOG_LVL_WARNING, s, "%s/%s@%s:%d server login failed: %s", p->db->name,
		    p->user->name, s->conn.addr_text, s->conn.port, logged);
	server_close(s, message);
	if (p->replica) {
		server_replica_down(p->replica, message);
		client_route_evacuate(p);
		return;
	}
	if (p->is_monitor)
		failover_primary_lost(p->db);
	/* a database that can fail over keeps its clients waiting for the new primary */
	if (failover_may_follow(p->db))
		return;
	if (p->n_idle + p->n_active + p->n_used + p->n_login == 0) {
		pool_fail_waiters(p, message);
		authquery_fail_pool(p, message);
	}
}

void server_login_failed(Server *s, const char *message)
{
	server_login_failed_as(s, message, message);
}

static void server_on_eof(Conn *conn, const char *reason)
{
	Server *s = (Server *)conn;
	if ((s->state == SV_CONNECTING || s->state == SV_LOGIN) && strncmp(reason, "TLS", 3) == 0)
		server_login_failed(s, reason);
	else if (s->state == SV_CONNECTING || s->state == SV_LOGIN)
		server_login_failed(s, "server closed the connection during login");
	else
		server_lost(s, reason);
	if (s->pool->replica)
		replica_forget_position(s->pool->replica);
}

static void server_on_drained(Conn *conn)
{
	if (conn->link && conn->link->blocked)
		sbuf_resume(conn->link);
}

/* ---- connect ---- */

static void server_send_startup(Server *s)
{
	Pool *p = s->pool;
	PktBuf pb;
	pktbuf_init(&pb, 256, 0);
	pktbuf_begin(&pb, 0);
	pktbuf_put_u32(&pb, PG_PROTO_V3);
	pktbuf_put_cstring(&pb, "user");
	pktbuf_put_cstring(&pb, p->user->name);
	pktbuf_put_cstring(&pb, "database");
	pktbuf_put_cstring(&pb, p->db->dbname);
	if (s->replication) {
		replication_put_startup_params(s, &pb);
	} else {
		for (int i = 0; i < varcache_count(); i++) {
			const char *v = varcache_get(&p->db->startup_vars, i);
			if (v) {
				pktbuf_put_cstring(&pb, varcache_name(i));
				pktbuf_put_cstring(&pb, v);
			}
		}
	}
	pktbuf_put_u8(&pb, 0);
	pktbuf_end(&pb);
	sbuf_queue(&s->conn, pb.data, pb.len);
	pktbuf_free(&pb);
	sbuf_flush(&s->conn);
}

/* The TCP or unix connect completed (or failed): start the login. */
static void server_on_connected(evutil_socket_t fd, short what, void *arg)
{
	Server *s = arg;
	(void)what;
	int err = 0;
	socklen_t len = sizeof(err);
	event_del(&s->conn.ev_read);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		char msg[256];
		snprintf(msg, sizeof(msg), "could not connect to server: %s", strerror(err));
		close(fd);
		s->conn.fd = -1;
		if (!server_try_next_addr(s))
			server_login_failed(s, msg);
		return;
	}
	server_set_state(s, SV_LOGIN);
	if (rt.server_tls_ctx && s->conn.addr.sa.sa_family != AF_UNIX) {
		server_request_tls(s, fd);
		return;
	}
	sbuf_attach(&s->conn, fd, CONN_SERVER, &server_ops);
	sbuf_start_reading(&s->conn);
	server_send_startup(s);
}

static void server_on_tls_ready(Conn *conn)
{
	server_send_startup((Server *)conn);
}

/* The server's one-byte answer to our SSLRequest: 'S' starts TLS, 'N' goes on in plain. */
static void server_on_ssl_answer(evutil_socket_t fd, short what, void *arg)
{
	Server *s = arg;
	char answer = 0;
	(void)what;
	ssize_t n = recv(fd, &answer, 1, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		event_add(&s->conn.ev_read, NULL);
		return;
	}
	sbuf_attach(&s->conn, fd, CONN_SERVER, &server_ops);
	if (n == 1 && answer == 'S') {
		if (!sbuf_start_tls_client(&s->conn, rt.server_tls_ctx, s->host))
			server_login_failed(s, "could not start TLS to the server (server_tls_sslmode)");
		else
			sbuf_start_reading(&s->conn);
		return;
	}
	if (n != 1 || answer != 'N' || rt.cfg->server_tls_sslmode >= TLS_MODE_REQUIRE) {
		server_login_failed(s, n == 1 && answer == 'N' ? "server does not accept TLS (server_tls_sslmode)"
							       : "bad answer to SSLRequest");
		return;
	}
	sbuf_start_reading(&s->conn);
	server_send_startup(s);
}

/* server_tls_sslmode: ask for TLS before the startup packet. */
static void server_request_tls(Server *s, int fd)
{
	PktBuf pb;
	pktbuf_init(&pb, 16, 0);
	pktbuf_begin(&pb, 0);
	pktbuf_put_u32(&pb, PG_SSL_REQUEST_CODE);
	pktbuf_end(&pb);
	ssize_t n = send(fd, pb.data, pb.len, MSG_NOSIGNAL);
	pktbuf_free(&pb);
	if (n != 8) {
		server_login_failed(s, "could not send SSLRequest");
		return;
	}
	event_assign(&s->conn.ev_read, rt.base, fd, EV_READ, server_on_ssl_answer, s);
	event_add(&s->conn.ev_read, NULL);
}

static void server_connect_addr(Server *s, const struct sockaddr *addr, socklen_t addr_len)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		server_login_failed(s, "could not create socket");
		return;
	}
	if (addr->sa_family != AF_UNIX)
		tcp_socket_set_options(fd);
	memcpy(&s->target, addr, addr_len);
	s->target_len = addr_len;
	sbuf_set_addr(&s->conn, addr, addr_len);
	s->conn.fd = fd;
	if (connect(fd, addr, addr_len) < 0 && errno != EINPROGRESS) {
		char msg[256];
		snprintf(msg, sizeof(msg), "could not connect to server: %s", strerror(errno));
		close(fd);
		s->conn.fd = -1;
		if (!server_try_next_addr(s))
			server_login_failed(s, msg);
		return;
	}
	/* ev_read is free until sbuf_attach: it waits for writability once here */
	event_assign(&s->conn.ev_read, rt.base, fd, EV_WRITE, server_on_connected, s);
	event_add(&s->conn.ev_read, NULL);
}

/* Try the next resolved address; false when none is left. */
static bool server_try_next_addr(Server *s)
{
	while (s->addr_next < s->n_addrs) {
		const struct sockaddr_storage *a = &s->addrs[s->addr_next++];
		socklen_t len = a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		server_connect_addr(s, (const struct sockaddr *)a, len);
		return true;
	}
	return false;
}

static void server_on_resolved(void *arg, const struct sockaddr_storage *addrs, int n, const char *error)
{
	Server *s = arg;
	s->dns = NULL;
	if (n == 0) {
		server_login_failed(s, error ? error : "could not resolve host");
		return;
	}
	s->addrs = xmalloc(sizeof(*addrs) * (size_t)n);
	memcpy(s->addrs, addrs, sizeof(*addrs) * (size_t)n);
	s->n_addrs = n;
	s->addr_next = 0;
	server_try_next_addr(s);
}

/* A new server of the pool, counted and listed, before it connects. */
static Server *server_new(Pool *p, ReplicationKind replication)
{
	Server *s = xcalloc(1, sizeof(*s));
	s->replication = replication;
	s->conn.id = ++rt.next_conn_id;
	s->conn.fd = -1;
	s->conn.free_fn = server_free;
	s->conn.kind = CONN_SERVER;
	s->pool = p;
	s->tx_status = 'I';
	s->created = time_now_mono();
	s->conn.connect_time = time_now_wall();
	list_init(&s->pool_node);
	list_init(&s->conn.sweep_node);
	s->state = SV_CLOSED;
	server_set_state(s, SV_CONNECTING);
	list_append(&rt.servers, &s->all_node);
	p->db->server_count++;
	p->user->server_count++;
	return s;
}

/* Resolve the pool's current host (the primary's when failover moved it) and connect. */
static void server_connect(Server *s)
{
	Pool *p = s->pool;
	const char *host = p->replica || p->db->leader ? pool_host(p) : hostlist_next(p->db);
	int port = pool_port(p);
	s->host = host ? xstrdup(host) : NULL;
	snprintf(s->conn.addr_text, sizeof(s->conn.addr_text), "%s", host ? host : "unix");
	s->conn.port = port;
	if (!host || host[0] == '/') {
		struct sockaddr_un un;
		memset(&un, 0, sizeof(un));
		un.sun_family = AF_UNIX;
		snprintf(un.sun_path, sizeof(un.sun_path), "%s/.s.PGSQL.%d", host ? host : "/var/run/postgresql",
			 port);
		server_connect_addr(s, (struct sockaddr *)&un, sizeof(un));
		return;
	}
	DnsRequest *req = dns_resolve(rt.dns, host, port, server_on_resolved, s);
	if (s->state == SV_CONNECTING && s->conn.fd < 0)
		s->dns = req;
}

void server_launch(Pool *p)
{
	server_connect(server_new(p, REPLICATION_NONE));
}

void server_launch_paired(Pool *p, Client *c)
{
	Server *s = server_new(p, c->replication);
	s->conn.link = &c->conn;
	c->conn.link = &s->conn;
	p->db->primary_active++; /* as server_link counts it: server_detach_client takes it back */
	server_connect(s);
}

/* ---- login ---- */

static const char *login_password(const Server *s)
{
	const Database *db = s->pool->db;
	if (db->forced_user && db->forced_password)
		return db->forced_password;
	if (s->pool->user->secret)
		return s->pool->user->secret;
	return pool_lookup_creds(s->pool)->secret;
}

/* SCRAM keys learned from a client of this user: auth_file's, or this database's lookup. */
static bool login_scram_keys(Server *s, const uint8_t **client_key, const uint8_t **server_key)
{
	PoolUser *u = s->pool->user;
	if (u->secret) {
		*client_key = u->scram_client_key;
		*server_key = u->scram_server_key;
		return u->have_scram_keys;
	}
	LookupCreds *lc = pool_lookup_creds(s->pool);
	*client_key = lc->scram_client_key;
	*server_key = lc->scram_server_key;
	return lc->have_scram_keys;
}

static void send_password(Server *s, const char *pw)
{
	PktBuf pb;
	pktbuf_init(&pb, 64, 0);
	pktbuf_put_password_message(&pb, pw);
	sbuf_queue(&s->conn, pb.data, pb.len);
	pktbuf_free(&pb);
}

static bool login_cleartext(Server *s)
{
	const char *pw = login_password(s);
	if (!pw || auth_secret_kind(pw) != SECRET_PLAIN)
		return false;
	send_password(s, pw);
	return true;
}

static bool login_md5(Server *s, PktReader *r)
{
	const uint8_t *salt;
	const char *pw = login_password(s);
	char secret[MD5_SECRET_BUFSIZE], answer[MD5_SECRET_BUFSIZE];
	if (!pw || !proto_get_bytes(r, 4, &salt))
		return false;
	if (auth_secret_kind(pw) == SECRET_PLAIN)
		md5_password_secret(s->pool->user->name, pw, secret);
	else if (auth_secret_kind(pw) == SECRET_MD5)
		snprintf(secret, sizeof(secret), "%s", pw);
	else
		return false;
	md5_salted_response(secret, salt, answer);
	send_password(s, answer);
	return true;
}

static bool login_sasl_start(Server *s, PktReader *r)
{
	bool offered = false;
	const char *mech;
	while (proto_get_cstring(r, &mech) && *mech)
		if (strcmp(mech, "SCRAM-SHA-256") == 0)
			offered = true;
	const char *pw = login_password(s);
	const uint8_t *client_key, *server_key;
	bool ok;
	if (!offered || s->scram_started)
		return false; /* a second AuthenticationSASL in one login is a protocol violation */
	if (pw && auth_secret_kind(pw) == SECRET_PLAIN)
		ok = scram_client_start(&s->scram, pw, NULL, NULL);
	else if (login_scram_keys(s, &client_key, &server_key))
		ok = scram_client_start(&s->scram, NULL, client_key, server_key);
	else
		return false;
	s->scram_started = true;
	char *first = ok ? scram_client_first_message(&s->scram) : NULL;
	if (!first)
		return false;
	PktBuf pb;
	pktbuf_init(&pb, 128, 0);
	pktbuf_put_sasl_initial_response(&pb, "SCRAM-SHA-256", first, strlen(first));
	sbuf_queue(&s->conn, pb.data, pb.len);
	pktbuf_free(&pb);
	free(first);
	return true;
}

static bool login_sasl_continue(Server *s, PktReader *r)
{
	char err[256];
	char *final = NULL;
	size_t n = proto_remaining(r);
	const uint8_t *data;
	if (!s->scram_started || !proto_get_bytes(r, n, &data))
		return false;
	if (!scram_client_server_first(&s->scram, (const char *)data, n, &final, err, sizeof(err))) {
		log_server(LOG_LVL_WARNING, s, "SCRAM: %s", err);
		return false;
	}
	PktBuf pb;
	pktbuf_init(&pb, 256, 0);
	pktbuf_put_sasl_response(&pb, final, strlen(final));
	sbuf_queue(&s->conn, pb.data, pb.len);
	pktbuf_free(&pb);
	free(final);
	return true;
}

static bool login_sasl_final(Server *s, PktReader *r)
{
	char err[256];
	size_t n = proto_remaining(r);
	const uint8_t *data;
	if (!s->scram_started || !proto_get_bytes(r, n, &data))
		return false;
	if (!scram_client_server_final(&s->scram, (const char *)data, n, err, sizeof(err))) {
		log_server(LOG_LVL_WARNING, s, "SCRAM: %s", err);
		return false;
	}
	return true;
}

static void server_handle_auth(Server *s, const SbufMsg *msg)
{
	PktReader r;
	uint32_t code;
	bool ok = true;
	proto_reader_init(&r, msg->data + 5, msg->len - 5);
	if (!proto_get_u32(&r, &code)) {
		server_login_failed(s, "bad authentication message from server");
		return;
	}
	switch (code) {
	case PG_AUTH_OK:
		break;
	case PG_AUTH_CLEARTEXT:
		ok = login_cleartext(s);
		break;
	case PG_AUTH_MD5:
		ok = login_md5(s, &r);
		break;
	case PG_AUTH_SASL:
		ok = login_sasl_start(s, &r);
		break;
	case PG_AUTH_SASL_CONTINUE:
		ok = login_sasl_continue(s, &r);
		break;
	case PG_AUTH_SASL_FINAL:
		ok = login_sasl_final(s, &r);
		break;
	default:
		ok = false;
	}
	if (!ok) {
		server_login_failed(s, "server login failed: wrong password type or no password available");
		return;
	}
	sbuf_flush(&s->conn);
}

static void remember_param(Server *s, const char *name, const char *value)
{
	int idx = varcache_lookup(name);
	if (idx >= 0)
		varcache_set(&s->vars, idx, value);
	if (s->state != SV_LOGIN)
		return;
	for (int i = 0; i < s->n_login_params; i++) {
		if (strcmp(s->login_params[i].name, name) == 0) {
			free(s->login_params[i].value);
			s->login_params[i].value = xstrdup(value);
			return;
		}
	}
	s->login_params = xrealloc(s->login_params, sizeof(WelcomeParam) * (size_t)(s->n_login_params + 1));
	s->login_params[s->n_login_params].name = xstrdup(name);
	s->login_params[s->n_login_params].value = xstrdup(value);
	s->n_login_params++;
}

/* ParameterStatus: returns false if malformed. */
bool server_parameter_status(Server *s, const SbufMsg *msg)
{
	PktReader r;
	const char *name, *value;
	proto_reader_init(&r, msg->data + 5, msg->len - 5);
	if (!proto_get_cstring(&r, &name) || !proto_get_cstring(&r, &value))
		return false;
	remember_param(s, name, value);
	Client *c = (Client *)s->conn.link;
	int idx = varcache_lookup(name);
	if (c && idx >= 0 && s->internal_rfq == 0)
		varcache_set(&c->vars, idx, value);
	return true;
}

static void error_text(const SbufMsg *msg, char *buf, size_t len)
{
	const char *m = proto_error_field(msg->data + 5, msg->len - 5, 'M');
	snprintf(buf, len, "%s", m ? m : "server error");
}

static const char *login_param(const Server *s, const char *name)
{
	for (int i = 0; i < s->n_login_params; i++)
		if (strcmp(s->login_params[i].name, name) == 0)
			return s->login_params[i].value;
	return NULL;
}

/*
 * The primary pools' server against target_session_attrs (PostgreSQL 14+ reports
 * in_hot_standby at login): primary and read-write refuse a standby; standby,
 * read-only and prefer-standby, for a database without replicas, want the host to be
 * one (with replicas they route to those instead). The texts are libpq's.
 */
static bool primary_role_ok(Server *s, const char *hot)
{
	TargetSessionAttrs tsa = s->pool->db->session_attrs;
	bool standby = hot && strcmp(hot, "on") == 0;
	bool wants_primary = tsa == TSA_PRIMARY || tsa == TSA_READ_WRITE;
	bool wants_standby = (tsa == TSA_STANDBY || tsa == TSA_READ_ONLY) && s->pool->db->n_replicas == 0;
	if (!hot || s->pool->is_monitor || (!wants_primary && !wants_standby)) {
		if (standby)
			log_server(LOG_LVL_WARNING, s, "the primary of %s is in hot standby: writes will fail",
				   s->pool->db->name);
		return true;
	}
	if (wants_primary && standby) {
		server_login_failed(s, "server is in hot standby mode");
		return false;
	}
	if (wants_standby && !standby) {
		server_login_failed(s, "server is not in hot standby mode");
		return false;
	}
	return true;
}

/*
 * PostgreSQL 14+ reports in_hot_standby at login: a replica pool must never hold a
 * primary (a promoted standby), and a replica that answers is back in rotation.
 */
static bool server_role_ok(Server *s)
{
	Replica *r = s->pool->replica;
	const char *hot = login_param(s, "in_hot_standby");
	if (!r)
		return primary_role_ok(s, hot);
	if (hot && strcmp(hot, "off") == 0 && !s->pool->is_monitor) {
		/* the monitor's own connection stays: its check tells a failover from a split brain */
		if (r->state != REPLICA_PROMOTED)
			log_error("replica %s:%d is no longer in recovery (promoted?): taking it out of rotation",
				  r->host, r->port);
		r->state = REPLICA_PROMOTED;
		server_close(s, "replica is not in recovery");
		client_route_evacuate(s->pool);
		return false;
	}
	if (r->state == REPLICA_DOWN && !(hot && strcmp(hot, "off") == 0)) {
		log_info("replica %s:%d is up again", r->host, r->port);
		r->state = REPLICA_UP;
	}
	r->down_count = 0;
	return true;
}

static void server_login_complete(Server *s)
{
	Pool *p = s->pool;
	if (s->replication) {
		replication_server_ready(s);
		free_login_params(s);
		return;
	}
	if (!server_role_ok(s))
		return;
	pool_set_welcome(p, s->login_params, s->n_login_params);
	free_login_params(s);
	p->last_connect_failure = 0;
	if (rt.cfg->log_connections) {
		char from[64];
		int from_port;
		conn_local_addr(&s->conn, from, sizeof(from), &from_port);
		log_server(LOG_LVL_INFO, s, "%s/%s@%s:%d new connection to server (from %s:%d)",
			 p->db->name, p->user->name, s->conn.addr_text, s->conn.port, from, from_port);
	}
	List *it, *tmp;
	list_for_each_safe(it, tmp, &p->waiting_clients)
	{
		Client *c = container_of(it, Client, pool_node);
		if (c->state == CL_WELCOME)
			client_finish_welcome(c);
	}
	if (p->db->connect_query) {
		PktBuf pb;
		pktbuf_init(&pb, 128, 0);
		pktbuf_put_query(&pb, p->db->connect_query);
		sbuf_queue(&s->conn, pb.data, pb.len);
		pktbuf_free(&pb);
		s->internal_rfq++;
		server_set_state(s, SV_USED);
		sbuf_flush(&s->conn);
		return;
	}
	server_become_ready(s);
}

static SbufVerdict server_login_message(Server *s, const SbufMsg *msg)
{
	if (msg->len > PROTO_INSPECT_MAX) {
		server_login_failed(s, "oversized message from server during login");
		return SB_STOP;
	}
	if (msg->avail < msg->len)
		return SB_NEED_FULL;
	PktReader r;
	char text[512];
	switch (msg->type) {
	case PG_MSG_AUTH:
		server_handle_auth(s, msg);
		break;
	case PG_MSG_PARAMETER_STATUS:
		server_parameter_status(s, msg);
		break;
	case PG_MSG_BACKEND_KEY_DATA:
		proto_reader_init(&r, msg->data + 5, msg->len - 5);
		if (!proto_get_u32(&r, &s->backend_pid) || !proto_get_u32(&r, &s->backend_key))
			log_server(LOG_LVL_WARNING, s, "bad BackendKeyData");
		break;
	case PG_MSG_ERROR_RESPONSE: {
		char logged[600];
		const char *sev = proto_error_field(msg->data + 5, msg->len - 5, 'S');
		if (s->replication)
			replication_relay_login_error(s, msg);
		error_text(msg, text, sizeof(text));
		snprintf(logged, sizeof(logged), "%s %s", sev ? sev : "ERROR", text);
		server_login_failed_as(s, logged, text);
		return SB_STOP;
	}
	case PG_MSG_READY_FOR_QUERY:
		server_login_complete(s);
		break;
	default:
		break; /* NoticeResponse, NegotiateProtocolVersion */
	}
	return s->conn.closing ? SB_STOP : SB_CONSUMED;
}

/* ---- work ---- */

void server_link(Server *s, Client *c)
{
	s->conn.link = &c->conn;
	c->conn.link = &s->conn;
	if (s->pool->replica)
		s->pool->replica->active_servers++;
	else
		s->pool->db->primary_active++;
	server_set_state(s, SV_ACTIVE);
	/* per link, not per message: a reload must not switch tracking on mid-transaction */
	c->tracking = prepared_enabled(c);
	char sql[8192];
	int n = varcache_sync_sql(&c->vars, &s->vars, sql, sizeof(sql));
	if (n > 0) {
		PktBuf pb;
		pktbuf_init(&pb, (size_t)n + 16, 0);
		pktbuf_put_query(&pb, sql);
		sbuf_queue(&s->conn, pb.data, pb.len);
		pktbuf_free(&pb);
		s->internal_rfq++;
	}
	c->idle_since = 0;
}

/* End of transaction or session: statistics, then reset, idle or close. */
void server_unlink(Server *s, bool client_gone)
{
	Client *c = (Client *)s->conn.link;
	Pool *p = s->pool;
	usec_t now = time_now_loop();
	if (s->replication) {
		/* never reused: the client's walsender ends with it */
		server_detach_client(s);
		server_close(s, client_gone ? "replication client disconnected" : "replication pair ended");
		return;
	}
	if (c) {
		if (c->xact_start)
			p->stats.total.xact_time += (uint64_t)(now - c->xact_start);
		c->xact_start = 0;
		c->conn.link = NULL;
		c->idle_since = now;
	}
	s->conn.link = NULL;
	s->last_used = now;
	if (p->replica)
		p->replica->active_servers--;
	else
		p->db->primary_active--;
	if (client_gone && (s->tx_status != 'I' || s->pending_rfq > 0 || s->internal_rfq > 0 || s->unsynced))
		s->dirty = true;
	if (prepared_replies_pending(s))
		s->dirty = true; /* replies still owed to a client that moved on */
	if (s->dirty || p->db->removed) {
		server_close(s, client_gone ? "client disconnected while server was not idle" : "server is dirty");
		return;
	}
	bool reset = (pool_mode_of(p) == POOL_MODE_SESSION || rt.cfg->server_reset_query_always) &&
		     rt.cfg->server_reset_query && *rt.cfg->server_reset_query;
	if (reset) {
		if (rt.cfg->server_reset_forgets_statements)
			prepared_server_forget_all(s);
		PktBuf pb;
		pktbuf_init(&pb, 64, 0);
		pktbuf_put_query(&pb, rt.cfg->server_reset_query);
		sbuf_queue(&s->conn, pb.data, pb.len);
		pktbuf_free(&pb);
		s->internal_rfq++;
		server_set_state(s, SV_USED);
		sbuf_flush(&s->conn);
		return;
	}
	server_become_ready(s);
}

/* The server is clean and may serve the next client (or wait idle). */
static void server_become_ready(Server *s)
{
	Pool *p = s->pool;
	usec_t lifetime = p->db->server_lifetime;
	/* 0 means use once: closed after its first client, as PgBouncer documents */
	if ((lifetime > 0 && time_now_loop() - s->created > lifetime) || (lifetime == 0 && s->last_used)) {
		server_close(s, "server lifetime over");
		return;
	}
	if (p->db->removed) {
		server_close(s, "database removed");
		return;
	}
	pool_on_server_idle(p, s);
}

bool server_check_due(const Server *s, usec_t now)
{
	usec_t last = s->last_used > s->created ? s->last_used : s->created;
	if (s->last_checked > last)
		last = s->last_checked;
	return *rt.cfg->server_check_query && (rt.cfg->server_check_delay == 0 || now - last > rt.cfg->server_check_delay);
}

void server_start_check(Server *s)
{
	/* "<empty>" means an empty query string: the cheapest round trip */
	const char *q = rt.cfg->server_check_sends_empty ? "" : rt.cfg->server_check_query;
	server_start_internal_sql(s, q, NULL);
	s->checking = true;
	s->pool->n_checking++;
}

/* The check answered, or the server is closing. */
static void server_end_check(Server *s)
{
	if (!s->checking)
		return;
	s->checking = false;
	s->pool->n_checking--;
}

void server_start_internal_query(Server *s, const PktBuf *pb, const InternalQueryOps *ops)
{
	sbuf_queue(&s->conn, pb->data, pb->len);
	s->internal_rfq++;
	s->internal_query = ops;
	s->last_checked = time_now_mono();
	server_set_state(s, SV_USED);
	sbuf_flush(&s->conn);
}

void server_start_internal_sql(Server *s, const char *sql, const InternalQueryOps *ops)
{
	PktBuf pb;
	pktbuf_init(&pb, 256, 0);
	pktbuf_put_query(&pb, sql);
	server_start_internal_query(s, &pb, ops);
	pktbuf_free(&pb);
}

/* The end of an internal query: report failures, then the server is ready again. */
static SbufVerdict server_internal_done(Server *s)
{
	bool failed = s->internal_failed;
	const InternalQueryOps *q = s->internal_query;
	s->internal_failed = false;
	server_end_check(s);
	if (q) {
		s->internal_query = NULL;
		q->on_done(s, failed);
		if (s->conn.closing)
			return SB_STOP;
		if (q->failure_is_harmless)
			failed = false;
	}
	if (failed) {
		if (s->conn.link)
			client_close_error((Client *)s->conn.link, SQLSTATE_PROTOCOL_VIOLATION,
					   "server rejected a session parameter of this client");
		server_close(s, "pooler query failed");
		return SB_STOP;
	}
	if (s->state == SV_USED) {
		server_become_ready(s);
		return s->conn.closing ? SB_STOP : SB_CONSUMED;
	}
	return SB_CONSUMED;
}

/* Replies to the pooler's own queries (parameter sync, reset, check, connect_query). */
static SbufVerdict server_internal_reply(Server *s, const SbufMsg *msg)
{
	switch (msg->type) {
	case PG_MSG_DATA_ROW:
		if (!s->internal_query)
			return SB_SKIP;
		if (msg->avail < msg->len)
			return msg->len <= PROTO_INSPECT_MAX ? SB_NEED_FULL : SB_SKIP;
		s->internal_query->on_row(s, msg->data + 5, msg->len - 5);
		return SB_CONSUMED;
	case PG_MSG_ERROR_RESPONSE: {
		if (msg->avail < msg->len)
			return msg->len <= PROTO_INSPECT_MAX ? SB_NEED_FULL : SB_SKIP;
		char text[512];
		error_text(msg, text, sizeof(text));
		log_server(LOG_LVL_WARNING, s, "pooler query failed: %s", text);
		s->internal_failed = true;
		return SB_CONSUMED;
	}
	case PG_MSG_PARAMETER_STATUS:
		if (msg->avail < msg->len)
			return msg->len <= PROTO_INSPECT_MAX ? SB_NEED_FULL : SB_SKIP;
		server_parameter_status(s, msg);
		return SB_CONSUMED;
	case PG_MSG_READY_FOR_QUERY:
		if (msg->avail < msg->len)
			return SB_NEED_FULL;
		s->internal_rfq--;
		s->tx_status = (char)msg->data[5];
		if (s->internal_rfq > 0)
			return SB_CONSUMED;
		return server_internal_done(s);
	default:
		return SB_SKIP;
	}
}

/* ReadyForQuery to a linked client: forward, then maybe end the transaction. */
static SbufVerdict server_ready_for_query(Server *s, Client *c, const SbufMsg *msg)
{
	Pool *p = s->pool;
	char status = (char)msg->data[5];
	usec_t now = time_now_loop();
	if (c->route.token_write_at)
		causal_send_token_if_known(c);
	sbuf_queue(&c->conn, msg->data, msg->len);
	p->stats.total.bytes_sent += msg->len;
	s->tx_status = status;
	if (s->pending_rfq > 0)
		s->pending_rfq--;
	p->stats.total.query_count++;
	if (c->query_start) {
		p->stats.total.query_time += (uint64_t)(now - c->query_start);
		c->query_start = 0;
	}
	c->in_transaction = status != 'I';
	prepared_flush_due(s, c);
	bool resume = c->route.await_linked_rfq && s->pending_rfq == 0;
	if (resume)
		c->route.await_linked_rfq = false; /* its next batch may be routed now */
	if (status != 'I' || s->pending_rfq > 0 || s->unsynced || prepared_replies_pending(s)) {
		if (resume)
			sbuf_resume(&c->conn);
		return s->conn.closing ? SB_STOP : SB_CONSUMED;
	}
	p->stats.total.xact_count++;
	if (c->route.xact_is_write)
		causal_note_write_end(s, c, time_now_mono()); /* exact: its floor needs a check sent later */
	PoolMode mode = pool_mode_of(p);
	if (mode == POOL_MODE_SESSION) {
		if (c->xact_start) {
			p->stats.total.xact_time += (uint64_t)(now - c->xact_start);
			c->xact_start = 0;
		}
		return SB_CONSUMED;
	}
	sbuf_flush(&c->conn);
	if (c->conn.closing)
		return SB_STOP;
	server_unlink(s, false);
	/* the client may have the next transaction buffered already */
	if (resume)
		sbuf_resume(&c->conn);
	else
		sbuf_kick(&c->conn);
	return s->conn.closing ? SB_STOP : SB_CONSUMED;
}

static SbufVerdict server_statement_mode_check(Server *s, Client *c, const SbufMsg *msg)
{
	if (pool_mode_of(s->pool) == POOL_MODE_STATEMENT && msg->data[5] != 'I') {
		s->dirty = true;
		client_close_error(c, SQLSTATE_FEATURE_NOT_SUPPORTED,
				   "transaction blocks not allowed in statement pooling mode");
		return SB_STOP;
	}
	return server_ready_for_query(s, c, msg);
}

static SbufVerdict server_idle_message(Server *s, const SbufMsg *msg)
{
	char text[512];
	switch (msg->type) {
	case PG_MSG_NOTICE_RESPONSE:
	case PG_MSG_NOTIFICATION:
		return SB_SKIP;
	case PG_MSG_PARAMETER_STATUS:
		if (msg->avail < msg->len)
			return SB_NEED_FULL;
		server_parameter_status(s, msg);
		return SB_CONSUMED;
	case PG_MSG_ERROR_RESPONSE:
		if (msg->avail < msg->len && msg->len <= PROTO_INSPECT_MAX)
			return SB_NEED_FULL;
		error_text(msg, text, sizeof(text));
		server_close(s, text);
		return SB_STOP;
	default:
		server_close(s, "unexpected message from idle server");
		return SB_STOP;
	}
}

/*
 * How a server's reply reaches the linked client: counted, then held back while a 25006
 * re-run is still possible, else passed on. server_forward leaves the bytes in the
 * server's buffer for sbuf to relay (zero copy); server_deliver copies them (a reply the
 * pooler made, or one it had to look at whole).
 */
static SbufVerdict server_forward(Server *s, Client *c, const SbufMsg *msg)
{
	s->pool->stats.total.bytes_sent += msg->len;
	if (c->route.retry && s->pool->replica && msg->avail == msg->len && rerun_hold(c, msg->data, msg->len))
		return SB_CONSUMED;
	return SB_FORWARD;
}

void server_deliver(Server *s, Client *c, const uint8_t *data, size_t len)
{
	s->pool->stats.total.bytes_sent += len;
	if (!c->route.retry || !s->pool->replica || !rerun_hold(c, data, len))
		sbuf_queue(&c->conn, data, len);
}

static SbufVerdict server_on_message(Conn *conn, const SbufMsg *msg)
{
	Server *s = (Server *)conn;
	if (s->state == SV_LOGIN)
		return server_login_message(s, msg);
	if (s->replication)
		return replication_server_message(s, msg);
	if (s->internal_rfq > 0)
		return server_internal_reply(s, msg);
	Client *c = (Client *)conn->link;
	if (!c)
		return server_idle_message(s, msg);
	SbufVerdict v;
	if (c->route.retry && s->pool->replica && rerun_filter_reply(s, c, msg, &v))
		return v;
	if (s->replies && prepared_server_message(s, c, msg, &v))
		return v;
	switch (msg->type) {
	case PG_MSG_READY_FOR_QUERY:
		if (msg->avail < msg->len)
			return SB_NEED_FULL;
		return server_statement_mode_check(s, c, msg);
	case PG_MSG_PARAMETER_STATUS:
		if (msg->avail < msg->len && msg->len <= PROTO_INSPECT_MAX)
			return SB_NEED_FULL;
		if (msg->avail == msg->len)
			server_parameter_status(s, msg);
		break;
	default:
		break;
	}
	return server_forward(s, c, msg);
}

void server_send_cancel(Server *s)
{
	cancel_send(&s->target, s->target_len, s->backend_pid, s->backend_key, NULL);
}
