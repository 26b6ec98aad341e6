"""etc/grafana-dashboard.json cannot silently break: every metric its panels and
variables name exists in a real scrape of a pgsplit routing over two replicas, and every
panel expression, with the dashboard's variables filled in, is valid PromQL that returns
series from a real Prometheus server scraping that pgsplit.
"""

import json
import os
import re
import urllib.request

import harness
from harness import free_port, query1
from prometheus import Prometheus, scrape_config

pytestmark = harness.pgsplit_only("the HTTP endpoint is pgsplit's own")

DASHBOARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc", "grafana-dashboard.json")
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset"}
# what Grafana puts in place of the variables when every value is selected
VARIABLES = {"$instance": ".*", "$database": ".*", "$job": ".*", "$__rate_interval": "1m"}


def load_dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def panel_exprs(dash):
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def variable_selectors(dash):
    """The series selector of each `label_values(selector, label)` variable query."""
    out = []
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", v["definition"])
            assert m, v["definition"]
            out.append(m.group(1))
    return out


def metric_names(expr):
    """Metric names in a PromQL expression: identifiers outside label matchers, ranges
    and grouping clauses that are neither functions nor keywords."""
    e = re.sub(r"\{[^}]*\}", "", expr)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        if not e[m.end():].lstrip().startswith("(") and m.group(0) not in PROMQL_WORDS:
            names.add(m.group(0))
    return names


def fill(expr):
    for var, value in VARIABLES.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, expr
    return expr


def scraped_names(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as resp:
        text = resp.read().decode()
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_metric_name_extraction():
    assert metric_names('sum by (database) (rate(a_total{x=~"$y"}[$__rate_interval])) / b') == {"a_total", "b"}
    assert metric_names('pgsplit_replica_info{database=~"$database"} == 1') == {"pgsplit_replica_info"}


def test_dashboard_series_exist_and_queries_answer(pooler, cluster):
    dash = load_dashboard()
    exprs = panel_exprs(dash)
    assert len(exprs) >= 20
    wanted = set().union(*(metric_names(e) for e in exprs + variable_selectors(dash)))
    # what the issue asks the dashboard to show
    for name in ("pgsplit_replica_lag_bytes", "pgsplit_replica_lag_seconds", "pgsplit_replica_info",
                 "pgsplit_routed_transactions_total", "pgsplit_routing_decisions_total",
                 "pgbouncer_pools_client_active_connections", "pgbouncer_pools_client_waiting_connections",
                 "pgbouncer_pools_server_active_connections", "pgbouncer_pools_server_idle_connections",
                 "pgsplit_ryw_waits_total", "pgbouncer_stats_queries_pooled_total",
                 "pgbouncer_stats_sql_transactions_pooled_total"):
        assert name in wanted, name

    port = free_port()
    p = pooler(start=False, http_listen_port=port, pool_mode="transaction")
    reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
    p.databases["app"] = p.connstr("app", replicas=reps)
    p.start()
    c = p.connect()
    for _ in range(3):
        query1(c, "SELECT 1")
    missing = wanted - scraped_names(port)
    assert not missing, "the dashboard names series /metrics does not have: %s" % sorted(missing)

    with Prometheus(scrape_config(port)) as prom:
        # rate() needs two samples inside its window
        assert harness.wait_until(
            lambda: (prom.query('count_over_time(pgbouncer_up[1m])') or [{"value": [0, "0"]}])[0]["value"][1]
            >= "3", 15.0), prom.query("up")
        empty = []

        def all_answer():
            empty[:] = [e for e in exprs + variable_selectors(dash) if not prom.query(fill(e))]
            return not empty
        assert harness.wait_until(all_answer, 8.0), "no series for: %s" % empty
