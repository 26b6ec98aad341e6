"""A real Prometheus server (Debian package `prometheus`) scrapes pgsplit's /metrics over
HTTPS with basic authentication against a SCRAM entry of the auth_file, every second;
the series it stored are read back through its HTTP API (/api/v1/query).
"""

import certs as certgen
import harness
from harness import free_port, scram_secret
from prometheus import Prometheus, scrape_config

pytestmark = harness.pgsplit_only("the HTTP endpoint is pgsplit's own")

TLS_AND_PASSWORD = """\
    scheme: https
    tls_config:
      ca_file: {ca}
    basic_auth:
      username: scraper
      password: {password}
"""


def test_prometheus_scrapes_and_answers_queries(pooler, cluster):
    d = certgen.new_dir()
    port = free_port()
    reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
    users = dict(harness.DEFAULT_PASSWORDS, scraper=scram_secret("scrape pw"))
    p = pooler(start=False, http_listen_port=port, http_tls=1, http_auth_type="auth_file", userlist=users,
               client_tls_key_file=certgen.path(d, "server", "key"),
               client_tls_cert_file=certgen.path(d, "server"))
    p.databases["app"] = p.connstr("app", replicas=reps)
    p.start()
    harness.query1(p.connect(), "SELECT 1")
    config = scrape_config(port, TLS_AND_PASSWORD.format(ca=certgen.path(d, "ca"), password="scrape pw"))
    with Prometheus(config) as prom:
        def series(expr):
            return prom.query(expr) or []
        assert harness.wait_until(lambda: series('up{job="pgsplit"} == 1'), 15.0), prom.query("up")
        assert series('pgbouncer_up{job="pgsplit"}')[0]["value"][1] == "1"
        assert harness.wait_until(lambda: len(series('pgsplit_replica_up{database="app"} == 1')) == 2, 5.0), \
            prom.query("pgsplit_replica_up")
        pools = series('pgbouncer_pools_client_active_connections{database="app"}')
        assert pools and {s["metric"]["user"] for s in pools} >= {"app"}, pools
        # the scrape's own metadata: the target answered over TLS with the password
        samples = prom.query('scrape_samples_scraped{job="pgsplit"}')
        assert samples and int(samples[0]["value"][1]) > 100, samples
