/*
 * sd_notify (see sdnotify.h). One datagram per message on a fresh socket: the messages
 * are a handful per process lifetime, so keeping a socket open would buy nothing.
 */
#include "sdnotify.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* The address in $NOTIFY_SOCKET; a leading '@' names Linux's abstract namespace. */
static bool notify_address(const char *name, struct sockaddr_un *un, socklen_t *len)
{
	size_t n = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || n < 2 || n >= sizeof(un->sun_path))
		return false;
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, name, n);
	if (name[0] == '@')
		un->sun_path[0] = '\0';
	/* abstract names are exactly n bytes long, with no terminating NUL */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/'));
	return true;
}

bool sdnotify_send(const char *message)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un un;
	socklen_t len;
	if (!name || !*name)
		return false;
	if (!notify_address(name, &un, &len)) {
		log_warning("NOTIFY_SOCKET \"%s\" is not a unix socket path or @name", name);
		return false;
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ssize_t sent = sendto(fd, message, strlen(message), MSG_NOSIGNAL, (struct sockaddr *)&un, len);
	int saved = errno;
	close(fd);
	if (sent < 0) {
		log_warning("could not notify the service manager at %s: %s", name, strerror(saved));
		return false;
	}
	return true;
}

void sdnotify_ready(void)
{
	char msg[64];
	snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%d", (int)getpid());
	sdnotify_send(msg);
}

void sdnotify_reloading(void)
{
	struct timespec ts;
	char msg[96];
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* systemd compares this stamp with its own CLOCK_MONOTONIC to match the reload */
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
	sdnotify_send(msg);
}

void sdnotify_stopping(void)
{
	sdnotify_send("STOPPING=1");
}
