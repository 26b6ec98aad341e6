"""Access to the HTTP endpoint: HTTP basic authentication against the auth_file (plain,
md5 and SCRAM secrets), a Bearer token, and TLS with the client-facing certificate
(http_auth_type, http_auth_token, http_tls), through real HTTP clients (urllib with ssl,
curl); settings that contradict each other are refused at start, RELOAD and SET.
"""

import base64
import os
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

import certs as certgen
import harness
from harness import free_port, md5_secret, scram_secret

pytestmark = harness.pgsplit_only("the HTTP endpoint is pgsplit's own")

USERS = {"plainweb": "plain pw:with colon", "md5web": "md5 pw", "scramweb": "scram pw"}


def userlist():
    out = dict(harness.DEFAULT_PASSWORDS)
    out["plainweb"] = USERS["plainweb"]
    out["md5web"] = md5_secret("md5web", USERS["md5web"])
    out["scramweb"] = scram_secret(USERS["scramweb"])
    return out


def get(url, authorization=None, context=None):
    """(status, headers, body) of a GET with urllib; 4xx answers are returned, not raised."""
    req = urllib.request.Request(url)
    if authorization:
        req.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(req, timeout=5, context=context) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def curl(*args):
    res = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5"] + list(args),
                         capture_output=True, text=True, timeout=10)
    return res.stdout


@pytest.fixture(scope="module")
def certs():
    return certgen.new_dir()


def test_basic_auth_against_the_auth_file(pooler):
    port = free_port()
    pooler(http_listen_port=port, http_auth_type="auth_file", userlist=userlist())
    url = "http://127.0.0.1:%d/metrics" % port
    for user, password in USERS.items():
        status, _, body = get(url, basic(user, password))
        assert status == 200 and "pgbouncer_up 1" in body, (user, status)
        status, headers, _ = get(url, basic(user, password + "x"))
        assert status == 401, user
        assert headers["WWW-Authenticate"] == 'Basic realm="pgsplit", charset="UTF-8"'
    # the same SCRAM credentials again: the remembered digest must not change the answer
    assert get(url, basic("scramweb", USERS["scramweb"]))[0] == 200
    for bad in (None, basic("nobody", "x"), basic("md5web", ""), "Basic !!!notbase64",
                "Basic " + base64.b64encode(b"no colon").decode(), "Bearer md5 pw",
                basic("md5web", "md5 pw")[:-2]):
        assert get(url, bad)[0] == 401, bad
    # every path is behind it
    for path in ("/health", "/ready", "/live", "/nope"):
        assert get("http://127.0.0.1:%d%s" % (port, path))[0] == 401, path
    assert get("http://127.0.0.1:%d/live" % port, basic("plainweb", USERS["plainweb"]))[0] == 200
    assert curl("-u", "md5web:md5 pw", url) == "200"
    assert curl("-u", "md5web:wrong", url) == "401"


def test_bearer_token(pooler):
    port = free_port()
    p = pooler(http_listen_port=port, http_auth_type="token", http_auth_token="t0ken-for-scrapes")
    url = "http://127.0.0.1:%d/metrics" % port
    assert get(url, "Bearer t0ken-for-scrapes")[0] == 200
    assert get(url, "bearer   t0ken-for-scrapes")[0] == 200  # the scheme is case-insensitive
    for bad in (None, "Bearer t0ken-for-scrape", "Bearer t0ken-for-scrapesX", basic("x", "t0ken-for-scrapes")):
        status, headers, _ = get(url, bad)
        assert status == 401 and headers["WWW-Authenticate"] == 'Bearer realm="pgsplit"', bad
    assert curl("-H", "Authorization: Bearer t0ken-for-scrapes", url) == "200"
    # RELOAD switches to another token; SET turns authentication off
    p.settings["http_auth_token"] = "another"
    p.reload()
    assert harness.wait_until(lambda: get(url, "Bearer another")[0] == 200, 3.0)
    assert get(url, "Bearer t0ken-for-scrapes")[0] == 401
    harness.admin(p, "SET http_auth_type = 'none'")
    assert get(url)[0] == 200


def test_tls_with_the_client_certificate(pooler, certs):
    port = free_port()
    pooler(http_listen_port=port, http_tls=1, http_auth_type="auth_file", userlist=userlist(),
           client_tls_key_file=certgen.path(certs, "server", "key"),
           client_tls_cert_file=certgen.path(certs, "server"))
    ctx = ssl.create_default_context(cafile=certgen.path(certs, "ca"))
    url = "https://localhost:%d/metrics" % port
    status, _, body = get(url, basic("scramweb", USERS["scramweb"]), context=ctx)
    assert status == 200 and "pgbouncer_up 1" in body
    assert get(url, basic("scramweb", "wrong"), context=ctx)[0] == 401
    # curl offers ALPN h2 and http/1.1 and verifies the certificate against the CA
    assert curl("--cacert", certgen.path(certs, "ca"), "-u", "plainweb:" + USERS["plainweb"], url) == "200"
    # a client that does not trust the CA gives up; plain HTTP gets no answer
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        get(url, context=ssl.create_default_context())
    with pytest.raises((ConnectionError, OSError)):
        get("http://127.0.0.1:%d/live" % port)


@pytest.mark.parametrize("settings, message", [
    ({"http_tls": 1}, "http_tls needs client_tls_key_file and client_tls_cert_file"),
    ({"http_auth_type": "token"}, "http_auth_type = token needs http_auth_token"),
    ({"http_auth_type": "auth_file", "auth_file": None, "auth_type": "trust"},
     "http_auth_type = auth_file needs auth_file"),
    ({"http_auth_type": "password"}, "http_auth_type"),
])
def test_contradictory_settings_refused_at_start(pooler, settings, message):
    p = pooler(start=False, http_listen_port=free_port(), **settings)
    p.expect_exit = True
    with pytest.raises(harness.PoolerStartError):
        p.start(timeout=5)
    assert message in p.output()


def test_contradictory_settings_refused_at_reload_and_set(pooler, certs):
    port = free_port()
    p = pooler(http_listen_port=port)
    url = "http://127.0.0.1:%d/live" % port
    p.settings["http_tls"] = 1
    p.reload()
    assert p.wait_log(r"reload failed.*http_tls needs client_tls_key_file", 3.0)
    assert get(url)[0] == 200  # still plain HTTP, open
    with pytest.raises(Exception, match="http_auth_type = token needs http_auth_token"):
        harness.admin(p, "SET http_auth_type = 'token'")
    assert get(url)[0] == 200
    # with the certificate in place the same SET succeeds and the next connection is TLS
    harness.admin(p, "SET client_tls_key_file = '%s'" % certgen.path(certs, "server", "key"))
    harness.admin(p, "SET client_tls_cert_file = '%s'" % certgen.path(certs, "server"))
    harness.admin(p, "SET http_tls = 1")
    ctx = ssl.create_default_context(cafile=certgen.path(certs, "ca"))
    assert get("https://localhost:%d/live" % port, context=ctx)[0] == 200
    # emptying the certificate setting now would leave http_tls without one: refused
    with pytest.raises(Exception, match="http_tls needs"):
        harness.admin(p, "SET client_tls_cert_file = ''")
    assert get("https://localhost:%d/live" % port, context=ctx)[0] == 200
