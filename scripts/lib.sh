# shellcheck shell=bash
# Shared shell helpers for scripts/test.sh and scripts/demo.sh (sourced, not run).
# Owns: the Debian package list, installing it only when something is missing,
# and the in-tree autotools build.  Cluster building lives in scripts/pgcluster.py.

PGSPLIT_DEB_PACKAGES="build-essential autoconf automake libtool pkg-config \
libevent-dev libc-ares-dev libssl-dev libpq-dev postgresql postgresql-contrib \
pgbouncer python3 python3-pytest python3-psycopg python3-pytest-timeout \
python3-pytest-xdist util-linux openssl clang libclang-rt-14-dev \
nodejs default-jdk-headless libpostgresql-jdbc-java \
pandoc groff-base dpkg-dev debhelper lintian logrotate adduser chromium prometheus"

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Print the packages from the list that are not fully installed.
missing_packages() {
    local pkg status
    for pkg in $PGSPLIT_DEB_PACKAGES; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || printf '%s ' "$pkg"
    done
}

# apt-get only when something is missing: a machine that has everything saves
# a minute, a machine that lacks anything gets the full install.
install_deps() {
    local missing
    command -v dpkg-query >/dev/null || die "this script needs Debian (dpkg/apt)"
    missing=$(missing_packages)
    if [ -z "$missing" ]; then
        log "all Debian packages already installed"
    else
        log "installing: $missing"
        [ "$(id -u)" = 0 ] || die "run as root to install packages (missing: $missing)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        # All of them, not only the missing ones, so apt fixes half-installed ones.
        # shellcheck disable=SC2086
        apt-get install -y -q --no-install-recommends $PGSPLIT_DEB_PACKAGES
        missing=$(missing_packages)
        [ -z "$missing" ] || die "still missing after apt-get: $missing"
    fi
    # Debian's nodejs comes without npm; NodeSource's nodejs has it and conflicts
    # with Debian's npm package.  test/integration/test_drivers.py runs npm ci.
    if ! command -v npm >/dev/null; then
        log "installing npm"
        apt-get install -y -q --no-install-recommends npm
    fi
    id postgres >/dev/null 2>&1 || die "no 'postgres' system user (postgresql package?)"
    [ -x /usr/lib/postgresql/15/bin/initdb ] || die "PostgreSQL 15 binaries not found"
}

# The in-tree build.  `build_tree full` always runs autoreconf and configure (CI);
# `build_tree` alone skips them when their outputs are newer than their inputs.
build_tree() {
    local jobs=${MAKE_JOBS:-2} full=${1:-}
    mkdir -p m4
    if [ -n "$full" ] || [ ! -x configure ] || [ configure.ac -nt configure ] \
        || [ Makefile.am -nt Makefile.in ] || [ ! -f build-aux/tap-driver.sh ]; then
        log "autoreconf -fi"
        autoreconf -fi
    fi
    if [ -n "$full" ] || [ ! -f config.status ] || [ configure -nt config.status ]; then
        log "./configure"
        ./configure
    fi
    log "make -j$jobs"
    make -j"$jobs"
}
