#!/usr/bin/env bash
# The README's test command (and what .ci/run executes): on a fresh Debian 12
# machine, as root, install what is needed, build pgsplit, run the unit tests
# (make check) and the integration suite against ./pgsplit, then do the same
# with an AddressSanitizer/UBSan build.  Exits non-zero on any failure.
#
# Knobs (environment): PYTEST_ARGS (pytest arguments; default "-n 2 --dist loadgroup";
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
# Two workers (each with its own PostgreSQL cluster) keep CI well under its time limit.
pytest_cmd=(/usr/bin/python3 -m pytest test/integration -q --durations=15 ${PYTEST_ARGS:--n 2 --dist loadgroup})

log "integration tests against $ROOT/pgsplit"
if ! PGSPLIT_BIN=$ROOT/pgsplit "${pytest_cmd[@]}"; then
    failures+=("integration tests (./pgsplit)")
fi

if [ "${PGSPLIT_PACKAGE:-1}" != 0 ]; then
    log "Debian package: build, lintian, install, run, purge"
    if ! bash scripts/package-test.sh; then
        failures+=("Debian package test")
    fi
fi

if [ "${PGSPLIT_ASAN:-1}" != 0 ]; then
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
        ./configure --enable-asan
        make -j"${MAKE_JOBS:-2}"
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
        export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
        if ! make check; then
            for f in test-suite.log test/unit/*.log; do
                [ -f "$f" ] && { echo "--- $f"; tail -80 "$f"; }
            done
            exit 1
        fi
    ) || die "sanitizer build or its unit tests failed"

    if [ "${PGSPLIT_ASAN_PYTEST:-1}" != 0 ]; then
        log "integration tests against the sanitizer build"
        if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            PGSPLIT_BIN=$ROOT/build-asan/pgsplit "${pytest_cmd[@]}"; then
            failures+=("integration tests (ASan/UBSan build)")
        fi
    fi
fi

if [ "${PGSPLIT_FUZZ:-1}" != 0 ]; then
    # A short run of every libFuzzer target on its seed corpus (make fuzz runs longer).
    log "fuzz targets, ${FUZZ_SECONDS:-5} s each"
    if ! FUZZ_SECONDS=${FUZZ_SECONDS:-5} bash test/fuzz/run.sh; then
        failures+=("fuzz targets")
    fi
fi

elapsed=$(( $(date +%s) - start ))
if [ ${#failures[@]} -ne 0 ]; then
    printf 'FAILED (%ds): %s\n' "$elapsed" "${failures[*]}" >&2
    exit 1
fi
printf 'all tests passed (%ds)\n' "$elapsed"
