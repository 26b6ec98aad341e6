"""auth_type = hba with auth_hba_file: rule order and each method, seen by clients."""

import os

import psycopg
import pytest

import harness
from harness import query1
from harness import pgcluster

pytestmark = harness.pgsplit_only("HBA rules through pgsplit")


def hba_pooler(pooler, rules, **settings):
    p = pooler(start=False, auth_type="hba", **settings)
    path = os.path.join(p.dir, "hba.conf")
    with open(path, "w") as f:
        f.write(rules)
    pgcluster.chown_pg(path)
    p.settings["auth_hba_file"] = path
    p.start()
    return p


def test_rule_order_and_methods(pooler):
    rules = """
# first match wins
host app    md5user   127.0.0.1/32  reject
host app    app       127.0.0.1/32  trust
host all    plainuser 127.0.0.0/8   password
host all    all       127.0.0.1/32  md5
"""
    p = hba_pooler(pooler, rules)
    # trust: any password is accepted, even a wrong one
    assert query1(p.connect(user="app", password="not-the-password"), "SELECT current_user") == "app"
    # reject comes before the md5 rule for md5user on app
    with pytest.raises(psycopg.OperationalError, match="no pg_hba.conf entry"):
        p.connect(user="md5user")
    # ... but on app2 the md5 rule applies
    assert query1(p.connect(db="app2", user="md5user"), "SELECT current_user") == "md5user"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        p.connect(db="app2", user="md5user", password="wrong")
    # password (cleartext) for plainuser
    assert query1(p.connect(user="plainuser"), "SELECT 1") == 1


def test_no_matching_rule_rejects(pooler):
    p = hba_pooler(pooler, "host app app 10.0.0.0/8 trust\n")
    with pytest.raises(psycopg.OperationalError, match="no pg_hba.conf entry"):
        p.connect(user="app")


def test_broken_hba_file_on_reload_keeps_the_old_rules(pooler):
    p = hba_pooler(pooler, "host all all 127.0.0.1/32 md5\n")
    with open(p.settings["auth_hba_file"], "w") as f:
        f.write("host all all not-an-address md5\n")
    p.reload()
    assert query1(p.connect(user="app"), "SELECT 1") == 1
    assert "not-an-address" in p.output() or "hba" in p.output()


def test_local_peer_rule(pooler):
    # the pooler runs as the postgres OS user; a unix-socket client as root is not postgres
    p = hba_pooler(pooler, "local all all peer\nhost all all 127.0.0.1/32 md5\n")
    with pytest.raises(psycopg.OperationalError, match="peer authentication failed"):
        p.connect(user="app", host=p.dir)
    assert query1(p.connect(user="app"), "SELECT 1") == 1
