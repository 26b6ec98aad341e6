"""The HTTP endpoint (http_listen_addr / http_listen_port): /metrics in the Prometheus
text format with the pgbouncer_exporter's names plus pgsplit's own, /health and /ready
(503 when a primary cannot be reached), /live, and the listener following RELOAD.

Each scrape is checked line by line by a small exposition-format parser (every sample
after its family's TYPE, names and label syntax, escapes, no duplicate series), and by
`promtool check metrics` (Debian package prometheus).
"""

import http.client
import json
import re
import shutil
import subprocess
import time

import pytest

import harness
from harness import free_port, query1

pytestmark = harness.pgsplit_only("the HTTP endpoint is pgsplit's own")

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


# ---- HTTP and the exposition format --------------------------------------------------

def http_get(port, path, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read().decode()
    finally:
        conn.close()


def parse_labels(text, line):
    """`a="x",b="y\\"z"` -> {a: x, b: y"z}; asserts the escapes are the format's."""
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL_NAME_RE.match(text, pos)
        assert m and text[m.end():m.end() + 2] == '="', "bad label in %r" % line
        name, pos, value = m.group(0), m.end() + 2, []
        while text[pos] != '"':
            if text[pos] == "\\":
                esc = text[pos + 1]
                assert esc in '\\"n', "bad escape in %r" % line
                value.append("\n" if esc == "n" else esc)
                pos += 2
            else:
                assert text[pos] != "\n"
                value.append(text[pos])
                pos += 1
        assert name not in labels, "label %s twice in %r" % (name, line)
        labels[name] = "".join(value)
        pos += 1
        if pos < len(text):
            assert text[pos] == ",", "bad label separator in %r" % line
            pos += 1
    return labels


def split_sample(line):
    """`name{labels} value` -> (name, labels text or '', value text)."""
    if "{" in line:
        name, rest = line.split("{", 1)
        # the label set ends at the last '}' (values may hold '}' but never end the line)
        labels, value = rest.rsplit("}", 1)
        return name, labels, value.strip()
    name, value = line.split(" ", 1)
    return name, "", value.strip()


def parse_exposition(text):
    """Check the text format and return {(name, frozenset(labels.items())): value},
    with the TYPE of each family under key ('#type', name)."""
    assert text.endswith("\n")
    series, types, seen_families, current = {}, {}, set(), None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert NAME_RE.match(name), line
            assert name not in seen_families, "family %s split or repeated" % name
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert NAME_RE.match(name) and kind in ("counter", "gauge", "untyped"), line
            assert name not in seen_families, "family %s split or repeated" % name
            seen_families.add(name)
            types[name] = kind
            current = name
            continue
        assert line and not line.startswith("#"), "unexpected line %r" % line
        name, label_text, value = split_sample(line)
        assert NAME_RE.match(name), line
        assert name == current, "sample %r outside its family's block (after TYPE %s)" % (line, current)
        labels = parse_labels(label_text, line)
        v = float(value)
        if types[name] == "counter":
            assert v >= 0, line
        key = (name, frozenset(labels.items()))
        assert key not in series, "duplicate series %r" % line
        series[key] = v
    for name, kind in types.items():
        series[("#type", name)] = kind
    return series


def promtool_check(text):
    tool = shutil.which("promtool")
    assert tool, "no promtool: scripts/lib.sh install_deps installs the Debian package prometheus"
    res = subprocess.run([tool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    # non-zero for parse errors and for lint findings (names, units, _total suffixes)
    assert res.returncode == 0, (res.stdout + res.stderr).decode()


def scrape(port):
    status, headers, body = http_get(port, "/metrics")
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    promtool_check(body)
    return parse_exposition(body)


def value(series, metric, **labels):
    """The one sample of metric whose labels include `labels`."""
    found = [v for (n, ls), v in series.items()
             if n == metric and set(labels.items()) <= set(ls)]
    assert len(found) == 1, "%s%s: %d samples" % (metric, labels, len(found))
    return found[0]


def total(series, metric, **labels):
    return sum(v for (n, ls), v in series.items()
               if n == metric and set(labels.items()) <= set(ls))


wait_until = harness.wait_until


# ---- poolers -------------------------------------------------------------------------

def http_pooler(pooler, cluster, primary_port=None, **kw):
    """pgsplit with routing over the cluster's replicas and the endpoint on a free port."""
    port = free_port()
    p = pooler(start=False, pool_mode="transaction", http_listen_port=port, **kw)
    reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
    p.databases["app"] = p.connstr("app", replicas=reps)
    if primary_port:
        p.databases["app"] = re.sub(r"port=\d+", "port=%d" % primary_port, p.databases["app"])
    p.http_port = port
    return p.start()


def replicas_up(port, n):
    s = scrape(port)
    return total(s, "pgsplit_replica_up", database="app") == n


# ---- tests ---------------------------------------------------------------------------

def test_metrics_move_with_traffic(pooler, cluster):
    p = http_pooler(pooler, cluster, max_prepared_statements=2)
    assert wait_until(lambda: replicas_up(p.http_port, 2)), scrape(p.http_port)
    before = scrape(p.http_port)
    assert before[("#type", "pgbouncer_stats_queries_pooled_total")] == "counter"
    assert before[("#type", "pgbouncer_pools_client_active_connections")] == "gauge"

    c = p.connect()
    for _ in range(10):
        assert query1(c, "SELECT pg_is_in_recovery()") is True     # replicas
    c.execute("INSERT INTO items(v) VALUES ('http metrics')")       # the primary
    ps = p.connect(prepare_threshold=0)                              # named statements
    for i in range(4):                                               # 4 statements, cache of 2
        for _ in range(3):
            ps.execute("SELECT %s::int + " + str(i), (1,), prepare=True)
    ps.close()
    after = scrape(p.http_port)

    def grew(metric, by=1, **labels):
        b, a = total(before, metric, **labels), total(after, metric, **labels)
        assert a >= b + by, "%s%s: %s -> %s" % (metric, labels, b, a)

    grew("pgbouncer_stats_queries_pooled_total", 20, database="app")
    grew("pgbouncer_stats_sql_transactions_pooled_total", 20, database="app")
    grew("pgbouncer_stats_received_bytes_total", 100, database="app")
    grew("pgbouncer_stats_sent_bytes_total", 100, database="app")
    grew("pgsplit_routed_transactions_total", 10, database="app", target="replica")
    grew("pgsplit_routed_transactions_total", 1, database="app", target="primary")
    grew("pgsplit_routing_decisions_total", 10, database="app", reason="classified_read")
    grew("pgsplit_routing_decisions_total", 1, database="app", reason="write")
    grew("pgsplit_replica_routed_transactions_total", 10, database="app")
    grew("pgbouncer_stats_client_parses_total", 4, database="app")
    grew("pgsplit_prepared_cache_hits_total", 1, database="app")
    grew("pgsplit_prepared_cache_evictions_total", 1, database="app")

    # the open client shows in the pool and database gauges; lists and process figures
    assert total(after, "pgbouncer_databases_current_client_connections", name="app") == 1
    assert total(after, "pgbouncer_pools_client_active_connections", database="app", user="app") == 1
    assert value(after, "pgbouncer_used_clients") >= 1
    assert value(after, "pgbouncer_pools") >= 2
    assert value(after, "process_open_fds") > 5
    assert value(after, "process_resident_memory_bytes") > 1 << 20
    assert value(after, "pgbouncer_config_max_client_connections") == int(p.settings["max_client_conn"])
    replica_ports = {str(r.port) for r in cluster.replicas}
    assert {dict(ls)["port"] for (n, ls) in after if n == "pgsplit_replica_lag_bytes"} == replica_ports
    for r in cluster.replicas:
        assert value(after, "pgsplit_replica_info", port=str(r.port), role="replica", state="up") == 1
        assert value(after, "pgsplit_replica_replay_lsn", port=str(r.port)) > 0
    # one replica pool per standby: told apart by the server label
    servers = {dict(ls)["server"] for (n, ls) in after
               if n == "pgbouncer_pools_server_idle_connections" and dict(ls).get("target") == "replica"}
    assert servers == {"127.0.0.1:" + port for port in replica_ports}


def test_label_values_are_escaped(pooler, cluster):
    """A database name with a backslash and a double quote comes out escaped."""
    port = free_port()
    p = pooler(start=False, http_listen_port=port)
    odd = 'we\\ir"d'
    p.databases['"%s"' % odd.replace('"', '""')] = p.connstr("app")
    p.start()
    c = p.connect(db=odd)
    assert query1(c, "SELECT 1") == 1
    status, _, body = http_get(port, "/metrics")
    assert status == 200
    assert 'database="we\\\\ir\\"d"' in body
    s = parse_exposition(body)
    assert value(s, "pgbouncer_stats_queries_pooled_total", database=odd) >= 1


def test_stopped_replica_shows_down_and_health_stays_up(pooler, cluster):
    p = http_pooler(pooler, cluster)
    assert wait_until(lambda: replicas_up(p.http_port, 2)), scrape(p.http_port)
    victim = cluster.replicas[1]
    victim.stop()
    try:
        t0 = time.time()
        assert wait_until(lambda: replicas_up(p.http_port, 1), 3.0), scrape(p.http_port)
        took = time.time() - t0
        s = scrape(p.http_port)
        assert value(s, "pgsplit_replica_up", port=str(victim.port)) == 0
        assert value(s, "pgsplit_replica_info", port=str(victim.port), state="down") == 1
        status, headers, body = http_get(p.http_port, "/health")
        assert status == 200, body       # the primary still answers
        doc = json.loads(body)
        servers = {(sv["role"], sv["port"]): sv["state"] for sv in doc["databases"][0]["servers"]}
        assert servers[("replica", victim.port)] == "down"
        assert servers[("primary", cluster.port)] == "up"
        print("replica seen down after %.2f s" % took)
    finally:
        victim.start()
        cluster.wait_replay()


def test_health_fails_when_the_primary_is_unreachable(pooler, cluster):
    good = http_pooler(pooler, cluster)

    def app_states():
        doc = json.loads(http_get(good.http_port, "/ready")[2])
        return [sv["state"] for sv in doc["databases"][0]["servers"]]
    assert wait_until(lambda: app_states() == ["up", "up", "up"]), app_states()
    status, _, body = http_get(good.http_port, "/health")
    doc = json.loads(body)
    assert status == 200 and doc["status"] == "ok" and doc["accepting_clients"] is True

    # the replica monitor's primary check never answers: a closed port
    bad = http_pooler(pooler, cluster, primary_port=free_port())
    assert wait_until(lambda: http_get(bad.http_port, "/health")[0] == 503, 5.0)
    status, headers, body = http_get(bad.http_port, "/health")
    assert headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    assert doc["status"] == "unavailable"
    assert doc["databases"][0]["servers"][0] == {
        "role": "primary", "host": "127.0.0.1", "port": doc["databases"][0]["servers"][0]["port"],
        "state": "down"}
    assert http_get(bad.http_port, "/ready")[0] == 503
    assert http_get(bad.http_port, "/live")[0] == 200

    # no replicas, so no monitor: a failed connection attempt is what tells
    port = free_port()
    lone = pooler(start=False, http_listen_port=port)
    lone.databases["app"] = lone.connstr("app", port=free_port())
    lone.start()
    assert http_get(port, "/health")[0] == 200      # nothing tried yet: unknown, not down
    with pytest.raises(Exception):
        lone.connect()
    status, _, body = http_get(port, "/health")
    assert status == 503, body


def test_paths_and_methods(pooler, cluster):
    port = free_port()
    pooler(http_listen_port=port)
    assert http_get(port, "/nope")[0] == 404
    assert http_get(port, "/index.html")[0] == 404
    status, headers, _ = http_get(port, "/")        # the status page (test_status_page.py)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    status, headers, _ = http_get(port, "/metrics", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert http_get(port, "/health", method="DELETE")[0] == 405
    status, headers, body = http_get(port, "/metrics", method="HEAD")
    assert status == 200 and body == ""
    assert http_get(port, "/metrics?x=1")[0] == 200
    status, _, body = http_get(port, "/live")
    assert (status, body) == (200, "ok\n")


def endpoint_open(port):
    try:
        return http_get(port, "/live")[0] == 200
    except OSError:
        return False


def test_reload_closes_and_reopens_the_listener(pooler, cluster):
    port = free_port()
    p = pooler(http_listen_port=port)
    assert endpoint_open(port)
    p.settings["http_listen_port"] = 0
    p.reload()
    assert wait_until(lambda: not endpoint_open(port), 3.0)
    assert query1(p.connect(), "SELECT 1") == 1      # clients unaffected
    p.settings["http_listen_port"] = port
    p.reload()
    assert wait_until(lambda: endpoint_open(port), 3.0)
    # a bad address is refused like any bad setting, and the endpoint stays where it was
    p.settings["http_listen_addr"] = "not-an-address"
    p.reload()
    assert p.wait_log(r"http_listen_addr.*expected a numeric IPv4 or IPv6 address", 3.0)
    assert endpoint_open(port)
    # a port that cannot be bound: the reload is refused and the old listener reopened
    p.settings["http_listen_addr"] = "127.0.0.1"
    p.settings["http_listen_port"] = cluster.port
    p.reload()
    assert p.wait_log(r"reload failed.*could not listen for HTTP on 127\.0\.0\.1:%d" % cluster.port, 3.0)
    assert endpoint_open(port)
    # the console's SET moves it too
    other = free_port()
    harness.admin(p, "SET http_listen_port = %d" % other)
    assert wait_until(lambda: endpoint_open(other), 3.0)
    assert not endpoint_open(port)


@pytest.mark.parametrize("setting, bad", [("http_listen_port", "70000"), ("http_listen_port", "x"),
                                          ("http_listen_addr", "localhost"), ("http_listen_addr", "")])
def test_bad_settings_refused_at_start(pooler, cluster, setting, bad):
    p = pooler(start=False, **{setting: bad})
    p.expect_exit = True
    with pytest.raises(harness.PoolerStartError):
        p.start(timeout=5)
    assert setting in p.output()


def test_port_in_use_refused_at_start(pooler, cluster):
    p = pooler(start=False, http_listen_port=cluster.port)
    p.expect_exit = True
    with pytest.raises(harness.PoolerStartError):
        p.start(timeout=5)
    assert "could not listen for HTTP" in p.output()
