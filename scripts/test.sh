#!/usr/bin/env bash
# The README's test command (and what .ci/run executes): on a fresh Debian 12
# machine, as root, install what is needed, build pgsplit, run the unit tests
# (make check) and the integration suite against ./pgsplit, then do the same
# with an AddressSanitizer/UBSan build.  Exits non-zero on any failure.
#
# Knobs (environment): PYTEST_ARGS (pytest arguments; default "-n 3 --dist loadgroup";
# loadgroup keeps each module marked xdist_group on one worker; e.g. "-n 0" or
# "-k auth"), PGSPLIT_ASAN=0 (skip the sanitizer build), PGSPLIT_ASAN_PYTEST=0
# (sanitizer build + unit tests only), PGSPLIT_FUZZ=0 (skip the short fuzz run),
# FUZZ_SECONDS (default 5), MAKE_JOBS (default 2), PGSPLIT_PACKAGE=0 (skip building,
# installing and purging the Debian package: scripts/package-test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

start=$(date +%s)
failures=()

install_deps

build_tree full
log "make check (unit tests)"
if ! make check; then
    for f in test-suite.log test/unit/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -80 "$f"; }; done
    die "unit tests failed"
fi
[ -x ./pgsplit ] || die "./pgsplit was not built"

export PYTHONDONTWRITEBYTECODE=1
# shellcheck disable=SC2206
# Three workers (each with its own PostgreSQL cluster): a pass at two left about a third
# of the 2 CPUs idle, as the tests mostly wait on servers, clients and timers.
pytest_cmd=(/usr/bin/python3 -m pytest test/integration -q --durations=15 ${PYTEST_ARGS:--n 3 --dist loadgroup})

# The sanitizer build, the Debian package test and the fuzz run need CPU, the
# integration passes mostly wait (about a third of the 2 CPUs idle during a pass at
# two workers).  So they run in the background at nice 19, the build and the package
# test during the plain pass, the fuzz run during the sanitizer pass: they take only
# the CPU the tests leave, and their output is shown when they end.
build_asan() {
    # automake refuses a VPATH build (../configure from build-asan/) once the
    # source dir itself is configured, and VPATH would pick up the in-tree
    # objects anyway.  So build-asan/ holds a copy of the tree, cleaned with
    # distclean and configured --enable-asan there.
    log "ASan/UBSan build in build-asan/"
    rm -rf build-asan
    mkdir build-asan
    tar -cf - --exclude=./build-asan --exclude=./.git --exclude=./build . \
        | tar -xf - -C build-asan
    (
        cd build-asan
        make distclean >/dev/null 2>&1 || true
        rm -f config.status config.log config.h
        ./configure --enable-asan && make -j"${MAKE_JOBS:-2}"
    )
}

asan_unit_tests() {
    (
        cd build-asan
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
        export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
        if ! make check; then
            for f in test-suite.log test/unit/*.log; do
                [ -f "$f" ] && { echo "--- $f"; tail -80 "$f"; }
            done
            exit 1
        fi
    )
}

# Background jobs: each failure is one line in $bg_failures.
build_and_package() {
    if [ "${PGSPLIT_ASAN:-1}" != 0 ] && ! build_asan; then
        echo "sanitizer build" >> "$bg_failures"
    fi
    if [ "${PGSPLIT_PACKAGE:-1}" != 0 ]; then
        log "Debian package: build, lintian, install, run, purge"
        bash scripts/package-test.sh || echo "Debian package test" >> "$bg_failures"
    fi
}

fuzz_run() {
    if [ "${PGSPLIT_FUZZ:-1}" != 0 ]; then
        # A short run of every libFuzzer target on its seed corpus (make fuzz runs longer).
        log "fuzz targets, ${FUZZ_SECONDS:-5} s each"
        FUZZ_SECONDS=${FUZZ_SECONDS:-5} bash test/fuzz/run.sh || echo "fuzz targets" >> "$bg_failures"
    fi
}

# Run function $1 in the background at nice 19, its output kept for finish_background.
start_background() {
    bg_log=$(mktemp /tmp/pgsplit-ci-bg.XXXXXX)
    bg_failures=$(mktemp /tmp/pgsplit-ci-bg-failures.XXXXXX)
    log "in the background at nice 19: $1 (output shown when it ends)"
    (renice -n 19 -p "$BASHPID" >/dev/null; "$1") > "$bg_log" 2>&1 &
    bg_pid=$!
}

finish_background() {
    log "waiting for the background work"
    wait "$bg_pid" || true
    cat "$bg_log"
    while read -r line; do failures+=("$line"); done < "$bg_failures"
    rm -f "$bg_log" "$bg_failures"
}

start_background build_and_package
log "integration tests against $ROOT/pgsplit"
if ! PGSPLIT_BIN=$ROOT/pgsplit "${pytest_cmd[@]}"; then
    failures+=("integration tests (./pgsplit)")
fi
finish_background

if [ "${PGSPLIT_ASAN:-1}" != 0 ] && [ -x build-asan/pgsplit ]; then
    log "unit tests of the sanitizer build"
    if ! asan_unit_tests; then
        failures+=("unit tests (ASan/UBSan build)")
    fi
fi
start_background fuzz_run
if [ "${PGSPLIT_ASAN:-1}" != 0 ] && [ "${PGSPLIT_ASAN_PYTEST:-1}" != 0 ] \
    && [ -x build-asan/pgsplit ]; then
    log "integration tests against the sanitizer build"
    if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        PGSPLIT_BIN=$ROOT/build-asan/pgsplit "${pytest_cmd[@]}"; then
        failures+=("integration tests (ASan/UBSan build)")
    fi
fi
finish_background

elapsed=$(( $(date +%s) - start ))
if [ ${#failures[@]} -ne 0 ]; then
    printf 'FAILED (%ds): %s\n' "$elapsed" "${failures[*]}" >&2
    exit 1
fi
printf 'all tests passed (%ds)\n' "$elapsed"
