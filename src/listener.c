/*
 * Listeners (see listener.h). Accept runs in a loop until EAGAIN; when the process is
 * out of file descriptors, accepting pauses for a second instead of spinning.
 */
#include "listener.h"
#include "client.h"
#include "log.h"
#include "runtime.h"
#include "sdlisten.h"
#include "sockopt.h"

#include <errno.h>
#include <event2/event.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_LISTENERS 16

typedef struct Listener {
	int fd;
	bool is_unix;
	bool inherited; /* handed in by the service manager, which owns its file too */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct event *ev;
} Listener;

static Listener listeners[MAX_LISTENERS];
static int n_listeners;
static struct event *resume_timer;

static void listener_on_accept(evutil_socket_t fd, short what, void *arg)
{
	Listener *l = arg;
	(void)what;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage addr;
		socklen_t len = sizeof(addr);
		int cfd = accept4(fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				log_warning("accept failed: %s; pausing accept for 1 second", strerror(errno));
				listener_pause();
				struct timeval tv = { 1, 0 };
				evtimer_add(resume_timer, &tv);
			}
			return;
		}
		if (!l->is_unix)
			tcp_socket_set_options(cfd);
		client_accept(cfd, (struct sockaddr *)&addr, len, l->is_unix);
	}
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	listener_resume();
}

static bool add_listener(int fd, bool is_unix, const char *path, bool inherited)
{
	if (n_listeners >= MAX_LISTENERS) {
		close(fd);
		return false;
	}
	Listener *l = &listeners[n_listeners++];
	l->fd = fd;
	l->is_unix = is_unix;
	l->inherited = inherited;
	snprintf(l->path, sizeof(l->path), "%s", path ? path : "");
	l->ev = event_new(rt.base, fd, EV_READ | EV_PERSIST, listener_on_accept, l);
	event_add(l->ev, NULL);
	return true;
}

static bool listen_tcp_addr(const struct addrinfo *ai)
{
	int fd = sdlisten_take(ai->ai_addr);
	if (fd >= 0) {
		log_info("using the listening socket for port %d handed in by the service manager", rt.cfg->listen_port);
		return add_listener(fd, false, NULL, true);
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	int on = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (rt.cfg->so_reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	tcp_listen_socket_set_options(fd);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, rt.cfg->listen_backlog) < 0) {
		char host[64] = "?";
		getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
		log_error("could not listen on %s:%d: %s", host, rt.cfg->listen_port, strerror(errno));
		close(fd);
		return false;
	}
	return add_listener(fd, false, NULL, false);
}

static bool listen_tcp_host(const char *host)
{
	struct addrinfo hints, *res = NULL;
	char port[16];
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%d", rt.cfg->listen_port);
	int rc = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, port, &hints, &res);
	if (rc != 0) {
		log_error("could not resolve listen_addr \"%s\": %s", host, gai_strerror(rc));
		return false;
	}
	bool any = false;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
		any |= listen_tcp_addr(ai);
	freeaddrinfo(res);
	return any;
}

static bool listen_unix(void)
{
	struct sockaddr_un un;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	snprintf(un.sun_path, sizeof(un.sun_path), "%s/.s.PGSQL.%d", rt.cfg->unix_socket_dir, rt.cfg->listen_port);
	int fd = sdlisten_take((struct sockaddr *)&un);
	if (fd >= 0) {
		log_info("using the unix socket %s handed in by the service manager", un.sun_path);
		return add_listener(fd, true, un.sun_path, true);
	}
	unlink(un.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0 || listen(fd, rt.cfg->listen_backlog) < 0) {
		log_error("could not listen on unix socket %s: %s", un.sun_path, strerror(errno));
		close(fd);
		return false;
	}
	chmod(un.sun_path, (mode_t)rt.cfg->unix_socket_mode);
	if (*rt.cfg->unix_socket_group) {
		struct group *g = getgrnam(rt.cfg->unix_socket_group);
		if (!g || chown(un.sun_path, (uid_t)-1, g->gr_gid) < 0)
			log_warning("could not set group of %s to %s", un.sun_path, rt.cfg->unix_socket_group);
	}
	return add_listener(fd, true, un.sun_path, false);
}

/* Handed-in sockets no configured address matched: the service manager's unit says so. */
static void listen_unmatched_inherited(void)
{
	int fd, family;
	while ((fd = sdlisten_take_any(&family)) >= 0) {
		log_info("using an extra listening socket (fd %d) handed in by the service manager", fd);
		add_listener(fd, family == AF_UNIX, NULL, true);
	}
}

bool listener_start(void)
{
	bool ok = true;
	char buf[1024];
	sdlisten_collect();
	resume_timer = evtimer_new(rt.base, resume_cb, NULL);
	/* the unix socket first: whoever sees the TCP port accept may use it at once */
	if (*rt.cfg->unix_socket_dir)
		ok &= listen_unix();
	snprintf(buf, sizeof(buf), "%s", rt.cfg->listen_addr);
	char *save = NULL;
	for (char *h = strtok_r(buf, ", \t", &save); h; h = strtok_r(NULL, ", \t", &save))
		ok &= listen_tcp_host(h);
	listen_unmatched_inherited();
	if (n_listeners == 0) {
		log_error("no listening sockets");
		return false;
	}
	/* with handed-in sockets, an address one of them already holds cannot be bound again */
	return ok || sdlisten_count() > 0;
}

/* Shutdown: refuse new TCP clients at once; the unix socket stays for the console. */
void listener_close_tcp(void)
{
	for (int i = 0; i < n_listeners; i++) {
		if (listeners[i].is_unix || listeners[i].fd < 0)
			continue;
		event_del(listeners[i].ev);
		close(listeners[i].fd);
		listeners[i].fd = -1;
	}
}

void listener_pause(void)
{
	for (int i = 0; i < n_listeners; i++)
		event_del(listeners[i].ev);
}

void listener_resume(void)
{
	for (int i = 0; i < n_listeners; i++)
		if (listeners[i].fd >= 0)
			event_add(listeners[i].ev, NULL);
}

void listener_stop(void)
{
	for (int i = 0; i < n_listeners; i++) {
		event_free(listeners[i].ev);
		if (listeners[i].fd >= 0)
			close(listeners[i].fd);
		if (listeners[i].is_unix && !listeners[i].inherited)
			unlink(listeners[i].path);
	}
	n_listeners = 0;
	if (resume_timer)
		event_free(resume_timer);
	resume_timer = NULL;
}
