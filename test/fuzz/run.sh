#!/usr/bin/env bash
#
# Build every libFuzzer target in test/fuzz and run each for a bounded time on a scratch
# copy of its seed corpus. Exits non-zero when a target fails to build, crashes, leaks,
# trips UBSan or an invariant, or times out; the input that did it is printed.
#
#   bash test/fuzz/run.sh                    # all targets, 30 s each
#   FUZZ_SECONDS=300 bash test/fuzz/run.sh classify scram
#
# Environment: FUZZ_SECONDS (default 30), FUZZ_BUILD (default /tmp/pgsplit-fuzz),
# FUZZ_CFLAGS (extra compiler flags), FUZZ_ARGS (extra libFuzzer flags).
# Installs clang and libclang-rt-14-dev with apt-get when they are missing.

set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FUZZ_DIR="$ROOT/test/fuzz"
BUILD=${FUZZ_BUILD:-/tmp/pgsplit-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-30}
CC=${FUZZ_CC:-clang}

# FUZZ_TARGETS and FUZZ_SRC_<target> (the src/*.c files each target links besides
# src/util.c and src/log.c) are read from Makefile.am, the one place that lists them.
makefile_var() {
	awk -v name="$1" '
		{ line = line $0 }
		/\\$/ { sub(/\\$/, " ", line); next }
		{ if (line ~ "^" name "[ \t]*=") { sub("^" name "[ \t]*=[ \t]*", "", line); print line }
		  line = "" }' "$ROOT/Makefile.am"
}
ALL_TARGETS=$(makefile_var FUZZ_TARGETS)
# The src/*.c names target $1 links, without src/ and without util.c and log.c.
sources_of() {
	local list f out=""
	list=$(makefile_var "FUZZ_SRC_$1")
	[ "$list" = '$(libpgsplit_a_SOURCES)' ] && list=$(makefile_var libpgsplit_a_SOURCES)
	for f in $list; do
		f=${f#src/}
		case $f in util.c | log.c) ;; *) out="$out $f" ;; esac
	done
	printf '%s\n' "$out"
}
declare -A MAX_LEN=([config]=16384)

log() { printf '%s\n' "$*"; }

apt_install() {
	if ! command -v apt-get >/dev/null; then
		log "run.sh: apt-get not found; install $* by hand"
		return 1
	fi
	# update the package lists only when the install cannot find the packages
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 && return 0
	apt-get update -q >/dev/null 2>&1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

# True when $CC can build and link a libFuzzer binary with ASan and UBSan.
toolchain_works() {
	local probe="$BUILD/probe"
	command -v "$CC" >/dev/null || return 1
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
		>"$probe.c"
	"$CC" -fsanitize=fuzzer,address,undefined "$probe.c" -o "$probe" >/dev/null 2>&1
}

ensure_toolchain() {
	mkdir -p "$BUILD"
	if ! toolchain_works; then
		log "run.sh: installing clang and libclang-rt-14-dev"
		apt_install clang libclang-rt-14-dev || return 1
		toolchain_works || { log "run.sh: $CC still cannot link -fsanitize=fuzzer"; return 1; }
	fi
	if ! pkg-config --exists libevent libevent_openssl libcares openssl 2>/dev/null; then
		log "run.sh: installing pkg-config and the library headers"
		apt_install pkg-config libevent-dev libc-ares-dev libssl-dev || return 1
	fi
}

build_target() {
	local name=$1 files="" f
	for f in util.c log.c $(sources_of "$name"); do
		files="$files $ROOT/src/$f"
	done
	# no -Werror: a clang-only warning in pooler code must not hide a crash
	# shellcheck disable=SC2086,SC2046 # word splitting of the flag lists is wanted
	"$CC" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1 -std=c11 \
		-D_GNU_SOURCE -DPGSPLIT_ASSERTS -DPGSPLIT_VERSION='"fuzz"' -Wall -Wextra -I"$ROOT/include" \
		${FUZZ_CFLAGS:-} $files "$FUZZ_DIR/fuzz_$name.c" -o "$BUILD/fuzz_$name" \
		$(pkg-config --cflags --libs libevent libevent_openssl libcares openssl) -lm
}

# "cov: N ft: N corp: N/Nb ... exec/s: N" from the last status line of a run log.
summary_of() {
	local last
	last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|NEW|REDUCE|pulse)' "$1" | tail -n 1)
	local execs cov ft corp rate
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$1")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$1")
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
	printf 'execs=%s exec/s=%s cov=%s ft=%s corpus=%s' "${execs:-?}" "${rate:-?}" \
		"${cov:-?}" "${ft:-?}" "${corp:-?}"
}

run_target() {
	local name=$1
	local corpus="$BUILD/corpus/$name" artifacts="$BUILD/artifacts/$name"
	local out="$BUILD/logs/$name.log" dict=() rc
	rm -rf "$corpus" "$artifacts"
	mkdir -p "$corpus" "$artifacts" "$BUILD/logs" "$BUILD/tmp"
	if [ -d "$FUZZ_DIR/corpus/$name" ]; then
		cp -R "$FUZZ_DIR/corpus/$name/." "$corpus/"
	fi
	[ -f "$FUZZ_DIR/$name.dict" ] && dict=(-dict="$FUZZ_DIR/$name.dict")
	# shellcheck disable=SC2086
	TMPDIR="$BUILD/tmp" \
	ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
	UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
		"$BUILD/fuzz_$name" -max_total_time="$SECONDS_EACH" -max_len="${MAX_LEN[$name]:-4096}" \
		-timeout=20 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
		"${dict[@]}" ${FUZZ_ARGS:-} "$corpus" >"$out" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		printf '  %-9s ok      %s\n' "$name" "$(summary_of "$out")"
		return 0
	fi
	printf '  %-9s FAILED  exit %d, log %s\n' "$name" "$rc" "$out"
	grep -E '^(==[0-9]+== ?ERROR|SUMMARY|fuzz invariant failed)|runtime error' "$out" | head -n 5 |
		sed 's/^/            /'
	grep -o 'Test unit written to .*' "$out" | sed 's/^Test unit written to /            crash input: /'
	return 1
}

main() {
	local targets=${*:-$ALL_TARGETS} failed=0
	for t in $targets; do
		if [[ " $ALL_TARGETS " != *" $t "* ]]; then
			log "run.sh: unknown target '$t' (targets: $ALL_TARGETS)"
			return 2
		fi
	done
	ensure_toolchain || return 1
	log "run.sh: building into $BUILD"
	for t in $targets; do
		if ! build_target "$t"; then
			log "run.sh: fuzz_$t did not build"
			failed=1
		fi
	done
	[ $failed -eq 0 ] || return 1
	log "run.sh: running each target for ${SECONDS_EACH}s"
	for t in $targets; do
		run_target "$t" || failed=1
	done
	rm -rf "$BUILD/tmp"
	if [ $failed -ne 0 ]; then
		log "run.sh: at least one target failed"
		return 1
	fi
	log "run.sh: all targets passed"
}

main "$@"
