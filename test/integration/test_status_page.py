"""The status page at GET / (http_listen_port), looked at in a real browser: headless
Chromium loads it from a running pgsplit with routing over two replicas, and the test
reads what the browser shows (the DOM after loading) and keeps a screenshot. A replica
stopped during the test shows as down; names from the config are escaped.

PGSPLIT_STATUS_SCREENSHOT=path keeps the screenshot there (doc/status-page.png was made
so); it goes to the test's temporary directory otherwise.
"""

import html.parser
import http.client
import json
import os
import shutil
import subprocess
import time

import pytest

import harness
from harness import free_port, query1

pytestmark = harness.pgsplit_only("the status page is pgsplit's own")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def http_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read().decode()
    finally:
        conn.close()


def browse(url, profile_dir, screenshot=None):
    """The page's DOM as headless Chromium serializes it after loading; with screenshot,
    a PNG of the window too (a second run: one run does not give both)."""
    assert CHROMIUM, "chromium is not installed (scripts/lib.sh install_deps installs it)"
    base = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage",
            "--no-first-run", "--user-data-dir=" + profile_dir, "--window-size=1280,1000",
            "--hide-scrollbars"]
    if screenshot:
        res = subprocess.run(base + ["--screenshot=" + screenshot, url], capture_output=True, timeout=60)
        assert os.path.exists(screenshot), res.stderr.decode(errors="replace")[-2000:]
    res = subprocess.run(base + ["--dump-dom", url], capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-2000:]
    return res.stdout.decode()


class PageReader(html.parser.HTMLParser):
    """Collects, from a DOM: each server row's cell texts (by its data-server), each
    section heading, the chart captions and legends, and every tag name met."""

    def __init__(self):
        super().__init__()
        self.servers, self.headings, self.captions, self.legend = {}, [], [], []
        self.tags, self.pool_databases = set(), []
        self._row, self._cells, self._text, self._in = None, None, [], None
        self._pool_row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "tr" and "data-server" in a:
            self._row, self._cells = a["data-server"], []
        elif tag == "table" and a.get("class") == "pools":
            self._in = "pools"
        elif tag == "tr" and self._in == "pools":
            self._pool_row = []
        if tag in ("td", "h2", "figcaption", "span"):
            self._text = []

    def handle_data(self, data):
        self._text.append(data)

    def handle_endtag(self, tag):
        text = "".join(self._text).strip()
        if tag == "td" and self._row is not None:
            self._cells.append(text)
        elif tag == "td" and self._pool_row is not None:
            self._pool_row.append(text)
        elif tag == "tr" and self._row is not None:
            self.servers[self._row], self._row = self._cells, None
        elif tag == "tr" and self._pool_row is not None:
            if self._pool_row:
                self.pool_databases.append(self._pool_row[0])
            self._pool_row = None
        elif tag == "table":
            self._in = None
        elif tag == "h2":
            self.headings.append(text)
        elif tag == "figcaption":
            self.captions.append(text)
        elif tag == "span":
            self.legend.append(text)


def read_page(dom):
    r = PageReader()
    r.feed(dom)
    return r


def status_pooler(pooler, cluster, name="app"):
    port = free_port()
    p = pooler(start=False, pool_mode="transaction", http_listen_port=port)
    reps = ",".join("127.0.0.1:%d" % r.port for r in cluster.replicas)
    p.databases['"%s"' % name.replace('"', '""')] = p.connstr("app", replicas=reps)
    p.http_port = port
    return p.start()


def server_states(port, name="app"):
    doc = json.loads(http_get(port, "/health")[2])
    return {sv["port"]: sv["state"] for db in doc["databases"] if db["name"] == name for sv in db["servers"]}


def test_page_in_a_browser_shows_servers_charts_and_a_stopped_replica(pooler, cluster, tmp_path):
    p = status_pooler(pooler, cluster)
    ports = [cluster.port] + [r.port for r in cluster.replicas]
    assert harness.wait_until(lambda: all(server_states(p.http_port).get(x) == "up" for x in ports)), \
        server_states(p.http_port)
    c = p.connect()
    for i in range(30):                    # a few seconds of reads and writes for the charts
        query1(c, "SELECT count(*) FROM items")
        if i % 3 == 0:
            c.execute("INSERT INTO items(v) VALUES ('status page')")
        time.sleep(0.1)
    url = "http://127.0.0.1:%d/" % p.http_port
    status, headers, body = http_get(p.http_port, "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    # self-contained: nothing fetched from elsewhere, no script
    for outside in ("<script", "<link", " src=", "url(", "@import", "http://", "https://"):
        assert outside not in body, outside
    assert '<meta http-equiv="refresh" content="5">' in body

    page = read_page(browse(url, str(tmp_path / "profile")))
    primary = page.servers["127.0.0.1:%d" % cluster.port]
    assert primary[:3] == ["primary", "127.0.0.1:%d" % cluster.port, "up"], primary
    assert int(primary[-2]) >= 10, primary          # writes routed there
    routed = 0
    for r in cluster.replicas:
        row = page.servers["127.0.0.1:%d" % r.port]
        assert row[:3] == ["replica", "127.0.0.1:%d" % r.port, "up"], row
        assert row[3].endswith(" ms") or row[3].endswith(" s"), row     # lag
        routed += int(row[-2])
    assert routed >= 10                             # reads (those after a write may wait for it)
    assert "app" in page.headings and "Pools" in page.headings
    assert page.captions == ["Replica lag (gaps: not answering)", "Transactions routed per second"]
    assert {"127.0.0.1:%d" % r.port for r in cluster.replicas} <= set(page.legend)
    assert {"to the primary", "to replicas"} <= set(page.legend)
    assert "svg" in page.tags and "path" in page.tags and "script" not in page.tags
    assert "app" in page.pool_databases

    victim = cluster.replicas[1]
    victim.stop()
    try:
        assert harness.wait_until(lambda: server_states(p.http_port).get(victim.port) == "down", 5.0)
        shot = os.environ.get("PGSPLIT_STATUS_SCREENSHOT") or str(tmp_path / "status-page.png")
        page = read_page(browse(url, str(tmp_path / "profile"), screenshot=shot))
        assert page.servers["127.0.0.1:%d" % victim.port][2] == "down"
        assert page.servers["127.0.0.1:%d" % cluster.replicas[0].port][2] == "up"
        assert page.servers["127.0.0.1:%d" % cluster.port][2] == "up"
        with open(shot, "rb") as f:
            png = f.read()
        assert png.startswith(b"\x89PNG") and len(png) > 10000
        print("screenshot: %s (%d bytes)" % (shot, len(png)))
    finally:
        victim.start()
        cluster.wait_replay()


def test_names_from_the_config_are_escaped(pooler, cluster, tmp_path):
    name = "<script>alert('x')</script>&\"db"
    p = status_pooler(pooler, cluster, name=name)
    assert query1(p.connect(db=name), "SELECT 1") == 1
    status, _, body = http_get(p.http_port, "/")
    assert status == 200
    assert "<script" not in body
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;db" in body
    # the browser shows the name as it is, as text
    page = read_page(browse("http://127.0.0.1:%d/" % p.http_port, str(tmp_path / "profile")))
    assert name in page.headings
    assert name in page.pool_databases
    assert "script" not in page.tags
