/*
 * pgsplit entry point: command line, config load, daemonizing, pidfile, the event base
 * and signal events, ordered start-up and shutdown. Knows nothing about packets or pools.
 */
#include "authfile.h"
#include "classify.h"
#include "config.h"
#include "dns.h"
#include "history.h"
#include "http.h"
#include "listener.h"
#include "log.h"
#include "maint.h"
#include "monitor.h"
#include "registry.h"
#include "reload.h"
#include "runtime.h"
#include "sbuf.h"
#include "shutdown.h"
#include "sdnotify.h"
#include "tls.h"
#include "varcache.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct Options {
	bool daemon;
	bool quiet;
	int verbose;
	const char *user;
	const char *config;
} Options;

static void usage(FILE *out)
{
	fprintf(out, "pgsplit is a PostgreSQL connection pooler with read/write routing.\n\n"
		     "Usage:\n  pgsplit [OPTION]... CONFIG_FILE\n\nOptions:\n"
		     "  -d, --daemon         run in background (as a daemon)\n"
		     "  -q, --quiet          run quietly\n"
		     "  -R, --reboot         online reboot: refused (use so_reuseport, see below)\n"
		     "  -u, --user=USERNAME  assume identity of USERNAME\n"
		     "  -v, --verbose        increase verbosity\n"
		     "  -V, --version        show version, then exit\n"
		     "  -h, --help           show this help, then exit\n\n"
		     "For a restart without dropping clients, run a second process on the same port\n"
		     "(so_reuseport = 1) and stop the old one with SIGTERM.\n");
}

/*
 * PgBouncer's -R took over the sockets of a running process; PgBouncer 1.20 deprecated
 * it for so_reuseport. Starting normally instead would leave two processes, the old one
 * never told to exit, so the switch is refused before anything else happens.
 */
static void refuse_reboot(void)
{
	fprintf(stderr, "pgsplit: online reboot (-R, --reboot) is not supported\n"
			"HINT: for a rolling restart without dropping clients, start the new process on the same\n"
			"port with so_reuseport = 1, then stop the old one with SIGTERM (or SHUTDOWN\n"
			"WAIT_FOR_CLIENTS on its console): it exits once its last client has left.\n");
}

static int parse_args(int argc, char **argv, Options *o)
{
	static const struct option longopts[] = {
		{ "daemon", no_argument, NULL, 'd' },	{ "quiet", no_argument, NULL, 'q' },
		{ "reboot", no_argument, NULL, 'R' },	{ "user", required_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },	{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },	{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "dqRu:vVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': o->daemon = true; break;
		case 'q': o->quiet = true; break;
		case 'R': refuse_reboot(); return 1;
		case 'u': o->user = optarg; break;
		case 'v': o->verbose++; break;
		case 'V':
			printf("%s\nlibevent %s\n", PGSPLIT_VERSION_STRING, event_get_version());
			exit(0);
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 1;
	}
	o->config = argv[optind];
	return 0;
}

static bool change_user(const char *user)
{
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		log_fatal("could not find user \"%s\"", user);
		return false;
	}
	if (setgid(pw->pw_gid) < 0 || initgroups(user, pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_fatal("could not switch to user \"%s\": %s", user, strerror(errno));
		return false;
	}
	return true;
}

static bool write_pidfile(const char *path)
{
	if (!*path)
		return true;
	FILE *f = fopen(path, "w");
	if (!f) {
		log_fatal("could not write pidfile \"%s\": %s", path, strerror(errno));
		return false;
	}
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
	return true;
}

static bool daemonize(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid > 0)
		_exit(0);
	setsid();
	pid = fork();
	if (pid < 0)
		return false;
	if (pid > 0)
		_exit(0);
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return true;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	char err[512];
	(void)what;
	(void)arg;
	switch (sig) {
	case SIGHUP:
		log_info("got SIGHUP, reloading config");
		sdnotify_reloading();
		log_reopen();
		if (!reload_config(err, sizeof(err)))
			log_error("reload failed: %s", err);
		sdnotify_ready(); /* a failed reload leaves the old config serving: still ready */
		break;
	case SIGINT:
		shutdown_on_signal("SIGINT", false);
		maint_run();
		break;
	case SIGTERM:
		shutdown_on_signal("SIGTERM", true);
		maint_run();
		break;
	case SIGQUIT:
		log_info("got SIGQUIT, immediate shutdown");
		shutdown_now();
		break;
	case SIGUSR1:
		log_info("got SIGUSR1, pausing");
		rt.paused = true;
		break;
	case SIGUSR2:
		if (rt.shutting_down) { /* as RESUME is refused: the shutdown's pause stays */
			log_info("got SIGUSR2 while shutting down, ignoring");
			break;
		}
		log_info("got SIGUSR2, resuming");
		rt.paused = false;
		maint_run();
		break;
	}
}

static void setup_signals(struct event **evs)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2 };
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		evs[i] = evsignal_new(rt.base, sigs[i], on_signal, NULL);
		event_add(evs[i], NULL);
	}
}

