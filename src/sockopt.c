/*
 * TCP socket options (see sockopt.h), shared by the listener for accepted clients and by
 * the server module for its connections, so both legs follow the same settings.
 */
#include "sockopt.h"
#include "runtime.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* Sets one int-valued option when the setting is positive (0 leaves the kernel default). */
static void set_positive_int(int fd, int level, int name, int value)
{
	if (value > 0)
		setsockopt(fd, level, name, &value, sizeof(value));
}

void tcp_socket_set_options(int fd)
{
	int on = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	set_positive_int(fd, SOL_SOCKET, SO_SNDBUF, rt.cfg->tcp_socket_buffer);
	set_positive_int(fd, SOL_SOCKET, SO_RCVBUF, rt.cfg->tcp_socket_buffer);
	if (!rt.cfg->tcp_keepalive)
		return;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	set_positive_int(fd, IPPROTO_TCP, TCP_KEEPCNT, rt.cfg->tcp_keepcnt);
	set_positive_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, rt.cfg->tcp_keepidle);
	set_positive_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, rt.cfg->tcp_keepintvl);
	set_positive_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, rt.cfg->tcp_user_timeout);
}

void tcp_listen_socket_set_options(int fd)
{
#ifdef TCP_DEFER_ACCEPT
	/* tcp_defer_accept is a switch: on, the kernel holds a connection for up to this many
	 * seconds until its first bytes arrive, so a silent connection costs no accept() */
	if (rt.cfg->tcp_defer_accept)
		set_positive_int(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, TCP_DEFER_ACCEPT_SECONDS);
#else
	(void)fd;
#endif
}
