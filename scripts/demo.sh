#!/usr/bin/env bash
# The README's first command: on a fresh Debian 12 machine, as root, install what
# is needed, build pgsplit, start a PostgreSQL primary (127.0.0.1:5433) and two
# streaming replicas (5434, 5435) under /tmp/pgsplit-demo, start pgsplit on
# 127.0.0.1:6432 with etc/demo.ini, and print how to connect.  Idempotent: a
# rerun stops the previous demo first.  `bash scripts/demo.sh stop` stops it.
#
# Environment: PGSPLIT_BIN (use this binary, skip the build), DEMO_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

DEMO=${DEMO_DIR:-/tmp/pgsplit-demo}
PG_PORTS=(5433 5434 5435)
LISTEN_PORT=6432
PY=/usr/bin/python3

# The pid in our pidfile, only if that process really is the demo pooler
# (a stale pidfile must never make us signal an unrelated process).
demo_pid() {
    local pid
    [ -f "$DEMO/pgsplit.pid" ] || return 1
    pid=$(cat "$DEMO/pgsplit.pid" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$DEMO/pgsplit.ini" || return 1
    echo "$pid"
}

port_busy() {
    "$PY" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
}

stop_demo() {
    local pid
    if pid=$(demo_pid); then
        log "stopping the previous demo pooler (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    if [ -d "$DEMO/pg" ]; then
        log "stopping the previous demo PostgreSQL servers"
        "$PY" scripts/pgcluster.py stop --dir "$DEMO/pg"
    fi
    rm -rf "$DEMO"
}

# Debian's pgbouncer package may have started its own service on 6432 (its
# default config).  The demo does not need it; stop it so the port is free.
free_distro_pgbouncer() {
    local d cmd
    port_busy "$LISTEN_PORT" || return 0
    for d in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null || true)
        case "$cmd" in
        *pgbouncer*/etc/pgbouncer/*)
            log "stopping the distribution's pgbouncer service (it holds port $LISTEN_PORT)"
            systemctl stop pgbouncer 2>/dev/null || service pgbouncer stop 2>/dev/null \
                || kill -TERM "${d#/proc/}" || true
            sleep 1
            break ;;
        esac
    done
    if port_busy "$LISTEN_PORT"; then
        die "port $LISTEN_PORT is in use by another program; stop it and rerun"
    fi
}

if [ "${1:-start}" = stop ]; then
    stop_demo
    echo "demo stopped"
    exit 0
fi
[ "${1:-start}" = start ] || die "usage: $0 [start|stop]"

install_deps
if [ -z "${PGSPLIT_BIN:-}" ]; then
    build_tree ""
    PGSPLIT_BIN=$ROOT/pgsplit
fi
[ -x "$PGSPLIT_BIN" ] || die "no pooler binary at $PGSPLIT_BIN"

stop_demo
free_distro_pgbouncer
for port in "${PG_PORTS[@]}"; do
    ! port_busy "$port" || die "port $port is in use; the demo needs 5433-5435 free"
done

mkdir -p "$DEMO"
chmod 0755 "$DEMO"
chown postgres:postgres "$DEMO"

log "creating a primary and two streaming replicas under $DEMO/pg"
"$PY" scripts/pgcluster.py start --dir "$DEMO/pg" \
    --ports "$(IFS=,; echo "${PG_PORTS[*]}")" >"$DEMO/cluster.json"

# Everything the pooler reads lives in $DEMO, owned by postgres: the repository
# may sit where the postgres user cannot look (e.g. /root).
install -o postgres -g postgres -m 0755 "$PGSPLIT_BIN" "$DEMO/pgsplit"
install -o postgres -g postgres -m 0644 etc/demo.ini "$DEMO/pgsplit.ini"
"$PY" - "$DEMO/userlist.txt" <<'EOF'
import sys
sys.path.insert(0, "scripts")
import pgcluster
users = {r: v[0] for r, v in pgcluster.ROLES.items()}
users.update({"admin": "adminpass", "stats": "statspass"})
with open(sys.argv[1], "w") as f:
    for u, pw in users.items():
        f.write('"%s" "%s"\n' % (u, pw))
EOF
chown postgres:postgres "$DEMO/userlist.txt"
chmod 0600 "$DEMO/userlist.txt"

log "starting pgsplit on 127.0.0.1:$LISTEN_PORT"
runuser -u postgres -- "$DEMO/pgsplit" -d "$DEMO/pgsplit.ini"
for _ in $(seq 100); do port_busy "$LISTEN_PORT" && break; sleep 0.1; done
if ! port_busy "$LISTEN_PORT"; then
    tail -30 "$DEMO/pgsplit.log" 2>/dev/null || true
    die "pgsplit did not start; see $DEMO/pgsplit.log"
fi

cat <<EOF

pgsplit demo is running.
  PostgreSQL primary   127.0.0.1:${PG_PORTS[0]}
  replicas             127.0.0.1:${PG_PORTS[1]}, 127.0.0.1:${PG_PORTS[2]}
  pgsplit              127.0.0.1:$LISTEN_PORT   (config $DEMO/pgsplit.ini, log $DEMO/pgsplit.log)

Connect through pgsplit:
  psql -h 127.0.0.1 -p $LISTEN_PORT -U app app
Admin console:
  psql -h 127.0.0.1 -p $LISTEN_PORT -U admin pgbouncer      (then: SHOW POOLS; SHOW REPLICAS;)
Load test (read-only, goes to the replicas):
  PGPASSWORD=apppass /usr/lib/postgresql/15/bin/pgbench -h 127.0.0.1 -p $LISTEN_PORT -U app -S -c 10 -T 10 bench
Stop everything:
  bash scripts/demo.sh stop
EOF