static void raise_fd_limit(int wanted)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rlim_t want = (rlim_t)wanted;
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/*
 * The resolver. A resolv_conf that cannot be read stops the start: c-ares would quietly
 * use its defaults for a missing one, which is not what the operator asked for.
 */
static bool start_dns(void)
{
	const Config *cfg = rt.cfg;
	if (*cfg->resolv_conf) {
		FILE *f = fopen(cfg->resolv_conf, "r");
		if (!f) {
			log_fatal("%s: key 'resolv_conf': cannot read \"%s\": %s", cfg->config_file,
				  cfg->resolv_conf, strerror(errno));
			return false;
		}
		fclose(f);
	}
	DnsOptions opts = { .resolv_conf = cfg->resolv_conf };
	rt.dns = dns_create_opts(rt.base, &opts);
	if (!rt.dns)
		return false;
	reload_dns(cfg); /* the TTLs and the zone check period, as a reload sets them */
	dns_set_change_callback(rt.dns, registry_on_dns_change, NULL);
	return true;
}

/* event_base_dispatch, one turn at a time so the per-turn clock cache is reset. */
static void run_event_loop(void)
{
	while (!event_base_got_break(rt.base) && !event_base_got_exit(rt.base)) {
		if (event_base_loop(rt.base, EVLOOP_ONCE) != 0)
			break;
		time_loop_turn_done();
	}
}

static int run(const Options *o)
{
	char err[1024];
	rt.cfg = config_load(o->config, err, sizeof(err));
	if (!rt.cfg) {
		log_fatal("%s", err);
		return 1;
	}
	log_set_command_line(o->quiet, o->verbose);
	reload_logging(rt.cfg);
	const char *user = o->user ? o->user : (*rt.cfg->user ? rt.cfg->user : NULL);
	if (user && geteuid() == 0 && !change_user(user))
		return 1;
	if (*rt.cfg->auth_file) {
		rt.authfile = authfile_load(rt.cfg->auth_file, err, sizeof(err));
		if (!rt.authfile)
			log_warning("could not load auth_file: %s", err);
	}
	raise_fd_limit(rt.cfg->max_client_conn * 2 + 256);
	rt.base = event_base_new();
	rt.start_time = time_now_wall();
	if (!rt.base || !start_dns())
		return 1;
	sbuf_global_init(rt.base, (size_t)rt.cfg->pkt_buf * 4, 1 << 20);
	sbuf_set_loop_limit(rt.cfg->sbuf_loopcnt);
	varcache_configure(rt.cfg->track_extra_parameters);
	rt.classify_cfg = classify_config_new(rt.cfg->write_functions);
	if (!rt.classify_cfg) {
		log_fatal("%s: key 'write_functions': expected a list of function names", rt.cfg->config_file);
		return 1;
	}
	registry_apply_config();
	if (!reload_hba(rt.cfg, err, sizeof(err))) {
		log_fatal("%s", err);
		return 1;
	}
	/* checked even with client TLS off, as RELOAD and SET check it */
	if (!tls_check_protocols("client", rt.cfg->client_tls_protocols, err, sizeof(err))) {
		log_fatal("%s", err);
		return 1;
	}
	if (rt.cfg->client_tls_sslmode != TLS_MODE_DISABLE) {
		rt.client_tls_ctx = tls_client_side_ctx(rt.cfg, err, sizeof(err));
		if (!rt.client_tls_ctx) {
			log_fatal("client TLS: %s", err);
			return 1;
		}
	}
	if (rt.cfg->server_tls_sslmode != TLS_MODE_DISABLE) {
		rt.server_tls_ctx = tls_server_side_ctx(rt.cfg, err, sizeof(err));
		if (!rt.server_tls_ctx) {
			log_fatal("server TLS: %s", err);
			return 1;
		}
	}
	/* before the client listener: a pooler that answers clients answers HTTP too */
	if (!http_apply(rt.cfg, err, sizeof(err))) {
		log_fatal("%s", err);
		return 1;
	}
	if (!listener_start())
		return 1;
	if (o->daemon && !daemonize())
		return 1;
	if (!write_pidfile(rt.cfg->pidfile))
		return 1;
	struct event *sig_events[6];
	setup_signals(sig_events);
	maint_start();
	monitor_start();
	log_info("pgsplit %s listening on %s:%d", PGSPLIT_VERSION, rt.cfg->listen_addr, rt.cfg->listen_port);
	sdnotify_ready();
	run_event_loop();
	http_stop();
	listener_stop();
	maint_stop();
	history_free_all();
	monitor_stop();
	if (*rt.cfg->pidfile)
		unlink(rt.cfg->pidfile);
	log_info("pgsplit stopped");
	return 0;
}

/*
 * Keep freed memory mapped: a /metrics scrape builds megabytes of text and view tables
 * and frees them; by default glibc maps such blocks afresh and unmaps (or trims) them
 * again each time, and the page faults to map them in again cost more than the
 * rendering itself (a 2,000-database exposition: 2.0 ms per family written with
 * the defaults, 0.2 ms with these).
 */
static void keep_freed_memory(void)
{
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

int main(int argc, char **argv)
{
	Options o = { 0 };
	keep_freed_memory();
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	return run(&o);
}
