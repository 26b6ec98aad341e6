/*
 * Options applied to every TCP socket the pooler owns, accepted (clients) or connected
 * (servers): Nagle off, and the tcp_keepalive family of settings from the config in force.
 */
#ifndef PGSPLIT_SOCKOPT_H
#define PGSPLIT_SOCKOPT_H

/* TCP_NODELAY, then SO_KEEPALIVE and its tuning when tcp_keepalive is on. Failures are
 * ignored: a socket without these options still works. */
void tcp_socket_set_options(int fd);

#endif
