/*
 * Socket activation (see sdlisten.h). The descriptors are made non-blocking, as the
 * accept loop needs, and close-on-exec; the environment is cleared so nothing started
 * later takes them for its own.
 */
#include "sdlisten.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#define SD_LISTEN_FDS_START 3
#define SD_LISTEN_MAX 64

static int handed[SD_LISTEN_MAX];
static int n_handed;

/* A stream socket in listening state, which is all the pooler can accept on. */
static bool is_listening_stream(int fd)
{
	int type = 0, listening = 0;
	socklen_t len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
		return false;
	len = sizeof(listening);
	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening;
}

static int env_int(const char *name)
{
	const char *s = getenv(name);
	char *end;
	if (!s || !*s)
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	return (errno || *end || v < 0 || v > 1 << 30) ? -1 : (int)v;
}

void sdlisten_collect(void)
{
	int pid = env_int("LISTEN_PID");
	int n = env_int("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	n_handed = 0;
	if (pid != (int)getpid() || n <= 0)
		return;
	for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
		if (!is_listening_stream(fd) || n_handed >= SD_LISTEN_MAX) {
			log_warning("ignoring descriptor %d from the service manager: not a listening stream socket", fd);
			continue;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		handed[n_handed++] = fd;
	}
}

static bool same_address(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	if (a->sa_family == AF_UNIX) {
		const struct sockaddr_un *x = (const void *)a, *y = (const void *)b;
		return x->sun_path[0] && strncmp(x->sun_path, y->sun_path, sizeof(x->sun_path)) == 0;
	}
	return false;
}

static int take_at(int i)
{
	int fd = handed[i];
	handed[i] = -1;
	return fd;
}

int sdlisten_take(const struct sockaddr *addr)
{
	for (int i = 0; i < n_handed; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		if (handed[i] < 0 || getsockname(handed[i], (struct sockaddr *)&ss, &sl) < 0)
			continue;
		if (same_address((struct sockaddr *)&ss, addr))
			return take_at(i);
	}
	return -1;
}

int sdlisten_take_any(int *family)
{
	for (int i = 0; i < n_handed; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (handed[i] < 0)
			continue;
		memset(&ss, 0, sizeof(ss));
		*family = getsockname(handed[i], (struct sockaddr *)&ss, &sl) == 0 ? ss.ss_family : AF_UNSPEC;
		return take_at(i);
	}
	return -1;
}

int sdlisten_count(void)
{
	return n_handed;
}
