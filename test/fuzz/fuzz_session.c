/*
 * libFuzzer target for the client and server state machines. The whole pooler (every
 * source file of src/ but main.c) runs in this process on one libevent base, set up once
 * from a configuration written to a private directory: auth_type = hba; srv
 * (transaction pooling) and sess (session pooling), whose server is a Unix socket this
 * target listens on; refused, whose server refuses connections; rw, routed to two
 * replicas (this target's socket and one that refuses); the admin console for a stats
 * user. The listener is not started: each input gets a socketpair whose one end is
 * handed to client_accept() as a TCP client from 127.0.0.1, as listener.c hands over an
 * accepted socket. This file defines the Runtime that main.c owns in the daemon.
 *
 * Input: byte 0 % 7 picks the client (0: nobody, the script sends its own startup
 * packet; 1 fuzz@srv; 2 fuzz@sess; 3 stats@pgbouncer; 4 fuzz@refused; 5 md5user@srv;
 * 6 fuzz@rw); for 1-6 a StartupMessage is written first. Then a script of operations,
 * op = byte % 8:
 *   0, 6  client bytes: next byte is a length, then that many bytes to the client socket
 *   1, 7  server bytes: the same, to the newest server connection the pooler opened to
 *         us (accepted when needed; dropped when the pooler opened none)
 *   2     run the event loop (op >> 3) % 16 + 1 turns
 *   3     maint_run(): timeouts, pool upkeep, the console's waiting commands; with
 *         bit 3 set, as if every timeout had passed
 *   4     the client half-closes (EOF after what it sent)
 *   5     the newest server connection dies
 * After each operation the loop runs two turns. What the pooler sends is read and
 * discarded. At the end both peers close and the loop runs until the pooler is idle,
 * with time jumps so that clients parked waiting for a server give up. Replaying one
 * input with FUZZ_SESSION_LOG=1 in the environment shows the pooler's log on stderr.
 *
 * Invariants beyond memory safety, checked after every operation: every pool's counters
 * equal the lengths of its state lists; each database's and user's client and server
 * counts equal the clients and servers that point at them; rt.client_count equals the
 * client list; a linked client and server point at each other. At the end: no client,
 * server or console client is left, every count is back to zero, and once the registry
 * is emptied no interned parameter value is left over (a lost reference would be a leak
 * that LeakSanitizer cannot see, the intern table being global). Each input starts from
 * an empty registry, so one input cannot change the next one's pools.
 */
#include "fuzz_common.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin.h"
#include "authfile.h"
#include "classify.h"
#include "client.h"
#include "config.h"
#include "dns.h"
#include "maint.h"
#include "pg_wire.h"
#include "registry.h"
#include "reload.h"
#include "runtime.h"
#include "sbuf.h"
#include "server.h"
#include "varcache.h"
#include "intern.h"

#define FUZZ_SESSION_PORT 5999
#define FUZZ_SESSION_MAX_SERVERS 16
#define FUZZ_SESSION_DRAIN_TURNS 400

static char fuzz_session_dir[200];
static int fuzz_session_listen_fd = -1;
static int fuzz_session_baseline_interned;

static const char *const fuzz_session_files[] = { "pgsplit.ini", "hba.conf", "userlist.txt",
						  ".s.PGSQL.5999" };

/* One input's world: the client's peer end and the server connections we accepted. */
typedef struct FuzzSession {
	int client_fd;
	int servers[FUZZ_SESSION_MAX_SERVERS];
	int n_servers;
} FuzzSession;

/* ---- setup, once ---- */

static void fuzz_session_cleanup(void)
{
	char path[400];
	if (fuzz_session_listen_fd >= 0)
		close(fuzz_session_listen_fd);
	for (size_t i = 0; i < ARRAY_SIZE(fuzz_session_files); i++) {
		snprintf(path, sizeof(path), "%s/%s", fuzz_session_dir, fuzz_session_files[i]);
		unlink(path);
	}
	rmdir(fuzz_session_dir);
}

static void fuzz_session_write(const char *name, const char *text)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/%s", fuzz_session_dir, name);
	if (!fuzz_write_file(path, (const uint8_t *)text, strlen(text))) {
		perror(path);
		abort();
	}
}

