"""A real Prometheus server (Debian package `prometheus`) scrapes pgsplit's /metrics over
HTTPS with basic authentication against a SCRAM entry of the auth_file, every second;
the series it stored are read back through its HTTP API (/api/v1/query).
"""

import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request

import pytest

import certs as certgen
import harness
from harness import free_port, scram_secret

pytestmark = harness.pgsplit_only("the HTTP endpoint is pgsplit's own")

PROMETHEUS = shutil.which("prometheus")

CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: pgsplit
    scheme: https
    tls_config:
      ca_file: {ca}
    basic_auth:
      username: scraper
      password: {password}
    static_configs:
      - targets: ['localhost:{port}']
"""


def query(api_port, expr):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (api_port, urllib.parse.urlencode({"query": expr}))
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            answer = json.load(resp)
    except OSError:
        return None  # not listening yet
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


@pytest.fixture
def prometheus_server():
    """Start Prometheus with a config; yields start(config_text) -> its API port."""
    procs = []
    d = harness.make_pg_dir("pgsplit-prom-")

    def start(config_text):
        with open(os.path.join(d, "prometheus.yml"), "w") as f:
            f.write(config_text)
        api_port = free_port()
        log = open(os.path.join(d, "prometheus.log"), "wb")
        procs.append(subprocess.Popen(
            [PROMETHEUS, "--config.file=" + os.path.join(d, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(d, "data"),
             "--web.listen-address=127.0.0.1:%d" % api_port],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        log.close()
        return api_port

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)
    shutil.rmtree(d, ignore_errors=True)


def test_prometheus_scrapes_and_answers_queries(pooler, cluster, prometheus_server):
    assert PROMETHEUS, "no prometheus: scripts/lib.sh install_deps installs the Debian package prometheus"
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
    api = prometheus_server(CONFIG.format(ca=certgen.path(d, "ca"), password="scrape pw", port=port))

    def series(expr):
        return query(api, expr) or []
    assert harness.wait_until(lambda: series('up{job="pgsplit"} == 1'), 15.0), query(api, "up")
    assert series('pgbouncer_up{job="pgsplit"}')[0]["value"][1] == "1"
    assert harness.wait_until(lambda: len(series('pgsplit_replica_up{database="app"} == 1')) == 2, 5.0), \
        query(api, "pgsplit_replica_up")
    pools = series('pgbouncer_pools_client_active_connections{database="app"}')
    assert pools and {s["metric"]["user"] for s in pools} >= {"app"}, pools
    # the scrape's own metadata: the target answered over TLS with the password
    health = query(api, 'scrape_samples_scraped{job="pgsplit"}')
    assert health and int(health[0]["value"][1]) > 100, health
