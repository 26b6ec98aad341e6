/*
 * Options applied to every TCP socket the pooler owns, accepted (clients) or connected
 * (servers): Nagle off, tcp_socket_buffer, and the tcp_keepalive family of settings from the
 * config in force; listening sockets get tcp_defer_accept.
 */
#ifndef PGSPLIT_SOCKOPT_H
#define PGSPLIT_SOCKOPT_H

/* TCP_NODELAY, then SO_KEEPALIVE and its tuning when tcp_keepalive is on. Failures are
 * ignored: a socket without these options still works. */
void tcp_socket_set_options(int fd);

/* How long the kernel may hold a silent new connection when tcp_defer_accept is on. */
#define TCP_DEFER_ACCEPT_SECONDS 45

/* TCP_DEFER_ACCEPT on a listening TCP socket when tcp_defer_accept is on (Linux). */
void tcp_listen_socket_set_options(int fd);

#endif
