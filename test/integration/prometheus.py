"""A throw-away Prometheus server (the Debian package's binary) for the tests.

Owns: a temp directory with the configuration, the TSDB and the log; the server process
on a free loopback port; queries through its HTTP API (/api/v1/query).
"""

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import harness

BINARY = shutil.which("prometheus")
MISSING = "no prometheus: scripts/lib.sh install_deps installs the Debian package prometheus"


class Prometheus:
    def __init__(self, config_text):
        assert BINARY, MISSING
        self.dir = harness.make_pg_dir("pgsplit-prom-")
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(config_text)
        self.port = harness.free_port()
        with open(os.path.join(self.dir, "prometheus.log"), "wb") as log:
            self.proc = subprocess.Popen(
                [BINARY, "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                 "--web.listen-address=127.0.0.1:%d" % self.port],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def query(self, expr):
        """The result list of an instant query; None while the server is not listening yet."""
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.port, urllib.parse.urlencode({"query": expr}))
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                answer = json.load(resp)
        except urllib.error.HTTPError as e:
            if e.code != 400:
                return None  # 503 while the server is starting
            answer = json.load(e)  # a bad expression, with the parser's message
        except OSError:
            return None
        assert answer["status"] == "success", (expr, answer)
        return answer["data"]["result"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def scrape_config(port, scrape_extra=""):
    """Scrape 127.0.0.1:port (or what scrape_extra changes) every second."""
    return ("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: pgsplit\n%s"
            "    static_configs:\n      - targets: ['localhost:%d']\n" % (scrape_extra, port))