/* The Unix socket the srv and sess databases connect to, as a PostgreSQL server's. */
static void fuzz_session_listen(void)
{
	struct sockaddr_un un;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	int n = snprintf(un.sun_path, sizeof(un.sun_path), "%s/.s.PGSQL.%d", fuzz_session_dir,
			 FUZZ_SESSION_PORT);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(un.sun_path));
	fuzz_session_listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(fuzz_session_listen_fd >= 0);
	FUZZ_CHECK(bind(fuzz_session_listen_fd, (struct sockaddr *)&un, sizeof(un)) == 0);
	FUZZ_CHECK(listen(fuzz_session_listen_fd, 64) == 0);
}

static void fuzz_session_config(void)
{
	char ini[2048];
	fuzz_session_write("hba.conf", "host all md5user all md5\n"
				       "host all nobody all reject\n"
				       "host all all 127.0.0.1/32 trust\n");
	fuzz_session_write("userlist.txt", "\"md5user\" \"md5d2c3f8c1c1f0c0e4b3f1c1a9d2b5e7f6\"\n"
					   "\"fuzz\" \"fuzzpass\"\n");
	snprintf(ini, sizeof(ini),
		 "[databases]\n"
		 "srv = host=%s port=%d dbname=app pool_size=2\n"
		 "sess = host=%s port=%d dbname=app pool_mode=session\n"
		 "refused = host=127.0.0.1 port=1\n"
		 "rw = host=%s port=%d dbname=app replicas=%s:%d,127.0.0.1:1\n"
		 "[pgbouncer]\n"
		 "pool_mode = transaction\n"
		 "auth_type = hba\n"
		 "auth_hba_file = %s/hba.conf\n"
		 "auth_file = %s/userlist.txt\n"
		 "stats_users = stats\n"
		 "max_prepared_statements = 10\n"
		 "log_connections = 1\n"
		 "log_disconnections = 1\n"
		 "log_pooler_errors = 1\n",
		 fuzz_session_dir, FUZZ_SESSION_PORT, fuzz_session_dir, FUZZ_SESSION_PORT,
		 fuzz_session_dir, FUZZ_SESSION_PORT, fuzz_session_dir, FUZZ_SESSION_PORT,
		 fuzz_session_dir, fuzz_session_dir);
	fuzz_session_write("pgsplit.ini", ini);
}

/* What main.c's run() does before listening, minus TLS, listeners, timers and signals. */
static void fuzz_session_runtime(void)
{
	char path[400], err[1024];
	snprintf(path, sizeof(path), "%s/pgsplit.ini", fuzz_session_dir);
	rt.cfg = config_load(path, err, sizeof(err));
	if (!rt.cfg) {
		fprintf(stderr, "fuzz_session: %s\n", err);
		abort();
	}
	rt.authfile = authfile_load(rt.cfg->auth_file, err, sizeof(err));
	FUZZ_CHECK(rt.authfile != NULL);
	rt.base = event_base_new();
	FUZZ_CHECK(rt.base != NULL);
	rt.start_time = time_now_wall();
	DnsOptions dns_opts = { .max_ttl = rt.cfg->dns_max_ttl, .nxdomain_ttl = rt.cfg->dns_nxdomain_ttl };
	rt.dns = dns_create_opts(rt.base, &dns_opts);
	FUZZ_CHECK(rt.dns != NULL);
	sbuf_global_init(rt.base, (size_t)rt.cfg->pkt_buf * 4, 1 << 20);
	varcache_configure(rt.cfg->track_extra_parameters);
	rt.classify_cfg = classify_config_new(rt.cfg->write_functions);
	FUZZ_CHECK(rt.classify_cfg != NULL);
	registry_apply_config();
	FUZZ_CHECK(reload_hba(rt.cfg, err, sizeof(err)));
	/* every input starts from an empty registry: databases come back on first use */
	registry_free_all();
	fuzz_session_baseline_interned = intern_count_now();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	(void)argc;
	(void)argv;
	fuzz_quiet_logging();
	if (getenv("FUZZ_SESSION_LOG")) /* replaying one input: see what the pooler did */
		log_configure(NULL, &(SyslogSettings){ 0 }, false, LOG_LVL_NOISE);
	signal(SIGPIPE, SIG_IGN);
	snprintf(fuzz_session_dir, sizeof(fuzz_session_dir), "%s/fuzz-session-%d",
		 tmp && *tmp && strlen(tmp) < 60 ? tmp : "/tmp", (int)getpid());
	if (mkdir(fuzz_session_dir, 0700) != 0) {
		perror(fuzz_session_dir);
		abort();
	}
	atexit(fuzz_session_cleanup);
	fuzz_session_listen();
	fuzz_session_config();
	fuzz_session_runtime();
	return 0;
}

