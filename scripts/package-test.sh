#!/usr/bin/env bash
# The Debian package, end to end (run as root on Debian 12; CI runs it from
# scripts/test.sh): build the .deb from a clean copy of the tree with
# dpkg-buildpackage, run lintian (any error fails), check that no file collides with
# the pgbouncer package, install it with dpkg -i, run the installed binary as the
# pgsplit user with the packaged /etc/pgsplit/pgsplit.ini (a database line and a free
# port added) against a throw-away PostgreSQL, connect with psql over TCP and the Unix
# socket, rotate the log with the packaged logrotate file, then dpkg --purge and check
# that nothing the package installed or created is left.
#
# Knobs: KEEP_DEB_DIR=1 keeps the build directory; DEB_BUILD_OPTIONS is passed on
# (default "parallel=2 nocheck noautodbgsym": make check already ran in the caller).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

# Also in lib.sh's list, so scripts/test.sh installs them up front; here for running alone.
PACKAGE_TEST_DEBS="dpkg-dev debhelper lintian logrotate adduser postgresql-client pgbouncer"

[ "$(id -u)" = 0 ] || die "run as root (dpkg -i, adduser)"
missing=""
for pkg in $PACKAGE_TEST_DEBS; do
    [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" = "install ok installed" ] \
        || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    log "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $PACKAGE_TEST_DEBS
fi

work=$(mktemp -d /tmp/pgsplit-deb.XXXXXX)
chmod 755 "$work"
pgdir=$work/pg
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill -QUIT "$pid" 2>/dev/null || true; fi
    /usr/bin/python3 scripts/pgcluster.py stop --dir "$pgdir" >/dev/null 2>&1 || true
    [ "${KEEP_DEB_DIR:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

# -- build ---------------------------------------------------------------------------
log "dpkg-buildpackage in $work/src"
mkdir "$work/src"
# The tracked and new files, without this tree's build outputs (.gitignore).
git ls-files -z --cached --others --exclude-standard \
    | xargs -0 -I{} sh -c '[ -e "{}" ] && printf "%s\0" "{}"' \
    | tar --null -T - -cf - | tar -xf - -C "$work/src"
t0=$(date +%s)
(cd "$work/src" && DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-parallel=2 nocheck noautodbgsym} \
    dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) \
    || { tail -60 "$work/build.log"; die "dpkg-buildpackage failed"; }
deb=$(ls "$work"/pgsplit_*.deb)
log "built $(basename "$deb") in $(( $(date +%s) - t0 )) s"

log "lintian"
lintian --fail-on error --tag-display-limit 0 "$work"/pgsplit_*.changes 2>&1 | tee "$work/lintian.txt" \
    || die "lintian reports errors"

# -- coexistence with pgbouncer ----------------------------------------------------
files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' | sort)
clash=$(comm -12 <(echo "$files") <(dpkg -L pgbouncer | sort) || true)
[ -z "$clash" ] || die "files also in the pgbouncer package: $clash"

# -- install -------------------------------------------------------------------------
if dpkg-query -W -f='${Status}' pgsplit 2>/dev/null | grep -q installed; then
    log "removing an earlier pgsplit package"
    dpkg --purge pgsplit
fi
log "dpkg -i"
dpkg -i "$deb"
for f in /usr/sbin/pgsplit /etc/pgsplit/pgsplit.ini /etc/pgsplit/userlist.txt \
    /lib/systemd/system/pgsplit.service /etc/logrotate.d/pgsplit \
    /usr/share/man/man1/pgsplit.1.gz /usr/share/man/man5/pgsplit.ini.5.gz; do
    [ -e "$f" ] || die "the package did not install $f"
done
getent passwd pgsplit >/dev/null || die "postinst did not create the pgsplit user"
[ "$(stat -c %U /var/log/pgsplit)" = pgsplit ] || die "/var/log/pgsplit is not pgsplit's"
dpkg-query -W -f='${Conffiles}\n' pgsplit | grep -q /etc/pgsplit/pgsplit.ini \
    || die "/etc/pgsplit/pgsplit.ini is not a conffile"
man_warnings=$(MANWIDTH=80 man --warnings=w -l /usr/share/man/man5/pgsplit.ini.5.gz 2>&1 >/dev/null || true)
[ -z "$man_warnings" ] || die "man warns on pgsplit.ini(5): $man_warnings"

# -- run it --------------------------------------------------------------------------
log "PostgreSQL for the installed pgsplit"
pgport=$(/usr/bin/python3 scripts/pgcluster.py start --dir "$pgdir" --replicas 0 \
    | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["primary"])')
port=$(/usr/bin/python3 -c 'import sys; sys.path.insert(0, "scripts"); import pgcluster; print(pgcluster.free_port())')
ini=$work/pgsplit.ini
# The packaged file, as an admin would edit it: a database, and a port no one uses.
sed -e "s|^\[databases\]|[databases]\napp = host=127.0.0.1 port=$pgport dbname=app|" \
    -e "s|^listen_port = .*|listen_port = $port|" /etc/pgsplit/pgsplit.ini >"$ini"
chmod 644 "$ini"
echo '"app" "apppass"' >>/etc/pgsplit/userlist.txt
# What the unit's RuntimeDirectory=pgsplit provides under systemd.
install -d -o pgsplit -g pgsplit -m 755 /run/pgsplit
log "starting /usr/sbin/pgsplit as pgsplit on port $port"
# setpriv execs (runuser would stay the parent and keep the signals for itself).
setpriv --reuid=pgsplit --regid=pgsplit --init-groups /usr/sbin/pgsplit "$ini" 2>"$work/stderr.log" &
pid=$!
for _ in $(seq 50); do
    [ -S "/run/pgsplit/.s.PGSQL.$port" ] && break
    sleep 0.1
done
export PGPASSWORD=apppass PGCONNECT_TIMEOUT=10
out=$(psql -X -A -t -h 127.0.0.1 -p "$port" -U app -d app -c "SELECT 'tcp ok'")
[ "$out" = "tcp ok" ] || die "psql over TCP: $out"
out=$(psql -X -A -t -h /run/pgsplit -p "$port" -U app -d app -c "SELECT 'unix ok'")
[ "$out" = "unix ok" ] || die "psql over the Unix socket: $out"
grep -q "login attempt: db=app user=app" /var/log/pgsplit/pgsplit.log \
    || die "nothing logged to /var/log/pgsplit/pgsplit.log"

log "logrotate with /etc/logrotate.d/pgsplit"
logrotate -f -s "$work/logrotate.state" /etc/logrotate.d/pgsplit
[ -s /var/log/pgsplit/pgsplit.log.1 ] || die "logrotate did not rotate pgsplit.log"
psql -X -A -t -h 127.0.0.1 -p "$port" -U app -d app -c "SELECT 1" >/dev/null
for _ in $(seq 50); do
    grep -q "login attempt" /var/log/pgsplit/pgsplit.log 2>/dev/null && break
    sleep 0.1
done
grep -q "login attempt" /var/log/pgsplit/pgsplit.log \
    || die "after rotation pgsplit did not write to the new pgsplit.log"

kill -INT "$pid"
wait "$pid" || die "pgsplit exited with $? after SIGINT"
pid=""

# -- purge ---------------------------------------------------------------------------
log "dpkg --purge"
dpkg --purge pgsplit
left=""
for f in $files /etc/pgsplit /var/log/pgsplit; do
    if [ -e "$f" ] || [ -L "$f" ]; then left="$left $f"; fi
done
[ -z "$left" ] || die "left after dpkg --purge:$left"
rm -rf /run/pgsplit
log "package test passed; lintian tags:"
cat "$work/lintian.txt"
