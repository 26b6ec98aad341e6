"""Option names and flags a PgBouncer setup carries over: every documented setting name
is accepted at its default, -v works, and log_stats writes its periodic stats line."""

from harness import pgsplit_only, query1


# Options PgBouncer 1.18 already has, set to their documented defaults.
COMMON_OPTIONS = {
    "unix_socket_mode": "0777", "reserve_pool_timeout": "5", "max_db_connections": "0",
    "max_user_connections": "0", "server_round_robin": "0", "disable_pqexec": "0",
    "application_name_add_host": "0", "stats_period": "60", "syslog": "0",
    "syslog_ident": "pgbouncer", "syslog_facility": "daemon", "log_pooler_errors": "1",
    "log_stats": "1", "verbose": "0", "server_check_delay": "30", "server_fast_close": "0",
    "server_idle_timeout": "600", "server_connect_timeout": "15",
    "client_login_timeout": "60", "autodb_idle_timeout": "3600", "dns_max_ttl": "15",
    "dns_nxdomain_ttl": "15", "dns_zone_check_period": "0", "client_tls_sslmode": "disable",
    "server_tls_sslmode": "prefer", "query_timeout": "0",
    "client_idle_timeout": "0", "idle_transaction_timeout": "0", "suspend_timeout": "10",
    "pkt_buf": "4096", "max_packet_size": "2147483647", "listen_backlog": "128",
    "sbuf_loopcnt": "5", "so_reuseport": "0", "tcp_defer_accept": "1",
    "tcp_socket_buffer": "0", "tcp_keepalive": "1", "tcp_keepcnt": "0", "tcp_keepidle": "0",
    "tcp_keepintvl": "0", "tcp_user_timeout": "0",
}

# Added between 1.19 and 1.25.
NEWER_OPTIONS = {
    "peer_id": "0", "max_prepared_statements": "200", "scram_iterations": "4096",
    "track_extra_parameters": "IntervalStyle", "max_db_client_connections": "0",
    "max_user_client_connections": "0", "cancel_wait_timeout": "10",
    # Windows-only in PgBouncer, but documented option names all the same.
    "service_name": "pgbouncer",
}

def test_option_names_accepted(pooler):
    p = pooler(**COMMON_OPTIONS)
    c = p.connect()
    assert query1(c, "SELECT 1") == 1

@pgsplit_only("option names added after 1.18")
def test_newer_option_names_accepted_with_defaults(pooler):
    opts = dict(COMMON_OPTIONS)
    opts.update(NEWER_OPTIONS)
    p = pooler(**opts)
    c = p.connect()
    assert query1(c, "SELECT 1") == 1

def test_log_stats(pooler):
    p = pooler(log_stats=1, stats_period=1)
    c = p.connect()
    c.execute("SELECT 1")
    assert p.wait_log(r"(?i)stats:", 4)

def test_verbose_flag(pooler):
    p = pooler(args=("-v",))
    c = p.connect()
    assert query1(c, "SELECT 1") == 1