/* ---- invariants ---- */

static int fuzz_list_len(List *l)
{
	int n = 0;
	List *it;
	list_for_each(it, l) n++;
	return n;
}

static void fuzz_session_check_pool(Pool *p)
{
	FUZZ_CHECK(fuzz_list_len(&p->waiting_clients) == p->n_waiting);
	FUZZ_CHECK(fuzz_list_len(&p->active_clients) == p->n_active_clients);
	FUZZ_CHECK(fuzz_list_len(&p->login_servers) == p->n_login);
	FUZZ_CHECK(fuzz_list_len(&p->idle_servers) == p->n_idle);
	FUZZ_CHECK(fuzz_list_len(&p->active_servers) == p->n_active);
	FUZZ_CHECK(fuzz_list_len(&p->used_servers) == p->n_used);
	FUZZ_CHECK(p->n_waiting >= 0 && p->n_active_clients >= 0 && p->n_login >= 0 &&
		   p->n_idle >= 0 && p->n_active >= 0 && p->n_used >= 0);
}

static void fuzz_session_check_database(Database *db)
{
	int clients = 0, servers = 0;
	List *it;
	list_for_each(it, &rt.clients)
	{
		Client *c = container_of(it, Client, all_node);
		clients += c->pool && c->pool->db == db;
	}
	list_for_each(it, &rt.servers)
	{
		Server *s = container_of(it, Server, all_node);
		servers += s->pool->db == db;
	}
	FUZZ_CHECK(db->client_count == clients);
	FUZZ_CHECK(db->server_count == servers);
}

static void fuzz_session_check_user(PoolUser *u)
{
	int clients = 0, servers = 0;
	List *it;
	list_for_each(it, &rt.clients)
	{
		Client *c = container_of(it, Client, all_node);
		clients += c->pool && c->user == u;
	}
	list_for_each(it, &rt.servers)
	{
		Server *s = container_of(it, Server, all_node);
		servers += s->pool->user == u;
	}
	FUZZ_CHECK(u->client_count == clients);
	FUZZ_CHECK(u->server_count == servers);
}

static void fuzz_session_check_links(void)
{
	List *it;
	list_for_each(it, &rt.clients)
	{
		Client *c = container_of(it, Client, all_node);
		FUZZ_CHECK(c->state != CL_CLOSED && !c->conn.closing);
		if (c->conn.link) {
			Server *s = (Server *)c->conn.link;
			FUZZ_CHECK(s->conn.link == &c->conn && s->state == SV_ACTIVE);
		}
	}
	list_for_each(it, &rt.servers)
	{
		Server *s = container_of(it, Server, all_node);
		FUZZ_CHECK(s->state != SV_CLOSED);
		if (s->conn.link)
			FUZZ_CHECK(s->conn.link->link == &s->conn);
	}
}

static void fuzz_session_check(void)
{
	List *it;
	FUZZ_CHECK(fuzz_list_len(&rt.clients) == rt.client_count);
	list_for_each(it, &rt.pools) fuzz_session_check_pool(container_of(it, Pool, node));
	list_for_each(it, &rt.databases)
		fuzz_session_check_database(container_of(it, Database, node));
	list_for_each(it, &rt.users) fuzz_session_check_user(container_of(it, PoolUser, node));
	fuzz_session_check_links();
}

/* ---- driving the loop and the peers ---- */

/* Read and drop what the pooler sent to fd (nothing waits for replies). */
static void fuzz_session_drain(int fd)
{
	uint8_t buf[4096];
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void fuzz_session_accept(FuzzSession *fs)
{
	for (;;) {
		int fd = accept4(fuzz_session_listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (fs->n_servers == FUZZ_SESSION_MAX_SERVERS) {
			close(fd); /* more than a pool would open: the pooler sees a dead server */
			continue;
		}
		fs->servers[fs->n_servers++] = fd;
	}
}

static void fuzz_session_turns(FuzzSession *fs, int turns)
{
	for (int i = 0; i < turns; i++) {
		event_base_loop(rt.base, EVLOOP_NONBLOCK);
		fuzz_session_accept(fs);
		if (fs->client_fd >= 0)
			fuzz_session_drain(fs->client_fd);
		for (int k = 0; k < fs->n_servers; k++)
			fuzz_session_drain(fs->servers[k]);
	}
}

/* A full or closed socket means the pooler stopped reading, which is allowed. */
static void fuzz_session_send(int fd, const uint8_t *data, size_t len)
{
	if (fd >= 0 && len > 0)
		(void)send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static int fuzz_session_server(FuzzSession *fs)
{
	for (int i = 0; i < 8 && fs->n_servers == 0; i++)
		fuzz_session_turns(fs, 1);
	return fs->n_servers ? fs->servers[fs->n_servers - 1] : -1;
}

static void fuzz_session_kill_server(FuzzSession *fs)
{
	if (fs->n_servers == 0)
		return;
	close(fs->servers[--fs->n_servers]);
}

/*
 * maint_run() as if every timeout had passed: each one is set to 1 usec for the call
 * (a timeout that is off is switched on), so the timeout paths run without waiting.
 */
static void fuzz_session_time_jump(void)
{
	Config *cfg = rt.cfg;
	usec_t *const t[] = { &cfg->server_idle_timeout,      &cfg->server_connect_timeout,
			      &cfg->client_login_timeout,     &cfg->query_timeout,
			      &cfg->query_wait_timeout,	      &cfg->client_idle_timeout,
			      &cfg->idle_transaction_timeout, &cfg->transaction_timeout };
	usec_t saved[ARRAY_SIZE(t)];
	List *it, *w;
	/* reads parked for a replica to catch up hold a deadline, not a timeout: pass it */
	list_for_each(it, &rt.databases)
	{
		Database *db = container_of(it, Database, node);
		list_for_each(w, &db->causal_waiters) container_of(w, Client, park_node)->route.causal_deadline = 1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		saved[i] = *t[i];
		*t[i] = 1;
	}
	maint_run();
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		*t[i] = saved[i];
}

/* ---- the client's identity ---- */

static void fuzz_session_startup(FuzzSession *fs, unsigned who)
{
	static const char *const users[] = { "fuzz", "fuzz", "stats", "fuzz", "md5user", "fuzz" };
	static const char *const dbs[] = { "srv", "sess", "pgbouncer", "refused", "srv", "rw" };
	uint8_t pkt[256];
	size_t n = 8;
	if (who == 0 || who > ARRAY_SIZE(users))
		return;
	n += (size_t)sprintf((char *)pkt + n, "user%c%s%cdatabase%c%s%c%c", 0, users[who - 1], 0, 0,
			     dbs[who - 1], 0, 0);
	pkt[0] = (uint8_t)(n >> 24);
	pkt[1] = (uint8_t)(n >> 16);
	pkt[2] = (uint8_t)(n >> 8);
	pkt[3] = (uint8_t)n;
	pkt[4] = 0;
	pkt[5] = 3;
	pkt[6] = pkt[7] = 0;
	fuzz_session_send(fs->client_fd, pkt, n);
}

/* ---- one input ---- */

/* Runs op at data[*pos]; advances *pos past it and its payload. */
static void fuzz_session_op(FuzzSession *fs, const uint8_t *data, size_t size, size_t *pos)
{
	uint8_t op = data[(*pos)++];
	size_t len = 0;
	switch (op % 8) {
	case 0:
	case 6:
	case 1:
	case 7:
		len = *pos < size ? data[(*pos)++] : 0;
		len = len < size - *pos ? len : size - *pos;
		if (op % 2 == 0)
			fuzz_session_send(fs->client_fd, data + *pos, len);
		else
			fuzz_session_send(fuzz_session_server(fs), data + *pos, len);
		*pos += len;
		break;
	case 2:
		fuzz_session_turns(fs, (op >> 3) % 16 + 1);
		break;
	case 3:
		if (op & 8)
			fuzz_session_time_jump();
		else
			maint_run();
		break;
	case 4:
		shutdown(fs->client_fd, SHUT_WR);
		break;
	case 5:
		fuzz_session_kill_server(fs);
		break;
	}
	fuzz_session_turns(fs, 2);
	fuzz_session_check();
}

/* What is left when the pooler did not let go, for the report of a failed invariant. */
static void fuzz_session_dump(void)
{
	List *it;
	list_for_each(it, &rt.clients)
	{
		Client *c = container_of(it, Client, all_node);
		fprintf(stderr, "left: C-%llu %s@%s state=%s paused=%d read_armed=%d link=%d\n",
			(unsigned long long)c->conn.id, c->user_name ? c->user_name : "?",
			c->db_name ? c->db_name : "?", client_state_name(c->state), c->conn.paused,
			c->conn.read_armed, c->conn.link != NULL);
	}
	list_for_each(it, &rt.servers)
	{
		Server *s = container_of(it, Server, all_node);
		fprintf(stderr, "left: S-%llu state=%s fd=%d paused=%d read_armed=%d link=%d\n",
			(unsigned long long)s->conn.id, server_state_name(s->state), s->conn.fd,
			s->conn.paused, s->conn.read_armed, s->conn.link != NULL);
	}
}

static bool fuzz_session_idle(void)
{
	return list_empty(&rt.clients) && list_empty(&rt.servers);
}

/* Both peers go away; the pooler must let go of everything. */
static void fuzz_session_finish(FuzzSession *fs)
{
	close(fs->client_fd);
	fs->client_fd = -1;
	for (int turn = 0; turn < FUZZ_SESSION_DRAIN_TURNS && !fuzz_session_idle(); turn++) {
		fuzz_session_turns(fs, 1);
		while (fs->n_servers > 0)
			fuzz_session_kill_server(fs);
		if (turn % 8 == 7)
			fuzz_session_time_jump(); /* clients waiting for a server give up */
	}
	fuzz_session_turns(fs, 2);
	while (fs->n_servers > 0)
		fuzz_session_kill_server(fs);
	fuzz_session_check();
	if (!fuzz_session_idle())
		fuzz_session_dump();
	FUZZ_CHECK(list_empty(&rt.clients) && rt.client_count == 0);
	FUZZ_CHECK(list_empty(&rt.servers));
	FUZZ_CHECK(admin_client_count() == 0);
	admin_tick(); /* console commands parked for a client that is gone are dropped */
	sbuf_sweep();
	List *it;
	list_for_each(it, &rt.pools)
	{
		Pool *p = container_of(it, Pool, node);
		FUZZ_CHECK(p->n_waiting == 0 && p->n_active_clients == 0);
		FUZZ_CHECK(p->n_login + p->n_idle + p->n_active + p->n_used == 0);
	}
	registry_free_all();
	FUZZ_CHECK(intern_count_now() == fuzz_session_baseline_interned);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzSession fs = { .client_fd = -1 };
	int sv[2];
	struct sockaddr_in from;

	if (size == 0)
		return 0;
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	memset(&from, 0, sizeof(from));
	from.sin_family = AF_INET;
	from.sin_port = htons(40000);
	from.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	client_accept(sv[0], (struct sockaddr *)&from, sizeof(from), false);
	fs.client_fd = sv[1];
	fuzz_session_startup(&fs, data[0] % 7);
	fuzz_session_turns(&fs, 2);
	fuzz_session_check();
	for (size_t pos = 1; pos < size;)
		fuzz_session_op(&fs, data, size, &pos);
	fuzz_session_finish(&fs);
	return 0;
}
